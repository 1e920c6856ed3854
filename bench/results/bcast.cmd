# 2026-12-03 08:09-08:10 UTC, load average 3.75 4.05 3.54 (the 3 arith trainings of this session stopped with SIGSTOP during the runs: stopped processes still count in the load average, none was running)
mpirun -np 2 --oversubscribe build/bench_bcast --long
mpirun -np 3 --oversubscribe build/bench_bcast --long
mpirun -np 4 --oversubscribe build/bench_bcast --long
