/* Checkpoint benchmark: a durable checkpoint write (af_ckpt_save: parameters + both AdamW
 * moments in one LMDB transaction, committed with fdatasync) against the reference a
 * checkpoint cannot beat, a raw write() + fdatasync() of the same bytes, to a new file
 * and over an existing one, measured alternately in the same run; and a checked load (af_ckpt_load: every tensor
 * hashed) against a read() of the raw file. Both LMDB modes are measured: MDB_WRITEMAP
 * (the store's default) and LMDB's default (malloc'd pages written at commit).
 * Prints a table and writes CSV (default bench/results/ckpt.csv).
 *
 *   bench_ckpt [--d-model N] [--layers N] [--reps N] [--dir DIR] [--csv PATH]
 *
 * The ratios are for the steady state of a long run: the store keeps 2 checkpoints, so
 * after a few saves it reuses the pages freed by the ones it dropped. The first saves
 * of a new store grow into fresh pages of the map (and the page cache); their median is
 * reported separately as "warm-up" (on this VM, memory the guest touches for the first
 * time is slow, which dominates those).
 * Figures on a shared machine are noisy: the ratios compare runs interleaved in time. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/checksum.h"
#include "common/error.h"
#include "common/model.h"
#include "bench/bench_common.h"
#include "learner/ckpt.h"

/* write() the three buffers tensor by tensor (as many writes as the store makes values)
 * into a new file (in_place 0: O_TRUNC, the file system allocates new blocks) or over the
 * blocks of the existing file (in_place 1: what the store does once it cycles through its
 * pages), fdatasync, close. */
static int raw_write(const char *path, const AfModel *m, float *const bufs[3], int in_place) {
    int fd = open(path, O_WRONLY | O_CREAT | (in_place ? 0 : O_TRUNC), 0644);
    if (fd < 0) return -1;
    for (int b = 0; b < 3; b++)
        for (int t = 0; t < m->n_tensors; t++) {
            const char *p = (const char *)(bufs[b] + m->tensors[t].offset);
            size_t left = m->tensors[t].numel * sizeof(float);
            while (left) {
                ssize_t w = write(fd, p, left);
                if (w < 0 && errno == EINTR) continue;
                if (w <= 0) {
                    close(fd);
                    return -1;
                }
                p += w;
                left -= (size_t)w;
            }
        }
    int rc = fdatasync(fd);
    return close(fd) || rc ? -1 : 0;
}

static int raw_read(const char *path, const AfModel *m, float *const bufs[3], int hash) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    uint64_t h = 0;
    for (int b = 0; b < 3; b++)
        for (int t = 0; t < m->n_tensors; t++) {
            char *p = (char *)(bufs[b] + m->tensors[t].offset);
            size_t left = m->tensors[t].numel * sizeof(float), len = left;
            while (left) {
                ssize_t r = read(fd, p + (len - left), left);
                if (r < 0 && errno == EINTR) continue;
                if (r <= 0) {
                    close(fd);
                    return -1;
                }
                left -= (size_t)r;
            }
            if (hash) h ^= af_checksum64(p, len, 0);
        }
    close(fd);
    return h == 1 ? 1 : 0; /* keeps the hash from being optimised away */
}

int main(int argc, char **argv) {
    int d_model = 512, layers = 8, reps = 5;
    const char *dir = NULL, *csv = "bench/results/ckpt.csv";
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--d-model") == 0) d_model = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--layers") == 0) layers = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--reps") == 0) reps = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--dir") == 0) dir = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--csv") == 0) csv = argv[++i];
        else {
            fprintf(stderr, "usage: bench_ckpt [--d-model N] [--layers N] [--reps N] [--dir DIR] [--csv PATH]\n");
            return 2;
        }
    }
    if (reps < 2 || reps > 100 || d_model < 16 || layers < 1) {
        fprintf(stderr, "bench_ckpt: reps 2..100, d_model >= 16, layers >= 1\n");
        return 2;
    }
    char tmpl[512];
    if (!dir) {
        snprintf(tmpl, sizeof tmpl, "%s/af_bench_ckpt_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp");
        if (!mkdtemp(tmpl)) {
            perror("mkdtemp");
            return 1;
        }
        dir = tmpl;
    }
    AfModelConfig c = af_model_config_default();
    c.vocab_size = 4096, c.d_model = d_model, c.n_layers = layers, c.n_heads = 8, c.n_kv_heads = 8;
    c.d_ff = d_model * 11 / 4, c.max_seq = 1024;
    if (d_model % 8) c.n_heads = c.n_kv_heads = 1;
    AfModel *m = NULL;
    if (af_model_create(&c, 0, 0, 0, &m)) {
        fprintf(stderr, "bench_ckpt: %s\n", af_error_detail());
        return 1;
    }
    size_t n = m->n_params;
    float *mm = malloc(n * sizeof(float)), *vv = malloc(n * sizeof(float));
    float *r0 = malloc(n * sizeof(float)), *r1 = malloc(n * sizeof(float)), *r2 = malloc(n * sizeof(float));
    if (!mm || !vv || !r0 || !r1 || !r2) return 1;
    af_model_init_params(m, 1);
    for (size_t i = 0; i < n; i++) mm[i] = m->params[i] * 0.5f, vv[i] = m->params[i] * m->params[i];
    float *bufs[3] = {m->params, mm, vv}, *rbufs[3] = {r0, r1, r2};
    size_t bytes = 0;
    for (int t = 0; t < m->n_tensors; t++) bytes += m->tensors[t].numel * sizeof(float);
    bytes *= 3;
    const double mib = (double)bytes / (1 << 20);
    printf("bench_ckpt: %d tensors, %zu parameters, %.1f MiB per checkpoint (params + 2 moments), %d reps, dir %s\n",
           m->n_tensors, n, mib, reps, dir);

    FILE *out = fopen(csv, "w");
    if (!out) {
        fprintf(stderr, "bench_ckpt: cannot write %s\n", csv);
        return 1;
    }
    fprintf(out, "mode,metric,seconds_median,mib_per_s,reference_seconds_median,ratio_vs_reference,mib,reps\n");
    int ok = 1;
    for (int writemap = 1; writemap >= 0 && ok; writemap--) {
        char run[600], raw[700], cmd[1400];
        snprintf(run, sizeof run, "%s/run_wm%d", dir, writemap);
        snprintf(raw, sizeof raw, "%s/raw_wm%d.bin", dir, writemap);
        snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", run, raw);
        if (system(cmd) != 0) return 1;
        AfCkptOptions o = af_ckpt_options_default();
        o.writemap = writemap;
        o.keep_last = 2;
        AfCkptStore *st = NULL;
        if (af_ckpt_open(run, &o, &st)) {
            fprintf(stderr, "bench_ckpt: %s\n", af_error_detail());
            return 1;
        }
        double *ts = calloc((size_t)reps, sizeof *ts), *tr = calloc((size_t)reps, sizeof *tr);
        double *tl = calloc((size_t)reps, sizeof *tl), *trd = calloc((size_t)reps, sizeof *trd);
        double *trh = calloc((size_t)reps, sizeof *trh), *tri = calloc((size_t)reps, sizeof *tri);
        enum { WARM = 4 }; /* keep_last + 2: from then on the store cycles through its pages */
        double warm[WARM];
        for (int r = -WARM; r < reps && ok; r++) {
            AfCkptSave sv = {.step = (uint64_t)(r + WARM + 1), .policy_version = (uint64_t)(r + WARM), .shape = m->cfg,
                             .tensors = m->tensors, .n_tensors = m->n_tensors, .n_params = n,
                             .params = m->params, .adam_m = mm, .adam_v = vv, .adam_step = (uint64_t)(r + WARM)};
            m->params[r + WARM] += 1e-3f; /* every checkpoint differs */
            double t0 = af_time_now();
            if (af_ckpt_save(st, &sv)) {
                fprintf(stderr, "bench_ckpt: save: %s\n", af_error_detail());
                ok = 0;
                break;
            }
            double t_save = af_time_now() - t0;
            t0 = af_time_now();
            if (raw_write(raw, m, bufs, 0)) {
                perror("raw write");
                ok = 0;
                break;
            }
            double t_raw = af_time_now() - t0;
            t0 = af_time_now();
            if (raw_write(raw, m, bufs, 1)) {
                perror("raw write");
                ok = 0;
                break;
            }
            double t_raw_inplace = af_time_now() - t0;
            if (r < 0) {
                warm[r + WARM] = t_save;
                continue;
            }
            ts[r] = t_save, tr[r] = t_raw, tri[r] = t_raw_inplace;
            t0 = af_time_now();
            if (af_ckpt_load(st, AF_CKPT_LATEST, &m->cfg, n, r0, r1, r2, NULL, NULL)) {
                fprintf(stderr, "bench_ckpt: load: %s\n", af_error_detail());
                ok = 0;
                break;
            }
            tl[r] = af_time_now() - t0;
            if (memcmp(r0, m->params, n * sizeof(float)) || memcmp(r2, vv, n * sizeof(float))) {
                fprintf(stderr, "bench_ckpt: loaded values differ from the saved ones\n");
                ok = 0;
                break;
            }
            t0 = af_time_now();
            raw_read(raw, m, rbufs, 0);
            trd[r] = af_time_now() - t0;
            t0 = af_time_now();
            raw_read(raw, m, rbufs, 1);
            trh[r] = af_time_now() - t0;
        }
        af_ckpt_close(st);
        if (ok) {
            const char *mode = writemap ? "writemap" : "default";
            double s = af_bench_median(ts, reps), w = af_bench_median(tr, reps), l = af_bench_median(tl, reps), rd = af_bench_median(trd, reps),
                   rh = af_bench_median(trh, reps), first = af_bench_median(warm, WARM), wi = af_bench_median(tri, reps);
            printf("%-8s durable save   %8.3f s %8.1f MiB/s | raw write+fdatasync %8.3f s %8.1f MiB/s | ratio %.2f"
                   " (warm-up saves %.3f s)\n", mode, s, mib / s, w, mib / w, w / s, first);
            printf("%-8s                                    | raw overwrite+fdatasync %6.3f s %8.1f MiB/s | ratio %.2f\n",
                   mode, wi, mib / wi, wi / s);
            printf("%-8s checked load   %8.3f s %8.1f MiB/s | read %8.3f s (ratio %.2f) | read+xxh64 %8.3f s (ratio %.2f)\n",
                   mode, l, mib / l, rd, rd / l, rh, rh / l);
            fprintf(out, "%s,save,%.6f,%.1f,%.6f,%.4f,%.2f,%d\n", mode, s, mib / s, w, w / s, mib, reps);
            fprintf(out, "%s,save_vs_overwrite,%.6f,%.1f,%.6f,%.4f,%.2f,%d\n", mode, s, mib / s, wi, wi / s, mib, reps);
            fprintf(out, "%s,warmup_save,%.6f,%.1f,%.6f,%.4f,%.2f,%d\n", mode, first, mib / first, w, w / first, mib, WARM);
            fprintf(out, "%s,load_vs_read,%.6f,%.1f,%.6f,%.4f,%.2f,%d\n", mode, l, mib / l, rd, rd / l, mib, reps);
            fprintf(out, "%s,load_vs_read_hash,%.6f,%.1f,%.6f,%.4f,%.2f,%d\n", mode, l, mib / l, rh, rh / l, mib, reps);
        }
        free(ts), free(tr), free(tl), free(trd), free(trh), free(tri);
        snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", run, raw);
        if (system(cmd) != 0) ok = 0;
    }
    fclose(out);
    if (dir == tmpl) rmdir(tmpl);
    if (ok) printf("wrote %s\n", csv);
    af_model_destroy(m);
    free(mm), free(vv), free(r0), free(r1), free(r2);
    return ok ? 0 : 1;
}
