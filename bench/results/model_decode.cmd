# 2026-12-02 06:00 UTC, load average 15.04 18.74 21.84
build/bench_model --models B --threads 1 --no-train --decode-tokens 64 --csv bench/results/model_decode.csv
