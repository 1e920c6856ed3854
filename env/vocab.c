/* Fixed shared vocabulary (see vocab.h for the id layout). */
#include "env/vocab.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

#define N_CHAR_BASE 5u
#define N_BASE 100u

/* Multi-character pieces, id = 100 + index. Append only. */
static const char *const kPieces[] = {
    "calculator", "search", "stop", "Q: ", "T: ", "M:\n", "A:", " -> ", /* 100..107 */
    "error: ", "bad action: ", "bad expression: ", "division by zero", "overflow", /* 108..112 */
    "What is the ", " of the ", "the ", " of ", "birthplace", "mother", "director", /* 113..119 */
    "founder", "headquarters", "country", "capital", "; ", " | ", "no entry for ", /* 120..126 */
    "How many ", " each", " are ", " and ", " has ", " the ", " is ", " in ", /* 127..134 */
    "people", "dollars", "apples", "trees", "pencils", "litres", "rows", "boxes", /* 135..142 */
    "uses numbers not given", "unknown tool", "calculator ", "search ", "#1", "#2", "#3", /* 143..149 */
    "(company)", "(person)", "(film)", "(city)", "(country)", " target ", "?\n", ".\n", /* 150..157 */
};
#define N_PIECES (sizeof kPieces / sizeof kPieces[0])

struct AfVocab {
    uint32_t size;
    uint32_t order[N_PIECES]; /* piece indices sorted by length, longest first */
    size_t len[N_PIECES];
    /* the same order grouped by first byte: pieces starting with byte c are
     * by_first[first_at[c] .. first_at[c + 1]) */
    uint32_t by_first[N_PIECES];
    uint32_t first_at[257];
};

static AfVocab g_vocab;
static char g_chars[95][2];

static void vocab_init(AfVocab *v) {
    for (uint32_t i = 0; i < 95; i++) {
        g_chars[i][0] = (char)(32 + i);
        g_chars[i][1] = '\0';
    }
    for (uint32_t i = 0; i < N_PIECES; i++) {
        v->len[i] = strlen(kPieces[i]);
        v->order[i] = i;
    }
    /* insertion sort by length desc, ties by id: deterministic */
    for (uint32_t i = 1; i < N_PIECES; i++) {
        uint32_t x = v->order[i];
        uint32_t j = i;
        while (j > 0 && v->len[v->order[j - 1]] < v->len[x]) {
            v->order[j] = v->order[j - 1];
            j--;
        }
        v->order[j] = x;
    }
    uint32_t k = 0;
    for (unsigned c = 0; c < 256; c++) {
        v->first_at[c] = k;
        for (uint32_t i = 0; i < N_PIECES; i++)
            if ((unsigned char)kPieces[v->order[i]][0] == c) v->by_first[k++] = v->order[i];
    }
    v->first_at[256] = k;
    v->size = N_BASE + (uint32_t)N_PIECES;
}

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static void init_once(void) { vocab_init(&g_vocab); }

const AfVocab *af_vocab_default(void) {
    pthread_once(&g_once, init_once);
    return &g_vocab;
}

uint32_t af_vocab_size(const AfVocab *v) { return v->size; }

const char *af_vocab_piece(const AfVocab *v, uint32_t id) {
    if (id >= v->size) return NULL;
    if (id == AF_TOK_UNK) return "?";
    if (id < 4) return "";
    if (id == 4) return "\n";
    if (id < N_BASE) return g_chars[id - N_CHAR_BASE];
    return kPieces[id - N_BASE];
}

/* The longest piece (the lowest id among equals) that text s starts with; only pieces
 * with s's first byte can match. */
static uint32_t next_token(const AfVocab *v, const char *s, size_t *adv) {
    const unsigned char c0 = (unsigned char)*s;
    for (uint32_t k = v->first_at[c0]; k < v->first_at[c0 + 1]; k++) {
        uint32_t i = v->by_first[k];
        if (strncmp(s, kPieces[i], v->len[i]) == 0) {
            *adv = v->len[i];
            return N_BASE + i;
        }
    }
    unsigned char c = (unsigned char)*s;
    *adv = 1;
    if (c == '\n') return 4;
    if (c >= 32 && c <= 126) return N_CHAR_BASE + (uint32_t)(c - 32);
    return AF_TOK_UNK;
}

int af_vocab_encode(const AfVocab *v, const char *text, uint32_t *ids, size_t cap, size_t *n) {
    size_t k = 0;
    const char *s = text ? text : "";
    while (*s) {
        size_t adv;
        uint32_t id = next_token(v, s, &adv);
        if (k < cap) ids[k] = id;
        k++;
        s += adv;
    }
    *n = k;
    return k > cap ? AF_ERANGE : 0;
}

int af_vocab_encode_alloc(const AfVocab *v, const char *text, uint32_t **ids, size_t *n) {
    size_t need;
    af_vocab_encode(v, text, NULL, 0, &need);
    uint32_t *buf = malloc((need ? need : 1) * sizeof *buf);
    if (!buf) return af_error_set(AF_ENOMEM, "vocab encode: %zu tokens", need);
    af_vocab_encode(v, text, buf, need, n);
    *ids = buf;
    return 0;
}

int af_vocab_decode(const AfVocab *v, const uint32_t *ids, size_t n, char **text) {
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = af_vocab_piece(v, ids[i]);
        if (!p) return af_error_set(AF_EINVAL, "vocab decode: token %zu has id %u >= vocabulary size %u", i, ids[i], v->size);
        len += strlen(p);
    }
    char *out = malloc(len + 1);
    if (!out) return af_error_set(AF_ENOMEM, "vocab decode: %zu bytes", len + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = af_vocab_piece(v, ids[i]);
        size_t l = strlen(p);
        memcpy(out + k, p, l);
        k += l;
    }
    out[k] = '\0';
    *text = out;
    return 0;
}
