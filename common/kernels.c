/* Kernel dispatch (kernels.h): the variant is chosen once, from AF_KERNELS and the CPU. */
#include "common/kernels.h"

#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "common/model.h"
#include "common/rng.h"

extern const AfKernelTable af_kernels_base, af_kernels_avx2, af_kernels_avx512, af_kernels_avx512bf16;

static const AfKernelTable *g_table;
static const char *g_name = "baseline";
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

int af_kernels_supported(const char *name) {
    if (!name) return 0;
    if (!strcmp(name, "baseline") || !strcmp(name, "auto")) return 1;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (!strcmp(name, "avx2")) return avx2;
    int avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    if (!strcmp(name, "avx512")) return avx512;
    if (!strcmp(name, "avx512bf16")) return avx512 && __builtin_cpu_supports("avx512bf16");
#endif
    return 0;
}

static int known(const char *name) {
    return !strcmp(name, "baseline") || !strcmp(name, "avx2") || !strcmp(name, "avx512") || !strcmp(name, "avx512bf16");
}

static void set_table(const char *name) {
    if (!strcmp(name, "avx512bf16")) g_table = &af_kernels_avx512bf16, g_name = "avx512bf16";
    else if (!strcmp(name, "avx512")) g_table = &af_kernels_avx512, g_name = "avx512";
    else if (!strcmp(name, "avx2")) g_table = &af_kernels_avx2, g_name = "avx2";
    else g_table = &af_kernels_base, g_name = "baseline";
}

static const char *best(void) {
    return af_kernels_supported("avx512bf16") ? "avx512bf16"
           : af_kernels_supported("avx512") ? "avx512"
           : af_kernels_supported("avx2")   ? "avx2"
                                            : "baseline";
}

/* OpenBLAS picks its kernels (its "core") when the library loads, from the CPU model.
 * Debian's 0.3.21 does not know newer models (e.g. family 6 model 207, Emerald Rapids, as
 * some cloud VMs report it) and falls back to Prescott: SSE3 kernels that run several
 * times slower, and whose products change their bits with the thread count, which the
 * model's determinism relies on not happening. OpenBLAS reads OPENBLAS_CORETYPE only at
 * load, before main, so when the core it chose is such a fallback on a CPU with AVX2 or
 * AVX-512, the process sets OPENBLAS_CORETYPE to the core matching the CPU's features and
 * executes itself again (before main: no thread, file or MPI state exists yet). A user's
 * own OPENBLAS_CORETYPE is never overridden. glibc passes argc/argv/envp to constructors. */
const char *af_blas_core_for_cpu(const char *core) {
    static const char *const fallbacks[] = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom",
                                            "Katmai", "Coppermine", "Northwood", "Banias", "Athlon", "Opteron",
                                            "Opteron(SSE3)", "Barcelona", "Sandybridge", "Unknown"};
    int fallback = 0;
    for (size_t i = 0; i < sizeof fallbacks / sizeof fallbacks[0]; i++)
        if (!strcmp(core, fallbacks[i])) fallback = 1;
    if (!fallback) return NULL;
    if (af_kernels_supported("avx512bf16")) return "Cooperlake";
    if (af_kernels_supported("avx512")) return "SkylakeX";
    if (af_kernels_supported("avx2")) return "Haswell";
    return NULL;
}

static char g_blas_note[160];

__attribute__((constructor)) static void blas_core_fix(int argc, char **argv, char **envp) {
    (void)argc;
    (void)envp;
    const char *core = openblas_get_corename();
    if (!core) return;
    const char *asked = getenv("AF_OPENBLAS_CORE_WAS");
    if (asked) { /* the second image: say what happened once the log is up */
        snprintf(g_blas_note, sizeof g_blas_note, "OpenBLAS core %s (OPENBLAS_CORETYPE set by agentflow: OpenBLAS chose %s for this CPU)",
                 core, asked);
        unsetenv("AF_OPENBLAS_CORE_WAS");
        return;
    }
    if (getenv("OPENBLAS_CORETYPE")) return;
    const char *want = af_blas_core_for_cpu(core);
    if (!want || !argv || !argv[0]) return;
    if (setenv("OPENBLAS_CORETYPE", want, 1) || setenv("AF_OPENBLAS_CORE_WAS", core, 1)) return;
    execv("/proc/self/exe", argv);
    /* exec failed: keep OpenBLAS's choice and say so */
    unsetenv("OPENBLAS_CORETYPE");
    unsetenv("AF_OPENBLAS_CORE_WAS");
    snprintf(g_blas_note, sizeof g_blas_note, "OpenBLAS core %s (a fallback for this CPU; re-executing with OPENBLAS_CORETYPE=%s failed)",
             core, want);
}

const char *af_blas_core_note(void) {
    if (!g_blas_note[0]) snprintf(g_blas_note, sizeof g_blas_note, "OpenBLAS core %s", openblas_get_corename());
    return g_blas_note;
}

/* Whether OpenBLAS's sgemm, on the core in use, gives each row of C the same bits whatever
 * the number of rows in the call, at the shape of an LM head (70 rows, 64 inputs, 3001
 * outputs): A times W^T and A times W (W's first 64 rows as a 64 x 64 matrix), whole and
 * in blocks of 7 and 13 rows, single-threaded as the model calls it (model.c mm_f32). The
 * model's fp32 bits repeat at any model.threads either way; where this is 0 a token's
 * log-prob depends on the LM-head block it falls in. Debian 0.3.21's Cooperlake and
 * SkylakeX cores have it at such shapes (not at tiny ones, 37 x 64 x 96, where their
 * small-matrix kernels run); its Haswell core (also what OPENBLAS_CORETYPE=Haswell gives
 * an AVX-512 CPU) does not. Computed once, on the first call (tests: lm_block_testlib.h). */
static int g_rows_invariant = -1;
static pthread_once_t g_rows_once = PTHREAD_ONCE_INIT;

static void probe_rows(void) {
    enum { M = 70, K = 64, N = 3001 };
    float *a = malloc(sizeof(float) * M * K), *w = malloc(sizeof(float) * N * K);
    float *c0 = malloc(sizeof(float) * M * N), *c1 = malloc(sizeof(float) * M * N);
    int threads = openblas_get_num_threads(), same = 1;
    if (!a || !w || !c0 || !c1) {
        free(a), free(w), free(c0), free(c1);
        g_rows_invariant = 0; /* cannot tell: claim nothing */
        return;
    }
    AfRng r;
    af_rng_init(&r, 1, AF_RNG_TEST, 0, 0, 0);
    for (int i = 0; i < M * K; i++) a[i] = af_rng_uniformf(&r) - 0.5f;
    for (int i = 0; i < N * K; i++) w[i] = af_rng_uniformf(&r) - 0.5f;
    openblas_set_num_threads(1);
    for (int t = 0; t < 2 && same; t++) { /* W^T (a linear layer's forward), then W (its dx) */
        CBLAS_TRANSPOSE tb = t ? CblasNoTrans : CblasTrans;
        int n = t ? K : N;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, tb, M, n, K, 1.0f, a, K, w, K, 0.0f, c0, n);
        static const int blocks[] = {7, 13};
        for (int b = 0; b < 2 && same; b++)
            for (int r0 = 0; r0 < M && same; r0 += blocks[b]) {
                int rows = r0 + blocks[b] <= M ? blocks[b] : M - r0;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, tb, rows, n, K, 1.0f, a + (size_t)r0 * K, K, w, K, 0.0f,
                            c1 + (size_t)r0 * n, n);
                same = !memcmp(c0 + (size_t)r0 * n, c1 + (size_t)r0 * n, sizeof(float) * rows * n);
            }
    }
    openblas_set_num_threads(threads);
    free(a), free(w), free(c0), free(c1);
    g_rows_invariant = same;
}

int af_blas_rows_invariant(void) {
    pthread_once(&g_rows_once, probe_rows);
    return g_rows_invariant;
}

static void choose(void) {
    const char *want = getenv("AF_KERNELS");
    const char *pick = best();
    if (want && *want && strcmp(want, "auto")) {
        if (!known(want))
            af_log(AF_LOG_WARN, "AF_KERNELS=%s: not one of baseline|avx2|avx512|avx512bf16|auto; using %s", want, pick);
        else if (!af_kernels_supported(want))
            af_log(AF_LOG_WARN, "AF_KERNELS=%s: this CPU lacks it; using %s", want, pick);
        else
            pick = want;
    }
    set_table(pick);
    af_log(AF_LOG_INFO, "kernels: %s%s; %s", g_name, want && *want ? " (AF_KERNELS)" : "", af_blas_core_note());
}

const AfKernelTable *af_kernels(void) {
    pthread_once(&g_once, choose);
    return g_table;
}

const char *af_kernels_name(void) {
    af_kernels();
    return g_name;
}

int af_kernels_select(const char *name) {
    af_kernels(); /* the first choice (and its log line) happens once */
    if (!name || (!known(name) && strcmp(name, "auto")))
        return af_error_set(AF_EINVAL, "kernels: unknown variant '%s' (baseline|avx2|avx512|avx512bf16|auto)",
                            name ? name : "(null)");
    if (!af_kernels_supported(name)) return af_error_set(AF_ESTATE, "kernels: this CPU cannot run '%s'", name);
    set_table(strcmp(name, "auto") ? name : best());
    return 0;
}

void af_matmul_inv(float *y, int ldy, const float *x, int ldx, const float *w, int ldw,
                   const float *b, int rows, int in, int out) {
    af_kernels()->matmul_inv(y, ldy, x, ldx, w, ldw, b, rows, in, out);
}

void af_matmul_inv_bf16(float *y, int ldy, const uint16_t *x, int ldx, const uint16_t *w, int ldw,
                        const float *b, int rows, int in, int out) {
    af_kernels()->matmul_inv_bf16(y, ldy, x, ldx, w, ldw, b, rows, in, out);
}

int af_kernels_bf16_native(void) { return af_kernels() == &af_kernels_avx512bf16; }

void af_matmul_invariant(float *y, const float *x, const float *w, const float *b, int rows,
                         int in, int out) {
    af_kernels()->matmul_inv(y, out, x, in, w, in, b, rows, in, out);
}

void af_vexpf(float *y, const float *x, size_t n) { af_kernels()->vexpf(y, x, n); }

void af_f32_to_bf16_n(uint16_t *y, const float *x, size_t n) { af_kernels()->f32_to_bf16(y, x, n); }

void af_f32_round_bf16_n(float *y, const float *x, size_t n) { af_kernels()->f32_round_bf16(y, x, n); }

float af_logp_from_lse(float y, double lse) {
    double lp = (double)y - lse;
    return lp > 0.0 ? 0.0f : (float)lp; /* NaN stays NaN: the learner's finiteness check sees it */
}
