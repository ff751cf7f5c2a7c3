/*
 * `kpsweep solve`: one point, cold-solved, printed as a table or as JSON
 * (docs/solve.md), optionally attacked (FGSM, PGD, histogram descent).
 * Runs on rank 0 only; other ranks return at once.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kpsweep/attack.h"
#include "kpsweep/cli.h"
#include "kpsweep/config.h"
#include "kpsweep/network.h"
#include "kpsweep/progress.h"
#include "kpsweep/solver.h"
#include "kpsweep/status.h"
#include "kpsweep/threshold.h"

static const char *solve_help =
    "usage: kpsweep solve [--config JOB.yaml] [--model NAME] [--set NAME=VALUE]...\n"
    "                     [--ligand TAU:L]... [--tau-c S] [--L-ref N | --threshold-value O]\n"
    "                     [--rtol R] [--attack NAME]... [--direction off|on]\n"
    "                     [--movable below|all] [--json]\n"
    "\n"
    "Solves one point to steady state (CVODE from the all-free state, Newton polish)\n"
    "and prints the state, the output O, the threshold O_th, the decision (O > O_th),\n"
    "and the exact gradients dO/dtau_i, dO/dL_i and dO/dtheta for every continuous\n"
    "model parameter (implicit function theorem at the steady state).\n"
    "\n"
    "  --config JOB.yaml    take model, fixed parameters, threshold, solver and attack\n"
    "                       settings from a job file, at one point of its sweep: the\n"
    "                       first value of every axis unless --at picks another; the\n"
    "                       ligands are its agonist, that tau2 and dose and its self\n"
    "                       ligands (or its histogram). The point solved is printed.\n"
    "  --at NAME=VALUE      with --config: the sweep point's value of axis NAME (a swept\n"
    "                       parameter, tau1, L1, L2 or tau2; repeatable); VALUE must be\n"
    "                       one of the axis's values\n"
    "  --model NAME         ideal | kpr | adaptive_sorting | shp1 | null\n"
    "                       (default adaptive_sorting)\n"
    "  --set NAME=VALUE     override a model parameter (repeatable); --list-params shows them\n"
    "  --ligand TAU:L       one ligand type with binding time TAU (s) and count L\n"
    "                       (repeatable; default: the agonist 4:4000 and antagonist 1:6000)\n"
    "  --tau-c S            threshold binding time (default 3); also ideal's tau_c\n"
    "                       unless --set tau_c=... is given\n"
    "  --L-ref N|agonist    threshold reference count (default 10 R; agonist: the\n"
    "                       first ligand's own dose)\n"
    "  --threshold-value O  explicit threshold instead of tau_c/L_ref\n"
    "  --rtol R             CVODE relative tolerance (default 1e-6)\n"
    "  --attack NAME        fgsm_L | fgsm_tau | pgd | descent | all (repeatable): attack the\n"
    "                       ligand input; descent moves the given ligands as a histogram\n"
    "  --descent-method M   published (default: individual ligands, re-binned every\n"
    "                       step) or normalized (bins move by eta g/max|g|)\n"
    "  --direction off|on   switch a response off (antagonism, default) or on\n"
    "  --movable below|all  ligands the adversary may move (default: tau < tau_c)\n"
    "  --json               machine-readable output (keys documented in docs/solve.md)\n"
    "  --list-params        print the model's parameters with defaults and ranges\n"
    "\n"
    "Numbers are read as in job files: plain decimals (no hex, inf or nan) within the\n"
    "ranges of the matching job-file keys (docs/config.md). --set, --ligand and\n"
    "--attack repeat; every other option may be given once.\n"
    "\n"
    "examples:\n"
    "  kpsweep solve --model shp1 --ligand 10:1000 --ligand 1:10000 --json\n"
    "  kpsweep solve --model ideal --ligand 4:4000 --ligand 1:6000 --attack all\n";

enum { ATK_FGSM_L = 1, ATK_FGSM_TAU = 2, ATK_PGD = 4, ATK_DESCENT = 8 };

typedef struct solve_opts {
  const kps_model *m;
  const kps_model *owned; /* a job's network model, taken over from its config */
  double p[KPS_MAX_PARAMS];
  int K;
  double tau[KPS_MAX_BINS], L[KPS_MAX_BINS];
  int n_self; /* the last n_self ligands are a job's self ligands: attacks never move them */
  double tau_c, L_ref, th_value;
  int L_ref_agonist; /* L_ref is the first ligand's dose */
  int explicit_th, json, list;
  int tau_c_fixed; /* the model's own tau_c was set (else it follows tau_c) */
  unsigned attacks;
  kps_solver_config solver;
  kps_attack_config attack;
  /* The sweep point of a --config job: axis names, values and indices. */
  int n_point;
  char point_name[KPS_MAX_AXES + 2][64];
  double point_value[KPS_MAX_AXES + 2];
  size_t point_index[KPS_MAX_AXES + 2], point_len[KPS_MAX_AXES + 2];
  int point_chosen; /* some axis was picked with --at */
} solve_opts;

static void json_num(double v) {
  if (isfinite(v)) printf("%.17g", v);
  else if (isinf(v)) printf("\"%sinf\"", v < 0 ? "-" : "");
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
    char range[64];
    kps_param_range_text(pi, range, sizeof range);
    printf("  %-8s default %-10g range %s%s %s - %s\n", pi->name, pi->def, range,
           pi->flags & KPS_PARAM_INTEGER ? " integer" : "", pi->unit, pi->doc);
  }
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Reports a usage error; exit status 2. */
static int fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "kpsweep solve: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\nTry 'kpsweep solve --help'.\n");
  va_end(ap);
  return KPS_EXIT_USAGE;
}

/* The options: whether each takes a value and whether it may repeat. */
enum {
  OPT_CONFIG, OPT_MODEL, OPT_SET, OPT_LIGAND, OPT_TAU_C, OPT_L_REF, OPT_TH_VALUE, OPT_RTOL,
  OPT_ATTACK, OPT_DESCENT_METHOD, OPT_DIRECTION, OPT_MOVABLE, OPT_JSON, OPT_LIST, OPT_AT, N_OPTS
};
static const struct {
  const char *name;
  int value, repeat;
} options[N_OPTS] = {
    [OPT_CONFIG] = {"--config", 1, 0},      [OPT_MODEL] = {"--model", 1, 0},
    [OPT_SET] = {"--set", 1, 1},            [OPT_LIGAND] = {"--ligand", 1, 1},
    [OPT_TAU_C] = {"--tau-c", 1, 0},        [OPT_L_REF] = {"--L-ref", 1, 0},
    [OPT_TH_VALUE] = {"--threshold-value", 1, 0},
    [OPT_RTOL] = {"--rtol", 1, 0},          [OPT_ATTACK] = {"--attack", 1, 1},
    [OPT_DESCENT_METHOD] = {"--descent-method", 1, 0},
    [OPT_DIRECTION] = {"--direction", 1, 0}, [OPT_MOVABLE] = {"--movable", 1, 0},
    [OPT_JSON] = {"--json", 0, 1},          [OPT_LIST] = {"--list-params", 0, 1},
    [OPT_AT] = {"--at", 1, 1},
};

/* The command line, checked for form; values are read in apply_args. */
typedef struct given {
  const char *value[N_OPTS]; /* single-valued options */
  const char *sets[KPS_MAX_PARAMS], *ligands[KPS_MAX_BINS], *ats[KPS_MAX_AXES + 2];
  int n_sets, n_ligands, n_ats;
} given;

/*
 * Picks the sweep point: index 0 of every axis, then the --at choices,
 * whose values must lie on their axis (to 1e-12 relative).
 */
static int pick_point(solve_opts *o, const kps_config *cfg, const char *const *ats, int n_ats,
                      int have_ligands) {
  const kps_axis *axes[KPS_MAX_AXES + 2];
  int n = 0;
  for (size_t a = 0; a < cfg->n_axes; ++a) axes[n++] = &cfg->axes[a];
  axes[n++] = &cfg->L2;
  axes[n++] = &cfg->tau2;
  o->n_point = n;
  for (int a = 0; a < n; ++a) {
    snprintf(o->point_name[a], sizeof o->point_name[a], "%s", axes[a]->name);
    o->point_index[a] = 0, o->point_len[a] = axes[a]->n, o->point_value[a] = axes[a]->values[0];
  }
  unsigned picked = 0;
  for (int i = 0; i < n_ats; ++i) {
    const char *v = ats[i], *eq = strchr(v, '=');
    int a = 0;
    while (eq && a < n && (strlen(o->point_name[a]) != (size_t)(eq - v) ||
                           strncmp(o->point_name[a], v, (size_t)(eq - v))))
      ++a;
    if (!eq || a == n) {
      char names[512] = "";
      for (int b = 0; b < n; ++b)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", b ? ", " : "",
                 o->point_name[b]);
      return fail("--at %s: wants NAME=VALUE with NAME one of the job's axes: %s", v, names);
    }
    if (picked & (1u << a)) return fail("--at %s: axis %s given twice", v, o->point_name[a]);
    if (have_ligands && (a >= n - 2 || axes[a]->param < 0))
      return fail("--at %s: the ligands come from --ligand, so %s cannot be picked", v,
                  o->point_name[a]);
    picked |= 1u << a;
    char *end = NULL;
    const double x = strtod(eq + 1, &end);
    if (end == eq + 1 || *end || !isfinite(x)) return fail("--at %s: not a number", v);
    size_t best = 0;
    for (size_t k = 1; k < axes[a]->n; ++k)
      if (fabs(axes[a]->values[k] - x) < fabs(axes[a]->values[best] - x)) best = k;
    const double near = axes[a]->values[best];
    if (fabs(near - x) > 1e-12 * fmax(fabs(near), fabs(x)))
      return fail("--at %s: not a value of the axis %s (the nearest is %.17g, index %zu)", v,
                  o->point_name[a], near, best);
    o->point_index[a] = best, o->point_value[a] = near;
  }
  o->point_chosen = picked != 0;
  return KPS_EXIT_OK;
}

/* Reads a job file as `run` does (not collective: solve runs on one rank). */
static int from_config(solve_opts *o, const char *path, const given *g) {
  kps_config cfg;
  kps_config_defaults(&cfg);
  /* kps_config_load names the file and says why it cannot be used. */
  const kps_err rc = kps_config_load(&cfg, path, MPI_COMM_SELF);
  int code = KPS_EXIT_OK;
  if (rc == KPS_OK) {
    o->m = cfg.model;
    memcpy(o->p, cfg.params, sizeof o->p);
    o->tau_c = cfg.tau_c, o->L_ref = cfg.L_ref, o->L_ref_agonist = cfg.L_ref_agonist;
    const int j_tc = kps_model_param_index(cfg.model, "tau_c");
    o->tau_c_fixed = j_tc >= 0 && cfg.params[j_tc] != cfg.tau_c;
    o->explicit_th = cfg.threshold_explicit, o->th_value = cfg.threshold_value;
    o->solver = cfg.solver;
    o->attack = cfg.attack;
    code = pick_point(o, &cfg, g->ats, g->n_ats, g->n_ligands > 0);
    /* The point's line (row-major over the axes and L2) gives its inputs, as in a run. */
    size_t line = 0;
    for (int a = 0; a < o->n_point - 1; ++a) line = line * o->point_len[a] + o->point_index[a];
    kps_line_inputs li;
    kps_config_line_inputs(&cfg, line, &li);
    memcpy(o->p, li.p, sizeof(double) * (size_t)cfg.model->n_params);
    o->K = kps_attack_histogram(&cfg.attack, o->tau, o->L);
    if (o->K == 0) {
      o->K = kps_config_ligands(&cfg, &li, o->point_value[o->n_point - 1], o->tau, o->L);
      o->n_self = (int)cfg.n_self;
    }
    /* A network model belongs to its config: keep it beyond the config. */
    if (kps_model_is_network(cfg.model)) o->owned = cfg.model, cfg.model = NULL;
  }
  kps_config_destroy(&cfg);
  if (rc != KPS_OK) return kps_exit_code(rc == KPS_ERR_IO ? KPS_ERR_CONFIG : rc);
  return code;
}


static int scan_args(given *g, solve_opts *o, int argc, char **argv) {
  int seen[N_OPTS] = {0};
  for (int i = 0; i < argc; ++i) {
    const char *a = argv[i];
    int k = 0;
    while (k < N_OPTS && strcmp(a, options[k].name)) ++k;
    if (k == N_OPTS)
      return a[0] == '-' ? fail("unknown option '%s'", a)
                         : fail("unexpected argument '%s' (solve takes options only)", a);
    if (++seen[k] > 1 && !options[k].repeat) return fail("%s given more than once", a);
    if (!options[k].value) {
      if (k == OPT_JSON) o->json = 1;
      else o->list = 1;
      continue;
    }
    if (i + 1 >= argc) return fail("%s needs a value", a);
    const char *v = argv[++i];
    if (!v[0]) return fail("%s: empty value", a);
    if (k == OPT_SET) {
      if (g->n_sets == KPS_MAX_PARAMS) return fail("more than %d --set options", KPS_MAX_PARAMS);
      g->sets[g->n_sets++] = v;
    } else if (k == OPT_AT) {
      if (g->n_ats == KPS_MAX_AXES + 2) return fail("more --at options than axes");
      g->ats[g->n_ats++] = v;
    } else if (k == OPT_LIGAND) {
      if (g->n_ligands == KPS_MAX_BINS) return fail("more than %d --ligand options", KPS_MAX_BINS);
      g->ligands[g->n_ligands++] = v;
    } else if (k == OPT_ATTACK) {
      const unsigned bit = !strcmp(v, "fgsm_L") ? ATK_FGSM_L : !strcmp(v, "fgsm_tau") ? ATK_FGSM_TAU
                           : !strcmp(v, "pgd") ? ATK_PGD : !strcmp(v, "descent") ? ATK_DESCENT
                           : !strcmp(v, "all") ? 15u : 0u;
      if (!bit) return fail("unknown attack '%s' (fgsm_L, fgsm_tau, pgd, descent, all)", v);
      o->attacks |= bit;
    } else {
      g->value[k] = v;
    }
  }
  if (g->value[OPT_L_REF] && g->value[OPT_TH_VALUE])
    return fail("--L-ref and --threshold-value exclude each other");
  return KPS_EXIT_OK;
}

/* A number of an option, with the range and syntax of its job-file key. */
static int option_number(const char *opt, const char *key, const char *v, double *x) {
  char why[1024];
  if (kps_config_number(key, v, x, why, sizeof why) != KPS_OK)
    return fail("%s %s: %s (as %s in a job file)", opt, v, why, key);
  return KPS_EXIT_OK;
}

/* --ligand TAU:L, each part as the agonist's tau and L in a job file. */
static int parse_ligand(const char *v, double *tau, double *L) {
  char b[256];
  const char *colon = strchr(v, ':');
  if (!colon || strlen(v) >= sizeof b) return fail("--ligand wants TAU:L, got '%s'", v);
  memcpy(b, v, (size_t)(colon - v));
  b[colon - v] = '\0';
  char why[1024];
  if (kps_config_number("agonist.tau", b, tau, why, sizeof why) != KPS_OK)
    return fail("--ligand %s: TAU: %s", v, why);
  if (kps_config_number("agonist.L", colon + 1, L, why, sizeof why) != KPS_OK)
    return fail("--ligand %s: L: %s", v, why);
  return KPS_EXIT_OK;
}

/* --set NAME=VALUE: VALUE within the parameter's range, as in `params:`. */
static int parse_set(solve_opts *o, const char *v, unsigned *set_mask) {
  char name[64], why[1024];
  const char *eq = strchr(v, '=');
  if (!eq || eq == v) return fail("--set wants NAME=VALUE, got '%s'", v);
  const size_t n = (size_t)(eq - v);
  int j = -1;
  if (n < sizeof name) {
    memcpy(name, v, n);
    name[n] = '\0';
    j = kps_model_param_index(o->m, name);
  }
  if (j < 0) return fail("--set %s: no such parameter in model %s (see --list-params)", v, o->m->name);
  if (*set_mask & (1u << j)) return fail("--set %s: parameter %s given more than once", v, name);
  *set_mask |= 1u << j;
  if (kps_config_param_number(o->m, j, eq + 1, &o->p[j], why, sizeof why) != KPS_OK)
    return fail("--set %s: %s", v, why);
  if (!strcmp(name, "tau_c")) o->tau_c_fixed = 1;
  return KPS_EXIT_OK;
}

static int parse_args(solve_opts *o, int argc, char **argv) {
  given g;
  memset(&g, 0, sizeof g);
  int code = scan_args(&g, o, argc, argv);
  const char *const *val = g.value;
  /* Order of application: the job file, then the options that override it. */
  if (!code && g.n_ats > 0 && !val[OPT_CONFIG])
    return fail("--at picks a point of a job's sweep: it needs --config");
  if (!code && val[OPT_CONFIG]) code = from_config(o, val[OPT_CONFIG], &g);
  if (code) return code;
  if (val[OPT_MODEL] && g.n_ats > 0)
    return fail("--at with --model: the point belongs to the job's own model");
  if (val[OPT_MODEL]) {
    if (!(o->m = kps_model_find(val[OPT_MODEL])))
      return fail("unknown model '%s' (see kpsweep solve --help)", val[OPT_MODEL]);
    /* The model's own defaults, not those of a job file's other model
     * (whose sweep point then does not apply either). */
    kps_model_defaults(o->m, o->p);
    o->tau_c_fixed = 0;
    o->n_point = 0;
  }
  double x;
  if (val[OPT_TAU_C]) {
    if ((code = option_number("--tau-c", "threshold.tau_c", val[OPT_TAU_C], &x))) return code;
    o->tau_c = x;
  }
  if (val[OPT_L_REF] && !strcmp(val[OPT_L_REF], "agonist")) {
    o->L_ref_agonist = 1, o->L_ref = NAN, o->explicit_th = 0;
  } else if (val[OPT_L_REF]) {
    if ((code = option_number("--L-ref", "threshold.L_ref", val[OPT_L_REF], &x))) return code;
    o->L_ref = x, o->L_ref_agonist = 0, o->explicit_th = 0;
  }
  if (val[OPT_TH_VALUE]) {
    if ((code = option_number("--threshold-value", "threshold.value", val[OPT_TH_VALUE], &x)))
      return code;
    o->explicit_th = 1, o->th_value = x;
  }
  if (val[OPT_RTOL]) {
    if ((code = option_number("--rtol", "solver.rtol", val[OPT_RTOL], &x))) return code;
    o->solver.rtol = x;
  }
  const char *v = val[OPT_DIRECTION];
  if (v && strcmp(v, "off") && strcmp(v, "on")) return fail("--direction wants off or on, got '%s'", v);
  if (v) o->attack.direction = !strcmp(v, "on") ? KPS_DIR_ON : KPS_DIR_OFF;
  v = val[OPT_DESCENT_METHOD];
  if (v && strcmp(v, "published") && strcmp(v, "normalized"))
    return fail("--descent-method wants published or normalized, got '%s'", v);
  if (v) o->attack.descent_method = !strcmp(v, "published") ? KPS_DESCENT_PUBLISHED : KPS_DESCENT_NORMALIZED;
  v = val[OPT_MOVABLE];
  if (v && strcmp(v, "below") && strcmp(v, "all")) return fail("--movable wants below or all, got '%s'", v);
  if (v) o->attack.movable = !strcmp(v, "all") ? KPS_MOVE_ALL : KPS_MOVE_BELOW_THRESHOLD;
  for (int i = 0; i < g.n_ligands; ++i)
    if ((code = parse_ligand(g.ligands[i], &o->tau[i], &o->L[i]))) return code;
  if (g.n_ligands > 0) o->K = g.n_ligands, o->n_self = 0;
  unsigned set_mask = 0;
  for (int s = 0; s < g.n_sets; ++s)
    if ((code = parse_set(o, g.sets[s], &set_mask))) return code;
  /* As in jobs: a model's own tau_c follows the threshold's unless set. */
  const int j_tc = kps_model_param_index(o->m, "tau_c");
  if (j_tc >= 0 && !o->tau_c_fixed) o->p[j_tc] = o->tau_c;
  char why[256];
  if (o->m->check_params && o->m->check_params(o->m, o->p, why, sizeof why)) return fail("%s", why);
  /* The descent moves the given ligands as individuals, as a job's histogram. */
  if (o->attacks & ATK_DESCENT) {
    double total = 0.0;
    for (int i = 0; i < o->K; ++i) total += floor(o->L[i] + 0.5);
    if (total > KPS_MAX_LIGANDS)
      return fail("--attack descent: the ligands add up to %.17g individual ligands, more than "
                  "the limit of %.0f a job's histogram has", total, KPS_MAX_LIGANDS);
  }
  return KPS_EXIT_OK;
}

/* The descent's final histogram: its nonempty grid bins (centre, count). */
static void print_histogram(const kps_descent_result *r, double w, int json) {
  int first = 1;
  for (int k = 0; k < r->n_grid; ++k) {
    if (r->hist[k] == 0) continue;
    const double c = ((double)k + 0.5) * w;
    if (json) {
      printf("%s{\"tau\": ", first ? "" : ", ");
      json_num(c);
      printf(", \"L\": %d}", (int)r->hist[k]);
    } else {
      printf("           final bin %-3d tau=%-10.6g L=%d\n", k, c, (int)r->hist[k]);
    }
    first = 0;
  }
}

/* Runs the requested attacks and prints their outcomes (JSON: an object). */
static void run_attacks(const solve_opts *o, kps_solver *s, double O_th, double *y) {
  kps_probe pr = {.s = s, .m = o->m, .p = o->p, .y = y};
  uint8_t mov[KPS_MAX_BINS];
  kps_attack_movable(&o->attack, o->tau_c, o->K, o->tau, mov);
  for (int i = o->K - o->n_self; i < o->K; ++i) mov[i] = 0; /* self ligands, as in a run */
  kps_attack_config a = o->attack;
  if (!(a.fgsm_eps_tau_max > 0) || !isfinite(a.fgsm_eps_tau_max)) a.fgsm_eps_tau_max = o->tau_c;
  if (o->json) printf(",\n  \"attacks\": {");
  int first = 1;
  for (int space = 0; space < 2; ++space) {
    if (!(o->attacks & (space ? ATK_FGSM_TAU : ATK_FGSM_L))) continue;
    kps_fgsm_result r;
    kps_probe_reset(&pr, o->K, o->tau, o->L);
    int st = kps_attack_fgsm(&pr, &a, o->tau_c, O_th, mov, space, NULL, &r);
    const char *name = space ? "fgsm_tau" : "fgsm_L";
    if (o->json) {
      printf("%s\n    \"%s\": {\"status\": \"%s\", \"applicable\": %s, \"eps_star\": ", first ? "" : ",",
             name, kps_status_name(st), r.applicable ? "true" : "false");
      json_num(r.eps_star);
      printf(", \"output\": ");
      json_num(r.O_new);
      printf(", \"decision\": %d}", r.decision);
    } else if (!r.applicable) {
      printf("attack     %-9s not applicable (the decision is already the target)\n", name);
    } else {
      printf("attack     %-9s smallest flipping eps = %.10g -> O = %.8g, decision %d\n", name,
             r.eps_star, r.O_new, r.decision);
    }
    first = 0;
  }
  if (o->attacks & ATK_PGD) {
    kps_pgd_result r;
    kps_probe_reset(&pr, o->K, o->tau, o->L);
    int st = kps_attack_pgd(&pr, &a, o->tau_c, O_th, mov, NULL, NULL, &r);
    if (o->json) {
      printf("%s\n    \"pgd\": {\"status\": \"%s\", \"applicable\": %s, \"flipped\": %s, \"steps\": %d, "
             "\"output\": ", first ? "" : ",", kps_status_name(st), r.applicable ? "true" : "false",
             r.flipped ? "true" : "false", r.steps);
      json_num(r.O_final);
      printf("}");
    } else {
      printf("attack     pgd       %s after %d steps (eps %g, step %g) -> O = %.8g\n",
             !r.applicable ? "not applicable" : r.flipped ? "flipped" : "did not flip", r.steps,
             a.pgd_eps, a.pgd_step, r.O_final);
    }
    first = 0;
  }
  if (o->attacks & ATK_DESCENT) {
    kps_descent_result r;
    int st = KPS_ST_SOLVER_ERROR;
    memset(&r, 0, sizeof r);
    if (a.descent_method == KPS_DESCENT_PUBLISHED) {
      /* The given ligands, as individuals (not a job's histogram). */
      kps_attack_config given = a;
      given.n_bins = given.n_draw = 0;
      double *lig = NULL;
      size_t n_lig = 0;
      if (kps_attack_ligands(&given, o->K, o->tau, o->L, &lig, &n_lig) == KPS_OK)
        st = kps_attack_descent_published(&pr, &a, o->tau_c, O_th, lig, n_lig, &r);
      free(lig);
    } else {
      kps_probe_reset(&pr, o->K, o->tau, o->L);
      st = kps_attack_descent(&pr, &a, o->tau_c, O_th, mov, &r);
    }
    if (o->json) {
      printf("%s\n    \"descent\": {\"status\": \"%s\", \"method\": \"%s\", \"applicable\": %s, "
             "\"flipped\": %s, \"steps\": %d, \"tau_mean\": ", first ? "" : ",", kps_status_name(st),
             a.descent_method == KPS_DESCENT_PUBLISHED ? "published" : "normalized",
             r.applicable ? "true" : "false", r.flipped ? "true" : "false", r.steps);
      json_num(r.tau_mean);
      printf(", \"frac_near0\": ");
      json_num(r.frac_near0);
      printf(", \"output_start\": ");
      json_num(r.O0);
      printf(", \"output\": ");
      json_num(r.O_final);
      printf(", \"final\": [");
      print_histogram(&r, a.bin_width, 1);
      printf("]}");
    } else {
      printf("attack     descent   %s after %d steps (eta %g); moved ligands: mean tau %.6g, "
             "%.1f%% near tau = 0\n",
             !r.applicable ? "not applicable" : r.flipped ? "flipped" : "did not flip", r.steps,
             a.descent_eta, r.tau_mean, 100 * r.frac_near0);
      if (r.applicable) print_histogram(&r, a.bin_width, 0);
    }
  }
  if (o->json) printf("\n  }");
}

static void print_result(const solve_opts *o, const double *y, int n, const kps_eval *ev,
                         int status, double O_th, int th_status, double usec) {
  const kps_model *m = o->m;
  const int K = o->K;
  const int decision = kps_status_is_ok(status) && kps_status_is_ok(th_status) ? ev->O > O_th : -1;
  if (!o->json) {
    printf("model      %s\n", m->name);
    if (o->n_point > 0) {
      printf("point     ");
      for (int a = 0; a < o->n_point; ++a)
        printf(" %s=%g [%zu of %zu]", o->point_name[a], o->point_value[a], o->point_index[a] + 1,
               o->point_len[a]);
      printf("%s\n", o->point_chosen ? "" : "  (the first of each axis; pick with --at NAME=VALUE)");
    }
    printf("params    ");
    for (int j = 0; j < m->n_params; ++j) printf(" %s=%g", m->params[j].name, o->p[j]);
    printf("\n");
    for (int i = 0; i < K; ++i) printf("ligand %-3d tau=%-10g L=%g\n", i, o->tau[i], o->L[i]);
    printf("status     %s (%s)\n", kps_status_name(status), kps_status_doc(status));
    if (kps_status_is_ok(status))
      for (int k = 0; k < n; ++k) {
        char nm[64];
        m->state_name(m, o->p, K, k, nm, sizeof nm);
        printf("state      %-10s %.10g\n", nm, y[k]);
      }
    printf("output     O = %.12g\n", ev->O);
    printf("threshold  O_th = %.12g (%s)\n", O_th,
           o->explicit_th ? "explicit" : "one ligand type at tau_c, L_ref");
    printf("decision   %s (O/O_th = %.6g)\n",
           decision < 0 ? "unknown" : decision ? "respond" : "no response", ev->O / O_th);
    for (int i = 0; i < K; ++i)
      printf("gradient   dO/dtau_%d = %-14.8g dO/dL_%d = %.8g\n", i, ev->dO_dtau[i], i, ev->dO_dL[i]);
    for (int j = 0; j < m->n_params; ++j)
      if (!(m->params[j].flags & KPS_PARAM_INTEGER))
        printf("gradient   dO/d%-7s = %.8g\n", m->params[j].name, ev->dO_dp[j]);
    if (!isnan(ev->adjoint_check))
      printf("adjoint    componentwise backward error %.2g (tolerance 1e-10)\n", ev->adjoint_check);
    if (!isnan(ev->grad_error))
      printf("gradients  estimated relative rounding error %.2g (target 1e-8)\n", ev->grad_error);
    printf("solver     %ld CVODE steps, %ld rhs, %ld Jacobians, %ld Newton iterations, %.1f us\n",
           ev->stats.cv_steps, ev->stats.cv_rhs, ev->stats.cv_jac, ev->stats.newton_iters, usec);
    return;
  }
  printf("{\n  \"model\": \"%s\",\n", m->name);
  if (o->n_point > 0) {
    printf("  \"point\": {");
    for (int a = 0; a < o->n_point; ++a) {
      printf("%s\"%s\": ", a ? ", " : "", o->point_name[a]);
      json_num(o->point_value[a]);
    }
    printf("},\n  \"point_index\": {");
    for (int a = 0; a < o->n_point; ++a)
      printf("%s\"%s\": %zu", a ? ", " : "", o->point_name[a], o->point_index[a]);
    printf("},\n");
  }
  printf("  \"params\": {");
  for (int j = 0; j < m->n_params; ++j) {
    printf("%s\"%s\": ", j ? ", " : "", m->params[j].name);
    json_num(o->p[j]);
  }
  printf("},\n  \"ligands\": [");
  for (int i = 0; i < K; ++i) {
    printf("%s{\"tau\": ", i ? ", " : "");
    json_num(o->tau[i]);
    printf(", \"L\": ");
    json_num(o->L[i]);
    printf("}");
  }
  printf("],\n  \"state\": ");
  if (n > 0 && kps_status_is_ok(status)) json_array(y, n);
  else printf(n > 0 ? "null" : "[]");
  printf(",\n  \"state_names\": [");
  for (int k = 0; k < n; ++k) {
    char nm[64];
    m->state_name(m, o->p, K, k, nm, sizeof nm);
    printf("%s\"%s\"", k ? ", " : "", nm);
  }
  printf("],\n  \"output\": ");
  json_num(ev->O);
  printf(",\n  \"threshold\": {\"value\": ");
  json_num(O_th);
  printf(", \"explicit\": %s, \"tau_c\": ", o->explicit_th ? "true" : "false");
  json_num(o->tau_c);
  printf(", \"L_ref\": ");
  json_num(kps_threshold_L_ref(m, o->p, o->L_ref));
  printf(", \"status\": \"%s\"},\n  \"decision\": %d,\n  \"margin\": ", kps_status_name(th_status),
         decision);
  json_num(log(ev->O / O_th));
  printf(",\n  \"grad_tau\": ");
  json_array(ev->dO_dtau, K);
  printf(",\n  \"grad_L\": ");
  json_array(ev->dO_dL, K);
  printf(",\n  \"grad_params\": {");
  int first = 1;
  for (int j = 0; j < m->n_params; ++j) {
    if (m->params[j].flags & KPS_PARAM_INTEGER) continue;
    printf("%s\"%s\": ", first ? "" : ", ", m->params[j].name);
    json_num(ev->dO_dp[j]);
    first = 0;
  }
  printf("},\n  \"adjoint_check\": ");
  json_num(ev->adjoint_check);
  printf(",\n  \"grad_error\": ");
  json_num(ev->grad_error);
  printf(",\n  \"status\": \"%s\",\n  \"status_code\": %d,\n", kps_status_name(status), status);
  printf("  \"solver\": {\"steps\": %ld, \"rhs_evals\": %ld, \"jac_evals\": %ld, "
         "\"newton_iters\": %ld, \"t_steady\": ",
         ev->stats.cv_steps, ev->stats.cv_rhs, ev->stats.cv_jac, ev->stats.newton_iters);
  json_num(ev->stats.t_steady);
  printf(", \"time_us\": %.1f}", usec);
}

int kps_cmd_solve(int argc, char **argv, MPI_Comm comm) {
  if (!kps_is_root(comm)) return KPS_EXIT_OK;
  if (kps_hdf5_quiet() != KPS_OK) return KPS_EXIT_FAILURE;
  for (int i = 0; i < argc; ++i)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      fputs(solve_help, stdout);
      return KPS_EXIT_OK;
    }
  solve_opts *o = calloc(1, sizeof *o);
  if (!o) return KPS_EXIT_FAILURE;
  kps_config defaults;
  kps_config_defaults(&defaults);
  o->solver = defaults.solver;
  o->attack = defaults.attack;
  kps_config_destroy(&defaults);
  o->m = kps_model_find("adaptive_sorting");
  kps_model_defaults(o->m, o->p);
  o->tau_c = 3.0, o->L_ref = NAN, o->th_value = NAN;
  o->tau[0] = 4.0, o->L[0] = 4000.0, o->tau[1] = 1.0, o->L[1] = 6000.0;
  o->K = 2;
  kps_solver *solver = NULL;
  double *y = NULL, *gt = NULL, *gL = NULL;
  int code = parse_args(o, argc, argv);
  if (code != KPS_EXIT_OK || o->list) {
    if (o->list) list_params(o->m);
    goto cleanup;
  }
  code = KPS_EXIT_FAILURE;
  if (kps_solver_create(&o->solver, &solver) != KPS_OK) goto cleanup;
  const int n = kps_model_state_size(o->m, o->p, o->K);
  y = calloc((size_t)(n > 0 ? n : 1), sizeof(double));
  gt = calloc((size_t)o->K, sizeof(double));
  gL = calloc((size_t)o->K, sizeof(double));
  double gp[KPS_MAX_PARAMS];
  if (!y || !gt || !gL) goto cleanup;
  const kps_inputs in = {.p = o->p, .K = o->K, .tau = o->tau, .L = o->L};
  kps_eval ev = {.dO_dtau = gt, .dO_dL = gL, .dO_dp = gp};
  const double t0 = kps_now();
  const int status = kps_evaluate(solver, o->m, &in, y, 0, &ev);
  const double usec = 1e6 * (kps_now() - t0);
  double O_th = NAN;
  if (o->L_ref_agonist) o->L_ref = o->L[0];
  const int th_status =
      kps_threshold(solver, o->m, o->p, o->explicit_th, o->th_value, o->tau_c, o->L_ref, &O_th);
  print_result(o, y, n, &ev, status, O_th, th_status, usec);
  if (o->attacks && kps_status_is_ok(status) && kps_status_is_ok(th_status)) {
    /* The published descent may fill every bin of the grid. */
    const int grid = (int)kps_attack_grid_bins(&o->attack);
    const int K_att = o->K > grid ? o->K : grid;
    const int n_att = kps_model_state_size(o->m, o->p, K_att);
    double *yp = calloc((size_t)(n_att > 0 ? n_att : 1), sizeof(double));
    if (yp) run_attacks(o, solver, O_th, yp);
    free(yp);
  }
  if (o->json) printf("\n}\n");
  code = kps_status_is_ok(status) ? KPS_EXIT_OK : KPS_EXIT_FAILURE;
cleanup:
  free(y), free(gt), free(gL);
  kps_solver_destroy(&solver);
  kps_network_destroy(o->owned);
  free(o);
  return code;
}
