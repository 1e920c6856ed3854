/* A model's chat template (tokenizer_config.json), rendered with the variables that
 * transformers' apply_chat_template passes, and the end-of-sequence set. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/chat_template.h"
#include "common/error.h"
#include "common/fsutil.h"
#include "common/jinja.h"

#define MAX_CONFIG_BYTES ((size_t)64 << 20)
#define MAX_TEMPLATES 16

struct AfChatTemplate {
    char *names[MAX_TEMPLATES]; /* NULL for a single unnamed template */
    AfJinja *tpl[MAX_TEMPLATES];
    int n;
    cJSON *specials; /* object: the special-token variables */
};

static const char *const special_keys[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                           "pad_token", "cls_token", "mask_token", NULL};

/* A special token's text: a string, or an AddedToken object's "content". */
static const char *token_text(const cJSON *v) {
    if (cJSON_IsString(v)) return v->valuestring;
    if (cJSON_IsObject(v)) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(v, "content");
        if (cJSON_IsString(c)) return c->valuestring;
    }
    return NULL;
}

/* The special tokens of cfg, with those it leaves unset taken from map
 * (special_tokens_map.json; may be NULL), as transformers' from_pretrained does. */
static int add_specials(AfChatTemplate *t, const cJSON *cfg, const cJSON *map) {
    t->specials = cJSON_CreateObject();
    if (!t->specials) return af_error_set(AF_ENOMEM, "chat template: out of memory");
    for (int i = 0; special_keys[i]; i++) {
        const char *s = cfg ? token_text(cJSON_GetObjectItemCaseSensitive(cfg, special_keys[i])) : NULL;
        if ((!s || !*s) && map) s = token_text(cJSON_GetObjectItemCaseSensitive(map, special_keys[i]));
        if (s && *s && !cJSON_AddStringToObject(t->specials, special_keys[i], s))
            return af_error_set(AF_ENOMEM, "chat template: out of memory");
    }
    const cJSON *extra = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, "additional_special_tokens") : NULL;
    if (!(cJSON_IsArray(extra) && cJSON_GetArraySize(extra) > 0) && map)
        extra = cJSON_GetObjectItemCaseSensitive(map, "additional_special_tokens");
    if (cJSON_IsArray(extra) && cJSON_GetArraySize(extra) > 0) {
        cJSON *list = cJSON_AddArrayToObject(t->specials, "additional_special_tokens");
        if (!list) return af_error_set(AF_ENOMEM, "chat template: out of memory");
        for (const cJSON *c = extra->child; c; c = c->next) {
            const char *s = token_text(c);
            cJSON *item = s ? cJSON_CreateString(s) : NULL;
            if (!s) continue;
            if (!item || !cJSON_AddItemToArray(list, item)) return af_error_set(AF_ENOMEM, "chat template: out of memory");
        }
    }
    return 0;
}

static int add_template(AfChatTemplate *t, const char *name, const char *source) {
    if (t->n == MAX_TEMPLATES)
        return af_error_set(AF_EFORMAT, "chat_template: more than %d named templates", MAX_TEMPLATES);
    int rc = af_jinja_parse(source, strlen(source), &t->tpl[t->n]);
    if (rc) {
        if (name) return af_error_wrap(rc, "chat_template '%s'", name);
        return rc;
    }
    if (name && !(t->names[t->n] = strdup(name))) {
        af_jinja_destroy(t->tpl[t->n]);
        return af_error_set(AF_ENOMEM, "chat template: out of memory");
    }
    t->n++;
    return 0;
}

/* chat_template as a string or a list of {name, template}. */
static int add_from_json(AfChatTemplate *t, const cJSON *ct) {
    if (cJSON_IsString(ct)) return add_template(t, NULL, ct->valuestring);
    if (!cJSON_IsArray(ct))
        return af_error_set(AF_EFORMAT, "chat_template: expected a string or a list of {\"name\", \"template\"}");
    int i = 0;
    for (const cJSON *c = ct->child; c; c = c->next, i++) {
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(c, "name");
        const cJSON *src = cJSON_GetObjectItemCaseSensitive(c, "template");
        if (!cJSON_IsString(nm) || !cJSON_IsString(src))
            return af_error_set(AF_EFORMAT, "chat_template[%d]: expected {\"name\": string, \"template\": string}", i);
        int rc = add_template(t, nm->valuestring, src->valuestring);
        if (rc) return rc;
    }
    if (t->n == 0) return af_error_set(AF_EFORMAT, "chat_template: an empty list");
    return 0;
}

int af_chat_template_create(const char *source, const cJSON *tokenizer_config, AfChatTemplate **out) {
    *out = NULL;
    AfChatTemplate *t = calloc(1, sizeof *t);
    if (!t) return af_error_set(AF_ENOMEM, "chat template: out of memory");
    int rc = add_specials(t, tokenizer_config, NULL);
    if (!rc) rc = add_template(t, NULL, source);
    if (rc) {
        af_chat_template_destroy(t);
        return rc;
    }
    *out = t;
    return 0;
}

static int read_json(const char *dir, const char *file, cJSON **out) {
    char path[4096];
    char *text = NULL;
    size_t len = 0;
    *out = NULL;
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, file) >= sizeof path)
        return af_error_set(AF_EINVAL, "%s: path too long", dir);
    int rc = af_read_file(path, MAX_CONFIG_BYTES, &text, &len);
    if (rc) return rc;
    const char *end = NULL;
    *out = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!*out) {
        rc = af_error_set(AF_EFORMAT, "%s: malformed JSON near byte %zu", path, end ? (size_t)(end - text) : 0);
    } else if (!cJSON_IsObject(*out)) {
        rc = af_error_set(AF_EFORMAT, "%s: expected a JSON object", path);
        cJSON_Delete(*out);
        *out = NULL;
    }
    free(text);
    return rc;
}

int af_chat_template_load(const char *model_dir, AfChatTemplate **out) {
    *out = NULL;
    cJSON *cfg = NULL, *map = NULL;
    char *jinja = NULL;
    AfChatTemplate *t = calloc(1, sizeof *t);
    if (!t) return af_error_set(AF_ENOMEM, "chat template: out of memory");
    int rc = read_json(model_dir, "tokenizer_config.json", &cfg);
    if (rc) goto fail;
    rc = read_json(model_dir, "special_tokens_map.json", &map);
    if (rc && rc != AF_ENOTFOUND) goto fail;
    if ((rc = add_specials(t, cfg, map))) goto fail;
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(cfg, "chat_template");
    if (ct && !cJSON_IsNull(ct)) {
        rc = add_from_json(t, ct);
        if (rc) af_error_wrap(rc, "%s/tokenizer_config.json", model_dir);
    } else {
        char path[4096];
        size_t len;
        snprintf(path, sizeof path, "%s/chat_template.jinja", model_dir);
        rc = af_read_file(path, MAX_CONFIG_BYTES, &jinja, &len);
        if (rc == AF_ENOTFOUND)
            rc = af_error_set(AF_ENOTFOUND, "%s: tokenizer_config.json has no chat_template and there is no chat_template.jinja",
                              model_dir);
        else if (!rc && (rc = add_template(t, NULL, jinja))) af_error_wrap(rc, "%s", path);
    }
    if (rc) goto fail;
    cJSON_Delete(cfg);
    cJSON_Delete(map);
    free(jinja);
    *out = t;
    return 0;
fail:
    cJSON_Delete(cfg);
    cJSON_Delete(map);
    free(jinja);
    af_chat_template_destroy(t);
    return rc;
}

void af_chat_template_destroy(AfChatTemplate *t) {
    if (!t) return;
    for (int i = 0; i < t->n; i++) {
        af_jinja_destroy(t->tpl[i]);
        free(t->names[i]);
    }
    cJSON_Delete(t->specials);
    free(t);
}

static const AfJinja *pick(const AfChatTemplate *t, const cJSON *ctx) {
    if (t->n == 1 && !t->names[0]) return t->tpl[0];
    const cJSON *tools = ctx ? cJSON_GetObjectItemCaseSensitive(ctx, "tools") : NULL;
    int want_tools = tools && !cJSON_IsNull(tools);
    for (int pass = want_tools ? 0 : 1; pass < 2; pass++)
        for (int i = 0; i < t->n; i++)
            if (t->names[i] && strcmp(t->names[i], pass == 0 ? "tool_use" : "default") == 0) return t->tpl[i];
    return NULL;
}

int af_chat_template_render(const AfChatTemplate *t, const cJSON *ctx, char **out, size_t *len) {
    *out = NULL;
    if (len) *len = 0;
    if (ctx && !cJSON_IsObject(ctx)) return af_error_set(AF_EINVAL, "chat template: the context must be a JSON object");
    const AfJinja *tpl = pick(t, ctx);
    if (!tpl)
        return af_error_set(AF_ENOTFOUND, "chat template: several named templates and none is called \"default\"");
    /* The variables apply_chat_template passes: special tokens, then messages, tools,
     * documents, add_generation_prompt, then the caller's extras (which win). The
     * merged object references the caller's items instead of copying them. */
    cJSON *vars = cJSON_CreateObject();
    int rc = 0;
    if (!vars) return af_error_set(AF_ENOMEM, "chat template: out of memory");
    for (const cJSON *c = t->specials->child; c; c = c->next)
        if (!(ctx && cJSON_GetObjectItemCaseSensitive(ctx, c->string)) &&
            !cJSON_AddItemReferenceToObject(vars, c->string, (cJSON *)c))
            rc = AF_ENOMEM;
    static const char *const none_keys[] = {"tools", "documents", NULL};
    for (int i = 0; none_keys[i] && !rc; i++)
        if (!(ctx && cJSON_GetObjectItemCaseSensitive(ctx, none_keys[i])) && !cJSON_AddNullToObject(vars, none_keys[i]))
            rc = AF_ENOMEM;
    if (!rc && !(ctx && cJSON_GetObjectItemCaseSensitive(ctx, "add_generation_prompt")) &&
        !cJSON_AddFalseToObject(vars, "add_generation_prompt"))
        rc = AF_ENOMEM;
    for (const cJSON *c = ctx ? ctx->child : NULL; c && !rc; c = c->next)
        if (!cJSON_AddItemReferenceToObject(vars, c->string, (cJSON *)c)) rc = AF_ENOMEM;
    if (rc) rc = af_error_set(AF_ENOMEM, "chat template: out of memory");
    else rc = af_jinja_render(tpl, vars, out, len);
    cJSON_Delete(vars);
    return rc;
}

int af_chat_template_apply(const AfChatTemplate *t, const cJSON *messages, int add_generation_prompt,
                           const cJSON *extra, char **out, size_t *len) {
    *out = NULL;
    if (!cJSON_IsArray(messages)) return af_error_set(AF_EINVAL, "chat template: messages must be a JSON array");
    if (extra && !cJSON_IsObject(extra)) return af_error_set(AF_EINVAL, "chat template: extra variables must be a JSON object");
    cJSON *ctx = cJSON_CreateObject();
    int rc = 0;
    if (!ctx || !cJSON_AddItemReferenceToObject(ctx, "messages", (cJSON *)messages) ||
        !cJSON_AddBoolToObject(ctx, "add_generation_prompt", add_generation_prompt))
        rc = AF_ENOMEM;
    for (const cJSON *c = extra ? extra->child : NULL; c && !rc; c = c->next)
        if (strcmp(c->string, "messages") && strcmp(c->string, "add_generation_prompt") &&
            !cJSON_AddItemReferenceToObject(ctx, c->string, (cJSON *)c))
            rc = AF_ENOMEM;
    if (rc) rc = af_error_set(AF_ENOMEM, "chat template: out of memory");
    else rc = af_chat_template_render(t, ctx, out, len);
    cJSON_Delete(ctx);
    return rc;
}

/* ------------------------------------------------------------------ JSON with floats */
typedef struct {
    unsigned char *is_float; /* per number token, in text order */
    size_t n, next;
} NumFlags;

/* Number tokens appear in the text in the order of a depth-first walk of the tree. */
static void mark_floats(cJSON *j, NumFlags *f) {
    for (; j; j = j->next) {
        if (cJSON_IsNumber(j) && f->next < f->n && f->is_float[f->next++]) j->type |= AF_JSON_FLOAT_FLAG;
        if (j->child) mark_floats(j->child, f);
    }
}

int af_chat_json_parse(const char *text, size_t len, cJSON **out) {
    const char *end = NULL;
    *out = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!*out) return af_error_set(AF_EFORMAT, "malformed JSON near byte %zu", end ? (size_t)(end - text) : (size_t)0);
    size_t stop = end ? (size_t)(end - text) : len;
    NumFlags f = {0};
    f.is_float = malloc(stop / 2 + 1); /* a number token and its separator take >= 2 bytes */
    if (!f.is_float) {
        cJSON_Delete(*out);
        *out = NULL;
        return af_error_set(AF_ENOMEM, "JSON: out of memory");
    }
    for (size_t i = 0; i < stop;) {
        char c = text[i];
        if (c == '"') {
            for (i++; i < stop && text[i] != '"'; i++)
                if (text[i] == '\\') i++;
            i++;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            int fl = 0;
            while (i < stop && strchr("+-.eE0123456789", text[i]) && text[i]) {
                fl |= text[i] == '.' || text[i] == 'e' || text[i] == 'E';
                i++;
            }
            f.is_float[f.n++] = (unsigned char)fl;
        } else i++;
    }
    mark_floats(*out, &f);
    free(f.is_float);
    return 0;
}

/* ------------------------------------------------------------------ end of sequence */
static int add_id(AfChatEos *e, double v, const char *path) {
    if (!(v >= 0 && v <= 2147483647.0) || v != (double)(int32_t)v)
        return af_error_set(AF_EFORMAT, "%s: eos_token_id: expected non-negative integers, got %g", path, v);
    for (int i = 0; i < e->nids; i++)
        if (e->ids[i] == (int32_t)v) return 0;
    int32_t *ids = realloc(e->ids, (size_t)(e->nids + 1) * sizeof *ids);
    if (!ids) return af_error_set(AF_ENOMEM, "eos: out of memory");
    e->ids = ids;
    e->ids[e->nids++] = (int32_t)v;
    return 0;
}

int af_chat_eos_load(const char *model_dir, AfChatEos *out) {
    memset(out, 0, sizeof *out);
    cJSON *gen = NULL, *tok = NULL;
    int rc = read_json(model_dir, "generation_config.json", &gen);
    if (rc == AF_ENOTFOUND) rc = 0;
    if (rc) goto fail;
    const cJSON *ids = gen ? cJSON_GetObjectItemCaseSensitive(gen, "eos_token_id") : NULL;
    if (cJSON_IsNumber(ids)) rc = add_id(out, ids->valuedouble, "generation_config.json");
    else if (cJSON_IsArray(ids)) {
        for (const cJSON *c = ids->child; c && !rc; c = c->next)
            rc = cJSON_IsNumber(c) ? add_id(out, c->valuedouble, "generation_config.json")
                                   : af_error_set(AF_EFORMAT, "generation_config.json: eos_token_id: expected integers");
    } else if (ids && !cJSON_IsNull(ids))
        rc = af_error_set(AF_EFORMAT, "generation_config.json: eos_token_id: expected an integer or a list of integers");
    if (rc) goto fail;
    rc = read_json(model_dir, "tokenizer_config.json", &tok);
    if (rc == AF_ENOTFOUND) rc = 0;
    if (rc) goto fail;
    const char *name = tok ? token_text(cJSON_GetObjectItemCaseSensitive(tok, "eos_token")) : NULL;
    if (name && *name) {
        out->names = malloc(sizeof *out->names);
        if (!out->names || !(out->names[0] = strdup(name))) {
            rc = af_error_set(AF_ENOMEM, "eos: out of memory");
            goto fail;
        }
        out->nnames = 1;
    }
    cJSON_Delete(gen);
    cJSON_Delete(tok);
    return 0;
fail:
    cJSON_Delete(gen);
    cJSON_Delete(tok);
    af_chat_eos_free(out);
    return af_error_wrap(rc, "%s", model_dir);
}

void af_chat_eos_free(AfChatEos *e) {
    if (!e) return;
    for (int i = 0; i < e->nnames; i++) free(e->names[i]);
    free(e->names);
    free(e->ids);
    memset(e, 0, sizeof *e);
}

int af_chat_eos_ids(const AfChatEos *e, AfChatTokenLookup lookup, void *user, int32_t **ids, int *n) {
    *ids = NULL;
    *n = 0;
    AfChatEos acc = {0};
    int rc = 0;
    for (int i = 0; i < e->nids && !rc; i++) rc = add_id(&acc, e->ids[i], "eos");
    for (int i = 0; i < e->nnames && !rc; i++) {
        int32_t id;
        if (!lookup) rc = af_error_set(AF_EINVAL, "eos: no tokenizer to resolve '%s'", e->names[i]);
        else if ((rc = lookup(user, e->names[i], &id)))
            rc = af_error_set(rc, "eos_token '%s' is not a token of the tokenizer", e->names[i]);
        else rc = add_id(&acc, id, "eos");
    }
    if (rc) {
        free(acc.ids);
        return rc;
    }
    *ids = acc.ids;
    *n = acc.nids;
    return 0;
}
