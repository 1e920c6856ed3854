/* Checkpoints of a training run in RUN_DIR/ckpt.lmdb (docs/design.md §7, issue 6).
 *
 * Each checkpoint is written in ONE LMDB write transaction: parameters, both AdamW
 * moments, a CheckpointManifest (proto/agentflow.proto) and the `latest` pointer commit
 * together or not at all, so a crash, a kill -9 or a full disk at any moment leaves the
 * previous complete checkpoint. Every tensor carries an XXH64 checksum in the manifest
 * and every read path (load, verify, export) checks them.
 *
 * Store layout (one unnamed LMDB database; keys are ASCII, <S> is the step as exactly
 * 20 decimal digits, zero padded, so byte order is numeric order):
 *   "format"                   "agentflow-ckpt 1" (written with the first checkpoint)
 *   "latest"                   8 bytes: step of the newest checkpoint, u64 little-endian
 *   "step/<S>/manifest"        CheckpointManifest, protobuf (packed; fields and checks:
 *                              learner/ckpt_manifest.h)
 *   "step/<S>/metrics"         the last metrics JSON line before this checkpoint (may be "")
 *   "step/<S>/sum"             16 bytes: XXH64 (seed 0) of the manifest value, then of the
 *                              metrics value, each u64 little-endian (stores written before
 *                              this key existed lack it; their manifests are checked for
 *                              consistency only)
 *   "step/<S>/param/<tensor>"  float32 little-endian, row-major, the tensor's numel values
 *   "step/<S>/adam_m/<tensor>" AdamW first moment of that tensor, same layout
 *   "step/<S>/adam_v/<tensor>" AdamW second moment
 *   "ref/manifest"             CheckpointManifest of the frozen reference planner (step 0;
 *                              its TensorEntry.checksum are the reference tensors')
 *   "ref/copy2/<tensor>"       a second copy of each reference tensor, written with the first
 *                              (every checkpoint refers to the one reference, so one damaged
 *                              byte in a single copy would invalidate them all); a read falls
 *                              back to it when the first copy is missing or fails its checksum
 *   "ref/sum"                  8 bytes: XXH64 (seed 0) of the "ref/manifest" value, u64
 *                              little-endian (absent in stores written before it existed)
 *   "ref/param/<tensor>"       reference planner tensors, written once by the first save
 *                              that passes ref_params and rewritten only when a later
 *                              save finds them missing or damaged (a rebuilt store)
 * <tensor> is the Hugging Face name of the model's tensor table (common/model.h). The
 * flat buffers have 16-float alignment padding between tensors: padding is not stored
 * and load() zeroes it. In a step manifest, TensorEntry.checksum/adam_m_checksum/
 * adam_v_checksum/ref_checksum are the XXH64 (seed 0) of each tensor's bytes, and the
 * buffer-level params/adam_m/adam_v/ref_checksum are the XXH64 of the per-tensor
 * checksums (8 bytes little-endian each, in table order).
 *
 * Durability: the write transaction is committed with LMDB's synchronous commit. With
 * MDB_WRITEMAP (the default) the values are copied straight into the memory map and the
 * commit msyncs the data pages, then writes and syncs the meta page, so the new `latest`
 * never reaches the disk before its data (an MDB_NOSYNC commit followed by an explicit
 * mdb_env_sync would not order the two). Without MDB_WRITEMAP LMDB copies every page into
 * malloc'd memory and writes them at commit: about half the speed (bench/bench_ckpt.c).
 * With MDB_WRITEMAP the data file is preallocated (posix_fallocate) up to the map size
 * before a write, so a full disk is an error (AF_EFULL) and never a SIGBUS.
 *
 * Map size: AfCkptOptions.map_size = 0 (the default) sizes the map automatically: before
 * each save it is grown to hold (keep_last + 2) checkpoints of the size being written
 * plus the reference and some slack (the file grows, it never shrinks). A fixed
 * map_size > 0 is used as given (LMDB rounds it up to pages, and up to the pages in use)
 * and never grown: a save that does not fit fails with AF_EFULL.
 *
 * Threads: a store handle is used by one thread at a time (the learner's rank 0).
 * Several processes may open the same store (e.g. `agentflow ckpt list` while a run
 * writes); LMDB serialises writers and readers see the last committed checkpoint. */
#ifndef AF_LEARNER_CKPT_H
#define AF_LEARNER_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "common/model.h"
#include "common/safetensors.h"

/* Pass as `step` to mean the newest checkpoint (the `latest` key). */
#define AF_CKPT_LATEST UINT64_MAX

#define AF_CKPT_NAME_MAX 64

typedef struct AfCkptStore AfCkptStore;

typedef struct AfCkptOptions {
    size_t map_size; /* bytes of the LMDB map; 0 = automatic (grown as saves need) */
    int keep_last;   /* K >= 1: checkpoints kept after each save (run.keep_checkpoints) */
    int read_only;   /* 1: open for list/verify/load/export only; the store must exist */
    int writemap;    /* 1: MDB_WRITEMAP (default, faster durable writes); 0: LMDB default */
    const char *local_dir; /* NULL/"": the store is RUN_DIR/ckpt.lmdb. Else (read-write
                              only; run.checkpoint_dir) the store LMDB writes is
                              LOCAL_DIR/ckpt.lmdb on a node-local disk, and after every
                              save a compacted copy replaces RUN_DIR/ckpt.lmdb/data.mdb
                              atomically (written beside it, fsync'd, renamed), so the run
                              directory may be on NFS/Lustre/GPFS. At open the local store
                              is seeded from RUN_DIR's copy (the truth: it is what a resume
                              on another node finds); a local store without a copy in
                              RUN_DIR is someone else's and is moved aside */
} AfCkptOptions;

/* map_size 0 (automatic), keep_last 3, read_only 0, writemap 1. */
AfCkptOptions af_ckpt_options_default(void);

/* Open (creating RUN_DIR and RUN_DIR/ckpt.lmdb/ unless read_only) the checkpoint store
 * of `run_dir`. `o` may be NULL (defaults).
 *
 * LMDB has no page checksums and crashes on a damaged page, so before LMDB maps the file
 * its structure is checked with pread (learner/lmdb_check.h), and every later read
 * transaction on a newer snapshot (another process's commit) is checked again. A store
 * found damaged (a flipped bit, a truncated file, a damaged "format" value) is repaired,
 * never deleted:
 *   - read-write: RUN_DIR/ckpt.lmdb is renamed RUN_DIR/ckpt.lmdb.damaged-<UTC time> and a
 *     fresh store is rebuilt in its place from every key/value pair still readable
 *     (af_lmdb_salvage); checkpoints are then checked by their checksums as usual, so
 *     af_ckpt_latest_valid finds the newest intact one, and saves continue safely;
 *   - read-only: the same rebuild goes to a temporary directory in $TMPDIR (removed by
 *     af_ckpt_close) and is what the handle reads; the run directory is not touched.
 * af_ckpt_damage then says what was found and done (a warning is also logged for a
 * read-write repair).
 * Returns 0; AF_EINVAL (NULL run_dir, keep_last < 1); AF_ENOTFOUND (read_only and no
 * store); AF_EFORMAT ("format" names another format; or a snapshot committed by another
 * process after the open is damaged); AF_ELMDB / AF_EIO (other LMDB or file errors, detail
 * names the path, e.g. a damaged store that cannot be moved aside); AF_ENOMEM.
 * The caller owns *out and closes it with af_ckpt_close. */
int af_ckpt_open(const char *run_dir, const AfCkptOptions *o, AfCkptStore **out);

/* NULL if the store was sound at open, else what was damaged and what was done (where the
 * damaged store was moved, or that a salvaged temporary copy is shown). Owned by the
 * store. */
const char *af_ckpt_damage(const AfCkptStore *s);

/* Close the store (NULL is fine). Nothing is pending: every save committed or aborted. */
void af_ckpt_close(AfCkptStore *s);

/* A named value carried across a resume so metrics continue (manifest `Counter`; a
 * double holds every integer below 2^53 exactly, and also cumulative seconds). */
typedef struct AfCkptCounter {
    char name[AF_CKPT_NAME_MAX];
    double value;
} AfCkptCounter;

/* Position of a named random stream (manifest `RngPosition`). The project's streams are
 * counter-based and keyed by iteration (common/rng.h), so training stores none today;
 * the field exists for streams that would carry a position. */
typedef struct AfCkptRngPos {
    char name[AF_CKPT_NAME_MAX];
    uint64_t position;
} AfCkptRngPos;

/* Everything one checkpoint holds. Pointers are borrowed for the duration of the call. */
typedef struct AfCkptSave {
    uint64_t step;              /* iterations completed; the checkpoint's key */
    uint64_t policy_version;    /* optimizer steps taken */
    const char *config_json;    /* the effective configuration (NULL = "") */
    AfModelConfig shape;        /* planner shape */
    const AfTensorInfo *tensors; /* (n_tensors) the model's tensor table (AfModel.tensors) */
    int n_tensors;
    size_t n_params;            /* elements of each flat buffer (AfModel.n_params) */
    const float *params;        /* (n_params) required */
    const float *adam_m;        /* (n_params) required (AfAdamW.m) */
    const float *adam_v;        /* (n_params) required (AfAdamW.v) */
    const float *ref_params;    /* (n_params) frozen reference, or NULL. Stored by the first
                                   save that passes it; later saves check it is unchanged */
    uint64_t adam_step;         /* AfAdamW.step */
    uint64_t data_position;     /* queries consumed from the data stream (its batch of any
                                   iteration is a function of the iteration alone, see
                                   learner/data_stream.h; kept for checks and reports) */
    const AfCkptRngPos *rng;    /* (n_rng) or NULL */
    int n_rng;
    const AfCkptCounter *counters; /* (n_counters) or NULL */
    int n_counters;
    const char *metrics_json;   /* the last metrics line (shown by `ckpt list`), or NULL */
} AfCkptSave;

/* Write checkpoint s->step in one write transaction: tensors, manifest, metrics line,
 * `latest` = s->step, the reference once, then delete the oldest checkpoints beyond
 * keep_last. Saving a step that already exists replaces it. The transaction is durable
 * (fdatasync) when this returns 0. On any error the transaction is aborted and the
 * store holds exactly what it held before (previous checkpoints intact).
 * Returns 0; AF_EINVAL (NULL buffer, n_params or table inconsistent with the buffers,
 * detail names the field/tensor); AF_ESTATE (read-only store, or ref_params differ from
 * the stored reference); AF_EFULL (map full: detail names the map size in MiB, the
 * bytes the checkpoint needs and how to raise it; or no space left on the device:
 * detail names the path); AF_ELMDB / AF_EIO (other failures, named); AF_ENOMEM. */
int af_ckpt_save(AfCkptStore *s, const AfCkptSave *save);

/* What a checkpoint says about itself (filled by load, list). Owned strings are freed
 * by af_ckpt_meta_clear; a zero-initialised AfCkptMeta is valid to clear. */
typedef struct AfCkptMeta {
    uint64_t step, policy_version, adam_step, data_position;
    AfModelConfig shape;
    size_t n_params;
    int n_tensors;
    int has_ref;             /* a reference planner is stored for this checkpoint */
    double unix_time;        /* when it was written */
    char *config_json;       /* owned, NUL-terminated */
    char *metrics_json;      /* owned, NUL-terminated ("" if none) */
    char *version;           /* owned: agentflow version that wrote it */
    AfCkptCounter *counters; /* (n_counters) owned */
    int n_counters;
    AfCkptRngPos *rng;       /* (n_rng) owned */
    int n_rng;
    size_t bytes;            /* stored tensor bytes of this checkpoint (ref excluded) */
} AfCkptMeta;

void af_ckpt_meta_clear(AfCkptMeta *m);

/* Steps present, ascending, with their metadata. *out is a malloc'd array of *n entries
 * (possibly 0) that the caller frees with af_ckpt_list_free. A checkpoint whose manifest
 * does not decode is still listed with step set and meta fields zero, and bit `broken`.
 * Returns 0, AF_ELMDB, AF_ENOMEM. */
typedef struct AfCkptInfo {
    AfCkptMeta meta;
    int broken;              /* 1: manifest missing or undecodable (see detail) */
    char detail[256];        /* why it is broken ("" otherwise) */
} AfCkptInfo;
int af_ckpt_list(AfCkptStore *s, AfCkptInfo **out, int *n);
void af_ckpt_list_free(AfCkptInfo *items, int n);

/* Step of the newest checkpoint (`latest`). Returns 0, AF_ENOTFOUND (empty store),
 * AF_EFORMAT (`latest` malformed or pointing to a step without manifest), AF_ELMDB. */
int af_ckpt_latest(AfCkptStore *s, uint64_t *step);

/* Result of a verification. */
typedef struct AfCkptReport {
    uint64_t step;
    int tensors_checked;     /* tensor values hashed (params, moments, reference) */
    size_t bytes_checked;
    char message[512];       /* "" when valid, else the first failure (as the detail) */
} AfCkptReport;

/* Check checkpoint `step` (AF_CKPT_LATEST: the newest) completely: the manifest decodes
 * and is consistent (shape valid, tensor table inside param_count, sizes), every tensor
 * key exists with the right length, every per-tensor and buffer checksum matches, and
 * the reference too if the checkpoint has one. `report` may be NULL.
 * Returns 0; AF_ENOTFOUND (no such step, or a tensor key missing: named);
 * AF_EFORMAT (manifest garbage or inconsistent, a value of the wrong length: named);
 * AF_ECHECKSUM ("checkpoint step S: tensor T (param|adam_m|adam_v|ref): checksum
 * mismatch"); AF_ELMDB. */
int af_ckpt_verify(AfCkptStore *s, uint64_t step, AfCkptReport *report);

/* Load checkpoint `step` (AF_CKPT_LATEST: the newest) into caller buffers of n_params
 * elements each; any of params/adam_m/adam_v/ref may be NULL to skip it. Checks: the
 * stored shape equals *expect (when expect is not NULL; the detail names the first
 * differing field, e.g. "model.d_model: checkpoint 128, config 256"), the tensor table
 * equals the one af_model_create builds for that shape, n_params matches, and each
 * loaded tensor's checksum. Padding between tensors is zeroed. The buffers are
 * unspecified after an error. `meta` (may be NULL) receives the checkpoint's metadata;
 * clear it with af_ckpt_meta_clear.
 * Returns 0; AF_ENOTFOUND (no such step; ref requested but none stored; a key missing);
 * AF_ECONFIG (shape differs from expect: named); AF_EFORMAT (manifest garbage, table or
 * n_params mismatch, wrong value length); AF_ECHECKSUM (names step and tensor);
 * AF_ELMDB; AF_ENOMEM. */
int af_ckpt_load(AfCkptStore *s, uint64_t step, const AfModelConfig *expect, size_t n_params,
                 float *params, float *adam_m, float *adam_v, float *ref, AfCkptMeta *meta);

/* The newest checkpoint that verifies (af_ckpt_verify), walking back from `latest`
 * through every stored step. For each one skipped, a line "step S: <why>\n" is appended
 * to `skipped` (cap bytes, NUL-terminated, truncated if needed; may be NULL/0), so the
 * caller can say what it fell back from. Returns 0 with *step set; AF_ENOTFOUND (no
 * checkpoint verifies, or the store is empty); AF_ELMDB. */
int af_ckpt_latest_valid(AfCkptStore *s, uint64_t *step, char *skipped, size_t cap);

/* Export the parameters of checkpoint *step (AF_CKPT_LATEST: newest; *step receives the
 * step exported) as a Hugging Face model directory `dir` with af_model_export_dir
 * (common/safetensors.h: dtype, shards, the source's config fields and tokenizer files),
 * created if absent; checksums are checked first. opt->source_dir NULL: the source is the
 * checkpoint's own model.init_from, when it has one. `agentflow score --model DIR`,
 * `--init-from DIR` and transformers read it. Returns 0; the errors of af_ckpt_load and
 * af_model_export_dir; AF_ENOTFOUND (no such step). */
int af_ckpt_export_hf(AfCkptStore *s, uint64_t *step, const char *dir, const AfExportOptions *opt);

/* Path of the store's directory (RUN_DIR/ckpt.lmdb), for messages; owned by the store. */
const char *af_ckpt_path(const AfCkptStore *s);

/* Current map size in bytes (grows in automatic mode). */
size_t af_ckpt_map_size(const AfCkptStore *s);

#endif
