/* The episode loop's guarantees (actor/episode.h), driven by a scripted planner:
 *  - a bad planner action (unparsable text, an unknown tool, numbers the puzzle does not
 *    have, a stray sub-goal marker, an empty action) becomes an error result in memory
 *    (status bad_action, the reason as result), is shown in the next prompt, costs the turn,
 *    and the episode goes on normally; a later good action still solves the question;
 *  - a planner emitting an id outside the vocabulary is refused with AF_EINVAL (no crash,
 *    nothing leaked: the sanitized build checks);
 *  - the per-tool timeout reaches the tool: `python while True: pass` with tool_timeout_s
 *    0.5 is killed at that limit (the sandbox's own limit is 30 s), recorded as a tool
 *    timeout that costs the turn;
 *  - a tool whose backend is down ends the episode INFRA_FAILED at that turn;
 *  - the whole-episode budget: when the tools use it up the episode ends TIMEOUT (reward 0,
 *    no answer); when the planner itself is slow the episode stops taking turns and ends
 *    normally with the generator and judge; a module call cut by the budget ends it TIMEOUT
 *    (a module timing out with budget left: INFRA_FAILED).
 * No assertion here depends on how fast the machine is: the sleeps only decide which side
 * of the budget the time goes to. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "actor/episode.h"
#include "actor/planner.h"
#include "common/deadline.h"
#include "common/error.h"
#include "env/python_tool.h"
#include "tests/test_util.h"

typedef struct {
    const char *const *texts; /* one per turn (the last repeats) */
    size_t n;
    double sleep_s;           /* before each action */
    int bad_id;               /* emit an id outside the vocabulary */
} Script;

static void sleep_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static int script_act(AfPlanner *self, const AfPlannerInput *in, AfRng *rng, uint32_t *tokens, float *logprobs,
                      size_t max_tokens, size_t *n) {
    (void)rng;
    Script *s = self->ctx;
    if (s->sleep_s > 0) sleep_s(s->sleep_s);
    if (s->bad_id) {
        tokens[0] = af_vocab_size(in->suite->vocab) + 7;
        logprobs[0] = -1.0f;
        *n = 1;
        return 0;
    }
    const char *text = s->texts[in->turn < s->n ? in->turn : s->n - 1];
    size_t k = 0;
    af_vocab_encode(in->suite->vocab, text, tokens, max_tokens, &k);
    if (k > max_tokens) k = max_tokens;
    if (k < max_tokens) tokens[k++] = AF_TOK_EOS;
    for (size_t i = 0; i < k; i++) logprobs[i] = -0.5f;
    *n = k;
    return 0;
}

static AfPlanner make_script(Script *s) {
    AfPlanner p = {.name = "script", .temperature = 1.0f, .act = script_act, .ctx = s};
    return p;
}

typedef struct {
    AfSuite *s;
    AfModules m;
    AfEpisodeSettings ec;
    AfEpisodeId id;
} Fixture;

/* The suite with its builtin modules and a default episode config of max_turns turns;
 * returns 0 (checked and reported) if the suite cannot be made. */
static int fixture_open_opts(Fixture *f, const char *suite, uint32_t max_turns, const AfSuiteOptions *o) {
    memset(f, 0, sizeof *f);
    CHECK_MSG(af_suite_create(suite, o, &f->s) == 0, "%s", af_error_detail());
    if (!f->s) return 0;
    CHECK(af_modules_builtin(f->s, &f->m) == 0);
    af_episode_settings_default(&f->ec);
    memset(&f->id, 0, sizeof f->id);
    f->ec.max_turns = max_turns;
    f->ec.max_action_tokens = 96; /* long scripted actions */
    return 1;
}

static int fixture_open_tries(Fixture *f, const char *suite, uint32_t max_turns, uint32_t attempts,
                              uint32_t retries) {
    AfSuiteOptions o;
    af_suite_options_default(&o);
    o.attempts = attempts;
    o.retries = retries;
    return fixture_open_opts(f, suite, max_turns, &o);
}

static int fixture_open_attempts(Fixture *f, const char *suite, uint32_t max_turns, uint32_t attempts) {
    return fixture_open_tries(f, suite, max_turns, attempts, 0);
}

static int fixture_open(Fixture *f, const char *suite, uint32_t max_turns) {
    return fixture_open_attempts(f, suite, max_turns, 1);
}

/* One episode of item by the suite's oracle under f's episode config; NULL if it failed
 * (checked and reported). */
static Agentflow__Trajectory *oracle_episode(Fixture *f, const AfItem *item) {
    AfPlanner *orc = NULL;
    Agentflow__Trajectory *t = NULL;
    CHECK(af_planner_oracle_create(&orc) == 0);
    if (orc) CHECK_MSG(af_episode_run(f->s, &f->m, orc, item, &f->ec, &f->id, &t) == 0, "%s", af_error_detail());
    af_planner_destroy(orc);
    return t;
}

static void fixture_close(Fixture *f) {
    af_modules_clear(&f->m);
    af_suite_destroy(f->s);
}

/* Bad actions cost the turn, show in memory, never crash. */
static void test_bad_actions(void) {
    Fixture f;
    if (!fixture_open(&f, "game24", 6)) return;
    AfSuite *s = f.s;
    AfItem item = {.question = "3 3 8 8", .answer = "", .solution = NULL};
    static const char *const texts[] = {
        "frobnicate 1+2",         /* unknown tool */
        "calculator 5*5",         /* numbers the puzzle does not have */
        "!!! what",               /* unparsable */
        "",                       /* empty action */
        "calculator 8/(3-8/3) | all four at once", /* good */
    };
    Script sc = {.texts = texts, .n = 5};
    AfPlanner p = make_script(&sc);
    Agentflow__Trajectory *t = NULL;
    int rc = af_episode_run(s, &f.m, &p, &item, &f.ec, &f.id, &t);
    CHECK_MSG(rc == 0, "%s", af_error_detail());
    if (t) {
        CHECK(t->status == AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_OK);
        CHECK_EQ_INT(t->n_turns, 5); /* four turns spent on bad actions, the fifth solves it */
        for (size_t i = 0; i < 4 && i < t->n_turns; i++) {
            CHECK_MSG(t->turns[i]->tool_status == AGENTFLOW__TOOL_STATUS__TOOL_STATUS_BAD_ACTION, "turn %zu: status %d", i + 1,
                      t->turns[i]->tool_status);
            CHECK_MSG(t->turns[i]->result && t->turns[i]->result[0], "turn %zu: no reason given", i + 1);
            CHECK(t->turns[i]->verifier == AGENTFLOW__VERIFIER_DECISION__VERIFIER_DECISION_CONTINUE);
        }
        if (t->n_turns == 5) {
            CHECK_STR_CONTAINS(t->turns[0]->result, "frobnicate");
            CHECK_STR_CONTAINS(t->turns[1]->result, "uses numbers not given");
            CHECK_STR_CONTAINS(t->turns[2]->result, "bad action");
            CHECK_EQ_INT(t->turns[4]->tool_status, AGENTFLOW__TOOL_STATUS__TOOL_STATUS_OK);
            CHECK(!strcmp(t->turns[4]->result, "24") && !strcmp(t->turns[4]->sub_goal, "all four at once"));
            /* the memory the planner saw in turn 5 holds the four error results */
            char *prompt = NULL;
            CHECK(af_vocab_decode(s->vocab, t->turns[4]->prompt_tokens, t->turns[4]->n_prompt_tokens, &prompt) == 0);
            if (prompt) {
                CHECK_STR_CONTAINS(prompt, "1 frobnicate 1+2 -> ");
                CHECK_STR_CONTAINS(prompt, "2 calculator 5*5 -> uses numbers not given");
                CHECK_STR_CONTAINS(prompt, "3 -> bad action");
                CHECK_STR_CONTAINS(prompt, "4 -> bad action");
            }
            free(prompt);
        }
        CHECK(t->reward == 1.0f);
        af_trajectory_free(t);
    }
    /* Only bad actions: the turns run out, reward 0, still a normal episode. */
    Script sc2 = {.texts = texts, .n = 1};
    p = make_script(&sc2);
    f.ec.max_turns = 3;
    t = NULL;
    CHECK(af_episode_run(s, &f.m, &p, &item, &f.ec, &f.id, &t) == 0);
    if (t) {
        CHECK(t->status == AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_OK);
        CHECK_EQ_INT(t->n_turns, 3);
        CHECK(t->reward == 0.0f);
        af_trajectory_free(t);
    }
    /* An id outside the vocabulary: refused, not a crash. */
    Script sc3 = {.texts = texts, .n = 1, .bad_id = 1};
    p = make_script(&sc3);
    t = NULL;
    CHECK_EQ_INT(af_episode_run(s, &f.m, &p, &item, &f.ec, &f.id, &t), AF_EINVAL);
    CHECK(t == NULL);
    fixture_close(&f);
}

/* A tool that sleeps its argument's seconds: spends the episode budget in tools. */
static int sleepy_call(AfTool *self, const char *arg, double timeout_s, AfToolResult *out) {
    (void)self;
    double s = atof(arg);
    if (timeout_s > 0 && s > timeout_s) s = timeout_s;
    sleep_s(s);
    return af_tool_result_set(out, AF_TOOL_OK, "slept %g s", s);
}

static void sleepy_destroy(AfTool *self) { free(self); }

/* A tool whose backend is down. */
static int down_call(AfTool *self, const char *arg, double timeout_s, AfToolResult *out) {
    (void)self;
    (void)arg;
    (void)timeout_s;
    return af_tool_result_set(out, AF_TOOL_INFRA_ERROR, "retrieval server unreachable");
}

static void test_budgets(void) {
    AfSuite *s = NULL;
    CHECK(af_suite_create("game24", NULL, &s) == 0);
    if (!s) return;
    AfTool *sleepy = calloc(1, sizeof *sleepy);
    sleepy->name = "sleepy";
    sleepy->description = "sleeps";
    sleepy->call = sleepy_call;
    sleepy->destroy = sleepy_destroy;
    CHECK(af_suite_add_tool(s, sleepy) == 0);
    AfTool *down = calloc(1, sizeof *down);
    down->name = "down";
    down->description = "a tool whose server is down";
    down->call = down_call;
    down->destroy = sleepy_destroy;
    CHECK(af_suite_add_tool(s, down) == 0);
    AfPythonToolConfig pc;
    af_python_tool_config_default(&pc);
    pc.wall_s = 30.0;
    pc.cpu_s = 30.0;
    AfTool *py = NULL;
    CHECK(af_python_tool_create(&pc, &py) == 0);
    if (py && af_suite_add_tool(s, py) != 0) af_python_tool_destroy(py);
    AfModules m;
    CHECK(af_modules_builtin(s, &m) == 0);
    AfItem item = {.question = "3 3 8 8", .answer = "", .solution = NULL};
    AfEpisodeSettings ec;
    af_episode_settings_default(&ec);
    AfEpisodeId ec_id = {0};
    ec.max_action_tokens = 96; /* long scripted actions */

    /* Per-tool timeout: the python loop is killed at tool_timeout_s and costs the turn. */
    static const char *const loop[] = {"python while True: pass", "calculator 8/(3-8/3)"};
    Script sl = {.texts = loop, .n = 2};
    AfPlanner p = make_script(&sl);
    ec.max_turns = 3;
    ec.tool_timeout_s = 0.5;
    Agentflow__Trajectory *t = NULL;
    CHECK(af_episode_run(s, &m, &p, &item, &ec, &ec_id, &t) == 0);
    if (t) {
        CHECK(t->status == AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_OK);
        CHECK_EQ_INT(t->n_turns, 2);
        CHECK_EQ_INT(t->turns[0]->tool_status, AGENTFLOW__TOOL_STATUS__TOOL_STATUS_TIMEOUT);
        CHECK_STR_CONTAINS(t->turns[0]->result, "wall-clock limit of 0.5 s");
        CHECK(t->turns[0]->tool_s > 0);
        CHECK(t->reward == 1.0f);
        af_trajectory_free(t);
    }

    /* A tool's backend down: the episode stops there, INFRA_FAILED, naming turn and tool. */
    static const char *const infra[] = {"calculator 3+3", "down what is 3+3"};
    Script si = {.texts = infra, .n = 2};
    p = make_script(&si);
    ec.max_turns = 5;
    t = NULL;
    CHECK(af_episode_run(s, &m, &p, &item, &ec, &ec_id, &t) == 0);
    if (t) {
        CHECK(t->status == AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_INFRA_FAILED);
        CHECK_EQ_INT(t->n_turns, 2);
        CHECK_EQ_INT(t->turns[1]->tool_status, AGENTFLOW__TOOL_STATUS__TOOL_STATUS_INFRA_ERROR);
        CHECK_STR_CONTAINS(t->status_detail, "turn 2: tool down: retrieval server unreachable");
        CHECK(t->reward == 0.0f && !strcmp(t->answer, ""));
        af_trajectory_free(t);
    }

    /* The budget spent in tools: TIMEOUT, no answer, reward 0. */
    static const char *const slow_tool[] = {"sleepy 0.15"};
    Script st = {.texts = slow_tool, .n = 1};
    p = make_script(&st);
    ec.max_turns = 8;
    ec.tool_timeout_s = 10;
    ec.episode_timeout_s = 0.2;
    t = NULL;
    CHECK(af_episode_run(s, &m, &p, &item, &ec, &ec_id, &t) == 0);
    if (t) {
        CHECK_MSG(t->status == AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_TIMEOUT, "status %d", t->status);
        CHECK(t->n_turns >= 2 && t->n_turns < 8);
        CHECK_STR_CONTAINS(t->status_detail, "budget");
        CHECK(t->reward == 0.0f && !strcmp(t->answer, ""));
        CHECK(t->tools_s >= t->planner_s);
        af_trajectory_free(t);
    }

    /* The budget spent by the planner itself: it stops taking turns, the episode ends normally. */
    static const char *const ok_text[] = {"calculator 3+3"};
    Script sp = {.texts = ok_text, .n = 1, .sleep_s = 0.15};
    p = make_script(&sp);
    t = NULL;
    CHECK(af_episode_run(s, &m, &p, &item, &ec, &ec_id, &t) == 0);
    if (t) {
        CHECK_MSG(t->status == AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_OK, "status %d %s", t->status,
                  t->status_detail ? t->status_detail : "");
        CHECK(t->n_turns >= 1 && t->n_turns < 8);
        CHECK(t->planner_s > t->tools_s);
        CHECK(!strcmp(t->answer, "3+3")); /* the generator ran on what memory holds */
        CHECK(t->reward == 0.0f);
        af_trajectory_free(t);
    }
    af_modules_clear(&m);
    af_suite_destroy(s);
}

/* A verifier on a backend that times out: at the thread's deadline (the episode's budget,
 * as a module on a local model or a served one is cut: actor/modules_model.c), or at once
 * (its own time limit, with the budget far away). */
static int at_deadline;
static int timing_out_verify(AfVerifier *self, const AfItem *item, const AfTurnRecord *mem, size_t n, int *stop) {
    (void)self, (void)item, (void)mem, (void)n, (void)stop;
    const double deadline = af_deadline_thread();
    if (at_deadline && deadline > 0)
        while (af_mono_now() < deadline) sleep_s(0.005);
    return af_error_set(AF_ETIMEOUT, "the verifier timed out");
}

/* A module call cut by the episode's budget ends the episode TIMEOUT (reward 0, no answer,
 * the detail naming the call), not INFRA_FAILED; a module timing out with budget left is
 * still INFRA_FAILED. */
static void test_module_cut_by_budget(void) {
    AfSuite *s = NULL;
    CHECK(af_suite_create("game24", NULL, &s) == 0);
    if (!s) return;
    AfModules m;
    CHECK(af_modules_builtin(s, &m) == 0);
    AfVerifier v = {.backend = "slow", .verify = timing_out_verify};
    AfVerifier *builtin = m.verifier;
    m.verifier = &v;
    AfItem item = {.question = "3 3 8 8", .answer = "", .solution = NULL};
    AfEpisodeSettings ec;
    af_episode_settings_default(&ec);
    AfEpisodeId id = {0};
    static const char *const text[] = {"calculator 3+3"};
    Script sc = {.texts = text, .n = 1};
    for (int cut = 1; cut >= 0; cut--) {
        AfPlanner p = make_script(&sc);
        at_deadline = cut;
        ec.max_turns = 4;
        ec.episode_timeout_s = cut ? 1 : 60; /* the verifier's call is what the budget cuts (turn 1 starts well within) */
        Agentflow__Trajectory *t = NULL;
        CHECK(af_episode_run(s, &m, &p, &item, &ec, &id, &t) == 0);
        if (!t) continue;
        CHECK_MSG(t->status == (cut ? AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_TIMEOUT
                                    : AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_INFRA_FAILED),
                  "cut %d: status %d (%s)", cut, t->status, t->status_detail ? t->status_detail : "");
        CHECK_EQ_INT(t->n_turns, 1);
        CHECK_STR_CONTAINS(t->status_detail, "turn 1: verifier (slow): the verifier timed out");
        if (cut) CHECK_STR_CONTAINS(t->status_detail, "episode budget");
        else CHECK(strstr(t->status_detail, "budget") == NULL);
        CHECK(t->reward == 0.0f && !strcmp(t->answer, ""));
        af_trajectory_free(t);
    }
    m.verifier = builtin;
    af_modules_clear(&m);
    af_suite_destroy(s);
}

/* game24 (and countdown) calculator results carry what is left for a planner working in
 * steps: the numbers no successful turn has used and the results no later turn has
 * referenced; bad actions change nothing; a turn that leaves only itself shows its value. */
static void test_state_results(void) {
    Fixture f;
    if (!fixture_open(&f, "game24", 4)) return;
    AfSuite *s = f.s;
    AfItem item = {.question = "3 3 3 4", .answer = "", .solution = NULL};
    static const char *const a[] = {"calculator 3*3", "calculator 5+5", "calculator 3+4", "calculator #1*#3"};
    static const char *const want_a[] = {"9, left: $3=3 $4=4 #1=9", "uses numbers not given", "7, left: #1=9 #3=7",
                                         "63"};
    /* "$k": the question's k-th number (the multiset rule applies to the values) */
    static const char *const b[] = {"calculator $2*$3", "calculator $4*$4", "calculator $9-1", "calculator #1-$1",
                                    "calculator $4*#4"};
    static const char *const want_b[] = {"9, left: $1=3 $4=4 #1=9", "uses numbers not given",
                                         "names no number of the question", "6, left: $4=4 #4=6", "24"};
    for (int run = 0; run < 2; run++) {
        Script sc = {.texts = run ? b : a, .n = run ? 5 : 4};
        const char *const *want = run ? want_b : want_a;
        f.ec.max_turns = (uint32_t)sc.n;
        AfPlanner p = make_script(&sc);
        Agentflow__Trajectory *t = NULL;
        CHECK_MSG(af_episode_run(s, &f.m, &p, &item, &f.ec, &f.id, &t) == 0, "%s", af_error_detail());
        if (!t) continue;
        CHECK_EQ_INT(t->n_turns, sc.n);
        for (size_t i = 0; i < t->n_turns && i < sc.n; i++) {
            if (i == 1 || (run && i == 2)) CHECK_STR_CONTAINS(t->turns[i]->result, want[i]);
            else CHECK_MSG(!strcmp(t->turns[i]->result, want[i]), "run %d turn %zu: \"%s\", want \"%s\"", run, i + 1,
                           t->turns[i]->result, want[i]);
        }
        CHECK(t->reward == (run ? 1.0f : 0.0f));
        if (run) CHECK_MSG(!strcmp(t->answer, "4*((3*3)-3)"), "answer \"%s\"", t->answer);
        af_trajectory_free(t);
    }
    fixture_close(&f);
}

/* multihop search references: "$1" is the question's entity, "#k RELATION" the entity turn
 * k's result names under RELATION; a name as written still works; bad references are
 * bad actions with the reason. */
static void test_multihop_refs(void) {
    Fixture f;
    if (!fixture_open(&f, "multihop", 6)) return;
    AfSuite *s = f.s;
    const AfDataset *ds = af_suite_split(s, AF_SPLIT_TEST);
    /* the oracle writes references only, and solves the question */
    Agentflow__Trajectory *t = oracle_episode(&f, &ds->items[0]);
    char subject[128] = "", rel1[32] = "", second[128] = "";
    if (t) {
        CHECK(t->reward == 1.0f && t->n_turns >= 2);
        CHECK(!strcmp(t->turns[0]->action_text, "search $1"));
        CHECK_MSG(!strncmp(t->turns[1]->action_text, "search #1 ", 10), "turn 2: \"%s\"", t->turns[1]->action_text);
        sscanf(t->turns[0]->result, "%127[^(]", subject);
        if (subject[0]) subject[strlen(subject) - 1] = '\0'; /* the space before "(" */
        snprintf(rel1, sizeof rel1, "%s", t->turns[1]->action_text + 10);
        snprintf(second, sizeof second, "%s", t->turns[1]->result);
        CHECK_MSG(strstr(ds->items[0].question, subject) != NULL, "subject \"%s\"", subject);
        af_trajectory_free(t);
    }
    /* the same steps written by hand, with bad references between them */
    char a1[160], a5[64];
    snprintf(a1, sizeof a1, "search %s", subject);
    snprintf(a5, sizeof a5, "search #2 %s", rel1); /* turn 2 is the successful search */
    const char *const texts[] = {"search $2", a1, "search #7 founder", "search #1 nonsense", a5, "search #3 founder"};
    static const char *const want[] = {"only question reference is $1", NULL, "expected '#k RELATION'",
                                       "expected '#k RELATION'", NULL, "is not a search result"};
    Script sc = {.texts = texts, .n = 6};
    AfPlanner p = make_script(&sc);
    t = NULL;
    f.ec.max_turns = 6;
    CHECK_MSG(af_episode_run(s, &f.m, &p, &ds->items[0], &f.ec, &f.id, &t) == 0, "%s", af_error_detail());
    if (t) {
        for (size_t i = 0; i < t->n_turns && i < 6; i++) {
            if (want[i]) {
                CHECK_MSG(t->turns[i]->tool_status == AGENTFLOW__TOOL_STATUS__TOOL_STATUS_BAD_ACTION, "turn %zu", i + 1);
                CHECK_STR_CONTAINS(t->turns[i]->result, want[i]);
            } else {
                CHECK_MSG(t->turns[i]->tool_status == AGENTFLOW__TOOL_STATUS__TOOL_STATUS_OK, "turn %zu: %s", i + 1,
                          t->turns[i]->result);
            }
        }
        CHECK(t->n_turns >= 5);
        if (t->n_turns >= 5) CHECK_MSG(!strcmp(t->turns[4]->result, second), "\"%s\" vs \"%s\"", t->turns[4]->result, second);
        af_trajectory_free(t);
    }
    fixture_close(&f);
}

/* rollout.memory_results = K: the planner's prompt shows the results of the last K turns
 * only; an earlier turn keeps its line with its tool's status name in place of the result
 * (a bad action's "bad_action" too). The episode's own records keep every result. Turns
 * here: the oracle's first search, a bad reference, the oracle's second search, a bad
 * relation; the prompt of turn 4 and 5 is written out in full. */
static char *turn_prompt_text(const AfSuite *s, const Agentflow__Trajectory *t, size_t i);

static void test_memory_results(void) {
    Fixture f;
    if (!fixture_open(&f, "multihop", 5)) return;
    const AfDataset *ds = af_suite_split(f.s, AF_SPLIT_TEST);
    const AfItem *item = NULL; /* a question of 3 hops or more: the verifier lets 5 turns run */
    for (size_t q = 0; q < ds->n && !item; q++) {
        size_t of = 0;
        for (const char *c = ds->items[q].question; (c = strstr(c, " of ")); c++) of++;
        if (of >= 3) item = &ds->items[q];
    }
    CHECK(item != NULL);
    if (!item) {
        fixture_close(&f);
        return;
    }
    Agentflow__Trajectory *t = oracle_episode(&f, item);
    char a1[160] = "", a2[160] = "";
    if (t) {
        CHECK(t->n_turns >= 2);
        snprintf(a1, sizeof a1, "%s", t->turns[0]->action_text);
        if (t->n_turns >= 2) snprintf(a2, sizeof a2, "%s", t->turns[1]->action_text);
        af_trajectory_free(t);
    }
    const char *const texts[] = {a1, "search #9 mother", a2, "search #3 nonsense"};
    for (size_t k = 0; k <= 2; k++) {
        Script sc = {.texts = texts, .n = 4};
        AfPlanner p = make_script(&sc);
        f.ec.max_turns = 5;
        f.ec.memory_results = k;
        t = NULL;
        CHECK_MSG(af_episode_run(f.s, &f.m, &p, item, &f.ec, &f.id, &t) == 0, "%s", af_error_detail());
        if (!t) continue;
        CHECK_MSG(t->n_turns == 5, "%zu turns", t->n_turns);
        if (t->n_turns != 5) {
            af_trajectory_free(t);
            continue;
        }
        CHECK(t->turns[0]->tool_status == AGENTFLOW__TOOL_STATUS__TOOL_STATUS_OK);
        CHECK(t->turns[1]->tool_status == AGENTFLOW__TOOL_STATUS__TOOL_STATUS_BAD_ACTION);
        CHECK(t->turns[2]->tool_status == AGENTFLOW__TOOL_STATUS__TOOL_STATUS_OK);
        for (size_t i = 0; i < 4; i++) CHECK(strlen(t->turns[i]->result) < f.ec.result_bytes);
        /* turn j + 1's prompt: turns 1..j, results of the last k only (k = 0: all) */
        for (size_t j = 3; j <= 4; j++) {
            char want[4096];
            int len = snprintf(want, sizeof want, "Q: %s\nT: search stop\nM:\n", item->question);
            for (size_t i = 0; i < j; i++) {
                const int shown = k == 0 || i + k >= j;
                const char *r = shown ? t->turns[i]->result : (i == 1 || i == 3) ? "bad_action" : "ok";
                len += snprintf(want + len, sizeof want - (size_t)len, "%zu %s -> %s\n", i + 1, texts[i], r);
            }
            snprintf(want + len, sizeof want - (size_t)len, "A:");
            char *text = turn_prompt_text(f.s, t, j);
            CHECK_MSG(text && !strcmp(text, want), "memory_results %zu, turn %zu prompt:\n%s\nwant:\n%s", k, j + 1,
                      text ? text : "", want);
            free(text);
        }
        af_trajectory_free(t);
    }
    f.ec.memory_results = 0;
    fixture_close(&f);
}

/* algo.policy=monolithic: turn 1's prompt is the transcript head (no memory section);
 * every later prompt is the previous prompt + its action tokens exactly as sampled + the
 * result tail, so the last turn's prompt + action is one sequence holding every turn. The
 * oracle still solves the item: the tools and references work as in the memory policy. */
static void test_monolithic_transcript(void) {
    Fixture f;
    if (!fixture_open(&f, "game24", 3)) return;
    AfSuite *s = f.s;
    f.ec.monolithic = 1;
    const AfDataset *ds = af_suite_split(s, AF_SPLIT_TEST);
    Agentflow__Trajectory *t = oracle_episode(&f, &ds->items[0]);
    if (t) {
        CHECK(t->reward == 1.0f && t->n_turns == 3);
        char *text = NULL;
        CHECK(af_vocab_decode(s->vocab, t->turns[0]->prompt_tokens, t->turns[0]->n_prompt_tokens, &text) == 0);
        char want[256];
        snprintf(want, sizeof want, "Q: %s\nT: calculator stop\nA:", ds->items[0].question);
        CHECK_MSG(text && !strcmp(text, want), "turn 1 prompt \"%s\"", text ? text : "");
        free(text);
        for (size_t k = 0; k + 1 < t->n_turns; k++) {
            const Agentflow__Turn *a = t->turns[k], *b = t->turns[k + 1];
            const size_t n = a->n_prompt_tokens + a->n_action_tokens;
            CHECK_MSG(b->n_prompt_tokens > n, "turn %zu", k + 2);
            if (b->n_prompt_tokens <= n) continue;
            CHECK(!memcmp(b->prompt_tokens, a->prompt_tokens, a->n_prompt_tokens * sizeof(uint32_t)));
            CHECK(!memcmp(b->prompt_tokens + a->n_prompt_tokens, a->action_tokens, a->n_action_tokens * sizeof(uint32_t)));
            text = NULL;
            CHECK(af_vocab_decode(s->vocab, b->prompt_tokens + n, b->n_prompt_tokens - n, &text) == 0);
            char tail[512];
            snprintf(tail, sizeof tail, " -> %s\nA:", a->result);
            CHECK_MSG(text && !strcmp(text, tail), "turn %zu tail \"%s\" vs \"%s\"", k + 2, text ? text : "", tail);
            free(text);
        }
        af_trajectory_free(t);
    }
    fixture_close(&f);
}

/* The warm-start explorer (model.warmstart_explore): with p = 1 every turn that has a
 * choice (3 or more numbers left) takes a random step that keeps the puzzle solvable, and
 * is reported as explored; the oracle finishes, so every episode is solved. The steps
 * vary with the sample stream. */
static void test_explorer(void) {
    Fixture f;
    if (!fixture_open(&f, "game24", 3)) return;
    AfPlanner *ex = NULL;
    CHECK(af_planner_explorer_create(1.0, &ex) == 0);
    const AfDataset *ds = af_suite_split(f.s, AF_SPLIT_TEST);
    int solved = 0, n = 0, varied = 0;
    for (uint32_t q = 0; ex && q < 40; q++) {
        char first[64] = "";
        for (uint32_t k = 0; k < 4; k++) {
            Agentflow__Trajectory *t = NULL;
            f.id.query_index = q;
            f.id.sample_index = k;
            CHECK_MSG(af_episode_run(f.s, &f.m, ex, &ds->items[q], &f.ec, &f.id, &t) == 0, "%s", af_error_detail());
            if (!t) continue;
            n++;
            solved += t->reward == 1.0f && t->n_turns == 3;
            CHECK_MSG(af_planner_explored(ex) == 3, "query %u: explored turns 0x%llx", q,
                      (unsigned long long)af_planner_explored(ex));
            if (k == 0) snprintf(first, sizeof first, "%s", t->turns[0]->action_text);
            else varied += strcmp(first, t->turns[0]->action_text) != 0;
            af_trajectory_free(t);
        }
    }
    CHECK_MSG(n == 160 && solved == n, "%d of %d solved", solved, n);
    CHECK_MSG(varied > 40, "first steps varied in %d of 120 repeats", varied);
    AfPlanner *orc = NULL;
    CHECK(af_planner_oracle_create(&orc) == 0);
    CHECK(af_planner_explored(orc) == 0);
    af_planner_destroy(orc);
    af_planner_destroy(ex);
    fixture_close(&f);
}


/* A planner that follows a script for its first n turns, then the suite's oracle. */
typedef struct {
    Script script;
    AfPlanner *oracle;
} ScriptThenOracle;

static int script_then_oracle_act(AfPlanner *self, const AfPlannerInput *in, AfRng *rng, uint32_t *tokens,
                                  float *logprobs, size_t max_tokens, size_t *n) {
    ScriptThenOracle *so = self->ctx;
    if (in->turn < so->script.n) {
        AfPlanner p = make_script(&so->script);
        return script_act(&p, in, rng, tokens, logprobs, max_tokens, n);
    }
    return so->oracle->act(so->oracle, in, rng, tokens, logprobs, max_tokens, n);
}

/* The decoded prompt of turn i (malloc'd). */
static char *turn_prompt_text(const AfSuite *s, const Agentflow__Trajectory *t, size_t i) {
    char *text = NULL;
    CHECK(af_vocab_decode(s->vocab, t->turns[i]->prompt_tokens, t->turns[i]->n_prompt_tokens, &text) == 0);
    return text;
}

/* Options only game24 and countdown take: arith and multihop refuse them (AF_ECONFIG),
 * countdown accepts them. */
static void check_numbers_only(const AfSuiteOptions *o) {
    AfSuite *s = NULL;
    CHECK(af_suite_create("arith", o, &s) == AF_ECONFIG && s == NULL);
    CHECK(af_suite_create("multihop", o, &s) == AF_ECONFIG && s == NULL);
    CHECK(af_suite_create("countdown", o, &s) == 0);
    af_suite_destroy(s);
}

/* suite.attempts: a step that leaves one number other than 24 starts the next attempt
 * with every number back, shown in the next order; the planner's prompt shows that turn
 * and the current attempt only (absolute turn numbers, so "#k" still names turn k); the
 * last attempt ends like a single one; the oracle plays on from any attempt. */
static void test_attempts(void) {
    Fixture f;
    if (!fixture_open_attempts(&f, "game24", 9, 3)) return;
    AfItem item = {.question = "4 7 8 8", .answer = "", .solution = NULL};
    static const char *const a[] = {"calculator $1+$2", "calculator #1+$3", "calculator #2+$4",
                                    "calculator $2+$1", "calculator #4-$3", "calculator $4*#5"};
    static const char *const want[] = {"11, left: $3=8 $4=8 #1=11", "19, left: $4=8 #2=19",
                                       "27; attempt 2, left: $2=7 $3=8 $4=8 $1=4", "11, left: $3=8 $4=8 #4=11",
                                       "3, left: $4=8 #5=3", "24"};
    Script sc = {.texts = a, .n = 6};
    AfPlanner p = make_script(&sc);
    Agentflow__Trajectory *t = NULL;
    CHECK_MSG(af_episode_run(f.s, &f.m, &p, &item, &f.ec, &f.id, &t) == 0, "%s", af_error_detail());
    if (t) {
        CHECK_EQ_INT(t->n_turns, 6);
        for (size_t i = 0; i < t->n_turns && i < 6; i++)
            CHECK_MSG(!strcmp(t->turns[i]->result, want[i]), "turn %zu: \"%s\", want \"%s\"", i + 1, t->turns[i]->result,
                      want[i]);
        CHECK(t->reward == 1.0f);
        CHECK_MSG(!strcmp(t->answer, "8*((7+4)-8)"), "answer \"%s\"", t->answer);
        for (size_t i = 0; i < t->n_turns; i++) /* the try each turn belongs to, for the learner */
            CHECK_MSG(t->turns[i]->try_index == (i < 3 ? 0u : 1u), "turn %zu: try %u", i + 1, t->turns[i]->try_index);
        char *p2 = turn_prompt_text(f.s, t, 2), *p4 = turn_prompt_text(f.s, t, 4);
        if (p2) CHECK_STR_CONTAINS(p2, "M:\n1 calculator $1+$2 -> 11, left: $3=8 $4=8 #1=11\n2 calculator");
        if (p4) {
            CHECK_STR_CONTAINS(p4, "M:\n3 calculator #2+$4 -> 27; attempt 2, left: $2=7 $3=8 $4=8 $1=4\n"
                                   "4 calculator $2+$1 -> 11, left: $3=8 $4=8 #4=11\nA:");
            CHECK_MSG(!strstr(p4, "\n1 calculator") && !strstr(p4, "\n2 calculator"), "closed attempt shown: %s", p4);
        }
        free(p2);
        free(p4);
        af_trajectory_free(t);
    }

    /* three failed attempts: the third ends like a single-attempt episode, nothing restarts */
    static const char *const fail[] = {"calculator $1*$2*$3*$4"};
    Script sf = {.texts = fail, .n = 1};
    p = make_script(&sf);
    t = NULL;
    CHECK_MSG(af_episode_run(f.s, &f.m, &p, &item, &f.ec, &f.id, &t) == 0, "%s", af_error_detail());
    if (t) {
        CHECK_EQ_INT(t->n_turns, 9);
        CHECK(t->n_turns == 9 && !strcmp(t->turns[0]->result, "1792; attempt 2, left: $2=7 $3=8 $4=8 $1=4") &&
              !strcmp(t->turns[1]->result, "1792; attempt 3, left: $3=8 $4=8 $1=4 $2=7") &&
              !strcmp(t->turns[2]->result, "1792") && t->reward == 0.0f);
        af_trajectory_free(t);
    }

    /* the oracle takes over in attempt 2 (or 3) of every test puzzle and solves it */
    ScriptThenOracle so = {.script = {.texts = fail, .n = 1}};
    CHECK(af_planner_oracle_create(&so.oracle) == 0);
    AfPlanner sto = {.name = "script-then-oracle", .temperature = 1.0f, .act = script_then_oracle_act, .ctx = &so};
    const AfDataset *ds = af_suite_split(f.s, AF_SPLIT_TEST);
    int solved = 0, differs = 0;
    for (size_t q = 0; so.oracle && q < ds->n; q++) {
        Agentflow__Trajectory *alone = oracle_episode(&f, &ds->items[q]);
        t = NULL;
        CHECK(af_episode_run(f.s, &f.m, &sto, &ds->items[q], &f.ec, &f.id, &t) == 0);
        if (t && alone && t->n_turns == 1) { /* the product of the numbers is 24 */
            solved += t->reward == 1.0f;
            differs++;
        } else if (t && alone) {
            solved += t->reward == 1.0f && t->n_turns == 4;
            differs += strcmp(t->turns[1]->action_text, alone->turns[0]->action_text) != 0;
        }
        af_trajectory_free(t);
        af_trajectory_free(alone);
    }
    CHECK_MSG(solved == (int)ds->n, "solved %d of %zu in the second attempt", solved, ds->n);
    /* the second attempt's numbers come in another order, so its canonical first step
     * usually differs from the first attempt's */
    CHECK_MSG(differs > (int)ds->n / 2, "the second attempt began differently in %d of %zu", differs, ds->n);
    af_planner_destroy(so.oracle);
    fixture_close(&f);

    /* retries: a failed try goes back to the state the attempt's first step left, listed
     * in another order, before a new attempt; the last attempt retries too */
    if (!fixture_open_tries(&f, "game24", 12, 2, 1)) return;
    static const char *const r[] = {"calculator $1+$2", "calculator #1+$3", "calculator #2+$4", "calculator #1+$4",
                                    "calculator #4+$3", "calculator $2+$3", "calculator #6+$4", "calculator #7+$1",
                                    "calculator #6+$1", "calculator #9+$4", "calculator $1+$2"};
    static const char *const want_r[] = {"11, left: $3=8 $4=8 #1=11", "19, left: $4=8 #2=19",
                                         "27; retry from #1, left: $4=8 #1=11 $3=8", "19, left: #4=19 $3=8",
                                         "27; attempt 2, left: $2=7 $3=8 $4=8 $1=4", "15, left: $4=8 $1=4 #6=15",
                                         "23, left: $1=4 #7=23", "27; retry from #6, left: $1=4 #6=15 $4=8",
                                         "19, left: #9=19 $4=8", "27"};
    Script sr = {.texts = r, .n = 11};
    p = make_script(&sr);
    t = NULL;
    CHECK_MSG(af_episode_run(f.s, &f.m, &p, &item, &f.ec, &f.id, &t) == 0, "%s", af_error_detail());
    if (t) {
        CHECK_EQ_INT(t->n_turns, 12);
        for (size_t i = 0; i < t->n_turns && i < 10; i++)
            CHECK_MSG(!strcmp(t->turns[i]->result, want_r[i]), "turn %zu: \"%s\", want \"%s\"", i + 1,
                      t->turns[i]->result, want_r[i]);
        char *p3 = turn_prompt_text(f.s, t, 3);
        if (p3) CHECK_STR_CONTAINS(p3, "M:\n3 calculator #2+$4 -> 27; retry from #1, left: $4=8 #1=11 $3=8\nA:");
        free(p3);
        CHECK(t->reward == 0.0f);
        af_trajectory_free(t);
    }
    fixture_close(&f);

    /* only game24 and countdown have attempts */
    AfSuiteOptions o;
    af_suite_options_default(&o);
    o.attempts = 2;
    check_numbers_only(&o);
    o.attempts = 1;
    o.retries = 1;
    AfSuite *bad = NULL;
    CHECK(af_suite_create("arith", &o, &bad) == AF_ECONFIG && bad == NULL);
}

/* Test item q by the explorer: the trajectory (NULL if it failed, checked), the restarts
 * its results announce ("; attempt k" and "; retry from #k"), the 1-based turn of the
 * last one (0: none) and how many were retries. */
static Agentflow__Trajectory *explore_episode(Fixture *f, AfPlanner *ex, uint32_t q, int *restarts, size_t *last,
                                              int *retries) {
    Agentflow__Trajectory *t = NULL;
    f->id.query_index = q;
    CHECK_MSG(af_episode_run(f->s, &f->m, ex, &af_suite_split(f->s, AF_SPLIT_TEST)->items[q], &f->ec, &f->id, &t) == 0, "%s",
              af_error_detail());
    *restarts = *retries = 0;
    *last = 0;
    for (size_t i = 0; t && i < t->n_turns; i++) {
        const int retry = strstr(t->turns[i]->result, "; retry from #") != NULL;
        if (!retry && !strstr(t->turns[i]->result, "; attempt ")) continue;
        (*restarts)++;
        *retries += retry;
        *last = i + 1;
    }
    return t;
}

/* With attempts, the explorer first plays out a uniformly drawn number of attempts with
 * explored steps, then the oracle solves the puzzle in the next: demonstrations of every
 * attempt's order, and only the oracle's turns count as demonstrations. */
static void test_explorer_attempts(void) {
    Fixture f;
    if (!fixture_open_attempts(&f, "game24", 18, 6)) return;
    AfPlanner *ex = NULL;
    CHECK(af_planner_explorer_create(0.0, &ex) == 0);
    int solved = 0, n = 0, by_attempt[6] = {0}, lucky = 0;
    for (uint32_t q = 0; ex && q < 120; q++) {
        int closed, retries;
        size_t last;
        Agentflow__Trajectory *t = explore_episode(&f, ex, q, &closed, &last, &retries);
        if (!t) continue;
        n++;
        solved += t->reward == 1.0f;
        const uint64_t explored = af_planner_explored(ex);
        const uint64_t all = (t->n_turns < 64 ? (uint64_t)1 << t->n_turns : 0) - 1;
        if (explored == all) { /* a played-out attempt happened to make 24 */
            lucky++;
            af_trajectory_free(t);
            continue;
        }
        /* every attempt takes three steps; those of the closed ones are explored, the last
         * attempt's are the oracle's */
        CHECK_MSG(t->n_turns == (size_t)(3 * closed + 3) && explored == ((uint64_t)1 << (3 * closed)) - 1 &&
                      retries == 0,
                  "query %u: %zu turns, %d attempts closed, explored 0x%llx", q, t->n_turns, closed,
                  (unsigned long long)explored);
        if (closed < 6) by_attempt[closed]++;
        af_trajectory_free(t);
    }
    CHECK_MSG(n == 120 && solved == n, "solved %d of %d", solved, n);
    for (int a = 0; a < 6; a++) CHECK_MSG(by_attempt[a] >= 8, "attempt %d: %d demonstrations", a + 1, by_attempt[a]);
    CHECK_MSG(lucky < 12, "%d episodes solved by exploring alone", lucky);
    af_planner_destroy(ex);
    fixture_close(&f);
}

/* With retries as well, the explorer plays out a uniformly drawn number of tries (attempts
 * and retries) and the oracle takes over: every turn before the last restart is explored;
 * the oracle's try solves unless it is a retry from an explored (dead) first step. */
static void test_explorer_retries(void) {
    Fixture f;
    if (!fixture_open_tries(&f, "game24", 24, 3, 1)) return;
    AfPlanner *ex = NULL;
    CHECK(af_planner_explorer_create(0.0, &ex) == 0);
    int solved = 0, n = 0, by_restarts[6] = {0}, retried = 0;
    for (uint32_t q = 0; ex && q < 120; q++) {
        int restarts, retries;
        size_t last;
        Agentflow__Trajectory *t = explore_episode(&f, ex, q, &restarts, &last, &retries);
        if (!t) continue;
        n++;
        solved += t->reward == 1.0f;
        retried += retries;
        const uint64_t explored = af_planner_explored(ex), before = ((uint64_t)1 << last) - 1;
        CHECK_MSG((explored & before) == before, "query %u: a turn before the last restart is the oracle's (0x%llx)", q,
                  (unsigned long long)explored);
        if (restarts < 6) by_restarts[restarts]++;
        af_trajectory_free(t);
    }
    CHECK_MSG(n == 120 && solved >= 90, "solved %d of %d", solved, n);
    /* every attempt's start gets its share; retries are demonstrated only where the
     * explored first step left a solvable state (about a quarter of them) */
    for (int a = 0; a < 6; a += 2) CHECK_MSG(by_restarts[a] >= 10, "%d restarts: %d episodes", a, by_restarts[a]);
    CHECK_MSG(by_restarts[1] + by_restarts[3] + by_restarts[5] >= 3, "%d, %d, %d episodes end after a retry",
              by_restarts[1], by_restarts[3], by_restarts[5]);
    CHECK_MSG(retried >= 40, "%d retries", retried);
    af_planner_destroy(ex);
    fixture_close(&f);
}

/* A planner whose context has no room left for an action ends the episode: status OK,
 * judged on what it did, every recorded prompt shorter than the context. */
static void test_context_full(void) {
    Fixture f;
    if (!fixture_open(&f, "game24", 8)) return;
    AfItem item = {.question = "4 7 8 8", .answer = "", .solution = NULL};
    static const char *const a[] = {"calculator $1+$2", "calculator $3+$4", "calculator #1*#2", "calculator 1+1"};
    Script sc = {.texts = a, .n = 4};
    AfPlanner p = make_script(&sc);
    p.context = 80; /* the first prompts take 16 and 50 tokens, the third 76 + ... */
    Agentflow__Trajectory *t = NULL;
    CHECK_MSG(af_episode_run(f.s, &f.m, &p, &item, &f.ec, &f.id, &t) == 0, "%s", af_error_detail());
    if (t) {
        CHECK(t->status == AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_OK);
        CHECK_MSG(t->n_turns >= 1 && t->n_turns < 8, "%zu turns", t->n_turns);
        for (size_t i = 0; i < t->n_turns; i++) {
            CHECK(t->turns[i]->n_prompt_tokens < p.context);
            CHECK(t->turns[i]->n_action_tokens > 0);
        }
        CHECK(t->reward == 0.0f);
        af_trajectory_free(t);
    }
    p.context = 0; /* unbounded: all eight turns */
    CHECK(af_episode_run(f.s, &f.m, &p, &item, &f.ec, &f.id, &t) == 0);
    if (t) CHECK_EQ_INT(t->n_turns, 8);
    af_trajectory_free(t);
    fixture_close(&f);
}

/* suite.view = state: the prompt shows the memory from the last successful calculator
 * turn (it lists what is left) and the failed turns after it; nothing before; the
 * episode itself (results, reward) is the same as with the try view. */
static void test_state_view(void) {
    Fixture f;
    AfSuiteOptions o;
    af_suite_options_default(&o);
    o.attempts = 3;
    o.state_view = 1;
    if (!fixture_open_opts(&f, "game24", 9, &o)) return;
    AfItem item = {.question = "4 7 8 8", .answer = "", .solution = NULL};
    static const char *const a[] = {"calculator $1+$2", "calculator #1+$3", "calculator $9+$1", "calculator #2+$4",
                                    "calculator $2+$1", "calculator #5-$3", "calculator $4*#6"};
    Script sc = {.texts = a, .n = 7};
    AfPlanner p = make_script(&sc);
    Agentflow__Trajectory *t = NULL;
    CHECK_MSG(af_episode_run(f.s, &f.m, &p, &item, &f.ec, &f.id, &t) == 0, "%s", af_error_detail());
    if (t) {
        CHECK_EQ_INT(t->n_turns, 7);
        CHECK(t->reward == 1.0f);
        char *pr[7] = {0};
        for (size_t i = 0; i < 7 && i < t->n_turns; i++) pr[i] = turn_prompt_text(f.s, t, i);
        if (pr[0]) CHECK_STR_CONTAINS(pr[0], "M:\nA:");
        if (pr[1]) CHECK_STR_CONTAINS(pr[1], "M:\n1 calculator $1+$2 -> 11, left: $3=8 $4=8 #1=11\nA:");
        if (pr[2]) CHECK_STR_CONTAINS(pr[2], "M:\n2 calculator #1+$3 -> 19, left: $4=8 #2=19\nA:");
        /* a failed turn stays in view after the last state */
        if (pr[3]) CHECK_STR_CONTAINS(pr[3], "M:\n2 calculator #1+$3 -> 19, left: $4=8 #2=19\n3 calculator $9+$1 -> ");
        if (pr[4]) CHECK_STR_CONTAINS(pr[4], "M:\n4 calculator #2+$4 -> 27; attempt 2, left: $2=7 $3=8 $4=8 $1=4\nA:");
        if (pr[6]) CHECK_STR_CONTAINS(pr[6], "M:\n6 calculator #5-$3 -> 3, left: $4=8 #6=3\nA:");
        for (size_t i = 1; i < 7; i++)
            if (pr[i]) CHECK_MSG(!strstr(pr[i], "\n1 calculator") || i == 1, "turn %zu shows turn 1: %s", i + 1, pr[i]);
        for (size_t i = 0; i < 7; i++) free(pr[i]);
        af_trajectory_free(t);
    }
    fixture_close(&f);
    /* only game24 and countdown list what is left */
    af_suite_options_default(&o);
    o.state_view = 1;
    check_numbers_only(&o);
}

int main(void) {
    test_bad_actions();
    test_attempts();
    test_explorer_attempts();
    test_explorer_retries();
    test_context_full();
    test_state_view();
    test_explorer();
    test_monolithic_transcript();
    test_state_results();
    test_multihop_refs();
    test_memory_results();
    test_budgets();
    test_module_cut_by_budget();
    TEST_MAIN_END();
}
