/*
 * libFuzzer target: the job-file parser. The input bytes are a YAML job file.
 *
 * Every input goes through both entry points of the config module:
 *   kps_config_parse  (from memory; what every rank runs), and
 *   kps_config_load   (from a path, under MPI_COMM_SELF; the input is put in
 *                      a memfd and named /proc/self/fd/N),
 * and the two must agree: the same return code and, on success, the same
 * canonical text. On success the derived quantities are exercised too:
 * kps_config_canonical and its hash, the point/line/bin counts and the
 * parameters of the first and the last line. A failure must come with a
 * non-empty, NUL-terminated message.
 *
 * Built only with -Dfuzz=true (clang; see docs/testing.md). Seeds:
 * tests/fuzz/corpus/config/, dictionary tests/fuzz/config.dict.
 */
#define _GNU_SOURCE
#include <mpi.h>
#include <sanitizer/common_interface_defs.h>
#include <sanitizer/lsan_interface.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kpsweep/config.h"
#include "kpsweep/model.h"

/* Larger inputs only repeat what smaller ones reach, more slowly. */
#define FUZZ_MAX_INPUT (64u * 1024u)

static int memfd = -1;
static char memfd_path[64];

/* Reports through the sanitizers' stream (libFuzzer's -close_fd_mask
 * closes stderr) with the stack, and aborts: libFuzzer keeps the input. */
static void fail(const char *what) {
  char msg[512];
  snprintf(msg, sizeof msg, "==%d==ERROR: fuzz_config: invariant violated: %s", (int)getpid(),
           what);
  __sanitizer_report_error_summary(msg);
  __sanitizer_print_stack_trace();
  abort();
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
  if (mpi_rc != MPI_SUCCESS) fail("MPI_Init failed");
  memfd = memfd_create("kps-fuzz-config", 0);
  if (memfd < 0) fail("memfd_create failed");
  snprintf(memfd_path, sizeof memfd_path, "/proc/self/fd/%d", memfd);
  return 0;
}

/* Writes the input into the memfd (replacing what it held). */
static void put_memfd(const uint8_t *data, size_t size) {
  if (ftruncate(memfd, 0) != 0) fail("ftruncate of the memfd failed");
  size_t off = 0;
  while (off < size) {
    ssize_t n = pwrite(memfd, data + off, size - off, (off_t)off);
    if (n <= 0) fail("pwrite to the memfd failed");
    off += (size_t)n;
  }
}

/* Touches everything a successful parse promises to the rest of kpsweep. */
static char *exercise(const kps_config *cfg) {
  if (!cfg->model) fail("a parsed config without a model");
  if (!cfg->text) fail("a parsed config without its text");
  char *canon = kps_config_canonical(cfg);
  if (!canon) fail("kps_config_canonical returned NULL");
  volatile uint64_t h = kps_hash64(canon, strlen(canon));
  (void)h;
  const size_t lines = kps_config_n_lines(cfg);
  const size_t points = kps_config_n_points(cfg);
  if (kps_config_n_param_points(cfg) < 1) fail("fewer than one parameter point");
  if (kps_config_n_bins(cfg) < 1) fail("fewer than one bin");
  (void)kps_attack_grid_bins(&cfg->attack);
  if (lines >= 1) {
    double p[KPS_MAX_PARAMS], L2 = 0.0;
    kps_config_line_params(cfg, 0, p, &L2);
    kps_config_line_params(cfg, lines - 1, p, &L2);
  }
  (void)points;
  return canon;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > FUZZ_MAX_INPUT) return -1; /* not added to the corpus */

  /* From memory. */
  kps_config a;
  kps_config_defaults(&a);
  char err[2048];
  memset(err, 'x', sizeof err);
  const kps_err rc_a = kps_config_parse(&a, memfd_path, (const char *)data, size, err,
                                        sizeof err);
  char *canon_a = NULL;
  if (rc_a == KPS_OK) {
    canon_a = exercise(&a);
  } else {
    if (!memchr(err, '\0', sizeof err)) fail("an error message without its NUL");
    if (!err[0]) fail("a failed parse with an empty message");
  }
  kps_config_destroy(&a);

  /* From a path, collectively on MPI_COMM_SELF. */
  put_memfd(data, size);
  kps_config b;
  kps_config_defaults(&b);
  const kps_err rc_b = kps_config_load(&b, memfd_path, MPI_COMM_SELF);
  if (rc_b != rc_a) {
    char what[128];
    snprintf(what, sizeof what, "kps_config_parse returned %d, kps_config_load %d", rc_a, rc_b);
    fail(what);
  }
  if (rc_b == KPS_OK) {
    char *canon_b = exercise(&b);
    if (strcmp(canon_a, canon_b) != 0) fail("parse and load give different canonical texts");
    free(canon_b);
  }
  kps_config_destroy(&b);
  free(canon_a);
  return 0;
}
