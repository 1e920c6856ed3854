# Suites, tools and the agent loop (env/, actor/).
af_unit_test(test_suites TIMEOUT 300)
