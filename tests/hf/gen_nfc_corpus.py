#!/usr/bin/env python3
"""Seeded strings that stress NFC (tests/hf/test_tokenizer_ref.sh checks them against
node's String.prototype.normalize): combining marks of every class in and out of order,
composites followed by marks, Hangul syllables and conjoining jamo, singletons and
composition exclusions, starters that compose (Unicode 16's Tulu-Tigalari, Gurung
Khema and Kirat Rai when --any-code-point), and random code points.

    gen_nfc_corpus.py SEED COUNT [--any-code-point] > lines.jsonl

Without --any-code-point only code points assigned in /usr/bin/python3's Unicode
database (14.0) are drawn, so that a node with other Unicode tables agrees."""
import json
import random
import sys
import unicodedata


def main():
    seed, count = int(sys.argv[1]), int(sys.argv[2])
    any_cp = "--any-code-point" in sys.argv[3:]
    rng = random.Random(seed)
    marks, decomposable, firsts = [], [], []
    for cp in range(0x110000):
        c = chr(cp)
        if unicodedata.category(c) in ("Cn", "Cs"):
            continue
        if unicodedata.combining(c):
            marks.append(c)
        d = unicodedata.decomposition(c)
        if d and not d.startswith("<"):
            decomposable.append(c)
            firsts.append(chr(int(d.split()[0], 16)))
    jamo = [chr(c) for c in list(range(0x1100, 0x1113)) + list(range(0x1161, 0x1176)) + list(range(0x11A7, 0x11C3))]
    syllables = [chr(rng.randint(0xAC00, 0xD7A3)) for _ in range(500)]
    new16 = [chr(c) for c in list(range(0x11380, 0x113E3)) + list(range(0x16100, 0x1613A)) + list(range(0x16D40, 0x16D7A))]
    pools = [marks, marks, decomposable, firsts, jamo, syllables, list("aeiouAEIOUnNcCsSzZ \u0391\u03b1\u0430")]
    if any_cp:
        pools += [new16, [chr(rng.randint(0x300, 0x2FFFF)) for _ in range(2000)]]
    out = []
    for _ in range(count):
        s = "".join(rng.choice(rng.choice(pools)) for _ in range(rng.randint(1, 12)))
        s = "".join(c if not 0xD800 <= ord(c) < 0xE000 else "x" for c in s)
        out.append(json.dumps(s))
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
