# 2026-11-25 11:22 UTC, load average 0.16 2.18 3.91
build-bench/bench_model --threads 1 --steps 3 --decode-tokens 64
# 2026-11-25 11:58 UTC, load average 2.13 4.09 4.27 (another benchmark running)
build/bench_model --models B --threads 2 --steps 3 --decode-tokens 64
