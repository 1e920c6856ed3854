/* The batch-invariant matrix product behind decode: every output element is one dot
 * product computed by the same fixed sequence of float operations (8-lane FMA chain in
 * k order, fixed horizontal sum, scalar fma tail, then the bias), whatever the tile the
 * element falls in, so a row's result never depends on how many rows are batched. */
#include "common/kernels.h"
#include "common/model.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

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

void af_matmul_inv(float *y, int ldy, const float *x, int ldx, const float *w, int ldw,
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

void af_matmul_invariant(float *y, const float *x, const float *w, const float *b, int rows,
                         int in, int out) {
    af_matmul_inv(y, out, x, in, w, in, b, rows, in, out);
}

/* exp: n = round(x log2 e), r = x - n ln2 (two-constant Cody-Waite), p(r) a degree-6
 * Taylor-like polynomial (Cephes expf coefficients), then scale by 2^n through the
 * exponent bits. The scalar tail runs the same operations lane by lane. */
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

void af_vexpf(float *y, const float *x, size_t n) {
    size_t i = 0;
#if defined(__AVX2__) && defined(__FMA__)
    const __m256 lo = _mm256_set1_ps(-86.0f), hi = _mm256_set1_ps(88.7f);
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 nanm = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
        __m256 lom = _mm256_cmp_ps(v, lo, _CMP_LT_OQ);
        __m256 him = _mm256_cmp_ps(v, hi, _CMP_GT_OQ);
        __m256 c = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
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

float af_logp_from_lse(float y, double lse) {
    double lp = (double)y - lse;
    return lp > 0.0 ? 0.0f : (float)lp; /* NaN stays NaN: the learner's finiteness check sees it */
}
