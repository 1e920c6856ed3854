/* The ETA arithmetic of common/progress.h: rates, the ETA of a phase, the end of a
 * training run under both limits (run.iterations, run.time_limit_s), the status line and
 * the formatting of durations; and the CRC32C of the TensorBoard writer. */
#include <math.h>
#include <string.h>

#include "common/progress.h"
#include "common/tfevents.h"
#include "test_util.h"

static const char *dur(double s) {
    static char buf[32];
    return af_progress_duration(s, buf, sizeof buf);
}

int main(void) {
    /* rates and the ETA of a phase */
    CHECK_NEAR(af_progress_rate(30, 10), 3.0, 0);
    CHECK_NEAR(af_progress_rate(0, 10), 0.0, 0);
    CHECK_NEAR(af_progress_rate(5, 0), 0.0, 0);
    CHECK_NEAR(af_progress_eta(25, 100, 50), 150.0, 1e-12); /* 0.5 per second, 75 left */
    CHECK_NEAR(af_progress_eta(0, 100, 50), -1.0, 0);       /* unknown before the first unit */
    CHECK_NEAR(af_progress_eta(100, 100, 50), 0.0, 0);
    CHECK_NEAR(af_progress_eta(120, 100, 50), 0.0, 0);

    /* training: run.iterations alone */
    AfTrainEta e = af_progress_train_eta(10, 100, 2.0, 1000, 0);
    CHECK_EQ_INT(e.iterations_left, 90);
    CHECK_NEAR(e.seconds_left, 180.0, 1e-12);
    CHECK_EQ_INT(e.by_time, 0);
    /* the time limit comes first: 100 s left at 3 s per iteration -> 34 iterations (the
     * run stops after the first iteration ending at or past the limit) */
    e = af_progress_train_eta(10, 100000, 3.0, 500, 600);
    CHECK_EQ_INT(e.iterations_left, 34);
    CHECK_NEAR(e.seconds_left, 102.0, 1e-12);
    CHECK_EQ_INT(e.by_time, 1);
    /* exactly divisible: 90 s left at 3 s -> 30 */
    e = af_progress_train_eta(0, 100000, 3.0, 510, 600);
    CHECK_EQ_INT(e.iterations_left, 30);
    /* the iterations end first although a limit is set */
    e = af_progress_train_eta(95, 100, 3.0, 500, 600);
    CHECK_EQ_INT(e.iterations_left, 5);
    CHECK_NEAR(e.seconds_left, 15.0, 1e-12);
    CHECK_EQ_INT(e.by_time, 0);
    /* past the limit: this is the last iteration */
    e = af_progress_train_eta(10, 100, 3.0, 601, 600);
    CHECK_EQ_INT(e.iterations_left, 0);
    CHECK_NEAR(e.seconds_left, 0.0, 0);
    CHECK_EQ_INT(e.by_time, 1);
    /* done, and unknown speed */
    e = af_progress_train_eta(100, 100, 3.0, 10, 600);
    CHECK_EQ_INT(e.iterations_left, 0);
    CHECK_NEAR(e.seconds_left, 0.0, 0);
    e = af_progress_train_eta(0, 100, 0.0, 10, 0);
    CHECK_EQ_INT(e.iterations_left, 100);
    CHECK_NEAR(e.seconds_left, -1.0, 0);

    /* durations */
    CHECK(strcmp(dur(0), "0s") == 0);
    CHECK(strcmp(dur(42.4), "42s") == 0);
    CHECK(strcmp(dur(59.6), "1m00s") == 0);
    CHECK(strcmp(dur(185), "3m05s") == 0);
    CHECK(strcmp(dur(3599), "59m59s") == 0);
    CHECK(strcmp(dur(3600 + 2 * 60 + 10), "1h02m") == 0);
    CHECK(strcmp(dur(2 * 86400 + 3 * 3600 + 59), "2d03h") == 0);
    CHECK(strcmp(dur(-1), "?") == 0);
    CHECK(strcmp(dur(NAN), "?") == 0);
    CHECK(strcmp(dur(INFINITY), "?") == 0);

    /* the status line */
    AfProgress p;
    af_progress_begin(&p, "warm start", "steps", 400);
    char buf[256];
    const char *line = buf;
    af_progress_format(&p, 100, p.t0 + 50, buf, sizeof buf);
    CHECK(strcmp(line, "warm start 100/400 steps  25% | ETA 2m30s | 2 steps/s, elapsed 50s") == 0);
    af_progress_format(&p, 0, p.t0 + 5, buf, sizeof buf);
    CHECK_STR_CONTAINS(line, "| ETA ? |");

    /* CRC32C (the TFRecord checksum): the standard check value and RFC 3720's vectors */
    CHECK_EQ_INT(af_crc32c("123456789", 9), 0xE3069283u);
    unsigned char z[32] = {0}, ff[32], inc[32];
    memset(ff, 0xFF, sizeof ff);
    for (int i = 0; i < 32; i++) inc[i] = (unsigned char)i;
    CHECK_EQ_INT(af_crc32c(z, 32), 0x8A9136AAu);
    CHECK_EQ_INT(af_crc32c(ff, 32), 0x62A8AB43u);
    CHECK_EQ_INT(af_crc32c(inc, 32), 0x46DD794Eu);
    CHECK_EQ_INT(af_crc32c_mask(0), 0xa282ead8u);
    CHECK_EQ_INT(af_crc32c_mask(0xE3069283u), ((0xE3069283u >> 15) | (0xE3069283u << 17)) + 0xa282ead8u);
    TEST_MAIN_END();
}
