#!/usr/bin/env bash
# Run directories (issue 20 item 2): `train` refuses a directory that holds a run unless
# told to --resume it or to --overwrite it (moved aside to DIR.old-<time>, never deleted);
# a run holds RUN_DIR/.lock, so a second run on the same directory is refused with the
# holder's pid and host; the lock dies with its process (kill -9 leaves no stale lock).
# usage: test_rundir.sh AGENTFLOW_BINARY
set -uo pipefail
AF=$1
. "$(dirname "$0")/lib.sh"
S=(--set suite.name=arith --set rollout.batch_queries=2 --set rollout.group_size=2 --set model.d_model=32
   --set model.d_ff=64 --set log.progress=none)
sums() { (cd "$1" && find . -path ./.lock -prune -o -type f -print | sort | xargs sha256sum); }

"$AF" train "${S[@]}" --set run.iterations=3 --set run.checkpoint_every=1 --run-dir "$T/r" > "$T/a.log" 2>&1
check "a first run in a new directory" "[ $? = 0 ] && [ -f '$T/r/.lock' ]"
sums "$T/r" > "$T/before.sum"
"$AF" train "${S[@]}" --set run.iterations=3 --run-dir "$T/r" > "$T/b.log" 2>&1
rc=$?
check "a second plain train is refused with exit 2, naming --resume and --overwrite" \
    "[ $rc = 2 ] && grep -q 'already holds a run (config.json).*--resume.*--overwrite' '$T/b.log'"
check "... and the run is untouched" "sums '$T/r' | cmp -s - '$T/before.sum'"
"$AF" train "${S[@]}" --run-dir "$T/r" --resume --overwrite > "$T/c.log" 2>&1
check "--resume with --overwrite is a usage error" "[ $? = 2 ]"
"$AF" train "${S[@]}" --set run.iterations=2 --run-dir "$T/r" --overwrite > "$T/d.log" 2>&1
rc=$?
old=$(ls -d "$T"/r.old-* 2>/dev/null | head -1)
check "--overwrite starts over and says where the old run went" \
    "[ $rc = 0 ] && grep -q 'moved to $T/r.old-' '$T/d.log' && [ \$(wc -l < '$T/r/metrics.jsonl') = 2 ]"
check "... the old run is kept whole" "[ -n '$old' ] && sums '$old' | cmp -s - '$T/before.sum'"

# two runs at once: the second is refused, naming the first's pid and host
"$AF" train "${S[@]}" --set run.iterations=100000 --set run.checkpoint_every=5 --run-dir "$T/busy" > "$T/e.log" 2>&1 &
pid=$!
bg_track "$pid"
for _ in $(seq 1 200); do grep -q "pid $pid" "$T/busy/.lock" 2>/dev/null && [ -s "$T/busy/metrics.jsonl" ] && break; sleep 0.05; done
timeout 60 "$AF" train "${S[@]}" --run-dir "$T/busy" --resume --set run.iterations=3 > "$T/f.log" 2>&1
rc=$?
check "a second run on a busy directory is refused, naming the holder" \
    "[ $rc = 1 ] && grep -q \"in use by another run (pid $pid host $(hostname)\" '$T/f.log'"
timeout 60 "$AF" train "${S[@]}" --run-dir "$T/busy" --overwrite --set run.iterations=3 > "$T/g.log" 2>&1
check "... --overwrite too (nothing moved)" "[ $? = 1 ] && ! ls -d '$T'/busy.old-* > /dev/null 2>&1"
kill -TERM "$pid"
wait "$pid"
check "every metrics line of the busy run is whole JSON" \
    "python3 -c \"import json,sys; [json.loads(l) for l in open(sys.argv[1], 'rb').read().decode().splitlines()]\" '$T/busy/metrics.jsonl' && ! grep -qaP '\\x00' '$T/busy/metrics.jsonl'"

# kill -9 leaves no stale lock
"$AF" train "${S[@]}" --set run.iterations=100000 --set run.checkpoint_every=5 --run-dir "$T/k" > "$T/h.log" 2>&1 &
pid=$!
bg_track "$pid"
for _ in $(seq 1 200); do grep -q "pid $pid" "$T/k/.lock" 2>/dev/null && [ -s "$T/k/metrics.jsonl" ] && break; sleep 0.05; done
kill -9 "$pid"
wait "$pid" 2>/dev/null
"$AF" train "${S[@]}" --set run.iterations=2 --run-dir "$T/k" --overwrite > "$T/i.log" 2>&1
check "after kill -9 the directory can be taken again" "[ $? = 0 ]"
finish
