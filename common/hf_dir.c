/* Hugging Face model directories (see safetensors.h): config.json of the qwen2, qwen3 and
 * llama families, single-file and sharded weights, the project's own save, and export. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fsutil.h"
#include "common/safetensors.h"

#define MAX_JSON_BYTES ((size_t)64 << 20) /* config.json / index limit */

/* Read and parse DIR/NAME as a JSON object. AF_EIO (absent/unreadable), AF_EFORMAT. */
static int read_json(const char *dir, const char *name, cJSON **out) {
    *out = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *text = NULL;
    size_t size = 0;
    int rc = af_read_file(path, MAX_JSON_BYTES, &text, &size);
    if (rc) return rc == AF_ENOTFOUND ? af_error_set(AF_EIO, "%s: cannot open: no such file", path) : rc;
    cJSON *root = cJSON_ParseWithLength(text, size);
    free(text);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return af_error_set(AF_EFORMAT, "%s: not a JSON object (bad JSON)", path);
    }
    *out = root;
    return 0;
}

/* ------------------------------------------------------------------ config.json */

static int json_int(const cJSON *root, const char *key, int required, int def, int *out) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!x || cJSON_IsNull(x)) {
        if (required) return af_error_set(AF_EFORMAT, "missing key \"%s\"", key);
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(x) || x->valuedouble != floor(x->valuedouble) || fabs(x->valuedouble) > 2e9)
        return af_error_set(AF_EFORMAT, "%s: expected an integer", key);
    *out = (int)x->valuedouble;
    return 0;
}

static int json_float(const cJSON *root, const char *key, float def, float *out) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!x || cJSON_IsNull(x)) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(x)) return af_error_set(AF_EFORMAT, "%s: expected a number", key);
    *out = (float)x->valuedouble;
    return 0;
}

static int json_bool(const cJSON *root, const char *key, int def, int *out) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!x || cJSON_IsNull(x)) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsBool(x)) return af_error_set(AF_EFORMAT, "%s: expected true or false", key);
    *out = cJSON_IsTrue(x);
    return 0;
}

static int in_list(const char *s, const char *const *list) {
    for (int i = 0; list[i]; i++)
        if (strcmp(s, list[i]) == 0) return 1;
    return 0;
}

/* Keys read into the config (or checked) and keys with no effect on the computation. */
static const char *const k_read[] = {
    "model_type", "architectures", "vocab_size", "hidden_size", "intermediate_size",
    "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim",
    "max_position_embeddings", "rms_norm_eps", "rope_theta", "rope_scaling",
    "tie_word_embeddings", "attention_bias", "mlp_bias", "hidden_act", "torch_dtype", "dtype",
    "use_sliding_window", "attention_dropout", "rope_interleaved", "layer_types", NULL};
static const char *const k_ignored[] = {
    /* token ids (the tokenizer's business), training-only or bookkeeping fields, and the
     * sliding-window size when use_sliding_window is false */
    "bos_token_id", "eos_token_id", "pad_token_id", "transformers_version", "use_cache",
    "initializer_range", "_name_or_path", "tokenizer_class", "is_llama_config",
    "pretraining_tp", "sliding_window", "max_window_layers", "transformers.js_config", NULL};

/* rope_scaling: null, {"rope_type"|"type": "default"} or the llama3 parameters. */
static int parse_rope_scaling(const cJSON *rs, AfModelConfig *c) {
    if (!rs || cJSON_IsNull(rs)) return 0;
    if (!cJSON_IsObject(rs)) return af_error_set(AF_EFORMAT, "rope_scaling: expected an object or null");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(rs, "rope_type");
    if (!t) t = cJSON_GetObjectItemCaseSensitive(rs, "type");
    if (!cJSON_IsString(t))
        return af_error_set(AF_EFORMAT, "rope_scaling: missing \"rope_type\" (or \"type\") string");
    if (strcmp(t->valuestring, "default") == 0) return 0;
    if (strcmp(t->valuestring, "llama3") != 0)
        return af_error_set(AF_EFORMAT, "rope_scaling: type \"%s\" is not supported (llama3 or default)",
                            t->valuestring);
    static const char *const keys[] = {"rope_type", "type", "factor", "low_freq_factor", "high_freq_factor",
                                       "original_max_position_embeddings", NULL};
    for (const cJSON *e = rs->child; e; e = e->next)
        if (!in_list(e->string, keys))
            return af_error_set(AF_EFORMAT, "rope_scaling: field \"%s\" is not understood", e->string);
    int rc;
    c->rope_llama3 = 1;
    if ((rc = json_float(rs, "factor", NAN, &c->rope_factor)) ||
        (rc = json_float(rs, "low_freq_factor", NAN, &c->rope_low_freq_factor)) ||
        (rc = json_float(rs, "high_freq_factor", NAN, &c->rope_high_freq_factor)) ||
        (rc = json_int(rs, "original_max_position_embeddings", 1, 0, &c->rope_orig_max_pos)))
        return af_error_wrap(rc, "rope_scaling");
    if (isnan(c->rope_factor) || isnan(c->rope_low_freq_factor) || isnan(c->rope_high_freq_factor))
        return af_error_set(AF_EFORMAT, "rope_scaling llama3: factor, low_freq_factor and high_freq_factor are required");
    return 0;
}

static int parse_config(const cJSON *root, AfModelConfig *out) {
    AfModelConfig c = {0};
    int rc;
    for (const cJSON *e = root->child; e; e = e->next)
        if (!in_list(e->string, k_read) && !in_list(e->string, k_ignored))
            return af_error_set(AF_EFORMAT, "field \"%s\" is not understood (docs/models.md lists the fields read)",
                                e->string);
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (!cJSON_IsString(mt)) return af_error_set(AF_EFORMAT, "missing key \"model_type\" (qwen2, qwen3 or llama)");
    const char *family = mt->valuestring;
    int qwen2 = strcmp(family, "qwen2") == 0, qwen3 = strcmp(family, "qwen3") == 0;
    if (!qwen2 && !qwen3 && strcmp(family, "llama") != 0)
        return af_error_set(AF_EFORMAT, "model_type \"%s\" is not supported (qwen2, qwen3, llama)", family);
    const cJSON *ar = cJSON_GetObjectItemCaseSensitive(root, "architectures");
    if (ar && !cJSON_IsNull(ar)) {
        static const char *const archs[] = {"Qwen2ForCausalLM", "Qwen3ForCausalLM", "LlamaForCausalLM", NULL};
        if (!cJSON_IsArray(ar)) return af_error_set(AF_EFORMAT, "architectures: expected an array");
        for (const cJSON *e = ar->child; e; e = e->next)
            if (!cJSON_IsString(e) || !in_list(e->valuestring, archs))
                return af_error_set(AF_EFORMAT, "architectures: \"%s\" is not supported (Qwen2ForCausalLM, Qwen3ForCausalLM, LlamaForCausalLM)",
                                    cJSON_IsString(e) ? e->valuestring : "(not a string)");
    }
    int mlp_bias = 0, sliding = 0, interleaved = 0;
    if ((rc = json_int(root, "vocab_size", 1, 0, &c.vocab_size)) ||
        (rc = json_int(root, "hidden_size", 1, 0, &c.d_model)) ||
        (rc = json_int(root, "num_hidden_layers", 1, 0, &c.n_layers)) ||
        (rc = json_int(root, "num_attention_heads", 1, 0, &c.n_heads)) ||
        (rc = json_int(root, "intermediate_size", 1, 0, &c.d_ff)) ||
        (rc = json_int(root, "max_position_embeddings", 1, 0, &c.max_seq)) ||
        (rc = json_int(root, "head_dim", qwen3, 0, &c.head_dim)) ||
        (rc = json_float(root, "rms_norm_eps", 1e-6f, &c.rms_eps)) ||
        (rc = json_float(root, "rope_theta", 10000.0f, &c.rope_theta)) ||
        (rc = json_bool(root, "tie_word_embeddings", 0, &c.tied_embeddings)) ||
        (rc = json_bool(root, "attention_bias", qwen2, &c.qkv_bias)) ||
        (rc = json_bool(root, "mlp_bias", 0, &mlp_bias)) ||
        (rc = json_bool(root, "use_sliding_window", 0, &sliding)) ||
        (rc = json_bool(root, "rope_interleaved", 0, &interleaved)))
        return rc;
    if ((rc = json_int(root, "num_key_value_heads", 0, c.n_heads, &c.n_kv_heads))) return rc;
    if (mlp_bias) return af_error_set(AF_EFORMAT, "mlp_bias: true is not supported");
    if (sliding) return af_error_set(AF_EFORMAT, "use_sliding_window: true is not supported");
    if (interleaved) return af_error_set(AF_EFORMAT, "rope_interleaved: true is not supported");
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(root, "hidden_act");
    if (act && !(cJSON_IsString(act) && strcmp(act->valuestring, "silu") == 0))
        return af_error_set(AF_EFORMAT, "hidden_act \"%s\" is not supported (silu)",
                            cJSON_IsString(act) ? act->valuestring : "(not a string)");
    static const char *const dtypes[] = {"float32", "bfloat16", "float16", NULL};
    static const char *const dkeys[] = {"torch_dtype", "dtype"};
    for (int i = 0; i < 2; i++) {
        const cJSON *dt = cJSON_GetObjectItemCaseSensitive(root, dkeys[i]);
        if (dt && !cJSON_IsNull(dt) && !(cJSON_IsString(dt) && in_list(dt->valuestring, dtypes)))
            return af_error_set(AF_EFORMAT, "%s \"%s\" is not supported (float32, bfloat16, float16)",
                                dkeys[i], cJSON_IsString(dt) ? dt->valuestring : "(not a string)");
    }
    const cJSON *drop = cJSON_GetObjectItemCaseSensitive(root, "attention_dropout");
    if (drop && !(cJSON_IsNumber(drop) && drop->valuedouble == 0))
        return af_error_set(AF_EFORMAT, "attention_dropout: only 0 is supported");
    const cJSON *lt = cJSON_GetObjectItemCaseSensitive(root, "layer_types");
    if (lt && !cJSON_IsNull(lt)) {
        if (!cJSON_IsArray(lt)) return af_error_set(AF_EFORMAT, "layer_types: expected an array");
        for (const cJSON *e = lt->child; e; e = e->next)
            if (!cJSON_IsString(e) || strcmp(e->valuestring, "full_attention") != 0)
                return af_error_set(AF_EFORMAT, "layer_types: \"%s\" is not supported (full_attention)",
                                    cJSON_IsString(e) ? e->valuestring : "(not a string)");
    }
    if ((rc = parse_rope_scaling(cJSON_GetObjectItemCaseSensitive(root, "rope_scaling"), &c))) return rc;
    c.qk_norm = qwen3;
    /* an explicit head_dim equal to the implied one is the implied one (bit-identical
     * configs whichever way a file spells it) */
    if (c.head_dim && !qwen3 && c.n_heads > 0 && c.head_dim * c.n_heads == c.d_model) c.head_dim = 0;
    if (qwen3 && c.n_heads > 0 && c.head_dim * c.n_heads == c.d_model) c.head_dim = 0;
    if ((rc = af_model_config_validate(&c))) return rc;
    *out = c;
    return 0;
}

int af_model_config_load(const char *dir, AfModelConfig *cfg) {
    cJSON *root = NULL;
    int rc = read_json(dir, "config.json", &root);
    if (rc) return rc;
    rc = parse_config(root, cfg);
    if (rc) af_error_wrap(rc, "%s/config.json", dir);
    cJSON_Delete(root);
    return rc;
}

/* ------------------------------------------------------------------ weights */

static int tensor_allowed_extra(const AfModelConfig *c, const char *nm) {
    return (c->tied_embeddings && strcmp(nm, "lm_head.weight") == 0) || strstr(nm, "rotary_emb.inv_freq") != NULL;
}

/* Copy one tensor into the model after checking its shape. */
static int load_tensor(AfModel *m, const AfTensorInfo *ti, const AfSafetensors *st, const AfStTensor *t) {
    int ok = t->ndim == ti->ndim && t->shape[0] == ti->shape[0] && (ti->ndim == 1 || t->shape[1] == ti->shape[1]);
    if (!ok) {
        char got[160] = "", buf[32];
        for (int d = 0; d < t->ndim; d++) {
            snprintf(buf, sizeof buf, d ? ", %lld" : "%lld", (long long)t->shape[d]);
            strncat(got, buf, sizeof got - strlen(got) - 1);
        }
        if (ti->ndim == 1)
            return af_error_set(AF_EFORMAT, "%s: tensor %s: shape [%s], expected [%lld]", st->path, ti->name, got,
                                (long long)ti->shape[0]);
        return af_error_set(AF_EFORMAT, "%s: tensor %s: shape [%s], expected [%lld, %lld]", st->path, ti->name,
                            got, (long long)ti->shape[0], (long long)ti->shape[1]);
    }
    return af_safetensors_read_f32(st, t, m->params + ti->offset);
}

static int load_single(AfModel *m, const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    AfSafetensors *st = NULL;
    int rc = af_safetensors_open(path, &st);
    if (rc) return rc;
    for (int i = 0; i < m->n_tensors && !rc; i++) {
        const AfStTensor *t = af_safetensors_find(st, m->tensors[i].name);
        rc = t ? load_tensor(m, &m->tensors[i], st, t)
               : af_error_set(AF_EFORMAT, "%s: missing tensor %s", path, m->tensors[i].name);
    }
    for (int i = 0; i < st->n && !rc; i++) {
        const char *nm = st->tensors[i].name;
        if (!af_model_find_tensor(m, nm) && !tensor_allowed_extra(&m->cfg, nm))
            rc = af_error_set(AF_EFORMAT, "%s: unexpected tensor %s for this config", path, nm);
    }
    af_safetensors_close(st);
    return rc;
}

/* model.safetensors.index.json: every tensor through its weight_map shard; shard files
 * are opened once each (the index lists few distinct files). */
static int load_sharded(AfModel *m, const char *dir) {
    const char *iname = "model.safetensors.index.json";
    cJSON *root = NULL;
    int rc = read_json(dir, iname, &root);
    if (rc) return rc;
    int nsh = 0, cap = 0;
    char **names = NULL;
    AfSafetensors **shards = NULL;
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(wm)) {
        rc = af_error_set(AF_EFORMAT, "%s/%s: missing \"weight_map\" object", dir, iname);
        goto done;
    }
    for (const cJSON *e = wm->child; e; e = e->next) {
        if (!cJSON_IsString(e) || !e->valuestring[0] || strchr(e->valuestring, '/') || strcmp(e->valuestring, "..") == 0) {
            rc = af_error_set(AF_EFORMAT, "%s/%s: weight_map: %s: expected a file name in the directory", dir, iname,
                              e->string);
            goto done;
        }
        if (!af_model_find_tensor(m, e->string) && !tensor_allowed_extra(&m->cfg, e->string)) {
            rc = af_error_set(AF_EFORMAT, "%s/%s: unexpected tensor %s for this config", dir, iname, e->string);
            goto done;
        }
    }
    for (int i = 0; i < m->n_tensors; i++) {
        const AfTensorInfo *ti = &m->tensors[i];
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(wm, ti->name);
        if (!f) {
            rc = af_error_set(AF_EFORMAT, "%s/%s: missing tensor %s (not in weight_map)", dir, iname, ti->name);
            goto done;
        }
        int k = 0;
        while (k < nsh && strcmp(names[k], f->valuestring) != 0) k++;
        if (k == nsh) {
            if (nsh == cap) {
                cap = cap ? 2 * cap : 8;
                char **nn = realloc(names, (size_t)cap * sizeof *nn);
                if (nn) names = nn;
                AfSafetensors **ns = nn ? realloc(shards, (size_t)cap * sizeof *ns) : NULL;
                if (ns) shards = ns;
                if (!nn || !ns) {
                    rc = af_error_set(AF_ENOMEM, "%s: out of memory", dir);
                    goto done;
                }
            }
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, f->valuestring);
            names[nsh] = f->valuestring;
            shards[nsh] = NULL;
            if ((rc = af_safetensors_open(path, &shards[nsh]))) goto done;
            nsh++;
        }
        const AfStTensor *t = af_safetensors_find(shards[k], ti->name);
        if (!t) {
            rc = af_error_set(AF_EFORMAT, "%s: missing tensor %s (the index places it in this shard)",
                              shards[k]->path, ti->name);
            goto done;
        }
        if ((rc = load_tensor(m, ti, shards[k], t))) goto done;
    }
done:
    for (int i = 0; i < nsh; i++) af_safetensors_close(shards[i]);
    free(shards);
    free(names);
    cJSON_Delete(root);
    return rc;
}

int af_model_load_dir(const char *dir, int max_tokens, int max_seqs, int flags, AfModel **out) {
    *out = NULL;
    AfModelConfig cfg;
    int rc = af_model_config_load(dir, &cfg);
    if (rc) return rc;
    AfModel *m = NULL;
    if ((rc = af_model_create(&cfg, max_tokens, max_seqs, flags, &m))) return rc;
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    struct stat sb;
    int single = stat(path, &sb) == 0;
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    if (!single && stat(path, &sb) != 0) {
        af_model_destroy(m);
        return af_error_set(AF_EIO, "%s: neither model.safetensors nor model.safetensors.index.json", dir);
    }
    rc = single ? load_single(m, dir) : load_sharded(m, dir);
    if (rc) {
        af_model_destroy(m);
        return rc;
    }
    *out = m;
    return 0;
}

/* ------------------------------------------------------------------ writing */

static const char *family_name(const AfModelConfig *c) {
    return c->qk_norm ? "qwen3" : c->qkv_bias ? "qwen2" : "llama";
}

/* config.json of a model without a source directory. For the project's own configs
 * (no head_dim, qk_norm or rope scaling) the keys and their order are those written
 * before the other families existed. */
static cJSON *config_build(const AfModelConfig *c, const char *torch_dtype) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    const char *arch = c->qk_norm ? "Qwen3ForCausalLM" : c->qkv_bias ? "Qwen2ForCausalLM" : "LlamaForCausalLM";
    cJSON_AddItemToObject(root, "architectures", cJSON_CreateStringArray(&arch, 1));
    cJSON_AddStringToObject(root, "model_type", family_name(c));
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
    cJSON_AddStringToObject(root, "torch_dtype", torch_dtype);
    if (c->head_dim || c->qk_norm) cJSON_AddNumberToObject(root, "head_dim", af_model_config_head_dim(c));
    if (c->rope_llama3) {
        cJSON *rs = cJSON_AddObjectToObject(root, "rope_scaling");
        if (rs) {
            cJSON_AddStringToObject(rs, "rope_type", "llama3");
            cJSON_AddNumberToObject(rs, "factor", c->rope_factor);
            cJSON_AddNumberToObject(rs, "low_freq_factor", c->rope_low_freq_factor);
            cJSON_AddNumberToObject(rs, "high_freq_factor", c->rope_high_freq_factor);
            cJSON_AddNumberToObject(rs, "original_max_position_embeddings", c->rope_orig_max_pos);
        }
    }
    return root;
}

static int write_json(const char *dir, const char *name, const cJSON *root) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *text = cJSON_Print(root);
    if (!text) return af_error_set(AF_ENOMEM, "%s: out of memory", path);
    size_t n = strlen(text);
    FILE *f = fopen(path, "w");
    int bad = !f || fwrite(text, 1, n, f) != n || fputc('\n', f) == EOF;
    if (f && fclose(f) != 0) bad = 1;
    free(text);
    return bad ? af_error_set(AF_EIO, "%s: write failed: %s", path, strerror(errno)) : 0;
}

/* Tensor list of the model in table order (pointers into the model). */
typedef struct {
    const char **names;
    int *ndims;
    int64_t (*shapes)[2];
    const float **data;
} TensorList;

static void tlist_free(TensorList *t) {
    free(t->names);
    free(t->ndims);
    free(t->shapes);
    free(t->data);
}

static int tlist_make(const AfModel *m, TensorList *t) {
    size_t n = (size_t)m->n_tensors;
    t->names = calloc(n, sizeof *t->names);
    t->ndims = calloc(n, sizeof *t->ndims);
    t->shapes = calloc(n, sizeof *t->shapes);
    t->data = calloc(n, sizeof *t->data);
    if (!t->names || !t->ndims || !t->shapes || !t->data) {
        tlist_free(t);
        return af_error_set(AF_ENOMEM, "out of memory");
    }
    for (int i = 0; i < m->n_tensors; i++) {
        t->names[i] = m->tensors[i].name;
        t->ndims[i] = m->tensors[i].ndim;
        t->shapes[i][0] = m->tensors[i].shape[0];
        t->shapes[i][1] = m->tensors[i].shape[1];
        t->data[i] = m->params + m->tensors[i].offset;
    }
    return 0;
}

int af_model_save_dir(const AfModel *m, const char *dir) {
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return af_error_set(AF_EIO, "%s: cannot create directory: %s", dir, strerror(errno));
    char path[4096];
    TensorList t;
    int rc = tlist_make(m, &t);
    if (rc) return af_error_wrap(rc, "%s", dir);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    rc = af_safetensors_write(path, m->n_tensors, t.names, t.ndims, (const int64_t(*)[2])t.shapes, t.data);
    tlist_free(&t);
    if (rc) return rc;
    cJSON *root = config_build(&m->cfg, "float32");
    if (!root) return af_error_set(AF_ENOMEM, "%s: out of memory", dir);
    rc = write_json(dir, "config.json", root);
    cJSON_Delete(root);
    return rc;
}

/* Set root[key] to a number unless it already holds that value (as the model stores it,
 * float or int), so unchanged fields keep the source's exact spelling. */
static void set_num(cJSON *root, const char *key, double v, int is_float) {
    cJSON *x = cJSON_GetObjectItemCaseSensitive(root, key);
    if (x && cJSON_IsNumber(x) && (is_float ? (float)x->valuedouble == (float)v : x->valuedouble == v)) return;
    cJSON *n = cJSON_CreateNumber(v);
    if (!n) return;
    if (x) cJSON_ReplaceItemInObjectCaseSensitive(root, key, n);
    else cJSON_AddItemToObject(root, key, n);
}

static void set_bool(cJSON *root, const char *key, int v) {
    cJSON *x = cJSON_GetObjectItemCaseSensitive(root, key);
    if (x && cJSON_IsBool(x) && cJSON_IsTrue(x) == (v != 0)) return;
    cJSON *n = cJSON_CreateBool(v);
    if (!n) return;
    if (x) cJSON_ReplaceItemInObjectCaseSensitive(root, key, n);
    else cJSON_AddItemToObject(root, key, n);
}

static void set_str(cJSON *root, const char *key, const char *v) {
    cJSON *n = cJSON_CreateString(v);
    if (!n) return;
    if (cJSON_GetObjectItemCaseSensitive(root, key)) cJSON_ReplaceItemInObjectCaseSensitive(root, key, n);
    else cJSON_AddItemToObject(root, key, n);
}

/* The source's config.json with the fields the project owns set from the model. */
static int config_from_source(const AfModelConfig *c, const char *src, const char *torch_dtype, cJSON **out) {
    cJSON *root = NULL;
    int rc = read_json(src, "config.json", &root);
    if (rc) return rc;
    AfModelConfig sc;
    if ((rc = parse_config(root, &sc))) {
        cJSON_Delete(root);
        return af_error_wrap(rc, "%s/config.json", src);
    }
    set_num(root, "vocab_size", c->vocab_size, 0);
    set_num(root, "hidden_size", c->d_model, 0);
    set_num(root, "intermediate_size", c->d_ff, 0);
    set_num(root, "num_hidden_layers", c->n_layers, 0);
    set_num(root, "num_attention_heads", c->n_heads, 0);
    set_num(root, "num_key_value_heads", c->n_kv_heads, 0);
    set_num(root, "max_position_embeddings", c->max_seq, 0);
    set_num(root, "rms_norm_eps", c->rms_eps, 1);
    set_num(root, "rope_theta", c->rope_theta, 1);
    set_bool(root, "tie_word_embeddings", c->tied_embeddings);
    if (c->head_dim || cJSON_GetObjectItemCaseSensitive(root, "head_dim"))
        set_num(root, "head_dim", af_model_config_head_dim(c), 0);
    if (cJSON_GetObjectItemCaseSensitive(root, "attention_bias") || c->qkv_bias != (sc.qkv_bias != 0))
        set_bool(root, "attention_bias", c->qkv_bias);
    set_str(root, "torch_dtype", torch_dtype);
    if (cJSON_GetObjectItemCaseSensitive(root, "dtype")) set_str(root, "dtype", torch_dtype);
    *out = root;
    return 0;
}

/* Copies src_dir/name to dst_dir/name when it exists. */
static int copy_file(const char *src_dir, const char *dst_dir, const char *name) {
    char src[4096], dst[4096];
    snprintf(src, sizeof src, "%s/%s", src_dir, name);
    snprintf(dst, sizeof dst, "%s/%s", dst_dir, name);
    int rc = af_copy_file(src, dst);
    return rc == AF_ENOTFOUND ? 0 : rc;
}

int af_model_copy_tokenizer(const char *src_dir, const char *dst_dir) {
    static const char *const files[] = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                        "generation_config.json", "chat_template.jinja"};
    int rc = 0;
    for (size_t i = 0; i < sizeof files / sizeof files[0] && !rc; i++) rc = copy_file(src_dir, dst_dir, files[i]);
    return rc;
}

int af_model_export_dir(const AfModel *m, const char *dir, const AfExportOptions *o) {
    if (o->dtype != AF_DT_F32 && o->dtype != AF_DT_BF16)
        return af_error_set(AF_EINVAL, "export: dtype must be float32 or bfloat16");
    const char *tdt = o->dtype == AF_DT_F32 ? "float32" : "bfloat16";
    cJSON *cfg = NULL, *index = NULL;
    TensorList t = {0};
    int rc = af_mkdir_p(dir);
    if (rc) return rc;
    if (o->source_dir && o->source_dir[0]) {
        AfModelConfig sc;
        if ((rc = af_model_config_load(o->source_dir, &sc))) return af_error_wrap(rc, "export source");
        if (sc.qk_norm != m->cfg.qk_norm || sc.rope_llama3 != m->cfg.rope_llama3)
            return af_error_set(AF_EINVAL, "export: the model is not of the source's family (%s)", o->source_dir);
        if ((rc = config_from_source(&m->cfg, o->source_dir, tdt, &cfg))) return rc;
    } else if (!(cfg = config_build(&m->cfg, tdt))) {
        return af_error_set(AF_ENOMEM, "%s: out of memory", dir);
    }
    if ((rc = tlist_make(m, &t))) goto done;
    size_t es = o->dtype == AF_DT_F32 ? 4 : 2;
    uint64_t total = 0;
    for (int i = 0; i < m->n_tensors; i++) total += (uint64_t)m->tensors[i].numel * es;
    char path[4096];
    /* remove the other layout of an earlier export, so a reader finds this one */
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    unlink(path);
    if (o->max_shard_bytes == 0 || total <= o->max_shard_bytes) {
        rc = af_safetensors_write_dtype(path, m->n_tensors, t.names, t.ndims, (const int64_t(*)[2])t.shapes,
                                        t.data, o->dtype, "pt");
        if (rc) goto done;
    } else {
        /* shards in table order, each up to max_shard_bytes (HF's split_torch_state_dict_into_shards) */
        int nshard = 0;
        uint64_t fill = 0;
        int *shard_of = calloc((size_t)m->n_tensors, sizeof *shard_of);
        if (!shard_of) {
            rc = af_error_set(AF_ENOMEM, "%s: out of memory", dir);
            goto done;
        }
        for (int i = 0; i < m->n_tensors; i++) {
            uint64_t b = (uint64_t)m->tensors[i].numel * es;
            if (nshard == 0 || (fill > 0 && fill + b > o->max_shard_bytes)) {
                nshard++;
                fill = 0;
            }
            fill += b;
            shard_of[i] = nshard - 1;
        }
        index = cJSON_CreateObject();
        cJSON *md = index ? cJSON_AddObjectToObject(index, "metadata") : NULL;
        cJSON *wm = md && cJSON_AddNumberToObject(md, "total_size", (double)total) ? cJSON_AddObjectToObject(index, "weight_map") : NULL;
        if (!wm) rc = af_error_set(AF_ENOMEM, "%s: out of memory", dir);
        int i0 = 0;
        char fname[64];
        for (int s = 0; s < nshard && !rc; s++) {
            int i1 = i0;
            while (i1 < m->n_tensors && shard_of[i1] == s) i1++;
            snprintf(fname, sizeof fname, "model-%05d-of-%05d.safetensors", s + 1, nshard);
            snprintf(path, sizeof path, "%s/%s", dir, fname);
            rc = af_safetensors_write_dtype(path, i1 - i0, t.names + i0, t.ndims + i0,
                                            (const int64_t(*)[2])(t.shapes + i0), t.data + i0, o->dtype, "pt");
            i0 = i1;
        }
        if (!rc) { /* weight_map sorted by name, as Hugging Face writes it */
            int *ord = malloc((size_t)m->n_tensors * sizeof *ord);
            if (!ord) rc = af_error_set(AF_ENOMEM, "%s: out of memory", dir);
            for (int i = 0; ord && i < m->n_tensors; i++) {
                int j = i;
                while (j > 0 && strcmp(t.names[ord[j - 1]], t.names[i]) > 0) {
                    ord[j] = ord[j - 1];
                    j--;
                }
                ord[j] = i;
            }
            for (int i = 0; ord && i < m->n_tensors; i++) {
                snprintf(fname, sizeof fname, "model-%05d-of-%05d.safetensors", shard_of[ord[i]] + 1, nshard);
                cJSON_AddStringToObject(wm, t.names[ord[i]], fname);
            }
            free(ord);
        }
        free(shard_of);
        if (!rc) rc = write_json(dir, "model.safetensors.index.json", index);
        if (rc) goto done;
    }
    if ((rc = write_json(dir, "config.json", cfg))) goto done;
    if (o->source_dir && o->source_dir[0]) rc = af_model_copy_tokenizer(o->source_dir, dir);
done:
    tlist_free(&t);
    cJSON_Delete(cfg);
    cJSON_Delete(index);
    return rc;
}
