#!/usr/bin/env bash
# agentflow rollout end to end:
#  - usage and configuration errors exit 2 with a message naming the problem;
#  - the oracle planner reaches accuracy 1 on every suite's whole test split (--n = split
#    size), and the summary line agrees with the JSON lines (recomputed in Python);
#  - the same --seed prints the same bytes, another seed other episodes;
#  - --model DIR / --run-dir load a Hugging Face-style directory written by `agentflow
#    train` (0 iterations): the same episodes as the freshly initialised planner of that
#    seed, token for token; a model of another vocabulary is refused;
#  - --planner openai against tests/fault_server.py on 127.0.0.1: a served planner's
#    action runs through the tools; an endpoint failing with HTTP 500 gives an
#    infra_failed episode and exit 1, never a crash; the API key appears nowhere.
# AF_BIN is set by ctest.
. "$(dirname "$0")/lib.sh"
set -u
bin=$AF src=$SRC tmp=$T py=$PY
# check_json FILE [ACCURACY]: every line parses; the summary (last line) matches the
# episodes recomputed from the lines; optional exact accuracy.
check_json() {
    checks=$((checks + 1))
    $py - "$1" "${2:-}" <<'EOF' || bad "check_json $1 ${2:-}"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
eps, summ = lines[:-1], lines[-1]["summary"]
assert len(eps) == summ["episodes"], (len(eps), summ)
n = len(eps)
acc = sum(e["reward"] >= 1 for e in eps) / n
turns = sum(len(e["turns"]) for e in eps) / n
# module or planner failures (infra_error without a tool) are counted as infra_failed only
errs = sum(t["tool_status"] not in ("ok", "no_call") and not (t["tool_status"] == "infra_error" and not t["tool"])
           for e in eps for t in e["turns"])
bad = sum(t["tool_status"] == "bad_action" for e in eps for t in e["turns"])
infra = sum(e["status"] == "infra_failed" for e in eps)
assert abs(summ["accuracy"] - acc) < 1e-6, (summ, acc)
assert abs(summ["mean_turns"] - turns) < 1e-4, (summ, turns)
assert summ["tool_errors"] == errs and summ["bad_actions"] == bad and summ["infra_failed"] == infra, summ
for i, e in enumerate(eps):
    assert e["episode"] == i
    if e["status"] == "ok":  # every turn of a normal episode has the sampled ids
        assert all(len(t["action_tokens"]) > 0 for t in e["turns"]), e
if sys.argv[2]:
    assert abs(acc - float(sys.argv[2])) < 1e-9, ("accuracy", acc, sys.argv[2])
print("%s: %d episodes, accuracy %.4f, mean turns %.2f, tool errors %d" % (summ["suite"] + "/" + summ["planner"], n, acc, turns, errs))
EOF
}

# ---- usage and configuration errors
expect 0 'usage: agentflow rollout' -- "$bin" rollout --help
expect 2 '--query Q or --n N is required' -- "$bin" rollout --suite game24
expect 2 '--n: expected an integer' -- "$bin" rollout --n 0
expect 2 '--n: expected an integer' -- "$bin" rollout --n x
expect 2 '--seed: expected an integer' -- "$bin" rollout --n 1 --seed -3
expect 2 '--planner: "best"' -- "$bin" rollout --n 1 --planner best
expect 2 '--split: expected test or train' -- "$bin" rollout --n 1 --split dev
expect 2 'suite.name' -- "$bin" rollout --suite chess --n 1
expect 2 'exclude each other' -- "$bin" rollout --n 1 --model a --run-dir b
expect 2 'not with --planner' -- "$bin" rollout --n 1 --model a --planner random
expect 2 'question' -- "$bin" rollout --suite game24 --query "4 7 8"
expect 2 'modules.planner.model' -- "$bin" rollout --suite countdown --n 1 --planner openai
expect 1 'config.json' -- "$bin" rollout --suite countdown --n 1 --model "$tmp/nonexistent"

# ---- every suite: the oracle solves the whole test split; the random planner does not
for suite in game24 countdown multihop arith; do
    checks=$((checks + 1))
    "$bin" rollout --suite "$suite" --n all --planner oracle --json > "$tmp/$suite.oracle" 2>"$tmp/err" ||
        { bad "$suite oracle exited $?"; cat "$tmp/err"; }
    check_json "$tmp/$suite.oracle" 1
    "$bin" rollout --suite "$suite" --n 40 --planner builtin-random --seed 7 --json > "$tmp/$suite.random" ||
        bad "$suite random exited $?"
    check_json "$tmp/$suite.random"
    acc=$(tail -1 "$tmp/$suite.random" | $py -c 'import json,sys; print(json.load(sys.stdin)["summary"]["accuracy"])')
    $py -c "import sys; sys.exit(0 if float('$acc') < 1 else 1)" || bad "$suite: the random planner reached $acc"
done

# ---- determinism: same seed, same bytes; another seed, other episodes
# (countdown: quick to build; game24 first solves all 1820 puzzles)
"$bin" rollout --suite countdown --n 12 --planner random --seed 3 --json > "$tmp/a" || bad "seed 3 run"
"$bin" rollout --suite countdown --n 12 --planner random --seed 3 --json > "$tmp/b" || bad "seed 3 rerun"
"$bin" rollout --suite countdown --n 12 --planner random --seed 4 --json > "$tmp/c" || bad "seed 4 run"
checks=$((checks + 2))
cmp -s "$tmp/a" "$tmp/b" || bad "same --seed printed different episodes"
cmp -s "$tmp/a" "$tmp/c" && bad "--seed 3 and --seed 4 printed the same episodes"
# the readable form: turns, the verifier, answer, gold, reward, summary
expect 0 'verifier: (stop|continue)' -- "$bin" rollout --suite game24 --query "4 7 8 8" --planner oracle
expect 0 '^reward:   1$' -- "$bin" rollout --suite game24 --query "4 7 8 8" --planner oracle
expect 0 '^summary: suite arith planner oracle episodes 3 accuracy 1.0000' -- "$bin" rollout --suite arith --n 3 --planner oracle
expect 0 'gold:     24' -- "$bin" rollout --suite countdown --query "4 6 2 -> 24" --gold 24 --planner random

# ---- suite.random_action=step: the random planner plays one listed step per turn (two
# numbers left and an operator), "stop" where one number is left; the default plays whole
# expressions; suites without a list of steps refuse the key
"$bin" rollout --suite countdown --n 40 --planner random --seed 7 --json --set suite.random_action=step \
    > "$tmp/steps" || bad "random steps exited $?"
check_json "$tmp/steps"
checks=$((checks + 1))
$py - "$tmp/steps" "$tmp/countdown.random" <<'EOF' || bad "random steps: the actions"
import json, re, sys
one = re.compile(r"^calculator [$#]\d+[-+*/][$#]\d+$")
eps = [json.loads(l) for l in open(sys.argv[1])][:-1]
acts = [t["action"] for e in eps for t in e["turns"]]
assert acts and all(one.match(a) or a == "stop" for a in acts), [a for a in acts if not (one.match(a) or a == "stop")]
assert all(t["tool_status"] == "ok" for e in eps for t in e["turns"] if t["action"] != "stop")
assert any(a == "stop" for a in acts)  # countdown's dead end after a missed last step
old = [t["action"] for l in open(sys.argv[2]) if '"turns"' in l for t in json.loads(l)["turns"]]
assert old and not any(one.match(a) for a in old), old[:5]  # the default: whole expressions
EOF
expect 2 'suite.random_action = step' -- "$bin" rollout --suite arith --n 1 --planner random --set suite.random_action=step
expect 2 'suite.random_action = step' -- "$bin" rollout --suite multihop --n 1 --planner random --set suite.random_action=step
expect 2 'suite.random_action' -- "$bin" rollout --suite game24 --n 1 --set suite.random_action=walk

# ---- the model planner from a directory: a run of 0 iterations writes the initial model
tiny=(--set model.d_model=32 --set model.n_layers=1 --set model.n_heads=2 --set model.n_kv_heads=2
      --set model.d_ff=64 --set model.max_seq=256 --set run.seed=11 --set log.level=warn --set suite.name=countdown)
"$bin" train --run-dir "$tmp/run" --set run.iterations=0 "${tiny[@]}" > "$tmp/train.out" 2>&1 ||
    { bad "train (0 iterations) exited $?"; cat "$tmp/train.out"; }
"$bin" rollout --n 6 --seed 2 --json "${tiny[@]}" > "$tmp/fresh" || bad "fresh model planner"
"$bin" rollout --n 6 --seed 2 --json "${tiny[@]}" --model "$tmp/run/model" > "$tmp/loaded" || bad "--model planner"
"$bin" rollout --n 6 --seed 2 --json --run-dir "$tmp/run" > "$tmp/rundir" || bad "--run-dir planner"
checks=$((checks + 3))
check_json "$tmp/fresh"
grep -q '"planner":"model"' "$tmp/fresh" || bad "the default planner is not the model"
cmp -s "$tmp/fresh" "$tmp/loaded" || bad "--model DIR gave other episodes than the same fresh model"
cmp -s "$tmp/fresh" "$tmp/rundir" || bad "--run-dir gave other episodes than the same fresh model"
$py - "$tmp/fresh" <<'EOF' || bad "model planner log-probs"
import json, sys
eps = [json.loads(l) for l in open(sys.argv[1])][:-1]
lps = [t["logprob"] for e in eps for t in e["turns"]]
assert lps and all(lp < 0 for lp in lps), lps  # sampled tokens carry real log-probs
EOF
"$bin" rollout --n 3 --greedy --json --model "$tmp/run/model" "${tiny[@]}" > "$tmp/g1" || bad "greedy"
"$bin" rollout --n 3 --greedy --json --model "$tmp/run/model" "${tiny[@]}" --seed 99 > "$tmp/g2" || bad "greedy"
checks=$((checks + 1))
cmp -s "$tmp/g1" "$tmp/g2" || bad "greedy decoding depends on the seed"
mkdir -p "$tmp/othervocab"
$py - "$tmp/run/model/config.json" "$tmp/othervocab/config.json" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1])); c["vocab_size"] += 5; json.dump(c, open(sys.argv[2], "w"))
EOF
cp "$tmp/run/model/model.safetensors" "$tmp/othervocab/"
expect 1 'othervocab' -- "$bin" rollout --suite countdown --n 1 --model "$tmp/othervocab"
# a well-formed model of another vocabulary (37 tokens; the suites have 158)
build=${AF_BUILD_DIR:-$(dirname "$bin")}
"$build/model_ref_dump" make "$tmp/tiny37" 2 1 0 || bad "model_ref_dump make"
expect 2 'vocabulary of 37 tokens, but suite countdown has' -- "$bin" rollout --suite countdown --n 1 --model "$tmp/tiny37"

# ---- the served planner (evaluation only) against the local fault server
fault_server_start
port=$SRV_PORT
export AF_TEST_EXPECT_KEY=sk-ROLLOUT-5e1f-secret AF_ROLLOUT_KEY=sk-ROLLOUT-5e1f-secret
oa=(--set modules.planner.model=served --set modules.planner.api_key_env=AF_ROLLOUT_KEY
    --set modules.planner.timeout_s=2 --set modules.planner.retries=1)
url="http://127.0.0.1:$port/v1/chat/completions?say=calculator%208/(3-8/3)"
"$bin" rollout --suite countdown --query "3 3 8 8 -> 24" --gold 24 --planner openai "${oa[@]}" --set "modules.planner.url=$url" --json \
    > "$tmp/served" 2>"$tmp/served.err" || { bad "served planner exited $?"; cat "$tmp/served" "$tmp/served.err"; }
check_json "$tmp/served" 1
grep -q '"action":"calculator 8/(3-8/3)"' "$tmp/served" || bad "the served planner's action was not run"
url="http://127.0.0.1:$port/v1/chat/completions?say=echo_temperature"
expect 0 'planner:  temperature 0$' -- "$bin" rollout --suite countdown --n 1 --planner openai "${oa[@]}" \
    --set "modules.planner.url=$url" --greedy
expect 0 'planner:  temperature 0.7$' -- "$bin" rollout --suite countdown --n 1 --planner openai "${oa[@]}" \
    --set "modules.planner.url=$url" --set rollout.temperature=0.7
url="http://127.0.0.1:$port/v1/chat/completions?fail=99"
expect 1 'infra_failed 2' -- "$bin" rollout --suite countdown --n 2 --planner openai "${oa[@]}" --set "modules.planner.url=$url"
"$bin" rollout --suite countdown --n 2 --planner openai "${oa[@]}" --set "modules.planner.url=$url" --json > "$tmp/down" 2>&1
check_json "$tmp/down"
grep -q '"status":"infra_failed"' "$tmp/down" || bad "a failing endpoint did not give infra_failed episodes"
unset AF_ROLLOUT_KEY
expect 2 'AF_ROLLOUT_KEY' -- "$bin" rollout --suite countdown --n 1 --planner openai "${oa[@]}" --set "modules.planner.url=$url"
checks=$((checks + 1))
grep -rq "sk-ROLLOUT-5e1f-secret" "$tmp" && bad "the API key appears in the output"

finish
