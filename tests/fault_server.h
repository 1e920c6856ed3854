/* Test helper: start tests/fault_server.py on 127.0.0.1 (it prints its port and exits when
 * its stdin closes), and ask it how many POSTs a path received. Header-only, for tests. */
#ifndef AF_TESTS_FAULT_SERVER_H
#define AF_TESTS_FAULT_SERVER_H

#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct FaultServer {
    pid_t pid;
    int stdin_fd;
    int port;
    char base[64]; /* "http://127.0.0.1:<port>" */
} FaultServer;

static inline int fault_server_start(FaultServer *s, const char *this_file) {
    char src[1024], script[1100];
    snprintf(src, sizeof src, "%s", this_file);
    snprintf(script, sizeof script, "%s/fault_server.py", dirname(src));
    int in_p[2], out_p[2];
    s->pid = -1;
    s->stdin_fd = -1;
    if (pipe(in_p) || pipe(out_p)) return -1;
    s->pid = fork();
    if (s->pid < 0) return -1;
    if (s->pid == 0) {
        dup2(in_p[0], 0);
        dup2(out_p[1], 1);
        close(in_p[1]);
        close(out_p[0]);
        execl("/usr/bin/python3", "python3", script, (char *)NULL);
        _exit(127);
    }
    close(in_p[0]);
    close(out_p[1]);
    s->stdin_fd = in_p[1];
    FILE *f = fdopen(out_p[0], "r");
    char line[64] = "";
    if (!f || !fgets(line, sizeof line, f) || sscanf(line, "PORT %d", &s->port) != 1) {
        fprintf(stderr, "fault server did not start (%s)\n", script);
        if (f) fclose(f);
        return -1;
    }
    fclose(f);
    snprintf(s->base, sizeof s->base, "http://127.0.0.1:%d", s->port);
    return 0;
}

static inline void fault_server_stop(FaultServer *s) {
    if (s->stdin_fd >= 0) close(s->stdin_fd);
    if (s->pid > 0) {
        int st;
        waitpid(s->pid, &st, 0);
    }
    s->stdin_fd = -1;
    s->pid = -1;
}

/* POSTs the server saw for a path with its query string; -1 if it cannot tell. */
static inline int fault_server_count(const FaultServer *s, const char *path_query) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import json,sys,urllib.request,urllib.parse;"
             "print(json.load(urllib.request.urlopen('%s/count?key='+urllib.parse.quote(sys.argv[1])))['count'])\" '%s'",
             s->base, path_query);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p) {
        if (fscanf(p, "%d", &n) != 1) n = -1;
        pclose(p);
    }
    return n;
}

#endif
