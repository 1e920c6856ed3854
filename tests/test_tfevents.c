/* The TensorBoard event writer (common/tfevents.h) read back in C: the framing (lengths,
 * masked CRC32Cs), the file_version record, scalars (non-finite ones left out, the
 * reused buffers across events of growing size), text as a DT_STRING tensor with the
 * text plugin's metadata, a second writer in the same second getting its own file.
 * Under ASan as test_tfevents_asan. tests/tfevents_read.py is the independent reader. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/tfevents.h"
#include "proto/tensorboard.pb-c.h"
#include "test_util.h"

static uint32_t le32(const uint8_t *b) { return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24; }

/* Decodes every record of a file into evs (up to cap); returns the count or -1. */
static int read_events(const char *path, Tensorboard__Event **evs, int cap) {
    char *data = NULL;
    size_t len = 0;
    if (af_read_file(path, 1 << 24, &data, &len)) return -1;
    const uint8_t *p = (const uint8_t *)data;
    size_t at = 0;
    int n = 0;
    while (at < len && n < cap) {
        if (len - at < 12) break;
        uint64_t m = 0;
        for (int i = 0; i < 8; i++) m |= (uint64_t)p[at + i] << (8 * i);
        CHECK_EQ_INT(le32(p + at + 8), af_crc32c_mask(af_crc32c(p + at, 8)));
        if (len - at - 12 < m + 4) break;
        CHECK_EQ_INT(le32(p + at + 12 + m), af_crc32c_mask(af_crc32c(p + at + 12, (size_t)m)));
        evs[n] = tensorboard__event__unpack(NULL, (size_t)m, p + at + 12);
        CHECK(evs[n] != NULL);
        if (!evs[n]) break;
        n++;
        at += 12 + (size_t)m + 4;
    }
    CHECK_EQ_INT(at, len); /* no trailing bytes */
    free(data);
    return n;
}

int main(void) {
    char dir[] = "/tmp/af_tfevents_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char tb[300];
    snprintf(tb, sizeof tb, "%s/tb", dir);
    AfTfEvents *w = NULL, *w2 = NULL;
    CHECK_EQ_INT(af_tfevents_open(tb, &w), 0);
    CHECK_EQ_INT(af_tfevents_open(tb, &w2), 0); /* same second: its own name */
    CHECK(strcmp(af_tfevents_path(w), af_tfevents_path(w2)) != 0);
    CHECK_STR_CONTAINS(af_tfevents_path(w), "/tb/events.out.tfevents.");
    const char *tags[] = {"train/loss", "train/kl", "rollout/nan", "time/unix_s"};
    const double vals[] = {0.5, 1e-3, NAN, 1.75e9};
    CHECK_EQ_INT(af_tfevents_scalars(w, 3, 1.5e9, tags, vals, 2), 0);
    CHECK_EQ_INT(af_tfevents_scalars(w, 4, 1.5e9 + 1, tags, vals, 4), 0); /* more values: buffers grow */
    CHECK_EQ_INT(af_tfevents_scalars(w, 5, 1.5e9 + 2, tags + 2, vals + 2, 1), 0); /* NaN only: no event */
    CHECK_EQ_INT(af_tfevents_text(w, 0, 1.5e9 + 3, "config", "```\n{\"a\": 1}\n```"), 0);
    CHECK_EQ_INT(af_tfevents_flush(w), 0);
    char path[4096];
    snprintf(path, sizeof path, "%s", af_tfevents_path(w));
    af_tfevents_close(w);
    af_tfevents_close(w2);
    af_tfevents_close(NULL);

    Tensorboard__Event *ev[8] = {0};
    int n = read_events(path, ev, 8);
    CHECK_EQ_INT(n, 4);
    if (n == 4) {
        CHECK(ev[0]->what_case == TENSORBOARD__EVENT__WHAT_FILE_VERSION && !strcmp(ev[0]->file_version, "brain.Event:2"));
        CHECK(ev[0]->wall_time > 1e9);
        CHECK(ev[1]->what_case == TENSORBOARD__EVENT__WHAT_SUMMARY && ev[1]->step == 3 && ev[1]->wall_time == 1.5e9);
        CHECK_EQ_INT(ev[1]->summary->n_value, 2);
        CHECK(!strcmp(ev[1]->summary->value[0]->tag, "train/loss") && ev[1]->summary->value[0]->simple_value == 0.5f);
        CHECK(!strcmp(ev[1]->summary->value[1]->tag, "train/kl") && ev[1]->summary->value[1]->simple_value == 1e-3f);
        CHECK_EQ_INT(ev[2]->step, 4);
        CHECK_EQ_INT(ev[2]->summary->n_value, 3); /* the NaN left out */
        CHECK(!strcmp(ev[2]->summary->value[2]->tag, "time/unix_s") && ev[2]->summary->value[2]->simple_value == 1.75e9f);
        const Tensorboard__Summary__Value *v = ev[3]->summary->value[0];
        CHECK(ev[3]->step == 0 && !strcmp(v->tag, "config"));
        CHECK(v->value_case == TENSORBOARD__SUMMARY__VALUE__VALUE_TENSOR);
        CHECK(v->metadata && v->metadata->plugin_data && !strcmp(v->metadata->plugin_data->plugin_name, "text"));
        CHECK(v->tensor->dtype == TENSORBOARD__DATA_TYPE__DT_STRING && v->tensor->n_string_val == 1);
        CHECK(v->tensor->tensor_shape && v->tensor->tensor_shape->n_dim == 0);
        CHECK(v->tensor->string_val[0].len == 16 && !memcmp(v->tensor->string_val[0].data, "```\n{\"a\": 1}\n```", 16));
    }
    for (int i = 0; i < n; i++) tensorboard__event__free_unpacked(ev[i], NULL);
    /* a directory that cannot be made */
    CHECK(af_tfevents_open("/proc/af_no_such/tb", &w) != 0 && w == NULL);
    /* clean up */
    DIR *d = opendir(tb);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", tb, e->d_name);
        unlink(path);
    }
    if (d) closedir(d);
    rmdir(tb);
    rmdir(dir);
    TEST_MAIN_END();
}
