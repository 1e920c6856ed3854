/* Dynamic sampling (learner/dynsamp.h) on a hand-made environment whose episode reward is
 * a fixed function of (query, sample): queries q % 3 == 0 always succeed and q % 3 == 1
 * always fail (groups without signal), q % 3 == 2 succeed on odd samples (signal).
 *  - af_dynsamp_no_signal: equal OK rewards, failed and missing members, one OK member;
 *  - round 1 refills exactly the slots whose groups had no signal, a later round exactly
 *    the refilled slots still without signal; slots with signal keep their query;
 *  - the refill queries are a function of (seed, iteration, round, slot): the same run
 *    after run, independent of the other slots refilled, different at another iteration;
 *  - the loop stops early when every group has signal, and after max_rounds rounds when
 *    none ever does (an all-success split), with no round at max_rounds 0;
 *  - the gather, reopened for some slots, frees exactly their trajectories, expects them
 *    again and takes only the new query there. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/traj.h"
#include "learner/dynsamp.h"
#include "learner/gather.h"
#include "tests/test_util.h"

enum { B = 8, G = 4, NQ = 30, MAXR = 64 };

typedef struct {
    uint32_t queries[B]; /* the batch as the rollouts last saw it */
    int all_success;     /* environment: every episode reward 1 */
    int calls;
    uint32_t round_n[MAXR];
    uint32_t round_slots[MAXR][B], round_q[MAXR][B];
    uint8_t expect_refill[B]; /* the slots the next round must refill */
    int mismatch;
} Env;

static float reward_of(const Env *e, uint32_t q, uint32_t sample) {
    if (e->all_success) return 1.0f;
    return q % 3 == 0 ? 1.0f : q % 3 == 1 ? 0.0f : (float)(sample & 1);
}

static int mask_fn(void *ctx, uint8_t *ns) {
    Env *e = ctx;
    for (uint32_t s = 0; s < B; s++) {
        Agentflow__Trajectory t[G];
        const Agentflow__Trajectory *g[G];
        for (uint32_t j = 0; j < G; j++) {
            agentflow__trajectory__init(&t[j]);
            t[j].status = AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_OK;
            t[j].reward = reward_of(e, e->queries[s], j);
            g[j] = &t[j];
        }
        ns[s] = (uint8_t)af_dynsamp_no_signal(g, G);
        e->expect_refill[s] = ns[s];
    }
    return 0;
}

static int rollout_fn(void *ctx, uint32_t round, const uint32_t *slots, const uint32_t *q, uint32_t n) {
    Env *e = ctx;
    if (round != (uint32_t)e->calls + 1) e->mismatch++;
    uint32_t k = 0;
    for (uint32_t s = 0; s < B; s++)
        if (e->expect_refill[s]) {
            if (k >= n || slots[k] != s) e->mismatch++;
            k++;
        }
    if (k != n) e->mismatch++;
    e->round_n[e->calls] = n;
    for (uint32_t i = 0; i < n; i++) {
        e->round_slots[e->calls][i] = slots[i], e->round_q[e->calls][i] = q[i];
        if (q[i] >= NQ) e->mismatch++;
        e->queries[slots[i]] = q[i];
    }
    e->calls++;
    return 0;
}

static const uint32_t kBatch[B] = {0, 2, 4, 5, 7, 9, 11, 13}; /* no signal at slots 0, 2, 4, 5, 7 */

static void run(Env *e, uint32_t max_rounds, uint32_t it, int all_success, AfDynSampStats *st, uint32_t *batch) {
    memset(e, 0, sizeof *e);
    e->all_success = all_success;
    memcpy(e->queries, kBatch, sizeof kBatch);
    memcpy(batch, kBatch, sizeof kBatch);
    CHECK_MSG(af_dynsamp_run(max_rounds, 11, it, B, NQ, batch, mask_fn, rollout_fn, e, st) == 0, "%s", af_error_detail());
    CHECK_EQ_INT(e->mismatch, 0);
    CHECK(memcmp(batch, e->queries, sizeof e->queries) == 0); /* the batch carries the refills */
}

static void test_no_signal(void) {
    Agentflow__Trajectory t[3];
    const Agentflow__Trajectory *g[3] = {&t[0], &t[1], &t[2]};
    for (int i = 0; i < 3; i++) {
        agentflow__trajectory__init(&t[i]);
        t[i].status = AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_OK;
        t[i].reward = 1.0f;
    }
    CHECK_EQ_INT(af_dynsamp_no_signal(g, 3), 1);
    t[2].reward = 0.5f;
    CHECK_EQ_INT(af_dynsamp_no_signal(g, 3), 0);
    t[2].status = AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_TIMEOUT; /* failed: not counted */
    CHECK_EQ_INT(af_dynsamp_no_signal(g, 3), 1);
    g[1] = NULL;
    CHECK_EQ_INT(af_dynsamp_no_signal(g, 3), 1); /* one OK member */
    t[0].status = AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_TIMEOUT;
    CHECK_EQ_INT(af_dynsamp_no_signal(g, 3), 1); /* none OK */
}

static void test_refill(void) {
    Env e, e2;
    AfDynSampStats st, st2;
    uint32_t batch[B], batch2[B];
    run(&e, 4, 5, 0, &st, batch);
    CHECK_EQ_INT(st.initial, 5);
    CHECK(e.calls >= 1 && st.rounds == (uint32_t)e.calls && st.rounds <= 4);
    const uint32_t want[5] = {0, 2, 4, 5, 7};
    CHECK_EQ_INT(e.round_n[0], 5);
    CHECK(memcmp(e.round_slots[0], want, sizeof want) == 0);
    for (uint32_t s = 0; s < B; s++) /* slots with signal keep their query */
        if (kBatch[s] % 3 == 2) CHECK_EQ_INT(batch[s], kBatch[s]);
    for (int r = 1; r < e.calls; r++) CHECK(e.round_n[r] <= e.round_n[r - 1]);
    if (st.final == 0) CHECK((int)st.rounds == e.calls); /* stopped early: every group has signal */
    else CHECK_EQ_INT(st.rounds, 4);
    /* the same run again: the same refills, round by round */
    run(&e2, 4, 5, 0, &st2, batch2);
    CHECK(memcmp(&st, &st2, sizeof st) == 0);
    CHECK(memcmp(batch, batch2, sizeof batch) == 0);
    CHECK(memcmp(e.round_q, e2.round_q, sizeof e.round_q) == 0);
    /* a slot's draw does not depend on the other slots of its round */
    uint32_t one;
    af_dynsamp_queries(11, 5, 1, &want[3], 1, NQ, &one);
    CHECK_EQ_INT(one, e.round_q[0][3]);
    /* another iteration draws other queries */
    run(&e2, 4, 6, 0, &st2, batch2);
    CHECK(memcmp(e.round_q[0], e2.round_q[0], 5 * sizeof(uint32_t)) != 0);
}

static void test_limit(void) {
    Env e;
    AfDynSampStats st;
    uint32_t batch[B];
    run(&e, 3, 5, 1, &st, batch); /* nothing ever has signal */
    CHECK_EQ_INT(e.calls, 3);
    CHECK_EQ_INT(st.rounds, 3);
    CHECK_EQ_INT(st.initial, B);
    CHECK_EQ_INT(st.final, B);
    for (int r = 0; r < 3; r++) CHECK_EQ_INT(e.round_n[r], B);
    run(&e, 0, 5, 0, &st, batch); /* limit 0: the mask only */
    CHECK_EQ_INT(e.calls, 0);
    CHECK_EQ_INT(st.rounds, 0);
    CHECK_EQ_INT(st.initial, 5);
    CHECK(memcmp(batch, kBatch, sizeof kBatch) == 0);
    /* long enough: a mixed batch ends with every group informative */
    run(&e, 40, 5, 0, &st, batch);
    CHECK_EQ_INT(st.final, 0);
    CHECK(st.rounds >= 1 && st.rounds < 40);
    for (uint32_t s = 0; s < B; s++) CHECK_EQ_INT(batch[s] % 3, 2);
}

static void offer(AfGather *g, uint32_t slot, uint32_t q, uint32_t sample, int want_rc) {
    Agentflow__Trajectory t;
    agentflow__trajectory__init(&t);
    t.slot = slot, t.query_index = q, t.sample_index = sample;
    t.status = AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_OK;
    CHECK_EQ_INT(af_gather_offer(g, &t), want_rc);
}

static void test_gather_reopen(void) {
    AfGather *g = NULL;
    CHECK(af_gather_create(B, 2, 1, 2, &g) == 0); /* learner 1 of 2: slots 1, 3, 5, 7 */
    if (!g) return;
    af_gather_begin(g, 0, kBatch);
    for (uint32_t s = 1; s < B; s += 2)
        for (uint32_t j = 0; j < 2; j++) offer(g, s, kBatch[s], j, 0);
    CHECK_EQ_INT(af_gather_held(g), 8);
    const uint32_t slots[3] = {3, 4, 7}, q[3] = {20, 21, 22};
    af_gather_reopen(g, slots, 3, q);
    CHECK_EQ_INT(af_gather_held(g), 4); /* slots 3 and 7 freed; 4 is not ours */
    CHECK(af_gather_get(g, 1, 0) == NULL && af_gather_get(g, 3, 1) == NULL);
    CHECK(af_gather_get(g, 0, 0) != NULL && af_gather_get(g, 2, 1) != NULL);
    offer(g, 3, kBatch[3], 0, AF_ERANGE); /* the old query is refused */
    offer(g, 3, 20, 0, 0);
    offer(g, 3, 20, 1, 0);
    offer(g, 7, 22, 0, 0);
    offer(g, 7, 22, 1, 0);
    offer(g, 5, kBatch[5], 0, AF_ERANGE); /* untouched slots stay full */
    CHECK_EQ_INT(af_gather_held(g), af_gather_expected(g));
    CHECK_EQ_INT(af_gather_get(g, 1, 0)->query_index, 20);
    af_gather_destroy(g);
}

int main(void) {
    test_no_signal();
    test_refill();
    test_limit();
    test_gather_reopen();
    TEST_MAIN_END();
}
