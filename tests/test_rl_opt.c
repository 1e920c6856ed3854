/* The optimizer of Flow-GRPO after the warm start (issue 18), on hand-made batches:
 *  - the learning-rate schedule (learner/lr_schedule.h): its values at given iterations
 *    for warm-up, constant and cosine, and the defaults give algo.lr at every iteration;
 *  - the hand-over of the warm start's AdamW state (run/warmstart.h): with carry_moments
 *    the moments and step count after behaviour-cloning steps are kept bit for bit, and
 *    the first Flow-GRPO step equals AdamW computed in double from those moments and the
 *    step's gradient; without it they are zero and the first step moves every parameter
 *    with a gradient by the learning rate (Adam's first step is sign(g) * lr): the hazard
 *    the carried moments remove. */
#include <math.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "learner/lr_schedule.h"
#include "run/warmstart.h"
#include "tests/update_testlib.h"

static void test_schedule(void) {
    AfLrSchedule s = {.lr = 1e-4, .warmup = 0, .shape = AF_LR_CONSTANT, .min_ratio = 0.1, .total = 100};
    for (int64_t it = 0; it < 1000; it += 37) CHECK(af_lr_schedule_at(&s, it) == 1e-4);
    CHECK((float)af_lr_schedule_at(&s, 5) == (float)1e-4); /* what the learner sets, as before the keys */
    s.warmup = 10;
    CHECK_NEAR(af_lr_schedule_at(&s, 0), 1e-5, 1e-18);
    CHECK_NEAR(af_lr_schedule_at(&s, 4), 5e-5, 1e-18);
    CHECK_NEAR(af_lr_schedule_at(&s, 9), 1e-4, 1e-18);
    CHECK_NEAR(af_lr_schedule_at(&s, 10), 1e-4, 1e-18);
    CHECK_NEAR(af_lr_schedule_at(&s, 99), 1e-4, 1e-18);
    s.shape = AF_LR_COSINE;
    s.total = 110;
    CHECK_NEAR(af_lr_schedule_at(&s, 9), 1e-4, 1e-18);   /* the warm-up's end */
    CHECK_NEAR(af_lr_schedule_at(&s, 10), 1e-4, 1e-18);  /* cosine starts at the peak */
    CHECK_NEAR(af_lr_schedule_at(&s, 60), 0.55e-4, 1e-16); /* half way: (1 + 0.1) / 2 */
    CHECK_NEAR(af_lr_schedule_at(&s, 35), 1e-4 * (0.1 + 0.9 * 0.5 * (1 + cos(M_PI / 4))), 1e-16);
    CHECK_NEAR(af_lr_schedule_at(&s, 110), 1e-5, 1e-18);
    CHECK_NEAR(af_lr_schedule_at(&s, 5000), 1e-5, 1e-18); /* past the end: the floor */
    s.warmup = 0;
    s.min_ratio = 0;
    CHECK_NEAR(af_lr_schedule_at(&s, 0), 1e-4, 1e-18);
    CHECK_NEAR(af_lr_schedule_at(&s, 110), 0.0, 1e-18);
    s.total = 0; /* no span: the floor at once */
    CHECK_NEAR(af_lr_schedule_at(&s, 0), 0.0, 1e-18);
}

typedef struct {
    float *p, *m, *v;
    int64_t step;
} OptState;

static void save(OptState *o, const AfModel *mod, const AfAdamW *opt) {
    memcpy(o->p, mod->params, mod->n_params * sizeof(float));
    memcpy(o->m, opt->m, opt->n * sizeof(float));
    memcpy(o->v, opt->v, opt->n * sizeof(float));
    o->step = opt->step;
}

static void restore(const OptState *o, AfModel *mod, AfAdamW *opt) {
    memcpy(mod->params, o->p, mod->n_params * sizeof(float));
    memcpy(opt->m, o->m, opt->n * sizeof(float));
    memcpy(opt->v, o->v, opt->n * sizeof(float));
    opt->step = o->step;
    mod->fwd_valid = 0;
}

/* One Flow-GRPO step on the group g (rewards 0 and 1); the gradient it applied stays in
 * mod->grads. */
static void rl_step(AfModel *mod, AfAdamW *opt, Agentflow__Trajectory **g) {
    AfUpdateConfig uc;
    af_test_update_config(&uc, 1.0f, 1e-3);
    AfUpdate *u = NULL;
    AfUpdateStats st;
    const uint32_t slot = 0;
    CHECK_MSG(af_update_create(&uc, mod, NULL, opt, MPI_COMM_WORLD, &u) == 0, "%s", af_error_detail());
    if (u) CHECK_MSG(af_update_run(u, (const Agentflow__Trajectory *const *)g, &slot, 1, 1, 2, &st) == 0, "%s",
                     af_error_detail());
    if (u) CHECK_MSG(st.optimizer_steps == 1 && st.groups == 1 && st.zero_variance_groups == 0,
                     "%d steps, %g groups, %g zero-variance", st.optimizer_steps, st.groups, st.zero_variance_groups);
    af_update_destroy(u);
}

static void test_carry(void) {
    AfModelConfig c = tiny_config(2, 0, 0);
    AfModel *mod = NULL;
    AfAdamW *opt = NULL;
    CHECK(af_model_create(&c, 512, 16, AF_MODEL_GRADS, &mod) == 0);
    AfAdamWConfig ac = af_adamw_config_default();
    ac.lr = 3e-3f;
    ac.weight_decay = 0.0f;
    if (mod) CHECK(af_adamw_create(&ac, mod->n_params, &opt) == 0);
    if (!mod || !opt) {
        af_adamw_destroy(opt);
        af_model_destroy(mod);
        return;
    }
    fill_params(mod, 5, 0.3);
    const size_t n = mod->n_params;

    /* the warm start: 5 behaviour-cloning steps on demonstrations */
    Agentflow__Trajectory *demo[2] = {af_test_two_turn_traj(mod, 0, 1.0f, 21), af_test_two_turn_traj(mod, 1, 1.0f, 21)};
    AfUpdateConfig uc;
    af_test_update_config(&uc, 1.0f, 1e-3);
    AfUpdate *u = NULL;
    CHECK_MSG(af_update_create(&uc, mod, NULL, opt, MPI_COMM_WORLD, &u) == 0, "%s", af_error_detail());
    double nll = 0;
    for (int s = 0; u && s < 5; s++) CHECK(af_update_bc_step(u, (const Agentflow__Trajectory *const *)demo, 2, &nll) == 0);
    af_update_destroy(u);
    CHECK_EQ_INT(opt->step, 5);

    OptState ws = {malloc(n * sizeof(float)), malloc(n * sizeof(float)), malloc(n * sizeof(float)), 0};
    save(&ws, mod, opt);
    /* the RL batch, sampled from the warm-started planner */
    Agentflow__Trajectory *g[2] = {af_test_two_turn_traj(mod, 0, 0.0f, 9), af_test_two_turn_traj(mod, 1, 1.0f, 9)};
    const float rl_lr = 1e-4f;

    /* carried: the warm start's moments and step count, bit for bit */
    af_warmstart_hand_over(opt, rl_lr, 1);
    CHECK(opt->cfg.lr == rl_lr && opt->step == 5);
    CHECK(!memcmp(opt->m, ws.m, n * sizeof(float)) && !memcmp(opt->v, ws.v, n * sizeof(float)));
    rl_step(mod, opt, g);
    /* AdamW in double from the warm start's moments and the applied gradient */
    const double b1 = ac.beta1, b2 = ac.beta2, eps = ac.eps, bc1 = 1 - pow(b1, 6), bc2 = 1 - pow(b2, 6);
    double err = 0, carried_step = 0, scale = 0;
    float *carried = malloc(n * sizeof(float));
    memcpy(carried, mod->params, n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        const double gi = mod->grads[i], m1 = b1 * ws.m[i] + (1 - b1) * gi, v1 = b2 * ws.v[i] + (1 - b2) * gi * gi;
        const double want = ws.p[i] - rl_lr * ((m1 / bc1) / (sqrt(v1 / bc2) + eps));
        err = fmax(err, fabs(want - mod->params[i]));
        scale = fmax(scale, fabs(want - ws.p[i]));
        carried_step += fabs((double)mod->params[i] - ws.p[i]);
    }
    CHECK_MSG(scale > 0 && err <= 1e-3 * scale + 1e-9, "carried: max error %g against the double AdamW (largest step %g)",
              err, scale);
    CHECK_EQ_INT(opt->step, 6);

    /* fresh (the paper's default): zero moments, step 0; Adam's first step is lr * sign(g) */
    restore(&ws, mod, opt);
    af_warmstart_hand_over(opt, rl_lr, 0);
    CHECK(opt->step == 0);
    int zero = 1;
    for (size_t i = 0; i < n; i++) zero &= opt->m[i] == 0.0f && opt->v[i] == 0.0f;
    CHECK(zero);
    rl_step(mod, opt, g);
    double fresh_step = 0, worst = 0, diff = 0;
    size_t moved = 0;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)mod->params[i] - ws.p[i]);
        diff = fmax(diff, fabs((double)mod->params[i] - carried[i]));
        if (fabs(mod->grads[i]) < 1e-5) continue; /* eps and round-off matter below this */
        moved++;
        fresh_step += d;
        worst = fmax(worst, fabs(d - rl_lr) / rl_lr);
    }
    CHECK_MSG(moved > n / 2 && worst < 0.02, "fresh: %zu of %zu parameters with a gradient, step off lr by up to %.3g",
              moved, n, worst);
    CHECK_MSG(diff > 0.1 * rl_lr, "the carried and the fresh first step differ by at most %g", diff);
    printf("mean |step| / lr over the parameters: carried %.3f, fresh %.3f\n", carried_step / (double)n / rl_lr,
           fresh_step / (double)n / rl_lr);

    free(carried);
    free(ws.p), free(ws.m), free(ws.v);
    for (int i = 0; i < 2; i++) {
        protobuf_c_message_free_unpacked(&demo[i]->base, NULL);
        protobuf_c_message_free_unpacked(&g[i]->base, NULL);
    }
    af_adamw_destroy(opt);
    af_model_destroy(mod);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    test_schedule();
    test_carry();
    MPI_Finalize();
    TEST_MAIN_END();
}
