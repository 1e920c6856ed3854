/* Constrained decoding (rollout.constrain_actions, issue 18): the model planner draws each
 * action's tokens among those that continue one of the suite's valid actions.
 *
 *  1. The sampler's allow mask on hand-made logits: greedy takes the best allowed token
 *     (the global argmax is masked), draws are in proportion to the allowed tokens'
 *     renormalised probabilities (4 standard deviations over 40,000 draws) and never a
 *     masked one, top-k and top-p count only allowed tokens, the recorded log-prob is the
 *     masked softmax's (against a double-precision one), allowed logits far below the
 *     masked ones still make a distribution, and a mask that allows nothing is refused.
 *     A mask allowing every token gives the unmasked sampler's draws bit for bit.
 *  1b. The learner's logit mask (af_model_set_logit_mask) on a small model: the masked
 *     log-probs against a double-precision masked softmax of the unmasked logits, tokens
 *     without a mask unchanged, the LM-head rows of tokens masked at every trained
 *     position without gradient, the gradient against central finite differences of the
 *     masked loss over parameters spread through every tensor, and the LM head's block
 *     path (logits recomputed in the backward) giving the same log-probs and gradient.
 *  2. The suite's list (AfSuiteOps.actions): game24 "1 2 3 4" has 36 steps (6 + and *,
 *     12 - and /), all distinct and each executed by the suite's calculator without an
 *     error; after one step 18 (12 of them with its result); a division by a zero result is
 *     not listed; countdown lists "stop" alone where one number is left; arith lists none.
 *  3. Episodes of a random-weight planner on game24 with attempts: free decoding makes bad
 *     actions, the constrained planner (same weights and streams) none, sampled or greedy;
 *     every turn carries one mask per action token (each allowing its token); the
 *     learner's forward with those masks (af_model_set_logit_mask, another code path)
 *     gives the behaviour log-probs (1e-4), so the ratio starts at 1, and without them it
 *     does not; its gradient puts nothing on a masked token's logit (the LM head's rows
 *     of masked tokens get no gradient from a masked position, checked against a finite
 *     difference of the masked log-prob); groups of 3 and 8 give the bits of one episode
 *     at a time; switched off, the free world's bits.
 *  4. Refusals: multihop and arith (no list), and a planner in text.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actor/episode.h"
#include "actor/planner_model.h"
#include "common/decode.h"
#include "common/error.h"
#include "common/kernels.h"
#include "common/traj.h"
#include "env/suite.h"
#include "run/world.h"
#include "tests/test_util.h"
#include "tests/episode_runs.h"

/* ------------------------------------------------------------------ 1: the sampler */

static void test_sampler(void) {
    enum { V = 6 };
    const float z[V] = {0.5f, 1.0f, 3.0f, 0.2f, 1.5f, -0.3f};
    float ef[V];
    double prob[V];
    int idx[V], tmp[V];
    AfSampleScratch sc = {.ef = ef, .prob = prob, .idx = idx, .tmp = tmp};
    const uint8_t allow[V] = {0, 1, 0, 1, 1, 0}; /* the argmax (2) is masked */
    AfRng rng;
    af_rng_init(&rng, 3, AF_RNG_SAMPLE, 0, 0, 0);
    int32_t t;
    float lp;
    /* greedy: the best allowed, and the full vocabulary's log-prob */
    AfSampler g = {.temperature = 0.0f, .top_p = 1.0f, .allow = allow};
    CHECK(af_sample_logits(z, V, &g, &rng, &sc, &t, &lp) == 0);
    CHECK_EQ_INT(t, 4);
    double lse = 0;
    for (int j = 0; j < V; j++) lse += allow[j] ? exp((double)z[j]) : 0.0;
    lse = log(lse);
    CHECK_NEAR(lp, (double)z[4] - lse, 1e-5);
    /* sampled at T = 0.8: in proportion to the allowed ones, renormalised */
    const float T = 0.8f;
    AfSampler s = {.temperature = T, .top_p = 1.0f, .allow = allow};
    double p[V], kept = 0;
    for (int j = 0; j < V; j++) kept += allow[j] ? exp((double)z[j] / T) : 0.0;
    for (int j = 0; j < V; j++) p[j] = allow[j] ? exp((double)z[j] / T) / kept : 0.0;
    int count[V] = {0};
    const int n = 40000;
    int lp_ok = 1;
    for (int i = 0; i < n; i++) {
        if (af_sample_logits(z, V, &s, &rng, &sc, &t, &lp) != 0 || t < 0 || t >= V) {
            CHECK_MSG(0, "draw %d", i);
            break;
        }
        count[t]++;
        if (fabs((double)lp - ((double)z[t] / T - log(kept))) > 1e-5) lp_ok = 0;
    }
    CHECK_MSG(lp_ok, "a sampled token's log-prob is not the masked softmax's at T");
    for (int j = 0; j < V; j++) {
        const double sd = sqrt(n * p[j] * (1 - p[j]));
        CHECK_MSG(fabs(count[j] - n * p[j]) <= 4 * sd + (p[j] == 0 ? 0 : 1),
                  "token %d drawn %d times of %d, expected %.1f", j, count[j], n, n * p[j]);
    }
    /* top_k = 1 with the mask: always the best allowed */
    AfSampler k1 = {.temperature = 1.0f, .top_p = 1.0f, .top_k = 1, .allow = allow};
    int only4 = 1;
    for (int i = 0; i < 200; i++) {
        CHECK(af_sample_logits(z, V, &k1, &rng, &sc, &t, &lp) == 0);
        only4 &= t == 4;
    }
    CHECK_MSG(only4, "top_k 1 among the allowed drew another token");
    /* top_p = 0.5 with the mask: the nucleus of the allowed (4 has 0.59 of their mass) */
    AfSampler tp = {.temperature = 1.0f, .top_p = 0.5f, .allow = allow};
    only4 = 1;
    for (int i = 0; i < 200; i++) {
        CHECK(af_sample_logits(z, V, &tp, &rng, &sc, &t, &lp) == 0);
        only4 &= t == 4;
    }
    CHECK_MSG(only4, "top_p 0.5 among the allowed drew outside their nucleus");
    /* allowed logits far below the masked ones: a distribution of their own (3 has all of
     * its mass at T = 0.8; the others are 125 nats below) */
    const float zu[V] = {0.0f, -1000.0f, 0.0f, -900.0f, -1100.0f, 0.0f};
    CHECK(af_sample_logits(zu, V, &s, &rng, &sc, &t, &lp) == 0);
    CHECK_EQ_INT(t, 3);
    CHECK_NEAR(lp, 0.0, 1e-6);
    /* nothing allowed */
    const uint8_t none[V] = {0};
    AfSampler sn = {.temperature = 1.0f, .top_p = 1.0f, .allow = none};
    CHECK_EQ_INT(af_sample_logits(z, V, &sn, &rng, &sc, &t, &lp), AF_EINVAL);
    CHECK_STR_CONTAINS(af_error_detail(), "allow");
    /* NULL: the unmasked sampler's draws, bit for bit */
    AfRng r1, r2;
    af_rng_init(&r1, 9, AF_RNG_SAMPLE, 1, 2, 3);
    r2 = r1;
    AfSampler a = {.temperature = 0.7f, .top_p = 0.9f, .top_k = 4}, b = a;
    const uint8_t all[V] = {1, 1, 1, 1, 1, 1};
    b.allow = all;
    int same = 1;
    for (int i = 0; i < 500; i++) {
        int32_t ta, tb;
        float la, lb;
        CHECK(af_sample_logits(z, V, &a, &r1, &sc, &ta, &la) == 0);
        CHECK(af_sample_logits(z, V, &b, &r2, &sc, &tb, &lb) == 0);
        same &= ta == tb && la == lb;
    }
    CHECK_MSG(same, "a mask allowing every token changed the draws");
}

/* ------------------------------------------------------------------ 1b: the learner's mask */

/* L = the sum of the masked log-probs of tokens 5..7 of one sequence, at T = 0.7. */
static double masked_loss(AfModel *m, const int32_t *tok, const uint8_t *const *rows, float *lp) {
    int starts[2] = {0, 8};
    af_model_set_logit_mask(m, rows);
    if (af_model_forward(m, tok, starts, 1, 0.7f, lp, NULL)) return NAN;
    return (double)lp[5] + (double)lp[6] + (double)lp[7];
}

static void test_model_mask(void) {
    AfModelConfig c = af_model_config_default();
    c.vocab_size = 24, c.d_model = 16, c.n_layers = 1, c.n_heads = 2, c.n_kv_heads = 1, c.d_ff = 32, c.max_seq = 16;
    AfModel *m = NULL;
    if (af_model_create(&c, 16, 1, AF_MODEL_GRADS, &m)) {
        CHECK_MSG(0, "model: %s", af_error_detail());
        return;
    }
    af_model_init_params_std(m, 5, 0.5);
    const int32_t tok[8] = {1, 5, 7, 2, 9, 3, 11, 4};
    /* tokens 5..7 drawn among {0, 6, 13, 20} and themselves; the others unmasked */
    uint8_t mk[3][3] = {{0}};
    const uint8_t *rows[8] = {0};
    for (int r = 0; r < 3; r++) {
        const int allowed[5] = {0, 6, 13, 20, tok[5 + r]};
        for (int a = 0; a < 5; a++) mk[r][allowed[a] >> 3] |= (uint8_t)(1u << (allowed[a] & 7));
        rows[5 + r] = mk[r];
    }
    float lp[8], lp0[8];
    /* the masked log-probs against a double-precision masked softmax of the unmasked logits */
    (void)masked_loss(m, tok, NULL, lp0);
    const float *z = af_model_logits(m);
    double ref[8];
    for (int i = 5; i < 8 && z; i++) {
        const float *row = z + (size_t)(i - 1) * c.vocab_size;
        double mx = -INFINITY, sum = 0;
        for (int j = 0; j < c.vocab_size; j++)
            if ((mk[i - 5][j >> 3] >> (j & 7)) & 1) mx = fmax(mx, row[j] / 0.7);
        for (int j = 0; j < c.vocab_size; j++)
            if ((mk[i - 5][j >> 3] >> (j & 7)) & 1) sum += exp(row[j] / 0.7 - mx);
        ref[i] = row[tok[i]] / 0.7 - mx - log(sum);
    }
    CHECK(z != NULL);
    const double L = masked_loss(m, tok, rows, lp);
    for (int i = 0; i < 8; i++) {
        if (i >= 5) CHECK_MSG(fabs(lp[i] - ref[i]) < 1e-5, "token %d: masked log-prob %g, reference %g", i, lp[i], ref[i]);
        else CHECK_MSG(lp[i] == lp0[i], "token %d (no mask): %g against %g unmasked", i, lp[i], lp0[i]);
        if (i >= 5) CHECK_MSG(lp[i] > lp0[i] + 1e-3, "token %d: masking raised nothing (%g, %g)", i, lp[i], lp0[i]);
    }
    /* the gradient: rows of the LM head of tokens masked at 5..7 get none */
    float dlogp[8] = {0, 0, 0, 0, 0, 1, 1, 1};
    af_model_zero_grad(m);
    CHECK(af_model_backward(m, dlogp) == 0);
    int zero_masked = 1, nonzero_allowed = 1;
    for (int j = 0; j < c.vocab_size; j++) {
        int any = 0;
        for (int r = 0; r < 3; r++) any |= (mk[r][j >> 3] >> (j & 7)) & 1;
        double g2 = 0;
        for (int k = 0; k < c.d_model; k++) g2 += fabs((double)m->g.lm_head[(size_t)j * c.d_model + k]);
        if (!any && g2 != 0) zero_masked = 0;
        if (any && g2 == 0) nonzero_allowed = 0;
    }
    CHECK_MSG(zero_masked, "a token masked at every trained position got an LM-head gradient");
    CHECK_MSG(nonzero_allowed, "an allowed token got no LM-head gradient");
    /* finite differences of L over parameters spread through every tensor */
    float *g = malloc(m->n_params * sizeof *g);
    if (g) {
        memcpy(g, m->grads, m->n_params * sizeof *g);
        int bad = 0, n = 0;
        for (size_t k = 7; k < m->n_params; k += m->n_params / 29 + 1) {
            const float keep = m->params[k], h = 1e-2f;
            m->params[k] = keep + h;
            const double up = masked_loss(m, tok, rows, lp);
            m->params[k] = keep - h;
            const double down = masked_loss(m, tok, rows, lp);
            m->params[k] = keep;
            const double fd = (up - down) / (2.0 * h);
            n++;
            if (fabs(fd - g[k]) > 2e-3 + 2e-2 * fabs(fd)) {
                bad++;
                fprintf(stderr, "parameter %zu: gradient %g, finite difference %g\n", k, g[k], fd);
            }
        }
        CHECK_MSG(bad == 0 && n >= 25, "%d of %d parameters: gradient against finite differences", bad, n);
        /* the LM head's block path (2 rows a block, logits recomputed in the backward):
         * the same masked log-probs and gradient */
        AfModel *b = NULL;
        af_model_set_lm_budget(1, 2 * (size_t)c.vocab_size);
        if (af_model_create(&c, 16, 1, AF_MODEL_GRADS, &b) == 0) {
            memcpy(b->params, m->params, m->n_params * sizeof *m->params);
            float lpb[8];
            (void)masked_loss(m, tok, rows, lp);
            (void)masked_loss(b, tok, rows, lpb);
            for (int i = 5; i < 8; i++) CHECK_MSG(fabs(lpb[i] - lp[i]) < 1e-6, "block path token %d: %g against %g", i, lpb[i], lp[i]);
            af_model_zero_grad(b);
            CHECK(af_model_backward(b, dlogp) == 0);
            double worst = 0, scale = 0;
            for (size_t k = 0; k < m->n_params; k++) {
                worst = fmax(worst, fabs((double)b->grads[k] - (double)g[k]));
                scale = fmax(scale, fabs((double)g[k]));
            }
            CHECK_MSG(worst <= 1e-5 * scale, "block path gradient: max |d| %g (largest %g)", worst, scale);
        } else {
            CHECK_MSG(0, "block-path model: %s", af_error_detail());
        }
        af_model_destroy(b);
        af_model_set_lm_budget(0, 0);
        free(g);
    }
    (void)L;
    af_model_destroy(m);
}

/* ------------------------------------------------------------------ 2: the suite's list */

static void test_actions(void) {
    AfSuite *g = NULL, *ar = NULL, *mh = NULL;
    CHECK(af_suite_create("game24", NULL, &g) == 0 && af_suite_create("arith", NULL, &ar) == 0 &&
          af_suite_create("multihop", NULL, &mh) == 0);
    if (!g || !ar || !mh) goto out;
    CHECK(g->ops->actions != NULL);
    CHECK(mh->ops->actions == NULL);
    AfItem it = {.question = "1 2 3 4"};
    char **acts = NULL;
    size_t na = 0;
    CHECK(g->ops->actions(g, &it, NULL, 0, &acts, &na) == 0);
    CHECK_EQ_INT((int)na, 36);
    int plus = 0, minus = 0, times = 0, div = 0, dup = 0, ok = 0;
    for (size_t i = 0; i < na; i++) {
        plus += strchr(acts[i], '+') != NULL, minus += strchr(acts[i], '-') != NULL;
        times += strchr(acts[i], '*') != NULL, div += strchr(acts[i], '/') != NULL;
        for (size_t j = 0; j < i; j++) dup += !strcmp(acts[i], acts[j]);
        AfTurnRecord rec = {0};
        CHECK(g->ops->execute(g, &it, NULL, 0, acts[i], 1.0, &rec) == 0);
        ok += rec.status == AF_TOOL_OK;
        af_turn_record_clear(&rec);
    }
    CHECK_EQ_INT(plus, 6);
    CHECK_EQ_INT(times, 6);
    CHECK_EQ_INT(minus, 12);
    CHECK_EQ_INT(div, 12);
    CHECK_EQ_INT(dup, 0);
    CHECK_EQ_INT(ok, 36);
    /* after "$3-$2" (= 1): three numbers left, 18 steps */
    AfTurnRecord first = {0};
    CHECK(g->ops->execute(g, &it, NULL, 0, "calculator $3-$2", 1.0, &first) == 0);
    CHECK_EQ_INT(first.status, AF_TOOL_OK);
    af_suite_actions_free(acts, na);
    CHECK(g->ops->actions(g, &it, &first, 1, &acts, &na) == 0);
    CHECK_EQ_INT((int)na, 18);
    int refs1 = 0;
    for (size_t i = 0; i < na; i++) refs1 += strstr(acts[i], "#1") != NULL;
    CHECK_MSG(refs1 == 12, "%d of the 18 steps use #1 (12 expected: 2 + and * pairs, 4 - and / orders)", refs1);
    af_turn_record_clear(&first);
    af_suite_actions_free(acts, na);
    /* "3 3 5 7" after $2-$1 = 0: no division by #1 */
    AfItem z0 = {.question = "3 3 5 7"};
    AfTurnRecord zr = {0};
    CHECK(g->ops->execute(g, &z0, NULL, 0, "calculator $2-$1", 1.0, &zr) == 0);
    CHECK(g->ops->actions(g, &z0, &zr, 1, &acts, &na) == 0);
    int bad = 0;
    for (size_t i = 0; i < na; i++) bad += strstr(acts[i], "/#1") != NULL;
    CHECK_MSG(na == 16 && bad == 0, "%zu steps, %d divide by the zero", na, bad);
    af_turn_record_clear(&zr);
    af_suite_actions_free(acts, na);
    /* countdown "3 5 -> 9" after $1+$2 = 8: one number left, not the target: "stop" alone */
    AfSuite *cd = NULL;
    CHECK(af_suite_create("countdown", NULL, &cd) == 0);
    if (cd) {
        AfItem ci = {.question = "3 5 -> 9"};
        AfTurnRecord cr = {0};
        CHECK(cd->ops->actions(cd, &ci, NULL, 0, &acts, &na) == 0);
        CHECK_EQ_INT((int)na, 6);
        af_suite_actions_free(acts, na);
        CHECK(cd->ops->execute(cd, &ci, NULL, 0, "calculator $1+$2", 1.0, &cr) == 0);
        CHECK(cd->ops->actions(cd, &ci, &cr, 1, &acts, &na) == 0);
        CHECK_MSG(na == 1 && !strcmp(acts[0], "stop"), "%zu actions after the last step, the first %s", na,
                  na ? acts[0] : "-");
        af_suite_actions_free(acts, na);
        af_turn_record_clear(&cr);
        af_suite_destroy(cd);
    }
    /* arith: none */
    AfItem ai = {.question = "What is 3 plus 4?"};
    CHECK(ar->ops->actions(ar, &ai, NULL, 0, &acts, &na) == 0);
    CHECK(na == 0 && acts == NULL);
out:
    af_suite_destroy(g);
    af_suite_destroy(ar);
    af_suite_destroy(mh);
}

/* ------------------------------------------------------------------ 3: episodes */

enum { NQ = 4, G = 6, N = NQ * G };

typedef EpRuns Runs;

static void runs_free(Runs *r) { ep_free(r); }

/* The N training episodes (queries 3.., samples 0..G-1, iteration 2), one at a time
 * (group 0) or in groups. */
static void run_all(const AfWorld *w, AfPlanner *p, int group, Runs *r) { ep_run(w, p, group, 1, 2, 3, NQ, G, r); }

static int same_runs(const Runs *a, const Runs *b) { return ep_first_diff(a, b) < 0; }

/* Behaviour log-probs against the learner's forward of prompt + action at T, with each
 * turn's masks (masked) or without; *nomask: action tokens without a mask. */
static double worst_logprob(const AfModel *m, const Runs *r, float T, int masked, size_t *counted, size_t *nomask) {
    AfModel *f = NULL;
    const int cap = m->cfg.max_seq;
    double worst = 0;
    *counted = *nomask = 0;
    if (af_model_create(&m->cfg, cap, 1, 0, &f)) return INFINITY;
    memcpy(f->params, m->params, m->n_params * sizeof *m->params);
    int32_t *tok = malloc((size_t)cap * sizeof *tok);
    float *lp = malloc((size_t)cap * sizeof *lp);
    const uint8_t **rows = calloc((size_t)cap, sizeof *rows);
    const size_t stride = af_mask_bytes((size_t)m->cfg.vocab_size);
    for (int i = 0; i < N && tok && lp && rows && worst < INFINITY; i++) {
        const Agentflow__Trajectory *t = r->t[i];
        for (size_t k = 0; t && k < t->n_turns; k++) {
            const Agentflow__Turn *u = t->turns[k];
            const size_t np = u->n_prompt_tokens, na = u->n_action_tokens;
            if (np + na > (size_t)cap || na == 0) continue;
            memset(rows, 0, (size_t)cap * sizeof *rows);
            if (u->action_allow.len != na * stride) *nomask += na;
            else
                for (size_t j = 0; j < na; j++) rows[np + j] = u->action_allow.data + j * stride;
            af_model_set_logit_mask(f, masked ? rows : NULL);
            size_t n;
            const double d = ep_turn_logprob_diff(f, u, T, cap, tok, lp, &n);
            if (d < 0) {
                worst = INFINITY;
                break;
            }
            if (d > worst) worst = d;
            *counted += n;
        }
    }
    free(tok);
    free(lp);
    free(rows);
    af_model_destroy(f);
    return worst;
}

static int make(int constrain, float T, AfWorld **w, AfModel **m, AfPlanner **p) {
    const char *sets[] = {"suite.name=game24", "suite.attempts=3", "suite.view=state", "rollout.max_turns=9",
                          "rollout.max_action_tokens=12", "model.d_model=32", "model.n_layers=1", "model.n_heads=2",
                          "model.n_kv_heads=1", "model.d_ff=48", "model.max_seq=256", "run.seed=4",
                          constrain ? "rollout.constrain_actions=true" : "rollout.constrain_actions=false"};
    *p = NULL;
    if (ep_world(sets, sizeof sets / sizeof *sets, w, m)) return -1;
    af_model_init_params_std(*m, 11, 0.3);
    const AfSampler s = {.temperature = T, .top_p = 1.0f};
    return af_world_model_planner(*w, NULL, *m, &s, p);
}

static void destroy(AfWorld *w, AfModel *m, AfPlanner *p) {
    af_planner_destroy(p);
    af_model_destroy(m);
    af_world_destroy(w);
}

static void test_episodes(void) {
    AfWorld *wf = NULL, *wc = NULL;
    AfModel *mf = NULL, *mc = NULL;
    AfPlanner *pf = NULL, *pc = NULL;
    if (make(0, 1.0f, &wf, &mf, &pf) || make(1, 1.0f, &wc, &mc, &pc)) {
        CHECK_MSG(0, "set-up: %s", af_error_detail());
        goto done;
    }
    Runs free_, con, con3, con8;
    run_all(wf, pf, 0, &free_);
    run_all(wc, pc, 0, &con);
    fprintf(stderr, "free decoding: %zu of %zu turns not ok; constrained: %zu of %zu\n", free_.bad, free_.turns,
            con.bad, con.turns);
    CHECK_MSG(free_.bad * 4 > free_.turns, "free decoding made only %zu bad turns of %zu (the test needs them)",
              free_.bad, free_.turns);
    CHECK_MSG(con.bad == 0 && con.turns > 0, "constrained: %zu bad turns of %zu", con.bad, con.turns);
    size_t counted = 0, nomask = 0, counted0 = 0, nomask0 = 0;
    const double worst = worst_logprob(mc, &con, 1.0f, 1, &counted, &nomask);
    const double worst0 = worst_logprob(mc, &con, 1.0f, 0, &counted0, &nomask0);
    fprintf(stderr, "constrained behaviour log-probs vs the learner's forward: %zu tokens, max |d| %.3g with the masks, "
            "%.3g without\n", counted, worst, worst0);
    CHECK_MSG(counted > 0 && nomask == 0, "%zu action tokens, %zu without a mask", counted, nomask);
    CHECK_MSG(worst <= 1e-4, "with the masks: max |d| %.3g", worst);
    CHECK_MSG(worst0 > 0.1, "without the masks the log-probs should differ: max |d| %.3g", worst0);
    size_t fc = 0, fn = 0;
    (void)worst_logprob(mf, &free_, 1.0f, 1, &fc, &fn);
    CHECK_MSG(fc > 0 && fn == fc, "free decoding: %zu of %zu action tokens carry a mask", fc - fn, fc);
    run_all(wc, pc, 3, &con3);
    run_all(wc, pc, 8, &con8);
    CHECK_MSG(same_runs(&con, &con3), "groups of 3 changed the constrained episodes' bits");
    CHECK_MSG(same_runs(&con, &con8), "groups of 8 changed the constrained episodes' bits");
    runs_free(&free_), runs_free(&con), runs_free(&con3), runs_free(&con8);
    /* greedy: every action valid as well */
    const AfSampler greedy = {.temperature = 0.0f, .top_p = 1.0f};
    CHECK(af_planner_model_set_sampler(pc, &greedy) == 0);
    CHECK(af_planner_model_set_sampler(pf, &greedy) == 0);
    Runs gc, gf;
    run_all(wc, pc, 0, &gc);
    run_all(wf, pf, 0, &gf);
    fprintf(stderr, "greedy: free %zu of %zu turns not ok; constrained %zu of %zu\n", gf.bad, gf.turns, gc.bad,
            gc.turns);
    CHECK_MSG(gc.bad == 0 && gc.turns > 0, "greedy constrained: %zu bad turns of %zu", gc.bad, gc.turns);
    CHECK_MSG(gf.bad > 0, "greedy free decoding made no bad turn (the test needs some)");
    runs_free(&gc), runs_free(&gf);
    /* switched off on the same planner: free decoding again, the bits of the free world */
    CHECK(af_planner_model_set_constrain(pc, wc->suite, 0) == 0);
    CHECK(af_planner_model_set_sampler(pc, &(AfSampler){.temperature = 1.0f, .top_p = 1.0f}) == 0);
    CHECK(af_planner_model_set_sampler(pf, &(AfSampler){.temperature = 1.0f, .top_p = 1.0f}) == 0);
    Runs off, ref;
    run_all(wc, pc, 0, &off);
    run_all(wf, pf, 0, &ref);
    CHECK_MSG(same_runs(&off, &ref), "constraint off: not the free world's bits");
    runs_free(&off), runs_free(&ref);
done:
    destroy(wf, mf, pf);
    destroy(wc, mc, pc);
}

/* ------------------------------------------------------------------ 4: refusals */

static void refused(const char *suite) {
    AfConfig cfg;
    af_config_defaults(&cfg);
    char set[64];
    snprintf(set, sizeof set, "suite.name=%s", suite);
    CHECK(af_config_apply_set(&cfg, set) == 0);
    CHECK(af_config_apply_set(&cfg, "rollout.constrain_actions=true") == 0);
    AfWorld *w = NULL;
    CHECK_EQ_INT(af_world_create(&cfg, &w), AF_ECONFIG);
    CHECK_STR_CONTAINS(af_error_detail(), "rollout.constrain_actions");
    CHECK(w == NULL);
}

static void test_refusals(void) {
    refused("multihop");
    refused("arith");
    AfSuite *mh = NULL;
    AfModel *m = NULL;
    AfPlanner *p = NULL;
    AfModelConfig mc = af_model_config_default();
    mc.vocab_size = 64, mc.d_model = 16, mc.n_layers = 1, mc.n_heads = 2, mc.n_kv_heads = 1, mc.d_ff = 32;
    mc.max_seq = 32;
    const AfSampler s = {.temperature = 1.0f, .top_p = 1.0f};
    if (af_suite_create("multihop", NULL, &mh) == 0 && af_model_create(&mc, 0, 0, 0, &m) == 0 &&
        af_planner_model_create(m, &s, &p) == 0) {
        CHECK_EQ_INT(af_planner_model_set_constrain(p, mh, 1), AF_ECONFIG);
        CHECK_STR_CONTAINS(af_error_detail(), "multihop");
        CHECK_EQ_INT(af_planner_model_set_constrain(p, mh, 0), 0);
    } else {
        CHECK_MSG(0, "set-up: %s", af_error_detail());
    }
    af_planner_destroy(p);
    af_model_destroy(m);
    af_suite_destroy(mh);
}

int main(void) {
    test_sampler();
    test_model_mask();
    test_actions();
    test_episodes();
    test_refusals();
    TEST_MAIN_END();
}
