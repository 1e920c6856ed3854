/* Per-iteration metrics: accumulation, reduction over learners, JSON and progress lines. */
#include "learner/metrics.h"

#include <math.h>
#include <string.h>

#include "common/error.h"
#include "common/progress.h"
#include "common/mpi_env.h"

void af_metrics_reset(AfMetrics *m, uint32_t iteration, uint64_t version) {
    memset(&m->sums, 0, sizeof m->sums);
    memset(&m->max, 0, sizeof m->max);
    memset(&m->g, 0, sizeof m->g);
    m->max.response_neg_min = -INFINITY; /* reduced with MPI_MAX: no turn yet */
    m->g.iteration = iteration;
    m->g.policy_version = version;
}

static int tool_index(const AfMetrics *m, const char *name) {
    int other = -1;
    for (int i = 0; i < m->n_tools; i++) {
        if (strcmp(m->tool_names[i], name) == 0) return i;
        if (strcmp(m->tool_names[i], "other") == 0) other = i;
    }
    return other;
}

void af_metrics_add_trajectory(AfMetrics *m, const Agentflow__Trajectory *t) {
    AfMetricSums *s = &m->sums;
    s->trajectories += 1;
    if (t->iteration >= t->policy_version) s->staleness += (double)(t->iteration - t->policy_version);
    if (t->status != AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_OK) {
        s->failed += 1;
        return;
    }
    s->reward_sum += t->reward;
    s->correct += t->reward >= 1.0f;
    s->turns += (double)t->n_turns;
    int explored = 0;
    for (size_t i = 0; i < t->n_turns; i++) {
        const Agentflow__Turn *u = t->turns[i];
        explored += u->explored != 0;
        s->action_tokens += (double)u->n_action_tokens;
        s->prompt_tokens += (double)u->n_prompt_tokens;
        if ((double)u->n_action_tokens > m->max.response_max) m->max.response_max = (double)u->n_action_tokens;
        if (-(double)u->n_action_tokens > m->max.response_neg_min) m->max.response_neg_min = -(double)u->n_action_tokens;
        if (u->tool_status == AGENTFLOW__TOOL_STATUS__TOOL_STATUS_NO_CALL) continue;
        int k = tool_index(m, u->tool && u->tool[0] ? u->tool : "other");
        if (k < 0) continue;
        s->tool_calls[k] += 1;
        s->tool_errors[k] += u->tool_status != AGENTFLOW__TOOL_STATUS__TOOL_STATUS_OK;
    }
    s->explored_turns += explored;
    s->explored_episodes += explored > 0;
    s->explored_correct += explored > 0 && t->reward >= 1.0f;
}

int af_metrics_reduce(AfMetrics *m, MPI_Comm comm) {
    int size = 1, rank = 0;
    MPI_Comm_size(comm, &size);
    MPI_Comm_rank(comm, &rank);
    if (size == 1) return 0;
    AfMetricSums sums;
    AfMetricMax mx;
    MPI_Request req[2];
    int rc = af_mpi_check(MPI_Ireduce(&m->sums, &sums, sizeof sums / sizeof(double), MPI_DOUBLE, MPI_SUM, 0, comm, &req[0]),
                          "MPI_Ireduce metrics");
    if (!rc)
        rc = af_mpi_check(MPI_Ireduce(&m->max, &mx, sizeof mx / sizeof(double), MPI_DOUBLE, MPI_MAX, 0, comm, &req[1]),
                          "MPI_Ireduce metrics max");
    if (!rc) rc = af_mpi_waitall(2, req);
    if (rc) return rc;
    if (rank == 0) {
        m->sums = sums;
        m->max = mx;
    }
    return 0;
}

static double ratio(double a, double b) { return b > 0 ? a / b : 0.0; }

/* JSON numbers: finite values with full precision; NaN/Inf become null. */
static int num(char *buf, size_t cap, size_t *at, const char *key, double v) {
    int n = isfinite(v) ? snprintf(buf + *at, cap - *at, ",\"%s\":%.9g", key, v)
                        : snprintf(buf + *at, cap - *at, ",\"%s\":null", key);
    if (n < 0 || (size_t)n >= cap - *at) return -1;
    *at += (size_t)n;
    return 0;
}

int af_metrics_values(const AfMetrics *m, AfMetricValue *out, int cap) {
    const AfMetricSums *s = &m->sums;
    const AfMetricGlobal *g = &m->g;
    const double ok = s->trajectories - s->failed;
    double calls = 0, errors = 0;
    for (int i = 0; i < m->n_tools; i++) calls += s->tool_calls[i], errors += s->tool_errors[i];
    int n = 0;
#define AF_PUT(nm, v)                                                          \
    do {                                                                       \
        if (n >= cap) return -1;                                               \
        snprintf(out[n].name, sizeof out[n].name, "%s", nm);                   \
        out[n++].value = (v);                                                  \
    } while (0)
    AF_PUT("rollout/reward_mean", ratio(s->reward_sum, ok));
    AF_PUT("rollout/accuracy", ratio(s->correct, ok));
    AF_PUT("rollout/trajectories", s->trajectories);
    AF_PUT("rollout/failed", s->failed);
    AF_PUT("rollout/rejected_messages", s->rejected);
    AF_PUT("rollout/turns_mean", ratio(s->turns, ok));
    AF_PUT("rollout/staleness_mean", ratio(s->staleness, s->trajectories));
    AF_PUT("rollout/response_length_mean", ratio(s->action_tokens, s->turns));
    AF_PUT("rollout/response_length_min", s->turns > 0 ? -m->max.response_neg_min : 0.0);
    AF_PUT("rollout/response_length_max", s->turns > 0 ? m->max.response_max : 0.0);
    AF_PUT("rollout/tokens_per_turn", ratio(s->prompt_tokens + s->action_tokens, s->turns));
    AF_PUT("rollout/tool_success_rate", calls > 0 ? (calls - errors) / calls : NAN);
    if (m->explore) { /* off: the line stays as without the key */
        AF_PUT("rollout/explored_turns", ratio(s->explored_turns, s->turns));
        AF_PUT("rollout/explored_episodes", s->explored_episodes);
        AF_PUT("rollout/explored_correct", s->explored_correct);
    }
    for (int i = 0; i < m->n_tools; i++) {
        char key[96];
        snprintf(key, sizeof key, "rollout/tool_%.60s_calls", m->tool_names[i]);
        AF_PUT(key, s->tool_calls[i]);
        snprintf(key, sizeof key, "rollout/tool_%.60s_errors", m->tool_names[i]);
        AF_PUT(key, s->tool_errors[i]);
    }
    AF_PUT("train/loss", g->loss);
    AF_PUT("train/pg_loss", g->pg_loss);
    AF_PUT("train/kl", g->kl);
    AF_PUT("train/clip_fraction", g->clip_fraction);
    AF_PUT("train/entropy", ratio(s->entropy_sum, s->mismatch_tokens));
    AF_PUT("train/grad_norm", g->grad_norm);
    AF_PUT("train/lr", g->lr);
    AF_PUT("train/curriculum_level", g->curriculum_level);
    AF_PUT("train/entropy_coef", g->entropy_coef);
    AF_PUT("train/groups", s->groups);
    AF_PUT("train/zero_variance_groups", s->zero_variance_groups);
    if (m->dynamic_sampling) { /* off: the line stays as without the key */
        AF_PUT("train/dynamic_sampling_rounds", g->dynsamp_rounds);
        AF_PUT("train/dynamic_sampling_initial_zero_variance", g->dynsamp_initial);
    }
    AF_PUT("train/skipped_samples", s->skipped);
    AF_PUT("train/logprob_mismatch", ratio(s->mismatch_sum, s->mismatch_tokens));
    AF_PUT("train/logprob_mismatch_max", m->max.mismatch_max);
    AF_PUT("perf/trajectories_per_s", ratio(s->trajectories, g->rollout_s));
    AF_PUT("perf/tokens_per_s", ratio(s->action_tokens, g->rollout_s));
    AF_PUT("perf/learner_tokens_per_s", ratio(s->learner_tokens, g->learn_s));
    AF_PUT("time/rollout_s", g->rollout_s);
    AF_PUT("time/learn_s", g->learn_s);
    AF_PUT("time/broadcast_s", g->broadcast_s);
    AF_PUT("time/checkpoint_s", g->checkpoint_s);
    AF_PUT("time/wait_s", g->wait_s);
    AF_PUT("time/iteration_s", g->iteration_s);
    AF_PUT("time/elapsed_s", g->elapsed_s);
    AF_PUT("time/cpu_s", g->cpu_s);
    AF_PUT("time/unix_s", g->unix_s);
#undef AF_PUT
    return n;
}

/* The JSON number of a value with full precision (the timestamp's as well). */
static int num_wide(char *buf, size_t cap, size_t *at, const char *key, double v) {
    int n = isfinite(v) ? snprintf(buf + *at, cap - *at, ",\"%s\":%.17g", key, v)
                        : snprintf(buf + *at, cap - *at, ",\"%s\":null", key);
    if (n < 0 || (size_t)n >= cap - *at) return -1;
    *at += (size_t)n;
    return 0;
}

int af_metrics_json(const AfMetrics *m, char *buf, size_t cap) {
    const AfMetricSums *s = &m->sums;
    const AfMetricGlobal *g = &m->g;
    double ok = s->trajectories - s->failed;
    size_t at = 0;
    int n = snprintf(buf, cap, "{\"iteration\":%u,\"policy_version\":%llu", g->iteration,
                     (unsigned long long)g->policy_version);
    if (n < 0 || (size_t)n >= cap) return -1;
    at = (size_t)n;
    if (num(buf, cap, &at, "reward_mean", ratio(s->reward_sum, ok)) ||
        num(buf, cap, &at, "accuracy", ratio(s->correct, ok)) ||
        num(buf, cap, &at, "trajectories", s->trajectories) || num(buf, cap, &at, "groups", s->groups) ||
        num(buf, cap, &at, "zero_variance_groups", s->zero_variance_groups) ||
        num(buf, cap, &at, "failed_rollouts", s->failed) || num(buf, cap, &at, "rejected_messages", s->rejected) ||
        num(buf, cap, &at, "skipped_samples", s->skipped) ||
        num(buf, cap, &at, "loss", g->loss) || num(buf, cap, &at, "pg_loss", g->pg_loss) ||
        num(buf, cap, &at, "kl", g->kl) || num(buf, cap, &at, "clip_fraction", g->clip_fraction) ||
        num(buf, cap, &at, "entropy", ratio(s->entropy_sum, s->mismatch_tokens)) ||
        num(buf, cap, &at, "logprob_mismatch", ratio(s->mismatch_sum, s->mismatch_tokens)) ||
        num(buf, cap, &at, "logprob_mismatch_max", m->max.mismatch_max) ||
        num(buf, cap, &at, "grad_norm", g->grad_norm) || num(buf, cap, &at, "turns_mean", ratio(s->turns, ok)) ||
        num(buf, cap, &at, "staleness_mean", ratio(s->staleness, s->trajectories)) ||
        num(buf, cap, &at, "action_tokens_mean", ratio(s->action_tokens, s->turns)))
        return -1;
    n = snprintf(buf + at, cap - at, ",\"tools\":{");
    if (n < 0 || (size_t)n >= cap - at) return -1;
    at += (size_t)n;
    for (int i = 0; i < m->n_tools; i++) {
        n = snprintf(buf + at, cap - at, "%s\"%s\":{\"calls\":%.0f,\"errors\":%.0f}", i ? "," : "", m->tool_names[i],
                     s->tool_calls[i], s->tool_errors[i]);
        if (n < 0 || (size_t)n >= cap - at) return -1;
        at += (size_t)n;
    }
    n = snprintf(buf + at, cap - at, "}");
    if (n < 0 || (size_t)n >= cap - at) return -1;
    at += (size_t)n;
    /* Each tool's calls and errors also as flat keys, so the plot script sees them. */
    for (int i = 0; i < m->n_tools; i++) {
        char key[96];
        snprintf(key, sizeof key, "tool_%s_calls", m->tool_names[i]);
        if (num(buf, cap, &at, key, s->tool_calls[i])) return -1;
        snprintf(key, sizeof key, "tool_%s_errors", m->tool_names[i]);
        if (num(buf, cap, &at, key, s->tool_errors[i])) return -1;
    }
    if (num(buf, cap, &at, "rollout_s", g->rollout_s) || num(buf, cap, &at, "learn_s", g->learn_s) ||
        num(buf, cap, &at, "broadcast_s", g->broadcast_s) || num(buf, cap, &at, "checkpoint_s", g->checkpoint_s) ||
        num(buf, cap, &at, "wait_s", g->wait_s) || num(buf, cap, &at, "iteration_s", g->iteration_s) ||
        num(buf, cap, &at, "trajectories_per_s", ratio(s->trajectories, g->rollout_s)) ||
        num(buf, cap, &at, "tokens_per_s", ratio(s->action_tokens, g->rollout_s)) ||
        num(buf, cap, &at, "learner_tokens_per_s", ratio(s->learner_tokens, g->learn_s)))
        return -1;
    AfMetricValue v[AF_METRICS_MAX_VALUES];
    int nv = af_metrics_values(m, v, AF_METRICS_MAX_VALUES);
    if (nv < 0) return -1;
    for (int i = 0; i < nv; i++)
        if ((strcmp(v[i].name, "time/unix_s") == 0 ? num_wide : num)(buf, cap, &at, v[i].name, v[i].value)) return -1;
    n = snprintf(buf + at, cap - at, "}");
    if (n < 0 || (size_t)n >= cap - at) return -1;
    return (int)(at + (size_t)n);
}

int af_metrics_progress(const AfMetrics *m, uint64_t iterations_total, char *buf, size_t cap) {
    const AfMetricSums *s = &m->sums;
    const AfMetricGlobal *g = &m->g;
    double ok = s->trajectories - s->failed;
    char eta[32], more[48] = "";
    af_progress_duration(g->eta_s, eta, sizeof eta);
    const char *lim = g->eta_by_time == 2 ? "CPU limit" : "time limit";
    if (g->eta_by_time && g->eta_iterations > 0)
        snprintf(more, sizeof more, ", %s after ~%.0f more", lim, g->eta_iterations);
    else if (g->eta_by_time)
        snprintf(more, sizeof more, ", %s reached", lim);
    /* the ETA up front: a terminal's status line cut to its width keeps it */
    return snprintf(buf, cap,
                    "it %u/%llu (ETA %s%s) v%llu | reward %.3f acc %.3f | loss %+.4f kl %.5f clip %.3f ent %.3f gnorm %.3f | "
                    "zero-var %.0f/%.0f failed %.0f | turns %.2f | %.1f traj/s %.0f tok/s | roll %.2fs learn %.2fs bcast %.3fs",
                    g->iteration + 1, (unsigned long long)iterations_total, eta, more, (unsigned long long)g->policy_version,
                    ratio(s->reward_sum, ok), ratio(s->correct, ok), g->loss, g->kl, g->clip_fraction, ratio(s->entropy_sum, s->mismatch_tokens),
                    g->grad_norm, s->zero_variance_groups, s->groups, s->failed, ratio(s->turns, ok),
                    ratio(s->trajectories, g->rollout_s), ratio(s->action_tokens, g->rollout_s), g->rollout_s,
                    g->learn_s, g->broadcast_s);
}
