/* XXH64 (xxHash 64-bit), one-shot and streaming, written from the published algorithm;
 * FL8 (checksum.h), its lane update in the dispatched kernels. */
#include "common/checksum.h"

#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "common/kernels.h"

#define P1 0x9E3779B185EBCA87ULL
#define P2 0xC2B2AE3D27D4EB4FULL
#define P3 0x165667B19E3779F9ULL
#define P4 0x85EBCA77C2B2AE63ULL
#define P5 0x27D4EB2F165667C5ULL

static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static inline uint64_t read64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline uint32_t read32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    return v;
}

static inline uint64_t round64(uint64_t acc, uint64_t input) {
    acc += input * P2;
    acc = rotl64(acc, 31);
    return acc * P1;
}

static inline uint64_t merge64(uint64_t acc, uint64_t v) {
    acc ^= round64(0, v);
    return acc * P1 + P4;
}

/* Consume whole 32-byte stripes from p; returns the pointer past the last one. */
static const uint8_t *stripes(uint64_t v[4], const uint8_t *p, const uint8_t *limit) {
    uint64_t v1 = v[0], v2 = v[1], v3 = v[2], v4 = v[3];
    while (p + 32 <= limit) {
        v1 = round64(v1, read64(p));
        v2 = round64(v2, read64(p + 8));
        v3 = round64(v3, read64(p + 16));
        v4 = round64(v4, read64(p + 24));
        p += 32;
    }
    v[0] = v1, v[1] = v2, v[2] = v3, v[3] = v4;
    return p;
}

/* The tail (< 32 bytes) and the final avalanche. */
static uint64_t finish(uint64_t h, const uint8_t *p, size_t len) {
    while (len >= 8) {
        h ^= round64(0, read64(p));
        h = rotl64(h, 27) * P1 + P4;
        p += 8, len -= 8;
    }
    if (len >= 4) {
        h ^= (uint64_t)read32(p) * P1;
        h = rotl64(h, 23) * P2 + P3;
        p += 4, len -= 4;
    }
    while (len > 0) {
        h ^= (uint64_t)(*p) * P5;
        h = rotl64(h, 11) * P1;
        p++, len--;
    }
    h ^= h >> 33;
    h *= P2;
    h ^= h >> 29;
    h *= P3;
    h ^= h >> 32;
    return h;
}

static uint64_t converge(const uint64_t v[4]) {
    uint64_t h = rotl64(v[0], 1) + rotl64(v[1], 7) + rotl64(v[2], 12) + rotl64(v[3], 18);
    for (int i = 0; i < 4; i++) h = merge64(h, v[i]);
    return h;
}

static void lanes_init(uint64_t v[4], uint64_t seed) {
    v[0] = seed + P1 + P2;
    v[1] = seed + P2;
    v[2] = seed;
    v[3] = seed - P1;
}

uint64_t af_checksum64(const void *data, size_t bytes, uint64_t seed) {
    const uint8_t *p = data;
    uint64_t h;
    if (bytes == 0) return finish(seed + P5, NULL, 0);
    const uint8_t *end = p + bytes;
    if (bytes >= 32) {
        uint64_t v[4];
        lanes_init(v, seed);
        p = stripes(v, p, end);
        h = converge(v);
    } else {
        h = seed + P5;
    }
    h += (uint64_t)bytes;
    return finish(h, p, (size_t)(end - p));
}

void af_checksum64_reset(AfChecksum64State *s, uint64_t seed) {
    memset(s, 0, sizeof *s);
    s->seed = seed;
    lanes_init(s->v, seed);
}

void af_checksum64_update(AfChecksum64State *s, const void *data, size_t bytes) {
    const uint8_t *p = data;
    if (bytes == 0) return;
    const uint8_t *end = p + bytes;
    s->total += bytes;
    if (s->buf_len + bytes < 32) {
        memcpy(s->buf + s->buf_len, p, bytes);
        s->buf_len += (uint32_t)bytes;
        return;
    }
    if (s->buf_len) {
        size_t fill = 32 - s->buf_len;
        memcpy(s->buf + s->buf_len, p, fill);
        stripes(s->v, s->buf, s->buf + 32);
        p += fill;
        s->buf_len = 0;
    }
    p = stripes(s->v, p, end);
    if (p < end) {
        memcpy(s->buf, p, (size_t)(end - p));
        s->buf_len = (uint32_t)(end - p);
    }
}

uint64_t af_checksum64_digest(const AfChecksum64State *s) {
    uint64_t h = s->total >= 32 ? converge(s->v) : s->seed + P5;
    h += s->total;
    return finish(h, s->buf, s->buf_len);
}

/* ------------------------------------------------------------------ FL8 (checksum.h) */

void af_fl8_reset(AfFl8State *s) { memset(s, 0, sizeof *s); }

/* The definition's lane update for whole words of a block that starts at a lane-0 word. */
static void fl8_words(uint64_t st[32], const uint8_t *p, size_t nwords) {
    for (size_t i = 0; i < nwords; i++) {
        const uint8_t *q = p + 4 * i;
        uint64_t w = (uint64_t)q[0] | (uint64_t)q[1] << 8 | (uint64_t)q[2] << 16 | (uint64_t)q[3] << 24;
        st[i] += w;
        st[8 + i] += st[i];
        st[16 + i] += st[8 + i];
        st[24 + i] += st[16 + i];
    }
}

/* Feed src (copying it to dst first when dst is set; mode as in kernels.h). */
static void fl8_feed(AfFl8State *s, uint8_t *dst, const uint8_t *src, size_t bytes, int stream) {
    if (bytes == 0) return;
    s->total += bytes;
    if (s->buf_len) { /* complete the partial block */
        size_t fill = 32 - s->buf_len < bytes ? 32 - s->buf_len : bytes;
        memcpy(s->buf + s->buf_len, src, fill);
        if (dst) memcpy(dst, src, fill), dst += fill;
        src += fill, bytes -= fill;
        s->buf_len += (uint32_t)fill;
        if (s->buf_len < 32) return;
        fl8_words(s->st, s->buf, 8);
        s->buf_len = 0;
    }
    size_t nb = bytes / 32;
    if (nb) {
        int mode = !dst ? 0 : stream && ((uintptr_t)dst & 15) == 0 ? 2 : 1;
        af_kernels()->fl8_blocks(s->st, dst, src, nb, mode);
#if defined(__SSE2__)
        if (mode == 2) _mm_sfence(); /* the streamed stores are visible before what follows */
#endif
        src += nb * 32, bytes -= nb * 32;
        if (dst) dst += nb * 32;
    }
    if (bytes) {
        memcpy(s->buf, src, bytes);
        if (dst) memcpy(dst, src, bytes);
        s->buf_len = (uint32_t)bytes;
    }
}

void af_fl8_update(AfFl8State *s, const void *data, size_t bytes) { fl8_feed(s, NULL, data, bytes, 0); }

void af_fl8_copy(AfFl8State *s, void *dst, const void *src, size_t bytes, int stream) {
    fl8_feed(s, dst, src, bytes, stream);
}

uint64_t af_fl8_digest(const AfFl8State *s) {
    uint64_t st[32];
    memcpy(st, s->st, sizeof st);
    if (s->buf_len) { /* the last words, zero-padded */
        uint8_t pad[32] = {0};
        memcpy(pad, s->buf, s->buf_len);
        fl8_words(st, pad, (s->buf_len + 3) / 4);
    }
    uint8_t out[33 * 8];
    for (int i = 0; i < 33; i++) {
        uint64_t v = i < 32 ? st[i] : s->total;
        for (int b = 0; b < 8; b++) out[8 * i + b] = (uint8_t)(v >> (8 * b));
    }
    return af_checksum64(out, sizeof out, 0);
}
