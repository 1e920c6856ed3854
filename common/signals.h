/* Preemption signals. SLURM warns a job before killing it with SIGTERM (or SIGUSR1 via
 * --signal); the trainer installs these handlers, checks af_signals_pending() between
 * steps, writes a checkpoint and exits 0. The handler only sets a flag. */
#ifndef AF_COMMON_SIGNALS_H
#define AF_COMMON_SIGNALS_H

/* Install handlers for SIGTERM, SIGUSR1 and SIGINT, and ignore SIGXFSZ (a write past
 * RLIMIT_FSIZE then fails with EFBIG, reported like a full disk). Returns 0 or AF_EIO. */
int af_signals_install(void);
/* The number of the first signal received since install (0 if none). */
int af_signals_pending(void);
/* Forget a received signal (tests). */
void af_signals_reset(void);

#endif
