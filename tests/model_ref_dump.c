/* Helper for tests/model_ref.py (not a test by itself).
 *   model_ref_dump make DIR KV BIAS TIED   write a tiny model directory (test init)
 *   model_ref_dump run DIR OUT [bf16]      load DIR, run a fixed learner batch through
 *       forward, a PPO-clip loss outside the model, backward, gradient clipping and two
 *       AdamW steps; write inputs and every result to the safetensors file OUT. With
 *       bf16: model.compute=bf16 (exit 77 when the CPU has no native bf16; bf16-fma:
 *       model.compute=bf16-fma, on any CPU) and clip
 *       bounds that no ratio reaches (a smooth loss, for tolerance comparisons).
 *   model_ref_dump decode DIR P TOK...    load DIR into the KV-cache decoder, prefill the
 *       first P tokens, feed the others one at a time, and print {"logprobs": [...]}:
 *       log p(TOK_i | TOK_<i) for i = P .. n-1 from the decoder's logits.
 *   model_ref_dump decode-bf16 DIR P TOK...   the same with the decoder's products in
 *       bf16 (common/decode.h; emulated where the CPU lacks AVX512-BF16, same bits). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/decode.h"
#include "common/error.h"
#include "common/matmul_bf16.h"
#include "common/model.h"
#include "common/safetensors.h"
#include "learner/adamw.h"
#include "tests/model_testlib.h"

#define MAXOUT 256
static const char *g_names[MAXOUT];
static int g_nd[MAXOUT];
static int64_t g_sh[MAXOUT][2];
static const float *g_data[MAXOUT];
static int g_n;

static void put(const char *name, const float *data, int64_t d0, int64_t d1) {
    if (g_n >= MAXOUT) abort();
    g_names[g_n] = strdup(name);
    g_nd[g_n] = d1 ? 2 : 1;
    g_sh[g_n][0] = d0;
    g_sh[g_n][1] = d1;
    g_data[g_n++] = data;
}

static float *scalar(float v) {
    float *p = malloc(sizeof *p);
    *p = v;
    return p;
}

static int decode_main(const char *dir, int bf16, int P, int n, char **toks) {
    AfModel *m = NULL;
    if (af_model_load_dir(dir, 0, 0, 0, &m)) {
        fprintf(stderr, "load: %s\n", af_error_detail());
        return 1;
    }
    AfDecode *d = NULL;
    int32_t *tok = malloc((size_t)n * sizeof *tok);
    int rc = af_decode_create(m, 1, n, &d);
    if (!rc && bf16) rc = af_decode_set_dtype(d, AF_DECODE_BF16);
    for (int i = 0; i < n; i++) tok[i] = (int32_t)atoi(toks[i]);
    if (!rc) rc = af_decode_prefill(d, 0, tok, P);
    int V = m->cfg.vocab_size, slot = 0;
    printf("{\"logprobs\": [");
    for (int i = P; i < n && !rc; i++) {
        const float *z = af_decode_logits(d, 0);
        double mx = -INFINITY, sum = 0;
        for (int j = 0; j < V; j++) mx = z[j] > mx ? z[j] : mx;
        for (int j = 0; j < V; j++) sum += exp((double)z[j] - mx);
        printf("%s%.9g", i > P ? ", " : "", (double)z[tok[i]] - mx - log(sum));
        if (i + 1 < n) rc = af_decode_feed(d, 1, &slot, &tok[i]);
    }
    printf("]}\n");
    if (rc) fprintf(stderr, "decode: %s\n", af_error_detail());
    af_decode_destroy(d);
    af_model_destroy(m);
    free(tok);
    return rc ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc >= 5 && (strcmp(argv[1], "decode") == 0 || strcmp(argv[1], "decode-bf16") == 0))
        return decode_main(argv[2], strcmp(argv[1], "decode-bf16") == 0, atoi(argv[3]), argc - 4, argv + 4);
    if (argc == 6 && strcmp(argv[1], "make") == 0) {
        AfModelConfig c = tiny_config(atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
        AfModel *m = NULL;
        if (af_model_create(&c, 0, 0, 0, &m)) return 1;
        fill_params(m, 100 + (uint64_t)c.n_kv_heads * 4 + c.qkv_bias * 2 + c.tied_embeddings, 0.3);
        int rc = af_model_save_dir(m, argv[2]);
        if (rc) fprintf(stderr, "save: %s\n", af_error_detail());
        af_model_destroy(m);
        return rc ? 1 : 0;
    }
    int fma = argc == 5 && strcmp(argv[4], "bf16-fma") == 0;
    int bf16 = (argc == 5 && strcmp(argv[4], "bf16") == 0) || fma;
    if ((argc != 4 && !bf16) || strcmp(argv[1], "run") != 0) {
        fprintf(stderr, "usage: model_ref_dump make DIR KV BIAS TIED | run DIR OUT [bf16|bf16-fma]\n");
        return 2;
    }
    if (bf16 && !fma && !af_bf16_supported()) {
        fprintf(stderr, "model_ref_dump: no native bf16 (%s)\n", af_bf16_isa());
        return 77;
    }
    enum { S = 3 };
    const int lens[S] = {12, 70, 5}, plen[S] = {4, 30, 2};
    int ss[S + 1] = {0};
    for (int s = 0; s < S; s++) ss[s + 1] = ss[s] + lens[s];
    int N = ss[S];
    AfModel *m = NULL;
    int rc = af_model_load_dir(argv[2], N, S, AF_MODEL_GRADS, &m);
    if (rc) {
        fprintf(stderr, "load: %s\n", af_error_detail());
        return 1;
    }
    if (bf16 && (rc = af_model_set_compute(m, fma ? AF_COMPUTE_BF16_FMA : AF_COMPUTE_BF16))) {
        fprintf(stderr, "set_compute: %s\n", af_error_detail());
        return 1;
    }
    const AfModelConfig *c = &m->cfg;
    int V = c->vocab_size;
    int32_t *tok = malloc(N * sizeof *tok);
    fill_tokens(tok, N, V, 8, 1);
    float *tokf = malloc(N * sizeof *tokf), *ssf = malloc((S + 1) * sizeof *ssf);
    float *plf = malloc(S * sizeof *plf), *adv = malloc(S * sizeof *adv);
    float *old = malloc(N * sizeof *old), *lp = malloc(N * sizeof *lp), *ent = malloc(N * sizeof *ent);
    float *dl = calloc(N, sizeof *dl);
    for (int i = 0; i < N; i++) tokf[i] = (float)tok[i];
    for (int s = 0; s <= S; s++) ssf[s] = (float)ss[s];
    const float advs[S] = {1.3f, -0.7f, 0.4f};
    for (int s = 0; s < S; s++) plf[s] = (float)plen[s], adv[s] = advs[s];
    /* bf16: bounds no ratio reaches, so the loss is smooth and the small log-prob
     * differences of bf16 products cannot switch a token's gradient on or off */
    const float T = 0.7f, clip_lo = bf16 ? 0.99f : 0.2f, clip_hi = bf16 ? 100.0f : 0.3f;
    if ((rc = af_model_forward(m, tok, ss, S, T, lp, ent))) {
        fprintf(stderr, "forward: %s\n", af_error_detail());
        return 1;
    }
    /* behaviour log-probs: the current ones moved by +-0.4 so that some ratios clip */
    AfRng r;
    af_rng_init(&r, 5, AF_RNG_TEST, 9, 0, 0);
    for (int i = 0; i < N; i++) old[i] = lp[i] + (float)(0.8 * af_rng_uniform(&r) - 0.4);
    /* PPO-clip loss over action tokens, mean over them; dL/dlogp by hand */
    int nact = 0;
    for (int s = 0; s < S; s++) nact += lens[s] - plen[s];
    double loss = 0;
    for (int s = 0; s < S; s++)
        for (int i = ss[s] + plen[s]; i < ss[s + 1]; i++) {
            double rho = exp((double)lp[i] - old[i]), A = adv[s];
            double cl = rho < 1 - clip_lo ? 1 - clip_lo : rho > 1 + clip_hi ? 1 + clip_hi : rho;
            double u = rho * A, v = cl * A;
            loss += -(u < v ? u : v) / nact;
            int grad_flows = u <= v || (rho >= 1 - clip_lo && rho <= 1 + clip_hi);
            dl[i] = grad_flows ? (float)(-A * rho / nact) : 0.0f;
        }
    af_model_zero_grad(m);
    if ((rc = af_model_backward(m, dl))) return 1;
    put("tokens", tokf, N, 0);
    put("seq_start", ssf, S + 1, 0);
    put("prompt_len", plf, S, 0);
    put("adv", adv, S, 0);
    put("old_logp", old, N, 0);
    put("temperature", scalar(T), 1, 0);
    put("clip_low", scalar(clip_lo), 1, 0);
    put("clip_high", scalar(clip_hi), 1, 0);
    put("logits", af_model_logits(m), N, V);
    put("logp", lp, N, 0);
    put("entropy", ent, N, 0);
    put("loss", scalar((float)loss), 1, 0);
    char nm[128];
    float *grads = malloc(m->n_params * sizeof(float));
    memcpy(grads, m->grads, m->n_params * sizeof(float));
    for (int i = 0; i < m->n_tensors; i++) {
        snprintf(nm, sizeof nm, "grad.%s", m->tensors[i].name);
        put(nm, grads + m->tensors[i].offset, m->tensors[i].shape[0], m->tensors[i].shape[1]);
    }
    /* clip (the norm must exceed max_norm so clipping acts) and two AdamW steps */
    const float max_norm = 0.05f;
    double norm = af_grad_clip(m->grads, m->n_params, max_norm);
    if (!(norm > max_norm)) {
        fprintf(stderr, "grad norm %g does not exceed %g\n", norm, max_norm);
        return 1;
    }
    AfAdamWConfig ac = {.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-4f, .weight_decay = 0.1f};
    AfAdamW *opt = NULL;
    if (af_adamw_create(&ac, m->n_params, &opt)) return 1;
    af_adamw_step(opt, m->params, m->grads);
    af_adamw_step(opt, m->params, m->grads);
    put("max_norm", scalar(max_norm), 1, 0);
    put("grad_norm", scalar((float)norm), 1, 0);
    put("lr", scalar(ac.lr), 1, 0);
    put("beta1", scalar(ac.beta1), 1, 0);
    put("beta2", scalar(ac.beta2), 1, 0);
    put("eps", scalar(ac.eps), 1, 0);
    put("weight_decay", scalar(ac.weight_decay), 1, 0);
    for (int i = 0; i < m->n_tensors; i++) {
        snprintf(nm, sizeof nm, "adamw.%s", m->tensors[i].name);
        put(nm, m->params + m->tensors[i].offset, m->tensors[i].shape[0], m->tensors[i].shape[1]);
    }
    rc = af_safetensors_write(argv[3], g_n, g_names, g_nd, (const int64_t(*)[2])g_sh, g_data);
    if (rc) fprintf(stderr, "write: %s\n", af_error_detail());
    return rc ? 1 : 0;
}
