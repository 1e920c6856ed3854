/* Exact rationals with checked int64 arithmetic (see rational.h). */
#include "env/rational.h"

#include <ctype.h>
#include <stdio.h>

#include "common/error.h"

static int64_t gcd64(int64_t a, int64_t b) {
    /* Inputs are > INT64_MIN, so the absolute values fit. */
    if (a < 0) a = -a;
    if (b < 0) b = -b;
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

int af_rat_make(int64_t num, int64_t den, AfRational *out) {
    if (den == 0) return AF_EINVAL;
    if (num == INT64_MIN || den == INT64_MIN) return AF_ERANGE;
    if (den < 0) {
        num = -num;
        den = -den;
    }
    int64_t g = gcd64(num, den);
    if (g == 0) g = 1;
    out->num = num / g;
    out->den = den / g;
    if (out->num == 0) out->den = 1;
    return 0;
}

/* Exact 128-bit intermediate, reduced, then checked to fit: an operation fails only
 * when the true normalised result does not fit in int64. */
static __int128 gcd128(__int128 a, __int128 b) {
    if (a < 0) a = -a;
    if (b < 0) b = -b;
    while (b) {
        __int128 t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static int make128(__int128 num, __int128 den, AfRational *out) {
    if (den == 0) return AF_EINVAL;
    /* Both within int64 (the usual case: small puzzle numbers): the same normalised value
     * by 64-bit division, which is many times cheaper than the 128-bit one. */
    if (num > INT64_MIN && num <= INT64_MAX && den > INT64_MIN && den <= INT64_MAX)
        return af_rat_make((int64_t)num, (int64_t)den, out);
    if (den < 0) {
        num = -num;
        den = -den;
    }
    __int128 g = gcd128(num, den);
    if (g == 0) g = 1;
    num /= g;
    den /= g;
    if (num > INT64_MAX || num < -(__int128)INT64_MAX || den > INT64_MAX) return AF_ERANGE;
    out->num = (int64_t)num;
    out->den = num == 0 ? 1 : (int64_t)den;
    return 0;
}

int af_rat_add(AfRational a, AfRational b, AfRational *out) {
    __int128 n = (__int128)a.num * b.den + (__int128)b.num * a.den;
    return make128(n, (__int128)a.den * b.den, out);
}

int af_rat_neg(AfRational a, AfRational *out) {
    if (a.num == INT64_MIN) return AF_ERANGE;
    out->num = -a.num;
    out->den = a.den;
    return 0;
}

int af_rat_sub(AfRational a, AfRational b, AfRational *out) {
    AfRational nb;
    int rc = af_rat_neg(b, &nb);
    if (rc) return rc;
    return af_rat_add(a, nb, out);
}

int af_rat_mul(AfRational a, AfRational b, AfRational *out) {
    return make128((__int128)a.num * b.num, (__int128)a.den * b.den, out);
}

int af_rat_div(AfRational a, AfRational b, AfRational *out) {
    if (b.num == 0) return AF_EINVAL;
    if (b.num == INT64_MIN) return AF_ERANGE;
    /* b is normalised, so its inverse needs no reduction, only the sign moved up */
    const AfRational inv = b.num < 0 ? (AfRational){-b.den, -b.num} : (AfRational){b.den, b.num};
    return af_rat_mul(a, inv, out);
}

int af_rat_eq(AfRational a, AfRational b) { return a.num == b.num && a.den == b.den; }
int af_rat_is_int(AfRational a) { return a.den == 1; }

size_t af_rat_format(AfRational a, char *buf, size_t cap) {
    int n;
    if (a.den == 1) n = snprintf(buf, cap, "%lld", (long long)a.num);
    else n = snprintf(buf, cap, "%lld/%lld", (long long)a.num, (long long)a.den);
    if (n < 0) n = 0;
    return (size_t)n < cap ? (size_t)n : (cap ? cap - 1 : 0);
}

/* Parse unsigned digits at *p into v; returns number of digits or -1 on overflow. */
static int parse_digits(const char **p, int64_t *v, int64_t *scale) {
    int n = 0;
    *v = 0;
    if (scale) *scale = 1;
    while (isdigit((unsigned char)**p)) {
        if (__builtin_mul_overflow(*v, 10, v) || __builtin_add_overflow(*v, **p - '0', v)) return -1;
        if (scale && __builtin_mul_overflow(*scale, 10, scale)) return -1;
        (*p)++;
        n++;
    }
    return n;
}

int af_rat_parse(const char *s, AfRational *out) {
    if (!s) return AF_EINVAL;
    const char *p = s;
    while (isspace((unsigned char)*p)) p++;
    int neg = 0;
    if (*p == '-' || *p == '+') {
        neg = *p == '-';
        p++;
    }
    int64_t ip = 0, fp = 0, scale = 1;
    int ni = parse_digits(&p, &ip, NULL);
    if (ni < 0) return AF_ERANGE;
    AfRational r;
    if (*p == '.') {
        p++;
        int nf = parse_digits(&p, &fp, &scale);
        if (nf < 0) return AF_ERANGE;
        if (ni == 0 && nf == 0) return AF_EINVAL;
        int64_t n;
        if (__builtin_mul_overflow(ip, scale, &n) || __builtin_add_overflow(n, fp, &n)) return AF_ERANGE;
        if (af_rat_make(n, scale, &r)) return AF_ERANGE;
    } else if (*p == '/') {
        if (ni == 0) return AF_EINVAL;
        p++;
        int64_t d;
        int nd = parse_digits(&p, &d, NULL);
        if (nd < 0) return AF_ERANGE;
        if (nd == 0 || d == 0) return AF_EINVAL;
        if (af_rat_make(ip, d, &r)) return AF_ERANGE;
    } else {
        if (ni == 0) return AF_EINVAL;
        r = af_rat_int(ip);
    }
    while (isspace((unsigned char)*p)) p++;
    if (*p) return AF_EINVAL;
    if (neg && af_rat_neg(r, &r)) return AF_ERANGE;
    *out = r;
    return 0;
}
