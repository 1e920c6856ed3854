# The agent world: the episode loop's guarantees (bad actions, tool timeouts, episode
# budget), the factory from the configuration, the openai backends against the fault
# server, the rollout command.
af_unit_test(test_episode TIMEOUT 120)
af_unit_test(test_world TIMEOUT 300)
# Group decoding (issue 19 part 3): the decoder's multi-slot prefill, copied prefixes and
# cut caches, and episodes one at a time, in groups and from an empty cache every turn,
# byte for byte.
af_unit_test(test_group_decode TIMEOUT 300)
# Exploring turns (rollout.explore_random, issue 18): the episode stream replayed by hand
# (each explored action is the random planner's), behaviour log-probs against the
# learner's forward, group decoding with explored and sampled episodes byte for byte,
# evaluation never exploring, refusal without a scoring planner, the metrics.
af_unit_test(test_explore TIMEOUT 120)
af_unit_test(test_constrain TIMEOUT 120)
# The random planner's steps (suite.random_action=step, issue 18): draws on hand-made states
# against the suite's list, hand-played episodes, exploring turns through the world, refusals.
af_unit_test(test_random_steps TIMEOUT 120)
af_script_test(test_rollout_cli cli bash ${CMAKE_SOURCE_DIR}/tests/test_rollout_cli.sh)
af_script_test(test_world_cli cli bash ${CMAKE_SOURCE_DIR}/tests/test_world_cli.sh $<TARGET_FILE:agentflow>)
# The shipped configurations build their worlds and the oracle solves through them; the
# long-horizon config's bounded memory against the full memory and the transcript.
af_script_test(test_configs_cli cli bash ${CMAKE_SOURCE_DIR}/tests/test_configs_cli.sh $<TARGET_FILE:agentflow>)
# The planner in text (issue 17 part 1): the tolerant action parser, stop strings, top-k /
# top-p on hand-made logits (unit); then a tiny Qwen2.5 model with the real tokenizer
# (npm): prompts against jinja2 and the JavaScript tokenizer, episodes of every suite,
# log-probs against `agentflow score`, stop strings, top-k, context overflow.
af_unit_test(test_text_planner TIMEOUT 120)
af_script_test(test_text_planner_hf python /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/test_text_planner.py)
set_tests_properties(test_text_planner_hf PROPERTIES SKIP_RETURN_CODE 77 RESOURCE_LOCK npm)
# Modules on a language model (issue 17 part 2): the reply parsers, per-call seeds, the
# module call records through an episode, openai's seed and logprobs against the fault
# server (unit); then every module on a tiny Qwen2.5 model with the real tokenizer (npm):
# prompts against jinja2 and the JavaScript tokenizer, one load per rank, rollouts, eval,
# determinism, bad configurations, and a 3-rank MPI training run.
af_unit_test(test_modules_model TIMEOUT 120)
af_script_test(test_modules_model_hf python /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/test_modules_model.py)
set_tests_properties(test_modules_model_hf PROPERTIES SKIP_RETURN_CODE 77 RESOURCE_LOCK npm)
# A planner in text trained end to end (issue 17 part 3): the tiny Qwen2.5 model with the
# real tokenizer on 2 learners + 1 actor: the text warm start, Flow-GRPO, bit-exact resume
# without the source directory, eval, rollout, export read back by torch; and with the
# modules on a local model (modules.*.backend=model): train on 2 learners + 1 actor, eval, export.
af_script_test(test_text_train python /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/test_text_train.py)
set_tests_properties(test_text_train PROPERTIES SKIP_RETURN_CODE 77 RESOURCE_LOCK npm PROCESSORS 2 TIMEOUT 300)
