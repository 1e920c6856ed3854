/* MPI start-up, error translation and sleep-polling waits. */
#include "common/mpi_env.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "common/error.h"

int af_mpi_check(int mpierr, const char *what) {
    if (mpierr == MPI_SUCCESS) return 0;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(mpierr, msg, &len) != MPI_SUCCESS) len = 0;
    msg[len] = '\0';
    return af_error_set(AF_EMPI, "%s: %s", what, len ? msg : "unknown MPI error");
}

int af_mpi_init(int *argc, char ***argv, AfMpi *out) {
    int up = 0, provided = 0, rc;
    out->initialized = 0;
    MPI_Initialized(&up);
    if (!up) {
        /* Idle ranks give their core away instead of spinning inside MPI. */
        setenv("OMPI_MCA_mpi_yield_when_idle", "1", 0);
        rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
        if (rc != MPI_SUCCESS) return af_error_set(AF_EMPI, "MPI_Init_thread failed (code %d)", rc);
        out->initialized = 1;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    if ((rc = af_mpi_check(MPI_Comm_rank(MPI_COMM_WORLD, &out->rank), "MPI_Comm_rank"))) return rc;
    if ((rc = af_mpi_check(MPI_Comm_size(MPI_COMM_WORLD, &out->size), "MPI_Comm_size"))) return rc;
    return 0;
}

void af_mpi_finalize(AfMpi *m) {
    int down = 0;
    MPI_Finalized(&down);
    if (m && m->initialized && !down) MPI_Finalize();
    if (m) m->initialized = 0;
}

double af_time_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double af_cpu_seconds(void) {
    struct rusage self, kids;
    if (getrusage(RUSAGE_SELF, &self) != 0) return 0.0;
    if (getrusage(RUSAGE_CHILDREN, &kids) != 0) memset(&kids, 0, sizeof kids);
    const struct timeval *tv[4] = {&self.ru_utime, &self.ru_stime, &kids.ru_utime, &kids.ru_stime};
    double s = 0.0;
    for (int i = 0; i < 4; i++) s += (double)tv[i]->tv_sec + 1e-6 * (double)tv[i]->tv_usec;
    return s;
}

static void backoff_sleep(long *ns) {
    struct timespec ts = {0, *ns};
    nanosleep(&ts, NULL);
    *ns = *ns * 2 > 2000000L ? 2000000L : *ns * 2;
}

int af_mpi_wait(MPI_Request *req, MPI_Status *status) {
    long ns = 50000L;
    for (;;) {
        int done = 0;
        int rc = MPI_Test(req, &done, status);
        if (rc != MPI_SUCCESS) return af_mpi_check(rc, "MPI_Test");
        if (done) return 0;
        backoff_sleep(&ns);
    }
}

int af_mpi_waitall(int n, MPI_Request *reqs) {
    long ns = 50000L;
    for (;;) {
        int done = 0;
        int rc = MPI_Testall(n, reqs, &done, MPI_STATUSES_IGNORE);
        if (rc != MPI_SUCCESS) return af_mpi_check(rc, "MPI_Testall");
        if (done) return 0;
        backoff_sleep(&ns);
    }
}

int af_mpi_waitany(int n, MPI_Request *reqs, int *index) {
    long ns = 50000L;
    for (;;) {
        int done = 0;
        int rc = MPI_Testany(n, reqs, index, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) return af_mpi_check(rc, "MPI_Testany");
        if (done) return 0;
        backoff_sleep(&ns);
    }
}

int af_mpi_probe(int source, int tag, MPI_Comm comm, MPI_Status *status) {
    long ns = 50000L;
    for (;;) {
        int flag = 0;
        int rc = MPI_Iprobe(source, tag, comm, &flag, status);
        if (rc != MPI_SUCCESS) return af_mpi_check(rc, "MPI_Iprobe");
        if (flag) return 0;
        backoff_sleep(&ns);
    }
}

int af_mpi_bcast(void *buf, int count, MPI_Datatype type, int root, MPI_Comm comm) {
    MPI_Request req;
    int rc = af_mpi_check(MPI_Ibcast(buf, count, type, root, comm, &req), "MPI_Ibcast");
    return rc ? rc : af_mpi_wait(&req, MPI_STATUS_IGNORE);
}

int af_mpi_barrier(MPI_Comm comm) {
    MPI_Request req;
    int rc = af_mpi_check(MPI_Ibarrier(comm, &req), "MPI_Ibarrier");
    return rc ? rc : af_mpi_wait(&req, MPI_STATUS_IGNORE);
}

int af_mpi_allreduce(const void *send, void *recv, int count, MPI_Datatype type, MPI_Op op,
                     MPI_Comm comm) {
    MPI_Request req;
    int rc = af_mpi_check(MPI_Iallreduce(send, recv, count, type, op, comm, &req), "MPI_Iallreduce");
    return rc ? rc : af_mpi_wait(&req, MPI_STATUS_IGNORE);
}
