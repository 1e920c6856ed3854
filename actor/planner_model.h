/* The model-backed planner: the native transformer policy (common/model.h) sampling
 * actions through the KV-cache decoder (common/decode.h).
 *
 * Each act() call prefills the prompt tokens exactly as the episode encoded them (from
 * turn 2 on keeping the longest prefix the decoder slot already holds from the episode's
 * previous turn: the memory prompt grows turn by turn), then samples until AF_TOK_EOS or
 * the token budget. The token
 * budget is min(max_tokens, model max_seq - prompt length): a prompt that leaves no room
 * gives an empty action (which the executor records as a bad action) and is counted in
 * af_planner_model_truncated(), so that the learner never sees a sequence longer than the
 * model. Every sampled id and its behaviour log-prob (at the sampler's temperature, over
 * the full vocabulary; T = 1 in greedy mode) go to the episode as they are.
 *
 * Determinism: the decoder is batch-invariant and draws only from the episode's
 * AF_RNG_SAMPLE stream, so the same weights, prompt and stream give the same tokens and
 * log-probs on any rank.
 *
 * The planner borrows the model: new weights written into model->params take effect at
 * the next episode's first act() (a later turn keeps the K/V its slot computed for the
 * episode's earlier turns, so weights must not change within an episode). Allocation
 * happens in create and af_planner_model_set_group only. */
#ifndef AF_ACTOR_PLANNER_MODEL_H
#define AF_ACTOR_PLANNER_MODEL_H

#include <stdint.h>

#include "actor/planner.h"
#include "common/decode.h"
#include "common/model.h"

/* Create a planner over `model` (borrowed; must outlive the planner) sampling with `s`
 * (temperature <= 0: greedy). Returns 0, AF_EINVAL (bad sampler), AF_ENOMEM. */
int af_planner_model_create(const AfModel *model, const AfSampler *s, AfPlanner **out);

/* The same planner in text (actor/text_planner.h): codec (taken over: destroyed with the
 * planner, also on failure) renders and encodes the prompt with the model's chat template
 * and tokenizer, and generation stops at one of the tokenizer's end-of-sequence ids or
 * once the decoded text holds a stop string (the ids as sampled, the stop string's
 * included, go to the trajectory; the action is read from the text before the stop
 * string). The tokenizer's ids must lie within the model's vocabulary. Returns 0,
 * AF_EINVAL (bad sampler), AF_ECONFIG (a tokenizer larger than the model's vocabulary),
 * AF_ENOMEM. */
struct AfTextCodec;
int af_planner_model_create_text(const AfModel *model, const AfSampler *s, struct AfTextCodec *codec,
                                 AfPlanner **out);

/* Change the sampler (e.g. greedy evaluation after training). AF_EINVAL on a bad one. */
int af_planner_model_set_sampler(AfPlanner *p, const AfSampler *s);

/* Decode the turns of up to n episodes together (af_episode_run_group): the decoder gets
 * n slots (n x max_seq tokens of K/V cache) and the planner an act_group. n = 1 goes back
 * to one episode at a time. Tokens and log-probs are bit-identical either way (the
 * decoder is batch-invariant; each episode keeps its own stream). Allocates; not to be
 * called during an act. Returns 0, AF_EINVAL (n outside 1..AF_PLANNER_MODEL_MAX_GROUP),
 * AF_ENOMEM (the planner is then left as it was). */
#define AF_PLANNER_MODEL_MAX_GROUP 1024
int af_planner_model_set_group(AfPlanner *p, int n);

/* Prompt tokens since creation: kept from a slot's previous turn or copied from a prefix
 * the group shares (reused, shared among them) instead of computed, and prefilled; and
 * decode steps (one per token position of a group's actions). */
typedef struct AfPlannerModelStats {
    uint64_t reused_tokens, shared_tokens, prefilled_tokens, steps;
} AfPlannerModelStats;
void af_planner_model_stats(const AfPlanner *p, AfPlannerModelStats *out);

/* Turns whose prompt left no room for a full action budget since creation. */
uint64_t af_planner_model_truncated(const AfPlanner *p);

#endif
