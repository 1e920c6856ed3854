/* Structural check and salvage of an LMDB data file, done without LMDB (issue 20).
 *
 * LMDB has no page checksums and trusts every byte it maps: one flipped bit in a node
 * pointer of data.mdb is a segmentation fault inside liblmdb, and a flipped size can make
 * a later write fail with MDB_PAGE_FULL. The checkpoint store (learner/ckpt.h) therefore
 * reads the file with pread(2) first, never mapping it, and lets LMDB touch a snapshot
 * only after this module has checked every page LMDB can reach from it:
 *
 *   - both meta pages: P_META flag, magic 0xBEEFC0DE, data version 1, the same page size
 *     (a power of two, 512..65536), txnid parity (LMDB writes txn T to meta page T & 1,
 *     so meta i holds 0 or an id with parity i, and the two ids differ by at most 1);
 *   - the snapshot's two B-trees (the free-page database and the main database): each
 *     page's header (its own page number, P_BRANCH above the leaf level and P_LEAF at
 *     it, lower/upper bounds), every node inside the page, the nodes packed exactly
 *     between `upper` and the page end without overlap, only the F_BIGDATA node flag,
 *     keys strictly ascending and inside the bounds their parent branch keys set,
 *     overflow pages (header, page count matching the value size), and the page,
 *     entry and depth counts the meta page records;
 *   - page accounting: every page 2..last_pg is used exactly once, by a tree, an
 *     overflow value or the free list ("Each non-metapage up to mm_last_pg is reachable
 *     exactly once in the snapshot", liblmdb/mdb.c), and lies inside the file.
 *
 * Values are not checked here (their bytes cannot crash LMDB): the checkpoint store
 * checks them with its own XXH64 checksums. The format is liblmdb 0.9's on a 64-bit
 * little-endian host (MDB_DEVEL off), the one Debian's liblmdb0 writes.
 *
 * Salvage walks the same trees but skips what is damaged, handing every key/value pair
 * it can still read to a callback: the checkpoint store rebuilds a fresh store from
 * them after moving a damaged one aside. */
#ifndef AF_LEARNER_LMDB_CHECK_H
#define AF_LEARNER_LMDB_CHECK_H

#include <stddef.h>
#include <stdint.h>

/* What a check found. */
typedef struct AfLmdbCheck {
    uint64_t txnid;        /* snapshot checked */
    uint64_t last_pgno;    /* its last page in use */
    uint32_t page_size;
    uint64_t pages_read;   /* pages whose header was read */
    char message[512];     /* "" when the snapshot is sound, else the first problem */
} AfLmdbCheck;

/* Check snapshot `txnid` of the LMDB data file `data_path` (0: the newest, the one LMDB
 * would open). Reads only; safe while another process writes the store, provided the
 * caller holds a read transaction on `txnid` (otherwise pages may be reused under it).
 * `r` may be NULL. Returns 0 (sound); AF_EFORMAT (damaged: detail and r->message say
 * where, e.g. "data.mdb page 73: node 4 at offset 4100 outside the page"); AF_ENOTFOUND
 * (no meta page holds `txnid`: a writer committed twice since, retry); AF_EIO;
 * AF_ENOMEM. */
int af_lmdb_check(const char *data_path, uint64_t txnid, AfLmdbCheck *r);

/* Called once per key/value pair salvaged; the bytes are valid during the call only.
 * A non-zero return stops the salvage and is returned by af_lmdb_salvage. */
typedef int (*AfLmdbSalvageFn)(const void *key, size_t key_len, const void *val, size_t val_len, void *ctx);

typedef struct AfLmdbSalvage {
    uint64_t pairs;        /* pairs handed to the callback (over both snapshots) */
    uint64_t bad_pages;    /* pages (or values) skipped as damaged */
    char message[512];     /* the first damage met ("" if none) */
} AfLmdbSalvage;

/* Hand every readable key/value pair of the main database to `fn`: first from the
 * newest snapshot whose meta page is readable, then from the other one (LMDB keeps the
 * previous snapshot's pages until the next commit, so it fills in what a damaged page
 * of the newest hides; `fn` sees such a key twice and should keep the first). Damaged
 * pages, values past the end of the file and undecodable nodes are skipped and counted.
 * `r` may be NULL. Returns 0 (even if nothing was salvaged; see r->pairs); the callback's
 * non-zero return; AF_EFORMAT (no meta page readable: nothing to salvage); AF_EIO;
 * AF_ENOMEM. */
int af_lmdb_salvage(const char *data_path, AfLmdbSalvageFn fn, void *ctx, AfLmdbSalvage *r);

#endif
