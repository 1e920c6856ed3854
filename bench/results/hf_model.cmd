# 2026-12-02 02:54 UTC, load average 7.10 7.50 6.93
build/bench_hf_model gen /tmp/models_bench/qwen25
build/bench_hf_model run /tmp/models_bench/qwen25 --csv bench/results/hf_model.csv
