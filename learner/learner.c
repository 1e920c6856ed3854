/* The learner role: models, optimizer, update, collection, checkpoints, logs (see
 * learner.h). */
#include "learner/learner.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/mpi_env.h"
#include "common/progress.h"
#include "common/tfevents.h"
#include "common/weights.h"
#include "learner/ckpt.h"
#include "learner/collect.h"
#include "learner/curriculum.h"
#include "learner/data_stream.h"
#include "learner/dynsamp.h"
#include "learner/gather.h"
#include "learner/lr_schedule.h"
#include "learner/resume.h"
#include "learner/trajstore.h"

struct AfLearner {
    const AfConfig *cfg;
    const char *run_dir;
    int rank, world, L;
    int lidx;             /* learner index (= world rank) */
    MPI_Comm learners;    /* borrowed */
    MPI_Comm policy;      /* borrowed; MPI_COMM_NULL on learners > 0 */
    AfModelConfig mcfg;
    AfModel *policy_m, *ref_m;
    AfAdamW *opt;
    AfLrSchedule lrs;        /* algo.lr per iteration (learner/lr_schedule.h) */
    AfUpdate *upd;
    AfTrajLimits lim;
    AfDataStream *ds;
    AfCurriculum *cur;     /* algo.curriculum = mastery, else NULL */
    AfGather *gather;
    AfCollectAsync *async; /* asynchronous mode (algo.max_staleness > 0, world > 1) */
    AfTrajDecoder *dec;
    uint32_t *queries;     /* (batch_queries) */
    FILE *metrics_f, *eval_f;
    int log_rc;             /* learner 0: a metrics/eval line could not be written (AF_EFULL...) */
    char log_err[512];      /* ... and why; the learners stop at the next agreement */
    AfTfEvents *tb;        /* RUN_DIR/tb/ event file, learner 0 (log.tensorboard) */
    double run_start;      /* af_time_now() when the run began (run.time_limit_s) */
    const char *tool_names[AF_METRICS_MAX_TOOLS];
    int n_tools;
    AfLearnerEpisodeFn run_local;
    int (*run_local_group)(void *ctx, const AfWorkUnit *units, size_t n, uint64_t version, Agentflow__Trajectory **out);
    AfLearnerPhaseFn on_phase;
    void *ctx;
    /* checkpoints and resume */
    AfResumeMode resume;     /* how this process starts */
    AfCkptStore *ckpt;       /* RUN_DIR/ckpt.lmdb, learner 0 only */
    uint32_t start_it;       /* first iteration this process runs (the resumed step) */
    double ckpt_s;           /* seconds of the last checkpoint write (metrics checkpoint_s) */
    double wall_before;      /* training seconds of the processes before a resume */
    double cpu_before;       /* CPU seconds of the job's processes before a resume */
    double cpu_job;          /* CPU seconds of the job so far (metrics time/cpu_s, run.cpu_limit_s) */
    double cpu_first;        /* cpu_job after this process's first iteration (the ETA's CPU rate) */
    double *rank_cpu;        /* (world) latest CPU seconds known of each rank's process */
    double t_start;          /* af_time_now() when this process began training */
    char last_metrics[8192]; /* the last metrics line, stored with each checkpoint */
    /* run.store_trajectories: this learner's shard of the trajectory store */
    AfTrajStore *tstore;
    AfTrajRecord *trecs;     /* (batch_queries * group_size) */
    uint8_t *tbuf;           /* packed trajectories of one iteration, grown as needed */
    size_t tbuf_cap;         /* bytes */
};

static AfAdvStats adv_stats(int v) { return v == AF_CFG_ADV_TURN ? AF_ADV_STATS_TURN : AF_ADV_STATS_TRAJ; }
static AfLossAgg loss_agg(int v) { return v == AF_CFG_AGG_TOKEN_MEAN ? AF_LOSS_AGG_TOKEN_MEAN : AF_LOSS_AGG_PAPER; }

/* algo.ref_reset_every = K: the KL reference becomes the policy at the start of iterations
 * K, 2K, ... The checkpoint store keeps the first reference only, so a resume at step s
 * rebuilds the one in force from the parameters of checkpoint K * floor((s - 1) / K)
 * (ref_reset_resume): K must be a multiple of run.checkpoint_every and the store must
 * still hold that checkpoint (K <= run.keep_checkpoints * run.checkpoint_every). */
static int ref_reset_check(const AfConfig *c) {
    const int64_t K = c->algo.ref_reset_every, every = c->run.checkpoint_every;
    if (c->algo.kl_coef == 0.0)
        return af_error_set(AF_ECONFIG, "config: algo.ref_reset_every = %lld needs algo.kl_coef > 0 (without a KL term "
                            "there is no reference)", (long long)K);
    if (every > 0 && (K % every != 0 || K > every * c->run.keep_checkpoints))
        return af_error_set(AF_ECONFIG, "config: algo.ref_reset_every = %lld must be a multiple of run.checkpoint_every "
                            "(%lld) and at most run.keep_checkpoints * run.checkpoint_every (%lld), so that a resume "
                            "finds the checkpoint whose weights are the reference", (long long)K, (long long)every,
                            (long long)(every * c->run.keep_checkpoints));
    return 0;
}

/* 1 if the reference becomes the policy at the start of iteration `it`. */
static int ref_reset_due(const AfConfig *c, uint32_t it) {
    return c->algo.ref_reset_every > 0 && it > 0 && it % (uint64_t)c->algo.ref_reset_every == 0;
}

int af_learner_create(const AfLearnerSetup *s, AfLearner **out) {
    *out = NULL;
    AfLearner *T = calloc(1, sizeof *T);
    if (!T) return af_error_set(AF_ENOMEM, "learner");
    const AfConfig *c = s->cfg;
    T->cfg = c;
    T->run_dir = s->run_dir;
    T->rank = s->rank;
    T->world = s->world;
    T->L = s->n_learners;
    T->lidx = s->rank;
    T->learners = s->learners;
    T->policy = s->policy;
    T->mcfg = s->model;
    T->lim = s->limits;
    T->resume = s->resume;
    T->run_local = s->run_local;
    T->run_local_group = s->run_local_group;
    T->on_phase = s->on_phase;
    T->ctx = s->ctx;
    T->run_start = s->run_start > 0 ? s->run_start : af_time_now();
    for (int i = 0; i < s->n_tools && T->n_tools < AF_METRICS_MAX_TOOLS; i++) T->tool_names[T->n_tools++] = s->tool_names[i];
    const uint32_t B = (uint32_t)c->rollout.batch_queries, G = (uint32_t)c->rollout.group_size;
    /* batch capacity: one trajectory at least; a mini-batch's worth when small */
    int cap_tok = (int)(T->lim.max_turns * (uint32_t)T->mcfg.max_seq);
    if (cap_tok < 8192) cap_tok = 8192;
    int cap_seq = (int)(T->lim.max_turns * G * 4);
    int rc;
    if ((rc = af_model_create(&T->mcfg, cap_tok, cap_seq, AF_MODEL_GRADS, &T->policy_m))) goto fail;
    if (c->algo.kl_coef != 0.0 && (rc = af_model_create(&T->mcfg, cap_tok, cap_seq, 0, &T->ref_m))) goto fail;
    if ((rc = af_model_set_compute(T->policy_m, c->model.compute))) goto fail; /* model.compute: bf16 products */
    if (T->ref_m && (rc = af_model_set_compute(T->ref_m, c->model.compute))) goto fail;
    AfAdamWConfig ac = af_adamw_config_default();
    ac.lr = (float)c->algo.lr;
    ac.beta1 = (float)c->algo.adam_beta1;
    ac.beta2 = (float)c->algo.adam_beta2;
    ac.eps = (float)c->algo.adam_eps;
    ac.weight_decay = (float)c->algo.weight_decay;
    if ((rc = af_adamw_create(&ac, T->policy_m->n_params, &T->opt))) goto fail;
    T->lrs = (AfLrSchedule){.lr = c->algo.lr,
                            .warmup = c->algo.lr_warmup,
                            .shape = c->algo.lr_schedule == AF_CFG_LR_COSINE ? AF_LR_COSINE : AF_LR_CONSTANT,
                            .min_ratio = c->algo.lr_min,
                            .total = c->run.iterations};
    AfUpdateConfig uc;
    memset(&uc, 0, sizeof uc);
    af_grpo_adv_options_default(&uc.adv);
    uc.adv.stats = adv_stats(c->algo.adv_stats);
    uc.adv.drop_zero_variance = c->algo.drop_zero_variance;
    uc.adv.normalize_std = c->algo.group_norm;
    uc.adv.neg_scale = c->algo.neg_adv_scale;
    uc.adv.pass_k = (int)c->algo.adv_pass_k;
    uc.adv.explored_neg_scale = c->algo.explore_neg_scale;
    uc.adv.final_turn_only = c->algo.reward_turns == AF_REWARD_TURNS_FINAL;
    uc.adv.last_try_credit = c->algo.reward_turns == AF_REWARD_TURNS_LAST_TRY;
    uc.monolithic = s->monolithic;
    af_grpo_loss_options_default(&uc.loss);
    uc.loss.clip_low = c->algo.clip_low;
    uc.loss.clip_high = c->algo.clip_high;
    uc.loss.dual_clip = c->algo.dual_clip;
    uc.loss.kl_coef = c->algo.kl_coef;
    uc.loss.entropy_coef = c->algo.entropy_coef;
    uc.entropy_target = c->algo.entropy_target;
    uc.entropy_coef_lr = c->algo.entropy_coef_lr;
    uc.loss.agg = loss_agg(c->algo.loss_agg);
    uc.ppo_epochs = (int)c->algo.ppo_epochs;
    uc.minibatch_queries = (int)c->algo.minibatch;
    uc.temperature = (float)c->rollout.temperature;
    uc.grad_clip = c->algo.grad_clip;
    uc.mismatch_tol = 1e-3;
    if ((rc = af_update_create(&uc, T->policy_m, T->ref_m, T->opt, T->learners, &T->upd))) goto fail;
    if ((rc = af_data_stream_create((uint64_t)c->run.seed, T->lim.num_queries, B, &T->ds))) goto fail;
    if (c->algo.curriculum == AF_CURRICULUM_MASTERY) {
        if (c->algo.max_staleness > 0 && T->world > 1) {
            rc = af_error_set(AF_ECONFIG, "config: algo.curriculum = mastery needs the synchronous mode (algo.max_staleness = 0): "
                              "the batch depends on the previous iteration's pass rates");
            goto fail;
        }
        uint8_t *lv = calloc(T->lim.num_queries ? T->lim.num_queries : 1, 1);
        if (!lv) {
            rc = af_error_set(AF_ENOMEM, "curriculum levels");
            goto fail;
        }
        if (s->query_levels) memcpy(lv, s->query_levels, T->lim.num_queries);
        const AfCurriculumConfig cc = {c->algo.curriculum_threshold, c->algo.curriculum_replay, c->algo.curriculum_ema};
        rc = af_curriculum_create(&cc, (uint64_t)c->run.seed, lv, T->lim.num_queries, B, T->ds, &T->cur);
        free(lv);
        if (rc) goto fail;
    }
    if (c->algo.ref_reset_every > 0 && (rc = ref_reset_check(c))) goto fail;
    if (c->algo.dynamic_sampling > 0 && c->algo.max_staleness > 0 && T->world > 1) {
        rc = af_error_set(AF_ECONFIG, "config: algo.dynamic_sampling needs the synchronous mode (algo.max_staleness = 0)");
        goto fail;
    }
    if ((rc = af_gather_create(B, G, (uint32_t)T->lidx, (uint32_t)T->L, &T->gather))) goto fail;
    if (c->algo.max_staleness > 0 && T->world > 1 &&
        (rc = af_collect_async_create((uint32_t)c->algo.max_staleness, (uint32_t)c->run.iterations, B, G, T->L, T->lidx,
                                      T->world - T->L, &T->async)))
        goto fail;
    if ((rc = af_traj_decoder_create(&T->lim, &T->dec))) goto fail;
    if (!(T->rank_cpu = calloc((size_t)T->world, sizeof *T->rank_cpu))) {
        rc = af_error_set(AF_ENOMEM, "per-rank CPU seconds");
        goto fail;
    }
    if (!(T->queries = malloc(B * sizeof *T->queries))) {
        rc = af_error_set(AF_ENOMEM, "batch");
        goto fail;
    }
    *out = T;
    return 0;
fail:
    af_learner_destroy(T);
    return rc;
}

void af_learner_destroy(AfLearner *T) {
    if (!T) return;
    af_update_destroy(T->upd);
    af_adamw_destroy(T->opt);
    af_model_destroy(T->ref_m);
    af_model_destroy(T->policy_m);
    af_curriculum_destroy(T->cur);
    af_data_stream_destroy(T->ds);
    af_gather_destroy(T->gather);
    af_collect_async_destroy(T->async);
    af_traj_decoder_destroy(T->dec);
    free(T->queries);
    free(T->rank_cpu);
    if (T->metrics_f) fclose(T->metrics_f);
    if (T->eval_f) fclose(T->eval_f);
    af_tfevents_close(T->tb);
    af_ckpt_close(T->ckpt);
    af_trajstore_close(T->tstore);
    free(T->trecs);
    free(T->tbuf);
    free(T);
}

AfModel *af_learner_policy(AfLearner *T) { return T->policy_m; }
AfUpdate *af_learner_update(AfLearner *T) { return T->upd; }
AfAdamW *af_learner_adamw(AfLearner *T) { return T->opt; }

void af_learner_freeze_reference(AfLearner *T) {
    if (T->ref_m) af_model_copy_params(T->ref_m, T->policy_m);
}

void af_learner_metrics_init(const AfLearner *T, AfMetrics *M) {
    memset(M, 0, sizeof *M);
    M->n_tools = T->n_tools;
    M->dynamic_sampling = T->cfg->algo.dynamic_sampling > 0;
    M->explore = T->cfg->rollout.explore_random > 0;
    for (int i = 0; i < T->n_tools; i++) M->tool_names[i] = T->tool_names[i];
}

int af_learner_publish(AfLearner *T, uint32_t command, uint32_t iteration, uint64_t version) {
    if (T->rank != 0 || T->world == 1) return 0;
    return af_weights_publish(T->policy, command, iteration, version, T->policy_m->params, T->policy_m->n_params, NULL);
}

int af_learner_log_eval(AfLearner *T, const char *line) {
    if (!T->eval_f || T->log_rc) return 0;
    char path[4200];
    snprintf(path, sizeof path, "%s/eval.jsonl", T->run_dir);
    if ((T->log_rc = af_append_line(fileno(T->eval_f), path, line, strlen(line))))
        snprintf(T->log_err, sizeof T->log_err, "%s", af_error_detail());
    return 0; /* the run stops at the next agreement (af_learner_log_error) */
}

int af_learner_log_error(const AfLearner *T, const char **why) {
    if (why) *why = T->log_err;
    return T->log_rc;
}

int af_learner_drain(AfLearner *T) {
    if (!T->async) return 0;
    AfCollectStats ds;
    memset(&ds, 0, sizeof ds);
    int rc = af_collect_async_drain(T->async, MPI_COMM_WORLD, T->learners, T->dec, &ds);
    if (rc == 0 && ds.received)
        af_log(AF_LOG_INFO, "asynchronous mode: %llu trajectories of unrun iterations discarded",
               (unsigned long long)ds.received);
    return rc;
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

static int ckpt_open(AfLearner *T) {
    AfCkptOptions o = af_ckpt_options_default();
    o.keep_last = (int)T->cfg->run.keep_checkpoints;
    o.map_size = (size_t)T->cfg->run.checkpoint_map_mb << 20;
    o.local_dir = T->cfg->run.checkpoint_dir;
    return af_ckpt_open(T->run_dir, &o, &T->ckpt);
}

/* Learner 0: choose the checkpoint, check the configuration against it, load it. */
static int ckpt_load_resume(AfLearner *T) {
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
    if (T->ref_m && T->cfg->algo.ref_reset_every > 0 && step > 0) { /* the reference of the last reset before `step` */
        const uint64_t K = (uint64_t)T->cfg->algo.ref_reset_every, r = (step - 1) / K * K;
        if (r > 0 && (rc = af_ckpt_load(T->ckpt, r, &T->mcfg, T->policy_m->n_params, T->ref_m->params, NULL, NULL, NULL,
                                        NULL))) {
            af_ckpt_meta_clear(&meta);
            return af_error_wrap(rc, "--resume from checkpoint step %llu: algo.ref_reset_every = %llu: the reference is the "
                                 "policy of checkpoint step %llu", (unsigned long long)step, (unsigned long long)K,
                                 (unsigned long long)r);
        }
    }
    double rate[AF_CURRICULUM_MAX_LEVELS] = {0};
    int n_rate = 0, have_ent = 0;
    for (int i = 0; i < meta.n_counters; i++) {
        int l;
        char tail;
        if (strcmp(meta.counters[i].name, "train_wall_s") == 0) T->wall_before = meta.counters[i].value;
        else if (strcmp(meta.counters[i].name, "train_cpu_s") == 0 && isfinite(meta.counters[i].value) &&
                 meta.counters[i].value >= 0.0)
            T->cpu_before = meta.counters[i].value; /* older checkpoints have none: counted from 0 */
        else if (strcmp(meta.counters[i].name, "entropy_coef") == 0 && T->cfg->algo.entropy_target > 0.0)
            rc = af_update_set_entropy_coef(T->upd, meta.counters[i].value), have_ent = 1;
        else if (sscanf(meta.counters[i].name, "curriculum_rate_%d%c", &l, &tail) == 1 && l >= 0 &&
                 l < AF_CURRICULUM_MAX_LEVELS)
            rate[l] = meta.counters[i].value, n_rate++;
    }
    if (rc == 0 && T->cfg->algo.entropy_target > 0.0 && !have_ent)
        rc = af_error_set(AF_ECONFIG, "--resume from checkpoint step %llu: algo.entropy_target is set, but the checkpoint "
                          "holds no adapted entropy weight", (unsigned long long)step);
    else if (rc == 0 && T->cur && n_rate != AF_CURRICULUM_MAX_LEVELS)
        rc = af_error_set(AF_ECONFIG, "--resume from checkpoint step %llu: algo.curriculum = mastery, but the checkpoint "
                          "holds %d of the %d curriculum pass rates", (unsigned long long)step, n_rate,
                          AF_CURRICULUM_MAX_LEVELS);
    else if (rc == 0 && T->cur)
        rc = af_curriculum_set(T->cur, rate);
    if (rc) {
        af_ckpt_meta_clear(&meta);
        return rc;
    }
    af_ckpt_meta_clear(&meta);
    T->start_it = (uint32_t)step;
    af_log(AF_LOG_INFO, "resuming from checkpoint step %llu of %s", (unsigned long long)step, af_ckpt_path(T->ckpt));
    return 0;
}

/* Learner 0, resuming: the run directory continues from `step`: its config.json is the
 * effective config of the resumed run, and log lines of iterations after the checkpoint
 * (an abandoned timeline) are dropped. */
static int ckpt_resume_files(AfLearner *T) {
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
static int ckpt_begin(AfLearner *T) {
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
    if (T->cfg->algo.entropy_target > 0.0) {
        double coef = af_update_entropy_coef(T->upd);
        if ((rc = af_mpi_bcast(&coef, 1, MPI_DOUBLE, 0, T->learners)) || (rc = af_update_set_entropy_coef(T->upd, coef)))
            return rc;
    }
    if (T->cur) {
        double rate[AF_CURRICULUM_MAX_LEVELS];
        af_curriculum_get(T->cur, rate);
        if ((rc = af_mpi_bcast(rate, AF_CURRICULUM_MAX_LEVELS, MPI_DOUBLE, 0, T->learners)) ||
            (rc = af_curriculum_set(T->cur, rate)))
            return rc;
    }
    return 0;
}

/* An actor's CPU seconds as its trajectory t reports them (the latest, so the largest). */
static void note_actor_cpu(AfLearner *T, const Agentflow__Trajectory *t) {
    if (t->actor_rank >= 0 && t->actor_rank < T->world && t->actor_rank != T->rank &&
        t->actor_cpu_s > T->rank_cpu[t->actor_rank])
        T->rank_cpu[t->actor_rank] = t->actor_cpu_s;
}

/* The job's CPU seconds (metrics time/cpu_s, run.cpu_limit_s): the processes' of the
 * segments before a resume, plus each rank's now: a learner's own, an actor's as its
 * latest trajectory reported it (to whichever learner owned it; the learners take the
 * largest of each). Collective over the learners; the same value on every one. */
static int job_cpu(AfLearner *T, double *out) {
    T->rank_cpu[T->rank] = af_cpu_seconds();
    int rc = T->L > 1 ? af_mpi_allreduce(MPI_IN_PLACE, T->rank_cpu, T->world, MPI_DOUBLE, MPI_MAX, T->learners) : 0;
    if (rc) return af_error_wrap(rc, "the job's CPU seconds");
    double s = T->cpu_before;
    for (int r = 0; r < T->world; r++) s += T->rank_cpu[r];
    if (T->cpu_job == 0.0) T->cpu_first = s;
    T->cpu_job = *out = s;
    return 0;
}

/* Learner 0: write checkpoint `step` (iterations completed). */
static int ckpt_write(AfLearner *T, uint32_t step) {
    double t0 = af_time_now();
    char *config_json = af_config_to_json(T->cfg, 0);
    if (!config_json) return af_error_set(AF_ENOMEM, "checkpoint step %u: config", step);
    AfCkptCounter ctr[3 + AF_CURRICULUM_MAX_LEVELS];
    memset(ctr, 0, sizeof ctr);
    snprintf(ctr[0].name, sizeof ctr[0].name, "train_wall_s");
    ctr[0].value = T->wall_before + (t0 - T->t_start);
    snprintf(ctr[1].name, sizeof ctr[1].name, "train_cpu_s"); /* as of the iteration's metrics line */
    ctr[1].value = T->cpu_job > 0 ? T->cpu_job : T->cpu_before + af_cpu_seconds(); /* before any iteration: own */
    int n_ctr = 2;
    if (T->cfg->algo.entropy_target > 0.0) { /* the adapted entropy weight */
        snprintf(ctr[n_ctr].name, sizeof ctr[n_ctr].name, "entropy_coef");
        ctr[n_ctr++].value = af_update_entropy_coef(T->upd);
    }
    if (T->cur) { /* the curriculum's whole state: its pass rates */
        double rate[AF_CURRICULUM_MAX_LEVELS];
        af_curriculum_get(T->cur, rate);
        for (int l = 0; l < AF_CURRICULUM_MAX_LEVELS; l++, n_ctr++) {
            snprintf(ctr[n_ctr].name, sizeof ctr[n_ctr].name, "curriculum_rate_%d", l);
            ctr[n_ctr].value = rate[l];
        }
    }
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
                     /* the store keeps the first reference; a reset one is rebuilt on resume */
                     .ref_params = T->ref_m && (T->cfg->algo.ref_reset_every <= 0 || step <= (uint64_t)T->cfg->algo.ref_reset_every)
                                       ? T->ref_m->params
                                       : NULL,
                     .adam_step = (uint64_t)T->opt->step,
                     .data_position = (uint64_t)step * (uint64_t)T->cfg->rollout.batch_queries,
                     .counters = ctr,
                     .n_counters = n_ctr,
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
int af_learner_checkpoint(AfLearner *T, uint32_t step) {
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

static int traj_store_open(AfLearner *T) {
    if (!T->cfg->run.store_trajectories) return 0;
    size_t n = (size_t)T->cfg->rollout.batch_queries * (size_t)T->cfg->rollout.group_size;
    if (!(T->trecs = calloc(n, sizeof *T->trecs))) return af_error_set(AF_ENOMEM, "trajectory store records");
    return af_trajstore_open(T->run_dir, T->lidx, 0, 0, &T->tstore);
}

static void traj_store_iteration(AfLearner *T, uint32_t it) {
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

/* Rank 0: metrics.jsonl and eval.jsonl, new or (resumed) appended to after ckpt_begin
 * trimmed them to the resume point. */
static int open_logs(AfLearner *T) {
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

/* ------------------------------------------------------------------ TensorBoard
 * Learner 0 writes RUN_DIR/tb/events.out.tfevents.* (common/tfevents.h): every metric as
 * a scalar at step = iteration, the evaluations (run/train.c), the config as text and
 * every log.samples_every iterations the first trajectory of the iteration as text. A
 * resumed run starts a new file; TensorBoard merges the files of a directory, and the
 * steps after the checkpoint, run again, replace those of the abandoned timeline. The
 * record is not run state: if a write fails the run goes on without it. */

static void tb_fail(AfLearner *T, int rc) {
    af_log(AF_LOG_WARN, "TensorBoard: %s (%s); no longer writing event files", af_error_detail(), af_strerror(rc));
    af_tfevents_close(T->tb);
    T->tb = NULL;
}

/* The text plugin renders markdown: texts go in a fenced block ("```\n" text "```"),
 * shown as written. */
#define AF_MD_FENCE "```"

static void tb_open(AfLearner *T) {
    if (T->rank != 0 || !T->cfg->log.tensorboard) return;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tb", T->run_dir);
    int rc = af_tfevents_open(dir, &T->tb);
    if (rc) {
        af_log(AF_LOG_WARN, "TensorBoard: %s; not writing event files", af_error_detail());
        return;
    }
    char *cfg = af_config_to_json(T->cfg, 1); /* the text of RUN_DIR/config.json */
    size_t n = cfg ? strlen(cfg) + 16 : 0;
    char *md = cfg ? malloc(n) : NULL;
    if (md) snprintf(md, n, AF_MD_FENCE "\n%s\n" AF_MD_FENCE, cfg);
    rc = md ? af_tfevents_text(T->tb, T->start_it, af_wall_time(), "config", md)
            : af_error_set(AF_ENOMEM, "config text");
    free(md);
    free(cfg);
    if (rc == 0) rc = af_tfevents_flush(T->tb);
    if (rc) tb_fail(T, rc);
}

void af_learner_tb_scalars(AfLearner *T, uint32_t step, const char *const *tags, const double *values, int n) {
    if (!T->tb) return;
    int rc = af_tfevents_scalars(T->tb, step, af_wall_time(), tags, values, n);
    if (rc == 0) rc = af_tfevents_flush(T->tb);
    if (rc) tb_fail(T, rc);
}

/* An episode turn by turn, as a fenced markdown block (results cut to 300 characters;
 * the whole cut to cap - 8, closing fence kept). */
static void render_episode(uint32_t it, const Agentflow__Trajectory *t, char *buf, size_t cap) {
    size_t at = 0;
    cap -= 8; /* room for the closing fence */
    int n = snprintf(buf, cap, AF_MD_FENCE "\niteration %u, query %u, sample %u: reward %g, %zu turns\nquestion: %s\n", it,
                     t->query_index, t->sample_index, t->reward, t->n_turns, t->query ? t->query : "");
    for (size_t i = 0; n >= 0 && (size_t)n < cap - at && i < t->n_turns; i++) {
        at += (size_t)n;
        const Agentflow__Turn *u = t->turns[i];
        const ProtobufCEnumValue *st = protobuf_c_enum_descriptor_get_value(&agentflow__tool_status__descriptor,
                                                                            (int)u->tool_status);
        n = snprintf(buf + at, cap - at, "turn %zu: %s\n  -> %s(%s) %s: %.300s\n", i + 1,
                     u->action_text ? u->action_text : "", u->tool ? u->tool : "", u->argument ? u->argument : "",
                     st ? st->name : "?", u->result ? u->result : "");
    }
    if (n >= 0 && (size_t)n < cap - at) {
        at += (size_t)n;
        n = snprintf(buf + at, cap - at, "answer: %s (gold %s)\n", t->answer ? t->answer : "", t->gold ? t->gold : "");
    }
    at = n >= 0 && (size_t)n < cap - at ? at + (size_t)n : strlen(buf);
    snprintf(buf + at, 8, "%s" AF_MD_FENCE, at && buf[at - 1] == '\n' ? "" : "\n");
}

static void tb_sample(AfLearner *T, uint32_t it, const Agentflow__Trajectory *t) {
    const int64_t every = T->cfg->log.samples_every;
    if (!T->tb || every <= 0 || it % (uint64_t)every != 0) return;
    char text[16384];
    render_episode(it, t, text, sizeof text);
    int rc = af_tfevents_text(T->tb, it, af_wall_time(), "samples/episode", text);
    if (rc) tb_fail(T, rc);
}

static void tb_metrics(AfLearner *T, const AfMetrics *M) {
    if (!T->tb) return;
    AfMetricValue v[AF_METRICS_MAX_VALUES];
    const char *tags[AF_METRICS_MAX_VALUES];
    double vals[AF_METRICS_MAX_VALUES];
    int n = af_metrics_values(M, v, AF_METRICS_MAX_VALUES);
    for (int i = 0; i < n; i++) tags[i] = v[i].name, vals[i] = v[i].value;
    af_learner_tb_scalars(T, M->g.iteration, tags, vals, n);
}

/* The progress line's ETA: run.iterations or run.time_limit_s, whichever ends first. */
static void eta_of(const AfLearner *T, uint32_t it, AfMetrics *M) {
    const double now = af_time_now(), per_it = (now - T->t_start) / (double)(it + 1 - T->start_it);
    AfTrainEta e = af_progress_train_eta((uint64_t)it + 1, (uint64_t)T->cfg->run.iterations, per_it,
                                         now - T->run_start, T->cfg->run.time_limit_s);
    if (T->cfg->run.cpu_limit_s > 0) { /* the CPU budget ends it first: as many iterations as it leaves */
        const double cpu_it = it > T->start_it ? (T->cpu_job - T->cpu_first) / (double)(it - T->start_it) : -1.0;
        AfTrainEta c = af_progress_train_eta((uint64_t)it + 1, (uint64_t)T->cfg->run.iterations, cpu_it, T->cpu_job,
                                             T->cfg->run.cpu_limit_s);
        if (c.iterations_left < e.iterations_left) {
            e.iterations_left = c.iterations_left, e.by_time = 2;
            e.seconds_left = c.iterations_left == 0 ? 0 : per_it > 0 ? (double)c.iterations_left * per_it : -1;
        }
    }
    M->g.eta_s = e.seconds_left;
    M->g.eta_iterations = (double)e.iterations_left;
    M->g.eta_by_time = e.by_time;
}

static void batch_of(void *ctx, uint32_t iteration, uint32_t *queries) {
    AfLearner *T = ctx;
    af_data_stream_batch(T->ds, iteration, queries);
}

/* A local episode's trajectory t of unit u, stamped, to the gather (t freed). */
static int local_offer(AfLearner *T, Agentflow__Trajectory *t, const AfWorkUnit *u, uint64_t version) {
    t->iteration = u->iteration, t->slot = u->slot, t->query_index = u->query_index, t->sample_index = u->sample;
    t->policy_version = version, t->actor_rank = 0;
    int rc = af_gather_offer(T->gather, t);
    af_traj_free(t);
    return rc;
}

/* The G local episodes of slot s together (run_local_group). */
static int local_group(AfLearner *T, uint32_t it, uint32_t s, uint32_t G, uint64_t version) {
    AfWorkUnit *u = malloc(G * sizeof *u);
    Agentflow__Trajectory **t = calloc(G, sizeof *t);
    int rc = 0;
    if (!u || !t) rc = af_error_set(AF_ENOMEM, "local rollout group of %u", G);
    for (uint32_t g = 0; g < G && rc == 0; g++)
        u[g] = (AfWorkUnit){.iteration = it, .slot = s, .query_index = T->queries[s], .sample = g};
    if (rc == 0) rc = T->run_local_group(T->ctx, u, G, version, t);
    for (uint32_t g = 0; g < G && t && rc == 0; g++) {
        rc = local_offer(T, t[g], &u[g], version);
        t[g] = NULL;
        if (rc) rc = af_error_wrap(rc, "local rollout slot %u sample %u", s, g);
    }
    for (uint32_t g = 0; g < G && t; g++) af_traj_free(t[g]);
    free(u);
    free(t);
    return rc;
}

/* The local episodes of slots[0..n) (NULL: every slot 0..n-1) of the batch. */
static int local_rollouts(AfLearner *T, uint32_t it, const uint32_t *slots, uint32_t n, uint32_t G, uint64_t version) {
    int rc;
    for (uint32_t i = 0; i < n; i++) {
        const uint32_t s = slots ? slots[i] : i;
        if (T->run_local_group && G > 1) { /* the query's G episodes together */
            if ((rc = local_group(T, it, s, G, version))) return rc;
            continue;
        }
        for (uint32_t g = 0; g < G; g++) {
            Agentflow__Trajectory *t = NULL;
            const AfWorkUnit u = {.iteration = it, .slot = s, .query_index = T->queries[s], .sample = g};
            if ((rc = T->run_local(T->ctx, &u, version, &t))) return rc;
            if ((rc = local_offer(T, t, &u, version))) return af_error_wrap(rc, "local rollout slot %u sample %u", s, g);
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ dynamic sampling
 * algo.dynamic_sampling (learner/dynsamp.h): the gathered groups without signal are
 * replaced, round by round, by groups of drawn queries rolled out the same way. The
 * replaced episodes still count in the rollout metrics (every episode run). */
typedef struct {
    AfLearner *T;
    uint32_t it;
    uint64_t version;
    AfMetrics *M;
    AfCollectStats *cs;
    double *bcast_s;
} DynSampCtx;

static int dynsamp_mask(void *ctx, uint8_t *no_signal) {
    DynSampCtx *d = ctx;
    AfLearner *T = d->T;
    const uint32_t B = (uint32_t)T->cfg->rollout.batch_queries, G = (uint32_t)T->cfg->rollout.group_size;
    const Agentflow__Trajectory *grp[256];
    const Agentflow__Trajectory **g = G <= 256 ? grp : malloc(G * sizeof *g);
    if (!g) return af_error_set(AF_ENOMEM, "dynamic sampling group of %u", G);
    memset(no_signal, 0, B);
    for (uint32_t k = 0; k < af_gather_owned(T->gather); k++) {
        for (uint32_t j = 0; j < G; j++) g[j] = af_gather_get(T->gather, k, j);
        no_signal[af_gather_owned_slot(T->gather, k)] = (uint8_t)af_dynsamp_no_signal(g, G);
    }
    if (g != grp) free(g);
    return T->L > 1 ? af_mpi_allreduce(MPI_IN_PLACE, no_signal, (int)B, MPI_UNSIGNED_CHAR, MPI_MAX, T->learners) : 0;
}

static int dynsamp_rollout(void *ctx, uint32_t round, const uint32_t *slots, const uint32_t *queries, uint32_t n) {
    DynSampCtx *d = ctx;
    AfLearner *T = d->T;
    const uint32_t G = (uint32_t)T->cfg->rollout.group_size;
    int rc;
    for (uint32_t i = 0; i < n; i++) /* the replaced episodes were run: they count */
        if (slots[i] % (uint32_t)T->L == (uint32_t)T->lidx)
            for (uint32_t j = 0; j < G; j++) {
                const Agentflow__Trajectory *t = af_gather_get(T->gather, slots[i] / (uint32_t)T->L, j);
                if (t) af_metrics_add_trajectory(d->M, t);
            }
    af_gather_reopen(T->gather, slots, n, queries);
    AF_LOG_D("iteration %u: dynamic sampling round %u refills %u groups", d->it, round, n);
    if (T->world == 1) return local_rollouts(T, d->it, slots, n, G, d->version);
    double bs = 0; /* the weights have not changed since the iteration's RUN: a control message only */
    if (T->rank == 0 && (rc = af_weights_publish(T->policy, AF_CTRL_REFILL, d->it, d->version, NULL, 0, &bs)))
        return rc;
    *d->bcast_s += bs;
    AfCollectStats cs;
    memset(&cs, 0, sizeof cs);
    rc = af_collect_slots(MPI_COMM_WORLD, T->rank, T->L, T->world - T->L, d->it, T->queries, slots, n, G, T->dec,
                          T->gather, &cs);
    d->cs->stray += cs.stray, d->cs->wait_s += cs.wait_s;
    return rc;
}

/* The curriculum's pass rates take this iteration's episodes, summed over the learners
 * (collective; failed episodes count as reward 0). */
static int curriculum_observe(AfLearner *T, const Agentflow__Trajectory *const *tr, uint32_t n_own, uint32_t G) {
    double sums[2 * AF_CURRICULUM_MAX_LEVELS] = {0}; /* reward sums, then episodes, per level */
    for (size_t i = 0; i < (size_t)n_own * G; i++) {
        if (!tr[i]) continue;
        const int l = af_curriculum_level(T->cur, tr[i]->query_index);
        const int ok = tr[i]->status == AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_OK;
        sums[l] += ok ? (double)tr[i]->reward : 0.0;
        sums[AF_CURRICULUM_MAX_LEVELS + l] += 1.0;
    }
    int rc = T->L > 1 ? af_mpi_allreduce(MPI_IN_PLACE, sums, 2 * AF_CURRICULUM_MAX_LEVELS, MPI_DOUBLE, MPI_SUM, T->learners) : 0;
    if (rc == 0) af_curriculum_observe(T->cur, sums, sums + AF_CURRICULUM_MAX_LEVELS);
    return rc;
}

int af_learner_iteration(AfLearner *T, uint32_t it, AfMetrics *M) {
    const AfConfig *c = T->cfg;
    const uint32_t B = (uint32_t)c->rollout.batch_queries, G = (uint32_t)c->rollout.group_size;
    const uint64_t version = it;
    int rc;
    double t_it = af_time_now(), bcast_s = 0;
    if (T->cur) af_curriculum_batch(T->cur, it, T->queries);
    else af_data_stream_batch(T->ds, it, T->queries);
    af_metrics_reset(M, it, version);
    if (T->ref_m && ref_reset_due(c, it)) af_model_copy_params(T->ref_m, T->policy_m); /* algo.ref_reset_every */
    /* 1. weights out */
    if (T->rank == 0 && T->world > 1 &&
        (rc = af_weights_publish(T->policy, AF_CTRL_RUN, it, version, T->policy_m->params, T->policy_m->n_params,
                                &bcast_s)))
        return rc;
    /* 2. rollouts */
    double t0 = af_time_now();
    if (T->on_phase) T->on_phase(T->ctx, "rollout", it);
    af_gather_begin(T->gather, it, T->queries);
    const uint32_t stale = T->async ? (uint32_t)c->algo.max_staleness : 0;
    af_traj_decoder_set_window(T->dec, it, it + stale, version >= stale ? version - stale : 0, version);
    uint64_t rejected_before = af_traj_decoder_stats(T->dec)->rejected;
    AfCollectStats cs;
    memset(&cs, 0, sizeof cs);
    if (T->world == 1) {
        if ((rc = local_rollouts(T, it, NULL, B, G, version))) return rc;
    } else if (T->async) {
        if ((rc = af_collect_iteration_async(T->async, MPI_COMM_WORLD, it, batch_of, T, T->dec, T->gather, &cs)))
            return rc;
    } else if ((rc = af_collect_iteration(MPI_COMM_WORLD, T->rank, T->L, T->world - T->L, it, T->queries, B, G, T->dec,
                                          T->gather, &cs))) {
        return rc;
    }
    AfDynSampStats dss = {0, 0, 0};
    if (c->algo.dynamic_sampling > 0) {
        DynSampCtx d = {T, it, version, M, &cs, &bcast_s};
        if ((rc = af_dynsamp_run((uint32_t)c->algo.dynamic_sampling, (uint64_t)c->run.seed, it, B, T->lim.num_queries,
                                 T->queries, dynsamp_mask, dynsamp_rollout, &d, &dss)))
            return af_error_wrap(rc, "iteration %u dynamic sampling", it);
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
            if (tr[(size_t)k * G + g]) {
                af_metrics_add_trajectory(M, tr[(size_t)k * G + g]);
                note_actor_cpu(T, tr[(size_t)k * G + g]);
            }
        }
    }
    if (af_log_enabled(AF_LOG_DEBUG) && n_own > 0 && tr[0]) log_episode(it, tr[0]);
    if (n_own > 0 && tr[0]) tb_sample(T, it, tr[0]);
    AfUpdateStats us;
    if (T->on_phase) T->on_phase(T->ctx, "learn", it);
    M->g.curriculum_level = T->cur ? af_curriculum_focus(T->cur) : -1;
    M->g.entropy_coef = af_update_entropy_coef(T->upd); /* the weight this step uses */
    M->g.dynsamp_rounds = dss.rounds, M->g.dynsamp_initial = dss.initial;
    T->opt->cfg.lr = (float)af_lr_schedule_at(&T->lrs, it);
    if (c->algo.adv_pass_k_until > 0 &&
        (rc = af_update_set_pass_k(T->upd, (int64_t)it < c->algo.adv_pass_k_until ? (int)c->algo.adv_pass_k : 0))) {
        free(tr), free(slots);
        return af_error_wrap(rc, "iteration %u learner step", it);
    }
    rc = af_update_run(T->upd, tr, slots, (int)n_own, B, G, &us);
    if (rc == 0 && T->cur) rc = curriculum_observe(T, tr, n_own, G);
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
    M->g.lr = T->opt->cfg.lr;
    M->g.elapsed_s = T->wall_before + (af_time_now() - T->t_start);
    if ((rc = job_cpu(T, &M->g.cpu_s))) return rc;
    M->g.unix_s = af_wall_time();
    eta_of(T, it, M);
    if (T->rank == 0) {
        char line[8192];
        const int n = af_metrics_json(M, line, sizeof line);
        if (n > 0 && T->metrics_f && !T->log_rc) {
            char path[4200];
            snprintf(path, sizeof path, "%s/metrics.jsonl", T->run_dir);
            if ((T->log_rc = af_append_line(fileno(T->metrics_f), path, line, (size_t)n)))
                snprintf(T->log_err, sizeof T->log_err, "%s", af_error_detail());
            else snprintf(T->last_metrics, sizeof T->last_metrics, "%s", line);
        }
        if (af_metrics_progress(M, (uint64_t)c->run.iterations, line, sizeof line) > 0) af_log_status(line, 0);
    }
    if (T->rank == 0) tb_metrics(T, M);
    traj_store_iteration(T, it);
    return 0;
}

int af_learner_begin(AfLearner *T, uint32_t *start_iteration) {
    int rc = ckpt_begin(T);
    if (rc == 0) rc = open_logs(T);
    if (rc) return rc;
    tb_open(T);
    if (traj_store_open(T)) { /* a record, not run state: the run goes on without it */
        af_log(AF_LOG_WARN, "trajectory store: %s; not storing trajectories", af_error_detail());
        af_trajstore_close(T->tstore);
        T->tstore = NULL;
    }
    T->t_start = af_time_now();
    *start_iteration = T->start_it;
    return 0;
}
