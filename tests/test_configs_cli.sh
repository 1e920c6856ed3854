#!/usr/bin/env bash
# The shipped configurations (launch/configs/*.json): every one that needs no files of its
# own (data.*, model.init_from) builds its world, and the suite's oracle solves the first
# test questions through it (accuracy 1). The long-horizon multihop's bounded memory
# (rollout.memory_results) keeps the oracle's prompts short where the monolithic
# transcript of the same episodes grows, and the two keys together are refused.
# usage: test_configs_cli.sh AGENTFLOW_BINARY
. "$(dirname "$0")/lib.sh"
set -uo pipefail
cd "$T" || exit 1
n=0
for c in "$SRC"/launch/configs/*.json; do
    name=$(basename "$c")
    if grep -qE '"(data|init_from)"|"train":|"test":' "$c"; then echo "skip $name (needs its own files)"; continue; fi
    n=$((n + 1))
    out=$("$AF" rollout --config "$c" --planner oracle --n 8 --json 2>&1) && rc=0 || rc=$?
    check "$name: oracle rollout exits 0" "[ $rc = 0 ]"
    check "$name: the oracle solves 8 of 8" "tail -1 <<<\"\$out\" | grep -q '\"accuracy\":1.000000'"
done
check "configs tried" "[ $n -ge 6 ]"

# prompt tokens at most, over 100 oracle episodes of the long-horizon config
maxtok() {
    "$AF" rollout --config "$SRC/launch/configs/multihop-long.json" --planner oracle --n 100 --json "$@" 2>/dev/null |
        "$PY" -c 'import json,sys
m=0
for l in sys.stdin:
    o=json.loads(l)
    for t in o.get("turns",[]): m=max(m,t["prompt_tokens"])
print(m)'
}
bounded=$(maxtok)
full=$(maxtok --set rollout.memory_results=0)
mono=$(maxtok --set rollout.memory_results=0 --set algo.policy=monolithic)
echo "longest prompt: bounded memory $bounded, full memory $full, monolithic $mono tokens"
check "bounded memory: under 200 tokens" "[ ${bounded:-0} -gt 30 ] && [ ${bounded:-999} -lt 200 ]"
check "full memory and monolithic transcript grow past 250" "[ ${full:-0} -gt 250 ] && [ ${mono:-0} -gt 250 ]"
expect_rc 2 "rollout.memory_results" "$AF" rollout --config "$SRC/launch/configs/multihop-long.json" --set algo.policy=monolithic --n 1
finish
