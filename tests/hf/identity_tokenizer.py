#!/usr/bin/env python3
"""Writes DIR/tokenizer.json: one token per byte, no merges, an NFC normalizer and a
ByteLevel pre-tokenizer without regex, so that decode(encode(text)) == NFC(text). The
tokenizer test uses it to compare agentflow's NFC with node's String.normalize."""
import json
import os
import sys


def byte_chars():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


d = sys.argv[1]
os.makedirs(d, exist_ok=True)
vocab = {ch: b for b, ch in byte_chars().items()}
tok = {"version": "1.0", "added_tokens": [], "normalizer": {"type": "NFC"},
       "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "use_regex": False},
       "decoder": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": vocab, "merges": []}}
json.dump(tok, open(os.path.join(d, "tokenizer.json"), "w"))
