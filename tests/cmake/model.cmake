# Tests of the planner model (issue 3): gradients, decode, safetensors, PyTorch reference.
af_unit_test(test_model_grad)
af_unit_test(test_model_decode)
af_unit_test(test_pool)
af_unit_test(test_model_st)
# PyTorch reference (tests/model_ref.py drives the helper model_ref_dump and `agentflow score`).
add_executable(model_ref_dump ${CMAKE_SOURCE_DIR}/tests/model_ref_dump.c)
target_compile_options(model_ref_dump PRIVATE ${AF_WARNINGS} ${AF_OPT_FLAGS})
target_link_libraries(model_ref_dump PRIVATE agentflow_core)
af_script_test(test_model_torch python /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/model_ref.py)
af_script_test(test_model_cli cli bash ${CMAKE_SOURCE_DIR}/tests/test_model_cli.sh)
af_unit_test(test_lowtemp)
af_script_test(test_lowtemp_cli cli bash ${CMAKE_SOURCE_DIR}/tests/test_lowtemp_cli.sh $<TARGET_FILE:agentflow>)
# Hugging Face families (Qwen2.5, Qwen3, Llama-3, SmolLM2) with real vocabularies, every
# dtype, sharded directories and refusals, against the same PyTorch implementation.
af_script_test(test_model_families python /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/model_families.py)
# bf16 decode (rollout.decode_dtype bf16) against PyTorch fp32, bf16 autocast and the exact C rounding
af_script_test(test_decode_bf16_torch python /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/decode_bf16_ref.py)
# `agentflow ckpt export`: fp32 and sharded bf16 directories read back by the project and
# by torch, the source's config fields and tokenizer files carried over.
af_script_test(test_model_export python /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/model_export.py)
# `agentflow score --text/--chat`: real tokenizers (npm) and chat templates on tiny models of
# the real architectures, ids against the JavaScript tokenizer and jinja2, log-probs against torch.
af_script_test(test_score_text python /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/test_score_text.py)
set_tests_properties(test_score_text PROPERTIES SKIP_RETURN_CODE 77 RESOURCE_LOCK npm)
# CPU-dispatched kernels (issue 19): every variant the CPU runs gives the baseline's bits
# (kernels, model forward/backward, decode); the first choice follows AF_KERNELS; the
# model's own checks also under the baseline kernels; the default build is portable.
af_unit_test(test_kernels)
add_test(NAME test_kernels_env_baseline COMMAND test_kernels)
set_tests_properties(test_kernels_env_baseline PROPERTIES LABELS unit TIMEOUT 300 ENVIRONMENT "${AF_TEST_ENV};AF_KERNELS=baseline")
foreach(t test_model_decode test_model_grad)
  add_test(NAME ${t}_kernels_baseline COMMAND ${t})
  set_tests_properties(${t}_kernels_baseline PROPERTIES LABELS unit TIMEOUT 300 ENVIRONMENT "${AF_TEST_ENV};AF_KERNELS=baseline")
endforeach()
# AMX tile products of the bf16 decoder (AF_AMX, common/amx.h): the packed layout and the
# SDM's bits in emulation, the decoder's invariance checks on the packed path (emulated), and
# on a CPU with AMX-BF16 the tile unit itself (test_amx_tiles skips elsewhere).
af_unit_test(test_amx)
set_tests_properties(test_amx PROPERTIES ENVIRONMENT "${AF_TEST_ENV};AF_AMX=emulate")
if(TARGET test_amx_asan)
  set_tests_properties(test_amx_asan PROPERTIES ENVIRONMENT
    "${AF_TEST_ENV};AF_AMX=emulate;ASAN_OPTIONS=detect_leaks=1:abort_on_error=0;LSAN_OPTIONS=suppressions=${CMAKE_SOURCE_DIR}/tests/lsan.supp;UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
endif()
add_test(NAME test_amx_tiles COMMAND test_amx)
set_tests_properties(test_amx_tiles PROPERTIES LABELS unit TIMEOUT 300 SKIP_RETURN_CODE 77 ENVIRONMENT "${AF_TEST_ENV};AF_AMX=on")
# The decoder's checks and the PyTorch comparison on the packed path (AF_AMX=on is the
# vdpbf16ps path again, with a warning, on a CPU without AMX).
foreach(mode emulate on)
  add_test(NAME test_model_decode_amx_${mode} COMMAND test_model_decode)
  set_tests_properties(test_model_decode_amx_${mode} PROPERTIES LABELS unit TIMEOUT 300 ENVIRONMENT "${AF_TEST_ENV};AF_AMX=${mode}")
  af_script_test(test_decode_bf16_torch_amx_${mode} python /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/decode_bf16_ref.py)
  set_tests_properties(test_decode_bf16_torch_amx_${mode} PROPERTIES ENVIRONMENT
    "${AF_TEST_ENV};AF_BIN=$<TARGET_FILE:agentflow>;AF_BUILD_DIR=${CMAKE_BINARY_DIR};AF_AMX=${mode}")
endforeach()
af_script_test(test_portable_build unit bash ${CMAKE_SOURCE_DIR}/tests/test_portable_build.sh
  $<TARGET_FILE:agentflow> ${CMAKE_BINARY_DIR} ${AF_NATIVE} "${AF_BASELINE_ARCH}")
set_tests_properties(test_portable_build PROPERTIES SKIP_RETURN_CODE 77)
# bf16 learner products (issue 19): rounding, products, the model in bf16 against fp32,
# repeatability; the fp32 fallback without native bf16 (AF_BF16=off).
af_unit_test(test_model_bf16)
set_tests_properties(test_model_bf16 PROPERTIES SKIP_RETURN_CODE 77)
if(AF_SANITIZE_TESTS)
  set_tests_properties(test_model_bf16_asan PROPERTIES SKIP_RETURN_CODE 77)
endif()
add_test(NAME test_model_bf16_off COMMAND test_model_bf16)
set_tests_properties(test_model_bf16_off PROPERTIES LABELS unit TIMEOUT 300 ENVIRONMENT "${AF_TEST_ENV};AF_BF16=off")
# bf16 learner products against PyTorch: emulating the C scheme (tight) and under bf16
# autocast (what a PyTorch user runs); skipped without native bf16.
af_script_test(test_model_bf16_torch python /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/model_bf16_ref.py)
set_tests_properties(test_model_bf16_torch PROPERTIES SKIP_RETURN_CODE 77)
