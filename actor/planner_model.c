/* Model-backed planner: prefill the prompt, sample the action (see planner_model.h). */
#include "actor/planner_model.h"

#include <stdlib.h>
#include <string.h>

#include "actor/text_planner.h"
#include "common/error.h"
#include "common/kernels.h"
#include "env/vocab.h"

typedef struct {
    const AfModel *model;
    AfDecode *dec;
    AfSampler sampler;
    uint64_t truncated;
    AfTextCodec *codec; /* owned; NULL: the suite vocabulary */
    /* One decoder slot per episode of a group (af_planner_model_set_group; 1 for act).
     * Per slot: the tokens its cache holds, so that the next turn's prompt reuses the
     * longest prefix it shares with them. Per request (<= group): the rest. */
    int group;
    int32_t *held;      /* (group, max_seq) the tokens each slot's cache holds */
    int *held_len;      /* (group) */
    int32_t *gprompt;   /* (group, max_seq) each request's prompt as int32 */
    const int32_t **gptr; /* (group) prompt suffixes for af_decode_prefill_many */
    int *glen, *gslot, *gidx, *gstep, *gstart; /* (group) */
    size_t *gbudget, *gk;              /* (group) */
    AfRng *grng, *srng;                /* (group) the episodes' streams; those of one step */
    AfSampler *gsamp;                  /* (group) the samplers of one step (each request's mask) */
    int32_t *gtok, *stok;              /* (group) each episode's last token; those of one step */
    float *glp, *slp;                  /* (group) their log-probs */
    AfBytes *gtext;                    /* (group) each action decoded so far (stop strings) */
    int *fslot;                        /* (group) the forced (exploring) requests fed this step */
    int32_t *ftok;                     /* (group) their tokens */
    int constrain;      /* af_planner_model_set_constrain: actions drawn among the suite's valid ones */
    AfPlannerModelStats stats;
    uint64_t version;   /* of the weights in the decoder's bf16 copy; AF_PLANNER_WEIGHTS_NEW: unknown */
} ModelPlanner;

static int check_sampler(const AfSampler *s) {
    if (!s || !(s->top_p > 0.0f && s->top_p <= 1.0f) || s->temperature != s->temperature || s->top_k < 0)
        return af_error_set(AF_EINVAL, "model planner: sampler needs top_p in (0, 1], top_k >= 0 and a finite temperature");
    return 0;
}

/* Whether token tok ends the action: the suite vocabulary's AF_TOK_EOS, or in text one of
 * the tokenizer's end-of-sequence ids or a stop string completed in *text (the action
 * decoded so far, which tok's bytes extend). Returns 0 or AF_ENOMEM. */
static int ends_action(ModelPlanner *mp, AfBytes *text, int32_t tok, int *stop) {
    *stop = 0;
    if (!mp->codec) {
        *stop = (uint32_t)tok == AF_TOK_EOS;
        return 0;
    }
    if (af_text_codec_is_eos(mp->codec, (uint32_t)tok)) {
        *stop = 1;
        return 0;
    }
    if (af_text_codec_n_stop(mp->codec)) {
        size_t bl = 0, before = text->len;
        const char *b = af_tokenizer_token_bytes(af_text_codec_tokenizer(mp->codec), (uint32_t)tok, &bl);
        int rc;
        if (b && (rc = af_bytes_append(text, b, bl))) return rc;
        *stop = af_text_codec_find_stop(mp->codec, text->data, text->len, before) >= 0;
    }
    return 0;
}

/* A request's valid actions as token sequences (the suite vocabulary's, each ending in
 * AF_TOK_EOS, cut at the budget) and which of them the tokens drawn so far still begin:
 * the tokens it may draw next are those the live sequences have there. */
typedef struct {
    uint32_t *tok; /* (n, width) */
    size_t *len;   /* (n) */
    uint8_t *live; /* (n) */
    uint8_t *allow; /* (vocab) the mask of the current position */
    const uint8_t *cur; /* allow, or NULL where the position had none */
    size_t n, width;
} Constraint;

static void constraint_free(Constraint *c) {
    free(c->tok);
    free(c->len);
    free(c->live);
    free(c->allow);
    memset(c, 0, sizeof *c);
}

static void constraints_free(Constraint *con, size_t n) {
    if (!con) return;
    for (size_t i = 0; i < n; i++) constraint_free(&con[i]);
    free(con);
}

/* c from the suite's actions of in's state; c->n = 0 (no constraint) where the suite lists
 * none. Returns 0 or an error (c freed). */
static int constraint_build(const AfPlannerInput *in, size_t width, uint32_t vocab, Constraint *c) {
    memset(c, 0, sizeof *c);
    char **acts = NULL;
    size_t na = 0;
    int rc = in->suite->ops->actions(in->suite, in->item, in->memory, in->n_memory, &acts, &na);
    if (rc || na == 0) return rc;
    c->tok = malloc(na * width * sizeof *c->tok);
    c->len = malloc(na * sizeof *c->len);
    c->live = malloc(na);
    c->allow = malloc(vocab);
    if (!c->tok || !c->len || !c->live || !c->allow) {
        af_suite_actions_free(acts, na);
        constraint_free(c);
        return af_error_set(AF_ENOMEM, "model planner: %zu valid actions", na);
    }
    c->n = na;
    c->width = width;
    for (size_t a = 0; a < na; a++) {
        af_planner_encode_action(in->suite->vocab, acts[a], c->tok + a * width, width, &c->len[a]);
        c->live[a] = 1;
    }
    af_suite_actions_free(acts, na);
    return 0;
}

/* The mask of position k (the tokens the live sequences have there), or NULL when none
 * has one (no constraint: an action past every valid one). */
static const uint8_t *constraint_mask(Constraint *c, size_t k, uint32_t vocab) {
    c->cur = NULL;
    if (!c->n) return NULL;
    int any = 0;
    memset(c->allow, 0, vocab);
    for (size_t a = 0; a < c->n; a++)
        if (c->live[a] && k < c->len[a] && c->tok[a * c->width + k] < vocab) {
            c->allow[c->tok[a * c->width + k]] = 1;
            any = 1;
        }
    return c->cur = any ? c->allow : NULL;
}

/* The mask the last token was drawn under as bits (AgentflowTurn.action_allow) into out
 * ((vocab + 7) / 8 bytes): every token where the position had none. */
static void constraint_bits(const Constraint *c, uint32_t vocab, uint8_t *out) {
    const size_t nb = af_mask_bytes(vocab);
    if (!c->cur) {
        memset(out, 0xff, nb);
        return;
    }
    memset(out, 0, nb);
    for (uint32_t j = 0; j < vocab; j++)
        if (c->cur[j]) out[j >> 3] |= (uint8_t)(1u << (j & 7));
}

/* Token t drawn at position k: the sequences that do not have it there are no longer live. */
static void constraint_advance(Constraint *c, size_t k, uint32_t t) {
    for (size_t a = 0; a < c->n; a++)
        if (c->live[a] && (k >= c->len[a] || c->tok[a * c->width + k] != t)) c->live[a] = 0;
}

/* The turns of n requests, request i in decoder slot slots[i] (distinct, < group): each
 * prompt's longest prefix already in its slot is kept, the longest prefix all the prompts
 * share is prefilled once and copied to the slots that lack it, the rest of every prompt
 * is prefilled together, then one af_decode_step per token over the requests still
 * writing (the last token of a budget is sampled, not fed). Every per-slot result is the
 * decoder's batch-invariant one, so each request gets the bits of a whole prefill and
 * decode on its own. On an error no rng has moved and the slots are emptied. */
static int decode_turns(ModelPlanner *mp, size_t n, const AfPlannerInput *in, const size_t *slots, AfRng *const *rngs,
                        uint32_t *const *tokens, float *const *logprobs, size_t max_tokens, size_t *n_out) {
    const int max_seq = mp->model->cfg.max_seq;
    const uint32_t vocab = (uint32_t)mp->model->cfg.vocab_size;
    if (n > (size_t)mp->group) return af_error_set(AF_EINVAL, "model planner: %zu episodes, %d slots", n, mp->group);
    uint64_t truncated = 0;
    int na = 0, rc = 0;
    for (size_t i = 0; i < n; i++) {
        n_out[i] = 0;
        mp->gbudget[i] = 0;
        AF_ASSERT(slots[i] < (size_t)mp->group);
        if (in[i].n_prompt == 0) return af_error_set(AF_EINVAL, "model planner: empty prompt");
        if (in[i].n_prompt >= (size_t)max_seq) { /* no room for even one token */
            truncated++;
            continue;
        }
        size_t budget = (size_t)max_seq - in[i].n_prompt;
        if (budget < max_tokens) truncated++;
        else budget = max_tokens;
        int32_t *p = mp->gprompt + i * (size_t)max_seq;
        for (size_t j = 0; j < in[i].n_prompt; j++) {
            if (in[i].prompt_tokens[j] >= vocab)
                return af_error_set(AF_EINVAL, "model planner: prompt token %zu is id %u, outside the model's vocabulary %u",
                                    j, in[i].prompt_tokens[j], vocab);
            p[j] = (int32_t)in[i].prompt_tokens[j];
        }
        if (in[i].forced && in[i].n_forced == 0) return af_error_set(AF_EINVAL, "model planner: an empty forced action");
        mp->gbudget[i] = budget;
        mp->gk[i] = 0;
        mp->gtext[i].len = 0;
        mp->grng[i] = *rngs[i];
        mp->gidx[na++] = (int)i;
    }
    /* constrained decoding: each sampled request's valid actions, before anything moves */
    Constraint *con = NULL;
    if (mp->constrain && na > 0) {
        if (!(con = calloc(n, sizeof *con))) return af_error_set(AF_ENOMEM, "model planner: constraints of %zu", n);
        for (int a = 0; a < na && rc == 0; a++) {
            const int i = mp->gidx[a];
            if (!in[i].forced) rc = constraint_build(&in[i], mp->gbudget[i], vocab, &con[i]);
        }
        if (rc) {
            constraints_free(con, n);
            return rc;
        }
    }
    /* what each slot keeps (each prompt keeps at least its last token to prefill: its
     * row gives the logits), and the prefix all the prompts share */
    int src = -1;
    size_t shared = 0;
    for (int a = 0; a < na; a++) {
        const int i = mp->gidx[a], s = (int)slots[i];
        const int32_t *h = mp->held + (size_t)s * max_seq, *p = mp->gprompt + (size_t)i * max_seq;
        /* only a later turn of an episode keeps its slot's cache: the weights do not change
         * within an episode, and may have changed since any earlier act */
        size_t l = 0, lim = in[i].n_prompt - 1 < (size_t)mp->held_len[s] ? in[i].n_prompt - 1 : (size_t)mp->held_len[s];
        if (in[i].turn == 0) lim = 0;
        while (l < lim && h[l] == p[l]) l++;
        mp->gstart[a] = (int)l;
        if (src < 0 || l > (size_t)mp->gstart[src]) src = a;
        if (a == 0) shared = in[i].n_prompt - 1;
        else {
            const int32_t *q = mp->gprompt + (size_t)mp->gidx[0] * max_seq;
            size_t m = 0, ml = in[i].n_prompt - 1 < shared ? in[i].n_prompt - 1 : shared;
            while (m < ml && q[m] == p[m]) m++;
            shared = m;
        }
    }
    if (na < 2) shared = 0;
    for (int a = 0; a < na; a++) mp->held_len[slots[mp->gidx[a]]] = 0; /* until this act succeeds */
    if (src >= 0) { /* the slot that keeps the most holds the shared prefix first */
        const int i = mp->gidx[src], s = (int)slots[i];
        rc = af_decode_truncate(mp->dec, s, mp->gstart[src]);
        if (rc == 0 && shared > (size_t)mp->gstart[src]) {
            rc = af_decode_prefill(mp->dec, s, mp->gprompt + (size_t)i * max_seq + mp->gstart[src],
                                   (int)shared - mp->gstart[src]);
            mp->gstart[src] = (int)shared;
        }
    }
    for (int a = 0; a < na && rc == 0; a++) {
        const int i = mp->gidx[a], s = (int)slots[i];
        mp->stats.reused_tokens += (uint64_t)mp->gstart[a];
        if (a == src) continue;
        if (shared > (size_t)mp->gstart[a]) {
            rc = af_decode_copy_prefix(mp->dec, s, (int)slots[mp->gidx[src]], (int)shared);
            mp->stats.shared_tokens += (uint64_t)(shared - (size_t)mp->gstart[a]);
            mp->stats.reused_tokens += (uint64_t)(shared - (size_t)mp->gstart[a]);
            mp->gstart[a] = (int)shared;
        } else {
            rc = af_decode_truncate(mp->dec, s, mp->gstart[a]);
        }
    }
    for (int a = 0; a < na; a++) {
        const int i = mp->gidx[a];
        mp->gslot[a] = (int)slots[i];
        mp->gptr[a] = mp->gprompt + (size_t)i * max_seq + mp->gstart[a];
        mp->glen[a] = (int)in[i].n_prompt - mp->gstart[a];
        mp->stats.prefilled_tokens += (uint64_t)mp->glen[a];
    }
    if (rc == 0 && na > 0) rc = af_decode_prefill_many(mp->dec, na, mp->gslot, mp->gptr, mp->glen);
    /* A forced (exploring) request writes its given tokens, each scored from the logits
     * before it is fed, and draws nothing; it ends at its end of action, at the budget, or
     * when its tokens run out (an action cut at max_tokens). */
    const float temp = mp->sampler.temperature;
    int left = na;
    while (rc == 0 && left > 0) {
        int ns = 0, nf = 0;
        for (int a = 0; a < left && rc == 0; a++) {
            const int i = mp->gidx[a], s = (int)slots[i];
            const int more = mp->gk[i] + 1 < mp->gbudget[i];
            if (in[i].forced) {
                mp->gtok[i] = (int32_t)in[i].forced[mp->gk[i]];
                rc = af_decode_score(mp->dec, s, temp, mp->gtok[i], &mp->glp[i]);
                if (more && mp->gk[i] + 1 < in[i].n_forced) {
                    mp->fslot[nf] = s;
                    mp->ftok[nf++] = mp->gtok[i];
                }
            } else if (more) {
                mp->gsamp[ns] = mp->sampler;
                if (con) mp->gsamp[ns].allow = constraint_mask(&con[i], mp->gk[i], vocab);
                mp->gstep[ns] = s;
                mp->srng[ns++] = mp->grng[i];
            } else {
                AfSampler last = mp->sampler;
                if (con) last.allow = constraint_mask(&con[i], mp->gk[i], vocab);
                rc = af_decode_sample(mp->dec, s, &last, &mp->grng[i], &mp->gtok[i], &mp->glp[i]);
            }
        }
        if (rc == 0 && ns > 0) rc = af_decode_step(mp->dec, ns, mp->gstep, mp->gsamp, mp->srng, mp->stok, mp->slp);
        if (rc == 0 && nf > 0) rc = af_decode_feed(mp->dec, nf, mp->fslot, mp->ftok);
        if (rc) break;
        mp->stats.steps++;
        int kept = 0;
        for (int a = 0, j = 0; a < left; a++) {
            const int i = mp->gidx[a];
            if (!in[i].forced && mp->gk[i] + 1 < mp->gbudget[i]) { /* stepped: the step's order is the list's */
                mp->grng[i] = mp->srng[j];
                mp->gtok[i] = mp->stok[j];
                mp->glp[i] = mp->slp[j++];
            }
            const size_t k = mp->gk[i]++;
            if (con && con[i].n) {
                if (in[i].allow_out) constraint_bits(&con[i], vocab, in[i].allow_out + k * af_mask_bytes(vocab));
                constraint_advance(&con[i], k, (uint32_t)mp->gtok[i]);
            }
            tokens[i][k] = (uint32_t)mp->gtok[i];
            logprobs[i][k] = mp->glp[i];
            int stop = 0;
            if ((rc = ends_action(mp, &mp->gtext[i], mp->gtok[i], &stop))) break;
            if (in[i].forced && mp->gk[i] >= in[i].n_forced) stop = 1;
            if (!stop && mp->gk[i] < mp->gbudget[i]) mp->gidx[kept++] = i;
        }
        left = kept;
    }
    if (rc) {
        for (size_t i = 0; i < n; i++) {
            n_out[i] = 0;
            af_decode_reset(mp->dec, (int)slots[i]);
            mp->held_len[slots[i]] = 0;
        }
        constraints_free(con, n);
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        if (!mp->gbudget[i]) continue;
        const int s = (int)slots[i], len = af_decode_len(mp->dec, s);
        int32_t *h = mp->held + (size_t)s * max_seq;
        memcpy(h, mp->gprompt + i * (size_t)max_seq, in[i].n_prompt * sizeof *h);
        for (size_t k = in[i].n_prompt; k < (size_t)len; k++) h[k] = (int32_t)tokens[i][k - in[i].n_prompt];
        mp->held_len[s] = len;
        n_out[i] = mp->gk[i];
        *rngs[i] = mp->grng[i];
        if (con && con[i].n && in[i].allow_written) *in[i].allow_written = 1;
    }
    mp->truncated += truncated;
    constraints_free(con, n);
    return 0;
}

static int model_act(AfPlanner *self, const AfPlannerInput *in, AfRng *rng, uint32_t *tokens, float *logprobs,
                     size_t max_tokens, size_t *n) {
    const size_t slot = 0;
    return decode_turns(self->ctx, 1, in, &slot, &rng, &tokens, &logprobs, max_tokens, n);
}

static int model_act_group(AfPlanner *self, size_t n, const AfPlannerInput *in, const size_t *slots, AfRng *const *rngs,
                           uint32_t *const *tokens, float *const *logprobs, size_t max_tokens, size_t *n_out) {
    return decode_turns(self->ctx, n, in, slots, rngs, tokens, logprobs, max_tokens, n_out);
}

static int text_prompt(AfPlanner *self, const AfSuite *suite, const char *question, const AfTurnRecord *turns,
                       size_t first, size_t n, size_t result_bytes, char **text, AfTokenIds *ids) {
    return af_text_prompt(((ModelPlanner *)self->ctx)->codec, suite, question, turns, first, n, result_bytes, text, ids);
}

static int model_encode_action(AfPlanner *self, const AfSuite *suite, const char *action, uint32_t *tokens,
                               size_t max_tokens, size_t *n) {
    ModelPlanner *mp = self->ctx;
    *n = 0;
    if (max_tokens == 0) return af_error_set(AF_EINVAL, "model planner: no room for an action");
    if (!mp->codec) { /* the suite vocabulary: as the reference planners write it */
        af_planner_encode_action(suite->vocab, action, tokens, max_tokens, n);
        return 0;
    }
    AfTokenIds ids = {0};
    int rc = af_text_action_ids(mp->codec, action, &ids);
    if (rc) return rc;
    const size_t k = ids.n < max_tokens ? ids.n : max_tokens;
    memcpy(tokens, ids.ids, k * sizeof *tokens);
    *n = k;
    af_token_ids_free(&ids);
    return 0;
}

static int text_read(AfPlanner *self, const uint32_t *ids, size_t n, char **text, AfAction *action, char *why,
                     size_t cap) {
    return af_text_read(((ModelPlanner *)self->ctx)->codec, ids, n, text, action, why, cap);
}

/* The per-slot and per-request buffers of a group of n. */
typedef struct {
    int32_t *held, *gprompt;
    const int32_t **gptr;
    int *held_len, *glen, *gslot, *gidx, *gstep, *gstart;
    size_t *gbudget, *gk;
    AfRng *grng, *srng;
    AfSampler *gsamp;
    int32_t *gtok, *stok;
    float *glp, *slp;
    AfBytes *gtext;
    int *fslot;
    int32_t *ftok;
} GroupBufs;

static void bufs_free(GroupBufs *g, int n) {
    if (g->gtext)
        for (int i = 0; i < n; i++) af_bytes_free(&g->gtext[i]);
    void *ps[] = {g->held, g->gprompt, g->gptr, g->held_len, g->glen, g->gslot, g->gidx, g->gstep, g->gstart,
                  g->gbudget, g->gk, g->grng, g->srng, g->gsamp, g->gtok, g->stok, g->glp, g->slp, g->gtext,
                  g->fslot, g->ftok};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) free(ps[i]);
    memset(g, 0, sizeof *g);
}

static int bufs_alloc(GroupBufs *g, int n, int max_seq) {
    const size_t G = (size_t)n, T = (size_t)max_seq;
    memset(g, 0, sizeof *g);
    g->held = malloc(G * T * sizeof *g->held);
    g->gprompt = malloc(G * T * sizeof *g->gprompt);
    g->gptr = calloc(G, sizeof *g->gptr);
    g->held_len = calloc(G, sizeof *g->held_len);
    g->glen = calloc(G, sizeof *g->glen);
    g->gslot = calloc(G, sizeof *g->gslot);
    g->gidx = calloc(G, sizeof *g->gidx);
    g->gstep = calloc(G, sizeof *g->gstep);
    g->gstart = calloc(G, sizeof *g->gstart);
    g->gbudget = calloc(G, sizeof *g->gbudget);
    g->gk = calloc(G, sizeof *g->gk);
    g->grng = calloc(G, sizeof *g->grng);
    g->srng = calloc(G, sizeof *g->srng);
    g->gsamp = calloc(G, sizeof *g->gsamp);
    g->gtok = calloc(G, sizeof *g->gtok);
    g->stok = calloc(G, sizeof *g->stok);
    g->glp = calloc(G, sizeof *g->glp);
    g->slp = calloc(G, sizeof *g->slp);
    g->gtext = calloc(G, sizeof *g->gtext);
    g->fslot = calloc(G, sizeof *g->fslot);
    g->ftok = calloc(G, sizeof *g->ftok);
    if (!g->held || !g->gprompt || !g->gptr || !g->held_len || !g->glen || !g->gslot || !g->gidx || !g->gstep ||
        !g->gstart || !g->gbudget || !g->gk || !g->grng || !g->srng || !g->gsamp || !g->gtok || !g->stok || !g->glp ||
        !g->slp || !g->gtext || !g->fslot || !g->ftok) {
        bufs_free(g, n);
        return af_error_set(AF_ENOMEM, "model planner: buffers of a group of %d", n);
    }
    return 0;
}

static void bufs_get(const ModelPlanner *mp, GroupBufs *g) {
    *g = (GroupBufs){mp->held, mp->gprompt, mp->gptr, mp->held_len, mp->glen, mp->gslot, mp->gidx, mp->gstep,
                     mp->gstart, mp->gbudget, mp->gk, mp->grng, mp->srng, mp->gsamp, mp->gtok, mp->stok, mp->glp,
                     mp->slp, mp->gtext, mp->fslot, mp->ftok};
}

static void bufs_set(ModelPlanner *mp, const GroupBufs *g) {
    mp->held = g->held, mp->gprompt = g->gprompt, mp->gptr = g->gptr, mp->held_len = g->held_len;
    mp->glen = g->glen, mp->gslot = g->gslot, mp->gidx = g->gidx, mp->gstep = g->gstep, mp->gstart = g->gstart;
    mp->gbudget = g->gbudget, mp->gk = g->gk, mp->grng = g->grng, mp->srng = g->srng, mp->gsamp = g->gsamp;
    mp->gtok = g->gtok, mp->stok = g->stok, mp->glp = g->glp, mp->slp = g->slp, mp->gtext = g->gtext;
    mp->fslot = g->fslot, mp->ftok = g->ftok;
}

/* A decoder and buffers for n slots, replacing the planner's (left as they were on an
 * error). */
static int group_make(ModelPlanner *mp, int n) {
    AfDecode *dec = NULL;
    GroupBufs g, old;
    int rc = af_decode_create(mp->model, n, mp->model->cfg.max_seq, &dec);
    if (rc) return rc;
    if ((rc = bufs_alloc(&g, n, mp->model->cfg.max_seq))) {
        af_decode_destroy(dec);
        return rc;
    }
    if (mp->dec && af_decode_dtype(mp->dec) != AF_DECODE_FP32) { /* the new decoder keeps the dtype */
        if ((rc = af_decode_set_dtype(dec, af_decode_dtype(mp->dec)))) {
            bufs_free(&g, n);
            af_decode_destroy(dec);
            return rc;
        }
        mp->version = AF_PLANNER_WEIGHTS_NEW; /* its copy is of the current weights */
    }
    bufs_get(mp, &old);
    bufs_free(&old, mp->group);
    af_decode_destroy(mp->dec);
    bufs_set(mp, &g);
    mp->dec = dec;
    mp->group = n;
    return 0;
}

static void model_destroy(AfPlanner *self) {
    ModelPlanner *mp = self->ctx;
    if (!mp) return;
    GroupBufs g;
    bufs_get(mp, &g);
    bufs_free(&g, mp->group);
    af_decode_destroy(mp->dec);
    af_text_codec_destroy(mp->codec);
    free(mp);
    self->ctx = NULL;
}

int af_planner_model_create(const AfModel *model, const AfSampler *s, AfPlanner **out) {
    *out = NULL;
    int rc = check_sampler(s);
    if (rc) return rc;
    AfPlanner *p = calloc(1, sizeof *p);
    ModelPlanner *mp = calloc(1, sizeof *mp);
    if (!p || !mp) {
        free(p);
        free(mp);
        return af_error_set(AF_ENOMEM, "model planner: out of memory");
    }
    mp->model = model;
    mp->sampler = *s;
    mp->version = AF_PLANNER_WEIGHTS_NEW;
    if ((rc = group_make(mp, 1))) {
        free(mp);
        free(p);
        return rc;
    }
    p->name = "model";
    p->context = (size_t)model->cfg.max_seq;
    p->temperature = s->temperature > 0.0f ? s->temperature : 1.0f;
    p->act = model_act;
    p->encode_action = model_encode_action;
    p->destroy = model_destroy;
    p->ctx = mp;
    *out = p;
    return 0;
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

int af_planner_model_set_constrain(AfPlanner *p, const AfSuite *suite, int on) {
    ModelPlanner *mp = p->ctx;
    if (on && mp->codec)
        return af_error_set(AF_ECONFIG, "rollout.constrain_actions: a planner in text (a model directory with a "
                                        "tokenizer.json) writes free text; only the suite vocabulary's planner is constrained");
    if (on && (!suite || !af_suite_lists_actions(suite)))
        return af_error_set(AF_ECONFIG, "rollout.constrain_actions: suite %s cannot list its valid actions (game24 "
                                        "and countdown can)", suite ? suite->name : "(none)");
    mp->constrain = on != 0;
    p->allow_stride = on ? af_mask_bytes((size_t)mp->model->cfg.vocab_size) : 0;
    return 0;
}

int af_planner_model_set_dtype(AfPlanner *p, AfDecodeDtype dtype) {
    ModelPlanner *mp = p->ctx;
    mp->version = AF_PLANNER_WEIGHTS_NEW; /* the copy is of the current weights, version unknown */
    return af_decode_set_dtype(mp->dec, dtype);
}

AfDecodeDtype af_planner_model_dtype(const AfPlanner *p) { return af_decode_dtype(((const ModelPlanner *)p->ctx)->dec); }

int af_planner_model_weights(AfPlanner *p, uint64_t version) {
    ModelPlanner *mp = p->ctx;
    if (af_decode_dtype(mp->dec) != AF_DECODE_BF16) return 0;
    if (version == mp->version && version != AF_PLANNER_WEIGHTS_NEW) return 0;
    mp->version = version;
    return af_decode_sync_weights(mp->dec);
}

uint64_t af_planner_model_truncated(const AfPlanner *p) { return ((const ModelPlanner *)p->ctx)->truncated; }

int af_planner_model_set_group(AfPlanner *p, int n) {
    ModelPlanner *mp = p->ctx;
    if (n < 1 || n > AF_PLANNER_MODEL_MAX_GROUP)
        return af_error_set(AF_EINVAL, "model planner: a group of %d episodes (1..%d)", n, AF_PLANNER_MODEL_MAX_GROUP);
    int rc = group_make(mp, n);
    if (rc) return rc;
    p->act_group = n > 1 ? model_act_group : NULL;
    p->group = n > 1 ? (size_t)n : 0;
    return 0;
}

void af_planner_model_stats(const AfPlanner *p, AfPlannerModelStats *out) { *out = ((const ModelPlanner *)p->ctx)->stats; }
