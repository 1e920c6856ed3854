/* Paired training benchmark: the C training step and PyTorch's, alternated one step at a
 * time in the same run, so both sides see the same machine (a shared machine's speed moves
 * within minutes: bench_model's C-then-PyTorch figures scatter with it).
 *
 * Model A or B of bench_model (the same shapes, batch and step: forward, backward, grad
 * clip, AdamW) at T threads. The C side runs model.compute=bf16 (oneDNN's bf16 products)
 * against PyTorch under bf16 autocast, or fp32 against PyTorch fp32 (--compute fp32).
 * PyTorch runs as a server (bench_model_torch.py --serve, /usr/bin/python3, the same
 * thread count) that takes one step per request; it waits blocked on its pipe while the C
 * step runs, and the C model's threads wait blocked while PyTorch's runs. After
 * --warmup untimed steps on both sides, each of --rounds rounds times one C step and one
 * PyTorch step, in alternating order (C first in even rounds), and takes their ratio
 * (PyTorch's step time / C's = C's tokens/s over PyTorch's). Reported: the median, min
 * and max of the per-round ratios, the median tokens/s of each side, the rounds at or
 * above --target, and where the CPU has native bf16 each side's GFLOP/s as a share of the
 * machine's vdpbf16ps (or, for fp32, FMA) peak on T cores, measured in the same run by a
 * register-only loop (one instruction chain per accumulator, 24 accumulators).
 *
 *   bench_train_paired [--model A|B] [--threads T] [--rounds N] [--warmup N]
 *                      [--compute bf16|fp32] [--target X] [--csv PATH] [--commit ID]
 *
 * --csv appends one row (header when the file is new or empty), with the UTC time and the
 * load average at the start of the run, and --commit's ID (the source's commit, so that the
 * report can tell the runs of one build from another's; "unknown" without it). */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "common/error.h"
#include "common/matmul_bf16.h"
#include "common/model.h"
#include "common/rng.h"
#include "bench/bench_common.h"
#include "learner/adamw.h"

/* ---------------------------------------------------------------- instruction peak */
#if defined(__x86_64__)
#define PEAK_ITERS 240000000L /* about 30 ms per repetition at 8 G instructions per second */
__attribute__((target("avx512f,avx512bf16"))) static double peak_dpbf16_one(void) {
    /* 24 independent chains; each accumulator starts elsewhere so none can be merged */
    __m512 acc[24];
    for (int j = 0; j < 24; j++) acc[j] = _mm512_set1_ps((float)j * 1e-3f);
    volatile float va = 1.0f, vb = 1e-7f;
    __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(va), _mm512_set1_ps(va));
    __m512bh b = _mm512_cvtne2ps_pbh(_mm512_set1_ps(vb), _mm512_set1_ps(vb));
    double t0 = af_time_now();
    for (long i = 0; i < PEAK_ITERS / 24; i++) {
#pragma GCC unroll 24
        for (int j = 0; j < 24; j++) acc[j] = _mm512_dpbf16_ps(acc[j], a, b);
        __asm__ volatile("" : "+v"(a), "+v"(b));
    }
    double dt = af_time_now() - t0;
    float s = 0;
    for (int j = 0; j < 24; j++) s += _mm512_reduce_add_ps(acc[j]);
    if (s == 12345.0f) fprintf(stderr, " ");
    return (double)(PEAK_ITERS / 24 * 24) * 64.0 / dt; /* 32 bf16 pairs, 2 FLOP each */
}

__attribute__((target("avx512f"))) static double peak_fma_one(void) {
    __m512 acc[24];
    for (int j = 0; j < 24; j++) acc[j] = _mm512_set1_ps((float)j * 1e-3f);
    volatile float va = 1.0f, vb = 1e-7f;
    __m512 a = _mm512_set1_ps(va), b = _mm512_set1_ps(vb);
    double t0 = af_time_now();
    for (long i = 0; i < PEAK_ITERS / 24; i++) {
#pragma GCC unroll 24
        for (int j = 0; j < 24; j++) acc[j] = _mm512_fmadd_ps(a, b, acc[j]);
        __asm__ volatile("" : "+v"(a), "+v"(b));
    }
    double dt = af_time_now() - t0;
    float s = 0;
    for (int j = 0; j < 24; j++) s += _mm512_reduce_add_ps(acc[j]);
    if (s == 12345.0f) fprintf(stderr, " ");
    return (double)(PEAK_ITERS / 24 * 24) * 32.0 / dt; /* 16 lanes, 2 FLOP each */
}

typedef struct {
    int bf16;
    double flops;
} PeakArg;

static void *peak_thread(void *p) {
    PeakArg *a = p;
    double best = 0;
    for (int r = 0; r < 3; r++) {
        double f = a->bf16 ? peak_dpbf16_one() : peak_fma_one();
        best = f > best ? f : best;
    }
    a->flops = best;
    return NULL;
}

/* FLOP/s of the instruction on `threads` threads at once (the sum of their best of 3),
 * or 0 where the CPU lacks it. */
static double instruction_peak(int bf16, int threads) {
    if (bf16 ? !af_bf16_supported() : !__builtin_cpu_supports("avx512f")) return 0;
    pthread_t t[16];
    PeakArg a[16];
    if (threads > 16) threads = 16;
    int started = 0;
    for (int i = 0; i < threads; i++) {
        a[i] = (PeakArg){.bf16 = bf16};
        if (pthread_create(&t[i], NULL, peak_thread, &a[i])) break;
        started++;
    }
    double sum = 0;
    for (int i = 0; i < started; i++) pthread_join(t[i], NULL), sum += a[i].flops;
    return started == threads ? sum : 0;
}
#else
static double instruction_peak(int bf16, int threads) { return (void)bf16, (void)threads, 0; }
#endif

/* ---------------------------------------------------------------- PyTorch server */
typedef struct {
    pid_t pid;
    FILE *to, *from;
} Torch;

static int torch_start(Torch *t, char model, int threads, int warmup, int bf16) {
    const char *src = getenv("AF_SOURCE_DIR");
    char script[1024], thr[16], wu[16], mdl[2] = {model, 0};
    snprintf(script, sizeof script, "%s/bench/bench_model_torch.py", src ? src : ".");
    snprintf(thr, sizeof thr, "%d", threads);
    snprintf(wu, sizeof wu, "%d", warmup);
    int in[2], out[2];
    if (pipe(in)) return -1;
    if (pipe(out)) {
        close(in[0]), close(in[1]);
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(in[0]), close(in[1]), close(out[0]), close(out[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(in[0], 0), dup2(out[1], 1);
        close(in[0]), close(in[1]), close(out[0]), close(out[1]);
        setenv("OMP_NUM_THREADS", thr, 1), setenv("OPENBLAS_NUM_THREADS", thr, 1), setenv("MKL_NUM_THREADS", thr, 1);
        execl("/usr/bin/python3", "python3", script, "--model", mdl, "--threads", thr, "--warmup", wu, "--serve",
              bf16 ? "autocast" : "fp32", (char *)NULL);
        _exit(127);
    }
    close(in[0]), close(out[1]);
    t->pid = pid;
    t->to = fdopen(in[1], "w");
    t->from = fdopen(out[0], "r");
    if (!t->to || !t->from) return -1;
    char line[256];
    while (fgets(line, sizeof line, t->from))
        if (!strncmp(line, "READY", 5)) return 0;
    return -1; /* the server ended before its warm-up finished */
}

/* One PyTorch step: its wall seconds as the server measured them (-1: failed). */
static double torch_step(Torch *t) {
    if (fputs("STEP\n", t->to) == EOF || fflush(t->to)) return -1;
    char line[256];
    double wall, cpu;
    if (!fgets(line, sizeof line, t->from) || sscanf(line, "STEP %lf %lf", &wall, &cpu) != 2) return -1;
    return wall;
}

static int torch_stop(Torch *t) {
    if (t->to) fputs("QUIT\n", t->to), fclose(t->to);
    if (t->from) fclose(t->from);
    int st = 0;
    if (t->pid > 0 && waitpid(t->pid, &st, 0) < 0) return -1;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* ---------------------------------------------------------------- C side */
/* One C step: its wall seconds (negative: failed, *rc set). */
static double c_step(AfBenchTrain *t, AfModel *m, int *rc) {
    double t0 = af_time_now();
    if ((*rc = af_bench_train_step(t, m))) return -1;
    return af_time_now() - t0;
}

static void usage(void) {
    fprintf(stderr, "usage: bench_train_paired [--model A|B] [--threads T] [--rounds N] [--warmup N] "
                    "[--compute bf16|fp32] [--target X] [--csv PATH] [--commit ID]\n");
}

int main(int argc, char **argv) {
    char model = 'B';
    int threads = 2, rounds = 10, warmup = 3, bf16 = 1;
    double target = 2.0;
    const char *csv = NULL, *commit = "unknown";
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--model") && v && (v[0] == 'A' || v[0] == 'B') && !v[1]) model = v[0], i++;
        else if (!strcmp(argv[i], "--threads") && v && atoi(v) >= 1 && atoi(v) <= 16) threads = atoi(v), i++;
        else if (!strcmp(argv[i], "--rounds") && v && atoi(v) >= 1) rounds = atoi(v), i++;
        else if (!strcmp(argv[i], "--warmup") && v && atoi(v) >= 0) warmup = atoi(v), i++;
        else if (!strcmp(argv[i], "--compute") && v && (!strcmp(v, "bf16") || !strcmp(v, "fp32")))
            bf16 = !strcmp(v, "bf16"), i++;
        else if (!strcmp(argv[i], "--target") && v && atof(v) > 0) target = atof(v), i++;
        else if (!strcmp(argv[i], "--csv") && v) csv = v, i++;
        else if (!strcmp(argv[i], "--commit") && v && *v && !strpbrk(v, ",\n")) commit = v, i++;
        else {
            usage();
            return 2;
        }
    }
    if (bf16 && !af_bf16_supported()) {
        fprintf(stderr, "bench_train_paired: no native bf16 on this CPU (%s): run with --compute fp32\n", af_bf16_isa());
        return 2;
    }
    signal(SIGPIPE, SIG_IGN); /* a PyTorch server that dies is reported, not fatal */
    char started[32] = "", load[64] = "";
    time_t t0 = time(NULL);
    strftime(started, sizeof started, "%Y-%m-%d %H:%M", gmtime(&t0));
    FILE *la = fopen("/proc/loadavg", "r");
    if (la) {
        double l1, l5, l15;
        if (fscanf(la, "%lf %lf %lf", &l1, &l5, &l15) == 3) snprintf(load, sizeof load, "%.2f %.2f %.2f", l1, l5, l15);
        fclose(la);
    }
    AfBenchShape s = af_bench_shape(model);
    const int N = s.n_seqs * s.seq_len;
    af_model_set_threads(threads);
    double peak = instruction_peak(bf16, threads);
    AfModel *m = NULL;
    AfBenchTrain c = {0};
    int rc = af_model_create(&s.cfg, N, s.n_seqs, AF_MODEL_GRADS, &m);
    if (!rc) {
        af_model_init_params(m, 1);
        if (!(rc = af_model_set_compute(m, bf16 ? AF_COMPUTE_BF16 : AF_COMPUTE_FP32))) rc = af_bench_train_init(&c, m, &s);
    }
    double flops_tok = rc ? 0 : 3.0 * af_model_forward_flops(&s.cfg, c.ss, s.n_seqs) / N; /* bench_model's count */
    for (int i = 0; i < warmup && !rc; i++) c_step(&c, m, &rc);
    if (rc) {
        fprintf(stderr, "bench_train_paired: C side: %s: %s\n", af_strerror(rc), af_error_detail());
        af_bench_train_free(&c);
        af_model_destroy(m);
        return 1;
    }
    Torch t = {0};
    if (torch_start(&t, model, threads, warmup, bf16)) {
        fprintf(stderr, "bench_train_paired: the PyTorch server (bench/bench_model_torch.py --serve) did not start; "
                        "is /usr/bin/python3 with torch installed, and AF_SOURCE_DIR the source tree?\n");
        torch_stop(&t);
        af_bench_train_free(&c);
        af_model_destroy(m);
        return 1;
    }
    double *tc = calloc((size_t)rounds, sizeof(double)), *tt = calloc((size_t)rounds, sizeof(double));
    double *ratio = calloc((size_t)rounds, sizeof(double));
    int ok = tc && tt && ratio;
    for (int r = 0; r < rounds && ok; r++) {
        for (int k = 0; k < 2 && ok; k++) {
            if ((k == 0) == (r % 2 == 0)) {
                tc[r] = c_step(&c, m, &rc);
                ok = tc[r] > 0;
            } else {
                tt[r] = torch_step(&t);
                ok = tt[r] > 0;
            }
        }
        if (ok) {
            ratio[r] = tt[r] / tc[r];
            fprintf(stderr, "round %d: C %.3f s (%.0f tok/s), PyTorch %.3f s (%.0f tok/s), ratio %.2f\n", r, tc[r],
                    N / tc[r], tt[r], N / tt[r], ratio[r]);
        }
    }
    int tst = torch_stop(&t);
    af_bench_train_free(&c);
    af_model_destroy(m);
    if (!ok) {
        if (rc) fprintf(stderr, "bench_train_paired: C side: %s: %s\n", af_strerror(rc), af_error_detail());
        else fprintf(stderr, "bench_train_paired: %s\n", tc && tt && ratio ? "the PyTorch server failed mid-run" : "out of memory");
        free(tc), free(tt), free(ratio);
        return 1;
    }
    if (tst) fprintf(stderr, "bench_train_paired: the PyTorch server did not exit cleanly (figures kept)\n");
    double rmed = af_bench_median(ratio, rounds), rmin = ratio[0], rmax = ratio[0];
    int met = 0;
    for (int r = 0; r < rounds; r++) {
        rmin = ratio[r] < rmin ? ratio[r] : rmin, rmax = ratio[r] > rmax ? ratio[r] : rmax;
        met += ratio[r] >= target;
    }
    double c_tok = N / af_bench_median(tc, rounds), t_tok = N / af_bench_median(tt, rounds);
    const char *ref = bf16 ? "PyTorch bf16 autocast" : "PyTorch fp32";
    printf("model %c, %d threads, C %s / %s, %d alternating rounds after %d warm-up steps each:\n", model, threads,
           bf16 ? "bf16" : "fp32", ref, rounds, warmup);
    printf("  ratio median %.2f (min %.2f, max %.2f); at or above %.2f in %d of %d rounds\n", rmed, rmin, rmax, target,
           met, rounds);
    printf("  C %.0f tok/s, %s %.0f tok/s (medians)", c_tok, ref, t_tok);
    if (peak > 0)
        printf("; of the %s peak on %d cores (%.0f GFLOP/s, measured now): C %.0f%%, PyTorch %.0f%%",
               bf16 ? "vdpbf16ps" : "FMA", threads, peak / 1e9, 100 * c_tok * flops_tok / peak,
               100 * t_tok * flops_tok / peak);
    printf("\n");
    if (csv) {
        FILE *f = fopen(csv, "a");
        if (!f) {
            fprintf(stderr, "bench_train_paired: cannot append to %s: %s\n", csv, strerror(errno));
        } else {
            if (ftell(f) == 0)
                fprintf(f, "run_utc,load_average,model,threads,compute,rounds,warmup,ratio_median,ratio_min,ratio_max,target,rounds_met,"
                           "c_tok_s,torch_tok_s,peak_gflops,c_peak_frac,torch_peak_frac,commit\n");
            fprintf(f, "%s,%s,%c,%d,%s,%d,%d,%.3f,%.3f,%.3f,%.2f,%d,%.1f,%.1f,%.1f,%.3f,%.3f,%s\n", started, load, model,
                    threads, bf16 ? "bf16" : "fp32", rounds, warmup, rmed, rmin, rmax, target, met, c_tok, t_tok,
                    peak / 1e9, peak > 0 ? c_tok * flops_tok / peak : NAN, peak > 0 ? t_tok * flops_tok / peak : NAN,
                    commit);
            fclose(f);
        }
    }
    free(tc), free(tt), free(ratio);
    return 0;
}
