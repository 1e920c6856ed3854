/* Unicode Normalization Form C, with the data of the tokenizer reference's JavaScript
 * engine (common/unicode_nfc_data.h, generated from node by tests/hf/gen_js_unicode.py:
 * Unicode 17), so that String.prototype.normalize("NFC") and this agree code point for
 * code point. The algorithm is UAX #15's: full canonical decomposition (Hangul
 * algorithmically), canonical ordering of combining marks, canonical composition. */
#ifndef AF_COMMON_UNICODE_NFC_H
#define AF_COMMON_UNICODE_NFC_H

#include <stddef.h>
#include <stdint.h>

#include "common/tokenizer.h"

/* 1 if NFC may change s[0..len) (well-formed UTF-8): some code point decomposes, is a
 * combining mark or can compose with what precedes it; 0 if NFC(s) == s for certain. */
int af_nfc_may_change(const char *s, size_t len);

/* Working space of af_nfc: zero-initialise, reuse across calls (it only grows), release
 * with af_nfc_scratch_free. */
typedef struct AfNfcScratch {
    uint32_t *cp;     /* (cap,) code points */
    unsigned char *cc; /* (cap,) their combining classes */
    size_t cap;       /* elements */
} AfNfcScratch;
void af_nfc_scratch_free(AfNfcScratch *s);

/* Append NFC(s[0..len)) (well-formed UTF-8) to out. scratch may be NULL (then it
 * allocates and frees its own). Returns 0 or AF_ENOMEM. */
int af_nfc(const char *s, size_t len, AfBytes *out, AfNfcScratch *scratch);

#endif
