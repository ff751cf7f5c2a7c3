/*
 * `kpsweep validate CONFIG [-o OUT.h5]`: checks a job file and prints the
 * plan, its memory and the size of its results file against the free space.
 */
#include <stdio.h>
#include <string.h>

#include "cli_common.h"
#include "kpsweep/cli.h"
#include "kpsweep/config.h"
#include "kpsweep/writer.h"

static const char *validate_help =
    "usage: kpsweep validate CONFIG [-o OUT.h5]\n"
    "\n"
    "Checks the job file (errors name file:line:column and the key) and prints the\n"
    "plan: model, axes, number of points and tasks (lines), a memory estimate per\n"
    "rank, and the size of the results file against the free space where it will\n"
    "be written (OUT.h5, default run.output). Exits 2 when the file is invalid, the\n"
    "plan exceeds run.memory_limit_mb, or the results file would not fit or cannot be\n"
    "written under that name (a path too long for MPI-IO).\n";

int kps_cmd_validate(int argc, char **argv, MPI_Comm comm) {
  if (kps_cli_wants_help(argc, argv)) {
    if (kps_is_root(comm)) fputs(validate_help, stdout);
    return KPS_EXIT_OK;
  }
  const char *config = NULL, *output = NULL;
  for (int i = 0; i < argc; ++i) {
    if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) {
      if (!kps_cli_output_option(comm, "validate", argc, argv, &i, &output)) return KPS_EXIT_USAGE;
    } else if (argv[i][0] == '-' && argv[i][1]) {
      return kps_cli_usage(comm, "validate", "unknown option", argv[i]);
    } else if (!config) {
      config = argv[i];
    } else {
      return kps_cli_usage(comm, "validate", "more than one CONFIG given", argv[i]);
    }
  }
  if (!config) return kps_cli_usage(comm, "validate", "missing CONFIG", NULL);
  kps_config cfg;
  kps_config_defaults(&cfg);
  kps_err rc = kps_cli_config_load(&cfg, config, comm);
  if (rc == KPS_OK) {
    if (kps_is_root(comm)) kps_cli_print_plan(&cfg);
    rc = kps_cli_check_plan(&cfg, kps_is_root(comm));
    const char *out = output ? output : cfg.run.output;
    kps_err space = kps_writer_path_check(out, kps_is_root(comm));
    if (space == KPS_OK) space = kps_cli_check_space(&cfg, out, kps_is_root(comm));
    if (rc == KPS_OK) rc = space;
    if (rc == KPS_OK && kps_is_root(comm)) printf("valid\n");
  }
  kps_config_destroy(&cfg);
  return kps_exit_code(rc);
}

