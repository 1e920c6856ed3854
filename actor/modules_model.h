/* The `model` backend of the modules (docs/agent.md, "Modules on a local model"): the
 * executor, verifier, generator and judge ask a frozen Hugging Face model on this rank,
 * as AgentFlow serves its modules from one frozen LLM. They send the prompts and read the
 * replies of actor/modules_openai.h (the same AfModuleChat modules); only the transport
 * differs.
 *
 * One AfModuleModel per rank: the model (parameters as float32), its tokenizer and chat
 * template (actor/text_planner.h's codec) and one decoder slot. Every module with backend
 * `model` shares it. Memory: 4 bytes per parameter, plus the KV cache of one sequence of
 * max_seq tokens (2 * n_layers * max_seq * n_kv_heads * head_dim floats) and the
 * decoder's scratch (a few vocabulary-sized vectors); af_module_model_bytes() reports
 * parameters + cache, and world.json shows it.
 *
 * A call: the system and user messages rendered with the chat template
 * (add_generation_prompt), encoded with message contents as ordinary text
 * (af_text_prompt_encode), then up to max_tokens reply tokens, ending at an EOS token of
 * the tokenizer (an id the model has but the tokenizer lacks, a padding row of the
 * vocabulary, counts as a reply token without text). Greedy when temperature is 0; else sampled (temperature, top_p) from an
 * AF_RNG_TOOL stream keyed by af_module_call_seed(module, turn) (actor/modules.h), so a
 * reply is a pure function of (weights, prompt, run seed, episode, module, turn), the
 * same bits whichever thread or rank runs it. The reply's log-prob sum (at the sampling
 * temperature; 1 when greedy) and token count go to af_module_call_record. A prompt that
 * leaves no room for one reply token in max_seq is AF_EIO (the episode is then
 * INFRA_FAILED with the detail, as for an unusable openai reply). The calling thread's
 * deadline (common/deadline.h: the episode's budget) ends a call with AF_ETIMEOUT.
 *
 * Thread safety: calls from several threads are serialised by a mutex (one slot). */
#ifndef AF_ACTOR_MODULES_MODEL_H
#define AF_ACTOR_MODULES_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "actor/modules_openai.h"
#include "common/model.h"
#include "common/tokenizer.h"

#define AF_MODULE_MODEL_MAX_TOKENS 128 /* a module call's reply cap when the config says 0 */
#define AF_MODULE_MODEL_MAX_SEQ 4096   /* the context when the config says 0 (and the model allows it) */

typedef struct AfModuleModelConfig {
    const char *dir;   /* Hugging Face model directory with tokenizer.json and a chat template */
    int max_seq;       /* context of the KV cache; 0: min(model's, AF_MODULE_MODEL_MAX_SEQ) */
    float temperature; /* 0: greedy */
    float top_p;       /* (0, 1] */
    int threads;       /* matrix-product threads (1..64), bit-identical for every count */
} AfModuleModelConfig;

typedef struct AfModuleModel AfModuleModel;

/* Loads the model, tokenizer and chat template of cfg->dir. Returns 0, or AF_ECONFIG with
 * a message naming modules.model.dir (empty; no tokenizer.json; no chat template; a
 * tokenizer with more ids than the model's vocabulary; max_seq beyond the model's; a
 * template that alters contents), AF_EIO / AF_EFORMAT (unreadable or malformed model
 * files, named), AF_ENOMEM. */
int af_module_model_load(const AfModuleModelConfig *cfg, AfModuleModel **out);
void af_module_model_destroy(AfModuleModel *m); /* accepts NULL */

/* Models loaded by this process so far (tests: one per rank). */
long af_module_model_loads(void);

const AfModelConfig *af_module_model_shape(const AfModuleModel *m);
int af_module_model_context(const AfModuleModel *m); /* max_seq in use */
size_t af_module_model_n_params(const AfModuleModel *m);
/* Bytes of the parameters and the KV cache. */
size_t af_module_model_bytes(const AfModuleModel *m);

/* The rendered prompt of (system, user) and its ids (appended to ids), as a call sends
 * it. *text malloc'd. Returns as af_text_prompt_encode. */
int af_module_model_render(AfModuleModel *m, const char *system, const char *user, char **text, AfTokenIds *ids);

/* One call (format above): *reply malloc'd (the decoded reply, EOS excluded). Returns 0,
 * AF_EIO (the prompt does not fit), AF_ETIMEOUT (the thread's deadline passed),
 * AF_ENOMEM, or a decoding error. */
int af_module_model_chat(AfModuleModel *m, int module, uint32_t turn, const char *system, const char *user,
                         int max_tokens, char **reply);

/* A transport over m with a reply cap of max_tokens (<= 0: AF_MODULE_MODEL_MAX_TOKENS),
 * for af_*_chat_create; m must outlive the module. Returns 0 or AF_ENOMEM. */
int af_module_model_transport(AfModuleModel *m, int max_tokens, AfModuleChat *out);

#endif
