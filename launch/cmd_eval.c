/* agentflow eval: held-out accuracy of a planner, questions spread over all MPI ranks.
 *
 * Every rank builds the world (run/world.h) and the planner, runs its share of the
 * questions with the evaluator `train` uses (run/evaluate.h), and rank 0 prints one JSON
 * report: the world as built, the totals and the result of every question in question
 * order. Which rank ran which question does not change any result. */
#include <cJSON.h>
#include <getopt.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "actor/planner_model.h"
#include "run/evaluate.h"
#include "run/world.h"
#include "common/error.h"
#include "common/log.h"
#include "common/mpi_env.h"
#include "launch/cli.h"
#include "launch/commands.h"

static const char usage[] =
    "usage: agentflow eval --run-dir DIR | --model DIR [--split test|train | --dataset FILE.jsonl]\n"
    "                      [--suite S] [--max-turns N] [--n N] [--greedy] [--samples K] [--results FILE]\n"
    "                      [--config FILE] [--set k=v ...]\n"
    "Runs the planner on every question of a split (or of a JSONL file of {\"question\", \"answer\"}\n"
    "lines) and prints a JSON report on stdout: accuracy, mean reward, mean turns and the result\n"
    "of every question. Under mpirun the questions are spread over all ranks.\n"
    "  --run-dir DIR  a training run: its config.json (unless --config) and DIR/model\n"
    "  --model DIR    a Hugging Face-style model directory (with --config or --set for the suite)\n"
    "  --split S      test (default) or train\n"
    "  --dataset F    a JSONL file replacing the test split (data.test)\n"
    "  --suite S      suite.name\n"
    "  --max-turns N  rollout.max_turns for this evaluation (1.." AF_STR(AF_MAX_TURNS) ")\n"
    "  --n N          only the first N questions\n"
    "  --greedy       greedy decoding (otherwise sampling at rollout.temperature, sample 0)\n"
    "  --samples K    also K sampled episodes per question (rollout.temperature, samples 0..K-1 of\n"
    "                 iteration 0's streams): pass@k (unbiased estimator) and mean@k in the report\n"
    "  --results FILE the result of every question as JSONL (with samples_correct under --samples)\n";

typedef struct EvalArgs {
    AfCliConfigArgs cfg;
    const char *run_dir, *model_dir, *split, *dataset, *suite;
    long max_turns, n, samples;
    const char *results;
    int greedy;
    char run_model[4096], run_config[4096];
} EvalArgs;

static int parse_long(const char *opt, const char *arg, long hi, long *out) {
    uint64_t v;
    int rc = af_cli_parse_u64(usage, "eval", opt, arg, 1, (uint64_t)hi, &v);
    if (!rc) *out = (long)v;
    return rc;
}

static int parse_args(int argc, char **argv, EvalArgs *a) {
    static const struct option opts[] = {
        {"run-dir", required_argument, 0, 'r'}, {"split", required_argument, 0, 'p'},
        {"dataset", required_argument, 0, 'd'}, {"suite", required_argument, 0, 'S'},
        {"model", required_argument, 0, 'm'},   {"max-turns", required_argument, 0, 't'},
        {"greedy", no_argument, 0, 'g'},        {"config", required_argument, 0, 'c'},
        {"set", required_argument, 0, 's'},     {"n", required_argument, 0, 'n'},
        {"samples", required_argument, 0, 'k'}, {"results", required_argument, 0, 'o'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    int c, rc;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': fputs(usage, stdout); return -1;
        case 'r': a->run_dir = optarg; break;
        case 'm': a->model_dir = optarg; break;
        case 'p': a->split = optarg; break;
        case 'd': a->dataset = optarg; break;
        case 'S': a->suite = optarg; break;
        case 'g': a->greedy = 1; break;
        case 'c': a->cfg.config_path = optarg; break;
        case 's':
            if ((rc = af_cli_add_set(&a->cfg, optarg))) return rc;
            break;
        case 't':
            if ((rc = parse_long("--max-turns", optarg, AF_MAX_TURNS, &a->max_turns))) return rc;
            break;
        case 'n':
            if ((rc = parse_long("--n", optarg, 100000000L, &a->n))) return rc;
            break;
        case 'k':
            if ((rc = parse_long("--samples", optarg, AF_EVAL_MAX_SAMPLES, &a->samples))) return rc;
            break;
        case 'o': a->results = optarg; break;
        default: {
            char msg[128];
            snprintf(msg, sizeof msg, "unknown or incomplete option '%.80s'", argv[optind - 1]);
            return af_cli_usage_error(usage, "eval", msg);
        }
        }
    }
    if (optind < argc) {
        char msg[128];
        snprintf(msg, sizeof msg, "unexpected argument '%.80s'", argv[optind]);
        return af_cli_usage_error(usage, "eval", msg);
    }
    if (!a->run_dir && !a->model_dir) return af_cli_usage_error(usage, "eval", "--run-dir DIR or --model DIR is required");
    if (a->run_dir && a->model_dir) return af_cli_usage_error(usage, "eval", "--model and --run-dir exclude each other");
    if (a->split && strcmp(a->split, "test") && strcmp(a->split, "train"))
        return af_cli_usage_error(usage, "eval", "--split: expected test or train");
    if (a->split && a->dataset) return af_cli_usage_error(usage, "eval", "--split and --dataset exclude each other");
    if (a->dataset && access(a->dataset, R_OK) != 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "--dataset: cannot read \"%.200s\"", a->dataset);
        return af_cli_usage_error(usage, "eval", msg);
    }
    if (a->run_dir) {
        snprintf(a->run_model, sizeof a->run_model, "%s/model", a->run_dir);
        a->model_dir = a->run_model;
        snprintf(a->run_config, sizeof a->run_config, "%s/config.json", a->run_dir);
        if (!a->cfg.config_path && access(a->run_config, R_OK) == 0) a->cfg.config_path = a->run_config;
    }
    return 0;
}

static const char *status_name(Agentflow__TrajectoryStatus s) {
    switch (s) {
    case AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_OK: return "ok";
    case AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_INFRA_FAILED: return "infra_failed";
    case AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_TIMEOUT: return "timeout";
    default: return "unknown";
    }
}

/* Appends text + '\n' to a growing buffer. Returns 0 or AF_ENOMEM. */
static int append_line(char **buf, size_t *len, size_t *cap, const char *text) {
    size_t n = strlen(text);
    if (*len + n + 2 > *cap) {
        size_t nc = (*cap ? *cap * 2 : 4096);
        while (nc < *len + n + 2) nc *= 2;
        char *nb = realloc(*buf, nc);
        if (!nb) return af_error_set(AF_ENOMEM, "eval: results buffer of %zu bytes", nc);
        *buf = nb, *cap = nc;
    }
    memcpy(*buf + *len, text, n);
    *len += n;
    (*buf)[(*len)++] = '\n';
    (*buf)[*len] = '\0';
    return 0;
}

/* One question's result as a JSON object line (malloc'd). */
static char *result_json(size_t index, const AfItem *item, const Agentflow__Trajectory *t) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    int ok = t->status == AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_OK;
    cJSON_AddNumberToObject(o, "index", (double)index);
    cJSON_AddStringToObject(o, "question", item->question ? item->question : "");
    cJSON_AddStringToObject(o, "answer", t->answer ? t->answer : "");
    cJSON_AddStringToObject(o, "gold", t->gold ? t->gold : "");
    cJSON_AddNumberToObject(o, "reward", ok ? t->reward : 0.0);
    cJSON_AddBoolToObject(o, "correct", ok && t->reward >= 1.0f);
    cJSON_AddNumberToObject(o, "turns", (double)t->n_turns);
    /* tries begun (game24/countdown attempts and retries; 1 otherwise): a solved question
     * was solved in its last */
    cJSON_AddNumberToObject(o, "tries", t->n_turns ? (double)t->turns[t->n_turns - 1]->try_index + 1.0 : 0.0);
    cJSON_AddStringToObject(o, "status", status_name(t->status));
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

typedef struct EvalLines {
    char **buf;
    size_t *len, *cap;
} EvalLines;

/* The evaluator's callback: one question's result as a JSON line. */
static int add_result(void *ctx, size_t index, const AfItem *item, const Agentflow__Trajectory *t) {
    EvalLines *l = ctx;
    char *line = result_json(index, item, t);
    int rc = line ? append_line(l->buf, l->len, l->cap, line) : af_error_set(AF_ENOMEM, "eval: result JSON");
    free(line);
    return rc;
}

/* K sampled episodes per question (samples 0..K-1 at rollout.temperature); *correct
 * (n) gets each question's count on rank 0. Collective. */
static int run_samples(const AfWorld *w, AfPlanner *planner, const AfConfig *cfg, AfSplit which, size_t n, int K,
                       int *correct) {
    const AfSampler s = {.temperature = (float)cfg->rollout.temperature, .top_p = (float)cfg->rollout.top_p, .top_k = (int)cfg->rollout.top_k};
    int rc = af_planner_model_set_sampler(planner, &s);
    return rc ? rc : af_evaluate_samples(w, planner, which, n, K, MPI_COMM_WORLD, correct);
}

/* Rank 0: the report, results in question order (question i ran on rank i % P as its
 * (i / P)-th line), and with --results the same lines as JSONL. correct: the sample
 * counts under --samples, else NULL. */
static int print_report(const AfWorld *w, const EvalArgs *a, const char *model, const char *split, size_t n, int P,
                        const double *sums, const char *all, const int *counts, const int *displs, double secs,
                        const int *correct) {
    const char **cursor = malloc((size_t)P * sizeof *cursor);
    if (!cursor) return af_error_set(AF_ENOMEM, "eval report");
    for (int p = 0; p < P; p++) cursor[p] = all + displs[p];
    FILE *rf = NULL;
    if (a->results && !(rf = fopen(a->results, "w"))) {
        free(cursor);
        return af_error_set(AF_EIO, "eval: --results: cannot write %s", a->results);
    }
    char *world = af_world_describe(w);
    printf("{\"suite\": \"%s\", \"world\": %s, \"model\": ", w->suite->name, world ? world : "null");
    free(world);
    cJSON *js = cJSON_CreateString(model);
    char *q = js ? cJSON_PrintUnformatted(js) : NULL;
    cJSON_Delete(js);
    printf("%s, \"split\": \"%s\", \"questions\": %zu, \"correct\": %.0f, \"accuracy\": %.6f, "
           "\"reward_mean\": %.6f, \"turns_mean\": %.4f, \"max_turns\": %u, \"greedy\": %s, \"ranks\": %d, "
           "\"eval_s\": %.3f, ",
           q ? q : "\"\"", split, n, sums[0], n ? sums[0] / (double)n : 0.0, n ? sums[1] / (double)n : 0.0,
           n ? sums[2] / (double)n : 0.0, w->episode.max_turns, a->greedy ? "true" : "false", P, secs);
    free(q);
    if (correct) {
        double mean_at_k = 0;
        char *pk = af_eval_pass_at_k_json(correct, n, (int)a->samples, NULL, &mean_at_k);
        printf("\"samples\": %ld, \"temperature\": %g, \"pass_at_k\": %s, \"mean_at_k\": %.6f, ", a->samples,
               w->cfg.rollout.temperature, pk ? pk : "null", mean_at_k);
        free(pk);
    }
    printf("\"results\": [");
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        int p = (int)(i % (size_t)P);
        const char *s = cursor[p], *e = memchr(s, '\n', (size_t)(all + displs[p] + counts[p] - s));
        if (!e || e == s || e[-1] != '}') {
            rc = af_error_set(AF_EFORMAT, "eval: result of question %zu missing from rank %d", i, p);
            break;
        }
        char extra[48] = "";
        if (correct) snprintf(extra, sizeof extra, ",\"samples_correct\":%d", correct[i]);
        printf("%s\n  %.*s%s}", i ? "," : "", (int)(e - s - 1), s, extra);
        if (rf) fprintf(rf, "%.*s%s}\n", (int)(e - s - 1), s, extra);
        cursor[p] = e + 1;
    }
    printf("\n]}\n");
    fflush(stdout);
    if (rf && fclose(rf) != 0 && rc == 0) rc = af_error_set(AF_EIO, "eval: --results: writing %s failed", a->results);
    free(cursor);
    return rc;
}

int af_cmd_eval(int argc, char **argv) {
    EvalArgs a;
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc < 0 ? 0 : rc;
    AfConfig cfg;
    if ((rc = af_cli_build_config(&a.cfg, &cfg))) return rc;
    char set[4200];
    if (a.suite) {
        snprintf(set, sizeof set, "suite.name=%.60s", a.suite);
        if (af_config_apply_set(&cfg, set)) {
            snprintf(set, sizeof set, "--suite: %s", af_error_detail());
            return af_cli_usage_error(usage, "eval", set);
        }
    }
    if (a.dataset) {
        snprintf(cfg.data.test, sizeof cfg.data.test, "%s", a.dataset);
        if (strlen(a.dataset) >= sizeof cfg.data.test) return af_cli_usage_error(usage, "eval", "--dataset: path too long");
    }
    if (a.max_turns) cfg.rollout.max_turns = a.max_turns;
    if (cfg.modules.planner.backend != AF_BACKEND_BUILTIN) {
        fprintf(stderr, "agentflow eval: config: modules.planner.backend = %s: eval evaluates a model planner "
                        "(--model or --run-dir); rollout --planner openai runs a served one\n",
                af_config_choice_name("modules.planner.backend", cfg.modules.planner.backend));
        return 2;
    }

    AfMpi mpi;
    if (af_mpi_init(&argc, &argv, &mpi)) {
        fprintf(stderr, "agentflow eval: %s\n", af_error_detail());
        return 1;
    }
    af_log_setup(mpi.rank, (AfLogLevel)cfg.log.level, AF_PROGRESS_RANK0);
    AfWorld *w = NULL;
    AfModel *model = NULL;
    AfPlanner *planner = NULL;
    char *mine = NULL, *all = NULL;
    size_t mine_len = 0, mine_cap = 0;
    int *counts = NULL, *displs = NULL, *sample_correct = NULL;
    int exit_code = 1, bad_config = 0;
    double t0 = af_time_now();

    rc = af_world_create_in(&cfg, a.model_dir, 0, &w); /* a planner in text: its directory */
    if (rc == 0) rc = af_world_model_create(w, a.model_dir, &model);
    if (rc == 0) {
        AfSampler s = {.temperature = a.greedy ? 0.0f : (float)cfg.rollout.temperature, .top_p = (float)cfg.rollout.top_p, .top_k = (int)cfg.rollout.top_k};
        rc = af_world_model_planner(w, a.model_dir, model, &s, &planner);
        /* several questions' turns decoded together (rollout.group_decode) */
        if (rc == 0) rc = af_world_planner_group(w, planner, (int)cfg.rollout.group_size);
    }
    if (rc) {
        bad_config = rc == AF_ECONFIG;
        fprintf(stderr, "agentflow eval: rank %d: %s\n", mpi.rank, af_error_detail());
    }
    /* Every rank learns whether any failed to set up before the evaluation needs all. */
    int fail = rc ? (bad_config ? 2 : 1) : 0, any = 0;
    if (af_mpi_allreduce(&fail, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD)) goto done;
    if (any) {
        exit_code = any;
        goto done;
    }
    const char *split = a.dataset ? "dataset" : a.split ? a.split : "test";
    const AfSplit which = !strcmp(split, "train") ? AF_SPLIT_TRAIN : AF_SPLIT_TEST;
    size_t n = af_suite_split(w->suite, which)->n;
    if (a.n > 0 && (size_t)a.n < n) n = (size_t)a.n;
    EvalLines lines = {&mine, &mine_len, &mine_cap};
    AfEvalTotals tot;
    /* sampled evaluation (no --greedy) draws from iteration 0's streams, sample 0 */
    if ((rc = af_evaluate(w, planner, which, n, 0, 0, MPI_COMM_WORLD, add_result, &lines, &tot))) {
        fprintf(stderr, "agentflow eval: rank %d: %s\n", mpi.rank, af_error_detail());
        goto done; /* every rank knows (af_evaluate agrees on failure) */
    }
    const double total[3] = {tot.correct, tot.reward, tot.turns};
    if (a.samples > 0) {
        if (mpi.rank == 0 && !(sample_correct = calloc(n ? n : 1, sizeof *sample_correct))) {
            fprintf(stderr, "agentflow eval: out of memory\n");
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        if ((rc = run_samples(w, planner, &cfg, which, n, (int)a.samples, sample_correct))) {
            fprintf(stderr, "agentflow eval: rank %d: sampled episodes: %s\n", mpi.rank, af_error_detail());
            goto done; /* every rank knows (af_evaluate agrees on failure) */
        }
    }
    int len = (int)mine_len;
    if (mpi.rank == 0) {
        counts = calloc((size_t)mpi.size, sizeof *counts);
        displs = calloc((size_t)mpi.size, sizeof *displs);
        if (!counts || !displs) {
            fprintf(stderr, "agentflow eval: out of memory\n");
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
    }
    if (MPI_Gather(&len, 1, MPI_INT, counts, 1, MPI_INT, 0, MPI_COMM_WORLD) != MPI_SUCCESS) goto done;
    long long bytes = 0;
    if (mpi.rank == 0) {
        for (int p = 0; p < mpi.size; p++) displs[p] = (int)bytes, bytes += counts[p];
        if (bytes > 2000000000LL || !(all = malloc((size_t)bytes + 1))) {
            fprintf(stderr, "agentflow eval: cannot hold %lld bytes of results\n", bytes);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
    }
    if (MPI_Gatherv(mine ? mine : "", len, MPI_CHAR, all, counts, displs, MPI_CHAR, 0, MPI_COMM_WORLD) != MPI_SUCCESS)
        goto done;
    exit_code = 0;
    if (mpi.rank == 0) {
        all[bytes] = '\0';
        if (print_report(w, &a, a.model_dir, split, n, mpi.size, total, all, counts, displs, af_time_now() - t0,
                         sample_correct)) {
            fprintf(stderr, "agentflow eval: %s\n", af_error_detail());
            exit_code = 1;
        } else {
            AF_LOG_I("%s %s: accuracy %.4f (%.0f of %zu), %d rank(s)", w->suite->name, split,
                     n ? total[0] / (double)n : 0.0, total[0], n, mpi.size);
        }
    }
done:
    free(mine), free(all), free(counts), free(displs), free(sample_correct);
    af_planner_destroy(planner);
    af_model_destroy(model);
    af_world_destroy(w);
    af_mpi_finalize(&mpi);
    return exit_code;
}
