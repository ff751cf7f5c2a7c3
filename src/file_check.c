/*
 * Checks of an existing file before a run touches it, serially on rank 0:
 * the file is only read, and every dataset must have exactly the shape and
 * type the plan gives, so a damaged or crafted file can neither steer a
 * write outside the plan nor make the run allocate by its sizes.
 */
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "h5util.h"
#include "results_file.h"

/* Reports a file that cannot be resumed; the caller jumps to cleanup. */
#define REFUSE(...)                                                          \
  do {                                                                       \
    rc = KPS_ERR_MISMATCH;                                                   \
    if (report) {                                                            \
      fprintf(stderr, "kpsweep: error: %s: ", path);                         \
      fprintf(stderr, __VA_ARGS__);                                          \
      fprintf(stderr, "; nothing was changed. Use another -o, or --force to replace it.\n"); \
    }                                                                        \
    goto cleanup;                                                            \
  } while (0)

static void shape_text(int nd, const hsize_t *dims, char *buf, size_t n) {
  size_t len = (size_t)snprintf(buf, n, "(");
  for (int k = 0; k < nd && len < n; ++k)
    len += (size_t)snprintf(buf + len, n - len, "%s%llu", k ? ", " : "",
                            (unsigned long long)dims[k]);
  if (len < n) snprintf(buf + len, n - len, ")");
}

/* Whether dataset `name` has rank nd, extents dims and a type equal to
 * `type` in class, size and sign; describes the difference in why. */
static int dataset_matches(hid_t file, const char *name, int nd, const hsize_t *dims, hid_t type,
                           char *why, size_t n) {
  int ok = 0;
  hid_t d = H5I_INVALID_HID, sp = H5I_INVALID_HID, t = H5I_INVALID_HID;
  const htri_t exists = H5Lexists(file, name, H5P_DEFAULT);
  if (exists <= 0) {
    snprintf(why, n, "%s is missing", name);
    return 0;
  }
  d = H5Dopen2(file, name, H5P_DEFAULT);
  if (d < 0) {
    snprintf(why, n, "%s is not a dataset", name);
    goto done;
  }
  sp = H5Dget_space(d);
  t = H5Dget_type(d);
  const int have_nd = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
  hsize_t have[H5S_MAX_RANK];
  if (have_nd < 0 || have_nd > H5S_MAX_RANK || H5Sget_simple_extent_dims(sp, have, NULL) < 0) {
    snprintf(why, n, "%s has no readable shape", name);
    goto done;
  }
  int same = have_nd == nd;
  for (int k = 0; same && k < nd; ++k) same = have[k] == dims[k];
  if (!same) {
    char a[256], b[256];
    shape_text(have_nd, have, a, sizeof a);
    shape_text(nd, dims, b, sizeof b);
    snprintf(why, n, "%s has shape %s, the plan needs %s", name, a, b);
    goto done;
  }
  if (t < 0 || H5Tget_class(t) != H5Tget_class(type) || H5Tget_size(t) != H5Tget_size(type) ||
      (H5Tget_class(t) == H5T_INTEGER && H5Tget_sign(t) != H5Tget_sign(type))) {
    snprintf(why, n, "%s has another type than the plan needs", name);
    goto done;
  }
  ok = 1;
done:
  if (t >= 0) H5Tclose(t);
  if (sp >= 0) H5Sclose(sp);
  if (d >= 0) H5Dclose(d);
  return ok;
}

/* Reads config_hash into *hash: 1 when present as a scalar 64-bit integer,
 * 0 when absent, -1 when present but of another kind. */
static int read_hash(hid_t file, uint64_t *hash) {
  const htri_t exists = H5Aexists(file, "config_hash");
  if (exists == 0) return 0;
  if (exists < 0) return -1;
  int ok = -1;
  hid_t a = H5Aopen(file, "config_hash", H5P_DEFAULT);
  hid_t t = a >= 0 ? H5Aget_type(a) : H5I_INVALID_HID;
  hid_t sp = a >= 0 ? H5Aget_space(a) : H5I_INVALID_HID;
  if (t >= 0 && sp >= 0 && H5Tget_class(t) == H5T_INTEGER && H5Tget_size(t) == 8 &&
      H5Sget_simple_extent_type(sp) == H5S_SCALAR &&
      H5Aread(a, H5T_NATIVE_UINT64, hash) >= 0)
    ok = 1;
  if (sp >= 0) H5Sclose(sp);
  if (t >= 0) H5Tclose(t);
  if (a >= 0) H5Aclose(a);
  return ok;
}

/*
 * Reads the progress map (already checked: 1-D, n_lines bytes) in blocks;
 * counts completed lines into *n_done and sets bits when bits != NULL.
 */
static kps_err read_done(hid_t file, uint64_t n_lines, uint8_t *bits, uint64_t *n_done) {
  kps_err rc = KPS_OK;
  hid_t d = H5I_INVALID_HID, fsp = H5I_INVALID_HID, msp = H5I_INVALID_HID;
  uint8_t *block = malloc(KPS_DONE_BLOCK);
  *n_done = 0;
  KPS_CHECK_ALLOC(block);
  if (bits) memset(bits, 0, (n_lines + 7) / 8);
  KPS_CHECK_H5_ID(d, H5Dopen2(file, "/progress/line_done", H5P_DEFAULT));
  KPS_CHECK_H5_ID(fsp, H5Dget_space(d));
  for (hsize_t start = 0; start < n_lines; start += KPS_DONE_BLOCK) {
    hsize_t count = n_lines - start < KPS_DONE_BLOCK ? n_lines - start : KPS_DONE_BLOCK;
    KPS_CHECK_H5_ID(msp, H5Screate_simple(1, &count, NULL));
    KPS_CHECK_H5(H5Sselect_hyperslab(fsp, H5S_SELECT_SET, &start, NULL, &count, NULL));
    KPS_CHECK_H5(H5Dread(d, H5T_NATIVE_UINT8, msp, fsp, H5P_DEFAULT, block));
    H5Sclose(msp), msp = H5I_INVALID_HID;
    for (hsize_t k = 0; k < count; ++k) {
      if (!block[k]) continue;
      ++*n_done;
      if (bits) bits[(start + k) / 8] |= (uint8_t)(1u << ((start + k) % 8));
    }
  }
cleanup:
  free(block);
  if (msp >= 0) H5Sclose(msp);
  if (fsp >= 0) H5Sclose(fsp);
  if (d >= 0) H5Dclose(d);
  return rc;
}

kps_err kps_file_check(const kps_config *cfg, const char *path, uint8_t *bits,
                       kps_file_kind *kind, int report) {
  kps_err rc = KPS_OK;
  hid_t fapl = H5I_INVALID_HID, file = H5I_INVALID_HID;
  char *canon = NULL;
  char why[1024];
  const uint64_t n_lines = kps_config_n_lines(cfg);
  *kind = KPS_FILE_RESULTS;
  /* HDF5 says "not HDF5" for a file it may not read. */
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) REFUSE("cannot be read: %s", strerror(errno));
  close(fd);
  if (H5Fis_hdf5(path) <= 0) REFUSE("not an HDF5 file (empty, damaged, or another format)");
  KPS_CHECK_H5_ID(fapl, kps_serial_fapl());
  file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
  if (file < 0) REFUSE("cannot be read as HDF5 (damaged, or locked by another program)");
  uint64_t have = 0;
  const int hash = read_hash(file, &have);
  const hsize_t nl = n_lines;
  const int has_map = dataset_matches(file, "/progress/line_done", 1, &nl, H5T_STD_U8LE, why,
                                      sizeof why);
  if (hash == 0) {
    /* No provenance: the layout was never completed. Replace it only when
     * it is recognisably ours and holds no computed line. */
    uint64_t n_done = 0;
    const htri_t has_axes = H5Lexists(file, "axes", H5P_DEFAULT);
    H5O_info_t info;
    const int empty = H5Oget_info_by_name(file, "/", &info, H5P_DEFAULT) >= 0 &&
                      info.num_attrs == 0;
    hsize_t n_links = 0;
    H5G_info_t ginfo;
    if (H5Gget_info(file, &ginfo) >= 0) n_links = ginfo.nlinks;
    if (has_map) KPS_CHECK(read_done(file, n_lines, NULL, &n_done));
    if (empty && (n_links == 0 || has_axes > 0) && n_done == 0) {
      *kind = KPS_FILE_STUB;
      goto cleanup;
    }
    REFUSE("not a kpsweep results file (no config_hash attribute)");
  }
  if (hash < 0) REFUSE("its config_hash attribute is not a 64-bit integer");
  canon = kps_config_canonical(cfg);
  KPS_CHECK_ALLOC(canon);
  if (have != kps_hash64(canon, strlen(canon)))
    REFUSE("made from a different configuration than %s (model, parameters, axes, threshold, "
           "solver or attack settings differ), so it cannot be resumed with it",
           cfg->source);
  if (!has_map) REFUSE("%s", why);
  const kps_field_info *fi = kps_fields();
  for (int f = 0; f < KPS_N_FIELDS; ++f) {
    char name[128];
    hsize_t dims[KPS_FIELD_MAX_RANK];
    int nd = 0;
    snprintf(name, sizeof name, "/%s/%s", fi[f].scope == KPS_POINT ? "points" : "lines",
             fi[f].name);
    kps_field_dims(cfg, &fi[f], &nd, dims);
    if (!dataset_matches(file, name, nd, dims, kps_h5_file_type(fi[f].type), why, sizeof why))
      REFUSE("%s", why);
  }
  uint64_t n_done = 0;
  KPS_CHECK(read_done(file, n_lines, bits, &n_done));
cleanup:
  free(canon);
  if (file >= 0) H5Fclose(file);
  if (fapl >= 0) H5Pclose(fapl);
  return rc;
}
