/* The planner's tokenizer: one fixed vocabulary shared by every suite.
 *
 * Token ids are part of the trajectory and checkpoint formats, so the table is fixed:
 *   0 <pad>   1 <bos>   2 <eos> (ends an action)   3 <unk> (any byte not below; decodes to "?")
 *   4 '\n'
 *   5..99     printable ASCII 32 (' ') .. 126 ('~'): id = byte - 27
 *   100..     multi-character pieces: tool names, prompt markers, relation words and
 *             frequent phrases, listed in env/vocab.c (kPieces) in id order.
 * New pieces may only be appended (AF_VOCAB_VERSION is bumped when they are); ids never
 * move. af_vocab_size() is below 200.
 *
 * encode() is greedy longest match from left to right over the pieces, falling back to
 * one byte per token, so any byte string encodes; decode(encode(t)) == t for any text
 * of printable ASCII and '\n'. A planner may emit any id sequence (e.g. the characters
 * "c","a","l","c",...), decode() concatenates piece texts and never re-tokenizes. */
#ifndef AF_ENV_VOCAB_H
#define AF_ENV_VOCAB_H

#include <stddef.h>
#include <stdint.h>

#define AF_TOK_PAD 0u
#define AF_TOK_BOS 1u
#define AF_TOK_EOS 2u
#define AF_TOK_UNK 3u
#define AF_VOCAB_VERSION 1

typedef struct AfVocab AfVocab;

/* The shared vocabulary (static; never freed). */
const AfVocab *af_vocab_default(void);

/* Number of token ids (ids are 0..size-1). */
uint32_t af_vocab_size(const AfVocab *v);

/* Text of one token ("" for pad/bos/eos, "?" for unk), or NULL if id >= size. Static. */
const char *af_vocab_piece(const AfVocab *v, uint32_t id);

/* Encodes text (NUL-terminated) into ids[0..*n). Writes at most cap ids; *n is set to
 * the full count needed even when it exceeds cap, in which case AF_ERANGE is returned
 * (ids holds the first cap). No BOS/EOS are added. Returns 0 or AF_ERANGE. No malloc. */
int af_vocab_encode(const AfVocab *v, const char *text, uint32_t *ids, size_t cap, size_t *n);

/* Same, into a malloc'd array the caller frees. Returns 0 or AF_ENOMEM. */
int af_vocab_encode_alloc(const AfVocab *v, const char *text, uint32_t **ids, size_t *n);

/* Decodes ids into a malloc'd NUL-terminated string (caller frees): specials give
 * nothing, unk gives "?". Returns 0, AF_EINVAL if an id is >= size (named in the
 * detail), or AF_ENOMEM. */
int af_vocab_decode(const AfVocab *v, const uint32_t *ids, size_t n, char **text);

#endif
