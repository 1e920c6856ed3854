/* Evaluator of the Jinja2 subset: walks the syntax tree with Python semantics (scopes
 * per loop iteration and macro call, Undefined, and/or returning operands), the
 * filters, tests, globals and string/dict methods chat templates use. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "common/jinja.h"
#include "common/jinja_internal.h"

enum { JR_BREAK = 1, JR_CONTINUE = 2 };
#define MAX_DEPTH 200
#define MAX_OUTPUT_BYTES ((size_t)256 << 20)
#define MAX_ARENA_BYTES ((size_t)1 << 30)
#define MAX_RANGE 1000000

typedef struct JFrame {
    struct JFrame *parent;
    JDict vars; /* name -> value, in the frame's scope */
} JFrame;

typedef struct {
    const JTemplate *t;
    JArena arena;
    int depth;
} Ctx;

/* ------------------------------------------------------------------ tables */
enum { F_ABS = 1, F_CAPITALIZE, F_COUNT, F_DEFAULT, F_FIRST, F_FLOAT, F_INT, F_ITEMS, F_JOIN, F_LAST, F_LENGTH,
       F_LIST, F_LOWER, F_MAP, F_REJECT, F_REJECTATTR, F_REPLACE, F_REVERSE, F_SAFE, F_SELECT, F_SELECTATTR,
       F_STRING, F_TITLE, F_TOJSON, F_TRIM, F_UPPER };
static const struct {
    const char *name;
    int id;
} filters[] = {
    {"abs", F_ABS},       {"capitalize", F_CAPITALIZE}, {"count", F_COUNT},   {"d", F_DEFAULT},
    {"default", F_DEFAULT}, {"first", F_FIRST},       {"float", F_FLOAT},     {"int", F_INT},
    {"items", F_ITEMS},   {"join", F_JOIN},             {"last", F_LAST},     {"length", F_LENGTH},
    {"list", F_LIST},     {"lower", F_LOWER},           {"map", F_MAP},       {"reject", F_REJECT},
    {"rejectattr", F_REJECTATTR}, {"replace", F_REPLACE}, {"reverse", F_REVERSE}, {"safe", F_SAFE},
    {"select", F_SELECT}, {"selectattr", F_SELECTATTR}, {"string", F_STRING}, {"title", F_TITLE},
    {"tojson", F_TOJSON}, {"trim", F_TRIM},             {"upper", F_UPPER},
};

enum { T_DEFINED = 1, T_UNDEFINED, T_NONE, T_STRING, T_MAPPING, T_ITERABLE, T_SEQUENCE, T_NUMBER, T_INTEGER,
       T_FLOAT, T_BOOLEAN, T_TRUE, T_FALSE, T_CALLABLE, T_EVEN, T_ODD, T_DIVISIBLEBY, T_EQ, T_NE, T_LT, T_LE,
       T_GT, T_GE, T_IN, T_LOWER, T_UPPER, T_SAMEAS };
static const struct {
    const char *name;
    int id;
} tests[] = {
    {"defined", T_DEFINED}, {"undefined", T_UNDEFINED}, {"none", T_NONE}, {"string", T_STRING},
    {"mapping", T_MAPPING}, {"iterable", T_ITERABLE}, {"sequence", T_SEQUENCE}, {"number", T_NUMBER},
    {"integer", T_INTEGER}, {"float", T_FLOAT}, {"boolean", T_BOOLEAN}, {"true", T_TRUE}, {"false", T_FALSE},
    {"callable", T_CALLABLE}, {"even", T_EVEN}, {"odd", T_ODD}, {"divisibleby", T_DIVISIBLEBY},
    {"eq", T_EQ}, {"equalto", T_EQ}, {"==", T_EQ}, {"ne", T_NE}, {"!=", T_NE}, {"lt", T_LT},
    {"lessthan", T_LT}, {"le", T_LE}, {"gt", T_GT}, {"greaterthan", T_GT}, {"ge", T_GE}, {"in", T_IN},
    {"lower", T_LOWER}, {"upper", T_UPPER}, {"sameas", T_SAMEAS},
};

int jfilter_lookup(const char *name) {
    for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++)
        if (strcmp(filters[i].name, name) == 0) return filters[i].id;
    return 0;
}
int jtest_lookup(const char *name) {
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
        if (strcmp(tests[i].name, name) == 0) return tests[i].id;
    return 0;
}

/* Builtin callables: globals, loop.cycle, and methods bound to a string or dict. */
enum { B_RANGE = 1, B_NAMESPACE, B_RAISE, B_STRFTIME, B_DICT, B_CYCLE,
       B_S_STARTSWITH, B_S_ENDSWITH, B_S_SPLIT, B_S_RSPLIT, B_S_STRIP, B_S_LSTRIP, B_S_RSTRIP, B_S_REPLACE,
       B_S_UPPER, B_S_LOWER, B_S_TITLE, B_S_CAPITALIZE, B_S_FIND, B_S_COUNT, B_S_JOIN, B_S_ISDIGIT,
       B_S_ISSPACE, B_S_ISALPHA,
       B_D_ITEMS, B_D_KEYS, B_D_VALUES, B_D_GET };
static const struct {
    const char *name;
    int id;
} globals[] = {{"range", B_RANGE},   {"namespace", B_NAMESPACE},       {"raise_exception", B_RAISE},
               {"strftime_now", B_STRFTIME}, {"dict", B_DICT}};
static const struct {
    const char *name;
    int id;
} str_methods[] = {{"startswith", B_S_STARTSWITH}, {"endswith", B_S_ENDSWITH}, {"split", B_S_SPLIT},
                   {"rsplit", B_S_RSPLIT}, {"strip", B_S_STRIP}, {"lstrip", B_S_LSTRIP},
                   {"rstrip", B_S_RSTRIP}, {"replace", B_S_REPLACE}, {"upper", B_S_UPPER},
                   {"lower", B_S_LOWER}, {"title", B_S_TITLE}, {"capitalize", B_S_CAPITALIZE},
                   {"find", B_S_FIND}, {"count", B_S_COUNT}, {"join", B_S_JOIN}, {"isdigit", B_S_ISDIGIT},
                   {"isspace", B_S_ISSPACE}, {"isalpha", B_S_ISALPHA}},
  dict_methods[] = {{"items", B_D_ITEMS}, {"keys", B_D_KEYS}, {"values", B_D_VALUES}, {"get", B_D_GET}};

/* ------------------------------------------------------------------ errors */
static int rerr(Ctx *C, const JNode *nd, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int rerr(Ctx *C, const JNode *nd, int code, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line = 0, col = 0;
    jsrc_linecol(C->t->src, C->t->srclen, nd ? nd->pos : 0, &line, &col);
    return af_error_set(code, "chat template:%d:%d: %s", line, col, msg);
}
#define OOM(C) rerr(C, NULL, AF_ENOMEM, "out of memory (or over the render's %zu MiB)", MAX_ARENA_BYTES >> 20)

static int undef_err(Ctx *C, const JNode *nd, JValue v) {
    if (v.u.s.p) return rerr(C, nd, AF_EINVAL, "'%s' is undefined", v.u.s.p);
    return rerr(C, nd, AF_EINVAL, "a value is undefined");
}

/* ------------------------------------------------------------------ frames */
static JFrame *frame_new(Ctx *C, JFrame *parent) {
    JFrame *f = jarena_alloc(&C->arena, sizeof *f);
    if (f) f->parent = parent;
    return f;
}

static int frame_set(Ctx *C, JFrame *f, const char *name, JValue v) {
    return jdict_set(&C->arena, &f->vars, jv_str(name, strlen(name)), v) ? OOM(C) : 0;
}

static JValue mkfunc(Ctx *C, int id, JValue self, const char *name) {
    JFunc *fn = jarena_alloc(&C->arena, sizeof *fn);
    if (!fn) return jv_undef();
    fn->builtin = id;
    fn->self = self;
    fn->name = name;
    JValue v = {0};
    v.t = JV_FUNC;
    v.u.fn = fn;
    return v;
}

static int lookup(Ctx *C, JFrame *f, const char *name, JValue *out) {
    size_t n = strlen(name);
    for (; f; f = f->parent) {
        const JValue *v = jdict_get(&f->vars, name, n);
        if (v) {
            *out = *v;
            return 0;
        }
    }
    for (size_t i = 0; i < sizeof globals / sizeof globals[0]; i++)
        if (strcmp(globals[i].name, name) == 0) {
            *out = mkfunc(C, globals[i].id, jv_none(), globals[i].name);
            return out->t == JV_FUNC ? 0 : OOM(C);
        }
    *out = jv_undef();
    out->u.s.p = name;
    return 0;
}

/* ------------------------------------------------------------------ helpers */
static JValue mkstr(Ctx *C, const char *p, size_t n) {
    char *s = jarena_strndup(&C->arena, p, n);
    if (!s) return jv_undef();
    return jv_str(s, n);
}

/* str(v) as a string value (shares v's bytes when v is a string). */
static int to_strv(Ctx *C, JValue v, JValue *out) {
    if (v.t == JV_STR) {
        *out = v;
        return 0;
    }
    JBuf b = {0};
    jv_to_str(&b, v);
    if (b.oom) {
        free(b.p);
        return OOM(C);
    }
    *out = mkstr(C, b.p ? b.p : "", b.n);
    free(b.p);
    return out->t == JV_STR ? 0 : OOM(C);
}

static JValue mklist(Ctx *C, size_t cap) {
    JValue v = {0};
    v.t = JV_LIST;
    v.u.l = jlist_new(&C->arena, cap);
    if (!v.u.l) v.t = JV_UNDEF;
    return v;
}

static int is_num(JValue v) { return v.t == JV_BOOL || v.t == JV_INT || v.t == JV_FLOAT; }
static int is_intlike(JValue v) { return v.t == JV_BOOL || v.t == JV_INT; }
static int64_t ival(JValue v) { return v.t == JV_INT ? v.u.i : v.u.b; }
static double fval(JValue v) { return v.t == JV_FLOAT ? v.u.f : (double)ival(v); }

/* Byte offsets of each code point (n+1 entries, the last = byte length). */
static size_t *cp_offsets(Ctx *C, JValue s, size_t *count) {
    size_t n = ju_length(s.u.s.p, s.u.s.n);
    size_t *off = jarena_alloc(&C->arena, (n + 1) * sizeof *off);
    if (!off) return NULL;
    size_t i = 0, k = 0;
    while (i < s.u.s.n) {
        off[k++] = i;
        ju_next(s.u.s.p, s.u.s.n, &i);
    }
    off[k] = s.u.s.n;
    *count = n;
    return off;
}

/* The items a for loop or a filter iterates: list items, dict keys, string chars. */
static int iterate(Ctx *C, const JNode *nd, JValue v, JList **out) {
    if (v.t == JV_LIST) {
        *out = v.u.l;
        return 0;
    }
    JValue l = mklist(C, 0);
    if (l.t != JV_LIST) return OOM(C);
    if (v.t == JV_UNDEF) {
        *out = l.u.l;
        return 0;
    }
    if (v.t == JV_DICT && v.u.d->kind == JD_DICT) {
        for (size_t i = 0; i < v.u.d->n; i++)
            if (jlist_push(&C->arena, l.u.l, v.u.d->keys[i])) return OOM(C);
    } else if (v.t == JV_STR) {
        size_t i = 0;
        while (i < v.u.s.n) {
            size_t st = i;
            ju_next(v.u.s.p, v.u.s.n, &i);
            if (jlist_push(&C->arena, l.u.l, jv_str(v.u.s.p + st, i - st))) return OOM(C);
        }
    } else return rerr(C, nd, AF_EINVAL, "'%s' object is not iterable", jv_type_name(v));
    *out = l.u.l;
    return 0;
}

/* ------------------------------------------------------------------ attribute / item */
static int getattr_v(Ctx *C, const JNode *nd, JValue obj, const char *name, JValue *out) {
    *out = jv_undef();
    if (obj.t == JV_UNDEF) return undef_err(C, nd, obj);
    if (obj.t == JV_STR) {
        for (size_t i = 0; i < sizeof str_methods / sizeof str_methods[0]; i++)
            if (strcmp(str_methods[i].name, name) == 0) {
                *out = mkfunc(C, str_methods[i].id, obj, str_methods[i].name);
                return out->t == JV_FUNC ? 0 : OOM(C);
            }
        return 0;
    }
    if (obj.t == JV_DICT) {
        if (obj.u.d->kind == JD_DICT) {
            for (size_t i = 0; i < sizeof dict_methods / sizeof dict_methods[0]; i++)
                if (strcmp(dict_methods[i].name, name) == 0) {
                    *out = mkfunc(C, dict_methods[i].id, obj, dict_methods[i].name);
                    return out->t == JV_FUNC ? 0 : OOM(C);
                }
            static const char *const unsafe[] = {"pop", "popitem", "clear", "update", "setdefault", "copy",
                                                 "fromkeys", NULL};
            for (int i = 0; unsafe[i]; i++)
                if (strcmp(unsafe[i], name) == 0) return 0;
        }
        if (obj.u.d->kind == JD_LOOP && strcmp(name, "cycle") == 0) {
            const JValue *ix = jdict_get(obj.u.d, "index0", 6);
            *out = mkfunc(C, B_CYCLE, ix ? *ix : jv_int(0), "cycle");
            return out->t == JV_FUNC ? 0 : OOM(C);
        }
        const JValue *v = jdict_get(obj.u.d, name, strlen(name));
        if (v) *out = *v;
        return 0;
    }
    return 0; /* other objects: no attributes the subset knows -> undefined */
}

static int getitem_v(Ctx *C, const JNode *nd, JValue obj, JValue key, JValue *out) {
    *out = jv_undef();
    if (obj.t == JV_UNDEF) return undef_err(C, nd, obj);
    if (obj.t == JV_LIST && is_intlike(key)) {
        int64_t i = ival(key), n = (int64_t)obj.u.l->n;
        if (i < 0) i += n;
        if (i >= 0 && i < n) *out = obj.u.l->v[i];
        return 0;
    }
    if (obj.t == JV_STR && is_intlike(key)) {
        size_t n;
        size_t *off = cp_offsets(C, obj, &n);
        if (!off) return OOM(C);
        int64_t i = ival(key);
        if (i < 0) i += (int64_t)n;
        if (i >= 0 && i < (int64_t)n) *out = jv_str(obj.u.s.p + off[i], off[i + 1] - off[i]);
        return 0;
    }
    if (obj.t == JV_DICT) {
        const JValue *v = jdict_getv(obj.u.d, key);
        if (v) {
            *out = *v;
            return 0;
        }
    }
    if (key.t == JV_STR) {
        char *name = jarena_strndup(&C->arena, key.u.s.p, key.u.s.n);
        if (!name) return OOM(C);
        return getattr_v(C, nd, obj, name, out);
    }
    return 0;
}

static int64_t slice_index(JValue v, int64_t len, int64_t lower, int64_t upper, int64_t dflt) {
    if (v.t == JV_NONE || v.t == JV_UNDEF) return dflt;
    int64_t i = ival(v);
    if (i < 0) {
        i += len;
        if (i < lower) i = lower;
    } else if (i > upper) i = upper;
    return i;
}

static int slice_v(Ctx *C, const JNode *nd, JValue obj, JValue a, JValue b, JValue c, JValue *out) {
    if (obj.t == JV_UNDEF) return undef_err(C, nd, obj);
    JValue args[3] = {a, b, c};
    for (int k = 0; k < 3; k++)
        if (!(args[k].t == JV_NONE || args[k].t == JV_UNDEF || is_intlike(args[k])))
            return rerr(C, nd, AF_EINVAL, "slice indices must be integers or None, not %s", jv_type_name(args[k]));
    int64_t step = (c.t == JV_NONE || c.t == JV_UNDEF) ? 1 : ival(c);
    if (step == 0) return rerr(C, nd, AF_EINVAL, "slice step cannot be zero");
    size_t n = 0, *off = NULL;
    if (obj.t == JV_STR) {
        if (!(off = cp_offsets(C, obj, &n))) return OOM(C);
    } else if (obj.t == JV_LIST) n = obj.u.l->n;
    else return rerr(C, nd, AF_EINVAL, "'%s' object is not subscriptable", jv_type_name(obj));
    int64_t len = (int64_t)n, lower = step < 0 ? -1 : 0, upper = step < 0 ? len - 1 : len;
    int64_t start = slice_index(a, len, lower, upper, step < 0 ? upper : lower);
    int64_t stop = slice_index(b, len, lower, upper, step < 0 ? lower : upper);
    if (obj.t == JV_LIST) {
        JValue l = mklist(C, 0);
        if (l.t != JV_LIST) return OOM(C);
        for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step)
            if (jlist_push(&C->arena, l.u.l, obj.u.l->v[i])) return OOM(C);
        l.u.l->tuple = obj.u.l->tuple;
        *out = l;
        return 0;
    }
    JBuf buf = {0};
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step)
        jbuf_put(&buf, obj.u.s.p + off[i], off[i + 1] - off[i]);
    *out = buf.oom ? jv_undef() : mkstr(C, buf.p ? buf.p : "", buf.n);
    free(buf.p);
    return out->t == JV_STR ? 0 : OOM(C);
}

/* ------------------------------------------------------------------ operators */
static int arith(Ctx *C, const JNode *nd, int op, JValue a, JValue b, JValue *out) {
    static const char *const sym[] = {"", "+", "-", "*", "/", "//", "%", "**"};
    if (a.t == JV_UNDEF) return undef_err(C, nd, a);
    if (b.t == JV_UNDEF) return undef_err(C, nd, b);
    if (is_intlike(a) && is_intlike(b)) {
        int64_t x = ival(a), y = ival(b), r = 0;
        switch (op) {
        case OP_ADD: if (__builtin_add_overflow(x, y, &r)) goto overflow; break;
        case OP_SUB: if (__builtin_sub_overflow(x, y, &r)) goto overflow; break;
        case OP_MUL: if (__builtin_mul_overflow(x, y, &r)) goto overflow; break;
        case OP_DIV:
            if (y == 0) return rerr(C, nd, AF_EINVAL, "division by zero");
            *out = jv_float((double)x / (double)y);
            return 0;
        case OP_FLOORDIV:
        case OP_MOD:
            if (y == 0) return rerr(C, nd, AF_EINVAL, "integer division or modulo by zero");
            if (x == INT64_MIN && y == -1) goto overflow;
            r = x / y;
            if ((x % y != 0) && ((x < 0) != (y < 0))) r--;
            if (op == OP_MOD) r = x - r * y;
            break;
        case OP_POW:
            if (y < 0) {
                if (x == 0) return rerr(C, nd, AF_EINVAL, "0.0 cannot be raised to a negative power");
                *out = jv_float(pow((double)x, (double)y));
                return 0;
            }
            r = 1;
            for (int64_t k = 0; k < y; k++)
                if (__builtin_mul_overflow(r, x, &r)) goto overflow;
            break;
        }
        *out = jv_int(r);
        return 0;
    }
    if (is_num(a) && is_num(b)) {
        double x = fval(a), y = fval(b), r = 0;
        switch (op) {
        case OP_ADD: r = x + y; break;
        case OP_SUB: r = x - y; break;
        case OP_MUL: r = x * y; break;
        case OP_DIV:
            if (y == 0) return rerr(C, nd, AF_EINVAL, "float division by zero");
            r = x / y;
            break;
        case OP_FLOORDIV:
        case OP_MOD:
            if (y == 0) return rerr(C, nd, AF_EINVAL, "float modulo by zero");
        {   /* CPython's float_divmod */
            double mod = fmod(x, y), div = (x - mod) / y;
            if (mod != 0 && ((y < 0) != (mod < 0))) {
                mod += y;
                div -= 1.0;
            }
            double fd = floor(div);
            if (div - fd > 0.5) fd += 1.0;
            r = op == OP_MOD ? mod : fd;
            break;
        }
        case OP_POW: r = pow(x, y); break;
        }
        *out = jv_float(r);
        return 0;
    }
    if (op == OP_ADD && a.t == JV_STR && b.t == JV_STR) {
        char *p = jarena_alloc(&C->arena, a.u.s.n + b.u.s.n + 1);
        if (!p) return OOM(C);
        memcpy(p, a.u.s.p, a.u.s.n);
        memcpy(p + a.u.s.n, b.u.s.p, b.u.s.n);
        *out = jv_str(p, a.u.s.n + b.u.s.n);
        return 0;
    }
    if (op == OP_ADD && a.t == JV_LIST && b.t == JV_LIST && a.u.l->tuple == b.u.l->tuple) {
        JValue l = mklist(C, a.u.l->n + b.u.l->n + 1);
        if (l.t != JV_LIST) return OOM(C);
        for (size_t i = 0; i < a.u.l->n; i++) jlist_push(&C->arena, l.u.l, a.u.l->v[i]);
        for (size_t i = 0; i < b.u.l->n; i++) jlist_push(&C->arena, l.u.l, b.u.l->v[i]);
        l.u.l->tuple = a.u.l->tuple;
        *out = l;
        return 0;
    }
    if (op == OP_MUL && ((a.t == JV_STR && is_intlike(b)) || (b.t == JV_STR && is_intlike(a)))) {
        JValue s = a.t == JV_STR ? a : b;
        int64_t k = a.t == JV_STR ? ival(b) : ival(a);
        if (k > 0 && s.u.s.n * (size_t)k > MAX_OUTPUT_BYTES) return rerr(C, nd, AF_ERANGE, "string repetition too large");
        JBuf buf = {0};
        for (int64_t i = 0; i < k; i++) jbuf_put(&buf, s.u.s.p, s.u.s.n);
        *out = buf.oom ? jv_undef() : mkstr(C, buf.p ? buf.p : "", buf.n);
        free(buf.p);
        return out->t == JV_STR ? 0 : OOM(C);
    }
    if (op == OP_MUL && ((a.t == JV_LIST && is_intlike(b)) || (b.t == JV_LIST && is_intlike(a)))) {
        JValue src = a.t == JV_LIST ? a : b;
        int64_t k = a.t == JV_LIST ? ival(b) : ival(a);
        if (k > 0 && src.u.l->n * (size_t)k > MAX_RANGE) return rerr(C, nd, AF_ERANGE, "list repetition too large");
        JValue l = mklist(C, 0);
        if (l.t != JV_LIST) return OOM(C);
        for (int64_t r = 0; r < k; r++)
            for (size_t i = 0; i < src.u.l->n; i++)
                if (jlist_push(&C->arena, l.u.l, src.u.l->v[i])) return OOM(C);
        l.u.l->tuple = src.u.l->tuple;
        *out = l;
        return 0;
    }
    if (op == OP_MOD && a.t == JV_STR)
        return rerr(C, nd, AF_EINVAL, "printf-style string formatting ('...' %% x) is not supported");
    return rerr(C, nd, AF_EINVAL, "unsupported operand type(s) for %s: '%s' and '%s'", sym[op], jv_type_name(a),
                jv_type_name(b));
overflow:
    return rerr(C, nd, AF_ERANGE, "integer overflow in '%s' (the interpreter's ints are 64-bit)", sym[op]);
}

/* Python ordering: <0, 0, >0 in *cmp, or an error for unorderable types. */
static int order(Ctx *C, const JNode *nd, JValue a, JValue b, int *cmp) {
    if (is_num(a) && is_num(b)) {
        if (is_intlike(a) && is_intlike(b)) *cmp = (ival(a) > ival(b)) - (ival(a) < ival(b));
        else *cmp = (fval(a) > fval(b)) - (fval(a) < fval(b));
        return 0;
    }
    if (a.t == JV_STR && b.t == JV_STR) {
        size_t n = a.u.s.n < b.u.s.n ? a.u.s.n : b.u.s.n;
        int c = memcmp(a.u.s.p, b.u.s.p, n);
        *cmp = c ? (c > 0) - (c < 0) : (a.u.s.n > b.u.s.n) - (a.u.s.n < b.u.s.n);
        return 0;
    }
    if (a.t == JV_LIST && b.t == JV_LIST) {
        size_t n = a.u.l->n < b.u.l->n ? a.u.l->n : b.u.l->n;
        for (size_t i = 0; i < n; i++) {
            if (jv_equal(a.u.l->v[i], b.u.l->v[i])) continue;
            return order(C, nd, a.u.l->v[i], b.u.l->v[i], cmp);
        }
        *cmp = (a.u.l->n > b.u.l->n) - (a.u.l->n < b.u.l->n);
        return 0;
    }
    if (a.t == JV_UNDEF) return undef_err(C, nd, a);
    if (b.t == JV_UNDEF) return undef_err(C, nd, b);
    return rerr(C, nd, AF_EINVAL, "ordering not supported between instances of '%s' and '%s'", jv_type_name(a),
                jv_type_name(b));
}

static int contains(Ctx *C, const JNode *nd, JValue container, JValue item, int *res) {
    *res = 0;
    switch (container.t) {
    case JV_UNDEF: return 0;
    case JV_STR:
        if (item.t != JV_STR)
            return rerr(C, nd, AF_EINVAL, "'in <string>' requires string as left operand, not %s", jv_type_name(item));
        *res = item.u.s.n == 0 || memmem(container.u.s.p, container.u.s.n, item.u.s.p, item.u.s.n) != NULL;
        return 0;
    case JV_LIST:
        for (size_t i = 0; i < container.u.l->n; i++)
            if (jv_equal(container.u.l->v[i], item)) *res = 1;
        return 0;
    case JV_DICT: *res = jdict_getv(container.u.d, item) != NULL; return 0;
    default: return rerr(C, nd, AF_EINVAL, "argument of type '%s' is not iterable", jv_type_name(container));
    }
}

/* ------------------------------------------------------------------ string methods */
static int in_set(uint32_t c, const uint32_t *set, size_t n) {
    if (!set) return ju_isspace(c);
    for (size_t i = 0; i < n; i++)
        if (set[i] == c) return 1;
    return 0;
}

/* strip(chars): which = 1 left, 2 right, 3 both; chars NONE/UNDEF = whitespace. */
static int str_strip(Ctx *C, const JNode *nd, JValue s, JValue chars, int which, JValue *out) {
    uint32_t *set = NULL;
    size_t nset = 0;
    if (chars.t == JV_STR) {
        set = jarena_alloc(&C->arena, (chars.u.s.n + 1) * sizeof *set);
        if (!set) return OOM(C);
        size_t i = 0;
        while (i < chars.u.s.n) set[nset++] = ju_next(chars.u.s.p, chars.u.s.n, &i);
    } else if (chars.t != JV_NONE && chars.t != JV_UNDEF)
        return rerr(C, nd, AF_EINVAL, "strip arg must be None or str, not %s", jv_type_name(chars));
    size_t a = 0, b = s.u.s.n;
    if (which & 1)
        while (a < b) {
            size_t i = a;
            uint32_t c = ju_next(s.u.s.p, b, &i);
            if (!in_set(c, set, nset)) break;
            a = i;
        }
    if (which & 2)
        while (b > a) {
            size_t st = b - 1;
            while (st > a && ((unsigned char)s.u.s.p[st] & 0xC0) == 0x80 && b - st < 4) st--;
            size_t i = st;
            uint32_t c = ju_next(s.u.s.p, b, &i);
            if (i != b) { /* not one code point: step back a single byte */
                st = b - 1;
                i = st;
                c = ju_next(s.u.s.p, b, &i);
            }
            if (!in_set(c, set, nset)) break;
            b = st;
        }
    *out = jv_str(s.u.s.p + a, b - a);
    return 0;
}

static int push_str(Ctx *C, JList *l, const char *p, size_t n) {
    return jlist_push(&C->arena, l, jv_str(p, n)) ? OOM(C) : 0;
}

static int str_split(Ctx *C, const JNode *nd, JValue s, JValue sep, int64_t maxsplit, int right, JValue *out) {
    JValue lv = mklist(C, 0);
    if (lv.t != JV_LIST) return OOM(C);
    JList *l = lv.u.l;
    const char *p = s.u.s.p;
    size_t n = s.u.s.n;
    *out = lv;
    if (sep.t == JV_NONE || sep.t == JV_UNDEF) {
        if (right && maxsplit >= 0) return rerr(C, nd, AF_EINVAL, "rsplit() without a separator and with maxsplit is not supported");
        size_t i = 0;
        int64_t splits = 0;
        while (i < n) {
            size_t j = i;
            while (j < n) { /* skip whitespace */
                size_t k = j;
                if (!ju_isspace(ju_next(p, n, &k))) break;
                j = k;
            }
            if (j >= n) break;
            size_t st = j;
            if (maxsplit >= 0 && splits >= maxsplit) {
                size_t e = n; /* rest, with trailing whitespace stripped */
                JValue r;
                str_strip(C, nd, jv_str(p + st, e - st), jv_none(), 2, &r);
                return push_str(C, l, r.u.s.p, r.u.s.n);
            }
            while (j < n) {
                size_t k = j;
                if (ju_isspace(ju_next(p, n, &k))) break;
                j = k;
            }
            int rc = push_str(C, l, p + st, j - st);
            if (rc) return rc;
            splits++;
            i = j;
        }
        return 0;
    }
    if (sep.t != JV_STR) return rerr(C, nd, AF_EINVAL, "must be str or None, not %s", jv_type_name(sep));
    if (sep.u.s.n == 0) return rerr(C, nd, AF_EINVAL, "empty separator");
    size_t m = sep.u.s.n;
    if (!right) {
        size_t st = 0;
        int64_t splits = 0;
        for (;;) {
            const char *hit = (maxsplit < 0 || splits < maxsplit) && st <= n ? memmem(p + st, n - st, sep.u.s.p, m) : NULL;
            if (!hit) return push_str(C, l, p + st, n - st);
            int rc = push_str(C, l, p + st, (size_t)(hit - (p + st)));
            if (rc) return rc;
            st = (size_t)(hit - p) + m;
            splits++;
        }
    }
    /* rsplit: collect from the right, then reverse */
    size_t end = n;
    int64_t splits = 0;
    for (;;) {
        const char *hit = NULL;
        if ((maxsplit < 0 || splits < maxsplit) && end >= m)
            for (size_t k = end - m + 1; k-- > 0;)
                if (memcmp(p + k, sep.u.s.p, m) == 0) {
                    hit = p + k;
                    break;
                }
        if (!hit) {
            int rc = push_str(C, l, p, end);
            if (rc) return rc;
            break;
        }
        int rc = push_str(C, l, hit + m, end - (size_t)(hit - p) - m);
        if (rc) return rc;
        end = (size_t)(hit - p);
        splits++;
    }
    for (size_t i = 0; i < l->n / 2; i++) {
        JValue t = l->v[i];
        l->v[i] = l->v[l->n - 1 - i];
        l->v[l->n - 1 - i] = t;
    }
    return 0;
}

static int str_replace(Ctx *C, const JNode *nd, JValue s, JValue old, JValue nw, int64_t count, JValue *out) {
    if (old.t != JV_STR || nw.t != JV_STR)
        return rerr(C, nd, AF_EINVAL, "replace() arguments must be str, not %s", jv_type_name(old.t != JV_STR ? old : nw));
    JBuf b = {0};
    const char *p = s.u.s.p;
    size_t n = s.u.s.n, i = 0;
    int64_t done = 0;
    if (old.u.s.n == 0) {
        while (count < 0 || done < count) {
            jbuf_put(&b, nw.u.s.p, nw.u.s.n);
            done++;
            if (i >= n) break;
            size_t st = i;
            ju_next(p, n, &i);
            jbuf_put(&b, p + st, i - st);
        }
        jbuf_put(&b, p + i, n - i);
    } else {
        while (i <= n) {
            const char *hit = (count < 0 || done < count) ? memmem(p + i, n - i, old.u.s.p, old.u.s.n) : NULL;
            if (!hit) break;
            jbuf_put(&b, p + i, (size_t)(hit - (p + i)));
            jbuf_put(&b, nw.u.s.p, nw.u.s.n);
            i = (size_t)(hit - p) + old.u.s.n;
            done++;
        }
        jbuf_put(&b, p + i, n - i);
    }
    *out = b.oom ? jv_undef() : mkstr(C, b.p ? b.p : "", b.n);
    free(b.p);
    return out->t == JV_STR ? 0 : OOM(C);
}

/* Simple case mapping of one code point: ASCII, Latin-1, Latin Extended-A, Greek and
 * Cyrillic (the scripts the tests cover); other code points are left as they are. */
static uint32_t cp_case(uint32_t c, int upper) {
    if (upper) {
        if ((c >= 'a' && c <= 'z') || (c >= 0xE0 && c <= 0xFE && c != 0xF7) || (c >= 0x3B1 && c <= 0x3C9 && c != 0x3C2) ||
            (c >= 0x430 && c <= 0x44F))
            return c - 32;
        if (c == 0x3C2) return 0x3A3;
        if (c == 0xFF) return 0x178;
        if (c >= 0x450 && c <= 0x45F) return c - 80;
        if (c >= 0x100 && c <= 0x17F && c != 0x130 && c != 0x131 && c != 0x138 && c != 0x149 && c != 0x17F) {
            int odd_lower = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
            if (odd_lower ? (c & 1) == 0 : (c & 1) == 1) return c - 1;
        }
        return c;
    }
    if ((c >= 'A' && c <= 'Z') || (c >= 0xC0 && c <= 0xDE && c != 0xD7) || (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) ||
        (c >= 0x410 && c <= 0x42F))
        return c + 32;
    if (c == 0x178) return 0xFF;
    if (c >= 0x400 && c <= 0x40F) return c + 80;
    if (c >= 0x100 && c <= 0x17F && c != 0x130 && c != 0x131 && c != 0x138 && c != 0x149 && c != 0x17F) {
        int odd_lower = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
        if (odd_lower ? (c & 1) == 1 : (c & 1) == 0) return c + 1;
    }
    return c;
}

static int cp_cased(uint32_t c) { return cp_case(c, 0) != c || cp_case(c, 1) != c || c == 0xDF; }

static void put_cp(JBuf *b, uint32_t cp) {
    char u[4];
    size_t n = 0;
    if (cp < 0x80) u[n++] = (char)cp;
    else if (cp < 0x800) u[n++] = (char)(0xC0 | (cp >> 6)), u[n++] = (char)(0x80 | (cp & 0x3F));
    else if (cp < 0x10000)
        u[n++] = (char)(0xE0 | (cp >> 12)), u[n++] = (char)(0x80 | ((cp >> 6) & 0x3F)), u[n++] = (char)(0x80 | (cp & 0x3F));
    else
        u[n++] = (char)(0xF0 | (cp >> 18)), u[n++] = (char)(0x80 | ((cp >> 12) & 0x3F)),
        u[n++] = (char)(0x80 | ((cp >> 6) & 0x3F)), u[n++] = (char)(0x80 | (cp & 0x3F));
    jbuf_put(b, u, n);
}

/* mode 1 upper, 2 lower, 3 title (each word's first cased letter up, the rest down),
 * 4 capitalize (the first character up, the rest down). */
static int str_case(Ctx *C, JValue s, int mode, JValue *out) {
    JBuf b = {0};
    size_t i = 0;
    int word_start = 1, first = 1;
    while (i < s.u.s.n) {
        size_t st = i;
        uint32_t c = ju_next(s.u.s.p, s.u.s.n, &i);
        int up = mode == 1 || (mode == 3 && word_start) || (mode == 4 && first);
        if (c >= 0xDC80 && c <= 0xDCFF && i - st == 1) jbuf_put(&b, s.u.s.p + st, 1);
        else if (up && c == 0xDF) jbuf_puts(&b, mode == 1 ? "SS" : "Ss");
        else put_cp(&b, cp_case(c, up));
        if (mode == 3) word_start = !cp_cased(c);
        first = 0;
    }
    *out = b.oom ? jv_undef() : mkstr(C, b.p ? b.p : "", b.n);
    free(b.p);
    return out->t == JV_STR ? 0 : OOM(C);
}

/* ------------------------------------------------------------------ calls */
typedef struct {
    JValue *pos;
    int npos;
    const char **kwn;
    JValue *kwv;
    int nkw;
} Args;

/* Argument i by position or by keyword name; NULL when absent. */
static const JValue *arg(const Args *A, int i, const char *name) {
    if (i >= 0 && i < A->npos) return &A->pos[i];
    for (int k = 0; k < A->nkw; k++)
        if (name && strcmp(A->kwn[k], name) == 0) return &A->kwv[k];
    return NULL;
}

static int want_str(Ctx *C, const JNode *nd, const JValue *v, const char *what) {
    if (!v || v->t != JV_STR)
        return rerr(C, nd, AF_EINVAL, "%s: expected a string argument, got %s", what, v ? jv_type_name(*v) : "nothing");
    return 0;
}

static int exec_body(Ctx *C, const JNode *body, JFrame *f, JBuf *out);
static int eval(Ctx *C, const JNode *nd, JFrame *f, JValue *out);

static int call_macro(Ctx *C, const JNode *nd, const JFunc *fn, const Args *A, JValue *out) {
    const JNode *m = fn->macro;
    if (A->npos > m->nnames)
        return rerr(C, nd, AF_EINVAL, "macro '%s' takes %d arguments, %d given", m->name, m->nnames, A->npos);
    if (C->depth >= MAX_DEPTH) return rerr(C, nd, AF_ERANGE, "macro calls nested deeper than %d", MAX_DEPTH);
    JFrame *f = frame_new(C, fn->closure);
    if (!f) return OOM(C);
    for (int k = 0; k < A->nkw; k++) {
        int found = 0;
        for (int i = 0; i < m->nnames; i++) found |= strcmp(m->names[i], A->kwn[k]) == 0;
        if (!found) return rerr(C, nd, AF_EINVAL, "macro '%s' takes no keyword argument '%s'", m->name, A->kwn[k]);
    }
    for (int i = 0; i < m->nnames; i++) {
        const JValue *v = arg(A, i, m->names[i]);
        JValue val = jv_undef();
        if (v) val = *v;
        else if (m->items2[i]) {
            int rc = eval(C, m->items2[i], f, &val);
            if (rc) return rc;
        } else val.u.s.p = m->names[i];
        int rc = frame_set(C, f, m->names[i], val);
        if (rc) return rc;
    }
    JBuf b = {0};
    C->depth++;
    int rc = exec_body(C, m->b, f, &b);
    C->depth--;
    if (rc > 0) rc = 0;
    if (!rc) {
        *out = b.oom ? jv_undef() : mkstr(C, b.p ? b.p : "", b.n);
        if (out->t != JV_STR) rc = OOM(C);
    }
    free(b.p);
    return rc;
}

static int call_builtin(Ctx *C, const JNode *nd, const JFunc *fn, const Args *A, JValue *out) {
    JValue self = fn->self;
    const JValue *a0 = arg(A, 0, NULL), *a1 = arg(A, 1, NULL);
    *out = jv_none();
    switch (fn->builtin) {
    case B_RAISE: {
        JValue s = jv_str("", 0);
        if (a0) {
            int rc = to_strv(C, *a0, &s);
            if (rc) return rc;
        }
        return af_error_set(AF_EINVAL, "chat template raised: %.*s", (int)(s.u.s.n < 2000 ? s.u.s.n : 2000), s.u.s.p);
    }
    case B_STRFTIME: {
        int rc = want_str(C, nd, a0, "strftime_now");
        if (rc) return rc;
        char fmt[256], buf[512];
        snprintf(fmt, sizeof fmt, "%.*s", (int)a0->u.s.n, a0->u.s.p);
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        size_t n = strftime(buf, sizeof buf, fmt, &tm);
        *out = mkstr(C, buf, n);
        return out->t == JV_STR ? 0 : OOM(C);
    }
    case B_NAMESPACE:
    case B_DICT: {
        JDict *d = jdict_new(&C->arena, fn->builtin == B_NAMESPACE ? JD_NAMESPACE : JD_DICT);
        if (!d) return OOM(C);
        if (a0) {
            if (a0->t != JV_DICT) return rerr(C, nd, AF_EINVAL, "%s(): expected a mapping", fn->name);
            for (size_t i = 0; i < a0->u.d->n; i++)
                if (jdict_set(&C->arena, d, a0->u.d->keys[i], a0->u.d->vals[i])) return OOM(C);
        }
        for (int k = 0; k < A->nkw; k++)
            if (jdict_set(&C->arena, d, jv_str(A->kwn[k], strlen(A->kwn[k])), A->kwv[k])) return OOM(C);
        out->t = JV_DICT;
        out->u.d = d;
        return 0;
    }
    case B_RANGE: {
        int64_t start = 0, stop, step = 1;
        for (int i = 0; i < A->npos; i++)
            if (!is_intlike(A->pos[i])) return rerr(C, nd, AF_EINVAL, "range(): expected integers, got %s", jv_type_name(A->pos[i]));
        if (A->npos == 1) stop = ival(A->pos[0]);
        else if (A->npos == 2 || A->npos == 3) {
            start = ival(A->pos[0]);
            stop = ival(A->pos[1]);
            if (A->npos == 3) step = ival(A->pos[2]);
        } else return rerr(C, nd, AF_EINVAL, "range() takes 1 to 3 arguments");
        if (step == 0) return rerr(C, nd, AF_EINVAL, "range() arg 3 must not be zero");
        JValue l = mklist(C, 0);
        if (l.t != JV_LIST) return OOM(C);
        for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
            if (l.u.l->n >= MAX_RANGE) return rerr(C, nd, AF_ERANGE, "range() longer than %d", MAX_RANGE);
            if (jlist_push(&C->arena, l.u.l, jv_int(i))) return OOM(C);
        }
        *out = l;
        return 0;
    }
    case B_CYCLE:
        if (A->npos == 0) return rerr(C, nd, AF_EINVAL, "no items for cycling given");
        *out = A->pos[ival(self) % A->npos];
        return 0;
    case B_D_ITEMS:
    case B_D_KEYS:
    case B_D_VALUES: {
        JValue l = mklist(C, self.u.d->n + 1);
        if (l.t != JV_LIST) return OOM(C);
        for (size_t i = 0; i < self.u.d->n; i++) {
            JValue item = fn->builtin == B_D_KEYS ? self.u.d->keys[i] : self.u.d->vals[i];
            if (fn->builtin == B_D_ITEMS) {
                item = mklist(C, 2);
                if (item.t != JV_LIST) return OOM(C);
                item.u.l->tuple = 1;
                jlist_push(&C->arena, item.u.l, self.u.d->keys[i]);
                jlist_push(&C->arena, item.u.l, self.u.d->vals[i]);
            }
            if (jlist_push(&C->arena, l.u.l, item)) return OOM(C);
        }
        *out = l;
        return 0;
    }
    case B_D_GET: {
        if (!a0) return rerr(C, nd, AF_EINVAL, "get expected at least 1 argument");
        const JValue *v = jdict_getv(self.u.d, *a0);
        *out = v ? *v : a1 ? *a1 : jv_none();
        return 0;
    }
    case B_S_STARTSWITH:
    case B_S_ENDSWITH: {
        if (!a0) return rerr(C, nd, AF_EINVAL, "%s() takes at least 1 argument", fn->name);
        JValue one = *a0;
        const JValue *cands = &one;
        size_t ncand = 1;
        if (a0->t == JV_LIST && a0->u.l->tuple) cands = a0->u.l->v, ncand = a0->u.l->n;
        int hit = 0;
        for (size_t i = 0; i < ncand; i++) {
            if (cands[i].t != JV_STR)
                return rerr(C, nd, AF_EINVAL, "%s arg must be str or a tuple of str, not %s", fn->name, jv_type_name(cands[i]));
            size_t m = cands[i].u.s.n;
            if (m <= self.u.s.n &&
                memcmp(self.u.s.p + (fn->builtin == B_S_STARTSWITH ? 0 : self.u.s.n - m), cands[i].u.s.p, m) == 0)
                hit = 1;
        }
        *out = jv_bool(hit);
        return 0;
    }
    case B_S_SPLIT:
    case B_S_RSPLIT: {
        const JValue *sep = arg(A, 0, "sep"), *ms = arg(A, 1, "maxsplit");
        if (ms && !is_intlike(*ms)) return rerr(C, nd, AF_EINVAL, "maxsplit must be an integer");
        return str_split(C, nd, self, sep ? *sep : jv_none(), ms ? ival(*ms) : -1, fn->builtin == B_S_RSPLIT, out);
    }
    case B_S_STRIP: return str_strip(C, nd, self, a0 ? *a0 : jv_none(), 3, out);
    case B_S_LSTRIP: return str_strip(C, nd, self, a0 ? *a0 : jv_none(), 1, out);
    case B_S_RSTRIP: return str_strip(C, nd, self, a0 ? *a0 : jv_none(), 2, out);
    case B_S_REPLACE: {
        const JValue *cnt = arg(A, 2, "count");
        if (!a0 || !a1) return rerr(C, nd, AF_EINVAL, "replace() takes at least 2 arguments");
        return str_replace(C, nd, self, *a0, *a1, cnt && is_intlike(*cnt) ? ival(*cnt) : -1, out);
    }
    case B_S_UPPER: return str_case(C, self, 1, out);
    case B_S_LOWER: return str_case(C, self, 2, out);
    case B_S_TITLE: return str_case(C, self, 3, out);
    case B_S_CAPITALIZE: return str_case(C, self, 4, out);
    case B_S_FIND:
    case B_S_COUNT: {
        int rc = want_str(C, nd, a0, fn->name);
        if (rc) return rc;
        if (fn->builtin == B_S_FIND) {
            const char *hit = a0->u.s.n == 0 ? self.u.s.p : memmem(self.u.s.p, self.u.s.n, a0->u.s.p, a0->u.s.n);
            *out = jv_int(hit ? (int64_t)ju_length(self.u.s.p, (size_t)(hit - self.u.s.p)) : -1);
            return 0;
        }
        if (a0->u.s.n == 0) {
            *out = jv_int((int64_t)ju_length(self.u.s.p, self.u.s.n) + 1);
            return 0;
        }
        int64_t cnt = 0;
        size_t i = 0;
        const char *hit;
        while (i <= self.u.s.n && (hit = memmem(self.u.s.p + i, self.u.s.n - i, a0->u.s.p, a0->u.s.n))) {
            cnt++;
            i = (size_t)(hit - self.u.s.p) + a0->u.s.n;
        }
        *out = jv_int(cnt);
        return 0;
    }
    case B_S_JOIN: {
        if (!a0) return rerr(C, nd, AF_EINVAL, "join() takes exactly one argument");
        JList *items;
        int rc = iterate(C, nd, *a0, &items);
        if (rc) return rc;
        JBuf b = {0};
        for (size_t i = 0; i < items->n; i++) {
            if (items->v[i].t != JV_STR) {
                free(b.p);
                return rerr(C, nd, AF_EINVAL, "sequence item %zu: expected str instance, %s found", i, jv_type_name(items->v[i]));
            }
            if (i) jbuf_put(&b, self.u.s.p, self.u.s.n);
            jbuf_put(&b, items->v[i].u.s.p, items->v[i].u.s.n);
        }
        *out = b.oom ? jv_undef() : mkstr(C, b.p ? b.p : "", b.n);
        free(b.p);
        return out->t == JV_STR ? 0 : OOM(C);
    }
    case B_S_ISDIGIT:
    case B_S_ISSPACE:
    case B_S_ISALPHA: {
        int ok = self.u.s.n > 0;
        size_t i = 0;
        while (ok && i < self.u.s.n) {
            uint32_t c = ju_next(self.u.s.p, self.u.s.n, &i);
            if (fn->builtin == B_S_ISDIGIT) ok = c >= '0' && c <= '9';
            else if (fn->builtin == B_S_ISSPACE) ok = ju_isspace(c);
            else ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        }
        *out = jv_bool(ok);
        return 0;
    }
    }
    return rerr(C, nd, AF_EINVAL, "'%s' is not callable here", fn->name ? fn->name : "?");
}

static int call_value(Ctx *C, const JNode *nd, JValue callee, const Args *A, JValue *out) {
    if (callee.t == JV_UNDEF) return undef_err(C, nd, callee);
    if (callee.t != JV_FUNC) return rerr(C, nd, AF_EINVAL, "'%s' object is not callable", jv_type_name(callee));
    if (callee.u.fn->builtin == 0) return call_macro(C, nd, callee.u.fn, A, out);
    return call_builtin(C, nd, callee.u.fn, A, out);
}

/* Evaluates a node's call arguments (items positional, names/items2 keywords). */
static int eval_args(Ctx *C, const JNode *nd, JFrame *f, int skip_first, Args *A) {
    int np = nd->nitems;
    A->pos = jarena_alloc(&C->arena, (size_t)(np + 1) * sizeof *A->pos);
    A->kwv = jarena_alloc(&C->arena, (size_t)(nd->nitems2 + 1) * sizeof *A->kwv);
    if (!A->pos || !A->kwv) return OOM(C);
    A->npos = 0;
    (void)skip_first;
    for (int i = 0; i < np; i++) {
        int rc = eval(C, nd->items[i], f, &A->pos[A->npos++]);
        if (rc) return rc;
    }
    A->kwn = nd->names;
    A->nkw = nd->nitems2;
    for (int i = 0; i < nd->nitems2; i++) {
        int rc = eval(C, nd->items2[i], f, &A->kwv[i]);
        if (rc) return rc;
    }
    return 0;
}

/* ------------------------------------------------------------------ tests */
static int apply_test(Ctx *C, const JNode *nd, int id, JValue v, const Args *A, int *res) {
    const JValue *a0 = arg(A, 0, NULL);
    switch (id) {
    case T_DEFINED: *res = v.t != JV_UNDEF; return 0;
    case T_UNDEFINED: *res = v.t == JV_UNDEF; return 0;
    case T_NONE: *res = v.t == JV_NONE; return 0;
    case T_STRING: *res = v.t == JV_STR; return 0;
    case T_MAPPING: *res = v.t == JV_DICT && v.u.d->kind == JD_DICT; return 0;
    case T_ITERABLE: *res = v.t == JV_STR || v.t == JV_LIST || v.t == JV_UNDEF || (v.t == JV_DICT && v.u.d->kind == JD_DICT); return 0;
    case T_SEQUENCE: *res = v.t == JV_STR || v.t == JV_LIST || v.t == JV_UNDEF || (v.t == JV_DICT && v.u.d->kind == JD_DICT); return 0;
    case T_NUMBER: *res = is_num(v); return 0;
    case T_INTEGER: *res = v.t == JV_INT; return 0;
    case T_FLOAT: *res = v.t == JV_FLOAT; return 0;
    case T_BOOLEAN: *res = v.t == JV_BOOL; return 0;
    case T_TRUE: *res = v.t == JV_BOOL && v.u.b; return 0;
    case T_FALSE: *res = v.t == JV_BOOL && !v.u.b; return 0;
    case T_CALLABLE: *res = v.t == JV_FUNC; return 0;
    case T_EVEN:
    case T_ODD:
        if (!is_intlike(v)) return rerr(C, nd, AF_EINVAL, "'%s' is not an integer", jv_type_name(v));
        *res = (ival(v) % 2 != 0) == (id == T_ODD);
        return 0;
    case T_DIVISIBLEBY:
        if (!a0 || !is_intlike(v) || !is_intlike(*a0) || ival(*a0) == 0)
            return rerr(C, nd, AF_EINVAL, "divisibleby needs two integers (and a non-zero divisor)");
        *res = ival(v) % ival(*a0) == 0;
        return 0;
    case T_LOWER:
    case T_UPPER: {
        JValue s, t;
        int rc = to_strv(C, v, &s);
        if (rc || (rc = str_case(C, s, id == T_LOWER ? 2 : 1, &t))) return rc;
        *res = jv_equal(s, t);
        return 0;
    }
    default: break;
    }
    if (!a0) return rerr(C, nd, AF_EINVAL, "this test needs an argument");
    if (id == T_EQ) *res = jv_equal(v, *a0);
    else if (id == T_NE) *res = !jv_equal(v, *a0);
    else if (id == T_SAMEAS)
        *res = v.t == a0->t && (v.t == JV_NONE || v.t == JV_UNDEF || (v.t == JV_BOOL && v.u.b == a0->u.b) ||
                                 (v.t == JV_LIST && v.u.l == a0->u.l) || (v.t == JV_DICT && v.u.d == a0->u.d));
    else if (id == T_IN) return contains(C, nd, *a0, v, res);
    else {
        int cmp, rc = order(C, nd, v, *a0, &cmp);
        if (rc) return rc;
        *res = id == T_LT ? cmp < 0 : id == T_LE ? cmp <= 0 : id == T_GT ? cmp > 0 : cmp >= 0;
    }
    return 0;
}

/* ------------------------------------------------------------------ filters */
static int apply_filter(Ctx *C, const JNode *nd, int id, JValue v, const Args *A, JValue *out);

/* select/reject/selectattr/rejectattr/map over an iterable. */
static int filter_seq(Ctx *C, const JNode *nd, int id, JValue v, const Args *A, JValue *out) {
    JList *items;
    int rc = iterate(C, nd, v, &items);
    if (rc) return rc;
    JValue l = mklist(C, items->n + 1);
    if (l.t != JV_LIST) return OOM(C);
    int by_attr = id == F_SELECTATTR || id == F_REJECTATTR;
    const JValue *attr = NULL;
    if (by_attr || id == F_MAP) {
        attr = arg(A, by_attr ? 0 : -1, "attribute");
        if (by_attr && (!attr || attr->t != JV_STR)) return rerr(C, nd, AF_EINVAL, "%s needs an attribute name", nd->name);
    }
    if (id == F_MAP && !attr) {
        const JValue *fname = arg(A, 0, NULL);
        if (!fname || fname->t != JV_STR) return rerr(C, nd, AF_EINVAL, "map needs a filter name or attribute=");
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(fname->u.s.n < 60 ? fname->u.s.n : 60), fname->u.s.p);
        int fid = jfilter_lookup(name);
        if (!fid) return rerr(C, nd, AF_EINVAL, "map: unsupported filter '%s'", name);
        Args sub = {A->pos + 1, A->npos - 1, A->kwn, A->kwv, A->nkw};
        for (size_t i = 0; i < items->n; i++) {
            JValue r;
            if ((rc = apply_filter(C, nd, fid, items->v[i], &sub, &r))) return rc;
            if (jlist_push(&C->arena, l.u.l, r)) return OOM(C);
        }
        *out = l;
        return 0;
    }
    for (size_t i = 0; i < items->n; i++) {
        JValue x = items->v[i];
        if (attr) {
            char *name = jarena_strndup(&C->arena, attr->u.s.p, attr->u.s.n);
            if (!name) return OOM(C);
            if ((rc = getattr_v(C, nd, x, name, &x))) return rc;
            if (id == F_MAP) {
                const JValue *dflt = arg(A, -1, "default");
                if (x.t == JV_UNDEF && dflt) x = *dflt;
                if (jlist_push(&C->arena, l.u.l, x)) return OOM(C);
                continue;
            }
        }
        int keep;
        const JValue *tname = arg(A, by_attr ? 1 : 0, NULL);
        if (!tname) keep = jv_truthy(x);
        else {
            if (tname->t != JV_STR) return rerr(C, nd, AF_EINVAL, "%s: the test name must be a string", nd->name);
            char name[64];
            snprintf(name, sizeof name, "%.*s", (int)(tname->u.s.n < 60 ? tname->u.s.n : 60), tname->u.s.p);
            int tid = jtest_lookup(name);
            if (!tid) return rerr(C, nd, AF_EINVAL, "%s: unsupported test '%s'", nd->name, name);
            int skip = by_attr ? 2 : 1;
            Args sub = {A->pos + skip, A->npos > skip ? A->npos - skip : 0, NULL, NULL, 0};
            if ((rc = apply_test(C, nd, tid, x, &sub, &keep))) return rc;
        }
        if (id == F_REJECT || id == F_REJECTATTR) keep = !keep;
        if (keep && jlist_push(&C->arena, l.u.l, items->v[i])) return OOM(C);
    }
    *out = l;
    return 0;
}

static int apply_filter(Ctx *C, const JNode *nd, int id, JValue v, const Args *A, JValue *out) {
    const JValue *a0 = arg(A, 0, NULL);
    int rc;
    JValue s;
    switch (id) {
    case F_SAFE:
    case F_STRING: return to_strv(C, v, out);
    case F_TRIM:
        if ((rc = to_strv(C, v, &s))) return rc;
        return str_strip(C, nd, s, a0 ? *a0 : (arg(A, -1, "chars") ? *arg(A, -1, "chars") : jv_none()), 3, out);
    case F_LOWER:
    case F_UPPER:
    case F_TITLE:
    case F_CAPITALIZE:
        if ((rc = to_strv(C, v, &s))) return rc;
        return str_case(C, s, id == F_UPPER ? 1 : id == F_LOWER ? 2 : id == F_TITLE ? 3 : 4, out);
    case F_LENGTH:
    case F_COUNT:
        if (v.t == JV_STR) *out = jv_int((int64_t)ju_length(v.u.s.p, v.u.s.n));
        else if (v.t == JV_LIST) *out = jv_int((int64_t)v.u.l->n);
        else if (v.t == JV_DICT) *out = jv_int((int64_t)v.u.d->n);
        else if (v.t == JV_UNDEF) *out = jv_int(0);
        else return rerr(C, nd, AF_EINVAL, "object of type '%s' has no len()", jv_type_name(v));
        return 0;
    case F_DEFAULT: {
        const JValue *dflt = arg(A, 0, "default_value"), *boolean = arg(A, 1, "boolean");
        int use = v.t == JV_UNDEF || (boolean && jv_truthy(*boolean) && !jv_truthy(v));
        *out = use ? (dflt ? *dflt : jv_str("", 0)) : v;
        return 0;
    }
    case F_FIRST:
    case F_LAST: {
        if (v.t == JV_UNDEF) {
            *out = jv_undef();
            return 0;
        }
        JList *items;
        if ((rc = iterate(C, nd, v, &items))) return rc;
        *out = items->n == 0 ? jv_undef() : items->v[id == F_FIRST ? 0 : items->n - 1];
        return 0;
    }
    case F_JOIN: {
        const JValue *sep = arg(A, 0, "d"), *attr = arg(A, 1, "attribute");
        JList *items;
        if ((rc = iterate(C, nd, v, &items))) return rc;
        JBuf b = {0};
        for (size_t i = 0; i < items->n && !rc; i++) {
            JValue x = items->v[i];
            if (attr && attr->t == JV_STR) {
                char *name = jarena_strndup(&C->arena, attr->u.s.p, attr->u.s.n);
                if (!name) rc = OOM(C);
                else rc = getattr_v(C, nd, x, name, &x);
            }
            if (i && sep) jv_to_str(&b, *sep);
            jv_to_str(&b, x);
        }
        if (!rc) *out = b.oom ? jv_undef() : mkstr(C, b.p ? b.p : "", b.n);
        free(b.p);
        if (!rc && out->t != JV_STR) rc = OOM(C);
        return rc;
    }
    case F_ITEMS: {
        if (v.t == JV_UNDEF) {
            *out = mklist(C, 0);
            return out->t == JV_LIST ? 0 : OOM(C);
        }
        if (v.t != JV_DICT) return rerr(C, nd, AF_EINVAL, "Can only get item pairs from a mapping.");
        JFunc fn = {B_D_ITEMS, v, "items", NULL, NULL};
        Args none = {0};
        return call_builtin(C, nd, &fn, &none, out);
    }
    case F_LIST:
    case F_REVERSE: {
        if (id == F_REVERSE && v.t == JV_STR) {
            JValue m1 = jv_int(-1);
            return slice_v(C, nd, v, jv_none(), jv_none(), m1, out);
        }
        JList *items;
        if ((rc = iterate(C, nd, v, &items))) return rc;
        JValue l = mklist(C, items->n + 1);
        if (l.t != JV_LIST) return OOM(C);
        for (size_t i = 0; i < items->n; i++)
            jlist_push(&C->arena, l.u.l, items->v[id == F_REVERSE ? items->n - 1 - i : i]);
        *out = l;
        return 0;
    }
    case F_REPLACE: {
        const JValue *old = arg(A, 0, "old"), *nw = arg(A, 1, "new"), *cnt = arg(A, 2, "count");
        if (!old || !nw) return rerr(C, nd, AF_EINVAL, "replace needs old and new");
        if ((rc = to_strv(C, v, &s))) return rc;
        JValue os, ns;
        if ((rc = to_strv(C, *old, &os)) || (rc = to_strv(C, *nw, &ns))) return rc;
        return str_replace(C, nd, s, os, ns, cnt && is_intlike(*cnt) ? ival(*cnt) : -1, out);
    }
    case F_ABS:
        if (v.t == JV_FLOAT) *out = jv_float(fabs(v.u.f));
        else if (is_intlike(v)) *out = jv_int(ival(v) < 0 ? -ival(v) : ival(v));
        else return rerr(C, nd, AF_EINVAL, "bad operand type for abs(): '%s'", jv_type_name(v));
        return 0;
    case F_INT:
    case F_FLOAT: {
        const JValue *dflt = arg(A, 0, "default");
        JValue d = dflt ? *dflt : (id == F_INT ? jv_int(0) : jv_float(0.0));
        if (is_num(v)) *out = id == F_INT ? jv_int(v.t == JV_FLOAT ? (int64_t)v.u.f : ival(v)) : jv_float(fval(v));
        else if (v.t == JV_STR) {
            char tmp[64];
            snprintf(tmp, sizeof tmp, "%.*s", (int)(v.u.s.n < 63 ? v.u.s.n : 63), v.u.s.p);
            char *end;
            double x = strtod(tmp, &end);
            while (*end == ' ' || *end == '\n' || *end == '\t') end++;
            if (end == tmp || *end) *out = d;
            else if (id == F_FLOAT) *out = jv_float(x);
            else {
                long long k = strtoll(tmp, &end, 10);
                while (*end == ' ' || *end == '\n' || *end == '\t') end++;
                *out = *end ? jv_int((int64_t)x) : jv_int(k);
            }
        } else *out = d;
        return 0;
    }
    case F_TOJSON: {
        const JValue *ea = arg(A, 0, "ensure_ascii"), *ind = arg(A, 1, "indent"), *seps = arg(A, 2, "separators"),
                     *sk = arg(A, 3, "sort_keys");
        int indent = -1;
        if (ind && ind->t != JV_NONE) {
            if (!is_intlike(*ind)) return rerr(C, nd, AF_EINVAL, "tojson: indent must be an integer (string indents are not supported)");
            indent = ival(*ind) < 0 ? 0 : (int)(ival(*ind) > 64 ? 64 : ival(*ind));
        }
        char isep[32], ksep[32];
        const char *ip = NULL, *kp = NULL;
        if (seps && seps->t != JV_NONE) {
            if (seps->t != JV_LIST || seps->u.l->n != 2 || seps->u.l->v[0].t != JV_STR || seps->u.l->v[1].t != JV_STR)
                return rerr(C, nd, AF_EINVAL, "tojson: separators must be a pair of strings");
            snprintf(isep, sizeof isep, "%.*s", (int)seps->u.l->v[0].u.s.n, seps->u.l->v[0].u.s.p);
            snprintf(ksep, sizeof ksep, "%.*s", (int)seps->u.l->v[1].u.s.n, seps->u.l->v[1].u.s.p);
            ip = isep;
            kp = ksep;
        }
        JBuf b = {0};
        rc = jv_to_json(&b, v, ea ? jv_truthy(*ea) : 0, indent, ip, kp, sk ? jv_truthy(*sk) : 0);
        if (rc) {
            free(b.p);
            return rerr(C, nd, rc, "tojson: %s", af_error_detail());
        }
        *out = b.oom ? jv_undef() : mkstr(C, b.p ? b.p : "", b.n);
        free(b.p);
        return out->t == JV_STR ? 0 : OOM(C);
    }
    case F_MAP:
    case F_SELECT:
    case F_REJECT:
    case F_SELECTATTR:
    case F_REJECTATTR: return filter_seq(C, nd, id, v, A, out);
    }
    return rerr(C, nd, AF_EINVAL, "filter not implemented");
}

/* ------------------------------------------------------------------ expressions */
static int eval(Ctx *C, const JNode *nd, JFrame *f, JValue *out) {
    int rc;
    JValue a, b;
    switch (nd->kind) {
    case N_CONST: *out = nd->val; return 0;
    case N_NAME: return lookup(C, f, nd->name, out);
    case N_GETATTR:
        if ((rc = eval(C, nd->a, f, &a))) return rc;
        return getattr_v(C, nd, a, nd->name, out);
    case N_GETITEM:
        if ((rc = eval(C, nd->a, f, &a)) || (rc = eval(C, nd->b, f, &b))) return rc;
        return getitem_v(C, nd, a, b, out);
    case N_SLICE: {
        JValue x = jv_none(), y = jv_none(), z = jv_none();
        if ((rc = eval(C, nd->a, f, &a))) return rc;
        if (nd->b && (rc = eval(C, nd->b, f, &x))) return rc;
        if (nd->c && (rc = eval(C, nd->c, f, &y))) return rc;
        if (nd->d && (rc = eval(C, nd->d, f, &z))) return rc;
        return slice_v(C, nd, a, x, y, z, out);
    }
    case N_CALL: {
        Args A;
        if ((rc = eval(C, nd->a, f, &a)) || (rc = eval_args(C, nd, f, 0, &A))) return rc;
        return call_value(C, nd, a, &A, out);
    }
    case N_FILTER: {
        Args A;
        if ((rc = eval(C, nd->a, f, &a)) || (rc = eval_args(C, nd, f, 0, &A))) return rc;
        return apply_filter(C, nd, nd->id, a, &A, out);
    }
    case N_TEST: {
        Args A;
        int res;
        if ((rc = eval(C, nd->a, f, &a)) || (rc = eval_args(C, nd, f, 0, &A))) return rc;
        if ((rc = apply_test(C, nd, nd->id, a, &A, &res))) return rc;
        *out = jv_bool(nd->op ? !res : res);
        return 0;
    }
    case N_BINOP:
        if ((rc = eval(C, nd->a, f, &a)) || (rc = eval(C, nd->b, f, &b))) return rc;
        return arith(C, nd, nd->op, a, b, out);
    case N_NEG:
    case N_POS:
        if ((rc = eval(C, nd->a, f, &a))) return rc;
        if (a.t == JV_UNDEF) return undef_err(C, nd, a);
        if (a.t == JV_FLOAT) *out = jv_float(nd->kind == N_NEG ? -a.u.f : a.u.f);
        else if (is_intlike(a)) *out = jv_int(nd->kind == N_NEG ? -ival(a) : ival(a));
        else return rerr(C, nd, AF_EINVAL, "bad operand type for unary %c: '%s'", nd->kind == N_NEG ? '-' : '+', jv_type_name(a));
        return 0;
    case N_NOT:
        if ((rc = eval(C, nd->a, f, &a))) return rc;
        *out = jv_bool(!jv_truthy(a));
        return 0;
    case N_AND:
    case N_OR:
        if ((rc = eval(C, nd->a, f, &a))) return rc;
        if (jv_truthy(a) == (nd->kind == N_OR)) {
            *out = a;
            return 0;
        }
        return eval(C, nd->b, f, out);
    case N_COMPARE: {
        if ((rc = eval(C, nd->items[0], f, &a))) return rc;
        for (int i = 1; i < nd->nitems; i++) {
            if ((rc = eval(C, nd->items[i], f, &b))) return rc;
            int op = nd->ops[i - 1], res = 0, cmp;
            if (op == OP_EQ) res = jv_equal(a, b);
            else if (op == OP_NE) res = !jv_equal(a, b);
            else if (op == OP_IN || op == OP_NOTIN) {
                if ((rc = contains(C, nd, b, a, &res))) return rc;
                if (op == OP_NOTIN) res = !res;
            } else {
                if ((rc = order(C, nd, a, b, &cmp))) return rc;
                res = op == OP_LT ? cmp < 0 : op == OP_LE ? cmp <= 0 : op == OP_GT ? cmp > 0 : cmp >= 0;
            }
            if (!res) {
                *out = jv_bool(0);
                return 0;
            }
            a = b;
        }
        *out = jv_bool(1);
        return 0;
    }
    case N_CONCAT: {
        JBuf buf = {0};
        for (int i = 0; i < nd->nitems; i++) {
            if ((rc = eval(C, nd->items[i], f, &a))) {
                free(buf.p);
                return rc;
            }
            jv_to_str(&buf, a);
        }
        *out = buf.oom ? jv_undef() : mkstr(C, buf.p ? buf.p : "", buf.n);
        free(buf.p);
        return out->t == JV_STR ? 0 : OOM(C);
    }
    case N_COND:
        if ((rc = eval(C, nd->a, f, &a))) return rc;
        if (jv_truthy(a)) return eval(C, nd->b, f, out);
        if (nd->c) return eval(C, nd->c, f, out);
        *out = jv_undef();
        return 0;
    case N_LIST:
    case N_TUPLE: {
        JValue l = mklist(C, (size_t)nd->nitems + 1);
        if (l.t != JV_LIST) return OOM(C);
        l.u.l->tuple = nd->kind == N_TUPLE;
        for (int i = 0; i < nd->nitems; i++) {
            if ((rc = eval(C, nd->items[i], f, &a))) return rc;
            jlist_push(&C->arena, l.u.l, a);
        }
        *out = l;
        return 0;
    }
    case N_DICT: {
        JDict *d = jdict_new(&C->arena, JD_DICT);
        if (!d) return OOM(C);
        for (int i = 0; i < nd->nitems; i++) {
            if ((rc = eval(C, nd->items[i], f, &a)) || (rc = eval(C, nd->items2[i], f, &b))) return rc;
            if (a.t == JV_LIST && !a.u.l->tuple) return rerr(C, nd, AF_EINVAL, "unhashable type: 'list'");
            if (a.t == JV_DICT) return rerr(C, nd, AF_EINVAL, "unhashable type: 'dict'");
            if (jdict_set(&C->arena, d, a, b)) return OOM(C);
        }
        out->t = JV_DICT;
        out->u.d = d;
        return 0;
    }
    default: return rerr(C, nd, AF_EINVAL, "not an expression");
    }
}

/* ------------------------------------------------------------------ statements */
static int assign(Ctx *C, const JNode *nd, JFrame *f, const char **names, int nnames, JValue v) {
    if (nnames == 1) return frame_set(C, f, names[0], v);
    JList *items;
    int rc = iterate(C, nd, v, &items);
    if (rc) return rc;
    if ((int)items->n != nnames)
        return rerr(C, nd, AF_EINVAL, "cannot unpack %zu values into %d names", items->n, nnames);
    for (int i = 0; i < nnames; i++)
        if ((rc = frame_set(C, f, names[i], items->v[i]))) return rc;
    return 0;
}

static int loop_var(Ctx *C, JList *items, size_t i, JValue *out) {
    JDict *d = jdict_new(&C->arena, JD_LOOP);
    if (!d) return OOM(C);
    size_t n = items->n;
    struct {
        const char *k;
        JValue v;
    } kv[] = {
        {"index0", jv_int((int64_t)i)},          {"index", jv_int((int64_t)i + 1)},
        {"revindex0", jv_int((int64_t)(n - i - 1))}, {"revindex", jv_int((int64_t)(n - i))},
        {"first", jv_bool(i == 0)},               {"last", jv_bool(i + 1 == n)},
        {"length", jv_int((int64_t)n)},           {"depth", jv_int(1)},
        {"depth0", jv_int(0)},
        {"previtem", i > 0 ? items->v[i - 1] : jv_undef()},
        {"nextitem", i + 1 < n ? items->v[i + 1] : jv_undef()},
    };
    for (size_t k = 0; k < sizeof kv / sizeof kv[0]; k++)
        if (jdict_set(&C->arena, d, jv_str(kv[k].k, strlen(kv[k].k)), kv[k].v)) return OOM(C);
    out->t = JV_DICT;
    out->u.d = d;
    return 0;
}

static int exec_for(Ctx *C, const JNode *nd, JFrame *f, JBuf *out) {
    JValue it;
    JList *items;
    int rc = eval(C, nd->a, f, &it);
    if (rc || (rc = iterate(C, nd->a, it, &items))) return rc;
    if (nd->d) { /* {% for x in xs if cond %}: filter first, so loop.length counts kept items */
        JValue kept = mklist(C, items->n + 1);
        if (kept.t != JV_LIST) return OOM(C);
        for (size_t i = 0; i < items->n; i++) {
            JFrame *lf = frame_new(C, f);
            JValue c;
            if (!lf) return OOM(C);
            if ((rc = assign(C, nd, lf, nd->names, nd->nnames, items->v[i])) || (rc = eval(C, nd->d, lf, &c))) return rc;
            if (jv_truthy(c)) jlist_push(&C->arena, kept.u.l, items->v[i]);
        }
        items = kept.u.l;
    }
    if (items->n == 0) {
        if (!nd->c) return 0;
        JFrame *lf = frame_new(C, f);
        if (!lf) return OOM(C);
        rc = exec_body(C, nd->c, lf, out);
        return rc > 0 ? 0 : rc;
    }
    for (size_t i = 0; i < items->n; i++) {
        JFrame *lf = frame_new(C, f);
        JValue lv;
        if (!lf) return OOM(C);
        if ((rc = loop_var(C, items, i, &lv)) || (rc = frame_set(C, lf, "loop", lv))) return rc;
        if ((rc = assign(C, nd, lf, nd->names, nd->nnames, items->v[i]))) return rc;
        rc = exec_body(C, nd->b, lf, out);
        if (rc == JR_BREAK) break;
        if (rc < 0) return rc;
    }
    return 0;
}

static int exec_node(Ctx *C, const JNode *nd, JFrame *f, JBuf *out) {
    int rc;
    JValue v;
    switch (nd->kind) {
    case N_DATA: jbuf_put(out, nd->val.u.s.p, nd->val.u.s.n); break;
    case N_OUTPUT:
        if ((rc = eval(C, nd->a, f, &v))) return rc;
        jv_to_str(out, v);
        break;
    case N_BODY: return exec_body(C, nd, f, out);
    case N_IF:
        if ((rc = eval(C, nd->a, f, &v))) return rc;
        if (jv_truthy(v)) return exec_body(C, nd->b, f, out);
        if (nd->c) return nd->c->kind == N_IF ? exec_node(C, nd->c, f, out) : exec_body(C, nd->c, f, out);
        break;
    case N_FOR:
        if (C->depth >= MAX_DEPTH) return rerr(C, nd, AF_ERANGE, "blocks nested deeper than %d", MAX_DEPTH);
        C->depth++;
        rc = exec_for(C, nd, f, out);
        C->depth--;
        return rc;
    case N_SET:
        if ((rc = eval(C, nd->a, f, &v))) return rc;
        if (nd->name) { /* ns.attr = v */
            JValue ns;
            if ((rc = lookup(C, f, nd->names[0], &ns))) return rc;
            if (ns.t != JV_DICT || ns.u.d->kind != JD_NAMESPACE)
                return rerr(C, nd, AF_EINVAL, "cannot assign attribute on non-namespace object '%s'", nd->names[0]);
            if (jdict_set(&C->arena, ns.u.d, jv_str(nd->name, strlen(nd->name)), v)) return OOM(C);
            break;
        }
        return assign(C, nd, f, nd->names, nd->nnames, v);
    case N_SETBLOCK: {
        JBuf b = {0};
        rc = exec_body(C, nd->b, f, &b);
        if (rc > 0) rc = 0;
        if (!rc) {
            v = b.oom ? jv_undef() : mkstr(C, b.p ? b.p : "", b.n);
            rc = v.t == JV_STR ? frame_set(C, f, nd->names[0], v) : OOM(C);
        }
        free(b.p);
        return rc;
    }
    case N_MACRO: {
        JFunc *fn = jarena_alloc(&C->arena, sizeof *fn);
        if (!fn) return OOM(C);
        fn->macro = (JNode *)nd;
        fn->closure = f;
        fn->name = nd->name;
        v.t = JV_FUNC;
        v.u.fn = fn;
        return frame_set(C, f, nd->name, v);
    }
    case N_BREAK: return JR_BREAK;
    case N_CONTINUE: return JR_CONTINUE;
    default: return rerr(C, nd, AF_EINVAL, "not a statement");
    }
    if (out->oom) return OOM(C);
    if (out->n > MAX_OUTPUT_BYTES) return rerr(C, nd, AF_ERANGE, "output larger than %zu MiB", MAX_OUTPUT_BYTES >> 20);
    return 0;
}

static int exec_body(Ctx *C, const JNode *body, JFrame *f, JBuf *out) {
    for (int i = 0; i < body->nitems; i++) {
        int rc = exec_node(C, body->items[i], f, out);
        if (rc) return rc;
    }
    return 0;
}

int af_jinja_render(const AfJinja *tpl, const cJSON *ctx, char **out, size_t *len) {
    *out = NULL;
    if (len) *len = 0;
    const JTemplate *t = (const JTemplate *)tpl;
    if (!t) return af_error_set(AF_EINVAL, "chat template: no template");
    if (ctx && !cJSON_IsObject(ctx)) return af_error_set(AF_EINVAL, "chat template: the context must be a JSON object");
    Ctx C = {0};
    C.t = t;
    C.arena.limit_bytes = MAX_ARENA_BYTES;
    JBuf b = {0};
    int rc = 0;
    JFrame *g = frame_new(&C, NULL);
    if (!g) {
        rc = OOM(&C);
        goto done;
    }
    for (const cJSON *c = ctx ? ctx->child : NULL; c; c = c->next) {
        JValue v;
        if ((rc = jv_from_cjson(&C.arena, c, &v))) {
            if (rc == AF_ENOMEM) OOM(&C);
            goto done;
        }
        if ((rc = frame_set(&C, g, c->string, v))) goto done;
    }
    rc = exec_body(&C, t->root, g, &b);
    if (rc > 0) rc = rerr(&C, NULL, AF_EINVAL, "break or continue outside a for loop");
    if (!rc && b.oom) rc = OOM(&C);
    if (!rc) {
        if (!b.p) {
            b.p = malloc(1);
            if (!b.p) {
                rc = OOM(&C);
                goto done;
            }
            b.p[0] = 0;
        }
        *out = b.p;
        if (len) *len = b.n;
        b.p = NULL;
    }
done:
    free(b.p);
    jarena_free(&C.arena);
    return rc;
}
