/* Error codes: every code has its own non-empty string, details are per call. */
#include <string.h>

#include "common/error.h"
#include "test_util.h"

int main(void) {
    CHECK(strcmp(af_strerror(AF_OK), "success") == 0);
    for (int c = AF_ERROR_MIN; c < 0; c++) {
        const char *s = af_strerror(c);
        CHECK_MSG(s && s[0] && strcmp(s, "unknown error") != 0, "code %d has no string", c);
        for (int d = AF_ERROR_MIN; d < c; d++)
            CHECK_MSG(strcmp(s, af_strerror(d)) != 0, "codes %d and %d share a string", c, d);
    }
    CHECK(strcmp(af_strerror(AF_ERROR_MIN - 1), "unknown error") == 0);
    CHECK(strcmp(af_strerror(1), "unknown error") == 0);

    af_error_clear();
    CHECK(af_error_detail()[0] == '\0');
    CHECK_EQ_INT(af_error_set(AF_ERANGE, "rollout.group_size: expected >= %d, got %d", 1, 0), AF_ERANGE);
    CHECK(strcmp(af_error_detail(), "rollout.group_size: expected >= 1, got 0") == 0);
    CHECK_EQ_INT(af_error_wrap(AF_ERANGE, "config %s", "a.json"), AF_ERANGE);
    CHECK(strcmp(af_error_detail(), "config a.json: rollout.group_size: expected >= 1, got 0") == 0);
    af_error_clear();
    af_error_wrap(AF_EIO, "file x");
    CHECK(strcmp(af_error_detail(), "file x: input/output error") == 0);

    /* A very long detail is truncated, not overflowed. */
    char big[4000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    af_error_set(AF_EINVAL, "%s", big);
    CHECK(strlen(af_error_detail()) < sizeof big);
    af_error_wrap(AF_EINVAL, "%s", big);
    CHECK(strlen(af_error_detail()) < sizeof big);
    TEST_MAIN_END();
}
