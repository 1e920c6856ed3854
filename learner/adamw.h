/* AdamW (decoupled weight decay) and global gradient-norm clipping over the model's flat
 * buffers. The two moment buffers share the model's tensor table (same offsets), so a
 * checkpoint stores them tensor by tensor like the parameters. */
#ifndef AF_LEARNER_ADAMW_H
#define AF_LEARNER_ADAMW_H

#include <stddef.h>
#include <stdint.h>

typedef struct AfAdamWConfig {
    float lr;           /* learning rate (settable between steps: cfg.lr = ...) */
    float beta1, beta2; /* 0.9, 0.999 */
    float eps;          /* 1e-8 */
    float weight_decay; /* decoupled: p -= lr * wd * p, applied to every tensor */
} AfAdamWConfig;

typedef struct AfAdamW {
    AfAdamWConfig cfg;
    size_t n;        /* elements per buffer */
    float *m, *v;    /* (n) first and second moments, 64-byte aligned, owned */
    int64_t step;    /* steps taken (bias correction uses step after increment) */
    struct AfPool *pool; /* the step's threads (af_model_threads), or NULL */
} AfAdamW;

/* Defaults: lr 1e-6, betas (0.9, 0.999), eps 1e-8, weight decay 0.01. */
AfAdamWConfig af_adamw_config_default(void);

/* Allocate zeroed moments for `n` elements. Returns 0, AF_EINVAL (bad hyperparameter,
 * named), AF_ENOMEM. Caller owns *out. */
int af_adamw_create(const AfAdamWConfig *cfg, size_t n, AfAdamW **out);
void af_adamw_destroy(AfAdamW *o);

/* Global L2 norm of grads (squares summed in double in 8 fixed lanes, then a fixed tree:
 * the same bits on every run) and, if max_norm > 0
 * and the norm exceeds it, scale grads by max_norm / (norm + 1e-6). Returns the norm
 * before clipping (NaN/Inf propagate so the caller can skip the step). */
double af_grad_clip(float *grads, size_t n, double max_norm);

/* One AdamW step: p -= lr * (mhat / (sqrt(vhat) + eps) + wd * p). Split over the
 * learner's threads (af_model_threads: a pool the optimizer starts at its first step
 * after the setting changed) by element ranges: the same bits at every thread count. */
void af_adamw_step(AfAdamW *o, float *params, const float *grads);

#endif
