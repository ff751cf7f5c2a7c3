/*
 * `kpsweep defence sweep`: one network per task, master/worker over the
 * tasks (docs/defence.md). Protocol, on a private duplicate of the caller's
 * communicator:
 *   worker -> master  TAG_RESULT  the last task's result (task -1: none yet),
 *                                 which is also the request for the next one
 *   master -> worker  TAG_WORK    a task index
 *                     TAG_STOP    nothing left (or a failure): leave
 * A task is minutes of training, so one task per message; the master only
 * dispatches and writes, napping between messages so that it does not take
 * a worker's core. With one rank the tasks run in-process. Every rank
 * reads the job file itself (the same bytes give the same job), and the
 * outcome of the steps that can fail on one rank alone (opening the file
 * on rank 0, loading the images on the workers) is agreed before the
 * tasks start.
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

enum ds_tag { TAG_RESULT = 201, TAG_WORK = 202, TAG_STOP = 203 };

/* Result message: task index, the computing rank's code, then the result. */
enum { MSG_TASK, MSG_RC, MSG_HEAD };

/* The master's naps between probes grow up to NAP_MAX_NS: a task takes
 * seconds at least, so a millisecond of latency costs nothing. */
#define NAP_MIN_NS 20000L
#define NAP_MAX_NS 5000000L

static const char *sweep_help =
    "usage: kpsweep defence sweep JOB.yaml -o OUT.h5 [--resume | --force] [--data DIR]\n"
    "\n"
    "Trains and evaluates one network per task of the job: every (N, m, theta) of\n"
    "`layers` (m >= N stored as invalid), an undefended and an adversarially trained\n"
    "baseline; clean, robust (per eps and attack) and per-class accuracy and the mean\n"
    "smallest flipping eps into one HDF5 file (docs/defence.md). Under mpirun rank 0\n"
    "hands out tasks and writes, the other ranks compute.\n"
    "  -o OUT.h5   results file (refused if it exists, unless --resume or --force)\n"
    "  --resume    continue OUT.h5: skip its done tasks (same job file only)\n"
    "  --force     replace OUT.h5\n"
    "  --data DIR  directory of the gzipped IDX files (default " KPS_FASHION_MNIST_DIR ")\n";

typedef struct ds_run {
  const kps_ds_job *job;
  MPI_Comm comm;
  int rank, size;
  kps_ds_file file;   /* rank 0 */
  uint8_t *done;      /* n_tasks flags, rank 0 */
  kps_ds_data data;   /* computing ranks */
  double *msg;        /* MSG_HEAD + result */
  size_t msg_len;
  double t0;
  size_t computed;
} ds_run;

static void nap(long ns) {
  struct timespec ts = {0, ns};
  nanosleep(&ts, NULL);
}

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

static kps_err record(ds_run *c, size_t t, const double *r) {
  kps_err rc = KPS_OK;
  KPS_CHECK(kps_ds_file_put(c->job, &c->file, t, r));
  c->done[t] = 1;
  ++c->computed;
  report(c, t, r);
cleanup:
  return rc;
}

static kps_err run_serial(ds_run *c) {
  kps_err rc = KPS_OK;
  double *r = c->msg + MSG_HEAD;
  for (size_t t = 0; t < c->job->n_tasks; ++t) {
    if (c->done[t]) continue;
    KPS_CHECK(kps_ds_task_compute(c->job, &c->data, t, r));
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

static kps_err run_master(ds_run *c) {
  kps_err rc = KPS_OK, failure = KPS_OK;
  size_t next = 0;
  int active = c->size - 1;
  while (active > 0) {
    int ready = 0;
    long ns = NAP_MIN_NS;
    MPI_Status st;
    for (;;) {
      KPS_CHECK_MPI(MPI_Iprobe(MPI_ANY_SOURCE, TAG_RESULT, c->comm, &ready, &st));
      if (ready) break;
      nap(ns);
      ns = ns * 2 > NAP_MAX_NS ? NAP_MAX_NS : ns * 2;
    }
    KPS_CHECK_MPI(MPI_Recv(c->msg, (int)c->msg_len, MPI_DOUBLE, st.MPI_SOURCE, TAG_RESULT, c->comm,
                           MPI_STATUS_IGNORE));
    const long long t = (long long)c->msg[MSG_TASK];
    if (c->msg[MSG_RC] != KPS_OK) {
      /* The worker reported its failure; the others finish their task. */
      if (failure == KPS_OK) failure = (kps_err)c->msg[MSG_RC];
    } else if (t >= 0 && failure == KPS_OK) {
      failure = record(c, (size_t)t, c->msg + MSG_HEAD);
    }
    const long long give = failure == KPS_OK ? next_task(c, &next) : -1;
    const long long out = give;
    KPS_CHECK_MPI(MPI_Send(&out, 1, MPI_LONG_LONG, st.MPI_SOURCE, give >= 0 ? TAG_WORK : TAG_STOP,
                           c->comm));
    if (give < 0) --active;
  }
  rc = failure;
cleanup:
  return rc;
}

static kps_err run_worker(ds_run *c) {
  kps_err rc = KPS_OK;
  c->msg[MSG_TASK] = -1, c->msg[MSG_RC] = KPS_OK;
  for (;;) {
    long long t = -1;
    MPI_Status st;
    KPS_CHECK_MPI(MPI_Send(c->msg, (int)c->msg_len, MPI_DOUBLE, 0, TAG_RESULT, c->comm));
    KPS_CHECK_MPI(MPI_Recv(&t, 1, MPI_LONG_LONG, 0, MPI_ANY_TAG, c->comm, &st));
    if (st.MPI_TAG == TAG_STOP) break;
    if (t < 0 || (size_t)t >= c->job->n_tasks)
      KPS_FAIL(KPS_ERR_INTERNAL, "task %lld out of range", t);
    const kps_err trc = kps_ds_task_compute(c->job, &c->data, (size_t)t, c->msg + MSG_HEAD);
    c->msg[MSG_TASK] = (double)t, c->msg[MSG_RC] = trc;
    /* Reported to the master, which stops handing out work; this rank's
     * own outcome is agreed at the end. */
    if (trc != KPS_OK && rc == KPS_OK) rc = trc;
  }
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

int kps_defence_sweep(int argc, char **argv, MPI_Comm comm) {
  kps_err rc = KPS_OK, agreed = KPS_OK;
  const char *job_path = NULL, *out = NULL, *data = KPS_FASHION_MNIST_DIR;
  int resume = 0, force = 0;
  kps_ds_job job = {0};
  ds_run c = {0};
  char err[1024];
  c.file.file = H5I_INVALID_HID;
  c.comm = MPI_COMM_NULL;
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
  {
    kps_err local = KPS_OK;
    if (c.rank == 0) local = kps_ds_file_open(&job, out, resume, force, &c.file, c.done);
    if (local == KPS_OK && (c.rank > 0 || c.size == 1)) local = kps_ds_data_load(&job, data, &c.data);
    KPS_CHECK(kps_agree(c.comm, local, &agreed));
    if (agreed != KPS_OK) {
      rc = agreed;
      goto cleanup;
    }
  }
  if (c.size == 1) rc = run_serial(&c);
  else if (c.rank == 0) rc = run_master(&c);
  else rc = run_worker(&c);
  if (c.rank == 0) {
    const kps_err crc = kps_ds_file_close(&c.file);
    if (rc == KPS_OK) rc = crc;
    if (rc == KPS_OK) {
      size_t invalid = 0;
      for (size_t t = 0; t < job.n_tasks; ++t) invalid += job.tasks[t].kind == KPS_DS_GRID && job.tasks[t].m >= job.tasks[t].N;
      printf("sweep      %zu tasks (%zu invalid), %zu this run, %d rank(s): %.1f s\nwrote      %s\n",
             job.n_tasks, invalid, c.computed, c.size, kps_now() - c.t0, out);
    }
  }
  KPS_CHECK(kps_agree(c.comm, rc, &agreed));
  rc = agreed;
cleanup:
  if (c.rank == 0) kps_ds_file_close(&c.file);
  kps_ds_data_destroy(&c.data);
  free(c.msg);
  free(c.done);
  if (c.comm != MPI_COMM_NULL) MPI_Comm_free(&c.comm);
  kps_ds_job_destroy(&job);
  return kps_exit_code(rc);
}
