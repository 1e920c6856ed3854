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

/* FL8: Fletcher-4 over eight interleaved lanes, the weight broadcast's checksum
 * (common/weights.h), made to be computed inside the copies the broadcast makes anyway
 * (as a network stack folds its checksum into the copy to user space), so that summing
 * costs no pass of its own over the buffer.
 *
 * Definition. The input is read as little-endian 32-bit words, the last one zero-padded
 * when the length is not a multiple of 4. Word k goes to lane i = k mod 8, whose four
 * 64-bit sums (all starting at 0, arithmetic mod 2^64) take it as
 *     a[i] += w;  b[i] += a[i];  c[i] += b[i];  d[i] += c[i]
 * (Fletcher-4 as ZFS uses it, per lane). The digest is XXH64 (seed 0) of the 264 bytes
 * a[0..7], b[0..7], c[0..7], d[0..7], total length in bytes, each as a little-endian
 * uint64. A changed word changes its lane's a; b, c and d weigh each word by its position
 * (so moved or swapped pieces are seen); the final XXH64 mixes the 33 values.
 * Vectorised in the dispatched kernels (common/kernels.h: AVX-512, AVX2, scalar); all
 * give the same value (tests/test_checksum.c checks them against the definition). */
typedef struct AfFl8State {
    uint64_t st[32];  /* a[8], b[8], c[8], d[8] */
    uint64_t total;   /* bytes consumed so far */
    uint8_t buf[32];  /* a partial block */
    uint32_t buf_len; /* bytes in buf, < 32 */
} AfFl8State;

void af_fl8_reset(AfFl8State *s);
/* Feed `bytes` bytes (any split of the input gives the same digest). */
void af_fl8_update(AfFl8State *s, const void *data, size_t bytes);
/* Copy `bytes` bytes from src to dst (not overlapping) and feed them, in one pass.
 * stream = 1 writes dst with non-temporal stores where it is aligned (for a destination
 * that is not read soon: it does not evict the cache), fenced before returning. */
void af_fl8_copy(AfFl8State *s, void *dst, const void *src, size_t bytes, int stream);
uint64_t af_fl8_digest(const AfFl8State *s);

#endif
