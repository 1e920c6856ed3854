/* agentflow rollout: not built yet. */
#include <stdio.h>

#include "launch/commands.h"

int af_cmd_rollout(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "agentflow rollout: not implemented yet\n");
    return 1;
}
