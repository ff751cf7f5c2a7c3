/*
 * Internal: what the verbs share: --help detection, usage errors, reading
 * a job file, the -o option, and the plan (memory, file size) they check
 * and print. Only rank 0 prints.
 */
#ifndef KPSWEEP_CLI_COMMON_H
#define KPSWEEP_CLI_COMMON_H

#include <mpi.h>

#include "kpsweep/config.h"
#include "kpsweep/error.h"

/* Whether argv holds --help or -h. Not collective. */
int kps_cli_wants_help(int argc, char **argv);

/* Prints "kpsweep VERB: msg: arg" and the --help hint on rank 0; returns
 * exit status 2. Not collective. */
int kps_cli_usage(MPI_Comm comm, const char *verb, const char *msg, const char *arg);

/* Loads a job file; an unreadable one is a configuration error (exit 2),
 * like an invalid one. Collective. */
kps_err kps_cli_config_load(kps_config *cfg, const char *path, MPI_Comm comm);

/* Parses "-o FILE" at argv[*i] (advancing *i); 0 after a usage error. */
int kps_cli_output_option(MPI_Comm comm, const char *verb, int argc, char **argv, int *i,
                          const char **output);

/* Checks the plan's memory against run.memory_limit_mb (KPS_ERR_LIMIT,
 * with a message when print). Not collective. */
kps_err kps_cli_check_plan(const kps_config *cfg, int print);

/* Prints the plan (model, axes, points, lines, memory). Not collective. */
void kps_cli_print_plan(const kps_config *cfg);

/* Prints the results file's estimated size against the free space at
 * `output` when print; KPS_ERR_LIMIT when it does not fit. Not collective. */
kps_err kps_cli_check_space(const kps_config *cfg, const char *output, int print);

#endif
