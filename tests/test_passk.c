/* pass@k (run/evaluate.h af_eval_pass_at_k), the unbiased estimator 1 - C(n-c,k)/C(n,k),
 * against a table computed with exact fractions (Python's fractions.Fraction and
 * math.comb; the small cases also by hand, e.g. n=4 c=1 k=2: 1 - 3/6 = 1/2). */
#include <math.h>

#include "run/evaluate.h"
#include "test_util.h"

static const struct {
    int n, c, k;
    double want;
} cases[] = {
    {1, 0, 1, 0.0 / 1.0},                    /* 1 - C(1,1)/C(1,1) */
    {1, 1, 1, 1.0 / 1.0},                    /* 1 - C(0,1)/C(1,1) */
    {2, 1, 1, 1.0 / 2.0},                    /* 1 - C(1,1)/C(2,1) */
    {4, 1, 2, 1.0 / 2.0},                    /* 1 - C(3,2)/C(4,2) = 1 - 3/6 */
    {5, 2, 3, 9.0 / 10.0},                   /* 1 - C(3,3)/C(5,3) = 1 - 1/10 */
    {10, 3, 5, 11.0 / 12.0},                 /* 1 - C(7,5)/C(10,5) = 1 - 21/252 */
    {10, 0, 4, 0.0 / 1.0},                   /* 1 - C(10,4)/C(10,4) */
    {10, 10, 4, 1.0 / 1.0},                  /* 1 - C(0,4)/C(10,4) */
    {8, 7, 2, 1.0 / 1.0},                    /* 1 - C(1,2)/C(8,2) */
    {20, 1, 20, 1.0 / 1.0},                  /* 1 - C(19,20)/C(20,20) */
    {16, 5, 1, 5.0 / 16.0},                  /* pass@1 = c/n */
    {100, 3, 10, 67.0 / 245.0},              /* 1 - C(97,10)/C(100,10) */
    {3, 2, 2, 1.0 / 1.0},                    /* 1 - C(1,2)/C(3,2) */
    {50, 25, 25, 126410606437751.0 / 126410606437752.0}, /* 1 - 1/C(50,25): no overflow */
};

int main(void) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double got = af_eval_pass_at_k(cases[i].n, cases[i].c, cases[i].k);
        CHECK_MSG(fabs(got - cases[i].want) <= 1e-12, "n=%d c=%d k=%d: %.17g, want %.17g", cases[i].n, cases[i].c,
                  cases[i].k, got, cases[i].want);
    }
    /* pass@1 is the fraction correct for every n, c */
    for (int n = 1; n <= 12; n++)
        for (int c = 0; c <= n; c++) CHECK_NEAR(af_eval_pass_at_k(n, c, 1), (double)c / n, 1e-12);
    /* large n stays finite and in [0, 1] */
    double big = af_eval_pass_at_k(100000, 1, 50000);
    CHECK_NEAR(big, 0.5, 1e-9);
    /* outside the domain */
    CHECK(isnan(af_eval_pass_at_k(4, 1, 0)));
    CHECK(isnan(af_eval_pass_at_k(4, 1, 5)));
    CHECK(isnan(af_eval_pass_at_k(4, 5, 2)));
    CHECK(isnan(af_eval_pass_at_k(4, -1, 2)));
    TEST_MAIN_END();
}
