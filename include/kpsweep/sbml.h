/*
 * SBML import (docs/networks.md, "From SBML"): an SBML document is
 * translated into network-file text (a flat network for a fixed number of
 * ligand types), which kps_network_parse then compiles like any network.
 */
#ifndef KPSWEEP_SBML_H
#define KPSWEEP_SBML_H

#include <stddef.h>

#include "kpsweep/error.h"

#define KPS_SBML_MAX_LIGANDS 10 /* agonist, antagonist and up to 8 self ligands */
#define KPS_SBML_MAX_OVERRIDES 16
#define KPS_SBML_ID_LEN 64

/* One ligand type: L is a species (its initial amount is the total, the
 * network's L[i]) or a parameter (replaced by L[i]); rate is a parameter
 * replaced by 1/tau[i] (an off-rate) or, with rate_is_tau, by tau[i]. */
typedef struct kps_sbml_ligand {
  char L[KPS_SBML_ID_LEN];
  char rate[KPS_SBML_ID_LEN];
  int rate_is_tau;
} kps_sbml_ligand;

typedef struct kps_sbml_spec {
  int n_ligands; /* = the job's number of ligand types K */
  kps_sbml_ligand ligand[KPS_SBML_MAX_LIGANDS];
  const char *output; /* SBML L3 infix over species ids */
  int n_overrides;    /* new default values of SBML parameters */
  char override_name[KPS_SBML_MAX_OVERRIDES][KPS_SBML_ID_LEN];
  double override_value[KPS_SBML_MAX_OVERRIDES];
} kps_sbml_spec;

/* Which part of the spec an error is about, so the job's reader can point
 * at the right key: the document itself, ligand[index], output, or
 * override[index]. */
typedef enum kps_sbml_part {
  KPS_SBML_PART_FILE = 0,
  KPS_SBML_PART_LIGAND,
  KPS_SBML_PART_OUTPUT,
  KPS_SBML_PART_PARAMS,
} kps_sbml_part;

typedef struct kps_sbml_blame {
  kps_sbml_part part;
  int index;
} kps_sbml_blame;

/*
 * Reads the SBML file at sbml_path and writes network-file text to
 * *yaml_text (NUL-terminated, owned by the caller: free()). On failure
 * returns KPS_ERR_CONFIG (or KPS_ERR_NOMEM) with a message naming the SBML
 * element in err, what it is about in *blame (may be NULL), and *yaml_text
 * == NULL. Not collective.
 */
kps_err kps_sbml_to_network(const char *sbml_path, const kps_sbml_spec *spec, char **yaml_text,
                            kps_sbml_blame *blame, char *err, size_t errlen);

#endif
