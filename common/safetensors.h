/* safetensors files and Hugging Face model directories.
 *
 * safetensors format: 8-byte little-endian u64 N, then N bytes of UTF-8 JSON mapping
 * tensor name -> {"dtype": "F32"|"F16"|"BF16", "shape": [..], "data_offsets": [begin, end]}
 * (offsets in bytes from the end of the header; an optional "__metadata__" object of
 * strings), then the data, little-endian, row-major. The reader requires the tensors
 * to tile the data exactly (no overlap, no gap, nothing after the last one), as the
 * reference implementation does.
 *
 * A model directory holds config.json and either model.safetensors or shards listed by
 * model.safetensors.index.json ({"metadata": {"total_size": bytes}, "weight_map":
 * {tensor name: shard file name}}), with Hugging Face Llama/Qwen2/Qwen3 tensor names (as
 * listed in the model's tensor table). docs/models.md lists the config.json fields read,
 * the families (model_type qwen2, qwen3, llama) and what is refused.
 * Implementation: common/safetensors.c (files), common/hf_dir.c (directories). */
#ifndef AF_COMMON_SAFETENSORS_H
#define AF_COMMON_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "common/bf16.h"
#include "common/model.h"

typedef enum { AF_DT_F32 = 0, AF_DT_F16 = 1, AF_DT_BF16 = 2 } AfDtype;

typedef struct AfStTensor {
    char *name;
    AfDtype dtype;
    int ndim;
    int64_t shape[8];
    size_t numel;
    uint64_t file_offset; /* bytes from the start of the file */
    size_t nbytes;
} AfStTensor;

typedef struct AfSafetensors {
    char *path;           /* owned copy */
    int fd;               /* open for reading until af_safetensors_close */
    uint64_t size;        /* file bytes */
    int n;
    AfStTensor *tensors;  /* n entries, owned */
} AfSafetensors;

/* Open a safetensors file and validate its header against the file size (the data is
 * read later, tensor by tensor, so a file larger than memory can be opened). Every
 * malformed case returns AF_EFORMAT with a detail naming the file and the tensor or
 * field (header length, JSON, dtype, shape, data_offsets, size mismatch, overlap or gap
 * between tensors, truncated data); AF_EIO if it cannot be read; AF_ENOMEM.
 * Caller owns *out (af_safetensors_close). */
int af_safetensors_open(const char *path, AfSafetensors **out);
void af_safetensors_close(AfSafetensors *st);

/* Entry by name or NULL. */
const AfStTensor *af_safetensors_find(const AfSafetensors *st, const char *name);

/* Read an entry and convert it to float32 into dst (numel floats). Returns 0, AF_EIO
 * (read failed or the file shrank, naming file and tensor). */
int af_safetensors_read_f32(const AfSafetensors *st, const AfStTensor *t, float *dst);

/* IEEE half to float32; the bfloat16 conversions are common/bf16.h. */
float af_f16_to_f32(uint16_t h);

/* Write float32 tensors as a safetensors file of F32 (via a temporary file and rename).
 * names[i], shapes[i] (ndims[i] dims), data[i]. Returns 0, AF_EIO (naming the path). */
int af_safetensors_write(const char *path, int n, const char *const *names, const int *ndims,
                         const int64_t (*shapes)[2], const float *const *data);

/* As af_safetensors_write, storing `dtype` (F32 or BF16, rounded to nearest even) and,
 * when `format` is not NULL, "__metadata__": {"format": format} (Hugging Face writes
 * "pt"). */
int af_safetensors_write_dtype(const char *path, int n, const char *const *names,
                               const int *ndims, const int64_t (*shapes)[2],
                               const float *const *data, AfDtype dtype, const char *format);

/* Parse DIR/config.json into a model config. Returns 0, AF_EIO (unreadable), AF_EFORMAT
 * (bad JSON, missing or mistyped key, an unknown model_type, rope_scaling type,
 * torch_dtype or field: each named), AF_ECONFIG (invalid values). */
int af_model_config_load(const char *dir, AfModelConfig *cfg);

/* Load DIR (config.json + model.safetensors, or the shards of
 * model.safetensors.index.json; F32, F16 or BF16 tensors become float32) into a new
 * model created with the given learner capacity and flags (see af_model_create).
 * Missing tensor, unexpected tensor, wrong shape, a bad index: AF_EFORMAT naming the
 * tensor or file. Caller owns *out. */
int af_model_load_dir(const char *dir, int max_tokens, int max_seqs, int flags, AfModel **out);

/* Write the model to DIR (created if absent) as config.json + model.safetensors (F32).
 * Returns 0, AF_EIO naming the path. */
int af_model_save_dir(const AfModel *m, const char *dir);

typedef struct AfExportOptions {
    AfDtype dtype;            /* AF_DT_F32 or AF_DT_BF16 */
    uint64_t max_shard_bytes; /* 0: one model.safetensors; else shards of at most this many
                               * data bytes (a larger single tensor gets a shard of its own)
                               * and model.safetensors.index.json, when the weights exceed it */
    const char *source_dir;   /* a Hugging Face model directory the weights came from, or
                               * NULL: its config.json fields are kept (the model's own
                               * fields updated) and its tokenizer files copied
                               * (af_model_copy_tokenizer) */
} AfExportOptions;

/* Copy the tokenizer files of SRC_DIR that exist (tokenizer.json, tokenizer_config.json,
 * special_tokens_map.json, generation_config.json, chat_template.jinja) into DST_DIR (an
 * existing directory), each written atomically. Returns 0, AF_EIO naming the path. */
int af_model_copy_tokenizer(const char *src_dir, const char *dst_dir);

/* Export the model to DIR (created if absent) for other tools (transformers, vLLM,
 * llama.cpp converters): config.json, the weights as above (with "format": "pt"), and
 * the source's tokenizer files. Returns 0, AF_EINVAL (bad options), AF_EIO naming the
 * path, AF_EFORMAT (the source config.json does not parse). */
int af_model_export_dir(const AfModel *m, const char *dir, const AfExportOptions *o);

#endif
