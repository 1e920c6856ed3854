/* Model-backed planner: prefill the prompt, sample the action (see planner_model.h). */
#include "actor/planner_model.h"

#include <stdlib.h>
#include <string.h>

#include "actor/text_planner.h"
#include "common/error.h"
#include "env/vocab.h"

typedef struct {
    const AfModel *model;
    AfDecode *dec;
    AfSampler sampler;
    int32_t *prompt; /* (max_seq) int32 copy of the prompt ids */
    uint64_t truncated;
    AfTextCodec *codec; /* owned; NULL: the suite vocabulary */
    AfBytes text;       /* the action decoded so far (stop strings) */
} ModelPlanner;

static int check_sampler(const AfSampler *s) {
    if (!s || !(s->top_p > 0.0f && s->top_p <= 1.0f) || s->temperature != s->temperature || s->top_k < 0)
        return af_error_set(AF_EINVAL, "model planner: sampler needs top_p in (0, 1], top_k >= 0 and a finite temperature");
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
    mp->text.len = 0;
    for (size_t k = 0; k < budget; k++) {
        int32_t tok = 0;
        float lp = 0.0f;
        if (k + 1 < budget) rc = af_decode_step(mp->dec, 1, &slot, &mp->sampler, rng, &tok, &lp);
        else rc = af_decode_sample(mp->dec, slot, &mp->sampler, rng, &tok, &lp); /* last: no need to feed */
        if (rc) return rc;
        tokens[k] = (uint32_t)tok;
        logprobs[k] = lp;
        *n = k + 1;
        if (!mp->codec) {
            if ((uint32_t)tok == AF_TOK_EOS) break;
            continue;
        }
        if (af_text_codec_is_eos(mp->codec, (uint32_t)tok)) break;
        if (af_text_codec_n_stop(mp->codec)) {
            size_t bl = 0, before = mp->text.len;
            const char *b = af_tokenizer_token_bytes(af_text_codec_tokenizer(mp->codec), (uint32_t)tok, &bl);
            if (b && (rc = af_bytes_append(&mp->text, b, bl))) return rc;
            if (af_text_codec_find_stop(mp->codec, mp->text.data, mp->text.len, before) >= 0) break;
        }
    }
    return 0;
}

static int text_prompt(AfPlanner *self, const AfSuite *suite, const char *question, const AfTurnRecord *turns,
                       size_t first, size_t n, size_t result_bytes, char **text, AfTokenIds *ids) {
    return af_text_prompt(((ModelPlanner *)self->ctx)->codec, suite, question, turns, first, n, result_bytes, text, ids);
}

static int text_read(AfPlanner *self, const uint32_t *ids, size_t n, char **text, AfAction *action, char *why,
                     size_t cap) {
    return af_text_read(((ModelPlanner *)self->ctx)->codec, ids, n, text, action, why, cap);
}

static void model_destroy(AfPlanner *self) {
    ModelPlanner *mp = self->ctx;
    if (!mp) return;
    af_decode_destroy(mp->dec);
    free(mp->prompt);
    af_text_codec_destroy(mp->codec);
    af_bytes_free(&mp->text);
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

int af_planner_model_create_text(const AfModel *model, const AfSampler *s, AfTextCodec *codec, AfPlanner **out) {
    *out = NULL;
    const uint32_t tv = af_tokenizer_vocab_size(af_text_codec_tokenizer(codec));
    if (tv > (uint32_t)model->cfg.vocab_size) {
        af_text_codec_destroy(codec);
        return af_error_set(AF_ECONFIG, "model planner: the tokenizer has %u ids, the model's vocabulary %d", tv,
                            model->cfg.vocab_size);
    }
    int rc = af_planner_model_create(model, s, out);
    if (rc) {
        af_text_codec_destroy(codec);
        return rc;
    }
    ModelPlanner *mp = (*out)->ctx;
    mp->codec = codec;
    (*out)->prompt = text_prompt;
    (*out)->read = text_read;
    return 0;
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
