/* A learner's collection of the trajectories it owns in one iteration.
 *
 * The learner owns the batch slots s with s % L == its learner index; for each it
 * expects G trajectories (samples 0..G-1). Trajectories are accepted in any order and
 * kept by (slot, sample), so what the learner trains on never depends on arrival order
 * or on which actor ran what. A trajectory for a slot the learner does not own, whose
 * query differs from the slot's query, or that duplicates one already held is rejected
 * and counted. */
#ifndef AF_LEARNER_GATHER_H
#define AF_LEARNER_GATHER_H

#include <stdint.h>

#include "proto/agentflow.pb-c.h"

typedef struct AfGather AfGather;

typedef struct AfGatherStats {
    uint64_t not_owned;  /* slot not owned by this learner or outside the batch */
    uint64_t wrong_query;/* query_index differs from the batch's query at that slot */
    uint64_t duplicate;  /* (slot, sample) already held */
} AfGatherStats;

/* Capacity: `batch` slots of `group_size` samples; this learner is `learner` of
 * `learners`. Returns 0, AF_EINVAL, AF_ENOMEM. */
int af_gather_create(uint32_t batch, uint32_t group_size, uint32_t learner, uint32_t learners,
                     AfGather **out);
/* Frees held trajectories too. */
void af_gather_destroy(AfGather *g);

/* Start an iteration whose batch is `queries` (batch entries, copied). Frees what the
 * previous iteration held. */
void af_gather_begin(AfGather *g, uint32_t iteration, const uint32_t *queries);

/* Dynamic sampling: slots[0..n) (ascending or not, each < batch, distinct) take new
 * queries (queries[i] for slots[i]); the trajectories held for those of them this learner
 * owns are freed, so it expects their G samples again. Slots out of range are ignored. */
void af_gather_reopen(AfGather *g, const uint32_t *slots, uint32_t n, const uint32_t *queries);

/* Offer a decoded trajectory (borrowed; it is cloned when accepted). Returns 0 when
 * kept, AF_ERANGE when rejected (counted, detail names the reason), AF_ENOMEM. */
int af_gather_offer(AfGather *g, const Agentflow__Trajectory *t);

/* Trajectories this learner expects in the iteration, and holds so far. */
uint32_t af_gather_expected(const AfGather *g);
uint32_t af_gather_held(const AfGather *g);

/* Number of owned slots, and the k-th owned slot's batch index (ascending). */
uint32_t af_gather_owned(const AfGather *g);
uint32_t af_gather_owned_slot(const AfGather *g, uint32_t k);
/* The trajectory of (owned slot k, sample), or NULL if not held. Owned by the gather. */
const Agentflow__Trajectory *af_gather_get(const AfGather *g, uint32_t k, uint32_t sample);

const AfGatherStats *af_gather_stats(const AfGather *g);

#endif
