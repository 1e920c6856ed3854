/* TensorBoard event files, written natively: TFRecord framing with masked CRC32C around
 * serialized Event messages (proto/tensorboard.proto, whose header comment specifies the
 * framing). Scalars are Summary values with simple_value; text is a string tensor with
 * the "text" plugin's metadata, which TensorBoard's Text tab shows (markdown).
 *
 * One writer owns one file; it is not thread-safe. Nothing here knows MPI: the caller
 * decides which rank writes (learner 0 in a training run, docs/design.md §9). */
#ifndef AF_COMMON_TFEVENTS_H
#define AF_COMMON_TFEVENTS_H

#include <stddef.h>
#include <stdint.h>

typedef struct AfTfEvents AfTfEvents;

/* CRC32C (Castagnoli, reflected polynomial 0x82F63B78) of n bytes;
 * af_crc32c("123456789", 9) == 0xE3069283. */
uint32_t af_crc32c(const void *data, size_t n);
/* TFRecord's masked form: ((crc >> 15) | (crc << 17)) + 0xa282ead8. */
uint32_t af_crc32c_mask(uint32_t crc);

/* Seconds since the epoch (CLOCK_REALTIME), the Event's wall_time. */
double af_wall_time(void);

/* Creates `dir` (and parents) and a new file dir/events.out.tfevents.<unix seconds>.<host>
 * (".<n>" appended if that name exists: a resume within the same second), and writes
 * the file_version record "brain.Event:2". Returns 0, AF_EIO (AF_EFULL when the disk is
 * full) or AF_ENOMEM. */
int af_tfevents_open(const char *dir, AfTfEvents **out);
void af_tfevents_close(AfTfEvents *w); /* flushes; accepts NULL */

/* The file's path (owned by the writer). */
const char *af_tfevents_path(const AfTfEvents *w);

/* One Event at (step, wall_time) holding n scalar values tags[i] = values[i] (stored as
 * float, as TensorBoard's simple_value is). Non-finite values are left out. Returns 0,
 * AF_ENOMEM or AF_EIO / AF_EFULL. */
int af_tfevents_scalars(AfTfEvents *w, int64_t step, double wall_time, const char *const *tags, const double *values,
                        int n);

/* One Event at (step, wall_time) holding `text` under `tag` for the text plugin: a
 * DT_STRING tensor of shape [] with string_val = text and plugin_data.plugin_name
 * "text". Errors as af_tfevents_scalars. */
int af_tfevents_text(AfTfEvents *w, int64_t step, double wall_time, const char *tag, const char *text);

/* Hands what was written to the kernel (fflush). Returns 0, AF_EIO or AF_EFULL. */
int af_tfevents_flush(AfTfEvents *w);

#endif
