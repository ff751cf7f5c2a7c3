/*
 * Checking macros, one per external library. Each reports the failing call
 * with file and line, sets `rc` and jumps to the function's `cleanup:` label.
 * MPI checks need MPI_ERRORS_RETURN on the communicator (set by the sweep
 * context), otherwise MPI aborts before the macro sees the code.
 */
#ifndef KPSWEEP_CHECK_H
#define KPSWEEP_CHECK_H

#include <hdf5.h>
#include <mpi.h>

#include "kpsweep/error.h"

#define KPS_CHECK_MPI(call)                                                   \
  do {                                                                        \
    int kps_mpi_rc_ = (call);                                                 \
    if (kps_mpi_rc_ != MPI_SUCCESS) {                                         \
      char kps_mpi_msg_[MPI_MAX_ERROR_STRING];                                \
      int kps_mpi_len_ = 0;                                                   \
      MPI_Error_string(kps_mpi_rc_, kps_mpi_msg_, &kps_mpi_len_);             \
      KPS_FAIL(KPS_ERR_MPI, "%s: %s", #call, kps_mpi_msg_);                    \
    }                                                                         \
  } while (0)

/* Room for the innermost HDF5 error appended to a failure message. */
#define KPS_H5_MSG_LEN 512

/* For HDF5 calls returning herr_t (negative on failure). The message ends
 * with HDF5's innermost error (its automatic stack printing is off). */
#define KPS_CHECK_H5(call)                                                    \
  do {                                                                        \
    if ((call) < 0) {                                                         \
      char kps_h5_msg_[KPS_H5_MSG_LEN];                                       \
      KPS_FAIL(KPS_ERR_HDF5, "%s failed%s", #call,                            \
               kps_hdf5_describe(kps_h5_msg_, sizeof kps_h5_msg_));           \
    }                                                                         \
  } while (0)

/* For HDF5 calls returning an id: assigns it to `id`. */
#define KPS_CHECK_H5_ID(id, call)                                             \
  do {                                                                        \
    (id) = (call);                                                            \
    if ((id) < 0) {                                                           \
      char kps_h5_msg_[KPS_H5_MSG_LEN];                                       \
      KPS_FAIL(KPS_ERR_HDF5, "%s failed%s", #call,                            \
               kps_hdf5_describe(kps_h5_msg_, sizeof kps_h5_msg_));           \
    }                                                                         \
  } while (0)

/*
 * For an HDF5 call inside a collective step: records the first failure in
 * `step` (reported with file and line: "writing WHAT failed") without
 * leaving, since the other ranks are in the same call and every rank must
 * make the same sequence of collective calls until kps_agree decides.
 */
#define KPS_STEP_H5(step, call, what)                                         \
  do {                                                                        \
    if ((call) < 0 && (step) == KPS_OK) {                                     \
      char kps_h5_msg_[KPS_H5_MSG_LEN];                                       \
      (step) = KPS_ERR_HDF5;                                                  \
      kps_error_report(__FILE__, __LINE__, __func__, (step), "writing %s failed%s", (what), \
                       kps_hdf5_describe(kps_h5_msg_, sizeof kps_h5_msg_));   \
    }                                                                         \
  } while (0)

/* For SUNDIALS/CVODE calls returning an int flag (negative on failure). */
#define KPS_CHECK_CV(call)                                                    \
  do {                                                                        \
    int kps_cv_rc_ = (call);                                                  \
    if (kps_cv_rc_ < 0)                                                       \
      KPS_FAIL(KPS_ERR_CVODE, "%s returned %d", #call, kps_cv_rc_);           \
  } while (0)

#endif
