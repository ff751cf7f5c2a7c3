/*
 * What the verbs share (cli_common.h): help and usage errors, job files,
 * the -o option, and the plan checks and printout of run and validate.
 */
#include "cli_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kpsweep/cli.h"
#include "kpsweep/results.h"
#include "kpsweep/writer.h"

int kps_cli_wants_help(int argc, char **argv) {
  for (int i = 0; i < argc; ++i)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return 1;
  return 0;
}

int kps_cli_usage(MPI_Comm comm, const char *verb, const char *msg, const char *arg) {
  if (kps_is_root(comm))
    fprintf(stderr, "kpsweep %s: %s%s%s\nTry 'kpsweep %s --help'.\n", verb, msg,
            arg ? ": " : "", arg ? arg : "", verb);
  return KPS_EXIT_USAGE;
}

/* An unreadable job file is a usage error (exit 2), like an invalid one. */
kps_err kps_cli_config_load(kps_config *cfg, const char *path, MPI_Comm comm) {
  kps_err rc = kps_config_load(cfg, path, comm);
  return rc == KPS_ERR_IO ? KPS_ERR_CONFIG : rc;
}

/* Memory estimate of a plan, in bytes per rank. */
typedef struct plan_memory {
  double master, buffered, per_line;
} plan_memory;

static plan_memory estimate_memory(const kps_config *cfg) {
  plan_memory pm;
  const kps_dims d = kps_config_dims(cfg);
  const double per_line = 8.0 + (double)kps_fields_bytes_per_line(&d);
  pm.per_line = per_line;
  /* One bit per line, and on resume a read buffer of up to 1 MiB lines. */
  const double lines = (double)kps_config_n_lines(cfg);
  pm.master = lines / 8.0 + fmin(lines, (double)(1u << 20));
  /* A writer's batch and a worker's three ranges (one computing, two in
   * its send buffers) each stay within half of the limit, or the whole
   * plan when that is smaller (src/sweep.c). */
  pm.buffered = fmin(0.5e6 * cfg->run.memory_limit_mb, per_line * (double)kps_config_n_lines(cfg));
  return pm;
}

kps_err kps_cli_check_plan(const kps_config *cfg, int print) {
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

void kps_cli_print_plan(const kps_config *cfg) {
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
  /* NaN: on its axis (tau1, L1). */
  if (isnan(cfg->agonist_tau)) printf("agonist     tau on the axis tau1");
  else printf("agonist     tau=%g s", cfg->agonist_tau);
  if (isnan(cfg->agonist_L)) printf(", L on the axis L1\n");
  else printf(", L=%g\n", cfg->agonist_L);
  for (size_t i = 0; i < cfg->n_self; ++i)
    printf("self        tau=%g s, L=%g (background, in every evaluation)\n", cfg->self_tau[i],
           cfg->self_L[i]);
  if (cfg->threshold_explicit) printf("threshold   O_th=%g (explicit)\n", cfg->threshold_value);
  else if (cfg->L_ref_agonist && isnan(cfg->agonist_L))
    printf("threshold   tau_c=%g s, L_ref = the agonist's dose L1 of each line\n", cfg->tau_c);
  else if (cfg->L_ref_agonist)
    printf("threshold   tau_c=%g s, L_ref=%g (the agonist's dose)\n", cfg->tau_c, cfg->agonist_L);
  else if (isfinite(cfg->L_ref)) printf("threshold   tau_c=%g s, L_ref=%g\n", cfg->tau_c, cfg->L_ref);
  else printf("threshold   tau_c=%g s, L_ref=10 R (model default)\n", cfg->tau_c);
  const plan_memory pm = estimate_memory(cfg);
  printf("points      %zu\n", kps_config_n_points(cfg));
  const size_t n_lines = kps_config_n_lines(cfg), n_pp = kps_config_n_param_points(cfg);
  printf("tasks       %zu line%s of %zu point%s (%zu parameter point%s x %zu dose%s)\n", n_lines,
         n_lines == 1 ? "" : "s", cfg->tau2.n, cfg->tau2.n == 1 ? "" : "s", n_pp,
         n_pp == 1 ? "" : "s", cfg->L2.n, cfg->L2.n == 1 ? "" : "s");
  printf("memory      master %.3g MB (done-line bit map, read buffer); a writer's batch and a "
         "worker's ranges up to %.3g MB each; limit %g MB per rank\n",
         pm.master / 1e6, pm.buffered / 1e6, cfg->run.memory_limit_mb);
}

/* Prints the results file's size against the free space at `output`;
 * KPS_ERR_LIMIT when it does not fit. */
kps_err kps_cli_check_space(const kps_config *cfg, const char *output, int print) {
  double need = 0.0, avail = 0.0;
  const kps_err rc = kps_writer_space_check(cfg, output, &need, &avail);
  if (print) {
    if (avail >= 0)
      printf("output      %s (about %.3g MB; %.3g MB free there)\n", output, need / 1e6,
             avail / 1e6);
    else printf("output      %s (about %.3g MB; free space unknown)\n", output, need / 1e6);
    if (kps_writer_fills_whole(cfg))
      printf("fill        all: a new file is written whole with its fill values at creation\n");
    else
      printf("fill        status: a new file gets fill values in /points/status only (the other "
             "fields of lines not done stay undefined, 0)\n");
    if (rc != KPS_OK)
      fprintf(stderr,
              "kpsweep: error: the results file needs about %.3g MB but %s has %.3g MB free; "
              "free space, write elsewhere (-o), or shrink the axes.\n",
              need / 1e6, output, avail / 1e6);
  }
  return rc;
}

/* Parses "-o FILE"/"--output FILE" at argv[*i]; 0 with a usage error printed. */
int kps_cli_output_option(MPI_Comm comm, const char *verb, int argc, char **argv, int *i,
                         const char **output) {
  if (++*i >= argc || !argv[*i][0]) {
    kps_cli_usage(comm, verb, "-o needs a non-empty file name", NULL);
    return 0;
  }
  *output = argv[*i];
  return 1;
}

