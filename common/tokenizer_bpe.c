/* Hugging Face tokenizer.json byte-level BPE (GPT-2, Qwen2/2.5/3, Llama-3), matching the
 * JavaScript reference (transformers.js / @lenml/tokenizers) token for token.
 *
 * Pipeline of one encode() (docs/tokenizers.md):
 *   1. ill-formed UTF-8 -> U+FFFD (maximal subparts);
 *   2. split out added tokens: at each position the longest added token, leftmost first
 *      (transformers.js DictionarySplitter), on the raw text; lstrip/rstrip trim
 *      JavaScript white space from the neighbouring sections;
 *   3. each other section: normalizer (NFC), then the pre-tokenizers (Split with a
 *      Regex or String, ByteLevel with or without the GPT-2 regex), then BPE by merge
 *      rank (lowest rank first, leftmost on ties) over the section's bytes.
 * Internally every token is its raw bytes (the byte-to-unicode alphabet is undone at
 * load), so the hot path never builds byte-level strings. Symbols that merges produce
 * but the vocabulary lacks get ids >= vocab_size ("extras"). */
#include "common/tokenizer_bpe.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/fsutil.h"
#include "common/jsregex.h"
#include "common/unicode_nfc.h"

#define NO_ID UINT32_MAX
#define CACHE_SLOTS (1u << 16)
#define CACHE_MAX_WORD 256u           /* bytes; longer words are not cached */
#define CACHE_ARENA_MAX (8u << 20)    /* bytes of cached words + ids before a reset */
#define SMALL_WORD 64u                /* symbols; longer words use the heap merge */

typedef struct {
    char *content; /* raw UTF-8 */
    size_t len;
    uint32_t id;
    int lstrip, rstrip, special;
} Added;

typedef struct {
    int kind; /* STEP_SPLIT or STEP_BYTELEVEL */
    AfJsRegex *re; /* NULL for ByteLevel without regex */
    int invert, removed, add_prefix_space;
} Step;
enum { STEP_SPLIT = 1, STEP_BYTELEVEL = 2 };

typedef struct {
    uint64_t key; /* (left << 32) | right; UINT64_MAX empty */
    uint32_t rank, result;
} MergeSlot;

typedef struct {
    uint64_t hash;
    uint32_t woff, wlen, ioff, ilen; /* in cache_bytes / cache_ids; wlen 0 = empty */
} CacheSlot;

typedef struct {
    uint32_t rank, pos, left, right;
} HeapItem;

typedef struct AfBpe {
    uint32_t vocab_size;       /* max token id + 1 */
    uint32_t n_syms;           /* vocab_size + extras */
    uint32_t cap_syms;
    size_t *sym_off;           /* (cap_syms,) offset in arena */
    uint32_t *sym_len;         /* (cap_syms,) bytes; NO_ID = id unused */
    unsigned char *is_token;   /* (cap_syms,) 1 if a vocabulary or added token */
    unsigned char *special;    /* (vocab_size,) */
    AfBytes arena;             /* token bytes */
    uint32_t *map;             /* open addressing over symbol ids, key = bytes */
    size_t map_cap;            /* power of two */
    MergeSlot *merges;
    size_t merge_cap;          /* power of two */
    uint32_t byte_sym[256];
    int64_t unk_id;
    int ignore_merges;
    int nfc;
    Added *added;
    size_t n_added;
    uint32_t added_first[256]; /* bitmask-ish: count of added tokens starting with byte */
    Step *steps;
    size_t n_steps;
    /* scratch (grows, never shrinks) */
    AfBytes clean, norm, prefixed;
    AfNfcScratch nfc_scratch;
    uint32_t *w_id, *w_prev, *w_next, *w_rank;
    size_t w_cap;
    HeapItem *heap;
    size_t heap_cap;
    CacheSlot *cache;
    AfBytes cache_bytes;
    AfTokenIds cache_ids;
} AfBpe;

/* ------------------------------------------------------------------ byte-level alphabet */

static uint32_t g_byte_cp[256];   /* byte -> code point of its byte-level character */
static int16_t g_cp_byte[512];    /* code point (< 512) -> byte, -1 if none */

static void bytelevel_init(void) {
    if (g_byte_cp['!']) return;
    int n = 0;
    for (int i = 0; i < 512; i++) g_cp_byte[i] = -1;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        g_byte_cp[b] = printable ? (uint32_t)b : (uint32_t)(256 + n++);
    }
    for (int b = 0; b < 256; b++) g_cp_byte[g_byte_cp[b]] = (int16_t)b;
}

/* Undo the byte-level alphabet: UTF-8 string s -> raw bytes in out. 0, or 1 if a
 * character is outside the alphabet (out then holds garbage), or AF_ENOMEM. */
static int bytelevel_decode(const char *s, size_t len, AfBytes *out) {
    out->len = 0;
    size_t i = 0;
    while (i < len) {
        uint32_t cp = 0;
        size_t k = af_utf8_decode(s + i, len - i, &cp);
        if (k == 0 || cp >= 512 || g_cp_byte[cp] < 0) return 1;
        char b = (char)g_cp_byte[cp];
        int rc = af_bytes_append(out, &b, 1);
        if (rc) return rc;
        i += k;
    }
    return af_bytes_append(out, "", 0);
}

/* ------------------------------------------------------------------ hashing, maps */

static inline uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull ^ n;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static inline uint64_t hash_pair(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return k;
}

static const char *sym_bytes(const AfBpe *b, uint32_t id, size_t *len) {
    *len = b->sym_len[id];
    return b->arena.data + b->sym_off[id];
}

static uint32_t map_find(const AfBpe *b, const char *s, size_t n) {
    size_t mask = b->map_cap - 1;
    for (size_t i = hash_bytes(s, n) & mask;; i = (i + 1) & mask) {
        uint32_t id = b->map[i];
        if (id == NO_ID) return NO_ID;
        size_t l;
        const char *p = sym_bytes(b, id, &l);
        if (l == n && memcmp(p, s, n) == 0) return id;
    }
}

static int map_grow(AfBpe *b);

/* Insert or overwrite the symbol for bytes equal to symbol `id`'s bytes. */
static int map_put(AfBpe *b, uint32_t id) {
    if ((b->n_syms + 1) * 2 > b->map_cap) {
        int rc = map_grow(b);
        if (rc) return rc;
    }
    size_t n;
    const char *s = sym_bytes(b, id, &n);
    size_t mask = b->map_cap - 1;
    for (size_t i = hash_bytes(s, n) & mask;; i = (i + 1) & mask) {
        uint32_t cur = b->map[i];
        if (cur == NO_ID) { b->map[i] = id; return 0; }
        size_t l;
        const char *p = sym_bytes(b, cur, &l);
        if (l == n && memcmp(p, s, n) == 0) { b->map[i] = id; return 0; }
    }
}

static int map_grow(AfBpe *b) {
    size_t cap = b->map_cap ? b->map_cap * 2 : 1024;
    while (cap < (size_t)(b->n_syms + 1) * 2) cap *= 2;
    uint32_t *old = b->map;
    size_t old_cap = b->map_cap;
    b->map = malloc(cap * sizeof *b->map);
    if (!b->map) { b->map = old; return af_error_set(AF_ENOMEM, "tokenizer: symbol map of %zu slots", cap); }
    memset(b->map, 0xff, cap * sizeof *b->map);
    b->map_cap = cap;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i] == NO_ID) continue;
        size_t n;
        const char *s = sym_bytes(b, old[i], &n);
        size_t mask = cap - 1, j = hash_bytes(s, n) & mask;
        while (b->map[j] != NO_ID) j = (j + 1) & mask;
        b->map[j] = old[i];
    }
    free(old);
    return 0;
}

static int syms_reserve(AfBpe *b, uint32_t n) {
    if (n <= b->cap_syms) return 0;
    uint32_t cap = b->cap_syms ? b->cap_syms : 1024;
    while (cap < n) cap *= 2;
    size_t *o = realloc(b->sym_off, cap * sizeof *o);
    if (o) b->sym_off = o;
    uint32_t *l = realloc(b->sym_len, cap * sizeof *l);
    if (l) b->sym_len = l;
    unsigned char *t = realloc(b->is_token, cap);
    if (t) b->is_token = t;
    if (!o || !l || !t) return af_error_set(AF_ENOMEM, "tokenizer: %u symbols", cap);
    for (uint32_t i = b->cap_syms; i < cap; i++) {
        b->sym_len[i] = NO_ID;
        b->sym_off[i] = 0;
        b->is_token[i] = 0;
    }
    b->cap_syms = cap;
    return 0;
}

/* Set symbol id's bytes (copied into the arena). */
static int sym_set(AfBpe *b, uint32_t id, const char *s, size_t n, int is_token) {
    if (n >= NO_ID) return af_error_set(AF_EFORMAT, "token %u is too long", id);
    int rc = syms_reserve(b, id + 1);
    if (rc) return rc;
    b->sym_off[id] = b->arena.len;
    rc = af_bytes_append(&b->arena, s, n);
    if (rc) return rc;
    b->sym_len[id] = (uint32_t)n;
    b->is_token[id] = (unsigned char)is_token;
    return 0;
}

/* Symbol id of bytes s[0..n), creating an extra symbol (not a token) if needed. */
static int sym_intern(AfBpe *b, const char *s, size_t n, uint32_t *out) {
    uint32_t id = map_find(b, s, n);
    if (id == NO_ID) {
        id = b->n_syms;
        int rc = sym_set(b, id, s, n, 0);
        if (!rc) { b->n_syms++; rc = map_put(b, id); }
        if (rc) return rc;
    }
    *out = id;
    return 0;
}

static int merges_put(AfBpe *b, uint32_t left, uint32_t right, uint32_t rank, uint32_t result) {
    uint64_t key = ((uint64_t)left << 32) | right;
    size_t mask = b->merge_cap - 1;
    for (size_t i = hash_pair(key) & mask;; i = (i + 1) & mask) {
        if (b->merges[i].key == UINT64_MAX || b->merges[i].key == key) {
            /* a repeated pair keeps the later rank, as a JavaScript Map or Rust HashMap built in order */
            b->merges[i] = (MergeSlot){key, rank, result};
            return 0;
        }
    }
}

static inline const MergeSlot *merges_get(const AfBpe *b, uint32_t left, uint32_t right) {
    uint64_t key = ((uint64_t)left << 32) | right;
    size_t mask = b->merge_cap - 1;
    for (size_t i = hash_pair(key) & mask;; i = (i + 1) & mask) {
        const MergeSlot *m = &b->merges[i];
        if (m->key == key) return m;
        if (m->key == UINT64_MAX) return NULL;
    }
}

/* ------------------------------------------------------------------ BPE of one word */

static int emit_sym(const AfBpe *b, uint32_t id, AfTokenIds *out) {
    if (id < b->vocab_size && b->is_token[id]) return af_token_ids_push(out, id);
    if (b->unk_id >= 0) return af_token_ids_push(out, (uint32_t)b->unk_id);
    size_t n;
    const char *s = sym_bytes(b, id, &n);
    return af_error_set(AF_EFORMAT, "tokenizer: piece of %zu bytes (first byte 0x%02x) has no token and the model has no unk_token",
                        n, n ? (unsigned char)s[0] : 0u);
}

static int word_reserve(AfBpe *b, size_t n) {
    if (n <= b->w_cap) return 0;
    size_t cap = b->w_cap ? b->w_cap : 256;
    while (cap < n) cap *= 2;
    uint32_t *p[4] = {b->w_id, b->w_prev, b->w_next, b->w_rank};
    for (int k = 0; k < 4; k++) {
        uint32_t *q = realloc(p[k], cap * sizeof *q);
        if (!q) return af_error_set(AF_ENOMEM, "tokenizer: word of %zu bytes", n);
        p[k] = q;
    }
    b->w_id = p[0]; b->w_prev = p[1]; b->w_next = p[2]; b->w_rank = p[3];
    /* at most n - 1 initial pairs plus one net push per merge are ever queued: < 2n */
    HeapItem *h = realloc(b->heap, cap * 2 * sizeof *h);
    if (!h) return af_error_set(AF_ENOMEM, "tokenizer: word of %zu bytes", n);
    b->heap = h;
    b->heap_cap = cap * 2;
    b->w_cap = cap;
    return 0;
}

static inline int heap_less(const HeapItem *a, const HeapItem *c) {
    return a->rank < c->rank || (a->rank == c->rank && a->pos < c->pos);
}

static void heap_push(HeapItem *h, size_t *n, size_t cap, HeapItem it) {
    AF_ASSERT(*n < cap);
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_less(&it, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = it;
}

static HeapItem heap_pop(HeapItem *h, size_t *n) {
    HeapItem top = h[0], last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && heap_less(&h[c + 1], &h[c])) c++;
        if (!heap_less(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = last;
    return top;
}

/* Symbols are kept in a linked list over byte positions; w_id[i] is the symbol starting
 * at byte i (valid while i is alive). */
static void merge_small(AfBpe *b, size_t n) {
    uint32_t *id = b->w_id, *next = b->w_next, *rank = b->w_rank;
    for (size_t i = 0; i < n; i++) {
        const MergeSlot *m = i + 1 < n ? merges_get(b, id[i], id[i + 1]) : NULL;
        rank[i] = m ? m->rank : NO_ID;
        next[i] = (uint32_t)(i + 1);
    }
    uint32_t *prev = b->w_prev;
    for (size_t i = 0; i < n; i++) prev[i] = (uint32_t)i - 1;
    for (;;) {
        uint32_t best = NO_ID, bi = 0;
        for (uint32_t i = 0; i < n; i = next[i])
            if (rank[i] < best) { best = rank[i]; bi = i; }
        if (best == NO_ID) break;
        uint32_t j = next[bi];
        id[bi] = merges_get(b, id[bi], id[j])->result;
        next[bi] = next[j];
        if (next[bi] < n) prev[next[bi]] = bi;
        const MergeSlot *m = next[bi] < n ? merges_get(b, id[bi], id[next[bi]]) : NULL;
        rank[bi] = m ? m->rank : NO_ID;
        if (bi > 0) {
            uint32_t p = prev[bi];
            m = merges_get(b, id[p], id[bi]);
            rank[p] = m ? m->rank : NO_ID;
        }
    }
}

static void merge_heap(AfBpe *b, size_t n) {
    uint32_t *id = b->w_id, *next = b->w_next, *prev = b->w_prev;
    unsigned char *dead = (unsigned char *)b->w_rank; /* n bytes fit in n uint32 */
    size_t hn = 0;
    for (size_t i = 0; i < n; i++) {
        next[i] = (uint32_t)(i + 1);
        prev[i] = (uint32_t)i - 1;
        dead[i] = 0;
        const MergeSlot *m = i + 1 < n ? merges_get(b, id[i], id[i + 1]) : NULL;
        if (m) heap_push(b->heap, &hn, b->heap_cap, (HeapItem){m->rank, (uint32_t)i, id[i], id[i + 1]});
    }
    while (hn) {
        HeapItem it = heap_pop(b->heap, &hn);
        uint32_t i = it.pos, j = next[i];
        if (dead[i] || id[i] != it.left || j >= n || id[j] != it.right) continue;
        id[i] = merges_get(b, it.left, it.right)->result;
        dead[j] = 1;
        next[i] = next[j];
        if (next[i] < n) prev[next[i]] = i;
        if (next[i] < n) {
            const MergeSlot *m = merges_get(b, id[i], id[next[i]]);
            if (m) heap_push(b->heap, &hn, b->heap_cap, (HeapItem){m->rank, i, id[i], id[next[i]]});
        }
        if (i > 0) {
            uint32_t p = prev[i];
            const MergeSlot *m = merges_get(b, id[p], id[i]);
            if (m) heap_push(b->heap, &hn, b->heap_cap, (HeapItem){m->rank, p, id[p], id[i]});
        }
    }
}

static int bpe_word(AfBpe *b, const char *w, size_t n, AfTokenIds *out) {
    if (n == 0) return 0;
    if (n == 1) return emit_sym(b, b->byte_sym[(unsigned char)w[0]], out);
    if (b->ignore_merges) {
        uint32_t id = map_find(b, w, n);
        if (id != NO_ID && id < b->vocab_size && b->is_token[id]) return af_token_ids_push(out, id);
    }
    uint64_t h = 0;
    CacheSlot *slot = NULL;
    if (n <= CACHE_MAX_WORD) {
        h = hash_bytes(w, n);
        slot = &b->cache[h & (CACHE_SLOTS - 1)];
        if (slot->wlen == n && slot->hash == h && memcmp(b->cache_bytes.data + slot->woff, w, n) == 0) {
            for (uint32_t k = 0; k < slot->ilen; k++) {
                int rc = af_token_ids_push(out, b->cache_ids.ids[slot->ioff + k]);
                if (rc) return rc;
            }
            return 0;
        }
    }
    int rc = word_reserve(b, n);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++) b->w_id[i] = b->byte_sym[(unsigned char)w[i]];
    if (n <= SMALL_WORD) merge_small(b, n);
    else merge_heap(b, n);
    size_t start = out->n;
    for (uint32_t i = 0; i < n; i = b->w_next[i]) {
        rc = emit_sym(b, b->w_id[i], out);
        if (rc) return rc;
    }
    if (slot) {
        size_t k = out->n - start;
        if (b->cache_bytes.len + n > CACHE_ARENA_MAX || b->cache_ids.n + k > CACHE_ARENA_MAX / 4) {
            memset(b->cache, 0, CACHE_SLOTS * sizeof *b->cache);
            b->cache_bytes.len = 0;
            b->cache_ids.n = 0;
        }
        uint32_t woff = (uint32_t)b->cache_bytes.len, ioff = (uint32_t)b->cache_ids.n;
        rc = af_bytes_append(&b->cache_bytes, w, n);
        for (size_t q = 0; !rc && q < k; q++) rc = af_token_ids_push(&b->cache_ids, out->ids[start + q]);
        if (rc) return rc;
        *slot = (CacheSlot){h, woff, (uint32_t)n, ioff, (uint32_t)k};
    }
    return 0;
}

/* ------------------------------------------------------------------ pre-tokenizers */

static int pretok(AfBpe *b, size_t step, const char *s, size_t len, AfTokenIds *out);

static size_t utf8_char_len(unsigned char c) { return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4; }

/* Split s by step's regex (JavaScript matchAll semantics) and feed the pieces on. */
static int split_run(AfBpe *b, size_t step, const Step *st, const char *s, size_t len, AfTokenIds *out) {
    size_t from = 0, prev = 0, ms, me;
    int rc, found;
    int keep_gaps = !st->invert, keep_matches = st->invert || !st->removed;
    while ((found = af_jsregex_next(st->re, s, len, from, &ms, &me)) == 1) {
        if (keep_gaps && ms > prev && (rc = pretok(b, step + 1, s + prev, ms - prev, out))) return rc;
        if (keep_matches && me > ms && (rc = pretok(b, step + 1, s + ms, me - ms, out))) return rc;
        if (st->removed && !st->invert) { /* JavaScript's split() keeps what capture groups matched */
            int ng = af_jsregex_groups(st->re);
            for (int g = 1; g <= ng; g++) {
                size_t gs, ge;
                if (af_jsregex_group(st->re, g, &gs, &ge) && ge > gs && (rc = pretok(b, step + 1, s + gs, ge - gs, out)))
                    return rc;
            }
        }
        prev = me;
        if (me == ms) {
            if (me >= len) break;
            from = me + utf8_char_len((unsigned char)s[me]);
        } else from = me;
    }
    if (found < 0) return found;
    if (keep_gaps && prev < len) return pretok(b, step + 1, s + prev, len - prev, out);
    return 0;
}

static int pretok(AfBpe *b, size_t step, const char *s, size_t len, AfTokenIds *out) {
    if (step == b->n_steps) return bpe_word(b, s, len, out);
    const Step *st = &b->steps[step];
    if (st->kind == STEP_SPLIT) return split_run(b, step, st, s, len, out);
    /* ByteLevel (always the last step) */
    if (st->add_prefix_space && (len == 0 || s[0] != ' ')) {
        b->prefixed.len = 0;
        int rc = af_bytes_append(&b->prefixed, " ", 1);
        if (!rc) rc = af_bytes_append(&b->prefixed, s, len);
        if (rc) return rc;
        s = b->prefixed.data;
        len = b->prefixed.len;
    }
    if (!st->re) return bpe_word(b, s, len, out);
    /* the GPT-2 regex: text.match(pattern), the matches only */
    Step m = *st;
    m.invert = 1;
    return split_run(b, step, &m, s, len, out);
}

/* ------------------------------------------------------------------ encode */

/* JavaScript String.prototype.trim's white space at s[i] (UTF-8): its length, or 0. */
static size_t js_space_at(const char *s, size_t len, size_t i) {
    unsigned char c = (unsigned char)s[i];
    if (c == ' ' || (c >= 0x09 && c <= 0x0D)) return 1;
    if (c < 0xC2) return 0;
    uint32_t cp = 0;
    size_t k = af_utf8_decode(s + i, len - i, &cp);
    if (k == 0) return 0;
    int sp = cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
             cp == 0x202F || cp == 0x205F || cp == 0x3000 || cp == 0xFEFF;
    return sp ? (size_t)k : 0;
}

static size_t js_space_before(const char *s, size_t end) {
    /* length of the white-space character ending at s[end], or 0 */
    size_t st = end;
    while (st > 0 && end - st < 4) {
        st--;
        if (((unsigned char)s[st] & 0xC0) != 0x80) break;
    }
    size_t k = js_space_at(s, end, st);
    return st + k == end ? k : 0;
}

/* Normalize, pre-tokenize and BPE one section that holds no added token. */
static int encode_section(AfBpe *b, const char *s, size_t len, AfTokenIds *out) {
    if (len == 0) return 0;
    if (b->nfc && af_nfc_may_change(s, len)) {
        b->norm.len = 0;
        int rc = af_nfc(s, len, &b->norm, &b->nfc_scratch);
        if (rc) return rc;
        s = b->norm.data;
        len = b->norm.len;
    }
    return pretok(b, 0, s, len, out);
}

/* The added token that starts at s[i] (longest), or NULL. */
static const Added *added_at(const AfBpe *b, const char *s, size_t len, size_t i) {
    if (!b->added_first[(unsigned char)s[i]]) return NULL;
    const Added *best = NULL;
    for (size_t k = 0; k < b->n_added; k++) {
        const Added *a = &b->added[k];
        if (a->len <= len - i && (!best || a->len > best->len) && memcmp(s + i, a->content, a->len) == 0) best = a;
    }
    return best;
}

static int bpe_encode(void *impl, const char *text, size_t len, AfTokenIds *out) {
    AfBpe *b = impl;
    const char *s = text;
    if (af_utf8_valid_prefix(text, len) != len) {
        b->clean.len = 0;
        int rc = af_utf8_sanitize(text, len, &b->clean);
        if (rc) return rc;
        s = b->clean.data;
        len = b->clean.len;
    }
    size_t start = 0, i = 0;
    int rstrip_next = 0;
    while (i < len) {
        const Added *a = b->n_added ? added_at(b, s, len, i) : NULL;
        if (!a) { i++; continue; }
        size_t end = i, beg = start;
        if (rstrip_next) { size_t k; while (beg < end && (k = js_space_at(s, end, beg))) beg += k; }
        if (a->lstrip) { size_t k; while (end > beg && (k = js_space_before(s, end))) end -= k; }
        int rc = encode_section(b, s + beg, end - beg, out);
        if (!rc) rc = af_token_ids_push(out, a->id);
        if (rc) return rc;
        rstrip_next = a->rstrip;
        i += a->len;
        start = i;
    }
    size_t beg = start;
    if (rstrip_next) { size_t k; while (beg < len && (k = js_space_at(s, len, beg))) beg += k; }
    return encode_section(b, s + beg, len - beg, out);
}

/* ------------------------------------------------------------------ interface ops */

static const char *bpe_token_bytes(const void *impl, uint32_t id, size_t *len) {
    const AfBpe *b = impl;
    if (id >= b->vocab_size || !b->is_token[id]) { *len = 0; return NULL; }
    return sym_bytes(b, id, len);
}

static int bpe_token_id(const void *impl, const char *text, size_t len, uint32_t *id) {
    const AfBpe *b = impl;
    for (size_t k = 0; k < b->n_added; k++)
        if (b->added[k].len == len && memcmp(b->added[k].content, text, len) == 0) { *id = b->added[k].id; return 0; }
    uint32_t s = map_find(b, text, len);
    if (s == NO_ID || s >= b->vocab_size || !b->is_token[s])
        return af_error_set(AF_ENOTFOUND, "tokenizer: no token \"%.*s\"", (int)(len < 80 ? len : 80), text);
    *id = s;
    return 0;
}

static int bpe_is_special(const void *impl, uint32_t id) {
    const AfBpe *b = impl;
    return id < b->vocab_size && b->special[id];
}

static void bpe_destroy(void *impl) {
    AfBpe *b = impl;
    if (!b) return;
    free(b->sym_off);
    free(b->sym_len);
    free(b->is_token);
    free(b->special);
    af_bytes_free(&b->arena);
    free(b->map);
    free(b->merges);
    for (size_t k = 0; k < b->n_added; k++) free(b->added[k].content);
    free(b->added);
    for (size_t k = 0; k < b->n_steps; k++) af_jsregex_destroy(b->steps[k].re);
    free(b->steps);
    af_bytes_free(&b->clean);
    af_bytes_free(&b->norm);
    af_bytes_free(&b->prefixed);
    af_nfc_scratch_free(&b->nfc_scratch);
    free(b->w_id);
    free(b->w_prev);
    free(b->w_next);
    free(b->w_rank);
    free(b->heap);
    free(b->cache);
    af_bytes_free(&b->cache_bytes);
    af_token_ids_free(&b->cache_ids);
    free(b);
}

static const AfTokenizerOps kBpeOps = {"bpe", bpe_encode, bpe_token_bytes, bpe_token_id, bpe_is_special, bpe_destroy};

/* ------------------------------------------------------------------ loading */

#define FMT(...) af_error_set(AF_EFORMAT, "tokenizer.json: " __VA_ARGS__)
#define CFG(...) af_error_set(AF_ECONFIG, "tokenizer.json: " __VA_ARGS__)

static const char *json_type(const cJSON *j) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "type");
    return cJSON_IsString(t) ? t->valuestring : NULL;
}

static int json_bool(const cJSON *obj, const char *key, int dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
    return dflt;
}

static int json_id(const cJSON *v, const char *what, uint32_t *id) {
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 0x7ffffffe || v->valuedouble != (double)(int64_t)v->valuedouble)
        return FMT("%s: expected a token id (an integer in [0, 2^31-1))", what);
    *id = (uint32_t)v->valuedouble;
    return 0;
}

static int load_normalizer(AfBpe *b, const cJSON *n) {
    if (!n || cJSON_IsNull(n)) return 0;
    const char *type = json_type(n);
    if (!type) return FMT("normalizer: missing \"type\"");
    if (strcmp(type, "NFC") == 0) { b->nfc = 1; return 0; }
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(n, "normalizers"), *e;
        if (!cJSON_IsArray(list)) return FMT("normalizer Sequence: missing \"normalizers\" array");
        if (cJSON_GetArraySize(list) > 1) return CFG("normalizer Sequence of %d normalizers is not supported (only NFC)", cJSON_GetArraySize(list));
        cJSON_ArrayForEach(e, list) {
            int rc = load_normalizer(b, e);
            if (rc) return rc;
        }
        return 0;
    }
    return CFG("normalizer type \"%s\" is not supported (supported: NFC, Sequence of one NFC)", type);
}

static int add_step(AfBpe *b, Step st) {
    Step *p = realloc(b->steps, (b->n_steps + 1) * sizeof *p);
    if (!p) { af_jsregex_destroy(st.re); return af_error_set(AF_ENOMEM, "tokenizer: out of memory"); }
    b->steps = p;
    b->steps[b->n_steps++] = st;
    return 0;
}

static const char kGpt2Pattern[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static int load_pretok(AfBpe *b, const cJSON *p) {
    const char *type = json_type(p);
    if (!type) return FMT("pre_tokenizer: missing \"type\"");
    if (b->n_steps && b->steps[b->n_steps - 1].kind == STEP_BYTELEVEL)
        return CFG("pre_tokenizer \"%s\" after ByteLevel is not supported (ByteLevel must come last)", type);
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(p, "pretokenizers"), *e;
        if (!cJSON_IsArray(list)) return FMT("pre_tokenizer Sequence: missing \"pretokenizers\" array");
        cJSON_ArrayForEach(e, list) {
            int rc = load_pretok(b, e);
            if (rc) return rc;
        }
        return 0;
    }
    Step st = {0};
    int rc;
    if (strcmp(type, "Split") == 0) {
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(p, "pattern");
        const cJSON *re = cJSON_GetObjectItemCaseSensitive(pat, "Regex");
        const cJSON *str = cJSON_GetObjectItemCaseSensitive(pat, "String");
        const cJSON *beh = cJSON_GetObjectItemCaseSensitive(p, "behavior");
        if (!cJSON_IsString(re) && !cJSON_IsString(str)) return FMT("pre_tokenizer Split: \"pattern\" needs a \"Regex\" or \"String\"");
        if (!cJSON_IsString(beh)) return FMT("pre_tokenizer Split: missing \"behavior\"");
        st.kind = STEP_SPLIT;
        st.invert = json_bool(p, "invert", 0);
        if (strcmp(beh->valuestring, "Removed") == 0) st.removed = 1;
        else if (strcmp(beh->valuestring, "Isolated") != 0)
            return CFG("pre_tokenizer Split behavior \"%s\" is not supported (supported: Isolated, Removed)", beh->valuestring);
        /* a String pattern is matched literally; transformers.js wraps it in a group unless inverted */
        rc = af_jsregex_compile(cJSON_IsString(re) ? re->valuestring : str->valuestring,
                                cJSON_IsString(re) ? 0 : st.invert ? 1 : 2, &st.re);
        if (rc) return af_error_wrap(rc, "tokenizer.json: pre_tokenizer Split");
        return add_step(b, st);
    }
    if (strcmp(type, "ByteLevel") == 0) {
        st.kind = STEP_BYTELEVEL;
        st.add_prefix_space = json_bool(p, "add_prefix_space", 0);
        if (json_bool(p, "use_regex", 1)) {
            rc = af_jsregex_compile(kGpt2Pattern, 0, &st.re);
            if (rc) return af_error_wrap(rc, "tokenizer.json: pre_tokenizer ByteLevel");
        }
        return add_step(b, st);
    }
    if (strcmp(type, "Digits") == 0) { /* transformers.js: text.match(/[^\d]+|\d+/gu), \d once if individual */
        st.kind = STEP_SPLIT;
        st.invert = 1;
        rc = af_jsregex_compile(json_bool(p, "individual_digits", 0) ? "[^\\d]+|\\d" : "[^\\d]+|\\d+", 0, &st.re);
        if (rc) return af_error_wrap(rc, "tokenizer.json: pre_tokenizer Digits");
        return add_step(b, st);
    }
    return CFG("pre_tokenizer type \"%s\" is not supported (supported: Split, Digits, ByteLevel, Sequence)", type);
}

/* Added token content -> encode-side key (the byte-level alphabet undone) and record. */
static int add_added(AfBpe *b, const char *content, uint32_t id, int special, int lstrip, int rstrip, AfBytes *tmp) {
    size_t len = strlen(content);
    if (len == 0) return FMT("added token %u has empty content", id);
    for (size_t k = 0; k < b->n_added; k++)
        if (b->added[k].id == id || (b->added[k].len == len && memcmp(b->added[k].content, content, len) == 0)) {
            b->added[k].special |= special;
            return 0; /* the same token listed again (tokenizer_config.json) */
        }
    Added *p = realloc(b->added, (b->n_added + 1) * sizeof *p);
    if (!p) return af_error_set(AF_ENOMEM, "tokenizer: out of memory");
    b->added = p;
    char *c = strdup(content);
    if (!c) return af_error_set(AF_ENOMEM, "tokenizer: out of memory");
    b->added[b->n_added++] = (Added){c, len, id, lstrip, rstrip, special};
    b->added_first[(unsigned char)c[0]]++;
    /* decode gives the content; the vocabulary map sees it in the byte-level alphabet */
    int rc = sym_set(b, id, content, len, 1);
    if (rc) return rc;
    rc = bytelevel_decode(content, len, tmp);
    if (rc < 0) return rc;
    /* the vocabulary map (ignore_merges) sees the content in the byte-level alphabet:
     * the same bytes when the content is printable ASCII without spaces (every real file) */
    if (rc == 0 && tmp->len == len && memcmp(tmp->data, content, len) == 0) return map_put(b, id);
    return 0;
}

/* "name" or {"content": "name"} or null -> the token's id, or -1. */
static int64_t config_token(const AfBpe *b, const cJSON *cfg, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (cJSON_IsObject(v)) v = cJSON_GetObjectItemCaseSensitive(v, "content");
    if (!cJSON_IsString(v)) return -1;
    uint32_t id = 0;
    if (bpe_token_id(b, v->valuestring, strlen(v->valuestring), &id)) { af_error_clear(); return -1; }
    return id;
}

static int push_eos(AfTokenizerSpecials *sp, uint32_t *buf, size_t cap, int64_t id) {
    if (id < 0) return 0;
    for (size_t i = 0; i < sp->n_eos; i++)
        if (buf[i] == (uint32_t)id) return 0;
    if (sp->n_eos == cap) return af_error_set(AF_ECONFIG, "generation_config.json: more than %zu eos_token_id values", cap);
    buf[sp->n_eos++] = (uint32_t)id;
    return 0;
}

/* Does tokenizer.json's post_processor template start with the token `bos`? */
static int template_adds_bos(const cJSON *pp, int64_t bos) {
    if (!pp || bos < 0) return 0;
    const char *type = json_type(pp);
    if (type && strcmp(type, "Sequence") == 0) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(pp, "processors"))
            if (template_adds_bos(e, bos)) return 1;
        return 0;
    }
    if (!type || strcmp(type, "TemplateProcessing") != 0) return 0;
    const cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(pp, "single"), 0);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(first, "SpecialToken"), "id");
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(pp, "special_tokens"),
                                                       cJSON_IsString(name) ? name->valuestring : "");
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(sp, "ids");
    const cJSON *id0 = cJSON_GetArrayItem(ids, 0);
    return cJSON_IsNumber(id0) && (int64_t)id0->valuedouble == bos;
}

#define MAX_EOS 64

static int load_specials(AfBpe *b, const cJSON *root, const cJSON *cfg, const cJSON *gen, AfTokenizerSpecials *sp,
                         uint32_t *eos_buf) {
    sp->bos_id = config_token(b, cfg, "bos_token");
    sp->eos_id = config_token(b, cfg, "eos_token");
    sp->pad_id = config_token(b, cfg, "pad_token");
    sp->unk_id = config_token(b, cfg, "unk_token");
    if (sp->unk_id < 0) sp->unk_id = b->unk_id;
    sp->add_bos = json_bool(cfg, "add_bos_token", -1);
    if (sp->add_bos < 0) sp->add_bos = template_adds_bos(cJSON_GetObjectItemCaseSensitive(root, "post_processor"), sp->bos_id);
    sp->add_eos = json_bool(cfg, "add_eos_token", 0);
    sp->clean_up_spaces = json_bool(cfg, "clean_up_tokenization_spaces", 1);
    sp->eos_ids = eos_buf;
    sp->n_eos = 0;
    int rc = push_eos(sp, eos_buf, MAX_EOS, sp->eos_id);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(gen, "eos_token_id"), *x;
    if (gen && e && !cJSON_IsNull(e)) {
        if (cJSON_IsArray(e)) {
            cJSON_ArrayForEach(x, e) {
                uint32_t id = 0;
                if (!rc && json_id(x, "eos_token_id", &id)) rc = af_error_set(AF_EFORMAT, "generation_config.json: eos_token_id: expected token ids");
                if (!rc) rc = push_eos(sp, eos_buf, MAX_EOS, id);
            }
        } else {
            uint32_t id = 0;
            if (!rc && json_id(e, "eos_token_id", &id)) rc = af_error_set(AF_EFORMAT, "generation_config.json: eos_token_id: expected an id or a list of ids");
            if (!rc) rc = push_eos(sp, eos_buf, MAX_EOS, id);
        }
    }
    for (size_t i = 0; !rc && i < sp->n_eos; i++)
        if (sp->eos_ids[i] >= b->vocab_size || !b->is_token[sp->eos_ids[i]])
            rc = af_error_set(AF_ECONFIG, "generation_config.json: eos_token_id %u is not a token (vocabulary size %u)",
                              sp->eos_ids[i], b->vocab_size);
    return rc;
}

/* One merge entry ("a b" or ["a", "b"]) -> the two sides as byte-level strings. */
static int merge_sides(const cJSON *m, size_t rank, const char **l, size_t *ll, const char **r, size_t *rl) {
    if (cJSON_IsString(m)) {
        /* JavaScript x.split(" ", 2): the text up to the first space, then up to the next */
        const char *s = m->valuestring, *sp = strchr(s, ' ');
        if (!sp) return FMT("model.merges[%zu]: \"%.60s\" has no space", rank, s);
        const char *e = strchr(sp + 1, ' ');
        *l = s; *ll = (size_t)(sp - s);
        *r = sp + 1; *rl = e ? (size_t)(e - sp - 1) : strlen(sp + 1);
        return 0;
    }
    const cJSON *a = cJSON_GetArrayItem(m, 0), *c = cJSON_GetArrayItem(m, 1);
    if (!cJSON_IsArray(m) || !cJSON_IsString(a) || !cJSON_IsString(c))
        return FMT("model.merges[%zu]: expected \"a b\" or [\"a\", \"b\"]", rank);
    *l = a->valuestring; *ll = strlen(a->valuestring);
    *r = c->valuestring; *rl = strlen(c->valuestring);
    return 0;
}

static int load_merges(AfBpe *b, const cJSON *merges) {
    if (!cJSON_IsArray(merges)) return FMT("model.merges: expected an array");
    size_t n = (size_t)cJSON_GetArraySize(merges), cap = 1024;
    while (cap < n * 2) cap *= 2;
    b->merges = malloc(cap * sizeof *b->merges);
    if (!b->merges) return af_error_set(AF_ENOMEM, "tokenizer: %zu merges", n);
    memset(b->merges, 0xff, cap * sizeof *b->merges);
    b->merge_cap = cap;
    AfBytes lb = {0}, rb = {0};
    const cJSON *m;
    size_t rank = 0;
    int rc = 0;
    cJSON_ArrayForEach(m, merges) {
        const char *l = NULL, *r = NULL;
        size_t ll = 0, rl = 0;
        uint32_t li = 0, ri = 0, mi = 0;
        rc = merge_sides(m, rank, &l, &ll, &r, &rl);
        if (rc) break;
        int bl = bytelevel_decode(l, ll, &lb), br = bl ? bl : bytelevel_decode(r, rl, &rb);
        if (bl < 0 || br < 0) { rc = bl < 0 ? bl : br; break; }
        if (bl == 0 && br == 0 && lb.len && rb.len) { /* a side outside the alphabet can never apply */
            rc = sym_intern(b, lb.data, lb.len, &li);
            if (!rc) rc = sym_intern(b, rb.data, rb.len, &ri);
            if (!rc) rc = af_bytes_append(&lb, rb.data, rb.len);
            if (!rc) rc = sym_intern(b, lb.data, lb.len, &mi);
            if (!rc) rc = merges_put(b, li, ri, (uint32_t)rank, mi);
            if (rc) break;
        }
        rank++;
    }
    af_bytes_free(&lb);
    af_bytes_free(&rb);
    return rc;
}

static int load_vocab(AfBpe *b, const cJSON *vocab) {
    if (!cJSON_IsObject(vocab)) return FMT("model.vocab: expected an object of token -> id");
    AfBytes tmp = {0};
    const cJSON *e;
    int rc = 0;
    cJSON_ArrayForEach(e, vocab) {
        uint32_t id = 0;
        if ((rc = json_id(e, "model.vocab", &id))) break;
        if (id + 1 > b->n_syms) b->n_syms = id + 1;
        const char *k = e->string;
        int bl = bytelevel_decode(k, strlen(k), &tmp);
        if (bl < 0) { rc = bl; break; }
        if (bl == 0) rc = sym_set(b, id, tmp.data, tmp.len, 1);
        else rc = sym_set(b, id, k, strlen(k), 1); /* not byte-level: decodes as its text */
        if (!rc && bl == 0) rc = map_put(b, id);
        if (rc) break;
    }
    af_bytes_free(&tmp);
    return rc;
}

static int load_added(AfBpe *b, const cJSON *root, const cJSON *cfg) {
    AfBytes tmp = {0};
    const cJSON *e, *list = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    int rc = 0;
    if (list && !cJSON_IsArray(list)) return FMT("added_tokens: expected an array");
    size_t k = 0;
    cJSON_ArrayForEach(e, list) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "content");
        uint32_t id = 0;
        if (!cJSON_IsString(c)) { rc = FMT("added_tokens[%zu]: missing \"content\"", k); break; }
        if ((rc = json_id(cJSON_GetObjectItemCaseSensitive(e, "id"), "added_tokens[].id", &id))) break;
        if (id + 1 > b->n_syms) b->n_syms = id + 1;
        rc = add_added(b, c->valuestring, id, json_bool(e, "special", 0), json_bool(e, "lstrip", 0), json_bool(e, "rstrip", 0), &tmp);
        if (rc) break;
        k++;
    }
    /* tokenizer_config.json added_tokens_decoder: {"151643": {"content": ..., "special": ...}} */
    const cJSON *dec = cJSON_GetObjectItemCaseSensitive(cfg, "added_tokens_decoder");
    cJSON_ArrayForEach(e, dec) {
        if (rc) break;
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "content");
        char *end = NULL;
        long id = strtol(e->string, &end, 10);
        if (!cJSON_IsString(c) || !end || *end || id < 0 || id > 0x7ffffffe) {
            rc = af_error_set(AF_EFORMAT, "tokenizer_config.json: added_tokens_decoder \"%.40s\": expected an id and a content", e->string);
            break;
        }
        if ((uint32_t)id + 1 > b->n_syms) b->n_syms = (uint32_t)id + 1;
        rc = add_added(b, c->valuestring, (uint32_t)id, json_bool(e, "special", 0), json_bool(e, "lstrip", 0), json_bool(e, "rstrip", 0), &tmp);
    }
    af_bytes_free(&tmp);
    return rc;
}

static int load_model(AfBpe *b, const cJSON *root, const cJSON *cfg) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsObject(model)) return FMT("missing \"model\"");
    const char *type = json_type(model);
    if (type ? strcmp(type, "BPE") != 0 : !cJSON_GetObjectItemCaseSensitive(model, "merges"))
        return CFG("model type \"%s\" is not supported (supported: BPE)", type ? type : "(none)");
    if (json_bool(model, "byte_fallback", 0)) return CFG("model.byte_fallback is not supported (byte-level BPE only)");
    const char *strs[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(model, strs[i]);
        if (cJSON_IsString(v) && v->valuestring[0]) return CFG("model.%s \"%s\" is not supported", strs[i], v->valuestring);
    }
    const cJSON *drop = cJSON_GetObjectItemCaseSensitive(model, "dropout");
    if (cJSON_IsNumber(drop) && drop->valuedouble != 0) return CFG("model.dropout %g is not supported", drop->valuedouble);
    b->ignore_merges = json_bool(model, "ignore_merges", 0);
    int rc = load_vocab(b, cJSON_GetObjectItemCaseSensitive(model, "vocab"));
    if (!rc) rc = load_added(b, root, cfg);
    if (rc) return rc;
    b->vocab_size = b->n_syms;
    if (b->vocab_size == 0) return FMT("model.vocab is empty");
    if ((rc = syms_reserve(b, b->vocab_size))) return rc;
    b->special = calloc(b->vocab_size, 1);
    if (!b->special) return af_error_set(AF_ENOMEM, "tokenizer: out of memory");
    for (size_t k = 0; k < b->n_added; k++) b->special[b->added[k].id] = (unsigned char)b->added[k].special;
    for (int c = 0; c < 256; c++) {
        char ch = (char)c;
        if ((rc = sym_intern(b, &ch, 1, &b->byte_sym[c]))) return rc;
    }
    if ((rc = load_merges(b, cJSON_GetObjectItemCaseSensitive(model, "merges")))) return rc;
    b->unk_id = -1;
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
    if (cJSON_IsString(unk)) {
        uint32_t id = 0;
        if (bpe_token_id(b, unk->valuestring, strlen(unk->valuestring), &id) == 0) b->unk_id = id;
        else af_error_clear();
    }
    return 0;
}

int af_tokenizer_load_json(const char *tokenizer_json, size_t len, const char *config_json,
                           const char *generation_json, AfTokenizer **out) {
    *out = NULL;
    bytelevel_init();
    cJSON *root = cJSON_ParseWithLength(tokenizer_json, len), *cfg = NULL, *gen = NULL;
    AfBpe *b = NULL;
    int rc = 0;
    uint32_t eos_buf[MAX_EOS];
    AfTokenizerSpecials sp;
    if (!root || !cJSON_IsObject(root)) { rc = FMT("not a JSON object"); goto fail; }
    if (config_json && !(cfg = cJSON_Parse(config_json))) { rc = af_error_set(AF_EFORMAT, "tokenizer_config.json: not valid JSON"); goto fail; }
    if (generation_json && !(gen = cJSON_Parse(generation_json))) { rc = af_error_set(AF_EFORMAT, "generation_config.json: not valid JSON"); goto fail; }
    b = calloc(1, sizeof *b);
    if (!b) { rc = af_error_set(AF_ENOMEM, "tokenizer: out of memory"); goto fail; }
    b->cache = calloc(CACHE_SLOTS, sizeof *b->cache);
    if (!b->cache) { rc = af_error_set(AF_ENOMEM, "tokenizer: out of memory"); goto fail; }
    if ((rc = load_model(b, root, cfg))) goto fail;
    if ((rc = load_normalizer(b, cJSON_GetObjectItemCaseSensitive(root, "normalizer")))) goto fail;
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    if (pre && !cJSON_IsNull(pre) && (rc = load_pretok(b, pre))) goto fail;
    if (!b->n_steps || b->steps[b->n_steps - 1].kind != STEP_BYTELEVEL) {
        rc = CFG("pre_tokenizer has no ByteLevel step (only byte-level BPE is supported)");
        goto fail;
    }
    const cJSON *dec = cJSON_GetObjectItemCaseSensitive(root, "decoder");
    const char *dtype = json_type(dec);
    if (!dtype || strcmp(dtype, "ByteLevel") != 0) {
        rc = CFG("decoder type \"%s\" is not supported (supported: ByteLevel)", dtype ? dtype : "(none)");
        goto fail;
    }
    if ((rc = load_specials(b, root, cfg, gen, &sp, eos_buf))) goto fail;
    cJSON_Delete(root);
    cJSON_Delete(cfg);
    cJSON_Delete(gen);
    return af_tokenizer_wrap(&kBpeOps, b, b->vocab_size, &sp, out);
fail:
    bpe_destroy(b);
    cJSON_Delete(root);
    cJSON_Delete(cfg);
    cJSON_Delete(gen);
    return rc;
}

#define MAX_TOKENIZER_JSON ((size_t)1 << 30)

static int read_optional(const char *dir, const char *name, char **out) {
    char path[4096];
    size_t len;
    *out = NULL;
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return af_error_set(AF_EINVAL, "tokenizer: directory path too long");
    int rc = af_read_file(path, MAX_TOKENIZER_JSON, out, &len);
    if (rc == AF_ENOTFOUND) { af_error_clear(); return 0; }
    return rc;
}

int af_tokenizer_load(const char *dir, AfTokenizer **out) {
    char path[4096], *tj = NULL, *cj = NULL, *gj = NULL;
    size_t len;
    *out = NULL;
    if ((size_t)snprintf(path, sizeof path, "%s/tokenizer.json", dir) >= sizeof path)
        return af_error_set(AF_EINVAL, "tokenizer: directory path too long");
    int rc = af_read_file(path, MAX_TOKENIZER_JSON, &tj, &len);
    if (rc) return rc; /* the detail names the path */
    rc = read_optional(dir, "tokenizer_config.json", &cj);
    if (!rc) rc = read_optional(dir, "generation_config.json", &gj);
    if (!rc) {
        rc = af_tokenizer_load_json(tj, len, cj, gj, out);
        if (rc) af_error_wrap(rc, "%s", dir);
    }
    free(tj);
    free(cj);
    free(gj);
    return rc;
}
