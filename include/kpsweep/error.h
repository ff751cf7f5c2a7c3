/*
 * kpsweep error codes and error reporting.
 *
 * One code type for the whole library, generated from one table so that a
 * code and its message cannot drift apart. 0 is success; infrastructure
 * failures are negative. Per-point solver outcomes are not errors: they are
 * data (see kpsweep/status.h).
 */
#ifndef KPSWEEP_ERROR_H
#define KPSWEEP_ERROR_H

#include <stdarg.h>
#include <stddef.h>

#define KPS_ERR_LIST(X)                                                     \
  X(KPS_OK, 0, "success")                                                   \
  X(KPS_ERR_USAGE, -1, "invalid command-line usage")                        \
  X(KPS_ERR_CONFIG, -2, "invalid configuration")                            \
  X(KPS_ERR_IO, -3, "file input/output failed")                             \
  X(KPS_ERR_MPI, -4, "an MPI call failed")                                  \
  X(KPS_ERR_HDF5, -5, "an HDF5 call failed")                                \
  X(KPS_ERR_CVODE, -6, "a SUNDIALS/CVODE call failed")                      \
  X(KPS_ERR_NOMEM, -7, "out of memory")                                     \
  X(KPS_ERR_INTERNAL, -8, "internal error (a bug)")                         \
  X(KPS_ERR_INTERRUPTED, -9, "interrupted by a signal; output is resumable") \
  X(KPS_ERR_MISMATCH, -10, "results file does not match this configuration") \
  X(KPS_ERR_EXISTS, -11, "output exists (use --force or --resume)")         \
  X(KPS_ERR_LIMIT, -12, "plan exceeds a configured limit")                \
  X(KPS_ERR_LOCKED, -13, "output is being written by another run")

typedef enum kps_err_code {
#define KPS_ERR_ENUM_(name, value, msg) name = value,
  KPS_ERR_LIST(KPS_ERR_ENUM_)
#undef KPS_ERR_ENUM_
} kps_err_code;

/* Library functions return kps_err: KPS_OK or one of the negative codes. */
typedef int kps_err;

/* Symbolic name of a code ("KPS_ERR_CONFIG"). Not collective. */
const char *kps_err_name(kps_err code);

/* Human-readable message for a code. Not collective. */
const char *kps_strerror(kps_err code);

/*
 * Prints "kpsweep: error: FILE:LINE (FUNC): message" on stderr. Used by the
 * checking macros; FILE/LINE are the caller's source position. Not collective.
 */
void kps_error_report(const char *file, int line, const char *func,
                      kps_err code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/*
 * Writes an input error "SOURCE:LINE:COLUMN: KEY: reason" (the form of every
 * job-file and network-file error) into err[0..errlen), the reason from fmt
 * and ap, truncated to fit. Returns KPS_ERR_CONFIG. Not collective.
 */
kps_err kps_error_vformat_at(char *err, size_t errlen, const char *source, int line, int column,
                             const char *key, const char *fmt, va_list ap)
    __attribute__((format(printf, 7, 0)));

/*
 * Turns off HDF5's automatic printing of its error stack (10-15 HDF5-DIAG
 * lines per failure, before our own message). Idempotent; the setting lives
 * in the HDF5 library. The verbs and kps_config_load call it; call it once
 * at program start. Not collective.
 */
kps_err kps_hdf5_quiet(void);

/*
 * The innermost entry of HDF5's current error stack as one line,
 * "; HDF5: FUNC: DESCRIPTION - MINOR MESSAGE", into buf (truncated to n);
 * "" when the stack is empty. Returns buf. Used by KPS_CHECK_H5. Call it
 * right after the failing HDF5 call: the next HDF5 call clears the stack.
 * Not collective.
 */
const char *kps_hdf5_describe(char *buf, size_t n);

/*
 * Generic check for functions of this library: jump to the enclosing
 * function's `cleanup:` label with `rc` set when a call fails. The callee has
 * already reported the failure.
 */
#define KPS_CHECK(call)                                                      \
  do {                                                                       \
    kps_err kps_chk_rc_ = (call);                                            \
    if (kps_chk_rc_ != KPS_OK) {                                             \
      rc = kps_chk_rc_;                                                      \
      goto cleanup;                                                          \
    }                                                                        \
  } while (0)

/* Report and jump to cleanup with code `code`. */
#define KPS_FAIL(code, ...)                                                  \
  do {                                                                       \
    rc = (code);                                                             \
    kps_error_report(__FILE__, __LINE__, __func__, rc, __VA_ARGS__);         \
    goto cleanup;                                                            \
  } while (0)

/* Allocation check: NULL jumps to cleanup with KPS_ERR_NOMEM. */
#define KPS_CHECK_ALLOC(ptr)                                                 \
  do {                                                                       \
    if ((ptr) == NULL) KPS_FAIL(KPS_ERR_NOMEM, "allocation of %s failed", #ptr); \
  } while (0)

#endif
