/* AMX-BF16 tile products for the decoder's bf16 mode (issue 19), opt-in: AF_AMX=on.
 *
 * The decoder's bf16 products (common/decode.h) normally run af_matmul_inv_bf16, whose
 * bits are those of AVX512-BF16's vdpbf16ps on every CPU (kernels.h). With AF_AMX=on, on
 * a CPU with AMX-BF16 whose kernel grants the tile state (Linux: arch_prctl
 * ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA, asked once per process), the decoder instead
 * keeps its bf16 weights packed in tile blocks (af_amx_pack) and every product, at every
 * batch size, prefill and LM head included, runs af_amx_matmul (tdpbf16ps). The tile unit
 * sums each output's products in its own order, not vdpbf16ps's, so:
 *   - on one machine, a row's tokens and log-probs are still the same whatever the batch,
 *     the prefill split and the thread count (every product of the decoder goes through
 *     the same per-output order; tests/test_amx.c);
 *   - they differ in the last bits from the AVX512-BF16 path, i.e. from runs on CPUs
 *     without AMX or with AF_AMX unset/off. The choice is logged once per process.
 * AF_AMX=emulate runs the packed path on any CPU (tests). Where AF_AMX=on cannot be honoured (no AMX-BF16, or the kernel refuses the tile state)
 * the decoder logs a warning and keeps the vdpbf16ps path. */
#ifndef AF_COMMON_AMX_H
#define AF_COMMON_AMX_H

#include <stddef.h>
#include <stdint.h>

/* 1 if this CPU has AMX-TILE and AMX-BF16 (CPUID; says nothing about the kernel). */
int af_amx_cpu_has(void);

/* What the decoder's bf16 products run, from AF_AMX (decided and logged once per process;
 * the tile state is requested from the kernel then):
 *   unset or off: AF_AMX_OFF, vdpbf16ps (af_matmul_inv_bf16);
 *   on: AF_AMX_TILES if the CPU has AMX-BF16 and the kernel grants the tile state, else
 *       AF_AMX_OFF with a warning;
 *   emulate: AF_AMX_EMULATE, the packed products computed by a scalar model of the tile
 *       instructions (the Intel SDM's tdpbf16ps, which hardware need not match bit for
 *       bit): for tests of the packed path on CPUs without AMX; slow.
 * Another value is an error (logged) and means off. */
typedef enum { AF_AMX_OFF = 0, AF_AMX_TILES = 1, AF_AMX_EMULATE = 2 } AfAmxMode;
AfAmxMode af_amx_mode(void);

/* Elements (uint16) of a packed (out, in) matrix: blocks of 16 outputs (out rounded up to
 * 16), each ceil(in / 32) chunks of 512 (16 pairs of k x 16 outputs x 2), zero-padded. */
size_t af_amx_packed_elems(int in, int out);

/* Pack the fp32 (out, in) matrix w (rows `in` apart) into wp, each weight rounded to bf16
 * as af_f32_to_bf16 (common/bf16.h): element (o, k) at block o/16, chunk k/32, then
 * [(k%32)/2][o%16][k%2]. Outputs o0.. of the matrix start at wp + (o0/16) * ceil(in/32) * 512
 * (o0 a multiple of 16). Allocates a scratch of 16 rows (aborts if out of memory). */
void af_amx_pack(uint16_t *wp, const float *w, int in, int out);

/* y[r*ldy + o] = sum_k x[r*ldx + k] w[o][k] (+ b[o]) for r < rows, o < out, x bf16 and w
 * packed (wp: its first output a multiple of 16 into the matrix), by tdpbf16ps, fp32 sums,
 * the bias added last. Each output's bits depend only on its row of x, its weights and
 * b[o], on one CPU. Only when af_amx_mode() is not AF_AMX_OFF (tiles: the state is then
 * granted to every thread of the process). Single-threaded; no allocation. */
void af_amx_matmul(float *y, int ldy, const uint16_t *x, int ldx, const uint16_t *wp, const float *b, int rows,
                   int in, int out);

#endif
