/* The body of the AMX-BF16 product (common/amx.h), included twice: by common/amx.c with
 * the tile instructions (compiled with -mamx-tile -mamx-bf16), and by tests/test_amx.c
 * with a scalar model of them (the Intel SDM's pseudocode), so that the packing and the
 * tiling logic are checked on CPUs without AMX. The includer defines
 *   T_CFG(p)            load the 64-byte tile configuration at p (ldtilecfg)
 *   T_ZERO(t)           tile t = 0
 *   T_LOAD(t, p, s)     tile t = rows at p, s bytes apart (tileloadd)
 *   T_STORE(t, p, s)    the rows of tile t to p, s bytes apart (tilestored)
 *   T_DP(c, a, b)       c += a b (tdpbf16ps: bf16 pairs, fp32 sums)
 *   T_RELEASE()         tilerelease
 * and AMX_FN(name), the function's name. Tiles: 0-3 the sums of four blocks of 16
 * outputs (R rows x 16 fp32), 4 the rows of x (R rows x 32 bf16 of k), 5-7 packed
 * weight blocks (16 pairs of k x 16 outputs). */
#include <stdint.h>
#include <string.h>

/* The 64-byte configuration (palette 1) for R rows: tiles 0-4 R rows of 64 bytes, tiles
 * 5-7 16 rows of 64 bytes. */
static inline void AMX_FN(amx_config)(uint8_t cfg[64], int R) {
    memset(cfg, 0, 64);
    cfg[0] = 1; /* palette */
    for (int t = 0; t < 8; t++) {
        uint16_t colsb = 64;
        memcpy(cfg + 16 + 2 * t, &colsb, 2);
        cfg[48 + t] = (uint8_t)(t < 5 ? R : 16);
    }
}

/* y[r*ldy + o] = sum_k x[r*ldx + k] w[o][k] (+ b[o]) for r < rows, o < out, w packed by
 * af_amx_pack (wp: the first block of the outputs, a multiple of 16 into the matrix).
 * Outputs in groups of 4 blocks (64); within a group, rows in groups of 16; for each, the
 * sums start at 0 and take the k chunks of 32 in order, so each output's sums depend only
 * on its row of x and its weights (not on rows, out, or where it falls in a tile). */
static void AMX_FN(amx_matmul)(float *y, int ldy, const uint16_t *x, int ldx, const uint16_t *wp, const float *b,
                               int rows, int in, int out) {
    const int KC = (in + 31) / 32;            /* k chunks */
    const size_t bstride = (size_t)KC * 512;   /* elements of one packed block of 16 outputs */
    uint8_t cfg[64];
    int R_cfg = 0;
    uint16_t xt[16 * 32];                      /* the last k chunk of x, zero-padded */
    float c[16 * 16];                          /* one tile of sums */
    for (int o0 = 0; o0 < out; o0 += 64) {
        const int nb = (out - o0 + 15) / 16 < 4 ? (out - o0 + 15) / 16 : 4;
        const uint16_t *wb = wp + (size_t)(o0 / 16) * bstride;
        for (int r0 = 0; r0 < rows; r0 += 16) {
            const int R = rows - r0 < 16 ? rows - r0 : 16;
            if (R != R_cfg) {
                AMX_FN(amx_config)(cfg, R);
                T_CFG(cfg);
                R_cfg = R;
            }
            const uint16_t *xr = x + (size_t)r0 * ldx;
            T_ZERO(0);
            T_ZERO(1);
            T_ZERO(2);
            T_ZERO(3);
            for (int kc = 0; kc < KC; kc++) {
                const int k0 = kc * 32;
                if (k0 + 32 <= in) {
                    T_LOAD(4, xr + k0, (long)ldx * 2);
                } else {
                    memset(xt, 0, sizeof xt);
                    for (int r = 0; r < R; r++) memcpy(xt + r * 32, xr + (size_t)r * ldx + k0, (size_t)(in - k0) * 2);
                    T_LOAD(4, xt, 64);
                }
                const uint16_t *wk = wb + (size_t)kc * 512;
                T_LOAD(5, wk, 64);
                T_DP(0, 4, 5);
                if (nb > 1) {
                    T_LOAD(6, wk + bstride, 64);
                    T_DP(1, 4, 6);
                }
                if (nb > 2) {
                    T_LOAD(7, wk + 2 * bstride, 64);
                    T_DP(2, 4, 7);
                }
                if (nb > 3) {
                    T_LOAD(5, wk + 3 * bstride, 64);
                    T_DP(3, 4, 5);
                }
            }
            for (int bi = 0; bi < nb; bi++) {
                switch (bi) {
                case 0: T_STORE(0, c, 64); break;
                case 1: T_STORE(1, c, 64); break;
                case 2: T_STORE(2, c, 64); break;
                default: T_STORE(3, c, 64); break;
                }
                const int ob = o0 + 16 * bi, no = out - ob < 16 ? out - ob : 16;
                for (int r = 0; r < R; r++) {
                    float *yr = y + (size_t)(r0 + r) * ldy + ob;
                    for (int j = 0; j < no; j++) yr[j] = b ? c[r * 16 + j] + b[ob + j] : c[r * 16 + j];
                }
            }
        }
    }
    T_RELEASE();
}
