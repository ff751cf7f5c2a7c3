/*
 * Command-line dispatch: the main help, the exit codes, and one call per
 * verb (each verb lives in its own cmd_*.c). Only rank 0 prints; every
 * rank parses the same argv.
 */
#include "kpsweep/cli.h"

#include <stdio.h>
#include <string.h>

#include "check.h"
#include "kps_build_config.h"
#include "kps_revision.h"

static const char *main_help =
    "kpsweep " KPS_VERSION " - sweep kinetic-proofreading models of T-cell ligand\n"
    "discrimination: steady states (SUNDIALS CVODE), exact gradients, antagonism and\n"
    "decision-boundary statistics, written to one parallel HDF5 file.\n"
    "\n"
    "usage: kpsweep VERB [options]        (under mpirun for several ranks)\n"
    "\n"
    "verbs:\n"
    "  run CONFIG       run the sweep described by a YAML job file\n"
    "  validate CONFIG  check a job file and print the plan (points, tasks, memory)\n"
    "  solve            evaluate one point and print its state, output and gradients\n"
    "  inspect FILE     summarise a results file: layout, progress, failed points\n"
    "  export FILE      write a results file as a CSV/TSV table (a row per point or line)\n"
    "  defence ACTION   train or attack neural networks with a proofreading input layer\n"
    "                   (Fashion-MNIST; docs/defence.md)\n"
    "\n"
    "  kpsweep VERB --help   explains each verb; kpsweep --version prints the version.\n"
    "\n"
    "examples:\n"
    "  kpsweep validate jobs/examples/default.yaml\n"
    "  mpirun -n 3 --oversubscribe kpsweep run jobs/examples/default.yaml -o results/default.h5\n"
    "      (rank 0 schedules and sleeps while idle: -n 3 gives two workers for two cores)\n"
    "  kpsweep solve --model adaptive_sorting --ligand 4:4000 --ligand 1:6000 --json\n"
    "  kpsweep inspect results/default.h5\n"
    "  kpsweep export results/default.h5 --lines -o default-lines.csv\n"
    "\n"
    "exit status: 0 success, 1 run-time failure, 2 usage or configuration error,\n"
    "3 interrupted by SIGTERM/SIGUSR1 after saving progress (continue with --resume).\n"
    "Docs: docs/config.md (job files), docs/output.md (HDF5 layout), docs/models.md,\n"
    "docs/cluster.md (SLURM).\n";

int kps_exit_code(kps_err rc) {
  switch (rc) {
    case KPS_OK: return KPS_EXIT_OK;
    case KPS_ERR_USAGE:
    case KPS_ERR_CONFIG:
    case KPS_ERR_EXISTS:
    case KPS_ERR_MISMATCH:
    case KPS_ERR_LIMIT:
    case KPS_ERR_LOCKED: return KPS_EXIT_USAGE;
    case KPS_ERR_INTERRUPTED: return KPS_EXIT_INTERRUPTED;
    default: return KPS_EXIT_FAILURE;
  }
}

int kps_is_root(MPI_Comm comm) {
  kps_err rc = KPS_OK;
  int rank = -1;
  KPS_CHECK_MPI(MPI_Comm_rank(comm, &rank));
cleanup:
  return rc == KPS_OK && rank == 0;
}

int kps_cli_main(int argc, char **argv, MPI_Comm comm, volatile sig_atomic_t *stop) {
  if (argc < 2) {
    if (kps_is_root(comm)) fputs(main_help, stderr);
    return KPS_EXIT_USAGE;
  }
  const char *verb = argv[1];
  if (!strcmp(verb, "--help") || !strcmp(verb, "-h") || !strcmp(verb, "help")) {
    if (kps_is_root(comm)) fputs(main_help, stdout);
    return KPS_EXIT_OK;
  }
  if (!strcmp(verb, "--version")) {
    if (kps_is_root(comm)) printf("kpsweep %s (git %s)\n", KPS_VERSION, KPS_GIT_REVISION);
    return KPS_EXIT_OK;
  }
  if (!strcmp(verb, "run")) return kps_cmd_run(argc - 2, argv + 2, comm, stop);
  if (!strcmp(verb, "validate")) return kps_cmd_validate(argc - 2, argv + 2, comm);
  if (!strcmp(verb, "solve")) return kps_cmd_solve(argc - 2, argv + 2, comm);
  if (!strcmp(verb, "inspect")) return kps_cmd_inspect(argc - 2, argv + 2, comm);
  if (!strcmp(verb, "export")) return kps_cmd_export(argc - 2, argv + 2, comm);
  if (!strcmp(verb, "defence")) return kps_cmd_defence(argc - 2, argv + 2, comm, stop);
  if (kps_is_root(comm))
    fprintf(stderr,
            "kpsweep: unknown verb '%s' (verbs: run, validate, solve, inspect, export, defence)\n"
            "Try 'kpsweep --help'.\n", verb);
  return KPS_EXIT_USAGE;
}
