/* The Flow-GRPO learning rate per iteration (algo.lr, algo.lr_warmup, algo.lr_schedule,
 * algo.lr_min): a pure function of the iteration, so a resumed run continues on the same
 * schedule. The defaults (no warm-up, constant) give algo.lr at every iteration, which is
 * the schedule of the paper and of every run before these keys. */
#ifndef AF_LEARNER_LR_SCHEDULE_H
#define AF_LEARNER_LR_SCHEDULE_H

#include <stdint.h>

typedef enum { AF_LR_CONSTANT = 0, AF_LR_COSINE = 1 } AfLrShape;

typedef struct AfLrSchedule {
    double lr;         /* the peak learning rate (algo.lr), >= 0 */
    int64_t warmup;    /* iterations of linear warm-up, 0 = none */
    AfLrShape shape;   /* after the warm-up: constant, or cosine decay */
    double min_ratio;  /* cosine: the rate at `total` iterations as a fraction of lr, in [0, 1] */
    int64_t total;     /* cosine: the iteration count the decay spans (run.iterations) */
} AfLrSchedule;

/* The learning rate of iteration `it` (0-based):
 *   it < warmup:  lr * (it + 1) / warmup
 *   constant:     lr
 *   cosine:       lr * (min_ratio + (1 - min_ratio) * (1 + cos(pi * p)) / 2),
 *                 p = (it - warmup) / (total - warmup) clamped to [0, 1] (p = 1 when
 *                 total <= warmup).
 * Never fails; out-of-range fields are clamped (warmup < 0 as 0, min_ratio into [0, 1]). */
double af_lr_schedule_at(const AfLrSchedule *s, int64_t it);

#endif
