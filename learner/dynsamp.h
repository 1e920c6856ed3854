/* Dynamic sampling (algo.dynamic_sampling = R > 0; DAPO's refill of groups without signal).
 *
 * After an iteration's groups are gathered, a group has no signal when Flow-GRPO gives
 * every member a zero advantage: its OK members' rewards are all equal, or no member is
 * OK. Those slots take new queries and are rolled out again (same iteration, same policy
 * version, the same way: actors or local episodes), for at most R extra rounds, stopping
 * early when every group has signal; the update then sees the last round's groups.
 *
 * The refill query of slot s in round r (1-based) is a uniform draw over the training
 * split from the stream (seed, AF_RNG_DATA, iteration, query AF_DYNSAMP_STREAM + r,
 * sample s): a function of (seed, iteration, round, slot) only, so a resumed run draws the
 * same refills and nothing is checkpointed. (The data stream uses query 0 of that purpose
 * and the mastery curriculum query 1.) A draw may repeat a query of the batch. */
#ifndef AF_LEARNER_DYNSAMP_H
#define AF_LEARNER_DYNSAMP_H

#include <stdint.h>

#include "proto/agentflow.pb-c.h"

enum { AF_DYNSAMP_STREAM = 2 };

/* 1 if the group g[0..G) carries no signal (see above); a NULL member counts as failed. */
int af_dynsamp_no_signal(const Agentflow__Trajectory *const *g, uint32_t G);

/* The refill queries of round `round` (>= 1) for slots[0..n), into out[0..n). */
void af_dynsamp_queries(uint64_t seed, uint32_t iteration, uint32_t round, const uint32_t *slots, uint32_t n,
                        uint32_t n_queries, uint32_t *out);

/* Which slots of the batch have no signal: no_signal[0..batch) set to 0/1, identical on
 * every learner (collective over the learners). */
typedef int (*AfDynSampMaskFn)(void *ctx, uint8_t *no_signal);
/* Round `round`: slots[i] takes query queries[i]; roll those slots out again. */
typedef int (*AfDynSampRolloutFn)(void *ctx, uint32_t round, const uint32_t *slots, const uint32_t *queries, uint32_t n);

typedef struct {
    uint32_t rounds;  /* refill rounds run */
    uint32_t initial; /* slots without signal before the first refill */
    uint32_t final;   /* ... after the last */
} AfDynSampStats;

/* The refill loop of one iteration over a batch of `batch` slots whose queries are
 * batch_queries (updated with the refills): mask, then while slots lack signal and fewer
 * than max_rounds rounds ran, draw and roll out a round. Returns 0, AF_ENOMEM, or the
 * callbacks' error. */
int af_dynsamp_run(uint32_t max_rounds, uint64_t seed, uint32_t iteration, uint32_t batch, uint32_t n_queries,
                   uint32_t *batch_queries, AfDynSampMaskFn mask, AfDynSampRolloutFn rollout, void *ctx,
                   AfDynSampStats *st);

#endif
