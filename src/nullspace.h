/*
 * Exact left null space of a small integer matrix (the conservation laws of
 * a stoichiometry), for the SBML importer and its unit test.
 */
#ifndef KPS_NULLSPACE_H
#define KPS_NULLSPACE_H

/*
 * S is n_rows x n_cols, row-major, integer (rows = species, columns =
 * reactions). Finds a basis of { y : S^T y = 0 }: *n_laws vectors of
 * n_rows integers in laws[k * n_rows + r] (room for n_rows * n_rows),
 * the smallest integer multiple of a rational vector that is 1 at its own
 * "free" row free_row[k] and 0 at every other law's free row (so each law
 * can eliminate its free row; its entry there is > 0). order[] (a
 * permutation of the rows, or NULL for 0..n_rows-1) sets the preference:
 * rows late in order become free rows first. Exact rational elimination;
 * returns 0, or -1 when an intermediate value overflows 64 bits or memory
 * runs out.
 */
int kps_left_nullspace(const long long *S, int n_rows, int n_cols, const int *order,
                       long long *laws, int *free_row, int *n_laws);

#endif
