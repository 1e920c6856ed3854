/* The planner in text: prompt messages, chat-template rendering and encoding, stop
 * strings, and the tolerant action parser (see text_planner.h). */
#include "actor/text_planner.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/chat_template.h"
#include "common/error.h"
#include "env/vocab.h"

struct AfTextCodec {
    AfTokenizer *tok;
    AfChatTemplate *tpl;
    char **stop;
    size_t n_stop;
};

int af_text_dir_has_tokenizer(const char *dir) {
    if (!dir || !dir[0]) return 0;
    char path[4096];
    if (snprintf(path, sizeof path, "%s/tokenizer.json", dir) >= (int)sizeof path) return 0;
    return access(path, R_OK) == 0;
}

void af_text_stop_free(char **s, size_t n) {
    for (size_t i = 0; i < n && s; i++) free(s[i]);
    free(s);
}

int af_text_stop_split(const char *spec, char ***out, size_t *n) {
    *out = NULL;
    *n = 0;
    if (!spec || !spec[0]) return 0;
    size_t len = strlen(spec), cap = 1;
    for (size_t i = 0; i < len; i++) cap += spec[i] == '|';
    char **v = calloc(cap, sizeof *v);
    char *cur = malloc(len + 1);
    if (!v || !cur) goto nomem;
    size_t k = 0, m = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || spec[i] == '|') {
            if (m == 0) {
                af_text_stop_free(v, k);
                free(cur);
                return af_error_set(AF_EINVAL, "rollout.stop: an empty stop string (strings are separated by |)");
            }
            if (!(v[k] = strndup(cur, m))) goto nomem;
            k++;
            m = 0;
            continue;
        }
        if (spec[i] == '\\') {
            char e = i + 1 < len ? spec[++i] : 0;
            char c = e == 'n' ? '\n' : e == 't' ? '\t' : e == '\\' ? '\\' : e == '|' ? '|' : 0;
            if (!c) {
                af_text_stop_free(v, k);
                free(cur);
                return af_error_set(AF_EINVAL, "rollout.stop: bad escape at byte %zu (\\| \\n \\t \\\\)", i + 1);
            }
            cur[m++] = c;
        } else {
            cur[m++] = spec[i];
        }
    }
    free(cur);
    *out = v;
    *n = k;
    return 0;
nomem:
    af_text_stop_free(v, cap);
    free(cur);
    return af_error_set(AF_ENOMEM, "stop strings");
}

void af_text_codec_destroy(AfTextCodec *c) {
    if (!c) return;
    af_tokenizer_destroy(c->tok);
    af_chat_template_destroy(c->tpl);
    af_text_stop_free(c->stop, c->n_stop);
    free(c);
}

AfTokenizer *af_text_codec_tokenizer(const AfTextCodec *c) { return c->tok; }
int af_text_codec_is_eos(const AfTextCodec *c, uint32_t id) { return af_tokenizer_is_eos(c->tok, id); }
size_t af_text_codec_n_stop(const AfTextCodec *c) { return c->n_stop; }

long af_text_codec_find_stop(const AfTextCodec *c, const char *text, size_t len, size_t from) {
    long best = -1;
    for (size_t i = 0; i < c->n_stop; i++) {
        size_t sl = strlen(c->stop[i]);
        if (sl > len) continue;
        size_t start = from >= sl ? from - sl + 1 : 0; /* matches ending at or after from */
        if (start > len - sl) start = len - sl + 1;
        for (size_t p = start; p + sl <= len; p++)
            if (!memcmp(text + p, c->stop[i], sl)) {
                if (best < 0 || (long)p < best) best = (long)p;
                break;
            }
    }
    return best;
}

/* ---- prompt ---------------------------------------------------------------------- */

/* Appends s[0..n) with control bytes as spaces. */
static int put_clean(AfBytes *b, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char c = (unsigned char)s[i] < 32 || s[i] == 127 ? ' ' : s[i];
        if (af_bytes_append(b, &c, 1)) return AF_ENOMEM;
    }
    return 0;
}
static int put(AfBytes *b, const char *s) { return af_bytes_append(b, s, strlen(s)); }

/* The argument format of the built-in tools (their one-line descriptions name the
 * operation, not the format the suite's executor checks: env/suites.h). */
static const char *tool_format(const char *name) {
    if (!strcmp(name, "calculator"))
        return "an expression with + - * / and parentheses over the numbers of the question, each used at most as "
               "often as it is given, and #k for the value of the successful turn k (example: (8-4)*#1)";
    if (!strcmp(name, "search")) return "the name of one entity (example: Dratam Praravi)";
    return NULL;
}

static const char SYSTEM_TEXT[] =
    "You are the planner of an agent that answers a question with tools. Each turn you choose "
    "the next step: one tool call. Its result is added to the memory, a verifier decides "
    "whether the memory is enough, and a generator writes the final answer from it.\n"
    "Reply in exactly this format and nothing else:\n"
    "Sub-goal: <what this step should achieve>\n"
    "Tool: <one tool name from the list>\n"
    "Command: <the argument for the tool>";

int af_text_prompt_messages(const AfSuite *suite, const char *question, const AfTurnRecord *turns, size_t first,
                            size_t n, size_t result_bytes, cJSON **out) {
    *out = NULL;
    AfBytes u = {0};
    int rc = 0;
    const char *q = question ? question : "";
    if (put(&u, "Question: ") || put_clean(&u, q, strlen(q)) || put(&u, "\n\nTools:\n")) goto nomem;
    for (size_t i = 0; i < suite->n_tools; i++) {
        const AfTool *t = suite->tools[i];
        if (put(&u, "- ") || put(&u, t->name) || put(&u, ": ") ||
            put_clean(&u, t->description ? t->description : "", strlen(t->description ? t->description : "")))
            goto nomem;
        const char *fmt = tool_format(t->name);
        if (fmt && (put(&u, ". Command: ") || put(&u, fmt))) goto nomem;
        if (t->example && (put(&u, " (example command: ") || put_clean(&u, t->example, strlen(t->example)) || put(&u, ")")))
            goto nomem;
        if (put(&u, "\n")) goto nomem;
    }
    if (put(&u, "- stop: end the episode when the memory holds what the answer needs (no command)\n\nMemory:\n"))
        goto nomem;
    if (first >= n && put(&u, "(empty: this is the first step)\n")) goto nomem;
    for (size_t i = first; i < n; i++) {
        const AfTurnRecord *r = &turns[i];
        char num[32];
        snprintf(num, sizeof num, "%zu. ", i + 1);
        if (put(&u, num)) goto nomem;
        if (r->tool && r->tool[0]) {
            if ((r->sub_goal && r->sub_goal[0] &&
                 (put(&u, "Sub-goal: ") || put_clean(&u, r->sub_goal, strlen(r->sub_goal)) || put(&u, "; "))) ||
                put(&u, "Tool: ") || put_clean(&u, r->tool, strlen(r->tool)) || put(&u, "; Command: ") ||
                put_clean(&u, r->argument ? r->argument : "", strlen(r->argument ? r->argument : "")) || put(&u, "; "))
                goto nomem;
        } else if (put(&u, "Unreadable reply; ")) {
            goto nomem;
        }
        const char *res = r->result ? r->result : "";
        size_t rl = strlen(res), cut = rl > result_bytes ? result_bytes : rl;
        if (put(&u, "Status: ") || put(&u, af_tool_status_name(r->status)) || put(&u, "; Result: ") ||
            put_clean(&u, res, cut) || (cut < rl && put(&u, "...")) || put(&u, "\n"))
            goto nomem;
    }
    if (put(&u, "\nWhat is the next step? Reply with the three lines Sub-goal, Tool and Command.")) goto nomem;

    cJSON *msgs = cJSON_CreateArray(), *m;
    if (!msgs) goto nomem;
    *out = msgs;
    if (!(m = cJSON_CreateObject()) || (cJSON_AddItemToArray(msgs, m), 0) || !cJSON_AddStringToObject(m, "role", "system") ||
        !cJSON_AddStringToObject(m, "content", SYSTEM_TEXT))
        goto nomem;
    if (!(m = cJSON_CreateObject()) || (cJSON_AddItemToArray(msgs, m), 0) || !cJSON_AddStringToObject(m, "role", "user") ||
        !cJSON_AddStringToObject(m, "content", u.data))
        goto nomem;
    af_bytes_free(&u);
    return rc;
nomem:
    af_bytes_free(&u);
    cJSON_Delete(*out);
    *out = NULL;
    return af_error_set(AF_ENOMEM, "planner prompt");
}

int af_text_prompt_encode(AfTextCodec *c, const cJSON *messages, char **text, AfTokenIds *ids) {
    *text = NULL;
    size_t len = 0;
    int rc = af_chat_template_apply(c->tpl, messages, 1, NULL, text, &len);
    if (rc) return rc;
    size_t pos = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, messages) {
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (!cJSON_IsString(content) || !content->valuestring[0]) continue;
        const char *s = content->valuestring;
        size_t sl = strlen(s);
        const char *hit = NULL;
        for (size_t p = pos; p + sl <= len; p++)
            if ((*text)[p] == s[0] && !memcmp(*text + p, s, sl)) {
                hit = *text + p;
                break;
            }
        if (!hit) {
            rc = af_error_set(AF_EINVAL, "the chat template does not keep a message's content verbatim: it cannot be "
                                         "encoded apart from the template's own special tokens");
            goto fail;
        }
        size_t at = (size_t)(hit - *text);
        if ((rc = af_tokenizer_encode(c->tok, *text + pos, at - pos, ids)) ||
            (rc = af_tokenizer_encode_flags(c->tok, hit, sl, AF_ENCODE_ORDINARY, ids)))
            goto fail;
        pos = at + sl;
    }
    if ((rc = af_tokenizer_encode(c->tok, *text + pos, len - pos, ids))) goto fail;
    return 0;
fail:
    free(*text);
    *text = NULL;
    return rc;
}

int af_text_codec_load(const char *dir, const char *stop_spec, AfTextCodec **out) {
    *out = NULL;
    AfTextCodec *c = calloc(1, sizeof *c);
    if (!c) return af_error_set(AF_ENOMEM, "text codec");
    int rc;
    if ((rc = af_tokenizer_load(dir, &c->tok))) goto fail;
    if ((rc = af_chat_template_load(dir, &c->tpl))) {
        rc = af_error_wrap(rc, "%s: the planner needs the model's chat template", dir);
        goto fail;
    }
    if ((rc = af_text_stop_split(stop_spec, &c->stop, &c->n_stop))) {
        rc = AF_ECONFIG;
        goto fail;
    }
    { /* probe: the template keeps contents verbatim */
        AfSuite probe = {.name = "probe"};
        AfTurnRecord t = {.sub_goal = "s", .tool = "t", .argument = "a", .result = "r"};
        cJSON *msgs = NULL;
        char *text = NULL;
        AfTokenIds ids = {0};
        if ((rc = af_text_prompt_messages(&probe, "q", &t, 0, 1, 64, &msgs))) goto fail;
        rc = af_text_prompt_encode(c, msgs, &text, &ids);
        cJSON_Delete(msgs);
        free(text);
        af_token_ids_free(&ids);
        if (rc) {
            rc = af_error_wrap(rc == AF_EINVAL ? AF_ECONFIG : rc, "%s: chat template", dir);
            goto fail;
        }
    }
    *out = c;
    return 0;
fail:
    af_text_codec_destroy(c);
    return rc;
}

/* ---- action parsing -------------------------------------------------------------- */

typedef struct {
    const char *s, *e;
} Span;

static Span trim(Span x) {
    while (x.s < x.e && isspace((unsigned char)*x.s)) x.s++;
    while (x.e > x.s && isspace((unsigned char)x.e[-1])) x.e--;
    return x;
}

/* Strips Markdown decoration and quotes around a value: ** __ ` " ' on both ends. */
static Span unquote(Span x) {
    for (int again = 1; again;) {
        again = 0;
        x = trim(x);
        if (x.e - x.s >= 2 && (*x.s == '*' || *x.s == '_') && x.s[1] == *x.s) {
            x.s += 2;
            again = 1;
        }
        if (x.e - x.s >= 2 && (x.e[-1] == '*' || x.e[-1] == '_') && x.e[-2] == x.e[-1]) {
            x.e -= 2;
            again = 1;
        }
        if (x.e - x.s >= 2 && (*x.s == '`' || *x.s == '"' || *x.s == '\'') && x.e[-1] == *x.s) {
            x.s++;
            x.e--;
            again = 1;
        }
    }
    return x;
}

enum { K_NONE = -1, K_GOAL = 0, K_TOOL = 1, K_CMD = 2 };

/* If line is "Key: value" with a known key, returns the key and sets *val. */
static int key_line(Span line, Span *val) {
    const char *p = line.s, *e = line.e;
    while (p < e && (isspace((unsigned char)*p) || *p == '-' || *p == '*' || *p == '#' || *p == '>' || *p == '_')) p++;
    const char *k = p;
    while (p < e && (isalpha((unsigned char)*p) || *p == '-' || *p == ' ' || *p == '_')) p++;
    Span key = trim((Span){k, p});
    while (p < e && (*p == '*' || *p == '_')) p++; /* "**Tool**:" */
    if (p >= e || (*p != ':' && *p != '=')) return K_NONE;
    p++;
    char name[24];
    size_t n = 0;
    for (const char *q = key.s; q < key.e && n + 1 < sizeof name; q++)
        if (isalpha((unsigned char)*q)) name[n++] = (char)tolower((unsigned char)*q);
    if ((size_t)(key.e - key.s) > 20) return K_NONE;
    name[n] = 0;
    static const char *const goal[] = {"subgoal", "goal", NULL};
    static const char *const tool[] = {"tool", "toolname", "action", NULL};
    static const char *const cmd[] = {"command", "argument", "arguments", "args", "arg", "input", "query", "expression",
                                      "toolinput", "commandargument", NULL};
    const char *const *sets[3] = {goal, tool, cmd};
    for (int s = 0; s < 3; s++)
        for (int i = 0; sets[s][i]; i++)
            if (!strcmp(name, sets[s][i])) {
                *val = (Span){p, e};
                while (val->s < val->e && (*val->s == '*' || *val->s == '_')) val->s++; /* "Tool:** x" */
                return s;
            }
    return K_NONE;
}

static int next_line(const char **p, const char *end, Span *line) {
    if (*p >= end) return 0;
    const char *s = *p, *q = memchr(s, '\n', (size_t)(end - s));
    if (!q) q = end;
    *line = (Span){s, q};
    *p = q < end ? q + 1 : end;
    return 1;
}

/* Finds the key lines of text[s..e); fields[k] set (s non-NULL) for each found. */
static int find_keys(Span text, Span fields[3]) {
    int found = 0;
    const char *p = text.s;
    Span line, val;
    int block = 0; /* "Command:" with nothing after it: the lines below, up to the next key line */
    for (int k = 0; k < 3; k++) fields[k] = (Span){NULL, NULL};
    while (next_line(&p, text.e, &line)) {
        int k = key_line(line, &val);
        if (k != K_NONE) {
            block = 0;
            if (fields[k].s) continue; /* the first of each key counts */
            fields[k] = val;
            found = 1;
            Span v = trim(val);
            if (k == K_CMD && v.s == v.e) {
                block = 1;
                fields[k] = (Span){line.e, line.e};
            } else if (k == K_CMD && v.e - v.s >= 3 && !memcmp(v.s, "```", 3)) {
                block = 1;
                fields[k] = (Span){v.s, line.e};
            }
        } else if (block) {
            if (fields[K_CMD].s == fields[K_CMD].e) fields[K_CMD].s = line.s;
            fields[K_CMD].e = line.e;
        }
    }
    for (Span *c = &fields[K_CMD]; c->s && c->e - c->s >= 3;) { /* a fenced command: the code inside */
        Span v = trim(*c);
        if (v.e - v.s >= 6 && !memcmp(v.s, "```", 3) && !memcmp(v.e - 3, "```", 3)) {
            const char *nl = memchr(v.s, '\n', (size_t)(v.e - v.s));
            *c = (Span){nl && nl < v.e - 3 ? nl + 1 : v.s + 3, v.e - 3};
        } else if (v.e - v.s >= 3 && !memcmp(v.e - 3, "```", 3)) {
            *c = (Span){v.s, v.e - 3};
        }
        break;
    }
    return found;
}

#define BAD(...)                                                                                                       \
    do {                                                                                                               \
        if (why && cap) snprintf(why, cap, __VA_ARGS__);                                                               \
        return AF_EINVAL;                                                                                              \
    } while (0)

/* Fills tool/argument/goal spans from text (rules 1-3 of the header). */
static int locate(Span text, Span *tool, Span *arg, Span *goal, char *why, size_t cap) {
    Span f[3];
    if (find_keys(text, f)) {
        if (!f[K_TOOL].s) BAD("no \"Tool:\" line");
        *tool = unquote(f[K_TOOL]);
        *arg = f[K_CMD].s ? unquote(f[K_CMD]) : (Span){tool->e, tool->e};
        *goal = f[K_GOAL].s ? unquote(f[K_GOAL]) : (Span){tool->e, tool->e};
        if (!f[K_CMD].s) { /* "Tool: calculator 4+7" */
            const char *sp = tool->s;
            while (sp < tool->e && !isspace((unsigned char)*sp)) sp++;
            *arg = unquote((Span){sp, tool->e});
            tool->e = sp;
        }
        return 0;
    }
    const char *f0 = NULL;
    for (const char *p = text.s; p + 3 <= text.e; p++)
        if (!memcmp(p, "```", 3)) {
            f0 = p + 3;
            break;
        }
    if (f0) {
        const char *body = memchr(f0, '\n', (size_t)(text.e - f0)); /* skip the info string */
        body = body ? body + 1 : text.e;
        const char *f1 = body;
        while (f1 + 3 <= text.e && memcmp(f1, "```", 3)) f1++;
        if (f1 + 3 > text.e) f1 = text.e;
        Span inner = {body, f1};
        if (find_keys(inner, f)) return locate(inner, tool, arg, goal, why, cap);
        text = inner;
    }
    const char *p = text.s;
    Span line = {NULL, NULL};
    while (next_line(&p, text.e, &line) && trim(line).s == trim(line).e) {}
    line = trim(line);
    if (!line.s || line.s == line.e) BAD("empty reply");
    const char *sp = line.s;
    while (sp < line.e && !isspace((unsigned char)*sp)) sp++;
    *tool = unquote((Span){line.s, sp});
    *goal = (Span){line.e, line.e};
    for (const char *q = sp; q + 3 <= line.e; q++) /* the suite grammar's "TOOL ARG | SUB-GOAL" */
        if (q[0] == ' ' && q[1] == '|' && q[2] == ' ') {
            *goal = trim((Span){q + 3, line.e});
            line.e = q;
            break;
        }
    *arg = unquote((Span){sp, line.e});
    return 0;
}

int af_text_action_parse(const char *text, size_t len, AfAction *out, char *why, size_t cap) {
    memset(out, 0, sizeof *out);
    if (!text) text = "";
    Span all = {text, text + len};
    for (const char *p = text; p + 8 <= all.e; p++) /* after a reasoning block */
        if (!memcmp(p, "</think>", 8)) {
            all.s = p + 8;
            break;
        }
    if (trim(all).s == trim(all).e) BAD("empty reply");
    Span tool, arg, goal;
    int rc = locate(all, &tool, &arg, &goal, why, cap);
    if (rc) return rc;
    if (tool.s == tool.e) BAD("no tool name");
    if (tool.e - tool.s > 32) BAD("tool name longer than 32 bytes");
    char name[33];
    size_t n = 0;
    for (const char *p = tool.s; p < tool.e; p++) {
        char ch = (char)tolower((unsigned char)*p);
        if (!((ch >= 'a' && ch <= 'z') || ch == '_'))
            BAD("bad tool name \"%.*s\" (letters and _ only)", (int)(tool.e - tool.s), tool.s);
        name[n++] = ch;
    }
    name[n] = 0;
    if (arg.e - arg.s > AF_ACTION_MAX_LEN) BAD("command longer than %d bytes", AF_ACTION_MAX_LEN);
    if (arg.s == arg.e && strcmp(name, "stop")) BAD("tool %s without a command", name);
    for (const char *p = arg.s; p < arg.e; p++) {
        if ((unsigned char)*p < 32 && *p != '\n' && *p != '\t') BAD("control byte 0x%02x in the command", (unsigned char)*p);
        if (p + 3 <= arg.e && p[0] == ' ' && p[1] == '|' && p[2] == ' ') BAD("the command holds \" | \"");
    }
    out->tool = strdup(name);
    out->argument = strndup(arg.s, (size_t)(arg.e - arg.s));
    out->sub_goal = strndup(goal.s, (size_t)(goal.e - goal.s));
    if (!out->tool || !out->argument || !out->sub_goal) {
        af_action_clear(out);
        return af_error_set(AF_ENOMEM, "action parse");
    }
    for (char *q = out->sub_goal; *q; q++)
        if ((unsigned char)*q < 32) *q = ' ';
    return 0;
}

/* ---- prompt and reply of a planner in text ---------------------------------------- */

int af_text_prompt(AfTextCodec *c, const AfSuite *suite, const char *question, const AfTurnRecord *turns,
                   size_t first, size_t n, size_t result_bytes, char **text, AfTokenIds *ids) {
    cJSON *msgs = NULL;
    int rc = af_text_prompt_messages(suite, question, turns, first, n, result_bytes, &msgs);
    if (rc == 0) rc = af_text_prompt_encode(c, msgs, text, ids);
    cJSON_Delete(msgs);
    return rc;
}

int af_text_read(const AfTextCodec *c, const uint32_t *ids, size_t n, char **text, AfAction *action, char *why,
                 size_t cap) {
    AfBytes b = {0};
    *text = NULL;
    memset(action, 0, sizeof *action);
    if (n && af_text_codec_is_eos(c, ids[n - 1])) n--;
    int rc = af_tokenizer_decode(c->tok, ids, n, &b);
    if (rc == AF_EINVAL) { /* an id of the model's padded vocabulary the tokenizer lacks: a format error */
        b.len = 0;
        if (why && cap) snprintf(why, cap, "the reply holds an id the tokenizer does not define");
        rc = af_bytes_append(&b, "", 0);
        *text = rc ? NULL : b.data;
        if (rc) af_bytes_free(&b);
        return rc ? rc : AF_EINVAL;
    }
    if (rc == 0 && !b.data) rc = af_bytes_append(&b, "", 0);
    if (rc) {
        af_bytes_free(&b);
        return rc;
    }
    long stop = af_text_codec_find_stop(c, b.data, b.len, 0);
    rc = af_text_action_parse(b.data, stop >= 0 ? (size_t)stop : b.len, action, why, cap);
    *text = b.data; /* NUL-terminated by AfBytes */
    return rc;
}

int af_text_reply_render(const char *tool, const char *argument, const char *sub_goal, char **out) {
    AfBytes b = {0};
    *out = NULL;
    int bad = (sub_goal && sub_goal[0] && (put(&b, "Sub-goal: ") || put_clean(&b, sub_goal, strlen(sub_goal)) ||
                                           put(&b, "\n"))) ||
              put(&b, "Tool: ") || put(&b, tool ? tool : "") ||
              (argument && argument[0] && (put(&b, "\nCommand: ") || put(&b, argument)));
    if (bad) {
        af_bytes_free(&b);
        return af_error_set(AF_ENOMEM, "planner reply");
    }
    *out = b.data;
    return 0;
}

/* The reply's ids for action a (sub_goal: its Sub-goal line instead of a's, or NULL), the
 * tokenizer's first end-of-sequence id after it. */
static int reply_ids(const AfTextCodec *c, const AfAction *a, const char *sub_goal, AfTokenIds *ids) {
    const AfTokenizerSpecials *sp = af_tokenizer_specials(c->tok);
    if (!sp || sp->n_eos == 0)
        return af_error_set(AF_ECONFIG, "planner in text: the tokenizer names no end-of-sequence token (eos_token), "
                                        "so a reply cannot end");
    char *reply = NULL;
    int rc = af_text_reply_render(a->tool, a->argument, sub_goal ? sub_goal : a->sub_goal, &reply);
    if (rc) return rc;
    rc = af_tokenizer_encode_flags(c->tok, reply, strlen(reply), AF_ENCODE_ORDINARY, ids);
    if (rc == 0 && (rc = af_token_ids_push(ids, sp->eos_ids[0]))) rc = af_error_set(AF_ENOMEM, "reply ids");
    free(reply);
    if (rc) af_token_ids_free(ids);
    return rc;
}

int af_text_action_ids(const AfTextCodec *c, const char *action, AfTokenIds *ids) {
    AfAction a;
    char why[160] = "";
    int rc = af_text_action_parse(action, strlen(action), &a, why, sizeof why);
    if (rc == AF_EINVAL) return af_error_set(AF_EFORMAT, "\"%.80s\" does not read as an action: %s", action, why);
    if (rc) return rc;
    rc = reply_ids(c, &a, NULL, ids);
    af_action_clear(&a);
    return rc;
}

typedef struct {
    AfPlanner *inner;
    AfTextCodec *codec;
    uint32_t *scratch; /* (AF_DEMO_TOKENS) the inner planner's suite-vocabulary ids */
    float *lp;
    int plan;          /* the Sub-goal line from the suite's plan op (model.warmstart_subgoal=plan) */
} TextDemo;

enum { AF_DEMO_TOKENS = 4096 };

static int demo_act(AfPlanner *self, const AfPlannerInput *in, AfRng *rng, uint32_t *tokens, float *logprobs,
                    size_t max_tokens, size_t *n) {
    TextDemo *d = self->ctx;
    size_t k = 0;
    *n = 0;
    int rc = d->inner->act(d->inner, in, rng, d->scratch, d->lp, AF_DEMO_TOKENS, &k);
    if (rc) return rc;
    char *suite_text = NULL, why[160] = "";
    if ((rc = af_vocab_decode(in->suite->vocab, d->scratch, k, &suite_text))) return rc;
    AfAction a;
    rc = af_text_action_parse(suite_text, strlen(suite_text), &a, why, sizeof why);
    if (rc == AF_EINVAL)
        rc = af_error_set(AF_EFORMAT, "demonstration \"%.80s\" does not read as an action: %s", suite_text, why);
    free(suite_text);
    if (rc) return rc;
    char *plan = NULL;
    if (d->plan) {
        if (!in->suite->ops->plan)
            rc = af_error_set(AF_ECONFIG, "model.warmstart_subgoal = plan: suite %s has no plan", in->suite->name);
        else
            rc = in->suite->ops->plan(in->suite, in->item, in->memory, in->n_memory, &plan);
    }
    AfTokenIds ids = {0};
    if (rc == 0) rc = reply_ids(d->codec, &a, plan, &ids);
    free(plan);
    af_action_clear(&a);
    if (rc == 0) {
        k = ids.n < max_tokens ? ids.n : max_tokens; /* cut off like a sampler would be */
        memcpy(tokens, ids.ids, k * sizeof *tokens);
        for (size_t i = 0; i < k; i++) logprobs[i] = 0.0f;
        *n = k;
    }
    af_token_ids_free(&ids);
    return rc;
}

static int demo_prompt(AfPlanner *self, const AfSuite *suite, const char *question, const AfTurnRecord *turns,
                       size_t first, size_t n, size_t result_bytes, char **text, AfTokenIds *ids) {
    return af_text_prompt(((TextDemo *)self->ctx)->codec, suite, question, turns, first, n, result_bytes, text, ids);
}

static int demo_read(AfPlanner *self, const uint32_t *ids, size_t n, char **text, AfAction *action, char *why,
                     size_t cap) {
    return af_text_read(((TextDemo *)self->ctx)->codec, ids, n, text, action, why, cap);
}

static void demo_destroy(AfPlanner *self) {
    TextDemo *d = self->ctx;
    if (!d) return;
    free(d->scratch);
    free(d->lp);
    free(d);
}

int af_planner_text_demo_create(AfPlanner *inner, AfTextCodec *codec, int plan, AfPlanner **out) {
    *out = NULL;
    const AfTokenizerSpecials *sp = af_tokenizer_specials(codec->tok);
    if (!sp || sp->n_eos == 0)
        return af_error_set(AF_ECONFIG, "planner in text: the tokenizer names no end-of-sequence token (eos_token), "
                                        "so a demonstration cannot end its reply");
    AfPlanner *p = calloc(1, sizeof *p);
    TextDemo *d = calloc(1, sizeof *d);
    if (d) {
        d->scratch = malloc(AF_DEMO_TOKENS * sizeof *d->scratch);
        d->lp = malloc(AF_DEMO_TOKENS * sizeof *d->lp);
    }
    if (!p || !d || !d->scratch || !d->lp) {
        if (d) free(d->scratch), free(d->lp);
        free(d);
        free(p);
        return af_error_set(AF_ENOMEM, "demonstrating planner in text");
    }
    d->inner = inner;
    d->codec = codec;
    d->plan = plan;
    p->name = inner->name;
    p->temperature = inner->temperature;
    p->act = demo_act;
    p->prompt = demo_prompt;
    p->read = demo_read;
    p->destroy = demo_destroy;
    p->ctx = d;
    *out = p;
    return 0;
}
