#!/usr/bin/env python3
"""A hard held-out game24 set and the training split that excludes it (issue 18).

Every solvable 4-number puzzle over 1..13 (the suite's 1362) is scored with exact
rational arithmetic over the calculator's steps (a pair of items, an operator; the
commuted twin of + and * counted once, as in env/numbers_solver.c):

  good_first   share of the legal first steps after which the puzzle is still solvable
  paths        number of distinct 3-step solution paths
  frac_only    every solution path goes through a non-integer intermediate
  big_only     every solution path goes through an intermediate above 24

A puzzle is hard when few of its first steps keep it solvable. The hard set is the
--hard puzzles with the smallest good_first (ties: fewer paths, then frac_only and
big_only first, then the puzzle's text), so it is chosen by the puzzle's structure only,
never by any planner's result. The remaining puzzles are shuffled with --seed; the first
--test of them are a random held-out split and the rest the training split. Writes
OUT/hard.jsonl, OUT/test.jsonl, OUT/train.jsonl ({"question": "a b c d", "answer": ""},
the suite's own form) and OUT/hard_stats.tsv. No puzzle of hard.jsonl or test.jsonl is in
train.jsonl (checked before writing).

usage: launch/game24_hard.py --out DIR [--hard 100] [--test 262] [--seed 1] [--max 13]
(--max: numbers 1..MAX; the suite's puzzles are those of --max 13, smaller is for tests)
"""
import argparse
import itertools
import json
import os
import random
from fractions import Fraction

OPS = "+-*/"


def steps(items):
    """Legal steps from a state: (i, j, op, result, next state)."""
    k = len(items)
    for i in range(k):
        for j in range(k):
            if i == j:
                continue
            for op in OPS:
                if op in "+*" and j < i:
                    continue
                a, b = items[i], items[j]
                if op == "+":
                    r = a + b
                elif op == "-":
                    r = a - b
                elif op == "*":
                    r = a * b
                else:
                    if b == 0:
                        continue
                    r = a / b
                rest = [items[t] for t in range(k) if t not in (i, j)]
                yield r, rest + [r]


def paths(items, inter=()):
    """Every solution path: the tuple of intermediates it went through."""
    if len(items) == 1:
        if items[0] == 24:
            yield inter
        return
    for r, nxt in steps(items):
        yield from paths(nxt, inter + (r,) if len(nxt) > 1 else inter)


def score(nums):
    items = [Fraction(n) for n in nums]
    firsts = list(steps(items))
    good = sum(1 for _, nxt in firsts if next(paths(nxt), None) is not None)
    sols = list(paths(items))
    frac_only = all(any(x.denominator != 1 for x in p) for p in sols)
    big_only = all(any(x > 24 for x in p) for p in sols)
    return good / len(firsts), len(sols), frac_only, big_only


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--hard", type=int, default=100)
    ap.add_argument("--test", type=int, default=262)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max", type=int, default=13)
    a = ap.parse_args()
    rows = []
    for nums in itertools.combinations_with_replacement(range(1, a.max + 1), 4):
        g, n, f, b = score(nums)
        if n:
            rows.append((g, n, not f, not b, " ".join(map(str, nums)), f, b))
    assert a.max != 13 or len(rows) == 1362, len(rows)
    if a.hard + a.test >= len(rows):
        ap.error("--hard %d and --test %d leave no training puzzle of %d" % (a.hard, a.test, len(rows)))
    rows.sort()
    hard = rows[: a.hard]
    rest = sorted(r[4] for r in rows[a.hard:])
    random.Random(a.seed).shuffle(rest)
    test, train = rest[: a.test], rest[a.test:]
    held = {r[4] for r in hard} | set(test)
    assert not held & set(train)
    os.makedirs(a.out, exist_ok=True)

    def write(name, qs):
        with open(os.path.join(a.out, name), "w") as f:
            for q in qs:
                f.write(json.dumps({"question": q, "answer": ""}) + "\n")

    write("hard.jsonl", [r[4] for r in hard])
    write("test.jsonl", test)
    write("train.jsonl", train)
    with open(os.path.join(a.out, "hard_stats.tsv"), "w") as f:
        f.write("puzzle\tgood_first\tpaths\tfrac_only\tbig_only\n")
        for g, n, _, _, q, fo, bo in hard:
            f.write(f"{q}\t{g:.4f}\t{n}\t{int(fo)}\t{int(bo)}\n")
    gs = [r[0] for r in rows]
    print(json.dumps({
        "puzzles": len(rows), "hard": len(hard), "test": len(test), "train": len(train),
        "hard_good_first_max": round(hard[-1][0], 4),
        "hard_frac_only": sum(r[5] for r in hard), "hard_big_only": sum(r[6] for r in hard),
        "all_good_first_mean": round(sum(gs) / len(gs), 4),
        "hard_good_first_mean": round(sum(r[0] for r in hard) / len(hard), 4),
    }))


if __name__ == "__main__":
    main()
