/* Weight broadcast (common/weights.h) at 1, 2 and 4 ranks, with the root not always rank 0:
 *  - round trips of 0, 1, odd and many-chunk counts at several chunk sizes and depths,
 *    including the default chunking with more than one default chunk: every receiver
 *    holds the root's bytes exactly, with the root's count and version;
 *  - a corrupted checksum (opts->checksum_xor) gives AF_ECHECKSUM on every receiver and 0
 *    on the root, for the default kind (FL8 under shm, XXH3-64 over MPI), for XXH3-64 and
 *    for XXH64 (still accepted:
 *    what earlier senders sent); one corrupted payload float (not the
 *    trailer) is detected too; a checksum kind receivers do not know gives AF_EFORMAT
 *    naming it, their buffer untouched; and a receiver without room gives AF_ERANGE with its buffer untouched;
 *    after each, the next broadcast on the same communicator still round-trips (the
 *    collective stayed matched);
 *  - the learner-0 side af_weights_publish, received the way af_actor_run receives it;
 *  - dynamic sampling's REFILL through af_actor_run: no weights travel (the actors keep the
 *    RUN's bits although learner 0's buffer changed), a REFILL naming another version or
 *    coming before any RUN is refused with AF_EFORMAT;
 *  - receivers that join late and unevenly (as asynchronous actors do, between episodes)
 *    over several versions published back to back, each compared bit for bit;
 * and all of it under each transport (common/weights_shm.h), on its own duplicate of
 * MPI_COMM_WORLD: chunked MPI broadcasts; node-shared memory with the default pieces and
 * with small pieces and a short ring (many pieces, wrap-around); and shared memory split
 * into simulated nodes (rank % 2), so that the cross-node path (leaders' broadcast, relay
 * by a non-root leader, rings on both nodes) runs on one machine. Under shared memory a
 * piece corrupted in the root's ring (opts->corrupt_piece) gives AF_ECHECKSUM exactly on
 * the ranks whose bytes came through that ring. Attaching: auto picks shm when ranks share
 * a node, falls back to MPI broadcasts under a file size limit below the shared segment
 * (where shm is refused with AF_ERANGE), a second attach is AF_ESTATE. */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>
#include <xxhash.h>

#include "actor/actor_loop.h"
#include "common/checksum.h"
#include "common/error.h"
#include "common/mpi_env.h"
#include "common/protocol.h"
#include "common/weights.h"
#include "common/weights_shm.h"
#include "test_util.h"

/* Watchdog: a rank still running WATCHDOG_S after it started (ctest's TIMEOUT is 120 s;
 * the whole test takes seconds; AF_TEST_WATCHDOG_S overrides it) prints the step it is in
 * and aborts the main thread (SIGABRT: Open MPI's handler prints its stack), so a hang
 * fails before the TIMEOUT, takes the job down (mpirun ends every rank when one dies) and
 * names its place. */
#define WATCHDOG_S 100
static pthread_mutex_t step_mu = PTHREAD_MUTEX_INITIALIZER;
static char step_now[200] = "start";
static int step_rank = -1;
static pthread_t main_thread;

static void step(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void step(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&step_mu);
    vsnprintf(step_now, sizeof step_now, fmt, ap);
    pthread_mutex_unlock(&step_mu);
    va_end(ap);
}

static void *watchdog(void *arg) {
    (void)arg;
    const char *e = getenv("AF_TEST_WATCHDOG_S"); /* to see it fire */
    const int secs = e && atoi(e) > 0 ? atoi(e) : WATCHDOG_S;
    sleep((unsigned)secs);
    pthread_mutex_lock(&step_mu);
    fprintf(stderr, "test_weights_mpi rank %d: watchdog: still running after %d s, in: %s\n", step_rank, secs, step_now);
    pthread_mutex_unlock(&step_mu);
    pthread_kill(main_thread, SIGABRT); /* Open MPI's handler prints the stuck thread's stack */
    sleep(5);
    abort();
    return NULL;
}

static float value(size_t i, uint64_t version) { return (float)((i * 2654435761u + version * 97u) % 100003u) * 0.001f - 50.0f; }

static void fill(float *buf, size_t n, uint64_t version) {
    for (size_t i = 0; i < n; i++) buf[i] = value(i, version);
}

static int holds(const float *buf, size_t n, uint64_t version) {
    for (size_t i = 0; i < n; i++)
        if (buf[i] != value(i, version)) return 0;
    return 1;
}

/* One broadcast of n elements from root; receivers start from garbage. */
static void round_trip(MPI_Comm comm, int rank, int root, size_t n, size_t chunk, int depth, uint64_t version) {
    float *buf = malloc((n + 1) * sizeof(float));
    for (size_t i = 0; i <= n; i++) buf[i] = -1.0f;
    if (rank == root) fill(buf, n, version);
    size_t count = rank == root ? n : 12345;
    uint64_t v = rank == root ? version : 777;
    AfWeightsOpts o = {.chunk_elems = chunk, .depth = depth};
    AfWeightsTiming tm;
    int rc = af_weights_bcast(buf, n + 1, &count, &v, root, comm, chunk || depth ? &o : NULL, &tm);
    CHECK_MSG(rc == 0, "n %zu chunk %zu depth %d root %d: %s", n, chunk, depth, root, af_error_detail());
    CHECK_EQ_INT(count, n);
    CHECK_EQ_INT(v, version);
    CHECK_MSG(holds(buf, n, version), "n %zu chunk %zu depth %d root %d: payload differs", n, chunk, depth, root);
    CHECK(buf[n] == -1.0f); /* nothing written past count */
    CHECK(tm.payload_s >= 0 && tm.header_s >= 0 && tm.checksum_s >= 0);
    free(buf);
}

typedef struct {
    const char *name;
    AfWeightsTransportOpts t;
} Mode;

/* Whether `rank`'s bytes pass through the root's node ring in a broadcast from `root`
 * (they are then corrupted by opts->corrupt_piece): readers on the root's node, and, when
 * the root is not its node's leader, every rank of the other nodes (the leader relays
 * what it read from the ring). Nodes are simulated as rank % split (or one node). */
static int through_root_ring(const Mode *md, int chosen, int rank, int root, int size) {
    if (chosen != AF_WEIGHTS_TRANSPORT_SHM || rank == root) return 0;
    int split = md->t.split_nodes > 0 ? md->t.split_nodes : 1;
    if (split > size) split = size;
    int root_node = root % split, root_is_leader = root < split, node_size = (size - 1 - root_node) / split + 1;
    if (node_size < 2) return 0; /* a lone root has no ring */
    if (rank % split == root_node) return 1;
    return !root_is_leader;
}

static uint64_t fl8_of(const void *p, size_t bytes) {
    AfFl8State st;
    af_fl8_reset(&st);
    af_fl8_update(&st, p, bytes);
    return af_fl8_digest(&st);
}

static void suite(MPI_Comm comm, const Mode *md, int chosen) {
    AfMpi m;
    MPI_Comm_rank(comm, &m.rank);
    MPI_Comm_size(comm, &m.size);
    const int last = m.size - 1;
    const size_t piece = md->t.slot_elems ? md->t.slot_elems : AF_WEIGHTS_SHM_DEFAULT_SLOT_ELEMS;
    const size_t counts[] = {0, 1, 1000, 3 * 64 + 7, 10007};
    const size_t chunks[] = {1, 64, 1000, 0};
    const int depths[] = {1, 3, 0};
    uint64_t version = 1;
    for (size_t a = 0; a < sizeof counts / sizeof *counts; a++)
        for (size_t b = 0; b < sizeof chunks / sizeof *chunks; b++)
            for (size_t c = 0; c < sizeof depths / sizeof *depths; c++) {
                /* 1000 one-float or 157 64-float messages add nothing to 199 of them but
                 * rank-to-rank hand-offs, each a wait for the other rank's time slice on a
                 * busy machine */
                if ((chunks[b] == 1 && counts[a] >= 1000) || (chunks[b] == 64 && counts[a] > 1000)) continue;
                step("%s: round trip n %zu chunk %zu depth %d", md->name, counts[a], chunks[b], depths[c]);
                round_trip(comm, m.rank, (int)(version % (uint64_t)m.size), counts[a], chunks[b], depths[c], version);
                version++;
            }
    /* default chunking, more than one default chunk (the MPI transport's chunks; in pieces
     * of the default size under shm; not with small pieces: 1049 of them, nothing new) */
    step("%s: default chunking", md->name);
    if (piece == AF_WEIGHTS_SHM_DEFAULT_SLOT_ELEMS)
        round_trip(comm, m.rank, last, AF_WEIGHTS_DEFAULT_CHUNK_ELEMS * 2 + 5, 0, 0, 4242);

    /* corrupted checksum, each kind: receivers detect it; the next broadcast still works */
    for (int k = 0; k < 3; k++) {
        static const int kinds[3] = {0, AF_WEIGHTS_CHECKSUM_XXH3, AF_WEIGHTS_CHECKSUM_XXH64};
        const char *names[3] = {chosen == AF_WEIGHTS_TRANSPORT_SHM ? "payload FL8" : "payload XXH3-64",
                                "payload XXH3-64", "payload XXH64"}; /* the default kind follows the transport */
        const int kind = kinds[k];
        step("%s: corrupted checksum, kind %d", md->name, kind);
        const size_t n = 400000; /* 1.6 MB: summed on the helper thread */
        float *buf = malloc(n * sizeof(float));
        if (m.rank == 0) fill(buf, n, 9);
        size_t count = n;
        uint64_t v = 9;
        AfWeightsOpts o = {.chunk_elems = 70000, .depth = 2, .checksum_xor = 0x5a5a, .checksum_kind = kind};
        int rc = af_weights_bcast(buf, n, &count, &v, 0, comm, &o, NULL);
        if (m.rank == 0) CHECK_EQ_INT(rc, 0);
        else {
            CHECK_EQ_INT(rc, AF_ECHECKSUM);
            CHECK_STR_CONTAINS(af_error_detail(), names[k]);
            CHECK_EQ_INT(v, 9); /* the version is still reported */
        }
        o.checksum_xor = 0; /* an uncorrupted broadcast of this kind round-trips */
        if (m.rank == 0) fill(buf, n, 9);
        else buf[0] = -1.0f;
        CHECK_EQ_INT(af_weights_bcast(buf, n, &count, &v, 0, comm, &o, NULL), 0);
        CHECK(holds(buf, n, 9));
        free(buf);
        round_trip(comm, m.rank, 0, 3000, 256, 2, 10);
    }
    /* a payload one float off what the trailer covers: the root sends the trailer of a
     * buffer that differs from the one it broadcasts in one float (through checksum_xor,
     * the XOR of the two values of the default kind), which is what a receiver sees
     * when a float is corrupted in transit */
    {
        for (int big = 0; big < 2; big++) { /* inline and helper-thread summing */
        step("%s: one float off, big %d", md->name, big);
        const size_t n = big ? 300001 : 3001;
        float *buf = malloc(n * sizeof(float)), *alt = malloc(n * sizeof(float));
        fill(buf, n, 14);
        fill(alt, n, 14);
        alt[n / 2] += 1.0f;
        uint64_t flip = chosen == AF_WEIGHTS_TRANSPORT_SHM
                            ? fl8_of(buf, n * sizeof(float)) ^ fl8_of(alt, n * sizeof(float))
                            : XXH3_64bits(buf, n * sizeof(float)) ^ XXH3_64bits(alt, n * sizeof(float));
        CHECK(flip != 0);
        size_t count = n;
        uint64_t v = 14;
        AfWeightsOpts o = {.chunk_elems = big ? 65536 : 1000, .depth = 2, .checksum_xor = flip};
        int rc = af_weights_bcast(buf, n, &count, &v, 0, comm, &o, NULL);
        CHECK_EQ_INT(rc, m.rank == 0 ? 0 : AF_ECHECKSUM);
        free(alt);
        free(buf);
        }
    }
    /* a checksum kind receivers do not know: AF_EFORMAT naming it, buffer untouched,
     * collective still matched */
    {
        const size_t n = 2000;
        float *buf = malloc(n * sizeof(float));
        if (m.rank == 0) fill(buf, n, 15);
        else
            for (size_t i = 0; i < n; i++) buf[i] = 5.0f;
        size_t count = n;
        uint64_t v = 15;
        AfWeightsOpts o = {.chunk_elems = 300, .depth = 2, .checksum_kind = 7};
        step("%s: unknown checksum kind", md->name);
        int rc = af_weights_bcast(buf, n, &count, &v, 0, comm, &o, NULL);
        if (m.rank == 0) CHECK_EQ_INT(rc, 0);
        else {
            CHECK_EQ_INT(rc, AF_EFORMAT);
            CHECK_STR_CONTAINS(af_error_detail(), "checksum kind 7 is unknown");
            int untouched = 1;
            for (size_t i = 0; i < n; i++) untouched &= buf[i] == 5.0f;
            CHECK(untouched);
        }
        free(buf);
        round_trip(comm, m.rank, 0, 2100, 256, 2, 16);
    }
    /* a receiver without room: AF_ERANGE, buffer untouched, collective still matched */
    {
        const size_t n = 4000, cap = 100;
        float *buf = malloc(n * sizeof(float));
        if (m.rank == last) fill(buf, n, 11);
        else
            for (size_t i = 0; i < cap; i++) buf[i] = 3.0f;
        size_t count = n;
        uint64_t v = 11;
        AfWeightsOpts o = {.chunk_elems = 512, .depth = 4};
        step("%s: receiver without room", md->name);
        int rc = af_weights_bcast(buf, m.rank == last ? n : cap, &count, &v, last, comm, &o, NULL);
        if (m.rank == last) CHECK_EQ_INT(rc, 0);
        else {
            CHECK_EQ_INT(rc, AF_ERANGE);
            CHECK_EQ_INT(count, n);
            int untouched = 1;
            for (size_t i = 0; i < cap; i++) untouched &= buf[i] == 3.0f;
            CHECK(untouched);
        }
        free(buf);
        round_trip(comm, m.rank, last, 2500, 300, 3, 12);
    }
    /* learner 0's publish, received as af_actor_run receives it */
    {
        const size_t n = 9000;
        float *buf = malloc(n * sizeof(float));
        double secs = -1;
        step("%s: publish", md->name);
        if (m.rank == 0) {
            fill(buf, n, 13);
            CHECK_EQ_INT(af_weights_publish(comm, AF_CTRL_RUN, 5, 13, buf, n, &secs), 0);
            CHECK(secs >= 0);
            CHECK_EQ_INT(af_weights_publish(comm, AF_CTRL_STOP, 0, 0, NULL, 0, NULL), 0);
        } else {
            AfControl c;
            CHECK_EQ_INT(af_mpi_bcast(&c, sizeof c, MPI_BYTE, 0, comm), 0);
            CHECK_EQ_INT(c.command, AF_CTRL_RUN);
            CHECK_EQ_INT(c.iteration, 5);
            size_t count = 0;
            uint64_t v = 0;
            CHECK_EQ_INT(af_weights_bcast(buf, n, &count, &v, 0, comm, NULL, NULL), 0);
            CHECK_EQ_INT(count, n);
            CHECK_EQ_INT(v, 13);
            CHECK(holds(buf, n, 13));
            CHECK_EQ_INT(af_mpi_bcast(&c, sizeof c, MPI_BYTE, 0, comm), 0);
            CHECK_EQ_INT(c.command, AF_CTRL_STOP);
        }
        free(buf);
    }
    /* a piece corrupted in the root's ring: detected by exactly the ranks it reached */
    for (int root = 0; root < m.size; root += m.size > 1 ? m.size - 1 : 1) {
        const size_t n = 2 * piece + 17; /* three pieces */
        step("%s: piece corrupted in the ring, root %d", md->name, root);
        float *buf = malloc(n * sizeof(float));
        if (m.rank == root) fill(buf, n, 21);
        size_t count = n;
        uint64_t v = 21;
        AfWeightsOpts o = {.corrupt_piece = 2};
        int rc = af_weights_bcast(buf, n, &count, &v, root, comm, &o, NULL);
        int hit = through_root_ring(md, chosen, m.rank, root, m.size);
        CHECK_MSG(rc == (hit ? AF_ECHECKSUM : 0), "%s root %d rank %d: rc %d (%s)", md->name, root, m.rank, rc,
                  rc ? af_error_detail() : "");
        if (!hit) CHECK(holds(buf, n, 21));
        free(buf);
        round_trip(comm, m.rank, root, 4321, 0, 0, 22);
        if (m.size == 1) break;
    }
    /* receivers joining late and unevenly, versions back to back (asynchronous actors) */
    {
        const size_t n = 3 * piece + 3; /* four pieces */
        float *buf = malloc(n * sizeof(float));
        for (uint64_t ver = 30; ver < 36; ver++) {
            const int root = (int)(ver % (uint64_t)m.size);
            step("%s: late receivers, v%llu", md->name, (unsigned long long)ver);
            if (m.rank == root) fill(buf, n, ver);
            else {
                struct timespec ts = {0, (long)((m.rank * 7 + (int)ver * 3) % 11) * 1000000L};
                nanosleep(&ts, NULL);
            }
            size_t count = n;
            uint64_t v = ver;
            CHECK_EQ_INT(af_weights_bcast(buf, n, &count, &v, root, comm, NULL, NULL), 0);
            CHECK_EQ_INT(v, ver);
            CHECK_MSG(holds(buf, n, ver), "%s v%llu rank %d: bits differ", md->name, (unsigned long long)ver, m.rank);
        }
        free(buf);
    }
}

/* ------------------------------------------------------------------ REFILL through the actor loop */

static int weights_calls; /* on_weights calls on this rank */
static void count_weights(void *ctx, uint64_t version) { (void)ctx, (void)version, weights_calls++; }
static int no_episode(void *ctx, const AfWorkUnit *u, uint64_t version, Agentflow__Trajectory **out) {
    (void)ctx, (void)u, (void)version, (void)out;
    return af_error_set(AF_ESTATE, "no episode expected");
}

/* Learner 0 answers one work request of every actor with DONE for iteration it. An actor
 * that stopped asking (it refused a control message it should take) fails the check after
 * 10 s instead of hanging the test. */
static void serve_done(MPI_Comm comm, int size, uint32_t it) {
    for (int a = 1; a < size; a++) {
        AfWorkRequest wr;
        MPI_Status st;
        int flag = 0;
        for (double t0 = af_time_now(); !flag && af_time_now() - t0 < 10;) {
            MPI_Iprobe(MPI_ANY_SOURCE, AF_TAG_WORK_REQ, comm, &flag, &st);
            if (!flag) nanosleep(&(struct timespec){0, 1000000L}, NULL);
        }
        CHECK_MSG(flag, "iteration %u: %d of %d actors asked for work within 10 s", it, a - 1, size - 1);
        if (!flag) return;
        CHECK_EQ_INT(MPI_Recv(&wr, sizeof wr, MPI_BYTE, st.MPI_SOURCE, AF_TAG_WORK_REQ, comm, &st), MPI_SUCCESS);
        AfWorkUnit u = {.kind = AF_WORK_DONE, .iteration = it, .lease = 1};
        CHECK_EQ_INT(MPI_Send(&u, sizeof u, MPI_BYTE, st.MPI_SOURCE, AF_TAG_WORK, comm), MPI_SUCCESS);
    }
}

/* Dynamic sampling's refill rounds (common/protocol.h AF_CTRL_REFILL) as actors take them:
 * a REFILL carries no weights (learner 0 publishes it with its buffer changed meanwhile;
 * the actors keep the RUN's bits, call on_weights once, and the collectives stay matched
 * up to STOP); a REFILL naming another version than the RUN's, or coming before any RUN,
 * is refused with AF_EFORMAT on every actor. Rank 0 plays learner 0 (1 learner). */
static void test_refill(const AfMpi *m) {
    if (m->size < 2) return;
    const size_t n = 300000; /* 1.2 MB: summed on the helper thread, several shared-memory pieces */
    float *buf = malloc(n * sizeof(float));
    char scratch[256];
    for (int bad = 0; bad < 3; bad++) { /* 0: RUN, REFILL, REFILL, STOP; 1: REFILL of another version; 2: REFILL first */
        MPI_Comm comm;
        step("refill, case %d", bad);
        CHECK_EQ_INT(MPI_Comm_dup(MPI_COMM_WORLD, &comm), MPI_SUCCESS);
        CHECK_EQ_INT(af_weights_transport_attach(comm, NULL, NULL), 0);
        weights_calls = 0;
        if (m->rank == 0) {
            fill(buf, n, 13);
            if (bad < 2) {
                CHECK_EQ_INT(af_weights_publish(comm, AF_CTRL_RUN, 5, 13, buf, n, NULL), 0);
                serve_done(comm, m->size, 5);
            }
            fill(buf, n, 99); /* what a REFILL would carry if it carried weights */
            CHECK_EQ_INT(af_weights_publish(comm, AF_CTRL_REFILL, 5, bad == 1 ? 12 : 13, buf, n, NULL), 0);
            if (bad == 0) {
                serve_done(comm, m->size, 5);
                CHECK_EQ_INT(af_weights_publish(comm, AF_CTRL_REFILL, 5, 13, NULL, 0, NULL), 0);
                serve_done(comm, m->size, 5);
                CHECK_EQ_INT(af_weights_publish(comm, AF_CTRL_STOP, 0, 0, NULL, 0, NULL), 0);
            }
        } else {
            for (size_t i = 0; i < n; i++) buf[i] = -1.0f;
            AfActorHooks h = {.params = buf, .n_params = n, .run_episode = no_episode, .on_weights = count_weights};
            AfActorStats st;
            memset(&st, 0, sizeof st);
            int rc = af_actor_run(&h, comm, comm, 1, scratch, sizeof scratch, &st);
            if (bad == 0) {
                CHECK_MSG(rc == 0, "refill: %s", rc ? af_error_detail() : "");
                CHECK_EQ_INT(weights_calls, 1);
                CHECK_MSG(holds(buf, n, 13), "rank %d: the REFILL changed the weights", m->rank);
            } else {
                CHECK_EQ_INT(rc, AF_EFORMAT);
                CHECK_STR_CONTAINS(af_error_detail(), bad == 1 ? "REFILL for iteration 5 version 12, but the weights held "
                                                                 "are those of iteration 5 version 13"
                                                               : "REFILL for iteration 5 version 13, but the weights held "
                                                                 "are none");
                CHECK_EQ_INT(weights_calls, bad == 1 ? 1 : 0);
            }
        }
        MPI_Comm_free(&comm);
    }
    free(buf);
}

int main(int argc, char **argv) {
    AfMpi m;
    if (af_mpi_init(&argc, &argv, &m)) {
        fprintf(stderr, "af_mpi_init: %s\n", af_error_detail());
        return 1;
    }
    step_rank = m.rank;
    main_thread = pthread_self();
    pthread_t wd;
    if (pthread_create(&wd, NULL, watchdog, NULL) == 0) pthread_detach(wd);
    const Mode modes[] = {
        {"bcast", {.method = AF_WEIGHTS_TRANSPORT_BCAST}},
        {"shm", {.method = AF_WEIGHTS_TRANSPORT_SHM}},
        {"shm-small-pieces", {.method = AF_WEIGHTS_TRANSPORT_SHM, .slot_elems = 2000, .slots = 2}},
        {"shm-split-nodes", {.method = AF_WEIGHTS_TRANSPORT_SHM, .split_nodes = 2, .slot_elems = 2000, .slots = 3}},
    };
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
        MPI_Comm comm;
        int chosen = -1;
        step("%s: attach", modes[i].name);
        CHECK_EQ_INT(MPI_Comm_dup(MPI_COMM_WORLD, &comm), MPI_SUCCESS);
        int rc = af_weights_transport_attach(comm, &modes[i].t, &chosen);
        CHECK_MSG(rc == 0, "attach %s: %s", modes[i].name, af_error_detail());
        CHECK_EQ_INT(chosen, modes[i].t.method);
        CHECK(af_weights_shm_get(comm) ? chosen == AF_WEIGHTS_TRANSPORT_SHM : chosen == AF_WEIGHTS_TRANSPORT_BCAST);
        if (rc == 0) suite(comm, &modes[i], chosen);
        step("%s: MPI_Comm_free", modes[i].name);
        MPI_Comm_free(&comm); /* frees the shared window (attribute delete callback) */
    }
    /* auto: shared memory when ranks share a node, MPI broadcasts otherwise; a second
     * attach is refused */
    step("auto transport");
    {
        MPI_Comm comm;
        int chosen = -1;
        MPI_Comm_dup(MPI_COMM_WORLD, &comm);
        CHECK_EQ_INT(af_weights_transport_attach(comm, NULL, &chosen), 0);
        CHECK_EQ_INT(chosen, m.size > 1 ? AF_WEIGHTS_TRANSPORT_SHM : AF_WEIGHTS_TRANSPORT_BCAST);
        if (chosen == AF_WEIGHTS_TRANSPORT_SHM) {
            CHECK_EQ_INT(af_weights_transport_attach(comm, NULL, &chosen), AF_ESTATE);
        }
        AfWeightsTransportOpts bad = {.method = 5};
        CHECK_EQ_INT(af_weights_transport_attach(comm, &bad, NULL), AF_EINVAL);
        round_trip(comm, m.rank, 0, 70000, 0, 0, 40);
        MPI_Comm_free(&comm);
    }
    /* under a file size limit below the shared segment (Open MPI backs it with a file;
     * creating it would raise SIGXFSZ): auto falls back to MPI broadcasts, shm refuses */
    step("file size limit");
    {
        struct rlimit old_lim, lim;
        CHECK_EQ_INT(getrlimit(RLIMIT_FSIZE, &old_lim), 0);
        lim = old_lim;
        lim.rlim_cur = 1 << 20; /* 1 MiB: below the 16 MiB ring */
        CHECK_EQ_INT(setrlimit(RLIMIT_FSIZE, &lim), 0);
        MPI_Comm comm;
        int chosen = -1;
        MPI_Comm_dup(MPI_COMM_WORLD, &comm);
        CHECK_EQ_INT(af_weights_transport_attach(comm, NULL, &chosen), 0);
        CHECK_EQ_INT(chosen, AF_WEIGHTS_TRANSPORT_BCAST);
        CHECK(af_weights_shm_get(comm) == NULL);
        AfWeightsTransportOpts shm = {.method = AF_WEIGHTS_TRANSPORT_SHM};
        CHECK_EQ_INT(af_weights_transport_attach(comm, &shm, &chosen), AF_ERANGE);
        CHECK_STR_CONTAINS(af_error_detail(), "file size limit");
        round_trip(comm, m.rank, 0, 5000, 0, 0, 41);
        MPI_Comm_free(&comm);
        CHECK_EQ_INT(setrlimit(RLIMIT_FSIZE, &old_lim), 0);
    }

    test_refill(&m);

    int failed = af_test_failures, any = 0;
    step("final reduction and MPI_Finalize");
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    af_mpi_finalize(&m);
    if (any && !af_test_failures) af_test_failures = 1; /* another rank failed */
    TEST_MAIN_END();
}
