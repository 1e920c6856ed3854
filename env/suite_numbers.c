/* game24, countdown and arith: number puzzles solved through the calculator tool with
 * step references (#k): parsing, references, the state of a try, the suite's modules,
 * oracle, explorer and random actions. Grammar and rules: env/suites.h; the exhaustive
 * solver is env/numbers_solver.h, the question generators env/numbers_gen.h. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "env/calc.h"
#include "env/numbers_gen.h"
#include "env/numbers_solver.h"
#include "env/suites.h"

#define NUM_MAX AF_NUMBERS_MAX
#define AF_STATE_TURNS_MAX 64

typedef struct {
    int64_t nums[NUM_MAX];
    int n;
    int has_target;
    AfRational target;
} Puzzle;

typedef struct {
    AfNumbersKind kind;
} NumCtx;

static AfNumbersKind kind_of(const AfSuite *s) { return ((const NumCtx *)s->ctx)->kind; }

/* ------------------------------------------------------------------ parsing */

static int parse_ints(const char *b, const char *e, int64_t *v, int max, int *n, char *why, size_t cap) {
    *n = 0;
    const char *p = b;
    while (p < e) {
        while (p < e && (*p == ' ' || *p == '\t' || *p == ',')) p++;
        if (p >= e) break;
        if (!isdigit((unsigned char)*p)) {
            snprintf(why, cap, "field \"question\": expected integers, found '%c'", isprint((unsigned char)*p) ? *p : '?');
            return -1;
        }
        int64_t x = 0;
        int digits = 0;
        while (p < e && isdigit((unsigned char)*p)) {
            x = x * 10 + (*p - '0');
            if (++digits > 6) {
                snprintf(why, cap, "field \"question\": number too large (max 999999)");
                return -1;
            }
            p++;
        }
        if (*n >= max) {
            snprintf(why, cap, "field \"question\": more than %d numbers", max);
            return -1;
        }
        v[(*n)++] = x;
    }
    return 0;
}

static int puzzle_parse(AfNumbersKind kind, const AfItem *item, Puzzle *pz, char *why, size_t cap) {
    memset(pz, 0, sizeof *pz);
    const char *q = item->question, *qe = q + strlen(q);
    if (kind == AF_NUMBERS_GAME24) {
        if (parse_ints(q, qe, pz->nums, NUM_MAX, &pz->n, why, cap)) return -1;
        if (pz->n != 4) {
            snprintf(why, cap, "field \"question\": expected four numbers, got %d", pz->n);
            return -1;
        }
        pz->has_target = 1;
        pz->target = af_rat_int(24);
        return 0;
    }
    if (kind == AF_NUMBERS_COUNTDOWN) {
        const char *arrow = strstr(q, "->");
        if (parse_ints(q, arrow ? arrow : qe, pz->nums, NUM_MAX, &pz->n, why, cap)) return -1;
        if (pz->n < 2 || pz->n > 6) {
            snprintf(why, cap, "field \"question\": expected 2..6 numbers, got %d", pz->n);
            return -1;
        }
        int64_t t[2];
        int nt = 0;
        if (arrow) {
            if (parse_ints(arrow + 2, qe, t, 2, &nt, why, cap)) return -1;
            if (nt != 1) {
                snprintf(why, cap, "field \"question\": expected one target after '->'");
                return -1;
            }
        } else {
            AfRational a;
            if (af_rat_parse(item->answer, &a) || !af_rat_is_int(a)) {
                snprintf(why, cap, "field \"answer\": expected an integer target (no '->' in the question)");
                return -1;
            }
            t[0] = a.num;
        }
        pz->has_target = 1;
        pz->target = af_rat_int(t[0]);
        return 0;
    }
    /* arith: every digit run in the question */
    for (const char *p = q; *p;) {
        if (!isdigit((unsigned char)*p)) {
            p++;
            continue;
        }
        int64_t x = 0;
        int digits = 0;
        while (isdigit((unsigned char)*p)) {
            x = x * 10 + (*p++ - '0');
            if (++digits > 9) {
                snprintf(why, cap, "field \"question\": number too large");
                return -1;
            }
        }
        if (pz->n >= NUM_MAX) {
            snprintf(why, cap, "field \"question\": more than %d numbers", NUM_MAX);
            return -1;
        }
        pz->nums[pz->n++] = x;
    }
    if (pz->n == 0) {
        snprintf(why, cap, "field \"question\": no numbers");
        return -1;
    }
    AfRational a;
    if (af_rat_parse(item->answer, &a) == 0) {
        pz->has_target = 1;
        pz->target = a;
    }
    return 0;
}

static int check_item(void *ctx, const AfItem *item, char *why, size_t cap) {
    Puzzle pz;
    AfNumbersKind kind = ((NumCtx *)ctx)->kind;
    if (puzzle_parse(kind, item, &pz, why, cap)) return -1;
    if (kind == AF_NUMBERS_ARITH && !pz.has_target) {
        snprintf(why, cap, "field \"answer\": expected a number");
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ references */

/* The index of a reference at *p ('#' or '$' then up to 4 digits); advances *p past it. */
static size_t ref_index(const char **p, int *digits) {
    size_t k = 0;
    (*p)++;
    *digits = 0;
    while (isdigit((unsigned char)**p) && *digits < 4) {
        k = k * 10 + (size_t)(*(*p)++ - '0');
        (*digits)++;
    }
    return k;
}

/* Appends the expansion of arg (references "#k" to turns 1..limit, "$k" to the question's
 * k-th number; pz NULL: no "$") to buf[*len..cap). */
static int expand_into(const AfTurnRecord *mem, size_t limit, const Puzzle *pz, const char *arg, char *buf,
                       size_t *len, size_t cap, char *why, size_t wcap) {
    for (const char *p = arg; *p;) {
        if (*p == '$') {
            int digits = 0;
            size_t k = ref_index(&p, &digits);
            if (!pz || !digits || k < 1 || k > (size_t)pz->n) {
                snprintf(why, wcap, "'$%zu' names no number of the question (1..%d)", k, pz ? pz->n : 0);
                return -1;
            }
            char num[24];
            int w = snprintf(num, sizeof num, "%lld", (long long)pz->nums[k - 1]);
            if (*len + (size_t)w + 1 >= cap) goto too_long;
            memcpy(buf + *len, num, (size_t)w);
            *len += (size_t)w;
            continue;
        }
        if (*p != '#') {
            if (*len + 1 >= cap) goto too_long;
            buf[(*len)++] = *p++;
            continue;
        }
        int digits = 0;
        size_t k = ref_index(&p, &digits);
        if (!digits || k < 1 || k > limit) {
            snprintf(why, wcap, "'#%zu' names no earlier turn (1..%zu)", k, limit);
            return -1;
        }
        const AfTurnRecord *r = &mem[k - 1];
        if (r->status != AF_TOOL_OK || strcmp(r->tool, "calculator")) {
            snprintf(why, wcap, "'#%zu' is not a calculator result", k);
            return -1;
        }
        if (*len + 1 >= cap) goto too_long;
        buf[(*len)++] = '(';
        if (expand_into(mem, k - 1, pz, r->argument, buf, len, cap, why, wcap)) return -1;
        if (*len + 1 >= cap) goto too_long;
        buf[(*len)++] = ')';
    }
    buf[*len] = '\0';
    return 0;
too_long:
    snprintf(why, wcap, "expression longer than %d bytes after expanding references", AF_CALC_MAX_LEN);
    return -1;
}

static int expand(const AfTurnRecord *mem, size_t limit, const Puzzle *pz, const char *arg, char *buf, char *why,
                  size_t wcap) {
    size_t len = 0;
    buf[0] = '\0';
    return expand_into(mem, limit, pz, arg, buf, &len, AF_CALC_MAX_LEN + 1, why, wcap);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* 1 if the literals are a sub-multiset (exact=0) or the same multiset (exact=1). */
static int uses_numbers(const Puzzle *pz, const AfCalcInfo *info, int exact, int64_t *stray) {
    int64_t a[NUM_MAX], b[AF_CALC_MAX_LITERALS];
    int na = pz->n, nb = info->n_literals;
    memcpy(a, pz->nums, sizeof(int64_t) * (size_t)na);
    memcpy(b, info->literals, sizeof(int64_t) * (size_t)nb);
    qsort(a, (size_t)na, sizeof *a, cmp_i64);
    qsort(b, (size_t)nb, sizeof *b, cmp_i64);
    int i = 0, j = 0;
    while (j < nb) {
        while (i < na && a[i] < b[j]) {
            if (exact) return 0;
            i++;
        }
        if (i >= na || a[i] != b[j]) {
            if (stray) *stray = b[j];
            return 0;
        }
        i++;
        j++;
    }
    return exact ? i == na : 1;
}

/* Evaluates turn k (0-based) expanded; 0 if it is a successful calculator turn. */
static int turn_eval(const Puzzle *pz, const AfTurnRecord *mem, size_t k, char *buf, AfCalcInfo *info) {
    char why[128];
    if (mem[k].status != AF_TOOL_OK || strcmp(mem[k].tool, "calculator")) return -1;
    if (expand(mem, k, pz, mem[k].argument, buf, why, sizeof why)) return -1;
    return af_calc_eval(buf, info, NULL, 0) ? -1 : 0;
}

static int turn_complete(AfNumbersKind kind, const Puzzle *pz, const AfCalcInfo *info) {
    if (info->unary_minus || !uses_numbers(pz, info, 1, NULL)) return 0;
    if (kind == AF_NUMBERS_ARITH) return 1;
    return af_rat_eq(info->value, pz->target);
}

/* ------------------------------------------------------------------ state */

/* What a planner working in steps has left after turn n (0-based, `arg` its argument, a
 * successful calculator turn): the puzzle's numbers that no successful calculator turn
 * has used yet, and the results no later turn has referenced yet ("#k=value"). Turns are
 * replayed in order: each removes its literals from the numbers (those it cannot find
 * are ignored) and its references from the results, and adds its own result. Appended to
 * the result text as ", left: $3=3 $4=4 #1=9" unless only this turn's result is left. game24 and
 * countdown only (arith's result is its answer). */
/* Reads the digit run at *p (its first 12 digits make *x) and advances *p past it;
 * returns the run's length. */
static int read_digits(const char **p, int64_t *x) {
    int digits = 0;
    *x = 0;
    for (; isdigit((unsigned char)**p); (*p)++)
        if (digits++ < 12) *x = *x * 10 + (**p - '0');
    return digits;
}

static void scan_arg(const char *arg, int64_t *lit, int *nl, size_t *ref, int *nr, size_t *pos, int *npos) {
    *nl = *nr = *npos = 0;
    for (const char *p = arg; *p;) {
        char mark = *p == '#' || *p == '$' ? *p : 0;
        if (mark) p++;
        if (!isdigit((unsigned char)*p)) {
            if (!mark) p++;
            continue;
        }
        int64_t x;
        read_digits(&p, &x);
        if (mark == '#' && *nr < AF_CALC_MAX_LITERALS) ref[(*nr)++] = (size_t)x;
        else if (mark == '$' && *npos < AF_CALC_MAX_LITERALS) pos[(*npos)++] = (size_t)x;
        else if (!mark && *nl < AF_CALC_MAX_LITERALS) lit[(*nl)++] = x;
    }
}

/* How often a game24/countdown episode may start over (suites.h, "Attempts"). */
typedef struct {
    int attempts; /* attempts per episode, >= 1 */
    int retries;  /* extra tries from the state after an attempt's first step, >= 0 */
} Tries;

static Tries tries_of(const AfSuite *s) { return (Tries){s->attempts, s->retries}; }

/* The order in which attempt a (0-based) presents the question's n numbers: ord[i] is
 * the 0-based position of the i-th number shown. Attempt 0 keeps the question's order;
 * later ones rotate it by a (and from the (n+1)-th attempt on also swap the 2nd and 3rd),
 * so that each attempt starts from a different presentation. */
static void attempt_order(int a, int n, int *ord) {
    for (int i = 0; i < n; i++) ord[i] = (i + a) % n;
    if ((a / n) % 2 == 1 && n >= 3) {
        int t = ord[1];
        ord[1] = ord[2];
        ord[2] = t;
    }
}

/* What the turns leave (see append_state), within the current try: used[j] = question
 * number j taken, live[t] = turn t's result (1-based) not yet referenced. attempt: root
 * attempts closed; retry: retries from the current attempt's first step; restarts: both
 * together; start: the turn (0-based) that opened the current try (its result shows the
 * fresh state; 0 at first); snap*: the state after the attempt's first step. */
typedef struct {
    int used[NUM_MAX];
    unsigned char live[AF_STATE_TURNS_MAX + 1];
    int attempt, retry, restarts;
    size_t start;
    size_t last_ok; /* the last successful calculator turn (0-based; 0 if none) */
    int has_snap;
    size_t snap_turn; /* 1-based turn of the first step */
    int snap_used[NUM_MAX];
    unsigned char snap_live[AF_STATE_TURNS_MAX + 1];
} State;

/* Items left in st (numbers and live results, t <= last). */
static int items_left(const Puzzle *pz, const State *st, size_t last) {
    int k = 0;
    for (int j = 0; j < pz->n; j++) k += !st->used[j];
    for (size_t u = 1; u <= last; u++) k += st->live[u];
    return k;
}

/* 1 if turn t (0-based, successful calculator turn, result text `result`) ended a try:
 * nothing but its own result left, and that is not the target. */
static int ends_try(const Puzzle *pz, const State *st, size_t t, const char *result) {
    if (items_left(pz, st, t + 1) != 1) return 0;
    char v[64];
    size_t vl = strcspn(result, ",;");
    if (vl >= sizeof v) return 1; /* not a number we print: not the target */
    memcpy(v, result, vl);
    v[vl] = '\0';
    AfRational r;
    return !pz->has_target || af_rat_parse(v, &r) || !af_rat_eq(r, pz->target);
}

/* Replays turns 0..n-1 (and `extra` as turn n when not NULL, taken as a successful
 * calculator turn) into *st. A turn that ends a try while tries remain starts the next:
 * a retry from the state after the attempt's first step while retries remain, else a new
 * attempt with every number back. -1 if too many turns. */
static int replay_state(const Puzzle *pz, Tries tries, const AfTurnRecord *mem, size_t n, const AfTurnRecord *extra,
                        State *st) {
    const int64_t *pool = pz->nums;
    const int np = pz->n;
    memset(st, 0, sizeof *st);
    if (n >= AF_STATE_TURNS_MAX) return -1;
    for (size_t t = 0; t < n + (extra != NULL); t++) {
        const AfTurnRecord *r = t < n ? &mem[t] : extra;
        if (t < n && (r->status != AF_TOOL_OK || strcmp(r->tool, "calculator"))) continue;
        int64_t lit[AF_CALC_MAX_LITERALS];
        size_t ref[AF_CALC_MAX_LITERALS], pos[AF_CALC_MAX_LITERALS];
        int nl, nr, npos;
        scan_arg(r->argument, lit, &nl, ref, &nr, pos, &npos);
        for (int i = 0; i < npos; i++)
            if (pos[i] >= 1 && pos[i] <= (size_t)np) st->used[pos[i] - 1] = 1;
        for (int i = 0; i < nl; i++)
            for (int j = 0; j < np; j++)
                if (!st->used[j] && pool[j] == lit[i]) {
                    st->used[j] = 1;
                    break;
                }
        for (int i = 0; i < nr; i++)
            if (ref[i] >= 1 && ref[i] <= t) st->live[ref[i]] = 0;
        st->live[t + 1] = 1;
        st->last_ok = t;
        if (tries.retries > 0 && !st->has_snap && np >= 3 && items_left(pz, st, t + 1) == np - 1) {
            st->has_snap = 1;
            st->snap_turn = t + 1;
            memcpy(st->snap_used, st->used, sizeof st->used);
            memcpy(st->snap_live, st->live, sizeof st->live);
        }
        const int can_retry = st->has_snap && st->retry < tries.retries;
        if ((!can_retry && st->attempt + 1 >= tries.attempts) || !ends_try(pz, st, t, r->result)) continue;
        if (can_retry) {
            memcpy(st->used, st->snap_used, sizeof st->used);
            memcpy(st->live, st->snap_live, sizeof st->live);
            st->retry++;
        } else if (st->attempt + 1 < tries.attempts) {
            memset(st->used, 0, sizeof st->used);
            memset(st->live, 0, sizeof st->live);
            st->attempt++;
            st->retry = 0;
            st->has_snap = 0;
        }
        st->restarts++;
        st->start = t;
    }
    return 0;
}

/* One item of a state as listed: question number j (0-based) or the result of turn t
 * (1-based). */
typedef struct {
    int number; /* 1: pool[j]; 0: turn t's result */
    int j;
    size_t t;
} Item;

/* The items st leaves (results up to turn `last`), in the order they are listed: the
 * numbers in the attempt's order, then the results by turn, the whole list rotated by
 * the retry count (so that each retry lists the same state differently). Returns k. */
static int list_items(const Puzzle *pz, const State *st, size_t last, Item *items) {
    Item all[NUM_MAX + AF_STATE_TURNS_MAX + 1];
    int ord[NUM_MAX], k = 0;
    attempt_order(st->attempt, pz->n, ord);
    for (int i = 0; i < pz->n; i++)
        if (!st->used[ord[i]]) all[k++] = (Item){1, ord[i], 0};
    for (size_t t = 1; t <= last; t++)
        if (st->live[t]) all[k++] = (Item){0, 0, t};
    for (int i = 0; i < k; i++) items[i] = all[(i + st->retry) % k];
    return k;
}

/* Appends what is left after `out` (turn n, a successful calculator turn) to its result:
 * ", left: $3=3 $4=4 #1=9" (as list_items orders them), nothing when only this turn's
 * result is left; "; attempt 2, left: ..." (every number) when it ended an attempt and
 * another begins; "; retry from #1, left: ..." when the attempt tries again from the state
 * its first step (turn 1) left. */
static int append_state(const Puzzle *pz, Tries tries, const AfTurnRecord *mem, size_t n, AfTurnRecord *out) {
    State st;
    Item items[NUM_MAX + AF_STATE_TURNS_MAX + 1];
    if (replay_state(pz, tries, mem, n, out, &st)) return 0;
    const int fresh = st.restarts > 0 && st.start == n;
    const int k = list_items(pz, &st, n + 1, items);
    char buf[256];
    size_t len = 0;
    int others = 0;
    if (fresh && st.retry > 0)
        len += (size_t)snprintf(buf, sizeof buf, "%s; retry from #%zu, left:", out->result, st.snap_turn);
    else if (fresh)
        len += (size_t)snprintf(buf, sizeof buf, "%s; attempt %d, left:", out->result, st.attempt + 1);
    else
        len += (size_t)snprintf(buf, sizeof buf, "%s, left:", out->result);
    for (int i = 0; i < k && len < sizeof buf; i++) {
        if (items[i].number) {
            len += (size_t)snprintf(buf + len, sizeof buf - len, " $%d=%lld", items[i].j + 1,
                                    (long long)pz->nums[items[i].j]);
            others++;
            continue;
        }
        const size_t t = items[i].t;
        const char *v = t <= n ? mem[t - 1].result : out->result;
        size_t vl = strcspn(v, ",;");
        len += (size_t)snprintf(buf + len, sizeof buf - len, " #%zu=%.*s", t, (int)vl, v);
        others += t <= n;
    }
    if (!others || len >= sizeof buf) return 0;
    char *r = strdup(buf);
    if (!r) return af_error_set(AF_ENOMEM, "turn result");
    free(out->result);
    out->result = r;
    return 0;
}

/* ------------------------------------------------------------------ modules */

static int num_execute(const AfSuite *s, const AfItem *item, const AfTurnRecord *mem, size_t n,
                       const char *action_text, double tool_timeout_s, AfTurnRecord *out) {
    char why[200], msg[256];
    AfAction a;
    Puzzle pz;
    int rc = af_action_parse(action_text, &a, why, sizeof why);
    if (rc == AF_EINVAL) {
        snprintf(msg, sizeof msg, "bad action: %s", why);
        return af_turn_record_set(out, "", "", "", AF_TOOL_BAD_ACTION, msg);
    }
    if (rc) return rc;
    if (!strcmp(a.tool, "stop")) {
        rc = af_turn_record_set(out, a.tool, a.argument, a.sub_goal, AF_TOOL_NO_CALL, "");
        goto done;
    }
    if ((rc = af_turn_record_set(out, a.tool, a.argument, a.sub_goal, AF_TOOL_BAD_ACTION, ""))) goto done;
    if (strcmp(a.tool, "calculator")) { /* unknown tool: the common path reports it */
        rc = af_suite_call_tool(s, a.tool, a.argument, tool_timeout_s, out);
        goto done;
    }
    if (puzzle_parse(kind_of(s), item, &pz, why, sizeof why)) {
        snprintf(msg, sizeof msg, "error: %s", why);
        goto reject_err;
    }
    char expanded[AF_CALC_MAX_LEN + 1];
    if (expand(mem, n, &pz, a.argument, expanded, why, sizeof why)) {
        snprintf(msg, sizeof msg, "bad action: %s", why);
        goto reject;
    }
    AfCalcInfo info;
    if (af_calc_eval(expanded, &info, NULL, 0) == 0) {
        int64_t stray = 0;
        if (info.unary_minus) {
            snprintf(msg, sizeof msg, "bad action: unary minus not allowed");
            goto reject;
        }
        if (!uses_numbers(&pz, &info, 0, &stray)) {
            snprintf(msg, sizeof msg, "uses numbers not given: %lld", (long long)stray);
            goto reject;
        }
    }
    /* syntax errors, division by zero and overflow are reported by the tool itself */
    rc = af_suite_call_tool(s, "calculator", expanded, tool_timeout_s, out);
    if (rc == 0 && out->status == AF_TOOL_OK && kind_of(s) != AF_NUMBERS_ARITH)
        rc = append_state(&pz, tries_of(s), mem, n, out);
    goto done;
reject_err:
    out->status = AF_TOOL_ERROR;
    free(out->result);
    out->result = strdup(msg);
    rc = out->result ? 0 : af_error_set(AF_ENOMEM, "turn result");
    goto done;
reject:
    out->status = AF_TOOL_BAD_ACTION;
    free(out->result);
    out->result = strdup(msg);
    rc = out->result ? 0 : af_error_set(AF_ENOMEM, "turn result");
done:
    af_action_clear(&a);
    if (rc) af_turn_record_clear(out);
    return rc;
}

static int num_verify(const AfSuite *s, const AfItem *item, const AfTurnRecord *mem, size_t n, int *stop) {
    char why[128], buf[AF_CALC_MAX_LEN + 1];
    Puzzle pz;
    AfCalcInfo info;
    *stop = 0;
    if (n > 0 && mem[n - 1].status == AF_TOOL_NO_CALL) {
        *stop = 1;
        return 0;
    }
    if (puzzle_parse(kind_of(s), item, &pz, why, sizeof why)) return 0;
    for (size_t k = 0; k < n; k++)
        if (turn_eval(&pz, mem, k, buf, &info) == 0 && turn_complete(kind_of(s), &pz, &info)) *stop = 1;
    return 0;
}

static int num_generate(const AfSuite *s, const AfItem *item, const AfTurnRecord *mem, size_t n, char **answer) {
    char why[128], buf[AF_CALC_MAX_LEN + 1];
    Puzzle pz;
    AfCalcInfo info;
    AfNumbersKind kind = kind_of(s);
    int ok = puzzle_parse(kind, item, &pz, why, sizeof why) == 0;
    const char *best = NULL;
    char bestbuf[AF_CALC_MAX_LEN + 1];
    for (int pass = 0; pass < 2 && !best; pass++) {
        for (size_t k = n; k-- > 0;) {
            if (turn_eval(ok ? &pz : NULL, mem, k, buf, &info)) continue;
            if (pass == 0 && !(ok && turn_complete(kind, &pz, &info))) continue;
            if (kind == AF_NUMBERS_ARITH) {
                best = mem[k].result;
            } else {
                memcpy(bestbuf, buf, sizeof bestbuf);
                best = bestbuf;
            }
            break;
        }
    }
    *answer = strdup(best ? best : "");
    return *answer ? 0 : af_error_set(AF_ENOMEM, "answer");
}

static int num_judge(const AfSuite *s, const AfItem *item, const char *answer, float *reward) {
    char why[128];
    Puzzle pz;
    AfNumbersKind kind = kind_of(s);
    *reward = 0.0f;
    if (kind == AF_NUMBERS_ARITH) {
        *reward = af_judge_numeric(answer, item->answer);
        return 0;
    }
    if (puzzle_parse(kind, item, &pz, why, sizeof why)) return 0;
    AfCalcInfo info;
    if (af_calc_eval(answer, &info, NULL, 0)) return 0;
    if (turn_complete(kind, &pz, &info)) *reward = 1.0f;
    return 0;
}

/* ------------------------------------------------------------------ solver */

/* Line `idx` of a '\n'-separated plan, malloc'd; NULL if there is none (or no memory). */
static char *plan_line(const char *plan, size_t idx) {
    const char *p = plan;
    for (size_t i = 0; i < idx; i++) {
        p = strchr(p, '\n');
        if (!p) return NULL;
        p++;
    }
    const char *e = strchr(p, '\n');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    return len ? strndup(p, len) : NULL;
}

/* Line idx of an arith plan with each literal number replaced by "$k", the position of
 * the first question number of that value that no earlier literal took (lines 0..idx
 * replayed); malloc'd, NULL if there is no such line (or no memory). */
static char *plan_line_refs(const Puzzle *pz, const char *plan, size_t idx) {
    int used[NUM_MAX] = {0};
    for (size_t i = 0;; i++) {
        char *line = plan_line(plan, i);
        if (!line) return NULL;
        size_t cap = strlen(line) * 4 + 16, o = 0;
        char *out = malloc(cap);
        if (!out) {
            free(line);
            return NULL;
        }
        for (const char *p = line; *p;) {
            if ((*p == '#' || *p == '$') && isdigit((unsigned char)p[1])) {
                out[o++] = *p++;
                while (isdigit((unsigned char)*p)) out[o++] = *p++;
                continue;
            }
            if (!isdigit((unsigned char)*p)) {
                out[o++] = *p++;
                continue;
            }
            const char *b = p;
            int64_t x;
            int digits = read_digits(&p, &x);
            int j = 0;
            while (j < pz->n && (used[j] || pz->nums[j] != x)) j++;
            if (j < pz->n && digits <= 12) {
                used[j] = 1;
                o += (size_t)snprintf(out + o, cap - o, "$%d", j + 1);
            } else {
                memcpy(out + o, b, (size_t)(p - b));
                o += (size_t)(p - b);
            }
        }
        out[o] = '\0';
        free(line);
        if (i == idx) return out;
        free(out);
    }
}

/* game24/countdown: the state the memory leaves as atoms, in the order list_items gives;
 * *k of them, or 0 if the memory does not replay. */
static int state_atoms(const Puzzle *pz, Tries tries, const AfTurnRecord *mem, size_t n, AfNumAtom *atoms, int *k) {
    State st;
    Item items[NUM_MAX + AF_STATE_TURNS_MAX + 1];
    *k = 0;
    if (replay_state(pz, tries, mem, n, NULL, &st)) return 0;
    const int m = list_items(pz, &st, n, items);
    if (m > NUM_MAX) return 0;
    for (int i = 0; i < m; i++) {
        if (items[i].number) {
            atoms[i].v = af_rat_int(pz->nums[items[i].j]);
            snprintf(atoms[i].ref, sizeof atoms[0].ref, "$%d", items[i].j + 1);
            continue;
        }
        char buf[AF_CALC_MAX_LEN + 1];
        AfCalcInfo info;
        if (turn_eval(pz, mem, items[i].t - 1, buf, &info)) return 0;
        atoms[i].v = info.value;
        snprintf(atoms[i].ref, sizeof atoms[0].ref, "#%zu", items[i].t);
    }
    return *k = m;
}

/* game24/countdown: the first step of a solution from the state the memory leaves, so it
 * also continues what another planner began; 1 and steps[0] set, or 0 if that state has
 * no solution. */
static int solve_from_state(const Puzzle *pz, Tries tries, const AfTurnRecord *mem, size_t n,
                            char (*steps)[AF_NUMBERS_STEP_LEN]) {
    AfNumAtom atoms[NUM_MAX];
    int k;
    if (state_atoms(pz, tries, mem, n, atoms, &k) < 2) return 0;
    return af_numbers_solve(atoms, k, pz->target, 0, steps);
}

/* game24/countdown: the steps of the state the memory leaves, in search order, into
 * *cand (malloc'd, *nc of them; NULL when there are none): every step, or with
 * solvable_only those after which the state is still solvable. None for arith, a bad item
 * or memory, or a state of fewer than min_left numbers. *left: the state's numbers (0 for
 * arith, a bad item or memory). Returns 0 or AF_ENOMEM. */
static int state_steps(const AfSuite *s, const AfItem *item, const AfTurnRecord *mem, size_t n, int min_left,
                       int solvable_only, char (**cand)[AF_NUMBERS_STEP_LEN], int *nc, int *left) {
    Puzzle pz;
    char why[128];
    AfNumAtom atoms[NUM_MAX];
    int k = 0;
    AfNumbersKind kind = kind_of(s);
    *cand = NULL;
    *nc = 0;
    *left = 0;
    if (kind == AF_NUMBERS_ARITH || puzzle_parse(kind, item, &pz, why, sizeof why) ||
        (*left = state_atoms(&pz, tries_of(s), mem, n, atoms, &k)) < min_left)
        return 0;
    char (*c)[AF_NUMBERS_STEP_LEN] = malloc((size_t)k * (size_t)k * 4 * AF_NUMBERS_STEP_LEN);
    if (!c) return af_error_set(AF_ENOMEM, "%s: the steps of a state", s->name);
    char ref[24];
    snprintf(ref, sizeof ref, "#%zu", n + 1);
    for (int st = 0; st < 4 * k * k; st++) {
        AfNumAtom next[NUM_MAX];
        const int m = af_numbers_step(atoms, k, st, ref, next, c[*nc]);
        if (m && (!solvable_only || af_numbers_solve(next, m, pz.target, 1, NULL))) (*nc)++;
    }
    if (*nc) *cand = c;
    else free(c);
    return 0;
}

/* game24/countdown: a uniformly drawn step among those after which the state the memory
 * leaves is still solvable; NULL for arith and when fewer than 3 numbers are left (no
 * choice to make) or none keeps it solvable. When the suite starts over (attempts or
 * retries) any step of a state of 2 or more numbers: a dead end only costs the try, and
 * the demonstrations then show the oracle starting over from the next try's state. For
 * warm-start demonstrations that visit more sub-games than the canonical solutions. */
static int num_explore(const AfSuite *s, const AfItem *item, const AfTurnRecord *mem, size_t n, AfRng *rng,
                       char **action) {
    const int any = s->attempts > 1 || s->retries > 0;
    char (*cand)[AF_NUMBERS_STEP_LEN];
    int nc, left, rc;
    *action = NULL;
    if ((rc = state_steps(s, item, mem, n, any ? 2 : 3, !any, &cand, &nc, &left)) || !nc) return rc;
    *action = strdup(cand[af_rng_below(rng, (uint32_t)nc)]);
    free(cand);
    return *action ? 0 : af_error_set(AF_ENOMEM, "explore action");
}

/* game24/countdown: every step of the state the memory leaves (two of the numbers left and
 * an operator whose result exists), in search order; "stop" alone where one number is
 * left (countdown's single try after a last step that missed: no step remains); none for
 * arith or a memory that does not replay. The forward steps only: the calculator also
 * accepts an expression re-combining an earlier turn's inputs (each question number at
 * most once), which this list leaves out. */
static int num_actions(const AfSuite *s, const AfItem *item, const AfTurnRecord *mem, size_t n, char ***actions,
                       size_t *n_actions) {
    char (*cand)[AF_NUMBERS_STEP_LEN];
    int nc, left, rc;
    *actions = NULL;
    *n_actions = 0;
    if ((rc = state_steps(s, item, mem, n, 2, 0, &cand, &nc, &left))) return rc;
    if (!nc) {
        if (left != 1) return 0;
        if (!(cand = malloc(AF_NUMBERS_STEP_LEN))) return af_error_set(AF_ENOMEM, "%s: the actions of a state", s->name);
        snprintf(cand[0], AF_NUMBERS_STEP_LEN, "stop");
        nc = 1;
    }
    char **a = calloc((size_t)nc, sizeof *a);
    for (int i = 0; a && i < nc; i++)
        if (!(a[i] = strdup(cand[i]))) {
            af_suite_actions_free(a, (size_t)i);
            a = NULL;
        }
    free(cand);
    if (!a) return af_error_set(AF_ENOMEM, "%s: the actions of a state", s->name);
    *actions = a;
    *n_actions = (size_t)nc;
    return 0;
}

/* Replays item's memory into *st; 0, or -1 (a bad item, too many turns). */
static int replay_item(const AfSuite *s, const AfItem *item, const AfTurnRecord *mem, size_t n, State *st) {
    Puzzle pz;
    char why[128];
    if (puzzle_parse(kind_of(s), item, &pz, why, sizeof why)) return -1;
    return replay_state(&pz, tries_of(s), mem, n, NULL, st);
}

/* Replays item's memory for a suite that starts over (attempts or retries); 0 and *st
 * set, or -1 (a single try, a bad item, too many turns). */
static int replay_tries(const AfSuite *s, const AfItem *item, const AfTurnRecord *mem, size_t n, State *st) {
    if (s->attempts <= 1 && s->retries <= 0) return -1;
    return replay_item(s, item, mem, n, st);
}

/* How many times mem[0..n) has started over (attempts and retries). */
static int num_restarts(const AfSuite *s, const AfItem *item, const AfTurnRecord *mem, size_t n) {
    State st;
    return replay_tries(s, item, mem, n, &st) ? 0 : st.restarts;
}

/* The first memory record the planner is shown: the turn that opened the current try
 * (attempt or retry); 0 with a single try. With state_view, the last successful
 * calculator turn (its result lists what is left; the failed turns after it follow). */
static size_t num_view_start(const AfSuite *s, const AfItem *item, const AfTurnRecord *mem, size_t n) {
    State st;
    if (s->state_view) return replay_item(s, item, mem, n, &st) ? 0 : st.last_ok;
    return replay_tries(s, item, mem, n, &st) ? 0 : st.start;
}

static int num_oracle(const AfSuite *s, const AfItem *item, const AfTurnRecord *mem, size_t n, char **action) {
    char why[128];
    Puzzle pz;
    AfNumbersKind kind = kind_of(s);
    *action = NULL;
    if (kind == AF_NUMBERS_ARITH) {
        if (!item->solution) return af_error_set(AF_ENOTFOUND, "arith oracle: item has no solution plan");
        if (puzzle_parse(kind, item, &pz, why, sizeof why))
            return af_error_set(AF_ENOTFOUND, "arith oracle: %s", why);
        *action = plan_line_refs(&pz, item->solution, n);
    } else {
        if (puzzle_parse(kind, item, &pz, why, sizeof why))
            return af_error_set(AF_ENOTFOUND, "%s oracle: %s", s->name, why);
        char steps[NUM_MAX][AF_NUMBERS_STEP_LEN];
        /* One canonical solution (the first in search order), not a random one: a planner
         * cloned from a mixture of solutions decodes greedily into token-wise modes that
         * mix them (game24: 0% held-out after 600 warm-start steps, against 10% when
         * cloned from the canonical one; "the step leaving the most ways to finish" gave
         * 5%). */
        if (solve_from_state(&pz, tries_of(s), mem, n, steps)) *action = strdup(steps[0]);
        else if (n == 0) /* the whole puzzle is the state */
            return af_error_set(AF_ENOTFOUND, "%s oracle: \"%s\" has no solution", s->name, item->question);
    }
    if (!*action) *action = strdup("stop");
    return *action ? 0 : af_error_set(AF_ENOMEM, "oracle action");
}

/* A uniformly drawn expression over all the numbers (random order, operators and split
 * points), each written as its reference "$k" (v: the question positions, 1-based). */
static void random_expr(AfRng *rng, const int *v, int k, char *buf, size_t cap, size_t *len, int top) {
    if (k == 1) {
        int w = snprintf(buf + *len, cap - *len, "$%d", v[0]);
        *len += (size_t)w < cap - *len ? (size_t)w : 0;
        return;
    }
    int left = 1 + (int)af_rng_below(rng, (uint32_t)(k - 1));
    static const char ops[4] = {'+', '-', '*', '/'};
    char op = ops[af_rng_below(rng, 4)];
    if (!top && *len + 1 < cap) buf[(*len)++] = '(';
    random_expr(rng, v, left, buf, cap, len, 0);
    if (*len + 1 < cap) buf[(*len)++] = op;
    random_expr(rng, v + left, k - left, buf, cap, len, 0);
    if (!top && *len + 1 < cap) buf[(*len)++] = ')';
    buf[*len] = '\0';
}

/* The random planner with random_steps (suite.random_action = step): one uniformly drawn
 * action of num_actions' list, the list constrained decoding draws from (a step of the
 * state the memory leaves, or "stop" alone where one number is left); "stop" when there
 * is none (a memory that does not replay). One draw from rng. */
static int num_random_step(const AfSuite *s, const AfItem *item, const AfTurnRecord *mem, size_t n, AfRng *rng,
                           char **action) {
    char **acts;
    size_t na;
    int rc = num_actions(s, item, mem, n, &acts, &na);
    if (rc) return rc;
    if (!na) {
        *action = strdup("stop");
        return *action ? 0 : af_error_set(AF_ENOMEM, "random action");
    }
    const size_t i = af_rng_below(rng, (uint32_t)na);
    *action = acts[i];
    acts[i] = NULL;
    af_suite_actions_free(acts, na);
    return 0;
}

static int num_random(const AfSuite *s, const AfItem *item, const AfTurnRecord *mem, size_t n, AfRng *rng,
                      char **action) {
    if (s->random_steps) return num_random_step(s, item, mem, n, rng, action);
    char why[128];
    Puzzle pz;
    if (puzzle_parse(kind_of(s), item, &pz, why, sizeof why)) {
        *action = strdup("stop");
        return *action ? 0 : af_error_set(AF_ENOMEM, "random action");
    }
    int v[NUM_MAX];
    for (int i = 0; i < pz.n; i++) v[i] = i + 1;
    for (int i = pz.n - 1; i > 0; i--) {
        int j = (int)af_rng_below(rng, (uint32_t)(i + 1));
        int t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
    char buf[AF_CALC_MAX_LEN];
    size_t len = (size_t)snprintf(buf, sizeof buf, "calculator ");
    random_expr(rng, v, pz.n, buf, sizeof buf, &len, 1);
    *action = strdup(buf);
    return *action ? 0 : af_error_set(AF_ENOMEM, "random action");
}

static void num_destroy(AfSuite *s) { free(s->ctx); }

static int num_check(const AfSuite *s, const AfItem *item, char *why, size_t cap) { return check_item(s->ctx, item, why, cap); }

/* The question's numbers - 2 (arith's steps - 1; game24 is always level 2). */
static int num_difficulty(const AfSuite *s, const AfItem *item) {
    char why[128];
    Puzzle pz;
    return puzzle_parse(kind_of(s), item, &pz, why, sizeof why) ? 0 : pz.n - 2;
}

static const AfSuiteOps kNumOps = {
    .execute = num_execute,
    .verify = num_verify,
    .generate = num_generate,
    .judge = num_judge,
    .oracle = num_oracle,
    .random_action = num_random,
    .explore = num_explore,
    .actions = num_actions,
    .view_start = num_view_start,
    .restarts = num_restarts,
    .destroy = num_destroy,
    .check = num_check,
    .difficulty = num_difficulty,
};

int af_suite_numbers_create(AfNumbersKind kind, const AfSuiteOptions *opts, AfSuite **out) {
    static const char *const names[3] = {"game24", "countdown", "arith"};
    AfSuite *s = NULL;
    int rc = af_suite_alloc(names[kind], &kNumOps, 1, &s);
    if (rc) return rc;
    NumCtx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        rc = af_error_set(AF_ENOMEM, "allocating the suite");
        goto fail;
    }
    ctx->kind = kind;
    s->ctx = ctx;
    s->attempts = opts && opts->attempts > 1 ? (int)opts->attempts : 1;
    s->retries = opts ? (int)opts->retries : 0;
    s->state_view = opts && opts->state_view;
    s->random_steps = opts && opts->random_steps;
    if (s->random_steps && kind == AF_NUMBERS_ARITH) {
        rc = af_error_set(AF_ECONFIG, "suite.random_action = step, but only game24 and countdown list the "
                                      "steps of a state");
        goto fail;
    }
    if (s->state_view && kind == AF_NUMBERS_ARITH) {
        rc = af_error_set(AF_ECONFIG, "suite.view = state, but only game24 and countdown list what is left");
        goto fail;
    }
    if ((s->attempts > 1 || s->retries > 0) && kind == AF_NUMBERS_ARITH) {
        rc = af_error_set(AF_ECONFIG, "suite.attempts = %d, suite.retries = %d, but only game24 and countdown start over",
                          s->attempts, s->retries);
        goto fail;
    }
    s->max_turns = kind == AF_NUMBERS_COUNTDOWN || kind == AF_NUMBERS_GAME24 ? 3 : 3;
    if ((rc = af_calc_tool_create(&s->tools[0]))) goto fail;
    s->n_tools = 1;
    if (kind == AF_NUMBERS_GAME24) rc = af_numbers_gen_game24(s, opts);
    else rc = af_numbers_gen_distinct(s, opts, kind);
    if (rc) goto fail;
    if ((rc = af_suite_load_splits(s, opts, check_item, ctx))) goto fail;
    *out = s;
    return 0;
fail:
    af_suite_destroy(s);
    return rc;
}
