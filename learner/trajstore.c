/* Trajectory store RUN_DIR/traj.lmdb: packed trajectories keyed by (iteration, query,
 * sample), one write transaction per batch (learner/trajstore.h). */
#include "learner/trajstore.h"

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/error.h"
#include "common/fsutil.h"

#define MIB ((size_t)1 << 20)
#define INITIAL_MAP ((size_t)64 << 20)

struct AfTrajStore {
    MDB_env *env;
    MDB_dbi dbi;
    int read_only;
    size_t map_size;
    char dir[4096];
};

static int lmdb_fail(const AfTrajStore *t, int mrc, const char *what) {
    if (mrc == ENOSPC || mrc == EDQUOT)
        return af_error_set(AF_EFULL, "%s: %s: no space left on the device", t->dir, what);
    if (mrc == MDB_MAP_FULL)
        return af_error_set(AF_EFULL, "%s: %s: map of %zu MiB full", t->dir, what, t->map_size / MIB);
    if (mrc == MDB_INVALID || mrc == MDB_CORRUPTED || mrc == MDB_PAGE_NOTFOUND || mrc == MDB_VERSION_MISMATCH)
        return af_error_set(AF_EFORMAT, "%s: %s: %s", t->dir, what, mdb_strerror(mrc));
    return af_error_set(AF_ELMDB, "%s: %s: %s", t->dir, what, mdb_strerror(mrc));
}

static void make_key(uint8_t k[12], uint32_t it, uint32_t q, uint32_t s) {
    uint32_t v[3] = {it, q, s};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) k[4 * i + j] = (uint8_t)(v[i] >> (24 - 8 * j));
}

/* Same truncation check as the checkpoint store: pages of the last transaction must lie
 * inside the file (a read past its end through the map would be a SIGBUS). */
static int probe(const AfTrajStore *t, const char *data_path) {
    struct stat st;
    if (stat(data_path, &st) != 0) return 0;
    MDB_env *env = NULL;
    int rc = 0, mrc = mdb_env_create(&env);
    if (mrc) return lmdb_fail(t, mrc, "create environment");
    if ((mrc = mdb_env_open(env, t->dir, MDB_RDONLY | MDB_NOLOCK | MDB_NOTLS, 0644))) {
        rc = af_error_set(AF_EFORMAT, "%s: data.mdb is not a readable LMDB file: %s", t->dir, mdb_strerror(mrc));
    } else {
        MDB_envinfo info;
        MDB_stat ms;
        mdb_env_info(env, &info);
        mdb_env_stat(env, &ms);
        unsigned long long need = ((unsigned long long)info.me_last_pgno + 1) * ms.ms_psize;
        if ((unsigned long long)st.st_size < need)
            rc = af_error_set(AF_EFORMAT, "%s: data.mdb is truncated: %lld bytes, %llu used", t->dir,
                              (long long)st.st_size, need);
    }
    mdb_env_close(env);
    return rc;
}

int af_trajstore_open(const char *run_dir, int shard, int read_only, int durable, AfTrajStore **out) {
    *out = NULL;
    if (!run_dir || !*run_dir) return af_error_set(AF_EINVAL, "trajectory store: no run directory");
    if (shard < 0) return af_error_set(AF_EINVAL, "trajectory store: shard %d", shard);
    AfTrajStore *t = calloc(1, sizeof *t);
    if (!t) return af_error_set(AF_ENOMEM, "trajectory store: out of memory");
    int rc = 0, mrc;
    MDB_txn *txn = NULL;
    char data_path[4200];
    t->read_only = read_only;
    int n = shard == 0 ? snprintf(t->dir, sizeof t->dir, "%s/traj.lmdb", run_dir)
                       : snprintf(t->dir, sizeof t->dir, "%s/traj.%d.lmdb", run_dir, shard);
    if (n >= (int)sizeof t->dir) {
        rc = af_error_set(AF_EINVAL, "trajectory store: path too long");
        goto fail;
    }
    snprintf(data_path, sizeof data_path, "%s/data.mdb", t->dir);
    struct stat st;
    int exists = stat(data_path, &st) == 0;
    if (read_only && !exists) {
        rc = af_error_set(AF_ENOTFOUND, "%s: no trajectory store", t->dir);
        goto fail;
    }
    if (!read_only && (rc = af_mkdir_p(t->dir))) goto fail;
    if ((rc = probe(t, data_path))) goto fail;
    if ((mrc = mdb_env_create(&t->env))) goto lmdb;
    size_t want = exists && (size_t)st.st_size > INITIAL_MAP ? (size_t)st.st_size : INITIAL_MAP;
    if ((mrc = mdb_env_set_mapsize(t->env, (want + MIB - 1) / MIB * MIB))) goto lmdb;
    unsigned flags = MDB_NOTLS | (read_only ? MDB_RDONLY : (durable ? 0 : MDB_NOSYNC));
    if ((mrc = mdb_env_open(t->env, t->dir, flags, 0644))) goto lmdb;
    MDB_envinfo info;
    mdb_env_info(t->env, &info);
    t->map_size = info.me_mapsize;
    if ((mrc = mdb_txn_begin(t->env, NULL, read_only ? MDB_RDONLY : 0, &txn))) goto lmdb;
    if ((mrc = mdb_dbi_open(txn, NULL, 0, &t->dbi))) goto lmdb;
    mrc = read_only ? (mdb_txn_abort(txn), 0) : mdb_txn_commit(txn);
    txn = NULL;
    if (mrc) goto lmdb;
    *out = t;
    return 0;
lmdb:
    rc = lmdb_fail(t, mrc, "open");
fail:
    if (txn) mdb_txn_abort(txn);
    af_trajstore_close(t);
    return rc;
}

void af_trajstore_close(AfTrajStore *t) {
    if (!t) return;
    if (t->env) mdb_env_close(t->env);
    free(t);
}

static int put_once(AfTrajStore *t, const AfTrajRecord *recs, int n) {
    MDB_txn *txn = NULL;
    int mrc = mdb_txn_begin(t->env, NULL, 0, &txn);
    if (mrc) return mrc;
    for (int i = 0; i < n && mrc == 0; i++) {
        uint8_t kb[12];
        make_key(kb, recs[i].iteration, recs[i].query_index, recs[i].sample);
        MDB_val k = {12, kb}, v = {recs[i].len, (void *)recs[i].bytes};
        mrc = mdb_put(txn, t->dbi, &k, &v, 0);
    }
    if (mrc) {
        mdb_txn_abort(txn);
        return mrc;
    }
    return mdb_txn_commit(txn);
}

int af_trajstore_put_batch(AfTrajStore *t, const AfTrajRecord *recs, int n) {
    if (t->read_only) return af_error_set(AF_ESTATE, "%s: opened read-only", t->dir);
    if (n < 0 || (n > 0 && !recs)) return af_error_set(AF_EINVAL, "trajectory store: bad batch");
    for (int i = 0; i < n; i++)
        if (!recs[i].bytes || recs[i].len == 0)
            return af_error_set(AF_EINVAL, "trajectory store: record %d (%u:%u:%u) is empty", i,
                                recs[i].iteration, recs[i].query_index, recs[i].sample);
    for (int attempt = 0;; attempt++) {
        int mrc = put_once(t, recs, n);
        if (mrc == 0) return 0;
        if (mrc != MDB_MAP_FULL || attempt >= 8) return lmdb_fail(t, mrc, "write trajectories");
        size_t bigger = t->map_size * 2;
        if ((mrc = mdb_env_set_mapsize(t->env, bigger))) return lmdb_fail(t, mrc, "grow map");
        MDB_envinfo info;
        mdb_env_info(t->env, &info);
        t->map_size = info.me_mapsize;
    }
}

int af_trajstore_put(AfTrajStore *t, uint32_t iteration, uint32_t query_index, uint32_t sample,
                     const void *bytes, size_t len) {
    AfTrajRecord r = {iteration, query_index, sample, bytes, len};
    return af_trajstore_put_batch(t, &r, 1);
}

static int begin_read(AfTrajStore *t, MDB_txn **txn) {
    int mrc = mdb_txn_begin(t->env, NULL, MDB_RDONLY, txn);
    if (mrc == MDB_MAP_RESIZED && (mrc = mdb_env_set_mapsize(t->env, 0)) == 0)
        mrc = mdb_txn_begin(t->env, NULL, MDB_RDONLY, txn);
    return mrc ? lmdb_fail(t, mrc, "begin read") : 0;
}

int af_trajstore_get(AfTrajStore *t, uint32_t iteration, uint32_t query_index, uint32_t sample,
                     void **bytes, size_t *len) {
    *bytes = NULL;
    *len = 0;
    MDB_txn *txn = NULL;
    int rc = begin_read(t, &txn);
    if (rc) return rc;
    uint8_t kb[12];
    make_key(kb, iteration, query_index, sample);
    MDB_val k = {12, kb}, v;
    int mrc = mdb_get(txn, t->dbi, &k, &v);
    if (mrc == MDB_NOTFOUND)
        rc = af_error_set(AF_ENOTFOUND, "%s: no trajectory %u:%u:%u", t->dir, iteration, query_index, sample);
    else if (mrc)
        rc = lmdb_fail(t, mrc, "read trajectory");
    else if (!(*bytes = malloc(v.mv_size ? v.mv_size : 1)))
        rc = af_error_set(AF_ENOMEM, "trajectory store: out of memory");
    else {
        memcpy(*bytes, v.mv_data, v.mv_size);
        *len = v.mv_size;
    }
    mdb_txn_abort(txn);
    return rc;
}

int af_trajstore_count(AfTrajStore *t, size_t *n) {
    MDB_txn *txn = NULL;
    int rc = begin_read(t, &txn);
    if (rc) return rc;
    MDB_stat ms;
    int mrc = mdb_stat(txn, t->dbi, &ms);
    mdb_txn_abort(txn);
    if (mrc) return lmdb_fail(t, mrc, "stat");
    *n = ms.ms_entries;
    return 0;
}

int af_trajstore_queries(AfTrajStore *t, uint32_t iteration, uint32_t *out, int cap, int *n) {
    *n = 0;
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    int rc = begin_read(t, &txn);
    if (rc) return rc;
    int mrc = mdb_cursor_open(txn, t->dbi, &cur);
    uint8_t kb[12];
    make_key(kb, iteration, 0, 0);
    MDB_val k = {12, kb}, v;
    int64_t last = -1;
    for (mrc = mrc ? mrc : mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); mrc == 0;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const uint8_t *b = k.mv_data;
        if (k.mv_size != 12) continue;
        uint32_t it = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
        uint32_t q = (uint32_t)b[4] << 24 | (uint32_t)b[5] << 16 | (uint32_t)b[6] << 8 | b[7];
        if (it != iteration) break;
        if ((int64_t)q == last) continue;
        if (*n < cap) out[*n] = q;
        (*n)++;
        last = q;
    }
    if (mrc && mrc != MDB_NOTFOUND) rc = lmdb_fail(t, mrc, "list queries");
    if (cur) mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return rc;
}

int af_trajstore_find(const char *run_dir, uint32_t iteration, uint32_t query_index, uint32_t sample,
                      void **bytes, size_t *len) {
    *bytes = NULL;
    *len = 0;
    enum { CAP = 32 };
    uint32_t qs[CAP], all[CAP];
    int n_all = 0, more = 0, shard = 0;
    for (;; shard++) {
        AfTrajStore *t = NULL;
        int rc = af_trajstore_open(run_dir, shard, 1, 0, &t);
        if (rc == AF_ENOTFOUND) break;
        if (rc) return rc;
        rc = af_trajstore_get(t, iteration, query_index, sample, bytes, len);
        int nq = 0;
        if (rc == AF_ENOTFOUND && af_trajstore_queries(t, iteration, qs, CAP, &nq) == 0) {
            for (int i = 0; i < nq && i < CAP; i++)
                if (n_all < CAP) all[n_all++] = qs[i];
                else more = 1;
            if (nq > CAP) more = 1;
        }
        af_trajstore_close(t);
        if (rc != AF_ENOTFOUND) return rc;
    }
    if (shard == 0) return af_error_set(AF_ENOTFOUND, "%s: no trajectory store (run.store_trajectories was off?)", run_dir);
    char list[400] = "";
    size_t used = 0;
    for (int i = 0; i < n_all && used + 16 < sizeof list; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%u", i ? " " : "", all[i]);
    return af_error_set(AF_ENOTFOUND, "%s: no trajectory %u:%u:%u in its %d trajectory store shard(s); iteration %u %s%s%s",
                        run_dir, iteration, query_index, sample, shard, iteration,
                        n_all ? "has queries: " : "has none stored", list, more ? " ..." : "");
}
