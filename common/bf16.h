/* bfloat16 <-> float32, the one conversion of the project (safetensors files, the bf16
 * weight copy of the decoder, activations fed to bf16 products).
 *
 * af_f32_to_bf16 rounds to nearest, ties to even, on the bit pattern, exactly as
 * PyTorch's c10::BFloat16 and as the AVX512-BF16 conversion instructions for normal
 * numbers: infinities stay infinities, a value that rounds past the largest bf16 becomes
 * infinity, denormals are rounded (not flushed: PyTorch keeps them; the bf16 products of
 * common/kernels.h treat bf16 denormals as zero), NaN stays a quiet NaN of the same sign
 * (PyTorch returns 0x7fc0 for every NaN; only the payload differs). Self-contained
 * (header only), so any module can include it. */
#ifndef AF_COMMON_BF16_H
#define AF_COMMON_BF16_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline float af_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline uint16_t af_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    const uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16; /* round to nearest, ties to even */
    /* branch-free, so that the bulk conversion's loop (common/kernels_isa.h) vectorises */
    return (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? (u >> 16) | 0x40u : r); /* a NaN: quiet */
}

/* Many at once, vectorised: af_f32_to_bf16_n in common/kernels.h (the same bits). */

#endif
