#!/usr/bin/env bash
# Installs the Debian packages agentflow.c needs. Idempotent and quick when everything
# is present (one dpkg-query, no apt-get).
#   ./launch/install-deps.sh          build + run (compiler, CMake, Open MPI, OpenBLAS,
#                                     protobuf-c, LMDB, libcurl, cJSON, PCRE2, xxHash, oneDNN,
#                                     python3, gnuplot)
#   ./launch/install-deps.sh --test   also what the tests and benchmarks use (python3-torch)
set -euo pipefail

build_pkgs=(
    gcc make cmake pkg-config          # toolchain
    libopenmpi-dev openmpi-bin         # MPI library, mpicc/mpirun
    libopenblas-pthread-dev libopenblas0-pthread   # BLAS (pthread build)
    libprotobuf-c-dev protobuf-c-compiler          # protobuf-c runtime + protoc-c
    liblmdb-dev                        # checkpoints, trajectory store, multihop corpus
    libcurl4-openssl-dev               # OpenAI-compatible backends, http tool
    libcjson-dev                       # config, JSON I/O
    libpcre2-dev                       # tokenizer pre-tokenizer regexes (Unicode classes, look-ahead)
    libxxhash-dev                      # XXH3 checksum of the weight broadcast
    libdnnl-dev                        # oneDNN: the learner's bf16 matrix products (AMX, AVX512-BF16)
    python3                            # the sandboxed python tool
    gnuplot-nox                        # metrics plots
    ca-certificates
)
test_pkgs=(
    python3-torch python3-numpy        # PyTorch reference implementation (tests, benches)
    python3-jinja2                     # chat-template reference (tests/hf/chat_ref.py)
    python3-protobuf                   # independent reader of the TensorBoard event files (tests)
)

pkgs=("${build_pkgs[@]}")
if [ "${1:-}" = "--test" ]; then
    pkgs+=("${test_pkgs[@]}")
    # node and npm run the reference tokenizer and fetch the real tokenizer files the
    # tokenizer and chat-template tests compare against (tests/hf/install_npm.sh). Many
    # machines have them from elsewhere (e.g. NodeSource's nodejs, which holds npm): only
    # when a command is missing do Debian's packages provide it.
    command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
    command -v npm >/dev/null 2>&1 || pkgs+=(npm)
fi

missing=()
for p in "${pkgs[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
    case "$status" in ii*) ;; *) missing+=("$p") ;; esac
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#pkgs[@]} packages present"
    exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
