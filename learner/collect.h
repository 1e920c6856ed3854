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

#endif
