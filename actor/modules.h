/* The frozen modules of the agent (docs/design.md §4): executor, verifier, generator, judge.
 *
 * Each is an interface (function pointer + ctx) with a `builtin` backend here that runs
 * the suite's rule-based implementation (env/suite.h); an `openai` backend (an
 * OpenAI-compatible chat endpoint) plugs in behind the same structs.
 *
 * Return codes of every module function: 0 on success; AF_ECURL, AF_ETIMEOUT or AF_EIO
 * mean the backend failed for infrastructure reasons: the episode is then marked
 * TRAJECTORY_STATUS_INFRA_FAILED with the detail, not aborted; any other negative code
 * (AF_ENOMEM, bugs) aborts the episode. */
#ifndef AF_ACTOR_MODULES_H
#define AF_ACTOR_MODULES_H

#include "env/suite.h"

typedef struct AfExecutor AfExecutor;
struct AfExecutor {
    const char *backend; /* "builtin", "openai" */
    /* Parse action_text, call the tool (per-call timeout tool_timeout_s), fill *out
     * (every string set; out->tool_s = seconds inside the tool). A bad action is a
     * status in *out (AF_TOOL_BAD_ACTION), not an error. */
    int (*execute)(AfExecutor *self, const AfItem *item, const AfTurnRecord *mem, size_t n, const char *action_text,
                   double tool_timeout_s, AfTurnRecord *out);
    void (*destroy)(AfExecutor *self); /* frees ctx; may be NULL */
    void *ctx;
};

typedef struct AfVerifier AfVerifier;
struct AfVerifier {
    const char *backend;
    int (*verify)(AfVerifier *self, const AfItem *item, const AfTurnRecord *mem, size_t n, int *stop);
    void (*destroy)(AfVerifier *self);
    void *ctx;
};

typedef struct AfGenerator AfGenerator;
struct AfGenerator {
    const char *backend;
    /* *answer: malloc'd final answer ("" if none). */
    int (*generate)(AfGenerator *self, const AfItem *item, const AfTurnRecord *mem, size_t n, char **answer);
    void (*destroy)(AfGenerator *self);
    void *ctx;
};

typedef struct AfJudge AfJudge;
struct AfJudge {
    const char *backend;
    /* *reward in [0, 1] (the episode clamps and rejects NaN). */
    int (*judge)(AfJudge *self, const AfItem *item, const char *answer, float *reward);
    void (*destroy)(AfJudge *self);
    void *ctx;
};

typedef struct AfModules {
    AfExecutor *executor;
    AfVerifier *verifier;
    AfGenerator *generator;
    AfJudge *judge;
} AfModules;

/* Builtin backends bound to a suite (which must outlive them). Each returns 0 or AF_ENOMEM;
 * free with af_modules_clear() or the destroy of each (heap structs, free()d after destroy). */
int af_executor_builtin_create(const AfSuite *suite, AfExecutor **out);
int af_verifier_builtin_create(const AfSuite *suite, AfVerifier **out);
int af_generator_builtin_create(const AfSuite *suite, AfGenerator **out);
int af_judge_builtin_create(const AfSuite *suite, AfJudge **out);

/* All four builtin modules. On failure nothing is left allocated. */
int af_modules_builtin(const AfSuite *suite, AfModules *out);

/* Destroys each non-NULL module (calling its destroy, then free()) and zeroes *m. A
 * backend created elsewhere must also be a malloc'd struct. */
void af_modules_clear(AfModules *m);

#endif
