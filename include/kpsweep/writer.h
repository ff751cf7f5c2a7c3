/*
 * The results file: one HDF5 file opened with MPI-IO by the writer ranks
 * (the communicator given to kps_writer_open; the sweep passes its writer
 * ranks, docs/scaling.md).
 * Layout (docs/output.md):
 *   /axes/<param>..., /axes/L2, /axes/tau2   dimension scales
 *   /points/<field>   shape (axes..., L2, tau2)
 *   /lines/<field>    shape (axes..., L2)
 *   /progress/line_done  uint8 per line, 1 once the line is in the file
 * and provenance attributes on the root group. Rank 0 creates every dataset
 * up front from the plan (with its disk space); the ranks of comm then
 * write into it collectively.
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
 * Opens the results file for the run, in three agreed steps:
 *  1. rank 0 alone follows a symbolic link at path to the file it leads to,
 *     refuses what cannot be a results file there (not a regular file, a
 *     path MPI-IO cannot open: KPS_ERR_USAGE) and takes the output lock (a
 *     second writer is refused with KPS_ERR_LOCKED, naming the running job);
 *  2. rank 0 alone checks an existing file (RESUME: same configuration,
 *     every dataset of the plan's shape; its progress map goes to
 *     done_bits) or creates the layout under PATH.part, after checking the
 *     free space, and renames it into place (NEW, FORCE, RESUME of a
 *     missing file or of a stub left by an interrupted creation);
 *  3. every rank of comm opens it with MPI-IO.
 * run_ranks: the ranks of the whole run (recorded as n_ranks_created and
 * sizing the room kept for the run record), which may be more than comm's.
 * done_bits: on rank 0 a buffer of (n_lines + 7) / 8 bytes, filled with the
 * lines already done (bit l % 8 of byte l / 8) and zeroed for a new file;
 * NULL elsewhere. Sets *resumed when an existing file was continued.
 * Collective; every rank returns the same code, and after a failure
 * nothing is left open and no existing file was changed.
 */
kps_err kps_writer_open(const kps_config *cfg, const char *path, kps_open_mode mode,
                        MPI_Comm comm, int run_ranks, uint8_t *done_bits, kps_writer **out,
                        int *resumed);

/*
 * As kps_writer_open, but a lone writer (comm of one rank) that creates a
 * new file does it on a thread of its own, which calls no MPI (the
 * program runs under MPI_THREAD_FUNNELED; below that it creates the file
 * before returning): the lock, the checks and the space claim are done
 * when this returns, the layout is written while the caller computes, and
 * the caller makes no HDF5 call until kps_writer_finish. Collective.
 */
kps_err kps_writer_open_async(const kps_config *cfg, const char *path, kps_open_mode mode,
                              MPI_Comm comm, int run_ranks, uint8_t *done_bits, kps_writer **out,
                              int *resumed);

/* Whether the file of kps_writer_open_async is created (always 1 for one
 * opened otherwise). Not collective; never waits. */
int kps_writer_ready(const kps_writer *w);

/*
 * Waits for the creation of kps_writer_open_async and opens the file for
 * writing; *hdf5_s is the time both took in HDF5 (0 when nothing was
 * pending). On failure (said on stderr) the caller aborts the writer.
 * Collective over the writer's communicator (one rank).
 */
kps_err kps_writer_finish(kps_writer *w, double *hdf5_s);

/* Waits for a creation still running, and nothing else (no MPI, no HDF5):
 * for a caller that must leave the writer as it is (its ranks out of step)
 * but may not leave the thread running. Accepts NULL. Not collective. */
void kps_writer_join(kps_writer *w);

/* Estimated size in bytes of the results file of cfg (generous). Not collective. */
double kps_writer_file_bytes(const kps_config *cfg);

/*
 * Whether a new results file of cfg is filled whole at its creation
 * (run.fill: all, or auto for a file up to KPS_FILL_ALL_MAX_BYTES or with
 * compression) rather than only in /points/status (run.fill: status). Not
 * collective.
 */
int kps_writer_fills_whole(const kps_config *cfg);

/*
 * Checks that path (as given: a relative path counts as written) can name
 * the results file: short enough for the MPI-IO library (Open MPI 4's
 * crashes on paths of more than about 240 characters) and a last
 * component that leaves room for ".part" and ".lock". Returns
 * KPS_ERR_USAGE, with a message on stderr when `report`. Not collective.
 */
kps_err kps_writer_path_check(const char *path, int report);

/*
 * Compares the estimated file size (*need) with the free space of the file
 * system that will hold path (*avail; -1 when unknown). Returns
 * KPS_ERR_LIMIT when it does not fit, without printing. Not collective.
 */
kps_err kps_writer_space_check(const kps_config *cfg, const char *path, double *need,
                               double *avail);

/*
 * Writes the lines held in b (rows sorted by line id; b may be NULL or
 * empty) and then marks complete the lines of n_ranges ranges
 * (ranges[2k] = first line, ranges[2k+1] = count; each rank passes the
 * ranges of rows it holds, here or in an earlier flush). A checkpoint (final = 0) also flushes the file to disk; the
 * final flush leaves that to kps_writer_close. Only preallocated bytes are
 * overwritten. Collective; the outcome is agreed (every rank returns the
 * same code) and the progress map is written only when the data was.
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
  const double *rank_hdf5_s;   /* per-rank seconds in HDF5 (0 on ranks that are not writers) */
  const char *const *hosts;    /* per-rank host names, n_ranks (needed on rank 0 only) */
  double hdf5_seconds;         /* the slowest writer's seconds in HDF5 */
  uint64_t lines_done;
  double lines_computed;       /* lines computed by this run (not resumed ones) */
} kps_run_record;

/* What one writer's flushes cost in calls: for the benchmarks and the
 * run's summary line. */
typedef struct kps_write_counts {
  uint64_t writes;  /* flushes that held rows of any writer (collective: the same on each) */
  uint64_t boxes;   /* blocks of the file (hyperslab boxes) those rows filled */
  uint64_t calls;   /* H5Dwrite calls for the data, empty parts of collective ones too */
} kps_write_counts;

/* This writer's counts so far (zeros for NULL). Not collective. */
void kps_writer_get_counts(const kps_writer *w, kps_write_counts *out);

/*
 * Closes the parallel handle, then rank 0 writes the run record (serially)
 * and releases the lock: the last run's as root attributes, and one more
 * row of the run history (/history/runs, and per rank /history/ranks). Collective; the outcome is
 * agreed. *w is NULL afterwards in every case.
 */
kps_err kps_writer_close(kps_writer **w, const kps_run_record *rec);

/* Closes without a record and releases the lock (after an agreed failure,
 * or when the run stops early). Collective. */
void kps_writer_abort(kps_writer **w);

#endif
