#!/usr/bin/env bash
# Sets up and runs the whole test suite: installs the Debian packages (build + test),
# configures with warnings fatal and a second, sanitized copy of the library, builds,
# and runs every test through ctest, ending with ctest's summary.
#   ./tests/run.sh                 everything
#   ./tests/run.sh -L unit         ctest arguments are passed through
set -euo pipefail
cd "$(dirname "$0")/.."
./launch/install-deps.sh --test
build=${AF_BUILD_DIR:-build}
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DAF_WERROR=ON -DAF_SANITIZE_TESTS=ON >/dev/null
cmake --build "$build" -j "$jobs"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
exec ctest --test-dir "$build" --output-on-failure -j "$jobs" "$@"
