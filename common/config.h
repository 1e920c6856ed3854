/* The run configuration: one JSON document with a default for every key (docs/design.md §10).
 *
 * Sources, applied in order: the defaults, a `--config FILE` JSON document, then each
 * `--set section.key=value`. Every application is validated against the schema below:
 * an unknown key, a wrong type or an out-of-range value is rejected with one line naming
 * the key and what was expected (af_error_detail()), and AF_ECONFIG is returned. The
 * struct is left unchanged by a rejected application.
 *
 * The schema is the X-macro AF_CONFIG_KEYS: path, struct field, type, default, bounds
 * and a one-line doc. Adding a key = one line here plus the field in AfConfig. */
#ifndef AF_COMMON_CONFIG_H
#define AF_COMMON_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define AF_CFG_STR_MAX 512

/* Planner turns per episode at most (rollout.max_turns): a 64-bit mask records a
 * demonstration's explored turns (actor/planner.h). */
#define AF_MAX_TURNS 64
#define AF_STR_(x) #x
#define AF_STR(x) AF_STR_(x) /* a macro's value as a string literal */

/* The choices of ENUM keys, as enums: a value's number is its position in the key's
 * `choices` list below (tests/test_config.c checks every one against the schema). The
 * configuration is parsed into these once; nothing compares a choice as a string. */
typedef enum { AF_BACKEND_BUILTIN = 0, AF_BACKEND_OPENAI = 1, AF_BACKEND_MODEL = 2 } AfBackend;
typedef enum { AF_SUITE_GAME24 = 0, AF_SUITE_COUNTDOWN = 1, AF_SUITE_MULTIHOP = 2, AF_SUITE_ARITH = 3, AF_SUITE_TASK = 4 } AfSuiteKind;
typedef enum { AF_VIEW_TRY = 0, AF_VIEW_STATE = 1 } AfSuiteView;
typedef enum { AF_RANDOM_EXPRESSION = 0, AF_RANDOM_STEP = 1 } AfRandomAction;
typedef enum { AF_WARMSTART_RANDOM = 0, AF_WARMSTART_ORACLE = 1 } AfWarmstartPlanner;
typedef enum { AF_SUBGOAL_NONE = 0, AF_SUBGOAL_PLAN = 1 } AfWarmstartSubgoal;
typedef enum { AF_CFG_ADV_TRAJECTORY = 0, AF_CFG_ADV_TURN = 1 } AfCfgAdvStats;
typedef enum { AF_CFG_AGG_PAPER = 0, AF_CFG_AGG_TOKEN_MEAN = 1 } AfCfgLossAgg;
typedef enum { AF_REWARD_TURNS_ALL = 0, AF_REWARD_TURNS_FINAL = 1, AF_REWARD_TURNS_LAST_TRY = 2 } AfRewardTurns;
typedef enum { AF_POLICY_MEMORY = 0, AF_POLICY_MONOLITHIC = 1 } AfPolicyContext;
typedef enum { AF_CURRICULUM_OFF = 0, AF_CURRICULUM_MASTERY = 1 } AfCurriculumMode;
typedef enum { AF_CFG_LR_CONSTANT = 0, AF_CFG_LR_COSINE = 1 } AfCfgLrSchedule;
/* log.progress and log.level follow AfProgressMode and AfLogLevel (common/log.h),
 * run.weights_transport AfWeightsTransport (common/weights_shm.h). */

typedef struct AfModuleConfig {
    int backend;                 /* AfBackend */
    char url[AF_CFG_STR_MAX];    /* OpenAI-compatible /v1/chat/completions endpoint */
    char model[128];             /* served model name */
    char api_key_env[128];       /* name of the environment variable holding the API key */
    double timeout_s;
    int64_t retries;
    int64_t max_tokens;          /* reply cap per call; 0: openai omits it, model uses 128 */
    int send_seed;               /* openai: send a per-call seed */
    int logprobs;                /* openai: ask for log-probs and record their sum */
} AfModuleConfig;

typedef struct AfConfig {
    struct {
        int64_t seed, iterations, checkpoint_every, keep_checkpoints, checkpoint_map_mb, eval_every, eval_samples,
            eval_train;
        int store_trajectories;
        double time_limit_s;
        double cpu_limit_s;
        char checkpoint_dir[AF_CFG_STR_MAX];
        int weights_transport; /* AfWeightsTransport (common/weights_shm.h) */
    } run;
    struct {
        int64_t learners;
    } topology;
    struct {
        int name; /* AfSuiteKind */
        double test_fraction;
        int64_t max_train, max_test, train_size, hops, entities, attempts, retries, min_hops, max_hops, distractors;
        int shuffle;
        int view; /* AfSuiteView */
        int random_action; /* AfRandomAction */
    } suite;
    struct {
        char train[AF_CFG_STR_MAX], test[AF_CFG_STR_MAX];
    } data;
    struct {
        int judge; /* AfTaskJudge (env/task_judge.h) */
        double tolerance;
    } task;
    struct {
        int64_t d_model, n_layers, n_heads, n_kv_heads, d_ff, max_seq, warmstart_steps, warmstart_batch;
        double rope_theta, rms_eps, init_std, warmstart_lr, warmstart_explore;
        int qkv_bias, tied_embeddings;
        char init_from[AF_CFG_STR_MAX];
        int warmstart_planner; /* AfWarmstartPlanner */
        int warmstart_subgoal; /* AfWarmstartSubgoal */
        int64_t threads;
        int compute; /* AF_COMPUTE_* of common/matmul_bf16.h (fp32|bf16|auto, same order) */
        int64_t warmstart_save_every;
    } model;
    struct {
        int64_t batch_queries, group_size, max_turns, max_action_tokens, result_chars;
        int64_t memory_results; /* turns whose results the memory prompt shows, 0 = all */
        double temperature, top_p, episode_timeout_s, tool_timeout_s, slow_fraction, slow_factor;
        int64_t top_k;
        char stop[AF_CFG_STR_MAX];
        int group_decode;
        double explore_random; /* share of training turns whose action is the suite's random one, scored by the planner */
        int constrain_actions;  /* the model planner decodes among the suite's valid actions */
        int decode_dtype; /* AfDecodeDtype (common/decode.h): 0 fp32, 1 bf16, 2 auto */
    } rollout;
    struct {
        double lr, weight_decay, grad_clip, clip_low, clip_high, dual_clip, kl_coef;
        double entropy_coef, entropy_target, entropy_coef_lr;
        int curriculum; /* AfCurriculumMode */
        double curriculum_threshold, curriculum_replay, curriculum_ema;
        double adam_beta1, adam_beta2, adam_eps;
        int adv_stats;    /* AfCfgAdvStats */
        int loss_agg;     /* AfCfgLossAgg */
        int reward_turns; /* AfRewardTurns */
        int policy;       /* AfPolicyContext */
        int group_norm;
        int64_t ppo_epochs, minibatch, max_staleness;
        int drop_zero_variance;
        double neg_adv_scale; /* factor on negative advantages, 1 = the paper */
        int64_t adv_pass_k; /* advantages of the pass@k objective over the group, 0 = off (the paper) */
        int64_t adv_pass_k_until; /* pass@k advantages before this iteration only, 0 = the whole run */
        double explore_neg_scale; /* further factor on negative advantages of explored turns */
        int64_t dynamic_sampling; /* extra rollout rounds refilling zero-variance groups, 0 = off */
        int64_t lr_warmup;
        int64_t ref_reset_every; /* iterations between resets of the KL reference to the policy, 0 = frozen */
        int lr_schedule; /* AfCfgLrSchedule */
        double lr_min;
        int carry_moments;
    } algo;
    struct {
        AfModuleConfig planner, executor, verifier, generator, judge;
        struct { /* the local model of backend=model, shared by those modules (actor/modules_model.h) */
            char dir[AF_CFG_STR_MAX];
            int64_t max_seq, threads;
            double temperature, top_p;
        } model;
    } modules;
    struct {
        struct {
            double cpu_s, wall_s;
            int64_t mem_mb, output_bytes;
            char interpreter[AF_CFG_STR_MAX];
            int enabled;
            int isolation; /* AfPythonIsolation (env/python_tool.h): required, best_effort, none */
            int64_t disk_mb;
        } python;
        struct {
            char url[AF_CFG_STR_MAX], allow_hosts[AF_CFG_STR_MAX];
            double timeout_s;
            int64_t retries, max_bytes;
        } http;
        struct {
            int enabled;
        } calculator;
        struct {
            char corpus[AF_CFG_STR_MAX], index_dir[AF_CFG_STR_MAX];
            int64_t top_k, max_bytes;
        } search;
    } tools;
    struct {
        int64_t metrics_every;
        int tensorboard;       /* learner 0 writes RUN_DIR/tb/ */
        int64_t samples_every; /* a sample episode as TensorBoard text every N iterations */
        int progress; /* AfProgressMode */
        int level;    /* AfLogLevel */
    } log;
} AfConfig;

/* X(path, field, TYPE, default, min, max, choices, doc)
 * TYPE: INT (int64_t, [min, max]), FLOAT (double, [min, max], finite), BOOL (int 0/1),
 * STR (char[], any text that fits), ENUM (int, one of `choices`, "a|b|c", stored as its
 * position in the list: the enums above).
 * RESUME marks keys that may change when a run is resumed (others must match). */
#define AF_MODULE_KEYS(X, m, be)                                                              \
    X("modules." #m ".backend", modules.m.backend, ENUM, be, 0, 0, "builtin|openai|model",     \
      "backend of the " #m ": rule-based builtin, an OpenAI-compatible server, or the local "  \
      "model of modules.model.dir (not the planner)")                                          \
    X("modules." #m ".url", modules.m.url, STR, "http://127.0.0.1:8000/v1/chat/completions",   \
      0, 0, "", "chat-completions endpoint (openai backend)")                                   \
    X("modules." #m ".model", modules.m.model, STR, "", 0, 0, "", "served model name")         \
    X("modules." #m ".api_key_env", modules.m.api_key_env, STR, "OPENAI_API_KEY", 0, 0, "",    \
      "environment variable holding the API key (the key itself is never logged)")             \
    X("modules." #m ".timeout_s", modules.m.timeout_s, FLOAT, 30.0, 0.1, 3600.0, "",           \
      "per-request timeout in seconds")                                                         \
    X("modules." #m ".retries", modules.m.retries, INT, 2, 0, 10, "", "retries with backoff")   \
    X("modules." #m ".max_tokens", modules.m.max_tokens, INT, 0, 0, 32768, "",                  \
      "reply tokens per call at most; 0 = openai: not sent, model: 128 (the served planner: rollout.max_action_tokens)") \
    X("modules." #m ".seed", modules.m.send_seed, BOOL, 0, 0, 0, "",                            \
      "openai modules (not the planner): send a seed derived from run.seed, the episode and the call (reproducible sampling where the server offers it)") \
    X("modules." #m ".logprobs", modules.m.logprobs, BOOL, 0, 0, 0, "",                         \
      "openai modules (not the planner): ask for log-probs and record each reply's sum in the trajectory (a server that rejects them is asked again without)")

#define AF_CONFIG_KEYS(X)                                                                      \
    X("run.seed", run.seed, INT, 1, 0, 9007199254740991LL, "", "master seed of every random stream")    \
    X("run.iterations", run.iterations, INT, 60, 0, 100000000, "", "training iterations (RESUME)") \
    X("run.checkpoint_every", run.checkpoint_every, INT, 10, 0, 100000000, "",                 \
      "checkpoint every N iterations, 0 = only at the end (RESUME)")                           \
    X("run.keep_checkpoints", run.keep_checkpoints, INT, 3, 1, 1000, "",                       \
      "checkpoints kept in ckpt.lmdb (RESUME)")                                                 \
    X("run.checkpoint_map_mb", run.checkpoint_map_mb, INT, 0, 0, 16777216, "",                 \
      "LMDB map size of ckpt.lmdb in MiB; 0 = automatic, grown as checkpoints need (RESUME)")  \
    X("run.checkpoint_dir", run.checkpoint_dir, STR, "", 0, 0, "",                              \
      "node-local directory for the checkpoint store, copied to RUN_DIR/ckpt.lmdb after each checkpoint (for a RUN_DIR on NFS/Lustre/GPFS); empty = RUN_DIR (RESUME)") \
    X("run.store_trajectories", run.store_trajectories, BOOL, 0, 0, 0, "",                     \
      "keep every trajectory in RUN_DIR/traj.lmdb (RESUME)")                                    \
    X("run.time_limit_s", run.time_limit_s, FLOAT, 0.0, 0.0, 1e9, "",                           \
      "stop after the iteration that passes this many seconds since start, 0 = no limit (RESUME)") \
    X("run.cpu_limit_s", run.cpu_limit_s, FLOAT, 0.0, 0.0, 1e9, "",                             \
      "stop after the iteration that passes this many CPU seconds of the whole job: user + system of every rank's process, the warm start, evaluations and the segments before a resume included (metrics time/cpu_s); a budget in core-seconds for comparing runs on shared machines; 0 = no limit (RESUME)") \
    X("run.eval_every", run.eval_every, INT, 0, 0, 100000000, "",                              \
      "greedy held-out evaluation every N iterations (also before the first and after the last); 0 = never (RESUME)") \
    X("run.eval_samples", run.eval_samples, INT, 0, 0, 1024, "",                               \
      "with run.eval_every: also K sampled episodes per held-out question at rollout.temperature (the episodes of `agentflow eval --samples K`), pass@k and mean@K in eval.jsonl; 0 = greedy only (RESUME)") \
    X("run.eval_train", run.eval_train, INT, 0, 0, 100000000, "",                               \
      "with run.eval_every: also the greedy accuracy on the first N training questions (all of them when fewer), train_accuracy in eval.jsonl beside the held-out accuracy: the gap between what the planner learned on its questions and what carries over; 0 = off (RESUME)") \
    X("run.weights_transport", run.weights_transport, ENUM, "auto", 0, 0, "auto|bcast|shm",         \
      "how learner 0 sends the weights to the actors: shm = through node-shared memory (one copy per actor; across nodes one MPI broadcast per node), bcast = chunked MPI broadcasts, auto = shm when ranks share a node (RESUME)") \
    X("topology.learners", topology.learners, INT, 1, 1, 4096, "",                              \
      "learner ranks (ranks 0..L-1); the rest are actors")                                      \
    X("suite.name", suite.name, ENUM, "game24", 0, 0, "game24|countdown|multihop|arith|task",       \
      "task suite")                                                                             \
    X("suite.test_fraction", suite.test_fraction, FLOAT, 0.2, 0.01, 0.9, "",                   \
      "reserved: the built-in splits are fixed, another value is refused (use suite.max_test or data.test)")                                         \
    X("suite.max_train", suite.max_train, INT, 0, 0, 100000000, "",                            \
      "cap on training questions, 0 = all")                                                     \
    X("suite.max_test", suite.max_test, INT, 0, 0, 100000000, "", "cap on test questions, 0 = all") \
    X("suite.train_size", suite.train_size, INT, 0, 0, 1000000, "",                           \
      "countdown and arith: training questions generated, 0 = the suite's 2000; the 300 test questions are drawn first, so they stay the same and stay out of the larger training split") \
    X("suite.hops", suite.hops, INT, 3, 2, 4, "", "reserved: another value is refused (multihop's hops are suite.min_hops..suite.max_hops)")     \
    X("suite.min_hops", suite.min_hops, INT, 2, 2, 8, "",                                       \
      "multihop: fewest hops of a generated question (uniform over min_hops..max_hops)")        \
    X("suite.max_hops", suite.max_hops, INT, 4, 2, 8, "",                                       \
      "multihop: most hops of a generated question; a long-horizon variant is e.g. 5..6 (set rollout.max_turns >= max_hops)") \
    X("suite.distractors", suite.distractors, INT, 0, 0, 6, "",                                 \
      "multihop: relations on every entity that no question asks (rival, partner, mentor, neighbour, sponsor, twin, to random entities): longer search results, followable dead ends") \
    X("suite.entities", suite.entities, INT, 400, 16, 1000000, "",                              \
      "reserved: the multihop world size is fixed, another value is refused")                                              \
    X("suite.attempts", suite.attempts, INT, 1, 1, 16, "",                                      \
      "game24/countdown: attempts per episode; a step that leaves one number other than the target starts the next, from the numbers in another order (the planner sees the current attempt only)") \
    X("suite.retries", suite.retries, INT, 0, 0, 16, "",                                        \
      "game24/countdown: before a new attempt, tries again this many times from the state the attempt's first step left, listed in another order") \
    X("suite.shuffle", suite.shuffle, BOOL, 0, 0, 0, "",                                        \
      "game24/countdown: training episodes (the warm start's demonstrations and the RL rollouts) see the question's numbers in a random order, drawn per query draw from the run seed (the same for a group's G samples); evaluation keeps the given order") \
    X("suite.view", suite.view, ENUM, "try", 0, 0, "try|state",                                 \
      "game24/countdown: the memory the planner's prompt shows: the current try (every turn with one attempt), or only from the last turn that says what is left (that turn and any failed ones after it)") \
    X("suite.random_action", suite.random_action, ENUM, "expression", 0, 0, "expression|step",   \
      "game24/countdown: the random planner's action (agentflow rollout --planner random, model.warmstart_planner=random, rollout.explore_random): one random expression over all the question's numbers, or one uniformly drawn step of the state the memory leaves (two of the numbers left and an operator whose result exists; \"stop\" where one number is left), the steps the oracle takes") \
    X("data.train", data.train, STR, "", 0, 0, "", "JSONL file replacing the generated train split") \
    X("data.test", data.test, STR, "", 0, 0, "", "JSONL file replacing the generated test split") \
    X("task.judge", task.judge, ENUM, "exact", 0, 0, "exact|numeric|choice|regex|contains|openai|model", \
      "suite task: the judge of lines without their own (env/task_judge.h); openai and model need modules.judge.backend of that name") \
    X("task.tolerance", task.tolerance, FLOAT, 1e-6, 0.0, 1e12, "",                             \
      "suite task, numeric judge: abs(answer - gold) <= tolerance * max(1, abs(gold))")              \
    X("model.d_model", model.d_model, INT, 128, 8, 65536, "", "hidden size")                    \
    X("model.n_layers", model.n_layers, INT, 2, 1, 1024, "", "transformer blocks")             \
    X("model.n_heads", model.n_heads, INT, 4, 1, 1024, "", "attention heads")                  \
    X("model.n_kv_heads", model.n_kv_heads, INT, 4, 1, 1024, "",                                \
      "key/value heads (grouped-query attention; divides n_heads)")                            \
    X("model.d_ff", model.d_ff, INT, 352, 8, 1048576, "", "SwiGLU inner size")                 \
    X("model.max_seq", model.max_seq, INT, 384, 16, 1048576, "", "maximum sequence length")    \
    X("model.rope_theta", model.rope_theta, FLOAT, 10000.0, 1.0, 1e9, "", "RoPE base")         \
    X("model.rms_eps", model.rms_eps, FLOAT, 1e-5, 1e-12, 1e-2, "", "RMSNorm epsilon")         \
    X("model.init_std", model.init_std, FLOAT, 0.02, 1e-6, 1.0, "", "initialisation std")      \
    X("model.qkv_bias", model.qkv_bias, BOOL, 0, 0, 0, "", "bias on q/k/v projections (Qwen2)") \
    X("model.tied_embeddings", model.tied_embeddings, BOOL, 1, 0, 0, "",                        \
      "LM head shares the token embedding")                                                     \
    X("model.init_from", model.init_from, STR, "", 0, 0, "",                                    \
      "Hugging Face-style model directory to start from, read only when a run starts (RESUME)")                                       \
    X("model.warmstart_steps", model.warmstart_steps, INT, 0, 0, 1000000, "",                  \
      "warm start: behaviour-cloning steps on training-split episodes of model.warmstart_planner before RL") \
    X("model.warmstart_planner", model.warmstart_planner, ENUM, "random", 0, 0, "random|oracle", \
      "warm-start demonstrations: random (random valid actions, the format only, no solutions) or oracle (the suite's solver on training questions: supervised fine-tuning)") \
    X("model.warmstart_subgoal", model.warmstart_subgoal, ENUM, "none", 0, 0, "none|plan",      \
      "oracle warm start of a planner in text: the demonstrations' Sub-goal line, none (no such line) or plan (multihop: the chain still to walk, the next search first, e.g. \"#1 director > mother > birthplace\"; the memory shows it to the next turn)") \
    X("model.warmstart_explore", model.warmstart_explore, FLOAT, 0.0, 0.0, 1.0, "",             \
      "oracle warm start, game24/countdown: probability that a demonstration turn takes a random step that keeps the puzzle solvable (with suite.attempts or suite.retries: any step) instead of the oracle's; such turns are not trained on, the oracle's turns after them are (more sub-games seen)") \
    X("model.warmstart_batch", model.warmstart_batch, INT, 32, 1, 100000, "",                  \
      "episodes per warm-start step")                                                           \
    X("model.warmstart_lr", model.warmstart_lr, FLOAT, 3e-3, 1e-7, 1.0, "",                    \
      "peak warm-start learning rate (20-step linear warm-up, cosine decay to 10%)")           \
    X("model.warmstart_save_every", model.warmstart_save_every, INT, 0, 0, 1000000, "",        \
      "warm start: every N steps (before the last) write the planner so far to RUN_DIR/warmstart-step-S, a model directory for eval --model (a warm start's learning curve); 0 = never") \
    X("model.threads", model.threads, INT, 1, 1, 256, "", "OpenBLAS threads per rank")         \
    X("model.compute", model.compute, ENUM, "fp32", 0, 0, "fp32|bf16|auto|bf16-fma",            \
      "precision of the learner's matrix products (linear layers and attention): fp32; bf16 (bf16 inputs, fp32 accumulation and master weights: AMX or AVX512-BF16, refused on a CPU without them); auto (bf16 where the CPU has it, else fp32; the bits then depend on the CPU); bf16-fma (bf16's rounding of the inputs, the products on the fp32 FMA units: about twice bf16's speed on a CPU without AMX, any CPU; its own bits). Decoding stays fp32") \
    X("rollout.batch_queries", rollout.batch_queries, INT, 16, 1, 1000000, "",                 \
      "queries per iteration (B)")                                                              \
    X("rollout.group_size", rollout.group_size, INT, 8, 1, 1024, "", "episodes per query (G)") \
    X("rollout.max_turns", rollout.max_turns, INT, 3, 1, AF_MAX_TURNS, "", "planner turns per episode")  \
    X("rollout.max_action_tokens", rollout.max_action_tokens, INT, 24, 1, 4096, "",            \
      "tokens the planner may generate per turn")                                               \
    X("rollout.result_chars", rollout.result_chars, INT, 200, 16, 1000000, "",                  \
      "bytes of each tool result the planner sees in memory")                                  \
    X("rollout.memory_results", rollout.memory_results, INT, 0, 0, AF_MAX_TURNS, "",            \
      "memory policy: the planner's prompt shows the tool results of only the last K turns; an earlier turn keeps its action and, in place of its result, the tool's status (ok, bad_action, tool_error, ...): a memory that stays bounded as the turns grow, where the monolithic transcript keeps every result; 0 = every turn's result (the default)") \
    X("rollout.temperature", rollout.temperature, FLOAT, 1.0, 0.01, 10.0, "",                  \
      "sampling temperature (also the training temperature)")                                  \
    X("rollout.top_p", rollout.top_p, FLOAT, 1.0, 0.01, 1.0, "", "nucleus sampling mass")      \
    X("rollout.explore_random", rollout.explore_random, FLOAT, 0.0, 0.0, 1.0, "",              \
      "training rollouts: probability that a planner turn takes a uniformly random valid action of the suite (the random planner's) instead of sampling one; the planner scores it (its log-probs at the sampling temperature are the behaviour log-probs) and the turn is marked explored; 0 = off (the paper); evaluation never explores") \
    X("rollout.constrain_actions", rollout.constrain_actions, BOOL, 0, 0, 0, "",                 \
      "the model planner draws each action's tokens among those that continue one of the suite's valid actions of the state (game24, countdown: two numbers left and an operator), greedy and sampled, in training and evaluation; the policy is the softmax over those tokens (masked logits), its log-probs are recorded with each token's mask and the learner trains the same masked softmax; off = free decoding (the paper)") \
    X("rollout.top_k", rollout.top_k, INT, 0, 0, 1000000000, "", "sample among the k most probable tokens (0 = off)") \
    X("rollout.decode_dtype", rollout.decode_dtype, ENUM, "fp32", 0, 0, "fp32|bf16|auto",           \
      "weights in the planner decoder's matrix products: fp32, bf16 (a bf16 copy per weight version, inputs rounded to bf16, fp32 sums; emulated without AVX512-BF16: same bits, slow) or auto (bf16 where the CPU has AVX512-BF16, else fp32); not the learner's") \
    X("rollout.stop", rollout.stop, STR, "", 0, 0, "",                                          \
      "stop strings of a planner in text (a model directory with tokenizer.json), separated by vertical bars; a backslash escapes a bar or a backslash, and makes n a newline and t a tab") \
    X("rollout.episode_timeout_s", rollout.episode_timeout_s, FLOAT, 60.0, 0.01, 86400.0, "",  \
      "wall-clock budget of one episode")                                                       \
    X("rollout.tool_timeout_s", rollout.tool_timeout_s, FLOAT, 10.0, 0.01, 3600.0, "",          \
      "wall-clock budget of one tool call")                                                     \
    X("rollout.group_decode", rollout.group_decode, BOOL, 1, 0, 0, "",                         \
      "decode the turns of a query's episodes (evaluation: of several questions) together, their shared prompt prefix prefilled once; the same bits as one at a time (RESUME)") \
    X("rollout.slow_fraction", rollout.slow_fraction, FLOAT, 0.0, 0.0, 1.0, "",                 \
      "injected stragglers (scaling studies): this fraction of training episodes, chosen by (seed, iteration, query, sample), is slowed down (RESUME)") \
    X("rollout.slow_factor", rollout.slow_factor, FLOAT, 5.0, 1.0, 1000.0, "",                  \
      "a slowed episode takes this many times its own wall time (RESUME)")                      \
    X("algo.lr", algo.lr, FLOAT, 1e-3, 0.0, 10.0, "", "learning rate (the peak with algo.lr_warmup or algo.lr_schedule)") \
    X("algo.lr_warmup", algo.lr_warmup, INT, 0, 0, 100000000, "",                               \
      "RL iterations of linear learning-rate warm-up from algo.lr / N to algo.lr, 0 = none (learner/lr_schedule.h)") \
    X("algo.lr_schedule", algo.lr_schedule, ENUM, "constant", 0, 0, "constant|cosine",          \
      "RL learning rate after the warm-up: constant (the paper), or a cosine decay to algo.lr_min * algo.lr at run.iterations") \
    X("algo.lr_min", algo.lr_min, FLOAT, 0.1, 0.0, 1.0, "",                                     \
      "algo.lr_schedule=cosine: the final learning rate as a fraction of algo.lr")            \
    X("algo.carry_moments", algo.carry_moments, BOOL, 0, 0, 0, "",                              \
      "keep the warm start's AdamW moments and step count for Flow-GRPO instead of starting them from zero (needs model.warmstart_steps > 0 in the same run)") \
    X("algo.weight_decay", algo.weight_decay, FLOAT, 0.01, 0.0, 10.0, "", "AdamW weight decay") \
    X("algo.adam_beta1", algo.adam_beta1, FLOAT, 0.9, 0.0, 0.999999, "", "AdamW beta1")        \
    X("algo.adam_beta2", algo.adam_beta2, FLOAT, 0.999, 0.0, 0.99999999, "", "AdamW beta2")    \
    X("algo.adam_eps", algo.adam_eps, FLOAT, 1e-8, 1e-12, 1.0, "", "AdamW epsilon")            \
    X("algo.grad_clip", algo.grad_clip, FLOAT, 1.0, 0.0, 1e9, "",                               \
      "global gradient-norm clip, 0 = off")                                                     \
    X("algo.clip_low", algo.clip_low, FLOAT, 0.2, 0.0, 1.0, "", "PPO ratio clip below 1")      \
    X("algo.clip_high", algo.clip_high, FLOAT, 0.3, 0.0, 10.0, "", "PPO ratio clip above 1")   \
    X("algo.dual_clip", algo.dual_clip, FLOAT, 3.0, 0.0, 1e9, "",                               \
      "dual-clip bound c for negative advantages (> 1; 0 disables)")                                              \
    X("algo.kl_coef", algo.kl_coef, FLOAT, 0.001, 0.0, 100.0, "", "beta of the k3 KL term")    \
    X("algo.ref_reset_every", algo.ref_reset_every, INT, 0, 0, 100000000, "",                 \
      "KL reference that follows the policy: at the start of every N-th RL iteration it becomes the current policy (needs algo.kl_coef > 0, N a multiple of run.checkpoint_every and at most run.keep_checkpoints of them); 0 = the frozen warm-started planner (the paper)") \
    X("algo.entropy_coef", algo.entropy_coef, FLOAT, 0.0, 0.0, 100.0, "",                      \
      "weight of the entropy bonus in the loss (aggregated like the loss), 0 = none (paper)")   \
    X("algo.entropy_target", algo.entropy_target, FLOAT, 0.0, 0.0, 100.0, "",                  \
      "entropy target per action token: after each iteration the bonus weight moves by algo.entropy_coef_lr * (target - measured entropy), never below 0, starting at algo.entropy_coef; 0 = a constant weight") \
    X("algo.entropy_coef_lr", algo.entropy_coef_lr, FLOAT, 0.01, 0.0, 100.0, "",                \
      "step of the adaptive entropy weight (algo.entropy_target)")                             \
    X("algo.adv_stats", algo.adv_stats, ENUM, "trajectory", 0, 0, "trajectory|turn",           \
      "group statistics over trajectories (paper) or turn-samples (upstream code)")            \
    X("algo.loss_agg", algo.loss_agg, ENUM, "paper", 0, 0, "paper|token_mean",                 \
      "token->turn->trajectory averaging (paper) or a token mean")                             \
    X("algo.ppo_epochs", algo.ppo_epochs, INT, 1, 1, 1000, "", "passes over each batch")       \
    X("algo.minibatch", algo.minibatch, INT, 0, 0, 100000000, "",                               \
      "queries (whole groups) per optimizer step, 0 = the whole batch")                                  \
    X("algo.group_norm", algo.group_norm, BOOL, 1, 0, 0, "",                                    \
      "divide advantages by the group std (off: reward minus group mean only; ablation)")     \
    X("algo.reward_turns", algo.reward_turns, ENUM, "all", 0, 0, "all|final|last_try",          \
      "turns that carry the episode's advantage: every turn (Flow-GRPO), the final turn only (ablation), or every turn but a positive advantage skips the failed tries before the last (game24/countdown attempts)") \
    X("algo.policy", algo.policy, ENUM, "memory", 0, 0, "memory|monolithic",                     \
      "planner context: question + memory per turn, one sample per turn (AgentFlow), or one growing "   \
      "transcript of actions and results trained as a single response (ablation)")              \
    X("algo.drop_zero_variance", algo.drop_zero_variance, BOOL, 1, 0, 0, "",                    \
      "drop groups whose rewards are all equal")                                                \
    X("algo.neg_adv_scale", algo.neg_adv_scale, FLOAT, 1.0, 0.0, 1.0, "",                       \
      "factor on negative advantages (trajectories below their group's mean): 1 = symmetric GRPO (the paper), 0 = learn from the above-mean trajectories only") \
    X("algo.adv_pass_k", algo.adv_pass_k, INT, 0, 0, 1023, "",                                \
      "advantages of the pass@k objective instead of the reward's (k >= 2, below rollout.group_size): a member's advantage is the expected best reward of the k-subsets of its group that hold it, minus that of all k-subsets, over their std; groups most members solve move the policy little, groups few solve move it most; 0 = off (the paper)") \
    X("algo.adv_pass_k_until", algo.adv_pass_k_until, INT, 0, 0, 100000000, "",                \
      "with algo.adv_pass_k: its advantages for the iterations before this one only, the reward's own (pass@1) from it on, a pass@k phase that widens the search followed by a pass@1 phase that turns it into greedy accuracy; 0 = pass@k for the whole run (RESUME)") \
    X("algo.explore_neg_scale", algo.explore_neg_scale, FLOAT, 1.0, 0.0, 1.0, "",              \
      "further factor on the negative advantage of a turn whose action explored (rollout.explore_random; algo.policy=monolithic: of a transcript with such a turn): 1 = as a sampled turn, 0 = explored actions only reinforce (a failed random action says little of the policy's own choices)") \
    X("algo.dynamic_sampling", algo.dynamic_sampling, INT, 0, 0, 64, "",                       \
      "dynamic sampling (DAPO): after the rollouts, replace the groups without signal (rewards all equal) by groups of seeded draws of training queries, at most this many extra rounds; 0 = off (the paper); synchronous mode only") \
    X("algo.curriculum", algo.curriculum, ENUM, "none", 0, 0, "none|mastery",                  \
      "training queries: the data stream (none), or mostly the lowest difficulty level whose training pass rate is below algo.curriculum_threshold (mastery; learner/curriculum.h)") \
    X("algo.curriculum_threshold", algo.curriculum_threshold, FLOAT, 0.8, 1e-6, 1.0, "",        \
      "mastery curriculum: a level is mastered at this pass rate (moving average)")            \
    X("algo.curriculum_replay", algo.curriculum_replay, FLOAT, 0.25, 0.0, 1.0, "",              \
      "mastery curriculum: share of the batch's slots the data stream fills as without it")    \
    X("algo.curriculum_ema", algo.curriculum_ema, FLOAT, 0.2, 1e-6, 1.0, "",                    \
      "mastery curriculum: weight of an iteration's pass rate in each level's moving average")  \
    X("algo.max_staleness", algo.max_staleness, INT, 0, 0, 1000000, "",                         \
      "asynchronous mode: accept groups this many versions old, 0 = synchronous")              \
    AF_MODULE_KEYS(X, planner, "builtin")                                                       \
    AF_MODULE_KEYS(X, executor, "builtin")                                                      \
    AF_MODULE_KEYS(X, verifier, "builtin")                                                      \
    AF_MODULE_KEYS(X, generator, "builtin")                                                     \
    AF_MODULE_KEYS(X, judge, "builtin")                                                         \
    X("modules.model.dir", modules.model.dir, STR, "", 0, 0, "",                                \
      "Hugging Face model directory (config.json, safetensors, tokenizer.json with a chat template) of the modules with backend=model; loaded once per rank that runs episodes") \
    X("modules.model.max_seq", modules.model.max_seq, INT, 0, 0, 1048576, "",                   \
      "context (prompt + reply) of the module model's KV cache, 0 = the model's own (capped at 4096)") \
    X("modules.model.temperature", modules.model.temperature, FLOAT, 0.0, 0.0, 10.0, "",       \
      "module model sampling: 0 = greedy; > 0 samples with a seed from run.seed, the episode and the call") \
    X("modules.model.top_p", modules.model.top_p, FLOAT, 1.0, 1e-6, 1.0, "", "module model nucleus mass") \
    X("modules.model.threads", modules.model.threads, INT, 1, 1, 64, "",                        \
      "threads of the module model's matrix products (bit-identical for every count)")         \
    X("tools.python.enabled", tools.python.enabled, BOOL, 0, 0, 0, "",                          \
      "offer the sandboxed python tool to the planner beside the suite's tools")               \
    X("tools.python.cpu_s", tools.python.cpu_s, FLOAT, 5.0, 0.1, 3600.0, "",                   \
      "CPU seconds per python call")                                                            \
    X("tools.python.mem_mb", tools.python.mem_mb, INT, 256, 32, 1048576, "",                    \
      "address-space limit per python call, MiB")                                               \
    X("tools.python.wall_s", tools.python.wall_s, FLOAT, 10.0, 0.1, 3600.0, "",                \
      "wall-clock seconds per python call")                                                     \
    X("tools.python.output_bytes", tools.python.output_bytes, INT, 65536, 64, 1073741824, "",  \
      "captured output cap")                                                                    \
    X("tools.python.interpreter", tools.python.interpreter, STR, "/usr/bin/python3", 0, 0, "", \
      "python interpreter for the sandbox")                                                     \
    X("tools.python.isolation", tools.python.isolation, ENUM, "required", 0, 0, "required|best_effort|none", \
      "python sandbox: required = refuse to run without network, PID and mount namespaces; best_effort = what the host allows (Landlock, a write watchdog); none = rlimits and process cleanup only (docs/sandbox.md)") \
    X("tools.python.disk_mb", tools.python.disk_mb, INT, 64, 1, 1048576, "",                   \
      "total MiB a python call can write (its private tmpfs, or the watchdog's limit without a mount namespace)") \
    X("tools.http.url", tools.http.url, STR, "", 0, 0, "", "endpoint of the http tool; when set the tool is offered to the planner") \
    X("tools.http.allow_hosts", tools.http.allow_hosts, STR, "127.0.0.1,localhost", 0, 0, "",  \
      "comma-separated hosts the http tool may reach")                                         \
    X("tools.http.timeout_s", tools.http.timeout_s, FLOAT, 10.0, 0.1, 3600.0, "",              \
      "per-request timeout")                                                                    \
    X("tools.http.retries", tools.http.retries, INT, 2, 0, 10, "", "retries with backoff")     \
    X("tools.http.max_bytes", tools.http.max_bytes, INT, 1048576, 64, 1073741824, "",          \
      "response size cap")                                                                      \
    X("tools.calculator.enabled", tools.calculator.enabled, BOOL, 0, 0, 0, "",                  \
      "suite task: offer the calculator tool (exact arithmetic, env/calc.h)")                   \
    X("tools.search.corpus", tools.search.corpus, STR, "", 0, 0, "",                            \
      "suite task: JSONL corpus of {id, title, text} behind the search tool (BM25, env/search_index.h)") \
    X("tools.search.index_dir", tools.search.index_dir, STR, "", 0, 0, "",                      \
      "suite task: directory of the corpus's LMDB index, \"\" = CORPUS.index next to it; rebuilt when the corpus changes") \
    X("tools.search.top_k", tools.search.top_k, INT, 3, 1, 100, "",                             \
      "suite task: passages the search tool returns")                                          \
    X("tools.search.max_bytes", tools.search.max_bytes, INT, 2048, 64, 1048576, "",              \
      "suite task: the search result is cut to this many bytes")                               \
    X("log.metrics_every", log.metrics_every, INT, 1, 1, 1000000, "",                           \
      "write a metrics line every N iterations (RESUME)")                                      \
    X("log.tensorboard", log.tensorboard, BOOL, 1, 0, 0, "",                                    \
      "learner 0 writes TensorBoard event files to RUN_DIR/tb (RESUME)")                       \
    X("log.samples_every", log.samples_every, INT, 10, 0, 1000000, "",                          \
      "a sample episode as TensorBoard text every N iterations, 0 = none (RESUME)")            \
    X("log.progress", log.progress, ENUM, "rank0", 0, 0, "rank0|all|none",                     \
      "which ranks print progress lines (RESUME)")                                              \
    X("log.level", log.level, ENUM, "info", 0, 0, "error|warn|info|debug", "log level (RESUME)")

/* Fill *cfg with every default. */
void af_config_defaults(AfConfig *cfg);

/* Apply a JSON document (text), validating every key; `origin` names it in errors
 * (e.g. the file name). Returns 0 or AF_ECONFIG (cfg unchanged on error). */
int af_config_apply_json(AfConfig *cfg, const char *text, const char *origin);
/* Read and apply a JSON file. AF_ECONFIG also for a missing or unreadable file. */
int af_config_apply_file(AfConfig *cfg, const char *path);
/* Apply one "section.key=value" override. The value is read as JSON when it parses as
 * JSON (numbers, true/false, "quoted"), otherwise as a bare string. AF_ECONFIG if there
 * is no '=', the key is unknown, or the value does not fit. */
int af_config_apply_set(AfConfig *cfg, const char *assignment);

/* Cross-key checks (n_kv_heads divides n_heads, learners < world size is checked by
 * the trainer, etc.). Returns 0 or AF_ECONFIG. */
int af_config_check(const AfConfig *cfg);

/* The effective configuration as a JSON document (sections as objects). Caller frees
 * with free(). NULL on allocation failure. */
char *af_config_to_json(const AfConfig *cfg, int pretty);

/* Write af_config_to_json(cfg, 1) to `path` atomically (temp file + rename). */
int af_config_save(const AfConfig *cfg, const char *path);

/* Makes the keys that name files or directories (model.init_from, data.train, data.test,
 * modules.model.dir, tools.search.corpus, tools.search.index_dir, run.checkpoint_dir)
 * absolute against the working directory, as they are read: a run records them so, and
 * its config.json and checkpoints mean the same files from any directory (eval --run-dir,
 * ckpt export's source, a resume). 0, or AF_ECONFIG naming the key (too long). */
int af_config_absolute_paths(AfConfig *c);

/* Keys whose value differs between a and b and may not change on resume (those not
 * marked RESUME in their doc). Writes the first differing key to `key` and returns 1,
 * or returns 0 if none differ. */
int af_config_resume_conflict(const AfConfig *a, const AfConfig *b, char *key, size_t key_len);

/* The name of choice `value` of ENUM key `path` ("suite.name", AF_SUITE_ARITH -> "arith"),
 * or "?" for a key that is not an ENUM or a value out of range. Static storage. */
const char *af_config_choice_name(const char *path, int value);

/* Schema access for documentation and tools (`agentflow train --help-config`). */
typedef struct AfConfigKeyInfo {
    const char *path, *type, *choices, *doc;
    char default_text[64];
    double min, max;
} AfConfigKeyInfo;
int af_config_key_count(void);
void af_config_key_info(int i, AfConfigKeyInfo *out);

#endif
