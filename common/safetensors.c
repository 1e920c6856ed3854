/* safetensors files: header validation, tensor-by-tensor reading with dtype conversion,
 * and writing (see safetensors.h). */
#include "common/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"

#define MAX_HEADER_BYTES ((uint64_t)100 << 20) /* the reference implementation's limit */
#define CHUNK_ELEMS ((size_t)1 << 20)           /* conversion buffer, elements */

void af_safetensors_close(AfSafetensors *st) {
    if (!st) return;
    for (int i = 0; i < st->n; i++) free(st->tensors[i].name);
    free(st->tensors);
    if (st->fd >= 0) close(st->fd);
    free(st->path);
    free(st);
}

static int dtype_parse(const char *s, AfDtype *dt, size_t *elsize) {
    if (strcmp(s, "F32") == 0) { *dt = AF_DT_F32; *elsize = 4; return 0; }
    if (strcmp(s, "F16") == 0) { *dt = AF_DT_F16; *elsize = 2; return 0; }
    if (strcmp(s, "BF16") == 0) { *dt = AF_DT_BF16; *elsize = 2; return 0; }
    return -1;
}

static size_t dtype_size(AfDtype dt) { return dt == AF_DT_F32 ? 4 : 2; }

/* Read exactly n bytes at off. */
static int pread_all(int fd, void *buf, size_t n, uint64_t off) {
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

static int cmp_offset(const void *a, const void *b) {
    const AfStTensor *x = *(const AfStTensor *const *)a, *y = *(const AfStTensor *const *)b;
    return x->file_offset < y->file_offset ? -1 : x->file_offset > y->file_offset;
}

int af_safetensors_open(const char *path, AfSafetensors **out) {
    *out = NULL;
    cJSON *root = NULL;
    char *hdr = NULL;
    AfStTensor **order = NULL;
    int rc;
    AfSafetensors *st = calloc(1, sizeof *st);
    if (!st) return af_error_set(AF_ENOMEM, "%s: out of memory", path);
    st->fd = -1;
    st->path = strdup(path);
    if (!st->path) {
        rc = af_error_set(AF_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    st->fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (st->fd < 0 || fstat(st->fd, &sb) != 0) {
        rc = af_error_set(AF_EIO, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    st->size = (uint64_t)sb.st_size;
    uint8_t len8[8];
    if (st->size < 8 || pread_all(st->fd, len8, 8, 0)) {
        rc = af_error_set(AF_EFORMAT, "%s: file of %llu bytes is too short for the 8-byte header length",
                          path, (unsigned long long)st->size);
        goto fail;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | len8[i];
    if (hlen < 2 || hlen > st->size - 8 || hlen > MAX_HEADER_BYTES) {
        rc = af_error_set(AF_EFORMAT, "%s: header length %llu exceeds the file (%llu bytes) or 100 MiB",
                          path, (unsigned long long)hlen, (unsigned long long)st->size);
        goto fail;
    }
    hdr = malloc((size_t)hlen);
    if (!hdr) {
        rc = af_error_set(AF_ENOMEM, "%s: out of memory for a %llu-byte header", path, (unsigned long long)hlen);
        goto fail;
    }
    if (pread_all(st->fd, hdr, (size_t)hlen, 8)) {
        rc = af_error_set(AF_EIO, "%s: read failed: %s", path, strerror(errno));
        goto fail;
    }
    root = cJSON_ParseWithLength(hdr, (size_t)hlen);
    if (!root || !cJSON_IsObject(root)) {
        rc = af_error_set(AF_EFORMAT, "%s: header is not a JSON object (bad JSON)", path);
        goto fail;
    }
    uint64_t data0 = 8 + hlen, dsize = st->size - data0;
    int count = cJSON_GetArraySize(root);
    st->tensors = calloc((size_t)(count ? count : 1), sizeof *st->tensors);
    order = calloc((size_t)(count ? count : 1), sizeof *order);
    if (!st->tensors || !order) {
        rc = af_error_set(AF_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    for (cJSON *e = root->child; e; e = e->next) {
        const char *nm = e->string;
        if (strcmp(nm, "__metadata__") == 0) continue;
        AfStTensor *t = &st->tensors[st->n];
        if (!cJSON_IsObject(e)) {
            rc = af_error_set(AF_EFORMAT, "%s: tensor %s: entry is not an object", path, nm);
            goto fail;
        }
        cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
        cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
        cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
        size_t elsize = 0;
        if (!cJSON_IsString(dt)) {
            rc = af_error_set(AF_EFORMAT, "%s: tensor %s: dtype missing or not a string", path, nm);
            goto fail;
        }
        if (dtype_parse(dt->valuestring, &t->dtype, &elsize)) {
            rc = af_error_set(AF_EFORMAT, "%s: tensor %s: unsupported dtype \"%s\" (F32, F16, BF16)",
                              path, nm, dt->valuestring);
            goto fail;
        }
        if (!cJSON_IsArray(sh) || cJSON_GetArraySize(sh) > 8) {
            rc = af_error_set(AF_EFORMAT, "%s: tensor %s: shape missing, not an array or > 8 dims", path, nm);
            goto fail;
        }
        t->ndim = cJSON_GetArraySize(sh);
        double numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            cJSON *x = cJSON_GetArrayItem(sh, d);
            if (!cJSON_IsNumber(x) || x->valuedouble < 0 || x->valuedouble > 1e12 ||
                x->valuedouble != floor(x->valuedouble)) {
                rc = af_error_set(AF_EFORMAT, "%s: tensor %s: shape[%d] is not a non-negative integer",
                                  path, nm, d);
                goto fail;
            }
            t->shape[d] = (int64_t)x->valuedouble;
            numel *= x->valuedouble;
        }
        if (numel > 1e15) {
            rc = af_error_set(AF_EFORMAT, "%s: tensor %s: shape has %.3g elements", path, nm, numel);
            goto fail;
        }
        t->numel = (size_t)numel;
        if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 ||
            !cJSON_IsNumber(cJSON_GetArrayItem(off, 0)) || !cJSON_IsNumber(cJSON_GetArrayItem(off, 1))) {
            rc = af_error_set(AF_EFORMAT, "%s: tensor %s: data_offsets must be [begin, end]", path, nm);
            goto fail;
        }
        double b = cJSON_GetArrayItem(off, 0)->valuedouble, en = cJSON_GetArrayItem(off, 1)->valuedouble;
        if (b < 0 || en < b || b != floor(b) || en != floor(en) || en > 1e18) {
            rc = af_error_set(AF_EFORMAT, "%s: tensor %s: bad data_offsets [%.0f, %.0f]", path, nm, b, en);
            goto fail;
        }
        if (en > (double)dsize) {
            rc = af_error_set(AF_EFORMAT, "%s: tensor %s: data [%.0f, %.0f) beyond the end of the data (%llu bytes): truncated file",
                              path, nm, b, en, (unsigned long long)dsize);
            goto fail;
        }
        t->nbytes = (size_t)(en - b);
        if (t->nbytes != t->numel * elsize) {
            rc = af_error_set(AF_EFORMAT, "%s: tensor %s: %zu data bytes but shape and dtype need %zu",
                              path, nm, t->nbytes, t->numel * elsize);
            goto fail;
        }
        t->file_offset = data0 + (uint64_t)b;
        t->name = strdup(nm);
        if (!t->name) {
            rc = af_error_set(AF_ENOMEM, "%s: out of memory", path);
            goto fail;
        }
        order[st->n] = t;
        st->n++;
    }
    /* the tensors must tile the data: sorted by offset, each begins where the previous
     * ended, and the last ends at the end of the file */
    qsort(order, (size_t)st->n, sizeof *order, cmp_offset);
    uint64_t at = data0;
    for (int i = 0; i < st->n; i++) {
        const AfStTensor *t = order[i];
        if (t->file_offset != at) {
            rc = af_error_set(AF_EFORMAT, "%s: tensor %s: data_offsets begin at %llu, but the previous tensor ends at %llu (%s)",
                              path, t->name, (unsigned long long)(t->file_offset - data0),
                              (unsigned long long)(at - data0), t->file_offset < at ? "overlap" : "gap");
            goto fail;
        }
        at += t->nbytes;
    }
    if (at != st->size) {
        rc = af_error_set(AF_EFORMAT, "%s: %llu bytes after the last tensor's data (the header's offsets do not describe the file)",
                          path, (unsigned long long)(st->size - at));
        goto fail;
    }
    free(order);
    free(hdr);
    cJSON_Delete(root);
    *out = st;
    return 0;
fail:
    free(order);
    free(hdr);
    cJSON_Delete(root);
    af_safetensors_close(st);
    return rc;
}

const AfStTensor *af_safetensors_find(const AfSafetensors *st, const char *name) {
    for (int i = 0; i < st->n; i++)
        if (strcmp(st->tensors[i].name, name) == 0) return &st->tensors[i];
    return NULL;
}

float af_f16_to_f32(uint16_t h) {
    int s = h >> 15, e = (h >> 10) & 31, f = h & 1023;
    float v;
    if (e == 0) v = ldexpf((float)f, -24);
    else if (e == 31) v = f ? NAN : INFINITY;
    else v = ldexpf((float)(f | 1024), e - 25);
    return s ? -v : v;
}

static void convert(AfDtype dt, const uint8_t *p, float *dst, size_t n) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (dt == AF_DT_F32) { /* the file's byte order is the host's */
        if ((const void *)p != (const void *)dst) memcpy(dst, p, n * 4);
        return;
    }
    if (dt == AF_DT_BF16) { /* a loop the compiler vectorises */
        const uint16_t *h = (const uint16_t *)(const void *)p; /* p is malloc'd: aligned */
        uint32_t *u = (uint32_t *)(void *)dst;
        for (size_t i = 0; i < n; i++) u[i] = (uint32_t)h[i] << 16;
        return;
    }
#endif
    for (size_t i = 0; i < n; i++) {
        if (dt == AF_DT_F32) {
            uint32_t u = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 |
                         (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24;
            memcpy(&dst[i], &u, 4);
        } else {
            uint16_t h = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
            dst[i] = dt == AF_DT_BF16 ? af_bf16_to_f32(h) : af_f16_to_f32(h);
        }
    }
}

int af_safetensors_read_f32(const AfSafetensors *st, const AfStTensor *t, float *dst) {
    size_t es = dtype_size(t->dtype);
    if (t->dtype == AF_DT_F32) { /* straight into dst, then fix the byte order in place */
        if (pread_all(st->fd, dst, t->nbytes, t->file_offset))
            return af_error_set(AF_EIO, "%s: tensor %s: read failed (file changed?): %s", st->path,
                                t->name, strerror(errno));
        convert(AF_DT_F32, (const uint8_t *)dst, dst, t->numel);
        return 0;
    }
    size_t chunk = t->numel < CHUNK_ELEMS ? t->numel : CHUNK_ELEMS;
    uint8_t *buf = malloc(chunk * es + 1);
    if (!buf) return af_error_set(AF_ENOMEM, "%s: out of memory", st->path);
    for (size_t i = 0; i < t->numel; i += chunk) {
        size_t n = t->numel - i < chunk ? t->numel - i : chunk;
        if (pread_all(st->fd, buf, n * es, t->file_offset + i * es)) {
            free(buf);
            return af_error_set(AF_EIO, "%s: tensor %s: read failed (file changed?): %s", st->path,
                                t->name, strerror(errno));
        }
        convert(t->dtype, buf, dst + i, n);
    }
    free(buf);
    return 0;
}

static int write_all(FILE *f, const void *p, size_t n) { return fwrite(p, 1, n, f) == n ? 0 : -1; }

int af_safetensors_write_dtype(const char *path, int n, const char *const *names,
                               const int *ndims, const int64_t (*shapes)[2],
                               const float *const *data, AfDtype dtype, const char *format) {
    if (dtype != AF_DT_F32 && dtype != AF_DT_BF16)
        return af_error_set(AF_EINVAL, "%s: can write F32 or BF16 only", path);
    int rc = 0;
    char *hdr = NULL, *tmp = NULL;
    uint16_t *half = NULL;
    FILE *f = NULL;
    size_t es = dtype_size(dtype);
    cJSON *root = cJSON_CreateObject();
    if (!root) return af_error_set(AF_ENOMEM, "%s: out of memory", path);
    if (format) {
        cJSON *md = cJSON_AddObjectToObject(root, "__metadata__");
        if (!md || !cJSON_AddStringToObject(md, "format", format)) {
            rc = af_error_set(AF_ENOMEM, "%s: out of memory", path);
            goto fail;
        }
    }
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        size_t numel = 1;
        for (int d = 0; d < ndims[i]; d++) numel *= (size_t)shapes[i][d];
        cJSON *e = cJSON_AddObjectToObject(root, names[i]);
        double dims[2] = {(double)shapes[i][0], (double)shapes[i][1]};
        double offs[2] = {(double)off, (double)(off + numel * es)};
        if (!e || !cJSON_AddStringToObject(e, "dtype", dtype == AF_DT_F32 ? "F32" : "BF16") ||
            !cJSON_AddItemToObject(e, "shape", cJSON_CreateDoubleArray(dims, ndims[i])) ||
            !cJSON_AddItemToObject(e, "data_offsets", cJSON_CreateDoubleArray(offs, 2))) {
            rc = af_error_set(AF_ENOMEM, "%s: out of memory", path);
            goto fail;
        }
        off += numel * es;
    }
    hdr = cJSON_PrintUnformatted(root);
    tmp = malloc(strlen(path) + 8);
    half = dtype == AF_DT_BF16 ? malloc(CHUNK_ELEMS * sizeof *half) : NULL;
    if (!hdr || !tmp || (dtype == AF_DT_BF16 && !half)) {
        rc = af_error_set(AF_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    size_t hlen = strlen(hdr), padded = (hlen + 7) / 8 * 8;
    sprintf(tmp, "%s.tmp", path);
    f = fopen(tmp, "wb");
    if (!f) {
        rc = af_error_set(AF_EIO, "%s: cannot create: %s", tmp, strerror(errno));
        goto fail;
    }
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    int bad = write_all(f, len8, 8) || write_all(f, hdr, hlen);
    for (size_t i = hlen; i < padded && !bad; i++) bad = fputc(' ', f) == EOF;
    for (int i = 0; i < n && !bad; i++) {
        size_t numel = 1;
        for (int d = 0; d < ndims[i]; d++) numel *= (size_t)shapes[i][d];
        if (dtype == AF_DT_F32) {
            bad = write_all(f, data[i], numel * 4); /* little-endian host (x86-64, aarch64) */
            continue;
        }
        for (size_t j = 0; j < numel && !bad; j += CHUNK_ELEMS) {
            size_t k = numel - j < CHUNK_ELEMS ? numel - j : CHUNK_ELEMS;
            for (size_t q = 0; q < k; q++) half[q] = af_f32_to_bf16(data[i][j + q]);
            bad = write_all(f, half, k * 2);
        }
    }
    if (fclose(f) != 0) bad = 1;
    f = NULL;
    if (bad || rename(tmp, path) != 0) {
        rc = af_error_set(AF_EIO, "%s: write failed: %s", path, strerror(errno));
        unlink(tmp);
        goto fail;
    }
fail:
    if (f) fclose(f);
    free(half);
    free(tmp);
    free(hdr);
    cJSON_Delete(root);
    return rc;
}

int af_safetensors_write(const char *path, int n, const char *const *names, const int *ndims,
                         const int64_t (*shapes)[2], const float *const *data) {
    return af_safetensors_write_dtype(path, n, names, ndims, shapes, data, AF_DT_F32, NULL);
}
