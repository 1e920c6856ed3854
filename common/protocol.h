/* The actor <-> learner protocol of one training run (docs/design.md §2), on MPI_COMM_WORLD.
 *
 * Ranks 0..L-1 are learners, L..W-1 actors (W = 1: rank 0 is both, no messages).
 * Learner 0 is the coordinator. One iteration, synchronous mode:
 *
 *   1. learner 0 -> actors, broadcast on the "policy" communicator (learner 0 + actors):
 *      an AfControl (command, iteration, policy version); if RUN, the weights follow
 *      (common/weights.h: WeightsHeader + raw float chunks).
 *   2. actor -> learner 0, tag AF_TAG_WORK_REQ: uint32 iteration the actor works on.
 *      learner 0 -> actor, tag AF_TAG_WORK: a lease, one message of 1..AF_WORK_LEASE_MAX
 *      AfWorkUnits (a quarter of an actor's share of the iteration: one request round
 *      trip per lease, not per episode). Units are handed out in canonical order
 *      (slot-major, then sample); a single unit of kind DONE ends the actor's iteration.
 *   3. actor -> learner (slot mod L), tag AF_TRAJ_TAG (common/traj.h): the trajectory.
 *   Every unit yields exactly one trajectory (an infrastructure failure is a trajectory
 *   with status INFRA_FAILED), so each learner knows how many to expect.
 *
 * Asynchronous mode (algo.max_staleness = k > 0): the control message is a non-blocking
 * broadcast that actors test between episodes, so they never stop sampling to wait for
 * one. Work goes out in leases (several units per reply, so actors keep sampling while
 * learner 0 is busy with the update). Once the units of iteration i are all handed out,
 * learner 0 hands out those of i+1 .. i+k (never past the last iteration) to actors
 * holding weights of version >= unit iteration - k, and answers AF_WORK_WAIT when there
 * is none; learners keep
 * trajectories of future iterations until those begin. Trajectories keep the behaviour
 * log-probs of the weights that produced them (the PPO ratio's denominator). Before a
 * run that stops early ends, learners receive every trajectory of a unit handed out.
 *
 * Determinism (synchronous mode): an episode depends only on (seed, iteration, query, sample) and the
 * weights, and learners order what they receive by (slot, sample), never by arrival,
 * so the number of actors does not change any result. */
#ifndef AF_COMMON_PROTOCOL_H
#define AF_COMMON_PROTOCOL_H

#include <stdint.h>

enum {
    AF_TAG_WORK_REQ = 4201, /* actor -> learner 0: AfWorkRequest */
    AF_TAG_WORK = 4202      /* learner 0 -> actor: AfWorkUnit */
};

/* RUN: weights follow, then work units. EVAL: weights follow, then every policy rank
 * evaluates its share of the test split and the sums are reduced onto learner 0.
 * STOP: the run is over. REFILL (synchronous mode only; algo.dynamic_sampling's refill
 * rounds, learner/dynsamp.h): more work units of the same iteration at the same policy
 * version, and no weights follow: the actor keeps the weights of the iteration's RUN. Its
 * iteration and version must be those of the last RUN the actor received, or the actor
 * refuses it (AF_EFORMAT): a refill can never run on other weights than it names. */
typedef enum { AF_CTRL_RUN = 1, AF_CTRL_STOP = 2, AF_CTRL_EVAL = 3, AF_CTRL_REFILL = 4 } AfControlCommand;

/* Broadcast by learner 0 at the start of every iteration (and once with STOP). */
typedef struct AfControl {
    uint32_t command;   /* AfControlCommand */
    uint32_t iteration; /* iteration about to run */
    uint64_t version;   /* policy version of the weights that follow (REFILL: of the weights held) */
} AfControl;

/* WAIT (asynchronous mode only): no unit within the staleness bound for the weights this
 * actor holds; it waits for the next control broadcast (new weights) before asking again. */
typedef enum { AF_WORK_UNIT = 1, AF_WORK_DONE = 2, AF_WORK_WAIT = 3 } AfWorkKind;

/* What an actor asks learner 0 with. */
typedef struct AfWorkRequest {
    uint32_t iteration; /* iteration of the last control message the actor received */
    uint32_t pad;
    uint64_t version;   /* policy version of the weights the actor holds */
} AfWorkRequest;

/* One episode to run, or the end of the iteration for this actor. */
typedef struct AfWorkUnit {
    uint32_t kind;        /* AfWorkKind */
    uint32_t iteration;
    uint32_t slot;        /* position of the query in the iteration's batch; owner learner = slot % L */
    uint32_t query_index; /* index in the training split */
    uint32_t sample;      /* 0..G-1 */
    uint32_t lease;       /* units in this reply (they come as one message of `lease`
                           * AfWorkUnits, 1..AF_WORK_LEASE_MAX) */
} AfWorkUnit;

/* Most units one reply (a lease) may carry. */
#define AF_WORK_LEASE_MAX 64

#endif
