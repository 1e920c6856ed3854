/* agentflow ckpt: not built yet. */
#include <stdio.h>

#include "launch/commands.h"

int af_cmd_ckpt(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "agentflow ckpt: not implemented yet\n");
    return 1;
}
