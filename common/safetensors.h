/* safetensors files and Hugging Face model directories.
 *
 * safetensors format: 8-byte little-endian u64 N, then N bytes of UTF-8 JSON mapping
 * tensor name -> {"dtype": "F32"|"F16"|"BF16", "shape": [..], "data_offsets": [begin, end]}
 * (offsets in bytes from the end of the header; an optional "__metadata__" object of
 * strings), then the data, little-endian, row-major.
 *
 * A model directory holds model.safetensors (Hugging Face Llama/Qwen2 tensor names, as
 * listed in the model's tensor table) and config.json with the Hugging Face keys
 * hidden_size, intermediate_size, num_attention_heads, num_key_value_heads,
 * num_hidden_layers, rms_norm_eps, rope_theta, vocab_size, max_position_embeddings,
 * tie_word_embeddings, attention_bias (absent attention_bias means true for
 * model_type "qwen2", false otherwise). RoPE is the rotate-half convention. */
#ifndef AF_COMMON_SAFETENSORS_H
#define AF_COMMON_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "common/model.h"

typedef enum { AF_DT_F32 = 0, AF_DT_F16 = 1, AF_DT_BF16 = 2 } AfDtype;

typedef struct AfStTensor {
    char *name;
    AfDtype dtype;
    int ndim;
    int64_t shape[8];
    size_t numel;
    const uint8_t *data;  /* points into the file image, `nbytes` long */
    size_t nbytes;
} AfStTensor;

typedef struct AfSafetensors {
    uint8_t *image;       /* whole file, owned */
    size_t size;          /* bytes */
    int n;
    AfStTensor *tensors;  /* n entries, owned */
} AfSafetensors;

/* Read and validate a whole safetensors file. Every malformed case returns AF_EFORMAT
 * with a detail naming the file and the tensor or field (header length, JSON, dtype,
 * shape, data_offsets, size mismatch, truncated data); AF_EIO if it cannot be read;
 * AF_ENOMEM. Caller owns *out (af_safetensors_close). */
int af_safetensors_open(const char *path, AfSafetensors **out);
void af_safetensors_close(AfSafetensors *st);

/* Entry by name or NULL. */
const AfStTensor *af_safetensors_find(const AfSafetensors *st, const char *name);

/* Convert an entry to float32 into dst (numel floats). */
void af_safetensors_to_f32(const AfStTensor *t, float *dst);

/* Write float32 tensors as a safetensors file (via a temporary file and rename).
 * names[i], shapes[i] (ndims[i] dims), data[i]. Returns 0, AF_EIO (naming the path). */
int af_safetensors_write(const char *path, int n, const char *const *names, const int *ndims,
                         const int64_t (*shapes)[2], const float *const *data);

/* Parse DIR/config.json into a model config. Returns 0, AF_EIO (unreadable), AF_EFORMAT
 * (bad JSON, missing or mistyped key, named), AF_ECONFIG (invalid values). */
int af_model_config_load(const char *dir, AfModelConfig *cfg);

/* Load DIR (config.json + model.safetensors) into a new model created with the given
 * learner capacity and flags (see af_model_create). Missing tensor, unexpected tensor,
 * wrong shape: AF_EFORMAT naming the tensor. Caller owns *out. */
int af_model_load_dir(const char *dir, int max_tokens, int max_seqs, int flags, AfModel **out);

/* Write the model to DIR (created if absent) as config.json + model.safetensors (F32).
 * Returns 0, AF_EIO naming the path. */
int af_model_save_dir(const AfModel *m, const char *dir);

#endif
