/*
 * The parallel HDF5 results file: collective creation from the plan,
 * collective flushes of every rank's batch, the progress map that makes a
 * run resumable, and provenance attributes.
 */
#include "kpsweep/writer.h"

#include <hdf5.h>
#include <hdf5_hl.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "kps_build_config.h"
#include "kps_revision.h"
#include "kpsweep/progress.h"
#include "kpsweep/status.h"

/* Target number of values per HDF5 chunk (about 256 KiB of doubles). */
#define CHUNK_TARGET 32768
/* Lines of the progress map read per block on resume. */
#define READ_BLOCK ((hsize_t)1 << 20)

struct kps_writer {
  MPI_Comm comm;
  int rank;
  hid_t file;
  hid_t dset[KPS_N_FIELDS];
  hid_t done;
  int nd_line;                  /* rank of the line space: axes + L2 */
  hsize_t ldims[KPS_MAX_AXES + 2];
  size_t n_tau;
  size_t n_bins;                /* the descent histogram's `bin` dimension */
  uint64_t n_lines;
};

/* Extent of the trailing dimension of a scope's datasets (0: none). */
static hsize_t trailing(const kps_writer *w, kps_scope s) {
  return s == KPS_LINE ? 0 : kps_scope_len(s, w->n_tau, w->n_bins);
}

static hid_t h5_type(kps_dtype t) {
  switch (t) {
    case KPS_F64: return H5T_NATIVE_DOUBLE;
    case KPS_I32: return H5T_NATIVE_INT32;
    case KPS_I8: return H5T_NATIVE_INT8;
  }
  return H5T_NATIVE_DOUBLE;
}

static hid_t h5_file_type(kps_dtype t) {
  switch (t) {
    case KPS_F64: return H5T_IEEE_F64LE;
    case KPS_I32: return H5T_STD_I32LE;
    case KPS_I8: return H5T_STD_I8LE;
  }
  return H5T_IEEE_F64LE;
}

/* Writes (or replaces) an attribute on obj: a scalar for n = 0, else an
 * array of n values. Collective. */
static kps_err attr_put(hid_t obj, const char *name, hid_t type, int n, const void *data) {
  kps_err rc = KPS_OK;
  hid_t sp = H5I_INVALID_HID, a = H5I_INVALID_HID;
  htri_t exists = H5Aexists(obj, name);
  KPS_CHECK_H5(exists);
  if (exists) KPS_CHECK_H5(H5Adelete(obj, name));
  hsize_t dim = (hsize_t)n;
  KPS_CHECK_H5_ID(sp, n == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dim, NULL));
  KPS_CHECK_H5_ID(a, H5Acreate2(obj, name, type, sp, H5P_DEFAULT, H5P_DEFAULT));
  KPS_CHECK_H5(H5Awrite(a, type, data));
cleanup:
  if (a >= 0) H5Aclose(a);
  if (sp >= 0) H5Sclose(sp);
  return rc;
}

static kps_err attr_str(hid_t obj, const char *name, const char *s) {
  kps_err rc = KPS_OK;
  hid_t t = H5I_INVALID_HID;
  KPS_CHECK_H5_ID(t, H5Tcopy(H5T_C_S1));
  KPS_CHECK_H5(H5Tset_size(t, strlen(s) + 1));
  KPS_CHECK_H5(H5Tset_strpad(t, H5T_STR_NULLTERM));
  KPS_CHECK(attr_put(obj, name, t, 0, s));
cleanup:
  if (t >= 0) H5Tclose(t);
  return rc;
}

/* A scalar float64 attribute. */
static kps_err attr_f64(hid_t obj, const char *name, const double *v) {
  return attr_put(obj, name, H5T_NATIVE_DOUBLE, 0, v);
}

static void iso_time(double t, char *buf, size_t n) {
  time_t s = (time_t)t;
  struct tm tm;
  gmtime_r(&s, &tm);
  strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Chunk shape: fill from the innermost dimension outwards up to the target. */
static void chunk_shape(int nd, const hsize_t *dims, hsize_t *chunk) {
  hsize_t left = CHUNK_TARGET;
  for (int d = nd - 1; d >= 0; --d) {
    chunk[d] = dims[d] < left ? dims[d] : left;
    if (chunk[d] < 1) chunk[d] = 1;
    left = left / chunk[d] > 0 ? left / chunk[d] : 1;
  }
}

/* Writes a whole 1-D dataset from rank 0; the others join with no selection. */
static kps_err write_from_root(kps_writer *w, hid_t dset, hid_t memtype, hsize_t n,
                               const void *data) {
  kps_err rc = KPS_OK;
  hid_t fsp = H5I_INVALID_HID, msp = H5I_INVALID_HID, xfer = H5I_INVALID_HID;
  KPS_CHECK_H5_ID(fsp, H5Dget_space(dset));
  KPS_CHECK_H5_ID(msp, H5Screate_simple(1, &n, NULL));
  if (w->rank != 0) {
    KPS_CHECK_H5(H5Sselect_none(fsp));
    KPS_CHECK_H5(H5Sselect_none(msp));
  }
  KPS_CHECK_H5_ID(xfer, H5Pcreate(H5P_DATASET_XFER));
  KPS_CHECK_H5(H5Pset_dxpl_mpio(xfer, H5FD_MPIO_COLLECTIVE));
  KPS_CHECK_H5(H5Dwrite(dset, memtype, msp, fsp, xfer, data));
cleanup:
  if (xfer >= 0) H5Pclose(xfer);
  if (msp >= 0) H5Sclose(msp);
  if (fsp >= 0) H5Sclose(fsp);
  return rc;
}

static kps_err create_axis(kps_writer *w, hid_t grp, const kps_axis *ax, hid_t *out) {
  kps_err rc = KPS_OK;
  hid_t sp = H5I_INVALID_HID, d = H5I_INVALID_HID;
  hsize_t n = ax->n;
  KPS_CHECK_H5_ID(sp, H5Screate_simple(1, &n, NULL));
  KPS_CHECK_H5_ID(d, H5Dcreate2(grp, ax->name, H5T_IEEE_F64LE, sp, H5P_DEFAULT,
                                H5P_DEFAULT, H5P_DEFAULT));
  KPS_CHECK(write_from_root(w, d, H5T_NATIVE_DOUBLE, n, ax->values));
  KPS_CHECK_H5(H5DSset_scale(d, ax->name));
  /* netCDF readers (xarray's h5netcdf engine) look a dimension up in the
   * dataset's group and its ancestors, not in sibling /axes: a second,
   * hard link at the root makes /points and /lines readable there. */
  KPS_CHECK_H5(H5Lcreate_hard(grp, ax->name, w->file, ax->name, H5P_DEFAULT, H5P_DEFAULT));
  *out = d;
  d = H5I_INVALID_HID;
cleanup:
  if (d >= 0) H5Dclose(d);
  if (sp >= 0) H5Sclose(sp);
  return rc;
}

/*
 * CF flag attributes of a categorical field: flag_values in the dataset's
 * own type, flag_meanings as space-separated words. The status field takes
 * both from the status table.
 */
static kps_err field_flags(hid_t d, const kps_field_info *fi) {
  kps_err rc = KPS_OK;
  int32_t v32[64];
  int8_t v8[64];
  char meanings[1024] = "";
  int n = 0;
  if (!fi->flag_values) return KPS_OK;
  if (strcmp(fi->flag_values, KPS_FLAGS_FROM_STATUS) == 0) {
    for (int c = KPS_ST_NOT_COMPUTED; c <= KPS_ST_LAST && n < 64; ++c) {
      const size_t len = strlen(meanings);
      snprintf(meanings + len, sizeof meanings - len, "%s%s", n ? " " : "", kps_status_name(c));
      v32[n++] = c;
    }
  } else {
    const char *p = fi->flag_values;
    char *end;
    for (long x = strtol(p, &end, 10); end != p && n < 64; x = strtol(p, &end, 10)) {
      v32[n++] = (int32_t)x;
      p = end;
    }
    snprintf(meanings, sizeof meanings, "%s", fi->flag_meanings);
  }
  for (int k = 0; k < n; ++k) v8[k] = (int8_t)v32[k];
  if (fi->type == KPS_I8) KPS_CHECK(attr_put(d, "flag_values", H5T_STD_I8LE, n, v8));
  else KPS_CHECK(attr_put(d, "flag_values", H5T_STD_I32LE, n, v32));
  KPS_CHECK(attr_str(d, "flag_meanings", meanings));
cleanup:
  return rc;
}

static kps_err create_field(kps_writer *w, hid_t grp, const kps_field_info *fi,
                            const hid_t *scales, int n_scales, hid_t *out) {
  kps_err rc = KPS_OK;
  hid_t sp = H5I_INVALID_HID, dcpl = H5I_INVALID_HID, d = H5I_INVALID_HID;
  hsize_t dims[KPS_MAX_AXES + 3], chunk[KPS_MAX_AXES + 3];
  int nd = w->nd_line;
  memcpy(dims, w->ldims, sizeof(hsize_t) * (size_t)nd);
  if (trailing(w, fi->scope) > 0) dims[nd++] = trailing(w, fi->scope);
  chunk_shape(nd, dims, chunk);
  KPS_CHECK_H5_ID(sp, H5Screate_simple(nd, dims, NULL));
  KPS_CHECK_H5_ID(dcpl, H5Pcreate(H5P_DATASET_CREATE));
  KPS_CHECK_H5(H5Pset_chunk(dcpl, nd, chunk));
  KPS_CHECK_H5(H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY));
  const double fnan = NAN;
  const int32_t fi32 = -1;
  const int8_t fi8 = -1;
  const void *fill = fi->type == KPS_F64 ? (const void *)&fnan
                     : fi->type == KPS_I32 ? (const void *)&fi32 : (const void *)&fi8;
  KPS_CHECK_H5(H5Pset_fill_value(dcpl, h5_type(fi->type), fill));
  KPS_CHECK_H5_ID(d, H5Dcreate2(grp, fi->name, h5_file_type(fi->type), sp, H5P_DEFAULT,
                                dcpl, H5P_DEFAULT));
  KPS_CHECK(attr_str(d, "units", fi->unit));
  KPS_CHECK(attr_str(d, "description", fi->doc));
  KPS_CHECK(field_flags(d, fi));
  for (int k = 0; k < n_scales && k < nd; ++k)
    KPS_CHECK_H5(H5DSattach_scale(d, scales[k], (unsigned)k));
  *out = d;
  d = H5I_INVALID_HID;
cleanup:
  if (d >= 0) H5Dclose(d);
  if (dcpl >= 0) H5Pclose(dcpl);
  if (sp >= 0) H5Sclose(sp);
  return rc;
}

static char *status_table(void) {
  size_t cap = 4096, len = 0;
  char *s = malloc(cap);
  if (!s) return NULL;
  s[0] = '\0';
  for (int c = KPS_ST_NOT_COMPUTED; c <= KPS_ST_LAST; ++c)
    len += (size_t)snprintf(s + len, cap - len, "%d %s: %s\n", c, kps_status_name(c),
                            kps_status_doc(c));
  return s;
}

static kps_err write_provenance(kps_writer *w, const kps_config *cfg) {
  kps_err rc = KPS_OK;
  char *canon = kps_config_canonical(cfg), *codes = status_table();
  KPS_CHECK_ALLOC(canon);
  KPS_CHECK_ALLOC(codes);
  hid_t root = w->file;
  uint64_t hash = kps_hash64(canon, strlen(canon));
  /* Attributes are written collectively with identical data: rank 0's clock. */
  double t_now = kps_epoch_now();
  KPS_CHECK_MPI(MPI_Bcast(&t_now, 1, MPI_DOUBLE, 0, w->comm));
  char when[64];
  iso_time(t_now, when, sizeof when);
  int size = 0;
  KPS_CHECK_MPI(MPI_Comm_size(w->comm, &size));
  const double nranks = size, npts = (double)kps_config_n_points(cfg);
  KPS_CHECK(attr_str(root, "kpsweep_version", KPS_VERSION));
  KPS_CHECK(attr_str(root, "git_revision", KPS_GIT_REVISION));
  KPS_CHECK(attr_str(root, "model", cfg->model->name));
  KPS_CHECK(attr_str(root, "job_name", cfg->name));
  KPS_CHECK(attr_str(root, "config", cfg->text));
  KPS_CHECK(attr_str(root, "config_source", cfg->source));
  KPS_CHECK(attr_str(root, "config_canonical", canon));
  KPS_CHECK(attr_put(root, "config_hash", H5T_NATIVE_UINT64, 0, &hash));
  KPS_CHECK(attr_str(root, "created", when));
  KPS_CHECK(attr_str(root, "status_codes", codes));
  KPS_CHECK(attr_f64(root, "n_ranks_created", &nranks));
  KPS_CHECK(attr_f64(root, "n_points", &npts));
cleanup:
  free(canon);
  free(codes);
  return rc;
}

/* Rank 0 checks whether path exists; every rank learns the answer. */
static kps_err path_exists(const char *path, MPI_Comm comm, int *exists) {
  kps_err rc = KPS_OK;
  int rank = 0;
  KPS_CHECK_MPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) *exists = access(path, F_OK) == 0;
  KPS_CHECK_MPI(MPI_Bcast(exists, 1, MPI_INT, 0, comm));
cleanup:
  return rc;
}

/* Creates the parent directory of path on rank 0 (mkdir -p). */
static kps_err make_parent(const char *path, MPI_Comm comm) {
  kps_err rc = KPS_OK;
  int rank = 0, bad = 0;
  KPS_CHECK_MPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) {
    char dir[KPS_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
      *slash = '\0';
      for (char *c = dir + 1; *c && !bad; ++c)
        if (*c == '/') {
          *c = '\0';
          bad = mkdir(dir, 0777) != 0 && errno != EEXIST;
          *c = '/';
        }
      if (!bad) bad = mkdir(dir, 0777) != 0 && errno != EEXIST;
      if (bad) fprintf(stderr, "kpsweep: error: cannot create directory %s: %s\n", dir,
                       strerror(errno));
    }
  }
  KPS_CHECK_MPI(MPI_Bcast(&bad, 1, MPI_INT, 0, comm));
  if (bad) rc = KPS_ERR_IO;
cleanup:
  return rc;
}

static kps_err create_layout(kps_writer *w, const kps_config *cfg) {
  kps_err rc = KPS_OK;
  hid_t g_axes = H5I_INVALID_HID, g_pts = H5I_INVALID_HID, g_lines = H5I_INVALID_HID;
  hid_t g_prog = H5I_INVALID_HID, sp = H5I_INVALID_HID, dcpl = H5I_INVALID_HID;
  hid_t scales[KPS_MAX_AXES + 3], bin_scale = H5I_INVALID_HID;
  int n_scales = 0;
  double *centres = NULL;
  for (int k = 0; k < KPS_MAX_AXES + 3; ++k) scales[k] = H5I_INVALID_HID;
  KPS_CHECK_H5_ID(g_axes, H5Gcreate2(w->file, "axes", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  KPS_CHECK_H5_ID(g_pts, H5Gcreate2(w->file, "points", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  KPS_CHECK_H5_ID(g_lines, H5Gcreate2(w->file, "lines", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  KPS_CHECK_H5_ID(g_prog, H5Gcreate2(w->file, "progress", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  for (size_t a = 0; a < cfg->n_axes; ++a)
    KPS_CHECK(create_axis(w, g_axes, &cfg->axes[a], &scales[n_scales++]));
  KPS_CHECK(create_axis(w, g_axes, &cfg->L2, &scales[n_scales++]));
  KPS_CHECK(create_axis(w, g_axes, &cfg->tau2, &scales[n_scales++]));
  /* The descent histogram's bin centres (s). */
  centres = malloc(sizeof(double) * w->n_bins);
  KPS_CHECK_ALLOC(centres);
  for (size_t k = 0; k < w->n_bins; ++k) centres[k] = ((double)k + 0.5) * cfg->attack.bin_width;
  kps_axis bin_axis = {.name = "bin", .param = -1, .n = w->n_bins, .values = centres};
  KPS_CHECK(create_axis(w, g_axes, &bin_axis, &bin_scale));
  KPS_CHECK(attr_str(bin_scale, "units", "s"));
  KPS_CHECK(attr_str(bin_scale, "description", "centres of the descent histogram's bins"));
  /* Line fields take every scale but tau2's; bin fields the bin scale in
   * its place. */
  hid_t by_scope[KPS_MAX_AXES + 3];
  memcpy(by_scope, scales, sizeof(hid_t) * (size_t)n_scales);
  const kps_field_info *fi = kps_fields();
  for (int f = 0; f < KPS_N_FIELDS; ++f) {
    by_scope[n_scales - 1] = fi[f].scope == KPS_LINE_BIN ? bin_scale : scales[n_scales - 1];
    KPS_CHECK(create_field(w, fi[f].scope == KPS_POINT ? g_pts : g_lines, &fi[f], by_scope,
                           fi[f].scope == KPS_LINE ? n_scales - 1 : n_scales, &w->dset[f]));
  }
  hsize_t nl = w->n_lines, ch = nl < CHUNK_TARGET ? nl : CHUNK_TARGET;
  const uint8_t zero = 0;
  KPS_CHECK_H5_ID(sp, H5Screate_simple(1, &nl, NULL));
  KPS_CHECK_H5_ID(dcpl, H5Pcreate(H5P_DATASET_CREATE));
  KPS_CHECK_H5(H5Pset_chunk(dcpl, 1, &ch));
  KPS_CHECK_H5(H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY));
  KPS_CHECK_H5(H5Pset_fill_value(dcpl, H5T_NATIVE_UINT8, &zero));
  KPS_CHECK_H5_ID(w->done, H5Dcreate2(g_prog, "line_done", H5T_STD_U8LE, sp, H5P_DEFAULT,
                                      dcpl, H5P_DEFAULT));
  KPS_CHECK(attr_str(w->done, "description",
                     "1 once every point of the line (row-major over axes..., L2) is stored"));
  KPS_CHECK(write_provenance(w, cfg));
cleanup:
  for (int k = 0; k < n_scales; ++k)
    if (scales[k] >= 0) H5Dclose(scales[k]);
  if (bin_scale >= 0) H5Dclose(bin_scale);
  free(centres);
  if (dcpl >= 0) H5Pclose(dcpl);
  if (sp >= 0) H5Sclose(sp);
  if (g_prog >= 0) H5Gclose(g_prog);
  if (g_lines >= 0) H5Gclose(g_lines);
  if (g_pts >= 0) H5Gclose(g_pts);
  if (g_axes >= 0) H5Gclose(g_axes);
  return rc;
}

static kps_err open_layout(kps_writer *w, const kps_config *cfg, const char *path) {
  kps_err rc = KPS_OK;
  hid_t a = H5I_INVALID_HID;
  char *canon = kps_config_canonical(cfg);
  KPS_CHECK_ALLOC(canon);
  uint64_t want = kps_hash64(canon, strlen(canon)), have = 0;
  htri_t ok = H5Aexists(w->file, "config_hash");
  KPS_CHECK_H5(ok);
  if (!ok) KPS_FAIL(KPS_ERR_MISMATCH, "%s is not a kpsweep results file", path);
  KPS_CHECK_H5_ID(a, H5Aopen(w->file, "config_hash", H5P_DEFAULT));
  KPS_CHECK_H5(H5Aread(a, H5T_NATIVE_UINT64, &have));
  if (have != want) {
    rc = KPS_ERR_MISMATCH;
    if (w->rank == 0)
      fprintf(stderr,
              "kpsweep: error: %s was made from a different configuration than %s "
              "(model, parameters, axes, threshold, solver or attack settings differ); "
              "refusing to resume. Use another -o, or --force to start over.\n",
              path, cfg->source);
    goto cleanup;
  }
  const kps_field_info *fi = kps_fields();
  for (int f = 0; f < KPS_N_FIELDS; ++f) {
    char name[128];
    snprintf(name, sizeof name, "/%s/%s", fi[f].scope == KPS_POINT ? "points" : "lines",
             fi[f].name);
    KPS_CHECK_H5_ID(w->dset[f], H5Dopen2(w->file, name, H5P_DEFAULT));
  }
  KPS_CHECK_H5_ID(w->done, H5Dopen2(w->file, "/progress/line_done", H5P_DEFAULT));
cleanup:
  if (a >= 0) H5Aclose(a);
  free(canon);
  return rc;
}

kps_err kps_writer_open(const kps_config *cfg, const char *path, kps_open_mode mode,
                        MPI_Comm comm, kps_writer **out, int *resumed) {
  kps_err rc = KPS_OK;
  hid_t fapl = H5I_INVALID_HID, fcpl = H5I_INVALID_HID;
  kps_writer *w = calloc(1, sizeof *w);
  KPS_CHECK_ALLOC(w);
  w->comm = comm;
  w->file = w->done = H5I_INVALID_HID;
  for (int f = 0; f < KPS_N_FIELDS; ++f) w->dset[f] = H5I_INVALID_HID;
  KPS_CHECK_MPI(MPI_Comm_rank(comm, &w->rank));
  w->nd_line = (int)cfg->n_axes + 1;
  for (size_t a = 0; a < cfg->n_axes; ++a) w->ldims[a] = cfg->axes[a].n;
  w->ldims[cfg->n_axes] = cfg->L2.n;
  w->n_tau = cfg->tau2.n;
  w->n_bins = kps_config_n_bins(cfg);
  w->n_lines = kps_config_n_lines(cfg);
  *resumed = 0;

  int exists = 0;
  KPS_CHECK(path_exists(path, comm, &exists));
  if (exists && mode == KPS_OPEN_NEW) {
    rc = KPS_ERR_EXISTS;
    if (w->rank == 0)
      fprintf(stderr,
              "kpsweep: error: %s already exists; nothing was changed. Use --resume to "
              "continue it, --force to replace it, or -o for another file.\n", path);
    goto cleanup;
  }
  KPS_CHECK(make_parent(path, comm));
  KPS_CHECK_H5_ID(fapl, H5Pcreate(H5P_FILE_ACCESS));
  KPS_CHECK_H5(H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL));
  KPS_CHECK_H5(H5Pset_all_coll_metadata_ops(fapl, 1));
  KPS_CHECK_H5(H5Pset_coll_metadata_write(fapl, 1));
  /* Dense attribute storage (1.8 format): the job text and its canonical
   * form can exceed the 64 KiB of compact attributes. */
  KPS_CHECK_H5(H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST));
  KPS_CHECK_H5_ID(fcpl, H5Pcreate(H5P_FILE_CREATE));
  KPS_CHECK_H5(H5Pset_attr_phase_change(fcpl, 0, 0));
  if (exists && mode == KPS_OPEN_RESUME) {
    w->file = H5Fopen(path, H5F_ACC_RDWR, fapl);
    if (w->file < 0)
      KPS_FAIL(KPS_ERR_HDF5, "cannot open %s for resuming (not an HDF5 file, or not writable)",
               path);
    KPS_CHECK(open_layout(w, cfg, path));
    *resumed = 1;
  } else {
    w->file = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, fapl);
    if (w->file < 0)
      KPS_FAIL(KPS_ERR_HDF5, "cannot create the results file %s (a directory? no write access?)",
               path);
    KPS_CHECK(create_layout(w, cfg));
    KPS_CHECK_H5(H5Fflush(w->file, H5F_SCOPE_GLOBAL));
  }
  *out = w;
  w = NULL;
cleanup:
  if (fcpl >= 0) H5Pclose(fcpl);
  if (fapl >= 0) H5Pclose(fapl);
  kps_writer_abort(&w);
  return rc;
}

kps_err kps_writer_read_done(kps_writer *w, int root, uint8_t *bits) {
  kps_err rc = KPS_OK;
  hid_t fsp = H5I_INVALID_HID, msp = H5I_INVALID_HID, xfer = H5I_INVALID_HID;
  uint8_t *block = NULL;
  const hsize_t bs = READ_BLOCK;
  KPS_CHECK_H5_ID(fsp, H5Dget_space(w->done));
  KPS_CHECK_H5_ID(xfer, H5Pcreate(H5P_DATASET_XFER));
  KPS_CHECK_H5(H5Pset_dxpl_mpio(xfer, H5FD_MPIO_COLLECTIVE));
  block = malloc(bs);
  KPS_CHECK_ALLOC(block);
  if (bits && w->rank == root) memset(bits, 0, (w->n_lines + 7) / 8);
  for (hsize_t start = 0; start < w->n_lines; start += bs) {
    hsize_t count = w->n_lines - start < bs ? w->n_lines - start : bs;
    KPS_CHECK_H5_ID(msp, H5Screate_simple(1, &count, NULL));
    KPS_CHECK_H5(H5Sselect_hyperslab(fsp, H5S_SELECT_SET, &start, NULL, &count, NULL));
    if (w->rank != root) {
      KPS_CHECK_H5(H5Sselect_none(fsp));
      KPS_CHECK_H5(H5Sselect_none(msp));
    }
    KPS_CHECK_H5(H5Dread(w->done, H5T_NATIVE_UINT8, msp, fsp, xfer, block));
    H5Sclose(msp), msp = H5I_INVALID_HID;
    if (w->rank == root)
      for (hsize_t k = 0; k < count; ++k)
        if (block[k]) bits[(start + k) / 8] |= (uint8_t)(1u << ((start + k) % 8));
  }
cleanup:
  free(block);
  if (xfer >= 0) H5Pclose(xfer);
  if (msp >= 0) H5Sclose(msp);
  if (fsp >= 0) H5Sclose(fsp);
  return rc;
}

/* Hyperslab boxes of a selection, built before they are combined. */
typedef struct box_list {
  int nd;        /* dimensions per box */
  size_t n, cap;
  hsize_t *start, *count;
} box_list;

static kps_err box_push(box_list *bl, const hsize_t *start, const hsize_t *count) {
  kps_err rc = KPS_OK;
  if (bl->n == bl->cap) {
    size_t cap = bl->cap ? 2 * bl->cap : 16;
    hsize_t *s2 = realloc(bl->start, sizeof(hsize_t) * cap * (size_t)bl->nd);
    KPS_CHECK_ALLOC(s2);
    bl->start = s2;
    hsize_t *c2 = realloc(bl->count, sizeof(hsize_t) * cap * (size_t)bl->nd);
    KPS_CHECK_ALLOC(c2);
    bl->count = c2;
    bl->cap = cap;
  }
  memcpy(bl->start + bl->n * (size_t)bl->nd, start, sizeof(hsize_t) * (size_t)bl->nd);
  memcpy(bl->count + bl->n * (size_t)bl->nd, count, sizeof(hsize_t) * (size_t)bl->nd);
  ++bl->n;
cleanup:
  return rc;
}

/*
 * Boxes of the lines [a, b) (consecutive ids): each box is aligned to the
 * largest block of lines over the inner dimensions that fits, so a run
 * costs at most a few boxes per dimension.
 */
static kps_err run_boxes(const kps_writer *w, uint64_t a, uint64_t b, hsize_t trail,
                         box_list *bl) {
  kps_err rc = KPS_OK;
  const int nd = w->nd_line;
  uint64_t stride[KPS_MAX_AXES + 2];
  stride[nd - 1] = 1;
  for (int d = nd - 2; d >= 0; --d) stride[d] = stride[d + 1] * w->ldims[d + 1];
  while (a < b) {
    int d = 0;
    while (d < nd - 1 && (a % stride[d] != 0 || a + stride[d] > b)) ++d;
    const uint64_t pos = (a / stride[d]) % w->ldims[d];
    uint64_t c = (b - a) / stride[d];
    if (c > w->ldims[d] - pos) c = w->ldims[d] - pos;
    hsize_t start[KPS_MAX_AXES + 3], count[KPS_MAX_AXES + 3];
    uint64_t id = a;
    for (int k = nd - 1; k >= 0; --k) {
      start[k] = id % w->ldims[k];
      id /= w->ldims[k];
      count[k] = k < d ? 1 : k == d ? c : w->ldims[k];
    }
    if (trail > 0) start[nd] = 0, count[nd] = trail;
    KPS_CHECK(box_push(bl, start, count));
    a += c * stride[d];
  }
cleanup:
  return rc;
}

/*
 * The union of boxes [lo, hi) as a selection on a copy of `space`, combined
 * pairwise: adding boxes one by one to a selection costs time quadratic in
 * their number in HDF5 1.10, a balanced merge does not.
 */
static hid_t combine_boxes(hid_t space, const box_list *bl, size_t lo, size_t hi) {
  if (hi - lo == 1) {
    hid_t sp = H5Scopy(space);
    if (sp >= 0 && H5Sselect_hyperslab(sp, H5S_SELECT_SET, bl->start + lo * (size_t)bl->nd, NULL,
                                       bl->count + lo * (size_t)bl->nd, NULL) < 0) {
      H5Sclose(sp);
      return H5I_INVALID_HID;
    }
    return sp;
  }
  const size_t mid = lo + (hi - lo) / 2;
  hid_t a = combine_boxes(space, bl, lo, mid);
  hid_t b = a >= 0 ? combine_boxes(space, bl, mid, hi) : H5I_INVALID_HID;
  hid_t c = b >= 0 ? H5Scombine_select(a, H5S_SELECT_OR, b) : H5I_INVALID_HID;
  if (a >= 0) H5Sclose(a);
  if (b >= 0) H5Sclose(b);
  return c;
}

/* The union of the boxes as a selection on a copy of dset's space (an empty
 * selection when there are none). The caller closes it. */
static kps_err select_boxes(hid_t dset, const box_list *bl, hid_t *out) {
  kps_err rc = KPS_OK;
  hid_t space = H5I_INVALID_HID;
  KPS_CHECK_H5_ID(space, H5Dget_space(dset));
  if (bl->n == 0) {
    KPS_CHECK_H5(H5Sselect_none(space));
    *out = space;
    space = H5I_INVALID_HID;
  } else {
    KPS_CHECK_H5_ID(*out, combine_boxes(space, bl, 0, bl->n));
  }
cleanup:
  if (space >= 0) H5Sclose(space);
  return rc;
}

/* Selection of the lines ids[0..n) (sorted) in dset, with a trailing
 * dimension of extent trail (0: none). The caller closes it. */
static kps_err select_lines(const kps_writer *w, hid_t dset, const uint64_t *ids, size_t n,
                            hsize_t trail, hid_t *out) {
  kps_err rc = KPS_OK;
  box_list bl = {.nd = w->nd_line + (trail > 0 ? 1 : 0)};
  size_t i = 0;
  while (i < n) {
    size_t j = i + 1;
    while (j < n && ids[j] == ids[j - 1] + 1) ++j;
    KPS_CHECK(run_boxes(w, ids[i], ids[j - 1] + 1, trail, &bl));
    i = j;
  }
  KPS_CHECK(select_boxes(dset, &bl, out));
cleanup:
  free(bl.start);
  free(bl.count);
  return rc;
}

/* Selection of the progress map covering ranges (first, count) pairs. */
static kps_err select_ranges(const kps_writer *w, const uint64_t *ranges, size_t n_ranges,
                             hid_t *out, hsize_t *n_done) {
  kps_err rc = KPS_OK;
  box_list bl = {.nd = 1};
  *n_done = 0;
  for (size_t k = 0; k < n_ranges; ++k) {
    if (ranges[2 * k + 1] == 0) continue;
    const hsize_t start = ranges[2 * k], count = ranges[2 * k + 1];
    *n_done += count;
    KPS_CHECK(box_push(&bl, &start, &count));
  }
  KPS_CHECK(select_boxes(w->done, &bl, out));
cleanup:
  free(bl.start);
  free(bl.count);
  return rc;
}

kps_err kps_writer_flush(kps_writer *w, const kps_batch *b, const uint64_t *ranges,
                         size_t n_ranges, int final) {
  kps_err rc = KPS_OK;
  hid_t xfer = H5I_INVALID_HID, msp = H5I_INVALID_HID, done_sp = H5I_INVALID_HID;
  hid_t sel[KPS_N_SCOPES] = {H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID};
  uint8_t *ones = NULL;
  const size_t rows = b ? b->n_lines : 0;
  for (size_t r = 1; r < rows; ++r)
    if (b->line_ids[r] <= b->line_ids[r - 1])
      KPS_FAIL(KPS_ERR_INTERNAL, "batch rows are not sorted by line id");
  KPS_CHECK_H5_ID(xfer, H5Pcreate(H5P_DATASET_XFER));
  KPS_CHECK_H5(H5Pset_dxpl_mpio(xfer, H5FD_MPIO_COLLECTIVE));
  const kps_field_info *fi = kps_fields();
  /* Every dataset of a scope has the same extent: one selection serves all. */
  KPS_CHECK(select_lines(w, w->dset[F_O], rows ? b->line_ids : NULL, rows, w->n_tau,
                         &sel[KPS_POINT]));
  KPS_CHECK(select_lines(w, w->dset[F_O_TH], rows ? b->line_ids : NULL, rows, 0, &sel[KPS_LINE]));
  KPS_CHECK(select_lines(w, w->dset[F_DESC_HIST], rows ? b->line_ids : NULL, rows, w->n_bins,
                         &sel[KPS_LINE_BIN]));
  static const char dummy[8];
  for (int f = 0; f < KPS_N_FIELDS; ++f) {
    hsize_t nvals = rows * kps_scope_len(fi[f].scope, w->n_tau, w->n_bins);
    hsize_t mdim = nvals > 0 ? nvals : 1;
    KPS_CHECK_H5_ID(msp, H5Screate_simple(1, &mdim, NULL));
    if (nvals == 0) KPS_CHECK_H5(H5Sselect_none(msp));
    KPS_CHECK_H5(H5Dwrite(w->dset[f], h5_type(fi[f].type), msp, sel[fi[f].scope], xfer,
                          rows ? b->data[f] : dummy));
    H5Sclose(msp), msp = H5I_INVALID_HID;
  }
  /* The progress map is written after the data, so a line marked done is
   * always complete in the file. */
  hsize_t n_done = 0;
  KPS_CHECK(select_ranges(w, ranges, n_ranges, &done_sp, &n_done));
  hsize_t md = n_done > 0 ? n_done : 1;
  ones = malloc(md);
  KPS_CHECK_ALLOC(ones);
  memset(ones, 1, md);
  KPS_CHECK_H5_ID(msp, H5Screate_simple(1, &md, NULL));
  if (n_done == 0) KPS_CHECK_H5(H5Sselect_none(msp));
  KPS_CHECK_H5(H5Dwrite(w->done, H5T_NATIVE_UINT8, msp, done_sp, xfer, ones));
  /* A checkpoint must reach the disk; the final flush is followed by the
   * close, which flushes anyway. */
  if (!final) KPS_CHECK_H5(H5Fflush(w->file, H5F_SCOPE_GLOBAL));
cleanup:
  free(ones);
  if (done_sp >= 0) H5Sclose(done_sp);
  for (int k = 0; k < KPS_N_SCOPES; ++k)
    if (sel[k] >= 0) H5Sclose(sel[k]);
  if (msp >= 0) H5Sclose(msp);
  if (xfer >= 0) H5Pclose(xfer);
  return rc;
}

kps_err kps_writer_close(kps_writer **wp, const kps_run_record *rec) {
  kps_err rc = KPS_OK;
  kps_writer *w = *wp;
  char t0[64], t1[64];
  iso_time(rec->start_time, t0, sizeof t0);
  iso_time(rec->end_time, t1, sizeof t1);
  const double complete = rec->complete, interrupted = rec->interrupted;
  const double nr = rec->n_ranks, ld = (double)rec->lines_done;
  KPS_CHECK(attr_str(w->file, "start_time", t0));
  KPS_CHECK(attr_str(w->file, "end_time", t1));
  KPS_CHECK(attr_f64(w->file, "start_epoch", &rec->start_time));
  KPS_CHECK(attr_f64(w->file, "end_epoch", &rec->end_time));
  KPS_CHECK(attr_f64(w->file, "lines_computed", &rec->lines_computed));
  KPS_CHECK(attr_f64(w->file, "complete", &complete));
  KPS_CHECK(attr_f64(w->file, "interrupted", &interrupted));
  KPS_CHECK(attr_f64(w->file, "n_ranks", &nr));
  KPS_CHECK(attr_f64(w->file, "lines_done", &ld));
  KPS_CHECK(attr_put(w->file, "rank_lines", H5T_NATIVE_DOUBLE, rec->n_ranks, rec->rank_lines));
  KPS_CHECK(attr_put(w->file, "rank_busy_seconds", H5T_NATIVE_DOUBLE, rec->n_ranks,
                     rec->rank_busy_s));
  KPS_CHECK(attr_f64(w->file, "hdf5_seconds", &rec->hdf5_seconds));
  KPS_CHECK(attr_str(w->file, "git_revision_last_run", KPS_GIT_REVISION));
cleanup:
  kps_writer_abort(wp);
  return rc;
}

void kps_writer_abort(kps_writer **wp) {
  if (!wp || !*wp) return;
  kps_writer *w = *wp;
  for (int f = 0; f < KPS_N_FIELDS; ++f)
    if (w->dset[f] >= 0) H5Dclose(w->dset[f]);
  if (w->done >= 0) H5Dclose(w->done);
  if (w->file >= 0) H5Fclose(w->file);
  free(w);
  *wp = NULL;
}
