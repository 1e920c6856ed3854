# 2026-12-02 09:42 UTC, load average 1.26 1.49 2.35
build/bench_model --models B --threads 2 --steps 3 --decode-tokens 64 --csv build/model_bf16_train.csv
