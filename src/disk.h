/*
 * Internal: disk space claimed ahead of writes that must not fail for want
 * of it (the results file's layout, its run record). Not collective.
 */
#ifndef KPSWEEP_DISK_H
#define KPSWEEP_DISK_H

#include <sys/types.h>

/*
 * Claims `bytes` past the current end of the file open as fd without
 * changing its size (fallocate with FALLOC_FL_KEEP_SIZE). Returns 0, or the
 * errno of the failure: EOPNOTSUPP / ENOSYS where the file system cannot
 * (see kps_disk_unsupported), ENOSPC when the space is not there.
 */
int kps_disk_claim(int fd, off_t bytes);

/* Whether an errno of kps_disk_claim means "this file system cannot claim". */
int kps_disk_unsupported(int err);

#endif
