# 2026-12-02 05:53 UTC, load average 21.40 23.37 24.16
build/bench_hf_model run build/hf_qwen25 --csv bench/results/hf_model.csv
