/* agentflow train: configuration, MPI start-up, run directory; then the training loop. */
#include <getopt.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/error.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/mpi_env.h"
#include "launch/cli.h"
#include "launch/commands.h"
#include "run/train.h"

static const char usage[] =
    "usage: agentflow train [--config FILE] [--set section.key=value ...] [--run-dir DIR]\n"
    "                       [--resume[=latest|latest-valid]] [--init-from MODEL_DIR]\n"
    "  --config FILE        JSON configuration (every key has a default)\n"
    "  --set k=v            override one key, e.g. --set rollout.group_size=8 (repeatable)\n"
    "  --run-dir DIR        where config.json, metrics.jsonl and ckpt.lmdb go (default runs/<suite>)\n"
    "  --resume[=MODE]      continue from the latest checkpoint of DIR (latest-valid: the newest\n"
    "                       that verifies). Without --config the base configuration is\n"
    "                       DIR/config.json; only keys marked RESUME may differ from the checkpoint's\n"
    "  --init-from DIR      start from a Hugging Face-style model directory\n"
    "  --help-config        list every configuration key with its default\n"
    "Run under mpirun for several ranks: ranks 0..L-1 learn (topology.learners), the rest act.\n";

int af_cmd_train(int argc, char **argv) {
    static const struct option opts[] = {
        {"config", required_argument, 0, 'c'}, {"set", required_argument, 0, 's'},
        {"run-dir", required_argument, 0, 'r'}, {"resume", optional_argument, 0, 'R'},
        {"init-from", required_argument, 0, 'i'}, {"help-config", no_argument, 0, 'K'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    AfCliConfigArgs ca = {0};
    const char *run_dir = NULL, *resume = NULL, *init_from = NULL;
    int c, rc;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+c:s:r:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': ca.config_path = optarg; break;
        case 's':
            if ((rc = af_cli_add_set(&ca, optarg))) return rc;
            break;
        case 'r': run_dir = optarg; break;
        case 'R': resume = optarg ? optarg : "latest"; break;
        case 'i': init_from = optarg; break;
        case 'K': af_cli_print_config_keys(); return 0;
        case 'h': fputs(usage, stdout); return 0;
        default: {
            char msg[128];
            snprintf(msg, sizeof msg, "unknown or incomplete option '%.80s'", argv[optind - 1]);
            return af_cli_usage_error(usage, "train", msg);
        }
        }
    }
    if (optind < argc) {
        char msg[128];
        snprintf(msg, sizeof msg, "unexpected argument '%.80s'", argv[optind]);
        return af_cli_usage_error(usage, "train", msg);
    }
    if (resume && strcmp(resume, "latest") != 0 && strcmp(resume, "latest-valid") != 0)
        return af_cli_usage_error(usage, "train", "--resume takes 'latest' or 'latest-valid'");

    /* resuming without --config: start from the run's own configuration */
    char run_config[4200];
    struct stat st;
    if (resume && !ca.config_path && run_dir) {
        snprintf(run_config, sizeof run_config, "%s/config.json", run_dir);
        if (stat(run_config, &st) == 0) ca.config_path = run_config;
    }
    AfConfig cfg;
    if ((rc = af_cli_build_config(&ca, &cfg))) return rc;
    if (init_from) {
        if (strlen(init_from) >= sizeof cfg.model.init_from)
            return af_cli_usage_error(usage, "train", "--init-from path too long");
        strcpy(cfg.model.init_from, init_from);
    }
    char default_dir[64];
    snprintf(default_dir, sizeof default_dir, "runs/%s", af_config_choice_name("suite.name", cfg.suite.name));
    if (!run_dir) run_dir = default_dir;

    AfMpi mpi;
    if (af_mpi_init(&argc, &argv, &mpi)) {
        fprintf(stderr, "agentflow train: %s\n", af_error_detail());
        return 1;
    }
    af_log_setup(mpi.rank, (AfLogLevel)cfg.log.level, (AfProgressMode)cfg.log.progress);
    int exit_code = 1;
    if (cfg.topology.learners > mpi.size) {
        if (mpi.rank == 0)
            AF_LOG_E("config: topology.learners (%lld) exceeds the %d MPI ranks of this run",
                     (long long)cfg.topology.learners, mpi.size);
        exit_code = 2;
        goto done;
    }
    int ok = 1;
    if (cfg.topology.learners >= mpi.size && mpi.size > 1) {
        if (mpi.rank == 0)
            AF_LOG_E("config: topology.learners (%lld) must be smaller than the %d MPI ranks of this run "
                     "(at least one actor), or run a single rank",
                     (long long)cfg.topology.learners, mpi.size);
        exit_code = 2;
        goto done;
    }
    if (mpi.rank == 0) {
        char *json = af_config_to_json(&cfg, 1);
        AF_LOG_I("agentflow %s, %d rank(s), run dir %s, effective config:\n%s", AF_VERSION, mpi.size,
                 run_dir, json ? json : "(out of memory)");
        free(json);
        char path[4200];
        snprintf(path, sizeof path, "%s/config.json", run_dir);
        /* resuming, the trainer rewrites config.json once the checkpoint accepted it */
        if (af_mkdir_p(run_dir) || (!resume && af_config_save(&cfg, path))) {
            AF_LOG_E("%s", af_error_detail());
            ok = 0;
        }
    }
    if (mpi.size > 1 && af_mpi_bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD)) ok = 0;
    if (!ok) goto done;
    AfResumeMode mode = !resume                          ? AF_RESUME_NONE
                        : strcmp(resume, "latest-valid") == 0 ? AF_RESUME_LATEST_VALID
                                                              : AF_RESUME_LATEST;
    AfTrainResult res;
    int trc = af_train_run_resume(&cfg, run_dir, &mpi, mode, &res);
    if (trc) {
        AF_LOG_E("training failed: %s", af_error_detail());
        if (trc == AF_ECONFIG) exit_code = 2; /* bad configuration or dataset */
        /* peers may be blocked waiting for this rank, unless the failure was agreed */
        if (mpi.size > 1 && !res.clean_stop) MPI_Abort(MPI_COMM_WORLD, trc == AF_ECONFIG ? 2 : 1);
        goto done;
    }
    if (mpi.rank == 0) {
        if (res.eval_before >= 0)
            AF_LOG_I("held-out greedy accuracy: %.4f before training, %.4f after %d iterations", res.eval_before,
                     res.eval_after, res.iterations_done);
        AF_LOG_I("done: %d iterations from iteration %d%s; metrics in %s/metrics.jsonl", res.iterations_done,
                 res.start_iteration,
                 res.stopped_by_signal ? " (stopped by a signal, checkpoint written)"
                 : res.stopped_by_time ? " (run.time_limit_s reached, checkpoint written)"
                                       : "",
                 run_dir);
    }
    exit_code = 0;
done:
    af_mpi_finalize(&mpi);
    return exit_code;
}
