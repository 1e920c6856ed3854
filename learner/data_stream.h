/* Which training queries each iteration uses: a deterministic stream over the split.
 *
 * Position p = iteration * batch + j (j < batch) falls in epoch e = p / n; the query is
 * perm_e[p mod n], where perm_e is a Fisher-Yates shuffle of 0..n-1 drawn from the
 * stream (seed, AF_RNG_DATA, iteration = e). Every query is seen once per epoch, the
 * order differs between epochs, and the batch of any iteration is a pure function of
 * (seed, iteration, n, batch): a resumed run needs only the iteration number. */
#ifndef AF_LEARNER_DATA_STREAM_H
#define AF_LEARNER_DATA_STREAM_H

#include <stdint.h>

typedef struct AfDataStream AfDataStream;

/* n_queries >= 1, batch >= 1. Returns 0, AF_EINVAL, AF_ENOMEM. */
int af_data_stream_create(uint64_t seed, uint32_t n_queries, uint32_t batch, AfDataStream **out);
void af_data_stream_destroy(AfDataStream *s);

/* Fill out[0..batch) with the query indices of `iteration`. */
void af_data_stream_batch(AfDataStream *s, uint32_t iteration, uint32_t *out);

#endif
