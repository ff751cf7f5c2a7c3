/*
 * The defence sweep (`kpsweep defence sweep`, docs/defence.md): a job file
 * names a grid of proofreading layers (N, m, theta) and baselines; one task
 * trains and evaluates one network. Internal to the library: the job
 * (src/defence_job.c), one task's computation (src/defence_task.c), the
 * results file (src/defence_file.c) and the master/worker run
 * (src/defence_sweep.c).
 */
#ifndef KPSWEEP_DEFENCE_SWEEP_H
#define KPSWEEP_DEFENCE_SWEEP_H

#include <hdf5.h>
#include <mpi.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "kpsweep/error.h"
#include "kpsweep/idx.h"
#include "kpsweep/lock.h"
#include "kpsweep/nnattack.h"

/* Bounds of a job: small fixed arrays keep the job a plain value. */
#define KPS_DS_MAX_AXIS 16 /* values per layer axis */
#define KPS_DS_MAX_EPS 16
#define KPS_DS_MAX_LAND 101 /* landscape points per direction */

/* What a task's network is; stored per task as /kind. */
typedef enum kps_ds_kind { KPS_DS_GRID = 0, KPS_DS_UNDEFENDED = 1, KPS_DS_ADVERSARIAL = 2 } kps_ds_kind;

/* Task outcome; stored per task as /status (0, the fill value: not yet). */
typedef enum kps_ds_status {
  KPS_DS_PENDING = 0,
  KPS_DS_COMPUTED = 1,
  KPS_DS_INVALID = 2 /* m >= N: no such layer, nothing trained */
} kps_ds_status;

typedef struct kps_ds_task {
  kps_ds_kind kind;
  int N, m;     /* 0 for the baselines */
  double theta; /* 0 for the baselines */
} kps_ds_task;

typedef struct kps_ds_job {
  char *text; /* the job file as read: stored in the results file */
  size_t text_len;
  uint64_t hash; /* of text: --resume refuses a file of another job */
  int n_eps, n_attacks;
  double eps[KPS_DS_MAX_EPS]; /* strictly increasing */
  kps_nn_attack attacks[KPS_NN_N_ATTACKS];
  int epochs, hidden;
  uint64_t seed, attack_seed;
  double c, adv_eps;
  size_t n_train, n_test, n_attack, n_spsa;
  int land_points;    /* per direction, odd; 0: no loss landscape */
  size_t land_images; /* the first test images averaged over */
  double land_span;   /* u and v run over [-span, span] */
  size_t n_tasks;
  kps_ds_task *tasks; /* grid N-major, then m, then theta; then the baselines */
} kps_ds_job;

/*
 * Reads and validates the job file. On failure returns KPS_ERR_CONFIG (or
 * NOMEM) with "FILE:LINE:COL: key: reason" in err. Not collective.
 */
kps_err kps_ds_job_load(const char *path, kps_ds_job *job, char *err, size_t errlen);
void kps_ds_job_destroy(kps_ds_job *job);

/* Doubles of one task's result (kps_ds_result_*): status, clean accuracy,
 * class accuracy, robust accuracy [eps][attack], robust class accuracy
 * [eps][attack][class], mean flipping eps [attack], loss landscape [u][v]. */
size_t kps_ds_result_len(const kps_ds_job *job);
#define KPS_DS_R_STATUS 0
#define KPS_DS_R_CLEAN 1
#define KPS_DS_R_CLASS 2
#define KPS_DS_R_ROBUST (KPS_DS_R_CLASS + KPS_FASHION_CLASSES)
size_t kps_ds_r_robust_class(const kps_ds_job *job);
size_t kps_ds_r_flip(const kps_ds_job *job);
size_t kps_ds_r_land(const kps_ds_job *job);

/* The images a task uses, loaded once per computing rank. */
typedef struct kps_ds_data {
  kps_idx_set train, test;
} kps_ds_data;

kps_err kps_ds_data_load(const kps_ds_job *job, const char *dir, kps_ds_data *d);
void kps_ds_data_destroy(kps_ds_data *d);

/*
 * Trains and evaluates task t into r (kps_ds_result_len doubles).
 * Deterministic: the same on any rank. poll (may be NULL) is called
 * between minibatches and attacked images: its code other than KPS_OK
 * abandons the task, which returns that code. Not collective (unless poll
 * is).
 */
kps_err kps_ds_task_compute(const kps_ds_job *job, const kps_ds_data *d, size_t t, double *r,
                            kps_poll_fn poll, void *poll_ctx);

/* The datasets a task's result row fills, in kps_ds_file_put's order. */
enum { KPS_DS_ROW_STATUS, KPS_DS_ROW_CLEAN, KPS_DS_ROW_CLASS, KPS_DS_ROW_ROBUST,
       KPS_DS_ROW_ROBUST_CLASS, KPS_DS_ROW_FLIP, KPS_DS_ROW_LAND, KPS_DS_ROW_DONE,
       KPS_DS_N_ROWS };

/* The results file, open on every rank of comm (MPI-IO). */
typedef struct kps_ds_file {
  MPI_Comm comm;
  int rank;
  hid_t file;
  hid_t dset[KPS_DS_N_ROWS]; /* H5I_INVALID_HID: not in this job (no landscape) */
  kps_lock *lock;            /* rank 0: held from open to close */
} kps_ds_file;

/*
 * Rank 0 takes the lock PATH.lock and creates path (force: replacing it;
 * built as PATH.part and renamed), or with resume checks that it holds
 * this job (hash) and reads its /done flags; then every rank opens it with
 * MPI-IO and receives done[t] (n_tasks bytes). An existing file without
 * either flag is KPS_ERR_EXISTS. Failures are agreed by all ranks.
 * Collective over comm.
 */
kps_err kps_ds_file_open(const kps_ds_job *job, const char *path, int resume, int force,
                         MPI_Comm comm, kps_ds_file *f, uint8_t *done);
/*
 * Writes result rows by collective MPI-IO: a rank with t >= 0 writes task
 * t's row r, one with t < 0 nothing; the rows first, then their /done
 * flags, then a flush, each step agreed. Collective over the file's comm.
 */
kps_err kps_ds_file_put(const kps_ds_job *job, kps_ds_file *f, long long t, const double *r);
/* Closes the file (agreed) and releases the lock. Collective; a closed
 * file is a no-op. */
kps_err kps_ds_file_close(kps_ds_file *f);

/* `kpsweep defence sweep JOB.yaml -o OUT.h5 [--resume|--force] [--data DIR]`.
 * Collective over comm; returns an exit status. SIGTERM/SIGINT/SIGUSR1
 * (stop set) abandon the tasks in flight, keep every completed one and
 * give exit status 3. */
int kps_defence_sweep(int argc, char **argv, MPI_Comm comm, volatile sig_atomic_t *stop);

#endif
