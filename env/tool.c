/* Helpers shared by every tool implementation. */
#include "env/tool.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/error.h"

int af_tool_result_set(AfToolResult *out, AfToolStatus status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    out->status = status;
    out->text = NULL;
    out->len = 0;
    if (n < 0) return af_error_set(AF_EINVAL, "tool result: bad format");
    out->text = malloc((size_t)n + 1);
    if (!out->text) return af_error_set(AF_ENOMEM, "tool result: %d bytes", n + 1);
    va_start(ap, fmt);
    vsnprintf(out->text, (size_t)n + 1, fmt, ap);
    va_end(ap);
    out->len = (size_t)n;
    return 0;
}

void af_tool_result_free(AfToolResult *r) {
    if (!r) return;
    free(r->text);
    r->text = NULL;
    r->len = 0;
}

const char *af_tool_status_name(AfToolStatus s) {
    switch (s) {
    case AF_TOOL_OK: return "ok";
    case AF_TOOL_BAD_ACTION: return "bad_action";
    case AF_TOOL_ERROR: return "tool_error";
    case AF_TOOL_TIMEOUT: return "timeout";
    case AF_TOOL_INFRA_ERROR: return "infra_error";
    case AF_TOOL_NO_CALL: return "no_call";
    }
    return "unknown";
}
