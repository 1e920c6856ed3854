/* Helpers shared by the model tests: tiny configs and a deterministic parameter fill
 * larger than the production init, so gradients are far from float round-off. */
#ifndef AF_TESTS_MODEL_TESTLIB_H
#define AF_TESTS_MODEL_TESTLIB_H

#include <string.h>

#include "common/model.h"
#include "common/rng.h"

static inline AfModelConfig tiny_config(int kv_heads, int bias, int tied) {
    AfModelConfig c = af_model_config_default();
    c.vocab_size = 37;
    c.d_model = 16;
    c.n_layers = 2;
    c.n_heads = 4;
    c.n_kv_heads = kv_heads;
    c.d_ff = 24;
    c.max_seq = 128;
    c.rope_theta = 100.0f;
    c.rms_eps = 1e-5f;
    c.qkv_bias = bias;
    c.tied_embeddings = tied;
    return c;
}

/* The Qwen3 / Llama-3 knobs on a tiny config: q/k norms, head_dim 6 (not d_model /
 * n_heads), llama3 RoPE scaling whose bands all occur with rope_theta 100 and hd 6. */
static inline void tiny_family_knobs(AfModelConfig *c) {
    c->qk_norm = 1;
    c->head_dim = 6;
    c->rope_llama3 = 1;
    c->rope_factor = 8;
    c->rope_low_freq_factor = 1;
    c->rope_high_freq_factor = 4;
    c->rope_orig_max_pos = 64;
}

/* Fill parameters with N(0, scale^2) from the test stream; norms around 1. */
static inline void fill_params(AfModel *m, uint64_t seed, double scale) {
    AfRng r;
    af_rng_init(&r, seed, AF_RNG_TEST, 1, 0, 0);
    for (int i = 0; i < m->n_tensors; i++) {
        const AfTensorInfo *t = &m->tensors[i];
        float *p = m->params + t->offset;
        int is_norm = strstr(t->name, "norm.weight") != NULL;
        for (size_t j = 0; j < t->numel; j++)
            p[j] = is_norm ? (float)(1.0 + 0.2 * af_rng_normal(&r)) : (float)(scale * af_rng_normal(&r));
    }
    m->fwd_valid = 0;
}

static inline void fill_tokens(int32_t *t, int n, int vocab, uint64_t seed, uint32_t stream) {
    AfRng r;
    af_rng_init(&r, seed, AF_RNG_TEST, 2, stream, 0);
    for (int i = 0; i < n; i++) t[i] = (int32_t)af_rng_below(&r, (uint32_t)vocab);
}

#endif
