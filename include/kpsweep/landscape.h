/*
 * The output landscape around the descent's starting histogram
 * (docs/science.md section 5.4): O(max(0, L0 + a u + b v)) / O_th on an
 * n x n grid of steps a, b in [-eps_max, eps_max], where L0 is the start
 * binned on the descent's grid, u the FGSM direction in counts and v a
 * seeded random direction orthogonal to it. One landscape per parameter
 * point. Not collective.
 */
#ifndef KPSWEEP_LANDSCAPE_H
#define KPSWEEP_LANDSCAPE_H

#include <stddef.h>

#include "kpsweep/config.h"
#include "kpsweep/error.h"
#include "kpsweep/model.h"
#include "kpsweep/solver.h"

typedef struct kps_landscape kps_landscape;

/*
 * Step i (0 <= i < c->n) of the grid, the same along u and v:
 * eps_max (2 i - (n - 1)) / (n - 1), so exactly 0 in the middle and
 * -eps_max, eps_max at the ends. Not collective.
 */
double kps_landscape_step(const kps_landscape_config *c, int i);

/*
 * Creates the landscape state of cfg (landscape enabled): the base point
 * (kps_attack_start_grid), the movable bins (kps_attack_movable at the bin
 * centres) and the Gaussian draw of v (landscape.seed, one value per grid
 * bin in bin order). Not collective.
 */
kps_err kps_landscape_create(const kps_config *cfg, kps_landscape **out);

/* Frees it and sets *ls to NULL; accepts NULL. */
void kps_landscape_destroy(kps_landscape **ls);

/*
 * The landscape of parameter point `point` (model m, parameters p,
 * threshold O_th), evaluated with solver s: value[i n + j] = O(a_i, b_j) /
 * O_th (n = landscape.n), u and v on the kps_attack_grid_bins bins. It is
 * computed once and kept: another call for the same point copies it. The
 * grid is walked row by row, back and forth, each solve warm-started from
 * the previous one. A failed solve is NaN at its grid point; a failed solve
 * at the base point, or a NaN O_th, leaves everything NaN. Returns
 * KPS_ERR_NOMEM only. Not collective.
 */
kps_err kps_landscape_point(kps_landscape *ls, kps_solver *s, const kps_model *m, const double *p,
                            size_t point, double O_th, double *value, double *u, double *v);

#endif
