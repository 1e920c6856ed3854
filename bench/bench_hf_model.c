/* A real-size Hugging Face model on this machine: a Qwen2.5-0.5B-shaped model (random
 * weights, 494M parameters, vocabulary 151,936) loaded from a bf16 safetensors
 * directory, scored, and decoded at batch 1 and 8 with fp32 and with bf16 weights in the
 * decoder's products (common/decode.h), against the machine's memory bandwidth measured
 * in the same run.
 *
 *   bench_hf_model gen DIR      write DIR: config.json as Qwen2.5-0.5B-Instruct's (kept
 *                               through the export), model.safetensors in BF16, made by
 *                               af_model_export_dir from a random init (seed 1)
 *   bench_hf_model run DIR [--score-tokens N] [--prompt N] [--decode N] [--threads LIST]
 *                          [--dtypes fp32,bf16] [--batches 1,8] [--csv PATH]
 *       prints (and writes as CSV, default bench/results/hf_model.csv): load time,
 *       score (one forward of N tokens) time, and for each thread count, decode dtype and
 *       batch: decode tokens/s (greedy, after a prompt prefill per sequence), the weight
 *       bytes one decode step reads, and the bandwidth that makes (weight bytes per step x
 *       steps/s) as a share of the memory bandwidth measured in the same run:
 *         memcpy_bandwidth  a 512 MiB memcpy on one thread, bytes read + written per s;
 *         read_bandwidth    a sum over 1 GiB of 64-bit words at that thread count, bytes
 *                           read per s (a decode step reads, it barely writes);
 *       and the same per CPU second (*_per_cpu_s, *_cpu_share_*: bytes over the CPU time
 *       of the process, all its threads), which on a loaded machine, where the process
 *       runs a fraction of the time, says what it reaches while it runs.
 *       One step reads every weight matrix once (the LM head included: tied, it is the
 *       embedding; 4 bytes an element in fp32, 2 in bf16), the fp32 norms and biases, and
 *       one embedding row per sequence (fp32); the KV cache (under 2 MB a step here) is
 *       not counted. At batch 1 a step is a token; at batch 8 the step's weights serve 8.
 *       Also the bf16 copy's time (one pass over the fp32 weights, per weight version)
 *       and VmHWM (peak resident memory) after all of it.
 * Run it as two processes (gen, then run) so the peak memory is the reader's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/decode.h"
#include "common/error.h"
#include "common/model.h"
#include "common/pool.h"
#include "common/safetensors.h"
#include "bench/bench_common.h"

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
    double t0 = af_time_now();
    af_model_init_params(m, 1);
    double t1 = af_time_now();
    AfExportOptions o = {.dtype = AF_DT_BF16, .max_shard_bytes = 0, .source_dir = src};
    rc = af_model_export_dir(m, dir, &o);
    double t2 = af_time_now();
    if (rc) fprintf(stderr, "bench_hf_model: %s\n", af_error_detail());
    else
        printf("generated %s: %zu parameters (init %.1f s, bf16 export %.1f s)\n", dir, m->n_params, t1 - t0,
               t2 - t1);
    af_model_destroy(m);
    return rc ? 1 : 0;
}

/* The best of 3 copies: bytes read + written per wall second, and per CPU second in *cpu
 * (on a loaded machine the process gets a fraction of a core; CPU time counts only the
 * time it ran). */
static double memcpy_gbs(double *cpu) {
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
    *cpu = 0;
    for (int r = 0; r < 3; r++) {
        double t0 = af_time_now(), c0 = af_bench_cpu_now();
        memcpy(b, a, n);
        double dt = af_time_now() - t0, dc = af_bench_cpu_now() - c0;
        double gbs = 2.0 * (double)n / dt / 1e9; /* read + write */
        best = gbs > best ? gbs : best;
        if (dc > 0 && 2.0 * (double)n / dc / 1e9 > *cpu) *cpu = 2.0 * (double)n / dc / 1e9;
    }
    volatile char sink = b[n / 2];
    (void)sink;
    free(a);
    free(b);
    return best;
}

typedef struct {
    const uint64_t *a;
    size_t n; /* words */
    uint64_t sum[64];
} SumJob;

static void sum_part(void *ctx, int tid, int nt) {
    SumJob *j = ctx;
    size_t per = (j->n / (size_t)nt) & ~(size_t)7, i0 = per * (size_t)tid, i1 = tid == nt - 1 ? j->n : i0 + per;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = i0; i + 4 <= i1; i += 4) s0 += j->a[i], s1 += j->a[i + 1], s2 += j->a[i + 2], s3 += j->a[i + 3];
    j->sum[tid] = s0 + s1 + s2 + s3;
}

/* Read bandwidth: the best of 3 sums over 1 GiB split over nt threads, bytes read per wall
 * second, and per CPU second of the nt threads in *cpu (nt x that is the rate while all
 * nt run). */
static double read_gbs(int nt, double *cpu) {
    size_t n = ((size_t)1 << 30) / sizeof(uint64_t);
    uint64_t *a = malloc(n * sizeof *a);
    AfPool *pool = NULL;
    if (!a || (nt > 1 && af_pool_create(nt, &pool))) {
        free(a);
        return 0;
    }
    for (size_t i = 0; i < n; i++) a[i] = i;
    SumJob j = {.a = a, .n = n};
    double best = 0;
    *cpu = 0;
    for (int r = 0; r < 3; r++) {
        double t0 = af_time_now(), c0 = af_bench_cpu_now();
        if (pool) af_pool_run(pool, sum_part, &j);
        else sum_part(&j, 0, 1);
        double gbs = (double)(n * sizeof *a) / (af_time_now() - t0) / 1e9, dc = af_bench_cpu_now() - c0;
        best = gbs > best ? gbs : best;
        if (dc > 0 && (double)(n * sizeof *a) / dc / 1e9 > *cpu) *cpu = (double)(n * sizeof *a) / dc / 1e9;
    }
    volatile uint64_t sink = j.sum[0];
    (void)sink;
    af_pool_destroy(pool);
    free(a);
    return best;
}

/* Bytes one decode step of `batch` sequences reads from the weights (see the top). */
static double step_bytes(const AfModel *m, int bf16, int batch) {
    const AfModelConfig *c = &m->cfg;
    double C = c->d_model, QD = (double)c->n_heads * m->head_dim, KD = (double)c->n_kv_heads * m->head_dim;
    double F = c->d_ff, V = c->vocab_size;
    double mats = c->n_layers * (2 * QD * C + 2 * KD * C + 3 * F * C) + V * C;
    double small = c->n_layers * (2 * C + (c->qkv_bias ? QD + 2 * KD : 0) + (c->qk_norm ? 2.0 * m->head_dim : 0)) + C;
    return mats * (bf16 ? 2 : 4) + 4 * small + 4 * C * batch;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "gen") == 0) return gen(argv[2]);
    if (argc < 3 || strcmp(argv[1], "run") != 0) {
        fprintf(stderr, "usage: bench_hf_model gen DIR | run DIR [--score-tokens N] [--prompt N] [--decode N] "
                        "[--threads LIST] [--dtypes fp32,bf16] [--batches 1,8] [--csv PATH]\n");
        return 2;
    }
    const char *dir = argv[2], *threads = "1,2", *csv = "bench/results/hf_model.csv", *dtypes = "fp32,bf16";
    const char *batches = "1,8";
    int score_n = 128, prompt = 32, ndec = 32;
    for (int i = 3; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--score-tokens") == 0) score_n = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--prompt") == 0) prompt = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--decode") == 0) ndec = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--threads") == 0) threads = argv[i + 1];
        else if (strcmp(argv[i], "--dtypes") == 0) dtypes = argv[i + 1];
        else if (strcmp(argv[i], "--batches") == 0) batches = argv[i + 1];
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
    double t0 = af_time_now(), c0 = af_bench_cpu_now();
    AfModel *m = NULL;
    if (af_model_load_dir(dir, score_n, 1, 0, &m)) {
        fprintf(stderr, "bench_hf_model: %s\n", af_error_detail());
        return 1;
    }
    double load_s = af_time_now() - t0, load_cpu = af_bench_cpu_now() - c0;
    long hwm_load = vm_kb("VmHWM:");
    const AfModelConfig *c = &m->cfg;
    int32_t *tok = malloc((size_t)(score_n + prompt + ndec + 64) * sizeof *tok); /* + 64: a prompt per slot */
    float *lp = malloc((size_t)score_n * sizeof *lp);
    for (int i = 0; i < score_n + prompt + ndec + 64; i++) tok[i] = (int32_t)((i * 7919L + 13) % c->vocab_size);
    printf("model %s: %zu parameters (fp32 in memory: %.2f GB), vocab %d, %d layers, hidden %d, heads %d/%d\n", dir,
           m->n_params, m->n_params * 4e-9, c->vocab_size, c->n_layers, c->d_model, c->n_heads, c->n_kv_heads);
    printf("load (bf16 -> fp32): %.2f s wall, %.2f s CPU; VmHWM after load %.2f GiB (RSS before %.2f GiB)\n", load_s,
           load_cpu, hwm_load / 1048576.0, rss0 / 1048576.0);
    FILE *out = fopen(csv, "w");
    if (!out) fprintf(stderr, "bench_hf_model: cannot write %s (continuing without CSV)\n", csv);
    if (out)
        fprintf(out, "what,threads,value,unit\nparams,,%zu,count\nload,,%.3f,s\nload_cpu,,%.3f,s\n", m->n_params, load_s,
                load_cpu);
    double bw_cpu = 0, bw = memcpy_gbs(&bw_cpu);
    printf("memcpy bandwidth %.1f GB/s (512 MiB, 1 thread, bytes read + written per second; %.1f GB per CPU second)\n",
           bw, bw_cpu);
    if (out) fprintf(out, "memcpy_bandwidth,1,%.2f,GB/s\nmemcpy_bandwidth_per_cpu_s,1,%.2f,GB/s\n", bw, bw_cpu);
    char list[256];
    snprintf(list, sizeof list, "%s", threads);
    int rc = 0;
    for (char *sv = NULL, *t = strtok_r(list, ",", &sv); t && !rc; t = strtok_r(NULL, ",", &sv)) {
        int nt = atoi(t);
        if (nt < 1) continue;
        af_model_set_threads(nt);
        int ss[2] = {0, score_n};
        double s0 = af_time_now();
        rc = af_model_forward(m, tok, ss, 1, 1.0f, lp, NULL);
        double score_s = af_time_now() - s0;
        if (rc) break;
        double rbw_cpu = 0, rbw = read_gbs(nt, &rbw_cpu);
        printf("threads %d: score %d tokens %.2f s (%.1f tokens/s); read bandwidth %.1f GB/s (1 GiB sum; %.1f GB per "
               "CPU second)\n", nt, score_n, score_s, score_n / score_s, rbw, rbw_cpu);
        if (out)
            fprintf(out, "score_tokens_per_s,%d,%.3f,tokens/s\nread_bandwidth,%d,%.2f,GB/s\nread_bandwidth_per_cpu_s,%d,%.2f,GB/s\n",
                    nt, score_n / score_s, nt, rbw, nt, rbw_cpu);
        char dl[64];
        snprintf(dl, sizeof dl, "%s", dtypes);
        for (char *sd = NULL, *dn = strtok_r(dl, ",", &sd); dn && !rc; dn = strtok_r(NULL, ",", &sd)) {
            AfDecodeDtype dt;
            if ((rc = af_decode_dtype_parse(dn, &dt))) break;
            char bl[64];
            snprintf(bl, sizeof bl, "%s", batches);
            for (char *sb = NULL, *bs = strtok_r(bl, ",", &sb); bs && !rc; bs = strtok_r(NULL, ",", &sb)) {
                int B = atoi(bs);
                if (B < 1 || B > 64) continue;
                AfDecode *d = NULL;
                if (!rc) rc = af_decode_create(m, B, prompt + ndec + 1, &d);
                if (!rc) rc = af_decode_set_threads(d, nt, AF_DECODE_MIN_SPLIT);
                double c0s = af_time_now();
                if (!rc) rc = af_decode_set_dtype(d, dt);
                double copy_s = af_time_now() - c0s;
                int bf16 = !rc && af_decode_dtype(d) == AF_DECODE_BF16;
                int slots[64];
                double p0 = af_time_now();
                for (int b = 0; b < B && !rc; b++) {
                    slots[b] = b;
                    rc = af_decode_prefill(d, b, tok + score_n + b, prompt); /* a different prompt per slot */
                }
                double prefill_s = af_time_now() - p0;
                AfSampler greedy[64];
                AfRng rng[64];
                int32_t next[64];
                float logp[64];
                for (int b = 0; b < B; b++) {
                    greedy[b] = (AfSampler){.temperature = 0, .top_p = 1};
                    af_rng_init(&rng[b], 1, AF_RNG_TEST, 0, 0, (uint32_t)b);
                }
                double d0 = af_time_now(), dc0 = af_bench_cpu_now();
                for (int i = 0; i < ndec && !rc; i++) rc = af_decode_step(d, B, slots, greedy, rng, next, logp);
                double dec_s = af_time_now() - d0, dec_cpu = af_bench_cpu_now() - dc0;
                af_decode_destroy(d);
                if (rc) break;
                const char *dname = bf16 ? "bf16" : "fp32";
                double bytes = step_bytes(m, bf16, B), steps_s = ndec / dec_s, gbs = bytes * steps_s / 1e9;
                double gbs_cpu = bytes * ndec / dec_cpu / 1e9; /* per CPU second (all threads) */
                printf("threads %d, %s, batch %d: prefill %d x %d tokens %.2f s; decode %.2f tokens/s (%d steps, %.3f "
                       "CPU s per step); weights %.3f GB per step: %.1f GB/s = %.0f%% of memcpy, %.0f%% of read "
                       "bandwidth; per CPU second %.1f GB = %.0f%% of memcpy's, %.0f%% of the sum's\n",
                       nt, dname, B, B, prompt, prefill_s, B * steps_s, ndec, dec_cpu / ndec, bytes / 1e9, gbs,
                       100 * gbs / bw, 100 * gbs / rbw, gbs_cpu, 100 * gbs_cpu / bw_cpu, 100 * gbs_cpu / rbw_cpu);
                if (bf16) printf("  bf16 copy of the weights: %.2f s (once per weight version)\n", copy_s);
                if (out) {
                    fprintf(out, "prefill_tokens_per_s_%s_b%d,%d,%.3f,tokens/s\n", dname, B, nt, B * prompt / prefill_s);
                    fprintf(out, "decode_tokens_per_s_%s_b%d,%d,%.3f,tokens/s\n", dname, B, nt, B * steps_s);
                    fprintf(out, "decode_weight_bytes_per_step_%s_b%d,%d,%.0f,bytes\n", dname, B, nt, bytes);
                    fprintf(out, "decode_weight_gbs_%s_b%d,%d,%.2f,GB/s\n", dname, B, nt, gbs);
                    fprintf(out, "decode_share_of_memcpy_%s_b%d,%d,%.3f,ratio\n", dname, B, nt, gbs / bw);
                    fprintf(out, "decode_share_of_read_%s_b%d,%d,%.3f,ratio\n", dname, B, nt, gbs / rbw);
                    fprintf(out, "decode_weight_gb_per_cpu_s_%s_b%d,%d,%.2f,GB/s\n", dname, B, nt, gbs_cpu);
                    fprintf(out, "decode_cpu_share_of_memcpy_%s_b%d,%d,%.3f,ratio\n", dname, B, nt, gbs_cpu / bw_cpu);
                    fprintf(out, "decode_cpu_share_of_read_%s_b%d,%d,%.3f,ratio\n", dname, B, nt, gbs_cpu / rbw_cpu);
                    if (bf16) fprintf(out, "bf16_copy_s_b%d,%d,%.3f,s\n", B, nt, copy_s);
                }
            }
        }
    }
    if (rc) fprintf(stderr, "bench_hf_model: %s\n", af_error_detail());
    long hwm = vm_kb("VmHWM:");
    af_model_destroy(m);
    free(tok);
    free(lp);
    printf("VmHWM (peak resident) %.2f GiB\n", hwm / 1048576.0);
    if (out) {
        fprintf(out, "vmhwm,,%.3f,GiB\n", hwm / 1048576.0);
        fclose(out);
    }
    return rc ? 1 : 0;
}
