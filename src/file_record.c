/*
 * The run record (times, ranks, lines) written into the results file after
 * the parallel handle is closed, serially on rank 0: HDF5's parallel
 * metadata writes are collective, and a full disk during one would leave
 * the ranks in different collectives. Attributes of unchanged shape are
 * overwritten in place, so a resumed run rewrites no structure.
 *
 * A metadata write that fails half-way damages the root group's attributes
 * (the provenance with them) for good, and HDF5 crashes at exit closing the
 * file again: the space the record may need is claimed before the file is
 * opened, and a record that cannot have it is not written at all.
 */
#define _GNU_SOURCE /* fallocate */
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "h5util.h"
#include "kps_revision.h"
#include "kpsweep/progress.h"
#include "results_file.h"

/* How long the record waits for another program (a viewer, `inspect`, a
 * script) to close the file it holds open under HDF5's file lock, and the
 * nap between attempts. */
#define RECORD_WAIT_S 10.0
#define RECORD_NAP_NS 100000000L
/* Zeros written per call where the file system cannot fallocate(). */
#define ZERO_BLOCK 65536

/*
 * Claims `bytes` of disk space past the end of the file open as fd: with
 * fallocate() (size unchanged), else by appending zeros, which the close
 * of the HDF5 file trims again (it truncates the file to its used end).
 * *appended_at is the old size when zeros were appended, -1 otherwise.
 */
static kps_err claim_space(int fd, const char *path, size_t bytes, off_t *appended_at) {
  kps_err rc = KPS_OK;
  struct stat st;
  char *zeros = NULL;
  *appended_at = -1;
  if (fstat(fd, &st) != 0) KPS_FAIL(KPS_ERR_IO, "cannot stat %s: %s", path, strerror(errno));
  if (fallocate(fd, FALLOC_FL_KEEP_SIZE, st.st_size, (off_t)bytes) == 0) return KPS_OK;
  if (errno != EOPNOTSUPP && errno != ENOSYS) {
    const int err = errno;
    KPS_FAIL(KPS_ERR_IO, "no room for the run record of %s: %s", path, strerror(err));
  }
  zeros = calloc(1, ZERO_BLOCK);
  KPS_CHECK_ALLOC(zeros);
  *appended_at = st.st_size;
  for (size_t done = 0; done < bytes;) {
    const size_t n = bytes - done < ZERO_BLOCK ? bytes - done : ZERO_BLOCK;
    const ssize_t w = pwrite(fd, zeros, n, st.st_size + (off_t)done);
    if (w <= 0) break;
    done += (size_t)w;
    if (done >= bytes && fsync(fd) == 0) goto cleanup;
  }
  /* A network file system may report a full disk only at the sync. */
  const int err = errno;
  if (ftruncate(fd, st.st_size) == 0) *appended_at = -1;
  KPS_FAIL(KPS_ERR_IO, "no room for the run record of %s: %s", path, strerror(err));
cleanup:
  free(zeros);
  return rc;
}

/* Whether another process holds HDF5's file lock (flock) on path. Opened
 * for writing: NFS emulates flock() with fcntl() locks, which need it. */
static int locked_by_other(const char *path) {
  const int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) return 0;
  const int held = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  close(fd);
  return held;
}

kps_err kps_file_write_record(const char *path, const kps_run_record *rec) {
  kps_err rc = KPS_OK;
  hid_t fapl = H5I_INVALID_HID, file = H5I_INVALID_HID;
  off_t appended_at = -1;
  char t0[64], t1[64], h5msg[KPS_H5_MSG_LEN] = "";
  kps_iso_time(rec->start_time, t0, sizeof t0);
  kps_iso_time(rec->end_time, t1, sizeof t1);
  const int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0)
    KPS_FAIL(KPS_ERR_IO, "cannot reopen %s to write the run record: %s", path, strerror(errno));
  KPS_CHECK(claim_space(fd, path, (size_t)KPS_RECORD_RESERVE, &appended_at));
  KPS_CHECK_H5_ID(fapl, kps_serial_fapl());
  const double give_up = kps_now() + RECORD_WAIT_S;
  while ((file = H5Fopen(path, H5F_ACC_RDWR, fapl)) < 0) {
    kps_hdf5_describe(h5msg, sizeof h5msg);
    if (!locked_by_other(path) || kps_now() > give_up) break;
    const struct timespec nap = {0, RECORD_NAP_NS};
    nanosleep(&nap, NULL);
  }
  if (file < 0 && locked_by_other(path))
    KPS_FAIL(KPS_ERR_IO, "another program has %s open (it holds HDF5's file lock: a viewer, "
             "a script, kpsweep inspect?); close it", path);
  if (file < 0) KPS_FAIL(KPS_ERR_IO, "cannot reopen %s to write the run record%s", path, h5msg);
  /* HDF5 trims appended zeros at the close. */
  appended_at = -1;
  KPS_CHECK(kps_attr_str(file, "start_time", t0));
  KPS_CHECK(kps_attr_str(file, "end_time", t1));
  KPS_CHECK(kps_attr_f64(file, "start_epoch", rec->start_time));
  KPS_CHECK(kps_attr_f64(file, "end_epoch", rec->end_time));
  KPS_CHECK(kps_attr_f64(file, "lines_computed", rec->lines_computed));
  KPS_CHECK(kps_attr_f64(file, "complete", rec->complete));
  KPS_CHECK(kps_attr_f64(file, "interrupted", rec->interrupted));
  KPS_CHECK(kps_attr_f64(file, "n_ranks", rec->n_ranks));
  KPS_CHECK(kps_attr_f64(file, "lines_done", (double)rec->lines_done));
  KPS_CHECK(kps_attr_put(file, "rank_lines", H5T_NATIVE_DOUBLE, rec->n_ranks, rec->rank_lines));
  KPS_CHECK(kps_attr_put(file, "rank_busy_seconds", H5T_NATIVE_DOUBLE, rec->n_ranks,
                         rec->rank_busy_s));
  KPS_CHECK(kps_attr_f64(file, "hdf5_seconds", rec->hdf5_seconds));
  KPS_CHECK(kps_attr_str(file, "git_revision_last_run", KPS_GIT_REVISION));
cleanup:
  if (file >= 0 && H5Fclose(file) < 0 && rc == KPS_OK) {
    rc = KPS_ERR_IO;
    kps_error_report(__FILE__, __LINE__, __func__, rc, "cannot write the run record to %s", path);
  }
  /* The close trims the file to its used end, which frees the claimed
   * space: claim it again for the next run's record while it is free (a
   * resumed run on a full disk then still has it). Best effort: that
   * record claims its own space anyway. */
  struct stat st;
  if (rc == KPS_OK && fstat(fd, &st) == 0)
    (void)fallocate(fd, FALLOC_FL_KEEP_SIZE, st.st_size, (off_t)KPS_RECORD_RESERVE);
  if (fapl >= 0) H5Pclose(fapl);
  /* Not opened: the zeros would stay. */
  if (appended_at >= 0 && ftruncate(fd, appended_at) != 0)
    kps_error_report(__FILE__, __LINE__, __func__, KPS_ERR_IO, "cannot trim %s: %s", path,
                     strerror(errno));
  if (fd >= 0) close(fd);
  return rc;
}
