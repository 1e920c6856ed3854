# 2026-12-02 08:36 UTC, load average 2.59 7.72 10.96
build/bench_model --models B --threads 2 --steps 3 --decode-tokens 64 --csv build/model_bf16_train.csv
