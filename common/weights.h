/* Weight broadcast, learner 0 -> actors (docs/design.md §2 step 2 and §6).
 *
 * Wire format, on the communicator the caller gives (e.g. learner 0 + actors), every
 * message a collective broadcast from `root`, in this order:
 *   1. header: 64 bytes, MPI_BYTE. Byte 0 = n (1..63), bytes 1..n = a packed
 *      agentflow.WeightsHeader {version, count (elements), dtype = F32, checksum = 0
 *      (it travels in the trailer), chunk_elems, checksum_kind}; the rest is zero.
 *   2. payload: ceil(count / chunk_elems) broadcasts of chunk_elems MPI_FLOAT elements
 *      each (the last one shorter), in buffer order, issued as MPI_Ibcast with up to
 *      `depth` in flight.
 *   3. trailer: one MPI_UINT64_T, the checksum of the count*4 payload bytes, of the
 *      header's checksum_kind: FL8 (CHECKSUM_FL8, common/checksum.h; what this build sends
 *      under the shared-memory transport: it is computed inside the copies that transport
 *      makes, so it costs no pass of its own), XXH3-64 (CHECKSUM_XXH3_64, libxxhash's
 *      XXH3_64bits, seed 0; what this build sends over MPI broadcasts, where a summing
 *      pass is needed anyway and XXH3's is the faster) or XXH64 (CHECKSUM_XXH64, or UNSET
 *      from a sender built before the field existed). All three are accepted whatever the
 *      transport. A receiver given any other kind takes
 *      the payload into a scratch ring (the collective stays matched, its buffer is left
 *      untouched) and refuses it with AF_EFORMAT naming the kind.
 * One message per chunk of the flat parameter buffer, never one protobuf per tensor.
 * The root checksums each chunk while it is in flight and receivers as it lands (while
 * still in cache), so neither side makes a separate pass over the buffer; receivers
 * report a mismatch with the trailer as AF_ECHECKSUM. For payloads of 1 MiB and more the
 * summing runs on a helper thread per call, one chunk behind the broadcasts, so the
 * calling thread keeps driving MPI progress; FL8 uses the dispatched kernels and XXH3
 * libxxhash's run-time dispatch (AVX-512, AVX2 or SSE2; the value is the same). (The checksum used to lead in the
 * header, which put a full pass over the buffer on the root before anything was sent.)
 *
 * Transport: on a communicator with the shared-memory transport attached
 * (af_weights_transport_attach, common/weights_shm.h) the payload moves through node
 * rings in pieces instead of step 2's broadcasts; header and trailer are unchanged, and so
 * are the results and errors below. (Hook for bf16 weights on the wire, for actors that
 * decode in bf16: a BF16 value of the header's dtype, count still in elements; the chunks
 * would go as MPI_UINT16_T, and the shared-memory pieces, which are bytes, would hold twice
 * the elements.)
 *
 * Waiting: the header wait sleeps (af_mpi_wait: actors may wait for seconds while the
 * learner trains); once data flows, the wait polls MPI_Test and yields the core
 * (sched_yield) between polls, falling back to sleeping after 20 ms without progress. */
#ifndef AF_COMMON_WEIGHTS_H
#define AF_COMMON_WEIGHTS_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#define AF_WEIGHTS_HEADER_BYTES 64
#define AF_WEIGHTS_DEFAULT_CHUNK_ELEMS ((size_t)1 << 20) /* 4 MiB of floats (bench/bench_bcast.c) */
#define AF_WEIGHTS_DEFAULT_DEPTH 4

/* Checksum kinds: the values of agentflow.ChecksumKind on the wire. */
#define AF_WEIGHTS_CHECKSUM_XXH64 1
#define AF_WEIGHTS_CHECKSUM_XXH3 2
#define AF_WEIGHTS_CHECKSUM_FL8 3

typedef struct AfWeightsOpts {
    size_t chunk_elems; /* elements per chunk message (root's choice; receivers follow the header); 0 = default */
    int depth;          /* chunk broadcasts in flight, >= 1; 0 = default. Must agree on every rank */
    uint64_t checksum_xor; /* fault injection for tests: the root XORs the checksum it sends; 0 normally */
    int checksum_kind;     /* root: the kind it sends (AF_WEIGHTS_CHECKSUM_*); 0 = FL8 under shm, else XXH3. Tests may name a
                            * kind receivers do not know (they refuse it) */
    size_t corrupt_piece;  /* fault injection for tests, shared-memory transport: the root flips one bit of
                            * piece corrupt_piece (1-based) in its node's ring after summing it; 0 normally */
} AfWeightsOpts;

/* Optional per-call figures (seconds on this rank). */
typedef struct AfWeightsTiming {
    double header_s;   /* waiting for and decoding the header (receivers: includes waiting for the root) */
    double payload_s;  /* chunk broadcasts, including the receivers' streaming checksum */
    double checksum_s; /* the root's checksum work (its helper thread's busy time), overlapped with the
                        * chunks in flight (inside payload_s) */
} AfWeightsTiming;

/* Broadcast the flat float buffer from `root` to every rank of `comm`. Collective: every
 * rank of comm calls it with the same root and opts->depth.
 *   root:   buf (*count elements) is sent; *count and *version are inputs.
 *   others: buf has room for `capacity` elements; *count and *version receive the
 *           header's values and buf[0..count) the payload.
 * Returns 0, or
 *   AF_ECHECKSUM  payload received but its checksum differs from the trailer's (buf holds
 *                 the bad bytes; *version is still set so the caller can log it);
 *   AF_ERANGE     header count > capacity (the chunks are still received, into a scratch
 *                 buffer, so the collective stays matched; buf untouched) or, on the
 *                 root, count or chunk size beyond what MPI counts can express;
 *   AF_EFORMAT    the header does not decode or names an unknown dtype or a zero chunk
 *                 size; the receiver cannot follow the payload, so this leaves the
 *                 collective unmatched (only a mismatched binary can produce it); or
 *                 the header names an unknown checksum kind (the payload is received
 *                 into scratch and discarded, buf untouched, the collective matched);
 *   AF_ENOMEM, AF_EMPI.
 * opts may be NULL (defaults); timing may be NULL. buf is borrowed for the call. */
int af_weights_bcast(float *buf, size_t capacity, size_t *count, uint64_t *version, int root, MPI_Comm comm,
                     const AfWeightsOpts *opts, AfWeightsTiming *timing);

/* Learner 0's side of the per-iteration publish on the policy communicator (learner 0 =
 * its rank 0, plus every actor; common/protocol.h): the AfControl {command, iteration,
 * version} as one broadcast, then, for AF_CTRL_RUN and AF_CTRL_EVAL, the weights with
 * af_weights_bcast from rank 0 (AF_CTRL_STOP and AF_CTRL_REFILL: the control message
 * only; params may then be NULL). Actors receive both in actor/actor_loop.c. Collective
 * over `policy`; *seconds (may be NULL) gets the wall time. Returns 0 or the errors of
 * af_weights_bcast. */
int af_weights_publish(MPI_Comm policy, uint32_t command, uint32_t iteration, uint64_t version, float *params,
                       size_t n_params, double *seconds);

#endif
