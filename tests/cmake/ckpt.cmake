# Checkpoints (issue 6): LMDB checkpoint store and trajectory store, bit-exact resume.
af_unit_test(test_ckpt TIMEOUT 180)
