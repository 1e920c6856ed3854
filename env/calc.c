/* Recursive-descent evaluator over exact rationals, and the calculator tool. */
#include "env/calc.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

typedef struct {
    const char *s;
    size_t pos;
    int depth;
    int rc;
    char *err;
    size_t cap;
    AfCalcInfo *info;
} Parser;

static int fail(Parser *p, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(Parser *p, int rc, const char *fmt, ...) {
    if (p->rc == 0) {
        p->rc = rc;
        if (p->err && p->cap) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(p->err, p->cap, fmt, ap);
            va_end(ap);
        }
    }
    return p->rc;
}

static void skip_ws(Parser *p) {
    while (p->s[p->pos] == ' ' || p->s[p->pos] == '\t') p->pos++;
}

static int parse_expr(Parser *p, AfRational *out);

static void describe(const Parser *p, char *buf, size_t cap) {
    unsigned char c = (unsigned char)p->s[p->pos];
    if (!c) snprintf(buf, cap, "end of expression");
    else if (isprint(c)) snprintf(buf, cap, "'%c' at %zu", c, p->pos + 1);
    else snprintf(buf, cap, "byte 0x%02x at %zu", c, p->pos + 1);
}

static int parse_primary(Parser *p, AfRational *out) {
    skip_ws(p);
    char c = p->s[p->pos];
    if (c == '(') {
        if (++p->depth > AF_CALC_MAX_DEPTH) return fail(p, AF_EINVAL, "bad expression: nested deeper than %d", AF_CALC_MAX_DEPTH);
        p->pos++;
        if (parse_expr(p, out)) return p->rc;
        skip_ws(p);
        if (p->s[p->pos] != ')') {
            char d[48];
            describe(p, d, sizeof d);
            return fail(p, AF_EINVAL, "bad expression: expected ')' but found %s", d);
        }
        p->pos++;
        p->depth--;
        return 0;
    }
    if (isdigit((unsigned char)c)) {
        int64_t v = 0;
        size_t start = p->pos;
        while (isdigit((unsigned char)p->s[p->pos])) {
            if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, p->s[p->pos] - '0', &v))
                return fail(p, AF_ERANGE, "overflow: number at %zu is too large", start + 1);
            p->pos++;
        }
        if (p->info->n_literals >= AF_CALC_MAX_LITERALS)
            return fail(p, AF_EINVAL, "bad expression: more than %d numbers", AF_CALC_MAX_LITERALS);
        p->info->literals[p->info->n_literals++] = v;
        *out = af_rat_int(v);
        return 0;
    }
    char d[48];
    describe(p, d, sizeof d);
    return fail(p, AF_EINVAL, "bad expression: expected a number or '(' but found %s", d);
}

static int parse_unary(Parser *p, AfRational *out) {
    skip_ws(p);
    if (p->s[p->pos] == '-') {
        if (++p->depth > AF_CALC_MAX_DEPTH) return fail(p, AF_EINVAL, "bad expression: nested deeper than %d", AF_CALC_MAX_DEPTH);
        p->pos++;
        p->info->unary_minus = 1;
        AfRational v;
        if (parse_unary(p, &v)) return p->rc;
        p->depth--;
        if (af_rat_neg(v, out)) return fail(p, AF_ERANGE, "overflow");
        return 0;
    }
    return parse_primary(p, out);
}

static int parse_term(Parser *p, AfRational *out) {
    AfRational acc;
    if (parse_unary(p, &acc)) return p->rc;
    for (;;) {
        skip_ws(p);
        char op = p->s[p->pos];
        if (op != '*' && op != '/') break;
        size_t at = p->pos;
        p->pos++;
        AfRational rhs;
        if (parse_unary(p, &rhs)) return p->rc;
        int rc = op == '*' ? af_rat_mul(acc, rhs, &acc) : af_rat_div(acc, rhs, &acc);
        if (rc == AF_EINVAL) return fail(p, AF_ETOOL, "division by zero at %zu", at + 1);
        if (rc) return fail(p, AF_ERANGE, "overflow at %zu", at + 1);
    }
    *out = acc;
    return 0;
}

static int parse_expr(Parser *p, AfRational *out) {
    AfRational acc;
    if (parse_term(p, &acc)) return p->rc;
    for (;;) {
        skip_ws(p);
        char op = p->s[p->pos];
        if (op != '+' && op != '-') break;
        size_t at = p->pos;
        p->pos++;
        AfRational rhs;
        if (parse_term(p, &rhs)) return p->rc;
        int rc = op == '+' ? af_rat_add(acc, rhs, &acc) : af_rat_sub(acc, rhs, &acc);
        if (rc) return fail(p, AF_ERANGE, "overflow at %zu", at + 1);
    }
    *out = acc;
    return 0;
}

int af_calc_eval(const char *expr, AfCalcInfo *info, char *err, size_t cap) {
    AfCalcInfo tmp;
    memset(&tmp, 0, sizeof tmp);
    Parser p = {.s = expr ? expr : "", .err = err, .cap = cap, .info = &tmp};
    if (err && cap) err[0] = '\0';
    size_t len = strnlen(p.s, AF_CALC_MAX_LEN + 1);
    if (len > AF_CALC_MAX_LEN) return fail(&p, AF_EINVAL, "bad expression: longer than %d bytes", AF_CALC_MAX_LEN);
    skip_ws(&p);
    if (!p.s[p.pos]) return fail(&p, AF_EINVAL, "bad expression: empty");
    AfRational v;
    if (parse_expr(&p, &v)) return p.rc;
    skip_ws(&p);
    if (p.s[p.pos]) {
        char d[48];
        describe(&p, d, sizeof d);
        return fail(&p, AF_EINVAL, "bad expression: unexpected %s", d);
    }
    tmp.value = v;
    *info = tmp;
    return 0;
}

static int calc_call(AfTool *self, const char *arg, double timeout_s, AfToolResult *out) {
    (void)self;
    (void)timeout_s; /* evaluation is bounded by AF_CALC_MAX_LEN: microseconds */
    AfCalcInfo info;
    char err[160];
    int rc = af_calc_eval(arg, &info, err, sizeof err);
    if (rc) return af_tool_result_set(out, AF_TOOL_ERROR, "%s", err);
    char buf[48];
    af_rat_format(info.value, buf, sizeof buf);
    return af_tool_result_set(out, AF_TOOL_OK, "%s", buf);
}

int af_calc_tool_create(AfTool **out) {
    AfTool *t = calloc(1, sizeof *t);
    if (!t) return af_error_set(AF_ENOMEM, "calculator tool");
    t->name = "calculator";
    t->description = "exact arithmetic: + - * / ( )";
    t->call = calc_call;
    *out = t;
    return 0;
}
