/* The generic task suite ("task"): a user's questions and gold answers in JSONL, a judge
 * per task or per line, the tools the configuration enables. No C to write for a new task.
 *
 * ---- Task files (data.train, data.test; both required) ------------------------------
 * One JSON object per non-blank line:
 *   "question"  required, a non-empty string
 *   "answer"    required, a string or a number: the gold answer (for the regex judge a
 *               POSIX extended regular expression; for choice a letter or an option's text)
 *   "judge"     optional: this line's judge (env/task_judge.h), else task.judge
 *   "choices"   optional array of 2..26 strings (required by the choice judge); the
 *               question the planner sees gets " Choices: (A) first (B) second ..." appended
 *   "trace"     optional array of actions demonstrating the task, e.g.
 *               ["search capital of Wentoria", "answer Torgordra"]: the oracle replays it
 *               (warm start, `rollout --planner oracle`); its last action is "answer ..."
 *   "metadata"  optional, any JSON value: carried in the file, not used by the rules
 * Other keys are ignored. The planner's fixed vocabulary (env/vocab.h) is printable ASCII
 * plus pieces, so the question, the answer, the choices and the trace must be printable
 * ASCII (bytes 32..126): any other byte is an error naming file:line, the field and the
 * byte's position (transliterate before training; no silent substitution). Errors name
 * file:line and the field: a missing or mistyped field, an unknown judge, a judge the
 * configured judge backend cannot serve, a trace action naming a tool the configuration
 * does not enable, a gold answer the judge cannot read (a numeric gold that is not a
 * number, a bad regex, a choice gold naming no option).
 *
 * ---- Tools ----------------------------------------------------------------------------
 * `search` (tools.search.corpus: env/search_index.h), `calculator` (tools.calculator.enabled:
 * env/calc.h), then `answer` (always), and the world adds `python` and `http` when enabled.
 *
 * ---- Builtin rules --------------------------------------------------------------------
 * Action "TOOL ARG" (env/suite.h grammar). Executor: "answer TEXT" makes no tool call
 * (status no_call, result "final answer"; an empty TEXT is a bad action); "stop" likewise;
 * any other tool is called with ARG; an unknown tool is a bad action. Verifier: stops
 * after an "answer" (or "stop") turn; the episode's max turns end it otherwise.
 * Generator: the TEXT of the last "answer" turn, else the result of the last successful
 * tool call, else "". Judge: the item's judge (above). Oracle: the line's trace, action
 * by action (turn n plays the n-th; past its end the last); a line without a trace has
 * none (AF_ENOTFOUND). Random valid action: a uniformly drawn tool with a uniformly
 * drawn word of the question as its argument. */
#ifndef AF_ENV_SUITE_TASK_H
#define AF_ENV_SUITE_TASK_H

#include <stddef.h>

#include "env/suite.h"
#include "env/task_judge.h"

typedef struct AfTaskOptions {
    AfTaskJudge judge;          /* task.judge: the default judge */
    double tolerance;           /* task.tolerance: numeric judge */
    const char *judge_backend;  /* modules.judge.backend's name: "builtin", "openai", ... */
    int calculator;             /* tools.calculator.enabled */
    const char *corpus;         /* tools.search.corpus ("" or NULL: no search tool) */
    const char *index_dir;      /* tools.search.index_dir ("" or NULL: CORPUS.index) */
    size_t top_k, max_bytes;    /* tools.search.top_k, tools.search.max_bytes */
    int python, http;           /* the world adds these tools (for checking traces) */
} AfTaskOptions;

/* Creates the task suite from opts (opts->task required, opts->train_jsonl and
 * opts->test_jsonl required). Returns 0, AF_ECONFIG (a missing option, a bad task file
 * or corpus: the message names data.train / data.test / tools.search.corpus and
 * file:line), AF_ELMDB, AF_EIO, AF_ENOMEM. */
int af_suite_task_create(const AfSuiteOptions *opts, AfSuite **out);

#endif
