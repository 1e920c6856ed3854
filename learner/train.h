/* A whole Flow-GRPO training run over MPI_COMM_WORLD (DESIGN.md §2-3, protocol in
 * common/protocol.h).
 *
 * Roles from the world rank: ranks 0..L-1 learners (L = topology.learners), the rest
 * actors; a world of one rank runs both roles in one process (episodes run in place).
 * Every iteration, synchronous mode: learner 0 broadcasts the policy to the actors,
 * actors pull work units and send trajectories to the owning learner, learners run
 * the Flow-GRPO step (learner/update.h) with a gradient allreduce, and learner 0 writes
 * one JSON line to RUN_DIR/metrics.jsonl and a progress line on stderr.
 *
 * Before training: the planner is initialised from run.seed (or model.init_from), then
 * optionally warm-started (model.warmstart_steps behaviour-cloning steps on the suite's
 * uniformly random VALID actions: it learns the action format, never a solution); the
 * result is the reference planner pi_ref. With run.eval_every > 0 the greedy held-out
 * accuracy is measured before the first iteration, every eval_every iterations and after
 * the last, over all policy ranks, and written to RUN_DIR/eval.jsonl.
 *
 * At the end RUN_DIR/model/ holds the trained planner as a Hugging Face-style directory.
 * SIGTERM/SIGUSR1/SIGINT: the current iteration finishes, then the run stops cleanly. */
#ifndef AF_LEARNER_TRAIN_H
#define AF_LEARNER_TRAIN_H

#include "common/config.h"
#include "common/mpi_env.h"

typedef struct AfTrainResult {
    int iterations_done;     /* iterations completed in this process */
    int stopped_by_signal;   /* 1 if a signal ended the run early */
    double eval_before;      /* greedy held-out accuracy before training (-1 if not measured) */
    double eval_after;       /* ... after the last iteration (-1 if not measured) */
} AfTrainResult;

/* Run the training described by cfg (already validated) into run_dir (exists). Collective
 * over MPI_COMM_WORLD. Returns 0, or the first error (AF_ECONFIG for a topology that cannot
 * work, AF_EMPI, AF_EIO, model/suite errors), with af_error_detail() naming it. */
int af_train_run(const AfConfig *cfg, const char *run_dir, const AfMpi *mpi, AfTrainResult *res);

#endif
