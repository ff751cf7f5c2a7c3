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

/* Room for the list of differing settings in a refusal. */
#define DIFF_KEYS_MAX 512
/* Longest stored canonical configuration compared key by key. */
#define CANON_MAX (16u << 20)

/* Value of `key` in a canonical text ("key=value" lines), or NULL; *len
 * receives its length. */
static const char *canon_value(const char *text, const char *key, size_t klen, size_t *len) {
  for (const char *line = text; line && *line;) {
    const char *end = strchr(line, '\n');
    const size_t n = end ? (size_t)(end - line) : strlen(line);
    if (n > klen && line[klen] == '=' && strncmp(line, key, klen) == 0) {
      *len = n - klen - 1;
      return line + klen + 1;
    }
    line = end ? end + 1 : NULL;
  }
  return NULL;
}

/* Appends the keys of a that differ in b (or, with only_missing, that b
 * lacks): up to 8 names, then "...". */
static void diff_into(const char *a, const char *b, int only_missing, char *out, size_t n,
                      int *count) {
  for (const char *line = a; line && *line;) {
    const char *end = strchr(line, '\n');
    const size_t n_line = end ? (size_t)(end - line) : strlen(line);
    const char *eq = memchr(line, '=', n_line);
    if (eq) {
      const size_t klen = (size_t)(eq - line), vlen = n_line - klen - 1;
      size_t blen = 0;
      const char *bv = canon_value(b, line, klen, &blen);
      const int differs = !bv || (!only_missing && (blen != vlen || strncmp(bv, eq + 1, vlen)));
      if (differs) {
        const size_t used = strlen(out);
        if (*count < 8)
          snprintf(out + used, n - used, "%s%.*s", *count ? ", " : "", (int)klen, line);
        else if (*count == 8)
          snprintf(out + used, n - used, ", ...");
        ++*count;
      }
    }
    line = end ? end + 1 : NULL;
  }
}

/* The settings that differ between the file's canonical configuration and
 * ours, for the refusal ("these settings differ: a, b"). */
static void differing_keys(hid_t file, const char *canon, char *out, size_t n) {
  char *stored = NULL;
  int count = 0;
  out[0] = '\0';
  hid_t a = H5Aexists(file, "config_canonical") > 0 ? H5Aopen(file, "config_canonical", H5P_DEFAULT)
                                                   : H5I_INVALID_HID;
  hid_t t = a >= 0 ? H5Aget_type(a) : H5I_INVALID_HID;
  hid_t sp = a >= 0 ? H5Aget_space(a) : H5I_INVALID_HID;
  if (t >= 0 && sp >= 0 && H5Tget_class(t) == H5T_STRING &&
      H5Sget_simple_extent_type(sp) == H5S_SCALAR) {
    hid_t mt = H5Tcopy(H5T_C_S1);
    /* HDF5 does not convert between character sets: read in the file's. */
    if (mt >= 0 && H5Tset_cset(mt, H5Tget_cset(t)) < 0) H5Tclose(mt), mt = H5I_INVALID_HID;
    if (H5Tis_variable_str(t) > 0) {
      char *v = NULL;
      if (mt >= 0 && H5Tset_size(mt, H5T_VARIABLE) >= 0 && H5Aread(a, mt, &v) >= 0 && v) {
        stored = strdup(v);
        H5free_memory(v);
      }
    } else {
      const size_t size = H5Tget_size(t);
      if (size > 0 && size < CANON_MAX && (stored = calloc(size + 1, 1)) != NULL &&
          (mt < 0 || H5Tset_size(mt, size + 1) < 0 || H5Aread(a, mt, stored) < 0)) {
        free(stored);
        stored = NULL;
      }
    }
    if (mt >= 0) H5Tclose(mt);
  }
  if (sp >= 0) H5Sclose(sp);
  if (t >= 0) H5Tclose(t);
  if (a >= 0) H5Aclose(a);
  if (stored) {
    diff_into(canon, stored, 0, out, n, &count);
    diff_into(stored, canon, 1, out, n, &count);
  }
  free(stored);
  if (!count)
    snprintf(out, n, "model, parameters, axes, threshold, solver or attack settings differ");
  else {
    char list[DIFF_KEYS_MAX];
    snprintf(list, sizeof list, "%s", out);
    snprintf(out, n, "these settings differ: %.*s", (int)(n > 32 ? n - 32 : 0), list);
  }
}

/* The names of the fields of mask `bits`, comma-separated, or "all". */
static void field_names(uint64_t bits, char *out, size_t n) {
  const kps_field_info *fi = kps_fields();
  const uint64_t all = KPS_N_FIELDS == 64 ? ~(uint64_t)0 : ((uint64_t)1 << KPS_N_FIELDS) - 1;
  out[0] = '\0';
  if (bits == all) {
    snprintf(out, n, "all");
    return;
  }
  for (int f = 0; f < KPS_N_FIELDS; ++f)
    if ((bits >> f) & 1u) {
      const size_t used = strlen(out);
      snprintf(out + used, n - used, "%s%s", used ? ", " : "", fi[f].name);
    }
}

/*
 * Whether the file holds exactly the fields run.fields selects, so that a
 * resume neither leaves a field of the file unwritten for its new lines
 * nor writes one the file lacks (run.fields is not part of config_hash:
 * the selection changes which numbers are kept, not what they are).
 * Describes the difference in why.
 */
static int same_selection(hid_t file, const kps_dims *d, char *why, size_t n) {
  const kps_field_info *fi = kps_fields();
  uint64_t have = 0, want = 0;
  for (int f = 0; f < KPS_N_FIELDS; ++f) {
    const char *group = fi[f].scope == KPS_POINT ? "points" : "lines";
    char name[128];
    snprintf(name, sizeof name, "/%s/%s", group, fi[f].name);
    if (H5Lexists(file, group, H5P_DEFAULT) > 0 && H5Lexists(file, name, H5P_DEFAULT) > 0)
      have |= (uint64_t)1 << f;
    if (kps_field_kept(d, f)) want |= (uint64_t)1 << f;
  }
  if (have == want) return 1;
  char a[1024], b[1024];
  field_names(have, a, sizeof a);
  field_names(want, b, sizeof b);
  snprintf(why, n, "it holds the fields [%s] but the job's run.fields selects [%s]", a, b);
  return 0;
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
  if (have != kps_hash64(canon, strlen(canon))) {
    char keys[DIFF_KEYS_MAX];
    differing_keys(file, canon, keys, sizeof keys);
    REFUSE("made from a different configuration than %s (%s), so it cannot be resumed with it",
           cfg->source, keys);
  }
  if (!has_map) REFUSE("%s", why);
  const kps_field_info *fi = kps_fields();
  const kps_dims kd = kps_config_dims(cfg);
  if (!same_selection(file, &kd, why, sizeof why))
    REFUSE("%s: a resume must keep the file's selection", why);
  for (int f = 0; f < KPS_N_FIELDS; ++f) {
    if (!kps_field_kept(&kd, f)) continue;
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
