/* Learner side of the rollout phase: work dispensing (learner 0) and trajectory intake. */
#include "learner/collect.h"

#include <stdlib.h>
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

int af_collect_iteration(MPI_Comm world, int rank, int learners, int n_actors, uint32_t iteration,
                         const uint32_t *queries, uint32_t batch, uint32_t group, AfTrajDecoder *dec,
                         AfGather *gather, AfCollectStats *st) {
    AF_ASSERT(rank >= 0 && rank < learners);
    uint64_t total = (uint64_t)batch * group, next = 0;
    int done_told = 0;
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
            uint32_t their_iteration = 0;
            int n = 0;
            MPI_Get_count(&s, MPI_BYTE, &n);
            uint8_t sink[64];
            rc = af_mpi_check(MPI_Recv(n == (int)sizeof their_iteration ? (void *)&their_iteration : (void *)sink,
                                       n <= 64 ? n : 64, MPI_BYTE, s.MPI_SOURCE, AF_TAG_WORK_REQ, world,
                                       MPI_STATUS_IGNORE), "MPI_Recv work request");
            if (rc) return rc;
            AfWorkUnit u = {0};
            u.iteration = iteration;
            if (next < total) {
                u.kind = AF_WORK_UNIT;
                u.slot = (uint32_t)(next / group);
                u.sample = (uint32_t)(next % group);
                u.query_index = queries[u.slot];
                next++;
            } else {
                u.kind = AF_WORK_DONE;
                done_told++;
            }
            MPI_Request req;
            rc = af_mpi_check(MPI_Isend(&u, sizeof u, MPI_BYTE, s.MPI_SOURCE, AF_TAG_WORK, world, &req), "MPI_Isend work");
            if (!rc) rc = af_mpi_wait(&req, MPI_STATUS_IGNORE);
            if (rc) return rc;
        } else {
            /* Not ours: consume and count, never trust. */
            int n = 0;
            MPI_Get_count(&s, MPI_BYTE, &n);
            st->stray++;
            void *sink = malloc(n > 0 ? (size_t)n : 1);
            if (!sink) return af_error_set(AF_ENOMEM, "stray message of %d bytes", n);
            rc = af_mpi_check(MPI_Recv(sink, n, MPI_BYTE, s.MPI_SOURCE, s.MPI_TAG, world, MPI_STATUS_IGNORE), "MPI_Recv stray");
            free(sink);
            if (rc) return rc;
        }
    }
    return 0;
}
