/* The planner policy: a Llama/Qwen2/Qwen3-style decoder-only transformer (token
 * embedding, RMSNorm, rotate-half RoPE (optionally with Llama-3 frequency scaling),
 * causal grouped-query attention with optional QKV bias and optional per-head q/k
 * RMSNorm before RoPE (Qwen3), an explicit head_dim, SwiGLU MLP, final RMSNorm, LM head
 * optionally tied to the embedding).
 *
 * Parameters and gradients are each one flat 64-byte aligned float buffer; a table maps
 * Hugging Face tensor names to (shape, offset in elements). The learner path is a
 * batched forward over packed variable-length sequences returning per-token log-probs
 * at a temperature plus entropies, and a backward from per-token weights on those
 * log-probs (the loss lives outside the model). Gradients accumulate into the flat
 * gradient buffer, so a data-parallel learner reduces one buffer. All activation memory
 * is allocated at creation for `max_tokens`; forward/backward never allocate.
 * The actor path (KV cache, sampling) is common/decode.h. */
#ifndef AF_COMMON_MODEL_H
#define AF_COMMON_MODEL_H

#include <stddef.h>
#include <stdint.h>

typedef struct AfModelConfig {
    int vocab_size;       /* tokens */
    int d_model;          /* hidden size C */
    int n_layers;
    int n_heads;          /* query heads H */
    int n_kv_heads;       /* key/value heads KV; n_heads % n_kv_heads == 0 */
    int d_ff;             /* SwiGLU intermediate size F */
    int max_seq;          /* max positions (max_position_embeddings) */
    float rope_theta;
    float rms_eps;
    int qkv_bias;         /* 1: q/k/v projections have biases (Qwen2) */
    int tied_embeddings;  /* 1: lm_head shares model.embed_tokens.weight */
    /* Fields below are 0 in the project's own configs (af_model_config_default), which
     * keeps their models bit-identical to those before the fields existed. */
    int head_dim;         /* per-head size hd; 0: d_model / n_heads (Qwen3 sets it) */
    int qk_norm;          /* 1: RMSNorm (weight (hd), eps rms_eps) on each q and k head
                           * before RoPE (Qwen3: self_attn.q_norm / k_norm) */
    int rope_llama3;      /* 1: Llama-3 RoPE frequency scaling with the four fields below */
    float rope_factor;            /* rope_scaling.factor */
    float rope_low_freq_factor;   /* rope_scaling.low_freq_factor */
    float rope_high_freq_factor;  /* rope_scaling.high_freq_factor */
    int rope_orig_max_pos;        /* rope_scaling.original_max_position_embeddings */
} AfModelConfig;

/* A default small config (used by tests and as the fallback of `model.*` options). */
AfModelConfig af_model_config_default(void);

/* Checks every field (positive sizes, divisibility, even head_dim for RoPE). Returns 0 or
 * AF_ECONFIG with a detail naming the field. */
int af_model_config_validate(const AfModelConfig *c);

/* The head size of a valid config: head_dim, or d_model / n_heads when head_dim is 0. */
int af_model_config_head_dim(const AfModelConfig *c);

/* The most tensors a valid config has (256 layers of 14 tensors, embedding, final norm,
 * LM head): the table itself is sized per model. */
#define AF_MODEL_MAX_TENSORS 4096
#define AF_MODEL_NAME_MAX 80

typedef struct AfTensorInfo {
    char name[AF_MODEL_NAME_MAX]; /* Hugging Face name, e.g. "model.layers.0.mlp.up_proj.weight" */
    int ndim;                     /* 1 or 2 */
    int64_t shape[2];             /* row-major (out, in) for linear weights, like torch */
    size_t offset;                /* elements from the start of the flat buffer */
    size_t numel;                 /* elements */
} AfTensorInfo;

typedef struct AfLayerParams {    /* pointers into a flat buffer (params or grads) */
    float *attn_norm;  /* (C) input_layernorm */
    float *wq, *bq;    /* (H*hd, C), (H*hd) or NULL */
    float *wk, *bk;    /* (KV*hd, C), (KV*hd) or NULL */
    float *q_norm, *k_norm; /* (hd), (hd) or NULL (qk_norm) */
    float *wv, *bv;    /* (KV*hd, C), (KV*hd) or NULL */
    float *wo;         /* (C, H*hd) */
    float *mlp_norm;   /* (C) post_attention_layernorm */
    float *wgate;      /* (F, C) */
    float *wup;        /* (F, C) */
    float *wdown;      /* (C, F) */
} AfLayerParams;

typedef struct AfParamView {
    float *embed;      /* (V, C) */
    AfLayerParams *layers; /* n_layers entries */
    float *final_norm; /* (C) */
    float *lm_head;    /* (V, C); == embed when tied */
} AfParamView;

typedef struct AfModelActs AfModelActs; /* saved activations, private to model.c */

typedef struct AfModel {
    AfModelConfig cfg;
    int head_dim;
    size_t n_params;          /* elements in each flat buffer */
    int n_tensors;
    AfTensorInfo *tensors;    /* n_tensors entries, in safetensors/HF order */
    int cap_tensors;          /* entries allocated in `tensors` */
    float *params;            /* (n_params) 64-byte aligned, owned */
    float *grads;             /* (n_params) or NULL when created without gradients */
    AfParamView p;            /* views into params */
    AfParamView g;            /* views into grads (all NULL without gradients) */
    float *rope_cos, *rope_sin; /* (max_seq, head_dim/2), frequencies after any scaling */
    int max_tokens;           /* capacity of one learner batch, tokens (0: no learner path) */
    int max_seqs;             /* capacity of one learner batch, sequences */
    AfModelActs *acts;        /* NULL when max_tokens == 0 */
    int fwd_valid;            /* a forward ran since the last parameter change/backward */
    const uint8_t *const *lmask; /* af_model_set_logit_mask, or NULL */
    struct AfPool *pool;      /* the learner path's workers (common/pool.h), NULL when 1 thread */
    int compute;              /* AF_COMPUTE_FP32 (af_model_create's) or AF_COMPUTE_BF16 of
                               * common/matmul_bf16.h: af_model_set_compute */
    int mm_fma;               /* AF_COMPUTE_BF16 set as AF_COMPUTE_BF16_FMA: the products' operands
                               * (wb, xb, yb and the attention's) are fp32 values rounded to bf16,
                               * multiplied on the fp32 units; else bf16 (uint16_t) */
    void *wb;                 /* (n_params) bf16 copy of params made by each forward, or NULL */
    void *xb, *yb;            /* bf16 scratch (max_tokens, max(C, QD, F)), (max_tokens,
                               * max(V, C, QD, KD, F)) then (max_tokens, F) (the SwiGLU
                               * backward's second output), or NULL */
    int mm_rc;                /* first failed bf16 product of the running forward/backward */
} AfModel;

enum { AF_MODEL_GRADS = 1 }; /* af_model_create flags */

/* Allocate a model for `cfg` with zeroed parameters. `max_tokens` (total tokens over all
 * sequences of one learner batch) and `max_seqs` size the activation memory; pass 0 for
 * both when the model is only used for decoding. AF_MODEL_GRADS also allocates the
 * gradient buffer (zeroed). Returns 0, AF_ECONFIG (bad cfg), AF_EINVAL, AF_ENOMEM.
 * The caller owns *out and frees it with af_model_destroy. */
int af_model_create(const AfModelConfig *cfg, int max_tokens, int max_seqs, int flags,
                    AfModel **out);
void af_model_destroy(AfModel *m);

/* Initialise parameters deterministically from the AF_RNG_INIT stream of `seed`
 * (normal(0, std) weights, zero biases, unit norms; iteration = tensor index).
 * af_model_init_params uses std = 0.02 (model.init_std's default). */
void af_model_init_params(AfModel *m, uint64_t seed);
void af_model_init_params_std(AfModel *m, uint64_t seed, double std);

/* Copy parameters from `src` (same config, asserted): e.g. a frozen reference policy. */
void af_model_copy_params(AfModel *dst, const AfModel *src);

/* Tensor lookup by Hugging Face name; NULL if absent. */
const AfTensorInfo *af_model_find_tensor(const AfModel *m, const char *name);

/* Set the number of threads of the learner path (>= 1), process-wide: OpenBLAS threads
 * for the large fp32 products, and up to 8 workers (a pool each model starts at its next
 * forward/backward after the setting changed) for the attention, the norms, RoPE, the
 * element-wise work and (bf16) the chunks of the bf16 products. The decode path has its own
 * setting (af_decode_set_threads). Call from one thread, outside a step. */
void af_model_set_threads(int n);
/* That setting (1 before any call): the optimizer (learner/adamw.h) follows it. */
int af_model_threads(void);

/* Choose the precision of the learner path's matrix products (the linear layers q/k/v/o,
 * gate/up/down and LM head: the forward and both backward products; the attention's QK^T,
 * PV and their three backward products): AF_COMPUTE_FP32 (af_model_create's choice:
 * OpenBLAS sgemm), AF_COMPUTE_BF16 (bf16 inputs, fp32 accumulation and output,
 * common/matmul_bf16.h), AF_COMPUTE_AUTO (bf16 where the CPU has it natively, else fp32,
 * logged) or AF_COMPUTE_BF16_FMA (the same bf16 rounding of the inputs, the products on
 * the fp32 units: m->compute is then AF_COMPUTE_BF16 with m->mm_fma set). Master weights, gradients, activations, softmax, norms and the optimizer stay
 * fp32. In bf16, each forward rounds all parameters to a bf16 copy once (the products'
 * weights; the backward reuses it) and each product rounds its other inputs (activations,
 * output gradients, attention probabilities and score gradients); the attention scale
 * multiplies the fp32 scores after the product. The decode path (common/decode.h) is not
 * affected. Allocates the bf16 buffers and product contexts here (none in a step).
 * Returns 0 with m->compute set, AF_ECONFIG (bf16 asked on a CPU without it,
 * af_compute_resolve), AF_EINVAL, AF_ENOMEM, AF_ENOTIMPL (oneDNN refused). Call outside a
 * step; invalidates the last forward. */
int af_model_set_compute(AfModel *m, int compute);

/* Batched learner forward over packed sequences.
 *   tokens:    (N) token ids, sequences concatenated, N = seq_start[n_seqs]
 *   seq_start: (n_seqs + 1) offsets; sequence s is tokens[seq_start[s] .. seq_start[s+1])
 *              and its positions start at 0 (attention never crosses sequences)
 *   temperature > 0: log-probs and entropies are of softmax(logits / temperature)
 *   logp_out:  (N) logp_out[i] = log p(tokens[i] | earlier tokens of its sequence);
 *              0 for the first token of each sequence. May be NULL.
 *   entropy_out: (N) entropy of the distribution that predicts tokens[i] (0 for the
 *              first token of a sequence). May be NULL.
 * Saves what backward needs. Returns 0, AF_EINVAL (token out of vocabulary, a sequence
 * empty or longer than max_seq, N > max_tokens, n_seqs > max_seqs, temperature <= 0)
 * with a detail naming the sequence/position, AF_ESTATE if created without acts. */
int af_model_forward(AfModel *m, const int32_t *tokens, const int *seq_start, int n_seqs,
                     float temperature, float *logp_out, float *entropy_out);

/* As af_model_forward, computing the log-prob and entropy of token i only where need[i]
 * is nonzero (need: (N), or NULL for all) when the model runs its LM head in blocks (a
 * large vocabulary, af_model_set_lm_budget); the others are written as 0, and a later
 * backward must give them weight 0 (else AF_ESTATE). With the LM head all at once every
 * token is computed whatever need says (the same bits as af_model_forward). */
int af_model_forward_need(AfModel *m, const int32_t *tokens, const int *seq_start, int n_seqs,
                          float temperature, const uint8_t *need, float *logp_out, float *entropy_out);

/* The LM head's memory, process-wide, for models created after the call: a model whose
 * (max_tokens, V) logits exceed full_max_floats (default 2^26: 256 MiB) keeps only a block
 * of block_floats / V gathered rows (default 2^26 floats: 256 MiB, 441 rows of a
 * 151,936-token vocabulary) for the logits, whose gradient is computed in place over
 * them; it computes in forward only the rows used (af_model_forward_need), and in
 * backward takes the rows of nonzero weight a block at a time, last block first: the
 * forward's last block when it holds the same rows (a backward over the rows the forward
 * computed, all in one block: no second LM-head product), else the logits recomputed
 * (an extra product over those rows instead of two (N, V) buffers: about 10 GB for a
 * 151,936-token vocabulary and 8,192 tokens). The rows of a block are split over the
 * model's threads (af_model_set_threads). 0 restores a default. Tests use small values
 * to run the block path on a small vocabulary. The block's logits live in one buffer shared
 * by every model of the process on this path (a learner's policy and its frozen reference
 * planner run their LM heads one after the other), allocated by the first block at its
 * rows and grown (never shrunk) by a larger block, freed with the last such model: a
 * batch of 40 used rows holds 40 rows of V floats, and a model without gradients no block
 * of its own. A forward or backward holds the buffer while it runs its blocks (models
 * used on other threads wait for it) and returns AF_ENOMEM if growing it fails; a backward
 * reuses its forward's last block only if no other model's block replaced it since (else
 * it recomputes it: the same bits). The bf16 copy of a block's gradient (model.compute
 * bf16) is the model's own, allocated and grown the same way. */
void af_model_set_lm_budget(size_t full_max_floats, size_t block_floats);

/* A logit mask for the next forwards and backwards (constrained decoding's policy,
 * rollout.constrain_actions): rows[i] (NULL: none) is a bit mask of V bits (bit j of byte
 * j / 8, least significant first; (V + 7) / 8 bytes) for the distribution that predicts
 * token i of the batch; a token whose bit is 0 gets the logit AF_LOGIT_MASKED, so the
 * log-probs, entropies and their gradients are those of the softmax over the allowed
 * tokens (a masked token gets no gradient). rows (N) and the masks must stay valid
 * through the backward that follows (the LM head's block path recomputes logits there).
 * NULL: no mask (the default). The sampler's allow mask gives the same distribution. */
void af_model_set_logit_mask(AfModel *m, const uint8_t *const *rows);

/* Logits of the last forward: (N, V) row i predicts the token after tokens[i],
 * before the temperature is applied. Valid until the next forward/backward. NULL when
 * the LM head runs in blocks (af_model_set_lm_budget). */
const float *af_model_logits(const AfModel *m);

/* Backward of L = sum_i dlogp[i] * logp_out[i] through the last forward, accumulating
 * (+=) into m->grads. dlogp: (N); entries for first tokens of sequences are ignored.
 * Returns 0, AF_ESTATE (no gradient buffer or no forward since the last backward). */
int af_model_backward(AfModel *m, const float *dlogp);

/* Backward of L = sum_i dlogp[i] * logp_out[i] + dent[i] * entropy_out[i] (the entropies
 * of the last forward's distributions, at its temperature). dent: (N) or NULL (then as
 * af_model_backward); entries for first tokens of sequences are ignored. Same errors. */
int af_model_backward_ent(AfModel *m, const float *dlogp, const float *dent);

/* Zero the gradient buffer. */
void af_model_zero_grad(AfModel *m);

/* FLOPs of one forward over the given sequence lengths (2 * multiply-adds, including
 * attention), for throughput figures. Backward is about twice this. */
double af_model_forward_flops(const AfModelConfig *c, const int *seq_start, int n_seqs);

/* The batch-invariant matrix product used by decode: y[r, o] = sum_k x[r, k] * w[o, k]
 * (+ b[o]), each output computed by the same fixed-order sequence of float operations
 * whatever `rows` is, so a row's result never depends on the other rows.
 *   x: (rows, in)  w: (out, in)  b: (out) or NULL  y: (rows, out) */
void af_matmul_invariant(float *y, const float *x, const float *w, const float *b, int rows,
                         int in, int out);

#endif
