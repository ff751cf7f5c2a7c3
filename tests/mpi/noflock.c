/*
 * LD_PRELOAD shim for the reliability test: a file system mounted without
 * flock() (Lustre's -o noflock), where flock() fails with ENOSYS. HDF5
 * goes on without its file lock there, and so must the run record.
 */
#include <errno.h>

int flock(int fd, int operation);

int flock(int fd, int operation) {
  (void)fd, (void)operation;
  errno = ENOSYS;
  return -1;
}
