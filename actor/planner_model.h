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
 * episode's earlier turns, so weights must not change within an episode); with bf16
 * products (af_planner_model_set_dtype) once af_planner_model_weights reports them.
 * Allocation happens in create, af_planner_model_set_group and set_dtype only. */
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

/* Constrained decoding (rollout.constrain_actions), on or off (the default): each sampled
 * turn draws its tokens among those that continue one of the suite's valid actions of
 * the state (AfSuiteOps.actions; the draw is renormalised over them, greedy takes their
 * argmax), so every action is valid; a state the suite lists none for is decoded free.
 * The policy is the masked softmax (masked tokens' logits AF_LOGIT_MASKED): the recorded
 * log-probs are its, and each token's mask goes with the turn (AfPlanner.allow_stride,
 * AfPlannerInput.allow_out) for the learner to train the same distribution
 * (af_model_set_logit_mask). Forced (exploring) actions are not constrained and carry no
 * masks. Each constrained turn allocates its list.
 * Returns 0, or AF_ECONFIG for a planner in text or a suite without the list. */
int af_planner_model_set_constrain(AfPlanner *p, const AfSuite *suite, int on);

/* Prompt tokens since creation: kept from a slot's previous turn or copied from a prefix
 * the group shares (reused, shared among them) instead of computed, and prefilled; and
 * decode steps (one per token position of a group's actions). */
typedef struct AfPlannerModelStats {
    uint64_t reused_tokens, shared_tokens, prefilled_tokens, steps;
} AfPlannerModelStats;
void af_planner_model_stats(const AfPlanner *p, AfPlannerModelStats *out);

/* The decoder's products in `dtype` (common/decode.h; the planner starts in fp32):
 * AUTO is bf16 where the CPU runs bf16 products natively. bf16 copies the model's
 * current weights. Returns 0, AF_EINVAL, AF_ENOMEM. */
int af_planner_model_set_dtype(AfPlanner *p, AfDecodeDtype dtype);

/* The dtype in effect (AF_DECODE_FP32 or AF_DECODE_BF16). */
AfDecodeDtype af_planner_model_dtype(const AfPlanner *p);

/* The model now holds the weights of policy `version` (AF_PLANNER_WEIGHTS_NEW: new
 * weights of no known version). A bf16 decoder refreshes its copy (one pass over the
 * weights) when the version differs from the one it last copied, or for
 * AF_PLANNER_WEIGHTS_NEW (after which any version refreshes again); fp32 does nothing.
 * Call it before episodes whenever the weights may have changed; per episode is cheap
 * (a comparison). Returns 0. */
#define AF_PLANNER_WEIGHTS_NEW UINT64_MAX
int af_planner_model_weights(AfPlanner *p, uint64_t version);

/* Turns whose prompt left no room for a full action budget since creation. */
uint64_t af_planner_model_truncated(const AfPlanner *p);

#endif
