/* One AgentFlow episode (DESIGN.md §4): per turn planner -> executor (tool call) ->
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
#include "env/suite.h"
#include "proto/agentflow.pb-c.h"

typedef struct AfEpisodeConfig {
    uint32_t max_turns;         /* planner turns at most (default 3; >= suite->max_turns for the oracle) */
    double episode_timeout_s;   /* whole-episode wall budget; <= 0 = none (default 120). It is
                                   the thread's deadline (common/deadline.h) while the episode
                                   runs: http and openai calls end by it */
    double tool_timeout_s;      /* per tool call (default 10), cut to what the budget leaves */
    size_t result_bytes;        /* bytes of each result shown in the prompt (default 160) */
    uint32_t max_action_tokens; /* action length cap in tokens, EOS included (default 96) */
    uint64_t seed;              /* run seed (AF_RNG_SAMPLE stream key) */
    uint32_t iteration;         /* recorded; names the stream */
    uint32_t query_index;       /* recorded; names the stream */
    uint32_t sample_index;      /* recorded; names the stream; <= AF_RNG_MAX_SAMPLE */
    uint64_t policy_version;    /* recorded */
    int32_t actor_rank;         /* recorded */
    int monolithic;             /* the planner sees one growing transcript instead of the
                                   memory (algo.policy=monolithic; actor/memory.h) */
} AfEpisodeConfig;

void af_episode_config_default(AfEpisodeConfig *c);

/* Runs one episode of item (from suite) with the modules and planner. On success *out
 * is a malloc'd trajectory the caller frees with af_trajectory_free() (equivalently
 * protobuf_c_message_free_unpacked(&t->base, NULL)). Returns 0 (also for INFRA_FAILED and
 * TIMEOUT episodes), AF_EINVAL for a bad config (max_turns 0 or > 64, max_action_tokens 0,
 * sample_index too large), a planner's or module's own non-infrastructure error code, or
 * AF_ENOMEM. */
int af_episode_run(const AfSuite *suite, const AfModules *modules, AfPlanner *planner, const AfItem *item,
                   const AfEpisodeConfig *cfg, Agentflow__Trajectory **out);

void af_trajectory_free(Agentflow__Trajectory *t); /* accepts NULL */

/* Sets every wall-time field (trajectory and turns) to 0: for bitwise comparisons. */
void af_trajectory_zero_timings(Agentflow__Trajectory *t);

#endif
