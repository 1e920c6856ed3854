/* Text hygiene for everything a run records or prints: valid UTF-8 (trajectory strings
 * are protobuf `string` fields and `rollout --json` prints them as JSON, both of which
 * must be UTF-8) and secrets scrubbed from text that came back from a server. */
#ifndef AF_COMMON_TEXT_H
#define AF_COMMON_TEXT_H

#include <stddef.h>

/* 1 if s[0..n) is well-formed UTF-8 (Unicode 15, table 3-7: no overlong forms, no
 * surrogates, nothing above U+10FFFF), else 0. */
int af_utf8_valid(const char *s, size_t n);

/* A malloc'd copy of the NUL-terminated s in which every ill-formed sequence is replaced
 * by U+FFFD (EF BF BD), one per maximal subpart (the Unicode-recommended practice that
 * Python's errors="replace" and WHATWG decoders follow); well-formed text is copied
 * unchanged. NULL only when out of memory. */
char *af_utf8_clean_dup(const char *s);

/* A malloc'd copy of s with every occurrence of `secret` replaced by "[redacted]"
 * (secret NULL or "": a plain copy). NULL only when out of memory. */
char *af_redact_dup(const char *s, const char *secret);

#endif
