/* Mastery curriculum over difficulty levels (see curriculum.h). */
#include "learner/curriculum.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/rng.h"

struct AfCurriculum {
    AfCurriculumConfig cfg;
    uint64_t seed;
    uint32_t n, batch;
    AfDataStream *ds;                        /* borrowed */
    uint8_t *level;                          /* (n) */
    uint32_t *by_level;                      /* (n) query indices grouped by level */
    uint32_t start[AF_CURRICULUM_MAX_LEVELS + 1]; /* level l owns by_level[start[l] .. start[l+1]) */
    double rate[AF_CURRICULUM_MAX_LEVELS];
    uint32_t *stream_batch;                  /* (batch) the data stream's batch */
};

int af_curriculum_create(const AfCurriculumConfig *cfg, uint64_t seed, const uint8_t *level, uint32_t n_queries,
                         uint32_t batch, AfDataStream *ds, AfCurriculum **out) {
    *out = NULL;
    if (!cfg || !level || !ds || n_queries == 0 || batch == 0)
        return af_error_set(AF_EINVAL, "curriculum: NULL argument or empty split/batch");
    if (!(cfg->threshold > 0.0 && cfg->threshold <= 1.0))
        return af_error_set(AF_EINVAL, "curriculum: algo.curriculum_threshold %g outside (0, 1]", cfg->threshold);
    if (!(cfg->replay >= 0.0 && cfg->replay <= 1.0))
        return af_error_set(AF_EINVAL, "curriculum: algo.curriculum_replay %g outside [0, 1]", cfg->replay);
    if (!(cfg->ema > 0.0 && cfg->ema <= 1.0))
        return af_error_set(AF_EINVAL, "curriculum: algo.curriculum_ema %g outside (0, 1]", cfg->ema);
    for (uint32_t q = 0; q < n_queries; q++)
        if (level[q] >= AF_CURRICULUM_MAX_LEVELS)
            return af_error_set(AF_EINVAL, "curriculum: query %u: level %u >= %d", q, level[q], AF_CURRICULUM_MAX_LEVELS);
    AfCurriculum *c = calloc(1, sizeof *c);
    if (!c) return af_error_set(AF_ENOMEM, "curriculum");
    c->cfg = *cfg;
    c->seed = seed;
    c->n = n_queries;
    c->batch = batch;
    c->ds = ds;
    c->level = malloc(n_queries);
    c->by_level = malloc((size_t)n_queries * sizeof *c->by_level);
    c->stream_batch = malloc((size_t)batch * sizeof *c->stream_batch);
    if (!c->level || !c->by_level || !c->stream_batch) {
        af_curriculum_destroy(c);
        return af_error_set(AF_ENOMEM, "curriculum: %u queries", n_queries);
    }
    memcpy(c->level, level, n_queries);
    uint32_t count[AF_CURRICULUM_MAX_LEVELS] = {0};
    for (uint32_t q = 0; q < n_queries; q++) count[level[q]]++;
    for (int l = 0; l < AF_CURRICULUM_MAX_LEVELS; l++) c->start[l + 1] = c->start[l] + count[l];
    uint32_t fill[AF_CURRICULUM_MAX_LEVELS];
    memcpy(fill, c->start, sizeof fill);
    for (uint32_t q = 0; q < n_queries; q++) c->by_level[fill[level[q]]++] = q; /* ascending within a level */
    *out = c;
    return 0;
}

void af_curriculum_destroy(AfCurriculum *c) {
    if (!c) return;
    free(c->level);
    free(c->by_level);
    free(c->stream_batch);
    free(c);
}

int af_curriculum_focus(const AfCurriculum *c) {
    for (int l = 0; l < AF_CURRICULUM_MAX_LEVELS; l++)
        if (c->start[l + 1] > c->start[l] && c->rate[l] < c->cfg.threshold) return l;
    return AF_CURRICULUM_NONE;
}

void af_curriculum_batch(AfCurriculum *c, uint32_t iteration, uint32_t *out) {
    af_data_stream_batch(c->ds, iteration, c->stream_batch);
    const int f = af_curriculum_focus(c);
    for (uint32_t j = 0; j < c->batch; j++) {
        AfRng r;
        af_rng_init(&r, c->seed, AF_RNG_DATA, iteration, 1, j);
        const double u = af_rng_uniform(&r);
        if (f == AF_CURRICULUM_NONE || u < c->cfg.replay) {
            out[j] = c->stream_batch[j];
            continue;
        }
        const uint32_t lo = c->start[f], n = c->start[f + 1] - lo;
        out[j] = c->by_level[lo + af_rng_below(&r, n)];
    }
}

int af_curriculum_level(const AfCurriculum *c, uint32_t q) { return q < c->n ? c->level[q] : 0; }

void af_curriculum_observe(AfCurriculum *c, const double *reward_sum, const double *episodes) {
    for (int l = 0; l < AF_CURRICULUM_MAX_LEVELS; l++) {
        if (!(episodes[l] > 0)) continue;
        double p = reward_sum[l] / episodes[l];
        p = p < 0 ? 0 : (p > 1 ? 1 : p);
        c->rate[l] = (1.0 - c->cfg.ema) * c->rate[l] + c->cfg.ema * p;
    }
}

void af_curriculum_get(const AfCurriculum *c, double *rate) { memcpy(rate, c->rate, sizeof c->rate); }

int af_curriculum_set(AfCurriculum *c, const double *rate) {
    for (int l = 0; l < AF_CURRICULUM_MAX_LEVELS; l++)
        if (!(rate[l] >= 0.0 && rate[l] <= 1.0))
            return af_error_set(AF_EINVAL, "curriculum: level %d: pass rate %g outside [0, 1]", l, rate[l]);
    memcpy(c->rate, rate, sizeof c->rate);
    return 0;
}
