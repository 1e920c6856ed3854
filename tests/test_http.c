/* The HTTP JSON client, the `http` tool and the OpenAI backend against a local
 * fault-injecting server (tests/fault_server.py on 127.0.0.1): normal replies, slow replies
 * past the timeout, HTTP 500 then success, HTTP 4xx, malformed JSON, truncated and oversized
 * bodies, connection refused. Checks the attempt counts (client side and server side), the
 * recorded failure, the error text, and that the API key appears in no error message and no
 * log line (stderr is captured at debug level). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <libgen.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "actor/openai.h"
#include "common/error.h"
#include "common/http.h"
#include "common/log.h"
#include "env/http_tool.h"
#include "tests/test_util.h"

#define SECRET "sk-AFTEST-7f3c9e1d5b2a4680-secret"

static pid_t server_pid = -1;
static int server_stdin = -1;
static int port = 0;
static char base[64];

static int server_start(void) {
    char src[1024], script[1100];
    snprintf(src, sizeof src, "%s", __FILE__);
    snprintf(script, sizeof script, "%s/fault_server.py", dirname(src));
    int in_p[2], out_p[2];
    if (pipe(in_p) || pipe(out_p)) return -1;
    server_pid = fork();
    if (server_pid < 0) return -1;
    if (server_pid == 0) {
        dup2(in_p[0], 0);
        dup2(out_p[1], 1);
        close(in_p[1]);
        close(out_p[0]);
        execl("/usr/bin/python3", "python3", script, (char *)NULL);
        _exit(127);
    }
    close(in_p[0]);
    close(out_p[1]);
    server_stdin = in_p[1];
    FILE *f = fdopen(out_p[0], "r");
    char line[64] = "";
    if (!f || !fgets(line, sizeof line, f) || sscanf(line, "PORT %d", &port) != 1) {
        fprintf(stderr, "fault server did not start (%s)\n", script);
        return -1;
    }
    fclose(f);
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
    return 0;
}

static void server_stop(void) {
    if (server_stdin >= 0) close(server_stdin); /* the server exits at EOF on stdin */
    if (server_pid > 0) {
        int st;
        waitpid(server_pid, &st, 0);
    }
}

/* How many POSTs the server saw for a path (with its query string). */
static int server_count(const char *path_query) {
    char cmd[600];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import json,sys,urllib.request,urllib.parse;"
             "print(json.load(urllib.request.urlopen('%s/count?key='+urllib.parse.quote(sys.argv[1])))['count'])\" '%s'",
             base, path_query);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p) {
        if (fscanf(p, "%d", &n) != 1) n = -1;
        pclose(p);
    }
    return n;
}

static void url(char *buf, size_t size, const char *path) { snprintf(buf, size, "%s%s", base, path); }

static void fast_opts(AfHttpOptions *o) {
    af_http_options_default(o);
    o->timeout_s = 2.0;
    o->retries = 2;
    o->backoff_s = 0.01;
    o->backoff_max_s = 0.04;
    o->max_bytes = 1 << 16;
}

/* One POST of {"query": q}; returns rc and fills the report. */
static int post(const char *path, const AfHttpOptions *o, cJSON **reply, AfHttpReport *rep) {
    char u[256];
    url(u, sizeof u, path);
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "query", "hi");
    int rc = af_http_post_json(u, body, NULL, o, reply, rep);
    cJSON_Delete(body);
    return rc;
}

static void test_client(void) {
    AfHttpOptions o;
    AfHttpReport rep;
    cJSON *reply = NULL;
    fast_opts(&o);

    CHECK_EQ_INT(post("/ok", &o, &reply, &rep), 0);
    CHECK_EQ_INT(rep.attempts, 1);
    CHECK_EQ_INT(rep.status, 200);
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(reply, "result");
    CHECK(cJSON_IsString(res) && strcmp(res->valuestring, "echo: hi") == 0);
    cJSON_Delete(reply);

    /* 500 twice, then success: retried, with the deterministic backoff 0.01 + 0.02. */
    o.retries = 3;
    CHECK_EQ_INT(post("/fail?n=2", &o, &reply, &rep), 0);
    CHECK_EQ_INT(rep.attempts, 3);
    CHECK_NEAR(rep.backoff_total_s, 0.03, 1e-12);
    CHECK_EQ_INT(server_count("/fail?n=2"), 3);
    res = cJSON_GetObjectItemCaseSensitive(reply, "result");
    CHECK(cJSON_IsString(res) && strcmp(res->valuestring, "ok after 2") == 0);
    cJSON_Delete(reply);

    /* 500 forever: 1 + 3 attempts, delays 0.01, 0.02, 0.04 (cap), then a clear failure. */
    CHECK_EQ_INT(post("/fail?n=99", &o, &reply, &rep), AF_ECURL);
    CHECK(reply == NULL);
    CHECK_EQ_INT(rep.attempts, 4);
    CHECK_EQ_INT(rep.failure, AF_HTTP_FAIL_STATUS);
    CHECK_NEAR(rep.backoff_total_s, 0.07, 1e-12);
    CHECK_EQ_INT(server_count("/fail?n=99"), 4);
    CHECK_STR_CONTAINS(af_error_detail(), "HTTP status 500");
    CHECK_STR_CONTAINS(af_error_detail(), "injected failure 4");
    CHECK_STR_CONTAINS(af_error_detail(), "attempt 4 of 4");
    CHECK_STR_CONTAINS(af_error_detail(), "/fail:"); /* the query string is not shown */

    /* 4xx: not retried. */
    CHECK_EQ_INT(post("/status?code=404", &o, &reply, &rep), AF_ECURL);
    CHECK_EQ_INT(rep.attempts, 1);
    CHECK_EQ_INT(rep.status, 404);
    CHECK_EQ_INT(server_count("/status?code=404"), 1);
    CHECK_STR_CONTAINS(af_error_detail(), "HTTP status 404");

    /* Slow reply past the timeout: retried, then AF_ETIMEOUT. */
    o.timeout_s = 0.3;
    o.retries = 1;
    CHECK_EQ_INT(post("/slow?s=3", &o, &reply, &rep), AF_ETIMEOUT);
    CHECK_EQ_INT(rep.attempts, 2);
    CHECK_EQ_INT(rep.failure, AF_HTTP_FAIL_TIMEOUT);
    CHECK_STR_CONTAINS(af_error_detail(), "timed out after 0.3 s");
    o.timeout_s = 2.0;

    /* Malformed JSON: not retried, error names the position. */
    CHECK_EQ_INT(post("/malformed", &o, &reply, &rep), AF_EFORMAT);
    CHECK_EQ_INT(rep.attempts, 1);
    CHECK_EQ_INT(rep.failure, AF_HTTP_FAIL_MALFORMED);
    CHECK_STR_CONTAINS(af_error_detail(), "not valid JSON");

    /* Truncated body (Content-Length 1000, 21 bytes sent): retried, then AF_ECURL. */
    CHECK_EQ_INT(post("/truncated", &o, &reply, &rep), AF_ECURL);
    CHECK_EQ_INT(rep.attempts, 2);
    CHECK_EQ_INT(rep.failure, AF_HTTP_FAIL_TRUNCATED);
    CHECK_EQ_INT(server_count("/truncated"), 2);
    CHECK_STR_CONTAINS(af_error_detail(), "truncated body");

    /* Oversized body, with and without Content-Length: aborted, not retried. */
    o.max_bytes = 1000;
    CHECK_EQ_INT(post("/oversized?bytes=100000", &o, &reply, &rep), AF_ERANGE);
    CHECK_EQ_INT(rep.attempts, 1);
    CHECK_EQ_INT(rep.failure, AF_HTTP_FAIL_OVERSIZE);
    CHECK_STR_CONTAINS(af_error_detail(), "max_bytes = 1000");
    CHECK_EQ_INT(post("/oversized?bytes=3000000&nolen=1", &o, &reply, &rep), AF_ERANGE);
    CHECK_EQ_INT(rep.failure, AF_HTTP_FAIL_OVERSIZE);
    o.max_bytes = 1 << 16;

    /* Connection refused: a port nobody listens on (bound, then closed). */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    bind(s, (struct sockaddr *)&a, sizeof a);
    getsockname(s, (struct sockaddr *)&a, &al);
    close(s);
    char dead[128];
    snprintf(dead, sizeof dead, "http://127.0.0.1:%d/ok", (int)ntohs(a.sin_port));
    cJSON *body = cJSON_CreateObject();
    CHECK_EQ_INT(af_http_post_json(dead, body, NULL, &o, &reply, &rep), AF_ECURL);
    CHECK_EQ_INT(rep.attempts, 2);
    CHECK_EQ_INT(rep.failure, AF_HTTP_FAIL_CONNECT);
    CHECK_STR_CONTAINS(af_error_detail(), "connection failed");

    /* Bad arguments and URLs. */
    CHECK_EQ_INT(af_http_post_json("ftp://127.0.0.1/x", body, NULL, &o, &reply, &rep), AF_EINVAL);
    CHECK_STR_CONTAINS(af_error_detail(), "scheme");
    CHECK_EQ_INT(af_http_post_json("not a url", body, NULL, &o, &reply, &rep), AF_EINVAL);
    CHECK_EQ_INT(af_http_post_json(NULL, body, NULL, &o, &reply, &rep), AF_EINVAL);
    o.retries = -1;
    CHECK_EQ_INT(af_http_post_json(dead, body, NULL, &o, &reply, &rep), AF_EINVAL);
    CHECK_STR_CONTAINS(af_error_detail(), "retries");
    o.retries = 1;

    /* A hostile server echoing the Authorization header: the secret is scrubbed. */
    const char *hdr[] = {"Authorization: Bearer " SECRET, NULL};
    o.redact = SECRET;
    char u[256];
    url(u, sizeof u, "/echoauth");
    CHECK_EQ_INT(af_http_post_json(u, body, hdr, &o, &reply, &rep), AF_ECURL);
    CHECK_MSG(strstr(af_error_detail(), SECRET) == NULL, "secret in \"%s\"", af_error_detail());
    CHECK_STR_CONTAINS(af_error_detail(), "[redacted]");
    cJSON_Delete(body);

    char host[64];
    CHECK_EQ_INT(af_http_url_host("https://User:pw@Example.COM:8443/a?b", host, sizeof host), 0);
    CHECK(strcmp(host, "example.com") == 0);
}

static void test_tool(void) {
    AfHttpToolConfig c;
    af_http_tool_config_default(&c);
    char u[256];
    const char *allow[] = {"127.0.0.1"};
    const char *allow_other[] = {"localhost", "example.com"};
    AfTool *t = NULL;

    /* Allowlist and config checks happen before any connection. */
    url(u, sizeof u, "/ok");
    c.url = u;
    c.allow_hosts = allow_other;
    c.n_allow_hosts = 2;
    CHECK_EQ_INT(af_http_tool_create(&c, &t), AF_ECONFIG);
    CHECK_STR_CONTAINS(af_error_detail(), "not in tools.http.allow_hosts");
    c.n_allow_hosts = 0;
    CHECK_EQ_INT(af_http_tool_create(&c, &t), AF_ECONFIG);
    c.url = "file:///etc/passwd";
    c.allow_hosts = allow;
    c.n_allow_hosts = 1;
    CHECK_EQ_INT(af_http_tool_create(&c, &t), AF_ECONFIG);
    CHECK_STR_CONTAINS(af_error_detail(), "tools.http.url");
    CHECK_EQ_INT(server_count("/ok"), 1); /* only test_client's request */

    c.retries = 2;
    c.backoff_s = 0.01;
    c.timeout_s = 2;
    c.max_bytes = 4096;
    AfToolResult r;
    AfHttpToolStats st;
    struct {
        const char *path;
        AfToolStatus want;
        const char *text;
        int attempts;
    } cases[] = {
        {"/ok", AF_TOOL_OK, "echo: who directed it", 1},
        {"/noresult", AF_TOOL_OK, "{\"answer\":42,\"query\":\"who directed it\"}", 1},
        {"/error", AF_TOOL_ERROR, "no such entity", 1},
        {"/fail?n=1", AF_TOOL_OK, "", 2},
        {"/fail?n=50", AF_TOOL_INFRA_ERROR, "HTTP status 500", 3},
        {"/status?code=400", AF_TOOL_ERROR, "HTTP status 400", 1},
        {"/status?code=404", AF_TOOL_INFRA_ERROR, "HTTP status 404", 1},
        {"/malformed", AF_TOOL_INFRA_ERROR, "not valid JSON", 1},
        {"/truncated", AF_TOOL_INFRA_ERROR, "truncated body", 3},
        {"/oversized?bytes=10000", AF_TOOL_INFRA_ERROR, "larger than max_bytes", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        url(u, sizeof u, cases[i].path);
        c.url = u;
        t = NULL;
        int rc = af_http_tool_create(&c, &t);
        CHECK_MSG(rc == 0, "%s: %s", cases[i].path, af_error_detail());
        if (rc) continue;
        CHECK(strcmp(t->name, "http") == 0);
        CHECK_EQ_INT(t->call(t, "who directed it", 0, &r), 0);
        CHECK_MSG(r.status == cases[i].want, "%s: status %s, text %s", cases[i].path, af_tool_status_name(r.status),
                  r.text);
        CHECK_STR_CONTAINS(r.text, cases[i].text);
        af_http_tool_stats(t, &st);
        CHECK_MSG(st.last_attempts == cases[i].attempts, "%s: %d attempts", cases[i].path, st.last_attempts);
        af_tool_result_free(&r);
        t->destroy(t);
    }

    /* The call's timeout caps the configured one. */
    url(u, sizeof u, "/slow?s=3");
    c.url = u;
    c.retries = 0;
    CHECK_EQ_INT(af_http_tool_create(&c, &t), 0);
    CHECK_EQ_INT(t->call(t, "x", 0.2, &r), 0);
    CHECK_EQ_INT(r.status, AF_TOOL_INFRA_ERROR);
    CHECK_STR_CONTAINS(r.text, "timed out");
    af_tool_result_free(&r);
    CHECK_EQ_INT(t->call(t, NULL, 0, &r), 0);
    CHECK_EQ_INT(r.status, AF_TOOL_BAD_ACTION);
    af_tool_result_free(&r);
    af_http_tool_stats(t, &st);
    CHECK_EQ_INT(st.calls, 2);
    CHECK_EQ_INT(st.infra_errors, 1);
    af_http_tool_destroy(t);
    af_http_tool_destroy(NULL);
}

static void no_secret(const char *what) {
    CHECK_MSG(strstr(af_error_detail(), SECRET) == NULL, "%s: the API key is in \"%s\"", what, af_error_detail());
}

static void test_openai(void) {
    AfOpenAIConfig c;
    af_openai_config_default(&c);
    char u[256];
    AfOpenAI *cl = NULL;
    char *reply = NULL;
    c.model = "test-model";
    c.api_key_env = "AF_TEST_OPENAI_KEY";
    c.timeout_s = 2;
    c.retries = 2;
    c.backoff_s = 0.01;

    /* A missing key variable is named, a bad URL refused. */
    unsetenv("AF_TEST_OPENAI_KEY");
    url(u, sizeof u, "/v1");
    c.url = u;
    CHECK_EQ_INT(af_openai_create(&c, &cl), AF_ECONFIG);
    CHECK_STR_CONTAINS(af_error_detail(), "AF_TEST_OPENAI_KEY is not set");
    setenv("AF_TEST_OPENAI_KEY", SECRET, 1);
    c.url = "gopher://x";
    CHECK_EQ_INT(af_openai_create(&c, &cl), AF_ECONFIG);
    c.url = u;
    c.model = NULL;
    CHECK_EQ_INT(af_openai_create(&c, &cl), AF_ECONFIG);
    CHECK_STR_CONTAINS(af_error_detail(), "modules.model");
    c.model = "test-model";

    /* Normal exchange (base URL gets /chat/completions appended). */
    CHECK_EQ_INT(af_openai_create(&c, &cl), 0);
    CHECK_EQ_INT(af_openai_chat(cl, "be brief", "what is 6*7?", &reply), 0);
    CHECK_MSG(reply && strcmp(reply, "reply(test-model): what is 6*7? [system: be brief]") == 0, "reply \"%s\"",
              reply ? reply : "(null)");
    free(reply);
    CHECK_EQ_INT(af_openai_chat(cl, NULL, "no system", &reply), 0);
    CHECK(reply && strcmp(reply, "reply(test-model): no system") == 0);
    free(reply);
    CHECK_EQ_INT(af_openai_chat(cl, NULL, NULL, &reply), AF_EINVAL);
    af_openai_destroy(cl);

    /* 500 twice then success: retried. */
    url(u, sizeof u, "/v1/chat/completions?fail=2");
    CHECK_EQ_INT(af_openai_create(&c, &cl), 0);
    CHECK_EQ_INT(af_openai_chat(cl, NULL, "retry me", &reply), 0);
    CHECK_EQ_INT(af_openai_last_attempts(cl), 3);
    CHECK_EQ_INT(server_count("/v1/chat/completions?fail=2"), 3);
    free(reply);
    af_openai_destroy(cl);

    /* Slow past the timeout. */
    url(u, sizeof u, "/v1/?slow=3");
    c.timeout_s = 0.3;
    c.retries = 1;
    CHECK_EQ_INT(af_openai_create(&c, &cl), 0);
    CHECK_EQ_INT(af_openai_chat(cl, NULL, "slow", &reply), AF_ETIMEOUT);
    CHECK(reply == NULL);
    CHECK_EQ_INT(af_openai_last_attempts(cl), 2);
    CHECK_STR_CONTAINS(af_error_detail(), "openai (model test-model)");
    no_secret("timeout");
    af_openai_destroy(cl);
    c.timeout_s = 2;

    /* Malformed replies: each names the field. */
    struct {
        const char *bad;
        int rc;
        const char *text;
    } cases[] = {
        {"nochoices", AF_EFORMAT, "\"choices\" missing"},
        {"emptychoices", AF_EFORMAT, "\"choices\" is empty"},
        {"nomessage", AF_EFORMAT, "choices[0].message missing"},
        {"nullcontent", AF_EFORMAT, "content is null"},
        {"numbercontent", AF_EFORMAT, "content is not a string"},
        {"notobject", AF_EFORMAT, "not a JSON object"},
        {"apierror", AF_EFORMAT, "model overloaded"},
        {"apierror_echo", AF_EFORMAT, "message withheld"},
        {"echoauth", AF_ECURL, "HTTP status 401"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[128];
        snprintf(path, sizeof path, "/v1/chat/completions?bad=%s", cases[i].bad);
        url(u, sizeof u, path);
        CHECK_EQ_INT(af_openai_create(&c, &cl), 0);
        int rc = af_openai_chat(cl, "sys", "user", &reply);
        CHECK_MSG(rc == cases[i].rc, "%s: rc %d: %s", cases[i].bad, rc, af_error_detail());
        CHECK_STR_CONTAINS(af_error_detail(), cases[i].text);
        CHECK(reply == NULL);
        no_secret(cases[i].bad);
        af_openai_destroy(cl);
    }
    /* Other transport faults through the backend. */
    const char *faults[] = {"/malformed", "/truncated", "/oversized?bytes=5000000", "/status?code=500"};
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++) {
        url(u, sizeof u, faults[i]);
        CHECK_EQ_INT(af_openai_create(&c, &cl), 0);
        CHECK(af_openai_chat(cl, NULL, "x", &reply) < 0);
        CHECK(reply == NULL);
        no_secret(faults[i]);
        af_openai_destroy(cl);
    }

    /* A wrong key: 401 from the server, and the wrong key is not shown either. */
    setenv("AF_TEST_OPENAI_KEY", "sk-WRONG-0000", 1);
    url(u, sizeof u, "/v1");
    CHECK_EQ_INT(af_openai_create(&c, &cl), 0);
    CHECK_EQ_INT(af_openai_chat(cl, NULL, "x", &reply), AF_ECURL);
    CHECK_STR_CONTAINS(af_error_detail(), "401");
    CHECK(strstr(af_error_detail(), "sk-WRONG-0000") == NULL);
    af_openai_destroy(cl);
    setenv("AF_TEST_OPENAI_KEY", SECRET, 1);
    af_openai_destroy(NULL);
}

int main(void) {
    const char *proxies[] = {"http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"};
    for (size_t i = 0; i < sizeof proxies / sizeof proxies[0]; i++) unsetenv(proxies[i]);
    setenv("AF_TEST_EXPECT_KEY", SECRET, 1); /* the server checks it */
    signal(SIGPIPE, SIG_IGN);
    if (server_start() != 0) {
        CHECK_MSG(0, "cannot start tests/fault_server.py");
        TEST_MAIN_END();
    }
    /* Capture stderr (debug-level logs included) to check it for the key afterwards. */
    char cap[] = "/tmp/af_test_http_stderr_XXXXXX";
    int capfd = mkstemp(cap);
    int saved = dup(2);
    fflush(stderr);
    dup2(capfd, 2);
    af_log_setup(0, AF_LOG_DEBUG, AF_PROGRESS_RANK0);

    test_client();
    test_tool();
    test_openai();

    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    server_stop();
    /* Show what was captured, then check it. */
    lseek(capfd, 0, SEEK_SET);
    static char logbuf[1 << 20];
    ssize_t n = read(capfd, logbuf, sizeof logbuf - 1);
    logbuf[n > 0 ? n : 0] = '\0';
    close(capfd);
    unlink(cap);
    fputs(logbuf, stderr);
    CHECK_MSG(strstr(logbuf, "retrying in") != NULL, "the debug log lacks the retries");
    CHECK_MSG(strstr(logbuf, SECRET) == NULL, "the API key appears in stderr");
    TEST_MAIN_END();
}
