/* agentflow rollout: argument checking now; the work itself lands with issue 4. */
#include <getopt.h>
#include <string.h>

#include "launch/cli.h"
#include "launch/commands.h"
#include "launch/rollout_show.h"

static const char usage[] =
"usage: agentflow rollout --suite S --query Q [--model DIR | --run-dir DIR] [--seed N] [--greedy]\n"
    "       agentflow rollout --run-dir DIR --show ITERATION:QUERY:SAMPLE\n"
    "Prints one episode: each turn's action, tool call, result and verifier decision, then\n"
    "the answer, the gold answer and the reward.\n";

int af_cmd_rollout(int argc, char **argv) {
    static const struct option opts[] = {
        {"suite", required_argument, 0, 'S'}, {"query", required_argument, 0, 'q'},
        {"model", required_argument, 0, 'm'}, {"run-dir", required_argument, 0, 'r'},
        {"seed", required_argument, 0, 'e'}, {"greedy", no_argument, 0, 'g'},
        {"show", required_argument, 0, 'w'}, {"config", required_argument, 0, 'c'},
        {"set", required_argument, 0, 's'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    /* --run-dir R --show I:Q:S prints a stored trajectory (issue 6, launch/rollout_show.h) */
    const char *show = NULL, *run_dir = NULL;
    for (int i = 1; i + 1 < argc; i++) {
        if (strcmp(argv[i], "--show") == 0) show = argv[i + 1];
        if (strcmp(argv[i], "--run-dir") == 0) run_dir = argv[i + 1];
    }
    if (show) {
        if (!run_dir) return af_cli_usage_error(usage, "rollout", "--show needs --run-dir");
        return af_rollout_show(run_dir, show, stdout);
    }
    return af_cli_stub_command(argc, argv, opts, usage, "rollout", 4);
}
