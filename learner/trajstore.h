/* Optional trajectory store RUN_DIR/traj.lmdb (run.store_trajectories, issue 6): every
 * trajectory of a run kept as its packed Trajectory protobuf, for `agentflow rollout
 * --run-dir R --show ITERATION:QUERY:SAMPLE` and later analysis.
 *
 * Shards: each learner stores the groups it owns (slot mod topology.learners), learner 0
 * in RUN_DIR/traj.lmdb and learner k > 0 in RUN_DIR/traj.<k>.lmdb, so no two processes
 * (possibly on different hosts) ever write one LMDB environment; af_trajstore_find looks
 * a record up across the shards.
 *
 * Layout: one unnamed LMDB database; key = 12 bytes, big-endian u32 iteration, u32 query
 * index, u32 sample index (so byte order is (iteration, query, sample) order); value =
 * the bytes given to put (the caller's packed Trajectory; the store does not decode it).
 * One write transaction per put_batch (one per iteration), committed without fsync of
 * its own (MDB_NOSYNC; the store is a record, not recovery state: a crash can lose the
 * last iterations but never corrupts earlier ones) unless `durable` is set.
 * The map grows automatically (doubled when a batch does not fit). */
#ifndef AF_LEARNER_TRAJSTORE_H
#define AF_LEARNER_TRAJSTORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct AfTrajStore AfTrajStore;

typedef struct AfTrajRecord {
    uint32_t iteration, query_index, sample;
    const void *bytes; /* borrowed for the call */
    size_t len;        /* bytes, >= 1 */
} AfTrajRecord;

/* Open or create shard `shard` (>= 0) of RUN_DIR's store (read_only: must exist).
 * durable: fdatasync each batch. Returns 0; AF_EINVAL; AF_ENOTFOUND (read_only and
 * absent); AF_EFORMAT (not an LMDB file or truncated); AF_ELMDB / AF_EIO (named);
 * AF_ENOMEM. Caller owns *out. */
int af_trajstore_open(const char *run_dir, int shard, int read_only, int durable, AfTrajStore **out);
void af_trajstore_close(AfTrajStore *t);

/* Store n records in one write transaction (all or none; an existing key is replaced).
 * Returns 0; AF_EINVAL (NULL bytes or len 0, record i named); AF_ESTATE (read-only);
 * AF_EFULL (disk full, named); AF_ELMDB. */
int af_trajstore_put_batch(AfTrajStore *t, const AfTrajRecord *recs, int n);

/* One record in its own transaction. Same returns as put_batch. */
int af_trajstore_put(AfTrajStore *t, uint32_t iteration, uint32_t query_index, uint32_t sample,
                     const void *bytes, size_t len);

/* Copy record (iteration, query_index, sample) into a malloc'd buffer *bytes (*len bytes)
 * owned by the caller. Returns 0; AF_ENOTFOUND (named); AF_ELMDB; AF_ENOMEM. */
int af_trajstore_get(AfTrajStore *t, uint32_t iteration, uint32_t query_index, uint32_t sample,
                     void **bytes, size_t *len);

/* The distinct query indices stored for `iteration`, ascending, into out[0..cap); *n
 * receives how many there are (may exceed cap). Returns 0 or AF_ELMDB. */
int af_trajstore_queries(AfTrajStore *t, uint32_t iteration, uint32_t *out, int cap, int *n);

/* Look (iteration, query_index, sample) up in every shard of RUN_DIR (read-only), as
 * af_trajstore_get. Returns 0; AF_ENOTFOUND (no store, or no such record: named, with
 * the query indices stored for that iteration, so the caller can pick one); the open
 * and read errors. */
int af_trajstore_find(const char *run_dir, uint32_t iteration, uint32_t query_index, uint32_t sample,
                      void **bytes, size_t *len);

/* Records stored. Returns 0 or AF_ELMDB. */
int af_trajstore_count(AfTrajStore *t, size_t *n);

#endif
