/* The tokenizer interface: the fixed-vocabulary adapter against env/vocab.c, a small
 * hand-made byte-level BPE (merges by rank, both merge formats, added tokens, NFC, the
 * GPT-2 regex, ignore_merges, unk), UTF-8 sanitising and the streaming decoder, and the
 * refusal of unsupported or malformed tokenizer.json files. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/tokenizer.h"
#include "common/unicode_nfc.h"
#include "env/suite.h"
#include "env/vocab.h"
#include "env/vocab_tokenizer.h"
#include "test_util.h"

static int ids_eq(const AfTokenIds *a, const uint32_t *want, size_t n) {
    if (a->n != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (a->ids[i] != want[i]) return 0;
    return 1;
}

/* The adapter gives af_vocab_encode's ids and af_vocab_decode's text. */
static void check_fixed_text(AfTokenizer *t, const char *text) {
    uint32_t *want = NULL;
    size_t n = 0;
    CHECK(af_vocab_encode_alloc(af_vocab_default(), text, &want, &n) == 0);
    AfTokenIds got = {0};
    CHECK(af_tokenizer_encode(t, text, strlen(text), &got) == 0);
    CHECK_MSG(ids_eq(&got, want, n), "fixed vocabulary adapter differs on \"%.60s\"", text);
    char *dec = NULL;
    AfBytes b = {0};
    CHECK(af_vocab_decode(af_vocab_default(), want, n, &dec) == 0);
    CHECK(af_tokenizer_decode(t, want, n, &b) == 0);
    CHECK(dec && b.data && strcmp(dec, b.data) == 0);
    free(dec);
    free(want);
    af_bytes_free(&b);
    af_token_ids_free(&got);
}

static void test_fixed(void) {
    AfTokenizer *t = NULL;
    CHECK(af_vocab_tokenizer_create(&t) == 0);
    CHECK(af_tokenizer_vocab_size(t) == af_vocab_size(af_vocab_default()));
    CHECK(strcmp(af_tokenizer_kind(t), "fixed") == 0);
    const char *texts[] = {"", "Q: What is the capital of the country of Paris?\nA:", "calculator 3 * (4 + 5)",
                           "search founder (company) -> #1 | #2; the", "bad action: \x01\xff\xe4\xb8\xad?\n",
                           "How many apples are in the boxes each? 12 dollars.\n", "error: division by zero"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) check_fixed_text(t, texts[i]);
    /* the suites' texts: questions, gold answers and oracle plans of every built-in suite */
    for (const char *const *name = af_suite_names(); *name; name++) {
        AfSuite *suite = NULL;
        CHECK_MSG(af_suite_create(*name, NULL, &suite) == 0, "%s", af_error_detail()); /* names the suite */
        if (!suite) continue;
        for (int sp = 0; sp < 2; sp++) {
            const AfDataset *ds = af_suite_split(suite, (AfSplit)sp);
            for (size_t i = 0; ds && i < ds->n && i < 40; i++) {
                check_fixed_text(t, ds->items[i].question);
                check_fixed_text(t, ds->items[i].answer);
                if (ds->items[i].solution) check_fixed_text(t, ds->items[i].solution);
            }
        }
        af_suite_destroy(suite);
    }
    const AfTokenizerSpecials *sp = af_tokenizer_specials(t);
    CHECK(sp->bos_id == AF_TOK_BOS && sp->eos_id == AF_TOK_EOS && sp->n_eos == 1 && af_tokenizer_is_eos(t, AF_TOK_EOS));
    uint32_t id = 0;
    CHECK(af_tokenizer_token_id(t, "calculator", 10, &id) == 0 && id == 100);
    CHECK(af_tokenizer_token_id(t, "<eos>", 5, &id) == 0 && id == AF_TOK_EOS);
    uint32_t bad = 9999;
    AfBytes b = {0};
    CHECK(af_tokenizer_decode(t, &bad, 1, &b) == AF_EINVAL);
    CHECK_STR_CONTAINS(af_error_detail(), "9999");
    af_bytes_free(&b);
    af_tokenizer_destroy(t);
}

/* A tiny byte-level BPE: bytes a b c, merges "a b" (rank 0) then "ab c" (rank 1), "b c"
 * (rank 2) as ["b","c"]; the space byte is 'Ġ' (U+0120) in the alphabet. */
static const char kTiny[] =
    "{\"version\":\"1.0\",\"added_tokens\":[{\"id\":9,\"content\":\"<|end|>\",\"special\":true,"
    "\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"single_word\":false},"
    "{\"id\":10,\"content\":\"<|end|>x\",\"special\":false}],"
    "\"normalizer\":%s,"
    "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":true},"
    "\"decoder\":{\"type\":\"ByteLevel\"},"
    "\"model\":{\"type\":\"BPE\",\"unk_token\":%s,\"ignore_merges\":%s,"
    "\"vocab\":{\"a\":0,\"b\":1,\"c\":2,\"ab\":3,\"abc\":4,\"bc\":5,\"\\u0120\":6,\"\\u0120a\":7,\"<unk>\":8,"
    "\"\\u00c3\":11,\"\\u00a9\":12,\"\\u00e4\":13,\"\\u00b8\":14,\"\\u0143\":15,\"cab\":16},"
    "\"merges\":[\"a b\",\"ab c\",[\"b\",\"c\"],\"\\u0120 a\"]}}";

static AfTokenizer *tiny(const char *normalizer, const char *unk, const char *ignore_merges) {
    char json[4096];
    snprintf(json, sizeof json, kTiny, normalizer, unk, ignore_merges);
    AfTokenizer *t = NULL;
    int rc = af_tokenizer_load_json(json, strlen(json), "{\"eos_token\":\"<|end|>\",\"add_bos_token\":false}",
                                    "{\"eos_token_id\":[9,4]}", &t);
    CHECK_MSG(rc == 0, "tiny tokenizer: %s", af_error_detail());
    return t;
}

static void check_enc(AfTokenizer *t, const char *text, size_t len, const uint32_t *want, size_t n) {
    AfTokenIds got = {0};
    int rc = af_tokenizer_encode(t, text, len, &got);
    CHECK_MSG(rc == 0 && ids_eq(&got, want, n), "encode \"%.*s\" (rc %d, %zu ids, first %u)", (int)len, text, rc,
              got.n, got.n ? got.ids[0] : 0u);
    af_token_ids_free(&got);
}

static void test_bpe(void) {
    AfTokenizer *t = tiny("null", "\"<unk>\"", "false");
    if (!t) return;
    CHECK(af_tokenizer_vocab_size(t) == 17);
    check_enc(t, "abc", 3, (uint32_t[]){4}, 1);            /* a b -> ab, ab c -> abc */
    check_enc(t, "bc", 2, (uint32_t[]){5}, 1);              /* the array merge format */
    check_enc(t, "abab", 4, (uint32_t[]){3, 3}, 2);
    check_enc(t, "cab", 3, (uint32_t[]){2, 3}, 2);          /* no merge "c ab": not the vocab's "cab" */
    check_enc(t, "a abc", 5, (uint32_t[]){0, 6, 4}, 3);     /* the GPT-2 regex: "a", " abc"; "a b" outranks "Ġ a" */
    check_enc(t, " a", 2, (uint32_t[]){7}, 1);
    check_enc(t, "a<|end|>b", 9, (uint32_t[]){0, 9, 1}, 3); /* added tokens are never split */
    check_enc(t, "<|end|>xa", 9, (uint32_t[]){10, 0}, 2);   /* longest added token first */
    {
        /* AF_ENCODE_ORDINARY: the same text as ordinary bytes ('<' '|' ... have no token: unk) */
        AfTokenIds got = {0};
        CHECK(af_tokenizer_encode_flags(t, "a<|end|>b", 9, AF_ENCODE_ORDINARY, &got) == 0);
        CHECK(got.n > 3 && got.ids[0] == 0 && got.ids[got.n - 1] == 1);
        for (size_t k = 0; k < got.n; k++) CHECK(got.ids[k] != 9 && got.ids[k] != 10);
        af_token_ids_free(&got);
    }
    check_enc(t, "\xc3\xa9", 2, (uint32_t[]){11, 12}, 2);   /* é = bytes C3 A9 */
    /* invalid UTF-8: E4 B8 (truncated) -> U+FFFD = EF BF BD: no tokens but <unk> */
    check_enc(t, "\xe4\xb8", 2, (uint32_t[]){8, 8, 8}, 3);
    check_enc(t, "d", 1, (uint32_t[]){8}, 1);
    check_enc(t, "e\xcc\x81", 3, (uint32_t[]){8, 8, 8}, 3); /* no normalizer: e, then U+0301 */
    /* words above 64 bytes take the heap merge: same rule */
    char longw[241];
    uint32_t want[80];
    for (int i = 0; i < 80; i++) { memcpy(longw + 3 * i, "abc", 3); want[i] = 4; }
    check_enc(t, longw, 240, want, 80);
    for (int i = 0; i < 80; i++) { memcpy(longw + 3 * i, i % 2 ? "cab" : "bca", 3); }
    AfTokenIds small = {0}, big = {0};
    CHECK(af_tokenizer_encode(t, longw, 240, &big) == 0); /* one 240-byte word */
    for (int i = 0; i < 240; i += 60) CHECK(af_tokenizer_encode(t, longw + i, 60, &small) == 0); /* 60-byte words */
    CHECK(big.n == small.n && big.n > 0 && memcmp(big.ids, small.ids, big.n * sizeof *big.ids) == 0);
    af_token_ids_free(&small);
    af_token_ids_free(&big);
    const AfTokenizerSpecials *sp = af_tokenizer_specials(t);
    CHECK(sp->eos_id == 9 && sp->n_eos == 2 && sp->eos_ids[0] == 9 && sp->eos_ids[1] == 4 && sp->add_bos == 0);
    CHECK(af_tokenizer_is_special(t, 9) && !af_tokenizer_is_special(t, 10) && !af_tokenizer_is_special(t, 4));
    uint32_t id = 0;
    CHECK(af_tokenizer_token_id(t, " a", 2, &id) == 0 && id == 7);
    CHECK(af_tokenizer_token_id(t, "<|end|>", 7, &id) == 0 && id == 9);
    CHECK(af_tokenizer_token_id(t, "zz", 2, &id) == AF_ENOTFOUND);
    /* decode: byte-level tokens give their bytes, added tokens their text */
    AfBytes b = {0};
    uint32_t ids[] = {7, 9, 11, 12, 4};
    CHECK(af_tokenizer_decode(t, ids, 5, &b) == 0 && b.len == 14 && memcmp(b.data, " a<|end|>\xc3\xa9" "abc", 14) == 0);
    af_bytes_free(&b);
    uint32_t gap = 16;
    CHECK(af_tokenizer_decode(t, &gap, 1, &b) == 0 && strcmp(b.data, "cab") == 0);
    af_bytes_free(&b);
    uint32_t out_of_range = 17;
    CHECK(af_tokenizer_decode(t, &out_of_range, 1, &b) == AF_EINVAL);
    af_bytes_free(&b);
    af_tokenizer_destroy(t);

    /* generation_config.json eos_token_id: an int, a list, or an id that is not a token */
    {
        char json[4096];
        snprintf(json, sizeof json, kTiny, "null", "null", "false");
        AfTokenizer *g = NULL;
        CHECK(af_tokenizer_load_json(json, strlen(json), NULL, "{\"eos_token_id\": 5}", &g) == 0);
        CHECK(g && af_tokenizer_specials(g)->n_eos == 1 && af_tokenizer_is_eos(g, 5) && !af_tokenizer_is_eos(g, 9));
        af_tokenizer_destroy(g);
        g = NULL;
        CHECK(af_tokenizer_load_json(json, strlen(json), NULL, "{\"eos_token_id\": [5, 999]}", &g) == AF_ECONFIG && !g);
        CHECK_STR_CONTAINS(af_error_detail(), "999");
        CHECK(af_tokenizer_load_json(json, strlen(json), NULL, "{\"eos_token_id\": \"x\"}", &g) == AF_EFORMAT && !g);
        CHECK(af_tokenizer_load_json(json, strlen(json), "{\"bos_token\": {\"content\": \"<|end|>\"}}", NULL, &g) == 0);
        CHECK(g && af_tokenizer_specials(g)->bos_id == 9 && af_tokenizer_specials(g)->eos_id == -1 &&
              af_tokenizer_specials(g)->n_eos == 0 && af_tokenizer_specials(g)->clean_up_spaces == 1);
        af_tokenizer_destroy(g);
    }

    /* ignore_merges: a word in the vocabulary is one token, merges or not */
    t = tiny("null", "null", "true");
    if (t) {
        check_enc(t, "cab", 3, (uint32_t[]){16}, 1);
        /* no unk token: a piece without a token is an error, not a crash */
        AfTokenIds got = {0};
        CHECK(af_tokenizer_encode(t, "d", 1, &got) == AF_EFORMAT);
        af_token_ids_free(&got);
        af_tokenizer_destroy(t);
    }
    /* NFC: e + U+0301 -> é (C3 A9) */
    t = tiny("{\"type\":\"NFC\"}", "\"<unk>\"", "false");
    if (t) {
        check_enc(t, "e\xcc\x81", 3, (uint32_t[]){11, 12}, 2); /* composed first */
        check_enc(t, "\xc3\xa9", 2, (uint32_t[]){11, 12}, 2);
        af_tokenizer_destroy(t);
    }
}

static void test_utf8_and_stream(void) {
    AfBytes b = {0};
    /* maximal subparts: E0 80 -> 2 x FFFD (E0 needs A0..BF), F0 9F 98 -> 1 x FFFD, C0 -> 1 */
    CHECK(af_utf8_sanitize("a\xe0\x80z\xf0\x9f\x98!\xc0", 9, &b) == 0);
    CHECK(strcmp(b.data, "a\xef\xbf\xbd\xef\xbf\xbdz\xef\xbf\xbd!\xef\xbf\xbd") == 0);
    af_bytes_free(&b);
    CHECK(af_utf8_valid_prefix("ab\xe4\xb8\xad\xe4", 6) == 5);
    AfTokenizer *t = tiny("null", "\"<unk>\"", "false");
    if (!t) return;
    /* "é" split across two byte tokens: nothing until the second arrives */
    AfTokenStream s = {0};
    CHECK(af_token_stream_push(t, &s, 7, &b) == 0 && b.len == 2);   /* " a" */
    CHECK(af_token_stream_push(t, &s, 11, &b) == 0 && b.len == 2);  /* C3 held */
    CHECK(af_token_stream_push(t, &s, 12, &b) == 0 && b.len == 4);  /* C3 A9 released */
    CHECK(af_token_stream_push(t, &s, 13, &b) == 0 && b.len == 4);  /* E4 held */
    CHECK(af_token_stream_push(t, &s, 14, &b) == 0 && b.len == 4);  /* E4 B8 held */
    CHECK(af_token_stream_push(t, &s, 0, &b) == 0 && b.len == 7);   /* E4 B8 a: can never complete */
    CHECK(af_token_stream_push(t, &s, 13, &b) == 0 && af_token_stream_finish(&s, &b) == 0 && b.len == 8);
    CHECK(memcmp(b.data, " a\xc3\xa9\xe4\xb8" "a\xe4", 8) == 0);
    af_bytes_free(&b);
    af_tokenizer_destroy(t);
}

static void check_nfc(const char *in, const char *want) {
    AfBytes b = {0};
    CHECK(af_nfc(in, strlen(in), &b, NULL) == 0);
    CHECK_MSG(b.data && strcmp(b.data, want) == 0, "NFC of \"%s\" gave \"%s\"", in, b.data ? b.data : "");
    if (strcmp(in, want) != 0) CHECK(af_nfc_may_change(in, strlen(in)));
    af_bytes_free(&b);
}

/* NFC cases with known answers (Unicode's NormalizationTest.txt style). */
static void test_nfc(void) {
    check_nfc("e\xcc\x81", "\xc3\xa9");                              /* e + U+0301 -> U+00E9 */
    check_nfc("\xc3\x80\xcc\xa3", "\xe1\xba\xa0\xcc\x80");           /* U+00C0 U+0323 -> U+1EA0 U+0300 */
    check_nfc("a\xcc\x81\xcc\xa3", "\xe1\xba\xa1\xcc\x81");          /* reorder 230/220, compose U+1EA1 */
    check_nfc("\xe2\x84\xab", "\xc3\x85");                            /* singleton U+212B -> U+00C5 */
    check_nfc("\xe0\xa5\x98", "\xe0\xa4\x95\xe0\xa4\xbc");           /* exclusion U+0958 stays decomposed */
    check_nfc("\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8", "\xea\xb0\x81"); /* jamo L V T -> U+AC01 */
    check_nfc("\xea\xb0\x80\xe1\x86\xa8", "\xea\xb0\x81");            /* syllable LV + T -> LVT */
    check_nfc("\xcc\x81" "a", "\xcc\x81" "a");                            /* a leading mark composes with nothing */
    check_nfc("\xf0\x96\x84\x9e\xf0\x96\x84\x9e", "\xf0\x96\x84\xa1"); /* Unicode 16: U+1611E U+1611E -> U+16121 */
    check_nfc("plain ascii \xe4\xb8\xad\xc3\xa9", "plain ascii \xe4\xb8\xad\xc3\xa9");
    const char *stable = "caf\xc3\xa9 \xe4\xb8\xad \xea\xb0\x80";
    CHECK(!af_nfc_may_change(stable, strlen(stable)));
}

static void expect_refused(const char *json, int code, const char *name) {
    AfTokenizer *t = NULL;
    int rc = af_tokenizer_load_json(json, strlen(json), NULL, NULL, &t);
    CHECK_MSG(rc == code && !t, "expected %d, got %d for %s", code, rc, name);
    CHECK_STR_CONTAINS(af_error_detail(), name);
    af_tokenizer_destroy(t);
}

static void test_refusals(void) {
    const char *head = "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"decoder\":{\"type\":\"ByteLevel\"},";
    char j[1024];
    snprintf(j, sizeof j, "%s\"pre_tokenizer\":{\"type\":\"Metaspace\"}}", head);
    expect_refused(j, AF_ECONFIG, "Metaspace");
    snprintf(j, sizeof j, "%s\"normalizer\":{\"type\":\"NFKC\"},\"pre_tokenizer\":{\"type\":\"ByteLevel\"}}", head);
    expect_refused(j, AF_ECONFIG, "NFKC");
    snprintf(j, sizeof j, "%s\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(\"},\"behavior\":\"Isolated\"}}", head);
    expect_refused(j, AF_ECONFIG, "PCRE2");
    snprintf(j, sizeof j, "%s\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"a\"},\"behavior\":\"MergedWithNext\"}}", head);
    expect_refused(j, AF_ECONFIG, "MergedWithNext");
    expect_refused("{\"model\":{\"type\":\"Unigram\",\"vocab\":[]}}", AF_ECONFIG, "Unigram");
    expect_refused("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"pre_tokenizer\":{\"type\":\"ByteLevel\"},"
                   "\"decoder\":{\"type\":\"WordPiece\"}}", AF_ECONFIG, "WordPiece");
    expect_refused("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":-3},\"merges\":[]}}", AF_EFORMAT, "model.vocab");
    expect_refused("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"ab\"]}}", AF_EFORMAT, "merges[0]");
    expect_refused("{\"model\": [", AF_EFORMAT, "tokenizer.json");
    AfTokenizer *t = NULL;
    CHECK(af_tokenizer_load("/nonexistent-dir", &t) == AF_ENOTFOUND && !t);
}

/* Optional (for sanitizer runs by hand): AF_TOK_MODEL_DIR and AF_TOK_CORPUS (JSON lines)
 * encode every line with a real tokenizer; streaming decode must equal decode. */
static void test_real_corpus(void) {
    const char *dir = getenv("AF_TOK_MODEL_DIR"), *corpus = getenv("AF_TOK_CORPUS");
    if (!dir || !corpus) return;
    AfTokenizer *t = NULL;
    CHECK_MSG(af_tokenizer_load(dir, &t) == 0, "%s", af_error_detail());
    FILE *f = fopen(corpus, "rb");
    CHECK(f != NULL);
    if (!t || !f) { if (f) fclose(f); af_tokenizer_destroy(t); return; }
    char *line = NULL;
    size_t cap = 0, lines = 0;
    ssize_t got;
    AfBytes text = {0}, dec = {0}, streamed = {0};
    AfTokenIds ids = {0};
    while ((got = getline(&line, &cap, f)) > 0) {
        text.len = dec.len = streamed.len = ids.n = 0;
        if (af_json_string_unescape(line, (size_t)got - (line[got - 1] == '\n'), &text)) continue;
        CHECK(af_tokenizer_encode(t, text.data ? text.data : "", text.len, &ids) == 0);
        CHECK(af_tokenizer_decode(t, ids.ids, ids.n, &dec) == 0);
        AfTokenStream s = {0};
        for (size_t k = 0; k < ids.n; k++) CHECK(af_token_stream_push(t, &s, ids.ids[k], &streamed) == 0);
        CHECK(af_token_stream_finish(&s, &streamed) == 0);
        CHECK(streamed.len == dec.len && (!dec.len || memcmp(streamed.data, dec.data, dec.len) == 0));
        lines++;
    }
    fprintf(stderr, "real corpus: %zu lines\n", lines);
    free(line);
    fclose(f);
    af_bytes_free(&text);
    af_bytes_free(&dec);
    af_bytes_free(&streamed);
    af_token_ids_free(&ids);
    af_tokenizer_destroy(t);
}

/* Mutated and truncated tokenizer.json texts load or are refused, never crash; whatever
 * loads encodes a few strings. */
static void test_mutations(void) {
    char base[4096], buf[4096];
    snprintf(base, sizeof base, kTiny, "{\"type\":\"NFC\"}", "\"<unk>\"", "false");
    size_t n = strlen(base);
    uint64_t x = 88172645463325252ull;
    int loaded = 0;
    for (int it = 0; it < 3000; it++) {
        memcpy(buf, base, n + 1);
        size_t len = n;
        for (int k = 0; k < 1 + it % 4; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            size_t pos = (size_t)(x % len);
            if (it % 5 == 0) { len = pos; buf[len] = 0; break; } /* truncate */
            static const char pool[] = "{}[]\":,0123456789-. abc\\u\xc3\xff";
            buf[pos] = pool[(x >> 32) % (sizeof pool - 1)];
        }
        AfTokenizer *t = NULL;
        int rc = af_tokenizer_load_json(buf, len, NULL, NULL, &t);
        CHECK(rc <= 0 && (rc == 0) == (t != NULL));
        if (t) {
            loaded++;
            AfTokenIds ids = {0};
            (void)af_tokenizer_encode(t, "abc <|end|> \xe4\xb8 e\xcc\x81", 17, &ids);
            AfBytes b = {0};
            (void)af_tokenizer_decode(t, ids.ids, ids.n, &b);
            af_bytes_free(&b);
            af_token_ids_free(&ids);
            af_tokenizer_destroy(t);
        }
    }
    fprintf(stderr, "mutations: %d of 3000 loaded\n", loaded);
}

int main(void) {
    test_real_corpus();
    test_mutations();
    test_fixed();
    test_bpe();
    test_nfc();
    test_utf8_and_stream();
    test_refusals();
    TEST_MAIN_END();
}
