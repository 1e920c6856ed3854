/* Trajectory encode/decode/validate, MPI send/receive, and heap builders (see traj.h). */
#include "common/traj.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/kernels.h"
#include "common/mpi_env.h"
#include "common/text.h"

struct AfTrajDecoder {
    AfTrajLimits lim;
    uint8_t *buf; /* (buf_cap,) receive buffer */
    size_t buf_cap;
    uint8_t *arena; /* (arena_cap,) bump arena for protobuf-c unpacking */
    size_t arena_cap, arena_used;
    int arena_exhausted;
    ProtobufCAllocator alloc;
    AfTrajStats stats;
};

static const char *const reject_names[AF_TRAJ_REJECT_COUNT] = {
    "decode", "size", "iteration", "version", "query", "sample",
    "suite", "token", "logprob", "reward", "enum", "value"};

const char *af_traj_reject_name(AfTrajReject reason) {
    if ((int)reason < 0 || reason >= AF_TRAJ_REJECT_COUNT) return "unknown";
    return reject_names[reason];
}

/* ------------------------------------------------------------------ size bound */

static size_t sat_add(size_t a, size_t b, size_t cap) { return (a > cap - b || b > cap) ? cap : a + b; }
static size_t sat_mul(size_t a, size_t b, size_t cap) {
    size_t r;
    if (__builtin_mul_overflow(a, b, &r) || r > cap) return cap;
    return r;
}

size_t af_traj_max_bytes(const AfTrajLimits *lim) {
    const size_t cap = SIZE_MAX / 16;
    size_t str = sat_add(lim->max_string_bytes, 8, cap); /* tag (<= 2) + length (<= 5) + bytes */
    /* Turn: tokens as unpacked repeated fields, the worst legal encoding (tag + 5-byte
     * varint per id, tag + 4 bytes per float), five strings, two enums (10-byte varints
     * when negative), two doubles. */
    size_t turn = 64;
    turn = sat_add(turn, sat_mul(lim->max_prompt_tokens, 6, cap), cap);
    turn = sat_add(turn, sat_mul(lim->max_action_tokens, 6 + 5, cap), cap);
    turn = sat_add(turn, sat_mul(str, 5, cap), cap);
    turn = sat_add(turn, 8, cap); /* the turn's own tag + length */
    size_t total = 160;           /* every scalar field of Trajectory at its longest */
    total = sat_add(total, sat_mul(str, 5, cap), cap);
    total = sat_add(total, sat_mul(turn, lim->max_turns, cap), cap);
    /* module_calls: 2 per turn + 2, each tag + length + a short name + 3 scalars */
    total = sat_add(total, sat_mul(64, sat_add(sat_mul(lim->max_turns, 2, cap), 2, cap), cap), cap);
    return total;
}

/* ------------------------------------------------------------------ validation */

#define REJECT(why, ...)                                               \
    do {                                                               \
        if (reason) *reason = (why);                                   \
        return af_error_set(AF_ERANGE, "trajectory: " __VA_ARGS__);    \
    } while (0)

static int finite_nonneg(double x) { return isfinite(x) && x >= 0.0; }

static int check_string(const char *s, const char *name, int turn, const AfTrajLimits *lim,
                        AfTrajReject *reason) {
    if (!s) {
        if (reason) *reason = AF_TRAJ_REJECT_DECODE;
        return af_error_set(AF_ERANGE, "trajectory: %s: missing", name);
    }
    size_t n = strnlen(s, (size_t)lim->max_string_bytes + 1);
    if (n > lim->max_string_bytes) {
        if (reason) *reason = AF_TRAJ_REJECT_SIZE;
        if (turn >= 0)
            return af_error_set(AF_ERANGE, "trajectory: turns[%d].%s: longer than max_string_bytes %u",
                                turn, name, lim->max_string_bytes);
        return af_error_set(AF_ERANGE, "trajectory: %s: longer than max_string_bytes %u", name,
                            lim->max_string_bytes);
    }
    return 0;
}

int af_traj_validate(const Agentflow__Trajectory *t, const AfTrajLimits *lim, AfTrajReject *reason) {
    int rc;
    if (!t || !lim) return af_error_set(AF_EINVAL, "af_traj_validate: NULL argument");
    if (t->base.descriptor != &agentflow__trajectory__descriptor)
        REJECT(AF_TRAJ_REJECT_DECODE, "not a Trajectory message");

    /* Sizes first: everything after may index arrays. */
    if (t->n_turns > lim->max_turns)
        REJECT(AF_TRAJ_REJECT_SIZE, "turns: %zu turns > max_turns %u", t->n_turns, lim->max_turns);
    if (t->n_turns && !t->turns) REJECT(AF_TRAJ_REJECT_DECODE, "turns: missing array");
    if (t->n_module_calls > 2 * (size_t)lim->max_turns + 2)
        REJECT(AF_TRAJ_REJECT_SIZE, "module_calls: %zu > 2 per turn + 2", t->n_module_calls);
    if (t->n_module_calls && !t->module_calls) REJECT(AF_TRAJ_REJECT_DECODE, "module_calls: missing array");
    for (size_t i = 0; i < t->n_module_calls; i++)
        if (!t->module_calls[i] || t->module_calls[i]->base.descriptor != &agentflow__module_call__descriptor ||
            !t->module_calls[i]->module || strlen(t->module_calls[i]->module) > 16)
            REJECT(AF_TRAJ_REJECT_DECODE, "module_calls[%zu]: not a ModuleCall with a module name", i);
    const char *tstr[5] = {t->suite, t->query, t->answer, t->gold, t->status_detail};
    static const char *const tname[5] = {"suite", "query", "answer", "gold", "status_detail"};
    for (int k = 0; k < 5; k++)
        if ((rc = check_string(tstr[k], tname[k], -1, lim, reason))) return rc;
    for (size_t i = 0; i < t->n_turns; i++) {
        const Agentflow__Turn *u = t->turns[i];
        if (!u || u->base.descriptor != &agentflow__turn__descriptor)
            REJECT(AF_TRAJ_REJECT_DECODE, "turns[%zu]: not a Turn message", i);
        if (u->n_prompt_tokens > lim->max_prompt_tokens)
            REJECT(AF_TRAJ_REJECT_SIZE, "turns[%zu].prompt_tokens: %zu tokens > max_prompt_tokens %u", i,
                   u->n_prompt_tokens, lim->max_prompt_tokens);
        if (u->n_action_tokens > lim->max_action_tokens)
            REJECT(AF_TRAJ_REJECT_SIZE, "turns[%zu].action_tokens: %zu tokens > max_action_tokens %u", i,
                   u->n_action_tokens, lim->max_action_tokens);
        if ((u->n_prompt_tokens && !u->prompt_tokens) || (u->n_action_tokens && !u->action_tokens) ||
            (u->n_behaviour_logprobs && !u->behaviour_logprobs))
            REJECT(AF_TRAJ_REJECT_DECODE, "turns[%zu]: missing token array", i);
        if (t->status == AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_OK && u->n_action_tokens == 0)
            REJECT(AF_TRAJ_REJECT_SIZE, "turns[%zu].action_tokens: empty in an OK trajectory", i);
        const char *ustr[5] = {u->action_text, u->sub_goal, u->tool, u->argument, u->result};
        static const char *const uname[5] = {"action_text", "sub_goal", "tool", "argument", "result"};
        for (int k = 0; k < 5; k++)
            if ((rc = check_string(ustr[k], uname[k], (int)i, lim, reason))) return rc;
    }
    if (t->status == AGENTFLOW__TRAJECTORY_STATUS__TRAJECTORY_STATUS_OK && t->n_turns == 0)
        REJECT(AF_TRAJ_REJECT_SIZE, "turns: none in an OK trajectory");

    /* Identity of the work unit. */
    if (t->iteration < lim->iteration_min || t->iteration > lim->iteration_max)
        REJECT(AF_TRAJ_REJECT_ITERATION, "iteration: %u outside accepted [%u, %u]", t->iteration,
               lim->iteration_min, lim->iteration_max);
    if (t->policy_version < lim->version_min || t->policy_version > lim->version_max)
        REJECT(AF_TRAJ_REJECT_VERSION, "policy_version: %llu outside accepted [%llu, %llu]",
               (unsigned long long)t->policy_version, (unsigned long long)lim->version_min,
               (unsigned long long)lim->version_max);
    if (t->query_index >= lim->num_queries)
        REJECT(AF_TRAJ_REJECT_QUERY, "query_index: %u >= num_queries %u", t->query_index, lim->num_queries);
    if (t->sample_index >= lim->group_size)
        REJECT(AF_TRAJ_REJECT_SAMPLE, "sample_index: %u >= group_size %u", t->sample_index, lim->group_size);
    if (lim->suite && strcmp(t->suite, lim->suite) != 0)
        REJECT(AF_TRAJ_REJECT_SUITE, "suite: \"%.40s\" is not the expected \"%s\"", t->suite, lim->suite);

    /* Tokens and behaviour log-probs. */
    for (size_t i = 0; i < t->n_turns; i++) {
        const Agentflow__Turn *u = t->turns[i];
        for (size_t j = 0; j < u->n_prompt_tokens; j++)
            if (u->prompt_tokens[j] >= lim->vocab_size)
                REJECT(AF_TRAJ_REJECT_TOKEN, "turns[%zu].prompt_tokens[%zu]: token id %u >= vocab_size %u", i, j,
                       u->prompt_tokens[j], lim->vocab_size);
        for (size_t j = 0; j < u->n_action_tokens; j++)
            if (u->action_tokens[j] >= lim->vocab_size)
                REJECT(AF_TRAJ_REJECT_TOKEN, "turns[%zu].action_tokens[%zu]: token id %u >= vocab_size %u", i, j,
                       u->action_tokens[j], lim->vocab_size);
        if (u->n_behaviour_logprobs != u->n_action_tokens)
            REJECT(AF_TRAJ_REJECT_LOGPROB, "turns[%zu].behaviour_logprobs: %zu values for %zu action tokens", i,
                   u->n_behaviour_logprobs, u->n_action_tokens);
        size_t bad = 0;
        switch (af_traj_turn_masks_check(u, lim->vocab_size, &bad)) {
        case 1:
            REJECT(AF_TRAJ_REJECT_SIZE, "turns[%zu].action_allow: %zu bytes for %zu action tokens (%zu bytes each)", i,
                   u->action_allow.len, u->n_action_tokens, af_mask_bytes(lim->vocab_size));
        case 2:
            REJECT(AF_TRAJ_REJECT_TOKEN, "turns[%zu].action_tokens[%zu]: token id %u is masked by its action_allow", i,
                   bad, u->action_tokens[bad]);
        }
        for (size_t j = 0; j < u->n_behaviour_logprobs; j++) {
            float lp = u->behaviour_logprobs[j];
            if (!isfinite(lp) || lp > 0.0f)
                REJECT(AF_TRAJ_REJECT_LOGPROB, "turns[%zu].behaviour_logprobs[%zu]: %g is not a finite value <= 0",
                       i, j, (double)lp);
        }
    }

    if (!(t->reward >= 0.0f && t->reward <= 1.0f))
        REJECT(AF_TRAJ_REJECT_REWARD, "reward: %g outside [0, 1]", (double)t->reward);

    if (!protobuf_c_enum_descriptor_get_value(&agentflow__trajectory_status__descriptor, (int)t->status))
        REJECT(AF_TRAJ_REJECT_ENUM, "status: unknown value %d", (int)t->status);
    for (size_t i = 0; i < t->n_turns; i++) {
        const Agentflow__Turn *u = t->turns[i];
        if (!protobuf_c_enum_descriptor_get_value(&agentflow__tool_status__descriptor, (int)u->tool_status))
            REJECT(AF_TRAJ_REJECT_ENUM, "turns[%zu].tool_status: unknown value %d", i, (int)u->tool_status);
        if (!protobuf_c_enum_descriptor_get_value(&agentflow__verifier_decision__descriptor, (int)u->verifier))
            REJECT(AF_TRAJ_REJECT_ENUM, "turns[%zu].verifier: unknown value %d", i, (int)u->verifier);
        /* tries only go forward, and each begins with a turn (so try <= turn) */
        if (u->try_index > i || (i > 0 && u->try_index < t->turns[i - 1]->try_index))
            REJECT(AF_TRAJ_REJECT_VALUE, "turns[%zu].try_index: %u after %u (tries go forward, at most one per turn)", i,
                   u->try_index, i > 0 ? t->turns[i - 1]->try_index : 0u);
    }

    if (!finite_nonneg(t->temperature))
        REJECT(AF_TRAJ_REJECT_VALUE, "temperature: %g is not finite and >= 0", (double)t->temperature);
    const double tt[5] = {t->episode_s, t->planner_s, t->tools_s, t->modules_s, t->actor_cpu_s};
    static const char *const ttn[5] = {"episode_s", "planner_s", "tools_s", "modules_s", "actor_cpu_s"};
    for (int k = 0; k < 5; k++)
        if (!finite_nonneg(tt[k])) REJECT(AF_TRAJ_REJECT_VALUE, "%s: %g is not finite and >= 0", ttn[k], tt[k]);
    for (size_t i = 0; i < t->n_turns; i++) {
        const Agentflow__Turn *u = t->turns[i];
        if (!finite_nonneg(u->planner_s))
            REJECT(AF_TRAJ_REJECT_VALUE, "turns[%zu].planner_s: %g is not finite and >= 0", i, u->planner_s);
        if (!finite_nonneg(u->tool_s))
            REJECT(AF_TRAJ_REJECT_VALUE, "turns[%zu].tool_s: %g is not finite and >= 0", i, u->tool_s);
    }
    if (t->actor_rank < 0 || (lim->world_size > 0 && t->actor_rank >= lim->world_size))
        REJECT(AF_TRAJ_REJECT_VALUE, "actor_rank: %d outside [0, %d)", (int)t->actor_rank, lim->world_size);
    return 0;
}

/* ------------------------------------------------------------------ encode / send */

size_t af_traj_packed_size(const Agentflow__Trajectory *t) { return agentflow__trajectory__get_packed_size(t); }

int af_traj_encode(const Agentflow__Trajectory *t, void *buf, size_t cap, size_t *len) {
    size_t n = agentflow__trajectory__get_packed_size(t);
    if (n > cap)
        return af_error_set(AF_ERANGE, "trajectory encode: packed size %zu bytes exceeds the buffer's %zu", n, cap);
    size_t w = agentflow__trajectory__pack(t, buf);
    AF_ASSERT(w == n);
    *len = n;
    return 0;
}

int af_traj_send_bytes(const void *bytes, size_t len, int dest, MPI_Comm comm) {
    if (len > (size_t)INT_MAX)
        return af_error_set(AF_EINVAL, "trajectory send: %zu bytes exceed one MPI message", len);
    MPI_Request req;
    int rc = af_mpi_check(MPI_Isend(bytes, (int)len, MPI_BYTE, dest, AF_TRAJ_TAG, comm, &req), "trajectory MPI_Isend");
    return rc ? rc : af_mpi_wait(&req, MPI_STATUS_IGNORE);
}

int af_traj_send(const Agentflow__Trajectory *t, int dest, MPI_Comm comm, void *scratch, size_t scratch_bytes) {
    size_t len = 0;
    int rc = af_traj_encode(t, scratch, scratch_bytes, &len);
    return rc ? rc : af_traj_send_bytes(scratch, len, dest, comm);
}

/* ------------------------------------------------------------------ decoder */

static void *arena_alloc(void *data, size_t size) {
    AfTrajDecoder *d = data;
    size_t off = (d->arena_used + 15u) & ~(size_t)15u;
    if (off > d->arena_cap || size > d->arena_cap - off) {
        d->arena_exhausted = 1;
        return NULL;
    }
    d->arena_used = off + size;
    return d->arena + off;
}

static void arena_free(void *data, void *ptr) {
    (void)data, (void)ptr; /* released all at once before the next decode */
}

int af_traj_decoder_create(const AfTrajLimits *lim, AfTrajDecoder **out) {
    *out = NULL;
    if (!lim || lim->num_queries == 0 || lim->group_size == 0 || lim->vocab_size == 0)
        return af_error_set(AF_EINVAL, "trajectory decoder: num_queries, group_size and vocab_size must be > 0");
    AfTrajDecoder *d = calloc(1, sizeof *d);
    if (!d) return af_error_set(AF_ENOMEM, "trajectory decoder: out of memory");
    d->lim = *lim;
    if (d->lim.max_message_bytes == 0) d->lim.max_message_bytes = af_traj_max_bytes(lim);
    if (d->lim.max_message_bytes > (size_t)INT_MAX) d->lim.max_message_bytes = (size_t)INT_MAX;
    d->buf_cap = d->lim.max_message_bytes;
    /* Unpacked size of a valid message: packed uint32 ids grow at most 4x (1-byte varints),
     * strings ~1x, plus one struct per turn and protobuf-c's scan slabs. 8x + per-turn
     * slack holds every valid message; garbage that needs more is rejected as "size". */
    d->arena_cap = 8 * d->buf_cap + ((size_t)d->lim.max_turns + 1) * 2048 + 65536;
    d->buf = malloc(d->buf_cap ? d->buf_cap : 1);
    d->arena = malloc(d->arena_cap);
    if (!d->buf || !d->arena) {
        size_t want = d->buf_cap + d->arena_cap;
        af_traj_decoder_destroy(d);
        return af_error_set(AF_ENOMEM, "trajectory decoder: cannot allocate %zu bytes", want);
    }
    d->alloc.alloc = arena_alloc;
    d->alloc.free = arena_free;
    d->alloc.allocator_data = d;
    *out = d;
    return 0;
}

void af_traj_decoder_destroy(AfTrajDecoder *d) {
    if (!d) return;
    free(d->buf);
    free(d->arena);
    free(d);
}

void af_traj_decoder_set_window(AfTrajDecoder *d, uint32_t iteration_min, uint32_t iteration_max,
                                uint64_t version_min, uint64_t version_max) {
    d->lim.iteration_min = iteration_min;
    d->lim.iteration_max = iteration_max;
    d->lim.version_min = version_min;
    d->lim.version_max = version_max;
}

const AfTrajLimits *af_traj_decoder_limits(const AfTrajDecoder *d) { return &d->lim; }
const AfTrajStats *af_traj_decoder_stats(const AfTrajDecoder *d) { return &d->stats; }
void af_traj_decoder_reset_stats(AfTrajDecoder *d) { memset(&d->stats, 0, sizeof d->stats); }

static int reject(AfTrajDecoder *d, AfTrajReject why, size_t len, int rc, AfTrajReject *reason) {
    d->stats.rejected++;
    d->stats.by_reason[why]++;
    d->stats.bytes_rejected += len;
    if (reason) *reason = why;
    return rc;
}

int af_traj_decode(AfTrajDecoder *d, const void *bytes, size_t len, Agentflow__Trajectory **out,
                   AfTrajReject *reason) {
    *out = NULL;
    if (len > d->lim.max_message_bytes)
        return reject(d, AF_TRAJ_REJECT_SIZE, len,
                      af_error_set(AF_EFORMAT, "trajectory: message of %zu bytes > max_message_bytes %zu", len,
                                   d->lim.max_message_bytes),
                      reason);
    if (len && !bytes) return af_error_set(AF_EINVAL, "af_traj_decode: NULL bytes");
    d->arena_used = 0;
    d->arena_exhausted = 0;
    Agentflow__Trajectory *t = agentflow__trajectory__unpack(&d->alloc, len, bytes);
    if (!t) {
        if (d->arena_exhausted)
            return reject(d, AF_TRAJ_REJECT_SIZE, len,
                          af_error_set(AF_EFORMAT, "trajectory: %zu bytes unpack to more than %zu bytes", len,
                                       d->arena_cap),
                          reason);
        return reject(d, AF_TRAJ_REJECT_DECODE, len,
                      af_error_set(AF_EFORMAT, "trajectory: %zu bytes do not decode as a Trajectory protobuf", len),
                      reason);
    }
    AfTrajReject why = AF_TRAJ_REJECT_DECODE;
    int rc = af_traj_validate(t, &d->lim, &why);
    if (rc) return reject(d, why, len, rc, reason);
    d->stats.accepted++;
    d->stats.bytes_accepted += len;
    *out = t;
    return 0;
}

int af_traj_recv_probed(AfTrajDecoder *d, MPI_Comm comm, const MPI_Status *probed,
                        Agentflow__Trajectory **out, int *from) {
    *out = NULL;
    int count = 0, rc;
    if ((rc = af_mpi_check(MPI_Get_count(probed, MPI_BYTE, &count), "trajectory MPI_Get_count"))) return rc;
    if (from) *from = probed->MPI_SOURCE;
    if (count < 0) count = 0; /* MPI_UNDEFINED cannot happen with MPI_BYTE */
    if ((size_t)count > d->buf_cap) {
        /* Consume the oversized message truncated (MPI_ERR_TRUNCATE) so it does not stay
         * queued, with errors returned rather than fatal for this one call. */
        MPI_Errhandler old;
        MPI_Comm_get_errhandler(comm, &old);
        MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
        MPI_Status st;
        MPI_Recv(d->buf, (int)d->buf_cap, MPI_BYTE, probed->MPI_SOURCE, AF_TRAJ_TAG, comm, &st);
        MPI_Comm_set_errhandler(comm, old);
        MPI_Errhandler_free(&old);
        return reject(d, AF_TRAJ_REJECT_SIZE, (size_t)count,
                      af_error_set(AF_EFORMAT, "trajectory from rank %d: message of %d bytes > max_message_bytes %zu",
                                   probed->MPI_SOURCE, count, d->buf_cap),
                      NULL);
    }
    rc = af_mpi_check(MPI_Recv(d->buf, count, MPI_BYTE, probed->MPI_SOURCE, AF_TRAJ_TAG, comm, MPI_STATUS_IGNORE),
                      "trajectory MPI_Recv");
    if (rc) return rc;
    rc = af_traj_decode(d, d->buf, (size_t)count, out, NULL);
    if (rc) return af_error_wrap(rc, "from rank %d", probed->MPI_SOURCE);
    return 0;
}

int af_traj_recv(AfTrajDecoder *d, MPI_Comm comm, int source, Agentflow__Trajectory **out, int *from) {
    MPI_Status st;
    *out = NULL;
    int rc = af_mpi_probe(source, AF_TRAJ_TAG, comm, &st);
    return rc ? rc : af_traj_recv_probed(d, comm, &st, out, from);
}

/* ------------------------------------------------------------------ heap builders */

int af_traj_new(Agentflow__Trajectory **out) {
    *out = malloc(sizeof **out);
    if (!*out) return af_error_set(AF_ENOMEM, "trajectory: out of memory");
    agentflow__trajectory__init(*out);
    return 0;
}

void af_traj_free(Agentflow__Trajectory *t) {
    if (t) protobuf_c_message_free_unpacked(&t->base, NULL);
}

int af_traj_set_string(char **field, const char *value) {
    if (!field || !value) return af_error_set(AF_EINVAL, "af_traj_set_string: NULL argument");
    char *copy = strdup(value);
    if (!copy) return af_error_set(AF_ENOMEM, "trajectory: out of memory");
    if (*field && *field != protobuf_c_empty_string) free(*field);
    *field = copy;
    return 0;
}

int af_traj_add_turn(Agentflow__Trajectory *t, Agentflow__Turn **out) {
    Agentflow__Turn *u = malloc(sizeof *u);
    Agentflow__Turn **grown = u ? realloc(t->turns, (t->n_turns + 1) * sizeof *grown) : NULL;
    if (!grown) {
        free(u);
        return af_error_set(AF_ENOMEM, "trajectory: out of memory");
    }
    agentflow__turn__init(u);
    t->turns = grown;
    t->turns[t->n_turns++] = u;
    if (out) *out = u;
    return 0;
}

static int copy_array(void **dst, size_t *n_dst, const void *src, size_t n, size_t elem) {
    void *p = NULL;
    if (n) {
        if (!src) return af_error_set(AF_EINVAL, "trajectory: NULL array with %zu elements", n);
        p = malloc(n * elem);
        if (!p) return af_error_set(AF_ENOMEM, "trajectory: out of memory");
        memcpy(p, src, n * elem);
    }
    free(*dst);
    *dst = p;
    *n_dst = n;
    return 0;
}

int af_traj_turn_masks_check(const Agentflow__Turn *u, uint32_t vocab, size_t *bad) {
    if (!u->action_allow.len) return 0;
    const size_t stride = af_mask_bytes(vocab);
    if (!u->action_allow.data || u->action_allow.len != u->n_action_tokens * stride) return 1;
    for (size_t j = 0; j < u->n_action_tokens; j++)
        if (u->action_tokens[j] >= vocab || !af_mask_has(u->action_allow.data + j * stride, u->action_tokens[j])) {
            *bad = j;
            return 2;
        }
    return 0;
}

int af_traj_turn_set_tokens(Agentflow__Turn *u, const uint32_t *prompt, size_t n_prompt,
                            const uint32_t *action, const float *logprobs, size_t n_action) {
    int rc;
    if ((rc = copy_array((void **)&u->prompt_tokens, &u->n_prompt_tokens, prompt, n_prompt, sizeof *prompt))) return rc;
    if ((rc = copy_array((void **)&u->action_tokens, &u->n_action_tokens, action, n_action, sizeof *action))) return rc;
    return copy_array((void **)&u->behaviour_logprobs, &u->n_behaviour_logprobs, logprobs, n_action, sizeof *logprobs);
}

int af_traj_clone(const Agentflow__Trajectory *src, Agentflow__Trajectory **out) {
    *out = NULL;
    size_t n = agentflow__trajectory__get_packed_size(src);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) return af_error_set(AF_ENOMEM, "trajectory clone: out of memory");
    agentflow__trajectory__pack(src, buf);
    *out = agentflow__trajectory__unpack(NULL, n, buf);
    free(buf);
    if (!*out) return af_error_set(AF_ENOMEM, "trajectory clone: unpack failed (out of memory)");
    return 0;
}

/* Replaces *field by a cleaned copy if it is not UTF-8. */
static int clean_field(char **field) {
    if (!*field || af_utf8_valid(*field, strlen(*field))) return 0;
    char *c = af_utf8_clean_dup(*field);
    if (!c) return af_error_set(AF_ENOMEM, "trajectory: cleaning a string");
    free(*field);
    *field = c;
    return 0;
}

int af_traj_clean_utf8(Agentflow__Trajectory *t) {
    if (!t) return 0;
    char **top[] = {&t->suite, &t->query, &t->answer, &t->gold, &t->status_detail};
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
        if (clean_field(top[i])) return AF_ENOMEM;
    for (size_t k = 0; k < t->n_turns; k++) {
        Agentflow__Turn *u = t->turns[k];
        if (!u) continue;
        char **f[] = {&u->action_text, &u->sub_goal, &u->tool, &u->argument, &u->result};
        for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
            if (clean_field(f[i])) return AF_ENOMEM;
    }
    return 0;
}
