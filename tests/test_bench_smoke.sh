#!/usr/bin/env bash
# The benchmarks run and their report regenerates (figures are not checked: tests never
# assert on time): bench_wire and bench_bcast (2 ranks) with tiny settings write CSV with
# every method, and bench/report.py fills BENCHMARKS.md-style markers from them, keeping
# the hand-written text, and says "not run" for what is missing.
# usage: test_bench_smoke.sh BENCH_WIRE BENCH_BCAST SOURCE_DIR
set -euo pipefail
WIRE=$1 BCAST=$2 SRC=$3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 OPENBLAS_NUM_THREADS=1
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }
mkdir -p "$T/results"
"$WIRE" --episodes 2 --fixtures 6 --reps 2 --csv "$T/results/wire.csv" > "$T/wire.log" 2>&1
check "bench_wire runs" "[ \$? -eq 0 ]"
for op in encode decode memcpy; do
    check "wire.csv has $op for both sets" "[ \$(grep -c ',$op,' '$T/results/wire.csv') -eq 2 ]"
done
check "wire.csv has the episode share" "grep -q '^episodes,share_pct,' '$T/results/wire.csv'"
mpirun -np 2 "$BCAST" --models A --reps 1 --csv "$T/results/bcast.csv" > "$T/bcast.log" 2>&1
for m in publish weights mpi_bcast memcpy; do
    check "bcast.csv has $m at 2 ranks" "grep -q '^A,[0-9]*,[0-9]*,2,$m,' '$T/results/bcast.csv'"
done
printf 'cpu: test\n' > "$T/results/machine.txt"
printf '# B\n\nhand-written\n\n<!-- BEGIN:wire -->\nstale\n<!-- END:wire -->\n\nmore hand-written\n' > "$T/B.md"
/usr/bin/python3 "$SRC/bench/report.py" "$T/results" "$T/B.md" > "$T/report.log" 2>&1
check "report.py runs" "[ \$? -eq 0 ]"
check "hand-written text kept" "grep -q '^hand-written' '$T/B.md' && grep -q '^more hand-written' '$T/B.md'"
check "stale table replaced" "! grep -q '^stale' '$T/B.md' && grep -q '| episodes | encode |' '$T/B.md'"
check "bcast table added" "grep -q '| A | .* | 2 | publish |' '$T/B.md'"
check "broadcast target evaluated" "grep -q 'Weight broadcast <= 1.5x memcpy at 2 ranks, model A' '$T/B.md'"
check "missing parts say not run" "grep -q 'not run' '$T/B.md'"
if [ $fail -ne 0 ]; then tail -20 "$T"/*.log; fi
exit $fail
