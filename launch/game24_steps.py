#!/usr/bin/env python3
"""Where a game24 planner loses: reads `agentflow rollout --json` episodes and, with an
exact solver of its own (fractions), checks after each turn whether the numbers left can
still make 24.

    build/agentflow rollout --run-dir R --n all --greedy --json 2>/dev/null | launch/game24_steps.py

Prints one JSON object: episodes, solved, and the fraction of episodes whose state is
still solvable after turn 1 and after turn 2, with the conditional rates of each step
(first step; second step given a good first; last step given a good second), and beside
them the rate of a uniformly random step (over the calculator's distinct pair/operator
steps) from the same states.
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


def main():
    n = solved = ok1 = ok2 = 0
    rnd1 = rnd2 = 0.0
    for line in sys.stdin:
        line = line.strip()
        if not line.startswith("{"):
            continue
        d = json.loads(line)
        if "turns" not in d:
            continue  # the summary line
        n += 1
        solved += d.get("reward") == 1
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
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
