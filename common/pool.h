/* A small persistent thread pool for fork-join regions inside a step (decode), so that
 * a region costs a condition-variable wake-up rather than a thread start. Idle workers
 * and the waiting caller spin for about 50 us before they block, so regions that follow
 * each other within microseconds do not wait for a wake-up; a pool idle for longer
 * costs no CPU. */
#ifndef AF_COMMON_POOL_H
#define AF_COMMON_POOL_H

typedef struct AfPool AfPool;

/* Start `nthreads - 1` worker threads (the caller is thread 0). nthreads in 1..64.
 * Returns 0, AF_EINVAL, AF_ENOMEM (thread creation failed). Caller owns *out. */
int af_pool_create(int nthreads, AfPool **out);
/* Stop and join the workers. Accepts NULL. */
void af_pool_destroy(AfPool *p);
int af_pool_threads(const AfPool *p);

/* Run fn(ctx, tid, nt) on every thread (tid 0 on the caller) and return when all are
 * done. Not reentrant; one caller thread at a time. No allocation. */
void af_pool_run(AfPool *p, void (*fn)(void *ctx, int tid, int nt), void *ctx);

#endif
