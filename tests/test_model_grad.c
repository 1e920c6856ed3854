/* Finite-difference check of the learner backward: every parameter tensor, for configs
 * with/without grouped-query attention, QKV bias and tied embeddings, over packed
 * sequences (one longer than an attention block); also with the LM head in blocks (the
 * large-vocabulary path), which matches the all-rows path. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/model.h"
#include "tests/lm_block_testlib.h"
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

/* Max |a - b| over the gradients of two models of one config; *amax: max |a|. */
static double grad_diff(const AfModel *a, const AfModel *b, double *amax) {
    double d = 0, g = 0;
    for (size_t j = 0; j < a->n_params; j++) {
        g = fmax(g, fabs(a->grads[j]));
        d = fmax(d, fabs((double)a->grads[j] - b->grads[j]));
    }
    *amax = g;
    return d;
}

static int is_first(const int *ss, int i) {
    for (int s = 0; s <= NSEQ; s++)
        if (ss[s] == i) return 1;
    return 0;
}

/* The LM head in blocks of `rows` rows (af_model_set_lm_budget, as for a ~150k-token
 * vocabulary) against all rows at once on the same model: log-probs, entropies and every
 * gradient; the need mask (rows not wanted are 0; a weight on one is refused); no logits
 * exposed. The first backward takes fewer rows than the forward computed (its last block
 * recomputed), the second the same rows (the forward's last block reused). */
static void check_lm_blocks(int tied, int rows) {
    AfModelConfig c = tiny_config(2, 1, tied);
    int ss[NSEQ + 1] = {0};
    for (int s = 0; s < NSEQ; s++) ss[s + 1] = ss[s] + LENS[s];
    const int N = ss[NSEQ];
    AfModel *full = NULL, *blk = NULL;
    CHECK(af_model_create(&c, N, NSEQ, AF_MODEL_GRADS, &full) == 0);
    af_model_set_lm_budget(1, (size_t)c.vocab_size * (size_t)rows);
    CHECK(af_model_create(&c, N, NSEQ, AF_MODEL_GRADS, &blk) == 0);
    af_model_set_lm_budget(0, 0);
    if (!full || !blk) return;
    fill_params(full, 21 + tied, 0.3);
    af_model_copy_params(blk, full);
    int32_t *tok = malloc(N * sizeof *tok);
    float *w = calloc(N, sizeof *w), *lp[2], *ent[2];
    uint8_t *need = calloc(N, 1);
    for (int k = 0; k < 2; k++) lp[k] = malloc(N * sizeof(float)), ent[k] = malloc(N * sizeof(float));
    fill_tokens(tok, N, c.vocab_size, 9, 0);
    AfRng r;
    af_rng_init(&r, 4, AF_RNG_TEST, 4, 0, 0);
    for (int i = 0; i < N; i++)
        if (af_rng_uniform(&r) < 0.3) w[i] = (float)af_rng_normal(&r), need[i] = 1;
    CHECK(af_model_forward(full, tok, ss, NSEQ, 0.8f, lp[0], ent[0]) == 0);
    CHECK(af_model_forward(blk, tok, ss, NSEQ, 0.8f, lp[1], ent[1]) == 0);
    CHECK(af_model_logits(full) != NULL && af_model_logits(blk) == NULL);
    double dl = 0, de = 0;
    for (int i = 0; i < N; i++) {
        dl = fmax(dl, fabs((double)lp[0][i] - lp[1][i]));
        de = fmax(de, fabs((double)ent[0][i] - ent[1][i]));
    }
    CHECK_MSG(dl <= 1e-6 && de <= 1e-6, "blocks vs all rows: log-prob %.3g, entropy %.3g", dl, de);
    af_model_zero_grad(full);
    af_model_zero_grad(blk);
    CHECK(af_model_backward(full, w) == 0);
    CHECK(af_model_backward(blk, w) == 0);
    double gmax = 0, gd = grad_diff(full, blk, &gmax);
    CHECK_MSG(gmax > 0 && gd <= 1e-5 * gmax, "blocks vs all rows: gradient %.3g of %.3g", gd, gmax);
    /* the need mask: only the wanted rows computed, the others 0; the gradient the same */
    CHECK(af_model_forward_need(blk, tok, ss, NSEQ, 0.8f, need, lp[1], NULL) == 0);
    int same = 1, zero = 1;
    for (int i = 0; i < N; i++) {
        if (need[i] && !is_first(ss, i)) same &= fabsf(lp[0][i] - lp[1][i]) <= 1e-6f;
        if (!need[i]) zero &= lp[1][i] == 0.0f;
    }
    CHECK(same && zero);
    af_model_zero_grad(blk);
    CHECK(af_model_backward(blk, w) == 0);
    double gmax_need = 0;
    gd = grad_diff(full, blk, &gmax_need);
    CHECK_MSG(gd <= 1e-5 * gmax, "need mask: gradient %.3g of %.3g", gd, gmax);
    /* a backward whose last block has as many rows as the forward's last block but not
     * the same ones (blocks of 5: the forward's 76 rows end in a block of 1, the
     * backward's 71 too, another row): recomputed, not reused */
    {
        int nf = 0, k = 0;
        for (int i = 1; i < N; i++) nf += !is_first(ss, i);
        for (int i = 1; i < N; i++)
            if (!is_first(ss, i)) w[i] = k < 4 || k == nf - 1 ? 0.0f : 0.5f + 0.01f * (float)i, k++;
        CHECK(af_model_forward(full, tok, ss, NSEQ, 0.8f, lp[0], NULL) == 0);
        CHECK(af_model_forward(blk, tok, ss, NSEQ, 0.8f, lp[1], NULL) == 0);
        af_model_zero_grad(full);
        af_model_zero_grad(blk);
        CHECK(af_model_backward(full, w) == 0);
        CHECK(af_model_backward(blk, w) == 0);
        double g2 = 0, d2 = grad_diff(full, blk, &g2);
        CHECK_MSG(g2 > 0 && d2 <= 1e-5 * g2, "last block of other rows: gradient %.3g of %.3g", d2, g2);
    }
    /* a weight on a row the forward did not compute is refused */
    memset(need, 0, (size_t)N);
    CHECK(af_model_forward_need(blk, tok, ss, NSEQ, 0.8f, need, lp[1], NULL) == 0);
    CHECK(af_model_backward(blk, w) == AF_ESTATE);
    fprintf(stderr, "LM head in blocks of %d rows (tied %d): log-prob %.2g, entropy %.2g, gradient %.2g of %.2g\n",
            rows, tied, dl, de, gd, gmax);
    for (int k = 0; k < 2; k++) free(lp[k]), free(ent[k]);
    free(tok);
    free(w);
    free(need);
    af_model_destroy(full);
    af_model_destroy(blk);
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
    check_lm_blocks(0, 5);
    check_lm_blocks(1, 5);
    check_lm_blocks(1, 1000); /* one block: the forward's logits serve the backward */
    af_model_set_threads(2);  /* a block's rows split over two threads */
    check_lm_blocks(1, 5);
    check_lm_blocks(0, 1000);
    check_lm_block_bits(AF_COMPUTE_FP32); /* a row's bits whatever its block; the grown block */
    af_model_set_threads(1);
    check_lm_block_bits(AF_COMPUTE_FP32);
    af_model_set_lm_budget(1, 37 * 3); /* the finite differences through the LM head in blocks */
    check_config(2, 1, 1);
    check_config(4, 0, 0);
    check_config_ent(2, 1, 1, 1); /* the entropy term's gradient through the blocks */
    af_model_set_lm_budget(0, 0);
    check_config_ent(4, 0, 0, 1); /* the entropy term's gradient (algo.entropy_coef) */
    check_config_ent(2, 1, 1, 1);
    TEST_MAIN_END();
}
