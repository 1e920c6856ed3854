/* Checkpoint store (learner/ckpt.h) and trajectory store (learner/trajstore.h): bit-exact
 * round trip, keep-last-K, latest/latest-valid, corrupted bytes, truncated file, garbage
 * manifest, missing keys, a map too small, a file-size limit, SIGKILL during saves, export.
 *
 * Also a helper for tests/test_ckpt_cli.sh:
 *   test_ckpt --make-store RUN_DIR   three checkpoints + RUN_DIR/reference (HF dir of the
 *                                    latest parameters, written by af_model_save_dir)
 *   test_ckpt --corrupt RUN_DIR      flip a byte of the latest checkpoint's model.norm.weight */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lmdb.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/model.h"
#include "common/rng.h"
#include "common/safetensors.h"
#include "common/config.h"
#include "common/fsutil.h"
#include "learner/ckpt.h"
#include "learner/ckpt_manifest.h"
#include "learner/resume.h"
#include "learner/trajstore.h"
#include "tests/test_util.h"

static AfModelConfig small_cfg(void) {
    AfModelConfig c = af_model_config_default();
    c.vocab_size = 64;
    c.d_model = 32;
    c.n_layers = 2;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.d_ff = 48;
    c.max_seq = 64;
    c.qkv_bias = 1;
    c.tied_embeddings = 0;
    return c;
}

/* A model's buffers filled with values that depend on (step, kind): every checkpoint
 * differs, and each tensor of step s has a recognisable first 8 floats. */
typedef struct Bufs {
    AfModel *m;
    float *adam_m, *adam_v, *ref;
} Bufs;

static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

static float val(uint64_t step, int kind, size_t i) {
    uint64_t h = mix(step * 1000003ULL + (uint64_t)kind * 0x9e3779b97f4a7c15ULL + i);
    return (float)((double)(h >> 11) / 9007199254740992.0 - 0.5);
}

static void fill(Bufs *b, uint64_t step) {
    AfModel *m = b->m;
    memset(m->params, 0, m->n_params * sizeof(float));
    memset(b->adam_m, 0, m->n_params * sizeof(float));
    memset(b->adam_v, 0, m->n_params * sizeof(float));
    memset(b->ref, 0, m->n_params * sizeof(float));
    for (int t = 0; t < m->n_tensors; t++) {
        const AfTensorInfo *ti = &m->tensors[t];
        for (size_t i = 0; i < ti->numel; i++) {
            size_t o = ti->offset + i;
            m->params[o] = val(step, 0, o);
            b->adam_m[o] = val(step, 1, o);
            b->adam_v[o] = fabsf(val(step, 2, o));
            b->ref[o] = val(0, 3, o);
        }
    }
}

static int bufs_create(Bufs *b) {
    memset(b, 0, sizeof *b);
    AfModelConfig c = small_cfg();
    if (af_model_create(&c, 0, 0, 0, &b->m)) return -1;
    size_t n = b->m->n_params;
    b->adam_m = calloc(n, sizeof(float));
    b->adam_v = calloc(n, sizeof(float));
    b->ref = calloc(n, sizeof(float));
    return b->adam_m && b->adam_v && b->ref ? 0 : -1;
}

static void bufs_destroy(Bufs *b) {
    af_model_destroy(b->m);
    free(b->adam_m);
    free(b->adam_v);
    free(b->ref);
}

static AfCkptSave save_of(const Bufs *b, uint64_t step, int with_ref) {
    static AfCkptCounter counters[2];
    snprintf(counters[0].name, sizeof counters[0].name, "trajectories");
    counters[0].value = (double)step * 128;
    snprintf(counters[1].name, sizeof counters[1].name, "rejected");
    counters[1].value = 3;
    static char metrics[128];
    snprintf(metrics, sizeof metrics, "{\"iteration\":%" PRIu64 ",\"reward_mean\":0.25}", step);
    AfCkptSave s = {
        .step = step, .policy_version = step * 2, .config_json = "{\"run\":{\"seed\":7}}",
        .shape = b->m->cfg, .tensors = b->m->tensors, .n_tensors = b->m->n_tensors,
        .n_params = b->m->n_params, .params = b->m->params, .adam_m = b->adam_m, .adam_v = b->adam_v,
        .ref_params = with_ref ? b->ref : NULL, .adam_step = step * 2, .data_position = step * 16,
        .counters = counters, .n_counters = 2, .metrics_json = metrics};
    return s;
}

static char tmp_root[256];

/* An array as a plain pointer for CHECK_STR_CONTAINS (whose NULL test -Waddress flags). */
static const char *cstr(const char *s) { return s; }

static void run_dir(char *out, size_t cap, const char *name) {
    snprintf(out, cap, "%s/%s", tmp_root, name);
}

static void rm_rf(const char *path) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0) fprintf(stderr, "warning: %s failed\n", cmd);
}

/* Load `step` and compare every buffer bit for bit with fill(step). */
static int loads_exact(AfCkptStore *st, uint64_t step, Bufs *expect, Bufs *got) {
    fill(expect, step);
    AfCkptMeta meta;
    int rc = af_ckpt_load(st, step, &expect->m->cfg, expect->m->n_params, got->m->params, got->adam_m,
                          got->adam_v, got->ref, &meta);
    if (rc) {
        fprintf(stderr, "load step %" PRIu64 ": %s\n", step, af_error_detail());
        return 0;
    }
    size_t bytes = expect->m->n_params * sizeof(float);
    int ok = memcmp(expect->m->params, got->m->params, bytes) == 0 &&
             memcmp(expect->adam_m, got->adam_m, bytes) == 0 && memcmp(expect->adam_v, got->adam_v, bytes) == 0 &&
             memcmp(expect->ref, got->ref, bytes) == 0 && meta.step == step;
    af_ckpt_meta_clear(&meta);
    return ok;
}

static void test_round_trip(void) {
    char dir[300];
    run_dir(dir, sizeof dir, "roundtrip");
    Bufs a, b;
    CHECK(bufs_create(&a) == 0 && bufs_create(&b) == 0);
    for (int writemap = 0; writemap <= 1; writemap++) {
        rm_rf(dir);
        AfCkptOptions o = af_ckpt_options_default();
        o.writemap = writemap;
        AfCkptStore *st = NULL;
        CHECK_EQ_INT(af_ckpt_open(dir, &o, &st), 0);
        uint64_t step = 99;
        CHECK_EQ_INT(af_ckpt_latest(st, &step), AF_ENOTFOUND);
        fill(&a, 10);
        AfCkptSave sv = save_of(&a, 10, 1);
        CHECK_MSG(af_ckpt_save(st, &sv) == 0, "%s", af_error_detail());
        CHECK(loads_exact(st, 10, &a, &b));
        AfCkptMeta meta;
        CHECK_EQ_INT(af_ckpt_load(st, AF_CKPT_LATEST, NULL, a.m->n_params, b.m->params, NULL, NULL, NULL, &meta), 0);
        CHECK_EQ_INT(meta.step, 10);
        CHECK_EQ_INT(meta.policy_version, 20);
        CHECK_EQ_INT(meta.adam_step, 20);
        CHECK_EQ_INT(meta.data_position, 160);
        CHECK(meta.has_ref == 1);
        CHECK_EQ_INT(meta.n_params, a.m->n_params);
        CHECK(memcmp(&meta.shape, &a.m->cfg, sizeof meta.shape) == 0);
        CHECK(meta.config_json && strcmp(meta.config_json, "{\"run\":{\"seed\":7}}") == 0);
        CHECK_STR_CONTAINS(meta.metrics_json, "\"iteration\":10");
        CHECK_EQ_INT(meta.n_counters, 2);
        CHECK(meta.n_counters == 2 && strcmp(meta.counters[0].name, "trajectories") == 0 &&
              meta.counters[0].value == 1280.0);
        af_ckpt_meta_clear(&meta);
        af_ckpt_meta_clear(&meta); /* idempotent */

        /* a second save without ref_params still refers to the stored reference; one with
         * a different reference is refused and leaves the store as it was */
        fill(&a, 11);
        sv = save_of(&a, 11, 0);
        CHECK_MSG(af_ckpt_save(st, &sv) == 0, "%s", af_error_detail());
        CHECK(loads_exact(st, 11, &a, &b));
        fill(&a, 12);
        a.ref[5] += 1.0f;
        sv = save_of(&a, 12, 1);
        CHECK_EQ_INT(af_ckpt_save(st, &sv), AF_ESTATE);
        CHECK_STR_CONTAINS(af_error_detail(), "differs from the stored reference");
        CHECK_EQ_INT(af_ckpt_latest(st, &step), 0);
        CHECK_EQ_INT(step, 11);

        /* shape and size mismatches */
        AfModelConfig other = a.m->cfg;
        other.d_model = 64;
        CHECK_EQ_INT(af_ckpt_load(st, 11, &other, a.m->n_params, b.m->params, NULL, NULL, NULL, NULL), AF_ECONFIG);
        CHECK_STR_CONTAINS(af_error_detail(), "model.d_model: checkpoint step 11 has 32, the configuration 64");
        other = a.m->cfg;
        other.rope_theta = 500000.0f;
        CHECK_EQ_INT(af_ckpt_load(st, 11, &other, a.m->n_params, b.m->params, NULL, NULL, NULL, NULL), AF_ECONFIG);
        CHECK_STR_CONTAINS(af_error_detail(), "model.rope_theta");
        CHECK_EQ_INT(af_ckpt_load(st, 11, NULL, a.m->n_params - 1, b.m->params, NULL, NULL, NULL, NULL), AF_EFORMAT);
        CHECK_EQ_INT(af_ckpt_load(st, 7, NULL, a.m->n_params, b.m->params, NULL, NULL, NULL, NULL), AF_ENOTFOUND);
        CHECK_STR_CONTAINS(af_error_detail(), "step 7 does not exist");

        /* bad save arguments */
        sv = save_of(&a, 13, 0);
        sv.adam_v = NULL;
        CHECK_EQ_INT(af_ckpt_save(st, &sv), AF_EINVAL);
        sv = save_of(&a, 13, 0);
        sv.n_params = 100;
        CHECK_EQ_INT(af_ckpt_save(st, &sv), AF_EINVAL);
        af_ckpt_close(st);

        /* reopen read-only: same data; saving refused */
        o.read_only = 1;
        CHECK_EQ_INT(af_ckpt_open(dir, &o, &st), 0);
        CHECK(loads_exact(st, 11, &a, &b));
        sv = save_of(&a, 12, 0);
        CHECK_EQ_INT(af_ckpt_save(st, &sv), AF_ESTATE);
        af_ckpt_close(st);
    }
    char missing[300];
    run_dir(missing, sizeof missing, "nonexistent");
    AfCkptOptions ro = af_ckpt_options_default();
    ro.read_only = 1;
    AfCkptStore *st = NULL;
    CHECK_EQ_INT(af_ckpt_open(missing, &ro, &st), AF_ENOTFOUND);
    ro.read_only = 0;
    ro.keep_last = 0;
    CHECK_EQ_INT(af_ckpt_open(missing, &ro, &st), AF_EINVAL);
    af_ckpt_close(NULL);
    bufs_destroy(&a);
    bufs_destroy(&b);
}

static void test_keep_last(void) {
    char dir[300];
    run_dir(dir, sizeof dir, "keep");
    rm_rf(dir);
    Bufs a, b;
    CHECK(bufs_create(&a) == 0 && bufs_create(&b) == 0);
    AfCkptOptions o = af_ckpt_options_default();
    o.keep_last = 2;
    AfCkptStore *st = NULL;
    CHECK_EQ_INT(af_ckpt_open(dir, &o, &st), 0);
    for (uint64_t s = 1; s <= 5; s++) {
        fill(&a, s);
        AfCkptSave sv = save_of(&a, s * 10, 1);
        CHECK_MSG(af_ckpt_save(st, &sv) == 0, "%s", af_error_detail());
    }
    AfCkptInfo *items = NULL;
    int n = 0;
    CHECK_EQ_INT(af_ckpt_list(st, &items, &n), 0);
    CHECK_EQ_INT(n, 2);
    if (n == 2) {
        CHECK_EQ_INT(items[0].meta.step, 40);
        CHECK_EQ_INT(items[1].meta.step, 50);
        CHECK(!items[0].broken && !items[1].broken);
        CHECK_STR_CONTAINS(items[1].meta.metrics_json, "\"iteration\":50");
        CHECK(items[1].meta.bytes == 3 * sizeof(float) * (a.m->n_params - 0) || items[1].meta.bytes > 0);
    }
    af_ckpt_list_free(items, n);
    uint64_t latest = 0;
    CHECK_EQ_INT(af_ckpt_latest(st, &latest), 0);
    CHECK_EQ_INT(latest, 50);
    fill(&a, 4);
    CHECK(loads_exact(st, 40, &a, &b) == 0); /* values of step 4 were saved as step 40 */
    /* a run that resumed from step 40 and saves step 45: step 50 is dropped */
    fill(&a, 45);
    AfCkptSave sv = save_of(&a, 45, 0);
    CHECK_EQ_INT(af_ckpt_save(st, &sv), 0);
    CHECK_EQ_INT(af_ckpt_list(st, &items, &n), 0);
    CHECK(n == 2 && items[0].meta.step == 40 && items[1].meta.step == 45);
    af_ckpt_list_free(items, n);
    CHECK(loads_exact(st, 45, &a, &b));
    af_ckpt_close(st);
    bufs_destroy(&a);
    bufs_destroy(&b);
}

/* Flip one byte in every occurrence of the first 8 floats of `tensor` of fill(step) in
 * the data file. Returns the number of occurrences patched. */
static int corrupt_tensor(const char *dir, const Bufs *b, uint64_t step, const char *tensor) {
    const AfTensorInfo *t = af_model_find_tensor(b->m, tensor);
    if (!t || t->numel < 8) return 0;
    float pat[8];
    for (int i = 0; i < 8; i++) pat[i] = val(step, 0, t->offset + (size_t)i);
    char path[400];
    snprintf(path, sizeof path, "%s/ckpt.lmdb/data.mdb", dir);
    int fd = open(path, O_RDWR);
    if (fd < 0) return 0;
    struct stat stt;
    fstat(fd, &stt);
    uint8_t *map = mmap(NULL, (size_t)stt.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int found = 0;
    if (map != MAP_FAILED) {
        uint8_t *p = map, *end = map + stt.st_size;
        while ((p = memmem(p, (size_t)(end - p), pat, sizeof pat)) != NULL) {
            p[13] ^= 0x40;
            found++;
            p += sizeof pat;
        }
        msync(map, (size_t)stt.st_size, MS_SYNC);
        munmap(map, (size_t)stt.st_size);
    }
    close(fd);
    return found;
}

static void save_steps(const char *dir, Bufs *a, int keep, uint64_t first, uint64_t last) {
    AfCkptOptions o = af_ckpt_options_default();
    o.keep_last = keep;
    AfCkptStore *st = NULL;
    CHECK_EQ_INT(af_ckpt_open(dir, &o, &st), 0);
    for (uint64_t s = first; s <= last; s++) {
        fill(a, s);
        AfCkptSave sv = save_of(a, s, 1);
        CHECK_MSG(af_ckpt_save(st, &sv) == 0, "%s", af_error_detail());
    }
    af_ckpt_close(st);
}

static void test_corruption(void) {
    char dir[300];
    run_dir(dir, sizeof dir, "corrupt");
    rm_rf(dir);
    Bufs a, b;
    CHECK(bufs_create(&a) == 0 && bufs_create(&b) == 0);
    save_steps(dir, &a, 3, 1, 5);
    CHECK(corrupt_tensor(dir, &a, 5, "model.layers.1.mlp.down_proj.weight") >= 1);
    AfCkptStore *st = NULL;
    CHECK_EQ_INT(af_ckpt_open(dir, NULL, &st), 0);
    AfCkptReport r;
    CHECK_EQ_INT(af_ckpt_verify(st, AF_CKPT_LATEST, &r), AF_ECHECKSUM);
    CHECK_EQ_INT(r.step, 5);
    CHECK_STR_CONTAINS(r.message, "checkpoint step 5: tensor model.layers.1.mlp.down_proj.weight (param): checksum mismatch");
    CHECK_EQ_INT(af_ckpt_verify(st, 4, &r), 0);
    CHECK(r.tensors_checked == 4 * a.m->n_tensors);
    CHECK_EQ_INT(af_ckpt_load(st, AF_CKPT_LATEST, NULL, a.m->n_params, b.m->params, b.adam_m, b.adam_v, NULL, NULL),
                 AF_ECHECKSUM);
    CHECK_STR_CONTAINS(af_error_detail(), "step 5: tensor model.layers.1.mlp.down_proj.weight");
    /* loading only the moments does not touch the broken parameter tensor */
    CHECK_EQ_INT(af_ckpt_load(st, 5, NULL, a.m->n_params, NULL, b.adam_m, NULL, NULL, NULL), 0);
    uint64_t s = 0;
    char skipped[1024];
    CHECK_EQ_INT(af_ckpt_latest_valid(st, &s, skipped, sizeof skipped), 0);
    CHECK_EQ_INT(s, 4);
    CHECK_STR_CONTAINS(cstr(skipped), "step 5: ");
    CHECK_STR_CONTAINS(cstr(skipped), "down_proj.weight (param): checksum mismatch");
    CHECK(loads_exact(st, 4, &a, &b));
    char out[400];
    snprintf(out, sizeof out, "%s/export_bad", dir);
    uint64_t five = 5;
    const AfExportOptions fp32 = {.dtype = AF_DT_F32};
    CHECK_EQ_INT(af_ckpt_export_hf(st, &five, out, &fp32), AF_ECHECKSUM);
    /* the run goes on from step 4: saving step 5 again replaces the broken one */
    fill(&a, 5);
    AfCkptSave sv = save_of(&a, 5, 0);
    CHECK_EQ_INT(af_ckpt_save(st, &sv), 0);
    CHECK_EQ_INT(af_ckpt_verify(st, 5, NULL), 0);
    af_ckpt_close(st);

    /* the reference planner is checked too */
    CHECK(corrupt_tensor(dir, &a, 0, "model.norm.weight") == 0); /* ref values use kind 3 */
    bufs_destroy(&a);
    bufs_destroy(&b);
}

/* Direct LMDB edits: garbage manifest, wrong manifest, a missing tensor key, a value of
 * the wrong length, a malformed `latest`, a wrong `format`. */
static int lmdb_edit(const char *dir, const char *key, const void *val_bytes, size_t len, int del) {
    char path[400];
    snprintf(path, sizeof path, "%s/ckpt.lmdb", dir);
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    int rc = mdb_env_create(&env);
    if (!rc) rc = mdb_env_set_mapsize(env, (size_t)1 << 30);
    if (!rc) rc = mdb_env_open(env, path, 0, 0644);
    if (!rc) rc = mdb_txn_begin(env, NULL, 0, &txn);
    if (!rc) rc = mdb_dbi_open(txn, NULL, 0, &dbi);
    MDB_val k = {strlen(key), (void *)key}, v = {len, (void *)val_bytes};
    if (!rc) rc = del ? mdb_del(txn, dbi, &k, NULL) : mdb_put(txn, dbi, &k, &v, 0);
    if (!rc) rc = mdb_txn_commit(txn);
    else if (txn) mdb_txn_abort(txn);
    mdb_env_close(env);
    if (rc) fprintf(stderr, "lmdb_edit %s: %s\n", key, mdb_strerror(rc));
    return rc;
}

static int lmdb_read(const char *dir, const char *key, void **out, size_t *len) {
    char path[400];
    snprintf(path, sizeof path, "%s/ckpt.lmdb", dir);
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    int rc = mdb_env_create(&env);
    if (!rc) rc = mdb_env_open(env, path, MDB_RDONLY, 0644);
    if (!rc) rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    if (!rc) rc = mdb_dbi_open(txn, NULL, 0, &dbi);
    MDB_val k = {strlen(key), (void *)key}, v;
    if (!rc) rc = mdb_get(txn, dbi, &k, &v);
    if (!rc) {
        *out = malloc(v.mv_size);
        memcpy(*out, v.mv_data, v.mv_size);
        *len = v.mv_size;
    }
    if (txn) mdb_txn_abort(txn);
    mdb_env_close(env);
    return rc;
}

static void test_bad_keys(void) {
    char dir[300], key[256];
    run_dir(dir, sizeof dir, "badkeys");
    rm_rf(dir);
    Bufs a, b;
    CHECK(bufs_create(&a) == 0 && bufs_create(&b) == 0);
    save_steps(dir, &a, 5, 1, 4);
    AfCkptStore *st = NULL;
    AfCkptReport r;
    const char *q = "model.layers.0.self_attn.q_proj.bias";

    /* step 1: garbage manifest */
    CHECK_EQ_INT(lmdb_edit(dir, "step/00000000000000000001/manifest", "\xff\xff\xff\x0f garbage", 12, 0), 0);
    /* step 2: a valid manifest of another step (3) copied over */
    void *m3 = NULL;
    size_t m3len = 0;
    CHECK_EQ_INT(lmdb_read(dir, "step/00000000000000000003/manifest", &m3, &m3len), 0);
    CHECK_EQ_INT(lmdb_edit(dir, "step/00000000000000000002/manifest", m3, m3len, 0), 0);
    free(m3);
    /* ... in a store written before step/<S>/sum existed: the manifest's own checks */
    CHECK_EQ_INT(lmdb_edit(dir, "step/00000000000000000002/sum", NULL, 0, 1), 0);
    /* step 3: a missing moment */
    snprintf(key, sizeof key, "step/00000000000000000003/adam_v/%s", q);
    CHECK_EQ_INT(lmdb_edit(dir, key, NULL, 0, 1), 0);
    /* step 4: a value of the wrong length */
    snprintf(key, sizeof key, "step/00000000000000000004/adam_m/%s", q);
    CHECK_EQ_INT(lmdb_edit(dir, key, "abcd", 4, 0), 0);

    CHECK_EQ_INT(af_ckpt_open(dir, NULL, &st), 0);
    CHECK_EQ_INT(af_ckpt_verify(st, 1, &r), AF_ECHECKSUM);
    CHECK_STR_CONTAINS(r.message, "checkpoint step 1: manifest checksum mismatch");
    CHECK_EQ_INT(af_ckpt_verify(st, 2, &r), AF_EFORMAT);
    CHECK_STR_CONTAINS(r.message, "checkpoint step 2: manifest says step 3");
    CHECK_EQ_INT(af_ckpt_verify(st, 3, &r), AF_ENOTFOUND);
    CHECK_STR_CONTAINS(r.message, "checkpoint step 3: tensor model.layers.0.self_attn.q_proj.bias (adam_v): key missing");
    CHECK_EQ_INT(af_ckpt_verify(st, 4, &r), AF_EFORMAT);
    CHECK_STR_CONTAINS(r.message, "checkpoint step 4: tensor model.layers.0.self_attn.q_proj.bias (adam_m): 4 bytes stored");
    AfCkptInfo *items = NULL;
    int n = 0;
    CHECK_EQ_INT(af_ckpt_list(st, &items, &n), 0);
    CHECK_EQ_INT(n, 4);
    CHECK(n == 4 && items[0].broken && !items[2].broken && items[2].meta.step == 3);
    if (n == 4) CHECK_STR_CONTAINS(items[0].detail, "manifest checksum mismatch");
    af_ckpt_list_free(items, n);
    uint64_t s = 0;
    char skipped[2048];
    CHECK_EQ_INT(af_ckpt_latest_valid(st, &s, skipped, sizeof skipped), AF_ENOTFOUND);
    CHECK_STR_CONTAINS(cstr(skipped), "step 4: ");
    CHECK_STR_CONTAINS(cstr(skipped), "step 1: ");
    CHECK_STR_CONTAINS(af_error_detail(), "no checkpoint verifies (4 present)");
    /* the tiny buffer of skipped lines is truncated, not overrun */
    char tiny[8];
    CHECK_EQ_INT(af_ckpt_latest_valid(st, &s, tiny, sizeof tiny), AF_ENOTFOUND);
    CHECK(strlen(tiny) < sizeof tiny);
    af_ckpt_close(st);

    /* a manifest whose table was edited: shape of the model changed under the tensors */
    /* the reference is kept twice: a damaged first copy falls back to the second, a
     * damaged reference manifest is not needed (the step's manifest has its checksums),
     * and only both copies damaged fail */
    {
        char rd[300], rk[300];
        run_dir(rd, sizeof rd, "refcopy");
        rm_rf(rd);
        save_steps(rd, &a, 3, 1, 2);
        const AfTensorInfo *t = af_model_find_tensor(a.m, q);
        float *junk = calloc(t->numel, sizeof(float));
        CHECK(junk != NULL);
        snprintf(rk, sizeof rk, "ref/param/%s", q);
        CHECK_EQ_INT(lmdb_edit(rd, rk, junk, t->numel * sizeof(float), 0), 0);
        CHECK_EQ_INT(lmdb_edit(rd, "ref/manifest", "\xff\xff garbage", 10, 0), 0);
        AfCkptStore *rs = NULL;
        CHECK_EQ_INT(af_ckpt_open(rd, NULL, &rs), 0);
        CHECK_EQ_INT(af_ckpt_verify(rs, 2, &r), 0);
        fill(&b, 0);
        fill(&a, 2);
        CHECK_EQ_INT(af_ckpt_load(rs, 2, NULL, a.m->n_params, b.m->params, NULL, NULL, b.ref, NULL), 0);
        CHECK(memcmp(a.ref, b.ref, a.m->n_params * sizeof(float)) == 0);
        /* the next save writes the damaged copy and the manifest again */
        AfCkptSave sv3 = save_of(&a, 3, 1);
        CHECK_EQ_INT(af_ckpt_save(rs, &sv3), 0);
        af_ckpt_close(rs);
        snprintf(rk, sizeof rk, "ref/copy2/%s", q);
        CHECK_EQ_INT(lmdb_edit(rd, rk, junk, t->numel * sizeof(float), 0), 0);
        CHECK_EQ_INT(af_ckpt_open(rd, NULL, &rs), 0);
        CHECK_EQ_INT(af_ckpt_verify(rs, 3, &r), 0); /* the first copy was rewritten */
        snprintf(rk, sizeof rk, "ref/param/%s", q);
        af_ckpt_close(rs);
        CHECK_EQ_INT(lmdb_edit(rd, rk, junk, t->numel * sizeof(float), 0), 0);
        CHECK_EQ_INT(af_ckpt_open(rd, NULL, &rs), 0);
        CHECK_EQ_INT(af_ckpt_verify(rs, 3, &r), AF_ECHECKSUM);
        CHECK_STR_CONTAINS(r.message, "(ref): checksum mismatch");
        af_ckpt_close(rs);
        free(junk);
    }
    /* malformed latest */
    CHECK_EQ_INT(lmdb_edit(dir, "latest", "abc", 3, 0), 0);
    CHECK_EQ_INT(af_ckpt_open(dir, NULL, &st), 0);
    CHECK_EQ_INT(af_ckpt_latest(st, &s), AF_EFORMAT);
    CHECK_STR_CONTAINS(af_error_detail(), "\"latest\" has 3 bytes");
    af_ckpt_close(st);
    uint8_t l9[8] = {9, 0, 0, 0, 0, 0, 0, 0};
    CHECK_EQ_INT(lmdb_edit(dir, "latest", l9, 8, 0), 0);
    CHECK_EQ_INT(af_ckpt_open(dir, NULL, &st), 0);
    CHECK_EQ_INT(af_ckpt_latest(st, &s), AF_EFORMAT);
    CHECK_STR_CONTAINS(af_error_detail(), "names step 9 which has no manifest");
    af_ckpt_close(st);
    CHECK_EQ_INT(lmdb_edit(dir, "format", "other 9", 7, 0), 0);
    CHECK_EQ_INT(af_ckpt_open(dir, NULL, &st), AF_EFORMAT);
    CHECK_STR_CONTAINS(af_error_detail(), "key \"format\" is \"other 9\"");
    bufs_destroy(&a);
    bufs_destroy(&b);
}

static size_t used_bytes(const char *dir) {
    char path[400];
    snprintf(path, sizeof path, "%s/ckpt.lmdb", dir);
    MDB_env *env = NULL;
    MDB_envinfo info;
    MDB_stat ms;
    size_t used = 0;
    if (mdb_env_create(&env) == 0 && mdb_env_open(env, path, MDB_RDONLY | MDB_NOLOCK, 0644) == 0) {
        mdb_env_info(env, &info);
        mdb_env_stat(env, &ms);
        used = (info.me_last_pgno + 1) * ms.ms_psize;
    }
    mdb_env_close(env);
    return used;
}

/* A truncated or garbage data file is never opened by LMDB: read-only opens show a
 * salvaged temporary copy and leave the run directory alone; read-write opens move the
 * store aside (kept) and rebuild it, and saving goes on. */
static int count_damaged(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "exit $(ls -d '%s'/ckpt.lmdb.damaged-* 2>/dev/null | wc -l)", dir);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_truncated_and_garbage(void) {
    char dir[300], path[400];
    run_dir(dir, sizeof dir, "trunc");
    Bufs a, b;
    CHECK(bufs_create(&a) == 0 && bufs_create(&b) == 0);
    for (int writemap = 0; writemap <= 1; writemap++) {
        rm_rf(dir);
        save_steps(dir, &a, 3, 1, 3);
        size_t used = used_bytes(dir);
        CHECK(used > 0);
        snprintf(path, sizeof path, "%s/ckpt.lmdb/data.mdb", dir);
        CHECK(truncate(path, (off_t)(used / 2)) == 0);
        AfCkptOptions o = af_ckpt_options_default();
        o.writemap = writemap;
        o.read_only = 1;
        AfCkptStore *st = NULL;
        CHECK_EQ_INT(af_ckpt_open(dir, &o, &st), 0);
        CHECK(st && af_ckpt_damage(st) != NULL);
        if (st && af_ckpt_damage(st)) CHECK_STR_CONTAINS(af_ckpt_damage(st), "truncated");
        af_ckpt_close(st);
        st = NULL;
        CHECK_EQ_INT(count_damaged(dir), 0); /* read-only: nothing moved */
        struct stat sb;
        CHECK(stat(path, &sb) == 0 && (size_t)sb.st_size == used / 2);
        o.read_only = 0;
        CHECK_EQ_INT(af_ckpt_open(dir, &o, &st), 0);
        CHECK(st && af_ckpt_damage(st) != NULL);
        CHECK_EQ_INT(count_damaged(dir), 1);
        uint64_t s = 99;
        int lv = st ? af_ckpt_latest_valid(st, &s, NULL, 0) : -1;
        CHECK(lv == 0 || lv == AF_ENOTFOUND);
        if (lv == 0) { /* what survived is bit-exact */
            fill(&b, 0);
            CHECK_EQ_INT(af_ckpt_load(st, s, NULL, a.m->n_params, b.m->params, b.adam_m, b.adam_v, NULL, NULL), 0);
            fill(&a, s);
            CHECK(memcmp(a.m->params, b.m->params, a.m->n_params * sizeof(float)) == 0);
            CHECK(memcmp(a.adam_m, b.adam_m, a.m->n_params * sizeof(float)) == 0);
        }
        /* and the rebuilt store takes new checkpoints */
        af_ckpt_close(st);
        save_steps(dir, &a, 3, 4, 4);
        o.read_only = 1;
        CHECK_EQ_INT(af_ckpt_open(dir, &o, &st), 0);
        CHECK(st && af_ckpt_damage(st) == NULL);
        CHECK(st && af_ckpt_verify(st, 4, NULL) == 0);
        af_ckpt_close(st);
        st = NULL;
        /* truncated into the meta pages: nothing to salvage, an empty store */
        rm_rf(dir);
        save_steps(dir, &a, 3, 1, 1);
        CHECK(truncate(path, 100) == 0);
        CHECK_EQ_INT(af_ckpt_open(dir, &o, &st), 0);
        if (st && af_ckpt_damage(st)) CHECK_STR_CONTAINS(af_ckpt_damage(st), "meta page");
        CHECK(st && af_ckpt_latest_valid(st, &s, NULL, 0) == AF_ENOTFOUND);
        af_ckpt_close(st);
    }
    /* random bytes */
    rm_rf(dir);
    char sub[400];
    snprintf(sub, sizeof sub, "%s/ckpt.lmdb", dir);
    char cmd[900];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && head -c 65536 /dev/urandom > '%s/data.mdb'", sub, sub);
    CHECK(system(cmd) == 0);
    AfCkptStore *st = NULL;
    CHECK_EQ_INT(af_ckpt_open(dir, NULL, &st), 0);
    CHECK(st && af_ckpt_damage(st) != NULL);
    if (st && af_ckpt_damage(st)) CHECK_STR_CONTAINS(af_ckpt_damage(st), "not a meta page");
    uint64_t s;
    CHECK(st && af_ckpt_latest_valid(st, &s, NULL, 0) == AF_ENOTFOUND);
    af_ckpt_close(st);
    CHECK_EQ_INT(count_damaged(dir), 1);
    bufs_destroy(&a);
    bufs_destroy(&b);
}

static void test_map_full(void) {
    char dir[300];
    run_dir(dir, sizeof dir, "mapfull");
    Bufs a, b;
    CHECK(bufs_create(&a) == 0 && bufs_create(&b) == 0);
    for (int writemap = 0; writemap <= 1; writemap++) {
        /* measure what one checkpoint (with the reference) occupies */
        rm_rf(dir);
        save_steps(dir, &a, 2, 1, 1);
        size_t one = used_bytes(dir);
        CHECK(one > 0);
        rm_rf(dir);
        AfCkptOptions o = af_ckpt_options_default();
        o.writemap = writemap;
        o.keep_last = 2;
        o.map_size = one + one / 4; /* one checkpoint fits, two do not */
        AfCkptStore *st = NULL;
        CHECK_EQ_INT(af_ckpt_open(dir, &o, &st), 0);
        fill(&a, 1);
        AfCkptSave sv = save_of(&a, 1, 1);
        CHECK_MSG(af_ckpt_save(st, &sv) == 0, "%s", af_error_detail());
        fill(&a, 2);
        sv = save_of(&a, 2, 1);
        int rc = af_ckpt_save(st, &sv);
        CHECK_EQ_INT(rc, AF_EFULL);
        CHECK_STR_CONTAINS(af_error_detail(), "MiB) is full writing checkpoint step 2");
        CHECK_STR_CONTAINS(af_error_detail(), "raise the map size");
        CHECK_STR_CONTAINS(af_error_detail(), "the previous checkpoint is intact");
        uint64_t s = 0;
        CHECK_EQ_INT(af_ckpt_latest(st, &s), 0);
        CHECK_EQ_INT(s, 1);
        b.m->params[0] = 12345.0f;
        CHECK(loads_exact(st, 1, &a, &b));
        af_ckpt_close(st);
        /* reopened with automatic sizing, the same store takes the next checkpoint */
        o.map_size = 0;
        CHECK_EQ_INT(af_ckpt_open(dir, &o, &st), 0);
        fill(&a, 2);
        CHECK_MSG(af_ckpt_save(st, &sv) == 0, "%s", af_error_detail());
        CHECK(loads_exact(st, 2, &a, &b));
        CHECK(loads_exact(st, 1, &a, &b));
        af_ckpt_close(st);
    }
    bufs_destroy(&a);
    bufs_destroy(&b);
}

/* A write failure of the file system (RLIMIT_FSIZE stands in for a full disk: the
 * writes fail with EFBIG instead of ENOSPC) in a child: error, previous intact. */
static void test_write_failure(void) {
    char dir[300];
    run_dir(dir, sizeof dir, "fsize");
    rm_rf(dir);
    Bufs a, b;
    CHECK(bufs_create(&a) == 0 && bufs_create(&b) == 0);
    AfCkptOptions o = af_ckpt_options_default();
    o.writemap = 0; /* LMDB writes with pwrite; the writemap path fails in posix_fallocate */
    o.map_size = (size_t)64 << 20;
    save_steps(dir, &a, 3, 1, 1);
    size_t used = used_bytes(dir);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {(rlim_t)used + 4096, (rlim_t)used + 4096};
        setrlimit(RLIMIT_FSIZE, &rl);
        AfCkptStore *st = NULL;
        if (af_ckpt_open(dir, &o, &st)) _exit(10);
        fill(&a, 2);
        AfCkptSave sv = save_of(&a, 2, 0);
        int rc = af_ckpt_save(st, &sv);
        fprintf(stderr, "(expected) save under a file size limit: %s\n", af_error_detail());
        af_ckpt_close(st);
        /* a short write is EIO from LMDB, a refused one EFBIG (AF_EFULL) */
        if (rc == 0) _exit(11);
        if (rc != AF_EFULL && rc != AF_EIO) _exit(12);
        _exit(strstr(af_error_detail(), "step 2 not written, the previous checkpoint is intact") ? 0 : 13);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    AfCkptStore *st = NULL;
    CHECK_EQ_INT(af_ckpt_open(dir, NULL, &st), 0);
    uint64_t s = 0;
    CHECK_EQ_INT(af_ckpt_latest(st, &s), 0);
    CHECK_EQ_INT(s, 1);
    CHECK(loads_exact(st, 1, &a, &b));
    af_ckpt_close(st);
    bufs_destroy(&a);
    bufs_destroy(&b);
}

/* kill -9 of a process in the middle of a save loop, at random moments: the store opens,
 * `latest` verifies and holds exactly the values of its step. */
static void test_sigkill(void) {
    char dir[300];
    run_dir(dir, sizeof dir, "sigkill");
    rm_rf(dir);
    Bufs a, b;
    CHECK(bufs_create(&a) == 0 && bufs_create(&b) == 0);
    uint64_t rng = 0x5eed;
    uint64_t next = 1, advanced = 0;
    for (int trial = 0; trial < 8; trial++) {
        AfCkptOptions o = af_ckpt_options_default();
        o.keep_last = 2;
        o.writemap = trial % 2;
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            AfCkptStore *st = NULL;
            if (af_ckpt_open(dir, &o, &st)) _exit(3);
            for (uint64_t s = next;; s++) {
                fill(&a, s);
                AfCkptSave sv = save_of(&a, s, 1);
                if (af_ckpt_save(st, &sv)) _exit(4);
            }
        }
        rng = mix(rng + (uint64_t)trial);
        struct timespec ts = {0, (long)(5000000 + rng % 60000000)}; /* 5..65 ms */
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status = 0;
        waitpid(pid, &status, 0);
        CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "trial %d: child status %d", trial, status);
        AfCkptStore *st = NULL;
        CHECK_MSG(af_ckpt_open(dir, &o, &st) == 0, "trial %d: %s", trial, af_error_detail());
        if (!st) continue;
        uint64_t latest = 0, valid = 0;
        char skipped[512];
        int rc = af_ckpt_latest(st, &latest);
        if (rc == AF_ENOTFOUND) { /* killed before the first commit */
            af_ckpt_close(st);
            continue;
        }
        CHECK_EQ_INT(rc, 0);
        CHECK_MSG(af_ckpt_verify(st, latest, NULL) == 0, "trial %d: %s", trial, af_error_detail());
        CHECK_EQ_INT(af_ckpt_latest_valid(st, &valid, skipped, sizeof skipped), 0);
        CHECK_EQ_INT(valid, latest);
        CHECK_MSG(loads_exact(st, latest, &a, &b), "trial %d step %" PRIu64, trial, latest);
        if (latest >= next) advanced++;
        next = latest + 1;
        af_ckpt_close(st);
    }
    fprintf(stderr, "sigkill: 8 trials, %" PRIu64 " advanced, last step %" PRIu64 "\n", advanced, next - 1);
    CHECK(advanced >= 1);
    bufs_destroy(&a);
    bufs_destroy(&b);
}

static void test_export(void) {
    char dir[300], out[400];
    run_dir(dir, sizeof dir, "export");
    rm_rf(dir);
    Bufs a;
    CHECK(bufs_create(&a) == 0);
    save_steps(dir, &a, 3, 1, 2);
    AfCkptOptions o = af_ckpt_options_default();
    o.read_only = 1;
    AfCkptStore *st = NULL;
    CHECK_EQ_INT(af_ckpt_open(dir, &o, &st), 0);
    snprintf(out, sizeof out, "%s/out/model", dir);
    const AfExportOptions fp32 = {.dtype = AF_DT_F32};
    uint64_t step = 1;
    CHECK_MSG(af_ckpt_export_hf(st, &step, out, &fp32) == 0, "%s", af_error_detail());
    CHECK_EQ_INT(step, 1);
    AfModel *m = NULL;
    CHECK_MSG(af_model_load_dir(out, 0, 0, 0, &m) == 0, "%s", af_error_detail());
    fill(&a, 1);
    CHECK(m && m->n_params == a.m->n_params &&
          memcmp(m->params, a.m->params, m->n_params * sizeof(float)) == 0);
    CHECK(m && memcmp(&m->cfg, &a.m->cfg, sizeof m->cfg) == 0);
    af_model_destroy(m);
    step = 77;
    CHECK_EQ_INT(af_ckpt_export_hf(st, &step, out, &fp32), AF_ENOTFOUND);
    uint64_t latest = 0;
    CHECK_EQ_INT(af_ckpt_latest(st, &latest), 0);
    step = AF_CKPT_LATEST; /* resolved to the newest, and said */
    CHECK_MSG(af_ckpt_export_hf(st, &step, out, &fp32) == 0, "%s", af_error_detail());
    CHECK_EQ_INT(step, latest);
    af_ckpt_close(st);
    bufs_destroy(&a);
}

static void test_trajstore(void) {
    char dir[300];
    run_dir(dir, sizeof dir, "traj");
    rm_rf(dir);
    AfTrajStore *t = NULL;
    CHECK_EQ_INT(af_trajstore_open(dir, 0, 1, 0, &t), AF_ENOTFOUND);
    CHECK_EQ_INT(af_trajstore_open(dir, 0, 0, 0, &t), 0);
    enum { N = 300 };
    static uint8_t payload[N][700];
    AfTrajRecord recs[N];
    for (int i = 0; i < N; i++) {
        size_t len = 1 + (size_t)(mix((uint64_t)i) % 699);
        for (size_t j = 0; j < len; j++) payload[i][j] = (uint8_t)mix((uint64_t)i * 1000 + j);
        recs[i] = (AfTrajRecord){(uint32_t)(i / 24), (uint32_t)(i / 8 % 3), (uint32_t)(i % 8), payload[i], len};
    }
    for (int it = 0; it < N / 24 + 1; it++) {
        int lo = it * 24, hi = lo + 24 < N ? lo + 24 : N;
        if (lo < hi) CHECK_EQ_INT(af_trajstore_put_batch(t, recs + lo, hi - lo), 0);
    }
    AfTrajRecord bad = {1, 1, 1, NULL, 4};
    CHECK_EQ_INT(af_trajstore_put_batch(t, &bad, 1), AF_EINVAL);
    /* a big record forces the map to grow */
    size_t big_len = (size_t)80 << 20;
    uint8_t *big = malloc(big_len);
    CHECK(big != NULL);
    if (big) {
        memset(big, 0xab, big_len);
        CHECK_MSG(af_trajstore_put(t, 1000, 0, 0, big, big_len) == 0, "%s", af_error_detail());
    }
    af_trajstore_close(t);
    CHECK_EQ_INT(af_trajstore_open(dir, 0, 1, 0, &t), 0);
    size_t count = 0;
    CHECK_EQ_INT(af_trajstore_count(t, &count), 0);
    CHECK_EQ_INT(count, N + 1);
    int same = 1;
    for (int i = 0; i < N; i++) {
        void *got = NULL;
        size_t len = 0;
        if (af_trajstore_get(t, recs[i].iteration, recs[i].query_index, recs[i].sample, &got, &len) ||
            len != recs[i].len || memcmp(got, recs[i].bytes, len) != 0)
            same = 0;
        free(got);
    }
    CHECK(same);
    void *got = NULL;
    size_t len = 0;
    CHECK_EQ_INT(af_trajstore_get(t, 1000, 0, 0, &got, &len), 0);
    CHECK(len == big_len && big && memcmp(got, big, len) == 0);
    free(got);
    CHECK_EQ_INT(af_trajstore_get(t, 99, 0, 0, &got, &len), AF_ENOTFOUND);
    CHECK_STR_CONTAINS(af_error_detail(), "no trajectory 99:0:0");
    CHECK_EQ_INT(af_trajstore_put(t, 1, 1, 1, "x", 1), AF_ESTATE);
    af_trajstore_close(t);
    free(big);
    /* a second learner's shard; lookups search every shard */
    CHECK_EQ_INT(af_trajstore_open(dir, 1, 0, 0, &t), 0);
    CHECK_EQ_INT(af_trajstore_put(t, 5000, 1, 2, "shard1", 6), 0);
    af_trajstore_close(t);
    CHECK_EQ_INT(af_trajstore_find(dir, 5000, 1, 2, &got, &len), 0);
    CHECK(len == 6 && got && memcmp(got, "shard1", 6) == 0);
    free(got);
    CHECK_EQ_INT(af_trajstore_find(dir, recs[7].iteration, recs[7].query_index, recs[7].sample, &got, &len), 0);
    CHECK(len == recs[7].len && got && memcmp(got, recs[7].bytes, len) == 0);
    free(got);
    CHECK_EQ_INT(af_trajstore_find(dir, 5000, 9, 9, &got, &len), AF_ENOTFOUND);
    CHECK_STR_CONTAINS(af_error_detail(), "no trajectory 5000:9:9 in its 2 trajectory store shard(s); iteration 5000 has queries: 1");
    CHECK_EQ_INT(af_trajstore_find(dir, 1, 9, 9, &got, &len), AF_ENOTFOUND);
    CHECK_STR_CONTAINS(af_error_detail(), "iteration 1 has queries: 0 1 2");
    char none[300];
    run_dir(none, sizeof none, "no_traj_here");
    CHECK_EQ_INT(af_trajstore_find(none, 0, 0, 0, &got, &len), AF_ENOTFOUND);
    CHECK_STR_CONTAINS(af_error_detail(), "no trajectory store");
}

/* learner/resume.h: the log trimming and the configuration check of a resumed run. */
static void test_resume_helpers(void) {
    char dir[300], path[400];
    run_dir(dir, sizeof dir, "resume");
    rm_rf(dir);
    CHECK_EQ_INT(af_mkdir_p(dir), 0);
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    const char *text = "{\"iteration\": 0, \"x\": 1}\n{\"iteration\": 1}\nnot json\n{\"x\": 2}\n"
                       "{\"iteration\": 2}\n{\"iteration\": 3}\n{\"iteration\": 1.5e9}\n{\"iteration\": 1}";
    CHECK_EQ_INT(af_write_file_atomic(path, text, strlen(text)), 0);
    int kept = -1;
    CHECK_EQ_INT(af_resume_trim_jsonl(path, 2, &kept), 0);
    CHECK_EQ_INT(kept, 3);
    char *got = NULL;
    size_t len = 0;
    CHECK_EQ_INT(af_read_file(path, 1 << 20, &got, &len), 0);
    CHECK(got && strcmp(got, "{\"iteration\": 0, \"x\": 1}\n{\"iteration\": 1}\n{\"iteration\": 1}\n") == 0);
    free(got);
    snprintf(path, sizeof path, "%s/absent.jsonl", dir);
    CHECK_EQ_INT(af_resume_trim_jsonl(path, 2, &kept), 0);
    CHECK_EQ_INT(kept, 0);

    AfConfig a, b;
    af_config_defaults(&a);
    CHECK_EQ_INT(af_config_apply_set(&a, "modules.planner.backend=openai"), 0);
    char *json = af_config_to_json(&a, 0);
    CHECK(json != NULL);
    af_config_defaults(&b);
    CHECK_EQ_INT(af_config_apply_set(&b, "modules.planner.backend=openai"), 0);
    CHECK_EQ_INT(af_config_apply_set(&b, "run.iterations=999"), 0);   /* may change */
    CHECK_EQ_INT(af_config_apply_set(&b, "log.level=debug"), 0);       /* may change */
    CHECK_EQ_INT(af_config_apply_set(&b, "model.init_from=/x"), 0);    /* may change */
    CHECK_EQ_INT(af_resume_check_config(json, 8, &b), 0);
    CHECK_EQ_INT(af_config_apply_set(&b, "rollout.group_size=3"), 0);
    CHECK_EQ_INT(af_resume_check_config(json, 8, &b), AF_ECONFIG);
    CHECK_STR_CONTAINS(af_error_detail(), "resume: rollout.group_size is 3, the checkpoint of step 8 was written with");
    /* a string set through a longer intermediate value is still the same string */
    af_config_defaults(&b);
    CHECK_EQ_INT(af_config_apply_set(&b, "modules.planner.backend=openai"), 0);
    CHECK_EQ_INT(af_config_apply_set(&b, "modules.planner.model=a-long-intermediate-name"), 0);
    CHECK_EQ_INT(af_config_apply_set(&b, "modules.planner.model=\"\""), 0);
    CHECK_EQ_INT(af_resume_check_config(json, 8, &b), 0);
    CHECK_EQ_INT(af_resume_check_config("{\"run\": {\"nope\": 1}}", 8, &b), AF_ECONFIG);
    CHECK_STR_CONTAINS(af_error_detail(), "configuration stored with step 8");
    CHECK_EQ_INT(af_resume_check_config("", 8, &b), AF_ECONFIG);
    free(json);
}

/* ------------------------------------------------------------------ CLI helpers */

static int make_store(const char *dir) {
    Bufs a;
    if (bufs_create(&a)) return 1;
    save_steps(dir, &a, 3, 1, 3);
    fill(&a, 3);
    char ref[400];
    snprintf(ref, sizeof ref, "%s/reference", dir);
    int rc = af_model_save_dir(a.m, ref);
    bufs_destroy(&a);
    return rc || af_test_failures ? 1 : 0;
}

static int corrupt_latest(const char *dir) {
    Bufs a;
    if (bufs_create(&a)) return 1;
    int n = corrupt_tensor(dir, &a, 3, "model.norm.weight");
    bufs_destroy(&a);
    return n >= 1 ? 0 : 1;
}

/* ModelShape holds every AfModelConfig field (a Qwen3 / Llama-3 shape survives a save and
 * a load); a manifest written before fields 12-18 existed reads them as 0, their old
 * meaning, and a shape that leaves them 0 packs to the same bytes as before. */
static void test_shape_fields(void) {
    AfModelConfig c = small_cfg();
    c.head_dim = 6; /* not d_model / n_heads */
    c.qk_norm = 1;
    c.rope_llama3 = 1;
    c.rope_factor = 8.0f;
    c.rope_low_freq_factor = 1.0f;
    c.rope_high_freq_factor = 4.0f;
    c.rope_orig_max_pos = 32;
    Agentflow__ModelShape pb, *back = NULL;
    af_ckpt_shape_to_pb(&c, &pb);
    uint8_t buf[256];
    size_t n = agentflow__model_shape__pack(&pb, buf);
    back = agentflow__model_shape__unpack(NULL, n, buf);
    AfModelConfig d;
    CHECK(back && af_ckpt_shape_from_pb(back, &d) == 0 && memcmp(&c, &d, sizeof c) == 0);
    agentflow__model_shape__free_unpacked(back, NULL);
    /* an old writer's ModelShape: fields 1-11 only */
    Agentflow__ModelShape old;
    agentflow__model_shape__init(&old);
    old.vocab_size = 64, old.d_model = 32, old.n_layers = 2, old.n_heads = 4, old.n_kv_heads = 2, old.d_ff = 48;
    old.max_seq = 64, old.rope_theta = 10000.0f, old.rms_eps = 1e-5f, old.qkv_bias = 1;
    uint8_t ob[256], nb[256];
    size_t on = agentflow__model_shape__pack(&old, ob);
    back = agentflow__model_shape__unpack(NULL, on, ob);
    CHECK(back && af_ckpt_shape_from_pb(back, &d) == 0);
    CHECK(d.head_dim == 0 && d.qk_norm == 0 && d.rope_llama3 == 0 && d.rope_factor == 0.0f && d.rope_orig_max_pos == 0);
    CHECK(d.d_model == 32 && d.qkv_bias == 1 && af_model_config_validate(&d) == 0);
    af_ckpt_shape_to_pb(&d, &pb); /* and it packs back to the old bytes */
    size_t nn = agentflow__model_shape__pack(&pb, nb);
    CHECK(nn == on && memcmp(nb, ob, on) == 0);
    agentflow__model_shape__free_unpacked(back, NULL);
    /* a resume compares every field */
    AfModelConfig e = c;
    e.head_dim = 8;
    CHECK_EQ_INT(af_ckpt_compare_shape(3, &c, &e), AF_ECONFIG);
    CHECK_STR_CONTAINS(af_error_detail(), "model.head_dim: checkpoint step 3 has 6, the configuration 8");
    e = c;
    e.qk_norm = 0;
    CHECK_EQ_INT(af_ckpt_compare_shape(3, &c, &e), AF_ECONFIG);
    CHECK_STR_CONTAINS(af_error_detail(), "model.qk_norm");
    CHECK_EQ_INT(af_ckpt_compare_shape(3, &c, &c), 0);
    /* through the store: a Qwen3 / Llama-3 shaped model saves and loads */
    char dir[300];
    run_dir(dir, sizeof dir, "shape_fields");
    rm_rf(dir);
    AfModel *m = NULL;
    CHECK(af_model_create(&c, 0, 0, 0, &m) == 0);
    AfCkptOptions o = af_ckpt_options_default();
    AfCkptStore *st = NULL;
    CHECK_EQ_INT(af_ckpt_open(dir, &o, &st), 0);
    if (m && st) {
        float *z = calloc(m->n_params, sizeof(float));
        for (int t = 0; t < m->n_tensors; t++) /* the padding between tensors is not stored: it stays 0 */
            for (size_t i = 0; i < m->tensors[t].numel; i++) m->params[m->tensors[t].offset + i] = (float)i * 1e-3f;
        AfCkptSave sv = {.step = 1, .config_json = "{}", .shape = c, .tensors = m->tensors, .n_tensors = m->n_tensors,
                         .n_params = m->n_params, .params = m->params, .adam_m = z, .adam_v = z, .metrics_json = "{}"};
        CHECK_MSG(af_ckpt_save(st, &sv) == 0, "%s", af_error_detail());
        AfCkptMeta meta;
        float *p = calloc(m->n_params, sizeof(float));
        CHECK_EQ_INT(af_ckpt_load(st, 1, &c, m->n_params, p, NULL, NULL, NULL, &meta), 0);
        CHECK(memcmp(&meta.shape, &c, sizeof c) == 0);
        CHECK(memcmp(p, m->params, m->n_params * sizeof(float)) == 0);
        af_ckpt_meta_clear(&meta);
        CHECK_EQ_INT(af_ckpt_load(st, 1, &e, m->n_params, p, NULL, NULL, NULL, NULL), AF_ECONFIG);
        free(p);
        free(z);
    }
    af_ckpt_close(st);
    af_model_destroy(m);
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--make-store") == 0) return make_store(argv[2]);
    if (argc == 3 && strcmp(argv[1], "--corrupt") == 0) return corrupt_latest(argv[2]);
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(tmp_root, sizeof tmp_root, "%s/af_test_ckpt_%d", base, (int)getpid());
    rm_rf(tmp_root);
    test_round_trip();
    test_shape_fields();
    test_keep_last();
    test_corruption();
    test_bad_keys();
    test_truncated_and_garbage();
    test_map_full();
    test_write_failure();
    test_sigkill();
    test_export();
    test_trajstore();
    test_resume_helpers();
    if (!af_test_failures) rm_rf(tmp_root);
    TEST_MAIN_END();
}
