/*
 * Master/worker scheduling of lines, writer ranks, signals and resume.
 * Rank 0 is the master. The G writers (run.writers) alone open the results
 * file: rank 0 itself when G = 1 (the default), ranks 1..G otherwise, so
 * that the master never stops answering for a write. The ranks after them
 * are the workers; each sends its rows to one writer, round-robin.
 * Protocol (all on a private duplicate of the caller's communicator):
 *   master -> worker  TAG_WORK     a range [first, first+count) of lines; a
 *                                  worker holds up to AHEAD (3) of them
 *                     TAG_STOP     no more work: send TAG_END and leave
 *   worker -> writer  TAG_DATA     the rows of a computed range (packed)
 *                     TAG_END      after its last rows (not to rank 0: it has
 *                                  them once it has the report after them)
 *   worker -> master  TAG_REQUEST  report of the oldest range held
 *   master -> writer  TAG_CKPT     write what you hold, collectively
 *                     TAG_FINAL    no more work: once your workers ended,
 *                                  the final write
 *   writer -> master  TAG_FULL     my batch is full: call a checkpoint
 *                     TAG_OPENED   (G > 1, first writer) the open's outcome
 *                     TAG_FAILED   (G > 1, first writer) a write failed
 *   master -> writer  TAG_RECORD   (G > 1, first writer) every rank's counts
 *                                  for the run record, at the end
 * A worker computes a range, sends its rows with MPI_Isend from a buffer
 * of their own and goes on with its next range at once; it waits only when
 * two ranges' worth of rows are still in flight, or for work when it holds
 * none. Writers mark a
 * line done in the file only in the write that holds its rows, so the
 * progress map never runs ahead of the data. Every wait naps: the master
 * and writers must not take a worker's core.
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
#include "kpsweep/plan.h"
#include "kpsweep/progress.h"
#include "kpsweep/status.h"

enum kps_tag {
  TAG_REQUEST = 101,
  TAG_OPENED = 103,
  TAG_WORK = 102,
  TAG_STOP = 104,
  TAG_DATA = 105,
  TAG_END = 106,
  TAG_CKPT = 107,
  TAG_FINAL = 108,
  TAG_FULL = 109,
  TAG_FAILED = 110,
  TAG_RECORD = 111
};

/* Report flags. REQ_FAILED: a line could not be computed (an
 * infrastructure failure, not a failed solve); the run stops after saving
 * everything else and fails. */
enum { REQ_INTERRUPTED = 1, REQ_FAILED = 4 };

/* Report payload: flags, first line of the range, lines done, failed
 * points, busy nanoseconds. */
enum { RQ_FLAGS, RQ_FIRST, RQ_LINES, RQ_FAILED, RQ_BUSY_NS, RQ_LEN };

/*
 * Scheduling constants
 *   CHUNK_SECONDS   target compute time of one chunk
 *   TAIL_SHARE      a chunk never exceeds remaining / (TAIL_SHARE * workers),
 *                   so the last chunks shrink and no worker is left with a
 *                   long tail
 *   AHEAD           ranges a worker holds: the one it computes and two more,
 *                   so it never waits for the master's reply between ranges,
 *                   nor for rank 0 to finish a write of up to 2 ranges' time
 *   POLL_MIN_NS, POLL_MAX_NS   back-off of the master's idle wait (no busy
 *                   polling: the master must not take a worker's core)
 *   SPIN_NS         after a message, a rank probes without sleeping this long
 *                   before it naps: a reply or the next request of a short
 *                   chunk usually comes within microseconds, and a nap costs
 *                   at least the timer slack (measured: a 50 us spin left
 *                   one worker at 350 us per request, 200 us at 10 us)
 *   WORKER_MAX_NS   then sleeps in growing naps up to this long
 *   MSG_MAX_BYTES   largest message of rows (MPI counts are ints)
 */
#define CHUNK_SECONDS 0.2
#define TAIL_SHARE 4
#define AHEAD 3
#define POLL_MIN_NS 20000L
#define POLL_MAX_NS 200000L
#define SPIN_NS 200000L
#define WORKER_MAX_NS 100000L
/*   SEND_BUFS       sends a worker may have in flight (within two ranges'
 *                   bytes): more than two while its ranges are short */
#define SEND_BUFS 8
#define MSG_MAX_BYTES (1024.0 * 1024 * 1024)
/*   WRITE_SECONDS   a writer writes once it holds what it can write in about
 *                   this long (at the bandwidth its earlier writes showed),
 *                   so that a write, fixed cost included, ends within the
 *                   ranges a worker holds ahead ((AHEAD - 1) CHUNK_SECONDS)
 *                   or can send ahead (two ranges' bytes): rank 0 answers no
 *                   report while it writes, and a writer takes no rows */
#define WRITE_SECONDS 0.25

/* What each rank reports at the end (gathered as bytes: one build runs
 * every rank). */
typedef struct rank_report {
  int64_t status;          /* the outcome of its loop (kps_err) */
  uint64_t saved;          /* writer: lines it wrote and marked done */
  double lines, busy, hdf5, stall, drain, wait;
  uint64_t solves[2];
  kps_write_counts writes;
  char host[MPI_MAX_PROCESSOR_NAME];
} rank_report;

/* The outcome rank 0 tells every rank at the end. */
typedef struct end_info {
  int64_t status;          /* the agreed outcome of the loops (the lowest kps_err) */
  int64_t closed;          /* a lone writer's close and run record (kps_err) */
  uint64_t saved;          /* lines the writers saved, when the run failed */
  int interrupted;
  uint64_t lines_done, failed, at_start;
  double start, end, hdf5_max;
} end_info;

typedef struct sweep_ctx {
  const kps_config *cfg;
  const kps_sweep_options *opt;
  MPI_Comm comm;           /* the protocol */
  MPI_Comm wcomm;          /* the writers; MPI_COMM_NULL on workers */
  int rank, size, writers; /* writers: G */
  int first_writer;        /* 0 when G = 1 (rank 0 writes), else 1: the master does not */
  int first_worker;        /* first_writer + G */
  int is_writer;
  kps_writer *writer;
  kps_line_worker *lw;
  /* Worker: the range being computed. Writer: rows received and not yet
   * written (serial: both). */
  kps_batch *batch;
  size_t batch_cap;        /* rows a writer holds before it writes */
  size_t range_cap;        /* most lines of one range */
  uint64_t n_lines, n_tau;
  kps_err compute_rc;      /* first failure to compute a line on this rank */
  int flush_failed;        /* a write failed: agreed by every writer ... */
  kps_err flush_rc;        /* ... with this code */
  int open_failed;         /* the file could not be opened (flush_failed is set too) */
  int open_settled;        /* the file is open here (or its open failed), or this rank
                            * does not write */
  double busy_s, flush_s, lines_mine;
  double stall_s;          /* worker: waiting for a send buffer while it computes */
  double drain_s;          /* worker: waiting for its last sends once stopped */
  double wait_s;           /* worker: holding no range, waiting for work */
  uint64_t lines_saved;    /* writer: lines it wrote and marked done */
  size_t held;             /* writer: rows its last write left for a later one */
  double write_fixed_s;    /* writer: shortest write so far (its fixed cost); 0: none yet */
  double write_rate;       /* writer: bytes per second beyond the fixed cost; 0: unknown */
  double t_last_stop;      /* master: when every worker was done and the end began */
  uint64_t solves[2];      /* /points/n_solves of the lines computed here: sum, points */
  uint8_t *rbuf;           /* writer: receive buffer */
  size_t rbuf_cap;
  MPI_Request *pending;    /* worker: the send in flight, tested between lines */
} sweep_ctx;

static void sleep_ns(long ns) {
  struct timespec ts = {0, ns};
  nanosleep(&ts, NULL);
}

/*
 * The idle wait of a polling loop: spin for SPIN_NS after the last message
 * (replies usually come within microseconds), then nap in doubling steps up
 * to `max` ns, so no idle rank takes a computing rank's core.
 */
typedef struct backoff {
  long poll, max;
  double spin_until;
} backoff;

static backoff backoff_start(long max_ns) {
  return (backoff){POLL_MIN_NS, max_ns, kps_now() + 1e-9 * SPIN_NS};
}

static void backoff_idle(backoff *b) {
  if (kps_now() < b->spin_until) return;
  sleep_ns(b->poll);
  b->poll = b->poll * 2 > b->max ? b->max : b->poll * 2;
}

static int stop_requested(const sweep_ctx *c) { return c->opt->stop && *c->opt->stop; }

static int kept(const kps_batch *b, int f) { return !((b->omitted >> f) & 1u); }

static size_t field_row_bytes(const kps_batch *b, int f) {
  return kps_batch_field_len(b, (kps_field_id)f) * kps_dtype_size(kps_fields()[f].type);
}

/* Bytes of one packed row: its line id and every kept field. */
static size_t packed_row_bytes(const kps_batch *b) {
  size_t n = sizeof(uint64_t);
  for (int f = 0; f < KPS_N_FIELDS; ++f)
    if (kept(b, f)) n += field_row_bytes(b, f);
  return n;
}

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
 * protocol goes on so that the lines already done are saved; the partial
 * row is dropped). Between lines it lets the send in flight progress.
 */
static kps_err compute_range(sweep_ctx *c, uint64_t first, uint64_t count, uint64_t *done,
                             uint64_t *failed) {
  kps_err rc = KPS_OK;
  const double t0 = kps_now();
  *done = 0;
  for (uint64_t l = first; l < first + count && c->compute_rc == KPS_OK; ++l) {
    if (stop_requested(c)) break;
    const size_t rows = c->batch->n_lines;
    c->compute_rc = kps_line_compute(c->lw, l, c->batch);
    if (c->compute_rc != KPS_OK) {
      c->batch->n_lines = rows;
      break;
    }
    *failed += count_failed(c->batch, c->batch->n_lines - 1);
    count_solves(c->batch, c->batch->n_lines - 1, c->solves);
    ++*done;
    if (c->pending && *c->pending != MPI_REQUEST_NULL) {
      int flag = 0;
      KPS_CHECK_MPI(MPI_Test(c->pending, &flag, MPI_STATUS_IGNORE));
    }
  }
cleanup:
  c->busy_s += kps_now() - t0;
  c->lines_mine += (double)*done;
  return rc;
}

/* Reorders the batch's rows by line id (rows from several workers arrive
 * interleaved), in place: dest[i] = src[perm[i]], cycle by cycle. */
typedef struct id_row {
  uint64_t id;
  size_t row;
} id_row;

static int cmp_id_row(const void *a, const void *b) {
  const uint64_t x = ((const id_row *)a)->id, y = ((const id_row *)b)->id;
  return x < y ? -1 : x > y;
}

static void permute_rows(char *base, size_t row_bytes, const id_row *perm, size_t n,
                         uint8_t *moved, char *tmp) {
  memset(moved, 0, n);
  for (size_t i = 0; i < n; ++i) {
    if (moved[i] || perm[i].row == i) continue;
    memcpy(tmp, base + i * row_bytes, row_bytes);
    size_t j = i;
    for (;;) {
      const size_t k = perm[j].row;
      moved[j] = 1;
      if (k == i) {
        memcpy(base + j * row_bytes, tmp, row_bytes);
        break;
      }
      memcpy(base + j * row_bytes, base + k * row_bytes, row_bytes);
      j = k;
    }
  }
}

static kps_err batch_sort(kps_batch *b) {
  kps_err rc = KPS_OK;
  const size_t n = b->n_lines;
  id_row *perm = NULL;
  uint8_t *moved = NULL;
  char *tmp = NULL;
  size_t r = 1;
  while (r < n && b->line_ids[r] > b->line_ids[r - 1]) ++r;
  if (r >= n) return KPS_OK;
  size_t widest = sizeof(uint64_t);
  for (int f = 0; f < KPS_N_FIELDS; ++f)
    if (kept(b, f) && field_row_bytes(b, f) > widest) widest = field_row_bytes(b, f);
  perm = malloc(n * sizeof *perm);
  moved = malloc(n);
  tmp = malloc(widest);
  KPS_CHECK_ALLOC(perm);
  KPS_CHECK_ALLOC(moved);
  KPS_CHECK_ALLOC(tmp);
  for (size_t i = 0; i < n; ++i) perm[i] = (id_row){b->line_ids[i], i};
  qsort(perm, n, sizeof *perm, cmp_id_row);
  for (size_t i = 1; i < n; ++i)
    if (perm[i].id == perm[i - 1].id)
      KPS_FAIL(KPS_ERR_INTERNAL, "line %llu received twice", (unsigned long long)perm[i].id);
  permute_rows((char *)b->line_ids, sizeof(uint64_t), perm, n, moved, tmp);
  for (int f = 0; f < KPS_N_FIELDS; ++f)
    if (kept(b, f)) permute_rows(b->data[f], field_row_bytes(b, f), perm, n, moved, tmp);
cleanup:
  free(perm);
  free(moved);
  free(tmp);
  return rc;
}

/*
 * Writes the rows this writer holds and marks their lines done, in one
 * collective write of the writers: every row (the final write, a timed
 * checkpoint, a full batch: limit UINT64_MAX), or for a batch that filled
 * its share, those below line `limit`. The rows above stay for a later
 * write: lines still being computed below them would leave holes, and each
 * hole costs the write calls of one more file block. No row waits past the
 * next timed checkpoint, which bounds what a crash loses, nor past a full
 * batch, which bounds the memory.
 */
static kps_err writer_flush(sweep_ctx *c, int final, uint64_t limit) {
  kps_err rc = KPS_OK, local = KPS_OK, agreed = KPS_OK;
  uint64_t *ranges = NULL;
  size_t n_ranges = 0;
  const double t0 = kps_now();
  local = batch_sort(c->batch);
  if (final || c->batch->n_lines >= c->batch_cap) limit = UINT64_MAX;
  size_t rows = 0;
  while (rows < c->batch->n_lines && c->batch->line_ids[rows] < limit) ++rows;
  kps_batch part = *c->batch;
  part.n_lines = rows;
  if (local == KPS_OK && rows > 0 && !(ranges = malloc(2 * rows * sizeof *ranges)))
    local = KPS_ERR_NOMEM;
  for (size_t i = 0; local == KPS_OK && i < rows; ++i) {
    const uint64_t id = c->batch->line_ids[i];
    if (n_ranges > 0 && ranges[2 * n_ranges - 2] + ranges[2 * n_ranges - 1] == id) {
      ++ranges[2 * n_ranges - 1];
    } else {
      ranges[2 * n_ranges] = id;
      ranges[2 * n_ranges + 1] = 1;
      ++n_ranges;
    }
  }
  /* Agreed first: a writer that cannot prepare its part does not leave the
   * others in the collective write alone. */
  KPS_CHECK(kps_agree(c->wcomm, local, &agreed));
  rc = agreed;
  if (rc == KPS_OK) rc = kps_writer_flush(c->writer, &part, ranges, n_ranges, final);
  if (rc != KPS_OK) {
    c->flush_failed = 1;
    c->flush_rc = rc;
    /* A master that does not write learns it from the first writer. */
    if (c->first_writer > 0 && c->rank == c->first_writer) {
      const int64_t code = rc;
      KPS_CHECK_MPI(MPI_Send(&code, 1, MPI_INT64_T, 0, TAG_FAILED, c->comm));
    }
    goto cleanup;
  }
  c->lines_saved += rows;
  kps_batch_drop_front(c->batch, rows);
  c->held = c->batch->n_lines;
  /* What a write costs beyond its fixed part, learnt from writes long
   * enough to tell (small jobs never are, and keep the plain policy). */
  const double dt = kps_now() - t0;
  if (rows > 0 && (c->write_fixed_s == 0.0 || dt < c->write_fixed_s)) c->write_fixed_s = dt;
  if (rows > 0 && dt > 2.0 * c->write_fixed_s)
    c->write_rate = (double)(rows * packed_row_bytes(c->batch)) / (dt - c->write_fixed_s);
cleanup:
  free(ranges);
  c->flush_s += kps_now() - t0;
  return rc;
}

/* Rows a writer receives before it writes: half its batch (a quarter of
 * the memory limit; what it keeps for the next write fits beside them), or
 * fewer once its writes showed that so many would take longer than
 * WRITE_SECONDS. */
static size_t write_rows(const sweep_ctx *c) {
  const size_t half = c->batch_cap / 2 > 0 ? c->batch_cap / 2 : 1;
  if (c->write_rate <= 0.0) return half;
  const double rows = fmax(1.0, c->write_rate * WRITE_SECONDS / (double)packed_row_bytes(c->batch));
  return rows < (double)half ? (size_t)rows : half;
}

/* Packs rows [0, rows) of b: their line ids, then every kept field. */
static void pack_rows(const kps_batch *b, size_t rows, uint8_t *out) {
  memcpy(out, b->line_ids, rows * sizeof(uint64_t));
  out += rows * sizeof(uint64_t);
  for (int f = 0; f < KPS_N_FIELDS; ++f) {
    if (!kept(b, f)) continue;
    const size_t n = rows * field_row_bytes(b, f);
    memcpy(out, b->data[f], n);
    out += n;
  }
}

/* Appends the rows of a received message to the writer's batch. */
static kps_err unpack_rows(sweep_ctx *c, const uint8_t *in, size_t bytes) {
  kps_err rc = KPS_OK;
  kps_batch *b = c->batch;
  const size_t per_row = packed_row_bytes(b);
  if (bytes == 0 || bytes % per_row != 0)
    KPS_FAIL(KPS_ERR_INTERNAL, "a message of rows has %zu bytes, not a multiple of %zu", bytes,
             per_row);
  const size_t rows = bytes / per_row, at = b->n_lines;
  const uint64_t *ids = (const uint64_t *)in;
  for (size_t i = 0; i < rows; ++i) {
    uint64_t id;
    memcpy(&id, ids + i, sizeof id);
    if (id >= c->n_lines) KPS_FAIL(KPS_ERR_INTERNAL, "a message holds line %llu", (unsigned long long)id);
    if (kps_batch_add(b, id) < 0) KPS_FAIL(KPS_ERR_NOMEM, "a writer's batch of %zu lines", at + rows);
  }
  in += rows * sizeof(uint64_t);
  for (int f = 0; f < KPS_N_FIELDS; ++f) {
    if (!kept(b, f)) continue;
    const size_t rb = field_row_bytes(b, f);
    memcpy((char *)b->data[f] + at * rb, in, rows * rb);
    in += rows * rb;
  }
cleanup:
  return rc;
}

/* Receives a message of rows whose envelope st was probed. */
static kps_err receive_rows(sweep_ctx *c, const MPI_Status *st) {
  kps_err rc = KPS_OK;
  int n = 0;
  KPS_CHECK_MPI(MPI_Get_count(st, MPI_BYTE, &n));
  if ((size_t)n > c->rbuf_cap) {
    uint8_t *p = realloc(c->rbuf, (size_t)n);
    KPS_CHECK_ALLOC(p);
    c->rbuf = p;
    c->rbuf_cap = (size_t)n;
  }
  KPS_CHECK_MPI(MPI_Recv(c->rbuf, n, MPI_BYTE, st->MPI_SOURCE, TAG_DATA, c->comm,
                         MPI_STATUS_IGNORE));
  KPS_CHECK(unpack_rows(c, c->rbuf, (size_t)n));
cleanup:
  return rc;
}

/*
 * Lines per chunk from the measured time per line, never more than one
 * range may hold (`room` >= 1).
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

/* Work bookkeeping of the master: done map, counts, and the lines not
 * yet handed out (one block per writer, kpsweep/plan.h). */
typedef struct plan_state {
  uint8_t *done;     /* bit map of computed lines: O(lines) bits, master only */
  kps_plan plan;
  uint64_t lines_done, failed;
  double t_line;     /* exponential average of seconds per line */
} plan_state;

static int is_done(const plan_state *ps, uint64_t l) {
  return (ps->done[l / 8] >> (l % 8)) & 1u;
}

static void commit_range(plan_state *ps, uint64_t first, uint64_t count) {
  for (uint64_t l = first; l < first + count; ++l) ps->done[l / 8] |= (uint8_t)(1u << (l % 8));
  ps->lines_done += count;
}

/*
 * A lone writer's new file, created alongside: once its thread is done
 * (or now, with wait), opened for writing. A failure is a failed open.
 * In-process the writer's HDF5 time is what this thread waited; under MPI
 * its time in HDF5 (the creation runs beside the master's work).
 */
static kps_err settle_open(sweep_ctx *c, int wait) {
  if (c->open_settled || (c->writer && !wait && !kps_writer_ready(c->writer))) return KPS_OK;
  if (!c->writer) {
    c->open_settled = 1;
    return KPS_OK;
  }
  double hdf5_s = 0.0;
  const double t0 = kps_now();
  const kps_err e = kps_writer_finish(c->writer, &hdf5_s);
  c->open_settled = 1;
  c->flush_s += c->size == 1 ? kps_now() - t0 : hdf5_s;
  if (e != KPS_OK) {
    kps_writer_abort(&c->writer);
    c->open_failed = c->flush_failed = 1;
    c->flush_rc = e;
  }
  return KPS_OK;
}

static kps_err run_serial(sweep_ctx *c, plan_state *ps, kps_progress *pg, int *interrupted) {
  kps_err rc = KPS_OK;
  double next_flush = kps_now() + c->cfg->run.checkpoint_every;
  uint64_t first, count, saved = ps->lines_done;
  while (!stop_requested(c) && c->compute_rc == KPS_OK &&
         kps_plan_next(&ps->plan, 0,
                       chunk_size(c, ps->t_line, ps->plan.left, 1,
                                  c->batch_cap - c->batch->n_lines),
                       &first, &count)) {
    uint64_t done = 0;
    const double t0 = kps_now();
    KPS_CHECK(compute_range(c, first, count, &done, &ps->failed));
    if (done) ps->t_line = (kps_now() - t0) / (double)done;
    commit_range(ps, first, done);
    KPS_CHECK(settle_open(c, 0));
    if (c->open_failed) break;
    /* Progress only once the file exists: it is what a watcher looks for. */
    if (c->open_settled) kps_progress_update(pg, ps->lines_done * c->n_tau, ps->failed, 0);
    if ((kps_now() >= next_flush && ps->lines_done > saved) || c->batch->n_lines >= c->batch_cap) {
      KPS_CHECK(settle_open(c, 1));
      if (c->open_failed) break;
      KPS_CHECK(writer_flush(c, 0, UINT64_MAX));
      saved = ps->lines_done;
      next_flush = kps_now() + c->cfg->run.checkpoint_every;
    }
  }
  *interrupted = stop_requested(c) && ps->lines_done < c->n_lines;
  KPS_CHECK(settle_open(c, 1));
  if (c->open_failed) {
    rc = c->flush_rc;
    goto cleanup;
  }
  KPS_CHECK(writer_flush(c, 1, UINT64_MAX));
cleanup:
  return rc;
}

static kps_err send_pair(sweep_ctx *c, int dest, int tag, uint64_t first, uint64_t count) {
  kps_err rc = KPS_OK;
  uint64_t msg[2] = {first, count};
  KPS_CHECK_MPI(MPI_Send(msg, 2, MPI_UINT64_T, dest, tag, c->comm));
cleanup:
  return rc;
}

/* The master's view of one worker: the ranges it holds, oldest first. */
typedef struct worker_slot {
  uint64_t first[AHEAD], count[AHEAD];
  int n;
  int stopped;
} worker_slot;

typedef struct master_state {
  worker_slot *slot;   /* by rank (workers only) */
  int workers, n_stopped, stopping;
  int fed;             /* every worker got its first ranges */
  int opened;          /* the outcome of the open is known here */
} master_state;

/* Hands worker w another range, or stops it once it holds none and no
 * work is left for it. */
static kps_err feed(sweep_ctx *c, plan_state *ps, master_state *ms, int w) {
  kps_err rc = KPS_OK;
  worker_slot *s = &ms->slot[w];
  uint64_t first = 0, count = 0;
  while (!ms->stopping && s->n < AHEAD &&
         kps_plan_next(&ps->plan, (w - c->first_worker) % c->writers,
                       chunk_size(c, ps->t_line, ps->plan.left, ms->workers, c->range_cap),
                       &first, &count)) {
    s->first[s->n] = first;
    s->count[s->n] = count;
    ++s->n;
    KPS_CHECK(send_pair(c, w, TAG_WORK, first, count));
  }
  if (s->n == 0 && !s->stopped) {
    s->stopped = 1;
    ++ms->n_stopped;
    KPS_CHECK(send_pair(c, w, TAG_STOP, 0, 0));
  }
cleanup:
  return rc;
}

/* From now on no work goes out; workers that hold none are stopped now,
 * the others at their last report. */
static kps_err set_stopping(sweep_ctx *c, plan_state *ps, master_state *ms) {
  kps_err rc = KPS_OK;
  if (ms->stopping) return KPS_OK;
  ms->stopping = 1;
  for (int w = c->first_worker; w < c->size; ++w)
    if (ms->slot[w].n == 0) KPS_CHECK(feed(c, ps, ms, w));
cleanup:
  return rc;
}

/* Workers that send their rows to the k-th writer. */
static int workers_of(const sweep_ctx *c, int k) {
  const int w = c->size - c->first_worker;
  return w / c->writers + (k < w % c->writers);
}

/* Tells every writer but this rank: a checkpoint, or the end. */
static kps_err tell_writers(sweep_ctx *c, int tag) {
  kps_err rc = KPS_OK;
  for (int k = 0; k < c->writers; ++k)
    if (c->first_writer + k != c->rank)
      KPS_CHECK(send_pair(c, c->first_writer + k, tag, 0, 0));
cleanup:
  return rc;
}

/* The lowest line a worker of writer k still holds (UINT64_MAX: none):
 * what that writer holds above it waits for the next write. */
static uint64_t frontier(const sweep_ctx *c, const master_state *ms, int k) {
  uint64_t low = UINT64_MAX;
  for (int w = c->first_worker + k; w < c->size; w += c->writers)
    for (int i = 0; i < ms->slot[w].n; ++i)
      if (ms->slot[w].first[i] < low) low = ms->slot[w].first[i];
  return low;
}

/* A checkpoint of every writer: the others are told (each with its
 * frontier, or with none when every row is to be written), then all
 * write. */
static kps_err checkpoint(sweep_ctx *c, const master_state *ms, int final, int all) {
  kps_err rc = KPS_OK;
  for (int k = 0; k < c->writers && !final; ++k)
    if (c->first_writer + k != c->rank)
      KPS_CHECK(send_pair(c, c->first_writer + k, TAG_CKPT, all ? UINT64_MAX : frontier(c, ms, k),
                          0));
  if (c->is_writer)
    KPS_CHECK(writer_flush(c, final, final || all ? UINT64_MAX : frontier(c, ms, 0)));
cleanup:
  return rc;
}

/* A writer's rows received since its last write fill a write. */
static int write_due(const sweep_ctx *c) {
  return c->batch->n_lines - c->held >= write_rows(c) || c->batch->n_lines >= c->batch_cap;
}

static kps_err handle_report(sweep_ctx *c, plan_state *ps, master_state *ms, int w) {
  kps_err rc = KPS_OK;
  uint64_t rq[RQ_LEN];
  KPS_CHECK_MPI(MPI_Recv(rq, RQ_LEN, MPI_UINT64_T, w, TAG_REQUEST, c->comm, MPI_STATUS_IGNORE));
  worker_slot *s = &ms->slot[w];
  if (w < c->first_worker || s->n == 0 || s->first[0] != rq[RQ_FIRST] || rq[RQ_LINES] > s->count[0])
    KPS_FAIL(KPS_ERR_INTERNAL, "rank %d reported a range it does not hold", w);
  commit_range(ps, s->first[0], rq[RQ_LINES]);
  for (int i = 1; i < s->n; ++i) s->first[i - 1] = s->first[i], s->count[i - 1] = s->count[i];
  --s->n;
  ps->failed += rq[RQ_FAILED];
  if (rq[RQ_LINES] > 0) {
    const double t = 1e-9 * (double)rq[RQ_BUSY_NS] / (double)rq[RQ_LINES];
    ps->t_line = ps->t_line > 0 ? 0.7 * ps->t_line + 0.3 * t : t;
  }
  if (rq[RQ_FLAGS] & (REQ_INTERRUPTED | REQ_FAILED)) KPS_CHECK(set_stopping(c, ps, ms));
  KPS_CHECK(feed(c, ps, ms, w));
cleanup:
  return rc;
}

/* The run's first line on stderr, once the file is open (a refused file
 * gets its message alone). */
static void print_header(const sweep_ctx *c, int resumed) {
  fprintf(stderr, "[kpsweep] %s: %zu points in %llu line%s on %d rank%s", c->cfg->name,
          kps_config_n_points(c->cfg), (unsigned long long)c->n_lines, c->n_lines == 1 ? "" : "s",
          c->size, c->size > 1 ? "s" : "");
  if (c->writers > 1) fprintf(stderr, " (%d writers)", c->writers);
  fprintf(stderr, " -> %s%s\n", c->opt->output, resumed ? " (resumed)" : "");
}

static kps_err run_master(sweep_ctx *c, plan_state *ps, master_state *ms, kps_progress *pg,
                          int *interrupted, uint64_t *messages) {
  kps_err rc = KPS_OK;
  int final_sent = 0, full = 0;
  uint64_t at_ckpt = ps->lines_done;
  double next_ckpt = kps_now() + c->cfg->run.checkpoint_every;
  /* A file that could not be opened: nothing more is handed out, and what
   * the workers hold is reported and dropped. */
  if (c->flush_failed) KPS_CHECK(set_stopping(c, ps, ms));
  for (int w = c->first_worker; w < c->size && !ms->fed; ++w) KPS_CHECK(feed(c, ps, ms, w));
  ms->fed = 1;
  backoff idle = backoff_start(POLL_MAX_NS);
  for (;;) {
    if (stop_requested(c)) KPS_CHECK(set_stopping(c, ps, ms));
    KPS_CHECK(settle_open(c, 0));
    if (c->open_failed) KPS_CHECK(set_stopping(c, ps, ms));
    if (c->open_settled) kps_progress_update(pg, ps->lines_done * c->n_tau, ps->failed, 0);
    if (!final_sent && ms->n_stopped == ms->workers) {
      KPS_CHECK(tell_writers(c, TAG_FINAL));
      final_sent = 1;
      c->t_last_stop = kps_now();
    }
    /* A worker's rows reach rank 0 before its reports (messages from one
     * rank arrive in order): once every worker has its stop, rank 0 as
     * the writer holds every row, and needs no TAG_END to know it. */
    if (final_sent && ms->opened) break;
    /* No checkpoint once FINAL is out: the other writers may be in the
     * final write already. After a failed write, none at all. A timed
     * checkpoint writes every row received; one for a filled batch, those
     * below the frontier (writer_flush). */
    const int timed = kps_now() >= next_ckpt && ps->lines_done > at_ckpt;
    if (!final_sent && !c->flush_failed && (full || write_due(c) || timed)) {
      KPS_CHECK(settle_open(c, 1));
      if (c->open_failed) {
        KPS_CHECK(set_stopping(c, ps, ms));
        continue;
      }
      const kps_err w = checkpoint(c, ms, 0, timed);
      if (w != KPS_OK && !c->flush_failed) KPS_FAIL(w, "a checkpoint failed");
      if (c->flush_failed) KPS_CHECK(set_stopping(c, ps, ms));
      full = 0;
      if (timed) {
        at_ckpt = ps->lines_done;
        next_ckpt = kps_now() + c->cfg->run.checkpoint_every;
      }
      continue;
    }
    int have = 0;
    MPI_Status st;
    KPS_CHECK_MPI(MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, c->comm, &have, &st));
    if (!have) {
      backoff_idle(&idle);
      continue;
    }
    idle = backoff_start(POLL_MAX_NS);
    switch (st.MPI_TAG) {
      case TAG_DATA:
        KPS_CHECK(receive_rows(c, &st));
        break;
      case TAG_FULL:
        KPS_CHECK_MPI(MPI_Recv(NULL, 0, MPI_BYTE, st.MPI_SOURCE, TAG_FULL, c->comm, MPI_STATUS_IGNORE));
        full = 1;
        break;
      case TAG_REQUEST:
        ++*messages;
        KPS_CHECK(handle_report(c, ps, ms, st.MPI_SOURCE));
        break;
      case TAG_OPENED:
      case TAG_FAILED: {
        /* From the first writer when the master does not write: the file
         * was opened (or not), or a write failed. */
        int64_t code = 0;
        KPS_CHECK_MPI(MPI_Recv(&code, 1, MPI_INT64_T, st.MPI_SOURCE, st.MPI_TAG, c->comm,
                               MPI_STATUS_IGNORE));
        if (st.MPI_TAG == TAG_OPENED) {
          ms->opened = 1;
          if (code == KPS_OK && !c->opt->quiet) print_header(c, 0);
        }
        if (code != KPS_OK && !c->flush_failed) {
          c->flush_failed = 1;
          c->flush_rc = (kps_err)code;
          c->open_failed = st.MPI_TAG == TAG_OPENED;
          KPS_CHECK(set_stopping(c, ps, ms));
        }
        break;
      }
      default:
        KPS_FAIL(KPS_ERR_INTERNAL, "unexpected message tag %d from rank %d", st.MPI_TAG,
                 st.MPI_SOURCE);
    }
  }
  *interrupted = ps->lines_done < c->n_lines && ms->stopping;
  KPS_CHECK(settle_open(c, 1));
  /* (A TAG_FULL sent before the writer saw FINAL may be left unreceived.) */
  if (!c->flush_failed) {
    const kps_err w = checkpoint(c, ms, 1, 1);
    if (w != KPS_OK && !c->flush_failed) KPS_FAIL(w, "the final write failed");
  }
  rc = c->flush_failed ? c->flush_rc : KPS_OK;
cleanup:
  return rc;
}

/* A writer other than rank 0: receives its workers' rows and writes them
 * when the master calls a checkpoint, and once they all ended. */
static kps_err run_writer(sweep_ctx *c) {
  kps_err rc = KPS_OK;
  const int mine = workers_of(c, c->rank - c->first_writer);
  int ends = 0, final = 0, full_sent = 0;
  backoff idle = backoff_start(POLL_MAX_NS);
  while (!(final && ends == mine)) {
    /* A full writer takes no more rows (its workers' sends wait) until the
     * checkpoint it asked for; after FINAL there is none, and it takes all. */
    const int full = !final && write_due(c);
    if (full && !full_sent) {
      KPS_CHECK_MPI(MPI_Send(NULL, 0, MPI_BYTE, 0, TAG_FULL, c->comm));
      full_sent = 1;
    }
    int have = 0;
    MPI_Status st;
    KPS_CHECK_MPI(MPI_Iprobe(full ? 0 : MPI_ANY_SOURCE, MPI_ANY_TAG, c->comm, &have, &st));
    if (!have) {
      backoff_idle(&idle);
      continue;
    }
    idle = backoff_start(POLL_MAX_NS);
    if (st.MPI_TAG == TAG_DATA) {
      KPS_CHECK(receive_rows(c, &st));
    } else if (st.MPI_TAG == TAG_END) {
      KPS_CHECK_MPI(MPI_Recv(NULL, 0, MPI_BYTE, st.MPI_SOURCE, TAG_END, c->comm, MPI_STATUS_IGNORE));
      ++ends;
    } else if (st.MPI_SOURCE == 0 && (st.MPI_TAG == TAG_CKPT || st.MPI_TAG == TAG_FINAL)) {
      uint64_t msg[2];
      KPS_CHECK_MPI(MPI_Recv(msg, 2, MPI_UINT64_T, 0, st.MPI_TAG, c->comm, MPI_STATUS_IGNORE));
      if (st.MPI_TAG == TAG_FINAL) {
        final = 1;
      } else if (!c->flush_failed) {
        const kps_err w = writer_flush(c, 0, msg[0]);
        if (w != KPS_OK && !c->flush_failed) KPS_FAIL(w, "a checkpoint failed");
        full_sent = 0;
      }
    } else {
      KPS_FAIL(KPS_ERR_INTERNAL, "unexpected message tag %d from rank %d", st.MPI_TAG,
               st.MPI_SOURCE);
    }
  }
  if (!c->flush_failed) {
    const kps_err w = writer_flush(c, 1, UINT64_MAX);
    if (w != KPS_OK && !c->flush_failed) KPS_FAIL(w, "the final write failed");
  }
  rc = c->flush_failed ? c->flush_rc : KPS_OK;
cleanup:
  return rc;
}

/* Waits for a message from the master without spinning a core. */
static kps_err worker_wait(sweep_ctx *c, MPI_Status *st) {
  kps_err rc = KPS_OK;
  backoff idle = backoff_start(WORKER_MAX_NS);
  for (;;) {
    int have = 0;
    KPS_CHECK_MPI(MPI_Iprobe(0, MPI_ANY_TAG, c->comm, &have, st));
    if (have) break;
    backoff_idle(&idle);
  }
cleanup:
  return rc;
}

/* Waits for a send to complete without spinning a core (MPI_Wait may). */
static kps_err wait_send(MPI_Request *req) {
  kps_err rc = KPS_OK;
  backoff idle = backoff_start(WORKER_MAX_NS);
  while (*req != MPI_REQUEST_NULL) {
    int flag = 0;
    KPS_CHECK_MPI(MPI_Test(req, &flag, MPI_STATUS_IGNORE));
    if (flag) break;
    backoff_idle(&idle);
  }
cleanup:
  return rc;
}

/*
 * A worker's sends in flight, oldest first: each a buffer of its own,
 * freed once sent. Up to SEND_BUFS of them and `limit` bytes (two ranges
 * of the largest size): the first ranges of a new file are single lines,
 * sent while the writer is still creating it and receives nothing.
 */
typedef struct send_pool {
  uint8_t *data[SEND_BUFS];
  size_t bytes[SEND_BUFS];
  MPI_Request req[SEND_BUFS];
  int head, n;
  size_t in_flight, limit;
} send_pool;

/* Frees the oldest send once it is complete (waiting for it with `wait`). */
static kps_err pool_reap(sweep_ctx *c, send_pool *p, int wait) {
  kps_err rc = KPS_OK;
  while (p->n > 0) {
    const int h = p->head;
    if (wait) {
      const double t0 = kps_now();
      KPS_CHECK(wait_send(&p->req[h]));
      c->stall_s += kps_now() - t0;
    } else {
      int flag = 0;
      KPS_CHECK_MPI(MPI_Test(&p->req[h], &flag, MPI_STATUS_IGNORE));
      if (!flag) break;
    }
    free(p->data[h]);
    p->data[h] = NULL;
    p->in_flight -= p->bytes[h];
    p->head = (h + 1) % SEND_BUFS;
    --p->n;
    if (wait) break;
  }
  c->pending = p->n > 0 ? &p->req[p->head] : NULL;
cleanup:
  return rc;
}

/* Packs the batch into a new buffer and starts sending it to the worker's
 * writer, once the pool has room for it. */
static kps_err send_rows(sweep_ctx *c, send_pool *p, int dest) {
  kps_err rc = KPS_OK;
  const size_t rows = c->batch->n_lines, bytes = rows * packed_row_bytes(c->batch);
  KPS_CHECK(pool_reap(c, p, 0));
  while (p->n == SEND_BUFS || (p->n > 0 && p->in_flight + bytes > p->limit))
    KPS_CHECK(pool_reap(c, p, 1));
  const int k = (p->head + p->n) % SEND_BUFS;
  p->data[k] = malloc(bytes > 0 ? bytes : 1);
  KPS_CHECK_ALLOC(p->data[k]);
  pack_rows(c->batch, rows, p->data[k]);
  KPS_CHECK_MPI(MPI_Isend(p->data[k], (int)bytes, MPI_BYTE, dest, TAG_DATA, c->comm, &p->req[k]));
  p->bytes[k] = bytes;
  p->in_flight += bytes;
  ++p->n;
  c->pending = &p->req[p->head];
cleanup:
  return rc;
}

static kps_err run_worker(sweep_ctx *c) {
  kps_err rc = KPS_OK;
  send_pool sp = {.limit = 2 * c->range_cap * packed_row_bytes(c->batch)};
  for (int i = 0; i < SEND_BUFS; ++i) sp.req[i] = MPI_REQUEST_NULL;
  const int dest = c->first_writer + (c->rank - c->first_worker) % c->writers;
  uint64_t q_first[AHEAD], q_count[AHEAD];
  int nq = 0, halted = 0, stopped = 0;
  for (;;) {
    /* Take what the master sent; with no range left, wait for one. */
    for (;;) {
      MPI_Status st;
      int have = 0;
      if (nq == 0) {
        const double t0 = kps_now();
        KPS_CHECK(worker_wait(c, &st));
        c->wait_s += kps_now() - t0;
        have = 1;
      } else {
        KPS_CHECK_MPI(MPI_Iprobe(0, MPI_ANY_TAG, c->comm, &have, &st));
      }
      if (!have) break;
      uint64_t msg[2];
      KPS_CHECK_MPI(MPI_Recv(msg, 2, MPI_UINT64_T, 0, st.MPI_TAG, c->comm, MPI_STATUS_IGNORE));
      if (st.MPI_TAG == TAG_STOP && nq == 0) {
        stopped = 1;
        break;
      }
      if (st.MPI_TAG != TAG_WORK || nq == AHEAD)
        KPS_FAIL(KPS_ERR_INTERNAL, "unexpected message tag %d", st.MPI_TAG);
      q_first[nq] = msg[0];
      q_count[nq] = msg[1];
      ++nq;
    }
    if (stopped) break;
    const uint64_t first = q_first[0], count = q_count[0];
    for (int i = 1; i < nq; ++i) q_first[i - 1] = q_first[i], q_count[i - 1] = q_count[i];
    --nq;
    uint64_t rq[RQ_LEN] = {0};
    /* After a signal or a failure the worker computes nothing more: the
     * ranges it still holds are reported with no line done. */
    if (!halted) {
      kps_batch_clear(c->batch);
      const double t0 = kps_now();
      KPS_CHECK(compute_range(c, first, count, &rq[RQ_LINES], &rq[RQ_FAILED]));
      rq[RQ_BUSY_NS] = (uint64_t)(1e9 * (kps_now() - t0));
      if (rq[RQ_LINES] > 0) KPS_CHECK(send_rows(c, &sp, dest));
      halted = stop_requested(c) || c->compute_rc != KPS_OK;
    }
    rq[RQ_FLAGS] = (stop_requested(c) ? REQ_INTERRUPTED : 0) |
                   (c->compute_rc != KPS_OK ? REQ_FAILED : 0);
    rq[RQ_FIRST] = first;
    KPS_CHECK_MPI(MPI_Send(rq, RQ_LEN, MPI_UINT64_T, 0, TAG_REQUEST, c->comm));
  }
  /* After its last rows (messages to one rank arrive in order); rank 0
   * knows from the reports. */
  if (dest != 0) KPS_CHECK_MPI(MPI_Send(NULL, 0, MPI_BYTE, dest, TAG_END, c->comm));
  /* Apart from its other waits for a send: this one overlaps the end. */
  const double before = c->stall_s;
  while (sp.n > 0) KPS_CHECK(pool_reap(c, &sp, 1));
  c->drain_s = c->stall_s - before;
  c->stall_s = before;
cleanup:
  c->pending = NULL;
  /* A buffer still in flight (the protocol broke down: the caller aborts)
   * is not freed under MPI. */
  for (int i = 0; i < SEND_BUFS; ++i)
    if (sp.req[i] == MPI_REQUEST_NULL) free(sp.data[i]);
  return rc;
}

/* The run record's totals, from the outcome rank 0 tells every rank. */
static void record_of(const end_info *end, uint64_t n_lines, kps_run_record *rec) {
  rec->start_time = end->start;
  rec->end_time = end->end;
  rec->complete = end->lines_done == n_lines;
  rec->interrupted = end->interrupted;
  rec->hdf5_seconds = end->hdf5_max;
  rec->lines_done = end->lines_done;
  rec->lines_computed = (double)(end->lines_done - end->at_start);
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
  sweep_ctx c = {.cfg = cfg, .opt = opt, .comm = MPI_COMM_NULL, .wcomm = MPI_COMM_NULL};
  plan_state ps = {0};
  master_state ms = {0};
  double *per_rank = NULL;
  rank_report *reports = NULL;
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
  /* One writer: rank 0, the master. Several: ranks 1..G, so that the
   * master never waits for a write, and at least one worker is left. */
  c.writers = cfg->run.writers < c.size - 2 ? cfg->run.writers : c.size - 2;
  if (c.size == 1 || c.writers < 2) c.writers = 1;
  c.first_writer = c.writers > 1 ? 1 : 0;
  c.first_worker = c.first_writer + c.writers;
  const int is_writer = c.rank >= c.first_writer && c.rank < c.first_worker;
  const int is_worker = c.size == 1 || c.rank >= c.first_worker;
  c.is_writer = is_writer;
  KPS_CHECK_MPI(MPI_Comm_split(c.comm, is_writer ? 0 : MPI_UNDEFINED, c.rank, &c.wcomm));
  if (is_writer) KPS_CHECK_MPI(MPI_Comm_set_errhandler(c.wcomm, MPI_ERRORS_RETURN));
  c.n_lines = kps_config_n_lines(cfg);
  c.n_tau = cfg->tau2.n;
  c.batch_cap = (size_t)fmax(1.0, 0.5e6 * cfg->run.memory_limit_mb / (double)bytes_per_line(cfg));

  /* Local set-up first, agreed, so no rank enters the open alone. */
  kps_err local = KPS_OK;
  const size_t map_bytes = (c.n_lines + 7) / 8;
  if ((c.rank == 0 || c.rank == c.first_writer) && !(ps.done = calloc(map_bytes + 1, 1)))
    local = KPS_ERR_NOMEM;
  const kps_dims dims = kps_config_dims(cfg);
  /* A worker holds a range in its batch and up to two ranges' bytes in
   * its sends: three ranges within the half of the memory limit a writer's
   * batch gets. */
  const double row = (double)(kps_fields_bytes_per_line(&dims) + sizeof(uint64_t));
  c.range_cap = (size_t)fmax(1.0, fmin((double)c.batch_cap / 3.0, MSG_MAX_BYTES / row));
  if (c.size > 1 && row > MSG_MAX_BYTES) {
    local = KPS_ERR_LIMIT;
    if (c.rank == 0)
      fprintf(stderr, "kpsweep: error: a line of %s holds %.3g MB of results, more than one "
              "message may carry (%.3g MB); run it on one rank or shrink the line\n",
              cfg->source, row / 1e6, MSG_MAX_BYTES / 1e6);
  }
  const size_t first_cap = is_writer ? 64 : c.range_cap;
  if (local == KPS_OK)
    local = kps_batch_create(&dims, first_cap < 64 ? first_cap : 64, &c.batch);
  if (local == KPS_OK && is_worker) local = kps_line_worker_create(cfg, &c.lw);
  if (local == KPS_OK && c.rank == 0 && c.size > 1 &&
      !(ms.slot = calloc((size_t)c.size, sizeof *ms.slot)))
    local = KPS_ERR_NOMEM;
  ms.workers = c.size - c.first_worker;
  ms.opened = c.first_writer == 0;
  if (local == KPS_OK && c.rank == 0) {
    int *weights = calloc((size_t)c.writers, sizeof *weights);
    if (!weights) local = KPS_ERR_NOMEM;
    for (int k = 0; weights && k < c.writers; ++k) weights[k] = workers_of(&c, k);
    if (weights) local = kps_plan_init(&ps.plan, c.n_lines, ps.done, weights, c.writers);
    free(weights);
  }
  /* The record's per-rank counts: allocated here, where a failure is agreed,
   * not before the gathers, which the other ranks would wait in for ever. */
  if (local == KPS_OK && (c.rank == 0 || c.rank == c.first_writer) &&
      (!(per_rank = calloc((size_t)c.size * 3, sizeof(double))) ||
       !(reports = calloc((size_t)c.size, sizeof *reports)) ||
       !(hosts = calloc((size_t)c.size, sizeof *hosts))))
    local = KPS_ERR_NOMEM;
  KPS_CHECK(kps_agree(c.comm, local, &agreed));
  if (agreed != KPS_OK) KPS_FAIL(agreed, "setting up the sweep failed");

  /*
   * Only the writers open the file. A new file starts with no line done, so
   * the workers get their first ranges before it exists and compute while
   * the first writer creates it; they learn a failed open from the master
   * (it stops them) and at the end. A resume needs the file's progress map first, and
   * the workers wait for the open.
   */
  const int overlap = c.size > 1 && opt->mode != KPS_OPEN_RESUME;
  if (overlap && c.rank == 0) {
    local = KPS_OK;
    for (int w = c.first_worker; w < c.size && local == KPS_OK; ++w)
      local = feed(&c, &ps, &ms, w);
    ms.fed = 1;
    if (local != KPS_OK) {
      in_step = 0;
      KPS_FAIL(local, "handing out the first lines failed");
    }
  }
  const double t_open = kps_now();
  local = KPS_OK;
  /* One writer creates a new file alongside its other work (serial: the
   * computing; rank 0: answering the workers). */
  if (is_writer && c.writers == 1 && opt->mode != KPS_OPEN_RESUME)
    local = kps_writer_open_async(cfg, opt->output, opt->mode, c.wcomm, c.size, ps.done,
                                  &c.writer, &resumed);
  else if (is_writer)
    local = kps_writer_open(cfg, opt->output, opt->mode, c.wcomm, c.size, ps.done, &c.writer,
                            &resumed);
  if (local == KPS_ERR_MPI) {
    in_step = 0;
    KPS_FAIL(local, "opening the results file broke down on rank %d", c.rank);
  }
  const double open_s = kps_now() - t_open;
  if (is_writer) c.flush_s += open_s;
  if (!overlap) {
    ms.opened = 1;
    KPS_CHECK(kps_agree(c.comm, local, &agreed));
    if (agreed != KPS_OK) {
      rc = agreed;
      goto cleanup;
    }
    /* A master that does not write gets the progress map from the first writer. */
    if (c.first_writer > 0) {
      KPS_CHECK_MPI(MPI_Bcast(&resumed, 1, MPI_INT, c.first_writer, c.comm));
      if (c.rank == c.first_writer)
        KPS_CHECK_MPI(MPI_Send(ps.done, (int)map_bytes, MPI_BYTE, 0, TAG_OPENED, c.comm));
      else if (c.rank == 0)
        KPS_CHECK_MPI(MPI_Recv(ps.done, (int)map_bytes, MPI_BYTE, c.first_writer, TAG_OPENED,
                               c.comm, MPI_STATUS_IGNORE));
    }
  } else {
    if (local != KPS_OK) {
      /* Agreed by the writers; the workers learn it at the end. */
      c.open_failed = c.flush_failed = 1;
      c.flush_rc = local;
    }
    if (c.first_writer > 0 && c.rank == c.first_writer) {
      const int64_t code = local;
      KPS_CHECK_MPI(MPI_Send(&code, 1, MPI_INT64_T, 0, TAG_OPENED, c.comm));
    }
  }
  if (c.rank == 0)
    for (uint64_t l = 0; l < c.n_lines; ++l) ps.lines_done += (uint64_t)is_done(&ps, l);
  const uint64_t at_start = ps.lines_done;
  /* A master that does not write prints it once the first writer reports. */
  if (c.rank == 0 && !opt->quiet && !c.open_failed && ms.opened) print_header(&c, resumed);

  kps_progress pg;
  kps_progress_init(&pg, c.n_lines * c.n_tau, at_start * c.n_tau, cfg->run.progress_every,
                    opt->quiet || c.rank != 0);
  if (c.size == 1) local = run_serial(&c, &ps, &pg, &interrupted);
  else if (c.rank == 0) local = run_master(&c, &ps, &ms, &pg, &interrupted, &messages);
  else if (is_writer) local = run_writer(&c);
  else local = run_worker(&c);
  /* A failed write was agreed, and a line that could not be computed was
   * reported through the protocol: every rank then left its loop at the
   * same point. Any other failure of a loop (an MPI call, memory for the
   * bookkeeping) was this rank's alone. */
  if (local != KPS_OK && !c.flush_failed) {
    in_step = 0;
    KPS_FAIL(local, "the master/worker protocol broke down on rank %d", c.rank);
  }
  if (local == KPS_OK) local = c.compute_rc;

  /*
   * The end: each rank's outcome and counts go to rank 0 in one gather
   * (posted as each rank leaves its loop: rank 0 waits for no rank to wake
   * up), and the outcome back in one broadcast. A lone writer (rank 0)
   * closes the file and writes the run record in between, so that the
   * broadcast carries the close's outcome too; several writers get the
   * record's rows from rank 0 and agree on their close with everyone
   * after it. Waited for with naps: the ranks that finished first must not
   * take a core from those still closing (nodes are oversubscribed).
   */
  rank_report me = {.status = local, .saved = c.lines_saved, .lines = c.lines_mine,
                    .busy = c.busy_s, .hdf5 = c.flush_s, .solves = {c.solves[0], c.solves[1]}};
  if (is_worker) me.stall = c.stall_s, me.drain = c.drain_s, me.wait = c.wait_s;
  kps_writer_get_counts(c.writer, &me.writes);
  int me_len = 0;
  KPS_CHECK_MPI(MPI_Get_processor_name(me.host, &me_len));
  me.host[sizeof me.host - 1] = '\0';
  MPI_Request req = MPI_REQUEST_NULL;
  KPS_CHECK_MPI(MPI_Igather(&me, (int)sizeof me, MPI_BYTE, reports, (int)sizeof me, MPI_BYTE, 0,
                            c.comm, &req));
  KPS_CHECK(kps_wait_napping(&req));
  /* Sums over the workers (in a serial run the one rank is the worker):
   * busy, stalled on a send, waiting for work; and the writers' slowest. */
  end_info end = {.status = KPS_OK,
                  .interrupted = interrupted,
                  .lines_done = ps.lines_done,
                  .failed = ps.failed,
                  .at_start = at_start,
                  .start = epoch_start,
                  .end = kps_epoch_now()};
  double totals[3] = {0.0, 0.0, 0.0};
  uint64_t solves[2] = {0, 0};
  if (c.rank == 0)
    for (int r = 0; r < c.size; ++r) {
      const rank_report *q = &reports[r];
      if (q->status < end.status) end.status = q->status;
      end.saved += q->saved;
      end.hdf5_max = fmax(end.hdf5_max, q->hdf5);
      totals[0] += c.size == 1 || r >= c.first_worker ? q->busy : 0.0;
      totals[1] += q->stall, totals[2] += q->wait;
      solves[0] += q->solves[0], solves[1] += q->solves[1];
      /* Collective writes: every writer takes part in each. */
      if (q->writes.writes > sum->writes) sum->writes = q->writes.writes;
      sum->write_boxes += q->writes.boxes, sum->write_calls += q->writes.calls;
    }
  /* The per-rank rows exist on rank 0 and the first writer only (rank 0's
   * for a lone writer, the first writer's once rank 0 sent them). */
  double *lines_r = per_rank, *busy_r = per_rank ? per_rank + c.size : NULL;
  double *hdf5_r = per_rank ? per_rank + 2 * c.size : NULL;
  kps_run_record rec = {.n_ranks = c.size,
                        .rank_lines = lines_r,
                        .rank_busy_s = busy_r,
                        .rank_hdf5_s = hdf5_r,
                        .hosts = hosts};
  const double t_close = kps_now();
  if (c.rank == 0 && c.first_writer == 0 && end.status == KPS_OK) {
    record_of(&end, c.n_lines, &rec);
    for (int r = 0; r < c.size; ++r) {
      lines_r[r] = reports[r].lines, busy_r[r] = reports[r].busy, hdf5_r[r] = reports[r].hdf5;
      hosts[r] = reports[r].host;
    }
    local = kps_writer_close(&c.writer, &rec);
    /* (A lone writer's close has no collective that could break down.) */
    end.closed = local == KPS_ERR_MPI ? KPS_ERR_HDF5 : local;
  }
  KPS_CHECK_MPI(MPI_Ibcast(&end, (int)sizeof end, MPI_BYTE, 0, c.comm, &req));
  KPS_CHECK(kps_wait_napping(&req));
  interrupted = end.interrupted;
  double flush_max = end.hdf5_max;
  if (end.status != KPS_OK) {
    /* The failure is known to all; what was written stays resumable. */
    rc = (kps_err)end.status;
    /* A refused or failed open said why already, and saved nothing. */
    if (c.rank == 0 && !c.open_failed)
      fprintf(stderr, "kpsweep: error: the run stopped after a failure; %llu of %llu lines are "
              "saved in %s (continue with --resume)\n",
              (unsigned long long)(at_start + end.saved), (unsigned long long)c.n_lines,
              opt->output);
    goto cleanup;
  }
  if (c.rank == 0) kps_progress_update(&pg, ps.lines_done * c.n_tau, ps.failed, 1);
  if (c.first_writer == 0) {
    KPS_CHECK((kps_err)end.closed);
  } else {
    if (c.rank == 0)
      KPS_CHECK_MPI(MPI_Send(reports, (int)(sizeof *reports * (size_t)c.size), MPI_BYTE,
                             c.first_writer, TAG_RECORD, c.comm));
    if (c.rank == c.first_writer) {
      KPS_CHECK_MPI(MPI_Irecv(reports, (int)(sizeof *reports * (size_t)c.size), MPI_BYTE, 0,
                              TAG_RECORD, c.comm, &req));
      KPS_CHECK(kps_wait_napping(&req));
      for (int r = 0; r < c.size; ++r) {
        lines_r[r] = reports[r].lines, busy_r[r] = reports[r].busy, hdf5_r[r] = reports[r].hdf5;
        hosts[r] = reports[r].host;
      }
    }
    /* The writers agree on the close among themselves (it said what
     * failed); the others learn the outcome here. */
    record_of(&end, c.n_lines, &rec);
    local = is_writer ? kps_writer_close(&c.writer, &rec) : KPS_OK;
    if (local == KPS_ERR_MPI) {
      in_step = 0;
      KPS_FAIL(local, "closing the results file broke down on rank %d", c.rank);
    }
    KPS_CHECK(kps_agree(c.comm, local, &agreed));
    KPS_CHECK(agreed);
  }
  const double t_end = kps_now();
  flush_max += t_end - t_close;

  sum->lines_total = c.n_lines;
  sum->lines_done = end.lines_done;
  sum->lines_resumed = end.at_start;
  sum->points_failed = end.failed;
  sum->wall_seconds = t_end - t_start;
  sum->hdf5_seconds = flush_max;
  sum->busy_seconds = totals[0];
  sum->workers = c.size == 1 ? 1 : c.size - c.first_worker;
  sum->writers = c.writers;
  sum->in_process = c.size == 1;
  /* What the workers could not compute for output: each one's waits for a
   * send buffer, the end (the last write and the close, from rank 0's
   * view) all of them wait for, or its wait for its last sends when that
   * was longer (the two overlap), and the open when they waited for it (a
   * resume). Their waits for work while rank 0 writes are in wait_seconds. */
  double ends_s = 0.0;
  for (int r = c.first_worker; r < c.size && c.rank == 0 && c.size > 1; ++r)
    ends_s += fmax(reports[r].drain, t_end - c.t_last_stop);
  sum->stall_seconds = c.size == 1 ? flush_max
                                   : totals[1] + ends_s +
                                         (double)sum->workers * (overlap ? 0.0 : open_s);
  sum->wait_seconds = c.size == 1 ? 0.0 : totals[2];
  sum->interrupted = interrupted;
  sum->resumed = resumed;
  sum->master_seconds = cpu_seconds() - cpu0;
  sum->messages = messages;
  sum->solves = solves[0];
  sum->points_solved = solves[1];
  if (interrupted) rc = KPS_ERR_INTERRUPTED;
cleanup:
  /* After a broken protocol the ranks are not in step, and closing the
   * file or freeing the communicators (both collective) could wait for
   * ever: leave them to the caller, who must abort. Every other failure
   * was agreed on, so all ranks are here. */
  if (rc == KPS_ERR_MPI) in_step = 0;
  /* A creation still running reads cfg, which the caller frees next. */
  if (!(in_step || c.size == 1)) kps_writer_join(c.writer);
  if (in_step || c.size == 1) {
    kps_writer_abort(&c.writer);
    if (c.wcomm != MPI_COMM_NULL) MPI_Comm_free(&c.wcomm);
    if (c.comm != MPI_COMM_NULL) MPI_Comm_free(&c.comm);
  }
  kps_batch_destroy(&c.batch);
  kps_line_worker_destroy(&c.lw);
  free(c.rbuf);
  free(ms.slot);
  free(ps.done);
  kps_plan_free(&ps.plan);
  free(per_rank);
  free(reports);
  free(hosts);
  return rc;
}
