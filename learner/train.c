/* The training run: roles, set-up, warm start, iterations, evaluation (see train.h). */
#include "learner/train.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "actor/actor_loop.h"
#include "actor/episode.h"
#include "actor/modules.h"
#include "actor/planner_model.h"
#include "actor/world.h"
#include "common/error.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/model.h"
#include "common/protocol.h"
#include "common/rng.h"
#include "common/safetensors.h"
#include "common/signals.h"
#include "common/traj.h"
#include "common/weights.h"
#include "env/suite.h"
#include "learner/adamw.h"
#include "learner/ckpt.h"
#include "learner/collect.h"
#include "learner/data_stream.h"
#include "learner/gather.h"
#include "learner/metrics.h"
#include "learner/resume.h"
#include "learner/trajstore.h"
#include "learner/update.h"

/* Warm-start episodes use iterations from here on, so their sampling streams never
 * meet a training iteration's (training iterations stay below 2^31). */
#define WARMSTART_ITERATION 0x80000000u
/* Evaluation episodes are greedy (they draw nothing); recorded with this iteration. */
#define EVAL_ITERATION 0xFFFFFFFFu

typedef struct Trainer {
    const AfConfig *cfg;
    const char *run_dir;
    int rank, world, L;
    int is_learner, lidx; /* learner index (rank) when is_learner */
    MPI_Comm learners;    /* learner ranks; MPI_COMM_NULL on actors */
    MPI_Comm policy;      /* learner 0 + actors; MPI_COMM_NULL on learners > 0 */
    AfSuite *suite;
    AfModules mods;
    AfModelConfig mcfg;
    AfModel *policy_m, *ref_m;
    AfAdamW *opt;
    AfUpdate *upd;
    AfPlanner *planner; /* model planner over policy_m (ranks that run episodes) */
    AfEpisodeConfig ecfg;
    AfTrajLimits lim;
    AfDataStream *ds;
    AfGather *gather;
    AfCollectAsync *async; /* asynchronous mode (algo.max_staleness > 0, world > 1) */
    AfTrajDecoder *dec;
    uint8_t *scratch;
    size_t scratch_bytes;
    uint32_t *queries;
    FILE *metrics_f, *eval_f;
    int log_rc;              /* rank 0: a metrics/eval line could not be written (AF_EFULL...) */
    char log_err[512];       /* ... and why; the learners stop at the next agreement */
    const char *tool_names[AF_METRICS_MAX_TOOLS];
    int n_tools;
    /* checkpoints and resume (issue 6; see the "checkpoints" section) */
    AfResumeMode resume;     /* how this process starts */
    AfCkptStore *ckpt;       /* RUN_DIR/ckpt.lmdb, learner 0 only */
    uint32_t start_it;       /* first iteration this process runs (the resumed step) */
    double ckpt_s;           /* seconds of the last checkpoint write (metrics checkpoint_s) */
    double wall_before;      /* training seconds of the processes before a resume */
    double t_start;          /* af_time_now() when this process began training */
    char last_metrics[8192]; /* the last metrics line, stored with each checkpoint */
    /* run.store_trajectories: this learner's shard of the trajectory store */
    AfTrajStore *tstore;
    AfTrajRecord *trecs;     /* (batch_queries * group_size) */
    uint8_t *tbuf;           /* packed trajectories of one iteration, grown as needed */
    size_t tbuf_cap;         /* bytes */
} Trainer;

static const AfDataset *train_split(const Trainer *T) { return af_suite_split(T->suite, AF_SPLIT_TRAIN); }
static const AfDataset *test_split(const Trainer *T) { return af_suite_split(T->suite, AF_SPLIT_TEST); }

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

/* One episode of item `q` of `split` with the rank's model planner. A trajectory that
 * would not pass the learner's validation is replaced by an INFRA_FAILED one that says
 * why, so every work unit yields exactly one accepted trajectory. */
static int run_one(Trainer *T, AfSplit split, uint32_t iteration, uint32_t q, uint32_t sample, uint64_t version,
                   Agentflow__Trajectory **out) {
    const AfDataset *ds = af_suite_split(T->suite, split);
    *out = NULL;
    if (q >= ds->n) return af_error_set(AF_ERANGE, "query %u outside the split (%zu questions)", q, ds->n);
    AfEpisodeConfig ec = T->ecfg;
    ec.iteration = iteration;
    ec.query_index = q;
    ec.sample_index = sample;
    ec.policy_version = version;
    ec.actor_rank = T->rank;
    Agentflow__Trajectory *t = NULL;
    int rc = af_episode_run(T->suite, &T->mods, T->planner, &ds->items[q], &ec, &t);
    if (rc) {
        char why[300];
        snprintf(why, sizeof why, "episode error: %s", af_error_detail());
        af_log(AF_LOG_WARN, "query %u sample %u: %s", q, sample, why);
        return failed_traj(why, T->suite->name, out);
    }
    if (split == AF_SPLIT_TRAIN) {
        AfTrajLimits lim = T->lim;
        lim.iteration_min = lim.iteration_max = t->iteration;
        lim.version_min = lim.version_max = t->policy_version;
        AfTrajReject why;
        if (af_traj_validate(t, &lim, &why)) {
            char msg[300];
            snprintf(msg, sizeof msg, "trajectory failed validation (%s): %s", af_traj_reject_name(why), af_error_detail());
            af_log(AF_LOG_WARN, "query %u sample %u: %s", q, sample, msg);
            af_trajectory_free(t);
            return failed_traj(msg, T->suite->name, out);
        }
    }
    *out = t;
    return 0;
}

/* Injected straggler (rollout.slow_fraction): after the episode, sleep (factor - 1) times
 * its wall time. Which episodes is a pure function of (seed, iteration, query, sample). */
static void maybe_straggle(const Trainer *T, uint32_t iteration, uint32_t query, uint32_t sample, double episode_s) {
    const AfConfig *c = T->cfg;
    if (c->rollout.slow_fraction <= 0.0) return;
    AfRng r;
    af_rng_init(&r, (uint64_t)c->run.seed, AF_RNG_FAULT, iteration, query, sample);
    if (af_rng_uniform(&r) >= c->rollout.slow_fraction) return;
    double extra = (c->rollout.slow_factor - 1.0) * episode_s;
    if (extra <= 0) return;
    struct timespec ts = {(time_t)extra, (long)((extra - (double)(time_t)extra) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Fault injection for tests (environment, never set in production):
 *   AF_FAULT_FAIL_ROLLOUTS=1   every training episode ends INFRA_FAILED;
 *   AF_FAULT_GARBAGE=R:N       actor rank R sends N malformed or invalid trajectory
 *                              messages to the owning learner before each real one
 *                              (same tag, so the learner must reject them in order). */
/*   AF_FAULT_SIGNAL=PHASE:IT   learner 0 raises SIGTERM to itself in iteration IT, at
 *                              PHASE "rollout" (before the trajectories are collected) or
 *                              "learn" (before the Flow-GRPO step): a preemption warning
 *                              that lands at a known point. */
static void fault_signal(const Trainer *T, const char *phase, uint32_t it) {
    const char *e = getenv("AF_FAULT_SIGNAL");
    char ph[16];
    unsigned at = 0;
    if (!e || T->rank != 0 || sscanf(e, "%15[a-z]:%u", ph, &at) != 2) return;
    if (at == it && !strcmp(ph, phase)) raise(SIGTERM);
}

static int fault_fail_rollouts(void) {
    const char *e = getenv("AF_FAULT_FAIL_ROLLOUTS");
    return e && *e == '1';
}

static int fault_garbage_count(int rank) {
    const char *e = getenv("AF_FAULT_GARBAGE");
    int r = -1, n = 0;
    if (!e || sscanf(e, "%d:%d", &r, &n) != 2 || r != rank || n <= 0) return 0;
    return n > 100000 ? 100000 : n;
}

/* N garbage messages derived from the real trajectory t (which is not modified), each
 * checked to be rejected by a decoder with the learners' limits: random bytes, copies
 * with a wrong iteration, with bytes flipped, truncated, with a token id out of range. */
static int send_garbage(Trainer *T, const Agentflow__Trajectory *t, int dest, int n) {
    Agentflow__Trajectory *c = NULL;
    AfTrajDecoder *dec = NULL;
    AfTrajLimits lim = T->lim;
    lim.iteration_min = lim.iteration_max = t->iteration;
    lim.version_min = lim.version_max = t->policy_version;
    size_t cap = T->scratch_bytes + 64, len = 0;
    uint8_t *buf = malloc(cap), *good = malloc(cap);
    int rc = buf && good ? af_traj_clone(t, &c) : af_error_set(AF_ENOMEM, "garbage");
    if (rc == 0) rc = af_traj_decoder_create(&lim, &dec);
    if (rc == 0) {
        c->iteration = t->iteration + 1000; /* the base of every mutated copy: never valid */
        rc = af_traj_encode(c, good, cap, &len);
    }
    AfRng r;
    af_rng_init(&r, (uint64_t)T->cfg->run.seed, AF_RNG_FAULT, t->iteration, t->query_index, t->sample_index);
    for (int i = 0; rc == 0 && i < n; i++) {
        size_t m = len;
        memcpy(buf, good, len);
        switch (i % 4) {
        case 0: /* random bytes */
            m = 1 + af_rng_below(&r, 512);
            for (size_t k = 0; k < m; k++) buf[k] = (uint8_t)af_rng_u32(&r);
            break;
        case 1: /* flipped bytes */
            for (int f = 0; f < 4; f++) buf[af_rng_below(&r, (uint32_t)m)] ^= (uint8_t)(1u + af_rng_below(&r, 255));
            break;
        case 2: /* truncated */
            m = af_rng_below(&r, (uint32_t)m);
            break;
        default: /* wrong iteration, as is */
            break;
        }
        Agentflow__Trajectory *out = NULL;
        if (af_traj_decode(dec, buf, m, &out, NULL) == 0) continue; /* would be accepted: not garbage */
        rc = af_traj_send_bytes(buf, m, dest, MPI_COMM_WORLD);
    }
    af_traj_decoder_destroy(dec);
    af_traj_free(c);
    free(buf), free(good);
    return rc;
}

static int actor_episode(void *ctx, const AfWorkUnit *u, uint64_t version, Agentflow__Trajectory **out) {
    Trainer *T = ctx;
    double t0 = af_time_now();
    int rc = fault_fail_rollouts() ? failed_traj("injected fault (AF_FAULT_FAIL_ROLLOUTS)", T->suite->name, out)
                                   : run_one(T, AF_SPLIT_TRAIN, u->iteration, u->query_index, u->sample, version, out);
    if (rc == 0) maybe_straggle(T, u->iteration, u->query_index, u->sample, af_time_now() - t0);
    int garbage = rc == 0 ? fault_garbage_count(T->rank) : 0;
    if (garbage) {
        Agentflow__Trajectory *t = *out; /* the loop fills these in after we return */
        t->iteration = u->iteration, t->slot = u->slot, t->query_index = u->query_index;
        t->sample_index = u->sample, t->policy_version = version, t->actor_rank = T->rank;
        rc = send_garbage(T, t, (int)(u->slot % (uint32_t)T->L), garbage);
    }
    return rc;
}

/* ------------------------------------------------------------------ evaluation */

/* Greedy evaluation of the test split on this policy rank's share (questions i with
 * i % P == prank); sums reduced onto policy rank 0. sums: correct, reward, questions. */
static int eval_share(Trainer *T, MPI_Comm comm, double sums[3]) {
    int P = 1, pr = 0;
    if (comm != MPI_COMM_NULL) {
        MPI_Comm_size(comm, &P);
        MPI_Comm_rank(comm, &pr);
    }
    const AfDataset *ds = test_split(T);
    size_t n = ds->n;
    if (T->cfg->suite.max_test > 0 && (size_t)T->cfg->suite.max_test < n) n = (size_t)T->cfg->suite.max_test;
    AfSampler greedy = {.temperature = 0.0f, .top_p = 1.0f};
    AfSampler train = {.temperature = (float)T->cfg->rollout.temperature, .top_p = (float)T->cfg->rollout.top_p};
    int rc = af_planner_model_set_sampler(T->planner, &greedy);
    if (rc) return rc;
    double local[3] = {0, 0, 0};
    for (size_t i = (size_t)pr; i < n; i += (size_t)P) {
        Agentflow__Trajectory *t = NULL;
        if ((rc = run_one(T, AF_SPLIT_TEST, EVAL_ITERATION, (uint32_t)i, 0, 0, &t))) break;
        int ok = t->status == AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_OK;
        local[0] += ok && t->reward >= 1.0f;
        local[1] += ok ? t->reward : 0.0f;
        local[2] += 1;
        af_trajectory_free(t);
    }
    int rc2 = af_planner_model_set_sampler(T->planner, &train);
    if (rc) return rc;
    if (rc2) return rc2;
    if (comm == MPI_COMM_NULL || P == 1) {
        memcpy(sums, local, sizeof local);
        return 0;
    }
    MPI_Request req;
    rc = af_mpi_check(MPI_Ireduce(local, sums, 3, MPI_DOUBLE, MPI_SUM, 0, comm, &req), "MPI_Ireduce eval");
    return rc ? rc : af_mpi_wait(&req, MPI_STATUS_IGNORE);
}

typedef struct {
    Trainer *T;
} ActorEvalCtx;

static int actor_eval(void *ctx, uint64_t version) {
    (void)version;
    Trainer *T = ctx;
    double sums[3];
    return eval_share(T, T->policy, sums);
}

/* Learner 0: publish EVAL + weights, evaluate its own share, write the line. Returns the
 * accuracy through *acc. */
static int evaluate(Trainer *T, uint32_t after_iteration, uint64_t version, double *acc) {
    double t0 = af_time_now(), sums[3] = {0, 0, 0};
    int rc = 0;
    if (T->policy != MPI_COMM_NULL && T->world > 1)
        rc = af_policy_publish(T->policy, AF_CTRL_EVAL, after_iteration, version, T->policy_m->params,
                               T->policy_m->n_params, NULL);
    if (rc == 0) rc = eval_share(T, T->world > 1 ? T->policy : MPI_COMM_NULL, sums);
    if (rc) return af_error_wrap(rc, "evaluation after iteration %u", after_iteration);
    *acc = sums[2] > 0 ? sums[0] / sums[2] : 0.0;
    double dt = af_time_now() - t0;
    af_log_progress("eval after %u iterations: held-out greedy accuracy %.4f (%g of %g), reward %.4f, %.1fs",
                    after_iteration, *acc, sums[0], sums[2], sums[2] > 0 ? sums[1] / sums[2] : 0.0, dt);
    if (T->eval_f && !T->log_rc) {
        char line[512], path[4200];
        int n = snprintf(line, sizeof line,
                         "{\"iteration\": %u, \"policy_version\": %llu, \"split\": \"test\", \"questions\": %.0f, "
                         "\"accuracy\": %.6f, \"reward_mean\": %.6f, \"eval_s\": %.3f}",
                         after_iteration, (unsigned long long)version, sums[2], *acc,
                         sums[2] > 0 ? sums[1] / sums[2] : 0.0, dt);
        snprintf(path, sizeof path, "%s/eval.jsonl", T->run_dir);
        if ((T->log_rc = af_append_line(fileno(T->eval_f), path, line, (size_t)n)))
            snprintf(T->log_err, sizeof T->log_err, "%s", af_error_detail());
    }
    return 0;
}

/* ------------------------------------------------------------------ set-up */

static int suite_from_config(const AfConfig *c, AfSuite **out) {
    AfSuiteOptions o;
    af_world_suite_options(c, &o);
    int rc = af_suite_create(c->suite.name, &o, out);
    return rc ? af_error_wrap(rc, "suite %s", c->suite.name) : 0;
}

static AfModelConfig model_config(const AfConfig *c, const AfSuite *s) {
    AfModelConfig m = af_model_config_default();
    m.vocab_size = (int)af_vocab_size(s->vocab);
    m.d_model = (int)c->model.d_model;
    m.n_layers = (int)c->model.n_layers;
    m.n_heads = (int)c->model.n_heads;
    m.n_kv_heads = (int)c->model.n_kv_heads;
    m.d_ff = (int)c->model.d_ff;
    m.max_seq = (int)c->model.max_seq;
    m.rope_theta = (float)c->model.rope_theta;
    m.rms_eps = (float)c->model.rms_eps;
    m.qkv_bias = c->model.qkv_bias;
    m.tied_embeddings = c->model.tied_embeddings;
    return m;
}

/* Load model.init_from into m (same shape required). */
static int init_from_dir(AfModel *m, const char *dir) {
    AfModel *src = NULL;
    int rc = af_model_load_dir(dir, 0, 0, 0, &src);
    if (rc) return af_error_wrap(rc, "model.init_from %s", dir);
    if (src->n_params != m->n_params || memcmp(&src->cfg, &m->cfg, sizeof m->cfg) != 0) {
        af_model_destroy(src);
        return af_error_set(AF_ECONFIG,
                            "model.init_from %s: its shape (d_model %d, layers %d, heads %d/%d, d_ff %d, vocab %d, max_seq %d) "
                            "differs from the configured model", dir, src->cfg.d_model, src->cfg.n_layers, src->cfg.n_heads,
                            src->cfg.n_kv_heads, src->cfg.d_ff, src->cfg.vocab_size, src->cfg.max_seq);
    }
    memcpy(m->params, src->params, m->n_params * sizeof(float));
    af_model_destroy(src);
    return 0;
}

static void trainer_free(Trainer *T) {
    af_update_destroy(T->upd);
    af_adamw_destroy(T->opt);
    af_planner_destroy(T->planner);
    af_model_destroy(T->ref_m);
    af_model_destroy(T->policy_m);
    af_modules_clear(&T->mods);
    af_suite_destroy(T->suite);
    af_data_stream_destroy(T->ds);
    af_gather_destroy(T->gather);
    af_collect_async_destroy(T->async);
    af_traj_decoder_destroy(T->dec);
    free(T->scratch);
    free(T->queries);
    if (T->metrics_f) fclose(T->metrics_f);
    if (T->eval_f) fclose(T->eval_f);
    af_ckpt_close(T->ckpt);
    af_trajstore_close(T->tstore);
    free(T->trecs);
    free(T->tbuf);
    if (T->learners != MPI_COMM_NULL) MPI_Comm_free(&T->learners);
    if (T->policy != MPI_COMM_NULL) MPI_Comm_free(&T->policy);
}

/* Removes the turns whose bit is set (explored: not demonstrations) from t. */
static void drop_turns(Agentflow__Trajectory *t, uint64_t turns) {
    size_t k = 0;
    for (size_t i = 0; i < t->n_turns; i++) {
        if (i < 64 && (turns >> i & 1)) {
            protobuf_c_message_free_unpacked(&t->turns[i]->base, NULL);
            continue;
        }
        t->turns[k++] = t->turns[i];
    }
    t->n_turns = k;
}

/* Behaviour cloning on learner ranks (identical everywhere: same data, same order) of
 * training-split episodes of the suite's random valid actions (the action format only)
 * or of its oracle (supervised fine-tuning on solutions). */
static int warm_start(Trainer *T) {
    const AfConfig *c = T->cfg;
    const int steps = (int)c->model.warmstart_steps, nb = (int)c->model.warmstart_batch;
    if (steps <= 0 || !T->is_learner || T->resume) return 0; /* resumed: state comes from the checkpoint */
    AfPlanner *demo = NULL;
    Agentflow__Trajectory **tr = calloc((size_t)nb, sizeof *tr);
    const int oracle = strcmp(c->model.warmstart_planner, "oracle") == 0;
    const double explore = c->model.warmstart_explore;
    int rc = !tr               ? af_error_set(AF_ENOMEM, "warm start")
             : !oracle         ? af_planner_random_create(&demo)
             : explore > 0.0 || T->suite->attempts > 1 || T->suite->retries > 0
                 ? af_planner_explorer_create(explore, &demo)
                               : af_planner_oracle_create(&demo);
    const AfDataset *ds = train_split(T);
    double t0 = af_time_now(), loss = 0, demo_s = 0, update_s = 0;
    const float rl_lr = T->opt->cfg.lr, peak = (float)c->model.warmstart_lr;
    for (int s = 0; rc == 0 && s < steps; s++) {
        /* 20-step linear warm-up, then cosine decay to 10% of the peak */
        const double warm = 20.0, pr = steps > warm ? (s - warm) / (steps - warm) : 1.0;
        T->opt->cfg.lr = s < warm ? peak * (float)(s + 1) / (float)warm
                                  : peak * (float)(0.1 + 0.45 * (1.0 + cos(M_PI * (pr < 0 ? 0 : pr))));
        /* the batch is shared out over the learners (episode i on learner i mod L) */
        int mine = 0;
        const double td = af_time_now();
        for (int i = T->lidx; i < nb && rc == 0; i += T->L) {
            AfEpisodeConfig ec = T->ecfg;
            ec.iteration = WARMSTART_ITERATION + (uint32_t)s;
            ec.query_index = (uint32_t)(((uint64_t)s * (uint64_t)nb + (uint64_t)i) % ds->n);
            ec.sample_index = 0;
            rc = af_episode_run(T->suite, &T->mods, demo, &ds->items[ec.query_index], &ec, &tr[mine]);
            if (rc == 0) drop_turns(tr[mine++], af_planner_explored(demo));
        }
        if (T->L > 1) { /* a learner whose demonstration failed stops them all, not a hang */
            int bad = rc != 0, any = 0;
            int mrc = af_mpi_allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, T->learners);
            if (mrc) rc = mrc;
            else if (any && !rc) rc = af_error_set(AF_ECONFIG, "warm start step %d: another learner's demonstration failed", s + 1);
        }
        demo_s += af_time_now() - td;
        const double tu = af_time_now();
        if (rc == 0) rc = af_update_bc_step(T->upd, (const Agentflow__Trajectory *const *)tr, mine, &loss);
        update_s += af_time_now() - tu;
        for (int i = 0; i < mine; i++) af_trajectory_free(tr[i]), tr[i] = NULL;
        if (rc == 0 && (s % 50 == 0 || s == steps - 1))
            af_log_progress("warm start %d/%d: action NLL %.4f (%.1fs: demonstrations %.1fs, updates %.1fs)", s + 1,
                            steps, loss, af_time_now() - t0, demo_s, update_s);
    }
    af_planner_destroy(demo);
    free(tr);
    if (rc) return af_error_wrap(rc, "warm start");
    T->opt->cfg.lr = rl_lr;
    /* A fresh optimizer state for RL: the warm start is part of initialisation. */
    memset(T->opt->m, 0, T->opt->n * sizeof(float));
    memset(T->opt->v, 0, T->opt->n * sizeof(float));
    T->opt->step = 0;
    return 0;
}

static int setup(Trainer *T) {
    const AfConfig *c = T->cfg;
    int rc;
    if (T->world > 1 && T->L >= T->world)
        return af_error_set(AF_ECONFIG, "topology.learners (%d) must be smaller than the number of ranks (%d): "
                                        "at least one rank must be an actor", T->L, T->world);
    T->is_learner = T->rank < T->L;
    T->lidx = T->rank;
    if ((rc = af_mpi_check(MPI_Comm_split(MPI_COMM_WORLD, T->is_learner ? 0 : 1, T->rank, &T->learners),
                           "MPI_Comm_split(learners)")))
        return rc;
    if (!T->is_learner) {
        MPI_Comm_free(&T->learners);
        T->learners = MPI_COMM_NULL;
    }
    int in_policy = T->rank == 0 || !T->is_learner;
    if ((rc = af_mpi_check(MPI_Comm_split(MPI_COMM_WORLD, in_policy ? 0 : MPI_UNDEFINED, T->rank, &T->policy),
                           "MPI_Comm_split(policy)")))
        return rc;

    if ((rc = suite_from_config(c, &T->suite))) return rc;
    if (train_split(T)->n == 0) return af_error_set(AF_ECONFIG, "suite %s: the training split is empty", c->suite.name);
    if ((rc = af_modules_builtin(T->suite, &T->mods))) return rc;
    T->mcfg = model_config(c, T->suite);
    if ((rc = af_model_config_validate(&T->mcfg))) return af_error_wrap(rc, "model");

    af_world_episode_config(c, &T->ecfg);

    const uint32_t B = (uint32_t)c->rollout.batch_queries, G = (uint32_t)c->rollout.group_size;
    const int runs_episodes = !T->is_learner || T->world == 1 || T->rank == 0;
    /* learner batch capacity: one trajectory at least; a mini-batch's worth when small */
    int cap_tok = (int)(c->rollout.max_turns * c->model.max_seq);
    if (cap_tok < 8192) cap_tok = 8192;
    int cap_seq = (int)(c->rollout.max_turns * G * 4);
    if (T->is_learner) {
        if ((rc = af_model_create(&T->mcfg, cap_tok, cap_seq, AF_MODEL_GRADS, &T->policy_m))) return rc;
        if (c->algo.kl_coef != 0.0 && (rc = af_model_create(&T->mcfg, cap_tok, cap_seq, 0, &T->ref_m))) return rc;
    } else if ((rc = af_model_create(&T->mcfg, 0, 0, 0, &T->policy_m))) {
        return rc;
    }
    af_model_set_threads((int)c->model.threads);
    af_model_init_params_std(T->policy_m, (uint64_t)c->run.seed, c->model.init_std);
    if (c->model.init_from[0] && !T->resume && (rc = init_from_dir(T->policy_m, c->model.init_from))) return rc;
    if (runs_episodes) {
        AfSampler s = {.temperature = (float)c->rollout.temperature, .top_p = (float)c->rollout.top_p};
        if ((rc = af_planner_model_create(T->policy_m, &s, &T->planner))) return rc;
    }

    /* trajectory limits (what learners accept; actors check their own output with it) */
    memset(&T->lim, 0, sizeof T->lim);
    T->lim.num_queries = (uint32_t)train_split(T)->n;
    T->lim.group_size = G;
    T->lim.vocab_size = (uint32_t)T->mcfg.vocab_size;
    T->lim.max_turns = (uint32_t)c->rollout.max_turns;
    T->lim.max_prompt_tokens = (uint32_t)c->model.max_seq;
    T->lim.max_action_tokens = (uint32_t)c->rollout.max_action_tokens;
    T->lim.max_string_bytes = 1u << 16;
    T->lim.suite = T->suite->name;
    T->lim.world_size = T->world;
    T->scratch_bytes = af_traj_max_bytes(&T->lim);
    if (!(T->scratch = malloc(T->scratch_bytes))) return af_error_set(AF_ENOMEM, "trajectory scratch");

    if (T->is_learner) {
        AfAdamWConfig ac = af_adamw_config_default();
        ac.lr = (float)c->algo.lr;
        ac.beta1 = (float)c->algo.adam_beta1;
        ac.beta2 = (float)c->algo.adam_beta2;
        ac.eps = (float)c->algo.adam_eps;
        ac.weight_decay = (float)c->algo.weight_decay;
        if ((rc = af_adamw_create(&ac, T->policy_m->n_params, &T->opt))) return rc;
        AfUpdateConfig uc;
        memset(&uc, 0, sizeof uc);
        af_grpo_adv_options_default(&uc.adv);
        uc.adv.stats = strcmp(c->algo.adv_stats, "turn") == 0 ? AF_ADV_STATS_TURN : AF_ADV_STATS_TRAJ;
        uc.adv.drop_zero_variance = c->algo.drop_zero_variance;
        uc.adv.normalize_std = c->algo.group_norm;
        uc.adv.final_turn_only = strcmp(c->algo.reward_turns, "final") == 0;
        uc.adv.last_try_credit = strcmp(c->algo.reward_turns, "last_try") == 0;
        uc.monolithic = T->ecfg.monolithic;
        af_grpo_loss_options_default(&uc.loss);
        uc.loss.clip_low = c->algo.clip_low;
        uc.loss.clip_high = c->algo.clip_high;
        uc.loss.dual_clip = c->algo.dual_clip;
        uc.loss.kl_coef = c->algo.kl_coef;
        uc.loss.agg = strcmp(c->algo.loss_agg, "token_mean") == 0 ? AF_LOSS_AGG_TOKEN_MEAN : AF_LOSS_AGG_PAPER;
        uc.ppo_epochs = (int)c->algo.ppo_epochs;
        uc.minibatch_queries = (int)c->algo.minibatch;
        uc.temperature = (float)c->rollout.temperature;
        uc.grad_clip = c->algo.grad_clip;
        uc.mismatch_tol = 1e-3;
        if ((rc = af_update_create(&uc, T->policy_m, T->ref_m, T->opt, T->learners, &T->upd))) return rc;
        if ((rc = af_data_stream_create((uint64_t)c->run.seed, (uint32_t)train_split(T)->n, B, &T->ds))) return rc;
        if ((rc = af_gather_create(B, G, (uint32_t)T->lidx, (uint32_t)T->L, &T->gather))) return rc;
        if (c->algo.max_staleness > 0 && T->world > 1 &&
            (rc = af_collect_async_create((uint32_t)c->algo.max_staleness, (uint32_t)c->run.iterations, B, G, T->L,
                                          T->lidx, T->world - T->L, &T->async)))
            return rc;
        if ((rc = af_traj_decoder_create(&T->lim, &T->dec))) return rc;
        if (!(T->queries = malloc(B * sizeof *T->queries))) return af_error_set(AF_ENOMEM, "batch");
        if ((rc = warm_start(T))) return rc;
        if (T->ref_m) af_model_copy_params(T->ref_m, T->policy_m);
        if (T->rank == 0 && c->model.warmstart_steps > 0) { /* reusable with model.init_from */
            char dir[4096];
            snprintf(dir, sizeof dir, "%s/warmstart", T->run_dir);
            if ((rc = af_model_save_dir(T->policy_m, dir))) return af_error_wrap(rc, "saving the warm-started planner");
            af_log(AF_LOG_INFO, "warm-started planner written to %s (reuse with --init-from)", dir);
        }
    }
    /* tools named in metrics: the suite's, then "other" for unparsable actions */
    for (size_t i = 0; i < T->suite->n_tools && T->n_tools < AF_METRICS_MAX_TOOLS - 1; i++)
        T->tool_names[T->n_tools++] = T->suite->tools[i]->name;
    T->tool_names[T->n_tools++] = "other";
    return 0;
}

/* Rank 0: metrics.jsonl and eval.jsonl, new or (resumed) appended to after ckpt_begin
 * trimmed them to the resume point. */
static int open_logs(Trainer *T) {
    if (T->rank != 0) return 0;
    const char *mode = T->resume ? "a" : "w";
    char path[4096];
    snprintf(path, sizeof path, "%s/metrics.jsonl", T->run_dir);
    if (!(T->metrics_f = fopen(path, mode))) return af_error_set(AF_EIO, "cannot open %s", path);
    snprintf(path, sizeof path, "%s/eval.jsonl", T->run_dir);
    if (T->cfg->run.eval_every > 0 && !(T->eval_f = fopen(path, mode)))
        return af_error_set(AF_EIO, "cannot open %s", path);
    return 0;
}

/* ------------------------------------------------------------------ one iteration (learners) */

/* With log level debug: the first episode of each iteration, turn by turn. */
static void log_episode(uint32_t it, const Agentflow__Trajectory *t) {
    AF_LOG_D("iteration %u query %u sample %u: %zu turns, answer \"%s\", reward %g", it, t->query_index,
             t->sample_index, t->n_turns, t->answer, t->reward);
    for (size_t i = 0; i < t->n_turns; i++) {
        const Agentflow__Turn *u = t->turns[i];
        AF_LOG_D("  turn %zu: action \"%s\" -> tool %s status %d: %.120s", i, u->action_text, u->tool,
                 (int)u->tool_status, u->result);
    }
}

static void batch_of(void *ctx, uint32_t iteration, uint32_t *queries) {
    Trainer *T = ctx;
    af_data_stream_batch(T->ds, iteration, queries);
}

static int learner_iteration(Trainer *T, uint32_t it, AfMetrics *M) {
    const AfConfig *c = T->cfg;
    const uint32_t B = (uint32_t)c->rollout.batch_queries, G = (uint32_t)c->rollout.group_size;
    const uint64_t version = it;
    int rc;
    double t_it = af_time_now(), bcast_s = 0;
    af_data_stream_batch(T->ds, it, T->queries);
    af_metrics_reset(M, it, version);
    /* 1. weights out */
    if (T->rank == 0 && T->world > 1 &&
        (rc = af_policy_publish(T->policy, AF_CTRL_RUN, it, version, T->policy_m->params, T->policy_m->n_params,
                                &bcast_s)))
        return rc;
    /* 2. rollouts */
    double t0 = af_time_now();
    fault_signal(T, "rollout", it);
    af_gather_begin(T->gather, it, T->queries);
    const uint32_t stale = T->async ? (uint32_t)c->algo.max_staleness : 0;
    af_traj_decoder_set_window(T->dec, it, it + stale, version >= stale ? version - stale : 0, version);
    uint64_t rejected_before = af_traj_decoder_stats(T->dec)->rejected;
    AfCollectStats cs;
    memset(&cs, 0, sizeof cs);
    if (T->world == 1) {
        for (uint32_t s = 0; s < B; s++)
            for (uint32_t g = 0; g < G; g++) {
                Agentflow__Trajectory *t = NULL;
                double te = af_time_now();
                rc = fault_fail_rollouts() ? failed_traj("injected fault (AF_FAULT_FAIL_ROLLOUTS)", T->suite->name, &t)
                                           : run_one(T, AF_SPLIT_TRAIN, it, T->queries[s], g, version, &t);
                if (rc) return rc;
                maybe_straggle(T, it, T->queries[s], g, af_time_now() - te);
                t->iteration = it, t->slot = s, t->query_index = T->queries[s], t->sample_index = g;
                t->policy_version = version, t->actor_rank = 0;
                rc = af_gather_offer(T->gather, t);
                af_trajectory_free(t);
                if (rc) return af_error_wrap(rc, "local rollout slot %u sample %u", s, g);
            }
    } else if (T->async) {
        if ((rc = af_collect_iteration_async(T->async, MPI_COMM_WORLD, it, batch_of, T, T->dec, T->gather, &cs)))
            return rc;
    } else if ((rc = af_collect_iteration(MPI_COMM_WORLD, T->rank, T->L, T->world - T->L, it, T->queries, B, G, T->dec,
                                          T->gather, &cs))) {
        return rc;
    }
    double rollout_s = af_time_now() - t0;
    /* 3. the Flow-GRPO step */
    t0 = af_time_now();
    uint32_t n_own = af_gather_owned(T->gather);
    const Agentflow__Trajectory **tr = malloc(((size_t)n_own * G + 1) * sizeof *tr);
    uint32_t *slots = malloc(((size_t)n_own + 1) * sizeof *slots);
    if (!tr || !slots) {
        free(tr), free(slots);
        return af_error_set(AF_ENOMEM, "iteration %u batch", it);
    }
    for (uint32_t k = 0; k < n_own; k++) {
        slots[k] = af_gather_owned_slot(T->gather, k);
        for (uint32_t g = 0; g < G; g++) {
            tr[(size_t)k * G + g] = af_gather_get(T->gather, k, g);
            if (tr[(size_t)k * G + g]) af_metrics_add_trajectory(M, tr[(size_t)k * G + g]);
        }
    }
    if (af_log_enabled(AF_LOG_DEBUG) && n_own > 0 && tr[0]) log_episode(it, tr[0]);
    AfUpdateStats us;
    fault_signal(T, "learn", it);
    rc = af_update_run(T->upd, tr, slots, (int)n_own, B, G, &us);
    free(tr), free(slots);
    if (rc) return af_error_wrap(rc, "iteration %u learner step", it);
    double learn_s = af_time_now() - t0;
    /* 4. metrics */
    AfMetricSums *S = &M->sums;
    S->groups = us.groups;
    S->zero_variance_groups = us.zero_variance_groups;
    S->rejected = (double)(af_traj_decoder_stats(T->dec)->rejected - rejected_before) + (double)cs.stray;
    S->skipped = us.skipped_samples;
    S->learner_tokens = us.learner_tokens;
    S->mismatch_sum = us.mismatch_sum;
    S->mismatch_tokens = us.mismatch_tokens;
    S->entropy_sum = us.entropy_sum;
    M->max.mismatch_max = us.mismatch_max;
    M->g.loss = us.loss, M->g.pg_loss = us.pg_loss, M->g.kl = us.kl;
    M->g.clip_fraction = us.clip_fraction, M->g.grad_norm = us.grad_norm;
    M->g.rollout_s = rollout_s, M->g.learn_s = learn_s, M->g.broadcast_s = bcast_s;
    M->g.wait_s = cs.wait_s;
    M->g.checkpoint_s = T->ckpt_s; /* the checkpoint written after the previous iteration */
    if ((rc = af_metrics_reduce(M, T->learners))) return rc;
    M->g.iteration_s = af_time_now() - t_it;
    if (T->rank == 0) {
        char line[8192];
        int n = af_metrics_json(M, line, sizeof line);
        if (n > 0 && T->metrics_f && !T->log_rc) {
            char path[4200];
            snprintf(path, sizeof path, "%s/metrics.jsonl", T->run_dir);
            if ((T->log_rc = af_append_line(fileno(T->metrics_f), path, line, (size_t)n)))
                snprintf(T->log_err, sizeof T->log_err, "%s", af_error_detail());
            else snprintf(T->last_metrics, sizeof T->last_metrics, "%s", line);
        }
        if (af_metrics_progress(M, (uint64_t)c->run.iterations, line, sizeof line) > 0) af_log_progress("%s", line);
    }
    return 0;
}

/* ------------------------------------------------------------------ checkpoints (issue 6)
 *
 * Learner 0 owns RUN_DIR/ckpt.lmdb and writes every checkpoint (learners hold identical
 * parameters and moments after each step's allreduce). On resume learner 0 loads the
 * checkpoint and broadcasts it to the other learners over the learner communicator, so
 * only learner 0 needs the run directory's store; actors receive the policy with every
 * iteration as always. The state of a run after `step` iterations is: the parameters,
 * both AdamW moments and its step count, the reference planner (when algo.kl_coef uses
 * one), and the iteration number: the data stream, every episode's random stream and the
 * policy version are functions of (seed, iteration), so nothing else is carried. */

static int ckpt_open(Trainer *T) {
    AfCkptOptions o = af_ckpt_options_default();
    o.keep_last = (int)T->cfg->run.keep_checkpoints;
    o.map_size = (size_t)T->cfg->run.checkpoint_map_mb << 20;
    o.local_dir = T->cfg->run.checkpoint_dir;
    return af_ckpt_open(T->run_dir, &o, &T->ckpt);
}

/* Learner 0: choose the checkpoint, check the configuration against it, load it. */
static int ckpt_load_resume(Trainer *T) {
    uint64_t step = 0;
    int rc;
    if (T->resume == AF_RESUME_LATEST_VALID) {
        char skipped[4096];
        if ((rc = af_ckpt_latest_valid(T->ckpt, &step, skipped, sizeof skipped)))
            return af_error_wrap(rc, "--resume=latest-valid: %s", skipped[0] ? skipped : "");
        if (skipped[0])
            af_log(AF_LOG_WARN, "--resume=latest-valid: falling back to checkpoint step %llu; skipped:\n%s",
                   (unsigned long long)step, skipped);
    } else if ((rc = af_ckpt_latest(T->ckpt, &step))) {
        if (rc == AF_ENOTFOUND)
            return af_error_set(AF_ENOTFOUND, "--resume: %s holds no checkpoint", af_ckpt_path(T->ckpt));
        return af_error_wrap(rc, "--resume (try --resume=latest-valid)");
    }
    /* the configuration first: a changed key is named as such, not as a shape mismatch */
    AfCkptInfo *items = NULL;
    int n = 0;
    if ((rc = af_ckpt_list(T->ckpt, &items, &n))) return rc;
    for (int i = 0; i < n && rc == 0; i++)
        if (items[i].meta.step == step && !items[i].broken)
            rc = af_resume_check_config(items[i].meta.config_json, step, T->cfg);
    af_ckpt_list_free(items, n);
    if (rc) return rc;
    if (step >= (1u << 31)) return af_error_set(AF_ERANGE, "--resume: checkpoint step %llu out of range", (unsigned long long)step);
    AfCkptMeta meta;
    rc = af_ckpt_load(T->ckpt, step, &T->mcfg, T->policy_m->n_params, T->policy_m->params, T->opt->m, T->opt->v,
                      T->ref_m ? T->ref_m->params : NULL, &meta);
    if (rc) {
        return af_error_wrap(rc, "--resume from checkpoint step %llu%s", (unsigned long long)step,
                             T->resume == AF_RESUME_LATEST ? " (--resume=latest-valid falls back to an older one)" : "");
    }
    T->opt->step = (int64_t)meta.adam_step;
    for (int i = 0; i < meta.n_counters; i++)
        if (strcmp(meta.counters[i].name, "train_wall_s") == 0) T->wall_before = meta.counters[i].value;
    af_ckpt_meta_clear(&meta);
    T->start_it = (uint32_t)step;
    af_log(AF_LOG_INFO, "resuming from checkpoint step %llu of %s", (unsigned long long)step, af_ckpt_path(T->ckpt));
    return 0;
}

/* Learner 0, resuming: the run directory continues from `step`: its config.json is the
 * effective config of the resumed run, and log lines of iterations after the checkpoint
 * (an abandoned timeline) are dropped. */
static int ckpt_resume_files(Trainer *T) {
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", T->run_dir);
    int rc = af_config_save(T->cfg, path);
    snprintf(path, sizeof path, "%s/metrics.jsonl", T->run_dir);
    if (rc == 0) rc = af_resume_trim_jsonl(path, T->start_it, NULL);
    snprintf(path, sizeof path, "%s/eval.jsonl", T->run_dir);
    if (rc == 0) rc = af_resume_trim_jsonl(path, (uint64_t)T->start_it + 1, NULL);
    return rc;
}

/* Learners (collective over T->learners): open the store on learner 0 and, resuming,
 * load the checkpoint there and hand it to the other learners. */
static int ckpt_begin(Trainer *T) {
    int rc = 0;
    if (T->lidx == 0) {
        rc = ckpt_open(T);
        if (rc == 0 && T->resume) rc = ckpt_load_resume(T);
        if (rc == 0 && T->resume) rc = ckpt_resume_files(T);
    }
    int st = rc != 0;
    int brc = af_mpi_bcast(&st, 1, MPI_INT, 0, T->learners);
    if (brc) return brc;
    if (st) return rc ? rc : af_error_set(AF_ESTATE, "learner 0 could not open or load the checkpoint (see its message)");
    if (!T->resume || T->L == 1) return 0;
    uint64_t hdr[2] = {T->start_it, (uint64_t)T->opt->step};
    if ((rc = af_mpi_bcast(hdr, 2, MPI_UINT64_T, 0, T->learners))) return rc;
    T->start_it = (uint32_t)hdr[0];
    T->opt->step = (int64_t)hdr[1];
    size_t n = T->policy_m->n_params;
    if ((rc = af_resume_bcast_floats(T->policy_m->params, n, 0, T->learners)) ||
        (rc = af_resume_bcast_floats(T->opt->m, n, 0, T->learners)) ||
        (rc = af_resume_bcast_floats(T->opt->v, n, 0, T->learners)))
        return rc;
    if (T->ref_m && (rc = af_resume_bcast_floats(T->ref_m->params, n, 0, T->learners))) return rc;
    return 0;
}

/* Learner 0: write checkpoint `step` (iterations completed). */
static int ckpt_write(Trainer *T, uint32_t step) {
    double t0 = af_time_now();
    char *config_json = af_config_to_json(T->cfg, 0);
    if (!config_json) return af_error_set(AF_ENOMEM, "checkpoint step %u: config", step);
    AfCkptCounter ctr[1];
    memset(ctr, 0, sizeof ctr);
    snprintf(ctr[0].name, sizeof ctr[0].name, "train_wall_s");
    ctr[0].value = T->wall_before + (t0 - T->t_start);
    AfCkptSave sv = {.step = step,
                     .policy_version = step, /* synchronous mode: one policy version per iteration */
                     .config_json = config_json,
                     .shape = T->mcfg,
                     .tensors = T->policy_m->tensors,
                     .n_tensors = T->policy_m->n_tensors,
                     .n_params = T->policy_m->n_params,
                     .params = T->policy_m->params,
                     .adam_m = T->opt->m,
                     .adam_v = T->opt->v,
                     .ref_params = T->ref_m ? T->ref_m->params : NULL,
                     .adam_step = (uint64_t)T->opt->step,
                     .data_position = (uint64_t)step * (uint64_t)T->cfg->rollout.batch_queries,
                     .counters = ctr,
                     .n_counters = 1,
                     .metrics_json = T->last_metrics};
    int rc = af_ckpt_save(T->ckpt, &sv);
    free(config_json);
    if (rc == AF_EFULL && T->cfg->run.checkpoint_map_mb > 0)
        rc = af_error_wrap(rc, "run.checkpoint_map_mb=%lld", (long long)T->cfg->run.checkpoint_map_mb);
    T->ckpt_s = af_time_now() - t0;
    if (rc == 0)
        af_log(AF_LOG_INFO, "checkpoint step %u written to %s (%.2fs)", step, af_ckpt_path(T->ckpt), T->ckpt_s);
    return rc;
}

/* Learners (collective): checkpoint `step` on learner 0; everyone learns the outcome, so
 * a failure (full disk, map too small) stops every learner the same way. */
static int ckpt_step(Trainer *T, uint32_t step) {
    int rc = T->lidx == 0 ? ckpt_write(T, step) : 0;
    int st = rc != 0;
    int brc = af_mpi_bcast(&st, 1, MPI_INT, 0, T->learners);
    if (brc) return brc;
    if (st && rc == 0) rc = af_error_set(AF_EIO, "learner 0 could not write checkpoint step %u (see its message)", step);
    return rc;
}

/* ------------------------------------------------------------------ trajectory store
 * run.store_trajectories: every learner keeps the trajectories of the groups it owns in
 * its shard of the store (learner/trajstore.h), one write transaction per iteration. The
 * store is a record, not run state: if it fails (disk full) the run goes on without it. */

static int traj_store_open(Trainer *T) {
    if (!T->cfg->run.store_trajectories) return 0;
    size_t n = (size_t)T->cfg->rollout.batch_queries * (size_t)T->cfg->rollout.group_size;
    if (!(T->trecs = calloc(n, sizeof *T->trecs))) return af_error_set(AF_ENOMEM, "trajectory store records");
    return af_trajstore_open(T->run_dir, T->lidx, 0, 0, &T->tstore);
}

static void traj_store_iteration(Trainer *T, uint32_t it) {
    if (!T->tstore) return;
    const uint32_t G = (uint32_t)T->cfg->rollout.group_size, n_own = af_gather_owned(T->gather);
    size_t need = 0;
    for (uint32_t k = 0; k < n_own; k++)
        for (uint32_t g = 0; g < G; g++) {
            const Agentflow__Trajectory *t = af_gather_get(T->gather, k, g);
            if (t) need += af_traj_packed_size(t);
        }
    int rc = 0, n = 0;
    if (need > T->tbuf_cap) { /* grows to the largest iteration, then stays */
        uint8_t *b = realloc(T->tbuf, need);
        if (!b) rc = af_error_set(AF_ENOMEM, "trajectory store buffer (%zu bytes)", need);
        else T->tbuf = b, T->tbuf_cap = need;
    }
    size_t off = 0;
    for (uint32_t k = 0; rc == 0 && k < n_own; k++)
        for (uint32_t g = 0; rc == 0 && g < G; g++) {
            const Agentflow__Trajectory *t = af_gather_get(T->gather, k, g);
            size_t len = 0;
            if (!t || (rc = af_traj_encode(t, T->tbuf + off, T->tbuf_cap - off, &len))) continue;
            T->trecs[n++] = (AfTrajRecord){it, t->query_index, t->sample_index, T->tbuf + off, len};
            off += len;
        }
    if (rc == 0) rc = af_trajstore_put_batch(T->tstore, T->trecs, n);
    if (rc) {
        af_log(AF_LOG_WARN, "trajectory store: iteration %u: %s; no longer storing trajectories", it, af_error_detail());
        af_trajstore_close(T->tstore);
        T->tstore = NULL;
    }
}

/* ------------------------------------------------------------------ the run */

int af_train_run(const AfConfig *cfg, const char *run_dir, const AfMpi *mpi, AfTrainResult *res) {
    return af_train_run_resume(cfg, run_dir, mpi, AF_RESUME_NONE, res);
}

int af_train_run_resume(const AfConfig *cfg, const char *run_dir, const AfMpi *mpi, AfResumeMode resume,
                        AfTrainResult *res) {
    const double t_start = af_time_now();
    Trainer T;
    memset(&T, 0, sizeof T);
    T.cfg = cfg;
    T.resume = resume;
    T.run_dir = run_dir;
    T.rank = mpi->rank;
    T.world = mpi->size;
    T.L = (int)cfg->topology.learners;
    T.learners = T.policy = MPI_COMM_NULL;
    res->iterations_done = 0;
    res->stopped_by_signal = 0;
    res->stopped_by_time = 0;
    res->eval_before = res->eval_after = -1;
    res->start_iteration = 0;
    res->clean_stop = 0;
    int rc = setup(&T);
    /* agree on set-up success everywhere, so no rank waits for a peer that gave up */
    int bad = rc != 0, any = 0;
    if (af_mpi_allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD) == 0 && any && rc == 0)
        rc = af_error_set(AF_ESTATE, "another rank failed during set-up (see its message)");
    if (rc) goto done;
    af_signals_install();

    if (!T.is_learner) { /* actor: serve until STOP */
        AfActorHooks h = {.ctx = &T,
                          .params = T.policy_m->params,
                          .n_params = T.policy_m->n_params,
                          .run_episode = actor_episode,
                          .on_weights = NULL,
                          .run_eval = actor_eval,
                          .max_staleness = (uint32_t)cfg->algo.max_staleness};
        AfActorStats st;
        memset(&st, 0, sizeof st);
        rc = af_actor_run(&h, MPI_COMM_WORLD, T.policy, T.L, T.scratch, T.scratch_bytes, &st);
        goto done;
    }

    /* checkpoint store, resume; a failure here is known to every learner, and the actors
     * are told to stop: the run ends cleanly */
    if ((rc = ckpt_begin(&T)) || (rc = open_logs(&T))) {
        res->clean_stop = 1;
        goto stop;
    }
    if (traj_store_open(&T)) { /* a record, not run state: the run goes on without it */
        af_log(AF_LOG_WARN, "trajectory store: %s; not storing trajectories", af_error_detail());
        af_trajstore_close(T.tstore);
        T.tstore = NULL;
    }
    res->start_iteration = (int)T.start_it;
    T.t_start = af_time_now();

    AfMetrics M;
    memset(&M, 0, sizeof M);
    M.n_tools = T.n_tools;
    for (int i = 0; i < T.n_tools; i++) M.tool_names[i] = T.tool_names[i];
    const uint32_t iters = (uint32_t)cfg->run.iterations;
    const uint32_t every = (uint32_t)cfg->run.eval_every;
    const uint32_t ck_every = (uint32_t)cfg->run.checkpoint_every;
    if (T.rank == 0 && every > 0 && !T.resume && (rc = evaluate(&T, 0, 0, &res->eval_before))) goto stop;
    uint32_t done = T.start_it; /* iterations completed, counting those before a resume */
    if (done > iters)
        af_log(AF_LOG_WARN, "resumed at iteration %u, past run.iterations %u: nothing to do", done, iters);
    for (uint32_t it = T.start_it; it < iters; it++) {
        if ((rc = learner_iteration(&T, it, &M))) goto stop;
        traj_store_iteration(&T, it);
        res->iterations_done++;
        done = it + 1;
        /* the signal decision must be the same on every learner */
        int sig = af_signals_pending() != 0, any_sig = 0;
        /* the time limit is learner 0's clock, shared through the same reduction */
        if (T.rank == 0 && cfg->run.time_limit_s > 0 && af_time_now() - t_start >= cfg->run.time_limit_s) sig |= 2;
        if (T.rank == 0 && T.log_rc) sig |= 4; /* metrics.jsonl/eval.jsonl cannot be written */
        if ((rc = af_mpi_allreduce(&sig, &any_sig, 1, MPI_INT, MPI_BOR, T.learners))) goto stop;
        if (any_sig & 4) { /* no checkpoint of an iteration whose line is missing: resume redoes it */
            rc = T.rank == 0 ? af_error_set(T.log_rc, "%s; stopping (the last checkpoint is intact)", T.log_err)
                             : af_error_set(AF_EIO, "learner 0 could not write its logs (see its message)");
            res->clean_stop = 1;
            goto stop;
        }
        if (!any_sig && T.rank == 0 && every > 0 && (it + 1) % every == 0 && it + 1 < iters &&
            (rc = evaluate(&T, it + 1, it + 1, &res->eval_after)))
            goto stop;
        /* checkpoint: every run.checkpoint_every iterations, after the last, and when a
         * preemption signal came (SLURM's warning: save, then exit 0) or the time limit */
        if (any_sig || it + 1 == iters || (ck_every > 0 && (it + 1) % ck_every == 0)) {
            if ((rc = ckpt_step(&T, it + 1))) {
                res->clean_stop = 1;
                goto stop;
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
    }
    /* asynchronous mode: receive what was handed out for iterations that will not run */
    if (T.async) {
        AfCollectStats ds;
        memset(&ds, 0, sizeof ds);
        if ((rc = af_collect_async_drain(T.async, MPI_COMM_WORLD, T.learners, T.dec, &ds))) goto stop;
        if (ds.received) af_log(AF_LOG_INFO, "asynchronous mode: %llu trajectories of unrun iterations discarded",
                                (unsigned long long)ds.received);
    }
    /* a preempted run has little time left: no final evaluation */
    if (T.rank == 0 && every > 0 && res->iterations_done == 0) res->eval_after = res->eval_before;
    else if (T.rank == 0 && every > 0 && !res->stopped_by_signal && (rc = evaluate(&T, done, done, &res->eval_after)))
        goto stop;
    if (T.rank == 0 && T.log_rc) { /* the final metrics or eval line */
        rc = af_error_set(T.log_rc, "%s", T.log_err);
        res->clean_stop = 1;
        goto stop;
    }
    if (T.rank == 0) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/model", run_dir);
        if ((rc = af_model_save_dir(T.policy_m, dir))) rc = af_error_wrap(rc, "saving the trained planner");
        else af_log(AF_LOG_INFO, "trained planner written to %s", dir);
    }
stop:
    if (T.rank == 0 && T.world > 1) {
        char keep[512];
        snprintf(keep, sizeof keep, "%s", af_error_detail());
        int rc2 = af_policy_publish(T.policy, AF_CTRL_STOP, 0, 0, NULL, 0, NULL);
        if (rc == 0) rc = rc2;
        else af_error_set(rc, "%s", keep);
    }
done:
    trainer_free(&T);
    return rc;
}
