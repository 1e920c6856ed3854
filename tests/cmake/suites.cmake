# Suites, tools and the agent loop (env/, actor/).
af_unit_test(test_suites TIMEOUT 300)
af_unit_test(test_calc)
af_script_test(test_calc_ref python /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/test_calc_ref.py $<TARGET_FILE:test_calc>)
af_script_test(test_dataset_cli cli bash ${CMAKE_SOURCE_DIR}/tests/test_dataset_cli.sh $<TARGET_FILE:agentflow>)
af_unit_test(test_task)
af_script_test(test_task_cli cli bash ${CMAKE_SOURCE_DIR}/tests/test_task_cli.sh $<TARGET_FILE:agentflow>)
af_script_test(test_game24_hard python bash ${CMAKE_SOURCE_DIR}/tests/test_game24_hard.sh $<TARGET_FILE:agentflow>)
