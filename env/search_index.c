/* The BM25 index of a corpus in LMDB and the `search` tool (see search_index.h). */
#include "env/search_index.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lmdb.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/checksum.h"
#include "common/error.h"
#include "common/fsutil.h"
#include "env/dataset.h"

#define STAMP_VERSION 1
#define PATH_CAP 4096

struct AfSearchIndex {
    MDB_env *env;
    MDB_dbi dbi;
    uint32_t n_docs;
    uint32_t *lens; /* (n_docs) terms per document */
    double avgdl;
};

/* out = dir/name (truncated paths never reach here: af_search_index_open checks dir's length) */
static void join(char *out, const char *dir, const char *name) {
    if (snprintf(out, PATH_CAP, "%s/%s", dir, name) >= PATH_CAP) out[0] = '\0';
}

/* ------------------------------------------------------------------ tokens */

static int term_byte(unsigned char c) { return isalnum(c) || c >= 0x80; }

void af_search_tokenize(const char *text, void (*fn)(const char *term, size_t len, void *ctx), void *ctx) {
    char buf[AF_SEARCH_TERM_MAX];
    const unsigned char *p = (const unsigned char *)text;
    while (*p) {
        while (*p && !term_byte(*p)) p++;
        size_t n = 0;
        while (*p && term_byte(*p)) {
            if (n < sizeof buf) buf[n++] = (char)(*p < 0x80 ? tolower(*p) : *p);
            p++;
        }
        if (n) fn(buf, n, ctx);
    }
}

/* ------------------------------------------------------------------ files */

typedef struct {
    uint64_t size, mtime_ns, hash;
} FileStamp;

static int file_stamp(const char *path, FileStamp *st) {
    struct stat sb;
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    if (fstat(fileno(f), &sb)) {
        fclose(f);
        return -1;
    }
    st->size = (uint64_t)sb.st_size;
    st->mtime_ns = (uint64_t)sb.st_mtim.tv_sec * 1000000000ull + (uint64_t)sb.st_mtim.tv_nsec;
    AfChecksum64State cs;
    af_checksum64_reset(&cs, 0);
    char buf[1 << 16];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0) af_checksum64_update(&cs, buf, got);
    int bad = ferror(f);
    fclose(f);
    st->hash = af_checksum64_digest(&cs);
    return bad ? -1 : 0;
}

/* 1 when dir's index.stamp matches the corpus and data.mdb. */
static int stamp_ok(const char *dir, const FileStamp *corpus) {
    char path[PATH_CAP], *text = NULL;
    size_t len;
    join(path, dir, "index.stamp");
    if (af_read_file(path, 4096, &text, &len)) {
        af_error_clear();
        return 0;
    }
    unsigned v = 0;
    uint64_t size, mtime, hash, dbhash;
    int ok = sscanf(text, "afbm25 %u %" SCNu64 " %" SCNu64 " %" SCNx64 " %" SCNx64, &v, &size, &mtime, &hash, &dbhash) == 5 &&
             v == STAMP_VERSION && size == corpus->size && mtime == corpus->mtime_ns && hash == corpus->hash;
    free(text);
    if (!ok) return 0;
    FileStamp db;
    join(path, dir, "data.mdb");
    return file_stamp(path, &db) == 0 && db.hash == dbhash;
}

/* ------------------------------------------------------------------ build */

typedef struct {
    char *term;
    uint32_t *post; /* (doc, tf) pairs */
    size_t n, cap;   /* pairs */
} Term;

typedef struct {
    Term *slots;
    size_t cap, n;
    uint32_t doc;
    uint32_t len; /* terms of the current document */
    int oom;
} TermMap;

static uint64_t fnv(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static int map_grow(TermMap *m) {
    size_t cap = m->cap ? m->cap * 2 : 1024;
    Term *slots = calloc(cap, sizeof *slots);
    if (!slots) return -1;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].term) continue;
        size_t j = fnv(m->slots[i].term, strlen(m->slots[i].term)) & (cap - 1);
        while (slots[j].term) j = (j + 1) & (cap - 1);
        slots[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return 0;
}

static void add_term(const char *t, size_t n, void *ctx) {
    TermMap *m = ctx;
    if (m->oom) return;
    m->len++;
    if (2 * (m->n + 1) > m->cap && map_grow(m)) {
        m->oom = 1;
        return;
    }
    size_t j = fnv(t, n) & (m->cap - 1);
    while (m->slots[j].term && !(strlen(m->slots[j].term) == n && !memcmp(m->slots[j].term, t, n))) j = (j + 1) & (m->cap - 1);
    Term *e = &m->slots[j];
    if (!e->term) {
        if (!(e->term = strndup(t, n))) {
            m->oom = 1;
            return;
        }
        m->n++;
    }
    if (e->n && e->post[2 * (e->n - 1)] == m->doc) {
        e->post[2 * (e->n - 1) + 1]++;
        return;
    }
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 4;
        uint32_t *p = realloc(e->post, cap * 2 * sizeof *p);
        if (!p) {
            m->oom = 1;
            return;
        }
        e->post = p;
        e->cap = cap;
    }
    e->post[2 * e->n] = m->doc;
    e->post[2 * e->n + 1] = 1;
    e->n++;
}

static void map_free(TermMap *m) {
    for (size_t i = 0; i < m->cap; i++) {
        free(m->slots[i].term);
        free(m->slots[i].post);
    }
    free(m->slots);
}

static size_t map_bytes(uint64_t corpus_size) {
    uint64_t b = ((uint64_t)64 << 20) + 16 * corpus_size;
    return (size_t)((b + 4095) & ~(uint64_t)4095);
}

static void remove_index(const char *dir) {
    static const char *const files[] = {"index.stamp", "data.mdb", "lock.mdb"};
    char p[PATH_CAP];
    for (size_t i = 0; i < 3; i++) {
        join(p, dir, files[i]);
        unlink(p);
    }
}

static int put(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kn, const void *v, size_t vn) {
    MDB_val key = {kn, (void *)k}, val = {vn, (void *)v};
    return mdb_put(txn, dbi, &key, &val, 0);
}

static void be32(uint32_t x, unsigned char *o) {
    o[0] = (unsigned char)(x >> 24), o[1] = (unsigned char)(x >> 16), o[2] = (unsigned char)(x >> 8), o[3] = (unsigned char)x;
}

typedef struct {
    const char *corpus, *dir;
    MDB_txn *txn;
    MDB_dbi dbi;
    TermMap m;
    uint32_t *lens; /* (n_lens) */
    size_t n_lens, cap_lens;
    char *val;
} Build;

static int lmdb_err(const Build *b, int mrc) {
    return af_error_set(AF_ELMDB, "search index %s: %s", b->dir, mdb_strerror(mrc));
}

static int build_doc(void *ctx, const cJSON *obj, size_t lineno, char *why, size_t cap) {
    (void)lineno;
    Build *b = ctx;
    char num[64];
    static const char *const names[3] = {"id", "title", "text"};
    const char *fld[3];
    for (int i = 0; i < 3; i++) {
        cJSON *f = cJSON_GetObjectItemCaseSensitive(obj, names[i]);
        fld[i] = cJSON_IsString(f) ? f->valuestring : NULL;
        if (i == 0 && cJSON_IsNumber(f) && isfinite(f->valuedouble)) {
            af_json_number_text(f->valuedouble, num, sizeof num);
            fld[i] = num;
        }
        if (!fld[i])
            return snprintf(why, cap, "field \"%s\": %s", names[i],
                            !f ? "missing" : i ? "expected a string" : "expected a string or a number"), 1;
    }
    size_t idl = strlen(fld[0]), tl = strlen(fld[1]), xl = strlen(fld[2]);
    if (!idl) return snprintf(why, cap, "field \"id\": empty"), 1;
    if (idl > 400) return snprintf(why, cap, "field \"id\": longer than 400 bytes"), 1;
    if (b->n_lens == UINT32_MAX - 1) return snprintf(why, cap, "too many documents"), 1;
    /* "I" + id -> the document's number: ids are distinct */
    unsigned char dk[5];
    dk[0] = 'D';
    be32((uint32_t)b->n_lens, dk + 1);
    char ik[402];
    ik[0] = 'I';
    memcpy(ik + 1, fld[0], idl);
    MDB_val key = {idl + 1, ik}, dv = {4, dk + 1};
    int mrc = mdb_put(b->txn, b->dbi, &key, &dv, MDB_NOOVERWRITE);
    if (mrc == MDB_KEYEXIST) return snprintf(why, cap, "field \"id\": \"%.100s\" again (ids must be distinct)", fld[0]), 1;
    if (mrc) return lmdb_err(b, mrc);
    char *v = realloc(b->val, idl + tl + xl + 3);
    if (!v) return af_error_set(AF_ENOMEM, "search index");
    b->val = v;
    memcpy(v, fld[0], idl + 1);
    memcpy(v + idl + 1, fld[1], tl + 1);
    memcpy(v + idl + tl + 2, fld[2], xl + 1);
    if ((mrc = put(b->txn, b->dbi, dk, 5, v, idl + tl + xl + 3))) return lmdb_err(b, mrc);
    b->m.doc = (uint32_t)b->n_lens;
    b->m.len = 0;
    af_search_tokenize(fld[1], add_term, &b->m);
    af_search_tokenize(fld[2], add_term, &b->m);
    if (b->m.oom) return af_error_set(AF_ENOMEM, "search index");
    if (b->n_lens == b->cap_lens) {
        size_t c = b->cap_lens ? b->cap_lens * 2 : 256;
        uint32_t *l = realloc(b->lens, c * sizeof *l);
        if (!l) return af_error_set(AF_ENOMEM, "search index");
        b->lens = l;
        b->cap_lens = c;
    }
    b->lens[b->n_lens++] = b->m.len;
    return 0;
}

/* Parses the corpus and writes a fresh index into dir (the caller holds the lock). */
static int build(const char *corpus, const char *dir, const FileStamp *cst) {
    int rc = 0, mrc = 0;
    Build b = {.corpus = corpus, .dir = dir};
    MDB_env *env = NULL;
    char path[PATH_CAP];
    remove_index(dir);
    if ((mrc = mdb_env_create(&env)) || (mrc = mdb_env_set_mapsize(env, map_bytes(cst->size))) ||
        (mrc = mdb_env_open(env, dir, MDB_NOSYNC | MDB_NOTLS, 0644)) || (mrc = mdb_txn_begin(env, NULL, 0, &b.txn)) ||
        (mrc = mdb_dbi_open(b.txn, NULL, 0, &b.dbi)))
        goto lmdb_fail;
    if ((rc = af_jsonl_foreach(corpus, build_doc, &b, NULL))) goto done;
    if (!b.n_lens) {
        rc = af_error_set(AF_EINVAL, "%s: no documents", corpus);
        goto done;
    }
    for (size_t i = 0; i < b.m.cap; i++) {
        Term *e = &b.m.slots[i];
        if (!e->term) continue;
        char tk[AF_SEARCH_TERM_MAX + 1];
        size_t tn = strlen(e->term);
        tk[0] = 'T';
        memcpy(tk + 1, e->term, tn);
        for (size_t j = 0; j < 2 * e->n; j++) e->post[j] = htole32(e->post[j]);
        if ((mrc = put(b.txn, b.dbi, tk, tn + 1, e->post, e->n * 2 * sizeof(uint32_t)))) goto lmdb_fail;
    }
    for (size_t i = 0; i < b.n_lens; i++) b.lens[i] = htole32(b.lens[i]);
    if ((mrc = put(b.txn, b.dbi, "L", 1, b.lens, b.n_lens * sizeof *b.lens))) goto lmdb_fail;
    mrc = mdb_txn_commit(b.txn);
    b.txn = NULL;
    if (mrc || (mrc = mdb_env_sync(env, 1))) goto lmdb_fail;
    mdb_env_close(env);
    env = NULL;
    FileStamp db;
    join(path, dir, "data.mdb");
    if (file_stamp(path, &db)) {
        rc = af_error_set(AF_EIO, "%s: cannot read back", path);
        goto done;
    }
    char stamp[200];
    int sl = snprintf(stamp, sizeof stamp, "afbm25 %d %" PRIu64 " %" PRIu64 " %016" PRIx64 " %016" PRIx64 "\n", STAMP_VERSION,
                      cst->size, cst->mtime_ns, cst->hash, db.hash);
    join(path, dir, "index.stamp");
    rc = af_write_file_atomic(path, stamp, (size_t)sl);
    goto done;
lmdb_fail:
    rc = af_error_set(AF_ELMDB, "search index %s: %s", dir, mdb_strerror(mrc));
done:
    if (b.txn) mdb_txn_abort(b.txn);
    if (env) mdb_env_close(env);
    if (rc) remove_index(dir);
    map_free(&b.m);
    free(b.lens);
    free(b.val);
    return rc;
}

/* ------------------------------------------------------------------ open */

static int open_read(const char *dir, uint64_t corpus_size, AfSearchIndex *ix) {
    int mrc;
    MDB_txn *txn = NULL;
    if ((mrc = mdb_env_create(&ix->env)) || (mrc = mdb_env_set_mapsize(ix->env, map_bytes(corpus_size))) ||
        (mrc = mdb_env_open(ix->env, dir, MDB_RDONLY | MDB_NOLOCK | MDB_NOTLS, 0644)) ||
        (mrc = mdb_txn_begin(ix->env, NULL, MDB_RDONLY, &txn)) || (mrc = mdb_dbi_open(txn, NULL, 0, &ix->dbi)))
        goto fail;
    MDB_val k = {1, "L"}, v;
    if ((mrc = mdb_get(txn, ix->dbi, &k, &v))) goto fail;
    if (v.mv_size % 4 || v.mv_size == 0) {
        mrc = MDB_CORRUPTED;
        goto fail;
    }
    ix->n_docs = (uint32_t)(v.mv_size / 4);
    if (!(ix->lens = malloc(v.mv_size))) {
        mdb_txn_abort(txn);
        return af_error_set(AF_ENOMEM, "search index");
    }
    memcpy(ix->lens, v.mv_data, v.mv_size);
    double total = 0;
    for (uint32_t i = 0; i < ix->n_docs; i++) total += (ix->lens[i] = le32toh(ix->lens[i]));
    ix->avgdl = total / ix->n_docs;
    mdb_txn_abort(txn);
    return 0;
fail:
    if (txn) mdb_txn_abort(txn);
    return af_error_set(AF_ELMDB, "search index %s: %s", dir, mdb_strerror(mrc));
}

int af_search_index_open(const char *corpus, const char *index_dir, AfSearchIndex **out, int *rebuilt) {
    char dir[PATH_CAP], path[PATH_CAP];
    int rc, lock = -1;
    *out = NULL;
    if (rebuilt) *rebuilt = 0;
    int dl = index_dir && index_dir[0] ? snprintf(dir, sizeof dir, "%s", index_dir) : snprintf(dir, sizeof dir, "%s.index", corpus);
    if (dl < 0 || dl >= PATH_CAP - 32) return af_error_set(AF_EINVAL, "search index directory of %s: path too long", corpus);
    FileStamp cst;
    if (file_stamp(corpus, &cst)) return af_error_set(AF_EIO, "%s: cannot read: %s", corpus, strerror(errno));
    if ((rc = af_mkdir_p(dir))) return af_error_wrap(AF_EIO, "search index directory %s", dir);
    join(path, dir, "index.lock");
    lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock < 0) return af_error_set(AF_EIO, "%s: %s", path, strerror(errno));
    while (flock(lock, LOCK_EX) && errno == EINTR) {}
    AfSearchIndex *ix = calloc(1, sizeof *ix);
    if (!ix) {
        rc = af_error_set(AF_ENOMEM, "search index");
        goto fail;
    }
    if (!stamp_ok(dir, &cst)) {
        if ((rc = build(corpus, dir, &cst))) goto fail;
        if (rebuilt) *rebuilt = 1;
    }
    if ((rc = open_read(dir, cst.size, ix))) goto fail;
    close(lock);
    *out = ix;
    return 0;
fail:
    af_search_index_close(ix);
    close(lock);
    return rc;
}

void af_search_index_close(AfSearchIndex *ix) {
    if (!ix) return;
    if (ix->env) mdb_env_close(ix->env);
    free(ix->lens);
    free(ix);
}

uint32_t af_search_index_size(const AfSearchIndex *ix) { return ix->n_docs; }

/* ------------------------------------------------------------------ query */

typedef struct {
    char terms[32][AF_SEARCH_TERM_MAX + 1];
    int n;
} QueryTerms;

static void add_query_term(const char *t, size_t n, void *ctx) {
    QueryTerms *q = ctx;
    if (q->n == 32) return;
    for (int i = 0; i < q->n; i++)
        if (strlen(q->terms[i]) == n && !memcmp(q->terms[i], t, n)) return;
    memcpy(q->terms[q->n], t, n);
    q->terms[q->n++][n] = '\0';
}

int af_search_index_query(const AfSearchIndex *ix, const char *query, size_t k, AfSearchHit *hits, size_t *n) {
    *n = 0;
    QueryTerms q;
    q.n = 0;
    af_search_tokenize(query ? query : "", add_query_term, &q);
    if (!q.n || !k) return 0;
    double *score = calloc(ix->n_docs, sizeof *score);
    if (!score) return af_error_set(AF_ENOMEM, "search query");
    MDB_txn *txn;
    int mrc = mdb_txn_begin(ix->env, NULL, MDB_RDONLY, &txn);
    if (mrc) {
        free(score);
        return af_error_set(AF_ELMDB, "search index: %s", mdb_strerror(mrc));
    }
    const double N = ix->n_docs, k1 = AF_SEARCH_K1, b = AF_SEARCH_B;
    for (int t = 0; t < q.n; t++) {
        char key[AF_SEARCH_TERM_MAX + 1];
        size_t tl = strlen(q.terms[t]);
        key[0] = 'T';
        memcpy(key + 1, q.terms[t], tl);
        MDB_val kv = {tl + 1, key}, v;
        if (mdb_get(txn, ix->dbi, &kv, &v)) continue;
        size_t df = v.mv_size / 8;
        double idf = log(1.0 + (N - (double)df + 0.5) / ((double)df + 0.5));
        const unsigned char *p = v.mv_data;
        for (size_t i = 0; i < df; i++) {
            uint32_t d, tf;
            memcpy(&d, p + 8 * i, 4);
            memcpy(&tf, p + 8 * i + 4, 4);
            d = le32toh(d);
            tf = le32toh(tf);
            if (d >= ix->n_docs) continue;
            double dl = ix->lens[d];
            score[d] += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / ix->avgdl));
        }
    }
    mdb_txn_abort(txn);
    for (uint32_t d = 0; d < ix->n_docs; d++) {
        if (!(score[d] > 0)) continue;
        size_t pos = *n;
        while (pos > 0 && hits[pos - 1].score < score[d]) pos--;
        if (pos >= k) continue;
        size_t last = *n < k ? *n : k - 1;
        memmove(hits + pos + 1, hits + pos, (last - pos) * sizeof *hits);
        hits[pos] = (AfSearchHit){d, score[d]};
        if (*n < k) (*n)++;
    }
    free(score);
    return 0;
}

int af_search_index_doc(const AfSearchIndex *ix, uint32_t doc, char **id, char **title, char **text) {
    *id = *title = *text = NULL;
    unsigned char key[5];
    key[0] = 'D';
    be32(doc, key + 1);
    MDB_txn *txn;
    int mrc = mdb_txn_begin(ix->env, NULL, MDB_RDONLY, &txn);
    if (mrc) return af_error_set(AF_ELMDB, "search index: %s", mdb_strerror(mrc));
    MDB_val k = {5, key}, v;
    mrc = mdb_get(txn, ix->dbi, &k, &v);
    int rc = 0;
    if (mrc == MDB_NOTFOUND) rc = af_error_set(AF_ENOTFOUND, "search index: no document %u", doc);
    else if (mrc) rc = af_error_set(AF_ELMDB, "search index: %s", mdb_strerror(mrc));
    else {
        const char *p = v.mv_data, *e = p + v.mv_size;
        const char *f[3];
        for (int i = 0; i < 3; i++) {
            f[i] = p;
            const char *z = memchr(p, '\0', (size_t)(e - p));
            if (!z) {
                rc = af_error_set(AF_ELMDB, "search index: document %u is malformed", doc);
                break;
            }
            p = z + 1;
        }
        if (!rc) {
            *id = strdup(f[0]);
            *title = strdup(f[1]);
            *text = strdup(f[2]);
            if (!*id || !*title || !*text) {
                free(*id), free(*title), free(*text);
                *id = *title = *text = NULL;
                rc = af_error_set(AF_ENOMEM, "search document");
            }
        }
    }
    mdb_txn_abort(txn);
    return rc;
}

/* ------------------------------------------------------------------ tool */

typedef struct {
    AfSearchIndex *ix;
    size_t top_k, max_bytes;
} SearchTool;

static int search_call(AfTool *self, const char *arg, double timeout_s, AfToolResult *out) {
    (void)timeout_s; /* a few B-tree lookups */
    SearchTool *st = self->ctx;
    int any = 0;
    for (const char *p = arg ? arg : ""; *p && !any; p++) any = term_byte((unsigned char)*p);
    if (!any) return af_tool_result_set(out, AF_TOOL_ERROR, "error: empty query");
    AfSearchHit hits[100];
    size_t n = 0, k = st->top_k < 100 ? st->top_k : 100;
    int rc = af_search_index_query(st->ix, arg, k, hits, &n);
    if (rc == AF_ENOMEM) return rc;
    if (rc) return af_tool_result_set(out, AF_TOOL_INFRA_ERROR, "search index unavailable");
    if (!n) return af_tool_result_set(out, AF_TOOL_OK, "no results");
    size_t cap = st->max_bytes + 1, len = 0;
    char *buf = malloc(cap);
    if (!buf) return af_error_set(AF_ENOMEM, "search result");
    buf[0] = '\0';
    for (size_t i = 0; i < n && len < st->max_bytes; i++) {
        char *id, *title, *text;
        if ((rc = af_search_index_doc(st->ix, hits[i].doc, &id, &title, &text))) {
            free(buf);
            if (rc == AF_ENOMEM) return rc;
            return af_tool_result_set(out, AF_TOOL_INFRA_ERROR, "search index unavailable");
        }
        int w = snprintf(buf + len, cap - len, "%s[%zu] %s: %s", i ? "\n" : "", i + 1, title, text);
        len = w < 0 ? len : len + (size_t)w < cap ? len + (size_t)w : cap - 1;
        free(id), free(title), free(text);
    }
    /* never end inside a UTF-8 sequence */
    len = strlen(buf);
    while (len > 0 && ((unsigned char)buf[len - 1] & 0x80)) { /* drop a cut multi-byte tail */
        size_t s = len - 1;
        while (s > 0 && ((unsigned char)buf[s] & 0xC0) == 0x80) s--;
        unsigned char lead = (unsigned char)buf[s];
        size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
        if (len - s >= need) break;
        buf[len = s] = '\0';
    }
    out->status = AF_TOOL_OK;
    out->text = buf;
    out->len = len;
    return 0;
}

static void search_destroy(AfTool *self) {
    SearchTool *st = self->ctx;
    if (st) af_search_index_close(st->ix);
    free(st);
    self->ctx = NULL;
}

int af_search_tool_create(AfSearchIndex *ix, size_t top_k, size_t max_bytes, AfTool **out) {
    AfTool *t = calloc(1, sizeof *t);
    SearchTool *st = calloc(1, sizeof *st);
    if (!t || !st) {
        free(t);
        free(st);
        return af_error_set(AF_ENOMEM, "search tool");
    }
    st->ix = ix;
    st->top_k = top_k ? top_k : 1;
    st->max_bytes = max_bytes ? max_bytes : 1;
    t->name = "search";
    t->description = "the passages of the corpus that best match a query: search <words>";
    t->example = "capital";
    t->call = search_call;
    t->destroy = search_destroy;
    t->ctx = st;
    *out = t;
    return 0;
}
