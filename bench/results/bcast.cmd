# 2026-12-02 05:44 UTC, load average 25.01 27.64 25.36
mpirun -np 2 --oversubscribe build/bench_bcast --long
mpirun -np 3 --oversubscribe build/bench_bcast --long
mpirun -np 4 --oversubscribe build/bench_bcast --long
