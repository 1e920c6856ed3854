# Tools area: the python sandbox, the HTTP client, the `http` tool and the OpenAI backend.
af_unit_test(test_python_tool TIMEOUT 120)
af_unit_test(test_http TIMEOUT 120)
af_unit_test(test_deadline TIMEOUT 120)
af_unit_test(test_text)
af_script_test(test_hygiene_cli cli bash ${CMAKE_SOURCE_DIR}/tests/test_hygiene_cli.sh $<TARGET_FILE:agentflow>)
