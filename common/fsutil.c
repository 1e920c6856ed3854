/* Small filesystem helpers. */
#include "common/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/error.h"

int af_mkdir_p(const char *path) {
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return af_error_set(AF_EINVAL, "mkdir: bad path '%s'", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return af_error_set(AF_EIO, "mkdir %s: %s", buf, strerror(errno));
        struct stat st;
        if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
            return af_error_set(AF_EIO, "mkdir %s: exists and is not a directory", buf);
        buf[i] = c;
    }
    return 0;
}

int af_read_file(const char *path, size_t max_bytes, char **out, size_t *len) {
    *out = NULL;
    if (len) *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return af_error_set(e == ENOENT ? AF_ENOTFOUND : AF_EIO, "%s: %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return af_error_set(AF_EIO, "%s: not a regular file", path);
    }
    if ((size_t)st.st_size > max_bytes) {
        close(fd);
        return af_error_set(AF_ERANGE, "%s: %lld bytes, more than the %zu allowed", path, (long long)st.st_size, max_bytes);
    }
    size_t size = (size_t)st.st_size, got = 0;
    char *buf = malloc(size + 1);
    if (!buf) {
        close(fd);
        return af_error_set(AF_ENOMEM, "%s: cannot allocate %zu bytes", path, size + 1);
    }
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    if (got != size) {
        free(buf);
        return af_error_set(AF_EIO, "%s: short read (%zu of %zu bytes)", path, got, size);
    }
    buf[size] = '\0';
    *out = buf;
    if (len) *len = size;
    return 0;
}

int af_write_file_atomic(const char *path, const void *data, size_t bytes) {
    char tmp[4096], dir[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof tmp)
        return af_error_set(AF_EINVAL, "write: path too long: %s", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return af_error_set(AF_EIO, "write %s: %s", tmp, strerror(errno));
    const char *p = data;
    size_t left = bytes;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return af_error_set(e == ENOSPC ? AF_EFULL : AF_EIO, "write %s: %s", path, strerror(e));
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return af_error_set(e == ENOSPC ? AF_EFULL : AF_EIO, "fsync %s: %s", path, strerror(e));
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return af_error_set(AF_EIO, "rename %s: %s", path, strerror(e));
    }
    snprintf(dir, sizeof dir, "%s", path);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

int af_append_line(int fd, const char *path, const char *line, size_t len) {
    /* where the line starts: the end of the file (O_APPEND) or the current offset */
    int append = (fcntl(fd, F_GETFL) & O_APPEND) != 0;
    struct stat st;
    off_t start = append ? (fstat(fd, &st) == 0 ? st.st_size : -1) : lseek(fd, 0, SEEK_CUR);
    if (start < 0) return af_error_set(AF_EIO, "%s: %s", path, strerror(errno));
    struct iovec iov[2] = {{(void *)line, len}, {(void *)"\n", 1}};
    ssize_t n;
    do n = writev(fd, iov, 2);
    while (n < 0 && errno == EINTR);
    if (n == (ssize_t)(len + 1)) return 0;
    int e = n < 0 ? errno : 0;
    /* a short write: the rest either goes too (a whole line after all) or fails with
     * the reason (ENOSPC, EFBIG at a size limit) */
    size_t done = n > 0 ? (size_t)n : 0;
    while (n >= 0 && done < len + 1) {
        n = done < len ? write(fd, line + done, len - done) : write(fd, "\n", 1);
        if (n > 0) done += (size_t)n;
        else if (n == 0) e = ENOSPC, n = -1;
        else if (errno == EINTR) n = 0;
        else e = errno;
    }
    if (done == len + 1) return 0;
    if (done > 0 && (ftruncate(fd, start) != 0 || (!append && lseek(fd, start, SEEK_SET) < 0)))
        return af_error_set(AF_EIO, "%s: a partial line of %zu bytes could not be removed: %s", path, done,
                            strerror(errno));
    if (e == ENOSPC || e == EDQUOT || e == EFBIG)
        return af_error_set(AF_EFULL, "%s: cannot append a line (%zu bytes): %s", path, len + 1,
                            e == EFBIG ? "file size limit reached" : strerror(e));
    return af_error_set(AF_EIO, "%s: cannot append a line: %s", path, strerror(e));
}

int af_copy_file(const char *src, const char *dst) {
    char *buf = NULL;
    size_t n = 0;
    int rc = af_read_file(src, (size_t)1 << 30, &buf, &n);
    if (rc) return rc;
    rc = af_write_file_atomic(dst, buf, n);
    free(buf);
    return rc;
}
