/* Item lists and the JSONL loader (cJSON). */
#include "env/dataset.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

int af_dataset_create(AfDataset **out) {
    AfDataset *ds = calloc(1, sizeof *ds);
    if (!ds) return af_error_set(AF_ENOMEM, "dataset");
    *out = ds;
    return 0;
}

void af_dataset_destroy(AfDataset *ds) {
    if (!ds) return;
    for (size_t i = 0; i < ds->n; i++) {
        free(ds->items[i].question);
        free(ds->items[i].answer);
        free(ds->items[i].solution);
    }
    free(ds->items);
    free(ds);
}

int af_dataset_add(AfDataset *ds, const char *question, const char *answer, const char *solution) {
    if (ds->n == ds->cap) {
        size_t cap = ds->cap ? ds->cap * 2 : 64;
        AfItem *items = realloc(ds->items, cap * sizeof *items);
        if (!items) return af_error_set(AF_ENOMEM, "dataset: %zu items", cap);
        ds->items = items;
        ds->cap = cap;
    }
    AfItem *it = &ds->items[ds->n];
    it->question = strdup(question);
    it->answer = strdup(answer ? answer : "");
    it->solution = solution ? strdup(solution) : NULL;
    if (!it->question || !it->answer || (solution && !it->solution)) {
        free(it->question);
        free(it->answer);
        free(it->solution);
        return af_error_set(AF_ENOMEM, "dataset item");
    }
    ds->n++;
    return 0;
}

int af_jsonl_foreach(const char *path, AfJsonlFn fn, void *ctx, size_t *n_objects) {
    int rc = 0;
    char *line = NULL;
    size_t linecap = 0, count = 0;
    cJSON *obj = NULL;
    if (n_objects) *n_objects = 0;
    FILE *f = fopen(path, "r");
    if (!f) return af_error_set(AF_EIO, "%s: cannot open: %s", path, strerror(errno));
    ssize_t len;
    size_t lineno = 0;
    while ((len = getline(&line, &linecap, f)) >= 0) {
        lineno++;
        size_t l = (size_t)len;
        while (l && (line[l - 1] == '\n' || line[l - 1] == '\r' || line[l - 1] == ' ' || line[l - 1] == '\t')) line[--l] = '\0';
        const char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) continue;
        if (strlen(p) != (size_t)(l - (size_t)(p - line))) {
            rc = af_error_set(AF_EFORMAT, "%s:%zu: NUL byte inside the line", path, lineno);
            goto done;
        }
        const char *end = NULL;
        size_t pl = strlen(p);
        obj = cJSON_ParseWithLengthOpts(p, pl, &end, 0);
        if (!obj || !cJSON_IsObject(obj)) {
            rc = af_error_set(AF_EFORMAT, "%s:%zu: not a JSON object", path, lineno);
            goto done;
        }
        if (end) /* one object per line: only blanks may follow it */
            while (*end == ' ' || *end == '\t' || *end == '\r') end++;
        if (!end || *end) {
            rc = af_error_set(AF_EFORMAT, "%s:%zu: column %zu: text after the JSON object (one object per line)",
                              path, lineno, end ? (size_t)(end - line) + 1 : 1);
            goto done;
        }
        char why[320] = "";
        count++;
        int frc = fn(ctx, obj, lineno, why, sizeof why);
        if (frc < 0) {
            rc = frc;
            goto done;
        }
        if (frc) {
            rc = af_error_set(AF_EFORMAT, "%s:%zu: %s", path, lineno, why);
            goto done;
        }
        cJSON_Delete(obj);
        obj = NULL;
    }
    if (ferror(f)) rc = af_error_set(AF_EIO, "%s: read error after line %zu", path, lineno);
done:
    if (n_objects) *n_objects = count;
    cJSON_Delete(obj);
    free(line);
    fclose(f);
    return rc;
}

typedef struct {
    AfDataset *ds;
    AfItemCheck check;
    void *ctx;
} LoadCtx;

static int load_one(void *ctx, const cJSON *obj, size_t lineno, char *why, size_t cap) {
    (void)lineno;
    LoadCtx *lc = ctx;
    cJSON *q = cJSON_GetObjectItemCaseSensitive(obj, "question");
    if (!q) return snprintf(why, cap, "field \"question\": missing"), 1;
    if (!cJSON_IsString(q) || !q->valuestring[0]) return snprintf(why, cap, "field \"question\": expected a non-empty string"), 1;
    char numbuf[64];
    const char *answer = "";
    cJSON *a = cJSON_GetObjectItemCaseSensitive(obj, "answer");
    if (a && !cJSON_IsNull(a)) {
        if (cJSON_IsString(a)) {
            answer = a->valuestring;
        } else if (cJSON_IsNumber(a) && isfinite(a->valuedouble)) {
            af_json_number_text(a->valuedouble, numbuf, sizeof numbuf);
            answer = numbuf;
        } else {
            return snprintf(why, cap, "field \"answer\": expected a string or a finite number"), 1;
        }
    }
    const char *solution = NULL;
    cJSON *s = cJSON_GetObjectItemCaseSensitive(obj, "solution");
    if (s && !cJSON_IsNull(s)) {
        if (!cJSON_IsString(s)) return snprintf(why, cap, "field \"solution\": expected a string"), 1;
        solution = s->valuestring;
    }
    const char *long_field = strlen(q->valuestring) > AF_ITEM_MAX_BYTES ? "question"
                             : strlen(answer) > AF_ITEM_MAX_BYTES         ? "answer"
                             : solution && strlen(solution) > AF_ITEM_MAX_BYTES ? "solution"
                                                                                : NULL;
    if (long_field)
        return snprintf(why, cap, "field \"%s\": longer than %u bytes (the limit of a trajectory string)", long_field,
                        AF_ITEM_MAX_BYTES), 1;
    AfItem item = {.question = q->valuestring, .answer = (char *)answer, .solution = (char *)solution};
    if (lc->check && lc->check(lc->ctx, &item, why, cap)) return 1;
    return af_dataset_add(lc->ds, item.question, item.answer, item.solution);
}

void af_json_number_text(double v, char *buf, size_t cap) {
    if (v == floor(v) && fabs(v) < 9e15) snprintf(buf, cap, "%.0f", v);
    else snprintf(buf, cap, "%.17g", v);
}

int af_dataset_load_jsonl(const char *path, AfItemCheck check, void *ctx, AfDataset **out) {
    AfDataset *ds = NULL;
    int rc = af_dataset_create(&ds);
    if (rc) return rc;
    LoadCtx lc = {ds, check, ctx};
    if ((rc = af_jsonl_foreach(path, load_one, &lc, NULL))) goto fail;
    if (ds->n == 0) {
        rc = af_error_set(AF_EINVAL, "%s: no items", path);
        goto fail;
    }
    *out = ds;
    return 0;
fail:
    af_dataset_destroy(ds);
    return rc;
}
