#!/usr/bin/env bash
# The layout is the architecture: each folder may include only what sits below it.
#   common/  nothing of the project's other folders (what both roles share)
#   env/     common/ only, and no MPI (suites and tools know nothing of the cluster)
#   actor/   common/, env/      learner/ common/ only      (siblings: neither includes the other)
#   run/     common/, env/, actor/, learner/ (the orchestration above both roles)
#   launch/  anything (the CLI)
# Fails naming every include that breaks a rule. usage: test_layers.sh SOURCE_DIR
set -uo pipefail
SRC=${1:-$(dirname "$0")/..}
cd "$SRC" || exit 1
fail=0
checked=0
# allowed "folder:included-folder" pairs; the folder itself is always allowed
allowed="env:common actor:common actor:env learner:common run:common run:env run:actor run:learner run:proto
common:proto env:proto actor:proto learner:proto"
for dir in common env actor learner run; do
    for f in "$dir"/*.c "$dir"/*.h; do
        [ -e "$f" ] || continue
        checked=$((checked + 1))
        while IFS= read -r line; do
            inc=$(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([a-z_]*\)\/.*/\1/p' <<<"$line")
            [ -n "$inc" ] || continue
            [ "$inc" = "$dir" ] && continue
            if ! grep -qw "$dir:$inc" <<<"$allowed"; then
                echo "FAIL $f includes $inc/: $line"
                fail=1
            fi
        done < <(grep -E '^[[:space:]]*#[[:space:]]*include' "$f")
        if [ "$dir" = env ] && grep -qE '^[[:space:]]*#[[:space:]]*include[[:space:]]*<mpi\.h>' "$f"; then
            echo "FAIL $f includes <mpi.h>: env/ knows nothing of MPI"
            fail=1
        fi
    done
done
[ "$checked" -gt 50 ] || { echo "FAIL only $checked files checked: wrong source directory?"; fail=1; }
[ $fail = 0 ] && echo "ok   $checked files: common < env < actor | learner < run < launch"
exit $fail
