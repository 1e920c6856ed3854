# 2026-12-04 15:35 UTC, load average 1.52 1.35 0.78
mpirun -np 2 --oversubscribe build-bench/bench_bcast
mpirun -np 3 --oversubscribe build-bench/bench_bcast
mpirun -np 4 --oversubscribe build-bench/bench_bcast
