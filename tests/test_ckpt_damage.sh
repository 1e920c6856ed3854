#!/usr/bin/env bash
# A damaged checkpoint store through the CLI (issue 20 item 1): the issue's repro (one
# flipped bit in a leaf page of data.mdb made `ckpt verify`, `ckpt list`, `--resume` and
# `--resume=latest-valid` die with SIGSEGV inside liblmdb), then seeded random bit flips
# and truncations. In every case no command dies by a signal; `ckpt verify` exits 1 and
# says DAMAGED; `--resume=latest-valid` restores an intact checkpoint (or says there is
# none), moves the damaged store aside (kept) and goes on writing checkpoints.
# tests/test_ckpt_fuzz.c runs 1,100 cases against the library; this is the CLI's share.
# usage: test_ckpt_damage.sh AGENTFLOW_BINARY
set -uo pipefail
AF=$1
. "$(dirname "$0")/lib.sh"
nosig() { [ "$1" -lt 128 ]; } # exit status of a process that did not die by a signal

S=(--set suite.name=arith --set rollout.batch_queries=2 --set rollout.group_size=2 --set model.d_model=32 --set model.d_ff=64)
"$AF" train "${S[@]}" --set run.iterations=4 --set run.checkpoint_every=1 --run-dir "$T/base" > "$T/base.log" 2>&1 ||
    { echo "FAIL base run"; cat "$T/base.log"; exit 1; }
flip() { # flip bit $3 of byte $2 of file $1
    python3 -c "import sys
f=open(sys.argv[1],'r+b'); o=int(sys.argv[2]); f.seek(o); b=f.read(1)
if b: f.seek(o); f.write(bytes([b[0]^(1<<int(sys.argv[3]))]))" "$1" "$2" "$3"
}
# each case: the commands on a damaged copy, statuses kept
run_case() { # name
    local R=$T/$1 rc
    "$AF" ckpt verify --run-dir "$R" > "$R.verify" 2>&1; echo $? > "$R.rc_verify"
    "$AF" ckpt list --run-dir "$R" > "$R.list" 2>&1; echo $? > "$R.rc_list"
    cp -a "$R" "$R.latest"
    "$AF" train --run-dir "$R.latest" --resume --set run.iterations=5 > "$R.latest.log" 2>&1; echo $? > "$R.rc_resume"
    "$AF" train --run-dir "$R" --resume=latest-valid --set run.iterations=6 > "$R.valid.log" 2>&1; echo $? > "$R.rc_valid"
    "$AF" ckpt verify --run-dir "$R" > "$R.verify2" 2>&1; echo $? > "$R.rc_verify2"
}

# the issue's repro
cp -a "$T/base" "$T/repro"
flip "$T/repro/ckpt.lmdb/data.mdb" 299025 0
cp "$T/repro/ckpt.lmdb/data.mdb" "$T/repro.damaged.mdb"
run_case repro
check "repro: ckpt verify exits 1 (no signal) and says DAMAGED" \
    "[ \$(cat $T/repro.rc_verify) = 1 ] && grep -q '^DAMAGED: .*store damaged' '$T/repro.verify'"
check "repro: ckpt list does not crash" "nosig \$(cat $T/repro.rc_list) && grep -q 'checkpoint(s)' '$T/repro.list'"
check "repro: --resume does not crash" "nosig \$(cat $T/repro.rc_resume)"
check "repro: --resume=latest-valid resumes, moves the damaged store aside, writes checkpoints" \
    "[ \$(cat $T/repro.rc_valid) = 0 ] && grep -q 'resuming from checkpoint step' '$T/repro.valid.log' && ls -d '$T'/repro/ckpt.lmdb.damaged-* > /dev/null && grep -q 'checkpoint step 6 written' '$T/repro.valid.log'"
check "repro: the rebuilt store verifies, with step 6" \
    "[ \$(cat $T/repro.rc_verify2) = 0 ] && grep -q '^step 6: ok' '$T/repro.verify2'"
check "repro: the damaged store is kept, byte for byte" \
    "cmp -s '$T/repro.damaged.mdb' \$(ls -d '$T'/repro/ckpt.lmdb.damaged-* | head -1)/data.mdb"

# seeded random damage within the pages in use
used=$(python3 -c "import struct,sys
d=open(sys.argv[1],'rb').read(4096*2)
ps=struct.unpack_from('<I',d,40)[0]
m=[struct.unpack_from('<QQ',d,i*ps+136) for i in (0,1)]
last,txn=max(m,key=lambda x:x[1]); print((last+1)*ps)" "$T/base/ckpt.lmdb/data.mdb")
RANDOM=${AF_TEST_SEED:-20}
signals=0
for i in $(seq 1 8); do
    cp -a "$T/base" "$T/c$i"
    if [ "$i" -le 6 ]; then
        off=$(( (RANDOM * 32768 + RANDOM) % used )); flip "$T/c$i/ckpt.lmdb/data.mdb" "$off" $((RANDOM % 8))
    else
        truncate -s $(( (RANDOM * 32768 + RANDOM) % used )) "$T/c$i/ckpt.lmdb/data.mdb"
    fi
    run_case "c$i"
    for r in verify list resume valid verify2; do nosig "$(cat "$T/c$i.rc_$r")" || { echo "case $i: $r died by a signal"; signals=$((signals + 1)); }; done
    v=$(cat "$T/c$i.rc_valid")
    if [ "$v" = 0 ]; then
        grep -q 'checkpoint step 6 written' "$T/c$i.valid.log" || { echo "case $i: resumed but wrote no checkpoint"; signals=$((signals + 1)); }
    else
        grep -q 'no checkpoint verifies\|holds no checkpoint' "$T/c$i.valid.log" || { echo "case $i: latest-valid failed without saying there is none"; tail -3 "$T/c$i.valid.log"; signals=$((signals + 1)); }
    fi
done
check "8 random flips/truncations: no signal, latest-valid resumes and writes or says there is none" "[ $signals = 0 ]"
finish
