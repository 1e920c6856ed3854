/* OpenAI-compatible chat completions client; the API key never leaves the request header. */
#include "actor/openai.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common/config.h"
#include "common/error.h"
#include "common/http.h"
#include "common/log.h"
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
    int send_seed, logprobs;
    _Atomic int refused; /* bit 1: the server rejected "seed", bit 2: "logprobs" */
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
    c->send_seed = cfg->send_seed;
    c->logprobs = cfg->logprobs;
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

/* The request body; with_seed / with_lp add "seed" / "logprobs". NULL when out of memory. */
static cJSON *build_request(const AfOpenAI *c, const char *system_prompt, const char *user_prompt, int with_seed,
                            uint64_t seed, int with_lp) {
    cJSON *req = cJSON_CreateObject();
    cJSON *msgs = req ? cJSON_AddArrayToObject(req, "messages") : NULL;
    if (!msgs || !cJSON_AddStringToObject(req, "model", c->model)) goto oom;
    if (system_prompt && !add_message(msgs, "system", system_prompt)) goto oom;
    if (!add_message(msgs, "user", user_prompt)) goto oom;
    if (c->max_tokens > 0 && !cJSON_AddNumberToObject(req, "max_tokens", c->max_tokens)) goto oom;
    if (c->temperature >= 0 && !cJSON_AddNumberToObject(req, "temperature", c->temperature)) goto oom;
    if (with_seed && !cJSON_AddNumberToObject(req, "seed", (double)(seed & 0x7FFFFFFFu))) goto oom;
    if (with_lp && !cJSON_AddTrueToObject(req, "logprobs")) goto oom;
    if (!cJSON_AddFalseToObject(req, "stream")) goto oom;
    return req;
oom:
    cJSON_Delete(req);
    return NULL;
}

/* choices[0].logprobs.content[].logprob summed into out (has_logprobs 0 if absent). */
static void read_logprobs(const cJSON *first, AfOpenAIReply *out) {
    const cJSON *lp = cJSON_GetObjectItemCaseSensitive(first, "logprobs");
    const cJSON *content = cJSON_IsObject(lp) ? cJSON_GetObjectItemCaseSensitive(lp, "content") : NULL;
    if (!cJSON_IsArray(content)) return;
    double sum = 0;
    uint32_t n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, content) {
        const cJSON *v = cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "logprob") : NULL;
        if (!cJSON_IsNumber(v) || !(v->valuedouble <= 0.0)) return; /* not log-probs: ignored */
        sum += v->valuedouble;
        n++;
    }
    out->has_logprobs = 1;
    out->logprob = sum;
    out->tokens = n;
}

int af_openai_chat_call(AfOpenAI *c, const char *system_prompt, const char *user_prompt, uint64_t seed,
                        AfOpenAIReply *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!c || !user_prompt || !out) return af_error_set(AF_EINVAL, "openai: NULL client, user prompt or reply");
    int rc = AF_ENOMEM;
    cJSON *reply = NULL, *req = NULL;
    const char *headers[2] = {c->auth, NULL};
    AfHttpReport rep;
    for (int attempt = 0;; attempt++) {
        const int refused = c->refused;
        const int with_seed = c->send_seed && !(refused & 1), with_lp = c->logprobs && !(refused & 2);
        cJSON_Delete(req);
        if (!(req = build_request(c, system_prompt, user_prompt, with_seed, seed, with_lp))) goto oom;
        rc = af_http_client_post_json(c->client, c->url, req, c->auth ? headers : NULL, &c->http, &reply, &rep);
        c->last_attempts = rep.attempts;
        if (rc == AF_ECURL && rep.status == 400 && attempt == 0 && (with_seed || with_lp)) {
            /* a server that does not take the optional fields: ask again without the ones it names */
            const char *why = af_error_detail();
            int drop = (with_seed && strcasestr(why, "seed") ? 1 : 0) | (with_lp && strcasestr(why, "logprobs") ? 2 : 0);
            if (drop) {
                c->refused |= drop;
                af_log(AF_LOG_WARN, "openai (model %s): the server rejects %s%s%s; asking again without (and from now on)",
                       c->model, drop & 1 ? "\"seed\"" : "", drop == 3 ? " and " : "", drop & 2 ? "\"logprobs\"" : "");
                continue;
            }
        }
        break;
    }
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
    read_logprobs(first, out);
    out->content = af_redact_dup(content->valuestring, c->key);
    if (!out->content) goto oom;
    rc = 0;
    goto done;
oom:
    rc = af_error_set(AF_ENOMEM, "openai: out of memory building the request");
    memset(out, 0, sizeof *out);
fail:
done:
    cJSON_Delete(req);
    cJSON_Delete(reply);
    return rc;
}

int af_openai_chat(AfOpenAI *c, const char *system_prompt, const char *user_prompt, char **reply_out) {
    if (reply_out) *reply_out = NULL;
    if (!reply_out) return af_error_set(AF_EINVAL, "openai: NULL reply_out");
    AfOpenAIReply r;
    int rc = af_openai_chat_call(c, system_prompt, user_prompt, 0, &r);
    *reply_out = r.content;
    return rc;
}
