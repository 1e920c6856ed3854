/* The learner role of a Flow-GRPO run (docs/design.md, "Roles"): ranks 0..L-1 of
 * MPI_COMM_WORLD. Each iteration learner 0 publishes the policy to the actors
 * (common/weights.h), every learner collects the trajectories of the queries it owns
 * (learner/collect.h, learner/gather.h), computes the broadcast rewards and group-
 * normalised advantages and runs the PPO-clipped, KL-regularised update with a gradient
 * allreduce (learner/update.h); learner 0 writes the metrics line, the checkpoints
 * (learner/ckpt.h) and the trajectory store records (learner/trajstore.h).
 *
 * The learner knows nothing of suites, modules or planners: what a trajectory must
 * satisfy, the planner's shape and the number of training questions come in
 * AfLearnerSetup, and in a world of one rank the episodes come from a callback. The run's
 * orchestration (run/train.h) sits above this role and the actor role. */
#ifndef AF_LEARNER_LEARNER_H
#define AF_LEARNER_LEARNER_H

#include <mpi.h>
#include <stdint.h>

#include "common/config.h"
#include "common/model.h"
#include "common/protocol.h"
#include "common/traj.h"
#include "learner/adamw.h"
#include "learner/metrics.h"
#include "learner/update.h"
#include "proto/agentflow.pb-c.h"

typedef enum {
    AF_RESUME_NONE = 0,        /* a new run */
    AF_RESUME_LATEST = 1,      /* continue from `latest`; an error if it does not verify */
    AF_RESUME_LATEST_VALID = 2 /* continue from the newest checkpoint that verifies (logged) */
} AfResumeMode;

/* One episode of a work unit with the policy of `version` (a world of one rank: the
 * learner runs its own episodes). Same contract as AfActorHooks.run_episode. */
typedef int (*AfLearnerEpisodeFn)(void *ctx, const AfWorkUnit *unit, uint64_t version, Agentflow__Trajectory **out);
/* Called at the named phase of an iteration ("rollout" before the trajectories are
 * collected, "learn" before the update); for fault injection. May be NULL. */
typedef void (*AfLearnerPhaseFn)(void *ctx, const char *phase, uint32_t iteration);

typedef struct AfLearnerSetup {
    const AfConfig *cfg;       /* algo.*, rollout.batch_queries/group_size/temperature, run.*,
                                  model.threads; borrowed for the learner's lifetime */
    const char *run_dir;       /* borrowed */
    AfModelConfig model;       /* the planner's shape */
    AfTrajLimits limits;       /* what a trajectory must satisfy (suite borrowed) */
    int monolithic;            /* algo.policy = monolithic: one sample per trajectory */
    int rank, world;           /* MPI_COMM_WORLD rank and size */
    int n_learners;            /* learners are world ranks 0..n_learners-1 */
    MPI_Comm learners;         /* the learner ranks (borrowed) */
    MPI_Comm policy;           /* learner 0 + actors, MPI_COMM_NULL on other learners (borrowed) */
    AfResumeMode resume;
    const char *const *tool_names; /* tools counted in the metrics ("other" last), borrowed */
    int n_tools;
    double run_start;              /* af_time_now() when the run began: run.time_limit_s counts
                                      from it (the progress line's ETA); 0 = now */
    AfLearnerEpisodeFn run_local;  /* world of one rank */
    /* Optional (world of one rank): the G episodes of one query at once (group decoding),
     * out[i] for units[i] with run_local's contract; on an error none is returned. NULL:
     * run_local unit by unit. */
    int (*run_local_group)(void *ctx, const AfWorkUnit *units, size_t n, uint64_t version, Agentflow__Trajectory **out);
    AfLearnerPhaseFn on_phase;
    void *ctx;                     /* passed to both */
    const uint8_t *query_levels;   /* (limits.num_queries) each training query's difficulty level
                                      (algo.curriculum), borrowed for the create call; NULL = all 0 */
} AfLearnerSetup;

typedef struct AfLearner AfLearner;

/* Makes the learner: policy model (with training buffers), the reference model (when
 * algo.kl_coef uses one), AdamW, the update, the data stream, the gather, the trajectory
 * decoder and, in asynchronous mode, the collector. The policy's parameters are not
 * initialised (af_learner_policy). Returns 0, or AF_ENOMEM, AF_ECONFIG (the update's own
 * checks). Not collective. */
int af_learner_create(const AfLearnerSetup *s, AfLearner **out);
void af_learner_destroy(AfLearner *l); /* accepts NULL */

AfModel *af_learner_policy(AfLearner *l);
AfUpdate *af_learner_update(AfLearner *l);
AfAdamW *af_learner_adamw(AfLearner *l);

/* The reference planner of the KL term becomes a copy of the policy (after the warm
 * start). No-op without one. */
void af_learner_freeze_reference(AfLearner *l);

/* Collective over the learners: open RUN_DIR/ckpt.lmdb on learner 0, and resuming, load
 * the checkpoint there, check the configuration against it, trim the logs to it and hand
 * the state to the other learners; then open metrics.jsonl / eval.jsonl (learner 0) and
 * the trajectory store, and a new TensorBoard event file in RUN_DIR/tb/ (learner 0; the
 * config as text at the first step). *start_iteration: the first iteration to run. Every learner
 * learns the outcome, so an error stops them all the same way. Errors as
 * af_train_run_resume (run/train.h). */
int af_learner_begin(AfLearner *l, uint32_t *start_iteration);

/* One training iteration (collective over every rank of the run through the actors'
 * protocol): publish, collect, update, metrics. Returns 0 or the first error. */
int af_learner_iteration(AfLearner *l, uint32_t iteration, AfMetrics *metrics);

/* Learner 0: publish `command` (AF_CTRL_EVAL with the weights, AF_CTRL_STOP) on the
 * policy communicator. No-op in a world of one rank. */
int af_learner_publish(AfLearner *l, uint32_t command, uint32_t iteration, uint64_t version);

/* Collective over the learners: checkpoint `step` (iterations done) on learner 0. A
 * failure (full disk, map too small) stops every learner the same way. */
int af_learner_checkpoint(AfLearner *l, uint32_t step);

/* Learner 0: appends one line (no newline) to RUN_DIR/eval.jsonl (af_append_line: whole
 * or not at all). A write that fails (full disk) is kept for af_learner_log_error. */
int af_learner_log_eval(AfLearner *l, const char *line);

/* Learner 0: non-zero (AF_EFULL, AF_EIO) once a metrics.jsonl or eval.jsonl line could not
 * be written, with *why (may be NULL) the message; later lines are not attempted. The run
 * stops at the next agreement so nothing after the gap is checkpointed. 0 elsewhere. */
int af_learner_log_error(const AfLearner *l, const char **why);

/* Learner 0: n scalars at `step` in the run's TensorBoard event file (RUN_DIR/tb/,
 * log.tensorboard), flushed. No-op elsewhere or without the file. A failed write is
 * warned about once and ends the TensorBoard record, never the run. */
void af_learner_tb_scalars(AfLearner *l, uint32_t step, const char *const *tags, const double *values, int n);

/* Asynchronous mode, collective over every rank: receive what was handed out for
 * iterations that will not run. No-op otherwise. */
int af_learner_drain(AfLearner *l);

/* The metrics' tool table, made from the setup's tool names. */
void af_learner_metrics_init(const AfLearner *l, AfMetrics *m);

#endif
