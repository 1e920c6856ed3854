/* Builtins of the Jinja2 subset: the filters, tests, globals (range, namespace,
 * raise_exception, strftime_now, dict) and the str / dict methods chat templates call,
 * with Python's semantics. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "common/jinja_internal.h"

/* ------------------------------------------------------------------ tables */
enum { F_ABS = 1, F_CAPITALIZE, F_COUNT, F_DEFAULT, F_FIRST, F_FLOAT, F_INT, F_ITEMS, F_JOIN, F_LAST, F_LENGTH,
       F_LIST, F_LOWER, F_MAP, F_REJECT, F_REJECTATTR, F_REPLACE, F_REVERSE, F_SAFE, F_SELECT, F_SELECTATTR,
       F_STRING, F_TITLE, F_TOJSON, F_TRIM, F_UPPER, F_SUM, F_SORT };
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
    {"tojson", F_TOJSON}, {"trim", F_TRIM},             {"upper", F_UPPER},       {"sum", F_SUM},
    {"sort", F_SORT},
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
enum { B_RANGE = JB_CYCLE + 1, B_NAMESPACE, B_RAISE, B_STRFTIME, B_DICT,
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


int jbuiltin_global(const char *name) {
    for (size_t i = 0; i < sizeof globals / sizeof globals[0]; i++)
        if (strcmp(globals[i].name, name) == 0) return globals[i].id;
    return 0;
}

int jbuiltin_method(JValue self, const char *name) {
    if (self.t == JV_STR) {
        for (size_t i = 0; i < sizeof str_methods / sizeof str_methods[0]; i++)
            if (strcmp(str_methods[i].name, name) == 0) return str_methods[i].id;
    } else if (self.t == JV_DICT && self.u.d->kind == JD_DICT) {
        for (size_t i = 0; i < sizeof dict_methods / sizeof dict_methods[0]; i++)
            if (strcmp(dict_methods[i].name, name) == 0) return dict_methods[i].id;
    }
    return 0;
}

/* ------------------------------------------------------------------ string methods */
static int in_set(uint32_t c, const uint32_t *set, size_t n) {
    if (!set) return ju_isspace(c);
    for (size_t i = 0; i < n; i++)
        if (set[i] == c) return 1;
    return 0;
}

/* strip(chars): which = 1 left, 2 right, 3 both; chars NONE/UNDEF = whitespace. */
static int str_strip(JCtx *C, const JNode *nd, JValue s, JValue chars, int which, JValue *out) {
    uint32_t *set = NULL;
    size_t nset = 0;
    if (chars.t == JV_STR) {
        set = jarena_alloc(&C->arena, (chars.u.s.n + 1) * sizeof *set);
        if (!set) return JOOM(C);
        size_t i = 0;
        while (i < chars.u.s.n) set[nset++] = ju_next(chars.u.s.p, chars.u.s.n, &i);
    } else if (chars.t != JV_NONE && chars.t != JV_UNDEF)
        return jerr(C, nd, AF_EINVAL, "strip arg must be None or str, not %s", jv_type_name(chars));
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

static int push_str(JCtx *C, JList *l, const char *p, size_t n) {
    return jlist_push(&C->arena, l, jv_str(p, n)) ? JOOM(C) : 0;
}

static int str_split(JCtx *C, const JNode *nd, JValue s, JValue sep, int64_t maxsplit, int right, JValue *out) {
    JValue lv = jmklist(C, 0);
    if (lv.t != JV_LIST) return JOOM(C);
    JList *l = lv.u.l;
    const char *p = s.u.s.p;
    size_t n = s.u.s.n;
    *out = lv;
    if (sep.t == JV_NONE || sep.t == JV_UNDEF) {
        if (right && maxsplit >= 0) return jerr(C, nd, AF_EINVAL, "rsplit() without a separator and with maxsplit is not supported");
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
            if (maxsplit >= 0 && splits >= maxsplit) return push_str(C, l, p + st, n - st); /* the rest, as is */
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
    if (sep.t != JV_STR) return jerr(C, nd, AF_EINVAL, "must be str or None, not %s", jv_type_name(sep));
    if (sep.u.s.n == 0) return jerr(C, nd, AF_EINVAL, "empty separator");
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

static int str_replace(JCtx *C, const JNode *nd, JValue s, JValue old, JValue nw, int64_t count, JValue *out) {
    if (old.t != JV_STR || nw.t != JV_STR)
        return jerr(C, nd, AF_EINVAL, "replace() arguments must be str, not %s", jv_type_name(old.t != JV_STR ? old : nw));
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
    *out = b.oom ? jv_undef() : jmkstr(C, b.p ? b.p : "", b.n);
    free(b.p);
    return out->t == JV_STR ? 0 : JOOM(C);
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
static int str_case(JCtx *C, JValue s, int mode, JValue *out) {
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
    *out = b.oom ? jv_undef() : jmkstr(C, b.p ? b.p : "", b.n);
    free(b.p);
    return out->t == JV_STR ? 0 : JOOM(C);
}

/* ------------------------------------------------------------------ calls */
const JValue *jarg(const JArgs *A, int i, const char *name) {
    if (i >= 0 && i < A->npos) return &A->pos[i];
    for (int k = 0; k < A->nkw; k++)
        if (name && strcmp(A->kwn[k], name) == 0) return &A->kwv[k];
    return NULL;
}

static int want_str(JCtx *C, const JNode *nd, const JValue *v, const char *what) {
    if (!v || v->t != JV_STR)
        return jerr(C, nd, AF_EINVAL, "%s: expected a string argument, got %s", what, v ? jv_type_name(*v) : "nothing");
    return 0;
}

int jbuiltin_call(JCtx *C, const JNode *nd, const JFunc *fn, const JArgs *A, JValue *out) {
    JValue self = fn->self;
    const JValue *a0 = jarg(A, 0, NULL), *a1 = jarg(A, 1, NULL);
    *out = jv_none();
    switch (fn->builtin) {
    case B_RAISE: {
        JValue s = jv_str("", 0);
        if (a0) {
            int rc = jto_str(C, *a0, &s);
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
        *out = jmkstr(C, buf, n);
        return out->t == JV_STR ? 0 : JOOM(C);
    }
    case B_NAMESPACE:
    case B_DICT: {
        JDict *d = jdict_new(&C->arena, fn->builtin == B_NAMESPACE ? JD_NAMESPACE : JD_DICT);
        if (!d) return JOOM(C);
        if (a0) {
            if (a0->t != JV_DICT) return jerr(C, nd, AF_EINVAL, "%s(): expected a mapping", fn->name);
            for (size_t i = 0; i < a0->u.d->n; i++)
                if (jdict_set(&C->arena, d, a0->u.d->keys[i], a0->u.d->vals[i])) return JOOM(C);
        }
        for (int k = 0; k < A->nkw; k++)
            if (jdict_set(&C->arena, d, jv_str(A->kwn[k], strlen(A->kwn[k])), A->kwv[k])) return JOOM(C);
        out->t = JV_DICT;
        out->u.d = d;
        return 0;
    }
    case B_RANGE: {
        int64_t start = 0, stop, step = 1;
        for (int i = 0; i < A->npos; i++)
            if (!jv_is_intlike(A->pos[i])) return jerr(C, nd, AF_EINVAL, "range(): expected integers, got %s", jv_type_name(A->pos[i]));
        if (A->npos == 1) stop = jv_ival(A->pos[0]);
        else if (A->npos == 2 || A->npos == 3) {
            start = jv_ival(A->pos[0]);
            stop = jv_ival(A->pos[1]);
            if (A->npos == 3) step = jv_ival(A->pos[2]);
        } else return jerr(C, nd, AF_EINVAL, "range() takes 1 to 3 arguments");
        if (step == 0) return jerr(C, nd, AF_EINVAL, "range() arg 3 must not be zero");
        JValue l = jmklist(C, 0);
        if (l.t != JV_LIST) return JOOM(C);
        for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
            if (l.u.l->n >= JMAX_RANGE) return jerr(C, nd, AF_ERANGE, "range() longer than %d", JMAX_RANGE);
            if (jlist_push(&C->arena, l.u.l, jv_int(i))) return JOOM(C);
        }
        *out = l;
        return 0;
    }
    case JB_CYCLE:
        if (A->npos == 0) return jerr(C, nd, AF_EINVAL, "no items for cycling given");
        *out = A->pos[jv_ival(self) % A->npos];
        return 0;
    case B_D_ITEMS:
    case B_D_KEYS:
    case B_D_VALUES: {
        JValue l = jmklist(C, self.u.d->n + 1);
        if (l.t != JV_LIST) return JOOM(C);
        for (size_t i = 0; i < self.u.d->n; i++) {
            JValue item = fn->builtin == B_D_KEYS ? self.u.d->keys[i] : self.u.d->vals[i];
            if (fn->builtin == B_D_ITEMS) {
                item = jmklist(C, 2);
                if (item.t != JV_LIST) return JOOM(C);
                item.u.l->tuple = 1;
                jlist_push(&C->arena, item.u.l, self.u.d->keys[i]);
                jlist_push(&C->arena, item.u.l, self.u.d->vals[i]);
            }
            if (jlist_push(&C->arena, l.u.l, item)) return JOOM(C);
        }
        *out = l;
        return 0;
    }
    case B_D_GET: {
        if (!a0) return jerr(C, nd, AF_EINVAL, "get expected at least 1 argument");
        const JValue *v = jdict_getv(self.u.d, *a0);
        *out = v ? *v : a1 ? *a1 : jv_none();
        return 0;
    }
    case B_S_STARTSWITH:
    case B_S_ENDSWITH: {
        if (!a0) return jerr(C, nd, AF_EINVAL, "%s() takes at least 1 argument", fn->name);
        JValue one = *a0;
        const JValue *cands = &one;
        size_t ncand = 1;
        if (a0->t == JV_LIST && a0->u.l->tuple) cands = a0->u.l->v, ncand = a0->u.l->n;
        int hit = 0;
        for (size_t i = 0; i < ncand; i++) {
            if (cands[i].t != JV_STR)
                return jerr(C, nd, AF_EINVAL, "%s arg must be str or a tuple of str, not %s", fn->name, jv_type_name(cands[i]));
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
        const JValue *sep = jarg(A, 0, "sep"), *ms = jarg(A, 1, "maxsplit");
        if (ms && !jv_is_intlike(*ms)) return jerr(C, nd, AF_EINVAL, "maxsplit must be an integer");
        return str_split(C, nd, self, sep ? *sep : jv_none(), ms ? jv_ival(*ms) : -1, fn->builtin == B_S_RSPLIT, out);
    }
    case B_S_STRIP: return str_strip(C, nd, self, a0 ? *a0 : jv_none(), 3, out);
    case B_S_LSTRIP: return str_strip(C, nd, self, a0 ? *a0 : jv_none(), 1, out);
    case B_S_RSTRIP: return str_strip(C, nd, self, a0 ? *a0 : jv_none(), 2, out);
    case B_S_REPLACE: {
        const JValue *cnt = jarg(A, 2, "count");
        if (!a0 || !a1) return jerr(C, nd, AF_EINVAL, "replace() takes at least 2 arguments");
        return str_replace(C, nd, self, *a0, *a1, cnt && jv_is_intlike(*cnt) ? jv_ival(*cnt) : -1, out);
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
        if (!a0) return jerr(C, nd, AF_EINVAL, "join() takes exactly one argument");
        JList *items;
        int rc = jiterate(C, nd, *a0, &items);
        if (rc) return rc;
        JBuf b = {0};
        for (size_t i = 0; i < items->n; i++) {
            if (items->v[i].t != JV_STR) {
                free(b.p);
                return jerr(C, nd, AF_EINVAL, "sequence item %zu: expected str instance, %s found", i, jv_type_name(items->v[i]));
            }
            if (i) jbuf_put(&b, self.u.s.p, self.u.s.n);
            jbuf_put(&b, items->v[i].u.s.p, items->v[i].u.s.n);
        }
        *out = b.oom ? jv_undef() : jmkstr(C, b.p ? b.p : "", b.n);
        free(b.p);
        return out->t == JV_STR ? 0 : JOOM(C);
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
    return jerr(C, nd, AF_EINVAL, "'%s' is not callable here", fn->name ? fn->name : "?");
}

/* ------------------------------------------------------------------ tests */
int jtest_apply(JCtx *C, const JNode *nd, int id, JValue v, const JArgs *A, int *res) {
    const JValue *a0 = jarg(A, 0, NULL);
    switch (id) {
    case T_DEFINED: *res = v.t != JV_UNDEF; return 0;
    case T_UNDEFINED: *res = v.t == JV_UNDEF; return 0;
    case T_NONE: *res = v.t == JV_NONE; return 0;
    case T_STRING: *res = v.t == JV_STR; return 0;
    case T_MAPPING: *res = v.t == JV_DICT && v.u.d->kind == JD_DICT; return 0;
    case T_ITERABLE: *res = v.t == JV_STR || v.t == JV_LIST || v.t == JV_UNDEF || (v.t == JV_DICT && v.u.d->kind == JD_DICT); return 0;
    case T_SEQUENCE: *res = v.t == JV_STR || v.t == JV_LIST || v.t == JV_UNDEF || (v.t == JV_DICT && v.u.d->kind == JD_DICT); return 0;
    case T_NUMBER: *res = jv_is_num(v); return 0;
    case T_INTEGER: *res = v.t == JV_INT; return 0;
    case T_FLOAT: *res = v.t == JV_FLOAT; return 0;
    case T_BOOLEAN: *res = v.t == JV_BOOL; return 0;
    case T_TRUE: *res = v.t == JV_BOOL && v.u.b; return 0;
    case T_FALSE: *res = v.t == JV_BOOL && !v.u.b; return 0;
    case T_CALLABLE: *res = v.t == JV_FUNC; return 0;
    case T_EVEN:
    case T_ODD:
        if (!jv_is_intlike(v)) return jerr(C, nd, AF_EINVAL, "'%s' is not an integer", jv_type_name(v));
        *res = (jv_ival(v) % 2 != 0) == (id == T_ODD);
        return 0;
    case T_DIVISIBLEBY:
        if (!a0 || !jv_is_intlike(v) || !jv_is_intlike(*a0) || jv_ival(*a0) == 0)
            return jerr(C, nd, AF_EINVAL, "divisibleby needs two integers (and a non-zero divisor)");
        *res = jv_ival(v) % jv_ival(*a0) == 0;
        return 0;
    case T_LOWER:
    case T_UPPER: {
        JValue s, t;
        int rc = jto_str(C, v, &s);
        if (rc || (rc = str_case(C, s, id == T_LOWER ? 2 : 1, &t))) return rc;
        *res = jv_equal(s, t);
        return 0;
    }
    default: break;
    }
    if (!a0) return jerr(C, nd, AF_EINVAL, "this test needs an argument");
    if (id == T_EQ) *res = jv_equal(v, *a0);
    else if (id == T_NE) *res = !jv_equal(v, *a0);
    else if (id == T_SAMEAS)
        /* Python's `is`: CPython shares None, the bools and the ints -5..256 */
        *res = v.t == a0->t && (v.t == JV_NONE || v.t == JV_UNDEF || (v.t == JV_BOOL && v.u.b == a0->u.b) ||
                                (v.t == JV_INT && v.u.i == a0->u.i && v.u.i >= -5 && v.u.i <= 256) ||
                                 (v.t == JV_LIST && v.u.l == a0->u.l) || (v.t == JV_DICT && v.u.d == a0->u.d));
    else if (id == T_IN) return jcontains(C, nd, *a0, v, res);
    else {
        int cmp, rc = jorder(C, nd, v, *a0, &cmp);
        if (rc) return rc;
        *res = id == T_LT ? cmp < 0 : id == T_LE ? cmp <= 0 : id == T_GT ? cmp > 0 : cmp >= 0;
    }
    return 0;
}

/* ------------------------------------------------------------------ filters */

/* item.attribute for map / join / sum / sort (attribute is a string value). */
static int attr_of(JCtx *C, const JNode *nd, JValue item, JValue attribute, JValue *out) {
    char *name = jarena_strndup(&C->arena, attribute.u.s.p, attribute.u.s.n);
    if (!name) return JOOM(C);
    return jgetattr(C, nd, item, name, out);
}

/* select/reject/selectattr/rejectattr/map over an iterable. */
static int filter_seq(JCtx *C, const JNode *nd, int id, JValue v, const JArgs *A, JValue *out) {
    JList *items;
    int rc = jiterate(C, nd, v, &items);
    if (rc) return rc;
    JValue l = jmklist(C, items->n + 1);
    if (l.t != JV_LIST) return JOOM(C);
    int by_attr = id == F_SELECTATTR || id == F_REJECTATTR;
    const JValue *attr = NULL;
    if (by_attr || id == F_MAP) {
        attr = jarg(A, by_attr ? 0 : -1, "attribute");
        if (by_attr && (!attr || attr->t != JV_STR)) return jerr(C, nd, AF_EINVAL, "%s needs an attribute name", nd->name);
    }
    if (id == F_MAP && !attr) {
        const JValue *fname = jarg(A, 0, NULL);
        if (!fname || fname->t != JV_STR) return jerr(C, nd, AF_EINVAL, "map needs a filter name or attribute=");
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(fname->u.s.n < 60 ? fname->u.s.n : 60), fname->u.s.p);
        int fid = jfilter_lookup(name);
        if (!fid) return jerr(C, nd, AF_EINVAL, "map: unsupported filter '%s'", name);
        JArgs sub = {A->pos + 1, A->npos - 1, A->kwn, A->kwv, A->nkw};
        for (size_t i = 0; i < items->n; i++) {
            JValue r;
            if ((rc = jfilter_apply(C, nd, fid, items->v[i], &sub, &r))) return rc;
            if (jlist_push(&C->arena, l.u.l, r)) return JOOM(C);
        }
        *out = l;
        return 0;
    }
    for (size_t i = 0; i < items->n; i++) {
        JValue x = items->v[i];
        if (attr) {
            if ((rc = attr_of(C, nd, x, *attr, &x))) return rc;
            if (id == F_MAP) {
                const JValue *dflt = jarg(A, -1, "default");
                if (x.t == JV_UNDEF && dflt) x = *dflt;
                if (jlist_push(&C->arena, l.u.l, x)) return JOOM(C);
                continue;
            }
        }
        int keep;
        const JValue *tname = jarg(A, by_attr ? 1 : 0, NULL);
        if (!tname) keep = jv_truthy(x);
        else {
            if (tname->t != JV_STR) return jerr(C, nd, AF_EINVAL, "%s: the test name must be a string", nd->name);
            char name[64];
            snprintf(name, sizeof name, "%.*s", (int)(tname->u.s.n < 60 ? tname->u.s.n : 60), tname->u.s.p);
            int tid = jtest_lookup(name);
            if (!tid) return jerr(C, nd, AF_EINVAL, "%s: unsupported test '%s'", nd->name, name);
            int skip = by_attr ? 2 : 1;
            JArgs sub = {A->pos + skip, A->npos > skip ? A->npos - skip : 0, NULL, NULL, 0};
            if ((rc = jtest_apply(C, nd, tid, x, &sub, &keep))) return rc;
        }
        if (id == F_REJECT || id == F_REJECTATTR) keep = !keep;
        if (keep && jlist_push(&C->arena, l.u.l, items->v[i])) return JOOM(C);
    }
    *out = l;
    return 0;
}

/* sort(reverse=false, case_sensitive=false, attribute=none): Python's stable sorted()
 * on the keys (strings compared lowercased unless case_sensitive). A merge sort, so an
 * ordering error (say 1 < 'a') comes back instead of being hidden. */
static int filter_sort(JCtx *C, const JNode *nd, JValue v, const JArgs *A, JValue *out) {
    const JValue *rev = jarg(A, 0, "reverse"), *cs = jarg(A, 1, "case_sensitive"), *attr = jarg(A, 2, "attribute");
    int reverse = rev && jv_truthy(*rev), sensitive = cs && jv_truthy(*cs), rc;
    JList *items;
    if ((rc = jiterate(C, nd, v, &items))) return rc;
    size_t n = items->n;
    JValue *keys = jarena_alloc(&C->arena, (n + 1) * sizeof *keys);
    size_t *idx = jarena_alloc(&C->arena, (n + 1) * sizeof *idx), *tmp = jarena_alloc(&C->arena, (n + 1) * sizeof *tmp);
    if (!keys || !idx || !tmp) return JOOM(C);
    for (size_t i = 0; i < n; i++) {
        idx[i] = i;
        keys[i] = items->v[i];
        if (attr && attr->t == JV_STR && (rc = attr_of(C, nd, keys[i], *attr, &keys[i]))) return rc;
        if (!sensitive && keys[i].t == JV_STR && (rc = str_case(C, keys[i], 2, &keys[i]))) return rc;
    }
    for (size_t width = 1; width < n; width *= 2)
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t a = lo, b = mid, k = lo;
            while (a < mid && b < hi) {
                int cmp;
                /* take from the right run only when strictly before (after, reversed): stable */
                if ((rc = jorder(C, nd, keys[idx[b]], keys[idx[a]], &cmp))) return rc;
                if (reverse ? cmp > 0 : cmp < 0) tmp[k++] = idx[b++];
                else tmp[k++] = idx[a++];
            }
            while (a < mid) tmp[k++] = idx[a++];
            while (b < hi) tmp[k++] = idx[b++];
            memcpy(idx + lo, tmp + lo, (hi - lo) * sizeof *idx);
        }
    JValue l = jmklist(C, n + 1);
    if (l.t != JV_LIST) return JOOM(C);
    for (size_t i = 0; i < n; i++) jlist_push(&C->arena, l.u.l, items->v[idx[i]]);
    *out = l;
    return 0;
}

int jfilter_apply(JCtx *C, const JNode *nd, int id, JValue v, const JArgs *A, JValue *out) {
    const JValue *a0 = jarg(A, 0, NULL);
    int rc;
    JValue s;
    switch (id) {
    case F_SAFE:
    case F_STRING: return jto_str(C, v, out);
    case F_TRIM:
        if ((rc = jto_str(C, v, &s))) return rc;
        return str_strip(C, nd, s, a0 ? *a0 : (jarg(A, -1, "chars") ? *jarg(A, -1, "chars") : jv_none()), 3, out);
    case F_LOWER:
    case F_UPPER:
    case F_TITLE:
    case F_CAPITALIZE:
        if ((rc = jto_str(C, v, &s))) return rc;
        return str_case(C, s, id == F_UPPER ? 1 : id == F_LOWER ? 2 : id == F_TITLE ? 3 : 4, out);
    case F_LENGTH:
    case F_COUNT:
        if (v.t == JV_STR) *out = jv_int((int64_t)ju_length(v.u.s.p, v.u.s.n));
        else if (v.t == JV_LIST) *out = jv_int((int64_t)v.u.l->n);
        else if (v.t == JV_DICT) *out = jv_int((int64_t)v.u.d->n);
        else if (v.t == JV_UNDEF) *out = jv_int(0);
        else return jerr(C, nd, AF_EINVAL, "object of type '%s' has no len()", jv_type_name(v));
        return 0;
    case F_DEFAULT: {
        const JValue *dflt = jarg(A, 0, "default_value"), *boolean = jarg(A, 1, "boolean");
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
        if ((rc = jiterate(C, nd, v, &items))) return rc;
        *out = items->n == 0 ? jv_undef() : items->v[id == F_FIRST ? 0 : items->n - 1];
        return 0;
    }
    case F_JOIN: {
        const JValue *sep = jarg(A, 0, "d"), *attr = jarg(A, 1, "attribute");
        JList *items;
        if ((rc = jiterate(C, nd, v, &items))) return rc;
        JBuf b = {0};
        for (size_t i = 0; i < items->n && !rc; i++) {
            JValue x = items->v[i];
            if (attr && attr->t == JV_STR) rc = attr_of(C, nd, x, *attr, &x);
            if (i && sep) jv_to_str(&b, *sep);
            jv_to_str(&b, x);
        }
        if (!rc) *out = b.oom ? jv_undef() : jmkstr(C, b.p ? b.p : "", b.n);
        free(b.p);
        if (!rc && out->t != JV_STR) rc = JOOM(C);
        return rc;
    }
    case F_ITEMS: {
        if (v.t == JV_UNDEF) {
            *out = jmklist(C, 0);
            return out->t == JV_LIST ? 0 : JOOM(C);
        }
        if (v.t != JV_DICT) return jerr(C, nd, AF_EINVAL, "Can only get item pairs from a mapping.");
        JFunc fn = {B_D_ITEMS, v, "items", NULL, NULL};
        JArgs none = {0};
        return jbuiltin_call(C, nd, &fn, &none, out);
    }
    case F_LIST:
    case F_REVERSE: {
        if (id == F_REVERSE && v.t == JV_STR) {
            JValue m1 = jv_int(-1);
            return jslice(C, nd, v, jv_none(), jv_none(), m1, out);
        }
        JList *items;
        if ((rc = jiterate(C, nd, v, &items))) return rc;
        JValue l = jmklist(C, items->n + 1);
        if (l.t != JV_LIST) return JOOM(C);
        for (size_t i = 0; i < items->n; i++)
            jlist_push(&C->arena, l.u.l, items->v[id == F_REVERSE ? items->n - 1 - i : i]);
        *out = l;
        return 0;
    }
    case F_REPLACE: {
        const JValue *old = jarg(A, 0, "old"), *nw = jarg(A, 1, "new"), *cnt = jarg(A, 2, "count");
        if (!old || !nw) return jerr(C, nd, AF_EINVAL, "replace needs old and new");
        if ((rc = jto_str(C, v, &s))) return rc;
        JValue os, ns;
        if ((rc = jto_str(C, *old, &os)) || (rc = jto_str(C, *nw, &ns))) return rc;
        return str_replace(C, nd, s, os, ns, cnt && jv_is_intlike(*cnt) ? jv_ival(*cnt) : -1, out);
    }
    case F_ABS:
        if (v.t == JV_FLOAT) *out = jv_float(fabs(v.u.f));
        else if (jv_is_intlike(v)) *out = jv_int(jv_ival(v) < 0 ? -jv_ival(v) : jv_ival(v));
        else return jerr(C, nd, AF_EINVAL, "bad operand type for abs(): '%s'", jv_type_name(v));
        return 0;
    case F_INT:
    case F_FLOAT: {
        const JValue *dflt = jarg(A, 0, "default");
        JValue d = dflt ? *dflt : (id == F_INT ? jv_int(0) : jv_float(0.0));
        if (jv_is_num(v)) *out = id == F_INT ? jv_int(v.t == JV_FLOAT ? (int64_t)v.u.f : jv_ival(v)) : jv_float(jv_fval(v));
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
        const JValue *ea = jarg(A, 0, "ensure_ascii"), *ind = jarg(A, 1, "indent"), *seps = jarg(A, 2, "separators"),
                     *sk = jarg(A, 3, "sort_keys");
        int indent = -1;
        if (ind && ind->t != JV_NONE) {
            if (!jv_is_intlike(*ind)) return jerr(C, nd, AF_EINVAL, "tojson: indent must be an integer (string indents are not supported)");
            indent = jv_ival(*ind) < 0 ? 0 : (int)(jv_ival(*ind) > 64 ? 64 : jv_ival(*ind));
        }
        char isep[32], ksep[32];
        const char *ip = NULL, *kp = NULL;
        if (seps && seps->t != JV_NONE) {
            if (seps->t != JV_LIST || seps->u.l->n != 2 || seps->u.l->v[0].t != JV_STR || seps->u.l->v[1].t != JV_STR)
                return jerr(C, nd, AF_EINVAL, "tojson: separators must be a pair of strings");
            snprintf(isep, sizeof isep, "%.*s", (int)seps->u.l->v[0].u.s.n, seps->u.l->v[0].u.s.p);
            snprintf(ksep, sizeof ksep, "%.*s", (int)seps->u.l->v[1].u.s.n, seps->u.l->v[1].u.s.p);
            ip = isep;
            kp = ksep;
        }
        JBuf b = {0};
        rc = jv_to_json(&b, v, ea ? jv_truthy(*ea) : 0, indent, ip, kp, sk ? jv_truthy(*sk) : 0);
        if (rc) {
            free(b.p);
            return jerr(C, nd, rc, "tojson: %s", af_error_detail());
        }
        *out = b.oom ? jv_undef() : jmkstr(C, b.p ? b.p : "", b.n);
        free(b.p);
        return out->t == JV_STR ? 0 : JOOM(C);
    }
    case F_SUM: {
        const JValue *attr = jarg(A, 0, "attribute"), *start = jarg(A, 1, "start");
        JList *items;
        if ((rc = jiterate(C, nd, v, &items))) return rc;
        JValue acc = start ? *start : jv_int(0);
        for (size_t i = 0; i < items->n; i++) {
            JValue x = items->v[i];
            if (attr && attr->t == JV_STR && (rc = attr_of(C, nd, x, *attr, &x))) return rc;
            if ((rc = jarith(C, nd, OP_ADD, acc, x, &acc))) return rc;
        }
        *out = acc;
        return 0;
    }
    case F_SORT: return filter_sort(C, nd, v, A, out);
    case F_MAP:
    case F_SELECT:
    case F_REJECT:
    case F_SELECTATTR:
    case F_REJECTATTR: return filter_seq(C, nd, id, v, A, out);
    }
    return jerr(C, nd, AF_EINVAL, "filter not implemented");
}
