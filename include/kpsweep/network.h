/*
 * Network files: models described in YAML (docs/networks.md) and run
 * through the kps_model interface like the built-in C models.
 */
#ifndef KPSWEEP_NETWORK_H
#define KPSWEEP_NETWORK_H

#include <stddef.h>

#include "kpsweep/error.h"
#include "kpsweep/model.h"

/*
 * Parses network-file text[0..len) (named `source` in errors) into a new
 * model in *out, owned by the caller (kps_network_destroy). On failure
 * returns KPS_ERR_CONFIG (or KPS_ERR_NOMEM) with "SOURCE:LINE:COLUMN: KEY:
 * reason" in err and *out == NULL. Not collective.
 */
kps_err kps_network_parse(const char *source, const char *text, size_t len,
                          const kps_model **out, char *err, size_t errlen);

/* Whether m came from kps_network_parse. Not collective. */
int kps_model_is_network(const kps_model *m);

/* Frees a model from kps_network_parse (NULL and built-in models are
 * ignored). Not collective. */
void kps_network_destroy(const kps_model *m);

#endif
