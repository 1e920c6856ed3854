/* JSON POST over libcurl with bounded, deterministic retries and a response size cap. */
#include "common/http.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "common/deadline.h"
#include "common/error.h"
#include "common/log.h"

/* An attempt needs at least this long; a deadline closer than that ends the call. */
#define MIN_ATTEMPT_S 0.01
/* Idle handles a client keeps (more concurrent calls open extra handles, closed after). */
#define POOL_MAX 8

struct AfHttpClient {
    pthread_mutex_t mu;
    CURL *idle[POOL_MAX];
    int n_idle;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_code = CURLE_OK;

static void curl_init_once(void) { curl_init_code = curl_global_init(CURL_GLOBAL_DEFAULT); }

void af_http_options_default(AfHttpOptions *o) {
    memset(o, 0, sizeof *o);
    o->timeout_s = 30.0;
    o->connect_timeout_s = 10.0;
    o->retries = 2;
    o->backoff_s = 0.2;
    o->backoff_max_s = 5.0;
    o->max_bytes = (size_t)1 << 20;
    o->redact = NULL;
    o->deadline = 0;
    o->retry_after_max_s = 60.0;
}

const char *af_http_failure_name(AfHttpFailure f) {
    switch (f) {
    case AF_HTTP_OK: return "ok";
    case AF_HTTP_FAIL_CONNECT: return "connection";
    case AF_HTTP_FAIL_TIMEOUT: return "timeout";
    case AF_HTTP_FAIL_STATUS: return "http_status";
    case AF_HTTP_FAIL_TRUNCATED: return "truncated";
    case AF_HTTP_FAIL_OVERSIZE: return "oversize";
    case AF_HTTP_FAIL_MALFORMED: return "malformed_json";
    case AF_HTTP_FAIL_OTHER: return "other";
    }
    return "unknown";
}

/* Replace every occurrence of `secret` in s (in place, bounded by size). */
static void redact_in_place(char *s, size_t size, const char *secret) {
    if (!secret || !secret[0]) return;
    static const char mask[] = "[redacted]";
    size_t sl = strlen(secret), ml = sizeof mask - 1;
    char *p = s;
    while ((p = strstr(p, secret)) != NULL) {
        size_t tail = strlen(p + sl);
        if (ml <= sl) {
            memcpy(p, mask, ml);
            memmove(p + ml, p + sl, tail + 1);
        } else {
            size_t used = (size_t)(p - s) + ml + tail + 1;
            if (used > size) tail -= used - size; /* drop the end rather than overflow */
            memmove(p + ml, p + sl, tail);
            memcpy(p, mask, ml);
            p[ml + tail] = '\0';
        }
        p += ml;
    }
}

static int fail(const AfHttpOptions *o, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(const AfHttpOptions *o, int code, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    redact_in_place(msg, sizeof msg, o ? o->redact : NULL);
    return af_error_set(code, "%s", msg);
}

/* The URL as it may appear in messages: no user:password@, no query, no fragment. */
static void url_for_message(const char *url, char *out, size_t size) {
    const char *scheme_end = strstr(url, "://");
    size_t n = 0;
    const char *p = url;
    if (scheme_end) {
        size_t sl = (size_t)(scheme_end - url) + 3;
        const char *auth = scheme_end + 3;
        const char *auth_end = auth + strcspn(auth, "/?#");
        const char *at = memchr(auth, '@', (size_t)(auth_end - auth));
        if (sl >= size) sl = size - 1;
        memcpy(out, url, sl);
        n = sl;
        p = at ? at + 1 : auth;
    }
    for (; *p && *p != '?' && *p != '#' && n + 1 < size; p++) out[n++] = *p;
    out[n] = '\0';
}

/* Printable excerpt of a reply body for messages. */
static void body_excerpt(const char *data, size_t len, char *out, size_t size) {
    size_t n = 0;
    for (size_t i = 0; i < len && n + 4 < size; i++) {
        unsigned char c = (unsigned char)data[i];
        out[n++] = (c >= 32 && c < 127) ? (char)c : ' ';
    }
    if (len > n && n + 4 <= size) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
}

int af_http_url_host(const char *url, char *buf, size_t size) {
    if (!url || !buf || size == 0) return af_error_set(AF_EINVAL, "http: url: NULL");
    int rc = AF_EINVAL;
    char *scheme = NULL, *host = NULL;
    CURLU *u = curl_url();
    if (!u) return af_error_set(AF_ENOMEM, "http: url parser");
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
        rc = af_error_set(AF_EINVAL, "http: url: cannot parse");
        goto fail;
    }
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)) {
        rc = af_error_set(AF_EINVAL, "http: url: scheme must be http or https");
        goto fail;
    }
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host[0]) {
        rc = af_error_set(AF_EINVAL, "http: url: no host");
        goto fail;
    }
    if (strlen(host) + 1 > size) {
        rc = af_error_set(AF_ERANGE, "http: url: host longer than %zu bytes", size - 1);
        goto fail;
    }
    for (size_t i = 0; host[i]; i++) buf[i] = (char)tolower((unsigned char)host[i]);
    buf[strlen(host)] = '\0';
    rc = 0;
fail:
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

typedef struct {
    char *data;
    size_t len, cap, max;
    int oversize;
} Body;

static size_t body_write(char *ptr, size_t size, size_t nmemb, void *user) {
    Body *b = user;
    size_t n = size * nmemb;
    if (n > b->max - b->len) {
        b->oversize = 1;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1) cap *= 2;
        if (cap > b->max + 1) cap = b->max + 1;
        char *d = realloc(b->data, cap);
        if (!d) return 0;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static void sleep_s(double s) {
    if (s <= 0) return;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int options_check(const AfHttpOptions *o) {
    if (!(o->timeout_s > 0) || o->timeout_s > 86400)
        return fail(o, AF_EINVAL, "http: options.timeout_s: expected (0, 86400], got %g", o->timeout_s);
    if (o->retries < 0 || o->retries > 100)
        return fail(o, AF_EINVAL, "http: options.retries: expected [0, 100], got %d", o->retries);
    if (!(o->backoff_s >= 0) || !(o->backoff_max_s >= 0) || o->backoff_max_s > 3600)
        return fail(o, AF_EINVAL, "http: options.backoff_s/backoff_max_s: expected >= 0 and <= 3600 s");
    if (!(o->retry_after_max_s >= 0) || !(o->deadline >= 0))
        return fail(o, AF_EINVAL, "http: options.retry_after_max_s/deadline: expected >= 0");
    if (o->max_bytes == 0 || o->max_bytes > ((size_t)1 << 34))
        return fail(o, AF_EINVAL, "http: options.max_bytes: expected [1, 2^34], got %zu", o->max_bytes);
    return 0;
}

int af_http_client_create(AfHttpClient **out) {
    *out = NULL;
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_code != CURLE_OK)
        return af_error_set(AF_ECURL, "http: curl_global_init: %s", curl_easy_strerror(curl_init_code));
    AfHttpClient *c = calloc(1, sizeof *c);
    if (!c) return af_error_set(AF_ENOMEM, "http client");
    if (pthread_mutex_init(&c->mu, NULL)) {
        free(c);
        return af_error_set(AF_ENOMEM, "http client: mutex");
    }
    *out = c;
    return 0;
}

void af_http_client_destroy(AfHttpClient *c) {
    if (!c) return;
    for (int i = 0; i < c->n_idle; i++) curl_easy_cleanup(c->idle[i]);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* A handle from the pool (its connections still open), or a new one; NULL: out of memory. */
static CURL *handle_take(AfHttpClient *c) {
    CURL *h = NULL;
    if (c) {
        pthread_mutex_lock(&c->mu);
        if (c->n_idle > 0) h = c->idle[--c->n_idle];
        pthread_mutex_unlock(&c->mu);
    }
    return h ? h : curl_easy_init();
}

/* Back to the pool with every option cleared (the buffers the options pointed to are
 * the finished call's); curl_easy_reset keeps the open connections. */
static void handle_give(AfHttpClient *c, CURL *h) {
    if (!h) return;
    curl_easy_reset(h);
    if (c) {
        pthread_mutex_lock(&c->mu);
        if (c->n_idle < POOL_MAX) {
            c->idle[c->n_idle++] = h;
            h = NULL;
        }
        pthread_mutex_unlock(&c->mu);
    }
    if (h) curl_easy_cleanup(h);
}

int af_http_post_json(const char *url, const cJSON *body, const char *const *headers,
                      const AfHttpOptions *opt, cJSON **reply_out, AfHttpReport *report) {
    return af_http_client_post_json(NULL, url, body, headers, opt, reply_out, report);
}

int af_http_client_post_json(AfHttpClient *client, const char *url, const cJSON *body,
                             const char *const *headers, const AfHttpOptions *opt, cJSON **reply_out,
                             AfHttpReport *report) {
    AfHttpOptions defaults;
    if (!opt) {
        af_http_options_default(&defaults);
        opt = &defaults;
    }
    if (report) memset(report, 0, sizeof *report);
    if (reply_out) *reply_out = NULL;
    if (!url || !url[0] || !body || !reply_out) return fail(opt, AF_EINVAL, "http: NULL url, body or reply_out");
    int rc = options_check(opt);
    if (rc) return rc;
    char host[256];
    rc = af_http_url_host(url, host, sizeof host);
    if (rc) return rc;
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_code != CURLE_OK)
        return fail(opt, AF_ECURL, "http: curl_global_init: %s", curl_easy_strerror(curl_init_code));

    char shown[512];
    url_for_message(url, shown, sizeof shown);
    char *payload = NULL;
    CURL *h = NULL;
    struct curl_slist *hdrs = NULL;
    Body b = {NULL, 0, 0, opt->max_bytes, 0};
    char errbuf[CURL_ERROR_SIZE];
    long status = 0;
    AfHttpFailure failure = AF_HTTP_FAIL_OTHER;
    int attempts = 0, deadline_stop = 0;
    double slept = 0, retry_after = 0;
    long connections = 0;
    const double deadline = af_deadline_min(opt->deadline, af_deadline_thread()), t_call = af_mono_now();
    double last_wait = 0; /* Retry-After of the last reply */

    payload = cJSON_PrintUnformatted(body);
    if (!payload) {
        rc = fail(opt, AF_ENOMEM, "http: POST %s: cannot serialize the request body", shown);
        goto fail;
    }
    h = handle_take(client);
    if (!h) {
        rc = fail(opt, AF_ENOMEM, "http: curl_easy_init failed");
        goto fail;
    }
    static const char *const fixed[] = {"Content-Type: application/json", "Accept: application/json", "Expect:"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        struct curl_slist *n = curl_slist_append(hdrs, fixed[i]);
        if (!n) goto oom;
        hdrs = n;
    }
    for (size_t i = 0; headers && headers[i]; i++) {
        struct curl_slist *n = curl_slist_append(hdrs, headers[i]);
        if (!n) goto oom;
        hdrs = n;
    }
    double connect_s = opt->connect_timeout_s > 0 && opt->connect_timeout_s < opt->timeout_s
                           ? opt->connect_timeout_s : opt->timeout_s;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(payload));
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)opt->max_bytes);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "agentflow.c/" AF_VERSION);

    char why[700] = "the deadline had passed before the first attempt";
    for (;;) {
        double attempt_s = opt->timeout_s;
        if (deadline > 0) { /* this attempt gets what is left, at most timeout_s */
            double left = deadline - af_mono_now();
            if (left < MIN_ATTEMPT_S) {
                deadline_stop = 1;
                failure = attempts ? failure : AF_HTTP_FAIL_TIMEOUT;
                break;
            }
            if (left < attempt_s) attempt_s = left;
        }
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(attempt_s * 1000.0 + 0.5));
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                         (long)((connect_s < attempt_s ? connect_s : attempt_s) * 1000.0 + 0.5));
        attempts++;
        b.len = 0;
        b.oversize = 0;
        errbuf[0] = '\0';
        status = 0;
        CURLcode cc = curl_easy_perform(h);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        long nc = 0;
        if (curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &nc) == CURLE_OK) connections += nc;
        double wait_s = 0; /* Retry-After of this reply, seconds */
        int retry = 0;
        if (cc == CURLE_OK) {
            if (status >= 200 && status < 300) {
                if (b.len == 0) {
                    failure = AF_HTTP_FAIL_MALFORMED;
                    snprintf(why, sizeof why, "HTTP %ld with an empty body (expected JSON)", status);
                    break;
                }
                const char *end = NULL;
                cJSON *reply = cJSON_ParseWithLengthOpts(b.data, b.len, &end, 0);
                size_t pos = end && end >= b.data ? (size_t)(end - b.data) : 0;
                if (reply) { /* only whitespace may follow the value */
                    while (pos < b.len && isspace((unsigned char)b.data[pos])) pos++;
                    if (pos != b.len) {
                        cJSON_Delete(reply);
                        reply = NULL;
                    }
                }
                if (!reply) {
                    char ex[80];
                    size_t from = pos > 20 ? pos - 20 : 0;
                    body_excerpt(b.data + from, b.len - from < 40 ? b.len - from : 40, ex, sizeof ex);
                    failure = AF_HTTP_FAIL_MALFORMED;
                    snprintf(why, sizeof why, "reply is not valid JSON (%zu bytes, error near byte %zu: \"%s\")",
                             b.len, pos, ex);
                    break;
                }
                *reply_out = reply;
                failure = AF_HTTP_OK;
                rc = 0;
                goto done;
            }
            char ex[240];
            body_excerpt(b.data ? b.data : "", b.len, ex, sizeof ex);
            failure = AF_HTTP_FAIL_STATUS;
            snprintf(why, sizeof why, "HTTP status %ld%s%s", status, ex[0] ? ": " : "", ex);
            retry = status >= 500 || status == 429 || status == 408;
            curl_off_t ra = 0; /* Retry-After: delay-seconds or an HTTP-date (curl reads both) */
            if (retry && curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
                retry_after = wait_s = (double)ra;
        } else if (b.oversize || cc == CURLE_FILESIZE_EXCEEDED) {
            failure = AF_HTTP_FAIL_OVERSIZE;
            snprintf(why, sizeof why, "reply body larger than max_bytes = %zu (transfer aborted)", opt->max_bytes);
        } else if (cc == CURLE_OPERATION_TIMEDOUT) {
            failure = AF_HTTP_FAIL_TIMEOUT;
            snprintf(why, sizeof why, "timed out after %.3g s (%s)", attempt_s, errbuf[0] ? errbuf : curl_easy_strerror(cc));
            retry = 1;
        } else if (cc == CURLE_PARTIAL_FILE) {
            failure = AF_HTTP_FAIL_TRUNCATED;
            snprintf(why, sizeof why, "truncated body: connection closed after %zu bytes (%s)", b.len,
                     errbuf[0] ? errbuf : curl_easy_strerror(cc));
            retry = 1;
        } else if (cc == CURLE_COULDNT_RESOLVE_HOST || cc == CURLE_COULDNT_CONNECT || cc == CURLE_SEND_ERROR ||
                   cc == CURLE_RECV_ERROR || cc == CURLE_GOT_NOTHING || cc == CURLE_COULDNT_RESOLVE_PROXY ||
                   cc == CURLE_SSL_CONNECT_ERROR) {
            failure = AF_HTTP_FAIL_CONNECT;
            snprintf(why, sizeof why, "connection failed: %s (curl error %d)", errbuf[0] ? errbuf : curl_easy_strerror(cc),
                     (int)cc);
            retry = 1;
        } else {
            failure = AF_HTTP_FAIL_OTHER;
            snprintf(why, sizeof why, "curl error %d: %s", (int)cc, errbuf[0] ? errbuf : curl_easy_strerror(cc));
        }
        last_wait = wait_s;
        if (!retry || attempts > opt->retries) break;
        double delay = opt->backoff_s;
        for (int k = 1; k < attempts && delay < opt->backoff_max_s; k++) delay *= 2;
        if (delay > opt->backoff_max_s) delay = opt->backoff_max_s;
        if (wait_s > delay) delay = wait_s;
        /* a wait that reaches the deadline is not begun: the call fails now */
        if (deadline > 0 && delay + MIN_ATTEMPT_S >= deadline - af_mono_now()) {
            deadline_stop = 1;
            break;
        }
        if (deadline <= 0 && wait_s > opt->retry_after_max_s) {
            rc = fail(opt, AF_ETIMEOUT, "http: POST %s: %s (attempt %d of %d); Retry-After %g s is longer than "
                      "the %g s a call without a deadline waits", shown, why, attempts, opt->retries + 1, wait_s,
                      opt->retry_after_max_s);
            goto done;
        }
        AF_LOG_D("http: POST %s attempt %d failed (%s); retrying in %.3f s%s", shown, attempts,
                 af_http_failure_name(failure), delay, wait_s > 0 ? " (Retry-After)" : "");
        sleep_s(delay);
        slept += delay;
    }
    if (deadline_stop) {
        double budget = deadline - t_call, left = deadline - af_mono_now();
        rc = fail(opt, AF_ETIMEOUT, "http: POST %s: %s (attempt %d of %d); gave up at the deadline: the call's "
                  "budget was %.3g s, %.3g s left%s", shown, why, attempts, opt->retries + 1, budget,
                  left > 0 ? left : 0,
                  last_wait > 0 ? " (the server's Retry-After asks for longer)" : "");
        goto done;
    }
    {
        int code = failure == AF_HTTP_FAIL_TIMEOUT ? AF_ETIMEOUT
                   : failure == AF_HTTP_FAIL_OVERSIZE ? AF_ERANGE
                   : failure == AF_HTTP_FAIL_MALFORMED ? AF_EFORMAT
                                                       : AF_ECURL;
        rc = fail(opt, code, "http: POST %s: %s (attempt %d of %d)", shown, why, attempts, opt->retries + 1);
    }
    goto done;
oom:
    rc = fail(opt, AF_ENOMEM, "http: POST %s: out of memory building headers", shown);
fail:
done:
    if (report) {
        report->attempts = attempts;
        report->status = status;
        report->failure = failure;
        report->backoff_total_s = slept;
        report->retry_after_s = retry_after;
        report->deadline_stop = deadline_stop;
        report->connections = connections;
    }
    handle_give(client, h);
    curl_slist_free_all(hdrs);
    free(payload);
    free(b.data);
    return rc;
}
