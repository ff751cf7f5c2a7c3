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

size_t kps_scope_len(kps_scope s, size_t n_tau, size_t n_bins) {
  return s == KPS_POINT ? n_tau : s == KPS_LINE_BIN ? n_bins : 1;
}

size_t kps_fields_bytes_per_line(size_t n_tau, size_t n_bins) {
  size_t b = 0;
  for (int f = 0; f < KPS_N_FIELDS; ++f)
    b += kps_dtype_size(fields[f].type) * kps_scope_len(fields[f].scope, n_tau, n_bins);
  return b;
}

size_t kps_batch_field_len(const kps_batch *b, kps_field_id f) {
  return kps_scope_len(fields[f].scope, b->n_tau, b->n_bins);
}

static size_t row_bytes(const kps_batch *b, int f) {
  return kps_batch_field_len(b, (kps_field_id)f) * kps_dtype_size(fields[f].type);
}

static int grow(kps_batch *b, size_t cap) {
  uint64_t *ids = realloc(b->line_ids, sizeof(uint64_t) * cap);
  if (!ids) return 1;
  b->line_ids = ids;
  for (int f = 0; f < KPS_N_FIELDS; ++f) {
    void *d = realloc(b->data[f], row_bytes(b, f) * cap);
    if (!d) return 1;
    b->data[f] = d;
  }
  b->cap = cap;
  return 0;
}

kps_err kps_batch_create(size_t n_tau, size_t n_bins, size_t cap, kps_batch **out) {
  kps_err rc = KPS_OK;
  kps_batch *b = calloc(1, sizeof *b);
  KPS_CHECK_ALLOC(b);
  b->n_tau = n_tau;
  b->n_bins = n_bins;
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

static void *at(kps_batch *b, kps_field_id f, size_t row) {
  return (char *)b->data[f] + row * row_bytes(b, f);
}

double *kps_batch_f64(kps_batch *b, kps_field_id f, size_t row) { return at(b, f, row); }
int32_t *kps_batch_i32(kps_batch *b, kps_field_id f, size_t row) { return at(b, f, row); }
int8_t *kps_batch_i8(kps_batch *b, kps_field_id f, size_t row) { return at(b, f, row); }
