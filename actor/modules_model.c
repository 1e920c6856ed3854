/* The modules' local model: load once per rank, one serialised chat call at a time. */
#include "actor/modules_model.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "actor/text_planner.h"
#include "common/deadline.h"
#include "common/decode.h"
#include "common/error.h"
#include "common/log.h"
#include "common/rng.h"
#include "common/safetensors.h"

struct AfModuleModel {
    AfModel *model;
    AfTextCodec *codec;
    AfDecode *dec;
    int max_seq;
    AfSampler sampler;
    pthread_mutex_t lock;
    AfTokenIds ids;   /* prompt ids of the call in progress (kept: no allocation once grown) */
    uint32_t *reply;  /* (max_seq) reply ids */
};

static atomic_long g_loads = 0;

long af_module_model_loads(void) { return atomic_load(&g_loads); }

void af_module_model_destroy(AfModuleModel *m) {
    if (!m) return;
    af_decode_destroy(m->dec);
    af_text_codec_destroy(m->codec);
    af_model_destroy(m->model);
    af_token_ids_free(&m->ids);
    free(m->reply);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

int af_module_model_load(const AfModuleModelConfig *cfg, AfModuleModel **out) {
    *out = NULL;
    const char *dir = cfg->dir;
    if (!dir || !dir[0])
        return af_error_set(AF_ECONFIG, "config: modules.model.dir: empty (backend=model needs a model directory)");
    if (!af_text_dir_has_tokenizer(dir))
        return af_error_set(AF_ECONFIG, "config: modules.model.dir %s: no readable tokenizer.json (the module model "
                                        "needs its tokenizer and chat template)", dir);
    AfModuleModel *m = calloc(1, sizeof *m);
    if (!m) return af_error_set(AF_ENOMEM, "module model");
    pthread_mutex_init(&m->lock, NULL);
    int rc;
    if ((rc = af_model_load_dir(dir, 0, 0, 0, &m->model))) {
        rc = af_error_wrap(rc, "config: modules.model.dir %s", dir);
        goto fail;
    }
    if ((rc = af_text_codec_load(dir, "", &m->codec))) {
        rc = af_error_wrap(rc == AF_ENOTFOUND ? AF_ECONFIG : rc, "config: modules.model.dir %s", dir);
        goto fail;
    }
    const uint32_t tv = af_tokenizer_vocab_size(af_text_codec_tokenizer(m->codec));
    if (tv > (uint32_t)m->model->cfg.vocab_size) {
        rc = af_error_set(AF_ECONFIG, "config: modules.model.dir %s: the tokenizer has %u ids, the model's vocabulary %d "
                                      "(a tokenizer of another model?)", dir, tv, m->model->cfg.vocab_size);
        goto fail;
    }
    const int own = m->model->cfg.max_seq;
    if (cfg->max_seq > own) {
        rc = af_error_set(AF_ECONFIG, "config: modules.model.max_seq = %d: the model at %s has %d positions", cfg->max_seq,
                          dir, own);
        goto fail;
    }
    m->max_seq = cfg->max_seq > 0 ? cfg->max_seq : own < AF_MODULE_MODEL_MAX_SEQ ? own : AF_MODULE_MODEL_MAX_SEQ;
    m->sampler = (AfSampler){.temperature = cfg->temperature, .top_p = cfg->top_p > 0 ? cfg->top_p : 1.0f};
    if ((rc = af_decode_create(m->model, 1, m->max_seq, &m->dec))) goto fail;
    if (cfg->threads > 1 && (rc = af_decode_set_threads(m->dec, cfg->threads, AF_DECODE_MIN_SPLIT))) goto fail;
    if (!(m->reply = malloc((size_t)m->max_seq * sizeof *m->reply))) {
        rc = af_error_set(AF_ENOMEM, "module model reply buffer");
        goto fail;
    }
    atomic_fetch_add(&g_loads, 1);
    af_log(AF_LOG_INFO, "module model %s loaded: %zu parameters, context %d, %.1f MiB (parameters + KV cache)", dir,
           m->model->n_params, m->max_seq, (double)af_module_model_bytes(m) / (1 << 20));
    *out = m;
    return 0;
fail:
    af_module_model_destroy(m);
    return rc;
}

const AfModelConfig *af_module_model_shape(const AfModuleModel *m) { return &m->model->cfg; }
int af_module_model_context(const AfModuleModel *m) { return m->max_seq; }
size_t af_module_model_n_params(const AfModuleModel *m) { return m->model->n_params; }

size_t af_module_model_bytes(const AfModuleModel *m) {
    const AfModelConfig *c = &m->model->cfg;
    const size_t hd = (size_t)(c->head_dim > 0 ? c->head_dim : c->d_model / c->n_heads);
    const size_t kv = 2 * (size_t)c->n_layers * (size_t)m->max_seq * (size_t)c->n_kv_heads * hd;
    return (m->model->n_params + kv) * sizeof(float);
}

/* [{"role":"system",...},{"role":"user",...}]; NULL when out of memory. */
static cJSON *messages(const char *system, const char *user) {
    cJSON *msgs = cJSON_CreateArray();
    const char *roles[2] = {"system", "user"}, *texts[2] = {system, user};
    for (int i = 0; msgs && i < 2; i++) {
        if (!texts[i]) continue;
        cJSON *o = cJSON_CreateObject();
        if (o && !cJSON_AddItemToArray(msgs, o)) cJSON_Delete(o), o = NULL; /* else msgs owns o */
        if (!o || !cJSON_AddStringToObject(o, "role", roles[i]) || !cJSON_AddStringToObject(o, "content", texts[i])) {
            cJSON_Delete(msgs);
            return NULL;
        }
    }
    return msgs;
}

int af_module_model_render(AfModuleModel *m, const char *system, const char *user, char **text, AfTokenIds *ids) {
    *text = NULL;
    cJSON *msgs = messages(system, user ? user : "");
    if (!msgs) return af_error_set(AF_ENOMEM, "module prompt");
    int rc = af_text_prompt_encode(m->codec, msgs, text, ids);
    cJSON_Delete(msgs);
    return rc;
}

/* The call under the lock: prompt into the slot, then the reply ids in m->reply. */
static int generate(AfModuleModel *m, int module, uint32_t turn, const char *system, const char *user, int max_tokens,
                    size_t *n_reply, double *logprob) {
    char *text = NULL;
    m->ids.n = 0;
    *n_reply = 0;
    *logprob = 0;
    const double deadline = af_deadline_thread(); /* the episode's budget (0: none) */
    int rc = af_module_model_render(m, system, user, &text, &m->ids);
    free(text);
    if (rc) return rc;
    const size_t np = m->ids.n;
    if (np == 0 || np >= (size_t)m->max_seq)
        return af_error_set(AF_EIO, "the prompt of %zu tokens leaves no room for a reply in the module model's context "
                                    "of %d (modules.model.max_seq)", np, m->max_seq);
    size_t budget = (size_t)max_tokens;
    if (budget > (size_t)m->max_seq - np) budget = (size_t)m->max_seq - np;
    af_decode_reset(m->dec, 0);
    if ((rc = af_decode_prefill(m->dec, 0, (const int32_t *)m->ids.ids, (int)np))) return rc;
    AfRng rng;
    af_rng_init(&rng, af_module_call_seed(module, turn), AF_RNG_TOOL, 0, 0, 0);
    const int slot = 0;
    for (size_t k = 0; k < budget; k++) {
        int32_t tok;
        float lp;
        if (deadline > 0 && af_mono_now() >= deadline)
            return af_error_set(AF_ETIMEOUT, "the episode's budget ran out after %zu reply tokens", k);
        if (k + 1 < budget) rc = af_decode_step(m->dec, 1, &slot, &m->sampler, &rng, &tok, &lp);
        else rc = af_decode_sample(m->dec, slot, &m->sampler, &rng, &tok, &lp); /* last: no need to feed */
        if (rc) return rc;
        *logprob += lp;
        if (af_text_codec_is_eos(m->codec, (uint32_t)tok)) break;
        m->reply[(*n_reply)++] = (uint32_t)tok;
    }
    return 0;
}

int af_module_model_chat(AfModuleModel *m, int module, uint32_t turn, const char *system, const char *user,
                         int max_tokens, char **reply) {
    *reply = NULL;
    if (max_tokens <= 0) max_tokens = AF_MODULE_MODEL_MAX_TOKENS;
    size_t n = 0;
    double lp = 0;
    AfBytes b = {0};
    pthread_mutex_lock(&m->lock);
    int rc = generate(m, module, turn, system, user, max_tokens, &n, &lp);
    const AfTokenizer *tok = af_text_codec_tokenizer(m->codec);
    size_t kept = 0; /* the model's vocabulary may have rows the tokenizer has no token for: no text */
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t len;
        if (af_tokenizer_token_bytes(tok, m->reply[i], &len)) m->reply[kept++] = m->reply[i];
    }
    if (rc == 0) rc = af_tokenizer_decode(tok, m->reply, kept, &b);
    pthread_mutex_unlock(&m->lock);
    if (rc == 0 && !b.data && af_bytes_append(&b, "", 0)) rc = af_error_set(AF_ENOMEM, "module reply");
    if (rc) {
        af_bytes_free(&b);
        return rc;
    }
    if (module >= 0) af_module_call_record(module, turn, lp, (uint32_t)n);
    *reply = b.data; /* NUL-terminated by AfBytes */
    return 0;
}

/* ------------------------------------------------------------------ transport */

typedef struct {
    AfModuleModel *m;
    int max_tokens;
} Transport;

static int t_chat(void *impl, int module, uint32_t turn, const char *system, const char *user, char **reply) {
    Transport *t = impl;
    return af_module_model_chat(t->m, module, turn, system, user, t->max_tokens, reply);
}

static void t_destroy(void *impl) { free(impl); }

int af_module_model_transport(AfModuleModel *m, int max_tokens, AfModuleChat *out) {
    Transport *t = malloc(sizeof *t);
    if (!t) return af_error_set(AF_ENOMEM, "module model transport");
    t->m = m;
    t->max_tokens = max_tokens > 0 ? max_tokens : AF_MODULE_MODEL_MAX_TOKENS;
    *out = (AfModuleChat){.backend = "model", .chat = t_chat, .destroy = t_destroy, .impl = t};
    return 0;
}
