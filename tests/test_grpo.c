/* Tests of learner/grpo: hand-computed advantages and losses, finite differences of
 * dL/dlogp in double, and (with --dump FILE) a JSON dump of random cases that
 * tests/grpo_ref.py recomputes with PyTorch autograd. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common/error.h"
#include "common/rng.h"
#include "learner/grpo.h"
#include "test_util.h"

#define EPS 1e-6

/* ------------------------------------------------------------------ advantages */

static void test_adv_traj(void) {
    AfAdvOptions o;
    af_grpo_adv_options_default(&o);
    float r[4] = {1, 0, 0, 1}, a[4];
    uint8_t st[4] = {0, 0, 0, 0}, use[4];
    AfAdvGroupStats gs;
    CHECK_EQ_INT(af_grpo_group_advantages(&o, 4, r, st, NULL, a, use, &gs), 0);
    /* mean 0.5; sample std = sqrt((4 * 0.25) / 3) = sqrt(1/3) = 0.5773502692
     * A = +-0.5 / (0.5773502692 + 1e-6) = +-0.8660239038 */
    CHECK_NEAR(gs.mean, 0.5, 1e-12);
    CHECK_NEAR(gs.std, 0.5773502691896257, 1e-12);
    CHECK_NEAR(a[0], 0.8660239037870368, 1e-7);
    CHECK_NEAR(a[1], -0.8660239037870368, 1e-7);
    CHECK_NEAR(a[3], 0.8660239037870368, 1e-7);
    CHECK(use[0] && use[1] && use[2] && use[3]);
    CHECK(!gs.zero_variance && !gs.dropped);

    /* a failed member is excluded: OK rewards {1, 0, 0.5}: mean 0.5,
     * ss = 0.25 + 0.25 + 0 = 0.5, var = 0.5 / 2 = 0.25, std 0.5;
     * A = +-0.5 / 0.500001 = +-0.999998000004, failed -> 0 and masked */
    float r2[4] = {1, 0, 1, 0.5f};
    uint8_t st2[4] = {0, 0, AF_GRPO_TRAJ_FAILED, 0};
    CHECK_EQ_INT(af_grpo_group_advantages(&o, 4, r2, st2, NULL, a, use, &gs), 0);
    CHECK_EQ_INT(gs.n_ok, 3);
    CHECK_EQ_INT(gs.n_failed, 1);
    CHECK_NEAR(gs.std, 0.5, 1e-12);
    CHECK_NEAR(a[0], 0.999998000004, 1e-7);
    CHECK_NEAR(a[1], -0.999998000004, 1e-7);
    CHECK(a[2] == 0.0f && use[2] == 0);
    CHECK(a[3] == 0.0f && use[3] == 1);

    /* no std normalization (ablation): A = R - mean = {0.5, -0.5, 0 (failed), 0} */
    o.normalize_std = 0;
    CHECK_EQ_INT(af_grpo_group_advantages(&o, 4, r2, st2, NULL, a, use, &gs), 0);
    CHECK_NEAR(a[0], 0.5, 1e-7);
    CHECK_NEAR(a[1], -0.5, 1e-7);
    CHECK(a[2] == 0.0f);
}

static void test_adv_turn(void) {
    AfAdvOptions o;
    af_grpo_adv_options_default(&o);
    o.stats = AF_ADV_STATS_TURN;
    /* rewards {1, 0, 0} with {1, 2, 3} turns: six rows {1, 0, 0, 0, 0, 0}.
     * mean = 1/6; ss = (5/6)^2 + 5 (1/6)^2 = 30/36; var = (30/36) / 5 = 1/6;
     * std = 0.4082482905; A0 = (5/6) / 0.4082492905 = 2.0412364523,
     * A1 = A2 = (-1/6) / 0.4082492905 = -0.4082472905 */
    float r[3] = {1, 0, 0}, a[3];
    uint8_t st[3] = {0, 0, 0}, use[3];
    int nt[3] = {1, 2, 3};
    AfAdvGroupStats gs;
    CHECK_EQ_INT(af_grpo_group_advantages(&o, 3, r, st, nt, a, use, &gs), 0);
    CHECK_NEAR(gs.mean, 1.0 / 6.0, 1e-12);
    CHECK_NEAR(gs.std, 0.408248290463863, 1e-12);
    CHECK_NEAR(a[0], 2.041236452331563, 1e-6);
    CHECK_NEAR(a[1], -0.40824729046631253, 1e-7);
    CHECK_NEAR(a[2], -0.40824729046631253, 1e-7);
    /* the trajectory-level statistics give something else for the same group:
     * mean 1/3, std = sqrt((4/9 + 1/9 + 1/9) / 2) = sqrt(1/3) */
    o.stats = AF_ADV_STATS_TRAJ;
    CHECK_EQ_INT(af_grpo_group_advantages(&o, 3, r, st, nt, a, use, &gs), 0);
    CHECK_NEAR(gs.std, 0.5773502691896257, 1e-12);
    CHECK_NEAR(a[0], (2.0 / 3.0) / (0.5773502691896257 + EPS), 1e-6);
    /* turn mode needs n_turns, and n_turns >= 1 for OK members */
    o.stats = AF_ADV_STATS_TURN;
    CHECK_EQ_INT(af_grpo_group_advantages(&o, 3, r, st, NULL, a, use, &gs), AF_EINVAL);
    int bad[3] = {1, 0, 2};
    CHECK_EQ_INT(af_grpo_group_advantages(&o, 3, r, st, bad, a, use, &gs), AF_EINVAL);
    CHECK_STR_CONTAINS(af_error_detail(), "member 1");
    /* final turn only (ablation) */
    o.final_turn_only = 1;
    CHECK(af_grpo_turn_advantage(&o, 0.7f, 0, 3, 0, 0) == 0.0f);
    CHECK(af_grpo_turn_advantage(&o, 0.7f, 2, 3, 0, 0) == 0.7f);
    o.final_turn_only = 0;
    CHECK(af_grpo_turn_advantage(&o, 0.7f, 0, 3, 0, 0) == 0.7f);
    CHECK(af_grpo_turn_advantage(&o, 0.7f, 0, 3, 0, 1) == 0.7f); /* tries count only with last_try_credit */
    /* last-try credit: a success is not credited to the failed tries before it, a failure
     * is charged to every try */
    o.last_try_credit = 1;
    CHECK(af_grpo_turn_advantage(&o, 0.7f, 0, 6, 0, 2) == 0.0f);
    CHECK(af_grpo_turn_advantage(&o, 0.7f, 3, 6, 1, 2) == 0.0f);
    CHECK(af_grpo_turn_advantage(&o, 0.7f, 4, 6, 2, 2) == 0.7f);
    CHECK(af_grpo_turn_advantage(&o, -0.7f, 0, 6, 0, 2) == -0.7f);
    CHECK(af_grpo_turn_advantage(&o, 0.7f, 0, 3, 0, 0) == 0.7f);
    o.last_try_credit = 0;
}

static void test_adv_zero_variance(void) {
    AfAdvOptions o;
    af_grpo_adv_options_default(&o);
    float r[3] = {0.5f, 0.5f, 0.5f}, a[3];
    uint8_t st[3] = {0, 0, 0}, use[3];
    AfAdvGroupStats gs;
    CHECK_EQ_INT(af_grpo_group_advantages(&o, 3, r, st, NULL, a, use, &gs), 0);
    CHECK(gs.zero_variance && gs.dropped);
    CHECK(!use[0] && !use[1] && !use[2] && a[0] == 0.0f);
    /* kept when drop_zero_variance = 0: A = 0 / (0 + eps) = 0, members contribute */
    o.drop_zero_variance = 0;
    CHECK_EQ_INT(af_grpo_group_advantages(&o, 3, r, st, NULL, a, use, &gs), 0);
    CHECK(gs.zero_variance && !gs.dropped);
    CHECK(use[0] && use[1] && use[2] && a[0] == 0.0f && a[2] == 0.0f);
    /* the failed member's different reward does not count: still zero-variance */
    o.drop_zero_variance = 1;
    float r2[3] = {1, 1, 0};
    uint8_t st2[3] = {0, 0, AF_GRPO_TRAJ_FAILED};
    CHECK_EQ_INT(af_grpo_group_advantages(&o, 3, r2, st2, NULL, a, use, &gs), 0);
    CHECK(gs.zero_variance && gs.dropped);
    /* nearly equal is not equal */
    float r3[2] = {1.0f, nextafterf(1.0f, 2.0f)};
    CHECK_EQ_INT(af_grpo_group_advantages(&o, 2, r3, st, NULL, a, use, &gs), 0);
    CHECK(!gs.zero_variance && use[0] && use[1]);
    /* all failed: dropped, nothing usable */
    uint8_t st4[3] = {1, 1, 1};
    CHECK_EQ_INT(af_grpo_group_advantages(&o, 3, r, st4, NULL, a, use, &gs), 0);
    CHECK(gs.dropped && gs.n_ok == 0 && !use[0]);
    /* one usable member, kept: verl's mean 0 / std 1, A = R / (1 + eps) */
    o.drop_zero_variance = 0;
    uint8_t st5[3] = {1, 0, 1};
    CHECK_EQ_INT(af_grpo_group_advantages(&o, 3, r, st5, NULL, a, use, &gs), 0);
    CHECK_NEAR(a[1], 0.5 / (1.0 + EPS), 1e-7);
    /* bad input */
    float rn[2] = {NAN, 1};
    CHECK_EQ_INT(af_grpo_group_advantages(&o, 2, rn, st, NULL, a, use, &gs), AF_EINVAL);
    CHECK_STR_CONTAINS(af_error_detail(), "member 0");
    uint8_t sbad[2] = {0, 9};
    CHECK_EQ_INT(af_grpo_group_advantages(&o, 2, r, sbad, NULL, a, use, &gs), AF_EINVAL);
    CHECK_EQ_INT(af_grpo_group_advantages(&o, 0, r, st, NULL, a, use, &gs), AF_EINVAL);
}

/* ------------------------------------------------------------------ token cases */

/* One sample of one token: L = token loss (token_mean over 1 token). */
static void one_token(const AfLossOptions *o, float A, double logp, double old, double ref,
                      double *loss, double *grad, AfLossStats *st) {
    int off[2] = {0, 1}, id[1] = {0};
    AfGrpoBatch b = {.n_samples = 1, .tok_offset = off, .traj_id = id, .adv = &A,
                     .logp = &logp, .old_logp = &old, .ref_logp = &ref};
    int rc = af_grpo_loss_f64(o, &b, grad, st);
    CHECK_EQ_INT(rc, 0);
    *loss = st->loss;
}

static void test_token_clipping(void) {
    AfLossOptions o;
    af_grpo_loss_options_default(&o);
    o.kl_coef = 0.0;
    o.agg = AF_LOSS_AGG_TOKEN_MEAN;
    double L, g;
    AfLossStats st;
    /* A = 1, rho = 1.5: l1 = -1.5, l2 = -1 * 1.3 = -1.3, max = -1.3 (clipped), grad 0 */
    one_token(&o, 1.0f, log(1.5), 0.0, 0.0, &L, &g, &st);
    CHECK_NEAR(L, -1.3, 1e-12);
    CHECK_NEAR(g, 0.0, 1e-15);
    CHECK_NEAR(st.clip_frac, 1.0, 0);
    /* A = 1, rho = 0.5: l1 = -0.5, l2 = -0.8, max = -0.5 (not clipped), dL/dlogp = -A rho = -0.5 */
    one_token(&o, 1.0f, log(0.5), 0.0, 0.0, &L, &g, &st);
    CHECK_NEAR(L, -0.5, 1e-12);
    CHECK_NEAR(g, -0.5, 1e-12);
    CHECK_NEAR(st.clip_frac, 0.0, 0);
    /* A = -1, rho = 0.5: l1 = 0.5, l2 = 0.8, max = 0.8 (clipped), grad 0 */
    one_token(&o, -1.0f, log(0.5), 0.0, 0.0, &L, &g, &st);
    CHECK_NEAR(L, 0.8, 1e-12);
    CHECK_NEAR(g, 0.0, 1e-15);
    CHECK_NEAR(st.clip_frac, 1.0, 0);
    /* A = -1, rho = 1.5: l1 = 1.5, l2 = 1.3, max = 1.5 < 3, grad = -A rho = 1.5 */
    one_token(&o, -1.0f, log(1.5), 0.0, 0.0, &L, &g, &st);
    CHECK_NEAR(L, 1.5, 1e-12);
    CHECK_NEAR(g, 1.5, 1e-12);
    CHECK_NEAR(st.dual_clip_frac, 0.0, 0);
    /* A = -1, rho = 4: l1 = 4, l2 = 1.3, max = 4, min(4, -c A = 3) = 3 (dual clip), grad 0 */
    one_token(&o, -1.0f, log(4.0), 0.0, 0.0, &L, &g, &st);
    CHECK_NEAR(L, 3.0, 1e-12);
    CHECK_NEAR(g, 0.0, 1e-15);
    CHECK_NEAR(st.dual_clip_frac, 1.0, 0);
    /* the same without dual clip: 4, grad 4 */
    o.dual_clip = 0.0;
    one_token(&o, -1.0f, log(4.0), 0.0, 0.0, &L, &g, &st);
    CHECK_NEAR(L, 4.0, 1e-12);
    CHECK_NEAR(g, 4.0, 1e-12);
    o.dual_clip = 3.0;
    /* A = 2, rho = 1.1 inside the range: l1 = l2 = -2.2, grad = -A rho = -2.2 */
    one_token(&o, 2.0f, log(1.1), 0.0, 0.0, &L, &g, &st);
    CHECK_NEAR(L, -2.2, 1e-12);
    CHECK_NEAR(g, -2.2, 1e-12);
    /* on-policy (rho = 1 exactly, logp == old): grad = -A */
    one_token(&o, 0.5f, -1.25, -1.25, 0.0, &L, &g, &st);
    CHECK_NEAR(L, -0.5, 0);
    CHECK_NEAR(g, -0.5, 0);
    CHECK_NEAR(st.clip_frac, 0.0, 0);
    /* A = -0.5, rho = 1.35 > 1.3: l1 = 0.675 > l2 = 0.65: unclipped branch, grad 0.675 */
    one_token(&o, -0.5f, log(1.35), 0.0, 0.0, &L, &g, &st);
    CHECK_NEAR(L, 0.675, 1e-12);
    CHECK_NEAR(g, 0.675, 1e-12);
    /* asymmetric: rho = 0.75 is inside [0.8, 1.3]? no: 0.75 < 0.8, so with A = 1
     * l1 = -0.75 > l2 = -0.8: unclipped; rho = 1.25 inside: unclipped; rho = 0.79 with A=-1:
     * l1 = 0.79 < l2 = 0.8: clipped */
    one_token(&o, -1.0f, log(0.79), 0.0, 0.0, &L, &g, &st);
    CHECK_NEAR(L, 0.8, 1e-12);
    CHECK_NEAR(st.clip_frac, 1.0, 0);
    one_token(&o, 1.0f, log(1.29), 0.0, 0.0, &L, &g, &st);
    CHECK_NEAR(L, -1.29, 1e-12);
    CHECK_NEAR(st.clip_frac, 0.0, 0);
}

static void test_token_kl(void) {
    AfLossOptions o;
    af_grpo_loss_options_default(&o);
    o.agg = AF_LOSS_AGG_TOKEN_MEAN;
    o.kl_coef = 0.5;
    double L, g;
    AfLossStats st;
    /* A = 0 (pg 0). ref - logp = 0.5: kl = e^0.5 - 0.5 - 1 = 0.1487212707,
     * dkl/dlogp = 1 - e^0.5 = -0.6487212707; L = 0.5 kl, dL = 0.5 dkl */
    one_token(&o, 0.0f, -1.0, -1.0, -0.5, &L, &g, &st);
    CHECK_NEAR(st.kl, 0.1487212707001282, 1e-12);
    CHECK_NEAR(L, 0.5 * 0.1487212707001282, 1e-12);
    CHECK_NEAR(g, 0.5 * -0.6487212707001282, 1e-12);
    /* ref - logp = -1: kl = e^-1 + 1 - 1 = 0.3678794412, dkl = 1 - e^-1 = 0.6321205588 */
    one_token(&o, 0.0f, -1.0, -1.0, -2.0, &L, &g, &st);
    CHECK_NEAR(st.kl, 0.36787944117144233, 1e-12);
    CHECK_NEAR(g, 0.5 * 0.6321205588285577, 1e-12);
    /* ref == logp: kl 0, grad 0 */
    one_token(&o, 0.0f, -3.0, -3.0, -3.0, &L, &g, &st);
    CHECK_NEAR(st.kl, 0.0, 0);
    CHECK_NEAR(g, 0.0, 0);
    /* huge gap: kld clamped at 10, grad 0 */
    one_token(&o, 0.0f, -30.0, -30.0, -1.0, &L, &g, &st);
    CHECK_NEAR(st.kl, 10.0, 0);
    CHECK_NEAR(g, 0.0, 0);
}

/* algo.adv_pass_k against enumeration: every k-subset of the OK members (a bitmask over them),
 * its reward the best member's. */
static void pass_k_brute(int G, const float *r, const uint8_t *st, int k, int normalize, double *adv,
                         int *signal) {
    int ok[16], n = 0;
    for (int i = 0; i < G; i++)
        if (st[i] == AF_GRPO_TRAJ_OK) ok[n++] = i;
    if (k > n - 1) k = n - 1;
    double sum = 0.0, sum2 = 0.0, held[16] = {0}, lo = INFINITY, hi = -INFINITY;
    int cnt = 0, held_n[16] = {0};
    for (unsigned mask = 0; mask < (1u << n); mask++) {
        if (__builtin_popcount(mask) != k) continue;
        double best = -INFINITY;
        for (int a = 0; a < n; a++)
            if (mask >> a & 1u && r[ok[a]] > best) best = r[ok[a]];
        sum += best, sum2 += best * best, cnt++;
        lo = best < lo ? best : lo, hi = best > hi ? best : hi;
        for (int a = 0; a < n; a++)
            if (mask >> a & 1u) held[a] += best, held_n[a]++;
    }
    double mean = sum / cnt, sd = sqrt(fmax(sum2 / cnt - mean * mean, 0.0));
    *signal = lo != hi;
    for (int i = 0; i < G; i++) adv[i] = 0.0;
    for (int a = 0; a < n && *signal; a++) {
        double v = held[a] / held_n[a] - mean;
        adv[ok[a]] = normalize ? v / (sd + EPS) : v;
    }
}

/* algo.adv_pass_k on hand-made groups: the paper's closed form for 0/1 rewards, what it does
 * to the weight of solved and unsolved questions against GRPO, groups without signal, and
 * random groups (rewards 0 / 0.25 / .. / 1, failed members) against enumeration. */
static void test_adv_pass_k(void) {
    AfAdvOptions o;
    af_grpo_adv_options_default(&o);
    CHECK(o.pass_k == 0);
    uint8_t st[16] = {0}, use[16];
    AfAdvGroupStats gs;
    /* 1 success in 8, k = 4: Rbar = 1 - C(7,4)/C(8,4) = 1/2, sigma = 1/2; the success gets
     * (1 - Rbar)/sigma = 1, a failure (1 - Rbar - C(6,3)/C(7,3))/sigma = -1/7 */
    float one[8] = {0, 0, 0, 1, 0, 0, 0, 0}, four[8] = {1, 0, 1, 0, 0, 1, 1, 0};
    float a1[8], a4[8], g1[8], g4[8];
    CHECK_EQ_INT(af_grpo_group_advantages(&o, 8, one, st, NULL, g1, use, &gs), 0);
    CHECK_EQ_INT(af_grpo_group_advantages(&o, 8, four, st, NULL, g4, use, &gs), 0);
    o.pass_k = 4;
    CHECK_EQ_INT(af_grpo_group_advantages(&o, 8, one, st, NULL, a1, use, &gs), 0);
    CHECK_NEAR(gs.mean, 0.5, 1e-12);
    CHECK_NEAR(gs.std, 0.5, 1e-12);
    CHECK_NEAR(a1[3], 0.5 / (0.5 + EPS), 1e-6);
    CHECK_NEAR(a1[0], (0.5 - 20.0 / 35.0) / (0.5 + EPS), 1e-6);
    /* 4 successes in 8: Rbar = 1 - 1/70; +-(1/70)/sigma for a success / a failure */
    CHECK_EQ_INT(af_grpo_group_advantages(&o, 8, four, st, NULL, a4, use, &gs), 0);
    double rb = 1.0 - 1.0 / 70.0, sg = sqrt(rb * (1.0 - rb));
    CHECK_NEAR(gs.mean, rb, 1e-12);
    CHECK_NEAR(a4[0], (1.0 / 70.0) / (sg + EPS), 1e-6);
    CHECK_NEAR(a4[1], (1.0 - rb - 1.0 / 35.0) / (sg + EPS), 1e-6);
    /* the effect: the question solved once in 8 weighs 8x the half-solved one (GRPO: 2.6x),
     * and a failure beside the lone success is pushed down 2.5x less than by GRPO */
    CHECK(a1[3] / a4[0] > 8.0 && g1[3] / g4[0] < 2.7);
    CHECK(fabsf(a1[0]) < 0.41f * fabsf(g1[0]));
    double s1 = 0.0;
    for (int i = 0; i < 8; i++) s1 += a1[i];
    CHECK_NEAR(s1, 0.0, 1e-6);
    /* no k-subset differs: {0, 1, 1, 1} with k = 3 (every 3-subset holds a 1) */
    float z[4] = {0, 1, 1, 1}, za[4];
    o.pass_k = 3;
    CHECK_EQ_INT(af_grpo_group_advantages(&o, 4, z, st, NULL, za, use, &gs), 0);
    CHECK(gs.zero_variance && gs.dropped);
    for (int i = 0; i < 4; i++) CHECK(za[i] == 0.0f && use[i] == 0);
    o.drop_zero_variance = 0;
    CHECK_EQ_INT(af_grpo_group_advantages(&o, 4, z, st, NULL, za, use, &gs), 0);
    CHECK(gs.zero_variance && !gs.dropped);
    for (int i = 0; i < 4; i++) CHECK(za[i] == 0.0f && use[i] == 1);
    o.drop_zero_variance = 1;
    /* k = 2 on {0, 0, 1, 1} has signal: one pair in six is {0, 0} */
    o.pass_k = 2;
    z[1] = 0.0f;
    CHECK_EQ_INT(af_grpo_group_advantages(&o, 4, z, st, NULL, za, use, &gs), 0);
    CHECK(!gs.zero_variance && za[0] < 0.0f && za[3] > 0.0f);
    /* random groups against enumeration */
    AfRng rng;
    af_rng_init(&rng, 77, AF_RNG_TEST, 0, 0, 0);
    for (int t = 0; t < 400; t++) {
        int G = 2 + (int)af_rng_below(&rng, 11);
        float r[16], a[16];
        uint8_t s2[16];
        for (int i = 0; i < G; i++) {
            r[i] = (float)af_rng_below(&rng, 5) * 0.25f;
            s2[i] = af_rng_below(&rng, 7) == 0 ? AF_GRPO_TRAJ_FAILED : AF_GRPO_TRAJ_OK;
        }
        o.pass_k = 2 + (int)af_rng_below(&rng, 12);
        o.normalize_std = t % 5 != 4;
        o.neg_scale = t % 7 == 6 ? 0.5 : 1.0;
        CHECK_EQ_INT(af_grpo_group_advantages(&o, G, r, s2, NULL, a, use, &gs), 0);
        int n = 0;
        for (int i = 0; i < G; i++) n += s2[i] == AF_GRPO_TRAJ_OK;
        double want[16];
        int signal = 0;
        if (n >= 2) pass_k_brute(G, r, s2, o.pass_k, o.normalize_std, want, &signal);
        if (!signal) {
            CHECK(gs.dropped);
            for (int i = 0; i < G; i++) CHECK(a[i] == 0.0f && use[i] == 0);
            continue;
        }
        for (int i = 0; i < G; i++) {
            double w = want[i] < 0.0 ? want[i] * o.neg_scale : want[i];
            CHECK_NEAR(a[i], w, 1e-5 * (1.0 + fabs(w)));
            CHECK(use[i] == (s2[i] == AF_GRPO_TRAJ_OK));
        }
    }
    /* refused, naming the key: k = 1, turn statistics */
    o.pass_k = 1;
    CHECK_EQ_INT(af_grpo_group_advantages(&o, 8, one, st, NULL, a1, use, &gs), AF_EINVAL);
    CHECK_STR_CONTAINS(af_error_detail(), "algo.adv_pass_k");
    o.pass_k = 4;
    o.stats = AF_ADV_STATS_TURN;
    int nt[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    CHECK_EQ_INT(af_grpo_group_advantages(&o, 8, one, st, nt, a1, use, &gs), AF_EINVAL);
    CHECK_STR_CONTAINS(af_error_detail(), "algo.adv_pass_k");
}

/* The default loss options without the KL term (rho = 1 batches: each token's loss is -A). */
static AfLossOptions no_kl_options(void) {
    AfLossOptions o;
    af_grpo_loss_options_default(&o);
    o.kl_coef = 0.0;
    return o;
}

/* algo.neg_adv_scale on the arith case: one success in a group of 8. The failures' advantage
 * is scaled, the success's is not, every member still counts (G of the loss stays 8), and
 * with scale 0 the loss puts no gradient on a failure's tokens and the success's gradient is
 * the default's. */
static void test_adv_neg_scale(void) {
    AfAdvOptions o;
    af_grpo_adv_options_default(&o);
    CHECK(o.neg_scale == 1.0);
    float r[8] = {1, 0, 0, 0, 0, 0, 0, 0}, a1[8], a0[8], ah[8];
    uint8_t st[8] = {0}, use[8];
    AfAdvGroupStats gs;
    /* mean 1/8; sample std = sqrt((0.875^2 + 7 * 0.125^2) / 7) = sqrt(1/8) */
    CHECK_EQ_INT(af_grpo_group_advantages(&o, 8, r, st, NULL, a1, use, &gs), 0);
    const double sd = sqrt(0.125) + EPS;
    CHECK_NEAR(a1[0], 0.875 / sd, 1e-6);
    CHECK_NEAR(a1[5], -0.125 / sd, 1e-7);
    o.neg_scale = 0.0;
    CHECK_EQ_INT(af_grpo_group_advantages(&o, 8, r, st, NULL, a0, use, &gs), 0);
    CHECK(a0[0] == a1[0]);
    for (int i = 1; i < 8; i++) CHECK(a0[i] == 0.0f && use[i] == 1);
    o.neg_scale = 0.5;
    CHECK_EQ_INT(af_grpo_group_advantages(&o, 8, r, st, NULL, ah, use, &gs), 0);
    CHECK(ah[0] == a1[0]);
    CHECK_NEAR(ah[3], -0.0625 / sd, 1e-7);
    /* a reward below the others only: {0, 1, 1, ...}: the one negative member is scaled */
    float r2[4] = {0, 1, 1, 1}, b2[4];
    CHECK_EQ_INT(af_grpo_group_advantages(&o, 4, r2, st, NULL, b2, use, &gs), 0);
    CHECK_NEAR(b2[0], 0.5 * (-0.75 / (0.5 + EPS)), 1e-7);
    CHECK_NEAR(b2[1], 0.25 / (0.5 + EPS), 1e-7);
    /* bad values are refused, naming the key */
    double bad[3] = {-0.1, 1.5, NAN};
    for (int k = 0; k < 3; k++) {
        o.neg_scale = bad[k];
        CHECK_EQ_INT(af_grpo_group_advantages(&o, 8, r, st, NULL, a0, use, &gs), AF_EINVAL);
        CHECK_STR_CONTAINS(af_error_detail(), "algo.neg_adv_scale");
    }
    /* algo.explore_neg_scale: only a negative advantage of an explored turn is scaled */
    o.neg_scale = 1.0;
    CHECK(o.explored_neg_scale == 1.0);
    o.explored_neg_scale = 0.25;
    CHECK(af_grpo_explored_advantage(&o, -0.8f, 1) == -0.2f);
    CHECK(af_grpo_explored_advantage(&o, -0.8f, 0) == -0.8f);
    CHECK(af_grpo_explored_advantage(&o, 0.8f, 1) == 0.8f);
    o.explored_neg_scale = 1.5;
    CHECK_EQ_INT(af_grpo_group_advantages(&o, 8, r, st, NULL, a0, use, &gs), AF_EINVAL);
    CHECK_STR_CONTAINS(af_error_detail(), "algo.explore_neg_scale");
    o.explored_neg_scale = 1.0;
    /* the loss on the hand-made batch: 8 one-turn trajectories of 3 tokens, rho = 1, no KL */
    int off[9], id[8];
    float lp[24], g1[24], g0[24];
    for (int i = 0; i <= 8; i++) off[i] = 3 * i;
    for (int i = 0; i < 8; i++) id[i] = i;
    for (int i = 0; i < 24; i++) lp[i] = -0.05f * (float)(i + 1);
    AfGrpoBatch b = {.n_samples = 8, .tok_offset = off, .traj_id = id, .adv = a1, .mask = NULL,
                     .logp = lp, .old_logp = lp, .ref_logp = NULL};
    AfLossOptions lo = no_kl_options();
    AfLossStats ls;
    CHECK_EQ_INT(af_grpo_loss(&lo, &b, g1, &ls), 0);
    b.adv = a0;
    CHECK_EQ_INT(af_grpo_loss(&lo, &b, g0, &ls), 0);
    for (int j = 0; j < 3; j++) { /* the success: -A / (G * T * n) = -A / 24 either way */
        CHECK_NEAR(g1[j], -a1[0] / 24.0, 1e-8);
        CHECK(g0[j] == g1[j]);
    }
    for (int j = 3; j < 24; j++) { /* the failures: pushed down by default, untouched with 0 */
        CHECK(g1[j] > 0.0f);
        CHECK(g0[j] == 0.0f);
    }
}

/* ------------------------------------------------------------------ aggregation */

static void test_aggregation(void) {
    /* traj 0: two turns with 2 and 1 tokens, A = 1; traj 1: one turn of 4 tokens, A = -0.5;
     * traj 2: one masked turn of 2 tokens (failed). rho = 1 everywhere, kl off, so each
     * token's loss is -A and its dloss/dlogp is -A. */
    int off[5] = {0, 2, 3, 7, 9}, id[4] = {0, 0, 1, 2};
    float adv[4] = {1.0f, 1.0f, -0.5f, 5.0f};
    uint8_t mask[4] = {1, 1, 1, 0};
    float lp[9], old[9], g[9];
    for (int i = 0; i < 9; i++) lp[i] = old[i] = -0.1f * (float)(i + 1);
    lp[7] = NAN; /* masked tokens are never read as inputs */
    AfGrpoBatch b = {.n_samples = 4, .tok_offset = off, .traj_id = id, .adv = adv, .mask = mask,
                     .logp = lp, .old_logp = old, .ref_logp = NULL};
    AfLossOptions o = no_kl_options();
    AfLossStats st;
    /* paper: G = 2. traj 0: T = 2, turn means -1 and -1 -> -1; traj 1: 0.5.
     * L = (-1 + 0.5) / 2 = -0.25.  dL/dlogp: traj 0 turn 0: -1/(2*2*2) = -0.125,
     * turn 1: -1/(2*2*1) = -0.25; traj 1: 0.5/(2*1*4) = 0.0625; masked 0. */
    CHECK_EQ_INT(af_grpo_loss(&o, &b, g, &st), 0);
    CHECK_NEAR(st.loss, -0.25, 1e-12);
    CHECK_EQ_INT(st.n_trajs, 2);
    CHECK_EQ_INT(st.n_samples, 3);
    CHECK_EQ_INT(st.n_tokens, 7);
    float want_p[9] = {-0.125f, -0.125f, -0.25f, 0.0625f, 0.0625f, 0.0625f, 0.0625f, 0, 0};
    for (int i = 0; i < 9; i++) CHECK_NEAR(g[i], want_p[i], 1e-9);
    /* token_mean: N = 7. L = (3 * -1 + 4 * 0.5) / 7 = -1/7; dL/dlogp = -A/7 */
    o.agg = AF_LOSS_AGG_TOKEN_MEAN;
    CHECK_EQ_INT(af_grpo_loss(&o, &b, g, &st), 0);
    CHECK_NEAR(st.loss, -1.0 / 7.0, 1e-12);
    for (int i = 0; i < 3; i++) CHECK_NEAR(g[i], -1.0 / 7.0, 1e-8);
    for (int i = 3; i < 7; i++) CHECK_NEAR(g[i], 0.5 / 7.0, 1e-8);
    CHECK(g[7] == 0.0f && g[8] == 0.0f);
    /* global normalizers (data-parallel): token_mean over 14 tokens halves everything */
    o.norm_tokens = 14.0;
    CHECK_EQ_INT(af_grpo_loss(&o, &b, g, &st), 0);
    CHECK_NEAR(st.loss, -0.5 / 7.0, 1e-12);
    o.norm_tokens = 0.0;
    o.agg = AF_LOSS_AGG_PAPER;
    o.norm_trajs = 4.0;
    CHECK_EQ_INT(af_grpo_loss(&o, &b, g, &st), 0);
    CHECK_NEAR(st.loss, -0.125, 1e-12);
    o.norm_trajs = 0.0;
    /* empty: everything masked */
    uint8_t none[4] = {0, 0, 0, 0};
    b.mask = none;
    CHECK_EQ_INT(af_grpo_loss(&o, &b, g, &st), 0);
    CHECK(st.loss == 0.0 && st.n_tokens == 0 && g[0] == 0.0f);
    b.mask = mask;
    /* bad inputs */
    int id_bad[4] = {0, 1, 0, 2};
    b.traj_id = id_bad;
    CHECK_EQ_INT(af_grpo_loss(&o, &b, g, &st), AF_EINVAL);
    CHECK_STR_CONTAINS(af_error_detail(), "sample 2");
    b.traj_id = id;
    lp[4] = INFINITY;
    CHECK_EQ_INT(af_grpo_loss(&o, &b, g, &st), AF_EINVAL);
    CHECK_STR_CONTAINS(af_error_detail(), "token 4");
    lp[4] = old[4];
    o.kl_coef = 0.001; /* ref_logp NULL */
    CHECK_EQ_INT(af_grpo_loss(&o, &b, g, &st), AF_EINVAL);
    o.kl_coef = 0.0;
    o.dual_clip = 0.5;
    CHECK_EQ_INT(af_grpo_loss(&o, &b, g, &st), AF_EINVAL);
    o.dual_clip = 3.0;
    int off_bad[5] = {0, 2, 1, 7, 9};
    b.tok_offset = off_bad;
    CHECK_EQ_INT(af_grpo_loss(&o, &b, g, &st), AF_EINVAL);
}

/* algo.entropy_coef on the aggregation batch above: the entropy is aggregated with the
 * loss's weights, the loss falls by coef * that, dL/dH = -coef * weight per token (0 when
 * masked), dL/dlogp is unchanged, and coef = 0 needs no entropies (the paper's loss). */
static void test_entropy_bonus(void) {
    int off[5] = {0, 2, 3, 7, 9}, id[4] = {0, 0, 1, 2};
    float adv[4] = {1.0f, 1.0f, -0.5f, 5.0f};
    uint8_t mask[4] = {1, 1, 1, 0};
    float lp[9], old[9], ent[9], g0[9], g[9], de[9];
    for (int i = 0; i < 9; i++) lp[i] = old[i] = -0.1f * (float)(i + 1), ent[i] = 0.25f * (float)(i + 1);
    ent[8] = NAN; /* masked: never read */
    AfGrpoBatch b = {.n_samples = 4, .tok_offset = off, .traj_id = id, .adv = adv, .mask = mask,
                     .logp = lp, .old_logp = old, .ref_logp = NULL, .entropy = NULL};
    AfLossOptions o;
    af_grpo_loss_options_default(&o);
    o.kl_coef = 0.0;
    AfLossStats st0, st;
    CHECK_EQ_INT(af_grpo_loss_ent(&o, &b, g0, de, &st0), 0); /* coef 0: no entropies needed */
    for (int i = 0; i < 9; i++) CHECK(de[i] == 0.0f);
    CHECK(st0.entropy == 0.0);
    o.entropy_coef = 0.1;
    CHECK_EQ_INT(af_grpo_loss_ent(&o, &b, g, de, &st), AF_EINVAL); /* entropy NULL */
    b.entropy = ent;
    CHECK_EQ_INT(af_grpo_loss_ent(&o, &b, g, de, &st), 0);
    /* paper weights: traj 0 turn 0 1/8 (tokens 0, 1), turn 1 1/4 (token 2), traj 1 1/8 (3..6) */
    const double w[9] = {0.125, 0.125, 0.25, 0.125, 0.125, 0.125, 0.125, 0, 0};
    double H = 0;
    for (int i = 0; i < 8; i++) H += w[i] * ent[i];
    CHECK_NEAR(st.entropy, H, 1e-7);
    CHECK_NEAR(st.loss, st0.loss - 0.1 * H, 1e-7);
    CHECK_NEAR(st.pg_loss, st0.pg_loss, 1e-12);
    for (int i = 0; i < 9; i++) {
        CHECK_NEAR(de[i], -0.1 * w[i], 1e-9);
        CHECK(g[i] == g0[i]);
    }
    /* finite difference of the loss in one token's entropy */
    double *lpd = malloc(9 * sizeof *lpd), *oldd = malloc(9 * sizeof *oldd), *entd = malloc(9 * sizeof *entd);
    double gd[9], ded[9];
    for (int i = 0; i < 9; i++) lpd[i] = lp[i], oldd[i] = old[i], entd[i] = i == 8 ? 0.0 : ent[i];
    AfGrpoBatch bd = b;
    bd.logp = lpd, bd.old_logp = oldd, bd.entropy = entd;
    o.agg = AF_LOSS_AGG_TOKEN_MEAN;
    CHECK_EQ_INT(af_grpo_loss_ent_f64(&o, &bd, gd, ded, &st), 0);
    for (int i = 0; i < 7; i++) {
        AfLossStats sp, sm;
        const double e0 = entd[i];
        entd[i] = e0 + 1e-4;
        CHECK_EQ_INT(af_grpo_loss_ent_f64(&o, &bd, NULL, NULL, &sp), 0);
        entd[i] = e0 - 1e-4;
        CHECK_EQ_INT(af_grpo_loss_ent_f64(&o, &bd, NULL, NULL, &sm), 0);
        entd[i] = e0;
        CHECK_NEAR(ded[i], (sp.loss - sm.loss) / 2e-4, 1e-8);
        CHECK_NEAR(ded[i], -0.1 / 7.0, 1e-12);
    }
    /* bad input: a negative entropy, a negative coefficient */
    entd[2] = -1.0;
    CHECK_EQ_INT(af_grpo_loss_ent_f64(&o, &bd, gd, ded, &st), AF_EINVAL);
    entd[2] = 0.5;
    o.entropy_coef = -0.1;
    CHECK_EQ_INT(af_grpo_loss_ent_f64(&o, &bd, gd, ded, &st), AF_EINVAL);
    free(lpd), free(oldd), free(entd);
}

/* ------------------------------------------------------------------ random batches */

typedef struct {
    int n_groups, G;
    float rewards[8][6];
    uint8_t status[8][6];
    int n_turns[8][6];
    float adv[8][6];
    uint8_t use[8][6];
    /* samples */
    int n_samples, n_tokens;
    int off[8 * 6 * 3 + 1], id[8 * 6 * 3], grp[8 * 6 * 3], mem[8 * 6 * 3], turn[8 * 6 * 3];
    float sadv[8 * 6 * 3];
    uint8_t mask[8 * 6 * 3];
    float lp[8 * 6 * 3 * 6], old[8 * 6 * 3 * 6], ref[8 * 6 * 3 * 6];
} RandCase;

/* Random groups (some failed, some zero-variance), their advantages, then one sample
 * per turn with 0-5 tokens and log-probs spread over every clipping region. */
static void make_case(RandCase *c, uint32_t seed, const AfAdvOptions *ao) {
    AfRng r;
    af_rng_init(&r, 1234, AF_RNG_TEST, seed, 0, 0);
    memset(c, 0, sizeof *c);
    c->n_groups = 3 + (int)af_rng_below(&r, 4);
    c->G = 2 + (int)af_rng_below(&r, 5);
    int traj = 0;
    for (int g = 0; g < c->n_groups; g++) {
        int zv = af_rng_below(&r, 4) == 0;
        for (int i = 0; i < c->G; i++) {
            c->rewards[g][i] = zv ? 1.0f : (float)af_rng_below(&r, 3) * 0.5f;
            c->status[g][i] = af_rng_below(&r, 6) == 0 ? AF_GRPO_TRAJ_FAILED : AF_GRPO_TRAJ_OK;
            c->n_turns[g][i] = 1 + (int)af_rng_below(&r, 3);
        }
        AfAdvGroupStats gs;
        int rc = af_grpo_group_advantages(ao, c->G, c->rewards[g], c->status[g], c->n_turns[g],
                                          c->adv[g], c->use[g], &gs);
        CHECK_EQ_INT(rc, 0);
        for (int i = 0; i < c->G; i++, traj++) {
            for (int t = 0; t < c->n_turns[g][i]; t++) {
                int s = c->n_samples++;
                int n = (int)af_rng_below(&r, 6);
                c->id[s] = traj;
                c->grp[s] = g;
                c->mem[s] = i;
                c->turn[s] = t;
                c->sadv[s] = af_grpo_turn_advantage(ao, c->adv[g][i], t, c->n_turns[g][i], 0, 0);
                c->mask[s] = c->use[g][i];
                c->off[s + 1] = c->off[s] + n;
                for (int j = c->off[s]; j < c->off[s + 1]; j++) {
                    c->old[j] = (float)(-0.1 - 3.0 * af_rng_uniform(&r));
                    c->lp[j] = c->old[j] + (float)(0.9 * (af_rng_uniform(&r) - 0.5) * 2.0);
                    if (af_rng_below(&r, 10) == 0) c->lp[j] = c->old[j] + 1.3f; /* beyond dual clip */
                    c->ref[j] = c->lp[j] + (float)(0.6 * (af_rng_uniform(&r) - 0.5));
                }
            }
        }
    }
    c->n_tokens = c->off[c->n_samples];
}

static void batch_of(const RandCase *c, AfGrpoBatch *b) {
    *b = (AfGrpoBatch){.n_samples = c->n_samples, .tok_offset = c->off, .traj_id = c->id,
                       .adv = c->sadv, .mask = c->mask, .logp = c->lp, .old_logp = c->old,
                       .ref_logp = c->ref};
}

/* dL/dlogp against central differences of the double loss. */
static void test_finite_differences(void) {
    static RandCase c;
    static double lp[8 * 6 * 3 * 6], old[8 * 6 * 3 * 6], ref[8 * 6 * 3 * 6], g[8 * 6 * 3 * 6];
    AfAdvOptions ao;
    af_grpo_adv_options_default(&ao);
    int checked = 0;
    for (uint32_t seed = 0; seed < 6; seed++) {
        ao.stats = seed % 2 ? AF_ADV_STATS_TURN : AF_ADV_STATS_TRAJ;
        make_case(&c, seed, &ao);
        for (int j = 0; j < c.n_tokens; j++) {
            lp[j] = c.lp[j];
            old[j] = c.old[j];
            ref[j] = c.ref[j];
        }
        AfLossOptions o;
        af_grpo_loss_options_default(&o);
        o.agg = seed % 3 == 0 ? AF_LOSS_AGG_TOKEN_MEAN : AF_LOSS_AGG_PAPER;
        o.kl_coef = 0.05; /* larger than the default so the KL part is visible in the check */
        AfGrpoBatch b;
        batch_of(&c, &b);
        b.logp = lp;
        b.old_logp = old;
        b.ref_logp = ref;
        AfLossStats st;
        CHECK_EQ_INT(af_grpo_loss_f64(&o, &b, g, &st), 0);
        const double h = 1e-6;
        for (int j = 0; j < c.n_tokens; j++) {
            double x = lp[j];
            /* skip points within h of a kink of the clip functions */
            double rho = exp(x - old[j]);
            if (fabs(rho - 0.8) < 1e-4 || fabs(rho - 1.3) < 1e-4 || fabs(rho - 3.0) < 1e-4) continue;
            AfLossStats sp, sm;
            lp[j] = x + h;
            CHECK_EQ_INT(af_grpo_loss_f64(&o, &b, NULL, &sp), 0);
            lp[j] = x - h;
            CHECK_EQ_INT(af_grpo_loss_f64(&o, &b, NULL, &sm), 0);
            lp[j] = x;
            double fd = (sp.loss - sm.loss) / (2 * h);
            CHECK_MSG(fabs(fd - g[j]) <= 1e-7 + 1e-5 * fabs(g[j]), "seed %u token %d: fd %.10g vs %.10g",
                      seed, j, fd, g[j]);
            checked++;
        }
        /* float entry point agrees with the double one */
        static float gf[8 * 6 * 3 * 6];
        AfLossStats sf;
        batch_of(&c, &b);
        CHECK_EQ_INT(af_grpo_loss(&o, &b, gf, &sf), 0);
        CHECK_NEAR(sf.loss, st.loss, 1e-12);
        for (int j = 0; j < c.n_tokens; j++) CHECK_NEAR(gf[j], g[j], 1e-7 * (1 + fabs(g[j])));
    }
    CHECK(checked > 100);
}

static void test_mismatch(void) {
    float a[4] = {-1.0f, -2.0f, -0.5f, -3.0f}, b[4] = {-1.0f, -2.001f, -0.5f, -2.9f};
    AfLogprobMismatch m;
    af_grpo_logprob_mismatch(a, b, 4, 0.01, &m);
    CHECK_NEAR(m.max_abs, 0.1, 1e-6);
    CHECK_NEAR(m.mean_abs, (0.001 + 0.1) / 4, 1e-6);
    CHECK_NEAR(m.mean_prob_abs, (fabs(exp(-2.0) - exp(-2.001)) + fabs(exp(-3.0) - exp(-2.9))) / 4, 1e-6);
    CHECK_EQ_INT(m.n_over_tol, 1);
    b[0] = NAN;
    af_grpo_logprob_mismatch(a, b, 4, 0.01, &m);
    CHECK(isnan(m.max_abs));
    CHECK_EQ_INT(m.n_over_tol, 2);
    af_grpo_logprob_mismatch(a, b, 0, 0.01, &m);
    CHECK(m.n == 0 && m.max_abs == 0.0);
}

/* ------------------------------------------------------------------ dump for PyTorch */

static cJSON *farr(const float *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber((double)v[i]));
    return a;
}

static cJSON *iarr(const int *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

static cJSON *u8arr(const uint8_t *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

static int dump(const char *path) {
    static RandCase c;
    static float g[8 * 6 * 3 * 6];
    cJSON *root = cJSON_CreateArray();
    int k = 0;
    for (uint32_t seed = 100; seed < 120; seed++, k++) {
        AfAdvOptions ao;
        af_grpo_adv_options_default(&ao);
        ao.stats = k % 2 ? AF_ADV_STATS_TURN : AF_ADV_STATS_TRAJ;
        ao.drop_zero_variance = k % 4 != 3;
        ao.normalize_std = k % 6 != 5;
        ao.final_turn_only = k == 7;
        if (k >= 12) { /* algo.adv_pass_k: k 2, 3, 4 (clamped to n - 1 in a small group) */
            ao.stats = AF_ADV_STATS_TRAJ;
            ao.pass_k = 2 + k % 3;
        }
        make_case(&c, seed, &ao);
        AfLossOptions o;
        af_grpo_loss_options_default(&o);
        o.agg = (k / 2) % 2 ? AF_LOSS_AGG_TOKEN_MEAN : AF_LOSS_AGG_PAPER;
        if (k == 4) o.dual_clip = 0.0;
        if (k == 6) o.kl_coef = 0.1;
        AfGrpoBatch b;
        batch_of(&c, &b);
        AfLossStats st;
        if (af_grpo_loss(&o, &b, g, &st) != 0) return 1;
        cJSON *cs = cJSON_CreateObject();
        cJSON_AddNumberToObject(cs, "adv_turn", ao.stats == AF_ADV_STATS_TURN);
        cJSON_AddNumberToObject(cs, "drop_zero_variance", ao.drop_zero_variance);
        cJSON_AddNumberToObject(cs, "normalize_std", ao.normalize_std);
        cJSON_AddNumberToObject(cs, "final_turn_only", ao.final_turn_only);
        cJSON_AddNumberToObject(cs, "pass_k", ao.pass_k);
        cJSON_AddNumberToObject(cs, "eps", ao.eps);
        cJSON_AddNumberToObject(cs, "token_mean", o.agg == AF_LOSS_AGG_TOKEN_MEAN);
        cJSON_AddNumberToObject(cs, "clip_low", o.clip_low);
        cJSON_AddNumberToObject(cs, "clip_high", o.clip_high);
        cJSON_AddNumberToObject(cs, "dual_clip", o.dual_clip);
        cJSON_AddNumberToObject(cs, "kl_coef", o.kl_coef);
        cJSON *groups = cJSON_AddArrayToObject(cs, "groups");
        for (int gi = 0; gi < c.n_groups; gi++) {
            cJSON *gr = cJSON_CreateObject();
            cJSON_AddItemToObject(gr, "rewards", farr(c.rewards[gi], c.G));
            cJSON_AddItemToObject(gr, "status", u8arr(c.status[gi], c.G));
            cJSON_AddItemToObject(gr, "n_turns", iarr(c.n_turns[gi], c.G));
            cJSON_AddItemToObject(gr, "adv", farr(c.adv[gi], c.G));
            cJSON_AddItemToObject(gr, "use", u8arr(c.use[gi], c.G));
            cJSON_AddItemToArray(groups, gr);
        }
        cJSON_AddItemToObject(cs, "tok_offset", iarr(c.off, c.n_samples + 1));
        cJSON_AddItemToObject(cs, "traj_id", iarr(c.id, c.n_samples));
        cJSON_AddItemToObject(cs, "group", iarr(c.grp, c.n_samples));
        cJSON_AddItemToObject(cs, "member", iarr(c.mem, c.n_samples));
        cJSON_AddItemToObject(cs, "turn", iarr(c.turn, c.n_samples));
        cJSON_AddItemToObject(cs, "logp", farr(c.lp, c.n_tokens));
        cJSON_AddItemToObject(cs, "old_logp", farr(c.old, c.n_tokens));
        cJSON_AddItemToObject(cs, "ref_logp", farr(c.ref, c.n_tokens));
        cJSON_AddNumberToObject(cs, "loss", st.loss);
        cJSON_AddNumberToObject(cs, "pg_loss", st.pg_loss);
        cJSON_AddNumberToObject(cs, "kl", st.kl);
        cJSON_AddNumberToObject(cs, "clip_frac", st.clip_frac);
        cJSON_AddNumberToObject(cs, "dual_clip_frac", st.dual_clip_frac);
        cJSON_AddItemToObject(cs, "grad", farr(g, c.n_tokens));
        cJSON_AddItemToArray(root, cs);
    }
    char *txt = cJSON_Print(root);
    cJSON_Delete(root);
    FILE *f = fopen(path, "w");
    if (!f || !txt) return 1;
    fputs(txt, f);
    free(txt);
    return fclose(f) != 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--dump") == 0) return dump(argv[2]);
    test_adv_traj();
    test_adv_turn();
    test_adv_zero_variance();
    test_adv_neg_scale();
    test_adv_pass_k();
    test_token_clipping();
    test_token_kl();
    test_aggregation();
    test_entropy_bonus();
    test_finite_differences();
    test_mismatch();
    TEST_MAIN_END();
}
