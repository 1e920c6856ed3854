/* The modules on a language model (docs/design.md §4, docs/agent.md): executor, verifier,
 * generator and judge that ask a chat model, each with its own prompt and tolerant parser,
 * over a transport (AfModuleChat): the `openai` backend, an OpenAI-compatible
 * /v1/chat/completions endpoint (actor/openai.h over common/http.h), and the `model`
 * backend, a local frozen model (actor/modules_model.h). Both send the same prompts and
 * read the replies the same way. Also a planner on the openai transport, for evaluation
 * only (it has no behaviour log-probs: it records 0 for each token, so its trajectories
 * must not be trained on).
 *
 * What each backend sends and how it reads the reply (the exact prompts are in
 * modules_openai.c; docs/agent.md shows them):
 *   executor   question, tools, memory and the planner's action -> one command line
 *              "<tool> <argument>", which then runs through the suite's own executor (so the
 *              suite's argument rules, tool timeouts and output caps still hold). A planner
 *              action that does not parse, and "stop", go to the suite's executor directly
 *              without a request (a bad action costs the planner the turn, as with builtin).
 *   verifier   question, memory -> "STOP" or "CONTINUE" (the first of the two words in the
 *              reply). After a planner "stop" it stops without a request.
 *   generator  question, memory -> the final answer (the text after the last "Answer:",
 *              else the last non-empty line), at most 512 bytes.
 *   judge      question, gold, answer -> a number in [0, 1], or yes/no, correct/incorrect.
 *   planner    the planner prompt (memory.h format) -> the first line of the reply is the
 *              action; it is encoded with the suite vocabulary (plus EOS).
 *
 * Failures (both transports): a transport failure after the retries (connection refused,
 * timeout, HTTP 5xx, truncated body) returns AF_ECURL or AF_ETIMEOUT; a reply that arrives
 * but is unusable (not JSON, too large, no choices[0].message.content; a local model's
 * prompt that does not fit its context; content the parser cannot read) returns AF_EIO. All three make af_episode_run record the episode as INFRA_FAILED with
 * the detail (which never contains the API key), never a crash. Each failure is also
 * logged at debug level. */
#ifndef AF_ACTOR_MODULES_OPENAI_H
#define AF_ACTOR_MODULES_OPENAI_H

#include "actor/modules.h"
#include "actor/openai.h"
#include "actor/planner.h"
#include "common/config.h"

/* The transport of a module on a language model: one chat call. */
typedef struct AfModuleChat {
    const char *backend; /* static: "openai", "model" (the module's backend name) */
    /* system + user message -> *reply (malloc'd, the caller frees). module (AfModuleKind,
     * -1 for the planner) and turn name the call (actor/modules.h: its seed, and where a
     * transport records the reply's log-probs). Returns 0, AF_ECURL / AF_ETIMEOUT
     * (transport), another negative code for a reply that cannot be used, AF_ENOMEM. */
    int (*chat)(void *impl, int module, uint32_t turn, const char *system, const char *user, char **reply);
    void (*destroy)(void *impl); /* may be NULL */
    void *impl;
} AfModuleChat;

/* The modules over transport *t (copied; the module owns t->impl from the call on, and
 * destroys it on failure too), bound to the suite, which must outlive them. Returns 0 or
 * AF_ENOMEM. Free like the builtin modules. */
int af_executor_chat_create(const AfSuite *suite, const AfModuleChat *t, AfExecutor **out);
int af_verifier_chat_create(const AfSuite *suite, const AfModuleChat *t, AfVerifier **out);
int af_generator_chat_create(const AfSuite *suite, const AfModuleChat *t, AfGenerator **out);
int af_judge_chat_create(const AfSuite *suite, const AfModuleChat *t, AfJudge **out);

/* The two messages module `module` (AfModuleKind) sends: *system (static) and *user
 * (malloc'd). text is the planner's action for the executor, the candidate answer for
 * the judge, unused otherwise; mem/n unused by the judge. Returns 0, AF_EINVAL (unknown
 * module), AF_ENOMEM. */
int af_module_prompt(const AfSuite *suite, int module, const AfItem *item, const AfTurnRecord *mem, size_t n,
                     const char *text, const char **system, char **user);

/* The parsers of the replies (rules in the list above; each first skips a leading
 * "<think>...</think>" block). Model output is untrusted: AF_EINVAL means the reply does
 * not say what the module needs, with no af_error_set. */
int af_module_parse_command(const char *reply, char **cmd);   /* 0 (*cmd malloc'd, non-empty), AF_EINVAL, AF_ENOMEM */
int af_module_parse_stop(const char *reply, int *stop);       /* 0 or AF_EINVAL */
int af_module_parse_answer(const char *reply, char **answer); /* 0 (*answer malloc'd, maybe ""), AF_ENOMEM */
int af_module_parse_verdict(const char *reply, float *reward); /* 0 or AF_EINVAL */

/* Fills *out (af_openai_config_default first) from the config keys modules.<module>.*:
 * url, model, api_key_env, timeout_s, retries, max_tokens, seed, logprobs. `module` names the section in errors
 * ("executor", ...). Returns 0, or AF_ECONFIG naming modules.<module>.<key> (url not
 * http(s) or empty, model empty). The strings in *out point into *m. */
int af_openai_config_from_module(const AfModuleConfig *m, const char *module, AfOpenAIConfig *out);

/* Each creates a client (af_openai_create: the API key is read from the environment now;
 * AF_ECONFIG if the variable is unset) bound to the suite, which must outlive the module.
 * Returns 0, AF_ECONFIG (message names the field) or AF_ENOMEM. Free like the builtin
 * modules (destroy, then free; af_modules_clear does both). */
int af_executor_openai_create(const AfSuite *suite, const AfOpenAIConfig *cfg, AfExecutor **out);
int af_verifier_openai_create(const AfSuite *suite, const AfOpenAIConfig *cfg, AfVerifier **out);
int af_generator_openai_create(const AfSuite *suite, const AfOpenAIConfig *cfg, AfGenerator **out);
int af_judge_openai_create(const AfSuite *suite, const AfOpenAIConfig *cfg, AfJudge **out);

/* Planner backed by a served LLM (evaluation only; name "openai", log-probs 0,
 * temperature = cfg->temperature when >= 0, else 1). Same returns as above; free with
 * af_planner_destroy(). */
int af_planner_openai_create(const AfOpenAIConfig *cfg, AfPlanner **out);

/* Attempts made by the last request of a backend created above (0 for builtin or before
 * any request): for tests and metrics. */
int af_executor_openai_attempts(const AfExecutor *m);
int af_verifier_openai_attempts(const AfVerifier *m);
int af_generator_openai_attempts(const AfGenerator *m);
int af_judge_openai_attempts(const AfJudge *m);

#endif
