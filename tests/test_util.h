/* Minimal test harness: CHECK records a failure with file:line and keeps going;
 * TEST_MAIN_END returns non-zero if anything failed, so ctest sees it. */
#ifndef AF_TESTS_TEST_UTIL_H
#define AF_TESTS_TEST_UTIL_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int af_test_failures = 0;
static int af_test_checks = 0;

#define CHECK(cond)                                                               \
    do {                                                                          \
        af_test_checks++;                                                         \
        if (!(cond)) {                                                            \
            af_test_failures++;                                                   \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);      \
        }                                                                         \
    } while (0)

#define CHECK_MSG(cond, ...)                                                      \
    do {                                                                          \
        af_test_checks++;                                                         \
        if (!(cond)) {                                                            \
            af_test_failures++;                                                   \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);      \
            fprintf(stderr, __VA_ARGS__);                                         \
            fputc('\n', stderr);                                                  \
        }                                                                         \
    } while (0)

#define CHECK_EQ_INT(a, b) CHECK_MSG((long long)(a) == (long long)(b), "%lld != %lld", (long long)(a), (long long)(b))
#define CHECK_NEAR(a, b, tol) CHECK_MSG(fabs((double)(a) - (double)(b)) <= (tol), "%.9g vs %.9g (tol %.3g)", (double)(a), (double)(b), (double)(tol))
#define CHECK_STR_CONTAINS(s, sub) CHECK_MSG((s) && strstr((s), (sub)) != NULL, "\"%s\" lacks \"%s\"", (s) ? (s) : "(null)", (sub))

#define TEST_MAIN_END()                                                           \
    do {                                                                          \
        fprintf(stderr, "%s: %d checks, %d failed\n", __FILE__, af_test_checks,  \
                af_test_failures);                                                \
        return af_test_failures ? 1 : 0;                                          \
    } while (0)

#endif
