# Shared set-up of the shell tests: source it first (`. "$(dirname "$0")/lib.sh"`).
#
# Gives: AF (the agentflow binary: $1 of the test, else $AF_BIN, else build/agentflow),
# SRC (the source tree), PY (/usr/bin/python3, which has Debian's torch), T (a private
# temporary directory, removed at exit with every background process started through
# bg_track), the environment for Open MPI as root and one BLAS thread, and:
#   check NAME CONDITION          evaluate CONDITION; print ok/FAIL NAME; a failure sets fail=1
#   expect_rc CODE NEEDLE cmd...  run cmd; check its exit code and that its output has NEEDLE
#   expect CODE REGEX -- cmd...   the same with an extended regular expression
#   bad MESSAGE                   record a failed check (fail=1) with its message
#   fault_server_start            start tests/fault_server.py on 127.0.0.1; sets SRV_PORT
#   fault_server_count KEY        requests the fault server counted for path?query KEY
#   easy_game24 FILE              six game24 puzzles random valid steps solve 6-10% of the time
#   tiny_game24                   easy_game24 $T/easy.jsonl, and TINY_GAME24: the --set options of the
#                                 training tests' tiny planner on it (seed 7, log.level warn)
#   tiny_rl, tiny_rl_train DIR ...  TINY_RL: TINY_GAME24 warm-started, a KL term; train into $T/DIR
#   metrics_strip FILE            a metrics.jsonl without its timing fields (*_s, *_per_s), keys sorted
#   same_run LABEL REF DIR        DIR's run equals REF's: $N metrics lines, metrics (stripped)
#                                 and final weights bit for bit (REF, DIR under $T)
#   finish                        print the totals and exit 1 if any check failed
# A test ends with `finish`. Works with or without `set -e` in the test.
AF=${1:-${AF_BIN:-build/agentflow}}
SRC=${AF_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
PY=/usr/bin/python3
T=$(mktemp -d)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=1
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy
fail=0
checks=0
_bg_pids=()
bg_track() { _bg_pids+=("$1"); }
_lib_cleanup() { # keeps the test's exit status (set -e must not turn a dead pid into a failure)
    local rc=$? p
    set +e
    for p in "${_bg_pids[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    rm -rf "$T"
    return $rc
}
trap _lib_cleanup EXIT

check() {
    checks=$((checks + 1))
    if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi
}

expect_rc() {
    local code=$1 needle=$2 out rc
    shift 2
    out=$("$@" 2>&1) && rc=0 || rc=$?
    checks=$((checks + 1))
    if [ "$rc" -eq "$code" ] && grep -q -- "$needle" <<<"$out"; then
        echo "ok   exit $code, says '$needle': ${*:2:1} ... ${*: -1}"
    else
        echo "FAIL exit $rc (want $code), says '$needle'?: ${*:2}"
        tail -5 <<<"$out" | sed 's/^/     /'
        fail=1
    fi
}

expect() {
    local code=$1 pattern=$2 out rc
    shift 3
    checks=$((checks + 1))
    out=$("$@" 2>&1) && rc=0 || rc=$?
    if [ "$rc" != "$code" ]; then
        bad "'$*' exited $rc, expected $code; output:"; tail -5 <<<"$out"; return 0
    fi
    grep -qE -- "$pattern" <<<"$out" || { bad "'$*' output lacks /$pattern/:"; tail -5 <<<"$out"; }
    return 0
}

bad() {
    echo "FAIL $*"
    fail=1
}

fault_server_start() {
    coproc FAULT_SRV { exec "$PY" "$SRC/tests/fault_server.py"; }
    bg_track "$FAULT_SRV_PID"
    local word
    read -r word SRV_PORT <&"${FAULT_SRV[0]}"
    [ "$word" = PORT ] && [ -n "$SRV_PORT" ] || { echo "FAIL the fault server did not start"; exit 1; }
}

fault_server_count() {
    "$PY" -c 'import sys, urllib.parse, urllib.request
key = urllib.parse.quote(sys.argv[2], safe="")
import json
print(json.load(urllib.request.urlopen("http://127.0.0.1:%s/count?key=%s" % (sys.argv[1], key), timeout=5))["count"])' \
        "$SRV_PORT" "$1"
}

easy_game24() {
    local q
    for q in "12 12 12 12" "2 2 2 12" "3 8 8 8" "3 3 3 8" "4 6 6 6" "2 12 12 12"; do
        echo "{\"question\": \"$q\"}"
    done >"$1"
}

tiny_game24() {
    easy_game24 "$T/easy.jsonl"
    TINY_GAME24=(--set suite.name=game24 --set data.train="$T/easy.jsonl" --set data.test="$T/easy.jsonl"
        --set model.d_model=32 --set model.n_layers=1 --set model.n_heads=2 --set model.n_kv_heads=1
        --set model.d_ff=64 --set model.max_seq=256 --set rollout.max_turns=2 --set rollout.max_action_tokens=24
        --set rollout.batch_queries=4 --set rollout.group_size=8 --set algo.lr=3e-3 --set log.level=warn
        --set log.progress=none --set run.seed=7)
}

# The RL-key tests' run (issue 18): TINY_RL, TINY_GAME24 warm-started on the oracle with a strong
# KL term and a checkpoint every 2 iterations; `tiny_rl_train DIR --set ...` trains into $T/DIR,
# appending its output to $T/DIR.log.
tiny_rl() {
    tiny_game24
    TINY_RL=("${TINY_GAME24[@]}" --set rollout.group_size=4 --set model.warmstart_steps=20 --set model.warmstart_batch=8
        --set model.warmstart_planner=oracle --set algo.drop_zero_variance=false --set algo.kl_coef=0.5
        --set run.checkpoint_every=2)
}
tiny_rl_train() { local d=$1; shift; "$AF" train --run-dir "$T/$d" "${TINY_RL[@]}" "$@" >>"$T/$d.log" 2>&1; }

metrics_strip() {
    "$PY" - "$1" <<'PYEOF'
import json, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    print(json.dumps({k: v for k, v in d.items() if not (k.endswith("_s") or k.endswith("_per_s"))}, sort_keys=True))
PYEOF
}

same_run() {
    metrics_strip "$T/$2/metrics.jsonl" > "$T/$2.m"
    metrics_strip "$T/$3/metrics.jsonl" > "$T/$3.m"
    check "$1: $N metrics lines" "[ \$(wc -l < '$T/$3/metrics.jsonl') -eq $N ]"
    check "$1: metrics equal the uninterrupted run's" "cmp -s '$T/$2.m' '$T/$3.m'"
    check "$1: final weights equal" "cmp -s '$T/$2/model/model.safetensors' '$T/$3/model/model.safetensors'"
}

finish() {
    if [ "$fail" = 0 ]; then echo "all $checks checks passed"; else echo "some of $checks checks FAILED"; fi
    exit "$fail"
}
