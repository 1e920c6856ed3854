/* The generic `http` tool (docs/design.md §5, config tools.http): a JSON POST to one
 * configured URL, e.g. a retrieval server.
 *
 * Wire contract: the tool POSTs {"<payload_key>": "<argument>"} (payload_key defaults to
 * "query") and expects a JSON reply. The result text is, in order of preference:
 *   - reply["<result_key>"] if it is a string (result_key defaults to "result");
 *   - an error result (AF_TOOL_ERROR) with reply["error"] if that is a string or an object
 *     with a string "message": the server understood and rejected the query;
 *   - otherwise the whole reply, serialized compactly.
 * Hosts are allowlisted: the URL's host must equal (case-insensitively) one of allow_hosts,
 * checked when the tool is created and again before every call; redirects are never
 * followed. Transport failures after the retries (connection refused, timeout, HTTP 5xx,
 * truncated body) are AF_TOOL_INFRA_ERROR: not the planner's fault. A reply that arrives but
 * is malformed or larger than max_bytes is AF_TOOL_INFRA_ERROR too, with a message that
 * says exactly that. HTTP 400/413/414/422 are AF_TOOL_ERROR (the server refused this
 * argument); other 4xx (401, 403, 404, ...) point at the configuration: AF_TOOL_INFRA_ERROR.
 * The timeout_s given to call() (if > 0) bounds the whole call: every attempt, retry and
 * backoff or Retry-After wait ends within it (common/http.h deadlines); tools.http.timeout_s
 * caps each attempt. The tool keeps its connections open between calls (keep-alive). */
#ifndef AF_ENV_HTTP_TOOL_H
#define AF_ENV_HTTP_TOOL_H

#include <stddef.h>

#include "env/tool.h"

typedef struct AfHttpToolConfig {
    const char *url;                /* http(s) URL to POST to; required */
    const char *const *allow_hosts; /* hosts the URL may name; required, n_allow_hosts >= 1 */
    int n_allow_hosts;
    double timeout_s;               /* per attempt; <= 0: the default */
    int retries;                    /* extra attempts; < 0: the default */
    size_t max_bytes;               /* response cap; 0: the default */
    double backoff_s;               /* first retry delay; < 0: 0.2 s (doubling, capped at 5 s) */
    const char *name;               /* tool name; NULL: "http" */
    const char *description;        /* NULL: a generic line */
    const char *payload_key;        /* NULL: "query" */
    const char *result_key;         /* NULL: "result" */
    size_t max_result_chars;        /* result text cap in bytes; 0: 4096 */
} AfHttpToolConfig;

/* Zero the struct and fill the defaults: timeout_s, retries and max_bytes are those of
 * tools.http.* in the configuration schema (common/config.h), the rest the tool's own
 * (backoff 0.2 s doubling to 5 s, name "http", payload "query", result "result", 4096 result
 * bytes); url and allow_hosts stay NULL. */
void af_http_tool_config_default(AfHttpToolConfig *c);

/* Create the tool. Every string in *cfg is copied. Returns 0, or AF_ECONFIG naming the
 * field (tools.http.url: not http(s) / no host; tools.http.allow_hosts: empty or the URL's
 * host is not in it; out-of-range timeouts/retries), or AF_ENOMEM. The tool is destroyed
 * with tool->destroy(tool) (or af_http_tool_destroy). */
int af_http_tool_create(const AfHttpToolConfig *cfg, AfTool **out);
void af_http_tool_destroy(AfTool *tool);

/* What the last call on this tool did (for metrics and tests). */
typedef struct AfHttpToolStats {
    long calls;          /* call() invocations */
    long attempts;       /* HTTP attempts over all calls */
    long infra_errors;   /* calls that ended AF_TOOL_INFRA_ERROR */
    int last_attempts;   /* attempts of the last call */
    int last_failure;    /* AfHttpFailure of the last call */
} AfHttpToolStats;
void af_http_tool_stats(const AfTool *tool, AfHttpToolStats *out);

#endif
