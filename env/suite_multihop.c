/* multihop: a generated world of entities and typed relations in an LMDB store, reached
 * only through the `search` tool; 2-4-hop questions by default, suite.min_hops..max_hops
 * (up to 8) for long horizons, and suite.distractors relations per entity that no
 * question asks (grammar in env/suites.h). */
#include <ctype.h>
#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "env/suites.h"

enum { T_COUNTRY, T_CITY, T_PERSON, T_FILM, T_COMPANY, N_TYPES };
/* R_MAYOR (a city's mayor, a person) exists only in long-horizon worlds (max_hops > 4): it
 * closes the city -> person cycle that 5-8-hop questions need. */
enum { R_CAPITAL, R_COUNTRY, R_BIRTHPLACE, R_MOTHER, R_DIRECTOR, R_FOUNDER, R_HEADQUARTERS, R_MAYOR, N_RELS };
/* distractor relations (suite.distractors = k: the first k, on every entity, to a random
 * entity): in search results and followable by "#k REL", never asked */
enum { N_DISTRACTORS = 6, N_REL_ALL = N_RELS + N_DISTRACTORS };
#define REL_BIT(r) (1u << (r))
#define RELS_CLASSIC (REL_BIT(R_MAYOR) - 1u) /* the 2-4-hop world's relations */

static const char *const kTypeName[N_TYPES] = {"country", "city", "person", "film", "company"};
static const char *const kRelName[N_REL_ALL] = {"capital", "country", "birthplace", "mother", "director",
                                                "founder", "headquarters", "mayor", "rival", "partner",
                                                "mentor", "neighbour", "sponsor", "twin"};
/* which relations each type has, in rendering order */
static const int kTypeRels[N_TYPES][3] = {
    {R_CAPITAL, -1, -1}, {R_COUNTRY, R_MAYOR, -1}, {R_BIRTHPLACE, R_MOTHER, -1}, {R_DIRECTOR, -1, -1},
    {R_FOUNDER, R_HEADQUARTERS, -1}};
static const int kCount[N_TYPES] = {8, 32, 240, 100, 80};

#define MAX_NAME 48
#define N_ENT_MAX 460
#define MAX_HOPS 8

typedef struct {
    int type;
    char name[MAX_NAME];
    int rel[N_REL_ALL]; /* target entity index or -1 */
} Entity;

typedef struct {
    MDB_env *env;
    MDB_dbi dbi;
    char dir[512];
    int own_dir;   /* remove the directory on destroy */
    uint32_t asked; /* REL_BIT mask of the relations a question may ask */
    uint32_t named; /* ... and a "#k REL" reference may name: asked + the distractors */
} Store;

/* ------------------------------------------------------------------ names */

static const char *const kSyl[] = {"ka", "lo", "mi", "ra", "ven", "tor", "sa", "li", "do", "mar", "bel", "quin",
                                   "zu", "fen", "gor", "ha", "is", "jo", "nel", "pra", "ri", "sol", "tam", "ur",
                                   "vi", "wen", "ya", "zor", "ex", "om", "dra", "kel"};
#define N_SYL (sizeof kSyl / sizeof kSyl[0])

static void word(AfRng *rng, int syl, char *out, size_t cap) {
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < syl; i++) len += (size_t)snprintf(out + len, cap - len, "%s", kSyl[af_rng_below(rng, N_SYL)]);
    out[0] = (char)toupper((unsigned char)out[0]);
}

static void make_name(AfRng *rng, int type, char *out, size_t cap) {
    static const char *const film_sfx[] = {"Rising", "Falls", "Road", "Dawn", "Song"};
    static const char *const co_sfx[] = {"Corp", "Works", "Labs"};
    char a[24], b[24];
    switch (type) {
    case T_COUNTRY: word(rng, 2, a, sizeof a); snprintf(out, cap, "%sia", a); break;
    case T_CITY: word(rng, 2 + (int)af_rng_below(rng, 2), a, sizeof a); snprintf(out, cap, "%s", a); break;
    case T_PERSON:
        word(rng, 2, a, sizeof a);
        word(rng, 2 + (int)af_rng_below(rng, 2), b, sizeof b);
        snprintf(out, cap, "%s %s", a, b);
        break;
    case T_FILM: word(rng, 2, a, sizeof a); snprintf(out, cap, "%s %s", a, film_sfx[af_rng_below(rng, 5)]); break;
    default: word(rng, 2, a, sizeof a); snprintf(out, cap, "%s %s", a, co_sfx[af_rng_below(rng, 3)]); break;
    }
}

static void lower(const char *in, char *out, size_t cap) {
    size_t i = 0;
    for (; in[i] && i + 1 < cap; i++) out[i] = (char)tolower((unsigned char)in[i]);
    out[i] = '\0';
}

/* ------------------------------------------------------------------ world */

static int gen_world(uint64_t seed, int mayors, int distractors, Entity *ents, int *n_out) {
    AfRng rng;
    af_rng_init(&rng, seed, AF_RNG_ENV, 0, 4, 0);
    AfStrSet *names = NULL;
    int rc = af_strset_create(N_ENT_MAX, &names);
    if (rc) return rc;
    int first[N_TYPES], n = 0;
    for (int t = 0; t < N_TYPES; t++) {
        first[t] = n;
        for (int i = 0; i < kCount[t]; i++, n++) {
            Entity *e = &ents[n];
            e->type = t;
            for (int r = 0; r < N_REL_ALL; r++) e->rel[r] = -1;
            char low[MAX_NAME];
            do {
                make_name(&rng, t, e->name, sizeof e->name);
                lower(e->name, low, sizeof low);
                rc = af_strset_add(names, low);
                if (rc < 0) goto out;
            } while (rc == 0);
        }
    }
    rc = 0;
#define PICK(t) (first[t] + (int)af_rng_below(&rng, (uint32_t)kCount[t]))
    for (int i = 0; i < kCount[T_CITY]; i++) ents[first[T_CITY] + i].rel[R_COUNTRY] = first[T_COUNTRY] + i % kCount[T_COUNTRY];
    for (int i = 0; i < kCount[T_COUNTRY]; i++) ents[first[T_COUNTRY] + i].rel[R_CAPITAL] = first[T_CITY] + i; /* city i lies in country i */
    for (int i = 0; i < kCount[T_PERSON]; i++) {
        Entity *e = &ents[first[T_PERSON] + i];
        e->rel[R_BIRTHPLACE] = PICK(T_CITY);
        if (i >= 40) e->rel[R_MOTHER] = first[T_PERSON] + (int)af_rng_below(&rng, (uint32_t)(i - 20)); /* an earlier person */
    }
    for (int i = 0; i < kCount[T_FILM]; i++) ents[first[T_FILM] + i].rel[R_DIRECTOR] = PICK(T_PERSON);
    for (int i = 0; i < kCount[T_COMPANY]; i++) {
        ents[first[T_COMPANY] + i].rel[R_FOUNDER] = PICK(T_PERSON);
        ents[first[T_COMPANY] + i].rel[R_HEADQUARTERS] = PICK(T_CITY);
    }
#undef PICK
    if (mayors) { /* a stream of its own: the 2-4-hop world keeps its draws */
        AfRng mrng;
        af_rng_init(&mrng, seed, AF_RNG_ENV, 3, 4, 0);
        for (int i = 0; i < kCount[T_CITY]; i++)
            ents[first[T_CITY] + i].rel[R_MAYOR] = first[T_PERSON] + (int)af_rng_below(&mrng, (uint32_t)kCount[T_PERSON]);
    }
    if (distractors > 0) { /* likewise */
        AfRng drng;
        af_rng_init(&drng, seed, AF_RNG_ENV, 2, 4, 0);
        for (int i = 0; i < n; i++)
            for (int d = 0; d < distractors; d++) {
                int j = (int)af_rng_below(&drng, (uint32_t)(n - 1));
                ents[i].rel[N_RELS + d] = j >= i ? j + 1 : j; /* anyone but itself */
            }
    }
    *n_out = n;
out:
    af_strset_destroy(names);
    return rc;
}

static size_t render_facts(const Entity *ents, int i, char *buf, size_t cap) {
    const Entity *e = &ents[i];
    size_t len = (size_t)snprintf(buf, cap, "%s (%s):", e->name, kTypeName[e->type]);
    /* the type's relations, then the distractors; a relation this world lacks is -1 */
    int order[3 + N_DISTRACTORS], no = 0, first = 1;
    for (int k = 0; k < 3 && kTypeRels[e->type][k] >= 0; k++) order[no++] = kTypeRels[e->type][k];
    for (int r = N_RELS; r < N_REL_ALL; r++) order[no++] = r;
    for (int k = 0; k < no; k++) {
        int r = order[k];
        if (e->rel[r] < 0) continue;
        len += (size_t)snprintf(buf + len, cap - len, "%s %s %s", first ? "" : ";", kRelName[r], ents[e->rel[r]].name);
        first = 0;
    }
    return len;
}

/* ------------------------------------------------------------------ LMDB store */

static int store_open(Store *st, const char *db_dir, const Entity *ents, int n) {
    int rc, mrc;
    MDB_txn *txn = NULL;
    if (db_dir) {
        snprintf(st->dir, sizeof st->dir, "%s", db_dir);
        if (mkdir(st->dir, 0755) && errno != EEXIST)
            return af_error_set(AF_EIO, "multihop: db_dir %s: %s", st->dir, strerror(errno));
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(st->dir, sizeof st->dir, "%s/af-multihop-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(st->dir)) return af_error_set(AF_EIO, "multihop: mkdtemp %s: %s", st->dir, strerror(errno));
        st->own_dir = 1;
    }
    if ((mrc = mdb_env_create(&st->env))) goto lmdb_fail;
    if ((mrc = mdb_env_set_mapsize(st->env, (size_t)16 << 20))) goto lmdb_fail;
    if ((mrc = mdb_env_open(st->env, st->dir, MDB_NOTLS | MDB_NOSYNC, 0644))) goto lmdb_fail;
    if ((mrc = mdb_txn_begin(st->env, NULL, 0, &txn))) goto lmdb_fail;
    if ((mrc = mdb_dbi_open(txn, NULL, 0, &st->dbi))) goto lmdb_fail;
    if ((mrc = mdb_drop(txn, st->dbi, 0))) goto lmdb_fail; /* overwrite an older world */
    for (int i = 0; i < n; i++) {
        char key[MAX_NAME], val[1024];
        lower(ents[i].name, key, sizeof key);
        size_t vlen = render_facts(ents, i, val, sizeof val);
        MDB_val k = {strlen(key), key}, v = {vlen, val};
        if ((mrc = mdb_put(txn, st->dbi, &k, &v, 0))) goto lmdb_fail;
    }
    mrc = mdb_txn_commit(txn);
    txn = NULL;
    if (mrc) goto lmdb_fail;
    if ((mrc = mdb_env_sync(st->env, 1))) goto lmdb_fail;
    return 0;
lmdb_fail:
    rc = af_error_set(AF_ELMDB, "multihop: LMDB store %s: %s", st->dir, mdb_strerror(mrc));
    if (txn) mdb_txn_abort(txn);
    return rc;
}

static void store_close(Store *st) {
    if (st->env) mdb_env_close(st->env);
    st->env = NULL;
    if (st->own_dir) {
        char p[600];
        snprintf(p, sizeof p, "%s/data.mdb", st->dir);
        unlink(p);
        snprintf(p, sizeof p, "%s/lock.mdb", st->dir);
        unlink(p);
        rmdir(st->dir);
        st->own_dir = 0;
    }
}

/* ------------------------------------------------------------------ search tool */

static int search_call(AfTool *self, const char *arg, double timeout_s, AfToolResult *out) {
    (void)timeout_s; /* one local B-tree lookup */
    Store *st = self->ctx;
    char key[MAX_NAME + 1];
    const char *b = arg ? arg : "", *e;
    while (isspace((unsigned char)*b)) b++;
    e = b + strlen(b);
    while (e > b && isspace((unsigned char)e[-1])) e--;
    if (e == b) return af_tool_result_set(out, AF_TOOL_ERROR, "error: empty name");
    if ((size_t)(e - b) > MAX_NAME - 1) return af_tool_result_set(out, AF_TOOL_ERROR, "error: name longer than %d bytes", MAX_NAME - 1);
    size_t n = (size_t)(e - b);
    for (size_t i = 0; i < n; i++) key[i] = (char)tolower((unsigned char)b[i]);
    key[n] = '\0';
    MDB_txn *txn;
    int mrc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
    if (mrc) return af_tool_result_set(out, AF_TOOL_INFRA_ERROR, "store unavailable: %s", mdb_strerror(mrc));
    MDB_val k = {n, key}, v;
    mrc = mdb_get(txn, st->dbi, &k, &v);
    int rc;
    if (mrc == MDB_NOTFOUND) rc = af_tool_result_set(out, AF_TOOL_ERROR, "no entry for %.*s", (int)n, b);
    else if (mrc) rc = af_tool_result_set(out, AF_TOOL_INFRA_ERROR, "store read failed: %s", mdb_strerror(mrc));
    else rc = af_tool_result_set(out, AF_TOOL_OK, "%.*s", (int)v.mv_size, (const char *)v.mv_data);
    mdb_txn_abort(txn);
    return rc;
}

/* ------------------------------------------------------------------ questions */

typedef struct {
    int rels[MAX_HOPS]; /* innermost first */
    int hops;
    char subject[MAX_NAME];
} Question;

/* The relation named s[0..len) among those in `mask` (REL_BIT), or -1. */
static int rel_by_name(const char *s, size_t len, uint32_t mask) {
    for (int r = 0; r < N_REL_ALL; r++)
        if ((mask & REL_BIT(r)) && strlen(kRelName[r]) == len && !strncmp(s, kRelName[r], len)) return r;
    return -1;
}

/* "What is the Rk of the ... of the R2 of the R1 of NAME?" */
static int question_parse(const char *q, uint32_t asked, Question *out, char *why, size_t cap) {
    static const char pre[] = "What is the ";
    memset(out, 0, sizeof *out);
    size_t len = strlen(q);
    while (len && isspace((unsigned char)q[len - 1])) len--;
    if (strncmp(q, pre, sizeof pre - 1) || len == 0 || q[len - 1] != '?') {
        snprintf(why, cap, "field \"question\": expected \"What is the <relation> of ... of <name>?\"");
        return -1;
    }
    const char *p = q + sizeof pre - 1, *end = q + len - 1;
    int outer[MAX_HOPS], k = 0;
    for (;;) {
        const char *sp = p;
        while (sp < end && *sp >= 'a' && *sp <= 'z') sp++;
        int r = rel_by_name(p, (size_t)(sp - p), asked);
        if (r < 0) {
            snprintf(why, cap, "field \"question\": unknown relation '%.*s'", (int)(sp - p), p);
            return -1;
        }
        if (k == MAX_HOPS) {
            snprintf(why, cap, "field \"question\": more than %d hops", MAX_HOPS);
            return -1;
        }
        outer[k++] = r;
        if (!strncmp(sp, " of the ", 8) && rel_by_name(sp + 8, strcspn(sp + 8, " ?"), asked) >= 0) {
            p = sp + 8;
            continue;
        }
        if (strncmp(sp, " of ", 4)) {
            snprintf(why, cap, "field \"question\": expected ' of ' after '%s'", kRelName[r]);
            return -1;
        }
        p = sp + 4;
        break;
    }
    if (end - p <= 0 || end - p >= MAX_NAME) {
        snprintf(why, cap, "field \"question\": bad entity name");
        return -1;
    }
    snprintf(out->subject, sizeof out->subject, "%.*s", (int)(end - p), p);
    out->hops = k;
    for (int i = 0; i < k; i++) out->rels[i] = outer[k - 1 - i];
    return 0;
}

static void question_render(const Question *qq, char *buf, size_t cap) {
    size_t len = (size_t)snprintf(buf, cap, "What is the %s", kRelName[qq->rels[qq->hops - 1]]);
    for (int i = qq->hops - 2; i >= 0; i--) len += (size_t)snprintf(buf + len, cap - len, " of the %s", kRelName[qq->rels[i]]);
    snprintf(buf + len, cap - len, " of %s?", qq->subject);
}

/* Value of relation `rel` in a search result "Name (type): r1 V1; r2 V2" about `name`
 * (case-insensitive); copies it to out and returns 1, else 0. */
static int fact_lookup(const char *result, const char *name, int rel, char *out, size_t cap) {
    size_t nl = strlen(name);
    if (strncasecmp(result, name, nl) || strncmp(result + nl, " (", 2)) return 0;
    const char *p = strstr(result, "): ");
    if (!p) return 0;
    p += 3;
    size_t rl = strlen(kRelName[rel]);
    while (*p) {
        const char *e = strstr(p, "; ");
        size_t seg = e ? (size_t)(e - p) : strlen(p);
        if (seg > rl + 1 && !strncmp(p, kRelName[rel], rl) && p[rl] == ' ') {
            snprintf(out, cap, "%.*s", (int)(seg - rl - 1), p + rl + 1);
            return 1;
        }
        if (!e) break;
        p = e + 2;
    }
    return 0;
}

/* Follows the chain through memory. Returns the number of hops resolved; *cur holds
 * the entity reached (the answer when it equals hops). */
static int resolve_turns(const Question *qq, const AfTurnRecord *mem, size_t n, char *cur, size_t cap, size_t *turn_of) {
    snprintf(cur, cap, "%s", qq->subject);
    for (int h = 0; h < qq->hops; h++) {
        char next[MAX_NAME];
        int found = 0;
        for (size_t k = 0; k < n && !found; k++) {
            if (mem[k].status != AF_TOOL_OK || strcmp(mem[k].tool, "search")) continue;
            found = fact_lookup(mem[k].result, cur, qq->rels[h], next, sizeof next);
            if (found && turn_of) turn_of[h] = k;
        }
        if (!found) return h;
        snprintf(cur, cap, "%s", next);
    }
    return qq->hops;
}

static int resolve(const Question *qq, const AfTurnRecord *mem, size_t n, char *cur, size_t cap) {
    return resolve_turns(qq, mem, n, cur, cap, NULL);
}

/* The search argument with its reference expanded: "$1" is the question's entity, "#k REL"
 * the entity that turn k's search result names under relation REL; anything else is a
 * name as written. 0, or -1 with the reason in why. */
static int expand_name(const AfItem *item, const AfTurnRecord *mem, size_t n, const Store *st, const char *arg,
                       char *name, size_t cap, char *why, size_t wcap) {
    while (isspace((unsigned char)*arg)) arg++;
    size_t len = strlen(arg);
    while (len && isspace((unsigned char)arg[len - 1])) len--;
    if (arg[0] == '$') {
        Question qq;
        char qwhy[128];
        if (len != 2 || arg[1] != '1') {
            snprintf(why, wcap, "'%.*s': the only question reference is $1", (int)(len < 40 ? len : 40), arg);
            return -1;
        }
        if (question_parse(item->question, st->asked, &qq, qwhy, sizeof qwhy)) {
            snprintf(why, wcap, "'$1': %s", qwhy);
            return -1;
        }
        snprintf(name, cap, "%s", qq.subject);
        return 0;
    }
    if (arg[0] != '#') {
        snprintf(name, cap, "%.*s", (int)len, arg);
        return 0;
    }
    size_t k = 0;
    const char *p = arg + 1;
    int digits = 0;
    while (isdigit((unsigned char)*p) && digits < 4) k = k * 10 + (size_t)(*p++ - '0'), digits++;
    const char *r = p;
    while (*r == ' ') r++;
    size_t rl = (size_t)(arg + len - r);
    int rel = rel_by_name(r, rl, st->named);
    if (!digits || k < 1 || k > n || r == p || rel < 0) {
        snprintf(why, wcap, "'%.*s': expected '#k RELATION' with k an earlier turn (1..%zu)", (int)(len < 40 ? len : 40), arg, n);
        return -1;
    }
    const AfTurnRecord *t = &mem[k - 1];
    const char *colon = t->status == AF_TOOL_OK && !strcmp(t->tool, "search") ? strstr(t->result, " (") : NULL;
    char subject[MAX_NAME];
    if (!colon || (size_t)(colon - t->result) >= sizeof subject) {
        snprintf(why, wcap, "'#%zu' is not a search result", k);
        return -1;
    }
    snprintf(subject, sizeof subject, "%.*s", (int)(colon - t->result), t->result);
    if (!fact_lookup(t->result, subject, rel, name, cap)) {
        snprintf(why, wcap, "turn %zu's result has no %s", k, kRelName[rel]);
        return -1;
    }
    return 0;
}

/* The suite's store: the search tool's context once the tool holds it, else the suite's. */
static Store *store_of(const AfSuite *s) { return s->n_tools ? s->tools[0]->ctx : s->ctx; }

static int mh_check(void *ctx, const AfItem *item, char *why, size_t cap) {
    const Store *st = ctx;
    Question qq;
    if (question_parse(item->question, st->asked, &qq, why, cap)) return -1;
    if (!item->answer[0]) {
        snprintf(why, cap, "field \"answer\": missing (the entity name)");
        return -1;
    }
    return 0;
}

static int mh_check_op(const AfSuite *s, const AfItem *item, char *why, size_t cap) {
    return mh_check(store_of(s), item, why, cap);
}

static int mh_execute(const AfSuite *s, const AfItem *item, const AfTurnRecord *mem, size_t n,
                      const char *action_text, double tool_timeout_s, AfTurnRecord *out) {
    char why[200], msg[256], name[MAX_NAME + 1];
    AfAction a;
    int rc = af_action_parse(action_text, &a, why, sizeof why);
    if (rc == AF_EINVAL) {
        snprintf(msg, sizeof msg, "bad action: %s", why);
        return af_turn_record_set(out, "", "", "", AF_TOOL_BAD_ACTION, msg);
    }
    if (rc) return rc;
    int stop = !strcmp(a.tool, "stop");
    rc = af_turn_record_set(out, a.tool, a.argument, a.sub_goal, stop ? AF_TOOL_NO_CALL : AF_TOOL_BAD_ACTION, "");
    if (!rc && !stop && !strcmp(a.tool, "search")) {
        if (expand_name(item, mem, n, store_of(s), a.argument, name, sizeof name, why, sizeof why)) {
            snprintf(msg, sizeof msg, "bad action: %s", why);
            free(out->result);
            out->result = strdup(msg);
            if (!out->result) rc = af_error_set(AF_ENOMEM, "turn result");
        } else {
            rc = af_suite_call_tool(s, a.tool, name, tool_timeout_s, out);
        }
    } else if (!rc && !stop) {
        rc = af_suite_call_tool(s, a.tool, a.argument, tool_timeout_s, out);
    }
    af_action_clear(&a);
    if (rc) af_turn_record_clear(out);
    return rc;
}

static int mh_verify(const AfSuite *s, const AfItem *item, const AfTurnRecord *mem, size_t n, int *stop) {
    char why[128], cur[MAX_NAME];
    Question qq;
    *stop = n > 0 && mem[n - 1].status == AF_TOOL_NO_CALL;
    if (!*stop && question_parse(item->question, store_of(s)->asked, &qq, why, sizeof why) == 0)
        *stop = resolve(&qq, mem, n, cur, sizeof cur) == qq.hops;
    return 0;
}

static int mh_generate(const AfSuite *s, const AfItem *item, const AfTurnRecord *mem, size_t n, char **answer) {
    char why[128], cur[MAX_NAME];
    Question qq;
    int ok = question_parse(item->question, store_of(s)->asked, &qq, why, sizeof why) == 0 && resolve(&qq, mem, n, cur, sizeof cur) == qq.hops;
    *answer = strdup(ok ? cur : "");
    return *answer ? 0 : af_error_set(AF_ENOMEM, "answer");
}

static int mh_judge(const AfSuite *s, const AfItem *item, const char *answer, float *reward) {
    (void)s;
    *reward = af_judge_exact(answer, item->answer);
    return 0;
}

/* Where the oracle stands on item after mem[0..n): the question, the hops resolved (*h)
 * and, while *h < hops, the argument of its next search in step ("$1", then "#t R"). */
static int oracle_next(const AfSuite *s, const AfItem *item, const AfTurnRecord *mem, size_t n, Question *qq, int *h,
                       char *step, size_t cap) {
    char why[128], cur[MAX_NAME];
    size_t turn_of[MAX_HOPS];
    if (question_parse(item->question, store_of(s)->asked, qq, why, sizeof why)) return af_error_set(AF_ENOTFOUND, "multihop oracle: %s", why);
    *h = resolve_turns(qq, mem, n, cur, sizeof cur, turn_of);
    if (*h == 0) snprintf(step, cap, "$1");
    else if (*h < qq->hops) snprintf(step, cap, "#%zu %s", turn_of[*h - 1] + 1, kRelName[qq->rels[*h - 1]]);
    return 0;
}

static int mh_oracle(const AfSuite *s, const AfItem *item, const AfTurnRecord *mem, size_t n, char **action) {
    char step[MAX_NAME], buf[MAX_NAME + 16];
    Question qq;
    int h = 0, rc = oracle_next(s, item, mem, n, &qq, &h, step, sizeof step);
    if (rc) return rc;
    if (h == qq.hops) snprintf(buf, sizeof buf, "stop");
    else snprintf(buf, sizeof buf, "search %s", step);
    *action = strdup(buf);
    return *action ? 0 : af_error_set(AF_ENOMEM, "oracle action");
}

/* The oracle's next search, then the relations after it, innermost first: "$1 > R1 > ... > Rk"
 * before the subject is searched, then "#t Rh > R(h+1) > ... > Rk". Each plan is the one
 * before with its first step done, so a planner that writes it copies the previous turn's
 * plan from memory instead of finding its place in the question. */
static int mh_plan(const AfSuite *s, const AfItem *item, const AfTurnRecord *mem, size_t n, char **subgoal) {
    char step[MAX_NAME], buf[MAX_NAME + MAX_HOPS * 24];
    Question qq;
    int h = 0, rc = oracle_next(s, item, mem, n, &qq, &h, step, sizeof step);
    *subgoal = NULL;
    if (rc || h == qq.hops) return rc;
    size_t len = (size_t)snprintf(buf, sizeof buf, "%s", step);
    for (int i = h; i < qq.hops; i++) len += (size_t)snprintf(buf + len, sizeof buf - len, " > %s", kRelName[qq.rels[i]]);
    *subgoal = strdup(buf);
    return *subgoal ? 0 : af_error_set(AF_ENOMEM, "oracle plan");
}

/* Uniform over the names visible so far, written as references: the question's subject
 * ("$1") and every value in successful search results ("#k RELATION"). */
static int mh_random(const AfSuite *s, const AfItem *item, const AfTurnRecord *mem, size_t n, AfRng *rng,
                     char **action) {
    (void)item;
    char cand[64][48], buf[64];
    int nc = 0;
    snprintf(cand[nc++], sizeof cand[0], "$1");
    for (size_t k = 0; k < n; k++) {
        if (mem[k].status != AF_TOOL_OK || strcmp(mem[k].tool, "search")) continue;
        const char *p = strstr(mem[k].result, "): ");
        if (!p) continue;
        p += 3;
        while (*p && nc < 64) {
            const char *e = strstr(p, "; ");
            size_t seg = e ? (size_t)(e - p) : strlen(p);
            const char *sp = memchr(p, ' ', seg);
            if (sp && rel_by_name(p, (size_t)(sp - p), store_of(s)->named) >= 0)
                snprintf(cand[nc++], sizeof cand[0], "#%zu %.*s", k + 1, (int)(sp - p), p);
            if (!e) break;
            p = e + 2;
        }
    }
    snprintf(buf, sizeof buf, "search %s", cand[af_rng_below(rng, (uint32_t)nc)]);
    *action = strdup(buf);
    return *action ? 0 : af_error_set(AF_ENOMEM, "random action");
}

static int mh_difficulty(const AfSuite *s, const AfItem *item) {
    char why[128];
    Question qq;
    return question_parse(item->question, store_of(s)->asked, &qq, why, sizeof why) ? 0 : qq.hops - 2;
}

static void mh_destroy(AfSuite *s) {
    AfTool *t = s->n_tools ? s->tools[0] : NULL;
    Store *st = store_of(s);
    if (st) {
        store_close(st);
        free(st);
    }
    if (t) t->ctx = NULL;
    s->ctx = NULL;
}

static const AfSuiteOps kMhOps = {
    .execute = mh_execute,
    .verify = mh_verify,
    .generate = mh_generate,
    .judge = mh_judge,
    .oracle = mh_oracle,
    .plan = mh_plan,
    .random_action = mh_random,
    .destroy = mh_destroy,
    .check = mh_check_op,
    .difficulty = mh_difficulty,
};

/* One question from subject i with min_hops..max_hops hops; 0 if the walk got stuck. */
static int walk(AfRng *rng, const Entity *ents, int i, int min_hops, int max_hops, Question *qq, int *answer) {
    int hops = min_hops + (int)af_rng_below(rng, (uint32_t)(max_hops - min_hops + 1)), cur = i, prev = -1;
    for (int h = 0; h < hops; h++) {
        int opts[3], no = 0;
        for (int k = 0; k < 3; k++) {
            int r = kTypeRels[ents[cur].type][k];
            if (r < 0 || ents[cur].rel[r] < 0) continue;
            if (prev == R_CAPITAL && r == R_COUNTRY) continue; /* country of the capital of X is X */
            opts[no++] = r;
        }
        if (!no) return 0;
        int r = opts[af_rng_below(rng, (uint32_t)no)];
        qq->rels[h] = r;
        prev = r;
        cur = ents[cur].rel[r];
    }
    qq->hops = hops;
    snprintf(qq->subject, sizeof qq->subject, "%s", ents[i].name);
    *answer = cur;
    return 1;
}

static int gen_questions(AfSuite *s, const AfSuiteOptions *o, int min_hops, int max_hops, const Entity *ents, int n) {
    uint32_t want[2] = {o->train_size ? o->train_size : 1500, o->test_size ? o->test_size : 300};
    uint32_t idx[N_ENT_MAX], m = 0;
    for (int i = 0; i < n; i++)
        if (ents[i].type != T_COUNTRY) idx[m++] = (uint32_t)i;
    AfRng rng;
    af_rng_init(&rng, o->seed, AF_RNG_ENV, 1, 4, 0);
    af_rng_shuffle_u32(&rng, idx, m);
    uint32_t n_test_ent = m / 4; /* subjects idx[0..n_test_ent) ask test questions only */
    AfStrSet *seen = NULL;
    int rc = af_strset_create(want[0] + want[1], &seen);
    if (rc) return rc;
    char q[400];
    for (int sp = 0; sp < 2 && !rc; sp++) {
        uint32_t lo = sp == 1 ? 0 : n_test_ent, hi = sp == 1 ? n_test_ent : m;
        uint32_t made = 0, tries = 0;
        while (made < want[sp]) {
            if (++tries > 100u * want[sp]) {
                rc = af_error_set(AF_ERANGE, "multihop: cannot generate %u distinct %s questions", want[sp], sp ? "test" : "train");
                break;
            }
            uint32_t subj = idx[lo + af_rng_below(&rng, hi - lo)];
            Question qq;
            int ans;
            if (!walk(&rng, ents, (int)subj, min_hops, max_hops, &qq, &ans)) continue;
            question_render(&qq, q, sizeof q);
            rc = af_strset_add(seen, q);
            if (rc < 0) break;
            if (rc == 0) {
                rc = 0;
                continue;
            }
            if ((rc = af_dataset_add(s->split[sp], q, ents[ans].name, NULL))) break;
            made++;
        }
    }
    af_strset_destroy(seen);
    return rc;
}

int af_suite_multihop_create(const AfSuiteOptions *opts, AfSuite **out) {
    AfSuite *s = NULL;
    Entity *ents = NULL;
    Store *st = NULL;
    int n = 0;
    if (opts && opts->state_view)
        return af_error_set(AF_ECONFIG, "suite.view = state, but only game24 and countdown list what is left");
    if (opts && opts->random_steps)
        return af_error_set(AF_ECONFIG, "suite.random_action = step, but only game24 and countdown list "
                                        "the steps of a state (multihop's random action is already one step)");
    if (opts && (opts->attempts > 1 || opts->retries > 0))
        return af_error_set(AF_ECONFIG, "suite.attempts = %u, suite.retries = %u, but only game24 and countdown start over",
                            opts->attempts, opts->retries);
    int min_hops = opts && opts->min_hops ? (int)opts->min_hops : 2, max_hops = opts && opts->max_hops ? (int)opts->max_hops : 4;
    int distractors = opts ? (int)opts->distractors : 0;
    if (min_hops < 2 || max_hops > MAX_HOPS || min_hops > max_hops)
        return af_error_set(AF_ECONFIG, "suite.min_hops = %d, suite.max_hops = %d: need 2 <= min_hops <= max_hops <= %d",
                            min_hops, max_hops, MAX_HOPS);
    if (distractors > N_DISTRACTORS)
        return af_error_set(AF_ECONFIG, "suite.distractors = %d: at most %d", distractors, N_DISTRACTORS);
    int rc = af_suite_alloc("multihop", &kMhOps, 1, &s);
    if (rc) return rc;
    s->max_turns = max_hops;
    ents = calloc(N_ENT_MAX, sizeof *ents);
    st = calloc(1, sizeof *st);
    AfTool *t = calloc(1, sizeof *t);
    if (!ents || !st || !t) {
        free(t);
        free(st);
        rc = af_error_set(AF_ENOMEM, "multihop world");
        goto fail;
    }
    s->ctx = st; /* owned by the suite until the tool holds it */
    t->name = "search";
    t->description = "facts about one entity: search <name>";
    t->call = search_call;
    t->ctx = st;
    s->tools[0] = t;
    s->n_tools = 1;
    st->asked = max_hops > 4 ? RELS_CLASSIC | REL_BIT(R_MAYOR) : RELS_CLASSIC;
    st->named = st->asked | (((1u << distractors) - 1u) << N_RELS);
    if ((rc = gen_world(opts->seed, max_hops > 4, distractors, ents, &n))) goto fail;
    if ((rc = store_open(st, opts->db_dir, ents, n))) goto fail;
    if ((rc = gen_questions(s, opts, min_hops, max_hops, ents, n))) goto fail;
    if ((rc = af_suite_load_splits(s, opts, mh_check, st))) goto fail;
    free(ents);
    *out = s;
    return 0;
fail:
    free(ents);
    af_suite_destroy(s);
    return rc;
}
