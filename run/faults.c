/* Injected faults and stragglers (see faults.h). */
#include "run/faults.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "common/rng.h"

int af_fault_fail_rollouts(void) {
    const char *e = getenv("AF_FAULT_FAIL_ROLLOUTS");
    return e && *e == '1';
}

int af_fault_garbage_count(int rank) {
    const char *e = getenv("AF_FAULT_GARBAGE");
    int r = -1, n = 0;
    if (!e || sscanf(e, "%d:%d", &r, &n) != 2 || r != rank || n <= 0) return 0;
    return n > 100000 ? 100000 : n;
}

void af_fault_signal(int rank, const char *phase, uint32_t it) {
    const char *e = getenv("AF_FAULT_SIGNAL");
    char ph[16];
    unsigned at = 0;
    if (!e || rank != 0 || sscanf(e, "%15[a-z]:%u", ph, &at) != 2) return;
    if (at == it && !strcmp(ph, phase)) raise(SIGTERM);
}

int af_fault_send_garbage(const AfTrajLimits *lim_in, uint64_t seed, const Agentflow__Trajectory *t, int dest, int n) {
    Agentflow__Trajectory *c = NULL;
    AfTrajDecoder *dec = NULL;
    AfTrajLimits lim = *lim_in;
    lim.iteration_min = lim.iteration_max = t->iteration;
    lim.version_min = lim.version_max = t->policy_version;
    size_t cap = af_traj_max_bytes(&lim) + 64, len = 0;
    uint8_t *buf = malloc(cap), *good = malloc(cap);
    int rc = buf && good ? af_traj_clone(t, &c) : af_error_set(AF_ENOMEM, "garbage");
    if (rc == 0) rc = af_traj_decoder_create(&lim, &dec);
    if (rc == 0) {
        c->iteration = t->iteration + 1000; /* the base of every mutated copy: never valid */
        rc = af_traj_encode(c, good, cap, &len);
    }
    AfRng r;
    af_rng_init(&r, seed, AF_RNG_FAULT, t->iteration, t->query_index, t->sample_index);
    for (int i = 0; rc == 0 && i < n; i++) {
        size_t m = len;
        memcpy(buf, good, len);
        switch (i % 4) {
        case 0: /* random bytes */
            m = 1 + af_rng_below(&r, 512);
            for (size_t k = 0; k < m; k++) buf[k] = (uint8_t)af_rng_u32(&r);
            break;
        case 1: /* flipped bytes */
            for (int f = 0; f < 4; f++) buf[af_rng_below(&r, (uint32_t)m)] ^= (uint8_t)(1u + af_rng_below(&r, 255));
            break;
        case 2: /* truncated */
            m = af_rng_below(&r, (uint32_t)m);
            break;
        default: /* wrong iteration, as is */
            break;
        }
        Agentflow__Trajectory *out = NULL;
        if (af_traj_decode(dec, buf, m, &out, NULL) == 0) /* would be accepted: not garbage (out lives in */
            continue;                                     /* the decoder's arena: not ours to free) */
        rc = af_traj_send_bytes(buf, m, dest, MPI_COMM_WORLD);
    }
    af_traj_decoder_destroy(dec);
    af_traj_free(c);
    free(buf), free(good);
    return rc;
}

void af_fault_straggle(const AfConfig *c, uint32_t iteration, uint32_t query, uint32_t sample, double episode_s) {
    if (c->rollout.slow_fraction <= 0.0) return;
    AfRng r;
    af_rng_init(&r, (uint64_t)c->run.seed, AF_RNG_FAULT, iteration, query, sample);
    if (af_rng_uniform(&r) >= c->rollout.slow_fraction) return;
    double extra = (c->rollout.slow_factor - 1.0) * episode_s;
    if (extra <= 0) return;
    struct timespec ts = {(time_t)extra, (long)((extra - (double)(time_t)extra) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}
