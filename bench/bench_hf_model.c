/* A real-size Hugging Face model on this machine: a Qwen2.5-0.5B-shaped model (random
 * weights, 494M parameters, vocabulary 151,936) loaded from a bf16 safetensors
 * directory, scored and decoded at batch 1.
 *
 *   bench_hf_model gen DIR      write DIR: config.json as Qwen2.5-0.5B-Instruct's (kept
 *                               through the export), model.safetensors in BF16, made by
 *                               af_model_export_dir from a random init (seed 1)
 *   bench_hf_model run DIR [--score-tokens N] [--prompt N] [--decode N] [--threads LIST]
 *                          [--csv PATH]
 *       prints (and writes as CSV, default bench/results/hf_model.csv): load time,
 *       score (one forward of N tokens) time, decode tokens/s at batch 1 for each thread
 *       count, VmHWM (peak resident memory) after all of them, and the memory bandwidth
 *       of a 512 MiB memcpy measured in the same run, for context: decode at batch 1
 *       reads every fp32 weight once per token, so weight bytes x tokens/s is the
 *       bandwidth decode achieves.
 * Run it as two processes (gen, then run) so the peak memory is the reader's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/decode.h"
#include "common/error.h"
#include "common/model.h"
#include "common/safetensors.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_now(void) { /* CPU seconds of the whole process (all threads) */
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static long vm_kb(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, n) == 0) v = atol(line + n + 1);
    if (f) fclose(f);
    return v;
}

static const char qwen25_config[] =
    "{\n  \"architectures\": [\"Qwen2ForCausalLM\"],\n  \"attention_dropout\": 0.0,\n"
    "  \"bos_token_id\": 151643,\n  \"eos_token_id\": 151645,\n  \"hidden_act\": \"silu\",\n"
    "  \"hidden_size\": 896,\n  \"initializer_range\": 0.02,\n  \"intermediate_size\": 4864,\n"
    "  \"max_position_embeddings\": 32768,\n  \"max_window_layers\": 21,\n  \"model_type\": \"qwen2\",\n"
    "  \"num_attention_heads\": 14,\n  \"num_hidden_layers\": 24,\n  \"num_key_value_heads\": 2,\n"
    "  \"rms_norm_eps\": 1e-06,\n  \"rope_theta\": 1000000.0,\n  \"sliding_window\": 32768,\n"
    "  \"tie_word_embeddings\": true,\n  \"torch_dtype\": \"bfloat16\",\n  \"transformers_version\": \"4.43.1\",\n"
    "  \"use_cache\": true,\n  \"use_sliding_window\": false,\n  \"vocab_size\": 151936\n}\n";

static int gen(const char *dir) {
    char src[4096], path[4200];
    snprintf(src, sizeof src, "%s.source", dir);
    mkdir(src, 0777);
    snprintf(path, sizeof path, "%s/config.json", src);
    FILE *f = fopen(path, "w");
    if (!f || fputs(qwen25_config, f) == EOF || fclose(f) != 0) {
        fprintf(stderr, "bench_hf_model: cannot write %s\n", path);
        return 1;
    }
    AfModelConfig c;
    AfModel *m = NULL;
    int rc = af_model_config_load(src, &c);
    if (!rc) rc = af_model_create(&c, 0, 0, 0, &m);
    if (rc) {
        fprintf(stderr, "bench_hf_model: %s\n", af_error_detail());
        return 1;
    }
    double t0 = now();
    af_model_init_params(m, 1);
    double t1 = now();
    AfExportOptions o = {.dtype = AF_DT_BF16, .max_shard_bytes = 0, .source_dir = src};
    rc = af_model_export_dir(m, dir, &o);
    double t2 = now();
    if (rc) fprintf(stderr, "bench_hf_model: %s\n", af_error_detail());
    else
        printf("generated %s: %zu parameters (init %.1f s, bf16 export %.1f s)\n", dir, m->n_params, t1 - t0,
               t2 - t1);
    af_model_destroy(m);
    return rc ? 1 : 0;
}

static double memcpy_gbs(void) {
    size_t n = (size_t)512 << 20;
    char *a = malloc(n), *b = malloc(n);
    if (!a || !b) {
        free(a);
        free(b);
        return 0;
    }
    memset(a, 1, n);
    memset(b, 2, n);
    double best = 0;
    for (int r = 0; r < 3; r++) {
        double t0 = now();
        memcpy(b, a, n);
        double dt = now() - t0;
        double gbs = 2.0 * (double)n / dt / 1e9; /* read + write */
        best = gbs > best ? gbs : best;
    }
    volatile char sink = b[n / 2];
    (void)sink;
    free(a);
    free(b);
    return best;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "gen") == 0) return gen(argv[2]);
    if (argc < 3 || strcmp(argv[1], "run") != 0) {
        fprintf(stderr, "usage: bench_hf_model gen DIR | run DIR [--score-tokens N] [--prompt N] [--decode N] "
                        "[--threads LIST] [--csv PATH]\n");
        return 2;
    }
    const char *dir = argv[2], *threads = "1,2", *csv = "bench/results/hf_model.csv";
    int score_n = 128, prompt = 32, ndec = 32;
    for (int i = 3; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--score-tokens") == 0) score_n = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--prompt") == 0) prompt = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--decode") == 0) ndec = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--threads") == 0) threads = argv[i + 1];
        else if (strcmp(argv[i], "--csv") == 0) csv = argv[i + 1];
        else {
            fprintf(stderr, "bench_hf_model: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (score_n < 2 || prompt < 1 || ndec < 1) {
        fprintf(stderr, "bench_hf_model: counts must be positive (score >= 2)\n");
        return 2;
    }
    long rss0 = vm_kb("VmRSS:");
    double t0 = now(), c0 = cpu_now();
    AfModel *m = NULL;
    if (af_model_load_dir(dir, score_n, 1, 0, &m)) {
        fprintf(stderr, "bench_hf_model: %s\n", af_error_detail());
        return 1;
    }
    double load_s = now() - t0, load_cpu = cpu_now() - c0;
    long hwm_load = vm_kb("VmHWM:");
    const AfModelConfig *c = &m->cfg;
    int32_t *tok = malloc((size_t)(score_n + prompt + ndec) * sizeof *tok);
    float *lp = malloc((size_t)score_n * sizeof *lp);
    for (int i = 0; i < score_n + prompt + ndec; i++) tok[i] = (int32_t)((i * 7919L + 13) % c->vocab_size);
    printf("model %s: %zu parameters (fp32 in memory: %.2f GB), vocab %d, %d layers, hidden %d, heads %d/%d\n", dir,
           m->n_params, m->n_params * 4e-9, c->vocab_size, c->n_layers, c->d_model, c->n_heads, c->n_kv_heads);
    printf("load (bf16 -> fp32): %.2f s wall, %.2f s CPU; VmHWM after load %.2f GiB (RSS before %.2f GiB)\n", load_s,
           load_cpu, hwm_load / 1048576.0, rss0 / 1048576.0);
    FILE *out = fopen(csv, "w");
    if (!out) fprintf(stderr, "bench_hf_model: cannot write %s (continuing without CSV)\n", csv);
    if (out)
        fprintf(out, "what,threads,value,unit\nparams,,%zu,count\nload,,%.3f,s\nload_cpu,,%.3f,s\n", m->n_params, load_s,
                load_cpu);
    char list[256];
    snprintf(list, sizeof list, "%s", threads);
    int rc = 0;
    for (char *sv = NULL, *t = strtok_r(list, ",", &sv); t && !rc; t = strtok_r(NULL, ",", &sv)) {
        int nt = atoi(t);
        if (nt < 1) continue;
        af_model_set_threads(nt);
        int ss[2] = {0, score_n};
        double s0 = now();
        rc = af_model_forward(m, tok, ss, 1, 1.0f, lp, NULL);
        double score_s = now() - s0;
        AfDecode *d = NULL;
        if (!rc) rc = af_decode_create(m, 1, prompt + ndec + 1, &d);
        if (!rc) rc = af_decode_set_threads(d, nt, AF_DECODE_MIN_SPLIT);
        double p0 = now();
        if (!rc) rc = af_decode_prefill(d, 0, tok + score_n, prompt);
        double prefill_s = now() - p0;
        AfSampler greedy = {.temperature = 0, .top_p = 1};
        AfRng rng;
        af_rng_init(&rng, 1, AF_RNG_TEST, 0, 0, 0);
        int slot = 0;
        int32_t next;
        float logp;
        double d0 = now(), dc0 = cpu_now();
        for (int i = 0; i < ndec && !rc; i++) rc = af_decode_step(d, 1, &slot, &greedy, &rng, &next, &logp);
        double dec_s = now() - d0, dec_cpu = cpu_now() - dc0;
        af_decode_destroy(d);
        if (rc) break;
        printf("threads %d: score %d tokens %.2f s (%.1f tokens/s); prefill %d tokens %.2f s; decode %d tokens "
               "%.2f tokens/s (batch 1, greedy; %.2f CPU s per token)\n",
               nt, score_n, score_s, score_n / score_s, prompt, prefill_s, ndec, ndec / dec_s, dec_cpu / ndec);
        if (out)
            fprintf(out, "score_tokens_per_s,%d,%.3f,tokens/s\nprefill_tokens_per_s,%d,%.3f,tokens/s\n"
                         "decode_tokens_per_s,%d,%.3f,tokens/s\ndecode_cpu_s_per_token,%d,%.3f,s\n",
                    nt, score_n / score_s, nt, prompt / prefill_s, nt, ndec / dec_s, nt, dec_cpu / ndec);
    }
    if (rc) fprintf(stderr, "bench_hf_model: %s\n", af_error_detail());
    long hwm = vm_kb("VmHWM:");
    size_t weight_bytes = m->n_params * 4;
    af_model_destroy(m);
    free(tok);
    free(lp);
    double bw = memcpy_gbs();
    printf("VmHWM (peak resident) %.2f GiB; memcpy bandwidth %.1f GB/s (bytes read + written per second, "
           "same run); fp32 weights %.2f GB, read once per decoded token\n",
           hwm / 1048576.0, bw, (double)weight_bytes / 1e9);
    if (out) {
        fprintf(out, "vmhwm,,%.3f,GiB\nmemcpy_bandwidth,,%.2f,GB/s\nweight_bytes,,%zu,bytes\n", hwm / 1048576.0, bw,
                weight_bytes);
        fclose(out);
    }
    return rc ? 1 : 0;
}
