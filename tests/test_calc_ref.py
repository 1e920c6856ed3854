"""Checks the C calculator against Python's exact fractions on random expressions.

Usage: test_calc_ref.py <test_calc binary>. The binary prints "expr<TAB>value" or
"expr<TAB>ERR code"; Python evaluates the same expression with Fraction under the same
grammar and int64 overflow rules (every literal, intermediate numerator and denominator
must fit in int64 once reduced) and the two must agree exactly."""
import subprocess
import sys
from fractions import Fraction

LIM = 2**63 - 1


class Overflow(Exception):
    pass


class DivZero(Exception):
    pass


def fits(f):
    if abs(f.numerator) > LIM or f.denominator > LIM:
        raise Overflow()
    return f


class P:
    def __init__(self, s):
        self.s, self.i = s, 0

    def peek(self):
        while self.i < len(self.s) and self.s[self.i] in " \t":
            self.i += 1
        return self.s[self.i] if self.i < len(self.s) else ""

    def expr(self):
        v = self.term()
        while self.peek() in ("+", "-") and self.peek():
            op = self.s[self.i]; self.i += 1
            w = self.term()
            v = fits(v + w if op == "+" else v - w)
        return v

    def term(self):
        v = self.unary()
        while self.peek() in ("*", "/") and self.peek():
            op = self.s[self.i]; self.i += 1
            w = self.unary()
            if op == "/" and w == 0:
                raise DivZero()
            v = fits(v * w if op == "*" else v / w)
        return v

    def unary(self):
        if self.peek() == "-":
            self.i += 1
            return fits(-self.unary())
        return self.primary()

    def primary(self):
        c = self.peek()
        if c == "(":
            self.i += 1
            v = self.expr()
            assert self.peek() == ")"
            self.i += 1
            return v
        j = self.i
        while self.i < len(self.s) and self.s[self.i].isdigit():
            self.i += 1
        return fits(Fraction(int(self.s[j:self.i])))


def main():
    out = subprocess.run([sys.argv[1], "--emit", "4000", "11"], check=True, capture_output=True, text=True).stdout
    n = bad = ok = ovf = dz = 0
    for line in out.splitlines():
        expr, got = line.split("\t")
        n += 1
        try:
            v = P(expr).expr()
            want = str(v.numerator) if v.denominator == 1 else f"{v.numerator}/{v.denominator}"
            ok += 1
        except Overflow:
            want = "ERR -8"; ovf += 1
        except DivZero:
            want = "ERR -13"; dz += 1
        if want != got:
            bad += 1
            if bad < 10:
                print(f"MISMATCH {expr!r}: C {got} python {want}")
    print(f"{n} expressions: {ok} values, {ovf} overflows, {dz} divisions by zero, {bad} mismatches")
    if n < 1000 or bad or ok < 100 or ovf == 0 or dz == 0:
        sys.exit(1)


main()
