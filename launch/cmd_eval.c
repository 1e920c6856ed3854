/* agentflow eval: argument checking now; the work itself lands with issue 5. */
#include <getopt.h>

#include "launch/cli.h"
#include "launch/commands.h"

static const char usage[] =
"usage: agentflow eval --run-dir DIR | --model DIR [--split test|train | --dataset FILE.jsonl]\n"
    "                      [--suite S] [--max-turns N] [--greedy] [--config FILE] [--set k=v ...]\n"
    "Prints a JSON report: accuracy and the result of every question.\n";

int af_cmd_eval(int argc, char **argv) {
    static const struct option opts[] = {
        {"run-dir", required_argument, 0, 'r'}, {"split", required_argument, 0, 'p'},
        {"dataset", required_argument, 0, 'd'}, {"suite", required_argument, 0, 'S'},
        {"model", required_argument, 0, 'm'}, {"max-turns", required_argument, 0, 't'},
        {"greedy", no_argument, 0, 'g'}, {"config", required_argument, 0, 'c'},
        {"set", required_argument, 0, 's'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    return af_cli_stub_command(argc, argv, opts, usage, "eval", 5);
}
