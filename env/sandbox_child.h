/* The forked side of the python sandbox: the supervisor S, the namespace init I and the
 * code process Q (env/sandbox_child.c), and the records they send to the calling side
 * (env/python_tool.c). Internal to the python tool: its contract is env/python_tool.h,
 * its guarantees docs/sandbox.md. */
#ifndef AF_ENV_SANDBOX_CHILD_H
#define AF_ENV_SANDBOX_CHILD_H

#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "env/python_tool.h"

/* Isolation achieved by S (and Q for Landlock): AF_SBX_REC_ISO, AF_SBX_REC_LANDLOCK. */
enum {
    AF_SBX_ISO_NET = 1,      /* network namespace */
    AF_SBX_ISO_PID = 2,      /* PID namespace */
    AF_SBX_ISO_FS = 4,       /* read-only file system and the private tmpfs */
    AF_SBX_ISO_UID = 8,      /* throwaway uid */
    AF_SBX_ISO_USERNS = 16,  /* inside a user namespace */
    AF_SBX_ISO_LL_FS = 32,   /* Landlock: writes only in the private directory */
    AF_SBX_ISO_LL_NET = 64,  /* Landlock: no TCP connect or bind */
    AF_SBX_ISO_MNT = 128,    /* mount namespace (AF_SBX_ISO_FS once set up) */
    AF_SBX_ISO_FULL = AF_SBX_ISO_NET | AF_SBX_ISO_PID | AF_SBX_ISO_FS
};
/* The isolation step that failed first, beside its errno in AF_SBX_REC_ISO's extra field. */
enum { AF_SBX_FAIL_UNSHARE = 1, AF_SBX_FAIL_USERNS, AF_SBX_FAIL_MOUNT };
#define AF_SBX_FAIL_CODE(step, err) ((int32_t)((step) << 16 | ((err) & 0xffff)))

/* Record tags, in the order they usually come: value and extra per tag. */
enum {
    AF_SBX_REC_ISO = 1,   /* S: AF_SBX_ISO_* bits; AF_SBX_FAIL_CODE of the first failure */
    AF_SBX_REC_SETUP,     /* S, I or Q: AF_SBX_STEP_* that failed; errno (the code did not run) */
    AF_SBX_REC_EXEC,      /* Q: execve failed; errno */
    AF_SBX_REC_WAIT,      /* I: Q's wait status; Q's CPU milliseconds */
    AF_SBX_REC_REFUSED,   /* S: isolation required and incomplete (after AF_SBX_REC_ISO) */
    AF_SBX_REC_INIT,      /* S: I's pid (the code's process group) */
    AF_SBX_REC_LANDLOCK,  /* Q: AF_SBX_ISO_LL_* bits in force; errno if none */
    AF_SBX_REC_SWEPT,     /* S: live descendants killed after I, -1 without /proc */
    AF_SBX_REC_SECCOMP    /* Q: 1 if the seccomp filter is installed; errno */
};
enum {
    AF_SBX_STEP_FORK_INIT = 1,
    AF_SBX_STEP_FORK_CODE,
    AF_SBX_STEP_CHDIR,
    AF_SBX_STEP_RLIMIT,
    AF_SBX_STEP_SETGID,
    AF_SBX_STEP_SETUID,
    AF_SBX_STEP_USERNS_MAP,
    AF_SBX_STEP_PRCTL
};

typedef struct {
    int32_t tag, value, extra;
} AfSandboxRec;

/* What S needs, prepared by the caller before fork (S may not allocate). */
typedef struct {
    int out_w, status_w, devnull;
    pid_t caller;
    const char *dir, *python;
    char *const *argv;
    int is_root, probe;
    AfPythonIsolation mode;
    unsigned uid;
    gid_t gid;
    const char *uid_map, *gid_map;           /* unprivileged user namespace: the caller's own ids */
    const char *root_uid_map, *root_gid_map; /* root without CAP_SYS_ADMIN: 0 and the throwaway id */
    const char *tmpfs_opts;                  /* the private tmpfs: size, inodes, owner */
    int landlock_fs, landlock_net;           /* set by S for Q */
    struct rlimit cpu, as, nproc, fsize, nofile;
} AfSandboxPlan;

/* S: run in the child of fork(). Sets up the isolation p->mode asks for, reports each
 * step on descriptor p->status_w as AfSandboxRec records (AF_SBX_REC_ISO first), starts
 * I and Q, waits for them, kills whatever the code left, and exits. Uses only system calls
 * (the caller may be multi-threaded). Never returns. */
_Noreturn void af_sandbox_run(const AfSandboxPlan *p);

#endif
