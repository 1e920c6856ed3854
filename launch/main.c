/* The agentflow command line: dispatches to the subcommands in launch/cmd_*.c. */
#include <stdio.h>
#include <string.h>

#include "launch/commands.h"

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
        printf("agentflow %s\n", AF_VERSION);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "score") == 0) return af_cmd_score(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "train") == 0) return af_cmd_train(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "eval") == 0) return af_cmd_eval(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "rollout") == 0) return af_cmd_rollout(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "ckpt") == 0) return af_cmd_ckpt(argc - 1, argv + 1);
    fprintf(stderr, "usage: agentflow train|eval|rollout|score|ckpt ... | --version\n");
    return 2;
}
