/* Trajectories on the wire (actor -> learner, docs/design.md §2 and §6).
 *
 * In memory a trajectory is the protobuf-c struct Agentflow__Trajectory (proto/agentflow.proto).
 * On the wire it is exactly its packed protobuf bytes, one MPI message per trajectory,
 * datatype MPI_BYTE, tag AF_TRAJ_TAG, on the communicator the caller names; the message
 * length is the packed size (the receiver learns it with MPI_Probe + MPI_Get_count).
 *
 * The receiving side never trusts the bytes: af_traj_decode() unpacks them into a
 * preallocated arena (no malloc per message) and checks them against AfTrajLimits; a
 * message that does not decode or does not make sense is rejected with an error that
 * names the field, and counted by reason in the decoder's AfTrajStats. */
#ifndef AF_COMMON_TRAJ_H
#define AF_COMMON_TRAJ_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/agentflow.pb-c.h"

/* MPI tag of trajectory messages. */
#define AF_TRAJ_TAG 4101

/* What a received trajectory must satisfy. Every bound is inclusive of the values it
 * names ("at most"), and strict where it says "<". */
typedef struct AfTrajLimits {
    uint32_t iteration_min, iteration_max; /* accepted iterations (sync mode: both = current) */
    uint64_t version_min, version_max;     /* accepted policy versions (async: [v - k, v]) */
    uint32_t num_queries;       /* query_index < num_queries */
    uint32_t group_size;        /* sample_index < group_size (G) */
    uint32_t vocab_size;        /* every token id < vocab_size */
    uint32_t max_turns;         /* n_turns <= max_turns */
    uint32_t max_prompt_tokens; /* per turn */
    uint32_t max_action_tokens; /* per turn */
    uint32_t max_string_bytes;  /* each string field (strlen) */
    size_t max_message_bytes;   /* packed size; 0 = derive from the bounds above (af_traj_max_bytes) */
    const char *suite;          /* if non-NULL, the suite field must equal it (borrowed, must outlive the decoder) */
    int world_size;             /* if > 0, actor_rank must be in [0, world_size) */
} AfTrajLimits;

/* Why a message was rejected (the first check that failed, in this order). */
typedef enum {
    AF_TRAJ_REJECT_DECODE = 0, /* bytes do not parse as a Trajectory */
    AF_TRAJ_REJECT_SIZE,       /* message, turns, tokens or a string too large; an OK trajectory without turns or with an empty action */
    AF_TRAJ_REJECT_ITERATION,  /* iteration outside [iteration_min, iteration_max] */
    AF_TRAJ_REJECT_VERSION,    /* policy_version outside [version_min, version_max] */
    AF_TRAJ_REJECT_QUERY,      /* query_index >= num_queries */
    AF_TRAJ_REJECT_SAMPLE,     /* sample_index >= group_size */
    AF_TRAJ_REJECT_SUITE,      /* suite differs from the expected one */
    AF_TRAJ_REJECT_TOKEN,      /* a token id >= vocab_size */
    AF_TRAJ_REJECT_LOGPROB,    /* behaviour log-probs: count != action tokens, non-finite, or > 0 */
    AF_TRAJ_REJECT_REWARD,     /* reward NaN or outside [0, 1] */
    AF_TRAJ_REJECT_ENUM,       /* status, tool_status or verifier not a known enum value */
    AF_TRAJ_REJECT_VALUE,      /* timings or temperature non-finite or negative; actor_rank out of range;
                                  turn try_index decreasing or above the turn index */
    AF_TRAJ_REJECT_COUNT
} AfTrajReject;

/* Short stable name of a reason ("decode", "size", "iteration", ...), for metrics keys. */
const char *af_traj_reject_name(AfTrajReject reason);

typedef struct AfTrajStats {
    uint64_t accepted;                        /* messages that passed */
    uint64_t rejected;                        /* messages rejected (sum of by_reason) */
    uint64_t by_reason[AF_TRAJ_REJECT_COUNT]; /* rejections per reason */
    uint64_t bytes_accepted, bytes_rejected;
} AfTrajStats;

/* Upper bound, in bytes, of the packed size of any trajectory within `lim`'s count and
 * length bounds (used when lim->max_message_bytes is 0). Saturates at SIZE_MAX/16. */
size_t af_traj_max_bytes(const AfTrajLimits *lim);

/* Check a decoded (or locally built) trajectory against `lim`. Returns 0 if valid; else
 * AF_ERANGE with the field named in af_error_detail() ("trajectory: turns[1].action_tokens[3]:
 * token id 70000 >= vocab_size 512") and *reason (may be NULL) set. Does not allocate. */
int af_traj_validate(const Agentflow__Trajectory *t, const AfTrajLimits *lim, AfTrajReject *reason);

/* A turn's constrained-decoding masks (Turn.action_allow) against a vocabulary of vocab
 * tokens: 0 if it has none or one mask per action token each allowing its token; 1 if
 * their length is not n_action_tokens * af_mask_bytes(vocab); 2 if action token *bad
 * is masked by its own mask. The wire's check (af_traj_validate) and the learner's. */
int af_traj_turn_masks_check(const Agentflow__Turn *u, uint32_t vocab, size_t *bad);

/* Makes every string field of t (and of its turns) well-formed UTF-8, as protobuf
 * `string` fields and JSON output require: a field that is not is replaced by a copy
 * with U+FFFD for each ill-formed sequence (common/text.h); valid fields are untouched.
 * The strings must come from malloc (af_episode_run's trajectories, and unpacked ones
 * with the default allocator). Returns 0, or AF_ENOMEM (t stays valid, partly cleaned). */
int af_traj_clean_utf8(Agentflow__Trajectory *t);

/* ------------------------------------------------------------------ encoding and sending */

/* Packed size in bytes. */
size_t af_traj_packed_size(const Agentflow__Trajectory *t);
/* Pack `t` into buf (capacity `cap` bytes), the length into *len. Returns 0, or AF_ERANGE
 * if the packed size exceeds cap (buf untouched). Does not allocate. */
int af_traj_encode(const Agentflow__Trajectory *t, void *buf, size_t cap, size_t *len);
/* Pack `t` into `scratch` and send it to `dest` on `comm` with tag AF_TRAJ_TAG. The send
 * is MPI_Isend + a non-spinning wait (af_mpi_wait), i.e. MPI_Send semantics without
 * busy-polling. Returns 0, AF_ERANGE (scratch too small), AF_EINVAL (message > INT_MAX
 * bytes) or AF_EMPI. The caller keeps ownership of everything. */
int af_traj_send(const Agentflow__Trajectory *t, int dest, MPI_Comm comm, void *scratch,
                 size_t scratch_bytes);
/* Send already-packed bytes (the same wire message; used to forward or in tests). */
int af_traj_send_bytes(const void *bytes, size_t len, int dest, MPI_Comm comm);

/* ------------------------------------------------------------------ decoding and receiving */

typedef struct AfTrajDecoder AfTrajDecoder;

/* A decoder owns a receive buffer of max_message_bytes and an unpacking arena sized
 * from the limits, both allocated here, once. Copies *lim (but lim->suite is borrowed).
 * Returns 0, AF_EINVAL (a zero bound among num_queries, group_size, vocab_size) or AF_ENOMEM. */
int af_traj_decoder_create(const AfTrajLimits *lim, AfTrajDecoder **out);
/* Frees everything the decoder owns, including the last decoded trajectory. NULL is a no-op. */
void af_traj_decoder_destroy(AfTrajDecoder *d);
/* Move the accepted iteration and version windows (each iteration); never allocates. */
void af_traj_decoder_set_window(AfTrajDecoder *d, uint32_t iteration_min, uint32_t iteration_max,
                                uint64_t version_min, uint64_t version_max);
const AfTrajLimits *af_traj_decoder_limits(const AfTrajDecoder *d);
const AfTrajStats *af_traj_decoder_stats(const AfTrajDecoder *d);
void af_traj_decoder_reset_stats(AfTrajDecoder *d);

/* Decode `len` bytes and validate. On success returns 0 and *out points to a trajectory
 * that lives in the decoder's arena: read-only, valid until the next decode/receive on
 * this decoder or its destruction (copy it with af_traj_clone to keep it). On rejection
 * returns AF_EFORMAT (did not decode, or too large) or AF_ERANGE (decoded but invalid),
 * with the field named in af_error_detail(), *reason set (may be NULL), the reason
 * counted, and *out = NULL. Never allocates; never crashes on any bytes. */
int af_traj_decode(AfTrajDecoder *d, const void *bytes, size_t len, Agentflow__Trajectory **out,
                   AfTrajReject *reason);

/* Block (without spinning: af_mpi_probe) until a message with tag AF_TRAJ_TAG arrives
 * from `source` (or MPI_ANY_SOURCE) on comm, receive it into the decoder's buffer and
 * decode it as af_traj_decode. *from (may be NULL) gets the sender's rank in comm.
 * Returns 0 (accepted), AF_EFORMAT/AF_ERANGE (the message was consumed, rejected and
 * counted; a message longer than max_message_bytes is consumed truncated and counted
 * as "size"), or AF_EMPI. */
int af_traj_recv(AfTrajDecoder *d, MPI_Comm comm, int source, Agentflow__Trajectory **out, int *from);
/* The same for a message the caller already probed (status from MPI_Probe/Iprobe with
 * tag AF_TRAJ_TAG), for receive loops that also serve other tags. */
int af_traj_recv_probed(AfTrajDecoder *d, MPI_Comm comm, const MPI_Status *probed,
                        Agentflow__Trajectory **out, int *from);

/* ------------------------------------------------------------------ building (actor side) */
/* Heap trajectories whose every field is malloc'd, so af_traj_free (which is
 * protobuf_c_message_free_unpacked(&t->base, NULL)) releases them. Setup-path helpers:
 * they allocate. All return 0 or AF_ENOMEM (AF_EINVAL for bad arguments). */
int af_traj_new(Agentflow__Trajectory **out);
void af_traj_free(Agentflow__Trajectory *t);
/* Replace a string field of a heap trajectory or turn, e.g. af_traj_set_string(&t->query, "4 7 8 8"). */
int af_traj_set_string(char **field, const char *value);
/* Append an empty turn; *out (may be NULL) points to it, owned by t. */
int af_traj_add_turn(Agentflow__Trajectory *t, Agentflow__Turn **out);
/* Copy the token arrays of a turn: n_prompt prompt ids; n_action action ids with one
 * behaviour log-prob each (logprobs may be NULL only if n_action is 0). */
int af_traj_turn_set_tokens(Agentflow__Turn *u, const uint32_t *prompt, size_t n_prompt,
                            const uint32_t *action, const float *logprobs, size_t n_action);
/* Deep copy onto the heap (pack + unpack); free with af_traj_free. */
int af_traj_clone(const Agentflow__Trajectory *src, Agentflow__Trajectory **out);

#endif
