#!/usr/bin/env bash
# Issue 20 item 6: a short `train` at rollout.temperature=0.02 trains on its trajectories
# (before the fix every near-certain token came out at a log-prob slightly above 0, the
# learner rejected every trajectory and trained on nothing).
# usage: test_lowtemp_cli.sh AGENTFLOW_BINARY
. "$(dirname "$0")/lib.sh"
set -uo pipefail
SMALL=(--set suite.name=arith --set rollout.batch_queries=2 --set rollout.group_size=2 --set model.d_model=32
       --set model.d_ff=64 --set log.progress=none --set run.iterations=2)
for temp in 0.02 0.05; do
    if ! "$AF" train "${SMALL[@]}" --set rollout.temperature=$temp --run-dir "$T/r$temp" > "$T/log$temp" 2>&1; then
        echo "FAIL train at temperature $temp exited non-zero"; cat "$T/log$temp"; fail=1; continue
    fi
    if grep -q "failed validation" "$T/log$temp"; then
        echo "FAIL temperature $temp: trajectories rejected:"; grep -m3 "failed validation" "$T/log$temp"; fail=1
    fi
    if python3 - "$T/r$temp/metrics.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
# every trajectory accepted; the learner trains on tokens unless every group had one reward
# (zero variance: nothing to learn from, whatever the temperature)
bad = [r for r in rows if r["failed_rollouts"] != 0 or r["trajectories"] == 0 or not r["action_tokens_mean"] > 0
       or not (r["learner_tokens_per_s"] > 0 or r["zero_variance_groups"] == r["groups"])]
for r in bad:
    print("iteration %d: failed_rollouts %d, learner_tokens_per_s %g, zero-variance groups %d of %d"
          % (r["iteration"], r["failed_rollouts"], r["learner_tokens_per_s"], r["zero_variance_groups"], r["groups"]))
sys.exit(1 if bad or not rows else 0)
PY
    then echo "ok   temperature $temp: no rejected trajectory, the learner took every group with a reward spread"
    else echo "FAIL temperature $temp: the learner trained on nothing"; fail=1
    fi
done
finish
