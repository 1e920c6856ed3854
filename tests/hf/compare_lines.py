#!/usr/bin/env python3
"""Compare the agentflow and reference outputs of the tokenizer comparison line by line.

    compare_lines.py LABEL CORPUS OURS REFERENCE [--json-strings]

Each output line is a JSON value (an id array, or with --json-strings a decoded string).
Prints the first mismatch with its input line and the ids around the first differing
position, and exits 1; prints a one-line summary and exits 0 when every line matches."""
import json
import sys


def main():
    label, corpus, ours, ref = sys.argv[1:5]
    lines = open(corpus, "rb").read().split(b"\n")
    a = open(ours, "rb").read().split(b"\n")
    b = open(ref, "rb").read().split(b"\n")
    lines, a, b = [x for x in lines if x], [x for x in a if x], [x for x in b if x]
    if not (len(lines) == len(a) == len(b)):
        print(f"{label}: line counts differ: corpus {len(lines)}, agentflow {len(a)}, reference {len(b)}")
        return 1
    for i, (x, y) in enumerate(zip(a, b)):
        vx, vy = json.loads(x), json.loads(y)
        if vx == vy:
            continue
        print(f"{label}: MISMATCH at corpus line {i + 1}")
        print(f"  input: {lines[i][:400]!r}")
        if isinstance(vx, list):
            k = next((j for j in range(min(len(vx), len(vy))) if vx[j] != vy[j]), min(len(vx), len(vy)))
            print(f"  first difference at token {k} (agentflow {len(vx)} tokens, reference {len(vy)})")
            print(f"  agentflow[{max(0, k - 5)}:{k + 8}] = {vx[max(0, k - 5):k + 8]}")
            print(f"  reference[{max(0, k - 5)}:{k + 8}] = {vy[max(0, k - 5):k + 8]}")
        else:
            print(f"  agentflow: {vx[:300]!r}\n  reference: {vy[:300]!r}")
        return 1
    total = sum(len(json.loads(x)) for x in a) if a and a[0].startswith(b"[") else 0
    print(f"{label}: {len(a)} lines identical" + (f" ({total} tokens)" if total else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
