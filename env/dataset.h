/* A suite's questions: an ordered list of items, generated or loaded from JSONL.
 *
 * JSONL format, one object per non-blank line:
 *   {"question": "4 7 8 8"}                                   (required, non-empty string)
 *   {"question": "...", "answer": "42"}                       (optional string or number)
 *   {"question": "...", "answer": 42, "solution": "calculator 6*7"}  (optional string: an oracle
 *                                                              plan, actions separated by '\n')
 * Other keys are ignored. One object per line: anything but blanks after it is an error.
 * Errors name file:line and the field. */
#ifndef AF_ENV_DATASET_H
#define AF_ENV_DATASET_H

#include <stddef.h>

/* Longest question, answer or solution a JSONL line may give, in bytes: each is copied
 * into trajectory strings, which the learner caps at 1 << 16 bytes (max_string_bytes). */
#define AF_ITEM_MAX_BYTES (1u << 16)

typedef struct AfItem {
    char *question; /* never NULL */
    char *answer;   /* gold answer, "" when the judge needs none (game24) */
    char *solution; /* oracle plan (actions separated by '\n'), NULL if unknown */
} AfItem;

typedef struct AfDataset {
    AfItem *items; /* (n) */
    size_t n;
    size_t cap;
} AfDataset;

/* Suite-specific validation of a loaded item: 0 if acceptable, else non-zero with a
 * reason in why (cap bytes) that names the field. */
typedef int (*AfItemCheck)(void *ctx, const AfItem *item, char *why, size_t cap);

int af_dataset_create(AfDataset **out);          /* empty; 0 or AF_ENOMEM */
void af_dataset_destroy(AfDataset *ds);           /* accepts NULL */

/* Appends copies of the strings (answer NULL -> "", solution may be NULL). 0 or AF_ENOMEM. */
int af_dataset_add(AfDataset *ds, const char *question, const char *answer, const char *solution);

/* Loads a JSONL file. check (may be NULL) validates each item. Returns 0,
 * AF_EIO (cannot open/read), AF_EFORMAT ("path:line: ..." for bad JSON, text after the
 * object, a missing or mistyped field, a field longer than AF_ITEM_MAX_BYTES, or a check
 * failure), AF_EINVAL (the file has no items), AF_ENOMEM. */
/* Calls fn for each object of a JSONL file (one object per non-blank line), with its line
 * number. fn returns 0, or non-zero with a reason in why naming the field (the line is
 * then an AF_EFORMAT error "path:line: why"), or a negative AF_E* code of its own
 * (AF_ENOMEM) returned as is. Returns 0, AF_EIO (cannot open/read), AF_EFORMAT (bad
 * JSON, text after the object, a NUL byte, fn's reason), or fn's code. *n_objects (may
 * be NULL) counts the objects seen. */
struct cJSON;
typedef int (*AfJsonlFn)(void *ctx, const struct cJSON *obj, size_t lineno, char *why, size_t cap);
int af_jsonl_foreach(const char *path, AfJsonlFn fn, void *ctx, size_t *n_objects);

/* A JSON number as an answer's text: an integer without a fraction ("42"), else %.17g. */
void af_json_number_text(double v, char *buf, size_t cap);

int af_dataset_load_jsonl(const char *path, AfItemCheck check, void *ctx, AfDataset **out);

#endif
