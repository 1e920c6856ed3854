/* Deadlines: absolute CLOCK_MONOTONIC times by which a call must end, and the calling
 * thread's current deadline, which an episode sets for everything it calls (tools and
 * module backends reached through common/http.h honour it without an extra argument).
 *
 * A deadline of 0 means "none". Episodes run one per thread (an actor's episode runs
 * start to finish on the thread that began it), so a thread-local deadline is the
 * episode's. */
#ifndef AF_COMMON_DEADLINE_H
#define AF_COMMON_DEADLINE_H

/* Seconds on CLOCK_MONOTONIC (the clock of every deadline). */
double af_mono_now(void);

/* The earlier of two deadlines, where 0 is "none". */
double af_deadline_min(double a, double b);

/* The calling thread's deadline (0 = none). */
double af_deadline_thread(void);

/* Sets the calling thread's deadline (0 = none) and returns the previous one, so a
 * caller can restore it. */
double af_deadline_thread_set(double deadline);

/* A per-call timeout cut to what the calling thread's deadline leaves: min(timeout_s,
 * deadline - now), and at least 1 ms (never 0: a timeout <= 0 means "the default" to
 * tools). timeout_s <= 0 with a deadline gives the time left; without a deadline
 * timeout_s is returned unchanged. */
double af_deadline_clip(double timeout_s);

#endif
