/* XXH64 against vectors from the reference implementation (tests/gen_xxh64_vectors.py,
 * python3-xxhash), and the streaming form against the one-shot form on random splits. */
#include <stdint.h>
#include <stdlib.h>

#include "common/checksum.h"
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
    TEST_MAIN_END();
}
