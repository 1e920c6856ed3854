# Learner area: Flow-GRPO math (learner/grpo) and the LMDB checkpoint store.
af_unit_test(test_grpo TIMEOUT 120)
af_script_test(test_grpo_torch python /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/grpo_ref.py $<TARGET_FILE:test_grpo>)
af_script_test(test_train mpi bash ${CMAKE_SOURCE_DIR}/tests/test_train.sh $<TARGET_FILE:agentflow>)
af_script_test(test_eval_cli mpi bash ${CMAKE_SOURCE_DIR}/tests/test_eval_cli.sh $<TARGET_FILE:agentflow>)
