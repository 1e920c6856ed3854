/* Memory records and prompt rendering. */
#include "actor/memory.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "env/tool.h"

int af_memory_create(size_t cap, AfMemory **out) {
    AfMemory *m = calloc(1, sizeof *m);
    if (!m) return af_error_set(AF_ENOMEM, "memory");
    m->cap = cap ? cap : 4;
    m->turns = calloc(m->cap, sizeof *m->turns);
    if (!m->turns) {
        free(m);
        return af_error_set(AF_ENOMEM, "memory: %zu turns", cap);
    }
    *out = m;
    return 0;
}

void af_memory_reset(AfMemory *m) {
    for (size_t i = 0; i < m->n; i++) af_turn_record_clear(&m->turns[i]);
    m->n = 0;
}

void af_memory_destroy(AfMemory *m) {
    if (!m) return;
    af_memory_reset(m);
    free(m->turns);
    free(m);
}

int af_memory_append(AfMemory *m, AfTurnRecord *rec) {
    if (m->n == m->cap) {
        size_t cap = m->cap * 2;
        AfTurnRecord *t = realloc(m->turns, cap * sizeof *t);
        if (!t) return af_error_set(AF_ENOMEM, "memory: %zu turns", cap);
        m->turns = t;
        m->cap = cap;
    }
    m->turns[m->n++] = *rec;
    memset(rec, 0, sizeof *rec);
    return 0;
}

typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} Buf;

static void put(Buf *b, const char *s, size_t n, size_t limit) {
    if (b->oom) return;
    int cut = n > limit;
    if (cut) n = limit;
    if (b->len + n + 4 >= b->cap) {
        size_t cap = (b->cap ? b->cap : 256);
        while (b->len + n + 4 >= cap) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        b->p[b->len++] = (c < 32 || c == 127) ? ' ' : (char)c;
    }
    if (cut) {
        memcpy(b->p + b->len, "...", 3);
        b->len += 3;
    }
    b->p[b->len] = '\0';
}

static void puts_(Buf *b, const char *s) { put(b, s, strlen(s), (size_t)-1); }

static void newline(Buf *b) {
    put(b, "", 0, 0); /* ensures room: put keeps 4 spare bytes */
    if (!b->oom) {
        b->p[b->len++] = '\n';
        b->p[b->len] = '\0';
    }
}

/* Structural newlines are written directly; field text never contains one. */
static void render_turns(Buf *b, const AfTurnRecord *t, size_t first, size_t n, size_t result_bytes) {
    for (size_t i = first; i < n; i++) {
        char num[24];
        snprintf(num, sizeof num, "%zu", i + 1);
        puts_(b, num);
        if (t[i].tool[0]) {
            puts_(b, " ");
            puts_(b, t[i].tool);
            if (t[i].argument[0]) {
                puts_(b, " ");
                puts_(b, t[i].argument);
            }
            if (t[i].sub_goal[0]) {
                puts_(b, " | ");
                puts_(b, t[i].sub_goal);
            }
        }
        puts_(b, " -> ");
        put(b, t[i].result, strlen(t[i].result), result_bytes);
        newline(b);
    }
}

int af_memory_view(const AfTurnRecord *turns, size_t first, size_t n, size_t recent, AfTurnRecord **out) {
    *out = NULL;
    if (recent == 0 || n <= first || n - first <= recent) return 0;
    AfTurnRecord *v = malloc(n * sizeof *v);
    if (!v) return af_error_set(AF_ENOMEM, "memory view");
    memcpy(v, turns, n * sizeof *v);
    for (size_t i = first; i < n - recent; i++) v[i].result = (char *)af_tool_status_name(v[i].status);
    *out = v;
    return 0;
}

int af_memory_render(const AfTurnRecord *turns, size_t n, size_t result_bytes, char **out) {
    Buf b = {0};
    put(&b, "", 0, 0);
    render_turns(&b, turns, 0, n, result_bytes);
    if (b.oom) {
        free(b.p);
        return af_error_set(AF_ENOMEM, "memory render");
    }
    *out = b.p;
    return 0;
}


static void put_head(Buf *b, const AfSuite *suite, const char *question) {
    puts_(b, "Q: ");
    puts_(b, question);
    newline(b);
    puts_(b, "T: ");
    for (size_t i = 0; i < suite->n_tools; i++) {
        puts_(b, suite->tools[i]->name);
        puts_(b, " ");
    }
    puts_(b, "stop");
    newline(b);
}

static int finish(Buf *b, const char *what, char **out) {
    if (b->oom) {
        free(b->p);
        return af_error_set(AF_ENOMEM, "%s", what);
    }
    *out = b->p;
    return 0;
}

int af_prompt_render(const AfSuite *suite, const char *question, const AfTurnRecord *turns, size_t first, size_t n,
                     size_t result_bytes, char **out) {
    Buf b = {0};
    put_head(&b, suite, question);
    puts_(&b, "M:");
    newline(&b);
    render_turns(&b, turns, first, n, result_bytes);
    puts_(&b, "A:");
    return finish(&b, "prompt render", out);
}

int af_transcript_head(const AfSuite *suite, const char *question, char **out) {
    Buf b = {0};
    put_head(&b, suite, question);
    puts_(&b, "A:");
    return finish(&b, "transcript render", out);
}

int af_transcript_result(const char *result, size_t result_bytes, char **out) {
    Buf b = {0};
    puts_(&b, " -> ");
    put(&b, result, strlen(result), result_bytes);
    newline(&b);
    puts_(&b, "A:");
    return finish(&b, "transcript render", out);
}
