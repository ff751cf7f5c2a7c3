/*
 * Creation of the results file's layout, serially on rank 0. Every dataset
 * is allocated at creation and filled with its fill value: the disk space
 * of the whole plan is claimed before any computation, so a file system
 * too small fails here and not hours later, and the checkpoints of a run
 * only overwrite bytes already on disk (they never grow the file, and never
 * change HDF5 metadata, which is what makes a kill during one harmless).
 * Two job settings change that: run.fields leaves the unselected fields
 * out of the layout, and run.compression: deflate gives chunks whose size
 * changes as they fill, so a checkpoint then reallocates chunks and
 * rewrites their index (docs/output.md, "Selecting fields and compression").
 */
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <hdf5_hl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "disk.h"
#include "h5util.h"
#include "kps_build_config.h"
#include "kps_revision.h"
#include "kpsweep/attack.h"
#include "kpsweep/landscape.h"
#include "kpsweep/progress.h"
#include "kpsweep/status.h"
#include "results_file.h"

/* Room for the CF flags of one categorical field. */
#define FLAGS_MAX 64

/* Where an axis is linked besides /axes (bit mask). */
enum { IN_POINTS = 1, IN_LINES = 2 };

/*
 * An axis: a dimension scale in /axes with its units and long name. netCDF
 * readers (xarray's h5netcdf engine) take a group's coordinates from the
 * variables in that group, and look dimensions up in ancestors: hard links
 * (the same dataset, no copy) in /points and /lines attach the coordinates
 * there, and one at the root keeps the root readable as a whole.
 */
static kps_err create_axis(hid_t file, hid_t grp, const kps_axis *ax, const char *units,
                           const char *long_name, unsigned where, hid_t *out) {
  kps_err rc = KPS_OK;
  hid_t sp = H5I_INVALID_HID, d = H5I_INVALID_HID;
  hsize_t n = ax->n;
  KPS_CHECK_H5_ID(sp, H5Screate_simple(1, &n, NULL));
  KPS_CHECK_H5_ID(d, H5Dcreate2(grp, ax->name, H5T_IEEE_F64LE, sp, H5P_DEFAULT,
                                H5P_DEFAULT, H5P_DEFAULT));
  KPS_CHECK_H5(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, ax->values));
  KPS_CHECK_H5(H5DSset_scale(d, ax->name));
  KPS_CHECK(kps_attr_str(d, "units", units));
  KPS_CHECK(kps_attr_str(d, "long_name", long_name));
  KPS_CHECK_H5(H5Lcreate_hard(grp, ax->name, file, ax->name, H5P_DEFAULT, H5P_DEFAULT));
  static const char *const groups[] = {"points", "lines"};
  for (int g = 0; g < 2; ++g) {
    char link[sizeof ax->name + 16];
    snprintf(link, sizeof link, "%s/%s", groups[g], ax->name);
    if (where & (1u << g))
      KPS_CHECK_H5(H5Lcreate_hard(grp, ax->name, file, link, H5P_DEFAULT, H5P_DEFAULT));
  }
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
  int32_t v32[FLAGS_MAX];
  int8_t v8[FLAGS_MAX];
  char meanings[1024] = "";
  int n = 0;
  if (!fi->flag_values) return KPS_OK;
  if (strcmp(fi->flag_values, KPS_FLAGS_FROM_STATUS) == 0) {
    for (int c = KPS_ST_NOT_COMPUTED; c <= KPS_ST_LAST && n < FLAGS_MAX; ++c) {
      const size_t len = strlen(meanings);
      snprintf(meanings + len, sizeof meanings - len, "%s%s", n ? " " : "", kps_status_name(c));
      v32[n++] = c;
    }
  } else {
    const char *p = fi->flag_values;
    char *end;
    for (long x = strtol(p, &end, 10); end != p && n < FLAGS_MAX; x = strtol(p, &end, 10)) {
      v32[n++] = (int32_t)x;
      p = end;
    }
    snprintf(meanings, sizeof meanings, "%s", fi->flag_meanings);
  }
  for (int k = 0; k < n; ++k) v8[k] = (int8_t)v32[k];
  if (fi->type == KPS_I8) KPS_CHECK(kps_attr_put(d, "flag_values", H5T_STD_I8LE, n, v8));
  else KPS_CHECK(kps_attr_put(d, "flag_values", H5T_STD_I32LE, n, v32));
  KPS_CHECK(kps_attr_str(d, "flag_meanings", meanings));
cleanup:
  return rc;
}

/* A field's dataset. With `whole` every value holds the fill value until
 * written; without, only status is to be filled (by the writers, once the
 * file is open) and the other fields' unwritten values are undefined. */
static kps_err create_field(const kps_config *cfg, hid_t grp, const kps_field_info *fi,
                            const hid_t *scales, int whole) {
  kps_err rc = KPS_OK;
  hid_t sp = H5I_INVALID_HID, dcpl = H5I_INVALID_HID, d = H5I_INVALID_HID;
  hsize_t dims[KPS_FIELD_MAX_RANK], chunk[KPS_FIELD_MAX_RANK];
  int nd = 0;
  kps_field_dims(cfg, fi, &nd, dims);
  kps_chunk_shape(nd, dims, chunk);
  KPS_CHECK_H5_ID(sp, H5Screate_simple(nd, dims, NULL));
  KPS_CHECK_H5_ID(dcpl, H5Pcreate(H5P_DATASET_CREATE));
  KPS_CHECK_H5(H5Pset_chunk(dcpl, nd, chunk));
  if (cfg->run.compression == KPS_COMPRESS_DEFLATE) {
    const htri_t avail = H5Zfilter_avail(H5Z_FILTER_DEFLATE);
    KPS_CHECK_H5(avail);
    if (!avail)
      KPS_FAIL(KPS_ERR_USAGE, "run.compression: deflate, but this HDF5 has no deflate filter");
    /* Shuffle first: the bytes of neighbouring doubles group by
     * significance, which deflate compresses far better. Parallel HDF5
     * writes such datasets only collectively, as the writer does. */
    KPS_CHECK_H5(H5Pset_shuffle(dcpl));
    KPS_CHECK_H5(H5Pset_deflate(dcpl, (unsigned)cfg->run.compression_level));
  }
  /* Parallel HDF5 writes only into space allocated up front. Without
   * fill, that allocation writes nothing: the file is sparse until written. */
  const int is_status = fi - kps_fields() == F_STATUS;
  const int filled = whole || is_status;
  KPS_CHECK_H5(H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY));
  KPS_CHECK_H5(H5Pset_fill_time(dcpl, whole ? H5D_FILL_TIME_ALLOC : H5D_FILL_TIME_NEVER));
  const double fnan = NAN;
  const int32_t fi32 = -1;
  const int8_t fi8 = -1;
  const void *fill = fi->type == KPS_F64 ? (const void *)&fnan
                     : fi->type == KPS_I32 ? (const void *)&fi32 : (const void *)&fi8;
  if (filled) KPS_CHECK_H5(H5Pset_fill_value(dcpl, kps_h5_mem_type(fi->type), fill));
  KPS_CHECK_H5_ID(d, H5Dcreate2(grp, fi->name, kps_h5_file_type(fi->type), sp, H5P_DEFAULT,
                                dcpl, H5P_DEFAULT));
  KPS_CHECK(kps_attr_str(d, "units", fi->unit));
  KPS_CHECK(kps_attr_str(d, "long_name", fi->doc));
  KPS_CHECK(kps_attr_str(d, "description", fi->doc));
  /* CF's _FillValue, in the dataset's own type: "not computed". Only where
   * it is true: an unfilled field holds zeros where nothing was written. */
  if (filled) KPS_CHECK(kps_attr_put(d, "_FillValue", kps_h5_mem_type(fi->type), 0, fill));
  else
    KPS_CHECK(kps_attr_str(d, "comment",
                           "undefined (0) where nothing is computed yet (file attribute fill = "
                           "status): use only where /progress/line_done = 1"));
  KPS_CHECK(field_flags(d, fi));
  for (int k = 0; k < nd; ++k) KPS_CHECK_H5(H5DSattach_scale(d, scales[k], (unsigned)k));
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
  for (int c = KPS_ST_NOT_COMPUTED; c <= KPS_ST_LAST && len < cap; ++c)
    len += (size_t)snprintf(s + len, cap - len, "%d %s: %s\n", c, kps_status_name(c),
                            kps_status_doc(c));
  return s;
}

/*
 * The numbers a reader needs without parsing the job text: every fixed
 * model parameter as param_<name> (its unit in param_<name>_units), the
 * agonist (NaN where on an axis), the self ligands, and the threshold rule.
 */
static kps_err write_settings(hid_t root, const kps_config *cfg) {
  kps_err rc = KPS_OK;
  char name[96];
  for (int j = 0; j < cfg->model->n_params; ++j) {
    int swept = 0;
    for (size_t a = 0; a < cfg->n_axes; ++a) swept |= cfg->axes[a].param == j;
    if (swept) continue;
    const kps_param_info *pi = &cfg->model->params[j];
    snprintf(name, sizeof name, "param_%s", pi->name);
    KPS_CHECK(kps_attr_f64(root, name, cfg->params[j]));
    snprintf(name, sizeof name, "param_%s_units", pi->name);
    KPS_CHECK(kps_attr_str(root, name, pi->unit[0] ? pi->unit : "1"));
  }
  KPS_CHECK(kps_attr_f64(root, "agonist_tau", cfg->agonist_tau));
  KPS_CHECK(kps_attr_f64(root, "agonist_L", cfg->agonist_L));
  if (cfg->n_self > 0) {
    KPS_CHECK(kps_attr_put(root, "self_tau", H5T_NATIVE_DOUBLE, (int)cfg->n_self, cfg->self_tau));
    KPS_CHECK(kps_attr_put(root, "self_L", H5T_NATIVE_DOUBLE, (int)cfg->n_self, cfg->self_L));
  }
  KPS_CHECK(kps_attr_f64(root, "tau_c", cfg->tau_c));
  KPS_CHECK(kps_attr_str(root, "threshold_rule",
                         cfg->threshold_explicit ? "explicit: O_th = threshold_value"
                         : cfg->L_ref_agonist
                             ? "O_th = output of one ligand type at tau_c and dose L_ref, the "
                               "agonist's dose (of each line when L1 is an axis)"
                             : "O_th = output of one ligand type at tau_c and dose L_ref"));
  KPS_CHECK(kps_attr_f64(root, "threshold_value", cfg->threshold_explicit ? cfg->threshold_value : NAN));
  /* NaN: the model's default dose, 10 R, or the agonist's on the L1 axis. */
  KPS_CHECK(kps_attr_f64(root, "L_ref", cfg->threshold_explicit ? NAN
                                        : cfg->L_ref_agonist ? cfg->agonist_L : cfg->L_ref));
cleanup:
  return rc;
}

static kps_err write_provenance(hid_t root, const kps_config *cfg, int n_ranks, int whole) {
  kps_err rc = KPS_OK;
  char *canon = kps_config_canonical(cfg), *codes = status_table();
  KPS_CHECK_ALLOC(canon);
  KPS_CHECK_ALLOC(codes);
  const uint64_t hash = kps_hash64(canon, strlen(canon));
  char when[64];
  kps_iso_time(kps_epoch_now(), when, sizeof when);
  KPS_CHECK(kps_attr_str(root, "kpsweep_version", KPS_VERSION));
  KPS_CHECK(kps_attr_str(root, "git_revision", KPS_GIT_REVISION));
  KPS_CHECK(kps_attr_str(root, "model", cfg->model->name));
  if (cfg->network_text) {
    /* The network is part of the job: the file carries it as read. */
    KPS_CHECK(kps_attr_str(root, "network", cfg->network_text));
    KPS_CHECK(kps_attr_str(root, "network_source", cfg->network_path));
  }
  KPS_CHECK(kps_attr_str(root, "job_name", cfg->name));
  KPS_CHECK(kps_attr_str(root, "config", cfg->text));
  KPS_CHECK(kps_attr_str(root, "config_source", cfg->source));
  KPS_CHECK(kps_attr_str(root, "config_canonical", canon));
  KPS_CHECK(kps_attr_str(root, "created", when));
  KPS_CHECK(kps_attr_str(root, "status_codes", codes));
  KPS_CHECK(kps_attr_f64(root, "n_ranks_created", n_ranks));
  KPS_CHECK(kps_attr_str(root, "fill", whole ? "all" : "status"));
  KPS_CHECK(kps_attr_str(root, "fill_description",
                         whole ? "a value not computed yet holds its dataset's _FillValue"
                               : "where nothing is computed yet every field but /points/status "
                                 "is undefined (0); status is -1 there once a run has opened "
                                 "the file; /progress/line_done (1: the line is complete) "
                                 "decides"));
  KPS_CHECK(write_settings(root, cfg));
  KPS_CHECK(kps_attr_f64(root, "n_points", (double)kps_config_n_points(cfg)));
  /* Last: its presence marks a complete layout. */
  KPS_CHECK(kps_attr_put(root, "config_hash", H5T_NATIVE_UINT64, 0, &hash));
cleanup:
  free(canon);
  free(codes);
  return rc;
}

static kps_err create_progress(const kps_config *cfg, hid_t g_prog) {
  kps_err rc = KPS_OK;
  hid_t sp = H5I_INVALID_HID, dcpl = H5I_INVALID_HID, d = H5I_INVALID_HID;
  hsize_t nl = kps_config_n_lines(cfg), ch = nl < KPS_CHUNK_TARGET ? nl : KPS_CHUNK_TARGET;
  const uint8_t zero = 0;
  KPS_CHECK_H5_ID(sp, H5Screate_simple(1, &nl, NULL));
  KPS_CHECK_H5_ID(dcpl, H5Pcreate(H5P_DATASET_CREATE));
  KPS_CHECK_H5(H5Pset_chunk(dcpl, 1, &ch));
  KPS_CHECK_H5(H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY));
  KPS_CHECK_H5(H5Pset_fill_time(dcpl, H5D_FILL_TIME_ALLOC));
  KPS_CHECK_H5(H5Pset_fill_value(dcpl, H5T_NATIVE_UINT8, &zero));
  KPS_CHECK_H5_ID(d, H5Dcreate2(g_prog, "line_done", H5T_STD_U8LE, sp, H5P_DEFAULT, dcpl,
                                H5P_DEFAULT));
  KPS_CHECK(kps_attr_str(d, "description",
                         "1 once every point of the line (row-major over axes..., L2) is stored"));
cleanup:
  if (d >= 0) H5Dclose(d);
  if (dcpl >= 0) H5Pclose(dcpl);
  if (sp >= 0) H5Sclose(sp);
  return rc;
}

/*
 * The scales of the line fields' own dimensions: `ligand` (the published
 * descent's initial binding times, from the kps_attack_ligands the workers
 * use), `land_u` and `land_v` (the landscape's steps). NaN when off.
 */
static kps_err create_line_scales(hid_t file, hid_t g_axes, const kps_config *cfg,
                                  hid_t *lig_scale, hid_t *land_scales) {
  kps_err rc = KPS_OK;
  const kps_dims d = kps_config_dims(cfg);
  double *tau = NULL, *steps = NULL;
  size_t n = 0;
  if (cfg->attack.descent_ligands)
    KPS_CHECK(kps_attack_ligands(&cfg->attack, 0, NULL, NULL, &tau, &n));
  if (n == 0) {
    free(tau);
    tau = malloc(sizeof(double));
    KPS_CHECK_ALLOC(tau);
    tau[0] = NAN, n = 1;
  }
  if (n != d.n_ligands)
    KPS_FAIL(KPS_ERR_INTERNAL, "%zu ligands drawn, the plan has %zu", n, d.n_ligands);
  kps_axis lig = {.name = "ligand", .param = -1, .n = n, .values = tau};
  KPS_CHECK(create_axis(file, g_axes, &lig, "s",
                        "initial binding time of each ligand of the published descent, in draw "
                        "order", IN_LINES, lig_scale));
  steps = malloc(sizeof(double) * d.n_land);
  KPS_CHECK_ALLOC(steps);
  for (size_t i = 0; i < d.n_land; ++i)
    steps[i] = cfg->landscape.enabled ? kps_landscape_step(&cfg->landscape, (int)i) : NAN;
  static const char *const names[2] = {"land_u", "land_v"};
  static const char *const docs[2] = {
      "step a of the landscape along its direction landscape_u (ligand counts)",
      "step b of the landscape along its direction landscape_v (ligand counts)"};
  for (int k = 0; k < 2; ++k) {
    kps_axis ax = {.param = -1, .n = d.n_land, .values = steps};
    snprintf(ax.name, sizeof ax.name, "%s", names[k]);
    KPS_CHECK(create_axis(file, g_axes, &ax, "molecules", docs[k], IN_LINES, &land_scales[k]));
  }
cleanup:
  free(tau);
  free(steps);
  return rc;
}

static kps_err create_layout(hid_t file, const kps_config *cfg, int n_ranks, int whole) {
  kps_err rc = KPS_OK;
  hid_t g_axes = H5I_INVALID_HID, g_pts = H5I_INVALID_HID, g_lines = H5I_INVALID_HID;
  hid_t g_prog = H5I_INVALID_HID;
  hid_t scales[KPS_MAX_AXES + 3], bin_scale = H5I_INVALID_HID, lig_scale = H5I_INVALID_HID;
  hid_t land_scales[2] = {H5I_INVALID_HID, H5I_INVALID_HID};
  int n_scales = 0;
  double *centres = NULL;
  const size_t n_bins = kps_config_n_bins(cfg);
  for (int k = 0; k < KPS_MAX_AXES + 3; ++k) scales[k] = H5I_INVALID_HID;
  KPS_CHECK_H5_ID(g_axes, H5Gcreate2(file, "axes", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  KPS_CHECK_H5_ID(g_pts, H5Gcreate2(file, "points", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  KPS_CHECK_H5_ID(g_lines, H5Gcreate2(file, "lines", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  KPS_CHECK_H5_ID(g_prog, H5Gcreate2(file, "progress", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  for (size_t a = 0; a < cfg->n_axes; ++a) {
    const int j = cfg->axes[a].param;
    const char *units = j == KPS_AXIS_TAU1 ? "s" : j == KPS_AXIS_L1 ? "molecules"
                                                                     : cfg->model->params[j].unit;
    const char *long_name = j == KPS_AXIS_TAU1 ? "agonist binding time"
                            : j == KPS_AXIS_L1 ? "agonist dose" : cfg->model->params[j].doc;
    KPS_CHECK(create_axis(file, g_axes, &cfg->axes[a], units, long_name, IN_POINTS | IN_LINES,
                          &scales[n_scales++]));
  }
  KPS_CHECK(create_axis(file, g_axes, &cfg->L2, "molecules",
                        "antagonist dose L2 (ligands of the second type)", IN_POINTS | IN_LINES,
                        &scales[n_scales++]));
  KPS_CHECK(create_axis(file, g_axes, &cfg->tau2, "s", "antagonist binding time tau2", IN_POINTS,
                        &scales[n_scales++]));
  /* The descent histogram's bin centres (s). */
  centres = malloc(sizeof(double) * n_bins);
  KPS_CHECK_ALLOC(centres);
  for (size_t k = 0; k < n_bins; ++k) centres[k] = ((double)k + 0.5) * cfg->attack.bin_width;
  kps_axis bin_axis = {.name = "bin", .param = -1, .n = n_bins, .values = centres};
  KPS_CHECK(create_axis(file, g_axes, &bin_axis, "s",
                        "binding time at the centre of a bin of the descent histogram", IN_LINES,
                        &bin_scale));
  KPS_CHECK(create_line_scales(file, g_axes, cfg, &lig_scale, land_scales));
  /* Line fields take every scale but tau2's; the fields with dimensions of
   * their own take their scales in its place. */
  hid_t by_scope[KPS_MAX_AXES + 4];
  memcpy(by_scope, scales, sizeof(hid_t) * (size_t)n_scales);
  const kps_field_info *fi = kps_fields();
  const kps_dims dims = kps_config_dims(cfg);
  for (int f = 0; f < KPS_N_FIELDS; ++f) {
    if (!kps_field_kept(&dims, f)) continue;
    const kps_scope s = fi[f].scope;
    by_scope[n_scales - 1] = s == KPS_LINE_BIN      ? bin_scale
                             : s == KPS_LINE_LIGAND ? lig_scale
                             : s == KPS_LINE_LAND   ? land_scales[0]
                                                    : scales[n_scales - 1];
    by_scope[n_scales] = land_scales[1];
    KPS_CHECK(create_field(cfg, s == KPS_POINT ? g_pts : g_lines, &fi[f], by_scope, whole));
  }
  KPS_CHECK(create_progress(cfg, g_prog));
  KPS_CHECK(write_provenance(file, cfg, n_ranks, whole));
  KPS_CHECK(kps_file_history_create(file));
cleanup:
  for (int k = 0; k < n_scales; ++k)
    if (scales[k] >= 0) H5Dclose(scales[k]);
  if (bin_scale >= 0) H5Dclose(bin_scale);
  if (lig_scale >= 0) H5Dclose(lig_scale);
  for (int k = 0; k < 2; ++k)
    if (land_scales[k] >= 0) H5Dclose(land_scales[k]);
  free(centres);
  if (g_prog >= 0) H5Gclose(g_prog);
  if (g_lines >= 0) H5Gclose(g_lines);
  if (g_pts >= 0) H5Gclose(g_pts);
  if (g_axes >= 0) H5Gclose(g_axes);
  return rc;
}

/*
 * Claims `bytes` of disk space past the end of path without changing its
 * size, so that later writes there cannot fail for want of space. File
 * systems without fallocate() are left to the free-space check.
 */
static kps_err reserve(const char *path, double bytes) {
  kps_err rc = KPS_OK;
  const int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) KPS_FAIL(KPS_ERR_IO, "cannot open %s: %s", path, strerror(errno));
  const int err = kps_disk_claim(fd, (off_t)bytes);
  if (err && !kps_disk_unsupported(err))
    KPS_FAIL(KPS_ERR_IO, "cannot claim %.3g MB for %s: %s", bytes / 1e6, path, strerror(err));
cleanup:
  if (fd >= 0) close(fd);
  return rc;
}

/* A failed close: HDF5 keeps the file and crashes closing it again at
 * exit; empty it, so that the second close has room to write (the caller
 * removes the file anyway). */
static kps_err close_created(hid_t file, const char *path, kps_err rc) {
  if (file >= 0 && H5Fclose(file) < 0) {
    if (rc == KPS_OK) {
      rc = KPS_ERR_IO;
      kps_error_report(__FILE__, __LINE__, __func__, rc, "cannot write %s (a full disk?)", path);
    }
    if (truncate(path, 0) == 0) H5Fclose(file);
  }
  return rc;
}

kps_err kps_file_create_empty(const char *path, double bytes) {
  kps_err rc = KPS_OK;
  hid_t fapl = H5I_INVALID_HID, fcpl = H5I_INVALID_HID, file = H5I_INVALID_HID;
  KPS_CHECK_H5_ID(fapl, kps_serial_fapl());
  KPS_CHECK_H5_ID(fcpl, H5Pcreate(H5P_FILE_CREATE));
  KPS_CHECK_H5(H5Pset_attr_phase_change(fcpl, 0, 0));
  file = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, fapl);
  if (file < 0) {
    char msg[KPS_H5_MSG_LEN];
    KPS_FAIL(KPS_ERR_IO, "cannot create %s%s", path, kps_hdf5_describe(msg, sizeof msg));
  }
cleanup:
  rc = close_created(file, path, rc);
  if (fcpl >= 0) H5Pclose(fcpl);
  if (fapl >= 0) H5Pclose(fapl);
  /* With the space claimed, writing the layout cannot run out of it. */
  if (rc == KPS_OK) rc = reserve(path, bytes);
  return rc;
}

kps_err kps_file_create_layout(const kps_config *cfg, const char *path, int n_ranks, int whole) {
  kps_err rc = KPS_OK;
  hid_t fapl = H5I_INVALID_HID, file = H5I_INVALID_HID;
  KPS_CHECK_H5_ID(fapl, kps_serial_fapl());
  file = H5Fopen(path, H5F_ACC_RDWR, fapl);
  if (file < 0) {
    char msg[KPS_H5_MSG_LEN];
    KPS_FAIL(KPS_ERR_IO, "cannot open %s%s", path, kps_hdf5_describe(msg, sizeof msg));
  }
  KPS_CHECK(create_layout(file, cfg, n_ranks, whole));
cleanup:
  /* The close writes the metadata. */
  rc = close_created(file, path, rc);
  if (fapl >= 0) H5Pclose(fapl);
  /* Room for the run record, which a run adds at its end. */
  if (rc == KPS_OK) rc = reserve(path, KPS_RECORD_RESERVE);
  return rc;
}
