/* Node-shared memory transport for the weight broadcast (common/weights.h).
 *
 * af_weights_transport_attach caches, on a communicator, what af_weights_bcast needs to
 * move the payload through MPI-3 shared memory instead of MPI messages:
 *   - the node communicator (MPI_Comm_split_type(MPI_COMM_TYPE_SHARED), or a simulated
 *     split into `split_nodes` nodes, rank % split_nodes, so that the cross-node path can
 *     be tested on one machine);
 *   - the leaders communicator (node rank 0 of every node) when there is more than one
 *     node;
 *   - per node, one MPI_Win_allocate_shared window: a control block (a `written` piece
 *     counter and one `done` counter per node rank, each on its own cache line) and a
 *     ring of `slots` pieces of `slot_elems` floats.
 * Per call (af_weights_bcast; the header and the trailer stay MPI broadcasts on comm), the
 * payload moves in pieces of slot_elems floats. On the root's node the root writes each
 * piece into the ring and its node peers copy it out into their own buffers; across nodes
 * the leader of the root's node (the root itself, or a peer relaying what it read)
 * broadcasts each piece on the leaders communicator and every other leader writes it into
 * its own node's ring. Pieces are numbered by a sequence that every rank of comm advances
 * alike (the same calls, the same counts), so the counters need no reset between calls: a
 * writer reuses a slot once every peer's `done` has passed it; a reader takes a piece once
 * `written` has passed it (release/acquire atomics). Readers copy into their own buffer,
 * so a rank still decoding with the previous version (asynchronous mode) is never
 * disturbed: the shared ring only holds pieces in flight. Waits poll with sched_yield,
 * then sleep (50 us .. 1 ms) after 20 ms without progress.
 * Integrity: the root sums its buffer once, a reader each piece of the ring, another
 * node's leader each piece as it comes off the wire; each compares with the trailer, as
 * over MPI: corruption in the ring, in a relay or on the wire is reported as
 * AF_ECHECKSUM. With the FL8 checksum (the default, common/checksum.h) the sums are taken
 * inside the copies: the root sums the words it loads to write a piece into the ring,
 * a reader the words it loads from the ring to stream them into its buffer, so neither
 * makes a pass of its own. With XXH3-64 or XXH64 (a sender asking for them) the root sums
 * each piece right after writing it and a reader right before copying it out, both in
 * cache. (What a reader's stores might do to the bytes after it loaded them is not
 * covered.)
 *
 * The cached state is freed by the communicator's attribute delete callback, i.e. by
 * MPI_Comm_free of comm (collective, as the window's free needs). */
#ifndef AF_COMMON_WEIGHTS_SHM_H
#define AF_COMMON_WEIGHTS_SHM_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

/* run.weights_transport: the values are the positions in "auto|bcast|shm". */
typedef enum { AF_WEIGHTS_TRANSPORT_AUTO = 0, AF_WEIGHTS_TRANSPORT_BCAST = 1, AF_WEIGHTS_TRANSPORT_SHM = 2 } AfWeightsTransport;

#define AF_WEIGHTS_SHM_DEFAULT_SLOT_ELEMS ((size_t)1 << 15) /* 128 KiB of floats: a piece stays in L2 (bench_bcast) */
#define AF_WEIGHTS_SHM_DEFAULT_SLOTS 64 /* 8 MiB per node: absorbs a reader descheduled for a few ms */

typedef struct AfWeightsTransportOpts {
    int method;        /* AfWeightsTransport; must agree on every rank */
    int split_nodes;   /* > 0: simulate that many nodes (node = rank % split_nodes within each real node); tests */
    size_t slot_elems; /* floats per piece; 0 = default. Must agree on every rank */
    int slots;         /* ring slots per node, >= 2; 0 = default. Must agree on every rank */
} AfWeightsTransportOpts;

/* Collective over comm. Chooses the transport of later af_weights_bcast calls on comm:
 *   BCAST  chunked MPI broadcasts (nothing is attached);
 *   SHM    node-shared memory as above; fails with AF_EMPI/AF_ENOMEM if the window
 *          cannot be allocated on some rank, or AF_ERANGE if a rank's file size limit
 *          (RLIMIT_FSIZE: Open MPI backs the window with a file) is below the segment
 *          (every rank gets an error);
 *   AUTO   SHM if some node holds more than one rank of comm and the windows can be
 *          allocated on every rank; BCAST otherwise.
 * *chosen (may be NULL) receives BCAST or SHM. opts may be NULL (AUTO, defaults).
 * Attaching twice to one communicator is AF_ESTATE. Returns 0, AF_EINVAL (bad opts),
 * AF_ESTATE, AF_ERANGE, AF_ENOMEM or AF_EMPI. */
int af_weights_transport_attach(MPI_Comm comm, const AfWeightsTransportOpts *opts, int *chosen);

/* ------------------------------------------------------------------ for common/weights.c */

typedef struct AfWeightsShm AfWeightsShm;

/* The shared-memory transport attached to comm, or NULL (none, or MPI_COMM_NULL). */
AfWeightsShm *af_weights_shm_get(MPI_Comm comm);

/* This rank's part in a call from `root`. Returns 0, or AF_EINVAL if root is not a rank
 * of comm. */
typedef struct AfWeightsShmRole {
    int writer;      /* writes each piece into its node's ring (it has node peers) */
    int reader;      /* copies each piece out of its node's ring */
    int leaders;     /* takes part in the leaders broadcast of each piece */
    int leader_root; /* that broadcast's root, a rank of the leaders communicator */
    MPI_Comm leaders_comm;
    size_t slot_elems;
} AfWeightsShmRole;
int af_weights_shm_role(const AfWeightsShm *s, int root, AfWeightsShmRole *out);

/* Piece `seq` (the transport's running piece number, af_weights_shm_next). A reader
 * waits in peek until the piece is written and gets its slot (read-only), then releases
 * it; a writer waits in claim until every peer has released the slot's previous piece and
 * gets the slot to fill, then publishes it. No error can occur: they wait for ever (a dead
 * peer takes the job down through MPI). */
const void *af_weights_shm_peek(AfWeightsShm *s, uint64_t seq);
void af_weights_shm_release(AfWeightsShm *s, uint64_t seq);
void *af_weights_shm_claim(AfWeightsShm *s, uint64_t seq);
void af_weights_shm_publish(AfWeightsShm *s, uint64_t seq);
/* memcpy whose stores bypass the cache (x86 streaming stores; memcpy elsewhere): for a
 * reader's copy into a buffer far larger than the cache, which saves the read-for-ownership
 * of every destination line. */
void af_weights_shm_copy_out(void *dst, const void *src, size_t bytes);
/* Returns the first piece number of a call of `pieces` pieces and advances the counter. */
uint64_t af_weights_shm_next(AfWeightsShm *s, size_t pieces);

#endif
