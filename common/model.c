/* The planner transformer: parameter table over flat buffers, initialisation, and the
 * learner's batched forward/backward over packed sequences (OpenBLAS sgemm). */
#include "common/model.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/kernels.h"
#include "common/matmul_bf16.h"
#include "common/pool.h"
#include "common/rng.h"

#define ATT_BLOCK 64   /* query rows per causal attention block */
#define AF_ATT_THREADS 8 /* attention worker threads at most */

static int g_threads = 1; /* af_model_set_threads */
/* af_model_set_lm_budget: the LM head's full (N, V) buffers up to this many floats each,
 * else blocks of this many */
static size_t g_lm_full_max = (size_t)1 << 26, g_lm_block = (size_t)1 << 26;

void af_model_set_lm_budget(size_t full_max_floats, size_t block_floats) {
    g_lm_full_max = full_max_floats ? full_max_floats : (size_t)1 << 26;
    g_lm_block = block_floats ? block_floats : (size_t)1 << 26;
}

/* The block path's logits, one buffer for every model of the process on that path (a
 * learner's policy and its frozen reference planner run their LM heads one after the
 * other, never at once): allocated by the first block at its rows, grown by a larger block
 * (its content not kept), freed with the last such model. A model's forward or backward
 * holds `mu` while it runs its blocks (models on other threads wait); `owner` is the
 * activations whose block the buffer holds, so that a backward reuses its forward's last
 * block only if no other model's block has replaced it since (else it recomputes it: the
 * same product of the same rows, the same bits). */
static struct {
    pthread_mutex_t mu;
    float *buf;                 /* (floats) */
    size_t floats;              /* allocated in buf */
    const AfModelActs *owner;   /* whose block buf holds, or NULL */
    int users;                  /* activations on the block path */
} g_lmb = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, NULL, 0};

struct AfModelActs {
    int N, n_seqs;
    int *seq_start;   /* (max_seqs + 1) */
    int *pos;         /* (max_tokens) position of each token in its sequence */
    int32_t *tokens;  /* (max_tokens) */
    float temperature;
    /* per layer l, each with leading dimension given in comments; index [l * N_max * dim] */
    float *x;         /* (L + 1, N, C) residual stream entering layer l; l = L: final */
    float *xn1;       /* (L, N, C) */
    float *rstd1;     /* (L, N) */
    float *q;         /* (L, N, QD) after RoPE */
    float *k;         /* (L, N, KD) after RoPE */
    float *qpre, *kpre;   /* (L, N, QD), (L, N, KD) before the q/k norms (qk_norm only) */
    float *rstdq, *rstdk; /* (L, N, H), (L, N, KV) q/k norm reciprocal RMS (qk_norm only) */
    float *v;         /* (L, N, KD) */
    float *att;       /* (L, N, QD) attention output before o_proj */
    float *lse;       /* (L, N, H) log-sum-exp of each attention row */
    float *xmid;      /* (L, N, C) */
    float *xn2;       /* (L, N, C) */
    float *rstd2;     /* (L, N) */
    float *g, *u, *h; /* (L, N, F) gate, up, silu(gate) * up */
    float *xnf;       /* (N, C) */
    float *rstdf;     /* (N) */
    float *logits;    /* (lm_rows, V): all N rows; on the large-vocabulary path g_lmb.buf while
                       * the model runs its blocks (shared, see there), else not used */
    float *lse_out;   /* (N) log-sum-exp of logits[i] / temperature (NAN: row not computed) */
    int lm_rows;      /* rows of logits/dlogits: max_tokens, or a block (large vocabulary) */
    int lm_block;     /* 1: the LM head runs in blocks of gathered rows (see af_model_set_lm_budget) */
    void *lm_yb;      /* (rows, V) block path, bf16 backward: the block's gradient in bf16 (in
                       * place of m->yb, sized for the other products), allocated at the first
                       * block's rows and grown by a larger one */
    size_t lm_yb_cap; /* elements allocated in lm_yb */
    int *lm_idx;      /* (lm_rows) block path: the rows gathered */
    int lm_kept;      /* block path: rows of the forward's last block whose logits are still in
                       * `logits` (lm_idx, lm_x hold them), 0 when none */
    int *lm_all;      /* (max_tokens) block path, backward: every row it uses, in order */
    float *lm_x;      /* (lm_rows, C) block path: their final-norm outputs */
    float *lm_dx;     /* (lm_rows, C) block path: their input gradients */
    /* backward scratch */
    float *dx, *dxn;  /* (N, C) */
    float *dq, *dk, *dv, *datt; /* (N, QD), (N, KD), (N, KD), (N, QD) */
    float *dkpre;     /* (N, KD) gradient before the k norm (qk_norm only; q uses datt) */
    float *dsum;      /* (N, H) attention backward: each row's O . dO per head */
    float *dg, *du;   /* (N, F) */
    float *dlogits;   /* (lm_rows, V); == logits on the block path (computed in place) */
    float *S, *dP;    /* (AF_ATT_THREADS, scratch_floats): per-thread attention blocks */
    size_t scratch_floats; /* max(ATT_BLOCK * max_seq, V) */
    /* bf16 attention products (m->compute == AF_COMPUTE_BF16; NULL otherwise) */
    struct AfBf16Mm *att_mm[AF_ATT_THREADS]; /* one per thread of the model (the linear
                                              * layers' and the attention's products):
                                              * primitives are not run concurrently */
    void *qkvb;       /* (N, 2 QD + 2 KD): the layer's q, k, v and (backward) dO in bf16 */
    size_t yb_f;      /* bf16 mode: the operand of m->yb where its (N, F) second part begins */
    void *pb;         /* (AF_ATT_THREADS, 2 * ATT_BLOCK * max_T): P and dS blocks in bf16 */
    int att_rc[AF_ATT_THREADS]; /* first failed product of each thread */
};

static void *alloc_floats(size_t n) {
    size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    if (bytes == 0) bytes = 64;
    void *p = aligned_alloc(64, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

AfModelConfig af_model_config_default(void) {
    AfModelConfig c = {.vocab_size = 512, .d_model = 256, .n_layers = 4, .n_heads = 4,
                       .n_kv_heads = 4, .d_ff = 704, .max_seq = 1024, .rope_theta = 10000.0f,
                       .rms_eps = 1e-6f, .qkv_bias = 0, .tied_embeddings = 0};
    return c;
}

int af_model_config_head_dim(const AfModelConfig *c) {
    return c->head_dim ? c->head_dim : c->d_model / c->n_heads;
}

int af_model_config_validate(const AfModelConfig *c) {
#define POS(f, lim)                                                                       \
    if (c->f < 1 || c->f > (lim))                                                         \
        return af_error_set(AF_ECONFIG, "model config: " #f ": expected 1..%d, got %d", (lim), \
                            c->f);
    POS(vocab_size, 1 << 22);
    POS(d_model, 1 << 16);
    POS(n_layers, 256);
    POS(n_heads, 1024);
    POS(n_kv_heads, 1024);
    POS(d_ff, 1 << 18);
    POS(max_seq, 1 << 20);
#undef POS
    if (c->head_dim < 0 || c->head_dim > 4096)
        return af_error_set(AF_ECONFIG, "model config: head_dim: expected 0 (d_model / n_heads) or 1..4096, got %d",
                            c->head_dim);
    if (!c->head_dim && c->d_model % c->n_heads)
        return af_error_set(AF_ECONFIG, "model config: d_model (%d) not divisible by n_heads (%d)",
                            c->d_model, c->n_heads);
    if (af_model_config_head_dim(c) % 2)
        return af_error_set(AF_ECONFIG, "model config: head_dim %d must be even for RoPE",
                            af_model_config_head_dim(c));
    if ((long long)c->n_heads * af_model_config_head_dim(c) > (1 << 20))
        return af_error_set(AF_ECONFIG, "model config: n_heads * head_dim %lld too large",
                            (long long)c->n_heads * af_model_config_head_dim(c));
    if (c->n_heads % c->n_kv_heads)
        return af_error_set(AF_ECONFIG, "model config: n_heads (%d) not divisible by n_kv_heads (%d)",
                            c->n_heads, c->n_kv_heads);
    if (!(c->rope_theta > 0) || !isfinite(c->rope_theta))
        return af_error_set(AF_ECONFIG, "model config: rope_theta must be > 0, got %g", c->rope_theta);
    if (!(c->rms_eps > 0) || !isfinite(c->rms_eps))
        return af_error_set(AF_ECONFIG, "model config: rms_eps must be > 0, got %g", c->rms_eps);
    if (c->qkv_bias != 0 && c->qkv_bias != 1)
        return af_error_set(AF_ECONFIG, "model config: qkv_bias must be 0 or 1");
    if (c->tied_embeddings != 0 && c->tied_embeddings != 1)
        return af_error_set(AF_ECONFIG, "model config: tied_embeddings must be 0 or 1");
    if (c->qk_norm != 0 && c->qk_norm != 1)
        return af_error_set(AF_ECONFIG, "model config: qk_norm must be 0 or 1");
    if (c->rope_llama3 != 0 && c->rope_llama3 != 1)
        return af_error_set(AF_ECONFIG, "model config: rope_llama3 must be 0 or 1");
    if (c->rope_llama3) {
        if (!(c->rope_factor > 0) || !isfinite(c->rope_factor))
            return af_error_set(AF_ECONFIG, "model config: rope_scaling.factor must be > 0, got %g", c->rope_factor);
        if (!(c->rope_low_freq_factor > 0) || !(c->rope_high_freq_factor > c->rope_low_freq_factor) ||
            !isfinite(c->rope_high_freq_factor))
            return af_error_set(AF_ECONFIG, "model config: rope_scaling: need 0 < low_freq_factor (%g) < high_freq_factor (%g)",
                                c->rope_low_freq_factor, c->rope_high_freq_factor);
        if (c->rope_orig_max_pos < 1)
            return af_error_set(AF_ECONFIG, "model config: rope_scaling.original_max_position_embeddings must be >= 1, got %d",
                                c->rope_orig_max_pos);
    }
    return 0;
}

/* Append a tensor to the table (offsets 16-float aligned). */
static void add_tensor(AfModel *m, const char *name, int64_t d0, int64_t d1) {
    AF_ASSERT(m->n_tensors < m->cap_tensors);
    AfTensorInfo *t = &m->tensors[m->n_tensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = d1 ? 2 : 1;
    t->shape[0] = d0;
    t->shape[1] = d1;
    t->numel = (size_t)d0 * (size_t)(d1 ? d1 : 1);
    t->offset = m->n_params;
    m->n_params += (t->numel + 15) / 16 * 16;
}

static void build_table(AfModel *m) {
    const AfModelConfig *c = &m->cfg;
    int C = c->d_model, QD = c->n_heads * m->head_dim, KD = c->n_kv_heads * m->head_dim;
    char nm[AF_MODEL_NAME_MAX];
    add_tensor(m, "model.embed_tokens.weight", c->vocab_size, C);
    for (int l = 0; l < c->n_layers; l++) {
#define T(suffix, d0, d1)                                              \
    snprintf(nm, sizeof nm, "model.layers.%d.%s", l, suffix);          \
    add_tensor(m, nm, d0, d1);
        T("input_layernorm.weight", C, 0);
        T("self_attn.q_proj.weight", QD, C);
        if (c->qkv_bias) { T("self_attn.q_proj.bias", QD, 0); }
        T("self_attn.k_proj.weight", KD, C);
        if (c->qkv_bias) { T("self_attn.k_proj.bias", KD, 0); }
        T("self_attn.v_proj.weight", KD, C);
        if (c->qkv_bias) { T("self_attn.v_proj.bias", KD, 0); }
        T("self_attn.o_proj.weight", C, QD);
        if (c->qk_norm) {
            T("self_attn.q_norm.weight", m->head_dim, 0);
            T("self_attn.k_norm.weight", m->head_dim, 0);
        }
        T("post_attention_layernorm.weight", C, 0);
        T("mlp.gate_proj.weight", c->d_ff, C);
        T("mlp.up_proj.weight", c->d_ff, C);
        T("mlp.down_proj.weight", C, c->d_ff);
#undef T
    }
    add_tensor(m, "model.norm.weight", C, 0);
    if (!c->tied_embeddings) add_tensor(m, "lm_head.weight", c->vocab_size, C);
}

static void bind_view(const AfModel *m, float *base, AfParamView *v) {
    const AfModelConfig *c = &m->cfg;
    int i = 0;
#define NEXT() (base + m->tensors[i++].offset)
    v->embed = NEXT();
    for (int l = 0; l < c->n_layers; l++) {
        AfLayerParams *L = &v->layers[l];
        L->attn_norm = NEXT();
        L->wq = NEXT();
        L->bq = c->qkv_bias ? NEXT() : NULL;
        L->wk = NEXT();
        L->bk = c->qkv_bias ? NEXT() : NULL;
        L->wv = NEXT();
        L->bv = c->qkv_bias ? NEXT() : NULL;
        L->wo = NEXT();
        L->q_norm = c->qk_norm ? NEXT() : NULL;
        L->k_norm = c->qk_norm ? NEXT() : NULL;
        L->mlp_norm = NEXT();
        L->wgate = NEXT();
        L->wup = NEXT();
        L->wdown = NEXT();
    }
    v->final_norm = NEXT();
    v->lm_head = c->tied_embeddings ? v->embed : NEXT();
#undef NEXT
    AF_ASSERT(i == m->n_tensors);
}

static void acts_free(AfModelActs *a) {
    if (!a) return;
    if (a->lm_block) { /* the block path's logits are g_lmb's */
        pthread_mutex_lock(&g_lmb.mu);
        if (g_lmb.owner == a) g_lmb.owner = NULL;
        if (--g_lmb.users == 0) free(g_lmb.buf), g_lmb.buf = NULL, g_lmb.floats = 0;
        pthread_mutex_unlock(&g_lmb.mu);
        a->logits = a->dlogits = NULL;
    }
    float **fs[] = {&a->x, &a->xn1, &a->rstd1, &a->q, &a->k, &a->v, &a->att, &a->lse, &a->xmid,
                    &a->xn2, &a->rstd2, &a->g, &a->u, &a->h, &a->xnf, &a->rstdf, &a->logits,
                    &a->lse_out, &a->dx, &a->dxn, &a->dq, &a->dk, &a->dv, &a->datt, &a->dg,
                    &a->du, &a->S, &a->dP, &a->qpre, &a->kpre, &a->rstdq,
                    &a->rstdk, &a->dkpre, &a->dsum, &a->lm_x, &a->lm_dx};
    for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++) free(*fs[i]);
    free(a->seq_start);
    if (a->dlogits != a->logits) free(a->dlogits);
    free(a->lm_idx);
    free(a->lm_all);
    free(a->lm_yb);
    free(a->pos);
    free(a->tokens);
    free(a);
}

static int acts_alloc(AfModel *m, int grads) {
    const AfModelConfig *c = &m->cfg;
    size_t N = (size_t)m->max_tokens, L = (size_t)c->n_layers, C = (size_t)c->d_model;
    size_t QD = (size_t)c->n_heads * m->head_dim, KD = (size_t)c->n_kv_heads * m->head_dim;
    size_t F = (size_t)c->d_ff, V = (size_t)c->vocab_size, H = (size_t)c->n_heads;
    AfModelActs *a = calloc(1, sizeof *a);
    if (!a) return AF_ENOMEM;
    m->acts = a;
    a->seq_start = calloc((size_t)m->max_seqs + 1, sizeof(int));
    a->pos = calloc(N, sizeof(int));
    a->tokens = calloc(N, sizeof(int32_t));
    int ok = a->seq_start && a->pos && a->tokens;
#define A(f, n) ok = ok && (a->f = alloc_floats(n)) != NULL
    A(x, (L + 1) * N * C);
    A(xn1, L * N * C);
    A(rstd1, L * N);
    A(q, L * N * QD);
    A(k, L * N * KD);
    A(v, L * N * KD);
    A(att, L * N * QD);
    A(lse, L * N * H);
    if (c->qk_norm) {
        A(qpre, L * N * QD);
        A(kpre, L * N * KD);
        A(rstdq, L * N * H);
        A(rstdk, L * N * (size_t)c->n_kv_heads);
        if (grads) A(dkpre, N * KD);
    }
    A(xmid, L * N * C);
    A(xn2, L * N * C);
    A(rstd2, L * N);
    A(g, L * N * F);
    A(u, L * N * F);
    A(h, L * N * F);
    A(xnf, N * C);
    A(rstdf, N);
    /* the LM head: all rows at once, unless that exceeds the budget (a vocabulary of
     * ~150k tokens): then blocks of lm_rows gathered rows, recomputed in backward, the
     * block's logits in the process's shared buffer (g_lmb, lm_block_reserve) */
    a->lm_rows = (int)N;
    if (N * V > g_lm_full_max) {
        size_t r = g_lm_block / V;
        a->lm_rows = (int)(r < 1 ? 1 : r > N ? N : r);
        a->lm_block = 1;
        pthread_mutex_lock(&g_lmb.mu);
        g_lmb.users++;
        pthread_mutex_unlock(&g_lmb.mu);
        ok = ok && (a->lm_idx = calloc((size_t)a->lm_rows, sizeof(int))) != NULL;
        ok = ok && (!grads || (a->lm_all = calloc(N, sizeof(int))) != NULL);
        A(lm_x, (size_t)a->lm_rows * C);
        if (grads) A(lm_dx, (size_t)a->lm_rows * C);
    } else {
        A(logits, (size_t)a->lm_rows * V);
    }
    A(lse_out, N);
    size_t max_T = (size_t)(c->max_seq < m->max_tokens ? c->max_seq : m->max_tokens);
    a->scratch_floats = (size_t)ATT_BLOCK * max_T > V ? (size_t)ATT_BLOCK * max_T : V;
    A(S, AF_ATT_THREADS * a->scratch_floats);
    if (grads) {
        A(dx, N * C);
        A(dxn, N * C);
        A(dq, N * QD);
        A(dk, N * KD);
        A(dv, N * KD);
        A(datt, N * QD);
        A(dsum, N * H);
        A(dg, N * F);
        A(du, N * F);
        if (!a->lm_block) /* the block path's backward overwrites the logits (lm_block_reserve) */
            A(dlogits, (size_t)a->lm_rows * V);
        A(dP, AF_ATT_THREADS * a->scratch_floats);
    }
#undef A
    return ok ? 0 : AF_ENOMEM;
}

/* Llama-3 frequency scaling (transformers' _compute_llama3_parameters, in float32):
 * wavelengths longer than original_max_position_embeddings / low_freq_factor are
 * divided by `factor`, those shorter than .. / high_freq_factor kept, and those between
 * interpolated smoothly. */
static float rope_llama3_scale(const AfModelConfig *c, float inv) {
    float old = (float)c->rope_orig_max_pos, lo = c->rope_low_freq_factor, hi = c->rope_high_freq_factor;
    float low_wavelen = old / lo, high_wavelen = old / hi;
    float wavelen = 2.0f * (float)M_PI / inv;
    float scaled = wavelen > low_wavelen ? inv / c->rope_factor : inv;
    if (!(wavelen < high_wavelen) && !(wavelen > low_wavelen)) {
        float smooth = (old / wavelen - lo) / (hi - lo);
        scaled = (1.0f - smooth) * scaled / c->rope_factor + smooth * scaled;
    }
    return scaled;
}

int af_model_create(const AfModelConfig *cfg, int max_tokens, int max_seqs, int flags,
                    AfModel **out) {
    *out = NULL;
    int rc = af_model_config_validate(cfg);
    if (rc) return rc;
    if (max_tokens < 0 || max_seqs < 0 || (max_tokens > 0) != (max_seqs > 0))
        return af_error_set(AF_EINVAL, "af_model_create: max_tokens %d and max_seqs %d must both be 0 or both positive",
                            max_tokens, max_seqs);
    AfModel *m = calloc(1, sizeof *m);
    if (!m) return af_error_set(AF_ENOMEM, "af_model_create: out of memory");
    m->cfg = *cfg;
    m->head_dim = af_model_config_head_dim(cfg);
    m->max_tokens = max_tokens;
    m->max_seqs = max_seqs;
    m->cap_tensors = 3 + cfg->n_layers * 14;
    m->tensors = calloc((size_t)m->cap_tensors, sizeof *m->tensors);
    m->p.layers = calloc((size_t)cfg->n_layers, sizeof(AfLayerParams));
    m->g.layers = calloc((size_t)cfg->n_layers, sizeof(AfLayerParams));
    if (!m->tensors || !m->p.layers || !m->g.layers) goto nomem;
    build_table(m);
    m->params = alloc_floats(m->n_params);
    if (!m->params) goto nomem;
    bind_view(m, m->params, &m->p);
    if (flags & AF_MODEL_GRADS) {
        m->grads = alloc_floats(m->n_params);
        if (!m->grads) goto nomem;
        bind_view(m, m->grads, &m->g);
    }
    int half = m->head_dim / 2;
    m->rope_cos = alloc_floats((size_t)cfg->max_seq * half);
    m->rope_sin = alloc_floats((size_t)cfg->max_seq * half);
    if (!m->rope_cos || !m->rope_sin) goto nomem;
    for (int i = 0; i < half; i++) {
        /* Hugging Face: inv_freq = 1 / theta^(arange(0, hd, 2) / hd), in float32. */
        float inv = (float)(1.0 / pow((double)cfg->rope_theta, (double)(2 * i) / m->head_dim));
        if (cfg->rope_llama3) inv = rope_llama3_scale(cfg, inv);
        for (int p = 0; p < cfg->max_seq; p++) {
            float ang = (float)p * inv;
            m->rope_cos[(size_t)p * half + i] = cosf(ang);
            m->rope_sin[(size_t)p * half + i] = sinf(ang);
        }
    }
    if (max_tokens > 0 && acts_alloc(m, flags & AF_MODEL_GRADS)) goto nomem;
    *out = m;
    return 0;
nomem:
    rc = af_error_set(AF_ENOMEM, "af_model_create: out of memory (%zu parameters, %d max tokens)",
                      m->n_params, max_tokens);
    af_model_destroy(m);
    return rc;
}

static void bf16_free(AfModel *m);

void af_model_destroy(AfModel *m) {
    if (!m) return;
    af_pool_destroy(m->pool);
    bf16_free(m); /* before acts_free: the attention's bf16 contexts and buffers are in acts */
    acts_free(m->acts);
    free(m->tensors);
    free(m->p.layers);
    free(m->g.layers);
    free(m->params);
    free(m->grads);
    free(m->rope_cos);
    free(m->rope_sin);
    free(m);
}

void af_model_init_params(AfModel *m, uint64_t seed) { af_model_init_params_std(m, seed, 0.02); }

void af_model_init_params_std(AfModel *m, uint64_t seed, double std) {
    memset(m->params, 0, m->n_params * sizeof(float));
    for (int i = 0; i < m->n_tensors; i++) {
        const AfTensorInfo *t = &m->tensors[i];
        float *p = m->params + t->offset;
        const char *nm = t->name;
        size_t len = strlen(nm);
        int is_norm = strstr(nm, "norm.weight") != NULL;
        int is_bias = len > 5 && strcmp(nm + len - 5, ".bias") == 0;
        if (is_norm) {
            for (size_t j = 0; j < t->numel; j++) p[j] = 1.0f;
        } else if (!is_bias) {
            AfRng r;
            af_rng_init(&r, seed, AF_RNG_INIT, (uint32_t)i, 0, 0);
            for (size_t j = 0; j < t->numel; j++) p[j] = (float)(std * af_rng_normal(&r));
        }
    }
    m->fwd_valid = 0;
}

void af_model_copy_params(AfModel *dst, const AfModel *src) {
    AF_ASSERT(dst->n_params == src->n_params &&
              memcmp(&dst->cfg, &src->cfg, sizeof dst->cfg) == 0);
    memcpy(dst->params, src->params, src->n_params * sizeof(float));
    dst->fwd_valid = 0;
}

const AfTensorInfo *af_model_find_tensor(const AfModel *m, const char *name) {
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
    return NULL;
}

int af_model_threads(void) { return g_threads; }

void af_model_set_threads(int n) {
    g_threads = n < 1 ? 1 : n;
    openblas_set_num_threads(g_threads);
    af_bf16mm_set_threads(g_threads);
}

static void bf16_free(AfModel *m) {
    if (m->acts) {
        for (int i = 0; i < AF_ATT_THREADS; i++) af_bf16mm_destroy(m->acts->att_mm[i]), m->acts->att_mm[i] = NULL;
        free(m->acts->qkvb), free(m->acts->pb), free(m->acts->lm_yb);
        m->acts->qkvb = m->acts->pb = m->acts->lm_yb = NULL;
        m->acts->lm_yb_cap = 0; /* its operands' size follows m->mm_fma */
    }
    free(m->wb);
    free(m->xb);
    free(m->yb);
    m->wb = m->xb = m->yb = NULL;
    m->compute = AF_COMPUTE_FP32;
    m->mm_fma = 0;
}

int af_model_set_compute(AfModel *m, int compute) {
    int want, rc = af_compute_resolve(compute, &want);
    if (rc) return rc;
    m->fwd_valid = 0;
    int fma = want == AF_COMPUTE_BF16_FMA;
    if (fma) want = AF_COMPUTE_BF16;
    if (want == m->compute && fma == m->mm_fma) return 0;
    bf16_free(m);
    if (want == AF_COMPUTE_FP32 || !m->acts) {
        m->compute = want; /* no learner batch: nothing runs the products */
        m->mm_fma = fma;
        return 0;
    }
    const AfModelConfig *c = &m->cfg;
    size_t N = (size_t)m->max_tokens, QD = (size_t)c->n_heads * m->head_dim, KD = (size_t)c->n_kv_heads * m->head_dim;
#define MAX2(x, y) ((x) > (y) ? (x) : (y))
    size_t xw = MAX2(MAX2((size_t)c->d_model, QD), (size_t)c->d_ff); /* inputs of the products */
    AfModelActs *a = m->acts;
    /* their outputs' gradients (the LM head in blocks, for a large vocabulary: a->lm_yb) */
    size_t yw = MAX2(MAX2(xw, KD), a->lm_block ? 0 : (size_t)c->vocab_size);
    size_t yn = N * yw;
#undef MAX2
    for (int i = 0; i < AF_ATT_THREADS; i++)
        if ((rc = fma ? af_bf16mm_create_fma(&a->att_mm[i]) : af_bf16mm_create(&a->att_mm[i]))) {
            bf16_free(m);
            return rc;
        }
    size_t max_T = (size_t)(c->max_seq < m->max_tokens ? c->max_seq : m->max_tokens);
#define OP_FLOATS(n) (fma ? (n) : ((n) + 1) / 2) /* floats holding n operands */
    m->wb = alloc_floats(OP_FLOATS(m->n_params));
    m->xb = alloc_floats(OP_FLOATS(N * xw));
    m->yb = m->grads ? alloc_floats(OP_FLOATS(yn + N * (size_t)c->d_ff)) : NULL;
    a->yb_f = yn;
    a->qkvb = alloc_floats(OP_FLOATS(N * (2 * QD + 2 * KD)));
    a->pb = alloc_floats(OP_FLOATS((size_t)AF_ATT_THREADS * 2 * ATT_BLOCK * max_T));
#undef OP_FLOATS
    if (!m->wb || !m->xb || (m->grads && !m->yb) || !a->qkvb || !a->pb) {
        bf16_free(m);
        return af_error_set(AF_ENOMEM, "af_model_set_compute: out of memory for the bf16 copies (%zu parameters)", m->n_params);
    }
    m->compute = want;
    m->mm_fma = fma;
    return 0;
}

void af_model_zero_grad(AfModel *m) {
    if (m->grads) memset(m->grads, 0, m->n_params * sizeof(float));
}

const float *af_model_logits(const AfModel *m) { return m->acts && !m->acts->lm_block ? m->acts->logits : NULL; }

double af_model_forward_flops(const AfModelConfig *c, const int *seq_start, int n_seqs) {
    double hd = c->head_dim ? (double)c->head_dim : (double)c->d_model / c->n_heads, C = c->d_model;
    double QD = c->n_heads * hd, KD = c->n_kv_heads * hd;
    double per_tok = C * QD * 2 + C * KD * 2 + 3.0 * C * c->d_ff;
    double att = 0, N = 0;
    for (int s = 0; s < n_seqs; s++) {
        double T = seq_start[s + 1] - seq_start[s];
        N += T;
        att += T * (T + 1) / 2 * QD * 2; /* QK^T and PV over the causal triangle */
    }
    return 2.0 * (c->n_layers * (N * per_tok + att) + N * C * c->vocab_size);
}

/* ------------------------------------------------------------------ building blocks */

/* ------------------------------------------------------------------ threads
 * The model's pool (AF_ATT_THREADS at most) runs the attention items and splits the
 * element-wise and per-token work (bf16 rounding, SwiGLU, the LM head's softmax) into
 * contiguous ranges; each element or token is computed by the same operations whatever
 * the split, so the bits do not depend on the thread count. */
static void pool_ensure(AfModel *m) {
    int want = g_threads < AF_ATT_THREADS ? g_threads : AF_ATT_THREADS;
    if (af_pool_threads(m->pool) == want) return;
    af_pool_destroy(m->pool);
    m->pool = NULL;
    if (want > 1 && af_pool_create(want, &m->pool) != 0) m->pool = NULL; /* run serially */
}

typedef void (*RangeFn)(void *ctx, size_t lo, size_t hi, int tid);
typedef struct {
    RangeFn fn;
    void *ctx;
    size_t n, align;
} RangeJob;

static void range_part(void *c, int tid, int nt) {
    const RangeJob *r = c;
    size_t per = ((r->n + (size_t)nt - 1) / (size_t)nt + r->align - 1) / r->align * r->align;
    size_t lo = per * (size_t)tid, hi = lo + per < r->n ? lo + per : r->n;
    if (lo < hi) r->fn(r->ctx, lo, hi, tid);
}

/* Threads of the model's parallel regions (1: serial). */
static int par_threads(AfModel *m) {
    pool_ensure(m);
    return m->pool ? af_pool_threads(m->pool) : 1;
}

/* fn(ctx, tid, nt) on the model's threads (serially on this one when it has none). */
static void par_run(AfModel *m, void (*fn)(void *ctx, int tid, int nt), void *ctx) {
    if (par_threads(m) < 2)
        fn(ctx, 0, 1);
    else
        af_pool_run(m->pool, fn, ctx);
}

/* fn over [0, n) in ranges (multiples of `align`) on the model's threads; serially below
 * min_n. */
static void par_range(AfModel *m, size_t n, size_t align, size_t min_n, RangeFn fn, void *ctx) {
    if (n < min_n || par_threads(m) < 2) {
        fn(ctx, 0, n, 0);
        return;
    }
    RangeJob r = {fn, ctx, n, align};
    par_run(m, range_part, &r);
}

/* The products' operands: bf16 (uint16_t), or with fma (m->mm_fma) fp32 values rounded to
 * bf16. op_at: operand i of the array p. op_round: operands i.. of y = x[0..n) rounded.
 * ops_u16: the operands are bf16 (uint16_t), which the kernels computing them can write
 * themselves (af_kernels: P, dS, h, dg, du); with fma they are rounded by op_round. */
static inline int ops_u16(const AfModel *m) { return m->compute == AF_COMPUTE_BF16 && !m->mm_fma; }

static inline const void *op_at(const void *p, size_t i, int fma) {
    return (const char *)p + i * (fma ? sizeof(float) : sizeof(uint16_t));
}

static inline void op_round(void *y, size_t i, const float *x, size_t n, int fma) {
    if (fma)
        af_f32_round_bf16_n((float *)y + i, x, n);
    else
        af_f32_to_bf16_n((uint16_t *)y + i, x, n);
}

typedef struct {
    void *y;
    const float *x;
    int fma;
} CvtJob;

static void cvt_range(void *c, size_t lo, size_t hi, int tid) {
    (void)tid;
    const CvtJob *j = c;
    op_round(j->y, lo, j->x + lo, hi - lo, j->fma);
}

/* y = bf16(x), n elements, split over the pool. */
static void cvt_bf16(AfModel *m, void *y, const float *x, size_t n) {
    CvtJob j = {y, x, m->mm_fma};
    par_range(m, n, 64, 1 << 16, cvt_range, &j);
}

/* Linear layers. fp32: OpenBLAS sgemm. bf16 (m->compute): the caller rounds the
 * activation input once into m->xb (to_bf16, shared by the products that read it), the
 * weights come from m->wb (the forward's bf16 copy, at the parameters' offsets) and dy is
 * rounded into m->yb; oneDNN accumulates in fp32. A failed bf16 product sets m->mm_rc,
 * which the forward/backward return. */
static const void *to_bf16(AfModel *m, const float *x, size_t n) {
    if (m->compute != AF_COMPUTE_BF16) return NULL;
    cvt_bf16(m, m->xb, x, n);
    return m->xb;
}

static const void *wbf(const AfModel *m, const float *w) { return op_at(m->wb, (size_t)(w - m->params), m->mm_fma); }

/* The bf16 products of the linear layers are split into fixed chunks of MM_CHUNK rows of
 * the output (or columns: see mm_bf16), each a single-threaded
 * oneDNN product on its thread's context, spread over the model's threads (contiguous
 * runs of chunks). The chunks do not depend on the thread count, so neither do the bits;
 * and no OpenMP team runs, whose threads would spin-wait after each product and compete
 * with the model's threads for the cores. */
#define MM_CHUNK 256

typedef struct {
    AfModel *m;
    int blas; /* fp32 operands on OpenBLAS's sgemm, one thread per chunk (mm_f32) */
    int ta, tb, M, N, K, lda, ldb, ldc, beta, split_n, n_chunks;
    const void *A, *B;
    float *C;
} MmJob;

/* One product on thread tid's context: bf16 or (fma) fp32 operands on oneDNN, or (blas)
 * fp32 operands on OpenBLAS (single-threaded: the caller set its thread count to 1). */
static int mm_one(AfModelActs *a, int tid, int fma, int blas, int ta, int tb, int M, int N, int K, const void *A,
                  int lda, const void *B, int ldb, int beta, float *C, int ldc) {
    if (blas) {
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, A,
                    lda, B, ldb, beta ? 1.0f : 0.0f, C, ldc);
        return 0;
    }
    return fma ? af_bf16mm_run_f32(a->att_mm[tid], ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc)
               : af_bf16mm_run(a->att_mm[tid], ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

static void mm_part(void *c, int tid, int nt) {
    const MmJob *j = c;
    AfModelActs *a = j->m->acts;
    int f32 = j->m->mm_fma || j->blas; /* the operands are floats */
    af_bf16mm_set_threads(1);
    for (int ci = j->n_chunks * tid / nt; ci < j->n_chunks * (tid + 1) / nt && !a->att_rc[tid]; ci++) {
        int lo = ci * MM_CHUNK, len = (j->split_n ? j->N : j->M) - lo;
        if (len > MM_CHUNK) len = MM_CHUNK;
        if (j->split_n)
            a->att_rc[tid] = mm_one(a, tid, j->m->mm_fma, j->blas, j->ta, j->tb, j->M, len, j->K, j->A, j->lda,
                                    op_at(j->B, j->tb ? (size_t)lo * j->ldb : (size_t)lo, f32), j->ldb, j->beta,
                                    j->C + lo, j->ldc);
        else
            a->att_rc[tid] = mm_one(a, tid, j->m->mm_fma, j->blas, j->ta, j->tb, len, j->N, j->K,
                                    op_at(j->A, j->ta ? (size_t)lo : (size_t)lo * j->lda, f32), j->lda, j->B,
                                    j->ldb, j->beta, j->C + (size_t)lo * j->ldc, j->ldc);
    }
}

/* The failures of the threads' products into m->mm_rc (the first one). */
static void mm_collect(AfModel *m) {
    for (int i = 0; i < AF_ATT_THREADS && !m->mm_rc; i++) m->mm_rc = m->acts->att_rc[i];
    af_bf16mm_set_threads(g_threads);
}

static void mm_run(AfModel *m, int blas, int ta, int tb, int M, int N, int K, const void *A, int lda, const void *B,
                   int ldb, int beta, float *C, int ldc) {
    if (m->mm_rc) return;
    /* the longer side, unless only the other is a whole number of chunks (the weight
     * gradients of gate/up/down: 1408 x 512 split in two halves of 512, not 5.5 chunks) */
    int split_n = N > M;
    if ((split_n ? N : M) % MM_CHUNK && (split_n ? M : N) % MM_CHUNK == 0 && (split_n ? M : N) >= 2 * MM_CHUNK)
        split_n = !split_n;
    /* sgemm: always chunks of rows, with every column: a chunk's product keeps the shape
     * of the unchunked one up to MM_CHUNK rows (an LM head's block of a few rows stays one
     * call over the whole vocabulary, which OpenBLAS's small-matrix kernels, with their own
     * bits, do not take) */
    if (blas) split_n = 0;
    int dim = split_n ? N : M;
    MmJob j = {.m = m, .blas = blas, .ta = ta, .tb = tb, .M = M, .N = N, .K = K, .lda = lda, .ldb = ldb,
               .ldc = ldc, .beta = beta, .split_n = split_n, .n_chunks = (dim + MM_CHUNK - 1) / MM_CHUNK,
               .A = A, .B = B, .C = C};
    memset(m->acts->att_rc, 0, sizeof m->acts->att_rc);
    if (blas) openblas_set_num_threads(1);
    if (j.n_chunks < 2)
        mm_part(&j, 0, 1);
    else
        par_run(m, mm_part, &j);
    if (blas) openblas_set_num_threads(g_threads);
    mm_collect(m);
}

static void mm_bf16(AfModel *m, int ta, int tb, int M, int N, int K, const void *A, int lda, const void *B,
                    int ldb, int beta, float *C, int ldc) {
    mm_run(m, 0, ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

/* An fp32 product of the linear layers on OpenBLAS: fixed chunks of MM_CHUNK output rows
 * (mm_run), each a single-threaded sgemm, shared by the model's threads. A row's bits
 * then depend on its chunk's shape only, never on model.threads, whatever OpenBLAS's core
 * does with its own thread split (its Haswell core changes a row's bits with it). */
static void mm_f32(AfModel *m, int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                   int beta, float *C, int ldc) {
    mm_run(m, 1, ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

/* y = x W^T (+ y when acc) (+ b): x (n, in), W (out, in), y (n, out); xb: x in bf16 (bf16
 * mode) or NULL. */
static void linear_fwd(AfModel *m, float *y, int acc, const float *x, const void *xb, const float *w,
                       const float *b, int n, int in, int out) {
    if (xb)
        mm_bf16(m, 0, 1, n, out, in, xb, in, wbf(m, w), in, acc, y, out);
    else
        mm_f32(m, 0, 1, n, out, in, x, in, w, in, acc, y, out);
    if (b)
        for (int i = 0; i < n; i++)
            for (int o = 0; o < out; o++) y[(size_t)i * out + o] += b[o];
}

/* dx (+)= dy W; dW += dy^T x; db += sum rows dy. xb: x in bf16 (bf16 mode) or NULL; dyb:
 * dy already in bf16 (bf16 mode), or NULL to round it into m->yb. */
static void linear_bwd(AfModel *m, float *dx, int accum_dx, float *dw, float *db, const float *dy, const void *dyb,
                       const float *x, const void *xb, const float *w, int n, int in, int out) {
    if (xb) {
        if (!dyb) {
            cvt_bf16(m, m->yb, dy, (size_t)n * out);
            dyb = m->yb;
        }
        if (dx) mm_bf16(m, 0, 0, n, in, out, dyb, out, wbf(m, w), in, accum_dx, dx, in);
        mm_bf16(m, 1, 0, out, in, n, dyb, out, xb, in, 1, dw, in);
    } else {
        if (dx) mm_f32(m, 0, 0, n, in, out, dy, out, w, in, accum_dx, dx, in);
        mm_f32(m, 1, 0, out, in, n, dy, out, x, in, 1, dw, in);
    }
    if (db)
        for (int i = 0; i < n; i++)
            for (int o = 0; o < out; o++) db[o] += dy[(size_t)i * out + o];
}

/* RMSNorm and RoPE, split over the model's threads by rows (forward, dx, RoPE) and by
 * columns (the weight gradient: each column summed over the rows in row order), so each
 * output is computed by the same operations, in the same order, whatever the split. */
typedef struct {
    float *y, *rstd, *dx, *dw;
    const float *x, *w, *dy, *rs;
    void *yb; /* forward: y in bf16 too, or NULL */
    int n, C, fma;
    float eps;
} NormJob;

static void norm_fwd_rows(void *c, size_t lo, size_t hi, int tid) {
    (void)tid;
    const NormJob *j = c;
    size_t C = (size_t)j->C;
    af_kernels()->rmsnorm(j->y + lo * C, j->rstd + lo, j->x + lo * C, j->w, (int)(hi - lo), j->C, j->eps);
    if (j->yb) op_round(j->yb, lo * C, j->y + lo * C, (hi - lo) * C, j->fma); /* while in cache */
}

/* y = rmsnorm(x) w, rstd = 1 / rms per row; with round (bf16 mode) y is also rounded into
 * m->xb, which is returned (else NULL): the products' input. */
static const void *rmsnorm_fwd(AfModel *m, float *y, float *rstd, const float *x, const float *w, int n, int C,
                               float eps, int round) {
    void *yb = round && m->compute == AF_COMPUTE_BF16 ? m->xb : NULL;
    NormJob j = {.y = y, .rstd = rstd, .x = x, .w = w, .yb = yb, .n = n, .C = C, .eps = eps, .fma = m->mm_fma};
    par_range(m, (size_t)n, 1, 64, norm_fwd_rows, &j);
    return yb;
}

static void norm_bwd_rows(void *c, size_t lo, size_t hi, int tid) {
    (void)tid;
    const NormJob *j = c;
    const size_t C = (size_t)j->C;
    af_kernels()->rmsnorm_bwd_rows(j->dx + lo * C, j->x + lo * C, j->dy + lo * C, j->w, j->rs + lo, (int)(hi - lo),
                                   j->C);
}

static void norm_bwd_cols(void *c, size_t lo, size_t hi, int tid) {
    (void)tid;
    const NormJob *j = c;
    af_kernels()->rmsnorm_bwd_w(j->dw, j->x, j->dy, j->rs, j->n, (size_t)j->C, lo, hi);
}

/* dx += d(rmsnorm)/dx^T dy; dw += sum dy * x * rstd */
static void rmsnorm_bwd(AfModel *m, float *dx, float *dw, const float *dy, const float *x, const float *rstd,
                        const float *w, int n, int C) {
    NormJob j = {.dx = dx, .dw = dw, .dy = dy, .x = x, .rs = rstd, .w = w, .n = n, .C = C};
    par_range(m, (size_t)n, 1, 64, norm_bwd_rows, &j);
    par_range(m, (size_t)C, 16, (size_t)C * n >= (1 << 14) ? 32 : (size_t)C + 1, norm_bwd_cols, &j);
}

typedef struct {
    float *q, *k; /* rows of QD and KD floats */
    const int *pos;
    const float *cos, *sin;
    int H, KV, hd, inverse;
} RopeJob;

static void rope_rows(void *c, size_t lo, size_t hi, int tid) {
    (void)tid;
    const RopeJob *j = c;
    const int half = j->hd / 2;
    const size_t QD = (size_t)j->H * j->hd, KD = (size_t)j->KV * j->hd;
    for (size_t i = lo; i < hi; i++) {
        const float *cs = j->cos + (size_t)j->pos[i] * half, *sn = j->sin + (size_t)j->pos[i] * half;
        af_kernels()->rope(j->q + i * QD, j->H, j->hd, cs, sn, j->inverse);
        af_kernels()->rope(j->k + i * KD, j->KV, j->hd, cs, sn, j->inverse);
    }
}

/* Rotate-half RoPE of the N rows of q (H heads) and k (KV heads) in place at their
 * positions; inverse=1 applies the transpose (backward). */
static void rope_qk(AfModel *m, float *q, float *k, int N, int inverse) {
    RopeJob j = {.q = q, .k = k, .pos = m->acts->pos, .cos = m->rope_cos, .sin = m->rope_sin, .H = m->cfg.n_heads,
                 .KV = m->cfg.n_kv_heads, .hd = m->head_dim, .inverse = inverse};
    par_range(m, (size_t)N, 1, 64, rope_rows, &j);
}

/* ------------------------------------------------------------------ attention
 * One work item = (sequence, key/value head): the item's query heads run in a fixed
 * order, so results never depend on the thread that ran the item, and GQA gradient
 * accumulation into dK/dV never races. Items are spread over up to AF_ATT_THREADS
 * threads, with OpenBLAS single-threaded inside the region (attention-sized products do
 * not scale with OpenBLAS threads). */
typedef struct {
    AfModel *m;
    int bwd;
    const float *q, *k, *v, *att; /* layer activations */
    float *lse;
    const int *seq_start;
    int n_items;
    /* bf16 mode: q, k, v and (backward) dO = datt in bf16, same layouts; NULL in fp32 */
    const void *qb, *kb, *vb, *dob;
} AttJob;

/* A bf16 attention product on thread tid's context (its failure kept for att_run). */
static void att_mm(const AttJob *j, int tid, int ta, int tb, int M, int N, int K, const void *A, int lda,
                   const void *B, int ldb, int beta, float *C, int ldc) {
    AfModelActs *a = j->m->acts;
    if (!a->att_rc[tid]) a->att_rc[tid] = mm_one(a, tid, j->m->mm_fma, 0, ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

/* One item. bf16 (j->qb): the five products take bf16 inputs (P and dS rounded per block
 * into Pb, dSb) with fp32 accumulation; the scale is applied to the fp32 scores after
 * the product; softmax, its gradient and the log-sum-exp stay fp32. */
static void att_item(const AttJob *j, int item, float *S, float *dP, int tid) {
    AfModel *m = j->m;
    AfModelActs *a = m->acts;
    const AfModelConfig *c = &m->cfg;
    int hd = m->head_dim, H = c->n_heads, KV = c->n_kv_heads, grp = H / KV;
    int QD = H * hd, KD = KV * hd;
    float scale = 1.0f / sqrtf((float)hd);
    int s = item / KV, kvh = item % KV;
    int s0 = j->seq_start[s], T = j->seq_start[s + 1] - s0;
    const float *Kh = j->k + (size_t)s0 * KD + kvh * hd;
    const float *Vh = j->v + (size_t)s0 * KD + kvh * hd;
    float *lse = j->lse;
    int bf = j->qb != NULL, fma = m->mm_fma;
    const void *Kb = bf ? op_at(j->kb, (size_t)s0 * KD + kvh * hd, fma) : NULL;
    const void *Vb = bf ? op_at(j->vb, (size_t)s0 * KD + kvh * hd, fma) : NULL;
    size_t pstride = (size_t)ATT_BLOCK * (size_t)(c->max_seq < m->max_tokens ? c->max_seq : m->max_tokens);
    void *Pb = bf ? (void *)op_at(a->pb, (size_t)tid * 2 * pstride, fma) : NULL;
    void *dSb = bf ? (void *)op_at(Pb, pstride, fma) : NULL;
    uint16_t *Pk = ops_u16(m) ? Pb : NULL, *dSk = ops_u16(m) ? dSb : NULL; /* the kernels write them */
    for (int h = kvh * grp; h < (kvh + 1) * grp; h++) {
        const float *Qh = j->q + (size_t)s0 * QD + h * hd;
        if (!j->bwd) {
            float *Oh = (float *)j->att + (size_t)s0 * QD + h * hd;
            for (int i0 = 0; i0 < T; i0 += ATT_BLOCK) {
                int nb = T - i0 < ATT_BLOCK ? T - i0 : ATT_BLOCK, nk = i0 + nb;
                if (bf)
                    att_mm(j, tid, 0, 1, nb, nk, hd, op_at(j->qb, (size_t)(s0 + i0) * QD + h * hd, fma), QD, Kb, KD, 0,
                           S, nk);
                else
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, nk, hd, scale,
                                Qh + (size_t)i0 * QD, QD, Kh, KD, 0.0f, S, nk);
                af_kernels()->att_softmax(S, nb, nk, i0, bf ? scale : 1.0f, lse + (size_t)(s0 + i0) * H + h,
                                          (size_t)H, Pk);
                if (bf) {
                    if (fma) op_round(Pb, 0, S, (size_t)nb * nk, fma);
                    att_mm(j, tid, 0, 0, nb, hd, nk, Pb, nk, Vb, KD, 0, Oh + (size_t)i0 * QD, QD);
                } else {
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nb, hd, nk, 1.0f, S, nk,
                                Vh, KD, 0.0f, Oh + (size_t)i0 * QD, QD);
                }
            }
            continue;
        }
        const float *dOh = a->datt + (size_t)s0 * QD + h * hd;
        float *dQh = a->dq + (size_t)s0 * QD + h * hd;
        float *dKh = a->dk + (size_t)s0 * KD + kvh * hd;
        float *dVh = a->dv + (size_t)s0 * KD + kvh * hd;
        for (int i0 = 0; i0 < T; i0 += ATT_BLOCK) {
            int nb = T - i0 < ATT_BLOCK ? T - i0 : ATT_BLOCK, nk = i0 + nb;
            const void *Qb = bf ? op_at(j->qb, (size_t)(s0 + i0) * QD + h * hd, fma) : NULL;
            const void *dOb = bf ? op_at(j->dob, (size_t)(s0 + i0) * QD + h * hd, fma) : NULL;
            if (bf) {
                att_mm(j, tid, 0, 1, nb, nk, hd, Qb, QD, Kb, KD, 0, S, nk);
                att_mm(j, tid, 0, 1, nb, nk, hd, dOb, QD, Vb, KD, 0, dP, nk);
            } else {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, nk, hd, scale,
                            Qh + (size_t)i0 * QD, QD, Kh, KD, 0.0f, S, nk);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, nk, hd, 1.0f,
                            dOh + (size_t)i0 * QD, QD, Vh, KD, 0.0f, dP, nk);
            }
            af_kernels()->att_softmax_bwd(S, dP, nb, nk, i0, bf ? scale : 1.0f, scale, lse + (size_t)(s0 + i0) * H + h,
                                          a->dsum + (size_t)(s0 + i0) * H + h, (size_t)H, Pk, dSk);
            /* dV[0:nk] += P^T dO ; dQ[block] = dS K ; dK[0:nk] += dS^T Q */
            if (bf) {
                if (fma) {
                    op_round(Pb, 0, S, (size_t)nb * nk, fma);
                    op_round(dSb, 0, dP, (size_t)nb * nk, fma);
                }
                att_mm(j, tid, 1, 0, nk, hd, nb, Pb, nk, dOb, QD, 1, dVh, KD);
                att_mm(j, tid, 0, 0, nb, hd, nk, dSb, nk, Kb, KD, 0, dQh + (size_t)i0 * QD, QD);
                att_mm(j, tid, 1, 0, nk, hd, nb, dSb, nk, Qb, QD, 1, dKh, KD);
                continue;
            }
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nk, hd, nb, 1.0f, S, nk,
                        dOh + (size_t)i0 * QD, QD, 1.0f, dVh, KD);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nb, hd, nk, 1.0f, dP, nk, Kh,
                        KD, 0.0f, dQh + (size_t)i0 * QD, QD);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nk, hd, nb, 1.0f, dP, nk,
                        Qh + (size_t)i0 * QD, QD, 1.0f, dKh, KD);
        }
    }
}

static void att_part(void *ctx, int tid, int nt) {
    const AttJob *j = ctx;
    AfModelActs *a = j->m->acts;
    size_t sz = a->scratch_floats;
    if (j->qb) af_bf16mm_set_threads(1); /* single-threaded products (att_run restores) */
    for (int it = tid; it < j->n_items; it += nt)
        att_item(j, it, a->S + (size_t)tid * sz, a->dP ? a->dP + (size_t)tid * sz : NULL, tid);
}

/* Run the attention items on the model's pool (re-created only when the thread setting
 * changed, so a steady-state step starts no threads and allocates nothing). */
static void att_run(const AttJob *j) {
    AfModel *m = j->m;
    memset(m->acts->att_rc, 0, sizeof m->acts->att_rc);
    openblas_set_num_threads(1); /* an item's products single-threaded: its bits whatever model.threads */
    if (par_threads(m) < 2 || j->n_items < 2)
        att_part((void *)j, 0, 1);
    else
        par_run(m, att_part, (void *)j);
    openblas_set_num_threads(g_threads);
    mm_collect(m);
}

/* bf16 mode: the layer's q, k, v (and dO) rounded into acts->qkvb for the attention. */
static void att_bf16(AfModel *m, AttJob *j, int N, const float *dO) {
    if (m->compute != AF_COMPUTE_BF16) return;
    int QD = m->cfg.n_heads * m->head_dim, KD = m->cfg.n_kv_heads * m->head_dim;
    void *b = m->acts->qkvb;
    int fma = m->mm_fma;
    j->qb = b, j->kb = op_at(b, (size_t)N * QD, fma), j->vb = op_at(b, (size_t)N * (QD + KD), fma);
    cvt_bf16(m, b, j->q, (size_t)N * QD);
    cvt_bf16(m, (void *)j->kb, j->k, (size_t)N * KD);
    cvt_bf16(m, (void *)j->vb, j->v, (size_t)N * KD);
    if (dO) {
        j->dob = op_at(b, (size_t)N * (QD + 2 * KD), fma);
        cvt_bf16(m, (void *)j->dob, dO, (size_t)N * QD);
    }
}

/* ------------------------------------------------------------------ LM head softmax, SwiGLU */

/* Log-prob of tok and entropy under softmax(z / T) of one logits row z (V); e: scratch
 * (V). Sets *lse to the log-sum-exp. LANES (a constant after inlining) is the number of
 * partial sums of the two double sums: 1 sums in index order (the all-rows path: its bits
 * unchanged), 8 in eight interleaved partial sums added at the end (the large-vocabulary
 * block path: vectorised; the same sums up to double rounding). */
static inline void lm_row_lanes(const float *z, int V, int32_t tok, float invT, float *e, float *lse, float *logp,
                                float *ent, const int LANES) {
    float mx = -INFINITY;
    /* as in af_decode_sample: round z / T to float, then subtract mx in a separate
     * loop (no FMA contraction), so the argmax's term is exactly 1 and logp <= 0 */
    int j = 0;
    if (LANES > 1) { /* the same maximum (bar the sign of a zero) in 16 lanes */
        float ml[16];
        for (int l = 0; l < 16; l++) ml[l] = -INFINITY;
        for (; j + 16 <= V; j += 16)
            for (int l = 0; l < 16; l++) {
                e[j + l] = z[j + l] * invT;
                ml[l] = e[j + l] > ml[l] ? e[j + l] : ml[l];
            }
        for (int l = 0; l < 16; l++) mx = ml[l] > mx ? ml[l] : mx;
    }
    for (; j < V; j++) {
        e[j] = z[j] * invT;
        mx = e[j] > mx ? e[j] : mx;
    }
    for (j = 0; j < V; j++) e[j] -= mx;
    af_vexpf(e, e, (size_t)V);
    double sum = 0, ez = 0;
    j = 0;
    if (LANES > 1) {
        double sl[8] = {0}, zl[8] = {0};
        for (; j + 8 <= V; j += 8)
            for (int l = 0; l < 8; l++) {
                sl[l] += e[j + l];
                zl[l] += (double)e[j + l] * (double)(z[j + l] * invT);
            }
        for (int l = 0; l < 8; l++) sum += sl[l], ez += zl[l];
    }
    for (; j < V; j++) {
        sum += e[j];
        ez += (double)e[j] * (double)(z[j] * invT);
    }
    double lse_d = mx + log(sum);
    *lse = (float)lse_d;
    if (logp) *logp = af_logp_from_lse(z[tok] * invT, lse_d);
    if (ent) *ent = (float)(lse_d - ez / sum);
}

static void lm_row(const float *z, int V, int32_t tok, float invT, float *e, float *lse, float *logp, float *ent) {
    lm_row_lanes(z, V, tok, invT, e, lse, logp, ent, 1);
}

static void lm_row8(const float *z, int V, int32_t tok, float invT, float *e, float *lse, float *logp, float *ent) {
    lm_row_lanes(z, V, tok, invT, e, lse, logp, ent, 8);
}

/* For one row: d logp_i / d logits_{i-1} = (onehot(tok_i) - softmax(z/T)) / T times
 * w = dlogp[i], plus d H_i / d logits_{i-1} = -p (log p + H_i) / T times we = dent[i]
 * (p = softmax(z/T)); z the logits, lse the forward's log-sum-exp; dz (V); lp: scratch
 * of V floats, used when we != 0. */
static void lm_row_grad(float *dz, float *lp, const float *z, int V, int32_t tok, float w, float we, float invT,
                        float lse) {
    for (int j = 0; j < V; j++) dz[j] = z[j] * invT - lse;
    if (we == 0) {
        af_vexpf(dz, dz, (size_t)V);
        for (int j = 0; j < V; j++) dz[j] *= -w * invT;
    } else {
        memcpy(lp, dz, (size_t)V * sizeof(float));
        af_vexpf(dz, dz, (size_t)V);
        double h = 0;
        for (int j = 0; j < V; j++) h -= (double)dz[j] * (double)lp[j];
        for (int j = 0; j < V; j++) dz[j] *= -(w + we * (lp[j] + (float)h)) * invT;
    }
    dz[tok] += w * invT;
}

typedef struct {
    AfModel *m;
    float invT;
    float *logp, *ent;     /* forward outputs or NULL */
    const float *dlogp;    /* backward input */
    const float *dent;     /* backward: dL/dH per token, or NULL */
    float *h;              /* SwiGLU: h = silu(g) * u (forward); dh in, dg out (backward) */
    const float *g, *u;
    float *du;
    uint16_t *hb, *dub;    /* SwiGLU, or NULL: h (forward) or dg (backward) in bf16; du in bf16 */
} RowJob;

/* Log-probs and entropies of tokens lo..hi-1 (logits row i-1 predicts token i; a first
 * token gets 0), lse_out of the rows used. */
static void lm_fwd_range(void *c, size_t lo, size_t hi, int tid) {
    const RowJob *j = c;
    AfModelActs *a = j->m->acts;
    int V = j->m->cfg.vocab_size;
    float *e = a->S + (size_t)tid * a->scratch_floats; /* scratch row of V floats */
    for (size_t i = lo; i < hi; i++) {
        if (a->pos[i] == 0) {
            if (j->logp) j->logp[i] = 0;
            if (j->ent) j->ent[i] = 0;
            continue;
        }
        lm_row(a->logits + (i - 1) * V, V, a->tokens[i], j->invT, e, &a->lse_out[i - 1], j->logp ? &j->logp[i] : NULL,
               j->ent ? &j->ent[i] : NULL);
    }
}

/* dlogits rows lo..hi-1: d logp_{r+1} / d logits_r = (onehot(tok_{r+1}) - softmax(z_r / T)) / T
 * times dlogp[r+1]; zero for the last row of a sequence. */
static void lm_bwd_range(void *c, size_t lo, size_t hi, int tid) {
    const RowJob *j = c;
    AfModelActs *a = j->m->acts;
    int V = j->m->cfg.vocab_size;
    float *lp = a->S + (size_t)tid * a->scratch_floats; /* scratch row of V floats */
    for (size_t r = lo; r < hi; r++) {
        float *dz = a->dlogits + r * V;
        const int used = r + 1 < (size_t)a->N && a->pos[r + 1] != 0;
        float w = used ? j->dlogp[r + 1] : 0.0f, we = used && j->dent ? j->dent[r + 1] : 0.0f;
        if (w == 0 && we == 0) {
            memset(dz, 0, (size_t)V * sizeof(float));
            continue;
        }
        lm_row_grad(dz, lp, a->logits + r * V, V, a->tokens[r + 1], w, we, j->invT, a->lse_out[r]);
    }
}

static void silu_fwd_range(void *c, size_t lo, size_t hi, int tid) {
    (void)tid;
    const RowJob *j = c;
    if (j->hb)
        af_kernels()->silu_mul_bf16(j->h + lo, j->hb + lo, j->g + lo, j->u + lo, hi - lo);
    else
        af_kernels()->silu_mul(j->h + lo, j->g + lo, j->u + lo, hi - lo);
}

/* The attention backward's per-row sums D = O . dO of each head (into j->h, (N, H)) for
 * rows lo..hi-1: O in j->g, dO in j->u. */
static void att_dsum_range(void *c, size_t lo, size_t hi, int tid) {
    (void)tid;
    const RowJob *j = c;
    const AfModelConfig *cf = &j->m->cfg;
    const size_t H = (size_t)cf->n_heads, hd = (size_t)j->m->head_dim;
    af_kernels()->att_dsum(j->h + lo * H, j->g + lo * H * hd, j->u + lo * H * hd, hi - lo, (int)H, (int)hd);
}

/* SwiGLU backward: dh (in j->h) -> du = dh g s, dg = dh u s (1 + g (1 - s)) (into j->h),
 * s = sigmoid(g). */
static void silu_bwd_range(void *c, size_t lo, size_t hi, int tid) {
    (void)tid;
    const RowJob *j = c;
    af_kernels()->silu_bwd(j->h + lo, j->du + lo, j->g + lo, j->u + lo, hi - lo, j->hb ? j->hb + lo : NULL,
                           j->dub ? j->dub + lo : NULL);
}

/* ------------------------------------------------------------------ forward */


/* Row p of the LM head predicts token p + 1 of its sequence: used when p + 1 is in the
 * same sequence (and, with need, wanted). */
static int lm_row_used(const AfModelActs *a, int p, const uint8_t *need) {
    return p + 1 < a->N && a->pos[p + 1] != 0 && (!need || need[p + 1]);
}

void af_model_set_logit_mask(AfModel *m, const uint8_t *const *rows) { m->lmask = rows; }

/* Logits row z predicts token i: with a mask for i (af_model_set_logit_mask), the masked
 * tokens' logits become AF_LOGIT_MASKED. */
static void lm_mask_row(const AfModel *m, float *z, int i) {
    const uint8_t *b = m->lmask ? m->lmask[i] : NULL;
    if (!b) return;
    const int V = m->cfg.vocab_size;
    for (int j = 0; j < V; j++)
        if (!af_mask_has(b, (size_t)j)) z[j] = AF_LOGIT_MASKED;
}

/* The block path's blocks run between lm_blocks_begin and lm_blocks_end (g_lmb.mu held):
 * a->logits (and a->dlogits, the gradient computed in place) point at the shared buffer. */
static void lm_blocks_begin(AfModel *m) {
    pthread_mutex_lock(&g_lmb.mu);
    m->acts->logits = m->acts->dlogits = g_lmb.buf;
}

static void lm_blocks_end(AfModel *m) {
    m->acts->logits = m->acts->dlogits = NULL;
    pthread_mutex_unlock(&g_lmb.mu);
}

/* The shared buffer for a block of k rows of this model (grown, its content not kept: a
 * new block is computed into it), and this model its owner. Returns 0, AF_ENOMEM. */
static int lm_block_reserve(AfModel *m, int k) {
    AfModelActs *a = m->acts;
    size_t n = (size_t)k * (size_t)m->cfg.vocab_size;
    g_lmb.owner = a;
    if (n > g_lmb.floats) {
        free(g_lmb.buf);
        g_lmb.floats = 0;
        g_lmb.owner = NULL;
        a->logits = a->dlogits = g_lmb.buf = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64); /* written first */
        if (!g_lmb.buf)
            return af_error_set(AF_ENOMEM, "af_model: out of memory for an LM-head block of %d rows (%zu floats)", k, n);
        g_lmb.floats = n;
        g_lmb.owner = a;
    }
    return 0;
}

/* The block path of the LM head: the logits of the k rows rows[0..k) (k <= lm_rows), their
 * final-norm outputs gathered into lm_x, the rows into lm_idx. Returns 0, AF_ENOMEM. */
static int lm_block_logits(AfModel *m, const int *rows, int k) {
    AfModelActs *a = m->acts;
    const int C = m->cfg.d_model;
    int rc = lm_block_reserve(m, k);
    if (rc) return rc;
    for (int j = 0; j < k; j++) {
        a->lm_idx[j] = rows[j];
        memcpy(a->lm_x + (size_t)j * C, a->xnf + (size_t)rows[j] * C, (size_t)C * sizeof(float));
    }
    linear_fwd(m, a->logits, 0, a->lm_x, to_bf16(m, a->lm_x, (size_t)k * C), m->p.lm_head, NULL, k, C,
               m->cfg.vocab_size);
    if (m->lmask)
        for (int j = 0; j < k; j++) lm_mask_row(m, a->logits + (size_t)j * m->cfg.vocab_size, rows[j] + 1);
    return 0;
}

/* Rows lo..hi-1 of a block: log-probs, entropies and lse_out of the rows lm_idx[lo..hi). */
static void lm_block_fwd_range(void *c, size_t lo, size_t hi, int tid) {
    const RowJob *j = c;
    AfModelActs *a = j->m->acts;
    const int V = j->m->cfg.vocab_size;
    float *e = a->S + (size_t)tid * a->scratch_floats; /* scratch row of V floats */
    for (size_t r = lo; r < hi; r++) {
        const int i = a->lm_idx[r] + 1;
        lm_row8(a->logits + r * V, V, a->tokens[i], j->invT, e, &a->lse_out[i - 1], j->logp ? &j->logp[i] : NULL,
               j->ent ? &j->ent[i] : NULL);
    }
}

/* The block path of the LM head's forward: the used rows, lm_rows at a time (the rows
 * split over the attention workers). The last block's logits stay (lm_kept) for a
 * backward over the same rows. Returns 0, AF_ENOMEM. */
static int lm_forward_blocks(AfModel *m, const uint8_t *need, float invT, float *logp_out, float *entropy_out) {
    AfModelActs *a = m->acts;
    RowJob lj = {.m = m, .invT = invT, .logp = logp_out, .ent = entropy_out};
    int *rows = a->lm_all ? a->lm_all : a->lm_idx, n = 0;
    a->lm_kept = 0;
    for (int p = 0; p < a->N; p++) a->lse_out[p] = NAN;
    for (int p = 0; p < a->N; p++) {
        if (lm_row_used(a, p, need)) rows[n++] = p;
        if (n == a->lm_rows || (n > 0 && p == a->N - 1)) {
            int rc = lm_block_logits(m, rows, n);
            if (rc) return rc;
            par_range(m, (size_t)n, 1, 2, lm_block_fwd_range, &lj);
            a->lm_kept = n;
            n = 0;
        }
    }
    return 0;
}

int af_model_forward(AfModel *m, const int32_t *tokens, const int *seq_start, int n_seqs,
                     float temperature, float *logp_out, float *entropy_out) {
    return af_model_forward_need(m, tokens, seq_start, n_seqs, temperature, NULL, logp_out, entropy_out);
}

int af_model_forward_need(AfModel *m, const int32_t *tokens, const int *seq_start, int n_seqs,
                          float temperature, const uint8_t *need, float *logp_out, float *entropy_out) {
    if (!m->acts) return af_error_set(AF_ESTATE, "af_model_forward: model created without a learner batch");
    const AfModelConfig *c = &m->cfg;
    AfModelActs *a = m->acts;
    if (n_seqs < 1 || n_seqs > m->max_seqs)
        return af_error_set(AF_EINVAL, "af_model_forward: n_seqs %d outside 1..%d", n_seqs, m->max_seqs);
    if (!(temperature > 0) || !isfinite(temperature))
        return af_error_set(AF_EINVAL, "af_model_forward: temperature must be > 0, got %g", temperature);
    if (seq_start[0] != 0) return af_error_set(AF_EINVAL, "af_model_forward: seq_start[0] must be 0");
    for (int s = 0; s < n_seqs; s++) {
        int T = seq_start[s + 1] - seq_start[s];
        if (T < 1 || T > c->max_seq)
            return af_error_set(AF_EINVAL, "af_model_forward: sequence %d has length %d (allowed 1..%d)",
                                s, T, c->max_seq);
        if (seq_start[s + 1] > m->max_tokens)
            return af_error_set(AF_EINVAL, "af_model_forward: %d tokens exceed the batch capacity %d",
                                seq_start[n_seqs], m->max_tokens);
    }
    int N = seq_start[n_seqs];
    for (int i = 0; i < N; i++)
        if (tokens[i] < 0 || tokens[i] >= c->vocab_size) {
            int s = 0;
            while (seq_start[s + 1] <= i) s++;
            return af_error_set(AF_EINVAL, "af_model_forward: sequence %d position %d: token %d outside vocabulary 0..%d",
                                s, i - seq_start[s], tokens[i], c->vocab_size - 1);
        }
    a->N = N;
    a->n_seqs = n_seqs;
    a->temperature = temperature;
    memcpy(a->seq_start, seq_start, (size_t)(n_seqs + 1) * sizeof(int));
    memcpy(a->tokens, tokens, (size_t)N * sizeof(int32_t));
    for (int s = 0; s < n_seqs; s++)
        for (int i = seq_start[s]; i < seq_start[s + 1]; i++) a->pos[i] = i - seq_start[s];

    int C = c->d_model, hd = m->head_dim, H = c->n_heads, KV = c->n_kv_heads, F = c->d_ff;
    int QD = H * hd, KD = KV * hd, V = c->vocab_size;
    size_t NC = (size_t)N * C;

    m->mm_rc = 0;
    if (m->compute == AF_COMPUTE_BF16) cvt_bf16(m, m->wb, m->params, m->n_params);
    for (int i = 0; i < N; i++)
        memcpy(a->x + (size_t)i * C, m->p.embed + (size_t)tokens[i] * C, (size_t)C * sizeof(float));
    for (int l = 0; l < c->n_layers; l++) {
        const AfLayerParams *P = &m->p.layers[l];
        size_t ln = (size_t)l * m->max_tokens;
        float *x = a->x + ln * C, *xn1 = a->xn1 + ln * C, *rstd1 = a->rstd1 + ln;
        float *q = a->q + ln * QD, *k = a->k + ln * KD, *v = a->v + ln * KD;
        float *att = a->att + ln * QD, *lse = a->lse + ln * H;
        float *xmid = a->xmid + ln * C, *xn2 = a->xn2 + ln * C, *rstd2 = a->rstd2 + ln;
        float *g = a->g + ln * F, *u = a->u + ln * F, *hh = a->h + ln * F;
        float *xnext = a->x + (ln + m->max_tokens) * C;

        const void *xb = rmsnorm_fwd(m, xn1, rstd1, x, P->attn_norm, N, C, c->rms_eps, 1);
        linear_fwd(m, q, 0, xn1, xb, P->wq, P->bq, N, C, QD);
        linear_fwd(m, k, 0, xn1, xb, P->wk, P->bk, N, C, KD);
        linear_fwd(m, v, 0, xn1, xb, P->wv, P->bv, N, C, KD);
        if (c->qk_norm) { /* per-head RMSNorm before RoPE; rows of hd floats */
            float *qpre = a->qpre + ln * QD, *kpre = a->kpre + ln * KD;
            memcpy(qpre, q, (size_t)N * QD * sizeof(float));
            memcpy(kpre, k, (size_t)N * KD * sizeof(float));
            rmsnorm_fwd(m, q, a->rstdq + ln * H, qpre, P->q_norm, N * H, hd, c->rms_eps, 0);
            rmsnorm_fwd(m, k, a->rstdk + ln * KV, kpre, P->k_norm, N * KV, hd, c->rms_eps, 0);
        }
        rope_qk(m, q, k, N, 0);
        AttJob job = {.m = m, .bwd = 0, .q = q, .k = k, .v = v, .att = att, .lse = lse,
                      .seq_start = seq_start, .n_items = n_seqs * KV};
        att_bf16(m, &job, N, NULL);
        att_run(&job);
        memcpy(xmid, x, NC * sizeof(float));
        linear_fwd(m, xmid, 1, att, to_bf16(m, att, (size_t)N * QD), P->wo, NULL, N, QD, C);
        xb = rmsnorm_fwd(m, xn2, rstd2, xmid, P->mlp_norm, N, C, c->rms_eps, 1);
        linear_fwd(m, g, 0, xn2, xb, P->wgate, NULL, N, C, F);
        linear_fwd(m, u, 0, xn2, xb, P->wup, NULL, N, C, F);
        /* bf16 (not fma): h is rounded into m->xb by the SwiGLU itself */
        const int sw16 = ops_u16(m);
        RowJob sj = {.m = m, .h = hh, .g = g, .u = u, .hb = sw16 ? m->xb : NULL};
        par_range(m, (size_t)N * F, 64, 1 << 14, silu_fwd_range, &sj);
        memcpy(xnext, xmid, NC * sizeof(float));
        linear_fwd(m, xnext, 1, hh, sw16 ? m->xb : to_bf16(m, hh, (size_t)N * F), P->wdown, NULL, N, F, C);
    }
    float *xf = a->x + (size_t)c->n_layers * m->max_tokens * C;
    const void *xfb = rmsnorm_fwd(m, a->xnf, a->rstdf, xf, m->p.final_norm, N, C, c->rms_eps, !a->lm_block);

    float invT = 1.0f / temperature;
    if (a->lm_block) { /* large vocabulary: only the used rows, a block at a time */
        for (int s = 0; s < n_seqs; s++) {
            for (int i = seq_start[s]; i < seq_start[s + 1]; i++) {
                if (logp_out) logp_out[i] = 0;
                if (entropy_out) entropy_out[i] = 0;
            }
        }
        lm_blocks_begin(m);
        int rc = lm_forward_blocks(m, need, invT, logp_out, entropy_out);
        lm_blocks_end(m);
        if (rc) return rc;
        if (m->mm_rc) return m->mm_rc;
        m->fwd_valid = 1;
        return 0;
    }
    linear_fwd(m, a->logits, 0, a->xnf, xfb, m->p.lm_head, NULL, N, C, V);
    if (m->mm_rc) return m->mm_rc;
    if (m->lmask)
        for (int p = 0; p + 1 < N; p++)
            if (a->pos[p + 1] != 0) lm_mask_row(m, a->logits + (size_t)p * V, p + 1);

    RowJob lj = {.m = m, .invT = invT, .logp = logp_out, .ent = entropy_out};
    par_range(m, (size_t)N, 1, 16, lm_fwd_range, &lj);
    m->fwd_valid = 1;
    return 0;
}

/* ------------------------------------------------------------------ backward */


/* Rows lo..hi-1 of a block: their logits turned into the gradient, in place. */
static void lm_block_bwd_range(void *c, size_t lo, size_t hi, int tid) {
    const RowJob *j = c;
    AfModelActs *a = j->m->acts;
    const int V = j->m->cfg.vocab_size;
    float *lp = a->S + (size_t)tid * a->scratch_floats; /* scratch row of V floats */
    for (size_t r = lo; r < hi; r++) {
        const int i = a->lm_idx[r] + 1;
        float *z = a->logits + r * V;
        lm_row_grad(z, lp, z, V, a->tokens[i], j->dlogp[i], j->dent ? j->dent[i] : 0.0f, j->invT, a->lse_out[i - 1]);
    }
}

/* The block path of the LM head's backward: the rows of nonzero weight, lm_rows at a
 * time, last block first: its logits are the forward's when it holds the same rows
 * (lm_kept), else they are recomputed from the saved final-norm outputs; the gradient
 * is computed in place over them. Sets a->dxn. */
static int lm_backward_blocks(AfModel *m, const float *dlogp, const float *dent) {
    AfModelActs *a = m->acts;
    const int C = m->cfg.d_model, V = m->cfg.vocab_size, N = a->N;
    RowJob lj = {.m = m, .invT = 1.0f / a->temperature, .dlogp = dlogp, .dent = dent};
    memset(a->dxn, 0, (size_t)N * C * sizeof(float));
    int n = 0;
    for (int p = 0; p < N; p++) {
        if (!lm_row_used(a, p, NULL) || (dlogp[p + 1] == 0 && !(dent && dent[p + 1] != 0))) continue;
        if (isnan(a->lse_out[p]))
            return af_error_set(AF_ESTATE, "af_model_backward: token %d has a weight but its log-prob was not "
                                           "computed by the forward (need)", p + 1);
        a->lm_all[n++] = p;
    }
    for (int b = (n + a->lm_rows - 1) / a->lm_rows - 1; b >= 0; b--) {
        const int *rows = a->lm_all + (size_t)b * a->lm_rows;
        const int k = n - b * a->lm_rows < a->lm_rows ? n - b * a->lm_rows : a->lm_rows;
        if (!(a->lm_kept == k && g_lmb.owner == a && !memcmp(a->lm_idx, rows, (size_t)k * sizeof(int)))) {
            int rc = lm_block_logits(m, rows, k);
            if (rc) return rc;
        }
        a->lm_kept = 0;
        par_range(m, (size_t)k, 1, 2, lm_block_bwd_range, &lj);
        const void *xb = to_bf16(m, a->lm_x, (size_t)k * C);
        void *yb = m->yb;
        if (xb) { /* the block's gradient in bf16 goes to lm_yb, grown to the block's rows */
            size_t need = (size_t)k * (size_t)V;
            if (need > a->lm_yb_cap) {
                free(a->lm_yb);
                a->lm_yb_cap = 0;
                if (!(a->lm_yb = aligned_alloc(64, (need * (m->mm_fma ? sizeof(float) : sizeof(uint16_t)) + 63) / 64 * 64)))
                    return af_error_set(AF_ENOMEM, "af_model_backward: out of memory for an LM-head block of %d "
                                                   "rows in bf16", k);
                a->lm_yb_cap = need;
            }
            m->yb = a->lm_yb;
        }
        linear_bwd(m, a->lm_dx, 0, m->g.lm_head, NULL, a->dlogits, NULL, a->lm_x, xb, m->p.lm_head, k, C, V);
        m->yb = yb;
        for (int j = 0; j < k; j++)
            memcpy(a->dxn + (size_t)a->lm_idx[j] * C, a->lm_dx + (size_t)j * C, (size_t)C * sizeof(float));
    }
    a->lm_kept = 0;
    return 0;
}

int af_model_backward(AfModel *m, const float *dlogp) { return af_model_backward_ent(m, dlogp, NULL); }

int af_model_backward_ent(AfModel *m, const float *dlogp, const float *dent) {
    if (!m->grads || !m->acts || !m->acts->dx)
        return af_error_set(AF_ESTATE, "af_model_backward: model created without gradients");
    if (!m->fwd_valid) return af_error_set(AF_ESTATE, "af_model_backward: no forward since the last backward");
    const AfModelConfig *c = &m->cfg;
    AfModelActs *a = m->acts;
    int N = a->N, C = c->d_model, hd = m->head_dim, H = c->n_heads, KV = c->n_kv_heads;
    int F = c->d_ff, QD = H * hd, KD = KV * hd, V = c->vocab_size;
    float invT = 1.0f / a->temperature;

    float *xf = a->x + (size_t)c->n_layers * m->max_tokens * C;
    m->mm_rc = 0;
    size_t NC = (size_t)N * C;
    if (a->lm_block) {
        lm_blocks_begin(m);
        int rc = lm_backward_blocks(m, dlogp, dent);
        lm_blocks_end(m);
        if (rc) return rc;
    } else { /* all rows at once */
        RowJob lj = {.m = m, .invT = invT, .dlogp = dlogp, .dent = dent};
        par_range(m, (size_t)N, 1, 16, lm_bwd_range, &lj);
        linear_bwd(m, a->dxn, 0, m->g.lm_head, NULL, a->dlogits, NULL, a->xnf, to_bf16(m, a->xnf, NC), m->p.lm_head, N, C,
                   V);
    }
    memset(a->dx, 0, (size_t)N * C * sizeof(float));
    rmsnorm_bwd(m, a->dx, m->g.final_norm, a->dxn, xf, a->rstdf, m->p.final_norm, N, C);

    for (int l = c->n_layers - 1; l >= 0; l--) {
        const AfLayerParams *P = &m->p.layers[l];
        AfLayerParams *G = &m->g.layers[l];
        size_t ln = (size_t)l * m->max_tokens;
        float *x = a->x + ln * C, *xn1 = a->xn1 + ln * C, *rstd1 = a->rstd1 + ln;
        float *q = a->q + ln * QD, *k = a->k + ln * KD, *v = a->v + ln * KD;
        float *att = a->att + ln * QD, *lse = a->lse + ln * H;
        float *xmid = a->xmid + ln * C, *xn2 = a->xn2 + ln * C, *rstd2 = a->rstd2 + ln;
        float *g = a->g + ln * F, *u = a->u + ln * F, *hh = a->h + ln * F;

        /* MLP: dx is the gradient w.r.t. this layer's output == d xmid (residual) */
        float *dh = a->dg; /* reuse: dh then dg in place */
        linear_bwd(m, dh, 0, G->wdown, NULL, a->dx, NULL, hh, to_bf16(m, hh, (size_t)N * F), P->wdown, N, F, C);
        /* bf16 (not fma): the SwiGLU backward rounds dg and du into m->yb's two parts */
        const int sw16 = ops_u16(m);
        uint16_t *dgb = sw16 ? m->yb : NULL, *dub = sw16 ? (uint16_t *)m->yb + a->yb_f : NULL;
        RowJob sj = {.m = m, .h = a->dg, .g = g, .u = u, .du = a->du, .hb = dgb, .dub = dub};
        par_range(m, (size_t)N * F, 64, 1 << 14, silu_bwd_range, &sj);
        const void *xb = to_bf16(m, xn2, NC);
        linear_bwd(m, a->dxn, 0, G->wgate, NULL, a->dg, dgb, xn2, xb, P->wgate, N, C, F);
        linear_bwd(m, a->dxn, 1, G->wup, NULL, a->du, dub, xn2, xb, P->wup, N, C, F);
        rmsnorm_bwd(m, a->dx, G->mlp_norm, a->dxn, xmid, rstd2, P->mlp_norm, N, C);

        /* attention output projection */
        linear_bwd(m, a->datt, 0, G->wo, NULL, a->dx, NULL, att, to_bf16(m, att, (size_t)N * QD), P->wo, N, QD, C);
        memset(a->dk, 0, (size_t)N * KD * sizeof(float));
        memset(a->dv, 0, (size_t)N * KD * sizeof(float));
        AttJob job = {.m = m, .bwd = 1, .q = q, .k = k, .v = v, .att = att, .lse = lse,
                      .seq_start = a->seq_start, .n_items = a->n_seqs * KV};
        att_bf16(m, &job, N, a->datt);
        RowJob dj = {.m = m, .h = a->dsum, .g = att, .u = a->datt};
        par_range(m, (size_t)N, 16, 256, att_dsum_range, &dj);
        att_run(&job);
        rope_qk(m, a->dq, a->dk, N, 1);
        float *dqp = a->dq, *dkp = a->dk;
        if (c->qk_norm) { /* datt is free once the attention backward ran */
            dqp = a->datt;
            dkp = a->dkpre;
            memset(dqp, 0, (size_t)N * QD * sizeof(float));
            memset(dkp, 0, (size_t)N * KD * sizeof(float));
            rmsnorm_bwd(m, dqp, G->q_norm, a->dq, a->qpre + ln * QD, a->rstdq + ln * H, P->q_norm, N * H, hd);
            rmsnorm_bwd(m, dkp, G->k_norm, a->dk, a->kpre + ln * KD, a->rstdk + ln * KV, P->k_norm, N * KV, hd);
        }
        xb = to_bf16(m, xn1, NC);
        linear_bwd(m, a->dxn, 0, G->wq, G->bq, dqp, NULL, xn1, xb, P->wq, N, C, QD);
        linear_bwd(m, a->dxn, 1, G->wk, G->bk, dkp, NULL, xn1, xb, P->wk, N, C, KD);
        linear_bwd(m, a->dxn, 1, G->wv, G->bv, a->dv, NULL, xn1, xb, P->wv, N, C, KD);
        rmsnorm_bwd(m, a->dx, G->attn_norm, a->dxn, x, rstd1, P->attn_norm, N, C);
    }
    for (int i = 0; i < N; i++) {
        float *ge = m->g.embed + (size_t)a->tokens[i] * C;
        const float *d = a->dx + (size_t)i * C;
        for (int j = 0; j < C; j++) ge[j] += d[j];
    }
    m->fwd_valid = 0;
    return m->mm_rc;
}
