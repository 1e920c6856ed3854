/* The modules on a language model (issue 17 part 2), without a model:
 *  - the four reply parsers on hand-made replies: tolerant forms, reasoning blocks,
 *    garbage and empty replies;
 *  - per-call seeds: a pure function of (run seed, episode, module, turn), distinct
 *    across modules, turns and samples;
 *  - an episode through the four AfModuleChat modules over a scripted transport: each
 *    module's prompt reaches the transport, the replies are parsed, and the log-probs the
 *    transport records land in Trajectory.module_calls in call order (and an unreadable
 *    verifier reply makes the episode INFRA_FAILED, as the openai backend does);
 *  - the openai client's seed and logprobs against tests/fault_server.py: sent when
 *    configured (the seed the episode derives), the returned log-probs summed, and a
 *    server that rejects them (HTTP 400 naming the field) asked once more without, and
 *    never again.
 * Helper mode for tests/test_modules_model.py (with a real model directory):
 *   --render DIR SUITE [k=v ...]  stdin {"question", "answer", "text", "turns": [...]}:
 *       builds the world with every module on backend=model (modules.model.dir=DIR) and
 *       prints {"loads", "describe", "modules": {name: {"messages", "text", "ids"}}};
 *   --episodes DIR SUITE N [k=v ...]  N oracle episodes of the test split with every module
 *       on the model (sanitizers see the model path): prints one line per episode,
 *       "<status> <module calls> <sum of their log-probs>". */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "actor/episode.h"
#include "actor/modules_model.h"
#include "actor/modules_openai.h"
#include "common/error.h"
#include "fault_server.h"
#include "run/world.h"
#include "test_util.h"
#include "turns_json.h"

/* ------------------------------------------------------------------ parsers */

static void test_parsers(void) {
    char *s = NULL;
    CHECK_EQ_INT(af_module_parse_command("calculator 4+7", &s), 0);
    CHECK(s && !strcmp(s, "calculator 4+7"));
    free(s);
    CHECK_EQ_INT(af_module_parse_command("\n\n**Command:** `search Dratam Praravi`\nmore", &s), 0);
    CHECK(s && !strcmp(s, "search Dratam Praravi"));
    free(s);
    CHECK_EQ_INT(af_module_parse_command("```\ncalculator (8-4)*#1\n```", &s), 0);
    CHECK(s && !strcmp(s, "calculator (8-4)*#1"));
    free(s);
    CHECK_EQ_INT(af_module_parse_command("<think>use the calculator\nfirst</think>\ncalculator 1+2", &s), 0);
    CHECK(s && !strcmp(s, "calculator 1+2"));
    free(s);
    CHECK_EQ_INT(af_module_parse_command("", &s), AF_EINVAL);
    CHECK(s == NULL);
    CHECK_EQ_INT(af_module_parse_command(" \n\t\n```\n", &s), AF_EINVAL);
    CHECK_EQ_INT(af_module_parse_command("Command:", &s), AF_EINVAL);
    CHECK_EQ_INT(af_module_parse_command(NULL, &s), AF_EINVAL);

    int stop = -1;
    CHECK_EQ_INT(af_module_parse_stop("STOP", &stop), 0);
    CHECK_EQ_INT(stop, 1);
    CHECK_EQ_INT(af_module_parse_stop("I think we should continue.", &stop), 0);
    CHECK_EQ_INT(stop, 0);
    CHECK_EQ_INT(af_module_parse_stop("**Decision**: stop -- the memory holds it", &stop), 0);
    CHECK_EQ_INT(stop, 1);
    CHECK_EQ_INT(af_module_parse_stop("<think>should I stop?</think> CONTINUE", &stop), 0);
    CHECK_EQ_INT(stop, 0);
    CHECK_EQ_INT(af_module_parse_stop("stopped continues", &stop), AF_EINVAL); /* whole words only */
    CHECK_EQ_INT(af_module_parse_stop("Ð¿Ñ€Ð¸Ð²ÐµÑ‚ 123 !!", &stop), AF_EINVAL);
    CHECK_EQ_INT(af_module_parse_stop("", &stop), AF_EINVAL);

    CHECK_EQ_INT(af_module_parse_answer("Reasoning...\nAnswer: 8*((4+7)-8)\n", &s), 0);
    CHECK(s && !strcmp(s, "8*((4+7)-8)"));
    free(s);
    CHECK_EQ_INT(af_module_parse_answer("answer: first\nthen ANSWER:  `Paris`  ", &s), 0);
    CHECK(s && !strcmp(s, "Paris"));
    free(s);
    CHECK_EQ_INT(af_module_parse_answer("no label here\n\n  42  \n\n", &s), 0);
    CHECK(s && !strcmp(s, "42"));
    free(s);
    CHECK_EQ_INT(af_module_parse_answer("<think>Answer: wrong</think>Answer: right", &s), 0);
    CHECK(s && !strcmp(s, "right"));
    free(s);
    CHECK_EQ_INT(af_module_parse_answer("", &s), 0);
    CHECK(s && !strcmp(s, ""));
    free(s);
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    CHECK_EQ_INT(af_module_parse_answer(big, &s), 0);
    CHECK(s && strlen(s) == 512); /* ANSWER_MAX */
    free(s);

    float r = -1;
    CHECK_EQ_INT(af_module_parse_verdict("1", &r), 0);
    CHECK(r == 1.0f);
    CHECK_EQ_INT(af_module_parse_verdict("  **0.5** because", &r), 0);
    CHECK(r == 0.5f);
    CHECK_EQ_INT(af_module_parse_verdict("Verdict: yes", &r), 0);
    CHECK(r == 1.0f);
    CHECK_EQ_INT(af_module_parse_verdict("Incorrect, the gold is 7", &r), 0);
    CHECK(r == 0.0f);
    CHECK_EQ_INT(af_module_parse_verdict("<think>1?</think>\nno", &r), 0);
    CHECK(r == 0.0f);
    r = 0.25f;
    CHECK_EQ_INT(af_module_parse_verdict("2", &r), AF_EINVAL);
    CHECK_EQ_INT(af_module_parse_verdict("nan", &r), AF_EINVAL);
    CHECK_EQ_INT(af_module_parse_verdict("maybe", &r), AF_EINVAL);
    CHECK_EQ_INT(af_module_parse_verdict("", &r), AF_EINVAL);
    CHECK(r == 0.25f); /* untouched on failure */
}

/* ------------------------------------------------------------------ seeds */

static void test_seeds(void) {
    AfModuleEpisode a = {.seed = 7, .iteration = 3, .query_index = 5, .sample_index = 1};
    AfModuleEpisode *old = af_module_episode_set(&a);
    CHECK(old == NULL);
    uint64_t s[4][3];
    for (int m = 0; m < 4; m++)
        for (uint32_t t = 0; t < 3; t++) s[m][t] = af_module_call_seed(m, t);
    for (int i = 0; i < 12; i++)
        for (int j = i + 1; j < 12; j++) CHECK_MSG(s[i / 3][i % 3] != s[j / 3][j % 3], "seeds %d and %d collide", i, j);
    CHECK(af_module_call_seed(AF_MODULE_VERIFIER, 2) == s[1][2]); /* a pure function */
    AfModuleEpisode b = a;
    b.sample_index = 2;
    af_module_episode_set(&b);
    CHECK(af_module_call_seed(AF_MODULE_VERIFIER, 2) != s[1][2]);
    b = a;
    b.seed = 8;
    CHECK(af_module_call_seed(AF_MODULE_VERIFIER, 2) != s[1][2]);
    b = a; /* the same name in another struct: the same seed */
    CHECK(af_module_call_seed(AF_MODULE_VERIFIER, 2) == s[1][2]);
    CHECK(af_module_episode_set(NULL) == &b);
    af_module_call_record(AF_MODULE_JUDGE, 0, -1.0, 1); /* without an episode: nothing, no crash */
}

/* ------------------------------------------------------------------ scripted transport */

typedef struct {
    int calls[4];
    int bad_verifier; /* the verifier replies garbage */
    int saw_prompt[4];
} Script;

static int s_chat(void *impl, int module, uint32_t turn, const char *system, const char *user, char **reply) {
    Script *sc = impl;
    const char *want[4] = {"executor", "verifier", "answer generator", "judge"};
    sc->calls[module]++;
    sc->saw_prompt[module] += strstr(system, want[module]) != NULL && strstr(user, "4 7 8 8") != NULL;
    char buf[256];
    switch (module) {
    case AF_MODULE_EXECUTOR: { /* pass the planner's action through */
        const char *a = strstr(user, "Planner action: ");
        snprintf(buf, sizeof buf, "Command: %.*s", a ? (int)strcspn(a + 16, "\n") : 0, a ? a + 16 : "");
        break;
    }
    case AF_MODULE_VERIFIER: snprintf(buf, sizeof buf, "%s", sc->bad_verifier ? "mmm ???" : turn >= 3 ? "STOP" : "continue"); break;
    case AF_MODULE_GENERATOR: snprintf(buf, sizeof buf, "The steps work.\nAnswer: (7-(8/8))*4"); break;
    default: snprintf(buf, sizeof buf, "0"); break;
    }
    af_module_call_record(module, turn, -0.5 * (module + 1) - turn, (uint32_t)(module + 10));
    *reply = strdup(buf);
    return *reply ? 0 : AF_ENOMEM;
}

static int script_modules(const AfSuite *s, Script *sc, AfModules *m) {
    AfModuleChat t = {.backend = "scripted", .chat = s_chat, .impl = sc};
    memset(m, 0, sizeof *m);
    int rc;
    if ((rc = af_executor_chat_create(s, &t, &m->executor)) || (rc = af_verifier_chat_create(s, &t, &m->verifier)) ||
        (rc = af_generator_chat_create(s, &t, &m->generator)) || (rc = af_judge_chat_create(s, &t, &m->judge)))
        af_modules_clear(m);
    return rc;
}

static void test_scripted_episode(void) {
    AfConfig cfg;
    af_config_defaults(&cfg);
    CHECK_EQ_INT(af_config_apply_set(&cfg, "suite.name=game24"), 0);
    AfWorld *w = NULL;
    CHECK_EQ_INT(af_world_create(&cfg, &w), 0);
    if (!w) return;
    Script sc = {0};
    AfModules m;
    CHECK_EQ_INT(script_modules(w->suite, &sc, &m), 0);
    CHECK(!strcmp(m.executor->backend, "scripted"));
    AfPlanner *oracle = NULL;
    CHECK_EQ_INT(af_planner_oracle_create(&oracle), 0);
    AfItem item = {.question = "4 7 8 8", .answer = ""};
    AfEpisodeId id = {.iteration = 1, .query_index = 2, .sample_index = 0};
    Agentflow__Trajectory *t = NULL;
    CHECK_EQ_INT(af_episode_run(w->suite, &m, oracle, &item, &w->episode, &id, &t), 0);
    if (t) {
        CHECK_EQ_INT(t->status, AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_OK);
        CHECK_STR_CONTAINS(t->answer, "(7-(8/8))*4");
        CHECK_EQ_INT(sc.calls[AF_MODULE_GENERATOR], 1);
        CHECK_EQ_INT(sc.calls[AF_MODULE_JUDGE], 1);
        for (int k = 0; k < 4; k++) CHECK_MSG(sc.saw_prompt[k] == sc.calls[k], "module %d: its prompt", k);
        /* every call recorded, in order: executor t, verifier t+1, ..., generator, judge */
        size_t n = t->n_module_calls, nt = t->n_turns;
        CHECK_EQ_INT(n, (size_t)(sc.calls[0] + sc.calls[1] + 2));
        CHECK(n >= 4 && !strcmp(t->module_calls[n - 1]->module, "judge") && !strcmp(t->module_calls[n - 2]->module, "generator"));
        CHECK(n >= 2 && !strcmp(t->module_calls[0]->module, "executor") && t->module_calls[0]->turn == 0);
        CHECK(n >= 2 && !strcmp(t->module_calls[1]->module, "verifier") && t->module_calls[1]->turn == 1);
        if (n >= 2) {
            CHECK(t->module_calls[n - 2]->turn == nt);
            CHECK(t->module_calls[n - 1]->logprob == -2.0 && t->module_calls[n - 1]->tokens == 13);
        }
        /* the calls survive the wire */
        AfTrajLimits lim;
        af_world_traj_limits(w, 1, 1, &lim);
        lim.iteration_max = 1;
        int vrc = af_traj_validate(t, &lim, NULL);
        CHECK_MSG(vrc == 0, "validate: %s", af_error_detail());
        size_t len = agentflow__trajectory__get_packed_size(t);
        uint8_t *buf = malloc(len);
        CHECK(len <= af_traj_max_bytes(&lim));
        agentflow__trajectory__pack(t, buf);
        Agentflow__Trajectory *u = agentflow__trajectory__unpack(NULL, len, buf);
        CHECK(u && u->n_module_calls == n && !strcmp(u->module_calls[0]->module, "executor"));
        if (u) agentflow__trajectory__free_unpacked(u, NULL);
        free(buf);
        af_trajectory_free(t);
        t = NULL;
    }
    /* an unreadable verifier reply: INFRA_FAILED naming the module, as with openai */
    sc.bad_verifier = 1;
    CHECK_EQ_INT(af_episode_run(w->suite, &m, oracle, &item, &w->episode, &id, &t), 0);
    if (t) {
        CHECK_EQ_INT(t->status, AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_INFRA_FAILED);
        CHECK_STR_CONTAINS(t->status_detail, "verifier (scripted)");
        CHECK_STR_CONTAINS(t->status_detail, "neither STOP nor CONTINUE");
        af_trajectory_free(t);
    }
    af_planner_destroy(oracle);
    af_modules_clear(&m);
    af_world_destroy(w);
}

/* ------------------------------------------------------------------ openai seed and logprobs */

static FaultServer srv;

static int oa_call(const char *query, int seed, int lp, int calls, AfOpenAIReply *r, int *posts) {
    char url[256];
    snprintf(url, sizeof url, "%s/v1/chat/completions?say=echo_opts%s", srv.base, query);
    AfOpenAIConfig c;
    af_openai_config_default(&c);
    c.url = url;
    c.model = "m";
    c.backoff_s = 0.01;
    c.send_seed = seed;
    c.logprobs = lp;
    AfOpenAI *cl = NULL;
    int rc = af_openai_create(&c, &cl);
    for (int i = 0; rc == 0 && i < calls; i++) {
        if (i) free(r->content);
        rc = af_openai_chat_call(cl, "sys", "hello", 0x1234567890ull, r);
    }
    af_openai_destroy(cl);
    char counted[300];
    snprintf(counted, sizeof counted, "/v1/chat/completions?say=echo_opts%s", query);
    *posts = fault_server_count(&srv, counted);
    return rc;
}

static void test_openai_options(void) {
    AfOpenAIReply r;
    int posts = 0;
    /* off: neither is sent, no log-probs come back */
    CHECK_EQ_INT(oa_call("&k=off", 0, 0, 1, &r, &posts), 0);
    CHECK(r.content && !strcmp(r.content, "seed none logprobs none") && !r.has_logprobs);
    free(r.content);
    /* on: the seed (31 bits) and logprobs are sent; the sum comes back */
    CHECK_EQ_INT(oa_call("&k=on", 1, 1, 1, &r, &posts), 0);
    char want[80];
    snprintf(want, sizeof want, "seed %llu logprobs True", 0x1234567890ull & 0x7FFFFFFFull);
    CHECK_MSG(r.content && !strcmp(r.content, want), "%s", r.content ? r.content : "(null)");
    CHECK(r.has_logprobs && r.tokens == 2 && r.logprob == -0.75);
    CHECK_EQ_INT(posts, 1);
    free(r.content);
    /* a server that rejects logprobs: asked again without them, then never with them */
    CHECK_EQ_INT(oa_call("&reject=logprobs", 1, 1, 2, &r, &posts), 0);
    snprintf(want, sizeof want, "seed %llu logprobs none", 0x1234567890ull & 0x7FFFFFFFull);
    CHECK_MSG(r.content && !strcmp(r.content, want), "%s", r.content ? r.content : "(null)");
    CHECK(!r.has_logprobs);
    CHECK_EQ_INT(posts, 3); /* 400 + retry, then one */
    free(r.content);
    CHECK_EQ_INT(oa_call("&reject=both", 1, 1, 1, &r, &posts), 0);
    CHECK(r.content && !strcmp(r.content, "seed none logprobs none"));
    CHECK_EQ_INT(posts, 2);
    free(r.content);
    /* a 400 that names neither is an error (not retried) */
    CHECK_EQ_INT(oa_call("&reject=seed&fail=1&fail_code=400", 1, 1, 1, &r, &posts), AF_ECURL);
    CHECK(r.content == NULL);
    CHECK_EQ_INT(posts, 1);
    /* through a module in an episode: the call's seed is the episode's */
    char url[256];
    snprintf(url, sizeof url, "%s/v1/chat/completions?say=echo_opts", srv.base);
    AfOpenAIConfig c;
    af_openai_config_default(&c);
    c.url = url;
    c.model = "m";
    c.send_seed = 1;
    c.logprobs = 1;
    AfJudge *j = NULL;
    CHECK_EQ_INT(af_judge_openai_create(NULL, &c, &j), 0);
    AfModuleEpisode e = {.seed = 3, .iteration = 1, .query_index = 4, .sample_index = 2};
    af_module_episode_set(&e);
    const uint64_t seed = af_module_call_seed(AF_MODULE_JUDGE, 0);
    float reward = 0;
    AfItem item = {.question = "q", .answer = "a"};
    int rc = j ? j->judge(j, &item, "a", &reward) : -1;
    af_module_episode_set(NULL);
    CHECK_EQ_INT(rc, AF_EIO); /* "seed ..." is not a verdict */
    snprintf(want, sizeof want, "seed %llu logprobs", (unsigned long long)(seed & 0x7FFFFFFFu));
    CHECK_STR_CONTAINS(af_error_detail(), want);
    CHECK_EQ_INT(e.n_calls, 1);
    CHECK(e.calls[0].module == AF_MODULE_JUDGE && e.calls[0].logprob == -0.75 && e.calls[0].tokens == 2);
    af_modules_clear(&(AfModules){.judge = j});
}

/* ------------------------------------------------------------------ helper mode */

/* The world of suite with every module on the model in dir, plus the k=v settings. */
static int model_world(const char *dir, const char *suite, int argc, char **argv, AfWorld **w) {
    AfConfig cfg;
    af_config_defaults(&cfg);
    char set[700];
    int bad = 0;
    const char *sets[] = {"modules.executor.backend=model", "modules.verifier.backend=model", "modules.generator.backend=model",
                          "modules.judge.backend=model"};
    snprintf(set, sizeof set, "suite.name=%s", suite);
    bad |= af_config_apply_set(&cfg, set) != 0;
    snprintf(set, sizeof set, "modules.model.dir=%s", dir);
    bad |= af_config_apply_set(&cfg, set) != 0;
    for (int i = 0; i < 4; i++) bad |= af_config_apply_set(&cfg, sets[i]) != 0;
    for (int i = 0; i < argc; i++) bad |= af_config_apply_set(&cfg, argv[i]) != 0;
    if (bad || af_world_create(&cfg, w)) {
        fprintf(stderr, "world: %s\n", af_error_detail());
        return 1;
    }
    return 0;
}

static int episodes_mode(const char *dir, const char *suite, int n, int argc, char **argv) {
    AfWorld *w = NULL;
    AfPlanner *oracle = NULL;
    if (model_world(dir, suite, argc, argv, &w) || af_planner_oracle_create(&oracle)) {
        af_world_destroy(w);
        return 1;
    }
    const AfDataset *ds = af_suite_split(w->suite, AF_SPLIT_TEST);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        AfEpisodeId id = {.query_index = (uint32_t)(i % (int)ds->n), .sample_index = (uint32_t)i};
        Agentflow__Trajectory *t = NULL;
        rc = af_world_episode(w, oracle, &ds->items[id.query_index], &id, &t);
        if (rc) break;
        double sum = 0;
        for (size_t k = 0; k < t->n_module_calls; k++) sum += t->module_calls[k]->logprob;
        printf("%d %zu %.6f\n", (int)t->status, t->n_module_calls, sum);
        af_trajectory_free(t);
    }
    if (rc) fprintf(stderr, "episode: %s\n", af_error_detail());
    af_planner_destroy(oracle);
    af_world_destroy(w);
    return rc ? 1 : 0;
}

static int render_mode(const char *dir, const char *suite, int argc, char **argv) {
    cJSON *req = af_test_read_request();
    AfWorld *w = NULL;
    if (!req || model_world(dir, suite, argc, argv, &w)) {
        cJSON_Delete(req);
        return 1;
    }
    size_t nt = 0;
    AfTurnRecord *rec = af_test_request_turns(req, &nt);
    if (!rec) {
        af_world_destroy(w);
        cJSON_Delete(req);
        return 1;
    }
    AfItem item = {.question = (char *)af_test_jstr(req, "question"), .answer = (char *)af_test_jstr(req, "answer")};
    cJSON *o = cJSON_CreateObject(), *mods = cJSON_AddObjectToObject(o, "modules");
    cJSON_AddNumberToObject(o, "loads", (double)af_module_model_loads());
    char *desc = af_world_describe(w);
    cJSON_AddItemToObject(o, "describe", cJSON_Parse(desc));
    free(desc);
    int rc = 0;
    for (int m = 0; m < 4 && rc == 0; m++) {
        const char *system = NULL;
        char *user = NULL, *text = NULL;
        AfTokenIds ids = {0};
        rc = af_module_prompt(w->suite, m, &item, rec, nt, af_test_jstr(req, "text"), &system, &user);
        if (!rc) rc = af_module_model_render(w->module_model, system, user, &text, &ids);
        if (!rc) {
            cJSON *x = cJSON_AddObjectToObject(mods, af_module_name(m)), *msgs = cJSON_AddArrayToObject(x, "messages"), *mo;
            cJSON_AddItemToArray(msgs, mo = cJSON_CreateObject());
            cJSON_AddStringToObject(mo, "role", "system");
            cJSON_AddStringToObject(mo, "content", system);
            cJSON_AddItemToArray(msgs, mo = cJSON_CreateObject());
            cJSON_AddStringToObject(mo, "role", "user");
            cJSON_AddStringToObject(mo, "content", user);
            cJSON_AddStringToObject(x, "text", text);
            cJSON *a = cJSON_AddArrayToObject(x, "ids");
            for (size_t k = 0; k < ids.n; k++) cJSON_AddItemToArray(a, cJSON_CreateNumber(ids.ids[k]));
        }
        free(user);
        free(text);
        af_token_ids_free(&ids);
    }
    if (rc) fprintf(stderr, "render: %s\n", af_error_detail());
    char *s = rc ? NULL : cJSON_PrintUnformatted(o);
    if (s) puts(s);
    free(s);
    cJSON_Delete(o);
    free(rec);
    af_world_destroy(w);
    cJSON_Delete(req);
    return rc ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc >= 4 && !strcmp(argv[1], "--render")) return render_mode(argv[2], argv[3], argc - 4, argv + 4);
    if (argc >= 5 && !strcmp(argv[1], "--episodes")) return episodes_mode(argv[2], argv[3], atoi(argv[4]), argc - 5, argv + 5);
    const char *proxies[] = {"http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"};
    for (size_t i = 0; i < sizeof proxies / sizeof proxies[0]; i++) unsetenv(proxies[i]);
    signal(SIGPIPE, SIG_IGN);
    test_parsers();
    test_seeds();
    test_scripted_episode();
    if (fault_server_start(&srv, __FILE__) != 0) {
        CHECK_MSG(0, "cannot start tests/fault_server.py");
        TEST_MAIN_END();
    }
    test_openai_options();
    fault_server_stop(&srv);
    TEST_MAIN_END();
}
