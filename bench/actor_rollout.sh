#!/bin/bash
# The actor's rollout throughput with game24-attempts (issue 19 part 3): trajectories/s of
# the rollout phase (rollout/trajectories / rollout_s of metrics.jsonl) of a 2-rank run (1
# learner + 1 actor, the learner idle while the actor rolls out), and the actor seconds per
# episode (its inverse). Two binaries run in turn, A B A B ..., on the same warm-started
# planner, so that a drift of the shared machine's load falls on both; the paired ratio
# A/B and the medians are printed, with the load average before and after.
#
#   bench/actor_rollout.sh --a build/agentflow --b OLD/agentflow [--reps 5] [--iterations 3]
#                          [--ranks 2] [--set KEY=VALUE ...]
#
# A is usually the new binary (rollout.group_decode on, the default), B the baseline (an
# older build, or the same binary with --b-set rollout.group_decode=false). The planner is
# warm-started once (model.warmstart_steps=20, as the bit-identity check) with A and both
# start from it (model.init_from); the run's other keys are the config's, with
# rollout.batch_queries=8 and no evaluation.
set -euo pipefail
A="" B="" REPS=5 ITERS=3 RANKS=2
SETS=() BSETS=()
while [ $# -gt 0 ]; do
    case "$1" in
    --a) A=$2; shift 2 ;;
    --b) B=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --iterations) ITERS=$2; shift 2 ;;
    --ranks) RANKS=$2; shift 2 ;;
    --set) SETS+=(--set "$2"); shift 2 ;;
    --b-set) BSETS+=(--set "$2"); shift 2 ;;
    *) echo "actor_rollout.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -x "$A" ] && [ -x "$B" ] || { echo "actor_rollout.sh: --a and --b must be agentflow binaries" >&2; exit 2; }
SRC=$(cd "$(dirname "$0")/.." && pwd)
CONFIG=$SRC/launch/configs/game24-attempts.json
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

"$A" train --config "$CONFIG" --set model.warmstart_steps=20 --set run.iterations=0 --set run.eval_every=0 \
    --set run.time_limit_s=0 --run-dir "$TMP/warm" >"$TMP/warm.log" 2>&1 ||
    { tail -5 "$TMP/warm.log" >&2; exit 1; }

# one run: prints "trajectories/s" of the rollout phase over all iterations
one() {
    local bin=$1 dir=$2
    shift 2
    local launch=()
    [ "$RANKS" -gt 1 ] && launch=(mpirun -n "$RANKS" --oversubscribe)
    "${launch[@]}" "$bin" train --config "$CONFIG" --set model.init_from="$TMP/warm/warmstart" \
        --set model.warmstart_steps=0 --set run.iterations="$ITERS" --set run.eval_every=0 \
        --set run.checkpoint_every=0 --set rollout.batch_queries=8 --set run.time_limit_s=0 \
        --set topology.learners=1 "${SETS[@]}" "$@" --run-dir "$dir" >"$dir.log" 2>&1 ||
        { tail -5 "$dir.log" >&2; exit 1; }
    python3 - "$dir/metrics.jsonl" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
n = sum(r["rollout/trajectories"] for r in rows)
s = sum(r["rollout_s"] for r in rows)
print(f"{n / s:.3f}")
EOF
}

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores, $RANKS ranks"
echo "# A: $A ${SETS[*]}"
echo "# B: $B ${SETS[*]} ${BSETS[*]}"
printf "%-4s %12s %12s %8s\n" rep "A traj/s" "B traj/s" "A/B"
ra=() rb=() rr=()
for r in $(seq 1 "$REPS"); do
    a=$(one "$A" "$TMP/a$r")
    b=$(one "$B" "$TMP/b$r" "${BSETS[@]}")
    q=$(python3 -c "print(f'{$a / $b:.2f}')")
    printf "%-4s %12s %12s %8s\n" "$r" "$a" "$b" "$q"
    ra+=("$a") rb+=("$b") rr+=("$q")
done
python3 - "${ra[*]}" "${rb[*]}" "${rr[*]}" <<'EOF'
import statistics, sys
a, b, r = ([float(x) for x in s.split()] for s in sys.argv[1:4])
ma, mb = statistics.median(a), statistics.median(b)
print(f"median A {ma:.3f} traj/s ({1 / ma:.3f} actor s per episode), B {mb:.3f} traj/s ({1 / mb:.3f} s); "
      f"paired A/B median {statistics.median(r):.2f}x (min {min(r):.2f}, max {max(r):.2f})")
EOF
echo "# load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
