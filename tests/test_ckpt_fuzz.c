/* Checkpoint fuzzing (issue 20): a real store (four checkpoints written by af_ckpt_save,
 * three kept, with the reference planner) is damaged by single-bit flips and truncations
 * at seeded random offsets, and each damaged copy is run through the whole library path
 * in a forked child: a read-only open, list, verify of every step, latest-valid; then a
 * read-write open (which moves a damaged store aside and rebuilds it), latest-valid, a
 * load compared bit for bit with what that step held, a new save, and a read-only reopen
 * that verifies it. A case fails if the child dies by a signal, if any call fails where
 * it must not, or if a restored checkpoint differs by one bit.
 *
 *   test_ckpt_fuzz                 1,000 flips + 100 truncations, seed 20
 *   AF_FUZZ_SCALE=10 test_ckpt_fuzz   ten times as many (long mode)
 *   AF_FUZZ_SEED=N                 another seed
 *   AF_FUZZ_VERBOSE=1              say why each case without an intact checkpoint had none
 *
 * Flips land uniformly in the pages the last transaction uses (the file's preallocated
 * tail beyond them is never read); truncations cut uniformly in [0, that size]. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/model.h"
#include "learner/ckpt.h"
#include "learner/lmdb_check.h"
#include "tests/test_util.h"

#define N_STEPS 4
#define KEEP 3

static AfModelConfig tiny_cfg(void) {
    AfModelConfig c = af_model_config_default();
    c.vocab_size = 32;
    c.d_model = 16;
    c.n_layers = 1;
    c.n_heads = 2;
    c.n_kv_heads = 1;
    c.d_ff = 24;
    c.max_seq = 32;
    c.qkv_bias = 1;
    c.tied_embeddings = 0;
    return c;
}

static uint64_t splitmix(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Step s's buffers: kind 0 params, 1 adam_m, 2 adam_v, 3 reference (the same for all). */
static void fill(const AfModel *m, uint64_t step, int kind, float *dst) {
    memset(dst, 0, m->n_params * sizeof(float));
    uint64_t st = (kind == 3 ? 0 : step) * 1000003ULL + (uint64_t)kind;
    for (int t = 0; t < m->n_tensors; t++)
        for (size_t i = 0; i < m->tensors[t].numel; i++)
            dst[m->tensors[t].offset + i] = (float)((double)(splitmix(&st) >> 11) / 9007199254740992.0 - 0.5);
}

typedef struct Ctx {
    AfModel *m;
    float *buf[4], *got[4];
} Ctx;

static int save_step(AfCkptStore *st, Ctx *c, uint64_t step) {
    for (int k = 0; k < 4; k++) fill(c->m, step, k, c->buf[k]);
    AfCkptSave sv = {0};
    sv.step = step;
    sv.policy_version = step;
    sv.config_json = "{\"fuzz\":1}";
    sv.shape = c->m->cfg;
    sv.tensors = c->m->tensors;
    sv.n_tensors = c->m->n_tensors;
    sv.n_params = c->m->n_params;
    sv.params = c->buf[0];
    sv.adam_m = c->buf[1];
    sv.adam_v = c->buf[2];
    sv.ref_params = c->buf[3];
    sv.adam_step = step * 10;
    sv.metrics_json = "{\"iteration\":1}";
    return af_ckpt_save(st, &sv);
}

/* Outcomes a child reports through its exit status. */
enum { OK_LATEST = 0, OK_FALLBACK = 10, OK_NONE = 11, FAILED = 1 };

#define REQUIRE(cond, ...)                                                                       \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            fprintf(stderr, "  case %s: ", label);                                               \
            fprintf(stderr, __VA_ARGS__);                                                        \
            fprintf(stderr, " [%s]\n", af_error_detail());                                       \
            return FAILED;                                                                       \
        }                                                                                        \
    } while (0)

static int run_case(const char *run, Ctx *c, const char *label) {
    AfCkptOptions o = af_ckpt_options_default();
    o.keep_last = KEEP;
    AfCkptStore *st = NULL;
    uint64_t s = 0;
    /* read-only: every command's path; failures are fine, crashes are not */
    o.read_only = 1;
    int rc = af_ckpt_open(run, &o, &st);
    REQUIRE(rc == 0, "read-only open failed");
    AfCkptInfo *items = NULL;
    int n = 0;
    if (af_ckpt_list(st, &items, &n) == 0) {
        for (int i = 0; i < n; i++) af_ckpt_verify(st, items[i].meta.step, NULL);
        af_ckpt_list_free(items, n);
    }
    af_ckpt_latest(st, &s);
    af_ckpt_latest_valid(st, &s, NULL, 0);
    af_ckpt_close(st);

    /* read-write, as `train --resume=latest-valid` */
    o.read_only = 0;
    REQUIRE(af_ckpt_open(run, &o, &st) == 0, "read-write open failed");
    uint64_t latest_before = N_STEPS;
    char skipped[1024];
    rc = af_ckpt_latest_valid(st, &s, skipped, sizeof skipped);
    REQUIRE(rc == 0 || rc == AF_ENOTFOUND, "latest-valid: rc %d", rc);
    if (rc && getenv("AF_FUZZ_VERBOSE")) /* why nothing could be restored */
        printf("  case %s: none: %s | %.200s\n", label, af_ckpt_damage(st) ? "rebuilt" : "sound", skipped), fflush(stdout);
    int outcome = OK_NONE;
    if (rc == 0) {
        REQUIRE(s >= 1 && s <= N_STEPS, "latest-valid gave step %" PRIu64, s);
        AfCkptMeta meta;
        rc = af_ckpt_load(st, s, &c->m->cfg, c->m->n_params, c->got[0], c->got[1], c->got[2], c->got[3], &meta);
        REQUIRE(rc == 0, "load of the step latest-valid chose (%" PRIu64 ") failed", s);
        for (int k = 0; k < 4; k++) {
            fill(c->m, s, k, c->buf[k]);
            REQUIRE(memcmp(c->buf[k], c->got[k], c->m->n_params * sizeof(float)) == 0,
                    "step %" PRIu64 " buffer %d not bit-exact", s, k);
        }
        REQUIRE(meta.adam_step == s * 10 && meta.policy_version == s, "step %" PRIu64 " metadata differs", s);
        af_ckpt_meta_clear(&meta);
        outcome = s == latest_before ? OK_LATEST : OK_FALLBACK;
    }
    /* the resumed run goes on writing checkpoints */
    uint64_t next = rc == 0 ? s + 1 : 1;
    REQUIRE(save_step(st, c, next) == 0, "save of step %" PRIu64 " after the restore failed", next);
    af_ckpt_close(st);
    o.read_only = 1;
    REQUIRE(af_ckpt_open(run, &o, &st) == 0, "reopen failed");
    REQUIRE(af_ckpt_damage(st) == NULL, "the store written after the repair is damaged: %s", af_ckpt_damage(st));
    REQUIRE(af_ckpt_latest(st, &s) == 0 && s == next, "latest is not the new step %" PRIu64, next);
    REQUIRE(af_ckpt_verify(st, next, NULL) == 0, "the new step does not verify");
    af_ckpt_close(st);
    return outcome;
}

static int write_bytes(const char *path, const uint8_t *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(p, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw) {
    (void)sb;
    (void)type;
    (void)ftw;
    return remove(path);
}

static void rm_rf(const char *path) {
    struct stat sb;
    if (stat(path, &sb) == 0 && nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf(stderr, "removing %s failed\n", path);
}

int main(void) {
    const char *scale_s = getenv("AF_FUZZ_SCALE"), *seed_s = getenv("AF_FUZZ_SEED");
    int scale = scale_s ? atoi(scale_s) : 1;
    if (scale < 1) scale = 1;
    uint64_t seed = seed_s ? strtoull(seed_s, NULL, 10) : 20;
    int n_flip = 1000 * scale, n_trunc = 100 * scale;

    /* a tmpfs makes the per-case fdatasync cheap */
    char base[256];
    struct stat sb;
    const char *root = stat("/dev/shm", &sb) == 0 && access("/dev/shm", W_OK) == 0 ? "/dev/shm"
                       : getenv("TMPDIR")                                              ? getenv("TMPDIR")
                                                                                       : "/tmp";
    snprintf(base, sizeof base, "%s/af_ckpt_fuzz_%d", root, (int)getpid());
    rm_rf(base);
    char pristine[300], run[300], data[500];
    snprintf(pristine, sizeof pristine, "%s/pristine", base);
    snprintf(run, sizeof run, "%s/case", base);

    Ctx c = {0};
    AfModelConfig cfg = tiny_cfg();
    CHECK(af_model_create(&cfg, 0, 0, 0, &c.m) == 0);
    for (int k = 0; k < 4; k++) {
        c.buf[k] = malloc(c.m->n_params * sizeof(float));
        c.got[k] = malloc(c.m->n_params * sizeof(float));
        CHECK(c.buf[k] && c.got[k]);
    }
    AfCkptOptions o = af_ckpt_options_default();
    o.keep_last = KEEP;
    AfCkptStore *st = NULL;
    CHECK(af_ckpt_open(pristine, &o, &st) == 0);
    for (uint64_t s = 1; s <= N_STEPS; s++) CHECK_MSG(save_step(st, &c, s) == 0, "%s", af_error_detail());
    af_ckpt_close(st);
    snprintf(data, sizeof data, "%s/ckpt.lmdb/data.mdb", pristine);
    AfLmdbCheck chk;
    CHECK_EQ_INT(af_lmdb_check(data, 0, &chk), 0);
    size_t used = (size_t)(chk.last_pgno + 1) * chk.page_size;
    uint8_t *img = malloc(used);
    FILE *f = fopen(data, "rb");
    CHECK(img && f && fread(img, 1, used, f) == used);
    if (f) fclose(f);
    printf("store: %zu bytes in use (%" PRIu64 " pages), %d flips + %d truncations, seed %" PRIu64 ", in %s\n", used,
           chk.last_pgno + 1, n_flip, n_trunc, seed, root);

    /* a sound copy comes back whole: the harness itself can tell a good case */
    int counts[3] = {0, 0, 0}, failures = 0, signals = 0;
    time_t t0 = time(NULL);
    uint64_t rng = seed;
    for (int i = -1; i < n_flip + n_trunc; i++) {
        char label[96];
        uint64_t off = 0;
        size_t len = used;
        int bit = 0;
        if (i >= n_flip) {
            len = (size_t)(splitmix(&rng) % (used + 1));
            snprintf(label, sizeof label, "%d (truncated to %zu bytes)", i, len);
        } else if (i >= 0) {
            off = splitmix(&rng) % used;
            bit = (int)(splitmix(&rng) % 8);
            snprintf(label, sizeof label, "%d (bit %d of byte %" PRIu64 ")", i, bit, off);
        } else
            snprintf(label, sizeof label, "sound copy");
        rm_rf(run);
        char dir[400];
        snprintf(dir, sizeof dir, "%s/ckpt.lmdb", run);
        if (mkdir(run, 0755) || mkdir(dir, 0755)) {
            CHECK_MSG(0, "mkdir %s: %s", dir, strerror(errno));
            break;
        }
        if (i >= 0 && i < n_flip) img[off] ^= (uint8_t)(1u << bit);
        snprintf(data, sizeof data, "%s/data.mdb", dir);
        int wrc = write_bytes(data, img, len);
        if (i >= 0 && i < n_flip) img[off] ^= (uint8_t)(1u << bit);
        CHECK(wrc == 0);
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            af_error_clear();
            _exit(run_case(run, &c, label));
        }
        int status = 0;
        CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
        if (WIFSIGNALED(status)) {
            fprintf(stderr, "  case %s: killed by signal %d\n", label, WTERMSIG(status));
            signals++;
            failures++;
        } else if (!WIFEXITED(status) || WEXITSTATUS(status) == FAILED) {
            failures++;
        } else {
            int e = WEXITSTATUS(status);
            counts[e == OK_LATEST ? 0 : e == OK_FALLBACK ? 1 : 2]++;
            if (i < 0) CHECK_MSG(e == OK_LATEST, "the sound copy did not restore its latest step");
        }
    }
    printf("cases: %d restored the latest step, %d fell back to an older intact one, %d had none; "
           "%d failed (%d by a signal); %lds\n",
           counts[0], counts[1], counts[2], failures, signals, (long)(time(NULL) - t0));
    CHECK_EQ_INT(failures, 0);
    /* the damage must have been real: some cases lost the latest step */
    CHECK(counts[1] + counts[2] > 0);
    rm_rf(base);
    for (int k = 0; k < 4; k++) {
        free(c.buf[k]);
        free(c.got[k]);
    }
    free(img);
    af_model_destroy(c.m);
    TEST_MAIN_END();
}
