/* Progress arithmetic and the status line (see progress.h). */
#include "common/progress.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/mpi_env.h"

#define AF_PROGRESS_PLAIN_INTERVAL_S 10.0
#define AF_PROGRESS_TTY_INTERVAL_S 0.2

double af_progress_rate(double done, double elapsed_s) {
    return done > 0 && elapsed_s > 0 ? done / elapsed_s : 0.0;
}

double af_progress_eta(double done, double total, double elapsed_s) {
    if (done >= total) return 0.0;
    double r = af_progress_rate(done, elapsed_s);
    return r > 0 ? (total - done) / r : -1.0;
}

AfTrainEta af_progress_train_eta(uint64_t done, uint64_t iterations, double s_per_iteration, double elapsed_s,
                                 double time_limit_s) {
    AfTrainEta e = {.iterations_left = done < iterations ? iterations - done : 0, .seconds_left = -1, .by_time = 0};
    if (time_limit_s > 0 && e.iterations_left > 0) {
        if (elapsed_s >= time_limit_s) { /* stops after the iteration that is ending */
            e.iterations_left = 0;
            e.by_time = 1;
        } else if (s_per_iteration > 0) {
            double k = ceil((time_limit_s - elapsed_s) / s_per_iteration);
            if (k < (double)e.iterations_left) {
                e.iterations_left = (uint64_t)k;
                e.by_time = 1;
            }
        }
    }
    if (e.iterations_left == 0) e.seconds_left = 0;
    else if (s_per_iteration > 0) e.seconds_left = (double)e.iterations_left * s_per_iteration;
    return e;
}

char *af_progress_duration(double s, char *buf, size_t cap) {
    if (!isfinite(s) || s < 0) {
        snprintf(buf, cap, "?");
        return buf;
    }
    unsigned long long t = (unsigned long long)llround(s);
    if (t < 60) snprintf(buf, cap, "%llus", t);
    else if (t < 3600) snprintf(buf, cap, "%llum%02llus", t / 60, t % 60);
    else if (t < 86400) snprintf(buf, cap, "%lluh%02llum", t / 3600, t % 3600 / 60);
    else snprintf(buf, cap, "%llud%02lluh", t / 86400, t % 86400 / 3600);
    return buf;
}

void af_progress_begin(AfProgress *p, const char *label, const char *unit, double total) {
    memset(p, 0, sizeof *p);
    snprintf(p->label, sizeof p->label, "%s", label);
    snprintf(p->unit, sizeof p->unit, "%s", unit);
    p->total = total;
    p->t0 = p->last = af_time_now();
    p->interval_s = af_log_is_tty() ? AF_PROGRESS_TTY_INTERVAL_S : AF_PROGRESS_PLAIN_INTERVAL_S;
}

int af_progress_format(const AfProgress *p, double done, double now, char *buf, size_t cap) {
    const double el = now - p->t0, rate = af_progress_rate(done, el);
    char eta[32], ela[32];
    af_progress_duration(af_progress_eta(done, p->total, el), eta, sizeof eta);
    af_progress_duration(el, ela, sizeof ela);
    return snprintf(buf, cap, "%s %.0f/%.0f %s %3.0f%% | ETA %s | %.3g %s/s, elapsed %s", p->label, done, p->total,
                    p->unit, p->total > 0 ? 100.0 * done / p->total : 100.0, eta, rate, p->unit, ela);
}

void af_progress_update(AfProgress *p, double done, int force) {
    const double now = af_time_now();
    if (!force && now - p->last < p->interval_s) return;
    if (!af_log_progress_enabled()) return;
    char line[256];
    af_progress_format(p, done, now, line, sizeof line);
    af_log_status(line, 0);
    p->last = now;
    p->printed = 1;
}

void af_progress_end(AfProgress *p, double done) {
    if (!p->printed || !af_log_progress_enabled()) return;
    char line[256];
    af_progress_format(p, done, af_time_now(), line, sizeof line);
    af_log_status(line, 1);
}
