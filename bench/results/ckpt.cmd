# 2026-11-25 11:35 UTC, load average 5.32 4.38 3.88
build-bench/bench_ckpt
