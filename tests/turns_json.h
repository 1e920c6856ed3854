/* The helper modes' request reader (tests/test_modules_model.c and tests/test_text_planner.c
 * render prompts for their Python references): one JSON object on stdin, with its
 * "turns" array [{sub_goal, tool, argument, result, status}] as AfTurnRecords. */
#ifndef AF_TESTS_TURNS_JSON_H
#define AF_TESTS_TURNS_JSON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "env/suite.h"
#include "env/tool.h"

/* o[k] if it is a string, else "" (never NULL; borrowed from o). */
static inline const char *af_test_jstr(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* Reads stdin (at most 1 MiB) and parses it: the request (the caller cJSON_Deletes it),
 * or NULL if it does not parse. */
static inline cJSON *af_test_read_request(void) {
    static char in[1 << 20];
    size_t n = fread(in, 1, sizeof in - 1, stdin);
    in[n] = 0;
    return cJSON_Parse(in);
}

/* The request's "turns" as recs[0..*n) (calloc'd, one spare; the caller frees the array,
 * its strings are borrowed from req). A turn's "status" is a tool status name
 * (af_tool_status_name); missing or unknown is AF_TOOL_OK. NULL if out of memory. */
static inline AfTurnRecord *af_test_request_turns(const cJSON *req, size_t *n) {
    const cJSON *turns = cJSON_GetObjectItemCaseSensitive(req, "turns"), *t;
    size_t nt = (size_t)cJSON_GetArraySize(turns), i = 0;
    AfTurnRecord *rec = calloc(nt + 1, sizeof *rec);
    *n = 0;
    if (!rec) return NULL;
    cJSON_ArrayForEach(t, turns) {
        const char *st = af_test_jstr(t, "status");
        rec[i].sub_goal = (char *)af_test_jstr(t, "sub_goal");
        rec[i].tool = (char *)af_test_jstr(t, "tool");
        rec[i].argument = (char *)af_test_jstr(t, "argument");
        rec[i].result = (char *)af_test_jstr(t, "result");
        rec[i].status = AF_TOOL_OK;
        for (int k = 0; k <= AF_TOOL_NO_CALL; k++)
            if (!strcmp(st, af_tool_status_name((AfToolStatus)k))) rec[i].status = (AfToolStatus)k;
        i++;
    }
    *n = nt;
    return rec;
}

#endif
