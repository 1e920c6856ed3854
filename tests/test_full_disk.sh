#!/usr/bin/env bash
# Metrics on a full disk (issue 20 item 4): a run whose metrics.jsonl cannot grow stops
# with a clear error, exit 1 (no signal), no torn line, every checkpoint intact, and
# --resume then continues with no iteration lost. The full disk is simulated with
# RLIMIT_FSIZE (`ulimit -f`, SIGXFSZ ignored, so a write past the limit fails with EFBIG,
# which af_append_line reports like ENOSPC); the checkpoint store was preallocated by a
# first run without the limit, so only the log files meet it. Output goes through a pipe,
# which the limit does not cover, so the error message itself is not lost.
# The same with 3 ranks (2 learners): every rank stops, none by MPI_Abort or a signal.
# usage: test_full_disk.sh AGENTFLOW_BINARY
set -uo pipefail
AF=$1
. "$(dirname "$0")/lib.sh"
S=(--set suite.name=arith --set rollout.batch_queries=2 --set rollout.group_size=2 --set model.d_model=32
   --set model.d_ff=64 --set log.progress=none --set run.checkpoint_every=2)
N=40
"$AF" train "${S[@]}" --set run.iterations=4 --run-dir "$T/r" > "$T/a.log" 2>&1 || { echo "FAIL first run"; cat "$T/a.log"; exit 1; }
size=$(stat -c %s "$T/r/metrics.jsonl")
line=$(head -1 "$T/r/metrics.jsonl" | wc -c)
# room for about 3.5 more lines
blocks=$(( (size + line * 7 / 2) / 1024 + 1 ))
# (Open MPI's singleton start-up keeps its own files small with these: PMIx's hash store,
# no shared-memory transport)
( ulimit -f "$blocks"; trap '' XFSZ; export PMIX_MCA_gds=hash OMPI_MCA_btl=self
  exec "$AF" train --run-dir "$T/r" --resume --set run.iterations=$N ) 2>&1 | cat > "$T/full.log"
rc=${PIPESTATUS[0]}
echo "     (limit $blocks KiB, metrics.jsonl $size bytes before; exit $rc)"
check "the run stops with exit 1, not a signal" "[ $rc = 1 ]"
check "the message names the file and the cause" \
    "grep -q 'metrics.jsonl: cannot append a line .*file size limit reached' '$T/full.log' && grep -q 'the last checkpoint is intact' '$T/full.log'"
check "metrics.jsonl: every line whole JSON, ending in a newline" \
    "python3 -c \"import json,sys; d=open(sys.argv[1],'rb').read(); assert d.endswith(b'\\n'); [json.loads(l) for l in d.decode().splitlines()]\" '$T/r/metrics.jsonl'"
check "it grew until the limit (the lines that fit were written)" "[ \$(wc -l < '$T/r/metrics.jsonl') -gt 4 ]"
"$AF" ckpt verify --run-dir "$T/r" > "$T/verify.txt" 2>&1
check "every checkpoint verifies" "[ $? = 0 ]"
"$AF" train --run-dir "$T/r" --resume --set run.iterations=$N > "$T/resume.log" 2>&1
check "--resume (disk freed) completes" "[ $? = 0 ]"
check "no iteration lost: lines 0..$((N - 1)) in order" \
    "python3 -c \"import json,sys; it=[json.loads(l)['iteration'] for l in open(sys.argv[1])]; assert it == list(range($N)), it\" '$T/r/metrics.jsonl'"

# 3 ranks, 2 learners: every rank stops cleanly (no MPI_Abort, no signal) and says why
M=(--set topology.learners=2)
mpirun -np 3 "$AF" train "${S[@]}" "${M[@]}" --set run.iterations=4 --run-dir "$T/m" > "$T/m.log" 2>&1 ||
    { echo "FAIL first 3-rank run"; cat "$T/m.log"; exit 1; }
blocks=$(( ($(stat -c %s "$T/m/metrics.jsonl") + line * 7 / 2) / 1024 + 1 ))
( ulimit -f "$blocks"; export PMIX_MCA_gds=hash OMPI_MCA_btl=self,tcp
  exec mpirun -np 3 "$AF" train --run-dir "$T/m" --resume --set run.iterations=$N ) 2>&1 | cat > "$T/mfull.log"
rc=${PIPESTATUS[0]}
check "3 ranks: exit 1; learner 0 names the file, learner 1 stops with it, no signal, no abort" \
    "[ $rc = 1 ] && grep -q 'r0 ERROR.*metrics.jsonl: cannot append a line' '$T/mfull.log' && grep -q 'r1 ERROR.*learner 0 could not write its logs' '$T/mfull.log' && ! grep -q 'on signal\|MPI_ABORT' '$T/mfull.log'"
check "3 ranks: whole JSON lines, checkpoints verify" \
    "python3 -c \"import json,sys; [json.loads(l) for l in open(sys.argv[1])]\" '$T/m/metrics.jsonl' && '$AF' ckpt verify --run-dir '$T/m' > /dev/null"
finish
