/* Error strings, per-thread detail messages and the always-on assert. */
#include "common/error.h"

#include <mpi.h>
#include <stdarg.h>
#include <string.h>

static _Thread_local char detail[1024];

const char *af_strerror(int code) {
    switch (code) {
    case AF_OK: return "success";
    case AF_EINVAL: return "invalid argument or malformed input";
    case AF_ENOMEM: return "out of memory";
    case AF_EIO: return "input/output error";
    case AF_ECONFIG: return "invalid configuration";
    case AF_EFORMAT: return "malformed data";
    case AF_ECHECKSUM: return "checksum mismatch";
    case AF_ENOTFOUND: return "not found";
    case AF_ERANGE: return "value out of range";
    case AF_ETIMEOUT: return "timed out";
    case AF_EMPI: return "MPI error";
    case AF_ELMDB: return "LMDB error";
    case AF_ECURL: return "HTTP transfer error";
    case AF_ETOOL: return "tool error";
    case AF_EFULL: return "no space left (disk or map full)";
    case AF_EUSAGE: return "invalid command-line usage";
    case AF_ENOTIMPL: return "not implemented yet";
    case AF_EINTR: return "interrupted";
    case AF_ESTATE: return "invalid state for this operation";
    default: return "unknown error";
    }
}

int af_error_set(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return code;
}

int af_error_wrap(int code, const char *fmt, ...) {
    char prefix[512], joined[sizeof prefix + sizeof detail + 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    snprintf(joined, sizeof joined, "%s: %s", prefix, detail[0] ? detail : af_strerror(code));
    size_t n = strnlen(joined, sizeof detail - 1);
    memcpy(detail, joined, n);
    detail[n] = '\0';
    return code;
}

const char *af_error_detail(void) { return detail; }

void af_error_clear(void) { detail[0] = '\0'; }

void af_assert_fail(const char *expr, const char *file, int line, const char *func) {
    int up = 0, down = 0;
    fprintf(stderr, "agentflow: assertion failed at %s:%d in %s(): %s\n", file, line, func, expr);
    fflush(stderr);
    MPI_Initialized(&up);
    MPI_Finalized(&down);
    if (up && !down) MPI_Abort(MPI_COMM_WORLD, 134);
    abort();
}
