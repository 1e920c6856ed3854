#!/usr/bin/env bash
# Flow-GRPO training end to end under mpirun (issue 5):
#  - a warm start produces a planner that acts in the suite's format (model.init_from for the rest);
#  - training for a few iterations at 1, 2 and 4 ranks with 1 learner, and at 3 and 4 ranks
#    with 2 learners, finishes and writes metrics, eval and the trained planner;
#  - determinism: the same config and seed give bit-identical metrics (timings aside) and
#    weights across runs and across numbers of actor ranks (1 rank vs 1 actor vs 3 actors);
#  - the updates are real: rewards vary, groups are kept, the weights change;
#  - a rank sending 10,000+ garbage messages: all rejected and counted, training unchanged;
#  - every group zero-variance, every rollout failed, and a topology without actors end
#    cleanly / are refused.
# usage: test_train.sh AGENTFLOW_BINARY
. "$(dirname "$0")/lib.sh"
set -euo pipefail

# A game24 set of puzzles with at most two distinct numbers that random valid expressions
# solve 6-10% of the time ("12 12 12 12": 12+12+12-12), so a tiny planner that only
# learned the action format already solves some of them by chance: rewards vary
# within groups and the updates have something to learn from. Copying distinct numbers
# or names from the prompt takes far longer to learn than a test should run.
tiny_game24
COMMON=("${TINY_GAME24[@]}")

# 1. warm start only (iterations 0): the format-trained initial planner
"$AF" train --run-dir "$T/warm" "${COMMON[@]}" --set run.iterations=0 --set model.warmstart_steps=600 \
    --set model.warmstart_batch=16 --set model.warmstart_lr=1e-2 > "$T/warm.log" 2>&1
check "warm start writes a model" "[ -f '$T/warm/model/model.safetensors' ]"

run() { # name np learners [extra...]
    local name=$1 np=$2 L=$3; shift 3
    mpirun -np "$np" "$AF" train --run-dir "$T/$name" "${COMMON[@]}" --init-from "$T/warm/model" \
        --set run.iterations=3 --set topology.learners="$L" --set run.eval_every=3 "$@" > "$T/$name.log" 2>&1
}
strip() { # metrics without timing fields
    $PY - "$1" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    print(json.dumps({k: v for k, v in d.items() if not (k.endswith("_s") or k.endswith("_per_s"))}, sort_keys=True))
EOF
}

run single 1 1
run np2 2 1
run np4 4 1
run np4b 4 1
run l2np3 3 2
run l2np4 4 2
for r in single np2 np4 np4b l2np3 l2np4; do
    check "$r: 3 metrics lines" "[ \$(wc -l < '$T/$r/metrics.jsonl') -eq 3 ]"
    check "$r: eval lines before and after" "[ \$(wc -l < '$T/$r/eval.jsonl') -eq 2 ]"
    check "$r: trained planner written" "[ -f '$T/$r/model/model.safetensors' ]"
done
strip "$T/single/metrics.jsonl" > "$T/single.m"
for r in np2 np4 np4b; do
    strip "$T/$r/metrics.jsonl" > "$T/$r.m"
    check "$r metrics == 1-rank metrics" "cmp -s '$T/single.m' '$T/$r.m'"
    check "$r weights == 1-rank weights" "cmp -s '$T/single/model/model.safetensors' '$T/$r/model/model.safetensors'"
done
strip "$T/l2np3/metrics.jsonl" > "$T/l2np3.m"
strip "$T/l2np4/metrics.jsonl" > "$T/l2np4.m"
check "2 learners: 1 actor == 2 actors (metrics)" "cmp -s '$T/l2np3.m' '$T/l2np4.m'"
check "2 learners: 1 actor == 2 actors (weights)" "cmp -s '$T/l2np3/model/model.safetensors' '$T/l2np4/model/model.safetensors'"
check "weights changed by training" "! cmp -s '$T/warm/model/model.safetensors' '$T/single/model/model.safetensors'"
$PY - "$T/single/metrics.jsonl" "$T/l2np4/metrics.jsonl" > "$T/real.txt" <<'EOF'
import json, sys
for path in sys.argv[1:]:
    rows = [json.loads(l) for l in open(path)]
    kept = sum(r["groups"] - r["zero_variance_groups"] for r in rows)
    rewards = [r["reward_mean"] for r in rows]
    ok = kept > 0 and any(r["grad_norm"] > 0 for r in rows) and max(r["logprob_mismatch_max"] for r in rows) < 1e-3
    ok = ok and all(r["trajectories"] == 32 and r["rejected_messages"] == 0 for r in rows)
    print(path, "kept groups", kept, "rewards", rewards, "ok" if ok else "BAD")
EOF
cat "$T/real.txt"
check "updates are real (groups kept, gradients, mismatch < 1e-3, all trajectories)" "! grep -q BAD '$T/real.txt'"

# 2. every group has zero variance: a fresh (not warm-started) planner never solves anything
"$AF" train --run-dir "$T/zero" "${COMMON[@]}" --set run.iterations=2 > "$T/zero.log" 2>&1
check "all-zero-variance run finishes" "[ \$(wc -l < '$T/zero/metrics.jsonl') -eq 2 ]"
check "all groups counted zero-variance" "$PY -c \"import json,sys; r=[json.loads(l) for l in open('$T/zero/metrics.jsonl')]; sys.exit(0 if all(x['zero_variance_groups']==x['groups']==4 and x['grad_norm']==0 for x in r) else 1)\""

# 3. a rank that sends garbage: 10,000+ malformed or invalid messages (random bytes,
#    flipped bytes, truncated, wrong iteration) from actor rank 3 to the learners, in
#    front of its real trajectories. All rejected and counted; training is unchanged:
#    the metrics (rejections aside) and weights equal the clean 4-rank run's.
AF_FAULT_GARBAGE=3:4000 run garbage 4 1
strip "$T/garbage/metrics.jsonl" | $PY -c "
import json, sys
for l in sys.stdin:
    d = json.loads(l); d.pop('rejected_messages'); d.pop('rollout/rejected_messages', None); print(json.dumps(d, sort_keys=True))" > "$T/garbage.m"
strip "$T/np4/metrics.jsonl" | $PY -c "
import json, sys
for l in sys.stdin:
    d = json.loads(l); d.pop('rejected_messages'); d.pop('rollout/rejected_messages', None); print(json.dumps(d, sort_keys=True))" > "$T/np4.m2"
check "garbage: >= 10000 messages rejected and counted" \
    "[ \$($PY -c \"import json; print(int(sum(json.loads(l)['rejected_messages'] for l in open('$T/garbage/metrics.jsonl'))))\") -ge 10000 ]"
check "garbage: training unchanged (metrics, weights)" \
    "cmp -s '$T/garbage.m' '$T/np4.m2' && cmp -s '$T/garbage/model/model.safetensors' '$T/np4/model/model.safetensors'"

# 4. every rollout fails (infrastructure): masked everywhere, counted, the run finishes
AF_FAULT_FAIL_ROLLOUTS=1 run allfail 3 1
check "all rollouts failed: counted, no update, finished" "$PY -c \"
import json, sys
r = [json.loads(l) for l in open('$T/allfail/metrics.jsonl')]
ok = len(r) == 3 and all(x['failed_rollouts'] == 32 and x['grad_norm'] == 0 and x['reward_mean'] == 0 for x in r)
sys.exit(0 if ok else 1)\""
check "all rollouts failed: weights unchanged" "cmp -s '$T/allfail/model/model.safetensors' '$T/warm/model/model.safetensors'"

# 4b. the ablation switches reach the update: same start and seed, so the first
# iteration's rollouts are identical, but the updates (and so the weights) differ
run nonorm 1 1 --set algo.group_norm=false
run finalturn 1 1 --set algo.reward_turns=final
for r in nonorm finalturn; do
    check "$r: 3 metrics lines" "[ \$(wc -l < '$T/$r/metrics.jsonl') -eq 3 ]"
    check "$r: first iteration's rollouts as the default run's" \
        "[ \"\$(head -1 '$T/$r/metrics.jsonl' | $PY -c 'import json,sys; print(json.load(sys.stdin)[\"reward_mean\"])')\" = \"\$(head -1 '$T/single/metrics.jsonl' | $PY -c 'import json,sys; print(json.load(sys.stdin)[\"reward_mean\"])')\" ]"
    check "$r: weights differ from the default run's" "! cmp -s '$T/single/model/model.safetensors' '$T/$r/model/model.safetensors'"
done
# 4c. supervised warm start on the suite's oracle (model.warmstart_planner=oracle)
"$AF" train --run-dir "$T/sft" "${COMMON[@]}" --set run.iterations=0 --set model.warmstart_steps=60 \
    --set model.warmstart_batch=8 --set model.warmstart_planner=oracle --set log.progress=rank0 > "$T/sft.log" 2>&1
check "oracle warm start writes a model" "[ -f '$T/sft/warmstart/model.safetensors' ]"
check "oracle warm start: action NLL falls" "$PY - '$T/sft.log' <<'EOF'
import re, sys
v = [float(x) for x in re.findall(r'action NLL ([0-9.]+)', open(sys.argv[1]).read())]
sys.exit(0 if len(v) >= 2 and v[-1] < 0.5 * v[0] else 1)
EOF"

# 4c'. the same with exploring demonstrations: explored turns are dropped, the rest cloned
"$AF" train --run-dir "$T/sftx" "${COMMON[@]}" --set run.iterations=0 --set model.warmstart_steps=60 \
    --set model.warmstart_batch=8 --set model.warmstart_planner=oracle --set model.warmstart_explore=0.5 \
    --set log.progress=rank0 > "$T/sftx.log" 2>&1
check "exploring warm start: action NLL falls" "$PY - '$T/sftx.log' <<'EOF'
import re, sys
v = [float(x) for x in re.findall(r'action NLL ([0-9.]+)', open(sys.argv[1]).read())]
sys.exit(0 if len(v) >= 2 and v[-1] < 0.5 * v[0] else 1)
EOF"
check "exploring warm start: other demonstrations, other weights" \
    "! cmp -s '$T/sft/warmstart/model.safetensors' '$T/sftx/warmstart/model.safetensors'"

# 4e. the monolithic policy (algo.policy=monolithic, ablation): the oracle warm start on
# transcripts lowers the action NLL; Flow-GRPO over MPI (1 learner, 2 actors) trains on
# one whole-transcript sample per trajectory whose action-token positions match what the
# actors sampled (logprob_mismatch ~0 in sync mode, nothing skipped), and it updates.
MONO=("${COMMON[@]}" --set algo.policy=monolithic --set model.warmstart_planner=oracle --set model.warmstart_batch=8)
"$AF" train --run-dir "$T/mono-warm" "${MONO[@]}" --set run.iterations=0 --set model.warmstart_steps=60 \
    --set log.progress=rank0 > "$T/mono-warm.log" 2>&1
check "monolithic: oracle warm start, action NLL falls" "$PY - '$T/mono-warm.log' <<'EOF'
import re, sys
v = [float(x) for x in re.findall(r'action NLL ([0-9.]+)', open(sys.argv[1]).read())]
sys.exit(0 if len(v) >= 2 and v[-1] < 0.5 * v[0] else 1)
EOF"
mpirun -np 3 "$AF" train --run-dir "$T/mono" "${MONO[@]}" --init-from "$T/warm/model" --set run.iterations=3 \
    --set model.warmstart_steps=0 --set run.eval_every=3 > "$T/mono.log" 2>&1
check "monolithic: 3 iterations, updates on full transcripts, positions match the actors'" "$PY - '$T/mono/metrics.jsonl' <<'EOF'
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
ok = len(r) == 3 and all(x['skipped_samples'] == 0 and x['logprob_mismatch_max'] < 1e-3 for x in r)
ok = ok and any(x['groups'] > x['zero_variance_groups'] and x['grad_norm'] > 0 for x in r)
sys.exit(0 if ok else 1)
EOF"
check "monolithic: the weights change" "! cmp -s '$T/warm/model/model.safetensors' '$T/mono/model/model.safetensors'"
check "memory policy: nothing skipped" "$PY -c \"
import json, sys
sys.exit(0 if all(json.loads(l)['skipped_samples'] == 0 for l in open('$T/np4/metrics.jsonl')) else 1)\""

# 4f. the warm start is data-parallel over the learners (episode i on learner i mod L, one
# gradient allreduce): the same demonstrations in the same order as the one-learner run
# above, so the action NLL follows it up to float summation order
mpirun -np 3 "$AF" train --run-dir "$T/sft-l2" "${COMMON[@]}" --set topology.learners=2 --set run.iterations=0 \
    --set model.warmstart_steps=60 --set model.warmstart_batch=8 --set model.warmstart_planner=oracle \
    --set log.progress=rank0 > "$T/sft-l2.log" 2>&1
check "2 learners share the warm start: the NLL curve of 1 learner (within 2%)" "$PY - '$T/sft.log' '$T/sft-l2.log' <<'EOF'
import re, sys
a, b = ([float(x) for x in re.findall(r'action NLL ([0-9.]+)', open(f).read())] for f in sys.argv[1:3])
sys.exit(0 if len(a) >= 2 and len(a) == len(b) and all(abs(x - y) <= 0.02 * x for x, y in zip(a, b)) else 1)
EOF"

# 4g. attempts and retries (game24 suite.attempts/suite.retries): an oracle warm start with
# played-out tries, then Flow-GRPO over MPI; episodes run past one try, nothing fails,
# and the learner's log-probs match the actors' (prompts show the current try only)
TRIES=("${COMMON[@]}" --set suite.attempts=2 --set suite.retries=1 --set rollout.max_turns=10
       --set model.warmstart_planner=oracle --set model.warmstart_batch=8)
mpirun -np 2 "$AF" train --run-dir "$T/tries" "${TRIES[@]}" --set model.warmstart_steps=40 --set run.iterations=3 \
    --set run.eval_every=3 --set log.progress=rank0 > "$T/tries.log" 2>&1
check "attempts and retries: warm start and 3 iterations, episodes go past one try, nothing fails" "$PY - '$T/tries/metrics.jsonl' <<'EOF'
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
ok = len(r) == 3 and all(x['failed_rollouts'] == 0 and x['logprob_mismatch_max'] < 1e-3 for x in r)
ok = ok and max(x['turns_mean'] for x in r) > 3
sys.exit(0 if ok else 1)
EOF"

# 4h. the state view and last-try credit (launch/configs/game24-attempts.json's settings):
# warm start, Flow-GRPO over MPI with log-probs matching the actors', then an eval whose
# report says how many tries each question began (test_episode checks the tries exactly)
VIEW=("${COMMON[@]}" --set suite.attempts=3 --set suite.view=state --set algo.reward_turns=last_try
      --set rollout.max_turns=9 --set model.warmstart_planner=oracle --set model.warmstart_batch=8)
mpirun -np 2 "$AF" train --run-dir "$T/view" "${VIEW[@]}" --set model.warmstart_steps=40 --set run.iterations=3 \
    --set run.eval_every=3 --set log.progress=rank0 > "$T/view.log" 2>&1
mpirun -np 2 "$AF" eval --run-dir "$T/view" --greedy > "$T/view-eval.json" 2> "$T/view-eval.log"
check "state view and last-try credit: 3 iterations, nothing fails, eval reports the tries" "$PY - '$T/view' <<'EOF'
import json, sys
d = sys.argv[1]
r = [json.loads(l) for l in open(d + '/metrics.jsonl')]
ok = len(r) == 3 and all(x['failed_rollouts'] == 0 and x['logprob_mismatch_max'] < 1e-3 for x in r)
ev = json.load(open(d + '-eval.json'))['results']
ok = ok and len(ev) == 6 and all(1 <= q['tries'] <= 3 for q in ev)
sys.exit(0 if ok else 1)
EOF"

# 4d. model.init_std reaches the initialisation: 0.02 is the default, another value differs
for sd in default 0.02 0.05; do
    extra=(); [ "$sd" = default ] || extra=(--set model.init_std=$sd)
    "$AF" train --run-dir "$T/init-$sd" "${COMMON[@]}" --set run.iterations=0 "${extra[@]}" > "$T/init-$sd.log" 2>&1
done
check "model.init_std=0.02 is the default" "cmp -s '$T/init-default/model/model.safetensors' '$T/init-0.02/model/model.safetensors'"
check "model.init_std=0.05 changes the initial weights" "! cmp -s '$T/init-default/model/model.safetensors' '$T/init-0.05/model/model.safetensors'"

# 5. a topology without actors is refused with exit 2 and a message naming the key
set +e
mpirun -np 2 "$AF" train --run-dir "$T/bad" "${COMMON[@]}" --set topology.learners=2 > "$T/bad.log" 2>&1
rc=$?
set -e
check "learners == ranks refused with exit 2" "[ $rc -eq 2 ] && grep -q topology.learners '$T/bad.log'"

if [ $fail -ne 0 ]; then
    for f in "$T"/*.log; do echo "== $f"; tail -5 "$f"; done
fi
finish
