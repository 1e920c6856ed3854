/* JavaScript-compatible regular expressions on PCRE2, for tokenizer pre-tokenizers.
 *
 * tokenizer.json patterns are written for Rust's regex crate and run by the reference
 * (transformers.js, @lenml/tokenizers) as JavaScript RegExp with the "gu" flags after two
 * textual fix-ups. This module applies the same fix-ups, then translates the constructs
 * whose meaning differs between JavaScript and PCRE2 so that PCRE2 (UTF mode) matches
 * exactly what the reference matches:
 *   - fix-ups of transformers.js createPattern(): "\#", "\&", "\~" lose the backslash;
 *     "(?i:'s|'t|'re|'ve|'m|'ll|'d)" becomes "(?:'([sS]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD]))"
 *     (so "'ſ" with U+017F is not a contraction, unlike Unicode case folding);
 *   - \s and \S use JavaScript's white space set: U+0009-000D, U+0020, U+00A0, U+1680,
 *     U+2000-200A, U+2028, U+2029, U+202F, U+205F, U+3000 and U+FEFF (PCRE2's Unicode \s
 *     has U+0085 and lacks U+FEFF);
 *   - \d, \w and \b stay ASCII (PCRE2_UCP is not set, as in JavaScript's u mode);
 *   - "." excludes \n, \r, U+2028, U+2029; \uXXXX and \u{X} become \x{...};
 *     "$" matches only at the very end (PCRE2_DOLLAR_ENDONLY).
 *   - \p{L} and \p{N} (and \P) also match the letters and numbers that JavaScript's
 *     newer Unicode tables have beyond PCRE2 10.42's Unicode 14 (common/jsregex_unicode.h,
 *     generated from node by tests/hf/gen_js_unicode.py: Unicode 17, 13,916 letters and
 *     133 numbers more); other property classes use PCRE2's tables as they are.
 * \S, \D or \W inside a character class is refused. */
#ifndef AF_COMMON_JSREGEX_H
#define AF_COMMON_JSREGEX_H

#include <stddef.h>

typedef struct AfJsRegex AfJsRegex;

/* Compile a pattern (NUL-terminated). literal != 0: match the text itself (a "String"
 * pattern); literal == 2 also makes the whole match capture group 1, as transformers.js
 * does for a String pattern it splits on. Returns 0, AF_ECONFIG naming the pattern and
 * PCRE2's message, AF_ENOMEM. */
int af_jsregex_compile(const char *pattern, int literal, AfJsRegex **out);
void af_jsregex_destroy(AfJsRegex *re);

/* Find the next match in s[0..len) at or after byte offset `from`, like one step of
 * JavaScript's String.prototype.matchAll: s must be well-formed UTF-8. Returns 1 with
 * [*ms, *me) set, 0 if there is none, or a negative AF_E* on a matcher error (match
 * limit). Not thread-safe on one AfJsRegex (it owns its match data). */
int af_jsregex_next(AfJsRegex *re, const char *s, size_t len, size_t from, size_t *ms, size_t *me);

/* After af_jsregex_next returned 1: the number of capture groups of the pattern, and
 * whether group i (1-based) took part in the match, with its [*gs, *ge). */
int af_jsregex_groups(const AfJsRegex *re);
int af_jsregex_group(const AfJsRegex *re, int i, size_t *gs, size_t *ge);

#endif
