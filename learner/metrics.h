/* Per-iteration metrics (docs/design.md §9): accumulated on every learner from its own
 * trajectories and training step, summed over learners onto learner 0 in a fixed order,
 * then written as one JSON line to RUN_DIR/metrics.jsonl and one progress line.
 *
 * The JSON keys, in order: iteration, policy_version, reward_mean, accuracy,
 * trajectories, groups, zero_variance_groups, failed_rollouts, rejected_messages,
 * skipped_samples (turns, or monolithic transcripts, too long or malformed to train on), loss,
 * pg_loss, kl, clip_fraction, entropy, logprob_mismatch, logprob_mismatch_max,
 * grad_norm, turns_mean, action_tokens_mean, tools {name: {calls, errors}}, rollout_s,
 * learn_s, broadcast_s, checkpoint_s, wait_s, iteration_s, trajectories_per_s,
 * tokens_per_s, learner_tokens_per_s. Every value is a number, so a plot can take any. */
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
    double staleness; /* sum over trajectories of iteration - policy_version (asynchronous mode) */
    double mismatch_sum, mismatch_tokens, entropy_sum; /* entropy over the same measured tokens */
    double tool_calls[AF_METRICS_MAX_TOOLS], tool_errors[AF_METRICS_MAX_TOOLS];
} AfMetricSums;

/* Max-reduced values. */
typedef struct AfMetricMax {
    double mismatch_max;
} AfMetricMax;

/* Values that are already global (identical on every learner after the allreduce of
 * the training step), or only meaningful on learner 0 (timings). */
typedef struct AfMetricGlobal {
    uint32_t iteration;
    uint64_t policy_version;
    double loss, pg_loss, kl, clip_fraction, entropy, grad_norm;
    double rollout_s, learn_s, broadcast_s, checkpoint_s, wait_s, iteration_s;
} AfMetricGlobal;

typedef struct AfMetrics {
    int n_tools;
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
/* One JSON line (no newline) into buf; returns the length or -1 if it did not fit. */
int af_metrics_json(const AfMetrics *m, char *buf, size_t cap);
/* The human progress line. */
int af_metrics_progress(const AfMetrics *m, uint64_t iterations_total, char *buf, size_t cap);

#endif
