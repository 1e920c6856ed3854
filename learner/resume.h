/* Helpers of a resumed training run (issue 6) that do not depend on the trainer's
 * internals: the configuration check against the checkpoint's, trimming the JSON-lines
 * logs back to the resume point, and handing the loaded state to the other learners.
 *
 * What may change on resume: the keys whose doc in common/config.h ends in "(RESUME)"
 * (`agentflow train --help-config` marks them): the run's length and limits
 * (run.iterations, run.time_limit_s, run.cpu_limit_s), checkpoints, evaluations,
 * model.init_from, log.*, how weights travel and episodes are batched (the same bits),
 * and algo.adv_pass_k_until (the end of a pass@k phase). Every other key (model shape,
 * suite, seed, algorithm, rollout, topology.learners: a different number of learners
 * would sum gradients in another order) must equal the checkpoint's. */
#ifndef AF_LEARNER_RESUME_H
#define AF_LEARNER_RESUME_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"

/* Compare the configuration stored in a checkpoint (its effective config as JSON) with
 * the one of the resuming run. Returns 0; AF_ECONFIG naming the first key that may not
 * change, with both values ("resume: model.d_model is 64, the checkpoint of step 8 was
 * written with 32; ..."), or naming stored_json if it does not parse. */
int af_resume_check_config(const char *stored_json, uint64_t step, const AfConfig *now);

/* Rewrite a JSON-lines log (metrics.jsonl, eval.jsonl) keeping only the lines whose
 * numeric "iteration" is below `limit` (lines of an abandoned timeline go; lines that do
 * not parse go too). Atomic (temp file + rename). A missing file is fine (nothing to
 * keep). *kept (may be NULL) receives the number of lines kept. Returns 0, AF_EIO,
 * AF_EFULL, AF_ENOMEM. */
int af_resume_trim_jsonl(const char *path, uint64_t limit, int *kept);

/* Broadcast n floats from `root` over comm in chunks (the count of one MPI call is an
 * int). Collective. Returns 0 or AF_EMPI. */
int af_resume_bcast_floats(float *buf, size_t n, int root, MPI_Comm comm);

#endif
