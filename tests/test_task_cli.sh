#!/usr/bin/env bash
# Suite task from the command line (issue 17 parts 4 and 5), on a small version of the
# worked example (launch/make_task_example.py): the oracle replays the traces (reward 1
# on every test question); random valid actions print the same bytes for the same seed;
# `train` with the traces' warm start and 2 Flow-GRPO iterations, twice, gives the same
# model bits; `eval` of the run reports accuracy, also on 2 ranks that both find the
# index missing (one builds it); and bad input exits 2 with one message
# naming the file:line and field or the key, leaving an existing run directory as it was:
# a task line with a missing field, an unknown judge (per line and task.judge), a tool a
# trace names that the configuration does not enable, a malformed corpus, the oracle warm
# start without traces, a task key on another suite.
# usage: test_task_cli.sh AGENTFLOW_BINARY
. "$(dirname "$0")/lib.sh"
set -uo pipefail
cd "$T" || exit 1
"$PY" "$SRC/launch/make_task_example.py" --out task-example --countries 20 --seed 3 > gen.log || { echo "FAIL generator"; exit 1; }
CFG=(--config "$SRC/launch/configs/task-example.json")
SMALL=(--set model.d_model=32 --set model.n_heads=2 --set model.n_kv_heads=2 --set model.d_ff=64 --set model.warmstart_steps=4
       --set model.warmstart_batch=4 --set rollout.batch_queries=2 --set rollout.group_size=2 --set run.eval_every=0
       --set log.progress=none --set log.tensorboard=false)

out=$("$AF" rollout "${CFG[@]}" --planner oracle --n all --json 2>&1) && rc=0 || rc=$?
check "oracle rollout exits 0" "[ $rc = 0 ]"
check "oracle solves every test question" "tail -1 <<<\"\$out\" | grep -q '\"episodes\":16,\"accuracy\":1.000000'"
check "the index was built next to the corpus" "[ -f task-example/corpus.jsonl.index/index.stamp ]"
a=$("$AF" rollout "${CFG[@]}" --planner random --n 8 --seed 9 --json 2>/dev/null | md5sum)
b=$("$AF" rollout "${CFG[@]}" --planner random --n 8 --seed 9 --json 2>/dev/null | md5sum)
check "random rollouts: same seed, same bytes" "[ '$a' = '$b' ]"

for r in run1 run2; do
    "$AF" train "${CFG[@]}" "${SMALL[@]}" --set run.iterations=2 --run-dir $r > $r.log 2>&1 && rc=0 || rc=$?
    check "train 2 iterations ($r)" "[ $rc = 0 ]"
done
check "two runs, same model bits" "cmp -s run1/model/model.safetensors run2/model/model.safetensors"
check "metrics of 2 iterations" "[ \$(wc -l < run1/metrics.jsonl) = 2 ]"
out=$("$AF" eval --run-dir run1 --greedy 2>/dev/null) && rc=0 || rc=$?
check "eval exits 0" "[ $rc = 0 ]"
check "eval reports accuracy on the 16 test questions" "grep -q '\"accuracy\"' <<<\"\$out\" && grep -q '\"questions\": *16' <<<\"\$out\""

# two ranks that find no index build it once between them (an flock), and agree
rm -rf task-example/corpus.jsonl.index
out2=$(mpirun -np 2 "$AF" eval --run-dir run1 --greedy 2>/dev/null) && rc=0 || rc=$?
check "eval on 2 ranks rebuilds the index and exits 0" "[ $rc = 0 ] && [ -f task-example/corpus.jsonl.index/index.stamp ]"
acc1=$(grep -o '"accuracy": *[0-9.]*' <<<"$out" | head -1)
acc2=$(grep -o '"accuracy": *[0-9.]*' <<<"$out2" | head -1)
check "2 ranks, the same accuracy ($acc1)" "[ -n '$acc1' ] && [ '$acc1' = '$acc2' ]"

# ---- bad input: exit 2, one message, nothing lost
check "the run directory exists" "[ -f run1/model/model.safetensors ]"
sum_before=$(find run1 -type f ! -name .lock -exec md5sum {} + | sort | md5sum) # .lock holds the last pid
good='{"question": "What is 1?", "answer": "1", "trace": ["search 1", "answer 1"]}'
printf '%s\n{"question": "q?", "trace": ["answer a"]}\n' "$good" > missing.jsonl
printf '%s\n{"question": "q?", "answer": "a", "judge": "fuzzy", "trace": ["answer a"]}\n' "$good" > judge.jsonl
printf '%s\n{"question": "q?", "answer": "a", "trace": ["python print(1)", "answer a"]}\n' "$good" > tool.jsonl
printf '%s\n{"question": "q?", "answer": "a"}\n' "$good" > notrace.jsonl
printf '{"id": "a", "title": "t", "text": "x"}\n{"id": "b", "text": "y"}\n' > badcorpus.jsonl
TEST=(--set data.test=task-example/test.jsonl)
cases=("missing.jsonl:2: field \"answer\": missing|--set data.train=missing.jsonl"
       "judge.jsonl:2: field \"judge\": unknown judge \"fuzzy\"|--set data.train=judge.jsonl"
       "task.judge|--set task.judge=fuzzy"
       "tool.jsonl:2: field \"trace\": action 1 names tool \"python\", which the configuration does not enable (set tools.python.enabled=true)|--set data.train=tool.jsonl"
       "badcorpus.jsonl:2: field \"title\": missing|--set tools.search.corpus=badcorpus.jsonl"
       "model.warmstart_planner = oracle: suite task's oracle replays each line's \"trace\", but 1 of the 2|--set data.train=notrace.jsonl"
       "tools.search.top_k: only suite.name=task takes it|--set suite.name=arith --set tools.search.corpus= --set tools.search.top_k=5 --set data.train= --set data.test=")
for c in "${cases[@]}"; do
    want=${c%%|*}
    read -r -a sets <<<"${c#*|}"
    for cmd in train eval rollout; do
        extra=(--run-dir run1)
        [ $cmd = eval ] && extra=(--run-dir run1 --config "$SRC/launch/configs/task-example.json")
        [ $cmd = rollout ] && extra=(--n 1 --planner random)
        [ $cmd = train ] && extra=(--run-dir run1 --resume)
        # eval and rollout build no warm start: the traceless file is fine for them
        case "$want" in model.warmstart*) [ $cmd = train ] || continue ;; esac
        "$AF" $cmd "${CFG[@]}" "${TEST[@]}" "${sets[@]}" "${extra[@]}" > out 2> err && rc=0 || rc=$?
        if [ $rc = 2 ] && grep -qF -- "$want" err; then
            echo "ok   $cmd: exit 2, \"$want\""
        else
            bad "$cmd ${sets[*]}: exit $rc (want 2), stderr lacks \"$want\":"; tail -3 err
        fi
        checks=$((checks + 1))
    done
done
sum_after=$(find run1 -type f ! -name .lock -exec md5sum {} + | sort | md5sum)
check "the run directory is as it was" "[ '$sum_before' = '$sum_after' ]"
finish
