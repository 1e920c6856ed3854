/* Configuration: defaults, files, --set, every rejection path, round trip, resume checks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/decode.h"
#include "common/error.h"
#include "common/log.h"
#include "common/weights_shm.h"
#include "common/matmul_bf16.h"
#include "env/python_tool.h"
#include "env/task_judge.h"
#include "test_util.h"

/* Apply JSON text to defaults; expect rejection whose detail contains `want`, and an
 * unchanged config. */
static void expect_json_error(const char *text, const char *want) {
    AfConfig c, before;
    af_config_defaults(&c);
    before = c;
    af_error_clear();
    int rc = af_config_apply_json(&c, text, "t.json");
    CHECK_MSG(rc == AF_ECONFIG, "'%s' accepted", text);
    CHECK_STR_CONTAINS(af_error_detail(), want);
    CHECK_MSG(strchr(af_error_detail(), '\n') == NULL, "multi-line error: %s", af_error_detail());
    CHECK(memcmp(&c, &before, sizeof c) == 0);
}

static void expect_set_error(const char *assignment, const char *want) {
    AfConfig c, before;
    af_config_defaults(&c);
    before = c;
    af_error_clear();
    CHECK_MSG(af_config_apply_set(&c, assignment) == AF_ECONFIG, "--set %s accepted", assignment);
    CHECK_STR_CONTAINS(af_error_detail(), want);
    CHECK(memcmp(&c, &before, sizeof c) == 0);
}

static void test_defaults(void) {
    AfConfig c;
    af_config_defaults(&c);
    CHECK_EQ_INT(c.rollout.group_size, 8);
    CHECK_EQ_INT(c.rollout.max_turns, 3);
    CHECK_NEAR(c.algo.clip_low, 0.2, 0);
    CHECK_NEAR(c.algo.clip_high, 0.3, 0);
    CHECK_NEAR(c.algo.dual_clip, 3.0, 0);
    CHECK_NEAR(c.algo.kl_coef, 0.001, 0);
    CHECK_NEAR(c.algo.weight_decay, 0.01, 0);
    CHECK_NEAR(c.algo.grad_clip, 1.0, 0);
    CHECK_EQ_INT(c.algo.adv_stats, AF_CFG_ADV_TRAJECTORY);
    CHECK_EQ_INT(c.algo.loss_agg, AF_CFG_AGG_PAPER);
    CHECK_EQ_INT(c.suite.name, AF_SUITE_GAME24);
    CHECK_EQ_INT(c.modules.judge.backend, AF_BACKEND_BUILTIN);
    CHECK_EQ_INT(c.topology.learners, 1);
    CHECK_EQ_INT(af_config_check(&c), 0);
    CHECK(af_config_key_count() > 60);
}

/* Every ENUM key's C enum follows the order of its schema choices, and each choice
 * round-trips through JSON. */
static void test_enums(void) {
    static const struct {
        const char *path;
        int value;
        const char *name;
    } e[] = {
        {"suite.name", AF_SUITE_GAME24, "game24"},          {"suite.name", AF_SUITE_COUNTDOWN, "countdown"},
        {"suite.name", AF_SUITE_MULTIHOP, "multihop"},      {"suite.name", AF_SUITE_ARITH, "arith"},
        {"suite.name", AF_SUITE_TASK, "task"},
        {"task.judge", AF_TJ_EXACT, "exact"},               {"task.judge", AF_TJ_NUMERIC, "numeric"},
        {"task.judge", AF_TJ_CHOICE, "choice"},             {"task.judge", AF_TJ_REGEX, "regex"},
        {"task.judge", AF_TJ_CONTAINS, "contains"},         {"task.judge", AF_TJ_OPENAI, "openai"},
        {"task.judge", AF_TJ_MODEL, "model"},
        {"suite.view", AF_VIEW_TRY, "try"},                 {"suite.view", AF_VIEW_STATE, "state"},
        {"suite.random_action", AF_RANDOM_EXPRESSION, "expression"}, {"suite.random_action", AF_RANDOM_STEP, "step"},
        {"model.warmstart_planner", AF_WARMSTART_RANDOM, "random"},
        {"model.warmstart_planner", AF_WARMSTART_ORACLE, "oracle"},
        {"model.warmstart_subgoal", AF_SUBGOAL_NONE, "none"},
        {"model.warmstart_subgoal", AF_SUBGOAL_PLAN, "plan"},
        {"algo.adv_stats", AF_CFG_ADV_TRAJECTORY, "trajectory"}, {"algo.adv_stats", AF_CFG_ADV_TURN, "turn"},
        {"algo.loss_agg", AF_CFG_AGG_PAPER, "paper"},       {"algo.loss_agg", AF_CFG_AGG_TOKEN_MEAN, "token_mean"},
        {"algo.reward_turns", AF_REWARD_TURNS_ALL, "all"},  {"algo.reward_turns", AF_REWARD_TURNS_FINAL, "final"},
        {"algo.reward_turns", AF_REWARD_TURNS_LAST_TRY, "last_try"},
        {"algo.policy", AF_POLICY_MEMORY, "memory"},        {"algo.policy", AF_POLICY_MONOLITHIC, "monolithic"},
        {"algo.curriculum", AF_CURRICULUM_OFF, "none"},     {"algo.curriculum", AF_CURRICULUM_MASTERY, "mastery"},
        {"algo.lr_schedule", AF_CFG_LR_CONSTANT, "constant"}, {"algo.lr_schedule", AF_CFG_LR_COSINE, "cosine"},
        {"modules.judge.backend", AF_BACKEND_BUILTIN, "builtin"},
        {"modules.planner.backend", AF_BACKEND_OPENAI, "openai"},
        {"modules.judge.backend", AF_BACKEND_MODEL, "model"},
        {"log.progress", AF_PROGRESS_RANK0, "rank0"},       {"log.progress", AF_PROGRESS_ALL, "all"},
        {"log.progress", AF_PROGRESS_NONE, "none"},         {"log.level", AF_LOG_ERROR, "error"},
        {"log.level", AF_LOG_WARN, "warn"},                 {"log.level", AF_LOG_INFO, "info"},
        {"log.level", AF_LOG_DEBUG, "debug"},
        {"tools.python.isolation", AF_PY_ISOLATION_REQUIRED, "required"},
        {"tools.python.isolation", AF_PY_ISOLATION_BEST_EFFORT, "best_effort"},
        {"tools.python.isolation", AF_PY_ISOLATION_NONE, "none"},
        {"rollout.decode_dtype", AF_DECODE_FP32, "fp32"},   {"rollout.decode_dtype", AF_DECODE_BF16, "bf16"},
        {"rollout.decode_dtype", AF_DECODE_AUTO, "auto"},
        {"run.weights_transport", AF_WEIGHTS_TRANSPORT_AUTO, "auto"},
        {"run.weights_transport", AF_WEIGHTS_TRANSPORT_BCAST, "bcast"},
        {"run.weights_transport", AF_WEIGHTS_TRANSPORT_SHM, "shm"},
        {"model.compute", AF_COMPUTE_FP32, "fp32"},         {"model.compute", AF_COMPUTE_BF16, "bf16"},
        {"model.compute", AF_COMPUTE_AUTO, "auto"},         {"model.compute", AF_COMPUTE_BF16_FMA, "bf16-fma"},
    };
    for (size_t i = 0; i < sizeof e / sizeof e[0]; i++) {
        CHECK_MSG(!strcmp(af_config_choice_name(e[i].path, e[i].value), e[i].name), "%s %d", e[i].path, e[i].value);
        AfConfig c;
        af_config_defaults(&c);
        char set[128];
        snprintf(set, sizeof set, "%s=%s", e[i].path, e[i].name);
        CHECK_EQ_INT(af_config_apply_set(&c, set), 0);
        char *js = af_config_to_json(&c, 0);
        char want[96];
        snprintf(want, sizeof want, "\"%s\"", e[i].name);
        CHECK_STR_CONTAINS(js, want);
        free(js);
    }
    /* every ENUM key of the schema is covered above */
    for (int k = 0; k < af_config_key_count(); k++) {
        AfConfigKeyInfo ki;
        af_config_key_info(k, &ki);
        if (strcmp(ki.type, "choice") != 0 || !strncmp(ki.path, "modules.", 8)) continue;
        int seen = 0;
        for (size_t i = 0; i < sizeof e / sizeof e[0]; i++) seen += !strcmp(e[i].path, ki.path);
        CHECK_MSG(seen > 0, "ENUM key %s has no enum check", ki.path);
    }
    CHECK(!strcmp(af_config_choice_name("suite.name", 99), "?"));
    CHECK(!strcmp(af_config_choice_name("run.seed", 0), "?"));
}

static void test_apply(void) {
    AfConfig c;
    af_config_defaults(&c);
    CHECK_EQ_INT(af_config_apply_json(&c,
        "{\"run\": {\"seed\": 7, \"store_trajectories\": true},\n"
        " \"rollout\": {\"temperature\": 0.7, \"group_size\": 4},\n"
        " \"suite\": {\"name\": \"multihop\", \"hops\": 2},\n"
        " \"modules\": {\"judge\": {\"backend\": \"openai\", \"model\": \"qwen\"}},\n"
        " \"tools\": {\"python\": {\"mem_mb\": 128}}}", "t.json"), 0);
    CHECK_EQ_INT(c.run.seed, 7);
    CHECK_EQ_INT(c.run.store_trajectories, 1);
    CHECK_NEAR(c.rollout.temperature, 0.7, 0);
    CHECK_EQ_INT(c.rollout.group_size, 4);
    CHECK_EQ_INT(c.suite.name, AF_SUITE_MULTIHOP);
    CHECK_EQ_INT(c.suite.hops, 2);
    CHECK_EQ_INT(c.modules.judge.backend, AF_BACKEND_OPENAI);
    CHECK(strcmp(c.modules.judge.model, "qwen") == 0);
    CHECK_EQ_INT(c.modules.executor.backend, AF_BACKEND_BUILTIN);
    CHECK_EQ_INT(c.tools.python.mem_mb, 128);
    /* An empty document changes nothing. */
    AfConfig d = c;
    CHECK_EQ_INT(af_config_apply_json(&d, "{}", "e.json"), 0);
    CHECK(memcmp(&c, &d, sizeof c) == 0);

    /* --set: JSON values, bare strings, sections as objects, later wins. */
    CHECK_EQ_INT(af_config_apply_set(&c, "rollout.group_size=16"), 0);
    CHECK_EQ_INT(c.rollout.group_size, 16);
    CHECK_EQ_INT(af_config_apply_set(&c, "suite.name=arith"), 0);
    CHECK_EQ_INT(c.suite.name, AF_SUITE_ARITH);
    CHECK_EQ_INT(af_config_apply_set(&c, "suite.name=\"countdown\""), 0);
    CHECK_EQ_INT(c.suite.name, AF_SUITE_COUNTDOWN);
    CHECK_EQ_INT(af_config_apply_set(&c, "model.qkv_bias=true"), 0);
    CHECK_EQ_INT(c.model.qkv_bias, 1);
    CHECK_EQ_INT(af_config_apply_set(&c, "algo={\"lr\": 0.5, \"ppo_epochs\": 2}"), 0);
    CHECK_NEAR(c.algo.lr, 0.5, 0);
    CHECK_EQ_INT(c.algo.ppo_epochs, 2);
    CHECK_EQ_INT(af_config_apply_set(&c, "data.train=/tmp/a=b.jsonl"), 0); /* first '=' splits */
    CHECK(strcmp(c.data.train, "/tmp/a=b.jsonl") == 0);
    CHECK_EQ_INT(af_config_apply_set(&c, "data.test="), 0);
    CHECK(strcmp(c.data.test, "") == 0);
    CHECK_EQ_INT(af_config_apply_set(&c, "run.seed=9007199254740991"), 0);
    CHECK(c.run.seed == 9007199254740991LL);
    CHECK_EQ_INT(af_config_apply_set(&c, "algo.lr=1e-4"), 0);
    CHECK_NEAR(c.algo.lr, 1e-4, 0);
}

static void test_rejections(void) {
    /* malformed JSON, with a position */
    expect_json_error("{\"run\": {\"seed\": 1,}}", "malformed JSON at line 1");
    expect_json_error("{\"run\":\n {\"seed\": }", "malformed JSON at line 2");
    expect_json_error("", "malformed JSON");
    expect_json_error("{} trailing", "malformed JSON");
    expect_json_error("[1, 2]", "expected a JSON object at the top level");
    /* unknown keys, with suggestions */
    expect_json_error("{\"rollout\": {\"group_sise\": 4}}", "unknown key 'rollout.group_sise' (did you mean 'rollout.group_size'?)");
    expect_json_error("{\"algo\": {\"group_size\": 4}}", "did you mean 'rollout.group_size'?");
    expect_json_error("{\"nosuchsection\": {}}", "unknown key 'nosuchsection'");
    expect_json_error("{\"run\": {\"seed\": {\"x\": 1}}}", "run.seed: expected an integer");
    expect_json_error("{\"run\": 3}", "run: expected an object (a section), got 3");
    expect_json_error("{\"run\": {\"seed\": 1, \"seed\": 2}}", "duplicate key 'run.seed'");
    expect_json_error("{\"run\": {\"a.b\": 1}}", "bad key name 'a.b'");
    /* wrong types */
    expect_json_error("{\"run\": {\"seed\": \"one\"}}", "run.seed: expected an integer in [0, 9007199254740991], got \"one\"");
    expect_json_error("{\"run\": {\"seed\": 1.5}}", "run.seed: expected an integer");
    expect_json_error("{\"rollout\": {\"temperature\": \"hot\"}}", "rollout.temperature: expected a number");
    expect_json_error("{\"model\": {\"qkv_bias\": 1}}", "model.qkv_bias: expected true or false, got 1");
    expect_json_error("{\"data\": {\"train\": 5}}", "data.train: expected a string");
    expect_json_error("{\"suite\": {\"name\": \"chess\"}}", "suite.name: expected one of game24|countdown|multihop|arith|task, got \"chess\"");
    expect_json_error("{\"suite\": {\"name\": null}}", "got null");
    expect_json_error("{\"rollout\": {\"group_size\": [8]}}", "got an array");
    /* out of range */
    expect_json_error("{\"rollout\": {\"group_size\": 0}}", "rollout.group_size: expected an integer in [1, 1024], got 0");
    expect_json_error("{\"rollout\": {\"group_size\": 1e300}}", "rollout.group_size");
    expect_json_error("{\"algo\": {\"clip_low\": -0.1}}", "algo.clip_low: expected a number in [0, 1], got -0.1");
    expect_json_error("{\"rollout\": {\"top_p\": 1e999}}", "rollout.top_p");
    expect_json_error("{\"run\": {\"seed\": -1}}", "run.seed");
    /* strings too long */
    char big[2048];
    memset(big, 'a', sizeof big);
    memcpy(big, "{\"data\": {\"train\": \"", 20);
    memcpy(big + sizeof big - 5, "\"}}", 4);
    expect_json_error(big, "data.train: expected a string of at most 511 bytes");

    /* --set */
    expect_set_error("rollout.group_size", "expected section.key=value");
    expect_set_error("=5", "expected section.key=value");
    expect_set_error("rollout.group_size=abc", "rollout.group_size: expected an integer in [1, 1024], got \"abc\"");
    expect_set_error("rollout.nokey=1", "unknown key 'rollout.nokey'");
    expect_set_error("rollout=3", "rollout: expected an object");
    expect_set_error("algo.loss_agg=sum", "algo.loss_agg: expected one of paper|token_mean");
    expect_set_error("model.tied_embeddings=yes", "model.tied_embeddings: expected true or false");
}

static void test_check(void) {
    AfConfig c;
    af_config_defaults(&c);
    CHECK_EQ_INT(af_config_apply_set(&c, "model.n_kv_heads=3"), 0);
    CHECK_EQ_INT(af_config_check(&c), AF_ECONFIG);
    CHECK_STR_CONTAINS(af_error_detail(), "model.n_kv_heads (3) must divide model.n_heads (4)");
    af_config_defaults(&c);
    CHECK_EQ_INT(af_config_apply_set(&c, "model.d_model=100"), 0);
    CHECK_EQ_INT(af_config_apply_set(&c, "model.n_heads=3"), 0);
    CHECK_EQ_INT(af_config_apply_set(&c, "model.n_kv_heads=1"), 0);
    CHECK_EQ_INT(af_config_check(&c), AF_ECONFIG);
    CHECK_STR_CONTAINS(af_error_detail(), "model.n_heads (3) must divide model.d_model (100)");
    af_config_defaults(&c);
    CHECK_EQ_INT(af_config_apply_set(&c, "algo.minibatch=100000"), 0);
    CHECK_EQ_INT(af_config_check(&c), AF_ECONFIG);
    CHECK_STR_CONTAINS(af_error_detail(), "algo.minibatch");
    /* algo.adv_pass_k: 0 or 2 .. G - 1, trajectory statistics */
    const char *bad_pk[][2] = {{"algo.adv_pass_k=1", "algo.adv_pass_k = 1"},
                               {"algo.adv_pass_k=8", "algo.adv_pass_k (8) must be below rollout.group_size (8)"},
                               {"algo.adv_stats=turn", "algo.adv_pass_k needs algo.adv_stats = trajectory"}};
    for (int i = 0; i < 3; i++) {
        af_config_defaults(&c);
        CHECK_EQ_INT(af_config_apply_set(&c, "rollout.group_size=8"), 0);
        if (i == 2) CHECK_EQ_INT(af_config_apply_set(&c, "algo.adv_pass_k=4"), 0);
        CHECK_EQ_INT(af_config_apply_set(&c, bad_pk[i][0]), 0);
        CHECK_EQ_INT(af_config_check(&c), AF_ECONFIG);
        CHECK_STR_CONTAINS(af_error_detail(), bad_pk[i][1]);
    }
    af_config_defaults(&c);
    CHECK_EQ_INT(af_config_apply_set(&c, "rollout.group_size=8"), 0);
    CHECK_EQ_INT(af_config_apply_set(&c, "algo.adv_pass_k=7"), 0);
    CHECK_EQ_INT(af_config_check(&c), 0);
    /* algo.adv_pass_k_until ends a pass@k phase: refused without one */
    CHECK_EQ_INT(af_config_apply_set(&c, "algo.adv_pass_k_until=500"), 0);
    CHECK_EQ_INT(af_config_check(&c), 0);
    CHECK_EQ_INT(af_config_apply_set(&c, "algo.adv_pass_k=0"), 0);
    CHECK_EQ_INT(af_config_check(&c), AF_ECONFIG);
    CHECK_STR_CONTAINS(af_error_detail(), "algo.adv_pass_k_until (500) ends a pass@k phase");
}

static void test_files_and_round_trip(void) {
    char dir[] = "/tmp/af_test_config_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256], missing[256];
    snprintf(path, sizeof path, "%s/config.json", dir);
    snprintf(missing, sizeof missing, "%s/nope.json", dir);

    AfConfig c, d;
    af_config_defaults(&c);
    af_error_clear();
    CHECK_EQ_INT(af_config_apply_file(&c, missing), AF_ECONFIG);
    CHECK_STR_CONTAINS(af_error_detail(), "nope.json: cannot open: No such file or directory");

    /* Every key survives save -> load bit for bit (numbers printed with full precision). */
    CHECK_EQ_INT(af_config_apply_set(&c, "algo.lr=0.000123456789012345"), 0);
    CHECK_EQ_INT(af_config_apply_set(&c, "rollout.temperature=0.1"), 0);
    CHECK_EQ_INT(af_config_apply_set(&c, "modules.generator.url=http://h:1/v1/chat/completions"), 0);
    CHECK_EQ_INT(af_config_apply_set(&c, "run.seed=123456789012345"), 0);
    CHECK_EQ_INT(af_config_save(&c, path), 0);
    af_config_defaults(&d);
    CHECK_EQ_INT(af_config_apply_file(&d, path), 0);
    CHECK(memcmp(&c, &d, sizeof c) == 0);
    char *j1 = af_config_to_json(&c, 0), *j2 = af_config_to_json(&d, 0);
    CHECK(j1 && j2 && strcmp(j1, j2) == 0);
    free(j1);
    free(j2);

    /* A file with an error names the file. */
    FILE *f = fopen(path, "w");
    fputs("{\"run\": {\"seed\": true}}", f);
    fclose(f);
    CHECK_EQ_INT(af_config_apply_file(&d, path), AF_ECONFIG);
    CHECK_STR_CONTAINS(af_error_detail(), "config.json: run.seed: expected an integer");
    unlink(path);
    rmdir(dir);
}

static void test_resume_conflict(void) {
    AfConfig a, b;
    char key[128];
    af_config_defaults(&a);
    b = a;
    CHECK_EQ_INT(af_config_resume_conflict(&a, &b, key, sizeof key), 0);
    CHECK_EQ_INT(af_config_apply_set(&b, "run.iterations=5000"), 0);
    CHECK_EQ_INT(af_config_apply_set(&b, "log.progress=none"), 0);
    CHECK_EQ_INT(af_config_apply_set(&b, "run.checkpoint_every=3"), 0);
    CHECK_EQ_INT(af_config_resume_conflict(&a, &b, key, sizeof key), 0);
    CHECK_EQ_INT(af_config_apply_set(&b, "model.d_model=256"), 0);
    CHECK_EQ_INT(af_config_resume_conflict(&a, &b, key, sizeof key), 1);
    CHECK(strcmp(key, "model.d_model") == 0);
    b = a;
    CHECK_EQ_INT(af_config_apply_set(&b, "suite.name=arith"), 0);
    CHECK_EQ_INT(af_config_resume_conflict(&a, &b, key, sizeof key), 1);
    CHECK(strcmp(key, "suite.name") == 0);
}

/* af_config_absolute_paths: relative file keys gain the working directory ("./" dropped),
 * absolute and empty ones stay, other strings are not touched, and a result too long for
 * the key is refused naming it, with the key unchanged. */
static void test_absolute_paths(void) {
    AfConfig c;
    char cwd[AF_CFG_STR_MAX], want[2 * AF_CFG_STR_MAX];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    af_config_defaults(&c);
    CHECK_EQ_INT(af_config_apply_set(&c, "data.train=./a/train.jsonl"), 0);
    CHECK_EQ_INT(af_config_apply_set(&c, "data.test=/abs/test.jsonl"), 0);
    CHECK_EQ_INT(af_config_apply_set(&c, "model.init_from=warm"), 0);
    CHECK_EQ_INT(af_config_apply_set(&c, "tools.python.interpreter=python3"), 0);
    CHECK_EQ_INT(af_config_absolute_paths(&c), 0);
    snprintf(want, sizeof want, "%s/a/train.jsonl", cwd);
    CHECK(strcmp(c.data.train, want) == 0);
    CHECK(strcmp(c.data.test, "/abs/test.jsonl") == 0);
    snprintf(want, sizeof want, "%s/warm", cwd);
    CHECK(strcmp(c.model.init_from, want) == 0);
    CHECK(strcmp(c.tools.python.interpreter, "python3") == 0); /* a command, looked up on PATH */
    CHECK(c.run.checkpoint_dir[0] == 0 && c.tools.search.corpus[0] == 0);
    AfConfig again = c; /* idempotent */
    CHECK_EQ_INT(af_config_absolute_paths(&again), 0);
    CHECK(memcmp(&again, &c, sizeof c) == 0);
    char longp[AF_CFG_STR_MAX];
    memset(longp, 'x', sizeof longp - 1);
    longp[sizeof longp - 1] = 0;
    memcpy(c.data.test, longp, sizeof longp); /* relative, and already at the key's limit */
    af_error_clear();
    CHECK_EQ_INT(af_config_absolute_paths(&c), AF_ECONFIG);
    CHECK_STR_CONTAINS(af_error_detail(), "data.test");
    CHECK(strcmp(c.data.test, longp) == 0);
}

int main(void) {
    test_defaults();
    test_enums();
    test_apply();
    test_rejections();
    test_check();
    test_files_and_round_trip();
    test_resume_conflict();
    test_absolute_paths();
    TEST_MAIN_END();
}
