/* Resume helpers: config check against the checkpoint, log trimming, state broadcast
 * (learner/resume.h). */
#include "learner/resume.h"

#include <cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/fsutil.h"
#include "common/mpi_env.h"

/* The value at "section.key" (or "modules.planner.url") of a config JSON, printed. */
static void value_at(const char *json, const char *path, char *out, size_t cap) {
    snprintf(out, cap, "?");
    cJSON *root = json ? cJSON_Parse(json) : NULL;
    if (!root) return;
    const cJSON *node = root;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok && node; tok = strtok_r(NULL, ".", &save))
        node = cJSON_GetObjectItemCaseSensitive(node, tok);
    if (node) {
        char *p = cJSON_PrintUnformatted(node);
        if (p) snprintf(out, cap, "%.120s", p);
        free(p);
    }
    cJSON_Delete(root);
}

int af_resume_check_config(const char *stored_json, uint64_t step, const AfConfig *now) {
    AfConfig old;
    af_config_defaults(&old);
    if (!stored_json || !*stored_json)
        return af_error_set(AF_ECONFIG, "resume: the checkpoint of step %" PRIu64 " holds no configuration", step);
    if (af_config_apply_json(&old, stored_json, "checkpoint config"))
        return af_error_wrap(AF_ECONFIG, "resume: the configuration stored with step %" PRIu64 " does not apply", step);
    /* a run of an earlier build may have recorded relative paths: they meant the same */
    if (af_config_absolute_paths(&old)) return af_error_wrap(AF_ECONFIG, "resume: checkpoint of step %" PRIu64, step);
    char key[128];
    if (!af_config_resume_conflict(&old, now, key, sizeof key)) return 0;
    char was[160], is[160];
    char *now_json = af_config_to_json(now, 0);
    value_at(stored_json, key, was, sizeof was);
    value_at(now_json, key, is, sizeof is);
    free(now_json);
    return af_error_set(AF_ECONFIG,
                        "resume: %s is %s, the checkpoint of step %" PRIu64 " was written with %s; only "
                        "the keys marked RESUME in `agentflow train --help-config` (run.iterations, the run's limits, "
                        "checkpoints and evaluations, log.*, ...) may change when a run is resumed",
                        key, is, step, was);
}

int af_resume_trim_jsonl(const char *path, uint64_t limit, int *kept) {
    if (kept) *kept = 0;
    char *text = NULL;
    size_t len = 0;
    int rc = af_read_file(path, (size_t)1 << 31, &text, &len);
    if (rc == AF_ENOTFOUND) return 0;
    if (rc) return rc;
    char *out = malloc(len + 1);
    if (!out) {
        free(text);
        return af_error_set(AF_ENOMEM, "%s: out of memory", path);
    }
    size_t n_out = 0;
    int n_kept = 0;
    for (char *line = text; line < text + len;) {
        char *nl = memchr(line, '\n', (size_t)(text + len - line));
        size_t ll = nl ? (size_t)(nl - line) : (size_t)(text + len - line);
        char saved = line[ll];
        line[ll] = 0;
        cJSON *j = cJSON_Parse(line);
        const cJSON *it = j ? cJSON_GetObjectItemCaseSensitive(j, "iteration") : NULL;
        if (cJSON_IsNumber(it) && it->valuedouble >= 0 && it->valuedouble < (double)limit) {
            memcpy(out + n_out, line, ll);
            n_out += ll;
            out[n_out++] = '\n';
            n_kept++;
        }
        cJSON_Delete(j);
        line[ll] = saved;
        line += ll + (nl ? 1 : 0);
    }
    rc = af_write_file_atomic(path, out, n_out);
    free(out);
    free(text);
    if (rc == 0 && kept) *kept = n_kept;
    return rc;
}

int af_resume_bcast_floats(float *buf, size_t n, int root, MPI_Comm comm) {
    const size_t chunk = (size_t)1 << 28;
    for (size_t off = 0; off < n; off += chunk) {
        int cnt = (int)(n - off < chunk ? n - off : chunk);
        int rc = af_mpi_bcast(buf + off, cnt, MPI_FLOAT, root, comm);
        if (rc) return rc;
    }
    return 0;
}
