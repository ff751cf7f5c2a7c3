/*
 * `kpsweep inspect FILE`: what a results file holds and how complete it is.
 * Reads on rank 0 only, with the serial driver; other ranks return at once.
 */
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kpsweep/cli.h"
#include "kpsweep/config.h"
#include "kpsweep/progress.h"
#include "kpsweep/results.h"
#include "kpsweep/status.h"

/* Longest job text `--config` prints. */
#define CONFIG_TEXT_MAX (16u << 20)

static const char *inspect_help =
    "usage: kpsweep inspect FILE [--config]\n"
    "\n"
    "Prints the provenance of a results file (version, model, job, creation and run\n"
    "times, ranks), every dataset with its shape, and the progress: points done of\n"
    "the total, the run's rate, failed points by status. --config also prints the\n"
    "job file stored in it. Exits 2 when FILE is not a kpsweep results file.\n";

/* Reads a string attribute into buf; an absent attribute gives "". */
static kps_err read_str_attr(hid_t obj, const char *name, char *buf, size_t n) {
  kps_err rc = KPS_OK;
  hid_t a = H5I_INVALID_HID, t = H5I_INVALID_HID;
  char *tmp = NULL;
  buf[0] = '\0';
  htri_t exists = H5Aexists(obj, name);
  KPS_CHECK_H5(exists);
  if (!exists) goto cleanup;
  KPS_CHECK_H5_ID(a, H5Aopen(obj, name, H5P_DEFAULT));
  KPS_CHECK_H5_ID(t, H5Aget_type(a));
  tmp = calloc(H5Tget_size(t) + 1, 1);
  KPS_CHECK_ALLOC(tmp);
  KPS_CHECK_H5(H5Aread(a, t, tmp));
  snprintf(buf, n, "%s", tmp);
cleanup:
  free(tmp);
  if (t >= 0) H5Tclose(t);
  if (a >= 0) H5Aclose(a);
  return rc;
}

/* Reads a scalar float64 attribute; an absent one gives NaN. */
static kps_err read_f64_attr(hid_t obj, const char *name, double *v) {
  kps_err rc = KPS_OK;
  hid_t a = H5I_INVALID_HID;
  *v = NAN;
  htri_t exists = H5Aexists(obj, name);
  KPS_CHECK_H5(exists);
  if (!exists) goto cleanup;
  KPS_CHECK_H5_ID(a, H5Aopen(obj, name, H5P_DEFAULT));
  KPS_CHECK_H5(H5Aread(a, H5T_NATIVE_DOUBLE, v));
cleanup:
  if (a >= 0) H5Aclose(a);
  return rc;
}

/* H5Literate callback: prints "/group/name (dims)" for each dataset. */
static herr_t print_dataset(hid_t loc, const char *name, const H5L_info_t *info, void *group) {
  (void)info;
  kps_err rc = KPS_OK;
  hid_t o = H5I_INVALID_HID, sp = H5I_INVALID_HID;
  KPS_CHECK_H5_ID(o, H5Oopen(loc, name, H5P_DEFAULT));
  if (H5Iget_type(o) == H5I_DATASET) {
    hsize_t dims[KPS_MAX_AXES + 3];
    KPS_CHECK_H5_ID(sp, H5Dget_space(o));
    int nd = H5Sget_simple_extent_dims(sp, dims, NULL);
    KPS_CHECK_H5(nd);
    printf("  /%s/%-20s (", (const char *)group, name);
    for (int k = 0; k < nd; ++k) printf("%s%llu", k ? ", " : "", (unsigned long long)dims[k]);
    printf(")\n");
  }
cleanup:
  if (sp >= 0) H5Sclose(sp);
  if (o >= 0) H5Oclose(o);
  return rc == KPS_OK ? 0 : -1;
}

static kps_err read_all(hid_t file, const char *path, hid_t memtype, size_t elem, void **out,
                        hsize_t *count) {
  kps_err rc = KPS_OK;
  hid_t d = H5I_INVALID_HID, sp = H5I_INVALID_HID;
  KPS_CHECK_H5_ID(d, H5Dopen2(file, path, H5P_DEFAULT));
  KPS_CHECK_H5_ID(sp, H5Dget_space(d));
  hssize_t n = H5Sget_simple_extent_npoints(sp);
  KPS_CHECK_H5(n);
  *count = (hsize_t)n;
  *out = malloc((size_t)(n > 0 ? n : 1) * elem);
  KPS_CHECK_ALLOC(*out);
  KPS_CHECK_H5(H5Dread(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, *out));
cleanup:
  if (sp >= 0) H5Sclose(sp);
  if (d >= 0) H5Dclose(d);
  return rc;
}

int kps_cmd_inspect(int argc, char **argv, MPI_Comm comm) {
  if (!kps_is_root(comm)) return KPS_EXIT_OK;
  if (kps_hdf5_quiet() != KPS_OK) return KPS_EXIT_FAILURE;
  const char *path = NULL;
  int show_config = 0;
  for (int i = 0; i < argc; ++i) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      fputs(inspect_help, stdout);
      return KPS_EXIT_OK;
    } else if (!strcmp(argv[i], "--config")) {
      show_config = 1;
    } else if (argv[i][0] == '-' || path) {
      fprintf(stderr, "kpsweep inspect: unexpected argument '%s'\nTry 'kpsweep inspect --help'.\n",
              argv[i]);
      return KPS_EXIT_USAGE;
    } else {
      path = argv[i];
    }
  }
  if (!path) {
    fprintf(stderr, "kpsweep inspect: missing FILE\nTry 'kpsweep inspect --help'.\n");
    return KPS_EXIT_USAGE;
  }
  kps_err rc = KPS_OK;
  hid_t file = H5I_INVALID_HID;
  uint8_t *done = NULL;
  char *text = NULL;
  int8_t *status = NULL;
  if (H5Fis_hdf5(path) <= 0) {
    fprintf(stderr, "kpsweep inspect: %s is not a readable HDF5 file\n", path);
    return KPS_EXIT_USAGE;
  }
  KPS_CHECK_H5_ID(file, H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT));
  char version[64], model[64], job[128], created[64], start[64], end[64], source[4096];
  KPS_CHECK(read_str_attr(file, "kpsweep_version", version, sizeof version));
  if (!version[0]) {
    fprintf(stderr, "kpsweep inspect: %s is not a kpsweep results file\n", path);
    rc = KPS_ERR_MISMATCH;
    goto cleanup;
  }
  KPS_CHECK(read_str_attr(file, "model", model, sizeof model));
  KPS_CHECK(read_str_attr(file, "job_name", job, sizeof job));
  KPS_CHECK(read_str_attr(file, "created", created, sizeof created));
  KPS_CHECK(read_str_attr(file, "start_time", start, sizeof start));
  KPS_CHECK(read_str_attr(file, "end_time", end, sizeof end));
  KPS_CHECK(read_str_attr(file, "config_source", source, sizeof source));
  printf("file        %s\n", path);
  printf("kpsweep     %s\n", version);
  printf("job         %s (config %s)\n", job, source);
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
  printf("datasets\n");
  static const char *groups[] = {"axes", "points", "lines", "progress"};
  for (size_t g = 0; g < sizeof groups / sizeof *groups; ++g) {
    hid_t grp = H5I_INVALID_HID;
    KPS_CHECK_H5_ID(grp, H5Gopen2(file, groups[g], H5P_DEFAULT));
    herr_t it = H5Literate(grp, H5_INDEX_NAME, H5_ITER_INC, NULL, print_dataset, (void *)groups[g]);
    H5Gclose(grp);
    KPS_CHECK_H5(it);
  }

  hsize_t n_lines = 0, n_points = 0;
  KPS_CHECK(read_all(file, "/progress/line_done", H5T_NATIVE_UINT8, 1, (void **)&done, &n_lines));
  KPS_CHECK(read_all(file, "/points/status", H5T_NATIVE_INT8, 1, (void **)&status, &n_points));
  uint64_t lines_done = 0, counts[16] = {0}, failed = 0;
  for (hsize_t l = 0; l < n_lines; ++l) lines_done += done[l];
  const uint64_t per_line = n_lines ? n_points / n_lines : 0;
  for (hsize_t l = 0; l < n_lines; ++l) {
    if (!done[l]) continue;
    for (uint64_t j = 0; j < per_line; ++j) {
      const int s = status[l * per_line + j];
      if (s >= -1 && s < 15) ++counts[s + 1];
      if (kps_status_is_failure(s)) ++failed;
    }
  }
  char line[256];
  const double rate = run_s > 0 && run_lines > 0 ? run_lines * (double)per_line / run_s : 0.0;
  kps_progress_format(line, sizeof line, lines_done * per_line, n_points,
                      lines_done < n_lines ? rate : 0.0, failed);
  printf("progress    %s; %llu/%llu lines%s\n", line, (unsigned long long)lines_done,
         (unsigned long long)n_lines,
         lines_done == n_lines ? " (complete)" : " (partial: continue with kpsweep run --resume)");
  for (int s = KPS_ST_NOT_COMPUTED; s <= KPS_ST_LAST; ++s)
    if (counts[s + 1] && s != KPS_ST_NOT_COMPUTED)
      printf("status      %-16s %llu points\n", kps_status_name(s), (unsigned long long)counts[s + 1]);
  if (show_config) {
    text = malloc(CONFIG_TEXT_MAX);
    KPS_CHECK_ALLOC(text);
    KPS_CHECK(read_str_attr(file, "config", text, CONFIG_TEXT_MAX));
    printf("config\n%s\n", text);
  }
cleanup:
  free(text);
  free(done);
  free(status);
  if (file >= 0) H5Fclose(file);
  return kps_exit_code(rc);
}
