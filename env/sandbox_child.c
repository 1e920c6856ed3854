/* The forked side of the python sandbox (the calling side is env/python_tool.c; the
 * guarantees are in docs/sandbox.md).
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
#include "env/sandbox_child.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

#define SWEEP_MAX 4096 /* processes of the host one /proc scan considers */


static void rec_write(int fd, int32_t tag, int32_t value, int32_t extra) {
    AfSandboxRec r = {tag, value, extra};
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
static int make_fs_private(const AfSandboxPlan *p) {
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
static int userns_as_root(const AfSandboxPlan *p, int ns) {
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
static int isolate(const AfSandboxPlan *p, AfSandboxPlan *q, int32_t *fail) {
    const int ns = CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC;
    int iso = 0;
    if (p->is_root) {
        setgroups(0, NULL);
        if (unshare(ns) == 0) {
            iso = AF_SBX_ISO_NET | AF_SBX_ISO_PID | AF_SBX_ISO_MNT;
        } else {
            *fail = AF_SBX_FAIL_CODE(AF_SBX_FAIL_UNSHARE, errno);
            int r = userns_as_root(p, ns);
            if (r == 0) iso = AF_SBX_ISO_NET | AF_SBX_ISO_PID | AF_SBX_ISO_MNT | AF_SBX_ISO_USERNS;
            if (r == -2) {
                rec_write(3, AF_SBX_REC_SETUP, AF_SBX_STEP_USERNS_MAP, errno);
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
            rec_write(3, AF_SBX_REC_SETUP, AF_SBX_STEP_USERNS_MAP, e);
            _exit(126);
        }
        iso = AF_SBX_ISO_NET | AF_SBX_ISO_PID | AF_SBX_ISO_MNT | AF_SBX_ISO_USERNS;
        q->is_root = 0; /* only the caller's own uid is mapped: no uid drop there */
    } else {
        *fail = AF_SBX_FAIL_CODE(AF_SBX_FAIL_USERNS, errno);
    }
    if (iso & AF_SBX_ISO_MNT) {
        if (make_fs_private(p) == 0) iso |= AF_SBX_ISO_FS;
        else *fail = AF_SBX_FAIL_CODE(AF_SBX_FAIL_MOUNT, errno);
    }
    return iso;
}

/* Landlock for Q (best_effort without namespaces): writes only beneath the private
 * directory (no removal or rename there, so the watchdog sees every byte), no TCP connect
 * or bind, no signals or abstract sockets outside. Returns the ISO_LL_* bits in force. */
static int apply_landlock(const AfSandboxPlan *p, int *err) {
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
        got |= AF_SBX_ISO_LL_FS;
    }
    if (p->landlock_net && abi >= 4) {
        attr.handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
        if (abi >= 6) attr.scoped = LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL;
        got |= AF_SBX_ISO_LL_NET;
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

static _Noreturn void run_code(const AfSandboxPlan *p) { /* Q */
    int st = p->status_w;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (chdir(p->dir) != 0) goto setup_fail_chdir;
    if (setrlimit(RLIMIT_CPU, &p->cpu) || setrlimit(RLIMIT_AS, &p->as) || setrlimit(RLIMIT_NPROC, &p->nproc) ||
        setrlimit(RLIMIT_FSIZE, &p->fsize) || setrlimit(RLIMIT_NOFILE, &p->nofile)) {
        rec_write(st, AF_SBX_REC_SETUP, AF_SBX_STEP_RLIMIT, errno);
        _exit(126);
    }
    struct rlimit zero = {0, 0};
    setrlimit(RLIMIT_CORE, &zero);
    if (p->is_root) {
        if (setresgid(p->gid, p->gid, p->gid) != 0) {
            rec_write(st, AF_SBX_REC_SETUP, AF_SBX_STEP_SETGID, errno);
            _exit(126);
        }
        if (setresuid(p->uid, p->uid, p->uid) != 0) {
            rec_write(st, AF_SBX_REC_SETUP, AF_SBX_STEP_SETUID, errno);
            _exit(126);
        }
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        rec_write(st, AF_SBX_REC_SETUP, AF_SBX_STEP_PRCTL, errno);
        _exit(126);
    }
    if (p->landlock_fs || p->landlock_net) {
        int err = 0, got = apply_landlock(p, &err);
        rec_write(st, AF_SBX_REC_LANDLOCK, got, err);
    }
    if (p->mode != AF_PY_ISOLATION_NONE)
        rec_write(st, AF_SBX_REC_SECCOMP, apply_seccomp(p->landlock_fs, p->landlock_net) == 0, errno);
    char *const envp[] = {NULL};
    execve(p->python, p->argv, envp);
    rec_write(st, AF_SBX_REC_EXEC, 0, errno);
    _exit(127);
setup_fail_chdir:
    rec_write(st, AF_SBX_REC_SETUP, AF_SBX_STEP_CHDIR, errno);
    _exit(126);
}

static _Noreturn void run_init(const AfSandboxPlan *p, int pid_ns) { /* I */
    setpgid(0, 0); /* group of I and the code; S stays outside it (S also sets it, first wins) */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (pid_ns) mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL); /* best effort */
    pid_t q = fork();
    if (q < 0) {
        rec_write(p->status_w, AF_SBX_REC_SETUP, AF_SBX_STEP_FORK_CODE, errno);
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
            rec_write(p->status_w, AF_SBX_REC_WAIT, ws, (int32_t)(ms > INT32_MAX ? INT32_MAX : ms));
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
static void kill_uid(const AfSandboxPlan *q) {
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
static int sweep(pid_t self, const AfSandboxPlan *q) {
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

_Noreturn void af_sandbox_run(const AfSandboxPlan *p) { /* S */
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != p->caller) _exit(1);
    /* Descriptors: 0 = /dev/null, 1 = 2 = output pipe, 3 = status pipe (close-on-exec). */
    int o = fcntl(p->out_w, F_DUPFD, 10), s = fcntl(p->status_w, F_DUPFD, 10), n = fcntl(p->devnull, F_DUPFD, 10);
    if (o < 0 || s < 0 || n < 0 || dup2(n, 0) < 0 || dup2(o, 1) < 0 || dup2(o, 2) < 0 || dup3(s, 3, O_CLOEXEC) < 0)
        _exit(125);
    close_from(4);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    AfSandboxPlan q = *p;
    q.status_w = 3;
    int32_t fail = 0;
    int iso = p->mode == AF_PY_ISOLATION_NONE ? 0 : isolate(p, &q, &fail);
    if (q.is_root) iso |= AF_SBX_ISO_UID;
    rec_write(3, AF_SBX_REC_ISO, iso, fail);
    if (p->mode == AF_PY_ISOLATION_REQUIRED && (iso & AF_SBX_ISO_FULL) != AF_SBX_ISO_FULL) {
        rec_write(3, AF_SBX_REC_REFUSED, iso, fail);
        _exit(126);
    }
    if (p->probe) _exit(0);
    q.landlock_fs = p->mode == AF_PY_ISOLATION_BEST_EFFORT && !(iso & AF_SBX_ISO_FS);
    q.landlock_net = p->mode == AF_PY_ISOLATION_BEST_EFFORT && !(iso & AF_SBX_ISO_NET);
    pid_t i = fork();
    if (i < 0) {
        rec_write(3, AF_SBX_REC_SETUP, AF_SBX_STEP_FORK_INIT, errno);
        _exit(126);
    }
    if (i == 0) run_init(&q, (iso & AF_SBX_ISO_PID) != 0);
    setpgid(i, i);
    rec_write(3, AF_SBX_REC_INIT, (int32_t)i, 0);
    close(0);
    close(1);
    close(2);
    for (;;) { /* reap I, and meanwhile whatever the code orphaned and has ended */
        pid_t w = waitpid(-1, NULL, 0);
        if (w == i || (w < 0 && errno != EINTR)) break;
    }
    if (!(iso & AF_SBX_ISO_PID)) {
        int swept = sweep(getpid(), &q);
        if (swept) rec_write(3, AF_SBX_REC_SWEPT, swept, 0);
    }
    _exit(0);
}

