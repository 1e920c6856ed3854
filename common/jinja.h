/* A Jinja2 interpreter for the subset that Hugging Face chat templates use, with the
 * semantics transformers' apply_chat_template gets from Jinja2: a sandboxed
 * environment with trim_blocks and lstrip_blocks, Python str()/json.dumps renderings,
 * and the globals raise_exception, strftime_now, namespace and range. docs/chat-
 * templates.md lists the subset; anything outside it is refused when the template is
 * parsed, with its line and column, never guessed at. */
#ifndef AF_COMMON_JINJA_H
#define AF_COMMON_JINJA_H

#include <stddef.h>

#include <cjson/cJSON.h>

typedef struct AfJinja AfJinja;

/* cJSON keeps one double per number, so 1.0 and 1 read the same; Python's json.loads
 * makes the first a float, which renders as "1.0". A number item whose type carries
 * this bit (af_chat_json_parse sets it) was written with a fraction or an exponent and
 * is a float to the templates; any other integral number below 2^53 is an int. */
#define AF_JSON_FLOAT_FLAG 0x4000

/* Parse a template (len bytes, need not be NUL-terminated). Returns 0 and *out, or
 * AF_EFORMAT with "chat template:LINE:COL: ..." naming the refused construct (unknown
 * tag, filter or test, unterminated tag, syntax error), or AF_ENOMEM. */
int af_jinja_parse(const char *source, size_t len, AfJinja **out);
void af_jinja_destroy(AfJinja *tpl);

/* Render with the variables of a JSON object (ctx; NULL = none). On success *out is a
 * malloc'd NUL-terminated string the caller frees, *len its length in bytes (may be
 * NULL). Errors: AF_EINVAL for a render error (a type error, an undefined variable
 * used, a template's raise_exception("msg") gives the detail "chat template raised:
 * msg"), AF_ERANGE when a limit is hit (recursion depth, output or memory size),
 * AF_ENOMEM. The template may be rendered any number of times, from several threads. */
int af_jinja_render(const AfJinja *tpl, const cJSON *ctx, char **out, size_t *len);

#endif
