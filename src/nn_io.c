/*
 * A network's weights in HDF5 (kps_mlp_save, kps_mlp_load): one dataset per
 * weight array, each with units and a description, and the input layer's
 * and the training's settings as root attributes.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "h5util.h"
#include "kpsweep/nn.h"

/* The root attribute `format` tells a weights file from a results file. */
#define NN_FORMAT "kpsweep-mlp-1"

static kps_err put_array(hid_t f, const char *name, int rank, const hsize_t *dims,
                         const double *data, const char *what) {
  kps_err rc = KPS_OK;
  hid_t sp = H5I_INVALID_HID, ds = H5I_INVALID_HID;
  KPS_CHECK_H5_ID(sp, H5Screate_simple(rank, dims, NULL));
  KPS_CHECK_H5_ID(ds, H5Dcreate2(f, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT,
                                 H5P_DEFAULT));
  KPS_CHECK_H5(H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, data));
  KPS_CHECK(kps_attr_str(ds, "units", "1"));
  KPS_CHECK(kps_attr_str(ds, "description", what));
cleanup:
  if (ds >= 0) H5Dclose(ds);
  if (sp >= 0) H5Sclose(sp);
  return rc;
}

static kps_err put_int(hid_t obj, const char *name, long long v) {
  return kps_attr_put(obj, name, H5T_NATIVE_LLONG, 0, &v);
}

kps_err kps_mlp_save(const kps_mlp *net, const kps_train_opts *o, const char *path) {
  kps_err rc = KPS_OK;
  hid_t fapl = H5I_INVALID_HID, f = H5I_INVALID_HID;
  KPS_CHECK_H5_ID(fapl, kps_serial_fapl());
  KPS_CHECK_H5_ID(f, H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl));
  const hsize_t d1[2] = {net->n_in, net->n_hid}, d2[2] = {net->n_hid, net->n_out};
  KPS_CHECK(put_array(f, "W1", 2, d1, net->W1,
                      "hidden-layer weights [input pixel][hidden unit], applied to the input layer's output"));
  KPS_CHECK(put_array(f, "b1", 1, d1 + 1, net->b1, "hidden-layer biases (ReLU units)"));
  KPS_CHECK(put_array(f, "W2", 2, d2, net->W2, "output weights [hidden unit][class]"));
  KPS_CHECK(put_array(f, "b2", 1, d2 + 1, net->b2, "output biases (logits of the 10 classes)"));
  KPS_CHECK(kps_attr_str(f, "format", NN_FORMAT));
  KPS_CHECK(kps_attr_str(f, "description",
                         "kpsweep defence network: input layer, dense+ReLU, dense, softmax "
                         "(docs/defence.md)"));
  KPS_CHECK(put_int(f, "layer_on", net->layer.on));
  KPS_CHECK(put_int(f, "layer_N", net->layer.N));
  KPS_CHECK(put_int(f, "layer_m", net->layer.m));
  KPS_CHECK(kps_attr_f64(f, "layer_theta", net->layer.theta));
  KPS_CHECK(kps_attr_f64(f, "layer_c", net->layer.c));
  KPS_CHECK(put_int(f, "train_epochs", o->epochs));
  KPS_CHECK(put_int(f, "train_batch", (long long)o->batch));
  KPS_CHECK(kps_attr_f64(f, "train_lr", o->lr));
  KPS_CHECK(kps_attr_f64(f, "train_momentum", o->momentum));
  KPS_CHECK(put_int(f, "train_seed", (long long)o->seed));
  KPS_CHECK(kps_attr_f64(f, "train_adv_eps", o->adv_eps));
  KPS_CHECK(put_int(f, "train_adv_steps", o->adv_steps));
  KPS_CHECK(put_int(f, "train_images", (long long)o->n_train));
cleanup:
  if (f >= 0 && H5Fclose(f) < 0 && rc == KPS_OK) rc = KPS_ERR_HDF5;
  if (fapl >= 0) H5Pclose(fapl);
  return rc;
}

/* A scalar attribute read into memory type mt; missing is a config error. */
static kps_err get_attr(hid_t f, const char *path, const char *name, hid_t mt, void *v) {
  kps_err rc = KPS_OK;
  hid_t a = H5I_INVALID_HID;
  const htri_t e = H5Aexists(f, name);
  KPS_CHECK_H5(e);
  if (!e) KPS_FAIL(KPS_ERR_CONFIG, "%s: attribute %s missing", path, name);
  KPS_CHECK_H5_ID(a, H5Aopen(f, name, H5P_DEFAULT));
  KPS_CHECK_H5(H5Aread(a, mt, v));
cleanup:
  if (a >= 0) H5Aclose(a);
  return rc;
}

/* Reads dataset name of the expected shape into data. */
static kps_err get_array(hid_t f, const char *path, const char *name, int rank,
                         const hsize_t *want, double *data) {
  kps_err rc = KPS_OK;
  hid_t ds = H5I_INVALID_HID, sp = H5I_INVALID_HID;
  hsize_t dims[2] = {0, 0};
  KPS_CHECK_H5_ID(ds, H5Dopen2(f, name, H5P_DEFAULT));
  KPS_CHECK_H5_ID(sp, H5Dget_space(ds));
  if (H5Sget_simple_extent_ndims(sp) != rank)
    KPS_FAIL(KPS_ERR_CONFIG, "%s: /%s is not of rank %d", path, name, rank);
  KPS_CHECK_H5(H5Sget_simple_extent_dims(sp, dims, NULL));
  for (int r = 0; r < rank; ++r)
    if (dims[r] != want[r])
      KPS_FAIL(KPS_ERR_CONFIG, "%s: /%s has extent %llu in dimension %d, not %llu", path, name,
               (unsigned long long)dims[r], r, (unsigned long long)want[r]);
  KPS_CHECK_H5(H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, data));
cleanup:
  if (sp >= 0) H5Sclose(sp);
  if (ds >= 0) H5Dclose(ds);
  return rc;
}

kps_err kps_mlp_load(const char *path, kps_mlp *net, kps_train_opts *opts) {
  kps_err rc = KPS_OK;
  hid_t fapl = H5I_INVALID_HID, f = H5I_INVALID_HID, ds = H5I_INVALID_HID, sp = H5I_INVALID_HID;
  hid_t st = H5I_INVALID_HID;
  char fmt[64] = "";
  memset(net, 0, sizeof *net);
  KPS_CHECK_H5_ID(fapl, kps_serial_fapl());
  f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
  if (f < 0) KPS_FAIL(KPS_ERR_CONFIG, "%s: cannot be opened as an HDF5 file", path);
  KPS_CHECK_H5_ID(st, H5Tcopy(H5T_C_S1));
  KPS_CHECK_H5(H5Tset_size(st, H5T_VARIABLE));
  KPS_CHECK_H5(H5Tset_cset(st, H5T_CSET_UTF8));
  {
    char *s = NULL;
    const htri_t e = H5Aexists(f, "format");
    KPS_CHECK_H5(e);
    if (e) KPS_CHECK(get_attr(f, path, "format", st, &s));
    if (s) snprintf(fmt, sizeof fmt, "%s", s), H5free_memory(s);
  }
  if (strcmp(fmt, NN_FORMAT))
    KPS_FAIL(KPS_ERR_CONFIG, "%s: not a network written by `kpsweep defence train` (format "
             "'%s', want '%s')", path, fmt, NN_FORMAT);
  hsize_t d1[2] = {0, 0}, d2[2] = {0, 0};
  KPS_CHECK_H5_ID(ds, H5Dopen2(f, "W1", H5P_DEFAULT));
  KPS_CHECK_H5_ID(sp, H5Dget_space(ds));
  if (H5Sget_simple_extent_ndims(sp) != 2) KPS_FAIL(KPS_ERR_CONFIG, "%s: /W1 is not 2-D", path);
  KPS_CHECK_H5(H5Sget_simple_extent_dims(sp, d1, NULL));
  H5Sclose(sp), sp = H5I_INVALID_HID;
  H5Dclose(ds), ds = H5I_INVALID_HID;
  KPS_CHECK_H5_ID(ds, H5Dopen2(f, "W2", H5P_DEFAULT));
  KPS_CHECK_H5_ID(sp, H5Dget_space(ds));
  if (H5Sget_simple_extent_ndims(sp) != 2) KPS_FAIL(KPS_ERR_CONFIG, "%s: /W2 is not 2-D", path);
  KPS_CHECK_H5(H5Sget_simple_extent_dims(sp, d2, NULL));
  if (d2[0] != d1[1] || d1[0] == 0 || d1[1] == 0 || d2[1] == 0 || d1[0] > (1u << 20) ||
      d1[1] > (1u << 16) || d2[1] > 1024)
    KPS_FAIL(KPS_ERR_CONFIG, "%s: weight shapes %llux%llu and %llux%llu do not chain", path,
             (unsigned long long)d1[0], (unsigned long long)d1[1], (unsigned long long)d2[0],
             (unsigned long long)d2[1]);
  long long on = 0, N = 1, m = 0;
  double theta = 1, c = 0;
  KPS_CHECK(get_attr(f, path, "layer_on", H5T_NATIVE_LLONG, &on));
  KPS_CHECK(get_attr(f, path, "layer_N", H5T_NATIVE_LLONG, &N));
  KPS_CHECK(get_attr(f, path, "layer_m", H5T_NATIVE_LLONG, &m));
  KPS_CHECK(get_attr(f, path, "layer_theta", H5T_NATIVE_DOUBLE, &theta));
  KPS_CHECK(get_attr(f, path, "layer_c", H5T_NATIVE_DOUBLE, &c));
  kps_layer layer = on ? kps_layer_make((int)N, (int)m, theta, c) : kps_layer_none();
  char why[256];
  if (*kps_layer_check(&layer, why, sizeof why))
    KPS_FAIL(KPS_ERR_CONFIG, "%s: input layer: %s", path, why);
  KPS_CHECK(kps_mlp_create(d1[0], d1[1], d2[1], layer, 0, net));
  KPS_CHECK(get_array(f, path, "W1", 2, d1, net->W1));
  KPS_CHECK(get_array(f, path, "b1", 1, d1 + 1, net->b1));
  KPS_CHECK(get_array(f, path, "W2", 2, d2, net->W2));
  KPS_CHECK(get_array(f, path, "b2", 1, d2 + 1, net->b2));
  if (opts) {
    long long ep = 0, batch = 0, seed = 0, steps = 0, nt = 0;
    *opts = kps_train_defaults();
    KPS_CHECK(get_attr(f, path, "train_epochs", H5T_NATIVE_LLONG, &ep));
    KPS_CHECK(get_attr(f, path, "train_batch", H5T_NATIVE_LLONG, &batch));
    KPS_CHECK(get_attr(f, path, "train_lr", H5T_NATIVE_DOUBLE, &opts->lr));
    KPS_CHECK(get_attr(f, path, "train_momentum", H5T_NATIVE_DOUBLE, &opts->momentum));
    KPS_CHECK(get_attr(f, path, "train_seed", H5T_NATIVE_LLONG, &seed));
    KPS_CHECK(get_attr(f, path, "train_adv_eps", H5T_NATIVE_DOUBLE, &opts->adv_eps));
    KPS_CHECK(get_attr(f, path, "train_adv_steps", H5T_NATIVE_LLONG, &steps));
    KPS_CHECK(get_attr(f, path, "train_images", H5T_NATIVE_LLONG, &nt));
    opts->epochs = (int)ep, opts->batch = (size_t)batch, opts->seed = (uint64_t)seed;
    opts->adv_steps = (int)steps, opts->n_train = (size_t)nt;
  }
cleanup:
  if (sp >= 0) H5Sclose(sp);
  if (ds >= 0) H5Dclose(ds);
  if (st >= 0) H5Tclose(st);
  if (f >= 0) H5Fclose(f);
  if (fapl >= 0) H5Pclose(fapl);
  if (rc != KPS_OK) kps_mlp_destroy(net);
  return rc;
}
