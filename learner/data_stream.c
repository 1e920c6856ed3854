/* Epoch-shuffled query stream (see data_stream.h). */
#include "learner/data_stream.h"

#include <stdlib.h>

#include "common/error.h"
#include "common/rng.h"

struct AfDataStream {
    uint64_t seed;
    uint32_t n, batch;
    int64_t epoch;  /* epoch held in perm, -1 = none */
    uint32_t *perm; /* (n) */
};

int af_data_stream_create(uint64_t seed, uint32_t n_queries, uint32_t batch, AfDataStream **out) {
    *out = NULL;
    if (n_queries == 0 || batch == 0)
        return af_error_set(AF_EINVAL, "data stream: %u queries, batch %u: both must be >= 1", n_queries, batch);
    AfDataStream *s = calloc(1, sizeof *s);
    if (!s || !(s->perm = malloc(sizeof(uint32_t) * n_queries))) {
        free(s);
        return af_error_set(AF_ENOMEM, "data stream: %u queries", n_queries);
    }
    s->seed = seed;
    s->n = n_queries;
    s->batch = batch;
    s->epoch = -1;
    *out = s;
    return 0;
}

void af_data_stream_destroy(AfDataStream *s) {
    if (!s) return;
    free(s->perm);
    free(s);
}

static void load_epoch(AfDataStream *s, int64_t e) {
    if (s->epoch == e) return;
    AF_ASSERT(e >= 0 && e <= 0xFFFFFFFFll);
    for (uint32_t i = 0; i < s->n; i++) s->perm[i] = i;
    AfRng r;
    af_rng_init(&r, s->seed, AF_RNG_DATA, (uint32_t)e, 0, 0);
    af_rng_shuffle_u32(&r, s->perm, s->n);
    s->epoch = e;
}

void af_data_stream_batch(AfDataStream *s, uint32_t iteration, uint32_t *out) {
    uint64_t p = (uint64_t)iteration * s->batch;
    for (uint32_t j = 0; j < s->batch; j++, p++) {
        load_epoch(s, (int64_t)(p / s->n));
        out[j] = s->perm[p % s->n];
    }
}
