/* Print one stored trajectory (launch/rollout_show.h). */
#include "launch/rollout_show.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/traj.h"
#include "learner/trajstore.h"
#include "proto/agentflow.pb-c.h"

static int parse_u32(const char **p, char stop, uint32_t *out) {
    char *end = NULL;
    if (**p < '0' || **p > '9') return -1;
    unsigned long long v = strtoull(*p, &end, 10);
    if (v > UINT32_MAX || *end != stop) return -1;
    *out = (uint32_t)v;
    *p = stop ? end + 1 : end;
    return 0;
}

static const char *tool_status(int s) {
    static const char *names[] = {"ok", "bad action", "tool error", "timeout", "infrastructure error", "no call"};
    return s >= 0 && s < 6 ? names[s] : "?";
}

int af_rollout_show(const char *run_dir, const char *spec, FILE *out) {
    uint32_t it, q, s;
    const char *p = spec;
    if (!spec || parse_u32(&p, ':', &it) || parse_u32(&p, ':', &q) || parse_u32(&p, 0, &s)) {
        fprintf(stderr, "agentflow rollout: --show takes ITERATION:QUERY:SAMPLE (three integers), got '%s'\n",
                spec ? spec : "");
        return 2;
    }
    void *bytes = NULL;
    size_t len = 0;
    if (af_trajstore_find(run_dir, it, q, s, &bytes, &len)) {
        fprintf(stderr, "agentflow rollout: %s\n", af_error_detail());
        return 1;
    }
    Agentflow__Trajectory *t = agentflow__trajectory__unpack(NULL, len, bytes);
    free(bytes);
    if (!t) {
        fprintf(stderr, "agentflow rollout: %s: trajectory %u:%u:%u does not decode (%zu bytes)\n", run_dir, it, q, s, len);
        return 1;
    }
    if (af_traj_clean_utf8(t)) { /* one written before tool output was cleaned may hold any bytes */
        fprintf(stderr, "agentflow rollout: %s\n", af_error_detail());
        agentflow__trajectory__free_unpacked(t, NULL);
        return 1;
    }
    fprintf(out, "trajectory %u:%u:%u  policy_version %" PRIu64 "  suite %s  actor rank %d  status %s%s%s\n",
            t->iteration, t->query_index, t->sample_index, t->policy_version, t->suite ? t->suite : "",
            t->actor_rank,
            t->status == AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_OK ? "ok" : "failed",
            t->status_detail && t->status_detail[0] ? ": " : "", t->status_detail ? t->status_detail : "");
    fprintf(out, "question: %s\n", t->query ? t->query : "");
    for (size_t i = 0; i < t->n_turns; i++) {
        const Agentflow__Turn *u = t->turns[i];
        fprintf(out, "turn %zu\n  action:   %s\n", i + 1, u->action_text ? u->action_text : "");
        if (u->sub_goal && u->sub_goal[0]) fprintf(out, "  sub-goal: %s\n", u->sub_goal);
        fprintf(out, "  tool:     %s(%s) -> %s\n", u->tool && u->tool[0] ? u->tool : "-", u->argument ? u->argument : "",
                tool_status((int)u->tool_status));
        fprintf(out, "  result:   %s\n", u->result ? u->result : "");
        fprintf(out, "  verifier: %s\n", u->verifier == AGENTFLOW__VERIFIER_DECISION__VERIFIER_DECISION_STOP ? "stop" : "continue");
    }
    fprintf(out, "answer: %s\ngold:   %s\nreward: %g\n", t->answer ? t->answer : "", t->gold ? t->gold : "", (double)t->reward);
    agentflow__trajectory__free_unpacked(t, NULL);
    return 0;
}
