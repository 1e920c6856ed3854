# 2026-12-04 15:52 UTC, load average 2.10 1.94 1.51
build-bench/bench_model --models B --threads 2 --steps 3 --decode-tokens 64 --csv build-bench/model_bf16_train.csv
