/* Fork-join thread pool (see pool.h): a generation counter under a mutex starts a
 * region, a countdown ends it. Both sides spin briefly before they block: a decode
 * step runs a region per matrix product (about a hundred per step of a 24-layer
 * model) with microseconds of serial work between them, less than a condition
 * variable's wake-up. */
#include "common/pool.h"

#include <pthread.h>
#include <stdlib.h>

#include "common/error.h"

struct AfPool {
    int n;
    pthread_t *th;
    pthread_mutex_t mu;
    pthread_cond_t start, done;
    unsigned long gen;  /* written under mu; read by spinning workers atomically */
    int remaining, stop; /* remaining: decremented atomically, read by the spinning caller */
    void (*fn)(void *, int, int);
    void *ctx;
};

typedef struct {
    AfPool *p;
    int tid;
} Worker;

/* Pauses a waiter spins before it blocks: about 50 us on a CPU whose pause takes 140
 * cycles (Intel since Skylake), a few us on others. */
#define POOL_SPIN 1000

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}


static void *worker_main(void *arg) {
    Worker *w = arg;
    AfPool *p = w->p;
    int tid = w->tid;
    free(w);
    unsigned long seen = 0;
    for (;;) {
        for (int i = 0; i < POOL_SPIN && __atomic_load_n(&p->gen, __ATOMIC_ACQUIRE) == seen &&
                        !__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE);
             i++)
            cpu_relax();
        pthread_mutex_lock(&p->mu);
        while (p->gen == seen && !p->stop) pthread_cond_wait(&p->start, &p->mu);
        if (p->stop) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        seen = p->gen;
        void (*fn)(void *, int, int) = p->fn;
        void *ctx = p->ctx;
        pthread_mutex_unlock(&p->mu);
        fn(ctx, tid, p->n);
        if (__atomic_sub_fetch(&p->remaining, 1, __ATOMIC_ACQ_REL) == 0) {
            /* under mu: the caller checks remaining and waits under it, so the signal
             * cannot fall between its check and its wait */
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

int af_pool_create(int nthreads, AfPool **out) {
    *out = NULL;
    if (nthreads < 1 || nthreads > 64)
        return af_error_set(AF_EINVAL, "af_pool_create: nthreads %d outside 1..64", nthreads);
    AfPool *p = calloc(1, sizeof *p);
    if (!p) return af_error_set(AF_ENOMEM, "af_pool_create: out of memory");
    p->n = 1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->start, NULL);
    pthread_cond_init(&p->done, NULL);
    p->th = calloc((size_t)nthreads, sizeof *p->th);
    if (!p->th) goto fail;
    for (int t = 1; t < nthreads; t++) {
        Worker *w = malloc(sizeof *w);
        if (!w) goto fail;
        w->p = p;
        w->tid = t;
        if (pthread_create(&p->th[t], NULL, worker_main, w) != 0) {
            free(w);
            goto fail;
        }
        p->n = t + 1;
    }
    *out = p;
    return 0;
fail:
    af_pool_destroy(p);
    return af_error_set(AF_ENOMEM, "af_pool_create: cannot start %d threads", nthreads);
}

void af_pool_destroy(AfPool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    __atomic_store_n(&p->stop, 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);
    for (int t = 1; t < p->n; t++) pthread_join(p->th[t], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->start);
    pthread_cond_destroy(&p->done);
    free(p->th);
    free(p);
}

int af_pool_threads(const AfPool *p) { return p ? p->n : 1; }

void af_pool_run(AfPool *p, void (*fn)(void *ctx, int tid, int nt), void *ctx) {
    if (!p || p->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    __atomic_store_n(&p->remaining, p->n - 1, __ATOMIC_RELAXED);
    __atomic_store_n(&p->gen, p->gen + 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);
    fn(ctx, 0, p->n);
    for (int i = 0; i < POOL_SPIN && __atomic_load_n(&p->remaining, __ATOMIC_ACQUIRE) > 0; i++) cpu_relax();
    pthread_mutex_lock(&p->mu);
    while (__atomic_load_n(&p->remaining, __ATOMIC_ACQUIRE) > 0) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
