/* Values of the Jinja2 subset interpreter with Python semantics: the arena they live
 * in, truthiness and equality, str() and json.dumps() renderings, UTF-8 code points. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/jinja.h"
#include "common/jinja_internal.h"

/* ------------------------------------------------------------------ arena */
struct JArenaChunk {
    JArenaChunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

void *jarena_alloc(JArena *a, size_t bytes) {
    bytes = (bytes + 15) & ~(size_t)15;
    if (a->limit_bytes && a->used_bytes + bytes > a->limit_bytes) return NULL;
    JArenaChunk *c = a->head;
    if (!c || c->cap - c->used < bytes) {
        size_t cap = bytes > 65536 ? bytes : 65536;
        c = malloc(sizeof *c + cap);
        if (!c) return NULL;
        c->used = 0;
        c->cap = cap;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += bytes;
    a->used_bytes += bytes;
    memset(p, 0, bytes);
    return p;
}

char *jarena_strndup(JArena *a, const char *s, size_t n) {
    char *p = jarena_alloc(a, n + 1);
    if (!p) return NULL;
    if (n) memcpy(p, s, n);
    p[n] = 0;
    return p;
}

void jarena_free(JArena *a) {
    JArenaChunk *c = a->head;
    while (c) {
        JArenaChunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->used_bytes = 0;
}

/* ------------------------------------------------------------------ buffer */
void jbuf_put(JBuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
void jbuf_puts(JBuf *b, const char *s) { jbuf_put(b, s, strlen(s)); }
void jbuf_putc(JBuf *b, char c) { jbuf_put(b, &c, 1); }

/* ------------------------------------------------------------------ containers */
JList *jlist_new(JArena *a, size_t cap) {
    JList *l = jarena_alloc(a, sizeof *l);
    if (!l) return NULL;
    if (cap) {
        l->v = jarena_alloc(a, cap * sizeof *l->v);
        if (!l->v) return NULL;
        l->cap = cap;
    }
    return l;
}

int jlist_push(JArena *a, JList *l, JValue v) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        JValue *nv = jarena_alloc(a, cap * sizeof *nv);
        if (!nv) return AF_ENOMEM;
        if (l->n) memcpy(nv, l->v, l->n * sizeof *nv);
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = v;
    return 0;
}

JDict *jdict_new(JArena *a, int kind) {
    JDict *d = jarena_alloc(a, sizeof *d);
    if (d) d->kind = kind;
    return d;
}

const JValue *jdict_getv(const JDict *d, JValue key) {
    for (size_t i = 0; i < d->n; i++)
        if (jv_equal(d->keys[i], key)) return &d->vals[i];
    return NULL;
}

const JValue *jdict_get(const JDict *d, const char *key, size_t n) {
    for (size_t i = 0; i < d->n; i++)
        if (d->keys[i].t == JV_STR && d->keys[i].u.s.n == n && memcmp(d->keys[i].u.s.p, key, n) == 0)
            return &d->vals[i];
    return NULL;
}

int jdict_set(JArena *a, JDict *d, JValue key, JValue v) {
    for (size_t i = 0; i < d->n; i++)
        if (jv_equal(d->keys[i], key)) {
            d->vals[i] = v;
            return 0;
        }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        JValue *nk = jarena_alloc(a, cap * sizeof *nk), *nv = jarena_alloc(a, cap * sizeof *nv);
        if (!nk || !nv) return AF_ENOMEM;
        if (d->n) {
            memcpy(nk, d->keys, d->n * sizeof *nk);
            memcpy(nv, d->vals, d->n * sizeof *nv);
        }
        d->keys = nk;
        d->vals = nv;
        d->cap = cap;
    }
    d->keys[d->n] = key;
    d->vals[d->n] = v;
    d->n++;
    return 0;
}

/* ------------------------------------------------------------------ UTF-8 */
uint32_t ju_next(const char *s, size_t n, size_t *i) {
    const unsigned char *u = (const unsigned char *)s;
    size_t k = *i;
    unsigned c = u[k];
    int len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (len == 1) {
        *i = k + 1;
        return c;
    }
    if (len == 0 || k + (size_t)len > n) goto bad;
    uint32_t cp = c & (0x7F >> len);
    for (int j = 1; j < len; j++) {
        if ((u[k + j] & 0xC0) != 0x80) goto bad;
        cp = (cp << 6) | (u[k + j] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        goto bad;
    *i = k + (size_t)len;
    return cp;
bad:
    *i = k + 1;
    return 0xDC00 + c;
}

size_t ju_length(const char *s, size_t n) {
    size_t i = 0, count = 0;
    while (i < n) {
        ju_next(s, n, &i);
        count++;
    }
    return count;
}

int ju_isspace(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

/* ------------------------------------------------------------------ Python semantics */
int jv_truthy(JValue v) {
    switch (v.t) {
    case JV_UNDEF:
    case JV_NONE: return 0;
    case JV_BOOL: return v.u.b;
    case JV_INT: return v.u.i != 0;
    case JV_FLOAT: return v.u.f != 0.0;
    case JV_STR: return v.u.s.n != 0;
    case JV_LIST: return v.u.l->n != 0;
    case JV_DICT: return v.u.d->kind != JD_DICT || v.u.d->n != 0;
    case JV_FUNC: return 1;
    }
    return 0;
}

static int is_num(JValue v) { return v.t == JV_BOOL || v.t == JV_INT || v.t == JV_FLOAT; }
static double num_f(JValue v) { return v.t == JV_FLOAT ? v.u.f : v.t == JV_INT ? (double)v.u.i : (double)v.u.b; }

int jv_equal(JValue a, JValue b) {
    if (is_num(a) && is_num(b)) {
        if (a.t != JV_FLOAT && b.t != JV_FLOAT) {
            int64_t x = a.t == JV_INT ? a.u.i : a.u.b, y = b.t == JV_INT ? b.u.i : b.u.b;
            return x == y;
        }
        return num_f(a) == num_f(b);
    }
    if (a.t != b.t) return 0;
    switch (a.t) {
    case JV_UNDEF:
    case JV_NONE: return 1;
    case JV_STR: return a.u.s.n == b.u.s.n && memcmp(a.u.s.p, b.u.s.p, a.u.s.n) == 0;
    case JV_LIST:
        if (a.u.l->n != b.u.l->n) return 0;
        for (size_t i = 0; i < a.u.l->n; i++)
            if (!jv_equal(a.u.l->v[i], b.u.l->v[i])) return 0;
        return 1;
    case JV_DICT:
        if (a.u.d == b.u.d) return 1;
        if (a.u.d->kind != JD_DICT || b.u.d->kind != JD_DICT || a.u.d->n != b.u.d->n) return 0;
        for (size_t i = 0; i < a.u.d->n; i++) {
            const JValue *o = jdict_getv(b.u.d, a.u.d->keys[i]);
            if (!o || !jv_equal(a.u.d->vals[i], *o)) return 0;
        }
        return 1;
    case JV_FUNC: return a.u.fn == b.u.fn;
    default: return 0;
    }
}

const char *jv_type_name(JValue v) {
    switch (v.t) {
    case JV_UNDEF: return "undefined";
    case JV_NONE: return "NoneType";
    case JV_BOOL: return "bool";
    case JV_INT: return "int";
    case JV_FLOAT: return "float";
    case JV_STR: return "str";
    case JV_LIST: return v.u.l->tuple ? "tuple" : "list";
    case JV_DICT: return v.u.d->kind == JD_NAMESPACE ? "Namespace" : v.u.d->kind == JD_LOOP ? "LoopContext" : "dict";
    case JV_FUNC: return "function";
    }
    return "?";
}

/* Python repr(float): the shortest digits that read back to the same double, fixed
 * notation for decimal exponents in [-4, 16), scientific otherwise. */
static void float_repr(JBuf *b, double x) {
    char tmp[64];
    if (isnan(x)) {
        jbuf_puts(b, "nan");
        return;
    }
    if (isinf(x)) {
        jbuf_puts(b, x < 0 ? "-inf" : "inf");
        return;
    }
    if (x == 0) {
        jbuf_puts(b, signbit(x) ? "-0.0" : "0.0");
        return;
    }
    int p;
    for (p = 1; p <= 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, x);
        if (strtod(tmp, NULL) == x) break;
    }
    /* tmp = [-]d.ddde[+-]XX */
    char digits[32];
    int nd = 0, neg = 0;
    const char *s = tmp;
    if (*s == '-') {
        neg = 1;
        s++;
    }
    for (; *s && *s != 'e'; s++)
        if (*s != '.') digits[nd++] = *s;
    int e = atoi(s + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = 0;
    if (neg) jbuf_putc(b, '-');
    if (e >= -4 && e < 16) {
        if (e >= 0) {
            for (int i = 0; i <= e; i++) jbuf_putc(b, i < nd ? digits[i] : '0');
            jbuf_putc(b, '.');
            if (nd > e + 1) jbuf_put(b, digits + e + 1, (size_t)(nd - e - 1));
            else jbuf_putc(b, '0');
        } else {
            jbuf_puts(b, "0.");
            for (int i = 0; i < -e - 1; i++) jbuf_putc(b, '0');
            jbuf_put(b, digits, (size_t)nd);
        }
    } else {
        jbuf_putc(b, digits[0]);
        if (nd > 1) {
            jbuf_putc(b, '.');
            jbuf_put(b, digits + 1, (size_t)(nd - 1));
        }
        snprintf(tmp, sizeof tmp, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
        jbuf_puts(b, tmp);
    }
}

/* Python's str.isprintable() for one code point: false for controls (Cc), format
 * characters (Cf), separators other than ' ' (Zs, Zl, Zp), surrogates and private use.
 * Unassigned code points (Cn), which Python also escapes, are not tabulated here. */
static int py_printable(uint32_t c) {
    static const uint32_t ranges[][2] = {
        {0x00, 0x1F}, {0x7F, 0xA0}, {0xAD, 0xAD}, {0x600, 0x605}, {0x61C, 0x61C}, {0x6DD, 0x6DD},
        {0x70F, 0x70F}, {0x890, 0x891}, {0x8E2, 0x8E2}, {0x1680, 0x1680}, {0x180E, 0x180E},
        {0x2000, 0x200F}, {0x2028, 0x202F}, {0x205F, 0x2064}, {0x2066, 0x206F}, {0x3000, 0x3000},
        {0xD800, 0xF8FF}, {0xFEFF, 0xFEFF}, {0xFFF9, 0xFFFB}, {0x110BD, 0x110BD}, {0x110CD, 0x110CD},
        {0x13430, 0x1343F}, {0x1BCA0, 0x1BCA3}, {0x1D173, 0x1D17A}, {0xE0001, 0xE0001},
        {0xE0020, 0xE007F}, {0xF0000, 0x10FFFF},
    };
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++)
        if (c >= ranges[i][0] && c <= ranges[i][1]) return 0;
    return 1;
}

/* Python repr(str): quotes chosen as Python does, \n \r \t, and \xNN, \uNNNN or
 * \UNNNNNNNN for what is not printable. */
static void str_repr(JBuf *b, const char *p, size_t n) {
    int has_sq = memchr(p, '\'', n) != NULL, has_dq = memchr(p, '"', n) != NULL;
    char q = has_sq && !has_dq ? '"' : '\'';
    jbuf_putc(b, q);
    size_t i = 0;
    while (i < n) {
        size_t st = i;
        uint32_t c = ju_next(p, n, &i);
        char tmp[16];
        if (c == (uint32_t)q || c == '\\') {
            jbuf_putc(b, '\\');
            jbuf_putc(b, (char)c);
        } else if (c == '\n') jbuf_puts(b, "\\n");
        else if (c == '\r') jbuf_puts(b, "\\r");
        else if (c == '\t') jbuf_puts(b, "\\t");
        else if (py_printable(c)) jbuf_put(b, p + st, i - st);
        else {
            if (c >= 0xDC80 && c <= 0xDCFF && i - st == 1) c = (unsigned char)p[st]; /* an invalid byte */
            snprintf(tmp, sizeof tmp, c < 0x100 ? "\\x%02x" : c < 0x10000 ? "\\u%04x" : "\\U%08x", (unsigned)c);
            jbuf_puts(b, tmp);
        }
    }
    jbuf_putc(b, q);
}

/* Containers being printed, innermost last: a namespace that holds itself prints
 * "{...}" where Python's reprlib guard does, instead of recursing forever. */
typedef struct {
    const void *open[64];
    int n;
} ReprStack;

static void to_str_rec(JBuf *b, JValue v, ReprStack *st);

static void jv_repr(JBuf *b, JValue v, ReprStack *st) {
    if (v.t == JV_STR) str_repr(b, v.u.s.p, v.u.s.n);
    else to_str_rec(b, v, st);
}

static void to_str_rec(JBuf *b, JValue v, ReprStack *st) {
    char tmp[32];
    const void *self = v.t == JV_LIST ? (const void *)v.u.l : v.t == JV_DICT ? (const void *)v.u.d : NULL;
    if (self) {
        for (int i = 0; i < st->n; i++)
            if (st->open[i] == self) {
                jbuf_puts(b, v.t == JV_LIST ? "[...]" : v.u.d->kind == JD_NAMESPACE ? "<Namespace {...}>" : "{...}");
                return;
            }
        if (st->n == 64) {
            jbuf_puts(b, "...");
            return;
        }
        st->open[st->n++] = self;
    }
    switch (v.t) {
    case JV_UNDEF: break;
    case JV_NONE: jbuf_puts(b, "None"); break;
    case JV_BOOL: jbuf_puts(b, v.u.b ? "True" : "False"); break;
    case JV_INT:
        snprintf(tmp, sizeof tmp, "%lld", (long long)v.u.i);
        jbuf_puts(b, tmp);
        break;
    case JV_FLOAT: float_repr(b, v.u.f); break;
    case JV_STR: jbuf_put(b, v.u.s.p, v.u.s.n); break;
    case JV_LIST:
        jbuf_putc(b, v.u.l->tuple ? '(' : '[');
        for (size_t i = 0; i < v.u.l->n; i++) {
            if (i) jbuf_puts(b, ", ");
            jv_repr(b, v.u.l->v[i], st);
        }
        if (v.u.l->tuple && v.u.l->n == 1) jbuf_putc(b, ',');
        jbuf_putc(b, v.u.l->tuple ? ')' : ']');
        break;
    case JV_DICT:
        if (v.u.d->kind == JD_NAMESPACE) jbuf_puts(b, "<Namespace ");
        jbuf_putc(b, '{');
        for (size_t i = 0; i < v.u.d->n; i++) {
            if (i) jbuf_puts(b, ", ");
            jv_repr(b, v.u.d->keys[i], st);
            jbuf_puts(b, ": ");
            jv_repr(b, v.u.d->vals[i], st);
        }
        jbuf_putc(b, '}');
        if (v.u.d->kind == JD_NAMESPACE) jbuf_putc(b, '>');
        break;
    case JV_FUNC:
        jbuf_puts(b, "<function ");
        jbuf_puts(b, v.u.fn->name ? v.u.fn->name : "?");
        jbuf_putc(b, '>');
        break;
    }
    if (self) st->n--;
}

void jv_to_str(JBuf *b, JValue v) {
    ReprStack st = {{0}, 0};
    to_str_rec(b, v, &st);
}

/* json.dumps string escaping: ", \ and control characters; with ensure_ascii every
 * non-ASCII code point as \uXXXX (surrogate pairs above the BMP). */
static void json_str(JBuf *b, const char *p, size_t n, int ensure_ascii) {
    char tmp[16];
    jbuf_putc(b, '"');
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)p[i];
        if (c == '"') jbuf_puts(b, "\\\""), i++;
        else if (c == '\\') jbuf_puts(b, "\\\\"), i++;
        else if (c == '\n') jbuf_puts(b, "\\n"), i++;
        else if (c == '\r') jbuf_puts(b, "\\r"), i++;
        else if (c == '\t') jbuf_puts(b, "\\t"), i++;
        else if (c == '\b') jbuf_puts(b, "\\b"), i++;
        else if (c == '\f') jbuf_puts(b, "\\f"), i++;
        else if (c < 0x20 || (ensure_ascii && c == 0x7F)) {
            snprintf(tmp, sizeof tmp, "\\u%04x", c);
            jbuf_puts(b, tmp);
            i++;
        } else if (c < 0x80 || !ensure_ascii) {
            jbuf_putc(b, (char)c);
            i++;
        } else {
            uint32_t cp = ju_next(p, n, &i);
            if (cp >= 0x10000) {
                cp -= 0x10000;
                snprintf(tmp, sizeof tmp, "\\u%04x\\u%04x", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
            } else snprintf(tmp, sizeof tmp, "\\u%04x", cp);
            jbuf_puts(b, tmp);
        }
    }
    jbuf_putc(b, '"');
}

static void json_newline(JBuf *b, int indent, int level) {
    jbuf_putc(b, '\n');
    for (int i = 0; i < indent * level; i++) jbuf_putc(b, ' ');
}

static int json_key_cmp(const void *x, const void *y) {
    const JValue *a = *(const JValue *const *)x, *b = *(const JValue *const *)y;
    size_t n = a->u.s.n < b->u.s.n ? a->u.s.n : b->u.s.n;
    int c = memcmp(a->u.s.p, b->u.s.p, n);
    return c ? c : (a->u.s.n > b->u.s.n) - (a->u.s.n < b->u.s.n);
}

static int json_rec(JBuf *b, JValue v, int ea, int indent, const char *isep, const char *ksep, int sort,
                    int level) {
    char tmp[32];
    if (level > 500) /* only a container holding itself gets here from a render */
        return af_error_set(AF_EINVAL, "Circular reference detected");
    switch (v.t) {
    case JV_NONE: jbuf_puts(b, "null"); return 0;
    case JV_BOOL: jbuf_puts(b, v.u.b ? "true" : "false"); return 0;
    case JV_INT:
        snprintf(tmp, sizeof tmp, "%lld", (long long)v.u.i);
        jbuf_puts(b, tmp);
        return 0;
    case JV_FLOAT:
        if (isnan(v.u.f)) jbuf_puts(b, "NaN");
        else if (isinf(v.u.f)) jbuf_puts(b, v.u.f < 0 ? "-Infinity" : "Infinity");
        else float_repr(b, v.u.f);
        return 0;
    case JV_STR: json_str(b, v.u.s.p, v.u.s.n, ea); return 0;
    case JV_LIST:
        if (v.u.l->n == 0) {
            jbuf_puts(b, "[]");
            return 0;
        }
        jbuf_putc(b, '[');
        for (size_t i = 0; i < v.u.l->n; i++) {
            if (i) jbuf_puts(b, isep);
            if (indent >= 0) json_newline(b, indent, level + 1);
            int rc = json_rec(b, v.u.l->v[i], ea, indent, isep, ksep, sort, level + 1);
            if (rc) return rc;
        }
        if (indent >= 0) json_newline(b, indent, level);
        jbuf_putc(b, ']');
        return 0;
    case JV_DICT: {
        const JDict *d = v.u.d;
        if (d->kind != JD_DICT)
            return af_error_set(AF_EINVAL, "Object of type %s is not JSON serializable", jv_type_name(v));
        if (d->n == 0) {
            jbuf_puts(b, "{}");
            return 0;
        }
        const JValue **order = malloc(d->n * sizeof *order);
        if (!order) return af_error_set(AF_ENOMEM, "tojson: out of memory");
        int all_str = 1;
        for (size_t i = 0; i < d->n; i++) {
            order[i] = &d->keys[i];
            if (d->keys[i].t != JV_STR) all_str = 0;
        }
        if (sort && all_str) qsort(order, d->n, sizeof *order, json_key_cmp);
        jbuf_putc(b, '{');
        int rc = 0;
        for (size_t k = 0; k < d->n && !rc; k++) {
            size_t i = (size_t)(order[k] - d->keys);
            if (k) jbuf_puts(b, isep);
            if (indent >= 0) json_newline(b, indent, level + 1);
            JValue key = d->keys[i];
            if (key.t == JV_STR) json_str(b, key.u.s.p, key.u.s.n, ea);
            else if (key.t == JV_INT || key.t == JV_FLOAT || key.t == JV_BOOL || key.t == JV_NONE) {
                JBuf kb = {0};
                json_rec(&kb, key, ea, -1, isep, ksep, sort, 0);
                jbuf_putc(b, '"');
                jbuf_put(b, kb.p ? kb.p : "", kb.n);
                jbuf_putc(b, '"');
                free(kb.p);
            } else rc = af_error_set(AF_EINVAL, "keys must be str, int, float, bool or None, not %s", jv_type_name(key));
            if (rc) break;
            jbuf_puts(b, ksep);
            rc = json_rec(b, d->vals[i], ea, indent, isep, ksep, sort, level + 1);
        }
        free(order);
        if (rc) return rc;
        if (indent >= 0) json_newline(b, indent, level);
        jbuf_putc(b, '}');
        return 0;
    }
    default: return af_error_set(AF_EINVAL, "Object of type %s is not JSON serializable", jv_type_name(v));
    }
}

int jv_to_json(JBuf *b, JValue v, int ensure_ascii, int indent, const char *item_sep, const char *key_sep,
               int sort_keys) {
    if (!item_sep) item_sep = indent >= 0 ? "," : ", ";
    if (!key_sep) key_sep = ": ";
    return json_rec(b, v, ensure_ascii, indent, item_sep, key_sep, sort_keys, 0);
}

int jv_from_cjson(JArena *a, const cJSON *j, JValue *out) {
    if (cJSON_IsNull(j)) *out = jv_none();
    else if (cJSON_IsBool(j)) *out = jv_bool(cJSON_IsTrue(j));
    else if (cJSON_IsNumber(j)) {
        double x = j->valuedouble;
        if (!(j->type & AF_JSON_FLOAT_FLAG) && x == floor(x) && fabs(x) < 9007199254740992.0) *out = jv_int((int64_t)x);
        else *out = jv_float(x);
    } else if (cJSON_IsString(j)) *out = jv_str(j->valuestring, strlen(j->valuestring));
    else if (cJSON_IsArray(j)) {
        JList *l = jlist_new(a, (size_t)cJSON_GetArraySize(j) + 1);
        if (!l) return AF_ENOMEM;
        for (const cJSON *c = j->child; c; c = c->next) {
            JValue v;
            int rc = jv_from_cjson(a, c, &v);
            if (rc || (rc = jlist_push(a, l, v))) return rc;
        }
        out->t = JV_LIST;
        out->u.l = l;
    } else if (cJSON_IsObject(j)) {
        JDict *d = jdict_new(a, JD_DICT);
        if (!d) return AF_ENOMEM;
        for (const cJSON *c = j->child; c; c = c->next) {
            JValue v;
            int rc = jv_from_cjson(a, c, &v);
            if (rc) return rc;
            if ((rc = jdict_set(a, d, jv_str(c->string, strlen(c->string)), v))) return rc;
        }
        out->t = JV_DICT;
        out->u.d = d;
    } else return af_error_set(AF_EINVAL, "chat template context: unsupported JSON value");
    return 0;
}
