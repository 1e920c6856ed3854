/* Episodes of a world for tests (test_explore, test_constrain, test_random_steps): the
 * world and model of a list of config settings; nq queries x g samples run one at a time
 * or in groups, each trajectory packed (timings zeroed) so that two runs can be compared
 * bit for bit; a turn's behaviour log-probs against the learner's forward. Include after
 * tests/test_util.h. */
#ifndef AF_TESTS_EPISODE_RUNS_H
#define AF_TESTS_EPISODE_RUNS_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "actor/episode.h"
#include "common/config.h"
#include "common/error.h"
#include "common/model.h"
#include "common/traj.h"
#include "run/world.h"

enum { EP_MAX = 64 };

typedef struct {
    int n;
    Agentflow__Trajectory *t[EP_MAX];
    uint8_t *b[EP_MAX];
    size_t len[EP_MAX];
    size_t turns, explored, bad; /* bad: turns whose tool status is not ok */
} EpRuns;

static inline void ep_free(EpRuns *r) {
    for (int i = 0; i < r->n; i++) free(r->b[i]), af_trajectory_free(r->t[i]);
    memset(r, 0, sizeof *r);
}

/* The world of the settings sets[0..n) over the defaults and its model (*w, *m NULL on
 * failure of the settings); 0, or -1 with the error's detail set. */
static inline int ep_world(const char *const *sets, size_t n, AfWorld **w, AfModel **m) {
    AfConfig cfg;
    af_config_defaults(&cfg);
    *w = NULL, *m = NULL;
    for (size_t i = 0; i < n; i++)
        if (af_config_apply_set(&cfg, sets[i])) return -1;
    if (af_world_create(&cfg, w) || af_world_model_create(*w, NULL, m)) return -1;
    return 0;
}

/* Episode i is sample i % g of training query first + i / g at the given iteration, one at
 * a time (group 0) or in groups of group; train: the world's training settings, else
 * evaluation's. */
static inline void ep_run(const AfWorld *w, AfPlanner *p, int group, int train, uint32_t iteration, uint32_t first, int nq,
                   int g, EpRuns *r) {
    const AfDataset *ds = af_suite_split(w->suite, AF_SPLIT_TRAIN);
    const AfItem *items[EP_MAX];
    AfEpisodeId ids[EP_MAX];
    int rcs[EP_MAX];
    static char details[EP_MAX][AF_EPISODE_DETAIL];
    memset(r, 0, sizeof *r);
    r->n = nq * g;
    AF_ASSERT(r->n <= EP_MAX);
    for (int i = 0; i < r->n; i++) {
        const uint32_t q = first + (uint32_t)(i / g);
        items[i] = &ds->items[q % ds->n];
        ids[i] = (AfEpisodeId){.iteration = iteration, .query_index = q, .sample_index = (uint32_t)(i % g)};
    }
    if (group == 0) {
        for (int i = 0; i < r->n; i++) {
            rcs[i] = train ? af_world_train_episode(w, p, items[i], &ids[i], &r->t[i])
                           : af_world_episode(w, p, items[i], &ids[i], &r->t[i]);
            CHECK_MSG(rcs[i] == 0, "episode %d: %s", i, af_error_detail());
        }
    } else {
        CHECK(af_world_planner_group(w, p, group) == 0);
        CHECK(train ? af_world_train_episode_group(w, p, items, ids, (size_t)r->n, r->t, rcs, details) == 0
                    : af_world_episode_group(w, p, items, ids, (size_t)r->n, r->t, rcs, details) == 0);
        for (int i = 0; i < r->n; i++) CHECK_MSG(rcs[i] == 0, "grouped episode %d: %s", i, details[i]);
        CHECK(af_world_planner_group(w, p, 1) == 0);
    }
    for (int i = 0; i < r->n; i++) {
        if (!r->t[i]) continue;
        r->turns += r->t[i]->n_turns;
        for (size_t k = 0; k < r->t[i]->n_turns; k++) {
            r->explored += r->t[i]->turns[k]->explored != 0;
            r->bad += r->t[i]->turns[k]->tool_status != AGENTFLOW__TOOL_STATUS__TOOL_STATUS_OK;
        }
        af_trajectory_zero_timings(r->t[i]);
        r->t[i]->episode_s = 0;
        r->len[i] = protobuf_c_message_get_packed_size(&r->t[i]->base);
        r->b[i] = malloc(r->len[i] ? r->len[i] : 1);
        if (r->b[i]) protobuf_c_message_pack(&r->t[i]->base, r->b[i]);
    }
}

/* The first episode whose packed trajectory differs between a and b, or -1. */
static inline int ep_first_diff(const EpRuns *a, const EpRuns *b) {
    if (a->n != b->n) return 0;
    for (int i = 0; i < a->n; i++)
        if (!a->b[i] || !b->b[i] || a->len[i] != b->len[i] || memcmp(a->b[i], b->b[i], a->len[i])) return i;
    return -1;
}

/* Turn u through f's forward of its prompt + action at temperature T (tok, lp: scratch of
 * cap entries; f's logit mask as the caller set it): the largest |log-prob - behaviour
 * log-prob| over its action tokens, *n of them (0 for a turn without action or longer than
 * cap); -1 when the forward fails. */
static inline double ep_turn_logprob_diff(AfModel *f, const Agentflow__Turn *u, float T, int cap, int32_t *tok, float *lp,
                                   size_t *n) {
    const size_t np = u->n_prompt_tokens, na = u->n_action_tokens;
    *n = 0;
    if (np + na > (size_t)cap || na == 0) return 0;
    for (size_t j = 0; j < np; j++) tok[j] = (int32_t)u->prompt_tokens[j];
    for (size_t j = 0; j < na; j++) tok[np + j] = (int32_t)u->action_tokens[j];
    int starts[2] = {0, (int)(np + na)};
    if (af_model_forward(f, tok, starts, 1, T, lp, NULL)) return -1;
    double worst = 0;
    for (size_t j = 0; j < na; j++) {
        const double d = fabs((double)lp[np + j] - (double)u->behaviour_logprobs[j]);
        if (d > worst) worst = d;
    }
    *n = na;
    return worst;
}

#endif
