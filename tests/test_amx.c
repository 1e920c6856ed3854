/* AMX-BF16 tile products of the decoder (common/amx.h), by the mode AF_AMX selects:
 *  - always: af_amx_pack's layout, element by element (block o/16, chunk k/32, then
 *    [(k%32)/2][o%16][k%2], zero-padded), on a matrix with output and k tails;
 *  - AF_AMX=emulate (the scalar model of the tile instructions): af_amx_matmul gives, bit
 *    for bit, an independent loop in the Intel SDM's order (per output: k chunks of 32 in
 *    order, in each the pairs in order, even then odd product, bf16 denormals read as 0,
 *    denormal sums flushed, then the bias), on shapes with row groups of 16 and a
 *    remainder, output groups of 64 and blocks of 16 with tails, k tails (mod 32, odd
 *    in), row strides beyond `in`, output strides beyond `out`, a product starting at an
 *    output block other than the first, with and without a bias, and on denormal inputs;
 *  - AF_AMX=on on a CPU with AMX-BF16 (else skipped, exit 77): the tile unit's products
 *    are batch-invariant bit for bit (each row alone, and at other positions in other
 *    batches, and output ranges split at other blocks, give the bits of the whole
 *    product), and within the fp32 accumulation bound of a double-precision sum of the
 *    bf16 products and of af_matmul_inv_bf16 (vdpbf16ps). */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/amx.h"
#include "common/bf16.h"
#include "common/kernels.h"
#include "test_util.h"

static uint64_t g_state = 88172645463325252ull;
static float frand(float lo, float hi) {
    g_state ^= g_state << 13, g_state ^= g_state >> 7, g_state ^= g_state << 17;
    return lo + (hi - lo) * (float)((g_state >> 40) * (1.0 / 16777216.0));
}

static uint16_t bf16_one(void) { return 0x3f80; }

static float daz(uint16_t h) { return af_bf16_to_f32((h & 0x7f80u) ? h : (uint16_t)(h & 0x8000u)); }
static float ftz(float r) { return fabsf(r) < FLT_MIN ? copysignf(0.0f, r) : r; }

/* The SDM order for one output (x and w bf16 rows of `in`). */
static float sdm_dot(const uint16_t *x, const uint16_t *w, int in) {
    float acc = 0.0f;
    for (int k0 = 0; k0 < in; k0 += 32)
        for (int p = 0; p < 16; p++)
            for (int e = 0; e < 2; e++) {
                int k = k0 + 2 * p + e;
                float xv = k < in ? daz(x[k]) : 0.0f, wv = k < in ? daz(w[k]) : 0.0f;
                acc = ftz(fmaf(xv, wv, acc));
            }
    return acc;
}

typedef struct {
    int rows, in, out, ldx, ldy, o0, bias;
} Shape;

static const Shape shapes[] = {
    {1, 32, 16, 32, 16, 0, 0},     {1, 896 / 8, 64, 112, 64, 0, 1}, {8, 64, 130, 70, 131, 0, 1},
    {16, 96, 64, 96, 64, 0, 0},    {17, 40, 65, 41, 65, 0, 1},      {33, 17, 17, 17, 20, 0, 1},
    {3, 1, 5, 1, 5, 0, 0},         {9, 33, 100, 40, 100, 16, 1},    {5, 128, 200, 128, 210, 48, 0},
    {16, 160, 256, 160, 256, 64, 1},
};
#define NSHAPES (int)(sizeof shapes / sizeof shapes[0])

/* Random bf16 data for a shape; the weights as fp32 exactly representable in bf16 (so
 * af_amx_pack's rounding keeps them), also returned as bf16 rows. */
typedef struct {
    uint16_t *x, *wb, *wp;
    float *w, *b;
    int out_all; /* rows of the whole matrix (o0 + out) */
} Data;

static void make(const Shape *s, Data *d) {
    d->out_all = s->o0 + s->out;
    d->x = calloc((size_t)s->rows * s->ldx, sizeof(uint16_t));
    d->w = malloc(sizeof(float) * (size_t)d->out_all * s->in);
    d->wb = malloc(sizeof(uint16_t) * (size_t)d->out_all * s->in);
    d->wp = malloc(sizeof(uint16_t) * af_amx_packed_elems(s->in, d->out_all));
    d->b = malloc(sizeof(float) * (size_t)d->out_all);
    for (int r = 0; r < s->rows; r++)
        for (int k = 0; k < s->ldx; k++) /* past `in`: large values the product must not read */
            d->x[(size_t)r * s->ldx + k] = af_f32_to_bf16(k < s->in ? frand(-2, 2) : 1e30f);
    for (size_t i = 0; i < (size_t)d->out_all * s->in; i++) {
        d->wb[i] = af_f32_to_bf16(frand(-0.1f, 0.1f));
        d->w[i] = af_bf16_to_f32(d->wb[i]);
    }
    for (int o = 0; o < d->out_all; o++) d->b[o] = frand(-1, 1);
    af_amx_pack(d->wp, d->w, s->in, d->out_all);
}

static void release(Data *d) { free(d->x), free(d->w), free(d->wb), free(d->wp), free(d->b); }

/* The product of a shape's rows r0..r0+n and outputs o0+q0..o0+q1 (q0 a multiple of 16)
 * into y (stride ldy, y[0] = that first row's first output). */
static void product(const Shape *s, const Data *d, float *y, int r0, int n, int q0, int q1) {
    const int oa = s->o0 + q0;
    af_amx_matmul(y, s->ldy, d->x + (size_t)r0 * s->ldx, s->ldx, d->wp + af_amx_packed_elems(s->in, oa),
                  s->bias ? d->b + oa : NULL, n, s->in, q1 - q0);
}

static void check_pack(void) {
    const int in = 45, out = 21;
    float *w = malloc(sizeof(float) * in * out);
    for (int i = 0; i < in * out; i++) w[i] = frand(-1, 1);
    CHECK_EQ_INT(af_amx_packed_elems(in, out), 2 * 2 * 512);
    CHECK_EQ_INT(af_amx_packed_elems(64, 16), 2 * 512);
    size_t n = af_amx_packed_elems(in, out), bad = 0;
    uint16_t *wp = malloc(sizeof(uint16_t) * n);
    memset(wp, 0xff, sizeof(uint16_t) * n);
    af_amx_pack(wp, w, in, out);
    for (int ob = 0; ob < 2; ob++)
        for (int kc = 0; kc < 2; kc++)
            for (int p = 0; p < 16; p++)
                for (int j = 0; j < 16; j++)
                    for (int e = 0; e < 2; e++) {
                        int o = ob * 16 + j, k = kc * 32 + 2 * p + e;
                        uint16_t want = o < out && k < in ? af_f32_to_bf16(w[o * in + k]) : 0;
                        bad += wp[((size_t)(ob * 2 + kc) * 16 * 16 + p * 16 + j) * 2 + e] != want;
                    }
    CHECK_MSG(bad == 0, "af_amx_pack: %zu of %zu elements misplaced", bad, n);
    free(w), free(wp);
}

/* Emulation: the bits of the SDM loop. */
static void check_emulated(void) {
    size_t diff = 0, total = 0;
    for (int si = 0; si < NSHAPES; si++) {
        const Shape *s = &shapes[si];
        Data d;
        make(s, &d);
        float *y = malloc(sizeof(float) * (size_t)s->rows * s->ldy);
        product(s, &d, y, 0, s->rows, 0, s->out);
        for (int r = 0; r < s->rows; r++)
            for (int o = 0; o < s->out; o++) {
                int oa = s->o0 + o;
                float want = sdm_dot(d.x + (size_t)r * s->ldx, d.wb + (size_t)oa * s->in, s->in);
                if (s->bias) want += d.b[oa];
                float got = y[(size_t)r * s->ldy + o];
                total++;
                if (memcmp(&want, &got, sizeof want)) {
                    if (!diff) fprintf(stderr, "shape %d row %d out %d: %.9g vs SDM %.9g\n", si, r, o, got, want);
                    diff++;
                }
            }
        free(y);
        release(&d);
    }
    CHECK_MSG(diff == 0, "emulated tiles: %zu of %zu outputs differ from the SDM loop", diff, total);
    /* denormals: inputs read as 0, a denormal sum flushed; the bias then added */
    {
        uint16_t x[2] = {0x0005 /* denormal */, bf16_one()}, wb[2] = {bf16_one(), 0x0080 /* 2^-126 */};
        float w[2] = {af_bf16_to_f32(wb[0]), af_bf16_to_f32(wb[1])}, y = -1;
        uint16_t wp[512];
        af_amx_pack(wp, w, 2, 1);
        af_amx_matmul(&y, 1, x, 2, wp, NULL, 1, 2, 1);
        CHECK_MSG(y == 0x1p-126f, "denormal x read as 0: %g", y);
        x[1] = af_f32_to_bf16(0.5f); /* 2^-127: a denormal sum, flushed */
        af_amx_matmul(&y, 1, x, 2, wp, NULL, 1, 2, 1);
        CHECK_MSG(y == 0.0f, "denormal sum flushed: %g", y);
    }
    printf("emulated tiles: %zu outputs of %d shapes, the SDM loop's bits\n", total, NSHAPES);
}

/* The tile unit: batch invariance and accuracy. */
static void check_tiles(void) {
    size_t moved = 0, far = 0, total = 0;
    double worst = 0;
    for (int si = 0; si < NSHAPES; si++) {
        const Shape *s = &shapes[si];
        Data d;
        make(s, &d);
        float *y = malloc(sizeof(float) * (size_t)s->rows * s->ldy), *z = malloc(sizeof(float) * (size_t)s->rows * s->ldy);
        float *v = malloc(sizeof(float) * (size_t)s->rows * s->out);
        product(s, &d, y, 0, s->rows, 0, s->out);
        /* each row alone, with every output */
        for (int r = 0; r < s->rows; r++) {
            product(s, &d, z, r, 1, 0, s->out);
            moved += memcmp(z, y + (size_t)r * s->ldy, sizeof(float) * s->out) != 0;
        }
        /* rows 1.. as a batch of their own (other positions in the row groups), outputs
         * split after the first block */
        if (s->rows > 1) {
            product(s, &d, z, 1, s->rows - 1, 0, s->out);
            for (int r = 1; r < s->rows; r++)
                moved += memcmp(z + (size_t)(r - 1) * s->ldy, y + (size_t)r * s->ldy, sizeof(float) * s->out) != 0;
        }
        if (s->out > 16) {
            product(s, &d, z, 0, s->rows, 16, s->out);
            for (int r = 0; r < s->rows; r++)
                moved += memcmp(z + (size_t)r * s->ldy, y + (size_t)r * s->ldy + 16, sizeof(float) * (s->out - 16)) != 0;
        }
        /* against double precision and against vdpbf16ps (af_matmul_inv_bf16) */
        af_matmul_inv_bf16(v, s->out, d.x, s->ldx, d.wb + (size_t)s->o0 * s->in, s->in, s->bias ? d.b + s->o0 : NULL,
                           s->rows, s->in, s->out);
        for (int r = 0; r < s->rows; r++)
            for (int o = 0; o < s->out; o++) {
                const uint16_t *xr = d.x + (size_t)r * s->ldx, *wr = d.wb + (size_t)(s->o0 + o) * s->in;
                double ref = s->bias ? d.b[s->o0 + o] : 0, mag = fabs(ref);
                for (int k = 0; k < s->in; k++) {
                    double p = (double)af_bf16_to_f32(xr[k]) * af_bf16_to_f32(wr[k]);
                    ref += p, mag += fabs(p);
                }
                const double tol = (s->in + 2) * 0x1p-23 * mag + 1e-30, got = y[(size_t)r * s->ldy + o];
                worst = fmax(worst, fabs(got - ref) / (mag + 1e-30));
                far += fabs(got - ref) > tol || fabs(got - v[(size_t)r * s->out + o]) > 2 * tol;
                total++;
            }
        free(y), free(z), free(v);
        release(&d);
    }
    CHECK_MSG(moved == 0, "AMX tiles: %zu row products changed with the batch or the output split", moved);
    CHECK_MSG(far == 0, "AMX tiles: %zu of %zu outputs beyond the fp32 accumulation bound", far, total);
    printf("AMX tiles: %zu outputs batch-invariant, worst error %.3g of the sum of |products|\n", total, worst);
}

int main(void) {
    check_pack();
    AfAmxMode mode = af_amx_mode();
    const char *env = getenv("AF_AMX");
    if (env && !strcmp(env, "emulate")) CHECK_EQ_INT(mode, AF_AMX_EMULATE);
    if (!af_amx_cpu_has()) CHECK(mode != AF_AMX_TILES);
    if (mode == AF_AMX_EMULATE) check_emulated();
    else if (mode == AF_AMX_TILES) check_tiles();
    else {
        fprintf(stderr, "AF_AMX=%s: no tile products on this CPU (AMX-BF16 in CPUID: %d): skipped\n",
                env ? env : "(unset)", af_amx_cpu_has());
        return af_test_failures ? 1 : 77;
    }
    TEST_MAIN_END();
}
