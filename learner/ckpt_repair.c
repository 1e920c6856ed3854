/* The checkpoint store's defences (learner/ckpt_internal.h): the structural check before
 * LMDB opens a store, the rebuild of a damaged one (moved aside, never deleted), and the
 * node-local store of run.checkpoint_dir with its copy in the run directory. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "learner/ckpt_internal.h"
#include "learner/lmdb_check.h"

/* ------------------------------------------------------------------ rebuild */

/* The rebuild of a damaged store: every pair salvaged goes into a fresh environment. */
typedef struct Rebuild {
    MDB_txn *txn;
    MDB_dbi dbi;
    int mrc;
} Rebuild;

static int rebuild_put(const void *key, size_t kl, const void *val, size_t vl, void *ctx) {
    Rebuild *b = ctx;
    /* a damaged "format" value is not carried over: the next save writes it */
    if (kl == strlen(FORMAT_KEY) && memcmp(key, FORMAT_KEY, kl) == 0 &&
        (vl != strlen(FORMAT_VALUE) || memcmp(val, FORMAT_VALUE, vl) != 0))
        return 0;
    MDB_val k = {kl, (void *)key}, v = {vl, (void *)val};
    int mrc = mdb_put(b->txn, b->dbi, &k, &v, MDB_NOOVERWRITE); /* the newest snapshot's copy wins */
    if (mrc == 0 || mrc == MDB_KEYEXIST) return 0;
    b->mrc = mrc;
    return AF_ELMDB;
}

/* Write into the (existing, empty) directory `dst` a fresh store holding what the
 * damaged data file `src_data` still holds. */
static int rebuild_into(const AfCkptStore *s, const char *dst, const char *src_data, AfLmdbSalvage *sr) {
    struct stat st;
    MDB_env *env = NULL;
    Rebuild b = {0};
    int rc = 0, mrc;
    size_t map = stat(src_data, &st) == 0 ? (size_t)st.st_size : 0;
    map = (map + map / 4 + AUTO_MAP_MIN + MIB - 1) / MIB * MIB; /* B-tree pages may pack differently */
    memset(sr, 0, sizeof *sr);
    if ((mrc = mdb_env_create(&env)) || (mrc = mdb_env_set_mapsize(env, map)) ||
        (mrc = mdb_env_open(env, dst, MDB_NOTLS, 0644)) || (mrc = mdb_txn_begin(env, NULL, 0, &b.txn)) ||
        (mrc = mdb_dbi_open(b.txn, NULL, 0, &b.dbi))) {
        rc = af_error_set(AF_ELMDB, "%s: rebuilding the checkpoint store: %s", dst, mdb_strerror(mrc));
        goto done;
    }
    rc = af_lmdb_salvage(src_data, rebuild_put, &b, sr);
    if (rc == AF_ELMDB && b.mrc) rc = af_ckpt_lmdb_fail(s, b.mrc, "rebuild the store");
    if (rc == AF_EFORMAT || rc == AF_ENOTFOUND) rc = 0; /* nothing readable: an empty store */
    if (rc == 0) {
        mrc = mdb_txn_commit(b.txn);
        b.txn = NULL;
        if (mrc) rc = af_ckpt_lmdb_fail(s, mrc, "commit the rebuilt store");
    }
done:
    if (b.txn) mdb_txn_abort(b.txn);
    mdb_env_close(env);
    return rc;
}

/* The store at s->dir is damaged (`why`). Read-write: move it aside (never deleted) and
 * rebuild s->dir from it. Read-only: rebuild a temporary copy in TMPDIR and open that,
 * leaving the run directory untouched. Either way s->damage says what happened. */
int af_ckpt_repair(AfCkptStore *s, const char *why) {
    AfLmdbSalvage sr;
    char src[4400];
    int rc;
    if (s->opt.read_only) {
        const char *tmp = getenv("TMPDIR");
        if (snprintf(s->env_dir, sizeof s->env_dir, "%s/agentflow-salvage-XXXXXX", tmp && *tmp ? tmp : "/tmp") >=
                (int)sizeof s->env_dir ||
            !mkdtemp(s->env_dir))
            return af_error_set(AF_EIO, "%s: store damaged (%s), and no temporary directory for a salvaged copy: %s",
                                s->dir, why, strerror(errno));
        s->tmp_copy = 1;
        snprintf(src, sizeof src, "%s/data.mdb", s->dir);
        if ((rc = rebuild_into(s, s->env_dir, src, &sr))) return rc;
        snprintf(s->damage, sizeof s->damage,
                 "%.400s: store damaged: %.300s; shown: the %" PRIu64 " key(s) that could be salvaged (a read-write open, "
                 "e.g. `agentflow train --resume=latest-valid`, moves the store aside and rebuilds it)",
                 s->dir, why, sr.pairs);
    } else {
        char aside[4200];
        if ((rc = af_ckpt_move_aside(s->dir, ".damaged", aside, sizeof aside)))
            return af_error_wrap(rc, "%s: store damaged (%s), and moving it aside failed", s->dir, why);
        if ((rc = af_mkdir_p(s->dir))) return rc;
        snprintf(src, sizeof src, "%s/data.mdb", aside);
        if ((rc = rebuild_into(s, s->dir, src, &sr)))
            return af_error_wrap(rc, "%s: store damaged (%s), moved to %s; rebuilding failed", s->dir, why, aside);
        snprintf(s->damage, sizeof s->damage,
                 "%.300s: store damaged: %.300s; moved to %.320s (kept) and rebuilt from the %" PRIu64
                 " key(s) it still held (checkpoints are checked as they are read)",
                 s->dir, why, aside, sr.pairs);
        af_log(AF_LOG_WARN, "%s", s->damage);
    }
    snprintf(s->data_path, sizeof s->data_path, "%s/data.mdb", s->env_dir);
    s->checked_txnid = 0;
    return 0;
}

/* Is the store's data file sound (as far as LMDB's structure goes)? A read-only open
 * may race a writer's commits: a failed check is repeated once. */
int af_ckpt_check_at_open(AfCkptStore *s, char *why, size_t cap) {
    AfLmdbCheck r;
    uint64_t seen = UINT64_MAX;
    for (int attempt = 0; attempt < 4; attempt++) {
        int rc = af_lmdb_check(s->data_path, 0, &r);
        if (rc == 0) {
            s->checked_txnid = r.txnid;
            return 0;
        }
        if (rc != AF_EFORMAT) return rc;
        snprintf(why, cap, "%s", r.message);
        /* the same snapshot failing twice is damage; a new one means a writer committed
         * during the check (a read-only open beside a running training): check again */
        if (s->opt.read_only == 0 || r.txnid == seen) break;
        seen = r.txnid;
    }
    return AF_EFORMAT;
}


/* A "format" value one or two bit flips away from ours is damage, not another format. */
int af_ckpt_format_damaged(const MDB_val *v) {
    if (v->mv_size != strlen(FORMAT_VALUE)) return 0;
    int bits = 0;
    for (size_t i = 0; i < v->mv_size; i++)
        bits += __builtin_popcount((unsigned)(((const uint8_t *)v->mv_data)[i] ^ (uint8_t)FORMAT_VALUE[i]));
    return bits > 0 && bits <= 2;
}


/* ------------------------------------------------------------------ node-local store */

static int fsync_path(const char *path, int dir) {
    int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDWR) | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static int copy_file(const char *src, const char *dst) {
    int in = open(src, O_RDONLY | O_CLOEXEC), out = -1, rc = 0;
    char buf[1 << 16];
    if (in < 0) return af_error_set(AF_EIO, "%s: %s", src, strerror(errno));
    if ((out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
        rc = af_error_set(AF_EIO, "%s: %s", dst, strerror(errno));
        goto done;
    }
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n == 0) break;
        if (n < 0 || write(out, buf, (size_t)n) != n) {
            rc = af_error_set(errno == ENOSPC ? AF_EFULL : AF_EIO, "copying %s to %s: %s", src, dst, strerror(errno));
            goto done;
        }
    }
    if (fsync(out) != 0) rc = af_error_set(AF_EIO, "%s: fsync: %s", dst, strerror(errno));
done:
    if (in >= 0) close(in);
    if (out >= 0) close(out);
    return rc;
}

/* Rename `dir` to dir<tag>-<UTC time>[-N]; the new name goes to `to`. */
int af_ckpt_move_aside(const char *dir, const char *tag, char *to, size_t cap) {
    char when[32];
    time_t now = time(NULL);
    struct tm tmv;
    struct stat st;
    gmtime_r(&now, &tmv);
    strftime(when, sizeof when, "%Y%m%dT%H%M%SZ", &tmv);
    snprintf(to, cap, "%s%s-%s", dir, tag, when);
    for (int i = 2; stat(to, &st) == 0 && i < 1000; i++) snprintf(to, cap, "%s%s-%s-%d", dir, tag, when, i);
    if (rename(dir, to) != 0) return af_error_set(AF_EIO, "moving %s to %s: %s", dir, to, strerror(errno));
    return 0;
}

/* local_dir mode, at open: the local store starts as a copy of RUN_DIR's. */
int af_ckpt_seed_local(AfCkptStore *s) {
    char src[4200], dst[4200], aside[4300];
    struct stat st;
    snprintf(src, sizeof src, "%s/data.mdb", s->copy_dir);
    int have_copy = stat(src, &st) == 0, have_local = stat(s->dir, &st) == 0;
    int rc;
    if (have_local) {
        if (!have_copy) { /* not this run's: keep it, out of the way */
            if ((rc = af_ckpt_move_aside(s->dir, ".stale", aside, sizeof aside))) return rc;
            af_log(AF_LOG_WARN, "%s holds a store that %s has no copy of: moved to %s", s->dir, s->copy_dir, aside);
        } else { /* a cache of RUN_DIR's copy: replaced by it */
            snprintf(dst, sizeof dst, "%s/data.mdb", s->dir);
            unlink(dst);
            snprintf(dst, sizeof dst, "%s/lock.mdb", s->dir);
            unlink(dst);
        }
    }
    if ((rc = af_mkdir_p(s->dir))) return rc;
    if (!have_copy) return 0;
    snprintf(dst, sizeof dst, "%s/data.mdb", s->dir);
    return copy_file(src, dst);
}

/* local_dir mode, after a save: a compacted copy of the store replaces RUN_DIR's, via a
 * temporary directory beside it and a rename (readers see the old or the new file). */
int af_ckpt_publish_copy(AfCkptStore *s) {
    char tmp[4200], tmp_data[4300], dst[4300];
    snprintf(tmp, sizeof tmp, "%s.copy-tmp", s->copy_dir);
    snprintf(tmp_data, sizeof tmp_data, "%s/data.mdb", tmp);
    snprintf(dst, sizeof dst, "%s/data.mdb", s->copy_dir);
    unlink(tmp_data); /* a leftover of an interrupted copy */
    int rc = af_mkdir_p(tmp);
    if (rc == 0) rc = af_mkdir_p(s->copy_dir);
    if (rc) return rc;
    int mrc = mdb_env_copy2(s->env, tmp, MDB_CP_COMPACT);
    if (mrc) return af_ckpt_lmdb_fail(s, mrc, "copy the store to the run directory");
    if (fsync_path(tmp_data, 0) != 0 || rename(tmp_data, dst) != 0 || fsync_path(s->copy_dir, 1) != 0)
        return af_error_set(errno == ENOSPC ? AF_EFULL : AF_EIO, "%s: publishing the checkpoint copy: %s", dst,
                            strerror(errno));
    rmdir(tmp);
    return 0;
}
