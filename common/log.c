/* Leveled, rank-prefixed logging to stderr. */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int log_rank = 0;
static AfLogLevel log_level = AF_LOG_INFO;
static AfProgressMode log_progress = AF_PROGRESS_RANK0;

static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const char *const level_tags[] = {"ERROR", "WARN", "INFO", "DEBUG"};

int af_log_level_parse(const char *name) {
    for (int i = 0; i < 4; i++)
        if (name && strcmp(name, level_names[i]) == 0) return i;
    return -1;
}

void af_log_setup(int rank, AfLogLevel level, AfProgressMode progress) {
    const char *env = getenv("AF_LOG_LEVEL");
    int from_env = af_log_level_parse(env);
    log_rank = rank;
    log_level = from_env >= 0 ? (AfLogLevel)from_env : level;
    log_progress = progress;
}

int af_log_enabled(AfLogLevel level) { return level <= log_level; }

static int status_active; /* a status line is on the terminal, without its newline */

static void emit(const char *tag, const char *fmt, va_list ap) {
    char line[4096];
    if (status_active) { /* a log line replaces the status line; the next update redraws it */
        fputs("\r\033[K", stderr);
        status_active = 0;
    }
    int n = snprintf(line, sizeof line, "[agentflow r%d %s] ", log_rank, tag);
    if (n < 0) return;
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    if (m < 0) return;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof line - 2) len = sizeof line - 2;
    line[len++] = '\n';
    fwrite(line, 1, len, stderr);
    fflush(stderr);
}

void af_log(AfLogLevel level, const char *fmt, ...) {
    if (!af_log_enabled(level)) return;
    va_list ap;
    va_start(ap, fmt);
    emit(level_tags[level], fmt, ap);
    va_end(ap);
}

void af_log_progress(const char *fmt, ...) {
    if (log_progress == AF_PROGRESS_NONE) return;
    if (log_progress == AF_PROGRESS_RANK0 && log_rank != 0) return;
    va_list ap;
    va_start(ap, fmt);
    emit("progress", fmt, ap);
    va_end(ap);
}

int af_log_progress_enabled(void) {
    return log_progress == AF_PROGRESS_ALL || (log_progress == AF_PROGRESS_RANK0 && log_rank == 0);
}

int af_log_is_tty(void) {
    static int tty = -1;
    if (tty < 0) tty = isatty(STDERR_FILENO) ? 1 : 0;
    return tty;
}

void af_log_status(const char *text, int final) {
    if (!af_log_progress_enabled()) return;
    if (!af_log_is_tty()) {
        af_log_progress("%s", text);
        return;
    }
    /* cut to the terminal's width: a wrapped line cannot be rewritten in place */
    char line[1024];
    int n = snprintf(line, sizeof line, "[agentflow r%d progress] %s", log_rank, text);
    struct winsize ws;
    if (n > 0 && ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1 && (size_t)ws.ws_col - 1 < sizeof line &&
        n > ws.ws_col - 1)
        line[ws.ws_col - 1] = '\0';
    fprintf(stderr, "\r%s\033[K%s", line, final ? "\n" : "");
    fflush(stderr);
    status_active = !final;
}
