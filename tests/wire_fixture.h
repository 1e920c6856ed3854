/* Shared by the wire tests and bench/bench_wire.c: rich deterministic trajectories,
 * deep comparison, and the limits they satisfy. */
#ifndef AF_TESTS_WIRE_FIXTURE_H
#define AF_TESTS_WIRE_FIXTURE_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "common/rng.h"
#include "common/traj.h"

#define FIX_VOCAB 512u
#define FIX_QUERIES 1000u
#define FIX_GROUP 8u

static inline AfTrajLimits fix_limits(uint32_t iteration) {
    AfTrajLimits lim;
    memset(&lim, 0, sizeof lim);
    lim.iteration_min = lim.iteration_max = iteration;
    lim.version_min = iteration > 2 ? iteration - 2 : 0;
    lim.version_max = iteration;
    lim.num_queries = FIX_QUERIES;
    lim.group_size = FIX_GROUP;
    lim.vocab_size = FIX_VOCAB;
    lim.max_turns = 6;
    lim.max_prompt_tokens = 1024;
    lim.max_action_tokens = 64;
    lim.max_string_bytes = 4096;
    lim.suite = "game24";
    lim.world_size = 64;
    return lim;
}

static inline void fix_text(AfRng *r, char *out, size_t max_len, const char *prefix) {
    size_t len = strlen(prefix) + af_rng_u32(r) % (max_len - strlen(prefix));
    static const char alpha[] = "abcdefghijklmnopqrstuvwxyz 0123456789+-*/()=";
    strcpy(out, prefix);
    for (size_t i = strlen(prefix); i < len; i++) out[i] = alpha[af_rng_u32(r) % (sizeof alpha - 1)];
    out[len] = '\0';
}

/* A trajectory with every field set. Returns NULL only on out of memory. */
static inline Agentflow__Trajectory *fix_make_traj(AfRng *r, uint32_t iteration, uint32_t query, uint32_t sample,
                                                   int n_turns, int prompt_len, int action_len) {
    Agentflow__Trajectory *t = NULL;
    char text[512];
    if (af_traj_new(&t)) return NULL;
    t->iteration = iteration;
    t->query_index = query;
    t->sample_index = sample;
    t->policy_version = iteration;
    af_traj_set_string(&t->suite, "game24");
    fix_text(r, text, 40, "q: ");
    af_traj_set_string(&t->query, text);
    fix_text(r, text, 60, "(8 / (3 - 8 / 3)) \xE2\x89\x9F ");  /* UTF-8 survives */
    af_traj_set_string(&t->answer, text);
    af_traj_set_string(&t->gold, "24");
    t->reward = (float)(af_rng_u32(r) % 5) / 4.0f;
    t->status = af_rng_u32(r) % 7 == 0 ? AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_INFRA_FAILED
                                       : AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_OK;
    if (t->status != AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_OK)
        af_traj_set_string(&t->status_detail, "tool server unreachable");
    t->actor_rank = (int32_t)(af_rng_u32(r) % 8);
    t->temperature = 0.7f;
    t->planner_s = 0.25 + af_rng_uniform(r);
    t->tools_s = 0.01 * af_rng_uniform(r);
    t->modules_s = 1e-4;
    t->episode_s = t->planner_s + t->tools_s + t->modules_s;
    uint32_t prompt[2048], action[256];
    float lp[256];
    for (int k = 0; k < n_turns; k++) {
        Agentflow__Turn *u = NULL;
        if (af_traj_add_turn(t, &u)) goto fail;
        int np = prompt_len + (int)(af_rng_u32(r) % 16);
        int na = action_len + (int)(af_rng_u32(r) % 8);
        for (int i = 0; i < np; i++) prompt[i] = af_rng_u32(r) % FIX_VOCAB;
        for (int i = 0; i < na; i++) {
            action[i] = af_rng_u32(r) % FIX_VOCAB;
            lp[i] = -(float)(10.0 * af_rng_uniform(r));
        }
        if (af_traj_turn_set_tokens(u, prompt, (size_t)np, action, lp, (size_t)na)) goto fail;
        fix_text(r, text, 80, "tool=calculator; arg=");
        af_traj_set_string(&u->action_text, text);
        af_traj_set_string(&u->sub_goal, "combine 8 and 3");
        af_traj_set_string(&u->tool, "calculator");
        fix_text(r, text, 30, "8/3");
        af_traj_set_string(&u->argument, text);
        fix_text(r, text, 100, "= ");
        af_traj_set_string(&u->result, text);
        u->tool_status = (Agentflow__ToolStatus)(af_rng_u32(r) % 6);
        u->verifier = k + 1 == n_turns ? AGENTFLOW__VERIFIER_DECISION__VERIFIER_DECISION_STOP
                                       : AGENTFLOW__VERIFIER_DECISION__VERIFIER_DECISION_CONTINUE;
        u->planner_s = 0.1 * af_rng_uniform(r);
        u->tool_s = 0.001 * af_rng_uniform(r);
    }
    return t;
fail:
    af_traj_free(t);
    return NULL;
}

static inline int fix_str_eq(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

/* Field-by-field equality (bitwise for floats and doubles). */
static inline int fix_traj_equal(const Agentflow__Trajectory *a, const Agentflow__Trajectory *b) {
#define FEQ(x) (memcmp(&a->x, &b->x, sizeof a->x) == 0)
    if (!(FEQ(iteration) && FEQ(query_index) && FEQ(sample_index) && FEQ(policy_version) && FEQ(reward) &&
          FEQ(status) && FEQ(actor_rank) && FEQ(temperature) && FEQ(episode_s) && FEQ(planner_s) && FEQ(tools_s) &&
          FEQ(modules_s) && FEQ(n_turns)))
        return 0;
#undef FEQ
    if (!(fix_str_eq(a->suite, b->suite) && fix_str_eq(a->query, b->query) && fix_str_eq(a->answer, b->answer) &&
          fix_str_eq(a->gold, b->gold) && fix_str_eq(a->status_detail, b->status_detail)))
        return 0;
    for (size_t i = 0; i < a->n_turns; i++) {
        const Agentflow__Turn *x = a->turns[i], *y = b->turns[i];
        if (x->n_prompt_tokens != y->n_prompt_tokens || x->n_action_tokens != y->n_action_tokens ||
            x->n_behaviour_logprobs != y->n_behaviour_logprobs)
            return 0;
        if (x->n_prompt_tokens && memcmp(x->prompt_tokens, y->prompt_tokens, x->n_prompt_tokens * 4)) return 0;
        if (x->n_action_tokens && memcmp(x->action_tokens, y->action_tokens, x->n_action_tokens * 4)) return 0;
        if (x->n_behaviour_logprobs && memcmp(x->behaviour_logprobs, y->behaviour_logprobs, x->n_behaviour_logprobs * 4))
            return 0;
        if (!(fix_str_eq(x->action_text, y->action_text) && fix_str_eq(x->sub_goal, y->sub_goal) &&
              fix_str_eq(x->tool, y->tool) && fix_str_eq(x->argument, y->argument) && fix_str_eq(x->result, y->result)))
            return 0;
        if (x->tool_status != y->tool_status || x->verifier != y->verifier ||
            memcmp(&x->planner_s, &y->planner_s, 8) || memcmp(&x->tool_s, &y->tool_s, 8))
            return 0;
    }
    return 1;
}

#endif
