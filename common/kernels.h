/* Small numeric kernels shared by the model and the decoder. */
#ifndef AF_COMMON_KERNELS_H
#define AF_COMMON_KERNELS_H

#include <stddef.h>

/* Strided batch-invariant product: y[r*ldy + o] = sum_k x[r*ldx + k] * w[o*ldw + k] (+ b[o])
 * for r < rows, o < out. Each output is computed by the same fixed-order float operations
 * whatever `rows` is or where the output falls in a tile (see af_matmul_invariant in
 * common/model.h for the contiguous form). Single-threaded; no allocation. */
void af_matmul_inv(float *y, int ldy, const float *x, int ldx, const float *w, int ldw,
                   const float *b, int rows, int in, int out);

/* The log-probability of a token whose scaled logit is y = z / T (rounded to float) under
 * a softmax with log-sum-exp lse (double): y - lse, never above 0. Rounding (a float
 * exp, a float logit) can leave y - lse a few ulp above 0 for a near-certain token; a
 * probability is at most 1, and the learner rejects positive log-probs, so it is clipped.
 * The sampler (common/decode.c) and the learner's forward (common/model.c) both use it,
 * so their log-probs agree bit for bit on the same logits. */
float af_logp_from_lse(float y, double lse);

#endif

/* y[i] = exp(x[i]) for i < n (y may equal x), vectorised (AVX2) with a fixed polynomial:
 * relative error below 2e-7, exp(x) = 0 for x < -86 (and for -inf), +inf above 88.7,
 * NaN in gives NaN out. Results depend only on x[i], not on n or alignment. */
void af_vexpf(float *y, const float *x, size_t n);
