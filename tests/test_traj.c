/* Trajectory wire format: rich round trips, one rejection per reason (with the field in
 * the message), size limits, and a garbage run of mutated and random messages through
 * the decoder: each is rejected with a counted reason or accepted only if valid. */
#include <stdint.h>
#include <stdlib.h>

#include "common/error.h"
#include "common/kernels.h"
#include "common/rng.h"
#include "common/traj.h"
#include "test_util.h"
#include "wire_fixture.h"

/* Validity re-stated independently of af_traj_validate, for accepted garbage. */
static int indep_valid(const Agentflow__Trajectory *t, const AfTrajLimits *lim) {
    if (t->iteration != lim->iteration_min) return 0;
    if (t->policy_version < lim->version_min || t->policy_version > lim->version_max) return 0;
    if (t->query_index >= lim->num_queries || t->sample_index >= lim->group_size) return 0;
    if (strcmp(t->suite, "game24")) return 0;
    if (isnan(t->reward) || t->reward < 0 || t->reward > 1) return 0;
    if ((unsigned)t->status > 2u || t->actor_rank < 0 || t->actor_rank >= lim->world_size) return 0;
    if (!(t->temperature >= 0) || isinf(t->temperature)) return 0;
    if (!(t->episode_s >= 0 && t->planner_s >= 0 && t->tools_s >= 0 && t->modules_s >= 0)) return 0;
    if (isinf(t->episode_s) || isinf(t->planner_s) || isinf(t->tools_s) || isinf(t->modules_s)) return 0;
    if (!(t->actor_cpu_s >= 0) || isinf(t->actor_cpu_s)) return 0;
    if (t->n_turns > lim->max_turns || (t->status == 0 && t->n_turns == 0)) return 0;
    const char *ts[5] = {t->suite, t->query, t->answer, t->gold, t->status_detail};
    for (int k = 0; k < 5; k++)
        if (strlen(ts[k]) > lim->max_string_bytes) return 0;
    for (size_t i = 0; i < t->n_turns; i++) {
        const Agentflow__Turn *u = t->turns[i];
        if (u->n_prompt_tokens > lim->max_prompt_tokens || u->n_action_tokens > lim->max_action_tokens) return 0;
        if (u->n_behaviour_logprobs != u->n_action_tokens || (t->status == 0 && u->n_action_tokens == 0)) return 0;
        for (size_t j = 0; j < u->n_prompt_tokens; j++)
            if (u->prompt_tokens[j] >= lim->vocab_size) return 0;
        for (size_t j = 0; j < u->n_action_tokens; j++) {
            if (u->action_tokens[j] >= lim->vocab_size) return 0;
            if (!(u->behaviour_logprobs[j] <= 0) || isinf(u->behaviour_logprobs[j])) return 0;
        }
        if ((unsigned)u->tool_status > 5u || (unsigned)u->verifier > 1u) return 0;
        if (!(u->planner_s >= 0 && u->tool_s >= 0) || isinf(u->planner_s) || isinf(u->tool_s)) return 0;
        const char *us[5] = {u->action_text, u->sub_goal, u->tool, u->argument, u->result};
        for (int k = 0; k < 5; k++)
            if (strlen(us[k]) > lim->max_string_bytes) return 0;
    }
    return 1;
}

static void test_round_trip(void) {
    AfTrajLimits lim = fix_limits(7);
    AfTrajDecoder *d = NULL;
    CHECK_EQ_INT(af_traj_decoder_create(&lim, &d), 0);
    AfRng r;
    af_rng_init(&r, 1, AF_RNG_TEST, 0, 0, 0);
    static uint8_t buf[1 << 18];
    for (int k = 0; k < 60; k++) {
        int turns = k % 7 == 0 ? 6 : 1 + k % 3;
        Agentflow__Trajectory *t = fix_make_traj(&r, 7, (uint32_t)k * 13 % FIX_QUERIES, (uint32_t)k % FIX_GROUP, turns,
                                                 k % 5 == 0 ? 900 : 200, 20);
        CHECK(t != NULL);
        if (!t) continue;
        if (k % 11 == 0) { /* the extremes of every range are valid */
            t->reward = k % 2 ? 1.0f : 0.0f;
            t->policy_version = lim.version_min;
            t->turns[0]->action_tokens[0] = FIX_VOCAB - 1;
            t->turns[0]->behaviour_logprobs[0] = 0.0f;
            t->turns[0]->behaviour_logprobs[1] = -1e30f;
        }
        CHECK_EQ_INT(af_traj_validate(t, &lim, NULL), 0);
        size_t len = 0;
        CHECK_EQ_INT(af_traj_encode(t, buf, sizeof buf, &len), 0);
        CHECK(len == af_traj_packed_size(t));
        CHECK(len <= af_traj_max_bytes(&lim));
        Agentflow__Trajectory *back = NULL;
        int rc = af_traj_decode(d, buf, len, &back, NULL);
        CHECK_MSG(rc == 0, "decode %d: %s", k, af_error_detail());
        CHECK(back && fix_traj_equal(t, back));
        Agentflow__Trajectory *copy = NULL;
        CHECK_EQ_INT(af_traj_clone(back ? back : t, &copy), 0);
        CHECK(copy && fix_traj_equal(t, copy));
        af_traj_free(copy);
        /* A too-small buffer is refused without writing. */
        CHECK_EQ_INT(af_traj_encode(t, buf, len - 1, &len), AF_ERANGE);
        af_traj_free(t);
    }
    /* An infrastructure-failed rollout with no turns is valid. */
    Agentflow__Trajectory *t = NULL;
    CHECK_EQ_INT(af_traj_new(&t), 0);
    af_traj_set_string(&t->suite, "game24");
    t->iteration = 7;
    t->policy_version = 7;
    t->status = AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_INFRA_FAILED;
    af_traj_set_string(&t->status_detail, "python sandbox: fork failed");
    size_t len = 0;
    CHECK_EQ_INT(af_traj_encode(t, buf, sizeof buf, &len), 0);
    Agentflow__Trajectory *back = NULL;
    CHECK_EQ_INT(af_traj_decode(d, buf, len, &back, NULL), 0);
    CHECK(back && fix_traj_equal(t, back));
    af_traj_free(t);
    const AfTrajStats *s = af_traj_decoder_stats(d);
    CHECK_EQ_INT(s->accepted, 61);
    CHECK_EQ_INT(s->rejected, 0);
    /* The window moves without reallocating: iteration 7 is now stale. */
    af_traj_decoder_set_window(d, 8, 8, 6, 8);
    CHECK_EQ_INT(af_traj_decode(d, buf, len, &back, NULL), AF_ERANGE);
    CHECK_EQ_INT(s->by_reason[AF_TRAJ_REJECT_ITERATION], 1);
    af_traj_decoder_destroy(d);
    af_traj_decoder_destroy(NULL);
}

/* One mutation per rejection reason; each must be rejected for that reason and name the field. */
typedef struct {
    const char *field; /* expected in the error detail */
    AfTrajReject reason;
    int which;
} Case;

static void mutate(Agentflow__Trajectory *t, int which) {
    Agentflow__Turn *u = t->turns[1];
    switch (which) {
    case 0: t->iteration = 6; break;
    case 1: t->policy_version = 8; break;
    case 2: t->query_index = FIX_QUERIES; break;
    case 3: t->sample_index = FIX_GROUP; break;
    case 4: af_traj_set_string(&t->suite, "countdown"); break;
    case 5: u->prompt_tokens[3] = FIX_VOCAB; break;
    case 6: u->action_tokens[2] = 0xFFFFFFFFu; break;
    case 7: u->n_behaviour_logprobs--; break;
    case 8: u->behaviour_logprobs[4] = NAN; break;
    case 9: u->behaviour_logprobs[4] = 1e-3f; break;
    case 10: u->behaviour_logprobs[4] = -INFINITY; break;
    case 11: t->reward = NAN; break;
    case 12: t->reward = 1.0001f; break;
    case 13: t->reward = -0.5f; break;
    case 14: t->status = (Agentflow__TrajectoryStatus)9; break;
    case 15: u->tool_status = (Agentflow__ToolStatus)-1; break;
    case 16: u->verifier = (Agentflow__VerifierDecision)2; break;
    case 17: t->episode_s = NAN; break;
    case 18: u->tool_s = -1.0; break;
    case 19: t->temperature = INFINITY; break;
    case 20: t->actor_rank = -3; break;
    case 21: t->actor_rank = 64; break;
    case 22: u->n_action_tokens = 0, u->n_behaviour_logprobs = 0; break;
    case 23: {
        static const uint32_t zeros[1025];
        af_traj_turn_set_tokens(u, zeros, 1025, u->action_tokens, u->behaviour_logprobs, u->n_action_tokens);
        break;
    }
    case 24: {
        static char big[4098];
        memset(big, 'x', 4097);
        big[4097] = '\0';
        af_traj_set_string(&u->result, big);
        break;
    }
    case 25:
        while (t->n_turns < 7) af_traj_add_turn(t, NULL);
        break;
    case 26:
        for (size_t i = 0; i < t->n_turns; i++) protobuf_c_message_free_unpacked(&t->turns[i]->base, NULL);
        free(t->turns);
        t->turns = NULL;
        t->n_turns = 0;
        break;
    case 27: /* a try that goes back */
        t->turns[1]->try_index = 1;
        t->turns[2]->try_index = 0;
        break;
    case 28: /* a try before its turn */
        t->turns[1]->try_index = 2;
        break;
    case 29: t->actor_cpu_s = -0.5; break;
    case 30: t->actor_cpu_s = INFINITY; break;
    case 31: /* constrained decoding's masks: one byte short */
    case 32: { /* every token allowed but the third action token */
        const size_t stride = af_mask_bytes(FIX_VOCAB), n = u->n_action_tokens * stride;
        u->action_allow.data = malloc(n);
        memset(u->action_allow.data, 0xff, n);
        u->action_allow.len = which == 31 ? n - 1 : n;
        if (which == 32) {
            const uint32_t tok = u->action_tokens[2];
            u->action_allow.data[2 * stride + tok / 8] &= (uint8_t)~(1u << (tok % 8));
        }
        break;
    }
    }
}

/* A turn whose action_allow has one mask per action token, each allowing its token (and
 * nothing else), is accepted, and survives the wire. */
static void test_action_allow(void) {
    AfTrajLimits lim = fix_limits(7);
    AfRng r;
    af_rng_init(&r, 3, AF_RNG_TEST, 0, 99, 0);
    Agentflow__Trajectory *t = fix_make_traj(&r, 7, 5, 3, 3, 100, 20);
    t->status = AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_OK;
    t->actor_rank = 2;
    Agentflow__Turn *u = t->turns[1];
    const size_t stride = af_mask_bytes(FIX_VOCAB), n = u->n_action_tokens * stride;
    u->action_allow.data = calloc(n, 1);
    u->action_allow.len = n;
    for (size_t j = 0; j < u->n_action_tokens; j++)
        u->action_allow.data[j * stride + u->action_tokens[j] / 8] |= (uint8_t)(1u << (u->action_tokens[j] % 8));
    CHECK_EQ_INT(af_traj_validate(t, &lim, NULL), 0);
    static uint8_t buf[1 << 20];
    size_t len = 0;
    CHECK_EQ_INT(af_traj_encode(t, buf, sizeof buf, &len), 0);
    AfTrajDecoder *d = NULL;
    Agentflow__Trajectory *back = NULL;
    CHECK_EQ_INT(af_traj_decoder_create(&lim, &d), 0);
    CHECK_EQ_INT(af_traj_decode(d, buf, len, &back, NULL), 0);
    CHECK(back && back->turns[1]->action_allow.len == n && !memcmp(back->turns[1]->action_allow.data, u->action_allow.data, n));
    CHECK(back && back->turns[0]->action_allow.len == 0);
    af_traj_decoder_destroy(d); /* the decoder's arena holds back */
    af_traj_free(t);
}

static void test_rejections(void) {
    static const Case cases[] = {
        {"iteration", AF_TRAJ_REJECT_ITERATION, 0},
        {"policy_version", AF_TRAJ_REJECT_VERSION, 1},
        {"query_index", AF_TRAJ_REJECT_QUERY, 2},
        {"sample_index", AF_TRAJ_REJECT_SAMPLE, 3},
        {"suite", AF_TRAJ_REJECT_SUITE, 4},
        {"turns[1].prompt_tokens[3]", AF_TRAJ_REJECT_TOKEN, 5},
        {"turns[1].action_tokens[2]", AF_TRAJ_REJECT_TOKEN, 6},
        {"turns[1].behaviour_logprobs", AF_TRAJ_REJECT_LOGPROB, 7},
        {"turns[1].behaviour_logprobs[4]", AF_TRAJ_REJECT_LOGPROB, 8},
        {"turns[1].behaviour_logprobs[4]", AF_TRAJ_REJECT_LOGPROB, 9},
        {"turns[1].behaviour_logprobs[4]", AF_TRAJ_REJECT_LOGPROB, 10},
        {"reward", AF_TRAJ_REJECT_REWARD, 11},
        {"reward", AF_TRAJ_REJECT_REWARD, 12},
        {"reward", AF_TRAJ_REJECT_REWARD, 13},
        {"status", AF_TRAJ_REJECT_ENUM, 14},
        {"turns[1].tool_status", AF_TRAJ_REJECT_ENUM, 15},
        {"turns[1].verifier", AF_TRAJ_REJECT_ENUM, 16},
        {"episode_s", AF_TRAJ_REJECT_VALUE, 17},
        {"turns[1].tool_s", AF_TRAJ_REJECT_VALUE, 18},
        {"temperature", AF_TRAJ_REJECT_VALUE, 19},
        {"actor_rank", AF_TRAJ_REJECT_VALUE, 20},
        {"actor_rank", AF_TRAJ_REJECT_VALUE, 21},
        {"turns[1].action_tokens", AF_TRAJ_REJECT_SIZE, 22},
        {"turns[1].prompt_tokens", AF_TRAJ_REJECT_SIZE, 23},
        {"turns[1].result", AF_TRAJ_REJECT_SIZE, 24},
        {"turns", AF_TRAJ_REJECT_SIZE, 25},
        {"turns", AF_TRAJ_REJECT_SIZE, 26},
        {"turns[2].try_index", AF_TRAJ_REJECT_VALUE, 27},
        {"turns[1].try_index", AF_TRAJ_REJECT_VALUE, 28},
        {"actor_cpu_s", AF_TRAJ_REJECT_VALUE, 29},
        {"actor_cpu_s", AF_TRAJ_REJECT_VALUE, 30},
        {"turns[1].action_allow", AF_TRAJ_REJECT_SIZE, 31},
        {"turns[1].action_tokens[2]", AF_TRAJ_REJECT_TOKEN, 32},
    };
    AfTrajLimits lim = fix_limits(7);
    AfTrajDecoder *d = NULL;
    CHECK_EQ_INT(af_traj_decoder_create(&lim, &d), 0);
    static uint8_t buf[1 << 20];
    uint64_t expect[AF_TRAJ_REJECT_COUNT] = {0};
    AfRng r;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        af_rng_init(&r, 2, AF_RNG_TEST, 0, (uint32_t)c, 0);
        Agentflow__Trajectory *t = fix_make_traj(&r, 7, 5, 3, 3, 100, 20);
        t->status = AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_OK;
        t->actor_rank = 2;
        CHECK_EQ_INT(af_traj_validate(t, &lim, NULL), 0);
        mutate(t, cases[c].which);
        size_t len = 0;
        CHECK_EQ_INT(af_traj_encode(t, buf, sizeof buf, &len), 0);
        /* Locally, validate() rejects the same way. */
        AfTrajReject why = AF_TRAJ_REJECT_COUNT;
        CHECK_EQ_INT(af_traj_validate(t, &lim, &why), AF_ERANGE);
        CHECK_MSG(why == cases[c].reason, "case %zu: local reason %s", c, af_traj_reject_name(why));
        Agentflow__Trajectory *out = (Agentflow__Trajectory *)1;
        why = AF_TRAJ_REJECT_COUNT;
        int rc = af_traj_decode(d, buf, len, &out, &why);
        CHECK_MSG(rc == AF_ERANGE, "case %zu (%s): rc %d", c, cases[c].field, rc);
        CHECK(out == NULL);
        CHECK_MSG(why == cases[c].reason, "case %zu: reason %s, want %s (%s)", c, af_traj_reject_name(why),
                  af_traj_reject_name(cases[c].reason), af_error_detail());
        CHECK_STR_CONTAINS(af_error_detail(), cases[c].field);
        expect[cases[c].reason]++;
        af_traj_free(t);
    }
    const AfTrajStats *s = af_traj_decoder_stats(d);
    for (int k = 0; k < AF_TRAJ_REJECT_COUNT; k++) CHECK_EQ_INT(s->by_reason[k], expect[k]);
    CHECK_EQ_INT(s->rejected, sizeof cases / sizeof cases[0]);
    CHECK_EQ_INT(s->accepted, 0);

    /* Bytes that do not decode. */
    const uint8_t bad_wire[] = {0x0F, 0x01};                 /* wire type 7 */
    const uint8_t bad_len[] = {0x92, 0x01, 0x7F, 0x00};       /* turn length past the end */
    const uint8_t bad_varint[] = {0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01};
    const uint8_t *bads[3] = {bad_wire, bad_len, bad_varint};
    size_t bad_n[3] = {sizeof bad_wire, sizeof bad_len, sizeof bad_varint};
    for (int k = 0; k < 3; k++) {
        Agentflow__Trajectory *out = NULL;
        AfTrajReject why = AF_TRAJ_REJECT_COUNT;
        CHECK_EQ_INT(af_traj_decode(d, bads[k], bad_n[k], &out, &why), AF_EFORMAT);
        CHECK_MSG(why == AF_TRAJ_REJECT_DECODE, "bad bytes %d: %s", k, af_traj_reject_name(why));
        CHECK_STR_CONTAINS(af_error_detail(), "do not decode");
    }
    /* Empty bytes decode to an all-default trajectory: an OK episode with no turns. */
    Agentflow__Trajectory *out = NULL;
    AfTrajReject why;
    CHECK_EQ_INT(af_traj_decode(d, buf, 0, &out, &why), AF_ERANGE);
    CHECK(why == AF_TRAJ_REJECT_SIZE);
    /* More bytes than max_message_bytes. */
    size_t maxb = af_traj_decoder_limits(d)->max_message_bytes;
    CHECK(maxb == af_traj_max_bytes(&lim) && maxb < sizeof buf);
    CHECK_EQ_INT(af_traj_decode(d, buf, maxb + 1, &out, &why), AF_EFORMAT);
    CHECK(why == AF_TRAJ_REJECT_SIZE);
    CHECK_STR_CONTAINS(af_error_detail(), "max_message_bytes");
    /* A message that fits in bytes but unpacks to far more memory (tens of thousands of
     * empty turns) exhausts the arena and is rejected, not allocated. */
    size_t n = 0;
    while (n + 3 <= maxb) buf[n++] = 0x92, buf[n++] = 0x01, buf[n++] = 0x00;
    CHECK_EQ_INT(af_traj_decode(d, buf, n, &out, &why), AF_EFORMAT);
    CHECK_MSG(why == AF_TRAJ_REJECT_SIZE, "arena: %s", af_error_detail());
    af_traj_decoder_destroy(d);

    /* Bad limits are refused. */
    AfTrajLimits z = lim;
    z.vocab_size = 0;
    CHECK_EQ_INT(af_traj_decoder_create(&z, &d), AF_EINVAL);
    CHECK(d == NULL);
}

/* Mutated and random messages: never a crash; each rejected with a counted reason or
 * accepted only if it is valid. */
static void test_garbage(void) {
    enum { N_BASE = 16, N_MSG = 12000, MAXLEN = 1 << 15 };
    AfTrajLimits lim = fix_limits(7);
    AfTrajDecoder *d = NULL;
    CHECK_EQ_INT(af_traj_decoder_create(&lim, &d), 0);
    AfRng r;
    af_rng_init(&r, 3, AF_RNG_FAULT, 0, 0, 0);
    static uint8_t base[N_BASE][8192];
    size_t base_len[N_BASE];
    for (int b = 0; b < N_BASE; b++) {
        Agentflow__Trajectory *t = fix_make_traj(&r, 7, (uint32_t)b, (uint32_t)b % FIX_GROUP, 1 + b % 3, 30 + 5 * b, 8);
        CHECK_EQ_INT(af_traj_encode(t, base[b], sizeof base[b], &base_len[b]), 0);
        af_traj_free(t);
    }
    static uint8_t msg[MAXLEN];
    uint64_t kinds[6] = {0}, accepted_by_kind[6] = {0};
    int bad_verdicts = 0;
    for (int m = 0; m < N_MSG; m++) {
        int kind = m % 6;
        size_t len = 0;
        const uint8_t *src = base[af_rng_u32(&r) % N_BASE];
        size_t src_len = base_len[(src - base[0]) / sizeof base[0]];
        switch (kind) {
        case 0: { /* bit flips */
            memcpy(msg, src, src_len);
            len = src_len;
            int flips = 1 + (int)(af_rng_u32(&r) % 8);
            for (int f = 0; f < flips; f++) msg[af_rng_u32(&r) % len] ^= (uint8_t)(1u << (af_rng_u32(&r) % 8));
            break;
        }
        case 1: /* truncation */
            len = af_rng_u32(&r) % src_len;
            memcpy(msg, src, len);
            break;
        case 2: { /* insertion of random bytes */
            size_t at = af_rng_u32(&r) % (src_len + 1), ins = 1 + af_rng_u32(&r) % 16;
            memcpy(msg, src, at);
            for (size_t i = 0; i < ins; i++) msg[at + i] = (uint8_t)af_rng_u32(&r);
            memcpy(msg + at + ins, src + at, src_len - at);
            len = src_len + ins;
            break;
        }
        case 3: { /* splice: a prefix of one valid message and a suffix of another */
            int b2 = (int)(af_rng_u32(&r) % N_BASE);
            size_t cut1 = af_rng_u32(&r) % (src_len + 1), cut2 = af_rng_u32(&r) % (base_len[b2] + 1);
            memcpy(msg, src, cut1);
            memcpy(msg + cut1, base[b2] + cut2, base_len[b2] - cut2);
            len = cut1 + base_len[b2] - cut2;
            break;
        }
        case 4: /* purely random */
            len = af_rng_u32(&r) % 2048;
            for (size_t i = 0; i < len; i++) msg[i] = (uint8_t)af_rng_u32(&r);
            break;
        case 5: { /* interesting bytes overwritten (varint continuation, lengths, NaN patterns) */
            static const uint8_t vals[] = {0x00, 0xFF, 0x80, 0x7F, 0x01, 0xC0, 0x92};
            memcpy(msg, src, src_len);
            len = src_len;
            int k = 1 + (int)(af_rng_u32(&r) % 4);
            for (int f = 0; f < k; f++) msg[af_rng_u32(&r) % len] = vals[af_rng_u32(&r) % sizeof vals];
            break;
        }
        }
        kinds[kind]++;
        Agentflow__Trajectory *out = NULL;
        AfTrajReject why = AF_TRAJ_REJECT_COUNT;
        int rc = af_traj_decode(d, msg, len, &out, &why);
        if (rc == 0) {
            accepted_by_kind[kind]++;
            if (!out || !indep_valid(out, &lim)) bad_verdicts++;
        } else {
            if (!((rc == AF_EFORMAT || rc == AF_ERANGE) && out == NULL && (int)why >= 0 &&
                  why < AF_TRAJ_REJECT_COUNT && strstr(af_error_detail(), "trajectory")))
                bad_verdicts++;
        }
    }
    CHECK_EQ_INT(bad_verdicts, 0);
    const AfTrajStats *s = af_traj_decoder_stats(d);
    CHECK_EQ_INT(s->accepted + s->rejected, N_MSG);
    uint64_t sum = 0;
    for (int k = 0; k < AF_TRAJ_REJECT_COUNT; k++) sum += s->by_reason[k];
    CHECK_EQ_INT(sum, s->rejected);
    /* The mix must actually exercise rejection for several reasons. */
    CHECK(s->by_reason[AF_TRAJ_REJECT_DECODE] > 1000);
    CHECK(s->rejected > N_MSG / 2);
    fprintf(stderr, "garbage: %d messages, %llu accepted, %llu rejected:", N_MSG, (unsigned long long)s->accepted,
            (unsigned long long)s->rejected);
    for (int k = 0; k < AF_TRAJ_REJECT_COUNT; k++)
        fprintf(stderr, " %s=%llu", af_traj_reject_name((AfTrajReject)k), (unsigned long long)s->by_reason[k]);
    fprintf(stderr, "\n  accepted by kind (flip trunc insert splice random overwrite):");
    for (int k = 0; k < 6; k++) fprintf(stderr, " %llu/%llu", (unsigned long long)accepted_by_kind[k], (unsigned long long)kinds[k]);
    fprintf(stderr, "\n");
    af_traj_decoder_destroy(d);
}

int main(void) {
    test_round_trip();
    test_rejections();
    test_action_allow();
    test_garbage();
    TEST_MAIN_END();
}
