/*
 * The output lock: one run at a time writes a results file. The lock is an
 * fcntl() write lock on "FILE.lock" next to the results file, held by rank 0
 * for the whole run. The kernel (or the NFS lock manager) drops it when the
 * process dies, so a lock left by a hard-killed job never blocks a resume;
 * the file's text names the holder for the message a second run prints.
 */
#ifndef KPSWEEP_LOCK_H
#define KPSWEEP_LOCK_H

#include <stddef.h>

#include "kpsweep/error.h"

typedef struct kps_lock kps_lock;

/*
 * Takes the lock of the results file `path`. When another live process
 * holds it, reports who (pid, host, SLURM job, start time) and returns
 * KPS_ERR_LOCKED; so it does, leaving it as it is, for a lock file that is
 * a link or more than a lock file. Other failures give KPS_ERR_IO. Not
 * collective (rank 0 calls it).
 */
kps_err kps_lock_acquire(const char *path, kps_lock **out);

/* Removes the lock file and releases the lock; NULL is a no-op. Not collective. */
void kps_lock_release(kps_lock **lock);

/* The lock file's name for results file path ("PATH.lock") into buf. */
int kps_lock_path(const char *path, char *buf, size_t n);

#endif
