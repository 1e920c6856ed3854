# Chat templates (issue 16 part 3): the C Jinja2-subset renderer against python3-jinja2
# set up as transformers' apply_chat_template, on the real templates from npm.
af_unit_test(test_chat_template)
add_executable(chat_template_check ${CMAKE_SOURCE_DIR}/tests/chat_template_check.c)
target_compile_options(chat_template_check PRIVATE ${AF_WARNINGS} ${AF_OPT_FLAGS})
target_link_libraries(chat_template_check PRIVATE agentflow_core)
af_script_test(test_chat_ref chat /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/hf/chat_ref.py)
set_tests_properties(test_chat_ref PROPERTIES SKIP_RETURN_CODE 77
  ENVIRONMENT "AF_SOURCE_DIR=${CMAKE_SOURCE_DIR};AF_BUILD_DIR=${CMAKE_BINARY_DIR};AF_BIN=$<TARGET_FILE:agentflow>;AF_CHAT_CHECK=$<TARGET_FILE:chat_template_check>")
