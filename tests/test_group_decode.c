/* Group decoding (issue 19 part 3): the same bits as one episode at a time.
 *
 * Decoder: af_decode_prefill_many over slots of different lengths, a prefix copied with
 * af_decode_copy_prefix and a cache cut with af_decode_truncate, each followed by the rest
 * of the prompt, give the logits (and the next steps) of a plain af_decode_prefill,
 * bit for bit; bad arguments are refused and change nothing.
 *
 * Episodes: game24 with attempts (long episodes whose memory prompt grows turn by turn)
 * and arith, a random-weight model planner, two queries x G samples. The reference runs
 * every turn from an empty cache (a wrapper hides the turn number from the planner, as
 * before the cache was kept across turns); the model planner one episode at a time (cache
 * kept), and af_episode_run_group with groups of 4, 3 (groups that straddle queries) and
 * 8; every trajectory's packed bytes (timings zeroed) must match the reference. Then the
 * weights change and the same planners must follow them (a stale cache from the previous
 * weights is not reused), and a planner that fails inside a group reports that
 * episode's error like one at a time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actor/episode.h"
#include "actor/planner_model.h"
#include "common/decode.h"
#include "common/error.h"
#include "common/traj.h"
#include "run/world.h"
#include "tests/test_util.h"

/* ---- decoder ------------------------------------------------------------------------ */

static int same_floats(const float *a, const float *b, int n) { return a && b && !memcmp(a, b, (size_t)n * sizeof *a); }

static void test_decoder(void) {
    AfModelConfig c = {.vocab_size = 40, .d_model = 32, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .d_ff = 48,
                       .max_seq = 200, .rope_theta = 10000.0f, .rms_eps = 1e-5f};
    AfModel *m = NULL;
    if (af_model_create(&c, 0, 0, 0, &m)) {
        CHECK_MSG(0, "model: %s", af_error_detail());
        return;
    }
    af_model_init_params_std(m, 7, 0.2);
    const int V = c.vocab_size;
    enum { S = 4, L = 150 };
    int32_t tok[S][L];
    for (int s = 0; s < S; s++)
        for (int j = 0; j < L; j++) tok[s][j] = (int32_t)((j < 40 ? j * 7 + 3 : j * 11 + s * 5 + 1) % V); /* 40 shared */
    const int lens[S] = {150, 1, 70, 41}; /* 150 > one chunk of 64 rows */
    AfDecode *ref = NULL, *d = NULL;
    CHECK(af_decode_create(m, S, c.max_seq, &ref) == 0);
    CHECK(af_decode_create(m, S, c.max_seq, &d) == 0);
    if (!ref || !d) goto done;
    for (int s = 0; s < S; s++) CHECK(af_decode_prefill(ref, s, tok[s], lens[s]) == 0);
    /* all slots in one call */
    const int slots[S] = {2, 0, 3, 1}; /* slot slots[i] holds prompt i */
    const int32_t *ptr[S] = {tok[0], tok[1], tok[2], tok[3]};
    CHECK(af_decode_prefill_many(d, S, slots, ptr, lens) == 0);
    for (int i = 0; i < S; i++) {
        CHECK_EQ_INT(af_decode_len(d, slots[i]), lens[i]);
        CHECK_MSG(same_floats(af_decode_logits(d, slots[i]), af_decode_logits(ref, i), V), "prefill_many prompt %d", i);
    }
    /* the next steps too */
    AfSampler smp = {.temperature = 1.0f, .top_p = 1.0f};
    AfRng r1[S], r2[S];
    int32_t t1[S], t2[S];
    float l1[S], l2[S];
    const int ids[S] = {0, 1, 2, 3};
    AfSampler smps[S] = {smp, smp, smp, smp};
    for (int i = 0; i < S; i++) af_rng_init(&r1[i], 5, AF_RNG_SAMPLE, 0, 0, (uint32_t)i), r2[i] = r1[i];
    for (int k = 0; k < 5; k++) {
        CHECK(af_decode_step(ref, S, ids, smps, r1, t1, l1) == 0);
        CHECK(af_decode_step(d, S, slots, smps, r2, t2, l2) == 0);
        CHECK_MSG(!memcmp(t1, t2, sizeof t1) && !memcmp(l1, l2, sizeof l1), "step %d", k);
    }
    /* a copied prefix, then the rest */
    af_decode_reset(d, 0);
    af_decode_reset(d, 1);
    CHECK(af_decode_prefill(d, 0, tok[2], 40) == 0);
    CHECK(af_decode_copy_prefix(d, 1, 0, 40) == 0);
    CHECK(af_decode_logits(d, 1) == NULL);
    const int s01[2] = {0, 1}, rest[2] = {70 - 40, 41 - 40};
    const int32_t *p01[2] = {tok[2] + 40, tok[3] + 40};
    CHECK(af_decode_prefill_many(d, 2, s01, p01, rest) == 0);
    af_decode_reset(ref, 0);
    af_decode_reset(ref, 1);
    CHECK(af_decode_prefill(ref, 0, tok[2], 70) == 0);
    CHECK(af_decode_prefill(ref, 1, tok[3], 41) == 0);
    CHECK_MSG(same_floats(af_decode_logits(d, 0), af_decode_logits(ref, 0), V), "prefix then rest, slot 0");
    CHECK_MSG(same_floats(af_decode_logits(d, 1), af_decode_logits(ref, 1), V), "copied prefix then rest, slot 1");
    /* a cache cut back, then another continuation */
    CHECK(af_decode_truncate(d, 0, 55) == 0);
    CHECK(af_decode_logits(d, 0) == NULL);
    CHECK(af_decode_prefill(d, 0, tok[0] + 55, 60) == 0);
    int32_t mix[115];
    memcpy(mix, tok[2], 55 * sizeof *mix);
    memcpy(mix + 55, tok[0] + 55, 60 * sizeof *mix);
    af_decode_reset(ref, 0);
    CHECK(af_decode_prefill(ref, 0, mix, 115) == 0);
    CHECK_MSG(same_floats(af_decode_logits(d, 0), af_decode_logits(ref, 0), V), "truncated then continued");
    /* refused, nothing changed */
    const int dup[2] = {1, 1}, two[2] = {1, 1};
    const int32_t bad_tok[1] = {V}, *pb[2] = {bad_tok, bad_tok};
    const int lb[2] = {1, 1};
    CHECK(af_decode_prefill_many(d, 2, dup, p01, two) == AF_EINVAL);
    const int s23[2] = {2, 3};
    CHECK(af_decode_prefill_many(d, 2, s23, pb, lb) == AF_EINVAL);
    const int too_long[2] = {c.max_seq, 1};
    CHECK(af_decode_prefill_many(d, 2, s23, p01, too_long) == AF_EINVAL);
    CHECK_EQ_INT(af_decode_len(d, 1), 41);
    CHECK(af_decode_copy_prefix(d, 1, 1, 1) == AF_EINVAL);
    CHECK(af_decode_copy_prefix(d, 2, 1, 42) == AF_EINVAL);
    CHECK(af_decode_truncate(d, 1, 42) == AF_EINVAL);
    CHECK(af_decode_truncate(d, S, 0) == AF_EINVAL);
    CHECK_EQ_INT(af_decode_len(d, 1), 41);
done:
    af_decode_destroy(ref);
    af_decode_destroy(d);
    af_model_destroy(m);
}

/* ---- episodes ----------------------------------------------------------------------- */

/* The reference: every turn of the inner model planner from an empty cache. */
static int fresh_act(AfPlanner *self, const AfPlannerInput *in, AfRng *rng, uint32_t *tokens, float *logprobs,
                     size_t max_tokens, size_t *n) {
    AfPlanner *inner = self->ctx;
    AfPlannerInput c = *in;
    c.turn = 0;
    return inner->act(inner, &c, rng, tokens, logprobs, max_tokens, n);
}

/* Packed bytes of t with the timing fields zeroed (malloc'd), *len. */
static uint8_t *packed(Agentflow__Trajectory *t, size_t *len) {
    af_trajectory_zero_timings(t);
    t->episode_s = 0;
    *len = protobuf_c_message_get_packed_size(&t->base);
    uint8_t *b = malloc(*len ? *len : 1);
    if (b) protobuf_c_message_pack(&t->base, b);
    return b;
}

enum { NQ = 2, G = 8, N = NQ * G };

typedef struct {
    uint8_t *b[N];
    size_t len[N];
    size_t turns;
} Runs;

static void runs_free(Runs *r) {
    for (int i = 0; i < N; i++) free(r->b[i]);
    memset(r, 0, sizeof *r);
}

/* The N episodes (queries q0, q0 + 1; samples 0..G-1) with planner p, in groups of
 * `group` (0: one at a time with af_world_episode). */
static void run_all(const AfWorld *w, AfPlanner *p, int group, uint32_t iteration, Runs *r) {
    const AfDataset *ds = af_suite_split(w->suite, AF_SPLIT_TRAIN);
    const AfItem *items[N];
    AfEpisodeId ids[N];
    Agentflow__Trajectory *t[N] = {0};
    int rcs[N];
    static char details[N][AF_EPISODE_DETAIL];
    for (int i = 0; i < N; i++) {
        items[i] = &ds->items[(size_t)(3 + i / G) % ds->n];
        ids[i] = (AfEpisodeId){.iteration = iteration, .query_index = (uint32_t)(3 + i / G), .sample_index = (uint32_t)(i % G)};
    }
    if (group == 0) {
        for (int i = 0; i < N; i++) {
            rcs[i] = af_world_episode(w, p, items[i], &ids[i], &t[i]);
            CHECK_MSG(rcs[i] == 0, "episode %d: %s", i, af_error_detail());
        }
    } else {
        CHECK(af_world_planner_group(w, p, group) == 0);
        CHECK_EQ_INT(p->group, group > 1 ? group : 0);
        CHECK(af_world_episode_group(w, p, items, ids, N, t, rcs, details) == 0);
        for (int i = 0; i < N; i++) CHECK_MSG(rcs[i] == 0, "grouped episode %d: %s", i, details[i]);
    }
    memset(r, 0, sizeof *r);
    for (int i = 0; i < N; i++) {
        if (!t[i]) continue;
        r->turns += t[i]->n_turns;
        r->b[i] = packed(t[i], &r->len[i]);
        af_trajectory_free(t[i]);
    }
}

static void check_same(const Runs *a, const Runs *b, const char *what) {
    int same = 1;
    for (int i = 0; i < N; i++)
        if (!a->b[i] || !b->b[i] || a->len[i] != b->len[i] || memcmp(a->b[i], b->b[i], a->len[i])) {
            same = 0;
            fprintf(stderr, "%s: episode %d differs (%zu vs %zu bytes)\n", what, i, a->len[i], b->len[i]);
        }
    CHECK_MSG(same, "%s: trajectories differ from the reference", what);
}

static void test_episodes(const char *suite, const char *const *sets, size_t n_sets) {
    AfConfig cfg;
    af_config_defaults(&cfg);
    char buf[200];
    snprintf(buf, sizeof buf, "suite.name=%s", suite);
    CHECK(af_config_apply_set(&cfg, buf) == 0);
    for (size_t i = 0; i < n_sets; i++) CHECK_MSG(af_config_apply_set(&cfg, sets[i]) == 0, "%s", sets[i]);
    AfWorld *w = NULL;
    AfModel *m = NULL;
    AfPlanner *ref = NULL, *one = NULL, *grp = NULL, wrap = {0};
    if (af_world_create(&cfg, &w) || af_world_model_create(w, NULL, &m)) {
        CHECK_MSG(0, "world: %s", af_error_detail());
        goto done;
    }
    const AfSampler s = {.temperature = (float)cfg.rollout.temperature, .top_p = (float)cfg.rollout.top_p,
                         .top_k = (int)cfg.rollout.top_k};
    CHECK(af_planner_model_create(m, &s, &ref) == 0);
    CHECK(af_planner_model_create(m, &s, &one) == 0);
    CHECK(af_planner_model_create(m, &s, &grp) == 0);
    if (!ref || !one || !grp) goto done;
    wrap = *ref;
    wrap.act = fresh_act;
    wrap.destroy = NULL;
    wrap.ctx = ref;
    for (uint32_t round = 0; round < 2; round++) {
        if (round == 1) /* new weights: what the slots hold from round 0 is stale */
            for (size_t i = 0; i < m->n_params; i += 3) m->params[i] *= 0.75f;
        Runs r0, r1, r4, r3, r8;
        run_all(w, &wrap, 0, round, &r0);
        run_all(w, one, 0, round, &r1);
        run_all(w, grp, 4, round, &r4);
        run_all(w, grp, 3, round, &r3);
        run_all(w, grp, 8, round, &r8);
        fprintf(stderr, "%s round %u: %zu turns in %d episodes\n", suite, round, r0.turns, N);
        CHECK_MSG(r0.turns > (size_t)N * 2, "%s: episodes of several turns (%zu)", suite, r0.turns);
        check_same(&r0, &r1, "one at a time, cache kept across turns");
        check_same(&r0, &r4, "groups of 4");
        check_same(&r0, &r3, "groups of 3");
        check_same(&r0, &r8, "groups of 8");
        runs_free(&r0), runs_free(&r1), runs_free(&r4), runs_free(&r3), runs_free(&r8);
    }
    AfPlannerModelStats st;
    af_planner_model_stats(grp, &st);
    fprintf(stderr, "%s: reused %llu shared %llu prefilled %llu steps %llu\n", suite, (unsigned long long)st.reused_tokens,
            (unsigned long long)st.shared_tokens, (unsigned long long)st.prefilled_tokens, (unsigned long long)st.steps);
    CHECK(st.shared_tokens > 0);
    CHECK(st.reused_tokens > st.shared_tokens);
done:
    af_planner_destroy(grp);
    af_planner_destroy(one);
    af_planner_destroy(ref);
    af_model_destroy(m);
    af_world_destroy(w);
}

/* A group whose planner fails (a prompt token outside the model's vocabulary for one
 * episode: a model smaller than the suite's vocabulary) reports each episode's own
 * result: the failing one its error, as one at a time. */
static void test_group_error(void) {
    AfConfig cfg;
    af_config_defaults(&cfg);
    CHECK(af_config_apply_set(&cfg, "suite.name=game24") == 0);
    CHECK(af_config_apply_set(&cfg, "rollout.max_turns=2") == 0);
    AfWorld *w = NULL;
    AfModel *m = NULL;
    AfPlanner *p = NULL;
    if (af_world_create(&cfg, &w)) goto done;
    AfModelConfig mc = w->model;
    mc.vocab_size = 20; /* the prompts' ids run past it */
    if (af_model_create(&mc, 0, 0, 0, &m)) goto done;
    af_model_init_params_std(m, 3, 0.02);
    const AfSampler s = {.temperature = 1.0f, .top_p = 1.0f};
    if (af_planner_model_create(m, &s, &p) || af_planner_model_set_group(p, 4)) goto done;
    const AfDataset *ds = af_suite_split(w->suite, AF_SPLIT_TRAIN);
    const AfItem *items[3] = {&ds->items[0], &ds->items[1], &ds->items[2]};
    AfEpisodeId ids[3] = {{.sample_index = 0}, {.sample_index = 1}, {.sample_index = 2}};
    Agentflow__Trajectory *t[3] = {0};
    int rcs[3];
    static char details[3][AF_EPISODE_DETAIL];
    CHECK(af_world_episode_group(w, p, items, ids, 3, t, rcs, details) == 0);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(rcs[i], AF_EINVAL);
        CHECK(t[i] == NULL);
        CHECK_STR_CONTAINS(details[i], "outside the model's vocabulary");
    }
done:
    CHECK_MSG(p != NULL, "set-up: %s", af_error_detail());
    af_planner_destroy(p);
    af_model_destroy(m);
    af_world_destroy(w);
}

int main(void) {
    test_decoder();
    const char *g24[] = {"suite.attempts=4", "rollout.max_turns=10", "rollout.temperature=1.0", "model.max_seq=384",
                         "model.d_model=32", "model.n_layers=2", "model.n_heads=2", "model.n_kv_heads=2", "model.d_ff=64"};
    test_episodes("game24", g24, sizeof g24 / sizeof *g24);
    const char *arith[] = {"rollout.max_turns=4", "rollout.top_p=0.9", "rollout.temperature=0.8", "model.d_model=32",
                           "model.n_layers=1", "model.n_heads=2", "model.n_kv_heads=1", "model.d_ff=48"};
    test_episodes("arith", arith, sizeof arith / sizeof *arith);
    test_group_error();
    TEST_MAIN_END();
}
