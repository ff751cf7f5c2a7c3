/*
 * The job configuration: a YAML file parsed with libyaml into a plain struct
 * with documented defaults, validated in one place before any solver or file
 * exists. Schema: docs/config.md.
 */
#ifndef KPSWEEP_CONFIG_H
#define KPSWEEP_CONFIG_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "kpsweep/error.h"
#include "kpsweep/model.h"

#define KPS_MAX_AXES 8
#define KPS_MAX_BINS 512
#define KPS_MAX_DRAW 8
#define KPS_MAX_SELF 8 /* background ("self") ligand types */
#define KPS_PATH_MAX 4096

/*
 * Upper limits on the counts a job can set, checked when it is parsed
 * (docs/config.md, "Limits"): generous for real sweeps, small enough that a
 * typo cannot keep a rank busy for days, exhaust memory or overflow an
 * integer conversion. Doubles, as the parser compares them with numbers.
 *   KPS_MAX_AXIS_LEN       values of one axis (parameters, tau2, L2)
 *   KPS_MAX_POINTS         sweep points of the plan (lines x tau2)
 *   KPS_MAX_LINES          lines of the plan (parameter points x L2); also run.chunk
 *   KPS_MAX_SOLVER_STEPS   solver.max_steps (the fallback takes 10x)
 *   KPS_MAX_DESCENT_STEPS  attacks.descent_max_steps
 *   KPS_MAX_PGD_STEPS      attacks.pgd_steps
 *   KPS_MAX_LIGANDS        individual ligands of the descent's histogram: each
 *                          bins[].L, each draw[].count and their total
 *   KPS_MAX_MEMORY_MB      run.memory_limit_mb
 *   KPS_MAX_WRITERS        run.writers
 */
#define KPS_MAX_AXIS_LEN 1e7
#define KPS_MAX_POINTS 1e10
#define KPS_MAX_LINES 1e9
#define KPS_MAX_SOLVER_STEPS 1e7
#define KPS_MAX_DESCENT_STEPS 1e6
#define KPS_MAX_PGD_STEPS 1e5
#define KPS_MAX_LIGANDS 1e7
#define KPS_MAX_MEMORY_MB 1e9
#define KPS_MAX_WRITERS 1e6
/* landscape.n: grid points per direction, odd, in [KPS_MIN_LANDSCAPE_N,
 * KPS_MAX_LANDSCAPE_N] (201^2 solves per parameter point at most). */
#define KPS_MIN_LANDSCAPE_N 3
#define KPS_MAX_LANDSCAPE_N 201

typedef enum kps_axis_kind {
  KPS_AXIS_VALUES = 0, /* explicit list */
  KPS_AXIS_LINEAR = 1, /* {linear: [start, stop, count]} inclusive */
  KPS_AXIS_LOG = 2     /* {log: [start, stop, count]} geometric, inclusive */
} kps_axis_kind;

/* kps_axis.param of the agonist's axes (tau2 and L2 have -1). */
#define KPS_AXIS_TAU1 (-2) /* axes.tau1: the agonist binding time */
#define KPS_AXIS_L1 (-3)   /* axes.L1: the agonist dose */

typedef struct kps_axis {
  char name[64];      /* parameter name, "tau1", "L1", "tau2" or "L2" */
  int param;          /* model parameter index, KPS_AXIS_TAU1/L1, -1 for tau2/L2 */
  kps_axis_kind kind;
  size_t n;           /* number of values, >= 1 */
  double *values;     /* n values, owned */
  int line, column;   /* source position of the axis (1-based) */
} kps_axis;

typedef enum kps_direction {
  KPS_DIR_OFF = -1, /* switch a response off (antagonism) */
  KPS_DIR_ON = 1    /* switch a response on */
} kps_direction;

typedef enum kps_movable {
  KPS_MOVE_BELOW_THRESHOLD = 0, /* only ligands with tau < tau_c (default) */
  KPS_MOVE_ALL = 1
} kps_movable;

/* The histogram descent's update rule (docs/science.md). */
typedef enum kps_descent_method {
  KPS_DESCENT_PUBLISHED = 0, /* individual ligands, step eta * dO/dtau_bin, re-binned */
  KPS_DESCENT_NORMALIZED = 1 /* bins move by eta * g_j / max |g|, never re-binned */
} kps_descent_method;

/* One component a ligand histogram is drawn from. */
typedef struct kps_draw_component {
  int half_normal;   /* 0: N(mean, sd); 1: |N(mean, sd)| */
  double mean, sd;   /* binding-time distribution (s) */
  double count;      /* ligands drawn from it */
} kps_draw_component;

typedef struct kps_attack_config {
  int enabled;                 /* any attack at all; default 0 */
  kps_direction direction;     /* default KPS_DIR_OFF */
  kps_movable movable;         /* default below threshold */
  int fgsm_L, fgsm_tau;        /* per sweep point; default 1 when enabled */
  double fgsm_eps_L_max;       /* end of the FGSM ray in counts; default 1e7 */
  double fgsm_eps_tau_max;     /* end of the FGSM ray in binding times; default tau_c */
  double tau_min;              /* clip floor for tau attacks; default 1e-3 */
  int descent;                 /* iterative descent on a histogram, per line */
  kps_descent_method descent_method; /* default published */
  double descent_eta;          /* default 0.2 */
  int descent_max_steps;       /* default 1000 */
  int descent_ligands;         /* store each ligand's final tau (published); default 0 */
  int pgd;                     /* PGD per sweep point; default 1 when enabled */
  double pgd_eps, pgd_step;    /* L-inf budget on tau and step; default 0.5, 0.05 */
  int pgd_steps;               /* default 20 */
  /* The histogram for the descent: explicit bins or drawn. */
  double bin_width;            /* default 0.2 */
  size_t n_bins;               /* explicit bins given */
  double bin_tau[KPS_MAX_BINS], bin_L[KPS_MAX_BINS];
  size_t n_draw;               /* draw components (used when n_bins == 0) */
  kps_draw_component draw[KPS_MAX_DRAW];
  uint64_t seed;               /* default 1 */
  double tau_max;              /* histogram upper edge; default 2 tau_c */
} kps_attack_config;

/* The output landscape around the descent's start (docs/science.md 5.4). */
typedef struct kps_landscape_config {
  int enabled;      /* default 0; needs attacks.histogram */
  double eps_max;   /* half-width of the grid in counts (molecules); default 2000 */
  int n;            /* grid points per direction, odd; default 21 */
  uint64_t seed;    /* seed of the second direction v; default 1 */
} kps_landscape_config;

typedef struct kps_solver_config {
  double rtol;          /* CVODE relative tolerance, default 1e-6 */
  double atol_rel;      /* absolute tolerance relative to totals, default 1e-12 */
  double newton_tol;    /* Newton step, relative per component, default 1e-10 */
  double t_max;         /* integration horizon (s), default 1e7 */
  long max_steps;       /* CVODE steps per cold solve, default 20000 */
  int warm_start;       /* continuation along tau2, default 1 */
} kps_solver_config;

typedef struct kps_run_config {
  char output[KPS_PATH_MAX]; /* default "results/<job name>.h5" */
  double checkpoint_every;   /* seconds between flushes, default 60 */
  long chunk;                /* lines per work request, 0 = auto (default) */
  double memory_limit_mb;    /* per-rank plan limit, default 1024 */
  double progress_every;     /* seconds between progress lines, default 2 */
  /* Bit f set: field f of KPS_FIELD_LIST (results.h) is neither created in
   * the file nor kept in a batch (run.fields). Default 0: every field.
   * Never set for status, which marks computed points. */
  uint64_t fields_omitted;
  int compression;           /* KPS_COMPRESS_*, default none */
  int compression_level;     /* deflate level 1..9, default 4 */
  int writers;               /* ranks that write the results file (0..writers-1), default 1 */
  int fill;                  /* KPS_FILL_*, default auto */
} kps_run_config;

/* run.compression: the filters of every field's dataset. */
typedef enum kps_compression { KPS_COMPRESS_NONE = 0, KPS_COMPRESS_DEFLATE = 1 } kps_compression;

/*
 * run.fill: what a new results file holds where nothing is computed yet.
 * all: every field its fill value (NaN, -1), written whole by the file's
 * creator; status: only /points/status (-1, written by the writers
 * together) and the progress map, every other value is undefined (0) until
 * its line is done. auto: all up to KPS_FILL_ALL_MAX_BYTES of file (and
 * with compression), status above.
 */
typedef enum kps_fill { KPS_FILL_AUTO = 0, KPS_FILL_ALL = 1, KPS_FILL_STATUS = 2 } kps_fill;
#define KPS_FILL_ALL_MAX_BYTES (4.0 * 1024 * 1024 * 1024)

typedef struct kps_stats_config {
  int boundary;         /* compute L2*(tau2) and L1*; default 1 */
  int line_stats;       /* tau*, p, tau_infl, regime; default 1 */
  double fc_tol;        /* significance of an FC dip (regime); default 1e-3 */
} kps_stats_config;

typedef struct kps_config {
  char source[KPS_PATH_MAX]; /* file name used in messages */
  char *text;                /* the YAML text, owned, NUL-terminated */
  size_t text_len;
  char name[128];            /* job name, default: file stem */

  const kps_model *model;    /* a registered model, or one owned by the config: */
  char *network_text;        /* the network file's text (model: {network: FILE}), owned */
  size_t network_len;
  char network_path[KPS_PATH_MAX]; /* that file, as opened (relative to the job file) */
  double params[KPS_MAX_PARAMS]; /* fixed values: defaults, then `params:` */

  size_t n_axes;                 /* axes (model parameters, tau1, L1), in config order */
  kps_axis axes[KPS_MAX_AXES];

  double agonist_tau, agonist_L; /* default 4.0 s, 4000; NaN when on an axis */
  size_t n_self;                 /* background ligand types of `self:`, default 0 */
  double self_tau[KPS_MAX_SELF], self_L[KPS_MAX_SELF];
  kps_axis tau2;                 /* antagonist binding-time axis, required */
  kps_axis L2;                   /* antagonist dose axis, default [6000] */

  int threshold_explicit;        /* 1 when threshold.value is given */
  double threshold_value;        /* explicit O_th */
  double tau_c;                  /* default 3.0 s */
  double L_ref;                  /* default NaN = model default (10 R) */
  int L_ref_agonist;             /* 1: L_ref is the agonist's dose */

  kps_solver_config solver;
  kps_run_config run;
  kps_stats_config stats;
  kps_attack_config attack;
  kps_landscape_config landscape;
} kps_config;

/* Fills every field with its documented default (no model, no axes). */
void kps_config_defaults(kps_config *cfg);

/*
 * Parses YAML text into cfg (which must hold defaults) and validates it.
 * `source` names the file in messages "source:line:column: key: reason".
 * On failure writes the message into err[0..errlen) and returns
 * KPS_ERR_CONFIG; cfg must still be passed to kps_config_destroy.
 * Not collective.
 */
kps_err kps_config_parse(kps_config *cfg, const char *source, const char *text,
                         size_t len, char *err, size_t errlen);

/*
 * Reads the file on rank 0, broadcasts its bytes, parses on every rank.
 * A missing file or a config error is reported once (rank 0) and returned
 * as KPS_ERR_IO / KPS_ERR_CONFIG on every rank. Collective on comm.
 */
kps_err kps_config_load(kps_config *cfg, const char *path, MPI_Comm comm);

/*
 * A number as a job file takes it (plain decimal: no hex, inf, nan or
 * trailing characters), checked against the range of the job-file key
 * `key` ("solver.rtol", "threshold.tau_c", "agonist.L", ...), so that other
 * front ends (solve's options) accept exactly what job files accept. On
 * failure writes the reason ("must be > 0 and < 1, got 2") into
 * why[0..n) and returns KPS_ERR_CONFIG (KPS_ERR_INTERNAL for a key without
 * a number range). Not collective.
 */
kps_err kps_config_number(const char *key, const char *text, double *out, char *why,
                          size_t n);

/* The same for parameter j of model m: its [min, max], integral for
 * integer parameters (as `params:` in a job file). Not collective. */
kps_err kps_config_param_number(const kps_model *m, int j, const char *text, double *out,
                                char *why, size_t n);

/* Frees what cfg owns and resets it to defaults. Not collective. */
void kps_config_destroy(kps_config *cfg);

/*
 * A canonical text of everything that determines the numbers (model,
 * parameters, axes, ligands, threshold, solver, stats, attacks; not the run
 * section). Two configs with the same canonical text give identical results.
 * Returns a malloc'd string. Not collective.
 */
char *kps_config_canonical(const kps_config *cfg);

/* 64-bit FNV-1a hash of a byte string (used for the canonical text). */
uint64_t kps_hash64(const void *data, size_t len);

/* Number of parameter points: combinations of the axes, model parameters
 * and agonist alike (product of the axis sizes, >= 1). */
size_t kps_config_n_param_points(const kps_config *cfg);

/* Number of lines (tasks): parameter points x L2 values. */
size_t kps_config_n_lines(const kps_config *cfg);

/* Number of sweep points: lines x tau2 values. */
size_t kps_config_n_points(const kps_config *cfg);

/* What a line computes with: everything but the antagonist binding time. */
typedef struct kps_line_inputs {
  double p[KPS_MAX_PARAMS]; /* model parameters */
  double tau1, L1;          /* agonist binding time and dose */
  double L2;                /* antagonist dose */
} kps_line_inputs;

/*
 * The inputs of line `line` (row-major over axes..., L2 last): fixed values
 * with the line's axis values in their place. Not collective.
 */
void kps_config_line_inputs(const kps_config *cfg, size_t line, kps_line_inputs *in);

/* The model parameters and L2 of kps_config_line_inputs. Not collective. */
void kps_config_line_params(const kps_config *cfg, size_t line, double *p,
                            double *L2);

/* Ligand types of a point: 2 + the self types. */
#define KPS_LINE_MAX_K (2 + KPS_MAX_SELF)

/*
 * The ligand types of a point of a line at antagonist binding time tau2:
 * the agonist (index 0), the antagonist (1), then every self type (2..).
 * Fills tau[0..K) and L[0..K) and returns K = 2 + n_self. Not collective.
 */
int kps_config_ligands(const kps_config *cfg, const kps_line_inputs *in, double tau2,
                       double *tau, double *L);

/*
 * Bins of the descent's histogram grid: ceil(tau_max / bin_width), at
 * least 1 (the parser refuses more than KPS_MAX_BINS). Not collective.
 */
size_t kps_attack_grid_bins(const kps_attack_config *a);

/*
 * Length of the results file's `bin` dimension: the grid bins when the
 * descent runs, else 1. Not collective.
 */
size_t kps_config_n_bins(const kps_config *cfg);

/*
 * Length of the results file's `ligand` dimension: with
 * attacks.descent_ligands the published descent's individual ligands (the
 * rounded counts of kps_attack_ligands, at least 1), else 1. Not collective.
 */
size_t kps_config_n_ligands(const kps_config *cfg);

/* Length of each of the `land_u`, `land_v` dimensions: landscape.n when the
 * landscape is enabled, else 1. Not collective. */
size_t kps_config_n_land(const kps_config *cfg);

#endif
