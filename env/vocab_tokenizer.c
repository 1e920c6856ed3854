/* The fixed vocabulary behind the tokenizer interface (see vocab_tokenizer.h). */
#include "env/vocab_tokenizer.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "env/vocab.h"

typedef struct {
    const AfVocab *v;
    AfBytes text; /* NUL-terminated copy of the input */
} VocabImpl;

static int vt_encode(void *impl, const char *text, size_t len, int flags, AfTokenIds *out) {
    VocabImpl *vi = impl;
    (void)flags; /* no added tokens */
    size_t n = strnlen(text, len); /* af_vocab_encode reads a C string */
    vi->text.len = 0;
    int rc = af_bytes_append(&vi->text, text, n);
    if (rc) return rc;
    size_t need = 0;
    af_vocab_encode(vi->v, vi->text.data, NULL, 0, &need);
    while (out->cap < out->n + need) {
        size_t cap = out->cap ? out->cap * 2 : 64;
        uint32_t *p = realloc(out->ids, cap * sizeof *p);
        if (!p) return af_error_set(AF_ENOMEM, "token ids: %zu elements", cap);
        out->ids = p;
        out->cap = cap;
    }
    af_vocab_encode(vi->v, vi->text.data, out->ids + out->n, need, &need);
    out->n += need;
    return 0;
}

static const char *vt_token_bytes(const void *impl, uint32_t id, size_t *len) {
    const VocabImpl *vi = impl;
    const char *p = af_vocab_piece(vi->v, id);
    *len = p ? strlen(p) : 0;
    return p;
}

static int vt_token_id(const void *impl, const char *text, size_t len, uint32_t *id) {
    const VocabImpl *vi = impl;
    static const char *const names[] = {"<pad>", "<bos>", "<eos>", "<unk>"};
    for (uint32_t i = 0; i < 4; i++)
        if (strlen(names[i]) == len && memcmp(names[i], text, len) == 0) { *id = i; return 0; }
    for (uint32_t i = 4; i < af_vocab_size(vi->v); i++) {
        const char *p = af_vocab_piece(vi->v, i);
        if (strlen(p) == len && memcmp(p, text, len) == 0) { *id = i; return 0; }
    }
    return af_error_set(AF_ENOTFOUND, "vocabulary: no token \"%.*s\"", (int)(len < 80 ? len : 80), text);
}

static int vt_is_special(const void *impl, uint32_t id) {
    (void)impl;
    return id < 4;
}

static void vt_destroy(void *impl) {
    VocabImpl *vi = impl;
    if (!vi) return;
    af_bytes_free(&vi->text);
    free(vi);
}

static const AfTokenizerOps kVocabOps = {"fixed", vt_encode, vt_token_bytes, vt_token_id, vt_is_special, vt_destroy};

int af_vocab_tokenizer_create(AfTokenizer **out) {
    *out = NULL;
    VocabImpl *vi = calloc(1, sizeof *vi);
    if (!vi) return af_error_set(AF_ENOMEM, "vocabulary: out of memory");
    vi->v = af_vocab_default();
    uint32_t eos = AF_TOK_EOS;
    AfTokenizerSpecials sp = {.bos_id = AF_TOK_BOS, .eos_id = AF_TOK_EOS, .pad_id = AF_TOK_PAD, .unk_id = AF_TOK_UNK,
                              .add_bos = 0, .add_eos = 0, .eos_ids = &eos, .n_eos = 1};
    return af_tokenizer_wrap(&kVocabOps, vi, af_vocab_size(vi->v), &sp, out);
}
