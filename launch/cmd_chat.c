/* agentflow chat-template --model DIR: renders a conversation (JSON on stdin) with the
 * model's own chat template and prints the text, byte for byte what transformers'
 * apply_chat_template produces. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/chat_template.h"
#include "common/error.h"
#include "launch/commands.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: agentflow chat-template --model DIR [--no-generation-prompt] [--var KEY=JSON]... < messages.json\n"
            "  Reads a JSON list of messages ({\"role\", \"content\", ...}), or an object with\n"
            "  \"messages\" and other template variables (\"tools\", \"enable_thinking\", ...), and\n"
            "  prints it rendered with DIR/tokenizer_config.json's chat_template (no newline\n"
            "  added). The generation prompt is added unless --no-generation-prompt (or the\n"
            "  object sets add_generation_prompt). --var sets a variable, e.g.\n"
            "  --var enable_thinking=false.\n");
}

static char *read_stdin(size_t *len) {
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    for (;;) {
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, stdin);
        n += r;
        if (r == 0) break;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

int af_cmd_chat_template(int argc, char **argv) {
    const char *dir = NULL;
    int gen_prompt = 1, code = 2;
    const char *vars[64];
    int nvars = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--no-generation-prompt") == 0) {
            gen_prompt = 0;
            continue;
        }
        int takes_value = strcmp(argv[i], "--model") == 0 || strcmp(argv[i], "--var") == 0;
        if (takes_value && i + 1 >= argc) {
            fprintf(stderr, "agentflow chat-template: %s needs a value\n", argv[i]);
            usage(stderr);
            return 2;
        }
        if (strcmp(argv[i], "--model") == 0) dir = argv[++i];
        else if (strcmp(argv[i], "--var") == 0) {
            if (nvars == 64 || !strchr(argv[i + 1], '=')) {
                fprintf(stderr, "agentflow chat-template: --var: expected KEY=JSON (at most 64), got \"%s\"\n", argv[i + 1]);
                return 2;
            }
            vars[nvars++] = argv[++i];
        } else {
            fprintf(stderr, "agentflow chat-template: unknown option %s\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!dir) {
        fprintf(stderr, "agentflow chat-template: --model is required\n");
        usage(stderr);
        return 2;
    }
    AfChatTemplate *t = NULL;
    cJSON *in = NULL, *ctx = NULL;
    char *text = NULL, *out = NULL;
    size_t len = 0, outlen = 0;
    int rc = af_chat_template_load(dir, &t);
    if (rc) {
        fprintf(stderr, "agentflow chat-template: %s\n", af_error_detail());
        goto done;
    }
    if (!(text = read_stdin(&len))) {
        fprintf(stderr, "agentflow chat-template: cannot read stdin\n");
        code = 1;
        goto done;
    }
    af_chat_json_parse(text, len, &in);
    if (!in || !(cJSON_IsArray(in) || cJSON_IsObject(in))) {
        fprintf(stderr, "agentflow chat-template: stdin: expected a JSON list of messages or an object with \"messages\"%s\n",
                in ? "" : " (malformed JSON)");
        goto done;
    }
    if (cJSON_IsArray(in)) {
        ctx = cJSON_CreateObject();
        if (!ctx) goto oom;
        cJSON_AddItemToObject(ctx, "messages", in);
        in = NULL;
    } else {
        ctx = in;
        in = NULL;
        if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(ctx, "messages"))) {
            fprintf(stderr, "agentflow chat-template: stdin: \"messages\" must be a list\n");
            goto done;
        }
    }
    if (!cJSON_GetObjectItemCaseSensitive(ctx, "add_generation_prompt") &&
        !cJSON_AddBoolToObject(ctx, "add_generation_prompt", gen_prompt))
        goto oom;
    if (!gen_prompt) cJSON_ReplaceItemInObjectCaseSensitive(ctx, "add_generation_prompt", cJSON_CreateFalse());
    for (int i = 0; i < nvars; i++) {
        const char *eq = strchr(vars[i], '=');
        char key[128];
        snprintf(key, sizeof key, "%.*s", (int)(eq - vars[i] < 127 ? eq - vars[i] : 127), vars[i]);
        cJSON *v = NULL;
        af_chat_json_parse(eq + 1, strlen(eq + 1), &v);
        if (!v) {
            fprintf(stderr, "agentflow chat-template: --var %s: the value is not JSON (strings need quotes)\n", key);
            goto done;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(ctx, key);
        cJSON_AddItemToObject(ctx, key, v);
    }
    rc = af_chat_template_render(t, ctx, &out, &outlen);
    if (rc) {
        fprintf(stderr, "agentflow chat-template: %s\n", af_error_detail());
        code = rc == AF_ENOMEM ? 1 : 2;
        goto done;
    }
    code = fwrite(out, 1, outlen, stdout) == outlen && fflush(stdout) == 0 ? 0 : 1;
    goto done;
oom:
    fprintf(stderr, "agentflow chat-template: out of memory\n");
    code = 1;
done:
    free(out);
    free(text);
    cJSON_Delete(in);
    cJSON_Delete(ctx);
    af_chat_template_destroy(t);
    return code;
}
