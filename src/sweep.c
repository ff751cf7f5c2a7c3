/*
 * Master/worker scheduling of lines, collective flushes, signals and
 * resume. Protocol (all on a private duplicate of the caller's
 * communicator):
 *   worker -> master  TAG_REQUEST  report of the last chunk, asks for work
 *   master -> worker  TAG_WORK     a range [first, first+count) of lines
 *                     TAG_FLUSH    join a collective flush, then ask again
 *                     TAG_STOP     join the final flush and leave
 * Every reply answers exactly one request, so when a worker is told to
 * flush or stop it holds no unfinished work and the master knows exactly
 * which lines are complete. FLUSH and STOP go out only once every worker is
 * idle, so no rank waits in a collective (which spins) while another still
 * computes.
 */
#include "kpsweep/sweep.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "check.h"
#include "kpsweep/agree.h"
#include "kpsweep/line.h"
#include "kpsweep/progress.h"
#include "kpsweep/status.h"

enum kps_tag { TAG_REQUEST = 101, TAG_WORK = 102, TAG_FLUSH = 103, TAG_STOP = 104 };

/* Request flags. REQ_FAILED: a line could not be computed (an
 * infrastructure failure, not a failed solve); the run stops after saving
 * everything else and fails. */
enum { REQ_INTERRUPTED = 1, REQ_BATCH_FULL = 2, REQ_FAILED = 4 };

/* Request payload: flags, lines done, failed points, busy nanoseconds. */
enum { RQ_FLAGS, RQ_LINES, RQ_FAILED, RQ_BUSY_NS, RQ_LEN };

/*
 * Scheduling constants
 *   CHUNK_SECONDS   target compute time of one chunk
 *   TAIL_SHARE      a chunk never exceeds remaining / (TAIL_SHARE * workers),
 *                   so the last chunks shrink and no worker is left with a
 *                   long tail
 *   POLL_MIN_NS, POLL_MAX_NS   back-off of the master's idle wait (no busy
 *                   polling: the master must not take a worker's core)
 *   SPIN_NS         after a message, a rank probes without sleeping this long
 *                   before it naps: a reply or the next request of a short
 *                   chunk usually comes within microseconds, and a nap costs
 *                   at least the timer slack (measured: a 50 us spin left
 *                   one worker at 350 us per request, 200 us at 10 us)
 *   WORKER_MAX_NS   then sleeps in growing naps up to this long
 */
#define CHUNK_SECONDS 0.2
#define TAIL_SHARE 4
#define POLL_MIN_NS 20000L
#define POLL_MAX_NS 200000L
#define SPIN_NS 200000L
#define WORKER_MAX_NS 100000L

typedef struct sweep_ctx {
  const kps_config *cfg;
  const kps_sweep_options *opt;
  MPI_Comm comm;
  int rank, size;
  kps_writer *writer;
  kps_line_worker *lw;
  kps_batch *batch;
  size_t batch_cap;        /* lines a rank buffers before it asks for a flush */
  uint64_t n_lines, n_tau;
  kps_err compute_rc;      /* first failure to compute a line on this rank */
  int flush_failed;        /* a flush failed: agreed by every rank */
  double busy_s, flush_s, lines_mine;
  uint64_t solves[2];      /* /points/n_solves of the lines computed here: sum, points */
} sweep_ctx;

static void sleep_ns(long ns) {
  struct timespec ts = {0, ns};
  nanosleep(&ts, NULL);
}

static int stop_requested(const sweep_ctx *c) { return c->opt->stop && *c->opt->stop; }

static uint64_t count_failed(const kps_batch *b, size_t row) {
  const int8_t *st = kps_batch_i8((kps_batch *)b, F_STATUS, row);
  uint64_t n = 0;
  for (size_t j = 0; j < b->n_tau; ++j)
    if (kps_status_is_failure(st[j])) ++n;
  return n;
}

/* Adds the evaluations a line's points record, and those points, to acc
 * (-1: none made, invalid parameters). */
static void count_solves(const kps_batch *b, size_t row, uint64_t acc[2]) {
  const int32_t *n = kps_batch_i32((kps_batch *)b, F_N_SOLVES, row);
  for (size_t j = 0; j < b->n_tau; ++j)
    if (n[j] >= 0) acc[0] += (uint64_t)n[j], ++acc[1];
}

/*
 * Computes lines [first, first+count) into the batch; stops early on a
 * signal or at a line that cannot be computed (kept in c->compute_rc: the
 * protocol goes on so that the lines already done are saved).
 */
static void compute_range(sweep_ctx *c, uint64_t first, uint64_t count, uint64_t *done,
                          uint64_t *failed) {
  const double t0 = kps_now();
  *done = 0;
  for (uint64_t l = first; l < first + count && c->compute_rc == KPS_OK; ++l) {
    if (stop_requested(c)) break;
    c->compute_rc = kps_line_compute(c->lw, l, c->batch);
    if (c->compute_rc != KPS_OK) {
      /* A partial row may be left: it is written but never marked done. */
      break;
    }
    *failed += count_failed(c->batch, c->batch->n_lines - 1);
    count_solves(c->batch, c->batch->n_lines - 1, c->solves);
    ++*done;
  }
  c->busy_s += kps_now() - t0;
  c->lines_mine += (double)*done;
}

static kps_err flush(sweep_ctx *c, const uint64_t *ranges, size_t n_ranges, int final) {
  kps_err rc = KPS_OK;
  double t0 = kps_now();
  /* The collective write waits for the slowest rank anyway; meeting first
   * keeps that wait out of the time charged to HDF5. */
  KPS_CHECK_MPI(MPI_Barrier(c->comm));
  t0 = kps_now();
  rc = kps_writer_flush(c->writer, c->batch, ranges, n_ranges, final);
  if (rc != KPS_OK) {
    c->flush_failed = 1;
    goto cleanup;
  }
  kps_batch_clear(c->batch);
cleanup:
  c->flush_s += kps_now() - t0;
  return rc;
}

/*
 * Lines per chunk from the measured time per line, never more than the room
 * left in the receiving rank's batch (`room` >= 1), so no rank buffers more
 * than batch_cap lines between flushes.
 */
static uint64_t chunk_size(const sweep_ctx *c, double t_line, uint64_t remaining, int workers,
                           uint64_t room) {
  double want = (double)c->cfg->run.chunk;
  if (c->cfg->run.chunk <= 0) {
    want = t_line > 0 ? CHUNK_SECONDS / t_line : 1.0;
    const double cap = fmax(1.0, (double)remaining / (double)(TAIL_SHARE * workers));
    if (want > cap) want = cap;
  }
  if (want > (double)room) want = (double)room;
  return want < 1.0 ? 1 : (uint64_t)want;
}

/* Work bookkeeping of the master: done map, next line, ranges since the last flush. */
typedef struct plan_state {
  uint8_t *done;     /* bit map of finished lines: O(lines) bits, master only */
  uint64_t next;     /* lowest line never handed out */
  uint64_t *ranges;  /* pairs (first, count) completed since the last flush */
  size_t n_ranges, cap_ranges;
  uint64_t lines_done, failed;
  uint64_t lines_saved; /* lines marked done in the file */
  double t_line;     /* exponential average of seconds per line */
} plan_state;

static int is_done(const plan_state *ps, uint64_t l) {
  return (ps->done[l / 8] >> (l % 8)) & 1u;
}

static int next_range(plan_state *ps, uint64_t n_lines, uint64_t want, uint64_t *first,
                      uint64_t *count) {
  while (ps->next < n_lines && is_done(ps, ps->next)) ++ps->next;
  if (ps->next >= n_lines) return 0;
  *first = ps->next;
  uint64_t k = 0;
  while (k < want && ps->next < n_lines && !is_done(ps, ps->next)) ++k, ++ps->next;
  *count = k;
  return 1;
}

static kps_err commit_range(plan_state *ps, uint64_t first, uint64_t count) {
  kps_err rc = KPS_OK;
  if (count == 0) return KPS_OK;
  if (ps->n_ranges == ps->cap_ranges) {
    size_t cap = ps->cap_ranges ? 2 * ps->cap_ranges : 64;
    uint64_t *r = realloc(ps->ranges, sizeof(uint64_t) * 2 * cap);
    KPS_CHECK_ALLOC(r);
    ps->ranges = r;
    ps->cap_ranges = cap;
  }
  ps->ranges[2 * ps->n_ranges] = first;
  ps->ranges[2 * ps->n_ranges + 1] = count;
  ++ps->n_ranges;
  for (uint64_t l = first; l < first + count; ++l) ps->done[l / 8] |= (uint8_t)(1u << (l % 8));
  ps->lines_done += count;
cleanup:
  return rc;
}

/* Ranges must reach the writer sorted so the done map is written in order. */
static int cmp_range(const void *a, const void *b) {
  const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static kps_err master_flush(sweep_ctx *c, plan_state *ps, int final) {
  /* ranges is NULL while nothing was computed (qsort's array must not be). */
  if (ps->n_ranges > 1) qsort(ps->ranges, ps->n_ranges, 2 * sizeof(uint64_t), cmp_range);
  kps_err rc = flush(c, ps->ranges, ps->n_ranges, final);
  for (size_t k = 0; rc == KPS_OK && k < ps->n_ranges; ++k) ps->lines_saved += ps->ranges[2 * k + 1];
  ps->n_ranges = 0;
  return rc;
}

static kps_err run_serial(sweep_ctx *c, plan_state *ps, kps_progress *pg, int *interrupted) {
  kps_err rc = KPS_OK;
  double next_flush = kps_now() + c->cfg->run.checkpoint_every;
  uint64_t first, count;
  while (!stop_requested(c) && c->compute_rc == KPS_OK &&
         next_range(ps, c->n_lines,
                    chunk_size(c, ps->t_line, c->n_lines - ps->next, 1,
                               c->batch_cap - c->batch->n_lines),
                    &first, &count)) {
    uint64_t done = 0;
    const double t0 = kps_now();
    compute_range(c, first, count, &done, &ps->failed);
    if (done) ps->t_line = (kps_now() - t0) / (double)done;
    KPS_CHECK(commit_range(ps, first, done));
    kps_progress_update(pg, ps->lines_done * c->n_tau, ps->failed, 0);
    if ((kps_now() >= next_flush && ps->n_ranges > 0) || c->batch->n_lines >= c->batch_cap) {
      KPS_CHECK(master_flush(c, ps, 0));
      next_flush = kps_now() + c->cfg->run.checkpoint_every;
    }
  }
  *interrupted = stop_requested(c) && ps->lines_done < c->n_lines;
  KPS_CHECK(master_flush(c, ps, 1));
cleanup:
  return rc;
}

static kps_err master_send(sweep_ctx *c, int dest, int tag, uint64_t first, uint64_t count) {
  kps_err rc = KPS_OK;
  uint64_t msg[2] = {first, count};
  KPS_CHECK_MPI(MPI_Send(msg, 2, MPI_UINT64_T, dest, tag, c->comm));
cleanup:
  return rc;
}

/* What an idle worker waits for. */
enum { IDLE_NO = 0, IDLE_FLUSH = 1, IDLE_DONE = 2 };

static kps_err run_master(sweep_ctx *c, plan_state *ps, kps_progress *pg, int *interrupted,
                          uint64_t *messages) {
  kps_err rc = KPS_OK;
  const int workers = c->size - 1;
  uint64_t *assigned = calloc((size_t)c->size * 2, sizeof(uint64_t));
  uint64_t *buffered = calloc((size_t)c->size, sizeof(uint64_t)); /* lines since the last flush */
  uint8_t *idle = calloc((size_t)c->size, 1);
  KPS_CHECK_ALLOC(assigned);
  KPS_CHECK_ALLOC(buffered);
  KPS_CHECK_ALLOC(idle);
  int n_flush = 0, n_done = 0, stopping = 0, flush_wanted = 0, finished = 0;
  double next_flush = kps_now() + c->cfg->run.checkpoint_every;
  long poll = POLL_MIN_NS;
  double spin_until = kps_now() + 1e-9 * SPIN_NS;
  while (!finished) {
    int have = 0;
    MPI_Status st;
    KPS_CHECK_MPI(MPI_Iprobe(MPI_ANY_SOURCE, TAG_REQUEST, c->comm, &have, &st));
    if (stop_requested(c)) stopping = 1;
    kps_progress_update(pg, ps->lines_done * c->n_tau, ps->failed, 0);
    if (!have) {
      if (kps_now() < spin_until) continue;
      sleep_ns(poll);
      poll = poll * 2 > POLL_MAX_NS ? POLL_MAX_NS : poll * 2;
      continue;
    }
    poll = POLL_MIN_NS;
    spin_until = kps_now() + 1e-9 * SPIN_NS;
    uint64_t rq[RQ_LEN];
    const int w = st.MPI_SOURCE;
    KPS_CHECK_MPI(MPI_Recv(rq, RQ_LEN, MPI_UINT64_T, w, TAG_REQUEST, c->comm, MPI_STATUS_IGNORE));
    ++*messages;
    KPS_CHECK(commit_range(ps, assigned[2 * w], rq[RQ_LINES]));
    assigned[2 * w] = assigned[2 * w + 1] = 0;
    buffered[w] += rq[RQ_LINES];
    if (buffered[w] >= c->batch_cap) flush_wanted = 1;
    ps->failed += rq[RQ_FAILED];
    if (rq[RQ_LINES] > 0) {
      const double t = 1e-9 * (double)rq[RQ_BUSY_NS] / (double)rq[RQ_LINES];
      ps->t_line = ps->t_line > 0 ? 0.7 * ps->t_line + 0.3 * t : t;
    }
    if (rq[RQ_FLAGS] & (REQ_INTERRUPTED | REQ_FAILED)) stopping = 1;
    if (rq[RQ_FLAGS] & REQ_BATCH_FULL) flush_wanted = 1;

    uint64_t first = 0, count = 0;
    const uint64_t remaining = c->n_lines - ps->next;
    /* A timed checkpoint only when something was computed since the last. */
    const int due = kps_now() >= next_flush && ps->n_ranges > 0;
    if (!stopping && (flush_wanted || due)) {
      idle[w] = IDLE_FLUSH, ++n_flush;
    } else if (!stopping &&
               next_range(ps, c->n_lines,
                          chunk_size(c, ps->t_line, remaining, workers, c->batch_cap - buffered[w]),
                          &first, &count)) {
      assigned[2 * w] = first;
      assigned[2 * w + 1] = count;
      KPS_CHECK(master_send(c, w, TAG_WORK, first, count));
    } else {
      idle[w] = IDLE_DONE, ++n_done;
    }
    if (n_flush + n_done < workers) continue;
    /* Every worker is idle (sleeping in worker_wait, not spinning in a
     * collective): all meet in the flush now. Once any worker found no work
     * left, nobody has any, and the flush is the final one. */
    finished = n_done > 0;
    for (int v = 1; v < c->size; ++v)
      if (idle[v]) KPS_CHECK(master_send(c, v, finished ? TAG_STOP : TAG_FLUSH, 0, 0));
    memset(idle, 0, (size_t)c->size);
    memset(buffered, 0, sizeof(uint64_t) * (size_t)c->size);
    n_flush = n_done = 0;
    flush_wanted = 0;
    if (!finished) {
      KPS_CHECK(master_flush(c, ps, 0));
      next_flush = kps_now() + c->cfg->run.checkpoint_every;
    }
  }
  *interrupted = ps->lines_done < c->n_lines && stopping;
  KPS_CHECK(master_flush(c, ps, 1));
cleanup:
  free(assigned);
  free(buffered);
  free(idle);
  return rc;
}

/* Waits for the master's reply without spinning a core. */
static kps_err worker_wait(sweep_ctx *c, MPI_Status *st) {
  kps_err rc = KPS_OK;
  long poll = POLL_MIN_NS;
  const double spin_until = kps_now() + 1e-9 * SPIN_NS;
  for (;;) {
    int have = 0;
    KPS_CHECK_MPI(MPI_Iprobe(0, MPI_ANY_TAG, c->comm, &have, st));
    if (have) break;
    if (kps_now() < spin_until) continue;
    sleep_ns(poll);
    poll = poll * 2 > WORKER_MAX_NS ? WORKER_MAX_NS : poll * 2;
  }
cleanup:
  return rc;
}

static kps_err run_worker(sweep_ctx *c) {
  kps_err rc = KPS_OK;
  uint64_t rq[RQ_LEN] = {0};
  for (;;) {
    rq[RQ_FLAGS] = (stop_requested(c) ? REQ_INTERRUPTED : 0) |
                   (c->batch->n_lines >= c->batch_cap ? REQ_BATCH_FULL : 0) |
                   (c->compute_rc != KPS_OK ? REQ_FAILED : 0);
    KPS_CHECK_MPI(MPI_Send(rq, RQ_LEN, MPI_UINT64_T, 0, TAG_REQUEST, c->comm));
    memset(rq, 0, sizeof rq);
    MPI_Status st;
    KPS_CHECK(worker_wait(c, &st));
    uint64_t msg[2];
    KPS_CHECK_MPI(MPI_Recv(msg, 2, MPI_UINT64_T, 0, st.MPI_TAG, c->comm, MPI_STATUS_IGNORE));
    if (st.MPI_TAG == TAG_WORK) {
      const double t0 = kps_now();
      compute_range(c, msg[0], msg[1], &rq[RQ_LINES], &rq[RQ_FAILED]);
      rq[RQ_BUSY_NS] = (uint64_t)(1e9 * (kps_now() - t0));
    } else if (st.MPI_TAG == TAG_FLUSH) {
      KPS_CHECK(flush(c, NULL, 0, 0));
    } else if (st.MPI_TAG == TAG_STOP) {
      KPS_CHECK(flush(c, NULL, 0, 1));
      break;
    } else {
      KPS_FAIL(KPS_ERR_INTERNAL, "unexpected message tag %d", st.MPI_TAG);
    }
  }
cleanup:
  return rc;
}

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
         (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}

static size_t bytes_per_line(const kps_config *cfg) {
  const kps_dims d = kps_config_dims(cfg);
  return kps_fields_bytes_per_line(&d) + sizeof(uint64_t);
}

kps_err kps_sweep_run(const kps_config *cfg, const kps_sweep_options *opt, MPI_Comm comm,
                      kps_sweep_summary *sum) {
  kps_err rc = KPS_OK, agreed = KPS_OK;
  sweep_ctx c = {.cfg = cfg, .opt = opt, .comm = MPI_COMM_NULL};
  plan_state ps = {0};
  double *per_rank = NULL;
  char *host_names = NULL;
  const char **hosts = NULL;
  int resumed = 0, interrupted = 0, in_step = 1;
  uint64_t messages = 0;
  memset(sum, 0, sizeof *sum);
  const double t_start = kps_now();
  const double epoch_start = kps_epoch_now();
  const double cpu0 = cpu_seconds();

  KPS_CHECK_MPI(MPI_Comm_dup(comm, &c.comm));
  KPS_CHECK_MPI(MPI_Comm_set_errhandler(c.comm, MPI_ERRORS_RETURN));
  KPS_CHECK_MPI(MPI_Comm_rank(c.comm, &c.rank));
  KPS_CHECK_MPI(MPI_Comm_size(c.comm, &c.size));
  c.n_lines = kps_config_n_lines(cfg);
  c.n_tau = cfg->tau2.n;
  c.batch_cap = (size_t)fmax(1.0, 0.5e6 * cfg->run.memory_limit_mb / (double)bytes_per_line(cfg));

  /* Local set-up first, agreed, so no rank enters the open alone. */
  kps_err local = KPS_OK;
  if (c.rank == 0 && !(ps.done = calloc((c.n_lines + 7) / 8 + 1, 1))) local = KPS_ERR_NOMEM;
  const kps_dims dims = kps_config_dims(cfg);
  if (local == KPS_OK)
    local = kps_batch_create(&dims, c.batch_cap < 64 ? c.batch_cap : 64, &c.batch);
  if (local == KPS_OK && (c.size == 1 || c.rank > 0)) local = kps_line_worker_create(cfg, &c.lw);
  /* The record's per-rank counts: allocated here, where a failure is agreed,
   * not before the gathers, which the other ranks would wait in for ever. */
  if (local == KPS_OK && (!(per_rank = calloc((size_t)c.size * 3, sizeof(double))) ||
                          !(host_names = calloc((size_t)c.size, MPI_MAX_PROCESSOR_NAME)) ||
                          !(hosts = calloc((size_t)c.size, sizeof *hosts))))
    local = KPS_ERR_NOMEM;
  KPS_CHECK(kps_agree(c.comm, local, &agreed));
  if (agreed != KPS_OK) KPS_FAIL(agreed, "setting up the sweep failed");

  const double t_open = kps_now();
  KPS_CHECK(kps_writer_open(cfg, opt->output, opt->mode, c.comm, ps.done, &c.writer, &resumed));
  c.flush_s += kps_now() - t_open;
  if (c.rank == 0)
    for (uint64_t l = 0; l < c.n_lines; ++l) ps.lines_done += (uint64_t)is_done(&ps, l);
  const uint64_t at_start = ps.lines_done;
  ps.lines_saved = at_start;
  /* After the open: a refused file gets its message alone. */
  if (c.rank == 0 && !opt->quiet)
    fprintf(stderr, "[kpsweep] %s: %zu points in %llu line%s on %d rank%s -> %s%s\n", cfg->name,
            kps_config_n_points(cfg), (unsigned long long)c.n_lines, c.n_lines == 1 ? "" : "s",
            c.size, c.size > 1 ? "s" : "", opt->output, resumed ? " (resumed)" : "");

  kps_progress pg;
  kps_progress_init(&pg, c.n_lines * c.n_tau, at_start * c.n_tau, cfg->run.progress_every,
                    opt->quiet || c.rank != 0);
  if (c.size == 1) local = run_serial(&c, &ps, &pg, &interrupted);
  else if (c.rank == 0) local = run_master(&c, &ps, &pg, &interrupted, &messages);
  else local = run_worker(&c);
  /* A failed flush was agreed, and a line that could not be computed was
   * reported through the protocol: every rank then left its loop at the
   * same point. Any other failure of a loop (an MPI call, memory for the
   * bookkeeping) was this rank's alone. */
  if (local != KPS_OK && !c.flush_failed) {
    in_step = 0;
    KPS_FAIL(local, "the master/worker protocol broke down on rank %d", c.rank);
  }
  if (local == KPS_OK) local = c.compute_rc;
  KPS_CHECK(kps_agree(c.comm, local, &agreed));
  if (agreed != KPS_OK) {
    /* The failure is known to all; what was flushed stays resumable. */
    rc = agreed;
    if (c.rank == 0)
      fprintf(stderr, "kpsweep: error: the run stopped after a failure; %llu of %llu lines are "
              "saved in %s (continue with --resume)\n",
              (unsigned long long)ps.lines_saved, (unsigned long long)c.n_lines, opt->output);
    goto cleanup;
  }
  if (c.rank == 0) kps_progress_update(&pg, ps.lines_done * c.n_tau, ps.failed, 1);

  /* Everyone learns the outcome and the per-rank counts for the record. */
  KPS_CHECK_MPI(MPI_Bcast(&interrupted, 1, MPI_INT, 0, c.comm));
  double *lines_r = per_rank, *busy_r = per_rank + c.size, *hdf5_r = per_rank + 2 * c.size;
  KPS_CHECK_MPI(MPI_Allgather(&c.lines_mine, 1, MPI_DOUBLE, lines_r, 1, MPI_DOUBLE, c.comm));
  KPS_CHECK_MPI(MPI_Allgather(&c.busy_s, 1, MPI_DOUBLE, busy_r, 1, MPI_DOUBLE, c.comm));
  KPS_CHECK_MPI(MPI_Allgather(&c.flush_s, 1, MPI_DOUBLE, hdf5_r, 1, MPI_DOUBLE, c.comm));
  char me[MPI_MAX_PROCESSOR_NAME] = "";
  int me_len = 0;
  KPS_CHECK_MPI(MPI_Get_processor_name(me, &me_len));
  KPS_CHECK_MPI(MPI_Gather(me, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, host_names, MPI_MAX_PROCESSOR_NAME,
                           MPI_CHAR, 0, c.comm));
  for (int r = 0; r < c.size; ++r) {
    host_names[(size_t)(r + 1) * MPI_MAX_PROCESSOR_NAME - 1] = '\0';
    hosts[r] = host_names + (size_t)r * MPI_MAX_PROCESSOR_NAME;
  }
  double flush_max = 0.0, busy_total = 0.0;
  KPS_CHECK_MPI(MPI_Allreduce(&c.flush_s, &flush_max, 1, MPI_DOUBLE, MPI_MAX, c.comm));
  KPS_CHECK_MPI(MPI_Allreduce(&c.busy_s, &busy_total, 1, MPI_DOUBLE, MPI_SUM, c.comm));
  uint64_t solves[2] = {0, 0};
  KPS_CHECK_MPI(MPI_Allreduce(c.solves, solves, 2, MPI_UINT64_T, MPI_SUM, c.comm));
  uint64_t counts[3] = {ps.lines_done, ps.failed, at_start};
  KPS_CHECK_MPI(MPI_Bcast(counts, 3, MPI_UINT64_T, 0, c.comm));
  double times[2] = {epoch_start, kps_epoch_now()};
  KPS_CHECK_MPI(MPI_Bcast(times, 2, MPI_DOUBLE, 0, c.comm));
  kps_run_record rec = {
      .start_time = times[0],
      .end_time = times[1],
      .complete = counts[0] == c.n_lines,
      .interrupted = interrupted,
      .n_ranks = c.size,
      .rank_lines = lines_r,
      .rank_busy_s = busy_r,
      .rank_hdf5_s = hdf5_r,
      .hosts = hosts,
      .hdf5_seconds = flush_max,
      .lines_done = counts[0],
      .lines_computed = (double)(counts[0] - counts[2]),
  };
  const double t_close = kps_now();
  KPS_CHECK(kps_writer_close(&c.writer, &rec));
  flush_max += kps_now() - t_close;

  sum->lines_total = c.n_lines;
  sum->lines_done = counts[0];
  sum->lines_resumed = counts[2];
  sum->points_failed = counts[1];
  sum->wall_seconds = kps_now() - t_start;
  sum->hdf5_seconds = flush_max;
  sum->busy_seconds = busy_total;
  sum->interrupted = interrupted;
  sum->resumed = resumed;
  sum->master_seconds = cpu_seconds() - cpu0;
  sum->messages = messages;
  sum->solves = solves[0];
  sum->points_solved = solves[1];
  if (interrupted) rc = KPS_ERR_INTERRUPTED;
cleanup:
  /* After a broken protocol the ranks are not in step, and closing the
   * file or freeing the communicator (both collective) could wait for
   * ever: leave them to the caller, who must abort. Every other failure
   * was agreed on, so all ranks are here. */
  if (rc == KPS_ERR_MPI) in_step = 0;
  if (in_step || c.size == 1) {
    kps_writer_abort(&c.writer);
    if (c.comm != MPI_COMM_NULL) MPI_Comm_free(&c.comm);
  }
  kps_batch_destroy(&c.batch);
  kps_line_worker_destroy(&c.lw);
  free(ps.done);
  free(ps.ranges);
  free(per_rank);
  free(host_names);
  free(hosts);
  return rc;
}
