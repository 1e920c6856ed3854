/* The task suite: every judge on a table of cases, the BM25 index (a hand-computed
 * ranking, rebuild on a changed corpus, a damaged index rebuilt), the loader's errors
 * (file:line and the field), the rules and the oracle. */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "env/search_index.h"
#include "env/suite_task.h"
#include "test_util.h"

static char g_dir[256];

static void write_text(const char *name, const char *text, char *path, size_t cap) {
    snprintf(path, cap, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

/* ------------------------------------------------------------------ judges */

static void test_judges(void) {
    static const struct { const char *a, *g; float want; } exact[] = {
        {"Paris", "paris", 1}, {"  The  Paris. ", "paris", 1}, {"the Eiffel tower!", "Eiffel Tower", 1},
        {"an apple", "Apple", 1}, {"Paris France", "Paris", 0}, {"", "Paris", 0}, {"Pariss", "Paris", 0},
        {"theater", "ater", 0}, /* "the" is removed only as a word */
        {"The", "the", 1},      /* a gold that normalises to "": trimmed case-insensitive equality */
        {"", "the", 0},         {"a", "the", 0},
    };
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        CHECK_MSG(af_task_judge_exact(exact[i].a, exact[i].g) == exact[i].want, "exact(\"%s\", \"%s\")", exact[i].a, exact[i].g);
    char *n = af_task_normalize("  The Quick, brown  fox's A-Team!  ");
    CHECK(n && !strcmp(n, "quick brown foxs ateam"));
    free(n);

    static const struct { const char *a, *g; double tol; float want; } num[] = {
        {"42", "42", 0, 1},           {"42.0", "42", 0, 1},       {"the total is 42.", "42", 0, 1},
        {"$1,234", "1234", 0, 1},     {"7/2", "3.5", 0, 1},       {"3.5001", "3.5", 1e-3, 1},
        {"3.6", "3.5", 1e-3, 0},      {"1000.4", "1000", 1e-3, 1}, {"1002", "1000", 1e-3, 0},
        {"-2e3", "-2000", 0, 1},      {"forty-two", "42", 0, 0},  {"", "42", 1, 0},
        {"inf", "1", 1e9, 0},         {"0x10", "16", 0, 0},       {"12 and 13", "13", 0, 1},
    };
    for (size_t i = 0; i < sizeof num / sizeof num[0]; i++)
        CHECK_MSG(af_task_judge_numeric(num[i].a, num[i].g, num[i].tol) == num[i].want, "numeric(\"%s\", \"%s\", %g)", num[i].a,
                  num[i].g, num[i].tol);

    const char *const ch[] = {"Paris", "London", "The Rome"};
    static const struct { const char *a, *g; float want; } choice[] = {
        {"A", "A", 1},      {"(a)", "A", 1},   {"A.", "Paris", 1}, {"paris", "A", 1}, {"rome", "C", 1},
        {"B)", "London", 1}, {"B", "A", 0},    {"D", "A", 0},      {"Madrid", "A", 0}, {"", "A", 0},
    };
    for (size_t i = 0; i < sizeof choice / sizeof choice[0]; i++)
        CHECK_MSG(af_task_judge_choice(choice[i].a, choice[i].g, ch, 3) == choice[i].want, "choice(\"%s\", \"%s\")", choice[i].a,
                  choice[i].g);
    CHECK_EQ_INT(af_task_choice_index("Z", ch, 3), -1);

    static const struct { const char *pat, *a; float want; } re[] = {
        {"^4[0-9]$", "42", 1}, {"^4[0-9]$", "420", 0}, {"paris", "I think PARIS", 1}, {"^paris$", "I think Paris", 0},
        {"colou?r", "color", 1}, {"a|b", "", 0},
    };
    for (size_t i = 0; i < sizeof re / sizeof re[0]; i++) {
        regex_t r;
        char why[100];
        CHECK(af_task_regex_compile(re[i].pat, &r, why, sizeof why) == 0);
        CHECK_MSG(af_task_judge_regex(&r, re[i].a) == re[i].want, "regex(%s, \"%s\")", re[i].pat, re[i].a);
        regfree(&r);
    }
    regex_t r;
    char why[100] = "";
    CHECK(af_task_regex_compile("([", &r, why, sizeof why) != 0 && why[0]);

    static const struct { const char *a, *g; float want; } con[] = {
        {"It is Paris, France.", "paris", 1}, {"Parisian", "Paris", 0}, {"in new york city", "New York", 1},
        {"york", "New York", 0},              {"anything", "the", 0},
    };
    for (size_t i = 0; i < sizeof con / sizeof con[0]; i++)
        CHECK_MSG(af_task_judge_contains(con[i].a, con[i].g) == con[i].want, "contains(\"%s\", \"%s\")", con[i].a, con[i].g);

    AfTaskJudge j;
    CHECK(af_task_judge_parse("numeric", &j) == 0 && j == AF_TJ_NUMERIC);
    CHECK(af_task_judge_parse("fuzzy", &j) != 0);
    for (int k = 0; k < AF_TJ_COUNT; k++) CHECK(af_task_judge_parse(af_task_judge_name((AfTaskJudge)k), &j) == 0 && (int)j == k);
}

/* ------------------------------------------------------------------ BM25 */

static const char *kCorpus = "{\"id\": \"a\", \"title\": \"apple\", \"text\": \"red fruit\"}\n"
                             "\n"
                             "{\"id\": 2, \"title\": \"Banana\", \"text\": \"yellow FRUIT, fruit\"}\n"
                             "{\"id\": \"c\", \"title\": \"cherry\", \"text\": \"red red small\"}\n";

static void test_bm25(void) {
    char corpus[512], idx[512];
    write_text("corpus.jsonl", kCorpus, corpus, sizeof corpus);
    snprintf(idx, sizeof idx, "%s/idx", g_dir);
    AfSearchIndex *ix = NULL;
    int rebuilt = 0;
    CHECK(af_search_index_open(corpus, idx, &ix, &rebuilt) == 0 && rebuilt == 1);
    if (!ix) return;
    CHECK_EQ_INT(af_search_index_size(ix), 3);
    /* by hand: lengths 3, 4, 4 (avgdl 11/3); "red" and "fruit" have df 2 (idf ln 1.6):
     * apple 2 * idf * 2.2 / (1 + 1.2 * (0.25 + 0.75 * 3 / avgdl)) = 1.01554..., banana and
     * cherry tf 2 at length 4: 0.63014... each, the tie going to the earlier document */
    AfSearchHit h[5];
    size_t n = 0;
    CHECK(af_search_index_query(ix, "Red fruit?", 5, h, &n) == 0);
    CHECK_EQ_INT(n, 3);
    if (n == 3) {
        CHECK(h[0].doc == 0 && h[1].doc == 1 && h[2].doc == 2);
        CHECK_NEAR(h[0].score, 1.0155435560488217, 1e-12);
        CHECK_NEAR(h[1].score, 0.6301433699582716, 1e-12);
        CHECK_NEAR(h[2].score, 0.6301433699582716, 1e-12);
    }
    CHECK(af_search_index_query(ix, "yellow yellow", 5, h, &n) == 0 && n == 1 && h[0].doc == 1);
    if (n == 1) CHECK_NEAR(h[0].score, 0.9456600766089153, 1e-12); /* idf ln(1 + 2.5/1.5), a query term counts once */
    CHECK(af_search_index_query(ix, "durian", 5, h, &n) == 0 && n == 0);
    CHECK(af_search_index_query(ix, "red", 1, h, &n) == 0 && n == 1 && h[0].doc == 2); /* top-k cut */
    char *id, *title, *text;
    CHECK(af_search_index_doc(ix, 1, &id, &title, &text) == 0);
    CHECK(!strcmp(id, "2") && !strcmp(title, "Banana") && !strcmp(text, "yellow FRUIT, fruit"));
    free(id), free(title), free(text);

    /* the tool: "[i] title: text" lines, cut to max_bytes */
    AfTool *tool = NULL;
    CHECK(af_search_tool_create(ix, 2, 40, &tool) == 0);
    AfToolResult r = {0};
    CHECK(tool->call(tool, "red fruit", 0, &r) == 0 && r.status == AF_TOOL_OK);
    CHECK_MSG(!strcmp(r.text, "[1] apple: red fruit\n[2] Banana: yellow "), "%s", r.text);
    af_tool_result_free(&r);
    CHECK(tool->call(tool, " ?! ", 0, &r) == 0 && r.status == AF_TOOL_ERROR);
    af_tool_result_free(&r);
    CHECK(tool->call(tool, "durian", 0, &r) == 0 && r.status == AF_TOOL_OK && !strcmp(r.text, "no results"));
    af_tool_result_free(&r);
    af_tool_destroy(tool); /* closes ix */

    /* reused while the corpus is unchanged */
    CHECK(af_search_index_open(corpus, idx, &ix, &rebuilt) == 0 && rebuilt == 0);
    af_search_index_close(ix);
    /* a changed corpus (same size, same mtime: caught by the hash) is re-indexed */
    struct stat sb;
    stat(corpus, &sb);
    char changed[1024];
    snprintf(changed, sizeof changed, "%s", kCorpus);
    char *p = strstr(changed, "small");
    memcpy(p, "durin", 5);
    write_text("corpus.jsonl", changed, corpus, sizeof corpus);
    struct timespec ts[2] = {sb.st_atim, sb.st_mtim};
    CHECK(utimensat(AT_FDCWD, corpus, ts, 0) == 0);
    CHECK(af_search_index_open(corpus, idx, &ix, &rebuilt) == 0 && rebuilt == 1);
    if (ix) CHECK(af_search_index_query(ix, "durin", 5, h, &n) == 0 && n == 1 && h[0].doc == 2);
    af_search_index_close(ix);

    /* a damaged data.mdb (garbage, then truncated, then gone) is rebuilt, never read */
    char mdb[600];
    snprintf(mdb, sizeof mdb, "%s/data.mdb", idx);
    for (int damage = 0; damage < 3; damage++) {
        if (damage == 0) {
            FILE *f = fopen(mdb, "r+b");
            CHECK(f != NULL);
            if (f) {
                for (int i = 0; i < 8192; i++) fputc((i * 131) & 0xff, f);
                fclose(f);
            }
        } else if (damage == 1) {
            CHECK(truncate(mdb, 100) == 0);
        } else {
            CHECK(unlink(mdb) == 0);
        }
        ix = NULL;
        CHECK_MSG(af_search_index_open(corpus, idx, &ix, &rebuilt) == 0 && rebuilt == 1, "damage %d: %s", damage, af_error_detail());
        if (ix) CHECK(af_search_index_query(ix, "red fruit", 5, h, &n) == 0 && n == 3 && h[0].doc == 0);
        af_search_index_close(ix);
    }
    /* a damaged stamp likewise */
    char stamp[600];
    snprintf(stamp, sizeof stamp, "%s/index.stamp", idx);
    FILE *f = fopen(stamp, "w");
    if (f) fputs("afbm25 garbage\n", f), fclose(f);
    CHECK(af_search_index_open(corpus, idx, &ix, &rebuilt) == 0 && rebuilt == 1);
    af_search_index_close(ix);

    /* malformed corpora: file:line and the field */
    static const struct { const char *text, *want; } bad[] = {
        {"{\"id\": \"a\", \"title\": \"t\", \"text\": \"x\"}\n{\"id\": \"b\", \"title\": \"t\"}\n", "bad.jsonl:2: field \"text\": missing"},
        {"{\"id\": \"a\", \"title\": \"t\", \"text\": \"x\"}\n\n{\"id\": \"a\", \"title\": \"t\", \"text\": \"y\"}\n", ":3: field \"id\": \"a\" again"},
        {"{\"id\": \"a\", \"title\": 5, \"text\": \"x\"}\n", ":1: field \"title\": expected a string"},
        {"{\"id\": [], \"title\": \"t\", \"text\": \"x\"}\n", ":1: field \"id\": expected a string or a number"},
        {"not json\n", ":1: not a JSON object"},
        {"{\"id\": \"a\", \"title\": \"t\", \"text\": \"x\"} {}\n", ":1: column"},
        {"\n\n", "no documents"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char bp[512], bi[512];
        write_text("bad.jsonl", bad[i].text, bp, sizeof bp);
        snprintf(bi, sizeof bi, "%s/bad-idx", g_dir);
        ix = NULL;
        int rc = af_search_index_open(bp, bi, &ix, NULL);
        CHECK_MSG(rc != 0 && ix == NULL, "bad corpus %zu accepted", i);
        CHECK_STR_CONTAINS(af_error_detail(), bad[i].want);
    }
}

/* ------------------------------------------------------------------ the suite */

static int make_suite(const char *train, const char *test, const AfTaskOptions *to, AfSuite **s) {
    char tp[512], sp[512];
    write_text("train.jsonl", train, tp, sizeof tp);
    write_text("test.jsonl", test, sp, sizeof sp);
    AfSuiteOptions o;
    af_suite_options_default(&o);
    o.train_jsonl = tp;
    o.test_jsonl = sp;
    o.task = to;
    o.max_question_tokens = 200;
    return af_suite_create("task", &o, s);
}

static void test_loader_errors(void) {
    char corpus[512];
    write_text("corpus.jsonl", kCorpus, corpus, sizeof corpus);
    AfTaskOptions to = {.judge = AF_TJ_EXACT, .tolerance = 1e-6, .judge_backend = "builtin", .corpus = corpus, .top_k = 2, .max_bytes = 500};
    const char *ok = "{\"question\": \"q?\", \"answer\": \"a\"}\n";
    static const struct { const char *line, *want; } bad[] = {
        {"{\"answer\": \"a\"}", "train.jsonl:2: field \"question\": missing"},
        {"{\"question\": \"q\"}", "train.jsonl:2: field \"answer\": missing"},
        {"{\"question\": \"\", \"answer\": \"a\"}", ":2: field \"question\": expected a non-empty string"},
        {"{\"question\": \"q\", \"answer\": [1]}", ":2: field \"answer\": expected a string or a finite number"},
        {"{\"question\": \"q\", \"answer\": \"a\", \"judge\": \"fuzzy\"}", ":2: field \"judge\": unknown judge \"fuzzy\""},
        {"{\"question\": \"caf\xc3\xa9?\", \"answer\": \"a\"}", ":2: field \"question\": byte 0xc3 at 4 is not printable ASCII"},
        {"{\"question\": \"q\", \"answer\": \"a\\tb\"}", ":2: field \"answer\": byte 0x09"},
        {"{\"question\": \"q\", \"answer\": \"x\", \"judge\": \"numeric\"}", ":2: field \"answer\": \"x\" is not a number"},
        {"{\"question\": \"q\", \"answer\": \"([\", \"judge\": \"regex\"}", ":2: field \"answer\": bad regular expression"},
        {"{\"question\": \"q\", \"answer\": \"A\", \"judge\": \"choice\"}", ":2: field \"choices\": missing"},
        {"{\"question\": \"q\", \"answer\": \"E\", \"judge\": \"choice\", \"choices\": [\"x\", \"y\"]}", ":2: field \"answer\": \"E\" names none"},
        {"{\"question\": \"q\", \"answer\": \"a\", \"choices\": [\"x\"]}", ":2: field \"choices\": expected an array of 2 to 26"},
        {"{\"question\": \"q\", \"answer\": \"a\", \"trace\": [\"python print(1)\", \"answer a\"]}",
         ":2: field \"trace\": action 1 names tool \"python\", which the configuration does not enable (set tools.python.enabled=true)"},
        {"{\"question\": \"q\", \"answer\": \"a\", \"trace\": [\"calculator 1+1\", \"answer a\"]}", "set tools.calculator.enabled=true"},
        {"{\"question\": \"q\", \"answer\": \"a\", \"trace\": [\"search q\"]}", ":2: field \"trace\": the last action must be \"answer ...\""},
        {"{\"question\": \"q\", \"answer\": \"a\", \"trace\": \"search q\"}", ":2: field \"trace\": expected an array"},
        {"{\"question\": \"q\", \"answer\": \"a\", \"trace\": [\"Search q\", \"answer a\"]}", ":2: field \"trace\": action 1 \"Search q\": expected a tool name"},
        {"{\"question\": \"q\", \"answer\": \"a\", \"judge\": \"openai\"}", ":2: field \"judge\": judge \"openai\" needs modules.judge.backend=openai"},
        {"{\"question\": \"q\", \"answer\": \"a\", \"judge\": \"model\"}", ":2: field \"judge\": judge \"model\" needs modules.judge.backend=model (it is builtin)"},
        {"{\"question\": \"q\" \"answer\": \"a\"}", ":2: not a JSON object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char train[1024];
        snprintf(train, sizeof train, "%s%s\n", ok, bad[i].line);
        AfSuite *s = NULL;
        int rc = make_suite(train, ok, &to, &s);
        CHECK_MSG(rc == AF_ECONFIG && s == NULL, "case %zu: rc %d", i, rc);
        CHECK_STR_CONTAINS(af_error_detail(), bad[i].want);
        CHECK_STR_CONTAINS(af_error_detail(), "config: data.train");
        af_suite_destroy(s);
    }
    /* the test split names data.test; a missing file, an empty file */
    AfSuite *s = NULL;
    CHECK(make_suite(ok, "{\"question\": 1, \"answer\": \"a\"}\n", &to, &s) == AF_ECONFIG);
    CHECK_STR_CONTAINS(af_error_detail(), "config: data.test");
    CHECK_STR_CONTAINS(af_error_detail(), "test.jsonl:1: field \"question\"");
    CHECK(make_suite(ok, "\n", &to, &s) == AF_ECONFIG);
    CHECK_STR_CONTAINS(af_error_detail(), "no questions");
    /* a judge the backend cannot serve, task-wide */
    AfTaskOptions o2 = to;
    o2.judge = AF_TJ_OPENAI;
    CHECK(make_suite(ok, ok, &o2, &s) == AF_ECONFIG);
    CHECK_STR_CONTAINS(af_error_detail(), "task.judge: judge \"openai\" needs modules.judge.backend=openai");
    o2.judge_backend = "openai";
    CHECK(make_suite(ok, ok, &o2, &s) == 0);
    af_suite_destroy(s);
    s = NULL;
    o2.judge = AF_TJ_EXACT; /* with the openai backend every line is the server's */
    CHECK(make_suite(ok, ok, &o2, &s) == AF_ECONFIG);
    CHECK_STR_CONTAINS(af_error_detail(), "modules.judge.backend=openai judges every line");
    /* a malformed corpus names tools.search.corpus and file:line */
    char badc[512];
    write_text("badc.jsonl", "{\"id\": \"a\"}\n", badc, sizeof badc);
    o2 = to;
    o2.corpus = badc;
    CHECK(make_suite(ok, ok, &o2, &s) == AF_ECONFIG);
    CHECK_STR_CONTAINS(af_error_detail(), "config: tools.search.corpus");
    CHECK_STR_CONTAINS(af_error_detail(), "badc.jsonl:1: field \"title\": missing");
}

static void test_rules(void) {
    char corpus[512];
    write_text("corpus.jsonl", kCorpus, corpus, sizeof corpus);
    AfTaskOptions to = {.judge = AF_TJ_EXACT, .tolerance = 0.01, .judge_backend = "builtin", .corpus = corpus, .top_k = 1,
                        .max_bytes = 500, .calculator = 1};
    const char *train =
        "{\"question\": \"What colour is a banana?\", \"answer\": \"yellow\", \"trace\": [\"search banana\", \"answer yellow\"], \"metadata\": {\"k\": [1]}}\n"
        "{\"question\": \"6 times 7?\", \"answer\": 42, \"judge\": \"numeric\", \"trace\": [\"calculator 6*7\", \"answer 42\"]}\n"
        "{\"question\": \"Capital of France?\", \"answer\": \"B\", \"judge\": \"choice\", \"choices\": [\"Lyon\", \"Paris\"]}\n"
        "{\"question\": \"A year?\", \"answer\": \"^(19|20)[0-9]{2}$\", \"judge\": \"regex\"}\n"
        "{\"question\": \"Where?\", \"answer\": \"New York\", \"judge\": \"contains\"}\n";
    AfSuite *s = NULL;
    CHECK_MSG(make_suite(train, train, &to, &s) == 0, "%s", af_error_detail());
    if (!s) return;
    CHECK_EQ_INT(s->n_tools, 3);
    CHECK(!strcmp(s->tools[0]->name, "search") && !strcmp(s->tools[1]->name, "calculator") && !strcmp(s->tools[2]->name, "answer"));
    const AfDataset *ds = af_suite_split(s, AF_SPLIT_TRAIN);
    CHECK_EQ_INT(ds->n, 5);
    CHECK(!strcmp(ds->items[2].question, "Capital of France? Choices: (A) Lyon (B) Paris"));
    /* the oracle replays the trace through the executor; the verifier stops on answer */
    AfTurnRecord mem[4];
    memset(mem, 0, sizeof mem);
    size_t n = 0;
    int stop = 0;
    while (!stop && n < 4) {
        char *act = NULL;
        CHECK(s->ops->oracle(s, &ds->items[0], mem, n, &act) == 0);
        if (!act) break;
        CHECK(s->ops->execute(s, &ds->items[0], mem, n, act, 1.0, &mem[n]) == 0);
        free(act);
        n++;
        CHECK(s->ops->verify(s, &ds->items[0], mem, n, &stop) == 0);
    }
    CHECK_EQ_INT(n, 2);
    CHECK(mem[0].status == AF_TOOL_OK && !strcmp(mem[0].result, "[1] Banana: yellow FRUIT, fruit"));
    CHECK(mem[1].status == AF_TOOL_NO_CALL);
    char *ans = NULL;
    float rw = -1;
    CHECK(s->ops->generate(s, &ds->items[0], mem, n, &ans) == 0 && !strcmp(ans, "yellow"));
    CHECK(s->ops->judge(s, &ds->items[0], ans, &rw) == 0 && rw == 1.0f);
    free(ans);
    /* without an answer turn the generator takes the last successful result */
    CHECK(s->ops->generate(s, &ds->items[0], mem, 1, &ans) == 0 && !strcmp(ans, "[1] Banana: yellow FRUIT, fruit"));
    free(ans);
    for (size_t i = 0; i < n; i++) af_turn_record_clear(&mem[i]);
    /* per-line judges */
    static const struct { size_t item; const char *ans; float want; } jt[] = {
        {1, "42.3", 1}, {1, "43", 0}, {2, "B", 1}, {2, "paris", 1}, {2, "A", 0}, {3, "1999", 1}, {3, "2100", 0},
        {4, "in new york, usa", 1}, {4, "york", 0}, {0, "Yellow.", 1},
    };
    for (size_t i = 0; i < sizeof jt / sizeof jt[0]; i++) {
        CHECK(s->ops->judge(s, &ds->items[jt[i].item], jt[i].ans, &rw) == 0);
        CHECK_MSG(rw == jt[i].want, "item %zu answer \"%s\": %g", jt[i].item, jt[i].ans, rw);
    }
    /* a copy of an item (rollout --query) keeps its judge */
    AfItem copy;
    int found = 0;
    CHECK(af_suite_item_for(s, ds->items[1].question, NULL, &copy, &found) == 0 && found);
    CHECK(s->ops->judge(s, &copy, "42.3", &rw) == 0 && rw == 1.0f);
    af_item_clear(&copy);
    /* bad actions cost the turn */
    AfTurnRecord r = {0};
    CHECK(s->ops->execute(s, &ds->items[0], NULL, 0, "answer", 1.0, &r) == 0 && r.status == AF_TOOL_BAD_ACTION);
    af_turn_record_clear(&r);
    CHECK(s->ops->execute(s, &ds->items[0], NULL, 0, "python 1", 1.0, &r) == 0 && r.status == AF_TOOL_BAD_ACTION);
    af_turn_record_clear(&r);
    /* no trace: no oracle */
    char *act = NULL;
    CHECK(s->ops->oracle(s, &ds->items[3], NULL, 0, &act) == AF_ENOTFOUND && act == NULL);
    /* random valid actions: a tool and a word of the question, the same for the same stream */
    AfRng g1, g2;
    af_rng_init(&g1, 5, AF_RNG_ENV, 1, 2, 3);
    af_rng_init(&g2, 5, AF_RNG_ENV, 1, 2, 3);
    for (int i = 0; i < 20; i++) {
        char *a1 = NULL, *a2 = NULL;
        CHECK(s->ops->random_action(s, &ds->items[0], NULL, 0, &g1, &a1) == 0);
        CHECK(s->ops->random_action(s, &ds->items[0], NULL, 0, &g2, &a2) == 0);
        CHECK(a1 && a2 && !strcmp(a1, a2));
        AfAction pa;
        char why[100];
        CHECK(af_action_parse(a1, &pa, why, sizeof why) == 0);
        CHECK(af_suite_tool(s, pa.tool) != NULL && strstr(ds->items[0].question, pa.argument) != NULL);
        af_action_clear(&pa);
        free(a1), free(a2);
    }
    af_suite_destroy(s);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "%s/af-test-task-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(g_dir)) return 1;
    test_judges();
    test_bm25();
    test_loader_errors();
    test_rules();
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", g_dir);
    TEST_MAIN_END();
}
