# Tests of the planner model (issue 3): gradients, decode, safetensors, PyTorch reference.
af_unit_test(test_model_grad)
af_unit_test(test_model_decode)
af_unit_test(test_model_st)
