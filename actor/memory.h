/* The agent's evolving memory (docs/design.md §4): an ordered list of turn records, and the
 * planner prompt rendered from it.
 *
 * Prompt text (the planner's input s_t; encoded with the suite vocabulary after a BOS):
 *   "Q: <question>\n"
 *   "T: <tool1> <tool2> ... stop\n"
 *   "M:\n"
 *   "<i> <tool> <argument>[ | <sub_goal>] -> <result>\n"     one line per turn, i from 1
 *   "A:"
 * A record whose action did not parse renders as "<i> -> <result>". Newlines and other
 * control bytes inside fields render as spaces; each result is cut to result_bytes bytes
 * followed by "..." when longer (the full result stays in the record and the
 * trajectory). With result_bytes = R, max_turns = K and action length <= L bytes, the
 * prompt is at most len(question) + tools + K * (L + R + 16) + 16 bytes. With
 * rollout.memory_results = r > 0 (af_memory_view) the turns before the last r show their
 * tool's status name instead of the result, so the prompt stays near
 * len(question) + tools + K * (L + 28) + r * R bytes.
 *
 * The monolithic policy (algo.policy=monolithic, an ablation: the tool-integrated-RL
 * style the paper argues against) has no memory: its context is one growing transcript,
 *   "Q: <question>\n" "T: <tools> stop\n" "A:"                 (the head; turn 1's prompt)
 * and after each turn the action tokens exactly as sampled, then "<sep><result>\nA:" with
 * the same result cut, so turn t+1's prompt extends turn t's prompt + action. */
#ifndef AF_ACTOR_MEMORY_H
#define AF_ACTOR_MEMORY_H

#include <stddef.h>

#include "env/suite.h"

typedef struct AfMemory {
    AfTurnRecord *turns; /* (n) in turn order */
    size_t n;
    size_t cap;
} AfMemory;

/* Room for cap turns (grows if needed). Returns 0 or AF_ENOMEM. */
int af_memory_create(size_t cap, AfMemory **out);
void af_memory_destroy(AfMemory *m); /* accepts NULL; frees every record */
void af_memory_reset(AfMemory *m);   /* clears the records, keeps the storage */

/* Appends *rec, taking ownership of its strings (*rec is zeroed). 0 or AF_ENOMEM (then
 * *rec is left untouched and still owned by the caller). */
int af_memory_append(AfMemory *m, AfTurnRecord *rec);

/* The memory a bounded prompt shows (rollout.memory_results = recent > 0): when turns[first..n)
 * hold more than recent turns, *out is a malloc'd copy of turns[0..n) whose records before
 * n - recent keep their action and carry the tool's status name (af_tool_status_name: "ok",
 * "bad_action", ...) as their result; the copy shares every string with turns, so it is
 * freed with free() alone, never record by record. Otherwise (recent 0, or few turns)
 * *out is NULL and the memory shows as it is. 0 or AF_ENOMEM. */
int af_memory_view(const AfTurnRecord *turns, size_t first, size_t n, size_t recent, AfTurnRecord **out);

/* Renders the memory lines only (malloc'd, caller frees). 0 or AF_ENOMEM. */
int af_memory_render(const AfTurnRecord *turns, size_t n, size_t result_bytes, char **out);

/* Renders the whole planner prompt (format above; malloc'd, caller frees) with the
 * memory lines of turns[first..n), numbered from first + 1 as the turns are (a suite's
 * view_start hides closed attempts). The tool list is the suite's tools in order, then
 * "stop". 0 or AF_ENOMEM. */
int af_prompt_render(const AfSuite *suite, const char *question, const AfTurnRecord *turns, size_t first, size_t n,
                     size_t result_bytes, char **out);

/* The monolithic transcript's head, and what follows a turn's action tokens in it
 * (" -> <result>\nA:"; format above). malloc'd, caller frees. 0 or AF_ENOMEM. */
int af_transcript_head(const AfSuite *suite, const char *question, char **out);
int af_transcript_result(const char *result, size_t result_bytes, char **out);

#endif
