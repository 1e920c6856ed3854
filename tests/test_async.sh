#!/usr/bin/env bash
# Asynchronous mode (algo.max_staleness = k > 0) end to end under mpirun:
#  - k = 0 is the synchronous run, bit for bit (metrics sans timings, weights);
#  - with injected stragglers, k = 1 and 2 runs at 3 and 4 ranks finish, every iteration
#    trains on all B x G trajectories, none is rejected, the staleness (iteration - policy
#    version of the weights that produced a trajectory) stays within k and does occur;
#  - a run stopped early by run.time_limit_s with units of later iterations handed out
#    receives them (no rank left blocked), evaluates, and exits 0.
# usage: test_async.sh AGENTFLOW_BINARY
. "$(dirname "$0")/lib.sh"
set -euo pipefail

tiny_game24
COMMON=("${TINY_GAME24[@]}")
"$AF" train --run-dir "$T/warm" "${COMMON[@]}" --set run.iterations=0 --set model.warmstart_steps=300 \
    --set model.warmstart_batch=16 --set model.warmstart_lr=1e-2 > "$T/warm.log" 2>&1
run() { # name np [extra...]
    local name=$1 np=$2; shift 2
    timeout "${RUN_TIMEOUT:-300}" mpirun -np "$np" "$AF" train --run-dir "$T/$name" "${COMMON[@]}" --init-from "$T/warm/model" "$@" \
        > "$T/$name.log" 2>&1 || { echo "FAIL $name: exit $?"; tail -20 "$T/$name.log"; return 1; }
}
strip() {
    $PY -c "
import json, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    print(json.dumps({k: v for k, v in d.items() if not (k.endswith('_s') or k.endswith('_per_s'))}, sort_keys=True))
" "$1"
}

# 1. k = 0 is the synchronous mode
run sync 3 --set run.iterations=3
run k0 3 --set run.iterations=3 --set algo.max_staleness=0
strip "$T/sync/metrics.jsonl" > "$T/sync.m"
strip "$T/k0/metrics.jsonl" > "$T/k0.m"
check "k=0 metrics == synchronous metrics" "cmp -s '$T/sync.m' '$T/k0.m'"
check "k=0 weights == synchronous weights" "cmp -s '$T/sync/model/model.safetensors' '$T/k0/model/model.safetensors'"

# 2. asynchronous runs with stragglers (30% of episodes 20x slower)
SLOW=(--set rollout.slow_fraction=0.3 --set rollout.slow_factor=20 --set run.iterations=5 --set run.eval_every=5)
run a1np3 3 "${SLOW[@]}" --set algo.max_staleness=1
run a2np4 4 "${SLOW[@]}" --set algo.max_staleness=2
run a1np4l2 4 "${SLOW[@]}" --set algo.max_staleness=1 --set topology.learners=2
for r in a1np3:1 a2np4:2 a1np4l2:1; do
    name=${r%%:*} k=${r##*:}
    check "$name: finished with 5 metrics lines and a trained planner" \
        "[ \$(wc -l < '$T/$name/metrics.jsonl') -eq 5 ] && [ -f '$T/$name/model/model.safetensors' ]"
    check "$name: all 32 trajectories per iteration, none rejected, staleness within $k" "$PY -c \"
import json
r = [json.loads(l) for l in open('$T/$name/metrics.jsonl')]
assert all(x['trajectories'] == 32 and x['rejected_messages'] == 0 and x['failed_rollouts'] == 0 for x in r), r
assert all(0 <= x['staleness_mean'] <= $k for x in r)
\""
done
check "staleness occurs (stragglers let actors run ahead)" "$PY -c \"
import json
rows = [json.loads(l) for n in ('a1np3', 'a2np4', 'a1np4l2') for l in open('$T/' + n + '/metrics.jsonl')]
assert any(x['staleness_mean'] > 0 for x in rows), 'no stale trajectories at all'
\""

# 3. an early stop with units of later iterations handed out
run early 4 --set algo.max_staleness=2 --set run.iterations=100000 --set run.time_limit_s=2 \
    --set rollout.slow_fraction=0.3 --set rollout.slow_factor=10 --set run.eval_every=1000 --set log.level=info
check "time-limited asynchronous run stops cleanly (exit 0, final eval, planner written)" \
    "grep -q 'time_limit_s' '$T/early.log' && [ -f '$T/early/model/model.safetensors' ] && [ \$(wc -l < '$T/early/eval.jsonl') -eq 2 ]"

if [ $fail -ne 0 ]; then for f in "$T"/*.log; do echo "== $f"; tail -5 "$f"; done; fi
finish
