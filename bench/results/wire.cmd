build-bench/bench_wire
