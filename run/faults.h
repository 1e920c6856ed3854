/* Injected faults and stragglers of a training run, for tests and scaling studies.
 *
 * From the environment (tests only, never set in production):
 *   AF_FAULT_FAIL_ROLLOUTS=1   every training episode ends INFRA_FAILED;
 *   AF_FAULT_GARBAGE=R:N       actor rank R sends N malformed or invalid trajectory
 *                              messages to the owning learner before each real one
 *                              (same tag, so the learner must reject them in order);
 *   AF_FAULT_SIGNAL=PHASE:IT   rank 0 raises SIGTERM to itself in iteration IT, at PHASE
 *                              "rollout" (before the trajectories are collected) or
 *                              "learn" (before the Flow-GRPO step): a preemption warning
 *                              that lands at a known point.
 * From the configuration: rollout.slow_fraction / rollout.slow_factor (stragglers). */
#ifndef AF_RUN_FAULTS_H
#define AF_RUN_FAULTS_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/traj.h"

/* AF_FAULT_FAIL_ROLLOUTS is set. */
int af_fault_fail_rollouts(void);

/* AF_FAULT_GARBAGE's message count for this world rank (0: none). */
int af_fault_garbage_count(int rank);

/* AF_FAULT_SIGNAL: raises SIGTERM when rank is 0 and (phase, iteration) match. */
void af_fault_signal(int rank, const char *phase, uint32_t iteration);

/* Sends n garbage messages derived from the real trajectory t (not modified) to world rank
 * dest, each checked to be rejected by a decoder with limits lim: random bytes, copies
 * with a wrong iteration, with bytes flipped, truncated. Draws from the AF_RNG_FAULT
 * stream of (seed, t's iteration, query, sample). Returns 0 or the first error. */
int af_fault_send_garbage(const AfTrajLimits *lim, uint64_t seed, const Agentflow__Trajectory *t, int dest, int n);

/* rollout.slow_fraction: after an episode of episode_s seconds, sleeps (slow_factor - 1)
 * times that when the AF_RNG_FAULT stream of (seed, iteration, query, sample) picks it. */
void af_fault_straggle(const AfConfig *c, uint32_t iteration, uint32_t query, uint32_t sample, double episode_s);

#endif
