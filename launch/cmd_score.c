/* agentflow score: not built yet. */
#include <stdio.h>

#include "launch/commands.h"

int af_cmd_score(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "agentflow score: not implemented yet\n");
    return 1;
}
