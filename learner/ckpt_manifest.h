/* The manifest of a checkpoint (issue 15 item 7): how learner/ckpt.c builds, decodes and
 * checks the CheckpointManifest (proto/agentflow.proto) that describes one checkpoint of
 * RUN_DIR/ckpt.lmdb (key layout: learner/ckpt.h).
 *
 * Format, precisely enough to reimplement:
 *   - A manifest is a CheckpointManifest message, protobuf binary encoding (as protobuf-c
 *     packs it), stored as the whole value of "step/<S>/manifest" (or "ref/manifest" for
 *     the frozen reference planner).
 *   - step = S (the key's step; the reference manifest has 0); policy_version, adam_step,
 *     data_position as the trainer gives them; config_json the effective configuration;
 *     agentflow_version and unix_time (seconds, double) of the write.
 *   - shape: the planner's ModelShape (common/model.h AfModelConfig, field for field;
 *     the float fields as float32; fields 12-18, absent in older manifests, decode as 0,
 *     their meaning before they existed).
 *   - tensors: the model's tensor table in table order (af_model_create's order), one
 *     TensorEntry per tensor: its Hugging Face name (1..AF_MODEL_NAME_MAX-1 bytes), shape
 *     (1 or 2 dimensions, row-major), offset into the flat buffer in float32 elements
 *     (ascending, not overlapping, inside param_count); param_count = elements of the flat
 *     buffer including the alignment padding between tensors (padding is not stored).
 *   - Per-tensor checksums: TensorEntry.checksum / adam_m_checksum / adam_v_checksum /
 *     ref_checksum = XXH64 (seed 0) of the tensor's stored bytes (numel float32, little
 *     endian) in "step/<S>/param|adam_m|adam_v/<name>" and "ref/param/<name>". In the
 *     reference manifest only `checksum` is set, and it is the reference tensor's.
 *   - Buffer checksums: params_checksum / adam_m_checksum / adam_v_checksum / ref_checksum
 *     = XXH64 (seed 0) of the concatenated per-tensor checksums of that kind, each as 8
 *     bytes little-endian, in table order (af_ckpt_combine). ref_checksum and the
 *     TensorEntry.ref_checksum are set only when has_ref (a reference is stored under
 *     ref/ and this step's training used it).
 *   - counters: named doubles carried across a resume (e.g. "train_wall_s"); rng: named
 *     random-stream positions (none today: the streams are keyed by iteration).
 *   - Value checksums (learner/ckpt.h): "step/<S>/sum" = XXH64 of the manifest value then
 *     XXH64 of the "step/<S>/metrics" value (16 bytes, each u64 little-endian);
 *     "ref/sum" = XXH64 of the "ref/manifest" value (8 bytes). af_ckpt_value_sums.
 *
 * af_ckpt_manifest_decode accepts a manifest only if all of this is consistent. */
#ifndef AF_LEARNER_CKPT_MANIFEST_H
#define AF_LEARNER_CKPT_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "common/model.h"
#include "learner/ckpt.h"
#include "proto/agentflow.pb-c.h"

/* The four stored kinds of a tensor; af_ckpt_kind_name gives "param", "adam_m",
 * "adam_v", "ref" (also the key component). */
enum { AF_CKPT_PARAM, AF_CKPT_ADAM_M, AF_CKPT_ADAM_V, AF_CKPT_REF, AF_CKPT_N_KIND };
extern const char *const af_ckpt_kind_name[AF_CKPT_N_KIND];

/* ModelShape <-> AfModelConfig. from_pb returns -1 for a dimension above 2^30. */
void af_ckpt_shape_to_pb(const AfModelConfig *c, Agentflow__ModelShape *p);
int af_ckpt_shape_from_pb(const Agentflow__ModelShape *p, AfModelConfig *c);

/* XXH64 (seed 0) of n checksums, 8 bytes little-endian each: a buffer checksum. */
uint64_t af_ckpt_combine(const uint64_t *sums, size_t n);

/* The per-tensor checksum of `kind` in an entry (AF_CKPT_REF: ref_checksum). */
uint64_t af_ckpt_entry_sum(const Agentflow__TensorEntry *e, int kind);

/* Elements of an entry's tensor (the product of its shape). */
size_t af_ckpt_entry_numel(const Agentflow__TensorEntry *e);

/* The value checksums: out[0..7] = XXH64 of the manifest bytes, out[8..15] = XXH64 of
 * the metrics bytes (each u64 little-endian). */
void af_ckpt_value_sums(const void *man, size_t man_len, const void *metrics, size_t metrics_len, uint8_t out[16]);

/* Decode `len` bytes and check the manifest's consistency: the step (unless is_ref), a
 * valid shape, param_count in 1..2^40, 1..AF_MODEL_MAX_TENSORS tensors with names, 1-2
 * dimensions, ascending non-overlapping offsets inside param_count, and each buffer
 * checksum equal to af_ckpt_combine of its entries. `dir` and `what` ("checkpoint step
 * 30", "reference") prefix the messages. On success *out is the caller's
 * (agentflow__checkpoint_manifest__free_unpacked). Returns 0; AF_EFORMAT (does not
 * decode, or inconsistent: named); AF_ECHECKSUM (a buffer checksum does not match its
 * table). */
int af_ckpt_manifest_decode(const void *bytes, size_t len, const char *dir, const char *what, uint64_t step,
                            int is_ref, Agentflow__CheckpointManifest **out);

/* The manifest's tensor table equals the one af_model_create builds for `shape` (names,
 * shapes, offsets, param_count). Returns 0 or AF_EFORMAT naming the first difference. */
int af_ckpt_manifest_check_table(const char *dir, uint64_t step, const Agentflow__CheckpointManifest *man,
                                 const AfModelConfig *shape);

/* `have` (a checkpoint's shape) equals `want` (the configuration's). Returns 0 or
 * AF_ECONFIG naming the first differing field, e.g. "model.d_model: checkpoint step 3 has
 * 32, the configuration 64". */
int af_ckpt_compare_shape(uint64_t step, const AfModelConfig *have, const AfModelConfig *want);

/* A manifest being built for a save: the message and the arrays it points into. */
typedef struct AfCkptManifestBuf {
    Agentflow__CheckpointManifest man;
    Agentflow__ModelShape shape;
    Agentflow__TensorEntry *entries, **entry_ptrs; /* (n_tensors) */
    uint64_t (*shp)[2];                             /* (n_tensors) dims: uint64 in the proto */
    Agentflow__Counter *ctr, **ctr_ptrs;            /* (n_counters) */
    Agentflow__RngPosition *rng, **rng_ptrs;        /* (n_rng) */
} AfCkptManifestBuf;

/* Fill b->man from `sv` (step, versions, configuration, shape, tensor table, counters,
 * rng, agentflow version, time); the checksums and has_ref are the caller's to set. The
 * strings stay borrowed from sv. Returns 0 or AF_ENOMEM. Free with
 * af_ckpt_manifest_buf_free (also after an error; a zeroed buffer is fine). */
int af_ckpt_manifest_build(const AfCkptSave *sv, AfCkptManifestBuf *b);
void af_ckpt_manifest_buf_free(AfCkptManifestBuf *b);

/* Pack the reference manifest of the tensor table in `b` with reference checksums
 * ref_sums (n_tensors): only `checksum` per entry, params_checksum, shape, param_count,
 * version and time. *out is malloc'd (*len bytes), the caller's. Returns 0 or AF_ENOMEM. */
int af_ckpt_manifest_pack_ref(const AfCkptManifestBuf *b, const uint64_t *ref_sums, uint8_t **out, size_t *len);

#endif
