/* Question generators of the number suites (see numbers_gen.h). */
#include "env/numbers_gen.h"

#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "common/rng.h"
#include "env/numbers_solver.h"

int af_numbers_gen_game24(AfSuite *s, const AfSuiteOptions *o) {
    uint32_t idx[1820];
    char q[1820][48];
    uint32_t m = 0;
    for (int a = 1; a <= 13; a++)
        for (int b = a; b <= 13; b++)
            for (int c = b; c <= 13; c++)
                for (int d = c; d <= 13; d++) {
                    const int64_t nums[4] = {a, b, c, d};
                    if (!af_numbers_solve_ints(nums, 4, af_rat_int(24), NULL)) continue;
                    snprintf(q[m], sizeof q[m], "%d %d %d %d", a, b, c, d);
                    idx[m] = m;
                    m++;
                }
    AF_ASSERT(m == 1362);
    AfRng rng;
    af_rng_init(&rng, o->seed, AF_RNG_ENV, 0, 1, 0);
    af_rng_shuffle_u32(&rng, idx, m);
    uint32_t n_test = o->test_size ? o->test_size : 362;
    if (n_test >= m) return af_error_set(AF_ERANGE, "game24: test_size %u must be below %u", n_test, m);
    for (uint32_t i = 0; i < m; i++) {
        int rc = af_dataset_add(s->split[i < n_test ? 1 : 0], q[idx[i]], "", NULL);
        if (rc) return rc;
    }
    return 0;
}

/* A countdown puzzle: 3 or 4 numbers in 1..99 and the value of a random expression over
 * all of them whose intermediates are positive integers, in 1..999. */
static void gen_countdown_one(AfRng *rng, char *q, size_t cap) {
    for (;;) {
        int k = 3 + (int)af_rng_below(rng, 2);
        int64_t nums[4], vals[4];
        for (int i = 0; i < k; i++) nums[i] = vals[i] = 1 + af_rng_below(rng, 99);
        int m = k, ok = 1;
        while (m > 1 && ok) {
            int i = (int)af_rng_below(rng, (uint32_t)m);
            int j = (int)af_rng_below(rng, (uint32_t)(m - 1));
            if (j >= i) j++;
            int64_t a = vals[i], b = vals[j], r = 0;
            switch (af_rng_below(rng, 4)) {
            case 0: r = a + b; break;
            case 1: r = a - b; break;
            case 2: r = a * b; break;
            default: r = (b != 0 && a % b == 0) ? a / b : -1; break;
            }
            if (r <= 0 || r > 9999) ok = 0;
            int lo = i < j ? i : j, hi = i < j ? j : i;
            vals[lo] = r;
            vals[hi] = vals[m - 1];
            m--;
        }
        if (!ok || vals[0] > 999) continue;
        size_t len = 0;
        for (int i = 0; i < k; i++) len += (size_t)snprintf(q + len, cap - len, "%s%lld", i ? " " : "", (long long)nums[i]);
        snprintf(q + len, cap - len, " -> %lld", (long long)vals[0]);
        return;
    }
}

/* One arith word problem with its answer and step plan. */
static void gen_arith_one(AfRng *rng, char *q, size_t qcap, char *ans, size_t acap, char *plan, size_t pcap) {
#define R(lo, hi) ((int64_t)(lo) + (int64_t)af_rng_below(rng, (uint32_t)((hi) - (lo) + 1)))
    int64_t a, b, c, d, x;
    switch (af_rng_below(rng, 6)) {
    case 0:
        a = R(3, 40), b = R(5, 60), c = R(1, a * b - 1), x = a * b - c;
        snprintf(q, qcap, "A shop has %lld boxes with %lld apples each. It sells %lld apples. How many apples are left?",
                 (long long)a, (long long)b, (long long)c);
        snprintf(plan, pcap, "calculator %lld*%lld\ncalculator #1-%lld", (long long)a, (long long)b, (long long)c);
        break;
    case 1:
        a = R(2, 30), b = R(3, 50), c = R(2, 30), d = R(3, 50), x = a * b + c * d;
        snprintf(q, qcap, "A farmer plants %lld rows of %lld trees and %lld rows of %lld trees. How many trees are there?",
                 (long long)a, (long long)b, (long long)c, (long long)d);
        snprintf(plan, pcap, "calculator %lld*%lld\ncalculator %lld*%lld\ncalculator #1+#2", (long long)a, (long long)b,
                 (long long)c, (long long)d);
        break;
    case 2:
        a = R(50, 400), b = R(1, a - 1), c = R(1, 200), d = R(1, a - b + c - 1), x = a - b + c - d;
        snprintf(q, qcap, "A train carries %lld people. At the first stop %lld people get off and %lld get on. "
                 "At the second stop %lld get off. How many people are on the train now?",
                 (long long)a, (long long)b, (long long)c, (long long)d);
        snprintf(plan, pcap, "calculator %lld-%lld\ncalculator #1+%lld\ncalculator #2-%lld", (long long)a, (long long)b,
                 (long long)c, (long long)d);
        break;
    case 3:
        a = R(20, 150), b = R(3, 30), d = R(2, 9);
        x = R(1, (a * b - 1) / d);
        c = a * b - d * x;
        snprintf(q, qcap, "Tom earns %lld dollars a day for %lld days and spends %lld dollars. He shares the rest "
                 "equally among %lld friends. How many dollars does each friend get?",
                 (long long)a, (long long)b, (long long)c, (long long)d);
        snprintf(plan, pcap, "calculator %lld*%lld\ncalculator #1-%lld\ncalculator #2/%lld", (long long)a, (long long)b,
                 (long long)c, (long long)d);
        break;
    case 4:
        b = R(2, 25), c = R(2, 40), a = b * c + R(1, 300), x = a - b * c;
        snprintf(q, qcap, "A tank holds %lld litres. %lld buckets of %lld litres each are poured in. "
                 "How many more litres fit?", (long long)a, (long long)b, (long long)c);
        snprintf(plan, pcap, "calculator %lld*%lld\ncalculator %lld-#1", (long long)b, (long long)c, (long long)a);
        break;
    default:
        do {
            a = R(2, 12), b = R(2, 20), c = R(2, 30);
        } while ((b * c) % a);
        x = b * c / a;
        snprintf(q, qcap, "%lld students share %lld packs of %lld pencils equally. How many pencils does each "
                 "student get?", (long long)a, (long long)b, (long long)c);
        snprintf(plan, pcap, "calculator %lld*%lld\ncalculator #1/%lld", (long long)b, (long long)c, (long long)a);
        break;
    }
    snprintf(ans, acap, "%lld", (long long)x);
#undef R
}

int af_numbers_gen_distinct(AfSuite *s, const AfSuiteOptions *o, AfNumbersKind kind) {
    uint32_t n_test = o->test_size ? o->test_size : 300;
    uint32_t n_train = o->train_size ? o->train_size : 2000;
    AfStrSet *seen = NULL;
    int rc = af_strset_create(n_test + n_train, &seen);
    if (rc) return rc;
    AfRng rng;
    af_rng_init(&rng, o->seed, AF_RNG_ENV, 0, kind == AF_NUMBERS_COUNTDOWN ? 2 : 3, 0);
    char q[400], ans[32], plan[200];
    uint32_t tries = 0;
    for (uint32_t made = 0; made < n_test + n_train;) {
        if (++tries > 50u * (n_test + n_train) + 1000u) {
            rc = af_error_set(AF_ERANGE, "%s: cannot generate %u distinct questions", s->name, n_test + n_train);
            break;
        }
        const char *a = NULL, *p = NULL;
        if (kind == AF_NUMBERS_COUNTDOWN) {
            gen_countdown_one(&rng, q, sizeof q);
            const char *arrow = strstr(q, "-> ");
            a = arrow + 3;
        } else {
            gen_arith_one(&rng, q, sizeof q, ans, sizeof ans, plan, sizeof plan);
            a = ans;
            p = plan;
        }
        rc = af_strset_add(seen, q);
        if (rc < 0) break;
        if (rc == 0) continue;
        rc = af_dataset_add(s->split[made < n_test ? 1 : 0], q, a, p);
        if (rc) break;
        made++;
    }
    af_strset_destroy(seen);
    return rc;
}

