/* Gzipped IDX files read with zlib (see kpsweep/idx.h). */
#include "kpsweep/idx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Reads exactly n bytes; 0 on a short read or a zlib error. */
static int read_all(gzFile f, void *buf, size_t n) {
  uint8_t *p = buf;
  while (n > 0) {
    /* gzread takes an unsigned count: read in pieces of at most 1 GiB. */
    const unsigned chunk = n > (1u << 30) ? (1u << 30) : (unsigned)n;
    const int got = gzread(f, p, chunk);
    if (got <= 0) return 0;
    p += got, n -= (size_t)got;
  }
  return 1;
}

static uint32_t be32(const uint8_t *b) {
  return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/*
 * Opens one IDX file and checks its header: magic 0x0000 08 (unsigned
 * byte) and `ndim` dimensions; dims[] receives them.
 */
static kps_err open_idx(const char *path, int ndim, uint32_t *dims, gzFile *out) {
  kps_err rc = KPS_OK;
  gzFile f = gzopen(path, "rb");
  uint8_t head[16];
  if (!f)
    KPS_FAIL(KPS_ERR_CONFIG, "cannot open %s: %s (install Debian's dataset-fashion-mnist, "
             "or pass the directory holding the IDX files)", path, strerror(errno));
  if (!read_all(f, head, 4 + 4 * (size_t)ndim))
    KPS_FAIL(KPS_ERR_CONFIG, "%s: truncated IDX header", path);
  if (head[0] != 0 || head[1] != 0 || head[2] != 0x08 || head[3] != ndim)
    KPS_FAIL(KPS_ERR_CONFIG, "%s: not an IDX file of unsigned bytes with %d dimensions", path,
             ndim);
  for (int d = 0; d < ndim; ++d) dims[d] = be32(head + 4 + 4 * d);
  *out = f, f = NULL;
cleanup:
  if (f) gzclose(f);
  return rc;
}

kps_err kps_idx_load(const char *dir, const char *prefix, size_t limit, kps_idx_set *set) {
  kps_err rc = KPS_OK;
  gzFile fi = NULL, fl = NULL;
  char pi[4096], pl[4096];
  uint32_t di[3], dl[1];
  memset(set, 0, sizeof *set);
  snprintf(pi, sizeof pi, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
  snprintf(pl, sizeof pl, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
  KPS_CHECK(open_idx(pi, 3, di, &fi));
  KPS_CHECK(open_idx(pl, 1, dl, &fl));
  if (di[0] != dl[0])
    KPS_FAIL(KPS_ERR_CONFIG, "%s holds %u images but %s %u labels", pi, di[0], pl, dl[0]);
  if (di[1] == 0 || di[2] == 0 || di[1] > 4096 || di[2] > 4096)
    KPS_FAIL(KPS_ERR_CONFIG, "%s: implausible image size %u x %u", pi, di[1], di[2]);
  set->n = limit > 0 && limit < di[0] ? limit : di[0];
  set->rows = (int)di[1], set->cols = (int)di[2];
  const size_t npix = set->n * (size_t)set->rows * (size_t)set->cols;
  KPS_CHECK_ALLOC(set->pixels = malloc(npix ? npix : 1));
  KPS_CHECK_ALLOC(set->labels = malloc(set->n ? set->n : 1));
  if (!read_all(fi, set->pixels, npix)) KPS_FAIL(KPS_ERR_CONFIG, "%s: truncated image data", pi);
  if (!read_all(fl, set->labels, set->n)) KPS_FAIL(KPS_ERR_CONFIG, "%s: truncated labels", pl);
  for (size_t k = 0; k < set->n; ++k)
    if (set->labels[k] >= KPS_FASHION_CLASSES)
      KPS_FAIL(KPS_ERR_CONFIG, "%s: label %u of image %zu is not a class 0..9", pl,
               set->labels[k], k);
cleanup:
  if (fi) gzclose(fi);
  if (fl) gzclose(fl);
  if (rc != KPS_OK) kps_idx_destroy(set);
  return rc;
}

void kps_idx_destroy(kps_idx_set *set) {
  free(set->pixels);
  free(set->labels);
  memset(set, 0, sizeof *set);
}

void kps_idx_pixels(const kps_idx_set *set, size_t k, double *x) {
  const size_t d = (size_t)set->rows * (size_t)set->cols;
  const uint8_t *p = set->pixels + k * d;
  for (size_t i = 0; i < d; ++i) x[i] = p[i] / 255.0;
}
