/* The tool interface every suite and executor uses (docs/design.md §5).
 *
 * A tool is a name, a one-line description shown to the planner, and call(arg) -> result.
 * Tools know nothing of MPI. A call never crashes on a bad argument: it returns 0 and
 * reports the problem through AfToolResult.status and the result text, which is what the
 * planner sees in memory. A negative return is reserved for programming errors and
 * out-of-memory. */
#ifndef AF_ENV_TOOL_H
#define AF_ENV_TOOL_H

#include <stddef.h>

/* Mirrors agentflow.ToolStatus in proto/agentflow.proto (same values). */
typedef enum {
    AF_TOOL_OK = 0,           /* ran, result in text */
    AF_TOOL_BAD_ACTION = 1,   /* planner action unparsable / unknown tool */
    AF_TOOL_ERROR = 2,        /* tool rejected the argument (bad expression, div by zero) */
    AF_TOOL_TIMEOUT = 3,      /* tool's own time limit (planner's fault) */
    AF_TOOL_INFRA_ERROR = 4,  /* backend down / HTTP failure after retries (not the planner's fault) */
    AF_TOOL_NO_CALL = 5       /* the turn made no tool call */
} AfToolStatus;

typedef struct AfToolResult {
    AfToolStatus status;
    char *text;   /* NUL-terminated result or error message; owned by the caller after call() (free()) */
    size_t len;   /* bytes in text, excluding the NUL */
} AfToolResult;

typedef struct AfTool AfTool;
struct AfTool {
    const char *name;         /* e.g. "calculator"; static or owned by ctx */
    const char *description;  /* one line for the planner prompt */
    const char *example;      /* an argument in the tool's format, for demonstrations of the
                                 action format (the random planner); may be NULL */
    /* Run the tool on `arg` (NUL-terminated) within `timeout_s` wall seconds (<= 0: the
     * tool's own default). Fills *out (out->text always set, possibly ""). */
    int (*call)(AfTool *self, const char *arg, double timeout_s, AfToolResult *out);
    void (*destroy)(AfTool *self); /* frees ctx; may be NULL */
    void *ctx;
};

/* Convenience: fill *out with a copy of text and a status. Returns 0 or AF_ENOMEM. */
int af_tool_result_set(AfToolResult *out, AfToolStatus status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void af_tool_result_free(AfToolResult *r);
const char *af_tool_status_name(AfToolStatus s);

#endif
