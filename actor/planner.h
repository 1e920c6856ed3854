/* The planner interface (docs/design.md §4): given the prompt, return the next action as
 * token ids with one behaviour log-prob per token.
 *
 * A planner writes its action into buffers the episode owns (no allocation needed per
 * token): up to max_tokens ids, ending with AF_TOK_EOS when it chose to stop (a planner
 * cut off at max_tokens simply returns max_tokens ids). The episode decodes the ids to
 * the action text with the suite vocabulary; nothing is re-tokenized. The model-backed
 * planner (learner/model code) implements the same struct; the oracle and random
 * planners here produce text and encode it, with log-probs 0. */
#ifndef AF_ACTOR_PLANNER_H
#define AF_ACTOR_PLANNER_H

#include <stddef.h>
#include <stdint.h>

#include "common/rng.h"
#include "common/tokenizer.h"
#include "env/suite.h"

typedef struct AfPlannerInput {
    const AfSuite *suite;        /* vocabulary, tools (reference planners also call its ops) */
    const AfItem *item;          /* the question (a model planner must not read item->answer/solution) */
    const AfTurnRecord *memory;  /* (n_memory) turns so far */
    size_t n_memory;
    uint32_t turn;               /* 0-based turn index */
    const char *prompt_text;     /* af_prompt_render() output */
    const uint32_t *prompt_tokens; /* (n_prompt) AF_TOK_BOS then encode(prompt_text) */
    size_t n_prompt;
    /* An exploring turn (rollout.explore_random): the action is these n_forced tokens
     * (planner->encode_action's, at most max_tokens), not a sample. A planner that can
     * score (encode_action set) writes them as its action with their log-probs under its
     * own sampling distribution and draws nothing from the rng; NULL: sample as usual. */
    const uint32_t *forced;
    size_t n_forced;
    /* Constrained decoding (a planner whose allow_stride is set): room for max_tokens
     * masks of allow_stride bytes, into which the planner writes the bit mask each action
     * token was drawn under (AgentflowTurn.action_allow), setting *allow_written to 1;
     * NULL: not wanted. A turn decoded without a mask leaves *allow_written 0. */
    uint8_t *allow_out;
    int *allow_written;
} AfPlannerInput;

typedef struct AfPlanner AfPlanner;
struct AfPlanner {
    const char *name;   /* "oracle", "random", "model", ... */
    float temperature;  /* sampling temperature the log-probs refer to (recorded) */
    /* Writes the action into tokens[0..*n) and logprobs[0..*n), *n <= max_tokens.
     * rng is the episode's AF_RNG_SAMPLE stream (seed, iteration, query, sample), shared
     * by all turns: draw only from it. Returns 0; a negative code aborts the episode
     * (the code and detail are propagated by af_episode_run). */
    int (*act)(AfPlanner *self, const AfPlannerInput *in, AfRng *rng, uint32_t *tokens, float *logprobs,
               size_t max_tokens, size_t *n);
    void (*destroy)(AfPlanner *self); /* frees ctx; may be NULL */
    void *ctx;
    /* Tokens the planner can attend to, prompt and action together (a model's max_seq);
     * 0 = unbounded. An episode ends before a turn whose prompt leaves no room for an
     * action: the planner has run out of context, and the episode is judged on what it
     * did so far (usually reward 0), not failed. */
    size_t context;
    /* Bytes of one action token's bit mask when the planner decodes constrained
     * (rollout.constrain_actions: (vocab + 7) / 8), else 0: the episode then offers
     * AfPlannerInput.allow_out and records the masks with the turn. */
    size_t allow_stride;
    /* Optional, both or neither (NULL: the suite vocabulary's prompt and actions): a
     * planner in text with its own tokenizer (actor/text_planner.h). prompt renders the
     * prompt of turns[first..n) into *text (malloc'd) and appends its ids to *ids; read
     * decodes action ids to *text (malloc'd: what the model wrote, a final end-of-sequence
     * token left out) and parses it: 0 with *action filled, AF_EINVAL for a format error
     * (the reason in why, no error set), another code for a real failure. With these the
     * episode ends before a turn whose prompt leaves less than rollout.max_action_tokens
     * of the context. */
    int (*prompt)(AfPlanner *self, const AfSuite *suite, const char *question, const AfTurnRecord *turns,
                  size_t first, size_t n, size_t result_bytes, char **text, AfTokenIds *ids);
    int (*read)(AfPlanner *self, const uint32_t *ids, size_t n, char **text, AfAction *action, char *why, size_t cap);
    /* Optional (NULL: episodes run one at a time): act for n <= group episodes at once,
     * in[i], rngs[i], tokens[i], logprobs[i] and n_out[i] being episode i's arguments of
     * act, and slots[i] (distinct, < group) the episode's place in the group, the same for
     * all its turns (the planner may keep what it computed for the place's last turn). The
     * results (tokens, log-probs, what each rng has drawn) are those of n calls of act in
     * any order, so the turns of several episodes may interleave (af_episode_run_group).
     * On an error no rng has moved and the caller may repeat the requests with act. */
    int (*act_group)(AfPlanner *self, size_t n, const AfPlannerInput *in, const size_t *slots, AfRng *const *rngs,
                     uint32_t *const *tokens, float *const *logprobs, size_t max_tokens, size_t *n_out);
    size_t group; /* episodes act_group takes at once (>= 2 when it is set) */
    /* Optional (NULL: the planner cannot explore, rollout.explore_random is refused): an
     * action in the suite's text ("calculator $1*$2") as the tokens the planner would
     * write for it, end of action included, at most max_tokens (cut like a sampler):
     * the suite vocabulary's ids, or a planner in text's reply. Returns 0, AF_EFORMAT
     * (the text is not an action), AF_ENOMEM. */
    int (*encode_action)(AfPlanner *self, const AfSuite *suite, const char *action, uint32_t *tokens,
                         size_t max_tokens, size_t *n);
};

/* Reference planners. oracle: the suite's oracle action (solves every solvable item;
 * fails the episode with AF_ENOTFOUND if the suite cannot solve the item). random: a
 * uniformly random valid action from the suite. Both return 0 or AF_ENOMEM. */
int af_planner_oracle_create(AfPlanner **out);
int af_planner_random_create(AfPlanner **out);

/* An action's text in the suite vocabulary as a planner writes it: its ids, then AF_TOK_EOS,
 * at most max_tokens (cut like a sampler; no EOS when the ids fill the budget). */
void af_planner_encode_action(const AfVocab *vocab, const char *text, uint32_t *tokens, size_t max_tokens, size_t *n);

/* The random planner's action for in, as text (*text malloc'd): a uniformly random valid
 * action of the suite, or of a tool added to it (as the random planner draws). Returns
 * 0, the suite's error, or AF_ENOMEM. */
int af_planner_random_text(const AfPlannerInput *in, AfRng *rng, char **text);

/* Warm-start demonstrations that visit more states than the oracle's canonical
 * solutions: each turn, with probability p, the suite's explore action (a random step
 * that keeps the item solvable) instead of the oracle's. af_planner_explored() gives the
 * turns of the last episode that explored (bit t = turn t; 0 for other planners): their
 * actions are not the oracle's, so they are not demonstrations. With a suite of several
 * attempts (game24/countdown suite.attempts), each episode first plays out a uniformly
 * drawn number of attempts (0 .. attempts-1) with explored steps, and dead ends the
 * exploration leads into are played out the same way, so the oracle demonstrates every
 * attempt's order. */
int af_planner_explorer_create(double p, AfPlanner **out);
uint64_t af_planner_explored(const AfPlanner *p);

/* Calls destroy and frees the struct (planners made by *_create). Accepts NULL. */
void af_planner_destroy(AfPlanner *p);

#endif
