#!/usr/bin/env bash
# algo.dynamic_sampling end to end, on lib.sh's tiny game24 planner (a format-trained
# planner that solves the six puzzles by chance, so most groups of 8 have no signal):
#  - refill rounds run and are reported (train/dynamic_sampling_rounds, at most the limit);
#    after them fewer groups lack signal than before, and the replaced episodes count in
#    rollout/trajectories (more than batch x group when a round ran);
#  - deterministic: the same run twice gives the same metrics and weights, at 1 rank
#    (local episodes), 3 ranks with 1 learner + 2 actors, and 3 ranks with 2 learners + 1
#    actor; and it resumes bit-exact (N/2, stop, --resume to N) in each topology;
#  - off (the default) reports no dynamic sampling keys; asynchronous mode is refused
#    with exit 2 naming the key.
# usage: test_dynsamp_train.sh AGENTFLOW_BINARY
. "$(dirname "$0")/lib.sh"
set -euo pipefail

N=4
tiny_game24
COMMON=("${TINY_GAME24[@]}" --set run.checkpoint_every=2)
DS=(--set algo.dynamic_sampling=2)

train() { local np=$1 d=$2; shift 2
    if [ "$np" = 1 ]; then "$AF" train --run-dir "$T/$d" "$@" >> "$T/$d.log" 2>&1
    else mpirun -np "$np" "$AF" train --run-dir "$T/$d" "$@" >> "$T/$d.log" 2>&1; fi; }

train 1 warm "${COMMON[@]}" --set run.iterations=0 --set model.warmstart_steps=600 --set model.warmstart_batch=16 \
    --set model.warmstart_lr=1e-2 --set model.warmstart_planner=random
COMMON+=(--init-from "$T/warm/model")

for topo in "1 l1" "3 a2" "3 l2"; do
    set -- $topo
    np=$1 tag=$2
    X=()
    [ "$tag" = l2 ] && X=(--set topology.learners=2)
    train "$np" "ref_$tag" "${COMMON[@]}" "${DS[@]}" "${X[@]}" --set run.iterations=$N
    check "$tag: refill rounds ran, within the limit, and left fewer groups without signal" \
        "$PY -c \"
import json, sys
r = [json.loads(l) for l in open('$T/ref_$tag/metrics.jsonl')]
rounds = [x['train/dynamic_sampling_rounds'] for x in r]
before = [x['train/dynamic_sampling_initial_zero_variance'] for x in r]
after = [x['train/zero_variance_groups'] for x in r]
traj = [x['rollout/trajectories'] for x in r]
print(rounds, before, after, traj)
ok = len(r) == $N and max(rounds) >= 1 and max(rounds) <= 2 and all(a <= b for a, b in zip(after, before))
ok = ok and sum(after) < sum(before) and all((t > 32) == (n > 0) for t, n in zip(traj, rounds))
sys.exit(0 if ok else 1)\""
    train "$np" "again_$tag" "${COMMON[@]}" "${DS[@]}" "${X[@]}" --set run.iterations=$N
    same_run "$tag: run twice" "ref_$tag" "again_$tag"
    train "$np" "half_$tag" "${COMMON[@]}" "${DS[@]}" "${X[@]}" --set run.iterations=$((N / 2))
    train "$np" "half_$tag" "${COMMON[@]}" "${DS[@]}" "${X[@]}" --set run.iterations=$N --resume
    same_run "$tag: resumed at $((N / 2))" "ref_$tag" "half_$tag"
done
check "the three topologies train on the same refilled batches (1 rank == 1 learner + 2 actors)" \
    "cmp -s '$T/ref_l1.m' '$T/ref_a2.m'"

train 1 off "${COMMON[@]}" --set run.iterations=2
check "off: no dynamic sampling keys in the metrics" \
    "! grep -q dynamic_sampling '$T/off/metrics.jsonl' && grep -q zero_variance_groups '$T/off/metrics.jsonl'"

expect_rc 2 "algo.dynamic_sampling" mpirun -np 3 "$AF" train --run-dir "$T/async" "${COMMON[@]}" "${DS[@]}" \
    --set algo.max_staleness=1 --set run.iterations=1
finish
