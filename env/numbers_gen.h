/* Question generators of the number suites (the grammar of each in env/suites.h): every
 * draw from the AF_RNG_ENV stream of the suite's seed, so a seed names its splits.
 *   game24: every multiset of four numbers in 1..13 the solver can make 24 with (1362 of
 *     1820), shuffled; the first test_size (default 362) are the test split;
 *   countdown: 3-4 numbers in 1..99 and the value of a random expression over all of them
 *     with positive integer intermediates (1..999); arith: multi-step word problems with
 *     their answers and the oracle's plans. Distinct questions, test_size (default 300) then
 *     train_size (default 2000). */
#ifndef AF_ENV_NUMBERS_GEN_H
#define AF_ENV_NUMBERS_GEN_H

#include "env/suite.h"
#include "env/suites.h"

/* Fills s's splits. Returns 0, AF_ERANGE (sizes that cannot be met), AF_ENOMEM. */
int af_numbers_gen_game24(AfSuite *s, const AfSuiteOptions *o);
int af_numbers_gen_distinct(AfSuite *s, const AfSuiteOptions *o, AfNumbersKind kind);

#endif
