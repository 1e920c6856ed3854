/* Model benchmark: training step (forward + backward + clip + AdamW) and KV-cache decode
 * for models A and B at the given thread counts, the sgemm GFLOP/s measured in the same
 * run, and the same figures for the PyTorch reference (bench/bench_model_torch.py, run
 * with /usr/bin/python3 at the same thread count), with ratios. Decode is measured with
 * fp32 weights (against PyTorch fp32) and with the bf16 products (rollout.decode_dtype
 * bf16; against PyTorch's faster bf16 mode, bf16 weights or bf16 autocast, named in the
 * *_mode columns). The *_cpu_ratio columns divide tokens per CPU second of each process
 * instead (meaningful at 1 thread: on a loaded machine a process runs part of the time).
 * Training is also measured with bf16 matrix products (model.compute=bf16,
 * common/matmul_bf16.h) against PyTorch under bf16 autocast (bench_model_torch.py --bf16),
 * where the CPU has native bf16 (else, and with --no-bf16 or --no-train, those cells are
 * empty), and with model.compute=bf16-fma (the same rounded inputs on the fp32 FMA units;
 * its own columns, against the same autocast figure). The bf16 training figures are also
 * given per CPU second of the process (tokens / CPU seconds of the timed steps, all
 * threads; PyTorch's the same way), which a loaded machine distorts less than wall time.
 * Training figures are medians over the timed steps (after one warm-up step).
 * Prints a table and writes CSV (default bench/results/model.csv).
 *
 *   bench_model [--models A,B] [--threads 1,2] [--steps N] [--decode-tokens N]
 *               [--no-torch] [--no-train] [--no-bf16] [--bf16-train-only] [--csv PATH]
 * --no-train: decode only; --no-bf16: no bf16 training (decode in bf16 is always measured);
 * --bf16-train-only: only the bf16 training cells (C bf16 and bf16-fma, PyTorch autocast),
 * the rest empty (a shorter run for before/after comparisons on a loaded machine).
 * Wall-clock figures on a shared machine are noisy: compare the ratios within a run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "common/decode.h"
#include "common/error.h"
#include "common/matmul_bf16.h"
#include "common/model.h"
#include "common/rng.h"
#include "bench/bench_common.h"
#include "learner/adamw.h"

/* Untimed training steps before the timed ones, on both sides (bench_model_torch.py
 * --warmup has the same default): PyTorch's autocast step still speeds up over its
 * first two or three steps. */
#define AF_BENCH_WARMUP 3

/* sgemm GFLOP/s on square-ish shapes typical of the training step. */
static double sgemm_gflops(void) {
    int M = 2048, N = 1024, K = 1024;
    float *a = malloc(sizeof(float) * M * K), *b = malloc(sizeof(float) * N * K), *c = malloc(sizeof(float) * M * N);
    for (int i = 0; i < M * K; i++) a[i] = (float)(i % 7) * 0.1f;
    for (int i = 0; i < N * K; i++) b[i] = (float)(i % 5) * 0.1f;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, a, K, b, K, 0.0f, c, N);
    double best = 0;
    for (int r = 0; r < 3; r++) {
        double t0 = af_time_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, a, K, b, K, 0.0f, c, N);
        double g = 2.0 * M * N * K / (af_time_now() - t0) / 1e9;
        best = g > best ? g : best;
    }
    free(a), free(b), free(c);
    return best;
}

typedef struct {
    double train_tok_s, train_gflops, dec1_tok_s, dec16_tok_s;
    double dec1_bf16, dec16_bf16; /* C: bf16 products; PyTorch: its faster bf16 mode */
    char mode1[16], mode16[16];   /* PyTorch: that mode */
    double cpu[4];                /* the four decode figures per CPU second: dec1, dec16, dec1_bf16, dec16_bf16 */
    double train_bf16_tok_s;      /* bf16 products (C) / bf16 autocast (PyTorch); 0: not run */
    double train_bf16fma_tok_s;   /* C: model.compute=bf16-fma; 0: not run */
    double train_bf16_cpu, train_bf16fma_cpu; /* the two above per CPU second (PyTorch: autocast) */
} Figures;

/* AF_BENCH_WARMUP untimed warm-up steps (bench_model_torch.py's --warmup default), then
 * `steps` timed training steps (forward, backward, clip, AdamW) of bm's batch on m, in m's compute precision; the median step time into *median_s, the
 * mean CPU seconds of a timed step (the whole process) into *cpu_s and the step's FLOPs
 * (3x the forward's) into *flops. */
static int train_steps(AfModel *m, const AfBenchShape *bm, int steps, double *median_s, double *cpu_s, double *flops) {
    AfBenchTrain t;
    int rc = af_bench_train_init(&t, m, bm);
    if (rc) return rc;
    double *dt = malloc(sizeof(double) * (steps + 1));
    if (!dt) {
        af_bench_train_free(&t);
        return af_error_set(AF_ENOMEM, "bench_model: step times");
    }
    double c0 = 0;
    for (int it = 0; it < steps + AF_BENCH_WARMUP; it++) {
        if (it == AF_BENCH_WARMUP) c0 = af_bench_cpu_now();
        double t0 = af_time_now();
        if ((rc = af_bench_train_step(&t, m))) break;
        if (it >= AF_BENCH_WARMUP) dt[it - AF_BENCH_WARMUP] = af_time_now() - t0;
    }
    if (!rc) {
        *cpu_s = (af_bench_cpu_now() - c0) / steps;
        *median_s = af_bench_median(dt, steps), *flops = 3.0 * af_model_forward_flops(&bm->cfg, t.ss, bm->n_seqs);
    }
    free(dt);
    af_bench_train_free(&t);
    return rc;
}

/* Training with bf16 products, then with bf16-fma (a fresh model each, same init): tok/s
 * and tok per CPU second into f. */
static int bench_c_bf16(const AfBenchShape *bm, int steps, Figures *f) {
    int N = bm->n_seqs * bm->seq_len, rc = 0;
    for (int fma = 0; fma < 2 && !rc; fma++) {
        AfModel *m = NULL;
        if ((rc = af_model_create(&bm->cfg, N, bm->n_seqs, AF_MODEL_GRADS, &m))) return rc;
        af_model_init_params(m, 1);
        double s = 0, cpu = 0, flops = 0;
        if (!(rc = af_model_set_compute(m, fma ? AF_COMPUTE_BF16_FMA : AF_COMPUTE_BF16)) &&
            !(rc = train_steps(m, bm, steps, &s, &cpu, &flops))) {
            *(fma ? &f->train_bf16fma_tok_s : &f->train_bf16_tok_s) = N / s;
            *(fma ? &f->train_bf16fma_cpu : &f->train_bf16_cpu) = N / cpu;
        }
        af_model_destroy(m);
    }
    return rc;
}

static int bench_c(const AfBenchShape *bm, int threads, int steps, int dec_tokens, int train, Figures *f) {
    int N = bm->n_seqs * bm->seq_len;
    AfModel *m = NULL;
    AfDecode *d = NULL;
    int rc = af_model_create(&bm->cfg, N, bm->n_seqs, AF_MODEL_GRADS, &m);
    if (rc) return rc;
    af_model_init_params(m, 1);
    if (train) {
        double t = 0, cpu = 0, flops = 0;
        if ((rc = train_steps(m, bm, steps, &t, &cpu, &flops))) goto done;
        f->train_tok_s = (double)N / t;
        f->train_gflops = flops / t / 1e9;
    }
    /* decode: prompt of 16 tokens, then dec_tokens sampled tokens per sequence; batch 1
     * and 16, fp32 and bf16 */
    for (int bi = 0; bi < 4 && !rc; bi++) {
        int B = bi % 2 ? 16 : 1, bf16 = bi >= 2;
        if ((rc = af_decode_create(m, B, 16 + dec_tokens + 1, &d))) break;
        if ((rc = af_decode_set_threads(d, threads, AF_DECODE_MIN_SPLIT))) break;
        if ((rc = af_decode_set_dtype(d, bf16 ? AF_DECODE_BF16 : AF_DECODE_FP32))) break;
        int slots[16];
        AfSampler smp[16];
        AfRng rngs[16];
        int32_t out[16], prompt[16];
        float lps[16];
        for (int b = 0; b < B; b++) {
            slots[b] = b;
            smp[b] = (AfSampler){.temperature = 1.0f, .top_p = 1.0f};
            af_rng_init(&rngs[b], 1, AF_RNG_SAMPLE, 0, 0, (uint32_t)b);
            for (int i = 0; i < 16; i++) prompt[i] = (int32_t)((b * 31 + i * 7) % bm->cfg.vocab_size);
            af_decode_prefill(d, b, prompt, 16);
        }
        double t0 = af_time_now(), c0 = af_bench_cpu_now();
        for (int i = 0; i < dec_tokens && !rc; i++) rc = af_decode_step(d, B, slots, smp, rngs, out, lps);
        double tok_s = (double)B * dec_tokens / (af_time_now() - t0);
        f->cpu[(B == 16) + 2 * bf16] = (double)B * dec_tokens / (af_bench_cpu_now() - c0);
        *(bf16 ? (B == 16 ? &f->dec16_bf16 : &f->dec1_bf16) : (B == 16 ? &f->dec16_tok_s : &f->dec1_tok_s)) = tok_s;
        af_decode_destroy(d);
        d = NULL;
    }
done:
    af_decode_destroy(d);
    af_model_destroy(m);
    return rc;
}

static int bench_torch(char model, int threads, int steps, int dec_tokens, int train, int bf16, int bf16_only, Figures *f) {
    const char *src = getenv("AF_SOURCE_DIR");
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "OPENBLAS_NUM_THREADS=%d OMP_NUM_THREADS=%d MKL_NUM_THREADS=%d /usr/bin/python3 %s/bench/bench_model_torch.py --model %c --threads %d --steps %d --decode-tokens %d%s%s%s",
             threads, threads, threads, src ? src : ".", model, threads, steps, dec_tokens, train ? "" : " --no-train",
             train && bf16 ? " --bf16" : "", bf16_only ? " --bf16-train-only" : "");
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    char line[1024];
    int got = 0;
    while (fgets(line, sizeof line, p)) {
        if (sscanf(line, "TORCH train_tok_s=%lf train_gflops=%lf dec1_tok_s=%lf dec16_tok_s=%lf dec1_cpu=%lf dec16_cpu=%lf",
                   &f->train_tok_s, &f->train_gflops, &f->dec1_tok_s, &f->dec16_tok_s, &f->cpu[0], &f->cpu[1]) == 6)
            got |= 1;
        if (sscanf(line, "TORCHBF16 dec1_tok_s=%lf dec1_mode=%15s dec16_tok_s=%lf dec16_mode=%15s dec1_cpu=%lf dec16_cpu=%lf",
                   &f->dec1_bf16, f->mode1, &f->dec16_bf16, f->mode16, &f->cpu[2], &f->cpu[3]) == 6) {
            got |= 2;
            fprintf(stderr, "bench_model: model %c, %d threads, PyTorch %s", model, threads, line);
        }
        if (sscanf(line, "TORCH_BF16 train_tok_s=%lf train_cpu_tok_s=%lf", &f->train_bf16_tok_s, &f->train_bf16_cpu) == 2)
            got |= 4;
    }
    int st = pclose(p);
    if (bf16_only) got |= 3; /* no fp32 or decode lines */
    return (got & 3) == 3 && (got & 4 || !(train && bf16)) && st == 0 ? 0 : -1;
}

int main(int argc, char **argv) {
    const char *models = "A,B", *threads_s = "1,2", *csv = "bench/results/model.csv";
    int steps = 3, dec_tokens = 64, torch = 1, train = 1, bf16 = 1, bf16_only = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--models") == 0 && i + 1 < argc) models = argv[++i];
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads_s = argv[++i];
        else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc) steps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--decode-tokens") == 0 && i + 1 < argc) dec_tokens = atoi(argv[++i]);
        else if (strcmp(argv[i], "--csv") == 0 && i + 1 < argc) csv = argv[++i];
        else if (strcmp(argv[i], "--no-torch") == 0) torch = 0;
        else if (strcmp(argv[i], "--no-train") == 0) train = 0;
        else if (strcmp(argv[i], "--no-bf16") == 0) bf16 = 0;
        else if (strcmp(argv[i], "--bf16-train-only") == 0) bf16_only = 1;
        else {
            fprintf(stderr, "usage: bench_model [--models A,B] [--threads 1,2] [--steps N] [--decode-tokens N] [--no-torch] "
                            "[--no-train] [--no-bf16] [--bf16-train-only] [--csv PATH]\n");
            return 2;
        }
    }
    if (steps < 1) steps = 1;
    if (dec_tokens < 1) dec_tokens = 1;
    if (!train) bf16 = 0; /* bf16 here is bf16 training: nothing to do without training */
    if (bf16 && !af_bf16_supported()) {
        fprintf(stderr, "bench_model: no native bf16 here (%s): the bf16 training cells stay empty\n", af_bf16_isa());
        bf16 = 0;
    }
    FILE *out = fopen(csv, "w");
    if (!out) fprintf(stderr, "bench_model: cannot write %s (continuing without CSV)\n", csv);
    if (out)
        fprintf(out, "model,threads,sgemm_gflops,c_train_tok_s,c_train_gflops,c_frac_sgemm,torch_train_tok_s,"
                     "train_ratio,c_dec1_tok_s,torch_dec1_tok_s,dec1_ratio,c_dec16_tok_s,torch_dec16_tok_s,dec16_ratio,"
                     "c_dec1_bf16_tok_s,torch_dec1_bf16_tok_s,torch_dec1_bf16_mode,dec1_bf16_ratio,c_dec16_bf16_tok_s,"
                     "torch_dec16_bf16_tok_s,torch_dec16_bf16_mode,dec16_bf16_ratio,dec1_cpu_ratio,dec16_cpu_ratio,"
                     "dec1_bf16_cpu_ratio,dec16_bf16_cpu_ratio,c_train_bf16_tok_s,torch_train_bf16_tok_s,train_bf16_ratio,"
                     "c_bf16_speedup,c_train_bf16fma_tok_s,train_bf16fma_ratio,c_train_bf16_cpu_tok_s,"
                     "c_train_bf16fma_cpu_tok_s,torch_train_bf16_cpu_tok_s,train_bf16_cpu_ratio,train_bf16fma_cpu_ratio\n");
    printf("%-5s %-3s %8s | %10s %8s %6s | %10s %6s | %9s %9s %6s | %9s %9s %6s | %9s %9s %6s | %9s %9s %6s | %9s "
           "%9s %6s\n",
           "model", "thr", "sgemmGF", "C tok/s", "C GF/s", "%peak", "torch tok/s", "ratio", "C dec1", "torch d1",
           "ratio", "C dec16", "torch d16", "ratio", "C d1 bf16", "torch bf", "ratio", "C d16 bf", "torch bf",
           "ratio", "C bf16 tr", "torch ac", "ratio");
    for (const char *mp = models; *mp; mp++) {
        if (*mp != 'A' && *mp != 'B') continue;
        AfBenchShape bm = af_bench_shape(*mp);
        for (const char *tp = threads_s; *tp; tp++) {
            if (*tp < '1' || *tp > '9') continue;
            int th = *tp - '0';
            af_model_set_threads(th);
            double peak = sgemm_gflops();
            Figures c = {0}, t = {0};
            int rc = bf16_only ? 0 : bench_c(&bm, th, steps, dec_tokens, train, &c);
            if (!rc && bf16) rc = bench_c_bf16(&bm, steps, &c);
            if (rc) {
                fprintf(stderr, "bench_model: %s: %s\n", af_strerror(rc), af_error_detail());
                return 1;
            }
            if (torch && bench_torch(*mp, th, steps, dec_tokens, train, bf16, bf16_only, &t))
                fprintf(stderr, "bench_model: the PyTorch side failed (model %c, %d threads)\n", *mp, th);
#define RATIO(a, b) ((b) > 0 ? (a) / (b) : NAN)
            printf("%-5c %-3d %8.1f | %10.0f %8.1f %5.0f%% | %10.0f %6.2f | %9.1f %9.1f %6.2f | %9.1f %9.1f %6.2f | "
                   "%9.1f %9.1f %6.2f | %9.1f %9.1f %6.2f | %9.0f %9.0f %6.2f\n",
                   *mp, th, peak, c.train_tok_s, c.train_gflops, 100 * c.train_gflops / peak, t.train_tok_s,
                   RATIO(c.train_tok_s, t.train_tok_s), c.dec1_tok_s, t.dec1_tok_s,
                   RATIO(c.dec1_tok_s, t.dec1_tok_s), c.dec16_tok_s, t.dec16_tok_s,
                   RATIO(c.dec16_tok_s, t.dec16_tok_s), c.dec1_bf16, t.dec1_bf16, RATIO(c.dec1_bf16, t.dec1_bf16),
                   c.dec16_bf16, t.dec16_bf16, RATIO(c.dec16_bf16, t.dec16_bf16), c.train_bf16_tok_s, t.train_bf16_tok_s,
                   RATIO(c.train_bf16_tok_s, t.train_bf16_tok_s));
            fflush(stdout);
            if (out)
                fprintf(out, "%c,%d,%.2f,%.1f,%.2f,%.3f,%.1f,%.3f,%.2f,%.2f,%.3f,%.2f,%.2f,%.3f,%.2f,%.2f,%s,%.3f,%.2f,%.2f,%s,%.3f,"
                             "%.3f,%.3f,%.3f,%.3f,%.1f,%.1f,%.3f,%.3f,%.1f,%.3f,%.1f,%.1f,%.1f,%.3f,%.3f\n",
                        *mp, th, peak, c.train_tok_s, c.train_gflops, c.train_gflops / peak, t.train_tok_s,
                        RATIO(c.train_tok_s, t.train_tok_s), c.dec1_tok_s, t.dec1_tok_s,
                        RATIO(c.dec1_tok_s, t.dec1_tok_s), c.dec16_tok_s, t.dec16_tok_s,
                        RATIO(c.dec16_tok_s, t.dec16_tok_s), c.dec1_bf16, t.dec1_bf16, t.mode1[0] ? t.mode1 : "-",
                        RATIO(c.dec1_bf16, t.dec1_bf16), c.dec16_bf16, t.dec16_bf16, t.mode16[0] ? t.mode16 : "-",
                        RATIO(c.dec16_bf16, t.dec16_bf16), RATIO(c.cpu[0], t.cpu[0]), RATIO(c.cpu[1], t.cpu[1]),
                        RATIO(c.cpu[2], t.cpu[2]), RATIO(c.cpu[3], t.cpu[3]), c.train_bf16_tok_s, t.train_bf16_tok_s,
                        RATIO(c.train_bf16_tok_s, t.train_bf16_tok_s),
                        RATIO(c.train_bf16_tok_s, c.train_bf16_tok_s > 0 ? c.train_tok_s : 0), /* nan: bf16 not run */
                        c.train_bf16fma_tok_s, RATIO(c.train_bf16fma_tok_s, t.train_bf16_tok_s), c.train_bf16_cpu,
                        c.train_bf16fma_cpu, t.train_bf16_cpu, RATIO(c.train_bf16_cpu, t.train_bf16_cpu),
                        RATIO(c.train_bf16fma_cpu, t.train_bf16_cpu));
            if (c.train_bf16_tok_s > 0)
                printf("bf16 training, C / PyTorch autocast: bf16 %.2f, bf16-fma %.2f (wall); per CPU second: bf16 %.2f, "
                       "bf16-fma %.2f (C bf16 %.0f, bf16-fma %.0f, autocast %.0f tok per CPU second)\n",
                       RATIO(c.train_bf16_tok_s, t.train_bf16_tok_s), RATIO(c.train_bf16fma_tok_s, t.train_bf16_tok_s),
                       RATIO(c.train_bf16_cpu, t.train_bf16_cpu), RATIO(c.train_bf16fma_cpu, t.train_bf16_cpu),
                       c.train_bf16_cpu, c.train_bf16fma_cpu, t.train_bf16_cpu);
            printf("per CPU second, C / PyTorch: fp32 batch 1 %.2f, batch 16 %.2f; bf16 batch 1 %.2f, batch 16 %.2f\n",
                   RATIO(c.cpu[0], t.cpu[0]), RATIO(c.cpu[1], t.cpu[1]), RATIO(c.cpu[2], t.cpu[2]),
                   RATIO(c.cpu[3], t.cpu[3]));
        }
    }
    printf("targets: model B at 2 threads: training ratio >= 1.8 (about 60%% of sgemm); decode ratio >= 2.5 (batch 1), >= 1.8 (batch 16), "
           "in bf16 against PyTorch's faster bf16 mode; bf16 training >= 2x PyTorch bf16 autocast\n");
    if (out) fclose(out);
    return 0;
}
