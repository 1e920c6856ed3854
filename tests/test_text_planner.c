/* The planner in text (actor/text_planner.h) and the sampler's top-k / top-p.
 *
 * Without arguments (unit test): the tolerant action parser on a table of generated
 * texts (well-formed, sloppy, fenced, garbage, empty, overlong), stop-string specs and
 * search, and af_sample_logits on hand-made logits (top-k, top-p, both, ties, k = 1 is
 * greedy, top_k = 0 and top_k >= V draw exactly as without it, the heap against a full
 * sort on a 151,936-token vocabulary), and the episode's text path with a scripted planner
 * in text (a parsed reply reaches the executor with its sub-goal recorded apart, a reply
 * that does not parse is a bad action with the reason, the context check ends the
 * episode judged, monolithic is refused), and the text demonstrations: every oracle
 * action of four suites renders as a reply (af_text_reply_render) that reads back to it.
 *
 * Helper modes for tests/test_text_planner.py (a tiny Qwen2.5 model with the real
 * tokenizer):
 *   --render DIR SUITE   stdin {"question", "turns": [{sub_goal, tool, argument, result,
 *                        status}], "result_bytes"} -> {"messages", "text", "ids"}
 *   --episodes DIR SUITE N [KEY=VALUE...]  N (<= 64) training episodes (rollout.explore_random
 *                                      applies) of the text planner (config
 *                        --set pairs; with rollout.group_decode, the default, decoded as
 *                        one group, else one at a time), each validated by the learner's trajectory limits from
 *                        the model (vocabulary, max_seq, max_action_tokens) and sent
 *                        through encode + the learner's decoder; one JSON line per turn:
 *                        {"episode", "prompt", "action", "logprobs", "text", "tool",
 *                        "status", "detail"}.
 *   --demo DIR SUITE N [KEY=VALUE...]  N oracle warm-start episodes shown as text replies
 *                        (af_planner_text_demo_create; model.warmstart_subgoal=plan: the
 *                        suite's plan as the Sub-goal line): one JSON line per turn.
 *   --learner DIR SUITE G [KEY=VALUE...]  G samples of one question, then the learner's
 *                        step over them: {"mismatch_max", "mismatch_mean", "tokens", ...},
 *                        the learner's recomputed log-probs against the behaviour ones. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <mpi.h>

#include "actor/episode.h"
#include "actor/modules.h"
#include "actor/planner_model.h"
#include "actor/text_planner.h"
#include "common/decode.h"
#include "common/error.h"
#include "common/safetensors.h"
#include "common/traj.h"
#include "learner/adamw.h"
#include "learner/grpo.h"
#include "learner/update.h"
#include "run/world.h"
#include "tests/test_util.h"
#include "tests/turns_json.h"
#include "tests/update_testlib.h"

/* ---- parser table ------------------------------------------------------------------ */

typedef struct {
    const char *text;
    const char *tool, *arg, *goal; /* NULL tool: a format error whose reason holds `goal` */
} ParseCase;

static void test_parse(void) {
    static char overlong[1200], longtool[80];
    memset(overlong, 0, sizeof overlong);
    strcpy(overlong, "Tool: calculator\nCommand: ");
    memset(overlong + strlen(overlong), '1', 600);
    memset(longtool, 'a', 40);
    longtool[40] = 0;
    const ParseCase cases[] = {
        {"Sub-goal: add two numbers\nTool: calculator\nCommand: 4+7", "calculator", "4+7", "add two numbers"},
        {"tool: Calculator\ncommand: 8/(3-8/3)\nsub-goal: finish", "calculator", "8/(3-8/3)", "finish"},
        {"**Sub-goal:** find the city\n**Tool:** search\n**Command:** `Dratam Praravi`", "search", "Dratam Praravi",
         "find the city"},
        {"- Tool = search\n- Argument = \"Torgordra\"", "search", "Torgordra", ""},
        {"I think we should compute.\nTool: calculator\nCommand: 3*8\nThat gives 24.", "calculator", "3*8", ""},
        {"Tool: calculator 4*6", "calculator", "4*6", ""},
        {"Tool: stop", "stop", "", ""},
        {"Subgoal: done\nTool: STOP\n", "stop", "", "done"},
        {"```\nTool: calculator\nCommand: 1+2\n```", "calculator", "1+2", ""},
        {"Here:\n```text\ncalculator 6*4\n```", "calculator", "6*4", ""},
        {"calculator 4+7 | make 11", "calculator", "4+7", "make 11"}, /* the suite grammar on one line */
        {"\n\n  search Wentoria  \n", "search", "Wentoria", ""},
        {"<think>hmm, maybe 4*6</think>\nTool: calculator\nCommand: 4*6", "calculator", "4*6", ""},
        {"Tool: python\nCommand:\nx = 6\nprint(x*7)\nSub-goal: compute", "python", "x = 6\nprint(x*7)", "compute"},
        {"Tool: python\nCommand: ```python\nprint(6*7)\n```", "python", "print(6*7)", ""},
        {"Tool: calculator\nCommand: 2+2\nprint(1)", "calculator", "2+2", ""}, /* one line unless a block */
        {"Tool: calculator\nCommand: 1+1\nTool: search\nCommand: x", "calculator", "1+1", ""}, /* the first counts */
        {"", NULL, NULL, "empty reply"},
        {"   \n\t ", NULL, NULL, "empty reply"},
        {"健康成长leşmill Kushner", NULL, NULL, "bad tool name"},
        {"Sub-goal: something\nCommand: 4+7", NULL, NULL, "no \"Tool:\" line"},
        {"Tool: calculator", NULL, NULL, "without a command"},
        {"Tool: calc-ulator\nCommand: 1", NULL, NULL, "bad tool name"},
        {"Tool: calculator\nCommand: 1 | 2", NULL, NULL, "\" | \""},
        {overlong, NULL, NULL, "longer than"},
        {longtool, NULL, NULL, "longer than 32"},
        {"!!!", NULL, NULL, "bad tool name"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const ParseCase *c = &cases[i];
        AfAction a;
        char why[200] = "";
        int rc = af_text_action_parse(c->text, strlen(c->text), &a, why, sizeof why);
        if (c->tool) {
            CHECK_MSG(rc == 0, "case %zu: rc %d (%s)", i, rc, why);
            if (rc == 0) {
                CHECK_MSG(!strcmp(a.tool, c->tool), "case %zu: tool \"%s\"", i, a.tool);
                CHECK_MSG(!strcmp(a.argument, c->arg), "case %zu: argument \"%s\"", i, a.argument);
                CHECK_MSG(!strcmp(a.sub_goal, c->goal), "case %zu: sub-goal \"%s\"", i, a.sub_goal);
            }
        } else {
            CHECK_MSG(rc == AF_EINVAL, "case %zu: rc %d", i, rc);
            CHECK_MSG(strstr(why, c->goal) != NULL, "case %zu: reason \"%s\" lacks \"%s\"", i, why, c->goal);
        }
        af_action_clear(&a);
    }
    /* binary garbage of every length never crashes and always gives 0 or AF_EINVAL */
    AfRng r;
    af_rng_init(&r, 5, AF_RNG_SAMPLE, 0, 0, 0);
    char buf[700];
    for (int t = 0; t < 3000; t++) {
        size_t n = (size_t)(af_rng_uniform(&r) * sizeof buf);
        for (size_t i = 0; i < n; i++) {
            double u = af_rng_uniform(&r);
            buf[i] = u < 0.3 ? "Tool:Command\n `*|"[(int)(u * 50) % 16] : (char)(u * 256);
        }
        AfAction a;
        char why[200];
        int rc = af_text_action_parse(buf, n, &a, why, sizeof why);
        CHECK(rc == 0 || rc == AF_EINVAL);
        af_action_clear(&a);
    }
}

static void test_stop(void) {
    char **v = NULL;
    size_t n = 0;
    CHECK(af_text_stop_split("", &v, &n) == 0 && n == 0);
    CHECK(af_text_stop_split("Observation:|\\n\\n|a\\|b|x\\\\", &v, &n) == 0);
    CHECK_EQ_INT(n, 4);
    if (n == 4) {
        CHECK(!strcmp(v[0], "Observation:"));
        CHECK(!strcmp(v[1], "\n\n"));
        CHECK(!strcmp(v[2], "a|b"));
        CHECK(!strcmp(v[3], "x\\"));
    }
    af_text_stop_free(v, n);
    CHECK(af_text_stop_split("a||b", &v, &n) == AF_EINVAL);
    CHECK(af_text_stop_split("a|", &v, &n) == AF_EINVAL);
    CHECK(af_text_stop_split("a\\q", &v, &n) == AF_EINVAL);
    CHECK(af_text_stop_split("a\\", &v, &n) == AF_EINVAL);
}

/* ---- sampler on hand-made logits ---------------------------------------------------- */

typedef struct {
    AfSampleScratch sc;
} Scratch;

static void scratch_init(Scratch *s, int V) {
    s->sc.ef = malloc((size_t)V * sizeof(float));
    s->sc.prob = malloc((size_t)V * sizeof(double));
    s->sc.idx = malloc((size_t)V * sizeof(int));
    s->sc.tmp = malloc((size_t)V * sizeof(int));
}
static void scratch_free(Scratch *s) {
    free(s->sc.ef);
    free(s->sc.prob);
    free(s->sc.idx);
    free(s->sc.tmp);
}

/* counts[t] of n draws with sampler s from logits z[0..V) */
static void draw_counts(const float *z, int V, AfSampler s, int n, int *counts, Scratch *sc) {
    AfRng r;
    af_rng_init(&r, 9, AF_RNG_SAMPLE, 1, 2, 3);
    memset(counts, 0, (size_t)V * sizeof *counts);
    for (int i = 0; i < n; i++) {
        int32_t t = -1;
        float lp = 1;
        CHECK(af_sample_logits(z, V, &s, &r, &sc->sc, &t, &lp) == 0);
        if (t >= 0 && t < V) counts[t]++;
        CHECK(lp <= 0.0f);
    }
}

static void test_sampler(void) {
    /* probabilities (T = 1) 0.4 0.25 0.15 0.1 0.06 0.04 */
    const double p[6] = {0.4, 0.25, 0.15, 0.1, 0.06, 0.04};
    float z[6];
    const int perm[6] = {3, 0, 5, 1, 4, 2}; /* token perm[i] gets p[i]: order is not by id */
    for (int i = 0; i < 6; i++) z[perm[i]] = (float)log(p[i]);
    Scratch sc;
    scratch_init(&sc, 151936);
    int c[6], c0[6], n = 20000;
    /* top_k = 1: always the argmax */
    draw_counts(z, 6, (AfSampler){1.0f, 1.0f, 1, NULL}, 2000, c, &sc);
    CHECK_EQ_INT(c[3], 2000);
    /* top_k = 3: only the three best, in proportion 0.4 : 0.25 : 0.15 */
    draw_counts(z, 6, (AfSampler){1.0f, 1.0f, 3, NULL}, n, c, &sc);
    CHECK_EQ_INT(c[3] + c[0] + c[5], n);
    CHECK_NEAR((double)c[3] / n, 0.4 / 0.8, 0.02);
    CHECK_NEAR((double)c[0] / n, 0.25 / 0.8, 0.02);
    /* top_p = 0.6: tokens 3, 0 (0.65 reaches it) */
    draw_counts(z, 6, (AfSampler){1.0f, 0.6f, 0, NULL}, n, c, &sc);
    CHECK_EQ_INT(c[3] + c[0], n);
    CHECK_NEAR((double)c[3] / n, 0.4 / 0.65, 0.02);
    /* top_k = 4 then top_p = 0.5 of their 0.9 = 0.45: tokens 3, 0 */
    draw_counts(z, 6, (AfSampler){1.0f, 0.5f, 4, NULL}, n, c, &sc);
    CHECK_EQ_INT(c[3] + c[0], n);
    /* top_k = 4, top_p = 0.8 of 0.9 = 0.72: tokens 3, 0, 5 (0.8) */
    draw_counts(z, 6, (AfSampler){1.0f, 0.8f, 4, NULL}, n, c, &sc);
    CHECK_EQ_INT(c[3] + c[0] + c[5], n);
    CHECK(c[5] > 0);
    /* top_k = 0 and top_k >= V: the very same draws as without top-k */
    draw_counts(z, 6, (AfSampler){0.7f, 0.9f, 0, NULL}, 500, c0, &sc);
    draw_counts(z, 6, (AfSampler){0.7f, 0.9f, 6, NULL}, 500, c, &sc);
    CHECK(!memcmp(c, c0, sizeof c));
    draw_counts(z, 6, (AfSampler){0.7f, 0.9f, 100, NULL}, 500, c, &sc);
    CHECK(!memcmp(c, c0, sizeof c));
    /* ties: equal logits, top_k = 2 keeps the two lowest ids */
    float flat[5] = {1, 1, 1, 1, 1};
    draw_counts(flat, 5, (AfSampler){1.0f, 1.0f, 2, NULL}, 2000, c, &sc);
    CHECK_EQ_INT(c[0] + c[1], 2000);
    CHECK(c[0] > 800 && c[1] > 800);
    /* bad samplers */
    AfRng r;
    af_rng_init(&r, 1, AF_RNG_SAMPLE, 0, 0, 0);
    int32_t t;
    float lp;
    CHECK(af_sample_logits(z, 6, &(AfSampler){1.0f, 1.0f, -1, NULL}, &r, &sc.sc, &t, &lp) == AF_EINVAL);
    CHECK(af_sample_logits(z, 6, &(AfSampler){1.0f, 0.0f, 2, NULL}, &r, &sc.sc, &t, &lp) == AF_EINVAL);
    /* a Qwen-sized vocabulary: the heap's top 50 equal a full sort's, and the draw lies in them */
    const int V = 151936, K = 50;
    float *big = malloc((size_t)V * sizeof *big);
    AfRng g;
    af_rng_init(&g, 3, AF_RNG_SAMPLE, 0, 0, 0);
    for (int j = 0; j < V; j++) big[j] = (float)(af_rng_uniform(&g) * 8.0);
    for (int j = 0; j < 300; j++) big[(j * 7919) % V] = 7.5f; /* ties among the best */
    int *order = malloc((size_t)V * sizeof *order);
    for (int j = 0; j < V; j++) order[j] = j;
    for (int i = 0; i < K; i++) { /* selection of the K best by (logit desc, id asc) */
        int b = i;
        for (int j = i + 1; j < V; j++)
            if (big[order[j]] > big[order[b]] || (big[order[j]] == big[order[b]] && order[j] < order[b])) b = j;
        int tmp = order[i];
        order[i] = order[b];
        order[b] = tmp;
    }
    char *in_top = calloc((size_t)V, 1);
    for (int i = 0; i < K; i++) in_top[order[i]] = 1;
    AfRng rr;
    af_rng_init(&rr, 4, AF_RNG_SAMPLE, 0, 0, 0);
    int outside = 0;
    for (int i = 0; i < 200; i++) {
        CHECK(af_sample_logits(big, V, &(AfSampler){1.0f, 1.0f, K, NULL}, &rr, &sc.sc, &t, &lp) == 0);
        outside += !in_top[t];
        CHECK(lp <= 0.0f);
    }
    CHECK_EQ_INT(outside, 0);
    int same = 1; /* the sampler's scratch holds its top-K, best first */
    for (int i = 0; i < K; i++) same &= sc.sc.idx[i] == order[i];
    CHECK(same);
    free(in_top);
    free(order);
    free(big);
    scratch_free(&sc);
}

/* ---- the episode's text path with a scripted planner in text -------------------------- */

/* Token id = byte; each turn replies replies[turn]; prompts are base + 40 * turn ids. */
typedef struct {
    const char *replies[4];
    size_t base;
} Script;

static int script_act(AfPlanner *self, const AfPlannerInput *in, AfRng *rng, uint32_t *tokens, float *logprobs,
                      size_t max_tokens, size_t *n) {
    (void)rng;
    const Script *sc = self->ctx;
    const char *r = sc->replies[in->turn < 4 ? in->turn : 3];
    size_t len = strlen(r);
    *n = len < max_tokens ? len : max_tokens;
    for (size_t i = 0; i < *n; i++) {
        tokens[i] = (unsigned char)r[i];
        logprobs[i] = -0.5f;
    }
    return 0;
}

static int script_prompt(AfPlanner *self, const AfSuite *suite, const char *question, const AfTurnRecord *turns,
                         size_t first, size_t n, size_t result_bytes, char **text, AfTokenIds *ids) {
    (void)suite, (void)question, (void)turns, (void)first, (void)result_bytes;
    const Script *sc = self->ctx;
    for (size_t i = 0; i < sc->base + 40 * n; i++)
        if (af_token_ids_push(ids, 7)) return AF_ENOMEM;
    *text = strdup("prompt");
    return *text ? 0 : AF_ENOMEM;
}

static int script_read(AfPlanner *self, const uint32_t *ids, size_t n, char **text, AfAction *action, char *why,
                       size_t cap) {
    (void)self;
    *text = malloc(n + 1);
    if (!*text) return AF_ENOMEM;
    for (size_t i = 0; i < n; i++) (*text)[i] = (char)ids[i];
    (*text)[n] = 0;
    return af_text_action_parse(*text, n, action, why, cap);
}

static void test_episode_text(void) {
    AfSuite *suite = NULL;
    AfModules mods = {0};
    AfItem item = {0};
    int found = 0;
    CHECK(af_suite_create("game24", NULL, &suite) == 0);
    CHECK(af_modules_builtin(suite, &mods) == 0);
    CHECK(af_suite_item_for(suite, "4 7 8 8", NULL, &item, &found) == 0);
    Script sc = {{"Sub-goal: make 11\nTool: calculator\nCommand: 4+7", "## 42", "**Tool:** stop", "x"}, 100};
    AfPlanner p = {.name = "script", .temperature = 1.0f, .act = script_act, .ctx = &sc, .prompt = script_prompt,
                   .read = script_read};
    AfEpisodeSettings set;
    af_episode_settings_default(&set);
    set.max_turns = 4;
    set.max_action_tokens = 64;
    AfEpisodeId id = {0};
    Agentflow__Trajectory *t = NULL;
    CHECK(af_episode_run(suite, &mods, &p, &item, &set, &id, &t) == 0);
    if (t) {
        CHECK_EQ_INT(t->status, AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_OK);
        CHECK_EQ_INT(t->n_turns, 3); /* stop makes the verifier stop */
        if (t->n_turns == 3) {
            CHECK(!strcmp(t->turns[0]->tool, "calculator") && !strcmp(t->turns[0]->argument, "4+7"));
            CHECK(!strcmp(t->turns[0]->sub_goal, "make 11"));
            CHECK_EQ_INT(t->turns[0]->tool_status, AGENTFLOW__TOOL_STATUS__TOOL_STATUS_OK);
            CHECK_MSG(!strncmp(t->turns[0]->result, "11,", 3), "result \"%s\"", t->turns[0]->result);
            CHECK(!strcmp(t->turns[0]->action_text, sc.replies[0])); /* the text as written */
            CHECK_EQ_INT(t->turns[0]->n_action_tokens, strlen(sc.replies[0]));
            CHECK_EQ_INT(t->turns[1]->tool_status, AGENTFLOW__TOOL_STATUS__TOOL_STATUS_BAD_ACTION);
            CHECK_STR_CONTAINS(t->turns[1]->result, "bad tool name");
            CHECK(!strcmp(t->turns[1]->tool, ""));
            CHECK_EQ_INT(t->turns[2]->tool_status, AGENTFLOW__TOOL_STATUS__TOOL_STATUS_NO_CALL);
            CHECK_EQ_INT(t->turns[1]->n_prompt_tokens, 140);
        }
    }
    af_trajectory_free(t);
    /* a context of 270: turn 3's prompt (180) + 64 fits, turn 4's (220) + 64 does not */
    Script loop = {{"Tool: calculator\nCommand: 4+7", "Tool: calculator\nCommand: #1-8", "Tool: calculator\nCommand: 8/#2",
                    "Tool: calculator\nCommand: 1"},
                   100};
    p.ctx = &loop;
    p.context = 270;
    CHECK(af_episode_run(suite, &mods, &p, &item, &set, &id, &t) == 0);
    if (t) {
        CHECK_EQ_INT(t->status, AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_OK);
        CHECK_EQ_INT(t->n_turns, 3);
        CHECK_STR_CONTAINS(t->status_detail, "context full before turn 4");
    }
    af_trajectory_free(t);
    set.monolithic = 1;
    CHECK(af_episode_run(suite, &mods, &p, &item, &set, &id, &t) == AF_EINVAL);
    af_item_clear(&item);
    af_modules_clear(&mods);
    af_suite_destroy(suite);
}

static cJSON *u32_array(const uint32_t *v, size_t n);
static int make_world(const char *suite, int argc, char **argv, AfWorld **w);

/* ---- text demonstrations ------------------------------------------------------------ */

/* Every oracle action of a few episodes of each suite: the suite grammar's text reads
 * (af_text_action_parse, rule 3) as the action the executor ran, and its reply
 * (af_text_reply_render) reads back to the same tool, argument and sub-goal. */
static void test_reply_roundtrip(void) {
    static const char *const suites[] = {"game24", "countdown", "multihop", "arith"};
    int turns = 0, goals = 0, stops = 0;
    for (int si = 0; si < 4; si++) {
        AfWorld *w = NULL;
        AfPlanner *oracle = NULL;
        CHECK(make_world(suites[si], 0, NULL, &w) == 0);
        CHECK(af_planner_oracle_create(&oracle) == 0);
        if (!w || !oracle) continue;
        const AfDataset *ds = af_suite_split(w->suite, AF_SPLIT_TRAIN);
        for (uint32_t q = 0; q < 6 && q < ds->n; q++) {
            AfEpisodeId id = {.query_index = q};
            Agentflow__Trajectory *t = NULL;
            CHECK(af_world_episode(w, oracle, &ds->items[q], &id, &t) == 0);
            for (size_t k = 0; t && k < t->n_turns; k++) {
                const Agentflow__Turn *u = t->turns[k];
                AfAction a = {0}, b = {0};
                char why[160] = "", *reply = NULL;
                CHECK_MSG(af_text_action_parse(u->action_text, strlen(u->action_text), &a, why, sizeof why) == 0,
                          "%s: \"%s\": %s", suites[si], u->action_text, why);
                if (!a.tool) continue;
                CHECK_MSG(!strcmp(a.tool, u->tool) && !strcmp(a.argument, u->argument), "%s: \"%s\" read as %s / %s",
                          suites[si], u->action_text, a.tool, a.argument);
                CHECK(af_text_reply_render(a.tool, a.argument, a.sub_goal, &reply) == 0);
                CHECK_STR_CONTAINS(reply, "Tool: ");
                CHECK_MSG(af_text_action_parse(reply, strlen(reply), &b, why, sizeof why) == 0, "\"%s\": %s", reply, why);
                CHECK_MSG(b.tool && !strcmp(a.tool, b.tool) && !strcmp(a.argument, b.argument) &&
                              !strcmp(a.sub_goal, b.sub_goal),
                          "%s: reply \"%s\" reads back differently", suites[si], reply);
                turns++;
                goals += a.sub_goal[0] != 0;
                stops += !strcmp(a.tool, "stop");
                free(reply);
                af_action_clear(&a);
                af_action_clear(&b);
            }
            af_trajectory_free(t);
        }
        af_planner_destroy(oracle);
        af_world_destroy(w);
    }
    CHECK_MSG(turns >= 40, "%d oracle turns", turns);
    char *r = NULL;
    CHECK(af_text_reply_render("stop", "", "", &r) == 0);
    CHECK(r && !strcmp(r, "Tool: stop"));
    free(r);
    CHECK(af_text_reply_render("calculator", "(8-4)*#1", "make 24", &r) == 0);
    CHECK(r && !strcmp(r, "Sub-goal: make 24\nTool: calculator\nCommand: (8-4)*#1"));
    free(r);
    printf("reply round trip: %d oracle actions (%d with a sub-goal, %d stop)\n", turns, goals, stops);
}

/* ---- helper modes --------------------------------------------------------------------- */

/* N warm-start episodes (training split, query k) of the oracle shown as text replies
 * (af_planner_text_demo_create), in the world of a planner in text DIR: one JSON line per
 * turn {"episode", "reward", "query", "prompt", "action", "text", "tool", "argument",
 * "sub_goal", "result", "status"}. */
static int demo_mode(const char *dir, const char *suite, int n, int argc, char **argv) {
    AfConfig cfg;
    af_config_defaults(&cfg);
    char set[600];
    snprintf(set, sizeof set, "suite.name=%s", suite);
    AfWorld *w = NULL;
    AfPlanner *oracle = NULL, *demo = NULL;
    AfTextCodec *codec = NULL;
    int rc = af_config_apply_set(&cfg, set);
    for (int i = 0; i < argc && !rc; i++) rc = af_config_apply_set(&cfg, argv[i]);
    if (!rc) rc = af_world_create_in(&cfg, dir, 0, &w);
    if (!rc) rc = af_planner_oracle_create(&oracle);
    if (!rc) rc = af_text_codec_load(w->text_dir, "", &codec);
    if (!rc) rc = af_planner_text_demo_create(oracle, codec, cfg.model.warmstart_subgoal == AF_SUBGOAL_PLAN, &demo);
    const AfDataset *ds = rc ? NULL : af_suite_split(w->suite, AF_SPLIT_TRAIN);
    for (int e = 0; e < n && !rc; e++) {
        AfEpisodeId id = {.iteration = 0x80000000u, .query_index = (uint32_t)e};
        Agentflow__Trajectory *t = NULL;
        if ((rc = af_world_episode(w, demo, &ds->items[(size_t)e % ds->n], &id, &t))) break;
        for (size_t k = 0; k < t->n_turns; k++) {
            const Agentflow__Turn *u = t->turns[k];
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "episode", e);
            cJSON_AddNumberToObject(o, "reward", t->reward);
            cJSON_AddStringToObject(o, "query", t->query);
            cJSON_AddItemToObject(o, "prompt", u32_array(u->prompt_tokens, u->n_prompt_tokens));
            cJSON_AddItemToObject(o, "action", u32_array(u->action_tokens, u->n_action_tokens));
            cJSON_AddStringToObject(o, "text", u->action_text);
            cJSON_AddStringToObject(o, "tool", u->tool);
            cJSON_AddStringToObject(o, "argument", u->argument);
            cJSON_AddStringToObject(o, "sub_goal", u->sub_goal);
            cJSON_AddStringToObject(o, "result", u->result);
            cJSON_AddStringToObject(o, "status", af_tool_status_name((AfToolStatus)u->tool_status));
            char *str = cJSON_PrintUnformatted(o);
            puts(str);
            free(str);
            cJSON_Delete(o);
        }
        af_trajectory_free(t);
    }
    if (rc) fprintf(stderr, "demo: %s\n", af_error_detail());
    af_planner_destroy(demo);
    af_planner_destroy(oracle);
    af_text_codec_destroy(codec);
    af_world_destroy(w);
    return rc ? 1 : 0;
}

static int make_world(const char *suite, int argc, char **argv, AfWorld **w) {
    AfConfig cfg;
    af_config_defaults(&cfg);
    char set[600];
    snprintf(set, sizeof set, "suite.name=%s", suite);
    if (af_config_apply_set(&cfg, set)) return 1;
    for (int i = 0; i < argc; i++)
        if (af_config_apply_set(&cfg, argv[i])) return 1;
    return af_world_create(&cfg, w);
}

static int render_mode(const char *dir, const char *suite) {
    cJSON *req = af_test_read_request();
    AfWorld *w = NULL;
    AfTextCodec *codec = NULL;
    size_t nt = 0;
    AfTurnRecord *rec = NULL;
    if (!req || make_world(suite, 0, NULL, &w) || af_text_codec_load(dir, "", &codec) ||
        !(rec = af_test_request_turns(req, &nt))) {
        fprintf(stderr, "render: %s\n", req ? af_error_detail() : "the request on stdin does not parse");
        af_text_codec_destroy(codec);
        af_world_destroy(w);
        cJSON_Delete(req);
        return 1;
    }
    const cJSON *rb = cJSON_GetObjectItemCaseSensitive(req, "result_bytes");
    cJSON *msgs = NULL;
    char *text = NULL;
    AfTokenIds ids = {0};
    int rc = af_text_prompt_messages(w->suite, af_test_jstr(req, "question"), rec, 0, nt, cJSON_IsNumber(rb) ? (size_t)rb->valuedouble : 200,
                                     &msgs);
    if (!rc) rc = af_text_prompt_encode(codec, msgs, &text, &ids);
    if (!rc) {
        cJSON *o = cJSON_CreateObject(), *a = cJSON_CreateArray();
        cJSON_AddItemToObject(o, "messages", msgs);
        msgs = NULL;
        cJSON_AddStringToObject(o, "text", text);
        for (size_t k = 0; k < ids.n; k++) cJSON_AddItemToArray(a, cJSON_CreateNumber(ids.ids[k]));
        cJSON_AddItemToObject(o, "ids", a);
        char *s = cJSON_PrintUnformatted(o);
        puts(s);
        free(s);
        cJSON_Delete(o);
    } else {
        fprintf(stderr, "render: %s\n", af_error_detail());
    }
    cJSON_Delete(msgs);
    free(text);
    af_token_ids_free(&ids);
    free(rec);
    af_text_codec_destroy(codec);
    af_world_destroy(w);
    cJSON_Delete(req);
    return rc ? 1 : 0;
}

static cJSON *u32_array(const uint32_t *v, size_t n) {
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

static int episodes_mode(const char *dir, const char *suite, int n, int argc, char **argv) {
    AfWorld *w = NULL;
    AfModel *model = NULL;
    AfPlanner *planner = NULL;
    AfTrajDecoder *dec = NULL;
    int rc = make_world(suite, argc, argv, &w);
    if (!rc) rc = af_world_model_create(w, dir, &model);
    AfSampler s = {.temperature = (float)w->cfg.rollout.temperature, .top_p = (float)w->cfg.rollout.top_p,
                   .top_k = (int)w->cfg.rollout.top_k};
    if (!rc) rc = af_world_model_planner(w, dir, model, &s, &planner);
    AfTrajLimits lim;
    if (!rc) {
        af_world_traj_limits(w, 1, 1, &lim);
        lim.vocab_size = (uint32_t)model->cfg.vocab_size; /* a text planner's: the model's */
        lim.max_prompt_tokens = (uint32_t)model->cfg.max_seq;
        rc = af_traj_decoder_create(&lim, &dec);
    }
    if (rc) {
        fprintf(stderr, "episodes: %s\n", af_error_detail());
        goto done;
    }
    size_t cap = af_traj_max_bytes(&lim);
    void *buf = malloc(cap);
    /* with rollout.group_decode (the default) all n episodes in one group, else one at a time */
    const AfDataset *ds = af_suite_split(w->suite, AF_SPLIT_TEST);
    Agentflow__Trajectory *ts[AF_EPISODE_GROUP_MAX] = {0};
    if (n > AF_EPISODE_GROUP_MAX) n = AF_EPISODE_GROUP_MAX;
    if (w->cfg.rollout.group_decode && n > 1) {
        const AfItem *items[AF_EPISODE_GROUP_MAX];
        AfEpisodeId ids[AF_EPISODE_GROUP_MAX];
        int rcs[AF_EPISODE_GROUP_MAX];
        static char details[AF_EPISODE_GROUP_MAX][AF_EPISODE_DETAIL];
        for (int e = 0; e < n; e++) {
            items[e] = &ds->items[e % ds->n];
            ids[e] = (AfEpisodeId){.query_index = (uint32_t)e};
        }
        if ((rc = af_world_planner_group(w, planner, n))) fprintf(stderr, "episodes: %s\n", af_error_detail());
        if (!rc) af_world_train_episode_group(w, planner, items, ids, (size_t)n, ts, rcs, details);
        for (int e = 0; e < n && !rc; e++)
            if ((rc = rcs[e])) fprintf(stderr, "episode %d: %s\n", e, details[e]);
    } else {
        for (int e = 0; e < n && !rc; e++) {
            AfEpisodeId id = {.query_index = (uint32_t)e};
            if ((rc = af_world_train_episode(w, planner, &ds->items[e % ds->n], &id, &ts[e])))
                fprintf(stderr, "episode %d: %s\n", e, af_error_detail());
        }
    }
    for (int e = 0; e < n && !rc; e++) {
        Agentflow__Trajectory *t = ts[e], *back = NULL;
        ts[e] = NULL;
        AfTrajReject why;
        size_t len = 0;
        int v = af_traj_validate(t, &lim, &why);
        int enc = af_traj_encode(t, buf, cap, &len);
        int de = enc ? -1 : af_traj_decode(dec, buf, len, &back, &why);
        cJSON *h = cJSON_CreateObject();
        cJSON_AddNumberToObject(h, "episode", e);
        cJSON_AddBoolToObject(h, "valid", v == 0);
        cJSON_AddBoolToObject(h, "wire", enc == 0 && de == 0);
        cJSON_AddNumberToObject(h, "status", (int)t->status);
        cJSON_AddStringToObject(h, "query", t->query);
        char *hs = cJSON_PrintUnformatted(h);
        puts(hs);
        free(hs);
        cJSON_Delete(h);
        for (size_t k = 0; k < t->n_turns; k++) {
            const Agentflow__Turn *u = t->turns[k];
            cJSON *o = cJSON_CreateObject(), *lp = cJSON_CreateArray();
            cJSON_AddNumberToObject(o, "episode", e);
            cJSON_AddItemToObject(o, "prompt", u32_array(u->prompt_tokens, u->n_prompt_tokens));
            cJSON_AddItemToObject(o, "action", u32_array(u->action_tokens, u->n_action_tokens));
            for (size_t j = 0; j < u->n_behaviour_logprobs; j++)
                cJSON_AddItemToArray(lp, cJSON_CreateNumber(u->behaviour_logprobs[j]));
            cJSON_AddItemToObject(o, "logprobs", lp);
            cJSON_AddStringToObject(o, "text", u->action_text);
            cJSON_AddStringToObject(o, "tool", u->tool);
            cJSON_AddStringToObject(o, "argument", u->argument);
            cJSON_AddStringToObject(o, "result", u->result);
            cJSON_AddStringToObject(o, "status", af_tool_status_name((AfToolStatus)u->tool_status));
            cJSON_AddStringToObject(o, "detail", t->status_detail ? t->status_detail : "");
            cJSON_AddBoolToObject(o, "explored", u->explored);
            char *str = cJSON_PrintUnformatted(o);
            puts(str);
            free(str);
            cJSON_Delete(o);
        }
        af_trajectory_free(t); /* back lives in the decoder */
    }
    for (int e = 0; e < n; e++) af_trajectory_free(ts[e]);
    free(buf);
done:
    af_traj_decoder_destroy(dec);
    af_planner_destroy(planner);
    af_model_destroy(model);
    af_world_destroy(w);
    return rc ? 1 : 0;
}

/* G samples of the test split's first question with the planner in text, rewards set to
 * 0, 1, 0, ... (so the group is not dropped), then the learner's step (af_update_run on
 * MPI_COMM_SELF) over them: its recomputation of the behaviour log-probs. */
static int learner_mode(const char *dir, const char *suite, int G, int argc, char **argv) {
    MPI_Init(NULL, NULL);
    AfWorld *w = NULL;
    AfModel *model = NULL, *policy = NULL;
    AfPlanner *planner = NULL;
    AfAdamW *opt = NULL;
    AfUpdate *upd = NULL;
    Agentflow__Trajectory *tr[16] = {0};
    if (G < 2 || G > 16) G = 4;
    int rc = make_world(suite, argc, argv, &w);
    if (!rc) rc = af_world_model_create(w, dir, &model);
    AfSampler s = {.temperature = (float)w->cfg.rollout.temperature, .top_p = (float)w->cfg.rollout.top_p,
                   .top_k = (int)w->cfg.rollout.top_k};
    if (!rc) rc = af_world_model_planner(w, dir, model, &s, &planner);
    const AfDataset *ds = rc ? NULL : af_suite_split(w->suite, AF_SPLIT_TEST);
    for (int g = 0; g < G && !rc; g++) {
        AfEpisodeId id = {.sample_index = (uint32_t)g};
        if (!(rc = af_world_episode(w, planner, &ds->items[0], &id, &tr[g]))) tr[g]->reward = (float)(g % 2);
    }
    if (!rc) rc = af_model_load_dir(dir, 1024, 2, AF_MODEL_GRADS, &policy);
    AfAdamWConfig ac = af_adamw_config_default();
    if (!rc) rc = af_adamw_create(&ac, policy->n_params, &opt);
    AfUpdateConfig uc;
    af_test_update_config(&uc, s.temperature, 1e-4);
    if (!rc) rc = af_update_create(&uc, policy, NULL, opt, MPI_COMM_SELF, &upd);
    AfUpdateStats st;
    memset(&st, 0, sizeof st);
    const uint32_t slot = 0;
    if (!rc) rc = af_update_run(upd, (const Agentflow__Trajectory *const *)tr, &slot, 1, 1, (uint32_t)G, &st);
    if (rc) fprintf(stderr, "learner: %s\n", af_error_detail());
    else
        printf("{\"mismatch_max\":%.9g,\"mismatch_mean\":%.9g,\"tokens\":%.0f,\"samples\":%.0f,\"skipped\":%.0f,"
               "\"over\":%.0f}\n",
               st.mismatch_max, st.mismatch_tokens > 0 ? st.mismatch_sum / st.mismatch_tokens : 0.0, st.mismatch_tokens,
               st.samples, st.skipped_samples, st.mismatch_over);
    for (int g = 0; g < G; g++) af_trajectory_free(tr[g]);
    af_update_destroy(upd);
    af_adamw_destroy(opt);
    af_model_destroy(policy);
    af_planner_destroy(planner);
    af_model_destroy(model);
    af_world_destroy(w);
    MPI_Finalize();
    return rc ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc >= 5 && !strcmp(argv[1], "--learner")) return learner_mode(argv[2], argv[3], atoi(argv[4]), argc - 5, argv + 5);
    if (argc == 4 && !strcmp(argv[1], "--render")) return render_mode(argv[2], argv[3]);
    if (argc >= 5 && !strcmp(argv[1], "--demo")) return demo_mode(argv[2], argv[3], atoi(argv[4]), argc - 5, argv + 5);
    if (argc >= 5 && !strcmp(argv[1], "--episodes")) return episodes_mode(argv[2], argv[3], atoi(argv[4]), argc - 5, argv + 5);
    test_parse();
    test_stop();
    test_sampler();
    test_episode_text();
    test_reply_roundtrip();
    TEST_MAIN_END();
}
