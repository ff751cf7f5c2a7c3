/* Space claimed past the end of a file (see disk.h). */
#define _GNU_SOURCE /* fallocate */
#include "disk.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

int kps_disk_claim(int fd, off_t bytes) {
  struct stat st;
  if (fstat(fd, &st) != 0) return errno;
  return fallocate(fd, FALLOC_FL_KEEP_SIZE, st.st_size, bytes) == 0 ? 0 : errno;
}

int kps_disk_unsupported(int err) { return err == EOPNOTSUPP || err == ENOSYS; }
