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

#include <stddef.h>
#include <stdint.h>

#include "env/suite.h"

/* The four modules, for per-call seeds and records (values are part of the seed
 * derivation: never renumber). */
typedef enum { AF_MODULE_EXECUTOR = 0, AF_MODULE_VERIFIER = 1, AF_MODULE_GENERATOR = 2, AF_MODULE_JUDGE = 3 } AfModuleKind;
const char *af_module_name(int module); /* "executor", ...; "?" out of range */

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

/* The running episode, as the backends that seed or score each call see it. af_episode_run
 * installs one for the calling thread while the episode runs (a thread-local pointer,
 * like common/deadline.h's deadline), so the module interfaces above stay as they are.
 * A call is named by (module, turn): turn = the memory turns the module was given (the
 * judge: 0); each module is called at most once per name in an episode.
 *   seed     af_module_call_seed(): a pure function of (run seed, iteration, query,
 *            sample, module, turn) drawn from the AF_RNG_TOOL stream, so a sampled module
 *            reply is bit-reproducible and independent of thread scheduling. Without an
 *            installed episode the name is (0, 0, 0, 0, module, turn).
 *   records  af_module_call_record(): the log-prob sum and token count of a reply, kept
 *            in calls[] (at most AF_MODULE_CALLS_MAX; later ones are counted in dropped)
 *            and copied into the trajectory's module_calls by af_episode_run. */
#define AF_MODULE_CALLS_MAX 160 /* 2 per turn (executor, verifier) * AF_MAX_TURNS + 2, rounded up */
typedef struct AfModuleCallRecord {
    uint8_t module; /* AfModuleKind */
    uint32_t turn;
    uint32_t tokens;
    double logprob; /* sum over the reply's tokens */
} AfModuleCallRecord;
typedef struct AfModuleEpisode {
    uint64_t seed;
    uint32_t iteration, query_index, sample_index;
    AfModuleCallRecord calls[AF_MODULE_CALLS_MAX];
    size_t n_calls, dropped;
} AfModuleEpisode;

/* Installs e (owned by the caller, alive until uninstalled) for this thread; returns the
 * one it replaces (NULL if none), for the caller to restore. */
AfModuleEpisode *af_module_episode_set(AfModuleEpisode *e);
uint64_t af_module_call_seed(int module, uint32_t turn);
/* Records a reply in this thread's episode (nothing without one). */
void af_module_call_record(int module, uint32_t turn, double logprob, uint32_t tokens);

/* Destroys each non-NULL module (calling its destroy, then free()) and zeroes *m. A
 * backend created elsewhere must also be a malloc'd struct. */
void af_modules_clear(AfModules *m);

#endif
