/* The actor rank's main loop (protocol in common/protocol.h): receive the control
 * message and the weights of each iteration, then pull work units from learner 0, run
 * each episode and send its trajectory to the owning learner, until told DONE; stop on
 * STOP. A REFILL (dynamic sampling's next round of the same iteration) pulls work again
 * on the weights held, none being sent; one naming another iteration or version than
 * the last RUN's is refused (AF_EFORMAT). The episode itself is a callback, so the loop knows nothing of suites or models. */
#ifndef AF_ACTOR_ACTOR_LOOP_H
#define AF_ACTOR_ACTOR_LOOP_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "common/protocol.h"
#include "proto/agentflow.pb-c.h"

typedef struct AfActorHooks {
    void *ctx;
    float *params;      /* (n_params) the policy's flat parameter buffer: weights land here */
    size_t n_params;
    /* Run one episode with the current weights (policy `version`) and return a heap
     * trajectory (af_traj_new); the loop sets iteration/slot/query/sample/version/rank,
     * sends and frees it. A non-zero return stops the actor (an infrastructure problem
     * inside the episode must instead be a trajectory with status INFRA_FAILED). */
    int (*run_episode)(void *ctx, const AfWorkUnit *unit, uint64_t version, Agentflow__Trajectory **out);
    /* Optional: the episodes of n (2..group) units of one lease at once (group decoding),
     * out[i] for units[i] with run_episode's contract; on an error none is returned. NULL
     * or group < 2: run_episode unit by unit. */
    int (*run_group)(void *ctx, const AfWorkUnit *units, size_t n, uint64_t version, Agentflow__Trajectory **out);
    size_t group;
    /* Called after each weight broadcast (may be NULL). */
    void (*on_weights)(void *ctx, uint64_t version);
    /* AF_CTRL_EVAL: evaluate this rank's share with the weights just received and take
     * part in the reduction on the policy communicator. NULL: EVAL is an error. */
    int (*run_eval)(void *ctx, uint64_t version);
    /* algo.max_staleness: 0 = synchronous; k > 0 = asynchronous mode (common/protocol.h):
     * control messages are tested between episodes and trajectories sent without
     * waiting, from a small pool of buffers of scratch_bytes each. */
    uint32_t max_staleness;
} AfActorHooks;

typedef struct AfActorStats {
    uint64_t episodes;
    double episode_s, weights_s, wait_s, send_s;
} AfActorStats;

/* Run until STOP. `world` carries work and trajectories, `policy` (learner 0 = rank 0
 * of it, plus every actor) the control and weight broadcasts. `scratch` (scratch_bytes)
 * holds one packed trajectory. Returns 0 after STOP, or the first error. */
int af_actor_run(const AfActorHooks *h, MPI_Comm world, MPI_Comm policy, int learners, void *scratch,
                 size_t scratch_bytes, AfActorStats *stats);

#endif
