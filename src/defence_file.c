/*
 * The defence sweep's results file (layout in docs/defence.md), as the main
 * sweep's (src/writer.c): rank 0 alone takes the lock, checks a file to
 * resume or builds a new layout (serial driver, every dataset allocated
 * and filled at creation, under PATH.part renamed into place), and that
 * outcome is agreed before every rank opens the file with MPI-IO. The
 * parallel handle only overwrites preallocated raw data, by collective
 * writes whose failures are agreed step by step: a task's row first, its
 * /done flag next, then a flush, so a row marked done is complete on disk
 * and a killed run loses at most the tasks in flight.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5_hl.h>

#include "check.h"
#include "defence_sweep.h"
#include "h5util.h"
#include "kpsweep/agree.h"
#include "kpsweep/config.h"
#include "kpsweep/writer.h"

#define FORMAT "kpsweep-defence-sweep-1"
#define MAX_RANK 4
#define ATTACK_NAME_LEN 8

/* A dataset with CF attributes, its dimensions given by scales (which may
 * be H5I_INVALID_HID for a dimension without one). */
static kps_err make(hid_t file, const char *name, hid_t type, int nd, const hsize_t *dims,
                    const void *fill, const char *units, const char *long_name,
                    const hid_t *scales) {
  kps_err rc = KPS_OK;
  hid_t sp = H5I_INVALID_HID, dcpl = H5I_INVALID_HID, d = H5I_INVALID_HID;
  KPS_CHECK_H5_ID(sp, H5Screate_simple(nd, dims, NULL));
  KPS_CHECK_H5_ID(dcpl, H5Pcreate(H5P_DATASET_CREATE));
  /* Allocated and filled at creation: an unwritten row reads as "not
   * computed", and MPI-IO writes never change the file's structure. */
  KPS_CHECK_H5(H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY));
  KPS_CHECK_H5(H5Pset_fill_value(dcpl, type, fill));
  KPS_CHECK_H5(H5Pset_fill_time(dcpl, H5D_FILL_TIME_ALLOC));
  KPS_CHECK_H5_ID(d, H5Dcreate2(file, name, type, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT));
  KPS_CHECK(kps_attr_str(d, "units", units));
  KPS_CHECK(kps_attr_str(d, "long_name", long_name));
  KPS_CHECK(kps_attr_put(d, "_FillValue", type, 0, fill));
  for (int k = 0; k < nd; ++k)
    if (scales[k] != H5I_INVALID_HID) KPS_CHECK_H5(H5DSattach_scale(d, scales[k], (unsigned)k));
cleanup:
  if (d >= 0) H5Dclose(d);
  if (dcpl >= 0) H5Pclose(dcpl);
  if (sp >= 0) H5Sclose(sp);
  return rc;
}

/* A 1-D coordinate dataset holding data, made a dimension scale. */
static kps_err scale(hid_t file, const char *name, hid_t type, hsize_t n, const void *data,
                     const char *units, const char *long_name, hid_t *out) {
  kps_err rc = KPS_OK;
  hid_t sp = H5I_INVALID_HID;
  *out = H5I_INVALID_HID;
  KPS_CHECK_H5_ID(sp, H5Screate_simple(1, &n, NULL));
  KPS_CHECK_H5_ID(*out, H5Dcreate2(file, name, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  KPS_CHECK_H5(H5Dwrite(*out, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data));
  KPS_CHECK_H5(H5DSset_scale(*out, name));
  KPS_CHECK(kps_attr_str(*out, "units", units));
  KPS_CHECK(kps_attr_str(*out, "long_name", long_name));
cleanup:
  if (sp >= 0) H5Sclose(sp);
  return rc;
}

/* Writes data into row t of dataset name (its first dimension). */
static kps_err put_row(hid_t file, const char *name, hid_t type, size_t t, const void *data) {
  kps_err rc = KPS_OK;
  hid_t d = H5I_INVALID_HID, fs = H5I_INVALID_HID, ms = H5I_INVALID_HID;
  hsize_t dims[MAX_RANK], start[MAX_RANK] = {0}, count[MAX_RANK];
  KPS_CHECK_H5_ID(d, H5Dopen2(file, name, H5P_DEFAULT));
  KPS_CHECK_H5_ID(fs, H5Dget_space(d));
  const int nd = H5Sget_simple_extent_dims(fs, dims, NULL);
  if (nd < 1 || nd > MAX_RANK || t >= dims[0])
    KPS_FAIL(KPS_ERR_INTERNAL, "row %zu of /%s out of range", t, name);
  for (int k = 0; k < nd; ++k) count[k] = dims[k];
  start[0] = t, count[0] = 1;
  KPS_CHECK_H5(H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL));
  KPS_CHECK_H5_ID(ms, H5Screate_simple(nd, count, NULL));
  KPS_CHECK_H5(H5Dwrite(d, type, ms, fs, H5P_DEFAULT, data));
cleanup:
  if (ms >= 0) H5Sclose(ms);
  if (fs >= 0) H5Sclose(fs);
  if (d >= 0) H5Dclose(d);
  return rc;
}

/* Builds the layout of a new file at path (serial driver). Rank 0. */
static kps_err build(const kps_ds_job *job, const char *path) {
  kps_err rc = KPS_OK;
  hid_t fapl = H5I_INVALID_HID, file = H5I_INVALID_HID, str = H5I_INVALID_HID;
  hid_t s_task = H5I_INVALID_HID, s_eps = H5I_INVALID_HID, s_att = H5I_INVALID_HID,
        s_cls = H5I_INVALID_HID, s_u = H5I_INVALID_HID, s_v = H5I_INVALID_HID;
  const hsize_t T = job->n_tasks, E = (hsize_t)job->n_eps, A = (hsize_t)job->n_attacks,
                C = KPS_FASHION_CLASSES;
  int32_t idx[KPS_FASHION_CLASSES];
  char names[KPS_NN_N_ATTACKS][ATTACK_NAME_LEN];
  const double nan = NAN;
  const int8_t zero8 = 0;
  const uint8_t zerou8 = 0;
  const int32_t zero32 = 0;
  int32_t *ti = NULL;
  double *uv = NULL;
  for (int c = 0; c < KPS_FASHION_CLASSES; ++c) idx[c] = c;
  memset(names, 0, sizeof names);
  for (int a = 0; a < job->n_attacks; ++a)
    snprintf(names[a], ATTACK_NAME_LEN, "%s", kps_nn_attack_name(job->attacks[a]));

  KPS_CHECK_H5_ID(fapl, kps_serial_fapl());
  KPS_CHECK_H5_ID(file, H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl));
  KPS_CHECK(kps_attr_str(file, "format", FORMAT));
  KPS_CHECK(kps_attr_str(file, "description",
                         "kpsweep defence sweep: clean and robust accuracy of Fashion-MNIST "
                         "networks with proofreading input layers T_{N,m} (docs/defence.md)"));
  KPS_CHECK(kps_attr_str(file, "config", job->text));
  KPS_CHECK(kps_attr_put(file, "config_hash", H5T_NATIVE_UINT64, 0, &job->hash));

  KPS_CHECK_H5_ID(str, H5Tcopy(H5T_C_S1));
  KPS_CHECK_H5(H5Tset_size(str, ATTACK_NAME_LEN));
  KPS_CHECK(scale(file, "eps", H5T_NATIVE_DOUBLE, E, job->eps, "1",
                  "L-infinity radius of the attack (pixel intensities in [0, 1])", &s_eps));
  KPS_CHECK(scale(file, "attack", str, A, names, "1", "attack (fgsm, pgd or spsa)", &s_att));
  KPS_CHECK(scale(file, "class", H5T_NATIVE_INT32, C, idx, "1", "Fashion-MNIST class", &s_cls));
  /* The task coordinate is its index; N, m, theta and kind say what it is. */
  KPS_CHECK_ALLOC(ti = malloc(job->n_tasks * sizeof *ti));
  for (size_t t = 0; t < job->n_tasks; ++t) ti[t] = (int32_t)t;
  KPS_CHECK(scale(file, "task", H5T_NATIVE_INT32, T, ti, "1", "task (one trained network)", &s_task));
  const hid_t sc1[1] = {s_task}, sc2[2] = {s_task, s_cls}, sc3[3] = {s_task, s_eps, s_att},
              sc4[4] = {s_task, s_eps, s_att, s_cls}, sca[2] = {s_task, s_att};
  const hsize_t d1[1] = {T}, d2[2] = {T, C}, d3[3] = {T, E, A}, d4[4] = {T, E, A, C}, da[2] = {T, A};
  KPS_CHECK(make(file, "N", H5T_NATIVE_INT32, 1, d1, &zero32, "1",
                 "proofreading steps N of the layer (0: no layer)", sc1));
  KPS_CHECK(make(file, "m", H5T_NATIVE_INT32, 1, d1, &zero32, "1",
                 "feedback order m of the layer", sc1));
  KPS_CHECK(make(file, "theta", H5T_NATIVE_DOUBLE, 1, d1, &nan, "1",
                 "threshold intensity theta of the layer", sc1));
  KPS_CHECK(make(file, "kind", H5T_NATIVE_INT8, 1, d1, &zero8, "1",
                 "network: 0 grid layer, 1 undefended, 2 adversarially trained", sc1));
  KPS_CHECK(make(file, "status", H5T_NATIVE_INT8, 1, d1, &zero8, "1",
                 "0 not computed, 1 computed, 2 invalid layer (m >= N), not trained", sc1));
  KPS_CHECK(make(file, "done", H5T_NATIVE_UINT8, 1, d1, &zerou8, "1",
                 "1 when the task's row is complete (what --resume skips)", sc1));
  KPS_CHECK(make(file, "clean_accuracy", H5T_NATIVE_DOUBLE, 1, d1, &nan, "1",
                 "accuracy on the first n_test test images", sc1));
  KPS_CHECK(make(file, "class_accuracy", H5T_NATIVE_DOUBLE, 2, d2, &nan, "1",
                 "clean accuracy per class on the first n_test test images", sc2));
  KPS_CHECK(make(file, "robust_accuracy", H5T_NATIVE_DOUBLE, 3, d3, &nan, "1",
                 "accuracy under the attack at eps (n_attack images; spsa: n_spsa)", sc3));
  KPS_CHECK(make(file, "robust_class_accuracy", H5T_NATIVE_DOUBLE, 4, d4, &nan, "1",
                 "robust accuracy per class", sc4));
  KPS_CHECK(make(file, "mean_flip_eps", H5T_NATIVE_DOUBLE, 2, da, &nan, "1",
                 "mean over the correctly classified attacked images that the attack flips "
                 "within the eps grid of the smallest such eps (NaN: none flips)", sca));
  if (job->land_points > 0) {
    const hsize_t K = (hsize_t)job->land_points;
    KPS_CHECK_ALLOC(uv = malloc(K * sizeof *uv));
    for (hsize_t i = 0; i < K; ++i)
      uv[i] = job->land_span * (2.0 * (double)i / (double)(K - 1) - 1.0);
    KPS_CHECK(scale(file, "landscape_u", H5T_NATIVE_DOUBLE, K, uv, "1",
                    "step along the FGSM direction sign(dL/dx) (pixel intensity)", &s_u));
    KPS_CHECK(scale(file, "landscape_v", H5T_NATIVE_DOUBLE, K, uv, "1",
                    "step along a random +-1 direction (pixel intensity)", &s_v));
    const hid_t scl[3] = {s_task, s_u, s_v};
    const hsize_t dl[3] = {T, K, K};
    KPS_CHECK(make(file, "loss_landscape", H5T_NATIVE_DOUBLE, 3, dl, &nan, "1",
                   "mean cross-entropy over the first landscape_images test images at "
                   "x + u d_FGSM + v d_random, clipped to [0, 1]", scl));
    const long long li = (long long)job->land_images;
    KPS_CHECK(kps_attr_put(file, "landscape_images", H5T_NATIVE_LLONG, 0, &li));
    KPS_CHECK(kps_attr_f64(file, "landscape_span", job->land_span));
  }
  {
    const char *const attr_int[] = {"epochs", "hidden", "n_train", "n_test", "n_attack", "n_spsa"};
    const long long vals[] = {job->epochs, job->hidden, (long long)job->n_train,
                              (long long)job->n_test, (long long)job->n_attack,
                              (long long)job->n_spsa};
    for (size_t k = 0; k < sizeof vals / sizeof vals[0]; ++k)
      KPS_CHECK(kps_attr_put(file, attr_int[k], H5T_NATIVE_LLONG, 0, &vals[k]));
    KPS_CHECK(kps_attr_put(file, "seed", H5T_NATIVE_UINT64, 0, &job->seed));
    KPS_CHECK(kps_attr_put(file, "attack_seed", H5T_NATIVE_UINT64, 0, &job->attack_seed));
    KPS_CHECK(kps_attr_f64(file, "layer_c", job->c));
    KPS_CHECK(kps_attr_f64(file, "adversarial_eps", job->adv_eps));
  }
  /* What each task is, known before any is computed. */
  for (size_t t = 0; t < job->n_tasks; ++t) {
    const kps_ds_task *k = &job->tasks[t];
    const int32_t N = k->N, m = k->m;
    const int8_t kind = (int8_t)k->kind;
    const double theta = k->kind == KPS_DS_GRID ? k->theta : NAN;
    KPS_CHECK(put_row(file, "N", H5T_NATIVE_INT32, t, &N));
    KPS_CHECK(put_row(file, "m", H5T_NATIVE_INT32, t, &m));
    KPS_CHECK(put_row(file, "theta", H5T_NATIVE_DOUBLE, t, &theta));
    KPS_CHECK(put_row(file, "kind", H5T_NATIVE_INT8, t, &kind));
  }
  KPS_CHECK_H5(H5Fflush(file, H5F_SCOPE_GLOBAL));
cleanup:
  free(ti);
  free(uv);
  if (s_u >= 0) H5Dclose(s_u);
  if (s_v >= 0) H5Dclose(s_v);
  if (s_task >= 0) H5Dclose(s_task);
  if (s_eps >= 0) H5Dclose(s_eps);
  if (s_att >= 0) H5Dclose(s_att);
  if (s_cls >= 0) H5Dclose(s_cls);
  if (str >= 0) H5Tclose(str);
  if (file >= 0 && H5Fclose(file) < 0 && rc == KPS_OK) rc = KPS_ERR_HDF5;
  if (fapl >= 0) H5Pclose(fapl);
  return rc;
}

/* A new file: built as PATH.part and renamed, so that a kill during the
 * creation leaves no stub at path. Rank 0. */
static kps_err create(const kps_ds_job *job, const char *path) {
  kps_err rc = KPS_OK;
  char part[KPS_PATH_MAX + 8];
  if (snprintf(part, sizeof part, "%s.part", path) >= (int)sizeof part)
    KPS_FAIL(KPS_ERR_USAGE, "path too long: %s", path);
  /* A .part is only written under the lock we hold: a leftover is stale. */
  if (unlink(part) != 0 && errno != ENOENT)
    KPS_FAIL(KPS_ERR_IO, "cannot remove %s, in the way of a new results file: %s", part,
             strerror(errno));
  KPS_CHECK(build(job, part));
  if (rename(part, path) != 0)
    KPS_FAIL(KPS_ERR_IO, "cannot rename %s to %s: %s", part, path, strerror(errno));
cleanup:
  if (rc != KPS_OK) unlink(part);
  return rc;
}

/* Checks a file of this job for --resume and reads its done flags. Rank 0. */
static kps_err check_resume(const kps_ds_job *job, const char *path, uint8_t *done) {
  kps_err rc = KPS_OK;
  hid_t fapl = H5I_INVALID_HID, file = H5I_INVALID_HID, a = H5I_INVALID_HID,
        d = H5I_INVALID_HID, sp = H5I_INVALID_HID;
  uint64_t hash = 0;
  hsize_t n = 0;
  KPS_CHECK_H5_ID(fapl, kps_serial_fapl());
  file = H5Fopen(path, H5F_ACC_RDWR, fapl);
  if (file < 0) KPS_FAIL(KPS_ERR_MISMATCH, "%s: not an HDF5 file that can be resumed", path);
  if (H5Aexists(file, "config_hash") <= 0 || H5Lexists(file, "done", H5P_DEFAULT) <= 0)
    KPS_FAIL(KPS_ERR_MISMATCH, "%s: not a defence sweep file", path);
  KPS_CHECK_H5_ID(a, H5Aopen(file, "config_hash", H5P_DEFAULT));
  KPS_CHECK_H5(H5Aread(a, H5T_NATIVE_UINT64, &hash));
  if (hash != job->hash)
    KPS_FAIL(KPS_ERR_MISMATCH, "%s was written by another job file (config hash %016llx, "
             "this job %016llx)", path, (unsigned long long)hash, (unsigned long long)job->hash);
  KPS_CHECK_H5_ID(d, H5Dopen2(file, "done", H5P_DEFAULT));
  KPS_CHECK_H5_ID(sp, H5Dget_space(d));
  if (H5Sget_simple_extent_ndims(sp) != 1 || H5Sget_simple_extent_dims(sp, &n, NULL) < 0 ||
      n != job->n_tasks)
    KPS_FAIL(KPS_ERR_MISMATCH, "%s: /done has not %zu tasks", path, job->n_tasks);
  KPS_CHECK_H5(H5Dread(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, done));
cleanup:
  if (sp >= 0) H5Sclose(sp);
  if (d >= 0) H5Dclose(d);
  if (a >= 0) H5Aclose(a);
  if (file >= 0) H5Fclose(file);
  if (fapl >= 0) H5Pclose(fapl);
  return rc;
}

/* Rank 0's part of the open: path, lock, then check or create. */
static kps_err prepare(const kps_ds_job *job, const char *path, int resume, int force,
                       kps_ds_file *f, uint8_t *done) {
  kps_err rc = KPS_OK;
  struct stat st;
  KPS_CHECK(kps_writer_path_check(path, 1));
  KPS_CHECK(kps_lock_acquire(path, &f->lock));
  const int exists = stat(path, &st) == 0;
  if (exists && !S_ISREG(st.st_mode))
    KPS_FAIL(KPS_ERR_USAGE, "%s is not a regular file; give the name of a results file with -o",
             path);
  if (resume && exists) {
    KPS_CHECK(check_resume(job, path, done));
  } else {
    if (exists && !force)
      KPS_FAIL(KPS_ERR_EXISTS, "%s exists (--resume to continue it, --force to replace it)", path);
    KPS_CHECK(create(job, path));
  }
cleanup:
  return rc;
}

/* Dataset names of the KPS_DS_ROW_* rows. */
static const char *const row_names[KPS_DS_N_ROWS] = {
    "status", "clean_accuracy", "class_accuracy", "robust_accuracy", "robust_class_accuracy",
    "mean_flip_eps", "loss_landscape", "done"};

/* Every rank opens the prepared file with MPI-IO. Collective. */
static kps_err open_parallel(const kps_ds_job *job, const char *path, kps_ds_file *f) {
  kps_err rc = KPS_OK;
  hid_t fapl = H5I_INVALID_HID;
  KPS_CHECK_H5_ID(fapl, kps_parallel_fapl(f->comm));
  KPS_CHECK_H5_ID(f->file, H5Fopen(path, H5F_ACC_RDWR, fapl));
  for (int k = 0; k < KPS_DS_N_ROWS; ++k)
    if (k != KPS_DS_ROW_LAND || job->land_points > 0)
      KPS_CHECK_H5_ID(f->dset[k], H5Dopen2(f->file, row_names[k], H5P_DEFAULT));
cleanup:
  if (fapl >= 0) H5Pclose(fapl);
  return rc;
}

/* Closes the parallel handle; 0 when HDF5 reported a failure. Collective. */
static int close_parallel(kps_ds_file *f) {
  int ok = 1;
  for (int k = 0; k < KPS_DS_N_ROWS; ++k)
    if (f->dset[k] >= 0) ok &= H5Dclose(f->dset[k]) >= 0, f->dset[k] = H5I_INVALID_HID;
  if (f->file >= 0) ok &= H5Fclose(f->file) >= 0, f->file = H5I_INVALID_HID;
  return ok;
}

kps_err kps_ds_file_open(const kps_ds_job *job, const char *path, int resume, int force,
                         MPI_Comm comm, kps_ds_file *f, uint8_t *done) {
  kps_err rc = KPS_OK, agreed = KPS_OK, local = KPS_OK;
  f->comm = comm;
  f->file = H5I_INVALID_HID;
  f->lock = NULL;
  for (int k = 0; k < KPS_DS_N_ROWS; ++k) f->dset[k] = H5I_INVALID_HID;
  memset(done, 0, job->n_tasks);
  KPS_CHECK_MPI(MPI_Comm_rank(comm, &f->rank));
  /* Rank 0 works alone; the others wait for its verdict without a core. */
  if (f->rank == 0) local = prepare(job, path, resume, force, f, done);
  KPS_CHECK(kps_agree(comm, local, &agreed));
  if (agreed != KPS_OK) {
    rc = agreed;
    goto cleanup;
  }
  KPS_CHECK_MPI(MPI_Bcast(done, (int)job->n_tasks, MPI_UINT8_T, 0, comm));
  KPS_CHECK(kps_agree(comm, open_parallel(job, path, f), &agreed));
  if (agreed != KPS_OK) {
    rc = agreed;
    if (f->rank == 0)
      fprintf(stderr, "kpsweep: error: %s could not be opened for parallel writing\n", path);
  }
cleanup:
  if (rc != KPS_OK) {
    close_parallel(f);
    kps_lock_release(&f->lock);
  }
  return rc;
}

kps_err kps_ds_file_put(const kps_ds_job *job, kps_ds_file *f, long long t, const double *r) {
  kps_err rc = KPS_OK, step = KPS_OK, agreed = KPS_OK;
  hid_t xfer = H5I_INVALID_HID, fs[KPS_DS_N_ROWS], ms[KPS_DS_N_ROWS];
  const double *src[KPS_DS_N_ROWS] = {NULL};
  const int8_t status = t >= 0 ? (int8_t)r[KPS_DS_R_STATUS] : 0;
  const uint8_t one = 1;
  static const double dummy[1];
  for (int k = 0; k < KPS_DS_N_ROWS; ++k) fs[k] = ms[k] = H5I_INVALID_HID;
  if (t >= 0) {
    src[KPS_DS_ROW_CLEAN] = &r[KPS_DS_R_CLEAN];
    src[KPS_DS_ROW_CLASS] = &r[KPS_DS_R_CLASS];
    src[KPS_DS_ROW_ROBUST] = &r[KPS_DS_R_ROBUST];
    src[KPS_DS_ROW_ROBUST_CLASS] = &r[kps_ds_r_robust_class(job)];
    src[KPS_DS_ROW_FLIP] = &r[kps_ds_r_flip(job)];
    src[KPS_DS_ROW_LAND] = &r[kps_ds_r_land(job)];
  }

  /* 1. Selections: row t of every dataset, or none. No collective yet. */
  if ((xfer = H5Pcreate(H5P_DATASET_XFER)) < 0 || H5Pset_dxpl_mpio(xfer, H5FD_MPIO_COLLECTIVE) < 0)
    step = KPS_ERR_HDF5;
  for (int k = 0; k < KPS_DS_N_ROWS && step == KPS_OK; ++k) {
    hsize_t dims[4], start[4] = {0}, count[4];
    if (f->dset[k] < 0) continue;
    if ((fs[k] = H5Dget_space(f->dset[k])) < 0) {
      step = KPS_ERR_HDF5;
      break;
    }
    const int nd = H5Sget_simple_extent_dims(fs[k], dims, NULL);
    if (nd < 1 || nd > 4 || (t >= 0 && (hsize_t)t >= dims[0])) {
      step = KPS_ERR_INTERNAL;
      kps_error_report(__FILE__, __LINE__, __func__, step, "row %lld of /%s out of range", t,
                       row_names[k]);
      break;
    }
    hsize_t values = 1;
    for (int d = 1; d < nd; ++d) count[d] = dims[d], values *= dims[d];
    start[0] = t >= 0 ? (hsize_t)t : 0, count[0] = 1;
    if (t >= 0 ? H5Sselect_hyperslab(fs[k], H5S_SELECT_SET, start, NULL, count, NULL) < 0
               : H5Sselect_none(fs[k]) < 0)
      step = KPS_ERR_HDF5;
    if (step == KPS_OK && ((ms[k] = H5Screate_simple(1, &values, NULL)) < 0 ||
                           (t < 0 && H5Sselect_none(ms[k]) < 0)))
      step = KPS_ERR_HDF5;
  }
  KPS_CHECK(kps_agree(f->comm, step, &agreed));
  if (agreed != KPS_OK) KPS_FAIL(agreed, "preparing a result row failed on at least one rank");

  /* 2. The row, by every rank. */
  KPS_STEP_H5(step,
              H5Dwrite(f->dset[KPS_DS_ROW_STATUS], H5T_NATIVE_INT8, ms[KPS_DS_ROW_STATUS],
                       fs[KPS_DS_ROW_STATUS], xfer, &status),
              row_names[KPS_DS_ROW_STATUS]);
  for (int k = KPS_DS_ROW_CLEAN; k < KPS_DS_ROW_DONE; ++k)
    if (f->dset[k] >= 0)
      KPS_STEP_H5(step,
                  H5Dwrite(f->dset[k], H5T_NATIVE_DOUBLE, ms[k], fs[k], xfer,
                           src[k] ? src[k] : dummy),
                  row_names[k]);
  KPS_CHECK(kps_agree(f->comm, step, &agreed));
  if (agreed != KPS_OK) KPS_FAIL(agreed, "writing a result row failed on at least one rank");

  /* 3. Only then its flag, so a task marked done is complete on disk. */
  KPS_STEP_H5(step,
              H5Dwrite(f->dset[KPS_DS_ROW_DONE], H5T_NATIVE_UINT8, ms[KPS_DS_ROW_DONE],
                       fs[KPS_DS_ROW_DONE], xfer, &one),
              row_names[KPS_DS_ROW_DONE]);
  KPS_STEP_H5(step, H5Fflush(f->file, H5F_SCOPE_GLOBAL), "(flush)");
  KPS_CHECK(kps_agree(f->comm, step, &agreed));
  if (agreed != KPS_OK) KPS_FAIL(agreed, "marking a task done failed on at least one rank");
cleanup:
  for (int k = 0; k < KPS_DS_N_ROWS; ++k) {
    if (fs[k] >= 0) H5Sclose(fs[k]);
    if (ms[k] >= 0) H5Sclose(ms[k]);
  }
  if (xfer >= 0) H5Pclose(xfer);
  return rc;
}

kps_err kps_ds_file_close(kps_ds_file *f) {
  kps_err rc = KPS_OK, agreed = KPS_OK;
  if (f->file < 0) return KPS_OK;
  const kps_err local = close_parallel(f) ? KPS_OK : KPS_ERR_HDF5;
  KPS_CHECK(kps_agree(f->comm, local, &agreed));
  if (agreed != KPS_OK) KPS_FAIL(agreed, "closing the results file failed on at least one rank");
cleanup:
  kps_lock_release(&f->lock);
  return rc;
}
