/* Loading a Hugging Face tokenizer.json (+ tokenizer_config.json, generation_config.json)
 * into the byte-level BPE of common/tokenizer_bpe.c; refuses what it does not support,
 * naming it (docs/tokenizers.md). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/fsutil.h"
#include "common/tokenizer_bpe.h"

#define FMT(...) af_error_set(AF_EFORMAT, "tokenizer.json: " __VA_ARGS__)
#define CFG(...) af_error_set(AF_ECONFIG, "tokenizer.json: " __VA_ARGS__)

static const char *json_type(const cJSON *j) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "type");
    return cJSON_IsString(t) ? t->valuestring : NULL;
}

static int json_bool(const cJSON *obj, const char *key, int dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
    return dflt;
}

static int json_id(const cJSON *v, const char *what, uint32_t *id) {
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 0x7ffffffe || v->valuedouble != (double)(int64_t)v->valuedouble)
        return FMT("%s: expected a token id (an integer in [0, 2^31-1))", what);
    *id = (uint32_t)v->valuedouble;
    return 0;
}

static int load_normalizer(AfBpe *b, const cJSON *n) {
    if (!n || cJSON_IsNull(n)) return 0;
    const char *type = json_type(n);
    if (!type) return FMT("normalizer: missing \"type\"");
    if (strcmp(type, "NFC") == 0) { b->nfc = 1; return 0; }
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(n, "normalizers"), *e;
        if (!cJSON_IsArray(list)) return FMT("normalizer Sequence: missing \"normalizers\" array");
        if (cJSON_GetArraySize(list) > 1) return CFG("normalizer Sequence of %d normalizers is not supported (only NFC)", cJSON_GetArraySize(list));
        cJSON_ArrayForEach(e, list) {
            int rc = load_normalizer(b, e);
            if (rc) return rc;
        }
        return 0;
    }
    return CFG("normalizer type \"%s\" is not supported (supported: NFC, Sequence of one NFC)", type);
}

static int add_step(AfBpe *b, Step st) {
    Step *p = realloc(b->steps, (b->n_steps + 1) * sizeof *p);
    if (!p) { af_jsregex_destroy(st.re); return af_error_set(AF_ENOMEM, "tokenizer: out of memory"); }
    b->steps = p;
    b->steps[b->n_steps++] = st;
    return 0;
}

static const char kGpt2Pattern[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static int load_pretok(AfBpe *b, const cJSON *p) {
    const char *type = json_type(p);
    if (!type) return FMT("pre_tokenizer: missing \"type\"");
    if (b->n_steps && b->steps[b->n_steps - 1].kind == STEP_BYTELEVEL)
        return CFG("pre_tokenizer \"%s\" after ByteLevel is not supported (ByteLevel must come last)", type);
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(p, "pretokenizers"), *e;
        if (!cJSON_IsArray(list)) return FMT("pre_tokenizer Sequence: missing \"pretokenizers\" array");
        cJSON_ArrayForEach(e, list) {
            int rc = load_pretok(b, e);
            if (rc) return rc;
        }
        return 0;
    }
    Step st = {0};
    int rc;
    if (strcmp(type, "Split") == 0) {
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(p, "pattern");
        const cJSON *re = cJSON_GetObjectItemCaseSensitive(pat, "Regex");
        const cJSON *str = cJSON_GetObjectItemCaseSensitive(pat, "String");
        const cJSON *beh = cJSON_GetObjectItemCaseSensitive(p, "behavior");
        if (!cJSON_IsString(re) && !cJSON_IsString(str)) return FMT("pre_tokenizer Split: \"pattern\" needs a \"Regex\" or \"String\"");
        if (!cJSON_IsString(beh)) return FMT("pre_tokenizer Split: missing \"behavior\"");
        st.kind = STEP_SPLIT;
        st.invert = json_bool(p, "invert", 0);
        if (strcmp(beh->valuestring, "Removed") == 0) st.removed = 1;
        else if (strcmp(beh->valuestring, "Isolated") != 0)
            return CFG("pre_tokenizer Split behavior \"%s\" is not supported (supported: Isolated, Removed)", beh->valuestring);
        /* a String pattern is matched literally; transformers.js wraps it in a group unless inverted */
        rc = af_jsregex_compile(cJSON_IsString(re) ? re->valuestring : str->valuestring,
                                cJSON_IsString(re) ? 0 : st.invert ? 1 : 2, &st.re);
        if (rc) return af_error_wrap(rc, "tokenizer.json: pre_tokenizer Split");
        return add_step(b, st);
    }
    if (strcmp(type, "ByteLevel") == 0) {
        st.kind = STEP_BYTELEVEL;
        st.add_prefix_space = json_bool(p, "add_prefix_space", 0);
        if (json_bool(p, "use_regex", 1)) {
            rc = af_jsregex_compile(kGpt2Pattern, 0, &st.re);
            if (rc) return af_error_wrap(rc, "tokenizer.json: pre_tokenizer ByteLevel");
        }
        return add_step(b, st);
    }
    if (strcmp(type, "Digits") == 0) { /* transformers.js: text.match(/[^\d]+|\d+/gu), \d once if individual */
        st.kind = STEP_SPLIT;
        st.invert = 1;
        rc = af_jsregex_compile(json_bool(p, "individual_digits", 0) ? "[^\\d]+|\\d" : "[^\\d]+|\\d+", 0, &st.re);
        if (rc) return af_error_wrap(rc, "tokenizer.json: pre_tokenizer Digits");
        return add_step(b, st);
    }
    return CFG("pre_tokenizer type \"%s\" is not supported (supported: Split, Digits, ByteLevel, Sequence)", type);
}

/* Added token content -> encode-side key (the byte-level alphabet undone) and record. */
static int add_added(AfBpe *b, const char *content, uint32_t id, int special, int lstrip, int rstrip, AfBytes *tmp) {
    size_t len = strlen(content);
    if (len == 0) return FMT("added token %u has empty content", id);
    for (size_t k = 0; k < b->n_added; k++)
        if (b->added[k].id == id || (b->added[k].len == len && memcmp(b->added[k].content, content, len) == 0)) {
            b->added[k].special |= special;
            return 0; /* the same token listed again (tokenizer_config.json) */
        }
    Added *p = realloc(b->added, (b->n_added + 1) * sizeof *p);
    if (!p) return af_error_set(AF_ENOMEM, "tokenizer: out of memory");
    b->added = p;
    char *c = strdup(content);
    if (!c) return af_error_set(AF_ENOMEM, "tokenizer: out of memory");
    b->added[b->n_added++] = (Added){c, len, id, lstrip, rstrip, special};
    b->added_first[(unsigned char)c[0]]++;
    /* decode gives the content; the vocabulary map sees it in the byte-level alphabet */
    int rc = af_bpe_sym_set(b, id, content, len, 1);
    if (rc) return rc;
    rc = af_bpe_bytelevel_decode(content, len, tmp);
    if (rc < 0) return rc;
    /* the vocabulary map (ignore_merges) sees the content in the byte-level alphabet:
     * the same bytes when the content is printable ASCII without spaces (every real file) */
    if (rc == 0 && tmp->len == len && memcmp(tmp->data, content, len) == 0) return af_bpe_map_put(b, id);
    return 0;
}

/* "name" or {"content": "name"} or null -> the token's id, or -1. */
static int64_t config_token(const AfBpe *b, const cJSON *cfg, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (cJSON_IsObject(v)) v = cJSON_GetObjectItemCaseSensitive(v, "content");
    if (!cJSON_IsString(v)) return -1;
    uint32_t id = 0;
    if (af_bpe_token_id(b, v->valuestring, strlen(v->valuestring), &id)) { af_error_clear(); return -1; }
    return id;
}

static int push_eos(AfTokenIds *eos, int64_t id) {
    if (id < 0) return 0;
    for (size_t i = 0; i < eos->n; i++)
        if (eos->ids[i] == (uint32_t)id) return 0;
    return af_token_ids_push(eos, (uint32_t)id);
}

/* Does tokenizer.json's post_processor template start with the token `bos`? */
static int template_adds_bos(const cJSON *pp, int64_t bos) {
    if (!pp || bos < 0) return 0;
    const char *type = json_type(pp);
    if (type && strcmp(type, "Sequence") == 0) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(pp, "processors"))
            if (template_adds_bos(e, bos)) return 1;
        return 0;
    }
    if (!type || strcmp(type, "TemplateProcessing") != 0) return 0;
    const cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(pp, "single"), 0);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(first, "SpecialToken"), "id");
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(pp, "special_tokens"),
                                                       cJSON_IsString(name) ? name->valuestring : "");
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(sp, "ids");
    const cJSON *id0 = cJSON_GetArrayItem(ids, 0);
    return cJSON_IsNumber(id0) && (int64_t)id0->valuedouble == bos;
}

/* Fill sp; its eos_ids point into *eos (the caller frees it). */
static int load_specials(AfBpe *b, const cJSON *root, const cJSON *cfg, const cJSON *gen, AfTokenizerSpecials *sp,
                         AfTokenIds *eos) {
    sp->bos_id = config_token(b, cfg, "bos_token");
    sp->eos_id = config_token(b, cfg, "eos_token");
    sp->pad_id = config_token(b, cfg, "pad_token");
    sp->unk_id = config_token(b, cfg, "unk_token");
    if (sp->unk_id < 0) sp->unk_id = b->unk_id;
    sp->add_bos = json_bool(cfg, "add_bos_token", -1);
    if (sp->add_bos < 0) sp->add_bos = template_adds_bos(cJSON_GetObjectItemCaseSensitive(root, "post_processor"), sp->bos_id);
    sp->add_eos = json_bool(cfg, "add_eos_token", 0);
    sp->clean_up_spaces = json_bool(cfg, "clean_up_tokenization_spaces", 1);
    int rc = push_eos(eos, sp->eos_id);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(gen, "eos_token_id"), *x;
    if (gen && e && !cJSON_IsNull(e)) {
        if (cJSON_IsArray(e)) {
            cJSON_ArrayForEach(x, e) {
                uint32_t id = 0;
                if (!rc && json_id(x, "eos_token_id", &id)) rc = af_error_set(AF_EFORMAT, "generation_config.json: eos_token_id: expected token ids");
                if (!rc) rc = push_eos(eos, id);
            }
        } else {
            uint32_t id = 0;
            if (!rc && json_id(e, "eos_token_id", &id)) rc = af_error_set(AF_EFORMAT, "generation_config.json: eos_token_id: expected an id or a list of ids");
            if (!rc) rc = push_eos(eos, id);
        }
    }
    for (size_t i = 0; !rc && i < eos->n; i++)
        if (eos->ids[i] >= b->vocab_size || !b->is_token[eos->ids[i]])
            rc = af_error_set(AF_ECONFIG, "generation_config.json: eos_token_id %u is not a token (vocabulary size %u)",
                              eos->ids[i], b->vocab_size);
    sp->eos_ids = eos->ids;
    sp->n_eos = eos->n;
    return rc;
}


/* One merge entry ("a b" or ["a", "b"]) -> the two sides as byte-level strings. */
static int merge_sides(const cJSON *m, size_t rank, const char **l, size_t *ll, const char **r, size_t *rl) {
    if (cJSON_IsString(m)) {
        /* JavaScript x.split(" ", 2): the text up to the first space, then up to the next */
        const char *s = m->valuestring, *sp = strchr(s, ' ');
        if (!sp) return FMT("model.merges[%zu]: \"%.60s\" has no space", rank, s);
        const char *e = strchr(sp + 1, ' ');
        *l = s; *ll = (size_t)(sp - s);
        *r = sp + 1; *rl = e ? (size_t)(e - sp - 1) : strlen(sp + 1);
        return 0;
    }
    const cJSON *a = cJSON_GetArrayItem(m, 0), *c = cJSON_GetArrayItem(m, 1);
    if (!cJSON_IsArray(m) || !cJSON_IsString(a) || !cJSON_IsString(c))
        return FMT("model.merges[%zu]: expected \"a b\" or [\"a\", \"b\"]", rank);
    *l = a->valuestring; *ll = strlen(a->valuestring);
    *r = c->valuestring; *rl = strlen(c->valuestring);
    return 0;
}

static int load_merges(AfBpe *b, const cJSON *merges) {
    if (!cJSON_IsArray(merges)) return FMT("model.merges: expected an array");
    size_t n = (size_t)cJSON_GetArraySize(merges), cap = 1024;
    while (cap < n * 2) cap *= 2;
    b->merges = malloc(cap * sizeof *b->merges);
    if (!b->merges) return af_error_set(AF_ENOMEM, "tokenizer: %zu merges", n);
    memset(b->merges, 0xff, cap * sizeof *b->merges);
    b->merge_cap = cap;
    AfBytes lb = {0}, rb = {0};
    const cJSON *m;
    size_t rank = 0;
    int rc = 0;
    cJSON_ArrayForEach(m, merges) {
        const char *l = NULL, *r = NULL;
        size_t ll = 0, rl = 0;
        uint32_t li = 0, ri = 0, mi = 0;
        rc = merge_sides(m, rank, &l, &ll, &r, &rl);
        if (rc) break;
        int bl = af_bpe_bytelevel_decode(l, ll, &lb), br = bl ? bl : af_bpe_bytelevel_decode(r, rl, &rb);
        if (bl < 0 || br < 0) { rc = bl < 0 ? bl : br; break; }
        if (bl == 0 && br == 0 && lb.len && rb.len) { /* a side outside the alphabet can never apply */
            rc = af_bpe_sym_intern(b, lb.data, lb.len, &li);
            if (!rc) rc = af_bpe_sym_intern(b, rb.data, rb.len, &ri);
            if (!rc) rc = af_bytes_append(&lb, rb.data, rb.len);
            if (!rc) rc = af_bpe_sym_intern(b, lb.data, lb.len, &mi);
            if (!rc) rc = af_bpe_merges_put(b, li, ri, (uint32_t)rank, mi);
            if (rc) break;
        }
        rank++;
    }
    af_bytes_free(&lb);
    af_bytes_free(&rb);
    return rc;
}

static int load_vocab(AfBpe *b, const cJSON *vocab) {
    if (!cJSON_IsObject(vocab)) return FMT("model.vocab: expected an object of token -> id");
    AfBytes tmp = {0};
    const cJSON *e;
    int rc = 0;
    cJSON_ArrayForEach(e, vocab) {
        uint32_t id = 0;
        if ((rc = json_id(e, "model.vocab", &id))) break;
        if (id + 1 > b->n_syms) b->n_syms = id + 1;
        const char *k = e->string;
        int bl = af_bpe_bytelevel_decode(k, strlen(k), &tmp);
        if (bl < 0) { rc = bl; break; }
        if (bl == 0) rc = af_bpe_sym_set(b, id, tmp.data, tmp.len, 1);
        else rc = af_bpe_sym_set(b, id, k, strlen(k), 1); /* not byte-level: decodes as its text */
        if (!rc && bl == 0) rc = af_bpe_map_put(b, id);
        if (rc) break;
    }
    af_bytes_free(&tmp);
    return rc;
}

static int load_added(AfBpe *b, const cJSON *root, const cJSON *cfg) {
    AfBytes tmp = {0};
    const cJSON *e, *list = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    int rc = 0;
    if (list && !cJSON_IsArray(list)) return FMT("added_tokens: expected an array");
    size_t k = 0;
    cJSON_ArrayForEach(e, list) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "content");
        uint32_t id = 0;
        if (!cJSON_IsString(c)) { rc = FMT("added_tokens[%zu]: missing \"content\"", k); break; }
        if ((rc = json_id(cJSON_GetObjectItemCaseSensitive(e, "id"), "added_tokens[].id", &id))) break;
        if (id + 1 > b->n_syms) b->n_syms = id + 1;
        rc = add_added(b, c->valuestring, id, json_bool(e, "special", 0), json_bool(e, "lstrip", 0), json_bool(e, "rstrip", 0), &tmp);
        if (rc) break;
        k++;
    }
    /* tokenizer_config.json added_tokens_decoder: {"151643": {"content": ..., "special": ...}} */
    const cJSON *dec = cJSON_GetObjectItemCaseSensitive(cfg, "added_tokens_decoder");
    cJSON_ArrayForEach(e, dec) {
        if (rc) break;
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "content");
        char *end = NULL;
        long id = strtol(e->string, &end, 10);
        if (!cJSON_IsString(c) || !end || *end || id < 0 || id > 0x7ffffffe) {
            rc = af_error_set(AF_EFORMAT, "tokenizer_config.json: added_tokens_decoder \"%.40s\": expected an id and a content", e->string);
            break;
        }
        if ((uint32_t)id + 1 > b->n_syms) b->n_syms = (uint32_t)id + 1;
        rc = add_added(b, c->valuestring, (uint32_t)id, json_bool(e, "special", 0), json_bool(e, "lstrip", 0), json_bool(e, "rstrip", 0), &tmp);
    }
    af_bytes_free(&tmp);
    return rc;
}

static int load_model(AfBpe *b, const cJSON *root, const cJSON *cfg) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsObject(model)) return FMT("missing \"model\"");
    const char *type = json_type(model);
    if (type ? strcmp(type, "BPE") != 0 : !cJSON_GetObjectItemCaseSensitive(model, "merges"))
        return CFG("model type \"%s\" is not supported (supported: BPE)", type ? type : "(none)");
    if (json_bool(model, "byte_fallback", 0)) return CFG("model.byte_fallback is not supported (byte-level BPE only)");
    const char *strs[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(model, strs[i]);
        if (cJSON_IsString(v) && v->valuestring[0]) return CFG("model.%s \"%s\" is not supported", strs[i], v->valuestring);
    }
    const cJSON *drop = cJSON_GetObjectItemCaseSensitive(model, "dropout");
    if (cJSON_IsNumber(drop) && drop->valuedouble != 0) return CFG("model.dropout %g is not supported", drop->valuedouble);
    b->ignore_merges = json_bool(model, "ignore_merges", 0);
    int rc = load_vocab(b, cJSON_GetObjectItemCaseSensitive(model, "vocab"));
    if (!rc) rc = load_added(b, root, cfg);
    if (rc) return rc;
    b->vocab_size = b->n_syms;
    if (b->vocab_size == 0) return FMT("model.vocab is empty");
    if ((rc = af_bpe_syms_reserve(b, b->vocab_size))) return rc;
    b->special = calloc(b->vocab_size, 1);
    if (!b->special) return af_error_set(AF_ENOMEM, "tokenizer: out of memory");
    for (size_t k = 0; k < b->n_added; k++) b->special[b->added[k].id] = (unsigned char)b->added[k].special;
    for (int c = 0; c < 256; c++) {
        char ch = (char)c;
        if ((rc = af_bpe_sym_intern(b, &ch, 1, &b->byte_sym[c]))) return rc;
    }
    if ((rc = load_merges(b, cJSON_GetObjectItemCaseSensitive(model, "merges")))) return rc;
    b->unk_id = -1;
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
    if (cJSON_IsString(unk)) {
        uint32_t id = 0;
        if (af_bpe_token_id(b, unk->valuestring, strlen(unk->valuestring), &id) == 0) b->unk_id = id;
        else af_error_clear();
    }
    return 0;
}

int af_tokenizer_load_json(const char *tokenizer_json, size_t len, const char *config_json,
                           const char *generation_json, AfTokenizer **out) {
    *out = NULL;
    af_bpe_bytelevel_init();
    cJSON *root = cJSON_ParseWithLength(tokenizer_json, len), *cfg = NULL, *gen = NULL;
    AfBpe *b = NULL;
    int rc = 0;
    AfTokenIds eos = {0};
    AfTokenizerSpecials sp;
    if (!root || !cJSON_IsObject(root)) { rc = FMT("not a JSON object"); goto fail; }
    if (config_json && !(cfg = cJSON_Parse(config_json))) { rc = af_error_set(AF_EFORMAT, "tokenizer_config.json: not valid JSON"); goto fail; }
    if (generation_json && !(gen = cJSON_Parse(generation_json))) { rc = af_error_set(AF_EFORMAT, "generation_config.json: not valid JSON"); goto fail; }
    b = calloc(1, sizeof *b);
    if (!b) { rc = af_error_set(AF_ENOMEM, "tokenizer: out of memory"); goto fail; }
    b->cache = calloc(CACHE_SLOTS, sizeof *b->cache);
    if (!b->cache) { rc = af_error_set(AF_ENOMEM, "tokenizer: out of memory"); goto fail; }
    if ((rc = load_model(b, root, cfg))) goto fail;
    if ((rc = load_normalizer(b, cJSON_GetObjectItemCaseSensitive(root, "normalizer")))) goto fail;
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    if (pre && !cJSON_IsNull(pre) && (rc = load_pretok(b, pre))) goto fail;
    if (!b->n_steps || b->steps[b->n_steps - 1].kind != STEP_BYTELEVEL) {
        rc = CFG("pre_tokenizer has no ByteLevel step (only byte-level BPE is supported)");
        goto fail;
    }
    const cJSON *dec = cJSON_GetObjectItemCaseSensitive(root, "decoder");
    const char *dtype = json_type(dec);
    if (!dtype || strcmp(dtype, "ByteLevel") != 0) {
        rc = CFG("decoder type \"%s\" is not supported (supported: ByteLevel)", dtype ? dtype : "(none)");
        goto fail;
    }
    if ((rc = load_specials(b, root, cfg, gen, &sp, &eos))) goto fail;
    cJSON_Delete(root);
    cJSON_Delete(cfg);
    cJSON_Delete(gen);
    rc = af_tokenizer_wrap(&af_bpe_ops, b, b->vocab_size, &sp, out);
    af_token_ids_free(&eos);
    return rc;
fail:
    af_bpe_destroy(b);
    af_token_ids_free(&eos);
    cJSON_Delete(root);
    cJSON_Delete(cfg);
    cJSON_Delete(gen);
    return rc;
}

#define MAX_TOKENIZER_JSON ((size_t)1 << 30)

static int read_optional(const char *dir, const char *name, char **out) {
    char path[4096];
    size_t len;
    *out = NULL;
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return af_error_set(AF_EINVAL, "tokenizer: directory path too long");
    int rc = af_read_file(path, MAX_TOKENIZER_JSON, out, &len);
    if (rc == AF_ENOTFOUND) { af_error_clear(); return 0; }
    return rc;
}

int af_tokenizer_load(const char *dir, AfTokenizer **out) {
    char path[4096], *tj = NULL, *cj = NULL, *gj = NULL;
    size_t len;
    *out = NULL;
    if ((size_t)snprintf(path, sizeof path, "%s/tokenizer.json", dir) >= sizeof path)
        return af_error_set(AF_EINVAL, "tokenizer: directory path too long");
    int rc = af_read_file(path, MAX_TOKENIZER_JSON, &tj, &len);
    if (rc) return rc; /* the detail names the path */
    rc = read_optional(dir, "tokenizer_config.json", &cj);
    if (!rc) rc = read_optional(dir, "generation_config.json", &gj);
    if (!rc) {
        rc = af_tokenizer_load_json(tj, len, cj, gj, out);
        if (rc) af_error_wrap(rc, "%s", dir);
    }
    free(tj);
    free(cj);
    free(gj);
    return rc;
}
