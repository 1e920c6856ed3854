/* safetensors reading/writing and Hugging Face model directories (see safetensors.h). */
#include "common/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"

static int read_file(const char *path, uint8_t **out, size_t *size) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return af_error_set(AF_EIO, "%s: cannot open: %s", path, strerror(errno));
    int rc = 0;
    uint8_t *buf = NULL;
    if (fseek(f, 0, SEEK_END) != 0) goto io;
    long n = ftell(f);
    if (n < 0 || fseek(f, 0, SEEK_SET) != 0) goto io;
    buf = malloc((size_t)n + 1);
    if (!buf) {
        rc = af_error_set(AF_ENOMEM, "%s: out of memory for %ld bytes", path, n);
        goto fail;
    }
    if (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) goto io;
    buf[n] = 0;
    fclose(f);
    *out = buf;
    *size = (size_t)n;
    return 0;
io:
    rc = af_error_set(AF_EIO, "%s: read failed: %s", path, strerror(errno));
fail:
    free(buf);
    fclose(f);
    return rc;
}

void af_safetensors_close(AfSafetensors *st) {
    if (!st) return;
    for (int i = 0; i < st->n; i++) free(st->tensors[i].name);
    free(st->tensors);
    free(st->image);
    free(st);
}

static int dtype_parse(const char *s, AfDtype *dt, size_t *elsize) {
    if (strcmp(s, "F32") == 0) { *dt = AF_DT_F32; *elsize = 4; return 0; }
    if (strcmp(s, "F16") == 0) { *dt = AF_DT_F16; *elsize = 2; return 0; }
    if (strcmp(s, "BF16") == 0) { *dt = AF_DT_BF16; *elsize = 2; return 0; }
    return -1;
}

int af_safetensors_open(const char *path, AfSafetensors **out) {
    *out = NULL;
    cJSON *root = NULL;
    int rc;
    AfSafetensors *st = calloc(1, sizeof *st);
    if (!st) return af_error_set(AF_ENOMEM, "%s: out of memory", path);
    if ((rc = read_file(path, &st->image, &st->size))) goto fail;
    if (st->size < 8) {
        rc = af_error_set(AF_EFORMAT, "%s: file of %zu bytes is too short for the 8-byte header length",
                          path, st->size);
        goto fail;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | st->image[i];
    if (hlen < 2 || hlen > st->size - 8) {
        rc = af_error_set(AF_EFORMAT, "%s: header length %llu exceeds the file (%zu bytes)", path,
                          (unsigned long long)hlen, st->size);
        goto fail;
    }
    root = cJSON_ParseWithLength((const char *)st->image + 8, (size_t)hlen);
    if (!root || !cJSON_IsObject(root)) {
        rc = af_error_set(AF_EFORMAT, "%s: header is not a JSON object (bad JSON)", path);
        goto fail;
    }
    const uint8_t *data = st->image + 8 + hlen;
    size_t dsize = st->size - 8 - (size_t)hlen;
    int count = cJSON_GetArraySize(root);
    st->tensors = calloc((size_t)(count ? count : 1), sizeof *st->tensors);
    if (!st->tensors) {
        rc = af_error_set(AF_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    for (cJSON *e = root->child; e; e = e->next) {
        const char *nm = e->string;
        if (strcmp(nm, "__metadata__") == 0) continue;
        AfStTensor *t = &st->tensors[st->n];
        if (!cJSON_IsObject(e)) {
            rc = af_error_set(AF_EFORMAT, "%s: tensor %s: entry is not an object", path, nm);
            goto fail;
        }
        cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
        cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
        cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
        size_t elsize = 0;
        if (!cJSON_IsString(dt)) {
            rc = af_error_set(AF_EFORMAT, "%s: tensor %s: dtype missing or not a string", path, nm);
            goto fail;
        }
        if (dtype_parse(dt->valuestring, &t->dtype, &elsize)) {
            rc = af_error_set(AF_EFORMAT, "%s: tensor %s: unsupported dtype \"%s\" (F32, F16, BF16)",
                              path, nm, dt->valuestring);
            goto fail;
        }
        if (!cJSON_IsArray(sh) || cJSON_GetArraySize(sh) > 8) {
            rc = af_error_set(AF_EFORMAT, "%s: tensor %s: shape missing, not an array or > 8 dims", path, nm);
            goto fail;
        }
        t->ndim = cJSON_GetArraySize(sh);
        t->numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            cJSON *x = cJSON_GetArrayItem(sh, d);
            if (!cJSON_IsNumber(x) || x->valuedouble < 0 || x->valuedouble > 1e12 ||
                x->valuedouble != floor(x->valuedouble)) {
                rc = af_error_set(AF_EFORMAT, "%s: tensor %s: shape[%d] is not a non-negative integer",
                                  path, nm, d);
                goto fail;
            }
            t->shape[d] = (int64_t)x->valuedouble;
            t->numel *= (size_t)t->shape[d];
        }
        if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 ||
            !cJSON_IsNumber(cJSON_GetArrayItem(off, 0)) || !cJSON_IsNumber(cJSON_GetArrayItem(off, 1))) {
            rc = af_error_set(AF_EFORMAT, "%s: tensor %s: data_offsets must be [begin, end]", path, nm);
            goto fail;
        }
        double b = cJSON_GetArrayItem(off, 0)->valuedouble, en = cJSON_GetArrayItem(off, 1)->valuedouble;
        if (b < 0 || en < b || b != floor(b) || en != floor(en)) {
            rc = af_error_set(AF_EFORMAT, "%s: tensor %s: bad data_offsets [%.0f, %.0f]", path, nm, b, en);
            goto fail;
        }
        if (en > (double)dsize) {
            rc = af_error_set(AF_EFORMAT, "%s: tensor %s: data [%.0f, %.0f) beyond the end of the data (%zu bytes): truncated file",
                              path, nm, b, en, dsize);
            goto fail;
        }
        t->nbytes = (size_t)(en - b);
        if (t->nbytes != t->numel * elsize) {
            rc = af_error_set(AF_EFORMAT, "%s: tensor %s: %zu data bytes but shape and dtype need %zu",
                              path, nm, t->nbytes, t->numel * elsize);
            goto fail;
        }
        t->data = data + (size_t)b;
        t->name = strdup(nm);
        if (!t->name) {
            rc = af_error_set(AF_ENOMEM, "%s: out of memory", path);
            goto fail;
        }
        st->n++;
    }
    cJSON_Delete(root);
    *out = st;
    return 0;
fail:
    cJSON_Delete(root);
    af_safetensors_close(st);
    return rc;
}

const AfStTensor *af_safetensors_find(const AfSafetensors *st, const char *name) {
    for (int i = 0; i < st->n; i++)
        if (strcmp(st->tensors[i].name, name) == 0) return &st->tensors[i];
    return NULL;
}

static float half_to_f32(uint16_t h) {
    int s = h >> 15, e = (h >> 10) & 31, f = h & 1023;
    float v;
    if (e == 0) v = ldexpf((float)f, -24);
    else if (e == 31) v = f ? NAN : INFINITY;
    else v = ldexpf((float)(f | 1024), e - 25);
    return s ? -v : v;
}

void af_safetensors_to_f32(const AfStTensor *t, float *dst) {
    const uint8_t *p = t->data;
    for (size_t i = 0; i < t->numel; i++) {
        if (t->dtype == AF_DT_F32) {
            uint32_t u = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 |
                         (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24;
            memcpy(&dst[i], &u, 4);
        } else {
            uint16_t h = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
            if (t->dtype == AF_DT_BF16) {
                uint32_t u = (uint32_t)h << 16;
                memcpy(&dst[i], &u, 4);
            } else {
                dst[i] = half_to_f32(h);
            }
        }
    }
}

static int write_all(FILE *f, const void *p, size_t n) { return fwrite(p, 1, n, f) == n ? 0 : -1; }

int af_safetensors_write(const char *path, int n, const char *const *names, const int *ndims,
                         const int64_t (*shapes)[2], const float *const *data) {
    int rc = 0;
    char *hdr = NULL, *tmp = NULL;
    FILE *f = NULL;
    cJSON *root = cJSON_CreateObject();
    if (!root) return af_error_set(AF_ENOMEM, "%s: out of memory", path);
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        size_t numel = 1;
        for (int d = 0; d < ndims[i]; d++) numel *= (size_t)shapes[i][d];
        cJSON *e = cJSON_AddObjectToObject(root, names[i]);
        double dims[2] = {(double)shapes[i][0], (double)shapes[i][1]};
        double offs[2] = {(double)off, (double)(off + numel * 4)};
        if (!e || !cJSON_AddStringToObject(e, "dtype", "F32") ||
            !cJSON_AddItemToObject(e, "shape", cJSON_CreateDoubleArray(dims, ndims[i])) ||
            !cJSON_AddItemToObject(e, "data_offsets", cJSON_CreateDoubleArray(offs, 2))) {
            rc = af_error_set(AF_ENOMEM, "%s: out of memory", path);
            goto fail;
        }
        off += numel * 4;
    }
    hdr = cJSON_PrintUnformatted(root);
    if (!hdr) {
        rc = af_error_set(AF_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    size_t hlen = strlen(hdr), padded = (hlen + 7) / 8 * 8;
    tmp = malloc(strlen(path) + 8);
    if (!tmp) {
        rc = af_error_set(AF_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    sprintf(tmp, "%s.tmp", path);
    f = fopen(tmp, "wb");
    if (!f) {
        rc = af_error_set(AF_EIO, "%s: cannot create: %s", tmp, strerror(errno));
        goto fail;
    }
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    int bad = write_all(f, len8, 8) || write_all(f, hdr, hlen);
    for (size_t i = hlen; i < padded && !bad; i++) bad = fputc(' ', f) == EOF;
    for (int i = 0; i < n && !bad; i++) {
        size_t numel = 1;
        for (int d = 0; d < ndims[i]; d++) numel *= (size_t)shapes[i][d];
        bad = write_all(f, data[i], numel * 4); /* little-endian host (x86-64, aarch64) */
    }
    if (fclose(f) != 0) bad = 1;
    f = NULL;
    if (bad || rename(tmp, path) != 0) {
        rc = af_error_set(AF_EIO, "%s: write failed: %s", path, strerror(errno));
        unlink(tmp);
        goto fail;
    }
fail:
    if (f) fclose(f);
    free(tmp);
    free(hdr);
    cJSON_Delete(root);
    return rc;
}

/* ------------------------------------------------------------------ config.json */

static int json_int(const cJSON *root, const char *key, int required, int def, int *out) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!x || cJSON_IsNull(x)) {
        if (required) return af_error_set(AF_EFORMAT, "config.json: missing key \"%s\"", key);
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(x) || x->valuedouble != floor(x->valuedouble) || fabs(x->valuedouble) > 2e9)
        return af_error_set(AF_EFORMAT, "config.json: %s: expected an integer", key);
    *out = (int)x->valuedouble;
    return 0;
}

static int json_float(const cJSON *root, const char *key, float def, float *out) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!x || cJSON_IsNull(x)) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(x)) return af_error_set(AF_EFORMAT, "config.json: %s: expected a number", key);
    *out = (float)x->valuedouble;
    return 0;
}

static int json_bool(const cJSON *root, const char *key, int def, int *out) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!x || cJSON_IsNull(x)) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsBool(x)) return af_error_set(AF_EFORMAT, "config.json: %s: expected true or false", key);
    *out = cJSON_IsTrue(x);
    return 0;
}

int af_model_config_load(const char *dir, AfModelConfig *cfg) {
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    uint8_t *text = NULL;
    size_t size = 0;
    int rc = read_file(path, &text, &size);
    if (rc) return rc;
    cJSON *root = cJSON_ParseWithLength((const char *)text, size);
    free(text);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return af_error_set(AF_EFORMAT, "%s: not a JSON object (bad JSON)", path);
    }
    AfModelConfig c = {0};
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    int qwen = cJSON_IsString(mt) && strcmp(mt->valuestring, "qwen2") == 0;
    int head_dim = 0;
    if ((rc = json_int(root, "vocab_size", 1, 0, &c.vocab_size)) ||
        (rc = json_int(root, "hidden_size", 1, 0, &c.d_model)) ||
        (rc = json_int(root, "num_hidden_layers", 1, 0, &c.n_layers)) ||
        (rc = json_int(root, "num_attention_heads", 1, 0, &c.n_heads)) ||
        (rc = json_int(root, "intermediate_size", 1, 0, &c.d_ff)) ||
        (rc = json_int(root, "max_position_embeddings", 1, 0, &c.max_seq)) ||
        (rc = json_int(root, "head_dim", 0, 0, &head_dim)) ||
        (rc = json_float(root, "rms_norm_eps", 1e-6f, &c.rms_eps)) ||
        (rc = json_float(root, "rope_theta", 10000.0f, &c.rope_theta)) ||
        (rc = json_bool(root, "tie_word_embeddings", 0, &c.tied_embeddings)) ||
        (rc = json_bool(root, "attention_bias", qwen, &c.qkv_bias)))
        goto done;
    if ((rc = json_int(root, "num_key_value_heads", 0, c.n_heads, &c.n_kv_heads))) goto done;
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(root, "rope_scaling");
    if (rs && !cJSON_IsNull(rs)) {
        rc = af_error_set(AF_EFORMAT, "config.json: rope_scaling: not supported (must be null)");
        goto done;
    }
    if (head_dim && c.n_heads > 0 && head_dim * c.n_heads != c.d_model) {
        rc = af_error_set(AF_EFORMAT, "config.json: head_dim %d != hidden_size / num_attention_heads",
                          head_dim);
        goto done;
    }
    if ((rc = af_model_config_validate(&c))) {
        af_error_wrap(rc, "%s", path);
        goto done;
    }
    *cfg = c;
done:
    cJSON_Delete(root);
    return rc;
}

int af_model_load_dir(const char *dir, int max_tokens, int max_seqs, int flags, AfModel **out) {
    *out = NULL;
    AfModelConfig cfg;
    int rc = af_model_config_load(dir, &cfg);
    if (rc) return rc;
    AfModel *m = NULL;
    AfSafetensors *st = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if ((rc = af_safetensors_open(path, &st))) goto fail;
    if ((rc = af_model_create(&cfg, max_tokens, max_seqs, flags, &m))) goto fail;
    for (int i = 0; i < m->n_tensors; i++) {
        const AfTensorInfo *ti = &m->tensors[i];
        const AfStTensor *t = af_safetensors_find(st, ti->name);
        if (!t) {
            rc = af_error_set(AF_EFORMAT, "%s: missing tensor %s", path, ti->name);
            goto fail;
        }
        int ok = t->ndim == ti->ndim && t->shape[0] == ti->shape[0] &&
                 (ti->ndim == 1 || t->shape[1] == ti->shape[1]);
        if (!ok) {
            char got[128] = "", buf[32];
            for (int d = 0; d < t->ndim; d++) {
                snprintf(buf, sizeof buf, d ? ", %lld" : "%lld", (long long)t->shape[d]);
                strncat(got, buf, sizeof got - strlen(got) - 1);
            }
            rc = af_error_set(AF_EFORMAT, "%s: tensor %s: shape [%s], expected [%lld%s%lld]", path,
                              ti->name, got, (long long)ti->shape[0], ti->ndim == 2 ? ", " : "",
                              ti->ndim == 2 ? (long long)ti->shape[1] : 0LL);
            if (ti->ndim == 1)
                af_error_set(AF_EFORMAT, "%s: tensor %s: shape [%s], expected [%lld]", path, ti->name,
                             got, (long long)ti->shape[0]);
            goto fail;
        }
        af_safetensors_to_f32(t, m->params + ti->offset);
    }
    for (int i = 0; i < st->n; i++) {
        const char *nm = st->tensors[i].name;
        if (af_model_find_tensor(m, nm)) continue;
        if (cfg.tied_embeddings && strcmp(nm, "lm_head.weight") == 0) continue;
        if (strstr(nm, "rotary_emb.inv_freq")) continue;
        rc = af_error_set(AF_EFORMAT, "%s: unexpected tensor %s for this config", path, nm);
        goto fail;
    }
    af_safetensors_close(st);
    *out = m;
    return 0;
fail:
    af_safetensors_close(st);
    af_model_destroy(m);
    return rc;
}

int af_model_save_dir(const AfModel *m, const char *dir) {
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return af_error_set(AF_EIO, "%s: cannot create directory: %s", dir, strerror(errno));
    const AfModelConfig *c = &m->cfg;
    char path[4096];
    int rc = 0;
    const char **names = calloc((size_t)m->n_tensors, sizeof *names);
    int *ndims = calloc((size_t)m->n_tensors, sizeof *ndims);
    int64_t (*shapes)[2] = calloc((size_t)m->n_tensors, sizeof *shapes);
    const float **data = calloc((size_t)m->n_tensors, sizeof *data);
    cJSON *root = cJSON_CreateObject();
    char *text = NULL;
    FILE *f = NULL;
    if (!names || !ndims || !shapes || !data || !root) {
        rc = af_error_set(AF_ENOMEM, "%s: out of memory", dir);
        goto fail;
    }
    for (int i = 0; i < m->n_tensors; i++) {
        names[i] = m->tensors[i].name;
        ndims[i] = m->tensors[i].ndim;
        shapes[i][0] = m->tensors[i].shape[0];
        shapes[i][1] = m->tensors[i].shape[1];
        data[i] = m->params + m->tensors[i].offset;
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if ((rc = af_safetensors_write(path, m->n_tensors, names, ndims, (const int64_t (*)[2])shapes, data)))
        goto fail;
    cJSON_AddItemToObject(root, "architectures",
                          cJSON_CreateStringArray((const char *const[]){c->qkv_bias ? "Qwen2ForCausalLM" : "LlamaForCausalLM"}, 1));
    cJSON_AddStringToObject(root, "model_type", c->qkv_bias ? "qwen2" : "llama");
    cJSON_AddNumberToObject(root, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(root, "hidden_size", c->d_model);
    cJSON_AddNumberToObject(root, "intermediate_size", c->d_ff);
    cJSON_AddNumberToObject(root, "num_hidden_layers", c->n_layers);
    cJSON_AddNumberToObject(root, "num_attention_heads", c->n_heads);
    cJSON_AddNumberToObject(root, "num_key_value_heads", c->n_kv_heads);
    cJSON_AddNumberToObject(root, "max_position_embeddings", c->max_seq);
    cJSON_AddNumberToObject(root, "rms_norm_eps", c->rms_eps);
    cJSON_AddNumberToObject(root, "rope_theta", c->rope_theta);
    cJSON_AddBoolToObject(root, "tie_word_embeddings", c->tied_embeddings);
    cJSON_AddBoolToObject(root, "attention_bias", c->qkv_bias);
    cJSON_AddStringToObject(root, "hidden_act", "silu");
    cJSON_AddStringToObject(root, "torch_dtype", "float32");
    text = cJSON_Print(root);
    if (!text) {
        rc = af_error_set(AF_ENOMEM, "%s: out of memory", dir);
        goto fail;
    }
    snprintf(path, sizeof path, "%s/config.json", dir);
    f = fopen(path, "w");
    if (!f || fputs(text, f) == EOF || fputc('\n', f) == EOF) {
        rc = af_error_set(AF_EIO, "%s: write failed: %s", path, strerror(errno));
        goto fail;
    }
    if (fclose(f) != 0) {
        f = NULL;
        rc = af_error_set(AF_EIO, "%s: write failed: %s", path, strerror(errno));
        goto fail;
    }
    f = NULL;
fail:
    if (f) fclose(f);
    free(text);
    cJSON_Delete(root);
    free(names);
    free(ndims);
    free(shapes);
    free(data);
    return rc;
}
