/*
 * The results file: one HDF5 file opened with MPI-IO by every rank.
 * Layout (docs/output.md):
 *   /axes/<param>..., /axes/L2, /axes/tau2   dimension scales
 *   /points/<field>   shape (axes..., L2, tau2)
 *   /lines/<field>    shape (axes..., L2)
 *   /progress/line_done  uint8 per line, 1 once the line is in the file
 * and provenance attributes on the root group. All datasets are created
 * collectively up front from the plan; later writes are collective.
 */
#ifndef KPSWEEP_WRITER_H
#define KPSWEEP_WRITER_H

#include <mpi.h>
#include <stdint.h>

#include "kpsweep/config.h"
#include "kpsweep/results.h"

typedef struct kps_writer kps_writer;

typedef enum kps_open_mode {
  KPS_OPEN_NEW = 0,    /* fail when the file exists */
  KPS_OPEN_FORCE = 1,  /* replace an existing file */
  KPS_OPEN_RESUME = 2  /* continue an existing file made from the same config */
} kps_open_mode;

/*
 * Creates (or, for RESUME, opens and checks) the results file. For RESUME
 * of a file that does not exist, creates it. Sets *resumed to 1 when an
 * existing file was opened. Collective on comm.
 */
kps_err kps_writer_open(const kps_config *cfg, const char *path, kps_open_mode mode,
                        MPI_Comm comm, kps_writer **out, int *resumed);

/*
 * Reads /progress/line_done on rank `root` into a bit map (bit l % 8 of
 * byte l / 8 set when line l is done; (n_lines + 7) / 8 bytes), in blocks so
 * that no byte-per-line copy is held; other ranks pass NULL. Collective on
 * the writer's communicator.
 */
kps_err kps_writer_read_done(kps_writer *w, int root, uint8_t *bits);

/*
 * Writes the lines held in b (rows sorted by line id; b may be NULL or
 * empty) and then marks complete the lines of n_ranges ranges
 * (ranges[2k] = first line, ranges[2k+1] = count; usually only the master
 * passes any). A checkpoint (final = 0) also flushes the file to disk; the
 * final flush leaves that to kps_writer_close. Collective.
 */
kps_err kps_writer_flush(kps_writer *w, const kps_batch *b, const uint64_t *ranges,
                         size_t n_ranges, int final);

/* Provenance recorded when the run ends. */
typedef struct kps_run_record {
  double start_time, end_time; /* seconds since the epoch */
  int complete;                /* every line done */
  int interrupted;             /* stopped by a signal */
  int n_ranks;
  const double *rank_lines;    /* per-rank line counts, n_ranks (same on all ranks) */
  const double *rank_busy_s;   /* per-rank compute seconds, n_ranks */
  double hdf5_seconds;         /* time spent in flushes on rank 0 */
  uint64_t lines_done;
  double lines_computed;       /* lines computed by this run (not resumed ones) */
} kps_run_record;

/* Writes the run record as attributes and closes the file. Collective. */
kps_err kps_writer_close(kps_writer **w, const kps_run_record *rec);

/* Closes without writing a record (error paths). Collective. */
void kps_writer_abort(kps_writer **w);

#endif
