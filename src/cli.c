/*
 * Command-line dispatch, help texts, and the `run` and `validate` verbs.
 * Only rank 0 prints; every rank parses the same argv.
 */
#include "kpsweep/cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kps_build_config.h"
#include "kps_revision.h"
#include "kpsweep/config.h"
#include "kpsweep/results.h"
#include "kpsweep/sweep.h"
#include "kpsweep/writer.h"

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
    "\n"
    "  kpsweep VERB --help   explains each verb; kpsweep --version prints the version.\n"
    "\n"
    "examples:\n"
    "  kpsweep validate jobs/examples/default.yaml\n"
    "  mpirun -n 4 kpsweep run jobs/examples/default.yaml -o results/default.h5\n"
    "  kpsweep solve --model adaptive_sorting --ligand 4:4000 --ligand 1:6000 --json\n"
    "  kpsweep inspect results/default.h5\n"
    "\n"
    "exit status: 0 success, 1 run-time failure, 2 usage or configuration error,\n"
    "3 interrupted by SIGTERM/SIGUSR1 after saving progress (continue with --resume).\n"
    "Docs: docs/config.md (job files), docs/output.md (HDF5 layout), docs/models.md,\n"
    "docs/cluster.md (SLURM).\n";

static const char *run_help =
    "usage: kpsweep run CONFIG [-o OUT.h5] [--force | --resume] [--quiet]\n"
    "\n"
    "Runs the sweep of the job file CONFIG. Rank 0 hands out lines (all tau2 points\n"
    "of one parameter point and dose) to the other ranks; every rank writes into one\n"
    "HDF5 file through MPI-IO. With one rank the same sweep runs in-process.\n"
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

static const char *validate_help =
    "usage: kpsweep validate CONFIG [-o OUT.h5]\n"
    "\n"
    "Checks the job file (errors name file:line:column and the key) and prints the\n"
    "plan: model, axes, number of points and tasks (lines), a memory estimate per\n"
    "rank, and the size of the results file against the free space where it will\n"
    "be written (OUT.h5, default run.output). Exits 2 when the file is invalid, the\n"
    "plan exceeds run.memory_limit_mb, or the results file would not fit.\n";

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

static int wants_help(int argc, char **argv) {
  for (int i = 0; i < argc; ++i)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return 1;
  return 0;
}

static int usage_error(MPI_Comm comm, const char *verb, const char *msg, const char *arg) {
  if (kps_is_root(comm))
    fprintf(stderr, "kpsweep %s: %s%s%s\nTry 'kpsweep %s --help'.\n", verb, msg,
            arg ? ": " : "", arg ? arg : "", verb);
  return KPS_EXIT_USAGE;
}

/* An unreadable job file is a usage error (exit 2), like an invalid one. */
static kps_err config_load(kps_config *cfg, const char *path, MPI_Comm comm) {
  kps_err rc = kps_config_load(cfg, path, comm);
  return rc == KPS_ERR_IO ? KPS_ERR_CONFIG : rc;
}

/* Memory estimate of a plan, in bytes per rank. */
typedef struct plan_memory {
  double master, worker_per_flush, per_line;
} plan_memory;

static plan_memory estimate_memory(const kps_config *cfg) {
  plan_memory pm;
  const double per_line =
      8.0 + (double)kps_fields_bytes_per_line(cfg->tau2.n, kps_config_n_bins(cfg));
  pm.per_line = per_line;
  /* One bit per line, and on resume a read buffer of up to 1 MiB lines. */
  const double lines = (double)kps_config_n_lines(cfg);
  pm.master = lines / 8.0 + fmin(lines, (double)(1u << 20));
  /* A worker buffers at most half of the limit before it asks for a flush,
   * or the whole plan when that is smaller. */
  pm.worker_per_flush = fmin(0.5e6 * cfg->run.memory_limit_mb,
                             per_line * (double)kps_config_n_lines(cfg));
  return pm;
}

static kps_err check_plan(const kps_config *cfg, int print) {
  const plan_memory pm = estimate_memory(cfg);
  const double limit = 1e6 * cfg->run.memory_limit_mb;
  if (pm.master > limit || pm.per_line > 0.5 * limit) {
    if (print)
      fprintf(stderr,
              "kpsweep: error: the plan needs %.3g MB on the master and %.3g MB per line, "
              "over run.memory_limit_mb = %g in %s; raise the limit or shrink the axes.\n",
              pm.master / 1e6, pm.per_line / 1e6, cfg->run.memory_limit_mb, cfg->source);
    return KPS_ERR_LIMIT;
  }
  return KPS_OK;
}

static void print_plan(const kps_config *cfg) {
  printf("config      %s\n", cfg->source);
  printf("job         %s\n", cfg->name);
  printf("model       %s (%s)\n", cfg->model->name, cfg->model->summary);
  printf("parameters ");
  for (int j = 0; j < cfg->model->n_params; ++j) {
    int swept = 0;
    for (size_t a = 0; a < cfg->n_axes; ++a) swept |= cfg->axes[a].param == j;
    if (!swept) printf(" %s=%g", cfg->model->params[j].name, cfg->params[j]);
  }
  printf("%s\n", cfg->n_axes ? " (fixed; swept ones below)" : "");
  for (size_t a = 0; a < cfg->n_axes; ++a)
    printf("axis        %-8s %zu values in [%g, %g]\n", cfg->axes[a].name, cfg->axes[a].n,
           cfg->axes[a].values[0], cfg->axes[a].values[cfg->axes[a].n - 1]);
  printf("axis        %-8s %zu values in [%g, %g] (antagonist dose)\n", "L2", cfg->L2.n,
         cfg->L2.values[0], cfg->L2.values[cfg->L2.n - 1]);
  printf("axis        %-8s %zu values in [%g, %g] (antagonist binding time, s)\n", "tau2",
         cfg->tau2.n, cfg->tau2.values[0], cfg->tau2.values[cfg->tau2.n - 1]);
  printf("agonist     tau=%g s, L=%g\n", cfg->agonist_tau, cfg->agonist_L);
  if (cfg->threshold_explicit) printf("threshold   O_th=%g (explicit)\n", cfg->threshold_value);
  else if (cfg->L_ref_agonist)
    printf("threshold   tau_c=%g s, L_ref=%g (the agonist's dose)\n", cfg->tau_c, cfg->agonist_L);
  else if (isfinite(cfg->L_ref)) printf("threshold   tau_c=%g s, L_ref=%g\n", cfg->tau_c, cfg->L_ref);
  else printf("threshold   tau_c=%g s, L_ref=10 R (model default)\n", cfg->tau_c);
  const plan_memory pm = estimate_memory(cfg);
  printf("points      %zu\n", kps_config_n_points(cfg));
  printf("tasks       %zu lines of %zu points (%zu parameter points x %zu doses)\n",
         kps_config_n_lines(cfg), cfg->tau2.n, kps_config_n_param_points(cfg), cfg->L2.n);
  printf("memory      master %.3g MB (done-line bit map, read buffer), worker up to %.3g MB between flushes; "
         "limit %g MB per rank\n",
         pm.master / 1e6, pm.worker_per_flush / 1e6, cfg->run.memory_limit_mb);
}

/* Prints the results file's size against the free space at `output`;
 * KPS_ERR_LIMIT when it does not fit. */
static kps_err check_space(const kps_config *cfg, const char *output, int print) {
  double need = 0.0, avail = 0.0;
  const kps_err rc = kps_writer_space_check(cfg, output, &need, &avail);
  if (print) {
    if (avail >= 0)
      printf("output      %s (about %.3g MB; %.3g MB free there)\n", output, need / 1e6,
             avail / 1e6);
    else printf("output      %s (about %.3g MB; free space unknown)\n", output, need / 1e6);
    if (rc != KPS_OK)
      fprintf(stderr,
              "kpsweep: error: the results file needs about %.3g MB but %s has %.3g MB free; "
              "free space, write elsewhere (-o), or shrink the axes.\n",
              need / 1e6, output, avail / 1e6);
  }
  return rc;
}

/* Parses "-o FILE"/"--output FILE" at argv[*i]; 0 with a usage error printed. */
static int output_option(MPI_Comm comm, const char *verb, int argc, char **argv, int *i,
                         const char **output) {
  if (++*i >= argc || !argv[*i][0]) {
    usage_error(comm, verb, "-o needs a non-empty file name", NULL);
    return 0;
  }
  *output = argv[*i];
  return 1;
}

static int cmd_validate(int argc, char **argv, MPI_Comm comm) {
  if (wants_help(argc, argv)) {
    if (kps_is_root(comm)) fputs(validate_help, stdout);
    return KPS_EXIT_OK;
  }
  const char *config = NULL, *output = NULL;
  for (int i = 0; i < argc; ++i) {
    if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) {
      if (!output_option(comm, "validate", argc, argv, &i, &output)) return KPS_EXIT_USAGE;
    } else if (argv[i][0] == '-' && argv[i][1]) {
      return usage_error(comm, "validate", "unknown option", argv[i]);
    } else if (!config) {
      config = argv[i];
    } else {
      return usage_error(comm, "validate", "more than one CONFIG given", argv[i]);
    }
  }
  if (!config) return usage_error(comm, "validate", "missing CONFIG", NULL);
  kps_config cfg;
  kps_config_defaults(&cfg);
  kps_err rc = config_load(&cfg, config, comm);
  if (rc == KPS_OK) {
    if (kps_is_root(comm)) print_plan(&cfg);
    rc = check_plan(&cfg, kps_is_root(comm));
    const kps_err space = check_space(&cfg, output ? output : cfg.run.output, kps_is_root(comm));
    if (rc == KPS_OK) rc = space;
    if (rc == KPS_OK && kps_is_root(comm)) printf("valid\n");
  }
  kps_config_destroy(&cfg);
  return kps_exit_code(rc);
}

static int cmd_run(int argc, char **argv, MPI_Comm comm, volatile sig_atomic_t *stop) {
  if (wants_help(argc, argv)) {
    if (kps_is_root(comm)) fputs(run_help, stdout);
    return KPS_EXIT_OK;
  }
  const char *config = NULL, *output = NULL;
  int force = 0, resume = 0, quiet = 0;
  for (int i = 0; i < argc; ++i) {
    if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) {
      if (!output_option(comm, "run", argc, argv, &i, &output)) return KPS_EXIT_USAGE;
    } else if (!strcmp(argv[i], "--force")) {
      force = 1;
    } else if (!strcmp(argv[i], "--resume")) {
      resume = 1;
    } else if (!strcmp(argv[i], "--quiet")) {
      quiet = 1;
    } else if (argv[i][0] == '-' && argv[i][1]) {
      return usage_error(comm, "run", "unknown option", argv[i]);
    } else if (!config) {
      config = argv[i];
    } else {
      return usage_error(comm, "run", "more than one CONFIG given", argv[i]);
    }
  }
  if (!config) return usage_error(comm, "run", "missing CONFIG", NULL);
  if (force && resume) return usage_error(comm, "run", "--force and --resume exclude each other", NULL);

  kps_config cfg;
  kps_config_defaults(&cfg);
  kps_err rc = config_load(&cfg, config, comm);
  if (rc == KPS_OK) rc = check_plan(&cfg, kps_is_root(comm));
  if (rc == KPS_OK) {
    kps_sweep_options opt = {
        .output = output ? output : cfg.run.output,
        .mode = force ? KPS_OPEN_FORCE : resume ? KPS_OPEN_RESUME : KPS_OPEN_NEW,
        .quiet = quiet,
        .stop = stop,
    };
    kps_sweep_summary sum;
    int size = 1;
    if (MPI_Comm_size(comm, &size) != MPI_SUCCESS) size = -1;
    if (kps_is_root(comm) && !quiet)
      fprintf(stderr, "[kpsweep] %s: %zu points in %zu lines on %d rank%s -> %s\n", cfg.name,
              kps_config_n_points(&cfg), kps_config_n_lines(&cfg), size, size > 1 ? "s" : "",
              opt.output);
    rc = kps_sweep_run(&cfg, &opt, comm, &sum);
    if ((rc == KPS_OK || rc == KPS_ERR_INTERRUPTED) && kps_is_root(comm)) {
      printf("%s %s: %llu/%llu lines (%llu resumed), %llu failed points, %.3f s wall, "
             "%.1f%% in HDF5, %.1f evaluations per point\n",
             rc == KPS_OK ? "wrote" : "interrupted; saved", opt.output,
             (unsigned long long)sum.lines_done, (unsigned long long)sum.lines_total,
             (unsigned long long)sum.lines_resumed, (unsigned long long)sum.points_failed,
             sum.wall_seconds, sum.wall_seconds > 0 ? 100.0 * sum.hdf5_seconds / sum.wall_seconds : 0.0,
             sum.points_solved > 0 ? (double)sum.solves / (double)sum.points_solved : 0.0);
      if (rc == KPS_ERR_INTERRUPTED)
        printf("continue with: kpsweep run %s -o %s --resume\n", config, opt.output);
    }
  }
  kps_config_destroy(&cfg);
  return kps_exit_code(rc);
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
  if (!strcmp(verb, "run")) return cmd_run(argc - 2, argv + 2, comm, stop);
  if (!strcmp(verb, "validate")) return cmd_validate(argc - 2, argv + 2, comm);
  if (!strcmp(verb, "solve")) return kps_cmd_solve(argc - 2, argv + 2, comm);
  if (!strcmp(verb, "inspect")) return kps_cmd_inspect(argc - 2, argv + 2, comm);
  if (kps_is_root(comm))
    fprintf(stderr, "kpsweep: unknown verb '%s'\n\n%s", verb, main_help);
  return KPS_EXIT_USAGE;
}
