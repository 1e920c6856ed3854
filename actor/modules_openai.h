/* The `openai` backends (docs/design.md §4): executor, verifier, generator and judge asking an
 * OpenAI-compatible /v1/chat/completions endpoint (actor/openai.h over common/http.h),
 * and a planner that does the same, for evaluation only (it has no behaviour log-probs:
 * it records 0 for each token, so its trajectories must not be trained on).
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
 * Failures: a transport failure after the retries (connection refused, timeout, HTTP 5xx,
 * truncated body) returns AF_ECURL or AF_ETIMEOUT; a reply that arrives but is unusable
 * (not JSON, too large, no choices[0].message.content, content the backend cannot read)
 * returns AF_EIO. All three make af_episode_run record the episode as INFRA_FAILED with
 * the detail (which never contains the API key), never a crash. Each failure is also
 * logged at debug level. */
#ifndef AF_ACTOR_MODULES_OPENAI_H
#define AF_ACTOR_MODULES_OPENAI_H

#include "actor/modules.h"
#include "actor/openai.h"
#include "actor/planner.h"
#include "common/config.h"

/* Fills *out (af_openai_config_default first) from the config keys modules.<module>.*:
 * url, model, api_key_env, timeout_s, retries. `module` names the section in errors
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
