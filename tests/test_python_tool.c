/* The `python` tool's sandbox: normal code, errors, and hostile code (infinite loop, fork
 * bomb, memory bomb, writes outside its directory, network access), each ending within its
 * limits with a recorded status; no process, zombie, descriptor or directory left behind. */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "env/python_tool.h"
#include "tests/test_util.h"

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

/* Processes (other than us) whose parent is us, or that run as `uid` (if uid != 0). */
static int count_leftovers(unsigned uid) {
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
        int have_uid = 0;
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "PPid:", 5) == 0) ppid = strtol(line + 5, NULL, 10);
            if (strncmp(line, "Uid:", 4) == 0) have_uid = sscanf(line + 4, "%u", &ruid) == 1;
        }
        fclose(f);
        if (ppid == (long)getpid()) n++;
        if (uid != 0 && have_uid && ruid == uid) n++;
    }
    closedir(d);
    return n;
}

static AfTool *make_tool(double cpu_s, double wall_s, int mem_mb, size_t output_bytes) {
    AfPythonToolConfig c;
    af_python_tool_config_default(&c);
    c.cpu_s = cpu_s;
    c.wall_s = wall_s;
    c.mem_mb = mem_mb;
    c.output_bytes = output_bytes;
    c.max_procs = 16;
    AfTool *t = NULL;
    int rc = af_python_tool_create(&c, &t);
    CHECK_MSG(rc == 0, "create: %s", af_error_detail());
    return t;
}

static AfToolStatus run(AfTool *t, const char *code, AfToolResult *r, AfPythonRunInfo *info) {
    int rc = t->call(t, code, 0, r);
    CHECK_MSG(rc == 0, "call returned %d: %s", rc, af_error_detail());
    CHECK(r->text != NULL);
    af_python_tool_last_run(t, info);
    struct stat sb;
    CHECK_MSG(stat(info->dir, &sb) != 0, "private directory %s left behind", info->dir);
    CHECK_MSG(count_leftovers(info->uid_dropped ? info->uid : 0) == 0, "processes left after: %s", code);
    fprintf(stderr, "  [%s] %-11s wall %.2fs cpu %.2fs net_iso %d pid_iso %d fs_ro %d uid %u | %.80s\n",
            t->name, af_tool_status_name(r->status), info->wall_s, info->cpu_s, info->net_isolated,
            info->pid_isolated, info->fs_readonly, info->uid, r->text ? r->text : "");
    return r->status;
}

int main(void) {
    int fds0 = count_fds();
    /* A distant wall limit: on a loaded machine the sandbox start alone can take seconds. */
    AfTool *t = make_tool(1, 60, 256, 4096);
    AfTool *t2 = make_tool(2, 1.5, 256, 2048); /* short wall clock */
    if (!t) TEST_MAIN_END();
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

    /* Infinite loop: the CPU limit (1 s) ends it before the wall limit. The wall limit is
     * far away (60 s) so a loaded machine, where 1 s of CPU can take many seconds of wall
     * clock, cannot turn this into a wall-clock timeout. */
    AfTool *t_cpu = make_tool(1, 60, 256, 4096);
    CHECK(t_cpu != NULL);
    if (t_cpu) CHECK_EQ_INT(run(t_cpu, "while True: pass", &r, &info), AF_TOOL_TIMEOUT);
    af_python_tool_destroy(t_cpu);
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

    /* Write outside the private directory. */
    char outside[128];
    snprintf(outside, sizeof outside, "/tmp/af_sandbox_escape_%d", (int)getpid());
    unlink(outside);
    char code[512];
    snprintf(code, sizeof code, "open('%s', 'w').write('escaped')", outside);
    AfToolStatus st = run(t, code, &r, &info);
    if (info.fs_readonly || info.uid_dropped) {
        CHECK_EQ_INT(st, AF_TOOL_ERROR);
        CHECK_STR_CONTAINS(r.text, "Error");
    } else {
        fprintf(stderr, "SKIP write-outside check: %s\n", info.note);
    }
    af_tool_result_free(&r);
    CHECK_EQ_INT(run(t, "open('../af_escape_rel', 'w').write('escaped')", &r, &info), info.fs_readonly ? AF_TOOL_ERROR : r.status);
    CHECK_STR_CONTAINS(r.text, info.fs_readonly ? "Read-only file system" : "");
    af_tool_result_free(&r);
    struct stat sb;
    if (info.fs_readonly) {
        CHECK_MSG(stat(outside, &sb) != 0, "%s was written by the sandbox", outside);
        CHECK(stat("/tmp/af_escape_rel", &sb) != 0);
    }
    unlink(outside);

    /* Network: connect to a listening socket on 127.0.0.1 from inside; it must not arrive. */
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    CHECK(ls >= 0 && bind(ls, (struct sockaddr *)&a, sizeof a) == 0 && listen(ls, 4) == 0 &&
          getsockname(ls, (struct sockaddr *)&a, &al) == 0);
    snprintf(code, sizeof code,
             "import socket\ns = socket.create_connection(('127.0.0.1', %d), timeout=2)\nprint('connected')",
             (int)ntohs(a.sin_port));
    st = run(t, code, &r, &info);
    int accepted = accept(ls, NULL, NULL);
    if (info.net_isolated) {
        CHECK_EQ_INT(st, AF_TOOL_ERROR);
        CHECK_STR_CONTAINS(r.text, "OSError");
        CHECK_MSG(accepted < 0, "a connection from the sandbox arrived");
    } else {
        fprintf(stderr, "SKIP network check: %s\n", info.note);
    }
    if (accepted >= 0) close(accepted);
    close(ls);
    af_tool_result_free(&r);
    af_python_tool_destroy(t);

    /* Fork bomb that swallows fork errors: the process limit holds it, the wall clock ends it. */
    t = t2;
    st = run(t, "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass", &r, &info);
    CHECK_MSG(st == AF_TOOL_TIMEOUT || st == AF_TOOL_ERROR, "fork bomb status %s", af_tool_status_name(st));
    af_tool_result_free(&r);
    /* The plain fork bomb dies of its own BlockingIOError once the process limit is reached. */
    st = run(t, "import os\nwhile True:\n    os.fork()", &r, &info);
    CHECK_MSG(st == AF_TOOL_TIMEOUT || st == AF_TOOL_ERROR, "fork bomb status %s", af_tool_status_name(st));
    af_tool_result_free(&r);

    /* Code too long, missing interpreter, bad config. */
    char *big = malloc(200000);
    memset(big, '#', 199999);
    big[199999] = '\0';
    CHECK_EQ_INT(run(t, big, &r, &info), AF_TOOL_ERROR);
    CHECK_STR_CONTAINS(r.text, "more than the limit");
    af_tool_result_free(&r);
    free(big);
    af_python_tool_destroy(t);

    AfPythonToolConfig c;
    af_python_tool_config_default(&c);
    c.python = "/nonexistent/python3";
    t = NULL;
    CHECK_EQ_INT(af_python_tool_create(&c, &t), AF_ECONFIG);
    CHECK_STR_CONTAINS(af_error_detail(), "tools.python.python");
    af_python_tool_config_default(&c);
    c.cpu_s = 0;
    CHECK_EQ_INT(af_python_tool_create(&c, &t), AF_ECONFIG);
    CHECK_STR_CONTAINS(af_error_detail(), "tools.python.cpu_s");
    af_python_tool_config_default(&c);
    c.python = "/bin/false"; /* runs, exits 1 */
    CHECK_EQ_INT(af_python_tool_create(&c, &t), 0);
    CHECK_EQ_INT(run(t, "print(1)", &r, &info), AF_TOOL_ERROR);
    af_tool_result_free(&r);
    af_python_tool_destroy(t);
    af_python_tool_destroy(NULL);

    CHECK_MSG(count_fds() == fds0, "descriptors leaked: %d before, %d after", fds0, count_fds());
    TEST_MAIN_END();
}
