# 2026-12-04 15:35 UTC, load average 1.66 1.36 0.76
build-bench/bench_hf_model run build-bench/hf_qwen25 --csv bench/results/hf_model.csv
