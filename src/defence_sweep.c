/*
 * `kpsweep defence sweep`: one network per task, master/worker over the
 * tasks (docs/defence.md). Protocol, on a private duplicate of the caller's
 * communicator:
 *   worker -> master  TAG_RESULT   the last task's result (task -1: none
 *                                  yet), which is also the request for the
 *                                  next one; sent without blocking
 *   master -> worker  TAG_WORK     a task index (the answer to a request)
 *                     TAG_FLUSH    join a collective write of a result row
 *                     TAG_ABANDON  stop the task in hand (a signal)
 *                     TAG_STOP     the last answer: nothing left, leave
 * A task is seconds to minutes of training, so one task per message. Every
 * result reaches the file at once: the master tells every worker to join
 * the collective write, and a computing worker joins from its task's poll
 * (between minibatches and attacked images, milliseconds apart), so no
 * worker idles until the others finish. A worker with nothing to do waits
 * for the final TAG_STOP, which goes out only when no worker computes,
 * still joining writes. The master only dispatches and writes, napping
 * between messages so that it does not take a worker's core. With one
 * rank the tasks run in-process. Every rank reads the job file itself (the
 * same bytes give the same job), and the outcome of the steps that can
 * fail on one rank alone (opening the file on rank 0, loading the images
 * on the workers) is agreed before the tasks start.
 *
 * A signal (the stop flag) abandons the tasks in flight: a worker that
 * sees it, or a TAG_ABANDON, leaves its task from the next poll and
 * reports it interrupted; the master stops handing out, tells the
 * computing workers to abandon, records the results that still arrive,
 * and the run ends with KPS_ERR_INTERRUPTED when tasks remain undone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "defence_sweep.h"
#include "kpsweep/agree.h"
#include "kpsweep/cli.h"
#include "kpsweep/progress.h"

enum ds_tag {
  TAG_RESULT = 201,
  TAG_WORK = 202,
  TAG_STOP = 203,
  TAG_FLUSH = 204,
  TAG_ABANDON = 205
};

/* Result message: task index, the computing rank's code, then the result. */
enum { MSG_TASK, MSG_RC, MSG_HEAD };

/* The naps between probes grow up to NAP_MAX_NS: a task takes seconds at
 * least, so a millisecond of latency costs nothing. */
#define NAP_MIN_NS 20000L
#define NAP_MAX_NS 5000000L

static const char *sweep_help =
    "usage: kpsweep defence sweep JOB.yaml -o OUT.h5 [--resume | --force] [--data DIR]\n"
    "\n"
    "Trains and evaluates one network per task of the job: every (N, m, theta) of\n"
    "`layers` (m >= N stored as invalid), an undefended and an adversarially trained\n"
    "baseline; clean, robust (per eps and attack) and per-class accuracy, the mean\n"
    "smallest flipping eps and (with `landscape`) the loss landscape into one\n"
    "parallel HDF5 file (docs/defence.md). Under mpirun rank 0 hands out tasks, the\n"
    "other ranks compute; every rank writes each result collectively as it arrives.\n"
    "SIGUSR1 (under mpirun), SIGTERM or SIGINT abandon the tasks in flight and exit\n"
    "with status 3, every completed task saved: continue with --resume.\n"
    "  -o OUT.h5   results file (refused if it exists, unless --resume or --force)\n"
    "  --resume    continue OUT.h5: skip its done tasks (same job file only)\n"
    "  --force     replace OUT.h5\n"
    "  --data DIR  directory of the gzipped IDX files (default " KPS_FASHION_MNIST_DIR ")\n";

typedef struct ds_run {
  const kps_ds_job *job;
  volatile sig_atomic_t *stop; /* may be NULL */
  MPI_Comm comm;
  int rank, size;
  kps_ds_file file;
  uint8_t *done;      /* n_tasks flags */
  kps_ds_data data;   /* computing ranks */
  double *msg;        /* MSG_HEAD + result */
  size_t msg_len;
  double t0;
  size_t computed;
  int abandon;        /* worker: TAG_ABANDON received for the task in hand */
  kps_err write_rc;   /* worker: a failed collective write (agreed by all) */
} ds_run;

static void nap(long *ns) {
  struct timespec ts = {0, *ns};
  nanosleep(&ts, NULL);
  *ns = *ns * 2 > NAP_MAX_NS ? NAP_MAX_NS : *ns * 2;
}

static int stop_requested(const ds_run *c) { return c->stop && *c->stop; }

/* One line per finished task, so a long run shows where it is. */
static void report(const ds_run *c, size_t t, const double *r) {
  const kps_ds_task *k = &c->job->tasks[t];
  printf("task %3zu/%zu  ", t + 1, c->job->n_tasks);
  if (k->kind == KPS_DS_UNDEFENDED) printf("%-22s", "undefended");
  else if (k->kind == KPS_DS_ADVERSARIAL) printf("adversarial eps %-6g", c->job->adv_eps);
  else printf("T_{%d,%d} theta %-8g", k->N, k->m, k->theta);
  if (r[KPS_DS_R_STATUS] == KPS_DS_INVALID) printf("  invalid (m >= N), skipped\n");
  else printf("  clean %.4f  %6.1f s\n", r[KPS_DS_R_CLEAN], kps_now() - c->t0);
  fflush(stdout);
}

/* Rank 0: writes task t's row with every rank (collective), then counts it. */
static kps_err record(ds_run *c, size_t t, const double *r) {
  kps_err rc = KPS_OK;
  KPS_CHECK(kps_ds_file_put(c->job, &c->file, (long long)t, r));
  c->done[t] = 1;
  ++c->computed;
  report(c, t, r);
cleanup:
  return rc;
}

/* A single rank's poll: only the stop flag. */
static kps_err serial_poll(void *ctx) {
  return stop_requested(ctx) ? KPS_ERR_INTERRUPTED : KPS_OK;
}

static kps_err run_serial(ds_run *c) {
  kps_err rc = KPS_OK;
  double *r = c->msg + MSG_HEAD;
  for (size_t t = 0; t < c->job->n_tasks; ++t) {
    if (c->done[t]) continue;
    if (stop_requested(c)) KPS_CHECK(KPS_ERR_INTERRUPTED);
    KPS_CHECK(kps_ds_task_compute(c->job, &c->data, t, r, serial_poll, c));
    KPS_CHECK(record(c, t, r));
  }
cleanup:
  return rc;
}

/* Next task to hand out, or -1. */
static long long next_task(const ds_run *c, size_t *next) {
  while (*next < c->job->n_tasks && c->done[*next]) ++*next;
  return *next < c->job->n_tasks ? (long long)(*next)++ : -1;
}

/* Master: tells every worker that computes a task to abandon it. */
static kps_err abandon_all(const ds_run *c, const long long *busy) {
  kps_err rc = KPS_OK;
  const long long none = -1;
  for (int w = 1; w < c->size; ++w)
    if (busy[w] >= 0) KPS_CHECK_MPI(MPI_Send(&none, 1, MPI_LONG_LONG, w, TAG_ABANDON, c->comm));
cleanup:
  return rc;
}

/*
 * Master. busy[w]: the task worker w computes, -1 when it waits for an
 * answer. A result is written at once (every worker joins); tasks are
 * handed out until none is left or the run stops (a signal or a failure);
 * the final TAG_STOP goes out when no worker computes.
 */
static kps_err run_master(ds_run *c, int *interrupted) {
  kps_err rc = KPS_OK, failure = KPS_OK;
  size_t next = 0;
  int stopping = 0;
  long long *busy = NULL;
  KPS_CHECK_ALLOC(busy = malloc((size_t)c->size * sizeof *busy));
  for (int w = 0; w < c->size; ++w) busy[w] = 0; /* each owes its first request */
  for (;;) {
    int ready = 0, n_busy = 0;
    long ns = NAP_MIN_NS;
    MPI_Status st;
    for (int w = 1; w < c->size; ++w) n_busy += busy[w] >= 0;
    if (n_busy == 0) break;
    for (;;) {
      if (!stopping && stop_requested(c)) {
        stopping = *interrupted = 1;
        KPS_CHECK(abandon_all(c, busy));
      }
      KPS_CHECK_MPI(MPI_Iprobe(MPI_ANY_SOURCE, TAG_RESULT, c->comm, &ready, &st));
      if (ready) break;
      nap(&ns);
    }
    const int w = st.MPI_SOURCE;
    KPS_CHECK_MPI(MPI_Recv(c->msg, (int)c->msg_len, MPI_DOUBLE, w, TAG_RESULT, c->comm,
                           MPI_STATUS_IGNORE));
    busy[w] = -1;
    const long long t = (long long)c->msg[MSG_TASK];
    const kps_err trc = (kps_err)c->msg[MSG_RC];
    if (trc == KPS_ERR_INTERRUPTED) {
      /* The worker saw the signal itself: the whole run stops. */
      if (!stopping) stopping = *interrupted = 1, rc = abandon_all(c, busy);
      KPS_CHECK(rc);
    } else if (trc != KPS_OK) {
      if (failure == KPS_OK) failure = trc;
      if (!stopping) stopping = 1, rc = abandon_all(c, busy);
      KPS_CHECK(rc);
    } else if (t >= 0 && failure == KPS_OK) {
      /* Complete results are kept, also after a signal; after a failure
       * nothing more is written. */
      const long long flush = t;
      for (int v = 1; v < c->size; ++v)
        KPS_CHECK_MPI(MPI_Send(&flush, 1, MPI_LONG_LONG, v, TAG_FLUSH, c->comm));
      const kps_err wrc = record(c, (size_t)t, c->msg + MSG_HEAD);
      if (wrc != KPS_OK) {
        /* Agreed by every rank: the file cannot take more. */
        if (failure == KPS_OK) failure = wrc;
        if (!stopping) stopping = 1, rc = abandon_all(c, busy);
        KPS_CHECK(rc);
      }
    }
    const long long give = stopping ? -1 : next_task(c, &next);
    if (give >= 0) {
      KPS_CHECK_MPI(MPI_Send(&give, 1, MPI_LONG_LONG, w, TAG_WORK, c->comm));
      busy[w] = give;
    }
  }
  /* Nobody computes: the answer every waiting worker is owed. */
  for (int w = 1; w < c->size; ++w) {
    const long long none = -1;
    KPS_CHECK_MPI(MPI_Send(&none, 1, MPI_LONG_LONG, w, TAG_STOP, c->comm));
  }
  rc = failure;
cleanup:
  free(busy);
  return rc;
}

/*
 * Worker: handles the master's messages other than answers. A TAG_FLUSH
 * joins the collective write (with no row of its own; a failure, which
 * every rank shares, is kept in write_rc: the master writes no more and
 * the protocol goes on to its end); a TAG_ABANDON marks the task in hand
 * for abandoning. *answer (may be NULL while computing) receives a
 * TAG_WORK or TAG_STOP: 1 with *task and *tag set, else 0.
 */
static kps_err worker_messages(ds_run *c, int *answer, long long *task, int *tag) {
  kps_err rc = KPS_OK;
  if (answer) *answer = 0;
  for (;;) {
    int flag = 0;
    long long v = -1;
    MPI_Status st;
    KPS_CHECK_MPI(MPI_Iprobe(0, MPI_ANY_TAG, c->comm, &flag, &st));
    if (!flag) break;
    if ((st.MPI_TAG == TAG_WORK || st.MPI_TAG == TAG_STOP) && !answer)
      KPS_FAIL(KPS_ERR_INTERNAL, "an answer from the master while computing");
    KPS_CHECK_MPI(MPI_Recv(&v, 1, MPI_LONG_LONG, 0, st.MPI_TAG, c->comm, MPI_STATUS_IGNORE));
    if (st.MPI_TAG == TAG_FLUSH) {
      const kps_err wrc = kps_ds_file_put(c->job, &c->file, -1, NULL);
      if (wrc != KPS_OK && c->write_rc == KPS_OK) c->write_rc = wrc;
      if (wrc == KPS_OK && v >= 0 && (size_t)v < c->job->n_tasks) c->done[v] = 1;
    } else if (st.MPI_TAG == TAG_ABANDON) {
      c->abandon = 1;
    } else if (st.MPI_TAG == TAG_WORK || st.MPI_TAG == TAG_STOP) {
      *answer = 1, *task = v, *tag = st.MPI_TAG;
      break;
    } else {
      KPS_FAIL(KPS_ERR_INTERNAL, "unexpected message tag %d from the master", st.MPI_TAG);
    }
  }
cleanup:
  return rc;
}

/* The poll of a computing worker: the master's messages, then the signal. */
static kps_err worker_poll(void *ctx) {
  ds_run *c = ctx;
  kps_err rc = KPS_OK;
  KPS_CHECK(worker_messages(c, NULL, NULL, NULL));
  if (c->write_rc != KPS_OK) rc = c->write_rc;
  else if (c->abandon || stop_requested(c)) rc = KPS_ERR_INTERRUPTED;
cleanup:
  return rc;
}

static kps_err run_worker(ds_run *c) {
  kps_err rc = KPS_OK;
  MPI_Request req = MPI_REQUEST_NULL;
  c->msg[MSG_TASK] = -1, c->msg[MSG_RC] = KPS_OK;
  for (;;) {
    long long t = -1;
    int answer = 0, tag = 0, sent = 0;
    long ns = NAP_MIN_NS;
    /* Not MPI_Send: the master may be in a collective write that waits for
     * this rank while the message is in flight. */
    KPS_CHECK_MPI(MPI_Isend(c->msg, (int)c->msg_len, MPI_DOUBLE, 0, TAG_RESULT, c->comm, &req));
    for (;;) {
      if (!sent) KPS_CHECK_MPI(MPI_Test(&req, &sent, MPI_STATUS_IGNORE));
      KPS_CHECK(worker_messages(c, &answer, &t, &tag));
      if (answer) break;
      nap(&ns);
    }
    /* The master answers after it received the message. */
    if (!sent) KPS_CHECK_MPI(MPI_Wait(&req, MPI_STATUS_IGNORE));
    if (tag == TAG_STOP) break;
    if (t < 0 || (size_t)t >= c->job->n_tasks)
      KPS_FAIL(KPS_ERR_INTERNAL, "task %lld out of range", t);
    c->abandon = 0;
    const kps_err trc =
        kps_ds_task_compute(c->job, &c->data, (size_t)t, c->msg + MSG_HEAD, worker_poll, c);
    c->msg[MSG_TASK] = (double)t, c->msg[MSG_RC] = trc;
    /* Reported to the master, which stops handing out work; this rank's
     * own outcome is agreed at the end (an abandoned task is no failure of
     * this rank: the master counts it). */
    if (trc != KPS_OK && trc != KPS_ERR_INTERRUPTED && rc == KPS_OK) rc = trc;
  }
  if (rc == KPS_OK) rc = c->write_rc;
cleanup:
  if (req != MPI_REQUEST_NULL) MPI_Request_free(&req);
  return rc;
}

/* The outcome of every rank: a failure anywhere before an interruption,
 * an interruption before success. */
static kps_err agree_outcome(MPI_Comm comm, kps_err local, kps_err *agreed) {
  kps_err rc = KPS_OK, fail = KPS_OK, intr = KPS_OK;
  KPS_CHECK(kps_agree(comm, local == KPS_ERR_INTERRUPTED ? KPS_OK : local, &fail));
  KPS_CHECK(kps_agree(comm, local == KPS_ERR_INTERRUPTED ? local : KPS_OK, &intr));
  *agreed = fail != KPS_OK ? fail : intr;
cleanup:
  return rc;
}

static int usage(int root, const char *fmt, const char *arg) {
  if (root) {
    fprintf(stderr, "kpsweep defence sweep: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'kpsweep defence sweep --help'.\n");
  }
  return KPS_EXIT_USAGE;
}

int kps_defence_sweep(int argc, char **argv, MPI_Comm comm, volatile sig_atomic_t *stop) {
  kps_err rc = KPS_OK, agreed = KPS_OK;
  const char *job_path = NULL, *out = NULL, *data = KPS_FASHION_MNIST_DIR;
  int resume = 0, force = 0;
  kps_ds_job job = {0};
  ds_run c = {0};
  char err[1024];
  c.file.file = H5I_INVALID_HID;
  c.comm = MPI_COMM_NULL;
  c.stop = stop;
  const int root = kps_is_root(comm);
  for (int i = 0; i < argc; ++i) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      if (root) fputs(sweep_help, stdout);
      return KPS_EXIT_OK;
    }
    if (!strcmp(a, "--resume")) resume = 1;
    else if (!strcmp(a, "--force")) force = 1;
    else if (!strcmp(a, "-o") || !strcmp(a, "--data")) {
      if (i + 1 == argc) return usage(root, "%s needs a value", a);
      *(!strcmp(a, "-o") ? &out : &data) = argv[++i];
    } else if (a[0] == '-') return usage(root, "unknown option '%s'", a);
    else if (job_path) return usage(root, "one job file only (also '%s')", a);
    else job_path = a;
  }
  if (!job_path) return usage(root, "which job file?%s", "");
  if (!out) return usage(root, "-o OUT.h5 is required%s", "");
  if (resume && force) return usage(root, "--resume and --force exclude each other%s", "");
  if (kps_ds_job_load(job_path, &job, err, sizeof err) != KPS_OK) {
    if (root) fprintf(stderr, "kpsweep defence sweep: %s\n", err);
    return KPS_EXIT_USAGE;
  }

  c.job = &job;
  c.t0 = kps_now();
  c.msg_len = MSG_HEAD + kps_ds_result_len(&job);
  KPS_CHECK_MPI(MPI_Comm_dup(comm, &c.comm));
  KPS_CHECK_MPI(MPI_Comm_set_errhandler(c.comm, MPI_ERRORS_RETURN));
  KPS_CHECK_MPI(MPI_Comm_rank(c.comm, &c.rank));
  KPS_CHECK_MPI(MPI_Comm_size(c.comm, &c.size));
  KPS_CHECK_ALLOC(c.msg = calloc(c.msg_len, sizeof *c.msg));
  KPS_CHECK_ALLOC(c.done = calloc(job.n_tasks, 1));
  KPS_CHECK(kps_ds_file_open(&job, out, resume, force, c.comm, &c.file, c.done));
  {
    kps_err local = KPS_OK;
    if (c.rank > 0 || c.size == 1) local = kps_ds_data_load(&job, data, &c.data);
    KPS_CHECK(kps_agree(c.comm, local, &agreed));
    if (agreed != KPS_OK) {
      rc = agreed;
      goto cleanup;
    }
  }
  int interrupted = 0;
  if (c.size == 1) rc = run_serial(&c), interrupted = rc == KPS_ERR_INTERRUPTED;
  else if (c.rank == 0) rc = run_master(&c, &interrupted);
  else rc = run_worker(&c);
  size_t n_done = 0;
  for (size_t t = 0; t < job.n_tasks; ++t) n_done += c.done[t];
  /* Interrupted when a signal left tasks undone (one after the last task
   * changes nothing). */
  if (c.rank == 0 && rc == KPS_OK && interrupted && n_done < job.n_tasks) rc = KPS_ERR_INTERRUPTED;
  if (c.rank == 0 && rc == KPS_ERR_INTERRUPTED && n_done == job.n_tasks) rc = KPS_OK;
  {
    const kps_err crc = kps_ds_file_close(&c.file);
    if (rc == KPS_OK || rc == KPS_ERR_INTERRUPTED) rc = crc != KPS_OK ? crc : rc;
  }
  KPS_CHECK(agree_outcome(c.comm, rc, &agreed));
  rc = agreed;
  if (c.rank == 0 && (rc == KPS_OK || rc == KPS_ERR_INTERRUPTED)) {
    size_t invalid = 0;
    for (size_t t = 0; t < job.n_tasks; ++t)
      invalid += job.tasks[t].kind == KPS_DS_GRID && job.tasks[t].m >= job.tasks[t].N;
    printf("sweep      %zu tasks (%zu invalid), %zu this run, %zu done, %d rank(s): %.1f s\n",
           job.n_tasks, invalid, c.computed, n_done, c.size, kps_now() - c.t0);
    if (rc == KPS_OK) printf("wrote      %s\n", out);
    else
      printf("interrupted; saved %zu of %zu tasks in %s\ncontinue with: kpsweep defence sweep %s "
             "-o %s --resume\n", n_done, job.n_tasks, out, job_path, out);
    fflush(stdout);
  }
cleanup:
  if (c.file.file >= 0) {
    /* Only after a failure every rank shares (an agreed open or load). */
    kps_ds_file_close(&c.file);
  }
  kps_ds_data_destroy(&c.data);
  free(c.msg);
  free(c.done);
  if (c.comm != MPI_COMM_NULL) MPI_Comm_free(&c.comm);
  kps_ds_job_destroy(&job);
  return kps_exit_code(rc);
}
