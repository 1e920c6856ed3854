/* Builtin module backends: thin bindings of the suite's rule-based functions. */
#include "actor/modules.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/rng.h"

const char *af_module_name(int module) {
    static const char *const names[4] = {"executor", "verifier", "generator", "judge"};
    return module >= 0 && module < 4 ? names[module] : "?";
}

static _Thread_local AfModuleEpisode *cur_episode = NULL;

AfModuleEpisode *af_module_episode_set(AfModuleEpisode *e) {
    AfModuleEpisode *old = cur_episode;
    cur_episode = e;
    return old;
}

uint64_t af_module_call_seed(int module, uint32_t turn) {
    const AfModuleEpisode *e = cur_episode;
    AfRng r;
    af_rng_init(&r, e ? e->seed : 0, AF_RNG_TOOL, e ? e->iteration : 0, e ? e->query_index : 0,
                e ? e->sample_index & AF_RNG_MAX_SAMPLE : 0);
    /* two words per call: the module selects a 2^24-word region, the turn a pair in it */
    af_rng_seek(&r, ((uint64_t)(module & 3) << 24) + 2 * (uint64_t)(turn & 0x7FFFFFu));
    return af_rng_u64(&r);
}

void af_module_call_record(int module, uint32_t turn, double logprob, uint32_t tokens) {
    AfModuleEpisode *e = cur_episode;
    if (!e) return;
    if (e->n_calls == AF_MODULE_CALLS_MAX) {
        e->dropped++;
        return;
    }
    e->calls[e->n_calls++] = (AfModuleCallRecord){.module = (uint8_t)module, .turn = turn, .tokens = tokens, .logprob = logprob};
}

static int b_execute(AfExecutor *self, const AfItem *item, const AfTurnRecord *mem, size_t n, const char *action_text,
                     double tool_timeout_s, AfTurnRecord *out) {
    const AfSuite *s = self->ctx;
    return s->ops->execute(s, item, mem, n, action_text, tool_timeout_s, out);
}

static int b_verify(AfVerifier *self, const AfItem *item, const AfTurnRecord *mem, size_t n, int *stop) {
    const AfSuite *s = self->ctx;
    return s->ops->verify(s, item, mem, n, stop);
}

static int b_generate(AfGenerator *self, const AfItem *item, const AfTurnRecord *mem, size_t n, char **answer) {
    const AfSuite *s = self->ctx;
    return s->ops->generate(s, item, mem, n, answer);
}

static int b_judge(AfJudge *self, const AfItem *item, const char *answer, float *reward) {
    const AfSuite *s = self->ctx;
    return s->ops->judge(s, item, answer, reward);
}

#define MAKE(Type, field, fn, name)                                        \
    int name(const AfSuite *suite, Type **out) {                           \
        Type *m = calloc(1, sizeof *m);                                    \
        if (!m) return af_error_set(AF_ENOMEM, "builtin " #field);         \
        m->backend = "builtin";                                            \
        m->field = fn;                                                     \
        m->ctx = (void *)suite;                                            \
        *out = m;                                                          \
        return 0;                                                          \
    }

MAKE(AfExecutor, execute, b_execute, af_executor_builtin_create)
MAKE(AfVerifier, verify, b_verify, af_verifier_builtin_create)
MAKE(AfGenerator, generate, b_generate, af_generator_builtin_create)
MAKE(AfJudge, judge, b_judge, af_judge_builtin_create)

void af_modules_clear(AfModules *m) {
    if (!m) return;
    if (m->executor) {
        if (m->executor->destroy) m->executor->destroy(m->executor);
        free(m->executor);
    }
    if (m->verifier) {
        if (m->verifier->destroy) m->verifier->destroy(m->verifier);
        free(m->verifier);
    }
    if (m->generator) {
        if (m->generator->destroy) m->generator->destroy(m->generator);
        free(m->generator);
    }
    if (m->judge) {
        if (m->judge->destroy) m->judge->destroy(m->judge);
        free(m->judge);
    }
    memset(m, 0, sizeof *m);
}

int af_modules_builtin(const AfSuite *suite, AfModules *out) {
    memset(out, 0, sizeof *out);
    int rc;
    if ((rc = af_executor_builtin_create(suite, &out->executor)) || (rc = af_verifier_builtin_create(suite, &out->verifier)) ||
        (rc = af_generator_builtin_create(suite, &out->generator)) || (rc = af_judge_builtin_create(suite, &out->judge))) {
        af_modules_clear(out);
        return rc;
    }
    return 0;
}
