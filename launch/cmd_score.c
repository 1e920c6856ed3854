/* agentflow score --model DIR --tokens "ID ID ...": per-token log-probabilities of a
 * token sequence under a Hugging Face-style model directory, as JSON on stdout. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/model.h"
#include "common/safetensors.h"
#include "launch/commands.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: agentflow score --model DIR --tokens \"ID ID ...\" [--temperature T] [--threads N]\n"
            "  Prints {\"logprobs\": [...]}: log p(token_i | tokens before it) for i >= 1, one\n"
            "  number per token after the first (temperature 1 unless given). DIR holds\n"
            "  config.json and model.safetensors (Hugging Face Llama/Qwen2 names).\n");
}

int af_cmd_score(int argc, char **argv) {
    const char *dir = NULL, *toks = NULL;
    float temp = 1.0f;
    int threads = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "agentflow score: %s needs a value\n", argv[i]);
            usage(stderr);
            return 2;
        }
        char *end = NULL;
        if (strcmp(argv[i], "--model") == 0) dir = argv[++i];
        else if (strcmp(argv[i], "--tokens") == 0) toks = argv[++i];
        else if (strcmp(argv[i], "--temperature") == 0) {
            temp = strtof(argv[++i], &end);
            if (!end || *end || !(temp > 0)) {
                fprintf(stderr, "agentflow score: --temperature: expected a number > 0, got \"%s\"\n", argv[i]);
                return 2;
            }
        } else if (strcmp(argv[i], "--threads") == 0) {
            threads = (int)strtol(argv[++i], &end, 10);
            if (!end || *end || threads < 1 || threads > 1024) {
                fprintf(stderr, "agentflow score: --threads: expected 1..1024, got \"%s\"\n", argv[i]);
                return 2;
            }
        } else {
            fprintf(stderr, "agentflow score: unknown option %s\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!dir || !toks) {
        fprintf(stderr, "agentflow score: --model and --tokens are required\n");
        usage(stderr);
        return 2;
    }
    /* parse the token ids */
    size_t cap = strlen(toks) / 2 + 2;
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids) return 1;
    int n = 0;
    const char *p = toks;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == ',' || *p == '\n') p++;
        if (!*p) break;
        char *end = NULL;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v > 0x7fffffff || (*end && *end != ' ' && *end != '\t' && *end != ',' && *end != '\n')) {
            fprintf(stderr, "agentflow score: --tokens: token %d is not a non-negative integer (\"%.20s\")\n", n, p);
            free(ids);
            return 2;
        }
        ids[n++] = (int32_t)v;
        p = end;
    }
    if (n < 1) {
        fprintf(stderr, "agentflow score: --tokens: no token ids given\n");
        free(ids);
        return 2;
    }
    af_model_set_threads(threads);
    AfModel *m = NULL;
    int rc = af_model_load_dir(dir, n, 1, 0, &m);
    if (rc) { /* a directory that does not parse or is not understood: bad input, exit 2 */
        fprintf(stderr, "agentflow score: %s: %s\n", af_strerror(rc), af_error_detail());
        free(ids);
        return rc == AF_EFORMAT || rc == AF_ECONFIG ? 2 : 1;
    }
    float *lp = malloc((size_t)n * sizeof *lp);
    int seq[2] = {0, n};
    rc = lp ? af_model_forward(m, ids, seq, 1, temp, lp, NULL) : AF_ENOMEM;
    if (rc) {
        fprintf(stderr, "agentflow score: %s: %s\n", af_strerror(rc), af_error_detail());
        free(lp);
        free(ids);
        af_model_destroy(m);
        return rc == AF_EINVAL ? 2 : 1;
    }
    printf("{\"logprobs\": [");
    for (int i = 1; i < n; i++) printf("%s%.9g", i > 1 ? ", " : "", lp[i]);
    printf("]}\n");
    free(lp);
    free(ids);
    af_model_destroy(m);
    return 0;
}
