/* What the benchmarks share: a CPU clock, the median, the models A and B (bench_model.c,
 * bench_train_paired.c; bench_model_torch.py's MODELS holds the same shapes for PyTorch)
 * and their training step on a fixed batch. */
#ifndef AF_BENCH_COMMON_H
#define AF_BENCH_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "common/mpi_env.h"
#include "common/model.h"
#include "common/rng.h"
#include "learner/adamw.h"

/* Wall seconds: af_time_now (common/mpi_env.h). CPU seconds of this process alone, all its
 * threads, at nanosecond resolution (af_cpu_seconds would add the waited-for children, the
 * PyTorch reference processes of bench_model among them): */
static inline double af_bench_cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static inline int af_bench_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of v[0..n) (n >= 1); sorts v. */
static inline double af_bench_median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, af_bench_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

typedef struct {
    AfModelConfig cfg;
    int n_seqs, seq_len;
} AfBenchShape;

/* Model A (3.5M parameters) or, for any other letter, B (27.8M). */
static inline AfBenchShape af_bench_shape(char which) {
    AfBenchShape b = {.cfg = af_model_config_default()};
    b.cfg.max_seq = 1024;
    if (which == 'A') {
        b.cfg.vocab_size = 512, b.cfg.d_model = 256, b.cfg.n_layers = 4, b.cfg.n_heads = 4;
        b.cfg.n_kv_heads = 4, b.cfg.d_ff = 704, b.n_seqs = 16, b.seq_len = 256;
    } else {
        b.cfg.vocab_size = 2048, b.cfg.d_model = 512, b.cfg.n_layers = 8, b.cfg.n_heads = 8;
        b.cfg.n_kv_heads = 8, b.cfg.d_ff = 1408, b.n_seqs = 8, b.seq_len = 512;
    }
    return b;
}

/* The training batch of a shape (random tokens from AfRng seed 1, every token weighted
 * 1/N, sequences of seq_len) and an AdamW over a model's parameters. */
typedef struct {
    AfAdamW *opt;
    int32_t *tok;
    float *lp, *w;
    int *ss;
    int n_seqs;
} AfBenchTrain;

static inline void af_bench_train_free(AfBenchTrain *t) {
    af_adamw_destroy(t->opt);
    free(t->tok), free(t->lp), free(t->w), free(t->ss);
    memset(t, 0, sizeof *t);
}

/* The batch of shape s and an optimizer for m (a model of that shape); on failure nothing
 * is left allocated. */
static inline int af_bench_train_init(AfBenchTrain *t, const AfModel *m, const AfBenchShape *s) {
    const int N = s->n_seqs * s->seq_len;
    memset(t, 0, sizeof *t);
    t->n_seqs = s->n_seqs;
    AfAdamWConfig ac = af_adamw_config_default();
    int rc = af_adamw_create(&ac, m->n_params, &t->opt);
    if (rc) return rc;
    t->tok = malloc(sizeof(int32_t) * N), t->lp = malloc(sizeof(float) * N), t->w = malloc(sizeof(float) * N);
    t->ss = malloc(sizeof(int) * (s->n_seqs + 1));
    if (!t->tok || !t->lp || !t->w || !t->ss) {
        af_bench_train_free(t);
        return af_error_set(AF_ENOMEM, "bench: training buffers");
    }
    AfRng r;
    af_rng_init(&r, 1, AF_RNG_TEST, 0, 0, 0);
    for (int i = 0; i < N; i++) t->tok[i] = (int32_t)af_rng_below(&r, (uint32_t)s->cfg.vocab_size), t->w[i] = 1.0f / N;
    for (int i = 0; i <= s->n_seqs; i++) t->ss[i] = i * s->seq_len;
    return 0;
}

/* One training step of m on t's batch: forward, backward, gradient clip, AdamW. */
static inline int af_bench_train_step(AfBenchTrain *t, AfModel *m) {
    int rc;
    af_model_zero_grad(m);
    if ((rc = af_model_forward(m, t->tok, t->ss, t->n_seqs, 1.0f, t->lp, NULL))) return rc;
    if ((rc = af_model_backward(m, t->w))) return rc;
    af_grad_clip(m->grads, m->n_params, 1.0);
    af_adamw_step(t->opt, m->params, m->grads);
    return 0;
}

#endif
