/* A whole Flow-GRPO training run over MPI_COMM_WORLD (docs/design.md; protocol in
 * common/protocol.h): the orchestration above both roles.
 *
 * Every rank builds the same world (run/world.h) from the configuration. Roles from the
 * world rank: ranks 0..L-1 learners (L = topology.learners, learner/learner.h), the rest
 * actors (actor/actor_loop.h); a world of one rank runs both roles in one process
 * (episodes run in place). This file splits the communicators, dispatches the roles,
 * runs the warm start (run/warmstart.h), the evaluations (run/evaluate.h), the fault
 * hooks (run/faults.h) and the end of the run.
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
 * the last, over all policy ranks, and written to RUN_DIR/eval.jsonl. RUN_DIR/world.json
 * describes the world the run trained in (af_world_describe).
 *
 * At the end RUN_DIR/model/ holds the trained planner as a Hugging Face-style directory.
 *
 * A planner in text (model.init_from with a tokenizer.json, run/world.h): as the run
 * starts, rank 0 copies its config.json and tokenizer files (af_model_copy_tokenizer) to
 * RUN_DIR/planner/; a resumed run reads its tokenizer, chat template and shape from there,
 * not from model.init_from (which may have moved); RUN_DIR/warmstart/ and RUN_DIR/model/
 * carry the tokenizer files too, so `eval --run-dir`, `rollout --run-dir` and
 * `--model RUN_DIR/model` run the planner in text. The warm start shows it the
 * demonstrations as text replies (run/warmstart.h).
 *
 * Checkpoints (learner/ckpt.h, RUN_DIR/ckpt.lmdb): learner 0 writes one every
 * run.checkpoint_every iterations, after the last iteration, and when SIGTERM/SIGUSR1/
 * SIGINT arrives (the current iteration finishes, the checkpoint is written, the run
 * stops cleanly without a final evaluation). A resumed run (af_train_run_resume) loads
 * the newest checkpoint (or the newest that verifies) on learner 0, refuses a
 * configuration that changes a key not marked RESUME (learner/resume.h), hands the state
 * to the other learners, trims metrics.jsonl/eval.jsonl to the checkpoint and continues:
 * in synchronous mode bit for bit as if it had never stopped. */
#ifndef AF_RUN_TRAIN_H
#define AF_RUN_TRAIN_H

#include "common/config.h"
#include "common/mpi_env.h"
#include "learner/learner.h"

typedef struct AfTrainResult {
    int iterations_done;     /* iterations completed in this process */
    int start_iteration;     /* the iteration this process started at (the resumed step) */
    int clean_stop;          /* on error: every rank knows and the actors were stopped (a
                                checkpoint that could not be written or loaded), so the
                                caller may exit without MPI_Abort */
    int stopped_by_signal;   /* 1 if a signal ended the run early */
    int stopped_by_time;     /* 1 if run.time_limit_s ended the run early */
    int stopped_by_cpu;      /* 1 if run.cpu_limit_s ended the run early */
    double eval_before;      /* greedy held-out accuracy before training (-1 if not measured) */
    double eval_after;       /* ... at the last evaluation (-1 if not measured): after the last
                                iteration, or, when a signal stopped the run (no final
                                evaluation), the last periodic one */
    int eval_after_iteration; /* the iteration eval_after was measured after (-1 if none) */
} AfTrainResult;

/* Run the training described by cfg (already validated) into run_dir (exists). Collective
 * over MPI_COMM_WORLD. Returns 0, or the first error (AF_ECONFIG for a topology that cannot
 * work, a world key the run cannot honour (modules.planner.backend other than builtin:
 * train trains a model planner) and the world's own AF_ECONFIG errors, AF_EMPI, AF_EIO,
 * model/suite errors), with af_error_detail() naming it. Errors found while setting up
 * are agreed on by every rank (res->clean_stop). */
int af_train_run(const AfConfig *cfg, const char *run_dir, const AfMpi *mpi, AfTrainResult *res);

/* The same, resuming from RUN_DIR/ckpt.lmdb unless resume is AF_RESUME_NONE. Further
 * errors: AF_ENOTFOUND (no checkpoint), AF_ECONFIG (a key that may not change did: named,
 * with both values), the load errors of af_ckpt_load (a corrupted checkpoint: step and
 * tensor named), AF_EFULL (a checkpoint could not be written: map or disk full; the
 * previous one is intact). */
int af_train_run_resume(const AfConfig *cfg, const char *run_dir, const AfMpi *mpi, AfResumeMode resume,
                        AfTrainResult *res);

#endif
