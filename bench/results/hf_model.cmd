# 2026-12-02 02:36 UTC, load average 6.82 6.77 4.12
build/bench_hf_model gen /tmp/models_bench/qwen25
build/bench_hf_model run /tmp/models_bench/qwen25 --csv bench/results/hf_model.csv
