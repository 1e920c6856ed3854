# 2026-12-02 08:07 UTC, load average 13.51 15.20 14.18
build/bench_hf_model run build/hf_qwen25 --csv bench/results/hf_model.csv
