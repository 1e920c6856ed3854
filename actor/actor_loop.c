/* Actor main loop: weights in, work units pulled, trajectories out. */
#include "actor/actor_loop.h"

#include "common/error.h"
#include "common/log.h"
#include "common/mpi_env.h"
#include "common/traj.h"
#include "common/weights.h"

int af_policy_publish(MPI_Comm policy, uint32_t command, uint32_t iteration, uint64_t version,
                      float *params, size_t n_params, double *seconds) {
    double t0 = af_time_now();
    AfControl c = {.command = command, .iteration = iteration, .version = version};
    int rc = af_mpi_bcast(&c, sizeof c, MPI_BYTE, 0, policy);
    if (rc == 0 && (command == AF_CTRL_RUN || command == AF_CTRL_EVAL)) {
        size_t count = n_params;
        uint64_t v = version;
        rc = af_weights_bcast(params, n_params, &count, &v, 0, policy, NULL, NULL);
    }
    if (seconds) *seconds = af_time_now() - t0;
    return rc;
}

static int pull(MPI_Comm world, uint32_t iteration, AfWorkUnit *u) {
    MPI_Request req[2];
    int rc = af_mpi_check(MPI_Irecv(u, sizeof *u, MPI_BYTE, 0, AF_TAG_WORK, world, &req[1]), "MPI_Irecv work");
    if (rc) return rc;
    rc = af_mpi_check(MPI_Isend(&iteration, sizeof iteration, MPI_BYTE, 0, AF_TAG_WORK_REQ, world, &req[0]),
                      "MPI_Isend work request");
    if (rc) return rc;
    return af_mpi_waitall(2, req);
}

int af_actor_run(const AfActorHooks *h, MPI_Comm world, MPI_Comm policy, int learners, void *scratch,
                 size_t scratch_bytes, AfActorStats *st) {
    int rank = 0, rc;
    MPI_Comm_rank(world, &rank);
    for (;;) {
        double t0 = af_time_now();
        AfControl c;
        if ((rc = af_mpi_bcast(&c, sizeof c, MPI_BYTE, 0, policy))) return rc;
        if (c.command == AF_CTRL_STOP) return 0;
        if (c.command != AF_CTRL_RUN && c.command != AF_CTRL_EVAL) return af_error_set(AF_EFORMAT, "actor: unknown control command %u", c.command);
        size_t count = 0;
        uint64_t version = 0;
        rc = af_weights_bcast(h->params, h->n_params, &count, &version, 0, policy, NULL, NULL);
        if (rc == 0 && count != h->n_params)
            rc = af_error_set(AF_ERANGE, "actor: received %zu weights, the policy has %zu", count, h->n_params);
        if (rc) return af_error_wrap(rc, "actor rank %d, iteration %u weights", rank, c.iteration);
        st->weights_s += af_time_now() - t0;
        if (h->on_weights) h->on_weights(h->ctx, version);
        if (c.command == AF_CTRL_EVAL) {
            if (!h->run_eval) return af_error_set(AF_ESTATE, "actor rank %d: EVAL without an evaluation hook", rank);
            if ((rc = h->run_eval(h->ctx, version))) return af_error_wrap(rc, "actor rank %d evaluation", rank);
            continue;
        }
        for (;;) {
            AfWorkUnit u;
            double tw = af_time_now();
            if ((rc = pull(world, c.iteration, &u))) return rc;
            st->wait_s += af_time_now() - tw;
            if (u.kind == AF_WORK_DONE) break;
            if (u.kind != AF_WORK_UNIT || u.iteration != c.iteration)
                return af_error_set(AF_EFORMAT, "actor: bad work unit (kind %u, iteration %u)", u.kind, u.iteration);
            Agentflow__Trajectory *t = NULL;
            double te = af_time_now();
            if ((rc = h->run_episode(h->ctx, &u, version, &t))) return rc;
            st->episode_s += af_time_now() - te;
            st->episodes++;
            t->iteration = u.iteration;
            t->slot = u.slot;
            t->query_index = u.query_index;
            t->sample_index = u.sample;
            t->policy_version = version;
            t->actor_rank = rank;
            double ts = af_time_now();
            rc = af_traj_send(t, (int)(u.slot % (uint32_t)learners), world, scratch, scratch_bytes);
            st->send_s += af_time_now() - ts;
            af_traj_free(t);
            if (rc) return rc;
        }
    }
}
