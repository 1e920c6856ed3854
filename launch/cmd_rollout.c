/* agentflow rollout: run one episode of a question and print it readably: each turn's
 * planner action, tool call and result, verifier decision; then answer, gold, reward. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actor/world.h"
#include "common/error.h"
#include "launch/cli.h"
#include "launch/commands.h"

static const char usage[] =
    "usage: agentflow rollout --suite S --query Q [--planner oracle|random|openai] [--model DIR | --run-dir DIR]\n"
    "                         [--seed N] [--greedy] [--gold G] [--config FILE] [--set k=v ...]\n"
    "       agentflow rollout --run-dir DIR --show ITERATION:QUERY:SAMPLE\n"
    "Prints one episode: each turn's action, tool call, result and verifier decision, then\n"
    "the answer, the gold answer and the reward.\n"
    "  --suite S      game24 | countdown | multihop | arith (the config's suite.name otherwise)\n"
    "  --query Q      the question, in the suite's format (e.g. \"4 7 8 8\" for game24); a\n"
    "                 question of the suite's dataset brings its gold answer\n"
    "  --gold G       gold answer for a question outside the dataset\n"
    "  --planner P    oracle (the suite's solver through the same tools), random (a uniformly\n"
    "                 random valid action) or openai (modules.planner.* served LLM, evaluation only)\n"
    "  --seed N       seed of the episode's sampling stream (default: run.seed)\n"
    "  --greedy       greedy decoding (model planner)\n"
    "Exit status: 0 for a normal episode (whatever its reward), 1 when the episode failed for\n"
    "infrastructure reasons or could not run, 2 for bad usage or configuration.\n";

typedef struct RolloutArgs {
    const char *suite, *query, *gold, *planner, *model_dir, *run_dir, *show;
    int has_seed, greedy;
    uint64_t seed;
    AfCliConfigArgs cfg;
} RolloutArgs;

/* The planner of this rollout. Reference planners (--planner oracle|random) and the served
 * planner (--planner openai, or modules.planner.backend=openai) come from the world; the
 * model planner (--model DIR, --run-dir DIR, or a freshly initialised one by default) is
 * made by actor/planner_model once it exists. Returns 0, or an exit code (1 or 2) after
 * printing the reason. */
static int make_planner(const RolloutArgs *a, const AfWorld *w, AfPlanner **out) {
    const char *kind = a->planner;
    if (!kind && !strcmp(w->cfg.modules.planner.backend, "openai")) kind = "openai";
    if (kind) {
        if (a->model_dir || a->run_dir)
            return af_cli_usage_error(usage, "rollout", "--planner and --model/--run-dir exclude each other");
        int rc = af_world_planner_create(w, kind, out);
        if (rc == AF_ENOTFOUND) {
            char msg[160];
            snprintf(msg, sizeof msg, "--planner: \"%.60s\" (expected oracle, random or openai)", kind);
            return af_cli_usage_error(usage, "rollout", msg);
        }
        if (rc) {
            fprintf(stderr, "agentflow rollout: %s\n", af_error_detail());
            return rc == AF_ECONFIG ? 2 : 1;
        }
        return 0;
    }
    fprintf(stderr,
            "agentflow rollout: the model planner (%s) is not part of this build yet; use --planner oracle|random|openai\n",
            a->model_dir ? "--model" : a->run_dir ? "--run-dir" : "freshly initialised");
    return 1;
}

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
    default: return "(not asked)";
    }
}

/* Prints text on one line, control bytes as spaces. */
static void put_line(const char *label, const char *text) {
    fputs(label, stdout);
    for (const char *p = text ? text : ""; *p; p++) putchar((unsigned char)*p < 32 ? ' ' : *p);
    putchar('\n');
}

static void print_episode(const AfWorld *w, const AfPlanner *p, const Agentflow__Trajectory *t, int found) {
    printf("suite:    %s   planner: %s   seed: %llu   max turns: %u\n", t->suite, p->name,
           (unsigned long long)w->episode.seed, w->episode.max_turns);
    printf("tools:   ");
    for (size_t i = 0; i < w->suite->n_tools; i++) printf(" %s", w->suite->tools[i]->name);
    printf("   modules: executor %s, verifier %s, generator %s, judge %s\n", w->modules.executor->backend,
           w->modules.verifier->backend, w->modules.generator->backend, w->modules.judge->backend);
    put_line("question: ", t->query);
    if (!found) printf("          (not in the suite's dataset)\n");
    for (size_t i = 0; i < t->n_turns; i++) {
        const Agentflow__Turn *u = t->turns[i];
        double lp = 0;
        for (size_t j = 0; j < u->n_behaviour_logprobs; j++) lp += u->behaviour_logprobs[j];
        printf("turn %zu\n", i + 1);
        printf("  planner:  ");
        put_line("", u->action_text);
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

static int parse_args(int argc, char **argv, RolloutArgs *a) {
    static const struct option opts[] = {
        {"suite", required_argument, 0, 'S'},  {"query", required_argument, 0, 'q'},
        {"model", required_argument, 0, 'm'},  {"run-dir", required_argument, 0, 'r'},
        {"seed", required_argument, 0, 'e'},   {"greedy", no_argument, 0, 'g'},
        {"show", required_argument, 0, 'w'},   {"config", required_argument, 0, 'c'},
        {"set", required_argument, 0, 's'},    {"planner", required_argument, 0, 'p'},
        {"gold", required_argument, 0, 'G'},   {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
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
        case 'w': a->show = optarg; break;
        case 'c': a->cfg.config_path = optarg; break;
        case 'p': a->planner = optarg; break;
        case 'G': a->gold = optarg; break;
        case 's':
            if ((rc = af_cli_add_set(&a->cfg, optarg))) return rc;
            break;
        case 'e': {
            char *end = NULL;
            errno = 0;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (errno || !end || *end || optarg[0] == '-' || !optarg[0] || v > 9007199254740991ULL) {
                char msg[160];
                snprintf(msg, sizeof msg, "--seed: expected an integer in [0, 2^53), got \"%.60s\"", optarg);
                return af_cli_usage_error(usage, "rollout", msg);
            }
            a->seed = v;
            a->has_seed = 1;
            break;
        }
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
    if (!a->query) return af_cli_usage_error(usage, "rollout", "--query is required");
    if (a->model_dir && a->run_dir) return af_cli_usage_error(usage, "rollout", "--model and --run-dir exclude each other");
    return 0;
}

int af_cmd_rollout(int argc, char **argv) {
    RolloutArgs a;
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc < 0 ? 0 : rc;
    if (a.show) {
        fprintf(stderr, "agentflow rollout: --show (stored trajectories of a run) is not built yet\n");
        return 1;
    }
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
    Agentflow__Trajectory *t = NULL;
    AfItem item = {0};
    int exit_code = 1;
    rc = af_world_create(&cfg, &w);
    if (rc) {
        fprintf(stderr, "agentflow rollout: %s\n", af_error_detail());
        return rc == AF_ECONFIG ? 2 : 1;
    }
    if (a.has_seed) w->episode.seed = a.seed;
    int found = 0;
    rc = af_suite_item_for(w->suite, a.query, a.gold, &item, &found);
    if (rc) {
        fprintf(stderr, "agentflow rollout: --query: %s\n", af_error_detail());
        exit_code = rc == AF_EINVAL ? 2 : 1;
        goto done;
    }
    if ((exit_code = make_planner(&a, w, &planner))) goto done;
    exit_code = 1;
    if (!strcmp(planner->name, "oracle") && w->episode.max_turns < (uint32_t)w->suite->max_turns) {
        fprintf(stderr, "agentflow rollout: the %s oracle may need %d turns: max turns raised from %u\n", w->suite->name,
                w->suite->max_turns, w->episode.max_turns);
        w->episode.max_turns = (uint32_t)w->suite->max_turns;
    }
    rc = af_world_episode(w, planner, &item, 0, 0, 0, 0, &t);
    if (rc) {
        fprintf(stderr, "agentflow rollout: episode failed: %s\n", af_error_detail());
        goto done;
    }
    print_episode(w, planner, t, found);
    exit_code = t->status == AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_OK ? 0 : 1;
done:
    af_trajectory_free(t);
    af_planner_destroy(planner);
    af_item_clear(&item);
    af_world_destroy(w);
    return exit_code;
}
