/* Per-iteration metrics (docs/design.md §9): accumulated on every learner from its own
 * trajectories and training step, summed over learners onto learner 0 in a fixed order,
 * then written as one JSON line to RUN_DIR/metrics.jsonl, as TensorBoard scalars and as
 * one progress line.
 *
 * Metric names follow the ecosystem's families (af_metrics_values, in this order):
 *   rollout/  reward_mean, accuracy, trajectories, failed, rejected_messages, turns_mean,
 *             staleness_mean, response_length_mean/min/max (action tokens per turn),
 *             tokens_per_turn (prompt + action tokens per turn), tool_success_rate (calls
 *             that returned OK over all tool calls; null without calls),
 *             tool_<name>_calls, tool_<name>_errors; with rollout.explore_random > 0 also
 *             explored_turns (share of the turns whose action was the suite's random one),
 *             explored_episodes (trajectories with such a turn) and explored_correct (of
 *             them, those with reward >= 1)
 *   train/    loss, pg_loss, kl, clip_fraction, entropy, grad_norm, lr, groups,
 *             zero_variance_groups, skipped_samples (turns, or monolithic transcripts, too
 *             long or malformed to train on), logprob_mismatch, logprob_mismatch_max
 *             with algo.dynamic_sampling > 0 also dynamic_sampling_rounds (refill rounds
 *             run) and dynamic_sampling_initial_zero_variance (groups without signal before
 *             the refills; zero_variance_groups is then the count after them)
 *   perf/     trajectories_per_s, tokens_per_s, learner_tokens_per_s
 *   time/     rollout_s, learn_s, broadcast_s, checkpoint_s, wait_s, iteration_s,
 *             elapsed_s (training seconds of the run, resumes included), cpu_s (CPU
 *             seconds of the job's processes so far, user + system, every rank, the warm
 *             start, evaluations and the segments before a resume included), unix_s (the
 *             line's wall-clock timestamp, seconds since the epoch)
 *
 * The JSON line starts with iteration and policy_version, then (deprecated, kept for one
 * release so older readers keep working) the flat keys of earlier versions, in order:
 * reward_mean, accuracy, trajectories, groups, zero_variance_groups, failed_rollouts,
 * rejected_messages, skipped_samples, loss, pg_loss, kl, clip_fraction, entropy,
 * logprob_mismatch, logprob_mismatch_max, grad_norm, turns_mean, staleness_mean,
 * action_tokens_mean (= rollout/response_length_mean), tools {name: {calls, errors}},
 * tool_<name>_calls/errors, rollout_s, learn_s, broadcast_s, checkpoint_s, wait_s,
 * iteration_s, trajectories_per_s, tokens_per_s, learner_tokens_per_s; then every family
 * key above. Each flat key equals its family key (failed_rollouts = rollout/failed).
 * Every value is a number (null when not finite), so a plot can take any. */
#ifndef AF_LEARNER_METRICS_H
#define AF_LEARNER_METRICS_H

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>

#include "proto/agentflow.pb-c.h"

#define AF_METRICS_MAX_TOOLS 16

/* Sums over this learner's share (everything is a double so one MPI_Reduce covers it). */
typedef struct AfMetricSums {
    double trajectories, reward_sum, correct, failed, groups, zero_variance_groups, rejected, skipped;
    double turns, action_tokens, learner_tokens;
    double prompt_tokens; /* summed over the turns of OK trajectories */
    double staleness; /* sum over trajectories of iteration - policy_version (asynchronous mode) */
    double mismatch_sum, mismatch_tokens, entropy_sum; /* entropy over the same measured tokens */
    double tool_calls[AF_METRICS_MAX_TOOLS], tool_errors[AF_METRICS_MAX_TOOLS];
    double explored_turns;    /* turns of OK trajectories whose action explored (rollout.explore_random) */
    double explored_episodes, explored_correct; /* OK trajectories with an explored turn; of them reward >= 1 */
} AfMetricSums;

/* Max-reduced values. */
typedef struct AfMetricMax {
    double mismatch_max;
    double response_max, response_neg_min; /* action tokens of a turn: max, and -min */
} AfMetricMax;

/* Values that are already global (identical on every learner after the allreduce of
 * the training step), or only meaningful on learner 0 (timings). */
typedef struct AfMetricGlobal {
    uint32_t iteration;
    uint64_t policy_version;
    double loss, pg_loss, kl, clip_fraction, entropy, grad_norm;
    double rollout_s, learn_s, broadcast_s, checkpoint_s, wait_s, iteration_s;
    double lr;        /* the optimizer's learning rate this iteration */
    double curriculum_level; /* algo.curriculum's focus level this iteration (-1: none or off) */
    double entropy_coef;     /* the entropy bonus weight this iteration (algo.entropy_coef/_target) */
    double dynsamp_rounds;   /* algo.dynamic_sampling: refill rounds run this iteration */
    double dynsamp_initial;  /* ... groups without signal in the batch before any refill (global) */
    double elapsed_s; /* training seconds of the run so far (resumes included) */
    double cpu_s;     /* CPU seconds of the job so far: every rank, resumes included */
    double unix_s;    /* seconds since the epoch when the line is written */
    /* the progress line's ETA (common/progress.h), not in the JSON line */
    double eta_s, eta_iterations; /* seconds and iterations left; eta_s < 0: unknown */
    int eta_by_time;              /* the run ends first by run.time_limit_s (1) or run.cpu_limit_s (2) */
} AfMetricGlobal;

typedef struct AfMetrics {
    int n_tools;
    int dynamic_sampling; /* algo.dynamic_sampling > 0: the train/dynamic_sampling_* values are reported */
    int explore;          /* rollout.explore_random > 0: the rollout/explored_* values are reported */
    const char *tool_names[AF_METRICS_MAX_TOOLS]; /* borrowed */
    AfMetricSums sums;
    AfMetricMax max;
    AfMetricGlobal g;
} AfMetrics;

/* Reset the per-iteration values; tool names are kept. */
void af_metrics_reset(AfMetrics *m, uint32_t iteration, uint64_t version);
/* Count a trajectory (reward, success, failure, turns, tokens, tool calls per tool name:
 * unknown tool names count under "other" if present, else are ignored). */
void af_metrics_add_trajectory(AfMetrics *m, const Agentflow__Trajectory *t);
/* Sum/max over `comm` onto its rank 0 (collective). */
int af_metrics_reduce(AfMetrics *m, MPI_Comm comm);
/* A named metric value. */
typedef struct AfMetricValue {
    char name[96];
    double value;
} AfMetricValue;

#define AF_METRICS_MAX_VALUES (56 + 2 * AF_METRICS_MAX_TOOLS)

/* The family metrics (the list above) into out[0..cap); returns the count, or -1 if cap
 * is too small (AF_METRICS_MAX_VALUES always suffices). Learner 0 after the reduce. */
int af_metrics_values(const AfMetrics *m, AfMetricValue *out, int cap);

/* One JSON line (no newline) into buf; returns the length or -1 if it did not fit. */
int af_metrics_json(const AfMetrics *m, char *buf, size_t cap);
/* The human progress line. */
int af_metrics_progress(const AfMetrics *m, uint64_t iterations_total, char *buf, size_t cap);

#endif
