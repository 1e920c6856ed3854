/* `agentflow rollout --run-dir R --show ITERATION:QUERY:SAMPLE`: print one stored
 * trajectory of a run (run.store_trajectories, learner/trajstore.h). */
#ifndef AF_LAUNCH_ROLLOUT_SHOW_H
#define AF_LAUNCH_ROLLOUT_SHOW_H

#include <stdio.h>

/* Look the trajectory up in RUN_DIR's trajectory store and print it to `out`: header
 * (iteration, query, sample, policy version, suite, status), the question, each turn's
 * action, tool call, result and verifier decision, then the answer, the gold answer and
 * the reward. Returns the exit code: 0, 1 (not found, unreadable: message on stderr),
 * 2 (spec not ITERATION:QUERY:SAMPLE). */
int af_rollout_show(const char *run_dir, const char *spec, FILE *out);

#endif
