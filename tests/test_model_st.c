/* safetensors and model directories: round trip (bit-identical parameters and forward),
 * and every malformed case rejected with an error naming the tensor or field. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/model.h"
#include "common/safetensors.h"
#include "tests/model_testlib.h"
#include "tests/test_util.h"

static char g_dir[256];

static void write_bytes(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK(fwrite(p, 1, n, f) == n);
    fclose(f);
}

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*n + 1);
    if (fread(b, 1, *n, f) != *n) *n = 0;
    fclose(f);
    return b;
}

/* Write a safetensors file from a raw JSON header and `data_len` zero bytes. */
static void write_st(const char *path, const char *hdr, size_t data_len, long long hlen_override) {
    size_t h = strlen(hdr);
    unsigned long long hl = hlen_override >= 0 ? (unsigned long long)hlen_override : h;
    size_t n = 8 + h + data_len;
    unsigned char *b = calloc(1, n);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(hl >> (8 * i));
    memcpy(b + 8, hdr, h);
    write_bytes(path, b, n);
    free(b);
}

static void expect_st_error(const char *hdr, size_t data_len, long long hl, const char *needle) {
    char path[512];
    snprintf(path, sizeof path, "%s/bad.safetensors", g_dir);
    write_st(path, hdr, data_len, hl);
    AfSafetensors *st = NULL;
    int rc = af_safetensors_open(path, &st);
    CHECK_MSG(rc == AF_EFORMAT, "header %s: rc %d", hdr, rc);
    CHECK_STR_CONTAINS(af_error_detail(), needle);
    CHECK(st == NULL);
}

/* Load g_dir/<sub> expecting an error containing `needle`. */
static void expect_load_error(const char *sub, int code, const char *needle) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", g_dir, sub);
    AfModel *m = NULL;
    int rc = af_model_load_dir(dir, 0, 0, 0, &m);
    CHECK_MSG(rc == code, "%s: rc %d (%s), expected %d", sub, rc, af_error_detail(), code);
    CHECK_STR_CONTAINS(af_error_detail(), needle);
    CHECK(m == NULL);
}

static void copy_config(const char *from, const char *to) {
    char p[512];
    size_t n;
    snprintf(p, sizeof p, "%s/%s/config.json", g_dir, from);
    unsigned char *b = slurp(p, &n);
    snprintf(p, sizeof p, "%s/%s", g_dir, to);
    mkdir(p, 0777);
    snprintf(p, sizeof p, "%s/%s/config.json", g_dir, to);
    write_bytes(p, b, n);
    free(b);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/af_test_st_%d", (int)getpid());
    mkdir(g_dir, 0777);
    char dir[512], path[600];

    for (int variant = 0; variant < 2; variant++) {
        AfModelConfig c = tiny_config(variant ? 2 : 4, variant, variant);
        AfModel *m = NULL, *m2 = NULL;
        CHECK(af_model_create(&c, 32, 2, 0, &m) == 0);
        fill_params(m, 4 + variant, 0.3);
        snprintf(dir, sizeof dir, "%s/good%d", g_dir, variant);
        CHECK(af_model_save_dir(m, dir) == 0);
        CHECK(af_model_load_dir(dir, 32, 2, AF_MODEL_GRADS, &m2) == 0);
        if (m2) {
            CHECK(memcmp(&m->cfg, &m2->cfg, sizeof c) == 0);
            CHECK(m2->n_params == m->n_params);
            CHECK(memcmp(m->params, m2->params, m->n_params * sizeof(float)) == 0);
            CHECK(m2->grads != NULL);
            int32_t tok[20];
            fill_tokens(tok, 20, c.vocab_size, 1, 0);
            float a[20], b[20];
            int ss[2] = {0, 20};
            CHECK(af_model_forward(m, tok, ss, 1, 1.0f, a, NULL) == 0);
            CHECK(af_model_forward(m2, tok, ss, 1, 1.0f, b, NULL) == 0);
            CHECK(memcmp(a, b, sizeof a) == 0);
        }
        af_model_destroy(m2);
        af_model_destroy(m);
    }

    /* raw safetensors malformations */
    expect_st_error("{}", 0, 1000, "header length");
    expect_st_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]", 8, -1, "bad JSON");
    expect_st_error("{\"a\": {\"dtype\": \"I7\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 8, -1, "dtype");
    expect_st_error("{\"wq\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 8]}}", 8, -1, "wq");
    expect_st_error("{\"wq\": {\"dtype\": \"F32\", \"shape\": [2, -3], \"data_offsets\": [0, 24]}}", 24, -1, "shape");
    expect_st_error("{\"wq\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 4, -1, "truncated");
    expect_st_error("{\"wq\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8]}}", 8, -1, "data_offsets");
    expect_st_error("{\"wq\": {\"dtype\": \"F32\", \"shape\": [2]}}", 8, -1, "data_offsets");
    expect_st_error("{\"wq\": 5}", 8, -1, "wq");
    {
        snprintf(path, sizeof path, "%s/short.safetensors", g_dir);
        write_bytes(path, "abc", 3);
        AfSafetensors *st = NULL;
        CHECK(af_safetensors_open(path, &st) == AF_EFORMAT);
        CHECK_STR_CONTAINS(af_error_detail(), "too short");
        snprintf(path, sizeof path, "%s/nonexistent.safetensors", g_dir);
        CHECK(af_safetensors_open(path, &st) == AF_EIO);
    }
    /* a truncated real file */
    {
        size_t n;
        snprintf(path, sizeof path, "%s/good0/model.safetensors", g_dir);
        unsigned char *b = slurp(path, &n);
        copy_config("good0", "trunc");
        snprintf(path, sizeof path, "%s/trunc/model.safetensors", g_dir);
        write_bytes(path, b, n - 10);
        free(b);
        expect_load_error("trunc", AF_EFORMAT, "lm_head.weight"); /* the last tensor */
        expect_load_error("trunc", AF_EFORMAT, "truncated");
    }
    /* missing tensor, wrong shape, unexpected tensor: model-level checks */
    {
        AfModelConfig c = tiny_config(4, 0, 0);
        AfModel *m = NULL;
        CHECK(af_model_create(&c, 0, 0, 0, &m) == 0);
        const char *names[64];
        int nd[64];
        int64_t sh[64][2];
        const float *data[64];
        int n = 0;
        for (int i = 0; i < m->n_tensors; i++) {
            if (strcmp(m->tensors[i].name, "model.layers.1.mlp.up_proj.weight") == 0) continue;
            names[n] = m->tensors[i].name;
            nd[n] = m->tensors[i].ndim;
            sh[n][0] = m->tensors[i].shape[0];
            sh[n][1] = m->tensors[i].shape[1];
            data[n++] = m->params + m->tensors[i].offset;
        }
        copy_config("good0", "missing");
        snprintf(path, sizeof path, "%s/missing/model.safetensors", g_dir);
        CHECK(af_safetensors_write(path, n, names, nd, (const int64_t(*)[2])sh, data) == 0);
        expect_load_error("missing", AF_EFORMAT, "missing tensor model.layers.1.mlp.up_proj.weight");
        /* wrong shape: q_proj (16, 16) written as (8, 32) */
        for (int i = 0; i < n; i++)
            if (strcmp(names[i], "model.layers.0.self_attn.q_proj.weight") == 0) sh[i][0] = 8, sh[i][1] = 32;
        names[n] = "model.layers.1.mlp.up_proj.weight";
        nd[n] = 2, sh[n][0] = c.d_ff, sh[n][1] = c.d_model;
        data[n++] = m->params;
        copy_config("good0", "shape");
        snprintf(path, sizeof path, "%s/shape/model.safetensors", g_dir);
        CHECK(af_safetensors_write(path, n, names, nd, (const int64_t(*)[2])sh, data) == 0);
        expect_load_error("shape", AF_EFORMAT, "model.layers.0.self_attn.q_proj.weight: shape [8, 32], expected [16, 16]");
        for (int i = 0; i < n; i++)
            if (strcmp(names[i], "model.layers.0.self_attn.q_proj.weight") == 0) sh[i][0] = 16, sh[i][1] = 16;
        names[n] = "model.layers.7.mlp.up_proj.weight";
        nd[n] = 1, sh[n][0] = 4, sh[n][1] = 0;
        data[n++] = m->params;
        copy_config("good0", "extra");
        snprintf(path, sizeof path, "%s/extra/model.safetensors", g_dir);
        CHECK(af_safetensors_write(path, n, names, nd, (const int64_t(*)[2])sh, data) == 0);
        expect_load_error("extra", AF_EFORMAT, "unexpected tensor model.layers.7.mlp.up_proj.weight");
        af_model_destroy(m);
    }
    /* config.json malformations */
    {
        struct { const char *json; int code; const char *needle; } cases[] = {
            {"{\"hidden_size\": 16,", AF_EFORMAT, "bad JSON"},
            {"{\"model_type\": \"llama\", \"vocab_size\": 37, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"intermediate_size\": 24, \"max_position_embeddings\": 64}", AF_EFORMAT, "hidden_size"},
            {"{\"model_type\": \"llama\", \"vocab_size\": 37, \"hidden_size\": \"16\", \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"intermediate_size\": 24, \"max_position_embeddings\": 64}", AF_EFORMAT, "hidden_size: expected an integer"},
            {"{\"model_type\": \"llama\", \"vocab_size\": 37, \"hidden_size\": 16, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"intermediate_size\": 24, \"max_position_embeddings\": 64, \"tie_word_embeddings\": 3}", AF_EFORMAT, "tie_word_embeddings"},
            {"{\"model_type\": \"llama\", \"vocab_size\": 37, \"hidden_size\": 16, \"num_hidden_layers\": 2, \"num_attention_heads\": 3, \"intermediate_size\": 24, \"max_position_embeddings\": 64}", AF_ECONFIG, "n_heads"},
            {"{\"model_type\": \"llama\", \"vocab_size\": 37, \"hidden_size\": 16, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 3, \"intermediate_size\": 24, \"max_position_embeddings\": 64}", AF_ECONFIG, "n_kv_heads"},
            {"{\"model_type\": \"llama\", \"vocab_size\": 37, \"hidden_size\": 16, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"intermediate_size\": 24, \"max_position_embeddings\": 64, \"rope_scaling\": {\"type\": \"linear\"}}", AF_EFORMAT, "rope_scaling"},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            snprintf(dir, sizeof dir, "%s/cfg%zu", g_dir, i);
            mkdir(dir, 0777);
            snprintf(path, sizeof path, "%s/config.json", dir);
            write_bytes(path, cases[i].json, strlen(cases[i].json));
            snprintf(dir, sizeof dir, "cfg%zu", i);
            expect_load_error(dir, cases[i].code, cases[i].needle);
        }
        expect_load_error("does-not-exist", AF_EIO, "config.json");
    }
    /* a qwen2 config without attention_bias means biases */
    {
        snprintf(dir, sizeof dir, "%s/qwen", g_dir);
        mkdir(dir, 0777);
        snprintf(path, sizeof path, "%s/config.json", dir);
        const char *j = "{\"model_type\": \"qwen2\", \"vocab_size\": 37, \"hidden_size\": 16, \"num_hidden_layers\": 1, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"intermediate_size\": 24, \"max_position_embeddings\": 64}";
        write_bytes(path, j, strlen(j));
        AfModelConfig c;
        CHECK(af_model_config_load(dir, &c) == 0);
        CHECK(c.qkv_bias == 1 && c.n_kv_heads == 2 && c.tied_embeddings == 0);
    }
    /* random damage to a real file's header and length: refused or read, never a crash
     * (the ASan build runs this too) */
    {
        size_t n = 0;
        snprintf(path, sizeof path, "%s/good1/model.safetensors", g_dir);
        unsigned char *good = slurp(path, &n), *b = good ? malloc(n) : NULL;
        CHECK(good != NULL && n > 64);
        AfRng r;
        af_rng_init(&r, 9, AF_RNG_TEST, 7, 0, 0);
        int refused = 0, opened = 0;
        snprintf(path, sizeof path, "%s/fuzz.safetensors", g_dir);
        uint64_t hl = 0;
        for (int i = 7; good && i >= 0; i--) hl = hl << 8 | good[i];
        for (int it = 0; b && it < 300; it++) {
            memcpy(b, good, n);
            size_t len = n;
            int flips = 1 + (int)af_rng_below(&r, 4);
            for (int k = 0; k < flips; k++) {
                size_t at = af_rng_below(&r, (uint32_t)(8 + hl));
                static const char syms[] = "0123456789[]{},:\" ";
                b[at] = af_rng_below(&r, 2) ? (unsigned char)af_rng_below(&r, 256) : (unsigned char)syms[at % 17];
            }
            if (af_rng_below(&r, 4) == 0) len = af_rng_below(&r, (uint32_t)n);
            write_bytes(path, b, len);
            AfSafetensors *st = NULL;
            int rc = af_safetensors_open(path, &st);
            CHECK_MSG(rc == 0 || rc == AF_EFORMAT, "fuzz %d: rc %d (%s)", it, rc, af_error_detail());
            if (rc == 0) {
                opened++;
                float *buf = malloc(64 * sizeof(float));
                for (int t = 0; t < st->n; t++) /* every tensor is inside the file */
                    CHECK(st->tensors[t].file_offset + st->tensors[t].nbytes <= st->size);
                for (int t = 0; t < st->n && buf; t++)
                    if (st->tensors[t].numel <= 64) CHECK(af_safetensors_read_f32(st, &st->tensors[t], buf) == 0);
                free(buf);
            } else {
                refused++;
            }
            af_safetensors_close(st);
        }
        fprintf(stderr, "fuzzed headers: %d refused, %d still valid\n", refused, opened);
        CHECK(refused > 200);
        free(b);
        free(good);
    }
    /* misaligned data: overlap, gap, trailing bytes, a header that lies about sizes */
    expect_st_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, "
                    "\"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}", 12, -1, "overlap");
    expect_st_error("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, "
                    "\"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [12, 20]}}", 20, -1, "gap");
    expect_st_error("{\"a\": {\"dtype\": \"BF16\", \"shape\": [2], \"data_offsets\": [0, 4]}}", 9, -1,
                    "5 bytes after the last tensor");
    expect_st_error("{\"a\": {\"dtype\": \"BF16\", \"shape\": [3], \"data_offsets\": [0, 4]}}", 4, -1,
                    "4 data bytes but shape and dtype need 6");
    expect_st_error("{\"a\": {\"dtype\": \"BF16\", \"shape\": [2], \"data_offsets\": [0, 4]}}", 4, 1 << 30,
                    "header length");
    /* bf16 rounding: nearest, ties to even; NaN stays NaN */
    CHECK(af_f32_to_bf16(1.0f) == 0x3f80);
    CHECK(af_f32_to_bf16(af_bf16_to_f32(0x3f81)) == 0x3f81);
    {
        float tie_even = 0, tie_odd = 0, nan = NAN;
        uint32_t u = 0x3f808000u; /* halfway between 0x3f80 and 0x3f81: to even 0x3f80 */
        memcpy(&tie_even, &u, 4);
        u = 0x3f818000u;          /* halfway between 0x3f81 and 0x3f82: to even 0x3f82 */
        memcpy(&tie_odd, &u, 4);
        CHECK(af_f32_to_bf16(tie_even) == 0x3f80);
        CHECK(af_f32_to_bf16(tie_odd) == 0x3f82);
        CHECK(isnan(af_bf16_to_f32(af_f32_to_bf16(nan))));
        u = 0x3f80ffffu;          /* just under 0x3f81 + half: up */
        memcpy(&tie_even, &u, 4);
        CHECK(af_f32_to_bf16(tie_even) == 0x3f81);
    }
    /* export (bf16, sharded) and load back: a Qwen3-shaped model (q/k norms, head_dim
     * differing from d_model / n_heads, llama3 RoPE scaling) */
    {
        AfModelConfig c = tiny_config(2, 0, 1);
        tiny_family_knobs(&c); /* config.json must carry head_dim and rope_scaling back */
        AfModel *m = NULL, *m2 = NULL;
        CHECK(af_model_create(&c, 32, 2, 0, &m) == 0);
        fill_params(m, 11, 0.3);
        CHECK(af_model_find_tensor(m, "model.layers.1.self_attn.k_norm.weight") != NULL);
        snprintf(dir, sizeof dir, "%s/export_sharded", g_dir);
        AfExportOptions o = {.dtype = AF_DT_BF16, .max_shard_bytes = 1000, .source_dir = NULL};
        CHECK(af_model_export_dir(m, dir, &o) == 0);
        snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
        CHECK(access(path, F_OK) == 0);
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        CHECK(access(path, F_OK) != 0);
        CHECK(af_model_load_dir(dir, 32, 2, 0, &m2) == 0);
        if (m2) {
            CHECK(memcmp(&m->cfg, &m2->cfg, sizeof c) == 0);
            int exact = 1;
            for (size_t i = 0; i < m->n_params; i++)
                exact &= m2->params[i] == af_bf16_to_f32(af_f32_to_bf16(m->params[i]));
            CHECK_MSG(exact, "bf16 export does not read back as the rounded parameters");
        }
        af_model_destroy(m2);
        m2 = NULL;
        /* fp32, one file: bit-identical parameters */
        o.dtype = AF_DT_F32;
        o.max_shard_bytes = 0;
        CHECK(af_model_export_dir(m, dir, &o) == 0);
        snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
        CHECK(access(path, F_OK) != 0);
        CHECK(af_model_load_dir(dir, 32, 2, 0, &m2) == 0);
        if (m2) CHECK(memcmp(m->params, m2->params, m->n_params * sizeof(float)) == 0);
        af_model_destroy(m2);
        m2 = NULL;
        /* a sharded directory with a missing shard, a shard that lacks a tensor, a bad file name */
        o.dtype = AF_DT_BF16;
        o.max_shard_bytes = 1000;
        CHECK(af_model_export_dir(m, dir, &o) == 0);
        char shard2[64] = "model-00002-of-?????.safetensors";
        {
            size_t n = 0;
            snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
            char *idx = (char *)slurp(path, &n), *at = idx ? strstr(idx, "model-00002-of-") : NULL;
            CHECK_MSG(at != NULL, "fewer than 2 shards");
            if (at) memcpy(shard2, at, strlen(shard2));
            free(idx);
        }
        snprintf(path, sizeof path, "%s/%s", dir, shard2);
        char moved[700];
        snprintf(moved, sizeof moved, "%s.away", path);
        CHECK(rename(path, moved) == 0);
        expect_load_error("export_sharded", AF_EIO, shard2);
        CHECK(rename(moved, path) == 0);
        snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
        size_t n = 0;
        unsigned char *idx = slurp(path, &n);
        CHECK(idx != NULL);
        char *hit = idx ? strstr((char *)idx, "\"model.norm.weight\":\t\"model-000") : NULL;
        CHECK_MSG(hit != NULL, "index lacks model.norm.weight: %s", idx ? (char *)idx : "");
        if (hit) { /* point it at another shard */
            char *digits = hit + strlen("\"model.norm.weight\":\t\"model-000");
            memcpy(digits, memcmp(digits, "01", 2) == 0 ? "02" : "01", 2);
            write_bytes(path, idx, n);
            expect_load_error("export_sharded", AF_EFORMAT, "missing tensor model.norm.weight (the index places it in this shard)");
        }
        free(idx);
        af_model_destroy(m);
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    CHECK(system(cmd) == 0);
    TEST_MAIN_END();
}
