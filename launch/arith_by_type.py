#!/usr/bin/env python3
"""Greedy accuracy of an arith evaluation by question type.

usage: launch/arith_by_type.py RESULTS.jsonl [...]
RESULTS.jsonl: the per-question lines of `agentflow eval --results FILE` on the arith suite.
The six types of env/numbers_gen.c, told apart by their wording: apples a*b-c, trees
a*b+c*d, train a-b+c-d, Tom (a*b-c)/d, tank a-b*c, pencils b*c/a.
"""
import json
import sys

TYPES = [("apples", "boxes with"), ("trees", "rows of"), ("train", "train carries"), ("Tom", "earns"),
         ("tank", "tank holds"), ("pencils", "students share")]


def by_type(path):
    counts = {k: [0, 0] for k, _ in TYPES}
    other = 0
    with open(path) as f:
        for line in f:
            d = json.loads(line)
            q = d.get("query") or d.get("question") or ""
            k = next((k for k, s in TYPES if s in q), None)
            if k is None:
                other += 1
                continue
            counts[k][1] += 1
            counts[k][0] += (d.get("reward") or 0) >= 1
    return counts, other


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for path in sys.argv[1:]:
        try:
            counts, other = by_type(path)
        except (OSError, ValueError) as e:
            sys.exit(f"arith_by_type: {path}: {e}")
        right = sum(a for a, _ in counts.values())
        total = sum(n for _, n in counts.values())
        cells = " | ".join(f"{k} {a}/{n}" for k, (a, n) in counts.items())
        extra = f" | {other} lines of no arith type" if other else ""
        print(f"{path}: {cells} | all {100.0 * right / max(1, total):.1f}%{extra}")


if __name__ == "__main__":
    main()
