/* A suite: dataset splits, vocabulary, tools, builtin executor/verifier/generator/judge,
 * and two reference planners (oracle, uniformly random valid action). Knows nothing of
 * MPI. docs/design.md §5.
 *
 * ---- Action grammar (every suite) -----------------------------------------------
 *   action   := tool [" " argument] [" | " sub_goal]
 *   tool     := [a-z_]+            a name from the suite's tool list, or "stop"
 *   argument := text up to " | " (trimmed; at most AF_ACTION_MAX_LEN bytes in all)
 *   sub_goal := free text (optional; recorded, shown in memory)
 * "stop" makes no tool call (status AF_TOOL_NO_CALL) and asks the verifier to stop.
 * Anything else that does not parse, an unknown tool, or an argument the suite rejects
 * gives status AF_TOOL_BAD_ACTION with the reason as result: it costs the turn, never
 * crashes. Suite-specific argument rules are in env/suites.h.
 *
 * ---- Prompt (what the planner sees; rendered by actor/memory.h) ------------------
 *   "Q: <question>\nT: <tool> <tool>...\nM:\n<i> <tool> <argument> -> <result>\n...A:"
 *
 * ---- Objects and ownership --------------------------------------------------------
 * af_suite_create() builds everything (splits, tools, stores); the suite owns it until
 * af_suite_destroy(). All functions taking a const AfSuite are safe to call from
 * several threads at once (tools included); nothing else is. */
#ifndef AF_ENV_SUITE_H
#define AF_ENV_SUITE_H

#include <stddef.h>
#include <stdint.h>

#include "common/rng.h"
#include "env/dataset.h"
#include "env/tool.h"
#include "env/vocab.h"

#define AF_ACTION_MAX_LEN 512

/* One memory record: what a turn did. Strings are malloc'd and never NULL ("" when
 * absent); af_turn_record_clear() frees them. */
typedef struct AfTurnRecord {
    char *sub_goal;
    char *tool;      /* "" if the action did not parse */
    char *argument;  /* as the planner wrote it */
    char *result;    /* tool result or error text (full; truncated only when rendered) */
    AfToolStatus status;
    double tool_s;   /* wall seconds inside the tool call (0 if none) */
} AfTurnRecord;

void af_turn_record_clear(AfTurnRecord *r);

/* A parsed action (malloc'd strings, never NULL after success). */
typedef struct AfAction {
    char *tool;
    char *argument;
    char *sub_goal;
} AfAction;

/* Parses action text by the grammar above. Returns 0, AF_EINVAL (reason in why: empty,
 * too long, no tool name, bad character in the tool name, control bytes) or AF_ENOMEM.
 * Does not call af_error_set for AF_EINVAL (planner text is untrusted and frequent). */
int af_action_parse(const char *text, AfAction *out, char *why, size_t cap);
void af_action_clear(AfAction *a);

typedef enum { AF_SPLIT_TRAIN = 0, AF_SPLIT_TEST = 1 } AfSplit;

typedef struct AfSuiteOptions {
    uint64_t seed;           /* AF_RNG_ENV stream seed for generation and split (default 0) */
    const char *train_jsonl; /* replaces the generated train split when non-NULL */
    const char *test_jsonl;  /* replaces the generated test split when non-NULL */
    const char *db_dir;      /* multihop: LMDB directory to create/overwrite; NULL = private temp dir removed on destroy */
    uint32_t train_size;     /* generated suites: questions in train (0 = suite default) */
    uint32_t test_size;      /* generated suites: questions in test (0 = suite default) */
    uint32_t attempts;       /* game24/countdown: attempts per episode (0 or 1 = one; suites.h) */
    uint32_t retries;        /* game24/countdown: retries from each attempt's first step (suites.h) */
    int state_view;          /* game24/countdown: the prompt shows memory from the last turn that says
                                what is left, not the whole try (suites.h) */
    int random_steps;        /* game24/countdown: the random planner takes one uniformly drawn step of
                                the state (the actions op's list), not a whole expression (suites.h) */
    uint32_t max_question_tokens; /* > 0: a loaded question that encodes to more tokens is an
                                     error naming file:line (the planner's context less
                                     AF_SUITE_PROMPT_RESERVE, see af_suite_question_tokens) */
    const struct AfTaskOptions *task; /* suite "task": its judge and tools (env/suite_task.h); NULL elsewhere */
    uint32_t min_hops, max_hops; /* multihop: hops per generated question (0 = 2 and 4) */
    uint32_t distractors;        /* multihop: relations per entity that no question asks (0..6) */
} AfSuiteOptions;

/* Tokens of a planner's context kept for the prompt around the question (BOS, the "Q:",
 * tools, "M:" and "A:" lines of the first turn's prompt, with every tool's name: about 20
 * tokens) and for at least one action token. */
#define AF_SUITE_PROMPT_RESERVE 32u

/* The longest question, in tokens, that leaves room for its first prompt and an action in
 * a planner context of `context` tokens: context - AF_SUITE_PROMPT_RESERVE, at least 1. */
uint32_t af_suite_question_tokens(uint32_t context);

void af_suite_options_default(AfSuiteOptions *o);

typedef struct AfSuite AfSuite;

/* Builtin back-ends and reference planners a suite implements. Every function gets the
 * item and the memory so far (mem[0..n)) and never modifies them. */
typedef struct AfSuiteOps {
    /* Executor: parse action_text, run the tool (within tool_timeout_s), fill *out (all
     * strings set). Returns 0 (bad actions are a status, not an error) or AF_ENOMEM. */
    int (*execute)(const AfSuite *s, const AfItem *item, const AfTurnRecord *mem, size_t n,
                   const char *action_text, double tool_timeout_s, AfTurnRecord *out);
    /* Verifier: *stop = 1 when memory suffices for the generator (or the planner said stop). */
    int (*verify)(const AfSuite *s, const AfItem *item, const AfTurnRecord *mem, size_t n, int *stop);
    /* Generator: the final answer from the query and memory (malloc'd; "" if none). */
    int (*generate)(const AfSuite *s, const AfItem *item, const AfTurnRecord *mem, size_t n, char **answer);
    /* Judge: reward in [0, 1] for answer against the item's gold. */
    int (*judge)(const AfSuite *s, const AfItem *item, const char *answer, float *reward);
    /* Oracle planner: the next action text (malloc'd) that solves the item through the
     * tools. AF_ENOTFOUND if it cannot (e.g. an unsolvable JSONL item). */
    int (*oracle)(const AfSuite *s, const AfItem *item, const AfTurnRecord *mem, size_t n, char **action);
    /* Uniformly random valid action (malloc'd), drawing only from rng. */
    int (*random_action)(const AfSuite *s, const AfItem *item, const AfTurnRecord *mem, size_t n,
                         AfRng *rng, char **action);
    /* Optional (NULL: the suite has none): a uniformly drawn action among those after
     * which the item is still solvable through the tools (malloc'd), drawing only from
     * rng; *action NULL where there is no such choice (take the oracle's). */
    int (*explore)(const AfSuite *s, const AfItem *item, const AfTurnRecord *mem, size_t n, AfRng *rng,
                   char **action);
    /* Optional (NULL: the suite cannot list them): every valid action of the state mem[0..n)
     * leaves, for decoding constrained to them (rollout.constrain_actions). *actions: an
     * array of *n_actions malloc'd strings (free with af_suite_actions_free); none (NULL,
     * 0) where the suite has no list for that state, and the planner is then free. Reads
     * only the question and the memory, what the planner's prompt shows. */
    int (*actions)(const AfSuite *s, const AfItem *item, const AfTurnRecord *mem, size_t n, char ***actions,
                   size_t *n_actions);
    /* Optional (NULL: 0): the first of mem[0..n) the planner's prompt shows; the records
     * before it belong to attempts the suite has closed (game24/countdown attempts). */
    size_t (*view_start)(const AfSuite *s, const AfItem *item, const AfTurnRecord *mem, size_t n);
    /* Optional (NULL: 0): how many times mem[0..n) has started over (game24/countdown
     * attempts and retries; below s->attempts * (s->retries + 1)). */
    int (*restarts)(const AfSuite *s, const AfItem *item, const AfTurnRecord *mem, size_t n);
    void (*destroy)(AfSuite *s); /* frees ctx */
    /* Validates an item that does not come from the generated splits (JSONL, a question
     * typed on the command line): 0, or non-zero with the reason in why (cap bytes) naming
     * the field. Never modifies the item. */
    int (*check)(const AfSuite *s, const AfItem *item, char *why, size_t cap);
    /* Optional (NULL: every item is level 0): the item's difficulty level, 0 the easiest,
     * below AF_SUITE_LEVELS (multihop: hops - 2; arith: the question's integers - 2), for
     * a training curriculum (algo.curriculum). Never fails: an unparsable item is 0. */
    int (*difficulty)(const AfSuite *s, const AfItem *item);
    /* Optional (NULL: the suite has none): the oracle's plan for its next action, as a
     * sub-goal (malloc'd; *subgoal NULL where the next action needs none, e.g. "stop"),
     * for the Sub-goal line of a planner in text's demonstrations
     * (model.warmstart_subgoal=plan). multihop: the chain still to walk, the next search
     * first ("#1 director > mother > birthplace"). AF_ENOTFOUND as oracle. */
    int (*plan)(const AfSuite *s, const AfItem *item, const AfTurnRecord *mem, size_t n, char **subgoal);
} AfSuiteOps;

enum { AF_SUITE_LEVELS = 8 }; /* difficulty levels 0..AF_SUITE_LEVELS-1 */

struct AfSuite {
    const char *name;        /* static */
    const AfSuiteOps *ops;   /* static */
    void *ctx;               /* suite state (owned) */
    AfDataset *split[2];     /* train, test (owned) */
    AfTool **tools;          /* (n_tools), owned; freed with af_tool_destroy */
    size_t n_tools;
    size_t n_extra_tools;    /* the last n_extra_tools of tools came from af_suite_add_tool */
    const AfVocab *vocab;    /* af_vocab_default() */
    int max_turns;           /* turns the oracle needs at most (use >= this for evaluation) */
    int attempts;            /* attempts per episode (AfSuiteOptions.attempts; 1 for most suites) */
    int retries;             /* retries per attempt (AfSuiteOptions.retries; 0 for most suites) */
    int state_view;          /* AfSuiteOptions.state_view (0 for most suites) */
    int random_steps;        /* AfSuiteOptions.random_steps (0 for most suites) */
};

/* Creates the named suite ("game24", "countdown", "multihop", "arith", "task") with options
 * (NULL = defaults). Returns 0, AF_ENOTFOUND (unknown name, listing the known ones),
 * AF_ECONFIG (a JSONL file of train_jsonl/test_jsonl cannot be read or is bad: the message
 * starts "config: data.train: " or "config: data.test: " and names file:line as dataset.h
 * says, or the question longer than max_question_tokens), AF_ELMDB (multihop store),
 * AF_ENOMEM. */
int af_suite_create(const char *name, const AfSuiteOptions *opts, AfSuite **out);
void af_suite_destroy(AfSuite *s); /* accepts NULL */

/* Names of the built-in (generated) suites, NULL-terminated (static); not "task", which needs
 * the user's files. */
const char *const *af_suite_names(void);

const AfDataset *af_suite_split(const AfSuite *s, AfSplit split);

/* The item's difficulty level (AfSuiteOps.difficulty, clamped to 0..AF_SUITE_LEVELS-1;
 * 0 for a suite without levels). */
int af_suite_difficulty(const AfSuite *s, const AfItem *item);
/* 1 if the suite's questions are lists of numbers (game24, countdown): the suites whose
 * questions af_suite_shuffle_question can shuffle (suite.shuffle). */
int af_suite_number_lists(const AfSuite *s);
/* 1 if the suite lists the valid actions of its states (AfSuiteOps.actions) for
 * constrained decoding (rollout.constrain_actions): game24 and countdown (arith shares
 * their ops but lists none: its steps are free text). */
int af_suite_lists_actions(const AfSuite *s);
/* The question of a game24 or countdown item with its numbers in a random order (Fisher-Yates
 * over the integers before "->", one af_rng_below per position from rng; countdown's target
 * stays after them): the same puzzle as the suite's judge and tools see it (every number
 * once, any order). Writes the question into out (cap bytes). Returns 0, AF_EINVAL (another
 * suite: only the number suites' questions are lists of numbers) or AF_ERANGE (the
 * question does not fit in cap). */
int af_suite_shuffle_question(const AfSuite *s, const char *question, AfRng *rng, char *out, size_t cap);

/* Frees an action list of AfSuiteOps.actions (n strings, then the array); NULL is fine. */
void af_suite_actions_free(char **actions, size_t n);

/* The tool with this name, or NULL. */
AfTool *af_suite_tool(const AfSuite *s, const char *name);

/* Appends a tool to the suite's tool list (after the suite's own tools, so it shows in the
 * planner prompt and the executors reach it by name), taking ownership: the suite calls
 * tool->destroy(tool) at the end, and only that (so a tool whose destroy frees its own
 * struct, like python and http, fits). The list holds a wrapper with the same name and
 * description that forwards calls (wrapper->ctx is the tool). Returns 0, AF_EINVAL if a tool with that name is already there (the caller keeps
 * the tool), or AF_ENOMEM (likewise). Not thread-safe: call before running episodes. */
int af_suite_add_tool(AfSuite *s, AfTool *tool);

/* An item for a question given as text. If a split holds that exact question (test
 * first, then train), *out is a copy of that item (gold answer and oracle plan included)
 * and *found = 1; otherwise *out is a new item checked by the suite (ops->check), without
 * an oracle plan, and *found = 0. A non-NULL gold replaces the gold answer either way.
 * Returns 0, AF_EINVAL (the suite rejects the question; the detail gives the reason), or
 * AF_ENOMEM. Free the strings with af_item_clear(). */
int af_suite_item_for(const AfSuite *s, const char *question, const char *gold, AfItem *out, int *found);
void af_item_clear(AfItem *item); /* frees the strings and zeroes *item; accepts NULL */

/* Calls tool->destroy (if any) and frees the AfTool itself (tools made with calloc by
 * their create function). Accepts NULL. */
void af_tool_destroy(AfTool *tool);

/* Runs the named tool of the suite with the argument, timing it: the common tail of
 * every builtin executor. Unknown tool -> AF_TOOL_BAD_ACTION. Fills out->result,
 * out->status and out->tool_s. Returns 0 or AF_ENOMEM. */
int af_suite_call_tool(const AfSuite *s, const char *tool, const char *arg, double timeout_s,
                       AfTurnRecord *out);

/* Fills *out from an AfAction and a result/status (copies). Returns 0 or AF_ENOMEM. */
int af_turn_record_set(AfTurnRecord *out, const char *tool, const char *arg, const char *sub_goal,
                       AfToolStatus status, const char *result);

/* The reward functions shared by suites: exact (trimmed, case-insensitive) string match
 * and numeric equality (both sides parse as exact rationals, "1.5" == "3/2"). */
float af_judge_exact(const char *answer, const char *gold);
float af_judge_numeric(const char *answer, const char *gold);

#endif
