/* The world factory and the openai backends:
 *  - af_world_create from the configuration: each suite's oracle reaches 100% on its
 *    whole test split through the world's modules with the config's episode settings, the
 *    random planner's rate is printed, the same seed gives the same trajectory bytes;
 *  - bad configuration values are refused with AF_ECONFIG naming the key;
 *  - the extra tools (python, http) join the suite, the prompt and the executor;
 *  - the openai executor, verifier, generator, judge and planner against
 *    tests/fault_server.py on 127.0.0.1: a normal episode through all of them; then for
 *    each module every fault (slow past the timeout (executor and judge), HTTP 500, reply
 *    not JSON, truncated, connection dropped without a reply, oversized, unusable content;
 *    server down for the generator): the retries happen (server-side counts), the episode is
 *    recorded INFRA_FAILED naming the module, never a crash; the API key is in no
 *    trajectory, no error detail and no log line (stderr captured at debug level). */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "actor/memory.h"
#include "actor/modules_openai.h"
#include "run/world.h"
#include "common/error.h"
#include "common/log.h"
#include "tests/fault_server.h"
#include "tests/test_util.h"

#define SECRET "sk-AFWORLD-31c4e2a9-topsecret"

static FaultServer srv;

/* Packs t with its timings zeroed (malloc'd). */
static uint8_t *pack(Agentflow__Trajectory *t, size_t *len) {
    af_trajectory_zero_timings(t);
    *len = agentflow__trajectory__get_packed_size(t);
    uint8_t *b = malloc(*len ? *len : 1);
    if (b) agentflow__trajectory__pack(t, b);
    return b;
}

static void no_secret_in(Agentflow__Trajectory *t, const char *what) {
    size_t len;
    uint8_t *b = pack(t, &len);
    CHECK_MSG(b && memmem(b, len, SECRET, strlen(SECRET)) == NULL, "%s: the API key is in the trajectory", what);
    free(b);
    CHECK_MSG(strstr(af_error_detail(), SECRET) == NULL, "%s: the API key is in \"%s\"", what, af_error_detail());
}

static double split_rate(const AfWorld *w, AfPlanner *p, int *infra) {
    const AfDataset *ds = af_suite_split(w->suite, AF_SPLIT_TEST);
    double sum = 0;
    for (size_t i = 0; i < ds->n; i++) {
        Agentflow__Trajectory *t = NULL;
        int rc = af_world_episode(w, p, &ds->items[i], &(AfEpisodeId){.query_index = (uint32_t)i}, &t);
        CHECK_MSG(rc == 0, "%s %s item %zu: %s", w->suite->name, p->name, i, af_error_detail());
        if (rc) continue;
        if (t->status != AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_OK) (*infra)++;
        sum += t->reward;
        af_trajectory_free(t);
    }
    return ds->n ? sum / (double)ds->n : 0;
}

/* Each suite through the world built from the default config (+ max_turns for the oracle). */
static void test_suites_through_world(void) {
    const char *const *names = af_suite_names();
    for (int k = 0; names[k]; k++) {
        AfConfig cfg;
        af_config_defaults(&cfg);
        char set[64];
        snprintf(set, sizeof set, "suite.name=%s", names[k]);
        CHECK(af_config_apply_set(&cfg, set) == 0);
        CHECK(af_config_apply_set(&cfg, "rollout.max_turns=4") == 0);
        AfWorld *w = NULL;
        int rc = af_world_create(&cfg, &w);
        CHECK_MSG(rc == 0, "%s: %s", names[k], af_error_detail());
        if (rc) continue;
        AfPlanner *o = NULL, *r = NULL;
        CHECK(af_world_planner_create(w, "oracle", &o) == 0);
        CHECK(af_world_planner_create(w, "random", &r) == 0);
        int infra = 0;
        double ro = split_rate(w, o, &infra), rr = split_rate(w, r, &infra);
        fprintf(stderr, "world %-10s test n=%zu  oracle %.4f  random-valid %.4f  (config defaults, max_turns 4)\n",
                names[k], af_suite_split(w->suite, AF_SPLIT_TEST)->n, ro, rr);
        CHECK_MSG(ro == 1.0, "%s: oracle %.4f through the world", names[k], ro);
        CHECK(rr < 1.0);
        CHECK_EQ_INT(infra, 0);
        /* Same seed, same bytes; another sample index, another stream. */
        const AfDataset *ds = af_suite_split(w->suite, AF_SPLIT_TEST);
        int differ = 0;
        for (uint32_t q = 0; q < 10; q++) {
            Agentflow__Trajectory *a = NULL, *b = NULL, *c = NULL;
            CHECK(af_world_episode(w, r, &ds->items[q], &(AfEpisodeId){.iteration = 3, .query_index = q, .sample_index = 1}, &a) == 0);
            CHECK(af_world_episode(w, r, &ds->items[q], &(AfEpisodeId){.iteration = 3, .query_index = q, .sample_index = 1}, &b) == 0);
            CHECK(af_world_episode(w, r, &ds->items[q], &(AfEpisodeId){.iteration = 3, .query_index = q, .sample_index = 2}, &c) == 0);
            if (!a || !b || !c) break;
            size_t la, lb, lc;
            uint8_t *ba = pack(a, &la), *bb = pack(b, &lb), *bc = pack(c, &lc);
            CHECK_MSG(la == lb && memcmp(ba, bb, la) == 0, "%s query %u: same seed, different bytes", names[k], q);
            differ += la != lc || memcmp(ba, bc, la) != 0;
            free(ba);
            free(bb);
            free(bc);
            af_trajectory_free(a);
            af_trajectory_free(b);
            af_trajectory_free(c);
        }
        CHECK_MSG(differ > 0, "%s: sample 1 and 2 gave the same 10 episodes", names[k]);
        af_planner_destroy(o);
        af_planner_destroy(r);
        /* The caps (checked on one quick-to-build suite). */
        af_world_destroy(w);
        if (strcmp(names[k], "countdown")) continue;
        CHECK(af_config_apply_set(&cfg, "suite.max_test=7") == 0);
        CHECK(af_config_apply_set(&cfg, "suite.max_train=11") == 0);
        CHECK(af_world_create(&cfg, &w) == 0);
        if (w) {
            CHECK_EQ_INT(af_suite_split(w->suite, AF_SPLIT_TEST)->n, 7);
            CHECK_EQ_INT(af_suite_split(w->suite, AF_SPLIT_TRAIN)->n, 11);
            CHECK_EQ_INT(w->episode.max_turns, 4);
            CHECK_EQ_INT(w->episode.result_bytes, 200);
        }
        af_world_destroy(w);
    }
}

/* Applies the sets to a default config and expects af_world_create to fail with rc and a
 * detail containing `key`. */
static void expect_bad(const char *const *sets, int rc_want, const char *key) {
    AfConfig cfg;
    af_config_defaults(&cfg);
    CHECK(af_config_apply_set(&cfg, "suite.name=countdown") == 0); /* quick to build: game24 solves 1820 puzzles */
    for (int i = 0; sets[i]; i++) CHECK_MSG(af_config_apply_set(&cfg, sets[i]) == 0, "%s: %s", sets[i], af_error_detail());
    AfWorld *w = NULL;
    int rc = af_world_create(&cfg, &w);
    CHECK_MSG(rc == rc_want, "%s...: rc %d, want %d (%s)", sets[0], rc, rc_want, af_error_detail());
    CHECK_STR_CONTAINS(af_error_detail(), key);
    CHECK(w == NULL);
    af_world_destroy(w);
}

static void test_bad_config(void) {
    expect_bad((const char *[]){"data.test=/nonexistent/test.jsonl", NULL}, AF_ECONFIG, "data.test: /nonexistent/test.jsonl");
    expect_bad((const char *[]){"modules.judge.backend=openai", NULL}, AF_ECONFIG, "modules.judge.model");
    expect_bad((const char *[]){"modules.verifier.backend=openai", "modules.verifier.model=m", "modules.verifier.url=ftp://x/v1",
                                NULL},
               AF_ECONFIG, "modules.verifier.url");
    expect_bad((const char *[]){"modules.executor.backend=openai", "modules.executor.model=m", "modules.executor.url=", NULL},
               AF_ECONFIG, "modules.executor.url");
    unsetenv("AF_WORLD_UNSET_KEY");
    expect_bad((const char *[]){"modules.generator.backend=openai", "modules.generator.model=m",
                                "modules.generator.api_key_env=AF_WORLD_UNSET_KEY", NULL},
               AF_ECONFIG, "AF_WORLD_UNSET_KEY");
    expect_bad((const char *[]){"algo.policy=monolithic", "rollout.memory_results=2", NULL}, AF_ECONFIG,
               "rollout.memory_results");
    expect_bad((const char *[]){"suite.name=game24", "suite.train_size=100", NULL}, AF_ECONFIG, "suite.train_size");
    expect_bad((const char *[]){"suite.train_size=100", "data.train=/tmp/x.jsonl", NULL}, AF_ECONFIG, "suite.train_size");
    expect_bad((const char *[]){"tools.http.url=ftp://127.0.0.1/x", NULL}, AF_ECONFIG, "tools.http.url");
    expect_bad((const char *[]){"tools.http.url=http://example.com/x", NULL}, AF_ECONFIG, "tools.http.allow_hosts");
    expect_bad((const char *[]){"tools.http.url=http://127.0.0.1:9/x", "tools.http.allow_hosts=", NULL}, AF_ECONFIG,
               "tools.http.allow_hosts");
    expect_bad((const char *[]){"tools.python.enabled=true", "tools.python.interpreter=/nonexistent/python3", NULL},
               AF_ECONFIG, "tools.python");
    AfConfig cfg;
    af_config_defaults(&cfg);
    AfWorld *w = NULL;
    CHECK(af_world_create(&cfg, &w) == 0);
    AfPlanner *p = NULL;
    CHECK_EQ_INT(af_world_planner_create(w, "model", &p), AF_ENOTFOUND);
    CHECK_EQ_INT(af_world_planner_create(w, "openai", &p), AF_ECONFIG); /* modules.planner.model empty */
    CHECK_STR_CONTAINS(af_error_detail(), "modules.planner.model");
    CHECK(p == NULL);
    af_world_destroy(w);
    af_world_destroy(NULL);
}

/* suite.train_size: a larger generated training split around the same test split, the
 * suite's own questions first, none of them a test question. */
static void test_train_size(void) {
    const char *suites[2] = {"suite.name=countdown", "suite.name=arith"};
    for (int k = 0; k < 2; k++) {
        AfConfig cfg;
        af_config_defaults(&cfg);
        CHECK(af_config_apply_set(&cfg, suites[k]) == 0);
        AfWorld *a = NULL, *b = NULL;
        CHECK(af_world_create(&cfg, &a) == 0);
        CHECK(af_config_apply_set(&cfg, "suite.train_size=5000") == 0);
        CHECK(af_world_create(&cfg, &b) == 0);
        if (!a || !b) {
            af_world_destroy(a);
            af_world_destroy(b);
            continue;
        }
        const AfDataset *ta = af_suite_split(a->suite, AF_SPLIT_TRAIN), *tb = af_suite_split(b->suite, AF_SPLIT_TRAIN);
        const AfDataset *ea = af_suite_split(a->suite, AF_SPLIT_TEST), *eb = af_suite_split(b->suite, AF_SPLIT_TEST);
        CHECK_EQ_INT(ta->n, 2000);
        CHECK_EQ_INT(tb->n, 5000);
        CHECK_EQ_INT(ea->n, 300);
        CHECK_EQ_INT(eb->n, 300);
        int same_test = 1, prefix = 1, leaked = 0;
        for (size_t i = 0; i < ea->n && i < eb->n; i++)
            same_test &= !strcmp(ea->items[i].question, eb->items[i].question) &&
                         !strcmp(ea->items[i].answer, eb->items[i].answer);
        for (size_t i = 0; i < ta->n && i < tb->n; i++) prefix &= !strcmp(ta->items[i].question, tb->items[i].question);
        for (size_t i = 0; i < tb->n; i++)
            for (size_t j = 0; j < eb->n; j++) leaked += !strcmp(tb->items[i].question, eb->items[j].question);
        CHECK_MSG(same_test, "%s: the test split changed with suite.train_size", suites[k]);
        CHECK_MSG(prefix, "%s: the default training questions are not the first of the larger split", suites[k]);
        CHECK_EQ_INT(leaked, 0);
        af_world_destroy(a);
        af_world_destroy(b);
    }
}

/* python and http tools join the suite: listed in the prompt, reached by the executor. */
static void test_extra_tools(void) {
    AfConfig cfg;
    af_config_defaults(&cfg);
    char set[200];
    snprintf(set, sizeof set, "tools.http.url=%s/ok", srv.base);
    CHECK(af_config_apply_set(&cfg, "tools.python.enabled=true") == 0);
    /* what the host allows (tests/test_python_tool.c checks each isolation mode) */
    CHECK(af_config_apply_set(&cfg, "tools.python.isolation=best_effort") == 0);
    CHECK(af_config_apply_set(&cfg, set) == 0);
    CHECK(af_config_apply_set(&cfg, "tools.http.retries=0") == 0);
    AfWorld *w = NULL;
    int rc = af_world_create(&cfg, &w);
    CHECK_MSG(rc == 0, "%s", af_error_detail());
    if (rc) return;
    CHECK_EQ_INT(w->suite->n_tools, 3);
    CHECK(af_suite_tool(w->suite, "python") && af_suite_tool(w->suite, "http"));
    char *prompt = NULL;
    CHECK(af_prompt_render(w->suite, "4 7 8 8", NULL, 0, 0, 100, &prompt) == 0);
    CHECK_STR_CONTAINS(prompt, "T: calculator python http stop");
    free(prompt);
    const AfDataset *ds = af_suite_split(w->suite, AF_SPLIT_TEST);
    AfTurnRecord rec = {0};
    CHECK(w->modules.executor->execute(w->modules.executor, &ds->items[0], NULL, 0, "python print(6*7) | compute", 5.0, &rec) == 0);
    CHECK_EQ_INT(rec.status, AF_TOOL_OK);
    CHECK_MSG(rec.result && !strcmp(rec.result, "42\n"), "python result \"%s\"", rec.result ? rec.result : "");
    CHECK(!strcmp(rec.tool, "python") && !strcmp(rec.sub_goal, "compute"));
    af_turn_record_clear(&rec);
    CHECK(w->modules.executor->execute(w->modules.executor, &ds->items[0], NULL, 0, "python while True: pass", 0.5, &rec) == 0);
    CHECK_MSG(rec.status == AF_TOOL_TIMEOUT || rec.status == AF_TOOL_ERROR, "infinite loop: status %d", rec.status);
    af_turn_record_clear(&rec);
    CHECK(w->modules.executor->execute(w->modules.executor, &ds->items[0], NULL, 0, "http who directed it", 5.0, &rec) == 0);
    CHECK_EQ_INT(rec.status, AF_TOOL_OK);
    CHECK_STR_CONTAINS(rec.result, "echo: who directed it");
    af_turn_record_clear(&rec);
    af_world_destroy(w);

    /* The http tool's server down: an infrastructure failure of the episode. */
    af_config_defaults(&cfg);
    CHECK(af_config_apply_set(&cfg, "tools.http.url=http://127.0.0.1:9/x") == 0);
    CHECK(af_config_apply_set(&cfg, "tools.http.retries=1") == 0);
    CHECK(af_config_apply_set(&cfg, "suite.name=countdown") == 0);
    CHECK(af_world_create(&cfg, &w) == 0);
    if (!w) return;
    ds = af_suite_split(w->suite, AF_SPLIT_TEST);
    CHECK(w->modules.executor->execute(w->modules.executor, &ds->items[0], NULL, 0, "http anything", 5.0, &rec) == 0);
    CHECK_EQ_INT(rec.status, AF_TOOL_INFRA_ERROR);
    af_turn_record_clear(&rec);
    af_world_destroy(w);
}

/* URL of the chat endpoint with a query (TEXT url-encoded into say=). */
static void chat_url(char *buf, size_t cap, const char *path, const char *say) {
    size_t n = (size_t)snprintf(buf, cap, "%s%s", srv.base, path);
    if (!say) return;
    n += (size_t)snprintf(buf + n, cap - n, "%ssay=", strchr(path, '?') ? "&" : "?");
    for (const char *p = say; *p && n + 4 < cap; p++) {
        unsigned char c = (unsigned char)*p;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.')
            buf[n++] = (char)c;
        else n += (size_t)snprintf(buf + n, cap - n, "%%%02X", c);
    }
    buf[n] = '\0';
}

static void oa_cfg(AfOpenAIConfig *c, const char *url, double timeout_s) {
    af_openai_config_default(c);
    c->url = url;
    c->model = "test-model";
    c->api_key_env = "AF_TEST_OPENAI_KEY";
    c->timeout_s = timeout_s;
    c->retries = 2;
    c->backoff_s = 0.01;
    c->max_bytes = 1 << 20;
}

typedef struct {
    char url[4][512]; /* executor, verifier, generator, judge */
} Urls;

static int make_mods(const AfSuite *s, const Urls *u, double timeout_s, AfModules *m) {
    AfOpenAIConfig c[4];
    for (int i = 0; i < 4; i++) oa_cfg(&c[i], u->url[i], timeout_s);
    memset(m, 0, sizeof *m);
    int rc;
    if ((rc = af_executor_openai_create(s, &c[0], &m->executor)) || (rc = af_verifier_openai_create(s, &c[1], &m->verifier)) ||
        (rc = af_generator_openai_create(s, &c[2], &m->generator)) || (rc = af_judge_openai_create(s, &c[3], &m->judge)))
        af_modules_clear(m);
    return rc;
}

static void good_urls(Urls *u) {
    chat_url(u->url[0], sizeof u->url[0], "/v1/chat/completions", "echo_action");
    chat_url(u->url[1], sizeof u->url[1], "/v1/chat/completions", "CONTINUE.");
    chat_url(u->url[2], sizeof u->url[2], "/v1/chat/completions", "The expression works.\nAnswer: 8*((4+7)-8)");
    chat_url(u->url[3], sizeof u->url[3], "/v1/chat/completions", "1");
}

static void test_openai_backends(void) {
    AfSuite *s = NULL;
    CHECK(af_suite_create("game24", NULL, &s) == 0);
    if (!s) return;
    AfItem item = {.question = "4 7 8 8", .answer = "", .solution = NULL};
    AfEpisodeSettings ec;
    af_episode_settings_default(&ec);
    AfEpisodeId ec_id = {0};
    ec.max_turns = 3;
    AfPlanner *oracle = NULL;
    CHECK(af_planner_oracle_create(&oracle) == 0);

    /* A normal episode through the four openai modules. */
    Urls u;
    good_urls(&u);
    AfModules m;
    int rc = make_mods(s, &u, 2.0, &m);
    CHECK_MSG(rc == 0, "%s", af_error_detail());
    if (rc) goto out;
    CHECK(!strcmp(m.executor->backend, "openai") && !strcmp(m.judge->backend, "openai"));
    Agentflow__Trajectory *t = NULL;
    CHECK(af_episode_run(s, &m, oracle, &item, &ec, &ec_id, &t) == 0);
    if (t) {
        CHECK_MSG(t->status == AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_OK, "status %d: %s", t->status,
                  t->status_detail ? t->status_detail : "");
        CHECK_EQ_INT(t->n_turns, 3);
        CHECK(!strcmp(t->turns[2]->result, "24"));
        CHECK(!strcmp(t->answer, "8*((4+7)-8)"));
        CHECK(t->reward == 1.0f);
        no_secret_in(t, "normal episode");
        af_trajectory_free(t);
    }
    af_modules_clear(&m);

    /* Verifier STOP, judge "incorrect", executor reply with a code fence and a label. */
    chat_url(u.url[0], sizeof u.url[0], "/v1/chat/completions", "```\nCommand: calculator 4*7-8/8\n```");
    chat_url(u.url[1], sizeof u.url[1], "/v1/chat/completions", "stop");
    chat_url(u.url[3], sizeof u.url[3], "/v1/chat/completions", "Incorrect.");
    CHECK(make_mods(s, &u, 2.0, &m) == 0);
    t = NULL;
    CHECK(af_episode_run(s, &m, oracle, &item, &ec, &ec_id, &t) == 0);
    if (t) {
        CHECK(t->status == AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_OK);
        CHECK_EQ_INT(t->n_turns, 1);
        CHECK_MSG(!strcmp(t->turns[0]->argument, "4*7-8/8") && !strcmp(t->turns[0]->result, "27"), "turn 1: %s -> %s",
                  t->turns[0]->argument, t->turns[0]->result);
        CHECK(t->turns[0]->verifier == AGENTFLOW__VERIFIER_DECISION__VERIFIER_DECISION_STOP);
        CHECK(t->reward == 0.0f);
        af_trajectory_free(t);
    }
    af_modules_clear(&m);

    /* Every fault in every module: retried where it should be, then INFRA_FAILED naming it. */
    static const char *const modname[4] = {"executor", "verifier", "generator", "judge"};
    struct {
        const char *path;  /* under the server */
        int attempts;      /* POSTs the server should see (retries = 2) */
        const char *text;  /* in the status detail */
    } faults[] = {
        {"/v1/chat/completions?slow=2", 3, "timed out"},
        {"/v1/chat/completions?fail=9", 3, "500"},
        {"/malformed", 1, "JSON"},
        {"/truncated", 3, ""},
        {"/drop", 3, "Empty reply"},
        {"/oversized?bytes=2000000", 1, ""},
        {"/v1/chat/completions?bad=nochoices", 1, "choices"},
        {"/v1/chat/completions?bad=apierror_echo", 1, "withheld"},
    };
    for (int mod = 0; mod < 4; mod++) {
        for (size_t f = 0; f < sizeof faults / sizeof faults[0]; f++) {
            /* the timeout path is the same for every module: two of them are enough */
            if (strstr(faults[f].path, "slow=") && (mod == 1 || mod == 2)) continue;
            good_urls(&u);
            /* a distinct query per case keeps the server's counts apart */
            char path[256];
            snprintf(path, sizeof path, "%s%scase=%d_%zu", faults[f].path, strchr(faults[f].path, '?') ? "&" : "?", mod, f);
            snprintf(u.url[mod], sizeof u.url[mod], "%s%s", srv.base, path);
            rc = make_mods(s, &u, 0.4, &m);
            CHECK_MSG(rc == 0, "%s", af_error_detail());
            if (rc) continue;
            t = NULL;
            rc = af_episode_run(s, &m, oracle, &item, &ec, &ec_id, &t);
            CHECK_MSG(rc == 0, "%s %s: rc %d %s", modname[mod], faults[f].path, rc, af_error_detail());
            if (t) {
                CHECK_MSG(t->status == AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_INFRA_FAILED, "%s %s: status %d",
                          modname[mod], faults[f].path, t->status);
                CHECK_STR_CONTAINS(t->status_detail, modname[mod]);
                CHECK_STR_CONTAINS(t->status_detail, faults[f].text);
                CHECK(t->reward == 0.0f && !strcmp(t->answer, ""));
                no_secret_in(t, path);
                af_trajectory_free(t);
            }
            /* The OpenAI client appends /chat/completions to paths that lack it. */
            char counted[300];
            const char *q = strchr(path, '?');
            if (strncmp(path, "/v1/chat/completions", 20) == 0) snprintf(counted, sizeof counted, "%s", path);
            else snprintf(counted, sizeof counted, "%.*s/chat/completions%s", (int)(q - path), path, q);
            int n = fault_server_count(&srv, counted);
            CHECK_MSG(n == faults[f].attempts, "%s %s: the server saw %d requests, want %d", modname[mod], counted, n,
                      faults[f].attempts);
            af_modules_clear(&m);
        }
    }

    /* The server down (nothing listens on the port): retried, then INFRA_FAILED. */
    good_urls(&u);
    snprintf(u.url[2], sizeof u.url[2], "http://127.0.0.1:9/v1");
    CHECK(make_mods(s, &u, 0.5, &m) == 0);
    t = NULL;
    CHECK(af_episode_run(s, &m, oracle, &item, &ec, &ec_id, &t) == 0);
    if (t) {
        CHECK(t->status == AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_INFRA_FAILED);
        CHECK_STR_CONTAINS(t->status_detail, "generator");
        CHECK_STR_CONTAINS(t->status_detail, "127.0.0.1:9");
        CHECK_EQ_INT(af_generator_openai_attempts(m.generator), 3);
        no_secret_in(t, "server down");
        af_trajectory_free(t);
    }
    af_modules_clear(&m);

    /* Unusable content: the verifier says neither word, the judge gives no verdict. */
    good_urls(&u);
    chat_url(u.url[1], sizeof u.url[1], "/v1/chat/completions", "Hard to say.");
    CHECK(make_mods(s, &u, 2.0, &m) == 0);
    t = NULL;
    CHECK(af_episode_run(s, &m, oracle, &item, &ec, &ec_id, &t) == 0);
    if (t) {
        CHECK(t->status == AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_INFRA_FAILED);
        CHECK_STR_CONTAINS(t->status_detail, "neither STOP nor CONTINUE");
        af_trajectory_free(t);
    }
    af_modules_clear(&m);
    good_urls(&u);
    chat_url(u.url[3], sizeof u.url[3], "/v1/chat/completions", "1.5");
    CHECK(make_mods(s, &u, 2.0, &m) == 0);
    t = NULL;
    CHECK(af_episode_run(s, &m, oracle, &item, &ec, &ec_id, &t) == 0);
    if (t) {
        CHECK(t->status == AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_INFRA_FAILED);
        CHECK_STR_CONTAINS(t->status_detail, "not a verdict");
        af_trajectory_free(t);
    }
    af_modules_clear(&m);

    /* The served planner: its reply is the action; a failure is INFRA_FAILED, not a crash. */
    good_urls(&u);
    CHECK(make_mods(s, &u, 2.0, &m) == 0);
    AfOpenAIConfig pc;
    char purl[512];
    chat_url(purl, sizeof purl, "/v1/chat/completions", "Action: calculator 8/(3-8/3) | all at once");
    oa_cfg(&pc, purl, 2.0);
    AfPlanner *sp = NULL;
    CHECK(af_planner_openai_create(&pc, &sp) == 0);
    AfItem item2 = {.question = "3 3 8 8", .answer = "", .solution = NULL};
    t = NULL;
    CHECK(sp && af_episode_run(s, &m, sp, &item2, &ec, &ec_id, &t) == 0);
    if (t) {
        CHECK(t->status == AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_OK);
        CHECK_MSG(!strcmp(t->turns[0]->action_text, "calculator 8/(3-8/3) | all at once"), "action \"%s\"",
                  t->turns[0]->action_text);
        CHECK(!strcmp(t->turns[0]->result, "24"));
        CHECK(t->turns[0]->n_action_tokens == t->turns[0]->n_behaviour_logprobs);
        CHECK(t->turns[0]->action_tokens[t->turns[0]->n_action_tokens - 1] == AF_TOK_EOS);
        af_trajectory_free(t);
    }
    af_planner_destroy(sp);
    snprintf(purl, sizeof purl, "%s/v1/chat/completions?fail=9&case=planner", srv.base);
    oa_cfg(&pc, purl, 2.0);
    sp = NULL;
    CHECK(af_planner_openai_create(&pc, &sp) == 0);
    t = NULL;
    CHECK(sp && af_episode_run(s, &m, sp, &item2, &ec, &ec_id, &t) == 0);
    if (t) {
        CHECK(t->status == AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_INFRA_FAILED);
        CHECK_STR_CONTAINS(t->status_detail, "planner (openai)");
        CHECK_EQ_INT(t->n_turns, 1);
        CHECK_EQ_INT(t->turns[0]->tool_status, AGENTFLOW__TOOL_STATUS__TOOL_STATUS_INFRA_ERROR);
        no_secret_in(t, "planner failure");
        af_trajectory_free(t);
    }
    CHECK_EQ_INT(fault_server_count(&srv, "/v1/chat/completions?fail=9&case=planner"), 3);
    af_planner_destroy(sp);
    af_modules_clear(&m);

    /* Through the world's configuration keys: verifier 500 once then fine (retries = 1). */
    AfConfig cfg;
    af_config_defaults(&cfg);
    char set[700];
    snprintf(set, sizeof set, "modules.verifier.url=%s/v1/chat/completions?fail=1&say=CONTINUE&case=world", srv.base);
    CHECK(af_config_apply_set(&cfg, "modules.verifier.backend=openai") == 0);
    CHECK(af_config_apply_set(&cfg, "modules.verifier.model=test-model") == 0);
    CHECK(af_config_apply_set(&cfg, "modules.verifier.api_key_env=AF_TEST_OPENAI_KEY") == 0);
    CHECK(af_config_apply_set(&cfg, "modules.verifier.retries=1") == 0);
    CHECK(af_config_apply_set(&cfg, "modules.verifier.timeout_s=2") == 0);
    CHECK(af_config_apply_set(&cfg, set) == 0);
    AfWorld *w = NULL;
    rc = af_world_create(&cfg, &w);
    CHECK_MSG(rc == 0, "%s", af_error_detail());
    if (w) {
        CHECK(!strcmp(w->modules.verifier->backend, "openai") && !strcmp(w->modules.executor->backend, "builtin"));
        t = NULL;
        CHECK(af_world_episode(w, oracle, &item, &(AfEpisodeId){0}, &t) == 0);
        if (t) {
            CHECK(t->status == AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_OK);
            CHECK(t->reward == 1.0f); /* builtin judge */
            af_trajectory_free(t);
        }
        CHECK_EQ_INT(af_verifier_openai_attempts(w->modules.verifier), 1); /* the last request */
        CHECK_EQ_INT(fault_server_count(&srv, "/v1/chat/completions?fail=1&say=CONTINUE&case=world"), 4);
    }
    af_world_destroy(w);
out:
    af_planner_destroy(oracle);
    af_suite_destroy(s);
}

int main(void) {
    const char *proxies[] = {"http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"};
    for (size_t i = 0; i < sizeof proxies / sizeof proxies[0]; i++) unsetenv(proxies[i]);
    setenv("AF_TEST_EXPECT_KEY", SECRET, 1); /* the server checks the Authorization header */
    setenv("AF_TEST_OPENAI_KEY", SECRET, 1);
    signal(SIGPIPE, SIG_IGN);
    test_suites_through_world();
    test_bad_config();
    test_train_size();
    if (fault_server_start(&srv, __FILE__) != 0) {
        CHECK_MSG(0, "cannot start tests/fault_server.py");
        TEST_MAIN_END();
    }
    /* Capture stderr (debug-level logs included) to check it for the key afterwards. */
    char cap[] = "/tmp/af_test_world_stderr_XXXXXX";
    int capfd = mkstemp(cap);
    fprintf(stderr, "(stderr goes to %s until the end of the test)\n", cap);
    int saved = dup(2);
    fflush(stderr);
    dup2(capfd, 2);
    af_log_setup(0, AF_LOG_DEBUG, AF_PROGRESS_RANK0);
    test_extra_tools();
    test_openai_backends();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    fault_server_stop(&srv);
    lseek(capfd, 0, SEEK_SET);
    static char logbuf[1 << 21];
    ssize_t n = read(capfd, logbuf, sizeof logbuf - 1);
    logbuf[n > 0 ? n : 0] = '\0';
    close(capfd);
    unlink(cap);
    fputs(logbuf, stderr);
    CHECK_MSG(strstr(logbuf, "retrying in") != NULL, "the debug log lacks the retries");
    CHECK_MSG(strstr(logbuf, "verifier (openai)") != NULL, "the debug log lacks the module failures");
    CHECK_MSG(strstr(logbuf, SECRET) == NULL, "the API key appears in stderr");
    TEST_MAIN_END();
}
