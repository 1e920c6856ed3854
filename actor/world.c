/* The world factory: suite, modules, extra tools and episode settings from an AfConfig. */
#include "actor/world.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "actor/modules_openai.h"
#include "common/error.h"
#include "common/log.h"
#include "common/safetensors.h"
#include "env/http_tool.h"
#include "env/python_tool.h"

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

/* The suite keys the built-in suites cannot honour yet: a warning naming each one that
 * differs from its default (training ignores them the same way, so a run's config.json
 * still builds the world it trained in). */
static void warn_suite_keys(const AfConfig *cfg) {
    AfConfig def;
    af_config_defaults(&def);
    if (fabs(cfg->suite.test_fraction - def.suite.test_fraction) > 1e-12)
        AF_LOG_W("config: suite.test_fraction = %g ignored: the built-in splits are fixed (use suite.max_test or data.test)",
                 cfg->suite.test_fraction);
    if (cfg->suite.hops != def.suite.hops)
        AF_LOG_W("config: suite.hops = %lld ignored: multihop mixes 2-4 hop questions (use data.train/data.test)",
                 (long long)cfg->suite.hops);
    if (cfg->suite.entities != def.suite.entities)
        AF_LOG_W("config: suite.entities = %lld ignored: the multihop world size is fixed", (long long)cfg->suite.entities);
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

static int make_modules(AfWorld *w, const AfConfig *cfg) {
    const AfModuleConfig *mc[4] = {&cfg->modules.executor, &cfg->modules.verifier, &cfg->modules.generator,
                                   &cfg->modules.judge};
    static const char *const names[4] = {"executor", "verifier", "generator", "judge"};
    for (int i = 0; i < 4; i++) {
        int openai = !strcmp(mc[i]->backend, "openai"), rc;
        if (!openai && strcmp(mc[i]->backend, "builtin"))
            return af_error_set(AF_ECONFIG, "config: modules.%s.backend: \"%s\" (expected builtin or openai)", names[i],
                                mc[i]->backend);
        AfOpenAIConfig oc;
        if (openai && (rc = openai_cfg(mc[i], names[i], &oc))) return rc;
        switch (i) {
        case 0:
            rc = openai ? af_executor_openai_create(w->suite, &oc, &w->modules.executor)
                        : af_executor_builtin_create(w->suite, &w->modules.executor);
            break;
        case 1:
            rc = openai ? af_verifier_openai_create(w->suite, &oc, &w->modules.verifier)
                        : af_verifier_builtin_create(w->suite, &w->modules.verifier);
            break;
        case 2:
            rc = openai ? af_generator_openai_create(w->suite, &oc, &w->modules.generator)
                        : af_generator_builtin_create(w->suite, &w->modules.generator);
            break;
        default:
            rc = openai ? af_judge_openai_create(w->suite, &oc, &w->modules.judge)
                        : af_judge_builtin_create(w->suite, &w->modules.judge);
            break;
        }
        if (rc) return rc;
    }
    return 0;
}

void af_world_suite_options(const AfConfig *cfg, AfSuiteOptions *o) {
    af_suite_options_default(o);
    o->seed = (uint64_t)cfg->run.seed;
    o->train_jsonl = cfg->data.train[0] ? cfg->data.train : NULL;
    o->test_jsonl = cfg->data.test[0] ? cfg->data.test : NULL;
    o->attempts = (uint32_t)cfg->suite.attempts;
    o->retries = (uint32_t)cfg->suite.retries;
    o->state_view = strcmp(cfg->suite.view, "state") == 0;
}

void af_world_episode_config(const AfConfig *cfg, AfEpisodeConfig *e) {
    af_episode_config_default(e);
    e->max_turns = (uint32_t)cfg->rollout.max_turns;
    e->episode_timeout_s = cfg->rollout.episode_timeout_s;
    e->tool_timeout_s = cfg->rollout.tool_timeout_s;
    e->result_bytes = (size_t)cfg->rollout.result_chars;
    e->max_action_tokens = (uint32_t)cfg->rollout.max_action_tokens;
    e->seed = (uint64_t)cfg->run.seed;
    e->monolithic = strcmp(cfg->algo.policy, "monolithic") == 0;
}

int af_world_create(const AfConfig *cfg, AfWorld **out) {
    if (!cfg || !out) return af_error_set(AF_EINVAL, "world: NULL config or out");
    *out = NULL;
    warn_suite_keys(cfg);
    int rc;
    AfWorld *w = calloc(1, sizeof *w);
    if (!w) return af_error_set(AF_ENOMEM, "world");
    w->cfg = *cfg;

    AfSuiteOptions so;
    af_world_suite_options(cfg, &so);
    if ((rc = af_suite_create(cfg->suite.name, &so, &w->suite))) goto fail;
    cap_split(w->suite->split[AF_SPLIT_TRAIN], cfg->suite.max_train);
    cap_split(w->suite->split[AF_SPLIT_TEST], cfg->suite.max_test);

    if (cfg->tools.python.enabled && (rc = add_python(w, cfg))) goto fail;
    if (cfg->tools.http.url[0] && (rc = add_http(w, cfg))) goto fail;
    if ((rc = make_modules(w, cfg))) goto fail;

    af_world_episode_config(cfg, &w->episode);
    *out = w;
    return 0;
fail:
    af_world_destroy(w);
    return rc;
}

void af_world_destroy(AfWorld *w) {
    if (!w) return;
    af_modules_clear(&w->modules);
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
        return af_planner_openai_create(&oc, out);
    }
    return af_error_set(AF_ENOTFOUND, "planner \"%s\": the world makes oracle, random and openai planners", kind);
}

int af_world_episode(const AfWorld *w, AfPlanner *planner, const AfItem *item, uint32_t iteration,
                     uint32_t query_index, uint32_t sample_index, uint64_t policy_version,
                     Agentflow__Trajectory **out) {
    AfEpisodeConfig e = w->episode;
    e.iteration = iteration;
    e.query_index = query_index;
    e.sample_index = sample_index;
    e.policy_version = policy_version;
    return af_episode_run(w->suite, &w->modules, planner, item, &e, out);
}

int af_world_model_create(const AfWorld *w, const char *dir, AfModel **out) {
    *out = NULL;
    const AfConfig *c = &w->cfg;
    const uint32_t vocab = af_vocab_size(w->suite->vocab);
    AfModel *m = NULL, *src = NULL;
    int rc;
    if (dir && dir[0]) {
        if ((rc = af_model_load_dir(dir, 0, 0, 0, &m))) return af_error_wrap(rc, "model %s", dir);
        if ((uint32_t)m->cfg.vocab_size != vocab) {
            rc = af_error_set(AF_ECONFIG, "model %s: vocabulary of %d tokens, but suite %s has %u (a planner of another suite?)",
                              dir, m->cfg.vocab_size, w->suite->name, vocab);
            goto fail;
        }
        *out = m;
        return 0;
    }
    AfModelConfig mc = af_model_config_default();
    mc.vocab_size = (int)vocab;
    mc.d_model = (int)c->model.d_model;
    mc.n_layers = (int)c->model.n_layers;
    mc.n_heads = (int)c->model.n_heads;
    mc.n_kv_heads = (int)c->model.n_kv_heads;
    mc.d_ff = (int)c->model.d_ff;
    mc.max_seq = (int)c->model.max_seq;
    mc.rope_theta = (float)c->model.rope_theta;
    mc.rms_eps = (float)c->model.rms_eps;
    mc.qkv_bias = c->model.qkv_bias;
    mc.tied_embeddings = c->model.tied_embeddings;
    if ((rc = af_model_config_validate(&mc))) return af_error_wrap(rc, "config: model");
    if ((rc = af_model_create(&mc, 0, 0, 0, &m))) return rc;
    af_model_init_params_std(m, (uint64_t)c->run.seed, c->model.init_std);
    if (c->model.init_from[0]) {
        if ((rc = af_model_load_dir(c->model.init_from, 0, 0, 0, &src))) {
            rc = af_error_wrap(rc, "model.init_from %s", c->model.init_from);
            goto fail;
        }
        if (src->n_params != m->n_params || memcmp(&src->cfg, &m->cfg, sizeof m->cfg) != 0) {
            rc = af_error_set(AF_ECONFIG, "config: model.init_from %s: its shape differs from the configured model.*",
                              c->model.init_from);
            goto fail;
        }
        memcpy(m->params, src->params, m->n_params * sizeof *m->params);
        af_model_destroy(src);
    }
    *out = m;
    return 0;
fail:
    af_model_destroy(src);
    af_model_destroy(m);
    return rc;
}
