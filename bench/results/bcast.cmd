# 2026-12-02 06:09 UTC, load average 5.23 10.16 16.53
mpirun -np 2 --oversubscribe build/bench_bcast --long
mpirun -np 3 --oversubscribe build/bench_bcast --long
mpirun -np 4 --oversubscribe build/bench_bcast --long
