/* Chunked, checksummed weight broadcast (format in weights.h). */
#include "common/weights.h"

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include <xxh_x86dispatch.h>
#include <xxhash.h>

#include "common/checksum.h"
#include "common/error.h"
#include "common/mpi_env.h"
#include "common/protocol.h"
#include "common/weights_shm.h"
#include "proto/agentflow.pb-c.h"

#define MAX_DEPTH 64

/* The trailer's checksum, of the kind the header names. */
typedef struct {
    int kind; /* AF_WEIGHTS_CHECKSUM_XXH64, _XXH3 or _FL8 */
    AfChecksum64State x64;
    XXH3_state_t *x3;
    AfFl8State fl8;
} PayloadSum;

static int sum_init(PayloadSum *s, int kind) {
    s->kind = kind;
    s->x3 = NULL;
    af_checksum64_reset(&s->x64, 0);
    af_fl8_reset(&s->fl8);
    if (kind != AF_WEIGHTS_CHECKSUM_XXH3) return 0;
    s->x3 = XXH3_createState();
    if (!s->x3 || XXH3_64bits_reset(s->x3) != XXH_OK) {
        XXH3_freeState(s->x3);
        s->x3 = NULL;
        return af_error_set(AF_ENOMEM, "weights: cannot allocate an XXH3 state");
    }
    return 0;
}
static void sum_update(PayloadSum *s, const void *p, size_t bytes) {
    if (s->kind == AF_WEIGHTS_CHECKSUM_FL8) af_fl8_update(&s->fl8, p, bytes);
    else if (s->x3) XXH3_64bits_update_dispatch(s->x3, p, bytes); /* the widest vectors this CPU has */
    else af_checksum64_update(&s->x64, p, bytes);
}
/* Copy src to dst and sum src: in the copy's own pass for FL8, else a copy then a pass
 * over the (cached) source. stream: dst is not read soon (non-temporal stores). */
static void sum_copy(PayloadSum *s, void *dst, const void *src, size_t bytes, int stream) {
    if (s->kind == AF_WEIGHTS_CHECKSUM_FL8) {
        af_fl8_copy(&s->fl8, dst, src, bytes, stream);
        return;
    }
    sum_update(s, src, bytes);
    if (stream) af_weights_shm_copy_out(dst, src, bytes);
    else memcpy(dst, src, bytes);
}
static uint64_t sum_digest(const PayloadSum *s) {
    if (s->kind == AF_WEIGHTS_CHECKSUM_FL8) return af_fl8_digest(&s->fl8);
    return s->x3 ? XXH3_64bits_digest(s->x3) : af_checksum64_digest(&s->x64);
}
static void sum_free(PayloadSum *s) {
    XXH3_freeState(s->x3);
    s->x3 = NULL;
}
/* The checksum worker: a helper thread that sums the chunks handed to it, in order, while
 * the calling thread keeps driving the broadcasts (a non-blocking collective advances only
 * inside MPI calls, so summing on the calling thread stalls the pipeline). The root hands
 * each chunk over as it posts it (its buffer is read-only for the call), a receiver each
 * chunk as it lands, so the worker runs one chunk behind. The worker never calls MPI.
 * Payloads below SUM_THREAD_MIN_BYTES are summed inline (a thread costs more than it
 * hides). */
#define SUM_THREAD_MIN_BYTES ((size_t)1 << 20)
#define SUM_QUEUE 64
typedef struct {
    PayloadSum *sum;
    int started, stop;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    const void *ptr[SUM_QUEUE];
    size_t len[SUM_QUEUE];
    size_t head, tail; /* queued ranges [tail, head) */
    double busy_s;     /* seconds spent summing */
} SumWorker;

static void *sum_worker_main(void *arg) {
    SumWorker *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->tail == w->head && !w->stop) pthread_cond_wait(&w->cv, &w->mu);
        if (w->tail == w->head) break; /* stopped and drained */
        const void *p = w->ptr[w->tail % SUM_QUEUE];
        size_t len = w->len[w->tail % SUM_QUEUE];
        pthread_mutex_unlock(&w->mu);
        double t = af_time_now();
        sum_update(w->sum, p, len);
        double dt = af_time_now() - t;
        pthread_mutex_lock(&w->mu);
        w->busy_s += dt;
        w->tail++;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Start the worker (threaded when `bytes` is large enough and the thread starts; inline
 * otherwise: a thread that fails to start costs speed, never correctness). */
static void sum_worker_start(SumWorker *w, PayloadSum *sum, size_t bytes) {
    memset(w, 0, sizeof *w);
    w->sum = sum;
    if (bytes < SUM_THREAD_MIN_BYTES) return;
    if (pthread_mutex_init(&w->mu, NULL)) return;
    if (pthread_cond_init(&w->cv, NULL)) {
        pthread_mutex_destroy(&w->mu);
        return;
    }
    if (pthread_create(&w->th, NULL, sum_worker_main, w) == 0) {
        w->started = 1;
        return;
    }
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
}

static void sum_worker_push(SumWorker *w, const void *p, size_t len) {
    if (!w->started) {
        double t = af_time_now();
        sum_update(w->sum, p, len);
        w->busy_s += af_time_now() - t;
        return;
    }
    pthread_mutex_lock(&w->mu);
    while (w->head - w->tail == SUM_QUEUE) pthread_cond_wait(&w->cv, &w->mu);
    w->ptr[w->head % SUM_QUEUE] = p;
    w->len[w->head % SUM_QUEUE] = len;
    w->head++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Wait until everything pushed is summed and stop the thread. Idempotent. */
static void sum_worker_finish(SumWorker *w) {
    if (!w->started) return;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->th, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    w->started = 0;
}

static const char *sum_name(int kind) {
    return kind == AF_WEIGHTS_CHECKSUM_FL8 ? "FL8" : kind == AF_WEIGHTS_CHECKSUM_XXH3 ? "XXH3-64" : "XXH64";
}

/* protobuf-c allocator over a small stack arena: unpacking a WeightsHeader needs one
 * struct and no more. */
typedef struct {
    _Alignas(16) uint8_t mem[512];
    size_t used;
} SmallArena;

static void *small_alloc(void *data, size_t size) {
    SmallArena *a = data;
    size_t off = (a->used + 15u) & ~(size_t)15u;
    if (off > sizeof a->mem || size > sizeof a->mem - off) return NULL;
    a->used = off + size;
    return a->mem + off;
}
static void small_free(void *data, void *ptr) { (void)data, (void)ptr; }

/* Wait for a request while data is flowing: MPI_Test (which drives progress: a
 * non-blocking collective only advances inside MPI calls) and yield the core between
 * polls; after FLOWING_POLL_S without completion, sleep between polls instead. On a
 * loaded machine a peer can be descheduled for milliseconds; sleeping then (the old 2 ms
 * limit) stalled the chunk pipeline for up to 2 ms per chunk. */
#define FLOWING_POLL_S 20e-3
static int wait_flowing(MPI_Request *req) {
    double t0 = af_time_now();
    for (;;) {
        int done = 0;
        int rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) return af_mpi_check(rc, "weights MPI_Test");
        if (done) return 0;
        if (af_time_now() - t0 > FLOWING_POLL_S) return af_mpi_wait(req, MPI_STATUS_IGNORE);
        sched_yield();
    }
}

/* The payload through node-shared memory (weights_shm.h): pieces of slot_elems floats;
 * per piece a reader copies it out of its node's ring, a leader takes part in its
 * broadcast on the leaders communicator, a writer puts it into its node's ring. A reader
 * sums the ring's piece (in cache, where its copy comes from; the copy itself streams past
 * the cache), another node's leader the piece off the wire, the root each piece right
 * after writing it. A rank without room (or refusing the checksum kind)
 * routes its pieces through a scratch piece, so rings and relays keep going. */
static int shm_payload(AfWeightsShm *shm, float *buf, size_t n, int root, int is_root, int no_room,
                       const AfWeightsOpts *opts, PayloadSum *sum, AfWeightsTiming *tm) {
    AfWeightsShmRole r;
    int rc = af_weights_shm_role(shm, root, &r);
    if (rc) return rc;
    const size_t pieces = n ? (n - 1) / r.slot_elems + 1 : 0;
    const uint64_t seq0 = af_weights_shm_next(shm, pieces);
    float *scratch = NULL;
    if (no_room && !(scratch = malloc(r.slot_elems * sizeof(float))))
        return af_error_set(AF_ENOMEM, "weights: cannot allocate a %zu-element scratch piece", r.slot_elems);
    for (size_t k = 0; k < pieces && rc == 0; k++) {
        size_t off = k * r.slot_elems, m = n - off < r.slot_elems ? n - off : r.slot_elems, bytes = m * sizeof(float);
        float *p = no_room ? scratch : buf + off;
        /* the root writing the ring sums FL8 in its copy; otherwise it sums the piece after */
        const int fused = is_root && r.writer && sum->kind == AF_WEIGHTS_CHECKSUM_FL8;
        if (r.reader) { /* stream the ring's piece (in cache) into buf, summing it on the way */
            const void *slot = af_weights_shm_peek(shm, seq0 + k);
            if (!no_room) sum_copy(sum, p, slot, bytes, 1);
            else if (r.leaders) af_weights_shm_copy_out(p, slot, bytes);
            af_weights_shm_release(shm, seq0 + k);
        }
        if (r.leaders) {
            MPI_Request q;
            rc = af_mpi_check(MPI_Ibcast(p, (int)m, MPI_FLOAT, r.leader_root, r.leaders_comm, &q), "weights MPI_Ibcast piece");
            if (rc == 0) rc = wait_flowing(&q);
        }
        if (rc) break;
        if (!is_root && !no_room && !r.reader) sum_update(sum, p, bytes); /* off the wire: still in cache */
        if (r.writer) {
            unsigned char *slot = af_weights_shm_claim(shm, seq0 + k);
            if (fused) sum_copy(sum, slot, p, bytes, 0);
            else memcpy(slot, p, bytes);
            if (is_root && opts && opts->corrupt_piece == k + 1 && bytes) slot[0] ^= 0x01; /* fault injection */
            af_weights_shm_publish(shm, seq0 + k);
        }
        if (is_root && !fused) {
            double t = af_time_now();
            sum_update(sum, p, bytes); /* just copied: in cache */
            tm->checksum_s += af_time_now() - t;
        }
    }
    free(scratch);
    return rc;
}

int af_weights_bcast(float *buf, size_t capacity, size_t *count, uint64_t *version, int root, MPI_Comm comm,
                     const AfWeightsOpts *opts, AfWeightsTiming *timing) {
    AfWeightsTiming tm = {0};
    int rank = 0, rc = 0;
    float *scratch = NULL;
    MPI_Request reqs[MAX_DEPTH];
    size_t posted = 0, done = 0, nchunks = 0;
    if ((rc = af_mpi_check(MPI_Comm_rank(comm, &rank), "weights MPI_Comm_rank"))) return rc;
    int depth = opts && opts->depth > 0 ? opts->depth : AF_WEIGHTS_DEFAULT_DEPTH;
    if (depth > MAX_DEPTH) depth = MAX_DEPTH;
    const int is_root = rank == root;

    /* 1. Header. */
    uint8_t hbytes[AF_WEIGHTS_HEADER_BYTES];
    memset(hbytes, 0, sizeof hbytes);
    uint64_t want_sum = 0;
    size_t n = 0, chunk = 0;
    int kind = 0, unknown_kind = 0; /* kind: the root's choice below, or the header's on a receiver */
    PayloadSum sum = {0};
    double t = af_time_now();
    if (is_root) {
        n = *count;
        chunk = opts && opts->chunk_elems ? opts->chunk_elems : AF_WEIGHTS_DEFAULT_CHUNK_ELEMS;
        if (chunk > (size_t)INT_MAX)
            return af_error_set(AF_ERANGE, "weights: chunk_elems %zu exceeds an MPI count", chunk);
        if (n && !buf) return af_error_set(AF_EINVAL, "weights: NULL buffer with %zu elements", n);
        Agentflow__WeightsHeader h = AGENTFLOW__WEIGHTS_HEADER__INIT;
        h.version = *version;
        h.count = n;
        h.dtype = AGENTFLOW__DTYPE__DTYPE_F32;
        h.checksum = 0; /* travels in the trailer */
        h.chunk_elems = chunk;
        /* FL8 where the payload is copied through a node's ring (summed inside the copies);
         * over MPI messages there is no copy to sum in, and XXH3 is the faster pass */
        kind = af_weights_shm_get(comm) ? AF_WEIGHTS_CHECKSUM_FL8 : AF_WEIGHTS_CHECKSUM_XXH3;
        if (opts && opts->checksum_kind) kind = opts->checksum_kind;
        h.checksum_kind = (Agentflow__ChecksumKind)kind;
        size_t len = agentflow__weights_header__get_packed_size(&h);
        AF_ASSERT(len >= 1 && len < AF_WEIGHTS_HEADER_BYTES);
        hbytes[0] = (uint8_t)len;
        agentflow__weights_header__pack(&h, hbytes + 1);
    }
    t = af_time_now();
    if ((rc = af_mpi_bcast(hbytes, AF_WEIGHTS_HEADER_BYTES, MPI_BYTE, root, comm))) return rc;
    if (!is_root) {
        SmallArena arena = {.used = 0};
        ProtobufCAllocator alloc = {small_alloc, small_free, &arena};
        size_t len = hbytes[0];
        Agentflow__WeightsHeader *h =
            len >= 1 && len < AF_WEIGHTS_HEADER_BYTES ? agentflow__weights_header__unpack(&alloc, len, hbytes + 1) : NULL;
        if (!h) return af_error_set(AF_EFORMAT, "weights header from rank %d: %zu bytes do not decode", root, len);
        if (h->dtype != AGENTFLOW__DTYPE__DTYPE_F32)
            return af_error_set(AF_EFORMAT, "weights header: dtype: unknown value %d", (int)h->dtype);
        if (h->chunk_elems == 0 || h->chunk_elems > (uint64_t)INT_MAX)
            return af_error_set(AF_EFORMAT, "weights header: chunk_elems: %llu outside [1, INT_MAX]",
                                (unsigned long long)h->chunk_elems);
        if (h->count > SIZE_MAX / sizeof(float))
            return af_error_set(AF_EFORMAT, "weights header: count: %llu elements is absurd", (unsigned long long)h->count);
        n = (size_t)h->count;
        chunk = (size_t)h->chunk_elems;
        if (h->checksum_kind == AGENTFLOW__CHECKSUM_KIND__CHECKSUM_KIND_UNSET ||
            h->checksum_kind == AGENTFLOW__CHECKSUM_KIND__CHECKSUM_XXH64)
            kind = AF_WEIGHTS_CHECKSUM_XXH64;
        else if (h->checksum_kind == AGENTFLOW__CHECKSUM_KIND__CHECKSUM_XXH3_64)
            kind = AF_WEIGHTS_CHECKSUM_XXH3;
        else if (h->checksum_kind == AGENTFLOW__CHECKSUM_KIND__CHECKSUM_FL8)
            kind = AF_WEIGHTS_CHECKSUM_FL8;
        else
            unknown_kind = (int)h->checksum_kind; /* follow the payload into scratch, then refuse */
        *version = h->version;
        *count = n;
    }
    tm.header_s = af_time_now() - t;

    /* 2. Payload. A receiver without room still takes part, into a scratch ring. */
    t = af_time_now();
    const int no_room = !is_root && (n > capacity || unknown_kind);
    if ((rc = sum_init(&sum, unknown_kind ? AF_WEIGHTS_CHECKSUM_XXH64 : kind))) return rc;
    SumWorker worker;
    memset(&worker, 0, sizeof worker); /* started below, on the MPI path only */
    AfWeightsShm *shm = af_weights_shm_get(comm);
    if (shm) {
        if ((rc = shm_payload(shm, buf, n, root, is_root, no_room, opts, &sum, &tm))) goto fail;
        goto trailer;
    }
    nchunks = n ? (n - 1) / chunk + 1 : 0;
    if (no_room) {
        scratch = malloc((size_t)depth * chunk * sizeof(float));
        if (!scratch) {
            sum_free(&sum);
            return af_error_set(AF_ENOMEM, "weights: cannot allocate a %d x %zu scratch ring", depth, chunk);
        }
    }
    sum_worker_start(&worker, &sum, no_room ? 0 : n * sizeof(float));
    while (done < nchunks) {
        while (posted < nchunks && posted - done < (size_t)depth) {
            size_t off = posted * chunk;
            size_t m = n - off < chunk ? n - off : chunk;
            float *dst = no_room ? scratch + (posted % (size_t)depth) * chunk : buf + off;
            rc = af_mpi_check(MPI_Ibcast(dst, (int)m, MPI_FLOAT, root, comm, &reqs[posted % (size_t)depth]),
                              "weights MPI_Ibcast");
            if (rc) goto fail;
            posted++;
            if (is_root) sum_worker_push(&worker, dst, m * sizeof(float)); /* in flight; read-only here */
        }
        if ((rc = wait_flowing(&reqs[done % (size_t)depth]))) goto fail;
        if (!is_root && !no_room) {
            size_t off = done * chunk;
            size_t m = n - off < chunk ? n - off : chunk;
            sum_worker_push(&worker, buf + off, m * sizeof(float)); /* landed */
        }
        done++;
    }
    sum_worker_finish(&worker);
    tm.checksum_s = is_root ? worker.busy_s : 0;
trailer:;
    /* 3. Trailer: the payload's checksum, known to the root only now. */
    uint64_t trailer = is_root ? sum_digest(&sum) ^ (opts ? opts->checksum_xor : 0) : 0;
    MPI_Request treq;
    if ((rc = af_mpi_check(MPI_Ibcast(&trailer, 1, MPI_UINT64_T, root, comm, &treq), "weights MPI_Ibcast trailer")))
        goto fail;
    if ((rc = wait_flowing(&treq))) goto fail;
    want_sum = trailer;
    tm.payload_s = af_time_now() - t;
    free(scratch);
    scratch = NULL;
    uint64_t got = sum_digest(&sum);
    sum_free(&sum);
    if (timing) *timing = tm;
    if (unknown_kind)
        return af_error_set(AF_EFORMAT,
                            "weights v%llu from rank %d: checksum kind %d is unknown to this build (it knows %d = "
                            "XXH64, %d = XXH3-64 and %d = FL8): sender and receiver binaries differ; payload discarded",
                            (unsigned long long)*version, root, unknown_kind, AF_WEIGHTS_CHECKSUM_XXH64,
                            AF_WEIGHTS_CHECKSUM_XXH3, AF_WEIGHTS_CHECKSUM_FL8);
    if (no_room)
        return af_error_set(AF_ERANGE, "weights v%llu: %zu elements do not fit the receiver's %zu",
                            (unsigned long long)*version, n, capacity);
    if (!is_root) {
        if (got != want_sum)
            return af_error_set(AF_ECHECKSUM,
                                "weights v%llu from rank %d: payload %s %016llx differs from the trailer's %016llx "
                                "(%zu elements)",
                                (unsigned long long)*version, root, sum_name(kind), (unsigned long long)got,
                                (unsigned long long)want_sum, n);
    }
    return 0;

fail:
    /* An MPI error mid-stream: the requests still in flight cannot be cancelled (collectives);
     * wait for them so that buffers are not released under MPI's feet. */
    while (done < posted) {
        MPI_Wait(&reqs[done % (size_t)depth], MPI_STATUS_IGNORE);
        done++;
    }
    sum_worker_finish(&worker);
    free(scratch);
    sum_free(&sum);
    return rc;
}

int af_weights_publish(MPI_Comm policy, uint32_t command, uint32_t iteration, uint64_t version, float *params,
                       size_t n_params, double *seconds) {
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
