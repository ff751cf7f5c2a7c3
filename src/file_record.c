/*
 * The run record (times, ranks, lines) written into the results file after
 * the parallel handle is closed, serially on rank 0: HDF5's parallel
 * metadata writes are collective, and a full disk during one would leave
 * the ranks in different collectives. Attributes of unchanged shape are
 * overwritten in place, so a resumed run rewrites no structure.
 */
#include <hdf5.h>

#include "check.h"
#include "h5util.h"
#include "kps_revision.h"
#include "results_file.h"

kps_err kps_file_write_record(const char *path, const kps_run_record *rec) {
  kps_err rc = KPS_OK;
  hid_t fapl = H5I_INVALID_HID, file = H5I_INVALID_HID;
  char t0[64], t1[64];
  kps_iso_time(rec->start_time, t0, sizeof t0);
  kps_iso_time(rec->end_time, t1, sizeof t1);
  KPS_CHECK_H5_ID(fapl, kps_serial_fapl());
  file = H5Fopen(path, H5F_ACC_RDWR, fapl);
  if (file < 0) KPS_FAIL(KPS_ERR_IO, "cannot reopen %s to write the run record", path);
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
  if (fapl >= 0) H5Pclose(fapl);
  return rc;
}
