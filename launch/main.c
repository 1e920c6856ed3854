/* The agentflow command line: dispatches to the subcommands in launch/cmd_*.c. */
#include <stdio.h>
#include <string.h>

#include "launch/cli.h"
#include "launch/commands.h"

static const char usage[] =
    "usage: agentflow <command> [options]\n"
    "\n"
    "commands:\n"
    "  train     train the planner with Flow-GRPO (under mpirun: actors + learners)\n"
    "  eval      held-out accuracy of a checkpoint or model directory\n"
    "  rollout   run episodes and print their trajectories and a summary\n"
    "  score     log-probabilities of a token sequence under a model directory\n"
    "  ckpt      list | verify | export checkpoints of a run\n"
    "  chat-template  render a conversation with a model's chat template\n"
    "  tokenize  text <-> token ids with a model directory's tokenizer.json\n"
    "\n"
    "  agentflow <command> --help   options of a command\n"
    "  agentflow --version          print the version\n";

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
} Command;

static const Command commands[] = {
    {"train", af_cmd_train}, {"eval", af_cmd_eval},  {"rollout", af_cmd_rollout},
    {"score", af_cmd_score}, {"ckpt", af_cmd_ckpt},
    {"chat-template", af_cmd_chat_template}, {"tokenize", af_cmd_tokenize},
};

int main(int argc, char **argv) {
    if (argc < 2) return af_cli_usage_error(usage, "", "missing command");
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("agentflow %s\n", AF_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    char msg[256];
    snprintf(msg, sizeof msg, "unknown command '%.100s'", argv[1]);
    fprintf(stderr, "agentflow: %s\n%s", msg, usage);
    return 2;
}
