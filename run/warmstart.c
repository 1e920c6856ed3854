/* The supervised warm start (see warmstart.h). */
#include "run/warmstart.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "actor/text_planner.h"
#include "common/error.h"
#include "common/log.h"
#include "common/mpi_env.h"
#include "common/progress.h"

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

static int demonstrator(const AfWorld *w, AfPlanner **out) {
    const AfConfig *c = &w->cfg;
    if (c->model.warmstart_planner == AF_WARMSTART_RANDOM) return af_planner_random_create(out);
    if (c->model.warmstart_explore > 0.0 || w->suite->attempts > 1 || w->suite->retries > 0)
        return af_planner_explorer_create(c->model.warmstart_explore, out);
    return af_planner_oracle_create(out);
}

int af_warmstart_run(const AfWorld *w, AfUpdate *upd, AfAdamW *opt, int lidx, int L, MPI_Comm learners,
                     AfWarmstartHook hook, void *hook_ctx) {
    const AfConfig *c = &w->cfg;
    const int steps = (int)c->model.warmstart_steps, nb = (int)c->model.warmstart_batch;
    if (steps <= 0) return 0;
    AfPlanner *demo = NULL, *text_demo = NULL, *player;
    AfTextCodec *codec = NULL;
    Agentflow__Trajectory **tr = calloc((size_t)nb, sizeof *tr);
    int rc = !tr ? af_error_set(AF_ENOMEM, "warm start") : demonstrator(w, &demo);
    if (rc == 0 && w->text_dir[0]) { /* a planner in text: the demonstrations as its replies */
        if ((rc = af_text_codec_load(w->text_dir, c->rollout.stop, &codec)) == 0)
            rc = af_planner_text_demo_create(demo, codec, c->model.warmstart_subgoal == AF_SUBGOAL_PLAN, &text_demo);
    }
    player = text_demo ? text_demo : demo;
    const AfDataset *ds = af_suite_split(w->suite, AF_SPLIT_TRAIN);
    double t0 = af_time_now(), loss = 0, demo_s = 0, update_s = 0;
    const float rl_lr = opt->cfg.lr, peak = (float)c->model.warmstart_lr;
    AfProgress prog;
    af_progress_begin(&prog, "warm start", "steps", steps);
    for (int s = 0; rc == 0 && s < steps; s++) {
        /* 20-step linear warm-up, then cosine decay to 10% of the peak */
        const double warm = 20.0, pr = steps > warm ? (s - warm) / (steps - warm) : 1.0;
        opt->cfg.lr = s < warm ? peak * (float)(s + 1) / (float)warm
                               : peak * (float)(0.1 + 0.45 * (1.0 + cos(M_PI * (pr < 0 ? 0 : pr))));
        /* the batch is shared out over the learners (episode i on learner i mod L) */
        int mine = 0;
        const double td = af_time_now();
        for (int i = lidx; i < nb && rc == 0; i += L) {
            const uint32_t q = (uint32_t)(((uint64_t)s * (uint64_t)nb + (uint64_t)i) % ds->n);
            const AfEpisodeId id = {.iteration = AF_WARMSTART_ITERATION + (uint32_t)s, .query_index = q};
            rc = af_world_demo_episode(w, player, &ds->items[q], &id, &tr[mine]);
            if (rc == 0) drop_turns(tr[mine++], af_planner_explored(demo));
        }
        if (L > 1) { /* a learner whose demonstration failed stops them all, not a hang */
            int bad = rc != 0, any = 0;
            int mrc = af_mpi_allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, learners);
            if (mrc) rc = mrc;
            else if (any && !rc) rc = af_error_set(AF_ECONFIG, "warm start step %d: another learner's demonstration failed", s + 1);
        }
        demo_s += af_time_now() - td;
        const double tu = af_time_now();
        if (rc == 0) rc = af_update_bc_step(upd, (const Agentflow__Trajectory *const *)tr, mine, &loss);
        update_s += af_time_now() - tu;
        for (int i = 0; i < mine; i++) af_trajectory_free(tr[i]), tr[i] = NULL;
        if (rc == 0 && hook) rc = hook(hook_ctx, s + 1, steps);
        if (rc == 0 && (s % 50 == 0 || s == steps - 1)) {
            char eta[32];
            af_progress_duration(af_progress_eta(s + 1, steps, af_time_now() - t0), eta, sizeof eta);
            af_log_progress("warm start %d/%d (ETA %s): action NLL %.4f (%.1fs: demonstrations %.1fs, updates %.1fs)",
                            s + 1, steps, eta, loss, af_time_now() - t0, demo_s, update_s);
        } else if (rc == 0 && lidx == 0) { /* between those lines: the status line */
            af_progress_update(&prog, s + 1, 0);
        }
    }
    af_planner_destroy(text_demo);
    af_planner_destroy(demo);
    af_text_codec_destroy(codec);
    free(tr);
    if (rc) return af_error_wrap(rc, "warm start");
    af_warmstart_hand_over(opt, rl_lr, c->algo.carry_moments);
    return 0;
}

void af_warmstart_hand_over(AfAdamW *opt, float rl_lr, int carry_moments) {
    opt->cfg.lr = rl_lr;
    if (carry_moments) return;
    memset(opt->m, 0, opt->n * sizeof(float));
    memset(opt->v, 0, opt->n * sizeof(float));
    opt->step = 0;
}
