/* Small numeric kernels shared by the model and the decoder, dispatched on the CPU.
 *
 * The build is portable (x86-64-v2 unless AF_NATIVE=ON): these kernels are compiled
 * four times (common/kernels_isa.h: baseline, AVX2+FMA, AVX-512 F/BW/DQ/VL, and that
 * plus AVX512-BF16) and one variant is chosen once per process, at the first call, from
 * what the CPU supports (AVX512-BF16, else AVX-512, else AVX2+FMA, else baseline). The
 * environment variable AF_KERNELS = baseline|avx2|avx512|avx512bf16|auto forces a
 * choice (tests, benchmarks); a choice the CPU lacks falls back to the best it has,
 * with a warning. The choice is logged once at info level ("kernels: avx512bf16").
 *
 * Bits: the variants perform the same float operations in the same order, so they give
 * the same bits for the same inputs (tests/test_kernels.c); wider vectors change speed
 * only. The code outside these kernels is compiled for the baseline, so an AF_NATIVE=ON
 * build (whose compiler may fuse a*b+c elsewhere) can differ from the portable build in
 * the last bits; any one binary on one machine gives the same bits run after run. */
#ifndef AF_COMMON_KERNELS_H
#define AF_COMMON_KERNELS_H

#include <stddef.h>
#include <stdint.h>

typedef struct AfKernelTable {
    void (*matmul_inv)(float *y, int ldy, const float *x, int ldx, const float *w, int ldw, const float *b,
                       int rows, int in, int out);
    void (*matmul_inv_bf16)(float *y, int ldy, const uint16_t *x, int ldx, const uint16_t *w, int ldw,
                            const float *b, int rows, int in, int out);
    void (*vexpf)(float *y, const float *x, size_t n);
    /* y = x * r * w per row of C, r = 1 / sqrt(ss / C + eps), ss = the sum of x^2 in 16
     * lanes (lane l takes j = l mod 16 in order) closed by a fixed tree; rstd[i] = r. */
    void (*rmsnorm)(float *y, float *rstd, const float *x, const float *w, int n, int C, float eps);
    /* Its backward (common/model.c): per row, dot = sum_j dy_j w_j x_j (the same 16 lanes),
     * c2 = dot * r * r * r / C, dx_j += dy_j w_j r - x_j c2; and the weight gradient over
     * columns [lo, hi): dw_j += dy_ij x_ij r_i, rows in order. */
    void (*rmsnorm_bwd_rows)(float *dx, const float *x, const float *dy, const float *w, const float *rstd, int n,
                             int C);
    void (*rmsnorm_bwd_w)(float *dw, const float *x, const float *dy, const float *rstd, int n, size_t C, size_t lo,
                          size_t hi);
    void (*rope)(float *x, int nh, int hd, const float *cs, const float *sn, int inverse);
    void (*silu_mul)(float *h, const float *g, const float *u, size_t n);
    /* silu_mul, and h rounded to bf16 (af_f32_to_bf16) into hb. */
    void (*silu_mul_bf16)(float *h, uint16_t *hb, const float *g, const float *u, size_t n);
    /* SwiGLU backward, element-wise (common/model.c): s = 1 / (1 + exp(-g)) (exp as
     * af_vexpf), d = dg[i] on entry (the gradient of h); du = d * g * s; dg = d * u * s *
     * (1 + g * (1 - s)), each left to right. dgb, dub: NULL, or both rounded to bf16 there. */
    void (*silu_bwd)(float *dg, float *du, const float *g, const float *u, size_t n, uint16_t *dgb, uint16_t *dub);
    void (*axpy)(float *y, float a, const float *x, size_t n);
    void (*add)(float *y, const float *x, size_t n);
    void (*f32_to_bf16)(uint16_t *y, const float *x, size_t n);
    void (*f32_round_bf16)(float *y, const float *x, size_t n);
    /* Attention of one query row over nk >= 1 cached positions, all H heads (the
     * decoder's, common/decode.c). Head h reads q + h*hd and the cache's kv head h / grp
     * (row j of K and V at + j*ld, the head at + (h/grp)*hd) and writes o + h*hd:
     *   s[j] = (q_h . K[j]) * scale, the dot product being af_matmul_inv's output;
     *   m = max of s (a later s[j] replaces m only when s[j] > m); e[j] = exp(s[j] - m)
     *   as af_vexpf; sum = e[0] + e[1] + ... in position order; inv = 1 / sum;
     *   o_h = 0, then for each j in order o_h[i] += (e[j] * inv) * V[j][i] (not fused).
     * Every variant performs exactly these float operations (tests/test_kernels.c checks
     * the bits against that composition), so a row's output depends only on its q and its
     * slot's cache. sc: scratch of H * nk floats. Single-threaded; no allocation. */
    void (*attn_row)(float *o, const float *q, const float *K, const float *V, int ld, int H, int grp, int hd,
                     int nk, float scale, float *sc);
    /* The learner's attention softmax over a block of nb query rows (common/model.c). Row r
     * of S (nk floats) holds the scores of query i0 + r against keys 0..nk-1, of which
     * keys 0..n-1 count, n = min(i0 + r + 1, nk) (causal). Forward, per row: s = s * scale;
     * m = the maximum (in 16 lanes); s = exp(s - m) (af_vexpf); sum in 16 lanes (lane l
     * takes the keys j = l mod 16 in order) closed by a fixed tree; s = s * (1 / sum);
     * s = 0 past n; lse[r * lse_stride] = m + logf(sum). Backward, per row, with L =
     * lse[r * stride] and D = dsum[r * stride] (att_dsum's): s = exp(s * s_scale - L) (a
     * product, then a difference); dP = s * (dP - D) * scale; both 0 past n. (scale and
     * s_scale 1.0f where the scores' product applied the scale already: a product by 1 is
     * exact.) Pb (and dSb), when not NULL, also receive the rows' outputs (P, and dP)
     * rounded to bf16 as af_f32_to_bf16_n, nk per row, for the bf16 products that read
     * them. att_dsum: D[i] = O_i . dO_i for the rows * H head rows of hd floats (O and dO
     * contiguous), the hd terms in the same 16 lanes. Every variant performs exactly these
     * float operations (tests/test_kernels.c). Single-threaded; no allocation. */
    void (*att_softmax)(float *S, int nb, int nk, int i0, float scale, float *lse, size_t lse_stride, uint16_t *Pb);
    void (*att_softmax_bwd)(float *S, float *dP, int nb, int nk, int i0, float s_scale, float scale,
                            const float *lse, const float *dsum, size_t stride, uint16_t *Pb, uint16_t *dSb);
    void (*att_dsum)(float *D, const float *O, const float *dO, size_t rows, int H, int hd);
    /* The FL8 checksum's lane update over n blocks of 32 bytes, fused with a copy (mode 0:
     * none, 1: stores, 2: non-temporal stores to a 16-byte aligned dst, unfenced); see
     * common/checksum.h. Every variant leaves the same state. */
    void (*fl8_blocks)(uint64_t *st, void *dst, const void *src, size_t n, int mode);
} AfKernelTable;

/* The chosen table (chosen and logged at the first call; thread-safe). */
const AfKernelTable *af_kernels(void);

/* The chosen variant's name: "baseline", "avx2", "avx512" or "avx512bf16". */
const char *af_kernels_name(void);

/* Tests: switch to a named variant now ("baseline", "avx2", "avx512", "auto"). Returns 0,
 * or AF_EINVAL for an unknown name, AF_ESTATE when the CPU lacks
 * it (the choice is then unchanged). Not to be called while kernels run. */
int af_kernels_select(const char *name);

/* The OpenBLAS core in use, and whether the process set OPENBLAS_CORETYPE because OpenBLAS
 * fell back to a core older than the CPU (kernels.c). Logged with the kernels. */
const char *af_blas_core_note(void);

/* 1 if OpenBLAS's single-threaded sgemm on the core in use gives each row of the result
 * the same bits whatever the number of rows in the call (probed on the first call, on
 * products of an LM head's shape, kernels.c); 0 otherwise (Debian 0.3.21's Haswell
 * core). The fp32 model's bits do not depend on model.threads either way (single-threaded
 * sgemm on fixed row chunks); a token's log-prob is independent of the LM head's block
 * size only when this is 1. */
int af_blas_rows_invariant(void);

/* The OPENBLAS_CORETYPE the process sets when OpenBLAS chose `core`: NULL when `core` is
 * not a fallback (or the CPU has no AVX2), else "Cooperlake", "SkylakeX" or "Haswell"
 * after the CPU's features. */
const char *af_blas_core_for_cpu(const char *core);

/* 1 if this CPU can run the named variant. */
int af_kernels_supported(const char *name);

/* Strided batch-invariant product: y[r*ldy + o] = sum_k x[r*ldx + k] * w[o*ldw + k] (+ b[o])
 * for r < rows, o < out. Each output is computed by the same fixed-order float operations
 * whatever `rows` is or where the output falls in a tile (8-lane FMA chain in k order,
 * fixed horizontal sum, scalar fma tail, then the bias); see af_matmul_invariant in
 * common/model.h for the contiguous form. Single-threaded; no allocation. */
void af_matmul_inv(float *y, int ldy, const float *x, int ldx, const float *w, int ldw,
                   const float *b, int rows, int in, int out);

/* The bf16 form of af_matmul_inv, for weights read as bf16 (half the bytes of fp32):
 * y[r*ldy + o] = sum_k x[r*ldx + k] * w[o*ldw + k] (+ b[o]) with x and w bf16 (the caller
 * rounds activations with af_f32_to_bf16, common/bf16.h) and fp32 accumulation. The
 * float operations are those of AVX512-BF16's vdpbf16ps (kernels_isa.h): 16 fp32 lanes,
 * lane i taking k = 32j + 2i + 1 then 32j + 2i by fused multiply-adds (round to nearest
 * even, bf16 denormals read as 0, denormal results flushed to 0), k past `in` read as 0;
 * then a fixed 16-lane sum tree and the fp32 bias. Each output's bits depend only on its
 * row of x, its row of w and b[o]: not on rows, out, tiling or threads (batch-invariant).
 * The avx512bf16 variant executes vdpbf16ps; the others emulate it in scalar code with
 * the same bits (tests/test_kernels.c checks it, denormals and underflow included) and
 * are many times slower than af_matmul_inv, so callers choose bf16 by
 * af_kernels_bf16_native() (common/decode.h: decode dtype auto). Single-threaded; no
 * allocation. */
void af_matmul_inv_bf16(float *y, int ldy, const uint16_t *x, int ldx, const uint16_t *w, int ldw,
                        const float *b, int rows, int in, int out);

/* 1 if the chosen variant computes af_matmul_inv_bf16 with the CPU's bf16 instructions. */
int af_kernels_bf16_native(void);

/* y[i] = exp(x[i]) for i < n (y may equal x), vectorised with a fixed polynomial:
 * relative error below 2e-7, exp(x) = 0 for x < -86 (and for -inf), +inf above 88.7,
 * NaN in gives NaN out. Results depend only on x[i], not on n or alignment. */
void af_vexpf(float *y, const float *x, size_t n);

/* y[i] = bf16 bits of x[i], rounded to nearest even (bit for bit af_f32_to_bf16 of
 * common/bf16.h, which is PyTorch's float -> bfloat16 rounding: subnormals are
 * kept, not flushed; a NaN stays NaN). The one bulk conversion of the project: the
 * learner's bf16 products (common/matmul_bf16.h) and the decoder's bf16 weights use it. */
void af_f32_to_bf16_n(uint16_t *y, const float *x, size_t n);

/* y[i] = x[i] rounded to bf16 and widened back to float (af_bf16_to_f32 of
 * af_f32_to_bf16: the same rounding, the low 16 bits zero; y may equal x). The operands of
 * the learner's bf16 products on the fp32 FMA units (model.compute=bf16-fma,
 * common/matmul_bf16.h). */
void af_f32_round_bf16_n(float *y, const float *x, size_t n);

/* The log-probability of a token whose scaled logit is y = z / T (rounded to float) under
 * a softmax with log-sum-exp lse (double): y - lse, never above 0. Rounding (a float
 * exp, a float logit) can leave y - lse a few ulp above 0 for a near-certain token; a
 * probability is at most 1, and the learner rejects positive log-probs, so it is clipped.
 * The sampler (common/decode.c) and the learner's forward (common/model.c) both use it,
 * so their log-probs agree bit for bit on the same logits. */
float af_logp_from_lse(float y, double lse);

/* The logit a masked token gets (rollout.constrain_actions): the sampler's allow mask and
 * the learner's logit mask (af_model_set_logit_mask) both write it in place of the token's
 * logit, so that its probability is exactly 0 (exp underflows at every temperature) and
 * the two compute the same masked log-softmax. Finite, so that a zero probability times
 * it stays 0 in the entropy and its gradient. */
#define AF_LOGIT_MASKED (-1.0e9f)

/* A token mask of V bits (Turn.action_allow, af_model_set_logit_mask): bit j of byte j / 8,
 * least significant first; af_mask_bytes(V) bytes. */
static inline size_t af_mask_bytes(size_t V) { return (V + 7) / 8; }
static inline int af_mask_has(const uint8_t *b, size_t j) { return (b[j >> 3] >> (j & 7)) & 1; }

#endif
