/* The fixed vocabulary (env/vocab.h) behind the tokenizer interface (common/tokenizer.h):
 * encode and decode give exactly the ids and text of af_vocab_encode()/af_vocab_decode(). */
#ifndef AF_ENV_VOCAB_TOKENIZER_H
#define AF_ENV_VOCAB_TOKENIZER_H

#include "common/tokenizer.h"

/* The shared vocabulary as an AfTokenizer (bos 1, eos 2, pad 0, unk 3; add_bos 0; the
 * text is NUL-terminated for af_vocab_encode, so encode() stops at a NUL byte just as
 * af_vocab_encode does on a C string). Returns 0 or AF_ENOMEM. */
int af_vocab_tokenizer_create(AfTokenizer **out);

#endif
