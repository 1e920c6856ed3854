/* UTF-8 validation and repair, secret redaction (text.h). */
#include "common/text.h"

#include <stdlib.h>
#include <string.h>

/* Length of the well-formed sequence at p (1..4), or 0 if ill-formed; *bad receives the
 * length of the maximal subpart to replace (>= 1) when it is ill-formed. */
static size_t seq_len(const unsigned char *p, size_t left, size_t *bad) {
    unsigned char c = p[0];
    *bad = 1;
    if (c < 0x80) return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c == 0xE0) n = 3, lo = 0xA0;
    else if (c == 0xED) n = 3, hi = 0x9F; /* no surrogates */
    else if (c >= 0xE1 && c <= 0xEF) n = 3;
    else if (c == 0xF0) n = 4, lo = 0x90;
    else if (c == 0xF4) n = 4, hi = 0x8F; /* nothing above U+10FFFF */
    else if (c >= 0xF1 && c <= 0xF3) n = 4;
    else return 0; /* 80..C1, F5..FF: never a lead byte */
    for (size_t i = 1; i < n; i++) {
        unsigned char l = i == 1 ? lo : 0x80, h = i == 1 ? hi : 0xBF;
        if (i >= left || p[i] < l || p[i] > h) {
            *bad = i; /* the lead byte and the continuation bytes that fit so far */
            return 0;
        }
    }
    return n;
}

int af_utf8_valid(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, bad;
    while (i < n) {
        size_t k = seq_len(p + i, n - i, &bad);
        if (!k) return 0;
        i += k;
    }
    return 1;
}

char *af_utf8_clean_dup(const char *s) {
    if (!s) s = "";
    size_t n = strlen(s);
    if (af_utf8_valid(s, n)) return strdup(s);
    char *out = malloc(3 * n + 1); /* each replaced byte grows to at most 3 */
    if (!out) return NULL;
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, o = 0, bad;
    while (i < n) {
        size_t k = seq_len(p + i, n - i, &bad);
        if (k) {
            memcpy(out + o, p + i, k);
            o += k;
            i += k;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i += bad;
        }
    }
    out[o] = '\0';
    return out;
}

char *af_redact_dup(const char *s, const char *secret) {
    if (!s) s = "";
    if (!secret || !secret[0]) return strdup(s);
    static const char mask[] = "[redacted]";
    size_t sl = strlen(secret), ml = sizeof mask - 1, count = 0;
    for (const char *p = s; (p = strstr(p, secret)) != NULL; p += sl) count++;
    size_t n = strlen(s);
    char *out = malloc(n + count * (ml > sl ? ml - sl : 0) + 1);
    if (!out) return NULL;
    size_t o = 0;
    const char *p = s, *q;
    while ((q = strstr(p, secret)) != NULL) {
        memcpy(out + o, p, (size_t)(q - p));
        o += (size_t)(q - p);
        memcpy(out + o, mask, ml);
        o += ml;
        p = q + sl;
    }
    strcpy(out + o, p);
    return out;
}
