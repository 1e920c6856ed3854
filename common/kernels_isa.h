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
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "common/bf16.h"
#include "common/kernels.h"
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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
#define hsum8x8 KN(hsum8x8)
#define micro_pairs KN(micro_pairs)
#define exp_scalar KN(exp_scalar)
#define bf_daz KN(bf_daz)
#define ftz KN(ftz)
#define hsum16 KN(hsum16)
#define lanes_bf16 KN(lanes_bf16)
#define micro_bf16 KN(micro_bf16)
#define hsum4_bf KN(hsum4_bf)
#define fl8_store KN(fl8_store)

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

#if defined(__AVX2__) && defined(__FMA__)
/* [v_hsum(a[0]), ..., v_hsum(a[7])]: v_hsum's additions, ((t0+t1)+(t2+t3))+((t4+t5)+(t6+t7)),
 * for eight accumulators at once (vhaddps adds adjacent lanes; a sum's two operands may
 * come in either order, float addition being commutative). */
static inline __m256 hsum8x8(const __m256 *a) {
    __m256 h01 = _mm256_hadd_ps(a[0], a[1]), h23 = _mm256_hadd_ps(a[2], a[3]);
    __m256 h45 = _mm256_hadd_ps(a[4], a[5]), h67 = _mm256_hadd_ps(a[6], a[7]);
    __m256 g0 = _mm256_hadd_ps(h01, h23), g1 = _mm256_hadd_ps(h45, h67);
    return _mm256_add_ps(_mm256_permute2f128_ps(g0, g1, 0x20), _mm256_permute2f128_ps(g0, g1, 0x31));
}
#endif

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
#if defined(__AVX2__) && defined(__FMA__)
    if (NR * NO >= 8) { /* the horizontal sums eight accumulators at a time, v_hsum's order */
        Vec8 flat[16];
        float sums[16];
        for (int r = 0; r < NR; r++)
            for (int o = 0; o < NO; o++) flat[r * NO + o] = acc[r][o];
        for (int i = NR * NO; i < 16; i++) flat[i] = v_zero();
        if (NR == 1 && NO == 8 && k == in) { /* one row's 8 outputs: bias and store as vectors */
            Vec8 sum = hsum8x8(flat);
            if (b) sum = _mm256_add_ps(sum, _mm256_loadu_ps(b));
            v_store(y, sum);
            return;
        }
        for (int i = 0; i < NR * NO; i += 8) v_store(sums + i, hsum8x8(flat + i));
        for (int r = 0; r < NR; r++)
            for (int o = 0; o < NO; o++) {
                float s = sums[r * NO + o];
                for (int kk = k; kk < in; kk++)
                    s = fmaf(x[(size_t)r * ldx + kk], w[(size_t)o * ldw + kk], s);
                if (b) s += b[o];
                y[(size_t)r * ldy + o] = s;
            }
        return;
    }
#endif
    for (int r = 0; r < NR; r++)
        for (int o = 0; o < NO; o++) {
            float s = v_hsum(acc[r][o]);
            for (int kk = k; kk < in; kk++)
                s = fmaf(x[(size_t)r * ldx + kk], w[(size_t)o * ldw + kk], s);
            if (b) s += b[o];
            y[(size_t)r * ldy + o] = s;
        }
}

#if defined(__AVX512F__)
/* Rows r..r+3 x outputs o..o+7 with 16-lane vectors, each holding two rows' 8-lane
 * accumulators of one output ([row r | row r+1], then [r+2 | r+3]): lane by lane the
 * FMA chain of micro, then its horizontal sums (hsum8x8 on the halves), fma tail and
 * bias; the same bits as micro(4, 8), two accumulators per instruction. */
static inline __attribute__((always_inline)) void micro_pairs(float *y, int ldy, const float *x, int ldx,
                                                              const float *w, int ldw, const float *b, int in) {
    __m512 acc[2][8];
    for (int p = 0; p < 2; p++)
        for (int o = 0; o < 8; o++) acc[p][o] = _mm512_setzero_ps();
    int k = 0;
    for (; k + 8 <= in; k += 8) {
        __m512 xv[2];
        for (int p = 0; p < 2; p++)
            xv[p] = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(x + (size_t)(2 * p) * ldx + k)),
                                       _mm256_loadu_ps(x + (size_t)(2 * p + 1) * ldx + k), 1);
        for (int o = 0; o < 8; o++) {
            const __m512 wv = _mm512_broadcast_f32x8(_mm256_loadu_ps(w + (size_t)o * ldw + k));
            for (int p = 0; p < 2; p++) acc[p][o] = _mm512_fmadd_ps(xv[p], wv, acc[p][o]);
        }
    }
    for (int r = 0; r < 4; r++) {
        __m256 half[8];
        for (int o = 0; o < 8; o++)
            half[o] = r % 2 ? _mm512_extractf32x8_ps(acc[r / 2][o], 1) : _mm512_castps512_ps256(acc[r / 2][o]);
        __m256 sum = hsum8x8(half);
        if (k == in) { /* no k tail: the bias added lane by lane, the row's 8 outputs stored */
            if (b) sum = _mm256_add_ps(sum, _mm256_loadu_ps(b));
            _mm256_storeu_ps(y + (size_t)r * ldy, sum);
            continue;
        }
        float sums[8];
        _mm256_storeu_ps(sums, sum);
        for (int o = 0; o < 8; o++) {
            float s = sums[o];
            for (int kk = k; kk < in; kk++) s = fmaf(x[(size_t)r * ldx + kk], w[(size_t)o * ldw + kk], s);
            if (b) s += b[o];
            y[(size_t)r * ldy + o] = s;
        }
    }
}
#endif

static void KN(matmul_inv)(float *y, int ldy, const float *x, int ldx, const float *w, int ldw,
                           const float *b, int rows, int in, int out) {
    int r4 = rows - rows % 4;
#if defined(__AVX512F__)
    { /* 4-row x 8-output tiles in 16-lane vectors, the rest of the outputs below */
        const int o8 = out - out % 8;
        for (int o = 0; o < o8; o += 8)
            for (int r = 0; r < r4; r += 4)
                micro_pairs(y + (size_t)r * ldy + o, ldy, x + (size_t)r * ldx, ldx, w + (size_t)o * ldw, ldw,
                            b ? b + o : NULL, in);
        y += o8, w += (size_t)o8 * ldw, out -= o8;
        if (b) b += o8;
        for (int r = r4; r < rows; r++) /* the rows past the tiles: their first o8 outputs */
            for (int o = -o8; o < 0; o += 8)
                micro(1, 8, y + (size_t)r * ldy + o, ldy, x + (size_t)r * ldx, ldx, w + (ptrdiff_t)o * ldw, ldw,
                      b ? b + o : NULL, in);
    }
#endif
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

/* ------------------------------------------------------------------ bf16 products
 * The operation (kernels.h, af_matmul_inv_bf16) is defined by AVX512-BF16's vdpbf16ps on
 * 32 bf16 of k per step: lane i (0..15) of an fp32 accumulator takes k = 32b + 2i + 1
 * then k = 32b + 2i, each as one fused multiply-add rounded to nearest even, with bf16
 * denormals read as zero (DAZ) and a denormal result flushed to zero (FTZ); k beyond
 * `in` reads 0. The 16 lanes are then summed by one fixed tree (hsum16), and the bias
 * added. Variants without the instruction run the same steps in scalar code (the product
 * of two bf16 is exact in fp32, so fmaf's single rounding is the instruction's). */
static inline float bf_daz(uint16_t h) { return af_bf16_to_f32((h & 0x7f80u) ? h : (uint16_t)(h & 0x8000u)); }
static inline float ftz(float r) { return fabsf(r) < FLT_MIN ? copysignf(0.0f, r) : r; }

static inline float hsum16(const float *t) {
    float s8[8], s4[4];
    for (int i = 0; i < 8; i++) s8[i] = t[i] + t[i + 8];
    for (int i = 0; i < 4; i++) s4[i] = s8[i] + s8[i + 4];
    return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}

/* The 16 lanes' maximum of x[0..n) (a later value replaces a lane's when greater, NaN
 * never taken), then over the lanes in index order. */
static inline float row_max16(const float *x, int n) {
    float ml[16];
    for (int l = 0; l < 16; l++) ml[l] = -INFINITY;
    int j = 0;
    for (; j + 16 <= n; j += 16)
        for (int l = 0; l < 16; l++) ml[l] = x[j + l] > ml[l] ? x[j + l] : ml[l];
    for (int l = 0; j + l < n; l++) ml[l] = x[j + l] > ml[l] ? x[j + l] : ml[l];
    float mx = -INFINITY;
    for (int l = 0; l < 16; l++) mx = ml[l] > mx ? ml[l] : mx;
    return mx;
}

/* sum of x[0..n) in 16 lanes, closed by hsum16 */
static inline float row_sum16(const float *x, int n) {
    float sl[16] = {0};
    int j = 0;
    for (; j + 16 <= n; j += 16)
        for (int l = 0; l < 16; l++) sl[l] += x[j + l];
    for (int l = 0; j + l < n; l++) sl[l] += x[j + l];
    return hsum16(sl);
}

/* sum of a[d] * b[d] for d < n in 16 lanes (a product, then a sum), closed by hsum16 */
static inline float row_dot16(const float *a, const float *b, int n) {
    float sl[16] = {0};
    int j = 0;
    for (; j + 16 <= n; j += 16)
        for (int l = 0; l < 16; l++) sl[l] += a[j + l] * b[j + l];
    for (int l = 0; j + l < n; l++) sl[l] += a[j + l] * b[j + l];
    return hsum16(sl);
}

/* The 16 accumulator lanes of one output (the emulation). */
static inline void lanes_bf16(float *acc, const uint16_t *x, const uint16_t *w, int in) {
    for (int i = 0; i < 16; i++) acc[i] = 0.0f;
    for (int k0 = 0; k0 < in; k0 += 32)
        for (int i = 0; i < 16; i++) {
            int k = k0 + 2 * i;
            float x1 = k + 1 < in ? bf_daz(x[k + 1]) : 0.0f, w1 = k + 1 < in ? bf_daz(w[k + 1]) : 0.0f;
            acc[i] = ftz(fmaf(x1, w1, acc[i]));
            float x0 = k < in ? bf_daz(x[k]) : 0.0f, w0 = k < in ? bf_daz(w[k]) : 0.0f;
            acc[i] = ftz(fmaf(x0, w0, acc[i]));
        }
}

#if defined(__AVX512BF16__)
/* hsum16 of four accumulators at once, [sum a, sum b, sum c, sum d]: the same additions
 * (lane i + lane i+8, then + 4, then (0 + 2) + (1 + 3)) on 128-bit lanes moved side by
 * side. */
static inline __m128 hsum4_bf(__m512 a, __m512 b, __m512 c, __m512 d) {
    __m512 ab = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xEE));
    __m512 cd = _mm512_add_ps(_mm512_shuffle_f32x4(c, d, 0x44), _mm512_shuffle_f32x4(c, d, 0xEE));
    __m512 s4 = _mm512_add_ps(_mm512_shuffle_f32x4(ab, cd, 0x88), _mm512_shuffle_f32x4(ab, cd, 0xDD));
    __m512 s2 = _mm512_add_ps(s4, _mm512_permute_ps(s4, 0x4E));
    __m512 s1 = _mm512_add_ps(s2, _mm512_permute_ps(s2, 0xB1));
    return _mm512_castps512_ps128(
        _mm512_permutexvar_ps(_mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 8, 4, 0), s1));
}

/* NR rows x NO outputs with vdpbf16ps; the k tail is a masked (zero-filled) load. pf, when
 * set, is where the weight rows of the next block start (NO rows, stride ldw): the tile
 * prefetches them into L2 as it streams its own (memory-bound at few rows; the hardware
 * prefetcher alone leaves most of the bandwidth unused). */
static inline __attribute__((always_inline)) void micro_bf16(int NR, int NO, float *y, int ldy, const uint16_t *x,
                                                             int ldx, const uint16_t *w, int ldw, const uint16_t *pf,
                                                             const float *b, int in) {
    __m512 acc[8][8];
    for (int r = 0; r < NR; r++)
        for (int o = 0; o < NO; o++) acc[r][o] = _mm512_setzero_ps();
    int k = 0;
    for (; k + 32 <= in; k += 32) {
        __m512bh wv[8];
        if (pf)
            for (int o = 0; o < NO; o++) _mm_prefetch((const char *)(pf + (size_t)o * ldw + k), _MM_HINT_T1);
        for (int o = 0; o < NO; o++) wv[o] = (__m512bh)_mm512_loadu_si512(w + (size_t)o * ldw + k);
        for (int r = 0; r < NR; r++) {
            __m512bh xv = (__m512bh)_mm512_loadu_si512(x + (size_t)r * ldx + k);
            for (int o = 0; o < NO; o++) acc[r][o] = _mm512_dpbf16_ps(acc[r][o], xv, wv[o]);
        }
    }
    if (k < in) {
        __mmask32 m = (__mmask32)((1ull << (in - k)) - 1);
        __m512bh wv[8];
        for (int o = 0; o < NO; o++) wv[o] = (__m512bh)_mm512_maskz_loadu_epi16(m, w + (size_t)o * ldw + k);
        for (int r = 0; r < NR; r++) {
            __m512bh xv = (__m512bh)_mm512_maskz_loadu_epi16(m, x + (size_t)r * ldx + k);
            for (int o = 0; o < NO; o++) acc[r][o] = _mm512_dpbf16_ps(acc[r][o], xv, wv[o]);
        }
    }
    if (NO == 2 && NR % 2 == 0) { /* two rows' pairs of sums at once: each 32-bit lane of hsum4_bf is one
                                    * accumulator's sum, alone */
        for (int r = 0; r < NR; r += 2) {
            float t[4];
            _mm_storeu_ps(t, hsum4_bf(acc[r][0], acc[r][1], acc[r + 1][0], acc[r + 1][1]));
            float *y0 = y + (size_t)r * ldy, *y1 = y0 + ldy;
            y0[0] = b ? t[0] + b[0] : t[0];
            y0[1] = b ? t[1] + b[1] : t[1];
            y1[0] = b ? t[2] + b[0] : t[2];
            y1[1] = b ? t[3] + b[1] : t[3];
        }
        return;
    }
    for (int r = 0; r < NR; r++) {
        float *yr = y + (size_t)r * ldy;
        if (NO == 1) {
            float v = _mm_cvtss_f32(hsum4_bf(acc[r][0], acc[r][0], acc[r][0], acc[r][0]));
            yr[0] = b ? v + b[0] : v;
            continue;
        }
        for (int o = 0; o + 4 <= NO; o += 4) {
            __m128 v = hsum4_bf(acc[r][o], acc[r][o + 1], acc[r][o + 2], acc[r][o + 3]);
            if (b) v = _mm_add_ps(v, _mm_loadu_ps(b + o));
            _mm_storeu_ps(yr + o, v);
        }
    }
}

/* Blocks of 8 outputs (weight rows); every row of x passes over a block before the next
 * (8-row tiles of 8 x 2, then 4 x 4, then single rows 1 x 8), so a product reads each
 * weight from memory once whatever the number of rows, and the block's rows, fetched by
 * the first tile, are in L1/L2 for the others. The first tile of a block prefetches the
 * next block. Tiling changes speed only: each output is the same vdpbf16ps chain. */
static void KN(matmul_inv_bf16)(float *y, int ldy, const uint16_t *x, int ldx, const uint16_t *w, int ldw,
                                const float *b, int rows, int in, int out) {
    const int o8 = out - out % 8;
    for (int o = 0; o < o8; o += 8) {
        const uint16_t *wo = w + (size_t)o * ldw, *next = o + 8 < o8 ? wo + (size_t)8 * ldw : NULL;
        const float *bo = b ? b + o : NULL;
        int r = 0;
        for (; r + 8 <= rows; r += 8)
            for (int j = 0; j < 8; j += 2)
                micro_bf16(8, 2, y + (size_t)r * ldy + o + j, ldy, x + (size_t)r * ldx, ldx, wo + (size_t)j * ldw,
                           ldw, r == 0 && next ? next + (size_t)j * ldw : NULL, bo ? bo + j : NULL, in);
        for (; r + 4 <= rows; r += 4)
            for (int j = 0; j < 8; j += 4)
                micro_bf16(4, 4, y + (size_t)r * ldy + o + j, ldy, x + (size_t)r * ldx, ldx, wo + (size_t)j * ldw,
                           ldw, r == 0 && next ? next + (size_t)j * ldw : NULL, bo ? bo + j : NULL, in);
        for (; r < rows; r++)
            micro_bf16(1, 8, y + (size_t)r * ldy + o, ldy, x + (size_t)r * ldx, ldx, wo, ldw, r == 0 ? next : NULL,
                       bo, in);
    }
    for (int o = o8; o < out; o++) { /* the last out % 8 outputs one at a time */
        const uint16_t *wo = w + (size_t)o * ldw;
        const float *bo = b ? b + o : NULL;
        int r = 0;
        for (; r + 8 <= rows; r += 8)
            micro_bf16(8, 1, y + (size_t)r * ldy + o, ldy, x + (size_t)r * ldx, ldx, wo, ldw, NULL, bo, in);
        for (; r + 4 <= rows; r += 4)
            micro_bf16(4, 1, y + (size_t)r * ldy + o, ldy, x + (size_t)r * ldx, ldx, wo, ldw, NULL, bo, in);
        for (; r < rows; r++)
            micro_bf16(1, 1, y + (size_t)r * ldy + o, ldy, x + (size_t)r * ldx, ldx, wo, ldw, NULL, bo, in);
    }
}
#else
static void KN(matmul_inv_bf16)(float *y, int ldy, const uint16_t *x, int ldx, const uint16_t *w, int ldw,
                                const float *b, int rows, int in, int out) {
    float acc[16];
    for (int r = 0; r < rows; r++)
        for (int o = 0; o < out; o++) {
            lanes_bf16(acc, x + (size_t)r * ldx, w + (size_t)o * ldw, in);
            float s = hsum16(acc);
            if (b) s += b[o];
            y[(size_t)r * ldy + o] = s;
        }
}
#endif

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

/* y = x * rstd * w per row of C; rstd = 1 / sqrt(mean(x^2) + eps), the squares summed in 16 lanes. */
static void KN(rmsnorm)(float *y, float *rstd, const float *x, const float *w, int n, int C, float eps) {
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * C;
        const float ss = row_dot16(xi, xi, C);
        float r = 1.0f / sqrtf(ss / C + eps);
        if (rstd) rstd[i] = r;
        float *yi = y + (size_t)i * C;
        for (int j = 0; j < C; j++) yi[j] = xi[j] * r * w[j];
    }
}

/* RMSNorm backward (common/model.c), rows i < n: dot = sum_j dy_j w_j x_j (16 lanes), c2 =
 * dot * r * r * r / C with r = rstd[i]; dx_j += dy_j w_j r - x_j c2. */
static void KN(rmsnorm_bwd_rows)(float *dx, const float *x, const float *dy, const float *w, const float *rstd, int n,
                                 int C) {
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * C, *dyi = dy + (size_t)i * C;
        float *dxi = dx + (size_t)i * C;
        const float r = rstd[i];
        float sl[16] = {0};
        int j = 0;
        for (; j + 16 <= C; j += 16)
            for (int l = 0; l < 16; l++) sl[l] += dyi[j + l] * w[j + l] * xi[j + l];
        for (int l = 0; j + l < C; l++) sl[l] += dyi[j + l] * w[j + l] * xi[j + l];
        const float c2 = hsum16(sl) * r * r * r / C;
        for (j = 0; j < C; j++) dxi[j] += dyi[j] * w[j] * r - xi[j] * c2;
    }
}

/* RMSNorm weight gradient over columns [lo, hi): dw_j += dy_ij x_ij r_i for rows i in
 * order (each column's sum in row order: independent of the column split). */
static void KN(rmsnorm_bwd_w)(float *dw, const float *x, const float *dy, const float *rstd, int n, size_t C,
                              size_t lo, size_t hi) {
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * C, *dyi = dy + (size_t)i * C;
        const float r = rstd[i];
        for (size_t j = lo; j < hi; j++) dw[j] += dyi[j] * xi[j] * r;
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

/* h = g / (1 + exp(-g)) * u, element-wise; h may alias neither g nor u. In blocks of
 * SILU_BLOCK so that exp's operands stay in L1 (the same operations as whole arrays). */
#define SILU_BLOCK 512
static void KN(silu_mul)(float *h, const float *g, const float *u, size_t n) {
    for (size_t b = 0; b < n; b += SILU_BLOCK) {
        const size_t k = n - b < SILU_BLOCK ? n - b : SILU_BLOCK;
        float *hb = h + b;
        const float *gb = g + b, *ub = u + b;
        for (size_t i = 0; i < k; i++) hb[i] = -gb[i];
        KN(vexpf)(hb, hb, k);
        for (size_t i = 0; i < k; i++) hb[i] = gb[i] / (1.0f + hb[i]) * ub[i];
    }
}

/* silu_mul, and h rounded to bf16 into hb (af_f32_to_bf16) while in cache. */
static void KN(silu_mul_bf16)(float *h, uint16_t *hb, const float *g, const float *u, size_t n) {
    for (size_t b = 0; b < n; b += SILU_BLOCK) {
        const size_t k = n - b < SILU_BLOCK ? n - b : SILU_BLOCK;
        KN(silu_mul)(h + b, g + b, u + b, k);
        for (size_t i = 0; i < k; i++) hb[b + i] = af_f32_to_bf16(h[b + i]);
    }
}

/* SwiGLU backward, element-wise: with s = 1 / (1 + exp(-g)) and d = dg[i] (dh on entry):
 * du = d * g * s, dg = d * u * s * (1 + g * (1 - s)); with dgb and dub (not NULL) both also
 * rounded to bf16 there. */
static void KN(silu_bwd)(float *dg, float *du, const float *g, const float *u, size_t n, uint16_t *dgb,
                         uint16_t *dub) {
    float e[SILU_BLOCK];
    for (size_t b = 0; b < n; b += SILU_BLOCK) {
        const size_t k = n - b < SILU_BLOCK ? n - b : SILU_BLOCK;
        for (size_t i = 0; i < k; i++) e[i] = -g[b + i];
        KN(vexpf)(e, e, k);
        for (size_t i = 0; i < k; i++) {
            const float gi = g[b + i], sg = 1.0f / (1.0f + e[i]), d = dg[b + i];
            du[b + i] = d * gi * sg;
            dg[b + i] = d * u[b + i] * sg * (1.0f + gi * (1.0f - sg));
        }
        if (dgb)
            for (size_t i = 0; i < k; i++) {
                dgb[b + i] = af_f32_to_bf16(dg[b + i]);
                dub[b + i] = af_f32_to_bf16(du[b + i]);
            }
    }
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
    for (size_t i = 0; i < n; i++) y[i] = af_f32_to_bf16(x[i]);
}

/* af_bf16_to_f32(af_f32_to_bf16(x[i])): the same integer operations, widened in place. */
static void KN(f32_round_bf16)(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = af_bf16_to_f32(af_f32_to_bf16(x[i]));
}

/* ------------------------------------------------------------------ the learner's attention
 * Softmax forward and backward of a block of query rows (kernels.h, att_softmax and
 * att_softmax_bwd). A row's reductions run in 16 lanes (lane l takes the positions
 * j = l mod 16, in order) closed by hsum16, so every variant performs the same float
 * operations: the plain loops below are vectorised by the compiler at each variant's
 * width without changing an operation. */

static void KN(att_softmax)(float *S, int nb, int nk, int i0, float scale, float *lse, size_t lse_stride,
                            uint16_t *Pb) {
    for (int r = 0; r < nb; r++) {
        float *s = S + (size_t)r * nk;
        const int n = i0 + r + 1 < nk ? i0 + r + 1 : nk; /* causal: keys 0..i0+r */
        for (int j = 0; j < n; j++) s[j] *= scale;
        const float mx = row_max16(s, n);
        for (int j = 0; j < n; j++) s[j] -= mx;
        KN(vexpf)(s, s, (size_t)n);
        const float sum = row_sum16(s, n), inv = 1.0f / sum;
        for (int j = 0; j < n; j++) s[j] *= inv;
        for (int j = n; j < nk; j++) s[j] = 0;
        if (Pb) {
            uint16_t *pb = Pb + (size_t)r * nk;
            for (int j = 0; j < nk; j++) pb[j] = af_f32_to_bf16(s[j]);
        }
        lse[(size_t)r * lse_stride] = mx + logf(sum);
    }
}

static void KN(att_softmax_bwd)(float *S, float *dP, int nb, int nk, int i0, float s_scale, float scale,
                                const float *lse, const float *dsum, size_t stride, uint16_t *Pb, uint16_t *dSb) {
    for (int r = 0; r < nb; r++) {
        float *s = S + (size_t)r * nk, *dp = dP + (size_t)r * nk;
        const int n = i0 + r + 1 < nk ? i0 + r + 1 : nk;
        const float L = lse[(size_t)r * stride], D = dsum[(size_t)r * stride];
        for (int j = 0; j < n; j++) s[j] *= s_scale;
        for (int j = 0; j < n; j++) s[j] -= L;
        KN(vexpf)(s, s, (size_t)n);
        for (int j = 0; j < n; j++) dp[j] = s[j] * (dp[j] - D) * scale;
        for (int j = n; j < nk; j++) s[j] = dp[j] = 0;
        if (Pb) {
            uint16_t *pb = Pb + (size_t)r * nk, *db = dSb + (size_t)r * nk;
            for (int j = 0; j < nk; j++) pb[j] = af_f32_to_bf16(s[j]);
            for (int j = 0; j < nk; j++) db[j] = af_f32_to_bf16(dp[j]);
        }
    }
}

static void KN(att_dsum)(float *D, const float *O, const float *dO, size_t rows, int H, int hd) {
    for (size_t i = 0; i < rows * (size_t)H; i++) D[i] = row_dot16(O + i * hd, dO + i * hd, hd);
}

/* ------------------------------------------------------------------ attention over the cache
 * One query row against nk cached positions, every head (kernels.h, attn_row): the float
 * operations of the decoder's composition (af_matmul_inv's dot products, then a scale,
 * the max, the exp, a sum in position order, and one product-then-sum update of the
 * output per position), arranged so that vectors hold several positions or output
 * columns at once. */
#define attn_scores KN(attn_scores)
#define attn_out KN(attn_out)
#define attn_out16 KN(attn_out16)


/* s[j] = scale * (q . K[j]) for j < nk: the dot product of af_matmul_inv (8-lane FMA chain
 * over k, v_hsum, fma tail), then one float product. */
static void attn_scores(float *s, const float *q, const float *K, int ld, int hd, int nk, float scale) {
    int j = 0;
#if defined(__AVX2__) && defined(__FMA__)
    const int k8 = hd - hd % 8;
    const __m256 vs = _mm256_set1_ps(scale);
    for (; j + 8 <= nk; j += 8) {
        __m256 acc[8];
        for (int o = 0; o < 8; o++) acc[o] = _mm256_setzero_ps();
        for (int k = 0; k < k8; k += 8) {
            const __m256 qv = _mm256_loadu_ps(q + k);
            for (int o = 0; o < 8; o++)
                acc[o] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(K + (size_t)(j + o) * ld + k), acc[o]);
        }
        __m256 r = hsum8x8(acc);
        if (k8 < hd) {
            float t[8];
            _mm256_storeu_ps(t, r);
            for (int o = 0; o < 8; o++)
                for (int kk = k8; kk < hd; kk++) t[o] = fmaf(q[kk], K[(size_t)(j + o) * ld + kk], t[o]);
            r = _mm256_loadu_ps(t);
        }
        _mm256_storeu_ps(s + j, _mm256_mul_ps(r, vs));
    }
#endif
    for (; j + 8 <= nk; j += 8) {
        micro(1, 8, s + j, 1, q, hd, K + (size_t)j * ld, ld, NULL, hd);
        for (int o = 0; o < 8; o++) s[j + o] *= scale;
    }
    for (; j < nk; j++) {
        micro(1, 1, s + j, 1, q, hd, K + (size_t)j * ld, ld, NULL, hd);
        s[j] *= scale;
    }
}

/* o[v*8 .. v*8+8) for v < NV = 0, then for j < nk in order += p[v][j] * x[v][j*ld ..]
 * (a product, then a sum), NV 8-float columns at once. */
static inline __attribute__((always_inline)) void attn_out(int NV, float *o, const float *const *p,
                                                           const float *const *x, int ld, int nk) {
    Vec8 acc[8];
    for (int v = 0; v < NV; v++) acc[v] = v_zero();
    for (int j = 0; j < nk; j++)
        for (int v = 0; v < NV; v++) {
#if defined(__AVX2__) && defined(__FMA__)
            acc[v] = _mm256_add_ps(acc[v], _mm256_mul_ps(_mm256_set1_ps(p[v][j]),
                                                         _mm256_loadu_ps(x[v] + (size_t)j * ld)));
#else
            for (int i = 0; i < 8; i++) acc[v].f[i] += p[v][j] * x[v][(size_t)j * ld + i];
#endif
        }
    for (int v = 0; v < NV; v++) v_store(o + 8 * v, acc[v]);
}

#if defined(__AVX512F__)
/* attn_out for NH heads of HV 16-float vectors each (NH * HV <= 8): head t's columns at
 * o + t*hd, its weights p + t*nk, its value rows x[t] + j*ld; elementwise, so the bits
 * are those of any vector width. */
static inline __attribute__((always_inline)) void attn_out16(int NH, int HV, float *o, int hd, const float *p, int nk,
                                                             const float *const *x, int ld) {
    __m512 acc[8];
    const float *xr[8];
    for (int t = 0; t < NH; t++) xr[t] = x[t];
    for (int v = 0; v < NH * HV; v++) acc[v] = _mm512_setzero_ps();
    for (int j = 0; j < nk; j++) {
        for (int t = 0; t < NH; t++) {
            const __m512 pv = _mm512_set1_ps(p[(size_t)t * nk + j]);
            for (int v = 0; v < HV; v++)
                acc[t * HV + v] = _mm512_add_ps(acc[t * HV + v], _mm512_mul_ps(pv, _mm512_loadu_ps(xr[t] + 16 * v)));
            xr[t] += ld;
        }
    }
    for (int t = 0; t < NH; t++)
        for (int v = 0; v < HV; v++) _mm512_storeu_ps(o + (size_t)t * hd + 16 * v, acc[t * HV + v]);
}
#endif

static void KN(attn_row)(float *o, const float *q, const float *K, const float *V, int ld, int H, int grp,
                         int hd, int nk, float scale, float *sc) {
    for (int h = 0; h < H; h++) {
        float *s = sc + (size_t)h * nk;
        attn_scores(s, q + (size_t)h * hd, K + (size_t)(h / grp) * hd, ld, hd, nk, scale);
        float mx = -INFINITY;
        int j = 0;
#if defined(__AVX2__) && defined(__FMA__)
        /* vmaxps(a, b) is a > b ? a : b lane by lane, the scalar rule below (NaN never
         * taken); the maximum's value is unique up to the sign of a zero, which
         * s[j] - mx then exp cannot tell apart (exp(+-0) = 1) */
        __m256 vm = _mm256_set1_ps(-INFINITY);
        for (; j + 8 <= nk; j += 8) vm = _mm256_max_ps(_mm256_loadu_ps(s + j), vm);
        float t[8];
        _mm256_storeu_ps(t, vm);
        for (int i = 0; i < 8; i++) mx = t[i] > mx ? t[i] : mx;
#endif
        for (; j < nk; j++) mx = s[j] > mx ? s[j] : mx;
        for (j = 0; j < nk; j++) s[j] -= mx;
        KN(vexpf)(s, s, (size_t)nk);
    }
    /* the sums in position order, four heads' chains side by side; then p = e * (1/sum) */
    for (int h0 = 0; h0 < H; h0 += 4) {
        const int nh = H - h0 < 4 ? H - h0 : 4;
        float sum[4] = {0, 0, 0, 0};
        const float *s = sc + (size_t)h0 * nk;
        if (nh == 4)
            for (int j = 0; j < nk; j++) {
                sum[0] += s[j];
                sum[1] += s[nk + j];
                sum[2] += s[2 * nk + j];
                sum[3] += s[3 * nk + j];
            }
        else
            for (int t = 0; t < nh; t++)
                for (int j = 0; j < nk; j++) sum[t] += s[(size_t)t * nk + j];
        for (int t = 0; t < nh; t++) {
            const float inv = 1.0f / sum[t];
            float *e = sc + (size_t)(h0 + t) * nk;
            for (int j = 0; j < nk; j++) e[j] *= inv;
        }
    }
    if (hd % 8) { /* heads not a whole number of vectors: column by column */
        for (int h = 0; h < H; h++) {
            float *oh = o + (size_t)h * hd;
            const float *p = sc + (size_t)h * nk, *x = V + (size_t)(h / grp) * hd;
            memset(oh, 0, (size_t)hd * sizeof(float));
            for (int j = 0; j < nk; j++)
                for (int i = 0; i < hd; i++) oh[i] += p[j] * x[(size_t)j * ld + i];
        }
        return;
    }
#if defined(__AVX512F__)
    if (hd == 16 || hd == 32 || hd == 64 || hd % 128 == 0) {
        const int hv = hd / 16 < 8 ? hd / 16 : 8, nh = 8 / hv; /* heads per call, vectors per head */
        const float *xh[8];
        for (int h0 = 0; h0 < H; h0 += nh) {
            const int n = H - h0 < nh ? H - h0 : nh;
            for (int c = 0; c < hd; c += 16 * hv) { /* column blocks of a head wider than 128 */
                for (int t = 0; t < n; t++) xh[t] = V + (size_t)((h0 + t) / grp) * hd + c;
                float *oc = o + (size_t)h0 * hd + c;
                const float *p = sc + (size_t)h0 * nk;
                if (n == nh && hv == 2) attn_out16(4, 2, oc, hd, p, nk, xh, ld);
                else if (n == nh && hv == 4) attn_out16(2, 4, oc, hd, p, nk, xh, ld);
                else if (hv == 8) attn_out16(1, 8, oc, hd, p, nk, xh, ld);
                else if (n == nh && hv == 1) attn_out16(8, 1, oc, hd, p, nk, xh, ld);
                else
                    for (int t = 0; t < n; t++)
                        for (int v = 0; v < hv; v++) {
                            const float *xv = xh[t] + 16 * v;
                            attn_out16(1, 1, oc + (size_t)t * hd + 16 * v, hd, p + (size_t)t * nk, nk, &xv, ld);
                        }
            }
        }
        return;
    }
#endif
    const int nv = H * hd / 8;
    const float *pv[8], *xv[8];
    for (int v0 = 0; v0 < nv; v0 += 8) {
        const int n = nv - v0 < 8 ? nv - v0 : 8;
        for (int v = 0; v < n; v++) {
            const int c = 8 * (v0 + v), h = c / hd;
            pv[v] = sc + (size_t)h * nk;
            xv[v] = V + (size_t)(h / grp) * hd + (c - h * hd);
        }
        if (n == 8) attn_out(8, o + 8 * v0, pv, xv, ld, nk);
        else
            for (int v = 0; v < n; v++) attn_out(1, o + 8 * (v0 + v), pv + v, xv + v, ld, nk);
    }
}

/* ------------------------------------------------------------------ FL8 checksum blocks
 * The lane update of the FL8 checksum (common/checksum.h) over n blocks of 32 bytes, fused
 * with a copy: block j holds eight little-endian 32-bit words w0..w7, and lane i takes word
 * wi: a[i] += wi; b[i] += a[i]; c[i] += b[i]; d[i] += c[i] (mod 2^64). st = a[0..7],
 * b[0..7], c[0..7], d[0..7]. mode 0 sums only (dst unused), 1 also copies the blocks to
 * dst, 2 copies them with non-temporal stores (dst 16-byte aligned; the caller fences).
 * Integer sums: every variant gives the same state. */
#if defined(__AVX2__)
/* One block's copy: non-temporal (mode 2: two 16-byte halves, dst 16-byte aligned) or plain. */
static inline void fl8_store(unsigned char *d, __m256i v, int mode) {
    if (mode == 2) {
        _mm_stream_si128((__m128i *)(void *)d, _mm256_castsi256_si128(v));
        _mm_stream_si128((__m128i *)(void *)(d + 16), _mm256_extracti128_si256(v, 1));
    } else {
        _mm256_storeu_si256((__m256i *)(void *)d, v);
    }
}
#endif
static void KN(fl8_blocks)(uint64_t *st, void *dst, const void *src, size_t n, int mode) {
    const unsigned char *s = src;
    unsigned char *d = dst;
#if defined(__AVX512F__)
    __m512i a = _mm512_loadu_si512(st), b = _mm512_loadu_si512(st + 8), c = _mm512_loadu_si512(st + 16),
            e = _mm512_loadu_si512(st + 24);
    for (size_t j = 0; j < n; j++, s += 32) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)s);
        if (mode) fl8_store(d, v, mode), d += 32;
        a = _mm512_add_epi64(a, _mm512_cvtepu32_epi64(v));
        b = _mm512_add_epi64(b, a);
        c = _mm512_add_epi64(c, b);
        e = _mm512_add_epi64(e, c);
    }
    _mm512_storeu_si512(st, a), _mm512_storeu_si512(st + 8, b), _mm512_storeu_si512(st + 16, c);
    _mm512_storeu_si512(st + 24, e);
#elif defined(__AVX2__)
    __m256i a0 = _mm256_loadu_si256((const __m256i *)(const void *)st), a1 = _mm256_loadu_si256((const __m256i *)(const void *)(st + 4));
    __m256i b0 = _mm256_loadu_si256((const __m256i *)(const void *)(st + 8)), b1 = _mm256_loadu_si256((const __m256i *)(const void *)(st + 12));
    __m256i c0 = _mm256_loadu_si256((const __m256i *)(const void *)(st + 16)), c1 = _mm256_loadu_si256((const __m256i *)(const void *)(st + 20));
    __m256i e0 = _mm256_loadu_si256((const __m256i *)(const void *)(st + 24)), e1 = _mm256_loadu_si256((const __m256i *)(const void *)(st + 28));
    for (size_t j = 0; j < n; j++, s += 32) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)s);
        if (mode) fl8_store(d, v, mode), d += 32;
        a0 = _mm256_add_epi64(a0, _mm256_cvtepu32_epi64(_mm256_castsi256_si128(v)));
        a1 = _mm256_add_epi64(a1, _mm256_cvtepu32_epi64(_mm256_extracti128_si256(v, 1)));
        b0 = _mm256_add_epi64(b0, a0), b1 = _mm256_add_epi64(b1, a1);
        c0 = _mm256_add_epi64(c0, b0), c1 = _mm256_add_epi64(c1, b1);
        e0 = _mm256_add_epi64(e0, c0), e1 = _mm256_add_epi64(e1, c1);
    }
    _mm256_storeu_si256((__m256i *)(void *)st, a0), _mm256_storeu_si256((__m256i *)(void *)(st + 4), a1);
    _mm256_storeu_si256((__m256i *)(void *)(st + 8), b0), _mm256_storeu_si256((__m256i *)(void *)(st + 12), b1);
    _mm256_storeu_si256((__m256i *)(void *)(st + 16), c0), _mm256_storeu_si256((__m256i *)(void *)(st + 20), c1);
    _mm256_storeu_si256((__m256i *)(void *)(st + 24), e0), _mm256_storeu_si256((__m256i *)(void *)(st + 28), e1);
#else
    for (size_t j = 0; j < n; j++, s += 32) {
#if defined(__SSE2__)
        if (mode == 2) {
            _mm_stream_si128((__m128i *)(void *)d, _mm_loadu_si128((const __m128i *)(const void *)s));
            _mm_stream_si128((__m128i *)(void *)(d + 16), _mm_loadu_si128((const __m128i *)(const void *)(s + 16)));
            d += 32;
        } else
#endif
        if (mode) memcpy(d, s, 32), d += 32;
        for (int i = 0; i < 8; i++) {
            const unsigned char *q = s + 4 * i;
            uint64_t w = (uint64_t)q[0] | (uint64_t)q[1] << 8 | (uint64_t)q[2] << 16 | (uint64_t)q[3] << 24;
            st[i] += w;
            st[8 + i] += st[i];
            st[16 + i] += st[8 + i];
            st[24 + i] += st[16 + i];
        }
    }
#endif
}

const AfKernelTable AF_KCAT(af_kernels_, AF_KISA) = {
    .matmul_inv = KN(matmul_inv),
    .matmul_inv_bf16 = KN(matmul_inv_bf16),
    .vexpf = KN(vexpf),
    .rmsnorm = KN(rmsnorm),
    .rmsnorm_bwd_rows = KN(rmsnorm_bwd_rows),
    .rmsnorm_bwd_w = KN(rmsnorm_bwd_w),
    .rope = KN(rope),
    .silu_mul = KN(silu_mul),
    .silu_mul_bf16 = KN(silu_mul_bf16),
    .silu_bwd = KN(silu_bwd),
    .axpy = KN(axpy),
    .add = KN(add),
    .f32_to_bf16 = KN(f32_to_bf16),
    .f32_round_bf16 = KN(f32_round_bf16),
    .attn_row = KN(attn_row),
    .att_softmax = KN(att_softmax),
    .att_softmax_bwd = KN(att_softmax_bwd),
    .att_dsum = KN(att_dsum),
    .fl8_blocks = KN(fl8_blocks),
};
