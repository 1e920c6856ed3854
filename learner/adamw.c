/* AdamW over flat buffers (see adamw.h). */
#include "learner/adamw.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/model.h"
#include "common/pool.h"

AfAdamWConfig af_adamw_config_default(void) {
    AfAdamWConfig c = {.lr = 1e-6f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f};
    return c;
}

int af_adamw_create(const AfAdamWConfig *cfg, size_t n, AfAdamW **out) {
    *out = NULL;
    if (!(cfg->lr >= 0) || !isfinite(cfg->lr))
        return af_error_set(AF_EINVAL, "adamw: lr must be >= 0, got %g", cfg->lr);
    if (!(cfg->beta1 >= 0 && cfg->beta1 < 1))
        return af_error_set(AF_EINVAL, "adamw: beta1 must be in [0, 1), got %g", cfg->beta1);
    if (!(cfg->beta2 >= 0 && cfg->beta2 < 1))
        return af_error_set(AF_EINVAL, "adamw: beta2 must be in [0, 1), got %g", cfg->beta2);
    if (!(cfg->eps > 0)) return af_error_set(AF_EINVAL, "adamw: eps must be > 0, got %g", cfg->eps);
    if (!(cfg->weight_decay >= 0) || !isfinite(cfg->weight_decay))
        return af_error_set(AF_EINVAL, "adamw: weight_decay must be >= 0, got %g", cfg->weight_decay);
    AfAdamW *o = calloc(1, sizeof *o);
    if (!o) return af_error_set(AF_ENOMEM, "adamw: out of memory");
    o->cfg = *cfg;
    o->n = n;
    size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    if (!bytes) bytes = 64;
    o->m = aligned_alloc(64, bytes);
    o->v = aligned_alloc(64, bytes);
    if (!o->m || !o->v) {
        af_adamw_destroy(o);
        return af_error_set(AF_ENOMEM, "adamw: out of memory for %zu moments", n);
    }
    memset(o->m, 0, bytes);
    memset(o->v, 0, bytes);
    *out = o;
    return 0;
}

void af_adamw_destroy(AfAdamW *o) {
    if (!o) return;
    af_pool_destroy(o->pool);
    free(o->m);
    free(o->v);
    free(o);
}

double af_grad_clip(float *grads, size_t n, double max_norm) {
    /* the squares (exact in double) summed in 8 lanes, lane l taking i = l mod 8 in order,
     * then the lanes in a fixed tree: vectorised, and the same bits on every run */
    double sl[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) sl[l] += (double)grads[i + l] * grads[i + l];
    for (int l = 0; i + (size_t)l < n; l++) sl[l] += (double)grads[i + l] * grads[i + l];
    double norm = sqrt(((sl[0] + sl[4]) + (sl[2] + sl[6])) + ((sl[1] + sl[5]) + (sl[3] + sl[7])));
    if (max_norm > 0 && norm > max_norm && isfinite(norm)) {
        float s = (float)(max_norm / (norm + 1e-6));
        for (size_t k = 0; k < n; k++) grads[k] *= s;
    }
    return norm;
}

/* Elements [lo, hi) of one step: each element's operations do not depend on the split. */
static void step_range(AfAdamW *o, float *params, const float *grads, size_t lo, size_t hi, float bc1, float bc2) {
    const float b1 = o->cfg.beta1, b2 = o->cfg.beta2, lr = o->cfg.lr, wd = o->cfg.weight_decay;
    const float eps = o->cfg.eps;
    float *m = o->m, *v = o->v;
    for (size_t i = lo; i < hi; i++) {
        float g = grads[i];
        m[i] = b1 * m[i] + (1.0f - b1) * g;
        v[i] = b2 * v[i] + (1.0f - b2) * g * g;
        float mh = m[i] / bc1, vh = v[i] / bc2;
        params[i] -= lr * (mh / (sqrtf(vh) + eps) + wd * params[i]);
    }
}

typedef struct {
    AfAdamW *o;
    float *params;
    const float *grads;
    float bc1, bc2;
} StepJob;

static void step_part(void *c, int tid, int nt) {
    const StepJob *j = c;
    size_t n = j->o->n, per = ((n + (size_t)nt - 1) / (size_t)nt + 15) / 16 * 16;
    size_t lo = per * (size_t)tid, hi = lo + per < n ? lo + per : n;
    if (lo < hi) step_range(j->o, j->params, j->grads, lo, hi, j->bc1, j->bc2);
}

void af_adamw_step(AfAdamW *o, float *params, const float *grads) {
    o->step++;
    StepJob j = {o, params, grads, (float)(1.0 - pow(o->cfg.beta1, (double)o->step)),
                 (float)(1.0 - pow(o->cfg.beta2, (double)o->step))};
    int nt = af_model_threads();
    if (nt > 1 && o->n >= ((size_t)1 << 16) && af_pool_threads(o->pool) != nt) {
        af_pool_destroy(o->pool);
        if (af_pool_create(nt, &o->pool)) o->pool = NULL; /* serially */
    }
    if (nt > 1 && o->n >= ((size_t)1 << 16) && o->pool)
        af_pool_run(o->pool, step_part, &j);
    else
        step_range(o, params, grads, 0, o->n, j.bc1, j.bc2);
}
