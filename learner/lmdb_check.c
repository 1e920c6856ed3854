/* Structural check and salvage of an LMDB data file with pread(2) only, so that damaged
 * bytes never reach liblmdb (learner/lmdb_check.h has the list of checks). */
#include "learner/lmdb_check.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__ || UINTPTR_MAX != UINT64_MAX
#error "lmdb_check reads liblmdb's 64-bit little-endian page format"
#endif

/* liblmdb 0.9 on-disk layout (mdb.c, MDB_DEVEL off) */
#define PAGEHDRSZ 16u        /* pgno u64, pad u16, flags u16, lower u16, upper u16 (or pages u32) */
#define NODESIZE 8u          /* lo u16, hi u16, flags u16, ksize u16 */
#define P_BRANCH 0x01
#define P_LEAF 0x02
#define P_OVERFLOW 0x04
#define P_META 0x08
#define F_BIGDATA 0x01
#define MDB_MAGIC_V 0xBEEFC0DEu
#define MDB_DATA_VERSION_V 1u
#define INTEGERKEY 0x08
#define P_INVALID UINT64_MAX
#define MAX_DEPTH 32
#define MAX_KEY 511          /* MDB_MAXKEYSIZE */
#define META_BYTES (PAGEHDRSZ + 152u)
/* offsets inside a meta page */
#define M_MAGIC 16
#define M_VERSION 20
#define M_DBS 40             /* MDB_db[2] of 48 bytes: FREE_DBI then MAIN_DBI */
#define M_LAST_PG 136
#define M_TXNID 144
#define FREE_DBI 0
#define MAIN_DBI 1

static uint16_t rd16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}
static uint32_t rd32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static uint64_t rd64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

typedef struct Db {
    uint32_t pad;
    uint16_t flags, depth;
    uint64_t branch, leaf, overflow, entries, root;
} Db;

typedef struct Meta {
    int ok;                  /* header readable: P_META, magic, version, page size */
    char why[160];
    uint32_t psize;
    Db db[2];
    uint64_t last_pg, txnid;
} Meta;

typedef struct Walker {
    const char *path;
    int fd;
    uint64_t file_pages;     /* whole pages in the file */
    uint32_t psize;
    uint64_t last_pg;        /* pages 0..last_pg are in use */
    uint8_t *seen;           /* (last_pg + 1) use marks */
    uint8_t *bufs;           /* (MAX_DEPTH + 2) * psize: one page per tree level + overflow header */
    uint32_t *spans;         /* (psize) scratch: node offset/end pairs of one page */
    uint8_t *val;            /* value bytes read from overflow pages */
    size_t val_cap;
    int salvage, dbi, depth;
    uint64_t n_branch, n_leaf, n_overflow, n_entries, pages_read;
    AfLmdbSalvageFn fn;
    void *ctx;
    int cb_rc;
    uint64_t pairs, bad;
    char msg[512];
} Walker;

static int damage(Walker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int damage(Walker *w, const char *fmt, ...) {
    w->bad++;
    if (!w->msg[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->msg, sizeof w->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static void parse_db(const uint8_t *p, Db *d) {
    d->pad = rd32(p);
    d->flags = rd16(p + 4);
    d->depth = rd16(p + 6);
    d->branch = rd64(p + 8);
    d->leaf = rd64(p + 16);
    d->overflow = rd64(p + 24);
    d->entries = rd64(p + 32);
    d->root = rd64(p + 40);
}

/* Read and check the header of meta page `i` (psize: where page 1 starts). */
static void read_meta(int fd, uint64_t file_size, int i, uint32_t psize, Meta *m) {
    uint8_t b[META_BYTES];
    memset(m, 0, sizeof *m);
    off_t off = (off_t)i * psize;
    if ((uint64_t)off + META_BYTES > file_size || pread(fd, b, META_BYTES, off) != (ssize_t)META_BYTES) {
        snprintf(m->why, sizeof m->why, "meta page %d: beyond the end of the file", i);
        return;
    }
    uint16_t flags = rd16(b + 10);
    m->psize = rd32(b + M_DBS);
    parse_db(b + M_DBS, &m->db[FREE_DBI]);
    parse_db(b + M_DBS + 48, &m->db[MAIN_DBI]);
    m->last_pg = rd64(b + M_LAST_PG);
    m->txnid = rd64(b + M_TXNID);
    if (rd64(b) != (uint64_t)i || !(flags & P_META))
        snprintf(m->why, sizeof m->why, "meta page %d: not a meta page (header page %" PRIu64 ", flags 0x%x)", i,
                 rd64(b), flags);
    else if (rd32(b + M_MAGIC) != MDB_MAGIC_V)
        snprintf(m->why, sizeof m->why, "meta page %d: bad magic 0x%08x", i, rd32(b + M_MAGIC));
    else if (rd32(b + M_VERSION) != MDB_DATA_VERSION_V)
        snprintf(m->why, sizeof m->why, "meta page %d: data version %u", i, rd32(b + M_VERSION));
    else if (m->psize < 512 || m->psize > 65536 || (m->psize & (m->psize - 1)))
        snprintf(m->why, sizeof m->why, "meta page %d: page size %u", i, m->psize);
    else
        m->ok = 1;
}

static int read_metas(int fd, uint64_t file_size, Meta m[2]) {
    read_meta(fd, file_size, 0, 0, &m[0]);
    /* LMDB finds meta page 1 with the page size meta page 0 states */
    uint32_t ps = m[0].ok ? m[0].psize : (uint32_t)sysconf(_SC_PAGESIZE);
    read_meta(fd, file_size, 1, ps, &m[1]);
    if (m[1].ok && m[1].psize != ps) {
        m[1].ok = 0;
        snprintf(m[1].why, sizeof m[1].why, "meta page 1: page size %u, meta page 0 says %u", m[1].psize, ps);
    }
    return 0;
}

static int read_page(Walker *w, uint64_t pgno, uint8_t *buf, const char *what) {
    if (pgno < 2 || pgno > w->last_pg)
        return damage(w, "%s: %s page %" PRIu64 " outside the pages in use (2..%" PRIu64 ")", w->path, what, pgno,
                      w->last_pg);
    if (pgno >= w->file_pages)
        return damage(w, "%s: %s page %" PRIu64 " beyond the end of the file (%" PRIu64 " pages)", w->path, what, pgno,
                      w->file_pages);
    w->pages_read++;
    if (pread(w->fd, buf, w->psize, (off_t)(pgno * w->psize)) != (ssize_t)w->psize)
        return damage(w, "%s: page %" PRIu64 ": short read", w->path, pgno);
    return 0;
}

static int mark(Walker *w, uint64_t pgno, const char *what) {
    if (pgno > w->last_pg || pgno < 2)
        return damage(w, "%s: %s page %" PRIu64 " outside the pages in use (2..%" PRIu64 ")", w->path, what, pgno,
                      w->last_pg);
    if (w->seen[pgno]) return damage(w, "%s: page %" PRIu64 " used twice (%s)", w->path, pgno, what);
    w->seen[pgno] = 1;
    return 0;
}

/* LMDB's key order: memcmp then length (main database); native u64 (free database). */
static int key_cmp(const Walker *w, const uint8_t *a, size_t al, const uint8_t *b, size_t bl) {
    if (w->dbi == FREE_DBI && al == 8 && bl == 8) {
        uint64_t x = rd64(a), y = rd64(b);
        return x < y ? -1 : x > y;
    }
    size_t n = al < bl ? al : bl;
    int c = memcmp(a, b, n);
    if (c) return c;
    return al < bl ? -1 : al > bl;
}

/* The value of a leaf node on overflow pages: check their header, mark them, and read
 * the bytes into w->val when `need` (free list, salvage). */
static int overflow_value(Walker *w, uint64_t leaf, const uint8_t *node, int need, const uint8_t **val, size_t *len) {
    uint64_t opg = rd64(node + NODESIZE + rd16(node + 6));
    uint64_t dsize = (uint64_t)rd16(node) | (uint64_t)rd16(node + 2) << 16;
    uint8_t *hdr = w->bufs + (size_t)(MAX_DEPTH + 1) * w->psize;
    if (read_page(w, opg, hdr, "overflow")) return -1;
    uint64_t pages = (PAGEHDRSZ - 1 + dsize) / w->psize + 1;
    if (rd64(hdr) != opg || rd16(hdr + 10) != P_OVERFLOW || rd32(hdr + 12) != pages)
        return damage(w, "%s: page %" PRIu64 ": value on overflow page %" PRIu64 " (%" PRIu64
                      " bytes): header says page %" PRIu64 ", flags 0x%x, %u pages",
                      w->path, leaf, opg, dsize, rd64(hdr), rd16(hdr + 10), rd32(hdr + 12));
    if (pages > w->last_pg || opg + pages - 1 > w->last_pg || opg + pages > w->file_pages)
        return damage(w, "%s: page %" PRIu64 ": overflow pages %" PRIu64 "..%" PRIu64 " beyond the pages in use",
                      w->path, leaf, opg, opg + pages - 1);
    for (uint64_t p = opg; p < opg + pages; p++)
        if (mark(w, p, "overflow")) return -1;
    w->n_overflow += pages;
    if (!need) return 0;
    if (dsize > w->val_cap) {
        uint8_t *nv = realloc(w->val, dsize);
        if (!nv) return af_error_set(AF_ENOMEM, "%s: out of memory reading a %" PRIu64 "-byte value", w->path, dsize);
        w->val = nv;
        w->val_cap = dsize;
    }
    if (dsize && pread(w->fd, w->val, dsize, (off_t)(opg * w->psize + PAGEHDRSZ)) != (ssize_t)dsize)
        return damage(w, "%s: overflow page %" PRIu64 ": short read", w->path, opg);
    *val = w->val;
    *len = dsize;
    return 0;
}

/* A free-list record: count, then that many page numbers (u64 each). */
static int free_record(Walker *w, uint64_t leaf, const uint8_t *v, size_t len) {
    if (len < 8 || len % 8 || rd64(v) != len / 8 - 1)
        return damage(w, "%s: page %" PRIu64 ": free-list record of %zu bytes says %" PRIu64 " pages", w->path, leaf,
                      len, len >= 8 ? rd64(v) : 0);
    for (size_t i = 1; i < len / 8; i++)
        if (mark(w, rd64(v + 8 * i), "free list")) return -1;
    return 0;
}

static int cmp_span(const void *a, const void *b) {
    uint32_t x = ((const uint32_t *)a)[0], y = ((const uint32_t *)b)[0];
    return x < y ? -1 : x > y;
}

/* Check a branch or leaf page's header and node geometry; *n_out nodes. */
static int check_page(Walker *w, uint64_t pgno, const uint8_t *pg, int is_leaf, unsigned *n_out) {
    uint16_t lower = rd16(pg + 12), upper = rd16(pg + 14);
    if (lower < PAGEHDRSZ || (lower - PAGEHDRSZ) % 2 || upper < lower || upper > w->psize)
        return damage(w, "%s: page %" PRIu64 ": free-space bounds %u..%u", w->path, pgno, lower, upper);
    unsigned n = (lower - PAGEHDRSZ) / 2;
    if (n == 0) return damage(w, "%s: page %" PRIu64 ": no nodes", w->path, pgno);
    for (unsigned i = 0; i < n; i++) {
        uint32_t off = rd16(pg + PAGEHDRSZ + 2 * i);
        if (off < upper || off % 2 || off + NODESIZE > w->psize)
            return damage(w, "%s: page %" PRIu64 ": node %u at offset %u outside the node area %u..%u", w->path, pgno,
                          i, off, upper, w->psize);
        const uint8_t *nd = pg + off;
        uint16_t fl = rd16(nd + 4), ks = rd16(nd + 6);
        uint64_t sz = NODESIZE + (uint64_t)ks;
        if (is_leaf) {
            if (fl & ~F_BIGDATA) return damage(w, "%s: page %" PRIu64 ": node %u: flags 0x%x", w->path, pgno, i, fl);
            sz += fl & F_BIGDATA ? 8 : ((uint64_t)rd16(nd) | (uint64_t)rd16(nd + 2) << 16);
        }
        sz = (sz + 1) & ~(uint64_t)1;
        if (off + sz > w->psize)
            return damage(w, "%s: page %" PRIu64 ": node %u (%" PRIu64 " bytes at %u) overruns the page", w->path,
                          pgno, i, sz, off);
        int key_ok = w->dbi == FREE_DBI ? ks == 8 : (ks >= 1 && ks <= MAX_KEY);
        if (!key_ok && !(!is_leaf && i == 0 && ks <= MAX_KEY)) /* LMDB ignores a branch page's first key */
            return damage(w, "%s: page %" PRIu64 ": node %u: key of %u bytes", w->path, pgno, i, ks);
        w->spans[2 * i] = off;
        w->spans[2 * i + 1] = off + (uint32_t)sz;
    }
    /* LMDB keeps nodes packed from `upper` to the end of the page */
    qsort(w->spans, n, 2 * sizeof *w->spans, cmp_span);
    uint32_t at = upper;
    for (unsigned i = 0; i < n; i++) {
        if (w->spans[2 * i] != at)
            return damage(w, "%s: page %" PRIu64 ": nodes overlap or leave a gap at offset %u", w->path, pgno, at);
        at = w->spans[2 * i + 1];
    }
    if (at != w->psize)
        return damage(w, "%s: page %" PRIu64 ": nodes end at %u, not at the end of the page", w->path, pgno, at);
    *n_out = n;
    return 0;
}

static const uint8_t *node_key(const uint8_t *pg, unsigned i, size_t *len) {
    const uint8_t *nd = pg + rd16(pg + PAGEHDRSZ + 2 * i);
    *len = rd16(nd + 6);
    return nd + NODESIZE;
}

/* Walk the subtree at `pgno` (level 1 = root); its keys must lie in [lo, hi) (NULL: open). */
static int walk(Walker *w, uint64_t pgno, int level, const uint8_t *lo, size_t lol, const uint8_t *hi, size_t hil) {
    if (level > MAX_DEPTH || (!w->salvage && level > w->depth))
        return damage(w, "%s: page %" PRIu64 ": tree deeper than %d levels", w->path, pgno, w->salvage ? MAX_DEPTH : w->depth);
    uint8_t *pg = w->bufs + (size_t)level * w->psize;
    if (read_page(w, pgno, pg, "tree") || mark(w, pgno, "tree")) return -1;
    uint16_t flags = rd16(pg + 10);
    int is_leaf = w->salvage ? flags == P_LEAF : level == w->depth;
    if (rd64(pg) != pgno || flags != (is_leaf ? P_LEAF : P_BRANCH))
        return damage(w, "%s: page %" PRIu64 ": header says page %" PRIu64 " with flags 0x%x, expected a %s page",
                      w->path, pgno, rd64(pg), flags, is_leaf ? "leaf" : "branch");
    unsigned n = 0;
    if (check_page(w, pgno, pg, is_leaf, &n)) return -1;
    if (!w->salvage) { /* keys ascending and inside the parent's bounds */
        const uint8_t *prev = NULL;
        size_t prevl = 0;
        for (unsigned i = is_leaf ? 0 : 1; i < n; i++) {
            size_t kl;
            const uint8_t *k = node_key(pg, i, &kl);
            if ((prev && key_cmp(w, prev, prevl, k, kl) >= 0) || (lo && key_cmp(w, k, kl, lo, lol) < 0) ||
                (hi && key_cmp(w, k, kl, hi, hil) >= 0))
                return damage(w, "%s: page %" PRIu64 ": key of node %u out of order", w->path, pgno, i);
            prev = k;
            prevl = kl;
        }
    }
    if (is_leaf) w->n_leaf++;
    else w->n_branch++;
    int failed = 0;
    for (unsigned i = 0; i < n; i++) {
        const uint8_t *nd = pg + rd16(pg + PAGEHDRSZ + 2 * i);
        if (!is_leaf) {
            uint64_t child = (uint64_t)rd16(nd) | (uint64_t)rd16(nd + 2) << 16 | (uint64_t)rd16(nd + 4) << 32;
            size_t cl = 0, ch = hil;
            const uint8_t *clo = i == 0 ? lo : node_key(pg, i, &cl), *chi = i + 1 < n ? node_key(pg, i + 1, &ch) : hi;
            if (i == 0) cl = lol;
            int rc = walk(w, child, level + 1, clo, cl, chi, ch);
            if (rc == AF_ENOMEM || w->cb_rc) return rc;
            if (rc && !w->salvage) return rc;
            failed |= rc != 0;
            continue;
        }
        w->n_entries++;
        size_t kl;
        const uint8_t *k = node_key(pg, i, &kl);
        const uint8_t *v = k + kl;
        size_t vl = (size_t)rd16(nd) | (size_t)rd16(nd + 2) << 16;
        int need = w->dbi == FREE_DBI || w->salvage;
        if (rd16(nd + 4) & F_BIGDATA) {
            int rc = overflow_value(w, pgno, nd, need, &v, &vl);
            if (rc == AF_ENOMEM) return rc;
            if (rc) {
                if (!w->salvage) return rc;
                continue;
            }
        }
        if (w->dbi == FREE_DBI && free_record(w, pgno, v, vl) && !w->salvage) return -1;
        if (w->salvage && w->dbi == MAIN_DBI) {
            if ((w->cb_rc = w->fn(k, kl, v, vl, w->ctx))) return w->cb_rc;
            w->pairs++;
        }
    }
    return failed ? -1 : 0;
}

static int walker_init(Walker *w, const char *path, int fd, uint64_t file_size, uint32_t psize, uint64_t last_pg) {
    memset(w, 0, sizeof *w);
    w->path = path;
    w->fd = fd;
    w->psize = psize;
    w->file_pages = file_size / psize;
    w->last_pg = last_pg;
    w->seen = calloc(last_pg + 1, 1);
    w->bufs = malloc((size_t)(MAX_DEPTH + 2) * psize);
    w->spans = malloc((size_t)psize * sizeof *w->spans);
    if (!w->seen || !w->bufs || !w->spans) return af_error_set(AF_ENOMEM, "%s: out of memory", path);
    return 0;
}

static void walker_free(Walker *w) {
    free(w->seen);
    free(w->bufs);
    free(w->spans);
    free(w->val);
}

/* Walk one database of a snapshot strictly and compare with the meta's counts. */
static int check_db(Walker *w, const Db *d, int dbi) {
    static const char *const name[2] = {"free-page database", "main database"};
    w->dbi = dbi;
    w->depth = d->depth;
    w->n_branch = w->n_leaf = w->n_overflow = w->n_entries = 0;
    if (d->root == P_INVALID) {
        if (d->depth || d->branch || d->leaf || d->overflow || d->entries)
            return damage(w, "%s: %s: empty, yet the meta page counts %u levels, %" PRIu64 " entries", w->path,
                          name[dbi], d->depth, d->entries);
        return 0;
    }
    if (d->depth < 1 || d->depth > MAX_DEPTH)
        return damage(w, "%s: %s: depth %u", w->path, name[dbi], d->depth);
    int rc = walk(w, d->root, 1, NULL, 0, NULL, 0);
    if (rc) return rc;
    if (w->n_branch != d->branch || w->n_leaf != d->leaf || w->n_overflow != d->overflow || w->n_entries != d->entries)
        return damage(w,
                      "%s: %s: the tree has %" PRIu64 "/%" PRIu64 "/%" PRIu64 " branch/leaf/overflow pages and %" PRIu64
                      " entries, the meta page says %" PRIu64 "/%" PRIu64 "/%" PRIu64 " and %" PRIu64,
                      w->path, name[dbi], w->n_branch, w->n_leaf, w->n_overflow, w->n_entries, d->branch, d->leaf,
                      d->overflow, d->entries);
    return 0;
}

static int open_file(const char *path, int *fd, uint64_t *size) {
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0) return af_error_set(errno == ENOENT ? AF_ENOTFOUND : AF_EIO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(*fd, &st) != 0) {
        int e = errno;
        close(*fd);
        return af_error_set(AF_EIO, "%s: %s", path, strerror(e));
    }
    *size = (uint64_t)st.st_size;
    return 0;
}

int af_lmdb_check(const char *data_path, uint64_t txnid, AfLmdbCheck *r) {
    AfLmdbCheck local;
    if (!r) r = &local;
    memset(r, 0, sizeof *r);
    int fd;
    uint64_t fsize;
    int rc = open_file(data_path, &fd, &fsize);
    if (rc) return rc;
    Walker w;
    memset(&w, 0, sizeof w);
    w.path = data_path;
    Meta m[2];
    read_metas(fd, fsize, m);
    if (!m[0].ok || !m[1].ok) {
        damage(&w, "%s: %s", data_path, m[0].ok ? m[1].why : m[0].why);
        goto out;
    }
    /* txn T is written to meta page T & 1; the two differ by one (both 0 when new) */
    for (int i = 0; i < 2; i++)
        if (m[i].txnid != 0 && (m[i].txnid & 1) != (uint64_t)i) {
            damage(&w, "%s: meta page %d holds transaction %" PRIu64 " of the wrong parity", data_path, i, m[i].txnid);
            goto out;
        }
    uint64_t hi = m[0].txnid > m[1].txnid ? m[0].txnid : m[1].txnid, lo = m[0].txnid ^ m[1].txnid ^ hi;
    if (hi - lo > 1) {
        damage(&w, "%s: meta pages hold transactions %" PRIu64 " and %" PRIu64 ", not consecutive", data_path,
               m[0].txnid, m[1].txnid);
        goto out;
    }
    const Meta *mt = &m[m[0].txnid < m[1].txnid]; /* mdb_env_pick_meta */
    if (txnid != 0 && mt->txnid != txnid) {
        mt = m[0].txnid == txnid ? &m[0] : m[1].txnid == txnid ? &m[1] : NULL;
        if (!mt) {
            close(fd);
            return af_error_set(AF_ENOTFOUND, "%s: no meta page holds transaction %" PRIu64, data_path, txnid);
        }
    }
    r->txnid = mt->txnid;
    r->last_pgno = mt->last_pg;
    r->page_size = mt->psize;
    if (mt->last_pg < 1 || mt->last_pg > fsize / mt->psize || (mt->last_pg + 1) * mt->psize > fsize) {
        damage(&w, "%s is truncated (or its meta page damaged): %" PRIu64 " bytes, the last transaction uses pages 0..%" PRIu64
                   " of %u bytes",
               data_path, fsize, mt->last_pg, mt->psize);
        goto out;
    }
    if (mt->db[FREE_DBI].flags != INTEGERKEY || mt->db[MAIN_DBI].flags != 0) {
        damage(&w, "%s: meta page: database flags 0x%x/0x%x", data_path, mt->db[FREE_DBI].flags,
               mt->db[MAIN_DBI].flags);
        goto out;
    }
    if ((rc = walker_init(&w, data_path, fd, fsize, mt->psize, mt->last_pg))) goto out;
    if ((rc = check_db(&w, &mt->db[FREE_DBI], FREE_DBI)) == 0 && (rc = check_db(&w, &mt->db[MAIN_DBI], MAIN_DBI)) == 0)
        for (uint64_t p = 2; p <= mt->last_pg; p++)
            if (!w.seen[p]) {
                damage(&w, "%s: page %" PRIu64 " is in no tree and not free", data_path, p);
                break;
            }
    r->pages_read = w.pages_read;
out:
    close(fd);
    walker_free(&w);
    if (rc == AF_ENOMEM) return rc;
    if (w.bad) {
        snprintf(r->message, sizeof r->message, "%s", w.msg);
        return af_error_set(AF_EFORMAT, "%s", w.msg);
    }
    return 0;
}

int af_lmdb_salvage(const char *data_path, AfLmdbSalvageFn fn, void *ctx, AfLmdbSalvage *r) {
    AfLmdbSalvage local;
    if (!r) r = &local;
    memset(r, 0, sizeof *r);
    int fd;
    uint64_t fsize;
    int rc = open_file(data_path, &fd, &fsize);
    if (rc) return rc;
    Meta m[2];
    read_metas(fd, fsize, m);
    int order[2] = {m[0].txnid < m[1].txnid, m[0].txnid >= m[1].txnid};
    int any = 0;
    for (int j = 0; j < 2 && rc == 0; j++) {
        const Meta *mt = &m[order[j]];
        if (!mt->ok) {
            r->bad_pages++;
            if (!r->message[0]) snprintf(r->message, sizeof r->message, "%s: %s", data_path, mt->why);
            continue;
        }
        any = 1;
        const Db *d = &mt->db[MAIN_DBI];
        if (d->root == P_INVALID) continue;
        /* a damaged last_pg must not size the walk: the file bounds it */
        uint64_t last = mt->last_pg < fsize / mt->psize ? mt->last_pg : fsize / mt->psize;
        Walker w;
        if ((rc = walker_init(&w, data_path, fd, fsize, mt->psize, last))) {
            walker_free(&w);
            break;
        }
        w.salvage = 1;
        w.dbi = MAIN_DBI;
        w.fn = fn;
        w.ctx = ctx;
        int wrc = walk(&w, d->root, 1, NULL, 0, NULL, 0);
        if (wrc == AF_ENOMEM || w.cb_rc) rc = wrc;
        r->pairs += w.pairs;
        r->bad_pages += w.bad;
        if (w.msg[0] && !r->message[0]) snprintf(r->message, sizeof r->message, "%s", w.msg);
        walker_free(&w);
    }
    close(fd);
    if (rc) return rc;
    if (!any) return af_error_set(AF_EFORMAT, "%s: no readable meta page (%s)", data_path, r->message);
    return 0;
}
