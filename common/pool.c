/* Fork-join thread pool (see pool.h): a generation counter under a mutex starts a
 * region, a countdown ends it. */
#include "common/pool.h"

#include <pthread.h>
#include <stdlib.h>

#include "common/error.h"

struct AfPool {
    int n;
    pthread_t *th;
    pthread_mutex_t mu;
    pthread_cond_t start, done;
    unsigned long gen;
    int remaining, stop;
    void (*fn)(void *, int, int);
    void *ctx;
};

typedef struct {
    AfPool *p;
    int tid;
} Worker;


static void *worker_main(void *arg) {
    Worker *w = arg;
    AfPool *p = w->p;
    int tid = w->tid;
    free(w);
    unsigned long seen = 0;
    for (;;) {
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
        pthread_mutex_lock(&p->mu);
        if (--p->remaining == 0) pthread_cond_signal(&p->done);
        pthread_mutex_unlock(&p->mu);
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
    p->stop = 1;
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
    p->remaining = p->n - 1;
    p->gen++;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);
    fn(ctx, 0, p->n);
    pthread_mutex_lock(&p->mu);
    while (p->remaining > 0) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
