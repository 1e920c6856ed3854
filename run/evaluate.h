/* Evaluation of a planner on a split, shared out over the ranks of a communicator: the
 * one evaluator behind `train`'s evaluations (run.eval_every) and `agentflow eval`.
 *
 * Rank p of P runs questions i = p, p + P, ... of the first n, each as one episode with
 * the world's settings and the episode identity {iteration, query i, sample 0, version};
 * the totals are summed onto rank 0 of the communicator. Which rank ran which question
 * changes no result: an episode depends only on (seed, iteration, question, sample) and
 * the planner. Collective over comm (MPI_COMM_NULL: this rank alone). */
#ifndef AF_RUN_EVALUATE_H
#define AF_RUN_EVALUATE_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "run/world.h"

typedef struct AfEvalTotals {
    double correct;   /* OK episodes with reward >= 1 */
    double reward;    /* summed reward of OK episodes */
    double turns;     /* summed planner turns */
    double questions; /* questions run */
} AfEvalTotals;

/* Called on the rank that ran question i, in increasing i, with its trajectory (borrowed
 * for the call). A non-zero return stops this rank's share with that error. */
typedef int (*AfEvalResultFn)(void *ctx, size_t index, const AfItem *item, const Agentflow__Trajectory *t);

/* Which episodes an evaluation runs. */
typedef struct AfEvalOptions {
    uint32_t iteration;     /* the episodes' identity: iteration, sample, policy version */
    uint32_t sample;
    uint64_t version;
    const char *label;      /* the progress line's label ("eval"); NULL: no progress line */
} AfEvalOptions;

/* Evaluates the first n questions of split, each as the episode {o->iteration, question,
 * o->sample, o->version}. Rank 0 of comm shows progress with an ETA (common/progress.h),
 * the questions done extrapolated from its own share. Otherwise as af_evaluate. */
int af_evaluate_ex(const AfWorld *w, AfPlanner *planner, AfSplit split, size_t n, const AfEvalOptions *o,
                   MPI_Comm comm, AfEvalResultFn on_result, void *ctx, AfEvalTotals *sum);

/* pass@k of a question with c correct of n sampled episodes: the unbiased estimator
 * 1 - C(n-c, k) / C(n, k), computed as 1 - prod_{i=n-c+1..n} (1 - k/i) (no overflow).
 * 1 when n - c < k; NAN when k < 1 or k > n or c outside [0, n]. */
double af_eval_pass_at_k(int n, int c, int k);

/* The most sampled episodes per question an evaluation runs (`eval --samples`,
 * run.eval_samples): sample indices of an episode's random stream stay small
 * (common/rng.h). */
#define AF_EVAL_MAX_SAMPLES 1024

/* K sampled episodes per question of the first n of split (n clipped to the split), with
 * the planner's current sampler: samples 0..K-1 of iteration 0, version 0, the same
 * episodes whoever asks (`agentflow eval --samples K` and train's run.eval_samples). On
 * rank 0 of comm, correct[i] (n entries; may be NULL on other ranks) gets how many of
 * question i's K episodes were correct (status ok, reward >= 1). Collective over comm;
 * every rank learns whether any failed, as af_evaluate. */
int af_evaluate_samples(const AfWorld *w, AfPlanner *planner, AfSplit split, size_t n, int K, MPI_Comm comm,
                        int *correct);

/* pass@k averaged over n questions with correct[i] of K correct, for k = 1, 2, 4, ...
 * (doubling) and K itself, as a JSON object {"1": p1, "2": p2, ..., "K": pK} (malloc'd
 * text, NULL when out of memory): the one writer of `eval --samples` reports and
 * eval.jsonl lines. pass_k (may be NULL) gets {pass@1, pass@K}; *mean_at_k (may be NULL)
 * the mean share of the K episodes correct. */
char *af_eval_pass_at_k_json(const int *correct, size_t n, int K, double pass_k[2], double *mean_at_k);

/* Evaluates the first n questions of split (n is clipped to the split). *sum gets the
 * totals on rank 0 of comm (this rank's own elsewhere). Every rank learns whether any
 * failed, so none waits on a peer that gave up: returns 0, the rank's own error, or
 * AF_ESTATE when another rank failed. Sample 0, progress labelled "eval". */
int af_evaluate(const AfWorld *w, AfPlanner *planner, AfSplit split, size_t n, uint32_t iteration, uint64_t version,
                MPI_Comm comm, AfEvalResultFn on_result, void *ctx, AfEvalTotals *sum);

#endif
