/* Exact rational arithmetic on 64-bit numerators and denominators, with overflow detection.
 *
 * A value is always normalised: den > 0, gcd(|num|, den) == 1, zero is 0/1. Every
 * operation returns 0 or a negative code and never wraps: it computes the exact result
 * with 128-bit intermediates and returns AF_ERANGE only when the normalised result (or
 * an operand such as INT64_MIN) does not fit in int64; AF_EINVAL on division by zero. The game24/countdown/arith suites and the calculator tool use it so that
 * 8/(3-8/3) is exactly 24. */
#ifndef AF_ENV_RATIONAL_H
#define AF_ENV_RATIONAL_H

#include <stddef.h>
#include <stdint.h>

typedef struct AfRational {
    int64_t num;
    int64_t den; /* > 0 */
} AfRational;

/* num/den normalised. AF_EINVAL if den == 0, AF_ERANGE if normalising overflows
 * (INT64_MIN involved). */
int af_rat_make(int64_t num, int64_t den, AfRational *out);
static inline AfRational af_rat_int(int64_t v) { AfRational r = {v, 1}; return r; }

int af_rat_add(AfRational a, AfRational b, AfRational *out); /* AF_ERANGE on overflow */
int af_rat_sub(AfRational a, AfRational b, AfRational *out); /* AF_ERANGE on overflow */
int af_rat_mul(AfRational a, AfRational b, AfRational *out); /* AF_ERANGE on overflow */
int af_rat_div(AfRational a, AfRational b, AfRational *out); /* AF_EINVAL if b == 0, AF_ERANGE on overflow */
int af_rat_neg(AfRational a, AfRational *out);               /* AF_ERANGE for INT64_MIN */

int af_rat_eq(AfRational a, AfRational b);     /* 1 if equal (both normalised) */
int af_rat_is_int(AfRational a);               /* 1 if den == 1 */

/* Writes "n" or "n/d" (with a leading '-' when negative) into buf (at most cap bytes
 * including the NUL; 48 always suffices). Returns the length. */
size_t af_rat_format(AfRational a, char *buf, size_t cap);

/* Parses a whole string "n", "-n", "n/d" or a decimal "1.25" (surrounding spaces
 * allowed). Returns 0, AF_EINVAL if it is not a number, AF_ERANGE if it overflows. */
int af_rat_parse(const char *s, AfRational *out);

#endif
