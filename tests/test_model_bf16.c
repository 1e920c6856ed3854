/* bf16 learner products (common/matmul_bf16.h, model.compute):
 *  - af_f32_to_bf16_n gives af_f32_to_bf16's bits (round to nearest even, subnormals,
 *    infinities, NaN) under every kernel variant the CPU runs;
 *  - without native bf16 (AF_BF16=off, registered as test_model_bf16_off, or a CPU
 *    without AVX512-BF16): auto resolves to fp32 and the model's results are the fp32
 *    bits, bf16 is refused with AF_ECONFIG;
 *  - with native bf16: af_bf16mm_run equals a double-precision product of the
 *    bf16-rounded inputs within fp32 accumulation error (1e-5 of sum |a b|), for every
 *    transpose and beta, and differs from the product of the unrounded inputs (the inputs
 *    are really rounded); the model in bf16 against the fp32 model on the same weights
 *    and batch: a small model (production init std 0.02, QKV bias, GQA): log-probs
 *    within 1e-2 absolute, the loss within 1e-2 relative; a tiny model with the Qwen3 /
 *    Llama-3 knobs and std 0.3 weights (large logits): 1e-1 and 5e-2; both: every
 *    gradient tensor with cosine > 0.999 and relative L2 error < 5e-2, not bit-identical
 *    to fp32 (the bf16 path ran), the same bits twice in a row at 1 and at 2 threads, and
 *    fp32's bits again after switching back; fp32 gives the same bits at 1, 2 and 3
 *    threads (the work split over the model's threads); so does bf16 on a batch of 597
 *    tokens and d_model 256 (the products in several fixed chunks; before the chunking,
 *    oneDNN's 2-thread products gave other gradient bits than 1 thread at this size); the
 *    LM head in blocks (a large vocabulary's path) in bf16 against all rows at once in
 *    bf16 (check_lm_blocks_bf16);
 *  - model.compute=bf16-fma (the same rounded inputs, fp32 operands on oneDNN's fp32
 *    products; any CPU, so also run without native bf16): af_bf16mm_run_f32 within the
 *    same 1e-5 of the double product of the rounded inputs, and every model check above
 *    (tolerances against fp32, repeatability, the same bits at 1, 2 and 3 threads, the LM
 *    head in blocks) with bf16-fma in place of bf16.
 * Exit 77 (skip) when the CPU lacks native bf16 and AF_BF16 is not "off" (after the
 * bf16-fma checks). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bf16.h"
#include "common/error.h"
#include "common/kernels.h"
#include "common/matmul_bf16.h"
#include "common/model.h"
#include "common/safetensors.h"
#include "tests/lm_block_testlib.h"
#include "tests/model_testlib.h"
#include "tests/test_util.h"

static uint64_t g_state = 88172645463325252ull;
static float frand(float lo, float hi) {
    g_state ^= g_state << 13, g_state ^= g_state >> 7, g_state ^= g_state << 17;
    return lo + (hi - lo) * (float)((g_state >> 40) * (1.0 / 16777216.0));
}

static float bits_f(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void check_conversion(void) {
    enum { N = 1037 };
    float x[N];
    for (int i = 0; i < N; i++) x[i] = frand(-3, 3) * powf(2.0f, (float)(i % 60) - 30);
    const uint32_t special[] = {0x00000000u, 0x80000000u, 0x7f800000u, 0xff800000u, 0x7fc00000u, 0xffc00001u,
                                0x7f800001u, 0x00000001u, 0x00008000u, 0x00018000u, 0x3f808000u, 0x3f818000u,
                                0x3f80ffffu, 0x7f7fffffu, 0x807fffffu, 0x3f7f8000u};
    for (size_t i = 0; i < sizeof special / sizeof *special; i++) x[i] = bits_f(special[i]);
    static const char *const variants[] = {"baseline", "avx2", "avx512"};
    const char *was = af_kernels_name();
    int ran = 0;
    for (int v = 0; v < 3; v++) {
        if (!af_kernels_supported(variants[v])) continue;
        CHECK(af_kernels_select(variants[v]) == 0);
        uint16_t y[N];
        for (int n = 0; n <= N; n += N / 3 + 1) { /* lengths with vector tails */
            memset(y, 0, sizeof y);
            af_f32_to_bf16_n(y, x, (size_t)n);
            int bad = 0;
            for (int i = 0; i < n; i++) bad += y[i] != af_f32_to_bf16(x[i]);
            for (int i = n; i < N; i++) bad += y[i] != 0; /* nothing written past n */
            CHECK(bad == 0);
        }
        ran++;
    }
    CHECK(ran >= 1);
    CHECK(af_kernels_select(was) == 0);
    /* the rounding itself: ties to even, subnormals kept, NaN quiet */
    CHECK(af_f32_to_bf16(bits_f(0x3f808000u)) == 0x3f80); /* tie, even below */
    CHECK(af_f32_to_bf16(bits_f(0x3f818000u)) == 0x3f82); /* tie, odd below: up */
    CHECK(af_f32_to_bf16(bits_f(0x00018000u)) == 0x0002); /* subnormal tie rounds up to even */
    CHECK(af_f32_to_bf16(bits_f(0x7f800001u)) == 0x7fc0); /* signalling NaN -> quiet NaN */
    CHECK(af_f32_to_bf16(bits_f(0x7f7fffffu)) == 0x7f80); /* max float rounds to +inf */
}

/* ------------------------------------------------------------------ the model */

typedef struct {
    AfModelConfig c;
    int ss[4], n_seqs, N;
    int32_t *tok;
    float *w;
} Batch;

static Batch make_batch(int family) {
    Batch b = {.c = af_model_config_default(), .n_seqs = 3};
    if (family) {
        b.c = tiny_config(2, 0, 1);
        tiny_family_knobs(&b.c);
    } else {
        b.c.vocab_size = 256, b.c.d_model = 128, b.c.n_layers = 2, b.c.n_heads = 4, b.c.n_kv_heads = 2;
        b.c.d_ff = 352, b.c.max_seq = 256, b.c.qkv_bias = 1;
    }
    const int lens[3] = {40, 100, 7};
    for (int s = 0; s < 3; s++) b.ss[s + 1] = b.ss[s] + lens[s];
    b.N = b.ss[3];
    b.tok = malloc(sizeof(int32_t) * b.N);
    b.w = malloc(sizeof(float) * b.N);
    fill_tokens(b.tok, b.N, b.c.vocab_size, 7, (uint32_t)family);
    AfRng r;
    af_rng_init(&r, 4, AF_RNG_TEST, 4, 0, 0);
    for (int i = 0; i < b.N; i++) b.w[i] = (float)af_rng_normal(&r) / b.N * 4;
    return b;
}

/* forward + backward; returns the loss sum w_i logp_i (NAN on failure); lp (N), grads in m */
static double run(AfModel *m, const Batch *b, float *lp) {
    af_model_zero_grad(m);
    int rc = af_model_forward(m, b->tok, b->ss, b->n_seqs, 0.9f, lp, NULL);
    if (!rc) rc = af_model_backward(m, b->w);
    if (rc) {
        fprintf(stderr, "forward/backward: %s: %s\n", af_strerror(rc), af_error_detail());
        return NAN;
    }
    double L = 0;
    for (int i = 0; i < b->N; i++) L += (double)b->w[i] * lp[i];
    return L;
}

static AfModel *make_model(const Batch *b, int compute, int family) {
    AfModel *m = NULL;
    CHECK(af_model_create(&b->c, b->N, b->n_seqs, AF_MODEL_GRADS, &m) == 0);
    if (!m) return NULL;
    if (family) fill_params(m, 21, 0.3);
    else af_model_init_params(m, 21);
    int rc = af_model_set_compute(m, compute);
    CHECK(rc == 0);
    if (rc) fprintf(stderr, "set_compute: %s\n", af_error_detail());
    return m;
}

/* Without native bf16: auto is fp32 with fp32's bits, bf16 is refused. */
static void check_fallback(void) {
    int got = -1;
    CHECK(af_compute_resolve(AF_COMPUTE_AUTO, &got) == 0 && got == AF_COMPUTE_FP32);
    CHECK(af_compute_resolve(AF_COMPUTE_BF16, &got) == AF_ECONFIG);
    CHECK(af_compute_resolve(7, &got) == AF_EINVAL);
    CHECK(af_compute_resolve(AF_COMPUTE_BF16_FMA, &got) == 0 && got == AF_COMPUTE_BF16_FMA);
    AfBf16Mm *mm = NULL;
    CHECK(af_bf16mm_create(&mm) == AF_ESTATE && mm == NULL);
    Batch b = make_batch(0);
    AfModel *f = make_model(&b, AF_COMPUTE_FP32, 0), *a = make_model(&b, AF_COMPUTE_AUTO, 0);
    if (f && a) {
        CHECK(a->compute == AF_COMPUTE_FP32 && a->wb == NULL);
        CHECK(af_model_set_compute(a, AF_COMPUTE_BF16) == AF_ECONFIG && a->compute == AF_COMPUTE_FP32);
        float *l1 = malloc(sizeof(float) * b.N), *l2 = malloc(sizeof(float) * b.N);
        run(f, &b, l1);
        run(a, &b, l2);
        CHECK(memcmp(l1, l2, sizeof(float) * b.N) == 0);
        CHECK(memcmp(f->grads, a->grads, sizeof(float) * f->n_params) == 0);
        free(l1), free(l2);
    }
    af_model_destroy(f), af_model_destroy(a);
    free(b.tok), free(b.w);
}

/* af_bf16mm_run (fma: af_bf16mm_run_f32 on the rounded inputs widened to fp32) against
 * double products of the rounded inputs. */
static void check_products(int fma) {
    AfBf16Mm *g = NULL;
    CHECK((fma ? af_bf16mm_create_fma(&g) : af_bf16mm_create(&g)) == 0);
    if (!g) return;
    const int shapes[][3] = {{7, 13, 29}, {64, 48, 96}, {1, 70, 33}, {130, 5, 257}};
    int rounded_visible = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int beta = 0; beta < 2; beta++) {
                    int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
                    int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2;
                    size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * ldc;
                    float *af = malloc(na * 4), *bf = malloc(nb * 4), *c = malloc(nc * 4), *c0 = malloc(nc * 4);
                    uint16_t *a16 = malloc(na * 2), *b16 = malloc(nb * 2);
                    float *ar = malloc(na * 4), *br = malloc(nb * 4);
                    for (size_t i = 0; i < na; i++) af[i] = frand(-1, 1);
                    for (size_t i = 0; i < nb; i++) bf[i] = frand(-1, 1);
                    for (size_t i = 0; i < nc; i++) c[i] = c0[i] = frand(-1, 1);
                    af_f32_to_bf16_n(a16, af, na);
                    af_f32_to_bf16_n(b16, bf, nb);
                    af_f32_round_bf16_n(ar, af, na);
                    af_f32_round_bf16_n(br, bf, nb);
                    for (size_t i = 0; i < na; i++) CHECK(ar[i] == af_bf16_to_f32(a16[i]));
                    if (fma)
                        CHECK(af_bf16mm_run_f32(g, ta, tb, M, N, K, ar, lda, br, ldb, beta, c, ldc) == 0);
                    else
                        CHECK(af_bf16mm_run(g, ta, tb, M, N, K, a16, lda, b16, ldb, beta, c, ldc) == 0);
                    int bad = 0;
                    for (int i = 0; i < M; i++) {
                        for (int j = 0; j < N; j++) {
                            double ref = beta ? c0[(size_t)i * ldc + j] : 0, mag = fabs(ref), ref32 = ref;
                            for (int k = 0; k < K; k++) {
                                size_t ia = ta ? (size_t)k * lda + i : (size_t)i * lda + k;
                                size_t ib = tb ? (size_t)j * ldb + k : (size_t)k * ldb + j;
                                double p = (double)af_bf16_to_f32(a16[ia]) * af_bf16_to_f32(b16[ib]);
                                ref += p, mag += fabs(p), ref32 += (double)af[ia] * bf[ib];
                            }
                            double got = c[(size_t)i * ldc + j];
                            if (!(fabs(got - ref) <= 1e-5 * mag + 1e-30)) bad++;
                            if (fabs(got - ref32) > 1e-4 * mag) rounded_visible++;
                        }
                        for (int j = N; j < ldc; j++) bad += c[(size_t)i * ldc + j] != c0[(size_t)i * ldc + j];
                    }
                    if (bad)
                        fprintf(stderr, "%s product %dx%dx%d ta %d tb %d beta %d: %d bad\n", fma ? "bf16-fma" : "bf16",
                                M, N, K, ta, tb, beta, bad);
                    CHECK(bad == 0);
                    free(af), free(bf), free(c), free(c0), free(a16), free(b16), free(ar), free(br);
                }
    CHECK(rounded_visible > 100);
    CHECK(af_bf16mm_run(g, 0, 0, 0, 4, 4, NULL, 4, NULL, 4, 0, NULL, 4) == AF_EINVAL);
    CHECK(af_bf16mm_run(g, 0, 0, 4, 4, 8, NULL, 4, NULL, 4, 0, NULL, 4) == AF_EINVAL); /* lda < K */
    af_bf16mm_destroy(g);
}

static double cosine(const float *a, const float *b, size_t n, double *rel_l2) {
    double ab = 0, aa = 0, bb = 0, dd = 0;
    for (size_t i = 0; i < n; i++) {
        ab += (double)a[i] * b[i], aa += (double)a[i] * a[i], bb += (double)b[i] * b[i];
        dd += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    }
    *rel_l2 = sqrt(dd / (bb > 0 ? bb : 1e-300));
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : (aa == bb ? 1.0 : 0.0);
}

static void check_model(int family, int compute) {
    Batch b = make_batch(family);
    AfModel *f = make_model(&b, AF_COMPUTE_FP32, family), *h = make_model(&b, compute, family);
    if (!f || !h) goto done;
    CHECK(h->compute == AF_COMPUTE_BF16 && h->mm_fma == (compute == AF_COMPUTE_BF16_FMA));
    float *lf = malloc(sizeof(float) * b.N), *lh = malloc(sizeof(float) * b.N), *l2 = malloc(sizeof(float) * b.N);
    float *g1 = malloc(sizeof(float) * h->n_params), *gf = malloc(sizeof(float) * f->n_params);
    double Lf = run(f, &b, lf), Lh = run(h, &b, lh);
    memcpy(gf, f->grads, sizeof(float) * f->n_params);
    double dmax = 0;
    for (int i = 0; i < b.N; i++) dmax = fmax(dmax, fabs((double)lf[i] - lh[i]));
    double worst_cos = 1, worst_rel = 0;
    const char *worst_name = "";
    for (int t = 0; t < f->n_tensors; t++) {
        const AfTensorInfo *ti = &f->tensors[t];
        double rel, cs = cosine(h->grads + ti->offset, f->grads + ti->offset, ti->numel, &rel);
        if (cs < worst_cos) worst_cos = cs, worst_name = ti->name;
        worst_rel = fmax(worst_rel, rel);
    }
    printf("%s: %s vs fp32: max |dlogp| %.3g, loss %.6g vs %.6g (rel %.2g), worst grad cosine %.6f (%s), worst rel L2 %.3g\n",
           family ? "tiny qwen3/llama3 knobs" : "small model", af_compute_name(compute), dmax, Lh, Lf, fabs(Lh - Lf) / fabs(Lf), worst_cos,
           worst_name, worst_rel);
    /* the tiny model's weights (std 0.3) give large logits, so larger absolute errors */
    CHECK(dmax <= (family ? 1e-1 : 1e-2));
    CHECK(dmax > 0); /* the bf16 products ran */
    CHECK(fabs(Lh - Lf) <= (family ? 5e-2 : 1e-2) * fabs(Lf));
    CHECK(worst_cos > 0.999);
    CHECK(worst_rel < 5e-2);
    /* the same bits again, at 1 and at 2 threads */
    for (int th = 1; th <= 2; th++) {
        af_model_set_threads(th);
        run(h, &b, lh);
        memcpy(g1, h->grads, sizeof(float) * h->n_params);
        run(h, &b, l2);
        CHECK(memcmp(lh, l2, sizeof(float) * b.N) == 0);
        CHECK(memcmp(g1, h->grads, sizeof(float) * h->n_params) == 0);
    }
    af_model_set_threads(1);
    /* fp32 at 2 and 3 threads: the bits of 1 thread (the element-wise and per-token work
     * is split over the model's threads by ranges; 147 tokens split unevenly) */
    for (int th = 2; th <= 3; th++) {
        af_model_set_threads(th);
        run(f, &b, l2);
        CHECK(memcmp(lf, l2, sizeof(float) * b.N) == 0);
        CHECK(memcmp(gf, f->grads, sizeof(float) * f->n_params) == 0);
    }
    af_model_set_threads(1);
    /* back to fp32: fp32's bits */
    CHECK(af_model_set_compute(h, AF_COMPUTE_FP32) == 0 && h->wb == NULL);
    run(h, &b, lh);
    CHECK(memcmp(lh, lf, sizeof(float) * b.N) == 0);
    free(lf), free(lh), free(l2), free(g1), free(gf);
done:
    af_model_destroy(f), af_model_destroy(h);
    free(b.tok), free(b.w);
}

/* The LM head in blocks (a large vocabulary's path, af_model_set_lm_budget: blocks of 40
 * rows here, the last one reused by the backward) in bf16 against all rows at once in
 * bf16 on the same weights: log-probs within 1e-5, the loss within 1e-5 relative, every
 * gradient within 1e-3 of the largest (the same rounded inputs; only the products' shapes
 * differ); and not the bits of the blocks in fp32 (the blocks' products ran in bf16). */
static void check_lm_blocks_bf16(int compute) {
    Batch b = make_batch(0);
    AfModel *full = make_model(&b, compute, 0), *blk32 = NULL, *blk = NULL;
    af_model_set_lm_budget(1, (size_t)b.c.vocab_size * 40);
    blk = make_model(&b, compute, 0);
    blk32 = make_model(&b, AF_COMPUTE_FP32, 0);
    af_model_set_lm_budget(0, 0);
    float *lf = malloc(sizeof(float) * b.N), *lb = malloc(sizeof(float) * b.N), *l32 = malloc(sizeof(float) * b.N);
    if (!full || !blk || !blk32 || !lf || !lb || !l32) goto done;
    CHECK(af_model_logits(blk) == NULL && af_model_logits(full) != NULL);
    double Lf = run(full, &b, lf), Lb = run(blk, &b, lb);
    run(blk32, &b, l32);
    double dmax = 0, d32 = 0, gmax = 0, gd = 0;
    for (int i = 0; i < b.N; i++) {
        dmax = fmax(dmax, fabs((double)lf[i] - lb[i]));
        d32 = fmax(d32, fabs((double)l32[i] - lb[i]));
    }
    for (size_t j = 0; j < full->n_params; j++) {
        gmax = fmax(gmax, fabs(full->grads[j]));
        gd = fmax(gd, fabs((double)full->grads[j] - blk->grads[j]));
    }
    printf("LM head in blocks, %s vs all rows: max |dlogp| %.3g, loss rel %.2g, gradient %.3g of %.3g; "
           "vs blocks fp32: max |dlogp| %.3g\n", af_compute_name(compute), dmax, fabs(Lb - Lf) / fabs(Lf), gd, gmax, d32);
    CHECK(dmax <= 1e-5 && fabs(Lb - Lf) <= 1e-5 * fabs(Lf));
    CHECK(gmax > 0 && gd <= 1e-3 * gmax);
    CHECK(d32 > 0);
done:
    free(lf), free(lb), free(l32);
    af_model_destroy(full), af_model_destroy(blk), af_model_destroy(blk32);
    free(b.tok), free(b.w);
}

/* A model destroyed while in bf16 mode frees its bf16 contexts and buffers (the attention's
 * are in its activations): the _asan variant's leak check fails otherwise. */
static void check_destroy_bf16(int compute) {
    AfModelConfig c = af_model_config_default();
    c.vocab_size = 64, c.d_model = 32, c.n_layers = 1, c.n_heads = 2, c.n_kv_heads = 2, c.d_ff = 64, c.max_seq = 16;
    AfModel *m = NULL;
    CHECK(af_model_create(&c, 16, 1, AF_MODEL_GRADS, &m) == 0);
    if (!m) return;
    CHECK(af_model_set_compute(m, compute) == 0 && m->wb != NULL && m->compute == AF_COMPUTE_BF16);
    af_model_destroy(m);
}

/* bf16 at 1, 2 and 3 threads: the same bits (the linear layers' products run as fixed
 * chunks of output rows or columns whatever the thread count; RMSNorm, RoPE and the
 * element-wise work split so that each output has the same operations). A batch of 597
 * tokens so that the products have several chunks and every split really runs. */
static void check_threads(int compute) {
    Batch b = make_batch(0);
    free(b.tok), free(b.w);
    b.c.max_seq = 512, b.c.d_model = 256, b.c.d_ff = 704, b.c.vocab_size = 1024;
    const int lens[3] = {300, 260, 37};
    for (int s = 0; s < 3; s++) b.ss[s + 1] = b.ss[s] + lens[s];
    b.N = b.ss[3];
    b.tok = malloc(sizeof(int32_t) * b.N);
    b.w = malloc(sizeof(float) * b.N);
    fill_tokens(b.tok, b.N, b.c.vocab_size, 9, 0);
    for (int i = 0; i < b.N; i++) b.w[i] = (float)((i % 7) - 3) / b.N;
    AfModel *h = make_model(&b, compute, 0);
    float *l1 = malloc(sizeof(float) * b.N), *l2 = malloc(sizeof(float) * b.N);
    float *g1 = h ? malloc(sizeof(float) * h->n_params) : NULL;
    if (!h || !l1 || !l2 || !g1) goto done;
    af_model_set_threads(1);
    CHECK(isfinite(run(h, &b, l1)));
    memcpy(g1, h->grads, sizeof(float) * h->n_params);
    for (int th = 2; th <= 3; th++) {
        af_model_set_threads(th);
        CHECK(isfinite(run(h, &b, l2)));
        CHECK(memcmp(l1, l2, sizeof(float) * b.N) == 0);
        CHECK(memcmp(g1, h->grads, sizeof(float) * h->n_params) == 0);
    }
    af_model_set_threads(1);
done:
    free(l1), free(l2), free(g1);
    af_model_destroy(h);
    free(b.tok), free(b.w);
}

/* The model checks of one bf16 mode (AF_COMPUTE_BF16 or AF_COMPUTE_BF16_FMA). */
static void check_mode(int compute) {
    check_products(compute == AF_COMPUTE_BF16_FMA);
    check_model(0, compute);
    check_lm_blocks_bf16(compute);
    check_lm_block_bits(compute); /* a row's bits whatever its block; the grown block */
    af_model_set_threads(2);
    check_lm_block_bits(compute);
    af_model_set_threads(1);
    check_model(1, compute);
    check_threads(compute);
    check_destroy_bf16(compute);
}

int main(void) {
    check_conversion();
    if (!af_bf16_supported()) {
        printf("no native bf16 (%s): checking the fp32 fallback and bf16-fma\n", af_bf16_isa());
        check_fallback();
        check_mode(AF_COMPUTE_BF16_FMA);
        const char *env = getenv("AF_BF16");
        if (!(env && !strcmp(env, "off")) && !af_test_failures) {
            printf("SKIP: this CPU has no native bf16\n");
            return 77;
        }
        TEST_MAIN_END();
    }
    printf("bf16 products: %s\n", af_bf16_isa());
    check_mode(AF_COMPUTE_BF16);
    check_mode(AF_COMPUTE_BF16_FMA);
    TEST_MAIN_END();
}
