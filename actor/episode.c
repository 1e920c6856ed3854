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
        if (planner->prompt) { /* a planner in text: its chat template and tokenizer */
            AfTokenIds ids = {0};
            rc = planner->prompt(planner, suite, item->question, mem->turns, first, mem->n, cfg->result_bytes, text, &ids);
            if (rc) {
                af_token_ids_free(&ids);
                return rc;
            }
            tp->prompt_tokens = ids.ids; /* ids.n >= 1: the template's text */
            tp->n_prompt_tokens = ids.n;
            return 0;
        }
        if ((rc = af_prompt_render(suite, item->question, mem->turns, first, mem->n, cfg->result_bytes, text)))
            return rc;
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

int af_episode_run(const AfSuite *suite, const AfModules *modules, AfPlanner *planner, const AfItem *item,
                   const AfEpisodeSettings *cfg, const AfEpisodeId *id, Agentflow__Trajectory **out) {
    if (cfg->max_turns == 0 || cfg->max_turns > AF_MAX_TURNS)
        return af_error_set(AF_EINVAL, "episode: max_turns must be in 1..%d, got %u", AF_MAX_TURNS, cfg->max_turns);
    if (cfg->max_action_tokens == 0) return af_error_set(AF_EINVAL, "episode: max_action_tokens must be > 0");
    if (id->sample_index > AF_RNG_MAX_SAMPLE)
        return af_error_set(AF_EINVAL, "episode: sample_index %u > %u", id->sample_index, AF_RNG_MAX_SAMPLE);
    if (planner->prompt && cfg->monolithic)
        return af_error_set(AF_EINVAL, "episode: a planner in text does not support algo.policy=monolithic");
    int rc = 0;
    double t_start = now_s(), modules_s = 0, tools_s = 0, planner_s = 0;
    /* every tool and module call of the episode ends by the end of its budget */
    const double saved_deadline = af_deadline_thread_set(
        af_deadline_min(af_deadline_thread(), cfg->episode_timeout_s > 0 ? t_start + cfg->episode_timeout_s : 0));
    /* module backends seed and record their calls by the episode's name (actor/modules.h) */
    AfModuleEpisode calls = {.seed = cfg->seed, .iteration = id->iteration, .query_index = id->query_index,
                             .sample_index = id->sample_index};
    AfModuleEpisode *const saved_calls = af_module_episode_set(&calls);
    AfMemory *mem = NULL;
    AfTurnRecord rec = {0};
    char *prompt = NULL, *transcript = NULL, *answer = NULL, *detail = NULL;
    Agentflow__Trajectory *tr = malloc(sizeof *tr);
    if (!tr) {
        af_module_episode_set(saved_calls);
        af_deadline_thread_set(saved_deadline);
        return af_error_set(AF_ENOMEM, "trajectory");
    }
    agentflow__trajectory__init(tr);
    tr->turns = calloc(cfg->max_turns, sizeof *tr->turns);
    if (!tr->turns) {
        rc = af_error_set(AF_ENOMEM, "trajectory turns");
        goto fail;
    }
    tr->iteration = id->iteration;
    tr->query_index = id->query_index;
    tr->sample_index = id->sample_index;
    tr->policy_version = id->policy_version;
    tr->actor_rank = id->actor_rank;
    tr->temperature = planner->temperature;
    if ((rc = setstr(&tr->suite, suite->name)) || (rc = setstr(&tr->query, item->question)) ||
        (rc = setstr(&tr->gold, item->answer)))
        goto fail;
    if ((rc = af_memory_create(cfg->max_turns, &mem))) goto fail;

    AfRng rng;
    af_rng_init(&rng, cfg->seed, AF_RNG_SAMPLE, id->iteration, id->query_index, id->sample_index);
    int infra = 0, timed_out = 0;
    for (uint32_t turn = 0; turn < cfg->max_turns; turn++) {
        if (cfg->episode_timeout_s > 0 && now_s() - t_start > cfg->episode_timeout_s) {
            timed_out = 1;
            break;
        }
        Agentflow__Turn *tp = malloc(sizeof *tp);
        if (!tp) {
            rc = af_error_set(AF_ENOMEM, "turn");
            goto fail;
        }
        agentflow__turn__init(tp);
        tr->turns[tr->n_turns++] = tp;

        /* prompt */
        double t0 = now_s();
        tp->action_tokens = malloc(cfg->max_action_tokens * sizeof *tp->action_tokens);
        tp->behaviour_logprobs = malloc(cfg->max_action_tokens * sizeof *tp->behaviour_logprobs);
        if (!tp->action_tokens || !tp->behaviour_logprobs) {
            rc = af_error_set(AF_ENOMEM, "turn %u buffers", turn + 1);
            goto fail;
        }
        if ((rc = turn_prompt(suite, item, mem, cfg, planner, turn ? tr->turns[turn - 1] : NULL, &transcript, &prompt,
                              tp)))
            goto fail;
        if (suite->ops->restarts) tp->try_index = (uint32_t)suite->ops->restarts(suite, item, mem->turns, mem->n);
        modules_s += now_s() - t0;
        /* out of context: the episode ends, judged on what it did. A planner in text needs
         * room for a whole action (a cut-off reply cannot be read). */
        if (planner->context && (planner->read ? tp->n_prompt_tokens + cfg->max_action_tokens > planner->context
                                               : tp->n_prompt_tokens >= planner->context)) {
            if (planner->read) {
                char buf[200];
                snprintf(buf, sizeof buf, "context full before turn %u: prompt %zu + action %u tokens > %zu", turn + 1,
                         tp->n_prompt_tokens, cfg->max_action_tokens, planner->context);
                free(detail);
                detail = NULL;
                if ((rc = setstr(&detail, buf))) goto fail;
            }
            protobuf_c_message_free_unpacked(&tp->base, NULL);
            tr->turns[--tr->n_turns] = NULL;
            free(prompt);
            prompt = NULL;
            break;
        }

        /* planner */
        AfPlannerInput in = {.suite = suite, .item = item, .memory = mem->turns, .n_memory = mem->n, .turn = turn,
                             .prompt_text = prompt, .prompt_tokens = tp->prompt_tokens, .n_prompt = tp->n_prompt_tokens};
        size_t na = 0;
        t0 = now_s();
        rc = planner->act(planner, &in, &rng, tp->action_tokens, tp->behaviour_logprobs, cfg->max_action_tokens, &na);
        tp->planner_s = now_s() - t0;
        planner_s += tp->planner_s;
        if (rc && is_infra(rc)) { /* a served planner (openai backend) failed: not the policy's fault */
            char buf[300];
            snprintf(buf, sizeof buf, "turn %u: planner (%s): %s", turn + 1, planner->name, af_error_detail());
            rc = 0;
            if ((rc = setstr(&detail, buf)) || (rc = setstr(&tp->action_text, "")) || (rc = setstr(&tp->sub_goal, "")) ||
                (rc = setstr(&tp->tool, "")) || (rc = setstr(&tp->argument, "")) || (rc = setstr(&tp->result, buf)))
                goto fail;
            tp->tool_status = AGENTFLOW__TOOL_STATUS__TOOL_STATUS_INFRA_ERROR;
            free(prompt);
            prompt = NULL;
            infra = 1;
            break;
        }
        if (rc) goto fail;
        AF_ASSERT(na <= cfg->max_action_tokens);
        tp->n_action_tokens = tp->n_behaviour_logprobs = na;
        free(prompt);
        prompt = NULL;
        AfAction act = {0};
        char *command = NULL, why[200] = "";
        int unread = 0; /* a planner in text wrote something that does not parse */
        if (!planner->read) {
            if ((rc = af_vocab_decode(suite->vocab, tp->action_tokens, na, &tp->action_text))) goto fail;
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
                goto fail;
            }
        }

        /* executor + tool */
        t0 = now_s();
        if (unread) {
            rc = af_turn_record_set(&rec, "", "", "", AF_TOOL_BAD_ACTION, why);
        } else {
            rc = modules->executor->execute(modules->executor, item, mem->turns, mem->n,
                                            command ? command : tp->action_text, af_deadline_clip(cfg->tool_timeout_s),
                                            &rec);
            if (rc == 0 && command && act.sub_goal[0]) { /* the sub-goal the planner wrote, apart from the command */
                char *g = strdup(act.sub_goal);
                if (!g) rc = af_error_set(AF_ENOMEM, "sub-goal");
                else {
                    free(rec.sub_goal);
                    rec.sub_goal = g;
                }
            }
        }
        free(command);
        af_action_clear(&act);
        double exec_s = now_s() - t0;
        if (rc && is_infra(rc)) {
            infra = 1;
            rc = 0;
            char buf[300];
            snprintf(buf, sizeof buf, "turn %u: executor (%s): %s", turn + 1, modules->executor->backend, af_error_detail());
            if ((rc = setstr(&detail, buf))) goto fail;
            if ((rc = af_turn_record_set(&rec, "", "", "", AF_TOOL_INFRA_ERROR, buf))) goto fail;
        } else if (rc) {
            goto fail;
        }
        tp->tool_s = rec.tool_s;
        tools_s += rec.tool_s;
        modules_s += exec_s > rec.tool_s ? exec_s - rec.tool_s : 0;
        if ((rc = setstr(&tp->sub_goal, rec.sub_goal)) || (rc = setstr(&tp->tool, rec.tool)) ||
            (rc = setstr(&tp->argument, rec.argument)) || (rc = setstr(&tp->result, rec.result)))
            goto fail;
        tp->tool_status = (Agentflow__ToolStatus)rec.status;
        if (rec.status == AF_TOOL_INFRA_ERROR && !infra) {
            infra = 1;
            char buf[300];
            snprintf(buf, sizeof buf, "turn %u: tool %s: %.200s", turn + 1, rec.tool, rec.result);
            if ((rc = setstr(&detail, buf))) goto fail;
        }
        if ((rc = af_memory_append(mem, &rec))) goto fail;
        if (infra) break;

        /* verifier */
        int stop = 0;
        t0 = now_s();
        rc = modules->verifier->verify(modules->verifier, item, mem->turns, mem->n, &stop);
        modules_s += now_s() - t0;
        if (rc && is_infra(rc)) {
            char buf[300];
            snprintf(buf, sizeof buf, "turn %u: verifier (%s): %s", turn + 1, modules->verifier->backend, af_error_detail());
            if ((rc = setstr(&detail, buf))) goto fail;
            infra = 1;
            break;
        }
        if (rc) goto fail;
        tp->verifier = stop ? AGENTFLOW__VERIFIER_DECISION__VERIFIER_DECISION_STOP
                            : AGENTFLOW__VERIFIER_DECISION__VERIFIER_DECISION_CONTINUE;
        if (stop) break;
    }

    tr->status = AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_OK;
    float reward = 0.0f;
    if (!infra && timed_out && tools_s + modules_s >= planner_s) {
        char buf[200];
        snprintf(buf, sizeof buf, "episode budget %.3gs exceeded after %zu turns (planner %.3gs, tools %.3gs, modules %.3gs)",
                 cfg->episode_timeout_s, tr->n_turns, planner_s, tools_s, modules_s);
        if ((rc = setstr(&detail, buf))) goto fail;
        tr->status = AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_TIMEOUT;
    } else if (infra) {
        tr->status = AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_INFRA_FAILED;
    } else {
        double t0 = now_s();
        rc = modules->generator->generate(modules->generator, item, mem->turns, mem->n, &answer);
        if (rc == 0) rc = modules->judge->judge(modules->judge, item, answer, &reward);
        modules_s += now_s() - t0;
        if (rc && is_infra(rc)) {
            char buf[300];
            snprintf(buf, sizeof buf, "%s: %s", answer ? "judge" : "generator", af_error_detail());
            if ((rc = setstr(&detail, buf))) goto fail;
            tr->status = AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_INFRA_FAILED;
            reward = 0.0f;
        } else if (rc) {
            goto fail;
        }
        if (!(reward >= 0.0f)) reward = 0.0f; /* NaN too */
        if (reward > 1.0f) reward = 1.0f;
    }
    tr->reward = tr->status == AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_OK ? reward : 0.0f;
    if ((rc = setstr(&tr->answer, tr->status == AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_OK && answer ? answer : "")))
        goto fail;
    if (detail) {
        tr->status_detail = detail;
        detail = NULL;
    }
    tr->planner_s = planner_s;
    tr->tools_s = tools_s;
    tr->modules_s = modules_s;
    tr->episode_s = now_s() - t_start;
    if ((rc = add_module_calls(tr, &calls))) goto fail;
    if ((rc = af_traj_clean_utf8(tr))) goto fail; /* tool output, replies: UTF-8 from here on */
    free(answer);
    free(transcript);
    af_memory_destroy(mem);
    af_module_episode_set(saved_calls);
    af_deadline_thread_set(saved_deadline);
    *out = tr;
    return 0;
fail:
    af_module_episode_set(saved_calls);
    af_deadline_thread_set(saved_deadline);
    af_turn_record_clear(&rec);
    free(prompt);
    free(transcript);
    free(answer);
    free(detail);
    af_memory_destroy(mem);
    af_trajectory_free(tr);
    return rc;
}
