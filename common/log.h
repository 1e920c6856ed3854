/* Leveled logging with a rank prefix. Everything goes to stderr, one line per call,
 * written with a single fwrite so lines from different ranks do not interleave mid-line.
 *
 *   [agentflow r0 INFO] loaded config from launch/configs/game24.json
 *
 * Progress lines (one per iteration) are separate from the levels: by default only
 * rank 0 prints them (log.progress = "rank0"); "all" lets every rank print, "none"
 * silences them. */
#ifndef AF_COMMON_LOG_H
#define AF_COMMON_LOG_H

typedef enum { AF_LOG_ERROR = 0, AF_LOG_WARN = 1, AF_LOG_INFO = 2, AF_LOG_DEBUG = 3 } AfLogLevel;
typedef enum { AF_PROGRESS_RANK0 = 0, AF_PROGRESS_ALL = 1, AF_PROGRESS_NONE = 2 } AfProgressMode;

/* Set this process's rank (for the prefix), level and progress mode. Callable again
 * at any time (e.g. after the config is read). Before any call: rank 0, INFO, RANK0.
 * The environment variable AF_LOG_LEVEL (error|warn|info|debug), if set, overrides
 * `level`. */
void af_log_setup(int rank, AfLogLevel level, AfProgressMode progress);

/* Parse "error"/"warn"/"info"/"debug"; returns -1 for anything else. */
int af_log_level_parse(const char *name);

int af_log_enabled(AfLogLevel level);
void af_log(AfLogLevel level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* One progress line, printed subject to the progress mode. */
void af_log_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Whether this process prints progress (the progress mode and the rank). */
int af_log_progress_enabled(void);
/* Whether stderr is a terminal. */
int af_log_is_tty(void);
/* A status line (common/progress.h): on a terminal one line rewritten in place ("\r",
 * erased by the next log line, ended with a newline when `final`); otherwise a plain
 * progress line each call (the caller limits the rate). Subject to the progress mode. */
void af_log_status(const char *text, int final);

#define AF_LOG_E(...) af_log(AF_LOG_ERROR, __VA_ARGS__)
#define AF_LOG_W(...) af_log(AF_LOG_WARN, __VA_ARGS__)
#define AF_LOG_I(...) af_log(AF_LOG_INFO, __VA_ARGS__)
#define AF_LOG_D(...) do { if (af_log_enabled(AF_LOG_DEBUG)) af_log(AF_LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
