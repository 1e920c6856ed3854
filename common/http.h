/* A small HTTP client for JSON POST requests (libcurl + cJSON), shared by the `http`
 * tool and the OpenAI-compatible backend.
 *
 * One call = up to 1 + retries attempts. An attempt fails on a connection error, a
 * timeout, a truncated body, or an HTTP 5xx status; those are retried after a
 * deterministic backoff (backoff_s, 2*backoff_s, 4*backoff_s, ... each capped at
 * backoff_max_s; no jitter, so a run's schedule is reproducible). HTTP 4xx, a reply that
 * is not JSON and a reply larger than max_bytes are not retried: repeating the same
 * request would give the same answer. Redirects are not followed and only http/https
 * URLs are accepted, so an allowlist checked on the URL cannot be bypassed.
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
} AfHttpOptions;

/* Defaults: timeout 30 s, connect timeout 10 s, 2 retries, backoff 0.2 s doubling up
 * to 5 s, max_bytes 1 MiB, no redaction. */
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
} AfHttpReport;

/* Short name of a failure kind ("timeout", "http_status", ...). Never NULL. */
const char *af_http_failure_name(AfHttpFailure f);

/* POST `body` (serialized compactly, Content-Type: application/json) to `url` with the
 * extra `headers` ("Name: value" strings, NULL-terminated list, may be NULL), and parse
 * the reply as JSON into *reply_out (owned by the caller: cJSON_Delete).
 * `report` (may be NULL) receives the attempt count and the last failure either way.
 * Returns 0, or:
 *   AF_EINVAL   a NULL/empty argument, a URL that is not http(s), bad options;
 *   AF_ETIMEOUT every attempt failed and the last one timed out;
 *   AF_ECURL    connection failure, truncated body or an HTTP error status (after retries
 *               where retried; 4xx at once);
 *   AF_ERANGE   the body exceeded max_bytes;
 *   AF_EFORMAT  the body is not JSON;
 *   AF_ENOMEM.
 * On error *reply_out is NULL and af_error_detail() says what happened. Thread-safe:
 * every call uses its own curl handle (curl's global init runs once). */
int af_http_post_json(const char *url, const cJSON *body, const char *const *headers,
                      const AfHttpOptions *opt, cJSON **reply_out, AfHttpReport *report);

/* The host part of an http(s) URL, lower-cased, into buf (size bytes). Returns 0, or
 * AF_EINVAL for a URL curl cannot parse, another scheme, or no host; AF_ERANGE if the
 * host does not fit. */
int af_http_url_host(const char *url, char *buf, size_t size);

#endif
