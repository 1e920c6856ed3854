/* The manifest of a checkpoint: build, decode, check (format: learner/ckpt_manifest.h). */
#include "learner/ckpt_manifest.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "common/checksum.h"
#include "common/error.h"

const char *const af_ckpt_kind_name[AF_CKPT_N_KIND] = {"param", "adam_m", "adam_v", "ref"};

void af_ckpt_shape_to_pb(const AfModelConfig *c, Agentflow__ModelShape *p) {
    agentflow__model_shape__init(p);
    p->vocab_size = (uint32_t)c->vocab_size;
    p->d_model = (uint32_t)c->d_model;
    p->n_layers = (uint32_t)c->n_layers;
    p->n_heads = (uint32_t)c->n_heads;
    p->n_kv_heads = (uint32_t)c->n_kv_heads;
    p->d_ff = (uint32_t)c->d_ff;
    p->max_seq = (uint32_t)c->max_seq;
    p->rope_theta = c->rope_theta;
    p->rms_eps = c->rms_eps;
    p->qkv_bias = c->qkv_bias != 0;
    p->tied_embeddings = c->tied_embeddings != 0;
    p->head_dim = (uint32_t)c->head_dim;
    p->qk_norm = c->qk_norm != 0;
    p->rope_llama3 = c->rope_llama3 != 0;
    p->rope_factor = c->rope_factor;
    p->rope_low_freq_factor = c->rope_low_freq_factor;
    p->rope_high_freq_factor = c->rope_high_freq_factor;
    p->rope_orig_max_pos = (uint32_t)c->rope_orig_max_pos;
}

int af_ckpt_shape_from_pb(const Agentflow__ModelShape *p, AfModelConfig *c) {
    const uint32_t lim = 1u << 30;
    *c = (AfModelConfig){0}; /* an old manifest's absent fields decode as 0: their old meaning */
    if (p->vocab_size > lim || p->d_model > lim || p->n_layers > lim || p->n_heads > lim ||
        p->n_kv_heads > lim || p->d_ff > lim || p->max_seq > lim || p->head_dim > lim || p->rope_orig_max_pos > lim)
        return -1;
    c->vocab_size = (int)p->vocab_size;
    c->d_model = (int)p->d_model;
    c->n_layers = (int)p->n_layers;
    c->n_heads = (int)p->n_heads;
    c->n_kv_heads = (int)p->n_kv_heads;
    c->d_ff = (int)p->d_ff;
    c->max_seq = (int)p->max_seq;
    c->rope_theta = p->rope_theta;
    c->rms_eps = p->rms_eps;
    c->qkv_bias = p->qkv_bias;
    c->tied_embeddings = p->tied_embeddings;
    c->head_dim = (int)p->head_dim;
    c->qk_norm = p->qk_norm;
    c->rope_llama3 = p->rope_llama3;
    c->rope_factor = p->rope_factor;
    c->rope_low_freq_factor = p->rope_low_freq_factor;
    c->rope_high_freq_factor = p->rope_high_freq_factor;
    c->rope_orig_max_pos = (int)p->rope_orig_max_pos;
    return 0;
}

/* XXH64 of a list of checksums, 8 bytes little-endian each. */
uint64_t af_ckpt_combine(const uint64_t *sums, size_t n) {
    AfChecksum64State st;
    af_checksum64_reset(&st, 0);
    for (size_t i = 0; i < n; i++) {
        uint8_t b[8];
        for (int j = 0; j < 8; j++) b[j] = (uint8_t)(sums[i] >> (8 * j));
        af_checksum64_update(&st, b, 8);
    }
    return af_checksum64_digest(&st);
}

uint64_t af_ckpt_entry_sum(const Agentflow__TensorEntry *e, int kind) {
    switch (kind) {
    case AF_CKPT_PARAM: return e->checksum;
    case AF_CKPT_ADAM_M: return e->adam_m_checksum;
    case AF_CKPT_ADAM_V: return e->adam_v_checksum;
    default: return e->ref_checksum;
    }
}

static uint64_t manifest_sum(const Agentflow__CheckpointManifest *m, int kind) {
    switch (kind) {
    case AF_CKPT_PARAM: return m->params_checksum;
    case AF_CKPT_ADAM_M: return m->adam_m_checksum;
    case AF_CKPT_ADAM_V: return m->adam_v_checksum;
    default: return m->ref_checksum;
    }
}

static uint64_t combine_entries(const Agentflow__CheckpointManifest *m, int kind) {
    uint64_t *tmp = malloc((m->n_tensors ? m->n_tensors : 1) * sizeof *tmp);
    AF_ASSERT(tmp);
    for (size_t i = 0; i < m->n_tensors; i++) tmp[i] = af_ckpt_entry_sum(m->tensors[i], kind);
    uint64_t r = af_ckpt_combine(tmp, m->n_tensors);
    free(tmp);
    return r;
}

/* Decode and check the internal consistency of a manifest (`what` names it in errors:
 * "checkpoint step 30", "reference"). On success *out is owned by the caller
 * (agentflow__checkpoint_manifest__free_unpacked). */
int af_ckpt_manifest_decode(const void *bytes, size_t len, const char *dir, const char *what, uint64_t step,
                            int is_ref, Agentflow__CheckpointManifest **out) {
    *out = NULL;
    Agentflow__CheckpointManifest *m = agentflow__checkpoint_manifest__unpack(NULL, len, bytes);
    if (!m) return af_error_set(AF_EFORMAT, "%s: %s: manifest does not decode (%zu bytes)", dir, what, len);
    int rc = 0;
    AfModelConfig c;
    if (!is_ref && m->step != step) {
        rc = af_error_set(AF_EFORMAT, "%s: %s: manifest says step %" PRIu64, dir, what, m->step);
        goto fail;
    }
    if (!m->shape || af_ckpt_shape_from_pb(m->shape, &c) || af_model_config_validate(&c)) {
        rc = af_error_set(AF_EFORMAT, "%s: %s: manifest has no valid model shape", dir, what);
        goto fail;
    }
    if (m->param_count == 0 || m->param_count > ((uint64_t)1 << 40)) {
        rc = af_error_set(AF_EFORMAT, "%s: %s: manifest param_count %" PRIu64 " out of range", dir, what,
                          m->param_count);
        goto fail;
    }
    if (m->n_tensors == 0 || m->n_tensors > AF_MODEL_MAX_TENSORS) {
        rc = af_error_set(AF_EFORMAT, "%s: %s: manifest has %zu tensors", dir, what, m->n_tensors);
        goto fail;
    }
    uint64_t end = 0;
    for (size_t i = 0; i < m->n_tensors; i++) {
        const Agentflow__TensorEntry *e = m->tensors[i];
        size_t nl = e->name ? strlen(e->name) : 0;
        if (nl == 0 || nl >= AF_MODEL_NAME_MAX) {
            rc = af_error_set(AF_EFORMAT, "%s: %s: manifest tensor %zu has a bad name", dir, what, i);
            goto fail;
        }
        uint64_t numel = 1;
        if (e->n_shape < 1 || e->n_shape > 2) {
            rc = af_error_set(AF_EFORMAT, "%s: %s: tensor %s: %zu dimensions", dir, what, e->name, e->n_shape);
            goto fail;
        }
        for (size_t d = 0; d < e->n_shape; d++) {
            if (e->shape[d] == 0 || e->shape[d] > m->param_count || numel > m->param_count / e->shape[d]) {
                rc = af_error_set(AF_EFORMAT, "%s: %s: tensor %s: bad shape", dir, what, e->name);
                goto fail;
            }
            numel *= e->shape[d];
        }
        if (e->offset < end || e->offset > m->param_count || numel > m->param_count - e->offset) {
            rc = af_error_set(AF_EFORMAT, "%s: %s: tensor %s: offset %" PRIu64 " outside the buffer",
                              dir, what, e->name, e->offset);
            goto fail;
        }
        end = e->offset + numel;
    }
    for (int k = 0; k < AF_CKPT_N_KIND; k++) {
        if (is_ref ? k != AF_CKPT_PARAM : (k == AF_CKPT_REF && !m->has_ref)) continue;
        if (combine_entries(m, k) != manifest_sum(m, k)) {
            rc = af_error_set(AF_ECHECKSUM, "%s: %s: manifest: %s buffer checksum does not match its tensor table",
                              dir, what, af_ckpt_kind_name[k]);
            goto fail;
        }
    }
    *out = m;
    return 0;
fail:
    agentflow__checkpoint_manifest__free_unpacked(m, NULL);
    return rc;
}

/* The 16 bytes of step/<S>/sum: XXH64 (seed 0) of the manifest bytes, then of the
 * metrics line, each little-endian. */
void af_ckpt_value_sums(const void *man, size_t man_len, const void *metrics, size_t metrics_len, uint8_t out[16]) {
    uint64_t h[2] = {af_checksum64(man, man_len, 0), af_checksum64(metrics, metrics_len, 0)};
    for (int j = 0; j < 2; j++)
        for (int i = 0; i < 8; i++) out[8 * j + i] = (uint8_t)(h[j] >> (8 * i));
}


size_t af_ckpt_entry_numel(const Agentflow__TensorEntry *e) {
    size_t numel = 1;
    for (size_t d = 0; d < e->n_shape; d++) numel *= (size_t)e->shape[d];
    return numel;
}


/* Compare a manifest's table with the one af_model_create builds for its shape. */
int af_ckpt_manifest_check_table(const char *dir, uint64_t step, const Agentflow__CheckpointManifest *man,
                                 const AfModelConfig *shape) {
    AfModel *m = NULL;
    int rc = af_model_create(shape, 0, 0, 0, &m);
    if (rc) return af_error_wrap(AF_EFORMAT, "%s: checkpoint step %" PRIu64 ": shape", dir, step);
    if ((size_t)man->param_count != m->n_params || man->n_tensors != (size_t)m->n_tensors) {
        rc = af_error_set(AF_EFORMAT,
                          "%s: checkpoint step %" PRIu64 ": %" PRIu64 " parameters in %zu tensors, "
                          "the shape has %zu in %d",
                          dir, step, man->param_count, man->n_tensors, m->n_params, m->n_tensors);
        goto done;
    }
    for (int i = 0; i < m->n_tensors; i++) {
        const AfTensorInfo *t = &m->tensors[i];
        const Agentflow__TensorEntry *e = man->tensors[i];
        int same = strcmp(e->name, t->name) == 0 && e->offset == t->offset && e->n_shape == (size_t)t->ndim &&
                   e->shape[0] == (uint64_t)t->shape[0] && (t->ndim == 1 || e->shape[1] == (uint64_t)t->shape[1]);
        if (!same) {
            rc = af_error_set(AF_EFORMAT, "%s: checkpoint step %" PRIu64 ": tensor %d is %s, the model's is %s (or a different shape/offset)",
                              dir, step, i, e->name, t->name);
            goto done;
        }
    }
done:
    af_model_destroy(m);
    return rc;
}

int af_ckpt_compare_shape(uint64_t step, const AfModelConfig *have, const AfModelConfig *want) {
#define CMP_I(f)                                                                                     \
    if (have->f != want->f)                                                                          \
        return af_error_set(AF_ECONFIG, "model." #f ": checkpoint step %" PRIu64 " has %d, the configuration %d", \
                            step, have->f, want->f);
#define CMP_F(f)                                                                                     \
    if (memcmp(&have->f, &want->f, sizeof(float)) != 0)                                              \
        return af_error_set(AF_ECONFIG, "model." #f ": checkpoint step %" PRIu64 " has %g, the configuration %g", \
                            step, (double)have->f, (double)want->f);
    CMP_I(vocab_size) CMP_I(d_model) CMP_I(n_layers) CMP_I(n_heads) CMP_I(n_kv_heads) CMP_I(d_ff)
    CMP_I(max_seq) CMP_F(rope_theta) CMP_F(rms_eps) CMP_I(qkv_bias) CMP_I(tied_embeddings)
    CMP_I(head_dim) CMP_I(qk_norm) CMP_I(rope_llama3) CMP_F(rope_factor) CMP_F(rope_low_freq_factor)
    CMP_F(rope_high_freq_factor) CMP_I(rope_orig_max_pos)
#undef CMP_I
#undef CMP_F
    return 0;
}

static double now_unix(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec * 1e-6;
}

int af_ckpt_manifest_build(const AfCkptSave *sv, AfCkptManifestBuf *b) {
    size_t nt = (size_t)sv->n_tensors;
    memset(b, 0, sizeof *b);
    agentflow__checkpoint_manifest__init(&b->man);
    af_ckpt_shape_to_pb(&sv->shape, &b->shape);
    b->entries = calloc(nt, sizeof *b->entries);
    b->entry_ptrs = calloc(nt, sizeof *b->entry_ptrs);
    b->shp = calloc(nt, sizeof *b->shp);
    b->ctr = calloc((size_t)sv->n_counters + 1, sizeof *b->ctr);
    b->ctr_ptrs = calloc((size_t)sv->n_counters + 1, sizeof *b->ctr_ptrs);
    b->rng = calloc((size_t)sv->n_rng + 1, sizeof *b->rng);
    b->rng_ptrs = calloc((size_t)sv->n_rng + 1, sizeof *b->rng_ptrs);
    if (!b->entries || !b->entry_ptrs || !b->shp || !b->ctr || !b->ctr_ptrs || !b->rng || !b->rng_ptrs)
        return af_error_set(AF_ENOMEM, "checkpoint save: out of memory");
    for (size_t i = 0; i < nt; i++) {
        const AfTensorInfo *t = &sv->tensors[i];
        Agentflow__TensorEntry *e = &b->entries[i];
        agentflow__tensor_entry__init(e);
        e->name = (char *)t->name;
        e->n_shape = (size_t)t->ndim;
        e->offset = t->offset;
        b->shp[i][0] = (uint64_t)t->shape[0];
        b->shp[i][1] = (uint64_t)t->shape[1];
        e->shape = b->shp[i];
        b->entry_ptrs[i] = e;
    }
    Agentflow__CheckpointManifest *m = &b->man;
    m->step = sv->step;
    m->policy_version = sv->policy_version;
    m->config_json = (char *)(sv->config_json ? sv->config_json : "");
    m->shape = &b->shape;
    m->n_tensors = nt;
    m->tensors = b->entry_ptrs;
    m->param_count = sv->n_params;
    m->adam_step = sv->adam_step;
    m->data_position = sv->data_position;
    for (int i = 0; i < sv->n_counters; i++) {
        agentflow__counter__init(&b->ctr[i]);
        b->ctr[i].name = (char *)sv->counters[i].name;
        b->ctr[i].value = sv->counters[i].value;
        b->ctr_ptrs[i] = &b->ctr[i];
    }
    m->n_counters = (size_t)sv->n_counters;
    m->counters = b->ctr_ptrs;
    for (int i = 0; i < sv->n_rng; i++) {
        agentflow__rng_position__init(&b->rng[i]);
        b->rng[i].name = (char *)sv->rng[i].name;
        b->rng[i].position = sv->rng[i].position;
        b->rng_ptrs[i] = &b->rng[i];
    }
    m->n_rng = (size_t)sv->n_rng;
    m->rng = b->rng_ptrs;
    m->agentflow_version = (char *)AF_VERSION;
    m->unix_time = now_unix();
    return 0;
}

void af_ckpt_manifest_buf_free(AfCkptManifestBuf *b) {
    free(b->entries);
    free(b->entry_ptrs);
    free(b->shp);
    free(b->ctr);
    free(b->ctr_ptrs);
    free(b->rng);
    free(b->rng_ptrs);
    memset(b, 0, sizeof *b);
}

int af_ckpt_manifest_pack_ref(const AfCkptManifestBuf *b, const uint64_t *ref_sums, uint8_t **out, size_t *len) {
    size_t nt = b->man.n_tensors;
    *out = NULL;
    Agentflow__TensorEntry *re = calloc(nt, sizeof *re);
    Agentflow__TensorEntry **rp = calloc(nt, sizeof *rp);
    int rc = 0;
    if (!re || !rp) {
        rc = af_error_set(AF_ENOMEM, "checkpoint save: out of memory");
        goto done;
    }
    for (size_t i = 0; i < nt; i++) {
        agentflow__tensor_entry__init(&re[i]);
        re[i].name = b->entries[i].name;
        re[i].n_shape = b->entries[i].n_shape;
        re[i].shape = b->entries[i].shape;
        re[i].offset = b->entries[i].offset;
        re[i].checksum = ref_sums[i];
        rp[i] = &re[i];
    }
    Agentflow__CheckpointManifest rm;
    agentflow__checkpoint_manifest__init(&rm);
    rm.shape = (Agentflow__ModelShape *)&b->shape;
    rm.n_tensors = nt;
    rm.tensors = rp;
    rm.param_count = b->man.param_count;
    rm.params_checksum = af_ckpt_combine(ref_sums, nt);
    rm.agentflow_version = (char *)AF_VERSION;
    rm.unix_time = now_unix();
    *len = agentflow__checkpoint_manifest__get_packed_size(&rm);
    if (!(*out = malloc(*len ? *len : 1))) {
        rc = af_error_set(AF_ENOMEM, "checkpoint save: out of memory");
        goto done;
    }
    agentflow__checkpoint_manifest__pack(&rm, *out);
done:
    free(re);
    free(rp);
    return rc;
}
