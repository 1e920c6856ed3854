/* agentflow rollout: run episodes of the agent and print them, readably (each turn's
 * planner action, tool call and result, verifier decision; then answer, gold, reward) or
 * as JSON lines, followed by a summary line (accuracy, turns, tool errors). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "actor/planner_model.h"
#include "run/world.h"
#include "common/error.h"
#include "launch/cli.h"
#include "launch/commands.h"
#include "launch/rollout_show.h"

static const char usage[] =
    "usage: agentflow rollout [--suite S] (--query Q | --n N|all) [--split test|train] [--seed X]\n"
    "                         [--planner random|oracle|model|openai] [--model DIR | --run-dir DIR]\n"
    "                         [--greedy] [--json] [--gold G] [--config FILE] [--set k=v ...]\n"
    "       agentflow rollout --run-dir DIR --show ITERATION:QUERY:SAMPLE\n"
    "Runs episodes and prints each: the planner's action, the tool call and its result and the\n"
    "verifier's decision per turn, then the answer, the gold answer and the reward; then one\n"
    "summary line (accuracy, mean turns, tool errors).\n"
    "  --suite S      game24 | countdown | multihop | arith (default: the config's suite.name)\n"
    "  --query Q      one question in the suite's format (e.g. \"4 7 8 8\" for game24); a question\n"
    "                 of the suite's dataset brings its gold answer. With --n: N samples of it\n"
    "  --n N          N episodes: questions 0, 1, ... of the split in order (sample k of a\n"
    "                 question after the split wraps around k times); default 1. --n all: one\n"
    "                 episode per question of the split\n"
    "  --split P      split the --n questions come from (default test)\n"
    "  --seed X       seed of the episodes' sampling streams (default run.seed; the suite's\n"
    "                 questions and splits always come from run.seed)\n"
    "  --planner P    random (builtin-random: a uniformly random valid action), oracle\n"
    "                 (builtin-oracle: the suite's solver through the same tools), model (the\n"
    "                 native policy; the default) or openai (modules.planner.*: a served LLM,\n"
    "                 evaluation only; the default when modules.planner.backend is openai)\n"
    "  --model DIR    the model planner from a Hugging Face-style directory (config.json +\n"
    "                 model.safetensors); without it the model planner is freshly initialised\n"
    "                 from run.seed (or model.init_from)\n"
    "  --run-dir DIR  a training run: its config.json (unless --config) and DIR/model\n"
    "  --greedy       greedy decoding (model planner; temperature 0 for a served planner);\n"
    "                 else rollout.temperature and rollout.top_p\n"
    "  --json         one JSON object per episode, then {\"summary\": ...}\n"
    "  --gold G       gold answer for a --query outside the dataset\n"
    "  --show I:Q:S   print a trajectory a training run stored (run.store_trajectories)\n"
    "Exit status: 0 when every episode ended normally (whatever its reward), 1 when one failed\n"
    "for infrastructure reasons or timed out, or could not run, 2 for bad usage or configuration.\n";

typedef struct RolloutArgs {
    const char *suite, *query, *gold, *planner, *model_dir, *run_dir, *show, *split;
    int has_seed, greedy, json, all;
    uint64_t seed, n;
    AfCliConfigArgs cfg;
    char run_config[1100], run_model[1100];
} RolloutArgs;

typedef struct Summary {
    uint64_t episodes, correct, turns, tool_calls, tool_errors, bad_actions, infra, timeouts;
    double reward;
} Summary;

/* ------------------------------------------------------------------ printing */

static const char *status_name(Agentflow__TrajectoryStatus s) {
    switch (s) {
    case AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_OK: return "ok";
    case AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_INFRA_FAILED: return "infra_failed";
    case AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_TIMEOUT: return "timeout";
    default: return "unknown";
    }
}

static const char *verifier_name(Agentflow__VerifierDecision d) {
    switch (d) {
    case AGENTFLOW__VERIFIER_DECISION__VERIFIER_DECISION_STOP: return "stop";
    case AGENTFLOW__VERIFIER_DECISION__VERIFIER_DECISION_CONTINUE: return "continue";
    default: return "not_asked";
    }
}

/* Prints text on one line, control bytes as spaces. */
static void put_line(const char *label, const char *text) {
    fputs(label, stdout);
    for (const char *p = text ? text : ""; *p; p++) putchar((unsigned char)*p < 32 ? ' ' : *p);
    putchar('\n');
}

static void print_header(const AfWorld *w, const AfPlanner *p) {
    printf("suite:    %s   planner: %s   seed: %llu   max turns: %u\n", w->suite->name, p->name,
           (unsigned long long)w->episode.seed, w->episode.max_turns);
    printf("tools:   ");
    for (size_t i = 0; i < w->suite->n_tools; i++) printf(" %s", w->suite->tools[i]->name);
    printf("   modules: executor %s, verifier %s, generator %s, judge %s\n", w->modules.executor->backend,
           w->modules.verifier->backend, w->modules.generator->backend, w->modules.judge->backend);
}

static void print_episode(const Agentflow__Trajectory *t, uint64_t episode, int found) {
    printf("episode %llu (query %u, sample %u)\n", (unsigned long long)episode, t->query_index, t->sample_index);
    put_line("question: ", t->query);
    if (!found) printf("          (not in the suite's dataset)\n");
    for (size_t i = 0; i < t->n_turns; i++) {
        const Agentflow__Turn *u = t->turns[i];
        double lp = 0;
        for (size_t j = 0; j < u->n_behaviour_logprobs; j++) lp += u->behaviour_logprobs[j];
        printf("turn %zu\n", i + 1);
        put_line("  planner:  ", u->action_text);
        printf("            (%zu prompt tokens, %zu action tokens, log-prob %.4f)\n", u->n_prompt_tokens,
               u->n_action_tokens, lp);
        if (u->tool && u->tool[0]) {
            printf("  tool:     %s ", u->tool);
            put_line("", u->argument);
        } else {
            printf("  tool:     (no call)\n");
        }
        if (u->sub_goal && u->sub_goal[0]) put_line("  goal:     ", u->sub_goal);
        printf("  result:   [%s] ", af_tool_status_name((AfToolStatus)u->tool_status));
        put_line("", u->result);
        printf("  verifier: %s\n", verifier_name(u->verifier));
    }
    put_line("answer:   ", t->answer);
    put_line("gold:     ", t->gold && t->gold[0] ? t->gold : "(none: the judge checks the answer against the question)");
    printf("reward:   %g\n", (double)t->reward);
    printf("status:   %s", status_name(t->status));
    if (t->status_detail && t->status_detail[0]) put_line(" - ", t->status_detail);
    else putchar('\n');
}

/* A new object appended to arr; NULL (nothing leaked) when either step fails. */
static cJSON *array_push_object(cJSON *arr) {
    cJSON *j = cJSON_CreateObject();
    if (j && !cJSON_AddItemToArray(arr, j)) {
        cJSON_Delete(j);
        j = NULL;
    }
    return j;
}

/* One JSON line per episode. Wall times are left out, so that the same seed prints the
 * same bytes. Returns 0 or AF_ENOMEM. */
static int print_json(const Agentflow__Trajectory *t, uint64_t episode) {
    cJSON *o = cJSON_CreateObject(), *turns = NULL;
    int ok = o && cJSON_AddNumberToObject(o, "episode", (double)episode) && cJSON_AddStringToObject(o, "suite", t->suite) &&
             cJSON_AddNumberToObject(o, "query_index", t->query_index) &&
             cJSON_AddNumberToObject(o, "sample_index", t->sample_index) && cJSON_AddStringToObject(o, "query", t->query) &&
             (turns = cJSON_AddArrayToObject(o, "turns"));
    for (size_t i = 0; ok && i < t->n_turns; i++) {
        const Agentflow__Turn *u = t->turns[i];
        cJSON *j = array_push_object(turns);
        if (!(ok = j != NULL)) break;
        double lp = 0;
        for (size_t k = 0; k < u->n_behaviour_logprobs; k++) lp += u->behaviour_logprobs[k];
        cJSON *ids = cJSON_CreateArray();
        ok = ids && cJSON_AddItemToObject(j, "action_tokens", ids);
        if (!ok) cJSON_Delete(ids);
        for (size_t k = 0; ok && k < u->n_action_tokens; k++) {
            cJSON *v = cJSON_CreateNumber(u->action_tokens[k]);
            ok = v && cJSON_AddItemToArray(ids, v);
            if (!ok) cJSON_Delete(v);
        }
        ok = ok && cJSON_AddStringToObject(j, "action", u->action_text ? u->action_text : "") &&
             cJSON_AddStringToObject(j, "sub_goal", u->sub_goal ? u->sub_goal : "") &&
             cJSON_AddStringToObject(j, "tool", u->tool ? u->tool : "") &&
             cJSON_AddStringToObject(j, "argument", u->argument ? u->argument : "") &&
             cJSON_AddStringToObject(j, "result", u->result ? u->result : "") &&
             cJSON_AddStringToObject(j, "tool_status", af_tool_status_name((AfToolStatus)u->tool_status)) &&
             cJSON_AddStringToObject(j, "verifier", verifier_name(u->verifier)) &&
             cJSON_AddNumberToObject(j, "prompt_tokens", (double)u->n_prompt_tokens) &&
             cJSON_AddNumberToObject(j, "logprob", lp);
    }
    ok = ok && cJSON_AddStringToObject(o, "answer", t->answer) && cJSON_AddStringToObject(o, "gold", t->gold) &&
         cJSON_AddNumberToObject(o, "reward", t->reward) && cJSON_AddStringToObject(o, "status", status_name(t->status)) &&
         cJSON_AddStringToObject(o, "status_detail", t->status_detail ? t->status_detail : "");
    cJSON *calls = ok && t->n_module_calls ? cJSON_AddArrayToObject(o, "module_calls") : NULL; /* log-probs of module replies */
    if (ok && t->n_module_calls && !calls) ok = 0;
    for (size_t i = 0; ok && i < t->n_module_calls; i++) {
        const Agentflow__ModuleCall *m = t->module_calls[i];
        cJSON *j = array_push_object(calls);
        if (!(ok = j != NULL)) break;
        ok = cJSON_AddStringToObject(j, "module", m->module) && cJSON_AddNumberToObject(j, "turn", m->turn) &&
             cJSON_AddNumberToObject(j, "logprob", m->logprob) && cJSON_AddNumberToObject(j, "tokens", m->tokens);
    }
    char *s = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!s) return af_error_set(AF_ENOMEM, "rollout: JSON line");
    puts(s);
    free(s);
    return 0;
}

static void tally(Summary *s, const Agentflow__Trajectory *t) {
    s->episodes++;
    s->reward += t->reward;
    s->correct += t->reward >= 1.0f;
    s->turns += t->n_turns;
    s->infra += t->status == AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_INFRA_FAILED;
    s->timeouts += t->status == AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_TIMEOUT;
    for (size_t i = 0; i < t->n_turns; i++) {
        AfToolStatus st = (AfToolStatus)t->turns[i]->tool_status;
        int called = t->turns[i]->tool && t->turns[i]->tool[0];
        if (st == AF_TOOL_INFRA_ERROR && !called) continue; /* the planner or a module failed: counted as infra_failed */
        s->tool_calls += called && st != AF_TOOL_NO_CALL && st != AF_TOOL_BAD_ACTION;
        s->tool_errors += st != AF_TOOL_OK && st != AF_TOOL_NO_CALL;
        s->bad_actions += st == AF_TOOL_BAD_ACTION;
    }
}

static void print_summary(const Summary *s, const AfWorld *w, const AfPlanner *p, int json) {
    double n = s->episodes ? (double)s->episodes : 1.0;
    if (json) {
        printf("{\"summary\":{\"suite\":\"%s\",\"planner\":\"%s\",\"episodes\":%llu,\"accuracy\":%.6f,\"mean_reward\":%.6f,"
               "\"mean_turns\":%.4f,\"tool_calls\":%llu,\"tool_errors\":%llu,\"bad_actions\":%llu,\"infra_failed\":%llu,"
               "\"timeouts\":%llu}}\n",
               w->suite->name, p->name, (unsigned long long)s->episodes, (double)s->correct / n, s->reward / n,
               (double)s->turns / n, (unsigned long long)s->tool_calls, (unsigned long long)s->tool_errors,
               (unsigned long long)s->bad_actions, (unsigned long long)s->infra, (unsigned long long)s->timeouts);
    } else {
        printf("summary: suite %s planner %s episodes %llu accuracy %.4f mean_reward %.4f mean_turns %.2f tool_calls %llu "
               "tool_errors %llu (bad actions %llu) infra_failed %llu timeouts %llu\n",
               w->suite->name, p->name, (unsigned long long)s->episodes, (double)s->correct / n, s->reward / n,
               (double)s->turns / n, (unsigned long long)s->tool_calls, (unsigned long long)s->tool_errors,
               (unsigned long long)s->bad_actions, (unsigned long long)s->infra, (unsigned long long)s->timeouts);
    }
}

/* ------------------------------------------------------------------ set-up */

static int parse_args(int argc, char **argv, RolloutArgs *a) {
    static const struct option opts[] = {
        {"suite", required_argument, 0, 'S'},  {"query", required_argument, 0, 'q'},
        {"model", required_argument, 0, 'm'},  {"run-dir", required_argument, 0, 'r'},
        {"seed", required_argument, 0, 'e'},   {"greedy", no_argument, 0, 'g'},
        {"show", required_argument, 0, 'w'},   {"config", required_argument, 0, 'c'},
        {"set", required_argument, 0, 's'},    {"planner", required_argument, 0, 'p'},
        {"gold", required_argument, 0, 'G'},   {"n", required_argument, 0, 'n'},
        {"split", required_argument, 0, 'P'},  {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    int c, rc;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': fputs(usage, stdout); return -1;
        case 'S': a->suite = optarg; break;
        case 'q': a->query = optarg; break;
        case 'm': a->model_dir = optarg; break;
        case 'r': a->run_dir = optarg; break;
        case 'g': a->greedy = 1; break;
        case 'j': a->json = 1; break;
        case 'w': a->show = optarg; break;
        case 'c': a->cfg.config_path = optarg; break;
        case 'p': a->planner = optarg; break;
        case 'G': a->gold = optarg; break;
        case 'P': a->split = optarg; break;
        case 's':
            if ((rc = af_cli_add_set(&a->cfg, optarg))) return rc;
            break;
        case 'e':
            if ((rc = af_cli_parse_u64(usage, "rollout", "--seed", optarg, 0, 9007199254740991ULL, &a->seed))) return rc;
            a->has_seed = 1;
            break;
        case 'n':
            if (!strcmp(optarg, "all")) a->all = 1;
            else if ((rc = af_cli_parse_u64(usage, "rollout", "--n", optarg, 1, 100000000ULL, &a->n))) return rc;
            break;
        default: {
            char msg[128];
            snprintf(msg, sizeof msg, "unknown or incomplete option '%.80s'", argv[optind - 1]);
            return af_cli_usage_error(usage, "rollout", msg);
        }
        }
    }
    if (optind < argc) {
        char msg[128];
        snprintf(msg, sizeof msg, "unexpected argument '%.80s'", argv[optind]);
        return af_cli_usage_error(usage, "rollout", msg);
    }
    if (a->show) {
        if (!a->run_dir) return af_cli_usage_error(usage, "rollout", "--show needs --run-dir");
        return 0;
    }
    if (!a->query && !a->n && !a->all) return af_cli_usage_error(usage, "rollout", "--query Q or --n N is required");
    if (a->query && a->all) return af_cli_usage_error(usage, "rollout", "--n all applies to a split, not to --query");
    if (a->query && a->split) return af_cli_usage_error(usage, "rollout", "--split applies to --n without --query");
    if (a->split && strcmp(a->split, "test") && strcmp(a->split, "train"))
        return af_cli_usage_error(usage, "rollout", "--split: expected test or train");
    if (a->gold && !a->query) return af_cli_usage_error(usage, "rollout", "--gold needs --query");
    if (a->model_dir && a->run_dir) return af_cli_usage_error(usage, "rollout", "--model and --run-dir exclude each other");
    if (!a->n) a->n = 1;
    if (a->planner) { /* canonical names */
        if (!strcmp(a->planner, "builtin-random")) a->planner = "random";
        else if (!strcmp(a->planner, "builtin-oracle")) a->planner = "oracle";
        if (strcmp(a->planner, "random") && strcmp(a->planner, "oracle") && strcmp(a->planner, "model") &&
            strcmp(a->planner, "openai")) {
            char msg[160];
            snprintf(msg, sizeof msg, "--planner: \"%.60s\" (expected random, oracle, model or openai)", a->planner);
            return af_cli_usage_error(usage, "rollout", msg);
        }
        if ((a->model_dir || a->run_dir) && strcmp(a->planner, "model"))
            return af_cli_usage_error(usage, "rollout", "--model/--run-dir give a model planner: not with --planner other than model");
    }
    if (a->run_dir) {
        snprintf(a->run_model, sizeof a->run_model, "%s/model", a->run_dir);
        a->model_dir = a->run_model;
        snprintf(a->run_config, sizeof a->run_config, "%s/config.json", a->run_dir);
        if (!a->cfg.config_path && access(a->run_config, R_OK) == 0) a->cfg.config_path = a->run_config;
    }
    return 0;
}

/* The planner of this rollout (and the model behind it, if any). Returns 0, or an exit
 * code after printing the reason. */
static int make_planner(const RolloutArgs *a, const AfWorld *w, AfPlanner **out, AfModel **model) {
    const char *kind = a->planner;
    if (!kind) kind = !a->model_dir && w->cfg.modules.planner.backend == AF_BACKEND_OPENAI ? "openai" : "model";
    int rc;
    if (!strcmp(kind, "model")) {
        if ((rc = af_world_model_create(w, a->model_dir, model))) goto fail;
        AfSampler s = {.temperature = a->greedy ? 0.0f : (float)w->cfg.rollout.temperature,
                       .top_p = (float)w->cfg.rollout.top_p, .top_k = (int)w->cfg.rollout.top_k};
        if ((rc = af_world_model_planner(w, a->model_dir, *model, &s, out))) goto fail;
        return 0;
    }
    if ((rc = af_world_planner_create(w, kind, out))) goto fail;
    return 0;
fail:
    fprintf(stderr, "agentflow rollout: %s\n", af_error_detail());
    return rc == AF_ECONFIG ? 2 : 1;
}

int af_cmd_rollout(int argc, char **argv) {
    RolloutArgs a;
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc < 0 ? 0 : rc;
    if (a.show) return af_rollout_show(a.run_dir, a.show, stdout); /* run.store_trajectories */
    AfConfig cfg;
    if ((rc = af_cli_build_config(&a.cfg, &cfg))) return rc;
    if (a.suite) {
        char set[96];
        snprintf(set, sizeof set, "suite.name=%.60s", a.suite);
        if (af_config_apply_set(&cfg, set)) {
            char msg[300];
            snprintf(msg, sizeof msg, "--suite: %s", af_error_detail());
            return af_cli_usage_error(usage, "rollout", msg);
        }
    }
    AfWorld *w = NULL;
    AfPlanner *planner = NULL;
    AfModel *model = NULL;
    AfItem item = {0};
    int exit_code = 1;
    rc = af_world_create_in(&cfg, a.model_dir, 0, &w); /* a planner in text: its directory */
    if (rc) {
        fprintf(stderr, "agentflow rollout: %s\n", af_error_detail());
        return rc == AF_ECONFIG ? 2 : 1;
    }
    if (a.has_seed) w->episode.seed = a.seed;
    if (a.greedy) w->cfg.rollout.temperature = 0.0; /* read by the served planner; the model planner gets a greedy sampler */
    int found = 1;
    const AfDataset *ds = NULL;
    if (a.query) {
        rc = af_suite_item_for(w->suite, a.query, a.gold, &item, &found);
        if (rc) {
            fprintf(stderr, "agentflow rollout: --query: %s\n", af_error_detail());
            exit_code = rc == AF_EINVAL ? 2 : 1;
            goto done;
        }
        if (a.n - 1 > AF_RNG_MAX_SAMPLE) {
            exit_code = af_cli_usage_error(usage, "rollout", "--n: too many samples of one question");
            goto done;
        }
    } else {
        ds = af_suite_split(w->suite, a.split && !strcmp(a.split, "train") ? AF_SPLIT_TRAIN : AF_SPLIT_TEST);
        if (a.all) a.n = ds->n;
        if (ds->n == 0 || (a.n - 1) / ds->n > AF_RNG_MAX_SAMPLE) {
            fprintf(stderr, "agentflow rollout: the %s split has %zu questions: cannot run %llu episodes\n",
                    a.split ? a.split : "test", ds->n, (unsigned long long)a.n);
            goto done;
        }
    }
    if ((exit_code = make_planner(&a, w, &planner, &model))) goto done;
    exit_code = 1;
    if (!strcmp(planner->name, "oracle") && w->episode.max_turns < (uint32_t)w->suite->max_turns) {
        fprintf(stderr, "agentflow rollout: the %s oracle may need %d turns: max turns raised from %u\n", w->suite->name,
                w->suite->max_turns, w->episode.max_turns);
        w->episode.max_turns = (uint32_t)w->suite->max_turns;
    }
    if (!a.json) print_header(w, planner);
    Summary sum = {0};
    /* a model planner decodes up to G episodes' turns together (rollout.group_decode; the
     * same episodes as one at a time), printed in order */
    if (!strcmp(planner->name, "model") && (rc = af_world_planner_group(w, planner, (int)w->cfg.rollout.group_size))) {
        fprintf(stderr, "agentflow rollout: %s\n", af_error_detail());
        goto done;
    }
    const uint64_t K = planner->act_group ? planner->group : 1;
    rc = 0;
    const AfItem *items[AF_EPISODE_GROUP_MAX];
    AfEpisodeId ids[AF_EPISODE_GROUP_MAX];
    Agentflow__Trajectory *ts[AF_EPISODE_GROUP_MAX];
    int rcs[AF_EPISODE_GROUP_MAX];
    static char details[AF_EPISODE_GROUP_MAX][AF_EPISODE_DETAIL];
    for (uint64_t i0 = 0; i0 < a.n; i0 += K) {
        const size_t m = (size_t)(a.n - i0 < K ? a.n - i0 : K);
        for (size_t j = 0; j < m; j++) {
            const uint64_t i = i0 + j;
            items[j] = a.query ? &item : &ds->items[i % ds->n];
            ids[j] = (AfEpisodeId){.query_index = a.query ? 0 : (uint32_t)(i % ds->n),
                                   .sample_index = (uint32_t)(a.query ? i : i / ds->n)};
        }
        if (K == 1) {
            ts[0] = NULL;
            if ((rcs[0] = af_world_episode(w, planner, items[0], &ids[0], &ts[0])))
                snprintf(details[0], sizeof details[0], "%s", af_error_detail());
        } else {
            af_world_episode_group(w, planner, items, ids, m, ts, rcs, details);
        }
        for (size_t j = 0; j < m; j++) {
            Agentflow__Trajectory *t = ts[j];
            if (rc == 0 && rcs[j]) {
                fprintf(stderr, "agentflow rollout: episode %llu (query %u, sample %u) failed: %s\n",
                        (unsigned long long)(i0 + j), ids[j].query_index, ids[j].sample_index, details[j]);
                rc = rcs[j];
            }
            if (rc == 0) {
                tally(&sum, t);
                if (a.json) rc = print_json(t, i0 + j);
                else print_episode(t, i0 + j, found);
                if (rc) fprintf(stderr, "agentflow rollout: %s\n", af_error_detail());
            }
            af_trajectory_free(t);
        }
        if (rc) goto done;
    }
    print_summary(&sum, w, planner, a.json);
    exit_code = sum.infra || sum.timeouts ? 1 : 0;
done:
    fflush(stdout);
    af_planner_destroy(planner);
    af_model_destroy(model);
    af_item_clear(&item);
    af_world_destroy(w);
    return exit_code;
}
