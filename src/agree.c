/*
 * Non-blocking reductions polled with naps: a rank that waits for another
 * to finish something alone must not take that rank's core (nodes are
 * often oversubscribed, and MPI's blocking collectives spin).
 */
#include "kpsweep/agree.h"

#include <time.h>

#include "kpsweep/progress.h"

/* Naps grow from NAP_MIN_NS to NAP_MAX_NS: a short wait stays short, a
 * long one costs little CPU (a wake-up a millisecond), and a rank that
 * waited long still learns the outcome within a millisecond (10 ms made
 * each agreement at the end of a run cost up to 10 ms). */
#define NAP_MIN_NS 20000L
#define NAP_MAX_NS 1000000L

/* Waits for req; 0 on time-out (timeout_s < 0: none) or MPI failure. */
static int wait_napping(MPI_Request *req, double timeout_s) {
  const double t_end = kps_now() + timeout_s;
  long nap = NAP_MIN_NS;
  for (;;) {
    int done = 0;
    if (MPI_Test(req, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) return 0;
    if (done) return 1;
    if (timeout_s >= 0 && kps_now() > t_end) return 0;
    struct timespec ts = {0, nap};
    nanosleep(&ts, NULL);
    nap = nap * 2 > NAP_MAX_NS ? NAP_MAX_NS : nap * 2;
  }
}

kps_err kps_wait_napping(MPI_Request *req) {
  if (wait_napping(req, -1.0)) return KPS_OK;
  kps_error_report(__FILE__, __LINE__, __func__, KPS_ERR_MPI, "waiting for the other ranks failed");
  return KPS_ERR_MPI;
}

kps_err kps_agree(MPI_Comm comm, kps_err local, kps_err *agreed) {
  MPI_Request req = MPI_REQUEST_NULL;
  int in = local, out = local;
  *agreed = local;
  if (MPI_Iallreduce(&in, &out, 1, MPI_INT, MPI_MIN, comm, &req) != MPI_SUCCESS ||
      !wait_napping(&req, -1.0)) {
    kps_error_report(__FILE__, __LINE__, __func__, KPS_ERR_MPI,
                     "the ranks could not agree on an outcome");
    return KPS_ERR_MPI;
  }
  *agreed = out;
  return KPS_OK;
}

/* Severity of an exit status: failure > usage > interrupted > success. */
static int severity(int code) {
  switch (code) {
    case 0: return 0;
    case 3: return 1;
    case 2: return 2;
    default: return 3;
  }
}

int kps_agree_exit(MPI_Comm comm, int code, double timeout_s, int *status) {
  static const int by_severity[] = {0, 3, 2, 1};
  MPI_Request req = MPI_REQUEST_NULL;
  int in = severity(code), out = in;
  *status = code;
  if (MPI_Iallreduce(&in, &out, 1, MPI_INT, MPI_MAX, comm, &req) != MPI_SUCCESS) return 0;
  if (!wait_napping(&req, timeout_s)) return 0;
  *status = out == severity(code) ? code : by_severity[out];
  return 1;
}
