/* Shared command-line plumbing of the agentflow subcommands: the configuration
 * options (--config, --set), usage errors, and the rank guess used before MPI is up. */
#ifndef AF_LAUNCH_CLI_H
#define AF_LAUNCH_CLI_H

#include <stdint.h>

#include "common/config.h"

#define AF_CLI_MAX_SETS 256

typedef struct AfCliConfigArgs {
    const char *config_path;               /* --config FILE, or NULL */
    const char *sets[AF_CLI_MAX_SETS];     /* --set k=v, in order */
    int nsets;
} AfCliConfigArgs;

/* Record one --set; returns 0, or 2 after printing an error if there are too many. */
int af_cli_add_set(AfCliConfigArgs *a, const char *assignment);

/* defaults -> --config file -> --set overrides -> cross-key checks. On error prints one
 * line "agentflow: <detail>" (on the first rank only) and returns 2; else 0. */
int af_cli_build_config(const AfCliConfigArgs *a, AfConfig *cfg);

/* World rank from the launcher's environment (Open MPI, PMI, SLURM), 0 if none: lets a
 * command print argument errors once, before MPI_Init. */
int af_cli_env_rank(void);

/* Print "agentflow <cmd>: <msg>" and the usage text to stderr (first rank only); returns 2. */
int af_cli_usage_error(const char *usage, const char *cmd, const char *msg);

/* Parse a decimal integer option value in [lo, hi] (no sign, no trailing text, no
 * overflow). Returns 0 with *out set, else a usage error naming the option (2). */
int af_cli_parse_u64(const char *usage, const char *cmd, const char *opt, const char *arg, uint64_t lo,
                     uint64_t hi, uint64_t *out);

/* A command whose work is not built yet: parses its options (--help prints the usage
 * and returns 0; an unknown option is a usage error, 2), then says which issue brings
 * it and returns 1. */
struct option;
int af_cli_stub_command(int argc, char **argv, const struct option *opts, const char *usage,
                        const char *cmd, int issue);

/* Print every configuration key as a Markdown table (for README.md and --help-config). */
void af_cli_print_config_keys(void);

#endif
