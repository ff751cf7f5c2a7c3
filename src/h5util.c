/* Helpers shared by the results-file modules (see h5util.h). */
#include "h5util.h"

#include <string.h>

#include "check.h"

hid_t kps_h5_mem_type(kps_dtype t) {
  switch (t) {
    case KPS_F64: return H5T_NATIVE_DOUBLE;
    case KPS_I32: return H5T_NATIVE_INT32;
    case KPS_I8: return H5T_NATIVE_INT8;
  }
  return H5T_NATIVE_DOUBLE;
}

hid_t kps_h5_file_type(kps_dtype t) {
  switch (t) {
    case KPS_F64: return H5T_IEEE_F64LE;
    case KPS_I32: return H5T_STD_I32LE;
    case KPS_I8: return H5T_STD_I8LE;
  }
  return H5T_IEEE_F64LE;
}

/* Whether the existing attribute a has type `type` and n values (0: scalar). */
static int same_shape(hid_t a, hid_t type, int n) {
  hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
  int same = t >= 0 && sp >= 0 && H5Tequal(t, type) > 0;
  if (same) {
    const int nd = H5Sget_simple_extent_ndims(sp);
    hsize_t dim = 0;
    same = n == 0 ? nd == 0 : nd == 1 && H5Sget_simple_extent_dims(sp, &dim, NULL) == 1 &&
                                  dim == (hsize_t)n;
  }
  if (t >= 0) H5Tclose(t);
  if (sp >= 0) H5Sclose(sp);
  return same;
}

kps_err kps_attr_put(hid_t obj, const char *name, hid_t type, int n, const void *data) {
  kps_err rc = KPS_OK;
  hid_t sp = H5I_INVALID_HID, a = H5I_INVALID_HID;
  const htri_t exists = H5Aexists(obj, name);
  KPS_CHECK_H5(exists);
  if (exists) {
    KPS_CHECK_H5_ID(a, H5Aopen(obj, name, H5P_DEFAULT));
    if (same_shape(a, type, n)) {
      KPS_CHECK_H5(H5Awrite(a, type, data));
      goto cleanup;
    }
    H5Aclose(a), a = H5I_INVALID_HID;
    KPS_CHECK_H5(H5Adelete(obj, name));
  }
  hsize_t dim = (hsize_t)n;
  KPS_CHECK_H5_ID(sp, n == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dim, NULL));
  KPS_CHECK_H5_ID(a, H5Acreate2(obj, name, type, sp, H5P_DEFAULT, H5P_DEFAULT));
  KPS_CHECK_H5(H5Awrite(a, type, data));
cleanup:
  if (a >= 0) H5Aclose(a);
  if (sp >= 0) H5Sclose(sp);
  return rc;
}

kps_err kps_attr_str(hid_t obj, const char *name, const char *s) {
  kps_err rc = KPS_OK;
  hid_t t = H5I_INVALID_HID;
  /* Variable-length UTF-8: what netCDF-4 and h5py read as plain strings. */
  KPS_CHECK_H5_ID(t, H5Tcopy(H5T_C_S1));
  KPS_CHECK_H5(H5Tset_size(t, H5T_VARIABLE));
  KPS_CHECK_H5(H5Tset_cset(t, H5T_CSET_UTF8));
  KPS_CHECK(kps_attr_put(obj, name, t, 0, &s));
cleanup:
  if (t >= 0) H5Tclose(t);
  return rc;
}

kps_err kps_attr_f64(hid_t obj, const char *name, double v) {
  return kps_attr_put(obj, name, H5T_NATIVE_DOUBLE, 0, &v);
}

hid_t kps_h5_compound(size_t size, const kps_h5_member *members, size_t n) {
  hid_t t = H5Tcreate(H5T_COMPOUND, size);
  for (size_t i = 0; t >= 0 && i < n; ++i)
    if (H5Tinsert(t, members[i].name, members[i].offset, members[i].type) < 0) {
      H5Tclose(t);
      t = H5I_INVALID_HID;
    }
  return t;
}

void kps_field_dims(const kps_config *cfg, const kps_field_info *fi, int *nd, hsize_t *dims) {
  int k = 0;
  for (size_t a = 0; a < cfg->n_axes; ++a) dims[k++] = cfg->axes[a].n;
  dims[k++] = cfg->L2.n;
  const kps_dims d = kps_config_dims(cfg);
  size_t trail[2];
  const int n_trail = kps_scope_trailing(fi->scope, &d, trail);
  for (int t = 0; t < n_trail; ++t) dims[k++] = trail[t];
  *nd = k;
}

hid_t kps_serial_fapl(void) {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  /* Dense attribute storage (1.8 format): the job text and its canonical
   * form can exceed the 64 KiB of compact attributes. The 1.8 lower bound
   * also keeps superblock version 2, which opening a file for writing does
   * not rewrite. */
  if (fapl >= 0 && (H5Pset_fapl_sec2(fapl) < 0 ||
                    H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST) < 0)) {
    H5Pclose(fapl);
    return H5I_INVALID_HID;
  }
  return fapl;
}

kps_err kps_h5_never_filled(hid_t dset, int *never) {
  kps_err rc = KPS_OK;
  hid_t dcpl = H5I_INVALID_HID;
  H5D_fill_time_t when = H5D_FILL_TIME_IFSET;
  KPS_CHECK_H5_ID(dcpl, H5Dget_create_plist(dset));
  KPS_CHECK_H5(H5Pget_fill_time(dcpl, &when));
  *never = when == H5D_FILL_TIME_NEVER;
cleanup:
  if (dcpl >= 0) H5Pclose(dcpl);
  return rc;
}

hid_t kps_parallel_fapl(MPI_Comm comm) {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl >= 0 && (H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL) < 0 ||
                    H5Pset_all_coll_metadata_ops(fapl, 1) < 0 ||
                    H5Pset_coll_metadata_write(fapl, 1) < 0)) {
    H5Pclose(fapl);
    return H5I_INVALID_HID;
  }
  return fapl;
}

void kps_chunk_shape(int nd, const hsize_t *dims, hsize_t *chunk) {
  hsize_t left = KPS_CHUNK_TARGET;
  for (int d = nd - 1; d >= 0; --d) {
    chunk[d] = dims[d] < left ? dims[d] : left;
    if (chunk[d] < 1) chunk[d] = 1;
    left = left / chunk[d] > 0 ? left / chunk[d] : 1;
  }
}
