#!/usr/bin/env bash
# The default build is portable (issue 19): apart from the CPU-dispatched kernels
# (common/kernels_{avx2,avx512,avx512bf16}.c, every function of which carries its variant's suffix),
# the agentflow binary holds no AVX, AVX2, FMA or AVX-512 instruction, so it runs on any
# x86-64-v2 CPU; and the build's flags hold no -march=native.
#   test_portable_build.sh BINARY BUILD_DIR AF_NATIVE AF_BASELINE_ARCH
# Skips (77) for an AF_NATIVE=ON build, without objdump, or off x86-64.
set -euo pipefail
bin=$1 bdir=$2 native=$3 arch=${4:-}
case $native in ON|on|1|TRUE|true|YES|yes) echo "AF_NATIVE=ON build: not portable by request, skipped"; exit 77 ;; esac
[ "$(uname -m)" = x86_64 ] || { echo "not x86-64, skipped"; exit 77; }
command -v objdump > /dev/null || { echo "objdump (binutils) missing, skipped"; exit 77; }
fail=0
# 1. flags: no -march=native anywhere in the build's compile flags
if grep -rl -- '-march=native' "$bdir/CMakeFiles" --include=flags.make > /dev/null 2>&1; then
    echo "FAIL: -march=native in $(grep -rl -- '-march=native' "$bdir/CMakeFiles" --include=flags.make | head -3 | tr '\n' ' ')"
    fail=1
fi
if [ -n "$arch" ]; then
    grep -q -- "-march=$arch" "$bdir/CMakeFiles/agentflow_core.dir/flags.make" ||
        { echo "FAIL: agentflow_core is not compiled with -march=$arch"; fail=1; }
fi
# 2. the binary: VEX/EVEX-encoded instructions (mnemonics v*, ymm/zmm/mask registers) only
#    inside functions named *_avx2* or *_avx512*
objdump -d --no-show-raw-insn "$bin" | awk '
    /^[0-9a-f]+ <.*>:$/ { fn = $2; next }
    /^ *[0-9a-f]+:\t/ {
        split($0, parts, "\t"); ins = parts[2]
        if (ins ~ /^v[a-z]/ || ins ~ /%[yz]mm|%k[0-7]/) {
            n++
            if (fn !~ /_avx(2|512|512bf16)[>.]/) { bad++; if (!(fn in seen)) { seen[fn] = 1; print "  " fn ": " ins } }
        }
    }
    END { printf "%d AVX-class instructions, %d outside the dispatched kernels\n", n, bad; exit (bad > 0 || n == 0) }
' || fail=1
# 3. the dispatched variants are there
syms=$(objdump -t "$bin")
for f in matmul_inv_avx2 matmul_inv_avx512 vexpf_avx512 matmul_inv_base matmul_inv_bf16_avx512bf16; do
    grep -qE "[[:space:]]$f\$" <<< "$syms" || { echo "FAIL: $f missing from the binary"; fail=1; }
done
[ $fail -eq 0 ] && echo "portable: ok"
exit $fail
