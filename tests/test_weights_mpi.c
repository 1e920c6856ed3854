/* Weight broadcast (common/weights.h) at 1, 2 and 4 ranks, with the root not always rank 0:
 *  - round trips of 0, 1, odd and many-chunk counts at several chunk sizes and depths,
 *    including the default chunking with more than one default chunk: every receiver
 *    holds the root's bytes exactly, with the root's count and version;
 *  - a corrupted checksum (opts->checksum_xor) gives AF_ECHECKSUM on every receiver and 0
 *    on the root, for the default kind (XXH3-64) and for XXH64 (still accepted: what
 *    senders before the checksum_kind field sent); one corrupted payload float (not the
 *    trailer) is detected too; a checksum kind receivers do not know gives AF_EFORMAT
 *    naming it, their buffer untouched; and a receiver without room gives AF_ERANGE with its buffer untouched;
 *    after each, the next broadcast on the same communicator still round-trips (the
 *    collective stayed matched);
 *  - the learner-0 side af_weights_publish, received the way af_actor_run receives it. */
#include <stdint.h>
#include <stdlib.h>
#include <xxhash.h>

#include "actor/actor_loop.h"
#include "common/error.h"
#include "common/mpi_env.h"
#include "common/protocol.h"
#include "common/weights.h"
#include "test_util.h"

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
static void round_trip(int rank, int root, size_t n, size_t chunk, int depth, uint64_t version) {
    float *buf = malloc((n + 1) * sizeof(float));
    for (size_t i = 0; i <= n; i++) buf[i] = -1.0f;
    if (rank == root) fill(buf, n, version);
    size_t count = rank == root ? n : 12345;
    uint64_t v = rank == root ? version : 777;
    AfWeightsOpts o = {.chunk_elems = chunk, .depth = depth};
    AfWeightsTiming tm;
    int rc = af_weights_bcast(buf, n + 1, &count, &v, root, MPI_COMM_WORLD, chunk || depth ? &o : NULL, &tm);
    CHECK_MSG(rc == 0, "n %zu chunk %zu depth %d root %d: %s", n, chunk, depth, root, af_error_detail());
    CHECK_EQ_INT(count, n);
    CHECK_EQ_INT(v, version);
    CHECK_MSG(holds(buf, n, version), "n %zu chunk %zu depth %d root %d: payload differs", n, chunk, depth, root);
    CHECK(buf[n] == -1.0f); /* nothing written past count */
    CHECK(tm.payload_s >= 0 && tm.header_s >= 0 && tm.checksum_s >= 0);
    free(buf);
}

int main(int argc, char **argv) {
    AfMpi m;
    if (af_mpi_init(&argc, &argv, &m)) {
        fprintf(stderr, "af_mpi_init: %s\n", af_error_detail());
        return 1;
    }
    const int last = m.size - 1;
    const size_t counts[] = {0, 1, 1000, 3 * 64 + 7, 10007};
    const size_t chunks[] = {1, 64, 1000, 0};
    const int depths[] = {1, 3, 0};
    uint64_t version = 1;
    for (size_t a = 0; a < sizeof counts / sizeof *counts; a++)
        for (size_t b = 0; b < sizeof chunks / sizeof *chunks; b++)
            for (size_t c = 0; c < sizeof depths / sizeof *depths; c++) {
                if (chunks[b] == 1 && counts[a] > 1000) continue; /* 10007 one-float messages: slow, nothing new */
                round_trip(m.rank, (int)(version % (uint64_t)m.size), counts[a], chunks[b], depths[c], version);
                version++;
            }
    /* default chunking, more than one default chunk */
    round_trip(m.rank, last, AF_WEIGHTS_DEFAULT_CHUNK_ELEMS * 2 + 5, 0, 0, 4242);

    /* corrupted checksum, each kind: receivers detect it; the next broadcast still works */
    for (int k = 0; k < 2; k++) {
        const int kind = k ? AF_WEIGHTS_CHECKSUM_XXH64 : 0;
        const size_t n = 400000; /* 1.6 MB: summed on the helper thread */
        float *buf = malloc(n * sizeof(float));
        if (m.rank == 0) fill(buf, n, 9);
        size_t count = n;
        uint64_t v = 9;
        AfWeightsOpts o = {.chunk_elems = 70000, .depth = 2, .checksum_xor = 0x5a5a, .checksum_kind = kind};
        int rc = af_weights_bcast(buf, n, &count, &v, 0, MPI_COMM_WORLD, &o, NULL);
        if (m.rank == 0) CHECK_EQ_INT(rc, 0);
        else {
            CHECK_EQ_INT(rc, AF_ECHECKSUM);
            CHECK_STR_CONTAINS(af_error_detail(), k ? "payload XXH64" : "payload XXH3-64");
            CHECK_EQ_INT(v, 9); /* the version is still reported */
        }
        o.checksum_xor = 0; /* an uncorrupted XXH64 broadcast round-trips */
        if (m.rank == 0) fill(buf, n, 9);
        else buf[0] = -1.0f;
        CHECK_EQ_INT(af_weights_bcast(buf, n, &count, &v, 0, MPI_COMM_WORLD, &o, NULL), 0);
        CHECK(holds(buf, n, 9));
        free(buf);
        round_trip(m.rank, 0, 3000, 256, 2, 10);
    }
    /* a payload one float off what the trailer covers: the root sends the trailer of a
     * buffer that differs from the one it broadcasts in one float (through checksum_xor,
     * the XOR of the two XXH3-64 values), which is what a receiver sees when a float is
     * corrupted in transit */
    {
        for (int big = 0; big < 2; big++) { /* inline and helper-thread summing */
        const size_t n = big ? 300001 : 3001;
        float *buf = malloc(n * sizeof(float)), *alt = malloc(n * sizeof(float));
        fill(buf, n, 14);
        fill(alt, n, 14);
        alt[n / 2] += 1.0f;
        uint64_t flip = XXH3_64bits(buf, n * sizeof(float)) ^ XXH3_64bits(alt, n * sizeof(float));
        CHECK(flip != 0);
        size_t count = n;
        uint64_t v = 14;
        AfWeightsOpts o = {.chunk_elems = big ? 65536 : 1000, .depth = 2, .checksum_xor = flip};
        int rc = af_weights_bcast(buf, n, &count, &v, 0, MPI_COMM_WORLD, &o, NULL);
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
        int rc = af_weights_bcast(buf, n, &count, &v, 0, MPI_COMM_WORLD, &o, NULL);
        if (m.rank == 0) CHECK_EQ_INT(rc, 0);
        else {
            CHECK_EQ_INT(rc, AF_EFORMAT);
            CHECK_STR_CONTAINS(af_error_detail(), "checksum kind 7 is unknown");
            int untouched = 1;
            for (size_t i = 0; i < n; i++) untouched &= buf[i] == 5.0f;
            CHECK(untouched);
        }
        free(buf);
        round_trip(m.rank, 0, 2100, 256, 2, 16);
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
        int rc = af_weights_bcast(buf, m.rank == last ? n : cap, &count, &v, last, MPI_COMM_WORLD, &o, NULL);
        if (m.rank == last) CHECK_EQ_INT(rc, 0);
        else {
            CHECK_EQ_INT(rc, AF_ERANGE);
            CHECK_EQ_INT(count, n);
            int untouched = 1;
            for (size_t i = 0; i < cap; i++) untouched &= buf[i] == 3.0f;
            CHECK(untouched);
        }
        free(buf);
        round_trip(m.rank, last, 2500, 300, 3, 12);
    }
    /* learner 0's publish, received as af_actor_run receives it */
    {
        const size_t n = 9000;
        float *buf = malloc(n * sizeof(float));
        double secs = -1;
        if (m.rank == 0) {
            fill(buf, n, 13);
            CHECK_EQ_INT(af_weights_publish(MPI_COMM_WORLD, AF_CTRL_RUN, 5, 13, buf, n, &secs), 0);
            CHECK(secs >= 0);
            CHECK_EQ_INT(af_weights_publish(MPI_COMM_WORLD, AF_CTRL_STOP, 0, 0, NULL, 0, NULL), 0);
        } else {
            AfControl c;
            CHECK_EQ_INT(af_mpi_bcast(&c, sizeof c, MPI_BYTE, 0, MPI_COMM_WORLD), 0);
            CHECK_EQ_INT(c.command, AF_CTRL_RUN);
            CHECK_EQ_INT(c.iteration, 5);
            size_t count = 0;
            uint64_t v = 0;
            CHECK_EQ_INT(af_weights_bcast(buf, n, &count, &v, 0, MPI_COMM_WORLD, NULL, NULL), 0);
            CHECK_EQ_INT(count, n);
            CHECK_EQ_INT(v, 13);
            CHECK(holds(buf, n, 13));
            CHECK_EQ_INT(af_mpi_bcast(&c, sizeof c, MPI_BYTE, 0, MPI_COMM_WORLD), 0);
            CHECK_EQ_INT(c.command, AF_CTRL_STOP);
        }
        free(buf);
    }

    int failed = af_test_failures, any = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    af_mpi_finalize(&m);
    if (any && !af_test_failures) af_test_failures = 1; /* another rank failed */
    TEST_MAIN_END();
}
