/*
 * The run record (times, ranks, lines) written into the results file after
 * the parallel handle is closed, serially on rank 0: HDF5's parallel
 * metadata writes are collective, and a full disk during one would leave
 * the ranks in different collectives. A lone writer's POSIX handle takes
 * the record before its close instead (no reopen: 0.5 ms less at the end
 * of every run, while every rank waits). The last run's record is kept as root
 * attributes (overwritten in place when their shape is unchanged), and
 * every run and resume appends one row to the history tables, so that a
 * resumed file keeps the timings of all its pieces.
 *
 * A metadata write that fails half-way damages the root group's attributes
 * (the provenance with them) for good, and HDF5 crashes at exit closing the
 * file again: the space the record may need is claimed before the file is
 * opened, and a record that cannot have it is not written at all.
 */
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
#include "disk.h"
#include "h5util.h"
#include "kps_build_config.h"
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
  const int claim = kps_disk_claim(fd, (off_t)bytes);
  if (claim == 0) return KPS_OK;
  if (!kps_disk_unsupported(claim))
    KPS_FAIL(KPS_ERR_IO, "no room for the run record of %s: %s", path, strerror(claim));
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
 * for writing: NFS emulates flock() with fcntl() locks, which need it.
 * (Our own handles take no HDF5 file lock: see writer.c.) */
static int locked_by_other(const char *path) {
  const int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) return 0;
  const int held = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  close(fd);
  return held;
}

/* Rows per chunk of the history tables: runs are few, ranks many. */
#define RUNS_CHUNK 16
#define RANKS_CHUNK 1024
/* The conversion buffer of a history write: per row, twice the larger of
 * the row's memory and file sizes (both under 2 x the memory size plus
 * this), and at least XFER_MIN bytes. */
#define XFER_ROW_SLACK 64
#define XFER_MIN 4096
/* Longest host list stored in a run's row. */
#define HOSTS_MAX 4096

/* One row of /history/runs (memory layout). */
typedef struct run_row {
  double start_epoch, end_epoch, wall_seconds;
  int32_t n_ranks;
  double lines_computed, lines_done;
  int8_t complete, interrupted;
  double hdf5_seconds;
  const char *version, *git_revision, *hosts;
} run_row;

/* One row of /history/ranks. */
typedef struct rank_row {
  int32_t run, rank;
  const char *host;
  double lines, busy_seconds, hdf5_seconds;
} rank_row;

#define RUN_MEMBER(name, field, type) {name, HOFFSET(run_row, field), type}
#define RANK_MEMBER(name, field, type) {name, HOFFSET(rank_row, field), type}

static hid_t run_type(hid_t str) {
  const kps_h5_member m[] = {
      RUN_MEMBER("start_epoch", start_epoch, H5T_NATIVE_DOUBLE),
      RUN_MEMBER("end_epoch", end_epoch, H5T_NATIVE_DOUBLE),
      RUN_MEMBER("wall_seconds", wall_seconds, H5T_NATIVE_DOUBLE),
      RUN_MEMBER("n_ranks", n_ranks, H5T_NATIVE_INT32),
      RUN_MEMBER("lines_computed", lines_computed, H5T_NATIVE_DOUBLE),
      RUN_MEMBER("lines_done", lines_done, H5T_NATIVE_DOUBLE),
      RUN_MEMBER("complete", complete, H5T_NATIVE_INT8),
      RUN_MEMBER("interrupted", interrupted, H5T_NATIVE_INT8),
      RUN_MEMBER("hdf5_seconds", hdf5_seconds, H5T_NATIVE_DOUBLE),
      RUN_MEMBER("kpsweep_version", version, str),
      RUN_MEMBER("git_revision", git_revision, str),
      RUN_MEMBER("hosts", hosts, str),
  };
  return kps_h5_compound(sizeof(run_row), m, sizeof m / sizeof m[0]);
}

static hid_t rank_type(hid_t str) {
  const kps_h5_member m[] = {
      RANK_MEMBER("run", run, H5T_NATIVE_INT32),
      RANK_MEMBER("rank", rank, H5T_NATIVE_INT32),
      RANK_MEMBER("host", host, str),
      RANK_MEMBER("lines", lines, H5T_NATIVE_DOUBLE),
      RANK_MEMBER("busy_seconds", busy_seconds, H5T_NATIVE_DOUBLE),
      RANK_MEMBER("hdf5_seconds", hdf5_seconds, H5T_NATIVE_DOUBLE),
  };
  return kps_h5_compound(sizeof(rank_row), m, sizeof m / sizeof m[0]);
}

/* The two tables: name, rows per chunk, description. */
static const struct table {
  const char *name;
  hsize_t chunk;
  const char *doc;
} RUNS = {"runs", RUNS_CHUNK, "one row per run or resume of this file, in order"},
  RANKS = {"ranks", RANKS_CHUNK, "one row per rank of each run (run: row of /history/runs)"};

/* Opens the 1-D table t of `type` under grp into *d, created (empty) when
 * it is not there. */
static kps_err open_table(hid_t grp, const struct table *t, hid_t type, hid_t *d) {
  kps_err rc = KPS_OK;
  hid_t sp = H5I_INVALID_HID, dcpl = H5I_INVALID_HID;
  const htri_t exists = H5Lexists(grp, t->name, H5P_DEFAULT);
  KPS_CHECK_H5(exists);
  if (exists) {
    KPS_CHECK_H5_ID(*d, H5Dopen2(grp, t->name, H5P_DEFAULT));
    goto cleanup;
  }
  const hsize_t zero = 0, unlimited = H5S_UNLIMITED;
  KPS_CHECK_H5_ID(sp, H5Screate_simple(1, &zero, &unlimited));
  KPS_CHECK_H5_ID(dcpl, H5Pcreate(H5P_DATASET_CREATE));
  KPS_CHECK_H5(H5Pset_chunk(dcpl, 1, &t->chunk));
  KPS_CHECK_H5_ID(*d, H5Dcreate2(grp, t->name, type, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT));
  KPS_CHECK(kps_attr_str(*d, "description", t->doc));
cleanup:
  if (dcpl >= 0) H5Pclose(dcpl);
  if (sp >= 0) H5Sclose(sp);
  return rc;
}

/* Appends n rows of `type` to the table t under grp (created if need be);
 * *first receives the index of the first new row. */
static kps_err append_rows(hid_t grp, const struct table *t, hid_t type, const void *rows,
                           hsize_t n, hsize_t *first) {
  kps_err rc = KPS_OK;
  hid_t d = H5I_INVALID_HID, sp = H5I_INVALID_HID, msp = H5I_INVALID_HID;
  hid_t xfer = H5I_INVALID_HID;
  KPS_CHECK(open_table(grp, t, type, &d));
  KPS_CHECK_H5_ID(sp, H5Dget_space(d));
  hsize_t have = 0;
  if (H5Sget_simple_extent_ndims(sp) != 1 || H5Sget_simple_extent_dims(sp, &have, NULL) != 1)
    KPS_FAIL(KPS_ERR_MISMATCH, "/history/%s is not a table", t->name);
  H5Sclose(sp), sp = H5I_INVALID_HID;
  const hsize_t grown = have + n;
  KPS_CHECK_H5(H5Dset_extent(d, &grown));
  KPS_CHECK_H5_ID(sp, H5Dget_space(d));
  KPS_CHECK_H5(H5Sselect_hyperslab(sp, H5S_SELECT_SET, &have, NULL, &n, NULL));
  KPS_CHECK_H5_ID(msp, H5Screate_simple(1, &n, NULL));
  /* The rows are converted (their strings are variable-length) through a
   * buffer HDF5 allocates and zeroes for each write, 1 MiB by default:
   * 1.5-3 ms of page faults for a row or a few. Sized to the rows instead. */
  const size_t bytes = (size_t)n * (2 * H5Tget_size(type) + XFER_ROW_SLACK);
  KPS_CHECK_H5_ID(xfer, H5Pcreate(H5P_DATASET_XFER));
  KPS_CHECK_H5(H5Pset_buffer(xfer, bytes > XFER_MIN ? bytes : XFER_MIN, NULL, NULL));
  KPS_CHECK_H5(H5Dwrite(d, type, msp, sp, xfer, rows));
  *first = have;
cleanup:
  if (xfer >= 0) H5Pclose(xfer);
  if (msp >= 0) H5Sclose(msp);
  if (sp >= 0) H5Sclose(sp);
  if (d >= 0) H5Dclose(d);
  return rc;
}

/* Distinct host names of the run, in rank order, comma-separated. */
static void host_list(const kps_run_record *rec, char *buf, size_t n) {
  buf[0] = '\0';
  for (int r = 0; r < rec->n_ranks && rec->hosts; ++r) {
    int seen = 0;
    for (int q = 0; q < r && !seen; ++q) seen = !strcmp(rec->hosts[q], rec->hosts[r]);
    const size_t len = strlen(buf);
    if (!seen && len + 1 < n) snprintf(buf + len, n - len, "%s%s", len ? "," : "", rec->hosts[r]);
  }
}

/* The /history group (created when missing) and the tables' row types. */
typedef struct history {
  hid_t grp, str, runs, ranks;
} history;

#define HISTORY_NONE ((history){H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID})

static void history_close(history *h) {
  if (h->ranks >= 0) H5Tclose(h->ranks);
  if (h->runs >= 0) H5Tclose(h->runs);
  if (h->str >= 0) H5Tclose(h->str);
  if (h->grp >= 0) H5Gclose(h->grp);
  *h = HISTORY_NONE;
}

static kps_err history_open(hid_t file, history *h) {
  kps_err rc = KPS_OK;
  *h = HISTORY_NONE;
  const htri_t exists = H5Lexists(file, "history", H5P_DEFAULT);
  KPS_CHECK_H5(exists);
  KPS_CHECK_H5_ID(h->grp, exists ? H5Gopen2(file, "history", H5P_DEFAULT)
                                 : H5Gcreate2(file, "history", H5P_DEFAULT, H5P_DEFAULT,
                                              H5P_DEFAULT));
  KPS_CHECK_H5_ID(h->str, H5Tcopy(H5T_C_S1));
  KPS_CHECK_H5(H5Tset_size(h->str, H5T_VARIABLE));
  KPS_CHECK_H5(H5Tset_cset(h->str, H5T_CSET_UTF8));
  KPS_CHECK_H5_ID(h->runs, run_type(h->str));
  KPS_CHECK_H5_ID(h->ranks, rank_type(h->str));
cleanup:
  if (rc != KPS_OK) history_close(h);
  return rc;
}

kps_err kps_file_history_create(hid_t file) {
  kps_err rc = KPS_OK;
  history h = HISTORY_NONE;
  hid_t d = H5I_INVALID_HID;
  KPS_CHECK(history_open(file, &h));
  KPS_CHECK(open_table(h.grp, &RUNS, h.runs, &d));
  const herr_t closed = H5Dclose(d);
  d = H5I_INVALID_HID;
  KPS_CHECK_H5(closed);
  KPS_CHECK(open_table(h.grp, &RANKS, h.ranks, &d));
  KPS_CHECK_H5(H5Dclose(d));
  d = H5I_INVALID_HID;
cleanup:
  if (d >= 0) H5Dclose(d);
  history_close(&h);
  return rc;
}

/* Appends this run to /history/runs and its ranks to /history/ranks. */
static kps_err append_history(hid_t file, const kps_run_record *rec) {
  kps_err rc = KPS_OK;
  history h = HISTORY_NONE;
  rank_row *ranks = NULL;
  char hosts[HOSTS_MAX];
  host_list(rec, hosts, sizeof hosts);
  KPS_CHECK(history_open(file, &h));
  const run_row run = {
      .start_epoch = rec->start_time,
      .end_epoch = rec->end_time,
      .wall_seconds = rec->end_time - rec->start_time,
      .n_ranks = rec->n_ranks,
      .lines_computed = rec->lines_computed,
      .lines_done = (double)rec->lines_done,
      .complete = (int8_t)rec->complete,
      .interrupted = (int8_t)rec->interrupted,
      .hdf5_seconds = rec->hdf5_seconds,
      .version = KPS_VERSION,
      .git_revision = KPS_GIT_REVISION,
      .hosts = hosts,
  };
  hsize_t index = 0, unused = 0;
  KPS_CHECK(append_rows(h.grp, &RUNS, h.runs, &run, 1, &index));
  ranks = calloc((size_t)rec->n_ranks, sizeof *ranks);
  KPS_CHECK_ALLOC(ranks);
  for (int r = 0; r < rec->n_ranks; ++r)
    ranks[r] = (rank_row){.run = (int32_t)index,
                          .rank = r,
                          .host = rec->hosts ? rec->hosts[r] : "",
                          .lines = rec->rank_lines[r],
                          .busy_seconds = rec->rank_busy_s[r],
                          .hdf5_seconds = rec->rank_hdf5_s ? rec->rank_hdf5_s[r] : 0.0};
  KPS_CHECK(append_rows(h.grp, &RANKS, h.ranks, ranks, (hsize_t)rec->n_ranks, &unused));
cleanup:
  free(ranks);
  history_close(&h);
  return rc;
}

/* The record's root attributes and history rows, into the open file. */
static kps_err write_record(hid_t file, const kps_run_record *rec) {
  kps_err rc = KPS_OK;
  char t0[64], t1[64];
  kps_iso_time(rec->start_time, t0, sizeof t0);
  kps_iso_time(rec->end_time, t1, sizeof t1);
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
  KPS_CHECK(append_history(file, rec));
cleanup:
  return rc;
}

kps_err kps_file_write_record(const char *path, const kps_run_record *rec) {
  kps_err rc = KPS_OK;
  hid_t fapl = H5I_INVALID_HID, file = H5I_INVALID_HID;
  off_t appended_at = -1;
  char h5msg[KPS_H5_MSG_LEN] = "";
  const int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0)
    KPS_FAIL(KPS_ERR_IO, "cannot reopen %s to write the run record: %s", path, strerror(errno));
  KPS_CHECK(claim_space(fd, path, (size_t)KPS_RECORD_NEED, &appended_at));
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
  KPS_CHECK(write_record(file, rec));
cleanup:
  if (file >= 0 && H5Fclose(file) < 0 && rc == KPS_OK) {
    rc = KPS_ERR_IO;
    kps_error_report(__FILE__, __LINE__, __func__, rc, "cannot write the run record to %s", path);
  }
  /* The close trims the file to its used end, which frees the claimed
   * space: claim it again for the next run's record while it is free (a
   * resumed run on a full disk then still has it). Best effort: that
   * record claims its own space anyway. */
  if (rc == KPS_OK) (void)kps_disk_claim(fd, (off_t)KPS_RECORD_RESERVE);
  if (fapl >= 0) H5Pclose(fapl);
  /* Not opened: the zeros would stay. */
  if (appended_at >= 0 && ftruncate(fd, appended_at) != 0)
    kps_error_report(__FILE__, __LINE__, __func__, KPS_ERR_IO, "cannot trim %s: %s", path,
                     strerror(errno));
  if (fd >= 0) close(fd);
  return rc;
}

/* HDF5's file lock on fd, as its open for the record would take it: 1
 * when taken, 0 when there is none to take (HDF5_USE_FILE_LOCKING=FALSE,
 * or a file system without flock(), where this HDF5 goes on as well), -1
 * when another program still holds it after RECORD_WAIT_S. */
static int take_hdf5_lock(int fd) {
  const char *env = getenv("HDF5_USE_FILE_LOCKING");
  if (env && (!strcmp(env, "FALSE") || !strcmp(env, "0"))) return 0;
  const double give_up = kps_now() + RECORD_WAIT_S;
  for (;;) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) return 1;
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK) return 0;
    if (kps_now() > give_up) return -1;
    const struct timespec nap = {0, RECORD_NAP_NS};
    nanosleep(&nap, NULL);
  }
}

kps_err kps_file_record_close(hid_t *file, const char *path, const kps_run_record *rec,
                              int *data_ok) {
  kps_err rc = KPS_OK;
  int fd = -1, claimed = 0;
  /* The rows' metadata first (a compressed write's chunk index is still in
   * memory only): neither a kill while a reader is waited for nor a failed
   * record may take them. */
  *data_ok = H5Fflush(*file, H5F_SCOPE_LOCAL) >= 0;
  if (!*data_ok) {
    rc = KPS_ERR_HDF5;
    goto cleanup;
  }
  /* Without claimed space (no fallocate, a full disk) the reopening path,
   * after the close, knows what to do and say. */
  fd = open(path, O_RDWR | O_CLOEXEC);
  claimed = fd >= 0 && kps_disk_claim(fd, (off_t)KPS_RECORD_NEED) == 0;
  if (!claimed) goto cleanup;
  /* Held for the record as the reopened file would hold it: a reader is
   * waited for, and none opens the file while its metadata changes. */
  if (take_hdf5_lock(fd) < 0)
    KPS_FAIL(KPS_ERR_IO, "another program has %s open (it holds HDF5's file lock: a viewer, "
             "a script, kpsweep inspect?); close it", path);
  KPS_CHECK(write_record(*file, rec));
cleanup:
  /* A failed close before any record was written loses rows; after it,
   * the record. */
  if (H5Fclose(*file) < 0 && rc == KPS_OK) {
    if (!claimed) {
      *data_ok = 0;
      rc = KPS_ERR_HDF5;
    } else {
      rc = KPS_ERR_IO;
      kps_error_report(__FILE__, __LINE__, __func__, rc, "cannot write the run record to %s",
                       path);
    }
  }
  *file = H5I_INVALID_HID;
  /* As in kps_file_write_record: the next record's space. */
  if (rc == KPS_OK && claimed) (void)kps_disk_claim(fd, (off_t)KPS_RECORD_RESERVE);
  if (fd >= 0) close(fd);
  if (rc == KPS_OK && !claimed) rc = kps_file_write_record(path, rec);
  return rc;
}
