/* The evaluator (see evaluate.h). */
#include "run/evaluate.h"

#include <math.h>
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
    for (size_t i = (size_t)pr; i < n; i += (size_t)P) {
        Agentflow__Trajectory *t = NULL;
        const AfEpisodeId id = {
            .iteration = o->iteration, .query_index = (uint32_t)i, .sample_index = o->sample, .policy_version = o->version};
        if ((rc = af_world_episode(w, planner, &ds->items[i], &id, &t))) {
            rc = af_error_wrap(rc, "evaluation question %zu", i);
            break;
        }
        int ok = t->status == AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_OK;
        local[0] += ok && t->reward >= 1.0f;
        local[1] += ok ? t->reward : 0.0f;
        local[2] += (double)t->n_turns;
        local[3] += 1;
        if (on_result) rc = on_result(ctx, i, &ds->items[i], t);
        af_trajectory_free(t);
        if (rc) break;
        if (show) { /* rank 0's share done, as questions of the whole */
            const double done = (local[3] * (double)P < (double)n) ? local[3] * (double)P : (double)n;
            af_progress_update(&prog, done, 0);
        }
    }
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
