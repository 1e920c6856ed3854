/* Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11)
 * and the stream helpers built on it. */
#include "common/rng.h"

#include <math.h>

#include "common/error.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void af_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        uint32_t n3 = (uint32_t)p0;
        c0 = n0; c1 = n1; c2 = n2; c3 = n3;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

void af_rng_init(AfRng *r, uint64_t seed, AfRngPurpose purpose, uint32_t iteration,
                 uint32_t query, uint32_t sample) {
    AF_ASSERT(sample <= AF_RNG_MAX_SAMPLE);
    AF_ASSERT((uint32_t)purpose < 256u);
    r->key[0] = (uint32_t)seed;
    r->key[1] = (uint32_t)(seed >> 32);
    r->ctr[0] = 0;
    r->ctr[1] = iteration;
    r->ctr[2] = query;
    r->ctr[3] = ((uint32_t)purpose << 24) | sample;
    r->pos = 4;
}

uint64_t af_rng_tell(const AfRng *r) {
    /* ctr[0] is the index of the next block to generate; buf holds block ctr[0]-1. */
    if (r->pos == 4) return (uint64_t)r->ctr[0] * 4u;
    return ((uint64_t)r->ctr[0] - 1u) * 4u + r->pos;
}

void af_rng_seek(AfRng *r, uint64_t words) {
    uint64_t block = words / 4u;
    AF_ASSERT(block <= 0xFFFFFFFFull);
    r->ctr[0] = (uint32_t)block;
    r->pos = 4;
    if (words % 4u) {
        af_philox4x32_10(r->ctr, r->key, r->buf);
        r->ctr[0]++;
        r->pos = (uint32_t)(words % 4u);
    }
}

uint32_t af_rng_u32(AfRng *r) {
    if (r->pos == 4) {
        AF_ASSERT(r->ctr[0] != 0xFFFFFFFFu); /* 2^34 draws per stream */
        af_philox4x32_10(r->ctr, r->key, r->buf);
        r->ctr[0]++;
        r->pos = 0;
    }
    return r->buf[r->pos++];
}

uint64_t af_rng_u64(AfRng *r) {
    uint64_t hi = af_rng_u32(r);
    return hi << 32 | af_rng_u32(r);
}

double af_rng_uniform(AfRng *r) { return (double)(af_rng_u64(r) >> 11) * 0x1.0p-53; }

float af_rng_uniformf(AfRng *r) { return (float)(af_rng_u32(r) >> 8) * 0x1.0p-24f; }

uint32_t af_rng_below(AfRng *r, uint32_t n) {
    AF_ASSERT(n > 0);
    /* Lemire's nearly-divisionless method. */
    uint64_t m = (uint64_t)af_rng_u32(r) * n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        uint32_t threshold = (uint32_t)(-n) % n;
        while (low < threshold) {
            m = (uint64_t)af_rng_u32(r) * n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

double af_rng_normal(AfRng *r) {
    double u1 = af_rng_uniform(r), u2 = af_rng_uniform(r);
    /* 1 - u1 is in (0, 1], so the log is finite. */
    return sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2);
}

void af_rng_shuffle_u32(AfRng *r, uint32_t *v, uint32_t n) {
    for (uint32_t i = n; i > 1; i--) {
        uint32_t j = af_rng_below(r, i);
        uint32_t t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}
