/* XXH64 against vectors from the reference implementation (tests/gen_xxh64_vectors.py,
 * python3-xxhash), and the streaming form against the one-shot form on random splits.
 * FL8 (checksum.h) against its definition, written out here word by word, under every
 * kernel variant this CPU runs: one-shot, random splits, fused copies (regular and
 * non-temporal stores, aligned and misaligned destinations); and what it must notice: any
 * one-bit change, two words swapped, two pieces swapped, the length. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/checksum.h"
#include "common/kernels.h"
#include "common/rng.h"
#include "test_util.h"

static const struct {
    size_t len;
    uint64_t seed, want;
} vectors[] = {
    {0, 0x0000000000000000ULL, 0xef46db3751d8e999ULL},
    {0, 0x0000000000000001ULL, 0xd5afba1336a3be4bULL},
    {0, 0x9e3779b97f4a7c15ULL, 0xc4349fc93c010000ULL},
    {1, 0x0000000000000000ULL, 0xa96c7f0ce858bbb7ULL},
    {1, 0x0000000000000001ULL, 0x0766883a0a47a96aULL},
    {1, 0x9e3779b97f4a7c15ULL, 0x585882422a6165e7ULL},
    {3, 0x0000000000000000ULL, 0xbed43740ee6332bbULL},
    {3, 0x0000000000000001ULL, 0x95ba63f005e6e6caULL},
    {3, 0x9e3779b97f4a7c15ULL, 0x45fa1406538fa168ULL},
    {4, 0x0000000000000000ULL, 0xfa212ae44b3bb23dULL},
    {4, 0x0000000000000001ULL, 0x319607b5ca9d59d4ULL},
    {4, 0x9e3779b97f4a7c15ULL, 0xa65107f22943365aULL},
    {5, 0x0000000000000000ULL, 0xd339dcc9ac8e6776ULL},
    {5, 0x0000000000000001ULL, 0xe07f25fb3a8e5de9ULL},
    {5, 0x9e3779b97f4a7c15ULL, 0xf51eda3a20de9b88ULL},
    {7, 0x0000000000000000ULL, 0x2744460dd675d2c0ULL},
    {7, 0x0000000000000001ULL, 0x0047cdce49d4bc99ULL},
    {7, 0x9e3779b97f4a7c15ULL, 0xc9b637e2c4599de2ULL},
    {8, 0x0000000000000000ULL, 0x994b676b71ce94ddULL},
    {8, 0x0000000000000001ULL, 0xc14d78e582fe5026ULL},
    {8, 0x9e3779b97f4a7c15ULL, 0xce592d5f53e192ecULL},
    {9, 0x0000000000000000ULL, 0x572b84c18b983af8ULL},
    {9, 0x0000000000000001ULL, 0xdb001655fe3a4b7aULL},
    {9, 0x9e3779b97f4a7c15ULL, 0x5495aa796de8ab73ULL},
    {15, 0x0000000000000000ULL, 0x09e6451ed2ff8b1dULL},
    {15, 0x0000000000000001ULL, 0x40a4206cc723cce4ULL},
    {15, 0x9e3779b97f4a7c15ULL, 0x47a857d1f90c35e1ULL},
    {16, 0x0000000000000000ULL, 0x94ad0095e72b24d5ULL},
    {16, 0x0000000000000001ULL, 0x0c9b8f12f2ae6c76ULL},
    {16, 0x9e3779b97f4a7c15ULL, 0x3f8fea7c86a04013ULL},
    {17, 0x0000000000000000ULL, 0x1464f2eff23b5fe1ULL},
    {17, 0x0000000000000001ULL, 0x418df2ecde29d078ULL},
    {17, 0x9e3779b97f4a7c15ULL, 0xe5044d205f3d2f74ULL},
    {31, 0x0000000000000000ULL, 0x6711d55e306b5d8fULL},
    {31, 0x0000000000000001ULL, 0xe811d10b03941e82ULL},
    {31, 0x9e3779b97f4a7c15ULL, 0x24c4e99ab0404b5eULL},
    {32, 0x0000000000000000ULL, 0x07f7b8e3bc5d6e25ULL},
    {32, 0x0000000000000001ULL, 0xdf4f0f6ea84ebbcaULL},
    {32, 0x9e3779b97f4a7c15ULL, 0x046e99bbda1a814bULL},
    {33, 0x0000000000000000ULL, 0x09f85eeb4e1cbe9fULL},
    {33, 0x0000000000000001ULL, 0x489f1772049e476cULL},
    {33, 0x9e3779b97f4a7c15ULL, 0xd7fe2bfee6e4cdedULL},
    {63, 0x0000000000000000ULL, 0xb7c9968c066cb6a5ULL},
    {63, 0x0000000000000001ULL, 0xbe65bc64322f219bULL},
    {63, 0x9e3779b97f4a7c15ULL, 0xbd457f9ea47180c8ULL},
    {64, 0x0000000000000000ULL, 0x50d4159a0411632eULL},
    {64, 0x0000000000000001ULL, 0x8ea281ce694f574dULL},
    {64, 0x9e3779b97f4a7c15ULL, 0xa768f350a8e4fcf6ULL},
    {65, 0x0000000000000000ULL, 0xd277176bff863efcULL},
    {65, 0x0000000000000001ULL, 0x1b26ddaa63626478ULL},
    {65, 0x9e3779b97f4a7c15ULL, 0xfe99ab21e40d4b0cULL},
    {100, 0x0000000000000000ULL, 0x9ddada11d3dc2d8fULL},
    {100, 0x0000000000000001ULL, 0xe6a0d25e6e0a7f2aULL},
    {100, 0x9e3779b97f4a7c15ULL, 0x35546bd9a4779ae4ULL},
    {255, 0x0000000000000000ULL, 0x15a6db05d4e83df4ULL},
    {255, 0x0000000000000001ULL, 0xbeff7578626dae08ULL},
    {255, 0x9e3779b97f4a7c15ULL, 0xf91cb247d93dfe82ULL},
    {1000, 0x0000000000000000ULL, 0xe680fa9ac84ec77aULL},
    {1000, 0x0000000000000001ULL, 0xadae112edea5e064ULL},
    {1000, 0x9e3779b97f4a7c15ULL, 0x6577fa5065e40774ULL},
    {4099, 0x0000000000000000ULL, 0xe6dd8a880d0de5cfULL},
    {4099, 0x0000000000000001ULL, 0x791b811020d2d946ULL},
    {4099, 0x9e3779b97f4a7c15ULL, 0xfadfc50322c362c1ULL},
};

static uint8_t pattern_byte(size_t i) { return (uint8_t)(((i * 131 + 7) ^ (i >> 8)) & 0xFF); }

/* FL8 by its definition (checksum.h), independent of the library's code. */
static uint64_t fl8_ref(const uint8_t *p, size_t len) {
    uint64_t a[8] = {0}, b[8] = {0}, c[8] = {0}, d[8] = {0};
    for (size_t k = 0; 4 * k < len; k++) {
        uint64_t w = 0;
        for (int j = 0; j < 4; j++)
            if (4 * k + j < len) w |= (uint64_t)p[4 * k + j] << (8 * j);
        int i = (int)(k % 8);
        a[i] += w, b[i] += a[i], c[i] += b[i], d[i] += c[i];
    }
    uint8_t out[264];
    for (int i = 0; i < 33; i++) {
        uint64_t v = i < 8 ? a[i] : i < 16 ? b[i - 8] : i < 24 ? c[i - 16] : i < 32 ? d[i - 24] : (uint64_t)len;
        for (int j = 0; j < 8; j++) out[8 * i + j] = (uint8_t)(v >> (8 * j));
    }
    return af_checksum64(out, sizeof out, 0);
}

static uint64_t fl8_one(const void *p, size_t len) {
    AfFl8State s;
    af_fl8_reset(&s);
    af_fl8_update(&s, p, len);
    return af_fl8_digest(&s);
}

static void check_fl8(const uint8_t *buf, size_t maxlen) {
    static const char *variants[] = {"baseline", "avx2", "avx512", "avx512bf16"};
    uint8_t *dst = malloc(maxlen + 64);
    AfRng r;
    af_rng_init(&r, 7, AF_RNG_TEST, 0, 0, 0);
    for (int v = 0; v < 4; v++) {
        if (af_kernels_select(variants[v]) != 0) continue; /* not on this CPU */
        for (int trial = 0; trial < 100; trial++) {
            size_t len = trial < 70 ? (size_t)trial : af_rng_u32(&r) % maxlen;
            const uint64_t want = fl8_ref(buf, len);
            CHECK_MSG(fl8_one(buf, len) == want, "%s: one-shot len %zu", variants[v], len);
            /* random splits, alternating plain feeds and fused copies */
            const size_t off = (size_t[]){0, 4, 16, 32, 12}[trial % 5];
            const int stream = trial % 2;
            AfFl8State s;
            af_fl8_reset(&s);
            memset(dst, 0xee, maxlen + 64);
            size_t pos = 0;
            while (pos < len) {
                size_t piece = af_rng_u32(&r) % (trial % 3 == 0 ? 40 : 70000);
                if (piece > len - pos) piece = len - pos;
                if (af_rng_u32(&r) % 3 == 0) {
                    af_fl8_update(&s, buf + pos, piece);
                    memcpy(dst + off + pos, buf + pos, piece);
                } else {
                    af_fl8_copy(&s, dst + off + pos, buf + pos, piece, stream);
                }
                pos += piece;
                if (af_rng_u32(&r) % 5 == 0) /* digest mid-stream must not disturb the state */
                    CHECK(af_fl8_digest(&s) == fl8_ref(buf, pos));
            }
            CHECK_MSG(af_fl8_digest(&s) == want, "%s: split len %zu off %zu stream %d", variants[v], len, off, stream);
            CHECK_MSG(memcmp(dst + off, buf, len) == 0, "%s: copy len %zu off %zu stream %d", variants[v], len, off,
                      stream);
            CHECK(dst[off + len] == 0xee && (off == 0 || dst[off - 1] == 0xee)); /* nothing written outside */
        }
    }
    CHECK_EQ_INT(af_kernels_select("auto"), 0);
    free(dst);
}

/* What FL8 must notice, on a buffer of floats like the weights it guards. */
static void check_fl8_detects(size_t n) {
    float *w = malloc(n * sizeof(float));
    AfRng r;
    af_rng_init(&r, 8, AF_RNG_TEST, 0, 0, 0);
    for (size_t i = 0; i < n; i++) w[i] = (float)((int)(af_rng_u32(&r) % 2001) - 1000) * 1e-3f;
    const size_t bytes = n * sizeof(float);
    const uint64_t base = fl8_one(w, bytes);
    uint8_t *p = (uint8_t *)w;
    for (int t = 0; t < 200; t++) { /* one bit anywhere */
        size_t at = af_rng_u32(&r) % bytes;
        int bit = (int)(af_rng_u32(&r) % 8);
        p[at] ^= (uint8_t)(1u << bit);
        CHECK_MSG(fl8_one(w, bytes) != base, "bit %d of byte %zu", bit, at);
        p[at] ^= (uint8_t)(1u << bit);
    }
    for (int t = 0; t < 60; t++) { /* two different words swapped, in the same lane or not */
        size_t i = af_rng_u32(&r) % n, j = t % 2 ? (i + 8 * (1 + af_rng_u32(&r) % 100)) % n : af_rng_u32(&r) % n;
        if (w[i] == w[j]) continue;
        float x = w[i];
        w[i] = w[j], w[j] = x;
        CHECK_MSG(fl8_one(w, bytes) != base, "words %zu and %zu swapped", i, j);
        w[j] = w[i], w[i] = x;
    }
    { /* two pieces of 128 KiB swapped (a ring slot taken out of order) */
        const size_t piece = 32768;
        float *tmp = malloc(piece * sizeof(float));
        memcpy(tmp, w, piece * sizeof(float));
        memcpy(w, w + piece, piece * sizeof(float));
        memcpy(w + piece, tmp, piece * sizeof(float));
        CHECK(fl8_one(w, bytes) != base);
        memcpy(w + piece, w, piece * sizeof(float));
        memcpy(w, tmp, piece * sizeof(float));
        free(tmp);
        CHECK(fl8_one(w, bytes) == base);
    }
    /* the length counts: trailing zeros are not invisible */
    const uint8_t zeros[8] = {0};
    CHECK(fl8_one(zeros, 0) != fl8_one(zeros, 4) && fl8_one(zeros, 4) != fl8_one(zeros, 8));
    CHECK(fl8_one(zeros, 3) != fl8_one(zeros, 4));
    free(w);
}

int main(void) {
    enum { MAXLEN = 1 << 16 };
    uint8_t *buf = malloc(MAXLEN + 8);
    for (size_t i = 0; i < MAXLEN + 8; i++) buf[i] = pattern_byte(i);

    for (size_t k = 0; k < sizeof vectors / sizeof vectors[0]; k++) {
        uint64_t got = af_checksum64(buf, vectors[k].len, vectors[k].seed);
        CHECK_MSG(got == vectors[k].want, "len %zu seed %llx: got %016llx want %016llx", vectors[k].len,
                  (unsigned long long)vectors[k].seed, (unsigned long long)got,
                  (unsigned long long)vectors[k].want);
    }
    /* Well-known published values. */
    CHECK(af_checksum64(NULL, 0, 0) == 0xEF46DB3751D8E999ULL);
    CHECK(af_checksum64("abc", 3, 0) == 0x44BC2CF5AD770999ULL);
    CHECK(af_checksum64("The quick brown fox jumps over the lazy dog", 43, 0) == 0x0B242D361FDA71BCULL);

    /* Unaligned input gives the same value as aligned input. */
    uint8_t *shifted = malloc(4099 + 3);
    memcpy(shifted + 3, buf, 4099);
    CHECK(af_checksum64(shifted + 3, 4099, 0) == af_checksum64(buf, 4099, 0));
    free(shifted);

    /* Streaming: random split points and sizes equal the one-shot digest. */
    AfRng r;
    af_rng_init(&r, 5, AF_RNG_TEST, 0, 0, 0);
    for (int trial = 0; trial < 300; trial++) {
        size_t len = af_rng_u32(&r) % (trial < 100 ? 200 : MAXLEN);
        uint64_t seed = ((uint64_t)af_rng_u32(&r) << 32) | af_rng_u32(&r);
        AfChecksum64State s;
        af_checksum64_reset(&s, seed);
        size_t pos = 0;
        while (pos < len) {
            size_t piece = af_rng_u32(&r) % (trial % 3 == 0 ? 40 : 5000);
            if (piece > len - pos) piece = len - pos;
            af_checksum64_update(&s, buf + pos, piece);
            pos += piece;
            if (af_rng_u32(&r) % 7 == 0)  /* digest mid-stream must not disturb the state */
                CHECK(af_checksum64_digest(&s) == af_checksum64(buf, pos, seed));
        }
        CHECK_MSG(af_checksum64_digest(&s) == af_checksum64(buf, len, seed), "trial %d len %zu", trial, len);
    }
    /* A one-bit change changes the digest. */
    uint64_t before = af_checksum64(buf, MAXLEN, 0);
    buf[MAXLEN / 2] ^= 0x10;
    CHECK(af_checksum64(buf, MAXLEN, 0) != before);
    free(buf);

    const size_t flen = 140007; /* more than one 128 KiB ring piece */
    uint8_t *fbuf = malloc(flen);
    for (size_t i = 0; i < flen; i++) fbuf[i] = pattern_byte(i * 7 + 3);
    check_fl8(fbuf, flen);
    free(fbuf);
    check_fl8_detects(70000);
    TEST_MAIN_END();
}
