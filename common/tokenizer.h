/* Tokenizers behind one interface: text bytes <-> token ids.
 *
 * Two implementations:
 *   - Hugging Face tokenizer.json byte-level BPE (GPT-2, Qwen2/2.5/3, Llama-3 families),
 *     af_tokenizer_load() on a model directory (common/tokenizer_json.c loads it,
 *     common/tokenizer_bpe.c encodes);
 *   - the project's fixed 158-token vocabulary (env/vocab.c), af_vocab_tokenizer_create()
 *     in env/vocab_tokenizer.h, giving exactly the ids af_vocab_encode() gives.
 *
 * Text is bytes and any byte string encodes: a BPE tokenizer first replaces
 * each ill-formed UTF-8 subsequence by U+FFFD (the "maximal subpart" rule of Unicode
 * chapter 3 and the WHATWG decoder, which is what a JavaScript or Python reference sees
 * after decoding the bytes to a string); docs/tokenizers.md states the rule. No special
 * tokens are added by encode(); the text of an added/special token inside the input maps
 * to its id. Decoding concatenates the bytes of each token (a byte-level token may hold
 * part of a UTF-8 character); AfTokenStream releases only whole characters.
 *
 * Threads: an AfTokenizer holds scratch space and a word cache, so encode() must not run
 * on one AfTokenizer from two threads at once; the read-only calls may. */
#ifndef AF_COMMON_TOKENIZER_H
#define AF_COMMON_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

/* A growable array of token ids. Zero-initialise; encode() appends, so setting n = 0
 * reuses the storage (no malloc once it is large enough). af_token_ids_free() releases. */
typedef struct AfTokenIds {
    uint32_t *ids; /* (n,) */
    size_t n;      /* elements in use */
    size_t cap;    /* elements allocated */
} AfTokenIds;

/* A growable byte string, NUL-terminated after data[len] whenever len > 0 or data != NULL.
 * Zero-initialise; functions append. af_bytes_free() releases. */
typedef struct AfBytes {
    char *data;
    size_t len; /* bytes in use, excluding the NUL */
    size_t cap; /* bytes allocated */
} AfBytes;

void af_token_ids_free(AfTokenIds *a);
int af_token_ids_push(AfTokenIds *a, uint32_t id);          /* 0 or AF_ENOMEM */
void af_bytes_free(AfBytes *b);
int af_bytes_append(AfBytes *b, const void *data, size_t n); /* 0 or AF_ENOMEM */

/* What an implementation provides (used by af_tokenizer_wrap; callers use the
 * af_tokenizer_* functions below). `impl` is the implementation's state. */
typedef struct AfTokenizerOps {
    const char *kind; /* "bpe", "fixed" */
    int (*encode)(void *impl, const char *text, size_t len, int flags, AfTokenIds *out);
    /* raw bytes of one token, or NULL if id is not a token; *len set */
    const char *(*token_bytes)(const void *impl, uint32_t id, size_t *len);
    /* id of the token whose raw bytes are text[0..len), or AF_ENOTFOUND */
    int (*token_id)(const void *impl, const char *text, size_t len, uint32_t *id);
    int (*is_special)(const void *impl, uint32_t id);
    void (*destroy)(void *impl);
} AfTokenizerOps;

/* Ids a tokenizer defines through its files; -1 where a file names none. */
typedef struct AfTokenizerSpecials {
    int64_t bos_id;      /* tokenizer_config bos_token */
    int64_t eos_id;      /* tokenizer_config eos_token */
    int64_t pad_id;      /* tokenizer_config pad_token */
    int64_t unk_id;      /* tokenizer_config unk_token, else model.unk_token */
    int add_bos;         /* tokenizer_config add_bos_token, else 1 when tokenizer.json's
                            post_processor template starts with the bos token, else 0 */
    int add_eos;         /* tokenizer_config add_eos_token, else 0 */
    int clean_up_spaces; /* tokenizer_config clean_up_tokenization_spaces, else 1 (as the
                            reference): whether a text decode applies af_tokenizer_clean_up */
    uint32_t *eos_ids;   /* (n_eos,) every end-of-sequence id: eos_token, then the ids of
                            generation_config.json eos_token_id (int or list), deduplicated */
    size_t n_eos;
} AfTokenizerSpecials;

typedef struct AfTokenizer AfTokenizer;

/* Load a Hugging Face tokenizer from a model directory: DIR/tokenizer.json (required),
 * DIR/tokenizer_config.json and DIR/generation_config.json (optional). Nothing else is
 * read and nothing is fetched. Returns 0, AF_ENOTFOUND (no tokenizer.json), AF_EIO,
 * AF_EFORMAT (not JSON, or a field of the wrong shape, named in the detail), AF_ECONFIG
 * (a model, normalizer, pre-tokenizer or decoder type that is not supported, named),
 * AF_ENOMEM. The detail names the file. */
int af_tokenizer_load(const char *dir, AfTokenizer **out);

/* Same from memory: tokenizer.json text (required), tokenizer_config.json and
 * generation_config.json texts (NULL if absent). */
int af_tokenizer_load_json(const char *tokenizer_json, size_t len, const char *config_json,
                           const char *generation_json, AfTokenizer **out);

/* Wrap an implementation (takes ownership of impl: ops->destroy runs on failure and in
 * af_tokenizer_destroy). vocab_size is max id + 1. specials is copied (eos_ids too). */
int af_tokenizer_wrap(const AfTokenizerOps *ops, void *impl, uint32_t vocab_size,
                      const AfTokenizerSpecials *specials, AfTokenizer **out);

void af_tokenizer_destroy(AfTokenizer *t); /* NULL is fine */

const char *af_tokenizer_kind(const AfTokenizer *t);
/* Number of ids: every id is < this (some ids below it may be unused). */
uint32_t af_tokenizer_vocab_size(const AfTokenizer *t);
const AfTokenizerSpecials *af_tokenizer_specials(const AfTokenizer *t);

/* Append the ids of text[0..len) to out (no BOS/EOS added). Returns 0, AF_ENOMEM, or
 * AF_EFORMAT if a piece has no token and the vocabulary has no unk token. */
int af_tokenizer_encode(AfTokenizer *t, const char *text, size_t len, AfTokenIds *out);

/* Flags of af_tokenizer_encode_flags. AF_ENCODE_ORDINARY: the text of added and special
 * tokens is encoded as ordinary text (never as their ids), as Hugging Face's
 * split_special_tokens=True or tiktoken's encode_ordinary: for text that must not be
 * able to open or close a chat turn (a tool's output, a user's message). The fixed
 * vocabulary has no added tokens and ignores it. */
enum { AF_ENCODE_ORDINARY = 1 };
int af_tokenizer_encode_flags(AfTokenizer *t, const char *text, size_t len, int flags, AfTokenIds *out);

/* Append the bytes of ids[0..n) to out. Returns 0, AF_EINVAL naming the first id that is
 * not a token (out unchanged), or AF_ENOMEM. The bytes need not be valid UTF-8: see
 * af_utf8_sanitize() for the lossy form a JSON or JavaScript consumer sees. */
int af_tokenizer_decode(const AfTokenizer *t, const uint32_t *ids, size_t n, AfBytes *out);

/* The reference's clean_up_tokenization on decoded text: " ." " ?" " !" " ," lose the
 * space, " ' " becomes "'", and " n't" " 'm" " 's" " 've" " 're" lose the space, in that
 * order, each over the whole text. Appends the result to out. 0 or AF_ENOMEM. */
int af_tokenizer_clean_up(const char *text, size_t len, AfBytes *out);

/* Raw bytes of one token (valid while t lives), or NULL if id is not a token. */
const char *af_tokenizer_token_bytes(const AfTokenizer *t, uint32_t id, size_t *len);
/* Id of the token whose raw bytes are text[0..len) (e.g. "<|im_end|>"), 0 or AF_ENOTFOUND. */
int af_tokenizer_token_id(const AfTokenizer *t, const char *text, size_t len, uint32_t *id);
/* 1 if id is a special token (tokenizer.json added_tokens "special": true), else 0. */
int af_tokenizer_is_special(const AfTokenizer *t, uint32_t id);
/* 1 if id is one of specials->eos_ids. */
int af_tokenizer_is_eos(const AfTokenizer *t, uint32_t id);

/* Streaming decode: feed ids one at a time, get bytes that end on a UTF-8 character
 * boundary. A trailing sequence that may still become a character (at most 3 bytes) is
 * held back; bytes that can never be valid are released as they are, so the
 * concatenation of every push and the final finish equals af_tokenizer_decode() of all
 * ids. Zero-initialise; af_token_stream_free() releases. */
typedef struct AfTokenStream {
    unsigned char held[4];
    size_t n_held;
} AfTokenStream;

/* Append to out the bytes that become complete with id. 0, AF_EINVAL (not a token), AF_ENOMEM. */
int af_token_stream_push(const AfTokenizer *t, AfTokenStream *s, uint32_t id, AfBytes *out);
/* Append whatever is held (an incomplete character at the end) and reset. 0 or AF_ENOMEM. */
int af_token_stream_finish(AfTokenStream *s, AfBytes *out);

/* UTF-8 helpers (common/tokenizer.c). */
/* Length of the well-formed UTF-8 prefix of s[0..len). */
size_t af_utf8_valid_prefix(const char *s, size_t len);
/* The code point at s[0..len) and its length in bytes (1..4), or 0 if the bytes there
 * are not a well-formed sequence (or len is 0). */
size_t af_utf8_decode(const char *s, size_t len, uint32_t *cp);
/* Append the UTF-8 encoding of code point cp (< 0x110000) to out. 0 or AF_ENOMEM. */
int af_utf8_append(AfBytes *out, uint32_t cp);
/* Append s[0..len) to out with each maximal ill-formed subsequence replaced by U+FFFD
 * (EF BF BD), the rule of Unicode 15 section 3.9 (U+FFFD substitution of maximal
 * subparts), WHATWG's TextDecoder, Python's errors="replace" and Rust's from_utf8_lossy. */
int af_utf8_sanitize(const char *s, size_t len, AfBytes *out);

/* One JSON string (the whole of s[0..len), surrounding spaces allowed) -> its bytes,
 * appended to out. Bytes other than '"', '\' and controls are copied as they are, so
 * invalid UTF-8 inside the quotes passes through (encode() then applies the U+FFFD rule);
 * a \u escape of a lone surrogate becomes U+FFFD, which is what JavaScript's TextEncoder
 * makes of it. Returns NULL on success or a static description of the problem. */
const char *af_json_string_unescape(const char *s, size_t len, AfBytes *out);

#endif
