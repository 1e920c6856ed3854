/* Shared command-line plumbing: configuration options, usage errors. */
#include "launch/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/error.h"

int af_cli_env_rank(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) return atoi(v);
    }
    return 0;
}

int af_cli_add_set(AfCliConfigArgs *a, const char *assignment) {
    if (a->nsets >= AF_CLI_MAX_SETS) {
        if (af_cli_env_rank() == 0) fprintf(stderr, "agentflow: more than %d --set options\n", AF_CLI_MAX_SETS);
        return 2;
    }
    a->sets[a->nsets++] = assignment;
    return 0;
}

int af_cli_build_config(const AfCliConfigArgs *a, AfConfig *cfg) {
    int rc = 0;
    af_config_defaults(cfg);
    if (a->config_path) rc = af_config_apply_file(cfg, a->config_path);
    for (int i = 0; rc == 0 && i < a->nsets; i++) rc = af_config_apply_set(cfg, a->sets[i]);
    if (rc == 0) rc = af_config_check(cfg);
    if (rc == 0) return 0;
    if (af_cli_env_rank() == 0) fprintf(stderr, "agentflow: %s\n", af_error_detail());
    return 2;
}

int af_cli_usage_error(const char *usage, const char *cmd, const char *msg) {
    if (af_cli_env_rank() == 0) {
        if (msg) fprintf(stderr, "agentflow %s: %s\n", cmd, msg);
        fputs(usage, stderr);
    }
    return 2;
}

int af_cli_parse_u64(const char *usage, const char *cmd, const char *opt, const char *arg, uint64_t lo,
                     uint64_t hi, uint64_t *out) {
    char *end = NULL;
    errno = 0;
    unsigned long long v = arg[0] >= '0' && arg[0] <= '9' ? strtoull(arg, &end, 10) : 0;
    if (!end || *end || errno || v < lo || v > hi) {
        char msg[200];
        snprintf(msg, sizeof msg, "%s: expected an integer in [%llu, %llu], got \"%.60s\"", opt, (unsigned long long)lo,
                 (unsigned long long)hi, arg);
        return af_cli_usage_error(usage, cmd, msg);
    }
    *out = v;
    return 0;
}

void af_cli_print_config_keys(void) {
    printf("| key | type | default | allowed | meaning |\n|---|---|---|---|---|\n");
    for (int i = 0; i < af_config_key_count(); i++) {
        AfConfigKeyInfo k;
        af_config_key_info(i, &k);
        char allowed[128] = "";
        if (k.choices[0]) {
            size_t n = 0;
            for (const char *c = k.choices; *c && n + 4 < sizeof allowed; c++) {
                if (*c == '|') {
                    allowed[n++] = ',';
                    allowed[n++] = ' ';
                } else {
                    allowed[n++] = *c;
                }
            }
            allowed[n] = '\0';
        }
        else if (k.type[0] == 'i' || k.type[0] == 'n') snprintf(allowed, sizeof allowed, "%g .. %g", k.min, k.max);
        printf("| `%s` | %s | `%s` | %s | %s |\n", k.path, k.type, k.default_text, allowed, k.doc);
    }
}

int af_cli_stub_command(int argc, char **argv, const struct option *opts, const char *usage,
                        const char *cmd, int issue) {
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
            return af_cli_usage_error(usage, cmd, msg);
        }
    }
    fprintf(stderr, "agentflow %s: not built yet (issue %d)\n", cmd, issue);
    return 1;
}
