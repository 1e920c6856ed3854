/* Error codes shared by every module, and a per-thread detail message.
 *
 * Library functions return 0 on success or a negative AF_E* code. The function that
 * detects a problem records a one-line human detail with af_error_set(), which names
 * the input and the field ("config: rollout.group_size: expected an integer in [1, 1024],
 * got 0"). Callers that only propagate the code leave the detail untouched. */
#ifndef AF_COMMON_ERROR_H
#define AF_COMMON_ERROR_H

#include <stdio.h>
#include <stdlib.h>

enum {
    AF_OK = 0,
    AF_EINVAL = -1,     /* bad argument or malformed input */
    AF_ENOMEM = -2,     /* allocation failed */
    AF_EIO = -3,        /* file or socket I/O failed */
    AF_ECONFIG = -4,    /* configuration rejected */
    AF_EFORMAT = -5,    /* bytes that do not decode (protobuf, safetensors, JSON) */
    AF_ECHECKSUM = -6,  /* stored checksum does not match the data */
    AF_ENOTFOUND = -7,  /* a named file, key, tensor or step does not exist */
    AF_ERANGE = -8,     /* a value outside its allowed range */
    AF_ETIMEOUT = -9,   /* a deadline passed */
    AF_EMPI = -10,      /* an MPI call failed */
    AF_ELMDB = -11,     /* an LMDB call failed */
    AF_ECURL = -12,     /* an HTTP transfer failed */
    AF_ETOOL = -13,     /* a tool failed (bad argument, sandbox limit, remote error) */
    AF_EFULL = -14,     /* disk or map full */
    AF_EUSAGE = -15,    /* bad command-line usage */
    AF_ENOTIMPL = -16,  /* feature not built yet */
    AF_EINTR = -17,     /* interrupted by a signal (preemption) */
    AF_ESTATE = -18,    /* operation not valid in the object's current state */
    AF_ERROR_MIN = -18
};

/* Static description of a code; never NULL (unknown codes give "unknown error"). */
const char *af_strerror(int code);

/* Record a detail message for the calling thread and return `code`, so that
 * `return af_error_set(AF_EINVAL, "x: %d", x);` reads naturally. */
int af_error_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The calling thread's last detail message ("" if none). Valid until the next
 * af_error_set() or af_error_clear() on this thread. */
const char *af_error_detail(void);
void af_error_clear(void);

/* Prefix the current detail with "<context>: " (e.g. the file name), keeping the code. */
int af_error_wrap(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Always-on invariant check: a violated invariant is a bug, not bad input. Prints
 * file:line and the expression, then aborts every rank (MPI_Abort when MPI is up). */
#define AF_ASSERT(cond)                                                      \
    do {                                                                     \
        if (!(cond)) af_assert_fail(#cond, __FILE__, __LINE__, __func__);    \
    } while (0)

_Noreturn void af_assert_fail(const char *expr, const char *file, int line, const char *func);

#endif
