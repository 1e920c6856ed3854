/* Run directories (issue 20): one run at a time per directory, and a directory that
 * holds a run is never overwritten by accident.
 *
 * The lock is an fcntl(2) write lock on RUN_DIR/.lock (an open-file-description lock,
 * F_OFD_SETLK, where the kernel has it; a process-associated F_SETLK otherwise), taken by
 * the rank that owns the run directory (rank 0) for the whole run. The kernel releases it
 * when the process exits, however it exits (kill -9 included), so a lock is never stale;
 * the file itself stays and holds "pid P host H since T" of the last holder, which a
 * refused run quotes. On NFS, fcntl locks go through the NFS lock manager (NLM for v3,
 * in-protocol for v4): they work across nodes when the server and the clients run it;
 * where they do not (ENOLCK, e.g. a `nolock` mount), af_rundir_lock succeeds with
 * *unlocked set and the caller warns. Lustre and GPFS support fcntl locks when mounted
 * with flock (Lustre: -o flock) and not otherwise (ENOSYS / ENOLCK: the same warning). */
#ifndef AF_COMMON_RUNDIR_H
#define AF_COMMON_RUNDIR_H

#include <stddef.h>

typedef struct AfRunLock AfRunLock;

/* Create run_dir (and parents) if needed and lock RUN_DIR/.lock, recording this
 * process's pid, host and start time in it. *unlocked is set to 1 (and 0 returned) when
 * the filesystem has no working locks. Returns 0; AF_ESTATE (another process holds it:
 * the detail names its pid, host and start time, and the path of the lock);
 * AF_EIO (cannot create the directory or the lock file); AF_ENOMEM. The caller owns *out
 * and releases it with af_rundir_unlock. */
int af_rundir_lock(const char *run_dir, AfRunLock **out, int *unlocked);

/* Release the lock (NULL is fine). The .lock file stays. */
void af_rundir_unlock(AfRunLock *l);

/* Does run_dir hold a run? 1 if it has config.json, metrics.jsonl, eval.jsonl or
 * ckpt.lmdb (the first found is copied to `what`, cap bytes), 0 if not (or it does not
 * exist). */
int af_rundir_has_run(const char *run_dir, char *what, size_t cap);

/* Move every entry of run_dir except .lock into a new sibling directory
 * RUN_DIR.old-<UTC time>[-N] (its path is copied to `aside`, cap bytes). Nothing is
 * deleted. Call with the lock held. Returns 0 or AF_EIO naming the entry. */
int af_rundir_move_aside(const char *run_dir, char *aside, size_t cap);

/* The kind of network or cluster filesystem `path` lives on ("NFS", "Lustre", "GPFS",
 * "CIFS/SMB", "CephFS", "BeeGFS", "AFS", "9P", "FUSE", "PanFS", "OrangeFS"), or NULL for
 * a local one (or if statfs fails). LMDB, the checkpoint store, needs a local filesystem:
 * its lock file is shared memory and its data file a coherent memory map, which such
 * filesystems do not give across hosts (and NFS does not honour its fsync ordering). */
const char *af_rundir_network_fs(const char *path);

/* Exit status of `agentflow train` when a signal (SIGTERM, SIGUSR1, SIGINT; SLURM's
 * preemption or time-limit warning) stopped it before its last iteration, after writing
 * a checkpoint: "preempted, resume me" (EX_TEMPFAIL of sysexits.h). Not 0, so that
 * SLURM's afterok dependencies do not start on a run that has not finished. */
#define AF_EXIT_PREEMPTED 75

#endif
