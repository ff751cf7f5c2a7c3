/*
 * The defence sweep's results file: created, written and resumed by rank 0
 * alone with the serial driver (the results are a few kilobytes per task;
 * rank 0 receives every one anyway). Layout in docs/defence.md. A task's
 * row is written first and its /done flag last, each followed by a flush,
 * so a killed run leaves at worst one task to recompute.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <hdf5_hl.h>

#include "check.h"
#include "defence_sweep.h"
#include "h5util.h"

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
  /* Filled at creation: an unwritten row reads as "not computed". */
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

static kps_err create(const kps_ds_job *job, const char *path, hid_t *out) {
  kps_err rc = KPS_OK;
  hid_t fapl = H5I_INVALID_HID, file = H5I_INVALID_HID, str = H5I_INVALID_HID;
  hid_t s_task = H5I_INVALID_HID, s_eps = H5I_INVALID_HID, s_att = H5I_INVALID_HID,
        s_cls = H5I_INVALID_HID;
  const hsize_t T = job->n_tasks, E = (hsize_t)job->n_eps, A = (hsize_t)job->n_attacks,
                C = KPS_FASHION_CLASSES;
  int32_t idx[KPS_FASHION_CLASSES];
  char names[KPS_NN_N_ATTACKS][ATTACK_NAME_LEN];
  const double nan = NAN;
  const int8_t zero8 = 0;
  const uint8_t zerou8 = 0;
  const int32_t zero32 = 0;
  int32_t *ti = NULL;
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
  *out = file;
  file = H5I_INVALID_HID;
cleanup:
  free(ti);
  if (s_task >= 0) H5Dclose(s_task);
  if (s_eps >= 0) H5Dclose(s_eps);
  if (s_att >= 0) H5Dclose(s_att);
  if (s_cls >= 0) H5Dclose(s_cls);
  if (str >= 0) H5Tclose(str);
  if (file >= 0) H5Fclose(file);
  if (fapl >= 0) H5Pclose(fapl);
  return rc;
}

/* Opens a file of this job for --resume and reads its done flags. */
static kps_err reopen(const kps_ds_job *job, const char *path, hid_t *out, uint8_t *done) {
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
  *out = file;
  file = H5I_INVALID_HID;
cleanup:
  if (sp >= 0) H5Sclose(sp);
  if (d >= 0) H5Dclose(d);
  if (a >= 0) H5Aclose(a);
  if (file >= 0) H5Fclose(file);
  if (fapl >= 0) H5Pclose(fapl);
  return rc;
}

kps_err kps_ds_file_open(const kps_ds_job *job, const char *path, int resume, int force,
                         kps_ds_file *f, uint8_t *done) {
  kps_err rc = KPS_OK;
  struct stat st;
  const int exists = stat(path, &st) == 0;
  f->file = H5I_INVALID_HID;
  memset(done, 0, job->n_tasks);
  if (resume && exists) return reopen(job, path, &f->file, done);
  if (exists && !force)
    KPS_FAIL(KPS_ERR_EXISTS, "%s exists (--resume to continue it, --force to replace it)", path);
  KPS_CHECK(create(job, path, &f->file));
cleanup:
  return rc;
}

kps_err kps_ds_file_put(const kps_ds_job *job, kps_ds_file *f, size_t t, const double *r) {
  kps_err rc = KPS_OK;
  const int8_t status = (int8_t)r[KPS_DS_R_STATUS];
  const uint8_t one = 1;
  KPS_CHECK(put_row(f->file, "status", H5T_NATIVE_INT8, t, &status));
  if (status == KPS_DS_COMPUTED) {
    KPS_CHECK(put_row(f->file, "clean_accuracy", H5T_NATIVE_DOUBLE, t, &r[KPS_DS_R_CLEAN]));
    KPS_CHECK(put_row(f->file, "class_accuracy", H5T_NATIVE_DOUBLE, t, &r[KPS_DS_R_CLASS]));
    KPS_CHECK(put_row(f->file, "robust_accuracy", H5T_NATIVE_DOUBLE, t, &r[KPS_DS_R_ROBUST]));
    KPS_CHECK(put_row(f->file, "robust_class_accuracy", H5T_NATIVE_DOUBLE, t,
                      &r[kps_ds_r_robust_class(job)]));
    KPS_CHECK(put_row(f->file, "mean_flip_eps", H5T_NATIVE_DOUBLE, t, &r[kps_ds_r_flip(job)]));
  }
  /* The row reaches the disk before the flag that says it is complete. */
  KPS_CHECK_H5(H5Fflush(f->file, H5F_SCOPE_GLOBAL));
  KPS_CHECK(put_row(f->file, "done", H5T_NATIVE_UINT8, t, &one));
  KPS_CHECK_H5(H5Fflush(f->file, H5F_SCOPE_GLOBAL));
cleanup:
  return rc;
}

kps_err kps_ds_file_close(kps_ds_file *f) {
  kps_err rc = KPS_OK;
  if (f->file >= 0) {
    const hid_t file = f->file;
    f->file = H5I_INVALID_HID;
    KPS_CHECK_H5(H5Fclose(file));
  }
cleanup:
  return rc;
}
