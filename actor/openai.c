/* OpenAI-compatible chat completions client; the API key never leaves the request header. */
#include "actor/openai.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common/config.h"
#include "common/error.h"
#include "common/http.h"
#include "common/text.h"

struct AfOpenAI {
    char *url;
    char *model;
    char *key_env;    /* the variable's name (safe to show) */
    char *auth;       /* "Authorization: Bearer <key>", or NULL */
    char *key;        /* the key alone, for redaction; NULL if none */
    AfHttpOptions http;
    AfHttpClient *client; /* pooled handles: connections kept open between requests */
    int max_tokens;
    double temperature;
    int last_attempts;
};

void af_openai_config_default(AfOpenAIConfig *c) {
    AfConfig d; /* the configuration schema holds the defaults of modules.*.timeout_s / retries */
    af_config_defaults(&d);
    memset(c, 0, sizeof *c);
    c->timeout_s = d.modules.executor.timeout_s;
    c->retries = (int)d.modules.executor.retries;
    c->backoff_s = 0.5;
    c->max_bytes = (size_t)4 << 20;
    c->temperature = 0.0;
}

static void wipe_free(char *s) {
    if (!s) return;
    volatile char *v = s;
    while (*v) *v++ = 0;
    free(s);
}

void af_openai_destroy(AfOpenAI *c) {
    if (!c) return;
    af_http_client_destroy(c->client);
    free(c->url);
    free(c->model);
    free(c->key_env);
    wipe_free(c->auth);
    wipe_free(c->key);
    free(c);
}

int af_openai_create(const AfOpenAIConfig *cfg, AfOpenAI **out) {
    if (!cfg || !out) return af_error_set(AF_EINVAL, "openai: NULL config or out");
    *out = NULL;
    if (!cfg->url || !cfg->url[0]) return af_error_set(AF_ECONFIG, "config: modules.url: missing (openai backend)");
    char host[256];
    if (af_http_url_host(cfg->url, host, sizeof host) != 0) return af_error_wrap(AF_ECONFIG, "config: modules.url");
    if (!cfg->model || !cfg->model[0]) return af_error_set(AF_ECONFIG, "config: modules.model: missing (openai backend)");
    if (cfg->timeout_s > 3600) return af_error_set(AF_ECONFIG, "config: modules.timeout_s: %g > 3600", cfg->timeout_s);
    if (cfg->retries > 20) return af_error_set(AF_ECONFIG, "config: modules.retries: %d > 20", cfg->retries);
    int rc = AF_ENOMEM;
    AfOpenAI *c = calloc(1, sizeof *c);
    if (!c) return af_error_set(AF_ENOMEM, "openai client");
    /* Append /chat/completions to the path unless it is there (a query string stays last). */
    size_t ul = strcspn(cfg->url, "?#");
    while (ul > 0 && cfg->url[ul - 1] == '/') ul--;
    static const char suffix[] = "/chat/completions";
    size_t sl = sizeof suffix - 1, rest = strlen(cfg->url + ul);
    int has_suffix = ul >= sl && memcmp(cfg->url + ul - sl, suffix, sl) == 0;
    c->url = malloc(ul + sl + rest + 1);
    if (!c->url) goto fail;
    memcpy(c->url, cfg->url, ul);
    size_t pos = ul;
    if (!has_suffix) {
        memcpy(c->url + pos, suffix, sl);
        pos += sl;
    }
    const char *tail = cfg->url + ul;
    while (*tail == '/') tail++, rest--;
    memcpy(c->url + pos, tail, rest + 1);
    c->model = strdup(cfg->model);
    if (!c->model) goto fail;
    if (cfg->api_key_env && cfg->api_key_env[0]) {
        c->key_env = strdup(cfg->api_key_env);
        if (!c->key_env) goto fail;
        const char *key = getenv(cfg->api_key_env);
        if (!key || !key[0]) {
            rc = af_error_set(AF_ECONFIG, "config: modules.api_key_env: environment variable %s is not set or empty",
                              cfg->api_key_env);
            goto fail;
        }
        if (strpbrk(key, "\r\n")) {
            rc = af_error_set(AF_ECONFIG, "config: modules.api_key_env: the value of %s contains a line break",
                              cfg->api_key_env);
            goto fail;
        }
        c->key = strdup(key);
        size_t n = strlen(key) + sizeof "Authorization: Bearer ";
        c->auth = malloc(n);
        if (!c->key || !c->auth) goto fail;
        snprintf(c->auth, n, "Authorization: Bearer %s", key);
    }
    if ((rc = af_http_client_create(&c->client))) goto fail;
    rc = AF_ENOMEM;
    af_http_options_default(&c->http);
    AfOpenAIConfig dflt;
    af_openai_config_default(&dflt);
    c->http.timeout_s = cfg->timeout_s > 0 ? cfg->timeout_s : dflt.timeout_s;
    c->http.connect_timeout_s = c->http.timeout_s < 10 ? c->http.timeout_s : 10;
    c->http.retries = cfg->retries >= 0 ? cfg->retries : dflt.retries;
    c->http.backoff_s = cfg->backoff_s >= 0 ? cfg->backoff_s : 0.5;
    c->http.backoff_max_s = 10.0;
    c->http.max_bytes = cfg->max_bytes ? cfg->max_bytes : dflt.max_bytes;
    c->http.redact = c->key;
    c->max_tokens = cfg->max_tokens;
    c->temperature = cfg->temperature;
    *out = c;
    return 0;
fail:
    if (rc == AF_ENOMEM) af_error_set(AF_ENOMEM, "openai client: out of memory");
    af_openai_destroy(c);
    return rc;
}

int af_openai_last_attempts(const AfOpenAI *c) { return c ? c->last_attempts : 0; }

static int add_message(cJSON *arr, const char *role, const char *content) {
    cJSON *m = cJSON_CreateObject();
    if (!m) return 0;
    if (!cJSON_AddItemToArray(arr, m)) {
        cJSON_Delete(m);
        return 0;
    }
    return cJSON_AddStringToObject(m, "role", role) && cJSON_AddStringToObject(m, "content", content);
}

int af_openai_chat(AfOpenAI *c, const char *system_prompt, const char *user_prompt, char **reply_out) {
    if (reply_out) *reply_out = NULL;
    if (!c || !user_prompt || !reply_out) return af_error_set(AF_EINVAL, "openai: NULL client, user prompt or reply_out");
    int rc = AF_ENOMEM;
    cJSON *reply = NULL;
    cJSON *req = cJSON_CreateObject();
    cJSON *msgs = req ? cJSON_AddArrayToObject(req, "messages") : NULL;
    if (!msgs || !cJSON_AddStringToObject(req, "model", c->model)) goto oom;
    if (system_prompt && !add_message(msgs, "system", system_prompt)) goto oom;
    if (!add_message(msgs, "user", user_prompt)) goto oom;
    if (c->max_tokens > 0 && !cJSON_AddNumberToObject(req, "max_tokens", c->max_tokens)) goto oom;
    if (c->temperature >= 0 && !cJSON_AddNumberToObject(req, "temperature", c->temperature)) goto oom;
    if (!cJSON_AddFalseToObject(req, "stream")) goto oom;

    const char *headers[2] = {c->auth, NULL};
    AfHttpReport rep;
    rc = af_http_client_post_json(c->client, c->url, req, c->auth ? headers : NULL, &c->http, &reply, &rep);
    c->last_attempts = rep.attempts;
    if (rc) {
        af_error_wrap(rc, "openai (model %s)", c->model);
        goto fail;
    }
    rc = AF_EFORMAT;
    if (!cJSON_IsObject(reply)) {
        af_error_set(rc, "openai: reply from %s is not a JSON object", c->url);
        goto fail;
    }
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(reply, "error");
    if (err && !cJSON_IsNull(err)) {
        const cJSON *msg = cJSON_IsObject(err) ? cJSON_GetObjectItemCaseSensitive(err, "message") : err;
        char buf[300];
        snprintf(buf, sizeof buf, "%s", cJSON_IsString(msg) ? msg->valuestring : "(no message)");
        if (c->key && strstr(buf, c->key)) snprintf(buf, sizeof buf, "(message withheld: it contained the API key)");
        af_error_set(rc, "openai: reply from %s carries an error: %s", c->url, buf);
        goto fail;
    }
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(reply, "choices");
    if (!cJSON_IsArray(choices)) {
        af_error_set(rc, "openai: reply from %s: field \"choices\" missing or not an array", c->url);
        goto fail;
    }
    const cJSON *first = cJSON_GetArrayItem(choices, 0);
    if (!cJSON_IsObject(first)) {
        af_error_set(rc, "openai: reply from %s: \"choices\" is empty or choices[0] is not an object", c->url);
        goto fail;
    }
    const cJSON *message = cJSON_GetObjectItemCaseSensitive(first, "message");
    if (!cJSON_IsObject(message)) {
        af_error_set(rc, "openai: reply from %s: choices[0].message missing or not an object", c->url);
        goto fail;
    }
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(message, "content");
    if (!cJSON_IsString(content)) {
        af_error_set(rc, "openai: reply from %s: choices[0].message.content is %s, expected a string", c->url,
                     !content ? "missing" : cJSON_IsNull(content) ? "null" : "not a string");
        goto fail;
    }
    /* a server that echoes the key (a hostile one, or a model repeating its prompt) must
     * not get it into an action, an answer or a trajectory */
    *reply_out = af_redact_dup(content->valuestring, c->key);
    if (!*reply_out) goto oom;
    rc = 0;
    goto done;
oom:
    rc = af_error_set(AF_ENOMEM, "openai: out of memory building the request");
fail:
done:
    cJSON_Delete(req);
    cJSON_Delete(reply);
    return rc;
}
