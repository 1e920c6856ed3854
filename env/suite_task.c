/* The generic task suite: the user's JSONL questions, per-line judges, enabled tools
 * (see suite_task.h). */
#include "env/suite_task.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "env/calc.h"
#include "env/search_index.h"
#include "env/suites.h"

#define MAX_CHOICES 26
#define MAX_TRACE 64

typedef struct {
    AfTaskJudge judge;
    int has_re;
    regex_t re;
    char **choices; /* (n_choices) */
    size_t n_choices;
} Extra;

typedef struct {
    Extra *x[2]; /* per split, parallel to split[sp]->items */
    size_t n[2], cap[2];
    AfTaskOptions opt;
    const AfSuite *s;
    int sp; /* the split being loaded */
    uint32_t max_tokens;
    int max_trace;
} TaskCtx;

static void extra_clear(Extra *e) {
    if (e->has_re) regfree(&e->re);
    for (size_t i = 0; i < e->n_choices; i++) free(e->choices[i]);
    free(e->choices);
    memset(e, 0, sizeof *e);
}

/* ------------------------------------------------------------------ item lookup */

static const Extra *extra_of(const AfSuite *s, const AfItem *item) {
    const TaskCtx *c = s->ctx;
    for (int sp = 1; sp >= 0; sp--) {
        const AfDataset *ds = s->split[sp];
        if (item >= ds->items && item < ds->items + ds->n) return &c->x[sp][item - ds->items];
    }
    for (int sp = 1; sp >= 0; sp--) { /* a copy (af_suite_item_for) */
        const AfDataset *ds = s->split[sp];
        for (size_t i = 0; i < ds->n; i++)
            if (!strcmp(ds->items[i].question, item->question)) return &c->x[sp][i];
    }
    return NULL;
}

/* ------------------------------------------------------------------ loading */

static int ascii_check(const char *text, const char *field, char *why, size_t cap) {
    for (size_t i = 0; text[i]; i++) {
        unsigned char ch = (unsigned char)text[i];
        if (ch < 32 || ch > 126) {
            snprintf(why, cap,
                     "field \"%s\": byte 0x%02x at %zu is not printable ASCII (the planner's vocabulary is printable "
                     "ASCII; transliterate the text)", field, ch, i + 1);
            return 1;
        }
    }
    return 0;
}

static int tool_enabled(const TaskCtx *c, const char *tool) {
    return !strcmp(tool, "answer") || !strcmp(tool, "stop") || (!strcmp(tool, "search") && c->opt.corpus && c->opt.corpus[0]) ||
           (!strcmp(tool, "calculator") && c->opt.calculator) || (!strcmp(tool, "python") && c->opt.python) ||
           (!strcmp(tool, "http") && c->opt.http);
}

static const char *enable_hint(const char *tool) {
    if (!strcmp(tool, "search")) return "set tools.search.corpus";
    if (!strcmp(tool, "calculator")) return "set tools.calculator.enabled=true";
    if (!strcmp(tool, "python")) return "set tools.python.enabled=true";
    if (!strcmp(tool, "http")) return "set tools.http.url";
    return "tools: search, calculator, python, http, answer";
}

/* 0, or 1 with why: the judge `j` cannot be served by the configured judge backend. */
static int judge_backend_check(const TaskCtx *c, AfTaskJudge j, const char *where, char *why, size_t cap) {
    const char *be = c->opt.judge_backend ? c->opt.judge_backend : "builtin";
    if (j == AF_TJ_OPENAI || j == AF_TJ_MODEL) {
        if (strcmp(be, af_task_judge_name(j))) {
            snprintf(why, cap, "%sjudge \"%s\" needs modules.judge.backend=%s (it is %s)", where, af_task_judge_name(j),
                     af_task_judge_name(j), be);
            return 1;
        }
    } else if (strcmp(be, "builtin")) {
        snprintf(why, cap, "%sjudge \"%s\", but modules.judge.backend=%s judges every line (use task.judge=%s)", where,
                 af_task_judge_name(j), be, be);
        return 1;
    }
    return 0;
}

static int add_extra(TaskCtx *c, Extra *e) {
    int sp = c->sp;
    if (c->n[sp] == c->cap[sp]) {
        size_t cap = c->cap[sp] ? c->cap[sp] * 2 : 64;
        Extra *x = realloc(c->x[sp], cap * sizeof *x);
        if (!x) return af_error_set(AF_ENOMEM, "task items");
        c->x[sp] = x;
        c->cap[sp] = cap;
    }
    c->x[sp][c->n[sp]++] = *e;
    return 0;
}

#define BAD(...) do { snprintf(why, cap, __VA_ARGS__); rc = 1; goto out; } while (0)

static int load_line(void *ctx, const cJSON *obj, size_t lineno, char *why, size_t cap) {
    (void)lineno;
    TaskCtx *c = ctx;
    Extra e = {.judge = c->opt.judge};
    char *question = NULL, *solution = NULL, num[64];
    int rc = 0;
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(obj, "question");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(obj, "answer");
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, "judge");
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(obj, "choices");
    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(obj, "trace");
    if (!q) BAD("field \"question\": missing");
    if (!cJSON_IsString(q) || !q->valuestring[0]) BAD("field \"question\": expected a non-empty string");
    if (!a || cJSON_IsNull(a)) BAD("field \"answer\": missing");
    const char *answer = a->valuestring;
    if (cJSON_IsNumber(a) && isfinite(a->valuedouble)) {
        af_json_number_text(a->valuedouble, num, sizeof num);
        answer = num;
    } else if (!cJSON_IsString(a)) {
        BAD("field \"answer\": expected a string or a finite number");
    }
    if (strlen(q->valuestring) > 4096 || strlen(answer) > 4096) BAD("field \"%s\": longer than 4096 bytes", strlen(answer) > 4096 ? "answer" : "question");
    if (ascii_check(q->valuestring, "question", why, cap) || ascii_check(answer, "answer", why, cap)) {
        rc = 1;
        goto out;
    }
    if (j && !cJSON_IsNull(j)) {
        if (!cJSON_IsString(j)) BAD("field \"judge\": expected a string (%s)", af_task_judge_names());
        if (af_task_judge_parse(j->valuestring, &e.judge))
            BAD("field \"judge\": unknown judge \"%.40s\" (known: %s)", j->valuestring, af_task_judge_names());
    }
    if (judge_backend_check(c, e.judge, "field \"judge\": ", why, cap)) {
        rc = 1;
        goto out;
    }
    /* choices */
    size_t qlen = strlen(q->valuestring), extra_len = 0;
    if (ch && !cJSON_IsNull(ch)) {
        int n = cJSON_IsArray(ch) ? cJSON_GetArraySize(ch) : -1;
        if (n < 2 || n > MAX_CHOICES) BAD("field \"choices\": expected an array of 2 to %d strings", MAX_CHOICES);
        if (!(e.choices = calloc((size_t)n, sizeof *e.choices))) goto oom;
        const cJSON *it;
        cJSON_ArrayForEach(it, ch) {
            if (!cJSON_IsString(it) || !it->valuestring[0] || strlen(it->valuestring) > 512)
                BAD("field \"choices\": option %zu: expected a non-empty string of at most 512 bytes", e.n_choices + 1);
            if (ascii_check(it->valuestring, "choices", why, cap)) {
                rc = 1;
                goto out;
            }
            if (!(e.choices[e.n_choices++] = strdup(it->valuestring))) goto oom;
            extra_len += strlen(it->valuestring) + 5;
        }
    }
    if (e.judge == AF_TJ_CHOICE && !e.n_choices) BAD("field \"choices\": missing (the choice judge needs the options)");
    if (e.judge == AF_TJ_CHOICE && af_task_choice_index(answer, (const char *const *)e.choices, e.n_choices) < 0)
        BAD("field \"answer\": \"%.60s\" names none of the %zu choices (a letter or an option's text)", answer, e.n_choices);
    double v;
    if (e.judge == AF_TJ_NUMERIC && af_task_number(answer, 1, &v))
        BAD("field \"answer\": \"%.60s\" is not a number (judge numeric)", answer);
    if (e.judge == AF_TJ_REGEX) {
        char rw[160];
        if (af_task_regex_compile(answer, &e.re, rw, sizeof rw)) BAD("field \"answer\": bad regular expression: %s", rw);
        e.has_re = 1;
    }
    /* the question the planner sees */
    if (!(question = malloc(qlen + extra_len + 16))) goto oom;
    memcpy(question, q->valuestring, qlen + 1);
    if (e.n_choices) {
        size_t len = qlen;
        len += (size_t)sprintf(question + len, " Choices:");
        for (size_t i = 0; i < e.n_choices; i++) len += (size_t)sprintf(question + len, " (%c) %s", (char)('A' + i), e.choices[i]);
    }
    if (c->max_tokens) {
        size_t n = 0;
        af_vocab_encode(c->s->vocab, question, NULL, 0, &n);
        if (n > c->max_tokens)
            BAD("field \"question\": %zu tokens, more than the %u the planner's context allows (model.max_seq less %u for "
                "the prompt and an action)", n, c->max_tokens, AF_SUITE_PROMPT_RESERVE);
    }
    /* trace -> the oracle's plan, actions separated by '\n' */
    if (tr && !cJSON_IsNull(tr)) {
        int n = cJSON_IsArray(tr) ? cJSON_GetArraySize(tr) : -1;
        if (n < 1 || n > MAX_TRACE) BAD("field \"trace\": expected an array of 1 to %d actions", MAX_TRACE);
        size_t total = 0, k = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, tr) total += cJSON_IsString(it) ? strlen(it->valuestring) + 1 : 0;
        if (!(solution = malloc(total + 1))) goto oom;
        solution[0] = '\0';
        size_t len = 0;
        AfAction act = {0};
        cJSON_ArrayForEach(it, tr) {
            k++;
            char aw[160];
            if (!cJSON_IsString(it)) BAD("field \"trace\": action %zu: expected a string", k);
            if (ascii_check(it->valuestring, "trace", why, cap)) {
                rc = 1;
                goto out;
            }
            int prc = af_action_parse(it->valuestring, &act, aw, sizeof aw);
            if (prc == AF_ENOMEM) goto oom;
            if (prc) BAD("field \"trace\": action %zu \"%.60s\": %s", k, it->valuestring, aw);
            int ok = tool_enabled(c, act.tool), is_answer = !strcmp(act.tool, "answer");
            if (!ok) {
                snprintf(why, cap, "field \"trace\": action %zu names tool \"%s\", which the configuration does not enable (%s)",
                         k, act.tool, enable_hint(act.tool));
                af_action_clear(&act);
                rc = 1;
                goto out;
            }
            int empty_answer = is_answer && !act.argument[0];
            af_action_clear(&act);
            if (empty_answer) BAD("field \"trace\": action %zu: \"answer\" without an answer", k);
            if ((int)k == n && !is_answer) BAD("field \"trace\": the last action must be \"answer ...\"");
            len += (size_t)sprintf(solution + len, "%s%s", len ? "\n" : "", it->valuestring);
        }
        if (n > c->max_trace) c->max_trace = n;
    }
    if ((rc = add_extra(c, &e))) goto out;
    memset(&e, 0, sizeof e);
    if ((rc = af_dataset_add(c->s->split[c->sp], question, answer, solution))) {
        extra_clear(&c->x[c->sp][--c->n[c->sp]]);
        goto out;
    }
    goto out;
oom:
    rc = af_error_set(AF_ENOMEM, "task item");
out:
    extra_clear(&e);
    free(question);
    free(solution);
    return rc;
}
#undef BAD

/* ------------------------------------------------------------------ rules */

static int is_final(const AfTurnRecord *r) {
    return r->status == AF_TOOL_NO_CALL && (!strcmp(r->tool, "answer") || !strcmp(r->tool, "stop"));
}

static int task_execute(const AfSuite *s, const AfItem *item, const AfTurnRecord *mem, size_t n, const char *action_text,
                        double tool_timeout_s, AfTurnRecord *out) {
    (void)item, (void)mem, (void)n;
    char why[200], msg[256];
    AfAction a;
    int rc = af_action_parse(action_text, &a, why, sizeof why);
    if (rc == AF_EINVAL) {
        snprintf(msg, sizeof msg, "bad action: %s", why);
        return af_turn_record_set(out, "", "", "", AF_TOOL_BAD_ACTION, msg);
    }
    if (rc) return rc;
    if (!strcmp(a.tool, "answer") || !strcmp(a.tool, "stop")) {
        int empty = !strcmp(a.tool, "answer") && !a.argument[0];
        rc = af_turn_record_set(out, a.tool, a.argument, a.sub_goal, empty ? AF_TOOL_BAD_ACTION : AF_TOOL_NO_CALL,
                                empty ? "bad action: answer without an answer" : "final answer");
    } else if (!(rc = af_turn_record_set(out, a.tool, a.argument, a.sub_goal, AF_TOOL_BAD_ACTION, ""))) {
        rc = af_suite_call_tool(s, a.tool, a.argument, tool_timeout_s, out);
    }
    af_action_clear(&a);
    if (rc) af_turn_record_clear(out);
    return rc;
}

static int task_verify(const AfSuite *s, const AfItem *item, const AfTurnRecord *mem, size_t n, int *stop) {
    (void)s, (void)item;
    *stop = n > 0 && is_final(&mem[n - 1]);
    return 0;
}

static int task_generate(const AfSuite *s, const AfItem *item, const AfTurnRecord *mem, size_t n, char **answer) {
    (void)s, (void)item;
    const char *ans = "";
    for (size_t k = n; k-- > 0;)
        if (!strcmp(mem[k].tool, "answer") && mem[k].status == AF_TOOL_NO_CALL) {
            ans = mem[k].argument;
            goto found;
        }
    for (size_t k = n; k-- > 0;)
        if (mem[k].status == AF_TOOL_OK) {
            ans = mem[k].result;
            break;
        }
found:
    *answer = strdup(ans);
    return *answer ? 0 : af_error_set(AF_ENOMEM, "answer");
}

static int task_judge(const AfSuite *s, const AfItem *item, const char *answer, float *reward) {
    const TaskCtx *c = s->ctx;
    const Extra *e = extra_of(s, item);
    AfTaskJudge j = e ? e->judge : c->opt.judge;
    switch (j) {
    case AF_TJ_NUMERIC: *reward = af_task_judge_numeric(answer, item->answer, c->opt.tolerance); break;
    case AF_TJ_CHOICE:
        *reward = e ? af_task_judge_choice(answer, item->answer, (const char *const *)e->choices, e->n_choices) : 0.0f;
        break;
    case AF_TJ_REGEX:
        if (e && e->has_re) {
            *reward = af_task_judge_regex(&e->re, answer);
        } else { /* a question typed on the command line: compile its gold now */
            regex_t re;
            char why[160];
            *reward = 0.0f;
            if (af_task_regex_compile(item->answer, &re, why, sizeof why) == 0) {
                *reward = af_task_judge_regex(&re, answer);
                regfree(&re);
            }
        }
        break;
    case AF_TJ_CONTAINS: *reward = af_task_judge_contains(answer, item->answer); break;
    case AF_TJ_EXACT: *reward = af_task_judge_exact(answer, item->answer); break;
    default: /* openai / model are judge backends: the builtin judge never sees them */
        return af_error_set(AF_ECONFIG, "task judge \"%s\" needs modules.judge.backend=%s", af_task_judge_name(j),
                            af_task_judge_name(j));
    }
    return 0;
}

static int task_oracle(const AfSuite *s, const AfItem *item, const AfTurnRecord *mem, size_t n, char **action) {
    (void)s, (void)mem;
    if (!item->solution || !item->solution[0])
        return af_error_set(AF_ENOTFOUND, "task oracle: the question has no \"trace\" to replay");
    const char *p = item->solution, *line = p;
    for (size_t k = 0; k < n; k++) {
        const char *nl = strchr(line, '\n');
        if (!nl) break;
        line = nl + 1;
    }
    const char *e = strchr(line, '\n');
    *action = strndup(line, e ? (size_t)(e - line) : strlen(line));
    return *action ? 0 : af_error_set(AF_ENOMEM, "oracle action");
}

static int task_random(const AfSuite *s, const AfItem *item, const AfTurnRecord *mem, size_t n, AfRng *rng, char **action) {
    (void)mem, (void)n;
    const AfTool *t = s->tools[af_rng_below(rng, (uint32_t)s->n_tools)];
    /* the words of the question: maximal runs of non-blanks */
    const char *w[256];
    size_t wl[256], nw = 0;
    for (const char *p = item->question; *p && nw < 256;) {
        while (*p == ' ') p++;
        const char *b = p;
        while (*p && *p != ' ') p++;
        if (p > b) w[nw] = b, wl[nw++] = (size_t)(p - b);
    }
    size_t k = nw ? af_rng_below(rng, (uint32_t)nw) : 0;
    size_t len = strlen(t->name) + 2 + (nw ? wl[k] : 1);
    if (len > AF_ACTION_MAX_LEN) len = AF_ACTION_MAX_LEN;
    *action = malloc(len + 1);
    if (!*action) return af_error_set(AF_ENOMEM, "random action");
    snprintf(*action, len + 1, "%s %.*s", t->name, nw ? (int)wl[k] : 1, nw ? w[k] : "x");
    return 0;
}

static int task_check(const AfSuite *s, const AfItem *item, char *why, size_t cap) {
    (void)s;
    return ascii_check(item->question, "question", why, cap) || ascii_check(item->answer, "answer", why, cap);
}

static void task_destroy(AfSuite *s) {
    TaskCtx *c = s->ctx;
    if (!c) return;
    for (int sp = 0; sp < 2; sp++) {
        for (size_t i = 0; i < c->n[sp]; i++) extra_clear(&c->x[sp][i]);
        free(c->x[sp]);
    }
    free(c);
    s->ctx = NULL;
}

static const AfSuiteOps kTaskOps = {
    .execute = task_execute,
    .verify = task_verify,
    .generate = task_generate,
    .judge = task_judge,
    .oracle = task_oracle,
    .random_action = task_random,
    .destroy = task_destroy,
    .check = task_check,
};

/* ------------------------------------------------------------------ tools */

static int answer_call(AfTool *self, const char *arg, double timeout_s, AfToolResult *out) {
    (void)self, (void)arg, (void)timeout_s;
    return af_tool_result_set(out, AF_TOOL_NO_CALL, "final answer");
}

static int add_own_tool(AfSuite *s, AfTool *t) {
    s->tools[s->n_tools++] = t;
    return 0;
}

int af_suite_task_create(const AfSuiteOptions *opts, AfSuite **out) {
    *out = NULL;
    if (!opts || !opts->task) return af_error_set(AF_ECONFIG, "no task options (build it through the world)");
    if (!opts->train_jsonl || !opts->test_jsonl)
        return af_error_set(AF_ECONFIG, "config: %s: not set; suite task needs the user's questions in data.train and "
                                        "data.test (JSONL, env/suite_task.h)", !opts->train_jsonl ? "data.train" : "data.test");
    if (opts->attempts > 1 || opts->retries > 0 || opts->state_view || opts->random_steps)
        return af_error_set(AF_ECONFIG, "suite.attempts, suite.retries, suite.view=state and "
                                        "suite.random_action=step are game24/countdown's");
    const AfTaskOptions *to = opts->task;
    AfSuite *s = NULL;
    TaskCtx *c = calloc(1, sizeof *c);
    int rc = c ? af_suite_alloc("task", &kTaskOps, 3, &s) : af_error_set(AF_ENOMEM, "allocating the suite");
    if (rc) {
        free(c);
        return rc;
    }
    s->ctx = c;
    c->opt = *to;
    c->s = s;
    c->max_tokens = opts->max_question_tokens;
    char why[320];
    if (judge_backend_check(c, to->judge, "config: task.judge: ", why, sizeof why)) {
        rc = af_error_set(AF_ECONFIG, "%s", why);
        goto fail;
    }
    if (to->corpus && to->corpus[0]) {
        AfSearchIndex *ix = NULL;
        AfTool *t = NULL;
        if ((rc = af_search_index_open(to->corpus, to->index_dir, &ix, NULL))) {
            if (rc != AF_ENOMEM) rc = af_error_wrap(AF_ECONFIG, "config: tools.search.corpus");
            goto fail;
        }
        if ((rc = af_search_tool_create(ix, to->top_k, to->max_bytes, &t))) {
            af_search_index_close(ix);
            goto fail;
        }
        add_own_tool(s, t);
    }
    if (to->calculator) {
        AfTool *t = NULL;
        if ((rc = af_calc_tool_create(&t))) goto fail;
        add_own_tool(s, t);
    }
    AfTool *t = calloc(1, sizeof *t);
    if (!t) {
        rc = af_error_set(AF_ENOMEM, "answer tool");
        goto fail;
    }
    t->name = "answer";
    t->description = "give the final answer and end: answer <text>";
    t->example = "42";
    t->call = answer_call;
    add_own_tool(s, t);
    const char *paths[2] = {opts->train_jsonl, opts->test_jsonl};
    static const char *const keys[2] = {"data.train", "data.test"};
    for (int sp = 0; sp < 2; sp++) {
        c->sp = sp;
        size_t objs = 0;
        if ((rc = af_jsonl_foreach(paths[sp], load_line, c, &objs))) {
            if (rc != AF_ENOMEM) rc = af_error_wrap(AF_ECONFIG, "config: %s", keys[sp]);
            goto fail;
        }
        if (!s->split[sp]->n) {
            rc = af_error_set(AF_ECONFIG, "config: %s: %s: no questions", keys[sp], paths[sp]);
            goto fail;
        }
    }
    s->max_turns = c->max_trace > 2 ? c->max_trace : 2;
    *out = s;
    return 0;
fail:
    af_suite_destroy(s);
    return rc;
}
