/*
 * Network files (docs/networks.md):
 *  1. the expression compiler: values and forward-mode derivatives of a
 *     general rate law against central finite differences at random points;
 *  2. each shipped network against its built-in C model: f, J, df/dp for
 *     every input, O, dO/dy at random states, then the steady state, O and
 *     every gradient through kps_evaluate, to 1e-12 relative (K = 1..3,
 *     N = 1..6, random parameters);
 *  3. the expansion cache: the same point before and after other (N, K)
 *     (more than the cache holds) gives bit-identical f, J, df/dp, O;
 *  4. hostile files: every one an error naming FILE:LINE:COLUMN.
 * usage: test_network JOBS_NETWORKS_DIR
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "kpsweep/config.h"
#include "kpsweep/model.h"
#include "kpsweep/network.h"
#include "kpsweep/solver.h"
#include "kpsweep/status.h"

#define MAXN 64

static unsigned long long rng = 88172645463325252ULL;
static double urand(void) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (double)(rng >> 11) / 9007199254740992.0;
}
static double logu(double lo, double hi) { return lo * pow(hi / lo, urand()); }

static const kps_model *parse_text(const char *text, char *err, size_t n) {
  const kps_model *m = NULL;
  kps_network_parse("t.yaml", text, strlen(text), &m, err, n);
  return m;
}

/* Worst |a-b| / max(|a|, |b|, floor) over n entries. */
static double worst(const double *a, const double *b, int n, double floor) {
  double w = 0.0;
  for (int k = 0; k < n; ++k) {
    const double s = fmax(fmax(fabs(a[k]), fabs(b[k])), floor);
    const double e = fabs(a[k] - b[k]) / s;
    if (!(e <= w)) w = e;
  }
  return w;
}

static double big(const double *v, int n) {
  double b = 1e-300;
  for (int k = 0; k < n; ++k) b = fmax(b, fabs(v[k]));
  return b;
}

/* ---- 1. the expression compiler --------------------------------------- */

static const char *const EXPR_NET =
    "name: expr\n"
    "parameters:\n"
    "  a: {default: 0.7}\n"
    "  b: {default: 1.3, positive: true}\n"
    "  M: {default: 2, min: 0, max: 5, integer: true}\n"
    "species:\n"
    "  X: {index: {j: \"0..M\"}}\n"
    "  Y: {}\n"
    "reactions:\n"
    "  - {for: {j: \"0..M\"}, eq: \"Y -> X[j]\",\n"
    "     rate: \"exp(-a*X[j])*sqrt(b + Y^2)/(1 + log(1 + tau[0]*L[0])) - (j+1)*X[j]^1.5/b\"}\n"
    "  - {eq: \"X[M] + 2 Y -> 0\", k: \"a*b/(tau[0] + M)\"}\n"
    "output: \"X[0]*Y + X[M]\"\n";

/* The same rates written out in C. */
static void expr_rhs_ref(const double *p, double tau, double L, const double *y, double *f) {
  const int M = 2;
  memset(f, 0, sizeof(double) * (M + 2));
  const double Y = y[M + 1];
  for (int j = 0; j <= M; ++j) {
    const double v = exp(-p[0] * y[j]) * sqrt(p[1] + Y * Y) / (1 + log(1 + tau * L)) -
                     (j + 1) * pow(y[j], 1.5) / p[1];
    f[j] += v, f[M + 1] -= v;
  }
  const double w = p[0] * p[1] / (tau + M) * y[M] * Y * Y;
  f[M] -= w, f[M + 1] -= 2 * w;
}

static void test_expressions(void) {
  char err[512] = "";
  const kps_model *m = parse_text(EXPR_NET, err, sizeof err);
  if (!tap_ok(m != NULL, "expression network parses (%s)", err)) return;
  const int n = 4;
  for (int t = 0; t < 20; ++t) {
    double p[3] = {urand() * 2 - 0.5, 0.2 + urand(), 2}, tau = 0.1 + urand(), L = 10 * urand();
    double y[4], f[4], fr[4], J[16], Jfd[16], col[4], cfd[4];
    for (int k = 0; k < n; ++k) y[k] = 0.1 + 2 * urand();
    const kps_inputs in = {.p = p, .K = 1, .tau = &tau, .L = &L};
    m->rhs(m, &in, y, f);
    expr_rhs_ref(p, tau, L, y, fr);
    double ev = worst(f, fr, n, 1e-300);
    m->jacobian(m, &in, y, J);
    for (int j = 0; j < n; ++j) {
      double yp[4], ym[4], fp[4], fm[4];
      const double h = 1e-6 * fmax(1.0, fabs(y[j]));
      memcpy(yp, y, sizeof yp), memcpy(ym, y, sizeof ym);
      yp[j] += h, ym[j] -= h;
      m->rhs(m, &in, yp, fp), m->rhs(m, &in, ym, fm);
      for (int i = 0; i < n; ++i) Jfd[i + j * n] = (fp[i] - fm[i]) / (2 * h);
    }
    double ej = worst(J, Jfd, n * n, 1e-3);
    /* df/d inputs: tau_0, L_0, a, b */
    double ep = 0.0;
    for (int which = 0; which < 4; ++which) {
      m->dfdp(m, &in, y, which, col);
      double pp[3], pm[3], tp = tau, tm = tau, Lp = L, Lm = L, fp[4], fm[4];
      memcpy(pp, p, sizeof pp), memcpy(pm, p, sizeof pm);
      const double h = 1e-6;
      if (which == 0) tp += h, tm -= h;
      else if (which == 1) Lp += h, Lm -= h;
      else pp[which - 2] += h, pm[which - 2] -= h;
      const kps_inputs ip = {.p = pp, .K = 1, .tau = &tp, .L = &Lp};
      const kps_inputs im = {.p = pm, .K = 1, .tau = &tm, .L = &Lm};
      m->rhs(m, &ip, y, fp), m->rhs(m, &im, y, fm);
      for (int i = 0; i < n; ++i) cfd[i] = (fp[i] - fm[i]) / (2 * h);
      ep = fmax(ep, worst(col, cfd, n, 1e-3));
    }
    double g[4];
    const double O = m->output(m, &in, y, g);
    const double eo = fabs(O - (y[0] * y[3] + y[2])) / fabs(O) +
                      fabs(g[0] - y[3]) + fabs(g[1]) + fabs(g[2] - 1) + fabs(g[3] - y[0]);
    tap_ok(ev < 1e-14 && ej < 1e-6 && ep < 1e-6 && eo < 1e-14,
           "expressions, point %d: f %.1e vs C, J %.1e, df/dp %.1e vs finite differences, "
           "output %.1e", t, ev, ej, ep, eo);
  }
  kps_network_destroy(m);
}

/* ---- 2. shipped networks = built-in models ----------------------------- */

static const kps_model *load_file(const char *dir, const char *name) {
  char path[1024], err[1024] = "";
  snprintf(path, sizeof path, "%s/%s.yaml", dir, name);
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  static char buf[1 << 16];
  const size_t len = fread(buf, 1, sizeof buf, f);
  fclose(f);
  const kps_model *m = NULL;
  if (kps_network_parse(path, buf, len, &m, err, sizeof err)) tap_ok(0, "%s", err);
  return m;
}

static void random_params(const kps_model *b, double *p, int N) {
  kps_model_defaults(b, p);
  for (int j = 0; j < b->n_params; ++j) {
    const kps_param_info *pi = &b->params[j];
    if (!strcmp(pi->name, "N")) p[j] = N;
    else if (!strcmp(pi->name, "m")) p[j] = floor(urand() * N);
    else if (!(pi->flags & KPS_PARAM_INTEGER)) p[j] = pi->def * logu(0.3, 3.0);
  }
}

static void compare_model(const kps_model *b, const kps_model *w, kps_solver *s) {
  tap_ok(b->n_params == w->n_params, "%s: %d parameters as %s", w->name, w->n_params, b->name);
  for (int j = 0; j < b->n_params && j < w->n_params; ++j)
    if (strcmp(b->params[j].name, w->params[j].name) || b->params[j].flags != w->params[j].flags ||
        b->params[j].def != w->params[j].def)
      tap_ok(0, "%s: parameter %d (%s) differs", w->name, j, w->params[j].name);
  for (int t = 0; t < 24; ++t) {
    const int K = 1 + t % 3, N = 1 + (t * 7) % 6;
    double p[KPS_MAX_PARAMS], tau[3], L[3];
    random_params(b, p, N);
    for (int i = 0; i < K; ++i) tau[i] = logu(0.5, 20), L[i] = logu(10, 3e4);
    const kps_inputs in = {.p = p, .K = K, .tau = tau, .L = L};
    const int n = b->n_state(b, p, K);
    if (!tap_ok(n == w->n_state(w, p, K) && n <= MAXN, "%s: state size %d", w->name, n)) continue;
    double y[MAXN], fb[MAXN], fw[MAXN], Jb[MAXN * MAXN], Jw[MAXN * MAXN], gb[MAXN], gw[MAXN];
    b->initial_state(b, &in, y);
    w->initial_state(w, &in, fw);
    double e_init = worst(y, fw, n, 1e-300);
    /* a random state inside the conservation laws */
    const double R = p[kps_model_param_index(b, "R")];
    for (int k = 0; k < n; ++k) y[k] = urand() * 0.1 * fmin(L[k % K], R) / (N + 1);
    b->rhs(b, &in, y, fb), w->rhs(w, &in, y, fw);
    double e_f = worst(fb, fw, n, 1e-300);
    b->jacobian(b, &in, y, Jb), w->jacobian(w, &in, y, Jw);
    double e_J = worst(Jb, Jw, n * n, 1e-300);
    double e_p = 0.0;
    for (int which = 0; which < 2 * K + b->n_params; ++which) {
      if (!kps_model_is_differentiable(b, K, which)) continue;
      b->dfdp(b, &in, y, which, fb), w->dfdp(w, &in, y, which, fw);
      e_p = fmax(e_p, worst(fb, fw, n, 1e-300));
    }
    const double Ob = b->output(b, &in, y, gb), Ow = w->output(w, &in, y, gw);
    double e_O = fmax(fabs(Ob - Ow) / fabs(Ob), worst(gb, gw, n, 1e-300));
    /* the steady state and every gradient */
    double yb[MAXN], yw[MAXN], db[8], dw[8], lb[8], lw[8], pb[KPS_MAX_PARAMS], pw[KPS_MAX_PARAMS];
    kps_eval eb = {.dO_dtau = db, .dO_dL = lb, .dO_dp = pb};
    kps_eval ew = {.dO_dtau = dw, .dO_dL = lw, .dO_dp = pw};
    kps_evaluate(s, b, &in, yb, 0, &eb);
    kps_evaluate(s, w, &in, yw, 0, &ew);
    double e_s = fmax(worst(yb, yw, n, 1e-300), fabs(eb.O - ew.O) / fabs(eb.O));
    /* relative to the largest entry of each gradient: a component that
     * nearly cancels carries the round-off of the others */
    double e_g = fmax(worst(db, dw, K, big(db, K)), worst(lb, lw, K, big(lb, K)));
    double gp[KPS_MAX_PARAMS], gq[KPS_MAX_PARAMS];
    int np = 0;
    for (int j = 0; j < b->n_params; ++j)
      if (!(b->params[j].flags & KPS_PARAM_INTEGER)) gp[np] = pb[j], gq[np++] = pw[j];
    e_g = fmax(e_g, worst(gp, gq, np, big(gp, np)));
    const int ok_status = eb.status == ew.status;
    tap_ok(e_init == 0 && e_f < 1e-12 && e_J < 1e-12 && e_p < 1e-12 && e_O < 1e-12 && ok_status &&
               (!kps_status_is_ok(eb.status) || (e_s < 1e-12 && e_g < 1e-12)),
           "%s = %s, K=%d N=%d: f %.1e J %.1e df/dp %.1e O %.1e; steady state %.1e, gradients "
           "%.1e (status %d/%d)",
           w->name, b->name, K, N, e_f, e_J, e_p, e_O, e_s, e_g, eb.status, ew.status);
  }
}

/* ---- 3. the expansion cache ------------------------------------------- */

/* f, J, every df/dp column and O, dO/dy of m at (N, K) into out; its size. */
static int snapshot(const kps_model *m, int N, int K, double *out) {
  double p[KPS_MAX_PARAMS], tau[3] = {3.0, 0.7, 12.0}, L[3] = {2e3, 40.0, 9e3}, y[MAXN];
  kps_model_defaults(m, p);
  p[kps_model_param_index(m, "N")] = N;
  const int jm = kps_model_param_index(m, "m");
  if (jm >= 0) p[jm] = N / 2;
  const kps_inputs in = {.p = p, .K = K, .tau = tau, .L = L};
  const int n = m->n_state(m, p, K);
  for (int k = 0; k < n; ++k) y[k] = 1.0 + 0.37 * k;
  int at = 0;
  m->rhs(m, &in, y, out + at), at += n;
  m->jacobian(m, &in, y, out + at), at += n * n;
  for (int which = 0; which < 2 * K + m->n_params; ++which)
    if (kps_model_is_differentiable(m, K, which)) m->dfdp(m, &in, y, which, out + at), at += n;
  out[at] = m->output(m, &in, y, out + at + 1), at += 1 + n;
  return at;
}

static void test_cache(const kps_model *w) {
  static double first[MAXN * MAXN * 4], again[MAXN * MAXN * 4], other[MAXN * MAXN * 4];
  const int n1 = snapshot(w, 4, 2, first);
  /* more distinct (N, K) than the cache keeps, so (4, 2) is rebuilt */
  for (int t = 0; t < 6; ++t) snapshot(w, 1 + t, 1 + t % 3, other);
  const int n2 = snapshot(w, 4, 2, again);
  const int n3 = snapshot(w, 4, 2, other); /* and once more from the cache */
  tap_ok(n1 == n2 && n1 == n3 && !memcmp(first, again, sizeof(double) * (size_t)n1) &&
             !memcmp(first, other, sizeof(double) * (size_t)n1),
         "%s: f, J, df/dp, O at N=4 K=2 bit-identical after other N and K (%d numbers)",
         w->name, n1);
}

/* ---- 4. hostile files ---------------------------------------------------- */

static const char *const KPR_HEAD =
    "name: h\n"
    "parameters:\n"
    "  N: {default: 3, min: 1, max: 9, integer: true}\n"
    "  k: {default: 1, min: 0}\n"
    "  R: {default: 10, positive: true}\n"
    "species:\n"
    "  C: {index: {i: ligands, n: \"0..N\"}}\n";

typedef struct hostile {
  const char *tail; /* after KPR_HEAD (or the whole file when it starts with '!') */
  const char *want; /* substring of the error */
} hostile;

static void test_hostile(void) {
  static const hostile cases[] = {
      {"!name: [x\n", "t.yaml:2:1: yaml:"},
      {"!name: x\nparameters: {a: {default: 1}}\nspecies: {X: {}}\nreactions:\n  - {eq: \"X -> 0\", k: \"a*\"}\noutput: X\n",
       "t.yaml:5:26: reactions[0]: unexpected end"},
      {"reactions:\n  - {for: {i: ligands}, eq: \"C[i,0] -> 0\", k: \"q*2\"}\noutput: C[0,N]\n",
       "t.yaml:9:48: reactions[0]: unknown name \"q\""},
      {"reactions:\n  - {for: {i: ligands}, eq: \"Z[i] -> C[i,0]\", k: k}\noutput: C[0,N]\n",
       "t.yaml:9:30: reactions[0]: unknown species \"Z\""},
      {"reactions:\n  - {for: {i: ligands}, eq: \"C[i,n] -> 0\", k: k}\noutput: C[0,N]\n",
       "t.yaml:9:34: reactions[0]: unknown name \"n\""},
      {"reactions:\n  - {for: {i: ligands, n: \"0..N\"}, eq: \"C[i,n] -> C[i,n+1]\", k: k}\noutput: C[0,N]\n",
       "t.yaml:9:5: reactions: a species, tau or L index is out of its range"},
      {"reactions:\n  - {for: {i: ligands}, eq: \"C[i,0] -> 0\", k: \"k/(N-N)\"}\noutput: C[0,N]\n",
       "t.yaml:9:5: reactions: the rate is not finite"},
      {"  k: {}\nreactions: []\noutput: C[0,0]\n", "t.yaml:8:3: species.k: duplicate name"},
      {"conservation:\n  Rf: {total: R, contains: [\"C[*,*]\"]}\n  Rg: {total: R, contains: [Rf]}\n"
       "reactions:\n  - {for: {i: ligands}, eq: \"Rf -> C[i,0]\", k: k}\noutput: C[0,N]\n",
       "t.yaml:10:29: conservation.Rg: cyclic conservation"},
      {"conservation:\n  Rf: {total: R, contains: [\"C[*,0]\"]}\n"
       "reactions:\n  - {for: {i: ligands}, eq: \"Rf -> C[i,0]\", k: k}\n"
       "  - {for: {i: ligands, n: \"0..N-1\"}, eq: \"C[i,n] -> C[i,n+1]\", k: k}\noutput: C[0,N]\n",
       "t.yaml:12:5: reactions: the reaction changes the conserved total of Rf"},
      {"conservation:\n  Rf: {total: \"R*C[0,0]\", contains: [\"C[*,*]\"]}\nreactions: []\noutput: C[0,0]\n",
       "t.yaml:9:18: conservation.Rf: species C not allowed here"},
      {"reactions:\n  - {eq: \"C[0,0] -> 0\", k: k}\noutput: \"k*C[0,N]\"\n",
       "t.yaml:10:10: output: parameter k in the output"},
      {"reactions:\n  - {eq: \"C[0,0] -> 0\", k: k, rate: k}\noutput: C[0,N]\n",
       "t.yaml:9:5: reactions[0]: give exactly one"},
      {"reactions:\n  - {eq: \"C[0] -> 0\", k: k}\noutput: C[0,N]\n",
       "t.yaml:9:11: reactions[0]: species C needs its indices"},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; ++c) {
    char text[4096], err[1024] = "";
    if (cases[c].tail[0] == '!') snprintf(text, sizeof text, "%s", cases[c].tail + 1);
    else snprintf(text, sizeof text, "%s%s", KPR_HEAD, cases[c].tail);
    const kps_model *m = parse_text(text, err, sizeof err);
    tap_ok(!m && strstr(err, cases[c].want), "hostile %zu: \"%s\" (want \"%s\")", c, err,
           cases[c].want);
    kps_network_destroy(m);
  }
}

int main(int argc, char **argv) {
  if (argc < 2) return 99;
  test_expressions();
  kps_config cfg;
  kps_config_defaults(&cfg);
  kps_solver *s = NULL;
  if (kps_solver_create(&cfg.solver, &s) != KPS_OK) return 99;
  static const char *const names[] = {"kpr", "adaptive_sorting", "shp1"};
  for (int k = 0; k < 3; ++k) {
    const kps_model *w = load_file(argv[1], names[k]);
    if (!tap_ok(w != NULL, "jobs/networks/%s.yaml loads", names[k])) continue;
    compare_model(kps_model_find(names[k]), w, s);
    test_cache(w);
    kps_network_destroy(w);
  }
  kps_solver_destroy(&s);
  test_hostile();
  return tap_done();
}
