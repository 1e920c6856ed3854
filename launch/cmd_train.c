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
#include "common/rundir.h"
#include "launch/cli.h"
#include "launch/commands.h"
#include "run/train.h"

static const char usage[] =
    "usage: agentflow train [--config FILE] [--set section.key=value ...] [--run-dir DIR]\n"
    "                       [--resume[=latest|latest-valid] | --overwrite] [--init-from MODEL_DIR]\n"
    "  --config FILE        JSON configuration (every key has a default)\n"
    "  --set k=v            override one key, e.g. --set rollout.group_size=8 (repeatable)\n"
    "  --run-dir DIR        where config.json, metrics.jsonl and ckpt.lmdb go (default runs/<suite>)\n"
    "  --resume[=MODE]      continue from the latest checkpoint of DIR (latest-valid: the newest\n"
    "                       that verifies). Without --config the base configuration is\n"
    "                       DIR/config.json; only keys marked RESUME may differ from the checkpoint's\n"
    "  --overwrite          DIR holds a run: move it aside to DIR.old-<time> and start a new one\n"
    "                       (without --resume or --overwrite, a DIR holding a run is refused)\n"
    "  --init-from DIR      start from a Hugging Face-style model directory\n"
    "  --help-config        list every configuration key with its default\n"
    "Run under mpirun for several ranks: ranks 0..L-1 learn (topology.learners), the rest act.\n";

/* Rank 0: lock the run directory for the run, refuse one that holds a run unless told to
 * resume or overwrite it (moved aside, never deleted). Returns 0, 1
 * (error) or 2 (refused: the message names the flags). */
static int claim_run_dir(const AfConfig *cfg, const char *run_dir, int resume, int overwrite, AfRunLock **lock) {
    int unlocked = 0;
    char what[64], aside[4300];
    if (af_rundir_lock(run_dir, lock, &unlocked)) {
        AF_LOG_E("%s", af_error_detail());
        return 1;
    }
    /* the checkpoint store lives in run.checkpoint_dir when set, else in the run directory */
    const char *store_dir = cfg->run.checkpoint_dir[0] ? cfg->run.checkpoint_dir : run_dir;
    if (store_dir != run_dir && af_mkdir_p(store_dir)) {
        AF_LOG_E("run.checkpoint_dir: %s", af_error_detail());
        return 1;
    }
    const char *netfs = af_rundir_network_fs(store_dir);
    if (netfs)
        AF_LOG_W("checkpoint store directory %s is on %s: the checkpoint store (LMDB) needs a local filesystem (its lock and "
                 "memory map are not coherent across hosts, and a damaged store is only detected, not avoided); "
                 "set run.checkpoint_dir to a node-local directory (copied to the run directory after each "
                 "checkpoint), see docs/checkpoints.md", store_dir, netfs);
    if (unlocked)
        AF_LOG_W("run directory %s: its filesystem has no working file locks, nothing stops a second run "
                 "from using it at the same time", run_dir);
    if (!resume && af_rundir_has_run(run_dir, what, sizeof what)) {
        if (!overwrite) {
            AF_LOG_E("run directory %s already holds a run (%s): pass --resume to continue it, or --overwrite "
                     "to move it aside and start over", run_dir, what);
            return 2;
        }
        if (af_rundir_move_aside(run_dir, aside, sizeof aside)) {
            AF_LOG_E("--overwrite: %s", af_error_detail());
            return 1;
        }
        AF_LOG_W("--overwrite: the previous run in %s was moved to %s", run_dir, aside);
    }
    /* config.json: written by the trainer once the configuration is accepted (run/train.c) */
    return 0;
}

/* Under SLURM, a world smaller than the job step's task count means srun started each
 * task as its own MPI singleton (no PMI/PMIx plugin): N independent runs on one run
 * directory. Checked only for direct launch (srun): under mpirun, OMPI_COMM_WORLD_SIZE is
 * set and mpirun's world is the truth (its daemons are an srun step of their own).
 * AF_SLURM_CHECK=0 turns it off. Returns 0, or 2 with the message logged. */
static int check_slurm_world(int world, int rank) {
    const char *off = getenv("AF_SLURM_CHECK");
    if ((off && strcmp(off, "0") == 0) || getenv("OMPI_COMM_WORLD_SIZE")) return 0;
    static const char *const vars[] = {"SLURM_STEP_NUM_TASKS", "SLURM_NTASKS", "SLURM_NPROCS"};
    for (int i = 0; i < 3; i++) {
        const char *v = getenv(vars[i]);
        if (!v || !*v) continue;
        char *end = NULL;
        long n = strtol(v, &end, 10);
        if (*end || n < 1 || n == world) return 0;
        if (rank == 0)
            AF_LOG_E("%s=%ld, but the MPI world has %d rank(s): srun started the tasks without joining them into "
                     "one MPI job (use srun --mpi=pmix, or the MPI plugin your cluster has; AF_SLURM_CHECK=0 "
                     "skips this check)", vars[i], n, world);
        return 2;
    }
    return 0;
}

int af_cmd_train(int argc, char **argv) {
    static const struct option opts[] = {
        {"config", required_argument, 0, 'c'}, {"set", required_argument, 0, 's'},
        {"run-dir", required_argument, 0, 'r'}, {"resume", optional_argument, 0, 'R'},
        {"init-from", required_argument, 0, 'i'}, {"help-config", no_argument, 0, 'K'},
        {"overwrite", no_argument, 0, 'O'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    AfCliConfigArgs ca = {0};
    const char *run_dir = NULL, *resume = NULL, *init_from = NULL;
    int c, rc, overwrite = 0;
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
        case 'O': overwrite = 1; break;
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
    if (resume && overwrite)
        return af_cli_usage_error(usage, "train", "--resume continues the run, --overwrite replaces it: pick one");

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
    if (af_config_absolute_paths(&cfg)) {
        fprintf(stderr, "agentflow train: %s\n", af_error_detail());
        return 2;
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
    AfRunLock *lock = NULL;
    if ((exit_code = check_slurm_world(mpi.size, mpi.rank))) goto done;
    exit_code = 1;
    if (cfg.topology.learners > mpi.size) {
        if (mpi.rank == 0)
            AF_LOG_E("config: topology.learners (%lld) exceeds the %d MPI ranks of this run",
                     (long long)cfg.topology.learners, mpi.size);
        exit_code = 2;
        goto done;
    }
    int status = 0; /* rank 0's verdict on the run directory: 0, 1 (error) or 2 (refused) */
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
        status = claim_run_dir(&cfg, run_dir, resume != NULL, overwrite, &lock);
    }
    if (mpi.size > 1 && af_mpi_bcast(&status, 1, MPI_INT, 0, MPI_COMM_WORLD)) status = 1;
    if (status) {
        exit_code = status;
        goto done;
    }
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
        const int end = res.start_iteration + res.iterations_done;
        char before[64] = "", when[96] = "";
        if (res.eval_before >= 0) snprintf(before, sizeof before, "%.4f before training, ", res.eval_before);
        if (res.eval_after_iteration >= 0 && res.eval_after_iteration != end) /* a signal: no final evaluation */
            snprintf(when, sizeof when, " (the last evaluation; the run stopped after iteration %d)", end);
        if (res.eval_after_iteration >= 0) /* set with eval_after */
            AF_LOG_I("held-out greedy accuracy: %s%.4f after iteration %d%s", before, res.eval_after,
                     res.eval_after_iteration, when);
        AF_LOG_I("done: %d iterations from iteration %d%s; metrics in %s/metrics.jsonl", res.iterations_done,
                 res.start_iteration,
                 res.stopped_by_signal ? " (stopped by a signal, checkpoint written)"
                 : res.stopped_by_time ? " (run.time_limit_s reached, checkpoint written)"
                 : res.stopped_by_cpu  ? " (run.cpu_limit_s reached, checkpoint written)"
                                       : "",
                 run_dir);
    }
    /* stopped by a signal before the last iteration: "preempted, resume me" */
    exit_code = res.stopped_by_signal && res.start_iteration + res.iterations_done < (int)cfg.run.iterations
                    ? AF_EXIT_PREEMPTED
                    : 0;
done:
    af_rundir_unlock(lock);
    af_mpi_finalize(&mpi);
    return exit_code;
}
