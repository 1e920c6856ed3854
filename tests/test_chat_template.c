/* Unit tests of the chat-template interpreter and loader: refusals name the construct
 * and its line:column, render errors carry the template's message, malformed and
 * mutated templates never crash, limits hold, named templates and chat_template.jinja
 * load, JSON floats stay floats, and the EOS set comes from both config files. (The
 * byte-for-byte comparison against Jinja2 is tests/hf/chat_ref.py.) */
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/chat_template.h"
#include "common/error.h"
#include "common/fsutil.h"
#include "common/jinja.h"
#include "tests/test_util.h"

/* Render src with ctx (JSON text or NULL); returns the code, *out the text or the error. */
static int render(const char *src, const char *ctx_json, char **out) {
    AfJinja *t = NULL;
    cJSON *ctx = NULL;
    *out = NULL;
    int rc = af_jinja_parse(src, strlen(src), &t);
    if (!rc && ctx_json) rc = af_chat_json_parse(ctx_json, strlen(ctx_json), &ctx);
    size_t n;
    if (!rc) rc = af_jinja_render(t, ctx, out, &n);
    if (rc) *out = strdup(af_error_detail());
    cJSON_Delete(ctx);
    af_jinja_destroy(t);
    return rc;
}

static void expect_text(const char *src, const char *ctx, const char *want) {
    char *out;
    int rc = render(src, ctx, &out);
    CHECK_MSG(rc == 0 && strcmp(out, want) == 0, "%s -> rc %d \"%s\", want \"%s\"", src, rc, out, want);
    free(out);
}

static void expect_error(const char *src, const char *ctx, int code, const char *needle) {
    char *out;
    int rc = render(src, ctx, &out);
    CHECK_MSG(rc == code && strstr(out, needle), "%s -> rc %d \"%s\", want %d with \"%s\"", src, rc, out, code, needle);
    free(out);
}

static void test_refusals(void) {
    expect_error("ok {{ x | frobnicate }}", NULL, AF_EFORMAT, "chat template:1:11: unsupported filter 'frobnicate'");
    expect_error("a\n  {% include 'x' %}", NULL, AF_EFORMAT, "chat template:2:6: unsupported tag 'include'");
    expect_error("{% if x is prime %}{% endif %}", NULL, AF_EFORMAT, "unsupported test 'prime'");
    expect_error("{% if x %}unclosed", NULL, AF_EFORMAT, "missing '{% endif %}'");
    expect_error("{{ x ", NULL, AF_EFORMAT, "unterminated '{{' tag");
    expect_error("{# no end", NULL, AF_EFORMAT, "unterminated comment");
    expect_error("{{ 'abc }}", NULL, AF_EFORMAT, "unterminated string literal");
    expect_error("{% endfor %}", NULL, AF_EFORMAT, "unexpected 'endfor'");
    expect_error("{{ f(*args) }}", NULL, AF_EFORMAT, "*args and **kwargs");
    expect_error("{% for x in y recursive %}{% endfor %}", NULL, AF_EFORMAT, "recursive for loops");
    expect_error("{{ x $ y }}", NULL, AF_EFORMAT, "unexpected character '$'");
    expect_error("{% raw %}{{ x }}{% endraw %}", NULL, AF_EFORMAT, "unsupported tag 'raw'");
    expect_error("{{ '%s' % 1 }}", NULL, AF_EINVAL, "printf-style string formatting");
}

static void test_render_errors(void) {
    expect_error("line1\n{{ raise_exception('Conversation roles must alternate') }}", NULL, AF_EINVAL,
                 "chat template raised: Conversation roles must alternate");
    expect_error("{{ missing.attr }}", NULL, AF_EINVAL, "chat template:1:11: 'missing' is undefined");
    expect_error("{{ 1 + 'a' }}", NULL, AF_EINVAL, "unsupported operand type(s) for +: 'int' and 'str'");
    expect_error("{{ 'x' in none }}", NULL, AF_EINVAL, "argument of type 'NoneType' is not iterable");
    expect_error("{{ 9223372036854775807 + 1 }}", NULL, AF_EFORMAT, "integer literal too large");
    expect_error("{{ 4611686018427387904 * 4 }}", NULL, AF_EFORMAT, "too large");
    expect_error("{% set n = 3037000499 %}{{ n * n * n }}", NULL, AF_ERANGE, "integer overflow");
    expect_error("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", NULL, AF_ERANGE, "nested deeper than");
    expect_error("{{ range(10000000) | length }}", NULL, AF_ERANGE, "range() longer than");
    expect_error("{% break %}", NULL, AF_EINVAL, "outside a for loop");
    /* hostile nesting is refused, not a stack overflow */
    size_t deep = 100000;
    char *src = malloc(4 * deep + 64);
    for (int kind = 0; kind < 4; kind++) {
        size_t n = 0;
        static const char *const open_[] = {"(", "-", "not ", "{% if x %}"};
        n += (size_t)sprintf(src + n, kind == 3 ? "" : "{{ ");
        for (size_t i = 0; i < (kind == 3 ? deep / 10 : deep); i++) n += (size_t)sprintf(src + n, "%s", open_[kind]);
        n += (size_t)sprintf(src + n, kind == 3 ? "" : "1");
        if (kind == 0)
            for (size_t i = 0; i < deep; i++) src[n++] = ')';
        src[n] = 0;
        if (kind != 3) strcat(src, " }}");
        expect_error(src, NULL, AF_EFORMAT, "nested too deeply");
    }
    free(src);
    expect_error("{{ 'a{}'.format(1) }}", NULL, AF_EINVAL, "'format' is undefined");
    expect_error("{% set x = 1 %}{% set x.y = 2 %}", NULL, AF_EINVAL, "non-namespace object");
}

static void test_semantics(void) {
    /* a few the Jinja2 comparison also covers, kept here so a plain unit run sees them */
    expect_text("{% for m in messages %}{{ loop.index }}{{ m.role[0] }}{% endfor %}",
                "{\"messages\": [{\"role\": \"user\"}, {\"role\": \"assistant\"}]}", "1u2a");
    expect_text("  {% if true %}\n  x\n  {% endif %}\n", NULL, "  x\n");
    expect_text("{{ v }} {{ v | tojson }} {{ w }} {{ [v, w, s] }}", "{\"v\": 1.0, \"w\": 1, \"s\": \"it's\"}",
                "1.0 1.0 1 [1.0, 1, \"it's\"]");
    expect_text("{{ d | tojson(indent=2) }}", "{\"d\": {\"a\": [1, {}], \"é\": \"ü\\n\"}}",
                "{\n  \"a\": [\n    1,\n    {}\n  ],\n  \"é\": \"ü\\n\"\n}");
    expect_text("{{ '{{ not evaluated }}' }}", NULL, "{{ not evaluated }}");
    expect_text("{{ s[::-1] }}|{{ s | length }}", "{\"s\": \"añ🙂\"}", "🙂ña|3");
}

/* Bytes flipped, cut and spliced in real-looking templates: parse or refuse, render or
 * fail, never crash (the _asan run checks memory). */
static void test_fuzz(void) {
    static const char *const seeds[] = {
        "{%- for message in messages %}{%- if message.role == 'user' %}{{ '<|im_start|>' + message.content | trim }}"
        "{%- elif message.tool_calls %}{% for c in message.tool_calls %}{{ c.function.arguments | tojson }}{% endfor %}"
        "{%- endif %}{%- endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
        "{% set ns = namespace(i=0) %}{% for m in messages[::-1] %}{% set ns.i = loop.index0 %}{% endfor %}"
        "{{ ns.i }}{% macro r(x, y=2) %}{{ x ~ y }}{% endmacro %}{{ r(1) }}{# c #}{{ (1, 2)[0] if x is defined else -1 }}",
    };
    const char *ctx_json = "{\"messages\": [{\"role\": \"user\", \"content\": \" hi \"}, {\"role\": \"assistant\", "
                           "\"content\": \"\", \"tool_calls\": [{\"function\": {\"name\": \"f\", \"arguments\": {\"a\": 1}}}]}],"
                           " \"add_generation_prompt\": true}";
    cJSON *ctx = NULL;
    CHECK(af_chat_json_parse(ctx_json, strlen(ctx_json), &ctx) == 0);
    uint64_t s = 0x9E3779B97F4A7C15ull;
    int parsed = 0, rendered = 0, total = 0;
    static const char alphabet[] = "{}%#-+()[]|.,:'\"\\ \n=~*/!<>abcxyz019_";
    for (int k = 0; k < 2; k++) {
        size_t n = strlen(seeds[k]);
        char *buf = malloc(n + 64);
        for (int iter = 0; iter < 1500; iter++) {
            memcpy(buf, seeds[k], n + 1);
            size_t len = n;
            int edits = 1 + (int)(s % 2);
            for (int e = 0; e < edits; e++) {
                s = s * 6364136223846793005ull + 1442695040888963407ull;
                size_t at = (size_t)(s >> 33) % len;
                int op = (int)((s >> 20) % 3);
                if (op == 0) buf[at] = alphabet[(s >> 40) % (sizeof alphabet - 1)];
                else if (op == 1 && len > 1) {
                    memmove(buf + at, buf + at + 1, len - at);
                    len--;
                } else len = at + 1;
                buf[len] = 0;
            }
            AfJinja *t = NULL;
            total++;
            if (af_jinja_parse(buf, len, &t) == 0) {
                parsed++;
                char *out = NULL;
                if (af_jinja_render(t, ctx, &out, NULL) == 0) rendered++;
                free(out);
                af_jinja_destroy(t);
            } else CHECK_MSG(strstr(af_error_detail(), "chat template:") != NULL, "refusal without position: %s",
                             af_error_detail());
        }
        free(buf);
    }
    fprintf(stderr, "fuzz: %d mutated templates, %d parsed, %d rendered\n", total, parsed, rendered);
    CHECK(parsed > 0 && parsed < total);
    cJSON_Delete(ctx);
}

static void write_file(const char *dir, const char *name, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    CHECK(af_write_file_atomic(path, text, strlen(text)) == 0);
}

static int lookup(void *user, const char *name, int32_t *id) {
    (void)user;
    if (strcmp(name, "<|eot_id|>") == 0) {
        *id = 128009;
        return 0;
    }
    if (strcmp(name, "<|end_of_text|>") == 0) {
        *id = 128001;
        return 0;
    }
    return AF_ENOTFOUND;
}

static void test_loader_and_eos(void) {
    char dir[] = "/tmp/af_chat_test_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    /* named templates: default / tool_use, special tokens as AddedToken objects */
    write_file(dir, "tokenizer_config.json",
               "{\"bos_token\": {\"content\": \"<s>\", \"__type\": \"AddedToken\"}, \"eos_token\": \"<|eot_id|>\","
               " \"chat_template\": [{\"name\": \"default\", \"template\": \"D{{ bos_token }}{{ messages | length }}\"},"
               " {\"name\": \"tool_use\", \"template\": \"T{{ tools | length }}{{ eos_token }}\"}]}");
    write_file(dir, "generation_config.json", "{\"eos_token_id\": [128001, 128008, 128009, 128001]}");
    AfChatTemplate *t = NULL;
    CHECK(af_chat_template_load(dir, &t) == 0);
    cJSON *msgs = cJSON_Parse("[{\"role\": \"user\", \"content\": \"x\"}]");
    cJSON *extra = cJSON_Parse("{\"tools\": [{\"name\": \"f\"}, {\"name\": \"g\"}]}");
    char *out = NULL;
    CHECK(af_chat_template_apply(t, msgs, 1, NULL, &out, NULL) == 0 && strcmp(out, "D<s>1") == 0);
    free(out);
    CHECK(af_chat_template_apply(t, msgs, 1, extra, &out, NULL) == 0 && strcmp(out, "T2<|eot_id|>") == 0);
    free(out);
    af_chat_template_destroy(t);

    AfChatEos eos;
    char path[512];
    CHECK(af_chat_eos_load(dir, &eos) == 0);
    CHECK_EQ_INT(eos.nids, 3);
    CHECK(eos.nnames == 1 && strcmp(eos.names[0], "<|eot_id|>") == 0);
    int32_t *ids = NULL;
    int n = 0;
    CHECK(af_chat_eos_ids(&eos, lookup, NULL, &ids, &n) == 0);
    CHECK_EQ_INT(n, 3); /* 128009 is already there */
    CHECK(n == 3 && ids[0] == 128001 && ids[1] == 128008 && ids[2] == 128009);
    free(ids);
    af_chat_eos_free(&eos);

    /* a single id, a name the tokenizer lacks, a bad id, chat_template.jinja, no template */
    write_file(dir, "generation_config.json", "{\"eos_token_id\": 2}");
    write_file(dir, "tokenizer_config.json", "{\"eos_token\": \"<|unknown|>\"}");
    write_file(dir, "chat_template.jinja", "J{{ eos_token }}\n");
    CHECK(af_chat_eos_load(dir, &eos) == 0 && eos.nids == 1 && eos.ids[0] == 2);
    CHECK(af_chat_eos_ids(&eos, lookup, NULL, &ids, &n) == AF_ENOTFOUND);
    CHECK_STR_CONTAINS(af_error_detail(), "<|unknown|>");
    af_chat_eos_free(&eos);
    CHECK(af_chat_template_load(dir, &t) == 0);
    CHECK(af_chat_template_apply(t, msgs, 0, NULL, &out, NULL) == 0 && strcmp(out, "J<|unknown|>") == 0);
    free(out);
    af_chat_template_destroy(t);
    /* special_tokens_map.json fills what tokenizer_config.json leaves unset */
    write_file(dir, "tokenizer_config.json", "{\"eos_token\": \"\", \"chat_template\": \"{{ bos_token }}|{{ eos_token }}|{{ pad_token }}\"}");
    write_file(dir, "special_tokens_map.json", "{\"bos_token\": \"<B>\", \"eos_token\": {\"content\": \"<E>\"}}");
    CHECK(af_chat_template_load(dir, &t) == 0);
    CHECK(af_chat_template_apply(t, msgs, 0, NULL, &out, NULL) == 0 && strcmp(out, "<B>|<E>|") == 0);
    free(out);
    af_chat_template_destroy(t);
    snprintf(path, sizeof path, "%s/special_tokens_map.json", dir);
    unlink(path);
    write_file(dir, "generation_config.json", "{\"eos_token_id\": [1, -3]}");
    CHECK(af_chat_eos_load(dir, &eos) == AF_EFORMAT);
    CHECK_STR_CONTAINS(af_error_detail(), "eos_token_id");
    snprintf(path, sizeof path, "%s/chat_template.jinja", dir);
    unlink(path);
    write_file(dir, "tokenizer_config.json", "{\"eos_token\": \"<|unknown|>\"}");
    CHECK(af_chat_template_load(dir, &t) == AF_ENOTFOUND);
    CHECK_STR_CONTAINS(af_error_detail(), "no chat_template");
    write_file(dir, "tokenizer_config.json", "{\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"x\"}]}");
    CHECK(af_chat_template_load(dir, &t) == 0);
    CHECK(af_chat_template_apply(t, msgs, 0, NULL, &out, NULL) == AF_ENOTFOUND);
    af_chat_template_destroy(t);
    write_file(dir, "tokenizer_config.json", "{\"chat_template\": \"{{ x | nope }}\"}");
    CHECK(af_chat_template_load(dir, &t) == AF_EFORMAT);
    CHECK_STR_CONTAINS(af_error_detail(), "tokenizer_config.json: chat template:1:8: unsupported filter 'nope'");
    write_file(dir, "tokenizer_config.json", "{\"chat_template\": ");
    CHECK(af_chat_template_load(dir, &t) == AF_EFORMAT);
    cJSON_Delete(msgs);
    cJSON_Delete(extra);
    static const char *const files[] = {"tokenizer_config.json", "generation_config.json", NULL};
    for (int i = 0; files[i]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

static void test_json_floats(void) {
    const char *text = "{\"a\": [1, 1.0, -2e3, 3, \"4.0\"], \"b\": {\"c\": 5.50, \"d\": 6}}";
    cJSON *j = NULL;
    CHECK(af_chat_json_parse(text, strlen(text), &j) == 0);
    const cJSON *a = cJSON_GetObjectItem(j, "a");
    int want[] = {0, 1, 1, 0};
    for (int i = 0; i < 4; i++) CHECK(((cJSON_GetArrayItem(a, i)->type & AF_JSON_FLOAT_FLAG) != 0) == want[i]);
    CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "b"), "c")->type & AF_JSON_FLOAT_FLAG);
    CHECK(!(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "b"), "d")->type & AF_JSON_FLOAT_FLAG));
    cJSON_Delete(j);
    CHECK(af_chat_json_parse("[1, ", 4, &j) == AF_EFORMAT && j == NULL);
}

int main(void) {
    test_refusals();
    test_render_errors();
    test_semantics();
    test_fuzz();
    test_loader_and_eos();
    test_json_floats();
    TEST_MAIN_END();
}
