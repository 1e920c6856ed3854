/* Trajectories over MPI: every rank (rank 0 included, to itself) sends valid, mutated,
 * random and oversized trajectories to rank 0, which must accept and reject exactly
 * what each sender's own decoder predicts (per reason, per sender), and keep going: a
 * second round of valid ones must arrive bit-exact (order-independent sum of XXH64s). */
#include <stdint.h>
#include <stdlib.h>

#include "common/checksum.h"
#include "common/error.h"
#include "common/mpi_env.h"
#include "common/rng.h"
#include "common/traj.h"
#include "test_util.h"
#include "wire_fixture.h"

enum { NV = 40, NG = 200, NMSG = NV + NG + 1 };

/* Stats in a flat array so they reduce with one MPI_Reduce. */
enum { S_ACC = 0, S_REJ = 1, S_REASON = 2, S_N = S_REASON + AF_TRAJ_REJECT_COUNT };

int main(int argc, char **argv) {
    AfMpi m;
    if (af_mpi_init(&argc, &argv, &m)) {
        fprintf(stderr, "af_mpi_init: %s\n", af_error_detail());
        return 1;
    }
    AfTrajLimits lim = fix_limits(7);
    lim.world_size = m.size;
    AfTrajDecoder *local = NULL;
    CHECK_EQ_INT(af_traj_decoder_create(&lim, &local), 0);
    const size_t maxb = af_traj_decoder_limits(local)->max_message_bytes;

    /* Build this rank's messages. */
    uint8_t **msg = calloc(NMSG, sizeof *msg);
    size_t *len = calloc(NMSG, sizeof *len);
    int *is_valid = calloc(NMSG, sizeof *is_valid);
    Agentflow__Trajectory **valid = calloc(NMSG, sizeof *valid);
    AfRng r;
    af_rng_init(&r, 4, AF_RNG_FAULT, 0, (uint32_t)m.rank, 0);
    for (int k = 0; k < NMSG; k++) {
        Agentflow__Trajectory *t = fix_make_traj(&r, 7, (uint32_t)(m.rank * 50 + k % 50), (uint32_t)k % FIX_GROUP,
                                                 1 + k % 3, 60, 12);
        t->actor_rank = m.rank;
        len[k] = af_traj_packed_size(t);
        msg[k] = malloc(len[k] > maxb + 100 ? len[k] : maxb + 100);
        size_t n = 0;
        af_traj_encode(t, msg[k], len[k], &n);
        if (k % 6 == 0 && k < 6 * NV) {
            is_valid[k] = 1;
            valid[k] = t;
            continue;
        }
        af_traj_free(t);
        switch (k % 4) {
        case 0: /* oversized */
            if (k == NMSG - 1 || k == 4) {
                len[k] = maxb + 100;
                for (size_t i = 0; i < len[k]; i++) msg[k][i] = (uint8_t)af_rng_u32(&r);
            } else {
                msg[k][af_rng_u32(&r) % len[k]] ^= 0x40;
            }
            break;
        case 1: len[k] = af_rng_u32(&r) % len[k]; break;
        case 2:
            for (int f = 0; f < 3; f++) msg[k][af_rng_u32(&r) % len[k]] = (uint8_t)af_rng_u32(&r);
            break;
        case 3:
            len[k] = af_rng_u32(&r) % 300;
            for (size_t i = 0; i < len[k]; i++) msg[k][i] = (uint8_t)af_rng_u32(&r);
            break;
        }
    }
    /* What rank 0 should conclude, according to this rank's own decoder. */
    long long mine[S_N] = {0};
    for (int k = 0; k < NMSG; k++) {
        Agentflow__Trajectory *out = NULL;
        AfTrajReject why;
        if (af_traj_decode(local, msg[k], len[k], &out, &why) == 0) {
            mine[S_ACC]++;
            CHECK(!is_valid[k] || fix_traj_equal(out, valid[k]));
        } else {
            CHECK(!is_valid[k]);
            mine[S_REJ]++;
            mine[S_REASON + why]++;
        }
    }
    CHECK(mine[S_ACC] >= NV);
    CHECK(mine[S_REJ] >= NG / 2);
    long long expect[S_N] = {0};
    CHECK_EQ_INT(MPI_Reduce(mine, expect, S_N, MPI_LONG_LONG, MPI_SUM, 0, MPI_COMM_WORLD), MPI_SUCCESS);
    long long *expect_acc_by_src = calloc((size_t)m.size, sizeof(long long));
    CHECK_EQ_INT(MPI_Gather(&mine[S_ACC], 1, MPI_LONG_LONG, expect_acc_by_src, 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD),
                 MPI_SUCCESS);

    /* Rank 0 posts its own messages to itself first (non-blocking), then receives everything. */
    MPI_Request *self = calloc(NMSG, sizeof *self);
    if (m.rank == 0) {
        for (int k = 0; k < NMSG; k++)
            MPI_Isend(msg[k], (int)len[k], MPI_BYTE, 0, AF_TRAJ_TAG, MPI_COMM_WORLD, &self[k]);
        AfTrajDecoder *d = NULL;
        CHECK_EQ_INT(af_traj_decoder_create(&lim, &d), 0);
        long long *acc_by_src = calloc((size_t)m.size, sizeof(long long));
        int mpi_errors = 0;
        for (long long i = 0; i < (long long)NMSG * m.size; i++) {
            Agentflow__Trajectory *t = NULL;
            int from = -1;
            int rc = af_traj_recv(d, MPI_COMM_WORLD, MPI_ANY_SOURCE, &t, &from);
            if (rc == AF_EMPI) mpi_errors++;
            if (from < 0 || from >= m.size) {
                mpi_errors++;
                continue;
            }
            if (rc == 0) {
                acc_by_src[from]++;
                CHECK(t->actor_rank == from);
            }
        }
        CHECK_EQ_INT(mpi_errors, 0);
        const AfTrajStats *s = af_traj_decoder_stats(d);
        CHECK_EQ_INT(s->accepted, expect[S_ACC]);
        CHECK_EQ_INT(s->rejected, expect[S_REJ]);
        for (int k = 0; k < AF_TRAJ_REJECT_COUNT; k++)
            CHECK_MSG((long long)s->by_reason[k] == expect[S_REASON + k], "reason %s: %llu vs %lld",
                      af_traj_reject_name((AfTrajReject)k), (unsigned long long)s->by_reason[k],
                      expect[S_REASON + k]);
        CHECK(s->by_reason[AF_TRAJ_REJECT_SIZE] >= 2ull * (unsigned)m.size);
        for (int p = 0; p < m.size; p++) CHECK_EQ_INT(acc_by_src[p], expect_acc_by_src[p]);
        fprintf(stderr, "rank 0 of %d: %llu accepted, %llu rejected\n", m.size, (unsigned long long)s->accepted,
                (unsigned long long)s->rejected);
        free(acc_by_src);
        af_traj_decoder_destroy(d);
        CHECK_EQ_INT(af_mpi_waitall(NMSG, self), 0);
    } else {
        static uint8_t scratch[1 << 16];
        for (int k = 0; k < NMSG; k++) {
            int rc = is_valid[k] ? af_traj_send(valid[k], 0, MPI_COMM_WORLD, scratch, sizeof scratch)
                                 : af_traj_send_bytes(msg[k], len[k], 0, MPI_COMM_WORLD);
            CHECK_MSG(rc == 0, "send %d: %s", k, af_error_detail());
        }
        /* A scratch buffer that is too small is refused before anything is sent. */
        CHECK_EQ_INT(af_traj_send(valid[0], 0, MPI_COMM_WORLD, scratch, 16), AF_ERANGE);
    }

    /* Round 1 must be fully consumed before anyone starts round 2: rank 0 receives with
     * MPI_ANY_SOURCE, so an early round-2 message from a fast rank would be counted in
     * round 1 (and a round-1 message would then be missing from round 2). */
    MPI_Barrier(MPI_COMM_WORLD);

    /* Second round, exact content: every rank sends its valid trajectories again and rank 0
     * compares an order-independent sum of XXH64s of the received bytes. */
    long long my_sum = 0, want_sum = 0;
    for (int k = 0; k < NMSG; k++)
        if (is_valid[k]) my_sum += (long long)(af_checksum64(msg[k], len[k], 0) >> 8);
    MPI_Reduce(&my_sum, &want_sum, 1, MPI_LONG_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
    if (m.rank == 0) {
        for (int k = 0; k < NMSG; k++)
            if (is_valid[k]) MPI_Isend(msg[k], (int)len[k], MPI_BYTE, 0, AF_TRAJ_TAG, MPI_COMM_WORLD, &self[k]);
            else self[k] = MPI_REQUEST_NULL;
        AfTrajDecoder *d = NULL;
        CHECK_EQ_INT(af_traj_decoder_create(&lim, &d), 0);
        long long got_sum = 0;
        static uint8_t again[1 << 16];
        for (int i = 0; i < NV * m.size; i++) {
            Agentflow__Trajectory *t = NULL;
            int rc = af_traj_recv(d, MPI_COMM_WORLD, MPI_ANY_SOURCE, &t, NULL);
            CHECK_MSG(rc == 0, "valid message rejected: %s", af_error_detail());
            size_t n = 0;
            if (rc == 0 && af_traj_encode(t, again, sizeof again, &n) == 0)
                got_sum += (long long)(af_checksum64(again, n, 0) >> 8);
        }
        CHECK_EQ_INT(got_sum, want_sum);
        CHECK_EQ_INT(af_traj_decoder_stats(d)->accepted, NV * m.size);
        af_traj_decoder_destroy(d);
        CHECK_EQ_INT(af_mpi_waitall(NMSG, self), 0);
    } else {
        for (int k = 0; k < NMSG; k++)
            if (is_valid[k]) CHECK_EQ_INT(af_traj_send_bytes(msg[k], len[k], 0, MPI_COMM_WORLD), 0);
    }

    for (int k = 0; k < NMSG; k++) {
        free(msg[k]);
        af_traj_free(valid[k]);
    }
    free(msg), free(len), free(is_valid), free(valid), free(self), free(expect_acc_by_src);
    af_traj_decoder_destroy(local);
    int failed = af_test_failures, any = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    af_mpi_finalize(&m);
    if (any && !af_test_failures) af_test_failures = 1; /* another rank failed */
    TEST_MAIN_END();
}
