/* XXH64 checksums of byte buffers (weights on the wire, checkpoint tensors).
 *
 * The algorithm is xxHash's XXH64 (Yann Collet's specification), implemented here with
 * no dependency; results equal the reference implementation's for every input and seed
 * (tests/test_checksum.c checks vectors produced by Debian's python3-xxhash). The value
 * of a buffer does not depend on the host: input words are read little-endian. */
#ifndef AF_COMMON_CHECKSUM_H
#define AF_COMMON_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/* XXH64 of `bytes` bytes at `data` with `seed`. `data` may be NULL when bytes == 0.
 * Never fails; no alignment requirement. */
uint64_t af_checksum64(const void *data, size_t bytes, uint64_t seed);

/* Streaming form: feeding a buffer in pieces of any sizes through update() gives the same
 * digest as one af_checksum64() call over the concatenation. The state is a plain value
 * (no allocation); digest() does not modify it, so more data may follow. */
typedef struct AfChecksum64State {
    uint64_t v[4];        /* the four lanes */
    uint64_t seed;
    uint64_t total;       /* bytes consumed so far */
    uint8_t buf[32];      /* partial stripe */
    uint32_t buf_len;     /* bytes in buf, < 32 */
} AfChecksum64State;

void af_checksum64_reset(AfChecksum64State *s, uint64_t seed);
void af_checksum64_update(AfChecksum64State *s, const void *data, size_t bytes);
uint64_t af_checksum64_digest(const AfChecksum64State *s);

#endif
