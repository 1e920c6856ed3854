#!/usr/bin/env bash
# The agentflow program end to end: --version, --help of every command, usage errors
# (exit 2), and every configuration error path (one line naming the problem, exit 2,
# never a crash). AF_BIN is set by ctest.
. "$(dirname "$0")/lib.sh"
set -u
bin=$AF tmp=$T
# config_error PATTERN -- args: exit 2 with exactly one line, matching PATTERN.
config_error() {
    local pattern=$1
    shift 2
    checks=$((checks + 1))
    local out rc
    out=$("$bin" train --run-dir "$tmp/run" "$@" 2>&1)
    rc=$?
    local lines
    lines=$(printf '%s\n' "$out" | grep -c .)
    if [ "$rc" != 2 ] || [ "$lines" != 1 ] || ! grep -qE -- "$pattern" <<<"$out"; then
        echo "FAIL: train $* -> rc=$rc lines=$lines, expected rc=2, 1 line /$pattern/; output:"
        echo "$out" | head -5
        fail=1
    fi
}

expect 0 '^agentflow [0-9]+\.[0-9]+\.[0-9]+$' -- "$bin" --version
expect 0 'usage: agentflow <command>' -- "$bin" --help
for cmd in train eval rollout score ckpt; do
    expect 0 "usage: agentflow $cmd" -- "$bin" $cmd --help
done
expect 0 "usage: agentflow chat-template" -- "$bin" chat-template --help
expect 2 "unknown option --frob" -- "$bin" chat-template --frob
expect 2 "unknown command 'frobnicate'" -- "$bin" frobnicate
expect 2 "missing command" -- "$bin"
for cmd in train eval rollout ckpt; do
    expect 2 "unknown or incomplete option '--no-such-flag'" -- "$bin" $cmd --no-such-flag
done
expect 2 "unexpected argument 'stray'" -- "$bin" train stray
# integer options: a number in range, or a usage error naming the option and its range
expect 2 'eval: --n: expected an integer in \[1, 100000000\], got "0"' -- "$bin" eval --n 0
expect 2 'eval: --max-turns: expected an integer in \[1, [0-9]+\], got "99999999999999999999999"' -- "$bin" eval --max-turns 99999999999999999999999
expect 2 'eval: --samples: expected an integer in .*, got "3x"' -- "$bin" eval --samples 3x
expect 2 'rollout: --seed: expected an integer in \[0, 9007199254740991\], got "-1"' -- "$bin" rollout --seed -1
expect 2 'rollout: --n: expected an integer in .*, got "\+3"' -- "$bin" rollout --n +3
expect 2 'ckpt: --step: expected an integer in \[0, 18446744073709551614\], got "18446744073709551615"' -- "$bin" ckpt verify --run-dir "$tmp" --step 18446744073709551615
expect 2 'ckpt: --step: expected an integer in .*, got ""' -- "$bin" ckpt verify --run-dir "$tmp" --step ""
expect 2 "--resume takes" -- "$bin" train --resume=sometimes

printf '{"run": {"seed": 1,}}' > "$tmp/malformed.json"
printf '{"rollout": {"groupsize": 4}}' > "$tmp/unknown.json"
printf '{"rollout": {"temperature": "warm"}}' > "$tmp/type.json"
printf '{"rollout": {"top_p": 1.5}}' > "$tmp/range.json"
printf '{"rollout": {"group_size": 4}}' > "$tmp/good.json"
config_error 'malformed JSON at line 1, column' -- --config "$tmp/malformed.json"
config_error "unknown key 'rollout.groupsize' \(did you mean 'rollout.group_size'\?\)" -- --config "$tmp/unknown.json"
config_error 'rollout.temperature: expected a number in \[0.01, 10\], got "warm"' -- --config "$tmp/type.json"
config_error 'rollout.top_p: expected a number in \[0.01, 1\], got 1.5' -- --config "$tmp/range.json"
config_error 'nope.json: cannot open: No such file or directory' -- --config "$tmp/nope.json"
config_error "--set 'rollout.group_size': expected section.key=value" -- --set rollout.group_size
config_error 'rollout.group_size: expected an integer in \[1, 1024\], got 0' -- --config "$tmp/good.json" --set rollout.group_size=0
config_error "unknown key 'nosuch.key'" -- --set nosuch.key=1
config_error 'model.n_kv_heads \(3\) must divide model.n_heads \(4\)' -- --set model.n_kv_heads=3

# A valid configuration is printed and saved with the run, and round-trips.
"$bin" train --config "$tmp/good.json" --set algo.lr=0.0005 --run-dir "$tmp/run" >"$tmp/out" 2>&1
checks=$((checks + 1))
if ! grep -q '"group_size":	4' "$tmp/run/config.json" || ! grep -q '"lr":	0.0005' "$tmp/run/config.json" \
   || ! grep -q 'effective config' "$tmp/out"; then
    echo "FAIL: effective config not printed/saved"; cat "$tmp/out" | head; fail=1
fi
expect 0 '\| `rollout.group_size` \| integer \| `8`' -- "$bin" train --help-config

finish
