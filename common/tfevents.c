/* TensorBoard event files (see tfevents.h). */
#include "common/tfevents.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fsutil.h"
#include "proto/tensorboard.pb-c.h"

struct AfTfEvents {
    FILE *f;
    char path[4096];
    /* grown to the largest event, then reused: no allocation per event after the first */
    uint8_t *buf;                       /* packed event (cap bytes) */
    size_t cap;
    Tensorboard__Summary__Value *v;     /* (vcap) */
    Tensorboard__Summary__Value **pv;   /* (vcap) */
    int vcap;
};

/* ------------------------------------------------------------------ CRC32C */

static uint32_t crc_table[256];
static int crc_ready;

static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[i] = c;
    }
    crc_ready = 1;
}

uint32_t af_crc32c(const void *data, size_t n) {
    if (!crc_ready) crc_init(); /* idempotent: a race writes the same table */
    const uint8_t *p = data;
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

uint32_t af_crc32c_mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

double af_wall_time(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ------------------------------------------------------------------ records */

static void put_le32(uint8_t *b, uint32_t v) {
    for (int i = 0; i < 4; i++) b[i] = (uint8_t)(v >> (8 * i));
}

static int io_error(const AfTfEvents *w) {
    int full = errno == ENOSPC || errno == EDQUOT;
    return af_error_set(full ? AF_EFULL : AF_EIO, "%s: write failed: %s", w->path, strerror(errno));
}

static int write_record(AfTfEvents *w, const uint8_t *data, size_t n) {
    uint8_t head[12], tail[4];
    for (int i = 0; i < 8; i++) head[i] = (uint8_t)((uint64_t)n >> (8 * i));
    put_le32(head + 8, af_crc32c_mask(af_crc32c(head, 8)));
    put_le32(tail, af_crc32c_mask(af_crc32c(data, n)));
    errno = 0;
    if (fwrite(head, 1, sizeof head, w->f) != sizeof head || (n && fwrite(data, 1, n, w->f) != n) ||
        fwrite(tail, 1, sizeof tail, w->f) != sizeof tail)
        return io_error(w);
    return 0;
}

static int write_event(AfTfEvents *w, const Tensorboard__Event *ev) {
    size_t n = tensorboard__event__get_packed_size(ev);
    if (n > w->cap) {
        uint8_t *b = realloc(w->buf, n);
        if (!b) return af_error_set(AF_ENOMEM, "%s: event of %zu bytes", w->path, n);
        w->buf = b, w->cap = n;
    }
    tensorboard__event__pack(ev, w->buf);
    return write_record(w, w->buf, n);
}

/* ------------------------------------------------------------------ the writer */

int af_tfevents_open(const char *dir, AfTfEvents **out) {
    *out = NULL;
    int rc = af_mkdir_p(dir);
    if (rc) return rc;
    AfTfEvents *w = calloc(1, sizeof *w);
    if (!w) return af_error_set(AF_ENOMEM, "event file writer");
    char host[256] = "localhost";
    if (gethostname(host, sizeof host - 1) != 0) snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    const long long now = (long long)time(NULL);
    for (int k = 0; k < 1000 && !w->f; k++) {
        if (k == 0) snprintf(w->path, sizeof w->path, "%s/events.out.tfevents.%010lld.%s", dir, now, host);
        else snprintf(w->path, sizeof w->path, "%s/events.out.tfevents.%010lld.%s.%d", dir, now, host, k);
        w->f = fopen(w->path, "wbx"); /* never appends to, or truncates, another writer's file */
        if (!w->f && errno != EEXIST) break;
    }
    if (!w->f) {
        rc = af_error_set(errno == ENOSPC ? AF_EFULL : AF_EIO, "cannot create an event file in %s: %s", dir,
                          strerror(errno));
        free(w);
        return rc;
    }
    Tensorboard__Event ev = TENSORBOARD__EVENT__INIT;
    ev.wall_time = af_wall_time();
    ev.what_case = TENSORBOARD__EVENT__WHAT_FILE_VERSION;
    ev.file_version = "brain.Event:2";
    if ((rc = write_event(w, &ev)) || (rc = af_tfevents_flush(w))) {
        af_tfevents_close(w);
        return rc;
    }
    *out = w;
    return 0;
}

void af_tfevents_close(AfTfEvents *w) {
    if (!w) return;
    if (w->f) fclose(w->f);
    free(w->buf);
    free(w->v);
    free(w->pv);
    free(w);
}

const char *af_tfevents_path(const AfTfEvents *w) { return w->path; }

int af_tfevents_flush(AfTfEvents *w) {
    errno = 0;
    return fflush(w->f) == 0 ? 0 : io_error(w);
}

static int write_summary(AfTfEvents *w, int64_t step, double wall_time, Tensorboard__Summary__Value **values, size_t n) {
    Tensorboard__Summary sum = TENSORBOARD__SUMMARY__INIT;
    sum.n_value = n;
    sum.value = values;
    Tensorboard__Event ev = TENSORBOARD__EVENT__INIT;
    ev.wall_time = wall_time;
    ev.step = step;
    ev.what_case = TENSORBOARD__EVENT__WHAT_SUMMARY;
    ev.summary = &sum;
    return write_event(w, &ev);
}

int af_tfevents_scalars(AfTfEvents *w, int64_t step, double wall_time, const char *const *tags, const double *values,
                        int n) {
    if (n <= 0) return 0;
    if (n > w->vcap) {
        Tensorboard__Summary__Value *v = realloc(w->v, (size_t)n * sizeof *v);
        if (v) w->v = v;
        Tensorboard__Summary__Value **pv = realloc(w->pv, (size_t)n * sizeof *pv);
        if (pv) w->pv = pv;
        if (!v || !pv) return af_error_set(AF_ENOMEM, "%s: %d scalars", w->path, n);
        w->vcap = n;
    }
    Tensorboard__Summary__Value *v = w->v, **pv = w->pv;
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(values[i])) continue;
        tensorboard__summary__value__init(&v[k]);
        v[k].tag = (char *)tags[i];
        v[k].value_case = TENSORBOARD__SUMMARY__VALUE__VALUE_SIMPLE_VALUE;
        v[k].simple_value = (float)values[i];
        pv[k] = &v[k];
        k++;
    }
    return k ? write_summary(w, step, wall_time, pv, k) : 0;
}

int af_tfevents_text(AfTfEvents *w, int64_t step, double wall_time, const char *tag, const char *text) {
    Tensorboard__SummaryMetadata__PluginData pd = TENSORBOARD__SUMMARY_METADATA__PLUGIN_DATA__INIT;
    pd.plugin_name = "text";
    Tensorboard__SummaryMetadata md = TENSORBOARD__SUMMARY_METADATA__INIT;
    md.plugin_data = &pd;
    md.data_class = TENSORBOARD__DATA_CLASS__DATA_CLASS_TENSOR;
    Tensorboard__TensorShapeProto shape = TENSORBOARD__TENSOR_SHAPE_PROTO__INIT; /* rank 0 */
    ProtobufCBinaryData s = {.len = strlen(text), .data = (uint8_t *)text};
    Tensorboard__TensorProto t = TENSORBOARD__TENSOR_PROTO__INIT;
    t.dtype = TENSORBOARD__DATA_TYPE__DT_STRING;
    t.tensor_shape = &shape;
    t.n_string_val = 1;
    t.string_val = &s;
    Tensorboard__Summary__Value v = TENSORBOARD__SUMMARY__VALUE__INIT;
    v.tag = (char *)tag;
    v.metadata = &md;
    v.value_case = TENSORBOARD__SUMMARY__VALUE__VALUE_TENSOR;
    v.tensor = &t;
    Tensorboard__Summary__Value *pv = &v;
    return write_summary(w, step, wall_time, &pv, 1);
}
