/* Model-backed planner: prefill the prompt, sample the action (see planner_model.h). */
#include "actor/planner_model.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "env/vocab.h"

typedef struct {
    const AfModel *model;
    AfDecode *dec;
    AfSampler sampler;
    int32_t *prompt; /* (max_seq) int32 copy of the prompt ids */
    uint64_t truncated;
} ModelPlanner;

static int check_sampler(const AfSampler *s) {
    if (!s || !(s->top_p > 0.0f && s->top_p <= 1.0f) || s->temperature != s->temperature)
        return af_error_set(AF_EINVAL, "model planner: sampler needs top_p in (0, 1] and a finite temperature");
    return 0;
}

static int model_act(AfPlanner *self, const AfPlannerInput *in, AfRng *rng, uint32_t *tokens, float *logprobs,
                     size_t max_tokens, size_t *n) {
    ModelPlanner *mp = self->ctx;
    const int max_seq = mp->model->cfg.max_seq;
    const uint32_t vocab = (uint32_t)mp->model->cfg.vocab_size;
    *n = 0;
    if (in->n_prompt == 0) return af_error_set(AF_EINVAL, "model planner: empty prompt");
    if (in->n_prompt >= (size_t)max_seq) { /* no room for even one token */
        mp->truncated++;
        return 0;
    }
    size_t budget = (size_t)max_seq - in->n_prompt;
    if (budget < max_tokens) mp->truncated++;
    else budget = max_tokens;
    for (size_t i = 0; i < in->n_prompt; i++) {
        if (in->prompt_tokens[i] >= vocab)
            return af_error_set(AF_EINVAL, "model planner: prompt token %zu is id %u, outside the model's vocabulary %u",
                                i, in->prompt_tokens[i], vocab);
        mp->prompt[i] = (int32_t)in->prompt_tokens[i];
    }
    af_decode_reset(mp->dec, 0);
    int rc = af_decode_prefill(mp->dec, 0, mp->prompt, (int)in->n_prompt);
    if (rc) return rc;
    const int slot = 0;
    for (size_t k = 0; k < budget; k++) {
        int32_t tok = 0;
        float lp = 0.0f;
        if (k + 1 < budget) rc = af_decode_step(mp->dec, 1, &slot, &mp->sampler, rng, &tok, &lp);
        else rc = af_decode_sample(mp->dec, slot, &mp->sampler, rng, &tok, &lp); /* last: no need to feed */
        if (rc) return rc;
        tokens[k] = (uint32_t)tok;
        logprobs[k] = lp;
        *n = k + 1;
        if ((uint32_t)tok == AF_TOK_EOS) break;
    }
    return 0;
}

static void model_destroy(AfPlanner *self) {
    ModelPlanner *mp = self->ctx;
    if (!mp) return;
    af_decode_destroy(mp->dec);
    free(mp->prompt);
    free(mp);
    self->ctx = NULL;
}

int af_planner_model_create(const AfModel *model, const AfSampler *s, AfPlanner **out) {
    *out = NULL;
    int rc = check_sampler(s);
    if (rc) return rc;
    AfPlanner *p = calloc(1, sizeof *p);
    ModelPlanner *mp = calloc(1, sizeof *mp);
    if (!p || !mp) goto nomem;
    mp->model = model;
    mp->sampler = *s;
    mp->prompt = malloc((size_t)model->cfg.max_seq * sizeof *mp->prompt);
    if (!mp->prompt) goto nomem;
    if ((rc = af_decode_create(model, 1, model->cfg.max_seq, &mp->dec))) goto fail;
    p->name = "model";
    p->context = (size_t)model->cfg.max_seq;
    p->temperature = s->temperature > 0.0f ? s->temperature : 1.0f;
    p->act = model_act;
    p->destroy = model_destroy;
    p->ctx = mp;
    *out = p;
    return 0;
nomem:
    rc = af_error_set(AF_ENOMEM, "model planner: out of memory");
fail:
    if (mp) {
        af_decode_destroy(mp->dec);
        free(mp->prompt);
    }
    free(mp);
    free(p);
    return rc;
}

int af_planner_model_set_sampler(AfPlanner *p, const AfSampler *s) {
    int rc = check_sampler(s);
    if (rc) return rc;
    ModelPlanner *mp = p->ctx;
    mp->sampler = *s;
    p->temperature = s->temperature > 0.0f ? s->temperature : 1.0f;
    return 0;
}

uint64_t af_planner_model_truncated(const AfPlanner *p) { return ((const ModelPlanner *)p->ctx)->truncated; }
