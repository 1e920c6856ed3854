/* bf16 matrix products with fp32 accumulation and fp32 output for the learner's
 * forward/backward (common/model.c), and the choice of the learner's compute precision
 * (`model.compute`). The products run on oneDNN's matmul primitive (Debian libdnnl-dev)
 * with bf16 sources and an f32 destination: AMX tiles where the CPU has AMX-BF16, else
 * AVX512-BF16 (vdpbf16ps). The inputs are rounded to bf16 by the caller
 * (af_f32_to_bf16_n, common/kernels.h: round to nearest even, PyTorch's rounding); the
 * sums are accumulated in fp32.
 *
 * Native bf16: the CPU has AVX512-BF16 or AMX-BF16 (oneDNN's effective ISA is
 * avx512_core_bf16 or above; oneDNN would emulate bf16 on older AVX-512 CPUs, slower
 * than fp32, so those count as without) and the environment variable AF_BF16 is not
 * "off" (AF_BF16=off makes this process behave as on a CPU without bf16: tests of the
 * fp32 fallback, comparisons).
 *
 * Bits: oneDNN's matmul reduces in a fixed order for a given shape, layout and thread
 * count (no atomics), so the same inputs give the same bits run after run and on every
 * rank with the same thread count and CPU; another thread count or another CPU (AMX vs
 * AVX512-BF16) may change the last bits (tests/test_model_bf16.c checks repeatability).
 * The learner (common/model.c) runs every product single-threaded on fixed chunks, so
 * its bits do not depend on its thread count. */
#ifndef AF_COMMON_MATMUL_BF16_H
#define AF_COMMON_MATMUL_BF16_H

#include <stdint.h>

/* model.compute: the precision of the learner's matrix products. AF_COMPUTE_BF16_FMA:
 * the same bf16 numbers as AF_COMPUTE_BF16 (inputs rounded to bf16, exact products, fp32
 * accumulation), computed on the fp32 FMA units: the operands are kept as fp32 values
 * rounded to bf16 (af_f32_round_bf16_n, common/kernels.h), whose products fp32 holds
 * exactly, and multiplied by oneDNN's fp32 matmul. On a CPU without AMX that is about
 * twice as fast as vdpbf16ps (measured on a Xeon with AVX512-BF16 and AVX-512 FMA, no AMX
 * exposed: one vdpbf16ps (32 multiply-adds) per 2 cycles against two 16-lane FMAs per
 * cycle; BENCHMARKS.md), at twice the operands' bytes. Any CPU (no bf16 instruction is
 * needed). The sums' order and rounding differ from AF_COMPUTE_BF16's, so its bits are
 * its own. */
enum { AF_COMPUTE_FP32 = 0, AF_COMPUTE_BF16 = 1, AF_COMPUTE_AUTO = 2, AF_COMPUTE_BF16_FMA = 3 };

/* "fp32", "bf16", "auto" or "bf16-fma" (anything else: "?"). */
const char *af_compute_name(int compute);

/* 1 if this process computes bf16 products natively (see above). The first call asks
 * oneDNN and reads AF_BF16; later calls return the cached answer. Thread-safe. */
int af_bf16_supported(void);

/* oneDNN's name for the instruction set its bf16 products use here, e.g.
 * "avx512_core_amx", or a reason when unsupported ("AF_BF16=off", "no bf16 on this CPU"). */
const char *af_bf16_isa(void);

/* The precision to use for `want`: AF_COMPUTE_AUTO gives BF16 when af_bf16_supported()
 * and FP32 otherwise (logged once at info level with the reason); FP32 and BF16_FMA stay
 * themselves; BF16 on a CPU without native bf16 fails with AF_ECONFIG naming the reason
 * (`auto` is the portable choice). Returns 0 with *out set, AF_ECONFIG, AF_EINVAL
 * (unknown `want`). */
int af_compute_resolve(int want, int *out);

typedef struct AfBf16Mm AfBf16Mm; /* an engine, a stream and the primitives made so far */

/* Create a product context. Returns 0, AF_ESTATE (no native bf16), AF_ENOMEM or
 * AF_ENOTIMPL (oneDNN refused, with its status in the detail). Owned by the caller.
 * af_bf16mm_create_fma: a context for af_bf16mm_run_f32 only, on any CPU. */
int af_bf16mm_create(AfBf16Mm **out);
int af_bf16mm_create_fma(AfBf16Mm **out);
void af_bf16mm_destroy(AfBf16Mm *g);

/* C = op(A) op(B) + beta * C with beta 0 or 1, all row-major:
 *   op(A): (M, K); A is (M, K) with leading dimension lda, or (K, M) when trans_a
 *   op(B): (K, N); B is (K, N) with leading dimension ldb, or (N, K) when trans_b
 *   C:     (M, N) f32 with leading dimension ldc
 * (cblas_sgemm's row-major contract with alpha = 1, in bf16). A primitive is made per
 * distinct (shape, layout, beta, thread count) and kept (up to a fixed number, the oldest
 * replaced), so steady-state steps reuse them. Threads: oneDNN's OpenMP threads, set by
 * af_bf16mm_set_threads. Returns 0, AF_EINVAL (a size < 1 or a leading dimension too
 * small), AF_ENOMEM or AF_ENOTIMPL (oneDNN refused the shape). */
int af_bf16mm_run(AfBf16Mm *g, int trans_a, int trans_b, int M, int N, int K, const uint16_t *A, int lda,
                  const uint16_t *B, int ldb, int beta, float *C, int ldc);

/* The same contract with fp32 operands (AF_COMPUTE_BF16_FMA: values the caller rounded to
 * bf16, so the products are exact and only the fp32 sums round), on oneDNN's fp32 matmul;
 * the primitives are kept apart from the bf16 ones. */
int af_bf16mm_run_f32(AfBf16Mm *g, int trans_a, int trans_b, int M, int N, int K, const float *A, int lda,
                      const float *B, int ldb, int beta, float *C, int ldc);

/* Threads of the products of this thread (OpenMP's omp_set_num_threads, >= 1). */
void af_bf16mm_set_threads(int n);

#endif
