/* agentflow tokenize --model DIR [--decode]: text <-> token ids with a model directory's
 * tokenizer.json, one JSON value per line on stdin and stdout (docs/tokenizers.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/tokenizer.h"
#include "env/vocab_tokenizer.h"
#include "launch/commands.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: agentflow tokenize --model DIR [--ordinary | --decode [--no-cleanup]]\n"
            "       agentflow tokenize --fixed [--decode]\n"
            "  Reads one JSON string per line on stdin and prints, per line, the JSON array of\n"
            "  its token ids (no special tokens added; the text of a special token inside the\n"
            "  string maps to its id). With --decode, reads JSON arrays of ids and prints JSON\n"
            "  strings; bytes that are not valid UTF-8 are printed as U+FFFD, and, as the\n"
            "  reference's decode() does, spaces before punctuation are cleaned up when\n"
            "  tokenizer_config.json's clean_up_tokenization_spaces is true or absent\n"
            "  (--no-cleanup: the tokens' bytes exactly). --ordinary encodes special-token\n"
            "  text as ordinary text (it never becomes a special token's id).\n"
            "  DIR needs tokenizer.json (and tokenizer_config.json where present); --fixed\n"
            "  uses the project's own 158-token vocabulary. Raw bytes inside an input string\n"
            "  are taken as they are, so invalid UTF-8 can be given (it becomes U+FFFD).\n"
            "  Exit 2 on a bad tokenizer or a bad line (named on stderr).\n");
}

/* A JSON array of non-negative integers -> ids. NULL on success or the problem. */
static const char *parse_id_array(const char *s, size_t len, AfTokenIds *ids) {
    size_t i = 0;
    while (i < len && strchr(" \t\r", s[i])) i++;
    if (i >= len || s[i] != '[') return "expected a JSON array of token ids";
    i++;
    int first = 1;
    for (;;) {
        while (i < len && strchr(" \t\r", s[i])) i++;
        if (i < len && s[i] == ']' && first) { i++; break; }
        if (i >= len || s[i] < '0' || s[i] > '9') return "expected a token id (a non-negative integer)";
        unsigned long long v = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            v = v * 10 + (unsigned)(s[i++] - '0');
            if (v > 0xffffffffull) return "token id out of range";
        }
        if (af_token_ids_push(ids, (uint32_t)v)) return "out of memory";
        first = 0;
        while (i < len && strchr(" \t\r", s[i])) i++;
        if (i < len && s[i] == ',') { i++; continue; }
        if (i < len && s[i] == ']') { i++; break; }
        return "expected ',' or ']' in the array";
    }
    while (i < len && strchr(" \t\r", s[i])) i++;
    return i == len ? NULL : "text after the JSON array";
}

/* Print bytes (valid UTF-8) as a JSON string, escaping as JavaScript's JSON.stringify. */
static void print_json_string(FILE *f, const char *s, size_t n) {
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\b': fputs("\\b", f); break;
        case '\f': fputs("\\f", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (c < 0x20) fprintf(f, "\\u%04x", c);
            else fputc(c, f);
        }
    }
    fputc('"', f);
}

static int bad_line(size_t line, const char *what) {
    fprintf(stderr, "agentflow tokenize: stdin line %zu: %s\n", line, what);
    return 2;
}

int af_cmd_tokenize(int argc, char **argv) {
    const char *dir = NULL;
    int decode = 0, fixed = 0, no_cleanup = 0, flags = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--decode") == 0) decode = 1;
        else if (strcmp(argv[i], "--fixed") == 0) fixed = 1;
        else if (strcmp(argv[i], "--no-cleanup") == 0) no_cleanup = 1;
        else if (strcmp(argv[i], "--ordinary") == 0) flags |= AF_ENCODE_ORDINARY;
        else if (strcmp(argv[i], "--model") == 0 && i + 1 < argc) dir = argv[++i];
        else {
            fprintf(stderr, "agentflow tokenize: unknown option or missing value: %s\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!dir == !fixed) {
        fprintf(stderr, "agentflow tokenize: give exactly one of --model DIR and --fixed\n");
        usage(stderr);
        return 2;
    }
    AfTokenizer *tok = NULL;
    int rc = fixed ? af_vocab_tokenizer_create(&tok) : af_tokenizer_load(dir, &tok);
    if (rc) {
        fprintf(stderr, "agentflow tokenize: %s\n", af_error_detail()[0] ? af_error_detail() : af_strerror(rc));
        return rc == AF_ENOMEM || rc == AF_EIO ? 1 : 2;
    }
    char *line = NULL;
    size_t line_cap = 0, lineno = 0;
    ssize_t got;
    AfBytes text = {0}, clean = {0}, tidy = {0};
    int cleanup = !fixed && !no_cleanup && af_tokenizer_specials(tok)->clean_up_spaces;
    AfTokenIds ids = {0};
    int status = 0;
    while ((got = getline(&line, &line_cap, stdin)) >= 0) {
        size_t len = (size_t)got;
        lineno++;
        if (len && line[len - 1] == '\n') len--;
        const char *err;
        text.len = 0;
        ids.n = 0;
        if (!decode) {
            if ((err = af_json_string_unescape(line, len, &text))) { status = bad_line(lineno, err); break; }
            rc = af_tokenizer_encode_flags(tok, text.data ? text.data : "", text.len, flags, &ids);
            if (rc) { status = bad_line(lineno, af_error_detail()); break; }
            fputc('[', stdout);
            for (size_t k = 0; k < ids.n; k++) fprintf(stdout, k ? ",%u" : "%u", ids.ids[k]);
            fputs("]\n", stdout);
        } else {
            if ((err = parse_id_array(line, len, &ids))) { status = bad_line(lineno, err); break; }
            rc = af_tokenizer_decode(tok, ids.ids, ids.n, &text);
            if (rc) { status = bad_line(lineno, af_error_detail()); break; }
            clean.len = tidy.len = 0;
            if (af_utf8_sanitize(text.data, text.len, &clean)) { status = 1; break; }
            if (cleanup && af_tokenizer_clean_up(clean.data, clean.len, &tidy)) { status = 1; break; }
            const AfBytes *o = cleanup ? &tidy : &clean;
            print_json_string(stdout, o->data, o->len);
            fputc('\n', stdout);
        }
    }
    if (fflush(stdout) != 0 && !status) {
        fprintf(stderr, "agentflow tokenize: writing stdout: %s\n", strerror(errno));
        status = 1;
    }
    free(line);
    af_bytes_free(&text);
    af_bytes_free(&clean);
    af_bytes_free(&tidy);
    af_token_ids_free(&ids);
    af_tokenizer_destroy(tok);
    return status;
}
