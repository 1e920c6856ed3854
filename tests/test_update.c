/* The learner step's sample building (learner/update.c) on hand-made trajectories:
 *  - memory policy: one sample per turn; monolithic policy: one per trajectory, the last
 *    turn's prompt + action, with every turn's action tokens at their positions in it.
 *    Behaviour log-probs are the model's own on the full transcript, so the step's
 *    measured mismatch is ~0 exactly when the positions are right (for both policies:
 *    by causality a turn's prefix gives the same log-probs as the full transcript);
 *  - a monolithic trajectory that is not a transcript (a turn's action not where the last
 *    prompt has it, a prompt longer than the last) is skipped and counted, never read
 *    out of bounds, and the step still runs on the rest. */
#include <math.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "learner/update.h"
#include "tests/model_testlib.h"
#include "tests/test_util.h"
#include "tests/update_testlib.h"

static AfUpdate *make_update(AfModel *m, AfAdamW *opt, int monolithic) {
    AfUpdateConfig uc;
    af_test_update_config(&uc, 1.0f, 1e-3);
    uc.monolithic = monolithic;
    AfUpdate *u = NULL;
    CHECK_MSG(af_update_create(&uc, m, NULL, opt, MPI_COMM_WORLD, &u) == 0, "%s", af_error_detail());
    return u;
}

/* One step over the group (two trajectories of one query); the weights are restored after. */
static AfUpdateStats step(AfModel *m, AfAdamW *opt, int monolithic, Agentflow__Trajectory **g) {
    AfUpdateStats st;
    memset(&st, 0, sizeof st);
    float *saved = malloc(m->n_params * sizeof *saved);
    memcpy(saved, m->params, m->n_params * sizeof *saved);
    AfUpdate *u = make_update(m, opt, monolithic);
    const uint32_t slot = 0;
    if (u) CHECK_MSG(af_update_run(u, (const Agentflow__Trajectory *const *)g, &slot, 1, 1, 2, &st) == 0, "%s",
                     af_error_detail());
    af_update_destroy(u);
    memcpy(m->params, saved, m->n_params * sizeof *saved);
    m->fwd_valid = 0;
    free(saved);
    return st;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
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
    af_adamw_destroy(opt);
    af_model_destroy(m);
    MPI_Finalize();
    TEST_MAIN_END();
}
