/* The training run's orchestration: communicators, roles, warm start, evaluation cadence,
 * fault hooks, end of run (see train.h). */
#include "run/train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actor/actor_loop.h"
#include "actor/planner_model.h"
#include "common/error.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/protocol.h"
#include "common/safetensors.h"
#include "common/signals.h"
#include "common/traj.h"
#include "common/weights_shm.h"
#include "run/evaluate.h"
#include "run/faults.h"
#include "run/warmstart.h"
#include "run/world.h"

/* Evaluation episodes are greedy (they draw nothing); recorded with this iteration. */
#define EVAL_ITERATION 0xFFFFFFFFu

typedef struct Run {
    const AfConfig *cfg;
    const char *run_dir;
    int rank, world, L;
    int is_learner;
    MPI_Comm learners;   /* learner ranks; MPI_COMM_NULL on actors */
    MPI_Comm policy;     /* learner 0 + actors; MPI_COMM_NULL on learners > 0 */
    AfResumeMode resume;
    double t_start;      /* af_time_now() when the run began (run.time_limit_s) */
    AfWorld *w;
    AfTrajLimits lim;    /* what the learners accept; actors check their own output with it */
    AfLearner *learner;  /* learner ranks */
    AfModel *actor_m;    /* actor ranks: the policy as received (decode only) */
    AfModel *model;      /* the policy episodes run with: the learner's or actor_m */
    AfPlanner *planner;  /* model planner over `model` (ranks that run episodes) */
    const char *tool_names[AF_METRICS_MAX_TOOLS];
    int n_tools;
} Run;

/* ------------------------------------------------------------------ episodes */

/* A trajectory that says the episode could not be used (no turns), for the learner. */
static int failed_traj(const char *why, const char *suite, Agentflow__Trajectory **out) {
    int rc = af_traj_new(out);
    if (rc) return rc;
    (*out)->status = AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_INFRA_FAILED;
    if ((rc = af_traj_set_string(&(*out)->status_detail, why)) || (rc = af_traj_set_string(&(*out)->suite, suite))) {
        af_traj_free(*out);
        *out = NULL;
    }
    return rc;
}

/* The episode id of work unit u. */
static AfEpisodeId unit_id(const Run *R, const AfWorkUnit *u, uint64_t version) {
    return (AfEpisodeId){.iteration = u->iteration,
                         .query_index = u->query_index,
                         .sample_index = u->sample,
                         .policy_version = version,
                         .actor_rank = R->rank};
}

/* What the learner gets of unit u's episode (rc, its detail, trajectory t taken over,
 * wall time episode_s): t itself, or an INFRA_FAILED trajectory that says why the episode
 * failed or would not pass the learner's validation, so every work unit yields exactly
 * one accepted trajectory. */
static int accept_episode(Run *R, const AfWorkUnit *u, int rc, const char *detail, Agentflow__Trajectory *t,
                          double episode_s, Agentflow__Trajectory **out) {
    const char *suite = R->w->suite->name;
    if (rc) {
        char why[600];
        snprintf(why, sizeof why, "episode error: %s", detail);
        af_log(AF_LOG_WARN, "query %u sample %u: %s", u->query_index, u->sample, why);
        return failed_traj(why, suite, out);
    }
    AfTrajLimits lim = R->lim;
    lim.iteration_min = lim.iteration_max = t->iteration;
    lim.version_min = lim.version_max = t->policy_version;
    AfTrajReject why;
    if (af_traj_validate(t, &lim, &why)) {
        char msg[300];
        snprintf(msg, sizeof msg, "trajectory failed validation (%s): %s", af_traj_reject_name(why), af_error_detail());
        af_log(AF_LOG_WARN, "query %u sample %u: %s", u->query_index, u->sample, msg);
        af_trajectory_free(t);
        return failed_traj(msg, suite, out);
    }
    af_fault_straggle(R->cfg, u->iteration, u->query_index, u->sample, episode_s);
    *out = t;
    return 0;
}

/* One training episode of work unit u with the rank's model planner (accept_episode). */
static int train_episode(Run *R, const AfWorkUnit *u, uint64_t version, Agentflow__Trajectory **out) {
    const AfDataset *ds = af_suite_split(R->w->suite, AF_SPLIT_TRAIN);
    *out = NULL;
    if (u->query_index >= ds->n)
        return af_error_set(AF_ERANGE, "query %u outside the training split (%zu questions)", u->query_index, ds->n);
    if (af_fault_fail_rollouts()) return failed_traj("injected fault (AF_FAULT_FAIL_ROLLOUTS)", R->w->suite->name, out);
    const AfEpisodeId id = unit_id(R, u, version);
    Agentflow__Trajectory *t = NULL;
    const double t0 = af_time_now();
    int rc = af_planner_model_weights(R->planner, version); /* a bf16 decoder copies new weights once */
    if (rc) return rc;
    rc = af_world_train_episode(R->w, R->planner, &ds->items[u->query_index], &id, &t);
    return accept_episode(R, u, rc, rc ? af_error_detail() : "", t, af_time_now() - t0, out);
}

/* The episodes of units u[0..n) together (group decoding), each as train_episode's. */
static int train_group(Run *R, const AfWorkUnit *u, size_t n, uint64_t version, Agentflow__Trajectory **out) {
    const AfDataset *ds = af_suite_split(R->w->suite, AF_SPLIT_TRAIN);
    const AfItem *items[AF_WORK_LEASE_MAX];
    AfEpisodeId ids[AF_WORK_LEASE_MAX];
    Agentflow__Trajectory *t[AF_WORK_LEASE_MAX];
    int rcs[AF_WORK_LEASE_MAX], rc = 0;
    char details[AF_WORK_LEASE_MAX][AF_EPISODE_DETAIL];
    AF_ASSERT(n <= AF_WORK_LEASE_MAX);
    for (size_t i = 0; i < n; i++) {
        out[i] = NULL;
        if (u[i].query_index >= ds->n)
            return af_error_set(AF_ERANGE, "query %u outside the training split (%zu questions)", u[i].query_index, ds->n);
        items[i] = &ds->items[u[i].query_index];
        ids[i] = unit_id(R, &u[i], version);
    }
    if (af_fault_fail_rollouts()) {
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = failed_traj("injected fault (AF_FAULT_FAIL_ROLLOUTS)", R->w->suite->name, &out[i]);
    } else if ((rc = af_planner_model_weights(R->planner, version)) == 0) { /* a bf16 decoder copies new weights once */
        af_world_train_episode_group(R->w, R->planner, items, ids, n, t, rcs, details);
        for (size_t i = 0; i < n; i++) {
            const double episode_s = t[i] ? t[i]->episode_s : 0;
            if (rc == 0) rc = accept_episode(R, &u[i], rcs[i], details[i], t[i], episode_s, &out[i]);
            else af_trajectory_free(t[i]);
        }
    }
    if (rc)
        for (size_t i = 0; i < n; i++) {
            af_traj_free(out[i]);
            out[i] = NULL;
        }
    return rc;
}

static int local_group(void *ctx, const AfWorkUnit *u, size_t n, uint64_t version, Agentflow__Trajectory **out) {
    return train_group(ctx, u, n, version, out);
}

/* The learner's own episodes, in a world of one rank. */
static int local_episode(void *ctx, const AfWorkUnit *u, uint64_t version, Agentflow__Trajectory **out) {
    return train_episode(ctx, u, version, out);
}

static void on_phase(void *ctx, const char *phase, uint32_t it) { af_fault_signal(((Run *)ctx)->rank, phase, it); }

/* The garbage messages of AF_FAULT_GARBAGE ahead of unit u's trajectory t. */
static int actor_garbage(Run *R, const AfWorkUnit *u, uint64_t version, Agentflow__Trajectory *t) {
    int garbage = af_fault_garbage_count(R->rank);
    if (!garbage) return 0;
    /* the loop fills these in after we return */
    t->iteration = u->iteration, t->slot = u->slot, t->query_index = u->query_index;
    t->sample_index = u->sample, t->policy_version = version, t->actor_rank = R->rank;
    return af_fault_send_garbage(&R->lim, (uint64_t)R->cfg->run.seed, t, (int)(u->slot % (uint32_t)R->L), garbage);
}

/* An actor's episode, with the garbage messages of AF_FAULT_GARBAGE ahead of it. */
static int actor_episode(void *ctx, const AfWorkUnit *u, uint64_t version, Agentflow__Trajectory **out) {
    Run *R = ctx;
    int rc = train_episode(R, u, version, out);
    if (rc == 0) rc = actor_garbage(R, u, version, *out);
    return rc;
}

/* An actor's group of episodes, each with the garbage messages of AF_FAULT_GARBAGE
 * ahead of it. */
static int actor_group(void *ctx, const AfWorkUnit *u, size_t n, uint64_t version, Agentflow__Trajectory **out) {
    Run *R = ctx;
    int rc = train_group(R, u, n, version, out);
    for (size_t i = 0; i < n && rc == 0; i++) rc = actor_garbage(R, &u[i], version, out[i]);
    if (rc)
        for (size_t i = 0; i < n; i++) {
            af_traj_free(out[i]);
            out[i] = NULL;
        }
    return rc;
}

/* ------------------------------------------------------------------ evaluation */

/* Greedy evaluation of the test split, this rank's share over comm (the policy ranks),
 * with run.eval_train = N also of the first N training questions (*train_sum), then with
 * run.eval_samples = K the K sampled episodes per question at the rollouts'
 * sampler: *correct (the test split's size; rank 0 of comm only, NULL elsewhere) gets
 * each question's count of correct samples. */
static int eval_share(Run *R, MPI_Comm comm, AfEvalTotals *sum, AfEvalTotals *train_sum, int *correct) {
    const AfSampler greedy = {.temperature = 0.0f, .top_p = 1.0f};
    const AfSampler train = {.temperature = (float)R->cfg->rollout.temperature, .top_p = (float)R->cfg->rollout.top_p, .top_k = (int)R->cfg->rollout.top_k};
    int rc = af_planner_model_set_sampler(R->planner, &greedy);
    if (rc == 0) rc = af_planner_model_weights(R->planner, AF_PLANNER_WEIGHTS_NEW); /* version not tracked here */
    if (rc) return rc;
    const size_t n = af_suite_split(R->w->suite, AF_SPLIT_TEST)->n;
    rc = af_evaluate(R->w, R->planner, AF_SPLIT_TEST, n, EVAL_ITERATION, 0, comm, NULL, NULL, sum);
    if (rc == 0 && R->cfg->run.eval_train > 0) { /* the first N training questions, greedy */
        const size_t nt = af_suite_split(R->w->suite, AF_SPLIT_TRAIN)->n, want = (size_t)R->cfg->run.eval_train;
        rc = af_evaluate(R->w, R->planner, AF_SPLIT_TRAIN, want < nt ? want : nt, EVAL_ITERATION, 0, comm, NULL, NULL,
                         train_sum);
    }
    int rc2 = af_planner_model_set_sampler(R->planner, &train);
    if (rc == 0 && rc2 == 0 && R->cfg->run.eval_samples > 0)
        rc = af_evaluate_samples(R->w, R->planner, AF_SPLIT_TEST, n, (int)R->cfg->run.eval_samples, comm, correct);
    return rc ? rc : rc2;
}

static int actor_eval(void *ctx, uint64_t version) {
    (void)version;
    Run *R = ctx;
    AfEvalTotals sum, train_sum;
    return eval_share(R, R->policy, &sum, &train_sum, NULL);
}

/* Rank 0: publish EVAL + weights, evaluate its own share, write the eval.jsonl line
 * (with run.eval_samples: pass@k and mean@K of the sampled episodes). Returns the
 * accuracy through *acc. */
static int evaluate(Run *R, uint32_t after_iteration, uint64_t version, double *acc) {
    double t0 = af_time_now();
    AfEvalTotals s, st;
    memset(&s, 0, sizeof s);
    memset(&st, 0, sizeof st);
    const size_t n = af_suite_split(R->w->suite, AF_SPLIT_TEST)->n;
    const int K = (int)R->cfg->run.eval_samples;
    int *correct = K > 0 ? calloc(n ? n : 1, sizeof *correct) : NULL;
    if (K > 0 && !correct) return af_error_set(AF_ENOMEM, "evaluation after iteration %u: sample counts", after_iteration);
    int rc = af_learner_publish(R->learner, AF_CTRL_EVAL, after_iteration, version);
    if (rc == 0) rc = eval_share(R, R->world > 1 ? R->policy : MPI_COMM_NULL, &s, &st, correct);
    if (rc) {
        free(correct);
        return af_error_wrap(rc, "evaluation after iteration %u", after_iteration);
    }
    *acc = s.questions > 0 ? s.correct / s.questions : 0.0;
    const double reward = s.questions > 0 ? s.reward / s.questions : 0.0, dt = af_time_now() - t0;
    char line[1024], extra[640] = "";
    double pk[2] = {0, 0}, mean_at_k = 0;
    if (K > 0) {
        char *json = af_eval_pass_at_k_json(correct, n, K, pk, &mean_at_k);
        if (!json) {
            free(correct);
            return af_error_set(AF_ENOMEM, "evaluation after iteration %u: pass@k", after_iteration);
        }
        snprintf(extra, sizeof extra, ", \"samples\": %d, \"temperature\": %g, \"pass_at_k\": %s, \"mean_at_k\": %.6f", K,
                 R->cfg->rollout.temperature, json, mean_at_k);
        free(json);
        af_log_progress("eval after %u iterations: pass@1 %.4f, pass@%d %.4f over %d samples per question",
                        after_iteration, pk[0], K, pk[1], K);
    }
    free(correct);
    const double train_acc = st.questions > 0 ? st.correct / st.questions : 0.0;
    if (R->cfg->run.eval_train > 0) {
        const size_t len = strlen(extra);
        snprintf(extra + len, sizeof extra - len, ", \"train_questions\": %.0f, \"train_accuracy\": %.6f", st.questions,
                 train_acc);
        af_log_progress("eval after %u iterations: training questions greedy accuracy %.4f (%g of %g)", after_iteration,
                        train_acc, st.correct, st.questions);
    }
    af_log_progress("eval after %u iterations: held-out greedy accuracy %.4f (%g of %g), reward %.4f, %.1fs",
                    after_iteration, *acc, s.correct, s.questions, reward, dt);
    snprintf(line, sizeof line,
             "{\"iteration\": %u, \"policy_version\": %llu, \"split\": \"test\", \"questions\": %.0f, "
             "\"accuracy\": %.6f, \"reward_mean\": %.6f%s, \"eval_s\": %.3f}",
             after_iteration, (unsigned long long)version, s.questions, *acc, reward, extra, dt);
    static const char *const tags[] = {"eval/accuracy", "eval/reward_mean", "eval/questions", "time/eval_s",
                                       "eval/pass_at_1", "eval/pass_at_samples"};
    const double vals[] = {*acc, reward, s.questions, dt, pk[0], pk[1]};
    af_learner_tb_scalars(R->learner, after_iteration, tags, vals, K > 0 ? 6 : 4);
    if (R->cfg->run.eval_train > 0) {
        static const char *const ttags[] = {"eval/train_accuracy"};
        af_learner_tb_scalars(R->learner, after_iteration, ttags, &train_acc, 1);
    }
    return af_learner_log_eval(R->learner, line);
}

/* ------------------------------------------------------------------ set-up */

static int split_comms(Run *R) {
    int rc;
    R->is_learner = R->rank < R->L;
    if ((rc = af_mpi_check(MPI_Comm_split(MPI_COMM_WORLD, R->is_learner ? 0 : 1, R->rank, &R->learners),
                           "MPI_Comm_split(learners)")))
        return rc;
    if (!R->is_learner) MPI_Comm_free(&R->learners); /* sets MPI_COMM_NULL */
    int in_policy = R->rank == 0 || !R->is_learner;
    if ((rc = af_mpi_check(MPI_Comm_split(MPI_COMM_WORLD, in_policy ? 0 : MPI_UNDEFINED, R->rank, &R->policy),
                           "MPI_Comm_split(policy)")))
        return rc;
    if (R->policy == MPI_COMM_NULL) return 0;
    /* the weights' way from learner 0 to the actors (freed with the communicator) */
    AfWeightsTransportOpts wt = {.method = R->cfg->run.weights_transport};
    int chosen = 0;
    if ((rc = af_weights_transport_attach(R->policy, &wt, &chosen))) return af_error_wrap(rc, "run.weights_transport");
    if (R->rank == 0) AF_LOG_I("weights transport: %s", chosen == AF_WEIGHTS_TRANSPORT_SHM ? "shm" : "bcast");
    return 0;
}

/* Rank 0, once the configuration is accepted (the world, the planner's shape and
 * model.init_from), before the warm start: RUN_DIR/world.json, the world as built, and for
 * a new run RUN_DIR/config.json (a resumed run rewrites it once its checkpoint accepted
 * the configuration). A start refused earlier leaves neither, so its directory does not
 * look like a run. */
static int write_run_files(const Run *R) {
    char *desc = af_world_describe(R->w), path[4200];
    if (!desc) return af_error_set(AF_ENOMEM, "world description");
    int rc = 0;
    if (R->w->text_dir[0] && !R->resume) { /* a planner in text: its files, for a resume and eval */
        char dir[4000], src[4200];
        snprintf(dir, sizeof dir, "%s/planner", R->run_dir);
        snprintf(src, sizeof src, "%s/config.json", R->w->text_dir);
        snprintf(path, sizeof path, "%s/config.json", dir);
        if ((rc = af_mkdir_p(dir)) || (rc = af_model_copy_tokenizer(R->w->text_dir, dir)) ||
            (rc = af_copy_file(src, path))) {
            free(desc);
            return af_error_wrap(rc, "copying the planner's tokenizer into the run directory");
        }
    }
    snprintf(path, sizeof path, "%s/world.json", R->run_dir);
    size_t n = strlen(desc);
    desc[n] = '\n'; /* written as bytes, not as a string */
    rc = af_write_file_atomic(path, desc, n + 1);
    free(desc);
    snprintf(path, sizeof path, "%s/config.json", R->run_dir);
    if (rc == 0 && !R->resume) rc = af_config_save(R->cfg, path);
    return rc;
}

/* Each training query's difficulty level (algo.curriculum), or NULL when off. */
static int query_levels(const Run *R, uint8_t **out) {
    *out = NULL;
    if (R->cfg->algo.curriculum == AF_CURRICULUM_OFF) return 0;
    const AfDataset *ds = af_suite_split(R->w->suite, AF_SPLIT_TRAIN);
    if (ds->n != R->lim.num_queries)
        return af_error_set(AF_ESTATE, "curriculum: %zu training items, %u queries", (size_t)ds->n, R->lim.num_queries);
    uint8_t *lv = malloc(ds->n ? ds->n : 1);
    if (!lv) return af_error_set(AF_ENOMEM, "curriculum levels");
    for (size_t i = 0; i < ds->n; i++) lv[i] = (uint8_t)af_suite_difficulty(R->w->suite, &ds->items[i]);
    *out = lv;
    return 0;
}

static int setup_learner(Run *R) {
    const AfConfig *c = R->cfg;
    uint8_t *levels = NULL;
    int rc = query_levels(R, &levels);
    if (rc) return rc;
    AfLearnerSetup s = {.cfg = c,
                        .run_dir = R->run_dir,
                        .model = R->w->model,
                        .limits = R->lim,
                        .monolithic = R->w->episode.monolithic,
                        .rank = R->rank,
                        .world = R->world,
                        .n_learners = R->L,
                        .learners = R->learners,
                        .policy = R->policy,
                        .resume = R->resume,
                        .tool_names = R->tool_names,
                        .n_tools = R->n_tools,
                        .run_start = R->t_start,
                        .run_local = local_episode,
                        .run_local_group = local_group,
                        .on_phase = on_phase,
                        .ctx = R,
                        .query_levels = levels};
    rc = af_learner_create(&s, &R->learner);
    free(levels);
    if (rc) return rc;
    R->model = af_learner_policy(R->learner);
    af_model_set_threads((int)c->model.threads);
    /* resumed: the state comes from the checkpoint (model.init_from may be gone) */
    if (R->resume) af_model_init_params_std(R->model, (uint64_t)c->run.seed, c->model.init_std);
    else if ((rc = af_world_model_init(R->w, R->model))) return rc;
    return 0;
}

/* The planner's weights into dir, with a planner in text's tokenizer files (so that
 * `eval --model DIR` and `rollout --model DIR` run it in text). */
static int save_planner(const Run *R, const char *dir) {
    int rc = af_model_save_dir(R->model, dir);
    if (rc == 0 && R->w->text_dir[0]) rc = af_model_copy_tokenizer(R->w->text_dir, dir);
    return rc;
}

/* model.warmstart_save_every: learner 0 writes the planner of warm-start step `step`
 * (not the last: RUN_DIR/warmstart holds that) to RUN_DIR/warmstart-step-STEP. */
static int warm_start_snapshot(void *ctx, int step, int steps) {
    const Run *R = ctx;
    const int64_t every = R->cfg->model.warmstart_save_every;
    if (R->rank != 0 || every <= 0 || step % every != 0 || step >= steps) return 0;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/warmstart-step-%d", R->run_dir, step);
    int rc = save_planner(R, dir);
    if (rc) return af_error_wrap(rc, "saving the planner of warm-start step %d", step);
    af_log(AF_LOG_INFO, "warm start step %d: planner written to %s (%.1f s since the run started)", step, dir,
           af_time_now() - R->t_start);
    return 0;
}

/* Learners after set-up: the warm start (new runs), then the reference planner. */
static int warm_start(Run *R) {
    const AfConfig *c = R->cfg;
    int rc = 0;
    if (!R->resume && (rc = af_warmstart_run(R->w, af_learner_update(R->learner), af_learner_adamw(R->learner),
                                             R->rank, R->L, R->learners, warm_start_snapshot, R)))
        return rc;
    af_learner_freeze_reference(R->learner);
    if (R->rank == 0 && !R->resume && c->model.warmstart_steps > 0) { /* reusable with model.init_from */
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/warmstart", R->run_dir);
        if ((rc = save_planner(R, dir))) return af_error_wrap(rc, "saving the warm-started planner");
        af_log(AF_LOG_INFO, "warm-started planner written to %s (reuse with --init-from)", dir);
    }
    return 0;
}

static int setup(Run *R) {
    const AfConfig *c = R->cfg;
    int rc;
    if (R->world > 1 && R->L >= R->world)
        return af_error_set(AF_ECONFIG, "topology.learners (%d) must be smaller than the number of ranks (%d): "
                                        "at least one rank must be an actor", R->L, R->world);
    if (c->algo.carry_moments && c->model.warmstart_steps <= 0)
        return af_error_set(AF_ECONFIG, "config: algo.carry_moments = true needs model.warmstart_steps > 0: the "
                                        "moments carried over are the warm start's, in the same run");
    if (c->algo.dynamic_sampling > 0 && c->algo.max_staleness > 0 && R->world > 1) /* every rank: exit 2 */
        return af_error_set(AF_ECONFIG, "config: algo.dynamic_sampling needs the synchronous mode (algo.max_staleness = 0): "
                                        "the refill rounds roll out again within the iteration");
    if (c->modules.planner.backend != AF_BACKEND_BUILTIN)
        return af_error_set(AF_ECONFIG, "config: modules.planner.backend = %s: train trains the model planner "
                                        "(a served planner runs in rollout)",
                            af_config_choice_name("modules.planner.backend", c->modules.planner.backend));
    if ((rc = split_comms(R))) return rc;
    /* learners other than rank 0 run episodes only in the warm start of a new run: without
     * one they do not load the modules' local model (modules.*.backend=model) */
    const int no_episodes = R->is_learner && R->rank != 0 && (R->resume || c->model.warmstart_steps <= 0);
    char planner_dir[4096]; /* a resumed run's planner in text: the copy made as it started */
    snprintf(planner_dir, sizeof planner_dir, "%s/planner", R->run_dir);
    if ((rc = af_world_create_in(c, R->resume ? planner_dir : NULL, no_episodes ? AF_WORLD_NO_EPISODES : 0, &R->w)))
        return rc;
    af_world_traj_limits(R->w, (uint32_t)c->rollout.group_size, R->world, &R->lim);
    /* tools named in metrics: the world's, then "other" for unparsable actions */
    for (size_t i = 0; i < R->w->suite->n_tools && R->n_tools < AF_METRICS_MAX_TOOLS - 1; i++)
        R->tool_names[R->n_tools++] = R->w->suite->tools[i]->name;
    R->tool_names[R->n_tools++] = "other";

    if (R->is_learner) {
        if ((rc = setup_learner(R))) return rc;
    } else {
        if ((rc = af_model_create(&R->w->model, 0, 0, 0, &R->actor_m))) return rc;
        af_model_set_threads((int)c->model.threads);
        if (R->resume) af_model_init_params_std(R->actor_m, (uint64_t)c->run.seed, c->model.init_std);
        else if ((rc = af_world_model_init(R->w, R->actor_m))) return rc;
        R->model = R->actor_m;
    }
    if (!R->is_learner || R->world == 1 || R->rank == 0) { /* ranks that run episodes */
        AfSampler s = {.temperature = (float)c->rollout.temperature, .top_p = (float)c->rollout.top_p, .top_k = (int)c->rollout.top_k};
        if ((rc = af_world_model_planner(R->w, R->w->text_dir, R->model, &s, &R->planner))) return rc;
        if ((rc = af_world_planner_group(R->w, R->planner, (int)c->rollout.group_size))) return rc;
    }
    if (R->rank == 0 && (rc = write_run_files(R))) return rc;
    if (R->is_learner && (rc = warm_start(R))) return rc;
    return 0;
}

/* `orderly`: every rank gets here (success or a clean stop). Freeing the policy
 * communicator frees the weights' shared window, which waits for the policy's other ranks
 * on the node; after an error the others may never come (the caller aborts), so it is left
 * to MPI_Abort then. */
static void run_free(Run *R, int orderly) {
    af_planner_destroy(R->planner);
    af_learner_destroy(R->learner);
    af_model_destroy(R->actor_m);
    af_world_destroy(R->w);
    if (R->learners != MPI_COMM_NULL) MPI_Comm_free(&R->learners);
    if (R->policy != MPI_COMM_NULL && orderly) MPI_Comm_free(&R->policy);
}

/* ------------------------------------------------------------------ the run */

/* Actor ranks: serve until STOP. */
static int run_actor(Run *R) {
    const size_t scratch_bytes = af_traj_max_bytes(&R->lim);
    void *scratch = malloc(scratch_bytes);
    if (!scratch) return af_error_set(AF_ENOMEM, "trajectory scratch (%zu bytes)", scratch_bytes);
    AfActorHooks h = {.ctx = R,
                      .params = R->model->params,
                      .n_params = R->model->n_params,
                      .run_episode = actor_episode,
                      .run_group = R->planner->act_group ? actor_group : NULL,
                      .group = R->planner->group,
                      .on_weights = NULL,
                      .run_eval = actor_eval,
                      .max_staleness = (uint32_t)R->cfg->algo.max_staleness};
    AfActorStats st;
    memset(&st, 0, sizeof st);
    int rc = af_actor_run(&h, MPI_COMM_WORLD, R->policy, R->L, scratch, scratch_bytes, &st);
    free(scratch);
    return rc;
}

/* Learner ranks: the iterations, evaluations, checkpoints and the end of the run. */
static int run_learner(Run *R, AfTrainResult *res, double t_start) {
    const AfConfig *cfg = R->cfg;
    uint32_t start = 0;
    int rc = af_learner_begin(R->learner, &start);
    if (rc) { /* known to every learner: the actors are told to stop, the run ends cleanly */
        res->clean_stop = 1;
        return rc;
    }
    res->start_iteration = (int)start;
    AfMetrics M;
    af_learner_metrics_init(R->learner, &M);
    const uint32_t iters = (uint32_t)cfg->run.iterations;
    const uint32_t every = (uint32_t)cfg->run.eval_every;
    const uint32_t ck_every = (uint32_t)cfg->run.checkpoint_every;
    if (R->rank == 0 && every > 0 && !R->resume && (rc = evaluate(R, 0, 0, &res->eval_before))) return rc;
    uint32_t done = start; /* iterations completed, counting those before a resume */
    if (done > iters) af_log(AF_LOG_WARN, "resumed at iteration %u, past run.iterations %u: nothing to do", done, iters);
    for (uint32_t it = start; it < iters; it++) {
        if ((rc = af_learner_iteration(R->learner, it, &M))) return rc;
        res->iterations_done++;
        done = it + 1;
        /* the signal decision must be the same on every learner */
        int sig = af_signals_pending() != 0, any_sig = 0;
        /* the time limit is learner 0's clock, shared through the same reduction */
        if (R->rank == 0 && cfg->run.time_limit_s > 0 && af_time_now() - t_start >= cfg->run.time_limit_s) sig |= 2;
        if (R->rank == 0 && cfg->run.cpu_limit_s > 0 && M.g.cpu_s >= cfg->run.cpu_limit_s) sig |= 8;
        if (R->rank == 0 && af_learner_log_error(R->learner, NULL)) sig |= 4; /* metrics/eval lines cannot be written */
        if ((rc = af_mpi_allreduce(&sig, &any_sig, 1, MPI_INT, MPI_BOR, R->learners))) return rc;
        if (any_sig & 4) { /* no checkpoint of an iteration whose line is missing: a resume redoes it */
            const char *why = "";
            int lrc = af_learner_log_error(R->learner, &why);
            res->clean_stop = 1;
            return R->rank == 0 ? af_error_set(lrc, "%s; stopping (the last checkpoint is intact)", why)
                                : af_error_set(AF_EIO, "learner 0 could not write its logs (see its message)");
        }
        if (!any_sig && R->rank == 0 && every > 0 && (it + 1) % every == 0 && it + 1 < iters) {
            if ((rc = evaluate(R, it + 1, it + 1, &res->eval_after))) return rc;
            res->eval_after_iteration = (int)(it + 1);
        }
        /* checkpoint: every run.checkpoint_every iterations, after the last, and when a
         * preemption signal came (SLURM's warning: save, then exit) or the time limit */
        if (any_sig || it + 1 == iters || (ck_every > 0 && (it + 1) % ck_every == 0)) {
            if ((rc = af_learner_checkpoint(R->learner, it + 1))) {
                res->clean_stop = 1;
                return rc;
            }
        }
        if (any_sig & 1) {
            res->stopped_by_signal = 1;
            af_log(AF_LOG_INFO, "signal received: checkpoint written, stopping after iteration %u", it);
            break;
        }
        if (any_sig & 2) {
            res->stopped_by_time = 1;
            af_log(AF_LOG_INFO, "run.time_limit_s (%g s) reached: checkpoint written, stopping after iteration %u",
                   cfg->run.time_limit_s, it);
            break;
        }
        if (any_sig & 8) {
            res->stopped_by_cpu = 1;
            af_log(AF_LOG_INFO, "run.cpu_limit_s (%g CPU s) reached (%.1f): checkpoint written, stopping after iteration %u",
                   cfg->run.cpu_limit_s, M.g.cpu_s, it);
            break;
        }
    }
    /* asynchronous mode: receive what was handed out for iterations that will not run */
    if ((rc = af_learner_drain(R->learner))) return rc;
    /* a preempted run has little time left: no final evaluation */
    if (R->rank == 0 && every > 0 && res->iterations_done == 0) {
        res->eval_after = res->eval_before;
        res->eval_after_iteration = res->eval_before >= 0 ? (int)start : -1;
    } else if (R->rank == 0 && every > 0 && !res->stopped_by_signal) {
        if ((rc = evaluate(R, done, done, &res->eval_after))) return rc;
        res->eval_after_iteration = (int)done;
    }
    const char *why = "";
    if (R->rank == 0 && (rc = af_learner_log_error(R->learner, &why))) { /* the final metrics or eval line */
        res->clean_stop = 1;
        return af_error_set(rc, "%s", why);
    }
    if (R->rank == 0) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/model", R->run_dir);
        if ((rc = save_planner(R, dir))) return af_error_wrap(rc, "saving the trained planner");
        af_log(AF_LOG_INFO, "trained planner written to %s", dir);
    }
    return 0;
}

int af_train_run(const AfConfig *cfg, const char *run_dir, const AfMpi *mpi, AfTrainResult *res) {
    return af_train_run_resume(cfg, run_dir, mpi, AF_RESUME_NONE, res);
}

int af_train_run_resume(const AfConfig *cfg, const char *run_dir, const AfMpi *mpi, AfResumeMode resume,
                        AfTrainResult *res) {
    const double t_start = af_time_now();
    Run R;
    memset(&R, 0, sizeof R);
    R.cfg = cfg;
    R.run_dir = run_dir;
    R.resume = resume;
    R.t_start = t_start;
    R.rank = mpi->rank;
    R.world = mpi->size;
    R.L = (int)cfg->topology.learners;
    R.learners = R.policy = MPI_COMM_NULL;
    memset(res, 0, sizeof *res);
    res->eval_before = res->eval_after = -1;
    res->eval_after_iteration = -1;
    int rc = setup(&R);
    /* agree on set-up success everywhere, so no rank waits for a peer that gave up */
    int bad = rc != 0, any = 0;
    if (af_mpi_allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD) == 0) {
        if (any && rc == 0) rc = af_error_set(AF_ESTATE, "another rank failed during set-up (see its message)");
        if (any) res->clean_stop = 1;
    }
    if (rc) goto done;
    af_signals_install();
    if (!R.is_learner) {
        rc = run_actor(&R);
        goto done;
    }
    rc = run_learner(&R, res, t_start);
    if (R.rank == 0 && R.world > 1) { /* the actors stop, whatever happened */
        char keep[512];
        snprintf(keep, sizeof keep, "%s", af_error_detail());
        int rc2 = af_learner_publish(R.learner, AF_CTRL_STOP, 0, 0);
        if (rc == 0) rc = rc2;
        else af_error_set(rc, "%s", keep);
    }
done:
    run_free(&R, rc == 0 || res->clean_stop);
    return rc;
}
