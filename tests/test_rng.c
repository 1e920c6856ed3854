/* Random streams: Philox known answers (Random123 kat_vectors), reproducibility,
 * independence of call order, seek/tell, and basic distribution sanity. */
#include <stdint.h>
#include <stdlib.h>

#include "common/rng.h"
#include "test_util.h"

static void test_kat(void) {
    static const uint32_t ctr[3][4] = {{0, 0, 0, 0},
                                       {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu},
                                       {0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}};
    static const uint32_t key[3][2] = {{0, 0}, {0xffffffffu, 0xffffffffu}, {0xa4093822u, 0x299f31d0u}};
    static const uint32_t want[3][4] = {{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u},
                                        {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu},
                                        {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}};
    for (int i = 0; i < 3; i++) {
        uint32_t out[4];
        af_philox4x32_10(ctr[i], key[i], out);
        for (int j = 0; j < 4; j++) CHECK_MSG(out[j] == want[i][j], "kat %d word %d: %08x", i, j, out[j]);
    }
}

/* The same name gives the same draws; every field of the name changes them. */
static void test_names(void) {
    AfRng a, b;
    af_rng_init(&a, 42, AF_RNG_SAMPLE, 3, 17, 5);
    af_rng_init(&b, 42, AF_RNG_SAMPLE, 3, 17, 5);
    for (int i = 0; i < 1000; i++) CHECK(af_rng_u32(&a) == af_rng_u32(&b));

    AfRng base;
    af_rng_init(&base, 42, AF_RNG_SAMPLE, 3, 17, 5);
    uint64_t ref = af_rng_u64(&base);
    AfRng v[6];
    af_rng_init(&v[0], 43, AF_RNG_SAMPLE, 3, 17, 5);
    af_rng_init(&v[1], 42ull | (1ull << 40), AF_RNG_SAMPLE, 3, 17, 5); /* high seed bits count */
    af_rng_init(&v[2], 42, AF_RNG_DATA, 3, 17, 5);
    af_rng_init(&v[3], 42, AF_RNG_SAMPLE, 4, 17, 5);
    af_rng_init(&v[4], 42, AF_RNG_SAMPLE, 3, 18, 5);
    af_rng_init(&v[5], 42, AF_RNG_SAMPLE, 3, 17, 6);
    for (int i = 0; i < 6; i++) CHECK_MSG(af_rng_u64(&v[i]) != ref, "variant %d collides", i);
}

/* Draws of a stream do not depend on what other streams did before, nor on the order in
 * which streams are consumed: interleaving 8 streams gives each the same sequence as
 * drawing it alone. */
static void test_order_independence(void) {
    enum { S = 8, N = 257 };
    uint32_t alone[S][N], mixed[S][N];
    for (int s = 0; s < S; s++) {
        AfRng r;
        af_rng_init(&r, 7, AF_RNG_SAMPLE, 1, (uint32_t)s, 0);
        for (int i = 0; i < N; i++) alone[s][i] = af_rng_u32(&r);
    }
    AfRng rs[S];
    for (int s = S - 1; s >= 0; s--) af_rng_init(&rs[s], 7, AF_RNG_SAMPLE, 1, (uint32_t)s, 0);
    int idx[S] = {0};
    AfRng sched;
    af_rng_init(&sched, 99, AF_RNG_TEST, 0, 0, 0);
    for (int done = 0; done < S * N;) {
        int s = (int)af_rng_below(&sched, S);
        if (idx[s] == N) continue;
        mixed[s][idx[s]++] = af_rng_u32(&rs[s]);
        done++;
    }
    CHECK(memcmp(alone, mixed, sizeof alone) == 0);
}

static void test_seek_tell(void) {
    AfRng a, b;
    af_rng_init(&a, 5, AF_RNG_MINIBATCH, 9, 0, 0);
    uint32_t seq[64];
    for (int i = 0; i < 64; i++) seq[i] = af_rng_u32(&a);
    CHECK_EQ_INT(af_rng_tell(&a), 64);
    for (uint64_t p = 0; p < 64; p++) {
        af_rng_init(&b, 5, AF_RNG_MINIBATCH, 9, 0, 0);
        af_rng_seek(&b, p);
        CHECK_EQ_INT(af_rng_tell(&b), p);
        CHECK_MSG(af_rng_u32(&b) == seq[p], "seek to %llu", (unsigned long long)p);
        CHECK_EQ_INT(af_rng_tell(&b), p + 1);
    }
    /* tell after partial consumption, restored into a fresh stream */
    af_rng_init(&a, 5, AF_RNG_MINIBATCH, 9, 0, 0);
    for (int i = 0; i < 7; i++) af_rng_u32(&a);
    af_rng_init(&b, 5, AF_RNG_MINIBATCH, 9, 0, 0);
    af_rng_seek(&b, af_rng_tell(&a));
    for (int i = 0; i < 20; i++) CHECK(af_rng_u32(&a) == af_rng_u32(&b));
}

static void test_distributions(void) {
    AfRng r;
    af_rng_init(&r, 1, AF_RNG_TEST, 0, 0, 0);
    enum { N = 200000 };
    double sum = 0, sum2 = 0, nsum = 0, nsum2 = 0;
    int counts[10] = {0};
    for (int i = 0; i < N; i++) {
        double u = af_rng_uniform(&r);
        CHECK(u >= 0.0 && u < 1.0);
        sum += u;
        sum2 += u * u;
        float f = af_rng_uniformf(&r);
        CHECK(f >= 0.0f && f < 1.0f);
        counts[af_rng_below(&r, 10)]++;
        double z = af_rng_normal(&r);
        nsum += z;
        nsum2 += z * z;
    }
    CHECK_NEAR(sum / N, 0.5, 0.005);
    CHECK_NEAR(sum2 / N - (sum / N) * (sum / N), 1.0 / 12.0, 0.002);
    CHECK_NEAR(nsum / N, 0.0, 0.01);
    CHECK_NEAR(nsum2 / N, 1.0, 0.02);
    for (int k = 0; k < 10; k++) CHECK_NEAR(counts[k], N / 10, N / 10 * 0.05);
    /* below(1) is always 0, below(2^32-1) stays in range */
    for (int i = 0; i < 100; i++) CHECK(af_rng_below(&r, 1) == 0);
    for (int i = 0; i < 100; i++) CHECK(af_rng_below(&r, 0xFFFFFFFFu) < 0xFFFFFFFFu);

    uint32_t perm[100];
    for (uint32_t i = 0; i < 100; i++) perm[i] = i;
    af_rng_shuffle_u32(&r, perm, 100);
    int seen[100] = {0}, moved = 0;
    for (uint32_t i = 0; i < 100; i++) {
        seen[perm[i]]++;
        moved += perm[i] != i;
    }
    for (int i = 0; i < 100; i++) CHECK(seen[i] == 1);
    CHECK(moved > 50);
}

int main(void) {
    test_kat();
    test_names();
    test_order_independence();
    test_seek_tell();
    test_distributions();
    TEST_MAIN_END();
}
