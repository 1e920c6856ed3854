#!/usr/bin/env bash
# Observability end to end. TensorBoard event files: a tiny training run and its resume write
# RUN_DIR/tb/events.out.tfevents.* that an independent reader (tests/tfevents_read.py:
# python3-protobuf and its own CRC32C) reads back with every CRC valid, the scalars equal
# to metrics.jsonl's family keys step by step, eval/accuracy equal to eval.jsonl, the
# config text equal to config.json and the sample episodes every log.samples_every
# iterations; the reader fails on a flipped byte and on a changed metric;
# log.tensorboard=false writes none. Plots: launch/plot_metrics.sh draws the overview, the
# family keys and eval.jsonl, and still plots a metrics.jsonl of flat keys only (earlier
# versions). Progress: launch/progress_view.sh shows warm start, iteration (with ETA) and
# evaluation lines of a run's output. usage: test_observability.sh AGENTFLOW_BINARY
. "$(dirname "$0")/lib.sh"
set -euo pipefail
$PY -c "import google.protobuf" 2>/dev/null || { echo "python3-protobuf missing (launch/install-deps.sh --test): skipped"; exit 77; }

easy_game24 "$T/easy.jsonl"
TINY=(--set suite.name=game24 --set data.train="$T/easy.jsonl" --set suite.max_test=8 --set model.d_model=32
      --set model.n_layers=1 --set model.n_heads=2 --set model.n_kv_heads=1 --set model.d_ff=64 --set model.max_seq=256
      --set rollout.max_turns=2 --set rollout.max_action_tokens=24 --set rollout.batch_queries=4
      --set rollout.group_size=4 --set model.warmstart_steps=20 --set model.warmstart_batch=8 --set model.warmstart_lr=1e-2
      --set run.eval_every=2 --set run.checkpoint_every=1 --set log.samples_every=2)
"$AF" train --run-dir "$T/run" "${TINY[@]}" --set run.iterations=3 > "$T/train.log" 2>&1
check "train wrote one event file" "[ \$(ls '$T/run/tb' | grep -c '^events\.out\.tfevents\.[0-9]*\.') -eq 1 ]"
check "the reader agrees with metrics.jsonl, eval.jsonl and config.json" "$PY '$SRC/tests/tfevents_read.py' '$T/run' 2"
sleep 1 # a new second: the resumed file gets a name of its own (a same-second name gets a suffix anyway)
"$AF" train --run-dir "$T/run" "${TINY[@]}" --set run.iterations=5 --resume > "$T/resume.log" 2>&1
check "the resumed run added a second event file" "[ \$(ls '$T/run/tb' | wc -l) -eq 2 ]"
check "5 metrics lines after the resume" "[ \$(wc -l < '$T/run/metrics.jsonl') -eq 5 ]"
check "the reader agrees after the resume (files merged by step)" "$PY '$SRC/tests/tfevents_read.py' '$T/run' 2"

# the reader can fail: a flipped byte, a changed metric value
f=$(ls "$T/run/tb"/events.out.tfevents.* | head -1)
cp "$f" "$T/flipped"
printf '\x55' | dd of="$T/flipped" bs=1 seek=40 conv=notrunc status=none
check "the reader verifies CRCs of the intact file" "$PY '$SRC/tests/tfevents_read.py' --crc-only '$f'"
check "the reader rejects a flipped byte" "! $PY '$SRC/tests/tfevents_read.py' --crc-only '$T/flipped' > /dev/null"
cp -r "$T/run" "$T/changed"
$PY - "$T/changed/metrics.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
rows[1]["train/kl"] = (rows[1]["train/kl"] or 0) + 0.5
open(sys.argv[1], "w").writelines(json.dumps(r) + "\n" for r in rows)
PY
check "the reader rejects a metric that differs" "! $PY '$SRC/tests/tfevents_read.py' '$T/changed' 2 > '$T/changed.out'"
check "... naming it" "grep -q 'train/kl step 1' '$T/changed.out'"

"$AF" train --run-dir "$T/off" "${TINY[@]}" --set model.warmstart_steps=0 --set run.iterations=1 \
    --set log.tensorboard=false > "$T/off.log" 2>&1
check "log.tensorboard=false: no tb directory" "[ ! -e '$T/off/tb' ] && [ -s '$T/off/metrics.jsonl' ]"

# plots
if command -v gnuplot > /dev/null; then
    bash "$SRC/launch/plot_metrics.sh" "$T/run" "$T/plots" > "$T/plot.log" 2>&1
    check "plot_metrics: overview, family keys and eval.jsonl" \
        "[ -s '$T/plots/overview.png' ] && [ -s '$T/plots/train_loss.png' ] && [ -s '$T/plots/eval_accuracy.png' ] && [ ! -e '$T/plots/loss.png' ]"
    mkdir -p "$T/old"
    $PY -c "
import json, sys
for l in open('$T/run/metrics.jsonl'):
    print(json.dumps({k: v for k, v in json.loads(l).items() if '/' not in k}))" > "$T/old/metrics.jsonl"
    bash "$SRC/launch/plot_metrics.sh" "$T/old" "$T/oldplots" > "$T/oldplot.log" 2>&1
    check "plot_metrics: a run of flat keys (earlier versions) still plots" \
        "[ -s '$T/oldplots/overview.png' ] && [ -s '$T/oldplots/loss.png' ] && [ -s '$T/oldplots/reward_mean.png' ]"
else
    echo "gnuplot missing: plots not checked"
fi

# the progress view of launch/game24_proof.sh (not a terminal: plain lines)
. "$SRC/launch/progress_view.sh"
show_progress < "$T/train.log" > "$T/view.txt"
check "progress view: the iteration line shortened, with its ETA" "grep -Eq '^iteration 3/3 \| reward [0-9.]+ acc [0-9.]+ \| ETA 0s' '$T/view.txt'"
check "progress view: evaluations on lines of their own" "[ \$(grep -c '^eval after' '$T/view.txt') -eq 3 ]"
check "progress view: the warm start with its ETA" "grep -q '^warm start 1/20 (ETA [0-9a-z?]*): action NLL' '$T/view.txt'"
finish
