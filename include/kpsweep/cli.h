/*
 * The kpsweep command line: verbs run, validate, solve, inspect, export,
 * defence.
 * Exit codes: 0 success, 1 run-time failure, 2 usage or configuration error,
 * 3 interrupted by SIGTERM/SIGUSR1 with the results file flushed (resume it
 * with `kpsweep run --resume`).
 */
#ifndef KPSWEEP_CLI_H
#define KPSWEEP_CLI_H

#include <mpi.h>
#include <signal.h>

#include "kpsweep/error.h"

enum kps_exit {
  KPS_EXIT_OK = 0,
  KPS_EXIT_FAILURE = 1,
  KPS_EXIT_USAGE = 2,
  KPS_EXIT_INTERRUPTED = 3
};

/* Maps a library error code to the documented exit code. */
int kps_exit_code(kps_err rc);

/*
 * Runs the command line. `stop` is the flag the caller's signal handlers
 * set. Collective on comm (every rank must call it with the same argv).
 * Returns the exit code.
 */
int kps_cli_main(int argc, char **argv, MPI_Comm comm, volatile sig_atomic_t *stop);

/* Whether this process is rank 0 of comm (0 when MPI fails). Not collective. */
int kps_is_root(MPI_Comm comm);

/* Verbs, each collective on comm; they return exit codes. */
int kps_cmd_run(int argc, char **argv, MPI_Comm comm, volatile sig_atomic_t *stop);
int kps_cmd_validate(int argc, char **argv, MPI_Comm comm);
int kps_cmd_solve(int argc, char **argv, MPI_Comm comm);
int kps_cmd_inspect(int argc, char **argv, MPI_Comm comm);
int kps_cmd_export(int argc, char **argv, MPI_Comm comm);
int kps_cmd_defence(int argc, char **argv, MPI_Comm comm, volatile sig_atomic_t *stop);

#endif
