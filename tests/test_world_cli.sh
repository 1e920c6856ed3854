#!/usr/bin/env bash
# One world for every command (issue 15): `train` and `eval` build the same world from the
# same configuration, key by key, and train really uses what the world holds.
#  - table: for each key that shapes the world (suite, data, splits, tools, module
#    backends, episode settings, planner shape), a short `train` writes RUN_DIR/world.json
#    (the world as built) and `eval` on that run directory reports its own world: equal;
#  - keys a command cannot honour are refused by both with exit 2, naming the key;
#  - suite.max_train=1: every training trajectory is of the one query;
#  - tools.python.enabled=true: training episodes really call the sandbox (calls that
#    return the snippet's output);
#  - modules.judge.backend=openai: training episodes really call the loopback server,
#    once per episode;
#  - suite.shuffle=true (game24): the world records it, stored training trajectories are
#    played on the training questions' numbers in drawn orders (the same for a query's
#    samples), evaluation keeps the given order, and a suite without number questions is
#    refused naming the key;
#  - rollout.constrain_actions=true (game24): training and evaluation run with it, the
#    learner's masked log-probs are the sampled ones, the untrained planner's sampled and
#    greedy episodes make no bad action where the same planner decoding freely makes many,
#    and arith and multihop are refused naming the key.
# usage: test_world_cli.sh AGENTFLOW_BINARY
. "$(dirname "$0")/lib.sh"

TINY=(--set suite.name=arith --set model.d_model=32 --set model.n_layers=1 --set model.n_heads=2
      --set model.n_kv_heads=1 --set model.d_ff=64 --set model.max_seq=256 --set rollout.batch_queries=2
      --set rollout.group_size=2 --set log.level=warn --set log.progress=none)
easy_game24 "$T/g24.jsonl"
printf '{"question": "What is 2 plus 3?", "answer": "5"}\n{"question": "What is 7 times 6?", "answer": "42"}\n' >"$T/ar.jsonl"
export AF_WORLD_KEY=sk-world-test-key AF_TEST_EXPECT_KEY=sk-world-test-key
fault_server_start
OA="http://127.0.0.1:$SRV_PORT/v1/chat/completions"

same_world() { # name extra-args...: train (0 iterations) then eval; compare the worlds
    local name=$1; shift
    local d="$T/w-$name"
    if ! "$AF" train --run-dir "$d" "${TINY[@]}" --set run.iterations=0 "$@" >"$d.train" 2>&1; then
        check "$name: train ran" false; tail -3 "$d.train"; return
    fi
    if ! "$AF" eval --run-dir "$d" --n 1 --greedy >"$d.eval" 2>"$d.eval.err"; then
        check "$name: eval ran" false; tail -3 "$d.eval.err"; return
    fi
    check "$name: train and eval build the same world" "$PY - '$d/world.json' '$d.eval' <<'PYEOF'
import json, sys
a = json.load(open(sys.argv[1]))
b = json.load(open(sys.argv[2]))['world']
if a != b:
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k): print('  differs at', k, ':', a.get(k), 'vs', b.get(k))
    sys.exit(1)
PYEOF"
}

# the world of each key differs from the default one in what the key shapes
same_world default
for kv in suite.name=countdown suite.name=multihop suite.name=game24 run.seed=9 suite.max_train=3 suite.max_test=5 \
          rollout.max_turns=5 rollout.episode_timeout_s=7 rollout.tool_timeout_s=3 rollout.result_chars=64 \
          rollout.max_action_tokens=40 algo.policy=monolithic model.d_model=48 model.n_heads=4 model.n_kv_heads=2 \
          model.d_ff=80 model.max_seq=300 model.rope_theta=5000 model.rms_eps=1e-6 model.qkv_bias=true \
          model.tied_embeddings=false; do
    same_world "$kv" --set "$kv"
done
same_world game24-attempts --set suite.name=game24 --set suite.attempts=3 --set suite.retries=1 --set suite.view=state
same_world data --set suite.name=game24 --set "data.train=$T/g24.jsonl" --set "data.test=$T/g24.jsonl"
# python: isolation as the host allows (tests/test_python_tool.c checks each mode)
same_world python --set tools.python.enabled=true --set tools.python.isolation=best_effort --set tools.python.disk_mb=16 --set tools.python.cpu_s=2 --set tools.python.wall_s=3 \
    --set tools.python.mem_mb=200 --set tools.python.output_bytes=4096
same_world http --set "tools.http.url=http://127.0.0.1:$SRV_PORT/ok" --set tools.http.allow_hosts=127.0.0.1 \
    --set tools.http.timeout_s=2 --set tools.http.retries=1 --set tools.http.max_bytes=5000
for m in executor verifier generator judge; do
    same_world "openai-$m" --set "modules.$m.backend=openai" --set "modules.$m.url=$OA" --set "modules.$m.model=m-$m" \
        --set "modules.$m.api_key_env=AF_WORLD_KEY" --set "modules.$m.timeout_s=4" --set "modules.$m.retries=1"
done
# the worlds really differ (the comparison above is not vacuous)
check "the worlds of different keys differ" \
    "! cmp -s '$T/w-default/world.json' '$T/w-suite.max_train=3/world.json' && ! cmp -s '$T/w-default/world.json' '$T/w-python/world.json'"

# refused by every command that cannot honour them, naming the key
for kv in suite.hops=2 suite.entities=100 suite.test_fraction=0.3 modules.planner.backend=openai; do
    expect_rc 2 "${kv%%=*}" "$AF" train --run-dir "$T/refused" "${TINY[@]}" --set run.iterations=0 --set "$kv"
    expect_rc 2 "${kv%%=*}" "$AF" eval --run-dir "$T/w-default" --n 1 --set "$kv"
done
# multihop's hop range: min above max, and the keys on a suite without hops
expect_rc 2 "suite.min_hops = 5 > suite.max_hops = 4" "$AF" train --run-dir "$T/refused" "${TINY[@]}" \
    --set run.iterations=0 --set suite.name=multihop --set suite.min_hops=5
expect_rc 2 "suite.distractors" "$AF" train --run-dir "$T/refused" "${TINY[@]}" --set run.iterations=0 \
    --set suite.name=arith --set suite.distractors=2
# the planned sub-goal: only for an oracle text warm start on a suite with a plan
expect_rc 2 "model.warmstart_subgoal = plan needs a planner in text" "$AF" train --run-dir "$T/refused" "${TINY[@]}" \
    --set run.iterations=0 --set suite.name=multihop --set model.warmstart_subgoal=plan
expect_rc 2 "tools.python" "$AF" train --run-dir "$T/refused" "${TINY[@]}" --set run.iterations=0 \
    --set tools.python.enabled=true --set tools.python.interpreter=/nonexistent
expect_rc 2 "AF_UNSET_KEY" "$AF" train --run-dir "$T/refused" "${TINY[@]}" --set run.iterations=0 \
    --set modules.judge.backend=openai --set "modules.judge.url=$OA" --set modules.judge.model=j \
    --set modules.judge.api_key_env=AF_UNSET_KEY
# a refused start leaves nothing that makes its directory look like a run
check "a refused start leaves no config.json behind" "[ ! -e '$T/refused/config.json' ] && [ ! -e '$T/refused/world.json' ]"

# suite.max_train=1: training draws the one query only
"$AF" train --run-dir "$T/one" "${TINY[@]}" --set suite.max_train=1 --set run.iterations=3 \
    --set run.store_trajectories=true >"$T/one.log" 2>&1
check "max_train=1: train ran" "[ -f '$T/one/model/model.safetensors' ]"
for i in 0 1 2; do
    for s in 0 1; do "$AF" rollout --show "$i:0:$s" --run-dir "$T/one" >>"$T/one.show" 2>&1; done
done
check "max_train=1: 6 stored trajectories, all of query 0" "[ \$(grep -c '^trajectory [0-2]:0:[01] ' '$T/one.show') = 6 ]"
check "max_train=1: query 1 was never drawn" "! '$AF' rollout --show 0:1:0 --run-dir '$T/one' >/dev/null 2>&1"

# tools.python.enabled: the warm start demonstrates the python tool (random valid actions
# cover every tool), so the RL episodes call it; successful calls ran the real sandbox
"$AF" train --run-dir "$T/py" "${TINY[@]}" --set tools.python.enabled=true --set tools.python.isolation=best_effort \
    --set model.warmstart_planner=random \
    --set model.warmstart_steps=60 --set model.warmstart_batch=16 --set model.warmstart_lr=1e-2 \
    --set run.iterations=2 --set rollout.group_size=4 >"$T/py.log" 2>&1
check "python: train ran" "[ -f '$T/py/metrics.jsonl' ]"
check "python: training episodes called the sandbox and got its output" "$PY - '$T/py/metrics.jsonl' <<'PYEOF'
import json, sys
calls = errors = 0
for line in open(sys.argv[1]):
    t = json.loads(line)['tools'].get('python', {})
    calls += t.get('calls', 0); errors += t.get('errors', 0)
print('  python calls', calls, 'errors', errors)
sys.exit(0 if calls > 0 and errors < calls else 1)
PYEOF"

# modules.judge.backend=openai: one judge request per training episode
url="$OA?say=correct&case=train-judge"
"$AF" train --run-dir "$T/judge" "${TINY[@]}" --set run.iterations=2 --set modules.judge.backend=openai \
    --set "modules.judge.url=$url" --set modules.judge.model=judge --set modules.judge.api_key_env=AF_WORLD_KEY \
    >"$T/judge.log" 2>&1
check "judge: train ran" "[ -f '$T/judge/metrics.jsonl' ]"
n=$(fault_server_count "/v1/chat/completions?say=correct&case=train-judge")
check "judge: 2 iterations x 2 queries x 2 samples = 8 judge requests (got $n)" "[ '$n' = 8 ]"

# suite.shuffle: six game24 questions of four different numbers
for q in "1 2 3 4" "2 3 4 5" "1 3 4 6" "2 4 6 8" "1 5 6 7" "3 4 5 6"; do echo "{\"question\": \"$q\"}"; done >"$T/dist.jsonl"
SH=(--set suite.name=game24 --set "data.train=$T/dist.jsonl" --set "data.test=$T/dist.jsonl" --set rollout.max_turns=2
    --set rollout.max_action_tokens=24 --set rollout.batch_queries=3 --set rollout.group_size=2 --set suite.shuffle=true)
"$AF" train --run-dir "$T/shuf" "${TINY[@]}" "${SH[@]}" --set run.iterations=2 --set model.warmstart_steps=4 \
    --set model.warmstart_batch=4 --set run.store_trajectories=true >"$T/shuf.log" 2>&1
check "suite.shuffle: train ran, world.json says shuffle" \
    "[ -f '$T/shuf/model/model.safetensors' ] && $PY -c \"import json,sys; sys.exit(0 if json.load(open('$T/shuf/world.json'))['shuffle'] is True else 1)\""
for i in 0 1; do
    for q in 0 1 2 3 4 5; do
        for s in 0 1; do "$AF" rollout --show "$i:$q:$s" --run-dir "$T/shuf" 2>/dev/null | sed -n "s/^question: /$i $q $s /p"; done
    done
done >"$T/shuf.q"
check "suite.shuffle: 12 stored trajectories, each on its question's numbers, a query's samples in one order, orders drawn" "$PY - '$T/shuf.q' '$T/dist.jsonl' <<'PYEOF'
import json, sys
given = [json.loads(l)['question'] for l in open(sys.argv[2])]
rows = [l.split(None, 3) for l in open(sys.argv[1]) if l.strip()]
bad = []
if len(rows) != 12: bad.append('%d trajectories' % len(rows))
seen = {}
for it, q, s, played in rows:
    played = played.strip()
    if sorted(played.split()) != sorted(given[int(q)].split()): bad.append('query %s played as %s' % (q, played))
    if seen.setdefault((it, q), played) != played: bad.append('query %s iteration %s: samples differ' % (q, it))
if sum(p != given[int(q)] for (it, q), p in seen.items()) < 2: bad.append('orders never drawn: %s' % seen)
print('\n'.join('     ' + b for b in bad))
sys.exit(1 if bad else 0)
PYEOF"
"$AF" eval --run-dir "$T/shuf" --greedy --results "$T/shuf.eval.jsonl" >/dev/null 2>&1
check "suite.shuffle: evaluation plays the questions as given" \
    "$PY -c \"import json,sys; g=[json.loads(l)['question'] for l in open('$T/dist.jsonl')]; r=[json.loads(l)['question'] for l in open('$T/shuf.eval.jsonl')]; sys.exit(0 if sorted(r)==sorted(g) and len(r)==6 else 1)\""
expect_rc 2 "suite.shuffle" "$AF" train --run-dir "$T/shuf-ar" "${TINY[@]}" --set run.iterations=0 --set suite.shuffle=true

# rollout.constrain_actions: the untrained planner of a 2-iteration run on puzzles with many
# solutions (so that some groups carry a gradient), then 12 episodes each way
for q in "6 6 6 6" "2 2 2 3" "3 3 8 8" "1 1 3 8" "2 2 6 6" "4 4 4 6"; do echo "{\"question\": \"$q\"}"; done >"$T/many.jsonl"
"$AF" train --run-dir "$T/con" "${TINY[@]}" --set suite.name=game24 --set "data.train=$T/many.jsonl" \
    --set "data.test=$T/many.jsonl" --set rollout.batch_queries=6 --set rollout.group_size=4 --set suite.attempts=3 \
    --set rollout.max_turns=8 --set rollout.max_action_tokens=24 --set rollout.constrain_actions=true \
    --set run.iterations=2 >"$T/con.log" 2>&1
check "constrain_actions: train ran, config.json has the key" \
    "[ -f '$T/con/model/model.safetensors' ] && $PY -c \"import json,sys; sys.exit(0 if json.load(open('$T/con/config.json'))['rollout']['constrain_actions'] is True else 1)\""
check "constrain_actions: the learner's masked log-probs are the behaviour's (logprob_mismatch_max <= 1e-4 where it trained)" \
    "$PY -c \"import json,sys; r=[json.loads(l) for l in open('$T/con/metrics.jsonl')]; t=[x for x in r if x['entropy'] > 0]; sys.exit(0 if t and all(x['logprob_mismatch_max'] <= 1e-4 for x in r) else 1)\""
bad_actions() { sed -n 's/.*(bad actions \([0-9]*\)).*/\1/p'; }
free_bad=$("$AF" rollout --run-dir "$T/con" --n 12 --set rollout.constrain_actions=false 2>/dev/null | bad_actions)
con_bad=$("$AF" rollout --run-dir "$T/con" --n 12 2>/dev/null | bad_actions)
greedy_bad=$("$AF" rollout --run-dir "$T/con" --n 12 --greedy 2>/dev/null | bad_actions)
check "constrain_actions: bad actions free $free_bad (> 0), constrained sampled $con_bad and greedy $greedy_bad (0)" \
    "[ -n '$free_bad' ] && [ '$free_bad' -gt 0 ] && [ '$con_bad' = 0 ] && [ '$greedy_bad' = 0 ]"
check "constrain_actions: eval runs constrained" \
    "'$AF' eval --run-dir '$T/con' --greedy --set log.level=info 2>&1 | grep -q 'constrained to the suite'"
expect_rc 2 "rollout.constrain_actions" "$AF" train --run-dir "$T/con-ar" "${TINY[@]}" --set run.iterations=0 \
    --set rollout.constrain_actions=true
expect_rc 2 "rollout.constrain_actions" "$AF" train --run-dir "$T/con-mh" "${TINY[@]}" --set suite.name=multihop \
    --set run.iterations=0 --set rollout.constrain_actions=true
finish
