# 2026-12-04 15:29 UTC, load average 1.39 0.89 0.39
build-bench/bench_model --threads 1 --steps 3 --decode-tokens 64
