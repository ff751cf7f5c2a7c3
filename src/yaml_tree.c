/*
 * YAML text -> kps_ynode tree with libyaml's event parser. The event parser
 * (rather than yaml_parser_load) lets us reject anchors, aliases, tags and
 * extra documents at the exact event that introduces them.
 */
#include "yaml_tree.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* Deep nesting is never needed by a config; the bound keeps recursion safe. */
#define YTREE_MAX_DEPTH 64

typedef struct loader {
  yaml_parser_t parser;
  const char *text;
  size_t len;
  kps_yerror *err;
} loader;

__attribute__((format(printf, 4, 5))) static kps_err
set_error(kps_yerror *err, int line, int column, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  err->line = line;
  err->column = column;
  vsnprintf(err->reason, sizeof err->reason, fmt, ap);
  va_end(ap);
  return KPS_ERR_CONFIG;
}

/* Line and column of a byte offset (reader errors only give an offset). */
static void offset_position(const char *text, size_t len, size_t off,
                            int *line, int *column) {
  int l = 1, c = 1;
  for (size_t i = 0; i < off && i < len; ++i) {
    if (text[i] == '\n') {
      ++l;
      c = 1;
    } else {
      ++c;
    }
  }
  *line = l;
  *column = c;
}

static kps_err parser_error(loader *ld) {
  const yaml_parser_t *p = &ld->parser;
  int line, column;
  if (p->error == YAML_MEMORY_ERROR) {
    set_error(ld->err, 1, 1, "out of memory while parsing YAML");
    return KPS_ERR_NOMEM;
  }
  if (p->error == YAML_READER_ERROR) {
    offset_position(ld->text, ld->len, p->problem_offset, &line, &column);
  } else {
    line = (int)p->problem_mark.line + 1;
    column = (int)p->problem_mark.column + 1;
  }
  const char *problem = p->problem ? p->problem : "invalid YAML";
  if (p->context)
    return set_error(ld->err, line, column, "%s (%s at line %d)", problem,
                     p->context, (int)p->context_mark.line + 1);
  return set_error(ld->err, line, column, "%s", problem);
}

static kps_err next_event(loader *ld, yaml_event_t *ev) {
  if (!yaml_parser_parse(&ld->parser, ev)) return parser_error(ld);
  return KPS_OK;
}

static kps_err new_node(loader *ld, kps_ynode_kind kind, const yaml_event_t *ev,
                        kps_ynode **out) {
  kps_ynode *node = calloc(1, sizeof *node);
  if (!node) {
    set_error(ld->err, 1, 1, "out of memory");
    return KPS_ERR_NOMEM;
  }
  node->kind = kind;
  node->line = (int)ev->start_mark.line + 1;
  node->column = (int)ev->start_mark.column + 1;
  *out = node;
  return KPS_OK;
}

static kps_err append(loader *ld, kps_ynode *parent, kps_ynode *key,
                      kps_ynode *value) {
  kps_ynode **items = realloc(parent->items, (parent->n + 1) * sizeof *items);
  if (!items) goto nomem;
  parent->items = items;
  if (parent->kind == KPS_YNODE_MAPPING) {
    kps_ynode **keys = realloc(parent->keys, (parent->n + 1) * sizeof *keys);
    if (!keys) goto nomem;
    parent->keys = keys;
    parent->keys[parent->n] = key;
  }
  parent->items[parent->n++] = value;
  return KPS_OK;
nomem:
  set_error(ld->err, value->line, value->column, "out of memory");
  return KPS_ERR_NOMEM;
}

/* Anchors and tags would change what a value means; a config has none. */
static kps_err check_plain_node(loader *ld, const yaml_event_t *ev,
                                const yaml_char_t *anchor,
                                const yaml_char_t *tag) {
  int line = (int)ev->start_mark.line + 1;
  int column = (int)ev->start_mark.column + 1;
  if (anchor)
    return set_error(ld->err, line, column,
                     "anchors (&%s) are not supported in a config",
                     (const char *)anchor);
  if (tag)
    return set_error(ld->err, line, column,
                     "tags (%s) are not supported in a config",
                     (const char *)tag);
  return KPS_OK;
}

/*
 * Builds the node that starts with *ev (consumed: deleted here) and, for
 * collections, reads events up to the matching end event.
 */
static kps_err build(loader *ld, yaml_event_t *ev, int depth, kps_ynode **out) {
  kps_err rc = KPS_OK;
  kps_ynode *node = NULL, *key = NULL, *value = NULL;
  yaml_event_t child;
  int line = (int)ev->start_mark.line + 1;
  int column = (int)ev->start_mark.column + 1;

  *out = NULL;
  if (depth > YTREE_MAX_DEPTH) {
    rc = set_error(ld->err, line, column, "nesting deeper than %d levels",
                   YTREE_MAX_DEPTH);
    goto cleanup;
  }
  switch (ev->type) {
    case YAML_ALIAS_EVENT:
      rc = set_error(ld->err, line, column,
                     "aliases (*%s) are not supported in a config",
                     (const char *)ev->data.alias.anchor);
      goto cleanup;
    case YAML_SCALAR_EVENT:
      KPS_CHECK(check_plain_node(ld, ev, ev->data.scalar.anchor,
                                 ev->data.scalar.tag));
      KPS_CHECK(new_node(ld, KPS_YNODE_SCALAR, ev, &node));
      node->len = ev->data.scalar.length;
      node->text = malloc(node->len + 1);
      if (!node->text) {
        set_error(ld->err, line, column, "out of memory");
        rc = KPS_ERR_NOMEM;
        goto cleanup;
      }
      memcpy(node->text, ev->data.scalar.value, node->len);
      node->text[node->len] = '\0';
      node->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
      break;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
      int is_map = ev->type == YAML_MAPPING_START_EVENT;
      yaml_event_type_t end =
          is_map ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT;
      if (is_map)
        KPS_CHECK(check_plain_node(ld, ev, ev->data.mapping_start.anchor,
                                   ev->data.mapping_start.tag));
      else
        KPS_CHECK(check_plain_node(ld, ev, ev->data.sequence_start.anchor,
                                   ev->data.sequence_start.tag));
      KPS_CHECK(new_node(ld, is_map ? KPS_YNODE_MAPPING : KPS_YNODE_SEQUENCE,
                         ev, &node));
      for (;;) {
        KPS_CHECK(next_event(ld, &child));
        if (child.type == end) {
          yaml_event_delete(&child);
          break;
        }
        if (is_map) {
          KPS_CHECK(build(ld, &child, depth + 1, &key));
          if (key->kind != KPS_YNODE_SCALAR) {
            rc = set_error(ld->err, key->line, key->column,
                           "mapping keys must be scalars, not %s",
                           kps_ynode_kind_name(key->kind));
            goto cleanup;
          }
          KPS_CHECK(next_event(ld, &child));
        }
        KPS_CHECK(build(ld, &child, depth + 1, &value));
        KPS_CHECK(append(ld, node, key, value));
        key = value = NULL;
      }
      break;
    }
    default:
      rc = set_error(ld->err, line, column, "unexpected YAML event %d",
                     (int)ev->type);
      goto cleanup;
  }
  *out = node;
  node = NULL;
cleanup:
  yaml_event_delete(ev);
  kps_ytree_free(key);
  kps_ytree_free(value);
  kps_ytree_free(node);
  return rc;
}

kps_err kps_ytree_load(const char *text, size_t len, kps_ynode **root,
                       kps_yerror *err) {
  kps_err rc = KPS_OK;
  loader ld = {.text = text, .len = len, .err = err};
  yaml_event_t ev;
  int have_parser = 0;
  kps_ynode *doc = NULL;

  *root = NULL;
  if (!yaml_parser_initialize(&ld.parser)) {
    set_error(err, 1, 1, "cannot initialise the YAML parser");
    rc = KPS_ERR_NOMEM;
    goto cleanup;
  }
  have_parser = 1;
  yaml_parser_set_input_string(&ld.parser, (const unsigned char *)text, len);

  KPS_CHECK(next_event(&ld, &ev));
  yaml_event_delete(&ev); /* STREAM-START */
  KPS_CHECK(next_event(&ld, &ev));
  if (ev.type == YAML_STREAM_END_EVENT) {
    yaml_event_delete(&ev);
    goto cleanup; /* empty stream: no document */
  }
  yaml_event_delete(&ev); /* DOCUMENT-START */
  KPS_CHECK(next_event(&ld, &ev));
  KPS_CHECK(build(&ld, &ev, 0, &doc));
  KPS_CHECK(next_event(&ld, &ev));
  yaml_event_delete(&ev); /* DOCUMENT-END */
  KPS_CHECK(next_event(&ld, &ev));
  if (ev.type != YAML_STREAM_END_EVENT) {
    rc = set_error(err, (int)ev.start_mark.line + 1,
                   (int)ev.start_mark.column + 1,
                   "a config holds one YAML document; found a second one");
    yaml_event_delete(&ev);
    goto cleanup;
  }
  yaml_event_delete(&ev);
  *root = doc;
  doc = NULL;
cleanup:
  kps_ytree_free(doc);
  if (have_parser) yaml_parser_delete(&ld.parser);
  return rc;
}

void kps_ytree_free(kps_ynode *node) {
  if (!node) return;
  for (size_t i = 0; i < node->n; ++i) {
    if (node->keys) kps_ytree_free(node->keys[i]);
    kps_ytree_free(node->items[i]);
  }
  free(node->keys);
  free(node->items);
  free(node->text);
  free(node);
}

const kps_ynode *kps_ynode_get(const kps_ynode *map, const char *key) {
  if (!map || map->kind != KPS_YNODE_MAPPING) return NULL;
  for (size_t i = 0; i < map->n; ++i)
    if (strcmp(map->keys[i]->text, key) == 0) return map->items[i];
  return NULL;
}

const char *kps_ynode_kind_name(kps_ynode_kind kind) {
  switch (kind) {
    case KPS_YNODE_SCALAR: return "a scalar";
    case KPS_YNODE_SEQUENCE: return "a sequence";
    case KPS_YNODE_MAPPING: return "a mapping";
  }
  return "an unknown node";
}
