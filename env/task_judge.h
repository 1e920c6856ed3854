/* The judges of the generic task suite (env/suite_task.h): reward functions in {0, 1}
 * of a candidate answer against a gold one, chosen per task (task.judge) or per line.
 *
 *   exact     SQuAD-style normalisation of both sides, then equality. Normalisation
 *             (af_task_normalize): ASCII lower case, every ASCII punctuation byte removed,
 *             the words "a", "an" and "the" removed, runs of whitespace made one space,
 *             trimmed. A gold answer that normalises to "" ("The") falls back to a trimmed,
 *             case-insensitive comparison.
 *   numeric   the candidate's number within tolerance of the gold one:
 *             |x - g| <= tolerance * max(1, |g|). A number is a decimal ("3.5", "-2e3") or a
 *             fraction ("7/2"); "$" and "," (thousands separators) are ignored. The whole
 *             candidate is read first, else its last number ("the total is 42." -> 42).
 *   choice    multiple choice over the line's "choices": gold and candidate each name an
 *             option by its letter ("B", "(B)", "B.", "B)") or by its text (exact
 *             normalisation); reward 1 iff they name the same option.
 *   regex     the gold answer is a POSIX extended regular expression, matched
 *             case-insensitively anywhere in the candidate (anchor with ^ and $).
 *   contains  the normalised gold answer occurs in the normalised candidate as whole words.
 *   openai    the judge module's OpenAI-compatible server (modules.judge.backend=openai).
 *   model     the judge module on the local frozen model (modules.judge.backend=model,
 *             actor/modules_model.h).
 * Every function here is pure and thread-safe; none calls af_error_set. */
#ifndef AF_ENV_TASK_JUDGE_H
#define AF_ENV_TASK_JUDGE_H

#include <regex.h>
#include <stddef.h>

typedef enum {
    AF_TJ_EXACT = 0,
    AF_TJ_NUMERIC,
    AF_TJ_CHOICE,
    AF_TJ_REGEX,
    AF_TJ_CONTAINS,
    AF_TJ_OPENAI,
    AF_TJ_MODEL,
    AF_TJ_COUNT
} AfTaskJudge;

/* The judge named `name` (the words above): 0, or -1 for an unknown name. */
int af_task_judge_parse(const char *name, AfTaskJudge *out);
const char *af_task_judge_name(AfTaskJudge j); /* static; "?" out of range */
/* "exact|numeric|choice|regex|contains|openai|model" (static) */
const char *af_task_judge_names(void);

/* The SQuAD normalisation of `in` into a malloc'd string; NULL on allocation failure. */
char *af_task_normalize(const char *in);

float af_task_judge_exact(const char *answer, const char *gold);
float af_task_judge_contains(const char *answer, const char *gold);
float af_task_judge_numeric(const char *answer, const char *gold, double tolerance);
/* regex: `re` compiled from the gold answer by af_task_regex_compile. */
float af_task_judge_regex(const regex_t *re, const char *answer);
float af_task_judge_choice(const char *answer, const char *gold, const char *const *choices, size_t n);

/* Reads a number as the numeric judge does (the whole text, else its last number):
 * 0 with *v set, or -1. whole_only = 1 accepts only the whole text. */
int af_task_number(const char *text, int whole_only, double *v);
/* The option `text` names among choices[0..n) (letter or normalised text), or -1. */
int af_task_choice_index(const char *text, const char *const *choices, size_t n);
/* Compiles a gold pattern (REG_EXTENDED | REG_ICASE | REG_NOSUB): 0, or -1 with the
 * reason in why. On success free with regfree. */
int af_task_regex_compile(const char *pattern, regex_t *re, char *why, size_t cap);

#endif
