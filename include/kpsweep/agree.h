/*
 * Agreement across ranks: before any collective that follows a step which
 * can fail on one rank alone, every rank contributes its outcome and all
 * act on the worst one ("agree, then act"). Waiting ranks nap instead of
 * spinning, so a rank that works alone (rank 0 creating the results file)
 * keeps its core.
 */
#ifndef KPSWEEP_AGREE_H
#define KPSWEEP_AGREE_H

#include <mpi.h>

#include "kpsweep/error.h"

/*
 * Every rank passes its own code; *agreed receives the most severe one
 * (the most negative, KPS_OK only when all succeeded). Returns KPS_ERR_MPI
 * when the agreement itself failed (then *agreed is `local`). Collective.
 */
kps_err kps_agree(MPI_Comm comm, kps_err local, kps_err *agreed);

/*
 * Waits for a non-blocking request (a collective started by the caller,
 * e.g. MPI_Igather) with naps instead of spinning. Returns KPS_ERR_MPI
 * when the request failed. Not collective itself.
 */
kps_err kps_wait_napping(MPI_Request *req);

/*
 * The end of a program: agrees on an exit status (the most severe of the
 * ranks' ones: 1 over 2 over 3 over 0) in *status. A rank gives up after
 * timeout_s seconds (< 0: waits for ever), which means another rank never
 * arrived: it is stuck in a collective after a failure it did not share.
 * Returns 1 when agreed, 0 on a time-out or an MPI failure (the caller
 * must then abort). Collective.
 */
int kps_agree_exit(MPI_Comm comm, int code, double timeout_s, int *status);

#endif
