/* Evaluator of the Jinja2 subset: walks the syntax tree with Python semantics (scopes
 * per loop iteration and macro call, Undefined, and/or returning operands), attribute
 * and item access, slicing and operators. Filters, tests, globals and methods are in
 * jinja_builtins.c. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/jinja.h"
#include "common/jinja_internal.h"

enum { JR_BREAK = 1, JR_CONTINUE = 2 };

typedef struct JFrame {
    struct JFrame *parent;
    JDict vars; /* name -> value, in the frame's scope */
} JFrame;

/* ------------------------------------------------------------------ errors */
int jerr(JCtx *C, const JNode *nd, int code, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line = 0, col = 0;
    jsrc_linecol(C->t->src, C->t->srclen, nd ? nd->pos : 0, &line, &col);
    return af_error_set(code, "chat template:%d:%d: %s", line, col, msg);
}

int jundef_err(JCtx *C, const JNode *nd, JValue v) {
    if (v.u.s.p) return jerr(C, nd, AF_EINVAL, "'%s' is undefined", v.u.s.p);
    return jerr(C, nd, AF_EINVAL, "a value is undefined");
}

/* ------------------------------------------------------------------ frames */
static JFrame *frame_new(JCtx *C, JFrame *parent) {
    JFrame *f = jarena_alloc(&C->arena, sizeof *f);
    if (f) f->parent = parent;
    return f;
}

static int frame_set(JCtx *C, JFrame *f, const char *name, JValue v) {
    return jdict_set(&C->arena, &f->vars, jv_str(name, strlen(name)), v) ? JOOM(C) : 0;
}

JValue jmkfunc(JCtx *C, int id, JValue self, const char *name) {
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

static int lookup(JCtx *C, JFrame *f, const char *name, JValue *out) {
    size_t n = strlen(name);
    for (; f; f = f->parent) {
        const JValue *v = jdict_get(&f->vars, name, n);
        if (v) {
            *out = *v;
            return 0;
        }
    }
    int id = jbuiltin_global(name);
    if (id) {
        *out = jmkfunc(C, id, jv_none(), name);
        return out->t == JV_FUNC ? 0 : JOOM(C);
    }
    *out = jv_undef();
    out->u.s.p = name;
    return 0;
}

/* ------------------------------------------------------------------ helpers */
JValue jmkstr(JCtx *C, const char *p, size_t n) {
    char *s = jarena_strndup(&C->arena, p, n);
    if (!s) return jv_undef();
    return jv_str(s, n);
}

/* str(v) as a string value (shares v's bytes when v is a string). */
int jto_str(JCtx *C, JValue v, JValue *out) {
    if (v.t == JV_STR) {
        *out = v;
        return 0;
    }
    JBuf b = {0};
    jv_to_str(&b, v);
    if (b.oom) {
        free(b.p);
        return JOOM(C);
    }
    *out = jmkstr(C, b.p ? b.p : "", b.n);
    free(b.p);
    return out->t == JV_STR ? 0 : JOOM(C);
}

JValue jmklist(JCtx *C, size_t cap) {
    JValue v = {0};
    v.t = JV_LIST;
    v.u.l = jlist_new(&C->arena, cap);
    if (!v.u.l) v.t = JV_UNDEF;
    return v;
}


/* Byte offsets of each code point (n+1 entries, the last = byte length). */
static size_t *cp_offsets(JCtx *C, JValue s, size_t *count) {
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
int jiterate(JCtx *C, const JNode *nd, JValue v, JList **out) {
    if (v.t == JV_LIST) {
        *out = v.u.l;
        return 0;
    }
    JValue l = jmklist(C, 0);
    if (l.t != JV_LIST) return JOOM(C);
    if (v.t == JV_UNDEF) {
        *out = l.u.l;
        return 0;
    }
    if (v.t == JV_DICT && v.u.d->kind == JD_DICT) {
        for (size_t i = 0; i < v.u.d->n; i++)
            if (jlist_push(&C->arena, l.u.l, v.u.d->keys[i])) return JOOM(C);
    } else if (v.t == JV_STR) {
        size_t i = 0;
        while (i < v.u.s.n) {
            size_t st = i;
            ju_next(v.u.s.p, v.u.s.n, &i);
            if (jlist_push(&C->arena, l.u.l, jv_str(v.u.s.p + st, i - st))) return JOOM(C);
        }
    } else return jerr(C, nd, AF_EINVAL, "'%s' object is not iterable", jv_type_name(v));
    *out = l.u.l;
    return 0;
}

/* ------------------------------------------------------------------ attribute / item */
int jgetattr(JCtx *C, const JNode *nd, JValue obj, const char *name, JValue *out) {
    *out = jv_undef();
    if (obj.t == JV_UNDEF) return jundef_err(C, nd, obj);
    out->u.s.p = name; /* a missing attribute is an undefined that knows its name */
    int method = jbuiltin_method(obj, name);
    if (method) {
        *out = jmkfunc(C, method, obj, name);
        return out->t == JV_FUNC ? 0 : JOOM(C);
    }
    if (obj.t == JV_STR) return 0;
    if (obj.t == JV_DICT) {
        if (obj.u.d->kind == JD_DICT) {
            static const char *const unsafe[] = {"pop", "popitem", "clear", "update", "setdefault", "copy",
                                                 "fromkeys", NULL};
            for (int i = 0; unsafe[i]; i++)
                if (strcmp(unsafe[i], name) == 0) return 0;
        }
        if (obj.u.d->kind == JD_LOOP && strcmp(name, "cycle") == 0) {
            const JValue *ix = jdict_get(obj.u.d, "index0", 6);
            *out = jmkfunc(C, JB_CYCLE, ix ? *ix : jv_int(0), "cycle");
            return out->t == JV_FUNC ? 0 : JOOM(C);
        }
        const JValue *v = jdict_get(obj.u.d, name, strlen(name));
        if (v) *out = *v;
        return 0;
    }
    return 0; /* other objects: no attributes the subset knows -> undefined */
}

static int getitem_v(JCtx *C, const JNode *nd, JValue obj, JValue key, JValue *out) {
    *out = jv_undef();
    if (obj.t == JV_UNDEF) return jundef_err(C, nd, obj);
    if (obj.t == JV_LIST && jv_is_intlike(key)) {
        int64_t i = jv_ival(key), n = (int64_t)obj.u.l->n;
        if (i < 0) i += n;
        if (i >= 0 && i < n) *out = obj.u.l->v[i];
        return 0;
    }
    if (obj.t == JV_STR && jv_is_intlike(key)) {
        size_t n;
        size_t *off = cp_offsets(C, obj, &n);
        if (!off) return JOOM(C);
        int64_t i = jv_ival(key);
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
        if (!name) return JOOM(C);
        return jgetattr(C, nd, obj, name, out);
    }
    return 0;
}

static int64_t slice_index(JValue v, int64_t len, int64_t lower, int64_t upper, int64_t dflt) {
    if (v.t == JV_NONE || v.t == JV_UNDEF) return dflt;
    int64_t i = jv_ival(v);
    if (i < 0) {
        i += len;
        if (i < lower) i = lower;
    } else if (i > upper) i = upper;
    return i;
}

int jslice(JCtx *C, const JNode *nd, JValue obj, JValue a, JValue b, JValue c, JValue *out) {
    if (obj.t == JV_UNDEF) return jundef_err(C, nd, obj);
    JValue args[3] = {a, b, c};
    for (int k = 0; k < 3; k++)
        if (!(args[k].t == JV_NONE || args[k].t == JV_UNDEF || jv_is_intlike(args[k])))
            return jerr(C, nd, AF_EINVAL, "slice indices must be integers or None, not %s", jv_type_name(args[k]));
    int64_t step = (c.t == JV_NONE || c.t == JV_UNDEF) ? 1 : jv_ival(c);
    if (step == 0) return jerr(C, nd, AF_EINVAL, "slice step cannot be zero");
    size_t n = 0, *off = NULL;
    if (obj.t == JV_STR) {
        if (!(off = cp_offsets(C, obj, &n))) return JOOM(C);
    } else if (obj.t == JV_LIST) n = obj.u.l->n;
    else return jerr(C, nd, AF_EINVAL, "'%s' object is not subscriptable", jv_type_name(obj));
    int64_t len = (int64_t)n, lower = step < 0 ? -1 : 0, upper = step < 0 ? len - 1 : len;
    int64_t start = slice_index(a, len, lower, upper, step < 0 ? upper : lower);
    int64_t stop = slice_index(b, len, lower, upper, step < 0 ? lower : upper);
    if (obj.t == JV_LIST) {
        JValue l = jmklist(C, 0);
        if (l.t != JV_LIST) return JOOM(C);
        for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step)
            if (jlist_push(&C->arena, l.u.l, obj.u.l->v[i])) return JOOM(C);
        l.u.l->tuple = obj.u.l->tuple;
        *out = l;
        return 0;
    }
    JBuf buf = {0};
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step)
        jbuf_put(&buf, obj.u.s.p + off[i], off[i + 1] - off[i]);
    *out = buf.oom ? jv_undef() : jmkstr(C, buf.p ? buf.p : "", buf.n);
    free(buf.p);
    return out->t == JV_STR ? 0 : JOOM(C);
}

/* ------------------------------------------------------------------ operators */
int jarith(JCtx *C, const JNode *nd, int op, JValue a, JValue b, JValue *out) {
    static const char *const sym[] = {"", "+", "-", "*", "/", "//", "%", "**"};
    if (a.t == JV_UNDEF) return jundef_err(C, nd, a);
    if (b.t == JV_UNDEF) return jundef_err(C, nd, b);
    if (jv_is_intlike(a) && jv_is_intlike(b)) {
        int64_t x = jv_ival(a), y = jv_ival(b), r = 0;
        switch (op) {
        case OP_ADD: if (__builtin_add_overflow(x, y, &r)) goto overflow; break;
        case OP_SUB: if (__builtin_sub_overflow(x, y, &r)) goto overflow; break;
        case OP_MUL: if (__builtin_mul_overflow(x, y, &r)) goto overflow; break;
        case OP_DIV:
            if (y == 0) return jerr(C, nd, AF_EINVAL, "division by zero");
            *out = jv_float((double)x / (double)y);
            return 0;
        case OP_FLOORDIV:
        case OP_MOD:
            if (y == 0) return jerr(C, nd, AF_EINVAL, "integer division or modulo by zero");
            if (x == INT64_MIN && y == -1) goto overflow;
            r = x / y;
            if ((x % y != 0) && ((x < 0) != (y < 0))) r--;
            if (op == OP_MOD) r = x - r * y;
            break;
        case OP_POW:
            if (y < 0) {
                if (x == 0) return jerr(C, nd, AF_EINVAL, "0.0 cannot be raised to a negative power");
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
    if (jv_is_num(a) && jv_is_num(b)) {
        double x = jv_fval(a), y = jv_fval(b), r = 0;
        switch (op) {
        case OP_ADD: r = x + y; break;
        case OP_SUB: r = x - y; break;
        case OP_MUL: r = x * y; break;
        case OP_DIV:
            if (y == 0) return jerr(C, nd, AF_EINVAL, "float division by zero");
            r = x / y;
            break;
        case OP_FLOORDIV:
        case OP_MOD:
            if (y == 0) return jerr(C, nd, AF_EINVAL, "float modulo by zero");
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
        if (!p) return JOOM(C);
        memcpy(p, a.u.s.p, a.u.s.n);
        memcpy(p + a.u.s.n, b.u.s.p, b.u.s.n);
        *out = jv_str(p, a.u.s.n + b.u.s.n);
        return 0;
    }
    if (op == OP_ADD && a.t == JV_LIST && b.t == JV_LIST && a.u.l->tuple == b.u.l->tuple) {
        JValue l = jmklist(C, a.u.l->n + b.u.l->n + 1);
        if (l.t != JV_LIST) return JOOM(C);
        for (size_t i = 0; i < a.u.l->n; i++) jlist_push(&C->arena, l.u.l, a.u.l->v[i]);
        for (size_t i = 0; i < b.u.l->n; i++) jlist_push(&C->arena, l.u.l, b.u.l->v[i]);
        l.u.l->tuple = a.u.l->tuple;
        *out = l;
        return 0;
    }
    if (op == OP_MUL && ((a.t == JV_STR && jv_is_intlike(b)) || (b.t == JV_STR && jv_is_intlike(a)))) {
        JValue s = a.t == JV_STR ? a : b;
        int64_t k = a.t == JV_STR ? jv_ival(b) : jv_ival(a);
        if (k > 0 && s.u.s.n * (size_t)k > JMAX_OUTPUT_BYTES) return jerr(C, nd, AF_ERANGE, "string repetition too large");
        JBuf buf = {0};
        for (int64_t i = 0; i < k; i++) jbuf_put(&buf, s.u.s.p, s.u.s.n);
        *out = buf.oom ? jv_undef() : jmkstr(C, buf.p ? buf.p : "", buf.n);
        free(buf.p);
        return out->t == JV_STR ? 0 : JOOM(C);
    }
    if (op == OP_MUL && ((a.t == JV_LIST && jv_is_intlike(b)) || (b.t == JV_LIST && jv_is_intlike(a)))) {
        JValue src = a.t == JV_LIST ? a : b;
        int64_t k = a.t == JV_LIST ? jv_ival(b) : jv_ival(a);
        if (k > 0 && src.u.l->n * (size_t)k > JMAX_RANGE) return jerr(C, nd, AF_ERANGE, "list repetition too large");
        JValue l = jmklist(C, 0);
        if (l.t != JV_LIST) return JOOM(C);
        for (int64_t r = 0; r < k; r++)
            for (size_t i = 0; i < src.u.l->n; i++)
                if (jlist_push(&C->arena, l.u.l, src.u.l->v[i])) return JOOM(C);
        l.u.l->tuple = src.u.l->tuple;
        *out = l;
        return 0;
    }
    if (op == OP_MOD && a.t == JV_STR)
        return jerr(C, nd, AF_EINVAL, "printf-style string formatting ('...' %% x) is not supported");
    return jerr(C, nd, AF_EINVAL, "unsupported operand type(s) for %s: '%s' and '%s'", sym[op], jv_type_name(a),
                jv_type_name(b));
overflow:
    return jerr(C, nd, AF_ERANGE, "integer overflow in '%s' (the interpreter's ints are 64-bit)", sym[op]);
}

/* Python ordering: <0, 0, >0 in *cmp, or an error for unorderable types. */
int jorder(JCtx *C, const JNode *nd, JValue a, JValue b, int *cmp) {
    if (jv_is_num(a) && jv_is_num(b)) {
        if (jv_is_intlike(a) && jv_is_intlike(b)) *cmp = (jv_ival(a) > jv_ival(b)) - (jv_ival(a) < jv_ival(b));
        else *cmp = (jv_fval(a) > jv_fval(b)) - (jv_fval(a) < jv_fval(b));
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
            return jorder(C, nd, a.u.l->v[i], b.u.l->v[i], cmp);
        }
        *cmp = (a.u.l->n > b.u.l->n) - (a.u.l->n < b.u.l->n);
        return 0;
    }
    if (a.t == JV_UNDEF) return jundef_err(C, nd, a);
    if (b.t == JV_UNDEF) return jundef_err(C, nd, b);
    return jerr(C, nd, AF_EINVAL, "ordering not supported between instances of '%s' and '%s'", jv_type_name(a),
                jv_type_name(b));
}

int jcontains(JCtx *C, const JNode *nd, JValue container, JValue item, int *res) {
    *res = 0;
    switch (container.t) {
    case JV_UNDEF: return 0;
    case JV_STR:
        if (item.t != JV_STR)
            return jerr(C, nd, AF_EINVAL, "'in <string>' requires string as left operand, not %s", jv_type_name(item));
        *res = item.u.s.n == 0 || memmem(container.u.s.p, container.u.s.n, item.u.s.p, item.u.s.n) != NULL;
        return 0;
    case JV_LIST:
        for (size_t i = 0; i < container.u.l->n; i++)
            if (jv_equal(container.u.l->v[i], item)) *res = 1;
        return 0;
    case JV_DICT: *res = jdict_getv(container.u.d, item) != NULL; return 0;
    default: return jerr(C, nd, AF_EINVAL, "argument of type '%s' is not iterable", jv_type_name(container));
    }
}

/* ------------------------------------------------------------------ calls */
static int exec_body(JCtx *C, const JNode *body, JFrame *f, JBuf *out);
static int eval(JCtx *C, const JNode *nd, JFrame *f, JValue *out);

static int call_macro(JCtx *C, const JNode *nd, const JFunc *fn, const JArgs *A, JValue *out) {
    const JNode *m = fn->macro;
    if (A->npos > m->nnames)
        return jerr(C, nd, AF_EINVAL, "macro '%s' takes %d arguments, %d given", m->name, m->nnames, A->npos);
    if (C->depth >= JMAX_DEPTH) return jerr(C, nd, AF_ERANGE, "macro calls nested deeper than %d", JMAX_DEPTH);
    JFrame *f = frame_new(C, fn->closure);
    if (!f) return JOOM(C);
    for (int k = 0; k < A->nkw; k++) {
        int found = 0;
        for (int i = 0; i < m->nnames; i++) found |= strcmp(m->names[i], A->kwn[k]) == 0;
        if (!found) return jerr(C, nd, AF_EINVAL, "macro '%s' takes no keyword argument '%s'", m->name, A->kwn[k]);
    }
    for (int i = 0; i < m->nnames; i++) {
        const JValue *v = jarg(A, i, m->names[i]);
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
        *out = b.oom ? jv_undef() : jmkstr(C, b.p ? b.p : "", b.n);
        if (out->t != JV_STR) rc = JOOM(C);
    }
    free(b.p);
    return rc;
}

static int call_value(JCtx *C, const JNode *nd, JValue callee, const JArgs *A, JValue *out) {
    if (callee.t == JV_UNDEF) return jundef_err(C, nd, callee);
    if (callee.t != JV_FUNC) return jerr(C, nd, AF_EINVAL, "'%s' object is not callable", jv_type_name(callee));
    if (callee.u.fn->builtin == 0) return call_macro(C, nd, callee.u.fn, A, out);
    return jbuiltin_call(C, nd, callee.u.fn, A, out);
}

/* Evaluates a node's call arguments (items positional, names/items2 keywords). */
static int eval_args(JCtx *C, const JNode *nd, JFrame *f, JArgs *A) {
    int np = nd->nitems;
    A->pos = jarena_alloc(&C->arena, (size_t)(np + 1) * sizeof *A->pos);
    A->kwv = jarena_alloc(&C->arena, (size_t)(nd->nitems2 + 1) * sizeof *A->kwv);
    if (!A->pos || !A->kwv) return JOOM(C);
    A->npos = 0;
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

/* ------------------------------------------------------------------ expressions */
static int eval(JCtx *C, const JNode *nd, JFrame *f, JValue *out) {
    int rc;
    JValue a, b;
    switch (nd->kind) {
    case N_CONST: *out = nd->val; return 0;
    case N_NAME: return lookup(C, f, nd->name, out);
    case N_GETATTR:
        if ((rc = eval(C, nd->a, f, &a))) return rc;
        return jgetattr(C, nd, a, nd->name, out);
    case N_GETITEM:
        if ((rc = eval(C, nd->a, f, &a)) || (rc = eval(C, nd->b, f, &b))) return rc;
        return getitem_v(C, nd, a, b, out);
    case N_SLICE: {
        JValue x = jv_none(), y = jv_none(), z = jv_none();
        if ((rc = eval(C, nd->a, f, &a))) return rc;
        if (nd->b && (rc = eval(C, nd->b, f, &x))) return rc;
        if (nd->c && (rc = eval(C, nd->c, f, &y))) return rc;
        if (nd->d && (rc = eval(C, nd->d, f, &z))) return rc;
        return jslice(C, nd, a, x, y, z, out);
    }
    case N_CALL: {
        JArgs A;
        if ((rc = eval(C, nd->a, f, &a)) || (rc = eval_args(C, nd, f, &A))) return rc;
        return call_value(C, nd, a, &A, out);
    }
    case N_FILTER: {
        JArgs A;
        if ((rc = eval(C, nd->a, f, &a)) || (rc = eval_args(C, nd, f, &A))) return rc;
        return jfilter_apply(C, nd, nd->id, a, &A, out);
    }
    case N_TEST: {
        JArgs A;
        int res;
        if ((rc = eval(C, nd->a, f, &a)) || (rc = eval_args(C, nd, f, &A))) return rc;
        if ((rc = jtest_apply(C, nd, nd->id, a, &A, &res))) return rc;
        *out = jv_bool(nd->op ? !res : res);
        return 0;
    }
    case N_BINOP:
        if ((rc = eval(C, nd->a, f, &a)) || (rc = eval(C, nd->b, f, &b))) return rc;
        return jarith(C, nd, nd->op, a, b, out);
    case N_NEG:
    case N_POS:
        if ((rc = eval(C, nd->a, f, &a))) return rc;
        if (a.t == JV_UNDEF) return jundef_err(C, nd, a);
        if (a.t == JV_FLOAT) *out = jv_float(nd->kind == N_NEG ? -a.u.f : a.u.f);
        else if (jv_is_intlike(a)) *out = jv_int(nd->kind == N_NEG ? -jv_ival(a) : jv_ival(a));
        else return jerr(C, nd, AF_EINVAL, "bad operand type for unary %c: '%s'", nd->kind == N_NEG ? '-' : '+', jv_type_name(a));
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
                if ((rc = jcontains(C, nd, b, a, &res))) return rc;
                if (op == OP_NOTIN) res = !res;
            } else {
                if ((rc = jorder(C, nd, a, b, &cmp))) return rc;
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
        *out = buf.oom ? jv_undef() : jmkstr(C, buf.p ? buf.p : "", buf.n);
        free(buf.p);
        return out->t == JV_STR ? 0 : JOOM(C);
    }
    case N_COND:
        if ((rc = eval(C, nd->a, f, &a))) return rc;
        if (jv_truthy(a)) return eval(C, nd->b, f, out);
        if (nd->c) return eval(C, nd->c, f, out);
        *out = jv_undef();
        return 0;
    case N_LIST:
    case N_TUPLE: {
        JValue l = jmklist(C, (size_t)nd->nitems + 1);
        if (l.t != JV_LIST) return JOOM(C);
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
        if (!d) return JOOM(C);
        for (int i = 0; i < nd->nitems; i++) {
            if ((rc = eval(C, nd->items[i], f, &a)) || (rc = eval(C, nd->items2[i], f, &b))) return rc;
            if (a.t == JV_LIST && !a.u.l->tuple) return jerr(C, nd, AF_EINVAL, "unhashable type: 'list'");
            if (a.t == JV_DICT) return jerr(C, nd, AF_EINVAL, "unhashable type: 'dict'");
            if (jdict_set(&C->arena, d, a, b)) return JOOM(C);
        }
        out->t = JV_DICT;
        out->u.d = d;
        return 0;
    }
    default: return jerr(C, nd, AF_EINVAL, "not an expression");
    }
}

/* ------------------------------------------------------------------ statements */
static int assign(JCtx *C, const JNode *nd, JFrame *f, const char **names, int nnames, JValue v) {
    if (nnames == 1) return frame_set(C, f, names[0], v);
    JList *items;
    int rc = jiterate(C, nd, v, &items);
    if (rc) return rc;
    if ((int)items->n != nnames)
        return jerr(C, nd, AF_EINVAL, "cannot unpack %zu values into %d names", items->n, nnames);
    for (int i = 0; i < nnames; i++)
        if ((rc = frame_set(C, f, names[i], items->v[i]))) return rc;
    return 0;
}

static int loop_var(JCtx *C, JList *items, size_t i, JValue *out) {
    JDict *d = jdict_new(&C->arena, JD_LOOP);
    if (!d) return JOOM(C);
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
        if (jdict_set(&C->arena, d, jv_str(kv[k].k, strlen(kv[k].k)), kv[k].v)) return JOOM(C);
    out->t = JV_DICT;
    out->u.d = d;
    return 0;
}

static int exec_for(JCtx *C, const JNode *nd, JFrame *f, JBuf *out) {
    JValue it;
    JList *items;
    int rc = eval(C, nd->a, f, &it);
    if (rc || (rc = jiterate(C, nd->a, it, &items))) return rc;
    if (nd->d) { /* {% for x in xs if cond %}: filter first, so loop.length counts kept items */
        JValue kept = jmklist(C, items->n + 1);
        if (kept.t != JV_LIST) return JOOM(C);
        for (size_t i = 0; i < items->n; i++) {
            JFrame *lf = frame_new(C, f);
            JValue c;
            if (!lf) return JOOM(C);
            if ((rc = assign(C, nd, lf, nd->names, nd->nnames, items->v[i])) || (rc = eval(C, nd->d, lf, &c))) return rc;
            if (jv_truthy(c)) jlist_push(&C->arena, kept.u.l, items->v[i]);
        }
        items = kept.u.l;
    }
    if (items->n == 0) {
        if (!nd->c) return 0;
        JFrame *lf = frame_new(C, f);
        if (!lf) return JOOM(C);
        rc = exec_body(C, nd->c, lf, out);
        return rc > 0 ? 0 : rc;
    }
    for (size_t i = 0; i < items->n; i++) {
        JFrame *lf = frame_new(C, f);
        JValue lv;
        if (!lf) return JOOM(C);
        if ((rc = loop_var(C, items, i, &lv)) || (rc = frame_set(C, lf, "loop", lv))) return rc;
        if ((rc = assign(C, nd, lf, nd->names, nd->nnames, items->v[i]))) return rc;
        rc = exec_body(C, nd->b, lf, out);
        if (rc == JR_BREAK) break;
        if (rc < 0) return rc;
    }
    return 0;
}

static int exec_node(JCtx *C, const JNode *nd, JFrame *f, JBuf *out) {
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
        if (C->depth >= JMAX_DEPTH) return jerr(C, nd, AF_ERANGE, "blocks nested deeper than %d", JMAX_DEPTH);
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
                return jerr(C, nd, AF_EINVAL, "cannot assign attribute on non-namespace object '%s'", nd->names[0]);
            if (jdict_set(&C->arena, ns.u.d, jv_str(nd->name, strlen(nd->name)), v)) return JOOM(C);
            break;
        }
        return assign(C, nd, f, nd->names, nd->nnames, v);
    case N_SETBLOCK: {
        JBuf b = {0};
        rc = exec_body(C, nd->b, f, &b);
        if (rc > 0) rc = 0;
        if (!rc) {
            v = b.oom ? jv_undef() : jmkstr(C, b.p ? b.p : "", b.n);
            rc = v.t == JV_STR ? frame_set(C, f, nd->names[0], v) : JOOM(C);
        }
        free(b.p);
        return rc;
    }
    case N_MACRO: {
        JFunc *fn = jarena_alloc(&C->arena, sizeof *fn);
        if (!fn) return JOOM(C);
        fn->macro = (JNode *)nd;
        fn->closure = f;
        fn->name = nd->name;
        v.t = JV_FUNC;
        v.u.fn = fn;
        return frame_set(C, f, nd->name, v);
    }
    case N_BREAK: return JR_BREAK;
    case N_CONTINUE: return JR_CONTINUE;
    default: return jerr(C, nd, AF_EINVAL, "not a statement");
    }
    if (out->oom) return JOOM(C);
    if (out->n > JMAX_OUTPUT_BYTES) return jerr(C, nd, AF_ERANGE, "output larger than %zu MiB", JMAX_OUTPUT_BYTES >> 20);
    return 0;
}

static int exec_body(JCtx *C, const JNode *body, JFrame *f, JBuf *out) {
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
    JCtx C = {0};
    C.t = t;
    C.arena.limit_bytes = JMAX_ARENA_BYTES;
    JBuf b = {0};
    int rc = 0;
    JFrame *g = frame_new(&C, NULL);
    if (!g) {
        rc = JOOM(&C);
        goto done;
    }
    for (const cJSON *c = ctx ? ctx->child : NULL; c; c = c->next) {
        JValue v;
        if ((rc = jv_from_cjson(&C.arena, c, &v))) {
            if (rc == AF_ENOMEM) JOOM(&C);
            goto done;
        }
        if ((rc = frame_set(&C, g, c->string, v))) goto done;
    }
    rc = exec_body(&C, t->root, g, &b);
    if (rc > 0) rc = jerr(&C, NULL, AF_EINVAL, "break or continue outside a for loop");
    if (!rc && b.oom) rc = JOOM(&C);
    if (!rc) {
        if (!b.p) {
            b.p = malloc(1);
            if (!b.p) {
                rc = JOOM(&C);
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
