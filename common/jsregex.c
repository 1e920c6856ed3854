/* JavaScript-compatible regular expressions on PCRE2 (see jsregex.h for the translation). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "common/jsregex.h"

#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/jsregex_unicode.h"
#include "common/tokenizer.h"

struct AfJsRegex {
    pcre2_code *code;
    pcre2_match_data *md;
    pcre2_match_context *mctx; /* with a JIT stack that may grow to 64 MB (default 32 KB) */
    pcre2_jit_stack *stack;
    int jit;
};

/* JavaScript's WhiteSpace and LineTerminator code points, as class members. */
#define JS_SPACE "\\t\\n\\x0B\\f\\r \\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}\\x{FEFF}"

static int append_str(AfBytes *b, const char *s) { return af_bytes_append(b, s, strlen(s)); }

/* Textual replacement of every occurrence of `from` by `to` in src (into out). */
static int replace_all(const char *src, const char *from, const char *to, AfBytes *out) {
    size_t fl = strlen(from);
    const char *p = src, *q;
    int rc = 0;
    while (!rc && (q = strstr(p, from)) != NULL) {
        rc = af_bytes_append(out, p, (size_t)(q - p));
        if (!rc) rc = append_str(out, to);
        p = q + fl;
    }
    if (!rc) rc = append_str(out, p);
    return rc;
}

/* transformers.js createPattern(): drop "\" before # & ~, then PROBLEMATIC_REGEX_MAP. */
static int js_fixups(const char *pattern, AfBytes *out) {
    AfBytes a = {0}, b = {0};
    int rc = 0;
    for (const char *p = pattern; *p && !rc; p++) {
        if (p[0] == '\\' && (p[1] == '#' || p[1] == '&' || p[1] == '~')) continue;
        rc = af_bytes_append(&a, p, 1);
    }
    if (!rc) rc = af_bytes_append(&a, "", 0);
    if (!rc) rc = replace_all(a.data, "(?i:'s|'t|'re|'ve|'m|'ll|'d)",
                              "(?:'([sS]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD]))", &b);
    /* transformers.js's override of the (invalid) Bloom pattern */
    if (!rc) rc = replace_all(b.data, " ?[^(\\s|[.,!?\xE2\x80\xA6\xE3\x80\x82\xEF\xBC\x8C\xE3\x80\x81\xE0\xA5\xA4\xDB\x94\xD8\x8C])]+",
                              " ?[^\\s.,!?\xE2\x80\xA6\xE3\x80\x82\xEF\xBC\x8C\xE3\x80\x81\xE0\xA5\xA4\xDB\x94\xD8\x8C]+", out);
    af_bytes_free(&a);
    af_bytes_free(&b);
    return rc;
}

/* \p{L} \p{Letter} \p{N} \p{Number} (or \P) at p: the class members to add to PCRE2's
 * (jsregex_unicode.h), and the escape's length; NULL if p is another escape. */
static const char *js_property(const char *p, size_t *len) {
    static const struct { const char *name, *extra; } props[] = {
        {"{L}", AF_JS_EXTRA_L}, {"{Letter}", AF_JS_EXTRA_L}, {"{N}", AF_JS_EXTRA_N}, {"{Number}", AF_JS_EXTRA_N}};
    if (p[0] != '\\' || (p[1] != 'p' && p[1] != 'P')) return NULL;
    for (size_t i = 0; i < sizeof props / sizeof props[0]; i++)
        if (strncmp(p + 2, props[i].name, strlen(props[i].name)) == 0) {
            *len = 2 + strlen(props[i].name);
            return props[i].extra;
        }
    return NULL;
}

/* Rewrite the JavaScript constructs whose PCRE2 meaning differs (jsregex.h). */
static int js_translate(const char *p, AfBytes *out) {
    int in_class = 0, rc = 0;
    while (*p && !rc) {
        size_t plen = 0;
        const char *extra = js_property(p, &plen);
        if (extra) {
            int neg = p[1] == 'P';
            if (neg && in_class) return af_error_set(AF_ECONFIG, "regex: \\P{...} inside a character class is not supported");
            if (!in_class) rc = append_str(out, neg ? "[^" : "[");
            if (!rc) rc = af_bytes_append(out, "\\p", 2);
            if (!rc) rc = af_bytes_append(out, p + 2, plen - 2);
            if (!rc) rc = append_str(out, extra);
            if (!rc && !in_class) rc = append_str(out, "]");
            p += plen;
            continue;
        }
        if (*p == '\\' && p[1]) {
            char c = p[1];
            if (c == 's') rc = append_str(out, in_class ? JS_SPACE : "[" JS_SPACE "]");
            else if (c == 'S') {
                if (in_class) return af_error_set(AF_ECONFIG, "regex: \\S inside a character class is not supported");
                rc = append_str(out, "[^" JS_SPACE "]");
            } else if ((c == 'D' || c == 'W') && in_class) {
                return af_error_set(AF_ECONFIG, "regex: \\%c inside a character class is not supported", c);
            } else if (c == 'u' && p[2] == '{') {
                const char *e = strchr(p + 3, '}');
                if (!e) return af_error_set(AF_ECONFIG, "regex: unterminated \\u{");
                rc = append_str(out, "\\x{");
                if (!rc) rc = af_bytes_append(out, p + 3, (size_t)(e - p - 2));
                p = e + 1;
                continue;
            } else if (c == 'u') {
                size_t k = 0;
                while (k < 4 && strchr("0123456789abcdefABCDEF", p[2 + k]) && p[2 + k]) k++;
                if (k != 4) return af_error_set(AF_ECONFIG, "regex: \\u needs 4 hex digits");
                rc = append_str(out, "\\x{");
                if (!rc) rc = af_bytes_append(out, p + 2, 4);
                if (!rc) rc = append_str(out, "}");
                p += 6;
                continue;
            } else rc = af_bytes_append(out, p, 2);
            p += 2;
            continue;
        }
        if (in_class) {
            if (*p == ']') in_class = 0;
            rc = af_bytes_append(out, p, 1);
        } else if (*p == '[') {
            in_class = 1;
            rc = af_bytes_append(out, p, 1);
            /* a leading ']' or '^]' is a literal in PCRE2 but an empty class in JS: rare; keep PCRE2's */
            if (!rc && p[1] == '^') { rc = af_bytes_append(out, p + 1, 1); p++; }
        } else if (*p == '.') {
            rc = append_str(out, "[^\\n\\r\\x{2028}\\x{2029}]");
        } else rc = af_bytes_append(out, p, 1);
        p++;
    }
    if (!rc) rc = af_bytes_append(out, "", 0);
    return rc;
}

int af_jsregex_compile(const char *pattern, int literal, AfJsRegex **out) {
    *out = NULL;
    AfBytes fixed = {0}, tr = {0};
    AfJsRegex *re = NULL;
    int rc = 0;
    uint32_t opts = PCRE2_UTF | PCRE2_DOLLAR_ENDONLY;
    const char *src = pattern;
    if (literal) { /* escape every ASCII punctuation character (transformers.js escapeRegExp) */
        rc = literal == 2 ? append_str(&tr, "(") : 0;
        for (const char *p = pattern; *p && !rc; p++) {
            unsigned char c = (unsigned char)*p;
            if (c < 0x80 && !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == ' ' || c == '_'))
                rc = af_bytes_append(&tr, "\\", 1);
            if (!rc) rc = af_bytes_append(&tr, p, 1);
        }
        if (!rc) rc = literal == 2 ? append_str(&tr, ")") : af_bytes_append(&tr, "", 0);
        if (rc) goto fail;
        src = tr.data;
    } else {
        rc = js_fixups(pattern, &fixed);
        if (!rc) rc = js_translate(fixed.data, &tr);
        if (rc) {
            af_error_wrap(rc, "pattern \"%.200s\"", pattern);
            goto fail;
        }
        src = tr.data;
    }
    re = calloc(1, sizeof *re);
    if (!re) { rc = af_error_set(AF_ENOMEM, "regex: out of memory"); goto fail; }
    int err = 0;
    PCRE2_SIZE erroff = 0;
    re->code = pcre2_compile((PCRE2_SPTR)src, PCRE2_ZERO_TERMINATED, opts, &err, &erroff, NULL);
    if (!re->code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        rc = af_error_set(AF_ECONFIG, "pattern \"%.200s\": PCRE2 refuses it at offset %zu: %s", pattern,
                          (size_t)erroff, (const char *)msg);
        goto fail;
    }
    re->jit = pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE) == 0;
    re->md = pcre2_match_data_create_from_pattern(re->code, NULL);
    re->mctx = pcre2_match_context_create(NULL);
    if (!re->md || !re->mctx) { rc = af_error_set(AF_ENOMEM, "regex: out of memory"); goto fail; }
    if (re->jit) {
        re->stack = pcre2_jit_stack_create(32 * 1024, 64 * 1024 * 1024, NULL);
        if (!re->stack) { rc = af_error_set(AF_ENOMEM, "regex: out of memory"); goto fail; }
        pcre2_jit_stack_assign(re->mctx, NULL, re->stack);
    }
    af_bytes_free(&fixed);
    af_bytes_free(&tr);
    *out = re;
    return 0;
fail:
    af_jsregex_destroy(re);
    af_bytes_free(&fixed);
    af_bytes_free(&tr);
    return rc;
}

void af_jsregex_destroy(AfJsRegex *re) {
    if (!re) return;
    pcre2_match_data_free(re->md);
    pcre2_match_context_free(re->mctx);
    pcre2_jit_stack_free(re->stack);
    pcre2_code_free(re->code);
    free(re);
}

int af_jsregex_groups(const AfJsRegex *re) {
    uint32_t n = 0;
    pcre2_pattern_info(re->code, PCRE2_INFO_CAPTURECOUNT, &n);
    return (int)n;
}

int af_jsregex_group(const AfJsRegex *re, int i, size_t *gs, size_t *ge) {
    if (i < 0 || (uint32_t)i >= pcre2_get_ovector_count(re->md)) return 0;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(re->md);
    if (ov[2 * i] == PCRE2_UNSET) return 0;
    *gs = ov[2 * i];
    *ge = ov[2 * i + 1];
    return 1;
}

int af_jsregex_next(AfJsRegex *re, const char *s, size_t len, size_t from, size_t *ms, size_t *me) {
    if (from > len) return 0;
    int rc = re->jit ? pcre2_jit_match(re->code, (PCRE2_SPTR)s, len, from, 0, re->md, re->mctx)
                     : pcre2_match(re->code, (PCRE2_SPTR)s, len, from, PCRE2_NO_UTF_CHECK, re->md, re->mctx);
    if (rc == PCRE2_ERROR_NOMATCH) return 0;
    if (rc < 0) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(rc, msg, sizeof msg);
        return af_error_set(AF_ERANGE, "regex match failed: %s", (const char *)msg);
    }
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(re->md);
    *ms = ov[0];
    *me = ov[1];
    return 1;
}
