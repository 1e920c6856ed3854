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
#   metrics_strip FILE            a metrics.jsonl without its timing fields (*_s, *_per_s), keys sorted:
#                                 what must be bit-identical between runs of one config and seed
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

metrics_strip() {
    $PY - "$1" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    print(json.dumps({k: v for k, v in d.items() if not (k.endswith("_s") or k.endswith("_per_s"))}, sort_keys=True))
EOF
}

finish() {
    if [ "$fail" = 0 ]; then echo "all $checks checks passed"; else echo "some of $checks checks FAILED"; fi
    exit "$fail"
}
