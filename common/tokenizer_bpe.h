/* Hugging Face tokenizer.json byte-level BPE: the state shared by the encoder
 * (common/tokenizer_bpe.c) and the loader (common/tokenizer_json.c). Internal to those
 * two files; everyone else uses common/tokenizer.h (af_tokenizer_load). What is supported
 * and how it matches the reference: docs/tokenizers.md. */
#ifndef AF_COMMON_TOKENIZER_BPE_H
#define AF_COMMON_TOKENIZER_BPE_H

#include <stdint.h>

#include "common/jsregex.h"
#include "common/tokenizer.h"
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

/* The byte-level alphabet (GPT-2's bytes_to_unicode). init is idempotent; decode turns a
 * byte-level string into raw bytes in out: 0, 1 if a character is outside the alphabet,
 * or AF_ENOMEM. */
void af_bpe_bytelevel_init(void);
int af_bpe_bytelevel_decode(const char *s, size_t len, AfBytes *out);

/* Symbols (tokens and merge intermediates) by bytes. find: the id or NO_ID. put: map the
 * bytes of symbol id to id (overwriting). set: give id the bytes s[0..n) (copied).
 * intern: the id of s[0..n), a new extra symbol (not a token) if none. reserve: room for
 * n symbols. Return 0 or AF_ENOMEM (AF_EFORMAT for a token too long). */
uint32_t af_bpe_map_find(const AfBpe *b, const char *s, size_t n);
int af_bpe_map_put(AfBpe *b, uint32_t id);
int af_bpe_sym_set(AfBpe *b, uint32_t id, const char *s, size_t n, int is_token);
int af_bpe_sym_intern(AfBpe *b, const char *s, size_t n, uint32_t *out);
int af_bpe_syms_reserve(AfBpe *b, uint32_t n);
/* Record merge (left, right) -> result with rank (a repeated pair keeps the later rank). */
int af_bpe_merges_put(AfBpe *b, uint32_t left, uint32_t right, uint32_t rank, uint32_t result);

/* The AfTokenizerOps of this implementation, and two of its members the loader uses. */
extern const AfTokenizerOps af_bpe_ops;
int af_bpe_token_id(const void *impl, const char *text, size_t len, uint32_t *id);
void af_bpe_destroy(void *impl);

#endif
