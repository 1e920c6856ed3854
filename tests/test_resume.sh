#!/usr/bin/env bash
# Checkpointed runs end to end (issue 6), synchronous mode, tiny model:
#  - resume equality: N iterations in one go == N/2, stop, --resume to N (metrics lines
#    without timing fields, and the final weights, bit for bit) at 1 rank and at 3 ranks
#    with 2 learners;
#  - SIGTERM (SLURM's preemption warning) to every rank at a random moment, and to learner
#    0 during the rollouts and during the learner step: checkpoint written, exit 75,
#    resume equal; the same for run.time_limit_s;
#  - kill -9 of an actor and of a learner at random moments, then --resume: final
#    weights equal the uninterrupted run's;
#  - a corrupted tensor and a truncated data file: `ckpt verify` and --resume name them;
#    --resume=latest-valid falls back, says so, and ends equal;
#  - a config that changes the model shape or the suite is refused, naming the key;
#  - an LMDB map too small: clear error, previous checkpoint intact, resume equal;
#  - `ckpt list`, `ckpt export` == the run's model, `train --init-from` of an export;
#  - run.store_trajectories (one shard per learner) and `rollout --show I:Q:S`.
# Two settings: a multihop one where rewards are all zero but the update is kept
# non-trivial (no zero-variance dropping, weight decay and a KL term move the weights,
# moments and KL every step, so parameters, both moments, the Adam step count and the
# reference planner all matter), and test_train.sh's game24 set with varying rewards.
# usage: test_resume.sh AGENTFLOW_BINARY
. "$(dirname "$0")/lib.sh"
set -euo pipefail
RANDOM=${AF_TEST_SEED:-4242}

N=6
COMMON=(--set suite.name=multihop --set suite.max_train=48 --set suite.max_test=24
        --set model.d_model=32 --set model.n_layers=1 --set model.n_heads=2 --set model.n_kv_heads=1
        --set model.d_ff=64 --set model.max_seq=256 --set rollout.max_turns=4 --set rollout.max_action_tokens=20
        --set rollout.batch_queries=4 --set rollout.group_size=4 --set algo.lr=3e-3 --set algo.drop_zero_variance=false
        --set algo.weight_decay=0.1 --set algo.kl_coef=0.5 --set log.level=info --set log.progress=none
        --set run.seed=7 --set run.checkpoint_every=2)
L2=(--set topology.learners=2)

train1() { local d=$1; shift; "$AF" train --run-dir "$T/$d" "$@" >> "$T/$d.log" 2>&1; }
train3() { local d=$1; shift; mpirun -np 3 "$AF" train --run-dir "$T/$d" "$@" >> "$T/$d.log" 2>&1; }
latest_step() { "$AF" ckpt list --run-dir "$T/$1" | sed -n 's/^step \([0-9]*\) (latest).*/\1/p'; }
lines() { if [ -f "$1" ]; then wc -l < "$1"; else echo 0; fi; }
wait_lines() { # file n pid: until the file exists with n lines, or the process ended
    while { [ ! -f "$1" ] || [ "$(lines "$1")" -lt "$2" ]; } && kill -0 "$3" 2>/dev/null; do sleep 0.02; done
}

# ---------------------------------------------------------------- uninterrupted references
train1 ref1 "${COMMON[@]}" --set run.iterations=$N
train3 ref3 "${COMMON[@]}" "${L2[@]}" --set run.iterations=$N --set run.store_trajectories=true
check "reference runs write $N metrics lines" "[ \$(wc -l < '$T/ref1/metrics.jsonl') -eq $N ] && [ \$(wc -l < '$T/ref3/metrics.jsonl') -eq $N ]"
check "the updates move the state (grad_norm > 0, kl > 0)" \
    "$PY -c \"import json,sys; r=[json.loads(l) for l in open('$T/ref1/metrics.jsonl')]; sys.exit(0 if any(x['grad_norm']>0 for x in r) and any(x['kl']>0 for x in r) else 1)\""
"$AF" ckpt list --run-dir "$T/ref1" > "$T/list.txt"
check "ckpt list: steps 2, 4, 6 (latest), with their metrics" \
    "grep -q '^step 2 ' '$T/list.txt' && grep -q '^step 6 (latest)' '$T/list.txt' && grep -q '\"iteration\":5' '$T/list.txt'"
check "ckpt verify: all good" "'$AF' ckpt verify --run-dir '$T/ref1' > '$T/verify_ok.txt'"
"$AF" ckpt export --run-dir "$T/ref1" --out "$T/export6" > /dev/null
# same tensors, bit for bit (an export's header also holds "__metadata__": {"format": "pt"})
same_tensors() {
    $PY - "$1" "$2" <<'PYEOF'
import json, struct, sys
def tensors(p):
    b = open(p, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    h.pop("__metadata__", None)
    return {k: (v["dtype"], v["shape"], b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]]) for k, v in h.items()}
sys.exit(0 if tensors(sys.argv[1]) == tensors(sys.argv[2]) else 1)
PYEOF
}
check "ckpt export of the latest == the run's model" "same_tensors '$T/export6/model.safetensors' '$T/ref1/model/model.safetensors'"
train1 init "${COMMON[@]}" --set run.iterations=0 --init-from "$T/export6"
check "train --init-from an export starts from exactly its weights" "same_tensors '$T/export6/model.safetensors' '$T/init/model/model.safetensors'"

# trajectory store: every query of an iteration is found across the learners' shards
set +e
"$AF" rollout --run-dir "$T/ref3" --show 1:999999:0 > "$T/show_miss.txt" 2>&1; rc_miss=$?
set -e
qs=$(sed -n 's/.*iteration 1 has queries: \([0-9 ]*\).*/\1/p' "$T/show_miss.txt")
check "rollout --show of a missing trajectory: exit 1, lists the 4 queries of iteration 1" \
    "[ $rc_miss -eq 1 ] && [ \$(echo $qs | wc -w) -eq 4 ] && [ -d '$T/ref3/traj.1.lmdb' ]"
q=$(echo $qs | cut -d' ' -f1)
"$AF" rollout --run-dir "$T/ref3" --show "1:${q:-0}:3" > "$T/show.txt" 2>&1 || true
check "rollout --show prints the stored trajectory" \
    "grep -q '^trajectory 1:${q:-x}:3  policy_version 1' '$T/show.txt' && grep -q '^turn 1' '$T/show.txt' && grep -q '^reward: ' '$T/show.txt'"

# ---------------------------------------------------------------- stop at N/2, resume to N
train1 half1 "${COMMON[@]}" --set run.iterations=$((N / 2))
cp -a "$T/half1" "$T/corrupt"
cp -a "$T/half1" "$T/trunc"
cp "$T/half1/config.json" "$T/half1.config"
# a changed model shape or suite is refused, naming the key; the run directory is untouched
set +e
train1 half1 --resume --set model.d_model=64; rc_shape=$?
train1 half1 --resume --set suite.name=arith; rc_suite=$?
set -e
check "resume with another model.d_model refused" "[ $rc_shape -ne 0 ] && grep -q 'resume: model.d_model is 64, the checkpoint of step 3 was written with 32' '$T/half1.log'"
check "resume with another suite refused" "[ $rc_suite -ne 0 ] && grep -q 'resume: suite.name is \"arith\"' '$T/half1.log'"
check "refused resumes leave config.json alone" "cmp -s '$T/half1.config' '$T/half1/config.json'"
train1 half1 --resume --set run.iterations=$N
check "1 rank: resume says where it starts" "grep -q 'resuming from checkpoint step 3' '$T/half1.log'"
same_run "1 rank, stop at $((N / 2)) + resume" ref1 half1

# run.time_limit_s ends a run with a checkpoint; --resume (without the limit) continues it
train1 tlim "${COMMON[@]}" --set run.iterations=$N --set run.time_limit_s=0.2
s=$(latest_step tlim)
if [ "${s:-0}" -lt $N ]; then
    check "time limit: stopped with a checkpoint" "grep -q 'time_limit_s (0.2 s) reached: checkpoint written' '$T/tlim.log'"
    train1 tlim --resume --set run.time_limit_s=0
else
    echo "     (tlim: all $N iterations fit in 0.2 s; resume not exercised)"
fi
same_run "time limit + resume" ref1 tlim

# run.cpu_limit_s: the job's CPU seconds (metrics time/cpu_s: every rank, resumes
# included) end a run with a checkpoint. A limit below one iteration's CPU stops after
# the first; --resume without it runs to the end with the same bits as ref1, and its
# time/cpu_s carries the first segment's: at 1 rank, the resumed segment's lines are
# at least the first segment's figure plus half the second process's CPU (measured from
# outside, by getrusage of the children); at 3 ranks (1 learner, 2 actors) the last line
# holds at least 60% of the CPU the two mpirun jobs used (the learner's own share is
# about 40%: the actors' CPU is counted), and never more than they used.
cpu_limit_run() { # dir, then the launcher words (none, or mpirun -np 3)
    $PY - "$AF" "$T/$1" "${@:2}" -- "${COMMON[@]}" <<'PYEOF'
import json, resource, subprocess, sys
af, d = sys.argv[1], sys.argv[2]
sep = sys.argv.index("--")
pre, common = sys.argv[3:sep], sys.argv[sep + 1:]
def cpu_of(args):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(d + ".log", "a") as log:
        subprocess.run(pre + [af, "train", "--run-dir", d] + args, stdout=log, stderr=log, check=False)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime
def lines():
    return [json.loads(l) for l in open(d + "/metrics.jsonl")]
c1 = cpu_of(common + ["--set", "run.iterations=6", "--set", "run.cpu_limit_s=0.001"])
m1 = lines()
if len(m1) != 1 or "run.cpu_limit_s (0.001 CPU s) reached" not in open(d + ".log").read():
    sys.exit(f"the limit did not stop the run after iteration 0: {len(m1)} lines")
first = m1[0]["time/cpu_s"]
c2 = cpu_of(["--resume", "--set", "run.cpu_limit_s=0"])
m = lines()
cpu = [x["time/cpu_s"] for x in m]
if len(m) != 6 or any(b < a for a, b in zip(cpu, cpu[1:])):
    sys.exit(f"resumed: {len(m)} lines, time/cpu_s {cpu} (not non-decreasing)")
if not 0 < first <= c1 + 0.02 or cpu[-1] > c1 + c2 + 0.02:
    sys.exit(f"time/cpu_s above the processes' CPU: {first:.3f} of {c1:.3f}, {cpu[-1]:.3f} of {c1 + c2:.3f}")
if not pre and cpu[-1] - first < 0.5 * c2:
    sys.exit(f"1 rank: the resumed segment does not carry the first one's CPU: {cpu}, segments {c1:.3f} + {c2:.3f}")
if pre and cpu[-1] < 0.6 * (c1 + c2):
    sys.exit(f"3 ranks: {cpu[-1]:.3f} CPU s of the {c1 + c2:.3f} the jobs used: the actors' are not counted")
PYEOF
}
check "run.cpu_limit_s at 1 rank: stops, resumes, time/cpu_s carried" "cpu_limit_run clim1"
same_run "cpu limit + resume" ref1 clim1
check "run.cpu_limit_s at 3 ranks: the actors' CPU counted" "cpu_limit_run clim3 mpirun -np 3"
# (3 ranks / 2 learners stop + resume: with real rewards below, and after SIGTERM and kill -9)

# ---------------------------------------------------------------- with real rewards
# test_train.sh's game24 set that a format-trained planner solves by chance (rewards
# vary within groups: genuine policy-gradient updates), default algorithm settings
for q in "12 12 12 12" "2 2 2 12" "3 8 8 8" "3 3 3 8" "4 6 6 6" "2 12 12 12"; do
    echo "{\"question\": \"$q\"}"
done > "$T/easy.jsonl"
GAME=(--set suite.name=game24 --set data.train="$T/easy.jsonl" --set data.test="$T/easy.jsonl"
      --set model.d_model=32 --set model.n_layers=1 --set model.n_heads=2 --set model.n_kv_heads=1
      --set model.d_ff=64 --set model.max_seq=256 --set rollout.max_turns=2 --set rollout.max_action_tokens=24
      --set rollout.batch_queries=4 --set rollout.group_size=8 --set algo.lr=3e-3 --set log.level=info
      --set log.progress=none --set run.seed=7 --set run.checkpoint_every=2)
train1 gwarm "${GAME[@]}" --set run.iterations=0 --set model.warmstart_steps=600 --set model.warmstart_batch=16 \
    --set model.warmstart_lr=1e-2
train1 gref1 "${GAME[@]}" --init-from "$T/gwarm/model" --set run.iterations=$N
train3 gref3 "${GAME[@]}" "${L2[@]}" --init-from "$T/gwarm/model" --set run.iterations=$N
check "game24: rewards vary and gradients flow" \
    "$PY -c \"import json,sys; r=[json.loads(l) for l in open('$T/gref1/metrics.jsonl')]; sys.exit(0 if any(x['groups']>x['zero_variance_groups'] for x in r) and any(x['grad_norm']>0 for x in r) else 1)\""
train1 ghalf1 "${GAME[@]}" --init-from "$T/gwarm/model" --set run.iterations=$((N / 2))
train1 ghalf1 --resume --set run.iterations=$N
same_run "game24, 1 rank, stop at $((N / 2)) + resume" gref1 ghalf1
train3 ghalf3 "${GAME[@]}" "${L2[@]}" --init-from "$T/gwarm/model" --set run.iterations=$((N / 2))
train3 ghalf3 --resume --set run.iterations=$N
same_run "game24, 3 ranks / 2 learners, stop at $((N / 2)) + resume" gref3 ghalf3

# ---------------------------------------------------------------- SIGTERM to every rank
sigterm_trial() { # name np: SIGTERM once metrics.jsonl exists (during rollouts or the learner step)
    local d=$1 np=$2 ref=$3; shift 3
    mpirun -np "$np" "$AF" train --run-dir "$T/$d" "${COMMON[@]}" "$@" --set run.iterations=$N \
        --set run.checkpoint_every=0 > "$T/$d.log" 2>&1 &
    local mp=$!
    bg_track "$mp"
    wait_lines "$T/$d/metrics.jsonl" $((1 + RANDOM % 2)) "$mp" # every rank has its handlers by then
    sleep "0.0$((RANDOM % 10))"
    local kids
    kids=$(pgrep -P "$mp" || true)
    [ -n "$kids" ] && kill -TERM $kids 2>/dev/null || true
    local rc=0
    wait "$mp" || rc=$?
    local s
    s=$(latest_step "$d")
    echo "     ($d: SIGTERM, exit $rc, checkpoint step ${s:-none})"
    if [ "${s:-0}" -lt $N ]; then
        check "$d: exit 75 (preempted, resume me) after SIGTERM" "[ $rc -eq 75 ]"
        check "$d: stopped by the signal with a checkpoint" "grep -q 'signal received: checkpoint written' '$T/$d.log'"
        check "$d: checkpoint step == metrics lines" "[ '$s' -eq \$(wc -l < '$T/$d/metrics.jsonl') ]"
        mpirun -np "$np" "$AF" train --run-dir "$T/$d" --resume >> "$T/$d.log" 2>&1
    else
        check "$d: exit 0 (the run finished before the signal landed)" "[ $rc -eq 0 ]"
        echo "     ($d: the run finished before the signal landed; resume not exercised)"
    fi
    same_run "$d: SIGTERM + resume" "$ref" "$d"
}
sigterm_trial term1 1 ref1
sigterm_trial term3 3 ref3 "${L2[@]}"

# SIGTERM at a known point: during the rollouts, and during the learner step (learner 0
# raises it itself, AF_FAULT_SIGNAL): checkpoint after that iteration, exit 75, resume equal
sigterm_at() { # name phase iteration
    local d=$1 phase=$2 at=$3 rc=0
    AF_FAULT_SIGNAL="$phase:$at" mpirun -np 3 "$AF" train --run-dir "$T/$d" "${COMMON[@]}" "${L2[@]}" \
        --set run.iterations=$N --set run.checkpoint_every=0 > "$T/$d.log" 2>&1 || rc=$?
    check "$d: SIGTERM during the $phase phase of iteration $at: exit 75" "[ $rc -eq 75 ]"
    check "$d: checkpoint written after iteration $at" \
        "[ \"\$(latest_step $d)\" = $((at + 1)) ] && grep -q 'signal received: checkpoint written' '$T/$d.log'"
    mpirun -np 3 "$AF" train --run-dir "$T/$d" --resume >> "$T/$d.log" 2>&1
    same_run "$d: SIGTERM in the $phase phase + resume" ref3 "$d"
}
sigterm_at termroll rollout 1
sigterm_at termlearn learn 2

# ---------------------------------------------------------------- kill -9 of one rank
kill_trial() { # name rank-to-kill
    local d=$1 victim=$2
    mpirun -np 3 "$AF" train --run-dir "$T/$d" "${COMMON[@]}" "${L2[@]}" --set run.iterations=$N \
        --set run.checkpoint_every=1 > "$T/$d.log" 2>&1 &
    local mp=$!
    bg_track "$mp"
    wait_lines "$T/$d/metrics.jsonl" $((1 + RANDOM % 4)) "$mp"
    sleep "0.0$((RANDOM % 10))"
    local p target=""
    for p in $(pgrep -P "$mp" || true); do
        if tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$victim"; then target=$p; fi
    done
    [ -n "$target" ] && kill -9 "$target" 2>/dev/null || true
    wait "$mp" || true
    local s
    s=$(latest_step "$d" 2>/dev/null || true)
    echo "     ($d: kill -9 of rank $victim, checkpoint step ${s:-none})"
    if [ -n "$s" ]; then
        check "$d: the checkpoint left by the kill verifies" "'$AF' ckpt verify --run-dir '$T/$d' > /dev/null"
        mpirun -np 3 "$AF" train --run-dir "$T/$d" --resume >> "$T/$d.log" 2>&1
    else
        mpirun -np 3 "$AF" train --run-dir "$T/$d" "${COMMON[@]}" "${L2[@]}" --set run.iterations=$N --overwrite >> "$T/$d.log" 2>&1
    fi
    same_run "$d: kill -9 of rank $victim + resume" ref3 "$d"
}
kill_trial kill_actor 2
kill_trial kill_learner $((RANDOM % 2))

# ---------------------------------------------------------------- corrupted checkpoints
# flip one byte of checkpoint 3's model.layers.0.mlp.down_proj.weight inside data.mdb
"$AF" ckpt export --run-dir "$T/corrupt" --step 3 --out "$T/export3" > /dev/null
$PY - "$T/export3/model.safetensors" "$T/corrupt/ckpt.lmdb/data.mdb" > "$T/flip.txt" <<'EOF'
import json, struct, sys
st = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", st[:8])[0]
hdr = json.loads(st[8:8 + n])
a, b = hdr["model.layers.0.mlp.down_proj.weight"]["data_offsets"]
pat = st[8 + n + a:8 + n + a + 64]
data = bytearray(open(sys.argv[2], "rb").read())
hits = []
i = data.find(pat)
while i >= 0:
    hits.append(i)
    i = data.find(pat, i + 1)
for h in hits:
    data[h + 13] ^= 0x40
open(sys.argv[2], "r+b").write(data)
print(len(hits))
EOF
check "corruption: the tensor's bytes found once in data.mdb" "[ \$(cat '$T/flip.txt') -eq 1 ]"
set +e
"$AF" ckpt verify --run-dir "$T/corrupt" > "$T/verify_bad.txt" 2>&1; rc_verify=$?
train1 corrupt --resume --set run.iterations=$N; rc_resume=$?
set -e
check "ckpt verify fails naming step and tensor" \
    "[ $rc_verify -eq 1 ] && grep -q 'step 3: FAILED: .*checkpoint step 3: tensor model.layers.0.mlp.down_proj.weight (param): checksum mismatch' '$T/verify_bad.txt' && grep -q '^step 2: ok' '$T/verify_bad.txt'"
check "--resume refuses the corrupted latest, naming step and tensor" \
    "[ $rc_resume -ne 0 ] && grep -q 'checkpoint step 3: tensor model.layers.0.mlp.down_proj.weight (param): checksum mismatch' '$T/corrupt.log'"
train1 corrupt --resume=latest-valid --set run.iterations=$N
check "--resume=latest-valid falls back to step 2 and says so" \
    "grep -q 'latest-valid: falling back to checkpoint step 2' '$T/corrupt.log' && grep -q 'step 3: .*checksum mismatch' '$T/corrupt.log'"
same_run "corrupted latest + --resume=latest-valid" ref1 corrupt

# a truncated data file
truncate -s 65536 "$T/trunc/ckpt.lmdb/data.mdb"
set +e
"$AF" ckpt verify --run-dir "$T/trunc" > "$T/verify_trunc.txt" 2>&1; rc_verify=$?
train1 trunc --resume --set run.iterations=$N; rc_resume=$?
set -e
check "truncated data.mdb: verify and resume fail with a clear message" \
    "[ $rc_verify -ne 0 ] && [ $rc_resume -ne 0 ] && grep -q 'data.mdb is truncated' '$T/verify_trunc.txt' && grep -q 'data.mdb is truncated' '$T/trunc.log'"

# ---------------------------------------------------------------- map too small
# 0 MiB would be automatic; 1 MiB holds the first checkpoints of this tiny model only
set +e
train1 small "${COMMON[@]}" --set run.iterations=$N --set run.checkpoint_every=1 --set run.checkpoint_map_mb=1
rc_small=$?
set -e
s=$(latest_step small)
echo "     (small map: exit $rc_small, latest checkpoint ${s:-none})"
check "map too small: the run stops with an error naming the map" \
    "[ $rc_small -eq 1 ] && grep -q 'is full writing checkpoint step' '$T/small.log' && grep -q 'the previous checkpoint is intact' '$T/small.log'"
check "map too small: the previous checkpoint verifies" "[ -n '$s' ] && [ '$s' -lt $N ] && '$AF' ckpt verify --run-dir '$T/small' > /dev/null"
train1 small --resume --set run.checkpoint_map_mb=0
same_run "map too small + resume with an automatic map" ref1 small

if [ $fail -ne 0 ]; then
    for f in "$T"/*.log; do echo "== $f"; tail -8 "$f"; done
fi
finish
