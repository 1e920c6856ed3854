/* The exhaustive solver of the number suites (game24, countdown): a depth-first search over
 * pairwise combinations of the numbers left, in a fixed search order, with exact rational
 * arithmetic (env/rational.h). The oracle plays the first solution in this order, the
 * explorer enumerates the same steps, and the game24 generator keeps the solvable puzzles. */
#ifndef AF_ENV_NUMBERS_SOLVER_H
#define AF_ENV_NUMBERS_SOLVER_H

#include <stdint.h>

#include "env/rational.h"

#define AF_NUMBERS_MAX 8       /* numbers in a puzzle at most */
#define AF_NUMBERS_STEP_LEN 96 /* bytes of one step's action text */

/* One number left to combine: its value and how an action refers to it ("$2", "#1"). */
typedef struct AfNumAtom {
    AfRational v;
    char ref[24];
} AfNumAtom;

/* r = a op b for op in + - * /. Returns 0, or non-zero on overflow or division by zero. */
int af_numbers_apply(char op, AfRational a, AfRational b, AfRational *r);

/* Step s of the state atoms[0..k), 0 <= s < 4k^2 in search order (first operand i = s /
 * 4k, second j = s / 4 mod k, operator + - * / = s mod 4): the next state into next (the
 * atoms not used, then the result, named ref), the action "calculator A op B" into text
 * (AF_NUMBERS_STEP_LEN bytes). Returns the next state's size, or 0 if the step does not
 * exist (i == j, the commuted twin of a + or *, division by zero, overflow). */
int af_numbers_step(const AfNumAtom *atoms, int k, int s, const char *ref, AfNumAtom *next, char *text);

/* Whether the state atoms[0..k) can reach target; with steps non-NULL the first solution
 * in search order fills steps[step .. step + k - 2], the results named "#(step + 1)"...
 * With steps NULL only the values are searched (no names or text formatted). */
int af_numbers_solve(AfNumAtom *atoms, int k, AfRational target, int step, char (*steps)[AF_NUMBERS_STEP_LEN]);

/* The same from the question's numbers nums[0..n) (n <= AF_NUMBERS_MAX), named "$1".."$n". */
int af_numbers_solve_ints(const int64_t *nums, int n, AfRational target, char (*steps)[AF_NUMBERS_STEP_LEN]);

#endif
