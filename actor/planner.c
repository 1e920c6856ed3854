/* Reference planners: oracle and uniformly random valid actions, encoded to tokens. */
#include "actor/planner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

void af_planner_encode_action(const AfVocab *vocab, const char *text, uint32_t *tokens, size_t max_tokens, size_t *n) {
    size_t k;
    int rc = af_vocab_encode(vocab, text, tokens, max_tokens, &k);
    if (rc == 0 && k < max_tokens) tokens[k++] = AF_TOK_EOS;
    if (k > max_tokens) k = max_tokens; /* cut off like a sampler would be */
    *n = k;
}

static int emit(const AfPlannerInput *in, char *text, uint32_t *tokens, float *logprobs, size_t max_tokens,
                size_t *n) {
    af_planner_encode_action(in->suite->vocab, text, tokens, max_tokens, n);
    free(text);
    for (size_t i = 0; i < *n; i++) logprobs[i] = 0.0f;
    return 0;
}

static int oracle_act(AfPlanner *self, const AfPlannerInput *in, AfRng *rng, uint32_t *tokens, float *logprobs,
                      size_t max_tokens, size_t *n) {
    (void)self;
    (void)rng;
    char *text = NULL;
    int rc = in->suite->ops->oracle(in->suite, in->item, in->memory, in->n_memory, &text);
    if (rc) return rc;
    return emit(in, text, tokens, logprobs, max_tokens, n);
}

/* Uniformly random valid actions: the suite's own, or, with tools added to the suite
 * (python, http), each added tool that shows an example as likely as the suite's whole
 * action space (no draw is made without added tools). */
int af_planner_random_text(const AfPlannerInput *in, AfRng *rng, char **text) {
    const AfSuite *s = in->suite;
    *text = NULL;
    if (s->n_extra_tools > 0) {
        const uint32_t pick = af_rng_below(rng, (uint32_t)s->n_extra_tools + 1);
        const AfTool *t = pick < s->n_extra_tools ? s->tools[s->n_tools - s->n_extra_tools + pick] : NULL;
        if (t && t->example) {
            size_t len = strlen(t->name) + strlen(t->example) + 2;
            if (!(*text = malloc(len))) return af_error_set(AF_ENOMEM, "random action");
            snprintf(*text, len, "%s %s", t->name, t->example);
            return 0;
        }
    }
    return s->ops->random_action(s, in->item, in->memory, in->n_memory, rng, text);
}

static int random_act(AfPlanner *self, const AfPlannerInput *in, AfRng *rng, uint32_t *tokens, float *logprobs,
                      size_t max_tokens, size_t *n) {
    (void)self;
    char *text = NULL;
    int rc = af_planner_random_text(in, rng, &text);
    if (rc) return rc;
    return emit(in, text, tokens, logprobs, max_tokens, n);
}

typedef struct {
    double p;
    uint64_t explored;
    int give_up; /* attempts to play out with explored steps before the oracle's (suite attempts) */
} Explorer;

static int explorer_act(AfPlanner *self, const AfPlannerInput *in, AfRng *rng, uint32_t *tokens, float *logprobs,
                        size_t max_tokens, size_t *n) {
    Explorer *e = self->ctx;
    const AfSuiteOps *ops = in->suite->ops;
    if (in->turn == 0) {
        e->explored = 0;
        const int tries = in->suite->attempts * (in->suite->retries + 1);
        e->give_up = tries > 1 ? (int)af_rng_below(rng, (uint32_t)tries) : 0;
    }
    char *text = NULL;
    int rc;
    /* one draw per turn whatever the suite, so the stream does not depend on it */
    int explore = af_rng_uniform(rng) < e->p && ops->explore;
    /* With attempts (and retries), a uniformly drawn number of tries is played out with
     * explored steps first, so that every try's order gets its share of demonstrations. */
    if (e->give_up > 0 && ops->explore && ops->restarts &&
        ops->restarts(in->suite, in->item, in->memory, in->n_memory) < e->give_up)
        explore = 1;
    if (explore && (rc = ops->explore(in->suite, in->item, in->memory, in->n_memory, rng, &text))) return rc;
    if (text && in->turn < 64) e->explored |= (uint64_t)1 << in->turn;
    if (!text && (rc = ops->oracle(in->suite, in->item, in->memory, in->n_memory, &text))) return rc;
    /* The oracle gives up ("stop") where the state has no solution left, which only an
     * explored step leads to. A suite with attempts (game24/countdown) plays such a
     * dead end out with explored steps, so that the demonstration goes on to the next
     * attempt; otherwise explore has nothing to offer there and the stop stands. */
    if (!strcmp(text, "stop") && in->n_memory > 0 && ops->explore) {
        char *step = NULL;
        if ((rc = ops->explore(in->suite, in->item, in->memory, in->n_memory, rng, &step))) {
            free(text);
            return rc;
        }
        if (step) {
            free(text);
            text = step;
            if (in->turn < 64) e->explored |= (uint64_t)1 << in->turn;
        }
    }
    return emit(in, text, tokens, logprobs, max_tokens, n);
}

static void explorer_destroy(AfPlanner *self) { free(self->ctx); }

static int make(const char *name, int (*act)(AfPlanner *, const AfPlannerInput *, AfRng *, uint32_t *, float *, size_t, size_t *),
                AfPlanner **out) {
    AfPlanner *p = calloc(1, sizeof *p);
    if (!p) return af_error_set(AF_ENOMEM, "planner %s", name);
    p->name = name;
    p->temperature = 1.0f;
    p->act = act;
    *out = p;
    return 0;
}

int af_planner_oracle_create(AfPlanner **out) { return make("oracle", oracle_act, out); }
int af_planner_random_create(AfPlanner **out) { return make("random", random_act, out); }

int af_planner_explorer_create(double p, AfPlanner **out) {
    Explorer *e = calloc(1, sizeof *e);
    if (!e) return af_error_set(AF_ENOMEM, "planner explorer");
    e->p = p;
    int rc = make("explorer", explorer_act, out);
    if (rc) {
        free(e);
        return rc;
    }
    (*out)->ctx = e;
    (*out)->destroy = explorer_destroy;
    return 0;
}

uint64_t af_planner_explored(const AfPlanner *p) {
    return p && p->act == explorer_act ? ((const Explorer *)p->ctx)->explored : 0;
}

void af_planner_destroy(AfPlanner *p) {
    if (!p) return;
    if (p->destroy) p->destroy(p);
    free(p);
}
