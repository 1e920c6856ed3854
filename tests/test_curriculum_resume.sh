#!/usr/bin/env bash
# algo.curriculum = mastery end to end, on test_train.sh's game24 set that a format-trained
# tiny planner solves by chance (all six puzzles are level 2, four numbers; with a low
# threshold, 0.01, which one success among an iteration's 32 episodes passes with the
# moving average at weight 0.5 (chance gives 2-3), the level is mastered within a few
# iterations and the focus moves off it, and back when the moving average falls again):
#  - the focus level reaches metrics.jsonl and moves; the pass rates reach the checkpoints;
#  - with algo.entropy_target the entropy weight (train/entropy_coef) moves every iteration
#    and is checkpointed too;
#  - resume equality: N iterations in one go == N/2, stop, --resume to N (metrics lines
#    without timing fields, and the final weights, bit for bit), at 1 rank and at 3 ranks
#    with 2 learners (the rates are summed over the learners and broadcast on resume);
#  - without the curriculum the level is -1; the asynchronous mode is refused.
# usage: test_curriculum_resume.sh AGENTFLOW_BINARY
. "$(dirname "$0")/lib.sh"
set -euo pipefail

N=6
easy_game24 "$T/easy.jsonl"
COMMON=(--set suite.name=game24 --set data.train="$T/easy.jsonl" --set data.test="$T/easy.jsonl"
        --set model.d_model=32 --set model.n_layers=1 --set model.n_heads=2 --set model.n_kv_heads=1
        --set model.d_ff=64 --set model.max_seq=256 --set rollout.max_turns=2 --set rollout.max_action_tokens=24
        --set rollout.batch_queries=4 --set rollout.group_size=8 --set algo.lr=3e-3 --set log.level=info
        --set log.progress=none --set run.seed=7 --set run.checkpoint_every=2)
CUR=(--set algo.curriculum=mastery --set algo.curriculum_ema=0.5 --set algo.curriculum_threshold=0.01
     --set algo.curriculum_replay=0.25 --set algo.entropy_coef=0.01 --set algo.entropy_target=2.0
     --set algo.entropy_coef_lr=0.05)
L2=(--set topology.learners=2)

train1() { local d=$1; shift; "$AF" train --run-dir "$T/$d" "$@" >> "$T/$d.log" 2>&1; }
train3() { local d=$1; shift; mpirun -np 3 "$AF" train --run-dir "$T/$d" "$@" >> "$T/$d.log" 2>&1; }

train1 warm "${COMMON[@]}" --set run.iterations=0 --set model.warmstart_steps=600 --set model.warmstart_batch=16 \
    --set model.warmstart_lr=1e-2 --set model.warmstart_planner=random
COMMON+=(--init-from "$T/warm/model")
train1 ref1 "${COMMON[@]}" "${CUR[@]}" --set run.iterations=$N
train1 plain "${COMMON[@]}" --set algo.entropy_coef=0.01 --set run.iterations=$N
check "curriculum_level: 2 (four numbers) at the first iteration, mastered (-1) at a later one" \
    "$PY -c \"import json,sys; r=[json.loads(l)['train/curriculum_level'] for l in open('$T/ref1/metrics.jsonl')]; print(r); sys.exit(0 if len(r)==$N and r[0]==2 and -1 in r else 1)\""
check "the entropy weight adapts (it moves from algo.entropy_coef; an iteration whose groups are all dropped leaves it)" \
    "$PY -c \"import json,sys; r=[json.loads(l)['train/entropy_coef'] for l in open('$T/ref1/metrics.jsonl')]; print(r); sys.exit(0 if r[0]==0.01 and len(set(r))>=3 else 1)\""
check "without the curriculum: level -1 throughout" \
    "$PY -c \"import json,sys; r=[json.loads(l) for l in open('$T/plain/metrics.jsonl')]; sys.exit(0 if all(x['train/curriculum_level']==-1 for x in r) else 1)\""
"$AF" ckpt list --run-dir "$T/ref1" > "$T/list.txt" 2>&1
train3 ref3 "${COMMON[@]}" "${CUR[@]}" "${L2[@]}" --set run.iterations=$N

train1 half1 "${COMMON[@]}" "${CUR[@]}" --set run.iterations=$((N / 2))
train1 half1 "${COMMON[@]}" "${CUR[@]}" --set run.iterations=$N --resume
same_run "1 rank, resumed at $((N / 2))" ref1 half1
train3 half3 "${COMMON[@]}" "${CUR[@]}" "${L2[@]}" --set run.iterations=$((N / 2))
train3 half3 "${COMMON[@]}" "${CUR[@]}" "${L2[@]}" --set run.iterations=$N --resume
same_run "3 ranks, 2 learners, resumed at $((N / 2))" ref3 half3

rc=0
mpirun -np 3 "$AF" train --run-dir "$T/async" "${COMMON[@]}" "${CUR[@]}" --set algo.max_staleness=1 \
    --set run.iterations=1 > "$T/async.log" 2>&1 || rc=$?
check "asynchronous mode refused, naming the reason (exit $rc)" \
    "[ $rc -ne 0 ] && grep -q 'algo.curriculum = mastery needs the synchronous mode' '$T/async.log'"
finish
