/* Finite-difference check of the learner backward: every parameter tensor, for configs
 * with/without grouped-query attention, QKV bias and tied embeddings, over packed
 * sequences (one longer than an attention block). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/error.h"
#include "common/model.h"
#include "tests/model_testlib.h"
#include "tests/test_util.h"

#define NSEQ 3
static const int LENS[NSEQ] = {6, 70, 3};

static float *g_we; /* (N) entropy weights of the loss, or NULL (check_config with_ent) */
static float *g_ent;

static double loss_of(AfModel *m, const int32_t *tok, const int *ss, const float *w, float T,
                      float *lp) {
    int rc = af_model_forward(m, tok, ss, NSEQ, T, lp, g_we ? g_ent : NULL);
    if (rc) {
        fprintf(stderr, "forward: %s\n", af_error_detail());
        return NAN;
    }
    double L = 0;
    for (int i = 0; i < ss[NSEQ]; i++) L += (double)w[i] * lp[i] + (g_we ? (double)g_we[i] * g_ent[i] : 0.0);
    return L;
}

static int g_qwen3_llama3; /* 1: q/k norms, head_dim 6 (not d_model / n_heads), llama3 RoPE scaling */

/* with_ent: the loss also weights each position's entropy (af_model_backward_ent). */
static void check_config_ent(int kv, int bias, int tied, int with_ent) {
    AfModelConfig c = tiny_config(kv, bias, tied);
    if (g_qwen3_llama3) tiny_family_knobs(&c);
    int ss[NSEQ + 1] = {0};
    for (int s = 0; s < NSEQ; s++) ss[s + 1] = ss[s] + LENS[s];
    int N = ss[NSEQ];
    AfModel *m = NULL;
    CHECK(af_model_create(&c, N, NSEQ, AF_MODEL_GRADS, &m) == 0);
    if (!m) return;
    fill_params(m, 11 + kv + 2 * bias + 4 * tied, 0.3);
    int32_t *tok = malloc(N * sizeof *tok);
    float *w = malloc(N * sizeof *w), *lp = malloc(N * sizeof *lp);
    fill_tokens(tok, N, c.vocab_size, 5, 0);
    AfRng r;
    af_rng_init(&r, 3, AF_RNG_TEST, 3, 0, 0);
    for (int i = 0; i < N; i++) w[i] = (float)af_rng_normal(&r) / N * 4;
    if (with_ent) {
        g_we = malloc(N * sizeof *g_we), g_ent = malloc(N * sizeof *g_ent);
        /* some positions carry only an entropy weight, some only a log-prob weight */
        for (int i = 0; i < N; i++) g_we[i] = i % 3 == 1 ? 0.0f : (float)af_rng_normal(&r) / N * 8;
        for (int i = 0; i < N; i += 4) w[i] = 0.0f;
    }
    const float T = 0.8f;
    loss_of(m, tok, ss, w, T, lp);
    af_model_zero_grad(m);
    CHECK(af_model_backward_ent(m, w, g_we) == 0);
    CHECK(af_model_backward_ent(m, w, g_we) == AF_ESTATE); /* needs a fresh forward */
    int bad_tensors = 0;
    for (int ti = 0; ti < m->n_tensors; ti++) {
        const AfTensorInfo *t = &m->tensors[ti];
        float *p = m->params + t->offset;
        const float *g = m->grads + t->offset;
        /* the largest-gradient element plus a few random ones */
        size_t idx[6];
        size_t amax = 0;
        for (size_t j = 1; j < t->numel; j++)
            if (fabsf(g[j]) > fabsf(g[amax])) amax = j;
        idx[0] = amax;
        for (int k = 1; k < 6; k++) idx[k] = af_rng_below(&r, (uint32_t)t->numel);
        double gmax = fabs(g[amax]);
        int bad = 0;
        for (int k = 0; k < 6; k++) {
            size_t j = idx[k];
            float old = p[j];
            const float eps = 2e-3f;
            p[j] = old + eps;
            double lpl = loss_of(m, tok, ss, w, T, lp);
            p[j] = old - eps;
            double lmi = loss_of(m, tok, ss, w, T, lp);
            p[j] = old;
            double fd = (lpl - lmi) / (2.0 * eps);
            double tol = 1e-3 * gmax + 2e-4 + 2e-2 * fabs(g[j]);
            if (!(fabs(fd - g[j]) <= tol)) {
                bad++;
                fprintf(stderr, "kv=%d bias=%d tied=%d %s[%zu]: analytic %.6g fd %.6g\n", kv, bias,
                        tied, t->name, j, g[j], fd);
            }
        }
        CHECK_MSG(gmax > 0, "%s has an all-zero gradient", t->name);
        if (bad) bad_tensors++;
    }
    CHECK_MSG(bad_tensors == 0, "kv=%d bias=%d tied=%d: %d tensors disagree", kv, bias, tied, bad_tensors);
    fprintf(stderr, "kv=%d bias=%d tied=%d%s%s: %d tensors checked\n", kv, bias, tied,
            g_qwen3_llama3 ? " qk_norm head_dim=6 llama3-rope" : "", with_ent ? " entropy term" : "", m->n_tensors);
    /* gradients accumulate: a second forward+backward doubles them */
    float g0 = m->grads[m->tensors[1].offset];
    loss_of(m, tok, ss, w, T, lp);
    CHECK(af_model_backward_ent(m, w, g_we) == 0);
    CHECK_NEAR(m->grads[m->tensors[1].offset], 2 * g0, 1e-5 + 1e-5 * fabsf(g0));
    free(tok);
    free(w);
    free(lp);
    free(g_we), free(g_ent);
    g_we = g_ent = NULL;
    af_model_destroy(m);
}

static void check_config(int kv, int bias, int tied) { check_config_ent(kv, bias, tied, 0); }

int main(void) {
    check_config(4, 0, 0); /* multi-head, no bias, untied */
    check_config(2, 1, 0); /* GQA + bias */
    check_config(1, 0, 1); /* multi-query + tied embedding */
    check_config(2, 1, 1); /* everything */
    af_model_set_threads(2); /* attention items on two threads, OpenBLAS threaded */
    check_config(2, 1, 0);
    af_model_set_threads(1);
    g_qwen3_llama3 = 1; /* the Qwen3 / Llama-3 knobs through backward */
    check_config(2, 0, 1);
    check_config(1, 1, 0);
    g_qwen3_llama3 = 0;
    check_config_ent(4, 0, 0, 1); /* the entropy term's gradient (algo.entropy_coef) */
    check_config_ent(2, 1, 1, 1);
    TEST_MAIN_END();
}
