/* Renders the cases tests/hf/chat_ref.py wrote (JSONL: model dir or template source,
 * context, and Jinja2's result) with the C chat-template renderer and compares byte
 * for byte. Where Jinja2 raised, the C side must fail too (and carry the message of a
 * raise_exception). Prints the first mismatches with a diff; exits 1 on any. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/chat_template.h"
#include "common/error.h"
#include "common/fsutil.h"

#define MAX_MODELS 32

static void show(const char *label, const char *s, size_t n, size_t at) {
    size_t a = at > 60 ? at - 60 : 0, b = at + 60 < n ? at + 60 : n;
    fprintf(stderr, "  %s [%zu..%zu of %zu]: \"", label, a, b, n);
    for (size_t i = a; i < b; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i == at) fputs("\x1b[7m", stderr);
        if (c == '\n') fputs("\\n", stderr);
        else if (c == '\\') fputs("\\\\", stderr);
        else if (c < 0x20 || c == 0x7f) fprintf(stderr, "\\x%02x", c);
        else fputc(c, stderr);
        if (i == at) fputs("\x1b[0m", stderr);
    }
    fputs("\"\n", stderr);
}

/* The first differing byte, as line:column of the expected text, and both sides. */
static void diff(const char *want, size_t wn, const char *got, size_t gn) {
    size_t i = 0, line = 1, col = 1;
    while (i < wn && i < gn && want[i] == got[i]) {
        if (want[i] == '\n') line++, col = 1;
        else col++;
        i++;
    }
    fprintf(stderr, "  first difference at byte %zu (line %zu, column %zu)\n", i, line, col);
    show("jinja2", want, wn, i);
    show("C     ", got, gn, i);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: chat_template_check CASES.jsonl\n");
        return 2;
    }
    char *text = NULL;
    size_t len = 0;
    if (af_read_file(argv[1], (size_t)1 << 30, &text, &len)) {
        fprintf(stderr, "chat_template_check: %s\n", af_error_detail());
        return 2;
    }
    struct {
        char *dir;
        AfChatTemplate *t;
    } models[MAX_MODELS];
    int nmodels = 0, ncases = 0, bad = 0, errors_agreed = 0;
    char *line = text;
    while (line && *line) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        cJSON *c = NULL;
        af_chat_json_parse(line, strlen(line), &c);
        line = nl ? nl + 1 : NULL;
        if (!c) {
            fprintf(stderr, "chat_template_check: malformed case line\n");
            bad++;
            continue;
        }
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(c, "id"));
        const char *model = cJSON_GetStringValue(cJSON_GetObjectItem(c, "model"));
        const char *src = cJSON_GetStringValue(cJSON_GetObjectItem(c, "template"));
        int want_ok = cJSON_IsTrue(cJSON_GetObjectItem(c, "ok"));
        const char *want = cJSON_GetStringValue(cJSON_GetObjectItem(c, want_ok ? "text" : "error"));
        AfChatTemplate *t = NULL, *own = NULL;
        int rc = 0;
        if (model) {
            for (int i = 0; i < nmodels; i++)
                if (strcmp(models[i].dir, model) == 0) t = models[i].t;
            if (!t) {
                rc = af_chat_template_load(model, &t);
                if (!rc && nmodels < MAX_MODELS) {
                    models[nmodels].dir = strdup(model);
                    models[nmodels++].t = t;
                } else if (!rc) own = t;
            }
        } else {
            rc = af_chat_template_create(src ? src : "", cJSON_GetObjectItem(c, "config"), &own);
            t = own;
        }
        char *out = NULL;
        size_t outn = 0;
        if (!rc) rc = af_chat_template_render(t, cJSON_GetObjectItem(c, "ctx"), &out, &outn);
        ncases++;
        if (want_ok && rc) {
            if (bad++ < 5)
                fprintf(stderr, "MISMATCH %s: jinja2 renders, C fails: %s\n", id, af_error_detail());
        } else if (!want_ok && !rc) {
            if (bad++ < 5) {
                fprintf(stderr, "MISMATCH %s: jinja2 raises (%s), C renders %zu bytes\n", id, want, outn);
                show("C", out, outn, 0);
            }
        } else if (!want_ok) {
            errors_agreed++;
            /* a template's own raise_exception message must come through */
            const char *m = strstr(want ? want : "", "TemplateError: ");
            if (m && !strstr(af_error_detail(), m + strlen("TemplateError: "))) {
                if (bad++ < 5)
                    fprintf(stderr, "MISMATCH %s: jinja2 raised \"%s\", C says \"%s\"\n", id, m, af_error_detail());
            }
        } else if (outn != strlen(want) || memcmp(out, want, outn) != 0) {
            if (bad++ < 5) {
                fprintf(stderr, "MISMATCH %s:\n", id);
                diff(want, strlen(want), out, outn);
            }
        }
        free(out);
        af_chat_template_destroy(own);
        cJSON_Delete(c);
    }
    for (int i = 0; i < nmodels; i++) {
        free(models[i].dir);
        af_chat_template_destroy(models[i].t);
    }
    free(text);
    printf("chat_template_check: %d cases, %d identical or both raising (%d raise), %d mismatches\n", ncases,
           ncases - bad, errors_agreed, bad);
    return bad ? 1 : 0;
}
