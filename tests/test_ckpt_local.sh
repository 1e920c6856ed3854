#!/usr/bin/env bash
# run.checkpoint_dir (issue 20 item 9): LMDB works in a node-local directory and a
# compacted copy replaces RUN_DIR/ckpt.lmdb/data.mdb after every checkpoint, so a run
# directory on NFS/Lustre/GPFS only ever receives whole files. A run stopped half way on
# "node 1" resumes on "node 2" (another, empty local directory) from the run directory's
# copy and ends bit for bit like the uninterrupted run; `ckpt verify` reads the copy.
# usage: test_ckpt_local.sh AGENTFLOW_BINARY
set -uo pipefail
AF=$1
. "$(dirname "$0")/lib.sh"
S=(--set suite.name=arith --set rollout.batch_queries=2 --set rollout.group_size=2 --set model.d_model=32
   --set model.d_ff=64 --set log.progress=none --set run.checkpoint_every=2 --set algo.kl_coef=0.5
   --set algo.weight_decay=0.1 --set algo.drop_zero_variance=false --set algo.lr=3e-3)
strip() { python3 -c "import json,sys
for l in open(sys.argv[1]):
    d=json.loads(l); print(json.dumps({k:v for k,v in d.items() if not (k.endswith('_s') or k.endswith('_per_s'))}, sort_keys=True))" "$1"; }
"$AF" train "${S[@]}" --set run.iterations=6 --run-dir "$T/ref" > "$T/ref.log" 2>&1 || { echo "FAIL reference run"; exit 1; }
"$AF" train "${S[@]}" --set run.iterations=3 --set run.checkpoint_dir="$T/node1" --run-dir "$T/r" > "$T/a.log" 2>&1
check "a run with run.checkpoint_dir: the store is node-local, the run directory holds a verified copy" \
    "[ $? = 0 ] && [ -f '$T/node1/ckpt.lmdb/data.mdb' ] && '$AF' ckpt verify --run-dir '$T/r' > '$T/v1.txt' && grep -q '^step 3: ok' '$T/v1.txt' && [ ! -e '$T/r/ckpt.lmdb.copy-tmp' ]"
"$AF" train --run-dir "$T/r" --resume --set run.iterations=6 --set run.checkpoint_dir="$T/node2" > "$T/b.log" 2>&1
check "resumed on another node (empty local directory) from the run directory's copy" \
    "[ $? = 0 ] && grep -q 'resuming from checkpoint step 3' '$T/b.log' && [ -f '$T/node2/ckpt.lmdb/data.mdb' ]"
check "... metrics and final weights equal the uninterrupted run's" \
    "cmp -s <(strip '$T/ref/metrics.jsonl') <(strip '$T/r/metrics.jsonl') && cmp -s '$T/ref/model/model.safetensors' '$T/r/model/model.safetensors'"
check "... and the run directory's copy has the last checkpoint" "'$AF' ckpt verify --run-dir '$T/r' | grep -q '^step 6: ok'"
# a local store that the run directory has no copy of belongs to another run: moved aside
"$AF" train "${S[@]}" --set run.iterations=2 --set run.checkpoint_dir="$T/node1" --run-dir "$T/other" > "$T/c.log" 2>&1
check "a stale local store is moved aside, not reused" \
    "[ $? = 0 ] && ls -d '$T'/node1/ckpt.lmdb.stale-* > /dev/null && '$AF' ckpt verify --run-dir '$T/other' | grep -q '1 checkpoint(s), 0 failed'"
finish
