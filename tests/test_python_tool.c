/* The `python` tool's sandbox, in each isolation mode this host can run:
 *   isolated     tools.python.isolation=required with network, PID and mount namespaces;
 *   nocap        the same as root without CAP_SYS_ADMIN (user namespace, throwaway uid);
 *   fallback     namespaces denied by a seccomp filter (as under Docker's default profile):
 *                required fails closed (at creation, at a call, at world creation), and
 *                best_effort keeps its guarantees (Landlock, descendant kill, watchdog);
 *   none         rlimits, descendant kill and watchdog only.
 * Each mode runs hostile code: writes to the host's /tmp and /dev/shm and to a
 * world-writable host file, a loopback connection to a server of this test, a setsid'd
 * double-forked `sleep 300`, and 320 MiB in many files; and checks the effects on the host.
 * Exit 77 (skip) if a mode cannot run here; 1 if any check failed. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "run/world.h"
#include "common/config.h"
#include "common/error.h"
#include "env/python_tool.h"
#include "tests/test_util.h"

static int skipped = 0;       /* modes that could not run on this host */
static int host_isolates = 0; /* tools.python.isolation=required works here */

static void skip(const char *mode, const char *why) {
    fprintf(stderr, "SKIP %s: %s\n", mode, why);
    skipped++;
}

static int count_fds(void) {
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

/* Processes (other than us) whose parent is us, that run as `uid` (if uid != 0), or whose
 * command line starts with `marker` (if given). */
static int count_leftovers(unsigned uid, const char *marker) {
    int n = 0;
    DIR *d = opendir("/proc");
    if (!d) return -1;
    struct dirent *e;
    char path[300], line[256];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        snprintf(path, sizeof path, "/proc/%s/status", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        long ppid = -1;
        unsigned ruid = 0;
        int have_uid = 0, zombie = 0;
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "PPid:", 5) == 0) ppid = strtol(line + 5, NULL, 10);
            if (strncmp(line, "Uid:", 4) == 0) have_uid = sscanf(line + 4, "%u", &ruid) == 1;
            if (strncmp(line, "State:", 6) == 0) zombie = strstr(line, "Z (zombie)") != NULL;
        }
        fclose(f);
        if (ppid == (long)getpid()) n++;
        else if (uid != 0 && have_uid && ruid == uid && !zombie) n++;
        else if (marker) {
            snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
            f = fopen(path, "r");
            if (f) {
                size_t k = fread(line, 1, sizeof line - 1, f);
                line[k] = '\0';
                fclose(f);
                if (strncmp(line, marker, strlen(marker)) == 0) n++;
            }
        }
    }
    closedir(d);
    return n;
}

static AfTool *make_tool_mode(AfPythonIsolation mode, double cpu_s, double wall_s, int mem_mb, size_t output_bytes,
                              int disk_mb) {
    AfPythonToolConfig c;
    af_python_tool_config_default(&c);
    c.isolation = mode;
    c.cpu_s = cpu_s;
    c.wall_s = wall_s;
    c.mem_mb = mem_mb;
    c.output_bytes = output_bytes;
    c.disk_mb = disk_mb;
    c.max_procs = 16;
    AfTool *t = NULL;
    int rc = af_python_tool_create(&c, &t);
    CHECK_MSG(rc == 0, "create (%s): %s", af_python_isolation_name(mode), af_error_detail());
    return t;
}

static AfToolStatus run(AfTool *t, const char *code, AfToolResult *r, AfPythonRunInfo *info) {
    int rc = t->call(t, code, 0, r);
    CHECK_MSG(rc == 0, "call returned %d: %s", rc, af_error_detail());
    CHECK(r->text != NULL);
    af_python_tool_last_run(t, info);
    struct stat sb;
    CHECK_MSG(info->dir[0] == '\0' || stat(info->dir, &sb) != 0, "private directory %s left behind", info->dir);
    CHECK_MSG(count_leftovers(info->uid_dropped ? info->uid : 0, NULL) == 0, "processes left after: %.200s", code);
    fprintf(stderr, "  [%s] %-11s wall %.2fs cpu %.2fs net %d pid %d fs %d ll %d/%d swept %d uid %u | %.100s\n",
            t->name, af_tool_status_name(r->status), info->wall_s, info->cpu_s, info->net_isolated,
            info->pid_isolated, info->fs_readonly, info->landlock_fs, info->landlock_net, info->swept, info->uid,
            r->text ? r->text : "");
    return r->status;
}

/* Normal and faulty code, limits, output. Needs a working sandbox, isolation aside. */
static void basics(AfPythonIsolation mode) {
    /* A distant wall limit: on a loaded machine the sandbox start alone can take seconds. */
    AfTool *t = make_tool_mode(mode, 1, 60, 256, 4096, 64);
    AfTool *t2 = make_tool_mode(mode, 2, 1.5, 256, 2048, 64); /* short wall clock */
    if (!t || !t2) {
        af_python_tool_destroy(t);
        af_python_tool_destroy(t2);
        return;
    }
    AfToolResult r;
    AfPythonRunInfo info;

    /* Normal code: output, exit 0, empty environment, private cwd that is writable. */
    CHECK_EQ_INT(run(t, "import os\nprint(6*7)\nprint([k for k in os.environ if k != 'LC_CTYPE'])\nopen('a.txt','w').write('hi')\n"
                        "print(open('a.txt').read(), os.getcwd().startswith('/tmp/af_py_'))", &r, &info), AF_TOOL_OK);
    CHECK_MSG(strcmp(r.text, "42\n[]\nhi True\n") == 0, "got \"%s\"", r.text);
    CHECK_EQ_INT(info.exit_code, 0);
    af_tool_result_free(&r);

    /* Syntax error and exception: AF_TOOL_ERROR with the traceback. */
    CHECK_EQ_INT(run(t, "def (", &r, &info), AF_TOOL_ERROR);
    CHECK_STR_CONTAINS(r.text, "SyntaxError");
    CHECK_STR_CONTAINS(r.text, "[exit status 1]");
    af_tool_result_free(&r);
    CHECK_EQ_INT(run(t, "print('before')\n1/0", &r, &info), AF_TOOL_ERROR);
    CHECK_STR_CONTAINS(r.text, "before\n");
    CHECK_STR_CONTAINS(r.text, "ZeroDivisionError");
    af_tool_result_free(&r);
    CHECK_EQ_INT(run(t, "import sys; sys.exit(3)", &r, &info), AF_TOOL_ERROR);
    CHECK_EQ_INT(info.exit_code, 3);
    af_tool_result_free(&r);

    /* Huge output: kept to output_bytes, the rest counted. */
    CHECK_EQ_INT(run(t, "import sys\nsys.stdout.write('x' * 1000000)", &r, &info), AF_TOOL_OK);
    CHECK(info.truncated);
    CHECK_EQ_INT(info.output_total, 1000000);
    CHECK_STR_CONTAINS(r.text, "[output truncated: 995904 more bytes]");
    CHECK(r.len < 4096 + 100);
    af_tool_result_free(&r);

    /* Infinite loop: the CPU limit (1 s) ends it before the (distant) wall limit. */
    CHECK_EQ_INT(run(t, "while True: pass", &r, &info), AF_TOOL_TIMEOUT);
    CHECK(info.cpu_timeout);
    CHECK(!info.wall_timeout);
    CHECK_STR_CONTAINS(r.text, "CPU time limit");
    af_tool_result_free(&r);

    /* Sleeping forever: the wall-clock limit kills the group. */
    CHECK_EQ_INT(run(t2, "import time\nprint('sleeping', flush=True)\ntime.sleep(1000)", &r, &info), AF_TOOL_TIMEOUT);
    CHECK(info.wall_timeout);
    CHECK_STR_CONTAINS(r.text, "sleeping");
    CHECK_STR_CONTAINS(r.text, "wall-clock limit");
    af_tool_result_free(&r);

    /* A background child that outlives the code: killed, and the call returns promptly. */
    CHECK_EQ_INT(run(t, "import os, time\nif os.fork() == 0:\n    time.sleep(1000)\nprint('parent done')", &r, &info),
                 AF_TOOL_OK);
    CHECK(!info.wall_timeout);
    CHECK_STR_CONTAINS(r.text, "parent done");
    af_tool_result_free(&r);

    /* Memory bomb: the address-space limit turns it into a MemoryError. */
    CHECK_EQ_INT(run(t, "a = []\nwhile True:\n    a.append(bytearray(10 ** 7))", &r, &info), AF_TOOL_ERROR);
    CHECK_STR_CONTAINS(r.text, "MemoryError");
    af_tool_result_free(&r);

    /* Fork bomb that swallows fork errors: the process limit holds it, the wall clock ends it. */
    AfToolStatus st = run(t2, "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass", &r, &info);
    CHECK_MSG(st == AF_TOOL_TIMEOUT || st == AF_TOOL_ERROR, "fork bomb status %s", af_tool_status_name(st));
    af_tool_result_free(&r);
    /* The plain fork bomb dies of its own BlockingIOError once the process limit is reached. */
    st = run(t2, "import os\nwhile True:\n    os.fork()", &r, &info);
    CHECK_MSG(st == AF_TOOL_TIMEOUT || st == AF_TOOL_ERROR, "fork bomb status %s", af_tool_status_name(st));
    af_tool_result_free(&r);

    /* Code too long. */
    char *big = malloc(200000);
    memset(big, '#', 199999);
    big[199999] = '\0';
    CHECK_EQ_INT(run(t, big, &r, &info), AF_TOOL_ERROR);
    CHECK_STR_CONTAINS(r.text, "more than the limit");
    af_tool_result_free(&r);
    free(big);
    af_python_tool_destroy(t);
    af_python_tool_destroy(t2);

    /* An interpreter that runs and exits 1. */
    AfPythonToolConfig c;
    af_python_tool_config_default(&c);
    c.isolation = mode;
    snprintf(c.python, sizeof c.python, "/bin/false");
    t = NULL;
    CHECK_EQ_INT(af_python_tool_create(&c, &t), 0);
    if (t) CHECK_EQ_INT(run(t, "print(1)", &r, &info), AF_TOOL_ERROR);
    if (t) af_tool_result_free(&r);
    af_python_tool_destroy(t);
}

/* What a mode must stop, on the host. */
typedef struct {
    int fs;       /* writes outside the private directory fail (read-only fs or Landlock) */
    int net;      /* no TCP connection to the host's loopback */
    int tmpfs;    /* the private directory is a tmpfs of disk_mb (ENOSPC) rather than the watchdog */
} Expect;

#define DISK_MB 32

static void hostile(AfPythonIsolation mode, Expect ex) {
    AfTool *t = make_tool_mode(mode, 5, 30, 256, 8192, DISK_MB);
    if (!t) return;
    AfToolResult r;
    AfPythonRunInfo info;
    char code[2048], a[128], b[128], ro[128], marker[64];
    struct stat sb;
    int pid = (int)getpid();

    /* Writes on the host: new files in /tmp and /dev/shm, and a world-writable file that only
     * the sandbox (not file permissions) protects. */
    snprintf(a, sizeof a, "/tmp/af_sbx_%d_a", pid);
    snprintf(b, sizeof b, "/dev/shm/af_sbx_%d_b", pid);
    snprintf(ro, sizeof ro, "/tmp/af_sbx_%d_ro", pid);
    unlink(a);
    unlink(b);
    FILE *f = fopen(ro, "w");
    CHECK(f != NULL);
    if (f) {
        fputs("original", f);
        fclose(f);
    }
    chmod(ro, 0666);
    snprintf(code, sizeof code,
             "for p, m in [('%s', 'w'), ('%s', 'w'), ('%s', 'a'), ('../af_sbx_rel_%d', 'w')]:\n"
             "    try:\n        open(p, m).write('escaped')\n        print('WROTE', p)\n"
             "    except OSError as e:\n        print('DENIED', p, e.errno)\n",
             a, b, ro, pid);
    run(t, code, &r, &info);
    if (ex.fs) {
        CHECK_MSG(strstr(r.text, "WROTE") == NULL, "a write left the private directory: %s", r.text);
        CHECK_MSG(stat(a, &sb) != 0, "%s was created by the sandbox", a);
        CHECK_MSG(stat(b, &sb) != 0, "%s was created by the sandbox", b);
        char buf[64] = "";
        f = fopen(ro, "r");
        if (f) {
            size_t k = fread(buf, 1, sizeof buf - 1, f);
            buf[k] = '\0';
            fclose(f);
        }
        CHECK_MSG(strcmp(buf, "original") == 0, "%s changed to \"%s\"", ro, buf);
        const char *why = info.fs_readonly ? "DENIED %s 30" : "DENIED %s 13"; /* EROFS, or Landlock's EACCES */
        char want[200];
        snprintf(want, sizeof want, why, ro);
        CHECK_STR_CONTAINS(r.text, want);
    }
    af_tool_result_free(&r);
    unlink(a);
    unlink(b);
    unlink(ro);
    snprintf(a, sizeof a, "/tmp/af_sbx_rel_%d", pid);
    if (ex.fs) CHECK_MSG(stat(a, &sb) != 0, "%s was created by the sandbox", a);
    unlink(a);

    /* Loopback: a listening TCP socket and a UDP socket of this test must see nothing. */
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), us = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in sa, ua;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ua = sa;
    socklen_t al = sizeof sa, ul = sizeof ua;
    CHECK(ls >= 0 && bind(ls, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(ls, 4) == 0 &&
          getsockname(ls, (struct sockaddr *)&sa, &al) == 0);
    CHECK(us >= 0 && bind(us, (struct sockaddr *)&ua, sizeof ua) == 0 && getsockname(us, (struct sockaddr *)&ua, &ul) == 0);
    snprintf(code, sizeof code,
             "import socket\ntry:\n    s = socket.create_connection(('127.0.0.1', %d), timeout=2)\n    print('CONNECTED')\n"
             "except OSError as e:\n    print('REFUSED', e.errno)\ntry:\n"
             "    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n    u.sendto(b'x', ('127.0.0.1', %d))\n"
             "    print('UDPSENT')\nexcept OSError as e:\n    print('UDPREFUSED', e.errno)\n",
             (int)ntohs(sa.sin_port), (int)ntohs(ua.sin_port));
    run(t, code, &r, &info);
    int accepted = accept(ls, NULL, NULL);
    char dgram[16];
    ssize_t got = recv(us, dgram, sizeof dgram, 0);
    if (ex.net) {
        CHECK_STR_CONTAINS(r.text, "REFUSED");
        CHECK_MSG(accepted < 0, "a connection from the sandbox arrived");
#if !defined(__x86_64__)
        if (!info.net_isolated) got = -1; /* UDP is stopped by the seccomp filter (x86_64) only */
#endif
        CHECK_MSG(got < 0, "a UDP datagram from the sandbox arrived");
        if (got < 0) CHECK_STR_CONTAINS(r.text, "UDPREFUSED");
    }
    if (accepted >= 0) close(accepted);
    close(ls);
    close(us);
    af_tool_result_free(&r);

    /* Memory files and unnamed files, which no directory size shows. */
    run(t, "import os\ntry:\n    os.memfd_create('m')\n    print('MEMFD')\nexcept OSError as e:\n    print('NOMEMFD', e.errno)\n"
           "try:\n    os.open('.', os.O_TMPFILE | os.O_RDWR, 0o600)\n    print('TMPFILE')\nexcept OSError as e:\n"
           "    print('NOTMPFILE', e.errno)\n", &r, &info);
#if defined(__x86_64__)
    if (mode != AF_PY_ISOLATION_NONE) {
        CHECK(info.seccomp);
        CHECK_STR_CONTAINS(r.text, "NOMEMFD");
        if (!ex.tmpfs && ex.fs) CHECK_STR_CONTAINS(r.text, "NOTMPFILE");
    }
#endif
    af_tool_result_free(&r);

    /* A setsid'd, double-forked sleep 300 (and one started just before a wall-clock kill). */
    for (int timeout = 0; timeout < 2; timeout++) {
        snprintf(marker, sizeof marker, "af_sbx_marker_%d_%d", pid, timeout);
        snprintf(code, sizeof code,
                 "import os, time\npid = os.fork()\nif pid == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
                 "        print('sleeper', os.getpid(), flush=True)\n        os.execv('/bin/sleep', ['%s', '300'])\n"
                 "    os._exit(0)\nos.waitpid(pid, 0)\ntime.sleep(0.2)\nprint('spawned', flush=True)\n%s",
                 marker, timeout ? "time.sleep(1000)\n" : "");
        AfTool *tt = timeout ? make_tool_mode(mode, 5, 1.5, 256, 8192, DISK_MB) : t;
        if (!tt) continue;
        AfToolStatus st = run(tt, code, &r, &info);
        CHECK_EQ_INT(st, timeout ? AF_TOOL_TIMEOUT : AF_TOOL_OK);
        CHECK_STR_CONTAINS(r.text, "sleeper");
        CHECK_STR_CONTAINS(r.text, "spawned");
        CHECK_MSG(count_leftovers(0, marker) == 0, "a setsid'd double-forked sleep outlived the call (%s)", marker);
        if (!info.pid_isolated) CHECK_MSG(info.swept >= 1, "the supervisor killed %d processes", info.swept);
        af_tool_result_free(&r);
        if (timeout) af_python_tool_destroy(tt);
    }

    /* 320 MiB in 40 files of 8 MiB: stopped at DISK_MB, by the tmpfs (ENOSPC) or the watchdog. */
    snprintf(code, sizeof code,
             "import os\ntotal = 0\ntry:\n    for i in range(40):\n        with open('f%%03d' %% i, 'wb') as f:\n"
             "            for k in range(8):\n                f.write(b'x' * (1 << 20))\n                total += 1\n"
             "        print('MiB', total, flush=True)\nexcept OSError as e:\n    print('STOPPED', total, e.errno, flush=True)\n"
             "print('DONE', total, flush=True)\n");
    AfToolStatus st = run(t, code, &r, &info);
    int last = -1;
    for (const char *p = r.text; (p = strstr(p, "MiB ")) != NULL; p += 4)
        if (p == r.text || p[-1] == '\n') last = atoi(p + 4); /* the code's progress lines */
    if (ex.tmpfs) {
        CHECK_EQ_INT(st, AF_TOOL_OK);
        CHECK_STR_CONTAINS(r.text, "STOPPED");
        CHECK_STR_CONTAINS(r.text, " 28\n"); /* ENOSPC */
        const char *s = strstr(r.text, "STOPPED ");
        CHECK_MSG(s && atoi(s + 8) <= DISK_MB, "wrote %d MiB with a %d MiB tmpfs", s ? atoi(s + 8) : -1, DISK_MB);
    } else {
        CHECK_EQ_INT(st, AF_TOOL_ERROR);
        CHECK(info.disk_exceeded);
        CHECK_STR_CONTAINS(r.text, "killed]");
        CHECK_MSG(strstr(r.text, "DONE") == NULL, "the 320 MiB writer finished");
        /* The watchdog looks every 20 ms: allow a generous DISK_MB more for a fast disk. */
        CHECK_MSG(last <= 2 * DISK_MB, "the watchdog let %d MiB through (limit %d MiB)", last, DISK_MB);
    }
    fprintf(stderr, "  320 MiB writer: last progress %d MiB, limit %d MiB\n", last, DISK_MB);
    af_tool_result_free(&r);
    af_python_tool_destroy(t);
}

static void mode_isolated(void) {
    basics(AF_PY_ISOLATION_REQUIRED);
    hostile(AF_PY_ISOLATION_REQUIRED, (Expect){1, 1, 1});
    AfTool *t = make_tool_mode(AF_PY_ISOLATION_REQUIRED, 1, 10, 256, 4096, 64);
    if (!t) return;
    AfToolResult r;
    AfPythonRunInfo info;
    run(t, "print(1)", &r, &info);
    CHECK(info.net_isolated && info.pid_isolated && info.fs_readonly && !info.refused);
    CHECK_MSG(info.note[0] == '\0', "note \"%s\"", info.note);
    if (geteuid() == 0) CHECK(info.uid_dropped && info.uid >= 0x70000000u);
    af_tool_result_free(&r);
    af_python_tool_destroy(t);
}

/* Run fn in a child; its exit status: 0 pass, 77 skip, else fail. */
static void in_child(const char *mode, void (*fn)(void)) {
    fflush(stderr);
    pid_t p = fork();
    CHECK(p >= 0);
    if (p == 0) {
        af_test_failures = 0;
        fn();
        fflush(stderr);
        _exit(af_test_failures ? 1 : 0);
    }
    int ws = 0;
    while (waitpid(p, &ws, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(ws) && WEXITSTATUS(ws) == 77) skipped++;
    else CHECK_MSG(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "mode %s: child status 0x%x", mode, ws);
}

/* The isolated mode through a user namespace (skip if this host has none), then the
 * hostile code: the code runs under the throwaway uid (uid_dropped) or the caller's. */
static void userns_mode(const char *mode, int uid_dropped) {
    pid_t u = fork();
    if (u == 0) _exit(unshare(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWPID) == 0 ? 0 : 1);
    int ws = 1;
    waitpid(u, &ws, 0);
    if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
        fprintf(stderr, "SKIP %s: no user namespaces here\n", mode);
        _exit(af_test_failures ? 1 : 77);
    }
    AfTool *t = make_tool_mode(AF_PY_ISOLATION_REQUIRED, 1, 10, 256, 4096, 64);
    if (!t) return;
    AfToolResult r;
    AfPythonRunInfo info;
    CHECK_EQ_INT(run(t, "import os\nopen('a.txt', 'w').write('hi')\nprint(open('a.txt').read(), os.getuid())", &r, &info),
                 AF_TOOL_OK);
    char want[64];
    snprintf(want, sizeof want, "hi %u\n", uid_dropped ? info.uid : (unsigned)getuid());
    CHECK_MSG(strcmp(r.text, want) == 0, "got \"%s\", want \"%s\"", r.text, want);
    CHECK(info.net_isolated && info.pid_isolated && info.fs_readonly && info.uid_dropped == uid_dropped);
    CHECK(info.uid != 0);
    af_tool_result_free(&r);
    af_python_tool_destroy(t);
    hostile(AF_PY_ISOLATION_REQUIRED, (Expect){1, 1, 1});
}

/* Root without CAP_SYS_ADMIN (e.g. a container without --privileged but with user
 * namespaces): the user-namespace path, the code under the throwaway uid. */
static void mode_nocap_child(void) {
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) != 0) _exit(77);
    d[CAP_SYS_ADMIN / 32].effective &= ~(1u << (CAP_SYS_ADMIN % 32));
    d[CAP_SYS_ADMIN / 32].permitted &= ~(1u << (CAP_SYS_ADMIN % 32));
    d[CAP_SYS_ADMIN / 32].inheritable &= ~(1u << (CAP_SYS_ADMIN % 32));
    CHECK(syscall(SYS_capset, &h, d) == 0);
    CHECK_MSG(unshare(CLONE_NEWNET) != 0, "unshare still works without CAP_SYS_ADMIN");
    if (unshare(CLONE_NEWNET) == 0) return;
    userns_mode("nocap", 1);
}

/* An ordinary user (nobody): an unprivileged user namespace, no uid drop. */
static void mode_user_child(void) {
    if (setgroups(0, NULL) != 0 || setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0) {
        fprintf(stderr, "SKIP user: cannot become nobody\n");
        _exit(77);
    }
    userns_mode("user", 0);
}

/* A seccomp filter that denies what Docker's default profile denies without CAP_SYS_ADMIN:
 * unshare, setns, mount and clone with namespace flags (clone3: ENOSYS, so libc falls back). */
static int deny_namespaces(void) {
#if defined(__x86_64__)
    const unsigned nsmask = CLONE_NEWNS | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS |
                            CLONE_NEWCGROUP;
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_unshare, 6, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_setns, 5, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mount, 4, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3, 4, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 4),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, nsmask, 0, 2),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {(unsigned short)(sizeof f / sizeof f[0]), f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) return -1;
    return unshare(CLONE_NEWNET) != 0 && errno == EPERM ? 0 : -1;
#else
    return -1;
#endif
}

static long landlock_abi(void) {
    return syscall(444 /* landlock_create_ruleset */, NULL, 0, 1u /* LANDLOCK_CREATE_RULESET_VERSION */);
}

static void mode_fallback_child(void) {
    /* A tool that passed its isolation check at creation, then namespaces go away. */
    AfTool *before = host_isolates ? make_tool_mode(AF_PY_ISOLATION_REQUIRED, 1, 10, 256, 4096, 64) : NULL;
    if (deny_namespaces() != 0) {
        fprintf(stderr, "SKIP fallback: cannot install the seccomp filter here\n");
        _exit(77);
    }
    AfToolResult r;
    AfPythonRunInfo info;
    if (before) {
        char flag[128];
        snprintf(flag, sizeof flag, "/tmp/af_sbx_%d_ran", (int)getpid());
        char code[256];
        snprintf(code, sizeof code, "open('%s', 'w').write('ran')\nprint('RAN')", flag);
        CHECK_EQ_INT(run(before, code, &r, &info), AF_TOOL_INFRA_ERROR);
        CHECK(info.refused);
        CHECK_STR_CONTAINS(r.text, "refused to run: tools.python.isolation=required");
        CHECK_MSG(strstr(r.text, "RAN") == NULL, "the code ran: %s", r.text);
        struct stat sb;
        CHECK_MSG(stat(flag, &sb) != 0, "the refused code wrote %s", flag);
        unlink(flag);
        af_tool_result_free(&r);
        af_python_tool_destroy(before);
    }
    /* Fail closed at creation, and at world creation, naming the key. */
    AfPythonToolConfig c;
    af_python_tool_config_default(&c);
    CHECK_EQ_INT(c.isolation, AF_PY_ISOLATION_REQUIRED);
    AfTool *t = NULL;
    CHECK_EQ_INT(af_python_tool_create(&c, &t), AF_ECONFIG);
    CHECK(t == NULL);
    CHECK_STR_CONTAINS(af_error_detail(), "tools.python.isolation=required");
    CHECK_STR_CONTAINS(af_error_detail(), "Operation not permitted");
    AfConfig cfg;
    af_config_defaults(&cfg);
    CHECK(af_config_apply_set(&cfg, "tools.python.enabled=true") == 0);
    AfWorld *w = NULL;
    CHECK_EQ_INT(af_world_create(&cfg, &w), AF_ECONFIG);
    CHECK_STR_CONTAINS(af_error_detail(), "tools.python.isolation");
    af_world_destroy(w);
    CHECK(af_config_apply_set(&cfg, "tools.python.isolation=best_effort") == 0);
    w = NULL;
    CHECK_MSG(af_world_create(&cfg, &w) == 0, "best_effort world: %s", af_error_detail());
    af_world_destroy(w);

    /* best_effort: the code runs, with what the host allows. */
    t = make_tool_mode(AF_PY_ISOLATION_BEST_EFFORT, 1, 10, 256, 4096, 64);
    if (!t) return;
    CHECK_EQ_INT(run(t, "print(6*7)", &r, &info), AF_TOOL_OK);
    CHECK(!info.net_isolated && !info.pid_isolated && !info.fs_readonly);
    CHECK_STR_CONTAINS(info.note, "Operation not permitted");
    af_tool_result_free(&r);
    af_python_tool_destroy(t);
    long abi = landlock_abi();
    fprintf(stderr, "  Landlock ABI %ld\n", abi);
    if (abi < 1) fprintf(stderr, "SKIP fallback write confinement: no Landlock\n");
    if (abi < 4) fprintf(stderr, "SKIP fallback network confinement: Landlock ABI < 4\n");
    hostile(AF_PY_ISOLATION_BEST_EFFORT, (Expect){abi >= 1, abi >= 4, 0});
    basics(AF_PY_ISOLATION_BEST_EFFORT);
    if (abi < 4) _exit(af_test_failures ? 1 : 77);
}

static void mode_none(void) {
    hostile(AF_PY_ISOLATION_NONE, (Expect){0, 0, 0});
    AfTool *t = make_tool_mode(AF_PY_ISOLATION_NONE, 1, 10, 256, 4096, 64);
    if (!t) return;
    AfToolResult r;
    AfPythonRunInfo info;
    CHECK_EQ_INT(run(t, "print(6*7)", &r, &info), AF_TOOL_OK);
    CHECK(!info.net_isolated && !info.pid_isolated && !info.fs_readonly && !info.landlock_fs);
    CHECK_STR_CONTAINS(info.note, "tools.python.isolation=none");
    af_tool_result_free(&r);
    af_python_tool_destroy(t);
}

/* No /proc for the supervisor (as root): the setsid'd double-forked sleep is still killed,
 * through its throwaway uid. The parent checks, since this child sees an empty /proc. */
static char noproc_marker[64];

static void mode_noproc_child(void) {
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("tmpfs", "/proc", "tmpfs", 0, "size=64k") != 0) {
        fprintf(stderr, "SKIP noproc: cannot hide /proc here\n");
        _exit(77);
    }
    AfTool *t = make_tool_mode(AF_PY_ISOLATION_NONE, 5, 30, 256, 8192, 64);
    if (!t) return;
    char code[1024];
    snprintf(code, sizeof code,
             "import os, time\npid = os.fork()\nif pid == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
             "        print('sleeper', flush=True)\n        os.execv('/bin/sleep', ['%s', '300'])\n"
             "    os._exit(0)\nos.waitpid(pid, 0)\ntime.sleep(0.2)\nprint('spawned', flush=True)\n",
             noproc_marker);
    AfToolResult r;
    AfPythonRunInfo info;
    CHECK_EQ_INT(run(t, code, &r, &info), AF_TOOL_OK);
    CHECK_STR_CONTAINS(r.text, "sleeper");
    CHECK_EQ_INT(info.swept, -1); /* the supervisor found no /proc */
    af_tool_result_free(&r);
    af_python_tool_destroy(t);
}

/* The tool's settings come from the configuration schema, and bad settings are refused. */
static void config_checks(void) {
    AfConfig def;
    af_config_defaults(&def);
    AfPythonToolConfig c;
    af_python_tool_config_default(&c);
    CHECK_EQ_INT(c.mem_mb, def.tools.python.mem_mb);
    CHECK_EQ_INT(c.output_bytes, def.tools.python.output_bytes);
    CHECK_EQ_INT(c.disk_mb, def.tools.python.disk_mb);
    CHECK(c.cpu_s == def.tools.python.cpu_s && c.wall_s == def.tools.python.wall_s);
    CHECK(strcmp(c.python, def.tools.python.interpreter) == 0);
    CHECK_EQ_INT(c.isolation, AF_PY_ISOLATION_REQUIRED);
    CHECK_EQ_INT(c.mem_mb, 256); /* the schema's values, as issue 15 found them */
    CHECK_EQ_INT(c.output_bytes, 65536);
    AfConfig cfg;
    af_config_defaults(&cfg);
    CHECK(af_config_apply_set(&cfg, "tools.python.isolation=none") == 0);
    CHECK(af_config_apply_set(&cfg, "tools.python.disk_mb=7") == 0);
    CHECK(af_config_apply_set(&cfg, "tools.python.mem_mb=300") == 0);
    CHECK_EQ_INT(af_config_apply_set(&cfg, "tools.python.isolation=maybe"), AF_ECONFIG);
    /* The schema's bounds are the tool's: a value the config accepts, the tool accepts. */
    CHECK_EQ_INT(af_config_apply_set(&cfg, "tools.python.mem_mb=16"), AF_ECONFIG);
    CHECK_EQ_INT(af_config_apply_set(&cfg, "tools.python.disk_mb=0"), AF_ECONFIG);
    CHECK_EQ_INT(af_python_tool_config_from(&c, &cfg), 0);
    CHECK_EQ_INT(c.isolation, AF_PY_ISOLATION_NONE);
    CHECK_EQ_INT(c.disk_mb, 7);
    CHECK_EQ_INT(c.mem_mb, 300);
    cfg.tools.python.isolation = 7; /* not a choice: a hand-built configuration */
    CHECK_EQ_INT(af_python_tool_config_from(&c, &cfg), AF_ECONFIG);
    CHECK_STR_CONTAINS(af_error_detail(), "tools.python.isolation");

    AfTool *t = NULL;
    af_python_tool_config_default(&c);
    snprintf(c.python, sizeof c.python, "/nonexistent/python3");
    CHECK_EQ_INT(af_python_tool_create(&c, &t), AF_ECONFIG);
    CHECK_STR_CONTAINS(af_error_detail(), "tools.python.interpreter");
    af_python_tool_config_default(&c);
    c.cpu_s = 0;
    CHECK_EQ_INT(af_python_tool_create(&c, &t), AF_ECONFIG);
    CHECK_STR_CONTAINS(af_error_detail(), "tools.python.cpu_s");
    af_python_tool_config_default(&c);
    c.disk_mb = 0;
    CHECK_EQ_INT(af_python_tool_create(&c, &t), AF_ECONFIG);
    CHECK_STR_CONTAINS(af_error_detail(), "tools.python.disk_mb");
    CHECK(t == NULL);
    af_python_tool_destroy(NULL);
}

int main(int argc, char **argv) {
    /* test_python_isolation_cli.sh: run a command where namespaces are denied. */
    if (argc > 2 && strcmp(argv[1], "--exec-without-namespaces") == 0) {
        if (deny_namespaces() != 0) return 77;
        execv(argv[2], argv + 2);
        perror(argv[2]);
        return 1;
    }
    int fds0 = count_fds();
    config_checks();

    AfPythonToolConfig c;
    af_python_tool_config_default(&c);
    AfTool *probe = NULL;
    host_isolates = af_python_tool_create(&c, &probe) == 0;
    char why[512];
    snprintf(why, sizeof why, "%s", host_isolates ? "" : af_error_detail());
    af_python_tool_destroy(probe);
    fprintf(stderr, "== isolated (required)\n");
    if (host_isolates) mode_isolated();
    else skip("isolated", why);

    fprintf(stderr, "== root without CAP_SYS_ADMIN\n");
    if (geteuid() != 0) skip("nocap", "not root");
    else if (!host_isolates) skip("nocap", why);
    else in_child("nocap", mode_nocap_child);

    fprintf(stderr, "== an ordinary user\n");
    if (geteuid() != 0) skip("user", "run as root to test as nobody (this user was tested above)");
    else in_child("user", mode_user_child);

    fprintf(stderr, "== namespaces denied by seccomp: required fails closed, best_effort\n");
    in_child("fallback", mode_fallback_child);

    fprintf(stderr, "== none\n");
    mode_none();

    fprintf(stderr, "== none, the supervisor without /proc\n");
    snprintf(noproc_marker, sizeof noproc_marker, "af_sbx_marker_%d_noproc", (int)getpid());
    if (geteuid() != 0) {
        skip("noproc", "not root");
    } else {
        in_child("noproc", mode_noproc_child);
        CHECK_MSG(count_leftovers(0, noproc_marker) == 0, "a setsid'd double-forked sleep outlived the call without /proc");
    }

    CHECK_MSG(count_fds() == fds0, "descriptors leaked: %d before, %d after", fds0, count_fds());
    fprintf(stderr, "%s: %d checks, %d failed, %d modes skipped\n", __FILE__, af_test_checks, af_test_failures, skipped);
    return af_test_failures ? 1 : skipped ? 77 : 0;
}
