build-bench/bench_model --steps 3 --decode-tokens 64
