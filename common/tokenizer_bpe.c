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

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

/* ------------------------------------------------------------------ byte-level alphabet */

static uint32_t g_byte_cp[256];   /* byte -> code point of its byte-level character */
static int16_t g_cp_byte[512];    /* code point (< 512) -> byte, -1 if none */

static void bytelevel_build(void) {
    int n = 0;
    for (int i = 0; i < 512; i++) g_cp_byte[i] = -1;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        g_byte_cp[b] = printable ? (uint32_t)b : (uint32_t)(256 + n++);
    }
    for (int b = 0; b < 256; b++) g_cp_byte[g_byte_cp[b]] = (int16_t)b;
}

static pthread_once_t g_bytelevel_once = PTHREAD_ONCE_INIT;

void af_bpe_bytelevel_init(void) { pthread_once(&g_bytelevel_once, bytelevel_build); }

/* Undo the byte-level alphabet: UTF-8 string s -> raw bytes in out. 0, or 1 if a
 * character is outside the alphabet (out then holds garbage), or AF_ENOMEM. */
int af_bpe_bytelevel_decode(const char *s, size_t len, AfBytes *out) {
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

uint32_t af_bpe_map_find(const AfBpe *b, const char *s, size_t n) {
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
int af_bpe_map_put(AfBpe *b, uint32_t id) {
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

int af_bpe_syms_reserve(AfBpe *b, uint32_t n) {
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
int af_bpe_sym_set(AfBpe *b, uint32_t id, const char *s, size_t n, int is_token) {
    if (n >= NO_ID) return af_error_set(AF_EFORMAT, "token %u is too long", id);
    int rc = af_bpe_syms_reserve(b, id + 1);
    if (rc) return rc;
    b->sym_off[id] = b->arena.len;
    rc = af_bytes_append(&b->arena, s, n);
    if (rc) return rc;
    b->sym_len[id] = (uint32_t)n;
    b->is_token[id] = (unsigned char)is_token;
    return 0;
}

/* Symbol id of bytes s[0..n), creating an extra symbol (not a token) if needed. */
int af_bpe_sym_intern(AfBpe *b, const char *s, size_t n, uint32_t *out) {
    uint32_t id = af_bpe_map_find(b, s, n);
    if (id == NO_ID) {
        id = b->n_syms;
        int rc = af_bpe_sym_set(b, id, s, n, 0);
        if (!rc) { b->n_syms++; rc = af_bpe_map_put(b, id); }
        if (rc) return rc;
    }
    *out = id;
    return 0;
}

int af_bpe_merges_put(AfBpe *b, uint32_t left, uint32_t right, uint32_t rank, uint32_t result) {
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
        uint32_t id = af_bpe_map_find(b, w, n);
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

static int bpe_encode(void *impl, const char *text, size_t len, int flags, AfTokenIds *out) {
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
        const Added *a = b->n_added && !(flags & AF_ENCODE_ORDINARY) ? added_at(b, s, len, i) : NULL;
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

int af_bpe_token_id(const void *impl, const char *text, size_t len, uint32_t *id) {
    const AfBpe *b = impl;
    for (size_t k = 0; k < b->n_added; k++)
        if (b->added[k].len == len && memcmp(b->added[k].content, text, len) == 0) { *id = b->added[k].id; return 0; }
    uint32_t s = af_bpe_map_find(b, text, len);
    if (s == NO_ID || s >= b->vocab_size || !b->is_token[s])
        return af_error_set(AF_ENOTFOUND, "tokenizer: no token \"%.*s\"", (int)(len < 80 ? len : 80), text);
    *id = s;
    return 0;
}

static int bpe_is_special(const void *impl, uint32_t id) {
    const AfBpe *b = impl;
    return id < b->vocab_size && b->special[id];
}

void af_bpe_destroy(void *impl) {
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

const AfTokenizerOps af_bpe_ops = {"bpe", bpe_encode, bpe_token_bytes, af_bpe_token_id, bpe_is_special, af_bpe_destroy};
