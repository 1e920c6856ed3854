# 2026-11-25 11:25 UTC, load average 0.92 1.73 3.50
build-bench/bench_wire
