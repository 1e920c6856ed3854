# 2026-12-02 08:10 UTC, load average 13.76 14.74 14.18
build/bench_model --models B --threads 1 --no-train --decode-tokens 64 --csv bench/results/model_decode.csv
