/* A small HTTP client for JSON POST requests (libcurl + cJSON), shared by the `http`
 * tool and the OpenAI-compatible backend.
 *
 * One call = up to 1 + retries attempts. An attempt fails on a connection error, a
 * timeout, a truncated body, or an HTTP 5xx, 408 or 429 status; those are retried after a
 * deterministic backoff (backoff_s, 2*backoff_s, 4*backoff_s, ... each capped at
 * backoff_max_s; no jitter, so a run's schedule is reproducible). A retried status reply
 * with a Retry-After header (delay-seconds or an HTTP-date) waits at least that long.
 * HTTP 4xx, a reply that is not JSON and a reply larger than max_bytes are not retried:
 * repeating the same request would give the same answer. Redirects are not followed and
 * only http/https URLs are accepted, so an allowlist checked on the URL cannot be
 * bypassed.
 *
 * Deadlines: a call ends by the earlier of options.deadline and the calling thread's
 * deadline (common/deadline.h; an episode sets it to the end of its budget). Each
 * attempt's curl timeout is the time left (at most timeout_s), and a retry whose wait
 * (backoff, or Retry-After) would reach the deadline is not made: the call fails at
 * once with AF_ETIMEOUT and a message naming the deadline. Without a deadline, a
 * Retry-After longer than retry_after_max_s ends the call the same way.
 *
 * Connections: a client (AfHttpClient) keeps its curl handles, and with them their
 * open connections (HTTP keep-alive), between calls: a small pool, one handle per
 * concurrent call, since a curl handle serves one thread at a time. af_http_post_json
 * without a client opens and closes its own handle.
 *
 * Error messages name what went wrong (the URL without its query string, the HTTP
 * status, curl's error text, the JSON parse position, the byte counts) and never
 * include request headers. If `redact` is set, every occurrence of it in a message is
 * replaced by "[redacted]" as a second line of defence for secrets. */
#ifndef AF_COMMON_HTTP_H
#define AF_COMMON_HTTP_H

#include <stddef.h>

#include <cjson/cJSON.h>

typedef struct AfHttpOptions {
    double timeout_s;          /* whole-attempt limit (connect + send + receive), > 0 */
    double connect_timeout_s;  /* <= 0: same as timeout_s */
    int retries;               /* extra attempts after the first, 0..100 */
    double backoff_s;          /* delay before the first retry; doubles each retry */
    double backoff_max_s;      /* cap on one delay */
    size_t max_bytes;          /* response body cap in bytes; the transfer is aborted beyond it */
    const char *redact;        /* secret scrubbed from every error message (may be NULL) */
    double deadline;           /* af_mono_now() time by which the call ends; 0 = none (the
                                  thread's deadline still applies) */
    double retry_after_max_s;  /* without a deadline, the longest Retry-After waited for */
} AfHttpOptions;

/* Defaults: timeout 30 s, connect timeout 10 s, 2 retries, backoff 0.2 s doubling up
 * to 5 s, max_bytes 1 MiB, no redaction, no deadline, Retry-After up to 60 s. */
void af_http_options_default(AfHttpOptions *o);

/* What the last attempt of a call ended with. */
typedef enum {
    AF_HTTP_OK = 0,
    AF_HTTP_FAIL_CONNECT,    /* could not resolve / connect / send / receive */
    AF_HTTP_FAIL_TIMEOUT,    /* timeout_s elapsed */
    AF_HTTP_FAIL_STATUS,     /* HTTP status outside 2xx */
    AF_HTTP_FAIL_TRUNCATED,  /* connection closed before Content-Length bytes arrived */
    AF_HTTP_FAIL_OVERSIZE,   /* body larger than max_bytes */
    AF_HTTP_FAIL_MALFORMED,  /* body is not valid JSON */
    AF_HTTP_FAIL_OTHER       /* any other curl failure */
} AfHttpFailure;

typedef struct AfHttpReport {
    int attempts;            /* attempts made (1 + retries used) */
    long status;             /* HTTP status of the last attempt (0 if none received) */
    AfHttpFailure failure;   /* AF_HTTP_OK on success */
    double backoff_total_s;  /* sum of the backoff delays slept */
    double retry_after_s;    /* the last Retry-After the server sent, in seconds (0: none) */
    int deadline_stop;       /* 1: the call gave up because the deadline came or would pass */
    long connections;        /* TCP connections opened by the call (0 when all were reused) */
} AfHttpReport;

/* Short name of a failure kind ("timeout", "http_status", ...). Never NULL. */
const char *af_http_failure_name(AfHttpFailure f);

typedef struct AfHttpClient AfHttpClient;

/* A client: a pool of curl handles kept with their connections between calls. Returns 0
 * or AF_ENOMEM / AF_ECURL (curl's global init failed). Thread-safe: concurrent calls
 * each take their own handle from the pool. */
int af_http_client_create(AfHttpClient **out);
void af_http_client_destroy(AfHttpClient *c); /* accepts NULL; no call may be running */

/* af_http_post_json on a client's pooled handles (client NULL: a handle of its own). */
int af_http_client_post_json(AfHttpClient *client, const char *url, const cJSON *body,
                             const char *const *headers, const AfHttpOptions *opt, cJSON **reply_out,
                             AfHttpReport *report);

/* POST `body` (serialized compactly, Content-Type: application/json) to `url` with the
 * extra `headers` ("Name: value" strings, NULL-terminated list, may be NULL), and parse
 * the reply as JSON into *reply_out (owned by the caller: cJSON_Delete).
 * `report` (may be NULL) receives the attempt count and the last failure either way.
 * Returns 0, or:
 *   AF_EINVAL   a NULL/empty argument, a URL that is not http(s), bad options;
 *   AF_ETIMEOUT every attempt failed and the last one timed out, or the deadline came
 *               (or a Retry-After would pass it) before the call succeeded;
 *   AF_ECURL    connection failure, truncated body or an HTTP error status (after retries
 *               where retried; 4xx at once);
 *   AF_ERANGE   the body exceeded max_bytes;
 *   AF_EFORMAT  the body is not JSON;
 *   AF_ENOMEM.
 * On error *reply_out is NULL and af_error_detail() says what happened. Thread-safe:
 * every call uses its own curl handle (curl's global init runs once); no connection
 * outlives the call (use a client to keep them). */
int af_http_post_json(const char *url, const cJSON *body, const char *const *headers,
                      const AfHttpOptions *opt, cJSON **reply_out, AfHttpReport *report);

/* The host part of an http(s) URL, lower-cased, into buf (size bytes). Returns 0, or
 * AF_EINVAL for a URL curl cannot parse, another scheme, or no host; AF_ERANGE if the
 * host does not fit. */
int af_http_url_host(const char *url, char *buf, size_t size);

#endif
