/* agentflow eval: not built yet. */
#include <stdio.h>

#include "launch/commands.h"

int af_cmd_eval(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "agentflow eval: not implemented yet\n");
    return 1;
}
