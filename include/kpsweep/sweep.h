/*
 * The distributed sweep: rank 0 is the master, which hands out chunks of
 * consecutive lines on demand, sized from measured line times, up to three
 * per worker so that a worker never waits for its next one. The writers
 * (run.writers = G: rank 0 when G = 1, ranks 1..G otherwise) alone open the
 * results file; the other ranks compute lines and send their rows to a writer while they
 * compute the next ones. With one rank the same loop runs in-process
 * (compute, then write). The writers write collectively every
 * checkpoint_every seconds, when one's buffer is full, and at the end;
 * each write records its lines as done in the file, so a killed or
 * signalled run can be resumed. See docs/cluster.md and docs/scaling.md.
 */
#ifndef KPSWEEP_SWEEP_H
#define KPSWEEP_SWEEP_H

#include <signal.h>
#include <stdint.h>

#include "kpsweep/config.h"
#include "kpsweep/writer.h"

typedef struct kps_sweep_options {
  const char *output;            /* results file */
  kps_open_mode mode;            /* new, force or resume */
  int quiet;                     /* no progress lines */
  volatile sig_atomic_t *stop;   /* set by SIGTERM/SIGUSR1 handlers; may be NULL */
} kps_sweep_options;

typedef struct kps_sweep_summary {
  uint64_t lines_total, lines_done, lines_resumed;
  uint64_t points_failed;
  double wall_seconds;
  double hdf5_seconds;    /* the slowest writer's seconds in HDF5 (open, writes, close) */
  double busy_seconds;    /* the workers' seconds computing lines */
  /* The workers' seconds lost to output: waiting for the file to be
   * created, for a send buffer, and for the last write and the close
   * (in-process: every second in HDF5). */
  double stall_seconds;
  double wait_seconds;    /* the workers' seconds holding no range (waiting for work) */
  int workers, writers;
  int in_process;         /* one rank: computed and wrote in turn */
  int interrupted, resumed;
  double master_seconds;  /* CPU time of the master process */
  uint64_t messages;      /* work requests served by the master */
  /* Steady-state evaluations of the lines computed by this run (the sum of
   * their /points/n_solves), and their points that made any (not invalid). */
  uint64_t solves, points_solved;
  /* The writers' flushes that held rows (collective: counted once), the
   * file blocks those rows filled and the H5Dwrite calls made for them,
   * summed over the writers. */
  uint64_t writes, write_boxes, write_calls;
} kps_sweep_summary;

/*
 * Runs the sweep of cfg into opt->output. Returns KPS_OK when every line is
 * done, KPS_ERR_INTERRUPTED when a signal stopped it after a final flush,
 * or an error. A line that cannot be computed on one rank stops the run
 * after everything else computed is saved; a failed flush is agreed by
 * all ranks. Both return the same error on every rank, with the file
 * closed and resumable. Only a failure of the master/worker protocol
 * itself (an MPI call) can leave ranks out of step: it returns
 * KPS_ERR_MPI (or the failing rank's code) with the file and the
 * duplicated communicator left open, and the caller must abort (main's
 * timed agreement on the exit status does). The summary is valid on
 * rank 0. Collective on comm.
 */
kps_err kps_sweep_run(const kps_config *cfg, const kps_sweep_options *opt, MPI_Comm comm,
                      kps_sweep_summary *sum);

#endif
