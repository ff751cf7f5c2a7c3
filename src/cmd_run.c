/*
 * `kpsweep run CONFIG`: the sweep of a job file into its results file, with
 * the summary line (and how to continue an interrupted run).
 */
#include <stdio.h>
#include <string.h>

#include "cli_common.h"
#include "kpsweep/cli.h"
#include "kpsweep/config.h"
#include "kpsweep/sweep.h"

static const char *run_help =
    "usage: kpsweep run CONFIG [-o OUT.h5] [--force | --resume] [--quiet]\n"
    "\n"
    "Runs the sweep of the job file CONFIG. Rank 0 hands out lines (all tau2 points\n"
    "of one parameter point and dose) to the other ranks, which send their results to\n"
    "the writer ranks (rank 0, or run.writers of them) while they compute the next\n"
    "lines; the writers write one HDF5 file through MPI-IO. With one rank the same\n"
    "sweep runs in-process.\n"
    "\n"
    "  -o, --output FILE  results file (default: run.output in CONFIG, else\n"
    "                     results/<job name>.h5)\n"
    "  --force            replace an existing results file\n"
    "  --resume           continue a partial file made from the same configuration;\n"
    "                     refuses a file from a different one (starts a new file when\n"
    "                     FILE does not exist)\n"
    "  --quiet            no progress lines on stderr\n"
    "\n"
    "Progress (points, rate, ETA, failed points) goes to stderr every\n"
    "run.progress_every seconds. SIGUSR1 (what SLURM sends before a time limit),\n"
    "SIGTERM or SIGINT makes the run save what it has and exit with status 3 (under\n"
    "mpirun send SIGUSR1: mpirun answers SIGTERM and SIGINT itself, by killing the\n"
    "job after one second and exiting 1; see docs/cluster.md).\n"
    "\n"
    "The disk space of the whole results file is claimed before the first point is\n"
    "computed (a plan that does not fit is refused). While a run writes OUT.h5 it\n"
    "holds the lock OUT.h5.lock: a second run on the same file is refused, naming\n"
    "the first; a lock left by a killed job is free again at once.\n";

int kps_cmd_run(int argc, char **argv, MPI_Comm comm, volatile sig_atomic_t *stop) {
  if (kps_cli_wants_help(argc, argv)) {
    if (kps_is_root(comm)) fputs(run_help, stdout);
    return KPS_EXIT_OK;
  }
  const char *config = NULL, *output = NULL;
  int force = 0, resume = 0, quiet = 0;
  for (int i = 0; i < argc; ++i) {
    if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) {
      if (!kps_cli_output_option(comm, "run", argc, argv, &i, &output)) return KPS_EXIT_USAGE;
    } else if (!strcmp(argv[i], "--force")) {
      force = 1;
    } else if (!strcmp(argv[i], "--resume")) {
      resume = 1;
    } else if (!strcmp(argv[i], "--quiet")) {
      quiet = 1;
    } else if (argv[i][0] == '-' && argv[i][1]) {
      return kps_cli_usage(comm, "run", "unknown option", argv[i]);
    } else if (!config) {
      config = argv[i];
    } else {
      return kps_cli_usage(comm, "run", "more than one CONFIG given", argv[i]);
    }
  }
  if (!config) return kps_cli_usage(comm, "run", "missing CONFIG", NULL);
  if (force && resume) return kps_cli_usage(comm, "run", "--force and --resume exclude each other", NULL);

  kps_config cfg;
  kps_config_defaults(&cfg);
  kps_err rc = kps_cli_config_load(&cfg, config, comm);
  if (rc == KPS_OK) rc = kps_cli_check_plan(&cfg, kps_is_root(comm));
  if (rc == KPS_OK) {
    kps_sweep_options opt = {
        .output = output ? output : cfg.run.output,
        .mode = force ? KPS_OPEN_FORCE : resume ? KPS_OPEN_RESUME : KPS_OPEN_NEW,
        .quiet = quiet,
        .stop = stop,
    };
    kps_sweep_summary sum;
    rc = kps_sweep_run(&cfg, &opt, comm, &sum);
    if ((rc == KPS_OK || rc == KPS_ERR_INTERRUPTED) && kps_is_root(comm)) {
      const double wall = sum.wall_seconds > 0 ? sum.wall_seconds : 1.0;
      const double worker_s = wall * (sum.workers > 0 ? sum.workers : 1);
      char io[256];
      /* In-process, the time the computing waited for HDF5 (a new file is
       * created alongside); under MPI the writers' HDF5 time mostly
       * overlaps the computing, and what the workers lose is apart. */
      if (sum.in_process)
        snprintf(io, sizeof io, "%.1f%% in HDF5 (in-process: the computing waited for it)",
                 100.0 * sum.hdf5_seconds / wall);
      else
        snprintf(io, sizeof io,
                 "%.1f%% in HDF5 on %d writer%s (%llu write%s, %llu file blocks, %llu write "
                 "calls), %.1f%% of worker time stalled on output, %.1f%% waiting for work",
                 100.0 * sum.hdf5_seconds / wall, sum.writers, sum.writers > 1 ? "s" : "",
                 (unsigned long long)sum.writes, sum.writes == 1 ? "" : "s",
                 (unsigned long long)sum.write_boxes, (unsigned long long)sum.write_calls,
                 100.0 * sum.stall_seconds / worker_s,
                 100.0 * sum.wait_seconds / worker_s);
      printf("%s %s: %llu/%llu lines (%llu resumed), %llu failed points, %.3f s wall, %s, "
             "%.1f evaluations per point\n",
             rc == KPS_OK ? "wrote" : "interrupted; saved", opt.output,
             (unsigned long long)sum.lines_done, (unsigned long long)sum.lines_total,
             (unsigned long long)sum.lines_resumed, (unsigned long long)sum.points_failed,
             sum.wall_seconds, io,
             sum.points_solved > 0 ? (double)sum.solves / (double)sum.points_solved : 0.0);
      if (rc == KPS_ERR_INTERRUPTED)
        printf("continue with: kpsweep run %s -o %s --resume\n", config, opt.output);
    }
  }
  kps_config_destroy(&cfg);
  return kps_exit_code(rc);
}

