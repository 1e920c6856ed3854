/* agentflow ckpt list|verify|export: inspect the checkpoints of a run (RUN_DIR/ckpt.lmdb,
 * learner/ckpt.h), opened read-only, so it may run while the training writes. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "actor/text_planner.h"
#include "common/error.h"
#include "common/model.h"
#include "common/safetensors.h"
#include "launch/cli.h"
#include "launch/commands.h"
#include "learner/ckpt.h"

static const char usage[] =
    "usage: agentflow ckpt list|verify|export --run-dir DIR [--step N] [--out DIR]\n"
    "                 [--dtype fp32|bf16] [--max-shard-mb MB] [--source DIR]\n"
    "  list     checkpoint steps with their metrics (the last metrics line before each)\n"
    "  verify   check the store's structure and every checksum of every checkpoint (or of\n"
    "           --step N); exit 1 if one fails or the store is damaged\n"
    "  export   write a Hugging Face model directory of --step N (default: the latest) to\n"
    "           --out DIR: config.json and model.safetensors in --dtype (fp32, the default, or\n"
    "           bf16 rounded to nearest even), split into shards with\n"
    "           model.safetensors.index.json above --max-shard-mb (10^6 bytes; default 5000,\n"
    "           0: never). When the planner came from a Hugging Face directory (--source\n"
    "           DIR, else the run's copy DIR/planner of a planner in text, else the run's\n"
    "           model.init_from), its config.json fields are kept and its tokenizer.json,\n"
    "           tokenizer_config.json, special_tokens_map.json, generation_config.json and\n"
    "           chat_template.jinja copied (docs/models.md). `agentflow train --init-from\n"
    "           DIR`, `agentflow score --model DIR` and transformers read it\n"
    "A damaged store is reported and what can be salvaged from it is shown; the run directory\n"
    "is not changed (`agentflow train --resume=latest-valid` moves it aside and rebuilds it).\n";


static int cmd_list(AfCkptStore *st) {
    AfCkptInfo *items = NULL;
    int n = 0;
    int rc = af_ckpt_list(st, &items, &n);
    if (rc) {
        fprintf(stderr, "agentflow ckpt list: %s\n", af_error_detail());
        return 1;
    }
    uint64_t latest = 0;
    int has_latest = af_ckpt_latest(st, &latest) == 0;
    printf("%s: %d checkpoint(s)\n", af_ckpt_path(st), n);
    for (int i = 0; i < n; i++) {
        const AfCkptMeta *m = &items[i].meta;
        if (items[i].broken) {
            printf("step %" PRIu64 "  BROKEN: %s\n", m->step, items[i].detail);
            continue;
        }
        char when[64] = "?";
        time_t t = (time_t)m->unix_time;
        struct tm tmv;
        if (gmtime_r(&t, &tmv)) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tmv);
        printf("step %" PRIu64 "%s  policy_version %" PRIu64 "  adam_step %" PRIu64 "  %.2f MiB  %s%s\n", m->step,
               has_latest && latest == m->step ? " (latest)" : "", m->policy_version, m->adam_step,
               (double)m->bytes / (1 << 20), when, m->has_ref ? "  +reference" : "");
        if (m->metrics_json && m->metrics_json[0]) printf("  metrics: %s\n", m->metrics_json);
    }
    af_ckpt_list_free(items, n);
    return 0;
}

static int verify_one(AfCkptStore *st, uint64_t step) {
    AfCkptReport r;
    int rc = af_ckpt_verify(st, step, &r);
    if (rc) {
        printf("step %" PRIu64 ": FAILED: %s\n", r.step, r.message);
        return 1;
    }
    printf("step %" PRIu64 ": ok (%d tensors, %.2f MiB checked)\n", r.step, r.tensors_checked,
           (double)r.bytes_checked / (1 << 20));
    return 0;
}

static int cmd_verify(AfCkptStore *st, int have_step, uint64_t step) {
    if (have_step) return verify_one(st, step);
    AfCkptInfo *items = NULL;
    int n = 0;
    if (af_ckpt_list(st, &items, &n)) {
        fprintf(stderr, "agentflow ckpt verify: %s\n", af_error_detail());
        return 1;
    }
    int bad = 0;
    for (int i = 0; i < n; i++) bad += verify_one(st, items[i].meta.step);
    uint64_t latest;
    if (n > 0 && af_ckpt_latest(st, &latest)) {
        printf("latest: FAILED: %s\n", af_error_detail());
        bad++;
    }
    af_ckpt_list_free(items, n);
    printf("%d checkpoint(s), %d failed\n", n, bad);
    return bad || n == 0 ? 1 : 0;
}

int af_cmd_ckpt(int argc, char **argv) {
    static const struct option opts[] = {
        {"run-dir", required_argument, 0, 'r'}, {"step", required_argument, 0, 'n'},
        {"out", required_argument, 0, 'o'}, {"dtype", required_argument, 0, 'd'},
        {"max-shard-mb", required_argument, 0, 'M'}, {"source", required_argument, 0, 's'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *run_dir = NULL, *out = NULL, *action = NULL, *source = NULL;
    AfExportOptions eo = {.dtype = AF_DT_F32, .max_shard_bytes = 5000ull * 1000 * 1000, .source_dir = NULL};
    uint64_t step = AF_CKPT_LATEST;
    int have_step = 0, c;
    /* the action may come before or after the options */
    if (argc > 1 && argv[1][0] != '-') {
        action = argv[1];
        argv++;
        argc--;
    }
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        switch (c) {
        case 'r': run_dir = optarg; break;
        case 'o': out = optarg; break;
        case 's': source = optarg; break;
        case 'd':
            if (strcmp(optarg, "fp32") == 0 || strcmp(optarg, "float32") == 0) eo.dtype = AF_DT_F32;
            else if (strcmp(optarg, "bf16") == 0 || strcmp(optarg, "bfloat16") == 0) eo.dtype = AF_DT_BF16;
            else return af_cli_usage_error(usage, "ckpt", "--dtype takes fp32 or bf16");
            break;
        case 'M': {
            char *end = NULL;
            double v = strtod(optarg, &end);
            if (!end || *end || optarg[0] == 0 || !(v >= 0) || v > 1e9)
                return af_cli_usage_error(usage, "ckpt", "--max-shard-mb takes a number >= 0 (0: one file)");
            eo.max_shard_bytes = (uint64_t)(v * 1e6);
            break;
        }
        case 'n': {
            int rc = af_cli_parse_u64(usage, "ckpt", "--step", optarg, 0, AF_CKPT_LATEST - 1, &step);
            if (rc) return rc;
            have_step = 1;
            break;
        }
        case 'h': fputs(usage, stdout); return 0;
        default: {
            char msg[128];
            snprintf(msg, sizeof msg, "unknown or incomplete option '%.80s'", argv[optind - 1]);
            return af_cli_usage_error(usage, "ckpt", msg);
        }
        }
    }
    if (!action && optind < argc) action = argv[optind++];
    if (optind < argc) {
        char msg[128];
        snprintf(msg, sizeof msg, "unexpected argument '%.80s'", argv[optind]);
        return af_cli_usage_error(usage, "ckpt", msg);
    }
    if (!action) return af_cli_usage_error(usage, "ckpt", "which action: list, verify or export?");
    int is_list = strcmp(action, "list") == 0, is_verify = strcmp(action, "verify") == 0,
        is_export = strcmp(action, "export") == 0;
    if (!is_list && !is_verify && !is_export) {
        char msg[128];
        snprintf(msg, sizeof msg, "unknown action '%.60s' (list, verify, export)", action);
        return af_cli_usage_error(usage, "ckpt", msg);
    }
    if (!run_dir) return af_cli_usage_error(usage, "ckpt", "--run-dir is required");
    if (is_export && !out) return af_cli_usage_error(usage, "ckpt", "export needs --out DIR");

    AfCkptOptions o = af_ckpt_options_default();
    o.read_only = 1;
    AfCkptStore *st = NULL;
    if (af_ckpt_open(run_dir, &o, &st)) {
        fprintf(stderr, "agentflow ckpt %s: %s\n", action, af_error_detail());
        return 1;
    }
    int code;
    /* a damaged store was salvaged into a temporary copy: say so, and verify fails */
    const char *damage = af_ckpt_damage(st);
    if (damage) printf("DAMAGED: %s\n", damage);
    if (is_list) code = cmd_list(st);
    else if (is_verify) code = cmd_verify(st, have_step, step) || damage ? 1 : 0;
    else {
        uint64_t s = step;
        char planner[4200];
        snprintf(planner, sizeof planner, "%s/planner", run_dir);
        if (!source && af_text_dir_has_tokenizer(planner)) source = planner; /* a planner in text's copy (run/train.h) */
        eo.source_dir = source; /* NULL: the checkpoint's model.init_from */
        int rc = af_ckpt_export_hf(st, &s, out, &eo);
        if (rc) fprintf(stderr, "agentflow ckpt export: %s\n", af_error_detail());
        else printf("exported checkpoint step %" PRIu64 " to %s\n", s, out);
        code = rc == 0 ? 0 : rc == AF_EFORMAT || rc == AF_ECONFIG ? 2 : 1;
    }
    af_ckpt_close(st);
    return code;
}
