/* The learner step's sample building (learner/update.c) on hand-made trajectories:
 *  - memory policy: one sample per turn; monolithic policy: one per trajectory, the last
 *    turn's prompt + action, with every turn's action tokens at their positions in it.
 *    Behaviour log-probs are the model's own on the full transcript, so the step's
 *    measured mismatch is ~0 exactly when the positions are right (for both policies:
 *    by causality a turn's prefix gives the same log-probs as the full transcript);
 *  - a monolithic trajectory that is not a transcript (a turn's action not where the last
 *    prompt has it, a prompt longer than the last) is skipped and counted, never read
 *    out of bounds, and the step still runs on the rest;
 *  - algo.entropy_coef: a step with a large entropy bonus raises the entropy of the action
 *    tokens' distributions, one without it does not raise it as much;
 *  - algo.entropy_target: the weight moves by entropy_coef_lr * (target - measured entropy)
 *    after a step, clamped at 0;
 *  - algo.explore_neg_scale on a group of a success and a failure whose turns explored:
 *    0 gives the bits of a step without the failure's negative advantage
 *    (algo.neg_adv_scale 0), 1 the default's; it leaves unexplored turns alone, and with
 *    one explored turn of two it is neither (both policies);
 *  - algo.adv_pass_k_until's switch (af_update_set_pass_k): an update switched between
 *    pass@2 and pass@1 advantages steps as one created that way, and the two differ;
 *  - AdamW (learner/adamw.h) at 1, 2 and 3 threads: the bits of a scalar reference loop. */
#include <math.h>
#include <stdio.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "learner/update.h"
#include "tests/model_testlib.h"
#include "tests/test_util.h"
#include "tests/update_testlib.h"

static double g_entropy_coef; /* algo.entropy_coef of the steps */

static AfUpdate *make_update(AfModel *m, AfAdamW *opt, int monolithic) {
    AfUpdateConfig uc;
    af_test_update_config(&uc, 1.0f, 1e-3);
    uc.monolithic = monolithic;
    uc.loss.entropy_coef = g_entropy_coef;
    AfUpdate *u = NULL;
    CHECK_MSG(af_update_create(&uc, m, NULL, opt, MPI_COMM_WORLD, &u) == 0, "%s", af_error_detail());
    return u;
}

/* Mean entropy of the distributions of the last turn's action tokens of g[0..2). */
static double action_entropy(AfModel *m, Agentflow__Trajectory **g) {
    double sum = 0;
    int n = 0;
    for (int i = 0; i < 2; i++) {
        const Agentflow__Turn *u = g[i]->turns[1];
        int32_t tok[NP0 + NA0 + NR + NA1];
        float ent[NP0 + NA0 + NR + NA1];
        const int len = (int)(u->n_prompt_tokens + u->n_action_tokens);
        for (int j = 0; j < len; j++)
            tok[j] = (int32_t)(j < (int)u->n_prompt_tokens ? u->prompt_tokens[j] : u->action_tokens[j - u->n_prompt_tokens]);
        int ss[2] = {0, len};
        CHECK(af_model_forward(m, tok, ss, 1, 1.0f, NULL, ent) == 0);
        for (int j = (int)u->n_prompt_tokens; j < len; j++) sum += ent[j], n++;
    }
    return sum / n;
}

/* One step over the group (two trajectories of one query); the weights are restored after.
 * With entropy_out, the action entropy after the step. */
static AfUpdateStats step_ent(AfModel *m, AfAdamW *opt, int monolithic, Agentflow__Trajectory **g,
                              double *entropy_out);

static AfUpdateStats step(AfModel *m, AfAdamW *opt, int monolithic, Agentflow__Trajectory **g) {
    return step_ent(m, opt, monolithic, g, NULL);
}

static AfUpdateStats step_ent(AfModel *m, AfAdamW *opt, int monolithic, Agentflow__Trajectory **g,
                              double *entropy_out) {
    AfUpdateStats st;
    memset(&st, 0, sizeof st);
    float *saved = malloc(m->n_params * sizeof *saved);
    memcpy(saved, m->params, m->n_params * sizeof *saved);
    AfUpdate *u = make_update(m, opt, monolithic);
    const uint32_t slot = 0;
    if (u) CHECK_MSG(af_update_run(u, (const Agentflow__Trajectory *const *)g, &slot, 1, 1, 2, &st) == 0, "%s",
                     af_error_detail());
    af_update_destroy(u);
    if (entropy_out) *entropy_out = action_entropy(m, g);
    memcpy(m->params, saved, m->n_params * sizeof *saved);
    m->fwd_valid = 0;
    free(saved);
    return st;
}

/* The weights after one step (fresh AdamW, learning rate 0.02) over the group g of n
 * trajectories, the update made from uc and, with k_set >= 0, switched to pass@k_set
 * advantages before the step (algo.adv_pass_k_until's switch); the model's weights are
 * restored. malloc'd. */
static float *weights_after_step(AfModel *m, Agentflow__Trajectory **g, int n, const AfUpdateConfig *uc, int k_set) {
    AfAdamWConfig ac = af_adamw_config_default();
    ac.lr = 0.02f;
    AfAdamW *opt = NULL;
    AfUpdate *u = NULL;
    float *saved = malloc(m->n_params * sizeof *saved), *out = malloc(m->n_params * sizeof *out);
    memcpy(saved, m->params, m->n_params * sizeof *saved);
    AfUpdateStats st;
    const uint32_t slot = 0;
    CHECK(af_adamw_create(&ac, m->n_params, &opt) == 0);
    CHECK(af_update_create(uc, m, NULL, opt, MPI_COMM_WORLD, &u) == 0);
    if (u && k_set >= 0) CHECK_MSG(af_update_set_pass_k(u, k_set) == 0, "%s", af_error_detail());
    if (u) CHECK_MSG(af_update_run(u, (const Agentflow__Trajectory *const *)g, &slot, 1, 1, (uint32_t)n, &st) == 0,
                     "%s", af_error_detail());
    memcpy(out, m->params, m->n_params * sizeof *out);
    memcpy(m->params, saved, m->n_params * sizeof *saved);
    m->fwd_valid = 0;
    af_update_destroy(u);
    af_adamw_destroy(opt);
    free(saved);
    return out;
}

/* ... over a group of two with the given advantage scales. */
static float *weights_after(AfModel *m, Agentflow__Trajectory **g, int monolithic, double neg_scale,
                            double explored_neg_scale) {
    AfUpdateConfig uc;
    af_test_update_config(&uc, 1.0f, 1e-3);
    uc.monolithic = monolithic;
    uc.adv.neg_scale = neg_scale;
    uc.adv.explored_neg_scale = explored_neg_scale;
    return weights_after_step(m, g, 2, &uc, -1);
}

/* ... over a group of n, pass@k advantages at k_create, switched to k_set (-1: not). */
static float *weights_after_pass_k(AfModel *m, Agentflow__Trajectory **g, int n, int k_create, int k_set) {
    AfUpdateConfig uc;
    af_test_update_config(&uc, 1.0f, 1e-3);
    uc.adv.pass_k = k_create;
    return weights_after_step(m, g, n, &uc, k_set);
}

static void check_explore_neg_scale(AfModel *m) {
    Agentflow__Trajectory *g[2] = {af_test_two_turn_traj(m, 0, 0.0f, 11), af_test_two_turn_traj(m, 1, 1.0f, 11)};
    const size_t bytes = m->n_params * sizeof(float);
    for (int mono = 0; mono < 2; mono++) {
        g[0]->turns[0]->explored = g[0]->turns[1]->explored = 1; /* the failure explored */
        float *def = weights_after(m, g, mono, 1.0, 1.0), *zero = weights_after(m, g, mono, 1.0, 0.0);
        float *half = weights_after(m, g, mono, 1.0, 0.5), *noneg = weights_after(m, g, mono, 0.0, 1.0);
        CHECK_MSG(!memcmp(zero, noneg, bytes), "policy %d: explore_neg_scale 0 = no negative advantage", mono);
        CHECK_MSG(memcmp(def, zero, bytes) && memcmp(half, zero, bytes) && memcmp(half, def, bytes),
                  "policy %d: the scale changes the step", mono);
        g[0]->turns[0]->explored = g[0]->turns[1]->explored = 0; /* not explored: the scale does nothing */
        float *plain0 = weights_after(m, g, mono, 1.0, 0.0);
        CHECK_MSG(!memcmp(plain0, def, bytes), "policy %d: sampled turns keep their advantage", mono);
        g[0]->turns[1]->explored = 1; /* one of two turns */
        float *one = weights_after(m, g, mono, 1.0, 0.0);
        CHECK_MSG(mono ? !memcmp(one, zero, bytes) /* a transcript with an explored turn */
                       : memcmp(one, zero, bytes) && memcmp(one, def, bytes),
                  "policy %d: one explored turn of two", mono);
        g[0]->turns[1]->explored = 0;
        free(def), free(zero), free(half), free(noneg), free(plain0), free(one);
    }
    for (int i = 0; i < 2; i++) protobuf_c_message_free_unpacked(&g[i]->base, NULL);
}

/* algo.adv_pass_k_until: af_update_set_pass_k switches an update between pass@k and the
 * reward's own advantages. On a group of 4 with one success, a switched update takes the
 * bits of one created that way, pass@2 and pass@1 steps differ, and bad k are refused. */
static void check_pass_k_switch(AfModel *m) {
    Agentflow__Trajectory *g[4];
    for (int i = 0; i < 4; i++) g[i] = af_test_two_turn_traj(m, i, i == 1 ? 1.0f : 0.0f, 12);
    const size_t bytes = m->n_params * sizeof(float);
    float *p1 = weights_after_pass_k(m, g, 4, 0, -1), *p2 = weights_after_pass_k(m, g, 4, 2, -1);
    float *to2 = weights_after_pass_k(m, g, 4, 0, 2), *to1 = weights_after_pass_k(m, g, 4, 2, 0);
    CHECK_MSG(memcmp(p1, p2, bytes) != 0, "pass@2 and pass@1 advantages give the same step");
    CHECK_MSG(!memcmp(to2, p2, bytes), "switched on: not the bits of a pass@2 update");
    CHECK_MSG(!memcmp(to1, p1, bytes), "switched off: not the bits of a pass@1 update");
    AfUpdateConfig uc;
    af_test_update_config(&uc, 1.0f, 1e-3);
    AfAdamW *opt = NULL;
    AfUpdate *u = NULL;
    AfAdamWConfig ac = af_adamw_config_default();
    CHECK(af_adamw_create(&ac, m->n_params, &opt) == 0);
    CHECK(af_update_create(&uc, m, NULL, opt, MPI_COMM_WORLD, &u) == 0);
    if (u) {
        CHECK(af_update_set_pass_k(u, 1) == AF_EINVAL && af_update_set_pass_k(u, -2) == AF_EINVAL);
        CHECK(af_update_set_pass_k(u, AF_GRPO_PASS_K_MAX_G) == AF_EINVAL);
    }
    af_update_destroy(u);
    af_adamw_destroy(opt);
    free(p1), free(p2), free(to2), free(to1);
    for (int i = 0; i < 4; i++) protobuf_c_message_free_unpacked(&g[i]->base, NULL);
}

/* AdamW split over the learner's threads (af_model_set_threads) and vectorised: at 1, 2
 * and 3 threads, three steps give the bits of the textbook scalar loop written here. */
static void check_adamw_threads(void) {
    enum { N = 200003, STEPS = 3 };
    AfAdamWConfig ac = af_adamw_config_default();
    ac.lr = 1e-3f;
    float *g = malloc(sizeof(float) * N), *p0 = malloc(sizeof(float) * N), *p = malloc(sizeof(float) * N);
    float *rp = malloc(sizeof(float) * N), *rm = calloc(N, sizeof(float)), *rv = calloc(N, sizeof(float));
    CHECK(g && p0 && p && rp && rm && rv);
    if (!g || !p0 || !p || !rp || !rm || !rv) goto done;
    for (int i = 0; i < N; i++) g[i] = (float)((i * 7919) % 2001 - 1000) * 1e-4f, p0[i] = (float)(i % 97) * 1e-2f - 0.5f;
    memcpy(rp, p0, sizeof(float) * N);
    for (int s = 1; s <= STEPS; s++) {
        float bc1 = (float)(1.0 - pow(ac.beta1, s)), bc2 = (float)(1.0 - pow(ac.beta2, s));
        for (int i = 0; i < N; i++) {
            float gi = g[i] * (float)s;
            rm[i] = ac.beta1 * rm[i] + (1.0f - ac.beta1) * gi;
            rv[i] = ac.beta2 * rv[i] + (1.0f - ac.beta2) * gi * gi;
            float mh = rm[i] / bc1, vh = rv[i] / bc2;
            rp[i] -= ac.lr * (mh / (sqrtf(vh) + ac.eps) + ac.weight_decay * rp[i]);
        }
    }
    for (int th = 1; th <= 3; th++) {
        af_model_set_threads(th);
        AfAdamW *o = NULL;
        CHECK(af_adamw_create(&ac, N, &o) == 0);
        if (!o) continue;
        memcpy(p, p0, sizeof(float) * N);
        for (int s = 1; s <= STEPS; s++) {
            float *gs = rm; /* scratch: the step's gradient (rm is no longer needed) */
            for (int i = 0; i < N; i++) gs[i] = g[i] * (float)s;
            af_adamw_step(o, p, gs);
        }
        CHECK_MSG(memcmp(p, rp, sizeof(float) * N) == 0, "AdamW at %d threads: other bits than the scalar loop", th);
        af_adamw_destroy(o);
    }
    af_model_set_threads(1);
done:
    free(g), free(p0), free(p), free(rp), free(rm), free(rv);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    check_adamw_threads();
    AfModelConfig c = tiny_config(2, 0, 0);
    AfModel *m = NULL;
    AfAdamW *opt = NULL;
    CHECK(af_model_create(&c, 512, 16, AF_MODEL_GRADS, &m) == 0);
    AfAdamWConfig ac = af_adamw_config_default();
    if (m) CHECK(af_adamw_create(&ac, m->n_params, &opt) == 0);
    if (!m || !opt) {
        MPI_Finalize();
        TEST_MAIN_END();
    }
    fill_params(m, 5, 0.3);
    check_explore_neg_scale(m);
    check_pass_k_switch(m);
    Agentflow__Trajectory *g[2] = {af_test_two_turn_traj(m, 0, 0.0f, 9), af_test_two_turn_traj(m, 1, 1.0f, 9)};

    AfUpdateStats mem = step(m, opt, 0, g), mono = step(m, opt, 1, g);
    CHECK_MSG(mem.samples == 4 && mem.skipped_samples == 0, "memory: %g samples, %g skipped", mem.samples,
              mem.skipped_samples);
    CHECK_MSG(mono.samples == 2 && mono.skipped_samples == 0, "monolithic: %g samples, %g skipped", mono.samples,
              mono.skipped_samples);
    CHECK(mem.action_tokens == 2 * (NA0 + NA1) && mono.action_tokens == 2 * (NA0 + NA1));
    CHECK_MSG(mono.learner_tokens == 2 * (NP0 + NA0 + NR + NA1), "%g learner tokens", mono.learner_tokens);
    CHECK_MSG(mem.mismatch_max < 1e-5 && mono.mismatch_max < 1e-5, "mismatch: memory %g, monolithic %g",
              mem.mismatch_max, mono.mismatch_max);
    CHECK(mem.mismatch_tokens == 2 * (NA0 + NA1) && mono.mismatch_tokens == 2 * (NA0 + NA1));
    CHECK_MSG(mono.grad_norm > 0 && isfinite(mono.grad_norm), "grad norm %g", mono.grad_norm);

    /* turn 0's action no longer where the last prompt has it: not a transcript */
    g[1]->turns[1]->prompt_tokens[NP0 + 1] ^= 1;
    mono = step(m, opt, 1, g);
    CHECK_MSG(mono.samples == 1 && mono.skipped_samples == 1, "%g samples, %g skipped", mono.samples,
              mono.skipped_samples);
    mem = step(m, opt, 0, g); /* the memory policy trains on each turn as it is */
    CHECK(mem.samples == 4 && mem.skipped_samples == 0);
    g[1]->turns[1]->prompt_tokens[NP0 + 1] ^= 1;

    /* an earlier prompt longer than the last one: skipped, nothing read past the last */
    Agentflow__Turn *t0 = g[1]->turns[0];
    uint32_t *longer = calloc(64, sizeof *longer);
    memcpy(longer, t0->prompt_tokens, NP0 * sizeof *longer);
    free(t0->prompt_tokens);
    t0->prompt_tokens = longer;
    t0->n_prompt_tokens = 64;
    mono = step(m, opt, 1, g);
    CHECK_MSG(mono.samples == 1 && mono.skipped_samples == 1, "%g samples, %g skipped", mono.samples,
              mono.skipped_samples);

    for (int i = 0; i < 2; i++) protobuf_c_message_free_unpacked(&g[i]->base, NULL);

    /* the entropy bonus: a fresh group (the one above was edited), one step each way */
    Agentflow__Trajectory *h[2] = {af_test_two_turn_traj(m, 0, 0.0f, 10), af_test_two_turn_traj(m, 1, 1.0f, 10)};
    const double e0 = action_entropy(m, h);
    double e_plain = 0, e_bonus = 0;
    AfAdamW *opt2 = NULL; /* a larger step than the default lr, so that one step shows */
    ac.lr = 0.02f;
    CHECK(af_adamw_create(&ac, m->n_params, &opt2) == 0);
    AfUpdateStats sp = step_ent(m, opt2, 0, h, &e_plain);
    opt2->step = 0;
    memset(opt2->m, 0, opt2->n * sizeof(float)), memset(opt2->v, 0, opt2->n * sizeof(float));
    g_entropy_coef = 5.0;
    AfUpdateStats sb = step_ent(m, opt2, 0, h, &e_bonus);
    g_entropy_coef = 0.0;
    af_adamw_destroy(opt2);
    fprintf(stderr, "entropy before %.6f, after a plain step %.6f, after a step with the bonus %.6f\n", e0, e_plain,
            e_bonus);
    CHECK(e_bonus > e0 + 1e-3 && e_bonus > e_plain + 1e-3);
    CHECK_MSG(sb.loss < sp.loss, "loss with the bonus %g, without %g", sb.loss, sp.loss);

    /* algo.entropy_target: after a step the weight moves by lr * (target - H), H the step's
     * measured entropy of the action tokens, and never goes below 0 */
    const double targets[2] = {5.0, 0.1}, lrs[2] = {0.01, 10.0};
    for (int k = 0; k < 2; k++) {
        AfUpdateConfig uc;
        af_test_update_config(&uc, 1.0f, 1e-3);
        uc.loss.entropy_coef = 0.02;
        uc.entropy_target = targets[k];
        uc.entropy_coef_lr = lrs[k];
        AfUpdate *u = NULL;
        CHECK(af_update_create(&uc, m, NULL, opt, MPI_COMM_WORLD, &u) == 0);
        if (!u) continue;
        CHECK(af_update_entropy_coef(u) == 0.02);
        float *saved = malloc(m->n_params * sizeof *saved);
        memcpy(saved, m->params, m->n_params * sizeof *saved);
        AfUpdateStats st;
        const uint32_t slot = 0;
        CHECK(af_update_run(u, (const Agentflow__Trajectory *const *)h, &slot, 1, 1, 2, &st) == 0);
        const double H = st.entropy_sum / st.mismatch_tokens, want = 0.02 + lrs[k] * (targets[k] - H);
        CHECK_MSG(k == 0 ? af_update_entropy_coef(u) == want && want > 0.02 : af_update_entropy_coef(u) == 0.0,
                  "target %g, H %g: weight %g (want %g)", targets[k], H, af_update_entropy_coef(u), want > 0 ? want : 0.0);
        CHECK(af_update_set_entropy_coef(u, -1.0) == AF_EINVAL);
        CHECK(af_update_set_entropy_coef(u, 0.5) == 0 && af_update_entropy_coef(u) == 0.5);
        memcpy(m->params, saved, m->n_params * sizeof *saved);
        m->fwd_valid = 0;
        free(saved);
        af_update_destroy(u);
    }
    for (int i = 0; i < 2; i++) protobuf_c_message_free_unpacked(&h[i]->base, NULL);
    af_adamw_destroy(opt);
    af_model_destroy(m);
    MPI_Finalize();
    TEST_MAIN_END();
}
