/* Per-iteration trajectory collection, keyed by (slot, sample). */
#include "learner/gather.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/traj.h"

struct AfGather {
    uint32_t batch, group, learner, learners, iteration, owned, held;
    uint32_t *queries;               /* (batch) */
    Agentflow__Trajectory **items;   /* (owned_max * group), by owned index then sample */
    AfGatherStats stats;
};

int af_gather_create(uint32_t batch, uint32_t group_size, uint32_t learner, uint32_t learners,
                     AfGather **out) {
    *out = NULL;
    if (!batch || !group_size || !learners || learner >= learners)
        return af_error_set(AF_EINVAL, "gather: batch %u, group %u, learner %u of %u", batch, group_size, learner, learners);
    AfGather *g = calloc(1, sizeof *g);
    if (!g) return af_error_set(AF_ENOMEM, "gather");
    g->batch = batch;
    g->group = group_size;
    g->learner = learner;
    g->learners = learners;
    g->owned = batch > learner ? (batch - learner + learners - 1) / learners : 0;
    g->queries = calloc(batch, sizeof *g->queries);
    g->items = calloc((size_t)(g->owned ? g->owned : 1) * group_size, sizeof *g->items);
    if (!g->queries || !g->items) {
        af_gather_destroy(g);
        return af_error_set(AF_ENOMEM, "gather: %u slots x %u", batch, group_size);
    }
    *out = g;
    return 0;
}

static void clear(AfGather *g) {
    for (size_t i = 0; i < (size_t)g->owned * g->group; i++) {
        af_traj_free(g->items[i]);
        g->items[i] = NULL;
    }
    g->held = 0;
}

void af_gather_destroy(AfGather *g) {
    if (!g) return;
    if (g->items) clear(g);
    free(g->items);
    free(g->queries);
    free(g);
}

void af_gather_begin(AfGather *g, uint32_t iteration, const uint32_t *queries) {
    clear(g);
    g->iteration = iteration;
    memcpy(g->queries, queries, sizeof *queries * g->batch);
}

void af_gather_reopen(AfGather *g, const uint32_t *slots, uint32_t n, const uint32_t *queries) {
    for (uint32_t i = 0; i < n; i++) {
        const uint32_t s = slots[i];
        if (s >= g->batch) continue;
        g->queries[s] = queries[i];
        if (s % g->learners != g->learner) continue;
        for (uint32_t j = 0; j < g->group; j++) {
            Agentflow__Trajectory **it = &g->items[(size_t)(s / g->learners) * g->group + j];
            if (*it) g->held--;
            af_traj_free(*it);
            *it = NULL;
        }
    }
}

int af_gather_offer(AfGather *g, const Agentflow__Trajectory *t) {
    uint32_t slot = t->slot;
    if (slot >= g->batch || slot % g->learners != g->learner) {
        g->stats.not_owned++;
        return af_error_set(AF_ERANGE, "trajectory: slot %u is not owned by learner %u of %u (batch %u)", slot,
                            g->learner, g->learners, g->batch);
    }
    if (t->query_index != g->queries[slot]) {
        g->stats.wrong_query++;
        return af_error_set(AF_ERANGE, "trajectory: slot %u holds query %u, not %u", slot, g->queries[slot], t->query_index);
    }
    if (t->sample_index >= g->group) {
        g->stats.wrong_query++;
        return af_error_set(AF_ERANGE, "trajectory: sample %u >= group size %u", t->sample_index, g->group);
    }
    size_t at = (size_t)(slot / g->learners) * g->group + t->sample_index;
    if (g->items[at]) {
        g->stats.duplicate++;
        return af_error_set(AF_ERANGE, "trajectory: duplicate of slot %u sample %u", slot, t->sample_index);
    }
    int rc = af_traj_clone(t, &g->items[at]);
    if (rc) return rc;
    g->held++;
    return 0;
}

uint32_t af_gather_expected(const AfGather *g) { return g->owned * g->group; }
uint32_t af_gather_held(const AfGather *g) { return g->held; }
uint32_t af_gather_owned(const AfGather *g) { return g->owned; }
uint32_t af_gather_owned_slot(const AfGather *g, uint32_t k) {
    AF_ASSERT(k < g->owned);
    return g->learner + k * g->learners;
}

const Agentflow__Trajectory *af_gather_get(const AfGather *g, uint32_t k, uint32_t sample) {
    AF_ASSERT(k < g->owned && sample < g->group);
    return g->items[(size_t)k * g->group + sample];
}

const AfGatherStats *af_gather_stats(const AfGather *g) { return &g->stats; }
