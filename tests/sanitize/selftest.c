/*
 * The sanitize lane's own check (tests/sanitize/selftest.py): a program that
 * does, on request, what the lane must catch and what it must let pass.
 *
 *   selftest leak   MPI_Init, leak a block allocated here, MPI_Finalize:
 *                   LeakSanitizer must report it (lsan.supp must not hide
 *                   leaks of kpsweep's own code, also under mpirun)
 *   selftest ubsan  a float-to-int conversion out of range: fatal
 *   selftest clean  MPI_Init, MPI-IO on a file, MPI_Finalize: everything
 *                   Open MPI leaks there must be suppressed
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *volatile sink;

__attribute__((noinline)) static void kps_selftest_own_leak(void) {
  char *p = malloc(48);
  if (p) snprintf(p, 48, "allocated by the project's own code");
  sink = p;
  sink = NULL; /* the only reference is gone: a leak */
}

__attribute__((noinline)) static int kps_selftest_cast(double x) { return (int)x; }

static int clean_mpi_io(const char *path) {
  MPI_File fh;
  int rank = 0, v = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (MPI_File_open(MPI_COMM_WORLD, path, MPI_MODE_CREATE | MPI_MODE_RDWR, MPI_INFO_NULL,
                    &fh) != MPI_SUCCESS)
    return 1;
  v = rank + 1;
  MPI_File_write_at_all(fh, (MPI_Offset)(rank * (int)sizeof v), &v, 1, MPI_INT,
                        MPI_STATUS_IGNORE);
  MPI_File_read_at_all(fh, (MPI_Offset)(rank * (int)sizeof v), &v, 1, MPI_INT,
                       MPI_STATUS_IGNORE);
  MPI_File_close(&fh);
  return v == rank + 1 ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: selftest leak|ubsan|clean [FILE]\n");
    return 2;
  }
  if (MPI_Init(&argc, &argv) != MPI_SUCCESS) return 1;
  int rc = 0;
  if (!strcmp(argv[1], "leak")) {
    kps_selftest_own_leak();
  } else if (!strcmp(argv[1], "ubsan")) {
    volatile double big = 1e300;
    rc = kps_selftest_cast(big) == 0 ? 0 : 0;
  } else if (!strcmp(argv[1], "clean")) {
    rc = argc > 2 ? clean_mpi_io(argv[2]) : 0;
  } else {
    rc = 2;
  }
  MPI_Finalize();
  return rc;
}
