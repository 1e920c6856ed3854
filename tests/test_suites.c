/* Every suite: the oracle planner reaches 100% on the whole test split through the tools
 * (proof that each question is solvable), the random valid planner's rate is printed,
 * the same seed gives the same episode bit for bit, splits are deterministic and
 * disjoint, and the oracle's trajectories are well-formed. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actor/episode.h"
#include "common/error.h"
#include "env/suite.h"
#include "env/vocab.h"
#include "test_util.h"

static int pack(Agentflow__Trajectory *t, uint8_t **buf, size_t *len) {
    af_trajectory_zero_timings(t);
    *len = agentflow__trajectory__get_packed_size(t);
    *buf = malloc(*len ? *len : 1);
    if (!*buf) return -1;
    agentflow__trajectory__pack(t, *buf);
    return 0;
}

/* Runs planner over the split; returns the mean reward. Checks trajectory invariants. */
static double run_split(const AfSuite *s, const AfModules *mods, AfPlanner *pl, AfSplit split, uint32_t max_turns,
                        int *tool_calls) {
    const AfDataset *ds = af_suite_split(s, split);
    AfEpisodeSettings cfg;
    af_episode_settings_default(&cfg);
    AfEpisodeId cfg_id = {0};
    cfg.max_turns = max_turns;
    cfg.seed = 1234;
    double sum = 0;
    int fails_printed = 0;
    for (size_t i = 0; i < ds->n; i++) {
        Agentflow__Trajectory *t = NULL;
        cfg_id.query_index = (uint32_t)i;
        int rc = af_episode_run(s, mods, pl, &ds->items[i], &cfg, &cfg_id, &t);
        CHECK_MSG(rc == 0, "%s %s item %zu: %s", s->name, pl->name, i, af_error_detail());
        if (rc) continue;
        CHECK(t->status == AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_OK);
        CHECK(t->n_turns >= 1 && t->n_turns <= max_turns);
        CHECK(t->reward >= 0.0f && t->reward <= 1.0f);
        for (size_t k = 0; k < t->n_turns; k++) {
            Agentflow__Turn *u = t->turns[k];
            CHECK(u->n_prompt_tokens > 1 && u->prompt_tokens[0] == AF_TOK_BOS);
            CHECK(u->n_action_tokens == u->n_behaviour_logprobs && u->n_action_tokens > 0);
            for (size_t j = 0; j < u->n_prompt_tokens; j++) CHECK(u->prompt_tokens[j] < af_vocab_size(s->vocab));
            if (u->tool_status == AGENTFLOW__TOOL_STATUS__TOOL_STATUS_OK) (*tool_calls)++;
        }
        sum += t->reward;
        if (!strcmp(pl->name, "oracle") && t->reward != 1.0f && fails_printed++ < 3) {
            fprintf(stderr, "oracle failed on %s \"%s\" answer \"%s\" gold \"%s\"\n", s->name, t->query, t->answer, t->gold);
            for (size_t k = 0; k < t->n_turns; k++)
                fprintf(stderr, "  turn %zu: %s -> [%d] %s\n", k + 1, t->turns[k]->action_text, t->turns[k]->tool_status,
                        t->turns[k]->result);
        }
        af_trajectory_free(t);
    }
    return ds->n ? sum / (double)ds->n : 0;
}

static void check_determinism(const AfSuite *s, const AfModules *mods, AfPlanner *pl) {
    const AfDataset *ds = af_suite_split(s, AF_SPLIT_TEST);
    AfEpisodeSettings cfg;
    af_episode_settings_default(&cfg);
    AfEpisodeId cfg_id = {0};
    cfg.max_turns = (uint32_t)s->max_turns;
    cfg.seed = 99;
    cfg_id.iteration = 7;
    for (uint32_t q = 0; q < 20 && q < ds->n; q++) {
        uint8_t *b[3];
        size_t len[3];
        for (int r = 0; r < 3; r++) {
            Agentflow__Trajectory *t = NULL;
            cfg_id.query_index = q;
            cfg_id.sample_index = r == 2 ? 1 : 0; /* run 2: another sample of the same query */
            int rc = af_episode_run(s, mods, pl, &ds->items[q], &cfg, &cfg_id, &t);
            CHECK(rc == 0);
            if (rc) return;
            CHECK(pack(t, &b[r], &len[r]) == 0);
            /* unpack round trip */
            Agentflow__Trajectory *u = agentflow__trajectory__unpack(NULL, len[r], b[r]);
            CHECK(u && u->n_turns == t->n_turns && !strcmp(u->query, t->query) && u->reward == t->reward);
            if (u) agentflow__trajectory__free_unpacked(u, NULL);
            af_trajectory_free(t);
        }
        CHECK_MSG(len[0] == len[1] && memcmp(b[0], b[1], len[0]) == 0, "%s query %u: same seed, different bytes", s->name, q);
        if (q == 0) CHECK(len[0] > 0);
        for (int r = 0; r < 3; r++) free(b[r]);
    }
}

static void check_splits(const char *name) {
    AfSuite *a = NULL, *b = NULL, *c = NULL;
    AfSuiteOptions o;
    af_suite_options_default(&o);
    CHECK(af_suite_create(name, &o, &a) == 0);
    CHECK(af_suite_create(name, &o, &b) == 0);
    o.seed = 5;
    CHECK(af_suite_create(name, &o, &c) == 0);
    if (a && b && c) {
        for (int sp = 0; sp < 2; sp++) {
            const AfDataset *x = af_suite_split(a, (AfSplit)sp), *y = af_suite_split(b, (AfSplit)sp);
            CHECK(x->n == y->n);
            for (size_t i = 0; i < x->n && i < y->n; i++) CHECK(!strcmp(x->items[i].question, y->items[i].question));
        }
        /* another seed gives another order */
        const AfDataset *x = af_suite_split(a, AF_SPLIT_TEST), *z = af_suite_split(c, AF_SPLIT_TEST);
        size_t same = 0;
        for (size_t i = 0; i < x->n && i < z->n; i++) same += !strcmp(x->items[i].question, z->items[i].question);
        CHECK_MSG(same < x->n / 2, "%s: seed 0 and 5 share %zu of %zu test questions in place", name, same, x->n);
        /* train and test questions are disjoint */
        const AfDataset *tr = af_suite_split(a, AF_SPLIT_TRAIN);
        size_t overlap = 0;
        for (size_t i = 0; i < x->n; i++)
            for (size_t j = 0; j < tr->n; j++) overlap += !strcmp(x->items[i].question, tr->items[j].question);
        CHECK_MSG(overlap == 0, "%s: %zu test questions also in train", name, overlap);
        fprintf(stderr, "%s: train %zu, test %zu\n", name, tr->n, x->n);
        /* difficulty levels (algo.curriculum): multihop hops - 2 (" of the " per hop after
         * the first), number suites the question's integers - 2; every level occurs */
        int seen[AF_SUITE_LEVELS] = {0};
        for (size_t i = 0; i < tr->n; i++) {
            const char *q = tr->items[i].question;
            int want = 0;
            if (!strcmp(name, "multihop")) {
                for (const char *p = strstr(q, " of the "); p; p = strstr(p + 1, " of the ")) want++;
                want -= 1;
            } else if (!strcmp(name, "arith") || !strcmp(name, "game24") || !strcmp(name, "countdown")) {
                const char *e = strstr(q, "->"); /* countdown: the target is not a number to use */
                for (const char *p = q; *p && (!e || p < e); p++)
                    if (isdigit((unsigned char)*p) && (p == q || !isdigit((unsigned char)p[-1]))) want++;
                want -= 2;
            }
            int got = af_suite_difficulty(a, &tr->items[i]);
            if (got >= 0 && got < AF_SUITE_LEVELS) seen[got]++;
            if (got != want) {
                CHECK_MSG(got == want, "%s: \"%s\": level %d, want %d", name, q, got, want);
                break;
            }
        }
        if (!strcmp(name, "multihop")) CHECK(seen[0] > 0 && seen[1] > 0 && seen[2] > 0);
    }
    af_suite_destroy(a);
    af_suite_destroy(b);
    af_suite_destroy(c);
}

/* af_vocab_encode against the definition it implements, written out here: at each
 * position the longest piece the text starts with (the lowest id among equal lengths),
 * else one character; on random texts made of pieces, characters and bytes. */
static uint32_t ref_next(const AfVocab *v, const char *s, size_t *adv) {
    uint32_t best = 0;
    size_t best_len = 0;
    for (uint32_t id = 100; id < af_vocab_size(v); id++) {
        const char *p = af_vocab_piece(v, id);
        const size_t l = strlen(p);
        if (l > best_len && !strncmp(s, p, l)) best = id, best_len = l;
    }
    if (best_len) {
        *adv = best_len;
        return best;
    }
    const unsigned char c = (unsigned char)*s;
    *adv = 1;
    return c == '\n' ? 4 : c >= 32 && c <= 126 ? 5 + (uint32_t)(c - 32) : AF_TOK_UNK;
}

static void check_vocab_encode(void) {
    const AfVocab *v = af_vocab_default();
    uint64_t st = 12345;
    int differ = 0;
    for (int it = 0; it < 2000; it++) {
        char text[512];
        size_t len = 0;
        while (len < 400) {
            st ^= st << 13, st ^= st >> 7, st ^= st << 17;
            const char *p;
            char one[2] = {0, 0};
            if (st % 3 == 0) p = af_vocab_piece(v, 100 + (uint32_t)((st >> 8) % (af_vocab_size(v) - 100)));
            else {
                one[0] = (char)(st % 7 == 1 ? 1 + (st >> 20) % 255 : 32 + (st >> 20) % 95);
                p = one;
            }
            const size_t l = strlen(p);
            memcpy(text + len, p, l);
            len += l;
        }
        text[len] = '\0';
        uint32_t got[512];
        size_t n = 0, k = 0;
        CHECK(af_vocab_encode(v, text, got, 512, &n) == 0);
        for (const char *s = text; *s; k++) {
            size_t adv;
            const uint32_t id = ref_next(v, s, &adv);
            differ += k >= n || got[k] != id;
            s += adv;
        }
        differ += k != n;
    }
    CHECK_MSG(differ == 0, "vocab encode: %d ids differ from the longest-match reference", differ);
}

/* multihop's long-horizon world (suite.min_hops/max_hops/distractors): every question
 * has min..max hops, none asks a distractor, the oracle solves them all in max_hops turns,
 * the search results carry the distractor relations and a "#k REL" reference may follow
 * one; the 2-4-hop world has neither mayors nor distractors; bad ranges are refused. */
static void check_long_horizon(AfPlanner *oracle, AfPlanner *rnd) {
    static const char *const dnames[] = {"rival", "partner", "mentor"};
    AfSuiteOptions o;
    af_suite_options_default(&o);
    o.min_hops = 5, o.max_hops = 6, o.distractors = 3;
    AfSuite *s = NULL;
    CHECK_MSG(af_suite_create("multihop", &o, &s) == 0, "%s", af_error_detail());
    if (!s) return;
    CHECK_EQ_INT(s->max_turns, 6);
    int hist[9] = {0};
    for (int sp = 0; sp < 2; sp++) {
        const AfDataset *ds = af_suite_split(s, (AfSplit)sp);
        CHECK(ds->n > 0);
        for (size_t i = 0; i < ds->n; i++) {
            const char *q = ds->items[i].question;
            int hops = 1;
            for (const char *p = strstr(q, " of the "); p; p = strstr(p + 1, " of the ")) hops++;
            CHECK_MSG(hops >= 5 && hops <= 6, "\"%s\": %d hops", q, hops);
            if (hops >= 0 && hops <= 8) hist[hops]++;
            for (int d = 0; d < 3; d++) CHECK_MSG(!strstr(q, dnames[d]), "\"%s\" asks a distractor", q);
            CHECK_EQ_INT(af_suite_difficulty(s, &ds->items[i]), hops - 2);
        }
    }
    CHECK(hist[5] > 0 && hist[6] > 0);
    AfModules mods;
    CHECK(af_modules_builtin(s, &mods) == 0);
    int calls = 0;
    double acc = run_split(s, &mods, oracle, AF_SPLIT_TEST, 6, &calls);
    CHECK_MSG(acc == 1.0, "long-horizon multihop: oracle %.4f", acc);
    double acc_r = run_split(s, &mods, rnd, AF_SPLIT_TEST, 6, &calls);
    fprintf(stderr, "multihop 5-6 hops, 3 distractors: hops 5/6 = %d/%d, oracle %.4f, random-valid %.4f\n", hist[5],
            hist[6], acc, acc_r);
    CHECK(acc_r < 0.1);
    /* one search: the result lists the distractors; "#1 rival" follows one */
    const AfItem *it = &af_suite_split(s, AF_SPLIT_TEST)->items[0];
    AfTurnRecord mem[2] = {{0}};
    CHECK(s->ops->execute(s, it, mem, 0, "search $1", 5.0, &mem[0]) == 0);
    CHECK_EQ_INT(mem[0].status, AF_TOOL_OK);
    for (int d = 0; d < 3; d++) CHECK_MSG(strstr(mem[0].result, dnames[d]), "%s", mem[0].result);
    CHECK(!strstr(mem[0].result, "neighbour"));
    CHECK(s->ops->execute(s, it, mem, 1, "search #1 rival", 5.0, &mem[1]) == 0);
    CHECK_MSG(mem[1].status == AF_TOOL_OK, "%s", mem[1].result);
    af_turn_record_clear(&mem[1]);
    CHECK(s->ops->execute(s, it, mem, 1, "search #1 neighbour", 5.0, &mem[1]) == 0); /* not in this world */
    CHECK_MSG(mem[1].status != AF_TOOL_OK && strstr(mem[1].result, "#k RELATION"), "%s", mem[1].result);
    af_turn_record_clear(&mem[1]);
    af_turn_record_clear(&mem[0]);
    af_modules_clear(&mods);
    af_suite_destroy(s);

    /* the default world: no mayor, no distractor in any result */
    af_suite_options_default(&o);
    CHECK(af_suite_create("multihop", &o, &s) == 0);
    if (s) {
        const AfDataset *ds = af_suite_split(s, AF_SPLIT_TRAIN);
        for (size_t i = 0; i < ds->n; i++) CHECK(!strstr(ds->items[i].question, "mayor"));
        AfTurnRecord r = {0};
        CHECK(s->ops->execute(s, &ds->items[0], &r, 0, "search $1", 5.0, &r) == 0);
        CHECK_MSG(!strstr(r.result, "mayor") && !strstr(r.result, "rival"), "%s", r.result);
        af_turn_record_clear(&r);
        af_suite_destroy(s);
    }
    /* refused ranges */
    const uint32_t bad[][3] = {{5, 4, 0}, {2, 9, 0}, {1, 4, 0}, {2, 4, 7}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        af_suite_options_default(&o);
        o.min_hops = bad[k][0], o.max_hops = bad[k][1], o.distractors = bad[k][2];
        s = NULL;
        CHECK_EQ_INT(af_suite_create("multihop", &o, &s), AF_ECONFIG);
        CHECK(s == NULL);
        CHECK_STR_CONTAINS(af_error_detail(), bad[k][2] ? "suite.distractors" : "suite.min_hops");
        /* named once, by af_suite_create, not again by the constructor */
        const char *d = af_error_detail(), *first = strstr(d, "multihop");
        CHECK_MSG(!strncmp(d, "suite \"multihop\": ", strlen("suite \"multihop\": ")) && first && !strstr(first + 1, "multihop"), "%s", d);
    }
    s = NULL;
    CHECK_EQ_INT(af_suite_create("nosuch", NULL, &s), AF_ENOTFOUND);
    CHECK(s == NULL);
    CHECK_STR_CONTAINS(af_error_detail(), "suite \"nosuch\": unknown (known: game24");
}

/* suite.shuffle (issue 18): af_suite_shuffle_question on hand-made questions (every order
 * of "1 2 3 4" about equally often, the numbers kept, countdown's target kept, other suites
 * and a short buffer refused), then episodes with AfEpisodeSettings.shuffle: the samples of
 * a query share its order, queries and iterations draw their own, the oracle solves every
 * shuffled puzzle, and the trajectory records the question as played. */
static void sorted_tokens(const char *q, char *out, size_t cap) {
    char buf[64], *tok[16], *save = NULL;
    int n = 0;
    snprintf(buf, sizeof buf, "%s", q);
    for (char *t = strtok_r(buf, " ", &save); t && n < 16; t = strtok_r(NULL, " ", &save)) tok[n++] = t;
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && strcmp(tok[j - 1], tok[j]) > 0; j--) {
            char *x = tok[j];
            tok[j] = tok[j - 1], tok[j - 1] = x;
        }
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        if (i) strncat(out, " ", cap - strlen(out) - 1);
        strncat(out, tok[i], cap - strlen(out) - 1);
    }
}

static void check_shuffle(AfPlanner *oracle) {
    AfSuite *g = NULL, *cd = NULL, *ar = NULL;
    CHECK(af_suite_create("game24", NULL, &g) == 0 && af_suite_create("countdown", NULL, &cd) == 0 &&
          af_suite_create("arith", NULL, &ar) == 0);
    if (!g || !cd || !ar) goto out;
    static const char *const perms[24] = {
        "1 2 3 4", "1 2 4 3", "1 3 2 4", "1 3 4 2", "1 4 2 3", "1 4 3 2", "2 1 3 4", "2 1 4 3",
        "2 3 1 4", "2 3 4 1", "2 4 1 3", "2 4 3 1", "3 1 2 4", "3 1 4 2", "3 2 1 4", "3 2 4 1",
        "3 4 1 2", "3 4 2 1", "4 1 2 3", "4 1 3 2", "4 2 1 3", "4 2 3 1", "4 3 1 2", "4 3 2 1"};
    int count[24] = {0}, other = 0;
    char out[64], again[64];
    for (uint32_t it = 0; it < 2400; it++) {
        AfRng r, r2;
        af_rng_init(&r, 5, AF_RNG_DATA, it, 3, AF_RNG_MAX_SAMPLE);
        af_rng_init(&r2, 5, AF_RNG_DATA, it, 3, AF_RNG_MAX_SAMPLE);
        CHECK_EQ_INT(af_suite_shuffle_question(g, "1 2 3 4", &r, out, sizeof out), 0);
        CHECK_EQ_INT(af_suite_shuffle_question(g, "1 2 3 4", &r2, again, sizeof again), 0);
        CHECK(!strcmp(out, again)); /* the same stream, the same order */
        int k = 0;
        while (k < 24 && strcmp(out, perms[k])) k++;
        if (k < 24) count[k]++;
        else other++;
    }
    CHECK_EQ_INT(other, 0);
    for (int k = 0; k < 24; k++) /* 100 expected each; 4 standard deviations */
        CHECK_MSG(count[k] >= 60 && count[k] <= 140, "order %s drawn %d times of 2400", perms[k], count[k]);
    AfRng r;
    af_rng_init(&r, 5, AF_RNG_DATA, 0, 0, AF_RNG_MAX_SAMPLE);
    CHECK_EQ_INT(af_suite_shuffle_question(cd, "3  7 25 -> 100", &r, out, sizeof out), 0);
    char srt[64];
    sorted_tokens(out, srt, sizeof srt);
    CHECK_MSG(strstr(out, " -> 100") && !strcmp(srt, "-> 100 25 3 7"), "countdown shuffled: \"%s\"", out);
    CHECK_EQ_INT(af_suite_shuffle_question(ar, "What is 3 plus 4?", &r, out, sizeof out), AF_EINVAL);
    CHECK_STR_CONTAINS(af_error_detail(), "suite.shuffle");
    CHECK_EQ_INT(af_suite_shuffle_question(g, "10 11 12 13", &r, out, 8), AF_ERANGE);

    /* episodes: 6 queries x 2 iterations x 3 samples, the oracle planner */
    static const char *const qs[6] = {"1 2 3 4", "2 3 4 5", "1 3 4 6", "2 4 6 8", "1 5 6 7", "3 4 5 6"};
    AfModules mods;
    CHECK(af_modules_builtin(g, &mods) == 0);
    AfEpisodeSettings cfg;
    af_episode_settings_default(&cfg);
    cfg.max_turns = (uint32_t)g->max_turns;
    cfg.seed = 9;
    cfg.shuffle = 1;
    int moved = 0, differ = 0;
    for (int q = 0; q < 6; q++) {
        char first[2][64] = {"", ""};
        for (uint32_t it = 0; it < 2; it++)
            for (uint32_t smp = 0; smp < 3; smp++) {
                AfItem item = {.question = (char *)qs[q], .answer = (char *)""};
                AfEpisodeId id = {.iteration = it, .query_index = (uint32_t)q, .sample_index = smp};
                Agentflow__Trajectory *t = NULL;
                CHECK_EQ_INT(af_episode_run(g, &mods, oracle, &item, &cfg, &id, &t), 0);
                if (!t) continue;
                char a[64], b[64];
                sorted_tokens(t->query, a, sizeof a), sorted_tokens(qs[q], b, sizeof b);
                CHECK_MSG(!strcmp(a, b), "\"%s\" played as \"%s\"", qs[q], t->query);
                CHECK_MSG(t->reward == 1.0f, "oracle on \"%s\" (shuffled from \"%s\"): reward %g", t->query, qs[q],
                          t->reward);
                if (smp == 0) {
                    snprintf(first[it], sizeof first[it], "%s", t->query);
                    moved += strcmp(t->query, qs[q]) != 0;
                } else {
                    CHECK_MSG(!strcmp(t->query, first[it]), "query %d iteration %u: sample %u played \"%s\", sample 0 "
                              "\"%s\"", q, it, smp, t->query, first[it]);
                }
                af_trajectory_free(t);
            }
        differ += strcmp(first[0], first[1]) != 0;
    }
    CHECK_MSG(moved >= 6 && differ >= 3, "12 query draws: %d not in the given order, %d of 6 queries ordered "
              "differently in the two iterations", moved, differ);
    /* without the setting the question is played as given */
    cfg.shuffle = 0;
    AfItem item = {.question = (char *)qs[1], .answer = (char *)""};
    AfEpisodeId id = {.iteration = 1, .query_index = 1};
    Agentflow__Trajectory *t = NULL;
    CHECK_EQ_INT(af_episode_run(g, &mods, oracle, &item, &cfg, &id, &t), 0);
    CHECK(t && !strcmp(t->query, qs[1]));
    af_trajectory_free(t);
    af_modules_clear(&mods);
out:
    af_suite_destroy(g), af_suite_destroy(cd), af_suite_destroy(ar);
}

int main(void) {
    check_vocab_encode();
    const char *const *names = af_suite_names();
    AfPlanner *oracle = NULL, *rnd = NULL;
    CHECK(af_planner_oracle_create(&oracle) == 0);
    CHECK(af_planner_random_create(&rnd) == 0);
    for (int k = 0; names[k]; k++) {
        AfSuite *s = NULL;
        int rc = af_suite_create(names[k], NULL, &s);
        CHECK_MSG(rc == 0, "%s: %s", names[k], af_error_detail());
        if (rc) continue;
        AfModules mods;
        CHECK(af_modules_builtin(s, &mods) == 0);
        int calls_o = 0, calls_r = 0;
        double acc_o = run_split(s, &mods, oracle, AF_SPLIT_TEST, (uint32_t)s->max_turns, &calls_o);
        double acc_r = run_split(s, &mods, rnd, AF_SPLIT_TEST, (uint32_t)s->max_turns, &calls_r);
        size_t n = af_suite_split(s, AF_SPLIT_TEST)->n;
        fprintf(stderr, "%-10s test n=%zu  oracle %.4f (%d tool calls)  random-valid %.4f (%d tool calls)  max_turns %d\n",
                s->name, n, acc_o, calls_o, acc_r, calls_r, s->max_turns);
        CHECK_MSG(acc_o == 1.0, "%s: oracle reached %.4f, not 1", s->name, acc_o);
        CHECK(acc_r < 1.0);
        CHECK(calls_o >= (int)n); /* every question needed the tools */
        check_determinism(s, &mods, rnd);
        check_determinism(s, &mods, oracle);
        af_modules_clear(&mods);
        af_suite_destroy(s);
        check_splits(names[k]);
    }
    check_long_horizon(oracle, rnd);
    check_shuffle(oracle);
    af_planner_destroy(oracle);
    af_planner_destroy(rnd);
    TEST_MAIN_END();
}
