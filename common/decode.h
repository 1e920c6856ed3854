/* The actor path: incremental decoding with a KV cache over up to `max_slots` sequences,
 * and a temperature/top-p sampler that records behaviour log-probabilities.
 *
 * Determinism: every per-sequence computation (projections through af_matmul_inv,
 * attention over the slot's own cache, norms, softmax, sampling from the slot's own
 * AfRng) uses a fixed operation order that does not depend on which other slots are fed
 * in the same call or how many, nor on the OpenBLAS thread count or
 * af_decode_set_threads. A sequence's tokens
 * and log-probs are therefore bit-identical whether it is decoded alone or in any batch,
 * and prefilling a prompt gives the same bits as feeding it one token at a time.
 *
 * Memory: the cache and all scratch are allocated by af_decode_create; feeding and
 * sampling never allocate. The decoder borrows the model; the model must outlive it.
 * In fp32 (the default) its parameters are read at each call, so new weights take
 * effect immediately. In bf16 (af_decode_set_dtype) the matrix products read a bf16
 * copy of the weight matrices made by af_decode_set_dtype and af_decode_sync_weights:
 * after the model's weights change, call af_decode_sync_weights once (per weight
 * version, not per token).
 *
 * bf16: the weight matrices (q, k, v, o, gate, up, down, LM head) are rounded to bf16
 * (common/bf16.h, round to nearest even as PyTorch) and so is each product's input
 * row (the normed hidden state, the attention output, the SwiGLU output); the products
 * accumulate in fp32 (af_matmul_inv_bf16) and give fp32 outputs, biases are added in
 * fp32. Everything else stays fp32: the embedding rows, norms, RoPE, the KV cache and
 * attention, residuals, SiLU, softmax and sampling. Batch invariance, prefill = feeding
 * token by token, and the independence of the thread count hold as in fp32, and the bits
 * are the same on every kernel variant (kernels.h). Exception, opt-in: with AF_AMX=on on a
 * CPU with AMX-BF16 (common/amx.h) the copy is packed in tile blocks and the products run
 * on the tiles: invariance holds on that machine, the bits differ from other CPUs'. */
#ifndef AF_COMMON_DECODE_H
#define AF_COMMON_DECODE_H

#include <stdint.h>

#include "common/model.h"
#include "common/rng.h"

typedef struct AfDecode AfDecode;

typedef struct AfSampler {
    float temperature; /* > 0: sample from softmax(logits / temperature); <= 0: greedy */
    float top_p;       /* nucleus mass in (0, 1]; 1 disables it */
    int top_k;         /* keep the k most probable tokens (then top_p among them); 0 (or
                          >= the vocabulary) disables it and the draw is the one without it */
    const uint8_t *allow; /* NULL: every token; else V bytes, 0 = the token is masked: its
                             logit is AF_LOGIT_MASKED (probability 0), so the draw (greedy
                             too) and the recorded log-prob are the masked softmax's, the
                             distribution the learner's logit mask gives (rollout.constrain_actions) */
} AfSampler;

/* Create a decoder with `max_slots` independent sequences of up to `max_len` tokens each
 * (<= model max_seq). Returns 0, AF_EINVAL, AF_ENOMEM. Caller owns *out. */
int af_decode_create(const AfModel *m, int max_slots, int max_len, AfDecode **out);
void af_decode_destroy(AfDecode *d);

/* Use `n` threads (1..64) for the matrix products and the rows' attention of
 * feed/prefill (a persistent pool; 1 = no extra threads, the default). Products (and a
 * layer's attention over all rows) with fewer than `min_split` multiply-adds stay on the
 * calling thread (AF_DECODE_MIN_SPLIT is a good value; 0 splits everything, for tests).
 * Results are bit-identical for every n: threads split the outputs of each product and
 * the rows of the attention, and an output's bits never depend on the split.
 * Returns 0, AF_EINVAL, AF_ENOMEM. Not to be called during a feed. */
#define AF_DECODE_MIN_SPLIT 65536L
int af_decode_set_threads(AfDecode *d, int n, long min_split);

/* The weights' type in the matrix products. AUTO: bf16 where the chosen kernels execute
 * bf16 products natively (af_kernels_bf16_native: AVX512-BF16), else fp32. BF16 on
 * other kernels is emulated (same bits, many times slower than fp32; logged). */
typedef enum { AF_DECODE_FP32 = 0, AF_DECODE_BF16 = 1, AF_DECODE_AUTO = 2 } AfDecodeDtype;

/* Switch the products to `dtype` (the decoder starts in fp32). Going to bf16 allocates
 * the copy (2 bytes per weight-matrix element, the LM head included even when tied) and
 * fills it from the model's current weights. Returns 0, AF_EINVAL, AF_ENOMEM (the
 * decoder is then unchanged). Not to be called during a feed. */
int af_decode_set_dtype(AfDecode *d, AfDecodeDtype dtype);

/* The dtype in effect: AF_DECODE_FP32 or AF_DECODE_BF16. */
AfDecodeDtype af_decode_dtype(const AfDecode *d);

/* "fp32" | "bf16" | "auto" -> *out. Returns 0 or AF_EINVAL. */
int af_decode_dtype_parse(const char *name, AfDecodeDtype *out);

/* bf16: refresh the copy from the model's current fp32 weights (a pass over all of
 * them, split over the decoder's threads); fp32: nothing. The cache is left as it is.
 * Returns 0. Not to be called during a feed. */
int af_decode_sync_weights(AfDecode *d);

/* Empty a slot (new episode turn). */
void af_decode_reset(AfDecode *d, int slot);

/* Tokens currently in a slot's cache. */
int af_decode_len(const AfDecode *d, int slot);

/* Append one token to each of `n` distinct slots and compute each slot's next-token
 * logits. Returns 0, AF_EINVAL (bad slot, duplicate slot, token outside the
 * vocabulary, slot full) naming the slot; on error no slot is changed. */
int af_decode_feed(AfDecode *d, int n, const int *slots, const int32_t *tokens);

/* Append a prompt of `n` >= 1 tokens to a slot (same bits as feeding them one by one). */
int af_decode_prefill(AfDecode *d, int slot, const int32_t *tokens, int n);

/* Prefill several distinct slots at once: slot slots[i] gets tokens[i][0..lens[i])
 * (lens[i] >= 1) appended. The rows of all slots go through the matrix products together
 * (the weights are read once per chunk of rows instead of once per slot), and each slot
 * gets the same bits as af_decode_prefill on it alone. Returns 0, AF_EINVAL (bad,
 * duplicate or overfull slot, token outside the vocabulary) naming the slot; on error no
 * slot is changed. */
int af_decode_prefill_many(AfDecode *d, int n, const int *slots, const int32_t *const *tokens, const int *lens);

/* Keep the first n (0..af_decode_len) tokens of a slot's cache and drop the rest (the
 * next prompt begins with what the slot holds); the slot has no logits until it is fed.
 * Feeding the rest then gives the same bits as feeding the whole sequence. Returns 0 or
 * AF_EINVAL. */
int af_decode_truncate(AfDecode *d, int slot, int n);

/* Make slot dst hold the first n tokens of slot src's cache (a shared prompt prefix
 * prefilled once): its K/V rows are copied, dst's previous contents dropped, and dst has
 * no logits until it is fed. The same bits as prefilling dst with those n tokens.
 * Returns 0 or AF_EINVAL (bad slots, dst == src, n outside 1..af_decode_len(src)). */
int af_decode_copy_prefix(AfDecode *d, int dst, int src, int n);

/* The slot's next-token logits (V floats, before temperature); NULL if the slot is empty.
 * Valid until the slot is next fed or reset. */
const float *af_decode_logits(const AfDecode *d, int slot);

/* Sample the next token of a slot from its current logits.
 * Sampling: temperature > 0 draws one af_rng_uniform from `rng` and picks from the
 * top-p nucleus (tokens in order of decreasing probability, ties by lower id, smallest
 * prefix whose mass reaches top_p), renormalised. With 0 < top_k < V the candidates are
 * first cut to the top_k most probable (same order), and the nucleus is the smallest
 * prefix of them whose mass reaches top_p times their mass (Hugging Face's order: top-k,
 * then top-p on the renormalised rest); the top-k selection is a heap, O(V log k), so a
 * 150k vocabulary is not sorted. temperature <= 0 picks the argmax (lowest id on ties)
 * and draws nothing.
 * s->allow (when set) masks tokens first (their logits AF_LOGIT_MASKED), and what follows
 * is of the masked logits.
 * *logp receives log softmax(logits / T)[token] over the FULL vocabulary, with
 * T = temperature (T = 1 in greedy mode): the behaviour log-prob that the learner's
 * af_model_forward at the same temperature recomputes. Returns 0, AF_EINVAL (slot empty,
 * top_p outside (0, 1], top_k < 0). */
int af_decode_sample(AfDecode *d, int slot, const AfSampler *s, AfRng *rng, int32_t *token,
                     float *logp);

/* The sampler of af_decode_sample on a logit vector z[0..V) (V >= 1), with caller-owned
 * scratch of V elements each: the same draw and log-prob, for any logits (tests give
 * hand-made ones). Returns 0 or AF_EINVAL (top_p outside (0, 1], top_k < 0, an allow
 * mask that allows no token). */
typedef struct AfSampleScratch {
    float *ef;
    double *prob;
    int *idx, *tmp;
} AfSampleScratch;
int af_sample_logits(const float *z, int V, const AfSampler *s, AfRng *rng, AfSampleScratch *sc, int32_t *token,
                     float *logp);

/* The log-prob af_decode_sample would record had it drawn `token` from the slot's
 * current logits at `temperature` (<= 0: 1): log softmax(logits / T)[token] over the full
 * vocabulary, bit for bit the sampler's; nothing is drawn. For actions the planner did
 * not sample (rollout.explore_random). Returns 0 or AF_EINVAL (slot empty, token outside
 * the vocabulary). af_logits_logprob: the same on a logit vector z[0..V) with V floats
 * of scratch. */
int af_decode_score(AfDecode *d, int slot, float temperature, int32_t token, float *logp);
int af_logits_logprob(const float *z, int V, float temperature, float *ef, int32_t token, float *logp);

/* One decode step for `n` slots: sample each slot's next token (as af_decode_sample, with
 * samplers[i] and rngs[i]), write it to tokens[i] and its log-prob to logps[i], then feed
 * the sampled tokens. A slot whose cache is full is sampled but not fed (the caller
 * stops it). Returns 0 or the first error. */
int af_decode_step(AfDecode *d, int n, const int *slots, const AfSampler *samplers,
                   AfRng *rngs, int32_t *tokens, float *logps);

#endif
