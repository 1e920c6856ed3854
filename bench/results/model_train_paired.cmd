# 2026-12-04 23:47 UTC, load average 1.89 1.83 1.74
env AF_SOURCE_DIR=/work/main build-bench/bench_train_paired --model B --threads 2 --rounds 12 --warmup 3 --csv bench/results/model_train_paired.csv
