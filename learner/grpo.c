/* Flow-GRPO advantages and loss (docs/design.md §3); conventions in learner/grpo.h. */
#include "learner/grpo.h"

#include <math.h>

#include "common/error.h"

/* ------------------------------------------------------------------ advantages */

void af_grpo_adv_options_default(AfAdvOptions *o) {
    o->stats = AF_ADV_STATS_TRAJ;
    o->normalize_std = 1;
    o->drop_zero_variance = 1;
    o->final_turn_only = 0;
    o->last_try_credit = 0;
    o->neg_scale = 1.0;
    o->pass_k = 0;
    o->explored_neg_scale = 1.0;
    o->eps = 1e-6;
}

/* C(n, r) in double (exact up to 2^53; the ratios below are what matter). 0 for r outside
 * [0, n]. */
static double binom(int n, int r) {
    if (r < 0 || r > n) return 0.0;
    if (r > n - r) r = n - r;
    double v = 1.0;
    for (int j = 1; j <= r; j++) v = v * (double)(n - r + j) / (double)j;
    return v;
}

/* pass@k statistics of grpo.h over the n OK members (indices `idx` into `rewards`): Rbar,
 * sigma, and m_i of member idx[a] into m_of[idx[a]]. `v` and `w` are scratch of n doubles;
 * v ends sorted ascending. */
static void pass_k_stats(int k, const float *rewards, const int *idx, int n, double *v, double *w, double *m_of,
                         double *rbar, double *sigma) {
    for (int a = 0; a < n; a++) v[a] = (double)rewards[idx[a]];
    for (int a = 1; a < n; a++) { /* insertion sort: n is a group, and the order is fixed */
        double x = v[a];
        int b = a - 1;
        for (; b >= 0 && v[b] > x; b--) v[b + 1] = v[b];
        v[b + 1] = x;
    }
    /* the max of a k-subset is the j-th smallest (1-based) with probability C(j-1, k-1) / C(n, k) */
    double tot = binom(n, k), e1 = 0.0, e2 = 0.0;
    for (int j = k; j <= n; j++) {
        double p = binom(j - 1, k - 1) / tot;
        e1 += p * v[j - 1];
        e2 += p * v[j - 1] * v[j - 1];
    }
    double var = e2 - e1 * e1;
    *rbar = e1;
    *sigma = var > 0.0 ? sqrt(var) : 0.0;
    /* m_i: the others are v without one copy of R_i; a (k-1)-subset of those n - 1 has its
     * max at their j-th smallest with probability w[j-1] = C(j-1, k-2) / C(n-1, k-1), the
     * same for every member */
    double tot1 = binom(n - 1, k - 1);
    for (int j = 1; j < n; j++) w[j - 1] = binom(j - 1, k - 2) / tot1;
    for (int a = 0; a < n; a++) {
        double r = (double)rewards[idx[a]], s = k == 1 ? r : 0.0; /* k = 1: no others */
        int skipped = 0, j = 0;
        for (int b = 0; b < n && k > 1; b++) {
            if (!skipped && v[b] == r) {
                skipped = 1;
                continue;
            }
            s += w[j++] * (v[b] > r ? v[b] : r);
        }
        m_of[idx[a]] = s;
    }
}

int af_grpo_pass_k_check(int k, AfAdvStats stats) {
    if (k < 0 || k == 1 || k > AF_GRPO_PASS_K_MAX_G - 1)
        return af_error_set(AF_EINVAL, "grpo advantages: algo.adv_pass_k %d: 0 (off) or 2 .. %d", k,
                            AF_GRPO_PASS_K_MAX_G - 1);
    if (k && stats != AF_ADV_STATS_TRAJ)
        return af_error_set(AF_EINVAL, "grpo advantages: algo.adv_pass_k needs algo.adv_stats = trajectory");
    return 0;
}

int af_grpo_group_advantages(const AfAdvOptions *opt, int G, const float *rewards,
                             const uint8_t *status, const int *n_turns, float *adv,
                             uint8_t *use, AfAdvGroupStats *stats) {
    if (!opt || !rewards || !status || !adv || !use)
        return af_error_set(AF_EINVAL, "grpo advantages: NULL argument");
    if (G < 1) return af_error_set(AF_EINVAL, "grpo advantages: group size %d < 1", G);
    if (opt->stats != AF_ADV_STATS_TRAJ && opt->stats != AF_ADV_STATS_TURN)
        return af_error_set(AF_EINVAL, "grpo advantages: algo.adv_stats: unknown value %d", (int)opt->stats);
    if (opt->stats == AF_ADV_STATS_TURN && !n_turns)
        return af_error_set(AF_EINVAL, "grpo advantages: algo.adv_stats = turn needs n_turns");
    if (!(opt->eps >= 0.0))
        return af_error_set(AF_EINVAL, "grpo advantages: eps %g < 0", opt->eps);
    if (!(opt->neg_scale >= 0.0 && opt->neg_scale <= 1.0))
        return af_error_set(AF_EINVAL, "grpo advantages: algo.neg_adv_scale %g outside [0, 1]", opt->neg_scale);
    int rc = af_grpo_pass_k_check(opt->pass_k, opt->stats);
    if (rc) return rc;
    if (opt->pass_k && G > AF_GRPO_PASS_K_MAX_G)
        return af_error_set(AF_EINVAL, "grpo advantages: algo.adv_pass_k with a group of %d (at most %d)", G,
                            AF_GRPO_PASS_K_MAX_G);
    if (!(opt->explored_neg_scale >= 0.0 && opt->explored_neg_scale <= 1.0))
        return af_error_set(AF_EINVAL, "grpo advantages: algo.explore_neg_scale %g outside [0, 1]", opt->explored_neg_scale);

    AfAdvGroupStats st = {0};
    double wsum = 0.0, sum = 0.0;
    int first_ok = -1, all_equal = 1;
    for (int i = 0; i < G; i++) {
        if (status[i] != AF_GRPO_TRAJ_OK && status[i] != AF_GRPO_TRAJ_FAILED)
            return af_error_set(AF_EINVAL, "grpo advantages: member %d: unknown status %u", i, status[i]);
        if (status[i] != AF_GRPO_TRAJ_OK) {
            st.n_failed++;
            continue;
        }
        if (!isfinite(rewards[i]))
            return af_error_set(AF_EINVAL, "grpo advantages: member %d: reward is not finite", i);
        double w = 1.0;
        if (opt->stats == AF_ADV_STATS_TURN) {
            if (n_turns[i] < 1)
                return af_error_set(AF_EINVAL, "grpo advantages: member %d: n_turns %d < 1", i, n_turns[i]);
            w = (double)n_turns[i];
        }
        st.n_ok++;
        if (first_ok < 0) first_ok = i;
        else if (rewards[i] != rewards[first_ok]) all_equal = 0;
        wsum += w;
        sum += w * (double)rewards[i];
    }
    st.zero_variance = st.n_ok >= 1 && all_equal;
    st.dropped = st.n_ok == 0 || (st.zero_variance && opt->drop_zero_variance);

    if (st.n_ok > 0) {
        if (wsum <= 1.0) {
            /* A single statistics row: no baseline (verl: mean 0, std 1). */
            st.mean = 0.0;
            st.std = 1.0;
        } else {
            st.mean = sum / wsum;
            double ss = 0.0;
            for (int i = 0; i < G; i++) {
                if (status[i] != AF_GRPO_TRAJ_OK) continue;
                double w = opt->stats == AF_ADV_STATS_TURN ? (double)n_turns[i] : 1.0;
                double d = (double)rewards[i] - st.mean;
                ss += w * d * d;
            }
            st.std = sqrt(ss / (wsum - 1.0)); /* sample std, as torch.std */
        }
    }
    /* pass@k (grpo.h): replaces the statistics and the per-member reward by m_i */
    double m_of[AF_GRPO_PASS_K_MAX_G];
    const int pk = opt->pass_k && st.n_ok >= 2 && !st.zero_variance;
    if (pk) {
        int idx[AF_GRPO_PASS_K_MAX_G], n = 0;
        double v[AF_GRPO_PASS_K_MAX_G], w[AF_GRPO_PASS_K_MAX_G];
        for (int i = 0; i < G; i++)
            if (status[i] == AF_GRPO_TRAJ_OK) idx[n++] = i;
        int k = opt->pass_k < n - 1 ? opt->pass_k : n - 1;
        pass_k_stats(k, rewards, idx, n, v, w, m_of, &st.mean, &st.std);
        if (v[k - 1] == v[n - 1]) { /* every k-subset has the same best reward: A = 0 if kept */
            st.zero_variance = 1;
            st.dropped = opt->drop_zero_variance;
        }
    }
    for (int i = 0; i < G; i++) {
        int ok = status[i] == AF_GRPO_TRAJ_OK && !st.dropped;
        use[i] = (uint8_t)ok;
        if (!ok) {
            adv[i] = 0.0f;
            continue;
        }
        double a = (pk ? m_of[i] : (double)rewards[i]) - st.mean;
        if (pk && st.zero_variance) a = 0.0;
        else if (opt->normalize_std) a /= st.std + opt->eps;
        if (a < 0.0) a *= opt->neg_scale;
        adv[i] = (float)a;
    }
    if (stats) *stats = st;
    return 0;
}

float af_grpo_turn_advantage(const AfAdvOptions *opt, float traj_adv, int turn, int n_turns, int try_index,
                             int last_try) {
    if (opt->final_turn_only && turn != n_turns - 1) return 0.0f;
    if (opt->last_try_credit && try_index < last_try && traj_adv > 0.0f) return 0.0f;
    return traj_adv;
}

float af_grpo_explored_advantage(const AfAdvOptions *opt, float turn_adv, int explored) {
    if (explored && turn_adv < 0.0f) return (float)((double)turn_adv * opt->explored_neg_scale);
    return turn_adv;
}

/* ------------------------------------------------------------------ loss */

void af_grpo_loss_options_default(AfLossOptions *o) {
    o->clip_low = 0.2;
    o->clip_high = 0.3;
    o->dual_clip = 3.0;
    o->kl_coef = 0.001;
    o->agg = AF_LOSS_AGG_PAPER;
    o->entropy_coef = 0.0;
    o->norm_trajs = 0.0;
    o->norm_tokens = 0.0;
}

static inline double ld(const void *p, int f64, size_t i) {
    return f64 ? ((const double *)p)[i] : (double)((const float *)p)[i];
}

static inline void st_grad(void *p, int f64, size_t i, double v) {
    if (!p) return;
    if (f64) ((double *)p)[i] = v;
    else ((float *)p)[i] = (float)v;
}

static inline double clampd(double x, double lo, double hi) {
    return x < lo ? lo : (x > hi ? hi : x);
}

/* Gradient share of `a` in max(a, b) / min(a, b) under PyTorch's convention. */
static inline double share_max(double a, double b) { return a > b ? 1.0 : (a == b ? 0.5 : 0.0); }
static inline double share_min(double a, double b) { return a < b ? 1.0 : (a == b ? 0.5 : 0.0); }

typedef struct {
    double pg, kl;       /* token losses */
    double dpg, dkl;     /* their derivatives wrt logp */
    int clipped, dual;   /* flags for the statistics */
    double ratio;
} TokenTerms;

static void token_terms(const AfLossOptions *o, double A, double logp, double old, double ref,
                        int want_kl, TokenTerms *t) {
    /* policy term */
    double d = logp - old;
    double dc = clampd(d, -20.0, 20.0);
    double rho = exp(dc);
    double drho = (d >= -20.0 && d <= 20.0) ? rho : 0.0;
    double lo = 1.0 - o->clip_low, hi = 1.0 + o->clip_high;
    double rc = clampd(rho, lo, hi);
    double drc = (rho >= lo && rho <= hi) ? 1.0 : 0.0;
    double l1 = -A * rho, l2 = -A * rc;
    double m = l1 > l2 ? l1 : l2;
    double dm_drho = share_max(l1, l2) * (-A) + share_max(l2, l1) * (-A * drc);
    double l = m, dl_drho = dm_drho;
    t->clipped = l2 > l1;
    t->dual = 0;
    if (A < 0.0 && o->dual_clip > 0.0) {
        double l3 = -o->dual_clip * A;
        l = m < l3 ? m : l3;
        dl_drho = share_min(m, l3) * dm_drho;
        t->dual = m > l3;
    }
    t->pg = l;
    t->dpg = dl_drho * drho;
    t->ratio = rho;
    /* k3 KL */
    t->kl = 0.0;
    t->dkl = 0.0;
    if (want_kl) {
        double k = ref - logp;
        double kc = clampd(k, -20.0, 20.0);
        double e = exp(kc);
        double kld = e - kc - 1.0;
        t->kl = clampd(kld, -10.0, 10.0);
        double pass = (k >= -20.0 && k <= 20.0 && kld >= -10.0 && kld <= 10.0) ? 1.0 : 0.0;
        t->dkl = pass * (1.0 - e);
    }
}

static inline int sample_on(const AfGrpoBatch *b, int s) {
    return (!b->mask || b->mask[s]) && b->tok_offset[s + 1] > b->tok_offset[s];
}

static int loss_impl(const AfLossOptions *o, const AfGrpoBatch *b, void *dlogp, void *dent, int f64,
                     AfLossStats *out) {
    if (!o || !b || !out) return af_error_set(AF_EINVAL, "grpo loss: NULL argument");
    if (b->n_samples < 0) return af_error_set(AF_EINVAL, "grpo loss: n_samples %d < 0", b->n_samples);
    if (b->n_samples > 0 && (!b->tok_offset || !b->traj_id || !b->adv || !b->logp || !b->old_logp))
        return af_error_set(AF_EINVAL, "grpo loss: NULL batch array");
    if (!(o->clip_low >= 0.0 && o->clip_low < 1.0))
        return af_error_set(AF_EINVAL, "grpo loss: algo.clip_low %g outside [0, 1)", o->clip_low);
    if (!(o->clip_high >= 0.0))
        return af_error_set(AF_EINVAL, "grpo loss: algo.clip_high %g < 0", o->clip_high);
    if (!(o->dual_clip == 0.0 || o->dual_clip > 1.0))
        return af_error_set(AF_EINVAL, "grpo loss: algo.dual_clip %g: must be 0 (off) or > 1", o->dual_clip);
    if (!(o->kl_coef >= 0.0)) return af_error_set(AF_EINVAL, "grpo loss: algo.kl_coef %g < 0", o->kl_coef);
    if (o->agg != AF_LOSS_AGG_PAPER && o->agg != AF_LOSS_AGG_TOKEN_MEAN)
        return af_error_set(AF_EINVAL, "grpo loss: algo.loss_agg: unknown value %d", (int)o->agg);
    if (!(o->norm_trajs >= 0.0) || !(o->norm_tokens >= 0.0))
        return af_error_set(AF_EINVAL, "grpo loss: negative normalizer");
    int want_kl = o->kl_coef > 0.0;
    if (want_kl && b->n_samples > 0 && !b->ref_logp)
        return af_error_set(AF_EINVAL, "grpo loss: ref_logp is NULL but algo.kl_coef = %g", o->kl_coef);
    if (!(o->entropy_coef >= 0.0 && isfinite(o->entropy_coef)))
        return af_error_set(AF_EINVAL, "grpo loss: algo.entropy_coef %g must be finite and >= 0", o->entropy_coef);
    int want_ent = o->entropy_coef > 0.0;
    if (want_ent && b->n_samples > 0 && !b->entropy)
        return af_error_set(AF_EINVAL, "grpo loss: entropy is NULL but algo.entropy_coef = %g", o->entropy_coef);

    /* pass 1: validate and count */
    AfLossStats st = {0};
    if (b->n_samples > 0 && b->tok_offset[0] != 0)
        return af_error_set(AF_EINVAL, "grpo loss: tok_offset[0] = %d, expected 0", b->tok_offset[0]);
    int prev_on_traj = 0, have_prev = 0;
    for (int s = 0; s < b->n_samples; s++) {
        if (b->tok_offset[s + 1] < b->tok_offset[s])
            return af_error_set(AF_EINVAL, "grpo loss: sample %d: tok_offset decreases (%d -> %d)", s,
                                b->tok_offset[s], b->tok_offset[s + 1]);
        if (s > 0 && b->traj_id[s] < b->traj_id[s - 1])
            return af_error_set(AF_EINVAL, "grpo loss: sample %d: traj_id %d after %d (samples of a "
                                "trajectory must be adjacent, ids non-decreasing)", s, b->traj_id[s], b->traj_id[s - 1]);
        if (!sample_on(b, s)) continue;
        if (!isfinite(b->adv[s]))
            return af_error_set(AF_EINVAL, "grpo loss: sample %d: advantage is not finite", s);
        for (int j = b->tok_offset[s]; j < b->tok_offset[s + 1]; j++) {
            if (!isfinite(ld(b->logp, f64, (size_t)j)) || !isfinite(ld(b->old_logp, f64, (size_t)j)) ||
                (want_kl && !isfinite(ld(b->ref_logp, f64, (size_t)j))) ||
                (want_ent && !(ld(b->entropy, f64, (size_t)j) >= 0.0 && isfinite(ld(b->entropy, f64, (size_t)j)))))
                return af_error_set(AF_EINVAL, "grpo loss: sample %d token %d: non-finite log-prob or bad entropy", s, j);
        }
        st.n_samples++;
        st.n_tokens += b->tok_offset[s + 1] - b->tok_offset[s];
        if (!have_prev || b->traj_id[s] != prev_on_traj) st.n_trajs++;
        have_prev = 1;
        prev_on_traj = b->traj_id[s];
    }
    double G = o->norm_trajs > 0.0 ? o->norm_trajs : (double)st.n_trajs;
    double N = o->norm_tokens > 0.0 ? o->norm_tokens : (double)st.n_tokens;

    /* pass 2: trajectory runs */
    double pg = 0.0, kl = 0.0, ent = 0.0, ppo_kl = 0.0;
    long n_clip = 0, n_dual = 0;
    int s0 = 0;
    while (s0 < b->n_samples) {
        int s1 = s0 + 1;
        while (s1 < b->n_samples && b->traj_id[s1] == b->traj_id[s0]) s1++;
        int T = 0;
        for (int s = s0; s < s1; s++) T += sample_on(b, s);
        for (int s = s0; s < s1; s++) {
            int on = sample_on(b, s);
            int n = b->tok_offset[s + 1] - b->tok_offset[s];
            double w = 0.0;
            if (on) w = o->agg == AF_LOSS_AGG_PAPER ? 1.0 / (G * (double)T * (double)n) : 1.0 / N;
            double spg = 0.0, skl = 0.0, sent = 0.0; /* per-sample sums, added in a fixed order */
            for (int j = b->tok_offset[s]; j < b->tok_offset[s + 1]; j++) {
                st_grad(dent, f64, (size_t)j, on ? -o->entropy_coef * w : 0.0);
                if (!on) {
                    st_grad(dlogp, f64, (size_t)j, 0.0);
                    continue;
                }
                if (want_ent) sent += ld(b->entropy, f64, (size_t)j);
                TokenTerms t;
                double lp = ld(b->logp, f64, (size_t)j), old = ld(b->old_logp, f64, (size_t)j);
                double ref = want_kl ? ld(b->ref_logp, f64, (size_t)j) : 0.0;
                token_terms(o, (double)b->adv[s], lp, old, ref, want_kl, &t);
                spg += t.pg;
                skl += t.kl;
                ppo_kl += old - lp;
                n_clip += t.clipped;
                n_dual += t.dual;
                if (t.ratio > st.ratio_max) st.ratio_max = t.ratio;
                st_grad(dlogp, f64, (size_t)j, w * (t.dpg + o->kl_coef * t.dkl));
            }
            pg += w * spg;
            kl += w * skl;
            ent += w * sent;
        }
        s0 = s1;
    }
    st.pg_loss = pg;
    st.kl = kl;
    st.entropy = ent;
    st.loss = pg + o->kl_coef * kl - o->entropy_coef * ent;
    if (st.n_tokens > 0) {
        st.clip_frac = (double)n_clip / st.n_tokens;
        st.dual_clip_frac = (double)n_dual / st.n_tokens;
        st.ppo_kl = ppo_kl / st.n_tokens;
    }
    *out = st;
    return 0;
}

int af_grpo_loss(const AfLossOptions *opt, const AfGrpoBatch *b, float *dlogp, AfLossStats *out) {
    return loss_impl(opt, b, dlogp, NULL, 0, out);
}

int af_grpo_loss_f64(const AfLossOptions *opt, const AfGrpoBatch *b, double *dlogp, AfLossStats *out) {
    return loss_impl(opt, b, dlogp, NULL, 1, out);
}

int af_grpo_loss_ent(const AfLossOptions *opt, const AfGrpoBatch *b, float *dlogp, float *dent, AfLossStats *out) {
    return loss_impl(opt, b, dlogp, dent, 0, out);
}

int af_grpo_loss_ent_f64(const AfLossOptions *opt, const AfGrpoBatch *b, double *dlogp, double *dent,
                         AfLossStats *out) {
    return loss_impl(opt, b, dlogp, dent, 1, out);
}

/* ------------------------------------------------------------------ log-prob mismatch */

void af_grpo_logprob_mismatch(const float *learner, const float *actor, size_t n, double tol,
                              AfLogprobMismatch *out) {
    AfLogprobMismatch m = {0};
    double sum = 0.0, psum = 0.0;
    for (size_t i = 0; i < n; i++) {
        double a = learner[i], b = actor[i];
        double d = fabs(a - b);
        if (isnan(d)) {
            m.max_abs = NAN;
            m.n_over_tol++;
        } else {
            if (d > m.max_abs) m.max_abs = d; /* stays NaN once NaN (comparison false) */
            if (d > tol) m.n_over_tol++;
        }
        sum += d;
        psum += fabs(exp(a) - exp(b));
    }
    m.n = n;
    if (n > 0) {
        m.mean_abs = sum / (double)n;
        m.mean_prob_abs = psum / (double)n;
    }
    *out = m;
}
