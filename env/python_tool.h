/* The `python` tool: runs the planner's argument as python3 code in a sandbox
 * (docs/design.md §5, config tools.python; modes and guarantees in docs/sandbox.md).
 *
 * Each call forks a fresh sandbox:
 *   - where the kernel allows it, its own PID, network, mount and IPC namespaces (as root
 *     directly, or inside a new user namespace). With a PID namespace every process the
 *     code starts dies when the code's main process ends; with a network namespace there is
 *     no network at all (not even loopback); with a mount namespace the whole file system is
 *     read-only and the private directory is a tmpfs of disk_mb MiB (and at most max_inodes
 *     entries), so the bytes a call can write are bounded by the kernel;
 *   - as root, the code runs under a throwaway uid (uid_base + a per-call offset), so
 *     RLIMIT_NPROC applies (the kernel exempts root) and ordinary file permissions hold;
 *   - rlimits: CPU seconds (RLIMIT_CPU), address space (RLIMIT_AS = mem_mb), processes
 *     (RLIMIT_NPROC), file size (RLIMIT_FSIZE = disk_mb), open files (RLIMIT_NOFILE), no
 *     core dumps;
 *   - an empty environment, stdin from /dev/null, no inherited descriptors,
 *     PR_SET_NO_NEW_PRIVS, and death with the calling thread (PR_SET_PDEATHSIG);
 *   - a private temporary directory as cwd, removed after the call;
 *   - a wall-clock limit after which the whole process group is killed (SIGKILL);
 *   - a supervising process that is a child subreaper (PR_SET_CHILD_SUBREAPER): whatever
 *     the code starts (setsid, double fork) is its descendant, and every descendant is
 *     killed before the call returns, in every mode;
 *   - except with AF_PY_ISOLATION_NONE, a seccomp filter (x86_64): no memfd_create (memory
 *     files that no size bound covers) and no io_uring; without a private tmpfs also no
 *     O_TMPFILE or openat2 (unnamed files the watchdog cannot see); without a network
 *     namespace no socket but AF_UNIX;
 *   - stdout and stderr captured together, keeping the first output_bytes.
 *
 * Isolation modes (tools.python.isolation):
 *   AF_PY_ISOLATION_REQUIRED: the call runs only with network, PID and mount namespaces (a
 *     read-only file system and the private tmpfs); otherwise it fails with
 *     AF_TOOL_INFRA_ERROR, and af_python_tool_create() already refuses with AF_ECONFIG.
 *   AF_PY_ISOLATION_BEST_EFFORT: namespaces where available; without a mount namespace,
 *     Landlock (Linux >= 5.13) confines writes to the private directory (no removals there),
 *     and a watchdog kills the call once the directory holds more than disk_mb MiB or
 *     max_inodes entries; without a network namespace, the seccomp filter allows only
 *     AF_UNIX sockets and Landlock (Linux >= 6.7) denies TCP connect and bind. What is missing is logged when the tool is created and at its first
 *     call, and reported in AfPythonRunInfo.
 *   AF_PY_ISOLATION_NONE: no namespaces, no Landlock: rlimits, the uid drop (as root), the
 *     descendant kill and the directory watchdog only.
 *
 * Result of a call: AF_TOOL_OK with the output if the code exited 0; AF_TOOL_ERROR with
 * the output (traceback) and "[exit status N]" for an exception or a nonzero exit, or
 * "[killed by signal S]", or the watchdog's "[python: ... killed]"; AF_TOOL_TIMEOUT when the
 * wall-clock or CPU limit ended it; AF_TOOL_INFRA_ERROR if the sandbox could not be set up
 * (python3 missing, no temp dir, isolation required but unavailable). Hitting the memory
 * limit shows up as a Python MemoryError (AF_TOOL_ERROR); a full private tmpfs as an OSError.
 * Output beyond output_bytes is dropped and noted with "[output truncated: N more bytes]".
 * No process and no descriptor outlives a call. */
#ifndef AF_ENV_PYTHON_TOOL_H
#define AF_ENV_PYTHON_TOOL_H

#include <stddef.h>

#include "common/config.h"
#include "env/tool.h"

typedef enum {
    AF_PY_ISOLATION_REQUIRED = 0, /* refuse to run without network, PID and mount namespaces */
    AF_PY_ISOLATION_BEST_EFFORT,  /* namespaces where available, else Landlock and the watchdog */
    AF_PY_ISOLATION_NONE          /* rlimits, uid drop, descendant kill and watchdog only */
} AfPythonIsolation;

/* "required" | "best_effort" | "none" -> *out; AF_ECONFIG naming tools.python.isolation otherwise. */
int af_python_isolation_parse(const char *s, AfPythonIsolation *out);
const char *af_python_isolation_name(AfPythonIsolation m);

typedef struct AfPythonToolConfig {
    double cpu_s;            /* tools.python.cpu_s: CPU seconds (soft; SIGKILL 1 s later) */
    int mem_mb;              /* tools.python.mem_mb: address-space limit in MiB */
    double wall_s;           /* tools.python.wall_s: wall-clock seconds */
    size_t output_bytes;     /* tools.python.output_bytes: captured bytes kept */
    int disk_mb;             /* tools.python.disk_mb: total MiB a call can write (and per file) */
    AfPythonIsolation isolation; /* tools.python.isolation */
    char python[AF_CFG_STR_MAX]; /* tools.python.interpreter: absolute path */
    /* Not in the configuration (fixed by af_python_tool_config_default()): */
    int max_procs;           /* RLIMIT_NPROC; 32 */
    int max_files;           /* RLIMIT_NOFILE; 64 */
    int max_inodes;          /* entries in the private directory; 4096 */
    size_t max_code_bytes;   /* longer code is refused (AF_TOOL_ERROR); 65536, max 120000 */
    const char *tmp_root;    /* parent of the private directories; NULL = "/tmp" */
    unsigned uid_base;       /* as root: first throwaway uid; 0x70000000 (span 65536) */
    const char *name;        /* NULL = "python" */
    const char *description; /* NULL = a line for the planner */
} AfPythonToolConfig;

/* The tool's settings from `cfg`'s tools.python.* keys (the fields of the configuration;
 * the others as af_python_tool_config_default() sets them). AF_ECONFIG naming the key if
 * a value does not fit (an unknown isolation name, an interpreter path too long). */
int af_python_tool_config_from(AfPythonToolConfig *c, const AfConfig *cfg);
/* The configuration schema's defaults (af_config_defaults()) through af_python_tool_config_from(). */
void af_python_tool_config_default(AfPythonToolConfig *c);

/* Create the tool (strings copied). Except with AF_PY_ISOLATION_NONE it first tries the
 * sandbox's isolation once (a fork, no python): required refuses, best_effort warns. Returns 0, or AF_ECONFIG naming the key
 * (tools.python.cpu_s etc. out of range, the interpreter not executable, or
 * tools.python.isolation=required on a host that cannot isolate, with the reason), or
 * AF_ENOMEM. */
int af_python_tool_create(const AfPythonToolConfig *cfg, AfTool **out);
void af_python_tool_destroy(AfTool *tool);

/* What the tool's last call did (metadata beside the planner-visible text). */
typedef struct AfPythonRunInfo {
    int net_isolated;      /* ran in a fresh network namespace */
    int pid_isolated;      /* ran in a fresh PID namespace */
    int fs_readonly;       /* file system read-only, private directory a tmpfs of disk_mb MiB */
    int uid_dropped;       /* ran under a throwaway uid (caller was root) */
    int landlock_fs;       /* Landlock confined writes to the private directory */
    int landlock_net;      /* Landlock denied TCP connect and bind */
    int seccomp;           /* the seccomp filter was installed (see above) */
    unsigned uid;          /* uid the code ran as */
    int exit_code;         /* exit status, or -1 if killed by a signal / never started */
    int term_signal;       /* signal that ended the code, 0 if none */
    int wall_timeout;      /* killed at the wall-clock limit */
    int cpu_timeout;       /* ended by the CPU limit */
    int disk_exceeded;     /* killed by the watchdog: more than disk_mb MiB or max_inodes entries */
    int refused;           /* isolation required and unavailable: the code did not run */
    int swept;             /* processes left by the code that the supervisor killed; -1: it had no
                              /proc and killed every process of the throwaway uid (root only) */
    double wall_s;         /* wall seconds of the call */
    double cpu_s;          /* CPU seconds of the code's main process (0 if unknown) */
    size_t output_total;   /* bytes the code wrote to stdout+stderr */
    int truncated;         /* output_total > output_bytes */
    char dir[256];         /* the private directory (already removed) */
    char note[256];        /* isolation fallbacks or set-up failures, "" if none */
} AfPythonRunInfo;

void af_python_tool_last_run(const AfTool *tool, AfPythonRunInfo *out);

#endif
