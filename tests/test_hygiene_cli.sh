#!/usr/bin/env bash
# Issue 20 item 8, output hygiene, through `agentflow rollout` against tests/fault_server.py:
#  - a tool result with bytes that are not UTF-8 (the http tool at /badutf8): every line of
#    `rollout --json` is valid JSON (strict UTF-8 decoding, then json.loads) and the bad
#    bytes show as U+FFFD;
#  - a served planner whose reply echoes the API key (?say=echo_auth): the key appears in
#    no output, no log line and no trajectory field; "[redacted]" stands in its place.
# usage: test_hygiene_cli.sh AGENTFLOW_BINARY
. "$(dirname "$0")/lib.sh"
set -uo pipefail
src=$SRC
fault_server_start
port=$SRV_PORT
KEY=sk-HYGIENE-93d1-secret
export AF_TEST_EXPECT_KEY=$KEY AF_HYGIENE_KEY=$KEY AF_LOG_LEVEL=debug
oa=(--suite arith --n 1 --planner openai --json --set modules.planner.model=served
    --set modules.planner.api_key_env=AF_HYGIENE_KEY --set modules.planner.timeout_s=5
    --set rollout.max_action_tokens=64)
base="http://127.0.0.1:$port"

strict_json() { # file: every line decodes as UTF-8 and parses as JSON
    /usr/bin/python3 - "$1" <<'PY'
import json, sys
n = 0
for raw in open(sys.argv[1], "rb"):
    json.loads(raw.decode("utf-8"))  # raises on bytes that are not UTF-8 or on bad JSON
    n += 1
sys.exit(0 if n >= 2 else 1)
PY
}

# 1. a tool result that is not UTF-8
"$AF" rollout "${oa[@]}" --set "modules.planner.url=$base/v1/chat/completions?say=http%20q" \
    --set "tools.http.url=$base/badutf8" > "$T/bad.json" 2> "$T/bad.err"
if strict_json "$T/bad.json"; then echo "ok   rollout --json is valid JSON with a non-UTF-8 tool result"
else echo "FAIL rollout --json printed invalid JSON:"; head -c 400 "$T/bad.json"; echo; fail=1; fi
if grep -q $'bad \xef\xbf\xbd\xef\xbf\xbd bytes \xef\xbf\xbd( and \xef\xbf\xbd end' "$T/bad.json"; then
    echo "ok   the ill-formed bytes show as U+FFFD"
else echo "FAIL the tool result lacks the U+FFFD replacements"; fail=1; fi

# 2. a served planner echoing the key
"$AF" rollout "${oa[@]}" --set "modules.planner.url=$base/v1/chat/completions?say=echo_auth" \
    > "$T/echo.json" 2> "$T/echo.err"
if grep -q '\[redacted\]' "$T/echo.json"; then echo "ok   the echoed key is redacted in the trajectory"
else echo "FAIL no [redacted] in the trajectory:"; head -c 400 "$T/echo.json"; echo; fail=1; fi
if grep -rqF "$KEY" "$T"; then echo "FAIL the API key appears in the output:"; grep -rlF "$KEY" "$T"; fail=1
else echo "ok   the API key appears in no output or log line"; fi
finish
