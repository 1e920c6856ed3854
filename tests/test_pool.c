/* The fork-join pool (common/pool.h), whose waits spin before they block:
 *  - every region runs fn exactly once on every thread id 0..n-1, with nt = n, and
 *    af_pool_run returns only after all of them finished (each region checks the
 *    previous one's counts), over many back-to-back regions (the spin path) and over
 *    regions separated by sleeps longer than the spin (the blocking path), at 2, 3 and
 *    4 threads; a lost wake-up hangs the test (ctest's timeout fails it);
 *  - a pool of 1 thread runs fn on the caller; bad thread counts are refused;
 *  - destroy joins workers that are blocked as well as ones that are spinning. */
#include <stdlib.h>
#include <time.h>

#include "common/error.h"
#include "common/pool.h"
#include "test_util.h"

#define MAXT 8

typedef struct {
    int hits[MAXT]; /* fn calls per tid in this region (each tid writes its own) */
    int bad_nt;     /* set when fn saw an nt other than the pool's size */
    int nt;
} Region;

static void count(void *ctx, int tid, int nt) {
    Region *r = ctx;
    if (nt != r->nt || tid < 0 || tid >= MAXT) {
        __atomic_store_n(&r->bad_nt, 1, __ATOMIC_RELAXED);
        return;
    }
    r->hits[tid]++;
    /* a little work so that the threads overlap */
    volatile double s = 0;
    for (int i = 0; i < 200 * (tid + 1); i++) s += i;
}

static void nap(long us) {
    struct timespec ts = {.tv_sec = 0, .tv_nsec = us * 1000};
    nanosleep(&ts, NULL);
}

/* n regions in a row (sleeping sleep_us between them); 1 if all were exact */
static int run_regions(AfPool *p, int nt, int n, long sleep_us) {
    int ok = 1;
    for (int i = 0; i < n; i++) {
        Region r = {.nt = nt};
        af_pool_run(p, count, &r);
        for (int t = 0; t < MAXT; t++) ok &= r.hits[t] == (t < nt ? 1 : 0);
        ok &= !r.bad_nt;
        if (sleep_us) nap(sleep_us);
    }
    return ok;
}

int main(void) {
    AfPool *p = NULL;
    CHECK_EQ_INT(af_pool_create(0, &p), AF_EINVAL);
    CHECK(p == NULL);
    CHECK_EQ_INT(af_pool_create(65, &p), AF_EINVAL);

    CHECK_EQ_INT(af_pool_create(1, &p), 0);
    CHECK_EQ_INT(af_pool_threads(p), 1);
    CHECK(run_regions(p, 1, 10, 0));
    af_pool_destroy(p);
    af_pool_destroy(NULL);

    for (int nt = 2; nt <= 4; nt++) {
        p = NULL;
        CHECK_EQ_INT(af_pool_create(nt, &p), 0);
        if (!p) continue;
        CHECK_EQ_INT(af_pool_threads(p), nt);
        CHECK_MSG(run_regions(p, nt, 5000, 0), "%d threads: back-to-back regions", nt);
        CHECK_MSG(run_regions(p, nt, 20, 2000), "%d threads: regions 2 ms apart", nt);
        CHECK_MSG(run_regions(p, nt, 2000, 0), "%d threads: back-to-back again", nt);
        if (nt == 3) nap(5000); /* destroy with the workers blocked, not spinning */
        af_pool_destroy(p);
    }
    TEST_MAIN_END();
}
