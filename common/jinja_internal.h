/* Types shared by the Jinja2 subset interpreter's modules: the arena and values
 * (jinja_value.c), tokens (jinja_lex.c), the syntax tree (jinja_parse.c), and what the
 * evaluator (jinja_eval.c) and the builtins (jinja_builtins.c) share. Not a public
 * header: common/jinja.h is the contract. */
#ifndef AF_COMMON_JINJA_INTERNAL_H
#define AF_COMMON_JINJA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* ------------------------------------------------------------------ arena
 * Every syntax node and every value made while rendering lives in an arena that is
 * freed at once: a render never frees piecemeal, so values can share freely. */
typedef struct JArenaChunk JArenaChunk;
typedef struct JArena {
    JArenaChunk *head;
    size_t used_bytes; /* total bytes handed out, for the render's memory limit */
    size_t limit_bytes; /* 0 = no limit */
} JArena;

/* NULL when out of memory or over the limit (the caller reports AF_ENOMEM). */
void *jarena_alloc(JArena *a, size_t bytes);
char *jarena_strndup(JArena *a, const char *s, size_t n);
void jarena_free(JArena *a);

/* ------------------------------------------------------------------ values */
typedef enum {
    JV_UNDEF = 0, /* jinja2.Undefined: prints "", false, iterates as empty */
    JV_NONE,
    JV_BOOL,
    JV_INT,
    JV_FLOAT,
    JV_STR,  /* UTF-8 bytes, not NUL-terminated necessarily */
    JV_LIST, /* list or tuple */
    JV_DICT, /* dict, namespace() or the loop object (see JDict.kind) */
    JV_FUNC  /* a builtin (global, filter-like method bound to a value) or a macro */
} JType;

typedef struct JList JList;
typedef struct JDict JDict;
typedef struct JFunc JFunc;

typedef struct JValue {
    JType t;
    union {
        int b;
        int64_t i;
        double f;
        struct {
            const char *p;
            size_t n; /* bytes */
        } s;
        JList *l;
        JDict *d;
        JFunc *fn;
    } u;
} JValue;

struct JList {
    JValue *v;
    size_t n, cap;
    int tuple; /* printed as (a, b) */
};

enum { JD_DICT = 0, JD_NAMESPACE, JD_LOOP };
struct JDict {
    JValue *keys, *vals;
    size_t n, cap;
    int kind;
};

struct JNode;
struct JFrame;
struct JFunc {
    int builtin;          /* JB_* id, or 0 for a macro */
    JValue self;          /* bound receiver of a method (str.split, dict.items, ...) */
    const char *name;     /* for messages */
    struct JNode *macro;  /* N_MACRO when builtin == 0 */
    struct JFrame *closure; /* the scope a macro was defined in */
};

/* An undefined value may carry the name it was looked up by (u.s.p, NUL-terminated),
 * for "'x' is undefined" messages. */
static inline JValue jv_undef(void) { JValue v = {0}; v.t = JV_UNDEF; return v; }
static inline JValue jv_none(void) { JValue v = {0}; v.t = JV_NONE; return v; }
static inline JValue jv_bool(int b) { JValue v = {0}; v.t = JV_BOOL; v.u.b = !!b; return v; }
static inline JValue jv_int(int64_t i) { JValue v = {0}; v.t = JV_INT; v.u.i = i; return v; }
static inline JValue jv_float(double f) { JValue v = {0}; v.t = JV_FLOAT; v.u.f = f; return v; }
static inline JValue jv_str(const char *p, size_t n) { JValue v = {0}; v.t = JV_STR; v.u.s.p = p; v.u.s.n = n; return v; }

/* Growable byte buffer (malloc'd; the output and the scratch of conversions). */
typedef struct JBuf {
    char *p;
    size_t n, cap;
    int oom;
} JBuf;
void jbuf_put(JBuf *b, const char *s, size_t n);
void jbuf_puts(JBuf *b, const char *s);
void jbuf_putc(JBuf *b, char c);

JList *jlist_new(JArena *a, size_t cap);
int jlist_push(JArena *a, JList *l, JValue v);          /* 0 or AF_ENOMEM */
JDict *jdict_new(JArena *a, int kind);
int jdict_set(JArena *a, JDict *d, JValue key, JValue v); /* replaces an equal key */
const JValue *jdict_get(const JDict *d, const char *key, size_t n);
const JValue *jdict_getv(const JDict *d, JValue key);

/* Python semantics. */
int jv_truthy(JValue v);
int jv_equal(JValue a, JValue b);
const char *jv_type_name(JValue v);
/* str(v) appended to b (Python str(): None, True, repr() of list items, float repr). */
void jv_to_str(JBuf *b, JValue v);
/* json.dumps(v, ensure_ascii, indent (<0 = None), separators (NULL = default),
 * sort_keys): 0, or AF_EINVAL if v holds something JSON cannot carry. */
int jv_to_json(JBuf *b, JValue v, int ensure_ascii, int indent, const char *item_sep,
               const char *key_sep, int sort_keys);
/* cJSON -> value; strings point into the cJSON tree (which must outlive the render),
 * numbers that are integral and below 2^53 become ints. */
int jv_from_cjson(JArena *a, const cJSON *j, JValue *out);

/* UTF-8 helpers: decode one code point at s[*i] (an invalid byte is its own code point
 * 0xDC00+byte, as Python's surrogateescape would read it) and advance *i. */
uint32_t ju_next(const char *s, size_t n, size_t *i);
size_t ju_length(const char *s, size_t n); /* code points */
int ju_isspace(uint32_t c);               /* Python str.isspace() for one code point */

/* ------------------------------------------------------------------ syntax tree */
typedef enum {
    /* expressions */
    N_CONST, N_NAME, N_GETATTR, N_GETITEM, N_SLICE, N_CALL, N_FILTER, N_TEST,
    N_BINOP, N_NEG, N_POS, N_NOT, N_AND, N_OR, N_COMPARE, N_CONCAT, N_COND,
    N_LIST, N_TUPLE, N_DICT,
    /* statements */
    N_BODY, N_DATA, N_OUTPUT, N_IF, N_FOR, N_SET, N_SETBLOCK, N_MACRO, N_BREAK,
    N_CONTINUE
} JNodeKind;

enum { OP_ADD = 1, OP_SUB, OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD, OP_POW,
       OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_IN, OP_NOTIN };

typedef struct JNode {
    JNodeKind kind;
    int op;            /* OP_* for N_BINOP; negated test for N_TEST */
    size_t pos;        /* byte offset in the template source, for messages */
    JValue val;        /* N_CONST, N_DATA (string) */
    const char *name;  /* N_NAME, N_GETATTR attr, N_FILTER/N_TEST name, N_MACRO name */
    int id;            /* resolved filter / test id */
    struct JNode *a, *b, *c, *d;
    struct JNode **items; /* body statements, call/filter args, list items, dict keys */
    struct JNode **items2; /* dict values, call kwarg values, macro defaults */
    const char **names; /* call kwarg names, for-loop / set targets, macro params */
    int *ops;          /* N_COMPARE operators (nitems - 1 of them) */
    int nitems, nitems2, nnames;
} JNode;

typedef struct JTemplate {
    JArena arena;
    char *src;    /* normalized source (newlines \n, one trailing newline dropped) */
    size_t srclen;
    JNode *root;  /* N_BODY */
} JTemplate;

/* Line and column (1-based) of a byte offset, for messages. */
void jsrc_linecol(const char *src, size_t srclen, size_t pos, int *line, int *col);
/* AF_EFORMAT with "chat template:LINE:COL: " + fmt (one %s: what). */
int jsrc_error(const JTemplate *t, size_t pos, const char *fmt, const char *what);

/* ------------------------------------------------------------------ tokens (jinja_lex.c) */
typedef enum { TK_DATA, TK_VAR_BEGIN, TK_VAR_END, TK_BLOCK_BEGIN, TK_BLOCK_END, TK_NAME, TK_STRING, TK_INT,
               TK_FLOAT, TK_OP, TK_EOF } JTokKind;

typedef struct JTok {
    JTokKind k;
    size_t pos;    /* byte offset in the source */
    const char *s; /* name / operator / data (into the source) or decoded string (arena) */
    size_t n;      /* bytes of s */
    int64_t i;     /* TK_INT */
    double f;      /* TK_FLOAT */
} JTok;

/* Tokens of t->src, ending with TK_EOF: data, tag delimiters, then the tag's names,
 * literals and operators. *toks is malloc'd. 0, or AF_EFORMAT naming the line and
 * column (unterminated tag, comment or string, unexpected character), AF_ENOMEM. */
int jlex(JTemplate *t, JTok **toks, size_t *ntok);

/* Filter and test ids the parser resolves and the evaluator implements. The parser
 * refuses a name not in these tables. */
int jfilter_lookup(const char *name);
int jtest_lookup(const char *name);

/* ------------------------------------------------------------------ rendering
 * Shared by the evaluator (jinja_eval.c) and the builtins (jinja_builtins.c). */
#define JMAX_DEPTH 200                       /* nested loops and macro calls */
#define JMAX_OUTPUT_BYTES ((size_t)256 << 20) /* rendered text */
#define JMAX_ARENA_BYTES ((size_t)1 << 30)    /* values made while rendering */
#define JMAX_RANGE 1000000                   /* items of range() and list repetition */

typedef struct JCtx {
    const JTemplate *t;
    JArena arena; /* the render's values; freed when it ends */
    int depth;
} JCtx;

/* Evaluated call arguments: positional, then keyword (names kwn, values kwv). */
typedef struct JArgs {
    JValue *pos;
    int npos;
    const char **kwn;
    JValue *kwv;
    int nkw;
} JArgs;

static inline int jv_is_num(JValue v) { return v.t == JV_BOOL || v.t == JV_INT || v.t == JV_FLOAT; }
static inline int jv_is_intlike(JValue v) { return v.t == JV_BOOL || v.t == JV_INT; }
static inline int64_t jv_ival(JValue v) { return v.t == JV_INT ? v.u.i : v.u.b; }
static inline double jv_fval(JValue v) { return v.t == JV_FLOAT ? v.u.f : (double)jv_ival(v); }

/* A render error "chat template:LINE:COL: message" at nd (NULL = no position). */
int jerr(JCtx *C, const JNode *nd, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
#define JOOM(C) jerr(C, NULL, AF_ENOMEM, "out of memory (or over the render's %zu MiB)", JMAX_ARENA_BYTES >> 20)
int jundef_err(JCtx *C, const JNode *nd, JValue v); /* "'name' is undefined" */

/* Values in the render's arena (JV_UNDEF when out of memory). */
JValue jmkstr(JCtx *C, const char *p, size_t n);
JValue jmklist(JCtx *C, size_t cap);
JValue jmkfunc(JCtx *C, int id, JValue self, const char *name);
int jto_str(JCtx *C, JValue v, JValue *out);                     /* str(v) */
int jiterate(JCtx *C, const JNode *nd, JValue v, JList **out);  /* list items, dict keys, chars */
int jgetattr(JCtx *C, const JNode *nd, JValue obj, const char *name, JValue *out);
int jslice(JCtx *C, const JNode *nd, JValue obj, JValue a, JValue b, JValue c, JValue *out);
int jorder(JCtx *C, const JNode *nd, JValue a, JValue b, int *cmp); /* Python <, ==, > */
int jarith(JCtx *C, const JNode *nd, int op, JValue a, JValue b, JValue *out); /* OP_ADD .. OP_POW */
int jcontains(JCtx *C, const JNode *nd, JValue container, JValue item, int *res);

/* Builtins (jinja_builtins.c). Ids are > 0; JB_CYCLE is loop.cycle. */
enum { JB_CYCLE = 1 };
int jbuiltin_global(const char *name);           /* range, namespace, ...; 0 if none */
int jbuiltin_method(JValue self, const char *name); /* str / dict methods; 0 if none */
int jbuiltin_call(JCtx *C, const JNode *nd, const JFunc *fn, const JArgs *A, JValue *out);
const JValue *jarg(const JArgs *A, int i, const char *name); /* by position or keyword */
int jfilter_apply(JCtx *C, const JNode *nd, int id, JValue v, const JArgs *A, JValue *out);
int jtest_apply(JCtx *C, const JNode *nd, int id, JValue v, const JArgs *A, int *res);

#endif
