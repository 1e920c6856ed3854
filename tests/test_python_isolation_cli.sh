#!/usr/bin/env bash
# tools.python.isolation at the command line, where namespaces are denied (the seccomp
# filter of test_python_tool, like Docker's default profile): with the default (required)
# a rollout offering the python tool exits 2 with one line naming the key and why; with
# best_effort it warns once what is missing and runs. Exit 77 where the filter cannot be
# installed. Usage: test_python_isolation_cli.sh TEST_PYTHON_TOOL (AF_BIN set by ctest).
wrap=${1:?usage: $0 path/to/test_python_tool}
. "$(dirname "$0")/lib.sh" ""
set -u
bin=$AF
"$wrap" --exec-without-namespaces /bin/true || exit 77
fails=0
run=("$wrap" --exec-without-namespaces "$bin" rollout --set suite.name=arith --set tools.python.enabled=true --n 1)

out=$("${run[@]}" 2>&1); rc=$?
if [ "$rc" != 2 ] || ! grep -q "tools.python.isolation=required, but this host cannot isolate the python sandbox: .*Operation not permitted.*tools.python.isolation=best_effort" <<<"$out"; then
    echo "FAIL: default isolation: exit $rc, output:"; echo "$out" | tail -5; fails=$((fails + 1))
fi
if grep -q "Segmentation\|Aborted\|AddressSanitizer" <<<"$out"; then echo "FAIL: crashed: $out"; fails=$((fails + 1)); fi

# best_effort: the world is built with the python tool, says once what the host lacks, and
# the episode runs (the tool's calls under the filter are test_python_tool's fallback mode).
out=$("${run[@]}" --set tools.python.isolation=best_effort --planner oracle 2>&1); rc=$?
if [ "$rc" != 0 ] || ! grep -q "tools: .*python" <<<"$out" ||
    ! grep -q "WARN.*python tool (tools.python.isolation=best_effort): sandbox without network namespace" <<<"$out"; then
    echo "FAIL: best_effort: exit $rc, output:"; echo "$out" | tail -8; fails=$((fails + 1))
fi
echo "test_python_isolation_cli: $fails failed"
[ "$fails" = 0 ]
