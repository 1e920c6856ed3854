/* Trajectory serialization benchmark: af_traj_encode and af_traj_decode (unpack into the
 * decoder's arena + validation) against a memcpy of the same packed bytes, measured in the
 * same run, on two sets of trajectories:
 *   episodes  real episodes run here: game24 (generated split), builtin modules, the model
 *             planner (model A's shape: d_model 256, 4 layers, 4 heads, d_ff 704, with the
 *             suite's vocabulary; random weights unless --init-from DIR), max 3 turns,
 *             24 action tokens; their wall time (timed around af_episode_run) gives the
 *             serialization share of episode time;
 *   fixture   tests/wire_fixture.h trajectories: 3-5 turns, ~300 prompt and ~20 action
 *             tokens per turn, every string field set.
 * Each repetition encodes, decodes and memcpys every trajectory of the set once; the
 * figures are the min/median/max over repetitions of the mean time per trajectory.
 * Prints a table and writes CSV (default bench/results/wire.csv).
 *
 *   bench_wire [--episodes N] [--fixtures N] [--reps N] [--init-from DIR] [--long] [--csv PATH]
 * --long multiplies episodes and repetitions by 4. Wall-clock figures on a shared machine
 * are noisy: compare the ratios within a run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actor/episode.h"
#include "actor/modules.h"
#include "actor/planner_model.h"
#include "bench/bench_common.h"
#include "common/error.h"
#include "common/model.h"
#include "common/mpi_env.h"
#include "common/rng.h"
#include "common/safetensors.h"
#include "common/traj.h"
#include "env/suite.h"
#include "env/vocab.h"
#include "tests/wire_fixture.h"

typedef struct {
    Agentflow__Trajectory **t;
    size_t n;
    size_t bytes; /* packed bytes of the whole set */
    double tokens, turns;
} Set;

typedef struct {
    double min, med, max;
} Stat;

static Stat stat_of(double *v, int n) {
    const double med = af_bench_median(v, n); /* sorts v */
    return (Stat){v[0], med, v[n - 1]};
}

static void set_count(Set *s) {
    s->bytes = 0, s->tokens = 0, s->turns = 0;
    for (size_t i = 0; i < s->n; i++) {
        s->bytes += af_traj_packed_size(s->t[i]);
        s->turns += (double)s->t[i]->n_turns;
        for (size_t k = 0; k < s->t[i]->n_turns; k++)
            s->tokens += (double)(s->t[i]->turns[k]->n_prompt_tokens + s->t[i]->turns[k]->n_action_tokens);
    }
}

/* Measure encode/decode/memcpy over `reps` repetitions; per-trajectory seconds out. */
static int measure(const char *name, const Set *s, const AfTrajLimits *lim, int reps, FILE *csv, double *enc_med,
                   double *dec_med) {
    AfTrajDecoder *dec = NULL;
    uint8_t *packed = NULL, *copy = NULL;
    size_t *off = NULL;
    double *te = calloc((size_t)reps, sizeof *te), *td = calloc((size_t)reps, sizeof *td),
           *tm = calloc((size_t)reps, sizeof *tm);
    int rc = af_traj_decoder_create(lim, &dec);
    if (rc) goto done;
    packed = malloc(s->bytes), copy = malloc(s->bytes), off = malloc((s->n + 1) * sizeof *off);
    if (!packed || !copy || !off || !te || !td || !tm) {
        rc = af_error_set(AF_ENOMEM, "bench_wire buffers");
        goto done;
    }
    off[0] = 0;
    for (size_t i = 0; i < s->n; i++) {
        size_t len = 0;
        if ((rc = af_traj_encode(s->t[i], packed + off[i], s->bytes - off[i], &len))) goto done;
        off[i + 1] = off[i] + len;
    }
    for (int r = 0; r < reps; r++) {
        double t0 = af_time_now();
        for (size_t i = 0; i < s->n; i++) {
            size_t len = 0;
            if ((rc = af_traj_encode(s->t[i], packed + off[i], off[i + 1] - off[i], &len))) goto done;
        }
        double t1 = af_time_now();
        for (size_t i = 0; i < s->n; i++) {
            Agentflow__Trajectory *out = NULL;
            AfTrajReject why;
            const Agentflow__Trajectory *src = s->t[i];
            af_traj_decoder_set_window(dec, src->iteration, src->iteration, src->policy_version, src->policy_version);
            if ((rc = af_traj_decode(dec, packed + off[i], off[i + 1] - off[i], &out, &why))) {
                rc = af_error_wrap(rc, "%s trajectory %zu rejected (%s)", name, i, af_traj_reject_name(why));
                goto done;
            }
        }
        double t2 = af_time_now();
        for (size_t i = 0; i < s->n; i++) {
            memcpy(copy + off[i], packed + off[i], off[i + 1] - off[i]);
            __asm__ volatile("" : : "r"(copy) : "memory"); /* keep every copy */
        }
        double t3 = af_time_now();
        te[r] = (t1 - t0) / (double)s->n, td[r] = (t2 - t1) / (double)s->n, tm[r] = (t3 - t2) / (double)s->n;
    }
    if (memcmp(copy, packed, s->bytes) != 0) {
        rc = af_error_set(AF_ESTATE, "bench_wire: memcpy reference copy differs");
        goto done;
    }
    Stat se = stat_of(te, reps), sd = stat_of(td, reps), sm = stat_of(tm, reps);
    double per = (double)s->bytes / (double)s->n;
    const char *ops[3] = {"encode", "decode", "memcpy"};
    Stat st[3] = {se, sd, sm};
    printf("%-9s %zu trajectories, %.0f bytes, %.1f turns, %.0f tokens each (mean)\n", name, s->n, per,
           s->turns / (double)s->n, s->tokens / (double)s->n);
    for (int k = 0; k < 3; k++) {
        printf("  %-7s %9.0f ns/traj (min %.0f, max %.0f)  %8.1f MB/s  %6.1fx memcpy\n", ops[k], st[k].med * 1e9,
               st[k].min * 1e9, st[k].max * 1e9, per / st[k].med / 1e6, st[k].med / sm.med);
        if (csv)
            fprintf(csv, "%s,%s,%zu,%.0f,%d,%.1f,%.1f,%.1f,%.2f,%.3f\n", name, ops[k], s->n, per, reps, st[k].min * 1e9,
                    st[k].med * 1e9, st[k].max * 1e9, per / st[k].med / 1e6, st[k].med / sm.med);
    }
    *enc_med = se.med, *dec_med = sd.med;
done:
    af_traj_decoder_destroy(dec);
    free(packed), free(copy), free(off), free(te), free(td), free(tm);
    return rc;
}

int main(int argc, char **argv) {
    int n_episodes = 16, n_fix = 256, reps = 15, lng = 0;
    const char *init_from = NULL, *csv_path = "bench/results/wire.csv";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--episodes") == 0 && i + 1 < argc) n_episodes = atoi(argv[++i]);
        else if (strcmp(argv[i], "--fixtures") == 0 && i + 1 < argc) n_fix = atoi(argv[++i]);
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--init-from") == 0 && i + 1 < argc) init_from = argv[++i];
        else if (strcmp(argv[i], "--csv") == 0 && i + 1 < argc) csv_path = argv[++i];
        else if (strcmp(argv[i], "--long") == 0) lng = 1;
        else {
            fprintf(stderr, "usage: bench_wire [--episodes N] [--fixtures N] [--reps N] [--init-from DIR] [--long] [--csv PATH]\n");
            return 2;
        }
    }
    if (lng) n_episodes *= 4, reps *= 4;
    if (n_episodes < 1 || n_fix < 1 || reps < 1) {
        fprintf(stderr, "bench_wire: --episodes, --fixtures and --reps must be >= 1\n");
        return 2;
    }
    AfSuite *suite = NULL;
    AfModules mods;
    memset(&mods, 0, sizeof mods);
    AfModel *model = NULL;
    AfPlanner *planner = NULL;
    Set ep = {0}, fx = {0};
    double *ep_s = NULL;
    FILE *csv = NULL;
    int rc = 0;

    /* ---- real episodes */
    AfSuiteOptions so;
    af_suite_options_default(&so);
    so.seed = 1;
    if ((rc = af_suite_create("game24", &so, &suite))) goto done;
    if ((rc = af_modules_builtin(suite, &mods))) goto done;
    if (init_from) {
        if ((rc = af_model_load_dir(init_from, 0, 0, 0, &model))) goto done;
    } else {
        AfModelConfig mc = af_model_config_default();
        mc.vocab_size = (int)af_vocab_size(suite->vocab);
        mc.d_model = 256, mc.n_layers = 4, mc.n_heads = 4, mc.n_kv_heads = 4, mc.d_ff = 704, mc.max_seq = 1024;
        if ((rc = af_model_create(&mc, 0, 0, 0, &model))) goto done;
        af_model_init_params(model, 7);
    }
    AfSampler smp = {.temperature = 1.0f, .top_p = 1.0f};
    if ((rc = af_planner_model_create(model, &smp, &planner))) goto done;
    AfEpisodeSettings ec;
    af_episode_settings_default(&ec);
    ec.max_turns = 3, ec.max_action_tokens = 24, ec.seed = 7;
    const AfDataset *train = af_suite_split(suite, AF_SPLIT_TRAIN);
    ep.t = calloc((size_t)n_episodes, sizeof *ep.t);
    ep_s = calloc((size_t)n_episodes, sizeof *ep_s);
    if (!ep.t || !ep_s) {
        rc = af_error_set(AF_ENOMEM, "bench_wire episodes");
        goto done;
    }
    double planner_s = 0, tools_s = 0, tool_calls = 0, act_tokens = 0;
    for (int i = 0; i < n_episodes; i++) {
        const AfEpisodeId id = {.query_index = (uint32_t)i % (uint32_t)train->n,
                                .sample_index = (uint32_t)i / (uint32_t)train->n};
        double t0 = af_time_now();
        if ((rc = af_episode_run(suite, &mods, planner, &train->items[id.query_index], &ec, &id, &ep.t[i]))) goto done;
        ep_s[i] = af_time_now() - t0;
        ep.n++;
        planner_s += ep.t[i]->planner_s, tools_s += ep.t[i]->tools_s;
        for (size_t k = 0; k < ep.t[i]->n_turns; k++) {
            tool_calls += ep.t[i]->turns[k]->tool && ep.t[i]->turns[k]->tool[0];
            act_tokens += (double)ep.t[i]->turns[k]->n_action_tokens;
        }
    }
    set_count(&ep);
    AfTrajLimits elim;
    memset(&elim, 0, sizeof elim);
    elim.num_queries = (uint32_t)train->n;
    elim.group_size = 64;
    elim.vocab_size = (uint32_t)model->cfg.vocab_size;
    elim.max_turns = ec.max_turns;
    elim.max_prompt_tokens = (uint32_t)model->cfg.max_seq;
    elim.max_action_tokens = ec.max_action_tokens;
    elim.max_string_bytes = 1u << 16;
    elim.suite = suite->name;

    /* ---- fixtures */
    AfRng r;
    af_rng_init(&r, 11, AF_RNG_TEST, 0, 0, 0);
    fx.t = calloc((size_t)n_fix, sizeof *fx.t);
    if (!fx.t) {
        rc = af_error_set(AF_ENOMEM, "bench_wire fixtures");
        goto done;
    }
    for (int i = 0; i < n_fix; i++) {
        fx.t[i] = fix_make_traj(&r, 5, (uint32_t)i % FIX_QUERIES, (uint32_t)i % FIX_GROUP, 3 + i % 3, 300, 20);
        if (!fx.t[i]) {
            rc = af_error_set(AF_ENOMEM, "fixture trajectory");
            goto done;
        }
        fx.n++;
    }
    set_count(&fx);
    AfTrajLimits flim = fix_limits(5);

    csv = fopen(csv_path, "w");
    if (!csv) fprintf(stderr, "bench_wire: cannot write %s (continuing without CSV)\n", csv_path);
    if (csv) fprintf(csv, "set,op,trajectories,bytes_per_traj,reps,min_ns,median_ns,max_ns,median_MBps,ratio_vs_memcpy\n");
    double ee = 0, ed = 0, fe = 0, fd = 0;
    if ((rc = measure("episodes", &ep, &elim, reps, csv, &ee, &ed))) goto done;
    if ((rc = measure("fixture", &fx, &flim, reps, csv, &fe, &fd))) goto done;

    Stat es = stat_of(ep_s, n_episodes);
    double share = (ee + ed) / es.med, share_fx = (fe + fd) / es.med;
    printf("episode time (wall, timed around af_episode_run, %d real episodes): min %.4f median %.4f max %.4f s;\n"
           "  planner %.1f%%, tools %.2f%%; %.1f tool calls and %.1f action tokens per episode\n",
           n_episodes, es.min, es.med, es.max, 100 * planner_s / (planner_s + tools_s + 1e-300),
           100 * tools_s / (planner_s + tools_s + 1e-300), tool_calls / n_episodes, act_tokens / n_episodes);
    printf("serialization (encode + decode) per trajectory / median episode time: %.5f%% (episodes), %.5f%% "
           "(fixture trajectories); target <= 0.1%%\n",
           100 * share, 100 * share_fx);
    if (csv) {
        fprintf(csv, "episodes,episode_s,%d,%.0f,1,%.1f,%.1f,%.1f,,\n", n_episodes, (double)ep.bytes / ep.n, es.min * 1e9,
                es.med * 1e9, es.max * 1e9);
        fprintf(csv, "episodes,share_pct,%d,%.0f,%d,,%.6f,,,\n", n_episodes, (double)ep.bytes / ep.n, reps, 100 * share);
        /* per-component episode costs for the performance model (BENCHMARKS.md) */
        fprintf(csv, "episodes,planner_ns_per_action_token,%d,,1,,%.1f,,,\n", n_episodes, planner_s / (act_tokens + 1e-300) * 1e9);
        fprintf(csv, "episodes,tool_ns_per_call,%d,,1,,%.1f,,,\n", n_episodes, tool_calls > 0 ? tools_s / tool_calls * 1e9 : 0.0);
        fprintf(csv, "episodes,action_tokens_per_episode,%d,,1,,%.2f,,,\n", n_episodes, act_tokens / n_episodes);
        fprintf(csv, "episodes,tool_calls_per_episode,%d,,1,,%.2f,,,\n", n_episodes, tool_calls / n_episodes);
        fprintf(csv, "fixture,share_pct,%zu,%.0f,%d,,%.6f,,,\n", fx.n, (double)fx.bytes / fx.n, reps, 100 * share_fx);
    }
done:
    if (rc) fprintf(stderr, "bench_wire: %s: %s\n", af_strerror(rc), af_error_detail());
    if (csv) fclose(csv);
    for (size_t i = 0; i < ep.n; i++) af_trajectory_free(ep.t[i]);
    for (size_t i = 0; i < fx.n; i++) af_traj_free(fx.t[i]);
    free(ep.t), free(fx.t), free(ep_s);
    af_planner_destroy(planner);
    af_model_destroy(model);
    af_modules_clear(&mods);
    af_suite_destroy(suite);
    return rc ? 1 : 0;
}
