/* Run directories: the RUN_DIR/.lock fcntl lock, "does it hold a run", move aside
 * (common/rundir.h). */
#include "common/rundir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fsutil.h"

struct AfRunLock {
    int fd;
};

/* F_OFD_SETLK where the kernel has it (Linux >= 3.15), else a process-associated lock. */
static int set_lock(int fd) {
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
#ifdef F_OFD_SETLK
    if (fcntl(fd, F_OFD_SETLK, &fl) == 0) return 0;
    if (errno != EINVAL) return -1;
#endif
    return fcntl(fd, F_SETLK, &fl);
}

int af_rundir_lock(const char *run_dir, AfRunLock **out, int *unlocked) {
    *out = NULL;
    *unlocked = 0;
    char path[4200];
    int rc = af_mkdir_p(run_dir);
    if (rc) return rc;
    if (snprintf(path, sizeof path, "%s/.lock", run_dir) >= (int)sizeof path)
        return af_error_set(AF_EIO, "run directory path too long: %s", run_dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return af_error_set(AF_EIO, "%s: cannot create the run lock: %s", path, strerror(errno));
    if (set_lock(fd) != 0) {
        int e = errno;
        if (e == EAGAIN || e == EACCES) {
            char holder[256] = "";
            ssize_t n = pread(fd, holder, sizeof holder - 1, 0);
            holder[n > 0 ? n : 0] = 0;
            holder[strcspn(holder, "\n")] = 0;
            close(fd);
            return af_error_set(AF_ESTATE,
                                "run directory %s is in use by another run (%s; lock %s): wait for it to end, "
                                "or use another --run-dir",
                                run_dir, holder[0] ? holder : "holder unknown", path);
        }
        if (e != ENOLCK && e != ENOSYS && e != EOPNOTSUPP) {
            close(fd);
            return af_error_set(AF_EIO, "%s: cannot lock: %s", path, strerror(e));
        }
        *unlocked = 1; /* no locks on this filesystem (e.g. NFS mounted nolock) */
    }
    AfRunLock *l = malloc(sizeof *l);
    if (!l) {
        close(fd);
        return af_error_set(AF_ENOMEM, "run lock: out of memory");
    }
    l->fd = fd;
    char host[256] = "?", when[32] = "?", line[400];
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = 0;
    time_t now = time(NULL);
    struct tm tmv;
    if (gmtime_r(&now, &tmv)) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    int n = snprintf(line, sizeof line, "pid %ld host %s since %s\n", (long)getpid(), host, when);
    /* informational only: a failure to write it does not stop the run */
    if (ftruncate(fd, 0) == 0 && pwrite(fd, line, (size_t)n, 0) != n) (void)0;
    *out = l;
    return 0;
}

void af_rundir_unlock(AfRunLock *l) {
    if (!l) return;
    close(l->fd); /* releases the lock */
    free(l);
}

int af_rundir_has_run(const char *run_dir, char *what, size_t cap) {
    static const char *const marks[] = {"config.json", "metrics.jsonl", "eval.jsonl", "ckpt.lmdb"};
    char path[4200];
    struct stat st;
    for (size_t i = 0; i < sizeof marks / sizeof *marks; i++) {
        snprintf(path, sizeof path, "%s/%s", run_dir, marks[i]);
        if (stat(path, &st) == 0) {
            if (what && cap) snprintf(what, cap, "%s", marks[i]);
            return 1;
        }
    }
    return 0;
}

int af_rundir_move_aside(const char *run_dir, char *aside, size_t cap) {
    char dst[4200], when[32], from[4500], to[4500];
    time_t now = time(NULL);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    strftime(when, sizeof when, "%Y%m%dT%H%M%SZ", &tmv);
    size_t len = strlen(run_dir);
    while (len > 1 && run_dir[len - 1] == '/') len--; /* "runs/x/" -> "runs/x.old-..." */
    snprintf(dst, sizeof dst, "%.*s.old-%s", (int)len, run_dir, when);
    for (int i = 2; mkdir(dst, 0755) != 0; i++) {
        if (errno != EEXIST || i > 999)
            return af_error_set(AF_EIO, "%s: cannot create it to move the old run aside: %s", dst, strerror(errno));
        snprintf(dst, sizeof dst, "%.*s.old-%s-%d", (int)len, run_dir, when, i);
    }
    DIR *d = opendir(run_dir);
    if (!d) return af_error_set(AF_EIO, "%s: %s", run_dir, strerror(errno));
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, ".lock")) continue;
        snprintf(from, sizeof from, "%s/%s", run_dir, e->d_name);
        snprintf(to, sizeof to, "%s/%s", dst, e->d_name);
        if (rename(from, to) != 0) {
            rc = af_error_set(AF_EIO, "moving %s to %s: %s", from, to, strerror(errno));
            break;
        }
    }
    closedir(d);
    if (aside && cap) snprintf(aside, cap, "%s", dst);
    return rc;
}

const char *af_rundir_network_fs(const char *path) {
    static const struct {
        unsigned long magic;
        const char *name;
    } fs[] = {{0x6969, "NFS"},         {0x0BD00BD0, "Lustre"},   {0x47504653, "GPFS"},
              {0xFF534D42, "CIFS/SMB"}, {0xFE534D42, "CIFS/SMB"}, {0x517B, "CIFS/SMB"},
              {0x00C36400, "CephFS"},   {0x19830326, "BeeGFS"},   {0x5346414F, "AFS"},
              {0x6B414653, "AFS"},      {0x01021997, "9P"},       {0x65735546, "FUSE"},
              {0xAAD7AAEA, "PanFS"},    {0x20030528, "OrangeFS"}};
    struct statfs st;
    if (statfs(path, &st) != 0) return NULL;
    for (size_t i = 0; i < sizeof fs / sizeof *fs; i++)
        if ((unsigned long)(uint32_t)st.f_type == fs[i].magic) return fs[i].name;
    return NULL;
}
