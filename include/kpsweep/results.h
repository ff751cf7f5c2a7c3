/*
 * The result fields of a sweep and the in-memory batch that holds the lines
 * a rank computed since its last flush.
 *
 * Every field is stored as one dataset (docs/output.md). Point fields have
 * one value per sweep point (shape: parameter axes..., L2, tau2); line
 * fields one value per line (shape: parameter axes..., L2), some with
 * trailing dimensions of their own (bin, ligand, land_u x land_v). The list below is
 * the single source of truth for names, types, units and docs.
 * Nothing here is collective; a batch belongs to one rank.
 */
#ifndef KPSWEEP_RESULTS_H
#define KPSWEEP_RESULTS_H

#include <stddef.h>
#include <stdint.h>

#include "kpsweep/config.h"
#include "kpsweep/error.h"

typedef enum kps_dtype { KPS_F64 = 0, KPS_I32 = 1, KPS_I8 = 2 } kps_dtype;
/* Point fields: one value per tau2; line fields: one per line; bin fields:
 * one per histogram bin of the line's descent; ligand fields: one per
 * individual ligand of the published descent; landscape fields: one per
 * point (a, b) of the landscape grid (two trailing dimensions). */
typedef enum kps_scope {
  KPS_POINT = 0,
  KPS_LINE = 1,
  KPS_LINE_BIN = 2,
  KPS_LINE_LIGAND = 3,
  KPS_LINE_LAND = 4
} kps_scope;
#define KPS_N_SCOPES 5

/* Extents of the trailing dimensions a line's fields may have. */
typedef struct kps_dims {
  size_t n_tau;     /* `tau2`: points per line */
  size_t n_bins;    /* `bin`: histogram bins (kps_config_n_bins) */
  size_t n_ligands; /* `ligand`: the descent's ligands (kps_config_n_ligands) */
  size_t n_land;    /* `land_u` and `land_v`, each (kps_config_n_land) */
  uint64_t omitted; /* fields not written (run.fields): bit f for field f; 0: all */
} kps_dims;

/*
 * X(id, name, type, scope, unit, description, flags). Categorical fields
 * carry CF flag_values / flag_meanings: flags expands to the two strings
 * (space-separated), or to NULL, NULL. The status codes' flags come from
 * the status table (KPS_FLAGS_FROM_STATUS).
 */
#define NO_FLAGS NULL, NULL
#define FLAGS_DECISION "-1 0 1", "unknown no_response respond"
#define FLAGS_TRI "-1 0 1", "not_applicable no yes"
#define FLAGS_STATUS KPS_FLAGS_FROM_STATUS, NULL
#define FLAGS_REGIME "-1 0 1 2 3", "unknown none edge critical beyond"
#define FLAGS_EDGE "-1 0 1", "unknown steep flat"
#define KPS_FLAGS_FROM_STATUS "status"
#define KPS_FIELD_LIST(X)                                                                    \
  X(F_O, "O", KPS_F64, KPS_POINT, "molecules", "output at steady state (sum of C_N)", NO_FLAGS) \
  X(F_O_REL, "O_rel", KPS_F64, KPS_POINT, "1", "O / O_th (T_{N,m} for ideal)", NO_FLAGS) \
  X(F_FC, "FC", KPS_F64, KPS_POINT, "1", "fold change O(agonist+antagonist)/O(agonist), the self ligands in both", NO_FLAGS) \
  X(F_DECISION, "decision", KPS_I8, KPS_POINT, "1", "1 respond (O > O_th), 0 not, -1 unknown", FLAGS_DECISION) \
  X(F_DO_DTAU2, "dO_dtau2", KPS_F64, KPS_POINT, "molecules/s", "dO/dtau_2 (exact, IFT)", NO_FLAGS) \
  X(F_DO_DL2, "dO_dL2", KPS_F64, KPS_POINT, "1", "dO/dL_2 (exact, IFT)", NO_FLAGS) \
  X(F_DO_DTAU1, "dO_dtau1", KPS_F64, KPS_POINT, "molecules/s", "dO/dtau_1 (exact, IFT)", NO_FLAGS) \
  X(F_DO_DL1, "dO_dL1", KPS_F64, KPS_POINT, "1", "dO/dL_1 (exact, IFT)", NO_FLAGS) \
  X(F_STATUS, "status", KPS_I8, KPS_POINT, "1", "solver status code (see attribute status_codes)", FLAGS_STATUS) \
  X(F_CV_STEPS, "cv_steps", KPS_I32, KPS_POINT, "1", "CVODE steps (0 when warm-started)", NO_FLAGS) \
  X(F_NEWTON, "newton_iters", KPS_I32, KPS_POINT, "1", "Newton polish iterations", NO_FLAGS) \
  X(F_ADJ_CHECK, "adjoint_check", KPS_F64, KPS_POINT, "1", "componentwise backward error of the adjoint (gradient) solve; above 1e-10 the point has status grad_inaccurate (NaN: closed form)", NO_FLAGS) \
  X(F_L2_STAR, "L2_star", KPS_F64, KPS_POINT, "molecules", "smallest antagonist dose that switches the response off (0: already off, inf: none)", NO_FLAGS) \
  X(F_L1_STAR, "L1_star", KPS_F64, KPS_POINT, "molecules", "smallest agonist dose that responds against this antagonist load (inf: none)", NO_FLAGS) \
  X(F_FGSM_L, "fgsm_L_eps", KPS_F64, KPS_POINT, "molecules", "smallest FGSM eps in count space that flips the decision (inf: none up to eps_max, NaN: not applicable)", NO_FLAGS) \
  X(F_FGSM_TAU, "fgsm_tau_eps", KPS_F64, KPS_POINT, "s", "smallest FGSM eps in binding-time space that flips the decision", NO_FLAGS) \
  X(F_PGD_FLIP, "pgd_flipped", KPS_I8, KPS_POINT, "1", "PGD on binding times flipped the decision (1), did not (0), not applicable (-1)", FLAGS_TRI) \
  X(F_PGD_STEPS, "pgd_steps", KPS_I32, KPS_POINT, "1", "PGD steps to the flip (or all steps)", NO_FLAGS) \
  X(F_N_SOLVES, "n_solves", KPS_I32, KPS_POINT, "1", "steady-state evaluations spent on the point: its own solve, its dose boundaries and attacks; the line's own (agonist alone, line statistics) count at its first point, the threshold, the descent and the landscape (once per parameter point) nowhere", NO_FLAGS) \
  X(F_O_TH, "O_th", KPS_F64, KPS_LINE, "molecules", "decision threshold O_th", NO_FLAGS) \
  X(F_O_AG, "O_agonist", KPS_F64, KPS_LINE, "molecules", "output of the agonist alone (with the self ligands)", NO_FLAGS) \
  X(F_TAU_STAR, "tau_star", KPS_F64, KPS_LINE, "s", "strongest antagonist: interior zero of dO/dtau2 (critical lines only; NaN otherwise)", NO_FLAGS) \
  X(F_TAU_STAR_REL, "tau_star_rel", KPS_F64, KPS_LINE, "1", "tau_star / tau_c", NO_FLAGS) \
  X(F_FC_STAR, "FC_star", KPS_F64, KPS_LINE, "1", "fold change at tau_star", NO_FLAGS) \
  X(F_P_EDGE, "p_edge", KPS_F64, KPS_LINE, "1", "edge exponent d log|dO/dtau2| / d log tau2 at the lower end of the axis", NO_FLAGS) \
  X(F_TAU_INFL, "tau_infl", KPS_F64, KPS_LINE, "s", "interior extremum of dO/dtau2 below tau_star (NaN: none)", NO_FLAGS) \
  X(F_REGIME, "regime", KPS_I8, KPS_LINE, "1", "critical point of the descent flow: none (min FC >= 1 - fc_tol), edge (strongest antagonist at the weakest ligands), critical (interior tau_star, FC dip deeper than fc_tol below the weakest ligands), beyond (tau_star above the axis), unknown", FLAGS_REGIME) \
  X(F_EDGE_CLASS, "edge_class", KPS_I8, KPS_LINE, "1", "shape at the weak-ligand edge: flat (critical and dO/dtau2 has an extremum below tau_star, so the gradient fades toward the weakest ligands), steep otherwise, unknown", FLAGS_EDGE) \
  X(F_FC_MIN, "FC_min", KPS_F64, KPS_LINE, "1", "smallest fold change along the line (grid and tau_star)", NO_FLAGS) \
  X(F_DESC_FLIP, "descent_flipped", KPS_I8, KPS_LINE, "1", "histogram descent flipped the decision (1), not (0), not run (-1)", FLAGS_TRI) \
  X(F_DESC_STEPS, "descent_steps", KPS_I32, KPS_LINE, "1", "descent steps to the flip (descent_max_steps when none; -1 not run)", NO_FLAGS) \
  X(F_DESC_TAU, "descent_tau_mean", KPS_F64, KPS_LINE, "s", "count-weighted mean binding time of the moved ligands at the end", NO_FLAGS) \
  X(F_DESC_NEAR0, "descent_frac_near0", KPS_F64, KPS_LINE, "1", "share of the ligands movable at the start that end in the first bin [0, bin_width)", NO_FLAGS) \
  X(F_DESC_O0, "descent_O0", KPS_F64, KPS_LINE, "molecules", "output of the descent's starting histogram", NO_FLAGS) \
  X(F_DESC_O, "descent_O", KPS_F64, KPS_LINE, "molecules", "output of the descent's final histogram", NO_FLAGS) \
  X(F_DESC_HIST, "descent_hist", KPS_I32, KPS_LINE_BIN, "ligands", "final histogram of the descent: ligands per bin (bin centres in the bin dimension scale)", NO_FLAGS) \
  X(F_DESC_LIG_TAU, "descent_ligand_tau", KPS_F64, KPS_LINE_LIGAND, "s", "final binding time of each ligand of the published descent, in draw order (initial ones in the ligand dimension scale; NaN: descent not run)", NO_FLAGS) \
  X(F_LAND, "landscape", KPS_F64, KPS_LINE_LAND, "1", "O(max(0, L0 + a u + b v)) / O_th around the descent's starting histogram L0, a and b in the land_u and land_v dimension scales (NaN: failed solve or not computed)", NO_FLAGS) \
  X(F_LAND_U, "landscape_u", KPS_F64, KPS_LINE_BIN, "1", "first landscape direction: s sign(dO/dL_j) at L0 on the movable bins, 0 elsewhere", NO_FLAGS) \
  X(F_LAND_V, "landscape_v", KPS_F64, KPS_LINE_BIN, "1", "second landscape direction: a seeded Gaussian on the movable bins, orthogonal to landscape_u, of the same length", NO_FLAGS)

typedef enum kps_field_id {
#define KPS_FIELD_ENUM_(id, name, type, scope, unit, doc, flags) id,
  KPS_FIELD_LIST(KPS_FIELD_ENUM_)
#undef KPS_FIELD_ENUM_
  KPS_N_FIELDS
} kps_field_id;

/* run.fields is a bit mask over the fields. */
_Static_assert(KPS_N_FIELDS <= 64, "a field selection is a 64-bit mask");

typedef struct kps_field_info {
  const char *name;
  kps_dtype type;
  kps_scope scope;
  const char *unit;
  const char *doc;
  const char *flag_values;   /* CF flag_values, space-separated; NULL: not categorical */
  const char *flag_meanings; /* CF flag_meanings */
} kps_field_info;

/* The field table, KPS_N_FIELDS entries. Not collective. */
const kps_field_info *kps_fields(void);

/* Size in bytes of one value of a dtype. */
size_t kps_dtype_size(kps_dtype t);

/* Whether field f is written under d (not omitted by run.fields). Not
 * collective. */
int kps_field_kept(const kps_dims *d, int f);

/*
 * Lines computed by one rank since its last flush. A field omitted by
 * run.fields has room for one row only, shared by every row: the line
 * being computed still reads it (line statistics read O and dO/dtau2, the
 * sweep reads n_solves after each line), nothing after that line does.
 */
typedef struct kps_batch {
  size_t n_tau;       /* points per line */
  size_t n_bins;      /* histogram bins per line (bin fields) */
  size_t n_ligands;   /* the descent's ligands per line (ligand fields) */
  size_t n_land;      /* landscape grid points per direction (n_land^2 per line) */
  size_t n_lines;     /* lines held */
  size_t cap;         /* capacity in lines */
  uint64_t omitted;   /* fields not written: one shared row each (kps_dims) */
  uint64_t *line_ids; /* global line index of each held line */
  void *data[KPS_N_FIELDS]; /* per field: cap (omitted: 1) rows of its values */
} kps_batch;

/* The trailing extents of the results of cfg. Not collective. */
kps_dims kps_config_dims(const kps_config *cfg);

/* The trailing dimensions of a scope: their number (0, 1 or 2) and
 * extents into trail[0..2). Not collective. */
int kps_scope_trailing(kps_scope s, const kps_dims *d, size_t *trail);

/* Values per line of a field of scope s: the product of its trailing
 * extents (1 for line fields). Not collective. */
size_t kps_scope_len(kps_scope s, const kps_dims *d);

/* Bytes per line of every field written under d together. Not collective. */
size_t kps_fields_bytes_per_line(const kps_dims *d);

/* Allocates a batch for `cap` lines with the trailing extents d. Not
 * collective. */
kps_err kps_batch_create(const kps_dims *d, size_t cap, kps_batch **out);

/* Frees the batch and sets *b to NULL; accepts NULL. */
void kps_batch_destroy(kps_batch **b);

/* Appends a line (grows when full) and returns its row, or -1 on no memory. */
long kps_batch_add(kps_batch *b, uint64_t line_id);

/* Empties the batch (keeps capacity). */
void kps_batch_clear(kps_batch *b);

/* Removes the first n rows (all when n >= rows held); the others move to
 * the front, in order. */
void kps_batch_drop_front(kps_batch *b, size_t n);

/* Typed pointers to the first value of field f in row `row` (of the one
 * shared row for an omitted field). */
double *kps_batch_f64(kps_batch *b, kps_field_id f, size_t row);
int32_t *kps_batch_i32(kps_batch *b, kps_field_id f, size_t row);
int8_t *kps_batch_i8(kps_batch *b, kps_field_id f, size_t row);

/* Values per line of field f (kps_scope_len of its scope). */
size_t kps_batch_field_len(const kps_batch *b, kps_field_id f);

#endif
