/* The rollout phase of one iteration, learner side (protocol in common/protocol.h).
 *
 * Learner 0 hands out the B x G work units to actors that ask, in canonical order
 * (slot-major, then sample), answers DONE once per actor when none are left, and
 * receives the trajectories of the slots it owns; the other learners only receive
 * theirs. Every learner returns when it holds all G samples of each slot it owns.
 * Trajectory bytes are decoded and validated (common/traj.h); anything rejected is
 * counted and training goes on. Waiting never spins. */
#ifndef AF_LEARNER_COLLECT_H
#define AF_LEARNER_COLLECT_H

#include <mpi.h>
#include <stdint.h>

#include "common/traj.h"
#include "learner/gather.h"

typedef struct AfCollectStats {
    uint64_t received;        /* trajectory messages received */
    uint64_t rejected;        /* of which rejected (decode/validation/gather) */
    uint64_t stray;           /* messages with an unexpected tag, discarded */
    double wait_s;            /* seconds with nothing to do */
} AfCollectStats;

/* Run the rollout phase on learner `rank` (< learners) of `world`. The gather must
 * have been begun for this iteration; the decoder's window set. n_actors = world size
 * - learners (> 0). queries: the batch (B entries). Returns 0 or AF_EMPI/AF_ENOMEM. */
int af_collect_iteration(MPI_Comm world, int rank, int learners, int n_actors, uint32_t iteration,
                         const uint32_t *queries, uint32_t batch, uint32_t group, AfTrajDecoder *dec,
                         AfGather *gather, AfCollectStats *stats);
/* The same for the units of slots[0..n_slots) only (the gather reopened for them:
 * algo.dynamic_sampling's refill rounds); af_collect_iteration is this with every slot. */
int af_collect_slots(MPI_Comm world, int rank, int learners, int n_actors, uint32_t iteration, const uint32_t *queries,
                     const uint32_t *slots, uint32_t n_slots, uint32_t group, AfTrajDecoder *dec, AfGather *gather,
                     AfCollectStats *stats);


/* ---- asynchronous mode (algo.max_staleness = k > 0; protocol in common/protocol.h) ----
 * State kept across iterations: what learner 0 has handed out for the iterations ahead,
 * and the trajectories of future iterations this learner already received. */
typedef struct AfCollectAsync AfCollectAsync;

/* The batch (queries) of an iteration: a pure function of the iteration. */
typedef void (*AfBatchFn)(void *ctx, uint32_t iteration, uint32_t *queries);

/* k >= 1; iterations: the run's last iteration + 1 (nothing is handed out beyond it);
 * n_actors sizes the leases (a quarter of an actor's share of an iteration, <= 64).
 * Returns 0, AF_EINVAL, AF_ENOMEM. */
int af_collect_async_create(uint32_t max_staleness, uint32_t iterations, uint32_t batch, uint32_t group,
                            int learners, int rank, int n_actors, AfCollectAsync **out);
void af_collect_async_destroy(AfCollectAsync *a);

/* The rollout phase of `iteration` in asynchronous mode, on learner `rank` (as given at
 * create). Learner 0 hands out units of iterations iteration .. iteration+k within the
 * staleness bound of the requesting actor's weights (else AF_WORK_WAIT). Returns when
 * the gather (begun for `iteration`) holds everything it expects; trajectories of later
 * iterations are kept for them. The decoder's window must admit iterations
 * [iteration, iteration+k] and versions [iteration-k, iteration]. Iterations must be
 * consecutive from the first call. Returns 0 or AF_EMPI/AF_ENOMEM. */
int af_collect_iteration_async(AfCollectAsync *a, MPI_Comm world, uint32_t iteration, AfBatchFn batch_of,
                               void *ctx, AfTrajDecoder *dec, AfGather *gather, AfCollectStats *stats);

/* Before a run ends: every learner receives the trajectories of all units learner 0
 * handed out (those of iterations that will not run are discarded), while learner 0
 * answers work requests with WAIT; so no actor is left blocked in a send. Collective over
 * learners_comm. Returns 0 or AF_EMPI/AF_ENOMEM. */
int af_collect_async_drain(AfCollectAsync *a, MPI_Comm world, MPI_Comm learners_comm, AfTrajDecoder *dec,
                           AfCollectStats *stats);

#endif
