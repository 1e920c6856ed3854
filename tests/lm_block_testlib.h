/* The LM head's blocks (the large-vocabulary path) and the bits: shared by test_model_grad
 * (fp32) and test_model_bf16 (bf16). A row's log-prob and entropy must not depend on the
 * block it is computed in; the blocks' shared logits buffer, allocated at the first
 * block's rows and grown by a larger one, must give the same bits as one allocated at full
 * size; and another model's block computed between a forward and its backward (the
 * reference planner's, in the same buffer) must not change the backward's bits. */
#ifndef AF_TESTS_LM_BLOCK_TESTLIB_H
#define AF_TESTS_LM_BLOCK_TESTLIB_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "common/error.h"
#include "common/kernels.h"
#include "common/matmul_bf16.h"
#include "common/model.h"
#include "tests/model_testlib.h"
#include "tests/test_util.h"

#define LMB_NSEQ 3

/* A model of config c with `rows`-row LM-head blocks (af_model_set_lm_budget), the given
 * compute, params copied from src (or filled). */
static AfModel *lmb_model(const AfModelConfig *c, int N, int grads, int rows, int compute, const AfModel *src) {
    AfModel *m = NULL;
    af_model_set_lm_budget(1, (size_t)c->vocab_size * (size_t)rows);
    int rc = af_model_create(c, N, LMB_NSEQ, grads ? AF_MODEL_GRADS : 0, &m);
    af_model_set_lm_budget(0, 0);
    CHECK_MSG(rc == 0, "create: %s", af_error_detail());
    if (rc) return NULL;
    if ((rc = af_model_set_compute(m, compute))) {
        CHECK_MSG(0, "set_compute: %s", af_error_detail());
        af_model_destroy(m);
        return NULL;
    }
    if (src)
        af_model_copy_params(m, src);
    else
        fill_params(m, 77, 0.3);
    return m;
}

/* Every log-prob, entropy and gradient bit compared with memcmp; CHECK counts failures.
 * The models are created in an order that makes the shared buffer's first block small. */
static void check_lm_block_bits(int compute) {
    AfModelConfig c = tiny_config(2, 1, 1);
    c.vocab_size = 3001; /* more than a few product tiles wide */
    c.d_model = 64;
    c.d_ff = 96;
    const int lens[LMB_NSEQ] = {40, 70, 30};
    int ss[LMB_NSEQ + 1] = {0};
    for (int s = 0; s < LMB_NSEQ; s++) ss[s + 1] = ss[s] + lens[s];
    const int N = ss[LMB_NSEQ];
    AfModel *grow = lmb_model(&c, N, 1, 50, compute, NULL);       /* grows from 3 rows to 50 */
    AfModel *ref = lmb_model(&c, N, 1, 100000, compute, grow);    /* one block of every row */
    AfModel *grads7 = lmb_model(&c, N, 1, 7, compute, grow);      /* blocks of 7 */
    AfModel *fwd13 = lmb_model(&c, N, 0, 13, compute, grow);      /* no gradients, blocks of 13 */
    AfModel *fresh = lmb_model(&c, N, 1, 50, compute, grow);      /* another model of blocks of 50 */
    int32_t *tok = malloc(N * sizeof *tok);
    float *w = calloc((size_t)N, sizeof *w), *lp0 = malloc(N * sizeof(float)), *en0 = malloc(N * sizeof(float));
    float *lp = malloc(N * sizeof(float)), *en = malloc(N * sizeof(float)), *wf = calloc((size_t)N, sizeof(float));
    float *g0 = NULL;
    uint8_t *need = calloc((size_t)N, 1), *few = calloc((size_t)N, 1);
    if (!grow || !ref || !grads7 || !fwd13 || !fresh || !tok || !w || !lp0 || !en0 || !lp || !en || !wf || !need ||
        !few || !(g0 = malloc(grow->n_params * sizeof(float)))) {
        CHECK(0);
        goto done;
    }
    fill_tokens(tok, N, c.vocab_size, 5, 0);
    AfRng r;
    af_rng_init(&r, 6, AF_RNG_TEST, 6, 0, 0);
    for (int i = 0; i < N; i++)
        if (af_rng_uniform(&r) < 0.5) need[i] = 1, w[i] = (float)af_rng_normal(&r);
    few[5] = few[60] = few[120] = 1; /* three rows: the shared buffer's first block */
    for (int i = 0; i < N; i++) wf[i] = few[i] ? 0.5f : 0.0f;
    CHECK(af_model_forward_need(grow, tok, ss, LMB_NSEQ, 0.7f, few, lp, NULL) == 0);
    CHECK(af_model_backward(grow, wf) == 0);
    /* a row's bits whatever its block */
    CHECK(af_model_forward(ref, tok, ss, LMB_NSEQ, 0.7f, lp0, en0) == 0);
    AfModel *same[] = {grads7, fwd13};
    const char *name[] = {"blocks of 7", "blocks of 13 (no gradients)"};
    /* an fp32 LM head on an OpenBLAS core whose rows' bits depend on the rows in the call
     * (Haswell's; af_blas_rows_invariant) can give only close values across block sizes:
     * 1e-5 here (a given block size still repeats its bits, checked below) */
    int bits = compute != AF_COMPUTE_FP32 || af_blas_rows_invariant();
    if (!bits) printf("LM-head blocks (fp32, OpenBLAS core %s): rows' bits depend on the rows in the product; "
                      "checked within 1e-5\n", openblas_get_corename());
    for (int k = 0; k < 2; k++) {
        CHECK(af_model_forward(same[k], tok, ss, LMB_NSEQ, 0.7f, lp, en) == 0);
        if (bits) {
            CHECK_MSG(!memcmp(lp, lp0, N * sizeof(float)) && !memcmp(en, en0, N * sizeof(float)),
                      "%s: log-probs/entropies differ in bits from one block", name[k]);
        } else {
            double d = 0;
            for (int i = 0; i < N; i++) d = fmax(d, fmax(fabs(lp[i] - lp0[i]), fabs(en[i] - en0[i])));
            CHECK_MSG(d <= 1e-5, "%s: log-probs/entropies differ by %.3g from one block", name[k], d);
        }
    }
    /* the grown buffer (3 rows, then 140 from `ref`): `grow` and `fresh` the same bits; then
     * between `fresh`'s forward and backward another model's block replaces its kept last
     * block (recomputed: the same gradient bits); and again, undisturbed (reused) */
    for (int rep = 0; rep < 3; rep++) {
        af_model_zero_grad(grow);
        af_model_zero_grad(fresh);
        CHECK(af_model_forward_need(grow, tok, ss, LMB_NSEQ, 0.7f, need, lp, en) == 0);
        CHECK(af_model_backward_ent(grow, w, w) == 0);
        CHECK(af_model_forward_need(fresh, tok, ss, LMB_NSEQ, 0.7f, need, lp0, en0) == 0);
        CHECK(!memcmp(lp, lp0, N * sizeof(float)) && !memcmp(en, en0, N * sizeof(float)));
        if (rep == 1) CHECK(af_model_forward(fwd13, tok, ss, LMB_NSEQ, 0.7f, lp, NULL) == 0);
        CHECK(af_model_backward_ent(fresh, w, w) == 0);
        CHECK_MSG(!memcmp(grow->grads, fresh->grads, grow->n_params * sizeof(float)),
                  "pass %d (%s): gradient not the same bits", rep,
                  rep == 1 ? "another model's block in between" : "undisturbed");
        if (rep == 0) memcpy(g0, grow->grads, grow->n_params * sizeof(float));
        CHECK(!memcmp(g0, grow->grads, grow->n_params * sizeof(float)));
    }
    double gmax = 0;
    for (size_t j = 0; j < fresh->n_params; j++) gmax = fmax(gmax, fabs(fresh->grads[j]));
    CHECK(gmax > 0);
    fprintf(stderr, "LM-head block bits (%s): blocks of 7, 13, all rows: same log-probs/entropies; grown and "
            "shared buffer: same gradient (max |g| %.3g)\n", af_compute_name(compute), gmax);
done:
    af_model_destroy(grow), af_model_destroy(ref), af_model_destroy(grads7), af_model_destroy(fwd13);
    af_model_destroy(fresh);
    free(tok), free(w), free(lp0), free(en0), free(lp), free(en), free(wf), free(g0), free(need), free(few);
}

#endif
