# Benchmarks area (issue 7): the weight broadcast's correctness at several rank counts
# (bench/bench_bcast.c measures its speed; tests never assert on time).
af_mpi_test(test_weights_mpi NP 1 2 3 4)
# The benchmarks run (tiny settings) and bench/report.py regenerates a report from their CSV.
af_script_test(test_bench_smoke mpi bash ${CMAKE_SOURCE_DIR}/tests/test_bench_smoke.sh
  $<TARGET_FILE:bench_wire> $<TARGET_FILE:bench_bcast> ${CMAKE_SOURCE_DIR} $<TARGET_FILE:bench_model>
  $<TARGET_FILE:bench_train_paired>)
# Every test has a bounded TIMEOUT (an MPI test that hangs fails; it cannot eat CI's time).
af_script_test(test_ctest_timeouts unit /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/test_ctest_timeouts.py ${CMAKE_BINARY_DIR})
