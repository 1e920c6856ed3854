# AF_SLURM_CHECK=0: tests run inside a SLURM allocation start singletons on purpose.
# OMPI_MCA_hwloc_base_binding_policy=none: mpirun would bind each rank of a 2-rank job to
# a core of its own (its default up to 2 ranks), so a rank could not leave a core that a
# busy process shares; a test of many rank-to-rank hand-offs (test_weights_mpi) then took
# 99-130 s instead of 3-7 s and overran its TIMEOUT, which looked like a hang.
# Test registration. Labels: unit (fast, single process), asan (unit tests against the
# sanitized library), mpi (under mpirun at several rank counts), python (PyTorch
# reference, /usr/bin/python3), cli (the agentflow program end to end).
set(AF_TEST_ENV "AF_SLURM_CHECK=0;OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1;OMPI_MCA_hwloc_base_binding_policy=none;OPENBLAS_NUM_THREADS=1;AF_SOURCE_DIR=${CMAKE_SOURCE_DIR}")

# af_unit_test(name [TIMEOUT s]): tests/<name>.c, run plain and (if enabled) sanitized.
function(af_unit_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "" ${ARGN})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  add_executable(${name} ${CMAKE_SOURCE_DIR}/tests/${name}.c)
  target_compile_options(${name} PRIVATE ${AF_WARNINGS} ${AF_OPT_FLAGS})
  target_link_libraries(${name} PRIVATE agentflow_core)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS unit TIMEOUT ${T_TIMEOUT} ENVIRONMENT "${AF_TEST_ENV}")
  if(AF_SANITIZE_TESTS)
    add_executable(${name}_asan ${CMAKE_SOURCE_DIR}/tests/${name}.c)
    target_compile_options(${name}_asan PRIVATE ${AF_WARNINGS})
    target_link_libraries(${name}_asan PRIVATE agentflow_core_asan)
    add_test(NAME ${name}_asan COMMAND ${name}_asan)
    set_tests_properties(${name}_asan PROPERTIES LABELS asan TIMEOUT ${T_TIMEOUT}
      ENVIRONMENT "${AF_TEST_ENV};ASAN_OPTIONS=detect_leaks=1:abort_on_error=0;LSAN_OPTIONS=suppressions=${CMAKE_SOURCE_DIR}/tests/lsan.supp;UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
  endif()
endfunction()

# af_mpi_test(name NP n1 n2 ... [ARGS ...]): tests/<name>.c under mpirun at each rank count.
function(af_mpi_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "NP;ARGS" ${ARGN})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  add_executable(${name} ${CMAKE_SOURCE_DIR}/tests/${name}.c)
  target_compile_options(${name} PRIVATE ${AF_WARNINGS} ${AF_OPT_FLAGS})
  target_link_libraries(${name} PRIVATE agentflow_core)
  foreach(np ${T_NP})
    add_test(NAME ${name}_np${np}
      COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${np} --oversubscribe
              ${MPIEXEC_PREFLAGS} $<TARGET_FILE:${name}> ${MPIEXEC_POSTFLAGS} ${T_ARGS})
    set_tests_properties(${name}_np${np} PROPERTIES LABELS mpi TIMEOUT ${T_TIMEOUT}
      PROCESSORS ${np} ENVIRONMENT "${AF_TEST_ENV}")
  endforeach()
endfunction()

# af_script_test(name script [args...]): a shell or python script test.
function(af_script_test name label)
  add_test(NAME ${name} COMMAND ${ARGN})
  set_tests_properties(${name} PROPERTIES LABELS ${label} TIMEOUT 600
    ENVIRONMENT "${AF_TEST_ENV};AF_BIN=$<TARGET_FILE:agentflow>;AF_BUILD_DIR=${CMAKE_BINARY_DIR}")
endfunction()

af_unit_test(test_error)
af_unit_test(test_rng)
af_unit_test(test_config)
af_unit_test(test_data_stream)
af_mpi_test(test_mpi_smoke NP 1 2 4)
af_script_test(test_mpi_singleton unit $<TARGET_FILE:test_mpi_smoke>)
af_script_test(test_cli cli bash ${CMAKE_SOURCE_DIR}/tests/test_cli.sh)

# Each area registers its tests in tests/cmake/<area>.cmake (model, env, tools, learner, ...).
file(GLOB AF_TEST_FRAGMENTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/cmake/*.cmake)
foreach(fragment ${AF_TEST_FRAGMENTS})
  include(${fragment})
endforeach()
af_script_test(test_layers unit bash ${CMAKE_SOURCE_DIR}/tests/test_layers.sh ${CMAKE_SOURCE_DIR})
