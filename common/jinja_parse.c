/* Parser of the Jinja2 subset: tokens (jinja_lex.c) -> syntax tree (JNode), with
 * Jinja2's grammar and operator precedence. Anything outside the subset is refused
 * with its line and column. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/jinja.h"
#include "common/jinja_internal.h"

#define MAX_NESTING 200 /* parentheses, unary operators, conditional expressions, blocks */

typedef struct {
    JTemplate *t;
    JTok *toks;
    size_t ntok;
    size_t cur;
    int depth; /* recursion of the descent, bounded so a hostile template cannot exhaust the stack */
} Parser;

static int perr(Parser *P, size_t pos, const char *fmt, const char *what) { return jsrc_error(P->t, pos, fmt, what); }

/* One level deeper in the descent, or an error past MAX_NESTING (the caller returns). */
static int enter(Parser *P) {
    if (P->depth >= MAX_NESTING) return perr(P, P->toks[P->cur].pos, "%s", "nested too deeply (more than 200 levels)");
    P->depth++;
    return 0;
}

/* ------------------------------------------------------------------ parser helpers */
static JTok *cur(Parser *P) { return &P->toks[P->cur]; }
static JTok *peek(Parser *P, size_t k) {
    size_t i = P->cur + k;
    return &P->toks[i < P->ntok ? i : P->ntok - 1];
}
static int tok_is(const JTok *t, JTokKind k, const char *s) {
    return t->k == k && (!s || (t->n == strlen(s) && memcmp(t->s, s, t->n) == 0));
}
static int is_op(Parser *P, const char *s) { return tok_is(cur(P), TK_OP, s); }
static int is_name(Parser *P, const char *s) { return tok_is(cur(P), TK_NAME, s); }

static const char *tok_text(Parser *P, const JTok *t) {
    static __thread char buf[64];
    switch (t->k) {
    case TK_EOF: return "end of template";
    case TK_VAR_END: return "'}}'";
    case TK_BLOCK_END: return "'%}'";
    case TK_VAR_BEGIN: return "'{{'";
    case TK_BLOCK_BEGIN: return "'{%'";
    case TK_DATA: return "template text";
    case TK_STRING: return "a string";
    case TK_INT:
    case TK_FLOAT: return "a number";
    default: break;
    }
    (void)P;
    snprintf(buf, sizeof buf, "'%.*s'", (int)(t->n < 40 ? t->n : 40), t->s);
    return buf;
}

static int expect_op(Parser *P, const char *s) {
    if (!is_op(P, s)) {
        char msg[96];
        snprintf(msg, sizeof msg, "expected '%s', got %%s", s);
        return perr(P, cur(P)->pos, msg, tok_text(P, cur(P)));
    }
    P->cur++;
    return 0;
}

static int expect_kind(Parser *P, JTokKind k, const char *what) {
    if (cur(P)->k != k) {
        char msg[96];
        snprintf(msg, sizeof msg, "expected %s, got %%s", what);
        return perr(P, cur(P)->pos, msg, tok_text(P, cur(P)));
    }
    P->cur++;
    return 0;
}

static JNode *mk(Parser *P, JNodeKind k, size_t pos) {
    JNode *nd = jarena_alloc(&P->t->arena, sizeof *nd);
    if (nd) {
        nd->kind = k;
        nd->pos = pos;
    }
    return nd;
}

static const char *name_dup(Parser *P, const JTok *t) { return jarena_strndup(&P->t->arena, t->s, t->n); }

/* A growable node list, copied into the arena when done. */
typedef struct {
    JNode **v;
    const char **names;
    size_t n, cap;
} Vec;

static int vec_push(Vec *v, JNode *nd, const char *name) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        JNode **nv = realloc(v->v, cap * sizeof *nv);
        if (!nv) return AF_ENOMEM;
        v->v = nv;
        const char **nn = realloc(v->names, cap * sizeof *nn);
        if (!nn) return AF_ENOMEM;
        v->names = nn;
        v->cap = cap;
    }
    v->v[v->n] = nd;
    v->names[v->n] = name;
    v->n++;
    return 0;
}

static JNode **vec_nodes(Parser *P, Vec *v) {
    JNode **out = jarena_alloc(&P->t->arena, (v->n + 1) * sizeof *out);
    if (out && v->n) memcpy(out, v->v, v->n * sizeof *out);
    return out;
}
static const char **vec_names(Parser *P, Vec *v) {
    const char **out = jarena_alloc(&P->t->arena, (v->n + 1) * sizeof *out);
    if (out && v->n) memcpy(out, v->names, v->n * sizeof *out);
    return out;
}
static void vec_free(Vec *v) {
    free(v->v);
    free(v->names);
}

#define OOM() af_error_set(AF_ENOMEM, "chat template: out of memory")
#define TRY(x)                                                                                               \
    do {                                                                                                     \
        if (!(x)) return NULL;                                                                               \
    } while (0)

/* The expression parsers return NULL with the error recorded. */
static JNode *parse_expression(Parser *P);
static JNode *parse_or(Parser *P);
static JNode *parse_unary(Parser *P, int with_filter);
static JNode *parse_primary(Parser *P);
static JNode *parse_postfix(Parser *P, JNode *node);

/* Call arguments after '(' up to ')': positional into nd->items, keywords into
 * nd->names / nd->items2. */
static JNode *parse_call_args(Parser *P, JNode *nd) {
    Vec pos = {0}, kw = {0};
    if (expect_op(P, "(")) return NULL;
    while (!is_op(P, ")")) {
        if (pos.n + kw.n > 0 && expect_op(P, ",")) goto fail;
        if (is_op(P, ")")) break;
        if (is_op(P, "*") || is_op(P, "**")) {
            perr(P, cur(P)->pos, "%s", "*args and **kwargs in calls are not supported");
            goto fail;
        }
        if (cur(P)->k == TK_NAME && tok_is(peek(P, 1), TK_OP, "=")) {
            const char *nm = name_dup(P, cur(P));
            P->cur += 2;
            JNode *v = parse_expression(P);
            if (!v) goto fail;
            if (vec_push(&kw, v, nm)) goto oom;
        } else {
            if (kw.n) {
                perr(P, cur(P)->pos, "%s", "positional argument after keyword argument");
                goto fail;
            }
            JNode *v = parse_expression(P);
            if (!v) goto fail;
            if (vec_push(&pos, v, NULL)) goto oom;
        }
    }
    P->cur++;
    nd->items = vec_nodes(P, &pos);
    nd->nitems = (int)pos.n;
    nd->items2 = vec_nodes(P, &kw);
    nd->names = vec_names(P, &kw);
    nd->nitems2 = (int)kw.n;
    vec_free(&pos);
    vec_free(&kw);
    if (!nd->items || !nd->items2 || !nd->names) {
        OOM();
        return NULL;
    }
    return nd;
oom:
    OOM();
fail:
    vec_free(&pos);
    vec_free(&kw);
    return NULL;
}

static JNode *parse_subscript(Parser *P, JNode *target, size_t pos) {
    /* after '[' */
    JNode *args[3] = {NULL, NULL, NULL};
    int is_slice = 0;
    if (!is_op(P, ":")) TRY(args[0] = parse_expression(P));
    if (is_op(P, ":")) {
        is_slice = 1;
        P->cur++;
        if (!is_op(P, "]") && !is_op(P, ":")) TRY(args[1] = parse_expression(P));
        if (is_op(P, ":")) {
            P->cur++;
            if (!is_op(P, "]")) TRY(args[2] = parse_expression(P));
        }
    }
    if (is_op(P, ",")) {
        perr(P, cur(P)->pos, "%s", "tuple subscripts are not supported");
        return NULL;
    }
    if (expect_op(P, "]")) return NULL;
    JNode *nd = mk(P, is_slice ? N_SLICE : N_GETITEM, pos);
    if (!nd) return OOM(), NULL;
    nd->a = target;
    nd->b = args[0];
    nd->c = args[1];
    nd->d = args[2];
    return nd;
}

static JNode *parse_postfix(Parser *P, JNode *node) {
    for (;;) {
        size_t pos = cur(P)->pos;
        if (is_op(P, ".")) {
            P->cur++;
            if (cur(P)->k == TK_NAME) {
                JNode *nd = mk(P, N_GETATTR, pos);
                if (!nd) return OOM(), NULL;
                nd->a = node;
                nd->name = name_dup(P, cur(P));
                P->cur++;
                node = nd;
            } else if (cur(P)->k == TK_INT) {
                JNode *nd = mk(P, N_GETITEM, pos), *k = mk(P, N_CONST, pos);
                if (!nd || !k) return OOM(), NULL;
                k->val = jv_int(cur(P)->i);
                nd->a = node;
                nd->b = k;
                P->cur++;
                node = nd;
            } else {
                perr(P, cur(P)->pos, "expected an attribute name after '.', got %s", tok_text(P, cur(P)));
                return NULL;
            }
        } else if (is_op(P, "[")) {
            P->cur++;
            TRY(node = parse_subscript(P, node, pos));
        } else if (is_op(P, "(")) {
            JNode *nd = mk(P, N_CALL, pos);
            if (!nd) return OOM(), NULL;
            nd->a = node;
            TRY(node = parse_call_args(P, nd));
        } else return node;
    }
}

/* The filter or test name at the cursor, resolved to its id; unknown names are refused. */
static int resolve_name(Parser *P, JNode *nd, const char *what, int (*lookup)(const char *)) {
    char msg[96];
    if (cur(P)->k != TK_NAME) {
        snprintf(msg, sizeof msg, "expected a %s name, got %%s", what);
        return perr(P, cur(P)->pos, msg, tok_text(P, cur(P)));
    }
    if (!(nd->name = name_dup(P, cur(P)))) return OOM();
    nd->id = lookup(nd->name);
    if (nd->id <= 0) {
        snprintf(msg, sizeof msg, "unsupported %s '%%s'", what);
        return perr(P, cur(P)->pos, msg, nd->name);
    }
    P->cur++;
    return 0;
}

static JNode *parse_filter_expr(Parser *P, JNode *node) {
    for (;;) {
        size_t pos = cur(P)->pos;
        if (is_op(P, "|")) {
            P->cur++;
            JNode *nd = mk(P, N_FILTER, cur(P)->pos);
            if (!nd) return OOM(), NULL;
            if (resolve_name(P, nd, "filter", jfilter_lookup)) return NULL;
            nd->a = node;
            if (is_op(P, "(")) TRY(parse_call_args(P, nd));
            node = nd;
        } else if (is_name(P, "is")) {
            P->cur++;
            JNode *nd = mk(P, N_TEST, pos);
            if (!nd) return OOM(), NULL;
            if (is_name(P, "not")) {
                nd->op = 1;
                P->cur++;
            }
            if (resolve_name(P, nd, "test", jtest_lookup)) return NULL;
            nd->a = node;
            JTok *t = cur(P);
            if (is_op(P, "(")) TRY(parse_call_args(P, nd));
            else if ((t->k == TK_NAME || t->k == TK_STRING || t->k == TK_INT || t->k == TK_FLOAT || is_op(P, "[") ||
                      is_op(P, "{")) &&
                     !is_name(P, "else") && !is_name(P, "or") && !is_name(P, "and")) {
                if (is_name(P, "is")) {
                    perr(P, t->pos, "%s", "cannot chain tests with 'is'");
                    return NULL;
                }
                JNode *arg = parse_primary(P);
                TRY(arg);
                TRY(arg = parse_postfix(P, arg));
                nd->items = jarena_alloc(&P->t->arena, sizeof *nd->items);
                if (!nd->items) return OOM(), NULL;
                nd->items[0] = arg;
                nd->nitems = 1;
            }
            node = nd;
        } else if (is_op(P, "(")) {
            JNode *nd = mk(P, N_CALL, pos);
            if (!nd) return OOM(), NULL;
            nd->a = node;
            TRY(node = parse_call_args(P, nd));
        } else return node;
    }
}

static JNode *parse_seq(Parser *P, JNodeKind kind, const char *close, size_t pos) {
    /* after the opener */
    Vec keys = {0}, vals = {0};
    while (!is_op(P, close)) {
        if (keys.n && expect_op(P, ",")) goto fail;
        if (is_op(P, close)) break;
        JNode *k = parse_expression(P);
        if (!k) goto fail;
        if (vec_push(&keys, k, NULL)) goto oom;
        if (kind == N_DICT) {
            if (expect_op(P, ":")) goto fail;
            JNode *v = parse_expression(P);
            if (!v) goto fail;
            if (vec_push(&vals, v, NULL)) goto oom;
        }
    }
    P->cur++;
    JNode *nd = mk(P, kind, pos);
    if (!nd) goto oom;
    nd->items = vec_nodes(P, &keys);
    nd->nitems = (int)keys.n;
    nd->items2 = vec_nodes(P, &vals);
    nd->nitems2 = (int)vals.n;
    vec_free(&keys);
    vec_free(&vals);
    if (!nd->items || !nd->items2) return OOM(), NULL;
    return nd;
oom:
    OOM();
fail:
    vec_free(&keys);
    vec_free(&vals);
    return NULL;
}

/* first, then (sep item)* into a node of `kind` (tuples, ~ chains); stop(P), when
 * given, ends the list after a separator (a trailing comma). */
static JNode *parse_sep_list(Parser *P, JNode *first, const char *sep, JNodeKind kind, size_t pos,
                             JNode *(*next)(Parser *), int (*stop)(Parser *)) {
    Vec v = {0};
    JNode *nd = NULL;
    if (vec_push(&v, first, NULL)) goto oom;
    while (is_op(P, sep)) {
        P->cur++;
        if (stop && stop(P)) break;
        JNode *x = next(P);
        if (!x) goto fail;
        if (vec_push(&v, x, NULL)) goto oom;
    }
    nd = mk(P, kind, pos);
    if (nd) {
        nd->items = vec_nodes(P, &v);
        nd->nitems = (int)v.n;
    }
    if (!nd || !nd->items) goto oom;
    vec_free(&v);
    return nd;
oom:
    OOM();
fail:
    vec_free(&v);
    return NULL;
}

static int at_close_paren(Parser *P) { return is_op(P, ")"); }
static int at_tag_end(Parser *P) { return cur(P)->k == TK_VAR_END || cur(P)->k == TK_BLOCK_END; }

static JNode *parse_primary(Parser *P) {
    JTok *t = cur(P);
    size_t pos = t->pos;
    if (t->k == TK_NAME) {
        JNode *nd = mk(P, N_CONST, pos);
        if (!nd) return OOM(), NULL;
        if (tok_is(t, TK_NAME, "true") || tok_is(t, TK_NAME, "True")) nd->val = jv_bool(1);
        else if (tok_is(t, TK_NAME, "false") || tok_is(t, TK_NAME, "False")) nd->val = jv_bool(0);
        else if (tok_is(t, TK_NAME, "none") || tok_is(t, TK_NAME, "None")) nd->val = jv_none();
        else {
            nd->kind = N_NAME;
            nd->name = name_dup(P, t);
        }
        P->cur++;
        return nd;
    }
    if (t->k == TK_STRING) {
        JBuf b = {0};
        while (cur(P)->k == TK_STRING) {
            jbuf_put(&b, cur(P)->s, cur(P)->n);
            P->cur++;
        }
        JNode *nd = mk(P, N_CONST, pos);
        char *s = b.oom ? NULL : jarena_strndup(&P->t->arena, b.p ? b.p : "", b.n);
        size_t n = b.n;
        free(b.p);
        if (!nd || !s) return OOM(), NULL;
        nd->val = jv_str(s, n);
        return nd;
    }
    if (t->k == TK_INT || t->k == TK_FLOAT) {
        JNode *nd = mk(P, N_CONST, pos);
        if (!nd) return OOM(), NULL;
        nd->val = t->k == TK_INT ? jv_int(t->i) : jv_float(t->f);
        P->cur++;
        return nd;
    }
    if (is_op(P, "(")) {
        P->cur++;
        if (is_op(P, ")")) {
            P->cur++;
            JNode *nd = mk(P, N_TUPLE, pos);
            if (!nd) return OOM(), NULL;
            return nd;
        }
        JNode *e = parse_expression(P);
        TRY(e);
        if (is_op(P, ",")) TRY(e = parse_sep_list(P, e, ",", N_TUPLE, pos, parse_expression, at_close_paren));
        if (expect_op(P, ")")) return NULL;
        return e;
    }
    if (is_op(P, "[")) {
        P->cur++;
        return parse_seq(P, N_LIST, "]", pos);
    }
    if (is_op(P, "{")) {
        P->cur++;
        return parse_seq(P, N_DICT, "}", pos);
    }
    perr(P, pos, "unexpected %s in an expression", tok_text(P, t));
    return NULL;
}

static JNode *parse_unary_in(Parser *P, int with_filter);
static JNode *parse_unary(Parser *P, int with_filter) {
    if (enter(P)) return NULL;
    JNode *nd = parse_unary_in(P, with_filter);
    P->depth--;
    return nd;
}

static JNode *parse_unary_in(Parser *P, int with_filter) {
    JNode *node;
    size_t pos = cur(P)->pos;
    if (is_op(P, "-") || is_op(P, "+")) {
        JNodeKind k = is_op(P, "-") ? N_NEG : N_POS;
        P->cur++;
        JNode *a = parse_unary(P, 0);
        TRY(a);
        node = mk(P, k, pos);
        if (!node) return OOM(), NULL;
        node->a = a;
    } else {
        TRY(node = parse_primary(P));
    }
    TRY(node = parse_postfix(P, node));
    if (with_filter) TRY(node = parse_filter_expr(P, node));
    return node;
}

static JNode *binop(Parser *P, int op, JNode *a, JNode *b, size_t pos) {
    JNode *nd = mk(P, N_BINOP, pos);
    if (!nd) return OOM(), NULL;
    nd->op = op;
    nd->a = a;
    nd->b = b;
    return nd;
}

static JNode *parse_pow(Parser *P) {
    JNode *l = parse_unary(P, 1);
    while (l && is_op(P, "**")) {
        size_t pos = cur(P)->pos;
        P->cur++;
        JNode *r = parse_unary(P, 1);
        TRY(r);
        l = binop(P, OP_POW, l, r, pos);
    }
    return l;
}

static JNode *parse_math2(Parser *P) {
    JNode *l = parse_pow(P);
    while (l) {
        int op = is_op(P, "*") ? OP_MUL : is_op(P, "/") ? OP_DIV : is_op(P, "//") ? OP_FLOORDIV : is_op(P, "%") ? OP_MOD : 0;
        if (!op) break;
        size_t pos = cur(P)->pos;
        P->cur++;
        JNode *r = parse_pow(P);
        TRY(r);
        l = binop(P, op, l, r, pos);
    }
    return l;
}

static JNode *parse_concat(Parser *P) {
    JNode *l = parse_math2(P);
    TRY(l);
    if (!is_op(P, "~")) return l;
    return parse_sep_list(P, l, "~", N_CONCAT, cur(P)->pos, parse_math2, NULL);
}

static JNode *parse_math1(Parser *P) {
    JNode *l = parse_concat(P);
    while (l) {
        int op = is_op(P, "+") ? OP_ADD : is_op(P, "-") ? OP_SUB : 0;
        if (!op) break;
        size_t pos = cur(P)->pos;
        P->cur++;
        JNode *r = parse_concat(P);
        TRY(r);
        l = binop(P, op, l, r, pos);
    }
    return l;
}

static int compare_op(Parser *P, int *advance) {
    *advance = 1;
    if (is_op(P, "==")) return OP_EQ;
    if (is_op(P, "!=")) return OP_NE;
    if (is_op(P, "<")) return OP_LT;
    if (is_op(P, "<=")) return OP_LE;
    if (is_op(P, ">")) return OP_GT;
    if (is_op(P, ">=")) return OP_GE;
    if (is_name(P, "in")) return OP_IN;
    if (is_name(P, "not") && tok_is(peek(P, 1), TK_NAME, "in")) {
        *advance = 2;
        return OP_NOTIN;
    }
    return 0;
}

static JNode *parse_compare(Parser *P) {
    JNode *l = parse_math1(P);
    TRY(l);
    int adv, op = compare_op(P, &adv);
    if (!op) return l;
    Vec v = {0};
    int ops[64], nops = 0;
    size_t pos = cur(P)->pos;
    if (vec_push(&v, l, NULL)) return OOM(), NULL;
    while ((op = compare_op(P, &adv)) != 0) {
        if (nops == 64) {
            vec_free(&v);
            perr(P, pos, "%s", "comparison chain too long");
            return NULL;
        }
        P->cur += (size_t)adv;
        JNode *r = parse_math1(P);
        if (!r || vec_push(&v, r, NULL)) {
            vec_free(&v);
            if (r) OOM();
            return NULL;
        }
        ops[nops++] = op;
    }
    JNode *nd = mk(P, N_COMPARE, pos);
    if (nd) {
        nd->items = vec_nodes(P, &v);
        nd->nitems = (int)v.n;
        nd->ops = jarena_alloc(&P->t->arena, sizeof ops);
        if (nd->ops) memcpy(nd->ops, ops, sizeof ops);
    }
    vec_free(&v);
    if (!nd || !nd->items || !nd->ops) return OOM(), NULL;
    return nd;
}

static JNode *parse_not_in(Parser *P);
static JNode *parse_not(Parser *P) {
    if (enter(P)) return NULL;
    JNode *nd = parse_not_in(P);
    P->depth--;
    return nd;
}

static JNode *parse_not_in(Parser *P) {
    if (is_name(P, "not")) {
        size_t pos = cur(P)->pos;
        P->cur++;
        JNode *a = parse_not(P);
        TRY(a);
        JNode *nd = mk(P, N_NOT, pos);
        if (!nd) return OOM(), NULL;
        nd->a = a;
        return nd;
    }
    return parse_compare(P);
}

/* and / or chains: left-associative, one level each. */
static JNode *parse_bool_chain(Parser *P, const char *word, JNodeKind kind, JNode *(*next)(Parser *)) {
    JNode *l = next(P);
    while (l && is_name(P, word)) {
        size_t pos = cur(P)->pos;
        P->cur++;
        JNode *r = next(P);
        TRY(r);
        JNode *nd = mk(P, kind, pos);
        if (!nd) return OOM(), NULL;
        nd->a = l;
        nd->b = r;
        l = nd;
    }
    return l;
}

static JNode *parse_and(Parser *P) { return parse_bool_chain(P, "and", N_AND, parse_not); }
static JNode *parse_or(Parser *P) { return parse_bool_chain(P, "or", N_OR, parse_and); }

static JNode *parse_expression_in(Parser *P);
static JNode *parse_expression(Parser *P) {
    if (enter(P)) return NULL;
    JNode *nd = parse_expression_in(P);
    P->depth--;
    return nd;
}

static JNode *parse_expression_in(Parser *P) {
    JNode *e1 = parse_or(P);
    while (e1 && is_name(P, "if")) {
        size_t pos = cur(P)->pos;
        P->cur++;
        JNode *cond = parse_or(P), *e3 = NULL;
        TRY(cond);
        if (is_name(P, "else")) {
            P->cur++;
            TRY(e3 = parse_expression(P));
        }
        JNode *nd = mk(P, N_COND, pos);
        if (!nd) return OOM(), NULL;
        nd->a = cond;
        nd->b = e1;
        nd->c = e3;
        e1 = nd;
    }
    return e1;
}

/* parse_tuple: an expression, or a bare tuple "a, b" ({{ }} and set values). */
static JNode *parse_tuple(Parser *P, int condexpr) {
    size_t pos = cur(P)->pos;
    JNode *e = condexpr ? parse_expression(P) : parse_or(P);
    TRY(e);
    if (!is_op(P, ",")) return e;
    return parse_sep_list(P, e, ",", N_TUPLE, pos, condexpr ? parse_expression : parse_or, at_tag_end);
}

/* ------------------------------------------------------------------ statements */
static JNode *parse_body(Parser *P, const char *const *ends, const char **ended);

/* Assignment targets: name[, name...] (for, set); ns.attr when allow_attr. */
static int parse_targets(Parser *P, JNode *nd, int allow_attr) {
    Vec v = {0};
    int paren = 0;
    if (is_op(P, "(")) {
        paren = 1;
        P->cur++;
    }
    for (;;) {
        if (cur(P)->k != TK_NAME) {
            vec_free(&v);
            return perr(P, cur(P)->pos, "expected a variable name, got %s", tok_text(P, cur(P)));
        }
        if (vec_push(&v, NULL, name_dup(P, cur(P)))) {
            vec_free(&v);
            return OOM();
        }
        P->cur++;
        if (allow_attr && v.n == 1 && is_op(P, ".")) {
            P->cur++;
            if (cur(P)->k != TK_NAME) {
                vec_free(&v);
                return perr(P, cur(P)->pos, "expected an attribute name, got %s", tok_text(P, cur(P)));
            }
            nd->name = name_dup(P, cur(P)); /* set ns.attr: the attribute */
            P->cur++;
            break;
        }
        if (!is_op(P, ",")) break;
        P->cur++;
    }
    if (paren && expect_op(P, ")")) {
        vec_free(&v);
        return AF_EFORMAT;
    }
    nd->names = vec_names(P, &v);
    nd->nnames = (int)v.n;
    vec_free(&v);
    return nd->names ? 0 : OOM();
}

static JNode *parse_if(Parser *P, size_t pos) {
    static const char *const ends[] = {"elif", "else", "endif", NULL};
    JNode *nd = mk(P, N_IF, pos);
    if (!nd) return OOM(), NULL;
    TRY(nd->a = parse_tuple(P, 0));
    if (expect_kind(P, TK_BLOCK_END, "'%}'")) return NULL;
    const char *ended = NULL;
    TRY(nd->b = parse_body(P, ends, &ended));
    if (strcmp(ended, "elif") == 0) {
        TRY(nd->c = parse_if(P, cur(P)->pos));
        return nd;
    }
    if (strcmp(ended, "else") == 0) {
        static const char *const ends2[] = {"endif", NULL};
        if (expect_kind(P, TK_BLOCK_END, "'%}'")) return NULL;
        TRY(nd->c = parse_body(P, ends2, &ended));
    }
    if (expect_kind(P, TK_BLOCK_END, "'%}'")) return NULL;
    return nd;
}

static JNode *parse_statement(Parser *P) {
    size_t pos = cur(P)->pos;
    JTok *t = cur(P);
    if (t->k != TK_NAME) {
        perr(P, pos, "expected a tag name, got %s", tok_text(P, t));
        return NULL;
    }
    P->cur++;
    if (tok_is(t, TK_NAME, "if")) return parse_if(P, pos);
    if (tok_is(t, TK_NAME, "for")) {
        JNode *nd = mk(P, N_FOR, pos);
        if (!nd) return OOM(), NULL;
        if (parse_targets(P, nd, 0)) return NULL;
        if (!is_name(P, "in")) {
            perr(P, cur(P)->pos, "expected 'in' in a for tag, got %s", tok_text(P, cur(P)));
            return NULL;
        }
        P->cur++;
        TRY(nd->a = parse_tuple(P, 0));
        if (is_name(P, "if")) {
            P->cur++;
            TRY(nd->d = parse_expression(P));
        }
        if (is_name(P, "recursive")) {
            perr(P, cur(P)->pos, "%s", "recursive for loops are not supported");
            return NULL;
        }
        if (expect_kind(P, TK_BLOCK_END, "'%}'")) return NULL;
        static const char *const ends[] = {"endfor", "else", NULL};
        const char *ended = NULL;
        TRY(nd->b = parse_body(P, ends, &ended));
        if (strcmp(ended, "else") == 0) {
            static const char *const ends2[] = {"endfor", NULL};
            if (expect_kind(P, TK_BLOCK_END, "'%}'")) return NULL;
            TRY(nd->c = parse_body(P, ends2, &ended));
        }
        if (expect_kind(P, TK_BLOCK_END, "'%}'")) return NULL;
        return nd;
    }
    if (tok_is(t, TK_NAME, "set")) {
        JNode *nd = mk(P, N_SET, pos);
        if (!nd) return OOM(), NULL;
        if (parse_targets(P, nd, 1)) return NULL;
        if (is_op(P, "=")) {
            P->cur++;
            TRY(nd->a = parse_tuple(P, 1));
            if (expect_kind(P, TK_BLOCK_END, "'%}'")) return NULL;
            return nd;
        }
        if (nd->name || nd->nnames != 1) {
            perr(P, cur(P)->pos, "expected '=' in a set tag, got %s", tok_text(P, cur(P)));
            return NULL;
        }
        if (expect_kind(P, TK_BLOCK_END, "'=' or '%}'")) return NULL;
        static const char *const ends[] = {"endset", NULL};
        const char *ended = NULL;
        nd->kind = N_SETBLOCK;
        TRY(nd->b = parse_body(P, ends, &ended));
        if (expect_kind(P, TK_BLOCK_END, "'%}'")) return NULL;
        return nd;
    }
    if (tok_is(t, TK_NAME, "macro")) {
        JNode *nd = mk(P, N_MACRO, pos);
        if (!nd) return OOM(), NULL;
        if (cur(P)->k != TK_NAME) {
            perr(P, cur(P)->pos, "expected a macro name, got %s", tok_text(P, cur(P)));
            return NULL;
        }
        nd->name = name_dup(P, cur(P));
        P->cur++;
        if (expect_op(P, "(")) return NULL;
        Vec params = {0};
        while (!is_op(P, ")")) {
            if (params.n && expect_op(P, ",")) goto macro_fail;
            if (cur(P)->k != TK_NAME) {
                perr(P, cur(P)->pos, "expected a parameter name, got %s", tok_text(P, cur(P)));
                goto macro_fail;
            }
            const char *pn = name_dup(P, cur(P));
            JNode *def = NULL;
            P->cur++;
            if (is_op(P, "=")) {
                P->cur++;
                if (!(def = parse_expression(P))) goto macro_fail;
            }
            if (vec_push(&params, def, pn)) {
                OOM();
                goto macro_fail;
            }
        }
        P->cur++;
        nd->names = vec_names(P, &params);
        nd->items2 = vec_nodes(P, &params);
        nd->nnames = nd->nitems2 = (int)params.n;
        vec_free(&params);
        if (!nd->names || !nd->items2) return OOM(), NULL;
        if (expect_kind(P, TK_BLOCK_END, "'%}'")) return NULL;
        static const char *const ends[] = {"endmacro", NULL};
        const char *ended = NULL;
        TRY(nd->b = parse_body(P, ends, &ended));
        if (cur(P)->k == TK_NAME) P->cur++; /* {% endmacro name %} */
        if (expect_kind(P, TK_BLOCK_END, "'%}'")) return NULL;
        return nd;
    macro_fail:
        vec_free(&params);
        return NULL;
    }
    if (tok_is(t, TK_NAME, "break") || tok_is(t, TK_NAME, "continue")) {
        JNode *nd = mk(P, tok_is(t, TK_NAME, "break") ? N_BREAK : N_CONTINUE, pos);
        if (!nd) return OOM(), NULL;
        if (expect_kind(P, TK_BLOCK_END, "'%}'")) return NULL;
        return nd;
    }
    if (tok_is(t, TK_NAME, "generation")) {
        /* transformers' {% generation %} marks assistant text for masks; renders its body */
        if (expect_kind(P, TK_BLOCK_END, "'%}'")) return NULL;
        static const char *const ends[] = {"endgeneration", NULL};
        const char *ended = NULL;
        JNode *body = parse_body(P, ends, &ended);
        TRY(body);
        if (expect_kind(P, TK_BLOCK_END, "'%}'")) return NULL;
        return body;
    }
    char name[48];
    snprintf(name, sizeof name, "%.*s", (int)(t->n < 40 ? t->n : 40), t->s);
    if (strncmp(name, "end", 3) == 0 || strcmp(name, "elif") == 0 || strcmp(name, "else") == 0)
        perr(P, pos, "unexpected '%s' (no open block it could close)", name);
    else perr(P, pos, "unsupported tag '%s'", name);
    return NULL;
}

static JNode *parse_body_in(Parser *P, const char *const *ends, const char **ended);
static JNode *parse_body(Parser *P, const char *const *ends, const char **ended) {
    if (enter(P)) return NULL;
    JNode *nd = parse_body_in(P, ends, ended);
    P->depth--;
    return nd;
}

static JNode *parse_body_in(Parser *P, const char *const *ends, const char **ended) {
    Vec v = {0};
    size_t pos = cur(P)->pos;
    for (;;) {
        JTok *t = cur(P);
        JNode *nd = NULL;
        if (t->k == TK_EOF) {
            if (ends) {
                const char *closer = ends[0];
                for (int i = 0; ends[i]; i++)
                    if (strncmp(ends[i], "end", 3) == 0) closer = ends[i];
                perr(P, t->pos, "missing '{%% %s %%}' before the end of the template", closer);
                goto fail;
            }
            break;
        }
        if (t->k == TK_DATA) {
            nd = mk(P, N_DATA, t->pos);
            if (!nd) goto oom;
            nd->val = jv_str(t->s, t->n);
            P->cur++;
        } else if (t->k == TK_VAR_BEGIN) {
            P->cur++;
            JNode *e = parse_tuple(P, 1);
            if (!e) goto fail;
            if (expect_kind(P, TK_VAR_END, "'}}'")) goto fail;
            nd = mk(P, N_OUTPUT, t->pos);
            if (!nd) goto oom;
            nd->a = e;
        } else if (t->k == TK_BLOCK_BEGIN) {
            JTok *name = peek(P, 1);
            int found = 0;
            for (int i = 0; ends && ends[i]; i++)
                if (tok_is(name, TK_NAME, ends[i])) {
                    *ended = ends[i];
                    found = 1;
                }
            if (found) {
                P->cur += 2;
                break;
            }
            P->cur++;
            nd = parse_statement(P);
            if (!nd) goto fail;
        } else {
            perr(P, t->pos, "unexpected %s", tok_text(P, t));
            goto fail;
        }
        if (vec_push(&v, nd, NULL)) goto oom;
    }
    JNode *body = mk(P, N_BODY, pos);
    if (body) {
        body->items = vec_nodes(P, &v);
        body->nitems = (int)v.n;
    }
    vec_free(&v);
    if (!body || !body->items) return OOM(), NULL;
    return body;
oom:
    OOM();
fail:
    vec_free(&v);
    return NULL;
}

/* ------------------------------------------------------------------ entry point */
int af_jinja_parse(const char *source, size_t len, AfJinja **out) {
    *out = NULL;
    JTemplate *t = calloc(1, sizeof *t);
    if (!t) return af_error_set(AF_ENOMEM, "chat template: out of memory");
    Parser P = {0};
    P.t = t;
    int rc = 0;
    /* Newlines \r\n and \r become \n; one trailing newline is dropped (Jinja2's
     * keep_trailing_newline=False). */
    t->src = malloc(len + 1);
    if (!t->src) {
        rc = af_error_set(AF_ENOMEM, "chat template: out of memory");
        goto fail;
    }
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (source[i] == '\r') {
            t->src[n++] = '\n';
            if (i + 1 < len && source[i + 1] == '\n') i++;
        } else t->src[n++] = source[i];
    }
    if (n > 0 && t->src[n - 1] == '\n') n--;
    t->src[n] = 0;
    t->srclen = n;
    if ((rc = jlex(t, &P.toks, &P.ntok))) goto fail;
    t->root = parse_body(&P, NULL, NULL);
    if (!t->root) {
        rc = AF_EFORMAT;
        if (strstr(af_error_detail(), "out of memory")) rc = AF_ENOMEM;
        goto fail;
    }
    free(P.toks);
    *out = (AfJinja *)t;
    return 0;
fail:
    free(P.toks);
    af_jinja_destroy((AfJinja *)t);
    return rc;
}

void af_jinja_destroy(AfJinja *tpl) {
    JTemplate *t = (JTemplate *)tpl;
    if (!t) return;
    jarena_free(&t->arena);
    free(t->src);
    free(t);
}
