/* Monotonic deadlines and the thread's current one (see deadline.h). */
#include "common/deadline.h"

#include <time.h>

static _Thread_local double thread_deadline = 0;

double af_mono_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double af_deadline_min(double a, double b) {
    if (!(a > 0)) return b > 0 ? b : 0;
    if (!(b > 0)) return a;
    return a < b ? a : b;
}

double af_deadline_thread(void) { return thread_deadline; }

double af_deadline_thread_set(double deadline) {
    double prev = thread_deadline;
    thread_deadline = deadline > 0 ? deadline : 0;
    return prev;
}

double af_deadline_clip(double timeout_s) {
    if (!(thread_deadline > 0)) return timeout_s;
    double left = thread_deadline - af_mono_now();
    if (left < 1e-3) left = 1e-3;
    return timeout_s > 0 && timeout_s < left ? timeout_s : left;
}
