/* Actor main loop: weights in, work units pulled, trajectories out. */
#include "actor/actor_loop.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/log.h"
#include "common/mpi_env.h"
#include "common/traj.h"
#include "common/weights.h"

/* The units of the current lease (both modes): q[next..n) are still to run. */
typedef struct {
    AfWorkUnit q[AF_WORK_LEASE_MAX];
    uint32_t next, n;
} Lease;

/* Takes the next unit of the lease; 0 if it is used up (then q is cleared for a new one). */
static int lease_take(Lease *l, AfWorkUnit *u) {
    if (l->next < l->n) {
        *u = l->q[l->next++];
        return 1;
    }
    l->next = l->n = 0;
    memset(l->q, 0, sizeof l->q);
    return 0;
}

/* Unit u and, with a group hook, more units of the lease after it, up to h->group:
 * us[0..*n). */
static void lease_group(const AfActorHooks *h, Lease *l, const AfWorkUnit *u, AfWorkUnit *us, size_t *n) {
    us[0] = *u;
    *n = 1;
    if (!h->run_group || h->group < 2) return;
    while (*n < h->group && *n < AF_WORK_LEASE_MAX && l->next < l->n) us[(*n)++] = l->q[l->next++];
}

/* The episodes of us[0..n) into t[0..n) (all or none), stamped as the loop sends them. */
static int run_units(const AfActorHooks *h, const AfWorkUnit *us, size_t n, uint64_t version, int rank,
                     Agentflow__Trajectory **t, AfActorStats *st) {
    double te = af_time_now();
    int rc = n == 1 ? h->run_episode(h->ctx, &us[0], version, &t[0]) : h->run_group(h->ctx, us, n, version, t);
    if (rc) return rc;
    st->episode_s += af_time_now() - te;
    st->episodes += n;
    const double cpu = af_cpu_seconds();
    for (size_t i = 0; i < n; i++) {
        t[i]->actor_cpu_s = cpu;
        t[i]->iteration = us[i].iteration;
        t[i]->slot = us[i].slot;
        t[i]->query_index = us[i].query_index;
        t[i]->sample_index = us[i].sample;
        t[i]->policy_version = version;
        t[i]->actor_rank = rank;
    }
    return 0;
}

/* A new lease arrived in q: checks its size and takes its first unit. */
static int lease_received(Lease *l, AfWorkUnit *u) {
    uint32_t n = l->q[0].lease ? l->q[0].lease : 1;
    if (n > AF_WORK_LEASE_MAX) return af_error_set(AF_EFORMAT, "actor: a lease of %u units (at most %d)", n, AF_WORK_LEASE_MAX);
    l->n = n;
    l->next = 1;
    *u = l->q[0];
    return 0;
}

/* Synchronous mode: the next unit of the lease, or a new lease from learner 0. */
static int pull(MPI_Comm world, uint32_t iteration, Lease *l, AfWorkUnit *u) {
    if (lease_take(l, u)) return 0;
    MPI_Request req[2];
    AfWorkRequest wr = {.iteration = iteration};
    int rc = af_mpi_check(MPI_Irecv(l->q, sizeof l->q, MPI_BYTE, 0, AF_TAG_WORK, world, &req[1]), "MPI_Irecv work");
    if (rc) return rc;
    rc = af_mpi_check(MPI_Isend(&wr, sizeof wr, MPI_BYTE, 0, AF_TAG_WORK_REQ, world, &req[0]),
                      "MPI_Isend work request");
    if (rc || (rc = af_mpi_waitall(2, req))) return rc;
    return lease_received(l, u);
}

/* ------------------------------------------------------------------ asynchronous mode */

#define ASYNC_SENDS 4

typedef struct AsyncActor {
    const AfActorHooks *h;
    MPI_Comm world, policy;
    int rank, learners;
    AfControl next;          /* target of the posted control broadcast */
    MPI_Request ctrl;        /* the posted control broadcast */
    uint32_t iteration;      /* of the last control message */
    uint64_t version;        /* of the weights held */
    Lease lease;             /* the current lease */
    uint8_t *buf[ASYNC_SENDS];
    MPI_Request send[ASYNC_SENDS];
    size_t buf_bytes;
    int stop;
    AfActorStats *st;
} AsyncActor;

static int post_control(AsyncActor *A) {
    return af_mpi_check(MPI_Ibcast(&A->next, sizeof A->next, MPI_BYTE, 0, A->policy, &A->ctrl), "MPI_Ibcast control");
}

/* The control message A->next has arrived: take the weights (and evaluate) or stop, then
 * post the next control broadcast. */
static int on_control(AsyncActor *A) {
    const AfActorHooks *h = A->h;
    AfControl c = A->next;
    if (c.command == AF_CTRL_STOP) {
        A->stop = 1;
        return 0;
    }
    if (c.command == AF_CTRL_REFILL) /* only dynamic sampling sends it, refused in this mode */
        return af_error_set(AF_EFORMAT, "actor rank %d: REFILL for iteration %u in asynchronous mode", A->rank, c.iteration);
    if (c.command != AF_CTRL_RUN && c.command != AF_CTRL_EVAL)
        return af_error_set(AF_EFORMAT, "actor: unknown control command %u", c.command);
    double t0 = af_time_now();
    size_t count = 0;
    uint64_t version = 0;
    int rc = af_weights_bcast(h->params, h->n_params, &count, &version, 0, A->policy, NULL, NULL);
    if (rc == 0 && count != h->n_params)
        rc = af_error_set(AF_ERANGE, "actor: received %zu weights, the policy has %zu", count, h->n_params);
    if (rc) return af_error_wrap(rc, "actor rank %d, iteration %u weights", A->rank, c.iteration);
    A->st->weights_s += af_time_now() - t0;
    A->iteration = c.iteration;
    A->version = version;
    if (h->on_weights) h->on_weights(h->ctx, version);
    if (c.command == AF_CTRL_EVAL) {
        if (!h->run_eval) return af_error_set(AF_ESTATE, "actor rank %d: EVAL without an evaluation hook", A->rank);
        if ((rc = h->run_eval(h->ctx, version))) return af_error_wrap(rc, "actor rank %d evaluation", A->rank);
    }
    return post_control(A);
}

/* The next unit: from the current lease, or asks learner 0 for a new lease (a control
 * message arriving meanwhile is handled first). */
static int pull_async(AsyncActor *A, AfWorkUnit *u) {
    if (lease_take(&A->lease, u)) return 0;
    MPI_Request r[2];
    AfWorkRequest wr = {.iteration = A->iteration, .version = A->version};
    int rc = af_mpi_check(MPI_Irecv(A->lease.q, sizeof A->lease.q, MPI_BYTE, 0, AF_TAG_WORK, A->world, &r[0]),
                          "MPI_Irecv work");
    if (rc == 0)
        rc = af_mpi_check(MPI_Isend(&wr, sizeof wr, MPI_BYTE, 0, AF_TAG_WORK_REQ, A->world, &r[1]), "MPI_Isend work request");
    if (rc) return rc;
    for (;;) {
        MPI_Request any[2] = {r[0], A->ctrl};
        int idx = MPI_UNDEFINED;
        rc = af_mpi_waitany(2, any, &idx);
        r[0] = any[0], A->ctrl = any[1]; /* the completed one is now MPI_REQUEST_NULL */
        if (rc) return rc;
        if (idx == 0) break;
        /* control first (e.g. STOP while learner 0 no longer answers, or new weights) */
        if ((rc = on_control(A))) return rc;
        if (A->stop) {
            MPI_Cancel(&r[0]);
            MPI_Wait(&r[0], MPI_STATUS_IGNORE);
            u->kind = AF_WORK_DONE;
            return af_mpi_wait(&r[1], MPI_STATUS_IGNORE);
        }
    }
    if ((rc = af_mpi_wait(&r[1], MPI_STATUS_IGNORE))) return rc;
    return lease_received(&A->lease, u);
}

static int send_async(AsyncActor *A, const Agentflow__Trajectory *t, int dest) {
    int slot = -1, rc;
    for (int i = 0; i < ASYNC_SENDS && slot < 0; i++) {
        int done = 1;
        if (A->send[i] != MPI_REQUEST_NULL &&
            (rc = af_mpi_check(MPI_Test(&A->send[i], &done, MPI_STATUS_IGNORE), "MPI_Test send")))
            return rc;
        if (done) slot = i;
    }
    if (slot < 0) {
        if ((rc = af_mpi_waitany(ASYNC_SENDS, A->send, &slot))) return rc;
    }
    size_t len = 0;
    if ((rc = af_traj_encode(t, A->buf[slot], A->buf_bytes, &len))) return rc;
    return af_mpi_check(MPI_Isend(A->buf[slot], (int)len, MPI_BYTE, dest, AF_TRAJ_TAG, A->world, &A->send[slot]),
                        "trajectory MPI_Isend");
}

static int actor_run_async(const AfActorHooks *h, MPI_Comm world, MPI_Comm policy, int learners, size_t scratch_bytes,
                           AfActorStats *st) {
    AsyncActor A;
    memset(&A, 0, sizeof A);
    A.h = h, A.world = world, A.policy = policy, A.learners = learners, A.st = st, A.buf_bytes = scratch_bytes;
    MPI_Comm_rank(world, &A.rank);
    int rc = 0;
    for (int i = 0; i < ASYNC_SENDS; i++) {
        A.send[i] = MPI_REQUEST_NULL;
        if (!(A.buf[i] = malloc(scratch_bytes))) rc = af_error_set(AF_ENOMEM, "actor send buffers");
    }
    A.ctrl = MPI_REQUEST_NULL;
    if (rc == 0) rc = post_control(&A);
    if (rc == 0 && (rc = af_mpi_wait(&A.ctrl, MPI_STATUS_IGNORE)) == 0) rc = on_control(&A);
    while (rc == 0 && !A.stop) {
        /* between episodes: newer weights, if learner 0 published them */
        int flag = 0;
        if ((rc = af_mpi_check(MPI_Test(&A.ctrl, &flag, MPI_STATUS_IGNORE), "MPI_Test control"))) break;
        if (flag) {
            if ((rc = on_control(&A)) || A.stop) break;
        }
        AfWorkUnit u;
        double tw = af_time_now();
        if ((rc = pull_async(&A, &u)) || A.stop) break;
        if (u.kind == AF_WORK_WAIT) { /* nothing within the staleness bound: wait for weights */
            if ((rc = af_mpi_wait(&A.ctrl, MPI_STATUS_IGNORE)) == 0) rc = on_control(&A);
            st->wait_s += af_time_now() - tw;
            continue;
        }
        st->wait_s += af_time_now() - tw;
        if (u.kind != AF_WORK_UNIT) {
            rc = af_error_set(AF_EFORMAT, "actor: bad work unit (kind %u, iteration %u)", u.kind, u.iteration);
            break;
        }
        AfWorkUnit us[AF_WORK_LEASE_MAX];
        Agentflow__Trajectory *t[AF_WORK_LEASE_MAX];
        size_t nu = 0;
        lease_group(h, &A.lease, &u, us, &nu);
        for (size_t i = 1; i < nu && rc == 0; i++)
            if (us[i].kind != AF_WORK_UNIT)
                rc = af_error_set(AF_EFORMAT, "actor: bad work unit (kind %u, iteration %u)", us[i].kind, us[i].iteration);
        if (rc || (rc = run_units(h, us, nu, A.version, A.rank, t, st))) break;
        for (size_t i = 0; i < nu; i++) {
            double ts = af_time_now();
            if (rc == 0) rc = send_async(&A, t[i], (int)(us[i].slot % (uint32_t)learners));
            st->send_s += af_time_now() - ts;
            af_traj_free(t[i]);
        }
    }
    if (rc == 0) rc = af_mpi_waitall(ASYNC_SENDS, A.send); /* learners drained them before STOP */
    for (int i = 0; i < ASYNC_SENDS; i++) free(A.buf[i]);
    return rc;
}

int af_actor_run(const AfActorHooks *h, MPI_Comm world, MPI_Comm policy, int learners, void *scratch,
                 size_t scratch_bytes, AfActorStats *st) {
    int rank = 0, rc;
    if (h->max_staleness > 0) return actor_run_async(h, world, policy, learners, scratch_bytes, st);
    MPI_Comm_rank(world, &rank);
    int held = 0;             /* a RUN's weights are held: */
    uint32_t held_it = 0;     /* of this iteration */
    uint64_t version = 0;     /* and this version */
    for (;;) {
        double t0 = af_time_now();
        AfControl c;
        if ((rc = af_mpi_bcast(&c, sizeof c, MPI_BYTE, 0, policy))) return rc;
        if (c.command == AF_CTRL_STOP) return 0;
        if (c.command == AF_CTRL_REFILL) { /* the same iteration again, on the weights held */
            if (!held || c.iteration != held_it || c.version != version)
                return af_error_set(AF_EFORMAT,
                                    "actor rank %d: REFILL for iteration %u version %llu, but the weights held are %s "
                                    "iteration %u version %llu",
                                    rank, c.iteration, (unsigned long long)c.version, held ? "those of" : "none, not even",
                                    held_it, (unsigned long long)version);
        } else if (c.command != AF_CTRL_RUN && c.command != AF_CTRL_EVAL) {
            return af_error_set(AF_EFORMAT, "actor: unknown control command %u", c.command);
        } else {
            size_t count = 0;
            held = 0;
            rc = af_weights_bcast(h->params, h->n_params, &count, &version, 0, policy, NULL, NULL);
            if (rc == 0 && count != h->n_params)
                rc = af_error_set(AF_ERANGE, "actor: received %zu weights, the policy has %zu", count, h->n_params);
            if (rc == 0 && version != c.version)
                rc = af_error_set(AF_EFORMAT, "actor: weights of version %llu after a control message naming %llu",
                                  (unsigned long long)version, (unsigned long long)c.version);
            if (rc) return af_error_wrap(rc, "actor rank %d, iteration %u weights", rank, c.iteration);
            st->weights_s += af_time_now() - t0;
            if (h->on_weights) h->on_weights(h->ctx, version);
            held = c.command == AF_CTRL_RUN, held_it = c.iteration;
        }
        if (c.command == AF_CTRL_EVAL) {
            if (!h->run_eval) return af_error_set(AF_ESTATE, "actor rank %d: EVAL without an evaluation hook", rank);
            if ((rc = h->run_eval(h->ctx, version))) return af_error_wrap(rc, "actor rank %d evaluation", rank);
            continue;
        }
        Lease lease = {.next = 0, .n = 0};
        for (;;) {
            AfWorkUnit u;
            double tw = af_time_now();
            if ((rc = pull(world, c.iteration, &lease, &u))) return rc;
            st->wait_s += af_time_now() - tw;
            if (u.kind == AF_WORK_DONE) break;
            if (u.kind != AF_WORK_UNIT || u.iteration != c.iteration)
                return af_error_set(AF_EFORMAT, "actor: bad work unit (kind %u, iteration %u)", u.kind, u.iteration);
            AfWorkUnit us[AF_WORK_LEASE_MAX];
            Agentflow__Trajectory *t[AF_WORK_LEASE_MAX];
            size_t nu = 0;
            lease_group(h, &lease, &u, us, &nu);
            for (size_t i = 1; i < nu; i++)
                if (us[i].kind != AF_WORK_UNIT || us[i].iteration != c.iteration)
                    return af_error_set(AF_EFORMAT, "actor: bad work unit (kind %u, iteration %u)", us[i].kind,
                                        us[i].iteration);
            if ((rc = run_units(h, us, nu, version, rank, t, st))) return rc;
            for (size_t i = 0; i < nu; i++) {
                double ts = af_time_now();
                if (rc == 0) rc = af_traj_send(t[i], (int)(us[i].slot % (uint32_t)learners), world, scratch, scratch_bytes);
                st->send_s += af_time_now() - ts;
                af_traj_free(t[i]);
            }
            if (rc) return rc;
        }
    }
}
