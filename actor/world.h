/* The agent's world built from the run configuration: the suite (dataset splits, tools),
 * the four frozen modules with their backends, the extra tools and the episode settings.
 * One call gives the train, eval and rollout commands everything an episode needs except
 * the planner, which they make themselves (the model planner), or ask for here (the
 * reference planners, and the served `openai` planner for evaluation).
 *
 * What af_world_create reads from AfConfig (common/config.h):
 *   suite.name, run.seed (generation and split seed), data.train / data.test (JSONL
 *     replacing a split), suite.attempts / suite.retries / suite.view (game24/countdown),
 *     suite.max_train / suite.max_test (caps, 0 = all);
 *   modules.{executor,verifier,generator,judge}.backend: builtin (the suite's rules) or
 *     openai (actor/modules_openai.h, with .url .model .api_key_env .timeout_s .retries);
 *     modules.planner.* is read by af_world_planner_create(w, "openai", ...);
 *   tools.python.enabled: add the sandboxed `python` tool (tools.python.cpu_s, mem_mb,
 *     wall_s, output_bytes, interpreter); tools.http.url non-empty: add the `http` tool
 *     (tools.http.allow_hosts, timeout_s, retries, max_bytes). Both join the suite's tool
 *     list, so the prompt lists them and every executor reaches them by name;
 *   rollout.max_turns, rollout.episode_timeout_s, rollout.tool_timeout_s,
 *     rollout.result_chars (the memory result bound), rollout.max_action_tokens.
 * Keys of the suite section the built-in suites cannot honour yet (suite.test_fraction,
 * suite.hops, suite.entities) are ignored with a warning naming each (as training ignores
 * them, so that a run's config.json still builds its world). */
#ifndef AF_ACTOR_WORLD_H
#define AF_ACTOR_WORLD_H

#include <stdint.h>

#include "actor/episode.h"
#include "actor/modules.h"
#include "actor/planner.h"
#include "common/config.h"
#include "common/model.h"
#include "env/suite.h"

typedef struct AfWorld {
    AfSuite *suite;          /* owned: splits, vocabulary, tools (extra tools included) */
    AfModules modules;       /* owned: executor, verifier, generator, judge */
    AfEpisodeConfig episode; /* template: max_turns, timeouts, result bound, seed; the
                              * per-episode fields (iteration, query, sample, version,
                              * rank) are set by af_world_episode */
    AfConfig cfg;            /* copy of the configuration it was built from */
} AfWorld;

/* Builds the world. Returns 0, or:
 *   AF_ECONFIG  a value it cannot use, named by key (an openai
 *               backend without url/model, an unset API key variable, a bad tools.http
 *               URL or allowlist, python interpreter not executable);
 *   AF_ENOTFOUND, AF_EIO, AF_EFORMAT, AF_EINVAL, AF_ELMDB: from creating the suite
 *               (unknown name, unreadable or malformed JSONL, LMDB);
 *   AF_ENOMEM.
 * Nothing is left allocated on error. The world is read-only while episodes run; several
 * threads may run episodes on one world (suite and builtin modules are thread-safe; the
 * openai clients too). */
int af_world_create(const AfConfig *cfg, AfWorld **out);
void af_world_destroy(AfWorld *w); /* accepts NULL */

/* The suite options the config asks for (run.seed, data.*, suite.attempts/retries/view): the
 * world's suite and the learner's own are made from the same. The strings point into cfg. */
void af_world_suite_options(const AfConfig *cfg, AfSuiteOptions *o);

/* The episode settings the config asks for (rollout.*, run.seed, algo.policy), as
 * w->episode holds them; the learner's own episodes use the same. */
void af_world_episode_config(const AfConfig *cfg, AfEpisodeConfig *e);

/* A planner the world can make: "oracle", "random", or "openai" (the served planner of
 * modules.planner.*, for evaluation only). Returns 0, AF_ENOTFOUND for another name (the
 * model planner is made by its own module), AF_ECONFIG (openai settings, missing key),
 * AF_ENOMEM. Free with af_planner_destroy(). */
int af_world_planner_create(const AfWorld *w, const char *kind, AfPlanner **out);

/* The planner model for this world, for decoding (no learner buffers), owned by the caller
 * (af_model_destroy). dir NULL or "": a fresh model of the configured shape (model.*, the
 * vocabulary of the suite) initialised from run.seed, then loaded from model.init_from when
 * that is set (as training starts). dir set: the Hugging Face-style directory
 * (config.json + model.safetensors, common/safetensors.h). Returns 0, or AF_ECONFIG (the
 * model's vocabulary differs from the suite's, a bad model.* shape, an init_from of another
 * shape), AF_EIO / AF_EFORMAT (unreadable or malformed directory, naming the file), AF_ENOMEM. */
int af_world_model_create(const AfWorld *w, const char *dir, AfModel **out);

/* Runs one episode of item with the planner: the episode template with these indices
 * (which name the AF_RNG_SAMPLE stream) and the policy version recorded. Returns what
 * af_episode_run returns; *out as there. */
int af_world_episode(const AfWorld *w, AfPlanner *planner, const AfItem *item, uint32_t iteration,
                     uint32_t query_index, uint32_t sample_index, uint64_t policy_version,
                     Agentflow__Trajectory **out);

#endif
