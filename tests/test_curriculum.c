/* The mastery curriculum (learner/curriculum.h) on a made-up split and success history:
 *  - the focus starts at the lowest level that has queries, and moves up exactly when a
 *    level's moving-average pass rate reaches the threshold (rates checked by hand);
 *  - a batch takes the data stream's query in a replay slot and a focus-level query in
 *    every other slot, and with no focus left (every level mastered) it is the data
 *    stream's batch itself;
 *  - the rates are the whole state: a curriculum rebuilt from af_curriculum_get's values
 *    (what a checkpoint stores) draws the same batches bit for bit, and bad rates are
 *    refused. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "learner/curriculum.h"
#include "learner/data_stream.h"
#include "tests/test_util.h"

enum { NQ = 12, B = 16 };
/* levels 0 (3 queries), 1 (4), 3 (5); level 2 has none */
static const uint8_t kLevel[NQ] = {1, 0, 3, 1, 3, 0, 3, 1, 3, 0, 1, 3};

static AfCurriculum *make(AfDataStream *ds, double replay) {
    const AfCurriculumConfig cc = {.threshold = 0.8, .replay = replay, .ema = 0.5};
    AfCurriculum *c = NULL;
    CHECK_MSG(af_curriculum_create(&cc, 7, kLevel, NQ, B, ds, &c) == 0, "%s", af_error_detail());
    return c;
}

static void observe_level(AfCurriculum *c, int level, double rewards, double episodes) {
    double r[AF_CURRICULUM_MAX_LEVELS] = {0}, e[AF_CURRICULUM_MAX_LEVELS] = {0};
    r[level] = rewards, e[level] = episodes;
    af_curriculum_observe(c, r, e);
}

/* Slots of `out` that hold a query of `level` and differ from the stream's batch. */
static int focus_slots(AfDataStream *ds, uint32_t it, const uint32_t *out, int level, int *other) {
    uint32_t st[B];
    af_data_stream_batch(ds, it, st);
    int n = 0;
    *other = 0;
    for (int j = 0; j < B; j++) {
        if (out[j] == st[j]) continue;
        if (kLevel[out[j]] == level) n++;
        else (*other)++;
    }
    return n;
}

static void test_focus_moves(void) {
    AfDataStream *ds = NULL;
    CHECK(af_data_stream_create(7, NQ, B, &ds) == 0);
    AfCurriculum *c = make(ds, 0.25);
    if (!c) return;
    CHECK_EQ_INT(af_curriculum_focus(c), 0);
    uint32_t out[B];
    int other, total_focus = 0;
    for (uint32_t it = 0; it < 8; it++) {
        af_curriculum_batch(c, it, out);
        total_focus += focus_slots(ds, it, out, 0, &other);
        CHECK_EQ_INT(other, 0); /* every non-stream query is of the focus level */
    }
    /* 8 batches of 16 slots, 3/4 of them focus draws, of which 2/3 differ from the stream's
     * query in the slot (a level-0 query from the stream counts as a stream slot) */
    CHECK_MSG(total_focus > 40 && total_focus < 100, "%d focus slots", total_focus);
    /* level 0 at 7/8 then 8/8: rates 0.4375, 0.71875 -> still the focus; 0.859375 -> mastered */
    double rate[AF_CURRICULUM_MAX_LEVELS];
    observe_level(c, 0, 7, 8);
    af_curriculum_get(c, rate);
    CHECK(rate[0] == 0.4375);
    observe_level(c, 0, 8, 8);
    CHECK_EQ_INT(af_curriculum_focus(c), 0);
    observe_level(c, 0, 8, 8);
    af_curriculum_get(c, rate);
    CHECK(rate[0] == 0.859375);
    CHECK_EQ_INT(af_curriculum_focus(c), 1);
    /* an iteration without episodes of a level leaves its rate alone */
    observe_level(c, 3, 0, 0);
    af_curriculum_get(c, rate);
    CHECK(rate[3] == 0.0 && rate[0] == 0.859375);
    af_curriculum_batch(c, 9, out);
    CHECK(focus_slots(ds, 9, out, 1, &other) > 0);
    CHECK_EQ_INT(other, 0);
    /* level 1 mastered in one step (ema 0.5 of 1.0 = 0.5 < 0.8, then 0.75, then 0.875) */
    for (int k = 0; k < 3; k++) observe_level(c, 1, 4, 4);
    CHECK_EQ_INT(af_curriculum_focus(c), 3); /* level 2 has no queries: skipped */
    for (int k = 0; k < 3; k++) observe_level(c, 3, 5, 5);
    CHECK_EQ_INT(af_curriculum_focus(c), AF_CURRICULUM_NONE);
    /* no focus: the data stream's batch */
    uint32_t st[B];
    af_curriculum_batch(c, 11, out);
    af_data_stream_batch(ds, 11, st);
    CHECK(memcmp(out, st, sizeof st) == 0);
    /* forgetting: level 0 falls below the threshold again and is the focus again */
    observe_level(c, 0, 0, 8);
    CHECK_EQ_INT(af_curriculum_focus(c), 0);
    af_curriculum_destroy(c);
    /* replay 1: every slot is the stream's, whatever the focus */
    c = make(ds, 1.0);
    af_curriculum_batch(c, 3, out);
    af_data_stream_batch(ds, 3, st);
    CHECK(memcmp(out, st, sizeof st) == 0);
    af_curriculum_destroy(c);
    /* replay 0: every slot a focus-level query */
    c = make(ds, 0.0);
    af_curriculum_batch(c, 3, out);
    for (int j = 0; j < B; j++) CHECK(kLevel[out[j]] == 0);
    af_curriculum_destroy(c);
    af_data_stream_destroy(ds);
}

static void test_state_roundtrip(void) {
    AfDataStream *ds1 = NULL, *ds2 = NULL;
    CHECK(af_data_stream_create(7, NQ, B, &ds1) == 0 && af_data_stream_create(7, NQ, B, &ds2) == 0);
    AfCurriculum *a = make(ds1, 0.25), *b = make(ds2, 0.25);
    if (!a || !b) return;
    /* a runs 20 iterations with a made-up history; at 10 its state goes to b (a resume) */
    uint32_t oa[B], ob[B];
    for (uint32_t it = 0; it < 20; it++) {
        if (it == 10) {
            double rate[AF_CURRICULUM_MAX_LEVELS];
            af_curriculum_get(a, rate);
            CHECK(af_curriculum_set(b, rate) == 0);
        }
        af_curriculum_batch(a, it, oa);
        if (it >= 10) {
            af_curriculum_batch(b, it, ob);
            CHECK_MSG(memcmp(oa, ob, sizeof oa) == 0, "iteration %u: batches differ after the restore", it);
        }
        double r[AF_CURRICULUM_MAX_LEVELS] = {0}, e[AF_CURRICULUM_MAX_LEVELS] = {0};
        for (int j = 0; j < B; j++) {
            e[kLevel[oa[j]]] += 1;
            r[kLevel[oa[j]]] += (oa[j] + it) % 3 != 0; /* deterministic made-up successes */
        }
        af_curriculum_observe(a, r, e);
        if (it >= 10) af_curriculum_observe(b, r, e);
    }
    double ra[AF_CURRICULUM_MAX_LEVELS], rb[AF_CURRICULUM_MAX_LEVELS];
    af_curriculum_get(a, ra);
    af_curriculum_get(b, rb);
    CHECK(memcmp(ra, rb, sizeof ra) == 0);
    CHECK(ra[0] > 0.5); /* the history did move the rates */
    /* bad state and bad configuration */
    rb[2] = 1.5;
    CHECK_EQ_INT(af_curriculum_set(b, rb), AF_EINVAL);
    CHECK_STR_CONTAINS(af_error_detail(), "level 2");
    const AfCurriculumConfig bad = {.threshold = 0.0, .replay = 0.25, .ema = 0.5};
    AfCurriculum *c = NULL;
    CHECK_EQ_INT(af_curriculum_create(&bad, 7, kLevel, NQ, B, ds1, &c), AF_EINVAL);
    uint8_t lv[NQ];
    memcpy(lv, kLevel, NQ);
    lv[4] = AF_CURRICULUM_MAX_LEVELS;
    const AfCurriculumConfig ok = {.threshold = 0.8, .replay = 0.25, .ema = 0.5};
    CHECK_EQ_INT(af_curriculum_create(&ok, 7, lv, NQ, B, ds1, &c), AF_EINVAL);
    CHECK_STR_CONTAINS(af_error_detail(), "query 4");
    af_curriculum_destroy(a);
    af_curriculum_destroy(b);
    af_data_stream_destroy(ds1);
    af_data_stream_destroy(ds2);
}

int main(void) {
    test_focus_moves();
    test_state_roundtrip();
    TEST_MAIN_END();
}
