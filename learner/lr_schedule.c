/* The Flow-GRPO learning-rate schedule (see lr_schedule.h). */
#include "learner/lr_schedule.h"

#include <math.h>

double af_lr_schedule_at(const AfLrSchedule *s, int64_t it) {
    const int64_t w = s->warmup > 0 ? s->warmup : 0;
    if (it < 0) it = 0;
    if (it < w) return s->lr * (double)(it + 1) / (double)w;
    if (s->shape != AF_LR_COSINE) return s->lr;
    const double r = s->min_ratio < 0 ? 0 : s->min_ratio > 1 ? 1 : s->min_ratio;
    double p = s->total > w ? (double)(it - w) / (double)(s->total - w) : 1.0;
    if (p > 1) p = 1;
    return s->lr * (r + (1.0 - r) * 0.5 * (1.0 + cos(M_PI * p)));
}
