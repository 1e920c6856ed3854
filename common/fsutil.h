/* Small filesystem helpers shared by the commands and the stores. */
#ifndef AF_COMMON_FSUTIL_H
#define AF_COMMON_FSUTIL_H

#include <stddef.h>

/* Create a directory and its parents (mode 0755); existing directories are fine.
 * Returns 0, or AF_EIO naming the component that failed. */
int af_mkdir_p(const char *path);

/* Read a whole file into a NUL-terminated malloc'd buffer (*len excludes the NUL).
 * Files larger than max_bytes are refused with AF_ERANGE. AF_ENOTFOUND if missing,
 * AF_EIO on other errors. */
int af_read_file(const char *path, size_t max_bytes, char **out, size_t *len);

/* Write a file atomically and durably: temp file in the same directory, fsync, rename,
 * fsync of the directory. Returns 0 or AF_EIO / AF_EFULL. */
int af_write_file_atomic(const char *path, const void *data, size_t bytes);

/* Copy the file src to dst (af_write_file_atomic; at most 1 GiB). Returns 0, AF_ENOTFOUND
 * (no src), AF_ERANGE, AF_EIO / AF_EFULL naming the path. */
int af_copy_file(const char *src, const char *dst);

/* Append one line (`len` bytes, no newline; the newline is added) to the open file `fd`
 * in ONE write(2) call, so that concurrent readers and a crash see either the whole line
 * or none of it. A short or failed write is undone: the file is truncated back to its
 * previous length (and the offset restored), so no torn line stays. `path` names the file
 * in messages. Returns 0; AF_EFULL (no space left on the device, quota, or the file size
 * limit: the detail names the path and the errno); AF_EIO (other errors, named). */
int af_append_line(int fd, const char *path, const char *line, size_t len);

#endif
