/* KV-cache decoding and sampling for the actor; every per-sequence result is independent
 * of batch composition (see decode.h). */
#include "common/decode.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/amx.h"
#include "common/bf16.h"
#include "common/error.h"
#include "common/kernels.h"
#include "common/log.h"
#include "common/pool.h"

#define PREFILL_CHUNK 64
#define AF_DECODE_CHUNK_SLOTS 64 /* slots af_decode_prefill_many puts in one chunk at most */

/* One layer's matrices in bf16 (pointers into AfDecode.wbuf), shapes as in AfLayerParams,
 * or packed in AMX tile blocks (common/amx.h) when AfDecode.amx is set. */
typedef struct {
    uint16_t *wq, *wk, *wv, *wo, *wgate, *wup, *wdown;
} Bf16Layer;

struct AfDecode {
    const AfModel *m;
    int bf16;          /* 1: the products read the bf16 copy below */
    int amx;           /* 1: that copy is packed in tile blocks, the products run af_amx_matmul */
    uint16_t *wbuf;    /* the bf16 copy of every matrix (NULL in fp32) */
    Bf16Layer *wl;     /* (n_layers) */
    uint16_t *wlm;     /* (V, C) the LM head's copy */
    uint16_t *xb;      /* (R, max(C, QD, F)) a product's input rounded to bf16 */
    AfPool *pool;      /* NULL: single-threaded */
    double min_split;  /* products with fewer multiply-adds run on the caller */
    int max_slots, max_len, max_rows;
    int *len;          /* (max_slots) tokens in cache */
    int *has_logits;   /* (max_slots) */
    float *kc, *vc;    /* (max_slots, L, max_len, KD) */
    float *logits;     /* (max_slots, V) */
    /* scratch for up to max_rows rows */
    int *row_slot, *row_pos;
    float *x, *xn;     /* (R, C) */
    float *q, *att;    /* (R, QD) */
    float *k, *v;      /* (R, KD) */
    float *g, *u, *e;  /* (R, F) */
    float *lg;         /* (R, V) */
    float *sc;         /* (threads, n_heads, max_len) attention scores of one row per thread */
    double *prob;      /* (V) */
    int *idx, *tmp;    /* (V) sort scratch */
    int *seen;         /* (max_slots) duplicate check */
    int *fslots;       /* (max_slots) af_decode_step feed list */
    int32_t *ftoks;    /* (max_slots) */
    int32_t *rtok;     /* (max_rows) af_decode_prefill_many's chunk of tokens */
    int *off;          /* (max_slots) its progress per listed slot */
};

/* The bf16 weight copy, which every decode step streams once from memory: 2 MiB aligned
 * and marked for transparent huge pages (where the kernel offers them, madvise mode
 * included), so that the stream does not miss the TLB every 4 KiB (bench_hf_model: the
 * 0.5B shape's LM head read 11.2 -> 14.3 GB per CPU second). Freed with free(). */
#define WEIGHTS_ALIGN ((size_t)2 << 20)
static uint16_t *weights_alloc(size_t n) {
    size_t bytes = (n * sizeof(uint16_t) + WEIGHTS_ALIGN - 1) / WEIGHTS_ALIGN * WEIGHTS_ALIGN;
    void *p = aligned_alloc(WEIGHTS_ALIGN, bytes);
#ifdef MADV_HUGEPAGE
    if (p) (void)madvise(p, bytes, MADV_HUGEPAGE); /* a hint: without it, 4 KiB pages */
#endif
    return p;
}

static void *falloc(size_t n) {
    size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    void *p = aligned_alloc(64, bytes ? bytes : 64);
    if (p) memset(p, 0, bytes ? bytes : 64);
    return p;
}

void af_decode_destroy(AfDecode *d) {
    if (!d) return;
    void *ps[] = {d->wbuf, d->wl, d->xb, d->len, d->has_logits, d->kc, d->vc, d->logits, d->row_slot, d->row_pos, d->x,
                  d->xn, d->q, d->att, d->k, d->v, d->g, d->u, d->e, d->lg, d->sc, d->prob, d->idx,
                  d->tmp, d->seen, d->fslots, d->ftoks, d->rtok, d->off};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) free(ps[i]);
    af_pool_destroy(d->pool);
    free(d);
}

int af_decode_create(const AfModel *m, int max_slots, int max_len, AfDecode **out) {
    *out = NULL;
    const AfModelConfig *c = &m->cfg;
    if (max_slots < 1 || max_slots > 65536)
        return af_error_set(AF_EINVAL, "af_decode_create: max_slots %d outside 1..65536", max_slots);
    if (max_len < 1 || max_len > c->max_seq)
        return af_error_set(AF_EINVAL, "af_decode_create: max_len %d outside 1..%d (model max_seq)",
                            max_len, c->max_seq);
    AfDecode *d = calloc(1, sizeof *d);
    if (!d) return af_error_set(AF_ENOMEM, "af_decode_create: out of memory");
    d->m = m;
    d->max_slots = max_slots;
    d->max_len = max_len;
    d->max_rows = max_slots > PREFILL_CHUNK ? max_slots : PREFILL_CHUNK;
    size_t S = (size_t)max_slots, R = (size_t)d->max_rows, L = (size_t)c->n_layers;
    size_t C = (size_t)c->d_model, QD = (size_t)c->n_heads * m->head_dim;
    size_t KD = (size_t)c->n_kv_heads * m->head_dim, F = (size_t)c->d_ff, V = (size_t)c->vocab_size;
    d->len = calloc(S, sizeof(int));
    d->has_logits = calloc(S, sizeof(int));
    d->seen = calloc(S, sizeof(int));
    d->fslots = calloc(S, sizeof(int));
    d->ftoks = calloc(S, sizeof(int32_t));
    d->off = calloc(S, sizeof(int));
    d->rtok = calloc(R, sizeof(int32_t));
    d->row_slot = calloc(R, sizeof(int));
    d->row_pos = calloc(R, sizeof(int));
    d->idx = calloc(V, sizeof(int));
    d->tmp = calloc(V, sizeof(int));
    d->prob = calloc(V, sizeof(double));
    d->kc = falloc(S * L * max_len * KD);
    d->vc = falloc(S * L * max_len * KD);
    d->logits = falloc(S * V);
    d->x = falloc(R * C);
    d->xn = falloc(R * C);
    d->q = falloc(R * QD);
    d->att = falloc(R * QD);
    d->k = falloc(R * KD);
    d->v = falloc(R * KD);
    d->g = falloc(R * F);
    d->u = falloc(R * F);
    d->e = falloc(R * F);
    d->lg = falloc(R * V);
    d->sc = falloc((size_t)m->cfg.n_heads * max_len);
    if (!d->len || !d->has_logits || !d->seen || !d->fslots || !d->ftoks || !d->off || !d->rtok || !d->row_slot || !d->row_pos || !d->idx ||
        !d->tmp || !d->prob || !d->kc || !d->vc || !d->logits || !d->x || !d->xn || !d->q ||
        !d->att || !d->k || !d->v || !d->g || !d->u || !d->e || !d->lg || !d->sc) {
        af_decode_destroy(d);
        return af_error_set(AF_ENOMEM, "af_decode_create: out of memory (%d slots x %d tokens)",
                            max_slots, max_len);
    }
    *out = d;
    return 0;
}

void af_decode_reset(AfDecode *d, int slot) {
    AF_ASSERT(slot >= 0 && slot < d->max_slots);
    d->len[slot] = 0;
    d->has_logits[slot] = 0;
}

int af_decode_len(const AfDecode *d, int slot) {
    AF_ASSERT(slot >= 0 && slot < d->max_slots);
    return d->len[slot];
}

const float *af_decode_logits(const AfDecode *d, int slot) {
    AF_ASSERT(slot >= 0 && slot < d->max_slots);
    return d->has_logits[slot] ? d->logits + (size_t)slot * d->m->cfg.vocab_size : NULL;
}

/* One matrix product of a fused call: y = x w^T (+ b) over `out` outputs. */
typedef struct {
    float *y;          /* (rows, ldy) */
    const float *w;    /* (out, in) fp32 weights, row stride in */
    const uint16_t *wb; /* (out, in) their bf16 copy (read instead of w in bf16) */
    const float *b;    /* (out) or NULL */
    int ldy, out;
} MMOut;

#define MM_MAX 3 /* products of one input in one pool region (q, k, v) */
typedef struct {
    const float *x;    /* (rows, ldx) */
    const uint16_t *xb; /* (rows, in) x rounded to bf16, or NULL (fp32) */
    int amx;            /* the bf16 weights packed in tile blocks (AfDecode.amx) */
    int ldx, rows, in, n;
    MMOut o[MM_MAX];
} MMJob;

/* Thread tid's share of each product: a contiguous range of its outputs, a multiple of
 * 24 wide so tiles stay whole. Each output's bits do not depend on the split (see
 * kernels.h). */
static void mm_part(void *ctx, int tid, int nt) {
    const MMJob *j = ctx;
    for (int p = 0; p < j->n; p++) {
        const MMOut *o = &j->o[p];
        int chunk = (o->out + nt - 1) / nt;
        chunk = j->amx ? (chunk + 15) / 16 * 16 : (chunk + 23) / 24 * 24; /* tile blocks of 16 outputs */
        int o0 = tid * chunk, o1 = o0 + chunk < o->out ? o0 + chunk : o->out;
        if (o0 >= o1) continue;
        if (j->amx)
            af_amx_matmul(o->y + o0, o->ldy, j->xb, j->in, o->wb + af_amx_packed_elems(j->in, o0),
                          o->b ? o->b + o0 : NULL, j->rows, j->in, o1 - o0);
        else if (j->xb)
            af_matmul_inv_bf16(o->y + o0, o->ldy, j->xb, j->in, o->wb + (size_t)o0 * j->in, j->in,
                               o->b ? o->b + o0 : NULL, j->rows, j->in, o1 - o0);
        else
            af_matmul_inv(o->y + o0, o->ldy, j->x, j->ldx, o->w + (size_t)o0 * j->in, j->in, o->b ? o->b + o0 : NULL,
                          j->rows, j->in, o1 - o0);
    }
}

/* The n products of one input x (rows, in): with the fp32 weights, or in bf16 with their
 * copies (the rows of x rounded to bf16 once, into d->xb), in one pool region (the
 * threads split each product's outputs). */
static void mm_n(AfDecode *d, const float *x, int ldx, int rows, int in, int n, const MMOut *o) {
    AF_ASSERT(n >= 1 && n <= MM_MAX);
    MMJob j = {.x = x, .ldx = ldx, .rows = rows, .in = in, .n = n};
    double macs = 0;
    for (int p = 0; p < n; p++) j.o[p] = o[p], macs += (double)rows * in * o[p].out;
    if (d->bf16) {
        for (int r = 0; r < rows; r++) af_f32_to_bf16_n(d->xb + (size_t)r * in, x + (size_t)r * ldx, (size_t)in);
        j.xb = d->xb;
        j.amx = d->amx;
    }
    if (!d->pool || macs < d->min_split) mm_part(&j, 0, 1);
    else af_pool_run(d->pool, mm_part, &j);
}

/* y = x w^T (+ b): one product (w's rows `in` apart). */
static void mm(AfDecode *d, float *y, int ldy, const float *x, int ldx, const float *w, const uint16_t *wb,
               const float *b, int rows, int in, int out) {
    const MMOut o = {.y = y, .w = w, .wb = wb, .b = b, .ldy = ldy, .out = out};
    mm_n(d, x, ldx, rows, in, 1, &o);
}

int af_decode_set_threads(AfDecode *d, int n, long min_split) {
    if (n < 1 || n > 64) return af_error_set(AF_EINVAL, "af_decode_set_threads: %d outside 1..64", n);
    d->min_split = min_split < 0 ? 0 : (double)min_split;
    af_pool_destroy(d->pool);
    d->pool = NULL;
    /* one row's attention scores per thread (attn_rows) */
    float *sc = falloc((size_t)n * d->m->cfg.n_heads * d->max_len);
    if (!sc) return af_error_set(AF_ENOMEM, "af_decode_set_threads: attention scratch for %d threads", n);
    free(d->sc);
    d->sc = sc;
    if (n == 1) return 0;
    return af_pool_create(n, &d->pool);
}

/* A layer's seven matrices in Bf16Layer's order: inputs and outputs of each. */
static void layer_shapes(const AfModel *m, size_t ins[7], size_t outs[7]) {
    const size_t C = (size_t)m->cfg.d_model, QD = (size_t)m->cfg.n_heads * m->head_dim;
    const size_t KD = (size_t)m->cfg.n_kv_heads * m->head_dim, F = (size_t)m->cfg.d_ff;
    const size_t i[7] = {C, C, C, QD, C, C, F}, o[7] = {QD, KD, KD, C, F, F, C};
    memcpy(ins, i, sizeof i), memcpy(outs, o, sizeof o);
}

/* Elements of one matrix's copy: row-major, or packed in tile blocks (AF_AMX: out rounded
 * up to 16, in to 32). */
static size_t copy_elems(int amx, size_t in, size_t out) {
    return amx ? af_amx_packed_elems((int)in, (int)out) : in * out;
}

/* The bf16 copy: every matrix the products read, converted from the model's fp32
 * parameters (one pass over them; split over the decoder's threads). */
typedef struct {
    AfDecode *d;
} SyncJob;

static void sync_part(void *ctx, int tid, int nt) {
    AfDecode *d = ((SyncJob *)ctx)->d;
    const AfModel *m = d->m;
    const AfModelConfig *c = &m->cfg;
    const size_t C = (size_t)c->d_model;
    size_t ins[7], outs[7];
    layer_shapes(m, ins, outs);
    /* tensor t of the list goes to thread t % nt */
    int t = 0;
    for (int l = 0; l < c->n_layers; l++) {
        const AfLayerParams *P = &m->p.layers[l];
        const Bf16Layer *B = &d->wl[l];
        const float *src[7] = {P->wq, P->wk, P->wv, P->wo, P->wgate, P->wup, P->wdown};
        uint16_t *dst[7] = {B->wq, B->wk, B->wv, B->wo, B->wgate, B->wup, B->wdown};
        for (int i = 0; i < 7; i++, t++) {
            if (t % nt != tid) continue;
            if (d->amx) af_amx_pack(dst[i], src[i], (int)ins[i], (int)outs[i]);
            else af_f32_to_bf16_n(dst[i], src[i], ins[i] * outs[i]);
        }
    }
    /* the LM head, the largest tensor, in nt slices (whole tile blocks of 16 rows) */
    size_t V = (size_t)c->vocab_size, per = (V + nt - 1) / nt;
    if (d->amx) per = (per + 15) / 16 * 16;
    size_t r0 = per * tid, r1 = r0 + per < V ? r0 + per : V;
    if (r0 >= r1) return;
    if (d->amx)
        af_amx_pack(d->wlm + af_amx_packed_elems((int)C, (int)r0), m->p.lm_head + r0 * C, (int)C, (int)(r1 - r0));
    else
        af_f32_to_bf16_n(d->wlm + r0 * C, m->p.lm_head + r0 * C, (r1 - r0) * C);
}

int af_decode_sync_weights(AfDecode *d) {
    if (!d->bf16) return 0;
    SyncJob j = {.d = d};
    if (d->pool) af_pool_run(d->pool, sync_part, &j);
    else sync_part(&j, 0, 1);
    return 0;
}

int af_decode_set_dtype(AfDecode *d, AfDecodeDtype dtype) {
    if (dtype != AF_DECODE_FP32 && dtype != AF_DECODE_BF16 && dtype != AF_DECODE_AUTO)
        return af_error_set(AF_EINVAL, "af_decode_set_dtype: unknown dtype %d", (int)dtype);
    int want = dtype == AF_DECODE_BF16 || (dtype == AF_DECODE_AUTO && af_kernels_bf16_native());
    if (!want) {
        free(d->wbuf), free(d->wl), free(d->xb);
        d->wbuf = NULL, d->wl = NULL, d->xb = NULL, d->wlm = NULL;
        d->bf16 = d->amx = 0;
        return 0;
    }
    if (!d->bf16) {
        const AfModel *m = d->m;
        const AfModelConfig *c = &m->cfg;
        size_t C = (size_t)c->d_model, QD = (size_t)c->n_heads * m->head_dim;
        size_t F = (size_t)c->d_ff, V = (size_t)c->vocab_size;
        const int amx = af_amx_mode() != AF_AMX_OFF; /* AF_AMX (common/amx.h) */
        size_t ins[7], outs[7], sz[7], per_layer = 0;
        layer_shapes(m, ins, outs);
        for (int i = 0; i < 7; i++) per_layer += sz[i] = copy_elems(amx, ins[i], outs[i]);
        size_t total = per_layer * c->n_layers + copy_elems(amx, C, V);
        size_t widest = C > QD ? C : QD;
        widest = widest > F ? widest : F;
        d->wbuf = weights_alloc(total);
        d->wl = calloc((size_t)c->n_layers, sizeof *d->wl);
        d->xb = calloc((size_t)d->max_rows * widest, sizeof(uint16_t));
        if (!d->wbuf || !d->wl || !d->xb) {
            free(d->wbuf), free(d->wl), free(d->xb);
            d->wbuf = NULL, d->wl = NULL, d->xb = NULL;
            return af_error_set(AF_ENOMEM, "af_decode_set_dtype: out of memory for the bf16 weights (%zu MB)",
                                total * sizeof(uint16_t) >> 20);
        }
        uint16_t *p = d->wbuf;
        for (int l = 0; l < c->n_layers; l++) {
            Bf16Layer *B = &d->wl[l];
            B->wq = p, p += sz[0];
            B->wk = p, p += sz[1];
            B->wv = p, p += sz[2];
            B->wo = p, p += sz[3];
            B->wgate = p, p += sz[4];
            B->wup = p, p += sz[5];
            B->wdown = p, p += sz[6];
        }
        d->wlm = p;
        d->bf16 = 1;
        d->amx = amx;
        if (!amx && !af_kernels_bf16_native())
            af_log(AF_LOG_WARN, "decode in bf16 on kernels %s: emulated (the bits of AVX512-BF16, many times slower "
                                "than fp32)", af_kernels_name());
    }
    return af_decode_sync_weights(d);
}

AfDecodeDtype af_decode_dtype(const AfDecode *d) { return d->bf16 ? AF_DECODE_BF16 : AF_DECODE_FP32; }

int af_decode_dtype_parse(const char *name, AfDecodeDtype *out) {
    if (name && !strcmp(name, "fp32")) *out = AF_DECODE_FP32;
    else if (name && !strcmp(name, "bf16")) *out = AF_DECODE_BF16;
    else if (name && !strcmp(name, "auto")) *out = AF_DECODE_AUTO;
    else return af_error_set(AF_EINVAL, "decode dtype '%s': not one of fp32|bf16|auto", name ? name : "(null)");
    return 0;
}

static void rmsnorm_rows(float *y, const float *x, const float *w, int n, int C, float eps) {
    af_kernels()->rmsnorm(y, NULL, x, w, n, C, eps);
}

static void rope_heads(float *x, int nh, int hd, const float *cs, const float *sn) {
    af_kernels()->rope(x, nh, hd, cs, sn, 0);
}

/* Run n rows (row r = token tok[r] of slot row_slot[r] at position row_pos[r]) through
 * the model. Rows of one slot must come in increasing consecutive positions. Writes
 * the K/V cache and, for each row flagged in want_logits (or all if NULL), lg[r]. */
/* Each row's attention over its slot's cache in layer l, all heads in one call (kernels.h:
 * attn_row); a row's output depends on its q and the cache only, so the rows are split
 * over the pool (contiguous ranges, each thread with its own score scratch) when their
 * multiply-adds reach min_split, with the same bits as on one thread. */
typedef struct {
    AfDecode *d;
    int l, n;
} AttnJob;

static void attn_part(void *ctx, int tid, int nt) {
    const AttnJob *j = ctx;
    AfDecode *d = j->d;
    const AfModel *m = d->m;
    const int hd = m->head_dim, H = m->cfg.n_heads, KV = m->cfg.n_kv_heads, QD = H * hd, KD = KV * hd;
    const size_t slot_stride = (size_t)m->cfg.n_layers * d->max_len * KD;
    const float scale = 1.0f / sqrtf((float)hd);
    float *sc = d->sc + (size_t)tid * H * d->max_len;
    const int per = (j->n + nt - 1) / nt, r0 = tid * per, r1 = r0 + per < j->n ? r0 + per : j->n;
    for (int r = r0; r < r1; r++) {
        const size_t base = d->row_slot[r] * slot_stride + (size_t)j->l * d->max_len * KD;
        af_kernels()->attn_row(d->att + (size_t)r * QD, d->q + (size_t)r * QD, d->kc + base, d->vc + base, KD, H,
                               H / KV, hd, d->row_pos[r] + 1, scale, sc);
    }
}

static void attn_rows(AfDecode *d, int l, int n) {
    AttnJob j = {.d = d, .l = l, .n = n};
    double macs = 0;
    for (int r = 0; r < n; r++) macs += 2.0 * (d->row_pos[r] + 1) * d->m->cfg.n_heads * d->m->head_dim;
    if (!d->pool || n < 2 || macs < d->min_split) attn_part(&j, 0, 1);
    else af_pool_run(d->pool, attn_part, &j);
}

/* Feeds n rows; computes the logits of rows first..n-1 only (a prefill needs its last
 * row's: with a 150k vocabulary the LM head is most of a row's work). A row's logits do
 * not depend on which other rows are computed (the products are batch-invariant). */
static void forward_rows(AfDecode *d, int n, const int32_t *tok, int first) {
    const AfModel *m = d->m;
    const AfModelConfig *c = &m->cfg;
    int C = c->d_model, hd = m->head_dim, H = c->n_heads, KV = c->n_kv_heads, F = c->d_ff;
    int QD = H * hd, KD = KV * hd, V = c->vocab_size, half = hd / 2;
    size_t slot_stride = (size_t)c->n_layers * d->max_len * KD;

    for (int r = 0; r < n; r++)
        memcpy(d->x + (size_t)r * C, m->p.embed + (size_t)tok[r] * C, (size_t)C * sizeof(float));
    for (int l = 0; l < c->n_layers; l++) {
        const AfLayerParams *P = &m->p.layers[l];
        rmsnorm_rows(d->xn, d->x, P->attn_norm, n, C, c->rms_eps);
        const Bf16Layer *B = d->bf16 ? &d->wl[l] : &(Bf16Layer){0};
        const MMOut qkv[3] = {{.y = d->q, .w = P->wq, .wb = B->wq, .b = P->bq, .ldy = QD, .out = QD},
                              {.y = d->k, .w = P->wk, .wb = B->wk, .b = P->bk, .ldy = KD, .out = KD},
                              {.y = d->v, .w = P->wv, .wb = B->wv, .b = P->bv, .ldy = KD, .out = KD}};
        mm_n(d, d->xn, C, n, C, 3, qkv);
        if (c->qk_norm) { /* per-head RMSNorm before RoPE (rows of hd floats, in place) */
            rmsnorm_rows(d->q, d->q, P->q_norm, n * H, hd, c->rms_eps);
            rmsnorm_rows(d->k, d->k, P->k_norm, n * KV, hd, c->rms_eps);
        }
        for (int r = 0; r < n; r++) {
            int pos = d->row_pos[r];
            const float *cs = m->rope_cos + (size_t)pos * half, *sn = m->rope_sin + (size_t)pos * half;
            rope_heads(d->q + (size_t)r * QD, H, hd, cs, sn);
            rope_heads(d->k + (size_t)r * KD, KV, hd, cs, sn);
            size_t off = d->row_slot[r] * slot_stride + ((size_t)l * d->max_len + pos) * KD;
            memcpy(d->kc + off, d->k + (size_t)r * KD, (size_t)KD * sizeof(float));
            memcpy(d->vc + off, d->v + (size_t)r * KD, (size_t)KD * sizeof(float));
        }
        attn_rows(d, l, n);
        /* x += att Wo^T ; the invariant product then an elementwise add */
        mm(d, d->xn, C, d->att, QD, P->wo, B->wo, NULL, n, QD, C);
        af_kernels()->add(d->x, d->xn, (size_t)n * C);
        rmsnorm_rows(d->xn, d->x, P->mlp_norm, n, C, c->rms_eps);
        const MMOut gu[2] = {{.y = d->g, .w = P->wgate, .wb = B->wgate, .ldy = F, .out = F},
                             {.y = d->u, .w = P->wup, .wb = B->wup, .ldy = F, .out = F}};
        mm_n(d, d->xn, C, n, C, 2, gu);
        af_kernels()->silu_mul(d->e, d->g, d->u, (size_t)n * F);
        mm(d, d->xn, C, d->e, F, P->wdown, B->wdown, NULL, n, F, C);
        af_kernels()->add(d->x, d->xn, (size_t)n * C);
    }
    if (first >= n) return;
    rmsnorm_rows(d->xn, d->x, m->p.final_norm, n, C, c->rms_eps);
    mm(d, d->lg + (size_t)first * V, V, d->xn + (size_t)first * C, C, m->p.lm_head, d->wlm, NULL, n - first, C, V);
}

int af_decode_feed(AfDecode *d, int n, const int *slots, const int32_t *tokens) {
    const AfModelConfig *c = &d->m->cfg;
    if (n < 1 || n > d->max_slots)
        return af_error_set(AF_EINVAL, "af_decode_feed: n %d outside 1..%d", n, d->max_slots);
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        int s = slots[i];
        if (s < 0 || s >= d->max_slots)
            rc = af_error_set(AF_EINVAL, "af_decode_feed: slot %d outside 0..%d", s, d->max_slots - 1);
        else if (d->seen[s])
            rc = af_error_set(AF_EINVAL, "af_decode_feed: slot %d listed twice", s);
        else if (tokens[i] < 0 || tokens[i] >= c->vocab_size)
            rc = af_error_set(AF_EINVAL, "af_decode_feed: slot %d: token %d outside vocabulary 0..%d",
                              s, tokens[i], c->vocab_size - 1);
        else if (d->len[s] >= d->max_len)
            rc = af_error_set(AF_EINVAL, "af_decode_feed: slot %d is full (%d tokens)", s, d->max_len);
        else
            d->seen[s] = 1;
    }
    for (int i = 0; i < n; i++)
        if (slots[i] >= 0 && slots[i] < d->max_slots) d->seen[slots[i]] = 0;
    if (rc) return rc;
    for (int i = 0; i < n; i++) {
        d->row_slot[i] = slots[i];
        d->row_pos[i] = d->len[slots[i]];
    }
    forward_rows(d, n, tokens, 0);
    int V = c->vocab_size;
    for (int i = 0; i < n; i++) {
        int s = slots[i];
        d->len[s]++;
        memcpy(d->logits + (size_t)s * V, d->lg + (size_t)i * V, (size_t)V * sizeof(float));
        d->has_logits[s] = 1;
    }
    return 0;
}

int af_decode_prefill(AfDecode *d, int slot, const int32_t *tokens, int n) {
    const AfModelConfig *c = &d->m->cfg;
    if (slot < 0 || slot >= d->max_slots)
        return af_error_set(AF_EINVAL, "af_decode_prefill: slot %d outside 0..%d", slot, d->max_slots - 1);
    if (n < 1 || d->len[slot] + n > d->max_len)
        return af_error_set(AF_EINVAL, "af_decode_prefill: slot %d: %d + %d tokens exceed %d (or n < 1)",
                            slot, d->len[slot], n, d->max_len);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= c->vocab_size)
            return af_error_set(AF_EINVAL, "af_decode_prefill: slot %d position %d: token %d outside vocabulary 0..%d",
                                slot, i, tokens[i], c->vocab_size - 1);
    for (int i0 = 0; i0 < n; i0 += d->max_rows) {
        int nr = n - i0 < d->max_rows ? n - i0 : d->max_rows;
        for (int r = 0; r < nr; r++) {
            d->row_slot[r] = slot;
            d->row_pos[r] = d->len[slot] + r;
        }
        const int last = i0 + nr == n;
        forward_rows(d, nr, tokens + i0, last ? nr - 1 : nr);
        d->len[slot] += nr;
        if (last) {
            int V = c->vocab_size;
            memcpy(d->logits + (size_t)slot * V, d->lg + (size_t)(nr - 1) * V, (size_t)V * sizeof(float));
            d->has_logits[slot] = 1;
        }
    }
    return 0;
}

int af_decode_prefill_many(AfDecode *d, int n, const int *slots, const int32_t *const *tokens, const int *lens) {
    const AfModelConfig *c = &d->m->cfg;
    if (n < 1 || n > d->max_slots)
        return af_error_set(AF_EINVAL, "af_decode_prefill_many: n %d outside 1..%d", n, d->max_slots);
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        const int s = slots[i];
        if (s < 0 || s >= d->max_slots) {
            rc = af_error_set(AF_EINVAL, "af_decode_prefill_many: slot %d outside 0..%d", s, d->max_slots - 1);
            break;
        }
        if (d->seen[s]) rc = af_error_set(AF_EINVAL, "af_decode_prefill_many: slot %d listed twice", s);
        else if (lens[i] < 1 || d->len[s] + lens[i] > d->max_len)
            rc = af_error_set(AF_EINVAL, "af_decode_prefill_many: slot %d: %d + %d tokens exceed %d (or n < 1)", s,
                              d->len[s], lens[i], d->max_len);
        for (int j = 0; j < lens[i] && !rc; j++)
            if (tokens[i][j] < 0 || tokens[i][j] >= c->vocab_size)
                rc = af_error_set(AF_EINVAL, "af_decode_prefill_many: slot %d position %d: token %d outside vocabulary 0..%d",
                                  s, j, tokens[i][j], c->vocab_size - 1);
        d->seen[s] = 1;
    }
    for (int i = 0; i < n; i++)
        if (slots[i] >= 0 && slots[i] < d->max_slots) d->seen[slots[i]] = 0;
    if (rc) return rc;
    const int V = c->vocab_size;
    for (int i = 0; i < n; i++) d->off[i] = 0;
    for (int done = 0; done < n;) {
        /* a chunk of up to max_rows rows: the slots in order, each as far as the chunk has
         * room; the rows that end a slot's prompt go last, so that only their logits are
         * computed (a row's position and cache do not depend on where it sits in the chunk:
         * every row's K/V is written before any row attends) */
        int take[AF_DECODE_CHUNK_SLOTS], ids[AF_DECODE_CHUNK_SLOTS], nt = 0, rows = 0;
        for (int i = 0; i < n && rows < d->max_rows && nt < AF_DECODE_CHUNK_SLOTS; i++) {
            const int rem = lens[i] - d->off[i];
            if (rem <= 0) continue;
            const int t = rem < d->max_rows - rows ? rem : d->max_rows - rows;
            ids[nt] = i, take[nt++] = t;
            rows += t;
        }
        int r = 0;
        for (int k = 0; k < nt; k++) {
            const int i = ids[k], ends = d->off[i] + take[k] == lens[i];
            for (int j = 0; j < take[k] - ends; j++, r++) {
                d->row_slot[r] = slots[i];
                d->row_pos[r] = d->len[slots[i]] + j;
                d->rtok[r] = tokens[i][d->off[i] + j];
            }
        }
        const int first = r;
        for (int k = 0; k < nt; k++) {
            const int i = ids[k];
            if (d->off[i] + take[k] != lens[i]) continue;
            d->row_slot[r] = slots[i];
            d->row_pos[r] = d->len[slots[i]] + take[k] - 1;
            d->rtok[r++] = tokens[i][lens[i] - 1];
        }
        forward_rows(d, r, d->rtok, first);
        for (int q = first; q < r; q++) {
            memcpy(d->logits + (size_t)d->row_slot[q] * V, d->lg + (size_t)q * V, (size_t)V * sizeof(float));
            d->has_logits[d->row_slot[q]] = 1;
        }
        for (int k = 0; k < nt; k++) {
            const int i = ids[k];
            d->len[slots[i]] += take[k];
            d->off[i] += take[k];
            if (d->off[i] == lens[i]) done++;
        }
    }
    return 0;
}

int af_decode_truncate(AfDecode *d, int slot, int n) {
    if (slot < 0 || slot >= d->max_slots)
        return af_error_set(AF_EINVAL, "af_decode_truncate: slot %d outside 0..%d", slot, d->max_slots - 1);
    if (n < 0 || n > d->len[slot])
        return af_error_set(AF_EINVAL, "af_decode_truncate: %d tokens of slot %d, which holds %d", n, slot, d->len[slot]);
    d->len[slot] = n;
    d->has_logits[slot] = 0;
    return 0;
}

int af_decode_copy_prefix(AfDecode *d, int dst, int src, int n) {
    if (dst < 0 || dst >= d->max_slots || src < 0 || src >= d->max_slots || dst == src)
        return af_error_set(AF_EINVAL, "af_decode_copy_prefix: slots %d <- %d (0..%d, distinct)", dst, src,
                            d->max_slots - 1);
    if (n < 1 || n > d->len[src])
        return af_error_set(AF_EINVAL, "af_decode_copy_prefix: %d tokens of slot %d, which holds %d", n, src, d->len[src]);
    const AfModelConfig *c = &d->m->cfg;
    const size_t KD = (size_t)c->n_kv_heads * d->m->head_dim, layer = (size_t)d->max_len * KD;
    const size_t slot_stride = (size_t)c->n_layers * layer;
    for (int l = 0; l < c->n_layers; l++) {
        const size_t so = (size_t)src * slot_stride + l * layer, dof = (size_t)dst * slot_stride + l * layer;
        memcpy(d->kc + dof, d->kc + so, (size_t)n * KD * sizeof(float));
        memcpy(d->vc + dof, d->vc + so, (size_t)n * KD * sizeof(float));
    }
    d->len[dst] = n;
    d->has_logits[dst] = 0;
    return 0;
}

/* Sort idx[0..n) by prob descending, ties by lower index (a total order, so the result is
 * unique); merge sort with the preallocated tmp. */
static void sort_by_prob(int *idx, int *tmp, int n, const double *p) {
    for (int w = 1; w < n; w *= 2) {
        for (int lo = 0; lo < n; lo += 2 * w) {
            int mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int i = lo, j = mid, o = lo;
            while (i < mid && j < hi) {
                int a = idx[i], b = idx[j];
                int take_a = p[a] > p[b] || (p[a] == p[b] && a < b);
                tmp[o++] = take_a ? idx[i++] : idx[j++];
            }
            while (i < mid) tmp[o++] = idx[i++];
            while (j < hi) tmp[o++] = idx[j++];
        }
        memcpy(idx, tmp, (size_t)n * sizeof(int));
    }
}

/* a ranks above b: higher probability, ties by lower id */
static int ranks_above(const double *p, int a, int b) { return p[a] > p[b] || (p[a] == p[b] && a < b); }

/* The k (1 <= k < n) highest-ranked of 0..n-1 into idx[0..k), best first: a min-heap of
 * the k best so far (its root the worst of them), then the heap sorted. */
static void select_top_k(int *idx, int *tmp, int n, int k, const double *p) {
    for (int j = 0; j < n; j++) {
        int pos;
        if (j < k) { /* sift up */
            pos = j;
            while (pos > 0 && ranks_above(p, idx[(pos - 1) / 2], j)) {
                idx[pos] = idx[(pos - 1) / 2];
                pos = (pos - 1) / 2;
            }
            idx[pos] = j;
            continue;
        }
        if (!ranks_above(p, j, idx[0])) continue;
        pos = 0; /* replace the root, sift down */
        for (;;) {
            int c = 2 * pos + 1;
            if (c >= k) break;
            if (c + 1 < k && ranks_above(p, idx[c], idx[c + 1])) c++;
            if (!ranks_above(p, j, idx[c])) break;
            idx[pos] = idx[c];
            pos = c;
        }
        idx[pos] = j;
    }
    sort_by_prob(idx, tmp, k, p);
}

/* The draw among idx[0..n) (best first) whose mass reaches `need`: the smallest such
 * prefix, then u times its mass. */
static int draw_prefix(const int *idx, int n, const double *prob, double need, double u) {
    double mass = 0;
    int k = 0;
    while (k < n && mass < need) mass += prob[idx[k++]];
    double target = u * mass, acc = 0;
    for (int i = 0; i < k; i++) {
        acc += prob[idx[i]];
        if (target < acc) return idx[i];
    }
    return idx[k - 1];
}

/* log sum_j exp(z[j] * invT), with ef[j] = exp(z[j] * invT - max) (*sum: their sum) and
 * *arg the argmax (lowest id on ties): the sampler's and the scorer's one computation.
 * allow (or NULL): a token it masks has the logit AF_LOGIT_MASKED instead (probability 0). */
static double scaled_lse(const float *z, const uint8_t *allow, int V, float invT, float *ef, int *arg,
                         double *sum) {
    float mx = -INFINITY;
    *arg = 0;
    for (int j = 0; j < V; j++) {
        ef[j] = (allow && !allow[j] ? AF_LOGIT_MASKED : z[j]) * invT;
        if (ef[j] > mx) {
            mx = ef[j];
            *arg = j;
        }
    }
    /* The scaled logits are rounded to float before mx is subtracted (a separate loop, so
     * the compiler cannot fuse z * invT - mx into one FMA): the argmax then gets exactly
     * exp(0) = 1, the sum is >= 1 and every log-prob <= 0 (af_logp_from_lse). */
    for (int j = 0; j < V; j++) ef[j] -= mx;
    af_vexpf(ef, ef, (size_t)V);
    double acc = 0;
    for (int j = 0; j < V; j++) acc += ef[j];
    *sum = acc;
    return mx + log(acc);
}

int af_logits_logprob(const float *z, int V, float temperature, float *ef, int32_t token, float *logp) {
    if (token < 0 || token >= V)
        return af_error_set(AF_EINVAL, "scoring an action: token %d outside the vocabulary of %d", (int)token, V);
    const float invT = temperature > 0 ? 1.0f / temperature : 1.0f;
    int arg;
    double sum;
    const double lse = scaled_lse(z, NULL, V, invT, ef, &arg, &sum);
    *logp = af_logp_from_lse(z[token] * invT, lse);
    return 0;
}

int af_decode_score(AfDecode *d, int slot, float temperature, int32_t token, float *logp) {
    if (slot < 0 || slot >= d->max_slots)
        return af_error_set(AF_EINVAL, "af_decode_score: slot %d outside 0..%d", slot, d->max_slots - 1);
    if (!d->has_logits[slot]) return af_error_set(AF_EINVAL, "af_decode_score: slot %d is empty", slot);
    const int V = d->m->cfg.vocab_size;
    return af_logits_logprob(d->logits + (size_t)slot * V, V, temperature, d->lg, token, logp);
}

int af_sample_logits(const float *z, int V, const AfSampler *s, AfRng *rng, AfSampleScratch *sc, int32_t *token,
                     float *logp) {
    int greedy = !(s->temperature > 0);
    if (!greedy && !(s->top_p > 0 && s->top_p <= 1))
        return af_error_set(AF_EINVAL, "af_decode_sample: top_p must be in (0, 1], got %g", s->top_p);
    if (s->top_k < 0) return af_error_set(AF_EINVAL, "af_decode_sample: top_k must be >= 0, got %d", s->top_k);
    float invT = greedy ? 1.0f : 1.0f / s->temperature;
    int arg = 0;
    double sum = 0;
    if (s->allow) {
        int any = 0;
        for (int j = 0; j < V && !any; j++) any = s->allow[j] != 0;
        if (!any) return af_error_set(AF_EINVAL, "af_decode_sample: the allow mask allows none of the %d tokens", V);
    }
    const double lse = scaled_lse(z, s->allow, V, invT, sc->ef, &arg, &sum);
    float *ef = sc->ef;
    double *prob = sc->prob;
    for (int j = 0; j < V; j++) prob[j] = ef[j];
    int tok = arg;
    if (!greedy) {
        double u = af_rng_uniform(rng);
        for (int j = 0; j < V; j++) prob[j] /= sum;
        if (s->top_k > 0 && s->top_k < V) {
            select_top_k(sc->idx, sc->tmp, V, s->top_k, prob);
            double kept = 0;
            for (int i = 0; i < s->top_k; i++) kept += prob[sc->idx[i]];
            tok = draw_prefix(sc->idx, s->top_k, prob, s->top_p < 1.0f ? (double)s->top_p * kept : 2.0, u);
        } else if (s->top_p < 1.0f) {
            for (int j = 0; j < V; j++) sc->idx[j] = j;
            sort_by_prob(sc->idx, sc->tmp, V, prob);
            tok = draw_prefix(sc->idx, V, prob, (double)s->top_p, u);
        } else {
            double acc = 0;
            tok = -1;
            for (int j = 0; j < V; j++) {
                acc += prob[j];
                if (u < acc) {
                    tok = j;
                    break;
                }
            }
            if (tok < 0) /* rounding left u beyond the total: last token with mass */
                for (int j = V - 1; j >= 0 && tok < 0; j--)
                    if (prob[j] > 0) tok = j;
        }
    }
    *token = tok;
    if (logp) *logp = af_logp_from_lse(z[tok] * invT, lse);
    return 0;
}

int af_decode_sample(AfDecode *d, int slot, const AfSampler *s, AfRng *rng, int32_t *token,
                     float *logp) {
    if (slot < 0 || slot >= d->max_slots)
        return af_error_set(AF_EINVAL, "af_decode_sample: slot %d outside 0..%d", slot, d->max_slots - 1);
    if (!d->has_logits[slot]) return af_error_set(AF_EINVAL, "af_decode_sample: slot %d is empty", slot);
    const int V = d->m->cfg.vocab_size;
    AfSampleScratch sc = {.ef = d->lg, .prob = d->prob, .idx = d->idx, .tmp = d->tmp}; /* lg: only used inside a feed */
    return af_sample_logits(d->logits + (size_t)slot * V, V, s, rng, &sc, token, logp);
}

int af_decode_step(AfDecode *d, int n, const int *slots, const AfSampler *samplers,
                   AfRng *rngs, int32_t *tokens, float *logps) {
    for (int i = 0; i < n; i++) {
        int rc = af_decode_sample(d, slots[i], &samplers[i], &rngs[i], &tokens[i], &logps[i]);
        if (rc) return rc;
    }
    /* feed the slots that still have room, keeping the caller's order */
    int nf = 0;
    for (int i = 0; i < n; i++)
        if (d->len[slots[i]] < d->max_len) {
            d->fslots[nf] = slots[i];
            d->ftoks[nf++] = tokens[i];
        }
    return nf ? af_decode_feed(d, nf, d->fslots, d->ftoks) : 0;
}
