/*
 * `kpsweep validate CONFIG [-o OUT.h5] [--calibrate[=SECONDS]] [--ranks N]`:
 * checks a job file and prints the plan, its memory and the size of its
 * results file against the free space; with --calibrate also times part of
 * the job and estimates its wall time.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cli_common.h"
#include "kpsweep/calibrate.h"
#include "kpsweep/cli.h"
#include "kpsweep/config.h"
#include "kpsweep/writer.h"

/*
 * Constants of the calibration
 *   CALIBRATE_DEFAULT_S  its time budget without =SECONDS
 *   CALIBRATE_MAX_S      the longest budget accepted (an hour: more is a run)
 *   CALIBRATE_POINTS     the most parameter points it times
 *   TIME_MARGIN          factor on the high estimate for the suggested --time
 *   TIME_LEAD_S          added to it: the batch script's signal lead (120 s),
 *                        the final flush and start-up
 *   RANKS_SHOWN          rank counts of the table when --ranks is not given
 */
#define CALIBRATE_DEFAULT_S 10.0
#define CALIBRATE_MAX_S 3600.0
#define CALIBRATE_POINTS 100000
#define TIME_MARGIN 1.25
#define TIME_LEAD_S 300.0
static const int RANKS_SHOWN[] = {2, 9, 33, 129, 513};

static const char *validate_help =
    "usage: kpsweep validate CONFIG [-o OUT.h5]\n"
    "\n"
    "Checks the job file (errors name file:line:column and the key) and prints the\n"
    "plan: model, axes, number of points and tasks (lines), a memory estimate per\n"
    "rank, and the size of the results file against the free space where it will\n"
    "be written (OUT.h5, default run.output). Exits 2 when the file is invalid, the\n"
    "plan exceeds run.memory_limit_mb, or the results file would not fit or cannot be\n"
    "written under that name (a path too long for MPI-IO).\n"
    "\n"
    "  --calibrate[=SECONDS]  also compute parameter points of the job for about\n"
    "                         SECONDS (default 10), spread evenly over the plan, and\n"
    "                         estimate the run's wall time and a SLURM --time from\n"
    "                         them (run it on a node like the compute nodes: a login\n"
    "                         node's speed may differ). Nothing is written.\n"
    "  --ranks N              the MPI ranks the run will have (N - 1 workers; default:\n"
    "                         $SLURM_NTASKS, else a table for several counts)\n"
    "\n"
    "example:\n"
    "  kpsweep validate job.yaml --calibrate=30 --ranks 65\n";

/* Parses a positive number (a count when integral) of an option. */
static int option_number(MPI_Comm comm, const char *opt, const char *text, double lo, double hi,
                         int integral, double *out) {
  char *end;
  errno = 0;
  const double v = strtod(text, &end);
  if (!text[0] || *end || errno || !(v >= lo && v <= hi) || (integral && v != floor(v))) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s needs %s in [%g, %g]", opt, integral ? "an integer" : "a number",
             lo, hi);
    kps_cli_usage(comm, "validate", msg, text);
    return 0;
  }
  *out = v;
  return 1;
}

/* Prints one estimate row: ranks, wall time (mean, high), suggested --time. */
static void print_estimate(const kps_calibration *c, int ranks) {
  const double wall = kps_calibration_wall(c, ranks, 0), high = kps_calibration_wall(c, ranks, 1);
  char t[32];
  kps_slurm_time(high * TIME_MARGIN + TIME_LEAD_S, t, sizeof t);
  printf("  %6d ranks (%d worker%s): wall %.3g s (up to %.3g s)  ->  sbatch --ntasks=%d --time=%s\n",
         ranks, ranks > 1 ? ranks - 1 : 1, ranks > 2 ? "s" : "", wall, high, ranks, t);
}

/* The calibration on rank 0; its outcome is shared so that all ranks exit alike. */
static kps_err calibrate(const kps_config *cfg, double budget, int ranks, MPI_Comm comm) {
  kps_err rc = KPS_OK;
  kps_calibration c;
  if (kps_is_root(comm)) {
    rc = kps_calibrate(cfg, budget, CALIBRATE_POINTS, &c);
    if (rc == KPS_OK) {
      printf("calibration %zu of %zu parameter points in %.3g s: %.3g s per point "
             "(min %.3g, max %.3g, sd %.3g)\n",
             c.points, c.n_points, c.seconds, c.mean_s, c.min_s, c.max_s, c.sd_s);
      printf("estimate    %.3g core-hours of compute; output and the master add a few per cent\n",
             c.core_s / 3600.0);
      if (ranks > 0) {
        print_estimate(&c, ranks);
      } else {
        for (size_t k = 0; k < sizeof RANKS_SHOWN / sizeof RANKS_SHOWN[0]; ++k)
          print_estimate(&c, RANKS_SHOWN[k]);
      }
      if (c.points < c.n_points && c.sd_s > 0.5 * c.mean_s)
        printf("note        the points' times vary widely (sd %.0f %% of the mean): a longer\n"
               "            --calibrate narrows the estimate\n",
               100.0 * c.sd_s / c.mean_s);
    }
  }
  int code = rc;
  KPS_CHECK_MPI(MPI_Bcast(&code, 1, MPI_INT, 0, comm));
  rc = code;
cleanup:
  return rc;
}

int kps_cmd_validate(int argc, char **argv, MPI_Comm comm) {
  if (kps_cli_wants_help(argc, argv)) {
    if (kps_is_root(comm)) fputs(validate_help, stdout);
    return KPS_EXIT_OK;
  }
  const char *config = NULL, *output = NULL;
  double budget = -1.0, ranks = 0.0;
  const char *ntasks = getenv("SLURM_NTASKS");
  if (ntasks) ranks = fmax(0.0, floor(atof(ntasks)));
  for (int i = 0; i < argc; ++i) {
    if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) {
      if (!kps_cli_output_option(comm, "validate", argc, argv, &i, &output)) return KPS_EXIT_USAGE;
    } else if (!strcmp(argv[i], "--calibrate")) {
      budget = CALIBRATE_DEFAULT_S;
    } else if (!strncmp(argv[i], "--calibrate=", 12)) {
      if (!option_number(comm, "--calibrate", argv[i] + 12, 0.0, CALIBRATE_MAX_S, 0, &budget))
        return KPS_EXIT_USAGE;
    } else if (!strcmp(argv[i], "--ranks")) {
      if (++i >= argc) return kps_cli_usage(comm, "validate", "--ranks needs a number", NULL);
      if (!option_number(comm, "--ranks", argv[i], 1.0, 1e7, 1, &ranks)) return KPS_EXIT_USAGE;
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
    if (rc == KPS_OK && budget >= 0.0) {
      fflush(stdout);
      rc = calibrate(&cfg, budget, (int)ranks, comm);
    }
  }
  kps_config_destroy(&cfg);
  return kps_exit_code(rc);
}

