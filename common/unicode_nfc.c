/* NFC with the reference's Unicode data (see unicode_nfc.h). */
#include "common/unicode_nfc.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/unicode_nfc_data.h"

enum { SBASE = 0xAC00, LBASE = 0x1100, VBASE = 0x1161, TBASE = 0x11A7, LCOUNT = 19, VCOUNT = 21, TCOUNT = 28,
       NCOUNT = VCOUNT * TCOUNT, SCOUNT = LCOUNT * NCOUNT };

#define N_CCC (sizeof kNfcCcc / sizeof kNfcCcc[0])
#define N_DECOMP (sizeof kNfcDecomp / sizeof kNfcDecomp[0])
#define N_COMP (sizeof kNfcComp / sizeof kNfcComp[0])

/* Bit per code point: NFC may change text holding it (NFC_Quick_Check not Yes, or a
 * non-starter): a non-starter, the second of a composition pair, or a decomposable code
 * point that is not a primary composite (singletons, composition exclusions). A primary
 * composite or a Hangul syllable alone is stable; what could change it is a following
 * mark or jamo, which is marked itself. 0x110000 bits = 136 KB, built once. */
static uint64_t g_active[0x110000 / 64];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void mark(uint32_t cp) { g_active[cp >> 6] |= 1ull << (cp & 63); }

static void build_active(void) {
    for (size_t i = 0; i < N_CCC; i++) mark(kNfcCcc[i][0]);
    for (size_t i = 0; i < N_DECOMP; i++) mark(kNfcDecomp[i][0]);
    for (size_t i = 0; i < N_COMP; i++) { /* primary composites: unmark */
        uint32_t c = kNfcComp[i][2];
        g_active[c >> 6] &= ~(1ull << (c & 63));
    }
    for (size_t i = 0; i < N_COMP; i++) mark(kNfcComp[i][1]);
    for (size_t i = 0; i < N_CCC; i++) mark(kNfcCcc[i][0]);
    for (uint32_t cp = VBASE; cp < VBASE + VCOUNT; cp++) mark(cp);
    for (uint32_t cp = TBASE + 1; cp < TBASE + TCOUNT; cp++) mark(cp);
}

static inline int active(uint32_t cp) { return (int)((g_active[cp >> 6] >> (cp & 63)) & 1); }

/* Decode one code point of well-formed UTF-8 at s; *n = its length. */
static inline uint32_t utf8_get(const unsigned char *s, size_t *n) {
    if (s[0] < 0x80) { *n = 1; return s[0]; }
    if (s[0] < 0xE0) { *n = 2; return ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F); }
    if (s[0] < 0xF0) { *n = 3; return ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F); }
    *n = 4;
    return ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) | ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
}

int af_nfc_may_change(const char *s, size_t len) {
    pthread_once(&g_once, build_active);
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        if (u[i] < 0xCC) { /* below U+0300: never active; skip the whole character */
            i += u[i] < 0x80 ? 1 : 2;
            continue;
        }
        size_t n;
        uint32_t cp = utf8_get(u + i, &n);
        if (active(cp)) return 1;
        i += n;
    }
    return 0;
}

static int ccc_of(uint32_t cp) {
    size_t lo = 0, hi = N_CCC;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (kNfcCcc[mid][0] < cp) lo = mid + 1;
        else hi = mid;
    }
    return lo < N_CCC && kNfcCcc[lo][0] == cp ? (int)kNfcCcc[lo][1] : 0;
}

static const uint32_t *decomp_of(uint32_t cp, size_t *n) {
    size_t lo = 0, hi = N_DECOMP;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (kNfcDecomp[mid][0] < cp) lo = mid + 1;
        else hi = mid;
    }
    if (lo == N_DECOMP || kNfcDecomp[lo][0] != cp) return NULL;
    *n = kNfcDecomp[lo][1] & 7;
    return kNfcDecompCp + (kNfcDecomp[lo][1] >> 3);
}

/* The primary composite of (a, b), or 0. */
static uint32_t compose(uint32_t a, uint32_t b) {
    if (a >= LBASE && a < LBASE + LCOUNT && b >= VBASE && b < VBASE + VCOUNT)
        return SBASE + ((a - LBASE) * VCOUNT + (b - VBASE)) * TCOUNT;
    if (a >= SBASE && a < SBASE + SCOUNT && (a - SBASE) % TCOUNT == 0 && b > TBASE && b < TBASE + TCOUNT)
        return a + (b - TBASE);
    size_t lo = 0, hi = N_COMP;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (kNfcComp[mid][0] < a || (kNfcComp[mid][0] == a && kNfcComp[mid][1] < b)) lo = mid + 1;
        else hi = mid;
    }
    return lo < N_COMP && kNfcComp[lo][0] == a && kNfcComp[lo][1] == b ? kNfcComp[lo][2] : 0;
}

void af_nfc_scratch_free(AfNfcScratch *s) {
    if (!s) return;
    free(s->cp);
    free(s->cc);
    memset(s, 0, sizeof *s);
}

int af_nfc(const char *s, size_t len, AfBytes *out, AfNfcScratch *scratch) {
    pthread_once(&g_once, build_active);
    AfNfcScratch own = {0};
    if (!scratch) scratch = &own;
    /* at most 4 code points per input code point (the longest decomposition), <= len of them */
    size_t need = len * 4 + 1;
    if (scratch->cap < need) {
        uint32_t *p = realloc(scratch->cp, need * sizeof *p);
        if (p) scratch->cp = p;
        unsigned char *q = realloc(scratch->cc, need);
        if (q) scratch->cc = q;
        if (!p || !q) {
            af_nfc_scratch_free(&own);
            return af_error_set(AF_ENOMEM, "NFC: %zu bytes", len);
        }
        scratch->cap = need;
    }
    uint32_t *cp = scratch->cp;
    uint8_t *cc = scratch->cc;
    size_t n = 0;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) { /* decompose */
        size_t k;
        uint32_t c = utf8_get(u + i, &k);
        i += k;
        const uint32_t *d;
        size_t dn;
        if (c >= SBASE && c < SBASE + SCOUNT) {
            uint32_t si = c - SBASE;
            cp[n++] = LBASE + si / NCOUNT;
            cp[n++] = VBASE + (si % NCOUNT) / TCOUNT;
            if (si % TCOUNT) cp[n++] = TBASE + si % TCOUNT;
        } else if (c >= 0xC0 && (d = decomp_of(c, &dn)) != NULL) {
            for (size_t j = 0; j < dn; j++) cp[n++] = d[j];
        } else cp[n++] = c;
    }
    for (size_t i = 0; i < n; i++) cc[i] = (uint8_t)(cp[i] >= 0x300 ? ccc_of(cp[i]) : 0);
    for (size_t i = 1; i < n; i++) { /* canonical ordering: stable insertion sort of mark runs */
        if (!cc[i]) continue;
        for (size_t j = i; j > 0 && cc[j - 1] > cc[j]; j--) {
            uint32_t t = cp[j]; cp[j] = cp[j - 1]; cp[j - 1] = t;
            uint8_t tc = cc[j]; cc[j] = cc[j - 1]; cc[j - 1] = tc;
        }
    }
    size_t w = 0;
    if (n) { /* canonical composition (UAX #15 sample code) */
        size_t starter = 0;
        int last = cc[0] ? 256 : 0;
        w = 1;
        for (size_t i = 1; i < n; i++) {
            uint32_t c = cp[i];
            int k = cc[i];
            uint32_t comp = compose(cp[starter], c);
            if (comp && (last < k || last == 0)) {
                cp[starter] = comp;
                continue;
            }
            if (k == 0) starter = w;
            last = k;
            cp[w] = c;
            cc[w] = (uint8_t)k;
            w++;
        }
    }
    int rc = 0;
    for (size_t i = 0; i < w && !rc; i++) rc = af_utf8_append(out, cp[i]);
    if (!rc && !out->data) rc = af_bytes_append(out, "", 0);
    af_nfc_scratch_free(&own);
    return rc;
}
