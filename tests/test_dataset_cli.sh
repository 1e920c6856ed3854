#!/usr/bin/env bash
# Issue 20 item 7: a bad dataset (data.train / data.test) stops `train`, `eval` and
# `rollout` at load with exit status 2 and a message naming file:line: two JSON objects
# on one line, text after the object, a line that is not JSON, a question longer than a
# trajectory string may be (50 MB; 1 << 16 bytes is the limit), a question longer than
# the planner's context allows (model.max_seq), a missing file; `train` also under mpirun
# with 2 ranks (every rank fails set-up alike: no MPI_Abort). A good file still runs.
# usage: test_dataset_cli.sh AGENTFLOW_BINARY
. "$(dirname "$0")/lib.sh"
set -uo pipefail
SMALL=(--set suite.name=arith --set rollout.batch_queries=2 --set rollout.group_size=2 --set model.d_model=32
       --set model.d_ff=64 --set log.progress=none)

printf '{"question": "1+2", "answer": "3"}\n{"question": "2+5", "answer": "7"}\n' > "$T/good.jsonl"
printf '{"question": "1+2", "answer": "3"}\n{"question": "1+1", "answer": "2"} {"question": "2+2", "answer": "4"}\n' > "$T/two.jsonl"
printf '{"question": "1+2", "answer": "3"} x\n' > "$T/trailing.jsonl"
printf '\n{"question": "1+2", "answer": "3"\n' > "$T/broken.jsonl"
python3 -c '
import json, sys
open(sys.argv[1], "w").write(json.dumps({"question": "1+" * (25 << 20) + "1", "answer": "1"}) + "\n")
open(sys.argv[2], "w").write("{\"question\": \"3+4\", \"answer\": \"7\"}\n" + json.dumps({"question": "123+456*7-89+1000", "answer": "4226"}) + "\n")
' "$T/huge.jsonl" "$T/long.jsonl"

# dataset|what stderr must say|model.max_seq (long.jsonl: 17 tokens > 40 - 32 = 8)
cases=("two.jsonl|two.jsonl:2: column 36: text after the JSON object (one object per line)|384"
       "trailing.jsonl|trailing.jsonl:1: column 36: text after the JSON object|384"
       "broken.jsonl|broken.jsonl:2: not a JSON object|384"
       "huge.jsonl|huge.jsonl:1: field \"question\": longer than 65536 bytes|384"
       "long.jsonl|long.jsonl:2: field \"question\": 17 tokens, more than the 8 the planner's context allows|40"
       "missing.jsonl|missing.jsonl: cannot open|384")

"$AF" train "${SMALL[@]}" --set run.iterations=0 --run-dir "$T/run" > "$T/run.log" 2>&1 || { echo "FAIL setup run"; cat "$T/run.log"; exit 1; }

expect2() { # label, command...
    local label=$1 want=$2; shift 2
    "$@" > "$T/out" 2> "$T/err"
    local rc=$?
    if [ $rc -eq 2 ] && grep -qF -- "$want" "$T/err" && grep -qF "config: data." "$T/err"; then
        echo "ok   $label: exit 2, \"$want\""
    else
        echo "FAIL $label: exit $rc (want 2), stderr:"; head -c 600 "$T/err"; echo; fail=1
    fi
}
for c in "${cases[@]}"; do
    IFS='|' read -r f want seq <<< "$c"
    expect2 "train data.train=$f" "$want" "$AF" train "${SMALL[@]}" --set model.max_seq=$seq --set run.iterations=1 \
        --set data.train="$T/$f" --run-dir "$T/t_$f"
    expect2 "rollout data.test=$f" "$want" "$AF" rollout "${SMALL[@]}" --set model.max_seq=$seq --planner random --n 1 \
        --set data.test="$T/$f"
    expect2 "eval data.test=$f" "$want" "$AF" eval --run-dir "$T/run" --set model.max_seq=$seq --set data.test="$T/$f"
done
# under mpirun every rank fails set-up alike: no MPI_Abort, exit 2 still
export OMPI_MCA_rmaps_base_oversubscribe=1
expect2 "mpirun -np 2 train data.train=two.jsonl" "two.jsonl:2: column 36" mpirun -np 2 "$AF" train "${SMALL[@]}" \
    --set run.iterations=1 --set data.train="$T/two.jsonl" --run-dir "$T/t_mpi"
# the file that trains is accepted everywhere
for cmd in "train ${SMALL[*]} --set run.iterations=1 --set data.train=$T/good.jsonl --run-dir $T/good" \
           "rollout ${SMALL[*]} --planner random --n 2 --set data.test=$T/good.jsonl" \
           "eval --run-dir $T/run --set data.test=$T/good.jsonl"; do
    if $AF $cmd > "$T/out" 2> "$T/err"; then echo "ok   good dataset: ${cmd%% *} exits 0"
    else echo "FAIL good dataset: ${cmd%% *} exit $?"; head -c 600 "$T/err"; fail=1; fi
done
finish
