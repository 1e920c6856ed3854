/* The `python` tool: python3 code in a fork-per-call sandbox (see python_tool.h).
 *
 * Process layout of one call:
 *   caller ── fork ── S (setpgid; unshare net/mount/pid/ipc; read-only mounts)
 *                      └─ fork ── I (pid 1 of the new PID namespace: reaps everything)
 *                                  └─ fork ── Q (rlimits, cwd, uid drop, execve python3)
 * Every process between fork and execve uses only system calls (no malloc, no stdio):
 * the caller may be multi-threaded. S, I and Q report to the caller through a
 * close-on-exec "status" pipe of fixed-size records; Q's stdout and stderr share one
 * "output" pipe. S is alone in its process group; I, Q and whatever Q starts form a second
 * group led by I. When Q ends, I exits, which makes the kernel kill everything left in the
 * PID namespace, and I's exit completes only once they are gone; S reaps I and exits. At the
 * wall-clock limit the caller SIGKILLs I's group (I's death empties the namespace) and reaps
 * S, which outlives I: so when the call returns, no process of the sandbox exists. */
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
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
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

#define UID_SPAN 65536u
#define MAX_CODE_HARD 120000u /* below MAX_ARG_STRLEN (128 KiB) for one argv string */

enum { ISO_NET = 1, ISO_PID = 2, ISO_FS = 4, ISO_UID = 8, ISO_USERNS = 16 };
enum { REC_ISO = 1, REC_SETUP = 2, REC_EXEC = 3, REC_WAIT = 4, REC_REFUSED = 5, REC_INIT = 6 };
enum { STEP_FORK_INIT = 1, STEP_FORK_CODE, STEP_CHDIR, STEP_RLIMIT, STEP_SETGID, STEP_SETUID, STEP_USERNS_MAP,
       STEP_PRCTL };

typedef struct {
    int32_t tag, value, extra;
} Rec;

typedef struct {
    AfTool tool;
    char *name, *description, *python, *tmp_root;
    double cpu_s, wall_s;
    int mem_mb, max_procs, max_files, max_file_mb, require_isolation;
    size_t output_bytes, max_code_bytes;
    unsigned uid_base;
    unsigned counter;
    int warned;
    AfPythonRunInfo last;
} PyTool;

void af_python_tool_config_default(AfPythonToolConfig *c) {
    memset(c, 0, sizeof *c);
    c->cpu_s = 5;
    c->mem_mb = 512;
    c->wall_s = 10;
    c->output_bytes = 16384;
    c->max_procs = 32;
    c->max_files = 64;
    c->max_file_mb = 16;
    c->max_code_bytes = 65536;
    c->python = "/usr/bin/python3";
    c->tmp_root = "/tmp";
    c->uid_base = 0x70000000u;
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
    int is_root, require_isolation;
    unsigned uid;
    gid_t gid;
    const char *uid_map, *gid_map; /* for the user-namespace path */
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
    close(fd);
    return n == (ssize_t)len ? 0 : -1;
}

static void close_from(int lowfd) {
#ifdef SYS_close_range
    if (syscall(SYS_close_range, (unsigned)lowfd, ~0u, 0u) == 0) return;
#endif
    for (int fd = lowfd; fd < 65536; fd++) close(fd);
}

/* Read-only file system except `dir`, in the caller's fresh mount namespace. */
static int make_fs_readonly(const char *dir) {
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) return -1;
    struct af_mount_attr ro = {MOUNT_ATTR_RDONLY, 0, 0, 0};
    if (syscall(SYS_mount_setattr, AT_FDCWD, "/", AT_RECURSIVE, &ro, sizeof ro) != 0) return -1;
    if (mount(dir, dir, NULL, MS_BIND, NULL) != 0) return -1;
    struct af_mount_attr rw = {0, MOUNT_ATTR_RDONLY, 0, 0};
    if (syscall(SYS_mount_setattr, AT_FDCWD, dir, 0, &rw, sizeof rw) != 0) return -1;
    return 0;
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

static _Noreturn void run_sandbox(const ChildPlan *p) { /* S */
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != p->caller) _exit(1);
    /* Descriptors: 0 = /dev/null, 1 = 2 = output pipe, 3 = status pipe (close-on-exec). */
    int o = fcntl(p->out_w, F_DUPFD, 10), s = fcntl(p->status_w, F_DUPFD, 10), n = fcntl(p->devnull, F_DUPFD, 10);
    if (o < 0 || s < 0 || n < 0 || dup2(n, 0) < 0 || dup2(o, 1) < 0 || dup2(o, 2) < 0 || dup3(s, 3, O_CLOEXEC) < 0)
        _exit(125);
    close_from(4);
    ChildPlan q = *p;
    q.status_w = 3;
    int iso = 0, err = 0;
    const int ns = CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC;
    if (p->is_root) {
        setgroups(0, NULL);
        if (unshare(ns) == 0) iso = ISO_NET | ISO_PID | ISO_FS | ISO_UID;
        else err = errno;
    }
    if (!iso) {
        if (unshare(CLONE_NEWUSER | ns) == 0) {
            if (write_file("/proc/self/setgroups", "deny") != 0 || write_file("/proc/self/uid_map", p->uid_map) != 0 ||
                write_file("/proc/self/gid_map", p->gid_map) != 0) {
                rec_write(3, REC_SETUP, STEP_USERNS_MAP, errno);
                _exit(126);
            }
            iso = ISO_NET | ISO_PID | ISO_FS | ISO_USERNS;
            q.is_root = 0; /* uid 0 is not mapped in the new namespace: no uid drop there */
        } else if (!err) {
            err = errno;
        }
    }
    if (iso && make_fs_readonly(p->dir) != 0) {
        iso &= ~ISO_FS;
        err = errno;
    }
    if (!iso && p->is_root) iso = ISO_UID;
    rec_write(3, REC_ISO, iso, err);
    if (p->require_isolation && (iso & (ISO_NET | ISO_PID | ISO_FS)) != (ISO_NET | ISO_PID | ISO_FS)) {
        rec_write(3, REC_REFUSED, iso, err);
        _exit(126);
    }
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
    int ws;
    while (waitpid(i, &ws, 0) < 0 && errno == EINTR) {
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

/* Status records from S, I and Q, as they arrive. */
typedef struct {
    Rec rec;
    size_t got;
    int iso, iso_err, setup_step, setup_err, exec_err, refused, have_wait, qws;
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
        case REC_ISO: s->iso = r->value; s->iso_err = r->extra; break;
        case REC_SETUP: s->setup_step = r->value; s->setup_err = r->extra; break;
        case REC_EXEC: s->exec_err = r->extra; break;
        case REC_REFUSED: s->refused = 1; break;
        case REC_WAIT: s->have_wait = 1; s->qws = r->value; s->cpu_ms = r->extra; break;
        case REC_INIT: s->init_pid = (pid_t)r->value; break;
        default: break;
        }
    }
}

/* Wall-clock limit: kill I's group (with a PID namespace, I's death empties it and S reaps
 * I only once it is empty), then reap S; S itself is killed if it lingers. */
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
    int out_p[2] = {-1, -1}, st_p[2] = {-1, -1}, devnull = -1, pidfd = -1;
    pid_t pid = -1;
    Out o = {NULL, 0, t->output_bytes, 0};
    int have_dir = 0;
    double t0 = mono_s();
    int is_root = geteuid() == 0;
    unsigned uid = is_root ? t->uid_base + (((unsigned)getpid() * 2654435761u + t->counter++) % UID_SPAN) : getuid();

    o.buf = malloc(t->output_bytes + 1);
    if (!o.buf) return af_error_set(AF_ENOMEM, "python tool: output buffer of %zu bytes", t->output_bytes);
    int n = snprintf(ri->dir, sizeof ri->dir, "%s/af_py_XXXXXX", t->tmp_root);
    if (n < 0 || (size_t)n >= sizeof ri->dir || !mkdtemp(ri->dir)) {
        rc = af_tool_result_set(out, AF_TOOL_INFRA_ERROR, "python: cannot create a private directory under %s: %s",
                                t->tmp_root, strerror(errno));
        goto done;
    }
    have_dir = 1;
    if (is_root && chown(ri->dir, uid, uid) != 0) {
        rc = af_tool_result_set(out, AF_TOOL_INFRA_ERROR, "python: chown of the private directory: %s", strerror(errno));
        goto done;
    }
    if (pipe2(out_p, O_CLOEXEC) != 0 || pipe2(st_p, O_CLOEXEC) != 0 ||
        (devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0) {
        rc = af_tool_result_set(out, AF_TOOL_INFRA_ERROR, "python: pipe or /dev/null: %s", strerror(errno));
        goto done;
    }
    char uid_map[64], gid_map[64];
    snprintf(uid_map, sizeof uid_map, "%u %u 1\n", (unsigned)getuid(), (unsigned)getuid());
    snprintf(gid_map, sizeof gid_map, "%u %u 1\n", (unsigned)getgid(), (unsigned)getgid());
    char *argv[] = {t->python, "-I", "-B", "-u", "-c", (char *)arg, NULL};
    ChildPlan plan = {
        .out_w = out_p[1], .status_w = st_p[1], .devnull = devnull, .caller = getpid(),
        .dir = ri->dir, .python = t->python, .argv = argv, .is_root = is_root,
        .require_isolation = t->require_isolation, .uid = uid, .gid = (gid_t)uid,
        .uid_map = uid_map, .gid_map = gid_map,
    };
    rlim_t cpu = (rlim_t)(t->cpu_s + 0.999);
    if (cpu < 1) cpu = 1;
    plan.cpu = (struct rlimit){cpu, cpu + 1};
    plan.as = (struct rlimit){(rlim_t)t->mem_mb << 20, (rlim_t)t->mem_mb << 20};
    plan.nproc = (struct rlimit){(rlim_t)t->max_procs, (rlim_t)t->max_procs};
    plan.fsize = (struct rlimit){(rlim_t)t->max_file_mb << 20, (rlim_t)t->max_file_mb << 20};
    plan.nofile = (struct rlimit){(rlim_t)t->max_files, (rlim_t)t->max_files};

    pid = fork();
    if (pid < 0) {
        rc = af_tool_result_set(out, AF_TOOL_INFRA_ERROR, "python: fork: %s", strerror(errno));
        goto done;
    }
    if (pid == 0) run_sandbox(&plan);
    setpgid(pid, pid); /* also done by the child; whichever runs first */
    close(out_p[1]);
    close(st_p[1]);
    out_p[1] = st_p[1] = -1;
    fcntl(out_p[0], F_SETFL, O_NONBLOCK);
    fcntl(st_p[0], F_SETFL, O_NONBLOCK);
    pidfd = (int)syscall(SYS_pidfd_open, pid, 0);

    Status sr;
    memset(&sr, 0, sizeof sr);
    sr.exec_err = -1;
    double deadline = t0 + wall, grace_end = 0;
    int exited = 0, eof = 0, st_eof = 0, ws = 0;
    while (!eof || !exited) {
        double now = mono_s();
        if (!exited && now >= deadline) {
            ri->wall_timeout = 1;
            reap_sandbox(pid, pidfd, &sr, st_p[0], &st_eof, &ws);
            exited = 1;
            grace_end = mono_s() + 0.2;
            continue;
        }
        if (exited && !eof && now >= grace_end) break;
        double until = exited ? grace_end : deadline;
        int ms = (int)((until - now) * 1000.0) + 1;
        if (!exited && pidfd < 0 && ms > 10) ms = 10;
        struct pollfd fds[3];
        nfds_t nf = 0;
        if (!eof) fds[nf++] = (struct pollfd){out_p[0], POLLIN, 0};
        if (!st_eof) fds[nf++] = (struct pollfd){st_p[0], POLLIN, 0};
        if (!exited && pidfd >= 0) fds[nf++] = (struct pollfd){pidfd, POLLIN, 0};
        if (nf > 0) {
            poll(fds, nf, ms);
        } else {
            struct timespec ts = {0, (long)(ms > 10 ? 10 : ms) * 1000000L};
            nanosleep(&ts, NULL);
        }
        if (!eof) drain(out_p[0], &o, &eof);
        if (!st_eof) read_status(st_p[0], &sr, &st_eof);
        if (!exited) {
            siginfo_t si;
            memset(&si, 0, sizeof si);
            if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid) {
                /* S has ended, so has I (S waits for it). Without a PID namespace stragglers of
                 * the code may remain in I's group: kill it while S, a zombie, is unreaped. */
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
    int iso = sr.iso, iso_err = sr.iso_err, setup_step = sr.setup_step, setup_err = sr.setup_err;
    int exec_err = sr.exec_err, refused = sr.refused, have_wait = sr.have_wait, qws = sr.qws;
    long cpu_ms = sr.cpu_ms;
    ri->net_isolated = (iso & ISO_NET) != 0;
    ri->pid_isolated = (iso & ISO_PID) != 0;
    ri->fs_readonly = (iso & ISO_FS) != 0;
    ri->uid_dropped = (iso & ISO_UID) != 0;
    ri->uid = ri->uid_dropped ? uid : (unsigned)getuid();
    ri->cpu_s = (double)cpu_ms / 1000.0;
    if ((iso & (ISO_NET | ISO_PID | ISO_FS)) != (ISO_NET | ISO_PID | ISO_FS)) {
        snprintf(ri->note, sizeof ri->note, "sandbox without%s%s%s (%s)", ri->net_isolated ? "" : " network isolation",
                 ri->pid_isolated ? "" : " PID namespace", ri->fs_readonly ? "" : " read-only file system",
                 iso_err ? strerror(iso_err) : "namespaces unavailable");
        if (!t->warned) {
            t->warned = 1;
            AF_LOG_W("python tool: %s; documented fallback: rlimits, process group and private directory only",
                     ri->note);
        }
    }
    if (refused) {
        rc = finish(t, out, AF_TOOL_INFRA_ERROR, &o, "[python: refused to run: require_isolation is set and the sandbox is incomplete]");
        goto done;
    }
    if (setup_step || exec_err >= 0) {
        char msg[200];
        if (exec_err >= 0) snprintf(msg, sizeof msg, "[python: cannot execute %s: %s]", t->python, strerror(exec_err));
        else snprintf(msg, sizeof msg, "[python: sandbox set-up failed at %s: %s]", step_name(setup_step), strerror(setup_err));
        rc = finish(t, out, AF_TOOL_INFRA_ERROR, &o, msg);
        goto done;
    }
    char trailer[160];
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
        long limit_ms = (long)cpu * 1000;
        if (sig == SIGXCPU || (sig == SIGKILL && cpu_ms >= limit_ms - 50)) {
            ri->cpu_timeout = 1;
            snprintf(trailer, sizeof trailer, "[python: CPU time limit of %ld s exceeded; killed]", (long)cpu);
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
    if (pidfd >= 0) close(pidfd);
    for (int i = 0; i < 2; i++) {
        if (out_p[i] >= 0) close(out_p[i]);
        if (st_p[i] >= 0) close(st_p[i]);
    }
    if (devnull >= 0) close(devnull);
    if (have_dir) remove_tree(ri->dir);
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
    if (cfg->max_file_mb < 0 || cfg->max_file_mb > 1 << 20)
        return af_error_set(AF_ECONFIG, "config: tools.python.max_file_mb: expected [0, 1048576], got %d", cfg->max_file_mb);
    if (cfg->max_code_bytes < 1 || cfg->max_code_bytes > MAX_CODE_HARD)
        return af_error_set(AF_ECONFIG, "config: tools.python.max_code_bytes: expected [1, %u], got %zu", MAX_CODE_HARD,
                            cfg->max_code_bytes);
    const char *python = cfg->python ? cfg->python : "/usr/bin/python3";
    if (python[0] != '/' || access(python, X_OK) != 0)
        return af_error_set(AF_ECONFIG, "config: tools.python.python: \"%s\" is not an executable absolute path", python);
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
    t->max_file_mb = cfg->max_file_mb;
    t->output_bytes = cfg->output_bytes;
    t->max_code_bytes = cfg->max_code_bytes;
    t->uid_base = cfg->uid_base;
    t->require_isolation = cfg->require_isolation;
    t->tool.name = t->name;
    t->tool.description = t->description;
    t->tool.example = "print(6*7)";
    *out = &t->tool;
    return 0;
}
