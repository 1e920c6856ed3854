/* The learner step's configuration the tests use: default advantages and loss, no KL
 * (no reference model), one PPO epoch, gradient clip 1, mismatch tolerance `tol`. */
#ifndef AF_TESTS_UPDATE_TESTLIB_H
#define AF_TESTS_UPDATE_TESTLIB_H

#include <string.h>

#include "learner/update.h"

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

#endif
