# Chat templates (issue 16 part 3): the C Jinja2-subset renderer against python3-jinja2
# set up as transformers' apply_chat_template, on the real templates from npm.
af_unit_test(test_chat_template)
add_executable(chat_template_check ${CMAKE_SOURCE_DIR}/tests/chat_template_check.c)
target_compile_options(chat_template_check PRIVATE ${AF_WARNINGS} ${AF_OPT_FLAGS})
target_link_libraries(chat_template_check PRIVATE agentflow_core)
af_script_test(test_chat_ref chat /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/hf/chat_ref.py)
set_tests_properties(test_chat_ref PROPERTIES SKIP_RETURN_CODE 77 RESOURCE_LOCK npm
  ENVIRONMENT "AF_SOURCE_DIR=${CMAKE_SOURCE_DIR};AF_BUILD_DIR=${CMAKE_BINARY_DIR};AF_BIN=$<TARGET_FILE:agentflow>;AF_CHAT_CHECK=$<TARGET_FILE:chat_template_check>")
if(AF_SANITIZE_TESTS)
  # The Jinja2 comparison once more with the renderer under ASan+UBSan (fewer cases).
  add_executable(chat_template_check_asan ${CMAKE_SOURCE_DIR}/tests/chat_template_check.c)
  target_compile_options(chat_template_check_asan PRIVATE ${AF_WARNINGS})
  target_link_libraries(chat_template_check_asan PRIVATE agentflow_core_asan)
  af_script_test(test_chat_ref_asan asan /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/hf/chat_ref.py --cases 100)
  set_tests_properties(test_chat_ref_asan PROPERTIES SKIP_RETURN_CODE 77 RESOURCE_LOCK npm
    ENVIRONMENT "AF_SOURCE_DIR=${CMAKE_SOURCE_DIR};AF_BUILD_DIR=${CMAKE_BINARY_DIR};AF_BIN=$<TARGET_FILE:agentflow>;AF_CHAT_CHECK=$<TARGET_FILE:chat_template_check_asan>;ASAN_OPTIONS=detect_leaks=1:abort_on_error=0;LSAN_OPTIONS=suppressions=${CMAKE_SOURCE_DIR}/tests/lsan.supp;UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
endif()
