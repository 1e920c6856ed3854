/* The task suite's judges (see task_judge.h). */
#include "env/task_judge.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "env/suite.h"

static const char *const kNames[AF_TJ_COUNT] = {"exact", "numeric", "choice", "regex", "contains", "openai", "model"};

int af_task_judge_parse(const char *name, AfTaskJudge *out) {
    for (int i = 0; name && i < AF_TJ_COUNT; i++)
        if (!strcmp(name, kNames[i])) {
            *out = (AfTaskJudge)i;
            return 0;
        }
    return -1;
}

const char *af_task_judge_name(AfTaskJudge j) { return (unsigned)j < AF_TJ_COUNT ? kNames[j] : "?"; }
const char *af_task_judge_names(void) { return "exact|numeric|choice|regex|contains|openai|model"; }

static int is_article(const char *w, size_t n) {
    return (n == 1 && w[0] == 'a') || (n == 2 && !memcmp(w, "an", 2)) || (n == 3 && !memcmp(w, "the", 3));
}

char *af_task_normalize(const char *in) {
    size_t len = strlen(in);
    char *low = malloc(len + 1), *out = malloc(len + 1);
    if (!low || !out) {
        free(low);
        free(out);
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c < 128 && ispunct(c)) continue;
        low[k++] = (char)(c < 128 ? tolower(c) : c);
    }
    low[k] = '\0';
    size_t o = 0;
    for (size_t i = 0; i < k;) {
        while (i < k && isspace((unsigned char)low[i])) i++;
        size_t b = i;
        while (i < k && !isspace((unsigned char)low[i])) i++;
        if (i == b || is_article(low + b, i - b)) continue;
        if (o) out[o++] = ' ';
        memcpy(out + o, low + b, i - b);
        o += i - b;
    }
    out[o] = '\0';
    free(low);
    return out;
}

float af_task_judge_exact(const char *answer, const char *gold) {
    if (!answer || !gold) return 0.0f;
    char *a = af_task_normalize(answer), *g = af_task_normalize(gold);
    float r = 0.0f;
    if (a && g) r = g[0] ? (strcmp(a, g) == 0 ? 1.0f : 0.0f) : af_judge_exact(answer, gold);
    free(a);
    free(g);
    return r;
}

float af_task_judge_contains(const char *answer, const char *gold) {
    if (!answer || !gold) return 0.0f;
    char *a = af_task_normalize(answer), *g = af_task_normalize(gold);
    float r = 0.0f;
    if (a && g && g[0]) {
        size_t gl = strlen(g);
        for (const char *p = strstr(a, g); p; p = strstr(p + 1, g))
            if ((p == a || p[-1] == ' ') && (p[gl] == '\0' || p[gl] == ' ')) {
                r = 1.0f;
                break;
            }
    }
    free(a);
    free(g);
    return r;
}

/* A number filling exactly b..e: decimal or a/b; "$" and "," skipped. */
static int parse_span(const char *b, const char *e, double *v) {
    char buf[128];
    size_t n = 0;
    for (const char *p = b; p < e; p++) {
        if (*p == '$' || *p == ',') continue;
        if (n + 1 >= sizeof buf) return -1;
        buf[n++] = *p;
    }
    buf[n] = '\0';
    if (!n) return -1;
    char *slash = strchr(buf, '/');
    if (slash) {
        *slash = '\0';
        double x, y;
        if (parse_span(buf, slash, &x) || parse_span(slash + 1, slash + 1 + strlen(slash + 1), &y) || y == 0) return -1;
        *v = x / y;
        return isfinite(*v) ? 0 : -1;
    }
    for (size_t i = 0; i < n; i++) /* strtod also reads hex, inf and nan: digits only */
        if (!isdigit((unsigned char)buf[i]) && !strchr("+-.eE", buf[i])) return -1;
    char *end = NULL;
    *v = strtod(buf, &end);
    return end == buf + n && isfinite(*v) ? 0 : -1;
}

int af_task_number(const char *text, int whole_only, double *v) {
    if (!text) return -1;
    const char *b = text, *e = text + strlen(text);
    while (b < e && isspace((unsigned char)*b)) b++;
    while (e > b && (isspace((unsigned char)e[-1]) || e[-1] == '.')) e--;
    if (parse_span(b, e, v) == 0) return 0;
    if (whole_only) return -1;
    /* the last maximal run of number characters that parses */
    const char *p = e;
    while (p > b) {
        while (p > b && !isdigit((unsigned char)p[-1])) p--;
        if (p == b) break;
        const char *q = p;
        while (q > b && (isdigit((unsigned char)q[-1]) || strchr("$,./-+eE", q[-1]))) q--;
        const char *s = q, *t = p;
        while (s < t && !isdigit((unsigned char)*s) && *s != '-' && *s != '$') s++;
        while (t > s && !isdigit((unsigned char)t[-1])) t--;
        if (s < t && parse_span(s, t, v) == 0) return 0;
        p = q;
    }
    return -1;
}

float af_task_judge_numeric(const char *answer, const char *gold, double tolerance) {
    double x, g;
    if (af_task_number(gold, 1, &g) || af_task_number(answer, 0, &x)) return 0.0f;
    return fabs(x - g) <= tolerance * fmax(1.0, fabs(g)) ? 1.0f : 0.0f;
}

int af_task_regex_compile(const char *pattern, regex_t *re, char *why, size_t cap) {
    int rc = regcomp(re, pattern, REG_EXTENDED | REG_ICASE | REG_NOSUB);
    if (rc == 0) return 0;
    char msg[160];
    regerror(rc, re, msg, sizeof msg);
    snprintf(why, cap, "%s", msg);
    return -1;
}

float af_task_judge_regex(const regex_t *re, const char *answer) {
    if (!re || !answer) return 0.0f;
    return regexec(re, answer, 0, NULL, 0) == 0 ? 1.0f : 0.0f;
}

int af_task_choice_index(const char *text, const char *const *choices, size_t n) {
    if (!text) return -1;
    const char *b = text, *e = text + strlen(text);
    while (b < e && isspace((unsigned char)*b)) b++;
    while (e > b && isspace((unsigned char)e[-1])) e--;
    /* a letter: "B", "(B)", "B.", "B)" */
    const char *l = b, *r = e;
    if (r - l >= 2 && *l == '(' && r[-1] == ')') l++, r--;
    else if (r - l == 2 && (r[-1] == '.' || r[-1] == ')')) r--;
    if (r - l == 1 && isalpha((unsigned char)*l)) {
        size_t k = (size_t)(toupper((unsigned char)*l) - 'A');
        if (k < n) return (int)k;
    }
    char *t = af_task_normalize(text);
    if (!t) return -1;
    int found = -1;
    for (size_t i = 0; i < n && found < 0; i++) {
        char *c = af_task_normalize(choices[i]);
        if (c && !strcmp(c, t)) found = (int)i;
        free(c);
    }
    free(t);
    return found;
}

float af_task_judge_choice(const char *answer, const char *gold, const char *const *choices, size_t n) {
    int g = af_task_choice_index(gold, choices, n);
    return g >= 0 && af_task_choice_index(answer, choices, n) == g ? 1.0f : 0.0f;
}
