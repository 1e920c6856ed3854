/* A BM25 index of a user's corpus in LMDB, and the `search` tool over it (the task suite,
 * env/suite_task.h).
 *
 * ---- Corpus --------------------------------------------------------------------------
 * JSONL, one object per non-blank line: {"id": "...", "title": "...", "text": "..."}, each
 * a string ("id" also a number), ids distinct, other keys ignored; at least one document.
 * A bad line is an error naming file:line and the field (AF_EFORMAT).
 *
 * ---- Tokenisation (documents and queries alike) --------------------------------------
 * A term is a maximal run of ASCII letters and digits and bytes >= 0x80 (so UTF-8 words
 * stay whole), ASCII letters lower-cased, cut to its first AF_SEARCH_TERM_MAX bytes;
 * every other byte separates terms. No stemming, no stop words. A document's terms are
 * those of its title followed by those of its text.
 *
 * ---- Ranking --------------------------------------------------------------------------
 * Okapi BM25 with k1 = 1.2, b = 0.75 over the query's distinct terms:
 *   score(D, Q) = sum_t idf(t) * tf(t, D) * (k1 + 1) / (tf(t, D) + k1 * (1 - b + b * |D| / avgdl))
 *   idf(t) = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))
 * |D| = the document's terms, avgdl = their mean over the corpus, N = documents. Scores
 * are summed in double in the query's term order; ties go to the earlier document.
 * Documents scoring 0 (no query term) are never returned.
 *
 * ---- Index ----------------------------------------------------------------------------
 * A directory (index_dir, or "CORPUS.index" next to the corpus) holding an LMDB
 * environment (data.mdb: "D" + doc number -> id\0title\0text, "T" + term -> postings of
 * (doc, tf) as little-endian u32 pairs, "L" -> every document's length, "N" -> count) and
 * index.stamp, one line: format version, the corpus's size, mtime (ns) and XXH64, and the
 * XXH64 of data.mdb. The index is built once and reused while the stamp matches the
 * corpus (size, mtime and content hash) and data.mdb still hashes to the stamp's value;
 * otherwise (first use, a changed corpus, a missing, truncated or corrupted index) it is
 * rebuilt from the corpus. data.mdb is hashed before LMDB maps it, so a damaged index is
 * rebuilt, never read. Builders take an exclusive flock on index.lock, so the ranks of a
 * job that start together build it once. Do not change the corpus while a run uses it. */
#ifndef AF_ENV_SEARCH_INDEX_H
#define AF_ENV_SEARCH_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "env/tool.h"

#define AF_SEARCH_TERM_MAX 64
#define AF_SEARCH_K1 1.2
#define AF_SEARCH_B 0.75

typedef struct AfSearchIndex AfSearchIndex;

typedef struct AfSearchHit {
    uint32_t doc; /* document number: its line's rank among the corpus's documents, from 0 */
    double score;
} AfSearchHit;

/* Opens the index of `corpus` in index_dir (NULL or "": CORPUS.index), building or
 * rebuilding it as above; *rebuilt (may be NULL) says whether it was. Returns 0,
 * AF_EIO (the corpus or the directory cannot be read or written), AF_EFORMAT (a bad
 * corpus line: "path:line: ..."), AF_EINVAL (no documents), AF_ELMDB, AF_ENOMEM. */
int af_search_index_open(const char *corpus, const char *index_dir, AfSearchIndex **out, int *rebuilt);
void af_search_index_close(AfSearchIndex *ix); /* accepts NULL */

uint32_t af_search_index_size(const AfSearchIndex *ix); /* documents */

/* The best k documents for query, best first, into hits[0..*n) (*n <= k). Thread-safe.
 * Returns 0, AF_ELMDB or AF_ENOMEM. */
int af_search_index_query(const AfSearchIndex *ix, const char *query, size_t k, AfSearchHit *hits, size_t *n);

/* Document `doc`'s fields (malloc'd; the caller frees each). 0, AF_ENOTFOUND, AF_ELMDB,
 * AF_ENOMEM. */
int af_search_index_doc(const AfSearchIndex *ix, uint32_t doc, char **id, char **title, char **text);

/* Splits text into terms as above, calling fn(term, len, ctx) for each (len <= AF_SEARCH_TERM_MAX). */
void af_search_tokenize(const char *text, void (*fn)(const char *term, size_t len, void *ctx), void *ctx);

/* The `search` tool: call("QUERY") returns the top_k passages, each "[i] TITLE: TEXT" on its
 * own line, cut to max_bytes (status OK; "no results" when nothing matches; an empty query
 * is AF_TOOL_ERROR). The tool owns ix from a successful return. 0 or AF_ENOMEM. */
int af_search_tool_create(AfSearchIndex *ix, size_t top_k, size_t max_bytes, AfTool **out);

#endif
