#!/usr/bin/env python3
"""Where a game24 planner loses: reads `agentflow rollout --json` episodes and, with an
exact solver of its own (fractions), checks after each turn whether the numbers left can
still make 24.

    build/agentflow rollout --run-dir R --n all --greedy --json 2>/dev/null | launch/game24_steps.py

Prints one JSON object: episodes, solved, and the fraction of episodes whose state is
still solvable after turn 1 and after turn 2, with the conditional rates of each step
(first step; second step given a good first; last step given a good second), and beside
them the rate of a uniformly random step (over the calculator's distinct pair/operator
steps) from the same states. Those count an episode's first two turns (one attempt).
"by_numbers_left" counts every turn of every attempt (suite.attempts): for the turns
taken from a solvable state of 4, 3 and 2 numbers, how many there were, the share that
kept it solvable (the 2-number step: that made 24), the random step's rate from the
same states, and the turns that were not a successful calculator step. Turns taken from
more than 4 items are only counted: the calculator lets a step reuse a number or result
an earlier turn consumed, and the list of what is left then grows.
"""
import json
import re
import sys
from fractions import Fraction
from functools import lru_cache


def steps(vals):
    """The states one calculator step away (operands i != j; + and * once per pair)."""
    out = []
    for i in range(len(vals)):
        for j in range(len(vals)):
            if i == j:
                continue
            a, b = vals[i], vals[j]
            rest = [vals[k] for k in range(len(vals)) if k not in (i, j)]
            for op in "+-*/":
                if (op in "+*" and j < i) or (op == "/" and not b):
                    continue
                r = {"+": a + b, "-": a - b, "*": a * b, "/": a / b if b else None}[op]
                out.append(tuple(sorted(rest + [r])))
    return out


@lru_cache(maxsize=None)
def solvable(vals, target=Fraction(24)):
    if len(vals) == 1:
        return vals[0] == target
    return any(solvable(t) for t in steps(vals))


def random_ok(vals):
    nxt = steps(vals)
    return sum(solvable(t) for t in nxt) / len(nxt) if nxt else 0.0


def left_after(turn):
    """The numbers left after a successful calculator turn (its result text), else None."""
    if turn.get("tool_status") != "ok":
        return None
    m = re.search(r"left: (.*)$", turn.get("result", ""))
    if not m:
        return None
    try:
        return tuple(sorted(Fraction(x.split("=", 1)[1]) for x in m.group(1).split()))
    except (ValueError, ZeroDivisionError, IndexError):
        return None


def state_after(turn):
    """What a successful calculator turn leaves: the numbers listed (a new attempt lists
    them all again), (value,) when nothing else is left, or None (failed turn)."""
    if turn.get("tool_status") != "ok":
        return None
    left = left_after(turn)
    if left is not None:
        return left
    try:
        return (Fraction(re.split(r"[,;]", turn.get("result", ""))[0].strip()),)
    except (ValueError, ZeroDivisionError):
        return None


def count_levels(d, lv):
    """Adds every turn of episode d to lv[k] = [turns, kept solvable, random rate, failed]."""
    try:
        cur = tuple(sorted(Fraction(x) for x in d["query"].split()))
    except (ValueError, ZeroDivisionError):
        return
    for t in d["turns"]:
        nxt = state_after(t)
        if len(cur) > 4:  # results reused: not a game24 state (solving it would take long)
            lv.setdefault("more", [0, 0, 0.0, 0])[0] += 1
            if nxt is not None:
                cur = nxt
            continue
        good = len(cur) >= 2 and solvable(cur)
        if good:
            c = lv.setdefault(len(cur), [0, 0, 0.0, 0])
            c[0] += 1
            c[2] += random_ok(cur)
            if nxt is None:
                c[3] += 1
            # a step that closed an attempt lists every number again: it did not keep it
            elif "attempt" not in t.get("result", "") and "retry" not in t.get("result", ""):
                c[1] += solvable(nxt)
        if nxt is not None:
            cur = nxt


def main():
    n = solved = ok1 = ok2 = 0
    rnd1 = rnd2 = 0.0
    lv = {}
    for line in sys.stdin:
        line = line.strip()
        if not line.startswith("{"):
            continue
        d = json.loads(line)
        if "turns" not in d:
            continue  # the summary line
        n += 1
        solved += d.get("reward") == 1
        count_levels(d, lv)
        try:
            rnd1 += random_ok(tuple(Fraction(x) for x in d["query"].split()))
        except (ValueError, ZeroDivisionError):
            pass
        states = [left_after(t) for t in d["turns"][:2]]
        s1 = len(states) > 0 and states[0] is not None and solvable(states[0])
        s2 = s1 and len(states) > 1 and states[1] is not None and solvable(states[1])
        ok1 += s1
        ok2 += s2
        if s1:
            rnd2 += random_ok(states[0])
    if n == 0:
        sys.exit("game24_steps: no episodes on stdin (run agentflow rollout --json)")
    out = {
        "episodes": n,
        "solved": solved / n,
        "solvable_after_turn1": ok1 / n,
        "solvable_after_turn2": ok2 / n,
        "first_step_ok": ok1 / n,
        "second_step_ok_given_first": ok2 / ok1 if ok1 else None,
        "last_step_ok_given_second": solved / ok2 if ok2 else None,
        "random_first_step_ok": rnd1 / n,
        "random_second_step_ok_given_first": rnd2 / ok1 if ok1 else None,
        "by_numbers_left": {
            str(k): {"turns": c[0], "kept_solvable": c[1] / c[0], "random_step": c[2] / c[0], "failed_turns": c[3]}
            for k, c in sorted(((k, c) for k, c in lv.items() if k != "more"), reverse=True)
        },
        "turns_from_more_than_4": lv.get("more", [0])[0],
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
