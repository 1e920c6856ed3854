/* The learner step of a large-vocabulary planner (the LM head in blocks of gathered rows,
 * common/model.h af_model_set_lm_budget): forward of the action rows only
 * (af_model_forward_need), backward, gradient clip and AdamW, at the shape of the text
 * planner's warm start (launch/make_text_planner.py --hidden 64: Qwen2.5's 151,936-token
 * vocabulary, d_model 64, 2 layers, 4 / 2 heads, d_ff 176, QKV bias, tied embeddings) on
 * one chunk of SEQS sequences of LEN tokens whose last ACT tokens are the action. Prints
 * the median wall and CPU seconds of each phase over STEPS steps (after one warm-up step)
 * at model.compute fp32 and, where the CPU has native bf16, bf16.
 *
 *   bench_lm_head [--threads N] [--steps N] [--seqs N] [--len N] [--act N] [--d-model N]
 * Wall-clock figures on a shared machine are noisy: compare within a run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "common/matmul_bf16.h"
#include "common/model.h"
#include "common/rng.h"
#include "bench/bench_common.h"
#include "learner/adamw.h"

enum { PH_FWD, PH_BWD, PH_OPT, PH_N };

static int run(int compute, int threads, int steps, int seqs, int len, int act, int d_model) {
    AfModelConfig c = af_model_config_default();
    c.vocab_size = 151936, c.d_model = d_model, c.n_layers = 2, c.n_heads = 4, c.n_kv_heads = 2;
    c.d_ff = d_model * 11 / 4, c.max_seq = len, c.qkv_bias = 1, c.tied_embeddings = 1;
    const int N = seqs * len;
    AfModel *m = NULL;
    AfAdamW *opt = NULL;
    int32_t *tok = malloc((size_t)N * sizeof *tok);
    int *ss = malloc((size_t)(seqs + 1) * sizeof *ss);
    uint8_t *need = calloc((size_t)N, 1);
    float *logp = malloc((size_t)N * sizeof *logp), *dlogp = calloc((size_t)N, sizeof *dlogp);
    double *t[PH_N], *cpu[PH_N];
    for (int p = 0; p < PH_N; p++) t[p] = calloc((size_t)steps, sizeof(double)), cpu[p] = calloc((size_t)steps, sizeof(double));
    int rc = !tok || !ss || !need || !logp || !dlogp ? af_error_set(AF_ENOMEM, "bench_lm_head: buffers") : 0;
    for (int p = 0; p < PH_N && !rc; p++)
        if (!t[p] || !cpu[p]) rc = af_error_set(AF_ENOMEM, "bench_lm_head: timings");
    if (rc) goto done;
    af_model_set_threads(threads);
    if ((rc = af_model_create(&c, N, seqs, AF_MODEL_GRADS, &m))) goto done;
    af_model_init_params(m, 1);
    if ((rc = af_model_set_compute(m, compute))) goto done;
    AfAdamWConfig ac = af_adamw_config_default();
    if ((rc = af_adamw_create(&ac, m->n_params, &opt))) goto done;
    AfRng r;
    af_rng_init(&r, 7, AF_RNG_DATA, 0, 0, 0);
    for (int s = 0; s <= seqs; s++) ss[s] = s * len;
    for (int i = 0; i < N; i++) tok[i] = (int32_t)(af_rng_below(&r, (uint32_t)c.vocab_size));
    int n_act = 0;
    for (int s = 0; s < seqs; s++)
        for (int j = len - act; j < len; j++) need[s * len + j] = 1, n_act++;
    for (int i = 0; i < N; i++) dlogp[i] = need[i] ? -1.0f / (float)n_act : 0.0f;
    for (int it = -1; it < steps && !rc; it++) {
        double w0 = af_time_now(), c0 = af_bench_cpu_now();
        af_model_zero_grad(m);
        if ((rc = af_model_forward_need(m, tok, ss, seqs, 1.0f, need, logp, NULL))) break;
        double w1 = af_time_now(), c1 = af_bench_cpu_now();
        if ((rc = af_model_backward(m, dlogp))) break;
        double w2 = af_time_now(), c2 = af_bench_cpu_now();
        af_grad_clip(m->grads, m->n_params, 1.0);
        af_adamw_step(opt, m->params, m->grads);
        double w3 = af_time_now(), c3 = af_bench_cpu_now();
        if (it < 0) continue;
        t[PH_FWD][it] = w1 - w0, t[PH_BWD][it] = w2 - w1, t[PH_OPT][it] = w3 - w2;
        cpu[PH_FWD][it] = c1 - c0, cpu[PH_BWD][it] = c2 - c1, cpu[PH_OPT][it] = c3 - c2;
    }
    if (rc) goto done;
    static const char *names[PH_N] = {"forward", "backward", "clip+adamw"};
    double tot = 0, tot_cpu = 0;
    for (int p = 0; p < PH_N; p++) {
        double wm = af_bench_median(t[p], steps), cm = af_bench_median(cpu[p], steps);
        tot += wm, tot_cpu += cm;
        printf("%-5s threads %d  %-10s %8.1f ms wall %8.1f ms cpu\n", compute == AF_COMPUTE_BF16 ? "bf16" : "fp32",
               threads, names[p], 1e3 * wm, 1e3 * cm);
    }
    printf("%-5s threads %d  %-10s %8.1f ms wall %8.1f ms cpu  (%d sequences x %d tokens, %d action rows, d_model %d)\n",
           compute == AF_COMPUTE_BF16 ? "bf16" : "fp32", threads, "step", 1e3 * tot, 1e3 * tot_cpu, seqs, len, n_act,
           d_model);
done:
    if (rc) fprintf(stderr, "bench_lm_head: %s\n", af_error_detail());
    af_adamw_destroy(opt);
    af_model_destroy(m);
    for (int p = 0; p < PH_N; p++) free(t[p]), free(cpu[p]);
    free(tok), free(ss), free(need), free(logp), free(dlogp);
    return rc;
}

int main(int argc, char **argv) {
    int threads = 1, steps = 3, seqs = 26, len = 260, act = 10, d_model = 64;
    for (int i = 1; i + 1 < argc; i += 2) {
        int v = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--threads")) threads = v;
        else if (!strcmp(argv[i], "--steps")) steps = v;
        else if (!strcmp(argv[i], "--seqs")) seqs = v;
        else if (!strcmp(argv[i], "--len")) len = v;
        else if (!strcmp(argv[i], "--act")) act = v;
        else if (!strcmp(argv[i], "--d-model")) d_model = v;
        else {
            fprintf(stderr, "bench_lm_head: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (threads < 1 || steps < 1 || seqs < 1 || len < 2 || act < 1 || act >= len || d_model < 8 || d_model % 8) {
        fprintf(stderr, "bench_lm_head: bad option value\n");
        return 2;
    }
    if (run(AF_COMPUTE_FP32, threads, steps, seqs, len, act, d_model)) return 1;
    if (af_bf16_supported() && run(AF_COMPUTE_BF16, threads, steps, seqs, len, act, d_model)) return 1;
    return 0;
}
