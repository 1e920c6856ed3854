# 2026-12-04 15:35 UTC, load average 1.52 1.35 0.78
build-bench/bench_wire
