/* Flow-GRPO learner step: advantages, per-turn samples, reference log-probs, PPO epochs
 * over mini-batches with a gradient allreduce (see update.h). */
#include "learner/update.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/kernels.h"
#include "common/traj.h"
#include "common/mpi_env.h"

typedef struct {
    int seq_off, seq_len; /* into u->tok: prompt followed by action (memory policy), or the
                             whole transcript (monolithic policy) */
    int act_off, n_act;   /* into the per-action-token arrays */
    int traj;             /* running trajectory id (adjacent samples share it) */
    int mb;               /* mini-batch */
    float adv;
} Sample;

typedef struct {
    int first, n;         /* samples [first, first + n) */
} Chunk;

struct AfUpdate {
    AfUpdateConfig cfg;
    AfModel *policy, *ref;
    AfAdamW *opt;
    MPI_Comm comm;
    int n_learners;

    Sample *s;
    int n_s, cap_s;
    Chunk *ch;
    int n_ch, cap_ch;
    int32_t *tok;
    int n_tok, cap_tok;
    const uint8_t **lmask; /* (cap_tok) per token: its constrained-decoding mask (a turn's action_allow) or NULL */
    int n_masked;          /* tokens of the batch with a mask */
    float *old, *refl, *newl, *dact; /* per action token */
    float *enta, *dent;              /* per action token: new entropy, dL/dH (algo.entropy_coef) */
    int *apos;                       /* per action token: its position in its sample's sequence */
    int n_act, cap_act;
    int *tok_off, *traj_id;          /* per chunk sample (cap_s + 1) */
    float *adv;
    int cap_tk;
    double *mb_counts;               /* 2 per mini-batch: trajectories, tokens */
    int cap_mb;

    /* per model batch (model capacity) */
    float *logp, *ent, *dlogp, *dentp; /* dentp: dL/dH per position */
    uint8_t *need; /* (policy max_tokens) the action positions of a chunk (af_model_forward_need) */
    int *seq_start;
    /* per group */
    float *g_rew, *g_adv;
    uint8_t *g_status, *g_use;
    int *g_turns;
    uint32_t cap_g;
};

static int grow(void **p, int *cap, int need, size_t elem) {
    if (need <= *cap) return 0;
    int n = *cap ? *cap : 64;
    while (n < need) n *= 2;
    void *q = realloc(*p, (size_t)n * elem);
    if (!q) return af_error_set(AF_ENOMEM, "learner step: out of memory (%d elements)", n);
    *p = q;
    *cap = n;
    return 0;
}

int af_update_create(const AfUpdateConfig *cfg, AfModel *policy, AfModel *ref, AfAdamW *opt, MPI_Comm learners,
                     AfUpdate **out) {
    *out = NULL;
    if (!cfg || !policy || !opt) return af_error_set(AF_EINVAL, "af_update_create: NULL argument");
    if (!policy->grads || policy->max_tokens <= 0)
        return af_error_set(AF_EINVAL, "learner step: the policy needs gradients and a learner batch capacity");
    if (cfg->ppo_epochs < 1) return af_error_set(AF_EINVAL, "learner step: algo.ppo_epochs must be >= 1");
    if (cfg->minibatch_queries < 0) return af_error_set(AF_EINVAL, "learner step: algo.minibatch must be >= 0");
    if (!(cfg->temperature > 0.0f)) return af_error_set(AF_EINVAL, "learner step: temperature must be > 0");
    if (cfg->loss.kl_coef != 0.0 && !ref)
        return af_error_set(AF_EINVAL, "learner step: algo.kl_coef > 0 needs the reference planner");
    if (ref && (ref->n_params != policy->n_params || ref->max_tokens < policy->max_tokens ||
                ref->max_seqs < policy->max_seqs))
        return af_error_set(AF_EINVAL, "learner step: the reference planner's shape or capacity differs from the policy's");
    if (opt->n != policy->n_params) return af_error_set(AF_EINVAL, "learner step: optimizer size differs from the policy");
    if (!(cfg->entropy_target >= 0.0 && cfg->entropy_coef_lr >= 0.0))
        return af_error_set(AF_EINVAL, "learner step: algo.entropy_target and algo.entropy_coef_lr must be >= 0");
    AfUpdate *u = calloc(1, sizeof *u);
    if (!u) return af_error_set(AF_ENOMEM, "learner step");
    u->cfg = *cfg;
    u->policy = policy;
    u->ref = ref;
    u->opt = opt;
    u->comm = learners;
    int rc = af_mpi_check(MPI_Comm_size(learners, &u->n_learners), "MPI_Comm_size(learners)");
    if (rc) goto fail;
    size_t cap = (size_t)policy->max_tokens;
    u->logp = malloc(cap * sizeof *u->logp);
    u->ent = malloc(cap * sizeof *u->ent);
    u->dlogp = malloc(cap * sizeof *u->dlogp);
    u->need = calloc(cap, 1);
    u->dentp = malloc(cap * sizeof *u->dentp);
    u->seq_start = malloc(((size_t)policy->max_seqs + 1) * sizeof *u->seq_start);
    if (!u->logp || !u->ent || !u->dlogp || !u->need || !u->dentp || !u->seq_start) {
        rc = af_error_set(AF_ENOMEM, "learner step buffers");
        goto fail;
    }
    *out = u;
    return 0;
fail:
    af_update_destroy(u);
    return rc;
}

void af_update_destroy(AfUpdate *u) {
    if (!u) return;
    free(u->s), free(u->ch), free(u->tok), free(u->lmask), free(u->old), free(u->refl), free(u->newl), free(u->dact), free(u->apos);
    free(u->enta), free(u->dent), free(u->dentp);
    free(u->tok_off), free(u->traj_id), free(u->adv), free(u->mb_counts);
    free(u->logp), free(u->ent), free(u->dlogp), free(u->need), free(u->seq_start);
    free(u->g_rew), free(u->g_adv), free(u->g_status), free(u->g_use), free(u->g_turns);
    free(u);
}

/* Room for n_tok more tokens, n_act more action tokens and one more sample. */
static int reserve(AfUpdate *u, int n_tok, int n_act) {
    int rc, cap = u->cap_tok;
    if ((rc = grow((void **)&u->s, &u->cap_s, u->n_s + 1, sizeof *u->s)) ||
        (rc = grow((void **)&u->lmask, &cap, u->n_tok + n_tok, sizeof *u->lmask)) ||
        (rc = grow((void **)&u->tok, &u->cap_tok, u->n_tok + n_tok, sizeof *u->tok)))
        return rc;
    if (u->n_act + n_act > u->cap_act) {
        float **f[] = {&u->old, &u->refl, &u->newl, &u->dact, &u->enta, &u->dent};
        for (size_t i = 0; i < sizeof f / sizeof *f; i++) {
            cap = u->cap_act;
            if ((rc = grow((void **)f[i], &cap, u->n_act + n_act, sizeof(float)))) return rc;
        }
        cap = u->cap_act;
        if ((rc = grow((void **)&u->apos, &cap, u->n_act + n_act, sizeof(int)))) return rc;
        u->cap_act = cap;
    }
    return 0;
}

static int push_tokens(AfUpdate *u, const Agentflow__Trajectory *t, size_t k, const char *what, const uint32_t *ids,
                       int n) {
    const int vocab = u->policy->cfg.vocab_size;
    for (int i = 0; i < n; i++) {
        if (ids[i] >= (uint32_t)vocab)
            return af_error_set(AF_EINVAL, "trajectory (query %u, sample %u) turn %zu: %s token id %u >= vocabulary %d",
                                t->query_index, t->sample_index, k, what, ids[i], vocab);
        u->lmask[u->n_tok] = NULL;
        u->tok[u->n_tok++] = (int32_t)ids[i];
    }
    return 0;
}

/* The action tokens of turn k (at position pos of the sample's sequence, the last sample
 * pushed) with their behaviour log-probs, and their constrained-decoding masks. */
static int push_action(AfUpdate *u, const Agentflow__Trajectory *t, size_t k, int pos) {
    const Agentflow__Turn *tu = t->turns[k];
    if (tu->n_behaviour_logprobs != tu->n_action_tokens)
        return af_error_set(AF_EINVAL, "trajectory (query %u, sample %u) turn %zu: %zu behaviour log-probs for %zu action tokens",
                            t->query_index, t->sample_index, k, tu->n_behaviour_logprobs, tu->n_action_tokens);
    if (tu->action_allow.len) { /* the masked softmax it was drawn from is the one trained */
        const uint32_t vocab = (uint32_t)u->policy->cfg.vocab_size;
        const size_t stride = af_mask_bytes(vocab);
        const int at = u->s[u->n_s - 1].seq_off + pos;
        size_t bad = 0;
        switch (af_traj_turn_masks_check(tu, vocab, &bad)) {
        case 1:
            return af_error_set(AF_EINVAL, "trajectory (query %u, sample %u) turn %zu: action_allow has %zu bytes for %zu "
                                           "action tokens of %zu bytes each", t->query_index, t->sample_index, k,
                                tu->action_allow.len, tu->n_action_tokens, stride);
        case 2:
            return af_error_set(AF_EINVAL, "trajectory (query %u, sample %u) turn %zu: action token %zu (id %u) is "
                                           "masked by its own action_allow", t->query_index, t->sample_index, k, bad,
                                tu->action_tokens[bad]);
        }
        for (size_t i = 0; i < tu->n_action_tokens; i++) u->lmask[at + (int)i] = tu->action_allow.data + i * stride;
        u->n_masked += (int)tu->n_action_tokens;
    }
    for (size_t i = 0; i < tu->n_action_tokens; i++) {
        float b = tu->behaviour_logprobs[i];
        if (!isfinite(b) || b > 0.0f)
            return af_error_set(AF_EINVAL, "trajectory (query %u, sample %u) turn %zu: behaviour log-prob %g is not a log-probability",
                                t->query_index, t->sample_index, k, (double)b);
        u->apos[u->n_act] = pos + (int)i;
        u->old[u->n_act++] = b;
    }
    return 0;
}

static Sample *new_sample(AfUpdate *u, int seq_len, int traj, int mb, float adv) {
    Sample *s = &u->s[u->n_s++];
    *s = (Sample){.seq_off = u->n_tok, .seq_len = seq_len, .act_off = u->n_act, .traj = traj, .mb = mb, .adv = adv};
    return s;
}

/* Memory policy: one sample per usable turn of trajectory t, its prompt then its action
 * (advantage: traj_adv broadcast to the turn; mini-batch mb). */
static int add_turns(AfUpdate *u, const Agentflow__Trajectory *t, int traj, int mb, const AfAdvOptions *adv_opt,
                     float traj_adv, AfUpdateStats *st) {
    int rc;
    const int last_try = t->n_turns ? (int)t->turns[t->n_turns - 1]->try_index : 0;
    for (size_t k = 0; k < t->n_turns; k++) {
        const Agentflow__Turn *tu = t->turns[k];
        int np = (int)tu->n_prompt_tokens, na = (int)tu->n_action_tokens;
        if (na == 0 || np == 0 || np + na > u->policy->cfg.max_seq) {
            if (st) st->skipped_samples++;
            continue;
        }
        if ((rc = reserve(u, np + na, na))) return rc;
        Sample *s = new_sample(u, np + na, traj, mb,
                               adv_opt ? af_grpo_explored_advantage(
                                             adv_opt,
                                             af_grpo_turn_advantage(adv_opt, traj_adv, (int)k, (int)t->n_turns,
                                                                    (int)tu->try_index, last_try),
                                             tu->explored)
                                       : 0.0f);
        if ((rc = push_tokens(u, t, k, "prompt", tu->prompt_tokens, np)) ||
            (rc = push_tokens(u, t, k, "action", tu->action_tokens, na)) || (rc = push_action(u, t, k, np)))
            return rc;
        s->n_act = na;
        if (st) {
            st->samples++;
            st->action_tokens += na;
            st->learner_tokens += np + na;
        }
    }
    return 0;
}

/* Monolithic policy: the whole trajectory is one sample, the last turn's prompt + action,
 * in which every turn's prompt + action must be a prefix (the actor builds it so); the
 * loss covers every turn's action tokens as one response. A trajectory that is not such a
 * transcript, has no action token or is longer than the model is skipped and counted. */
static int add_transcript(AfUpdate *u, const Agentflow__Trajectory *t, int traj, int mb, float adv,
                          AfUpdateStats *st) {
    if (t->n_turns == 0) return 0;
    const Agentflow__Turn *last = t->turns[t->n_turns - 1];
    const size_t len = last->n_prompt_tokens + last->n_action_tokens;
    size_t na = 0;
    int ok = len > 0 && len <= (size_t)u->policy->cfg.max_seq;
    for (size_t k = 0; ok && k < t->n_turns; k++) {
        const Agentflow__Turn *tu = t->turns[k];
        const size_t np = tu->n_prompt_tokens, lp = last->n_prompt_tokens;
        if (k + 1 < t->n_turns) /* this turn's prompt and action inside the last prompt, before the next action */
            ok = np > 0 && np + tu->n_action_tokens <= t->turns[k + 1]->n_prompt_tokens &&
                 np + tu->n_action_tokens <= lp && !memcmp(tu->prompt_tokens, last->prompt_tokens, np * sizeof(uint32_t)) &&
                 !memcmp(tu->action_tokens, last->prompt_tokens + np, tu->n_action_tokens * sizeof(uint32_t));
        else
            ok = np > 0;
        na += tu->n_action_tokens;
    }
    if (!ok || na == 0) {
        if (st) st->skipped_samples++;
        return 0;
    }
    int rc = reserve(u, (int)len, (int)na);
    if (rc) return rc;
    Sample *s = new_sample(u, (int)len, traj, mb, adv);
    if ((rc = push_tokens(u, t, t->n_turns - 1, "prompt", last->prompt_tokens, (int)last->n_prompt_tokens)) ||
        (rc = push_tokens(u, t, t->n_turns - 1, "action", last->action_tokens, (int)last->n_action_tokens)))
        return rc;
    for (size_t k = 0; k < t->n_turns; k++)
        if ((rc = push_action(u, t, k, (int)t->turns[k]->n_prompt_tokens))) return rc;
    s->n_act = (int)na;
    if (st) {
        st->samples++;
        st->action_tokens += (double)na;
        st->learner_tokens += (double)len;
    }
    return 0;
}

static int add_traj(AfUpdate *u, const Agentflow__Trajectory *t, int traj, int mb, const AfAdvOptions *adv_opt,
                    float traj_adv, AfUpdateStats *st) {
    if (u->cfg.monolithic) {
        int explored = 0;
        for (size_t k = 0; k < t->n_turns; k++) explored |= t->turns[k]->explored != 0;
        return add_transcript(u, t, traj, mb, adv_opt ? af_grpo_explored_advantage(adv_opt, traj_adv, explored) : 0.0f, st);
    }
    return add_turns(u, t, traj, mb, adv_opt, traj_adv, st);
}

/* Split samples into chunks of whole trajectories inside one mini-batch that fit the
 * model's batch capacity. */
static int make_chunks(AfUpdate *u) {
    u->n_ch = 0;
    const int cap_tok = u->policy->max_tokens, cap_seq = u->policy->max_seqs;
    int i = 0;
    while (i < u->n_s) {
        int first = i, toks = 0, seqs = 0;
        while (i < u->n_s && u->s[i].mb == u->s[first].mb) {
            /* the whole trajectory starting at i */
            int j = i, tt = 0, ts = 0;
            while (j < u->n_s && u->s[j].traj == u->s[i].traj) tt += u->s[j].seq_len, ts++, j++;
            if (tt > cap_tok || ts > cap_seq)
                return af_error_set(AF_EINVAL,
                                    "learner step: one trajectory has %d tokens in %d turns, more than the learner batch "
                                    "capacity (%d tokens, %d sequences)", tt, ts, cap_tok, cap_seq);
            if (toks + tt > cap_tok || seqs + ts > cap_seq) break;
            toks += tt, seqs += ts, i = j;
        }
        int rc = grow((void **)&u->ch, &u->cap_ch, u->n_ch + 1, sizeof *u->ch);
        if (rc) return rc;
        u->ch[u->n_ch++] = (Chunk){first, i - first};
    }
    return 0;
}

/* Forward a chunk through `m`; gather the action-token log-probs into dst (indexed like
 * the action arrays) and, with ent_dst, their entropies. With `measure` (the policy before
 * any update), also add the action tokens' entropies and their distance to the behaviour
 * log-probs to the stats. */
static int forward_chunk_ent(AfUpdate *u, AfModel *m, const Chunk *c, float *dst, float *ent_dst,
                             AfUpdateStats *measure) {
    const Sample *s0 = &u->s[c->first];
    for (int k = 0; k <= c->n; k++)
        u->seq_start[k] = k < c->n ? s0[k].seq_off - s0[0].seq_off : s0[c->n - 1].seq_off + s0[c->n - 1].seq_len - s0[0].seq_off;
    const int n_tok = u->seq_start[c->n];
    memset(u->need, 0, (size_t)n_tok);
    for (int k = 0; k < c->n; k++) /* only the action tokens' log-probs are used */
        for (int j = 0; j < s0[k].n_act; j++) u->need[s0[k].seq_off - s0[0].seq_off + u->apos[s0[k].act_off + j]] = 1;
    af_model_set_logit_mask(m, u->n_masked ? u->lmask + s0[0].seq_off : NULL);
    int rc = af_model_forward_need(m, u->tok + s0[0].seq_off, u->seq_start, c->n, u->cfg.temperature, u->need, u->logp,
                                   measure || ent_dst ? u->ent : NULL);
    if (rc) return rc;
    for (int k = 0; k < c->n; k++) {
        const Sample *s = &s0[k];
        const int base = s->seq_off - s0[0].seq_off;
        for (int j = 0; j < s->n_act; j++) {
            const int p = base + u->apos[s->act_off + j];
            dst[s->act_off + j] = u->logp[p];
            if (ent_dst) ent_dst[s->act_off + j] = u->ent[p];
            if (!measure) continue;
            measure->entropy_sum += u->ent[p];
            double d = fabs((double)u->logp[p] - (double)u->old[s->act_off + j]);
            measure->mismatch_sum += d;
            measure->mismatch_tokens++;
            if (d > measure->mismatch_max || d != d) measure->mismatch_max = d;
            if (!(d <= u->cfg.mismatch_tol)) measure->mismatch_over++;
        }
    }
    return 0;
}

static int forward_chunk(AfUpdate *u, AfModel *m, const Chunk *c, float *dst, AfUpdateStats *measure) {
    return forward_chunk_ent(u, m, c, dst, NULL, measure);
}

static int allreduce_sum_f32(float *buf, size_t n, MPI_Comm comm) {
    const size_t step = (size_t)1 << 26;
    for (size_t off = 0; off < n; off += step) {
        size_t k = n - off < step ? n - off : step;
        int rc = af_mpi_allreduce(MPI_IN_PLACE, buf + off, (int)k, MPI_FLOAT, MPI_SUM, comm);
        if (rc) return rc;
    }
    return 0;
}

/* The models keep no pointer into the trajectories after a step. */
static int masks_cleared(AfUpdate *u, int rc) {
    af_model_set_logit_mask(u->policy, NULL);
    if (u->ref) af_model_set_logit_mask(u->ref, NULL);
    return rc;
}

static int update_run(AfUpdate *u, const Agentflow__Trajectory *const *trajs, const uint32_t *slots, int n_groups,
                      uint32_t batch, uint32_t group, AfUpdateStats *st);

int af_update_run(AfUpdate *u, const Agentflow__Trajectory *const *trajs, const uint32_t *slots, int n_groups,
                  uint32_t batch, uint32_t group, AfUpdateStats *st) {
    return masks_cleared(u, update_run(u, trajs, slots, n_groups, batch, group, st));
}

static int update_run(AfUpdate *u, const Agentflow__Trajectory *const *trajs, const uint32_t *slots, int n_groups,
                      uint32_t batch, uint32_t group, AfUpdateStats *st) {
    memset(st, 0, sizeof *st);
    if (group < 1 || batch < 1 || n_groups < 0 || (n_groups && (!trajs || !slots)))
        return af_error_set(AF_EINVAL, "learner step: bad batch (%d groups of %u, batch %u)", n_groups, group, batch);
    int rc;
    const int mb_size = u->cfg.minibatch_queries > 0 ? u->cfg.minibatch_queries : (int)batch;
    const int n_mb = (int)((batch + (uint32_t)mb_size - 1) / (uint32_t)mb_size);
    if ((rc = grow((void **)&u->mb_counts, &u->cap_mb, 2 * n_mb, sizeof *u->mb_counts))) return rc;
    if (group > u->cap_g) {
        free(u->g_rew), free(u->g_adv), free(u->g_status), free(u->g_use), free(u->g_turns);
        u->g_rew = malloc(group * sizeof(float));
        u->g_adv = malloc(group * sizeof(float));
        u->g_status = malloc(group);
        u->g_use = malloc(group);
        u->g_turns = malloc(group * sizeof(int));
        u->cap_g = group;
        if (!u->g_rew || !u->g_adv || !u->g_status || !u->g_use || !u->g_turns) {
            u->cap_g = 0;
            return af_error_set(AF_ENOMEM, "learner step: group buffers");
        }
    }

    /* 1. advantages and samples */
    u->n_s = u->n_tok = u->n_act = u->n_masked = 0;
    memset(u->mb_counts, 0, 2 * (size_t)n_mb * sizeof *u->mb_counts);
    int traj_id = 0;
    for (int k = 0; k < n_groups; k++) {
        if (slots[k] >= batch || (k && slots[k] <= slots[k - 1]))
            return af_error_set(AF_EINVAL, "learner step: slot %u (group %d) out of order or >= batch %u", slots[k], k, batch);
        const Agentflow__Trajectory *const *g = trajs + (size_t)k * group;
        for (uint32_t i = 0; i < group; i++) {
            if (!g[i]) return af_error_set(AF_EINVAL, "learner step: slot %u sample %u missing", slots[k], i);
            int ok = g[i]->status == AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_OK;
            u->g_rew[i] = ok ? g[i]->reward : 0.0f;
            u->g_status[i] = ok ? AF_GRPO_TRAJ_OK : AF_GRPO_TRAJ_FAILED;
            u->g_turns[i] = ok && g[i]->n_turns > 0 ? (int)g[i]->n_turns : 1;
            if (!ok) st->failed_trajs++;
        }
        AfAdvGroupStats gs;
        if ((rc = af_grpo_group_advantages(&u->cfg.adv, (int)group, u->g_rew, u->g_status, u->g_turns, u->g_adv,
                                           u->g_use, &gs)))
            return af_error_wrap(rc, "slot %u", slots[k]);
        st->groups++;
        st->zero_variance_groups += gs.zero_variance;
        st->dropped_groups += gs.dropped;
        const int mb = (int)slots[k] / mb_size;
        for (uint32_t i = 0; i < group; i++) {
            if (!u->g_use[i]) continue;
            int before = u->n_s;
            if ((rc = add_traj(u, g[i], traj_id, mb, &u->cfg.adv, u->g_adv[i], st))) return rc;
            if (u->n_s > before) {
                u->mb_counts[2 * mb]++;
                for (int j = before; j < u->n_s; j++) u->mb_counts[2 * mb + 1] += u->s[j].n_act;
                traj_id++;
            }
        }
    }
    if ((rc = make_chunks(u))) return rc;
    {
        int c1 = u->cap_tk, c2 = u->cap_tk, c3 = u->cap_tk;
        if ((rc = grow((void **)&u->tok_off, &c1, u->n_s + 1, sizeof *u->tok_off)) ||
            (rc = grow((void **)&u->traj_id, &c2, u->n_s + 1, sizeof *u->traj_id)) ||
            (rc = grow((void **)&u->adv, &c3, u->n_s + 1, sizeof *u->adv)))
            return rc;
        u->cap_tk = c1;
    }
    if (u->n_learners > 1 &&
        (rc = af_mpi_allreduce(MPI_IN_PLACE, u->mb_counts, 2 * n_mb, MPI_DOUBLE, MPI_SUM, u->comm)))
        return rc;

    /* 2. reference log-probs, and (unless fused into the first step) the measurement pass */
    if (u->cfg.loss.kl_coef != 0.0)
        for (int c = 0; c < u->n_ch; c++)
            if ((rc = forward_chunk(u, u->ref, &u->ch[c], u->refl, NULL))) return rc;
    const int fuse = n_mb == 1;
    if (!fuse)
        for (int c = 0; c < u->n_ch; c++)
            if ((rc = forward_chunk(u, u->policy, &u->ch[c], u->newl, st))) return rc;

    /* 3. PPO epochs over mini-batches */
    const int want_ent = u->cfg.loss.entropy_coef > 0.0;
    double acc[5] = {0}; /* loss, pg, kl, clipped tokens, tokens: summed over steps */
    double gn_sum = 0;
    int steps = 0;
    for (int e = 0; e < u->cfg.ppo_epochs; e++) {
        int c = 0;
        for (int mb = 0; mb < n_mb; mb++) {
            const double g_trajs = u->mb_counts[2 * mb], g_tokens = u->mb_counts[2 * mb + 1];
            while (c < u->n_ch && u->s[u->ch[c].first].mb < mb) c++;
            if (g_trajs == 0) continue; /* nothing contributes on any learner */
            af_model_zero_grad(u->policy);
            AfLossOptions lo = u->cfg.loss;
            lo.norm_trajs = g_trajs;
            lo.norm_tokens = g_tokens;
            double part[5] = {0};
            for (; c < u->n_ch && u->s[u->ch[c].first].mb == mb; c++) {
                const Chunk *ch = &u->ch[c];
                const int measure = fuse && e == 0;
                if ((rc = forward_chunk_ent(u, u->policy, ch, u->newl, want_ent ? u->enta : NULL, measure ? st : NULL)))
                    return rc;
                const Sample *s0 = &u->s[ch->first];
                for (int k = 0; k <= ch->n; k++) {
                    u->tok_off[k] = (k < ch->n ? s0[k].act_off : s0[ch->n - 1].act_off + s0[ch->n - 1].n_act) - s0[0].act_off;
                    if (k < ch->n) u->traj_id[k] = s0[k].traj, u->adv[k] = s0[k].adv;
                }
                const int a0 = s0[0].act_off;
                AfGrpoBatch b = {.n_samples = ch->n,
                                 .tok_offset = u->tok_off,
                                 .traj_id = u->traj_id,
                                 .adv = u->adv,
                                 .mask = NULL,
                                 .logp = u->newl + a0,
                                 .old_logp = u->old + a0,
                                 .ref_logp = u->cfg.loss.kl_coef != 0.0 ? u->refl + a0 : NULL,
                                 .entropy = want_ent ? u->enta + a0 : NULL};
                AfLossStats ls;
                if ((rc = af_grpo_loss_ent(&lo, &b, u->dact + a0, want_ent ? u->dent + a0 : NULL, &ls))) return rc;
                part[0] += ls.loss, part[1] += ls.pg_loss, part[2] += ls.kl;
                part[3] += ls.clip_frac * ls.n_tokens, part[4] += ls.n_tokens;
                /* scatter dL/dlogp onto the chunk's token positions */
                int n_tok = u->seq_start[ch->n];
                memset(u->dlogp, 0, (size_t)n_tok * sizeof *u->dlogp);
                if (want_ent) memset(u->dentp, 0, (size_t)n_tok * sizeof *u->dentp);
                for (int k = 0; k < ch->n; k++) {
                    const int base = s0[k].seq_off - s0[0].seq_off, a = s0[k].act_off;
                    for (int j = 0; j < s0[k].n_act; j++) {
                        u->dlogp[base + u->apos[a + j]] = u->dact[a + j];
                        if (want_ent) u->dentp[base + u->apos[a + j]] = u->dent[a + j];
                    }
                }
                if ((rc = af_model_backward_ent(u->policy, u->dlogp, want_ent ? u->dentp : NULL))) return rc;
            }
            if (u->n_learners > 1) {
                if ((rc = allreduce_sum_f32(u->policy->grads, u->policy->n_params, u->comm))) return rc;
                if ((rc = af_mpi_allreduce(MPI_IN_PLACE, part, 5, MPI_DOUBLE, MPI_SUM, u->comm))) return rc;
            }
            gn_sum += af_grad_clip(u->policy->grads, u->policy->n_params, u->cfg.grad_clip);
            af_adamw_step(u->opt, u->policy->params, u->policy->grads);
            u->policy->fwd_valid = 0;
            for (int i = 0; i < 5; i++) acc[i] += part[i];
            steps++;
        }
    }
    st->optimizer_steps = steps;
    if (steps) {
        st->loss = acc[0] / steps;
        st->pg_loss = acc[1] / steps;
        st->kl = acc[2] / steps;
        st->clip_fraction = acc[4] > 0 ? acc[3] / acc[4] : 0.0;
        st->grad_norm = gn_sum / steps;
    }
    if (u->cfg.entropy_target > 0.0) { /* the next run's weight, from this run's entropy */
        double h[2] = {st->entropy_sum, st->mismatch_tokens};
        if (u->n_learners > 1 && (rc = af_mpi_allreduce(MPI_IN_PLACE, h, 2, MPI_DOUBLE, MPI_SUM, u->comm))) return rc;
        if (h[1] > 0) {
            const double c = u->cfg.loss.entropy_coef + u->cfg.entropy_coef_lr * (u->cfg.entropy_target - h[0] / h[1]);
            u->cfg.loss.entropy_coef = c > 0.0 ? c : 0.0;
        }
    }
    return 0;
}

double af_update_entropy_coef(const AfUpdate *u) { return u->cfg.loss.entropy_coef; }

int af_update_set_entropy_coef(AfUpdate *u, double coef) {
    if (!(coef >= 0.0 && isfinite(coef))) return af_error_set(AF_EINVAL, "learner step: entropy weight %g", coef);
    u->cfg.loss.entropy_coef = coef;
    return 0;
}

int af_update_set_pass_k(AfUpdate *u, int k) {
    int rc = af_grpo_pass_k_check(k, u->cfg.adv.stats);
    if (rc == 0) u->cfg.adv.pass_k = k;
    return rc;
}

static int bc_step(AfUpdate *u, const Agentflow__Trajectory *const *trajs, int n, double *loss_out);

int af_update_bc_step(AfUpdate *u, const Agentflow__Trajectory *const *trajs, int n, double *loss_out) {
    return masks_cleared(u, bc_step(u, trajs, n, loss_out));
}

static int bc_step(AfUpdate *u, const Agentflow__Trajectory *const *trajs, int n, double *loss_out) {
    int rc;
    u->n_s = u->n_tok = u->n_act = u->n_masked = 0;
    for (int i = 0; i < n; i++)
        if ((rc = add_traj(u, trajs[i], i, 0, NULL, 0.0f, NULL))) return rc;
    if ((rc = make_chunks(u))) return rc;
    af_model_zero_grad(u->policy);
    /* the mean is over every learner's action tokens */
    double n_act = (double)u->n_act;
    if (u->n_learners > 1 && (rc = af_mpi_allreduce(MPI_IN_PLACE, &n_act, 1, MPI_DOUBLE, MPI_SUM, u->comm))) return rc;
    double nll = 0;
    const float w = n_act > 0 ? -1.0f / (float)n_act : 0.0f;
    for (int c = 0; c < u->n_ch; c++) {
        const Chunk *ch = &u->ch[c];
        if ((rc = forward_chunk(u, u->policy, ch, u->newl, NULL))) return rc;
        const Sample *s0 = &u->s[ch->first];
        memset(u->dlogp, 0, (size_t)u->seq_start[ch->n] * sizeof *u->dlogp);
        for (int k = 0; k < ch->n; k++) {
            const int base = s0[k].seq_off - s0[0].seq_off, a = s0[k].act_off;
            for (int j = 0; j < s0[k].n_act; j++) {
                nll -= u->newl[a + j];
                u->dlogp[base + u->apos[a + j]] = w;
            }
        }
        if ((rc = af_model_backward(u->policy, u->dlogp))) return rc;
    }
    if (u->n_learners > 1) {
        if ((rc = allreduce_sum_f32(u->policy->grads, u->policy->n_params, u->comm))) return rc;
        if ((rc = af_mpi_allreduce(MPI_IN_PLACE, &nll, 1, MPI_DOUBLE, MPI_SUM, u->comm))) return rc;
    }
    if (loss_out) *loss_out = n_act > 0 ? nll / n_act : 0.0;
    af_grad_clip(u->policy->grads, u->policy->n_params, u->cfg.grad_clip);
    af_adamw_step(u->opt, u->policy->params, u->policy->grads);
    u->policy->fwd_valid = 0;
    return 0;
}
