/* Exact rationals and the calculator: known values, overflow and division-by-zero
 * detection, the tool's error results, and garbage input that must never crash.
 * With --emit N SEED it prints N random expressions and their values ("expr\tvalue" or
 * "expr\tERR <code>") for tests/test_calc_ref.py to check against Python's fractions. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/rng.h"
#include "env/calc.h"
#include "env/numbers_solver.h"
#include "env/suite.h"
#include "test_util.h"

static void check_value(const char *expr, const char *want) {
    AfCalcInfo info;
    char err[128], got[64];
    int rc = af_calc_eval(expr, &info, err, sizeof err);
    CHECK_MSG(rc == 0, "\"%s\": %s", expr, err);
    if (rc) return;
    af_rat_format(info.value, got, sizeof got);
    CHECK_MSG(!strcmp(got, want), "\"%s\" = %s, want %s", expr, got, want);
}

static void check_error(const char *expr, int want_rc, const char *want_msg) {
    AfCalcInfo info;
    char err[128];
    int rc = af_calc_eval(expr, &info, err, sizeof err);
    CHECK_MSG(rc == want_rc, "\"%s\": rc %d, want %d (%s)", expr, rc, want_rc, err);
    const char *e = err;
    CHECK_STR_CONTAINS(e, want_msg);
}

static void random_expr(AfRng *r, int depth, char *buf, size_t cap, size_t *len) {
    uint32_t k = af_rng_below(r, depth > 4 ? 2 : 6);
    if (k < 2 || depth > 6) {
        /* literals: mostly small, sometimes large enough to overflow */
        uint64_t v = af_rng_below(r, 10) == 0 ? af_rng_u64(r) >> af_rng_below(r, 64) : af_rng_below(r, 30);
        *len += (size_t)snprintf(buf + *len, cap - *len, "%llu", (unsigned long long)v);
        return;
    }
    if (k == 2) {
        *len += (size_t)snprintf(buf + *len, cap - *len, "-");
        random_expr(r, depth + 1, buf, cap, len);
        return;
    }
    static const char ops[] = "+-*/";
    *len += (size_t)snprintf(buf + *len, cap - *len, "(");
    random_expr(r, depth + 1, buf, cap, len);
    *len += (size_t)snprintf(buf + *len, cap - *len, "%c", ops[af_rng_below(r, 4)]);
    random_expr(r, depth + 1, buf, cap, len);
    *len += (size_t)snprintf(buf + *len, cap - *len, ")");
}

static int emit(int n, uint64_t seed) {
    AfRng r;
    af_rng_init(&r, seed, AF_RNG_TEST, 0, 0, 0);
    for (int i = 0; i < n; i++) {
        char buf[1024], val[64];
        size_t len = 0;
        random_expr(&r, 0, buf, sizeof buf, &len);
        AfCalcInfo info;
        int rc = af_calc_eval(buf, &info, NULL, 0);
        if (rc == 0) {
            af_rat_format(info.value, val, sizeof val);
            printf("%s\t%s\n", buf, val);
        } else {
            printf("%s\tERR %d\n", buf, rc);
        }
    }
    return 0;
}

/* The reference normalisation: 128-bit gcd and division throughout (what every operation
 * computed before the 64-bit fast path). */
static int ref_make(__int128 num, __int128 den, AfRational *out) {
    if (den == 0) return AF_EINVAL;
    if (den < 0) num = -num, den = -den;
    __int128 a = num < 0 ? -num : num, b = den;
    while (b) {
        __int128 t = a % b;
        a = b, b = t;
    }
    if (a == 0) a = 1;
    num /= a, den /= a;
    if (num > INT64_MAX || num < -(__int128)INT64_MAX || den > INT64_MAX) return AF_ERANGE;
    out->num = (int64_t)num;
    out->den = num == 0 ? 1 : (int64_t)den;
    return 0;
}

/* A random normalised rational whose parts are small, near 2^31, near 2^62 or near
 * INT64_MAX, either sign. */
static AfRational rand_rat(AfRng *rng) {
    static const int64_t scale[4] = {16, 1ll << 31, 1ll << 62, INT64_MAX};
    int64_t p[2];
    for (int i = 0; i < 2; i++) {
        const int64_t s = scale[af_rng_below(rng, 4)];
        p[i] = s - (int64_t)(af_rng_u64(rng) % (uint64_t)(s < 1000 ? s : 1000));
    }
    if (p[1] <= 0) p[1] = 1;
    if (af_rng_below(rng, 2)) p[0] = -p[0];
    AfRational r;
    if (ref_make(p[0], p[1], &r)) r = af_rat_int(1);
    return r;
}

/* add, sub, mul, div against the 128-bit reference on random operands. */
static void check_rational_ops(void) {
    AfRng rng;
    af_rng_init(&rng, 7, AF_RNG_ENV, 0, 1, 0);
    int fails = 0, ranges = 0;
    for (int it = 0; it < 40000; it++) {
        const AfRational a = rand_rat(&rng), b = af_rng_below(&rng, 8) ? rand_rat(&rng) : af_rat_int(0);
        AfRational got[4], want[4];
        int rg[4], rw[4];
        rg[0] = af_rat_add(a, b, &got[0]);
        rw[0] = ref_make((__int128)a.num * b.den + (__int128)b.num * a.den, (__int128)a.den * b.den, &want[0]);
        rg[1] = af_rat_sub(a, b, &got[1]);
        rw[1] = ref_make((__int128)a.num * b.den - (__int128)b.num * a.den, (__int128)a.den * b.den, &want[1]);
        rg[2] = af_rat_mul(a, b, &got[2]);
        rw[2] = ref_make((__int128)a.num * b.num, (__int128)a.den * b.den, &want[2]);
        rg[3] = af_rat_div(a, b, &got[3]);
        rw[3] = ref_make((__int128)a.num * b.den, (__int128)a.den * b.num, &want[3]);
        for (int o = 0; o < 4; o++) {
            ranges += rw[o] == AF_ERANGE;
            if (rg[o] != rw[o] || (!rw[o] && !af_rat_eq(got[o], want[o]))) fails++;
        }
    }
    CHECK_MSG(fails == 0, "%d rational results differ from the 128-bit reference", fails);
    CHECK(ranges > 1000); /* the overflow side was exercised */
    fprintf(stderr, "rationals: %d of %d results overflow\n", ranges, 4 * 40000);
    AfRational c;
    CHECK(af_rat_div(af_rat_int(3), (AfRational){-4, 7}, &c) == 0 && c.num == -21 && c.den == 4);
    CHECK(af_rat_div(af_rat_int(3), (AfRational){INT64_MIN, 1}, &c) == AF_ERANGE);
}

/* The value-only search (steps NULL) agrees with the search that writes the steps: every
 * 4-number game24 question (1362 of the 1820 are solvable) and random 5-number puzzles. */
static void check_solver_paths(void) {
    char steps[AF_NUMBERS_MAX][AF_NUMBERS_STEP_LEN];
    int solvable = 0, differ = 0;
    for (int a = 1; a <= 13; a++)
        for (int b = a; b <= 13; b++)
            for (int c = b; c <= 13; c++)
                for (int d = c; d <= 13; d++) {
                    const int64_t nums[4] = {a, b, c, d};
                    const int fast = af_numbers_solve_ints(nums, 4, af_rat_int(24), NULL);
                    solvable += fast;
                    differ += fast != af_numbers_solve_ints(nums, 4, af_rat_int(24), steps);
                }
    CHECK_MSG(solvable == 1362 && differ == 0, "game24: %d solvable, %d differ", solvable, differ);
    AfRng rng;
    af_rng_init(&rng, 3, AF_RNG_ENV, 0, 1, 0);
    int found = 0;
    differ = 0;
    for (int it = 0; it < 16; it++) {
        int64_t nums[5];
        for (int i = 0; i < 5; i++) nums[i] = 1 + af_rng_below(&rng, 99);
        const AfRational target = af_rat_int(1 + af_rng_below(&rng, 999));
        const int fast = af_numbers_solve_ints(nums, 5, target, NULL);
        found += fast;
        differ += fast != af_numbers_solve_ints(nums, 5, target, steps);
    }
    CHECK_MSG(differ == 0 && found > 0 && found < 16, "5 numbers: %d found, %d differ", found, differ);
    fprintf(stderr, "solver: %d of 16 five-number puzzles solvable\n", found);
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "--emit")) return emit(atoi(argv[2]), strtoull(argv[3], NULL, 10));

    /* rationals */
    check_rational_ops();
    check_solver_paths();
    AfRational a, b, c;
    CHECK(af_rat_make(6, -4, &a) == 0 && a.num == -3 && a.den == 2);
    CHECK(af_rat_make(0, -7, &a) == 0 && a.num == 0 && a.den == 1);
    CHECK(af_rat_make(1, 0, &a) == AF_EINVAL);
    CHECK(af_rat_make(INT64_MIN, 1, &a) == AF_ERANGE);
    CHECK(af_rat_add(af_rat_int(INT64_MAX), af_rat_int(1), &c) == AF_ERANGE);
    CHECK(af_rat_mul(af_rat_int(INT64_MAX), af_rat_int(2), &c) == AF_ERANGE);
    CHECK(af_rat_sub(af_rat_int(-INT64_MAX), af_rat_int(2), &c) == AF_ERANGE);
    CHECK(af_rat_div(af_rat_int(3), af_rat_int(0), &c) == AF_EINVAL);
    /* cross-reduction keeps representable products exact */
    CHECK(af_rat_make(INT64_MAX, 3, &a) == 0 && af_rat_make(3, INT64_MAX, &b) == 0);
    CHECK(af_rat_mul(a, b, &c) == 0 && c.num == 1 && c.den == 1);
    /* denominators whose lcm overflows */
    CHECK(af_rat_make(1, 4294967296, &a) == 0 && af_rat_make(1, 4294967291, &b) == 0);
    CHECK(af_rat_add(a, b, &c) == AF_ERANGE);
    CHECK(af_rat_make(1, 3037000493, &a) == 0 && af_rat_make(1, 3037000453, &b) == 0);
    CHECK(af_rat_add(a, b, &c) == 0 && c.den == 3037000493ll * 3037000453ll);

    CHECK(af_rat_parse(" 1.25 ", &a) == 0 && a.num == 5 && a.den == 4);
    CHECK(af_rat_parse("-3/6", &a) == 0 && a.num == -1 && a.den == 2);
    CHECK(af_rat_parse("24", &a) == 0 && a.num == 24);
    CHECK(af_rat_parse("", &a) == AF_EINVAL);
    CHECK(af_rat_parse("1/0", &a) == AF_EINVAL);
    CHECK(af_rat_parse("1/", &a) == AF_EINVAL);
    CHECK(af_rat_parse(".", &a) == AF_EINVAL);
    CHECK(af_rat_parse("1 2", &a) == AF_EINVAL);
    CHECK(af_rat_parse("abc", &a) == AF_EINVAL);
    CHECK(af_rat_parse("99999999999999999999", &a) == AF_ERANGE);
    CHECK(af_rat_parse(NULL, &a) == AF_EINVAL);
    char fb[48];
    af_rat_format((AfRational){-8, 3}, fb, sizeof fb);
    CHECK(!strcmp(fb, "-8/3"));

    /* expressions */
    check_value("8/(3-8/3)", "24");
    check_value(" 1 + 2 * 3 ", "7");
    check_value("(1+2)*3", "9");
    check_value("7-2-1", "4");          /* left associative */
    check_value("64/4/2", "8");         /* left associative */
    check_value("2*-3", "-6");
    check_value("--3", "3");
    check_value("1/3+1/6", "1/2");
    check_value("9223372036854775807", "9223372036854775807");
    check_value("((((((((((1))))))))))", "1");
    /* an unreduced intermediate overflows int64 but the result fits (found by test_calc_ref.py) */
    check_value("((((13/(100046350264766741-23))+27)-(20/(28-(11*20))))-23)", "1094951722342169115/266790267372711248");
    check_error("1/0", AF_ETOOL, "division by zero");
    check_error("1/(2-2)", AF_ETOOL, "division by zero");
    check_error("9223372036854775807+1", AF_ERANGE, "overflow");
    check_error("99999999999999999999", AF_ERANGE, "overflow");
    check_error("3037000500*3037000500", AF_ERANGE, "overflow");
    check_error("", AF_EINVAL, "empty");
    check_error("   ", AF_EINVAL, "empty");
    check_error("1+", AF_EINVAL, "end of expression");
    check_error("(1+2", AF_EINVAL, "expected ')'");
    check_error("1+2)", AF_EINVAL, "unexpected ')'");
    check_error("2x3", AF_EINVAL, "unexpected 'x'");
    check_error("1.5", AF_EINVAL, "unexpected '.'");
    check_error("#1+2", AF_EINVAL, "found '#'");
    check_error("1 2", AF_EINVAL, "unexpected '2'");
    check_error("\x01", AF_EINVAL, "byte 0x01");
    {
        char deep[200];
        memset(deep, '(', 100);
        deep[100] = '1';
        memset(deep + 101, ')', 98);
        deep[199] = '\0';
        check_error(deep, AF_EINVAL, "nested deeper");
        memset(deep, '-', 198);
        deep[198] = '1';
        deep[199] = '\0';
        check_error(deep, AF_EINVAL, "nested deeper");
        char many[200] = "";
        for (int i = 0; i < 40; i++) strcat(many, "1+");
        strcat(many, "1");
        check_error(many, AF_EINVAL, "more than");
        char longx[AF_CALC_MAX_LEN + 10];
        memset(longx, '1', sizeof longx - 1);
        longx[sizeof longx - 1] = '\0';
        check_error(longx, AF_EINVAL, "longer than");
    }
    AfCalcInfo info;
    CHECK(af_calc_eval("3*(4+5)-3", &info, NULL, 0) == 0);
    CHECK(info.n_literals == 4 && info.literals[0] == 3 && info.literals[3] == 3 && !info.unary_minus);
    CHECK(af_calc_eval("-3", &info, NULL, 0) == 0 && info.unary_minus);
    CHECK(af_calc_eval(NULL, &info, NULL, 0) == AF_EINVAL);

    /* the tool */
    AfTool *t = NULL;
    CHECK(af_calc_tool_create(&t) == 0 && !strcmp(t->name, "calculator"));
    AfToolResult r;
    CHECK(t->call(t, "8/(3-8/3)", 1.0, &r) == 0 && r.status == AF_TOOL_OK && !strcmp(r.text, "24"));
    af_tool_result_free(&r);
    CHECK(t->call(t, "2/6", 0, &r) == 0 && r.status == AF_TOOL_OK && !strcmp(r.text, "1/3") && r.len == 3);
    af_tool_result_free(&r);
    const char *bad[] = {"1/0", "", "(((", "1+*2", "99999999999999999999*9", "rm -rf /", "\xff\xfe", "1/(3-3)"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(t->call(t, bad[i], 1.0, &r) == 0);
        CHECK_MSG(r.status == AF_TOOL_ERROR && r.text && r.len > 0, "calculator(\"%s\") -> %d", bad[i], r.status);
        af_tool_result_free(&r);
    }
    af_tool_destroy(t);
    af_tool_destroy(NULL);

    /* garbage: random bytes and random mutations of valid expressions never crash */
    AfRng rng;
    af_rng_init(&rng, 3, AF_RNG_TEST, 0, 1, 0);
    static const char alphabet[] = "0123456789+-*/() #x.\t";
    int ok = 0, errs = 0;
    for (int i = 0; i < 20000; i++) {
        char buf[96];
        size_t n = af_rng_below(&rng, sizeof buf - 1);
        for (size_t j = 0; j < n; j++)
            buf[j] = i % 2 ? (char)(1 + af_rng_below(&rng, 255)) : alphabet[af_rng_below(&rng, sizeof alphabet - 1)];
        buf[n] = '\0';
        char err[128];
        int rc = af_calc_eval(buf, &info, err, sizeof err);
        if (rc == 0) ok++;
        else {
            errs++;
            CHECK(rc == AF_EINVAL || rc == AF_ERANGE || rc == AF_ETOOL);
            CHECK(err[0] != '\0');
        }
    }
    CHECK(ok > 0 && errs > 0);
    fprintf(stderr, "garbage: %d parsed, %d rejected\n", ok, errs);
    TEST_MAIN_END();
}
