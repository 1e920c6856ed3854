/* AMX-BF16 tile products (common/amx.h). Compiled with -mamx-tile -mamx-bf16
 * (CMakeLists.txt); the tile instructions run only when af_amx_mode() is AF_AMX_TILES. */
#include "common/amx.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "common/bf16.h"
#include "common/error.h"
#include "common/kernels.h"
#include "common/log.h"

int af_amx_cpu_has(void) {
#if defined(__x86_64__)
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (d >> 24 & 1) && (d >> 22 & 1); /* AMX-TILE, AMX-BF16 */
#else
    return 0;
#endif
}

/* Linux: the tile data state is off until the process asks for it (5.16+). */
#define AF_ARCH_GET_XCOMP_PERM 0x1022
#define AF_ARCH_REQ_XCOMP_PERM 0x1023
#define AF_XFEATURE_XTILEDATA 18

static int g_mode; /* AfAmxMode */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void decide(void) {
    const char *env = getenv("AF_AMX");
    if (!env || !*env || !strcmp(env, "off")) {
        if (af_amx_cpu_has())
            af_log(AF_LOG_INFO, "bf16 decode products: vdpbf16ps (this CPU has AMX-BF16; AF_AMX=on uses its tiles, "
                                "other bits)");
        return;
    }
    if (!strcmp(env, "emulate")) {
        g_mode = AF_AMX_EMULATE;
        af_log(AF_LOG_WARN, "bf16 decode products: AMX tiles emulated in scalar code (AF_AMX=emulate: the Intel SDM's "
                            "tdpbf16ps, for tests; slow)");
        return;
    }
    if (strcmp(env, "on")) {
        af_log(AF_LOG_ERROR, "AF_AMX=%s: not one of on|off|emulate; bf16 decode products stay on vdpbf16ps", env);
        return;
    }
    if (!af_amx_cpu_has()) {
        af_log(AF_LOG_WARN, "AF_AMX=on: this CPU has no AMX-BF16 (CPUID); bf16 decode products stay on vdpbf16ps");
        return;
    }
#if defined(__x86_64__) && defined(__linux__) && defined(__AMX_TILE__) && defined(__AMX_BF16__)
    unsigned long perm = 0;
    if (syscall(SYS_arch_prctl, AF_ARCH_REQ_XCOMP_PERM, AF_XFEATURE_XTILEDATA) != 0) {
        af_log(AF_LOG_WARN, "AF_AMX=on: the kernel refused the AMX tile state (arch_prctl ARCH_REQ_XCOMP_PERM: %s); "
                            "bf16 decode products stay on vdpbf16ps", strerror(errno));
        return;
    }
    if (syscall(SYS_arch_prctl, AF_ARCH_GET_XCOMP_PERM, &perm) != 0 || !(perm >> AF_XFEATURE_XTILEDATA & 1)) {
        af_log(AF_LOG_WARN, "AF_AMX=on: the tile state is not granted after the request; bf16 decode products stay "
                            "on vdpbf16ps");
        return;
    }
    g_mode = AF_AMX_TILES;
    af_log(AF_LOG_INFO, "bf16 decode products: AMX tiles (AF_AMX=on; tokens and log-probs differ in the last bits "
                        "from the vdpbf16ps path)");
#else
    af_log(AF_LOG_WARN, "AF_AMX=on: this build or OS cannot use AMX tiles (Linux, x86-64, a compiler with "
                        "-mamx-bf16); bf16 decode products stay on vdpbf16ps");
#endif
}

AfAmxMode af_amx_mode(void) {
    pthread_once(&g_once, decide);
    return (AfAmxMode)g_mode;
}

size_t af_amx_packed_elems(int in, int out) {
    return (size_t)((out + 15) / 16) * (size_t)((in + 31) / 32) * 512;
}

void af_amx_pack(uint16_t *wp, const float *w, int in, int out) {
    const int KC = (in + 31) / 32, kp = KC * 32;
    /* 16 rows rounded at once (af_f32_to_bf16_n: af_f32_to_bf16's bits), zero-padded to
     * kp; then each chunk's pairs of k are 32-bit words, transposed 16 x 16 */
    uint16_t *t = calloc((size_t)16 * kp, sizeof(uint16_t));
    AF_ASSERT(t != NULL);
    for (int ob = 0; ob < (out + 15) / 16; ob++) {
        const int nr = out - ob * 16 < 16 ? out - ob * 16 : 16;
        if (nr < 16) memset(t, 0, (size_t)16 * kp * sizeof(uint16_t));
        for (int n = 0; n < nr; n++) af_f32_to_bf16_n(t + (size_t)n * kp, w + (size_t)(ob * 16 + n) * in, (size_t)in);
        for (int kc = 0; kc < KC; kc++) {
            uint16_t *blk = wp + ((size_t)ob * KC + kc) * 512;
            for (int p = 0; p < 16; p++)
                for (int n = 0; n < 16; n++) memcpy(blk + (p * 16 + n) * 2, t + (size_t)n * kp + kc * 32 + 2 * p, 4);
        }
    }
    free(t);
}

/* ------------------------------------------------------------------ the scalar model
 * of the tile instructions (AF_AMX=emulate), after the Intel SDM's pseudocode: a tile is
 * up to 16 rows of 64 bytes; tdpbf16ps adds to each fp32 sum, for each pair of k in
 * order, the even then the odd product (bf16 x bf16 is exact in fp32, so each add is one
 * rounding to nearest even), bf16 denormals read as 0, denormal sums flushed to 0. One
 * tile state per thread. */
static __thread struct {
    uint8_t rows[8];
    uint16_t colsb[8];
    uint8_t data[8][16][64];
    int configured;
} emu;

static float emu_daz(uint16_t h) { return af_bf16_to_f32((h & 0x7f80u) ? h : (uint16_t)(h & 0x8000u)); }
static float emu_ftz(float r) { return fabsf(r) < FLT_MIN ? copysignf(0.0f, r) : r; }

static void emu_cfg(const void *p) {
    const uint8_t *c = p;
    AF_ASSERT(c[0] == 1);
    for (int t = 0; t < 8; t++) {
        memcpy(&emu.colsb[t], c + 16 + 2 * t, 2);
        emu.rows[t] = c[48 + t];
        AF_ASSERT(emu.rows[t] <= 16 && emu.colsb[t] <= 64);
    }
    memset(emu.data, 0, sizeof emu.data);
    emu.configured = 1;
}

static void emu_zero(int t) {
    AF_ASSERT(emu.configured);
    memset(emu.data[t], 0, sizeof emu.data[t]);
}

static void emu_load(int t, const void *p, long stride) {
    AF_ASSERT(emu.configured);
    memset(emu.data[t], 0, sizeof emu.data[t]);
    for (int r = 0; r < emu.rows[t]; r++) memcpy(emu.data[t][r], (const uint8_t *)p + r * stride, emu.colsb[t]);
}

static void emu_store(int t, void *p, long stride) {
    AF_ASSERT(emu.configured);
    for (int r = 0; r < emu.rows[t]; r++) memcpy((uint8_t *)p + r * stride, emu.data[t][r], emu.colsb[t]);
}

static void emu_dp(int c, int a, int b) {
    AF_ASSERT(emu.configured && emu.colsb[a] / 4 == emu.rows[b] && emu.colsb[c] == emu.colsb[b] &&
              emu.rows[c] == emu.rows[a]);
    for (int m = 0; m < emu.rows[c]; m++) {
        float acc[16];
        memcpy(acc, emu.data[c][m], sizeof acc);
        for (int k = 0; k < emu.colsb[a] / 4; k++) {
            uint16_t av[2], bv[32];
            memcpy(av, &emu.data[a][m][4 * k], 4);
            memcpy(bv, emu.data[b][k], 64);
            for (int n = 0; n < emu.colsb[c] / 4; n++) {
                acc[n] = emu_ftz(fmaf(emu_daz(av[0]), emu_daz(bv[2 * n]), acc[n]));
                acc[n] = emu_ftz(fmaf(emu_daz(av[1]), emu_daz(bv[2 * n + 1]), acc[n]));
            }
        }
        memcpy(emu.data[c][m], acc, sizeof acc);
    }
}

#define T_CFG(p) emu_cfg(p)
#define T_ZERO(t) emu_zero(t)
#define T_LOAD(t, p, s) emu_load(t, p, s)
#define T_STORE(t, p, s) emu_store(t, p, s)
#define T_DP(c, a, b) emu_dp(c, a, b)
#define T_RELEASE() (emu.configured = 0)
#define AMX_FN(name) name##_emu
#include "common/amx_kern.h"
#undef T_CFG
#undef T_ZERO
#undef T_LOAD
#undef T_STORE
#undef T_DP
#undef T_RELEASE
#undef AMX_FN

#if defined(__x86_64__) && defined(__AMX_TILE__) && defined(__AMX_BF16__)
#define T_CFG(p) _tile_loadconfig(p)
#define T_ZERO(t) _tile_zero(t)
#define T_LOAD(t, p, s) _tile_loadd(t, p, s)
#define T_STORE(t, p, s) _tile_stored(t, p, s)
#define T_DP(c, a, b) _tile_dpbf16ps(c, a, b)
#define T_RELEASE() _tile_release()
#define AMX_FN(name) name##_amx
#include "common/amx_kern.h"
#endif

void af_amx_matmul(float *y, int ldy, const uint16_t *x, int ldx, const uint16_t *wp, const float *b, int rows,
                   int in, int out) {
    switch (af_amx_mode()) {
#if defined(__x86_64__) && defined(__AMX_TILE__) && defined(__AMX_BF16__)
    case AF_AMX_TILES: amx_matmul_amx(y, ldy, x, ldx, wp, b, rows, in, out); break;
#endif
    case AF_AMX_EMULATE: amx_matmul_emu(y, ldy, x, ldx, wp, b, rows, in, out); break;
    default: AF_ASSERT(!"af_amx_matmul without af_amx_mode()");
    }
}
