/* The body of the CPU-dispatched kernels (common/kernels.h), compiled once per
 * instruction set: common/kernels_base.c (the build's baseline, x86-64-v2 by default),
 * common/kernels_avx2.c (AVX2 + FMA) and common/kernels_avx512.c (AVX-512 F/BW/DQ/VL),
 * each with its own compiler flags (CMakeLists.txt) and -ffp-contract=off. The includer
 * defines AF_KISA (the table's suffix). Only code in these files may use instructions
 * beyond the baseline (tests/test_portable_build.sh checks the binary).
 *
 * Bits: every variant performs the same float operations in the same order (an explicit
 * fmaf where the reference fuses, never a compiler-contracted one; 8-lane dot products;
 * element-wise exp with one polynomial), so all variants give the same bits for the same
 * inputs (tests/test_kernels.c checks it). Wider vectors only change how many elements
 * are processed at once. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "common/kernels.h"

#define AF_KCAT2(a, b) a##b
#define AF_KCAT(a, b) AF_KCAT2(a, b)
#define KN(name) AF_KCAT(name##_, AF_KISA)
/* Every function here carries the variant's suffix, out-of-line copies of the helpers
 * included, so the binary check can tell the variants' code from the rest. */
#define v_zero KN(v_zero)
#define v_load KN(v_load)
#define v_fma KN(v_fma)
#define v_store KN(v_store)
#define v_hsum KN(v_hsum)
#define micro KN(micro)
#define exp_scalar KN(exp_scalar)

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
typedef __m256 Vec8;
static inline Vec8 v_zero(void) { return _mm256_setzero_ps(); }
static inline Vec8 v_load(const float *p) { return _mm256_loadu_ps(p); }
static inline Vec8 v_fma(Vec8 a, Vec8 b, Vec8 c) { return _mm256_fmadd_ps(a, b, c); }
static inline void v_store(float *p, Vec8 v) { _mm256_storeu_ps(p, v); }
#else
typedef struct { float f[8]; } Vec8;
static inline Vec8 v_zero(void) { Vec8 v = {{0}}; return v; }
static inline Vec8 v_load(const float *p) { Vec8 v; for (int i = 0; i < 8; i++) v.f[i] = p[i]; return v; }
static inline Vec8 v_fma(Vec8 a, Vec8 b, Vec8 c) { for (int i = 0; i < 8; i++) c.f[i] = fmaf(a.f[i], b.f[i], c.f[i]); return c; }
static inline void v_store(float *p, Vec8 v) { for (int i = 0; i < 8; i++) p[i] = v.f[i]; }
#endif

static inline float v_hsum(Vec8 v) {
    float t[8];
    v_store(t, v);
    return ((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]));
}

/* NR rows x NO outputs micro-kernel; NR, NO are compile-time constants after inlining. */
static inline __attribute__((always_inline)) void micro(int NR, int NO, float *y, int ldy,
                                                        const float *x, int ldx, const float *w,
                                                        int ldw, const float *b, int in) {
    Vec8 acc[4][8];
    for (int r = 0; r < NR; r++)
        for (int o = 0; o < NO; o++) acc[r][o] = v_zero();
    int k = 0;
    for (; k + 8 <= in; k += 8) {
        Vec8 wv[8];
        for (int o = 0; o < NO; o++) wv[o] = v_load(w + (size_t)o * ldw + k);
        for (int r = 0; r < NR; r++) {
            Vec8 xv = v_load(x + (size_t)r * ldx + k);
            for (int o = 0; o < NO; o++) acc[r][o] = v_fma(xv, wv[o], acc[r][o]);
        }
    }
    for (int r = 0; r < NR; r++)
        for (int o = 0; o < NO; o++) {
            float s = v_hsum(acc[r][o]);
            for (int kk = k; kk < in; kk++)
                s = fmaf(x[(size_t)r * ldx + kk], w[(size_t)o * ldw + kk], s);
            if (b) s += b[o];
            y[(size_t)r * ldy + o] = s;
        }
}

static void KN(matmul_inv)(float *y, int ldy, const float *x, int ldx, const float *w, int ldw,
                           const float *b, int rows, int in, int out) {
    int r4 = rows - rows % 4;
    /* 4-row tiles: walk output blocks outermost so a block of weight rows stays in L1
     * while every row tile passes over it. */
    int o3 = out - out % 3;
    for (int o = 0; o < o3; o += 3)
        for (int r = 0; r < r4; r += 4)
            micro(4, 3, y + (size_t)r * ldy + o, ldy, x + (size_t)r * ldx, ldx,
                  w + (size_t)o * ldw, ldw, b ? b + o : NULL, in);
    for (int o = o3; o < out; o++)
        for (int r = 0; r < r4; r += 4)
            micro(4, 1, y + (size_t)r * ldy + o, ldy, x + (size_t)r * ldx, ldx,
                  w + (size_t)o * ldw, ldw, b ? b + o : NULL, in);
    /* Remaining rows one by one, 8 outputs at a time (the batch-1 matrix-vector path). */
    for (int r = r4; r < rows; r++) {
        int o8 = out - out % 8;
        for (int o = 0; o < o8; o += 8)
            micro(1, 8, y + (size_t)r * ldy + o, ldy, x + (size_t)r * ldx, ldx,
                  w + (size_t)o * ldw, ldw, b ? b + o : NULL, in);
        for (int o = o8; o < out; o++)
            micro(1, 1, y + (size_t)r * ldy + o, ldy, x + (size_t)r * ldx, ldx,
                  w + (size_t)o * ldw, ldw, b ? b + o : NULL, in);
    }
}

/* exp: n = round(x log2 e), r = x - n ln2 (two-constant Cody-Waite), p(r) a degree-6
 * Taylor-like polynomial (Cephes expf coefficients), then scale by 2^n through the
 * exponent bits. The vector paths run the same operations lane by lane. */
static inline float exp_scalar(float x) {
    if (isnan(x)) return x;
    if (x < -86.0f) return 0.0f;
    if (x > 88.7f) return INFINITY;
    float n = nearbyintf(x * 1.44269504088896341f);
    float r = fmaf(n, -0.693359375f, x);
    r = fmaf(n, 2.12194440e-4f, r);
    float p = 1.9875691500E-4f;
    p = fmaf(p, r, 1.3981999507E-3f);
    p = fmaf(p, r, 8.3334519073E-3f);
    p = fmaf(p, r, 4.1665795894E-2f);
    p = fmaf(p, r, 1.6666665459E-1f);
    p = fmaf(p, r, 5.0000001201E-1f);
    p = fmaf(p, r * r, r);
    p = p + 1.0f;
    int32_t bits;
    memcpy(&bits, &p, 4);
    bits += (int32_t)((uint32_t)(int32_t)n << 23);
    memcpy(&p, &bits, 4);
    return p;
}

static void KN(vexpf)(float *y, const float *x, size_t n) {
    size_t i = 0;
#if defined(__AVX512F__)
    const __m512 lo = _mm512_set1_ps(-86.0f), hi = _mm512_set1_ps(88.7f);
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i);
        __mmask16 nanm = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        __mmask16 lom = _mm512_cmp_ps_mask(v, lo, _CMP_LT_OQ);
        __mmask16 him = _mm512_cmp_ps_mask(v, hi, _CMP_GT_OQ);
        __m512 c = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
        __m512 nn = _mm512_roundscale_ps(_mm512_mul_ps(c, _mm512_set1_ps(1.44269504088896341f)),
                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m512 r = _mm512_fmadd_ps(nn, _mm512_set1_ps(-0.693359375f), c);
        r = _mm512_fmadd_ps(nn, _mm512_set1_ps(2.12194440e-4f), r);
        __m512 p = _mm512_set1_ps(1.9875691500E-4f);
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507E-3f));
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073E-3f));
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894E-2f));
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459E-1f));
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201E-1f));
        p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r);
        p = _mm512_add_ps(p, _mm512_set1_ps(1.0f));
        __m512i e = _mm512_slli_epi32(_mm512_cvtps_epi32(nn), 23);
        p = _mm512_castsi512_ps(_mm512_add_epi32(_mm512_castps_si512(p), e));
        p = _mm512_mask_blend_ps(lom, p, _mm512_setzero_ps());
        p = _mm512_mask_blend_ps(him, p, _mm512_set1_ps(INFINITY));
        p = _mm512_mask_blend_ps(nanm, p, v);
        _mm512_storeu_ps(y + i, p);
    }
#endif
#if defined(__AVX2__) && defined(__FMA__)
    const __m256 lo8 = _mm256_set1_ps(-86.0f), hi8 = _mm256_set1_ps(88.7f);
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 nanm = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
        __m256 lom = _mm256_cmp_ps(v, lo8, _CMP_LT_OQ);
        __m256 him = _mm256_cmp_ps(v, hi8, _CMP_GT_OQ);
        __m256 c = _mm256_min_ps(_mm256_max_ps(v, lo8), hi8);
        __m256 nn = _mm256_round_ps(_mm256_mul_ps(c, _mm256_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m256 r = _mm256_fmadd_ps(nn, _mm256_set1_ps(-0.693359375f), c);
        r = _mm256_fmadd_ps(nn, _mm256_set1_ps(2.12194440e-4f), r);
        __m256 p = _mm256_set1_ps(1.9875691500E-4f);
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507E-3f));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073E-3f));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894E-2f));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459E-1f));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201E-1f));
        p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r);
        p = _mm256_add_ps(p, _mm256_set1_ps(1.0f));
        __m256i e = _mm256_slli_epi32(_mm256_cvtps_epi32(nn), 23);
        p = _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(p), e));
        p = _mm256_blendv_ps(p, _mm256_setzero_ps(), lom);
        p = _mm256_blendv_ps(p, _mm256_set1_ps(INFINITY), him);
        p = _mm256_blendv_ps(p, v, nanm);
        _mm256_storeu_ps(y + i, p);
    }
#endif
    for (; i < n; i++) y[i] = exp_scalar(x[i]);
}

/* y = x * rstd * w per row of C; rstd = 1 / sqrt(mean(x^2) + eps), summed in order. */
static void KN(rmsnorm)(float *y, float *rstd, const float *x, const float *w, int n, int C, float eps) {
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * C;
        float ss = 0;
        for (int j = 0; j < C; j++) ss += xi[j] * xi[j];
        float r = 1.0f / sqrtf(ss / C + eps);
        if (rstd) rstd[i] = r;
        float *yi = y + (size_t)i * C;
        for (int j = 0; j < C; j++) yi[j] = xi[j] * r * w[j];
    }
}

static void KN(rope)(float *x, int nh, int hd, const float *cs, const float *sn, int inverse) {
    int half = hd / 2;
    for (int h = 0; h < nh; h++) {
        float *a = x + (size_t)h * hd, *b = a + half;
        if (inverse)
            for (int i = 0; i < half; i++) {
                float x1 = a[i], x2 = b[i], c = cs[i], s = -sn[i];
                a[i] = x1 * c - x2 * s;
                b[i] = x2 * c + x1 * s;
            }
        else
            for (int i = 0; i < half; i++) {
                float x1 = a[i], x2 = b[i], c = cs[i], s = sn[i];
                a[i] = x1 * c - x2 * s;
                b[i] = x2 * c + x1 * s;
            }
    }
}

/* h = g / (1 + exp(-g)) * u, element-wise; h may alias neither g nor u. */
static void KN(silu_mul)(float *h, const float *g, const float *u, size_t n) {
    for (size_t i = 0; i < n; i++) h[i] = -g[i];
    KN(vexpf)(h, h, n);
    for (size_t i = 0; i < n; i++) h[i] = g[i] / (1.0f + h[i]) * u[i];
}

/* y[i] += a * x[i] (a product, then a sum: not fused). */
static void KN(axpy)(float *y, float a, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] += a * x[i];
}

/* y[i] += x[i] */
static void KN(add)(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] += x[i];
}

/* bf16 of x[i], rounded to nearest even on the bits (as af_f32_to_bf16 and PyTorch's
 * c10::BFloat16: subnormals kept, a NaN stays a quiet NaN); integer operations only, so
 * every variant gives the same bits (vcvtneps2bf16 would flush subnormals to zero). */
static void KN(f32_to_bf16)(uint16_t *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, x + i, 4);
        uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
        y[i] = (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? (u >> 16) | 0x40u : r);
    }
}

const AfKernelTable AF_KCAT(af_kernels_, AF_KISA) = {
    .matmul_inv = KN(matmul_inv),
    .vexpf = KN(vexpf),
    .rmsnorm = KN(rmsnorm),
    .rope = KN(rope),
    .silu_mul = KN(silu_mul),
    .axpy = KN(axpy),
    .add = KN(add),
    .f32_to_bf16 = KN(f32_to_bf16),
};
