# 2026-12-04 15:36 UTC, load average 1.83 1.42 0.81
build-bench/bench_ckpt
