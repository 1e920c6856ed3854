/* Flow-GRPO math of docs/design.md §3, independent of the model: group-normalized
 * advantages, and the clipped PPO + k3-KL loss over per-turn training samples with
 * its gradient dL/dlogp per action token (what the model's backward consumes).
 *
 * Conventions (chosen to match upstream AgentFlow, which trains with verl):
 *
 * - std is the SAMPLE standard deviation (Bessel's correction, divide by n-1), because
 *   verl's compute_grpo_outcome_advantage uses torch.std(), whose default is unbiased.
 *   For a group with a single usable member verl sets mean = 0, std = 1 (so A = R);
 *   we do the same when such a group is not dropped (it is zero-variance by definition,
 *   so with the default drop_zero_variance = 1 it is dropped).
 *   A = (R - mean) / (std + eps), eps = 1e-6; all statistics in double.
 * - ratio: rho = exp(clamp(logp - old, -20, 20)) (verl clamps before exp).
 * - Policy loss per token (verl, with dual clip c for negative advantages):
 *     l1 = -A rho,  l2 = -A clip(rho, 1 - clip_low, 1 + clip_high),  l = max(l1, l2)
 *     if A < 0 and dual_clip > 1:  l = min(l, -c A)
 *   Gradient conventions follow PyTorch autograd: where l1 == l2 the two branches
 *   share the gradient (both are -A rho there, so it is the full -A rho); a clamp passes
 *   the gradient on its closed interval.
 * - k3 KL (verl "low_var_kl"): d = clamp(ref - logp, -20, 20),
 *     kl = clamp(exp(d) - d - 1, -10, 10),  dkl/dlogp = 1 - exp(d) when unclamped.
 * - Token loss = l + kl_coef * kl - entropy_coef * H, H the entropy of the distribution
 *   that sampled the token (at the training temperature); entropy_coef = 0 (the paper's
 *   default) has no entropy term.
 */
#ifndef AF_LEARNER_GRPO_H
#define AF_LEARNER_GRPO_H

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------ advantages */

typedef enum {
    AF_ADV_STATS_TRAJ = 0, /* default (paper): one value per trajectory, mean/std over trajectories */
    AF_ADV_STATS_TURN = 1  /* upstream code: over all turn-samples of the query, i.e. each
                              trajectory's reward weighted by its number of turns */
} AfAdvStats;

/* The largest group algo.adv_pass_k handles (its statistics live on the stack). */
#define AF_GRPO_PASS_K_MAX_G 1024

typedef struct {
    AfAdvStats stats;       /* algo.adv_stats; default AF_ADV_STATS_TRAJ */
    int normalize_std;      /* 1 (default): divide by (std + eps); 0: A = R - mean (ablation) */
    int drop_zero_variance; /* algo.drop_zero_variance; default 1 */
    int final_turn_only;    /* 1: only the final turn carries A, earlier turns get 0 (ablation);
                               default 0 (the paper's broadcast to every turn) */
    int last_try_credit;    /* 1: a positive A is not broadcast to the turns of tries before the
                               last (game24/countdown attempts: they failed); a negative one is.
                               Default 0 */
    double neg_scale;       /* algo.neg_adv_scale: a negative A is multiplied by it (after the
                               normalisation); default 1 (the paper), 0 = positive advantages only */
    int pass_k;             /* algo.adv_pass_k: 0 (default, the paper) = off; k >= 2: the advantages
                               of the pass@k objective (below), trajectory statistics only */
    double explored_neg_scale; /* algo.explore_neg_scale: a negative advantage of an explored
                               turn (rollout.explore_random) is further multiplied by it;
                               default 1 (as a sampled turn) */
    double eps;             /* default 1e-6 */
} AfAdvOptions;

/* pass@k advantages (pass_k = k >= 2; Chen et al. 2025, "Pass@k Training", generalised from
 * 0/1 rewards to any reward by taking a subset's reward as its best member's). Over the n OK
 * members of a group, with k' = min(k, n - 1):
 *   Rbar  = E[max of a uniformly drawn k'-subset]            (the group's pass@k')
 *   m_i   = E[max of a uniformly drawn k'-subset holding i]  (= the mean of max(R_i, max of
 *           a (k'-1)-subset of the others))
 *   sigma = the std of the max over all k'-subsets (population, as the paper's
 *           sqrt(Rbar (1 - Rbar)) for 0/1 rewards)
 *   A_i   = (m_i - Rbar) / (sigma + eps), or m_i - Rbar with normalize_std 0.
 * The mean of m_i is Rbar, so the A_i sum to 0. With 0/1 rewards and c successes of n:
 * a success gets (1 - Rbar) / sigma, a failure (1 - Rbar - C(n-c-1, k'-1) / C(n-1, k'-1)) /
 * sigma: a group most members solve moves the policy little, one few solve moves it most,
 * and a failure next to a success is pushed down less than in GRPO. The group carries no
 * signal (zero_variance) when every k'-subset has the same best reward: the k'-th smallest
 * reward equals the largest. neg_scale applies to the result as usual. In `stats`, mean and
 * std are Rbar and sigma. */

/* Fill `o` with the defaults above. */
void af_grpo_adv_options_default(AfAdvOptions *o);

/* Per-trajectory status as far as the advantage is concerned. */
enum { AF_GRPO_TRAJ_OK = 0, AF_GRPO_TRAJ_FAILED = 1 };

typedef struct {
    int n_ok;          /* members that entered the statistics */
    int n_failed;      /* members excluded (infrastructure failure / timeout) */
    int zero_variance; /* 1 if n_ok >= 1 and every OK member's reward is exactly equal */
    int dropped;       /* 1 if no member contributes to the loss (zero-variance and
                          drop_zero_variance, or n_ok == 0) */
    double mean, std;  /* the statistics used (std: sample std, see the file comment) */
} AfAdvGroupStats;

/* Whether k is a usable algo.adv_pass_k under `stats`: 0 (off), or 2 .. AF_GRPO_PASS_K_MAX_G - 1
 * with trajectory statistics. Returns 0, or AF_EINVAL with a detail naming the key. */
int af_grpo_pass_k_check(int k, AfAdvStats stats);

/* Advantages of one group of G trajectories of the same query.
 *   rewards  (G)  outcome rewards R_i (finite)
 *   status   (G)  AF_GRPO_TRAJ_OK or AF_GRPO_TRAJ_FAILED
 *   n_turns  (G)  turns per trajectory (>= 1 for OK members); required for
 *                 AF_ADV_STATS_TURN, may be NULL for AF_ADV_STATS_TRAJ
 * Outputs (caller-owned):
 *   adv      (G)  A_i, 0 for failed members and for dropped groups
 *   use      (G)  1 if trajectory i contributes to the loss, 0 if masked
 *   stats         group summary, may be NULL
 * Returns 0, or AF_EINVAL (G < 1, NULL arrays, a non-finite reward, an unknown status,
 * n_turns < 1 for an OK member in turn mode, bad options) with a detail naming the member. */
int af_grpo_group_advantages(const AfAdvOptions *opt, int G, const float *rewards,
                             const uint8_t *status, const int *n_turns, float *adv,
                             uint8_t *use, AfAdvGroupStats *stats);

/* The advantage carried by turn `turn` (0-based) of a trajectory of `n_turns` turns whose
 * trajectory advantage is `traj_adv`, the turn in try `try_index` of tries 0..last_try:
 * traj_adv; with final_turn_only 0 for every turn but the last; with last_try_credit 0
 * for a turn of an earlier try when traj_adv > 0. */
float af_grpo_turn_advantage(const AfAdvOptions *opt, float traj_adv, int turn, int n_turns, int try_index,
                             int last_try);

/* The advantage of a turn that carries turn_adv (af_grpo_turn_advantage) once it is known
 * whether its action explored (rollout.explore_random): a negative one of an explored turn
 * times explored_neg_scale, anything else unchanged. */
float af_grpo_explored_advantage(const AfAdvOptions *opt, float turn_adv, int explored);

/* ------------------------------------------------------------------ loss */

typedef enum {
    AF_LOSS_AGG_PAPER = 0,     /* default: 1/G sum_i 1/T_i sum_t 1/|a_it| sum_j (token -> turn -> trajectory) */
    AF_LOSS_AGG_TOKEN_MEAN = 1 /* upstream code: mean over all tokens of the mini-batch */
} AfLossAgg;

typedef struct {
    double clip_low;   /* algo.clip_low, default 0.2 */
    double clip_high;  /* algo.clip_high, default 0.3 */
    double dual_clip;  /* algo.dual_clip c, default 3; 0 disables (otherwise must be > 1) */
    double kl_coef;    /* algo.kl_coef beta, default 0.001; 0 allows ref_logp == NULL */
    AfLossAgg agg;     /* algo.loss_agg, default AF_LOSS_AGG_PAPER */
    double entropy_coef; /* algo.entropy_coef: weight of the entropy bonus, default 0 (none);
                            the entropy is aggregated like the loss */
    /* Normalizers for data-parallel learners: when > 0 they replace the local counts
     * (G for "paper", the token count for "token_mean"), so that summing the losses and
     * gradients of all learners gives exactly the loss of the global mini-batch. 0 (the
     * default) uses the counts of this batch. */
    double norm_trajs;
    double norm_tokens;
} AfLossOptions;

void af_grpo_loss_options_default(AfLossOptions *o);

/* A mini-batch of training samples, one per planner turn. Token arrays are the
 * concatenation of every sample's action tokens; sample s owns tokens
 * [tok_offset[s], tok_offset[s+1]). Nothing is copied; the caller owns every array. */
typedef struct {
    int n_samples;
    const int *tok_offset;  /* (n_samples + 1) non-decreasing, tok_offset[0] == 0; elements */
    const int *traj_id;     /* (n_samples) trajectory of each sample; samples of one
                               trajectory must be adjacent: ids non-decreasing */
    const float *adv;       /* (n_samples) advantage of the sample (its trajectory's, per turn) */
    const uint8_t *mask;    /* (n_samples) 1 = contributes, 0 = masked out; NULL = all 1 */
    const void *logp;       /* (n_tokens) new log-probs, float or double (see below) */
    const void *old_logp;   /* (n_tokens) behaviour / old log-probs */
    const void *ref_logp;   /* (n_tokens) reference log-probs; NULL allowed iff kl_coef == 0 */
    const void *entropy;    /* (n_tokens) entropy of each token's distribution under the new
                               policy; NULL allowed iff entropy_coef == 0 */
} AfGrpoBatch;

typedef struct {
    double loss;           /* pg_loss + kl_coef * kl - entropy_coef * entropy */
    double pg_loss;        /* aggregated clipped policy loss */
    double kl;             /* aggregated k3 KL (same aggregation as the loss) */
    double entropy;        /* aggregated entropy (0 unless entropy_coef > 0) */
    double clip_frac;      /* token mean of [l2 > l1]: the clipped branch was taken (verl pg_clipfrac) */
    double dual_clip_frac; /* token mean of [A < 0 and l > -cA]: the dual clip bound */
    double ppo_kl;         /* token mean of old - logp (verl ppo_kl) */
    double ratio_max;      /* largest rho over contributing tokens (0 if none) */
    int n_tokens;          /* contributing tokens, samples, trajectories */
    int n_samples;
    int n_trajs;
} AfLossStats;

/* Loss, its parts and dL/dlogp for a mini-batch, with float (af_grpo_loss) or double
 * (af_grpo_loss_f64) token arrays. Internal arithmetic is double either way.
 *
 * A sample contributes if its mask is 1 and it has at least one token. T_i is the number of
 * contributing samples of trajectory i in this batch; G the number of trajectories with
 * T_i > 0 (or opt->norm_trajs). To reproduce the paper's objective exactly, put whole
 * trajectories into a mini-batch. Tokens of masked samples get gradient 0.
 *   dlogp (n_tokens, caller-owned, may be NULL): dL/dlogp per token; L is the value to
 *   minimise (the negative of J in docs/design.md §3).
 * An empty batch (nothing contributes) gives loss 0, gradient 0 and returns 0.
 * Returns 0, or AF_EINVAL (NULL arrays, bad offsets, ids not sorted, non-finite inputs,
 * clip/dual-clip values out of range) with a detail naming the sample or token.
 * No allocation: safe inside a training step. */
int af_grpo_loss(const AfLossOptions *opt, const AfGrpoBatch *b, float *dlogp,
                 AfLossStats *out);
int af_grpo_loss_f64(const AfLossOptions *opt, const AfGrpoBatch *b, double *dlogp,
                     AfLossStats *out);

/* The same with the entropy term's gradient: dent (n_tokens, caller-owned, may be NULL)
 * receives dL/dH per token, -entropy_coef times the token's aggregation weight (0 for
 * masked tokens). af_grpo_loss is af_grpo_loss_ent with dent NULL. */
int af_grpo_loss_ent(const AfLossOptions *opt, const AfGrpoBatch *b, float *dlogp, float *dent,
                     AfLossStats *out);
int af_grpo_loss_ent_f64(const AfLossOptions *opt, const AfGrpoBatch *b, double *dlogp, double *dent,
                         AfLossStats *out);

/* ------------------------------------------------------------------ log-prob mismatch */

typedef struct {
    double max_abs;       /* max |a - b| */
    double mean_abs;      /* mean |a - b| */
    double mean_prob_abs; /* mean |exp(a) - exp(b)| (verl's rollout_probs_diff) */
    size_t n;             /* tokens compared */
    size_t n_over_tol;    /* tokens with |a - b| > tol */
} AfLogprobMismatch;

/* Compare the learner's recomputed old log-probs `learner` (n) with the actor's behaviour
 * log-probs `actor` (n), tokens in order (fixed reduction order). A NaN in either counts
 * as over tolerance and makes max_abs NaN. Never fails; n == 0 gives all zeros. */
void af_grpo_logprob_mismatch(const float *learner, const float *actor, size_t n,
                              double tol, AfLogprobMismatch *out);

#endif
