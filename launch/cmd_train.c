/* agentflow train: not built yet. */
#include <stdio.h>

#include "launch/commands.h"

int af_cmd_train(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "agentflow train: not implemented yet\n");
    return 1;
}
