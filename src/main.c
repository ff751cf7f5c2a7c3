/*
 * kpsweep's entry point: MPI start-up, signal handlers, the agreement on
 * the exit status, and the only MPI_Abort of the program. Everything else
 * lives in the library.
 */
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "kpsweep/agree.h"
#include "kpsweep/cli.h"
#include "kpsweep/error.h"

/* How long a failed rank waits for the others to confirm the failure
 * before it concludes they are stuck in a collective and aborts. */
#define FAILED_RANK_WAIT_S 60.0

/* The one mutable global: a signal handler can reach nothing else. */
static volatile sig_atomic_t stop_flag = 0;

static void on_stop_signal(int sig) {
  (void)sig;
  stop_flag = 1;
}

int main(int argc, char **argv) {
  /* FUNNELED: only this thread calls MPI; a lone writer creates a new
   * results file on a thread of its own (src/writer.c). */
  int provided = MPI_THREAD_SINGLE;
  if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
    fprintf(stderr, "kpsweep: error: MPI_Init failed\n");
    return KPS_EXIT_FAILURE;
  }
  /* HDF5's own stack dumps would bury our one-line messages. */
  if (kps_hdf5_quiet() != KPS_OK) {
    MPI_Finalize();
    return KPS_EXIT_FAILURE;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  /* SIGTERM and SIGINT (Ctrl-C) as SLURM's SIGUSR1: save, then exit 3. */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGUSR1, &sa, NULL);
  const int code = kps_cli_main(argc, argv, MPI_COMM_WORLD, &stop_flag);
  /* The library agrees on every failure before the next collective, so
   * normally all ranks arrive here. A rank that failed alone and finds the
   * others missing can only end them by an abort. */
  int status = code;
  const double wait_s = code == KPS_EXIT_FAILURE ? FAILED_RANK_WAIT_S : -1.0;
  if (!kps_agree_exit(MPI_COMM_WORLD, code, wait_s, &status)) {
    fprintf(stderr, "kpsweep: error: the other ranks did not finish; aborting the job\n");
    MPI_Abort(MPI_COMM_WORLD, code);
  }
  MPI_Finalize();
  return status;
}
