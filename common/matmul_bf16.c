/* bf16 matrix products on oneDNN's matmul primitive, and the compute-precision choice
 * (common/matmul_bf16.h). */
#include "common/matmul_bf16.h"

#include <omp.h>
#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/log.h"

#define MM_CACHE 128 /* primitives kept per context: a step uses about 15 linear-layer shapes per
                      * batch size, and 5 attention shapes per 64-row block length */

typedef struct {
    int used;
    int f32, trans_a, trans_b, M, N, K, lda, ldb, ldc, beta, threads; /* the key (f32: fp32 operands) */
    dnnl_primitive_t prim;
    dnnl_memory_t a, b, c; /* bound to the caller's buffers at each run */
} MmEntry;

struct AfBf16Mm {
    dnnl_engine_t eng;
    dnnl_stream_t stream;
    MmEntry e[MM_CACHE];
    int next;       /* the entry replaced when all are used */
    float *dst;     /* af_bf16mm_run_f32: a dense destination for a strided C (see there) */
    size_t dst_cap; /* floats allocated in dst */
};

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_supported;
static const char *g_isa = "no bf16 on this CPU";

static const char *isa_name(dnnl_cpu_isa_t isa) {
    switch (isa) {
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "avx512_core_bf16+";
    }
}

static void detect(void) {
    const char *env = getenv("AF_BF16");
    if (env && !strcmp(env, "off")) {
        g_isa = "AF_BF16=off";
        return;
    }
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    /* the bf16 ISAs are bit masks that contain avx512_core_bf16's bits */
    if (((unsigned)isa & (unsigned)dnnl_cpu_isa_avx512_core_bf16) == (unsigned)dnnl_cpu_isa_avx512_core_bf16) {
        g_supported = 1;
        g_isa = isa_name(isa);
    }
}

int af_bf16_supported(void) {
    pthread_once(&g_once, detect);
    return g_supported;
}

const char *af_bf16_isa(void) {
    pthread_once(&g_once, detect);
    return g_isa;
}

const char *af_compute_name(int compute) {
    return compute == AF_COMPUTE_FP32       ? "fp32"
           : compute == AF_COMPUTE_BF16     ? "bf16"
           : compute == AF_COMPUTE_AUTO     ? "auto"
           : compute == AF_COMPUTE_BF16_FMA ? "bf16-fma"
                                            : "?";
}

static pthread_once_t g_log_once = PTHREAD_ONCE_INIT;
static void log_auto(void) {
    if (af_bf16_supported())
        af_log(AF_LOG_INFO, "model.compute=auto: bf16 matrix products (%s)", af_bf16_isa());
    else
        af_log(AF_LOG_INFO, "model.compute=auto: fp32 matrix products (%s)", af_bf16_isa());
}

int af_compute_resolve(int want, int *out) {
    switch (want) {
    case AF_COMPUTE_FP32: *out = AF_COMPUTE_FP32; return 0;
    case AF_COMPUTE_AUTO:
        pthread_once(&g_log_once, log_auto);
        *out = af_bf16_supported() ? AF_COMPUTE_BF16 : AF_COMPUTE_FP32;
        return 0;
    case AF_COMPUTE_BF16:
        if (!af_bf16_supported())
            return af_error_set(AF_ECONFIG, "model.compute=bf16: no native bf16 products here (%s); use auto (bf16 where the CPU has it) or fp32",
                                af_bf16_isa());
        *out = AF_COMPUTE_BF16;
        return 0;
    case AF_COMPUTE_BF16_FMA: *out = AF_COMPUTE_BF16_FMA; return 0; /* oneDNN's fp32 products: any CPU */
    default: return af_error_set(AF_EINVAL, "model.compute: unknown value %d (fp32|bf16|auto|bf16-fma)", want);
    }
}

static int dnnl_fail(dnnl_status_t st, const char *what) {
    if (st == dnnl_out_of_memory) return af_error_set(AF_ENOMEM, "oneDNN: %s: out of memory", what);
    return af_error_set(AF_ENOTIMPL, "oneDNN: %s failed (status %d)", what, (int)st);
}

static void entry_clear(MmEntry *e) {
    if (e->prim) dnnl_primitive_destroy(e->prim);
    if (e->a) dnnl_memory_destroy(e->a);
    if (e->b) dnnl_memory_destroy(e->b);
    if (e->c) dnnl_memory_destroy(e->c);
    memset(e, 0, sizeof *e);
}

static int create(AfBf16Mm **out) {
    AfBf16Mm *g = calloc(1, sizeof *g);
    if (!g) return af_error_set(AF_ENOMEM, "bf16 products: out of memory");
    dnnl_status_t st = dnnl_engine_create(&g->eng, dnnl_cpu, 0);
    if (st == dnnl_success) st = dnnl_stream_create(&g->stream, g->eng, dnnl_stream_default_flags);
    if (st != dnnl_success) {
        int rc = dnnl_fail(st, "engine/stream");
        af_bf16mm_destroy(g);
        return rc;
    }
    *out = g;
    return 0;
}

int af_bf16mm_create(AfBf16Mm **out) {
    *out = NULL;
    if (!af_bf16_supported()) return af_error_set(AF_ESTATE, "bf16 products: %s", af_bf16_isa());
    return create(out);
}

int af_bf16mm_create_fma(AfBf16Mm **out) {
    *out = NULL;
    return create(out);
}

void af_bf16mm_destroy(AfBf16Mm *g) {
    if (!g) return;
    for (int i = 0; i < MM_CACHE; i++) entry_clear(&g->e[i]);
    if (g->stream) dnnl_stream_destroy(g->stream);
    if (g->eng) dnnl_engine_destroy(g->eng);
    free(g->dst);
    free(g);
}

void af_bf16mm_set_threads(int n) { omp_set_num_threads(n < 1 ? 1 : n); }

/* Make the primitive and memory objects of entry e (its key set). */
static int entry_make(AfBf16Mm *g, MmEntry *e) {
    dnnl_memory_desc_t ad, bd, cd;
    dnnl_dims_t adims = {e->M, e->K}, bdims = {e->K, e->N}, cdims = {e->M, e->N};
    dnnl_dims_t as = {e->trans_a ? 1 : e->lda, e->trans_a ? e->lda : 1};
    dnnl_dims_t bs = {e->trans_b ? 1 : e->ldb, e->trans_b ? e->ldb : 1};
    dnnl_dims_t cs = {e->ldc, 1};
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_matmul_desc_t md;
    const char *what = "memory descriptors";
    dnnl_data_type_t dt = e->f32 ? dnnl_f32 : dnnl_bf16;
    dnnl_status_t st = dnnl_memory_desc_init_by_strides(&ad, 2, adims, dt, as);
    if (st == dnnl_success) st = dnnl_memory_desc_init_by_strides(&bd, 2, bdims, dt, bs);
    if (st == dnnl_success) st = dnnl_memory_desc_init_by_strides(&cd, 2, cdims, dnnl_f32, cs);
    if (st == dnnl_success) what = "matmul descriptor", st = dnnl_matmul_desc_init(&md, &ad, &bd, NULL, &cd);
    if (st == dnnl_success) what = "attributes", st = dnnl_primitive_attr_create(&attr);
    if (st == dnnl_success && e->beta) {
        st = dnnl_post_ops_create(&po);
        if (st == dnnl_success) st = dnnl_post_ops_append_sum(po, 1.0f);
        if (st == dnnl_success) st = dnnl_primitive_attr_set_post_ops(attr, po);
    }
    if (st == dnnl_success) what = "matmul primitive descriptor", st = dnnl_primitive_desc_create(&pd, &md, attr, g->eng, NULL);
    if (st == dnnl_success) what = "matmul primitive", st = dnnl_primitive_create(&e->prim, pd);
    if (st == dnnl_success) what = "memory objects", st = dnnl_memory_create(&e->a, &ad, g->eng, DNNL_MEMORY_NONE);
    if (st == dnnl_success) st = dnnl_memory_create(&e->b, &bd, g->eng, DNNL_MEMORY_NONE);
    if (st == dnnl_success) st = dnnl_memory_create(&e->c, &cd, g->eng, DNNL_MEMORY_NONE);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success) {
        int rc = dnnl_fail(st, what);
        af_error_wrap(rc, "%s product %dx%dx%d", e->f32 ? "bf16-fma" : "bf16", e->M, e->N, e->K);
        entry_clear(e);
        return rc;
    }
    e->used = 1;
    return 0;
}

static int run(AfBf16Mm *g, int f32, int trans_a, int trans_b, int M, int N, int K, const void *A, int lda,
               const void *B, int ldb, int beta, float *C, int ldc) {
    if (M < 1 || N < 1 || K < 1 || lda < (trans_a ? M : K) || ldb < (trans_b ? K : N) || ldc < N || (beta != 0 && beta != 1))
        return af_error_set(AF_EINVAL, "bf16 product: bad shape M %d N %d K %d lda %d ldb %d ldc %d beta %d", M, N, K,
                            lda, ldb, ldc, beta);
    MmEntry key = {.used = 1, .f32 = f32, .trans_a = !!trans_a, .trans_b = !!trans_b, .M = M, .N = N, .K = K, .lda = lda,
                   .ldb = ldb, .ldc = ldc, .beta = beta, .threads = omp_get_max_threads()};
    MmEntry *e = NULL;
    for (int i = 0; i < MM_CACHE && !e; i++) {
        MmEntry *c = &g->e[i];
        if (c->used && c->f32 == f32 && c->trans_a == key.trans_a && c->trans_b == key.trans_b && c->M == M && c->N == N && c->K == K &&
            c->lda == lda && c->ldb == ldb && c->ldc == ldc && c->beta == beta && c->threads == key.threads)
            e = c;
    }
    if (!e) {
        for (int i = 0; i < MM_CACHE && !e; i++)
            if (!g->e[i].used) e = &g->e[i];
        if (!e) {
            e = &g->e[g->next];
            g->next = (g->next + 1) % MM_CACHE;
            entry_clear(e);
        }
        *e = key;
        e->used = 0;
        int rc = entry_make(g, e);
        if (rc) return rc;
    }
    dnnl_status_t st = dnnl_memory_set_data_handle(e->a, (void *)A);
    if (st == dnnl_success) st = dnnl_memory_set_data_handle(e->b, (void *)B);
    if (st == dnnl_success) st = dnnl_memory_set_data_handle(e->c, C);
    if (st == dnnl_success) {
        dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, e->a}, {DNNL_ARG_WEIGHTS, e->b}, {DNNL_ARG_DST, e->c}};
        st = dnnl_primitive_execute(e->prim, g->stream, 3, args);
    }
    if (st == dnnl_success) st = dnnl_stream_wait(g->stream);
    return st == dnnl_success ? 0 : dnnl_fail(st, "matmul execution");
}

int af_bf16mm_run(AfBf16Mm *g, int trans_a, int trans_b, int M, int N, int K, const uint16_t *A, int lda,
                  const uint16_t *B, int ldb, int beta, float *C, int ldc) {
    return run(g, 0, trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

/* A strided destination (ldc > N: a block of columns, a head's slice) makes oneDNN's fp32
 * matmul take its gemm-based implementation, whose sums for a row depend on M (the LM
 * head's blocks of rows would change a row's bits); the brgemm one it takes for a dense
 * destination computes each row the same way whatever M. So such a product runs into the
 * context's dense buffer (grown once to the largest) and is copied into C, or added to C
 * with beta 1 (the product rounded to fp32, then the sum rounded: what the sum post-op
 * does). */
int af_bf16mm_run_f32(AfBf16Mm *g, int trans_a, int trans_b, int M, int N, int K, const float *A, int lda,
                      const float *B, int ldb, int beta, float *C, int ldc) {
    if (ldc <= N || M < 1 || N < 1) return run(g, 1, trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc);
    size_t need = (size_t)M * (size_t)N;
    if (need > g->dst_cap) {
        float *d = aligned_alloc(64, (need * sizeof(float) + 63) / 64 * 64);
        if (!d) return af_error_set(AF_ENOMEM, "bf16-fma product: out of memory for a %dx%d destination", M, N);
        free(g->dst);
        g->dst = d, g->dst_cap = need;
    }
    int rc = run(g, 1, trans_a, trans_b, M, N, K, A, lda, B, ldb, 0, g->dst, N);
    if (rc) return rc;
    for (int i = 0; i < M; i++) {
        float *c = C + (size_t)i * ldc;
        const float *d = g->dst + (size_t)i * N;
        if (beta)
            for (int j = 0; j < N; j++) c[j] += d[j];
        else
            memcpy(c, d, (size_t)N * sizeof(float));
    }
    return 0;
}
