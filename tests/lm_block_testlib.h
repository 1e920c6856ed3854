/* The LM head's blocks (the large-vocabulary path) and the bits: shared by test_model_grad
 * (fp32) and test_model_bf16 (bf16). A row's log-prob and entropy must not depend on the
 * block it is computed in (so a model without gradients may take small blocks,
 * af_model_set_lm_fwd_block), and the block's buffer, allocated at the first block's rows
 * and grown by a larger one, must give the same bits as one allocated at full size. */
#ifndef AF_TESTS_LM_BLOCK_TESTLIB_H
#define AF_TESTS_LM_BLOCK_TESTLIB_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/matmul_bf16.h"
#include "common/model.h"
#include "tests/model_testlib.h"
#include "tests/test_util.h"

#define LMB_NSEQ 3

/* A model of config c with `rows`-row LM-head blocks (af_model_set_lm_budget) and, without
 * gradients, `fwd_rows`-row ones (af_model_set_lm_fwd_block), the given compute, params
 * copied from src (or filled). */
static AfModel *lmb_model(const AfModelConfig *c, int N, int grads, int rows, int fwd_rows, int compute,
                          const AfModel *src) {
    AfModel *m = NULL;
    size_t V = (size_t)c->vocab_size;
    af_model_set_lm_budget(1, V * (size_t)rows);
    af_model_set_lm_fwd_block(V * (size_t)fwd_rows);
    int rc = af_model_create(c, N, LMB_NSEQ, grads ? AF_MODEL_GRADS : 0, &m);
    af_model_set_lm_budget(0, 0);
    af_model_set_lm_fwd_block(0);
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

/* Every log-prob, entropy and gradient bit compared with memcmp; CHECK counts failures. */
static void check_lm_block_bits(int compute) {
    AfModelConfig c = tiny_config(2, 1, 1);
    c.vocab_size = 3001; /* more than a few product tiles wide */
    c.d_model = 64;
    c.d_ff = 96;
    const int lens[LMB_NSEQ] = {40, 70, 30};
    int ss[LMB_NSEQ + 1] = {0};
    for (int s = 0; s < LMB_NSEQ; s++) ss[s + 1] = ss[s] + lens[s];
    const int N = ss[LMB_NSEQ];
    /* the reference: one block of every row, with gradients */
    AfModel *ref = lmb_model(&c, N, 1, 100000, 0, compute, NULL);
    if (!ref) return;
    AfModel *grads7 = lmb_model(&c, N, 1, 7, 0, compute, ref);       /* blocks of 7, with gradients */
    AfModel *fwd1 = lmb_model(&c, N, 0, 100000, 1, compute, ref);    /* forward-only, 1 asked: 2 */
    AfModel *fwd13 = lmb_model(&c, N, 0, 100000, 13, compute, ref);  /* forward-only, blocks of 13 */
    AfModel *fwd3of7 = lmb_model(&c, N, 0, 7, 3, compute, ref);      /* forward-only, 3 where 7 */
    AfModel *grow = lmb_model(&c, N, 1, 50, 0, compute, ref);        /* grows from 3 rows to 50 */
    AfModel *fresh = lmb_model(&c, N, 1, 50, 0, compute, ref);       /* 50 rows from the first block */
    int32_t *tok = malloc(N * sizeof *tok);
    float *w = calloc((size_t)N, sizeof *w), *lp0 = malloc(N * sizeof(float)), *en0 = malloc(N * sizeof(float));
    float *lp = malloc(N * sizeof(float)), *en = malloc(N * sizeof(float)), *wf = calloc((size_t)N, sizeof(float));
    uint8_t *need = calloc((size_t)N, 1), *few = calloc((size_t)N, 1), *lone = calloc((size_t)N, 1);
    if (!lone || !fwd3of7 || !grads7 || !fwd1 || !fwd13 || !grow || !fresh || !tok || !w || !lp0 || !en0 || !lp || !en || !wf || !need || !few) {
        CHECK(0);
        goto done;
    }
    fill_tokens(tok, N, c.vocab_size, 5, 0);
    AfRng r;
    af_rng_init(&r, 6, AF_RNG_TEST, 6, 0, 0);
    for (int i = 0; i < N; i++)
        if (af_rng_uniform(&r) < 0.5) need[i] = 1, w[i] = (float)af_rng_normal(&r);
    few[5] = few[60] = few[120] = 1; /* three rows: the first block of `grow` */
    CHECK(af_model_forward(ref, tok, ss, LMB_NSEQ, 0.7f, lp0, en0) == 0);
    AfModel *same[] = {grads7, fwd1, fwd13};
    const char *name[] = {"blocks of 7 (gradients)", "blocks of 2 (forward only)", "blocks of 13 (forward only)"};
    for (int k = 0; k < 3; k++) {
        CHECK(af_model_forward(same[k], tok, ss, LMB_NSEQ, 0.7f, lp, en) == 0);
        CHECK_MSG(!memcmp(lp, lp0, N * sizeof(float)) && !memcmp(en, en0, N * sizeof(float)),
                  "%s: log-probs/entropies differ in bits from one block", name[k]);
    }
    /* the need mask on a forward-only model: the wanted rows' bits, the others 0 */
    CHECK(af_model_forward_need(fwd13, tok, ss, LMB_NSEQ, 0.7f, need, lp, en) == 0);
    int ok = 1;
    for (int i = 0; i < N; i++)
        ok &= need[i] ? !memcmp(&lp[i], &lp0[i], sizeof(float)) && !memcmp(&en[i], &en0[i], sizeof(float))
                      : lp[i] == 0.0f && en[i] == 0.0f;
    CHECK_MSG(ok, "forward-only blocks of 13 with need: not the same bits");
    /* 5 x 7 + 1 used rows: blocks of 7 end in a block of one row (in bf16 a product of one
     * row rounds differently), and blocks of 3 must too, and have no other one; also 5 x 7
     * + 2 and 5 x 7 + 3 rows (3 x 12 + 1: a one-row remainder joined to the block before) */
    for (int extra = 1; extra <= 3; extra++) {
        int k = 0;
        for (int i = 0; i < N; i++) lone[i] = 0;
        for (int i = 1; i < N && k < 35 + extra; i++)
            if (i != ss[1] && i != ss[2]) lone[i] = 1, k++;
        CHECK(af_model_forward_need(grads7, tok, ss, LMB_NSEQ, 0.7f, lone, lp0, en0) == 0);
        CHECK(af_model_forward_need(fwd3of7, tok, ss, LMB_NSEQ, 0.7f, lone, lp, en) == 0);
        CHECK_MSG(!memcmp(lp, lp0, N * sizeof(float)) && !memcmp(en, en0, N * sizeof(float)),
                  "%d used rows: blocks of 3 where 7: not the same bits", k);
    }
    /* the grown buffer: a step on three rows first (a 3-row block: logits and, in bf16, the
     * gradient's copy allocated at 3 rows), then a step on half the rows (grown to 50):
     * the same bits as a model whose first block had 50 rows; and again (no growth) */
    for (int i = 0; i < N; i++) wf[i] = few[i] ? 0.5f : 0.0f;
    CHECK(af_model_forward_need(grow, tok, ss, LMB_NSEQ, 0.7f, few, lp, NULL) == 0);
    CHECK(af_model_backward(grow, wf) == 0);
    for (int rep = 0; rep < 2; rep++) {
        af_model_zero_grad(grow);
        af_model_zero_grad(fresh);
        CHECK(af_model_forward_need(grow, tok, ss, LMB_NSEQ, 0.7f, need, lp, en) == 0);
        CHECK(af_model_forward_need(fresh, tok, ss, LMB_NSEQ, 0.7f, need, lp0, en0) == 0);
        CHECK(!memcmp(lp, lp0, N * sizeof(float)) && !memcmp(en, en0, N * sizeof(float)));
        CHECK(af_model_backward_ent(grow, w, w) == 0);
        CHECK(af_model_backward_ent(fresh, w, w) == 0);
        CHECK_MSG(!memcmp(grow->grads, fresh->grads, grow->n_params * sizeof(float)),
                  "grown LM-head block (pass %d): gradient not the same bits", rep);
    }
    double gmax = 0;
    for (size_t j = 0; j < fresh->n_params; j++) gmax = fmax(gmax, fabs(fresh->grads[j]));
    CHECK(gmax > 0);
    fprintf(stderr, "LM-head block bits (%s): blocks of 2, 3 (of 7), 7, 13, all rows: same log-probs/entropies; grown "
            "block: same gradient (max |g| %.3g)\n", compute == AF_COMPUTE_BF16 ? "bf16" : "fp32", gmax);
done:
    af_model_destroy(fwd3of7);
    af_model_destroy(ref), af_model_destroy(grads7), af_model_destroy(fwd1), af_model_destroy(fwd13);
    af_model_destroy(grow), af_model_destroy(fresh);
    free(tok), free(w), free(lp0), free(en0), free(lp), free(en), free(wf), free(need), free(few), free(lone);
}

#endif
