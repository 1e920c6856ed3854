/* Suite registry, the shared action grammar, memory records and the generic judges. */
#include "env/suite.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/error.h"
#include "env/rational.h"
#include "env/suite_task.h"
#include "env/suites.h"

void af_turn_record_clear(AfTurnRecord *r) {
    if (!r) return;
    free(r->sub_goal);
    free(r->tool);
    free(r->argument);
    free(r->result);
    memset(r, 0, sizeof *r);
}

int af_turn_record_set(AfTurnRecord *out, const char *tool, const char *arg, const char *sub_goal,
                       AfToolStatus status, const char *result) {
    memset(out, 0, sizeof *out);
    out->tool = strdup(tool ? tool : "");
    out->argument = strdup(arg ? arg : "");
    out->sub_goal = strdup(sub_goal ? sub_goal : "");
    out->result = strdup(result ? result : "");
    out->status = status;
    if (!out->tool || !out->argument || !out->sub_goal || !out->result) {
        af_turn_record_clear(out);
        return af_error_set(AF_ENOMEM, "turn record");
    }
    return 0;
}

void af_action_clear(AfAction *a) {
    if (!a) return;
    free(a->tool);
    free(a->argument);
    free(a->sub_goal);
    memset(a, 0, sizeof *a);
}

static char *dup_trim(const char *b, const char *e) {
    while (b < e && isspace((unsigned char)*b)) b++;
    while (e > b && isspace((unsigned char)e[-1])) e--;
    size_t n = e > b ? (size_t)(e - b) : 0;
    char *out = malloc(n + 1);
    if (!out) return NULL;
    memcpy(out, b, n);
    out[n] = '\0';
    return out;
}

int af_action_parse(const char *text, AfAction *out, char *why, size_t cap) {
    memset(out, 0, sizeof *out);
#define BAD(...) do { if (why && cap) snprintf(why, cap, __VA_ARGS__); return AF_EINVAL; } while (0)
    if (!text) BAD("empty action");
    size_t len = strnlen(text, AF_ACTION_MAX_LEN + 1);
    if (len > AF_ACTION_MAX_LEN) BAD("action longer than %d bytes", AF_ACTION_MAX_LEN);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c < 32 && c != '\t' && c != '\n') BAD("control byte 0x%02x at %zu", c, i + 1);
        if (c >= 127) BAD("non-ASCII byte 0x%02x at %zu", c, i + 1);
    }
    const char *p = text, *end = text + len;
    while (p < end && isspace((unsigned char)*p)) p++;
    if (p == end) BAD("empty action");
    const char *t = p;
    while (p < end && ((*p >= 'a' && *p <= 'z') || *p == '_')) p++;
    if (p == t) BAD("expected a tool name at %zu", (size_t)(t - text) + 1);
    if (p - t > 32) BAD("tool name longer than 32 bytes");
    if (p < end && *p != ' ' && *p != '\t' && *p != '\n') BAD("unexpected '%c' after the tool name", *p);
    const char *bar = NULL;
    for (const char *q = p; q + 3 <= end; q++)
        if (q[0] == ' ' && q[1] == '|' && q[2] == ' ') { bar = q; break; }
    if (!bar && end - p >= 2 && end[-1] == '|' && end[-2] == ' ') bar = end - 2; /* "x |" with empty goal */
    const char *arg_end = bar ? bar : end;
    out->tool = strndup(t, (size_t)(p - t));
    out->argument = dup_trim(p, arg_end);
    out->sub_goal = bar ? dup_trim(bar + 2 < end ? bar + 2 : end, end) : strdup("");
    if (!out->tool || !out->argument || !out->sub_goal) {
        af_action_clear(out);
        return af_error_set(AF_ENOMEM, "action parse");
    }
    return 0;
#undef BAD
}

void af_suite_options_default(AfSuiteOptions *o) { memset(o, 0, sizeof *o); }

void af_tool_destroy(AfTool *tool) {
    if (!tool) return;
    if (tool->destroy) tool->destroy(tool);
    free(tool);
}

/* An added tool sits behind a calloc'd wrapper, so that af_tool_destroy (destroy, then
 * free) suits it whatever the tool's own memory layout (python and http embed theirs). */
static int wrap_call(AfTool *self, const char *arg, double timeout_s, AfToolResult *out) {
    AfTool *in = self->ctx;
    return in->call(in, arg, timeout_s, out);
}

static void wrap_destroy(AfTool *self) {
    AfTool *in = self->ctx;
    if (in && in->destroy) in->destroy(in);
    self->ctx = NULL;
}

int af_suite_add_tool(AfSuite *s, AfTool *tool) {
    if (!s || !tool || !tool->name) return af_error_set(AF_EINVAL, "suite add tool: NULL suite or tool");
    if (af_suite_tool(s, tool->name))
        return af_error_set(AF_EINVAL, "suite %s: a tool named \"%s\" is already there", s->name, tool->name);
    AfTool *w = calloc(1, sizeof *w);
    AfTool **grown = w ? realloc(s->tools, (s->n_tools + 1) * sizeof *grown) : NULL;
    if (!grown) {
        free(w);
        return af_error_set(AF_ENOMEM, "suite %s tools", s->name);
    }
    w->name = tool->name;
    w->description = tool->description;
    w->example = tool->example;
    w->call = wrap_call;
    w->destroy = wrap_destroy;
    w->ctx = tool;
    s->tools = grown;
    s->tools[s->n_tools++] = w;
    s->n_extra_tools++;
    return 0;
}

void af_item_clear(AfItem *item) {
    if (!item) return;
    free(item->question);
    free(item->answer);
    free(item->solution);
    memset(item, 0, sizeof *item);
}

int af_suite_item_for(const AfSuite *s, const char *question, const char *gold, AfItem *out, int *found) {
    memset(out, 0, sizeof *out);
    *found = 0;
    if (!question) return af_error_set(AF_EINVAL, "suite %s: no question", s->name);
    const AfItem *src = NULL;
    for (int sp = 1; sp >= 0 && !src; sp--) {
        const AfDataset *ds = s->split[sp];
        for (size_t i = 0; ds && i < ds->n && !src; i++)
            if (!strcmp(ds->items[i].question, question)) src = &ds->items[i];
    }
    out->question = strdup(question);
    out->answer = strdup(gold ? gold : src ? src->answer : "");
    out->solution = src && src->solution ? strdup(src->solution) : NULL;
    if (!out->question || !out->answer || (src && src->solution && !out->solution)) {
        af_item_clear(out);
        return af_error_set(AF_ENOMEM, "item");
    }
    if (src) {
        *found = 1;
        return 0;
    }
    char why[200] = "";
    if (s->ops->check && s->ops->check(s, out, why, sizeof why)) {
        af_item_clear(out);
        return af_error_set(AF_EINVAL, "suite %s: question \"%.100s\": %s", s->name, question, why);
    }
    return 0;
}

/* The generated suites; "task" (env/suite_task.h) needs the user's files and is not listed. */
static const char *const kNames[] = {"game24", "countdown", "multihop", "arith", NULL};
const char *const *af_suite_names(void) { return kNames; }

int af_suite_create(const char *name, const AfSuiteOptions *opts, AfSuite **out) {
    AfSuiteOptions def;
    if (!opts) {
        af_suite_options_default(&def);
        opts = &def;
    }
    if (!name) name = "";
    /* Every error leaves here prefixed once with the suite's name; the constructors do not repeat it. */
    int rc;
    if (!strcmp(name, "game24")) rc = af_suite_numbers_create(AF_NUMBERS_GAME24, opts, out);
    else if (!strcmp(name, "countdown")) rc = af_suite_numbers_create(AF_NUMBERS_COUNTDOWN, opts, out);
    else if (!strcmp(name, "arith")) rc = af_suite_numbers_create(AF_NUMBERS_ARITH, opts, out);
    else if (!strcmp(name, "multihop")) rc = af_suite_multihop_create(opts, out);
    else if (!strcmp(name, "task")) rc = af_suite_task_create(opts, out);
    else rc = af_error_set(AF_ENOTFOUND, "unknown (known: game24, countdown, multihop, arith, task)");
    return rc ? af_error_wrap(rc, "suite \"%.64s\"", name) : 0;
}

void af_suite_destroy(AfSuite *s) {
    if (!s) return;
    if (s->ops && s->ops->destroy) s->ops->destroy(s);
    af_dataset_destroy(s->split[0]);
    af_dataset_destroy(s->split[1]);
    for (size_t i = 0; i < s->n_tools; i++) af_tool_destroy(s->tools[i]);
    free(s->tools);
    free(s);
}

int af_suite_difficulty(const AfSuite *s, const AfItem *item) {
    if (!s->ops->difficulty) return 0;
    int d = s->ops->difficulty(s, item);
    return d < 0 ? 0 : (d >= AF_SUITE_LEVELS ? AF_SUITE_LEVELS - 1 : d);
}

const AfDataset *af_suite_split(const AfSuite *s, AfSplit split) {
    return split == AF_SPLIT_TEST ? s->split[1] : s->split[0];
}

void af_suite_actions_free(char **actions, size_t n) {
    if (!actions) return;
    for (size_t i = 0; i < n; i++) free(actions[i]);
    free(actions);
}

int af_suite_number_lists(const AfSuite *s) { return !strcmp(s->name, "game24") || !strcmp(s->name, "countdown"); }

int af_suite_lists_actions(const AfSuite *s) { return s->ops->actions && af_suite_number_lists(s); }

int af_suite_shuffle_question(const AfSuite *s, const char *question, AfRng *rng, char *out, size_t cap) {
    if (!af_suite_number_lists(s))
        return af_error_set(AF_EINVAL, "suite.shuffle: suite %s's questions are not lists of numbers (game24 and "
                                       "countdown only)", s->name);
    enum { MAXN = 16 };
    const char *tok[MAXN], *arrow = strstr(question, "->");
    size_t len[MAXN];
    int n = 0;
    const char *p = question, *end = arrow ? arrow : question + strlen(question);
    while (p < end) {
        while (p < end && isspace((unsigned char)*p)) p++;
        if (p >= end) break;
        const char *b = p;
        while (p < end && !isspace((unsigned char)*p)) p++;
        if (n == MAXN) return af_error_set(AF_EINVAL, "suite.shuffle: more than %d numbers in \"%s\"", MAXN, question);
        tok[n] = b, len[n++] = (size_t)(p - b);
    }
    for (int i = n - 1; i > 0; i--) { /* Fisher-Yates */
        const int j = (int)af_rng_below(rng, (uint32_t)(i + 1));
        const char *t = tok[i];
        const size_t l = len[i];
        tok[i] = tok[j], len[i] = len[j], tok[j] = t, len[j] = l;
    }
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        if (o + len[i] + 2 > cap) return af_error_set(AF_ERANGE, "suite.shuffle: question longer than %zu bytes", cap);
        if (i) out[o++] = ' ';
        memcpy(out + o, tok[i], len[i]), o += len[i];
    }
    if (arrow) {
        const size_t l = strlen(arrow);
        if (o + l + 2 > cap) return af_error_set(AF_ERANGE, "suite.shuffle: question longer than %zu bytes", cap);
        out[o++] = ' ';
        memcpy(out + o, arrow, l), o += l;
    }
    out[o] = 0;
    return 0;
}

AfTool *af_suite_tool(const AfSuite *s, const char *name) {
    for (size_t i = 0; i < s->n_tools; i++)
        if (!strcmp(s->tools[i]->name, name)) return s->tools[i];
    return NULL;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int af_suite_call_tool(const AfSuite *s, const char *tool, const char *arg, double timeout_s,
                       AfTurnRecord *out) {
    AfTool *t = af_suite_tool(s, tool);
    free(out->result);
    out->result = NULL;
    out->tool_s = 0;
    AfToolResult r = {0};
    int rc;
    if (!t) {
        rc = af_tool_result_set(&r, AF_TOOL_BAD_ACTION, "unknown tool '%s'", tool);
    } else {
        double t0 = now_s();
        rc = t->call(t, arg, timeout_s, &r);
        out->tool_s = now_s() - t0;
    }
    if (rc) {
        af_tool_result_free(&r);
        return rc;
    }
    out->status = r.status;
    out->result = r.text ? r.text : strdup("");
    if (!out->result) return af_error_set(AF_ENOMEM, "tool result");
    return 0;
}

uint32_t af_suite_question_tokens(uint32_t context) {
    return context > AF_SUITE_PROMPT_RESERVE ? context - AF_SUITE_PROMPT_RESERVE : 1;
}

typedef struct {
    const AfSuite *s;
    uint32_t max_tokens;
    AfItemCheck check;
    void *ctx;
} LoadCheck;

/* The suite's own check, then the question's length in tokens. */
static int load_check(void *ctx, const AfItem *item, char *why, size_t cap) {
    const LoadCheck *c = ctx;
    if (c->check && c->check(c->ctx, item, why, cap)) return 1;
    if (!c->max_tokens) return 0;
    size_t n = 0;
    af_vocab_encode(c->s->vocab, item->question, NULL, 0, &n);
    if (n <= c->max_tokens) return 0;
    snprintf(why, cap,
             "field \"question\": %zu tokens, more than the %u the planner's context allows "
             "(model.max_seq less %u for the prompt and an action)",
             n, c->max_tokens, AF_SUITE_PROMPT_RESERVE);
    return 1;
}

int af_suite_load_splits(AfSuite *s, const AfSuiteOptions *o, AfItemCheck check, void *ctx) {
    const char *paths[2] = {o->train_jsonl, o->test_jsonl};
    static const char *const keys[2] = {"data.train", "data.test"};
    LoadCheck lc = {s, o->max_question_tokens, check, ctx};
    for (int i = 0; i < 2; i++) {
        if (!paths[i]) continue;
        AfDataset *ds;
        int rc = af_dataset_load_jsonl(paths[i], load_check, &lc, &ds);
        if (rc == AF_ENOMEM) return rc;
        if (rc) return af_error_wrap(AF_ECONFIG, "config: %s", keys[i]); /* bad input: exit status 2 */
        af_dataset_destroy(s->split[i]);
        s->split[i] = ds;
    }
    return 0;
}

int af_suite_alloc(const char *name, const AfSuiteOps *ops, size_t n_tools, AfSuite **out) {
    AfSuite *s = calloc(1, sizeof *s);
    if (!s) return af_error_set(AF_ENOMEM, "allocating the suite");
    s->name = name;
    s->ops = ops;
    s->vocab = af_vocab_default();
    s->attempts = 1;
    s->tools = calloc(n_tools ? n_tools : 1, sizeof *s->tools);
    if (!s->tools || af_dataset_create(&s->split[0]) || af_dataset_create(&s->split[1])) {
        af_suite_destroy(s);
        return af_error_set(AF_ENOMEM, "suite %s", name);
    }
    *out = s;
    return 0;
}

static void trim_span(const char **b, const char **e) {
    while (*b < *e && isspace((unsigned char)**b)) (*b)++;
    while (*e > *b && isspace((unsigned char)(*e)[-1])) (*e)--;
}

float af_judge_exact(const char *answer, const char *gold) {
    if (!answer || !gold) return 0.0f;
    const char *a = answer, *ae = answer + strlen(answer), *g = gold, *ge = gold + strlen(gold);
    trim_span(&a, &ae);
    trim_span(&g, &ge);
    if (ae - a != ge - g || ae == a) return 0.0f;
    return strncasecmp(a, g, (size_t)(ae - a)) == 0 ? 1.0f : 0.0f;
}

float af_judge_numeric(const char *answer, const char *gold) {
    AfRational x, y;
    if (!answer || !gold) return 0.0f;
    if (af_rat_parse(answer, &x) || af_rat_parse(gold, &y)) return 0.0f;
    return af_rat_eq(x, y) ? 1.0f : 0.0f;
}

struct AfStrSet {
    char **slots;
    size_t cap; /* power of two */
    size_t n;
};

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

int af_strset_create(size_t expected, AfStrSet **out) {
    AfStrSet *set = calloc(1, sizeof *set);
    size_t cap = 64;
    while (cap < expected * 2) cap *= 2;
    if (set) set->slots = calloc(cap, sizeof *set->slots);
    if (!set || !set->slots) {
        free(set);
        return af_error_set(AF_ENOMEM, "string set");
    }
    set->cap = cap;
    *out = set;
    return 0;
}

void af_strset_destroy(AfStrSet *set) {
    if (!set) return;
    for (size_t i = 0; i < set->cap; i++) free(set->slots[i]);
    free(set->slots);
    free(set);
}

int af_strset_add(AfStrSet *set, const char *s) {
    if (2 * (set->n + 1) > set->cap) {
        size_t cap = set->cap * 2;
        char **slots = calloc(cap, sizeof *slots);
        if (!slots) return af_error_set(AF_ENOMEM, "string set");
        for (size_t i = 0; i < set->cap; i++) {
            if (!set->slots[i]) continue;
            size_t j = fnv1a(set->slots[i]) & (cap - 1);
            while (slots[j]) j = (j + 1) & (cap - 1);
            slots[j] = set->slots[i];
        }
        free(set->slots);
        set->slots = slots;
        set->cap = cap;
    }
    size_t j = fnv1a(s) & (set->cap - 1);
    while (set->slots[j]) {
        if (!strcmp(set->slots[j], s)) return 0;
        j = (j + 1) & (set->cap - 1);
    }
    set->slots[j] = strdup(s);
    if (!set->slots[j]) return af_error_set(AF_ENOMEM, "string set");
    set->n++;
    return 1;
}
