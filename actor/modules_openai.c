/* The `openai` backends of the executor, verifier, generator, judge and (evaluation only)
 * planner: prompts, reply parsing and the mapping of failures to infrastructure codes. */
#include "actor/modules_openai.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "actor/memory.h"
#include "common/deadline.h"
#include "common/error.h"
#include "common/http.h"
#include "common/log.h"

#define RESULT_BYTES 1000 /* bytes of each tool result the backends show the LLM */
#define ANSWER_MAX 512

static const char kExecutorSystem[] =
    "You are the executor of a tool-using agent. Turn the planner's next action into exactly one tool "
    "command of the form `<tool> <argument>`, using one of the tools listed. Reply with the command only, "
    "on one line.";
static const char kVerifierSystem[] =
    "You are the verifier of a tool-using agent. Decide whether the memory already holds what is needed "
    "to answer the question. Reply with one word: STOP if it does, CONTINUE if more tool calls are needed.";
static const char kGeneratorSystem[] =
    "You are the answer generator of a tool-using agent. From the question and the memory of tool calls, "
    "write the final answer. End your reply with a line `Answer: <answer>`, the answer alone.";
static const char kJudgeSystem[] =
    "You are a strict judge. Decide whether the candidate answer correctly answers the question (compare "
    "with the gold answer when one is given). Reply with 1 if it is correct and 0 if it is not.";
static const char kPlannerSystem[] =
    "You are the planner of a tool-using agent. The user message shows the question (Q), the tools (T) and "
    "the memory of earlier turns (M). Reply with the next action on one line: `<tool> <argument>`, "
    "optionally followed by ` | <sub-goal>`, or `stop` when the memory suffices.";

typedef struct {
    const AfSuite *suite;
    int module;       /* AfModuleKind; -1: the planner */
    AfModuleChat t;   /* the transport: an openai client or the local model */
} OaCtx;

static const char *ctx_name(const OaCtx *c) { return c->module < 0 ? "planner" : af_module_name(c->module); }

int af_openai_config_from_module(const AfModuleConfig *m, const char *module, AfOpenAIConfig *out) {
    af_openai_config_default(out);
    char host[256];
    if (!m->url[0]) return af_error_set(AF_ECONFIG, "config: modules.%s.url: empty (the openai backend needs one)", module);
    if (af_http_url_host(m->url, host, sizeof host))
        return af_error_set(AF_ECONFIG, "config: modules.%s.url: \"%.200s\" is not an http(s) URL with a host", module,
                            m->url);
    if (!m->model[0]) return af_error_set(AF_ECONFIG, "config: modules.%s.model: empty (the openai backend needs one)", module);
    out->url = m->url;
    out->model = m->model;
    out->api_key_env = m->api_key_env;
    out->timeout_s = m->timeout_s;
    out->retries = (int)m->retries;
    out->max_tokens = (int)m->max_tokens;
    out->send_seed = m->send_seed;
    out->logprobs = m->logprobs;
    return 0;
}

/* The openai transport: one client per module. */
static int oa_chat(void *impl, int module, uint32_t turn, const char *system, const char *user, char **reply) {
    if (module < 0) return af_openai_chat(impl, system, user, reply); /* the planner: no seed, no record */
    AfOpenAIReply r;
    int rc = af_openai_chat_call(impl, system, user, af_module_call_seed(module, turn), &r);
    *reply = r.content;
    if (rc == 0 && r.has_logprobs) af_module_call_record(module, turn, r.logprob, r.tokens);
    return rc;
}
static void oa_destroy(void *impl) { af_openai_destroy(impl); }

static int oa_transport(const AfOpenAIConfig *cfg, const char *module, AfModuleChat *t) {
    AfOpenAI *client = NULL;
    int rc = af_openai_create(cfg, &client);
    if (rc) return af_error_wrap(rc, "modules.%s (openai)", module);
    *t = (AfModuleChat){.backend = "openai", .chat = oa_chat, .destroy = oa_destroy, .impl = client};
    return 0;
}

static int ctx_create(const AfSuite *suite, const AfModuleChat *t, int module, OaCtx **out) {
    OaCtx *c = calloc(1, sizeof *c);
    if (!c) {
        if (t->destroy) t->destroy(t->impl);
        return af_error_set(AF_ENOMEM, "%s module", module < 0 ? "planner" : af_module_name(module));
    }
    c->suite = suite;
    c->module = module;
    c->t = *t;
    *out = c;
    return 0;
}

static void ctx_destroy(OaCtx *c) {
    if (!c) return;
    if (c->t.destroy) c->t.destroy(c->t.impl);
    free(c);
}

/* Maps a failed request to the module contract: transport failures stay AF_ECURL /
 * AF_ETIMEOUT, unusable replies become AF_EIO; AF_ENOMEM and AF_EINVAL (bugs) pass. */
static int infra(OaCtx *c, int rc) {
    if (rc == AF_ENOMEM || rc == AF_EINVAL) return rc;
    if (rc != AF_ECURL && rc != AF_ETIMEOUT) rc = AF_EIO;
    af_error_wrap(rc, "%s (%s)", ctx_name(c), c->t.backend);
    AF_LOG_D("%s", af_error_detail());
    return rc;
}

static int chat(OaCtx *c, uint32_t turn, const char *system, const char *user, char **reply) {
    int rc = c->t.chat(c->t.impl, c->module, turn, system, user, reply);
    return rc ? infra(c, rc) : 0;
}

/* A growing string. */
typedef struct {
    char *s;
    size_t n, cap;
    int oom;
} Buf;

static void buf_add(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_add(Buf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = 1;
            return;
        }
        if (b->s && b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return;
        }
        size_t cap = (b->cap ? b->cap : 256) * 2;
        while (cap < b->n + (size_t)k + 1) cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
}

static int buf_done(Buf *b, char **out) {
    if (b->oom || !b->s) {
        free(b->s);
        return af_error_set(AF_ENOMEM, "openai prompt");
    }
    *out = b->s;
    return 0;
}

/* Question, tools and memory as the LLM sees them. */
static void add_context(Buf *b, const AfSuite *s, const AfItem *item, const AfTurnRecord *mem, size_t n) {
    buf_add(b, "Question: %s\nTools:\n", item->question);
    for (size_t i = 0; i < s->n_tools; i++) buf_add(b, "- %s: %s\n", s->tools[i]->name, s->tools[i]->description);
    char *lines = NULL;
    if (af_memory_render(mem, n, RESULT_BYTES, &lines)) {
        b->oom = 1;
        return;
    }
    buf_add(b, "Memory (one line per turn: <turn> <tool> <argument> -> <result>):\n%s", n ? lines : "(empty)\n");
    free(lines);
}

/* Copies [b, e) trimmed, with backticks dropped and control bytes as spaces. */
static char *clean_dup(const char *b, const char *e) {
    while (b < e && (isspace((unsigned char)*b) || *b == '`')) b++;
    while (e > b && (isspace((unsigned char)e[-1]) || e[-1] == '`')) e--;
    char *out = malloc((size_t)(e - b) + 1);
    if (!out) return NULL;
    size_t k = 0;
    for (const char *p = b; p < e; p++) {
        unsigned char ch = (unsigned char)*p;
        out[k++] = ch < 32 || ch == 127 ? ' ' : (char)ch;
    }
    out[k] = '\0';
    return out;
}

/* Skips a leading "label:" (case-insensitive) if present. */
static const char *skip_label(const char *p, const char *e, const char *label) {
    size_t l = strlen(label);
    while (p < e && (*p == ' ' || *p == '\t' || *p == '`' || *p == '*')) p++;
    if ((size_t)(e - p) >= l && strncasecmp(p, label, l) == 0) {
        p += l;
        while (p < e && (*p == '*' || *p == ' ')) p++; /* "**Command:** x" */
    }
    return p;
}

/* The reply after a leading reasoning block ("<think>...</think>"), if it has one. */
static const char *after_think(const char *reply) {
    const char *p = strstr(reply, "</think>");
    return p ? p + 8 : reply;
}

/* The first line of text that is not empty and not a code fence; NULL if none. */
static char *first_line(const char *text, const char *label) {
    const char *p = text;
    while (*p) {
        const char *e = strchr(p, '\n');
        if (!e) e = p + strlen(p);
        const char *q = p;
        while (q < e && isspace((unsigned char)*q)) q++;
        if (q < e && strncmp(q, "```", 3) != 0) return clean_dup(skip_label(q, e, label), e);
        p = *e ? e + 1 : e;
    }
    return clean_dup(p, p);
}

/* ------------------------------------------------------------------ prompts and parsers */

int af_module_prompt(const AfSuite *suite, int module, const AfItem *item, const AfTurnRecord *mem, size_t n,
                     const char *text, const char **system, char **user) {
    *user = NULL;
    Buf b = {0};
    switch (module) {
    case AF_MODULE_EXECUTOR:
        *system = kExecutorSystem;
        add_context(&b, suite, item, mem, n);
        buf_add(&b, "Planner action: %s\nCommand:", text ? text : "");
        break;
    case AF_MODULE_VERIFIER:
        *system = kVerifierSystem;
        add_context(&b, suite, item, mem, n);
        buf_add(&b, "Reply STOP or CONTINUE.");
        break;
    case AF_MODULE_GENERATOR:
        *system = kGeneratorSystem;
        add_context(&b, suite, item, mem, n);
        buf_add(&b, "Write the final answer.");
        break;
    case AF_MODULE_JUDGE:
        *system = kJudgeSystem;
        buf_add(&b, "Question: %s\nGold answer: %s\nCandidate answer: %s\nReply 1 (correct) or 0 (incorrect).",
                item->question, item->answer && item->answer[0] ? item->answer : "(none given: judge by the question's rules)",
                text ? text : "");
        break;
    default:
        return af_error_set(AF_EINVAL, "module prompt: unknown module %d", module);
    }
    return buf_done(&b, user);
}

int af_module_parse_command(const char *reply, char **cmd) {
    *cmd = first_line(after_think(reply ? reply : ""), "command:");
    if (!*cmd) return af_error_set(AF_ENOMEM, "executor reply");
    if ((*cmd)[0]) return 0;
    free(*cmd);
    *cmd = NULL;
    return AF_EINVAL;
}

int af_module_parse_stop(const char *reply, int *stop) {
    for (const char *p = after_think(reply ? reply : ""); *p;) {
        while (*p && !isalpha((unsigned char)*p)) p++;
        const char *w = p;
        while (isalpha((unsigned char)*p)) p++;
        size_t wl = (size_t)(p - w);
        if (wl == 4 && !strncasecmp(w, "stop", 4)) return *stop = 1, 0;
        if (wl == 8 && !strncasecmp(w, "continue", 8)) return *stop = 0, 0;
    }
    return AF_EINVAL;
}

int af_module_parse_answer(const char *reply, char **answer) {
    const char *r = after_think(reply ? reply : "");
    /* After the last "Answer:", else the last non-empty line. */
    const char *start = NULL;
    for (const char *p = r; (p = strcasestr(p, "answer:")); p += 7) start = p + 7;
    const char *e;
    if (start) {
        e = strchr(start, '\n');
        if (!e) e = start + strlen(start);
    } else {
        e = r + strlen(r);
        while (e > r && isspace((unsigned char)e[-1])) e--;
        start = e;
        while (start > r && start[-1] != '\n') start--;
    }
    if (e - start > ANSWER_MAX) e = start + ANSWER_MAX;
    *answer = clean_dup(start, e);
    return *answer ? 0 : af_error_set(AF_ENOMEM, "generator answer");
}

int af_module_parse_verdict(const char *reply, float *reward) {
    const char *p = after_think(reply ? reply : "");
    while (*p && (isspace((unsigned char)*p) || *p == '`' || *p == '*' || *p == '"')) p++;
    p = skip_label(p, p + strlen(p), "verdict:");
    while (*p == ' ') p++;
    char *end = NULL;
    double v = strtod(p, &end);
    if (end != p && (isdigit((unsigned char)*p) || *p == '.')) {
        if (!(v >= 0.0 && v <= 1.0)) return AF_EINVAL;
    } else if (!strncasecmp(p, "correct", 7) || !strncasecmp(p, "yes", 3) || !strncasecmp(p, "true", 4)) {
        v = 1.0;
    } else if (!strncasecmp(p, "incorrect", 9) || !strncasecmp(p, "no", 2) || !strncasecmp(p, "false", 5) ||
               !strncasecmp(p, "wrong", 5)) {
        v = 0.0;
    } else {
        return AF_EINVAL;
    }
    *reward = (float)v;
    return 0;
}

/* Prompt of module c->module, one call, reply in *reply. */
static int ask(OaCtx *c, const AfItem *item, const AfTurnRecord *mem, size_t n, const char *text, uint32_t turn,
               char **reply) {
    const char *system = NULL;
    char *user = NULL;
    *reply = NULL;
    int rc = af_module_prompt(c->suite, c->module, item, mem, n, text, &system, &user);
    if (rc == 0) rc = chat(c, turn, system, user, reply);
    free(user);
    return rc;
}

/* ------------------------------------------------------------------ executor */

static int ex_execute(AfExecutor *self, const AfItem *item, const AfTurnRecord *mem, size_t n, const char *action_text,
                      double tool_timeout_s, AfTurnRecord *out) {
    OaCtx *c = self->ctx;
    const AfSuite *s = c->suite;
    AfAction a;
    char why[160];
    int rc = af_action_parse(action_text, &a, why, sizeof why);
    if (rc == AF_EINVAL || (rc == 0 && !strcmp(a.tool, "stop"))) { /* no request: the suite records it */
        af_action_clear(&a);
        return s->ops->execute(s, item, mem, n, action_text, tool_timeout_s, out);
    }
    if (rc) return rc;
    char *reply = NULL, *cmd = NULL, *full = NULL;
    if ((rc = ask(c, item, mem, n, action_text, (uint32_t)n, &reply))) goto done;
    if ((rc = af_module_parse_command(reply, &cmd))) {
        if (rc == AF_EINVAL) rc = infra(c, af_error_set(AF_EIO, "reply \"%.80s\" holds no command", reply));
        goto done;
    }
    /* Keep the planner's sub-goal unless the command carries one. */
    size_t len = strlen(cmd) + strlen(a.sub_goal) + 4;
    full = malloc(len);
    if (!full) {
        rc = af_error_set(AF_ENOMEM, "executor command");
        goto done;
    }
    if (a.sub_goal[0] && !strstr(cmd, " | ")) snprintf(full, len, "%s | %s", cmd, a.sub_goal);
    else snprintf(full, len, "%s", cmd);
    rc = s->ops->execute(s, item, mem, n, full, af_deadline_clip(tool_timeout_s), out); /* the request took time */
done:
    af_action_clear(&a);
    free(reply);
    free(cmd);
    free(full);
    return rc;
}

/* ------------------------------------------------------------------ verifier */

static int ve_verify(AfVerifier *self, const AfItem *item, const AfTurnRecord *mem, size_t n, int *stop) {
    OaCtx *c = self->ctx;
    *stop = 0;
    if (n > 0 && mem[n - 1].status == AF_TOOL_NO_CALL && !strcmp(mem[n - 1].tool, "stop")) {
        *stop = 1;
        return 0;
    }
    char *reply = NULL;
    int rc = ask(c, item, mem, n, NULL, (uint32_t)n, &reply);
    if (rc == 0 && af_module_parse_stop(reply, stop))
        rc = infra(c, af_error_set(AF_EIO, "reply \"%.80s\" says neither STOP nor CONTINUE", reply));
    free(reply);
    return rc;
}

/* ------------------------------------------------------------------ generator */

static int ge_generate(AfGenerator *self, const AfItem *item, const AfTurnRecord *mem, size_t n, char **answer) {
    OaCtx *c = self->ctx;
    *answer = NULL;
    char *reply = NULL;
    int rc = ask(c, item, mem, n, NULL, (uint32_t)n, &reply);
    if (rc == 0) rc = af_module_parse_answer(reply, answer);
    free(reply);
    return rc;
}

/* ------------------------------------------------------------------ judge */

static int ju_judge(AfJudge *self, const AfItem *item, const char *answer, float *reward) {
    OaCtx *c = self->ctx;
    *reward = 0.0f;
    char *reply = NULL;
    int rc = ask(c, item, NULL, 0, answer, 0, &reply);
    if (rc == 0 && af_module_parse_verdict(reply, reward))
        rc = infra(c, af_error_set(AF_EIO, "reply \"%.80s\" is not a verdict (a number in [0, 1], yes/no)", reply));
    free(reply);
    return rc;
}

/* ------------------------------------------------------------------ planner */

static int pl_act(AfPlanner *self, const AfPlannerInput *in, AfRng *rng, uint32_t *tokens, float *logprobs,
                  size_t max_tokens, size_t *n) {
    (void)rng;
    OaCtx *c = self->ctx;
    char *reply = NULL;
    *n = 0;
    int rc = chat(c, 0, kPlannerSystem, in->prompt_text, &reply);
    if (rc) return rc;
    char *line = first_line(reply, "action:");
    free(reply);
    if (!line) return af_error_set(AF_ENOMEM, "planner reply");
    if (strlen(line) > AF_ACTION_MAX_LEN) line[AF_ACTION_MAX_LEN] = '\0';
    size_t k = 0;
    af_vocab_encode(in->suite->vocab, line, tokens, max_tokens, &k); /* AF_ERANGE: cut off, like a sampler */
    free(line);
    if (k < max_tokens) tokens[k++] = AF_TOK_EOS;
    if (k > max_tokens) k = max_tokens;
    for (size_t i = 0; i < k; i++) logprobs[i] = 0.0f;
    *n = k;
    return 0;
}

/* ------------------------------------------------------------------ constructors */

#define DESTROY_FN(Type, fname)                   \
    static void fname(Type *self) {               \
        ctx_destroy(self->ctx);                   \
        self->ctx = NULL;                         \
    }
DESTROY_FN(AfExecutor, ex_destroy)
DESTROY_FN(AfVerifier, ve_destroy)
DESTROY_FN(AfGenerator, ge_destroy)
DESTROY_FN(AfJudge, ju_destroy)
DESTROY_FN(AfPlanner, pl_destroy)

#define MAKE(Type, field, fn, dfn, name, oname, module)                                  \
    int name(const AfSuite *suite, const AfModuleChat *t, Type **out) {                  \
        Type *m = calloc(1, sizeof *m);                                                  \
        OaCtx *c = NULL;                                                                 \
        if (!m) {                                                                        \
            if (t->destroy) t->destroy(t->impl);                                         \
            return af_error_set(AF_ENOMEM, "%s %s", t->backend, af_module_name(module)); \
        }                                                                                \
        int rc = ctx_create(suite, t, module, &c);                                       \
        if (rc) {                                                                        \
            free(m);                                                                     \
            return rc;                                                                   \
        }                                                                                \
        m->backend = t->backend;                                                         \
        m->field = fn;                                                                   \
        m->destroy = dfn;                                                                \
        m->ctx = c;                                                                      \
        *out = m;                                                                        \
        return 0;                                                                        \
    }                                                                                    \
    int oname(const AfSuite *suite, const AfOpenAIConfig *cfg, Type **out) {             \
        AfModuleChat t;                                                                  \
        int rc = oa_transport(cfg, af_module_name(module), &t);                          \
        return rc ? rc : name(suite, &t, out);                                           \
    }

MAKE(AfExecutor, execute, ex_execute, ex_destroy, af_executor_chat_create, af_executor_openai_create, AF_MODULE_EXECUTOR)
MAKE(AfVerifier, verify, ve_verify, ve_destroy, af_verifier_chat_create, af_verifier_openai_create, AF_MODULE_VERIFIER)
MAKE(AfGenerator, generate, ge_generate, ge_destroy, af_generator_chat_create, af_generator_openai_create,
     AF_MODULE_GENERATOR)
MAKE(AfJudge, judge, ju_judge, ju_destroy, af_judge_chat_create, af_judge_openai_create, AF_MODULE_JUDGE)

int af_planner_openai_create(const AfOpenAIConfig *cfg, AfPlanner **out) {
    AfModuleChat t;
    int rc = oa_transport(cfg, "planner", &t);
    if (rc) return rc;
    AfPlanner *p = calloc(1, sizeof *p);
    if (!p) {
        t.destroy(t.impl);
        return af_error_set(AF_ENOMEM, "openai planner");
    }
    OaCtx *c = NULL;
    if ((rc = ctx_create(NULL, &t, -1, &c))) {
        free(p);
        return rc;
    }
    p->name = "openai";
    p->temperature = cfg->temperature >= 0 ? (float)cfg->temperature : 1.0f;
    p->act = pl_act;
    p->destroy = pl_destroy;
    p->ctx = c;
    *out = p;
    return 0;
}

#define ATTEMPTS(Type, name)                                                               \
    int name(const Type *m) {                                                              \
        if (!m || !m->backend || strcmp(m->backend, "openai") || !m->ctx) return 0;         \
        return af_openai_last_attempts(((const OaCtx *)m->ctx)->t.impl);                   \
    }
ATTEMPTS(AfExecutor, af_executor_openai_attempts)
ATTEMPTS(AfVerifier, af_verifier_openai_attempts)
ATTEMPTS(AfGenerator, af_generator_openai_attempts)
ATTEMPTS(AfJudge, af_judge_openai_attempts)
