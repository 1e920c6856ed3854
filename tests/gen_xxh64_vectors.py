#!/usr/bin/python3
"""Regenerates the XXH64 vectors of tests/test_checksum.c with an independent
implementation (Debian package python3-xxhash, the reference C library's binding)."""
import xxhash


def pattern(n):
    return bytes(((i * 131 + 7) ^ (i >> 8)) & 0xFF for i in range(n))


for n in [0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 255, 1000, 4099]:
    for seed in [0, 1, 0x9E3779B97F4A7C15]:
        print("    {%d, 0x%016xULL, 0x%016xULL}," % (n, seed, xxhash.xxh64(pattern(n), seed=seed).intdigest()))
