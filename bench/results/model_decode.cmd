# 2026-12-04 15:32 UTC, load average 1.02 0.95 0.51
build-bench/bench_model --models B --threads 1 --no-train --decode-tokens 64 --csv bench/results/model_decode.csv
