/*
 * kpsweep's entry point: MPI start-up, signal handlers, and the only
 * MPI_Abort of the program. Everything else lives in the library.
 */
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "kpsweep/cli.h"

/* The one mutable global: a signal handler can reach nothing else. */
static volatile sig_atomic_t stop_flag = 0;

static void on_stop_signal(int sig) {
  (void)sig;
  stop_flag = 1;
}

int main(int argc, char **argv) {
  if (MPI_Init(&argc, &argv) != MPI_SUCCESS) {
    fprintf(stderr, "kpsweep: error: MPI_Init failed\n");
    return KPS_EXIT_FAILURE;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGUSR1, &sa, NULL);
  const int code = kps_cli_main(argc, argv, MPI_COMM_WORLD, &stop_flag);
  /* A rank that failed alone would leave the others waiting in a
   * collective; only an abort can end them. */
  if (code == KPS_EXIT_FAILURE) {
    int size = 2;
    if (MPI_Comm_size(MPI_COMM_WORLD, &size) != MPI_SUCCESS || size > 1)
      MPI_Abort(MPI_COMM_WORLD, code);
  }
  MPI_Finalize();
  return code;
}
