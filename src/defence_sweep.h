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
#include <stddef.h>
#include <stdint.h>

#include "kpsweep/error.h"
#include "kpsweep/idx.h"
#include "kpsweep/nnattack.h"

/* Bounds of a job: small fixed arrays keep the job a plain value. */
#define KPS_DS_MAX_AXIS 16 /* values per layer axis */
#define KPS_DS_MAX_EPS 16

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
 * [eps][attack][class], mean flipping eps [attack]. */
size_t kps_ds_result_len(const kps_ds_job *job);
#define KPS_DS_R_STATUS 0
#define KPS_DS_R_CLEAN 1
#define KPS_DS_R_CLASS 2
#define KPS_DS_R_ROBUST (KPS_DS_R_CLASS + KPS_FASHION_CLASSES)
size_t kps_ds_r_robust_class(const kps_ds_job *job);
size_t kps_ds_r_flip(const kps_ds_job *job);

/* The images a task uses, loaded once per computing rank. */
typedef struct kps_ds_data {
  kps_idx_set train, test;
} kps_ds_data;

kps_err kps_ds_data_load(const kps_ds_job *job, const char *dir, kps_ds_data *d);
void kps_ds_data_destroy(kps_ds_data *d);

/* Trains and evaluates task t into r (kps_ds_result_len doubles).
 * Deterministic: the same on any rank. Not collective. */
kps_err kps_ds_task_compute(const kps_ds_job *job, const kps_ds_data *d, size_t t, double *r);

/* The results file, held by rank 0 alone (serial driver). */
typedef struct kps_ds_file {
  hid_t file;
} kps_ds_file;

/*
 * Creates path (force: replacing it), or with resume opens it, checks it
 * holds this job (hash) and fills done[t] (n_tasks bytes). An existing file
 * without either flag is KPS_ERR_EXISTS. Not collective.
 */
kps_err kps_ds_file_open(const kps_ds_job *job, const char *path, int resume, int force,
                         kps_ds_file *f, uint8_t *done);
/* Writes task t's result row and marks it done, then flushes the file. */
kps_err kps_ds_file_put(const kps_ds_job *job, kps_ds_file *f, size_t t, const double *r);
kps_err kps_ds_file_close(kps_ds_file *f);

/* `kpsweep defence sweep JOB.yaml -o OUT.h5 [--resume|--force] [--data DIR]`.
 * Collective over comm; returns an exit status. */
int kps_defence_sweep(int argc, char **argv, MPI_Comm comm);

#endif
