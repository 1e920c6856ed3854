/* The `python` tool: runs the planner's argument as python3 code in a sandbox
 * (docs/design.md §5, config tools.python).
 *
 * Each call forks a fresh sandbox:
 *   - its own process group, and where the kernel allows it its own PID, network, mount
 *     and IPC namespaces (as root directly; otherwise inside a new user namespace). With a
 *     PID namespace every process the code starts dies when the code's main process ends;
 *     with a network namespace there is no network at all (not even loopback); with a mount
 *     namespace the whole file system is read-only except the private directory;
 *   - as root, the code runs under a throwaway uid (uid_base + a per-call offset), so
 *     RLIMIT_NPROC applies (the kernel exempts root) and ordinary file permissions hold;
 *   - rlimits: CPU seconds (RLIMIT_CPU), address space (RLIMIT_AS = mem_mb), processes
 *     (RLIMIT_NPROC), file size (RLIMIT_FSIZE), open files (RLIMIT_NOFILE), no core dumps;
 *   - an empty environment, stdin from /dev/null, no inherited descriptors,
 *     PR_SET_NO_NEW_PRIVS, and death with the calling thread (PR_SET_PDEATHSIG);
 *   - a private temporary directory as cwd, removed after the call;
 *   - a wall-clock limit after which the whole process group is killed (SIGKILL);
 *   - stdout and stderr captured together, keeping the first output_bytes.
 * If a namespace cannot be created (container without CAP_SYS_ADMIN, user namespaces
 * disabled) the tool falls back to running without it, logs one warning per tool, and
 * reports it in AfPythonRunInfo (net_isolated = 0 and a note), unless require_isolation
 * is set, in which case the call fails with AF_TOOL_INFRA_ERROR instead.
 *
 * Result of a call: AF_TOOL_OK with the output if the code exited 0; AF_TOOL_ERROR with
 * the output (traceback) and "[exit status N]" for an exception or a nonzero exit, or
 * "[killed by signal S]"; AF_TOOL_TIMEOUT when the wall-clock or CPU limit ended it;
 * AF_TOOL_INFRA_ERROR if the sandbox could not be set up (python3 missing, no temp dir).
 * Hitting the memory limit shows up as a Python MemoryError (AF_TOOL_ERROR). Output beyond
 * output_bytes is dropped and noted with "[output truncated: N more bytes]". No process
 * and no descriptor outlives a call. */
#ifndef AF_ENV_PYTHON_TOOL_H
#define AF_ENV_PYTHON_TOOL_H

#include <stddef.h>

#include "env/tool.h"

typedef struct AfPythonToolConfig {
    double cpu_s;            /* tools.python.cpu_s: CPU seconds (soft; SIGKILL 1 s later); default 5 */
    int mem_mb;              /* tools.python.mem_mb: address-space limit in MiB; default 512 */
    double wall_s;           /* tools.python.wall_s: wall-clock seconds; default 10 */
    size_t output_bytes;     /* tools.python.output_bytes: captured bytes kept; default 16384 */
    int max_procs;           /* RLIMIT_NPROC; default 32 */
    int max_files;           /* RLIMIT_NOFILE; default 64 */
    int max_file_mb;         /* RLIMIT_FSIZE in MiB; default 16 */
    size_t max_code_bytes;   /* longer code is refused (AF_TOOL_ERROR); default 65536, max 120000 */
    const char *python;      /* interpreter; default "/usr/bin/python3" */
    const char *tmp_root;    /* parent of the private directories; default "/tmp" */
    unsigned uid_base;       /* as root: first throwaway uid; default 0x70000000 (span 65536) */
    int require_isolation;   /* 1: refuse to run without network/PID/mount namespaces */
    const char *name;        /* default "python" */
    const char *description; /* default: a line for the planner */
} AfPythonToolConfig;

void af_python_tool_config_default(AfPythonToolConfig *c);

/* Create the tool (strings copied). Returns 0, or AF_ECONFIG naming the field
 * (tools.python.cpu_s etc. out of range, python not executable), or AF_ENOMEM. */
int af_python_tool_create(const AfPythonToolConfig *cfg, AfTool **out);
void af_python_tool_destroy(AfTool *tool);

/* What the tool's last call did (metadata beside the planner-visible text). */
typedef struct AfPythonRunInfo {
    int net_isolated;      /* ran in a fresh network namespace */
    int pid_isolated;      /* ran in a fresh PID namespace */
    int fs_readonly;       /* file system read-only except the private directory */
    int uid_dropped;       /* ran under a throwaway uid (caller was root) */
    unsigned uid;          /* uid the code ran as */
    int exit_code;         /* exit status, or -1 if killed by a signal / never started */
    int term_signal;       /* signal that ended the code, 0 if none */
    int wall_timeout;      /* killed at the wall-clock limit */
    int cpu_timeout;       /* ended by the CPU limit */
    double wall_s;         /* wall seconds of the call */
    double cpu_s;          /* CPU seconds of the code's main process (0 if unknown) */
    size_t output_total;   /* bytes the code wrote to stdout+stderr */
    int truncated;         /* output_total > output_bytes */
    char dir[256];         /* the private directory (already removed) */
    char note[256];        /* isolation fallbacks or set-up failures, "" if none */
} AfPythonRunInfo;

void af_python_tool_last_run(const AfTool *tool, AfPythonRunInfo *out);

#endif
