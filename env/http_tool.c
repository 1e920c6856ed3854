/* The generic `http` tool: JSON POST of the planner's argument to an allowlisted URL. */
#include "env/http_tool.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "common/config.h"
#include "common/deadline.h"
#include "common/error.h"
#include "common/http.h"
#include "common/log.h"

typedef struct {
    AfTool tool;
    char *url, *name, *description, *payload_key, *result_key;
    char **allow;
    int n_allow;
    AfHttpOptions http;
    AfHttpClient *client; /* keeps connections open between calls */
    size_t max_result_chars;
    AfHttpToolStats stats;
} HttpTool;

void af_http_tool_config_default(AfHttpToolConfig *c) {
    AfConfig d; /* the configuration schema holds the defaults of tools.http.* */
    af_config_defaults(&d);
    memset(c, 0, sizeof *c);
    c->timeout_s = d.tools.http.timeout_s;
    c->retries = (int)d.tools.http.retries;
    c->max_bytes = (size_t)d.tools.http.max_bytes;
    c->backoff_s = 0.2;
    c->max_result_chars = 4096;
}

static int host_allowed(const HttpTool *t, const char *host) {
    for (int i = 0; i < t->n_allow; i++)
        if (strcasecmp(t->allow[i], host) == 0) return 1;
    return 0;
}

/* Copy at most cap bytes of s into a tool result, noting a cut. */
static int set_capped(AfToolResult *out, AfToolStatus st, const char *prefix, const char *s, size_t cap) {
    size_t n = strlen(s);
    if (n <= cap) return af_tool_result_set(out, st, "%s%s", prefix, s);
    return af_tool_result_set(out, st, "%s%.*s [truncated: %zu more bytes]", prefix, (int)cap, s, n - cap);
}

static int http_tool_call(AfTool *self, const char *arg, double timeout_s, AfToolResult *out) {
    HttpTool *t = self->ctx;
    t->stats.calls++;
    t->stats.last_attempts = 0;
    t->stats.last_failure = AF_HTTP_OK;
    if (!arg) return af_tool_result_set(out, AF_TOOL_BAD_ACTION, "http: no argument");
    char host[256];
    if (af_http_url_host(t->url, host, sizeof host) != 0 || !host_allowed(t, host)) {
        t->stats.infra_errors++;
        return af_tool_result_set(out, AF_TOOL_INFRA_ERROR, "http: host of %s is not allowlisted", t->url);
    }
    AfHttpOptions opt = t->http;
    /* the whole call, retries and their waits included, ends within timeout_s (the
     * episode has already cut it to what its budget leaves) */
    if (timeout_s > 0) opt.deadline = af_mono_now() + timeout_s;
    cJSON *req = cJSON_CreateObject();
    if (!req || !cJSON_AddStringToObject(req, t->payload_key, arg)) {
        cJSON_Delete(req);
        return af_error_set(AF_ENOMEM, "http tool: request JSON");
    }
    cJSON *reply = NULL;
    AfHttpReport rep;
    int rc = af_http_client_post_json(t->client, t->url, req, NULL, &opt, &reply, &rep);
    cJSON_Delete(req);
    t->stats.attempts += rep.attempts;
    t->stats.last_attempts = rep.attempts;
    t->stats.last_failure = (int)rep.failure;
    if (rc == AF_ENOMEM) return rc;
    if (rc != 0) {
        AfToolStatus st = AF_TOOL_INFRA_ERROR;
        if (rep.failure == AF_HTTP_FAIL_STATUS &&
            (rep.status == 400 || rep.status == 413 || rep.status == 414 || rep.status == 422))
            st = AF_TOOL_ERROR;
        if (st == AF_TOOL_INFRA_ERROR) t->stats.infra_errors++;
        AF_LOG_D("%s tool: %s", t->name, af_error_detail());
        return set_capped(out, st, "", af_error_detail(), t->max_result_chars);
    }
    int ret;
    const cJSON *res = cJSON_IsObject(reply) ? cJSON_GetObjectItemCaseSensitive(reply, t->result_key) : NULL;
    const cJSON *err = cJSON_IsObject(reply) ? cJSON_GetObjectItemCaseSensitive(reply, "error") : NULL;
    if (cJSON_IsObject(err)) err = cJSON_GetObjectItemCaseSensitive(err, "message");
    if (cJSON_IsString(res)) {
        ret = set_capped(out, AF_TOOL_OK, "", res->valuestring, t->max_result_chars);
    } else if (cJSON_IsString(err)) {
        ret = set_capped(out, AF_TOOL_ERROR, "http: server error: ", err->valuestring, t->max_result_chars);
    } else {
        char *s = cJSON_PrintUnformatted(reply);
        ret = s ? set_capped(out, AF_TOOL_OK, "", s, t->max_result_chars)
                : af_error_set(AF_ENOMEM, "http tool: reply JSON");
        free(s);
    }
    cJSON_Delete(reply);
    return ret;
}

void af_http_tool_destroy(AfTool *tool) {
    if (!tool) return;
    HttpTool *t = tool->ctx;
    af_http_client_destroy(t->client);
    free(t->url);
    free(t->name);
    free(t->description);
    free(t->payload_key);
    free(t->result_key);
    for (int i = 0; i < t->n_allow; i++) free(t->allow[i]);
    free(t->allow);
    free(t);
}

void af_http_tool_stats(const AfTool *tool, AfHttpToolStats *out) {
    const HttpTool *t = tool->ctx;
    *out = t->stats;
}

static char *dup_or(const char *s, const char *dflt) { return strdup(s ? s : dflt); }

int af_http_tool_create(const AfHttpToolConfig *cfg, AfTool **out) {
    if (!cfg || !out) return af_error_set(AF_EINVAL, "http tool: NULL config or out");
    *out = NULL;
    if (!cfg->url || !cfg->url[0]) return af_error_set(AF_ECONFIG, "config: tools.http.url: missing");
    char host[256];
    if (af_http_url_host(cfg->url, host, sizeof host) != 0)
        return af_error_wrap(AF_ECONFIG, "config: tools.http.url");
    if (!cfg->allow_hosts || cfg->n_allow_hosts < 1)
        return af_error_set(AF_ECONFIG, "config: tools.http.allow_hosts: empty (list the hosts the tool may reach)");
    if (cfg->timeout_s > 3600) return af_error_set(AF_ECONFIG, "config: tools.http.timeout_s: %g > 3600", cfg->timeout_s);
    if (cfg->retries > 20) return af_error_set(AF_ECONFIG, "config: tools.http.retries: %d > 20", cfg->retries);
    int rc = AF_ENOMEM;
    HttpTool *t = calloc(1, sizeof *t);
    if (!t) return af_error_set(AF_ENOMEM, "http tool");
    t->tool.ctx = t;
    t->tool.call = http_tool_call;
    t->tool.destroy = af_http_tool_destroy;
    t->url = strdup(cfg->url);
    t->name = dup_or(cfg->name, "http");
    t->description = dup_or(cfg->description, "POST the argument as a query to a retrieval server; returns its answer");
    t->payload_key = dup_or(cfg->payload_key, "query");
    t->result_key = dup_or(cfg->result_key, "result");
    t->allow = calloc((size_t)cfg->n_allow_hosts, sizeof *t->allow);
    if (!t->url || !t->name || !t->description || !t->payload_key || !t->result_key || !t->allow) goto fail;
    if ((rc = af_http_client_create(&t->client))) goto fail;
    rc = AF_ENOMEM;
    for (int i = 0; i < cfg->n_allow_hosts; i++) {
        if (!cfg->allow_hosts[i]) {
            rc = af_error_set(AF_ECONFIG, "config: tools.http.allow_hosts[%d]: NULL", i);
            goto fail;
        }
        t->allow[i] = strdup(cfg->allow_hosts[i]);
        if (!t->allow[i]) goto fail;
        t->n_allow = i + 1;
    }
    if (!host_allowed(t, host)) {
        rc = af_error_set(AF_ECONFIG, "config: tools.http.url: host \"%s\" is not in tools.http.allow_hosts", host);
        goto fail;
    }
    af_http_options_default(&t->http);
    AfHttpToolConfig dflt;
    af_http_tool_config_default(&dflt);
    t->http.timeout_s = cfg->timeout_s > 0 ? cfg->timeout_s : dflt.timeout_s;
    t->http.connect_timeout_s = t->http.timeout_s;
    t->http.retries = cfg->retries >= 0 ? cfg->retries : dflt.retries;
    t->http.max_bytes = cfg->max_bytes ? cfg->max_bytes : dflt.max_bytes;
    t->http.backoff_s = cfg->backoff_s >= 0 ? cfg->backoff_s : 0.2;
    t->max_result_chars = cfg->max_result_chars ? cfg->max_result_chars : 4096;
    if (t->max_result_chars > (size_t)1 << 30) {
        rc = af_error_set(AF_ECONFIG, "config: tools.http.max_result_chars: too large");
        goto fail;
    }
    t->tool.name = t->name;
    t->tool.description = t->description;
    t->tool.example = "capital of France";
    *out = &t->tool;
    return 0;
fail:
    if (rc == AF_ENOMEM) af_error_set(AF_ENOMEM, "http tool: out of memory");
    af_http_tool_destroy(&t->tool);
    return rc;
}
