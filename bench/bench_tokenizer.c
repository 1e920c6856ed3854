/* Encode throughput of the tokenizer.json BPE on a corpus of JSON-string lines.
 *   bench_tokenizer MODEL_DIR CORPUS [REPEATS]
 * Prints one JSON line {"bytes": B, "seconds": S, "cpu_seconds": C, "tokens": N,
 * "mb_per_s": X}: encode time only (wall and process CPU) (the corpus is read and unescaped first), a freshly loaded tokenizer (cold
 * word cache) run REPEATS times over every line. bench/bench_tokenizer.sh runs this and
 * the JavaScript reference on the same corpus and prints the ratio. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "common/fsutil.h"
#include "common/tokenizer.h"

static double clock_s(clockid_t c) {
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_tokenizer MODEL_DIR CORPUS [REPEATS]\n");
        return 2;
    }
    int repeats = argc > 3 ? atoi(argv[3]) : 1;
    if (repeats < 1) repeats = 1;
    char *data = NULL;
    size_t len = 0;
    if (af_read_file(argv[2], (size_t)1 << 32, &data, &len)) {
        fprintf(stderr, "bench_tokenizer: %s\n", af_error_detail());
        return 1;
    }
    /* texts: all unescaped strings back to back, with their offsets */
    AfBytes texts = {0};
    size_t *off = NULL, n = 0, cap = 0;
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && data[j] != '\n') j++;
        if (j > i) {
            if (n + 2 > cap) {
                cap = cap ? cap * 2 : 1024;
                off = realloc(off, cap * sizeof *off);
                if (!off) return 1;
            }
            off[n] = texts.len;
            const char *err = af_json_string_unescape(data + i, j - i, &texts);
            if (err) {
                fprintf(stderr, "bench_tokenizer: %s: line %zu: %s\n", argv[2], n + 1, err);
                return 2;
            }
            n++;
        }
        i = j + 1;
    }
    if (off) off[n] = texts.len;
    AfTokenizer *tok = NULL;
    if (af_tokenizer_load(argv[1], &tok)) {
        fprintf(stderr, "bench_tokenizer: %s\n", af_error_detail());
        return 2;
    }
    AfTokenIds ids = {0};
    size_t tokens = 0;
    double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    for (int r = 0; r < repeats; r++)
        for (size_t k = 0; k < n; k++) {
            ids.n = 0;
            if (af_tokenizer_encode(tok, texts.data + off[k], off[k + 1] - off[k], &ids)) {
                fprintf(stderr, "bench_tokenizer: line %zu: %s\n", k + 1, af_error_detail());
                return 1;
            }
            tokens += ids.n;
        }
    double s = clock_s(CLOCK_MONOTONIC) - t0, cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    double bytes = (double)texts.len * repeats;
    printf("{\"bytes\": %.0f, \"seconds\": %.6f, \"cpu_seconds\": %.6f, \"tokens\": %zu, \"mb_per_s\": %.3f}\n", bytes,
           s, cpu, tokens, bytes / 1e6 / s);
    af_token_ids_free(&ids);
    af_tokenizer_destroy(tok);
    af_bytes_free(&texts);
    free(off);
    free(data);
    return 0;
}
