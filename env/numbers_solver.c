/* The exhaustive solver of number puzzles (see numbers_solver.h). */
#include "env/numbers_solver.h"

#include <stdio.h>
#include <string.h>

int af_numbers_apply(char op, AfRational a, AfRational b, AfRational *r) {
    switch (op) {
    case '+': return af_rat_add(a, b, r);
    case '-': return af_rat_sub(a, b, r);
    case '*': return af_rat_mul(a, b, r);
    default: return af_rat_div(a, b, r);
    }
}

/* Step s of the state atoms[0..k), 0 <= s < 4k^2 in search order (first operand i,
 * second j, operator + - * /): the next state into next, its result last and named ref,
 * the action into text (AF_NUMBERS_STEP_LEN bytes); returns the next state's size, or 0 if the step
 * does not exist (i == j, the commuted twin of a + or *, division by zero, overflow). */
int af_numbers_step(const AfNumAtom *atoms, int k, int s, const char *ref, AfNumAtom *next, char *text) {
    static const char ops[4] = {'+', '-', '*', '/'};
    const int i = s / (4 * k), j = s / 4 % k;
    const char op = ops[s % 4];
    AfRational r;
    if (i == j || ((op == '+' || op == '*') && j < i) || af_numbers_apply(op, atoms[i].v, atoms[j].v, &r)) return 0;
    int m = 0;
    for (int t = 0; t < k; t++)
        if (t != i && t != j) next[m++] = atoms[t];
    next[m].v = r;
    snprintf(next[m].ref, sizeof next[m].ref, "%s", ref);
    snprintf(text, AF_NUMBERS_STEP_LEN, "calculator %s%c%s", atoms[i].ref, op, atoms[j].ref);
    return m + 1;
}

/* Whether the values v[0..k) reach target: the search of af_numbers_solve on the values
 * alone (no names, no action text), for callers that only ask whether a solution exists
 * (the generator, the explorer). The same steps exist as in af_numbers_step. */
static int reachable(const AfRational *v, int k, AfRational target) {
    if (k == 1) return af_rat_eq(v[0], target);
    static const char ops[4] = {'+', '-', '*', '/'};
    AfRational next[AF_NUMBERS_MAX];
    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++) {
            if (i == j) continue;
            int m = 0;
            for (int t = 0; t < k; t++)
                if (t != i && t != j) next[m++] = v[t];
            for (int o = 0; o < 4; o++) {
                if ((ops[o] == '+' || ops[o] == '*') && j < i) continue;
                if (af_numbers_apply(ops[o], v[i], v[j], &next[m])) continue;
                if (reachable(next, m + 1, target)) return 1;
            }
        }
    return 0;
}

/* Depth-first search over pairwise combinations; fills steps[0..k-2] on success. */
int af_numbers_solve(AfNumAtom *atoms, int k, AfRational target, int step, char (*steps)[AF_NUMBERS_STEP_LEN]) {
    if (k == 1) return af_rat_eq(atoms[0].v, target);
    if (!steps && k <= AF_NUMBERS_MAX) {
        AfRational v[AF_NUMBERS_MAX];
        for (int i = 0; i < k; i++) v[i] = atoms[i].v;
        return reachable(v, k, target);
    }
    char ref[16], text[AF_NUMBERS_STEP_LEN];
    snprintf(ref, sizeof ref, "#%d", step + 1);
    for (int s = 0; s < 4 * k * k; s++) {
        AfNumAtom next[AF_NUMBERS_MAX];
        const int m = af_numbers_step(atoms, k, s, ref, next, text);
        if (!m) continue;
        if (steps) memcpy(steps[step], text, AF_NUMBERS_STEP_LEN);
        if (af_numbers_solve(next, m, target, step + 1, steps)) return 1;
    }
    return 0;
}

int af_numbers_solve_ints(const int64_t *nums, int n, AfRational target, char (*steps)[AF_NUMBERS_STEP_LEN]) {
    AfNumAtom atoms[AF_NUMBERS_MAX];
    if (n < 1 || n > AF_NUMBERS_MAX) return 0;
    if (!steps) {
        AfRational v[AF_NUMBERS_MAX];
        for (int i = 0; i < n; i++) v[i] = af_rat_int(nums[i]);
        return reachable(v, n, target);
    }
    for (int i = 0; i < n; i++) {
        atoms[i].v = af_rat_int(nums[i]);
        snprintf(atoms[i].ref, sizeof atoms[i].ref, "$%d", i + 1);
    }
    return af_numbers_solve(atoms, n, target, 0, steps);
}
