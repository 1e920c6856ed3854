/* A model's chat template: the Jinja2 template of its tokenizer_config.json rendered
 * the way transformers' apply_chat_template renders it (same variables, same Jinja2
 * environment), and the end-of-sequence set from generation_config.json and the
 * tokenizer config. docs/chat-templates.md describes the subset and its verification. */
#ifndef AF_COMMON_CHAT_TEMPLATE_H
#define AF_COMMON_CHAT_TEMPLATE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

typedef struct AfChatTemplate AfChatTemplate;

/* Load DIR/tokenizer_config.json's "chat_template": a string, or a list of
 * {"name", "template"} (the named templates of transformers). Without one there,
 * DIR/chat_template.jinja is read. The config's special tokens (bos_token, eos_token,
 * unk_token, sep_token, pad_token, cls_token, mask_token, additional_special_tokens;
 * strings or {"content": ...} objects; those it leaves unset are taken from
 * DIR/special_tokens_map.json when present) become template variables.
 * Errors: AF_ENOTFOUND (no tokenizer_config.json, or no template in it or beside it),
 * AF_EFORMAT (malformed JSON in either file, a chat_template of the wrong type, a template outside
 * the supported subset: the message names the construct and its line:column),
 * AF_EIO, AF_ENOMEM. */
int af_chat_template_load(const char *model_dir, AfChatTemplate **out);

/* A template from its source; tokenizer_config (may be NULL) supplies the special
 * tokens as above. The template copies what it needs; the arguments may be freed. */
int af_chat_template_create(const char *source, const cJSON *tokenizer_config, AfChatTemplate **out);

void af_chat_template_destroy(AfChatTemplate *t);

/* Render a context object: "messages" (list of {role, content, ...}) and any other
 * variables ("tools", "documents", "add_generation_prompt", "enable_thinking", ...).
 * As apply_chat_template does, tools and documents default to None,
 * add_generation_prompt to false, and the special tokens are passed unless ctx sets
 * them. With named templates, "tool_use" is chosen when ctx has tools and that name
 * exists, else "default" (AF_ENOTFOUND if there is none). *out is malloc'd
 * (NUL-terminated, *len bytes; len may be NULL). Errors: AF_EINVAL for a render error
 * (the template's raise_exception message reads "chat template raised: MSG"),
 * AF_ERANGE for a size limit, AF_ENOMEM. */
int af_chat_template_render(const AfChatTemplate *t, const cJSON *ctx, char **out, size_t *len);

/* Convenience: render messages (a JSON array) with add_generation_prompt, and extra
 * variables (a JSON object or NULL: tools, enable_thinking, ...). */
int af_chat_template_apply(const AfChatTemplate *t, const cJSON *messages, int add_generation_prompt,
                           const cJSON *extra, char **out, size_t *len);

/* Parse JSON text (len bytes) as Python's json.loads would see it: like cJSON, with
 * each number written with a fraction or exponent (1.0, 1e3) marked as a float
 * (AF_JSON_FLOAT_FLAG in common/jinja.h), so that it renders as Python renders it.
 * Returns 0 and *out (cJSON_Delete it), or AF_EFORMAT naming the byte offset. */
int af_chat_json_parse(const char *text, size_t len, cJSON **out);

/* End of sequence. generation_config.json's eos_token_id (an int or a list) gives
 * ids; tokenizer_config.json's eos_token gives a token name that the tokenizer
 * resolves. Either file may be absent. */
typedef struct AfChatEos {
    int32_t *ids;  /* from generation_config.json, in file order, no duplicates */
    int nids;
    char **names;  /* from tokenizer_config.json (eos_token), to resolve */
    int nnames;
} AfChatEos;

/* Fills *out (zeroed first). Errors: AF_EFORMAT for a malformed file or an
 * eos_token_id that is not a non-negative int or list of them; AF_ENOMEM. */
int af_chat_eos_load(const char *model_dir, AfChatEos *out);
void af_chat_eos_free(AfChatEos *e);

/* The tokenizer's name -> id lookup: 0 and *id, or AF_ENOTFOUND. */
typedef int (*AfChatTokenLookup)(void *user, const char *name, int32_t *id);

/* The EOS id set: the ids, then each name's id not already present. A name the
 * tokenizer does not know is AF_ENOTFOUND naming it. *ids is malloc'd (*n may be 0). */
int af_chat_eos_ids(const AfChatEos *e, AfChatTokenLookup lookup, void *user, int32_t **ids, int *n);

#endif
