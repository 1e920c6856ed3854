/* The training query stream: every query once per epoch, batches a pure function of the
 * iteration (resume), independent of the order batches are asked for. */
#include <stdlib.h>

#include "common/error.h"
#include "learner/data_stream.h"
#include "test_util.h"

int main(void) {
    enum { N = 37, B = 5, IT = 40 };
    AfDataStream *s = NULL, *t = NULL;
    CHECK_EQ_INT(af_data_stream_create(9, 0, B, &s), AF_EINVAL);
    CHECK(s == NULL);
    CHECK_EQ_INT(af_data_stream_create(9, N, B, &s), 0);
    CHECK_EQ_INT(af_data_stream_create(9, N, B, &t), 0);
    uint32_t all[IT * B];
    for (uint32_t it = 0; it < IT; it++) af_data_stream_batch(s, it, all + it * B);
    /* each full epoch is a permutation */
    for (int e = 0; e < (IT * B) / N; e++) {
        int seen[N] = {0};
        for (int i = 0; i < N; i++) {
            CHECK(all[e * N + i] < N);
            seen[all[e * N + i]]++;
        }
        for (int q = 0; q < N; q++) CHECK_MSG(seen[q] == 1, "epoch %d query %d seen %d", e, q, seen[q]);
    }
    /* epochs differ */
    CHECK(memcmp(all, all + N, sizeof(uint32_t) * N) != 0);
    /* random access (as after a resume) gives the same batches */
    for (int k = 0; k < 100; k++) {
        uint32_t it = (uint32_t)((k * 7919) % IT), b[B];
        af_data_stream_batch(t, it, b);
        CHECK(memcmp(b, all + it * B, sizeof b) == 0);
    }
    /* another seed, another order */
    AfDataStream *u = NULL;
    CHECK_EQ_INT(af_data_stream_create(10, N, B, &u), 0);
    uint32_t b0[B];
    af_data_stream_batch(u, 0, b0);
    CHECK(memcmp(b0, all, sizeof b0) != 0);
    af_data_stream_destroy(s);
    af_data_stream_destroy(t);
    af_data_stream_destroy(u);
    af_data_stream_destroy(NULL);
    TEST_MAIN_END();
}
