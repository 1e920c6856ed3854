/* Exact arithmetic expressions and the `calculator` tool.
 *
 * Grammar (whitespace allowed between tokens):
 *   expr    := term (("+" | "-") term)*
 *   term    := unary (("*" | "/") unary)*
 *   unary   := "-" unary | primary
 *   primary := INTEGER | "(" expr ")"
 *   INTEGER := [0-9]+            (fits in int64)
 * Evaluation is exact (env/rational.h): 8/(3-8/3) is 24. Limits: AF_CALC_MAX_LEN bytes,
 * nesting depth AF_CALC_MAX_DEPTH, AF_CALC_MAX_LITERALS integer literals. */
#ifndef AF_ENV_CALC_H
#define AF_ENV_CALC_H

#include <stddef.h>
#include <stdint.h>

#include "env/rational.h"
#include "env/tool.h"

#define AF_CALC_MAX_LEN 512
#define AF_CALC_MAX_DEPTH 32
#define AF_CALC_MAX_LITERALS 32

typedef struct AfCalcInfo {
    AfRational value;
    int64_t literals[AF_CALC_MAX_LITERALS]; /* integer literals in order of appearance */
    int n_literals;
    int unary_minus; /* 1 if a unary minus occurs */
} AfCalcInfo;

/* Evaluates `expr`. Returns 0 with *info filled, or
 *   AF_EINVAL  bad expression (syntax, too long, too deep, too many literals),
 *   AF_ERANGE  a literal or an intermediate value overflows int64,
 *   AF_ETOOL   division by zero,
 * with a one-line reason in err (cap bytes; may be NULL) that names the offending
 * position. Never crashes on arbitrary bytes. Does not touch af_error_set (it is
 * called on untrusted planner text every turn). */
int af_calc_eval(const char *expr, AfCalcInfo *info, char *err, size_t cap);

/* The `calculator` tool: call(arg) evaluates arg; result text is the exact value
 * ("24", "-1/3") with status AF_TOOL_OK, or the reason with AF_TOOL_ERROR. The tool is
 * heap-allocated; destroy with af_tool_destroy(). Returns 0 or AF_ENOMEM. */
int af_calc_tool_create(AfTool **out);


#endif
