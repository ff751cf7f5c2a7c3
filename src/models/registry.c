/*
 * The model registry: the one place that lists every model. Adding a network
 * is adding its file and one line here.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kpsweep/model.h"

extern const kps_model kps_model_ideal;
extern const kps_model kps_model_kpr;
extern const kps_model kps_model_adaptive_sorting;
extern const kps_model kps_model_shp1;
extern const kps_model kps_model_null;

static const kps_model *const registry[] = {
    &kps_model_ideal,
    &kps_model_kpr,
    &kps_model_adaptive_sorting,
    &kps_model_shp1,
    &kps_model_null,
    NULL,
};

const kps_model *const *kps_model_list(void) { return registry; }

const kps_model *kps_model_find(const char *name) {
  for (const kps_model *const *m = registry; *m; ++m)
    if (strcmp((*m)->name, name) == 0) return *m;
  return NULL;
}

int kps_model_param_index(const kps_model *m, const char *name) {
  for (int j = 0; j < m->n_params; ++j)
    if (strcmp(m->params[j].name, name) == 0) return j;
  return -1;
}

void kps_param_range_text(const kps_param_info *p, char *buf, size_t n) {
  if (p->min == KPS_POSITIVE_MIN) snprintf(buf, n, "(0, %g]", p->max);
  else snprintf(buf, n, "[%g, %g]", p->min, p->max);
  /* An infinite end is never attained. */
  char *inf = strstr(buf, "inf]");
  if (inf) inf[3] = ')';
}

void kps_model_defaults(const kps_model *m, double *p) {
  for (int j = 0; j < m->n_params; ++j) p[j] = m->params[j].def;
}

int kps_model_is_differentiable(const kps_model *m, int K, int which) {
  if (which < 0) return 0;
  if (which < 2 * K) return 1;
  int j = which - 2 * K;
  return j < m->n_params && !(m->params[j].flags & KPS_PARAM_INTEGER);
}

double kps_model_default_L_ref(const kps_model *m, const double *p) {
  int r = kps_model_param_index(m, "R");
  return r >= 0 ? 10.0 * p[r] : 1.0;
}
