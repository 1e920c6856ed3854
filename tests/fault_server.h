/* Test helper: start tests/fault_server.py on 127.0.0.1 (it prints its port and exits when
 * its stdin closes), and ask it how many POSTs a path received. Header-only, for tests. */
#ifndef AF_TESTS_FAULT_SERVER_H
#define AF_TESTS_FAULT_SERVER_H

#include <arpa/inet.h>
#include <libgen.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
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

/* The "count" of a GET reply of the server; -1 if it cannot tell. A plain HTTP/1.0 GET
 * over a socket (spawning a client per question was the slow part). `arg` (may be NULL)
 * is appended URL-encoded. */
static inline int fault_server_get_count(const FaultServer *s, const char *path, const char *arg) {
    char req[2048];
    size_t n = (size_t)snprintf(req, sizeof req, "GET %s", path);
    for (const unsigned char *p = (const unsigned char *)(arg ? arg : ""); *p && n + 8 < sizeof req; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("-_.~", *p))
            req[n++] = (char)*p;
        else n += (size_t)snprintf(req + n, sizeof req - n, "%%%02X", *p);
    }
    n += (size_t)snprintf(req + n, sizeof req - n, " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char buf[4096];
    size_t got = 0;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && write(fd, req, n) == (ssize_t)n) {
        ssize_t k;
        while (got + 1 < sizeof buf && (k = read(fd, buf + got, sizeof buf - 1 - got)) > 0) got += (size_t)k;
    }
    close(fd);
    buf[got] = '\0';
    const char *c = strstr(buf, "\"count\": ");
    return c ? atoi(c + 9) : -1;
}

/* POSTs the server saw for a path with its query string; -1 if it cannot tell. */
static inline int fault_server_count(const FaultServer *s, const char *path_query) {
    return fault_server_get_count(s, "/count?key=", path_query);
}

/* TCP connections the server has accepted so far (its own GETs included); -1 if unknown. */
static inline int fault_server_connections(const FaultServer *s) {
    return fault_server_get_count(s, "/connections", NULL);
}

#endif
