/* The episode loop (see episode.h). */
#include "actor/episode.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "actor/memory.h"
#include "common/deadline.h"
#include "common/error.h"
#include "common/log.h"
#include "common/traj.h"

void af_episode_settings_from_config(const AfConfig *cfg, AfEpisodeSettings *s) {
    memset(s, 0, sizeof *s);
    s->max_turns = (uint32_t)cfg->rollout.max_turns;
    s->episode_timeout_s = cfg->rollout.episode_timeout_s;
    s->tool_timeout_s = cfg->rollout.tool_timeout_s;
    s->result_bytes = (size_t)cfg->rollout.result_chars;
    s->memory_results = (size_t)cfg->rollout.memory_results;
    s->max_action_tokens = (uint32_t)cfg->rollout.max_action_tokens;
    s->seed = (uint64_t)cfg->run.seed;
    s->monolithic = cfg->algo.policy == AF_POLICY_MONOLITHIC;
}

void af_episode_settings_default(AfEpisodeSettings *s) {
    AfConfig d;
    af_config_defaults(&d);
    af_episode_settings_from_config(&d, s);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void af_trajectory_free(Agentflow__Trajectory *t) {
    if (t) protobuf_c_message_free_unpacked(&t->base, NULL);
}

void af_trajectory_zero_timings(Agentflow__Trajectory *t) {
    t->episode_s = t->planner_s = t->tools_s = t->modules_s = 0;
    for (size_t i = 0; i < t->n_turns; i++) t->turns[i]->planner_s = t->turns[i]->tool_s = 0;
}

static int is_infra(int rc) { return rc == AF_ECURL || rc == AF_ETIMEOUT || rc == AF_EIO; }

/* A call that timed out once the episode's deadline had come (within BUDGET_SLACK_S: a
 * served call's timeout is clipped to the deadline, af_deadline_clip, and its client may
 * round it) was cut by the episode's budget: the episode's TIMEOUT, not an infrastructure
 * failure. A timeout well before the deadline is the backend's (INFRA_FAILED). */
#define BUDGET_SLACK_S 0.05
static int cut_by_budget(double deadline, int rc) {
    return rc == AF_ETIMEOUT && deadline > 0 && af_mono_now() >= deadline - BUDGET_SLACK_S;
}

/* strdup into a protobuf string field */
static int setstr(char **field, const char *s) {
    char *c = strdup(s ? s : "");
    if (!c) return af_error_set(AF_ENOMEM, "trajectory string");
    *field = c;
    return 0;
}

/* tp->prompt_tokens: AF_TOK_BOS, or (continuing a transcript) prev's prompt and action
 * tokens as sampled; then encode(text). Returns 0 or AF_ENOMEM. */
static int encode_prompt(const AfSuite *suite, const Agentflow__Turn *prev, const char *text, Agentflow__Turn *tp) {
    const size_t np = prev ? prev->n_prompt_tokens + prev->n_action_tokens : 1;
    size_t n;
    af_vocab_encode(suite->vocab, text, NULL, 0, &n);
    if (!(tp->prompt_tokens = malloc((np + n) * sizeof *tp->prompt_tokens)))
        return af_error_set(AF_ENOMEM, "prompt tokens");
    if (prev) {
        memcpy(tp->prompt_tokens, prev->prompt_tokens, prev->n_prompt_tokens * sizeof *tp->prompt_tokens);
        memcpy(tp->prompt_tokens + prev->n_prompt_tokens, prev->action_tokens,
               prev->n_action_tokens * sizeof *tp->prompt_tokens);
    } else {
        tp->prompt_tokens[0] = AF_TOK_BOS;
    }
    af_vocab_encode(suite->vocab, text, tp->prompt_tokens + np, n, &n);
    tp->n_prompt_tokens = np + n;
    return 0;
}

/* This turn's planner prompt: *text (malloc'd) and tp->prompt_tokens. Memory policy: the
 * prompt rendered from the question and the memory. Monolithic policy: the previous
 * turn's prompt tokens and action tokens as sampled, then the encoded result tail;
 * *transcript carries the text along (memory.h). */
static int turn_prompt(const AfSuite *suite, const AfItem *item, const AfMemory *mem, const AfEpisodeSettings *cfg,
                       AfPlanner *planner, const Agentflow__Turn *prev, char **transcript, char **text,
                       Agentflow__Turn *tp) {
    int rc;
    if (!cfg->monolithic) {
        const size_t first = suite->ops->view_start ? suite->ops->view_start(suite, item, mem->turns, mem->n) : 0;
        AfTurnRecord *view = NULL; /* rollout.memory_results: older results as their status */
        if ((rc = af_memory_view(mem->turns, first, mem->n, cfg->memory_results, &view))) return rc;
        const AfTurnRecord *turns = view ? view : mem->turns;
        if (planner->prompt) { /* a planner in text: its chat template and tokenizer */
            AfTokenIds ids = {0};
            rc = planner->prompt(planner, suite, item->question, turns, first, mem->n, cfg->result_bytes, text, &ids);
            free(view);
            if (rc) {
                af_token_ids_free(&ids);
                return rc;
            }
            tp->prompt_tokens = ids.ids; /* ids.n >= 1: the template's text */
            tp->n_prompt_tokens = ids.n;
            return 0;
        }
        rc = af_prompt_render(suite, item->question, turns, first, mem->n, cfg->result_bytes, text);
        free(view);
        if (rc) return rc;
        return encode_prompt(suite, NULL, *text, tp);
    }
    if (!prev) {
        if ((rc = af_transcript_head(suite, item->question, transcript))) return rc;
        if (!(*text = strdup(*transcript))) return af_error_set(AF_ENOMEM, "transcript");
        return encode_prompt(suite, NULL, *text, tp);
    }
    char *tail = NULL;
    if ((rc = af_transcript_result(mem->turns[mem->n - 1].result, cfg->result_bytes, &tail))) return rc;
    size_t lt = strlen(*transcript), la = strlen(prev->action_text), ll = strlen(tail);
    char *t = realloc(*transcript, lt + la + ll + 1);
    if (!t) {
        free(tail);
        return af_error_set(AF_ENOMEM, "transcript");
    }
    memcpy(t + lt, prev->action_text, la);
    memcpy(t + lt + la, tail, ll + 1);
    *transcript = t;
    rc = !(*text = strdup(t)) ? af_error_set(AF_ENOMEM, "transcript") : encode_prompt(suite, prev, tail, tp);
    free(tail);
    return rc;
}

/* An episode as a resumable state machine: begin runs up to the first planner request,
 * each delivered action runs the turn's tools and modules up to the next request or the
 * end. af_episode_run drives one; af_episode_run_group drives several in lockstep. */
struct AfEpisode {
    const AfSuite *suite;
    const AfModules *modules;
    AfPlanner *planner;
    const AfItem *item;  /* the caller's, or with shuffle &shuffled */
    AfItem shuffled;     /* shuffle: the caller's item with its question in qbuf */
    char *qbuf;
    const AfEpisodeSettings *cfg;
    AfEpisodeId id;
    double t_start, modules_s, tools_s, planner_s;
    double deadline;   /* the episode's thread deadline (common/deadline.h) */
    AfMemory *mem;
    AfTurnRecord rec;
    char *prompt, *transcript, *answer, *detail;
    Agentflow__Trajectory *tr;
    AfRng rng;
    AfModuleEpisode calls; /* module backends seed and record their calls by it (actor/modules.h) */
    int infra, timed_out;
    int cut;           /* a call was cut by the episode's budget: TIMEOUT (detail says which) */
    uint32_t turn;     /* of the pending request */
    int pending;       /* a planner request is waiting: in */
    int done;          /* tr is complete */
    AfPlannerInput in;
    uint32_t *forced;  /* (max_action_tokens) an exploring turn's action (explore_random) */
    int allow_written; /* the planner wrote the turn's masks (constrained decoding) */
    int act_rc;        /* what the planner answered (af_episode_deliver) */
    size_t act_n;
};

/* Runs fn(e) under the episode's deadline and with its module-call record installed, the
 * caller's restored after. */
static int with_deadline(AfEpisode *e, int (*fn)(AfEpisode *)) {
    const double saved = af_deadline_thread_set(e->deadline);
    AfModuleEpisode *const saved_calls = af_module_episode_set(&e->calls);
    const int rc = fn(e);
    af_module_episode_set(saved_calls);
    af_deadline_thread_set(saved);
    return rc;
}

/* The module calls recorded during the episode, as tr->module_calls. */
static int add_module_calls(Agentflow__Trajectory *tr, const AfModuleEpisode *calls) {
    if (!calls->n_calls) return 0;
    if (calls->dropped) af_log(AF_LOG_WARN, "episode: %zu module calls beyond %d not recorded", calls->dropped, AF_MODULE_CALLS_MAX);
    tr->module_calls = calloc(calls->n_calls, sizeof *tr->module_calls);
    if (!tr->module_calls) return af_error_set(AF_ENOMEM, "module calls");
    for (size_t i = 0; i < calls->n_calls; i++) {
        Agentflow__ModuleCall *m = malloc(sizeof *m);
        if (!m) return af_error_set(AF_ENOMEM, "module call");
        agentflow__module_call__init(m);
        tr->module_calls[tr->n_module_calls++] = m;
        m->turn = calls->calls[i].turn;
        m->tokens = calls->calls[i].tokens;
        m->logprob = calls->calls[i].logprob;
        int rc = setstr(&m->module, af_module_name(calls->calls[i].module));
        if (rc) return rc;
    }
    return 0;
}

/* The end of the episode once no more turns are taken: generator, judge, reward. */
static int episode_end(AfEpisode *e) {
    const AfEpisodeSettings *cfg = e->cfg;
    const AfModules *modules = e->modules;
    Agentflow__Trajectory *tr = e->tr;
    int rc;
    tr->status = AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_OK;
    float reward = 0.0f;
    if (e->cut) {
        tr->status = AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_TIMEOUT; /* e->detail names the call */
    } else if (!e->infra && e->timed_out && e->tools_s + e->modules_s >= e->planner_s) {
        char buf[200];
        snprintf(buf, sizeof buf, "episode budget %.3gs exceeded after %zu turns (planner %.3gs, tools %.3gs, modules %.3gs)",
                 cfg->episode_timeout_s, tr->n_turns, e->planner_s, e->tools_s, e->modules_s);
        if ((rc = setstr(&e->detail, buf))) return rc;
        tr->status = AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_TIMEOUT;
    } else if (e->infra) {
        tr->status = AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_INFRA_FAILED;
    } else {
        double t0 = now_s();
        rc = modules->generator->generate(modules->generator, e->item, e->mem->turns, e->mem->n, &e->answer);
        if (rc == 0) rc = modules->judge->judge(modules->judge, e->item, e->answer, &reward);
        e->modules_s += now_s() - t0;
        if (rc && is_infra(rc)) {
            char buf[300];
            const int cut = cut_by_budget(e->deadline, rc);
            snprintf(buf, sizeof buf, "%s%s: %s", cut ? "episode budget: " : "", e->answer ? "judge" : "generator",
                     af_error_detail());
            if ((rc = setstr(&e->detail, buf))) return rc;
            tr->status = cut ? AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_TIMEOUT
                             : AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_INFRA_FAILED;
            reward = 0.0f;
        } else if (rc) {
            return rc;
        }
        if (!(reward >= 0.0f)) reward = 0.0f; /* NaN too */
        if (reward > 1.0f) reward = 1.0f;
    }
    tr->reward = tr->status == AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_OK ? reward : 0.0f;
    if ((rc = setstr(&tr->answer,
                     tr->status == AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_OK && e->answer ? e->answer : "")))
        return rc;
    if (e->detail) {
        tr->status_detail = e->detail;
        e->detail = NULL;
    }
    tr->planner_s = e->planner_s;
    tr->tools_s = e->tools_s;
    tr->modules_s = e->modules_s;
    tr->episode_s = now_s() - e->t_start;
    if ((rc = add_module_calls(tr, &e->calls))) return rc;
    if ((rc = af_traj_clean_utf8(tr))) return rc; /* tool output, replies: UTF-8 from here on */
    e->done = 1;
    return 0;
}

/* The start of turn e->turn: its prompt, then a planner request; or the end of the
 * episode (turns, budget or context used up). */
static int episode_next_turn(AfEpisode *e) {
    const AfEpisodeSettings *cfg = e->cfg;
    Agentflow__Trajectory *tr = e->tr;
    AfPlanner *planner = e->planner;
    const uint32_t turn = e->turn;
    int rc;
    if (turn >= cfg->max_turns) return episode_end(e);
    if (cfg->episode_timeout_s > 0 && now_s() - e->t_start > cfg->episode_timeout_s) {
        e->timed_out = 1;
        return episode_end(e);
    }
    Agentflow__Turn *tp = malloc(sizeof *tp);
    if (!tp) return af_error_set(AF_ENOMEM, "turn");
    agentflow__turn__init(tp);
    tr->turns[tr->n_turns++] = tp;

    /* prompt */
    double t0 = now_s();
    tp->action_tokens = malloc(cfg->max_action_tokens * sizeof *tp->action_tokens);
    tp->behaviour_logprobs = malloc(cfg->max_action_tokens * sizeof *tp->behaviour_logprobs);
    if (!tp->action_tokens || !tp->behaviour_logprobs) return af_error_set(AF_ENOMEM, "turn %u buffers", turn + 1);
    if ((rc = turn_prompt(e->suite, e->item, e->mem, cfg, planner, turn ? tr->turns[turn - 1] : NULL, &e->transcript,
                          &e->prompt, tp)))
        return rc;
    if (e->suite->ops->restarts) tp->try_index = (uint32_t)e->suite->ops->restarts(e->suite, e->item, e->mem->turns, e->mem->n);
    e->modules_s += now_s() - t0;
    /* out of context: the episode ends, judged on what it did. A planner in text needs
     * room for a whole action (a cut-off reply cannot be read). */
    if (planner->context && (planner->read ? tp->n_prompt_tokens + cfg->max_action_tokens > planner->context
                                           : tp->n_prompt_tokens >= planner->context)) {
        if (planner->read) {
            char buf[200];
            snprintf(buf, sizeof buf, "context full before turn %u: prompt %zu + action %u tokens > %zu", turn + 1,
                     tp->n_prompt_tokens, cfg->max_action_tokens, planner->context);
            free(e->detail);
            e->detail = NULL;
            if ((rc = setstr(&e->detail, buf))) return rc;
        }
        protobuf_c_message_free_unpacked(&tp->base, NULL);
        tr->turns[--tr->n_turns] = NULL;
        free(e->prompt);
        e->prompt = NULL;
        return episode_end(e);
    }
    e->in = (AfPlannerInput){.suite = e->suite, .item = e->item, .memory = e->mem->turns, .n_memory = e->mem->n,
                             .turn = turn, .prompt_text = e->prompt, .prompt_tokens = tp->prompt_tokens,
                             .n_prompt = tp->n_prompt_tokens};
    if (planner->allow_stride) { /* constrained decoding: the masks go with the turn */
        if (!(tp->action_allow.data = malloc(cfg->max_action_tokens * planner->allow_stride)))
            return af_error_set(AF_ENOMEM, "turn %u masks", turn + 1);
        e->allow_written = 0;
        e->in.allow_out = tp->action_allow.data;
        e->in.allow_written = &e->allow_written;
    }
    /* exploring (rollout.explore_random): one draw per turn, then the random planner's
     * action from the same stream, which the planner scores instead of sampling */
    if (cfg->explore_random > 0.0 && af_rng_uniform(&e->rng) < cfg->explore_random) {
        char *text = NULL;
        size_t nf = 0;
        if ((rc = af_planner_random_text(&e->in, &e->rng, &text))) return rc;
        rc = planner->encode_action(planner, e->suite, text, e->forced, cfg->max_action_tokens, &nf);
        if (rc) rc = af_error_wrap(rc, "turn %u: exploring action \"%.80s\"", turn + 1, text);
        free(text);
        if (rc) return rc;
        e->in.forced = e->forced;
        e->in.n_forced = nf;
        tp->explored = 1;
    }
    e->pending = 1;
    return 0;
}

/* The rest of the turn once the planner has answered (act's code rc, na tokens in the
 * turn's buffers): executor and tool, memory, verifier; then the next turn or the end. */
static int episode_after_act(AfEpisode *e, int rc, size_t na) {
    const AfEpisodeSettings *cfg = e->cfg;
    const AfModules *modules = e->modules;
    AfPlanner *planner = e->planner;
    const uint32_t turn = e->turn;
    Agentflow__Turn *tp = e->tr->turns[turn];
    AfMemory *mem = e->mem;
    AfTurnRecord *rec = &e->rec;
    e->pending = 0;
    e->planner_s += tp->planner_s;
    if (rc && is_infra(rc)) { /* a served planner (openai backend) failed: not the policy's fault */
        char buf[300];
        const int cut = cut_by_budget(e->deadline, rc);
        snprintf(buf, sizeof buf, "%sturn %u: planner (%s): %s", cut ? "episode budget: " : "", turn + 1, planner->name,
                 af_error_detail());
        rc = 0;
        if ((rc = setstr(&e->detail, buf)) || (rc = setstr(&tp->action_text, "")) || (rc = setstr(&tp->sub_goal, "")) ||
            (rc = setstr(&tp->tool, "")) || (rc = setstr(&tp->argument, "")) || (rc = setstr(&tp->result, buf)))
            return rc;
        tp->tool_status = AGENTFLOW__TOOL_STATUS__TOOL_STATUS_INFRA_ERROR;
        free(e->prompt);
        e->prompt = NULL;
        if (cut) e->cut = 1;
        else e->infra = 1;
        return episode_end(e);
    }
    if (rc) return rc;
    AF_ASSERT(na <= cfg->max_action_tokens);
    tp->n_action_tokens = tp->n_behaviour_logprobs = na;
    if (tp->action_allow.data && e->allow_written) {
        tp->action_allow.len = na * planner->allow_stride;
    } else { /* decoded without masks (an exploring turn, a state with no list) */
        free(tp->action_allow.data);
        tp->action_allow.data = NULL;
        tp->action_allow.len = 0;
    }
    free(e->prompt);
    e->prompt = NULL;
    AfAction act = {0};
    char *command = NULL, why[200] = "";
    int unread = 0; /* a planner in text wrote something that does not parse */
    if (!planner->read) {
        if ((rc = af_vocab_decode(e->suite->vocab, tp->action_tokens, na, &tp->action_text))) return rc;
    } else {
        rc = planner->read(planner, tp->action_tokens, na, &tp->action_text, &act, why, sizeof why);
        if (rc == AF_EINVAL) {
            unread = 1;
            rc = 0;
        } else if (rc == 0) {
            size_t lt = strlen(act.tool), la = strlen(act.argument);
            if (!(command = malloc(lt + la + 2))) rc = af_error_set(AF_ENOMEM, "action");
            else snprintf(command, lt + la + 2, "%s%s%s", act.tool, la ? " " : "", act.argument);
        }
        if (rc) {
            af_action_clear(&act);
            return rc;
        }
    }

    /* executor + tool */
    double t0 = now_s();
    if (unread) {
        rc = af_turn_record_set(rec, "", "", "", AF_TOOL_BAD_ACTION, why);
    } else {
        rc = modules->executor->execute(modules->executor, e->item, mem->turns, mem->n, command ? command : tp->action_text,
                                        af_deadline_clip(cfg->tool_timeout_s), rec);
        if (rc == 0 && command && act.sub_goal[0]) { /* the sub-goal the planner wrote, apart from the command */
            char *g = strdup(act.sub_goal);
            if (!g) rc = af_error_set(AF_ENOMEM, "sub-goal");
            else {
                free(rec->sub_goal);
                rec->sub_goal = g;
            }
        }
    }
    free(command);
    af_action_clear(&act);
    double exec_s = now_s() - t0;
    if (rc && is_infra(rc)) {
        const int cut = cut_by_budget(e->deadline, rc);
        if (cut) e->cut = 1;
        else e->infra = 1;
        rc = 0;
        char buf[300];
        snprintf(buf, sizeof buf, "%sturn %u: executor (%s): %s", cut ? "episode budget: " : "", turn + 1,
                 modules->executor->backend, af_error_detail());
        if ((rc = setstr(&e->detail, buf))) return rc;
        if ((rc = af_turn_record_set(rec, "", "", "", cut ? AF_TOOL_TIMEOUT : AF_TOOL_INFRA_ERROR, buf))) return rc;
    } else if (rc) {
        return rc;
    }
    tp->tool_s = rec->tool_s;
    e->tools_s += rec->tool_s;
    e->modules_s += exec_s > rec->tool_s ? exec_s - rec->tool_s : 0;
    if ((rc = setstr(&tp->sub_goal, rec->sub_goal)) || (rc = setstr(&tp->tool, rec->tool)) ||
        (rc = setstr(&tp->argument, rec->argument)) || (rc = setstr(&tp->result, rec->result)))
        return rc;
    tp->tool_status = (Agentflow__ToolStatus)rec->status;
    if (rec->status == AF_TOOL_INFRA_ERROR && !e->infra) {
        e->infra = 1;
        char buf[300];
        snprintf(buf, sizeof buf, "turn %u: tool %s: %.200s", turn + 1, rec->tool, rec->result);
        if ((rc = setstr(&e->detail, buf))) return rc;
    }
    if ((rc = af_memory_append(mem, rec))) return rc;
    if (e->infra || e->cut) return episode_end(e);

    /* verifier */
    int stop = 0;
    t0 = now_s();
    rc = modules->verifier->verify(modules->verifier, e->item, mem->turns, mem->n, &stop);
    e->modules_s += now_s() - t0;
    if (rc && is_infra(rc)) {
        char buf[300];
        const int cut = cut_by_budget(e->deadline, rc);
        snprintf(buf, sizeof buf, "%sturn %u: verifier (%s): %s", cut ? "episode budget: " : "", turn + 1,
                 modules->verifier->backend, af_error_detail());
        if ((rc = setstr(&e->detail, buf))) return rc;
        if (cut) e->cut = 1;
        else e->infra = 1;
        return episode_end(e);
    }
    if (rc) return rc;
    tp->verifier = stop ? AGENTFLOW__VERIFIER_DECISION__VERIFIER_DECISION_STOP
                        : AGENTFLOW__VERIFIER_DECISION__VERIFIER_DECISION_CONTINUE;
    if (stop) return episode_end(e);
    e->turn++;
    return episode_next_turn(e);
}

void af_episode_destroy(AfEpisode *e) {
    if (!e) return;
    af_turn_record_clear(&e->rec);
    free(e->prompt);
    free(e->transcript);
    free(e->answer);
    free(e->detail);
    free(e->forced);
    free(e->qbuf);
    af_memory_destroy(e->mem);
    af_trajectory_free(e->tr);
    free(e);
}

/* begin's work under the episode's deadline */
static int episode_start(AfEpisode *e) {
    const AfEpisodeSettings *cfg = e->cfg;
    Agentflow__Trajectory *tr = e->tr;
    int rc;
    if (!(tr->turns = calloc(cfg->max_turns, sizeof *tr->turns))) return af_error_set(AF_ENOMEM, "trajectory turns");
    if (cfg->shuffle) { /* the group's order: the query's stream, not the sample's */
        const size_t cap = strlen(e->item->question) + 16;
        if (!(e->qbuf = malloc(cap))) return af_error_set(AF_ENOMEM, "shuffled question");
        AfRng qr;
        af_rng_init(&qr, cfg->seed, AF_RNG_DATA, e->id.iteration, e->id.query_index, AF_RNG_MAX_SAMPLE);
        if ((rc = af_suite_shuffle_question(e->suite, e->item->question, &qr, e->qbuf, cap))) return rc;
        e->shuffled = *e->item;
        e->shuffled.question = e->qbuf;
        e->item = &e->shuffled;
    }
    tr->iteration = e->id.iteration;
    tr->query_index = e->id.query_index;
    tr->sample_index = e->id.sample_index;
    tr->policy_version = e->id.policy_version;
    tr->actor_rank = e->id.actor_rank;
    tr->temperature = e->planner->temperature;
    if ((rc = setstr(&tr->suite, e->suite->name)) || (rc = setstr(&tr->query, e->item->question)) ||
        (rc = setstr(&tr->gold, e->item->answer)))
        return rc;
    if ((rc = af_memory_create(cfg->max_turns, &e->mem))) return rc;
    af_rng_init(&e->rng, cfg->seed, AF_RNG_SAMPLE, e->id.iteration, e->id.query_index, e->id.sample_index);
    return episode_next_turn(e);
}

int af_episode_begin(const AfSuite *suite, const AfModules *modules, AfPlanner *planner, const AfItem *item,
                     const AfEpisodeSettings *cfg, const AfEpisodeId *id, AfEpisode **out) {
    *out = NULL;
    if (cfg->max_turns == 0 || cfg->max_turns > AF_MAX_TURNS)
        return af_error_set(AF_EINVAL, "episode: max_turns must be in 1..%d, got %u", AF_MAX_TURNS, cfg->max_turns);
    if (cfg->max_action_tokens == 0) return af_error_set(AF_EINVAL, "episode: max_action_tokens must be > 0");
    if (id->sample_index > AF_RNG_MAX_SAMPLE)
        return af_error_set(AF_EINVAL, "episode: sample_index %u > %u", id->sample_index, AF_RNG_MAX_SAMPLE);
    if (planner->prompt && cfg->monolithic)
        return af_error_set(AF_EINVAL, "episode: a planner in text does not support algo.policy=monolithic");
    if (!(cfg->explore_random >= 0.0 && cfg->explore_random <= 1.0))
        return af_error_set(AF_EINVAL, "episode: explore_random must be in [0, 1], got %g", cfg->explore_random);
    if (cfg->explore_random > 0.0 && !planner->encode_action)
        return af_error_set(AF_EINVAL, "episode: rollout.explore_random needs a planner that scores actions (a model "
                                       "planner); the %s planner cannot", planner->name);
    AfEpisode *e = calloc(1, sizeof *e);
    if (!e || !(e->tr = malloc(sizeof *e->tr))) {
        free(e);
        return af_error_set(AF_ENOMEM, "trajectory");
    }
    agentflow__trajectory__init(e->tr);
    e->suite = suite, e->modules = modules, e->planner = planner, e->item = item, e->cfg = cfg, e->id = *id;
    if (cfg->explore_random > 0.0 && !(e->forced = malloc(cfg->max_action_tokens * sizeof *e->forced))) {
        af_episode_destroy(e);
        return af_error_set(AF_ENOMEM, "exploring action buffer");
    }
    e->t_start = now_s();
    e->calls = (AfModuleEpisode){.seed = cfg->seed, .iteration = id->iteration, .query_index = id->query_index,
                                 .sample_index = id->sample_index};
    /* every tool and module call of the episode ends by the end of its budget */
    e->deadline = af_deadline_min(af_deadline_thread(), cfg->episode_timeout_s > 0 ? e->t_start + cfg->episode_timeout_s : 0);
    int rc = with_deadline(e, episode_start);
    if (rc) {
        af_episode_destroy(e);
        return rc;
    }
    *out = e;
    return 0;
}

const AfPlannerInput *af_episode_request(AfEpisode *e, AfRng **rng, uint32_t **tokens, float **logprobs) {
    if (!e->pending) return NULL;
    Agentflow__Turn *tp = e->tr->turns[e->turn];
    *rng = &e->rng;
    *tokens = tp->action_tokens;
    *logprobs = tp->behaviour_logprobs;
    return &e->in;
}

static int after_act_pending(AfEpisode *e);

int af_episode_deliver(AfEpisode *e, int act_rc, size_t n, double planner_s) {
    AF_ASSERT(e->pending);
    e->tr->turns[e->turn]->planner_s = planner_s;
    e->act_rc = act_rc;
    e->act_n = n;
    return with_deadline(e, after_act_pending);
}

static int after_act_pending(AfEpisode *e) { return episode_after_act(e, e->act_rc, e->act_n); }

int af_episode_finish(AfEpisode *e, Agentflow__Trajectory **out) {
    AF_ASSERT(e->done);
    *out = e->tr;
    e->tr = NULL;
    af_episode_destroy(e);
    return 0;
}

/* The planner's act on e's pending request, under the episode's deadline. */
static int episode_act(AfEpisode *e) {
    AfRng *rng = NULL;
    uint32_t *tokens = NULL;
    float *logprobs = NULL;
    const AfPlannerInput *in = af_episode_request(e, &rng, &tokens, &logprobs);
    size_t na = 0;
    const double t0 = now_s();
    const int rc = e->planner->act(e->planner, in, rng, tokens, logprobs, e->cfg->max_action_tokens, &na);
    return af_episode_deliver(e, rc, na, now_s() - t0);
}

int af_episode_run(const AfSuite *suite, const AfModules *modules, AfPlanner *planner, const AfItem *item,
                   const AfEpisodeSettings *cfg, const AfEpisodeId *id, Agentflow__Trajectory **out) {
    AfEpisode *e = NULL;
    int rc = af_episode_begin(suite, modules, planner, item, cfg, id, &e);
    while (rc == 0 && e->pending) rc = with_deadline(e, episode_act);
    if (rc) {
        af_episode_destroy(e);
        return rc;
    }
    return af_episode_finish(e, out);
}

int af_episode_run_group(const AfSuite *suite, const AfModules *modules, AfPlanner *planner, const AfItem *const *items,
                         const AfEpisodeSettings *cfg, const AfEpisodeId *ids, size_t n, Agentflow__Trajectory **out,
                         int *rcs, char (*details)[AF_EPISODE_DETAIL]) {
    for (size_t i = 0; i < n; i++) {
        out[i] = NULL;
        rcs[i] = 0;
        details[i][0] = 0;
    }
    if (!planner->act_group || planner->group < 2) { /* one at a time */
        for (size_t i = 0; i < n; i++)
            if ((rcs[i] = af_episode_run(suite, modules, planner, items[i], cfg, &ids[i], &out[i])))
                snprintf(details[i], AF_EPISODE_DETAIL, "%s", af_error_detail());
        return 0;
    }
    const size_t G = planner->group;
    AfEpisode *ep[AF_EPISODE_GROUP_MAX];
    AfPlannerInput in[AF_EPISODE_GROUP_MAX];
    AfRng *rngs[AF_EPISODE_GROUP_MAX];
    uint32_t *toks[AF_EPISODE_GROUP_MAX];
    float *lps[AF_EPISODE_GROUP_MAX];
    size_t na[AF_EPISODE_GROUP_MAX], who[AF_EPISODE_GROUP_MAX];
    const size_t per = G < AF_EPISODE_GROUP_MAX ? G : AF_EPISODE_GROUP_MAX;
    for (size_t g0 = 0; g0 < n; g0 += per) {
        const size_t m = n - g0 < per ? n - g0 : per;
        for (size_t j = 0; j < m; j++) {
            const size_t i = g0 + j;
            if ((rcs[i] = af_episode_begin(suite, modules, planner, items[i], cfg, &ids[i], &ep[j])))
                snprintf(details[i], AF_EPISODE_DETAIL, "%s", af_error_detail());
        }
        for (;;) {
            size_t k = 0;
            for (size_t j = 0; j < m; j++) {
                if (!ep[j]) continue;
                const AfPlannerInput *r = af_episode_request(ep[j], &rngs[k], &toks[k], &lps[k]);
                if (!r) continue;
                in[k] = *r;
                who[k++] = j;
            }
            if (k == 0) break;
            const double t0 = now_s();
            int rc = planner->act_group(planner, k, in, who, rngs, toks, lps, cfg->max_action_tokens, na);
            double dt = now_s() - t0;
            for (size_t q = 0; q < k; q++) {
                const size_t j = who[q], i = g0 + j;
                int arc = 0;
                if (rc) { /* the group failed (rngs untouched): each request alone, for its own error */
                    const double t1 = now_s();
                    const double saved = af_deadline_thread_set(ep[j]->deadline);
                    arc = planner->act(planner, &in[q], rngs[q], toks[q], lps[q], cfg->max_action_tokens, &na[q]);
                    af_deadline_thread_set(saved);
                    dt = now_s() - t1;
                }
                if ((rcs[i] = af_episode_deliver(ep[j], arc, na[q], dt))) {
                    snprintf(details[i], AF_EPISODE_DETAIL, "%s", af_error_detail());
                    af_episode_destroy(ep[j]);
                    ep[j] = NULL;
                }
            }
        }
        for (size_t j = 0; j < m; j++)
            if (ep[j]) af_episode_finish(ep[j], &out[g0 + j]);
    }
    return 0;
}
