/*
 * `kpsweep export FILE`: the results as a tidy long table, one row per
 * point (or per line), one column per axis and per field, as CSV or TSV.
 * Streamed in slabs of whole rows of the dataset, so memory does not grow
 * with the file. Reads on rank 0 only, with the serial driver.
 */
#include <hdf5.h>
#include <hdf5_hl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "h5util.h"
#include "kpsweep/cli.h"
#include "kpsweep/config.h"
#include "kpsweep/results.h"

/* Values of one field read per slab (the last dimension is never split). */
#define SLAB_VALUES (1u << 16)
/* Room for the dimensions of a field: parameter axes, L2, tau2 or bin. */
#define EXPORT_MAX_RANK (KPS_MAX_AXES + 3)
#define NAME_MAX_LEN 64

static const char *export_help =
    "usage: kpsweep export FILE [--points | --lines] [--fields F1,F2,...]\n"
    "                      [--format csv|tsv] [-o OUT]\n"
    "\n"
    "Writes the results of FILE as a table with one row per sweep point (--points,\n"
    "the default) or per line (--lines: one parameter point and dose), one column\n"
    "per axis (the swept parameters in job order, L2, and tau2 for points) and one\n"
    "per field (all of the scope, or those named by --fields, in that order).\n"
    "Missing values are written as nan, -1 for integers (so are the values of lines\n"
    "not done in a file of run.fill: status); categorical fields as their integer codes\n"
    "(meanings in the file's flag_meanings attributes). OUT (default: standard\n"
    "output) ending in .tsv selects TSV, anything else CSV unless --format says.\n"
    "Memory does not grow with the file: rows are streamed in slabs.\n"
    "\n"
    "examples:\n"
    "  kpsweep export results/default.h5 -o default-points.csv\n"
    "  kpsweep export results/default.h5 --lines --fields tau_star,FC_star,regime\n";

typedef struct column {
  char name[NAME_MAX_LEN];
  hid_t dset;
  int is_float;
  int unfilled;  /* never filled (run.fill: status): undefined where no line is done */
  double *fbuf;
  int64_t *ibuf;
} column;

typedef struct exporter {
  const char *path;
  hid_t file;
  int nd;                          /* rank of the fields exported */
  hsize_t dims[EXPORT_MAX_RANK];
  char axis_name[EXPORT_MAX_RANK][NAME_MAX_LEN];
  double *axis[EXPORT_MAX_RANK];   /* values of each dimension's scale */
  column *cols;
  int n_cols;
  int lines;                       /* line fields (every dimension a line's), not points */
  uint8_t *done;                   /* the progress map, read when a column is unfilled */
  char sep;
  FILE *out;
} exporter;

static kps_err bad(const char *path, const char *what, const char *arg) {
  fprintf(stderr, "kpsweep export: %s: %s%s%s\n", path, what, arg ? ": " : "", arg ? arg : "");
  return KPS_ERR_MISMATCH;
}

/* Opens the (first) dimension scale attached to a dimension. */
static herr_t take_scale(hid_t did, unsigned dim, hid_t dsid, void *data) {
  (void)did;
  (void)dim;
  *(hid_t *)data = H5Dopen2(dsid, ".", H5P_DEFAULT);
  return 1;
}

/* Reads the coordinates of every dimension of `dset` from its scales. */
static kps_err read_axes(exporter *ex, hid_t dset) {
  kps_err rc = KPS_OK;
  hid_t sp = H5I_INVALID_HID;
  KPS_CHECK_H5_ID(sp, H5Dget_space(dset));
  const int nd = H5Sget_simple_extent_ndims(sp);
  if (nd < 1 || nd > EXPORT_MAX_RANK) {
    rc = bad(ex->path, "a field has an unexpected number of dimensions", NULL);
    goto cleanup;
  }
  ex->nd = nd;
  KPS_CHECK_H5(H5Sget_simple_extent_dims(sp, ex->dims, NULL));
  for (int d = 0; d < nd; ++d) {
    hid_t scale = H5I_INVALID_HID;
    int idx = 0;
    if (H5DSiterate_scales(dset, (unsigned)d, &idx, take_scale, &scale) < 0 || scale < 0) {
      rc = bad(ex->path, "a dimension has no coordinate (dimension scale)", NULL);
      goto cleanup;
    }
    hid_t ssp = H5Dget_space(scale);
    hsize_t n = 0;
    const int ok = ssp >= 0 && H5Sget_simple_extent_ndims(ssp) == 1 &&
                   H5Sget_simple_extent_dims(ssp, &n, NULL) == 1 && n == ex->dims[d];
    if (ssp >= 0) H5Sclose(ssp);
    ssize_t len = ok ? H5DSget_scale_name(scale, ex->axis_name[d], NAME_MAX_LEN) : -1;
    ex->axis[d] = ok && len > 0 ? malloc(sizeof(double) * n) : NULL;
    const int read = ex->axis[d] &&
                     H5Dread(scale, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, ex->axis[d]) >= 0;
    H5Dclose(scale);
    if (!read) {
      rc = bad(ex->path, "a coordinate cannot be read or does not match its dimension", NULL);
      goto cleanup;
    }
  }
cleanup:
  if (sp >= 0) H5Sclose(sp);
  return rc;
}

static kps_err add_column(exporter *ex, const char *group, const char *name) {
  kps_err rc = KPS_OK;
  char full[2 * NAME_MAX_LEN];
  snprintf(full, sizeof full, "/%s/%s", group, name);
  if (H5Lexists(ex->file, group, H5P_DEFAULT) <= 0 || H5Lexists(ex->file, full, H5P_DEFAULT) <= 0)
    return bad(ex->path, "no such dataset (not among the run.fields the file was written with)",
               full);
  column *c = &ex->cols[ex->n_cols];
  memset(c, 0, sizeof *c);
  snprintf(c->name, sizeof c->name, "%s", name);
  KPS_CHECK_H5_ID(c->dset, H5Dopen2(ex->file, full, H5P_DEFAULT));
  ++ex->n_cols;
  hid_t t = H5Dget_type(c->dset), sp = H5Dget_space(c->dset);
  const H5T_class_t cls = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
  hsize_t dims[H5S_MAX_RANK];
  const int nd = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
  int same = nd >= 0 && nd <= H5S_MAX_RANK && H5Sget_simple_extent_dims(sp, dims, NULL) == nd;
  if (t >= 0) H5Tclose(t);
  if (sp >= 0) H5Sclose(sp);
  if (ex->nd == 0) {
    KPS_CHECK(read_axes(ex, c->dset));
  }
  same = same && nd == ex->nd;
  for (int d = 0; same && d < nd; ++d) same = dims[d] == ex->dims[d];
  if (!same) return bad(ex->path, "its fields differ in shape", full);
  if (cls != H5T_FLOAT && cls != H5T_INTEGER) return bad(ex->path, "not a numeric field", full);
  c->is_float = cls == H5T_FLOAT;
  KPS_CHECK(kps_h5_never_filled(c->dset, &c->unfilled));
cleanup:
  return rc;
}

/* The columns: every field of the scope in the order of the field table,
 * or the listed ones in their order. */
static kps_err open_columns(exporter *ex, int lines, const char *fields) {
  kps_err rc = KPS_OK;
  const kps_field_info *fi = kps_fields();
  const char *group = lines ? "lines" : "points";
  ex->cols = calloc(KPS_N_FIELDS, sizeof(column));
  KPS_CHECK_ALLOC(ex->cols);
  for (int k = 0; k < KPS_N_FIELDS; ++k) ex->cols[k].dset = H5I_INVALID_HID;
  if (fields) {
    for (const char *p = fields; *p;) {
      const char *comma = strchr(p, ',');
      const size_t len = comma ? (size_t)(comma - p) : strlen(p);
      char name[NAME_MAX_LEN];
      int known = -1;
      snprintf(name, sizeof name, "%.*s", (int)(len < NAME_MAX_LEN ? len : NAME_MAX_LEN - 1), p);
      for (int f = 0; f < KPS_N_FIELDS; ++f)
        if (!strcmp(fi[f].name, name)) known = f;
      if (known < 0 || len >= NAME_MAX_LEN) {
        fprintf(stderr, "kpsweep export: unknown field '%s'; fields are those of "
                        "docs/output.md (kpsweep inspect FILE lists them)\n", name);
        rc = KPS_ERR_USAGE;
        goto cleanup;
      }
      const int extra = fi[known].scope != KPS_POINT && fi[known].scope != KPS_LINE;
      if ((fi[known].scope == KPS_POINT) == lines || extra) {
        fprintf(stderr, "kpsweep export: '%s' is not a %s field%s\n", name,
                lines ? "line" : "point",
                fi[known].scope == KPS_LINE_BIN ? " (a histogram: one row per bin)"
                : extra ? " (it has dimensions of its own)" : "");
        rc = KPS_ERR_USAGE;
        goto cleanup;
      }
      if (ex->n_cols == KPS_N_FIELDS) break;
      KPS_CHECK(add_column(ex, group, name));
      p += len + (comma ? 1 : 0);
    }
  } else {
    /* A file written with run.fields holds some of them: those it has. */
    const htri_t has_group = H5Lexists(ex->file, group, H5P_DEFAULT);
    for (int f = 0; f < KPS_N_FIELDS && has_group > 0; ++f) {
      char full[2 * NAME_MAX_LEN];
      snprintf(full, sizeof full, "/%s/%s", group, fi[f].name);
      if (fi[f].scope == (lines ? KPS_LINE : KPS_POINT) &&
          H5Lexists(ex->file, full, H5P_DEFAULT) > 0)
        KPS_CHECK(add_column(ex, group, fi[f].name));
    }
  }
  if (ex->n_cols == 0) rc = bad(ex->path, "no field to export", NULL);
cleanup:
  return rc;
}

/* The progress map, when a column has no fill values of its own. */
static kps_err read_done(exporter *ex) {
  kps_err rc = KPS_OK;
  hid_t d = H5I_INVALID_HID, sp = H5I_INVALID_HID;
  int any = 0;
  for (int k = 0; k < ex->n_cols; ++k) any |= ex->cols[k].unfilled;
  if (!any) return KPS_OK;
  hsize_t n = 0, want = 1;
  for (int k = 0; k < (ex->lines ? ex->nd : ex->nd - 1); ++k) want *= ex->dims[k];
  if (H5Lexists(ex->file, "/progress", H5P_DEFAULT) <= 0 ||
      H5Lexists(ex->file, "/progress/line_done", H5P_DEFAULT) <= 0) {
    rc = bad(ex->path, "no progress map (/progress/line_done), which its unfilled fields need",
             NULL);
    goto cleanup;
  }
  KPS_CHECK_H5_ID(d, H5Dopen2(ex->file, "/progress/line_done", H5P_DEFAULT));
  KPS_CHECK_H5_ID(sp, H5Dget_space(d));
  if (H5Sget_simple_extent_ndims(sp) != 1 || H5Sget_simple_extent_dims(sp, &n, NULL) != 1 ||
      n != want) {
    rc = bad(ex->path, "the progress map does not match the fields' lines", NULL);
    goto cleanup;
  }
  ex->done = malloc(n > 0 ? n : 1);
  KPS_CHECK_ALLOC(ex->done);
  KPS_CHECK_H5(H5Dread(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, ex->done));
cleanup:
  if (sp >= 0) H5Sclose(sp);
  if (d >= 0) H5Dclose(d);
  return rc;
}

static void print_value(FILE *out, double v) {
  if (isnan(v)) fputs("nan", out);
  else if (isinf(v)) fputs(v > 0 ? "inf" : "-inf", out);
  else fprintf(out, "%.17g", v);
}

/* Streams every row: slabs of `rows` consecutive entries of the
 * second-to-last dimension (whole last dimension), for every index of the
 * leading ones. */
static kps_err stream(exporter *ex) {
  kps_err rc = KPS_OK;
  hid_t fsp = H5I_INVALID_HID, msp = H5I_INVALID_HID;
  const int nd = ex->nd;
  const hsize_t last = ex->dims[nd - 1];
  const hsize_t outer = nd >= 2 ? ex->dims[nd - 2] : 1;
  hsize_t rows = last >= SLAB_VALUES ? 1 : SLAB_VALUES / last;
  if (rows > outer) rows = outer;
  const size_t cap = (size_t)(rows * last);
  for (int k = 0; k < ex->n_cols; ++k) {
    column *c = &ex->cols[k];
    if (c->is_float) c->fbuf = malloc(sizeof(double) * cap);
    else c->ibuf = malloc(sizeof(int64_t) * cap);
    KPS_CHECK_ALLOC(c->is_float ? (void *)c->fbuf : (void *)c->ibuf);
  }
  /* Header. */
  for (int d = 0; d < nd; ++d) fprintf(ex->out, "%s%c", ex->axis_name[d], ex->sep);
  for (int k = 0; k < ex->n_cols; ++k)
    fprintf(ex->out, "%s%c", ex->cols[k].name, k + 1 < ex->n_cols ? ex->sep : '\n');
  hsize_t lead[EXPORT_MAX_RANK] = {0};
  const int n_lead = nd >= 2 ? nd - 2 : 0;
  for (;;) {
    for (hsize_t r0 = 0; r0 < outer; r0 += rows) {
      const hsize_t nr = outer - r0 < rows ? outer - r0 : rows;
      hsize_t start[EXPORT_MAX_RANK], count[EXPORT_MAX_RANK];
      for (int d = 0; d < n_lead; ++d) start[d] = lead[d], count[d] = 1;
      if (nd >= 2) start[nd - 2] = r0, count[nd - 2] = nr;
      start[nd - 1] = 0, count[nd - 1] = last;
      const hsize_t nvals = nr * last;
      KPS_CHECK_H5_ID(msp, H5Screate_simple(1, &nvals, NULL));
      for (int k = 0; k < ex->n_cols; ++k) {
        column *c = &ex->cols[k];
        KPS_CHECK_H5_ID(fsp, H5Dget_space(c->dset));
        KPS_CHECK_H5(H5Sselect_hyperslab(fsp, H5S_SELECT_SET, start, NULL, count, NULL));
        KPS_CHECK_H5(H5Dread(c->dset, c->is_float ? H5T_NATIVE_DOUBLE : H5T_NATIVE_INT64, msp,
                             fsp, H5P_DEFAULT, c->is_float ? (void *)c->fbuf : (void *)c->ibuf));
        H5Sclose(fsp), fsp = H5I_INVALID_HID;
      }
      H5Sclose(msp), msp = H5I_INVALID_HID;
      for (hsize_t v = 0; v < nvals; ++v) {
        for (int d = 0; d < n_lead; ++d) {
          print_value(ex->out, ex->axis[d][lead[d]]);
          fputc(ex->sep, ex->out);
        }
        if (nd >= 2) {
          print_value(ex->out, ex->axis[nd - 2][r0 + v / last]);
          fputc(ex->sep, ex->out);
        }
        print_value(ex->out, ex->axis[nd - 1][v % last]);
        /* The line of the value: its indices over the line dimensions. */
        int line_done = 1;
        if (ex->done) {
          hsize_t line = 0;
          for (int d = 0; d < n_lead; ++d) line = line * ex->dims[d] + lead[d];
          line = line * outer + r0 + v / last;
          if (ex->lines) line = line * last + v % last;
          line_done = ex->done[line] != 0;
        }
        for (int k = 0; k < ex->n_cols; ++k) {
          fputc(ex->sep, ex->out);
          const column *c = &ex->cols[k];
          if (c->unfilled && !line_done) fputs(c->is_float ? "nan" : "-1", ex->out);
          else if (c->is_float) print_value(ex->out, c->fbuf[v]);
          else fprintf(ex->out, "%" PRId64, c->ibuf[v]);
        }
        fputc('\n', ex->out);
      }
      if (ferror(ex->out)) KPS_FAIL(KPS_ERR_IO, "writing the table failed");
    }
    /* Next index of the leading dimensions (row-major). */
    int d = n_lead - 1;
    while (d >= 0 && ++lead[d] == ex->dims[d]) lead[d--] = 0;
    if (d < 0) break;
  }
cleanup:
  if (msp >= 0) H5Sclose(msp);
  if (fsp >= 0) H5Sclose(fsp);
  return rc;
}

static int usage(const char *msg, const char *arg) {
  fprintf(stderr, "kpsweep export: %s%s%s\nTry 'kpsweep export --help'.\n", msg,
          arg ? ": " : "", arg ? arg : "");
  return KPS_EXIT_USAGE;
}

int kps_cmd_export(int argc, char **argv, MPI_Comm comm) {
  if (!kps_is_root(comm)) return KPS_EXIT_OK;
  const char *path = NULL, *output = NULL, *fields = NULL, *format = NULL;
  int lines = 0, points = 0;
  for (int i = 0; i < argc; ++i) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(export_help, stdout);
      return KPS_EXIT_OK;
    }
    const int takes = !strcmp(a, "-o") || !strcmp(a, "--output") || !strcmp(a, "--fields") ||
                      !strcmp(a, "--format");
    if (takes && (i + 1 >= argc || !argv[i + 1][0])) return usage("option needs a value", a);
    if (!strcmp(a, "-o") || !strcmp(a, "--output")) output = argv[++i];
    else if (!strcmp(a, "--fields")) fields = argv[++i];
    else if (!strcmp(a, "--format")) format = argv[++i];
    else if (!strcmp(a, "--lines")) lines = 1;
    else if (!strcmp(a, "--points")) points = 1;
    else if (a[0] == '-' && a[1]) return usage("unknown option", a);
    else if (!path && a[0]) path = a;
    else return usage(path ? "more than one FILE given" : "empty FILE argument", a);
  }
  if (!path) return usage("missing FILE", NULL);
  if (lines && points) return usage("--lines and --points exclude each other", NULL);
  if (format && strcmp(format, "csv") && strcmp(format, "tsv"))
    return usage("--format must be csv or tsv", format);
  const size_t olen = output ? strlen(output) : 0;
  const int tsv = format ? !strcmp(format, "tsv") : olen > 4 && !strcmp(output + olen - 4, ".tsv");

  kps_err rc = KPS_OK;
  exporter ex = {.path = path, .file = H5I_INVALID_HID, .sep = tsv ? '\t' : ',', .out = stdout};
  hid_t fapl = H5I_INVALID_HID;
  struct stat st;
  if (kps_hdf5_quiet() != KPS_OK) return KPS_EXIT_FAILURE;
  if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || H5Fis_hdf5(path) <= 0) {
    rc = bad(path, "not a readable HDF5 file", NULL);
    goto cleanup;
  }
  KPS_CHECK_H5_ID(fapl, H5Pcreate(H5P_FILE_ACCESS));
  KPS_CHECK_H5(H5Pset_fapl_sec2(fapl));
  ex.file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
  if (ex.file < 0) {
    rc = bad(path, "cannot be opened as HDF5", NULL);
    goto cleanup;
  }
  ex.lines = lines;
  KPS_CHECK(open_columns(&ex, lines, fields));
  KPS_CHECK(read_done(&ex));
  if (output) {
    ex.out = fopen(output, "w");
    if (!ex.out) KPS_FAIL(KPS_ERR_IO, "cannot write %s", output);
  }
  KPS_CHECK(stream(&ex));
cleanup:
  if (ex.out && ex.out != stdout && fclose(ex.out) != 0 && rc == KPS_OK)
    rc = KPS_ERR_IO, fprintf(stderr, "kpsweep export: writing %s failed\n", output);
  for (int k = 0; k < ex.n_cols; ++k) {
    if (ex.cols[k].dset >= 0) H5Dclose(ex.cols[k].dset);
    free(ex.cols[k].fbuf);
    free(ex.cols[k].ibuf);
  }
  free(ex.cols);
  free(ex.done);
  for (int d = 0; d < EXPORT_MAX_RANK; ++d) free(ex.axis[d]);
  if (ex.file >= 0) H5Fclose(ex.file);
  if (fapl >= 0) H5Pclose(fapl);
  return kps_exit_code(rc);
}
