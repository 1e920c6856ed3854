/* Mastery curriculum over difficulty levels (algo.curriculum = mastery).
 *
 * Every training query has a level 0..n_levels-1 (the suite's difficulty: multihop hops - 2,
 * arith the question's integers - 2). The curriculum keeps, per level, the pass rate of
 * the training episodes of that level: an exponential moving average over the iterations
 * that had episodes of the level, rate <- (1 - ema) rate + ema * (rewards / episodes),
 * starting at 0. The focus is the lowest level that has queries and whose rate is below
 * `threshold`; when every level is mastered there is no focus (AF_CURRICULUM_NONE).
 *
 * Batch of iteration it, slot j: with probability `replay` (a draw from the stream
 * (seed, AF_RNG_DATA, iteration it, query 1, sample j)), or when there is no focus, the
 * query the epoch-shuffled data stream puts in that slot; otherwise a query of the focus
 * level, uniform (next draw of the same stream). The batch is thus a function of (seed,
 * iteration, the rates), and the rates are the whole state: a checkpoint stores them
 * (af_curriculum_get / af_curriculum_set) and a resumed run draws the same batches.
 * No test question is involved: the levels come from the training split only. */
#ifndef AF_LEARNER_CURRICULUM_H
#define AF_LEARNER_CURRICULUM_H

#include <stdint.h>

#include "learner/data_stream.h"

enum { AF_CURRICULUM_MAX_LEVELS = 8, AF_CURRICULUM_NONE = -1 };

typedef struct {
    double threshold; /* algo.curriculum_threshold, in (0, 1] */
    double replay;    /* algo.curriculum_replay, in [0, 1] */
    double ema;       /* algo.curriculum_ema, in (0, 1] */
} AfCurriculumConfig;

typedef struct AfCurriculum AfCurriculum;

/* level: (n_queries) each training query's level, < AF_CURRICULUM_MAX_LEVELS (copied).
 * The data stream `ds` (borrowed, for the replay slots) must outlive the curriculum.
 * Returns 0, AF_EINVAL (a parameter out of range, a level too large, named), AF_ENOMEM. */
int af_curriculum_create(const AfCurriculumConfig *cfg, uint64_t seed, const uint8_t *level, uint32_t n_queries,
                         uint32_t batch, AfDataStream *ds, AfCurriculum **out);
void af_curriculum_destroy(AfCurriculum *c); /* accepts NULL */

/* The focus level, or AF_CURRICULUM_NONE. */
int af_curriculum_focus(const AfCurriculum *c);

/* Fill out[0..batch) with the query indices of `iteration` (see the file comment). */
void af_curriculum_batch(AfCurriculum *c, uint32_t iteration, uint32_t *out);

/* The level of training query q (q < n_queries). */
int af_curriculum_level(const AfCurriculum *c, uint32_t q);

/* One iteration's outcome: reward_sum[l] and episodes[l] over every learner's episodes of
 * level l (AF_CURRICULUM_MAX_LEVELS each); levels without episodes keep their rate. */
void af_curriculum_observe(AfCurriculum *c, const double *reward_sum, const double *episodes);

/* The rates (AF_CURRICULUM_MAX_LEVELS), for checkpoints; set checks each is in [0, 1]
 * and returns AF_EINVAL otherwise. */
void af_curriculum_get(const AfCurriculum *c, double *rate);
int af_curriculum_set(AfCurriculum *c, const double *rate);

#endif
