# 2026-12-02 03:48 UTC, load average 6.84 6.92 6.37
mpirun -np 2 --oversubscribe build/bench_bcast
mpirun -np 3 --oversubscribe build/bench_bcast
mpirun -np 4 --oversubscribe build/bench_bcast
