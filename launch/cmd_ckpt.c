/* agentflow ckpt: argument checking now; the work itself lands with issue 6. */
#include <getopt.h>
#include <stdio.h>

#include "launch/cli.h"
#include "launch/commands.h"

static const char usage[] =
"usage: agentflow ckpt list|verify|export --run-dir DIR [--step N] [--out DIR]\n"
    "  list     checkpoint steps with their metrics\n"
    "  verify   check every checksum of every checkpoint\n"
    "  export   write a Hugging Face-style model directory (model.safetensors + config.json)\n";

int af_cmd_ckpt(int argc, char **argv) {
    static const struct option opts[] = {
        {"run-dir", required_argument, 0, 'r'}, {"step", required_argument, 0, 'n'},
        {"out", required_argument, 0, 'o'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        if (c == 'h') {
            fputs(usage, stdout);
            return 0;
        }
        if (c == '?' || c == ':') {
            char msg[128];
            snprintf(msg, sizeof msg, "unknown or incomplete option '%.80s'", argv[optind - 1]);
            return af_cli_usage_error(usage, "ckpt", msg);
        }
    }
    fprintf(stderr, "agentflow ckpt: not built yet (issue 6)\n");
    return 1;
}
