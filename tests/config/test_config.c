/*
 * Unit tests of the config module: a full valid config read back field by
 * field, axis expansion, defaults, line ordering, the canonical text, and
 * every documented error with its exact position and key. kps_config_parse
 * is not collective, so no MPI_Init is needed.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kpsweep/config.h"
#include "tests/tap.h"

static const char full_yaml[] =
    "# a full config\n"                                           /* 1 */
    "name: demo\n"                                                /* 2 */
    "model: adaptive_sorting\n"                                   /* 3 */
    "params:\n"                                                   /* 4 */
    "  m: 1\n"                                                    /* 5 */
    "  kappa: 2.0e-4\n"                                           /* 6 */
    "axes:\n"                                                     /* 7 */
    "  N: {values: [2, 3, 4]}\n"                                  /* 8 */
    "  phi: {log: [1.0e-3, 1.0e-1, 3]}\n"                         /* 9 */
    "  delta: {linear: [0, 1, 5]}\n"                              /* 10 */
    "agonist: {tau: 4.5, L: 3000}\n"                              /* 11 */
    "antagonist:\n"                                               /* 12 */
    "  tau: {linear: [0.1, 2.9, 200]}\n"                          /* 13 */
    "  L: [1000, 6000]\n"                                         /* 14 */
    "threshold:\n"                                                /* 15 */
    "  tau_c: 2.5\n"                                              /* 16 */
    "  L_ref: 1.0e5\n"                                            /* 17 */
    "  value: 12.5\n"                                             /* 18 */
    "solver: {rtol: 1.0e-7, atol_rel: 1.0e-11, newton_tol: 1.0e-9, "
    "t_max: 1.0e6, max_steps: 30000, warm_start: false}\n"        /* 19 */
    "run: {output: results/x.h5, checkpoint_every: 30, chunk: 4, "
    "memory_limit_mb: 512, progress_every: 5, writers: 3}\n"      /* 20 */
    "stats: {boundary: true, line_stats: no}\n"                   /* 21 */
    "attacks:\n"                                                  /* 22 */
    "  enabled: yes\n"                                            /* 23 */
    "  direction: on\n"                                           /* 24 */
    "  movable: all\n"                                            /* 25 */
    "  fgsm_L: false\n"                                           /* 26 */
    "  fgsm_tau: true\n"                                          /* 27 */
    "  fgsm_eps_L_max: 1.0e6\n"                                   /* 28 */
    "  fgsm_eps_tau_max: 2.0\n"                                   /* 29 */
    "  tau_min: .5e-3\n"                                          /* 30 */
    "  descent: false\n"                                          /* 31 */
    "  descent_eta: 0.3\n"                                        /* 32 */
    "  descent_max_steps: 500\n"                                  /* 33 */
    "  pgd: true\n"                                               /* 34 */
    "  pgd_eps: 0.4\n"                                            /* 35 */
    "  pgd_step: 0.04\n"                                          /* 36 */
    "  pgd_steps: 10\n"                                           /* 37 */
    "  bin_width: 0.1\n"                                          /* 38 */
    "  tau_max: 7.0\n"                                            /* 39 */
    "  seed: 18446744073709551615\n"                              /* 40 */
    "  histogram:\n"                                              /* 41 */
    "    bins: [{tau: 3.5, L: 4000}, {tau: 0.2, L: 10000}]\n"     /* 42 */
    "landscape:\n"                                               /* 43 */
    "  enabled: true\n"
    "  n: 5\n"
    "  eps_max: 100\n"
    "  seed: 9\n";

/* The same numbers written differently, with another name and run section. */
static const char full_yaml_restyled[] =
    "model: adaptive_sorting   # comment\n"
    "name: other\n"
    "params: {kappa: 0.0002, m: 1}\n"
    "axes:\n"
    "    N:\n"
    "      values:\n"
    "        - 2\n"
    "        - 3\n"
    "        - 4\n"
    "    phi: {log: [0.001, 0.1, 3]}\n"
    "    delta: {values: [0, 0.25, 0.5, 0.75, 1]}\n"
    "antagonist: {L: [1000, 6000], tau: {linear: [0.1, 2.9, 200]}}\n"
    "agonist: {L: 3000, tau: 4.5}\n"
    "threshold: {value: 12.5, tau_c: 2.5, L_ref: 100000}\n"
    "solver: {warm_start: no, rtol: 1e-7, atol_rel: 1e-11, newton_tol: 1e-9,\n"
    "         t_max: 1e6, max_steps: 3.0e4}\n"
    "stats: {line_stats: false}\n"
    "attacks:\n"
    "  enabled: true\n"
    "  direction: ON\n"
    "  movable: all\n"
    "  fgsm_L: no\n"
    "  fgsm_eps_L_max: 1000000\n"
    "  fgsm_eps_tau_max: 2\n"
    "  tau_min: 0.0005\n"
    "  descent: no\n"
    "  descent_eta: 0.3\n"
    "  descent_max_steps: 500\n"
    "  pgd_eps: 0.4\n"
    "  pgd_step: 0.04\n"
    "  pgd_steps: 10\n"
    "  bin_width: 0.1\n"
    "  tau_max: 7\n"
    "  seed: 18446744073709551615\n"
    "  histogram:\n"
    "    bins:\n"
    "      - {L: 4000, tau: 3.5}\n"
    "      - {tau: 0.2, L: 10000}\n"
    "run: {output: elsewhere.h5, chunk: 9}\n"
    "landscape: {seed: 9, eps_max: 1e2, enabled: yes, n: 5}\n";

static kps_err parse(kps_config *cfg, const char *source, const char *text,
                     char *err, size_t errlen) {
  kps_config_defaults(cfg);
  return kps_config_parse(cfg, source, text, strlen(text), err, errlen);
}

static int param(const kps_config *cfg, const char *name) {
  return kps_model_param_index(cfg->model, name);
}

static void test_defaults(void) {
  kps_config cfg;
  kps_config_defaults(&cfg);
  tap_ok(cfg.model == NULL && cfg.n_axes == 0, "defaults: no model, no axes");
  tap_ok(cfg.agonist_tau == 4.0 && cfg.agonist_L == 4000.0,
         "defaults: agonist 4 s, 4000");
  tap_ok(cfg.tau_c == 3.0 && isnan(cfg.L_ref) && !cfg.threshold_explicit,
         "defaults: tau_c 3, L_ref NaN, no explicit threshold");
  tap_ok(cfg.solver.rtol == 1e-6 && cfg.solver.atol_rel == 1e-12 &&
             cfg.solver.newton_tol == 1e-10 && cfg.solver.t_max == 1e7 &&
             cfg.solver.max_steps == 20000 && cfg.solver.warm_start == 1,
         "defaults: solver");
  tap_ok(cfg.run.checkpoint_every == 60 && cfg.run.chunk == 0 &&
             cfg.run.memory_limit_mb == 1024 && cfg.run.progress_every == 2 &&
             cfg.run.writers == 1,
         "defaults: run");
  tap_ok(cfg.stats.boundary == 1 && cfg.stats.line_stats == 1,
         "defaults: stats");
  const kps_attack_config *a = &cfg.attack;
  tap_ok(!a->enabled && a->direction == KPS_DIR_OFF &&
             a->movable == KPS_MOVE_BELOW_THRESHOLD && a->fgsm_L &&
             a->fgsm_tau && a->descent && a->pgd,
         "defaults: attack switches");
  tap_ok(a->fgsm_eps_L_max == 1e7 && a->fgsm_eps_tau_max == 3.0 &&
             a->tau_min == 1e-3 && a->descent_eta == 0.2 &&
             a->descent_max_steps == 1000 && a->pgd_eps == 0.5 &&
             a->pgd_step == 0.05 && a->pgd_steps == 20 &&
             a->bin_width == 0.2 && a->tau_max == 6.0 && a->seed == 1 &&
             a->n_bins == 0 && a->n_draw == 0,
         "defaults: attack numbers");
  tap_ok(!a->descent_ligands && !cfg.landscape.enabled && cfg.landscape.eps_max == 2000 &&
             cfg.landscape.n == 21 && cfg.landscape.seed == 1,
         "defaults: descent_ligands off, landscape off, eps_max 2000, n 21, seed 1");
  kps_config_destroy(&cfg);
}

static void test_full(void) {
  kps_config cfg;
  char err[1024] = "";
  kps_err rc = parse(&cfg, "jobs/full.yaml", full_yaml, err, sizeof err);
  if (!tap_ok(rc == KPS_OK, "full config parses (%s)", err)) {
    kps_config_destroy(&cfg);
    return;
  }
  tap_ok(strcmp(cfg.name, "demo") == 0, "name: %s", cfg.name);
  tap_ok(cfg.model && strcmp(cfg.model->name, "adaptive_sorting") == 0,
         "model adaptive_sorting");
  tap_ok(cfg.text && cfg.text_len == strlen(full_yaml) &&
             memcmp(cfg.text, full_yaml, cfg.text_len) == 0,
         "text kept");
  tap_ok(cfg.params[param(&cfg, "m")] == 1.0, "params.m");
  tap_ok(cfg.params[param(&cfg, "kappa")] == 2.0e-4, "params.kappa");
  tap_ok(cfg.params[param(&cfg, "R")] == cfg.model->params[param(&cfg, "R")].def,
         "unset parameter keeps the model default");

  tap_ok(cfg.n_axes == 3, "three axes");
  const kps_axis *N = &cfg.axes[0], *phi = &cfg.axes[1], *delta = &cfg.axes[2];
  tap_ok(strcmp(N->name, "N") == 0 && N->param == param(&cfg, "N") &&
             N->kind == KPS_AXIS_VALUES && N->n == 3 && N->values[0] == 2 &&
             N->values[1] == 3 && N->values[2] == 4,
         "axis N = values [2, 3, 4]");
  tap_ok(N->line == 8 && N->column == 6, "axis N position %d:%d", N->line,
         N->column);
  tap_ok(strcmp(phi->name, "phi") == 0 && phi->kind == KPS_AXIS_LOG &&
             phi->n == 3,
         "axis phi is log with 3 values");
  tap_close(phi->values[0], 1e-3, 0, 0, "log axis start exact");
  tap_close(phi->values[1], 1e-2, 1e-14, 0, "log axis middle");
  tap_close(phi->values[2], 1e-1, 0, 0, "log axis stop exact");
  int lin_ok = delta->kind == KPS_AXIS_LINEAR && delta->n == 5;
  for (size_t i = 0; lin_ok && i < 5; ++i)
    lin_ok = fabs(delta->values[i] - 0.25 * (double)i) < 1e-15;
  tap_ok(lin_ok, "axis delta = linear [0, 0.25, 0.5, 0.75, 1]");

  tap_ok(cfg.tau2.n == 200 && cfg.tau2.kind == KPS_AXIS_LINEAR &&
             cfg.tau2.param == -1 && strcmp(cfg.tau2.name, "tau2") == 0,
         "tau2 axis: 200 linear values");
  tap_close(cfg.tau2.values[0], 0.1, 0, 0, "tau2 first");
  tap_close(cfg.tau2.values[1], 0.1 + 2.8 / 199, 1e-14, 0, "tau2 second");
  tap_close(cfg.tau2.values[199], 2.9, 0, 0, "tau2 last");
  tap_ok(cfg.L2.n == 2 && cfg.L2.values[0] == 1000 &&
             cfg.L2.values[1] == 6000 && strcmp(cfg.L2.name, "L2") == 0,
         "L2 = [1000, 6000]");
  tap_ok(cfg.agonist_tau == 4.5 && cfg.agonist_L == 3000, "agonist");
  tap_ok(cfg.tau_c == 2.5 && cfg.L_ref == 1e5 && cfg.threshold_explicit &&
             cfg.threshold_value == 12.5,
         "threshold");
  tap_ok(cfg.solver.rtol == 1e-7 && cfg.solver.atol_rel == 1e-11 &&
             cfg.solver.newton_tol == 1e-9 && cfg.solver.t_max == 1e6 &&
             cfg.solver.max_steps == 30000 && cfg.solver.warm_start == 0,
         "solver");
  tap_ok(strcmp(cfg.run.output, "results/x.h5") == 0 &&
             cfg.run.checkpoint_every == 30 && cfg.run.chunk == 4 &&
             cfg.run.memory_limit_mb == 512 && cfg.run.progress_every == 5 &&
             cfg.run.writers == 3,
         "run");
  tap_ok(cfg.stats.boundary == 1 && cfg.stats.line_stats == 0, "stats");
  const kps_attack_config *a = &cfg.attack;
  tap_ok(a->enabled == 1 && a->direction == KPS_DIR_ON &&
             a->movable == KPS_MOVE_ALL && a->fgsm_L == 0 && a->fgsm_tau == 1 &&
             a->descent == 0 && a->pgd == 1,
         "attack switches");
  tap_ok(a->fgsm_eps_L_max == 1e6 && a->fgsm_eps_tau_max == 2.0 &&
             a->tau_min == 0.5e-3 && a->descent_eta == 0.3 &&
             a->descent_max_steps == 500 && a->pgd_eps == 0.4 &&
             a->pgd_step == 0.04 && a->pgd_steps == 10 &&
             a->bin_width == 0.1 && a->tau_max == 7.0,
         "attack numbers");
  tap_ok(a->seed == UINT64_MAX, "seed takes the full uint64 range");
  tap_ok(a->n_bins == 2 && a->n_draw == 0 && a->bin_tau[0] == 3.5 &&
             a->bin_L[0] == 4000 && a->bin_tau[1] == 0.2 &&
             a->bin_L[1] == 10000,
         "histogram bins");

  tap_ok(kps_config_n_param_points(&cfg) == 45, "45 parameter points");
  tap_ok(kps_config_n_lines(&cfg) == 90, "90 lines");
  tap_ok(kps_config_n_points(&cfg) == 18000, "18000 points");

  /* line = ((iN * 3 + iphi) * 5 + idelta) * 2 + iL2 */
  double p[KPS_MAX_PARAMS], L2;
  kps_config_line_params(&cfg, 77, p, &L2); /* iN 2, iphi 1, idelta 3, iL2 1 */
  tap_ok(p[param(&cfg, "N")] == 4 && fabs(p[param(&cfg, "phi")] - 1e-2) < 1e-15 &&
             p[param(&cfg, "delta")] == 0.75 && L2 == 6000 &&
             p[param(&cfg, "m")] == 1 && p[param(&cfg, "kappa")] == 2e-4,
         "line 77 = N 4, phi 1e-2, delta 0.75, L2 6000");
  kps_config_line_params(&cfg, 0, p, &L2);
  tap_ok(p[param(&cfg, "N")] == 2 && p[param(&cfg, "phi")] == 1e-3 &&
             p[param(&cfg, "delta")] == 0 && L2 == 1000,
         "line 0 = first values");
  kps_config_line_params(&cfg, 10, p, &L2); /* iN 0, iphi 1, idelta 0, iL2 0 */
  tap_ok(p[param(&cfg, "N")] == 2 &&
             fabs(p[param(&cfg, "phi")] - 1e-2) < 1e-15 &&
             p[param(&cfg, "delta")] == 0 && L2 == 1000,
         "line 10 steps the second axis");
  kps_config_line_params(&cfg, 89, p, &L2);
  tap_ok(p[param(&cfg, "N")] == 4 && p[param(&cfg, "phi")] == 1e-1 &&
             p[param(&cfg, "delta")] == 1 && L2 == 6000,
         "last line = last values");

  /* Canonical text: the restyled copy only differs in name, run, layout. */
  kps_config other;
  char err2[1024] = "";
  rc = parse(&other, "b.yaml", full_yaml_restyled, err2, sizeof err2);
  tap_ok(rc == KPS_OK, "restyled config parses (%s)", err2);
  char *c1 = kps_config_canonical(&cfg), *c2 = kps_config_canonical(&other);
  tap_ok(c1 && c2 && strcmp(c1, c2) == 0,
         "canonical text ignores comments, layout, name and run");
  tap_ok(c1 && strstr(c1, "model=adaptive_sorting\n") &&
             strstr(c1, "param.kappa=0.00020000000000000001\n") &&
             strstr(c1, "axis.N=[2,3,4]\n") && !strstr(c1, "param.N=") &&
             !strstr(c1, "run.") && !strstr(c1, "demo"),
         "canonical text content");
  tap_ok(c1 && c2 &&
             kps_hash64(c1, strlen(c1)) == kps_hash64(c2, strlen(c2)),
         "equal hashes");
  kps_config_destroy(&other);

  static const char *const changes[][2] = {
      {"kappa: 0.0002", "kappa: 0.00021"},
      {"0.75, 1]", "0.75, 0.9]"},
      {"tau_c: 2.5", "tau_c: 2.6"},
      {"seed: 18446744073709551615", "seed: 2"},
      {"direction: ON", "direction: off"},
      {"{tau: 0.2, L: 10000}", "{tau: 0.2, L: 10001}"},
      {"seed: 9, eps_max: 1e2", "seed: 10, eps_max: 1e2"},
      {"eps_max: 1e2", "eps_max: 1e3"},
      {"enabled: yes, n: 5", "enabled: no, n: 5"},
      {"n: 5}", "n: 7}"},
  };
  for (size_t i = 0; i < sizeof changes / sizeof changes[0]; ++i) {
    const char *at = strstr(full_yaml_restyled, changes[i][0]);
    char text[4096];
    size_t pre = (size_t)(at - full_yaml_restyled);
    snprintf(text, sizeof text, "%.*s%s%s", (int)pre, full_yaml_restyled,
             changes[i][1], at + strlen(changes[i][0]));
    rc = parse(&other, "c.yaml", text, err2, sizeof err2);
    char *c3 = rc == KPS_OK ? kps_config_canonical(&other) : NULL;
    tap_ok(c1 && c3 && strcmp(c1, c3) != 0 &&
               kps_hash64(c1, strlen(c1)) != kps_hash64(c3, strlen(c3)),
           "canonical text changes with \"%s\" (%s)", changes[i][1], err2);
    free(c3);
    kps_config_destroy(&other);
  }
  free(c1);
  free(c2);
  kps_config_destroy(&cfg);
}

static void test_minimal_defaults(void) {
  static const char text[] =
      "model: kpr\n"
      "antagonist:\n"
      "  tau: [1, 2.5]\n";
  kps_config cfg;
  char err[1024] = "";
  kps_err rc = parse(&cfg, "jobs/examples/default.yaml", text, err, sizeof err);
  tap_ok(rc == KPS_OK, "minimal config parses (%s)", err);
  tap_ok(strcmp(cfg.name, "default") == 0, "name from the file stem: %s",
         cfg.name);
  tap_ok(strcmp(cfg.run.output, "results/default.h5") == 0,
         "default output %s", cfg.run.output);
  tap_ok(cfg.n_axes == 0 && kps_config_n_param_points(&cfg) == 1,
         "no axes: one parameter point");
  tap_ok(cfg.L2.n == 1 && cfg.L2.values[0] == 6000, "L2 defaults to [6000]");
  tap_ok(cfg.tau2.n == 2 && cfg.tau2.values[1] == 2.5, "tau2 as a list");
  tap_ok(kps_config_n_lines(&cfg) == 1 && kps_config_n_points(&cfg) == 2,
         "1 line, 2 points");
  tap_ok(cfg.agonist_tau == 4 && cfg.agonist_L == 4000 && cfg.tau_c == 3 &&
             isnan(cfg.L_ref) && !cfg.threshold_explicit,
         "agonist and threshold defaults");
  tap_ok(cfg.attack.tau_max == 6 && cfg.attack.fgsm_eps_tau_max == 3 &&
             !cfg.attack.enabled && cfg.attack.n_bins == 0 &&
             cfg.attack.n_draw == 0,
         "attack defaults");
  for (int j = 0; j < cfg.model->n_params; ++j)
    if (cfg.params[j] != cfg.model->params[j].def)
      tap_ok(0, "param %s keeps its default", cfg.model->params[j].name);
  double p[KPS_MAX_PARAMS], L2;
  kps_config_line_params(&cfg, 0, p, &L2);
  tap_ok(L2 == 6000 && p[0] == cfg.params[0], "line 0 params");
  kps_config_destroy(&cfg);

  static const char text2[] =
      "model: kpr\n"
      "antagonist: {tau: 1, L: 0}\n"
      "threshold: {tau_c: 2}\n"
      "attacks:\n"
      "  direction: OFF\n"
      "  histogram:\n"
      "    draw:\n"
      "      - {dist: normal, mean: 3.5, sd: 0.1, count: 4000}\n"
      "      - {dist: half_normal, mean: 0, sd: 0.3333, count: 10000}\n";
  rc = parse(&cfg, "", text2, err, sizeof err);
  tap_ok(rc == KPS_OK, "draw config parses (%s)", err);
  tap_ok(strcmp(cfg.name, "job") == 0, "no stem: name job");
  tap_ok(cfg.attack.tau_max == 4 && cfg.attack.fgsm_eps_tau_max == 2,
         "tau_max and fgsm_eps_tau_max follow tau_c");
  tap_ok(cfg.attack.direction == KPS_DIR_OFF, "direction OFF");
  tap_ok(cfg.L2.n == 1 && cfg.L2.values[0] == 0 && cfg.tau2.n == 1,
         "scalar tau and L axes");
  tap_ok(cfg.attack.n_draw == 2 && cfg.attack.n_bins == 0 &&
             !cfg.attack.draw[0].half_normal && cfg.attack.draw[1].half_normal &&
             cfg.attack.draw[0].mean == 3.5 && cfg.attack.draw[1].sd == 0.3333 &&
             cfg.attack.draw[1].count == 10000,
         "draw components");
  kps_config_destroy(&cfg);

  /* With axes on N, m < N needs only one valid combination. */
  static const char text3[] =
      "model: adaptive_sorting\n"
      "params: {m: 3}\n"
      "axes: {N: {values: [2, 3, 5]}}\n"
      "antagonist: {tau: 1}\n";
  rc = parse(&cfg, "x.yaml", text3, err, sizeof err);
  tap_ok(rc == KPS_OK, "m < N for some N on the axis is accepted (%s)", err);
  kps_config_destroy(&cfg);
}

static void expect_error(const char *what, const char *text,
                         const char *prefix, const char *detail) {
  kps_config cfg;
  char err[1024] = "";
  kps_err rc = parse(&cfg, "t.yaml", text, err, sizeof err);
  tap_ok(rc == KPS_ERR_CONFIG && strncmp(err, prefix, strlen(prefix)) == 0 &&
             (!detail || strstr(err, detail)),
         "%s: [%s] starts with [%s]%s%s", what, err, prefix,
         detail ? " and holds " : "", detail ? detail : "");
  kps_config_destroy(&cfg);
}

#define BASE "model: kpr\nantagonist: {tau: 1}\n"

static void test_errors(void) {
  expect_error("yaml syntax",
               "model: kpr\n"
               "antagonist:\n"
               "  tau: [1, 2\n"
               "  L: 3\n",
               "t.yaml:4:4: yaml: ", NULL);
  expect_error("yaml syntax: bad indentation",
               "model: kpr\n"
               "solver:\n"
               "  rtol: 1\n"
               " atol_rel: 2\n",
               "t.yaml:4:", "yaml: ");
  expect_error("anchor",
               "model: &m kpr\n"
               "antagonist: {tau: 1}\n",
               "t.yaml:1:8: yaml: ", "anchors");
  expect_error("alias use", "model: *a\nantagonist: {tau: 1}\n",
               "t.yaml:1:8: yaml: ", "aliases");
  expect_error("two documents", BASE "---\nmodel: kpr\n",
               "t.yaml:3:1: yaml: ", "one YAML document");
  expect_error("top level is not a mapping", "- 1\n- 2\n",
               "t.yaml:1:1: config: ", "expected a mapping");
  expect_error("empty config", "# nothing\n", "t.yaml:1:1: model: ",
               "missing");
  expect_error("unknown top-level key",
               BASE "solverr: {rtol: 1e-6}\n",
               "t.yaml:3:1: solverr: ", "unknown key");
  expect_error("misspelt model key", "modle: kpr\nantagonist: {tau: 1}\n",
               "t.yaml:1:1: modle: ", "unknown key");
  expect_error("unknown key in a section",
               BASE "solver:\n  rtol: 1e-6\n  rtoll: 1e-6\n",
               "t.yaml:5:3: solver.rtoll: ", "known keys: rtol,");
  expect_error("unknown key in attacks.histogram",
               BASE "attacks:\n  histogram:\n    binz: []\n",
               "t.yaml:5:5: attacks.histogram.binz: ", "unknown key");
  expect_error("unknown key in an axis",
               "model: kpr\naxes:\n  phi: {valuez: [1]}\nantagonist: {tau: 1}\n",
               "t.yaml:3:9: axes.phi.valuez: ", "unknown key");
  expect_error("duplicate key", BASE "agonist: {tau: 1, tau: 2}\n",
               "t.yaml:3:19: agonist.tau: ", "duplicate key");
  expect_error("wrong type: string for a number",
               BASE "solver: {rtol: fast}\n",
               "t.yaml:3:16: solver.rtol: ", "expected a number");
  expect_error("wrong type: quoted number", BASE "threshold:\n  tau_c: \"3\"\n",
               "t.yaml:4:10: threshold.tau_c: ", "expected a number");
  expect_error("wrong type: mapping for a number",
               BASE "agonist:\n  tau: {x: 1}\n",
               "t.yaml:4:8: agonist.tau: ", "got a mapping");
  expect_error("wrong type: scalar for a section", BASE "solver: 5\n",
               "t.yaml:3:9: solver: ", "expected a mapping");
  expect_error("wrong type: boolean", BASE "stats: {boundary: 1}\n",
               "t.yaml:3:19: stats.boundary: ", "expected a boolean");
  expect_error("wrong type: sequence for a path",
               BASE "run: {output: [a]}\n", "t.yaml:3:15: run.output: ",
               "expected a string");
  expect_error("bad enum", BASE "attacks: {movable: some}\n",
               "t.yaml:3:20: attacks.movable: ", "below_threshold, all");
  expect_error("bad direction", BASE "attacks: {direction: true}\n",
               "t.yaml:3:22: attacks.direction: ", "off, on");
  expect_error("negative agonist tau", BASE "agonist: {tau: -1}\n",
               "t.yaml:3:16: agonist.tau: ", "must be > 0");
  expect_error("zero agonist tau", BASE "agonist:\n  L: 5\n  tau: 0\n",
               "t.yaml:5:8: agonist.tau: ", "must be > 0");
  expect_error("negative antagonist tau value",
               "model: kpr\nantagonist:\n  tau: {values: [1, 0.5, -2]}\n",
               "t.yaml:3:26: antagonist.tau.values[2]: ", "must be > 0");
  expect_error("antagonist tau linear through 0",
               "model: kpr\nantagonist:\n  tau: {linear: [0, 1, 3]}\n",
               "t.yaml:3:17: antagonist.tau.linear: ", "must be > 0");
  expect_error("negative L2", "model: kpr\nantagonist: {tau: 1, L: -5}\n",
               "t.yaml:2:25: antagonist.L: ", "must be >= 0");
  expect_error("rtol zero", BASE "solver:\n  rtol: 0\n",
               "t.yaml:4:9: solver.rtol: ", "must be > 0");
  expect_error("rtol >= 1", BASE "solver:\n  rtol: 1\n",
               "t.yaml:4:9: solver.rtol: ", "< 1");
  expect_error("max_steps not an integer", BASE "solver: {max_steps: 2.5}\n",
               "t.yaml:3:21: solver.max_steps: ", "integer");
  expect_error("no writer", BASE "run: {writers: 0}\n", "t.yaml:3:16: run.writers: ",
               "must be >= 1");
  expect_error("writers not an integer", BASE "run: {writers: 1.5}\n",
               "t.yaml:3:16: run.writers: ", "integer");
  expect_error("too many writers", BASE "run: {writers: 2000000}\n",
               "t.yaml:3:16: run.writers: ", "<= 1000000");
  expect_error("L_ref zero", BASE "threshold: {L_ref: 0}\n",
               "t.yaml:3:20: threshold.L_ref: ", "must be > 0");
  expect_error("threshold value negative", BASE "threshold: {value: -1}\n",
               "t.yaml:3:20: threshold.value: ", "must be > 0");
  expect_error("seed negative", BASE "attacks: {seed: -1}\n",
               "t.yaml:3:17: attacks.seed: ", "integer");
  expect_error("parameter out of the model range",
               "model: kpr\nparams:\n  kappa: -1\nantagonist: {tau: 1}\n",
               "t.yaml:3:10: params.kappa: ", "must be > 0, got -1");
  expect_error("integer parameter", "model: kpr\nparams: {N: 2.5}\nantagonist: {tau: 1}\n",
               "t.yaml:2:13: params.N: ", "integer");
  expect_error("integer parameter on an axis",
               "model: kpr\naxes:\n  N: {values: [2, 3.5]}\nantagonist: {tau: 1}\n",
               "t.yaml:3:19: axes.N.values[1]: ", "integer");
  expect_error("unknown parameter",
               "model: kpr\nparams:\n  kapa: 1\nantagonist: {tau: 1}\n",
               "t.yaml:3:3: params.kapa: ", "kappa");
  expect_error("parameter both fixed and swept",
               "model: kpr\nparams: {phi: 1}\naxes:\n  phi: {values: [1]}\n"
               "antagonist: {tau: 1}\n",
               "t.yaml:4:3: axes.phi: ", "line 2");
  expect_error("empty axis",
               "model: kpr\naxes:\n  phi: {values: []}\nantagonist: {tau: 1}\n",
               "t.yaml:3:17: axes.phi.values: ", "empty axis");
  expect_error("empty tau2 axis", "model: kpr\nantagonist: {tau: []}\n",
               "t.yaml:2:19: antagonist.tau: ", "empty axis");
  expect_error("axis count 0",
               "model: kpr\naxes:\n  phi: {linear: [0, 1, 0]}\nantagonist: {tau: 1}\n",
               "t.yaml:3:24: axes.phi.linear: ", ">= 1");
  expect_error("log axis through 0",
               "model: kpr\naxes:\n  phi: {log: [0, 1, 3]}\nantagonist: {tau: 1}\n",
               "t.yaml:3:14: axes.phi.log: ", "start > 0");
  expect_error("axis with two kinds",
               "model: kpr\naxes:\n  phi: {values: [1], log: [1, 2, 2]}\n"
               "antagonist: {tau: 1}\n",
               "t.yaml:3:22: axes.phi.log: ", "exactly one");
  expect_error("axis without kind",
               "model: kpr\naxes:\n  phi: {}\nantagonist: {tau: 1}\n",
               "t.yaml:3:8: axes.phi: ", "one of values");
  expect_error("axis as a bare list", "model: kpr\naxes:\n  phi: [1, 2]\n"
               "antagonist: {tau: 1}\n",
               "t.yaml:3:8: axes.phi: ", "axis mapping");
  expect_error("linear axis with two numbers",
               "model: kpr\naxes:\n  phi: {linear: [0, 1]}\nantagonist: {tau: 1}\n",
               "t.yaml:3:17: axes.phi.linear: ", "[start, stop, count]");
  expect_error("m >= N with fixed N and m",
               "model: adaptive_sorting\n"
               "params:\n"
               "  N: 3\n"
               "  m: 3\n"
               "antagonist: {tau: 1}\n",
               "t.yaml:4:6: params.m: ", NULL);
  expect_error("m >= N for every N on the axis",
               "model: adaptive_sorting\n"
               "params:\n"
               "  m: 4\n"
               "axes: {N: {values: [2, 3, 4]}}\n"
               "antagonist: {tau: 1}\n",
               "t.yaml:3:6: params.m: ", "every combination");
  expect_error("unknown model", "model: adaptive\nantagonist: {tau: 1}\n",
               "t.yaml:1:8: model: ", "adaptive_sorting");
  expect_error("model is a sequence", "model: [kpr]\nantagonist: {tau: 1}\n",
               "t.yaml:1:8: model: ", "expected a string");
  expect_error("missing model", "antagonist: {tau: 1}\n",
               "t.yaml:1:1: model: ", "missing required key");
  expect_error("missing antagonist.tau", "model: kpr\nantagonist:\n  L: 5\n",
               "t.yaml:3:3: antagonist.tau: ", "missing required key");
  expect_error("missing antagonist", "model: kpr\n",
               "t.yaml:1:1: antagonist.tau: ", "missing required key");
  expect_error("bins and draw together",
               BASE "attacks:\n  histogram:\n    bins: [{tau: 1, L: 1}]\n"
                    "    draw: [{dist: normal, mean: 1, sd: 1, count: 1}]\n",
               "t.yaml:6:5: attacks.histogram.draw: ", "mutually exclusive");
  expect_error("bin with a missing L",
               BASE "attacks:\n  histogram:\n    bins: [{tau: 1}]\n",
               "t.yaml:5:12: attacks.histogram.bins[0].L: ", "missing");
  expect_error("bin with tau 0",
               BASE "attacks:\n  histogram:\n    bins:\n      - {tau: 1, L: 1}\n"
                    "      - {tau: 0, L: 1}\n",
               "t.yaml:7:15: attacks.histogram.bins[1].tau: ", "> 0");
  expect_error("unknown distribution",
               BASE "attacks:\n  histogram:\n    draw: [{dist: gamma, mean: 1, sd: 1, count: 1}]\n",
               "t.yaml:5:19: attacks.histogram.draw[0].dist: ", "half_normal");
  expect_error("bad job name", "name: a/b\n" BASE, "t.yaml:1:7: name: ",
               "letters");
}

/* The agonist on axes (tau1, L1) beside model parameters, and self ligands. */
static void test_ligand_axes(void) {
  static const char text[] =
      "model: kpr\n"                                    /* 1 */
      "axes:\n"                                         /* 2 */
      "  tau1: {linear: [4, 6, 3]}\n"                   /* 3 */
      "  N: {values: [2, 3]}\n"                         /* 4 */
      "  L1: {log: [1, 1.0e4, 5]}\n"                    /* 5 */
      "antagonist: {tau: [0.1, 3], L: [10, 20]}\n"      /* 6 */
      "threshold: {L_ref: agonist}\n";                  /* 7 */
  kps_config cfg;
  char err[1024] = "";
  kps_err rc = parse(&cfg, "a.yaml", text, err, sizeof err);
  if (!tap_ok(rc == KPS_OK, "axes tau1, N, L1 parse (%s)", err)) {
    kps_config_destroy(&cfg);
    return;
  }
  tap_ok(cfg.n_axes == 3 && cfg.axes[0].param == KPS_AXIS_TAU1 &&
             cfg.axes[1].param == param(&cfg, "N") && cfg.axes[2].param == KPS_AXIS_L1 &&
             strcmp(cfg.axes[0].name, "tau1") == 0 && strcmp(cfg.axes[2].name, "L1") == 0,
         "three axes in config order, tau1 and L1 marked as the agonist's");
  tap_ok(cfg.axes[0].n == 3 && cfg.axes[0].values[1] == 5 && cfg.axes[2].n == 5 &&
             cfg.axes[2].values[0] == 1 && cfg.axes[2].values[4] == 1e4,
         "tau1 linear [4, 5, 6], L1 log from 1 to 1e4");
  tap_ok(isnan(cfg.agonist_tau) && isnan(cfg.agonist_L), "swept agonist values are NaN");
  tap_ok(kps_config_n_param_points(&cfg) == 30 && kps_config_n_lines(&cfg) == 60 &&
             kps_config_n_points(&cfg) == 120,
         "the agonist's axes count in the plan: 30 points, 60 lines, 120 points");
  /* line = ((itau1 * 2 + iN) * 5 + iL1) * 2 + iL2 */
  kps_line_inputs in;
  kps_config_line_inputs(&cfg, ((2 * 2 + 1) * 5 + 3) * 2 + 1, &in);
  tap_ok(in.tau1 == 6 && in.p[param(&cfg, "N")] == 3 && fabs(in.L1 - 1e3) < 1e-9 &&
             in.L2 == 20,
         "line inputs: tau1 6, N 3, L1 1e3, L2 20 (got %g, %g, %g, %g)", in.tau1,
         in.p[param(&cfg, "N")], in.L1, in.L2);
  double tau[KPS_LINE_MAX_K], L[KPS_LINE_MAX_K];
  tap_ok(kps_config_ligands(&cfg, &in, 0.1, tau, L) == 2 && tau[0] == 6 && tau[1] == 0.1 &&
             L[1] == 20 && L[0] == in.L1,
         "no self: two ligand types, agonist then antagonist");
  char *c = kps_config_canonical(&cfg);
  tap_ok(c && strstr(c, "axis.tau1=[4,5,6]\n") && strstr(c, "axis.L1=[1,") &&
             strstr(c, "agonist.tau=nan\n") && strstr(c, "agonist.L=nan\n") &&
             !strstr(c, "self="),
         "canonical text: the agonist's axes, NaN agonist values, no self line");
  free(c);
  kps_config_destroy(&cfg);

  /* Only the agonist on an axis: the model's check still runs on params. */
  expect_error("m >= N with only the agonist swept",
               "model: adaptive_sorting\nparams: {N: 3, m: 3}\naxes: {tau1: {values: [4, 5]}}\n"
               "antagonist: {tau: 1}\n",
               "t.yaml:2:19: params.m: ", NULL);
  expect_error("agonist.tau and axes.tau1 together",
               "model: kpr\naxes:\n  tau1: {values: [4, 5]}\nagonist: {tau: 4}\n"
               "antagonist: {tau: 1}\n",
               "t.yaml:3:3: axes.tau1: ", "fixed in agonist.tau (line 4)");
  expect_error("agonist.L and axes.L1 together (agonist first)",
               "model: kpr\nagonist:\n  tau: 5\n  L: 10\naxes: {L1: {values: [1]}}\n"
               "antagonist: {tau: 1}\n",
               "t.yaml:5:8: axes.L1: ", "fixed in agonist.L (line 4)");
  expect_error("tau1 must be > 0",
               "model: kpr\naxes: {tau1: {values: [1, 0]}}\nantagonist: {tau: 1}\n",
               "t.yaml:2:27: axes.tau1.values[1]: ", "must be > 0, got 0");
  expect_error("L1 must be >= 0",
               "model: kpr\naxes: {L1: {linear: [-1, 5, 3]}}\nantagonist: {tau: 1}\n",
               "t.yaml:2:21: axes.L1.linear: ", "must be >= 0");
  expect_error("unknown axis names the agonist's axes",
               "model: kpr\naxes: {tau3: {values: [1]}}\nantagonist: {tau: 1}\n",
               "t.yaml:2:8: axes.tau3: ", "tau1, L1");
  expect_error("tau1 and L1 count toward the 8 axes",
               "model: adaptive_sorting\naxes: {tau1: {values: [4]}, L1: {values: [1]}, "
               "N: {values: [3]}, m: {values: [1]}, phi: {values: [1]}, kappa: {values: [1]}, "
               "R: {values: [1]}, delta: {values: [1]}, tau_c: {values: [1]}}\n"
               "antagonist: {tau: 1}\n",
               "t.yaml:2:", "at most 8 axes");
}

static void test_self(void) {
  static const char one[] = "model: kpr\nantagonist: {tau: 1}\nself: {tau: 0.5, L: 2000}\n";
  static const char one_list[] = "model: kpr\nantagonist: {tau: 1}\nself:\n  - {L: 2000, tau: 0.5}\n";
  static const char three[] =
      "model: kpr\nantagonist: {tau: 1}\n"
      "self: [{tau: 0.5, L: 2000}, {tau: 1.5, L: 0}, {tau: 9, L: 30}]\n";
  kps_config a, b;
  char err[1024] = "", err2[1024] = "";
  kps_err rc = parse(&a, "s.yaml", one, err, sizeof err);
  tap_ok(rc == KPS_OK && a.n_self == 1 && a.self_tau[0] == 0.5 && a.self_L[0] == 2000,
         "self as one mapping (%s)", err);
  rc = parse(&b, "s.yaml", one_list, err2, sizeof err2);
  tap_ok(rc == KPS_OK && b.n_self == 1 && b.self_tau[0] == 0.5 && b.self_L[0] == 2000,
         "self as a list of one mapping (%s)", err2);
  char *ca = kps_config_canonical(&a), *cb = kps_config_canonical(&b);
  tap_ok(ca && cb && strcmp(ca, cb) == 0 && strstr(ca, "self=[(0.5,2000)]\n"),
         "a mapping and a list of it have the same canonical text");
  kps_config_destroy(&b);
  rc = parse(&b, "s.yaml", three, err2, sizeof err2);
  tap_ok(rc == KPS_OK && b.n_self == 3 && b.self_tau[1] == 1.5 && b.self_L[1] == 0 &&
             b.self_tau[2] == 9 && b.self_L[2] == 30,
         "self as a list of three, L = 0 allowed (%s)", err2);
  kps_line_inputs in;
  double tau[KPS_LINE_MAX_K], L[KPS_LINE_MAX_K];
  kps_config_line_inputs(&b, 0, &in);
  tap_ok(kps_config_ligands(&b, &in, 1.0, tau, L) == 5 && tau[0] == 4 && L[0] == 4000 &&
             tau[1] == 1 && L[1] == 6000 && tau[2] == 0.5 && L[2] == 2000 && tau[4] == 9 &&
             L[4] == 30,
         "ligand types: agonist, antagonist, then the self types in order");
  char *c3 = kps_config_canonical(&b);
  tap_ok(ca && c3 && strcmp(ca, c3) != 0 && kps_hash64(ca, strlen(ca)) != kps_hash64(c3, strlen(c3)),
         "canonical text and hash change with the self ligands");
  kps_config_destroy(&b);
  static const char one_other[] = "model: kpr\nantagonist: {tau: 1}\nself: {tau: 0.5, L: 2001}\n";
  static const char none[] = "model: kpr\nantagonist: {tau: 1}\n";
  rc = parse(&b, "s.yaml", one_other, err2, sizeof err2);
  char *c4 = rc == KPS_OK ? kps_config_canonical(&b) : NULL;
  tap_ok(ca && c4 && strcmp(ca, c4) != 0, "canonical text changes with a self dose");
  kps_config_destroy(&b);
  rc = parse(&b, "s.yaml", none, err2, sizeof err2);
  char *c5 = rc == KPS_OK ? kps_config_canonical(&b) : NULL;
  tap_ok(ca && c5 && strcmp(ca, c5) != 0 && !strstr(c5, "self") && b.n_self == 0,
         "no self: none in the config, no self line in the canonical text");
  kps_config_destroy(&b);
  free(ca), free(cb), free(c3), free(c4), free(c5);
  kps_config_destroy(&a);

  expect_error("more than 8 self types",
               BASE "self: [{tau: 1, L: 1}, {tau: 1, L: 1}, {tau: 1, L: 1}, {tau: 1, L: 1},\n"
                    "       {tau: 1, L: 1}, {tau: 1, L: 1}, {tau: 1, L: 1}, {tau: 1, L: 1},\n"
                    "       {tau: 1, L: 1}]\n",
               "t.yaml:5:8: self: ", "at most 8 entries");
  expect_error("self tau 0", BASE "self: [{tau: 1, L: 1}, {tau: 0, L: 1}]\n",
               "t.yaml:3:30: self[1].tau: ", "must be > 0, got 0");
  expect_error("self tau negative", BASE "self: {tau: -2, L: 1}\n",
               "t.yaml:3:13: self.tau: ", "must be > 0, got -2");
  expect_error("self L negative", BASE "self: {tau: 1, L: -1}\n",
               "t.yaml:3:19: self.L: ", "must be >= 0, got -1");
  expect_error("self unknown key", BASE "self:\n  - {tau: 1, L: 1, kon: 2}\n",
               "t.yaml:4:20: self[0].kon: ", "unknown key (known keys: tau, L)");
  expect_error("self missing L", BASE "self: {tau: 1}\n", "t.yaml:3:7: self.L: ",
               "missing required key");
  expect_error("self empty list", BASE "self: []\n", "t.yaml:3:7: self: ", "must not be empty");
  expect_error("self a number", BASE "self: 3\n", "t.yaml:3:7: self: ", "expected a mapping");
  expect_error("self a quoted number", BASE "self: {tau: \"1\", L: 1}\n", "t.yaml:3:13: self.tau: ",
               "string");
}

int main(void) {
  test_defaults();
  test_full();
  test_minimal_defaults();
  test_errors();
  test_ligand_axes();
  test_self();
  return tap_done();
}
