/* Lexer and parser of the Jinja2 subset: template source -> syntax tree (JNode), with
 * Jinja2's whitespace rules as transformers configures them (trim_blocks,
 * lstrip_blocks, keep_trailing_newline off). Anything outside the subset is refused
 * with its line and column. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/jinja.h"
#include "common/jinja_internal.h"

typedef enum { T_DATA, T_VAR_BEGIN, T_VAR_END, T_BLOCK_BEGIN, T_BLOCK_END, T_NAME, T_STRING, T_INT, T_FLOAT,
               T_OP, T_EOF } TokKind;

typedef struct {
    TokKind k;
    size_t pos;
    const char *s; /* name / op / data / decoded string (arena) */
    size_t n;
    int64_t i;
    double f;
} Tok;

typedef struct {
    JTemplate *t;
    Tok *toks;
    size_t ntok, cap;
    size_t cur;
} Parser;

void jsrc_linecol(const char *src, size_t srclen, size_t pos, int *line, int *col) {
    int l = 1, c = 1;
    for (size_t i = 0; i < pos && i < srclen; i++) {
        if (src[i] == '\n') l++, c = 1;
        else if (((unsigned char)src[i] & 0xC0) != 0x80) c++;
    }
    *line = l;
    *col = c;
}

static int perr(Parser *P, size_t pos, const char *fmt, const char *what) {
    int line, col;
    jsrc_linecol(P->t->src, P->t->srclen, pos, &line, &col);
    char msg[256];
    snprintf(msg, sizeof msg, fmt, what);
    return af_error_set(AF_EFORMAT, "chat template:%d:%d: %s", line, col, msg);
}

static int push_tok(Parser *P, Tok t) {
    if (P->ntok == P->cap) {
        size_t cap = P->cap ? P->cap * 2 : 256;
        Tok *nt = realloc(P->toks, cap * sizeof *nt);
        if (!nt) return af_error_set(AF_ENOMEM, "chat template: out of memory");
        P->toks = nt;
        P->cap = cap;
    }
    P->toks[P->ntok++] = t;
    return 0;
}

/* ------------------------------------------------------------------ lexer */
static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }

static void put_utf8(char *out, size_t *n, uint32_t cp) {
    if (cp < 0x80) out[(*n)++] = (char)cp;
    else if (cp < 0x800) {
        out[(*n)++] = (char)(0xC0 | (cp >> 6));
        out[(*n)++] = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out[(*n)++] = (char)(0xE0 | (cp >> 12));
        out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[(*n)++] = (char)(0x80 | (cp & 0x3F));
    } else {
        out[(*n)++] = (char)(0xF0 | (cp >> 18));
        out[(*n)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[(*n)++] = (char)(0x80 | (cp & 0x3F));
    }
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Python's unicode-escape decoding of a string literal's body. */
static int lex_string(Parser *P, const char *s, size_t n, size_t pos, Tok *t) {
    char *out = jarena_alloc(&P->t->arena, n * 2 + 1);
    if (!out) return af_error_set(AF_ENOMEM, "chat template: out of memory");
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\' || i + 1 >= n) {
            out[o++] = s[i];
            continue;
        }
        char e = s[++i];
        switch (e) {
        case '\n': break;
        case '\\': out[o++] = '\\'; break;
        case '\'': out[o++] = '\''; break;
        case '"': out[o++] = '"'; break;
        case 'a': out[o++] = '\a'; break;
        case 'b': out[o++] = '\b'; break;
        case 'f': out[o++] = '\f'; break;
        case 'n': out[o++] = '\n'; break;
        case 'r': out[o++] = '\r'; break;
        case 't': out[o++] = '\t'; break;
        case 'v': out[o++] = '\v'; break;
        case 'x':
        case 'u':
        case 'U': {
            int digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
            uint32_t cp = 0;
            if (i + (size_t)digits >= n)
                return perr(P, pos, "truncated \\%s escape in a string literal", e == 'x' ? "x" : e == 'u' ? "u" : "U");
            for (int k = 1; k <= digits; k++) {
                int h = hexval(s[i + (size_t)k]);
                if (h < 0) return perr(P, pos, "bad \\%s escape in a string literal", e == 'x' ? "x" : "u");
                cp = cp * 16 + (uint32_t)h;
            }
            if (cp > 0x10FFFF) return perr(P, pos, "%s", "escape beyond U+10FFFF in a string literal");
            put_utf8(out, &o, cp);
            i += (size_t)digits;
            break;
        }
        case 'N': return perr(P, pos, "%s", "\\N{...} escapes are not supported");
        default:
            if (e >= '0' && e <= '7') {
                uint32_t cp = 0;
                int k = 0;
                while (k < 3 && i < n && s[i] >= '0' && s[i] <= '7') cp = cp * 8 + (uint32_t)(s[i++] - '0'), k++;
                i--;
                put_utf8(out, &o, cp);
            } else {
                out[o++] = '\\';
                out[o++] = e;
            }
        }
    }
    out[o] = 0;
    t->k = T_STRING;
    t->s = out;
    t->n = o;
    return 0;
}

static const char *const ops3[] = {NULL};
static const char *const ops2[] = {"//", "**", "==", "!=", "<=", ">=", NULL};
static const char ops1[] = "+-*/%~[](){}<>=.:|,;";

/* Tokens of one {{ }} or {% %} tag starting at p (after the opener and its sign);
 * returns the offset after the tag end (and what it consumed) in *end. */
static int lex_tag(Parser *P, size_t p, int is_block, size_t *end, int *ended_newline) {
    const char *s = P->t->src;
    size_t n = P->t->srclen;
    int depth = 0;
    (void)ops3;
    for (;;) {
        while (p < n && is_ws(s[p])) p++;
        if (p >= n) return perr(P, p, "%s", is_block ? "unterminated '{%' tag" : "unterminated '{{' tag");
        if (depth == 0) {
            const char *close = is_block ? "%}" : "}}";
            if (s[p] == '-' && p + 2 < n + 0 && strncmp(s + p + 1, close, 2) == 0) {
                p += 3;
                size_t q = p;
                while (p < n && is_ws(s[p])) p++;
                *ended_newline = p > q && s[p - 1] == '\n';
                goto done;
            }
            if (is_block && s[p] == '+' && strncmp(s + p + 1, close, 2) == 0) {
                p += 3;
                *ended_newline = 0;
                goto done;
            }
            if (strncmp(s + p, close, 2) == 0) {
                p += 2;
                *ended_newline = 0;
                if (is_block && p < n && s[p] == '\n') p++, *ended_newline = 1;
                goto done;
            }
        }
        Tok t = {0};
        t.pos = p;
        char c = s[p];
        if (is_alpha(c)) {
            size_t q = p;
            while (q < n && (is_alpha(s[q]) || is_digit(s[q]))) q++;
            t.k = T_NAME;
            t.s = s + p;
            t.n = q - p;
            p = q;
        } else if (is_digit(c)) {
            size_t q = p;
            while (q < n && (is_digit(s[q]) || s[q] == '_')) q++;
            int is_float = 0;
            if (q + 1 < n && s[q] == '.' && is_digit(s[q + 1]) && !(p > 0 && s[p - 1] == '.')) {
                is_float = 1;
                q++;
                while (q < n && (is_digit(s[q]) || s[q] == '_')) q++;
            }
            if (q < n && (s[q] == 'e' || s[q] == 'E') && !(p > 0 && s[p - 1] == '.')) {
                size_t r = q + 1;
                if (r < n && (s[r] == '+' || s[r] == '-')) r++;
                if (r < n && is_digit(s[r])) {
                    is_float = 1;
                    q = r;
                    while (q < n && is_digit(s[q])) q++;
                }
            }
            char num[64];
            size_t k = 0;
            for (size_t i = p; i < q && k < sizeof num - 1; i++)
                if (s[i] != '_') num[k++] = s[i];
            num[k] = 0;
            if (is_float) {
                t.k = T_FLOAT;
                t.f = strtod(num, NULL);
            } else {
                t.k = T_INT;
                if (k > 18) return perr(P, p, "%s", "integer literal too large");
                t.i = strtoll(num, NULL, 10);
            }
            p = q;
        } else if (c == '\'' || c == '"') {
            size_t q = p + 1;
            while (q < n && s[q] != c) q += s[q] == '\\' ? 2 : 1;
            if (q >= n) return perr(P, p, "%s", "unterminated string literal");
            int rc = lex_string(P, s + p + 1, q - p - 1, p, &t);
            if (rc) return rc;
            p = q + 1;
        } else {
            t.k = T_OP;
            t.s = s + p;
            t.n = 0;
            for (int k = 0; ops2[k]; k++)
                if (p + 1 < n && strncmp(s + p, ops2[k], 2) == 0) t.n = 2;
            if (!t.n && strchr(ops1, c) && c) t.n = 1;
            if (!t.n) {
                char what[8];
                snprintf(what, sizeof what, "%c", c);
                return perr(P, p, "unexpected character '%s' in a tag", what);
            }
            if (t.n == 1 && (c == '(' || c == '[' || c == '{')) depth++;
            if (t.n == 1 && (c == ')' || c == ']' || c == '}') && depth > 0) depth--;
            p += t.n;
        }
        int rc = push_tok(P, t);
        if (rc) return rc;
    }
done:
    *end = p;
    Tok e = {0};
    e.k = is_block ? T_BLOCK_END : T_VAR_END;
    e.pos = p;
    return push_tok(P, e);
}

static int lex(Parser *P) {
    const char *s = P->t->src;
    size_t n = P->t->srclen, pos = 0;
    int line_starting = 1;
    while (pos < n) {
        size_t start = pos;
        int kind = 0; /* 1 var, 2 block, 3 comment */
        while (start + 1 < n) {
            if (s[start] == '{' && (s[start + 1] == '{' || s[start + 1] == '%' || s[start + 1] == '#')) {
                kind = s[start + 1] == '{' ? 1 : s[start + 1] == '%' ? 2 : 3;
                break;
            }
            start++;
        }
        if (!kind) start = n;
        size_t tlen = start - pos;
        char sign = kind && start + 2 < n && (s[start + 2] == '-' || s[start + 2] == '+') ? s[start + 2] : 0;
        if (sign == '-') {
            while (tlen > 0 && is_ws(s[pos + tlen - 1])) tlen--;
        } else if (kind >= 2 && sign != '+') {
            size_t l = tlen;
            while (l > 0 && s[pos + l - 1] != '\n') l--;
            if (l > 0 || line_starting) {
                int only_ws = tlen > l;
                for (size_t i = l; i < tlen; i++)
                    if (!is_ws(s[pos + i])) only_ws = 0;
                if (only_ws) tlen = l;
            }
        }
        if (tlen) {
            Tok t = {T_DATA, pos, s + pos, tlen, 0, 0};
            int rc = push_tok(P, t);
            if (rc) return rc;
        }
        if (!kind) break;
        size_t p = start + 2 + (sign ? 1 : 0);
        int ended_newline = 0;
        if (kind == 3) {
            size_t q = p;
            while (q + 1 < n && !(s[q] == '#' && s[q + 1] == '}')) q++;
            if (q + 1 >= n) return perr(P, start, "%s", "unterminated comment");
            int minus = q > p && s[q - 1] == '-', plus = q > p && s[q - 1] == '+';
            p = q + 2;
            if (minus) {
                size_t r = p;
                while (p < n && is_ws(s[p])) p++;
                ended_newline = p > r && s[p - 1] == '\n';
            } else if (!plus && p < n && s[p] == '\n') p++, ended_newline = 1;
        } else {
            Tok b = {kind == 1 ? T_VAR_BEGIN : T_BLOCK_BEGIN, start, NULL, 0, 0, 0};
            int rc = push_tok(P, b);
            if (!rc) rc = lex_tag(P, p, kind == 2, &p, &ended_newline);
            if (rc) return rc;
        }
        line_starting = ended_newline;
        pos = p;
    }
    Tok e = {T_EOF, n, NULL, 0, 0, 0};
    return push_tok(P, e);
}

/* ------------------------------------------------------------------ parser helpers */
static Tok *cur(Parser *P) { return &P->toks[P->cur]; }
static Tok *peek(Parser *P, size_t k) {
    size_t i = P->cur + k;
    return &P->toks[i < P->ntok ? i : P->ntok - 1];
}
static int tok_is(const Tok *t, TokKind k, const char *s) {
    return t->k == k && (!s || (t->n == strlen(s) && memcmp(t->s, s, t->n) == 0));
}
static int is_op(Parser *P, const char *s) { return tok_is(cur(P), T_OP, s); }
static int is_name(Parser *P, const char *s) { return tok_is(cur(P), T_NAME, s); }

static const char *tok_text(Parser *P, const Tok *t) {
    static __thread char buf[64];
    switch (t->k) {
    case T_EOF: return "end of template";
    case T_VAR_END: return "'}}'";
    case T_BLOCK_END: return "'%}'";
    case T_VAR_BEGIN: return "'{{'";
    case T_BLOCK_BEGIN: return "'{%'";
    case T_DATA: return "template text";
    case T_STRING: return "a string";
    case T_INT:
    case T_FLOAT: return "a number";
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

static int expect_kind(Parser *P, TokKind k, const char *what) {
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

static const char *name_dup(Parser *P, const Tok *t) { return jarena_strndup(&P->t->arena, t->s, t->n); }

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
        if (cur(P)->k == T_NAME && tok_is(peek(P, 1), T_OP, "=")) {
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
            if (cur(P)->k == T_NAME) {
                JNode *nd = mk(P, N_GETATTR, pos);
                if (!nd) return OOM(), NULL;
                nd->a = node;
                nd->name = name_dup(P, cur(P));
                P->cur++;
                node = nd;
            } else if (cur(P)->k == T_INT) {
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
    if (cur(P)->k != T_NAME) {
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
            Tok *t = cur(P);
            if (is_op(P, "(")) TRY(parse_call_args(P, nd));
            else if ((t->k == T_NAME || t->k == T_STRING || t->k == T_INT || t->k == T_FLOAT || is_op(P, "[") ||
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
static int at_tag_end(Parser *P) { return cur(P)->k == T_VAR_END || cur(P)->k == T_BLOCK_END; }

static JNode *parse_primary(Parser *P) {
    Tok *t = cur(P);
    size_t pos = t->pos;
    if (t->k == T_NAME) {
        JNode *nd = mk(P, N_CONST, pos);
        if (!nd) return OOM(), NULL;
        if (tok_is(t, T_NAME, "true") || tok_is(t, T_NAME, "True")) nd->val = jv_bool(1);
        else if (tok_is(t, T_NAME, "false") || tok_is(t, T_NAME, "False")) nd->val = jv_bool(0);
        else if (tok_is(t, T_NAME, "none") || tok_is(t, T_NAME, "None")) nd->val = jv_none();
        else {
            nd->kind = N_NAME;
            nd->name = name_dup(P, t);
        }
        P->cur++;
        return nd;
    }
    if (t->k == T_STRING) {
        JBuf b = {0};
        while (cur(P)->k == T_STRING) {
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
    if (t->k == T_INT || t->k == T_FLOAT) {
        JNode *nd = mk(P, N_CONST, pos);
        if (!nd) return OOM(), NULL;
        nd->val = t->k == T_INT ? jv_int(t->i) : jv_float(t->f);
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

static JNode *parse_unary(Parser *P, int with_filter) {
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
    if (is_name(P, "not") && tok_is(peek(P, 1), T_NAME, "in")) {
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

static JNode *parse_not(Parser *P) {
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

static JNode *parse_expression(Parser *P) {
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
        if (cur(P)->k != T_NAME) {
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
            if (cur(P)->k != T_NAME) {
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
    if (expect_kind(P, T_BLOCK_END, "'%}'")) return NULL;
    const char *ended = NULL;
    TRY(nd->b = parse_body(P, ends, &ended));
    if (strcmp(ended, "elif") == 0) {
        TRY(nd->c = parse_if(P, cur(P)->pos));
        return nd;
    }
    if (strcmp(ended, "else") == 0) {
        static const char *const ends2[] = {"endif", NULL};
        if (expect_kind(P, T_BLOCK_END, "'%}'")) return NULL;
        TRY(nd->c = parse_body(P, ends2, &ended));
    }
    if (expect_kind(P, T_BLOCK_END, "'%}'")) return NULL;
    return nd;
}

static JNode *parse_statement(Parser *P) {
    size_t pos = cur(P)->pos;
    Tok *t = cur(P);
    if (t->k != T_NAME) {
        perr(P, pos, "expected a tag name, got %s", tok_text(P, t));
        return NULL;
    }
    P->cur++;
    if (tok_is(t, T_NAME, "if")) return parse_if(P, pos);
    if (tok_is(t, T_NAME, "for")) {
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
        if (expect_kind(P, T_BLOCK_END, "'%}'")) return NULL;
        static const char *const ends[] = {"endfor", "else", NULL};
        const char *ended = NULL;
        TRY(nd->b = parse_body(P, ends, &ended));
        if (strcmp(ended, "else") == 0) {
            static const char *const ends2[] = {"endfor", NULL};
            if (expect_kind(P, T_BLOCK_END, "'%}'")) return NULL;
            TRY(nd->c = parse_body(P, ends2, &ended));
        }
        if (expect_kind(P, T_BLOCK_END, "'%}'")) return NULL;
        return nd;
    }
    if (tok_is(t, T_NAME, "set")) {
        JNode *nd = mk(P, N_SET, pos);
        if (!nd) return OOM(), NULL;
        if (parse_targets(P, nd, 1)) return NULL;
        if (is_op(P, "=")) {
            P->cur++;
            TRY(nd->a = parse_tuple(P, 1));
            if (expect_kind(P, T_BLOCK_END, "'%}'")) return NULL;
            return nd;
        }
        if (nd->name || nd->nnames != 1) {
            perr(P, cur(P)->pos, "expected '=' in a set tag, got %s", tok_text(P, cur(P)));
            return NULL;
        }
        if (expect_kind(P, T_BLOCK_END, "'=' or '%}'")) return NULL;
        static const char *const ends[] = {"endset", NULL};
        const char *ended = NULL;
        nd->kind = N_SETBLOCK;
        TRY(nd->b = parse_body(P, ends, &ended));
        if (expect_kind(P, T_BLOCK_END, "'%}'")) return NULL;
        return nd;
    }
    if (tok_is(t, T_NAME, "macro")) {
        JNode *nd = mk(P, N_MACRO, pos);
        if (!nd) return OOM(), NULL;
        if (cur(P)->k != T_NAME) {
            perr(P, cur(P)->pos, "expected a macro name, got %s", tok_text(P, cur(P)));
            return NULL;
        }
        nd->name = name_dup(P, cur(P));
        P->cur++;
        if (expect_op(P, "(")) return NULL;
        Vec params = {0};
        while (!is_op(P, ")")) {
            if (params.n && expect_op(P, ",")) goto macro_fail;
            if (cur(P)->k != T_NAME) {
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
        if (expect_kind(P, T_BLOCK_END, "'%}'")) return NULL;
        static const char *const ends[] = {"endmacro", NULL};
        const char *ended = NULL;
        TRY(nd->b = parse_body(P, ends, &ended));
        if (cur(P)->k == T_NAME) P->cur++; /* {% endmacro name %} */
        if (expect_kind(P, T_BLOCK_END, "'%}'")) return NULL;
        return nd;
    macro_fail:
        vec_free(&params);
        return NULL;
    }
    if (tok_is(t, T_NAME, "break") || tok_is(t, T_NAME, "continue")) {
        JNode *nd = mk(P, tok_is(t, T_NAME, "break") ? N_BREAK : N_CONTINUE, pos);
        if (!nd) return OOM(), NULL;
        if (expect_kind(P, T_BLOCK_END, "'%}'")) return NULL;
        return nd;
    }
    if (tok_is(t, T_NAME, "generation")) {
        /* transformers' {% generation %} marks assistant text for masks; renders its body */
        if (expect_kind(P, T_BLOCK_END, "'%}'")) return NULL;
        static const char *const ends[] = {"endgeneration", NULL};
        const char *ended = NULL;
        JNode *body = parse_body(P, ends, &ended);
        TRY(body);
        if (expect_kind(P, T_BLOCK_END, "'%}'")) return NULL;
        return body;
    }
    char name[48];
    snprintf(name, sizeof name, "%.*s", (int)(t->n < 40 ? t->n : 40), t->s);
    if (strncmp(name, "end", 3) == 0 || strcmp(name, "elif") == 0 || strcmp(name, "else") == 0)
        perr(P, pos, "unexpected '%s' (no open block it could close)", name);
    else perr(P, pos, "unsupported tag '%s'", name);
    return NULL;
}

static JNode *parse_body(Parser *P, const char *const *ends, const char **ended) {
    Vec v = {0};
    size_t pos = cur(P)->pos;
    for (;;) {
        Tok *t = cur(P);
        JNode *nd = NULL;
        if (t->k == T_EOF) {
            if (ends) {
                const char *closer = ends[0];
                for (int i = 0; ends[i]; i++)
                    if (strncmp(ends[i], "end", 3) == 0) closer = ends[i];
                perr(P, t->pos, "missing '{%% %s %%}' before the end of the template", closer);
                goto fail;
            }
            break;
        }
        if (t->k == T_DATA) {
            nd = mk(P, N_DATA, t->pos);
            if (!nd) goto oom;
            nd->val = jv_str(t->s, t->n);
            P->cur++;
        } else if (t->k == T_VAR_BEGIN) {
            P->cur++;
            JNode *e = parse_tuple(P, 1);
            if (!e) goto fail;
            if (expect_kind(P, T_VAR_END, "'}}'")) goto fail;
            nd = mk(P, N_OUTPUT, t->pos);
            if (!nd) goto oom;
            nd->a = e;
        } else if (t->k == T_BLOCK_BEGIN) {
            Tok *name = peek(P, 1);
            int found = 0;
            for (int i = 0; ends && ends[i]; i++)
                if (tok_is(name, T_NAME, ends[i])) {
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
    if ((rc = lex(&P))) goto fail;
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
