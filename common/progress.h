/* Progress with an ETA for long phases (the warm start, the training iterations, an
 * evaluation): the arithmetic as pure functions (tests/test_progress.c), and a status
 * line that rewrites itself on a terminal and prints plain, rate-limited lines otherwise
 * (common/log.h af_log_status). */
#ifndef AF_COMMON_PROGRESS_H
#define AF_COMMON_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

/* Units per second after `done` units in `elapsed_s` seconds; 0 when either is <= 0. */
double af_progress_rate(double done, double elapsed_s);

/* Seconds left for `total` units at the rate so far; -1 (unknown) before any unit is
 * done or when elapsed_s <= 0; 0 when done >= total. */
double af_progress_eta(double done, double total, double elapsed_s);

/* Where a training run ends: run.iterations or run.time_limit_s, whichever comes first.
 * The time limit is checked after each iteration (run/train.c): the run stops after the
 * first iteration that ends at or past it. */
typedef struct AfTrainEta {
    uint64_t iterations_left; /* iterations still to run */
    double seconds_left;      /* iterations_left * seconds per iteration; -1 unknown */
    int by_time;              /* 1 when the time limit ends the run first */
} AfTrainEta;

/* done: iterations completed (of `iterations`); s_per_iteration: the mean so far (<= 0:
 * unknown); elapsed_s: seconds since the time limit's clock started; time_limit_s <= 0:
 * none. */
AfTrainEta af_progress_train_eta(uint64_t done, uint64_t iterations, double s_per_iteration, double elapsed_s,
                                 double time_limit_s);

/* A duration for humans: "42s", "3m05s", "1h02m", "2d03h"; "?" when negative or not
 * finite. Returns buf. */
char *af_progress_duration(double seconds, char *buf, size_t cap);

/* A status line "<label> <done>/<total> <unit> <pct>% | ETA <d> | <rate> <unit>/s, elapsed <d>" for a phase
 * of `total` units. Not thread-safe; one per phase. */
typedef struct AfProgress {
    char label[64];
    char unit[16];       /* "steps", "questions", ... */
    double total;
    double t0;           /* af_time_now() at begin */
    double last;         /* when the last line was printed */
    double interval_s;   /* plain lines: at most one per interval (terminal: 5 per second) */
    int printed;         /* a line was printed */
} AfProgress;

void af_progress_begin(AfProgress *p, const char *label, const char *unit, double total);
/* Prints the line if it is due (or `force`). */
void af_progress_update(AfProgress *p, double done, int force);
/* The final line (with its newline on a terminal), if any line was printed: a phase too
 * short for one update stays silent. */
void af_progress_end(AfProgress *p, double done);

/* Formats the line into buf (for tests and callers that print it their way). */
int af_progress_format(const AfProgress *p, double done, double now, char *buf, size_t cap);

#endif
