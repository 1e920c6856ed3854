/* One AgentFlow episode (docs/design.md, "An episode"): per turn planner -> executor (tool call) ->
 * memory -> verifier, up to max_turns; then generator -> answer -> judge -> reward.
 * The result is a protobuf-c Agentflow__Trajectory with every field filled.
 *
 * Status of the trajectory:
 *   OK            normal episode (the reward is meaningful, possibly 0). Bad actions,
 *                 tool errors and tool timeouts (AF_TOOL_TIMEOUT) count against the planner.
 *   INFRA_FAILED  a tool reported AF_TOOL_INFRA_ERROR, or a module or the planner (a served
 *                 one, actor/modules_openai.h) returned AF_ECURL / AF_ETIMEOUT / AF_EIO:
 *                 the episode stops there, answer "", reward 0,
 *                 status_detail says which turn and why.
 *   TIMEOUT       the whole-episode budget (episode_timeout_s) ran out and the time went
 *                 mostly to tools and modules (tools_s + modules_s >= planner_s): not the
 *                 planner's fault. If the planner itself used most of the budget, the
 *                 episode stops taking turns and ends normally (generator, judge) as OK.
 * Determinism: the planner draws only from the AF_RNG_SAMPLE stream (seed, iteration,
 * query_index, sample_index); with deterministic tools two runs give the same packed bytes
 * once the timing fields are zeroed (af_trajectory_zero_timings). */
#ifndef AF_ACTOR_EPISODE_H
#define AF_ACTOR_EPISODE_H

#include <stddef.h>
#include <stdint.h>

#include "actor/modules.h"
#include "actor/planner.h"
#include "common/config.h"
#include "env/suite.h"
#include "proto/agentflow.pb-c.h"

/* How every episode of a run is played: built once from the configuration
 * (af_episode_settings_from_config), the same for every episode. */
typedef struct AfEpisodeSettings {
    uint32_t max_turns;         /* planner turns at most, 1..AF_MAX_TURNS (rollout.max_turns) */
    double episode_timeout_s;   /* whole-episode wall budget; <= 0 = none (rollout.episode_timeout_s).
                                   It is the thread's deadline (common/deadline.h) while the
                                   episode runs: http and openai calls end by it */
    double tool_timeout_s;      /* per tool call (rollout.tool_timeout_s), cut to what the
                                   budget leaves */
    size_t result_bytes;        /* bytes of each result shown in the prompt (rollout.result_chars) */
    size_t memory_results;      /* memory policy: results of only the last K turns shown, the
                                   earlier ones as their status; 0 = all (rollout.memory_results) */
    uint32_t max_action_tokens; /* action length cap in tokens, EOS included (rollout.max_action_tokens) */
    uint64_t seed;              /* run seed, the AF_RNG_SAMPLE stream key (run.seed) */
    int monolithic;             /* the planner sees one growing transcript instead of the
                                   memory (algo.policy=monolithic; actor/memory.h) */
    double explore_random;      /* probability that a turn's action is the random planner's,
                                   scored by the planner (rollout.explore_random, training
                                   rollouts only: from_config leaves it 0); > 0 draws one
                                   af_rng_uniform per turn, and needs planner->encode_action */
    int shuffle;                /* game24/countdown: the question's numbers in a random order
                                   (af_suite_shuffle_question) drawn from the AF_RNG_DATA stream
                                   (seed, iteration, query_index, AF_RNG_MAX_SAMPLE): the same for
                                   every sample of a query (suite.shuffle, training episodes
                                   only: from_config leaves it 0) */
} AfEpisodeSettings;

/* Which episode this is: stamped once per episode, recorded in the trajectory. The first
 * three name the AF_RNG_SAMPLE stream. */
typedef struct AfEpisodeId {
    uint32_t iteration;
    uint32_t query_index;
    uint32_t sample_index;   /* <= AF_RNG_MAX_SAMPLE */
    uint64_t policy_version;
    int32_t actor_rank;
} AfEpisodeId;

/* The settings the configuration asks for (the keys named above). */
void af_episode_settings_from_config(const AfConfig *cfg, AfEpisodeSettings *s);
/* The settings of the configuration schema's defaults. */
void af_episode_settings_default(AfEpisodeSettings *s);

/* Runs one episode of item (from suite) with the modules and planner. On success *out
 * is a malloc'd trajectory the caller frees with af_trajectory_free() (equivalently
 * protobuf_c_message_free_unpacked(&t->base, NULL)). Returns 0 (also for INFRA_FAILED and
 * TIMEOUT episodes), AF_EINVAL for bad settings (max_turns 0 or > AF_MAX_TURNS,
 * max_action_tokens 0, sample_index too large), a planner's or module's own
 * non-infrastructure error code, or AF_ENOMEM. */
int af_episode_run(const AfSuite *suite, const AfModules *modules, AfPlanner *planner, const AfItem *item,
                   const AfEpisodeSettings *settings, const AfEpisodeId *id, Agentflow__Trajectory **out);

/* The same episode as a resumable state machine, so that several can share the planner's
 * batched decoding. begin validates as af_episode_run, then runs up to the first planner
 * request (or to the end); af_episode_request gives the pending request (NULL once the
 * episode is over) with the buffers act writes into (at most settings->max_action_tokens
 * tokens) and the episode's stream; af_episode_deliver takes act's return code, the
 * number of tokens written and the planner's wall time, and runs the turn's tools and
 * modules up to the next request or the end; af_episode_finish hands over the trajectory
 * of an episode that is over and frees the rest. Every step runs under the episode's own
 * deadline. begin and deliver return what af_episode_run would (after an error only
 * af_episode_destroy is allowed). af_episode_run is begin, act per request, finish. */
typedef struct AfEpisode AfEpisode;
int af_episode_begin(const AfSuite *suite, const AfModules *modules, AfPlanner *planner, const AfItem *item,
                     const AfEpisodeSettings *settings, const AfEpisodeId *id, AfEpisode **out);
const AfPlannerInput *af_episode_request(AfEpisode *e, AfRng **rng, uint32_t **tokens, float **logprobs);
int af_episode_deliver(AfEpisode *e, int act_rc, size_t n, double planner_s);
int af_episode_finish(AfEpisode *e, Agentflow__Trajectory **out); /* returns 0 */
void af_episode_destroy(AfEpisode *e);                            /* accepts NULL */

/* n episodes (items[i], ids[i]) in lockstep: a planner with act_group (a model planner
 * after af_planner_model_set_group) answers the pending requests of up to
 * min(planner->group, AF_EPISODE_GROUP_MAX) episodes with one call, each episode's tools
 * and modules running between its turns; episodes end at different turns and drop out.
 * Without act_group the episodes run one after the other with af_episode_run. Either way
 * out[i] and rcs[i] are what af_episode_run gives for episode i, bit for bit once the
 * timing fields are zeroed (the planner draws only from each episode's own stream), and
 * details[i] holds af_error_detail() of a failed one. planner_s of a grouped turn is the
 * wall time of the whole group's act. Returns 0. */
#define AF_EPISODE_GROUP_MAX 64
#define AF_EPISODE_DETAIL 512
int af_episode_run_group(const AfSuite *suite, const AfModules *modules, AfPlanner *planner, const AfItem *const *items,
                         const AfEpisodeSettings *settings, const AfEpisodeId *ids, size_t n, Agentflow__Trajectory **out,
                         int *rcs, char (*details)[AF_EPISODE_DETAIL]);

void af_trajectory_free(Agentflow__Trajectory *t); /* accepts NULL */

/* Sets every wall-time field (trajectory and turns) to 0: for bitwise comparisons. */
void af_trajectory_zero_timings(Agentflow__Trajectory *t);

#endif
