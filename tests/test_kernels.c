/* CPU-dispatched kernels (common/kernels.h):
 *  - the initial choice follows AF_KERNELS when set (the test is also registered with
 *    AF_KERNELS=baseline), else the best variant the CPU supports; unknown names are
 *    refused;
 *  - every variant the CPU supports gives the same bits as the baseline on every kernel
 *    (matrix products with row/column/k tails and a bias, the avx512 variants' 4 x 8 tiles
 *    in 16-lane vectors and their vectorised horizontal sums included, exp over its special values,
 *    RMSNorm, RoPE both ways, SwiGLU, axpy, add, the decoder's attention row), and the
 *    matrix product is within 1e-5 relative of a double-precision reference;
 *  - the attention row (attn_row) gives, under every variant, the bits of the composition
 *    it is defined as (the matrix product, scalar softmax steps and axpy), on head sizes
 *    with k tails, grouped kv heads, position counts 1..384 with every tail mod 8, peaked
 *    softmaxes, zero scores, negative-zero values and a NaN;
 *  - the bf16 product (af_matmul_inv_bf16) gives the same bits under every variant, the
 *    avx512bf16 one executing vdpbf16ps and the others emulating it, on random data with
 *    k tails (mod 32) and on hand-made lanes that hit bf16 denormals (read as 0),
 *    products that underflow, results that are denormal (flushed to 0) and a result just
 *    below the smallest normal float that rounds up to it; it is within 1e-5 relative of
 *    a double-precision sum of the bf16 products and batch-invariant (a row alone gives
 *    the bits it gets among 9);
 *  - the model's forward (log-probs, entropies), backward (gradients) and the KV-cache
 *    decoder (logits) give the same bits under each variant. */
#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/bf16.h"
#include "common/decode.h"
#include "common/error.h"
#include "common/kernels.h"
#include "common/matmul_bf16.h"
#include "common/model.h"
#include "model_testlib.h"
#include "test_util.h"

static const char *const variants[] = {"baseline", "avx2", "avx512", "avx512bf16"};
#define NV 4

static uint64_t g_state = 88172645463325252ull;
static float frand(float lo, float hi) {
    g_state ^= g_state << 13, g_state ^= g_state >> 7, g_state ^= g_state << 17;
    return lo + (hi - lo) * (float)((g_state >> 40) * (1.0 / 16777216.0));
}

/* bf16 bits of 2^e (normal bf16 range) */
static uint16_t bf_pow2(int e) { return (uint16_t)((e + 127) << 7); }

/* The bf16 product on random shapes and on hand-made edge lanes; returns floats written. */
static size_t run_bf16(float *out) {
    const AfKernelTable *k = af_kernels();
    size_t pos = 0;
    /* rows past 8 and 16 (8 x 2 tiles, then 4 x 4, then single rows in one block of 8
     * outputs), outputs past a multiple of 8 */
    const int shapes[][3] = {{1, 37, 29}, {4, 32, 64}, {9, 70, 130}, {5, 1, 3}, {1, 96, 17}, {6, 33, 9},
                             {8, 64, 16}, {13, 45, 21}, {19, 100, 26}, {16, 31, 8}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int rows = shapes[s][0], in = shapes[s][1], o = shapes[s][2];
        uint16_t *x = malloc(sizeof(uint16_t) * rows * in), *w = malloc(sizeof(uint16_t) * o * in);
        float *b = malloc(sizeof(float) * o), *one = malloc(sizeof(float) * o);
        for (int i = 0; i < rows * in; i++) x[i] = af_f32_to_bf16(frand(-2, 2));
        for (int i = 0; i < o * in; i++) w[i] = af_f32_to_bf16(frand(-0.1f, 0.1f));
        for (int i = 0; i < o; i++) b[i] = frand(-1, 1);
        const float *bias = s % 2 ? b : NULL;
        k->matmul_inv_bf16(out + pos, o, x, in, w, in, bias, rows, in, o);
        for (int r = 0; r < rows; r++) {
            for (int j = 0; j < o; j++) {
                double ref = bias ? b[j] : 0, mag = fabs(ref);
                for (int t = 0; t < in; t++) {
                    double p = (double)af_bf16_to_f32(x[r * in + t]) * af_bf16_to_f32(w[j * in + t]);
                    ref += p, mag += fabs(p);
                }
                CHECK_NEAR(out[pos + (size_t)r * o + j], ref, 1e-5 * mag + 1e-30);
            }
            k->matmul_inv_bf16(one, o, x + (size_t)r * in, in, w, in, bias, 1, in, o); /* the row alone */
            CHECK_MSG(!memcmp(one, out + pos + (size_t)r * o, sizeof(float) * o), "bf16 shape %zu row %d: alone != in the batch", s, r);
        }
        pos += (size_t)rows * o;
        free(x), free(w), free(b), free(one);
    }
    /* Edge lanes, in = 2 (lane 0 of one step: k = 1 first, then k = 0), one output each. */
    const uint16_t den = 0x0005, nden = 0x8003; /* bf16 denormals */
    const uint16_t edge[][4] = {
        /* x0, w0, x1, w1 */
        {den, bf_pow2(10), bf_pow2(0), bf_pow2(0)},                  /* denormal x read as 0: 1 */
        {bf_pow2(3), nden, bf_pow2(1), bf_pow2(1)},                  /* denormal w read as 0: 4 */
        {bf_pow2(-70), bf_pow2(-70), bf_pow2(0), bf_pow2(-1)},       /* product underflows: 0.5 */
        {bf_pow2(-70), bf_pow2(-60), 0, 0},                          /* denormal result 2^-130: 0 */
        {bf_pow2(-63), bf_pow2(-63), bf_pow2(-63), bf_pow2(-63)},    /* 2^-126 + 2^-126 */
        {(uint16_t)(0x8000 | bf_pow2(-75)), bf_pow2(-76), bf_pow2(-63), bf_pow2(-63)}, /* 2^-126 - 2^-151 */
        {(uint16_t)(0x8000 | bf_pow2(-64)), bf_pow2(-63), bf_pow2(-63), bf_pow2(-63)}, /* 2^-126 - 2^-127 */
        {(uint16_t)(0x8000 | bf_pow2(-63)), bf_pow2(-63), bf_pow2(-63), bf_pow2(-63)}, /* exactly 0 */
        {(uint16_t)(0x8000 | bf_pow2(0)), 0, 0, 0},                  /* -0 products: +0 + -0 */
        {(uint16_t)(0x8000 | bf_pow2(-64)), bf_pow2(-64), 0, 0},     /* -2^-128 flushed (to -0; +0 after the lane sum) */
    };
    for (size_t e = 0; e < sizeof edge / sizeof *edge; e++) {
        uint16_t x[2] = {edge[e][0], edge[e][2]}, w[2] = {edge[e][1], edge[e][3]};
        k->matmul_inv_bf16(out + pos, 1, x, 2, w, 2, NULL, 1, 2, 1);
        pos++;
    }
    CHECK(out[pos - 10] == 1.0f && out[pos - 9] == 4.0f && out[pos - 8] == 0.5f && out[pos - 7] == 0.0f);
    CHECK(out[pos - 6] == 2 * FLT_MIN && out[pos - 3] == 0.0f);
    CHECK(out[pos - 4] == 0.0f && out[pos - 1] == 0.0f);
    /* 2^-126 - 2^-151 is below the smallest normal before rounding and rounds up to it: the
     * instruction keeps it (tininess after rounding), so must the emulation */
    CHECK_MSG(out[pos - 5] == FLT_MIN, "2^-126 - 2^-151 gave %g", (double)out[pos - 5]);
    return pos;
}

/* attn_row against the composition it is defined as (the decoder's code before the kernel:
 * af_matmul_inv's scores, scalar scale/max/exp/sum, the axpy kernel), bit for bit, on
 * head sizes with and without k tails, grouped kv heads, every position-count tail and
 * caches with large scores, exact zeros and a NaN; returns floats written. */
static size_t run_attn(float *out) {
    const AfKernelTable *k = af_kernels();
    size_t pos = 0;
    /* H, KV, hd, nk */
    const int shapes[][4] = {{4, 4, 32, 1},  {4, 4, 32, 7},   {4, 4, 32, 8},  {4, 4, 32, 384}, {2, 1, 64, 45},
                             {3, 3, 12, 19}, {6, 2, 16, 130}, {1, 1, 4, 9},   {5, 5, 8, 33},   {14, 2, 64, 70},
                             {4, 2, 20, 17}, {2, 2, 32, 24}, {8, 8, 16, 50},  {2, 2, 128, 20}, {1, 1, 256, 9},
                             {9, 3, 16, 11}};
    size_t diff = 0, total = 0;
    for (size_t t = 0; t < sizeof shapes / sizeof *shapes; t++) {
        const int H = shapes[t][0], KV = shapes[t][1], hd = shapes[t][2], nk = shapes[t][3], grp = H / KV;
        const int ld = KV * hd + (t % 2) * 8; /* a cache row wider than its heads, sometimes */
        float *q = malloc(sizeof(float) * H * hd), *K = malloc(sizeof(float) * nk * ld);
        float *V = malloc(sizeof(float) * nk * ld), *sc = malloc(sizeof(float) * H * nk);
        float *o = malloc(sizeof(float) * H * hd), *want = malloc(sizeof(float) * H * hd);
        float *s = malloc(sizeof(float) * nk);
        const float amp = t % 3 == 2 ? 6.0f : 1.0f; /* peaked softmaxes: exp underflows to 0 */
        for (int i = 0; i < H * hd; i++) q[i] = frand(-amp, amp);
        for (int i = 0; i < nk * ld; i++) K[i] = frand(-amp, amp), V[i] = frand(-1, 1);
        if (t == 3) { /* zero scores (a zero key) and a zero value column */
            for (int i = 0; i < ld; i++) K[5 * ld + i] = 0, V[i] = 0;
            for (int j = 0; j < nk; j++) V[(size_t)j * ld + 3] = -0.0f;
        }
        if (t == 11) K[3 * ld + 1] = NAN; /* a NaN score: NaN out, as the composition */
        const float scale = 1.0f / sqrtf((float)hd);
        for (int h = 0; h < H; h++) {
            const int kvh = h / grp;
            k->matmul_inv(s, nk, q + h * hd, hd, K + kvh * hd, ld, NULL, 1, hd, nk);
            float mx = -INFINITY;
            for (int j = 0; j < nk; j++) {
                s[j] *= scale;
                mx = s[j] > mx ? s[j] : mx;
            }
            for (int j = 0; j < nk; j++) s[j] -= mx;
            k->vexpf(s, s, (size_t)nk);
            float sum = 0;
            for (int j = 0; j < nk; j++) sum += s[j];
            float inv = 1.0f / sum;
            float *w = want + h * hd;
            memset(w, 0, sizeof(float) * hd);
            for (int j = 0; j < nk; j++) k->axpy(w, s[j] * inv, V + (size_t)j * ld + kvh * hd, (size_t)hd);
        }
        memset(o, 0xff, sizeof(float) * H * hd);
        k->attn_row(o, q, K, V, ld, H, grp, hd, nk, scale, sc);
        for (int i = 0; i < H * hd; i++) diff += memcmp(&o[i], &want[i], sizeof(float)) != 0;
        total += (size_t)H * hd;
        memcpy(out + pos, o, sizeof(float) * H * hd);
        pos += (size_t)H * hd;
        free(q), free(K), free(V), free(sc), free(o), free(want), free(s);
    }
    CHECK_MSG(diff == 0, "%s: %zu of %zu attention outputs differ from the composition's bits", af_kernels_name(),
              diff, total);
    return pos;
}

/* One run of every kernel on fixed inputs; outputs appended to out (returns floats written). */
/* The learner's kernels (common/model.c): the attention softmax forward and backward over
 * blocks of causal rows, and SwiGLU forward/backward with their bf16 outputs; each checked
 * against a double-precision composition here, the bf16 outputs against af_f32_to_bf16 of
 * the fp32 ones bit for bit, and every output appended to out (compared across variants). */
static size_t run_train(float *out) {
    const AfKernelTable *k = af_kernels();
    size_t pos = 0;
    /* nb, nk, i0 (row r counts keys 0..i0 + r), amplitude */
    const int shapes[][4] = {{5, 5, 0, 1}, {16, 37, 21, 1}, {64, 200, 136, 8}, {3, 19, 16, 30}, {1, 1, 0, 1},
                             {7, 33, 26, 2}};
    for (size_t t = 0; t < sizeof shapes / sizeof *shapes; t++) {
        const int nb = shapes[t][0], nk = shapes[t][1], i0 = shapes[t][2], hd = 20 + (int)t * 7;
        const float amp = (float)shapes[t][3], scale = t % 2 ? 0.125f : 1.0f;
        const size_t ls = 3, ld = ls * (size_t)hd; /* lse/dsum stride (heads per row), O/dO row */
        float *S = malloc(sizeof(float) * nb * nk), *S0 = malloc(sizeof(float) * nb * nk);
        float *dP = malloc(sizeof(float) * nb * nk), *dP0 = malloc(sizeof(float) * nb * nk);
        float *O = malloc(sizeof(float) * nb * ld), *dO = malloc(sizeof(float) * nb * ld), lse[64 * 3];
        uint16_t *Pb = malloc(sizeof(uint16_t) * nb * nk), *dSb = malloc(sizeof(uint16_t) * nb * nk);
        for (int i = 0; i < nb * nk; i++) S0[i] = frand(-amp, amp), dP0[i] = frand(-1, 1);
        for (size_t i = 0; i < (size_t)nb * ld; i++) O[i] = frand(-1, 1), dO[i] = frand(-1, 1);
        memcpy(S, S0, sizeof(float) * nb * nk);
        k->att_softmax(S, nb, nk, i0, scale, lse, ls, t % 2 ? Pb : NULL);
        for (int r = 0; r < nb; r++) {
            const int n = i0 + r + 1 < nk ? i0 + r + 1 : nk;
            double mx = -INFINITY, sum = 0;
            for (int j = 0; j < n; j++) mx = fmax(mx, (double)(S0[r * nk + j] * scale));
            for (int j = 0; j < n; j++) sum += exp((double)(S0[r * nk + j] * scale) - mx);
            CHECK_NEAR(lse[r * ls], mx + log(sum), 2e-6 * (1 + fabs(mx)));
            for (int j = 0; j < nk; j++) {
                const double want = j < n ? exp((double)(S0[r * nk + j] * scale) - mx) / sum : 0;
                CHECK_NEAR(S[r * nk + j], want, 1e-6 * want + 1e-30);
                if (t % 2) CHECK_EQ_INT(Pb[r * nk + j], af_f32_to_bf16(S[r * nk + j]));
            }
            out[pos++] = lse[r * ls];
        }
        memcpy(out + pos, S, sizeof(float) * nb * nk), pos += (size_t)nb * nk;
        /* backward from the forward's lse: the scores again, scaled here (s_scale) or not */
        memcpy(S, S0, sizeof(float) * nb * nk);
        memcpy(dP, dP0, sizeof(float) * nb * nk);
        const float gsc = 0.3f;
        /* D = O . dO per row (att_dsum: rows of ls heads of hd floats; the first head used) */
        float dsum[64 * 3];
        k->att_dsum(dsum, O, dO, (size_t)nb, (int)ls, hd);
        k->att_softmax_bwd(S, dP, nb, nk, i0, scale, gsc, lse, dsum, ls, t % 2 ? NULL : Pb, t % 2 ? NULL : dSb);
        for (int r = 0; r < nb; r++) {
            const int n = i0 + r + 1 < nk ? i0 + r + 1 : nk;
            double D = 0, mag = 0;
            for (int d = 0; d < hd; d++) D += (double)O[r * ld + d] * dO[r * ld + d], mag += fabs(O[r * ld + d] * dO[r * ld + d]);
            CHECK_NEAR(dsum[r * ls], D, 1e-6 * mag + 1e-30);
            for (int hh = 1; hh < (int)ls; hh++) { /* the other heads of the row */
                double Dh = 0, mh = 0;
                for (int d = 0; d < hd; d++) {
                    const double p = (double)O[r * ld + hh * hd + d] * dO[r * ld + hh * hd + d];
                    Dh += p, mh += fabs(p);
                }
                CHECK_NEAR(dsum[r * ls + hh], Dh, 1e-6 * mh + 1e-30);
            }
            for (int j = 0; j < nk; j++) {
                const double p = j < n ? exp((double)(S0[r * nk + j] * scale) - lse[r * ls]) : 0;
                const double ds = p * ((double)dP0[r * nk + j] - D) * gsc;
                CHECK_NEAR(S[r * nk + j], p, 2e-6 * p + 1e-30);
                CHECK_NEAR(dP[r * nk + j], ds, 2e-6 * fabs(ds) + 1e-6 * p * mag * gsc + 1e-30);
                if (!(t % 2)) {
                    CHECK_EQ_INT(Pb[r * nk + j], af_f32_to_bf16(S[r * nk + j]));
                    CHECK_EQ_INT(dSb[r * nk + j], af_f32_to_bf16(dP[r * nk + j]));
                }
            }
        }
        memcpy(out + pos, S, sizeof(float) * nb * nk), pos += (size_t)nb * nk;
        memcpy(out + pos, dP, sizeof(float) * nb * nk), pos += (size_t)nb * nk;
        memcpy(out + pos, dsum, sizeof(float) * nb * ls), pos += (size_t)nb * ls;
        free(S), free(S0), free(dP), free(dP0), free(O), free(dO), free(Pb), free(dSb);
    }
    /* RMSNorm forward and backward (rows, then the weight gradient over two column ranges) */
    {
        const int n = 5, C = 53;
        float x[5 * 53], dy[5 * 53], w[53], y[5 * 53], rs[5], dx[5 * 53], dw[53];
        for (int i = 0; i < n * C; i++) x[i] = frand(-2, 2), dy[i] = frand(-1, 1), dx[i] = frand(-1, 1);
        for (int i = 0; i < C; i++) w[i] = frand(0.5f, 1.5f), dw[i] = frand(-1, 1);
        float dx0[5 * 53], dw0[53];
        memcpy(dx0, dx, sizeof dx), memcpy(dw0, dw, sizeof dw);
        k->rmsnorm(y, rs, x, w, n, C, 1e-5f);
        k->rmsnorm_bwd_rows(dx, x, dy, w, rs, n, C);
        k->rmsnorm_bwd_w(dw, x, dy, rs, n, (size_t)C, 0, 16);
        k->rmsnorm_bwd_w(dw, x, dy, rs, n, (size_t)C, 16, (size_t)C);
        double gw[53] = {0};
        for (int i = 0; i < n; i++) {
            double ss = 0, dot = 0;
            for (int j = 0; j < C; j++) ss += (double)x[i * C + j] * x[i * C + j];
            const double r = 1 / sqrt(ss / C + 1e-5);
            CHECK_NEAR(rs[i], r, 1e-6 * r);
            for (int j = 0; j < C; j++) {
                CHECK_NEAR(y[i * C + j], x[i * C + j] * r * w[j], 1e-6 * fabs(x[i * C + j] * r * w[j]) + 1e-30);
                dot += (double)dy[i * C + j] * w[j] * x[i * C + j];
                gw[j] += (double)dy[i * C + j] * x[i * C + j] * rs[i];
            }
            for (int j = 0; j < C; j++) {
                const double want = dx0[i * C + j] + dy[i * C + j] * w[j] * r - x[i * C + j] * dot * r * r * r / C;
                CHECK_NEAR(dx[i * C + j], want, 1e-5 * (1 + fabs(want)));
            }
        }
        for (int j = 0; j < C; j++) CHECK_NEAR(dw[j], dw0[j] + gw[j], 1e-5 * (1 + fabs(gw[j])));
        memcpy(out + pos, y, sizeof y), pos += (size_t)n * C;
        memcpy(out + pos, dx, sizeof dx), pos += (size_t)n * C;
        memcpy(out + pos, dw, sizeof dw), pos += (size_t)C;
    }
    /* SwiGLU: lengths across the 512-element blocks and the vector tails */
    const size_t lens[] = {1, 17, 512, 1100};
    for (size_t t = 0; t < sizeof lens / sizeof *lens; t++) {
        const size_t n = lens[t];
        float *g = malloc(sizeof(float) * n), *u = malloc(sizeof(float) * n), *h = malloc(sizeof(float) * n);
        float *h2 = malloc(sizeof(float) * n), *dg = malloc(sizeof(float) * n), *du = malloc(sizeof(float) * n);
        float *dh = malloc(sizeof(float) * n), *dg2 = malloc(sizeof(float) * n), *du2 = malloc(sizeof(float) * n);
        uint16_t *hb = malloc(sizeof(uint16_t) * n), *dgb = malloc(sizeof(uint16_t) * n), *dub = malloc(sizeof(uint16_t) * n);
        for (size_t i = 0; i < n; i++) g[i] = frand(-12, 12), u[i] = frand(-2, 2), dh[i] = frand(-1, 1);
        k->silu_mul(h, g, u, n);
        k->silu_mul_bf16(h2, hb, g, u, n);
        memcpy(dg, dh, sizeof(float) * n);
        k->silu_bwd(dg, du, g, u, n, NULL, NULL);
        memcpy(dg2, dh, sizeof(float) * n);
        k->silu_bwd(dg2, du2, g, u, n, dgb, dub);
        CHECK(!memcmp(h, h2, sizeof(float) * n) && !memcmp(dg, dg2, sizeof(float) * n) && !memcmp(du, du2, sizeof(float) * n));
        for (size_t i = 0; i < n; i++) {
            const double sg = 1 / (1 + exp(-(double)g[i]));
            CHECK_NEAR(h[i], g[i] * sg * u[i], 1e-6 * fabs(g[i] * sg * u[i]) + 1e-30);
            CHECK_NEAR(du[i], dh[i] * g[i] * sg, 1e-6 * fabs(dh[i] * g[i] * sg) + 1e-30);
            const double want = dh[i] * u[i] * sg * (1 + g[i] * (1 - sg));
            CHECK_NEAR(dg[i], want, 1e-6 * fabs(dh[i] * u[i] * sg) * (1 + fabs(g[i])) + 1e-30);
            CHECK_EQ_INT(hb[i], af_f32_to_bf16(h[i]));
            CHECK_EQ_INT(dgb[i], af_f32_to_bf16(dg[i]));
            CHECK_EQ_INT(dub[i], af_f32_to_bf16(du[i]));
        }
        memcpy(out + pos, h, sizeof(float) * n), pos += n;
        memcpy(out + pos, dg, sizeof(float) * n), pos += n;
        memcpy(out + pos, du, sizeof(float) * n), pos += n;
        free(g), free(u), free(h), free(h2), free(dg), free(du), free(dh), free(dg2), free(du2), free(hb), free(dgb), free(dub);
    }
    return pos;
}

static size_t run_kernels(float *out) {
    const AfKernelTable *k = af_kernels();
    size_t pos = 0;
    g_state = 88172645463325252ull;
    /* matrix products: tails in rows (mod 4), outputs (mod 3, mod 8) and k (mod 8) */
    const int shapes[][3] = {{1, 37, 29}, {4, 24, 64}, {7, 19, 50}, {5, 8, 1},
                             {1, 1, 3},   {9, 70, 130}, {3, 16, 24}, {6, 32, 17}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int rows = shapes[s][0], in = shapes[s][1], o = shapes[s][2];
        float *x = malloc(sizeof(float) * rows * in), *w = malloc(sizeof(float) * o * in), *b = malloc(sizeof(float) * o);
        for (int i = 0; i < rows * in; i++) x[i] = frand(-1, 1);
        for (int i = 0; i < o * in; i++) w[i] = frand(-1, 1);
        for (int i = 0; i < o; i++) b[i] = frand(-1, 1);
        k->matmul_inv(out + pos, o, x, in, w, in, s % 2 ? b : NULL, rows, in, o);
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < o; j++) {
                double ref = s % 2 ? b[j] : 0, mag = fabs(ref);
                for (int t = 0; t < in; t++) ref += (double)x[r * in + t] * w[j * in + t], mag += fabs((double)x[r * in + t] * w[j * in + t]);
                CHECK_NEAR(out[pos + (size_t)r * o + j], ref, 1e-5 * mag + 1e-30);
            }
        pos += (size_t)rows * o;
        free(x), free(w), free(b);
    }
    pos += run_bf16(out + pos);
    /* exp: random range, special values, every length tail */
    float e[203];
    for (int i = 0; i < 203; i++) e[i] = frand(-100, 100);
    e[0] = NAN, e[1] = -INFINITY, e[2] = INFINITY, e[3] = -86.5f, e[4] = 88.8f, e[5] = 0, e[6] = -0.0f, e[7] = 88.5f;
    for (int n = 0; n <= 40; n += 13) {
        k->vexpf(out + pos, e, (size_t)n);
        pos += (size_t)n;
    }
    k->vexpf(out + pos, e, 203);
    CHECK(isnan(out[pos]) && out[pos + 1] == 0 && isinf(out[pos + 2]) && out[pos + 3] == 0 && out[pos + 5] == 1);
    for (int i = 8; i < 203; i++)
        if (e[i] > -80 && e[i] < 80) CHECK_NEAR(out[pos + i] / exp((double)e[i]), 1.0, 3e-7);
    pos += 203;
    /* RMSNorm (with and without rstd), RoPE both ways, SwiGLU, axpy, add */
    const int n = 3, C = 45;
    float x[3 * 45], w[45], g[3 * 45], u[3 * 45];
    for (int i = 0; i < n * C; i++) x[i] = frand(-2, 2), g[i] = frand(-30, 30), u[i] = frand(-1, 1);
    for (int i = 0; i < C; i++) w[i] = frand(0.5f, 1.5f);
    k->rmsnorm(out + pos, out + pos + n * C, x, w, n, C, 1e-5f);
    pos += (size_t)n * C + n;
    k->rmsnorm(out + pos, NULL, x, w, n, C, 1e-6f);
    pos += (size_t)n * C;
    const int nh = 3, hd = 30; /* 90 floats, half = 15 */
    float cs[15], sn[15];
    for (int i = 0; i < 15; i++) cs[i] = cosf(0.3f * (float)i), sn[i] = sinf(0.3f * (float)i);
    for (int inv = 0; inv < 2; inv++) {
        memcpy(out + pos, x, sizeof(float) * nh * hd);
        k->rope(out + pos, nh, hd, cs, sn, inv);
        pos += (size_t)nh * hd;
    }
    k->silu_mul(out + pos, g, u, (size_t)n * C);
    pos += (size_t)n * C;
    memcpy(out + pos, x, sizeof(float) * n * C);
    k->axpy(out + pos, 0.37f, u, (size_t)n * C);
    k->add(out + pos, g, (size_t)n * C);
    pos += (size_t)n * C;
    pos += run_attn(out + pos);
    pos += run_train(out + pos);
    return pos;
}

/* Forward + backward of a tiny model and a decode of its first sequence. */
static size_t run_model(float *out) {
    AfModelConfig c = tiny_config(2, 1, 0);
    tiny_family_knobs(&c);
    AfModel *m = NULL;
    AfDecode *d = NULL;
    size_t pos = 0;
    int seq[] = {0, 11, 30};
    int32_t tok[30];
    fill_tokens(tok, 30, c.vocab_size, 5, 1);
    if (af_model_create(&c, 30, 2, AF_MODEL_GRADS, &m)) {
        CHECK_MSG(0, "af_model_create: %s", af_error_detail());
        return 0;
    }
    fill_params(m, 3, 0.3);
    float lp[30], ent[30], dl[30];
    CHECK_EQ_INT(af_model_forward(m, tok, seq, 2, 0.8f, lp, ent), 0);
    for (int i = 0; i < 30; i++) dl[i] = 0.1f * (float)(i % 7) - 0.3f;
    af_model_zero_grad(m);
    CHECK_EQ_INT(af_model_backward(m, dl), 0);
    memcpy(out + pos, lp, sizeof lp), pos += 30;
    memcpy(out + pos, ent, sizeof ent), pos += 30;
    memcpy(out + pos, m->grads, m->n_params * sizeof(float)), pos += m->n_params;
    /* the bf16 products' path (its products are oneDNN's, the rest these kernels) */
    if (af_bf16_supported()) {
        CHECK_EQ_INT(af_model_set_compute(m, AF_COMPUTE_BF16), 0);
        CHECK_EQ_INT(af_model_forward(m, tok, seq, 2, 0.8f, lp, ent), 0);
        af_model_zero_grad(m);
        CHECK_EQ_INT(af_model_backward(m, dl), 0);
        memcpy(out + pos, lp, sizeof lp), pos += 30;
        memcpy(out + pos, m->grads, m->n_params * sizeof(float)), pos += m->n_params;
        CHECK_EQ_INT(af_model_set_compute(m, AF_COMPUTE_FP32), 0);
    }
    CHECK_EQ_INT(af_decode_create(m, 2, 64, &d), 0);
    if (d) {
        CHECK_EQ_INT(af_decode_prefill(d, 0, tok, 10), 0);
        int slots[2] = {0, 1};
        int32_t next[2] = {tok[10], tok[11]};
        CHECK_EQ_INT(af_decode_prefill(d, 1, tok + 11, 5), 0);
        CHECK_EQ_INT(af_decode_feed(d, 2, slots, next), 0); /* batched rows */
        for (int s = 0; s < 2; s++) {
            const float *lg = af_decode_logits(d, s);
            CHECK(lg != NULL);
            if (lg) memcpy(out + pos, lg, (size_t)c.vocab_size * sizeof(float));
            pos += (size_t)c.vocab_size;
        }
        af_decode_destroy(d);
    }
    af_model_destroy(m);
    return pos;
}

int main(void) {
    /* the first choice: AF_KERNELS when set and supported, else the best */
    const char *env = getenv("AF_KERNELS");
    const char *first = af_kernels_name();
    if (env && *env && strcmp(env, "auto") && af_kernels_supported(env)) CHECK_MSG(!strcmp(first, env), "%s vs AF_KERNELS=%s", first, env);
    else
        CHECK_MSG(!strcmp(first, af_kernels_supported("avx512bf16") ? "avx512bf16"
                                 : af_kernels_supported("avx512")   ? "avx512"
                                 : af_kernels_supported("avx2")     ? "avx2"
                                                                    : "baseline"),
                  "%s", first);
    CHECK_EQ_INT(af_kernels_select("sse9"), AF_EINVAL);
    CHECK_STR_CONTAINS(af_error_detail(), "unknown variant");
    CHECK_EQ_INT(af_kernels_select(first), 0);
    CHECK(af_kernels_supported("baseline"));

    /* OpenBLAS's core: a fallback (Prescott for a CPU model 0.3.21 does not know) is
     * replaced by the core of the CPU's features; a real core is kept */
    const char *want = af_kernels_supported("avx512bf16") ? "Cooperlake"
                       : af_kernels_supported("avx512")   ? "SkylakeX"
                       : af_kernels_supported("avx2")     ? "Haswell"
                                                          : NULL;
    const char *fix = af_blas_core_for_cpu("Prescott");
    CHECK_MSG(want ? fix && !strcmp(fix, want) : fix == NULL, "Prescott -> %s", fix ? fix : "(kept)");
    CHECK(af_blas_core_for_cpu("SkylakeX") == NULL && af_blas_core_for_cpu("Zen") == NULL &&
          af_blas_core_for_cpu("Haswell") == NULL && af_blas_core_for_cpu("Cooperlake") == NULL);
    /* in this process OpenBLAS runs on a core that is not a fallback for this CPU (unless
     * the user chose one with OPENBLAS_CORETYPE) */
    const char *core = openblas_get_corename();
    CHECK_MSG(af_blas_core_for_cpu(core) == NULL || getenv("OPENBLAS_CORETYPE"), "%s", af_blas_core_note());
    printf("  %s\n", af_blas_core_note());

    enum { CAP = 1 << 16 };
    float *ref = malloc(CAP * sizeof(float)), *got = malloc(CAP * sizeof(float));
    float *mref = malloc(CAP * sizeof(float)), *mgot = malloc(CAP * sizeof(float));
    CHECK_EQ_INT(af_kernels_select("baseline"), 0);
    CHECK(!strcmp(af_kernels_name(), "baseline"));
    size_t nref = run_kernels(ref), mnref = run_model(mref);
    CHECK(nref < CAP && mnref < CAP && mnref > 1000);
    int ran = 0;
    for (int v = 1; v < NV; v++) {
        if (!af_kernels_supported(variants[v])) {
            printf("  %s: not supported by this CPU, skipped\n", variants[v]);
            continue;
        }
        CHECK_EQ_INT(af_kernels_select(variants[v]), 0);
        CHECK(!strcmp(af_kernels_name(), variants[v]));
        memset(got, 0xff, CAP * sizeof(float));
        memset(mgot, 0xff, CAP * sizeof(float));
        size_t n = run_kernels(got), mn = run_model(mgot);
        CHECK_EQ_INT(n, nref);
        CHECK_EQ_INT(mn, mnref);
        size_t diff = 0, mdiff = 0;
        for (size_t i = 0; i < n && i < nref; i++) diff += memcmp(&got[i], &ref[i], sizeof(float)) != 0;
        for (size_t i = 0; i < mn && i < mnref; i++) mdiff += memcmp(&mgot[i], &mref[i], sizeof(float)) != 0;
        CHECK_MSG(diff == 0, "%s: %zu of %zu kernel outputs differ from the baseline's bits", variants[v], diff, n);
        CHECK_MSG(mdiff == 0, "%s: %zu of %zu model outputs differ from the baseline's bits", variants[v], mdiff, mn);
        printf("  %s: %zu kernel and %zu model outputs, bit-identical to baseline\n", variants[v], n, mn);
        ran++;
    }
    printf("  %d variant(s) besides baseline compared\n", ran);
    free(ref), free(got), free(mref), free(mgot);
    TEST_MAIN_END();
}
