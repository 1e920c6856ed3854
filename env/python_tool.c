/* The `python` tool: python3 code in a fork-per-call sandbox (see python_tool.h and
 * docs/sandbox.md).
 *
 * Process layout of one call:
 *   caller ── fork ── S (setpgid; child subreaper; unshare net/mount/pid/ipc; read-only
 *                      │  mounts and the private tmpfs)
 *                      ├─ fork ── H (root without CAP_SYS_ADMIN only: writes S's user
 *                      │          namespace id maps from outside it, then exits)
 *                      └─ fork ── I (pid 1 of the new PID namespace: reaps everything)
 *                                  └─ fork ── Q (rlimits, cwd, uid drop, Landlock, execve python3)
 * Every process between fork and execve uses only system calls (no malloc, no stdio):
 * the caller may be multi-threaded. S, I and Q report to the caller through a
 * close-on-exec "status" pipe of fixed-size records; Q's stdout and stderr share one
 * "output" pipe. S is alone in its process group; I, Q and whatever Q starts form a second
 * group led by I. When Q ends, I exits. With a PID namespace that makes the kernel kill
 * everything left in it, and I's exit completes only once they are gone. Without one,
 * whatever the code left behind (setsid, double fork) was reparented to S, the child
 * subreaper: S kills every descendant it finds in /proc and reaps until it has no child
 * left. At the wall-clock limit, or when the watchdog finds the private directory over its
 * limit, the caller SIGKILLs I's group; S then does the same sweep. The caller reaps S: so
 * when the call returns, no process of the sandbox exists. */
#include "env/python_tool.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"

#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
struct af_mount_attr { /* struct mount_attr of linux/mount.h (not in every libc) */
    uint64_t attr_set, attr_clr, propagation, userns_fd;
};

/* Landlock (linux/landlock.h; Debian 12's header stops at ABI 2, the kernel may be newer). */
struct af_ll_ruleset_attr {
    uint64_t handled_access_fs, handled_access_net, scoped;
};
struct af_ll_path_beneath_attr {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));
#define LL_FS_WRITE_FILE (1ull << 1)
#define LL_FS_REMOVE_DIR (1ull << 4)
#define LL_FS_REMOVE_FILE (1ull << 5)
#define LL_FS_MAKE_CHAR (1ull << 6)
#define LL_FS_MAKE_DIR (1ull << 7)
#define LL_FS_MAKE_REG (1ull << 8)
#define LL_FS_MAKE_SOCK (1ull << 9)
#define LL_FS_MAKE_FIFO (1ull << 10)
#define LL_FS_MAKE_BLOCK (1ull << 11)
#define LL_FS_MAKE_SYM (1ull << 12)
#define LL_FS_REFER (1ull << 13)    /* ABI 2 */
#define LL_FS_TRUNCATE (1ull << 14) /* ABI 3 */
#define LL_NET_BIND_TCP (1ull << 0) /* ABI 4 */
#define LL_NET_CONNECT_TCP (1ull << 1)
#define LL_SCOPE_ABSTRACT_UNIX (1ull << 0) /* ABI 6 */
#define LL_SCOPE_SIGNAL (1ull << 1)
#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule 445
#define SYS_landlock_restrict_self 446
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

#define UID_SPAN 65536u
#define MAX_CODE_HARD 120000u /* below MAX_ARG_STRLEN (128 KiB) for one argv string */
#define WATCH_INTERVAL_S 0.02 /* the watchdog's period without a private tmpfs */
#define WATCH_MIN_S 0.001      /* and its shortest, when inotify reports writes */
#define SWEEP_MAX 4096        /* processes of the host one /proc scan considers */

/* Isolation achieved by S (and Q for Landlock), reported in REC_ISO / REC_LANDLOCK. */
enum {
    ISO_NET = 1,      /* network namespace */
    ISO_PID = 2,      /* PID namespace */
    ISO_FS = 4,       /* read-only file system and the private tmpfs */
    ISO_UID = 8,      /* throwaway uid */
    ISO_USERNS = 16,  /* inside a user namespace */
    ISO_LL_FS = 32,   /* Landlock: writes only in the private directory */
    ISO_LL_NET = 64,  /* Landlock: no TCP connect or bind */
    ISO_MNT = 128,    /* mount namespace (ISO_FS once set up) */
    ISO_FULL = ISO_NET | ISO_PID | ISO_FS
};
/* The isolation step that failed first, beside its errno in REC_ISO's extra field. */
enum { FAIL_UNSHARE = 1, FAIL_USERNS, FAIL_MOUNT };
#define FAIL_CODE(step, err) ((int32_t)((step) << 16 | ((err) & 0xffff)))

enum { REC_ISO = 1, REC_SETUP, REC_EXEC, REC_WAIT, REC_REFUSED, REC_INIT, REC_LANDLOCK, REC_SWEPT, REC_SECCOMP };
enum { STEP_FORK_INIT = 1, STEP_FORK_CODE, STEP_CHDIR, STEP_RLIMIT, STEP_SETGID, STEP_SETUID, STEP_USERNS_MAP,
       STEP_PRCTL };

typedef struct {
    int32_t tag, value, extra;
} Rec;

typedef struct {
    AfTool tool;
    char *name, *description, *python, *tmp_root;
    double cpu_s, wall_s;
    int mem_mb, disk_mb, max_procs, max_files, max_inodes;
    AfPythonIsolation isolation;
    size_t output_bytes, max_code_bytes;
    unsigned uid_base;
    unsigned counter;
    int warned;
    AfPythonRunInfo last;
} PyTool;

static const char *const iso_names[] = {"required", "best_effort", "none"};

int af_python_isolation_parse(const char *s, AfPythonIsolation *out) {
    for (int i = 0; i < 3; i++)
        if (s && strcmp(s, iso_names[i]) == 0) {
            *out = (AfPythonIsolation)i;
            return 0;
        }
    return af_error_set(AF_ECONFIG, "config: tools.python.isolation: expected required|best_effort|none, got \"%s\"",
                        s ? s : "(null)");
}

const char *af_python_isolation_name(AfPythonIsolation m) {
    return (unsigned)m < 3 ? iso_names[m] : "?";
}

int af_python_tool_config_from(AfPythonToolConfig *c, const AfConfig *cfg) {
    memset(c, 0, sizeof *c);
    c->cpu_s = cfg->tools.python.cpu_s;
    c->wall_s = cfg->tools.python.wall_s;
    c->mem_mb = (int)cfg->tools.python.mem_mb;
    c->output_bytes = (size_t)cfg->tools.python.output_bytes;
    c->disk_mb = (int)cfg->tools.python.disk_mb;
    c->max_procs = 32;
    c->max_files = 64;
    c->max_inodes = 4096;
    c->max_code_bytes = 65536;
    c->uid_base = 0x70000000u;
    int rc = af_python_isolation_parse(cfg->tools.python.isolation, &c->isolation);
    if (rc) return rc;
    size_t n = strlen(cfg->tools.python.interpreter);
    if (n >= sizeof c->python)
        return af_error_set(AF_ECONFIG, "config: tools.python.interpreter: longer than %zu bytes", sizeof c->python - 1);
    memcpy(c->python, cfg->tools.python.interpreter, n + 1);
    return 0;
}

void af_python_tool_config_default(AfPythonToolConfig *c) {
    AfConfig *d = malloc(sizeof *d);
    AF_ASSERT(d != NULL);
    af_config_defaults(d);
    int rc = af_python_tool_config_from(c, d);
    AF_ASSERT(rc == 0); /* the schema's own defaults always fit */
    free(d);
}

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---------------------------------------------------------------- child side (syscalls only) */

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
} ChildPlan;

static void rec_write(int fd, int32_t tag, int32_t value, int32_t extra) {
    Rec r = {tag, value, extra};
    ssize_t n;
    do n = write(fd, &r, sizeof r);
    while (n < 0 && errno == EINTR);
}

static int write_file(const char *path, const char *s) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t len = strlen(s);
    ssize_t n = write(fd, s, len);
    int e = errno;
    close(fd);
    errno = e;
    return n == (ssize_t)len ? 0 : -1;
}

/* "/proc/<pid>/<name>" without stdio. */
static void proc_path(char *buf, size_t cap, pid_t pid, const char *name) {
    char digits[16];
    int nd = 0;
    unsigned long v = (unsigned long)pid;
    do digits[nd++] = (char)('0' + v % 10);
    while ((v /= 10) && nd < 15);
    size_t k = 0;
    for (const char *s = "/proc/"; *s && k + 1 < cap; s++) buf[k++] = *s;
    while (nd > 0 && k + 1 < cap) buf[k++] = digits[--nd];
    if (k + 1 < cap) buf[k++] = '/';
    for (const char *s = name; *s && k + 1 < cap; s++) buf[k++] = *s;
    buf[k] = '\0';
}

static void close_from(int lowfd) {
#ifdef SYS_close_range
    if (syscall(SYS_close_range, (unsigned)lowfd, ~0u, 0u) == 0) return;
#endif
    for (int fd = lowfd; fd < 65536; fd++) close(fd);
}

/* Read-only file system, and a fresh tmpfs (size, inode count and owner from tmpfs_opts)
 * over the private directory, in S's fresh mount namespace. */
static int make_fs_private(const ChildPlan *p) {
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) return -1;
    struct af_mount_attr ro = {MOUNT_ATTR_RDONLY, 0, 0, 0};
    if (syscall(SYS_mount_setattr, AT_FDCWD, "/", AT_RECURSIVE, &ro, sizeof ro) != 0) return -1;
    if (mount("tmpfs", p->dir, "tmpfs", MS_NOSUID | MS_NODEV, p->tmpfs_opts) != 0) return -1;
    return 0;
}

/* Root without CAP_SYS_ADMIN: a user namespace whose id maps (0 and the throwaway id, each
 * to itself) are written from outside it by a helper H that keeps CAP_SETUID there; a
 * process inside may only map its own id, which would leave the throwaway uid, owner of
 * the private directory, unmapped (and the code root inside). Returns 0, -1 if unshare
 * failed (errno set), -2 if the maps could not be written (S is then unusable). */
static int userns_as_root(const ChildPlan *p, int ns) {
    int go[2];
    if (pipe2(go, O_CLOEXEC) != 0) return -1;
    pid_t self = getpid();
    pid_t h = fork();
    if (h < 0) {
        close(go[0]);
        close(go[1]);
        return -1;
    }
    if (h == 0) { /* H */
        close(go[1]);
        char c = 0;
        ssize_t r;
        do r = read(go[0], &c, 1);
        while (r < 0 && errno == EINTR);
        if (r != 1 || c != 'y') _exit(2);
        char path[64];
        proc_path(path, sizeof path, self, "uid_map");
        if (write_file(path, p->root_uid_map) != 0) _exit(1);
        proc_path(path, sizeof path, self, "gid_map");
        if (write_file(path, p->root_gid_map) != 0) _exit(1);
        _exit(0);
    }
    close(go[0]);
    int rc = unshare(CLONE_NEWUSER | ns), e = errno;
    char c = rc == 0 ? 'y' : 'n';
    ssize_t wr = write(go[1], &c, 1);
    (void)wr;
    close(go[1]);
    int ws = 0;
    while (waitpid(h, &ws, 0) < 0 && errno == EINTR) {
    }
    if (rc != 0) {
        errno = e;
        return -1;
    }
    if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
        errno = EPERM;
        return -2;
    }
    return 0;
}

/* S's namespaces and file system; returns ISO_* bits, the first failure in *fail. */
static int isolate(const ChildPlan *p, ChildPlan *q, int32_t *fail) {
    const int ns = CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC;
    int iso = 0;
    if (p->is_root) {
        setgroups(0, NULL);
        if (unshare(ns) == 0) {
            iso = ISO_NET | ISO_PID | ISO_MNT;
        } else {
            *fail = FAIL_CODE(FAIL_UNSHARE, errno);
            int r = userns_as_root(p, ns);
            if (r == 0) iso = ISO_NET | ISO_PID | ISO_MNT | ISO_USERNS;
            if (r == -2) {
                rec_write(3, REC_SETUP, STEP_USERNS_MAP, errno);
                _exit(126);
            }
        }
    } else if (unshare(CLONE_NEWUSER | ns) == 0) {
        /* A caller that changed its uid is not dumpable, and then /proc/self/ belongs to
         * root: the maps could not be written. Dumpable only while writing them. */
        int dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
        if (dumpable != 1) prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
        int bad = write_file("/proc/self/setgroups", "deny") != 0 || write_file("/proc/self/uid_map", p->uid_map) != 0 ||
                  write_file("/proc/self/gid_map", p->gid_map) != 0;
        int e = errno;
        if (dumpable == 0) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        if (bad) {
            rec_write(3, REC_SETUP, STEP_USERNS_MAP, e);
            _exit(126);
        }
        iso = ISO_NET | ISO_PID | ISO_MNT | ISO_USERNS;
        q->is_root = 0; /* only the caller's own uid is mapped: no uid drop there */
    } else {
        *fail = FAIL_CODE(FAIL_USERNS, errno);
    }
    if (iso & ISO_MNT) {
        if (make_fs_private(p) == 0) iso |= ISO_FS;
        else *fail = FAIL_CODE(FAIL_MOUNT, errno);
    }
    return iso;
}

/* Landlock for Q (best_effort without namespaces): writes only beneath the private
 * directory (no removal or rename there, so the watchdog sees every byte), no TCP connect
 * or bind, no signals or abstract sockets outside. Returns the ISO_LL_* bits in force. */
static int apply_landlock(const ChildPlan *p, int *err) {
    *err = 0;
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, 1u /* LANDLOCK_CREATE_RULESET_VERSION */);
    if (abi < 1) {
        *err = errno;
        return 0;
    }
    struct af_ll_ruleset_attr attr = {0, 0, 0};
    uint64_t dir_rights = 0;
    int got = 0;
    if (p->landlock_fs) {
        attr.handled_access_fs = LL_FS_WRITE_FILE | LL_FS_REMOVE_DIR | LL_FS_REMOVE_FILE | LL_FS_MAKE_CHAR |
                                 LL_FS_MAKE_DIR | LL_FS_MAKE_REG | LL_FS_MAKE_SOCK | LL_FS_MAKE_FIFO |
                                 LL_FS_MAKE_BLOCK | LL_FS_MAKE_SYM;
        dir_rights = LL_FS_WRITE_FILE | LL_FS_MAKE_DIR | LL_FS_MAKE_REG;
        if (abi >= 2) attr.handled_access_fs |= LL_FS_REFER;
        if (abi >= 3) {
            attr.handled_access_fs |= LL_FS_TRUNCATE;
            dir_rights |= LL_FS_TRUNCATE;
        }
        got |= ISO_LL_FS;
    }
    if (p->landlock_net && abi >= 4) {
        attr.handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
        if (abi >= 6) attr.scoped = LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL;
        got |= ISO_LL_NET;
    }
    if (!got) return 0;
    int rfd = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0u);
    if (rfd < 0) {
        *err = errno;
        return 0;
    }
    if (dir_rights) {
        int dfd = open(".", O_PATH | O_CLOEXEC); /* Q's cwd is the private directory */
        struct af_ll_path_beneath_attr pb = {dir_rights, dfd};
        if (dfd < 0 || syscall(SYS_landlock_add_rule, rfd, 1 /* LANDLOCK_RULE_PATH_BENEATH */, &pb, 0u) != 0) {
            *err = errno;
            if (dfd >= 0) close(dfd);
            close(rfd);
            return 0;
        }
        close(dfd);
    }
    if (syscall(SYS_landlock_restrict_self, rfd, 0u) != 0) {
        *err = errno;
        close(rfd);
        return 0;
    }
    close(rfd);
    return got;
}

/* A seccomp filter for Q: no memfd_create (memory files outside every size bound but
 * RLIMIT_FSIZE) and no io_uring (it would open files past this filter). Without a private
 * tmpfs (Landlock mode) also no O_TMPFILE and no openat2, whose unnamed files the watchdog
 * could not see; without a network namespace no sockets but AF_UNIX (Landlock covers TCP
 * only: this stops UDP and raw sockets). System calls of another ABI (i386, x32) fail.
 * Returns 0, or -1 with errno (no filter on this architecture: ENOSYS). */
typedef struct {
    struct sock_filter f[40];
    unsigned short n;
} Bpf;

static void bpf_add(Bpf *b, unsigned short code, unsigned k, unsigned char jt, unsigned char jf) {
    if (b->n < sizeof b->f / sizeof b->f[0]) b->f[b->n++] = (struct sock_filter){code, jt, jf, k};
}

/* If the system call number (loaded) is nr: return `ret`; else go on. */
static void bpf_deny(Bpf *b, unsigned nr, unsigned ret) {
    bpf_add(b, BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1);
    bpf_add(b, BPF_RET | BPF_K, ret, 0, 0);
}

/* If the system call is nr and its argument arg has any of `bits`: return `ret`. */
static void bpf_deny_flags(Bpf *b, unsigned nr, int arg, unsigned bits, unsigned ret) {
    bpf_add(b, BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 4);
    bpf_add(b, BPF_LD | BPF_W | BPF_ABS, (unsigned)offsetof(struct seccomp_data, args[arg]), 0, 0);
    bpf_add(b, BPF_JMP | BPF_JSET | BPF_K, bits, 0, 1);
    bpf_add(b, BPF_RET | BPF_K, ret, 0, 0);
    bpf_add(b, BPF_LD | BPF_W | BPF_ABS, (unsigned)offsetof(struct seccomp_data, nr), 0, 0);
}

static int apply_seccomp(int no_tmpfile, int no_inet) {
#if defined(__x86_64__)
    const unsigned nosys = SECCOMP_RET_ERRNO | ENOSYS;
    const unsigned tmpfile_bits = (unsigned)(O_TMPFILE & ~O_DIRECTORY);
    Bpf b = {.n = 0};
    bpf_add(&b, BPF_LD | BPF_W | BPF_ABS, (unsigned)offsetof(struct seccomp_data, arch), 0, 0);
    bpf_add(&b, BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
    bpf_add(&b, BPF_RET | BPF_K, nosys, 0, 0);
    bpf_add(&b, BPF_LD | BPF_W | BPF_ABS, (unsigned)offsetof(struct seccomp_data, nr), 0, 0);
    bpf_add(&b, BPF_JMP | BPF_JGE | BPF_K, 0x40000000u /* x32 */, 0, 1);
    bpf_add(&b, BPF_RET | BPF_K, nosys, 0, 0);
    bpf_deny(&b, SYS_memfd_create, nosys);
    bpf_deny(&b, SYS_io_uring_setup, nosys);
    if (no_tmpfile) {
        bpf_deny(&b, SYS_openat2, nosys);
        bpf_deny_flags(&b, SYS_open, 1, tmpfile_bits, SECCOMP_RET_ERRNO | EOPNOTSUPP);
        bpf_deny_flags(&b, SYS_openat, 2, tmpfile_bits, SECCOMP_RET_ERRNO | EOPNOTSUPP);
    }
    if (no_inet) { /* socket(domain != AF_UNIX) */
        bpf_add(&b, BPF_JMP | BPF_JEQ | BPF_K, SYS_socket, 0, 4);
        bpf_add(&b, BPF_LD | BPF_W | BPF_ABS, (unsigned)offsetof(struct seccomp_data, args[0]), 0, 0);
        bpf_add(&b, BPF_JMP | BPF_JEQ | BPF_K, AF_UNIX, 0, 1);
        bpf_add(&b, BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0);
        bpf_add(&b, BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EAFNOSUPPORT, 0, 0);
    }
    bpf_add(&b, BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0);
    if (b.n >= sizeof b.f / sizeof b.f[0]) { /* a bug: the table above outgrew f */
        errno = E2BIG;
        return -1;
    }
    struct sock_fprog prog = {b.n, b.f};
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0 ? 0 : -1;
#else
    (void)no_tmpfile;
    (void)no_inet;
    errno = ENOSYS;
    return -1;
#endif
}

static _Noreturn void run_code(const ChildPlan *p) { /* Q */
    int st = p->status_w;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (chdir(p->dir) != 0) goto setup_fail_chdir;
    if (setrlimit(RLIMIT_CPU, &p->cpu) || setrlimit(RLIMIT_AS, &p->as) || setrlimit(RLIMIT_NPROC, &p->nproc) ||
        setrlimit(RLIMIT_FSIZE, &p->fsize) || setrlimit(RLIMIT_NOFILE, &p->nofile)) {
        rec_write(st, REC_SETUP, STEP_RLIMIT, errno);
        _exit(126);
    }
    struct rlimit zero = {0, 0};
    setrlimit(RLIMIT_CORE, &zero);
    if (p->is_root) {
        if (setresgid(p->gid, p->gid, p->gid) != 0) {
            rec_write(st, REC_SETUP, STEP_SETGID, errno);
            _exit(126);
        }
        if (setresuid(p->uid, p->uid, p->uid) != 0) {
            rec_write(st, REC_SETUP, STEP_SETUID, errno);
            _exit(126);
        }
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        rec_write(st, REC_SETUP, STEP_PRCTL, errno);
        _exit(126);
    }
    if (p->landlock_fs || p->landlock_net) {
        int err = 0, got = apply_landlock(p, &err);
        rec_write(st, REC_LANDLOCK, got, err);
    }
    if (p->mode != AF_PY_ISOLATION_NONE)
        rec_write(st, REC_SECCOMP, apply_seccomp(p->landlock_fs, p->landlock_net) == 0, errno);
    char *const envp[] = {NULL};
    execve(p->python, p->argv, envp);
    rec_write(st, REC_EXEC, 0, errno);
    _exit(127);
setup_fail_chdir:
    rec_write(st, REC_SETUP, STEP_CHDIR, errno);
    _exit(126);
}

static _Noreturn void run_init(const ChildPlan *p, int pid_ns) { /* I */
    setpgid(0, 0); /* group of I and the code; S stays outside it (S also sets it, first wins) */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (pid_ns) mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL); /* best effort */
    pid_t q = fork();
    if (q < 0) {
        rec_write(p->status_w, REC_SETUP, STEP_FORK_CODE, errno);
        _exit(126);
    }
    if (q == 0) run_code(p);
    /* Hold no end of the output pipe: its EOF must mean the code's processes are gone. */
    close(0);
    close(1);
    close(2);
    for (;;) {
        int ws;
        struct rusage ru;
        pid_t w = wait4(-1, &ws, 0, &ru);
        if (w == q) {
            long ms = (long)ru.ru_utime.tv_sec * 1000 + ru.ru_utime.tv_usec / 1000 + (long)ru.ru_stime.tv_sec * 1000 +
                      ru.ru_stime.tv_usec / 1000;
            rec_write(p->status_w, REC_WAIT, ws, (int32_t)(ms > INT32_MAX ? INT32_MAX : ms));
            _exit(0);
        }
        if (w < 0 && errno != EINTR) _exit(0);
    }
}

/* /proc/<pid>/stat -> parent pid and state; -1 if the process is gone. */
static int read_stat(pid_t pid, pid_t *ppid, char *state) {
    char path[64], buf[512];
    proc_path(path, sizeof path, pid, "stat");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = '\0';
    char *rp = NULL; /* the command name may hold ')' and spaces: the last ')' ends it */
    for (char *c = buf; *c; c++)
        if (*c == ')') rp = c;
    if (!rp || rp[1] != ' ' || !rp[2] || rp[3] != ' ') return -1;
    *state = rp[2];
    long v = 0;
    for (const char *c = rp + 4; *c >= '0' && *c <= '9'; c++) v = v * 10 + (*c - '0');
    *ppid = (pid_t)v;
    return 0;
}

struct af_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

/* Every process of /proc (up to max) with its parent and state; -1 without a /proc that
 * shows S itself. */
static int proc_scan(pid_t *pids, pid_t *ppids, char *states, int max) {
    pid_t pp;
    char st;
    if (read_stat(getpid(), &pp, &st) != 0) return -1;
    int fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    char buf[8192];
    int n = 0;
    for (;;) {
        long k = syscall(SYS_getdents64, fd, buf, sizeof buf);
        if (k <= 0) break;
        for (long off = 0; off < k;) {
            const struct af_dirent64 *d = (const struct af_dirent64 *)(buf + off);
            off += d->d_reclen;
            long v = 0;
            const char *c = d->d_name;
            for (; *c >= '0' && *c <= '9'; c++) v = v * 10 + (*c - '0');
            if (*c || c == d->d_name || n >= max) continue;
            if (read_stat((pid_t)v, &ppids[n], &states[n]) == 0) pids[n++] = (pid_t)v;
        }
    }
    close(fd);
    return n;
}

static int in_list(pid_t x, const pid_t *pids, const unsigned char *mark, int n) {
    for (int i = 0; i < n; i++)
        if (mark[i] && pids[i] == x) return 1;
    return 0;
}

/* Without /proc, as root: a helper under the code's throwaway uid sends SIGKILL to every
 * process of that uid (kill(-1) skips only itself), until none is left. */
static void kill_uid(const ChildPlan *q) {
    pid_t k = fork();
    if (k == 0) {
        if (setresgid(q->gid, q->gid, q->gid) != 0 || setresuid(q->uid, q->uid, q->uid) != 0) _exit(1);
        struct timespec ts = {0, 1000000L};
        for (int i = 0; i < 10000 && kill(-1, SIGKILL) == 0; i++) nanosleep(&ts, NULL);
        _exit(0);
    }
    while (k > 0 && waitpid(k, NULL, 0) < 0 && errno == EINTR) {
    }
}

/* S without a PID namespace: kill every descendant (orphans of the code were reparented to
 * S, the subreaper) and reap until S has no child. Each victim is re-checked through a
 * pidfd (its parent is still S or a marked process), so a recycled pid is never hit.
 * Without /proc (q->is_root: the code's uid is a throwaway one) kill_uid() instead.
 * Returns how many live descendants the first scan found (-1: no /proc). */
static int sweep(pid_t self, const ChildPlan *q) {
    pid_t pids[SWEEP_MAX], ppids[SWEEP_MAX];
    char states[SWEEP_MAX];
    unsigned char mark[SWEEP_MAX];
    int first = -1;
    for (int round = 0; round < 100000; round++) {
        while (waitpid(-1, NULL, WNOHANG) > 0) {
        }
        int n = proc_scan(pids, ppids, states, SWEEP_MAX), found = 0, live = 0;
        if (n < 0) {
            if (q->is_root) kill_uid(q);
            while (waitpid(-1, NULL, 0) > 0 || errno == EINTR) { /* until ECHILD */
            }
            return -1;
        }
        memset(mark, 0, (size_t)n);
        for (int changed = 1; changed;) {
            changed = 0;
            for (int i = 0; i < n; i++)
                if (!mark[i] && (ppids[i] == self || in_list(ppids[i], pids, mark, n))) mark[i] = 1, changed = 1;
        }
        for (int i = 0; i < n; i++) {
            if (!mark[i]) continue;
            found++;
            if (states[i] == 'Z' || states[i] == 'X') continue;
            live++;
            int pfd = (int)syscall(SYS_pidfd_open, pids[i], 0u);
            pid_t pp;
            char s;
            int ok = read_stat(pids[i], &pp, &s) == 0 && (pp == self || in_list(pp, pids, mark, n));
            if (pfd >= 0) {
                if (ok) syscall(SYS_pidfd_send_signal, pfd, SIGKILL, NULL, 0u);
                close(pfd);
            } else if (ok) {
                kill(pids[i], SIGKILL);
            }
        }
        if (first < 0) first = live;
        if (!found) {
            if (waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD) break;
        }
        struct timespec ts = {0, 1000000L};
        nanosleep(&ts, NULL);
    }
    return first < 0 ? 0 : first;
}

static _Noreturn void run_sandbox(const ChildPlan *p) { /* S */
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != p->caller) _exit(1);
    /* Descriptors: 0 = /dev/null, 1 = 2 = output pipe, 3 = status pipe (close-on-exec). */
    int o = fcntl(p->out_w, F_DUPFD, 10), s = fcntl(p->status_w, F_DUPFD, 10), n = fcntl(p->devnull, F_DUPFD, 10);
    if (o < 0 || s < 0 || n < 0 || dup2(n, 0) < 0 || dup2(o, 1) < 0 || dup2(o, 2) < 0 || dup3(s, 3, O_CLOEXEC) < 0)
        _exit(125);
    close_from(4);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    ChildPlan q = *p;
    q.status_w = 3;
    int32_t fail = 0;
    int iso = p->mode == AF_PY_ISOLATION_NONE ? 0 : isolate(p, &q, &fail);
    if (q.is_root) iso |= ISO_UID;
    rec_write(3, REC_ISO, iso, fail);
    if (p->mode == AF_PY_ISOLATION_REQUIRED && (iso & ISO_FULL) != ISO_FULL) {
        rec_write(3, REC_REFUSED, iso, fail);
        _exit(126);
    }
    if (p->probe) _exit(0);
    q.landlock_fs = p->mode == AF_PY_ISOLATION_BEST_EFFORT && !(iso & ISO_FS);
    q.landlock_net = p->mode == AF_PY_ISOLATION_BEST_EFFORT && !(iso & ISO_NET);
    pid_t i = fork();
    if (i < 0) {
        rec_write(3, REC_SETUP, STEP_FORK_INIT, errno);
        _exit(126);
    }
    if (i == 0) run_init(&q, (iso & ISO_PID) != 0);
    setpgid(i, i);
    rec_write(3, REC_INIT, (int32_t)i, 0);
    close(0);
    close(1);
    close(2);
    for (;;) { /* reap I, and meanwhile whatever the code orphaned and has ended */
        pid_t w = waitpid(-1, NULL, 0);
        if (w == i || (w < 0 && errno != EINTR)) break;
    }
    if (!(iso & ISO_PID)) {
        int swept = sweep(getpid(), &q);
        if (swept) rec_write(3, REC_SWEPT, swept, 0);
    }
    _exit(0);
}

/* ---------------------------------------------------------------- caller side */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static int chmod_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)ftw;
    if (flag == FTW_D || flag == FTW_DNR || (sb && S_ISDIR(sb->st_mode))) chmod(path, 0700);
    return 0;
}

static void remove_tree(const char *dir) {
    nftw(dir, chmod_entry, 16, FTW_PHYS);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The watchdog's measure of the private directory: bytes (the larger of size and
 * allocation, per regular file) and entries. A directory it cannot read is opened up
 * (chmod 0700, as remove_tree does) and counted as full until the next look. Every
 * directory gets an inotify watch (if ino_fd >= 0), so that writes wake the watchdog. */
static _Thread_local struct {
    uint64_t bytes;
    long entries;
    int unreadable, ino_fd;
} du_acc;

static int du_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    if (ftw->level > 0) du_acc.entries++;
    if (flag == FTW_D && du_acc.ino_fd >= 0)
        inotify_add_watch(du_acc.ino_fd, path, IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE);
    if (flag == FTW_DNR) {
        chmod(path, 0700);
        du_acc.unreadable = 1;
    }
    if (sb && flag == FTW_F && S_ISREG(sb->st_mode)) {
        uint64_t alloc = (uint64_t)sb->st_blocks * 512u, size = (uint64_t)sb->st_size;
        du_acc.bytes += alloc > size ? alloc : size;
    }
    return 0;
}

static void dir_usage(const char *dir, int ino_fd, uint64_t *bytes, long *entries, int *unreadable) {
    du_acc.ino_fd = ino_fd;
    du_acc.bytes = 0;
    du_acc.entries = 0;
    du_acc.unreadable = 0;
    nftw(dir, du_entry, 16, FTW_PHYS);
    *bytes = du_acc.bytes;
    *entries = du_acc.entries;
    *unreadable = du_acc.unreadable;
}

static const char *step_name(int step) {
    switch (step) {
    case STEP_FORK_INIT: return "fork of the namespace init";
    case STEP_FORK_CODE: return "fork of the code process";
    case STEP_CHDIR: return "chdir to the private directory";
    case STEP_RLIMIT: return "setrlimit";
    case STEP_SETGID: return "setresgid to the sandbox gid";
    case STEP_SETUID: return "setresuid to the sandbox uid";
    case STEP_USERNS_MAP: return "user namespace uid/gid map";
    case STEP_PRCTL: return "prctl(PR_SET_NO_NEW_PRIVS)";
    }
    return "unknown step";
}

static const char *fail_step_name(int32_t fail) {
    switch (fail >> 16) {
    case FAIL_UNSHARE: return "unshare of the network, mount, PID and IPC namespaces";
    case FAIL_USERNS: return "unshare of a user namespace with network, mount, PID and IPC namespaces";
    case FAIL_MOUNT: return "read-only remount or the private tmpfs";
    }
    return "namespaces";
}

/* Status records from S, I and Q, as they arrive. */
typedef struct {
    Rec rec;
    size_t got;
    int have_iso, iso, setup_step, setup_err, exec_err, refused, have_wait, qws, landlock, landlock_err, swept, seccomp;
    int32_t iso_fail;
    long cpu_ms;
    pid_t init_pid;
} Status;

static void read_status(int fd, Status *s, int *eof) {
    for (;;) {
        ssize_t k = read(fd, (char *)&s->rec + s->got, sizeof s->rec - s->got);
        if (k < 0 && errno == EINTR) continue;
        if (k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) *eof = 1;
        if (k <= 0) return;
        s->got += (size_t)k;
        if (s->got < sizeof s->rec) continue;
        s->got = 0;
        const Rec *r = &s->rec;
        switch (r->tag) {
        case REC_ISO: s->have_iso = 1; s->iso = r->value; s->iso_fail = r->extra; break;
        case REC_SETUP: s->setup_step = r->value; s->setup_err = r->extra; break;
        case REC_EXEC: s->exec_err = r->extra; break;
        case REC_REFUSED: s->refused = 1; break;
        case REC_WAIT: s->have_wait = 1; s->qws = r->value; s->cpu_ms = r->extra; break;
        case REC_INIT: s->init_pid = (pid_t)r->value; break;
        case REC_LANDLOCK: s->landlock = r->value; s->landlock_err = r->extra; break;
        case REC_SWEPT: s->swept = r->value; break;
        case REC_SECCOMP: s->seccomp = r->value; break;
        default: break;
        }
    }
}

/* Wall-clock limit or watchdog: kill I's group (with a PID namespace, I's death empties it;
 * without one S, the subreaper, kills what escaped the group), then reap S; S itself is
 * killed if it lingers. */
static void reap_sandbox(pid_t s_pid, int pidfd, Status *sr, int st_fd, int *st_eof, int *ws) {
    if (!*st_eof) read_status(st_fd, sr, st_eof);
    if (sr->init_pid > 0) {
        kill(-sr->init_pid, SIGKILL);
        kill(sr->init_pid, SIGKILL);
        double end = mono_s() + 5.0;
        for (;;) {
            siginfo_t si;
            memset(&si, 0, sizeof si);
            if (waitid(P_PID, (id_t)s_pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == s_pid) break;
            double left = end - mono_s();
            if (left <= 0) break;
            if (pidfd >= 0) {
                struct pollfd pf = {pidfd, POLLIN, 0};
                poll(&pf, 1, (int)(left * 1000) + 1);
            } else {
                struct timespec ts = {0, 5000000L};
                nanosleep(&ts, NULL);
            }
        }
    }
    kill(-s_pid, SIGKILL); /* S's own group (only S, or everything if I never got its own) */
    kill(s_pid, SIGKILL);
    while (waitpid(s_pid, ws, 0) < 0 && errno == EINTR) {
    }
}

/* Output accumulator: keeps the first cap bytes, counts all. */
typedef struct {
    char *buf;
    size_t len, cap, total;
} Out;

static void drain(int fd, Out *o, int *eof) {
    char chunk[16384];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n > 0) {
            size_t keep = o->len < o->cap ? o->cap - o->len : 0;
            if (keep > (size_t)n) keep = (size_t)n;
            memcpy(o->buf + o->len, chunk, keep);
            o->len += keep;
            o->total += (size_t)n;
            continue;
        }
        if (n == 0) *eof = 1;
        else if (errno == EINTR) continue;
        else if (errno != EAGAIN && errno != EWOULDBLOCK) *eof = 1;
        return;
    }
}

static int finish(PyTool *t, AfToolResult *out, AfToolStatus st, const Out *o, const char *trailer) {
    AfPythonRunInfo *ri = &t->last;
    ri->output_total = o->total;
    ri->truncated = o->total > o->len;
    char tr[160] = "";
    if (ri->truncated) snprintf(tr, sizeof tr, "\n[output truncated: %zu more bytes]", o->total - o->len);
    for (size_t i = 0; i < o->len; i++)
        if (o->buf[i] == '\0') o->buf[i] = '?';
    const char *sep = trailer[0] && o->len > 0 && o->buf[o->len - 1] != '\n' && !ri->truncated ? "\n" : "";
    return af_tool_result_set(out, st, "%.*s%s%s%s", (int)o->len, o->len ? o->buf : "", tr, sep, trailer);
}

/* Fill ri->note with what the sandbox lacked (or "" if fully isolated). */
static void describe_isolation(PyTool *t, const Status *sr, AfPythonRunInfo *ri) {
    ri->note[0] = '\0';
    if ((sr->iso & ISO_FULL) == ISO_FULL) return;
    char why[128] = "";
    if (t->isolation == AF_PY_ISOLATION_NONE) snprintf(why, sizeof why, "tools.python.isolation=none");
    else if (sr->iso_fail)
        snprintf(why, sizeof why, "%s: %s", fail_step_name(sr->iso_fail), strerror(sr->iso_fail & 0xffff));
    else snprintf(why, sizeof why, "namespaces unavailable");
    char ll[96] = "";
    if (sr->landlock) snprintf(ll, sizeof ll, "; Landlock:%s%s", sr->landlock & ISO_LL_FS ? " writes" : "",
                               sr->landlock & ISO_LL_NET ? " tcp" : "");
    else if (t->isolation == AF_PY_ISOLATION_BEST_EFFORT && sr->landlock_err)
        snprintf(ll, sizeof ll, "; Landlock unavailable: %s", strerror(sr->landlock_err));
    char note[512];
    snprintf(note, sizeof note, "sandbox without%s%s%s%s%s (%s)%s", ri->net_isolated ? "" : " network namespace",
             !ri->net_isolated && !(ri->pid_isolated && ri->fs_readonly) ? "," : "",
             ri->pid_isolated ? "" : " PID namespace", !ri->pid_isolated && !ri->fs_readonly ? "," : "",
             ri->fs_readonly ? "" : " read-only file system and private tmpfs", why, ll);
    size_t n = strlen(note) < sizeof ri->note ? strlen(note) : sizeof ri->note - 1; /* cut to fit */
    memcpy(ri->note, note, n);
    ri->note[n] = '\0';
}

/* RLIMIT_CPU: whole seconds, at least 1. */
static rlim_t cpu_limit_s(const PyTool *t) {
    rlim_t cpu = (rlim_t)(t->cpu_s + 0.999);
    return cpu < 1 ? 1 : cpu;
}

/* Set up the plan's pipes and directory and fork S; shared by a call and the probe. */
typedef struct {
    int out_p[2], st_p[2], devnull, pidfd, have_dir;
    pid_t pid;
    unsigned uid;
    char uid_map[64], gid_map[64], root_uid_map[64], root_gid_map[64], tmpfs_opts[160];
} Launch;

static void launch_close(Launch *l, const char *dir) {
    if (l->pidfd >= 0) close(l->pidfd);
    for (int i = 0; i < 2; i++) {
        if (l->out_p[i] >= 0) close(l->out_p[i]);
        if (l->st_p[i] >= 0) close(l->st_p[i]);
    }
    if (l->devnull >= 0) close(l->devnull);
    if (l->have_dir) remove_tree(dir);
}

/* Returns NULL on success (S forked, l->pid set), or a message for AF_TOOL_INFRA_ERROR. */
static const char *launch(PyTool *t, char *dir, size_t dir_cap, const char *code, int probe, Launch *l,
                          char *msg, size_t msg_cap) {
    memset(l, 0, sizeof *l);
    l->out_p[0] = l->out_p[1] = l->st_p[0] = l->st_p[1] = l->devnull = l->pidfd = -1;
    l->pid = -1;
    int is_root = geteuid() == 0;
    l->uid = is_root ? t->uid_base + (((unsigned)getpid() * 2654435761u + t->counter++) % UID_SPAN) : getuid();
    gid_t gid = is_root ? (gid_t)l->uid : getgid();
    int n = snprintf(dir, dir_cap, "%s/af_py_XXXXXX", t->tmp_root);
    if (n < 0 || (size_t)n >= dir_cap || !mkdtemp(dir)) {
        snprintf(msg, msg_cap, "python: cannot create a private directory under %s: %s", t->tmp_root, strerror(errno));
        return msg;
    }
    l->have_dir = 1;
    if (is_root && chown(dir, l->uid, gid) != 0) {
        snprintf(msg, msg_cap, "python: chown of the private directory: %s", strerror(errno));
        return msg;
    }
    if (pipe2(l->out_p, O_CLOEXEC) != 0 || pipe2(l->st_p, O_CLOEXEC) != 0 ||
        (l->devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0) {
        snprintf(msg, msg_cap, "python: pipe or /dev/null: %s", strerror(errno));
        return msg;
    }
    snprintf(l->uid_map, sizeof l->uid_map, "%u %u 1\n", (unsigned)getuid(), (unsigned)getuid());
    snprintf(l->gid_map, sizeof l->gid_map, "%u %u 1\n", (unsigned)getgid(), (unsigned)getgid());
    snprintf(l->root_uid_map, sizeof l->root_uid_map, "0 0 1\n%u %u 1\n", l->uid, l->uid);
    snprintf(l->root_gid_map, sizeof l->root_gid_map, "0 0 1\n%u %u 1\n", (unsigned)gid, (unsigned)gid);
    snprintf(l->tmpfs_opts, sizeof l->tmpfs_opts, "size=%dm,nr_inodes=%d,mode=0700,uid=%u,gid=%u", t->disk_mb,
             t->max_inodes, l->uid, (unsigned)gid);
    char *argv[] = {t->python, "-I", "-B", "-u", "-c", (char *)code, NULL};
    ChildPlan plan = {
        .out_w = l->out_p[1], .status_w = l->st_p[1], .devnull = l->devnull, .caller = getpid(),
        .dir = dir, .python = t->python, .argv = argv, .is_root = is_root, .probe = probe,
        .mode = t->isolation, .uid = l->uid, .gid = gid, .uid_map = l->uid_map, .gid_map = l->gid_map,
        .root_uid_map = l->root_uid_map, .root_gid_map = l->root_gid_map, .tmpfs_opts = l->tmpfs_opts,
    };
    rlim_t cpu = cpu_limit_s(t);
    plan.cpu = (struct rlimit){cpu, cpu + 1};
    plan.as = (struct rlimit){(rlim_t)t->mem_mb << 20, (rlim_t)t->mem_mb << 20};
    plan.nproc = (struct rlimit){(rlim_t)t->max_procs, (rlim_t)t->max_procs};
    plan.fsize = (struct rlimit){(rlim_t)t->disk_mb << 20, (rlim_t)t->disk_mb << 20};
    plan.nofile = (struct rlimit){(rlim_t)t->max_files, (rlim_t)t->max_files};
    l->pid = fork();
    if (l->pid < 0) {
        snprintf(msg, msg_cap, "python: fork: %s", strerror(errno));
        return msg;
    }
    if (l->pid == 0) run_sandbox(&plan);
    setpgid(l->pid, l->pid); /* also done by the child; whichever runs first */
    close(l->out_p[1]);
    close(l->st_p[1]);
    l->out_p[1] = l->st_p[1] = -1;
    fcntl(l->out_p[0], F_SETFL, O_NONBLOCK);
    fcntl(l->st_p[0], F_SETFL, O_NONBLOCK);
    l->pidfd = (int)syscall(SYS_pidfd_open, l->pid, 0u);
    return NULL;
}

/* Whether this host gives the sandbox its full isolation: S alone, up to REC_ISO. */
static int probe_isolation(PyTool *t, Status *sr, char *msg, size_t msg_cap) {
    char dir[256];
    Launch l;
    memset(sr, 0, sizeof *sr);
    const char *err = launch(t, dir, sizeof dir, "", 1, &l, msg, msg_cap);
    if (!err) {
        int ws, eof = 0;
        while (waitpid(l.pid, &ws, 0) < 0 && errno == EINTR) {
        }
        while (!eof) {
            struct pollfd pf = {l.st_p[0], POLLIN, 0};
            if (poll(&pf, 1, 1000) <= 0) break;
            read_status(l.st_p[0], sr, &eof);
        }
        if (sr->setup_step)
            snprintf(msg, msg_cap, "sandbox set-up failed at %s: %s", step_name(sr->setup_step), strerror(sr->setup_err));
        else if (!sr->have_iso)
            snprintf(msg, msg_cap, "the isolation probe ended without reporting (status %d)", ws);
    }
    launch_close(&l, dir);
    return err || !sr->have_iso || sr->setup_step ? -1 : 0;
}

static int py_call(AfTool *self, const char *arg, double timeout_s, AfToolResult *out) {
    PyTool *t = self->ctx;
    AfPythonRunInfo *ri = &t->last;
    memset(ri, 0, sizeof *ri);
    ri->exit_code = -1;
    if (!arg) return af_tool_result_set(out, AF_TOOL_BAD_ACTION, "python: no code given");
    size_t code_len = strlen(arg);
    if (code_len > t->max_code_bytes)
        return af_tool_result_set(out, AF_TOOL_ERROR, "python: code is %zu bytes, more than the limit of %zu", code_len,
                                  t->max_code_bytes);
    double wall = t->wall_s;
    if (timeout_s > 0 && timeout_s < wall) wall = timeout_s;

    int rc = 0;
    Out o = {NULL, 0, t->output_bytes, 0};
    double t0 = mono_s();
    Launch l;
    char msg[400];
    int ino_fd = -1; /* the watchdog's inotify instance */
    o.buf = malloc(t->output_bytes + 1);
    if (!o.buf) return af_error_set(AF_ENOMEM, "python tool: output buffer of %zu bytes", t->output_bytes);
    const char *lerr = launch(t, ri->dir, sizeof ri->dir, arg, 0, &l, msg, sizeof msg);
    if (lerr) {
        rc = af_tool_result_set(out, AF_TOOL_INFRA_ERROR, "%s", lerr);
        goto done;
    }
    pid_t pid = l.pid;
    int pidfd = l.pidfd;
    int *out_p = l.out_p, *st_p = l.st_p;

    Status sr;
    memset(&sr, 0, sizeof sr);
    sr.exec_err = -1;
    double deadline = t0 + wall, grace_end = 0, next_watch = t0, last_watch = t0;
    const uint64_t disk_limit = (uint64_t)t->disk_mb << 20;
    int exited = 0, eof = 0, st_eof = 0, ws = 0;
    while (!eof || !exited) {
        double now = mono_s();
        int watch = !exited && sr.have_iso && !(sr.iso & ISO_FS) && !sr.refused;
        if (watch && now >= next_watch) {
            uint64_t bytes;
            long entries;
            int unreadable;
            if (ino_fd < 0) ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC); /* -1: the period alone */
            dir_usage(ri->dir, ino_fd, &bytes, &entries, &unreadable);
            last_watch = mono_s();
            next_watch = last_watch + WATCH_INTERVAL_S;
            if (bytes > disk_limit || entries > t->max_inodes || unreadable) {
                ri->disk_exceeded = 1;
                reap_sandbox(pid, pidfd, &sr, st_p[0], &st_eof, &ws);
                exited = 1;
                grace_end = mono_s() + 0.2;
                continue;
            }
        }
        if (!exited && now >= deadline) {
            ri->wall_timeout = 1;
            reap_sandbox(pid, pidfd, &sr, st_p[0], &st_eof, &ws);
            exited = 1;
            grace_end = mono_s() + 0.2;
            continue;
        }
        if (exited && !eof && now >= grace_end) break;
        double until = exited ? grace_end : deadline;
        if (watch && next_watch < until) until = next_watch;
        int ms = (int)((until - now) * 1000.0) + 1;
        if (!exited && pidfd < 0 && ms > 10) ms = 10;
        if (!exited && !sr.have_iso && ms > 10) ms = 10; /* the watchdog starts once S has reported */
        struct pollfd fds[4];
        nfds_t nf = 0;
        if (!eof) fds[nf++] = (struct pollfd){out_p[0], POLLIN, 0};
        if (!st_eof) fds[nf++] = (struct pollfd){st_p[0], POLLIN, 0};
        if (!exited && pidfd >= 0) fds[nf++] = (struct pollfd){pidfd, POLLIN, 0};
        if (watch && ino_fd >= 0) fds[nf++] = (struct pollfd){ino_fd, POLLIN, 0};
        if (nf > 0) {
            poll(fds, nf, ms);
        } else {
            struct timespec ts = {0, (long)(ms > 10 ? 10 : ms) * 1000000L};
            nanosleep(&ts, NULL);
        }
        if (!eof) drain(out_p[0], &o, &eof);
        if (!st_eof) read_status(st_p[0], &sr, &st_eof);
        if (watch && ino_fd >= 0) { /* a write in the directory: look again soon */
            char ev[4096];
            int any = 0;
            while (read(ino_fd, ev, sizeof ev) > 0) any = 1;
            if (any && last_watch + WATCH_MIN_S < next_watch) next_watch = last_watch + WATCH_MIN_S;
        }
        if (!exited) {
            siginfo_t si;
            memset(&si, 0, sizeof si);
            if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid) {
                /* S has ended after I and after its sweep. Should S have been killed early,
                 * kill I's group too while S, a zombie, is unreaped. */
                if (sr.init_pid > 0 && !(sr.iso & ISO_PID)) kill(-sr.init_pid, SIGKILL);
                while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
                }
                exited = 1;
                grace_end = mono_s() + 0.5;
            }
        }
    }
    ri->wall_s = mono_s() - t0;
    /* Every writer of the status pipe is gone: read what is left. */
    while (!st_eof) {
        struct pollfd pf = {st_p[0], POLLIN, 0};
        if (poll(&pf, 1, 1000) <= 0) break;
        read_status(st_p[0], &sr, &st_eof);
    }
    if (!ri->disk_exceeded && sr.have_iso && !(sr.iso & ISO_FS)) { /* a last look: writes of the final interval */
        uint64_t bytes;
        long entries;
        int unreadable;
        dir_usage(ri->dir, -1, &bytes, &entries, &unreadable);
        if (bytes > disk_limit || entries > t->max_inodes) ri->disk_exceeded = 1;
    }
    int iso = sr.iso, setup_step = sr.setup_step, setup_err = sr.setup_err;
    int exec_err = sr.exec_err, have_wait = sr.have_wait, qws = sr.qws;
    long cpu_ms = sr.cpu_ms;
    ri->net_isolated = (iso & ISO_NET) != 0;
    ri->pid_isolated = (iso & ISO_PID) != 0;
    ri->fs_readonly = (iso & ISO_FS) != 0;
    ri->uid_dropped = (iso & ISO_UID) != 0;
    ri->landlock_fs = (sr.landlock & ISO_LL_FS) != 0;
    ri->landlock_net = (sr.landlock & ISO_LL_NET) != 0;
    ri->refused = sr.refused;
    ri->swept = sr.swept;
    ri->seccomp = sr.seccomp;
    ri->uid = ri->uid_dropped ? l.uid : (unsigned)getuid();
    ri->cpu_s = (double)cpu_ms / 1000.0;
    describe_isolation(t, &sr, ri);
    if (ri->note[0] && !sr.refused && !t->warned) {
        t->warned = 1;
        AF_LOG_W("python tool (tools.python.isolation=%s): %s", af_python_isolation_name(t->isolation), ri->note);
    }
    if (sr.refused) {
        snprintf(msg, sizeof msg, "[python: refused to run: tools.python.isolation=required and %s]", ri->note);
        rc = finish(t, out, AF_TOOL_INFRA_ERROR, &o, msg);
        goto done;
    }
    if (setup_step || exec_err >= 0) {
        if (exec_err >= 0) snprintf(msg, sizeof msg, "[python: cannot execute %s: %s]", t->python, strerror(exec_err));
        else snprintf(msg, sizeof msg, "[python: sandbox set-up failed at %s: %s]", step_name(setup_step), strerror(setup_err));
        rc = finish(t, out, AF_TOOL_INFRA_ERROR, &o, msg);
        goto done;
    }
    char trailer[200];
    if (ri->disk_exceeded) {
        snprintf(trailer, sizeof trailer, "[python: more than %d MiB or %d entries in its directory; killed]",
                 t->disk_mb, t->max_inodes);
        rc = finish(t, out, AF_TOOL_ERROR, &o, trailer);
        goto done;
    }
    if (ri->wall_timeout) {
        snprintf(trailer, sizeof trailer, "[python: wall-clock limit of %g s exceeded; killed]", wall);
        rc = finish(t, out, AF_TOOL_TIMEOUT, &o, trailer);
        goto done;
    }
    if (!have_wait) {
        snprintf(trailer, sizeof trailer, "[python: the sandbox ended without reporting (status %d)]", ws);
        rc = finish(t, out, AF_TOOL_INFRA_ERROR, &o, trailer);
        goto done;
    }
    if (WIFSIGNALED(qws)) {
        int sig = WTERMSIG(qws);
        ri->term_signal = sig;
        long limit_ms = (long)cpu_limit_s(t) * 1000;
        if (sig == SIGXCPU || (sig == SIGKILL && cpu_ms >= limit_ms - 50)) {
            ri->cpu_timeout = 1;
            snprintf(trailer, sizeof trailer, "[python: CPU time limit of %ld s exceeded; killed]", limit_ms / 1000);
            rc = finish(t, out, AF_TOOL_TIMEOUT, &o, trailer);
        } else {
            snprintf(trailer, sizeof trailer, "[python: killed by signal %d (%s)]", sig, strsignal(sig));
            rc = finish(t, out, AF_TOOL_ERROR, &o, trailer);
        }
        goto done;
    }
    ri->exit_code = WEXITSTATUS(qws);
    if (ri->exit_code == 0) {
        rc = finish(t, out, AF_TOOL_OK, &o, "");
    } else {
        snprintf(trailer, sizeof trailer, "[exit status %d]", ri->exit_code);
        rc = finish(t, out, AF_TOOL_ERROR, &o, trailer);
    }
done:
    if (ino_fd >= 0) close(ino_fd);
    launch_close(&l, ri->dir);
    free(o.buf);
    if (ri->wall_s == 0) ri->wall_s = mono_s() - t0;
    return rc;
}

void af_python_tool_destroy(AfTool *tool) {
    if (!tool) return;
    PyTool *t = tool->ctx;
    free(t->name);
    free(t->description);
    free(t->python);
    free(t->tmp_root);
    free(t);
}

void af_python_tool_last_run(const AfTool *tool, AfPythonRunInfo *out) {
    const PyTool *t = tool->ctx;
    *out = t->last;
}

int af_python_tool_create(const AfPythonToolConfig *cfg, AfTool **out) {
    if (!cfg || !out) return af_error_set(AF_EINVAL, "python tool: NULL config or out");
    *out = NULL;
    if (!(cfg->cpu_s > 0 && cfg->cpu_s <= 3600))
        return af_error_set(AF_ECONFIG, "config: tools.python.cpu_s: expected (0, 3600], got %g", cfg->cpu_s);
    if (!(cfg->wall_s > 0 && cfg->wall_s <= 3600))
        return af_error_set(AF_ECONFIG, "config: tools.python.wall_s: expected (0, 3600], got %g", cfg->wall_s);
    if (cfg->mem_mb < 32 || cfg->mem_mb > 1 << 20)
        return af_error_set(AF_ECONFIG, "config: tools.python.mem_mb: expected [32, 1048576], got %d", cfg->mem_mb);
    if (cfg->output_bytes < 1 || cfg->output_bytes > (size_t)1 << 30)
        return af_error_set(AF_ECONFIG, "config: tools.python.output_bytes: expected [1, 2^30], got %zu", cfg->output_bytes);
    if (cfg->max_procs < 1 || cfg->max_procs > 4096)
        return af_error_set(AF_ECONFIG, "config: tools.python.max_procs: expected [1, 4096], got %d", cfg->max_procs);
    if (cfg->max_files < 8 || cfg->max_files > 65536)
        return af_error_set(AF_ECONFIG, "config: tools.python.max_files: expected [8, 65536], got %d", cfg->max_files);
    if (cfg->disk_mb < 1 || cfg->disk_mb > 1 << 20)
        return af_error_set(AF_ECONFIG, "config: tools.python.disk_mb: expected [1, 1048576], got %d", cfg->disk_mb);
    if (cfg->max_inodes < 1 || cfg->max_inodes > 1 << 20)
        return af_error_set(AF_ECONFIG, "config: tools.python.max_inodes: expected [1, 1048576], got %d", cfg->max_inodes);
    if ((unsigned)cfg->isolation > AF_PY_ISOLATION_NONE)
        return af_error_set(AF_ECONFIG, "config: tools.python.isolation: unknown mode %d", (int)cfg->isolation);
    if (cfg->max_code_bytes < 1 || cfg->max_code_bytes > MAX_CODE_HARD)
        return af_error_set(AF_ECONFIG, "config: tools.python.max_code_bytes: expected [1, %u], got %zu", MAX_CODE_HARD,
                            cfg->max_code_bytes);
    const char *python = cfg->python;
    if (memchr(python, '\0', sizeof cfg->python) == NULL || python[0] != '/' || access(python, X_OK) != 0)
        return af_error_set(AF_ECONFIG, "config: tools.python.interpreter: \"%.*s\" is not an executable absolute path",
                            (int)strnlen(python, sizeof cfg->python), python);
    const char *tmp_root = cfg->tmp_root ? cfg->tmp_root : "/tmp";
    if (strlen(tmp_root) > 200) return af_error_set(AF_ECONFIG, "config: tools.python.tmp_root: path too long");
    if (geteuid() == 0 && (cfg->uid_base == 0 || cfg->uid_base > 0xFFFFFFFEu - UID_SPAN))
        return af_error_set(AF_ECONFIG, "config: tools.python.uid_base: expected [1, 2^32 - 2 - %u], got %u", UID_SPAN,
                            cfg->uid_base);
    PyTool *t = calloc(1, sizeof *t);
    if (!t) return af_error_set(AF_ENOMEM, "python tool");
    t->tool.ctx = t;
    t->tool.call = py_call;
    t->tool.destroy = af_python_tool_destroy;
    t->name = strdup(cfg->name ? cfg->name : "python");
    t->description = strdup(cfg->description ? cfg->description
                                             : "run Python 3 code (print what you need; no network, no files outside "
                                               "its directory)");
    t->python = strdup(python);
    t->tmp_root = strdup(tmp_root);
    if (!t->name || !t->description || !t->python || !t->tmp_root) {
        af_python_tool_destroy(&t->tool);
        return af_error_set(AF_ENOMEM, "python tool");
    }
    t->cpu_s = cfg->cpu_s;
    t->wall_s = cfg->wall_s;
    t->mem_mb = cfg->mem_mb;
    t->max_procs = cfg->max_procs;
    t->max_files = cfg->max_files;
    t->disk_mb = cfg->disk_mb;
    t->max_inodes = cfg->max_inodes;
    t->isolation = cfg->isolation;
    t->output_bytes = cfg->output_bytes;
    t->max_code_bytes = cfg->max_code_bytes;
    t->uid_base = cfg->uid_base;
    t->tool.name = t->name;
    t->tool.description = t->description;
    if (t->isolation == AF_PY_ISOLATION_REQUIRED) { /* fail closed now, not at the first call */
        Status sr;
        char msg[300] = "";
        if (probe_isolation(t, &sr, msg, sizeof msg) != 0) {
            af_python_tool_destroy(&t->tool);
            return af_error_set(AF_ECONFIG, "config: tools.python.isolation=required: cannot check the sandbox: %s", msg);
        }
        if ((sr.iso & ISO_FULL) != ISO_FULL) {
            AfPythonRunInfo ri;
            memset(&ri, 0, sizeof ri);
            ri.net_isolated = (sr.iso & ISO_NET) != 0;
            ri.pid_isolated = (sr.iso & ISO_PID) != 0;
            ri.fs_readonly = (sr.iso & ISO_FS) != 0;
            describe_isolation(t, &sr, &ri);
            af_python_tool_destroy(&t->tool);
            return af_error_set(AF_ECONFIG,
                                "config: tools.python.isolation=required, but this host cannot isolate the python "
                                "sandbox: %s; set tools.python.isolation=best_effort to run with what the host allows "
                                "(docs/sandbox.md)",
                                ri.note);
        }
    }
    *out = &t->tool;
    return 0;
}
