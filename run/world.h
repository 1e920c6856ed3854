/* The agent's world, built once from the run configuration: the suite (dataset splits and
 * tools), the four frozen modules with their backends, the extra tools, the episode
 * settings and the planner model's shape. `train`, `eval` and `rollout` all build their
 * world here, so a key that shapes the world means the same to every command.
 *
 * What af_world_create reads from AfConfig (common/config.h):
 *   suite.name, run.seed (generation and split seed), data.train / data.test (JSONL
 *     replacing a split), suite.attempts / suite.retries / suite.view (game24/countdown),
 *     suite.max_train / suite.max_test (caps, 0 = all);
 *   modules.{executor,verifier,generator,judge}.backend: builtin (the suite's rules),
 *     openai (actor/modules_openai.h, with .url .model .api_key_env .timeout_s .retries
 *     .max_tokens .seed .logprobs) or model (actor/modules_model.h: the local model of
 *     modules.model.dir, loaded once for every module that uses it, .max_tokens);
 *     modules.planner.* is read by af_world_planner_create(w, "openai", ...);
 *   tools.python.enabled: add the sandboxed `python` tool (tools.python.*);
 *     tools.http.url non-empty: add the `http` tool (tools.http.*). Both join the suite's
 *     tool list, so the prompt lists them and every executor reaches them by name;
 *   rollout.max_turns, rollout.episode_timeout_s, rollout.tool_timeout_s,
 *     rollout.result_chars, rollout.max_action_tokens, algo.policy: the episode settings;
 *   model.* (shape; the vocabulary is the suite's), model.init_std, model.init_from: the
 *     planner model.
 * Keys of the suite section the built-in suites cannot honour (suite.test_fraction,
 * suite.hops, suite.entities) are refused when set to anything but their default. */
#ifndef AF_RUN_WORLD_H
#define AF_RUN_WORLD_H

#include <stdint.h>

#include "actor/episode.h"
#include "actor/modules.h"
#include "actor/planner.h"
#include "common/config.h"
#include "common/decode.h"
#include "common/model.h"
#include "common/traj.h"
#include "env/suite.h"

typedef struct AfModuleModel AfModuleModel;

typedef struct AfWorld {
    AfSuite *suite;             /* owned: splits (capped), vocabulary, tools (extra tools included) */
    AfModules modules;          /* owned: executor, verifier, generator, judge */
    AfModuleModel *module_model; /* owned: the modules' local model, NULL when none has backend=model */
    AfEpisodeSettings episode;  /* how every episode is played (evaluation) */
    AfEpisodeSettings train_episode; /* training rollouts: episode, rollout.explore_random and
                                      * suite.shuffle */
    AfEpisodeSettings demo_episode; /* the warm start's demonstrations: episode and suite.shuffle */
    AfModelConfig model;        /* the planner's shape: model.* with the suite's vocabulary, or a
                                 * planner in text's (text_dir's config.json) */
    AfConfig cfg;               /* copy of the configuration it was built from */
    char text_dir[4096];        /* a planner in text: the directory of its tokenizer, chat template
                                 * and config.json; "" on the suite vocabulary */
} AfWorld;

/* Builds the world. Returns 0, or:
 *   AF_ECONFIG  a value it cannot use, named by key (an openai backend without url/model,
 *               a backend=model module without modules.model.dir, a model directory
 *               without tokenizer.json or chat template, or whose tokenizer does not fit
 *               its vocabulary, modules.planner.backend=model,
 *               an unset API key variable, a bad tools.http URL or allowlist, a python
 *               interpreter that is not executable, a bad model.* shape, a suite key the
 *               suites cannot honour, an empty training split);
 *   AF_ENOTFOUND, AF_EIO, AF_EFORMAT, AF_EINVAL, AF_ELMDB: from creating the suite
 *               (unknown name, unreadable or malformed JSONL, LMDB);
 *   AF_ENOMEM.
 * Nothing is left allocated on error. The world is read-only while episodes run; several
 * threads may run episodes on one world (suite and builtin modules are thread-safe; the
 * openai clients too). */
int af_world_create(const AfConfig *cfg, AfWorld **out);

/* af_world_create for a rank that never runs an episode (a learner other than rank 0
 * without a warm start): the modules' local model is not loaded (its modules then
 * return AF_ESTATE if called, and world.json lacks its shape); everything else is
 * checked and built as usual. */
#define AF_WORLD_NO_EPISODES 1u
int af_world_create_flags(const AfConfig *cfg, unsigned flags, AfWorld **out);

/* As af_world_create, with the planner in text (actor/text_planner.h) when planner_dir
 * (may be NULL) holds a tokenizer.json, else when model.init_from does: text_dir is that
 * directory, and the planner's shape is its config.json's (vocabulary, head_dim, qk_norm,
 * qkv_bias, tied embeddings, RoPE fields: the Hugging Face model's), with max_seq
 * min(model.max_seq, its max_position_embeddings): the context a training run gives
 * prompt and action, and what sizes the learner's batch. A run directory's copy of
 * those files (RUN_DIR/planner, run/train.h) lets a resumed run, `eval --run-dir` and
 * `rollout --run-dir` go on when model.init_from has moved. flags as af_world_create_flags.
 * Errors as af_world_create,
 * and those of af_model_config_load (the config.json). */
int af_world_create_in(const AfConfig *cfg, const char *planner_dir, unsigned flags, AfWorld **out);
void af_world_destroy(AfWorld *w); /* accepts NULL */

/* A planner the world can make: "oracle", "random", or "openai" (the served planner of
 * modules.planner.*). Returns 0, AF_ENOTFOUND for another name (the model planner is made
 * by actor/planner_model.h), AF_ECONFIG (openai settings, missing key), AF_ENOMEM. Free
 * with af_planner_destroy(). */
int af_world_planner_create(const AfWorld *w, const char *kind, AfPlanner **out);

/* Initialises the parameters of m (of shape w->model) as a run starts: normal(0,
 * model.init_std) from run.seed, then, when model.init_from is set, the weights of that
 * directory (a planner in text: max_position_embeddings may exceed w->model.max_seq;
 * a directory of a planner in text without weights, only config.json and the tokenizer
 * files, keeps the run.seed initialisation: a new model of that architecture).
 * Returns 0, or AF_ECONFIG (model.init_from of another shape: both shapes named), AF_EIO /
 * AF_EFORMAT (unreadable directory), AF_ENOMEM. */
int af_world_model_init(const AfWorld *w, AfModel *m);

/* The planner model for this world, for decoding (no learner buffers), owned by the caller
 * (af_model_destroy). dir NULL or "": a model of shape w->model initialised with
 * af_world_model_init. dir set: the Hugging Face-style directory (config.json +
 * model.safetensors, common/safetensors.h). Returns 0, or AF_ECONFIG (the model's
 * vocabulary differs from the suite's, an init_from of another shape), AF_EIO /
 * AF_EFORMAT (unreadable or malformed directory, naming the file), AF_ENOMEM. */
int af_world_model_create(const AfWorld *w, const char *dir, AfModel **out);

/* The model planner over `model` (af_world_model_create of the same dir) sampling with s:
 * in text (actor/text_planner.h, with rollout.stop) when dir (NULL or "": the world's
 * text_dir) holds a tokenizer.json, else on the suite vocabulary (actor/planner_model.h). Returns 0, AF_EINVAL (bad
 * sampler), AF_ECONFIG (a bad rollout.stop, a tokenizer larger than the model, a chat
 * template that alters contents), AF_ENOTFOUND (no chat template), AF_EIO, AF_EFORMAT,
 * AF_ENOMEM. Its decoder's products follow rollout.decode_dtype (af_world_planner_dtype). */
int af_world_model_planner(const AfWorld *w, const char *dir, const AfModel *model, const AfSampler *s,
                           AfPlanner **out);

/* Applies rollout.decode_dtype to a model planner (af_planner_model_set_dtype) and logs
 * the choice at info level ("planner decode: bf16 (rollout.decode_dtype auto, kernels
 * avx512bf16)"). Returns 0, AF_ENOMEM (the bf16 copy). */
int af_world_planner_dtype(const AfWorld *w, AfPlanner *planner);

/* Runs one episode of item with the planner and the world's settings, stamped with id.
 * Returns what af_episode_run returns; *out as there. */
int af_world_episode(const AfWorld *w, AfPlanner *planner, const AfItem *item, const AfEpisodeId *id,
                     Agentflow__Trajectory **out);
/* One warm-start demonstration: af_world_episode with demo_episode (suite.shuffle applies). */
int af_world_demo_episode(const AfWorld *w, AfPlanner *planner, const AfItem *item, const AfEpisodeId *id,
                          Agentflow__Trajectory **out);

/* The episodes of items[0..n) (ids[i]) together: af_episode_run_group with the world's
 * settings (actor/episode.h; out, rcs and details as there). Returns 0. */
int af_world_episode_group(const AfWorld *w, AfPlanner *planner, const AfItem *const *items, const AfEpisodeId *ids,
                           size_t n, Agentflow__Trajectory **out, int *rcs, char (*details)[AF_EPISODE_DETAIL]);

/* The same two with the training rollouts' settings (train_episode: rollout.explore_random
 * and suite.shuffle apply). */
int af_world_train_episode(const AfWorld *w, AfPlanner *planner, const AfItem *item, const AfEpisodeId *id,
                           Agentflow__Trajectory **out);
int af_world_train_episode_group(const AfWorld *w, AfPlanner *planner, const AfItem *const *items,
                                 const AfEpisodeId *ids, size_t n, Agentflow__Trajectory **out, int *rcs,
                                 char (*details)[AF_EPISODE_DETAIL]);

/* Group decoding for a model planner as the configuration says: with rollout.group_decode
 * the planner takes up to n episodes at once (af_planner_model_set_group), otherwise one.
 * Returns 0 or af_planner_model_set_group's error. */
int af_world_planner_group(const AfWorld *w, AfPlanner *planner, int n);

/* What a learner accepts of this world's training trajectories: G episodes per query, in
 * a world of world_size ranks (common/traj.h). lim->suite points into w. */
void af_world_traj_limits(const AfWorld *w, uint32_t group_size, int world_size, AfTrajLimits *lim);

/* The world as built, as one JSON object (malloc'd; NULL when out of memory): suite,
 * split sizes and a hash of their questions and answers, tools, module backends and
 * endpoints, the modules' local model when one has backend=model ("module_model": dir,
 * sampling, context, shape, n_params, bytes; only dir and sampling on a rank built with
 * AF_WORLD_NO_EPISODES), episode settings and planner shape. Two commands that build the same world
 * print the same text; `train` writes it to RUN_DIR/world.json and `eval` into its report. */
char *af_world_describe(const AfWorld *w);

#endif
