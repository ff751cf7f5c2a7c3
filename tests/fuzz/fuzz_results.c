/*
 * libFuzzer target: the readers of results files, structure-aware.
 *
 * Why a recipe and not raw file bytes: mutated HDF5 bytes are rejected or
 * mis-parsed inside libhdf5 long before kpsweep's code sees an object, so a
 * raw-bytes fuzzer spends its time in (and finds bugs of) libhdf5's own
 * format decoder, which is not ours. kpsweep's readers trust the *structure*
 * of a file that HDF5 opens without complaint: which objects exist, their
 * types, ranks, shapes and attributes. So the fuzz input is a recipe that
 * builds a file with the HDF5 API: always valid HDF5, as hostile as it likes
 * for kpsweep. Then the readers run on it:
 *   kps_cmd_inspect(FILE) or kps_cmd_inspect(FILE --config) (the recipe
 *   chooses),
 *   kps_writer_open(cfg, FILE, KPS_OPEN_RESUME, MPI_COMM_SELF, 1, bits) with a
 *   fixed valid job (FIXED_JOB), which checks the file and reads its
 *   progress map, then kps_writer_abort.
 * Each reader must return (any exit code), must not crash, leak or hit
 * undefined behaviour, and must close every HDF5 identifier it opened.
 *
 * RECIPE FORMAT. Bytes are read from the front; reading past the end gives
 * zeros, so every byte string is a recipe. u8 is one byte, u16 two (big end
 * first).
 *
 *   base    u8   bit 0: 1 = start from the template, a real results file of
 *                FIXED_JOB written at start-up by kps_writer_open/close (what
 *                `kpsweep run` writes: every group, dataset and attribute),
 *                with line 0 marked done and some status codes; 0 = start
 *                from an empty file.
 *                bits 1-2: file-format bounds for new objects: 0 v1.8 (as the
 *                writer), 1 earliest, 2 latest.
 *                bit 3: inspect runs as `inspect FILE --config`, else as
 *                `inspect FILE` (one of the two per input: each costs a full
 *                read of the file).
 *   then up to MAX_OPS operations, until the input ends:
 *   op      u8 % 9
 *     0 DELETE   PATH                       unlink PATH
 *     1 GROUP    PATH                       (re)create a group at PATH
 *     2 DATASET  PATH TYPE SPACE LAYOUT DATA (re)create a dataset at PATH
 *     3 ATTR     PATH NAME TYPE SPACE DATA  (re)create attribute NAME on the
 *                                           object at PATH
 *     4 SOFT     PATH PATH                  soft link at the first PATH to the
 *                                           second (an index past the table:
 *                                           a dangling "/nowhere")
 *     5 HARD     PATH PATH                  hard link to an existing object
 *                                           (not the root group: is_root())
 *     6 EXTERNAL PATH u8 PATH               external link; u8 & 1: to this
 *                                           file itself, else to a missing one
 *     7 HASH     u8                         root attribute config_hash of
 *                                           FIXED_JOB's true hash, variant
 *                                           u8 % 6: uint64 LE scalar, uint64
 *                                           BE scalar, double scalar, uint64
 *                                           [1], uint64 [2..4], string
 *     8 STRATTR  PATH NAME u8 chars         fixed-size string attribute of
 *                                           u8 characters (the common case)
 *   Creating at a path first unlinks what is there; missing parent groups
 *   are created. A failing HDF5 call only drops that operation.
 *
 *   PATH    u8   index into the path table (groups, every field's dataset
 *                from kps_fields(), axes, and a few strangers), taken modulo
 *                its size; 0xFF: an inline string follows (u8 length, bytes;
 *                made absolute). NAME likewise into the attribute-name table
 *                (every attribute the writer writes, and a few more).
 *   TYPE    u8 % 18: 0 int8, 1 uint8, 2 int32, 3 int64 BE, 4 uint64,
 *                5 float, 6 double, 7 double BE, 8 fixed string (u8 size-1,
 *                u8 pad, u8 charset), 9 vlen string (u8 charset),
 *                10 compound {int8, double, char[8]}, 11 enum on int8 (u8
 *                members, u8 value each), 12 array (u8 base: &1 double else
 *                int8, u8 rank 1..3, u8 per dim 1..4), 13 vlen of int32,
 *                14 opaque (u8 size 1..16), 15 bitfield 8, 16 long double,
 *                17 int16 BE
 *   SPACE   u8 r: 0xFF the null space; else rank r % (max rank + 1), 0 is a
 *                scalar; then per dimension u8 d: d & 0x80: a large extent
 *                ((d & 0x7f) << 8 | u8), else d % 8. Extents are cut back so
 *                that no object holds more than MAX_ELEMENTS elements and
 *                MAX_BYTES bytes.
 *   LAYOUT  u8 L: L % 3: contiguous, chunked, compact; chunked: L & 4
 *                unlimited maximum extents, L & 8 deflate, then per dimension
 *                u8 chunk extent 1 + u8 % extent.
 *   DATA    u8 % 4: 0 not written (fill value), 1 zeros, 2 bytes of the
 *                recipe, 3 pseudo-random from a u16 seed. Variable-length
 *                elements take u8 length % 16 and that many bytes/values.
 *
 * Seeds: tests/fuzz/corpus/results/, made by tests/fuzz/make_results_seeds.py.
 */
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <mpi.h>
#include <sanitizer/common_interface_defs.h>
#include <sanitizer/lsan_interface.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kpsweep/cli.h"
#include "kpsweep/config.h"
#include "kpsweep/results.h"
#include "kpsweep/writer.h"

/*
 * The recipe is unrestricted: datasets of any rank up to H5S_MAX_RANK,
 * attributes of any size, variable-length strings, a progress map of any
 * rank (the findings that once needed restrictions are fixed; the seeds
 * known_* replay each of them, docs/testing.md).
 */

#define MAX_OPS 64
#define MAX_ELEMENTS ((hsize_t)1 << 14)
#define MAX_BYTES ((hsize_t)1 << 18)
#define FUZZ_MAX_INPUT 8192

/* The job whose results file the template is, and the job resumed. */
static const char FIXED_JOB[] =
    "name: fuzz\n"
    "model: ideal\n"
    "axes:\n"
    "  N: {values: [2, 3]}\n"
    "antagonist:\n"
    "  tau: {linear: [0.5, 2.5, 3]}\n"
    "  L: 6000\n"
    "attacks:\n"
    "  enabled: true\n"
    "  descent: true\n"
    "  descent_max_steps: 5\n"
    "  bin_width: 1.0\n"
    "  histogram:\n"
    "    bins: [{tau: 3.5, L: 100}]\n";

static struct {
  int trace; /* KPS_FUZZ_TRACE */
  kps_config cfg;
  uint64_t hash;
  char dir[256], work[300], template_path[300];
  unsigned char *template_bytes;
  size_t template_len;
  char **paths;
  size_t n_paths;
  ssize_t baseline[8];
} G;

static const char *const attr_names[] = {
    "kpsweep_version", "git_revision", "model", "job_name", "config", "config_source",
    "config_canonical", "config_hash", "created", "status_codes", "n_ranks_created",
    "n_points", "start_time", "end_time", "start_epoch", "end_epoch", "lines_computed",
    "complete", "interrupted", "n_ranks", "lines_done", "rank_lines", "rank_busy_seconds",
    "hdf5_seconds", "git_revision_last_run", "units", "description", "long_name",
    "flag_values", "flag_meanings", "CLASS", "NAME", "DIMENSION_LIST", "REFERENCE_LIST",
    "_FillValue", "x"};
#define N_ATTR_NAMES (sizeof attr_names / sizeof *attr_names)

static const H5I_type_t id_types[] = {H5I_FILE, H5I_GROUP, H5I_DATATYPE, H5I_DATASPACE,
                                      H5I_DATASET, H5I_ATTR, H5I_GENPROP_LST};
#define N_ID_TYPES (sizeof id_types / sizeof *id_types)

/* KPS_FUZZ_TRACE=1 prints each operation of the recipe as it is applied. */
#define TRACE(...)                                      \
  do {                                                  \
    if (G.trace) fprintf(stderr, "fuzz_results: " __VA_ARGS__); \
  } while (0)

static const char *const op_names[] = {"DELETE", "GROUP", "DATASET", "ATTR", "SOFT",
                                       "HARD", "EXTERNAL", "HASH", "STRATTR"};

static void trace_object(const char *what, const char *path, const char *name, hid_t t,
                         int rank, const hsize_t *dims) {
  if (!G.trace) return;
  fprintf(stderr, "fuzz_results:   %s %s%s%s type class %d size %zu%s, rank %d (", what, path,
          name ? " @" : "", name ? name : "", t >= 0 ? (int)H5Tget_class(t) : -1,
          t >= 0 ? H5Tget_size(t) : 0, t >= 0 && H5Tis_variable_str(t) > 0 ? " vlen str" : "",
          rank);
  for (int k = 0; k < rank; ++k) fprintf(stderr, "%s%llu", k ? "," : "", (unsigned long long)dims[k]);
  fprintf(stderr, ")\n");
}

/* Reports through the sanitizers' stream (libFuzzer's -close_fd_mask
 * closes stderr) with the stack, and aborts: libFuzzer keeps the input. */
static void die(const char *what) {
  char msg[512];
  snprintf(msg, sizeof msg, "==%d==ERROR: fuzz_results: %s", (int)getpid(), what);
  __sanitizer_report_error_summary(msg);
  __sanitizer_print_stack_trace();
  abort();
}

/* ---- reading the recipe ------------------------------------------------ */

typedef struct rd {
  const uint8_t *p;
  size_t n;
} rd;

static unsigned u8(rd *r) {
  if (!r->n) return 0;
  --r->n;
  return *r->p++;
}

static unsigned u16(rd *r) {
  unsigned hi = u8(r);
  return hi << 8 | u8(r);
}

/* An inline string of at most cap - 1 bytes (NUL bytes end it early). */
static void inline_str(rd *r, char *buf, size_t cap) {
  size_t len = u8(r), k = 0;
  for (size_t i = 0; i < len; ++i) {
    unsigned c = u8(r);
    if (k + 1 < cap && c) buf[k++] = (char)c;
  }
  buf[k] = '\0';
}

static void path_of(rd *r, char *buf, size_t cap) {
  unsigned k = u8(r);
  if (k == 0xFF) {
    char tmp[128];
    inline_str(r, tmp, sizeof tmp);
    snprintf(buf, cap, "%s%s", tmp[0] == '/' ? "" : "/", tmp);
  } else {
    snprintf(buf, cap, "%s", G.paths[k % G.n_paths]);
  }
}

/* The second path of SOFT: past the table it dangles. */
static void target_of(rd *r, char *buf, size_t cap) {
  unsigned k = u8(r);
  if (k == 0xFF) {
    char tmp[128];
    inline_str(r, tmp, sizeof tmp);
    snprintf(buf, cap, "%s%s", tmp[0] == '/' ? "" : "/", tmp);
  } else if (k >= G.n_paths) {
    snprintf(buf, cap, "/nowhere");
  } else {
    snprintf(buf, cap, "%s", G.paths[k]);
  }
}

static void name_of(rd *r, char *buf, size_t cap) {
  unsigned k = u8(r);
  if (k == 0xFF) {
    inline_str(r, buf, cap);
    if (!buf[0]) snprintf(buf, cap, "_");
  } else {
    snprintf(buf, cap, "%s", attr_names[k % N_ATTR_NAMES]);
  }
}

/* ---- types, spaces, data ----------------------------------------------- */

static hid_t fixed_string(size_t size, unsigned pad, unsigned cset) {
  hid_t t = H5Tcopy(H5T_C_S1);
  if (t < 0) return t;
  H5Tset_size(t, size);
  H5Tset_strpad(t, (H5T_str_t)(pad % 3));
  H5Tset_cset(t, (H5T_cset_t)(cset % 2));
  return t;
}

static hid_t make_type(rd *r, int allow_vlen) {
  hid_t t = H5I_INVALID_HID, s = H5I_INVALID_HID, b = H5I_INVALID_HID;
  unsigned k = u8(r) % 18;
  if (!allow_vlen && (k == 9 || k == 13)) k = k == 9 ? 8 : 2;
  switch (k) {
    case 0: return H5Tcopy(H5T_STD_I8LE);
    case 1: return H5Tcopy(H5T_STD_U8LE);
    case 2: return H5Tcopy(H5T_STD_I32LE);
    case 3: return H5Tcopy(H5T_STD_I64BE);
    case 4: return H5Tcopy(H5T_STD_U64LE);
    case 5: return H5Tcopy(H5T_IEEE_F32LE);
    case 6: return H5Tcopy(H5T_IEEE_F64LE);
    case 7: return H5Tcopy(H5T_IEEE_F64BE);
    case 8: {
      size_t size = 1 + u8(r);
      unsigned pad = u8(r);
      return fixed_string(size, pad, u8(r));
    }
    case 9:
      t = H5Tcopy(H5T_C_S1);
      H5Tset_size(t, H5T_VARIABLE);
      H5Tset_cset(t, (H5T_cset_t)(u8(r) % 2));
      return t;
    case 10:
      t = H5Tcreate(H5T_COMPOUND, 24);
      s = fixed_string(8, 0, 0);
      H5Tinsert(t, "a", 0, H5T_STD_I8LE);
      H5Tinsert(t, "b", 8, H5T_IEEE_F64LE);
      H5Tinsert(t, "c", 16, s);
      H5Tclose(s);
      return t;
    case 11: {
      t = H5Tenum_create(H5T_STD_I8LE);
      unsigned n = 1 + u8(r) % 4;
      for (unsigned i = 0; i < n; ++i) {
        char name[8];
        int8_t v = (int8_t)u8(r);
        snprintf(name, sizeof name, "e%u", i);
        H5Tenum_insert(t, name, &v); /* a repeated value fails: dropped */
      }
      return t;
    }
    case 12: {
      b = H5Tcopy(u8(r) & 1 ? H5T_IEEE_F64LE : H5T_STD_I8LE);
      unsigned rank = 1 + u8(r) % 3;
      hsize_t dims[3];
      for (unsigned i = 0; i < rank; ++i) dims[i] = 1 + u8(r) % 4;
      t = H5Tarray_create2(b, rank, dims);
      H5Tclose(b);
      return t;
    }
    case 13: return H5Tvlen_create(H5T_STD_I32LE);
    case 14:
      t = H5Tcreate(H5T_OPAQUE, 1 + u8(r) % 16);
      H5Tset_tag(t, "kps-fuzz");
      return t;
    case 15: return H5Tcopy(H5T_STD_B8LE);
    case 16: return H5Tcopy(H5T_NATIVE_LDOUBLE);
    default: return H5Tcopy(H5T_STD_I16BE);
  }
}

/* Creates a dataspace; dims[] and *rank describe it (rank -1: null). */
static hid_t make_space(rd *r, int max_rank, hsize_t max_elements, size_t elem,
                        hsize_t *dims, int *rank) {
  unsigned c = u8(r);
  if (c == 0xFF) {
    *rank = -1;
    return H5Screate(H5S_NULL);
  }
  *rank = (int)(c % (unsigned)(max_rank + 1));
  if (*rank == 0) {
    if (max_elements < 1) { /* no room even for a scalar: an empty space */
      *rank = 1;
      dims[0] = 0;
      return H5Screate_simple(1, dims, NULL);
    }
    return H5Screate(H5S_SCALAR);
  }
  hsize_t total = 1;
  const hsize_t byte_cap = MAX_BYTES / (elem ? elem : 1);
  const hsize_t cap = max_elements < byte_cap ? max_elements : byte_cap;
  for (int k = 0; k < *rank; ++k) {
    unsigned d = u8(r);
    hsize_t e = d & 0x80 ? ((hsize_t)(d & 0x7f) << 8 | u8(r)) : d % 8;
    if (e && total * e > cap) e = cap / total > 0 ? cap / total : 0;
    if (e) total *= e;
    dims[k] = e;
  }
  return H5Screate_simple(*rank, dims, NULL);
}

static uint32_t xorshift(uint32_t *s) {
  uint32_t x = *s ? *s : 0x9e3779b9u;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return *s = x;
}

/*
 * Data for n elements of type t, in the layout H5Dwrite/H5Awrite take with
 * t as the memory type. Sets *kind to 0 (fixed size), 1 (vlen string) or 2
 * (vlen sequence) so that free_data knows what it holds. NULL: leave the
 * object unwritten.
 */
static void *make_data(rd *r, hid_t t, hsize_t n, int *kind) {
  const unsigned mode = u8(r) % 4;
  uint32_t seed = mode == 3 ? u16(r) : 0;
  if (mode == 0) return NULL;
  const size_t size = H5Tget_size(t);
  const size_t count = (size_t)(n ? n : 1);
  *kind = H5Tget_class(t) == H5T_VLEN ? 2 : H5Tis_variable_str(t) > 0 ? 1 : 0;
#define NEXT_BYTE() (mode == 1 ? 0u : mode == 2 ? u8(r) : (xorshift(&seed) & 0xffu))
  if (*kind == 1) {
    char **s = calloc(count, sizeof *s);
    if (!s) return NULL;
    for (size_t i = 0; i < count; ++i) {
      size_t len = NEXT_BYTE() % 16;
      s[i] = calloc(len + 1, 1);
      for (size_t j = 0; j < len && s[i]; ++j) s[i][j] = (char)(NEXT_BYTE() | 1u);
    }
    return s;
  }
  if (*kind == 2) {
    hvl_t *v = calloc(count, sizeof *v);
    if (!v) return NULL;
    for (size_t i = 0; i < count; ++i) {
      v[i].len = NEXT_BYTE() % 16;
      int32_t *x = calloc(v[i].len ? v[i].len : 1, sizeof *x);
      for (size_t j = 0; j < v[i].len && x; ++j) x[j] = (int32_t)(int8_t)NEXT_BYTE();
      v[i].p = x;
      if (!x) v[i].len = 0;
    }
    return v;
  }
  unsigned char *b = calloc(count, size ? size : 1);
  if (!b) return NULL;
  for (size_t i = 0; i < count * size; ++i) b[i] = (unsigned char)NEXT_BYTE();
#undef NEXT_BYTE
  return b;
}

static void free_data(void *data, hsize_t n, int kind) {
  const size_t count = (size_t)(n ? n : 1);
  if (data && kind == 1)
    for (size_t i = 0; i < count; ++i) free(((char **)data)[i]);
  if (data && kind == 2)
    for (size_t i = 0; i < count; ++i) free(((hvl_t *)data)[i].p);
  free(data);
}

/* ---- the operations ---------------------------------------------------- */

static hid_t lcpl_parents(void) {
  hid_t l = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(l, 1);
  return l;
}

static void unlink_path(hid_t f, const char *path) {
  if (strcmp(path, "/") != 0) H5Ldelete(f, path, H5P_DEFAULT);
}

static void op_dataset(rd *r, hid_t f) {
  char path[160];
  path_of(r, path, sizeof path);
  hid_t t = make_type(r, 1), sp = H5I_INVALID_HID, dcpl = H5I_INVALID_HID, d = H5I_INVALID_HID;
  hid_t lcpl = lcpl_parents();
  hsize_t dims[H5S_MAX_RANK], maxdims[H5S_MAX_RANK], chunk[H5S_MAX_RANK];
  int rank = 0;
  const int max_rank = H5S_MAX_RANK;
  if (t < 0) goto done;
  sp = make_space(r, max_rank, MAX_ELEMENTS, H5Tget_size(t), dims, &rank);
  const unsigned layout = u8(r);
  dcpl = H5Pcreate(H5P_DATASET_CREATE);
  if (layout % 3 == 1 && rank > 0) {
    for (int k = 0; k < rank; ++k) {
      chunk[k] = 1 + u8(r) % (dims[k] ? dims[k] : 1);
      maxdims[k] = layout & 4 ? H5S_UNLIMITED : dims[k];
    }
    if (layout & 4) H5Sset_extent_simple(sp, rank, dims, maxdims);
    H5Pset_chunk(dcpl, rank, chunk);
    if (layout & 8) H5Pset_deflate(dcpl, 1);
  } else if (layout % 3 == 2) {
    H5Pset_layout(dcpl, H5D_COMPACT);
  }
  hssize_t n = H5Sget_simple_extent_npoints(sp);
  int kind = 0;
  void *data = make_data(r, t, n > 0 ? (hsize_t)n : 0, &kind);
  unlink_path(f, path);
  trace_object("dataset", path, NULL, t, rank, dims);
  d = H5Dcreate2(f, path, t, sp, lcpl, dcpl, H5P_DEFAULT);
  if (d >= 0 && data && n > 0) H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
  free_data(data, n > 0 ? (hsize_t)n : 0, kind);
done:
  if (d >= 0) H5Dclose(d);
  if (dcpl >= 0) H5Pclose(dcpl);
  if (sp >= 0) H5Sclose(sp);
  if (t >= 0) H5Tclose(t);
  H5Pclose(lcpl);
}

/* Writes attribute `name` of type t on obj from the recipe's space/data. */
static void put_attr(rd *r, hid_t obj, const char *name, hid_t t) {
  hsize_t dims[H5S_MAX_RANK];
  int rank = 0;
  const hsize_t max_el = MAX_ELEMENTS;
  hid_t sp = make_space(r, H5S_MAX_RANK, max_el, H5Tget_size(t), dims, &rank), a = -1;
  hssize_t n = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : 0;
  int kind = 0;
  void *data = sp >= 0 ? make_data(r, t, n > 0 ? (hsize_t)n : 0, &kind) : NULL;
  if (sp < 0) goto done;
  if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
  trace_object("attribute", "", name, t, rank, dims);
  a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
  if (a >= 0 && data && n > 0) H5Awrite(a, t, data);
done:
  free_data(data, n > 0 ? (hsize_t)n : 0, kind);
  if (a >= 0) H5Aclose(a);
  if (sp >= 0) H5Sclose(sp);
}

static void op_attr(rd *r, hid_t f) {
  char path[160], name[64];
  path_of(r, path, sizeof path);
  name_of(r, name, sizeof name);
  hid_t t = make_type(r, 1);
  hid_t o = H5Oopen(f, path, H5P_DEFAULT);
  TRACE("  on %s\n", path);
  if (t >= 0 && o >= 0) put_attr(r, o, name, t);
  if (o >= 0) H5Oclose(o);
  if (t >= 0) H5Tclose(t);
}

static void op_strattr(rd *r, hid_t f) {
  char path[160], name[64], text[256];
  path_of(r, path, sizeof path);
  name_of(r, name, sizeof name);
  inline_str(r, text, sizeof text);
  TRACE("  %s @%s = \"%s\"\n", path, name, text);
  hid_t t = fixed_string(text[0] ? strlen(text) : 1, 0, 0);
  hid_t o = H5Oopen(f, path, H5P_DEFAULT), sp = H5Screate(H5S_SCALAR), a = -1;
  if (t >= 0 && o >= 0 && sp >= 0) {
    if (H5Aexists(o, name) > 0) H5Adelete(o, name);
    a = H5Acreate2(o, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0) H5Awrite(a, t, text);
  }
  if (a >= 0) H5Aclose(a);
  if (sp >= 0) H5Sclose(sp);
  if (o >= 0) H5Oclose(o);
  if (t >= 0) H5Tclose(t);
}

static void op_hash(rd *r, hid_t f) {
  const unsigned v = u8(r) % 6;
  hid_t t = H5I_INVALID_HID, sp = H5I_INVALID_HID, a = H5I_INVALID_HID;
  uint64_t h[4] = {G.hash, G.hash, G.hash, G.hash};
  double d = (double)G.hash;
  char s[32];
  snprintf(s, sizeof s, "%llu", (unsigned long long)G.hash);
  hsize_t n = 1;
  const void *buf = h;
  hid_t mem = H5T_NATIVE_UINT64;
  switch (v) {
    case 0: t = H5Tcopy(H5T_STD_U64LE); break;
    case 1: t = H5Tcopy(H5T_STD_U64BE); break;
    case 2: t = H5Tcopy(H5T_IEEE_F64LE); buf = &d; mem = H5T_NATIVE_DOUBLE; break;
    case 3: t = H5Tcopy(H5T_STD_U64LE); n = 1; break;
    case 4:
      t = H5Tcopy(H5T_STD_U64LE);
      n = 2 + u8(r) % 3;
      break;
    default: t = fixed_string(strlen(s), 0, 0); buf = s; mem = t; break;
  }
  sp = v == 0 || v == 1 || v == 2 || v == 5 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, NULL);
  if (H5Aexists(f, "config_hash") > 0) H5Adelete(f, "config_hash");
  a = H5Acreate2(f, "config_hash", t, sp, H5P_DEFAULT, H5P_DEFAULT);
  if (a >= 0) H5Awrite(a, mem, buf);
  if (a >= 0) H5Aclose(a);
  if (sp >= 0) H5Sclose(sp);
  if (t >= 0) H5Tclose(t);
}

/*
 * Whether path names the root group. The recipe makes no hard link to it:
 * libhdf5 1.10.8 corrupts the root group when a group holding such a link
 * is deleted (then H5Gcreate2 crashes in H5G__compact_lookup_cb; plain HDF5
 * calls reproduce it: hard links / -> /a and /a -> /b/c, delete /a, delete
 * /b, create /b). That is libhdf5's bug, not a file kpsweep could meet.
 */
static int is_root(hid_t f, const char *path) {
  H5O_info_t want, root;
  if (H5Oget_info_by_name2(f, path, &want, H5O_INFO_BASIC, H5P_DEFAULT) < 0) return 0;
  if (H5Oget_info_by_name2(f, "/", &root, H5O_INFO_BASIC, H5P_DEFAULT) < 0) return 0;
  return want.fileno == root.fileno && want.addr == root.addr;
}

static void apply(rd *r, hid_t f) {
  for (int i = 0; i < MAX_OPS && r->n; ++i) {
    char a[160], b[160];
    hid_t lcpl = H5I_INVALID_HID, g = H5I_INVALID_HID;
    const unsigned op = u8(r) % 9;
    TRACE("op %d: %s\n", i, op_names[op]);
    switch (op) {
      case 0:
        path_of(r, a, sizeof a);
        TRACE("  %s\n", a);
        unlink_path(f, a);
        break;
      case 1:
        path_of(r, a, sizeof a);
        TRACE("  %s\n", a);
        unlink_path(f, a);
        lcpl = lcpl_parents();
        g = H5Gcreate2(f, a, lcpl, H5P_DEFAULT, H5P_DEFAULT);
        if (g >= 0) H5Gclose(g);
        H5Pclose(lcpl);
        break;
      case 2: op_dataset(r, f); break;
      case 3: op_attr(r, f); break;
      case 4:
      case 5: {
        const int soft = op == 4;
        path_of(r, a, sizeof a);
        if (soft) target_of(r, b, sizeof b); else path_of(r, b, sizeof b);
        TRACE("  %s -> %s\n", a, b);
        unlink_path(f, a);
        lcpl = lcpl_parents();
        if (soft) H5Lcreate_soft(b, f, a, lcpl, H5P_DEFAULT);
        else if (is_root(f, b)) TRACE("  skipped: a hard link to the root group\n");
        else H5Lcreate_hard(f, b, f, a, lcpl, H5P_DEFAULT);
        H5Pclose(lcpl);
        break;
      }
      case 6: {
        path_of(r, a, sizeof a);
        const int self = u8(r) & 1;
        path_of(r, b, sizeof b);
        TRACE("  %s -> %s:%s\n", a, self ? "this file" : "a missing file", b);
        unlink_path(f, a);
        lcpl = lcpl_parents();
        H5Lcreate_external(self ? G.work : "/nonexistent/kps-fuzz.h5", b, f, a, lcpl,
                           H5P_DEFAULT);
        H5Pclose(lcpl);
        break;
      }
      case 7: op_hash(r, f); break;
      default: op_strattr(r, f); break;
    }
  }
}

/* ---- files ------------------------------------------------------------- */

static void write_all(const char *path, const unsigned char *b, size_t n) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) die("cannot create the work file");
  size_t off = 0;
  while (off < n) {
    ssize_t k = write(fd, b + off, n - off);
    if (k <= 0) die("cannot write the work file");
    off += (size_t)k;
  }
  close(fd);
}

static hid_t fapl_bounds(unsigned which) {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5F_libver_t low = which == 1 ? H5F_LIBVER_EARLIEST : which == 2 ? H5F_LIBVER_LATEST
                                                                   : H5F_LIBVER_V18;
  H5Pset_libver_bounds(fapl, low, H5F_LIBVER_LATEST);
  return fapl;
}

/* Builds the work file from the recipe; returns the base byte. */
static unsigned build(rd *r) {
  const unsigned base = u8(r);
  TRACE("base 0x%02x: %s, format bounds %u, inspect%s\n", base,
        base & 1 ? "the template" : "an empty file", (base >> 1) & 3, base & 8 ? " --config" : "");
  hid_t fapl = fapl_bounds((base >> 1) & 3), f;
  if (base & 1) {
    write_all(G.work, G.template_bytes, G.template_len);
    f = H5Fopen(G.work, H5F_ACC_RDWR, fapl);
  } else {
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    H5Pset_attr_phase_change(fcpl, 0, 0);
    f = H5Fcreate(G.work, H5F_ACC_TRUNC, fcpl, fapl);
    H5Pclose(fcpl);
  }
  H5Pclose(fapl);
  if (f < 0) die("cannot open the work file");
  apply(r, f);
  if (H5Fclose(f) < 0) die("cannot close the work file");
  return base;
}

/* Every HDF5 identifier a reader opened must be closed again. */
static void check_ids(const char *who) {
  for (size_t k = 0; k < N_ID_TYPES; ++k) {
    hsize_t n = 0;
    H5Inmembers(id_types[k], &n);
    if ((ssize_t)n != G.baseline[k]) {
      char what[256];
      snprintf(what, sizeof what, "%s left %lld HDF5 identifiers of type %d open", who,
               (long long)n - (long long)G.baseline[k], (int)id_types[k]);
      die(what);
    }
  }
}

static void read_back(int show_config) {
  char *argv[] = {G.work, "--config", NULL};
  kps_cmd_inspect(show_config ? 2 : 1, argv, MPI_COMM_SELF);
  check_ids(show_config ? "kps_cmd_inspect FILE --config" : "kps_cmd_inspect FILE");
  kps_writer *w = NULL;
  int resumed = 0;
  uint8_t bits[64] = {0};
  if ((kps_config_n_lines(&G.cfg) + 7) / 8 > sizeof bits) die("FIXED_JOB has too many lines");
  /* The resume reads the progress map into bits when it accepts the file. */
  if (kps_writer_open(&G.cfg, G.work, KPS_OPEN_RESUME, MPI_COMM_SELF, 1, bits, &w, &resumed) ==
      KPS_OK)
    kps_writer_abort(&w);
  check_ids("kps_writer_open (resume)");
}

static void cleanup_files(void) {
  unlink(G.work);
  unlink(G.template_path);
  rmdir(G.dir);
}

/* The template: what kps_writer_open and kps_writer_close write for
 * FIXED_JOB, with line 0 marked done and a spread of status codes. */
static void make_template(void) {
  kps_writer *w = NULL;
  int resumed = 0;
  uint8_t bits[64] = {0};
  if (kps_writer_open(&G.cfg, G.template_path, KPS_OPEN_FORCE, MPI_COMM_SELF, 1, bits, &w,
                      &resumed) != KPS_OK)
    die("kps_writer_open of the template failed");
  const double rank_lines[1] = {1.0}, busy[1] = {0.5}, h5[1] = {0.25};
  const char *hosts[1] = {"fuzzhost"};
  kps_run_record rec = {.start_time = 1.7e9, .end_time = 1.7e9 + 5.0, .complete = 0,
                        .interrupted = 1, .n_ranks = 1, .rank_lines = rank_lines,
                        .rank_busy_s = busy, .rank_hdf5_s = h5, .hosts = hosts,
                        .hdf5_seconds = 0.25, .lines_done = 1, .lines_computed = 1.0};
  if (kps_writer_close(&w, &rec) != KPS_OK) die("kps_writer_close of the template failed");
  hid_t f = H5Fopen(G.template_path, H5F_ACC_RDWR, H5P_DEFAULT);
  if (f < 0) die("cannot reopen the template");
  const size_t n_lines = kps_config_n_lines(&G.cfg), n_points = kps_config_n_points(&G.cfg);
  uint8_t done[64] = {1};
  int8_t status[256];
  if (n_lines > sizeof done || n_points > sizeof status) die("FIXED_JOB is too large");
  for (size_t k = 0; k < n_points; ++k) status[k] = (int8_t)((int)(k * 5 % 12) - 1);
  hid_t d = H5Dopen2(f, "/progress/line_done", H5P_DEFAULT);
  if (d < 0 || H5Dwrite(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, done) < 0)
    die("cannot write the template's line_done");
  H5Dclose(d);
  d = H5Dopen2(f, "/points/status", H5P_DEFAULT);
  if (d < 0 || H5Dwrite(d, H5T_NATIVE_INT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, status) < 0)
    die("cannot write the template's status");
  H5Dclose(d);
  H5Fclose(f);
  FILE *in = fopen(G.template_path, "rb");
  if (!in) die("cannot read the template");
  fseek(in, 0, SEEK_END);
  long len = ftell(in);
  fseek(in, 0, SEEK_SET);
  G.template_bytes = malloc((size_t)len);
  if (!G.template_bytes || fread(G.template_bytes, 1, (size_t)len, in) != (size_t)len)
    die("cannot read the template");
  G.template_len = (size_t)len;
  fclose(in);
}

static void add_path(const char *fmt, const char *a, const char *b) {
  char buf[160];
  snprintf(buf, sizeof buf, fmt, a, b);
  char **p = realloc(G.paths, sizeof *p * (G.n_paths + 1));
  if (!p) die("out of memory");
  G.paths = p;
  G.paths[G.n_paths++] = strdup(buf);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  /* Open MPI's start-up leaks, and it unloads the plugins it does not
   * select, so that their allocation stacks no longer name a library:
   * nothing allocated in this thread during MPI_Init is a leak of ours. */
  /* libFuzzer installs its crash handlers after this function and keeps
   * those it finds; Open MPI's (SIGABRT, SIGBUS, SIGFPE) would print a stack
   * and exit without libFuzzer writing the reproducer. */
  setenv("OMPI_MCA_opal_signal", "", 1);
  __lsan_disable();
  const int mpi_rc = MPI_Init(argc, argv);
  __lsan_enable();
  if (mpi_rc != MPI_SUCCESS) die("MPI_Init failed");
  const char *tr = getenv("KPS_FUZZ_TRACE");
  G.trace = tr && tr[0] && strcmp(tr, "0") != 0;
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);

  kps_config_defaults(&G.cfg);
  char err[1024];
  if (kps_config_parse(&G.cfg, "FIXED_JOB", FIXED_JOB, strlen(FIXED_JOB), err, sizeof err) !=
      KPS_OK) {
    fprintf(stderr, "%s\n", err);
    die("FIXED_JOB does not parse");
  }
  char *canon = kps_config_canonical(&G.cfg);
  if (!canon) die("out of memory");
  G.hash = kps_hash64(canon, strlen(canon));
  free(canon);

  /* tmpfs when there is one: the file is rewritten for every input. A crash
   * skips cleanup_files; tests/fuzz/run_fuzz.py passes KPS_FUZZ_WORKDIR, a
   * directory it removes itself. */
  const char *tmp = getenv("KPS_FUZZ_WORKDIR");
  if (!tmp || !tmp[0]) tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
  snprintf(G.dir, sizeof G.dir, "%s/kps-fuzz-results-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
  if (!mkdtemp(G.dir)) die("mkdtemp failed");
  snprintf(G.work, sizeof G.work, "%s/work.h5", G.dir);
  snprintf(G.template_path, sizeof G.template_path, "%s/template.h5", G.dir);
  atexit(cleanup_files);
  make_template();

  static const char *const fixed[] = {"/", "/axes", "/points", "/lines", "/progress",
                                      "/progress/line_done", "/axes/tau2", "/axes/L2",
                                      "/axes/bin", "/axes/N", "/x", "/axes/x", "/points/x",
                                      "/lines/x", "/progress/x", "/x/y",
                                      "/progress/line_done/x"};
  for (size_t k = 0; k < sizeof fixed / sizeof *fixed; ++k) add_path("%s%s", fixed[k], "");
  const kps_field_info *fi = kps_fields();
  for (int f = 0; f < KPS_N_FIELDS; ++f)
    add_path("/%s/%s", fi[f].scope == KPS_POINT ? "points" : "lines", fi[f].name);
  if (G.n_paths >= 0xFF) die("the path table must stay below 255 entries");

  for (size_t k = 0; k < N_ID_TYPES; ++k) {
    hsize_t n = 0;
    H5Inmembers(id_types[k], &n);
    G.baseline[k] = (ssize_t)n;
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > FUZZ_MAX_INPUT) return -1;
  rd r = {data, size};
  const unsigned base = build(&r);
  check_ids("building the file");
  read_back(base & 8);
  return 0;
}
