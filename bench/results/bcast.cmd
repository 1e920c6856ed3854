# 2026-12-02 04:04 UTC, load average 1.90 3.27 4.99
mpirun -np 2 --oversubscribe build/bench_bcast
mpirun -np 3 --oversubscribe build/bench_bcast
mpirun -np 4 --oversubscribe build/bench_bcast
