/* The planner in text, as in AgentFlow (docs/agent.md, "A Hugging Face planner"): a model
 * directory with a tokenizer.json brings its own tokenizer and chat template, and the
 * planner reads a prompt in words and writes its action in words.
 *
 * Prompt: two chat messages, rendered with the model's chat template
 * (add_generation_prompt) and encoded with its tokenizer:
 *   system  what the planner is for and the reply format:
 *             Sub-goal: <what this step should achieve>
 *             Tool: <one tool name from the list>
 *             Command: <the tool's argument>
 *   user    "Question: <question>", the tools (name, description, an example argument
 *           where the tool has one; "stop" ends the episode), the memory of earlier turns
 *           (one line each: number, sub-goal, tool, command, status, result cut to
 *           result_bytes followed by "..."; a turn whose reply did not parse shows the
 *           reason), and the reminder of the format.
 * Encoding: the text the template adds is encoded with special tokens recognised; the
 * contents of the messages (the question, tool results: text a user or a tool controls)
 * are encoded with AF_ENCODE_ORDINARY, so that "<|im_end|>" inside a tool result is
 * ordinary text and cannot close the turn. The contents are located in the rendered text
 * in order; a template that alters them (other than what is checked at load) is refused
 * when the codec loads. When the contents hold no special-token text, the ids equal the
 * tokenizer's encoding of the whole rendered text.
 *
 * Action: af_text_action_parse reads the generated text tolerantly (below); a reply that
 * does not parse is a format error the episode records as a bad action with the reason. */
#ifndef AF_ACTOR_TEXT_PLANNER_H
#define AF_ACTOR_TEXT_PLANNER_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "actor/planner.h"
#include "common/tokenizer.h"
#include "env/suite.h"

typedef struct AfTextCodec AfTextCodec;

/* Loads DIR's tokenizer (tokenizer.json, tokenizer_config.json, generation_config.json)
 * and chat template, and the stop strings of `stop_spec` (rollout.stop: strings separated
 * by '|'; "\|", "\n", "\t", "\\" escape; empty = none). A probe prompt is rendered to
 * check that the template keeps message contents verbatim. Returns 0, AF_ENOTFOUND (no
 * tokenizer.json or no chat template), AF_EFORMAT / AF_ECONFIG (a malformed or
 * unsupported file, a template that alters contents, a bad stop spec), AF_EIO, AF_ENOMEM. */
int af_text_codec_load(const char *dir, const char *stop_spec, AfTextCodec **out);
void af_text_codec_destroy(AfTextCodec *c); /* accepts NULL */

/* 1 if DIR/tokenizer.json exists (the directory is a text planner's). */
int af_text_dir_has_tokenizer(const char *dir);

AfTokenizer *af_text_codec_tokenizer(const AfTextCodec *c);
/* 1 if id ends generation (the tokenizer's eos_ids: eos_token and generation_config). */
int af_text_codec_is_eos(const AfTextCodec *c, uint32_t id);
/* Offset of the first stop string in text[0..len) whose match ends at or after `from`
 * (so a caller scanning a growing text passes the previous length), or -1. */
long af_text_codec_find_stop(const AfTextCodec *c, const char *text, size_t len, size_t from);
size_t af_text_codec_n_stop(const AfTextCodec *c);

/* Splits a stop spec (format above) into *out (malloc'd array of malloc'd strings).
 * Returns 0, AF_EINVAL (an empty stop string, a bad escape), AF_ENOMEM. */
int af_text_stop_split(const char *spec, char ***out, size_t *n);
void af_text_stop_free(char **s, size_t n);

/* The two messages (format above) as a cJSON array [{role, content}, ...] of the prompt
 * over turns[first..n), numbered from first + 1. *out: cJSON_Delete. 0 or AF_ENOMEM. */
int af_text_prompt_messages(const AfSuite *suite, const char *question, const AfTurnRecord *turns, size_t first,
                            size_t n, size_t result_bytes, cJSON **out);

/* Renders messages with the template (add_generation_prompt) into *text (malloc'd) and
 * appends the ids to ids (contents ordinary, as above). Returns 0, AF_EINVAL (a render
 * error, or a content the rendered text does not hold verbatim), AF_ERANGE, AF_ENOMEM. */
int af_text_prompt_encode(AfTextCodec *c, const cJSON *messages, char **text, AfTokenIds *ids);

/* af_text_prompt_messages then af_text_prompt_encode: the prompt a planner in text reads
 * before a turn. Returns what they return. */
int af_text_prompt(AfTextCodec *c, const AfSuite *suite, const char *question, const AfTurnRecord *turns,
                   size_t first, size_t n, size_t result_bytes, char **text, AfTokenIds *ids);

/* A reply's ids -> *text (malloc'd: the decoded text, a final end-of-sequence id left out)
 * and *action (af_text_action_parse of the text up to the first stop string). Returns 0,
 * AF_EINVAL for a format error (the reason in why, no error set; also an id the tokenizer
 * does not define, e.g. the padding of a model's vocabulary: *text "" then), AF_ENOMEM. */
int af_text_read(const AfTextCodec *c, const uint32_t *ids, size_t n, char **text, AfAction *action, char *why,
                 size_t cap);

/* The reply the prompt asks for, for an action: "Sub-goal: G\nTool: T\nCommand: A", the
 * Sub-goal line only with a sub-goal and the Command line only with an argument (stop).
 * af_text_action_parse reads it back to the same tool, argument and sub-goal. *out
 * malloc'd. Returns 0 or AF_ENOMEM. */
int af_text_reply_render(const char *tool, const char *argument, const char *sub_goal, char **out);

/* An action in the suite's grammar ("TOOL ARGUMENT | SUB-GOAL") as the ids of the reply a
 * planner in text writes for it: af_text_reply_render's reply encoded with the tokenizer
 * (contents ordinary), then the first end-of-sequence id (the ids of the demonstrations
 * below). Returns 0, AF_EFORMAT (not an action), AF_ECONFIG (no end-of-sequence id),
 * AF_ENOMEM; *ids the caller frees (af_token_ids_free). */
int af_text_action_ids(const AfTextCodec *c, const char *action, AfTokenIds *ids);

/* A demonstrating planner in text (the warm start of a planner in text, run/warmstart.h):
 * each turn `inner` (oracle, explorer or random: planners on the suite vocabulary) chooses
 * the action; its text, read with the suite grammar ("TOOL ARGUMENT | SUB-GOAL"), is
 * written as af_text_reply_render's reply, encoded with the tokenizer (its contents
 * ordinary), followed by the first end-of-sequence id (the tokenizer's eos_token), with
 * log-probs 0; cut at max_tokens like a sampler. Prompts and reading are those of the
 * model planner in text (af_text_prompt, af_text_read), so its trajectories hold the ids
 * a planner in text is trained on. With plan, the Sub-goal line is the suite's plan for
 * the turn (AfSuiteOps.plan; model.warmstart_subgoal=plan) instead of inner's sub-goal.
 * Borrows inner and codec (they must outlive it).
 * Returns 0, AF_ECONFIG (the tokenizer has no end-of-sequence id), AF_ENOMEM. */
int af_planner_text_demo_create(AfPlanner *inner, AfTextCodec *codec, int plan, AfPlanner **out);

/* Generated text -> action, tolerantly:
 *   1. key lines, in any order and case, each "Key: value" (or "Key = value"), with
 *      Markdown decoration around the key ("**Tool:**", "- Tool:", "### Tool:"):
 *      Sub-goal (also "Subgoal", "Sub goal", "Goal"), Tool (also "Tool name", "Action"),
 *      Command (also "Argument", "Arguments", "Args", "Input", "Query", "Expression");
 *      the first of each counts. A Command value may continue on the lines after it
 *      until the next key line; backquotes or quotes around a value are removed;
 *   2. else the first fenced block (```...```) read by these rules;
 *   3. else the first non-empty line as "TOOL ARGUMENT".
 * The tool is lower-cased and must be [a-z_]+ (at most 32 bytes); "stop" may have no
 * command; every other tool needs one. The text is cut at the first "<think>...</think>"
 * block's end when it has one. Returns 0 with *out filled, AF_EINVAL with a reason in
 * why (empty reply, no tool, a bad tool name, no command, a command over
 * AF_ACTION_MAX_LEN bytes or holding " | " or control bytes), or AF_ENOMEM. Never
 * calls af_error_set for AF_EINVAL (model output is untrusted and frequently bad). */
int af_text_action_parse(const char *text, size_t len, AfAction *out, char *why, size_t cap);

#endif
