#!/usr/bin/env bash
# algo.ref_reset_every (issue 18) in a training run (tiny game24 planner, one rank, a strong
# KL term so that the policy moves away from its reference):
#  - effect: with ppo_epochs 1 and one mini-batch the KL is computed before the step, so at
#    the iterations where the reference became the policy (2 and 4 with N = 2) train/kl is
#    exactly 0, while the frozen reference (the default) gives KL > 0 there; the iterations
#    before the first reset are the frozen run's bit for bit;
#  - refusals (exit 2, naming the key): without a KL term, and N not a multiple of
#    run.checkpoint_every;
#  - resume: 5 iterations in one go == 3, stop, --resume to 5 (the reference in force at
#    step 3 is rebuilt from checkpoint 2's weights): metrics and final weights equal.
# usage: test_ref_reset_train.sh AGENTFLOW_BINARY
. "$(dirname "$0")/lib.sh"
set -euo pipefail

tiny_rl
train() { tiny_rl_train "$@"; }
kl() { # run iteration: train/kl of that iteration
    $PY -c 'import json,sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d["iteration"] == int(sys.argv[2]): print(repr(d["train/kl"]))' "$T/$1/metrics.jsonl" "$2"
}

# 1. effect
train frozen --set run.iterations=5
train reset --set run.iterations=5 --set algo.ref_reset_every=2
for it in 2 4; do
    check "frozen reference: KL > 0 at iteration $it" "$PY -c 'import sys; sys.exit(not float(\"$(kl frozen $it)\") > 1e-6)'"
    check "reset every 2: KL == 0 at iteration $it" "$PY -c 'import sys; sys.exit(float(\"$(kl reset $it)\") != 0.0)'"
done
check "reset every 2: KL > 0 at iteration 3" "$PY -c 'import sys; sys.exit(not float(\"$(kl reset 3)\") > 1e-6)'"
check "before the first reset the runs are the same" \
    "[ '$(kl frozen 0) $(kl frozen 1)' = '$(kl reset 0) $(kl reset 1)' ]"
check "the resets change the weights" "! cmp -s '$T/frozen/model/model.safetensors' '$T/reset/model/model.safetensors'"

# 2. refusals
expect_rc 2 "algo.ref_reset_every" "$AF" train --run-dir "$T/nokl" "${TINY_RL[@]}" --set run.iterations=1 \
    --set algo.kl_coef=0 --set algo.ref_reset_every=2
expect_rc 2 "algo.ref_reset_every" "$AF" train --run-dir "$T/odd" "${TINY_RL[@]}" --set run.iterations=1 \
    --set algo.ref_reset_every=3

# 3. resume between two resets
train half --set run.iterations=3 --set algo.ref_reset_every=2
train half --set run.iterations=5 --set algo.ref_reset_every=2 --resume
N=5 same_run "resumed at step 3" reset half
finish
