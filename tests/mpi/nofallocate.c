/*
 * LD_PRELOAD shim for the reliability test: a file system without
 * fallocate() (NFS, older ZFS), where claimed space must be written.
 * <fcntl.h> is left out: with 64-bit offsets it renames these functions.
 */
#include <errno.h>

int fallocate(int fd, int mode, long long offset, long long len);
int fallocate64(int fd, int mode, long long offset, long long len);
int posix_fallocate(int fd, long long offset, long long len);
int posix_fallocate64(int fd, long long offset, long long len);

int fallocate(int fd, int mode, long long offset, long long len) {
  (void)fd, (void)mode, (void)offset, (void)len;
  errno = EOPNOTSUPP;
  return -1;
}

int fallocate64(int fd, int mode, long long offset, long long len) {
  return fallocate(fd, mode, offset, len);
}

int posix_fallocate(int fd, long long offset, long long len) {
  (void)fd, (void)offset, (void)len;
  return EOPNOTSUPP;
}

int posix_fallocate64(int fd, long long offset, long long len) {
  return posix_fallocate(fd, offset, len);
}
