/* The world factory: suite, modules, extra tools, episode settings and planner shape from
 * an AfConfig (see world.h). */
#include "run/world.h"

#include "actor/planner_model.h"
#include "actor/text_planner.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "actor/modules_model.h"
#include "actor/modules_openai.h"
#include "actor/planner_model.h"
#include "actor/text_planner.h"
#include "common/checksum.h"
#include "common/error.h"
#include "common/kernels.h"
#include "common/log.h"
#include "common/safetensors.h"
#include "env/http_tool.h"
#include "env/python_tool.h"
#include "env/suite_task.h"

/* Drops the items of ds beyond cap (cap 0: keep all). */
static void cap_split(AfDataset *ds, int64_t cap) {
    if (cap <= 0 || (uint64_t)cap >= ds->n) return;
    for (size_t i = (size_t)cap; i < ds->n; i++) {
        free(ds->items[i].question);
        free(ds->items[i].answer);
        free(ds->items[i].solution);
    }
    memset(ds->items + cap, 0, (ds->n - (size_t)cap) * sizeof *ds->items);
    ds->n = (size_t)cap;
}

/* The suite keys the built-in suites cannot honour: refused, naming the key, when set to
 * anything but their default (a default value is what every run's config.json holds). */
static int refuse_suite_keys(const AfConfig *cfg) {
    AfConfig def;
    af_config_defaults(&def);
    if (fabs(cfg->suite.test_fraction - def.suite.test_fraction) > 1e-12)
        return af_error_set(AF_ECONFIG, "config: suite.test_fraction = %g: the built-in splits are fixed "
                                        "(use suite.max_test or data.test)", cfg->suite.test_fraction);
    if (cfg->suite.hops != def.suite.hops)
        return af_error_set(AF_ECONFIG, "config: suite.hops = %lld: reserved; multihop's hops are "
                                        "suite.min_hops..suite.max_hops", (long long)cfg->suite.hops);
    if (cfg->suite.name != AF_SUITE_MULTIHOP) {
        const char *key = cfg->suite.min_hops != def.suite.min_hops         ? "suite.min_hops"
                          : cfg->suite.max_hops != def.suite.max_hops       ? "suite.max_hops"
                          : cfg->suite.distractors != def.suite.distractors ? "suite.distractors"
                                                                            : NULL;
        if (key) return af_error_set(AF_ECONFIG, "config: %s is set, but only the multihop suite has hops and relations", key);
    }
    if (cfg->suite.train_size && cfg->suite.name != AF_SUITE_COUNTDOWN && cfg->suite.name != AF_SUITE_ARITH)
        return af_error_set(AF_ECONFIG, "config: suite.train_size is set, but only countdown and arith generate a training "
                                        "split of any size (with the same test split)");
    if (cfg->suite.train_size && cfg->data.train[0])
        return af_error_set(AF_ECONFIG, "config: suite.train_size is set, but data.train replaces the generated training "
                                        "split");
    if (cfg->suite.min_hops > cfg->suite.max_hops)
        return af_error_set(AF_ECONFIG, "config: suite.min_hops = %lld > suite.max_hops = %lld",
                            (long long)cfg->suite.min_hops, (long long)cfg->suite.max_hops);
    if (cfg->suite.entities != def.suite.entities)
        return af_error_set(AF_ECONFIG, "config: suite.entities = %lld: the multihop world size is fixed",
                            (long long)cfg->suite.entities);
    if (cfg->suite.name != AF_SUITE_TASK) { /* the task suite's keys (env/suite_task.h) */
        const char *key = cfg->task.judge != def.task.judge                  ? "task.judge"
                          : cfg->task.tolerance != def.task.tolerance        ? "task.tolerance"
                          : cfg->tools.calculator.enabled                    ? "tools.calculator.enabled"
                          : cfg->tools.search.corpus[0]                      ? "tools.search.corpus"
                          : cfg->tools.search.index_dir[0]                   ? "tools.search.index_dir"
                          : cfg->tools.search.top_k != def.tools.search.top_k ? "tools.search.top_k"
                          : cfg->tools.search.max_bytes != def.tools.search.max_bytes ? "tools.search.max_bytes"
                                                                                       : NULL;
        if (key) return af_error_set(AF_ECONFIG, "config: %s: only suite.name=task takes it", key);
    }
    return 0;
}

/* The task suite's options from the configuration (the strings point into cfg). */
static void task_options(const AfConfig *cfg, AfTaskOptions *t) {
    memset(t, 0, sizeof *t);
    t->judge = (AfTaskJudge)cfg->task.judge;
    t->tolerance = cfg->task.tolerance;
    t->judge_backend = af_config_choice_name("modules.judge.backend", cfg->modules.judge.backend);
    t->calculator = cfg->tools.calculator.enabled;
    t->corpus = cfg->tools.search.corpus;
    t->index_dir = cfg->tools.search.index_dir;
    t->top_k = (size_t)cfg->tools.search.top_k;
    t->max_bytes = (size_t)cfg->tools.search.max_bytes;
    t->python = cfg->tools.python.enabled;
    t->http = cfg->tools.http.url[0] != '\0';
}

static int add_python(AfWorld *w, const AfConfig *cfg) {
    AfPythonToolConfig pc;
    AfTool *t = NULL;
    int rc = af_python_tool_config_from(&pc, cfg); /* every tools.python.* key */
    if (!rc) rc = af_python_tool_create(&pc, &t);
    if (rc) return rc;
    if ((rc = af_suite_add_tool(w->suite, t))) af_python_tool_destroy(t);
    return rc;
}

static int add_http(AfWorld *w, const AfConfig *cfg) {
    /* Split the comma-separated allowlist. */
    char hosts[AF_CFG_STR_MAX];
    const char *list[32];
    int n = 0;
    snprintf(hosts, sizeof hosts, "%s", cfg->tools.http.allow_hosts);
    for (char *save = NULL, *tok = strtok_r(hosts, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        if (n == 32) return af_error_set(AF_ECONFIG, "config: tools.http.allow_hosts: more than 32 hosts");
        list[n++] = tok;
    }
    if (n == 0) return af_error_set(AF_ECONFIG, "config: tools.http.allow_hosts: empty, but tools.http.url is set");
    AfHttpToolConfig hc;
    af_http_tool_config_default(&hc);
    hc.url = cfg->tools.http.url;
    hc.allow_hosts = list;
    hc.n_allow_hosts = n;
    hc.timeout_s = cfg->tools.http.timeout_s;
    hc.retries = (int)cfg->tools.http.retries;
    hc.max_bytes = (size_t)cfg->tools.http.max_bytes;
    AfTool *t = NULL;
    int rc = af_http_tool_create(&hc, &t);
    if (rc) return rc;
    if ((rc = af_suite_add_tool(w->suite, t))) af_http_tool_destroy(t);
    return rc;
}

static int openai_cfg(const AfModuleConfig *m, const char *module, AfOpenAIConfig *oc) {
    return af_openai_config_from_module(m, module, oc);
}

/* The transport of a backend=model module on a rank that runs no episodes. */
static int idle_chat(void *impl, int module, uint32_t turn, const char *system, const char *user, char **reply) {
    (void)impl, (void)turn, (void)system, (void)user;
    *reply = NULL;
    return af_error_set(AF_ESTATE, "%s (model): this rank's world was built without the module model (it runs no episodes)",
                        af_module_name(module));
}

/* The transport of a backend=model module: the world's local model (idle without one). */
static int model_transport(AfWorld *w, const AfModuleConfig *mc, AfModuleChat *t) {
    if (!w->module_model) {
        *t = (AfModuleChat){.backend = "model", .chat = idle_chat};
        return 0;
    }
    return af_module_model_transport(w->module_model, (int)mc->max_tokens, t);
}

/* The local model of the modules with backend=model, loaded once for all of them. */
static int load_module_model(AfWorld *w, const AfConfig *cfg, unsigned flags) {
    const AfModuleConfig *mc[4] = {&cfg->modules.executor, &cfg->modules.verifier, &cfg->modules.generator,
                                   &cfg->modules.judge};
    int any = 0;
    for (int i = 0; i < 4; i++) any |= mc[i]->backend == AF_BACKEND_MODEL;
    if (!any) return 0;
    if (!cfg->modules.model.dir[0])
        return af_error_set(AF_ECONFIG, "config: modules.model.dir: empty, but a module has backend=model (set the "
                                        "Hugging Face model directory the modules run on)");
    if (flags & AF_WORLD_NO_EPISODES) return 0;
    AfModuleModelConfig mm = {.dir = cfg->modules.model.dir,
                              .max_seq = (int)cfg->modules.model.max_seq,
                              .temperature = (float)cfg->modules.model.temperature,
                              .top_p = (float)cfg->modules.model.top_p,
                              .threads = (int)cfg->modules.model.threads};
    return af_module_model_load(&mm, &w->module_model);
}

static int make_modules(AfWorld *w, const AfConfig *cfg) {
    const AfModuleConfig *mc[4] = {&cfg->modules.executor, &cfg->modules.verifier, &cfg->modules.generator,
                                   &cfg->modules.judge};
    for (int i = 0; i < 4; i++) {
        const int be = mc[i]->backend;
        int rc;
        AfOpenAIConfig oc;
        AfModuleChat t;
        if (be == AF_BACKEND_OPENAI && (rc = openai_cfg(mc[i], af_module_name(i), &oc))) return rc;
        if (be == AF_BACKEND_MODEL && (rc = model_transport(w, mc[i], &t))) return rc;
        switch (i) {
        case AF_MODULE_EXECUTOR:
            rc = be == AF_BACKEND_OPENAI  ? af_executor_openai_create(w->suite, &oc, &w->modules.executor)
                 : be == AF_BACKEND_MODEL ? af_executor_chat_create(w->suite, &t, &w->modules.executor)
                                          : af_executor_builtin_create(w->suite, &w->modules.executor);
            break;
        case AF_MODULE_VERIFIER:
            rc = be == AF_BACKEND_OPENAI  ? af_verifier_openai_create(w->suite, &oc, &w->modules.verifier)
                 : be == AF_BACKEND_MODEL ? af_verifier_chat_create(w->suite, &t, &w->modules.verifier)
                                          : af_verifier_builtin_create(w->suite, &w->modules.verifier);
            break;
        case AF_MODULE_GENERATOR:
            rc = be == AF_BACKEND_OPENAI  ? af_generator_openai_create(w->suite, &oc, &w->modules.generator)
                 : be == AF_BACKEND_MODEL ? af_generator_chat_create(w->suite, &t, &w->modules.generator)
                                          : af_generator_builtin_create(w->suite, &w->modules.generator);
            break;
        default:
            rc = be == AF_BACKEND_OPENAI  ? af_judge_openai_create(w->suite, &oc, &w->modules.judge)
                 : be == AF_BACKEND_MODEL ? af_judge_chat_create(w->suite, &t, &w->modules.judge)
                                          : af_judge_builtin_create(w->suite, &w->modules.judge);
            break;
        }
        if (rc) return rc;
    }
    return 0;
}

static void suite_options(const AfConfig *cfg, AfSuiteOptions *o) {
    af_suite_options_default(o);
    o->seed = (uint64_t)cfg->run.seed;
    o->train_jsonl = cfg->data.train[0] ? cfg->data.train : NULL;
    o->test_jsonl = cfg->data.test[0] ? cfg->data.test : NULL;
    o->train_size = (uint32_t)cfg->suite.train_size;
    o->attempts = (uint32_t)cfg->suite.attempts;
    o->retries = (uint32_t)cfg->suite.retries;
    o->state_view = cfg->suite.view == AF_VIEW_STATE;
    o->random_steps = cfg->suite.random_action == AF_RANDOM_STEP;
    o->min_hops = (uint32_t)cfg->suite.min_hops;
    o->max_hops = (uint32_t)cfg->suite.max_hops;
    o->distractors = (uint32_t)cfg->suite.distractors;
    o->max_question_tokens = af_suite_question_tokens((uint32_t)cfg->model.max_seq);
}

static int model_config(const AfConfig *c, const AfSuite *s, AfModelConfig *m) {
    *m = af_model_config_default();
    m->vocab_size = (int)af_vocab_size(s->vocab);
    m->d_model = (int)c->model.d_model;
    m->n_layers = (int)c->model.n_layers;
    m->n_heads = (int)c->model.n_heads;
    m->n_kv_heads = (int)c->model.n_kv_heads;
    m->d_ff = (int)c->model.d_ff;
    m->max_seq = (int)c->model.max_seq;
    m->rope_theta = (float)c->model.rope_theta;
    m->rms_eps = (float)c->model.rms_eps;
    m->qkv_bias = c->model.qkv_bias;
    m->tied_embeddings = c->model.tied_embeddings;
    int rc = af_model_config_validate(m);
    return rc ? af_error_wrap(rc, "config: model") : 0;
}

/* A planner in text's shape: dir's config.json, max_seq capped by model.max_seq. */
static int text_model_config(const AfConfig *c, const char *dir, AfModelConfig *m) {
    int rc = af_model_config_load(dir, m);
    if (rc) return af_error_wrap(rc, "planner in text %s", dir);
    if (m->max_seq > (int)c->model.max_seq) m->max_seq = (int)c->model.max_seq;
    rc = af_model_config_validate(m);
    return rc ? af_error_wrap(rc, "planner in text %s", dir) : 0;
}

int af_world_create(const AfConfig *cfg, AfWorld **out) { return af_world_create_in(cfg, NULL, 0, out); }

int af_world_create_flags(const AfConfig *cfg, unsigned flags, AfWorld **out) {
    return af_world_create_in(cfg, NULL, flags, out);
}

int af_world_create_in(const AfConfig *cfg, const char *planner_dir, unsigned flags, AfWorld **out) {
    if (!cfg || !out) return af_error_set(AF_EINVAL, "world: NULL config or out");
    *out = NULL;
    int rc = refuse_suite_keys(cfg);
    if (rc) return rc;
    if (cfg->modules.planner.backend == AF_BACKEND_MODEL)
        return af_error_set(AF_ECONFIG, "config: modules.planner.backend = model: the local model serves the executor, "
                                        "verifier, generator and judge; a local planner is the trained one (--model, "
                                        "model.init_from)");
    AfWorld *w = calloc(1, sizeof *w);
    if (!w) return af_error_set(AF_ENOMEM, "world");
    w->cfg = *cfg;

    AfSuiteOptions so;
    AfTaskOptions to;
    suite_options(cfg, &so);
    if (cfg->suite.name == AF_SUITE_TASK) task_options(cfg, &to), so.task = &to;
    const char *name = af_config_choice_name("suite.name", cfg->suite.name);
    if ((rc = af_suite_create(name, &so, &w->suite))) goto fail; /* the message names the suite */
    cap_split(w->suite->split[AF_SPLIT_TRAIN], cfg->suite.max_train);
    cap_split(w->suite->split[AF_SPLIT_TEST], cfg->suite.max_test);
    if (w->suite->split[AF_SPLIT_TRAIN]->n == 0) {
        rc = af_error_set(AF_ECONFIG, "suite %s: the training split is empty", name);
        goto fail;
    }
    const char *text = af_text_dir_has_tokenizer(planner_dir)            ? planner_dir
                       : af_text_dir_has_tokenizer(cfg->model.init_from) ? cfg->model.init_from
                                                                          : NULL;
    if (text && snprintf(w->text_dir, sizeof w->text_dir, "%s", text) >= (int)sizeof w->text_dir) {
        rc = af_error_set(AF_ECONFIG, "planner in text: directory name too long");
        goto fail;
    }
    if ((rc = text ? text_model_config(cfg, text, &w->model) : model_config(cfg, w->suite, &w->model))) goto fail;
    if (text && cfg->algo.policy != AF_POLICY_MEMORY) {
        rc = af_error_set(AF_ECONFIG, "config: algo.policy = monolithic: a planner in text (%s) runs the memory policy",
                          text);
        goto fail;
    }
    if (cfg->algo.policy == AF_POLICY_MONOLITHIC && cfg->rollout.memory_results > 0) {
        rc = af_error_set(AF_ECONFIG,
                          "config: rollout.memory_results = %lld: it bounds the memory policy's prompt, and "
                          "algo.policy = monolithic has no memory (its transcript keeps every result)",
                          (long long)cfg->rollout.memory_results);
        goto fail;
    }
    if (cfg->model.warmstart_subgoal == AF_SUBGOAL_PLAN) { /* the plan is a reply line of the oracle's text demonstrations */
        const char *why = !text                                                 ? "a planner in text (model.init_from with a tokenizer.json)"
                          : cfg->model.warmstart_planner != AF_WARMSTART_ORACLE ? "model.warmstart_planner = oracle"
                          : cfg->model.warmstart_explore > 0.0                  ? "model.warmstart_explore = 0 (an explored step has no plan)"
                          : !w->suite->ops->plan                                ? "a suite with a plan (multihop)"
                                                                                : NULL;
        if (why) {
            rc = af_error_set(AF_ECONFIG, "config: model.warmstart_subgoal = plan needs %s", why);
            goto fail;
        }
    }
    if (cfg->suite.name == AF_SUITE_TASK && cfg->model.warmstart_steps > 0 &&
        cfg->model.warmstart_planner == AF_WARMSTART_ORACLE) { /* the oracle replays each line's "trace" */
        const AfDataset *tr = w->suite->split[AF_SPLIT_TRAIN];
        size_t bare = 0;
        for (size_t i = 0; i < tr->n; i++) bare += !tr->items[i].solution;
        if (bare) {
            rc = af_error_set(AF_ECONFIG, "config: model.warmstart_planner = oracle: suite task's oracle replays each line's "
                                          "\"trace\", but %zu of the %zu training questions have none (add traces, or use "
                                          "model.warmstart_planner=random for the action format only)", bare, tr->n);
            goto fail;
        }
    }

    if (cfg->tools.python.enabled && (rc = add_python(w, cfg))) goto fail;
    if (cfg->tools.http.url[0] && (rc = add_http(w, cfg))) goto fail;
    if ((rc = load_module_model(w, cfg, flags))) goto fail;
    if ((rc = make_modules(w, cfg))) goto fail;

    af_episode_settings_from_config(cfg, &w->episode);
    if (cfg->suite.shuffle && !af_suite_number_lists(w->suite)) {
        rc = af_error_set(AF_ECONFIG, "config: suite.shuffle: suite %s's questions are not lists of numbers "
                                      "(game24 and countdown only)", w->suite->name);
        goto fail;
    }
    if (cfg->rollout.constrain_actions && !af_suite_lists_actions(w->suite)) {
        rc = af_error_set(AF_ECONFIG, "config: rollout.constrain_actions: suite %s cannot list its valid actions "
                                      "(game24 and countdown can)", w->suite->name);
        goto fail;
    }
    if (cfg->rollout.constrain_actions && w->text_dir[0]) {
        rc = af_error_set(AF_ECONFIG, "config: rollout.constrain_actions: the planner in text (%s) writes free text; "
                                      "only the suite vocabulary's planner is constrained", w->text_dir);
        goto fail;
    }
    w->train_episode = w->episode;
    w->train_episode.explore_random = cfg->rollout.explore_random;
    w->train_episode.shuffle = (int)cfg->suite.shuffle;
    w->demo_episode = w->episode;
    w->demo_episode.shuffle = (int)cfg->suite.shuffle;
    *out = w;
    return 0;
fail:
    af_world_destroy(w);
    return rc;
}

void af_world_destroy(AfWorld *w) {
    if (!w) return;
    af_modules_clear(&w->modules);
    af_module_model_destroy(w->module_model); /* after the modules that use it */
    af_suite_destroy(w->suite);
    free(w);
}

int af_world_planner_create(const AfWorld *w, const char *kind, AfPlanner **out) {
    if (!kind) kind = "";
    if (!strcmp(kind, "oracle")) return af_planner_oracle_create(out);
    if (!strcmp(kind, "random")) return af_planner_random_create(out);
    if (!strcmp(kind, "openai")) {
        AfOpenAIConfig oc;
        int rc = openai_cfg(&w->cfg.modules.planner, "planner", &oc);
        if (rc) return rc;
        oc.temperature = w->cfg.rollout.temperature;
        oc.max_tokens = (int)w->cfg.rollout.max_action_tokens * 4; /* generous: a token of ours is a few bytes */
        oc.send_seed = oc.logprobs = 0; /* the modules' options (config.h) */
        return af_planner_openai_create(&oc, out);
    }
    return af_error_set(AF_ENOTFOUND, "planner \"%s\": the world makes oracle, random and openai planners", kind);
}

int af_world_episode(const AfWorld *w, AfPlanner *planner, const AfItem *item, const AfEpisodeId *id,
                     Agentflow__Trajectory **out) {
    return af_episode_run(w->suite, &w->modules, planner, item, &w->episode, id, out);
}

int af_world_demo_episode(const AfWorld *w, AfPlanner *planner, const AfItem *item, const AfEpisodeId *id,
                          Agentflow__Trajectory **out) {
    return af_episode_run(w->suite, &w->modules, planner, item, &w->demo_episode, id, out);
}

int af_world_episode_group(const AfWorld *w, AfPlanner *planner, const AfItem *const *items, const AfEpisodeId *ids,
                           size_t n, Agentflow__Trajectory **out, int *rcs, char (*details)[AF_EPISODE_DETAIL]) {
    return af_episode_run_group(w->suite, &w->modules, planner, items, &w->episode, ids, n, out, rcs, details);
}

int af_world_train_episode(const AfWorld *w, AfPlanner *planner, const AfItem *item, const AfEpisodeId *id,
                           Agentflow__Trajectory **out) {
    return af_episode_run(w->suite, &w->modules, planner, item, &w->train_episode, id, out);
}

int af_world_train_episode_group(const AfWorld *w, AfPlanner *planner, const AfItem *const *items,
                                 const AfEpisodeId *ids, size_t n, Agentflow__Trajectory **out, int *rcs,
                                 char (*details)[AF_EPISODE_DETAIL]) {
    return af_episode_run_group(w->suite, &w->modules, planner, items, &w->train_episode, ids, n, out, rcs, details);
}

int af_world_planner_group(const AfWorld *w, AfPlanner *planner, int n) {
    if (n > AF_EPISODE_GROUP_MAX) n = AF_EPISODE_GROUP_MAX;
    return af_planner_model_set_group(planner, w->cfg.rollout.group_decode && n > 1 ? n : 1);
}

static void shape_text(const AfModelConfig *c, char *buf, size_t n) {
    snprintf(buf, n, "d_model %d, layers %d, heads %d/%d, d_ff %d, vocab %d, max_seq %d, qkv_bias %d, tied %d",
             c->d_model, c->n_layers, c->n_heads, c->n_kv_heads, c->d_ff, c->vocab_size, c->max_seq, c->qkv_bias,
             c->tied_embeddings);
}

/* 1 if dir holds weights (model.safetensors or a shard index). */
static int has_weights(const char *dir) {
    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (access(path, F_OK) == 0) return 1;
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    return access(path, F_OK) == 0;
}

int af_world_model_init(const AfWorld *w, AfModel *m) {
    const AfConfig *c = &w->cfg;
    af_model_init_params_std(m, (uint64_t)c->run.seed, c->model.init_std);
    if (!c->model.init_from[0]) return 0;
    if (w->text_dir[0] && !has_weights(c->model.init_from)) { /* an architecture and a tokenizer only */
        af_log(AF_LOG_INFO, "model.init_from %s has no weights: the planner in text starts from run.seed "
                            "(model.init_std %g)", c->model.init_from, c->model.init_std);
        return 0;
    }
    AfModel *src = NULL;
    int rc = af_model_load_dir(c->model.init_from, 0, 0, 0, &src);
    if (rc) return af_error_wrap(rc, "model.init_from %s", c->model.init_from);
    AfModelConfig sc = src->cfg;
    if (w->text_dir[0] && sc.max_seq > m->cfg.max_seq) sc.max_seq = m->cfg.max_seq; /* the context only */
    if (src->n_params != m->n_params || memcmp(&sc, &m->cfg, sizeof m->cfg) != 0) {
        char have[256], want[256];
        shape_text(&src->cfg, have, sizeof have);
        shape_text(&m->cfg, want, sizeof want);
        af_model_destroy(src); /* after the shapes are read */
        return af_error_set(AF_ECONFIG, "config: model.init_from %s: its shape (%s) differs from the configured "
                                        "model.* (%s)", c->model.init_from, have, want);
    }
    memcpy(m->params, src->params, m->n_params * sizeof *m->params);
    af_model_destroy(src);
    return 0;
}

int af_world_model_create(const AfWorld *w, const char *dir, AfModel **out) {
    *out = NULL;
    const uint32_t vocab = af_vocab_size(w->suite->vocab);
    AfModel *m = NULL;
    int rc;
    if (dir && dir[0]) {
        if ((rc = af_model_load_dir(dir, 0, 0, 0, &m))) return af_error_wrap(rc, "model %s", dir);
        /* a directory with its own tokenizer is a planner in text: its vocabulary is the tokenizer's */
        if ((uint32_t)m->cfg.vocab_size != vocab && !af_text_dir_has_tokenizer(dir)) {
            rc = af_error_set(AF_ECONFIG, "model %s: vocabulary of %d tokens, but suite %s has %u (a planner of another suite?)",
                              dir, m->cfg.vocab_size, w->suite->name, vocab);
            af_model_destroy(m);
            return rc;
        }
        *out = m;
        return 0;
    }
    if ((rc = af_model_create(&w->model, 0, 0, 0, &m))) return rc;
    if ((rc = af_world_model_init(w, m))) {
        af_model_destroy(m);
        return rc;
    }
    *out = m;
    return 0;
}

int af_world_planner_dtype(const AfWorld *w, AfPlanner *planner) {
    const int want = w->cfg.rollout.decode_dtype;
    int rc = af_planner_model_set_dtype(planner, (AfDecodeDtype)want);
    if (rc) return af_error_wrap(rc, "rollout.decode_dtype");
    af_log(AF_LOG_INFO, "planner decode: %s (rollout.decode_dtype %s, kernels %s)",
           af_planner_model_dtype(planner) == AF_DECODE_BF16 ? "bf16" : "fp32",
           af_config_choice_name("rollout.decode_dtype", want), af_kernels_name());
    return 0;
}

int af_world_model_planner(const AfWorld *w, const char *dir, const AfModel *model, const AfSampler *s,
                           AfPlanner **out) {
    *out = NULL;
    if (!dir || !dir[0]) dir = w->text_dir; /* the world's own planner */
    int rc;
    if (!af_text_dir_has_tokenizer(dir)) {
        rc = af_planner_model_create(model, s, out);
    } else {
        AfTextCodec *codec = NULL;
        rc = af_text_codec_load(dir, w->cfg.rollout.stop, &codec);
        if (rc) return af_error_wrap(rc, "model %s", dir);
        rc = af_planner_model_create_text(model, s, codec, out); /* takes the codec */
    }
    if (rc == 0 && w->cfg.rollout.constrain_actions) {
        if ((rc = af_planner_model_set_constrain(*out, w->suite, 1)) == 0)
            af_log(AF_LOG_INFO, "planner decode: constrained to the suite's valid actions (rollout.constrain_actions)");
    }
    if (rc == 0) rc = af_world_planner_dtype(w, *out);
    if (rc && *out) {
        af_planner_destroy(*out);
        *out = NULL;
    }
    return rc;
}

void af_world_traj_limits(const AfWorld *w, uint32_t group_size, int world_size, AfTrajLimits *lim) {
    memset(lim, 0, sizeof *lim);
    lim->num_queries = (uint32_t)w->suite->split[AF_SPLIT_TRAIN]->n;
    lim->group_size = group_size;
    lim->vocab_size = (uint32_t)w->model.vocab_size;
    lim->max_turns = w->episode.max_turns;
    lim->max_prompt_tokens = (uint32_t)w->model.max_seq;
    lim->max_action_tokens = w->episode.max_action_tokens;
    lim->max_string_bytes = 1u << 16;
    lim->suite = w->suite->name;
    lim->world_size = world_size;
}

/* XXH64 over a split's questions and answers, each NUL-terminated. */
static uint64_t split_hash(const AfDataset *ds) {
    AfChecksum64State st;
    af_checksum64_reset(&st, 0);
    for (size_t i = 0; i < ds->n; i++) {
        const char *q = ds->items[i].question ? ds->items[i].question : "";
        const char *a = ds->items[i].answer ? ds->items[i].answer : "";
        af_checksum64_update(&st, q, strlen(q) + 1);
        af_checksum64_update(&st, a, strlen(a) + 1);
    }
    return af_checksum64_digest(&st);
}

static void add_module(cJSON *mods, const char *name, const char *backend, const AfModuleConfig *mc) {
    cJSON *o = cJSON_AddObjectToObject(mods, name);
    if (!o) return;
    cJSON_AddStringToObject(o, "backend", backend);
    if (strcmp(backend, "openai") == 0) {
        cJSON_AddStringToObject(o, "url", mc->url);
        cJSON_AddStringToObject(o, "model", mc->model);
        cJSON_AddStringToObject(o, "api_key_env", mc->api_key_env);
        cJSON_AddNumberToObject(o, "timeout_s", mc->timeout_s);
        cJSON_AddNumberToObject(o, "retries", (double)mc->retries);
        cJSON_AddNumberToObject(o, "max_tokens", (double)mc->max_tokens);
        cJSON_AddBoolToObject(o, "seed", mc->send_seed);
        cJSON_AddBoolToObject(o, "logprobs", mc->logprobs);
    } else if (strcmp(backend, "model") == 0) {
        cJSON_AddNumberToObject(o, "max_tokens", (double)(mc->max_tokens > 0 ? mc->max_tokens : AF_MODULE_MODEL_MAX_TOKENS));
    }
}

/* The shape fields of a model both model sections show (seq_key names max_seq). */
static void add_shape(cJSON *x, const AfModelConfig *m, const char *seq_key) {
    cJSON_AddNumberToObject(x, "vocab_size", m->vocab_size);
    cJSON_AddNumberToObject(x, "d_model", m->d_model);
    cJSON_AddNumberToObject(x, "n_layers", m->n_layers);
    cJSON_AddNumberToObject(x, "n_heads", m->n_heads);
    cJSON_AddNumberToObject(x, "n_kv_heads", m->n_kv_heads);
    cJSON_AddNumberToObject(x, "d_ff", m->d_ff);
    cJSON_AddNumberToObject(x, seq_key, m->max_seq);
}

/* The modules' local model: where, how it samples, its shape and memory. */
static void add_module_model(cJSON *o, const AfWorld *w) {
    const AfConfig *c = &w->cfg;
    cJSON *x = cJSON_AddObjectToObject(o, "module_model");
    if (!x) return;
    cJSON_AddStringToObject(x, "dir", c->modules.model.dir);
    cJSON_AddNumberToObject(x, "temperature", c->modules.model.temperature);
    cJSON_AddNumberToObject(x, "top_p", c->modules.model.top_p);
    if (!w->module_model) return; /* a rank that runs no episodes */
    cJSON_AddNumberToObject(x, "context", af_module_model_context(w->module_model));
    add_shape(x, af_module_model_shape(w->module_model), "max_position_embeddings");
    cJSON_AddNumberToObject(x, "n_params", (double)af_module_model_n_params(w->module_model));
    cJSON_AddNumberToObject(x, "bytes", (double)af_module_model_bytes(w->module_model));
}

char *af_world_describe(const AfWorld *w) {
    const AfConfig *c = &w->cfg;
    cJSON *o = cJSON_CreateObject(), *x;
    if (!o) return NULL;
    char hex[32];
    cJSON_AddStringToObject(o, "suite", w->suite->name);
    cJSON_AddNumberToObject(o, "seed", (double)c->run.seed);
    cJSON_AddNumberToObject(o, "attempts", w->suite->attempts);
    cJSON_AddNumberToObject(o, "retries", w->suite->retries);
    cJSON_AddStringToObject(o, "view", w->suite->state_view ? "state" : "try");
    cJSON_AddStringToObject(o, "random_action", w->suite->random_steps ? "step" : "expression");
    cJSON_AddBoolToObject(o, "shuffle", w->train_episode.shuffle);
    if (c->suite.name == AF_SUITE_TASK) {
        cJSON_AddStringToObject(o, "judge", af_config_choice_name("task.judge", c->task.judge));
        cJSON_AddNumberToObject(o, "tolerance", c->task.tolerance);
    }
    static const char *const split_names[2] = {"train", "test"};
    for (int s = 0; s < 2; s++) {
        const AfDataset *ds = w->suite->split[s];
        if (!(x = cJSON_AddObjectToObject(o, split_names[s]))) continue;
        cJSON_AddNumberToObject(x, "questions", (double)ds->n);
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)split_hash(ds));
        cJSON_AddStringToObject(x, "xxh64", hex);
    }
    if ((x = cJSON_AddArrayToObject(o, "tools")))
        for (size_t i = 0; i < w->suite->n_tools; i++) {
            cJSON *t = cJSON_CreateObject();
            if (!t) break;
            cJSON_AddStringToObject(t, "name", w->suite->tools[i]->name);
            cJSON_AddStringToObject(t, "description", w->suite->tools[i]->description);
            if (strcmp(w->suite->tools[i]->name, "python") == 0) {
                cJSON_AddNumberToObject(t, "cpu_s", c->tools.python.cpu_s);
                cJSON_AddNumberToObject(t, "wall_s", c->tools.python.wall_s);
                cJSON_AddNumberToObject(t, "mem_mb", (double)c->tools.python.mem_mb);
                cJSON_AddNumberToObject(t, "output_bytes", (double)c->tools.python.output_bytes);
                cJSON_AddStringToObject(t, "interpreter", c->tools.python.interpreter);
                cJSON_AddStringToObject(t, "isolation",
                                        af_config_choice_name("tools.python.isolation", c->tools.python.isolation));
                cJSON_AddNumberToObject(t, "disk_mb", (double)c->tools.python.disk_mb);
            } else if (strcmp(w->suite->tools[i]->name, "search") == 0 && c->suite.name == AF_SUITE_TASK) {
                cJSON_AddStringToObject(t, "corpus", c->tools.search.corpus);
                cJSON_AddNumberToObject(t, "top_k", (double)c->tools.search.top_k);
                cJSON_AddNumberToObject(t, "max_bytes", (double)c->tools.search.max_bytes);
            } else if (strcmp(w->suite->tools[i]->name, "http") == 0) {
                cJSON_AddStringToObject(t, "url", c->tools.http.url);
                cJSON_AddStringToObject(t, "allow_hosts", c->tools.http.allow_hosts);
                cJSON_AddNumberToObject(t, "timeout_s", c->tools.http.timeout_s);
                cJSON_AddNumberToObject(t, "retries", (double)c->tools.http.retries);
                cJSON_AddNumberToObject(t, "max_bytes", (double)c->tools.http.max_bytes);
            }
            cJSON_AddItemToArray(x, t);
        }
    if ((x = cJSON_AddObjectToObject(o, "modules"))) {
        add_module(x, "executor", w->modules.executor->backend, &c->modules.executor);
        add_module(x, "verifier", w->modules.verifier->backend, &c->modules.verifier);
        add_module(x, "generator", w->modules.generator->backend, &c->modules.generator);
        add_module(x, "judge", w->modules.judge->backend, &c->modules.judge);
    }
    if (c->modules.executor.backend == AF_BACKEND_MODEL || c->modules.verifier.backend == AF_BACKEND_MODEL ||
        c->modules.generator.backend == AF_BACKEND_MODEL || c->modules.judge.backend == AF_BACKEND_MODEL)
        add_module_model(o, w);
    if ((x = cJSON_AddObjectToObject(o, "episode"))) {
        const AfEpisodeSettings *e = &w->episode;
        cJSON_AddNumberToObject(x, "max_turns", e->max_turns);
        cJSON_AddNumberToObject(x, "episode_timeout_s", e->episode_timeout_s);
        cJSON_AddNumberToObject(x, "tool_timeout_s", e->tool_timeout_s);
        cJSON_AddNumberToObject(x, "result_bytes", (double)e->result_bytes);
        cJSON_AddNumberToObject(x, "memory_results", (double)e->memory_results);
        cJSON_AddNumberToObject(x, "max_action_tokens", e->max_action_tokens);
        cJSON_AddStringToObject(x, "policy", e->monolithic ? "monolithic" : "memory");
    }
    if ((x = cJSON_AddObjectToObject(o, "planner"))) {
        const AfModelConfig *m = &w->model;
        add_shape(x, m, "max_seq");
        cJSON_AddNumberToObject(x, "rope_theta", m->rope_theta);
        cJSON_AddNumberToObject(x, "rms_eps", m->rms_eps);
        cJSON_AddBoolToObject(x, "qkv_bias", m->qkv_bias);
        cJSON_AddBoolToObject(x, "tied_embeddings", m->tied_embeddings);
        if (w->text_dir[0]) { /* a planner in text (keys absent on the suite vocabulary) */
            cJSON_AddBoolToObject(x, "text", 1);
            cJSON_AddNumberToObject(x, "head_dim", af_model_config_head_dim(m));
            cJSON_AddBoolToObject(x, "qk_norm", m->qk_norm);
            cJSON_AddBoolToObject(x, "rope_llama3", m->rope_llama3);
        }
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}
