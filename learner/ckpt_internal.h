/* Internals of the checkpoint store shared by learner/ckpt.c (the store: open, save,
 * read paths) and learner/ckpt_repair.c (its defences: the check at open, the rebuild
 * of a damaged store, the node-local store and its copy in the run directory). Not a
 * public interface: include only from learner/ckpt*.c. */
#ifndef AF_LEARNER_CKPT_INTERNAL_H
#define AF_LEARNER_CKPT_INTERNAL_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#include "learner/ckpt.h"

#define FORMAT_KEY "format"
#define FORMAT_VALUE "agentflow-ckpt 1"
#define LATEST_KEY "latest"
#define FORMAT_PREFIX "agentflow-ckpt "
#define KEY_MAX 256
#define MIB ((size_t)1 << 20)
#define AUTO_MAP_MIN ((size_t)16 << 20)  /* first map of an automatic store, and slack */
#define COPY_CHUNK ((size_t)1 << 18)     /* hash+copy granularity: stays in L2 */


struct AfCkptStore {
    MDB_env *env;
    MDB_dbi dbi;
    AfCkptOptions opt;
    size_t map_size;
    uint64_t checked_txnid;  /* newest snapshot af_lmdb_check found sound (0: none yet) */
    char dir[4096];          /* RUN_DIR/ckpt.lmdb: the store named in messages */
    char env_dir[4096];      /* the LMDB environment open: dir, or a salvaged copy in TMPDIR */
    char data_path[4200];    /* env_dir/data.mdb */
    int tmp_copy;            /* env_dir is a temporary salvaged copy, removed at close */
    char copy_dir[4096];     /* local_dir mode: RUN_DIR/ckpt.lmdb, the copy published after each save */
    int ref_checked;         /* both stored reference copies were checked by a save since open */
    char damage[1400];       /* "" or what was found damaged at open and what was done */
};

/* Translate an LMDB (or errno) code of operation `what` into an AF_E* error naming the
 * store (AF_EFULL for a full map or device, AF_EFORMAT for a damaged store, else
 * AF_ELMDB / AF_EIO). */
int af_ckpt_lmdb_fail(const AfCkptStore *s, int mrc, const char *what);

/* Check snapshot `txnid` (pinned by a transaction of the caller) with af_lmdb_check
 * unless done before. Returns 0; AF_EFORMAT (damaged: named); AF_ENOTFOUND (a writer
 * committed twice since: retry); AF_EIO; AF_ENOMEM. */
int af_ckpt_check_snapshot(AfCkptStore *s, uint64_t txnid);

/* --- learner/ckpt_repair.c --- */

/* Check s->data_path before LMDB opens it (a read-only open is retried while a writer's
 * commits change the snapshot). Returns 0 (sound, s->checked_txnid set), AF_EFORMAT
 * (damaged: `why` says where), AF_EIO, AF_ENOMEM. */
int af_ckpt_check_at_open(AfCkptStore *s, char *why, size_t cap);

/* Repair the damaged store at s->dir (`why`): read-write, move it aside (never deleted)
 * and rebuild s->dir from it; read-only, rebuild a temporary copy in $TMPDIR and point
 * s->env_dir at it. Sets s->damage and s->data_path. Returns 0 or an AF_E* code. */
int af_ckpt_repair(AfCkptStore *s, const char *why);

/* A "format" value one or two bit flips away from ours: damage, not another format. */
int af_ckpt_format_damaged(const MDB_val *v);

/* Rename `dir` to dir<tag>-<UTC time>[-N]; the new name goes to `to`. 0 or AF_EIO. */
int af_ckpt_move_aside(const char *dir, const char *tag, char *to, size_t cap);

/* local_dir mode, at open: seed the local store (s->dir) from the run directory's copy
 * (s->copy_dir), moving aside a local store the run directory has no copy of. */
int af_ckpt_seed_local(AfCkptStore *s);

/* local_dir mode, after a save: a compacted copy of the store replaces
 * s->copy_dir/data.mdb atomically (temporary directory beside it, fsync, rename). */
int af_ckpt_publish_copy(AfCkptStore *s);

#endif
