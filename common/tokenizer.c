/* The tokenizer interface: dispatch to an implementation, growable id/byte arrays, the
 * streaming decoder and the UTF-8 rules shared by every implementation. */
#include "common/tokenizer.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"

struct AfTokenizer {
    const AfTokenizerOps *ops;
    void *impl;
    uint32_t vocab_size;
    AfTokenizerSpecials sp;
};

/* ------------------------------------------------------------------ arrays */

void af_token_ids_free(AfTokenIds *a) {
    if (!a) return;
    free(a->ids);
    memset(a, 0, sizeof *a);
}

int af_token_ids_push(AfTokenIds *a, uint32_t id) {
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        uint32_t *p = realloc(a->ids, cap * sizeof *p);
        if (!p) return af_error_set(AF_ENOMEM, "token ids: %zu elements", cap);
        a->ids = p;
        a->cap = cap;
    }
    a->ids[a->n++] = id;
    return 0;
}

void af_bytes_free(AfBytes *b) {
    if (!b) return;
    free(b->data);
    memset(b, 0, sizeof *b);
}

int af_bytes_append(AfBytes *b, const void *data, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p) return af_error_set(AF_ENOMEM, "byte buffer: %zu bytes", cap);
        b->data = p;
        b->cap = cap;
    }
    if (n) memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

/* ------------------------------------------------------------------ UTF-8 */

/* Length of the well-formed sequence at s[0..len) (1..4), or 0 if ill-formed there;
 * *sub is then the length of the maximal subpart (>= 1): the longest prefix that could
 * start a well-formed sequence (Unicode Table 3-7), replaced by one U+FFFD. */
static size_t utf8_seq(const unsigned char *s, size_t len, size_t *sub) {
    unsigned c = s[0];
    size_t need;
    unsigned lo = 0x80, hi = 0xBF;
    if (c < 0x80) return 1;
    if (c < 0xC2) { *sub = 1; return 0; }
    if (c < 0xE0) need = 2;
    else if (c < 0xF0) {
        need = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c < 0xF5) {
        need = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else { *sub = 1; return 0; }
    size_t i = 1;
    for (; i < need; i++) {
        if (i >= len) break;
        unsigned d = s[i];
        if (i == 1 ? (d < lo || d > hi) : (d < 0x80 || d > 0xBF)) break;
    }
    if (i == need) return need;
    *sub = i;
    return 0;
}

size_t af_utf8_valid_prefix(const char *s, size_t len) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, sub;
    while (i < len) {
        if (u[i] < 0x80) { i++; continue; }
        size_t k = utf8_seq(u + i, len - i, &sub);
        if (!k) break;
        i += k;
    }
    return i;
}

size_t af_utf8_decode(const char *s, size_t len, uint32_t *cp) {
    const unsigned char *u = (const unsigned char *)s;
    size_t sub, k = len ? utf8_seq(u, len, &sub) : 0;
    if (k == 1) *cp = u[0];
    else if (k == 2) *cp = ((uint32_t)(u[0] & 0x1F) << 6) | (u[1] & 0x3F);
    else if (k == 3) *cp = ((uint32_t)(u[0] & 0x0F) << 12) | ((uint32_t)(u[1] & 0x3F) << 6) | (u[2] & 0x3F);
    else if (k == 4)
        *cp = ((uint32_t)(u[0] & 0x07) << 18) | ((uint32_t)(u[1] & 0x3F) << 12) | ((uint32_t)(u[2] & 0x3F) << 6) | (u[3] & 0x3F);
    return k;
}

int af_utf8_sanitize(const char *s, size_t len, AfBytes *out) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        size_t ok = af_utf8_valid_prefix(s + i, len - i);
        int rc = af_bytes_append(out, s + i, ok);
        if (rc) return rc;
        i += ok;
        if (i >= len) break;
        size_t sub = 1;
        utf8_seq(u + i, len - i, &sub);
        rc = af_bytes_append(out, "\xEF\xBF\xBD", 3);
        if (rc) return rc;
        i += sub;
    }
    if (!out->data) return af_bytes_append(out, "", 0); /* always NUL-terminated */
    return 0;
}

/* Bytes at the end of s[0..len) that are a proper prefix of a well-formed sequence
 * (could still become a character), 0..3. */
static size_t utf8_incomplete_tail(const unsigned char *s, size_t len) {
    for (size_t back = 1; back <= 3 && back <= len; back++) {
        unsigned c = s[len - back];
        if (c >= 0x80 && c < 0xC0) continue; /* continuation: keep looking for the lead */
        if (c < 0xC2 || c >= 0xF5) return 0;
        size_t need = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        if (back >= need) return 0; /* complete (or ill-formed) */
        size_t sub = 0;
        return utf8_seq(s + len - back, back, &sub) == 0 && sub == back ? back : 0;
    }
    return 0;
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int parse_u4(const char *p, unsigned *v) {
    *v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval((unsigned char)p[i]);
        if (h < 0) return -1;
        *v = *v * 16 + (unsigned)h;
    }
    return 0;
}

int af_utf8_append(AfBytes *out, uint32_t cp) {
    char b[4];
    size_t n;
    if (cp < 0x80) { b[0] = (char)cp; n = 1; }
    else if (cp < 0x800) { b[0] = (char)(0xC0 | cp >> 6); b[1] = (char)(0x80 | (cp & 63)); n = 2; }
    else if (cp < 0x10000) { b[0] = (char)(0xE0 | cp >> 12); b[1] = (char)(0x80 | ((cp >> 6) & 63)); b[2] = (char)(0x80 | (cp & 63)); n = 3; }
    else { b[0] = (char)(0xF0 | cp >> 18); b[1] = (char)(0x80 | ((cp >> 12) & 63)); b[2] = (char)(0x80 | ((cp >> 6) & 63)); b[3] = (char)(0x80 | (cp & 63)); n = 4; }
    return af_bytes_append(out, b, n);
}

/* JSON string escapes (see tokenizer.h). */
const char *af_json_string_unescape(const char *s, size_t len, AfBytes *out) {
    size_t i = 0;
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r')) i++;
    if (i >= len || s[i] != '"') return "expected a JSON string (a line starting with '\"')";
    i++;
    for (;;) {
        if (i >= len) return "unterminated JSON string";
        unsigned char c = (unsigned char)s[i];
        if (c == '"') break;
        if (c < 0x20) return "control character inside a JSON string (must be escaped)";
        if (c != '\\') {
            size_t j = i;
            while (j < len && s[j] != '"' && s[j] != '\\' && (unsigned char)s[j] >= 0x20) j++;
            if (af_bytes_append(out, s + i, j - i)) return "out of memory";
            i = j;
            continue;
        }
        if (i + 1 >= len) return "unterminated escape";
        char e = s[i + 1];
        const char *simple = strchr("\"\\/bfnrt", e);
        if (simple && e) {
            static const char map[] = "\"\\/\b\f\n\r\t";
            if (af_bytes_append(out, &map[simple - "\"\\/bfnrt"], 1)) return "out of memory";
            i += 2;
            continue;
        }
        if (e != 'u') return "invalid escape in a JSON string";
        unsigned cp, lo;
        if (i + 6 > len || parse_u4(s + i + 2, &cp)) return "invalid \\u escape (needs 4 hex digits)";
        i += 6;
        if (cp >= 0xD800 && cp < 0xDC00 && i + 6 <= len && s[i] == '\\' && s[i + 1] == 'u' &&
            parse_u4(s + i + 2, &lo) == 0 && lo >= 0xDC00 && lo < 0xE000) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            i += 6;
        } else if (cp >= 0xD800 && cp < 0xE000) cp = 0xFFFD;
        if (af_utf8_append(out, cp)) return "out of memory";
    }
    i++;
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r')) i++;
    return i == len ? NULL : "text after the JSON string";
}


/* ------------------------------------------------------------------ interface */

int af_tokenizer_wrap(const AfTokenizerOps *ops, void *impl, uint32_t vocab_size,
                      const AfTokenizerSpecials *specials, AfTokenizer **out) {
    *out = NULL;
    AfTokenizer *t = calloc(1, sizeof *t);
    if (!t) goto nomem;
    t->ops = ops;
    t->impl = impl;
    t->vocab_size = vocab_size;
    t->sp = *specials;
    t->sp.eos_ids = NULL;
    if (specials->n_eos) {
        t->sp.eos_ids = malloc(specials->n_eos * sizeof *t->sp.eos_ids);
        if (!t->sp.eos_ids) goto nomem;
        memcpy(t->sp.eos_ids, specials->eos_ids, specials->n_eos * sizeof *t->sp.eos_ids);
    }
    *out = t;
    return 0;
nomem:
    if (t) free(t);
    ops->destroy(impl);
    return af_error_set(AF_ENOMEM, "tokenizer: out of memory");
}

void af_tokenizer_destroy(AfTokenizer *t) {
    if (!t) return;
    t->ops->destroy(t->impl);
    free(t->sp.eos_ids);
    free(t);
}

const char *af_tokenizer_kind(const AfTokenizer *t) { return t->ops->kind; }
uint32_t af_tokenizer_vocab_size(const AfTokenizer *t) { return t->vocab_size; }
const AfTokenizerSpecials *af_tokenizer_specials(const AfTokenizer *t) { return &t->sp; }

int af_tokenizer_encode(AfTokenizer *t, const char *text, size_t len, AfTokenIds *out) {
    return t->ops->encode(t->impl, text ? text : "", text ? len : 0, 0, out);
}

int af_tokenizer_encode_flags(AfTokenizer *t, const char *text, size_t len, int flags, AfTokenIds *out) {
    return t->ops->encode(t->impl, text ? text : "", text ? len : 0, flags, out);
}

const char *af_tokenizer_token_bytes(const AfTokenizer *t, uint32_t id, size_t *len) {
    *len = 0;
    if (id >= t->vocab_size) return NULL;
    return t->ops->token_bytes(t->impl, id, len);
}

int af_tokenizer_token_id(const AfTokenizer *t, const char *text, size_t len, uint32_t *id) {
    return t->ops->token_id(t->impl, text, len, id);
}

int af_tokenizer_is_special(const AfTokenizer *t, uint32_t id) {
    return id < t->vocab_size && t->ops->is_special(t->impl, id);
}

int af_tokenizer_is_eos(const AfTokenizer *t, uint32_t id) {
    for (size_t i = 0; i < t->sp.n_eos; i++)
        if (t->sp.eos_ids[i] == id) return 1;
    return 0;
}

int af_tokenizer_decode(const AfTokenizer *t, const uint32_t *ids, size_t n, AfBytes *out) {
    for (size_t i = 0; i < n; i++) {
        size_t len;
        if (!af_tokenizer_token_bytes(t, ids[i], &len))
            return af_error_set(AF_EINVAL, "decode: token %zu has id %u, which is not in the vocabulary (size %u)",
                                i, ids[i], t->vocab_size);
    }
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *p = af_tokenizer_token_bytes(t, ids[i], &len);
        int rc = af_bytes_append(out, p, len);
        if (rc) return rc;
    }
    if (!out->data) return af_bytes_append(out, "", 0);
    return 0;
}

int af_tokenizer_clean_up(const char *text, size_t len, AfBytes *out) {
    static const char *const rules[][2] = {{" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"},
                                           {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
    AfBytes a = {0}, b = {0};
    int rc = af_bytes_append(&a, text, len);
    for (size_t r = 0; !rc && r < sizeof rules / sizeof rules[0]; r++) {
        size_t fl = strlen(rules[r][0]), tl = strlen(rules[r][1]), i = 0;
        b.len = 0;
        while (!rc && i < a.len) {
            if (i + fl <= a.len && memcmp(a.data + i, rules[r][0], fl) == 0) {
                rc = af_bytes_append(&b, rules[r][1], tl);
                i += fl;
            } else rc = af_bytes_append(&b, a.data + i++, 1);
        }
        if (!rc) rc = af_bytes_append(&b, "", 0);
        AfBytes t = a; a = b; b = t;
    }
    if (!rc) rc = af_bytes_append(out, a.data, a.len);
    af_bytes_free(&a);
    af_bytes_free(&b);
    return rc;
}

int af_token_stream_push(const AfTokenizer *t, AfTokenStream *s, uint32_t id, AfBytes *out) {
    size_t len;
    const char *p = af_tokenizer_token_bytes(t, id, &len);
    if (!p) return af_error_set(AF_EINVAL, "decode: id %u is not in the vocabulary (size %u)", id, t->vocab_size);
    size_t start = out->len;
    int rc = af_bytes_append(out, s->held, s->n_held);
    if (!rc) rc = af_bytes_append(out, p, len);
    if (rc) return rc;
    size_t k = utf8_incomplete_tail((const unsigned char *)out->data + start, out->len - start);
    memcpy(s->held, out->data + out->len - k, k);
    s->n_held = k;
    out->len -= k;
    out->data[out->len] = '\0';
    return 0;
}

int af_token_stream_finish(AfTokenStream *s, AfBytes *out) {
    int rc = af_bytes_append(out, s->held, s->n_held);
    s->n_held = 0;
    return rc;
}
