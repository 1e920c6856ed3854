/* Learner side of the rollout phase: work dispensing (learner 0) and trajectory intake. */
#include "learner/collect.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "common/log.h"
#include "common/mpi_env.h"
#include "common/protocol.h"

static void nap(long *ns, AfCollectStats *st) {
    double t0 = af_time_now();
    struct timespec ts = {0, *ns};
    nanosleep(&ts, NULL);
    *ns = *ns * 2 > 2000000L ? 2000000L : *ns * 2;
    st->wait_s += af_time_now() - t0;
}

static int take_traj(MPI_Comm world, const MPI_Status *probed, AfTrajDecoder *dec, AfGather *gather,
                     AfCollectStats *st) {
    Agentflow__Trajectory *t = NULL;
    int from = -1;
    st->received++;
    int rc = af_traj_recv_probed(dec, world, probed, &t, &from);
    if (rc == AF_EMPI || rc == AF_ENOMEM) return rc;
    if (rc == 0) rc = af_gather_offer(gather, t);
    if (rc == AF_ENOMEM) return rc;
    if (rc) {
        st->rejected++;
        AF_LOG_D("rejected a trajectory from rank %d: %s", from, af_error_detail());
    }
    return 0;
}

/* Receives a work request (any size: a malformed one still gets an answer; *req is
 * zeroed then). */
static int recv_request(MPI_Comm world, const MPI_Status *probed, AfWorkRequest *req) {
    int n = 0;
    MPI_Get_count(probed, MPI_BYTE, &n);
    AfWorkRequest tmp;
    uint8_t sink[64];
    int rc = af_mpi_check(MPI_Recv(n == (int)sizeof tmp ? (void *)&tmp : (void *)sink, n <= 64 ? n : 64, MPI_BYTE,
                                   probed->MPI_SOURCE, AF_TAG_WORK_REQ, world, MPI_STATUS_IGNORE),
                          "MPI_Recv work request");
    if (req) {
        if (n == (int)sizeof tmp) *req = tmp;
        else memset(req, 0, sizeof *req);
    }
    return rc;
}

/* Units per reply (both modes): a quarter of an actor's share of an iteration, so the
 * request round trip is paid once per lease instead of once per episode and actors keep
 * sampling through the update, while the iteration's tail stays balanced. */
static uint32_t lease_size(uint64_t units, int n_actors) {
    uint64_t share = n_actors > 0 ? (units + (uint64_t)n_actors - 1) / (uint64_t)n_actors : 1;
    uint64_t lease = share / 4 ? share / 4 : 1;
    return lease > AF_WORK_LEASE_MAX ? AF_WORK_LEASE_MAX : (uint32_t)lease;
}

/* Sends u[0..n) as one lease (each unit's .lease set to n). */
static int send_units(MPI_Comm world, int dest, AfWorkUnit *u, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) u[i].lease = n;
    MPI_Request req;
    int rc = af_mpi_check(MPI_Isend(u, (int)(n * sizeof *u), MPI_BYTE, dest, AF_TAG_WORK, world, &req), "MPI_Isend work");
    return rc ? rc : af_mpi_wait(&req, MPI_STATUS_IGNORE);
}

static int discard(MPI_Comm world, const MPI_Status *s, AfCollectStats *st) {
    int n = 0;
    MPI_Get_count(s, MPI_BYTE, &n);
    st->stray++;
    void *sink = malloc(n > 0 ? (size_t)n : 1);
    if (!sink) return af_error_set(AF_ENOMEM, "stray message of %d bytes", n);
    int rc = af_mpi_check(MPI_Recv(sink, n, MPI_BYTE, s->MPI_SOURCE, s->MPI_TAG, world, MPI_STATUS_IGNORE),
                          "MPI_Recv stray");
    free(sink);
    return rc;
}

int af_collect_iteration(MPI_Comm world, int rank, int learners, int n_actors, uint32_t iteration,
                         const uint32_t *queries, uint32_t batch, uint32_t group, AfTrajDecoder *dec,
                         AfGather *gather, AfCollectStats *st) {
    return af_collect_slots(world, rank, learners, n_actors, iteration, queries, NULL, batch, group, dec, gather, st);
}

/* slots NULL: every slot 0..n_slots-1 */
int af_collect_slots(MPI_Comm world, int rank, int learners, int n_actors, uint32_t iteration, const uint32_t *queries,
                     const uint32_t *slots, uint32_t n_slots, uint32_t group, AfTrajDecoder *dec, AfGather *gather,
                     AfCollectStats *st) {
    AF_ASSERT(rank >= 0 && rank < learners);
    uint64_t total = (uint64_t)n_slots * group, next = 0;
    int done_told = 0;
    /* Which actor runs a unit never changes its result (episodes depend only on the seed,
     * iteration, query and sample), so leases keep synchronous runs bit-identical. */
    const uint32_t lease = lease_size(total, n_actors);
    long ns = 20000L;
    double last_note = af_time_now();
    for (;;) {
        int more_units = rank == 0 && (next < total || done_told < n_actors);
        int more_trajs = af_gather_held(gather) < af_gather_expected(gather);
        if (!more_units && !more_trajs) break;
        int flag = 0, rc;
        MPI_Status s;
        rc = af_mpi_check(MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, world, &flag, &s), "MPI_Iprobe");
        if (rc) return rc;
        if (!flag) {
            nap(&ns, st);
            if (af_time_now() - last_note > 60.0) {
                AF_LOG_W("iteration %u: waiting for trajectories (%u of %u held)", iteration,
                         af_gather_held(gather), af_gather_expected(gather));
                last_note = af_time_now();
            }
            continue;
        }
        ns = 20000L;
        if (s.MPI_TAG == AF_TRAJ_TAG) {
            if ((rc = take_traj(world, &s, dec, gather, st))) return rc;
        } else if (s.MPI_TAG == AF_TAG_WORK_REQ && rank == 0) {
            if ((rc = recv_request(world, &s, NULL))) return rc;
            AfWorkUnit u[AF_WORK_LEASE_MAX];
            uint32_t n = 0;
            memset(u, 0, sizeof u);
            while (n < lease && next < total) {
                u[n].iteration = iteration;
                u[n].kind = AF_WORK_UNIT;
                u[n].slot = slots ? slots[next / group] : (uint32_t)(next / group);
                u[n].sample = (uint32_t)(next % group);
                u[n].query_index = queries[u[n].slot];
                next++, n++;
            }
            if (n == 0) {
                u[0].iteration = iteration;
                u[0].kind = AF_WORK_DONE;
                done_told++;
                n = 1;
            }
            if ((rc = send_units(world, s.MPI_SOURCE, u, n))) return rc;
        } else {
            /* Not ours: consume and count, never trust. */
            if ((rc = discard(world, &s, st))) return rc;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ asynchronous mode */

struct AfCollectAsync {
    uint32_t k, iterations, batch, group, learners, rank;
    uint32_t lease;          /* units per reply */
    uint32_t base;           /* the iteration being collected */
    int started;
    uint64_t *dispensed;     /* (k+1) units handed out, ring indexed by iteration % (k+1) */
    uint32_t *queries;       /* (k+1) x batch, same ring */
    uint64_t *owed;          /* (learners) units handed out so far, by owner (coordinator) */
    uint64_t received;       /* trajectory messages received by this learner, all iterations */
    Agentflow__Trajectory **stash; /* trajectories of future iterations (heap clones) */
    size_t n_stash, cap_stash;
};

int af_collect_async_create(uint32_t max_staleness, uint32_t iterations, uint32_t batch, uint32_t group,
                            int learners, int rank, int n_actors, AfCollectAsync **out) {
    *out = NULL;
    if (max_staleness == 0 || batch == 0 || group == 0 || learners <= 0 || rank < 0 || rank >= learners ||
        n_actors <= 0)
        return af_error_set(AF_EINVAL, "af_collect_async_create: bad arguments");
    AfCollectAsync *a = calloc(1, sizeof *a);
    if (!a) return af_error_set(AF_ENOMEM, "asynchronous collection state");
    a->lease = lease_size((uint64_t)batch * group, n_actors);
    a->k = max_staleness, a->iterations = iterations, a->batch = batch, a->group = group;
    a->learners = (uint32_t)learners, a->rank = (uint32_t)rank;
    a->dispensed = calloc((size_t)a->k + 1, sizeof *a->dispensed);
    a->queries = calloc(((size_t)a->k + 1) * batch, sizeof *a->queries);
    a->owed = calloc((size_t)learners, sizeof *a->owed);
    if (!a->dispensed || !a->queries || !a->owed) {
        af_collect_async_destroy(a);
        return af_error_set(AF_ENOMEM, "asynchronous collection state");
    }
    *out = a;
    return 0;
}

void af_collect_async_destroy(AfCollectAsync *a) {
    if (!a) return;
    for (size_t i = 0; i < a->n_stash; i++) af_traj_free(a->stash[i]);
    free(a->stash), free(a->dispensed), free(a->queries), free(a->owed);
    free(a);
}

static int stash_push(AfCollectAsync *a, const Agentflow__Trajectory *t) {
    if (a->n_stash == a->cap_stash) {
        size_t nc = a->cap_stash ? 2 * a->cap_stash : 64;
        Agentflow__Trajectory **ns = realloc(a->stash, nc * sizeof *ns);
        if (!ns) return af_error_set(AF_ENOMEM, "asynchronous trajectory stash");
        a->stash = ns, a->cap_stash = nc;
    }
    int rc = af_traj_clone(t, &a->stash[a->n_stash]);
    if (rc == 0) a->n_stash++;
    return rc;
}

/* Offers the stashed trajectories of `iteration` to the gather; drops older ones. */
static int stash_release(AfCollectAsync *a, uint32_t iteration, AfGather *gather, AfCollectStats *st) {
    size_t keep = 0;
    for (size_t i = 0; i < a->n_stash; i++) {
        Agentflow__Trajectory *t = a->stash[i];
        if (t->iteration > iteration) {
            a->stash[keep++] = t;
            continue;
        }
        if (t->iteration == iteration) {
            int rc = af_gather_offer(gather, t);
            if (rc == AF_ENOMEM) return rc;
            if (rc) st->rejected++;
        } else {
            st->rejected++;
        }
        af_traj_free(t);
    }
    a->n_stash = keep;
    return 0;
}

static int take_traj_async(AfCollectAsync *a, MPI_Comm world, const MPI_Status *probed, AfTrajDecoder *dec,
                           uint32_t iteration, AfGather *gather, AfCollectStats *st) {
    Agentflow__Trajectory *t = NULL;
    int from = -1;
    st->received++;
    a->received++;
    int rc = af_traj_recv_probed(dec, world, probed, &t, &from);
    if (rc == AF_EMPI || rc == AF_ENOMEM) return rc;
    if (rc == 0) rc = t->iteration > iteration ? stash_push(a, t) : af_gather_offer(gather, t);
    if (rc == AF_ENOMEM) return rc;
    if (rc) {
        st->rejected++;
        AF_LOG_D("rejected a trajectory from rank %d: %s", from, af_error_detail());
    }
    return 0;
}

/* Coordinator: the next unit for an actor holding `version`, or WAIT. */
static AfWorkUnit next_unit(AfCollectAsync *a, uint64_t version) {
    AfWorkUnit u = {0};
    u.kind = AF_WORK_WAIT;
    const uint64_t total = (uint64_t)a->batch * a->group;
    for (uint32_t j = a->base; j <= a->base + a->k && j < a->iterations; j++) {
        if ((uint64_t)j > version + a->k) break;
        uint32_t r = j % (a->k + 1);
        if (a->dispensed[r] >= total) continue;
        uint64_t n = a->dispensed[r]++;
        u.kind = AF_WORK_UNIT;
        u.iteration = j;
        u.slot = (uint32_t)(n / a->group);
        u.sample = (uint32_t)(n % a->group);
        u.query_index = a->queries[(size_t)r * a->batch + u.slot];
        a->owed[u.slot % a->learners]++;
        break;
    }
    return u;
}

/* Coordinator: a lease of up to a->lease units for an actor holding `version` (one
 * WAIT unit if there is none). */
static int send_lease(AfCollectAsync *a, MPI_Comm world, int dest, uint64_t version) {
    AfWorkUnit u[AF_WORK_LEASE_MAX];
    uint32_t n = 0;
    while (n < a->lease) {
        u[n] = next_unit(a, version);
        if (u[n].kind != AF_WORK_UNIT) break;
        n++;
    }
    return send_units(world, dest, u, n ? n : 1); /* n = 0: the WAIT unit */
}

int af_collect_iteration_async(AfCollectAsync *a, MPI_Comm world, uint32_t iteration, AfBatchFn batch_of,
                               void *ctx, AfTrajDecoder *dec, AfGather *gather, AfCollectStats *st) {
    const uint32_t R = a->k + 1;
    if (a->rank == 0) { /* advance the dispensing window to [iteration, iteration + k] */
        for (uint32_t j = iteration; j <= iteration + a->k; j++) {
            int fresh = !a->started || j > a->base + a->k;
            if (!fresh) continue;
            a->dispensed[j % R] = 0;
            if (j < a->iterations) batch_of(ctx, j, a->queries + (size_t)(j % R) * a->batch);
        }
        a->started = 1;
    }
    a->base = iteration;
    int rc = stash_release(a, iteration, gather, st);
    if (rc) return rc;
    long ns = 20000L;
    double last_note = af_time_now();
    const uint64_t total = (uint64_t)a->batch * a->group;
    /* learner 0 also stays until every unit of this iteration is handed out: the other
     * learners' slots depend on it */
    while (af_gather_held(gather) < af_gather_expected(gather) ||
           (a->rank == 0 && a->dispensed[iteration % R] < total)) {
        int flag = 0;
        MPI_Status s;
        if ((rc = af_mpi_check(MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, world, &flag, &s), "MPI_Iprobe"))) return rc;
        if (!flag) {
            nap(&ns, st);
            if (af_time_now() - last_note > 60.0) {
                AF_LOG_W("iteration %u: waiting for trajectories (%u of %u held)", iteration, af_gather_held(gather),
                         af_gather_expected(gather));
                last_note = af_time_now();
            }
            continue;
        }
        ns = 20000L;
        if (s.MPI_TAG == AF_TRAJ_TAG) {
            rc = take_traj_async(a, world, &s, dec, iteration, gather, st);
        } else if (s.MPI_TAG == AF_TAG_WORK_REQ && a->rank == 0) {
            AfWorkRequest req;
            if ((rc = recv_request(world, &s, &req)) == 0) rc = send_lease(a, world, s.MPI_SOURCE, req.version);
        } else {
            rc = discard(world, &s, st);
        }
        if (rc) return rc;
    }
    return 0;
}

int af_collect_async_drain(AfCollectAsync *a, MPI_Comm world, MPI_Comm learners_comm, AfTrajDecoder *dec,
                           AfCollectStats *st) {
    /* Learner 0 knows what it handed out, by owner; every learner then receives until it
     * has had that many trajectory messages in all. Work requests meanwhile get WAIT. */
    uint64_t *owed = a->owed;
    int rc = af_mpi_bcast(owed, (int)a->learners, MPI_UINT64_T, 0, learners_comm);
    if (rc) return rc;
    const uint64_t want = owed[a->rank];
    long ns = 20000L;
    int done = a->received >= want, all_done = 0;
    /* The coordinator keeps answering until every learner has drained. */
    MPI_Request barrier = MPI_REQUEST_NULL;
    for (;;) {
        if (done && barrier == MPI_REQUEST_NULL &&
            (rc = af_mpi_check(MPI_Ibarrier(learners_comm, &barrier), "MPI_Ibarrier drain")))
            return rc;
        if (barrier != MPI_REQUEST_NULL) {
            if ((rc = af_mpi_check(MPI_Test(&barrier, &all_done, MPI_STATUS_IGNORE), "MPI_Test drain"))) return rc;
            if (all_done) break;
        }
        int flag = 0;
        MPI_Status s;
        if ((rc = af_mpi_check(MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, world, &flag, &s), "MPI_Iprobe"))) return rc;
        if (!flag) {
            nap(&ns, st);
            continue;
        }
        ns = 20000L;
        if (s.MPI_TAG == AF_TRAJ_TAG) {
            Agentflow__Trajectory *t = NULL;
            st->received++;
            a->received++;
            rc = af_traj_recv_probed(dec, world, &s, &t, NULL);
            if (rc == AF_EMPI || rc == AF_ENOMEM) return rc;
            rc = 0; /* a run that is ending: counted, not kept */
            done = a->received >= want;
        } else if (s.MPI_TAG == AF_TAG_WORK_REQ && a->rank == 0) {
            AfWorkRequest req;
            if ((rc = recv_request(world, &s, &req)) == 0) {
                AfWorkUnit u = {.kind = AF_WORK_WAIT};
                rc = send_units(world, s.MPI_SOURCE, &u, 1);
            }
        } else {
            rc = discard(world, &s, st);
        }
        if (rc) return rc;
    }
    return 0;
}
