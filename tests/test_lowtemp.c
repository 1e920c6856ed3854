/* Low sampling temperatures (issue 20, item 6): at T in 0.01..0.05 (allowed values of
 * rollout.temperature) and at T = 1, every log-prob the sampler records is <= 0, and so
 * is every log-prob the learner's forward recomputes for the same tokens; the two agree
 * (decode and forward compute the logits by different products, so within a tolerance
 * scaled by 1/T). Before the fix the FMA-contracted z / T - max left the argmax's term
 * below 1 and near-certain tokens came out at +1e-7 .. +6e-6, which the learner rejects. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/decode.h"
#include "common/error.h"
#include "common/model.h"
#include "tests/model_testlib.h"
#include "tests/test_util.h"

#define NSEQ 16
#define PROMPT 6
#define GEN 24
#define LEN (PROMPT + GEN)

int main(void) {
    AfModelConfig c = tiny_config(2, 1, 0);
    c.vocab_size = 61;
    c.d_model = 32;
    c.d_ff = 64;
    AfModel *m = NULL;
    CHECK(af_model_create(&c, NSEQ * LEN, NSEQ, 0, &m) == 0);
    if (!m) TEST_MAIN_END();
    fill_params(m, 5, 0.5); /* logits of a few units: z / 0.01 in the hundreds */
    AfDecode *d = NULL;
    CHECK(af_decode_create(m, NSEQ, LEN, &d) == 0);
    if (!d) TEST_MAIN_END();

    static const float temps[] = {0.01f, 0.02f, 0.03f, 0.04f, 0.05f, 1.0f};
    static const float top_ps[] = {1.0f, 0.9f};
    int32_t toks[NSEQ * LEN];
    float lp_dec[NSEQ * LEN], lp_fwd[NSEQ * LEN];
    int seq_start[NSEQ + 1];
    long positive_dec = 0, positive_fwd = 0, sampled = 0, zeros = 0;
    double worst = 0;
    for (size_t ti = 0; ti < sizeof temps / sizeof temps[0]; ti++) {
        for (size_t pi = 0; pi < sizeof top_ps / sizeof top_ps[0]; pi++) {
            AfSampler smp = {.temperature = temps[ti], .top_p = top_ps[pi]};
            for (int s = 0; s < NSEQ; s++) {
                int32_t *t = toks + s * LEN;
                fill_tokens(t, PROMPT, c.vocab_size, 31 + ti, (uint32_t)(s + 100 * pi));
                af_decode_reset(d, s);
                CHECK(af_decode_prefill(d, s, t, PROMPT) == 0);
                AfRng rng;
                af_rng_init(&rng, 7, AF_RNG_SAMPLE, (uint32_t)ti, (uint32_t)pi, (uint32_t)s);
                for (int g = 0; g < GEN; g++) {
                    int32_t tok;
                    float lp;
                    CHECK(af_decode_sample(d, s, &smp, &rng, &tok, &lp) == 0);
                    t[PROMPT + g] = tok;
                    lp_dec[s * LEN + PROMPT + g] = lp;
                    sampled++;
                    if (!(lp <= 0.0f)) {
                        if (positive_dec++ < 5)
                            fprintf(stderr, "T=%g top_p=%g seq %d step %d: sampled log-prob %g > 0\n",
                                    (double)temps[ti], (double)top_ps[pi], s, g, (double)lp);
                    }
                    if (fabsf(lp) < 1e-3f) zeros++;
                    if (g + 1 < GEN) CHECK(af_decode_feed(d, 1, &s, &tok) == 0);
                }
                seq_start[s] = s * LEN;
            }
            seq_start[NSEQ] = NSEQ * LEN;
            CHECK(af_model_forward(m, toks, seq_start, NSEQ, temps[ti], lp_fwd, NULL) == 0);
            for (int s = 0; s < NSEQ; s++)
                for (int g = 0; g < GEN; g++) {
                    int i = s * LEN + PROMPT + g;
                    if (!(lp_fwd[i] <= 0.0f) && positive_fwd++ < 5)
                        fprintf(stderr, "T=%g: learner log-prob %g > 0 (seq %d step %d)\n", (double)temps[ti],
                                (double)lp_fwd[i], s, g);
                    /* decode (batch-invariant products) and forward (BLAS) differ in the
                     * last bits of the logits; dividing by T scales that up */
                    double tol = 2e-4 / temps[ti] * (1.0 + fabs(lp_dec[i]));
                    double diff = fabs((double)lp_fwd[i] - (double)lp_dec[i]);
                    if (diff * temps[ti] > worst) worst = diff * temps[ti];
                    CHECK_MSG(diff <= tol, "T=%g seq %d step %d: decode %g vs learner %g", (double)temps[ti], s, g,
                              (double)lp_dec[i], (double)lp_fwd[i]);
                }
        }
    }
    fprintf(stderr, "%ld tokens sampled, %ld near-certain (|log-prob| < 1e-3); positive: %ld sampled, %ld recomputed; "
                    "worst |decode - learner| * T = %.3g\n",
            sampled, zeros, positive_dec, positive_fwd, worst);
    CHECK_MSG(zeros > 0, "the test never sampled a near-certain token: it could not catch the bug");
    CHECK_EQ_INT(positive_dec, 0);
    CHECK_EQ_INT(positive_fwd, 0);
    af_decode_destroy(d);
    af_model_destroy(m);
    TEST_MAIN_END();
}
