/* Dynamic sampling: refill groups without signal (see dynsamp.h). */
#include "learner/dynsamp.h"

#include <stdlib.h>

#include "common/error.h"
#include "common/rng.h"

int af_dynsamp_no_signal(const Agentflow__Trajectory *const *g, uint32_t G) {
    int first = -1;
    for (uint32_t i = 0; i < G; i++) {
        if (!g[i] || g[i]->status != AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_OK) continue;
        if (first < 0) first = (int)i;
        else if (g[i]->reward != g[first]->reward) return 0;
    }
    return 1;
}

void af_dynsamp_queries(uint64_t seed, uint32_t iteration, uint32_t round, const uint32_t *slots, uint32_t n,
                        uint32_t n_queries, uint32_t *out) {
    for (uint32_t i = 0; i < n; i++) {
        AfRng r;
        af_rng_init(&r, seed, AF_RNG_DATA, iteration, AF_DYNSAMP_STREAM + round, slots[i]);
        out[i] = af_rng_below(&r, n_queries);
    }
}

int af_dynsamp_run(uint32_t max_rounds, uint64_t seed, uint32_t iteration, uint32_t batch, uint32_t n_queries,
                   uint32_t *batch_queries, AfDynSampMaskFn mask, AfDynSampRolloutFn rollout, void *ctx,
                   AfDynSampStats *st) {
    st->rounds = st->initial = st->final = 0;
    if (batch == 0 || n_queries == 0) return af_error_set(AF_EINVAL, "dynamic sampling: empty batch or split");
    uint8_t *ns = malloc(batch);
    uint32_t *slots = malloc(batch * sizeof *slots), *q = malloc(batch * sizeof *q);
    int rc = 0;
    if (!ns || !slots || !q) rc = af_error_set(AF_ENOMEM, "dynamic sampling of %u slots", batch);
    for (uint32_t round = 0; rc == 0; round++) {
        if ((rc = mask(ctx, ns))) break;
        uint32_t n = 0;
        for (uint32_t s = 0; s < batch; s++)
            if (ns[s]) slots[n++] = s;
        if (round == 0) st->initial = n;
        st->final = n;
        if (n == 0 || round == max_rounds) break;
        af_dynsamp_queries(seed, iteration, round + 1, slots, n, n_queries, q);
        for (uint32_t i = 0; i < n; i++) batch_queries[slots[i]] = q[i];
        if ((rc = rollout(ctx, round + 1, slots, q, n))) break;
        st->rounds = round + 1;
    }
    free(ns), free(slots), free(q);
    return rc;
}
