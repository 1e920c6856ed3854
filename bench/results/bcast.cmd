mpirun -np 2 --oversubscribe build-bench/bench_bcast
mpirun -np 3 --oversubscribe build-bench/bench_bcast
mpirun -np 4 --oversubscribe build-bench/bench_bcast
