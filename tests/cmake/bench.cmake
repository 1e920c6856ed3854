# Benchmarks area (issue 7): the weight broadcast's correctness at several rank counts
# (bench/bench_bcast.c measures its speed; tests never assert on time).
af_mpi_test(test_weights_mpi NP 1 2 4)
