# 2026-11-25 11:25 UTC, load average 0.92 1.73 3.50
mpirun -np 2 --oversubscribe build-bench/bench_bcast
mpirun -np 3 --oversubscribe build-bench/bench_bcast
mpirun -np 4 --oversubscribe build-bench/bench_bcast
