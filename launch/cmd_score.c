/* agentflow score --model DIR (--tokens "ID ID ..." | --text TEXT | --chat FILE.json):
 * per-token log-probabilities of a token sequence under a Hugging Face-style model
 * directory, as JSON on stdout. --text tokenizes with the directory's tokenizer.json
 * (the bos token first when the tokenizer adds one); --chat renders a list of messages
 * with the directory's chat template, then tokenizes the text (special-token text maps to
 * its id; nothing is added: the template writes its own). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "common/chat_template.h"
#include "common/error.h"
#include "common/fsutil.h"
#include "common/model.h"
#include "common/tokenizer.h"
#include "common/safetensors.h"
#include "launch/commands.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: agentflow score --model DIR (--tokens \"ID ID ...\" | --text TEXT | --chat FILE.json)\n"
            "                       [--generation-prompt] [--temperature T] [--threads N]\n"
            "  Prints {\"tokens\": [...], \"logprobs\": [...]}: log p(token_i | tokens before it) for\n"
            "  i >= 1, one number per token after the first (temperature 1 unless given). DIR holds\n"
            "  config.json and model.safetensors (Hugging Face Qwen2/Qwen3/Llama names, sharded or\n"
            "  not); --text and --chat also need its tokenizer.json (and tokenizer_config.json for\n"
            "  the chat template). --chat reads a JSON list of {\"role\", \"content\"} messages, or\n"
            "  an object {\"messages\": [...], ...} whose other keys (tools, enable_thinking, ...)\n"
            "  the template sees; --generation-prompt appends the assistant turn's opening.\n");
}

/* "ID ID ..." (spaces, tabs, commas or newlines between) -> *ids (malloc'd), *n.
 * Returns 0 or an exit code after printing the reason. */
static int parse_ids(const char *toks, int32_t **out, int *n_out) {
    size_t cap = strlen(toks) / 2 + 2;
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids) return 1;
    int n = 0;
    const char *p = toks;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == ',' || *p == '\n') p++;
        if (!*p) break;
        char *end = NULL;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v > 0x7fffffff || (*end && *end != ' ' && *end != '\t' && *end != ',' && *end != '\n')) {
            fprintf(stderr, "agentflow score: --tokens: token %d is not a non-negative integer (\"%.20s\")\n", n, p);
            free(ids);
            return 2;
        }
        ids[n++] = (int32_t)v;
        p = end;
    }
    if (n < 1) {
        fprintf(stderr, "agentflow score: --tokens: no token ids given\n");
        free(ids);
        return 2;
    }
    *out = ids;
    *n_out = n;
    return 0;
}

/* The chat FILE rendered with DIR's template: a list of messages, or an object with
 * "messages" and the template's other variables. *out malloc'd. Returns 0 or an exit code. */
static int render_chat(const char *dir, const char *file, int gen_prompt, char **out, size_t *len) {
    char *buf = NULL;
    size_t n = 0;
    cJSON *doc = NULL, *extra = NULL;
    AfChatTemplate *tpl = NULL;
    int rc = af_read_file(file, (size_t)64 << 20, &buf, &n);
    if (rc) {
        fprintf(stderr, "agentflow score: --chat %s: %s\n", file, af_error_detail());
        return 2;
    }
    rc = af_chat_json_parse(buf, n, &doc);
    free(buf);
    if (rc) {
        fprintf(stderr, "agentflow score: --chat %s: %s\n", file, af_error_detail());
        return 2;
    }
    const cJSON *messages = doc;
    if (cJSON_IsObject(doc)) {
        messages = cJSON_GetObjectItemCaseSensitive(doc, "messages");
        extra = cJSON_Duplicate(doc, 1);
        if (extra) cJSON_DeleteItemFromObjectCaseSensitive(extra, "messages");
    }
    if (!cJSON_IsArray(messages)) {
        fprintf(stderr, "agentflow score: --chat %s: expected a JSON list of messages or an object with \"messages\"\n",
                file);
        rc = 2;
        goto done;
    }
    if ((rc = af_chat_template_load(dir, &tpl)) || (rc = af_chat_template_apply(tpl, messages, gen_prompt, extra, out, len))) {
        fprintf(stderr, "agentflow score: --chat: %s\n", af_error_detail());
        rc = rc == AF_ENOMEM ? 1 : 2;
    }
done:
    af_chat_template_destroy(tpl);
    cJSON_Delete(extra);
    cJSON_Delete(doc);
    return rc;
}

/* --text or --chat through DIR's tokenizer -> *ids, *n; *vocab: the tokenizer's ids span.
 * Returns 0 or an exit code after printing the reason. */
static int tokenize(const char *dir, const char *text, const char *chat, int gen_prompt, int32_t **ids, int *n,
                    uint32_t *vocab) {
    AfTokenizer *tok = NULL;
    AfTokenIds t = {0};
    char *rendered = NULL;
    size_t len = text ? strlen(text) : 0;
    int rc = af_tokenizer_load(dir, &tok);
    if (rc) {
        fprintf(stderr, "agentflow score: %s: %s\n", af_strerror(rc), af_error_detail());
        return rc == AF_ENOMEM ? 1 : 2;
    }
    *vocab = af_tokenizer_vocab_size(tok);
    const AfTokenizerSpecials *sp = af_tokenizer_specials(tok);
    if (chat) {
        if ((rc = render_chat(dir, chat, gen_prompt, &rendered, &len))) goto done;
        text = rendered;
    } else if (sp->add_bos && sp->bos_id >= 0 && (rc = af_token_ids_push(&t, (uint32_t)sp->bos_id))) {
        rc = 1;
        goto done;
    }
    if ((rc = af_tokenizer_encode(tok, text, len, &t))) {
        fprintf(stderr, "agentflow score: tokenizing: %s\n", af_error_detail());
        rc = rc == AF_ENOMEM ? 1 : 2;
        goto done;
    }
    if (t.n < 1 || t.n > 0x7fffffff) {
        fprintf(stderr, "agentflow score: the text gives %zu tokens\n", t.n);
        rc = 2;
        goto done;
    }
    if (!(*ids = malloc(t.n * sizeof **ids))) {
        rc = 1;
        goto done;
    }
    for (size_t i = 0; i < t.n; i++) (*ids)[i] = (int32_t)t.ids[i];
    *n = (int)t.n;
done:
    free(rendered);
    af_token_ids_free(&t);
    af_tokenizer_destroy(tok);
    return rc;
}

int af_cmd_score(int argc, char **argv) {
    const char *dir = NULL, *toks = NULL, *text = NULL, *chat = NULL;
    float temp = 1.0f;
    int threads = 1, gen_prompt = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--generation-prompt") == 0) {
            gen_prompt = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "agentflow score: %s needs a value\n", argv[i]);
            usage(stderr);
            return 2;
        }
        char *end = NULL;
        if (strcmp(argv[i], "--model") == 0) dir = argv[++i];
        else if (strcmp(argv[i], "--tokens") == 0) toks = argv[++i];
        else if (strcmp(argv[i], "--text") == 0) text = argv[++i];
        else if (strcmp(argv[i], "--chat") == 0) chat = argv[++i];
        else if (strcmp(argv[i], "--temperature") == 0) {
            temp = strtof(argv[++i], &end);
            if (!end || *end || !(temp > 0)) {
                fprintf(stderr, "agentflow score: --temperature: expected a number > 0, got \"%s\"\n", argv[i]);
                return 2;
            }
        } else if (strcmp(argv[i], "--threads") == 0) {
            threads = (int)strtol(argv[++i], &end, 10);
            if (!end || *end || threads < 1 || threads > 1024) {
                fprintf(stderr, "agentflow score: --threads: expected 1..1024, got \"%s\"\n", argv[i]);
                return 2;
            }
        } else {
            fprintf(stderr, "agentflow score: unknown option %s\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!dir || (!toks + !text + !chat) != 2) {
        fprintf(stderr, "agentflow score: --model and one of --tokens, --text, --chat are required\n");
        usage(stderr);
        return 2;
    }
    if (gen_prompt && !chat) {
        fprintf(stderr, "agentflow score: --generation-prompt applies to --chat\n");
        return 2;
    }
    int32_t *ids = NULL;
    int n = 0;
    uint32_t tok_vocab = 0;
    int rc = toks ? parse_ids(toks, &ids, &n) : tokenize(dir, text, chat, gen_prompt, &ids, &n, &tok_vocab);
    if (rc) return rc;
    af_model_set_threads(threads);
    AfModel *m = NULL;
    rc = af_model_load_dir(dir, n, 1, 0, &m);
    if (rc) { /* a directory that does not parse or is not understood: bad input, exit 2 */
        fprintf(stderr, "agentflow score: %s: %s\n", af_strerror(rc), af_error_detail());
        free(ids);
        return rc == AF_EFORMAT || rc == AF_ECONFIG ? 2 : 1;
    }
    if (tok_vocab > (uint32_t)m->cfg.vocab_size) {
        fprintf(stderr, "agentflow score: %s: tokenizer.json has ids up to %u, but the model's vocabulary has %d "
                        "tokens (a tokenizer of another model?)\n", dir, tok_vocab - 1, m->cfg.vocab_size);
        free(ids);
        af_model_destroy(m);
        return 2;
    }
    for (int i = 0; i < n; i++)
        if (ids[i] >= m->cfg.vocab_size) {
            fprintf(stderr, "agentflow score: token %d: id %d is outside the model's vocabulary of %d\n", i, ids[i],
                    m->cfg.vocab_size);
            free(ids);
            af_model_destroy(m);
            return 2;
        }
    float *lp = malloc((size_t)n * sizeof *lp);
    int seq[2] = {0, n};
    rc = lp ? af_model_forward(m, ids, seq, 1, temp, lp, NULL) : AF_ENOMEM;
    if (rc) {
        fprintf(stderr, "agentflow score: %s: %s\n", af_strerror(rc), af_error_detail());
        free(lp);
        free(ids);
        af_model_destroy(m);
        return rc == AF_EINVAL ? 2 : 1;
    }
    printf("{\"tokens\": [");
    for (int i = 0; i < n; i++) printf("%s%d", i ? ", " : "", ids[i]);
    printf("], \"logprobs\": [");
    for (int i = 1; i < n; i++) printf("%s%.9g", i > 1 ? ", " : "", lp[i]);
    printf("]}\n");
    free(lp);
    free(ids);
    af_model_destroy(m);
    return 0;
}
