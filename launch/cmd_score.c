/* agentflow score: argument checking now; the model lands with issue 3. */
#include <stdio.h>
#include <string.h>

#include "launch/cli.h"
#include "launch/commands.h"

static const char usage[] = "usage: agentflow score --model DIR --tokens \"ID ID ID ...\"\n";

int af_cmd_score(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        }
    (void)argc;
    fprintf(stderr, "agentflow score: not built yet (issue 3)\n");
    return 1;
}
