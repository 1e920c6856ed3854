/* The supervised warm start of a training run (model.warmstart_*): behaviour cloning of
 * training-split episodes of a demonstrating planner, before Flow-GRPO, on the learner
 * ranks, data-parallel like the RL update (episode i of a step on learner i mod L, one
 * gradient allreduce per step, so every learner takes the same step).
 *
 * The demonstrating planner (model.warmstart_planner): `random`, the suite's uniformly
 * random valid actions (the action format only, never a solution), or `oracle`, the
 * suite's solver (supervised fine-tuning on solutions); with model.warmstart_explore > 0,
 * suite.attempts > 1 or suite.retries > 0 the oracle explores (actor/planner.h) and its
 * explored turns are not trained on. Step s uses questions (s * B + i) mod n_train of the
 * training split, iteration WARMSTART_ITERATION + s for its sampling streams, and the
 * learning rate of a 20-step linear warm-up to model.warmstart_lr, then a cosine decay to
 * 10% of it. Afterwards the optimizer is handed over to Flow-GRPO at algo.lr with zero
 * moments and step count (the warm start is part of initialisation), or, with
 * algo.carry_moments, with the warm start's moments and step count as they are. A planner
 * in text (the world's text_dir) is shown the demonstrating planner's actions as its own
 * replies (af_planner_text_demo_create): its chat-template prompt, then
 * "Sub-goal/Tool/Command" encoded with its tokenizer and the end-of-sequence id, so
 * behaviour cloning trains the ids it will sample. */
#ifndef AF_RUN_WARMSTART_H
#define AF_RUN_WARMSTART_H

#include <mpi.h>

#include "learner/adamw.h"
#include "learner/update.h"
#include "run/world.h"

/* Warm-start episodes use iterations from here on, so their sampling streams never meet
 * a training iteration's (training iterations stay below 2^31). */
#define AF_WARMSTART_ITERATION 0x80000000u

/* Called on every learner after warm-start step `step` (1-based) of `steps` has updated
 * the planner; a nonzero return stops the warm start with that error. */
typedef int (*AfWarmstartHook)(void *ctx, int step, int steps);

/* Runs model.warmstart_steps steps on learner lidx of L (collective over `learners`),
 * calling hook (or NULL) after each. Returns 0, or the first error (a failed
 * demonstration on any learner stops all). */
int af_warmstart_run(const AfWorld *w, AfUpdate *upd, AfAdamW *opt, int lidx, int L, MPI_Comm learners,
                     AfWarmstartHook hook, void *hook_ctx);

/* The end of the warm start: the learning rate becomes rl_lr; unless carry_moments, both
 * moments are zeroed and the step count reset (Adam's bias correction starts again). */
void af_warmstart_hand_over(AfAdamW *opt, float rl_lr, int carry_moments);

#endif
