/* The `openai` backend: a client of an OpenAI-compatible /v1/chat/completions endpoint
 * (libcurl + cJSON), used by the executor, verifier, generator and judge, and by the
 * planner in evaluation (config modules.<m>.{backend,url,model,api_key_env,timeout_s,
 * retries}).
 *
 * The API key is read once, at create time, from the environment variable named by
 * api_key_env and sent only as "Authorization: Bearer <key>". It is never logged and never
 * part of an error message: the HTTP layer scrubs it from every message, and errors name the
 * variable, not its value. A reply whose content contains the key gets "[redacted]" in
 * its place, so a server echoing it cannot put it into an action, an answer or a
 * trajectory. The key is wiped from memory on destroy.
 *
 * Deadlines and connections: a chat request ends by the calling thread's deadline
 * (common/deadline.h: an episode's remaining budget), retries included; timeout_s caps
 * each attempt. The client keeps its connections open between requests (a small pool of
 * curl handles, one per concurrent request). */
#ifndef AF_ACTOR_OPENAI_H
#define AF_ACTOR_OPENAI_H

#include <stddef.h>
#include <stdint.h>

typedef struct AfOpenAIConfig {
    const char *url;          /* base URL (".../v1") or the full ".../chat/completions" URL; required */
    const char *model;        /* model name sent in the request; required */
    const char *api_key_env;  /* name of the env variable holding the key; NULL or "": no key */
    double timeout_s;         /* per attempt; <= 0: the default (modules.*.timeout_s's, in the
                                 configuration schema) */
    int retries;              /* extra attempts on connection errors, timeouts, 5xx, 429; < 0:
                                 the default (modules.*.retries's) */
    double backoff_s;         /* first retry delay, doubling up to 10 s; < 0: 0.5 s */
    size_t max_bytes;         /* reply size cap; 0: 4 MiB */
    int max_tokens;           /* > 0: sent as max_tokens; 0: omitted */
    double temperature;       /* >= 0: sent; < 0: omitted (server default) */
    int send_seed;            /* 1: af_openai_chat_call sends its seed as "seed" */
    int logprobs;             /* 1: sends "logprobs": true and reads choices[0].logprobs */
} AfOpenAIConfig;

/* Zero the struct and set the defaults above: timeout_s and retries from the configuration
 * schema (common/config.h), the rest the client's own (temperature 0: deterministic judging). */
void af_openai_config_default(AfOpenAIConfig *c);

typedef struct AfOpenAI AfOpenAI;

/* Create a client; strings in *cfg are copied. Returns 0, or AF_ECONFIG naming the field
 * (modules.<m>.url not http(s), model missing, the api_key_env variable unset or empty),
 * or AF_ENOMEM. */
int af_openai_create(const AfOpenAIConfig *cfg, AfOpenAI **out);
void af_openai_destroy(AfOpenAI *c);

/* One chat completion: messages [{"role":"system", system_prompt} if non-NULL,
 * {"role":"user", user_prompt}]; *reply_out receives choices[0].message.content
 * (malloc'd, owned by the caller). Returns 0, or:
 *   AF_EINVAL   NULL client, prompt or reply_out;
 *   AF_ETIMEOUT / AF_ECURL  transport failure or HTTP error after the retries (infra);
 *   AF_ERANGE   reply larger than max_bytes;
 *   AF_EFORMAT  the reply is not JSON, has an "error" object, or lacks a string
 *               choices[0].message.content (the message names the missing field);
 *   AF_ENOMEM.
 * *reply_out is NULL on error. Thread-safe for concurrent calls on one client. */
int af_openai_chat(AfOpenAI *c, const char *system_prompt, const char *user_prompt, char **reply_out);

/* What af_openai_chat_call returns. */
typedef struct AfOpenAIReply {
    char *content;     /* choices[0].message.content (malloc'd, the caller frees) */
    int has_logprobs;  /* 1 if the reply carried choices[0].logprobs.content[] */
    double logprob;    /* sum of its "logprob" values */
    uint32_t tokens;   /* its entries */
} AfOpenAIReply;

/* af_openai_chat with the seed (sent as "seed" when cfg->send_seed, masked to 31 bits
 * so every server takes it) and log-probs (cfg->logprobs). Servers that ignore them
 * reply as usual (has_logprobs 0). A server that rejects them, an HTTP 400 whose body
 * names "logprobs" or "seed", is asked once more without the field(s) it names; the
 * client then stops sending them (one warning in the log). Returns as af_openai_chat;
 * out is zeroed first and holds nothing on error. */
int af_openai_chat_call(AfOpenAI *c, const char *system_prompt, const char *user_prompt, uint64_t seed,
                        AfOpenAIReply *out);

/* Attempts made by the most recently finished af_openai_chat on this client (tests,
 * metrics; with concurrent calls, whichever finished last); 0 before any call. */
int af_openai_last_attempts(const AfOpenAI *c);

#endif
