/* Hugging Face tokenizer.json byte-level BPE: the implementation behind
 * af_tokenizer_load() and af_tokenizer_load_json() (declared in common/tokenizer.h).
 * What is supported and how it matches the reference: docs/tokenizers.md. */
#ifndef AF_COMMON_TOKENIZER_BPE_H
#define AF_COMMON_TOKENIZER_BPE_H

#include "common/tokenizer.h"

#endif
