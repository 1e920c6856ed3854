/* The `python` tool: python3 code in a fork-per-call sandbox, the calling side: the
 * private directory, the pipes, the fork, the wall clock, the write watchdog and the
 * result (see python_tool.h and docs/sandbox.md). What runs after fork, and the process
 * layout of a call, are in env/sandbox_child.c. */
#include "env/python_tool.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "env/sandbox_child.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

#define UID_SPAN 65536u
#define MAX_CODE_HARD 120000u /* below MAX_ARG_STRLEN (128 KiB) for one argv string */
#define WATCH_INTERVAL_S 0.02 /* the watchdog's period without a private tmpfs */
#define WATCH_MIN_S 0.001      /* and its shortest, when inotify reports writes */

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
    /* the config holds the choice's position in "required|best_effort|none": the enum's order */
    if (cfg->tools.python.isolation < AF_PY_ISOLATION_REQUIRED || cfg->tools.python.isolation > AF_PY_ISOLATION_NONE)
        return af_error_set(AF_ECONFIG, "config: tools.python.isolation: %d is not one of required|best_effort|none",
                            cfg->tools.python.isolation);
    c->isolation = (AfPythonIsolation)cfg->tools.python.isolation;
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
    case AF_SBX_STEP_FORK_INIT: return "fork of the namespace init";
    case AF_SBX_STEP_FORK_CODE: return "fork of the code process";
    case AF_SBX_STEP_CHDIR: return "chdir to the private directory";
    case AF_SBX_STEP_RLIMIT: return "setrlimit";
    case AF_SBX_STEP_SETGID: return "setresgid to the sandbox gid";
    case AF_SBX_STEP_SETUID: return "setresuid to the sandbox uid";
    case AF_SBX_STEP_USERNS_MAP: return "user namespace uid/gid map";
    case AF_SBX_STEP_PRCTL: return "prctl(PR_SET_NO_NEW_PRIVS)";
    }
    return "unknown step";
}

static const char *fail_step_name(int32_t fail) {
    switch (fail >> 16) {
    case AF_SBX_FAIL_UNSHARE: return "unshare of the network, mount, PID and IPC namespaces";
    case AF_SBX_FAIL_USERNS: return "unshare of a user namespace with network, mount, PID and IPC namespaces";
    case AF_SBX_FAIL_MOUNT: return "read-only remount or the private tmpfs";
    }
    return "namespaces";
}

/* Status records from S, I and Q, as they arrive. */
typedef struct {
    AfSandboxRec rec;
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
        const AfSandboxRec *r = &s->rec;
        switch (r->tag) {
        case AF_SBX_REC_ISO: s->have_iso = 1; s->iso = r->value; s->iso_fail = r->extra; break;
        case AF_SBX_REC_SETUP: s->setup_step = r->value; s->setup_err = r->extra; break;
        case AF_SBX_REC_EXEC: s->exec_err = r->extra; break;
        case AF_SBX_REC_REFUSED: s->refused = 1; break;
        case AF_SBX_REC_WAIT: s->have_wait = 1; s->qws = r->value; s->cpu_ms = r->extra; break;
        case AF_SBX_REC_INIT: s->init_pid = (pid_t)r->value; break;
        case AF_SBX_REC_LANDLOCK: s->landlock = r->value; s->landlock_err = r->extra; break;
        case AF_SBX_REC_SWEPT: s->swept = r->value; break;
        case AF_SBX_REC_SECCOMP: s->seccomp = r->value; break;
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
    if ((sr->iso & AF_SBX_ISO_FULL) == AF_SBX_ISO_FULL) return;
    char why[128] = "";
    if (t->isolation == AF_PY_ISOLATION_NONE) snprintf(why, sizeof why, "tools.python.isolation=none");
    else if (sr->iso_fail)
        snprintf(why, sizeof why, "%s: %s", fail_step_name(sr->iso_fail), strerror(sr->iso_fail & 0xffff));
    else snprintf(why, sizeof why, "namespaces unavailable");
    char ll[96] = "";
    if (sr->landlock) snprintf(ll, sizeof ll, "; Landlock:%s%s", sr->landlock & AF_SBX_ISO_LL_FS ? " writes" : "",
                               sr->landlock & AF_SBX_ISO_LL_NET ? " tcp" : "");
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
    AfSandboxPlan plan = {
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
    if (l->pid == 0) af_sandbox_run(&plan);
    setpgid(l->pid, l->pid); /* also done by the child; whichever runs first */
    close(l->out_p[1]);
    close(l->st_p[1]);
    l->out_p[1] = l->st_p[1] = -1;
    fcntl(l->out_p[0], F_SETFL, O_NONBLOCK);
    fcntl(l->st_p[0], F_SETFL, O_NONBLOCK);
    l->pidfd = (int)syscall(SYS_pidfd_open, l->pid, 0u);
    return NULL;
}

/* The probe's findings as AfPythonRunInfo's isolation flags and note. */
static void probe_info(PyTool *t, const Status *sr, AfPythonRunInfo *ri) {
    memset(ri, 0, sizeof *ri);
    ri->net_isolated = (sr->iso & AF_SBX_ISO_NET) != 0;
    ri->pid_isolated = (sr->iso & AF_SBX_ISO_PID) != 0;
    ri->fs_readonly = (sr->iso & AF_SBX_ISO_FS) != 0;
    describe_isolation(t, sr, ri);
}

/* Whether this host gives the sandbox its full isolation: S alone, up to AF_SBX_REC_ISO. */
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
        int watch = !exited && sr.have_iso && !(sr.iso & AF_SBX_ISO_FS) && !sr.refused;
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
                if (sr.init_pid > 0 && !(sr.iso & AF_SBX_ISO_PID)) kill(-sr.init_pid, SIGKILL);
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
    if (!ri->disk_exceeded && sr.have_iso && !(sr.iso & AF_SBX_ISO_FS)) { /* a last look: writes of the final interval */
        uint64_t bytes;
        long entries;
        int unreadable;
        dir_usage(ri->dir, -1, &bytes, &entries, &unreadable);
        if (bytes > disk_limit || entries > t->max_inodes) ri->disk_exceeded = 1;
    }
    int iso = sr.iso, setup_step = sr.setup_step, setup_err = sr.setup_err;
    int exec_err = sr.exec_err, have_wait = sr.have_wait, qws = sr.qws;
    long cpu_ms = sr.cpu_ms;
    ri->net_isolated = (iso & AF_SBX_ISO_NET) != 0;
    ri->pid_isolated = (iso & AF_SBX_ISO_PID) != 0;
    ri->fs_readonly = (iso & AF_SBX_ISO_FS) != 0;
    ri->uid_dropped = (iso & AF_SBX_ISO_UID) != 0;
    ri->landlock_fs = (sr.landlock & AF_SBX_ISO_LL_FS) != 0;
    ri->landlock_net = (sr.landlock & AF_SBX_ISO_LL_NET) != 0;
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
    t->tool.example = "print(6*7)";
    if (t->isolation == AF_PY_ISOLATION_BEST_EFFORT) { /* say now what the host lacks */
        Status sr;
        char msg[300] = "";
        if (probe_isolation(t, &sr, msg, sizeof msg) != 0) {
            AF_LOG_W("python tool (tools.python.isolation=best_effort): cannot check the sandbox: %s", msg);
        } else if ((sr.iso & AF_SBX_ISO_FULL) != AF_SBX_ISO_FULL) {
            AfPythonRunInfo ri;
            probe_info(t, &sr, &ri);
            AF_LOG_W("python tool (tools.python.isolation=best_effort): %s; Landlock, seccomp and the write watchdog "
                     "stand in where the host allows (docs/sandbox.md)",
                     ri.note);
        }
    }
    if (t->isolation == AF_PY_ISOLATION_REQUIRED) { /* fail closed now, not at the first call */
        Status sr;
        char msg[300] = "";
        if (probe_isolation(t, &sr, msg, sizeof msg) != 0) {
            af_python_tool_destroy(&t->tool);
            return af_error_set(AF_ECONFIG, "config: tools.python.isolation=required: cannot check the sandbox: %s", msg);
        }
        if ((sr.iso & AF_SBX_ISO_FULL) != AF_SBX_ISO_FULL) {
            AfPythonRunInfo ri;
            probe_info(t, &sr, &ri);
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
