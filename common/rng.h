/* Deterministic counter-based random streams (Philox4x32-10).
 *
 * A stream is named by (seed, purpose, iteration, query, sample). Its n-th draw is a pure
 * function of that name and n, so any rank can recompute any draw without having seen
 * the draws before it, and the result never depends on which rank made it or in which
 * order streams were used.
 *
 * Mapping onto Philox: key = the 64-bit seed; counter words
 *   c0 = block index within the stream (each block gives 4 u32 draws),
 *   c1 = iteration, c2 = query, c3 = purpose << 24 | sample (sample < 2^24).
 * Distinct names therefore never share a counter: no hashing, no collisions. */
#ifndef AF_COMMON_RNG_H
#define AF_COMMON_RNG_H

#include <stdint.h>

/* What a stream is for. Values are part of the format (they select the counter), so
 * append new purposes at the end and never renumber. */
typedef enum {
    AF_RNG_INIT = 1,       /* model parameter initialisation */
    AF_RNG_DATA = 2,       /* which queries an iteration trains on */
    AF_RNG_SAMPLE = 3,     /* planner token sampling (iteration, query, sample) */
    AF_RNG_ENV = 4,        /* suite generation: puzzles, worlds, splits */
    AF_RNG_MINIBATCH = 5,  /* learner mini-batch shuffling */
    AF_RNG_TOOL = 6,       /* randomness inside tools and frozen modules */
    AF_RNG_TEST = 7,       /* tests and benchmarks */
    AF_RNG_FAULT = 8       /* injected faults (stragglers, garbage) in tests and benches */
} AfRngPurpose;

#define AF_RNG_MAX_SAMPLE 0xFFFFFFu

typedef struct AfRng {
    uint32_t key[2];
    uint32_t ctr[4];
    uint32_t buf[4];
    uint32_t pos; /* next unused word of buf; 4 = empty */
} AfRng;

/* Start the stream at draw 0. `sample` must be <= AF_RNG_MAX_SAMPLE (asserted). */
void af_rng_init(AfRng *r, uint64_t seed, AfRngPurpose purpose, uint32_t iteration,
                 uint32_t query, uint32_t sample);

/* Number of u32 words drawn so far, and a jump to any word position; together they
 * save and restore a stream exactly (checkpoints). */
uint64_t af_rng_tell(const AfRng *r);
void af_rng_seek(AfRng *r, uint64_t words);

uint32_t af_rng_u32(AfRng *r);
uint64_t af_rng_u64(AfRng *r);
/* Uniform in [0, 1): 53 random bits for the double, 24 for the float. */
double af_rng_uniform(AfRng *r);
float af_rng_uniformf(AfRng *r);
/* Uniform integer in [0, n) without modulo bias; n > 0. */
uint32_t af_rng_below(AfRng *r, uint32_t n);
/* Standard normal (Box-Muller on two uniforms; consumes a fixed 4 words per call). */
double af_rng_normal(AfRng *r);
/* Fisher-Yates shuffle of n indices in place. */
void af_rng_shuffle_u32(AfRng *r, uint32_t *v, uint32_t n);

/* The raw Philox4x32-10 block function, exposed for known-answer tests. */
void af_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

#endif
