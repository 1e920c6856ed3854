#!/usr/bin/env python3
"""Writes a wider game24 training set as JSONL ({"question": "a b c d", "answer": ""}).

game24's generated splits are the 1362 multisets of 1..13 that can make 24 (test 362,
train 1000). This writes every multiset of four numbers from 1..MAX that can make 24 and
holds at least one number above 13, so none of them is a puzzle of the standard set (the
test split, or any held-out set drawn from 1..13); with --include FILE the questions of a
JSONL file (e.g. the standard train split, from `agentflow eval --split train --results`)
come too. Lines are shuffled with --seed. For data.train (README "Bring your own task").

  launch/game24_wide.py --max 20 --include std-train.jsonl --out game24-wide.jsonl
"""
import argparse
import itertools
import json
import random
import sys
from fractions import Fraction


def can_make(nums, target):
    """True iff +, -, *, / over all of nums (each once) can give target exactly."""
    if len(nums) == 1:
        return nums[0] == target
    for i, j in itertools.combinations(range(len(nums)), 2):
        a, b = nums[i], nums[j]
        rest = [nums[k] for k in range(len(nums)) if k != i and k != j]
        outs = {a + b, a - b, b - a, a * b}
        if b != 0:
            outs.add(a / b)
        if a != 0:
            outs.add(b / a)
        for v in outs:
            if can_make(rest + [v], target):
                return True
    return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--max", type=int, default=20, help="largest number (above 13)")
    ap.add_argument("--include", help="JSONL whose questions are added (standard puzzles)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    if a.max <= 13:
        sys.exit("game24_wide.py: --max must be above 13 (1..13 is the standard set)")
    qs = []
    for t in itertools.combinations_with_replacement(range(1, a.max + 1), 4):
        if max(t) > 13 and can_make([Fraction(x) for x in t], Fraction(24)):
            qs.append(" ".join(map(str, t)))
    wide = len(qs)
    if a.include:
        with open(a.include) as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    q = json.loads(line)["question"]
                except (ValueError, KeyError, TypeError) as e:
                    sys.exit("game24_wide.py: %s line %d: no \"question\" (%s)" % (a.include, n, e))
                qs.append(q)
    random.Random(a.seed).shuffle(qs)
    with open(a.out, "w") as f:
        for q in qs:
            f.write(json.dumps({"question": q, "answer": ""}) + "\n")
    print("%s: %d puzzles (%d with a number above 13, %d included)" % (a.out, len(qs), wide, len(qs) - wide))


if __name__ == "__main__":
    main()
