/* Lexer of the Jinja2 subset: template source -> tokens, applying Jinja2's whitespace
 * rules as transformers configures them (trim_blocks, lstrip_blocks; {%- -%} and
 * {%+ +%} control). Errors name the line and column. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/jinja_internal.h"

typedef struct {
    JTemplate *t;
    JTok *toks;
    size_t ntok, cap;
} Lexer;

void jsrc_linecol(const char *src, size_t srclen, size_t pos, int *line, int *col) {
    int l = 1, c = 1;
    for (size_t i = 0; i < pos && i < srclen; i++) {
        if (src[i] == '\n') l++, c = 1;
        else if (((unsigned char)src[i] & 0xC0) != 0x80) c++;
    }
    *line = l;
    *col = c;
}

int jsrc_error(const JTemplate *t, size_t pos, const char *fmt, const char *what) {
    int line, col;
    jsrc_linecol(t->src, t->srclen, pos, &line, &col);
    char msg[256];
    snprintf(msg, sizeof msg, fmt, what);
    return af_error_set(AF_EFORMAT, "chat template:%d:%d: %s", line, col, msg);
}

static int perr(Lexer *P, size_t pos, const char *fmt, const char *what) { return jsrc_error(P->t, pos, fmt, what); }

static int push_tok(Lexer *P, JTok t) {
    if (P->ntok == P->cap) {
        size_t cap = P->cap ? P->cap * 2 : 256;
        JTok *nt = realloc(P->toks, cap * sizeof *nt);
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
static int lex_string(Lexer *P, const char *s, size_t n, size_t pos, JTok *t) {
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
    t->k = TK_STRING;
    t->s = out;
    t->n = o;
    return 0;
}

static const char *const ops2[] = {"//", "**", "==", "!=", "<=", ">=", NULL};
static const char ops1[] = "+-*/%~[](){}<>=.:|,;";

/* Tokens of one {{ }} or {% %} tag starting at p (after the opener and its sign);
 * returns the offset after the tag end (and what it consumed) in *end. */
static int lex_tag(Lexer *P, size_t p, int is_block, size_t *end, int *ended_newline) {
    const char *s = P->t->src;
    size_t n = P->t->srclen;
    int depth = 0;
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
        JTok t = {0};
        t.pos = p;
        char c = s[p];
        if (is_alpha(c)) {
            size_t q = p;
            while (q < n && (is_alpha(s[q]) || is_digit(s[q]))) q++;
            t.k = TK_NAME;
            t.s = s + p;
            t.n = q - p;
            p = q;
        } else if (c == '0' && p + 2 < n && strchr("xXoObB", s[p + 1]) && s[p + 1]) {
            int base = (s[p + 1] | 32) == 'x' ? 16 : (s[p + 1] | 32) == 'o' ? 8 : 2;
            size_t q = p + 2;
            uint64_t v = 0;
            int digits = 0;
            for (; q < n; q++) {
                if (s[q] == '_') continue;
                int d = hexval(s[q]);
                if (d < 0 || d >= base) break;
                if (v > (UINT64_C(1) << 62) / (uint64_t)base) return perr(P, p, "%s", "integer literal too large");
                v = v * (uint64_t)base + (uint64_t)d;
                digits++;
            }
            if (!digits) return perr(P, p, "%s", "a 0x / 0o / 0b literal without digits");
            t.k = TK_INT;
            t.i = (int64_t)v;
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
                t.k = TK_FLOAT;
                t.f = strtod(num, NULL);
            } else {
                t.k = TK_INT;
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
            t.k = TK_OP;
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
    JTok e = {0};
    e.k = is_block ? TK_BLOCK_END : TK_VAR_END;
    e.pos = p;
    return push_tok(P, e);
}

static int lex_all(Lexer *P) {
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
            JTok t = {TK_DATA, pos, s + pos, tlen, 0, 0};
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
            JTok b = {kind == 1 ? TK_VAR_BEGIN : TK_BLOCK_BEGIN, start, NULL, 0, 0, 0};
            int rc = push_tok(P, b);
            if (!rc) rc = lex_tag(P, p, kind == 2, &p, &ended_newline);
            if (rc) return rc;
        }
        line_starting = ended_newline;
        pos = p;
    }
    JTok e = {TK_EOF, n, NULL, 0, 0, 0};
    return push_tok(P, e);
}


int jlex(JTemplate *t, JTok **toks, size_t *ntok) {
    Lexer L = {t, NULL, 0, 0};
    int rc = lex_all(&L);
    if (rc) {
        free(L.toks);
        L.toks = NULL;
        L.ntok = 0;
    }
    *toks = L.toks;
    *ntok = L.ntok;
    return rc;
}
