/* What the learner-step tests share: the step's configuration (default advantages and
 * loss, no KL, no reference model, one PPO epoch, gradient clip 1, mismatch tolerance
 * `tol`) and a hand-made two-turn trajectory. */
#ifndef AF_TESTS_UPDATE_TESTLIB_H
#define AF_TESTS_UPDATE_TESTLIB_H

#include <stdlib.h>
#include <string.h>

#include "learner/update.h"
#include "tests/model_testlib.h"
#include "tests/test_util.h"

static inline void af_test_update_config(AfUpdateConfig *uc, float temperature, double tol) {
    memset(uc, 0, sizeof *uc);
    af_grpo_adv_options_default(&uc->adv);
    af_grpo_loss_options_default(&uc->loss);
    uc->loss.kl_coef = 0.0;
    uc->ppo_epochs = 1;
    uc->temperature = temperature;
    uc->grad_clip = 1.0;
    uc->mismatch_tol = tol;
}

enum { NP0 = 5, NA0 = 3, NR = 2, NA1 = 4 };

static inline uint32_t *af_test_dup_ids(const uint32_t *v, size_t n) {
    uint32_t *p = malloc((n ? n : 1) * sizeof *p);
    if (n) memcpy(p, v, n * sizeof *p);
    return p;
}

/* Two turns of random tokens (stream `seed`, `sample`): prompt0, action0; prompt1 =
 * prompt0 + action0 + result, action1. The behaviour log-probs are m's on the whole
 * transcript prompt1 + action1. Free with protobuf_c_message_free_unpacked. */
static inline Agentflow__Trajectory *af_test_two_turn_traj(AfModel *m, uint32_t sample, float reward, uint64_t seed) {
    AfRng r;
    af_rng_init(&r, seed, AF_RNG_TEST, 2, sample, 0);
    const int n = NP0 + NA0 + NR + NA1;
    uint32_t seq[NP0 + NA0 + NR + NA1];
    for (int i = 0; i < n; i++) seq[i] = 1 + af_rng_below(&r, (uint32_t)m->cfg.vocab_size - 1);
    int32_t tok[NP0 + NA0 + NR + NA1];
    for (int i = 0; i < n; i++) tok[i] = (int32_t)seq[i];
    int ss[2] = {0, n};
    float lp[NP0 + NA0 + NR + NA1];
    CHECK(af_model_forward(m, tok, ss, 1, 1.0f, lp, NULL) == 0);

    Agentflow__Trajectory *t = malloc(sizeof *t);
    agentflow__trajectory__init(t);
    t->sample_index = sample;
    t->reward = reward;
    t->status = AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_OK;
    t->n_turns = 2;
    t->turns = calloc(2, sizeof *t->turns);
    const int np[2] = {NP0, NP0 + NA0 + NR}, na[2] = {NA0, NA1};
    for (int k = 0; k < 2; k++) {
        Agentflow__Turn *u = malloc(sizeof *u);
        agentflow__turn__init(u);
        u->n_prompt_tokens = (size_t)np[k];
        u->prompt_tokens = af_test_dup_ids(seq, (size_t)np[k]);
        u->n_action_tokens = u->n_behaviour_logprobs = (size_t)na[k];
        u->action_tokens = af_test_dup_ids(seq + np[k], (size_t)na[k]);
        u->behaviour_logprobs = malloc((size_t)na[k] * sizeof(float));
        for (int j = 0; j < na[k]; j++) u->behaviour_logprobs[j] = lp[np[k] + j];
        t->turns[k] = u;
    }
    return t;
}

#endif
