# The agent world: the episode loop's guarantees (bad actions, tool timeouts, episode
# budget), the factory from the configuration, the openai backends against the fault
# server, the rollout command.
af_unit_test(test_episode TIMEOUT 120)
af_unit_test(test_world TIMEOUT 300)
af_script_test(test_rollout_cli cli bash ${CMAKE_SOURCE_DIR}/tests/test_rollout_cli.sh)
af_script_test(test_world_cli cli bash ${CMAKE_SOURCE_DIR}/tests/test_world_cli.sh $<TARGET_FILE:agentflow>)
