/* Schema-driven configuration: defaults, JSON documents, --set overrides, validation. */
#include "common/config.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fsutil.h"

typedef enum { K_INT, K_FLOAT, K_BOOL, K_STR, K_ENUM } KeyType;

typedef struct Key {
    const char *path;
    size_t offset, size; /* bytes */
    KeyType type;
    int64_t dint, imin, imax;
    double dfloat, fmin, fmax;
    const char *dstr, *choices, *doc;
} Key;

#define DEF_INT(d, mn, mx) .dint = (int64_t)(d), .imin = (int64_t)(mn), .imax = (int64_t)(mx)
#define DEF_BOOL(d, mn, mx) .dint = (d)
#define DEF_FLOAT(d, mn, mx) .dfloat = (d), .fmin = (mn), .fmax = (mx)
#define DEF_STR(d, mn, mx) .dstr = (d)
#define DEF_ENUM(d, mn, mx) .dstr = (d)
#define KEY_ENTRY(p, field, T, d, mn, mx, ch, dc)                                  \
    {.path = p, .offset = offsetof(AfConfig, field),                               \
     .size = sizeof(((AfConfig *)0)->field), .type = K_##T, DEF_##T(d, mn, mx),     \
     .choices = ch, .doc = dc},

static const Key keys[] = {AF_CONFIG_KEYS(KEY_ENTRY)};
enum { NKEYS = sizeof keys / sizeof keys[0] };

static const char *const type_names[] = {"integer", "number", "boolean", "string", "choice"};

/* ---------------------------------------------------------------- field access */

static int64_t *field_int(AfConfig *c, const Key *k) { return (int64_t *)((char *)c + k->offset); }
static double *field_float(AfConfig *c, const Key *k) { return (double *)((char *)c + k->offset); }
static int *field_bool(AfConfig *c, const Key *k) { return (int *)((char *)c + k->offset); }
static char *field_str(AfConfig *c, const Key *k) { return (char *)c + k->offset; }
static int *field_enum(AfConfig *c, const Key *k) { return (int *)((char *)c + k->offset); }

/* Position of s in choices "a|b|c", or -1. */
static int choice_index(const char *choices, const char *s) {
    size_t n = strlen(s);
    int i = 0;
    for (const char *p = choices; *p; i++) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, s, n) == 0) return i;
        if (!bar) break;
        p = bar + 1;
    }
    return -1;
}

/* Choice i of choices, copied into out (size bytes); 0, or -1 when out of range. */
static int choice_at(const char *choices, int i, char *out, size_t size) {
    const char *p = choices;
    for (int k = 0; k < i && p; k++) {
        p = strchr(p, '|');
        if (p) p++;
    }
    if (i < 0 || !p || !*p) return -1;
    const char *bar = strchr(p, '|');
    size_t len = bar ? (size_t)(bar - p) : strlen(p);
    if (len >= size) return -1;
    memcpy(out, p, len);
    out[len] = '\0';
    return 0;
}

void af_config_defaults(AfConfig *cfg) {
    memset(cfg, 0, sizeof *cfg);
    for (int i = 0; i < NKEYS; i++) {
        const Key *k = &keys[i];
        switch (k->type) {
        case K_INT: *field_int(cfg, k) = k->dint; break;
        case K_FLOAT: *field_float(cfg, k) = k->dfloat; break;
        case K_BOOL: *field_bool(cfg, k) = (int)k->dint; break;
        case K_STR:
            AF_ASSERT(strlen(k->dstr) < k->size);
            strcpy(field_str(cfg, k), k->dstr);
            break;
        case K_ENUM:
            AF_ASSERT(k->size == sizeof(int) && choice_index(k->choices, k->dstr) >= 0);
            *field_enum(cfg, k) = choice_index(k->choices, k->dstr);
            break;
        }
    }
}

static const Key *find_key(const char *path) {
    for (int i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].path, path) == 0) return &keys[i];
    return NULL;
}

/* True if `path` names a section: some key starts with "path.". */
static int is_section(const char *path) {
    size_t n = strlen(path);
    for (int i = 0; i < NKEYS; i++)
        if (strncmp(keys[i].path, path, n) == 0 && keys[i].path[n] == '.') return 1;
    return 0;
}

static int edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 99;
    int d[64][64];
    for (size_t i = 0; i <= la; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            int del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
            d[i][j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
    return d[la][lb];
}

/* The closest known key (or section) to an unknown path, or NULL. */
static const char *suggest(const char *path) {
    const char *best = NULL;
    int best_d = 4;
    const char *leaf = strrchr(path, '.');
    leaf = leaf ? leaf + 1 : path;
    for (int i = 0; i < NKEYS; i++) {
        int d = edit_distance(path, keys[i].path);
        const char *kl = strrchr(keys[i].path, '.') + 1;
        if (d > 2 && strcmp(kl, leaf) == 0) d = 2; /* right key, wrong section */
        if (d < best_d) {
            best_d = d;
            best = keys[i].path;
        }
    }
    return best;
}

static void describe(const cJSON *v, char *out, size_t n) {
    if (cJSON_IsNumber(v)) snprintf(out, n, "%.17g", v->valuedouble);
    else if (cJSON_IsString(v)) snprintf(out, n, "\"%.60s%s\"", v->valuestring, strlen(v->valuestring) > 60 ? "..." : "");
    else if (cJSON_IsTrue(v)) snprintf(out, n, "true");
    else if (cJSON_IsFalse(v)) snprintf(out, n, "false");
    else if (cJSON_IsNull(v)) snprintf(out, n, "null");
    else if (cJSON_IsArray(v)) snprintf(out, n, "an array");
    else if (cJSON_IsObject(v)) snprintf(out, n, "an object");
    else snprintf(out, n, "an unknown value");
}

static int reject(const char *origin, const char *path, const char *fmt, const cJSON *got) {
    char g[96];
    describe(got, g, sizeof g);
    char what[256];
    snprintf(what, sizeof what, "%s", fmt);
    return af_error_set(AF_ECONFIG, "config %s: %s: expected %s, got %s", origin, path, what, g);
}

static int apply_leaf(AfConfig *cfg, const Key *k, const cJSON *v, const char *origin) {
    char exp[200];
    switch (k->type) {
    case K_INT: {
        snprintf(exp, sizeof exp, "an integer in [%lld, %lld]", (long long)k->imin, (long long)k->imax);
        if (!cJSON_IsNumber(v)) return reject(origin, k->path, exp, v);
        double d = v->valuedouble;
        if (!isfinite(d) || d != floor(d) || d < -9007199254740992.0 || d > 9007199254740992.0)
            return reject(origin, k->path, exp, v);
        int64_t x = (int64_t)d;
        if (x < k->imin || x > k->imax) return reject(origin, k->path, exp, v);
        *field_int(cfg, k) = x;
        return 0;
    }
    case K_FLOAT: {
        snprintf(exp, sizeof exp, "a number in [%g, %g]", k->fmin, k->fmax);
        if (!cJSON_IsNumber(v)) return reject(origin, k->path, exp, v);
        double d = v->valuedouble;
        if (!isfinite(d) || d < k->fmin || d > k->fmax) return reject(origin, k->path, exp, v);
        *field_float(cfg, k) = d;
        return 0;
    }
    case K_BOOL:
        if (!cJSON_IsBool(v)) return reject(origin, k->path, "true or false", v);
        *field_bool(cfg, k) = cJSON_IsTrue(v) ? 1 : 0;
        return 0;
    case K_STR:
        snprintf(exp, sizeof exp, "a string of at most %zu bytes", k->size - 1);
        if (!cJSON_IsString(v) || strlen(v->valuestring) >= k->size) return reject(origin, k->path, exp, v);
        strcpy(field_str(cfg, k), v->valuestring);
        return 0;
    case K_ENUM:
        snprintf(exp, sizeof exp, "one of %s", k->choices);
        if (!cJSON_IsString(v) || choice_index(k->choices, v->valuestring) < 0) return reject(origin, k->path, exp, v);
        *field_enum(cfg, k) = choice_index(k->choices, v->valuestring);
        return 0;
    }
    return af_error_set(AF_ECONFIG, "config %s: %s: bad schema entry", origin, k->path);
}

static int unknown(const char *origin, const char *path) {
    const char *s = suggest(path);
    if (s) return af_error_set(AF_ECONFIG, "config %s: unknown key '%s' (did you mean '%s'?)", origin, path, s);
    return af_error_set(AF_ECONFIG, "config %s: unknown key '%s'", origin, path);
}

/* Apply `node` found at `path` ("" for the document root). */
static int apply_node(AfConfig *cfg, const char *path, const cJSON *node, const char *origin) {
    const Key *k = path[0] ? find_key(path) : NULL;
    if (k) return apply_leaf(cfg, k, node, origin);
    if (path[0] && !is_section(path)) return unknown(origin, path);
    if (!cJSON_IsObject(node)) {
        char g[96];
        describe(node, g, sizeof g);
        if (!path[0]) return af_error_set(AF_ECONFIG, "config %s: expected a JSON object at the top level, got %s", origin, g);
        return af_error_set(AF_ECONFIG, "config %s: %s: expected an object (a section), got %s", origin, path, g);
    }
    for (const cJSON *c = node->child; c; c = c->next) {
        char sub[256];
        if (!c->string || !c->string[0] || strchr(c->string, '.'))
            return af_error_set(AF_ECONFIG, "config %s: bad key name '%s' in %s", origin,
                                c->string ? c->string : "", path[0] ? path : "the top level");
        int n = snprintf(sub, sizeof sub, "%s%s%s", path, path[0] ? "." : "", c->string);
        if (n < 0 || (size_t)n >= sizeof sub) return af_error_set(AF_ECONFIG, "config %s: key too long under %s", origin, path);
        for (const cJSON *d = node->child; d != c; d = d->next)
            if (strcmp(d->string, c->string) == 0) return af_error_set(AF_ECONFIG, "config %s: duplicate key '%s'", origin, sub);
        int rc = apply_node(cfg, sub, c, origin);
        if (rc) return rc;
    }
    return 0;
}

int af_config_apply_json(AfConfig *cfg, const char *text, const char *origin) {
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithOpts(text, &end, 1);
    if (!doc) {
        int line = 1, col = 1;
        const char *at = end ? end : cJSON_GetErrorPtr();
        for (const char *p = text; at && p < at && *p; p++) {
            if (*p == '\n') line++, col = 1;
            else col++;
        }
        return af_error_set(AF_ECONFIG, "config %s: malformed JSON at line %d, column %d", origin, line, col);
    }
    AfConfig tmp = *cfg;
    int rc = apply_node(&tmp, "", doc, origin);
    cJSON_Delete(doc);
    if (rc == 0) *cfg = tmp;
    return rc;
}

int af_config_apply_file(AfConfig *cfg, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return af_error_set(AF_ECONFIG, "config %s: cannot open: %s", path, strerror(errno));
    char *buf = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            if (cap > (64u << 20)) {
                free(buf);
                fclose(f);
                return af_error_set(AF_ECONFIG, "config %s: larger than 64 MiB", path);
            }
            cap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return af_error_set(AF_ENOMEM, "config %s: out of memory", path);
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return af_error_set(AF_ECONFIG, "config %s: read error", path);
    }
    buf[len] = '\0';
    if (strlen(buf) != len) {
        free(buf);
        return af_error_set(AF_ECONFIG, "config %s: contains a NUL byte", path);
    }
    int rc = af_config_apply_json(cfg, buf, path);
    free(buf);
    return rc;
}

int af_config_apply_set(AfConfig *cfg, const char *assignment) {
    const char *eq = strchr(assignment, '=');
    if (!eq) return af_error_set(AF_ECONFIG, "config --set '%s': expected section.key=value", assignment);
    size_t klen = (size_t)(eq - assignment);
    char key[256];
    if (klen == 0 || klen >= sizeof key)
        return af_error_set(AF_ECONFIG, "config --set '%s': expected section.key=value", assignment);
    memcpy(key, assignment, klen);
    key[klen] = '\0';
    const char *value = eq + 1;
    cJSON *v = cJSON_ParseWithOpts(value, NULL, 1);
    if (!v) v = cJSON_CreateString(value);
    if (!v) return af_error_set(AF_ENOMEM, "config --set: out of memory");
    AfConfig tmp = *cfg;
    int rc = apply_node(&tmp, key, v, "--set");
    cJSON_Delete(v);
    if (rc == 0) *cfg = tmp;
    return rc;
}

int af_config_check(const AfConfig *c) {
    if (c->model.n_heads % c->model.n_kv_heads != 0)
        return af_error_set(AF_ECONFIG, "config: model.n_kv_heads (%lld) must divide model.n_heads (%lld)",
                            (long long)c->model.n_kv_heads, (long long)c->model.n_heads);
    if (c->model.d_model % c->model.n_heads != 0)
        return af_error_set(AF_ECONFIG, "config: model.n_heads (%lld) must divide model.d_model (%lld)",
                            (long long)c->model.n_heads, (long long)c->model.d_model);
    if ((c->model.d_model / c->model.n_heads) % 2 != 0)
        return af_error_set(AF_ECONFIG, "config: model.d_model / model.n_heads must be even (RoPE rotates pairs)");
    if (c->algo.minibatch > c->rollout.batch_queries)
        return af_error_set(AF_ECONFIG, "config: algo.minibatch (%lld queries) exceeds rollout.batch_queries (%lld)",
                            (long long)c->algo.minibatch, (long long)c->rollout.batch_queries);
    if (c->algo.adv_pass_k == 1)
        return af_error_set(AF_ECONFIG, "config: algo.adv_pass_k = 1 is the reward itself: use 0 (off) or k >= 2");
    if (c->algo.adv_pass_k > 0 && c->algo.adv_pass_k >= c->rollout.group_size)
        return af_error_set(AF_ECONFIG, "config: algo.adv_pass_k (%lld) must be below rollout.group_size (%lld): "
                            "with k = G every member's k-subset is the whole group and no member differs",
                            (long long)c->algo.adv_pass_k, (long long)c->rollout.group_size);
    if (c->algo.adv_pass_k > 0 && c->algo.adv_stats != AF_CFG_ADV_TRAJECTORY)
        return af_error_set(AF_ECONFIG, "config: algo.adv_pass_k needs algo.adv_stats = trajectory (k-subsets are "
                            "subsets of trajectories)");
    if (c->algo.adv_pass_k_until > 0 && c->algo.adv_pass_k == 0)
        return af_error_set(AF_ECONFIG, "config: algo.adv_pass_k_until (%lld) ends a pass@k phase, but algo.adv_pass_k "
                            "is 0 (off)", (long long)c->algo.adv_pass_k_until);
    if (c->algo.dual_clip != 0.0 && !(c->algo.dual_clip > 1.0))
        return af_error_set(AF_ECONFIG, "config: algo.dual_clip must be > 1 (or 0 to disable), got %g", c->algo.dual_clip);
    return 0;
}

/* ---------------------------------------------------------------- output */

static cJSON *leaf_json(const AfConfig *cfg, const Key *k) {
    AfConfig *c = (AfConfig *)cfg;
    switch (k->type) {
    case K_INT: return cJSON_CreateNumber((double)*field_int(c, k));
    case K_FLOAT: return cJSON_CreateNumber(*field_float(c, k));
    case K_BOOL: return cJSON_CreateBool(*field_bool(c, k));
    case K_STR: return cJSON_CreateString(field_str(c, k));
    case K_ENUM: {
        char name[64];
        return choice_at(k->choices, *field_enum(c, k), name, sizeof name) ? NULL : cJSON_CreateString(name);
    }
    }
    return NULL;
}

char *af_config_to_json(const AfConfig *cfg, int pretty) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    for (int i = 0; i < NKEYS; i++) {
        const Key *k = &keys[i];
        cJSON *obj = root;
        char part[128];
        const char *p = k->path;
        for (const char *dot; (dot = strchr(p, '.')); p = dot + 1) {
            size_t n = (size_t)(dot - p);
            AF_ASSERT(n < sizeof part);
            memcpy(part, p, n);
            part[n] = '\0';
            cJSON *next = cJSON_GetObjectItemCaseSensitive(obj, part);
            if (!next) {
                next = cJSON_AddObjectToObject(obj, part);
                if (!next) goto fail;
            }
            obj = next;
        }
        cJSON *v = leaf_json(cfg, k);
        if (!v) goto fail;
        cJSON_AddItemToObject(obj, p, v);
    }
    char *s = pretty ? cJSON_Print(root) : cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
fail:
    cJSON_Delete(root);
    return NULL;
}

int af_config_save(const AfConfig *cfg, const char *path) {
    char *s = af_config_to_json(cfg, 1);
    if (!s) return af_error_set(AF_ENOMEM, "config save: out of memory");
    size_t n = strlen(s);
    s[n] = '\n'; /* replaces the NUL: written as bytes, not as a string */
    int rc = af_write_file_atomic(path, s, n + 1);
    free(s);
    return rc;
}

/* The file and directory keys, made absolute against the working directory (header). */
int af_config_absolute_paths(AfConfig *c) {
    char *paths[] = {c->model.init_from,     c->data.train,          c->data.test,       c->modules.model.dir,
                     c->tools.search.corpus, c->tools.search.index_dir, c->run.checkpoint_dir};
    static const char *const names[] = {"model.init_from",     "data.train",             "data.test",
                                        "modules.model.dir",   "tools.search.corpus",    "tools.search.index_dir",
                                        "run.checkpoint_dir"};
    char cwd[AF_CFG_STR_MAX], abs[2 * AF_CFG_STR_MAX + 2];
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        if (!paths[i][0] || paths[i][0] == '/') continue;
        if (!getcwd(cwd, sizeof cwd))
            return af_error_set(AF_ECONFIG, "config: %s: cannot read the working directory", names[i]);
        const char *rel = paths[i];
        while (rel[0] == '.' && rel[1] == '/') rel += 2; /* ./x -> x */
        const int n = rel[0] ? snprintf(abs, sizeof abs, "%s/%s", cwd, rel) : snprintf(abs, sizeof abs, "%s", cwd);
        if (n < 0 || (size_t)n >= AF_CFG_STR_MAX)
            return af_error_set(AF_ECONFIG, "config: %s: %s made absolute is longer than %d bytes", names[i], paths[i],
                                AF_CFG_STR_MAX - 1);
        memcpy(paths[i], abs, (size_t)n + 1);
    }
    return 0;
}

int af_config_resume_conflict(const AfConfig *a, const AfConfig *b, char *key, size_t key_len) {
    for (int i = 0; i < NKEYS; i++) {
        const Key *k = &keys[i];
        if (strstr(k->doc, "(RESUME)")) continue;
        const char *pa = (const char *)a + k->offset, *pb = (const char *)b + k->offset;
        /* strings: the bytes after the NUL are whatever earlier values left there */
        int differ = k->type == K_STR ? strncmp(pa, pb, k->size) != 0 : memcmp(pa, pb, k->size) != 0;
        if (differ) {
            snprintf(key, key_len, "%s", k->path);
            return 1;
        }
    }
    return 0;
}

const char *af_config_choice_name(const char *path, int value) {
    /* one slot per ENUM key: the names are static once made */
    static __thread char names[NKEYS][64];
    for (int i = 0; i < NKEYS; i++)
        if (keys[i].type == K_ENUM && strcmp(keys[i].path, path) == 0)
            return choice_at(keys[i].choices, value, names[i], sizeof names[i]) ? "?" : names[i];
    return "?";
}

int af_config_key_count(void) { return NKEYS; }

void af_config_key_info(int i, AfConfigKeyInfo *out) {
    AF_ASSERT(i >= 0 && i < NKEYS);
    const Key *k = &keys[i];
    out->path = k->path;
    out->type = type_names[k->type];
    out->choices = k->choices;
    out->doc = k->doc;
    out->min = k->type == K_INT ? (double)k->imin : k->fmin;
    out->max = k->type == K_INT ? (double)k->imax : k->fmax;
    switch (k->type) {
    case K_INT: snprintf(out->default_text, sizeof out->default_text, "%lld", (long long)k->dint); break;
    case K_FLOAT: snprintf(out->default_text, sizeof out->default_text, "%g", k->dfloat); break;
    case K_BOOL: snprintf(out->default_text, sizeof out->default_text, "%s", k->dint ? "true" : "false"); break;
    default: snprintf(out->default_text, sizeof out->default_text, "\"%s\"", k->dstr); break;
    }
}
