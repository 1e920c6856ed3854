/* The evaluator (see evaluate.h). */
#include "run/evaluate.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/mpi_env.h"
#include "common/progress.h"

double af_eval_pass_at_k(int n, int c, int k) {
    if (k < 1 || k > n || c < 0 || c > n) return NAN;
    if (n - c < k) return 1.0;
    double p = 1.0; /* C(n-c, k) / C(n, k) */
    for (int i = n - c + 1; i <= n; i++) p *= 1.0 - (double)k / (double)i;
    return 1.0 - p;
}

int af_evaluate(const AfWorld *w, AfPlanner *planner, AfSplit split, size_t n, uint32_t iteration, uint64_t version,
                MPI_Comm comm, AfEvalResultFn on_result, void *ctx, AfEvalTotals *sum) {
    const AfEvalOptions o = {.iteration = iteration, .sample = 0, .version = version, .label = "eval"};
    return af_evaluate_ex(w, planner, split, n, &o, comm, on_result, ctx, sum);
}

int af_evaluate_ex(const AfWorld *w, AfPlanner *planner, AfSplit split, size_t n, const AfEvalOptions *o,
                   MPI_Comm comm, AfEvalResultFn on_result, void *ctx, AfEvalTotals *sum) {
    int P = 1, pr = 0;
    if (comm != MPI_COMM_NULL) {
        MPI_Comm_size(comm, &P);
        MPI_Comm_rank(comm, &pr);
    }
    const AfDataset *ds = af_suite_split(w->suite, split);
    if (n > ds->n) n = ds->n;
    double local[4] = {0, 0, 0, 0};
    int rc = 0;
    AfProgress prog;
    const int show = pr == 0 && o->label;
    if (show) af_progress_begin(&prog, o->label, "questions", (double)n);
    /* the questions of this rank's share, several at a time when the planner decodes a
     * group's turns together (the same trajectories as one at a time) */
    const size_t K = planner->act_group && planner->group > 1
                         ? (planner->group < AF_EPISODE_GROUP_MAX ? planner->group : AF_EPISODE_GROUP_MAX)
                         : 1;
    const AfItem *items[AF_EPISODE_GROUP_MAX];
    AfEpisodeId ids[AF_EPISODE_GROUP_MAX];
    Agentflow__Trajectory *tr[AF_EPISODE_GROUP_MAX];
    int rcs[AF_EPISODE_GROUP_MAX];
    char(*details)[AF_EPISODE_DETAIL] = K > 1 ? malloc(K * sizeof *details) : NULL;
    if (K > 1 && !details) rc = af_error_set(AF_ENOMEM, "evaluation");
    for (size_t i0 = (size_t)pr; i0 < n && rc == 0; i0 += K * (size_t)P) {
        size_t m = 0;
        for (size_t i = i0; i < n && m < K; i += (size_t)P, m++) {
            items[m] = &ds->items[i];
            ids[m] = (AfEpisodeId){
                .iteration = o->iteration, .query_index = (uint32_t)i, .sample_index = o->sample, .policy_version = o->version};
        }
        if (K == 1) {
            tr[0] = NULL;
            if ((rcs[0] = af_world_episode(w, planner, items[0], &ids[0], &tr[0])))
                rc = af_error_wrap(rcs[0], "evaluation question %zu", i0);
        } else {
            af_world_episode_group(w, planner, items, ids, m, tr, rcs, details);
        }
        for (size_t j = 0; j < m; j++) {
            const size_t i = i0 + j * (size_t)P;
            if (rc == 0 && rcs[j]) rc = af_error_set(rcs[j], "evaluation question %zu: %s", i, details[j]);
            if (rc) {
                af_trajectory_free(tr[j]);
                continue;
            }
            Agentflow__Trajectory *t = tr[j];
            int ok = t->status == AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_OK;
            local[0] += ok && t->reward >= 1.0f;
            local[1] += ok ? t->reward : 0.0f;
            local[2] += (double)t->n_turns;
            local[3] += 1;
            if (on_result) rc = on_result(ctx, i, &ds->items[i], t);
            af_trajectory_free(t);
        }
        if (show && rc == 0) { /* rank 0's share done, as questions of the whole */
            const double done = (local[3] * (double)P < (double)n) ? local[3] * (double)P : (double)n;
            af_progress_update(&prog, done, 0);
        }
    }
    free(details);
    if (show && rc == 0) af_progress_end(&prog, (double)n);
    memcpy(sum, local, sizeof local);
    if (comm == MPI_COMM_NULL || P == 1) return rc;
    /* agree on failure first: a rank that gave up must not leave its peers in the reduction */
    int bad = rc != 0, any = 0, mrc = af_mpi_allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, comm);
    if (mrc) return mrc;
    if (any) return rc ? rc : af_error_set(AF_ESTATE, "evaluation: another rank failed (see its message)");
    double total[4];
    MPI_Request req;
    if ((rc = af_mpi_check(MPI_Ireduce(local, total, 4, MPI_DOUBLE, MPI_SUM, 0, comm, &req), "MPI_Ireduce eval")) ||
        (rc = af_mpi_wait(&req, MPI_STATUS_IGNORE)))
        return rc;
    if (pr == 0) memcpy(sum, total, sizeof total);
    return 0;
}

/* The rank that ran question index counts its sampled episode. */
static int count_correct(void *ctx, size_t index, const AfItem *item, const Agentflow__Trajectory *t) {
    (void)item;
    int *mine = ctx;
    mine[index] += t->status == AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_OK && t->reward >= 1.0f;
    return 0;
}

int af_evaluate_samples(const AfWorld *w, AfPlanner *planner, AfSplit split, size_t n, int K, MPI_Comm comm,
                        int *correct) {
    if (K < 1 || K > AF_EVAL_MAX_SAMPLES)
        return af_error_set(AF_EINVAL, "sampled evaluation: %d samples per question outside 1..%d", K,
                            AF_EVAL_MAX_SAMPLES);
    const AfDataset *ds = af_suite_split(w->suite, split);
    if (n > ds->n) n = ds->n;
    int pr = 0;
    if (comm != MPI_COMM_NULL) MPI_Comm_rank(comm, &pr);
    if (pr == 0 && !correct && n > 0) return af_error_set(AF_EINVAL, "sampled evaluation: no count array on rank 0");
    int *mine = calloc(n ? n : 1, sizeof *mine);
    if (!mine) return af_error_set(AF_ENOMEM, "sampled evaluation: %zu counts", n);
    int rc = 0;
    AfEvalTotals tot;
    char label[64];
    for (int k = 0; k < K && rc == 0; k++) {
        snprintf(label, sizeof label, "eval sample %d/%d", k + 1, K);
        const AfEvalOptions o = {.iteration = 0, .sample = (uint32_t)k, .version = 0, .label = label};
        rc = af_evaluate_ex(w, planner, split, n, &o, comm, count_correct, mine, &tot);
    }
    if (rc == 0) {
        if (comm == MPI_COMM_NULL) {
            memcpy(correct, mine, n * sizeof *mine);
        } else {
            MPI_Request req;
            if ((rc = af_mpi_check(MPI_Ireduce(mine, pr == 0 ? correct : NULL, (int)n, MPI_INT, MPI_SUM, 0, comm, &req),
                                   "MPI_Ireduce sampled evaluation")) == 0)
                rc = af_mpi_wait(&req, MPI_STATUS_IGNORE);
        }
    }
    free(mine);
    return rc;
}

/* pass@k for k = 1, 2, 4, ... and K: ks[j], pass[j] for j < the return value. */
#define AF_EVAL_PASS_KS 12 /* k up to AF_EVAL_MAX_SAMPLES = 1024: 11 of them */
static int pass_at_ks(const int *correct, size_t n, int K, int *ks, double *pass, double *mean_at_k) {
    if (mean_at_k) {
        double mean = 0;
        for (size_t i = 0; i < n; i++) mean += (double)correct[i] / K;
        *mean_at_k = n ? mean / (double)n : 0.0;
    }
    int m = 0;
    for (int k = 1; k >= 1 && m < AF_EVAL_PASS_KS; k = 2 * k < K ? 2 * k : (k == K ? 0 : K)) {
        double sum = 0;
        for (size_t i = 0; i < n; i++) sum += af_eval_pass_at_k(K, correct[i], k);
        ks[m] = k;
        pass[m++] = n ? sum / (double)n : 0.0;
    }
    return m;
}

char *af_eval_pass_at_k_json(const int *correct, size_t n, int K, double pass_k[2], double *mean_at_k) {
    int ks[AF_EVAL_PASS_KS];
    double pass[AF_EVAL_PASS_KS];
    const int m = pass_at_ks(correct, n, K, ks, pass, mean_at_k);
    if (pass_k) {
        pass_k[0] = m ? pass[0] : 0.0;
        pass_k[1] = m ? pass[m - 1] : 0.0;
    }
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    for (int j = 0; j < m; j++) {
        char key[16];
        snprintf(key, sizeof key, "%d", ks[j]);
        cJSON_AddNumberToObject(o, key, pass[j]);
    }
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}
