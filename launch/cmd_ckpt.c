/* agentflow ckpt: argument checking now; the work itself lands with issue 6. */
#include <getopt.h>

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
    return af_cli_stub_command(argc, argv, opts, usage, "ckpt", 6);
}
