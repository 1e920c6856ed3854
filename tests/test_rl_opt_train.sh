#!/usr/bin/env bash
# The issue-18 optimizer keys in a training run (tiny game24 planner, one rank):
#  - algo.lr_warmup / algo.lr_schedule=cosine: train/lr of every iteration is the
#    schedule's value (learner/lr_schedule.h);
#  - algo.carry_moments: the run's weights differ from the same run without it (the first
#    RL step uses the warm start's moments), and without a warm start in the run the key
#    is refused (exit 2, naming it);
#  - resume: 4 iterations in one go == 2, stop, --resume to 4 with carried moments,
#    a warm-up and a KL term (metrics without timings, and the final weights).
# usage: test_rl_opt_train.sh AGENTFLOW_BINARY
. "$(dirname "$0")/lib.sh"
set -euo pipefail

tiny_rl
train() { tiny_rl_train "$@"; }
field() { # run key: the key of every metrics line, one per line
    $PY -c 'import json,sys
for l in open(sys.argv[1]): print(repr(json.loads(l)[sys.argv[2]]))' "$T/$1/metrics.jsonl" "$2"
}
strip() {
    $PY - "$1" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    print(json.dumps({k: v for k, v in d.items() if not (k.endswith("_s") or k.endswith("_per_s"))}, sort_keys=True))
EOF
}

# 1. schedules: warm-up 2 then cosine to 0.1 over 5 iterations; float32 as the optimizer holds it
train sched --set run.iterations=5 --set algo.lr_warmup=2 --set algo.lr_schedule=cosine --set algo.lr_min=0.1
want=$($PY -c 'import math, struct
f = lambda x: struct.unpack("f", struct.pack("f", x))[0]
lr, w, T = 3e-3, 2, 5
for it in range(5):
    v = lr * (it + 1) / w if it < w else lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1, (it - w) / (T - w)))))
    print(repr(f(v)))')
got=$(field sched train/lr | $PY -c 'import struct,sys
for l in sys.stdin: print(repr(struct.unpack("f", struct.pack("f", float(l)))[0]))')
check "train/lr follows warm-up and cosine" "[ \"\$want\" = \"\$got\" ]"
train const --set run.iterations=3
check "default: train/lr is algo.lr at every iteration" \
    "[ \"\$(field const train/lr | sort -u | $PY -c 'import struct,sys; print([struct.unpack(\"f\", struct.pack(\"f\", float(l)))[0] for l in sys.stdin] == [struct.unpack(\"f\", struct.pack(\"f\", 3e-3))[0]])')\" = True ]"

# 2. carried moments change the run; refused without a warm start in the run
train carry --set run.iterations=3 --set algo.carry_moments=true
check "carry_moments changes the weights" \
    "! cmp -s '$T/const/model/model.safetensors' '$T/carry/model/model.safetensors'"
check "the warm-started planners are the same" \
    "cmp -s '$T/const/warmstart/model.safetensors' '$T/carry/warmstart/model.safetensors'"
expect_rc 2 "algo.carry_moments" "$AF" train --run-dir "$T/refused" "${TINY_RL[@]}" --set run.iterations=1 \
    --set model.warmstart_steps=0 --set algo.carry_moments=true

# 3. resume equality with every key on
KEYS=(--set algo.carry_moments=true --set algo.lr_warmup=3)
train whole "${KEYS[@]}" --set run.iterations=4
train half "${KEYS[@]}" --set run.iterations=2
train half "${KEYS[@]}" --set run.iterations=4 --resume
strip "$T/whole/metrics.jsonl" > "$T/whole.m"
strip "$T/half/metrics.jsonl" > "$T/half.m"
check "resumed: 4 metrics lines" "[ \$(wc -l < '$T/half/metrics.jsonl') -eq 4 ]"
check "resumed: metrics equal the uninterrupted run's" "cmp -s '$T/whole.m' '$T/half.m'"
check "resumed: final weights equal" "cmp -s '$T/whole/model/model.safetensors' '$T/half/model/model.safetensors'"
finish
