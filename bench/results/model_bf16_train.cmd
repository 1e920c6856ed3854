# 2026-12-02 08:13 UTC, load average 9.06 12.80 13.60
build/bench_model --models B --threads 2 --steps 3 --decode-tokens 64 --csv build/model_bf16_train.csv
