/* common/text.h and af_traj_clean_utf8 (issue 20, item 8): ill-formed UTF-8 becomes
 * U+FFFD one per maximal subpart, byte for byte what Python's
 * bytes.decode("utf-8", "replace") gives (the expected strings below were made with it);
 * well-formed text is untouched; a secret is redacted wherever it occurs; every string
 * field of a trajectory comes out well-formed. */
#include <stdlib.h>
#include <string.h>

#include "common/text.h"
#include "common/traj.h"
#include "tests/test_util.h"

static const char *const cases[][2] = {
    {"\x70\x6c\x61\x69\x6e\x20\x61\x73\x63\x69\x69", "\x70\x6c\x61\x69\x6e\x20\x61\x73\x63\x69\x69"},
    {"\x63\x61\x66\xc3\xa9\x20\xe2\x82\xac\x20\xf0\x9f\x98\x80", "\x63\x61\x66\xc3\xa9\x20\xe2\x82\xac\x20\xf0\x9f\x98\x80"},
    {"\xff\xfe", "\xef\xbf\xbd\xef\xbf\xbd"},
    {"\xc3\x28", "\xef\xbf\xbd\x28"},
    {"\xe2\x82", "\xef\xbf\xbd"},
    {"\xe0\x80\xaf", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},                 /* overlong */
    {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},                 /* surrogate */
    {"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* > U+10FFFF */
    {"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},
    {"\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd"},
    {"\xf0\x9f\x98", "\xef\xbf\xbd"},
    {"\x61\xf5\x62", "\x61\xef\xbf\xbd\x62"},
    {"\xe1\x80\xe2\xf0\x91\x92\xf1\xbf\x41", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\x41"},
};

static void test_utf8(void) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *c = af_utf8_clean_dup(cases[i][0]);
        CHECK_MSG(c && strcmp(c, cases[i][1]) == 0, "case %zu", i);
        CHECK(c && af_utf8_valid(c, strlen(c)));
        CHECK_EQ_INT(af_utf8_valid(cases[i][0], strlen(cases[i][0])), strcmp(cases[i][0], cases[i][1]) == 0);
        free(c);
    }
}

static void test_redact(void) {
    static const char *const r[][3] = {
        {"key sk-1 and sk-1.", "sk-1", "key [redacted] and [redacted]."},
        {"Bearer sk-ABCDEFGHIJKLMNOP", "sk-ABCDEFGHIJKLMNOP", "Bearer [redacted]"},
        {"nothing here", "sk-1", "nothing here"},
        {"no secret given", "", "no secret given"},
    };
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) {
        char *c = af_redact_dup(r[i][0], r[i][1]);
        CHECK_MSG(c && strcmp(c, r[i][2]) == 0, "redact %zu: %s", i, c ? c : "(null)");
        free(c);
    }
}

static void test_trajectory(void) {
    Agentflow__Trajectory *t = malloc(sizeof *t);
    agentflow__trajectory__init(t);
    t->query = strdup("q \xff");
    t->answer = strdup("fine");
    t->n_turns = 1;
    t->turns = calloc(1, sizeof *t->turns);
    t->turns[0] = malloc(sizeof *t->turns[0]);
    agentflow__turn__init(t->turns[0]);
    t->turns[0]->result = strdup("r \xc3(");
    CHECK(af_traj_clean_utf8(t) == 0);
    CHECK(strcmp(t->query, "q \xef\xbf\xbd") == 0);
    CHECK(strcmp(t->answer, "fine") == 0);
    CHECK(strcmp(t->turns[0]->result, "r \xef\xbf\xbd(") == 0);
    CHECK(t->suite && t->suite[0] == '\0'); /* protobuf's default "" left alone */
    protobuf_c_message_free_unpacked(&t->base, NULL);
}

int main(void) {
    test_utf8();
    test_redact();
    test_trajectory();
    TEST_MAIN_END();
}
