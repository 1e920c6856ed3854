# 2026-11-25 11:22 UTC, load average 0.16 2.18 3.91
build-bench/bench_model --threads 1 --steps 3 --decode-tokens 64
