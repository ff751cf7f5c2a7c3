/*
 * A small YAML node tree built with libyaml's event parser. Every node keeps
 * its 1-based source position so that configuration errors can point at the
 * offending value. Aliases, anchors, tags and multiple documents are rejected:
 * a configuration is one plain document. Internal to the library.
 */
#ifndef KPSWEEP_YAML_TREE_H
#define KPSWEEP_YAML_TREE_H

#include <stddef.h>

#include "kpsweep/error.h"

typedef enum kps_ynode_kind {
  KPS_YNODE_SCALAR = 0,
  KPS_YNODE_SEQUENCE = 1,
  KPS_YNODE_MAPPING = 2
} kps_ynode_kind;

typedef struct kps_ynode {
  kps_ynode_kind kind;
  int line, column;          /* 1-based start of the node */
  char *text;                /* scalar text, NUL-terminated (may hold NULs) */
  size_t len;                /* scalar length in bytes */
  int plain;                 /* scalar written without quotes or block style */
  size_t n;                  /* sequence items or mapping pairs */
  struct kps_ynode **items;  /* sequence items, or mapping values */
  struct kps_ynode **keys;   /* mapping keys (scalars), NULL for sequences */
} kps_ynode;

/* Where and why loading failed. */
typedef struct kps_yerror {
  int line, column; /* 1-based */
  char reason[256];
} kps_yerror;

/*
 * Parses text[0..len) into *root. An empty stream gives *root == NULL.
 * On failure returns KPS_ERR_CONFIG (or KPS_ERR_NOMEM) with *err filled and
 * *root == NULL. Not collective.
 */
kps_err kps_ytree_load(const char *text, size_t len, kps_ynode **root,
                       kps_yerror *err);

/* Frees a tree (NULL is fine). */
void kps_ytree_free(kps_ynode *node);

/* The value of `key` in a mapping, or NULL (also for non-mappings). */
const kps_ynode *kps_ynode_get(const kps_ynode *map, const char *key);

/* Human-readable kind: "a scalar", "a sequence", "a mapping". */
const char *kps_ynode_kind_name(kps_ynode_kind kind);

#endif
