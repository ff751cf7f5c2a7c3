/*
 * `kpsweep inspect FILE`: what a results file holds and how complete it is.
 * Reads on rank 0 only, with the serial driver; other ranks return at once.
 *
 * FILE may be anything. Every attribute, group and dataset inspect reads is
 * checked for its type and shape first; the progress map and the statuses
 * must have the shapes of the plan the file states (n_points, itself within
 * the job limits) and are read in bounded slabs, so nothing is allocated
 * from a size the file merely claims. Links other than hard links are
 * listed, never followed. A file that is not a usable kpsweep results file
 * gives exit status 2 and a message naming the file and what is wrong.
 */
#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "h5util.h"
#include "kpsweep/cli.h"
#include "kpsweep/config.h"
#include "kpsweep/progress.h"
#include "kpsweep/status.h"

/* Longest job text `--config` prints. */
#define CONFIG_TEXT_MAX (16u << 20)
/* Longest other string attribute printed. */
#define ATTR_TEXT_MAX 4096
/* Points of /points/status read at once (bytes, as status is int8). */
#define SLAB_POINTS (1u << 22)

static const char *inspect_help =
    "usage: kpsweep inspect FILE [--config]\n"
    "\n"
    "Prints the provenance of a results file (version, model, job, creation and run\n"
    "times, ranks), every dataset with its shape, and the progress: points done of\n"
    "the total, the run's rate, failed points by status. --config also prints the\n"
    "job file stored in it. Exits 2 when FILE is not a usable kpsweep results file.\n";

/* Reports why the file is not usable; exit status 2. */
__attribute__((format(printf, 2, 3))) static kps_err bad_file(const char *path,
                                                              const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "kpsweep inspect: %s: ", path);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return KPS_ERR_MISMATCH;
}

/* Control characters of a hostile string would reach the terminal. */
static void sanitize(char *s, int keep_newlines) {
  for (unsigned char *c = (unsigned char *)s; *c; ++c)
    if ((*c < 0x20 && !(keep_newlines && (*c == '\n' || *c == '\t'))) || *c == 0x7f) *c = '?';
}

static const char *class_name(H5T_class_t c) {
  switch (c) {
    case H5T_INTEGER: return "an integer";
    case H5T_FLOAT: return "a floating-point number";
    case H5T_STRING: return "a string";
    case H5T_BITFIELD: return "a bitfield";
    case H5T_OPAQUE: return "opaque data";
    case H5T_COMPOUND: return "a compound";
    case H5T_REFERENCE: return "a reference";
    case H5T_ENUM: return "an enum";
    case H5T_VLEN: return "a variable-length sequence";
    case H5T_ARRAY: return "an array type";
    case H5T_TIME: return "a time";
    default: return "of an unknown type";
  }
}

/* "(2, 2, 5)", "scalar" or "null" for a dataspace, into buf. */
static kps_err describe_space(hid_t sp, char *buf, size_t n) {
  kps_err rc = KPS_OK;
  hsize_t dims[H5S_MAX_RANK];
  const H5S_class_t cls = H5Sget_simple_extent_type(sp);
  KPS_CHECK_H5(cls);
  if (cls == H5S_SCALAR) {
    snprintf(buf, n, "scalar");
    goto cleanup;
  }
  if (cls != H5S_SIMPLE) {
    snprintf(buf, n, "null (no data)");
    goto cleanup;
  }
  const int nd = H5Sget_simple_extent_ndims(sp);
  KPS_CHECK_H5(nd);
  if (nd > H5S_MAX_RANK) KPS_FAIL(KPS_ERR_HDF5, "a dataspace of rank %d", nd);
  KPS_CHECK_H5(H5Sget_simple_extent_dims(sp, dims, NULL));
  size_t used = (size_t)snprintf(buf, n, "(");
  for (int k = 0; k < nd && used < n; ++k)
    used += (size_t)snprintf(buf + used, n - used, "%s%llu", k ? ", " : "",
                             (unsigned long long)dims[k]);
  if (used < n) snprintf(buf + used, n - used, ")");
cleanup:
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Attributes                                                                */

typedef enum attr_kind { A_STRING, A_NUMBER, A_INTEGER } attr_kind;

/* The root attributes inspect reads, with what each must be. */
typedef struct attr_spec {
  const char *name;
  attr_kind kind;
  int required;
} attr_spec;

static const attr_spec root_attrs[] = {
    {"kpsweep_version", A_STRING, 1}, {"model", A_STRING, 0},
    {"job_name", A_STRING, 0},        {"config", A_STRING, 0},
    {"config_source", A_STRING, 0},   {"config_hash", A_INTEGER, 0},
    {"created", A_STRING, 0},         {"n_points", A_NUMBER, 1},
    {"start_time", A_STRING, 0},      {"end_time", A_STRING, 0},
    {"start_epoch", A_NUMBER, 0},     {"end_epoch", A_NUMBER, 0},
    {"lines_computed", A_NUMBER, 0},  {"n_ranks", A_NUMBER, 0},
    {"hdf5_seconds", A_NUMBER, 0},
};

/* Whether attribute `s` of obj, when present, has its kind and one value. */
static kps_err check_attr(hid_t obj, const attr_spec *s, const char *path) {
  kps_err rc = KPS_OK;
  hid_t a = H5I_INVALID_HID, t = H5I_INVALID_HID, sp = H5I_INVALID_HID;
  const htri_t exists = H5Aexists(obj, s->name);
  KPS_CHECK_H5(exists);
  if (!exists) {
    if (s->required)
      rc = !strcmp(s->name, "kpsweep_version")
               ? bad_file(path, "not a kpsweep results file (no kpsweep_version attribute)")
               : bad_file(path, "no attribute '%s' (written when the file is created)", s->name);
    goto cleanup;
  }
  KPS_CHECK_H5_ID(a, H5Aopen(obj, s->name, H5P_DEFAULT));
  KPS_CHECK_H5_ID(t, H5Aget_type(a));
  KPS_CHECK_H5_ID(sp, H5Aget_space(a));
  const H5T_class_t cls = H5Tget_class(t);
  KPS_CHECK_H5(cls);
  const hssize_t np = H5Sget_simple_extent_npoints(sp);
  KPS_CHECK_H5(np);
  const int ok_type = s->kind == A_STRING    ? cls == H5T_STRING
                      : s->kind == A_INTEGER ? cls == H5T_INTEGER
                                             : cls == H5T_INTEGER || cls == H5T_FLOAT;
  const char *want = s->kind == A_STRING    ? "a string"
                     : s->kind == A_INTEGER ? "an integer"
                                            : "a number";
  if (!ok_type) {
    rc = bad_file(path, "attribute '%s' is %s, expected %s", s->name, class_name(cls), want);
  } else if (np != 1) {
    char shape[256];
    KPS_CHECK(describe_space(sp, shape, sizeof shape));
    rc = bad_file(path, "attribute '%s' has shape %s, expected a single %s", s->name, shape,
                  s->kind == A_STRING ? "string" : "value");
  }
cleanup:
  if (sp >= 0) H5Sclose(sp);
  if (t >= 0) H5Tclose(t);
  if (a >= 0) H5Aclose(a);
  return rc;
}

/* Frees a variable-length string HDF5 allocated for a read of type mt. */
static herr_t reclaim_vlen(hid_t mt, hid_t sp, char **vl) {
#if H5_VERSION_GE(1, 12, 0)
  return H5Treclaim(mt, sp, H5P_DEFAULT, vl);
#else
  return H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, vl);
#endif
}

/*
 * String attribute `name` (checked by check_attr) as a malloc'd text of at
 * most cap - 1 bytes, fixed-length or variable-length, in its own character
 * set; an absent attribute gives "".
 */
static kps_err read_str_attr_alloc(hid_t obj, const char *name, size_t cap, char **out) {
  kps_err rc = KPS_OK;
  hid_t a = H5I_INVALID_HID, t = H5I_INVALID_HID, mt = H5I_INVALID_HID, sp = H5I_INVALID_HID;
  char *vl = NULL, *text = NULL;
  *out = NULL;
  const htri_t exists = H5Aexists(obj, name);
  KPS_CHECK_H5(exists);
  if (exists) {
    KPS_CHECK_H5_ID(a, H5Aopen(obj, name, H5P_DEFAULT));
    KPS_CHECK_H5_ID(t, H5Aget_type(a));
    KPS_CHECK_H5_ID(sp, H5Aget_space(a));
    const htri_t is_vlen = H5Tis_variable_str(t);
    KPS_CHECK_H5(is_vlen);
    const H5T_cset_t cset = H5Tget_cset(t);
    KPS_CHECK_H5(cset);
    /* HDF5 converts strings only within one character set. */
    KPS_CHECK_H5_ID(mt, H5Tcopy(H5T_C_S1));
    KPS_CHECK_H5(H5Tset_cset(mt, cset));
    if (is_vlen) {
      KPS_CHECK_H5(H5Tset_size(mt, H5T_VARIABLE));
      KPS_CHECK_H5(H5Aread(a, mt, &vl));
      const size_t len = vl ? strnlen(vl, cap - 1) : 0;
      text = malloc(len + 1);
      KPS_CHECK_ALLOC(text);
      if (len) memcpy(text, vl, len);
      text[len] = '\0';
      const herr_t freed = reclaim_vlen(mt, sp, &vl);
      vl = NULL;
      KPS_CHECK_H5(freed);
    } else {
      /* A stored fixed-length string is as long as the file has bytes for;
       * reading it as a shorter NUL-terminated type truncates it. */
      const size_t size = H5Tget_size(t);
      if (size == 0) KPS_FAIL(KPS_ERR_HDF5, "H5Tget_size of attribute %s failed", name);
      const size_t len = size < cap - 1 ? size : cap - 1;
      KPS_CHECK_H5(H5Tset_size(mt, len + 1));
      KPS_CHECK_H5(H5Tset_strpad(mt, H5T_STR_NULLTERM));
      text = calloc(len + 1, 1);
      KPS_CHECK_ALLOC(text);
      KPS_CHECK_H5(H5Aread(a, mt, text));
      text[len] = '\0';
    }
  } else {
    text = calloc(1, 1);
    KPS_CHECK_ALLOC(text);
  }
  *out = text;
  text = NULL;
cleanup:
  if (vl) reclaim_vlen(mt, sp, &vl); /* only on a failed copy; already reported */
  free(text);
  if (mt >= 0) H5Tclose(mt);
  if (sp >= 0) H5Sclose(sp);
  if (t >= 0) H5Tclose(t);
  if (a >= 0) H5Aclose(a);
  return rc;
}

/* A scalar attribute (checked by check_attr) read as `type` into v;
 * *present says whether it exists (v is left alone when not). */
static kps_err read_scalar_attr(hid_t obj, const char *name, hid_t type, void *v, int *present) {
  kps_err rc = KPS_OK;
  hid_t a = H5I_INVALID_HID;
  const htri_t exists = H5Aexists(obj, name);
  KPS_CHECK_H5(exists);
  *present = exists > 0;
  if (!exists) goto cleanup;
  KPS_CHECK_H5_ID(a, H5Aopen(obj, name, H5P_DEFAULT));
  KPS_CHECK_H5(H5Aread(a, type, v));
cleanup:
  if (a >= 0) H5Aclose(a);
  return rc;
}

/* An integer attribute as uint64 (0 when absent). */
static kps_err read_u64_attr(hid_t obj, const char *name, uint64_t *v, int *present) {
  *v = 0;
  return read_scalar_attr(obj, name, H5T_NATIVE_UINT64, v, present);
}

/* A one-line string attribute into buf[0..n), control characters replaced. */
static kps_err read_str_attr(hid_t obj, const char *name, char *buf, size_t n) {
  char *text = NULL;
  kps_err rc = read_str_attr_alloc(obj, name, n, &text);
  if (rc == KPS_OK) {
    snprintf(buf, n, "%s", text);
    sanitize(buf, 0);
  }
  free(text);
  return rc;
}

/* A numeric attribute (checked by check_attr); an absent one gives NaN. */
static kps_err read_f64_attr(hid_t obj, const char *name, double *v) {
  int present = 0;
  *v = NAN;
  return read_scalar_attr(obj, name, H5T_NATIVE_DOUBLE, v, &present);
}

/* ------------------------------------------------------------------------ */
/* Groups and datasets                                                       */

/*
 * Opens the object at `name` under loc when it is a hard link to an object
 * of type `want` (H5I_GROUP or H5I_DATASET); otherwise reports it and
 * returns KPS_ERR_MISMATCH with *id invalid.
 */
static kps_err open_member(hid_t loc, const char *name, H5I_type_t want, const char *path,
                           hid_t *id) {
  kps_err rc = KPS_OK;
  hid_t o = H5I_INVALID_HID;
  const char *what = want == H5I_GROUP ? "group" : "dataset";
  *id = H5I_INVALID_HID;
  /* H5Lexists needs every parent of the last name to exist. */
  const char *slash = strrchr(name, '/');
  if (slash && slash != name) {
    char parent[256];
    snprintf(parent, sizeof parent, "%.*s", (int)(slash - name), name);
    const htri_t pe = H5Lexists(loc, parent, H5P_DEFAULT);
    KPS_CHECK_H5(pe);
    if (!pe) {
      rc = bad_file(path, "no group %s (not a kpsweep results file layout)", parent);
      goto cleanup;
    }
  }
  const htri_t exists = H5Lexists(loc, name, H5P_DEFAULT);
  KPS_CHECK_H5(exists);
  if (!exists) {
    rc = bad_file(path, "no %s %s (not a kpsweep results file layout)", what, name);
    goto cleanup;
  }
  H5L_info_t li;
  KPS_CHECK_H5(H5Lget_info(loc, name, &li, H5P_DEFAULT));
  if (li.type != H5L_TYPE_HARD) {
    rc = bad_file(path, "%s is a %s link, expected a %s", name,
                  li.type == H5L_TYPE_SOFT ? "soft" : "external", what);
    goto cleanup;
  }
  KPS_CHECK_H5_ID(o, H5Oopen(loc, name, H5P_DEFAULT));
  const H5I_type_t type = H5Iget_type(o);
  if (type != want) {
    rc = bad_file(path, "%s is a %s, expected a %s", name,
                  type == H5I_GROUP ? "group" : type == H5I_DATASET ? "dataset" : "datatype", what);
    goto cleanup;
  }
  *id = o;
  o = H5I_INVALID_HID;
cleanup:
  if (o >= 0) H5Oclose(o);
  return rc;
}

/* H5Literate callback: one line per member of a group, links not followed. */
static herr_t print_member(hid_t loc, const char *name, const H5L_info_t *info, void *group) {
  kps_err rc = KPS_OK;
  hid_t o = H5I_INVALID_HID, sp = H5I_INVALID_HID;
  char shown[256], shape[1024];
  snprintf(shown, sizeof shown, "/%s/%s", (const char *)group, name);
  sanitize(shown, 0);
  if (info->type != H5L_TYPE_HARD) {
    printf("  %-28s (%s link, not followed)\n", shown,
           info->type == H5L_TYPE_SOFT ? "soft" : info->type == H5L_TYPE_EXTERNAL ? "external"
                                                                                  : "user-defined");
    goto cleanup;
  }
  KPS_CHECK_H5_ID(o, H5Oopen(loc, name, H5P_DEFAULT));
  const H5I_type_t type = H5Iget_type(o);
  if (type == H5I_DATASET) {
    KPS_CHECK_H5_ID(sp, H5Dget_space(o));
    KPS_CHECK(describe_space(sp, shape, sizeof shape));
    printf("  %-28s %s\n", shown, shape);
  } else {
    printf("  %-28s (%s)\n", shown, type == H5I_GROUP ? "group" : "named datatype");
  }
cleanup:
  if (sp >= 0) H5Sclose(sp);
  if (o >= 0) H5Oclose(o);
  return rc == KPS_OK ? 0 : -1;
}

/* ------------------------------------------------------------------------ */
/* Progress map and statuses                                                 */

/* The plan as the file's datasets give it, checked against n_points. */
typedef struct plan {
  hid_t done, status;           /* /progress/line_done, /points/status */
  int rank;                     /* of status: line dimensions + tau2 */
  hsize_t dims[KPS_MAX_AXES + 2];
  uint64_t n_lines, n_tau, n_points;
} plan;

/* An integer dataset of rank min_rank..max_rank: its rank and dims. `layout`
 * says in the message what the dimensions are. */
static kps_err integer_dataset(hid_t d, const char *name, int min_rank, int max_rank,
                               const char *layout, int *rank, hsize_t *dims, const char *path) {
  kps_err rc = KPS_OK;
  hid_t t = H5I_INVALID_HID, sp = H5I_INVALID_HID;
  char shape[1024];
  KPS_CHECK_H5_ID(t, H5Dget_type(d));
  const H5T_class_t cls = H5Tget_class(t);
  KPS_CHECK_H5(cls);
  if (cls != H5T_INTEGER) {
    rc = bad_file(path, "%s is %s dataset, expected integers", name, class_name(cls));
    goto cleanup;
  }
  KPS_CHECK_H5_ID(sp, H5Dget_space(d));
  const H5S_class_t scls = H5Sget_simple_extent_type(sp);
  KPS_CHECK_H5(scls);
  const int nd = scls == H5S_SIMPLE ? H5Sget_simple_extent_ndims(sp) : 0;
  KPS_CHECK_H5(nd);
  if (nd < min_rank || nd > max_rank) {
    KPS_CHECK(describe_space(sp, shape, sizeof shape));
    rc = bad_file(path, "%s has shape %s, expected %s", name, shape, layout);
    goto cleanup;
  }
  KPS_CHECK_H5(H5Sget_simple_extent_dims(sp, dims, NULL));
  *rank = nd;
cleanup:
  if (sp >= 0) H5Sclose(sp);
  if (t >= 0) H5Tclose(t);
  return rc;
}

/*
 * Opens and checks the progress map and the statuses: integer datasets,
 * /points/status of shape (axes..., L2, tau2) with n_points entries in all,
 * /progress/line_done with one entry per line. n_points must be a plan the
 * job limits allow, so no read below can exceed it.
 */
static kps_err open_plan(hid_t file, double n_points, const char *path, plan *pl) {
  kps_err rc = KPS_OK;
  hsize_t done_dims[1];
  int done_rank = 0;
  if (!(n_points >= 1 && n_points <= KPS_MAX_POINTS && n_points == floor(n_points)))
    return bad_file(path, "attribute n_points = %g is not the size of a plan (an integer in "
                    "[1, %.0f])", n_points, KPS_MAX_POINTS);
  pl->n_points = (uint64_t)n_points;
  KPS_CHECK(open_member(file, "/points/status", H5I_DATASET, path, &pl->status));
  KPS_CHECK(integer_dataset(pl->status, "/points/status", 2, KPS_MAX_AXES + 2,
                            "(axes..., L2, tau2) with at most 8 axes", &pl->rank, pl->dims, path));
  /* The product is compared with n_points step by step: it cannot overflow. */
  double lines = 1.0;
  for (int k = 0; k + 1 < pl->rank; ++k) lines *= (double)pl->dims[k];
  const double total = lines * (double)pl->dims[pl->rank - 1];
  if (total != n_points) {
    rc = bad_file(path, "/points/status holds %.17g points, but n_points says %.17g", total,
                  n_points);
    goto cleanup;
  }
  pl->n_lines = (uint64_t)lines;
  pl->n_tau = pl->dims[pl->rank - 1];
  if ((double)pl->n_tau > KPS_MAX_AXIS_LEN) {
    rc = bad_file(path, "/points/status has %llu tau2 points per line, more than a job may "
                  "have (%.0f)", (unsigned long long)pl->n_tau, KPS_MAX_AXIS_LEN);
    goto cleanup;
  }
  KPS_CHECK(open_member(file, "/progress/line_done", H5I_DATASET, path, &pl->done));
  KPS_CHECK(integer_dataset(pl->done, "/progress/line_done", 1, 1, "one dimension (a flag per line)",
                            &done_rank, done_dims, path));
  if (done_dims[0] != pl->n_lines) {
    rc = bad_file(path, "/progress/line_done has %llu entries, expected one per line of the "
                  "plan: %llu", (unsigned long long)done_dims[0],
                  (unsigned long long)pl->n_lines);
    goto cleanup;
  }
cleanup:
  return rc;
}

typedef struct tally {
  uint64_t lines_done, failed, invalid;
  uint64_t counts[KPS_ST_LAST + 2]; /* by status, from KPS_ST_NOT_COMPUTED */
} tally;

/* Reads lines [line0, line0 + nl) (one hyperslab `start`/`count` of status). */
static kps_err tally_slab(const plan *pl, const hsize_t *start, const hsize_t *count,
                          uint64_t line0, uint64_t nl, uint8_t *done, int8_t *st, tally *t) {
  kps_err rc = KPS_OK;
  hid_t fs = H5I_INVALID_HID, ms = H5I_INVALID_HID, dfs = H5I_INVALID_HID, dms = H5I_INVALID_HID;
  const hsize_t d0 = line0, dn = nl, np = nl * pl->n_tau;
  KPS_CHECK_H5_ID(dfs, H5Dget_space(pl->done));
  KPS_CHECK_H5(H5Sselect_hyperslab(dfs, H5S_SELECT_SET, &d0, NULL, &dn, NULL));
  KPS_CHECK_H5_ID(dms, H5Screate_simple(1, &dn, NULL));
  KPS_CHECK_H5(H5Dread(pl->done, H5T_NATIVE_UINT8, dms, dfs, H5P_DEFAULT, done));
  KPS_CHECK_H5_ID(fs, H5Dget_space(pl->status));
  KPS_CHECK_H5(H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL));
  KPS_CHECK_H5_ID(ms, H5Screate_simple(1, &np, NULL));
  KPS_CHECK_H5(H5Dread(pl->status, H5T_NATIVE_INT8, ms, fs, H5P_DEFAULT, st));
  for (uint64_t l = 0; l < nl; ++l) {
    if (!done[l]) continue;
    ++t->lines_done;
    for (uint64_t j = 0; j < pl->n_tau; ++j) {
      const int s = st[l * pl->n_tau + j];
      if (s >= KPS_ST_NOT_COMPUTED && s <= KPS_ST_LAST) ++t->counts[s + 1];
      else ++t->invalid;
      if (kps_status_is_failure(s)) ++t->failed;
    }
  }
cleanup:
  if (dms >= 0) H5Sclose(dms);
  if (dfs >= 0) H5Sclose(dfs);
  if (ms >= 0) H5Sclose(ms);
  if (fs >= 0) H5Sclose(fs);
  return rc;
}

/*
 * Counts done lines and the statuses of their points, in slabs of whole
 * lines of at most max(SLAB_POINTS, n_tau) points: a slab is a run of
 * c indices along line dimension s with every later line dimension whole,
 * so it is one hyperslab and one contiguous range of lines.
 */
static kps_err tally_plan(const plan *pl, tally *t) {
  kps_err rc = KPS_OK;
  const int k = pl->rank - 1; /* line dimensions */
  const uint64_t want = SLAB_POINTS / pl->n_tau > 0 ? SLAB_POINTS / pl->n_tau : 1;
  int s = k - 1;
  uint64_t inner = 1; /* lines per index of dimension s */
  while (s > 0 && inner * pl->dims[s] <= want) inner *= pl->dims[s--];
  const uint64_t c = pl->dims[s] < want / inner ? pl->dims[s] : (want / inner > 0 ? want / inner : 1);
  uint8_t *done = malloc(c * inner);
  int8_t *st = malloc(c * inner * pl->n_tau);
  hsize_t start[KPS_MAX_AXES + 2] = {0}, count[KPS_MAX_AXES + 2];
  KPS_CHECK_ALLOC(done);
  KPS_CHECK_ALLOC(st);
  for (int d = 0; d <= k; ++d) count[d] = d < s ? 1 : pl->dims[d];
  for (;;) {
    uint64_t outer = 0; /* flat index over dimensions 0..s-1 */
    for (int d = 0; d < s; ++d) outer = outer * pl->dims[d] + start[d];
    for (start[s] = 0; start[s] < pl->dims[s]; start[s] += c) {
      count[s] = pl->dims[s] - start[s] < c ? pl->dims[s] - start[s] : c;
      const uint64_t line0 = (outer * pl->dims[s] + start[s]) * inner;
      KPS_CHECK(tally_slab(pl, start, count, line0, count[s] * inner, done, st, t));
    }
    start[s] = 0;
    /* The next index over dimensions 0..s-1, odometer style. */
    int d = s - 1;
    while (d >= 0 && ++start[d] == pl->dims[d]) start[d--] = 0;
    if (d < 0) break;
  }
cleanup:
  free(done);
  free(st);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* The verb                                                                  */

/* What the path is before HDF5 touches it; exit status 2 when unusable. */
static kps_err check_path(const char *path) {
  struct stat sb;
  if (stat(path, &sb) != 0) return bad_file(path, "cannot be read: %s", strerror(errno));
  if (S_ISDIR(sb.st_mode)) return bad_file(path, "is a directory, not a results file");
  if (!S_ISREG(sb.st_mode)) return bad_file(path, "is not a regular file");
  if (sb.st_size == 0) return bad_file(path, "is empty (0 bytes), not a results file");
  const htri_t h5 = H5Fis_hdf5(path);
  if (h5 <= 0) {
    char why[KPS_H5_MSG_LEN];
    return bad_file(path, "is not an HDF5 file%s", h5 < 0 ? kps_hdf5_describe(why, sizeof why) : "");
  }
  return KPS_OK;
}

/* Rows of /history/runs printed (the last ones). */
#define HISTORY_SHOWN 64

/* The numbers of a /history/runs row that inspect prints. */
typedef struct history_row {
  double start_epoch, wall_seconds, lines_computed, hdf5_seconds;
  int32_t n_ranks;
  int8_t complete, interrupted;
} history_row;

/* Prints the run history (/history/runs), when the file has one. HDF5
 * converts the stored rows to the members named here; a table it cannot
 * convert is reported, not trusted. */
static kps_err print_history(hid_t file) {
  kps_err rc = KPS_OK;
  hid_t d = H5I_INVALID_HID, t = H5I_INVALID_HID, sp = H5I_INVALID_HID, mt = H5I_INVALID_HID;
  hid_t msp = H5I_INVALID_HID;
  history_row *rows = NULL;
  if (H5Lexists(file, "history", H5P_DEFAULT) <= 0 ||
      H5Lexists(file, "history/runs", H5P_DEFAULT) <= 0 ||
      H5Oexists_by_name(file, "history/runs", H5P_DEFAULT) <= 0)
    return KPS_OK;
  d = H5Dopen2(file, "history/runs", H5P_DEFAULT);
  t = d >= 0 ? H5Dget_type(d) : H5I_INVALID_HID;
  sp = d >= 0 ? H5Dget_space(d) : H5I_INVALID_HID;
  hsize_t n = 0;
  if (t < 0 || sp < 0 || H5Tget_class(t) != H5T_COMPOUND || H5Sget_simple_extent_ndims(sp) != 1 ||
      H5Sget_simple_extent_dims(sp, &n, NULL) != 1) {
    printf("history     (unreadable: /history/runs is not a table of runs)\n");
    goto cleanup;
  }
  const hsize_t first = n > HISTORY_SHOWN ? n - HISTORY_SHOWN : 0, count = n - first;
  if (count == 0) goto cleanup;
#define HISTORY_MEMBER(name, type) {#name, HOFFSET(history_row, name), type}
  const kps_h5_member members[] = {
      HISTORY_MEMBER(start_epoch, H5T_NATIVE_DOUBLE), HISTORY_MEMBER(wall_seconds, H5T_NATIVE_DOUBLE),
      HISTORY_MEMBER(lines_computed, H5T_NATIVE_DOUBLE),
      HISTORY_MEMBER(hdf5_seconds, H5T_NATIVE_DOUBLE), HISTORY_MEMBER(n_ranks, H5T_NATIVE_INT32),
      HISTORY_MEMBER(complete, H5T_NATIVE_INT8), HISTORY_MEMBER(interrupted, H5T_NATIVE_INT8),
  };
#undef HISTORY_MEMBER
  KPS_CHECK_H5_ID(mt, kps_h5_compound(sizeof(history_row), members,
                                      sizeof members / sizeof members[0]));
  rows = calloc((size_t)count, sizeof *rows);
  KPS_CHECK_ALLOC(rows);
  KPS_CHECK_H5_ID(msp, H5Screate_simple(1, &count, NULL));
  if (H5Sselect_hyperslab(sp, H5S_SELECT_SET, &first, NULL, &count, NULL) < 0 ||
      H5Dread(d, mt, msp, sp, H5P_DEFAULT, rows) < 0) {
    printf("history     (unreadable: the rows of /history/runs lack the expected members)\n");
    goto cleanup;
  }
  printf("history     %llu run%s of this file%s:\n", (unsigned long long)n, n == 1 ? "" : "s",
         first ? " (the last ones shown)" : "");
  printf("            %-4s %-20s %10s %6s %8s %7s  %s\n", "run", "started (UTC)", "wall s",
         "ranks", "lines", "HDF5", "ended");
  for (hsize_t k = 0; k < count; ++k) {
    const history_row *r = &rows[k];
    char when[64];
    kps_iso_time(r->start_epoch, when, sizeof when);
    printf("            %-4llu %-20s %10.3f %6d %8.0f %6.1f%%  %s\n",
           (unsigned long long)(first + k + 1), when, r->wall_seconds, (int)r->n_ranks,
           r->lines_computed, r->wall_seconds > 0 ? 100.0 * r->hdf5_seconds / r->wall_seconds : 0.0,
           r->complete ? "complete" : r->interrupted ? "interrupted (resumable)" : "partial");
  }
cleanup:
  free(rows);
  if (msp >= 0) H5Sclose(msp);
  if (mt >= 0) H5Tclose(mt);
  if (sp >= 0) H5Sclose(sp);
  if (t >= 0) H5Tclose(t);
  if (d >= 0) H5Dclose(d);
  return rc;
}

static kps_err inspect(const char *path, int show_config) {
  kps_err rc = KPS_OK;
  hid_t file = H5I_INVALID_HID, grp = H5I_INVALID_HID;
  plan pl = {.done = H5I_INVALID_HID, .status = H5I_INVALID_HID};
  tally t;
  char *text = NULL;
  memset(&t, 0, sizeof t);
  KPS_CHECK(check_path(path));
  file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file < 0) {
    char why[KPS_H5_MSG_LEN];
    rc = bad_file(path, "cannot be opened as an HDF5 file%s", kps_hdf5_describe(why, sizeof why));
    goto cleanup;
  }
  for (size_t i = 0; i < sizeof root_attrs / sizeof *root_attrs; ++i)
    KPS_CHECK(check_attr(file, &root_attrs[i], path));
  static const char *groups[] = {"axes", "points", "lines", "progress"};
  for (size_t g = 0; g < sizeof groups / sizeof *groups; ++g) {
    char name[32];
    snprintf(name, sizeof name, "/%s", groups[g]);
    KPS_CHECK(open_member(file, name, H5I_GROUP, path, &grp));
    const herr_t closed = H5Gclose(grp);
    grp = H5I_INVALID_HID;
    KPS_CHECK_H5(closed);
  }
  double n_points;
  KPS_CHECK(read_f64_attr(file, "n_points", &n_points));
  KPS_CHECK(open_plan(file, n_points, path, &pl));

  char version[ATTR_TEXT_MAX], model[ATTR_TEXT_MAX], job[ATTR_TEXT_MAX], created[ATTR_TEXT_MAX];
  char start[ATTR_TEXT_MAX], end[ATTR_TEXT_MAX], source[ATTR_TEXT_MAX], shown[ATTR_TEXT_MAX];
  KPS_CHECK(read_str_attr(file, "kpsweep_version", version, sizeof version));
  KPS_CHECK(read_str_attr(file, "model", model, sizeof model));
  KPS_CHECK(read_str_attr(file, "job_name", job, sizeof job));
  KPS_CHECK(read_str_attr(file, "created", created, sizeof created));
  KPS_CHECK(read_str_attr(file, "start_time", start, sizeof start));
  KPS_CHECK(read_str_attr(file, "end_time", end, sizeof end));
  KPS_CHECK(read_str_attr(file, "config_source", source, sizeof source));
  uint64_t hash = 0;
  int has_hash = 0;
  KPS_CHECK(read_u64_attr(file, "config_hash", &hash, &has_hash));
  snprintf(shown, sizeof shown, "%s", path);
  sanitize(shown, 0);
  printf("file        %s\n", shown);
  printf("kpsweep     %s\n", version);
  printf("job         %s (config %s)\n", job, source);
  if (has_hash) printf("config hash %016llx\n", (unsigned long long)hash);
  printf("model       %s\n", model);
  printf("created     %s\n", created);
  double t0, t1, run_lines, n_ranks, h5s;
  KPS_CHECK(read_f64_attr(file, "start_epoch", &t0));
  KPS_CHECK(read_f64_attr(file, "end_epoch", &t1));
  KPS_CHECK(read_f64_attr(file, "lines_computed", &run_lines));
  KPS_CHECK(read_f64_attr(file, "n_ranks", &n_ranks));
  KPS_CHECK(read_f64_attr(file, "hdf5_seconds", &h5s));
  const double run_s = t1 - t0;
  if (start[0])
    printf("last run    %s .. %s, %.3f s on %g ranks, %.1f%% of it in HDF5\n", start, end, run_s,
           n_ranks, run_s > 0 ? 100.0 * h5s / run_s : 0.0);
  KPS_CHECK(print_history(file));
  printf("datasets\n");
  for (size_t g = 0; g < sizeof groups / sizeof *groups; ++g) {
    KPS_CHECK_H5_ID(grp, H5Gopen2(file, groups[g], H5P_DEFAULT));
    KPS_CHECK_H5(H5Literate(grp, H5_INDEX_NAME, H5_ITER_INC, NULL, print_member,
                            (void *)groups[g]));
    const herr_t closed = H5Gclose(grp);
    grp = H5I_INVALID_HID;
    KPS_CHECK_H5(closed);
  }

  KPS_CHECK(tally_plan(&pl, &t));
  char line[256];
  const double per_line = (double)pl.n_tau;
  const double rate = run_s > 0 && run_lines > 0 ? run_lines * per_line / run_s : 0.0;
  kps_progress_format(line, sizeof line, t.lines_done * pl.n_tau, pl.n_points,
                      t.lines_done < pl.n_lines ? rate : 0.0, t.failed);
  printf("progress    %s; %llu/%llu lines%s\n", line, (unsigned long long)t.lines_done,
         (unsigned long long)pl.n_lines,
         t.lines_done == pl.n_lines ? " (complete)"
                                    : " (partial: continue with kpsweep run --resume)");
  for (int s = KPS_ST_NOT_COMPUTED + 1; s <= KPS_ST_LAST; ++s)
    if (t.counts[s + 1])
      printf("status      %-16s %llu points\n", kps_status_name(s),
             (unsigned long long)t.counts[s + 1]);
  if (t.invalid)
    printf("status      %-16s %llu points (codes outside %d..%d)\n", "unknown",
           (unsigned long long)t.invalid, KPS_ST_NOT_COMPUTED, KPS_ST_LAST);
  if (show_config) {
    KPS_CHECK(read_str_attr_alloc(file, "config", CONFIG_TEXT_MAX, &text));
    sanitize(text, 1);
    printf("config\n%s\n", text[0] ? text : "(no job text stored)");
  }
cleanup:
  free(text);
  if (pl.done >= 0) H5Dclose(pl.done);
  if (pl.status >= 0) H5Dclose(pl.status);
  if (grp >= 0) H5Gclose(grp);
  if (file >= 0) H5Fclose(file);
  /* inspect only reads FILE: what HDF5 cannot read there is the file's fault. */
  if (rc == KPS_ERR_HDF5)
    rc = bad_file(path, "not a usable kpsweep results file (HDF5 could not read it, see above)");
  return rc;
}

int kps_cmd_inspect(int argc, char **argv, MPI_Comm comm) {
  if (!kps_is_root(comm)) return KPS_EXIT_OK;
  if (kps_hdf5_quiet() != KPS_OK) return KPS_EXIT_FAILURE;
  const char *path = NULL;
  int show_config = 0;
  for (int i = 0; i < argc; ++i) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(inspect_help, stdout);
      return KPS_EXIT_OK;
    }
  }
  for (int i = 0; i < argc; ++i) {
    const char *a = argv[i];
    const char *why = NULL;
    if (!strcmp(a, "--config")) {
      show_config = 1;
      continue;
    }
    if (a[0] == '-' && a[1] != '\0') why = "unknown option";
    else if (a[0] == '\0') why = "empty FILE argument";
    else if (path) why = "more than one FILE given";
    if (why) {
      fprintf(stderr, "kpsweep inspect: %s '%s'\nTry 'kpsweep inspect --help'.\n", why, a);
      return KPS_EXIT_USAGE;
    }
    path = a;
  }
  if (!path) {
    fprintf(stderr, "kpsweep inspect: missing FILE\nTry 'kpsweep inspect --help'.\n");
    return KPS_EXIT_USAGE;
  }
  return kps_exit_code(inspect(path, show_config));
}
