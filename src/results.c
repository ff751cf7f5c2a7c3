/* The field table and the per-rank batch of computed lines. */
#include "kpsweep/results.h"

#include <stdlib.h>
#include <string.h>

static const kps_field_info fields[KPS_N_FIELDS] = {
#define KPS_FIELD_INFO_(id, name, type, scope, unit, doc, flags) [id] = {name, type, scope, unit, doc, flags},
    KPS_FIELD_LIST(KPS_FIELD_INFO_)
#undef KPS_FIELD_INFO_
};

const kps_field_info *kps_fields(void) { return fields; }

size_t kps_dtype_size(kps_dtype t) {
  switch (t) {
    case KPS_F64: return sizeof(double);
    case KPS_I32: return sizeof(int32_t);
    case KPS_I8: return sizeof(int8_t);
  }
  return 0;
}

kps_dims kps_config_dims(const kps_config *cfg) {
  return (kps_dims){.n_tau = cfg->tau2.n,
                    .n_bins = kps_config_n_bins(cfg),
                    .n_ligands = kps_config_n_ligands(cfg),
                    .n_land = kps_config_n_land(cfg),
                    .omitted = cfg->run.fields_omitted};
}

int kps_field_kept(const kps_dims *d, int f) { return !((d->omitted >> f) & 1u); }

int kps_scope_trailing(kps_scope s, const kps_dims *d, size_t *trail) {
  switch (s) {
    case KPS_POINT: trail[0] = d->n_tau; return 1;
    case KPS_LINE: return 0;
    case KPS_LINE_BIN: trail[0] = d->n_bins; return 1;
    case KPS_LINE_LIGAND: trail[0] = d->n_ligands; return 1;
    case KPS_LINE_LAND: trail[0] = trail[1] = d->n_land; return 2;
  }
  return 0;
}

size_t kps_scope_len(kps_scope s, const kps_dims *d) {
  size_t trail[2], len = 1;
  const int n = kps_scope_trailing(s, d, trail);
  for (int k = 0; k < n; ++k) len *= trail[k];
  return len;
}

size_t kps_fields_bytes_per_line(const kps_dims *d) {
  size_t b = 0;
  for (int f = 0; f < KPS_N_FIELDS; ++f)
    if (kps_field_kept(d, f)) b += kps_dtype_size(fields[f].type) * kps_scope_len(fields[f].scope, d);
  return b;
}

size_t kps_batch_field_len(const kps_batch *b, kps_field_id f) {
  const kps_dims d = {b->n_tau, b->n_bins, b->n_ligands, b->n_land, b->omitted};
  return kps_scope_len(fields[f].scope, &d);
}

static size_t row_bytes(const kps_batch *b, int f) {
  return kps_batch_field_len(b, (kps_field_id)f) * kps_dtype_size(fields[f].type);
}

static int omitted(const kps_batch *b, int f) { return (b->omitted >> f) & 1u; }

static int grow(kps_batch *b, size_t cap) {
  uint64_t *ids = realloc(b->line_ids, sizeof(uint64_t) * cap);
  if (!ids) return 1;
  b->line_ids = ids;
  for (int f = 0; f < KPS_N_FIELDS; ++f) {
    if (omitted(b, f) && b->data[f]) continue;
    void *d = realloc(b->data[f], row_bytes(b, f) * (omitted(b, f) ? 1 : cap));
    if (!d) return 1;
    b->data[f] = d;
  }
  b->cap = cap;
  return 0;
}

kps_err kps_batch_create(const kps_dims *d, size_t cap, kps_batch **out) {
  kps_err rc = KPS_OK;
  kps_batch *b = calloc(1, sizeof *b);
  KPS_CHECK_ALLOC(b);
  b->n_tau = d->n_tau;
  b->n_bins = d->n_bins;
  b->n_ligands = d->n_ligands;
  b->n_land = d->n_land;
  b->omitted = d->omitted;
  if (grow(b, cap > 0 ? cap : 1)) KPS_FAIL(KPS_ERR_NOMEM, "batch of %zu lines", cap);
  *out = b;
  b = NULL;
cleanup:
  kps_batch_destroy(&b);
  return rc;
}

void kps_batch_destroy(kps_batch **bp) {
  if (!bp || !*bp) return;
  kps_batch *b = *bp;
  for (int f = 0; f < KPS_N_FIELDS; ++f) free(b->data[f]);
  free(b->line_ids);
  free(b);
  *bp = NULL;
}

long kps_batch_add(kps_batch *b, uint64_t line_id) {
  if (b->n_lines == b->cap && grow(b, 2 * b->cap)) return -1;
  b->line_ids[b->n_lines] = line_id;
  return (long)b->n_lines++;
}

void kps_batch_clear(kps_batch *b) { b->n_lines = 0; }

void kps_batch_drop_front(kps_batch *b, size_t n) {
  if (n >= b->n_lines) {
    b->n_lines = 0;
    return;
  }
  const size_t keep = b->n_lines - n;
  memmove(b->line_ids, b->line_ids + n, keep * sizeof(uint64_t));
  for (int f = 0; f < KPS_N_FIELDS; ++f)
    if (!omitted(b, f))
      memmove(b->data[f], (char *)b->data[f] + n * row_bytes(b, f), keep * row_bytes(b, f));
  b->n_lines = keep;
}

static void *at(kps_batch *b, kps_field_id f, size_t row) {
  return (char *)b->data[f] + (omitted(b, f) ? 0 : row) * row_bytes(b, f);
}

double *kps_batch_f64(kps_batch *b, kps_field_id f, size_t row) { return at(b, f, row); }
int32_t *kps_batch_i32(kps_batch *b, kps_field_id f, size_t row) { return at(b, f, row); }
int8_t *kps_batch_i8(kps_batch *b, kps_field_id f, size_t row) { return at(b, f, row); }
