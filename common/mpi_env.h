/* MPI start-up and non-spinning waits.
 *
 * agentflow runs under mpirun/srun or as a plain process (an MPI singleton). Ranks that
 * wait must not busy-poll: with more ranks than cores a spinning rank steals the core of
 * one doing work. Every blocking wait here polls the request with MPI_Test and sleeps
 * between polls with a bounded exponential back-off (50 us .. 2 ms). */
#ifndef AF_COMMON_MPI_ENV_H
#define AF_COMMON_MPI_ENV_H

#include <mpi.h>
#include <stddef.h>

typedef struct AfMpi {
    int rank;        /* world rank */
    int size;        /* world size */
    int initialized; /* this module called MPI_Init_thread (and will finalize) */
} AfMpi;

/* Initialise MPI (MPI_THREAD_FUNNELED) unless already initialised, set MPI_ERRORS_RETURN
 * on MPI_COMM_WORLD so failures come back as codes, and fill *out. Before MPI_Init it
 * asks Open MPI to yield when idle. Returns 0 or AF_EMPI. */
int af_mpi_init(int *argc, char ***argv, AfMpi *out);
/* Finalize if af_mpi_init initialised MPI. */
void af_mpi_finalize(AfMpi *m);

/* Translate an MPI return code: 0 for MPI_SUCCESS, else AF_EMPI with the MPI error
 * string and `what` in the detail. */
int af_mpi_check(int mpierr, const char *what);

/* Wait for a request without spinning. Returns 0 or AF_EMPI. `status` may be
 * MPI_STATUS_IGNORE. */
int af_mpi_wait(MPI_Request *req, MPI_Status *status);
int af_mpi_waitall(int n, MPI_Request *reqs);
/* Waits (without spinning) until one of reqs completes; *index is which (MPI_UNDEFINED
 * if all were MPI_REQUEST_NULL). */
int af_mpi_waitany(int n, MPI_Request *reqs, int *index);
/* Blocking probe without spinning (MPI_Iprobe + sleep). */
int af_mpi_probe(int source, int tag, MPI_Comm comm, MPI_Status *status);
/* MPI_Bcast / MPI_Barrier / MPI_Allreduce that wait without spinning (non-blocking
 * collective + af_mpi_wait). Same arguments and semantics as the MPI calls. */
int af_mpi_bcast(void *buf, int count, MPI_Datatype type, int root, MPI_Comm comm);
int af_mpi_barrier(MPI_Comm comm);
int af_mpi_allreduce(const void *send, void *recv, int count, MPI_Datatype type, MPI_Op op,
                     MPI_Comm comm);

/* Seconds since an arbitrary point (MPI_Wtime if up, else CLOCK_MONOTONIC). */
double af_time_now(void);

/* CPU seconds this process has used: user + system, its own and its waited-for children's
 * (the sandboxed tool subprocesses). */
double af_cpu_seconds(void);

#endif
