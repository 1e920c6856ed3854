/* The Flow-GRPO learner step (docs/design.md §3) over the groups this learner owns.
 *
 * Input: for each owned slot of the iteration, its G trajectories (sample order). The
 * step computes group advantages (learner/grpo.h), broadcasts each trajectory's advantage
 * to every turn, builds one training sample per turn (prompt + action tokens; the loss
 * covers the action tokens only; with `monolithic`, one sample per trajectory: its whole
 * transcript, the loss over every turn's action tokens as a single response), computes reference log-probs with the frozen initial
 * planner, then runs algo.ppo_epochs passes over mini-batches. A mini-batch is a fixed
 * range of slots (algo.minibatch queries, 0 = the whole batch), the same on every
 * learner, so every learner takes the same number of optimizer steps. Each step:
 * forward + loss + backward over chunks of whole trajectories that fit the model's batch
 * capacity, one MPI_Allreduce (sum) of the flat gradient buffer over the learners, global
 * gradient clipping, AdamW. The loss normalizers (trajectories, or tokens for token_mean)
 * are the global counts of the mini-batch, so the summed gradient is exactly that of the
 * global mini-batch whatever the number of learners.
 *
 * pi_old is the behaviour policy recorded in each trajectory. Before any update the
 * learner's own log-probs of the action tokens are compared with the behaviour log-probs
 * (logprob_mismatch: ~0 in synchronous mode, where both come from the same weights).
 *
 * Determinism: every reduction has a fixed order (samples in slot, sample, turn order;
 * chunks in order; the allreduce is over identical-size buffers in rank order as MPI
 * implements it for a fixed communicator size). Memory grows to the largest batch seen
 * and is then reused; nothing is allocated inside a mini-batch. */
#ifndef AF_LEARNER_UPDATE_H
#define AF_LEARNER_UPDATE_H

#include <mpi.h>
#include <stdint.h>

#include "common/model.h"
#include "learner/adamw.h"
#include "learner/grpo.h"
#include "proto/agentflow.pb-c.h"

typedef struct AfUpdateConfig {
    AfAdvOptions adv;
    AfLossOptions loss;    /* norm_trajs/norm_tokens are set per mini-batch by the step */
    int ppo_epochs;        /* >= 1 */
    int minibatch_queries; /* queries per mini-batch; 0 = the whole batch */
    float temperature;     /* the sampling temperature the behaviour log-probs refer to */
    double grad_clip;      /* global norm; 0 disables */
    double mismatch_tol;   /* tolerance counted in AfUpdateStats.mismatch_over (e.g. 1e-3) */
    int monolithic;        /* algo.policy=monolithic: one sample per trajectory, its whole
                              transcript, every turn's action tokens one response (ablation) */
    double entropy_target;  /* algo.entropy_target: > 0 adapts loss.entropy_coef after each run:
                               coef <- max(0, coef + entropy_coef_lr * (target - H)), H the mean
                               entropy of the run's action tokens before the update (all
                               learners); 0: the weight stays loss.entropy_coef */
    double entropy_coef_lr; /* algo.entropy_coef_lr */
} AfUpdateConfig;

typedef struct AfUpdateStats {
    /* this learner's share (to be summed over learners) */
    double groups, zero_variance_groups, dropped_groups, failed_trajs;
    double samples, action_tokens, learner_tokens;
    double mismatch_sum, mismatch_tokens, mismatch_max, mismatch_over;
    double entropy_sum; /* over action tokens, with the weights before the update */
    double skipped_samples; /* turns with no action tokens or longer than the model */
    /* global (identical on every learner): means over the optimizer steps taken */
    double loss, pg_loss, kl, clip_fraction, grad_norm;
    int optimizer_steps;
} AfUpdateStats;

typedef struct AfUpdate AfUpdate;

/* policy: the trained model (created with AF_MODEL_GRADS and a learner batch capacity);
 * ref: the frozen initial planner with the same shape and capacity (NULL allowed iff
 * loss.kl_coef == 0); opt: AdamW over policy's flat buffers. All borrowed. `learners`:
 * the communicator of the learner ranks. Returns 0, AF_EINVAL (bad config or shapes),
 * AF_ENOMEM. */
int af_update_create(const AfUpdateConfig *cfg, AfModel *policy, AfModel *ref, AfAdamW *opt, MPI_Comm learners,
                     AfUpdate **out);
void af_update_destroy(AfUpdate *u);

/* Run the step. trajs[k * group + s] is sample s of this learner's k-th owned group
 * (n_groups groups; slots[k] its slot in the iteration's batch of `batch` queries, in
 * increasing order). Collective over the learners. Returns 0, AF_EINVAL (inconsistent
 * input, named), AF_EMPI, AF_ENOMEM, or a model error. The policy is updated in place. */
int af_update_run(AfUpdate *u, const Agentflow__Trajectory *const *trajs, const uint32_t *slots, int n_groups,
                  uint32_t batch, uint32_t group, AfUpdateStats *stats);

/* Supervised warm start (behaviour cloning): one AdamW step on -mean log p(action tokens)
 * of the turns of every learner's trajectories (each learner passes its share of the
 * batch; gradients and counts are summed over the learners as in af_update_run, so all
 * take the same step). Collective over the learners. *loss_out receives the mean
 * negative log-likelihood before the step, over all learners. */
/* The entropy weight the next af_update_run uses (loss.entropy_coef, adapted under
 * entropy_target), and its replacement (a resumed run's, from the checkpoint; finite, >= 0,
 * else AF_EINVAL). */
double af_update_entropy_coef(const AfUpdate *u);
int af_update_set_entropy_coef(AfUpdate *u, double coef);

/* The k of the pass@k advantages the next af_update_run uses (0 = the reward's own; a
 * pass@k phase ending at algo.adv_pass_k_until). AF_EINVAL for k = 1, k too large, or k > 0
 * without trajectory statistics. */
int af_update_set_pass_k(AfUpdate *u, int k);

int af_update_bc_step(AfUpdate *u, const Agentflow__Trajectory *const *trajs, int n, double *loss_out);

#endif
