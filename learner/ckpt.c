/* Checkpoint store: one LMDB write transaction per checkpoint, XXH64 per tensor, keys
 * and formats as documented in learner/ckpt.h. The manifest is learner/ckpt_manifest.c;
 * the defences against a damaged store and the node-local store, learner/ckpt_repair.c. */
#include "learner/ckpt.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <cJSON.h>
#include <lmdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common/checksum.h"
#include "common/error.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/safetensors.h"
#include "learner/ckpt_internal.h"
#include "learner/ckpt_manifest.h"
#include "learner/lmdb_check.h"
#include "proto/agentflow.pb-c.h"

AfCkptOptions af_ckpt_options_default(void) {
    AfCkptOptions o = {.map_size = 0, .keep_last = 3, .read_only = 0, .writemap = 1};
    return o;
}

const char *af_ckpt_path(const AfCkptStore *s) { return s->dir; }
size_t af_ckpt_map_size(const AfCkptStore *s) { return s->map_size; }

/* ------------------------------------------------------------------ errors, keys */

int af_ckpt_lmdb_fail(const AfCkptStore *s, int mrc, const char *what) {
    if (mrc == MDB_MAP_FULL)
        return af_error_set(AF_EFULL, "%s: %s: the LMDB map (%zu MiB) is full", s->dir, what,
                            s->map_size / MIB);
    if (mrc == ENOSPC || mrc == EDQUOT || mrc == EFBIG)
        return af_error_set(AF_EFULL, "%s: %s: no space left on the device (%s)", s->dir, what,
                            strerror(mrc));
    if (mrc == EIO) { /* LMDB reports a short write as EIO: a full disk looks like this */
        struct statvfs fs;
        if (statvfs(s->dir, &fs) == 0)
            return af_error_set(AF_EIO, "%s: %s: write failed (%s; %llu MiB free on the device)", s->dir,
                                what, strerror(mrc),
                                (unsigned long long)fs.f_bavail * fs.f_frsize / MIB);
    }
    if (mrc == MDB_CORRUPTED || mrc == MDB_PAGE_NOTFOUND || mrc == MDB_INVALID ||
        mrc == MDB_VERSION_MISMATCH)
        return af_error_set(AF_EFORMAT, "%s: %s: store damaged: %s", s->dir, what, mdb_strerror(mrc));
    return af_error_set(AF_ELMDB, "%s: %s: %s", s->dir, what, mdb_strerror(mrc));
}

static MDB_val key_of(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static MDB_val key_of(char *buf, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, KEY_MAX, fmt, ap);
    va_end(ap);
    AF_ASSERT(n > 0 && n < KEY_MAX);
    MDB_val k = {(size_t)n, buf};
    return k;
}

/* The reference planner is kept twice (every checkpoint refers to it: a damaged byte in
 * a single copy would invalidate them all); REF_COPY2 names the second copy. */
#define REF_COPY2 AF_CKPT_N_KIND

static MDB_val tensor_key(char *buf, uint64_t step, int kind, const char *name) {
    if (kind == AF_CKPT_REF) return key_of(buf, "ref/param/%s", name);
    if (kind == REF_COPY2) return key_of(buf, "ref/copy2/%s", name);
    return key_of(buf, "step/%020" PRIu64 "/%s/%s", step, af_ckpt_kind_name[kind], name);
}

/* Parse the step out of a "step/<20 digits>/..." key; 0 on success. */
static int parse_step_key(const MDB_val *k, uint64_t *step) {
    const char *p = k->mv_data;
    if (k->mv_size < 26 || memcmp(p, "step/", 5) != 0 || p[25] != '/') return -1;
    uint64_t v = 0;
    for (int i = 5; i < 25; i++) {
        if (p[i] < '0' || p[i] > '9') return -1;
        uint64_t d = (uint64_t)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10) return -1;
        v = v * 10 + d;
    }
    *step = v;
    return 0;
}

/* Check snapshot `txnid` (pinned by a transaction of the caller) unless done before. */
int af_ckpt_check_snapshot(AfCkptStore *s, uint64_t txnid) {
    if (txnid == s->checked_txnid) return 0;
    AfLmdbCheck r;
    int rc = af_lmdb_check(s->data_path, txnid, &r);
    if (rc == 0) s->checked_txnid = txnid;
    else if (rc == AF_EFORMAT)
        rc = af_error_set(AF_EFORMAT,
                          "%s: store damaged: %s (a read-write open, e.g. `agentflow train "
                          "--resume=latest-valid`, moves it aside and rebuilds it from its intact checkpoints)",
                          s->dir, r.message);
    return rc;
}

/* A read transaction on a snapshot that af_lmdb_check found sound: LMDB never reads a
 * page that was not checked (the pinned snapshot's pages cannot be reused meanwhile). */
static int begin_read(AfCkptStore *s, MDB_txn **txn) {
    for (int attempt = 0;; attempt++) {
        int mrc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, txn);
        if (mrc == MDB_MAP_RESIZED) { /* another process grew the map */
            if ((mrc = mdb_env_set_mapsize(s->env, 0)) == 0) {
                MDB_envinfo info;
                mdb_env_info(s->env, &info);
                s->map_size = info.me_mapsize;
                mrc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, txn);
            }
        }
        if (mrc) return af_ckpt_lmdb_fail(s, mrc, "begin read transaction");
        int rc = af_ckpt_check_snapshot(s, (uint64_t)mdb_txn_id(*txn));
        if (rc == 0) return 0;
        mdb_txn_abort(*txn);
        *txn = NULL;
        /* AF_ENOTFOUND: a writer committed twice since the transaction began; again */
        if (rc != AF_ENOTFOUND || attempt == 4) return rc;
    }
}

/* ------------------------------------------------------------------ open / close */

/* With MDB_WRITEMAP, make sure the file's blocks exist up to the map size, so that a
 * full disk is ENOSPC here rather than SIGBUS when a page of the map is first written. */
static int reserve_blocks(AfCkptStore *s) {
    if (s->opt.read_only || !s->opt.writemap) return 0;
    int fd = -1;
    if (mdb_env_get_fd(s->env, &fd) || fd < 0) return 0;
    int e = posix_fallocate(fd, 0, (off_t)s->map_size);
    if (e == 0 || e == EOPNOTSUPP || e == EINVAL) return 0;
    if (e == ENOSPC || e == EDQUOT)
        return af_error_set(AF_EFULL,
                            "%s: no space left on the device for a %zu MiB checkpoint map "
                            "(%s): free disk space or keep fewer checkpoints (run.keep_checkpoints)",
                            s->dir, s->map_size / MIB, strerror(e));
    return af_error_set(AF_EIO, "%s: reserving %zu MiB: %s", s->data_path, s->map_size / MIB,
                        strerror(e));
}

static int set_map_size(AfCkptStore *s, size_t bytes) {
    long ps = sysconf(_SC_PAGESIZE);
    if (ps <= 0) ps = 4096;
    bytes = (bytes + MIB - 1) / MIB * MIB;
    int mrc = mdb_env_set_mapsize(s->env, bytes);
    if (mrc) return af_ckpt_lmdb_fail(s, mrc, "set map size");
    MDB_envinfo info;
    mdb_env_info(s->env, &info);
    s->map_size = info.me_mapsize;
    return reserve_blocks(s);
}

/* Open the LMDB environment at s->env_dir and check the "format" key. *fmt_damaged is
 * set (with AF_EFORMAT) when that key holds a damaged value. */
static int open_env(AfCkptStore *s, int *fmt_damaged) {
    const AfCkptOptions *opt = &s->opt;
    MDB_txn *txn = NULL;
    int rc = 0, mrc;
    struct stat st;
    int exists = stat(s->data_path, &st) == 0;
    *fmt_damaged = 0;
    if ((mrc = mdb_env_create(&s->env))) return af_ckpt_lmdb_fail(s, mrc, "create environment");
    /* automatic: at least the current file; a fixed size is taken as given (LMDB rounds
     * it to pages and raises it to the pages in use) */
    size_t want = opt->map_size;
    if (want == 0) {
        want = exists && (size_t)st.st_size > AUTO_MAP_MIN ? (size_t)st.st_size : AUTO_MAP_MIN;
        want = (want + MIB - 1) / MIB * MIB;
    }
    if ((mrc = mdb_env_set_mapsize(s->env, want))) return af_ckpt_lmdb_fail(s, mrc, "set map size");
    unsigned flags = MDB_NOTLS;
    if (opt->read_only) flags |= MDB_RDONLY;
    else if (opt->writemap) flags |= MDB_WRITEMAP;
    if ((mrc = mdb_env_open(s->env, s->env_dir, flags, 0644))) {
        if (mrc == MDB_INVALID || mrc == MDB_VERSION_MISMATCH)
            return af_error_set(AF_EFORMAT, "%s: not an LMDB checkpoint store: %s", s->dir, mdb_strerror(mrc));
        return af_ckpt_lmdb_fail(s, mrc, "open");
    }
    MDB_envinfo info;
    mdb_env_info(s->env, &info);
    s->map_size = info.me_mapsize;
    if ((rc = reserve_blocks(s))) return rc;

    if (opt->read_only) rc = begin_read(s, &txn);
    else if ((mrc = mdb_txn_begin(s->env, NULL, 0, &txn))) rc = af_ckpt_lmdb_fail(s, mrc, "begin transaction");
    else if ((rc = af_ckpt_check_snapshot(s, (uint64_t)mdb_txn_id(txn) - 1))) goto done;
    if (rc) goto done;
    if ((mrc = mdb_dbi_open(txn, NULL, 0, &s->dbi))) {
        rc = af_ckpt_lmdb_fail(s, mrc, "open database");
        goto done;
    }
    MDB_val k = {strlen(FORMAT_KEY), FORMAT_KEY}, v;
    mrc = mdb_get(txn, s->dbi, &k, &v);
    if (mrc == 0) {
        if (v.mv_size != strlen(FORMAT_VALUE) || memcmp(v.mv_data, FORMAT_VALUE, v.mv_size) != 0) {
            *fmt_damaged = af_ckpt_format_damaged(&v);
            rc = af_error_set(AF_EFORMAT, "%s: key \"format\" is \"%.*s\", expected \"%s\"", s->dir,
                              (int)(v.mv_size < 64 ? v.mv_size : 64), (const char *)v.mv_data, FORMAT_VALUE);
            goto done;
        }
    } else if (mrc != MDB_NOTFOUND) {
        rc = af_ckpt_lmdb_fail(s, mrc, "read format key");
        goto done;
    }
    if (opt->read_only) mdb_txn_abort(txn);
    else if ((mrc = mdb_txn_commit(txn))) rc = af_ckpt_lmdb_fail(s, mrc, "commit open");
    txn = NULL;
done:
    if (txn) mdb_txn_abort(txn);
    return rc;
}

int af_ckpt_open(const char *run_dir, const AfCkptOptions *o, AfCkptStore **out) {
    *out = NULL;
    AfCkptOptions opt = o ? *o : af_ckpt_options_default();
    if (!run_dir || !*run_dir) return af_error_set(AF_EINVAL, "checkpoint store: no run directory");
    if (opt.keep_last < 1)
        return af_error_set(AF_EINVAL, "checkpoint store: keep_last must be >= 1, got %d", opt.keep_last);
    AfCkptStore *s = calloc(1, sizeof *s);
    if (!s) return af_error_set(AF_ENOMEM, "checkpoint store: out of memory");
    int rc = 0, fmt_damaged = 0;
    char why[600];
    s->opt = opt;
    if (snprintf(s->dir, sizeof s->dir, "%s/ckpt.lmdb", run_dir) >= (int)sizeof s->dir) {
        rc = af_error_set(AF_EINVAL, "checkpoint store: run directory path too long");
        goto fail;
    }
    if (!opt.read_only && opt.local_dir && opt.local_dir[0]) { /* LMDB works on a node-local disk */
        snprintf(s->copy_dir, sizeof s->copy_dir, "%s", s->dir);
        if (snprintf(s->dir, sizeof s->dir, "%s/ckpt.lmdb", opt.local_dir) >= (int)sizeof s->dir) {
            rc = af_error_set(AF_EINVAL, "checkpoint store: run.checkpoint_dir path too long");
            goto fail;
        }
        if ((rc = af_ckpt_seed_local(s))) goto fail;
    }
    snprintf(s->env_dir, sizeof s->env_dir, "%s", s->dir);
    snprintf(s->data_path, sizeof s->data_path, "%s/data.mdb", s->dir);
    struct stat st;
    int exists = stat(s->data_path, &st) == 0;
    if (opt.read_only && !exists) {
        rc = af_error_set(AF_ENOTFOUND, "%s: no checkpoint store (no data.mdb)", s->dir);
        goto fail;
    }
    if (!opt.read_only && (rc = af_mkdir_p(s->dir))) goto fail;
    /* LMDB trusts every byte it maps: it sees the file only once af_lmdb_check passed */
    if (exists && (rc = af_ckpt_check_at_open(s, why, sizeof why))) {
        if (rc != AF_EFORMAT || (rc = af_ckpt_repair(s, why))) goto fail;
        char aside[4300]; /* the damaged original is RUN_DIR's copy: keep it too */
        if (s->copy_dir[0] && (rc = af_ckpt_move_aside(s->copy_dir, ".damaged", aside, sizeof aside))) goto fail;
    }
    rc = open_env(s, &fmt_damaged);
    if (rc && fmt_damaged && !s->damage[0]) { /* a flipped bit in the "format" value */
        snprintf(why, sizeof why, "%s", af_error_detail());
        mdb_env_close(s->env);
        s->env = NULL;
        if ((rc = af_ckpt_repair(s, why)) == 0) rc = open_env(s, &fmt_damaged);
    }
    if (rc) goto fail;
    *out = s;
    return 0;
fail:
    af_ckpt_close(s);
    return rc;
}

const char *af_ckpt_damage(const AfCkptStore *s) { return s->damage[0] ? s->damage : NULL; }

void af_ckpt_close(AfCkptStore *s) {
    if (!s) return;
    if (s->env) mdb_env_close(s->env);
    if (s->tmp_copy) { /* the salvaged copy of a damaged store opened read-only */
        char p[4200];
        snprintf(p, sizeof p, "%s/data.mdb", s->env_dir);
        unlink(p);
        snprintf(p, sizeof p, "%s/lock.mdb", s->env_dir);
        unlink(p);
        rmdir(s->env_dir);
    }
    free(s);
}

/* ------------------------------------------------------------------ manifests */

static int get_manifest(AfCkptStore *s, MDB_txn *txn, uint64_t step, Agentflow__CheckpointManifest **out) {
    char kb[KEY_MAX], what[64];
    MDB_val k = key_of(kb, "step/%020" PRIu64 "/manifest", step), v;
    snprintf(what, sizeof what, "checkpoint step %" PRIu64, step);
    int mrc = mdb_get(txn, s->dbi, &k, &v);
    if (mrc == MDB_NOTFOUND)
        return af_error_set(AF_ENOTFOUND, "%s: checkpoint step %" PRIu64 " does not exist (no manifest)", s->dir, step);
    if (mrc) return af_ckpt_lmdb_fail(s, mrc, "read manifest");
    /* step/<S>/sum: XXH64 of the manifest and of the metrics line (absent in stores
     * written before it existed: then only the manifest's own consistency is checked) */
    char sk[KEY_MAX], mk[KEY_MAX];
    MDB_val skey = key_of(sk, "step/%020" PRIu64 "/sum", step), sval;
    if ((mrc = mdb_get(txn, s->dbi, &skey, &sval)) == 0) {
        MDB_val mkey = key_of(mk, "step/%020" PRIu64 "/metrics", step), mval = {0, ""};
        uint8_t want[16];
        int mm = mdb_get(txn, s->dbi, &mkey, &mval);
        if (mm && mm != MDB_NOTFOUND) return af_ckpt_lmdb_fail(s, mm, "read metrics line");
        af_ckpt_value_sums(v.mv_data, v.mv_size, mval.mv_data, mm ? 0 : mval.mv_size, want);
        if (sval.mv_size != sizeof want || memcmp(sval.mv_data, want, 8) != 0)
            return af_error_set(AF_ECHECKSUM, "%s: checkpoint step %" PRIu64 ": manifest checksum mismatch", s->dir, step);
        if (memcmp((const uint8_t *)sval.mv_data + 8, want + 8, 8) != 0)
            return af_error_set(AF_ECHECKSUM, "%s: checkpoint step %" PRIu64 ": metrics line checksum mismatch", s->dir,
                                step);
    } else if (mrc != MDB_NOTFOUND)
        return af_ckpt_lmdb_fail(s, mrc, "read manifest checksum");
    return af_ckpt_manifest_decode(v.mv_data, v.mv_size, s->dir, what, step, 0, out);
}

static int get_ref_manifest(AfCkptStore *s, MDB_txn *txn, Agentflow__CheckpointManifest **out) {
    MDB_val k = {strlen("ref/manifest"), "ref/manifest"}, v;
    int mrc = mdb_get(txn, s->dbi, &k, &v);
    if (mrc == MDB_NOTFOUND) {
        *out = NULL;
        return af_error_set(AF_ENOTFOUND, "%s: no reference planner stored", s->dir);
    }
    if (mrc) return af_ckpt_lmdb_fail(s, mrc, "read reference manifest");
    MDB_val sk = {strlen("ref/sum"), "ref/sum"}, sv;
    if ((mrc = mdb_get(txn, s->dbi, &sk, &sv)) == 0) { /* absent in stores written before it */
        uint8_t want[16];
        af_ckpt_value_sums(v.mv_data, v.mv_size, "", 0, want);
        if (sv.mv_size != 8 || memcmp(sv.mv_data, want, 8) != 0) {
            *out = NULL;
            return af_error_set(AF_ECHECKSUM, "%s: reference manifest checksum mismatch", s->dir);
        }
    } else if (mrc != MDB_NOTFOUND)
        return af_ckpt_lmdb_fail(s, mrc, "read reference manifest checksum");
    return af_ckpt_manifest_decode(v.mv_data, v.mv_size, s->dir, "reference", 0, 1, out);
}

static int read_latest(AfCkptStore *s, MDB_txn *txn, uint64_t *step) {
    MDB_val k = {strlen(LATEST_KEY), LATEST_KEY}, v;
    int mrc = mdb_get(txn, s->dbi, &k, &v);
    if (mrc == MDB_NOTFOUND) return af_error_set(AF_ENOTFOUND, "%s: no checkpoint yet", s->dir);
    if (mrc) return af_ckpt_lmdb_fail(s, mrc, "read latest");
    if (v.mv_size != 8) return af_error_set(AF_EFORMAT, "%s: key \"latest\" has %zu bytes, expected 8", s->dir, v.mv_size);
    const uint8_t *b = v.mv_data;
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--) x = x << 8 | b[i];
    *step = x;
    return 0;
}

/* Steps present (any key under step/<S>/), ascending. *out malloc'd. */
static int list_steps(AfCkptStore *s, MDB_txn *txn, uint64_t **out, int *n) {
    *out = NULL;
    *n = 0;
    MDB_cursor *cur = NULL;
    int mrc = mdb_cursor_open(txn, s->dbi, &cur);
    if (mrc) return af_ckpt_lmdb_fail(s, mrc, "open cursor");
    int cap = 16, cnt = 0, rc = 0;
    uint64_t *steps = malloc((size_t)cap * sizeof *steps);
    if (!steps) {
        mdb_cursor_close(cur);
        return af_error_set(AF_ENOMEM, "%s: out of memory", s->dir);
    }
    MDB_val k = {5, "step/"}, v;
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); mrc == 0;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size < 5 || memcmp(k.mv_data, "step/", 5) != 0) break;
        uint64_t st;
        if (parse_step_key(&k, &st)) continue; /* foreign key: ignored */
        if (cnt > 0 && steps[cnt - 1] == st) continue;
        if (cnt == cap) {
            uint64_t *t = realloc(steps, (size_t)(cap *= 2) * sizeof *steps);
            if (!t) {
                rc = af_error_set(AF_ENOMEM, "%s: out of memory", s->dir);
                goto done;
            }
            steps = t;
        }
        steps[cnt++] = st;
    }
    if (mrc && mrc != MDB_NOTFOUND) rc = af_ckpt_lmdb_fail(s, mrc, "list steps");
done:
    mdb_cursor_close(cur);
    if (rc) {
        free(steps);
        return rc;
    }
    *out = steps;
    *n = cnt;
    return 0;
}

/* Delete every key with the given prefix. */
static int delete_prefix(AfCkptStore *s, MDB_txn *txn, const char *prefix) {
    MDB_cursor *cur = NULL;
    int mrc = mdb_cursor_open(txn, s->dbi, &cur);
    if (mrc) return af_ckpt_lmdb_fail(s, mrc, "open cursor");
    size_t pl = strlen(prefix);
    for (;;) {
        MDB_val k = {pl, (void *)prefix}, v;
        mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (mrc == MDB_NOTFOUND || (mrc == 0 && (k.mv_size < pl || memcmp(k.mv_data, prefix, pl) != 0))) {
            mrc = 0;
            break;
        }
        if (mrc || (mrc = mdb_cursor_del(cur, 0))) break;
    }
    mdb_cursor_close(cur);
    return mrc ? af_ckpt_lmdb_fail(s, mrc, "delete old checkpoint") : 0;
}

/* ------------------------------------------------------------------ save */

/* Hash `bytes` at src while copying them to dst (dst may be NULL: hash only). */
static uint64_t hash_copy(void *dst, const void *src, size_t bytes) {
    if (!dst) return af_checksum64(src, bytes, 0);
    AfChecksum64State st;
    af_checksum64_reset(&st, 0);
    const uint8_t *p = src;
    uint8_t *q = dst;
    for (size_t off = 0; off < bytes; off += COPY_CHUNK) {
        size_t n = bytes - off < COPY_CHUNK ? bytes - off : COPY_CHUNK;
        af_checksum64_update(&st, p + off, n);
        memcpy(q + off, p + off, n);
    }
    return af_checksum64_digest(&st);
}

static int put_reserved(AfCkptStore *s, MDB_txn *txn, MDB_val *k, const void *src, size_t bytes,
                        uint64_t *sum) {
    MDB_val v = {bytes, NULL};
    int mrc = mdb_put(txn, s->dbi, k, &v, MDB_RESERVE);
    if (mrc) return mrc;
    uint64_t h = hash_copy(v.mv_data, src, bytes);
    if (sum) *sum = h;
    return 0;
}


static int check_save_args(const AfCkptStore *s, const AfCkptSave *sv) {
    if (s->opt.read_only) return af_error_set(AF_ESTATE, "%s: opened read-only, cannot save", s->dir);
    if (!sv->params || !sv->adam_m || !sv->adam_v)
        return af_error_set(AF_EINVAL, "checkpoint save: params, adam_m and adam_v are required");
    if (!sv->tensors || sv->n_tensors < 1 || sv->n_tensors > AF_MODEL_MAX_TENSORS || sv->n_params == 0)
        return af_error_set(AF_EINVAL, "checkpoint save: empty tensor table or n_params 0");
    if (sv->step == AF_CKPT_LATEST) return af_error_set(AF_EINVAL, "checkpoint save: step out of range");
    if (af_model_config_validate(&sv->shape)) return af_error_wrap(AF_EINVAL, "checkpoint save: shape");
    size_t end = 0;
    for (int i = 0; i < sv->n_tensors; i++) {
        const AfTensorInfo *t = &sv->tensors[i];
        size_t nl = strnlen(t->name, AF_MODEL_NAME_MAX);
        size_t numel = t->ndim == 1 ? (size_t)t->shape[0] : (size_t)t->shape[0] * (size_t)t->shape[1];
        if (nl == 0 || nl >= AF_MODEL_NAME_MAX || (t->ndim != 1 && t->ndim != 2) || t->numel != numel ||
            t->offset < end || t->offset > sv->n_params || numel > sv->n_params - t->offset)
            return af_error_set(AF_EINVAL, "checkpoint save: tensor %d (%.*s) inconsistent with n_params %zu",
                                i, (int)nl, t->name, sv->n_params);
        end = t->offset + numel;
    }
    for (int i = 0; i < sv->n_counters; i++)
        if (strnlen(sv->counters[i].name, AF_CKPT_NAME_MAX) >= AF_CKPT_NAME_MAX)
            return af_error_set(AF_EINVAL, "checkpoint save: counter %d name not terminated", i);
    for (int i = 0; i < sv->n_rng; i++)
        if (strnlen(sv->rng[i].name, AF_CKPT_NAME_MAX) >= AF_CKPT_NAME_MAX)
            return af_error_set(AF_EINVAL, "checkpoint save: rng %d name not terminated", i);
    return 0;
}

/* Bytes one checkpoint occupies in the map (values rounded up to pages, plus B-tree). */
static size_t ckpt_footprint(const AfCkptSave *sv, size_t tensor_bytes) {
    return 3 * tensor_bytes + (size_t)sv->n_tensors * 3 * 2 * 4096 + MIB;
}

/* One attempt; returns 0, an AF_E* code, or MDB_MAP_FULL's translation with *map_full set. */
static int save_once(AfCkptStore *s, const AfCkptSave *sv, int *map_full) {
    int rc = 0, mrc = 0;
    MDB_txn *txn = NULL;
    Agentflow__CheckpointManifest *ref_man = NULL;
    AfCkptManifestBuf mb;
    uint64_t *sums = NULL;
    uint64_t *steps = NULL;
    int n_steps = 0;
    char kb[KEY_MAX];
    const char *what = "write checkpoint";
    size_t nt = (size_t)sv->n_tensors;
    *map_full = 0;

    /* everything but the checksums, which are computed as the tensors are written */
    memset(&mb, 0, sizeof mb);
    if ((rc = af_ckpt_manifest_build(sv, &mb))) goto fail;
    Agentflow__CheckpointManifest *man = &mb.man;
    Agentflow__TensorEntry *entries = mb.entries;
    if (!(sums = calloc(nt, sizeof *sums))) {
        rc = af_error_set(AF_ENOMEM, "checkpoint save: out of memory");
        goto fail;
    }
    if ((mrc = mdb_txn_begin(s->env, NULL, 0, &txn))) goto lmdb;
    uint64_t txnid = (uint64_t)mdb_txn_id(txn);
    if ((rc = af_ckpt_check_snapshot(s, txnid - 1))) goto fail; /* another writer's commit, unchecked */

    MDB_val fk = {strlen(FORMAT_KEY), FORMAT_KEY}, fv = {strlen(FORMAT_VALUE), FORMAT_VALUE};
    if ((mrc = mdb_put(txn, s->dbi, &fk, &fv, 0))) goto lmdb;

    /* A step saved again replaces the old one; checkpoints after it belong to a timeline
     * this run abandoned (it resumed from an older one) and go too. */
    if ((rc = list_steps(s, txn, &steps, &n_steps))) goto fail;
    for (int i = 0; i < n_steps; i++) {
        if (steps[i] < sv->step) continue;
        key_of(kb, "step/%020" PRIu64 "/", steps[i]);
        if ((rc = delete_prefix(s, txn, kb))) goto fail;
    }

    const float *bufs[3] = {sv->params, sv->adam_m, sv->adam_v};
    for (int kind = 0; kind < 3; kind++) {
        for (size_t i = 0; i < nt; i++) {
            const AfTensorInfo *t = &sv->tensors[i];
            MDB_val k = tensor_key(kb, sv->step, kind, t->name);
            uint64_t h;
            if ((mrc = put_reserved(s, txn, &k, bufs[kind] + t->offset, t->numel * sizeof(float), &h)))
                goto lmdb;
            if (kind == AF_CKPT_PARAM) entries[i].checksum = h;
            else if (kind == AF_CKPT_ADAM_M) entries[i].adam_m_checksum = h;
            else entries[i].adam_v_checksum = h;
            sums[i] = h;
        }
        uint64_t c = af_ckpt_combine(sums, nt);
        if (kind == AF_CKPT_PARAM) man->params_checksum = c;
        else if (kind == AF_CKPT_ADAM_M) man->adam_m_checksum = c;
        else man->adam_v_checksum = c;
    }

    /* The reference planner: stored once; later saves must pass the same one. */
    rc = get_ref_manifest(s, txn, &ref_man);
    if (rc == AF_ENOMEM || rc == AF_ELMDB) goto fail;
    rc = 0; /* missing, or damaged (a rebuilt store): written again below from ref_params */
    int ref_ok = ref_man && ref_man->n_tensors == nt && ref_man->param_count == sv->n_params;
    for (size_t i = 0; ref_ok && i < nt; i++)
        ref_ok = strcmp(ref_man->tensors[i]->name, sv->tensors[i].name) == 0 &&
                 ref_man->tensors[i]->offset == sv->tensors[i].offset;
    if (ref_man && !ref_ok && sv->ref_params) {
        rc = af_error_set(AF_ESTATE, "%s: the stored reference planner has another tensor table than this model", s->dir);
        goto fail;
    }
    if (sv->ref_params) {
        for (size_t i = 0; i < nt; i++) {
            const AfTensorInfo *t = &sv->tensors[i];
            if (ref_man) {
                sums[i] = af_checksum64(sv->ref_params + t->offset, t->numel * sizeof(float), 0);
                if (sums[i] != ref_man->tensors[i]->checksum) {
                    rc = af_error_set(AF_ESTATE, "%s: reference tensor %s differs from the stored reference planner",
                                      s->dir, t->name);
                    goto fail;
                }
                /* once per open: a stored copy lost or damaged (a rebuilt store) is written again */
                for (int c = 0; c < 2 && !s->ref_checked; c++) {
                    MDB_val k = tensor_key(kb, 0, c ? REF_COPY2 : AF_CKPT_REF, t->name), v;
                    size_t bytes = t->numel * sizeof(float);
                    mrc = mdb_get(txn, s->dbi, &k, &v);
                    if (mrc && mrc != MDB_NOTFOUND) goto lmdb;
                    if (mrc || v.mv_size != bytes || af_checksum64(v.mv_data, bytes, 0) != sums[i])
                        if ((mrc = put_reserved(s, txn, &k, sv->ref_params + t->offset, bytes, NULL))) goto lmdb;
                }
            } else {
                for (int c = 0; c < 2; c++) {
                    MDB_val k = tensor_key(kb, 0, c ? REF_COPY2 : AF_CKPT_REF, t->name);
                    if ((mrc = put_reserved(s, txn, &k, sv->ref_params + t->offset, t->numel * sizeof(float), &sums[i])))
                        goto lmdb;
                }
            }
        }
        if (!ref_man) { /* write ref/manifest: its TensorEntry.checksum are the reference's */
            uint8_t *packed = NULL, rsum[16];
            size_t len = 0;
            if ((rc = af_ckpt_manifest_pack_ref(&mb, sums, &packed, &len))) goto fail;
            af_ckpt_value_sums(packed, len, "", 0, rsum);
            MDB_val k = {strlen("ref/manifest"), "ref/manifest"}, v = {len, packed};
            MDB_val sk = {strlen("ref/sum"), "ref/sum"}, svv = {8, rsum};
            mrc = mdb_put(txn, s->dbi, &k, &v, 0);
            if (mrc == 0) mrc = mdb_put(txn, s->dbi, &sk, &svv, 0);
            free(packed);
            if (mrc) goto lmdb;
        }
    } else if (ref_man && ref_ok) {
        for (size_t i = 0; i < nt; i++) sums[i] = ref_man->tensors[i]->checksum;
    }
    int has_ref = sv->ref_params != NULL || (ref_man && ref_ok);
    if (has_ref) {
        for (size_t i = 0; i < nt; i++) entries[i].ref_checksum = sums[i];
        man->ref_checksum = af_ckpt_combine(sums, nt);
        man->has_ref = 1;
    }

    {
        size_t len = agentflow__checkpoint_manifest__get_packed_size(man);
        const char *mj = sv->metrics_json ? sv->metrics_json : "";
        MDB_val k = key_of(kb, "step/%020" PRIu64 "/manifest", sv->step), v = {len, NULL};
        uint8_t sum[16];
        if ((mrc = mdb_put(txn, s->dbi, &k, &v, MDB_RESERVE))) goto lmdb;
        agentflow__checkpoint_manifest__pack(man, v.mv_data);
        af_ckpt_value_sums(v.mv_data, len, mj, strlen(mj), sum);
        k = key_of(kb, "step/%020" PRIu64 "/metrics", sv->step);
        v.mv_size = strlen(mj);
        v.mv_data = (void *)mj;
        if ((mrc = mdb_put(txn, s->dbi, &k, &v, 0))) goto lmdb;
        k = key_of(kb, "step/%020" PRIu64 "/sum", sv->step);
        v.mv_size = sizeof sum;
        v.mv_data = sum;
        if ((mrc = mdb_put(txn, s->dbi, &k, &v, 0))) goto lmdb;
    }
    {
        uint8_t b[8];
        for (int i = 0; i < 8; i++) b[i] = (uint8_t)(sv->step >> (8 * i));
        MDB_val k = {strlen(LATEST_KEY), LATEST_KEY}, v = {8, b};
        if ((mrc = mdb_put(txn, s->dbi, &k, &v, 0))) goto lmdb;
    }
    /* keep the last K: the new step plus the K-1 newest older ones */
    {
        int older = 0;
        for (int i = 0; i < n_steps; i++)
            if (steps[i] < sv->step) older++;
        int drop = older - (s->opt.keep_last - 1);
        for (int i = 0; i < n_steps && drop > 0; i++) {
            if (steps[i] >= sv->step) continue;
            key_of(kb, "step/%020" PRIu64 "/", steps[i]);
            if ((rc = delete_prefix(s, txn, kb))) goto fail;
            drop--;
        }
    }
    what = "commit checkpoint";
    mrc = mdb_txn_commit(txn);
    txn = NULL;
    if (mrc) goto lmdb;
    s->checked_txnid = txnid; /* LMDB wrote it from a checked snapshot */
    if (sv->ref_params) s->ref_checked = 1;
    goto done;
lmdb:
    if (mrc == MDB_MAP_FULL) *map_full = 1;
    rc = af_ckpt_lmdb_fail(s, mrc, what);
    goto fail;
fail:
done:
    if (txn) mdb_txn_abort(txn);
    if (ref_man) agentflow__checkpoint_manifest__free_unpacked(ref_man, NULL);
    af_ckpt_manifest_buf_free(&mb);
    free(sums);
    free(steps);
    return rc;
}

static int save_store(AfCkptStore *s, const AfCkptSave *sv) {
    int rc = check_save_args(s, sv);
    if (rc) return rc;
    size_t tensor_bytes = 0;
    for (int i = 0; i < sv->n_tensors; i++) tensor_bytes += sv->tensors[i].numel * sizeof(float);
    size_t one = ckpt_footprint(sv, tensor_bytes);
    size_t ref = sv->ref_params ? 2 * (tensor_bytes + (size_t)sv->n_tensors * 8192) : 0; /* two copies */
    if (s->opt.map_size == 0) {
        size_t need = (size_t)(s->opt.keep_last + 2) * one + ref + AUTO_MAP_MIN;
        if (need > s->map_size && (rc = set_map_size(s, need))) return rc;
    }
    int map_full = 0;
    rc = save_once(s, sv, &map_full);
    if (rc && map_full && s->opt.map_size == 0) { /* fragmentation or pinned pages: grow, retry */
        if ((rc = set_map_size(s, s->map_size * 2))) return rc;
        rc = save_once(s, sv, &map_full);
    }
    if (rc && map_full)
        return af_error_set(AF_EFULL,
                            "%s: the LMDB map (%zu MiB) is full writing checkpoint step %" PRIu64
                            " (%.2f MiB of tensors each, %d kept): raise the map size "
                            "(0 = automatic sizing); the previous checkpoint is intact",
                            s->dir, s->map_size / MIB, sv->step, 3.0 * (double)tensor_bytes / (double)MIB,
                            s->opt.keep_last);
    if (rc == AF_EFULL || rc == AF_EIO || rc == AF_ELMDB)
        return af_error_wrap(rc, "checkpoint step %" PRIu64 " not written, the previous checkpoint is intact",
                             sv->step);
    return rc;
}

int af_ckpt_save(AfCkptStore *s, const AfCkptSave *sv) {
    int rc = save_store(s, sv);
    if (rc == 0 && s->copy_dir[0] && (rc = af_ckpt_publish_copy(s)))
        rc = af_error_wrap(rc, "checkpoint step %" PRIu64 " is in %s but not copied to %s", sv->step, s->dir,
                           s->copy_dir);
    return rc;
}

/* ------------------------------------------------------------------ read paths */

void af_ckpt_meta_clear(AfCkptMeta *m) {
    if (!m) return;
    free(m->config_json);
    free(m->metrics_json);
    free(m->version);
    free(m->counters);
    free(m->rng);
    memset(m, 0, sizeof *m);
}

static char *dup_n(const char *p, size_t n) {
    char *r = malloc(n + 1);
    if (!r) return NULL;
    if (n) memcpy(r, p, n);
    r[n] = 0;
    return r;
}

static int fill_meta(AfCkptStore *s, MDB_txn *txn, const Agentflow__CheckpointManifest *man, AfCkptMeta *meta) {
    memset(meta, 0, sizeof *meta);
    meta->step = man->step;
    meta->policy_version = man->policy_version;
    meta->adam_step = man->adam_step;
    meta->data_position = man->data_position;
    af_ckpt_shape_from_pb(man->shape, &meta->shape);
    meta->n_params = (size_t)man->param_count;
    meta->n_tensors = (int)man->n_tensors;
    meta->has_ref = man->has_ref;
    meta->unix_time = man->unix_time;
    for (size_t i = 0; i < man->n_tensors; i++) {
        const Agentflow__TensorEntry *e = man->tensors[i];
        size_t numel = 1;
        for (size_t d = 0; d < e->n_shape; d++) numel *= (size_t)e->shape[d];
        meta->bytes += 3 * numel * sizeof(float);
    }
    const char *cj = man->config_json ? man->config_json : "";
    const char *vs = man->agentflow_version ? man->agentflow_version : "";
    meta->config_json = dup_n(cj, strlen(cj));
    meta->version = dup_n(vs, strlen(vs));
    char kb[KEY_MAX];
    MDB_val k = key_of(kb, "step/%020" PRIu64 "/metrics", man->step), v = {0, ""};
    if (mdb_get(txn, s->dbi, &k, &v)) v.mv_size = 0;
    meta->metrics_json = dup_n(v.mv_data, v.mv_size);
    meta->counters = calloc(man->n_counters + 1, sizeof *meta->counters);
    meta->rng = calloc(man->n_rng + 1, sizeof *meta->rng);
    if (!meta->config_json || !meta->version || !meta->metrics_json || !meta->counters || !meta->rng) {
        af_ckpt_meta_clear(meta);
        return af_error_set(AF_ENOMEM, "checkpoint: out of memory");
    }
    for (size_t i = 0; i < man->n_counters; i++) {
        snprintf(meta->counters[i].name, AF_CKPT_NAME_MAX, "%s", man->counters[i]->name ? man->counters[i]->name : "");
        meta->counters[i].value = man->counters[i]->value;
    }
    meta->n_counters = (int)man->n_counters;
    for (size_t i = 0; i < man->n_rng; i++) {
        snprintf(meta->rng[i].name, AF_CKPT_NAME_MAX, "%s", man->rng[i]->name ? man->rng[i]->name : "");
        meta->rng[i].position = man->rng[i]->position;
    }
    meta->n_rng = (int)man->n_rng;
    return 0;
}

/* Read, check and optionally copy one tensor value. */
static int check_tensor(AfCkptStore *s, MDB_txn *txn, uint64_t step, int kind,
                        const Agentflow__TensorEntry *e, float *dst, size_t *bytes_out);

/* One stored copy of a tensor (kind REF_COPY2: the reference's second copy). */
static int check_copy(AfCkptStore *s, MDB_txn *txn, uint64_t step, int kind, const Agentflow__TensorEntry *e,
                      float *dst, size_t *bytes_out) {
    char kb[KEY_MAX];
    MDB_val k = tensor_key(kb, step, kind, e->name), v;
    if (kind == REF_COPY2) kind = AF_CKPT_REF;
    size_t want = af_ckpt_entry_numel(e) * sizeof(float);
    int mrc = mdb_get(txn, s->dbi, &k, &v);
    if (mrc == MDB_NOTFOUND)
        return af_error_set(AF_ENOTFOUND, "%s: checkpoint step %" PRIu64 ": tensor %s (%s): key missing",
                            s->dir, step, e->name, af_ckpt_kind_name[kind]);
    if (mrc) return af_ckpt_lmdb_fail(s, mrc, "read tensor");
    if (v.mv_size != want)
        return af_error_set(AF_EFORMAT, "%s: checkpoint step %" PRIu64 ": tensor %s (%s): %zu bytes stored, %zu expected",
                            s->dir, step, e->name, af_ckpt_kind_name[kind], v.mv_size, want);
    uint64_t h = hash_copy(dst, v.mv_data, want);
    if (h != af_ckpt_entry_sum(e, kind))
        return af_error_set(AF_ECHECKSUM,
                            "%s: checkpoint step %" PRIu64 ": tensor %s (%s): checksum mismatch "
                            "(stored data %016" PRIx64 ", manifest %016" PRIx64 ")",
                            s->dir, step, e->name, af_ckpt_kind_name[kind], h, af_ckpt_entry_sum(e, kind));
    if (bytes_out) *bytes_out += want;
    return 0;
}

/* Read, check and optionally copy one tensor value; the reference falls back to its
 * second copy (stores written before it existed have none: the first copy's error). */
static int check_tensor(AfCkptStore *s, MDB_txn *txn, uint64_t step, int kind,
                        const Agentflow__TensorEntry *e, float *dst, size_t *bytes_out) {
    int rc = check_copy(s, txn, step, kind, e, dst, bytes_out);
    if (rc == 0 || kind != AF_CKPT_REF || rc == AF_ENOMEM || rc == AF_ELMDB) return rc;
    char keep[512];
    snprintf(keep, sizeof keep, "%s", af_error_detail());
    int rc2 = check_copy(s, txn, step, REF_COPY2, e, dst, bytes_out);
    if (rc2 == 0) return 0;
    return af_error_set(rc, "%s", keep);
}

/* The reference manifest must describe the same tensors and checksums as the step's. */
static int check_ref_manifest(AfCkptStore *s, MDB_txn *txn, uint64_t step, const Agentflow__CheckpointManifest *man) {
    Agentflow__CheckpointManifest *rm = NULL;
    int rc = get_ref_manifest(s, txn, &rm);
    /* a damaged or lost reference manifest: the step's own manifest has the reference's
     * names and checksums, and the tensors are checked against those */
    if (rc == AF_ECHECKSUM || rc == AF_EFORMAT || rc == AF_ENOTFOUND) return 0;
    if (rc) return af_error_wrap(rc, "checkpoint step %" PRIu64 " refers to a reference planner", step);
    if (rm->n_tensors != man->n_tensors || rm->param_count != man->param_count) rc = -1;
    for (size_t i = 0; rc == 0 && i < man->n_tensors; i++)
        if (strcmp(rm->tensors[i]->name, man->tensors[i]->name) != 0 ||
            rm->tensors[i]->checksum != man->tensors[i]->ref_checksum)
            rc = -1;
    agentflow__checkpoint_manifest__free_unpacked(rm, NULL);
    if (rc)
        return af_error_set(AF_ECHECKSUM, "%s: checkpoint step %" PRIu64 ": reference manifest does not match the step's",
                            s->dir, step);
    return 0;
}

static int resolve_step(AfCkptStore *s, MDB_txn *txn, uint64_t *step) {
    if (*step != AF_CKPT_LATEST) return 0;
    return read_latest(s, txn, step);
}

int af_ckpt_latest(AfCkptStore *s, uint64_t *step) {
    MDB_txn *txn = NULL;
    int rc = begin_read(s, &txn);
    if (rc) return rc;
    Agentflow__CheckpointManifest *man = NULL;
    if ((rc = read_latest(s, txn, step)) == 0) {
        rc = get_manifest(s, txn, *step, &man);
        if (rc == AF_ENOTFOUND)
            rc = af_error_set(AF_EFORMAT, "%s: \"latest\" names step %" PRIu64 " which has no manifest", s->dir, *step);
    }
    if (man) agentflow__checkpoint_manifest__free_unpacked(man, NULL);
    mdb_txn_abort(txn);
    return rc;
}

static int verify_in(AfCkptStore *s, MDB_txn *txn, uint64_t step, AfCkptReport *r) {
    Agentflow__CheckpointManifest *man = NULL;
    int rc = get_manifest(s, txn, step, &man);
    if (rc) return rc;
    for (int kind = 0; kind < AF_CKPT_N_KIND && rc == 0; kind++) {
        if (kind == AF_CKPT_REF) {
            if (!man->has_ref) break;
            if ((rc = check_ref_manifest(s, txn, step, man))) break;
        }
        for (size_t i = 0; i < man->n_tensors && rc == 0; i++) {
            rc = check_tensor(s, txn, step, kind, man->tensors[i], NULL, &r->bytes_checked);
            if (rc == 0) r->tensors_checked++;
        }
    }
    agentflow__checkpoint_manifest__free_unpacked(man, NULL);
    return rc;
}

int af_ckpt_verify(AfCkptStore *s, uint64_t step, AfCkptReport *report) {
    AfCkptReport local;
    AfCkptReport *r = report ? report : &local;
    memset(r, 0, sizeof *r);
    MDB_txn *txn = NULL;
    int rc = begin_read(s, &txn);
    if (rc) return rc;
    if ((rc = resolve_step(s, txn, &step)) == 0) {
        r->step = step;
        rc = verify_in(s, txn, step, r);
    }
    mdb_txn_abort(txn);
    if (rc) snprintf(r->message, sizeof r->message, "%s", af_error_detail());
    return rc;
}

int af_ckpt_latest_valid(AfCkptStore *s, uint64_t *step, char *skipped, size_t cap) {
    if (skipped && cap) skipped[0] = 0;
    MDB_txn *txn = NULL;
    uint64_t *steps = NULL;
    int n = 0, rc = begin_read(s, &txn);
    if (rc) return rc;
    if ((rc = list_steps(s, txn, &steps, &n))) goto done;
    /* walk back from `latest` if it is readable, else from the highest step */
    uint64_t latest = UINT64_MAX;
    if (read_latest(s, txn, &latest)) latest = UINT64_MAX;
    rc = AF_ENOTFOUND;
    for (int i = n - 1; i >= 0; i--) {
        if (steps[i] > latest) continue;
        AfCkptReport r;
        memset(&r, 0, sizeof r);
        int vrc = verify_in(s, txn, steps[i], &r);
        if (vrc == 0) {
            *step = steps[i];
            rc = 0;
            break;
        }
        if (vrc == AF_ENOMEM || vrc == AF_ELMDB) {
            rc = vrc;
            goto done;
        }
        if (skipped && cap) {
            size_t used = strlen(skipped);
            if (used + 1 < cap)
                snprintf(skipped + used, cap - used, "step %" PRIu64 ": %s\n", steps[i], af_error_detail());
        }
    }
    if (rc == AF_ENOTFOUND)
        af_error_set(AF_ENOTFOUND, "%s: no checkpoint verifies (%d present)", s->dir, n);
done:
    free(steps);
    mdb_txn_abort(txn);
    return rc;
}

int af_ckpt_load(AfCkptStore *s, uint64_t step, const AfModelConfig *expect, size_t n_params,
                 float *params, float *adam_m, float *adam_v, float *ref, AfCkptMeta *meta) {
    if (meta) memset(meta, 0, sizeof *meta);
    MDB_txn *txn = NULL;
    Agentflow__CheckpointManifest *man = NULL;
    int rc = begin_read(s, &txn);
    if (rc) return rc;
    if ((rc = resolve_step(s, txn, &step))) goto done;
    if ((rc = get_manifest(s, txn, step, &man))) goto done;
    AfModelConfig have;
    af_ckpt_shape_from_pb(man->shape, &have);
    if (expect && (rc = af_ckpt_compare_shape(step, &have, expect))) goto done;
    if ((rc = af_ckpt_manifest_check_table(s->dir, step, man, &have))) goto done;
    if (man->param_count != n_params) {
        rc = af_error_set(AF_EFORMAT, "%s: checkpoint step %" PRIu64 ": %" PRIu64 " parameters, buffers hold %zu",
                          s->dir, step, man->param_count, n_params);
        goto done;
    }
    if (ref && !man->has_ref) {
        rc = af_error_set(AF_ENOTFOUND, "%s: checkpoint step %" PRIu64 ": no reference planner stored", s->dir, step);
        goto done;
    }
    if (ref && (rc = check_ref_manifest(s, txn, step, man))) goto done;
    float *dst[AF_CKPT_N_KIND] = {params, adam_m, adam_v, ref};
    for (int kind = 0; kind < AF_CKPT_N_KIND; kind++) {
        if (!dst[kind]) continue;
        size_t end = 0; /* zero only the alignment padding: the tensors are overwritten */
        for (size_t i = 0; i < man->n_tensors; i++) {
            const Agentflow__TensorEntry *e = man->tensors[i];
            memset(dst[kind] + end, 0, ((size_t)e->offset - end) * sizeof(float));
            if ((rc = check_tensor(s, txn, step, kind, e, dst[kind] + e->offset, NULL))) goto done;
            end = (size_t)e->offset + af_ckpt_entry_numel(e);
        }
        memset(dst[kind] + end, 0, (n_params - end) * sizeof(float));
    }
    if (meta) rc = fill_meta(s, txn, man, meta);
done:
    if (man) agentflow__checkpoint_manifest__free_unpacked(man, NULL);
    mdb_txn_abort(txn);
    return rc;
}

int af_ckpt_list(AfCkptStore *s, AfCkptInfo **out, int *n) {
    *out = NULL;
    *n = 0;
    MDB_txn *txn = NULL;
    uint64_t *steps = NULL;
    int cnt = 0, rc = begin_read(s, &txn);
    if (rc) return rc;
    if ((rc = list_steps(s, txn, &steps, &cnt))) goto done;
    AfCkptInfo *items = calloc((size_t)cnt + 1, sizeof *items);
    if (!items) {
        rc = af_error_set(AF_ENOMEM, "checkpoint list: out of memory");
        goto done;
    }
    for (int i = 0; i < cnt; i++) {
        Agentflow__CheckpointManifest *man = NULL;
        items[i].meta.step = steps[i];
        int mrc = get_manifest(s, txn, steps[i], &man);
        if (mrc == 0) mrc = fill_meta(s, txn, man, &items[i].meta);
        if (man) agentflow__checkpoint_manifest__free_unpacked(man, NULL);
        if (mrc == AF_ENOMEM) {
            af_ckpt_list_free(items, cnt);
            rc = mrc;
            goto done;
        }
        if (mrc) {
            items[i].broken = 1;
            items[i].meta.step = steps[i];
            snprintf(items[i].detail, sizeof items[i].detail, "%s", af_error_detail());
        }
    }
    *out = items;
    *n = cnt;
done:
    free(steps);
    mdb_txn_abort(txn);
    return rc;
}

void af_ckpt_list_free(AfCkptInfo *items, int n) {
    if (!items) return;
    for (int i = 0; i < n; i++) af_ckpt_meta_clear(&items[i].meta);
    free(items);
}

/* model.init_from of a checkpoint's effective config ("" if none). */
static void init_from_of(const char *config_json, char *out, size_t cap) {
    out[0] = 0;
    cJSON *root = config_json ? cJSON_Parse(config_json) : NULL;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(m, "init_from");
    if (cJSON_IsString(f)) snprintf(out, cap, "%s", f->valuestring);
    cJSON_Delete(root);
}

int af_ckpt_export_hf(AfCkptStore *s, uint64_t *step, const char *dir, const AfExportOptions *opt) {
    MDB_txn *txn = NULL;
    Agentflow__CheckpointManifest *man = NULL;
    AfModel *m = NULL;
    int rc = begin_read(s, &txn);
    if (rc) return rc;
    if ((rc = resolve_step(s, txn, step))) goto done;
    if ((rc = get_manifest(s, txn, *step, &man))) goto done;
    AfModelConfig shape;
    af_ckpt_shape_from_pb(man->shape, &shape);
    char src[4096];
    init_from_of(man->config_json, src, sizeof src);
    mdb_txn_abort(txn);
    txn = NULL;
    if ((rc = af_model_create(&shape, 0, 0, 0, &m))) {
        rc = af_error_wrap(AF_EFORMAT, "%s: checkpoint step %" PRIu64 ": shape", s->dir, *step);
        goto done;
    }
    if ((rc = af_ckpt_load(s, *step, &shape, m->n_params, m->params, NULL, NULL, NULL, NULL))) goto done;
    AfExportOptions o = *opt;
    if (!o.source_dir) o.source_dir = src;
    if (!o.source_dir[0]) o.source_dir = NULL; /* none */
    rc = af_model_export_dir(m, dir, &o);
done:
    af_model_destroy(m);
    if (man) agentflow__checkpoint_manifest__free_unpacked(man, NULL);
    if (txn) mdb_txn_abort(txn);
    return rc;
}
