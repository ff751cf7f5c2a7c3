/*
 * fcntl() locks rather than flock(): they are the kind NFS servers honour.
 * Only this module opens the lock file, and a process keeps one descriptor
 * on it, so POSIX's "closing any descriptor drops the lock" cannot bite.
 *
 * The holder's text is kept in an extended attribute where the file system
 * has them, else as the file's content: a lock file with a data block costs
 * its release 0.3-0.5 ms more (freeing the block when the unlinked file is
 * closed), at the end of every run, with every rank waiting.
 */
#include "kpsweep/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "kpsweep/progress.h"

/* A releaser may unlink the file between our open and our lock: retry. */
#define LOCK_TRIES 8
#define HOLDER_MAX 512
#define HOLDER_XATTR "user.kpsweep.holder"

struct kps_lock {
  int fd;
  char path[4096 + 8];
};

int kps_lock_path(const char *path, char *buf, size_t n) {
  const int len = snprintf(buf, n, "%s.lock", path);
  return len >= 0 && (size_t)len < n;
}

/* Who holds the lock: the text the holder wrote, on one line. */
static void read_holder(int fd, char *buf, size_t n) {
  /* The content first: a holder that writes it (an older kpsweep, or no
   * extended attributes) may find a killed run's attribute there. */
  ssize_t got = pread(fd, buf, n - 1, 0);
  if (got <= 0) got = fgetxattr(fd, HOLDER_XATTR, buf, n - 1);
  buf[got > 0 ? got : 0] = '\0';
  for (char *c = buf; *c; ++c)
    if (*c == '\n') *c = (c[1] ? ' ' : '\0');
  if (!buf[0]) snprintf(buf, n, "a process that has not yet written its name");
}

static void write_holder(int fd) {
  char host[256] = "?", when[64], text[HOLDER_MAX];
  gethostname(host, sizeof host - 1);
  kps_iso_time(kps_epoch_now(), when, sizeof when);
  const char *job = getenv("SLURM_JOB_ID");
  const int len = snprintf(text, sizeof text, "pid %ld on %s%s%s, since %s\n", (long)getpid(),
                           host, job ? ", SLURM job " : "", job ? job : "", when);
  if (len <= 0) return;
  /* The text is only for messages: a failed or short write loses nothing.
   * A killed run's text in the content goes, so that it is not read. */
  struct stat st;
  if (fsetxattr(fd, HOLDER_XATTR, text, (size_t)len, 0) == 0) {
    if (fstat(fd, &st) == 0 && st.st_size > 0 && ftruncate(fd, 0) != 0) return;
  } else if (ftruncate(fd, 0) == 0) {
    (void)fremovexattr(fd, HOLDER_XATTR);
    ssize_t w = pwrite(fd, text, (size_t)len, 0);
    (void)w;
  }
}

kps_err kps_lock_acquire(const char *path, kps_lock **out) {
  kps_err rc = KPS_OK;
  kps_lock *l = calloc(1, sizeof *l);
  *out = NULL;
  KPS_CHECK_ALLOC(l);
  l->fd = -1;
  if (!kps_lock_path(path, l->path, sizeof l->path))
    KPS_FAIL(KPS_ERR_IO, "path too long: %s", path);
  for (int t = 0; t < LOCK_TRIES; ++t) {
    /* The holder's text replaces the file's content: never follow a link
     * there, nor truncate a file that is more than a lock file (a hard
     * link to the results file would be emptied). */
    struct stat own;
    l->fd = open(l->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (l->fd < 0 && errno == ELOOP) {
      rc = KPS_ERR_LOCKED;
      fprintf(stderr, "kpsweep: error: the lock file %s is a symbolic link; nothing was changed: "
              "remove it (no kpsweep run makes one).\n", l->path);
      goto cleanup;
    }
    if (l->fd < 0)
      KPS_FAIL(KPS_ERR_IO, "cannot create the lock file %s: %s", l->path, strerror(errno));
    if (fstat(l->fd, &own) != 0)
      KPS_FAIL(KPS_ERR_IO, "cannot stat the lock file %s: %s", l->path, strerror(errno));
    if (!S_ISREG(own.st_mode) || own.st_nlink > 1 || own.st_size >= HOLDER_MAX) {
      rc = KPS_ERR_LOCKED;
      fprintf(stderr, "kpsweep: error: %s is not a kpsweep lock file (%s); nothing was changed: "
              "move it away.\n", l->path,
              !S_ISREG(own.st_mode) ? "not a regular file"
              : own.st_nlink > 1    ? "a hard link to another name"
                                    : "too large");
      goto cleanup;
    }
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(l->fd, F_SETLK, &fl) != 0) {
      if (errno != EACCES && errno != EAGAIN)
        KPS_FAIL(KPS_ERR_IO, "cannot lock %s: %s", l->path, strerror(errno));
      char holder[HOLDER_MAX];
      read_holder(l->fd, holder, sizeof holder);
      rc = KPS_ERR_LOCKED;
      fprintf(stderr,
              "kpsweep: error: %s is being written by another kpsweep run (%s; lock %s). "
              "Nothing was changed: wait for that run to end, or use -o for another file.\n",
              path, holder, l->path);
      goto cleanup;
    }
    /* Locked: make sure it is the file the name still points to. */
    struct stat by_fd, by_name;
    if (fstat(l->fd, &by_fd) == 0 && stat(l->path, &by_name) == 0 &&
        by_fd.st_dev == by_name.st_dev && by_fd.st_ino == by_name.st_ino) {
      write_holder(l->fd);
      *out = l;
      return KPS_OK;
    }
    close(l->fd);
    l->fd = -1;
  }
  KPS_FAIL(KPS_ERR_IO, "the lock file %s keeps changing; another run is starting or ending", l->path);
cleanup:
  if (l && l->fd >= 0) close(l->fd);
  free(l);
  return rc;
}

void kps_lock_release(kps_lock **lock) {
  if (!lock || !*lock) return;
  /* Unlink first, while still holding the lock: a process that opened the
   * old name sees the inode change and retries. */
  unlink((*lock)->path);
  close((*lock)->fd);
  free(*lock);
  *lock = NULL;
}
