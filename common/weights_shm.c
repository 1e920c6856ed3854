/* Node-shared memory transport of the weight broadcast (format and protocol in weights_shm.h). */
#include "common/weights_shm.h"

#include <limits.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#if defined(__x86_64__) || defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "common/error.h"
#include "common/log.h"
#include "common/mpi_env.h"

#define LINE 64          /* bytes: one counter per cache line, no false sharing */
#define RING_ALIGN 4096  /* bytes: the ring starts on a page */
#define MAX_SLOTS 64

struct AfWeightsShm {
    int rank, size;       /* in comm */
    int node_rank, node_size, n_leaders;
    int *leader_of;       /* (comm size) the leaders-communicator rank of each rank's node leader */
    MPI_Comm node, leaders; /* leaders: MPI_COMM_NULL off node rank 0 */
    MPI_Win win;
    unsigned char *base;  /* node rank 0's segment: control block, then the ring */
    size_t slot_elems, slot_bytes;
    int slots;
    uint64_t seq;         /* the next piece number (advanced alike on every rank) */
};

static int keyval = MPI_KEYVAL_INVALID;

static _Atomic uint64_t *written_ctr(const AfWeightsShm *s) { return (_Atomic uint64_t *)(void *)s->base; }
static _Atomic uint64_t *done_ctr(const AfWeightsShm *s, int node_rank) {
    return (_Atomic uint64_t *)(void *)(s->base + (size_t)LINE * (size_t)(1 + node_rank));
}
static size_t ctrl_bytes(int node_size) {
    size_t b = (size_t)LINE * (size_t)(1 + node_size);
    return (b + RING_ALIGN - 1) / RING_ALIGN * RING_ALIGN;
}
static unsigned char *slot_ptr(const AfWeightsShm *s, uint64_t seq) {
    return s->base + ctrl_bytes(s->node_size) + (size_t)(seq % (uint64_t)s->slots) * s->slot_bytes;
}

static void state_free(AfWeightsShm *s) {
    if (!s) return;
    if (s->win != MPI_WIN_NULL) {
        MPI_Win_unlock_all(s->win);
        MPI_Win_free(&s->win);
    }
    if (s->leaders != MPI_COMM_NULL) MPI_Comm_free(&s->leaders);
    if (s->node != MPI_COMM_NULL) MPI_Comm_free(&s->node);
    free(s->leader_of);
    free(s);
}

static int delete_attr(MPI_Comm comm, int kv, void *attr, void *extra) {
    (void)comm, (void)kv, (void)extra;
    state_free(attr);
    return MPI_SUCCESS;
}

AfWeightsShm *af_weights_shm_get(MPI_Comm comm) {
    if (comm == MPI_COMM_NULL || keyval == MPI_KEYVAL_INVALID) return NULL;
    void *v = NULL;
    int flag = 0;
    if (MPI_Comm_get_attr(comm, keyval, &v, &flag) != MPI_SUCCESS || !flag) return NULL;
    return v;
}

/* Every rank learns whether all succeeded (so that all take the same way out). */
static int all_ok(MPI_Comm comm, int rc) {
    int bad = rc != 0, any = 0;
    if (MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, comm) != MPI_SUCCESS) return AF_EMPI;
    return any;
}

int af_weights_transport_attach(MPI_Comm comm, const AfWeightsTransportOpts *opts, int *chosen) {
    AfWeightsTransportOpts o = {.method = AF_WEIGHTS_TRANSPORT_AUTO};
    if (opts) o = *opts;
    if (chosen) *chosen = AF_WEIGHTS_TRANSPORT_BCAST;
    if (comm == MPI_COMM_NULL) return af_error_set(AF_EINVAL, "weights transport: MPI_COMM_NULL");
    if (o.method < AF_WEIGHTS_TRANSPORT_AUTO || o.method > AF_WEIGHTS_TRANSPORT_SHM)
        return af_error_set(AF_EINVAL, "weights transport: method %d (auto|bcast|shm = 0|1|2)", o.method);
    if (o.split_nodes < 0 || o.slots < 0 || o.slots == 1 || o.slots > MAX_SLOTS || o.slot_elems > (size_t)INT_MAX)
        return af_error_set(AF_EINVAL, "weights transport: split_nodes %d, slots %d (2..%d), slot_elems %zu", o.split_nodes,
                            o.slots, MAX_SLOTS, o.slot_elems);
    if (o.method == AF_WEIGHTS_TRANSPORT_BCAST) return 0;
    if (af_weights_shm_get(comm)) return af_error_set(AF_ESTATE, "weights transport: already attached to this communicator");
    if (keyval == MPI_KEYVAL_INVALID &&
        MPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, delete_attr, &keyval, NULL) != MPI_SUCCESS)
        return af_error_set(AF_EMPI, "weights transport: MPI_Comm_create_keyval failed");

    int rc = 0, size = 0, max_node = 0, lrank = -1;
    AfWeightsShm *s = calloc(1, sizeof *s);
    if (!s) return af_error_set(AF_ENOMEM, "weights transport state");
    s->node = s->leaders = MPI_COMM_NULL;
    s->win = MPI_WIN_NULL;
    s->slot_elems = o.slot_elems ? o.slot_elems : AF_WEIGHTS_SHM_DEFAULT_SLOT_ELEMS;
    s->slot_bytes = (s->slot_elems * sizeof(float) + LINE - 1) / LINE * LINE;
    s->slots = o.slots ? o.slots : AF_WEIGHTS_SHM_DEFAULT_SLOTS;
    MPI_Comm_rank(comm, &s->rank);
    MPI_Comm_size(comm, &size);
    s->size = size;
    MPI_Comm real = MPI_COMM_NULL;
    if ((rc = af_mpi_check(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, s->rank, MPI_INFO_NULL, &real),
                           "weights transport MPI_Comm_split_type")))
        goto fail;
    if (o.split_nodes > 0) { /* simulated nodes: the cross-node path on one machine */
        rc = af_mpi_check(MPI_Comm_split(real, s->rank % o.split_nodes, s->rank, &s->node), "weights transport split");
        MPI_Comm_free(&real);
        if (rc) goto fail;
    } else s->node = real;
    MPI_Comm_rank(s->node, &s->node_rank);
    MPI_Comm_size(s->node, &s->node_size);
    if ((rc = af_mpi_check(MPI_Allreduce(&s->node_size, &max_node, 1, MPI_INT, MPI_MAX, comm), "weights transport")))
        goto fail;
    if (max_node < 2 && o.method == AF_WEIGHTS_TRANSPORT_AUTO) { /* no rank shares a node: MPI it is */
        state_free(s);
        return 0;
    }
    if ((rc = af_mpi_check(MPI_Comm_split(comm, s->node_rank == 0 ? 0 : MPI_UNDEFINED, s->rank, &s->leaders),
                           "weights transport leaders split")))
        goto fail;
    if (s->leaders != MPI_COMM_NULL) MPI_Comm_rank(s->leaders, &lrank);
    if ((rc = af_mpi_check(MPI_Bcast(&lrank, 1, MPI_INT, 0, s->node), "weights transport")))
        goto fail;
    s->leader_of = malloc(sizeof(int) * (size_t)size);
    if (!s->leader_of) {
        rc = af_error_set(AF_ENOMEM, "weights transport: leader table");
        goto fail;
    }
    if ((rc = af_mpi_check(MPI_Allgather(&lrank, 1, MPI_INT, s->leader_of, 1, MPI_INT, comm), "weights transport")))
        goto fail;
    s->n_leaders = 0;
    for (int i = 0; i < size; i++)
        if (s->leader_of[i] + 1 > s->n_leaders) s->n_leaders = s->leader_of[i] + 1;

    /* The window: node rank 0 holds the control block and the ring (none on a lone rank).
     * Open MPI backs it with a file: under a file size limit (RLIMIT_FSIZE) smaller than
     * the segment, creating it would raise SIGXFSZ, so that is checked first. */
    size_t bytes = s->node_rank ? 0 : ctrl_bytes(s->node_size) + (s->node_size > 1 ? (size_t)s->slots * s->slot_bytes : 0);
    size_t seg = ctrl_bytes(s->node_size) + (size_t)s->slots * s->slot_bytes;
    struct rlimit fl;
    if (getrlimit(RLIMIT_FSIZE, &fl) == 0 && fl.rlim_cur != RLIM_INFINITY && (rlim_t)seg > fl.rlim_cur)
        rc = af_error_set(AF_ERANGE, "weights transport: a %zu-byte shared segment exceeds the file size limit (%llu bytes)",
                          seg, (unsigned long long)fl.rlim_cur);
    int any = all_ok(comm, rc);
    if (any == 0) {
        void *mine = NULL;
        int wrc = MPI_Win_allocate_shared((MPI_Aint)bytes, 1, MPI_INFO_NULL, s->node, &mine, &s->win);
        if (wrc != MPI_SUCCESS) {
            s->win = MPI_WIN_NULL;
            rc = af_mpi_check(wrc, "weights transport MPI_Win_allocate_shared");
        }
        any = all_ok(comm, rc);
    }
    if (any) {
        if (rc == 0 && any == AF_EMPI) rc = af_error_set(AF_EMPI, "weights transport: MPI_Allreduce failed");
        if (o.method == AF_WEIGHTS_TRANSPORT_AUTO && any != AF_EMPI) { /* fall back, every rank alike */
            state_free(s);
            return 0;
        }
        if (rc == 0) rc = af_error_set(AF_EMPI, "weights transport: the shared window failed on another rank");
        goto fail;
    }
    MPI_Aint qsize = 0;
    int disp = 0;
    if ((rc = af_mpi_check(MPI_Win_shared_query(s->win, 0, &qsize, &disp, &s->base), "weights transport MPI_Win_shared_query")))
        goto fail;
    if ((rc = af_mpi_check(MPI_Win_lock_all(MPI_MODE_NOCHECK, s->win), "weights transport MPI_Win_lock_all"))) goto fail;
    if (s->node_rank == 0) memset(s->base, 0, ctrl_bytes(s->node_size));
    MPI_Win_sync(s->win);
    if ((rc = af_mpi_check(MPI_Barrier(s->node), "weights transport barrier"))) goto fail;
    MPI_Win_sync(s->win);
    if ((rc = af_mpi_check(MPI_Comm_set_attr(comm, keyval, s), "weights transport MPI_Comm_set_attr"))) goto fail;
    if (chosen) *chosen = AF_WEIGHTS_TRANSPORT_SHM;
    return 0;
fail:
    state_free(s);
    return rc;
}

int af_weights_shm_role(const AfWeightsShm *s, int root, AfWeightsShmRole *r) {
    memset(r, 0, sizeof *r);
    if (root < 0 || root >= s->size) return af_error_set(AF_EINVAL, "weights: root %d outside [0, %d)", root, s->size);
    const int same_node = s->leader_of[root] == s->leader_of[s->rank];
    if (s->rank == root) r->writer = s->node_size > 1;
    else if (same_node || s->node_rank != 0) r->reader = 1;
    else r->writer = s->node_size > 1; /* another node's leader: from the wire into its ring */
    r->leaders = s->n_leaders > 1 && s->node_rank == 0;
    r->leader_root = s->leader_of[root];
    r->leaders_comm = s->leaders;
    r->slot_elems = s->slot_elems;
    return 0;
}

uint64_t af_weights_shm_next(AfWeightsShm *s, size_t pieces) {
    uint64_t first = s->seq;
    s->seq += pieces;
    return first;
}

/* Polls `ctr` until it reaches `want`: yields the core between polls, and after 20 ms
 * without it sleeps (50 us doubling to 1 ms) so that a waiting rank does not steal the
 * core of the one it waits for (more ranks than cores). A hand-off never takes long once
 * the header has arrived (its peer is working on this very call), so a wait past
 * STUCK_WARN_S is logged once, naming the counter and both values: a peer that stopped
 * taking part (a bug) then shows in the log instead of as a silent hang. */
#define STUCK_WARN_S 30.0
static void wait_at_least(const AfWeightsShm *s, _Atomic uint64_t *ctr, uint64_t want, const char *what) {
    if (atomic_load_explicit(ctr, memory_order_acquire) >= want) return;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long sleep_ns = 50000;
    int warned = 0;
    uint64_t v;
    while ((v = atomic_load_explicit(ctr, memory_order_acquire)) < want) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        double dt = (double)(now.tv_sec - t0.tv_sec) + 1e-9 * (double)(now.tv_nsec - t0.tv_nsec);
        if (dt < 20e-3) {
            sched_yield();
            continue;
        }
        if (!warned && dt > STUCK_WARN_S) {
            warned = 1;
            af_log(AF_LOG_WARN, "weights shm: node rank %d of %d has waited %.0f s for %s to reach %llu (it is at %llu)",
                   s->node_rank, s->node_size, dt, what, (unsigned long long)want, (unsigned long long)v);
        }
        struct timespec ts = {0, sleep_ns};
        nanosleep(&ts, NULL);
        if (sleep_ns < 1000000) sleep_ns *= 2;
    }
}

const void *af_weights_shm_peek(AfWeightsShm *s, uint64_t seq) {
    wait_at_least(s, written_ctr(s), seq + 1, "the written-pieces counter");
    return slot_ptr(s, seq);
}

void af_weights_shm_release(AfWeightsShm *s, uint64_t seq) {
    atomic_store_explicit(done_ctr(s, s->node_rank), seq + 1, memory_order_release);
}

void *af_weights_shm_claim(AfWeightsShm *s, uint64_t seq) {
    if (seq >= (uint64_t)s->slots) /* the slot's previous piece, seq - slots, must be read by every peer */
        for (int j = 0; j < s->node_size; j++)
            if (j != s->node_rank) wait_at_least(s, done_ctr(s, j), seq + 1 - (uint64_t)s->slots, "a peer's done counter");
    return slot_ptr(s, seq);
}

void af_weights_shm_publish(AfWeightsShm *s, uint64_t seq) {
    atomic_store_explicit(done_ctr(s, s->node_rank), seq + 1, memory_order_relaxed);
    atomic_store_explicit(written_ctr(s), seq + 1, memory_order_release);
}

void af_weights_shm_copy_out(void *dst, const void *src, size_t bytes) {
#if defined(__x86_64__) || defined(__SSE2__)
    unsigned char *d = dst;
    const unsigned char *p = src;
    size_t head = (16 - ((uintptr_t)d & 15)) & 15;
    if (head > bytes) head = bytes;
    memcpy(d, p, head);
    d += head, p += head, bytes -= head;
    for (; bytes >= 64; d += 64, p += 64, bytes -= 64) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)p), b = _mm_loadu_si128((const __m128i *)(const void *)(p + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(const void *)(p + 32)), e = _mm_loadu_si128((const __m128i *)(const void *)(p + 48));
        _mm_stream_si128((__m128i *)(void *)d, a);
        _mm_stream_si128((__m128i *)(void *)(d + 16), b);
        _mm_stream_si128((__m128i *)(void *)(d + 32), c);
        _mm_stream_si128((__m128i *)(void *)(d + 48), e);
    }
    memcpy(d, p, bytes);
    _mm_sfence(); /* the streamed stores are visible before anything that follows */
#else
    memcpy(dst, src, bytes);
#endif
}
