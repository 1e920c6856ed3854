/* Exploring turns (rollout.explore_random, issue 18): training rollouts in which a turn's
 * action is, with probability p, the random planner's (a uniformly random valid action of
 * the suite) instead of a sample, scored by the model planner.
 *
 *  1. The episode's stream, replayed by hand: each turn draws one uniform; below p the
 *     turn's action is exactly af_planner_random_text's from the same stream (encoded,
 *     end of action included) and the turn is marked explored, otherwise it is a sample
 *     that drew one uniform per token and is not marked. Both kinds occur.
 *  2. Every turn's behaviour log-probs, explored or sampled, are the model's: the learner's
 *     full-sequence forward (af_model_forward, a different code path from the decoder) of
 *     prompt + action at the sampling temperature gives the same values (1e-4), so the
 *     learner's ratio starts at 1 for an explored action as for a sampled one.
 *  3. Group decoding with explored and sampled episodes in the same steps (groups of 3, 4
 *     and 8) gives the bits of one episode at a time; evaluation's settings (the world's
 *     episode) never explore; p = 1 explores every turn; p = 0 (the default) gives the
 *     bits of a world without the key.
 *  4. A planner that cannot score (oracle) is refused, naming the key; the metrics count
 *     explored turns, episodes and their successes on a hand-made trajectory, and report
 *     them only with the key on. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actor/episode.h"
#include "actor/planner_model.h"
#include "common/decode.h"
#include "common/error.h"
#include "common/traj.h"
#include "env/vocab.h"
#include "learner/metrics.h"
#include "run/world.h"
#include "tests/test_util.h"
#include "tests/episode_runs.h"

enum { NQ = 3, G = 8, N = NQ * G };

typedef EpRuns Runs;

static void runs_free(Runs *r) { ep_free(r); }

/* The N training episodes (queries 5.., samples 0..G-1, iteration 7), one at a time
 * (group 0) or in groups; train: the world's training settings, else evaluation's. */
static void run_all(const AfWorld *w, AfPlanner *p, int group, int train, Runs *r) {
    ep_run(w, p, group, train, 7, 5, NQ, G, r);
}

static void check_same(const Runs *a, const Runs *b, const char *what) {
    const int d = ep_first_diff(a, b);
    if (d >= 0) fprintf(stderr, "%s: episode %d differs (%zu vs %zu bytes)\n", what, d, a->len[d], b->len[d]);
    CHECK_MSG(d < 0, "%s: trajectories differ", what);
}

/* 1: the stream replayed by hand (arith's random action does not read the memory). */
static void check_stream(const AfWorld *w, const Runs *r, double p) {
    const AfDataset *ds = af_suite_split(w->suite, AF_SPLIT_TRAIN);
    size_t checked = 0;
    for (int i = 0; i < N; i++) {
        const Agentflow__Trajectory *t = r->t[i];
        if (!t) continue;
        AfRng rng;
        af_rng_init(&rng, w->train_episode.seed, AF_RNG_SAMPLE, t->iteration, t->query_index, t->sample_index);
        for (size_t k = 0; k < t->n_turns; k++) {
            const Agentflow__Turn *u = t->turns[k];
            const int explore = af_rng_uniform(&rng) < p;
            CHECK_MSG(explore == (u->explored != 0), "episode %d turn %zu: explored %d, the stream says %d", i, k,
                      (int)u->explored, explore);
            if (!explore) { /* a sample: one uniform per token */
                for (size_t j = 0; j < u->n_action_tokens; j++) (void)af_rng_uniform(&rng);
                continue;
            }
            AfPlannerInput in = {.suite = w->suite, .item = &ds->items[t->query_index % ds->n], .turn = (uint32_t)k};
            char *text = NULL;
            if (af_planner_random_text(&in, &rng, &text) || !text) {
                CHECK_MSG(0, "random text: %s", af_error_detail());
                continue;
            }
            uint32_t want[256];
            size_t n = 0;
            CHECK(af_vocab_encode(w->suite->vocab, text, want, 255, &n) == 0);
            want[n++] = AF_TOK_EOS;
            if (n > w->train_episode.max_action_tokens) n = w->train_episode.max_action_tokens;
            CHECK_MSG(u->n_action_tokens == n && !memcmp(u->action_tokens, want, n * sizeof *want),
                      "episode %d turn %zu: action \"%s\", the random planner's \"%s\"", i, k, u->action_text, text);
            CHECK_MSG(u->tool && !strcmp(u->tool, "calculator"), "explored action \"%s\" is a calculator call",
                      u->action_text);
            free(text);
            checked++;
        }
    }
    CHECK_MSG(checked > 0, "no explored turn was checked");
}

/* 2: behaviour log-probs against the learner's forward of prompt + action. */
static void check_logprobs(const AfModel *m, const Runs *r, float temperature) {
    AfModel *f = NULL;
    const int cap = m->cfg.max_seq;
    if (af_model_create(&m->cfg, cap, 1, 0, &f)) {
        CHECK_MSG(0, "forward model: %s", af_error_detail());
        return;
    }
    memcpy(f->params, m->params, m->n_params * sizeof *m->params);
    int32_t *tok = malloc((size_t)cap * sizeof *tok);
    float *lp = malloc((size_t)cap * sizeof *lp);
    double worst[2] = {0, 0};
    size_t counted[2] = {0, 0};
    for (int i = 0; i < N && tok && lp; i++) {
        const Agentflow__Trajectory *t = r->t[i];
        for (size_t k = 0; t && k < t->n_turns; k++) {
            const Agentflow__Turn *u = t->turns[k];
            size_t n;
            const double d = ep_turn_logprob_diff(f, u, temperature, cap, tok, lp, &n);
            if (d < 0) {
                CHECK_MSG(0, "forward: %s", af_error_detail());
                continue;
            }
            const int e = u->explored != 0;
            if (d > worst[e]) worst[e] = d;
            counted[e] += n;
        }
    }
    fprintf(stderr, "behaviour log-probs vs the learner's forward: sampled %zu tokens max |d| %.3g, explored %zu max |d| %.3g\n",
            counted[0], worst[0], counted[1], worst[1]);
    CHECK(counted[0] > 0 && counted[1] > 0);
    CHECK_MSG(worst[0] <= 1e-4, "sampled tokens: %.3g", worst[0]);
    CHECK_MSG(worst[1] <= 1e-4, "explored tokens: %.3g", worst[1]);
    free(tok);
    free(lp);
    af_model_destroy(f);
}

static int make(const char *const *sets, size_t n_sets, AfWorld **w, AfModel **m) {
    if (ep_world(sets, n_sets, w, m)) return -1;
    af_model_init_params_std(*m, 11, 0.3); /* peaked enough that samples differ from uniform draws */
    return 0;
}

/* A world of the configuration sets[0..n), its model and planner: the training episodes one
 * at a time, handed to check(world, runs, ctx); what = the variant, for a failed set-up. */
static void with_variant(const char *const *sets, size_t n, const AfSampler *s, const char *what,
                         void (*check)(const AfWorld *, Runs *, const void *), const void *ctx) {
    AfWorld *w = NULL;
    AfModel *m = NULL;
    AfPlanner *p = NULL;
    if (make(sets, n, &w, &m) == 0 && af_planner_model_create(m, s, &p) == 0) {
        Runs r;
        run_all(w, p, 0, 1, &r);
        check(w, &r, ctx);
        runs_free(&r);
    } else {
        CHECK_MSG(0, "%s world: %s", what, af_error_detail());
    }
    af_planner_destroy(p);
    af_model_destroy(m);
    af_world_destroy(w);
}

/* explore_random 0 (the default) in training gives evaluation's bits (ctx: those runs) */
static void check_default(const AfWorld *w, Runs *r, const void *ev) {
    (void)w;
    check_same(ev, r, "explore_random 0 (training) vs evaluation");
    CHECK(r->explored == 0);
}

/* p = 1: every turn explores, each the random planner's */
static void check_all(const AfWorld *w, Runs *r, const void *ctx) {
    (void)ctx;
    CHECK_MSG(r->explored == r->turns && r->turns > 0, "p = 1: %zu of %zu turns explored", r->explored, r->turns);
    check_stream(w, r, 1.0);
}

static void test_episodes(void) {
    const char *base[] = {"suite.name=arith", "rollout.max_turns=3", "rollout.temperature=0.9", "rollout.max_action_tokens=16",
                          "model.d_model=32", "model.n_layers=1", "model.n_heads=2", "model.n_kv_heads=1",
                          "model.d_ff=48", "run.seed=5", "rollout.explore_random=0.4"};
    const size_t nb = sizeof base / sizeof *base;
    AfWorld *w = NULL;
    AfModel *m = NULL;
    AfPlanner *one = NULL, *grp = NULL;
    if (make(base, nb, &w, &m)) {
        CHECK_MSG(0, "set-up: %s", af_error_detail());
        goto done;
    }
    const AfSampler s = {.temperature = 0.9f, .top_p = 1.0f};
    CHECK(af_planner_model_create(m, &s, &one) == 0);
    CHECK(af_planner_model_create(m, &s, &grp) == 0);
    if (!one || !grp) goto done;
    CHECK(w->episode.explore_random == 0.0); /* evaluation and warm start never explore */
    CHECK(w->train_episode.explore_random == 0.4);
    Runs r1, r3, r4, r8, ev;
    run_all(w, one, 0, 1, &r1);
    fprintf(stderr, "explore 0.4: %zu of %zu turns explored\n", r1.explored, r1.turns);
    CHECK_MSG(r1.explored > 0 && r1.explored < r1.turns, "both kinds of turns (%zu of %zu explored)", r1.explored, r1.turns);
    check_stream(w, &r1, 0.4);
    check_logprobs(m, &r1, 0.9f);
    run_all(w, grp, 3, 1, &r3);
    run_all(w, grp, 4, 1, &r4);
    run_all(w, grp, 8, 1, &r8);
    check_same(&r1, &r3, "groups of 3");
    check_same(&r1, &r4, "groups of 4");
    check_same(&r1, &r8, "groups of 8");
    run_all(w, one, 0, 0, &ev);
    CHECK_MSG(ev.explored == 0, "evaluation explored %zu turns", ev.explored);
    runs_free(&r1), runs_free(&r3), runs_free(&r4), runs_free(&r8);
    /* the default (0) against evaluation's settings of the same world: the same bits */
    with_variant(base, nb - 1, &s, "default", check_default, &ev);
    runs_free(&ev);
    const char *all[sizeof base / sizeof *base];
    memcpy(all, base, sizeof base);
    all[nb - 1] = "rollout.explore_random=1";
    with_variant(all, nb, &s, "p = 1", check_all, NULL);
done:
    af_planner_destroy(grp);
    af_planner_destroy(one);
    af_model_destroy(m);
    af_world_destroy(w);
}

/* 4: refusal, and the metrics. */
static void test_refused_and_metrics(void) {
    AfConfig cfg;
    af_config_defaults(&cfg);
    CHECK(af_config_apply_set(&cfg, "suite.name=arith") == 0);
    CHECK(af_config_apply_set(&cfg, "rollout.explore_random=0.5") == 0);
    CHECK(af_config_apply_set(&cfg, "rollout.explore_random=1.5") != 0); /* outside [0, 1] */
    AfWorld *w = NULL;
    AfPlanner *o = NULL;
    if (af_world_create(&cfg, &w) || af_planner_oracle_create(&o)) {
        CHECK_MSG(0, "set-up: %s", af_error_detail());
    } else {
        const AfDataset *ds = af_suite_split(w->suite, AF_SPLIT_TRAIN);
        AfEpisodeId id = {0};
        Agentflow__Trajectory *t = NULL;
        CHECK_EQ_INT(af_world_train_episode(w, o, &ds->items[0], &id, &t), AF_EINVAL);
        CHECK_STR_CONTAINS(af_error_detail(), "rollout.explore_random");
        CHECK(t == NULL);
        CHECK_EQ_INT(af_world_episode(w, o, &ds->items[0], &id, &t), 0); /* evaluation: no exploring */
        af_trajectory_free(t);
    }
    af_planner_destroy(o);
    af_world_destroy(w);

    /* a hand-made trajectory: 3 turns, the first two explored, reward 1 */
    Agentflow__Trajectory tr;
    Agentflow__Turn turns[3], *tp[3];
    agentflow__trajectory__init(&tr);
    for (int i = 0; i < 3; i++) {
        agentflow__turn__init(&turns[i]);
        turns[i].explored = i < 2;
        turns[i].tool_status = AGENTFLOW__TOOL_STATUS__TOOL_STATUS_NO_CALL;
        tp[i] = &turns[i];
    }
    tr.turns = tp;
    tr.n_turns = 3;
    tr.reward = 1.0f;
    tr.status = AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_OK;
    for (int on = 0; on < 2; on++) {
        AfMetrics mt;
        memset(&mt, 0, sizeof mt);
        mt.explore = on;
        af_metrics_add_trajectory(&mt, &tr);
        tr.reward = 0.0f;
        turns[0].explored = 0;
        af_metrics_add_trajectory(&mt, &tr); /* one explored turn, failed */
        tr.reward = 1.0f;
        turns[0].explored = 1;
        CHECK(mt.sums.explored_turns == 3.0);
        CHECK(mt.sums.explored_episodes == 2.0);
        CHECK(mt.sums.explored_correct == 1.0);
        AfMetricValue v[AF_METRICS_MAX_VALUES];
        const int nv = af_metrics_values(&mt, v, AF_METRICS_MAX_VALUES);
        CHECK(nv > 0);
        int found = 0;
        for (int i = 0; i < nv; i++)
            if (!strcmp(v[i].name, "rollout/explored_turns")) {
                found = 1;
                CHECK_NEAR(v[i].value, 0.5, 1e-12); /* 3 of 6 turns */
            }
        CHECK_EQ_INT(found, on);
    }
}

int main(void) {
    test_episodes();
    test_refused_and_metrics();
    TEST_MAIN_END();
}
