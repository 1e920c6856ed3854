# Tools area: the python sandbox, the HTTP client, the `http` tool and the OpenAI backend.
# test_python_tool runs every sandbox mode this host supports and exits 77 (skipped) if one cannot run.
af_unit_test(test_python_tool TIMEOUT 180)
set_tests_properties(test_python_tool PROPERTIES SKIP_RETURN_CODE 77)
if(AF_SANITIZE_TESTS)
  set_tests_properties(test_python_tool_asan PROPERTIES SKIP_RETURN_CODE 77)
endif()
af_script_test(test_python_isolation_cli cli bash ${CMAKE_SOURCE_DIR}/tests/test_python_isolation_cli.sh $<TARGET_FILE:test_python_tool>)
set_tests_properties(test_python_isolation_cli PROPERTIES SKIP_RETURN_CODE 77)
af_unit_test(test_http TIMEOUT 120)
af_unit_test(test_deadline TIMEOUT 120)
af_unit_test(test_text)
af_script_test(test_hygiene_cli cli bash ${CMAKE_SOURCE_DIR}/tests/test_hygiene_cli.sh $<TARGET_FILE:agentflow>)
