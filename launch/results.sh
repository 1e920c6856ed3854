#!/usr/bin/env bash
# The learning-results study behind RESULTS.md (issue 8): for every suite and seed, the
# untrained planner, the planner after its warm start, and the Flow-GRPO-trained planner,
# all evaluated greedily on the held-out split; on the ablation suites also group
# normalisation off, reward on the final turn only, the monolithic policy, and accuracy
# against the number of turns allowed at evaluation. Then launch/results_report.py writes RESULTS.md.
#
#   ./launch/results.sh [--suites "game24 multihop arith countdown"] [--seeds "1 2 3"]
#                       [--minutes M] [--ablate "game24 multihop"] [--out DIR] [--bin PATH]
#                       [--report FILE] [--long "game24 countdown"] [--long-minutes 60]
#                       [-- extra agentflow train arguments]
#
# Every run is one rank (one core, OPENBLAS_NUM_THREADS=1); two runs go at a time on a
# 2-core machine (--jobs). M minutes is each main run's whole budget (run.time_limit_s:
# the warm start, then Flow-GRPO iterations until it is spent). The ablation runs start
# from the main run's warm-started planner and run as many RL iterations as it did. A
# finished run is not redone (delete its directory to redo it), so the study can be
# resumed after an interruption. --long: one run per suite (first seed) with the issue's
# whole budget, --long-minutes of wall time on one core, evaluated every 100 iterations.
set -euo pipefail
cd "$(dirname "$0")/.."
suites="game24 multihop arith countdown"
seeds="1 2 3"
minutes=10
ablate="game24 multihop"
out=runs/results
bin=build/agentflow
report=RESULTS.md
jobs=2
long=""
long_minutes=60
extra=()
while [ $# -gt 0 ]; do
    case $1 in
    --suites) suites=$2; shift 2 ;;
    --seeds) seeds=$2; shift 2 ;;
    --minutes) minutes=$2; shift 2 ;;
    --ablate) ablate=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --report) report=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --long) long=$2; shift 2 ;;
    --long-minutes) long_minutes=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "results.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
[ -x "$bin" ] || { echo "results.sh: $bin not found; build first (cmake --build build)" >&2; exit 2; }
export OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$out"
limit=$((minutes * 60))

# Runs "$@" as job $name unless $out/$name/done exists; keeps at most $jobs running.
launch() {
    local name=$1; shift
    [ -f "$out/$name/done" ] && return 0
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
    (
        rm -rf "$out/$name"
        start=$(date +%s)
        if "$@" --run-dir "$out/$name" > "$out/$name.log" 2>&1; then
            echo "{\"wall_s\": $(( $(date +%s) - start )), \"command\": $(printf '%s ' "$@" --run-dir "$out/$name" | /usr/bin/env python3 -c 'import json,sys; print(json.dumps(sys.stdin.read().strip()))')}" \
                > "$out/$name/done"
            echo "results.sh: $name done"
        else
            echo "results.sh: $name FAILED (see $out/$name.log)" >&2
        fi
    ) &
}

# A run with the suite's config and seed: "$name" "$suite" "$seed" [more train arguments].
train_run() {
    local name=$1 s=$2 seed=$3; shift 3
    launch "$name" "$bin" train --config "launch/configs/$s.json" --set run.seed="$seed" "$@"
}
# A main run: the warm start, then Flow-GRPO until $limit seconds are spent.
main_run() {
    local name=$1 s=$2 seed=$3; shift 3
    train_run "$name" "$s" "$seed" --set run.time_limit_s="$limit" --set run.iterations=100000 "$@" "${extra[@]}"
}

# 1. untrained planners and the main runs (warm start + Flow-GRPO)
for s in $suites; do
    for seed in $seeds; do
        train_run "$s-untrained-s$seed" "$s" "$seed" --set run.iterations=0 --set model.warmstart_steps=0 \
            --set run.eval_every=1 "${extra[@]}"
        main_run "$s-s$seed" "$s" "$seed"
    done
done
wait
# 2. ablations, each from the same seed's warm-started planner, for as many RL
#    iterations as that seed's main run took
for s in $ablate; do
    for seed in $seeds; do
        base=$out/$s-s$seed
        [ -f "$base/done" ] || { echo "results.sh: $base did not finish; no ablations for $s seed $seed" >&2; continue; }
        its=$(wc -l < "$base/metrics.jsonl")
        common=(--init-from "$base/warmstart" --set model.warmstart_steps=0 --set run.time_limit_s=0
                --set run.iterations="$its" "${extra[@]}")
        train_run "$s-nonorm-s$seed" "$s" "$seed" "${common[@]}" --set algo.group_norm=false
        train_run "$s-finalturn-s$seed" "$s" "$seed" "${common[@]}" --set algo.reward_turns=final
    done
done
wait
# 2b. the monolithic policy at the main runs' budget: its own warm start on transcripts,
#     then Flow-GRPO, in the same wall time
for s in $ablate; do
    for seed in $seeds; do
        main_run "$s-mono-s$seed" "$s" "$seed" --set algo.policy=monolithic
    done
done
wait
# 3. accuracy against the turns allowed at evaluation (each seed's trained planner)
for s in $ablate; do
    for seed in $seeds; do
        base=$out/$s-s$seed
        [ -f "$base/done" ] || continue
        for k in 1 2 3 4 5; do
            f=$out/$s-turns$k-s$seed.json
            [ -s "$f" ] || "$bin" eval --run-dir "$base" --greedy --max-turns "$k" > "$f" 2> "$f.log" || rm -f "$f"
        done
    done
done
# 3b. where game24 planners lose: solvability after each step (launch/game24_steps.py)
for seed in $seeds; do
    for m in warmstart model; do
        base=$out/game24-s$seed
        f=$out/game24-steps-$m-s$seed.json
        [ -f "$base/done" ] && ! [ -s "$f" ] || continue
        "$bin" rollout --model "$base/$m" --config "$base/config.json" --n all --greedy --json 2> /dev/null |
            /usr/bin/env python3 launch/game24_steps.py > "$f" || rm -f "$f"
    done
done
# 4. the long runs
first=${seeds%% *}
for s in $long; do
    train_run "$s-long-s$first" "$s" "$first" --set run.time_limit_s=$((long_minutes * 60)) \
        --set run.iterations=1000000 "${extra[@]}" --set run.eval_every=100
done
wait
/usr/bin/env python3 launch/results_report.py --out "$out" --suites "$suites" --seeds "$seeds" --ablate "$ablate" \
    --minutes "$minutes" --report "$report" --long "$long" --long-minutes "$long_minutes"
