/* The actor path: cached decode agrees with the learner forward (<= 1e-4; also with the
 * Qwen3 / Llama-3 knobs; in bf16 within BF16_LOGP_TOL, and after new weights only once
 * af_decode_sync_weights ran), a sequence's
 * tokens and log-probs are bit-identical alone or inside batches of 3 and 16 with
 * different companions and slots and for 1-3 threads, in fp32 and in bf16; prefill
 * equals token-by-token feeding bitwise, the
 * sampler honours greedy/top-p, and bad arguments are rejected. Also reports whether the
 * learner forward's log-probs are invariant to batch composition. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/decode.h"
#include "common/error.h"
#include "common/kernels.h"
#include "common/model.h"
#include "tests/model_testlib.h"
#include "tests/test_util.h"

#define PROMPT 9
#define GEN 24
#define MAXLEN (PROMPT + GEN + 1)
#define BF16_LOGP_TOL 0.3       /* max |bf16 decode - fp32 forward| log-prob, weights std 0.25 */
#define BF16_LOGP_MEAN_TOL 0.03 /* and the mean over the 16 x 24 sampled tokens */

typedef struct {
    int32_t tok[GEN];
    float lp[GEN];
} Gen;

/* Decode `nb` sequences together; sequence b uses prompt seed pseeds[b], rng sample id
 * rids[b], slot slots[b]. Sequences run for GEN steps. */
static void run_batch(const AfModel *m, AfDecode *d, int nb, const int *slots, const uint32_t *pseeds,
                      const uint32_t *rids, const AfSampler *smp, Gen *out) {
    AfRng rngs[16];
    int32_t tk[16];
    float lp[16];
    AfSampler ss[16];
    for (int b = 0; b < nb; b++) {
        int32_t prompt[PROMPT];
        fill_tokens(prompt, PROMPT, m->cfg.vocab_size, 77, pseeds[b]);
        af_decode_reset(d, slots[b]);
        CHECK(af_decode_prefill(d, slots[b], prompt, PROMPT) == 0);
        af_rng_init(&rngs[b], 9, AF_RNG_SAMPLE, 0, 0, rids[b]);
        ss[b] = smp[b];
    }
    for (int t = 0; t < GEN; t++) {
        CHECK(af_decode_step(d, nb, slots, ss, rngs, tk, lp) == 0);
        for (int b = 0; b < nb; b++) {
            out[b].tok[t] = tk[b];
            out[b].lp[t] = lp[b];
        }
    }
}

/* af_vexpf: accuracy against libm, special values, and per-element independence. */
/* The Qwen3 / Llama-3 knobs (q/k norms, head_dim 6 != d_model / n_heads, llama3 RoPE
 * scaling) through the decoder: prefill then one token at a time gives the learner
 * forward's logits (<= 1e-4), and prefill equals feeding token by token bitwise. */
static void check_family_knobs(void) {
    AfModelConfig c = tiny_config(2, 0, 1);
    tiny_family_knobs(&c);
    enum { T = 40, P = 11 };
    AfModel *m = NULL;
    AfDecode *d = NULL;
    CHECK(af_model_create(&c, T, 1, 0, &m) == 0);
    if (!m) return;
    fill_params(m, 31, 0.3);
    CHECK(af_decode_create(m, 2, T, &d) == 0);
    if (!d) {
        af_model_destroy(m);
        return;
    }
    int32_t tok[T];
    fill_tokens(tok, T, c.vocab_size, 4, 0);
    int ss[2] = {0, T};
    CHECK(af_model_forward(m, tok, ss, 1, 1.0f, NULL, NULL) == 0);
    const float *ref = af_model_logits(m);
    int V = c.vocab_size, s0 = 0, s1 = 1;
    CHECK(af_decode_prefill(d, 0, tok, P) == 0);
    for (int i = 0; i < P; i++) CHECK(af_decode_feed(d, 1, &s1, &tok[i]) == 0);
    CHECK(memcmp(af_decode_logits(d, 0), af_decode_logits(d, 1), (size_t)V * sizeof(float)) == 0);
    double worst = 0;
    for (int i = P - 1; i < T; i++) {
        const float *z = af_decode_logits(d, 0);
        for (int j = 0; j < V; j++) worst = fmax(worst, fabs((double)z[j] - ref[(size_t)i * V + j]));
        if (i + 1 < T) CHECK(af_decode_feed(d, 1, &s0, &tok[i + 1]) == 0);
    }
    fprintf(stderr, "q/k norm, head_dim 6, llama3 RoPE: decode vs forward logits max |diff| %.3g\n", worst);
    CHECK(worst <= 1e-4);
    af_decode_destroy(d);
    af_model_destroy(m);
}

static void check_vexpf(void) {
    enum { NX = 1003 };
    static float x[NX], y[NX];
    for (int i = 0; i < NX; i++) x[i] = -90.0f + 180.0f * i / (NX - 1);
    x[0] = -INFINITY, x[1] = NAN, x[2] = 0.0f, x[3] = 89.0f;
    af_vexpf(y, x, NX);
    double worst = 0;
    for (int i = 4; i < NX; i++) {
        double ref = exp((double)x[i]);
        if (x[i] < -86.0f) {
            CHECK(y[i] == 0.0f);
            continue;
        }
        if (x[i] > 88.7f) {
            CHECK(isinf(y[i]));
            continue;
        }
        worst = fmax(worst, fabs(y[i] - ref) / ref);
        float one;
        af_vexpf(&one, &x[i], 1); /* scalar tail path: same bits */
        CHECK(one == y[i]);
    }
    CHECK(y[0] == 0.0f && isnan(y[1]) && y[2] == 1.0f && isinf(y[3]));
    fprintf(stderr, "af_vexpf max relative error %.3g\n", worst);
    CHECK(worst < 3e-7);
}

/* bf16: new weight matrices reach the products only through af_decode_sync_weights,
 * which then gives the bits of a decoder created on the new weights. */
static void check_sync(AfModel *m, AfDecode *d) {
    const int V = m->cfg.vocab_size;
    int32_t prompt[PROMPT];
    float *before = malloc(sizeof(float) * V), *now = malloc(sizeof(float) * V);
    fill_tokens(prompt, PROMPT, V, 77, 4);
    af_decode_reset(d, 0);
    CHECK(af_decode_prefill(d, 0, prompt, PROMPT) == 0);
    memcpy(before, af_decode_logits(d, 0), sizeof(float) * V);
    fill_params(m, 22, 0.25);
    af_decode_reset(d, 0);
    CHECK(af_decode_prefill(d, 0, prompt, PROMPT) == 0);
    memcpy(before, af_decode_logits(d, 0), sizeof(float) * V); /* new norms/biases/embedding, old matrices */
    CHECK(af_decode_sync_weights(d) == 0);
    af_decode_reset(d, 0);
    CHECK(af_decode_prefill(d, 0, prompt, PROMPT) == 0);
    memcpy(now, af_decode_logits(d, 0), sizeof(float) * V);
    CHECK_MSG(memcmp(before, now, sizeof(float) * V), "sync did not take the new matrices");
    AfDecode *fresh = NULL;
    CHECK(af_decode_create(m, 1, MAXLEN, &fresh) == 0);
    if (fresh) {
        CHECK(af_decode_set_dtype(fresh, AF_DECODE_BF16) == 0);
        CHECK(af_decode_prefill(fresh, 0, prompt, PROMPT) == 0);
        CHECK_MSG(!memcmp(now, af_decode_logits(fresh, 0), sizeof(float) * V), "synced != fresh bf16 decoder");
        CHECK(af_decode_set_dtype(fresh, AF_DECODE_FP32) == 0 && af_decode_dtype(fresh) == AF_DECODE_FP32);
    }
    af_decode_destroy(fresh);
    free(before), free(now);
}

/* The batch, thread and prefill invariances and the agreement with the learner forward,
 * with the decoder's products in `dt`; the sampler and argument checks once (fp32). */
static void check_decoder(AfDecodeDtype dt) {
    AfModelConfig c = tiny_config(2, 1, 0);
    c.vocab_size = 61;
    c.d_model = 32;    /* head_dim 8; in-dims with an 8-lane tail exercise both paths */
    c.d_ff = 44;
    AfModel *m = NULL;
    CHECK(af_model_create(&c, 16 * MAXLEN, 16, 0, &m) == 0);
    if (!m) return;
    fill_params(m, 21, 0.25);
    AfDecode *d = NULL;
    CHECK(af_decode_create(m, 16, MAXLEN, &d) == 0);
    if (!d) {
        af_model_destroy(m);
        return;
    }
    CHECK(af_decode_set_dtype(d, dt) == 0);
    CHECK(af_decode_dtype(d) == dt);
    const char *dname = dt == AF_DECODE_BF16 ? "bf16" : "fp32";

    AfSampler smp = {.temperature = 0.7f, .top_p = 0.9f};
    AfSampler all[16];
    uint32_t ps[16], rid[16];
    int slots[16];
    /* the probe sequence alone in slot 0 */
    Gen alone, g3[3], g16[16];
    ps[0] = 1, rid[0] = 1, slots[0] = 0, all[0] = smp;
    run_batch(m, d, 1, slots, ps, rid, all, &alone);
    /* inside a batch of 3 (probe in the middle, slot 5) */
    for (int b = 0; b < 3; b++) {
        ps[b] = 100 + b, rid[b] = 50 + b, slots[b] = 4 + b;
        all[b] = (AfSampler){.temperature = 1.0f + 0.1f * b, .top_p = 1.0f};
    }
    ps[1] = 1, rid[1] = 1, all[1] = smp;
    run_batch(m, d, 3, slots, ps, rid, all, g3);
    /* inside a batch of 16 (probe last, slot 2), companions differ from before */
    for (int b = 0; b < 16; b++) {
        ps[b] = 200 + b, rid[b] = 70 + b, slots[b] = (b * 7 + 3) % 16;
        all[b] = (AfSampler){.temperature = 0.5f + 0.05f * b, .top_p = b % 2 ? 0.8f : 1.0f};
    }
    ps[15] = 1, rid[15] = 1, all[15] = smp;
    for (int b = 0; b < 16; b++) slots[b] = (b * 5 + 1) % 16; /* a permutation; probe in 12 */
    run_batch(m, d, 16, slots, ps, rid, all, g16);
    CHECK_MSG(memcmp(&alone, &g3[1], sizeof alone) == 0, "%s: batch of 3 changed the probe's bits", dname);
    CHECK_MSG(memcmp(&alone, &g16[15], sizeof alone) == 0, "%s: batch of 16 changed the probe's bits", dname);
    /* thread count does not matter for decode */
    af_model_set_threads(2);
    CHECK(af_decode_set_threads(d, 2, 0) == 0); /* split every product over 2 threads */
    Gen again;
    int slot9 = 9;
    uint32_t one = 1;
    run_batch(m, d, 1, &slot9, &one, &one, &smp, &again);
    CHECK_MSG(memcmp(&alone, &again, sizeof alone) == 0, "slot or threads changed the bits");
    Gen g3b[3];
    {
        uint32_t ps3[3] = {100, 1, 102}, rid3[3] = {50, 1, 52};
        int slots3[3] = {4, 5, 6};
        AfSampler all3[3] = {{1.0f, 1.0f, 0, NULL}, smp, {1.2f, 1.0f, 0, NULL}};
        CHECK(af_decode_set_threads(d, 3, 0) == 0);
        run_batch(m, d, 3, slots3, ps3, rid3, all3, g3b);
    }
    CHECK_MSG(memcmp(g3, g3b, sizeof g3) == 0, "3 decode threads changed a batch's bits");
    { /* the batch of 16 on 2 threads: products and the rows' attention split (min_split 0) */
        Gen g16b[16];
        CHECK(af_decode_set_threads(d, 2, 0) == 0);
        run_batch(m, d, 16, slots, ps, rid, all, g16b);
        CHECK_MSG(memcmp(g16, g16b, sizeof g16) == 0, "%s: 2 decode threads changed a batch of 16's bits", dname);
    }
    CHECK(af_decode_set_threads(d, 1, 0) == 0);
    CHECK(af_decode_set_threads(d, 0, 0) == AF_EINVAL);
    af_model_set_threads(1);

    /* prefill == feeding one token at a time, bitwise */
    {
        int32_t prompt[PROMPT];
        fill_tokens(prompt, PROMPT, c.vocab_size, 77, 1);
        af_decode_reset(d, 0);
        af_decode_reset(d, 1);
        CHECK(af_decode_prefill(d, 0, prompt, PROMPT) == 0);
        for (int i = 0; i < PROMPT; i++) {
            int s1 = 1;
            CHECK(af_decode_feed(d, 1, &s1, &prompt[i]) == 0);
        }
        CHECK(af_decode_len(d, 0) == PROMPT && af_decode_len(d, 1) == PROMPT);
        CHECK(memcmp(af_decode_logits(d, 0), af_decode_logits(d, 1), c.vocab_size * sizeof(float)) == 0);
    }

    /* decode log-probs == learner forward's at the same temperature (all 16 sequences) */
    {
        int32_t *tok = malloc(16 * MAXLEN * sizeof *tok);
        float *lp = malloc(16 * MAXLEN * sizeof *lp);
        int ss[17] = {0};
        for (int b = 0; b < 16; b++) {
            int32_t *t = tok + ss[b];
            fill_tokens(t, PROMPT, c.vocab_size, 77, ps[b]);
            memcpy(t + PROMPT, g16[b].tok, GEN * sizeof(int32_t));
            ss[b + 1] = ss[b] + PROMPT + GEN;
        }
        double worst = 0, mean = 0;
        for (int b = 0; b < 16; b++) {
            /* the learner forward is per temperature: one call per distinct sampler */
            CHECK(af_model_forward(m, tok + ss[b], (int[]){0, PROMPT + GEN}, 1, all[b].temperature, lp, NULL) == 0);
            for (int t = 0; t < GEN; t++) {
                double e = fabs(lp[PROMPT + t] - g16[b].lp[t]);
                worst = e > worst ? e : worst;
                mean += e / (16 * GEN);
            }
        }
        /* bf16: weights and product inputs rounded to 8 significant bits (2^-9 relative);
         * with these large weights (std 0.25: sharp distributions) log-probs move by about
         * 1e-2 on average, 0.18 at worst (measured) */
        const double tol = dt == AF_DECODE_BF16 ? BF16_LOGP_TOL : 1e-4;
        fprintf(stderr, "%s: |decode logp - fp32 forward logp| max %.3g (tolerance %g), mean %.3g\n", dname, worst,
                tol, mean);
        CHECK_MSG(worst <= tol, "%s: decode vs forward log-prob differ by %g", dname, worst);
        CHECK_MSG(mean <= (dt == AF_DECODE_BF16 ? BF16_LOGP_MEAN_TOL : 1e-5), "%s: mean log-prob difference %g", dname, mean);
        if (dt == AF_DECODE_BF16) { /* bits the same on every kernel variant: test_kernels */
            free(tok);
            free(lp);
            check_sync(m, d);
            goto done;
        }

        /* learner forward invariance to batch composition: probe alone vs packed in 16 */
        float *lp_all = malloc(16 * MAXLEN * sizeof *lp_all);
        CHECK(af_model_forward(m, tok, ss, 16, 0.7f, lp_all, NULL) == 0);
        CHECK(af_model_forward(m, tok + ss[15], (int[]){0, PROMPT + GEN}, 1, 0.7f, lp, NULL) == 0);
        int same = memcmp(lp, lp_all + ss[15], (PROMPT + GEN) * sizeof(float)) == 0;
        double diff = 0;
        for (int i = 0; i < PROMPT + GEN; i++) diff = fmax(diff, fabs(lp[i] - lp_all[ss[15] + i]));
        fprintf(stderr, "learner forward: probe alone vs in a batch of 16: %s (max diff %.3g)\n",
                same ? "bit-identical" : "NOT bit-identical", diff);
        CHECK(diff <= 1e-5);
        /* and to the thread count */
        af_model_set_threads(2);
        CHECK(af_model_forward(m, tok, ss, 16, 0.7f, lp, NULL) == 0);
        af_model_set_threads(1);
        same = memcmp(lp, lp_all, ss[16] * sizeof(float)) == 0;
        diff = 0;
        for (int i = 0; i < ss[16]; i++) diff = fmax(diff, fabs(lp[i] - lp_all[i]));
        fprintf(stderr, "learner forward: 1 vs 2 threads: %s (max diff %.3g)\n",
                same ? "bit-identical" : "NOT bit-identical", diff);
        CHECK(diff <= 1e-5);
        free(lp_all);
        free(tok);
        free(lp);
    }

    /* greedy: argmax, no draws, logp at T = 1; top_p tiny = argmax too */
    {
        int32_t prompt[PROMPT];
        fill_tokens(prompt, PROMPT, c.vocab_size, 77, 3);
        af_decode_reset(d, 0);
        CHECK(af_decode_prefill(d, 0, prompt, PROMPT) == 0);
        const float *z = af_decode_logits(d, 0);
        int arg = 0;
        for (int j = 1; j < c.vocab_size; j++)
            if (z[j] > z[arg]) arg = j;
        AfRng r;
        af_rng_init(&r, 1, AF_RNG_SAMPLE, 0, 0, 0);
        int32_t t;
        float lp;
        AfSampler gr = {.temperature = 0, .top_p = 1};
        CHECK(af_decode_sample(d, 0, &gr, &r, &t, &lp) == 0);
        CHECK_EQ_INT(t, arg);
        CHECK(af_rng_tell(&r) == 0);
        double sum = 0;
        for (int j = 0; j < c.vocab_size; j++) sum += exp((double)z[j] - z[arg]);
        CHECK_NEAR(lp, -log(sum), 1e-5);
        AfSampler tp = {.temperature = 1.0f, .top_p = 1e-6f};
        for (int k = 0; k < 20; k++) {
            CHECK(af_decode_sample(d, 0, &tp, &r, &t, &lp) == 0);
            CHECK_EQ_INT(t, arg);
        }
        /* top-p 0.5 only ever yields tokens of the nucleus */
        double p[128];
        for (int j = 0; j < c.vocab_size; j++) p[j] = exp((double)z[j] - z[arg]) / sum;
        AfSampler half = {.temperature = 1.0f, .top_p = 0.5f};
        for (int k = 0; k < 200; k++) {
            CHECK(af_decode_sample(d, 0, &half, &r, &t, &lp) == 0);
            double above = 0; /* mass strictly more probable than t */
            for (int j = 0; j < c.vocab_size; j++)
                if (p[j] > p[t] || (p[j] == p[t] && j < t)) above += p[j];
            CHECK_MSG(above < 0.5 + 1e-6, "token %d outside the nucleus (mass above %.3f)", t, above);
        }
        /* errors */
        AfSampler badp = {.temperature = 1.0f, .top_p = 1.5f};
        CHECK(af_decode_sample(d, 0, &badp, &r, &t, &lp) == AF_EINVAL);
        af_decode_reset(d, 3);
        CHECK(af_decode_sample(d, 3, &half, &r, &t, &lp) == AF_EINVAL); /* empty slot */
        int32_t badtok = c.vocab_size;
        int s0 = 0;
        CHECK(af_decode_feed(d, 1, &s0, &badtok) == AF_EINVAL);
        CHECK_STR_CONTAINS(af_error_detail(), "vocabulary");
        int dup[2] = {0, 0};
        int32_t two[2] = {1, 2};
        CHECK(af_decode_feed(d, 2, dup, two) == AF_EINVAL);
        CHECK_STR_CONTAINS(af_error_detail(), "twice");
        CHECK_EQ_INT(af_decode_len(d, 0), PROMPT);
        int32_t big[MAXLEN + 1] = {0};
        CHECK(af_decode_prefill(d, 0, big, MAXLEN) == AF_EINVAL);
        CHECK(af_decode_set_dtype(d, (AfDecodeDtype)7) == AF_EINVAL);
    }
done:
    af_decode_destroy(d);
    af_model_destroy(m);
}

int main(void) {
    check_vexpf();
    check_family_knobs();
    check_decoder(AF_DECODE_FP32);
    check_decoder(AF_DECODE_BF16);
    AfDecodeDtype dt = AF_DECODE_FP32;
    CHECK(af_decode_dtype_parse("bf16", &dt) == 0 && dt == AF_DECODE_BF16);
    CHECK(af_decode_dtype_parse("auto", &dt) == 0 && dt == AF_DECODE_AUTO);
    CHECK(af_decode_dtype_parse("fp16", &dt) == AF_EINVAL);
    af_decode_destroy(NULL);
    af_model_destroy(NULL);
    TEST_MAIN_END();
}
