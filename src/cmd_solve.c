/*
 * `kpsweep solve`: one point, cold-solved, printed as a table or as JSON
 * (docs/solve.md). Runs on rank 0 only; other ranks return at once.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kpsweep/cli.h"
#include "kpsweep/config.h"
#include "kpsweep/progress.h"
#include "kpsweep/solver.h"
#include "kpsweep/status.h"
#include "kpsweep/threshold.h"

#define MAX_LIGANDS KPS_MAX_BINS

static const char *solve_help =
    "usage: kpsweep solve [--model NAME] [--set NAME=VALUE]... [--ligand TAU:L]...\n"
    "                     [--tau-c S] [--L-ref N | --threshold-value O] [--rtol R] [--json]\n"
    "\n"
    "Solves one point to steady state (CVODE from the all-free state, Newton polish)\n"
    "and prints the state, the output O, the threshold O_th, the decision (O > O_th),\n"
    "and the exact gradients dO/dtau_i, dO/dL_i and dO/dtheta for every continuous\n"
    "model parameter (implicit function theorem at the steady state).\n"
    "\n"
    "  --model NAME         ideal | kpr | adaptive_sorting | shp1 (default adaptive_sorting)\n"
    "  --set NAME=VALUE     override a model parameter (repeatable); --list-params shows them\n"
    "  --ligand TAU:L       one ligand type with binding time TAU (s) and count L\n"
    "                       (repeatable; default: the agonist 4:4000 and antagonist 1:6000)\n"
    "  --tau-c S            threshold binding time (default 3)\n"
    "  --L-ref N            threshold reference count (default 10 R)\n"
    "  --threshold-value O  explicit threshold instead of tau_c/L_ref\n"
    "  --rtol R             CVODE relative tolerance (default 1e-6)\n"
    "  --json               machine-readable output (keys documented in docs/solve.md)\n"
    "  --list-params        print the model's parameters with defaults and ranges\n"
    "\n"
    "example:\n"
    "  kpsweep solve --model shp1 --ligand 10:1000 --ligand 1:10000 --json\n";

static void json_num(double v) {
  if (isfinite(v)) printf("%.17g", v);
  else printf("null");
}

static void json_array(const double *v, int n) {
  printf("[");
  for (int i = 0; i < n; ++i) {
    if (i) printf(", ");
    json_num(v[i]);
  }
  printf("]");
}

static void list_params(const kps_model *m) {
  printf("%s: %s\n", m->name, m->summary);
  for (int j = 0; j < m->n_params; ++j) {
    const kps_param_info *pi = &m->params[j];
    printf("  %-8s default %-10g range [%g, %g]%s %s - %s\n", pi->name, pi->def, pi->min, pi->max,
           pi->flags & KPS_PARAM_INTEGER ? " integer" : "", pi->unit, pi->doc);
  }
}

static int parse_double(const char *s, double *out) {
  char *end = NULL;
  *out = strtod(s, &end);
  return end != s && *end == '\0';
}

int kps_cmd_solve(int argc, char **argv, MPI_Comm comm) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  if (rank != 0) return KPS_EXIT_OK;
  const kps_model *m = kps_model_find("adaptive_sorting");
  const char *sets[64];
  int n_sets = 0, json = 0, K = 0, list = 0, explicit_th = 0;
  static double tau[MAX_LIGANDS], L[MAX_LIGANDS];
  double tau_c = 3.0, L_ref = NAN, th_value = NAN;
  kps_config defaults;
  kps_config_defaults(&defaults);
  kps_solver_config sopt = defaults.solver;
  kps_config_destroy(&defaults);
  for (int i = 0; i < argc; ++i) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    double x;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(solve_help, stdout);
      return KPS_EXIT_OK;
    } else if (!strcmp(a, "--json")) {
      json = 1;
    } else if (!strcmp(a, "--list-params")) {
      list = 1;
    } else if (!v) {
      fprintf(stderr, "kpsweep solve: %s needs a value\nTry 'kpsweep solve --help'.\n", a);
      return KPS_EXIT_USAGE;
    } else if (!strcmp(a, "--model")) {
      m = kps_model_find(v);
      if (!m) {
        fprintf(stderr, "kpsweep solve: unknown model '%s'; known:", v);
        for (const kps_model *const *k = kps_model_list(); *k; ++k) fprintf(stderr, " %s", (*k)->name);
        fprintf(stderr, "\n");
        return KPS_EXIT_USAGE;
      }
      ++i;
    } else if (!strcmp(a, "--set")) {
      if (n_sets == 64) {
        fprintf(stderr, "kpsweep solve: too many --set options\n");
        return KPS_EXIT_USAGE;
      }
      sets[n_sets++] = v;
      ++i;
    } else if (!strcmp(a, "--ligand")) {
      char buf[128];
      snprintf(buf, sizeof buf, "%s", v);
      char *colon = strchr(buf, ':');
      if (!colon || K == MAX_LIGANDS) {
        fprintf(stderr, "kpsweep solve: --ligand wants TAU:L, got '%s'\n", v);
        return KPS_EXIT_USAGE;
      }
      *colon = '\0';
      if (!parse_double(buf, &tau[K]) || !parse_double(colon + 1, &L[K]) || !(tau[K] > 0) ||
          !(L[K] >= 0)) {
        fprintf(stderr, "kpsweep solve: --ligand '%s': need TAU > 0 and L >= 0\n", v);
        return KPS_EXIT_USAGE;
      }
      ++K, ++i;
    } else if (!strcmp(a, "--tau-c") || !strcmp(a, "--L-ref") ||
               !strcmp(a, "--threshold-value") || !strcmp(a, "--rtol")) {
      if (!parse_double(v, &x) || !(x > 0)) {
        fprintf(stderr, "kpsweep solve: %s wants a positive number, got '%s'\n", a, v);
        return KPS_EXIT_USAGE;
      }
      if (!strcmp(a, "--tau-c")) tau_c = x;
      else if (!strcmp(a, "--L-ref")) L_ref = x;
      else if (!strcmp(a, "--rtol")) sopt.rtol = x;
      else explicit_th = 1, th_value = x;
      ++i;
    } else {
      fprintf(stderr, "kpsweep solve: unknown option '%s'\nTry 'kpsweep solve --help'.\n", a);
      return KPS_EXIT_USAGE;
    }
  }
  if (list) {
    list_params(m);
    return KPS_EXIT_OK;
  }
  double p[KPS_MAX_PARAMS];
  kps_model_defaults(m, p);
  for (int s = 0; s < n_sets; ++s) {
    char name[64];
    const char *eq = strchr(sets[s], '=');
    double x;
    if (!eq || (size_t)(eq - sets[s]) >= sizeof name) {
      fprintf(stderr, "kpsweep solve: --set wants NAME=VALUE, got '%s'\n", sets[s]);
      return KPS_EXIT_USAGE;
    }
    memcpy(name, sets[s], (size_t)(eq - sets[s]));
    name[eq - sets[s]] = '\0';
    const int j = kps_model_param_index(m, name);
    if (j < 0) {
      fprintf(stderr, "kpsweep solve: model %s has no parameter '%s' (see --list-params)\n",
              m->name, name);
      return KPS_EXIT_USAGE;
    }
    const kps_param_info *pi = &m->params[j];
    if (!parse_double(eq + 1, &x) || x < pi->min || x > pi->max ||
        ((pi->flags & KPS_PARAM_INTEGER) && x != floor(x))) {
      fprintf(stderr, "kpsweep solve: %s=%s is outside [%g, %g]%s\n", name, eq + 1, pi->min,
              pi->max, pi->flags & KPS_PARAM_INTEGER ? " or not an integer" : "");
      return KPS_EXIT_USAGE;
    }
    p[j] = x;
  }
  char why[256];
  if (m->check_params && m->check_params(p, why, sizeof why)) {
    fprintf(stderr, "kpsweep solve: %s\n", why);
    return KPS_EXIT_USAGE;
  }
  if (K == 0) {
    tau[0] = 4.0, L[0] = 4000.0, tau[1] = 1.0, L[1] = 6000.0;
    K = 2;
  }

  kps_solver *solver = NULL;
  if (kps_solver_create(&sopt, &solver) != KPS_OK) return KPS_EXIT_FAILURE;
  const int n = kps_model_state_size(m, p, K);
  double *y = calloc((size_t)(n > 0 ? n : 1), sizeof(double));
  double *gt = calloc((size_t)K, sizeof(double)), *gL = calloc((size_t)K, sizeof(double));
  double gp[KPS_MAX_PARAMS];
  int code = KPS_EXIT_FAILURE;
  if (!y || !gt || !gL) goto cleanup;
  const kps_inputs in = {.p = p, .K = K, .tau = tau, .L = L};
  kps_eval ev = {.dO_dtau = gt, .dO_dL = gL, .dO_dp = gp};
  const double t0 = kps_now();
  const int status = kps_evaluate(solver, m, &in, y, 0, &ev);
  const double usec = 1e6 * (kps_now() - t0);
  double O_th = NAN;
  const int th_status = kps_threshold(solver, m, p, explicit_th, th_value, tau_c, L_ref, &O_th);
  const int decision = kps_status_is_ok(status) && kps_status_is_ok(th_status) ? ev.O > O_th : -1;
  const double L_ref_used = kps_threshold_L_ref(m, p, L_ref);

  if (json) {
    printf("{\n  \"model\": \"%s\",\n  \"params\": {", m->name);
    for (int j = 0; j < m->n_params; ++j) {
      printf("%s\"%s\": ", j ? ", " : "", m->params[j].name);
      json_num(p[j]);
    }
    printf("},\n  \"ligands\": [");
    for (int i = 0; i < K; ++i) {
      printf("%s{\"tau\": ", i ? ", " : "");
      json_num(tau[i]);
      printf(", \"L\": ");
      json_num(L[i]);
      printf("}");
    }
    printf("],\n  \"state\": ");
    if (n > 0 && kps_status_is_ok(status)) json_array(y, n);
    else printf(n > 0 ? "null" : "[]");
    printf(",\n  \"state_names\": [");
    for (int k = 0; k < n; ++k) {
      char nm[64];
      m->state_name(p, K, k, nm, sizeof nm);
      printf("%s\"%s\"", k ? ", " : "", nm);
    }
    printf("],\n  \"output\": ");
    json_num(ev.O);
    printf(",\n  \"threshold\": {\"value\": ");
    json_num(O_th);
    printf(", \"explicit\": %s, \"tau_c\": ", explicit_th ? "true" : "false");
    json_num(tau_c);
    printf(", \"L_ref\": ");
    json_num(L_ref_used);
    printf(", \"status\": \"%s\"},\n  \"decision\": %d,\n  \"margin\": ", kps_status_name(th_status),
           decision);
    json_num(log(ev.O / O_th));
    printf(",\n  \"grad_tau\": ");
    json_array(gt, K);
    printf(",\n  \"grad_L\": ");
    json_array(gL, K);
    printf(",\n  \"grad_params\": {");
    int first = 1;
    for (int j = 0; j < m->n_params; ++j) {
      if (m->params[j].flags & KPS_PARAM_INTEGER) continue;
      printf("%s\"%s\": ", first ? "" : ", ", m->params[j].name);
      json_num(gp[j]);
      first = 0;
    }
    printf("},\n  \"status\": \"%s\",\n  \"status_code\": %d,\n", kps_status_name(status), status);
    printf("  \"solver\": {\"steps\": %ld, \"rhs_evals\": %ld, \"jac_evals\": %ld, "
           "\"newton_iters\": %ld, \"t_steady\": ",
           ev.stats.cv_steps, ev.stats.cv_rhs, ev.stats.cv_jac, ev.stats.newton_iters);
    json_num(ev.stats.t_steady);
    printf(", \"time_us\": %.1f}\n}\n", usec);
  } else {
    printf("model      %s\n", m->name);
    printf("params    ");
    for (int j = 0; j < m->n_params; ++j) printf(" %s=%g", m->params[j].name, p[j]);
    printf("\n");
    for (int i = 0; i < K; ++i) printf("ligand %-3d tau=%-10g L=%g\n", i, tau[i], L[i]);
    printf("status     %s (%s)\n", kps_status_name(status), kps_status_doc(status));
    if (kps_status_is_ok(status))
      for (int k = 0; k < n; ++k) {
        char nm[64];
        m->state_name(p, K, k, nm, sizeof nm);
        printf("state      %-10s %.10g\n", nm, y[k]);
      }
    printf("output     O = %.12g\n", ev.O);
    printf("threshold  O_th = %.12g (%s)\n", O_th,
           explicit_th ? "explicit" : "one ligand type at tau_c, L_ref");
    printf("decision   %s (O/O_th = %.6g)\n",
           decision < 0 ? "unknown" : decision ? "respond" : "no response", ev.O / O_th);
    for (int i = 0; i < K; ++i)
      printf("gradient   dO/dtau_%d = %-14.8g dO/dL_%d = %.8g\n", i, gt[i], i, gL[i]);
    for (int j = 0; j < m->n_params; ++j)
      if (!(m->params[j].flags & KPS_PARAM_INTEGER))
        printf("gradient   dO/d%-7s = %.8g\n", m->params[j].name, gp[j]);
    printf("solver     %ld CVODE steps, %ld rhs, %ld Jacobians, %ld Newton iterations, %.1f us\n",
           ev.stats.cv_steps, ev.stats.cv_rhs, ev.stats.cv_jac, ev.stats.newton_iters, usec);
  }
  code = kps_status_is_ok(status) ? KPS_EXIT_OK : KPS_EXIT_FAILURE;
cleanup:
  free(y), free(gt), free(gL);
  kps_solver_destroy(&solver);
  return code;
}
