/*
 * The job configuration: YAML (via yaml_tree) -> kps_config, validated in one
 * place. Sections are described by tables of keys (type, target field,
 * range), so a new scalar key is one table line, and the canonical text walks
 * the same tables. Every error is "SOURCE:LINE:COLUMN: KEY: reason".
 */
#include "kpsweep/config.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "kpsweep/network.h"
#include "kpsweep/results.h"
#include "kpsweep/sbml.h"
#include "yaml_tree.h"

/* A config is a few kilobytes; the bound keeps the broadcast an int count. */
#define CONFIG_MAX_BYTES (16L * 1024 * 1024)
/* Beyond this many axis combinations the m < N style check is left per point. */
#define CHECK_MAX_COMBINATIONS 1000000
/* Dotted key paths. */
#define KEY_LEN 256

/* ------------------------------------------------------------------------ */
/* Parse context and error formatting                                        */

typedef struct pctx {
  kps_config *cfg;
  const kps_ynode *root;
  const char *source;
  char *err;
  size_t errlen;
} pctx;

__attribute__((format(printf, 4, 5))) static kps_err
cfg_error(const pctx *ctx, const kps_ynode *at, const char *key,
          const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  const kps_err rc = kps_error_vformat_at(ctx->err, ctx->errlen, ctx->source, at ? at->line : 1,
                                          at ? at->column : 1, key, fmt, ap);
  va_end(ap);
  return rc;
}

/* "prefix.name" into out[KEY_LEN], truncated (key paths are short). */
static void join_key(char *out, const char *prefix, const char *name) {
  size_t n = 0;
  for (const char *c = prefix; *c && n < KEY_LEN - 1; ++c) out[n++] = *c;
  if (prefix[0] && n < KEY_LEN - 1) out[n++] = '.';
  for (const char *c = name; *c && n < KEY_LEN - 1; ++c) out[n++] = *c;
  out[n] = '\0';
}

/* ------------------------------------------------------------------------ */
/* Scalars                                                                   */

enum { R_MIN_OPEN = 1u, R_MAX_OPEN = 2u, R_INTEGER = 4u };

typedef struct range {
  double min, max;
  unsigned flags;
} range;

#define R_ANY {-HUGE_VAL, HUGE_VAL, 0}
#define R_POS {0.0, HUGE_VAL, R_MIN_OPEN}
#define R_NONNEG {0.0, HUGE_VAL, 0}
#define R_TOL {0.0, 1.0, R_MIN_OPEN | R_MAX_OPEN}
/* The counts, each with its limit from config.h. */
#define R_SOLVER_STEPS {1.0, KPS_MAX_SOLVER_STEPS, R_INTEGER}
#define R_CHUNK {0.0, KPS_MAX_LINES, R_INTEGER}
#define R_DEFLATE_LEVEL {1.0, 9.0, R_INTEGER}
#define R_WRITERS {1.0, KPS_MAX_WRITERS, R_INTEGER}
#define R_DESCENT_STEPS {1.0, KPS_MAX_DESCENT_STEPS, R_INTEGER}
#define R_PGD_STEPS {1.0, KPS_MAX_PGD_STEPS, R_INTEGER}
#define R_LIGANDS {0.0, KPS_MAX_LIGANDS, 0}
#define R_AXIS_LEN {1.0, KPS_MAX_AXIS_LEN, R_INTEGER}
#define R_MEMORY_MB {0.0, KPS_MAX_MEMORY_MB, R_MIN_OPEN}
#define R_LANDSCAPE_N {KPS_MIN_LANDSCAPE_N, KPS_MAX_LANDSCAPE_N, R_INTEGER}

/* Strict decimal syntax: strtod alone would also take hex, inf and nan. */
static int is_decimal(const char *s, size_t len) {
  const char *p = s;
  int digits = 0;
  if (*p == '+' || *p == '-') ++p;
  while (*p >= '0' && *p <= '9') ++p, ++digits;
  if (*p == '.') {
    ++p;
    while (*p >= '0' && *p <= '9') ++p, ++digits;
  }
  if (!digits) return 0;
  if (*p == 'e' || *p == 'E') {
    ++p;
    if (*p == '+' || *p == '-') ++p;
    if (!(*p >= '0' && *p <= '9')) return 0;
    while (*p >= '0' && *p <= '9') ++p;
  }
  return (size_t)(p - s) == len;
}

static kps_err expect_scalar(const pctx *ctx, const kps_ynode *v,
                             const char *key, const char *what) {
  if (v->kind != KPS_YNODE_SCALAR)
    return cfg_error(ctx, v, key, "expected %s, got %s", what,
                     kps_ynode_kind_name(v->kind));
  return KPS_OK;
}

/* Room for the reason a number was refused (the text is quoted in it). */
#define WHY_LEN 1024

/* The job-file number syntax on text[0..len): 0 with *out, or -1 with the
 * reason in why. `plain`: the text was written without quotes. */
static int parse_number(const char *text, size_t len, int plain, double *out,
                        char *why, size_t n) {
  if (!plain) {
    snprintf(why, n, "expected a number, got the string \"%s\"", text);
    return -1;
  }
  if (len == 0 || strcmp(text, "~") == 0 || strcmp(text, "null") == 0) {
    snprintf(why, n, "expected a number, got no value");
    return -1;
  }
  if (!is_decimal(text, len)) {
    snprintf(why, n, "expected a number, got \"%s\"", text);
    return -1;
  }
  const double x = strtod(text, NULL);
  if (!isfinite(x)) {
    snprintf(why, n, "number %s is out of range", text);
    return -1;
  }
  *out = x;
  return 0;
}

/* Whether x lies in r: 0, or -1 with the reason in why. */
static int range_check(double x, const range *r, char *why, size_t n) {
  int lo_bad = (r->flags & R_MIN_OPEN) ? !(x > r->min) : !(x >= r->min);
  int hi_bad = (r->flags & R_MAX_OPEN) ? !(x < r->max) : !(x <= r->max);
  if (lo_bad || hi_bad) {
    const char *lo = (r->flags & R_MIN_OPEN) ? ">" : ">=";
    const char *hi = (r->flags & R_MAX_OPEN) ? "<" : "<=";
    if (isinf(r->max))
      snprintf(why, n, "must be %s %.17g, got %.17g", lo, r->min, x);
    else if (isinf(r->min))
      snprintf(why, n, "must be %s %.17g, got %.17g", hi, r->max, x);
    else
      snprintf(why, n, "must be %s %.17g and %s %.17g, got %.17g", lo, r->min,
               hi, r->max, x);
    return -1;
  }
  if ((r->flags & R_INTEGER) && x != floor(x)) {
    snprintf(why, n, "must be an integer, got %.17g", x);
    return -1;
  }
  return 0;
}

static kps_err get_number(const pctx *ctx, const kps_ynode *v, const char *key,
                          double *out) {
  kps_err rc = expect_scalar(ctx, v, key, "a number");
  if (rc) return rc;
  char why[WHY_LEN];
  if (parse_number(v->text, v->len, v->plain, out, why, sizeof why))
    return cfg_error(ctx, v, key, "%s", why);
  return KPS_OK;
}

static kps_err check_range(const pctx *ctx, const kps_ynode *at,
                           const char *key, double x, const range *r) {
  char why[WHY_LEN];
  if (range_check(x, r, why, sizeof why)) return cfg_error(ctx, at, key, "%s", why);
  return KPS_OK;
}

static kps_err get_ranged(const pctx *ctx, const kps_ynode *v, const char *key,
                          const range *r, double *out) {
  kps_err rc = get_number(ctx, v, key, out);
  if (rc) return rc;
  return check_range(ctx, v, key, *out, r);
}

static kps_err get_bool(const pctx *ctx, const kps_ynode *v, const char *key,
                        int *out) {
  kps_err rc = expect_scalar(ctx, v, key, "a boolean");
  if (rc) return rc;
  if (v->plain) {
    if (strcasecmp(v->text, "true") == 0 || strcasecmp(v->text, "yes") == 0) {
      *out = 1;
      return KPS_OK;
    }
    if (strcasecmp(v->text, "false") == 0 || strcasecmp(v->text, "no") == 0) {
      *out = 0;
      return KPS_OK;
    }
  }
  return cfg_error(ctx, v, key,
                   "expected a boolean (true, false, yes, no), got \"%s\"",
                   v->text);
}

static kps_err get_string(const pctx *ctx, const kps_ynode *v, const char *key,
                          const char **out) {
  kps_err rc = expect_scalar(ctx, v, key, "a string");
  if (rc) return rc;
  if (v->len == 0) return cfg_error(ctx, v, key, "must not be empty");
  if (strlen(v->text) != v->len)
    return cfg_error(ctx, v, key, "must not contain NUL characters");
  *out = v->text;
  return KPS_OK;
}

/* Mapping with unique keys: duplicates would silently override each other. */
static kps_err expect_map(const pctx *ctx, const kps_ynode *v,
                          const char *key) {
  if (v->kind != KPS_YNODE_MAPPING)
    return cfg_error(ctx, v, key, "expected a mapping, got %s",
                     kps_ynode_kind_name(v->kind));
  for (size_t i = 1; i < v->n; ++i)
    for (size_t j = 0; j < i; ++j)
      if (strcmp(v->keys[i]->text, v->keys[j]->text) == 0) {
        char sub[KEY_LEN];
        join_key(sub, key, v->keys[i]->text);
        return cfg_error(ctx, v->keys[i], sub,
                         "duplicate key (first given at line %d)",
                         v->keys[j]->line);
      }
  return KPS_OK;
}

/* ------------------------------------------------------------------------ */
/* Key tables                                                                */

typedef struct key_spec key_spec;
typedef kps_err (*key_fn)(pctx *ctx, const kps_ynode *v, const char *key,
                          const key_spec *spec);

/*
 * KS_CANON_IF_SET: in the canonical text only when on (a boolean key that is
 * true, a section whose `enabled` key is true). Keys added after files were
 * written with this flag leave those files' hashes, and so --resume, intact.
 */
enum { KS_NOT_CANONICAL = 1u, KS_SCALAR_AXIS = 2u, KS_CANON_IF_SET = 4u };

struct key_spec {
  const char *name;
  key_fn parse;
  size_t offset;              /* target field within kps_config */
  range r;                    /* numbers: valid range (axes: every value) */
  size_t size;                /* strings: buffer size */
  const key_spec *sub;        /* sections: their keys, NULL-name terminated */
  const char *const *names;   /* enums: names, NULL-terminated ... */
  const int *values;          /* ... and their values */
  unsigned flags;             /* KS_* */
};

static void *field(pctx *ctx, const key_spec *spec) {
  return (char *)ctx->cfg + spec->offset;
}

static kps_err key_double(pctx *ctx, const kps_ynode *v, const char *key,
                          const key_spec *spec) {
  return get_ranged(ctx, v, key, &spec->r, (double *)field(ctx, spec));
}

static kps_err key_long(pctx *ctx, const kps_ynode *v, const char *key,
                        const key_spec *spec) {
  double x = 0.0;
  kps_err rc = get_ranged(ctx, v, key, &spec->r, &x);
  if (!rc) *(long *)field(ctx, spec) = (long)x;
  return rc;
}

static kps_err key_int(pctx *ctx, const kps_ynode *v, const char *key,
                       const key_spec *spec) {
  double x = 0.0;
  kps_err rc = get_ranged(ctx, v, key, &spec->r, &x);
  if (!rc) *(int *)field(ctx, spec) = (int)x;
  return rc;
}

static kps_err key_bool(pctx *ctx, const kps_ynode *v, const char *key,
                        const key_spec *spec) {
  return get_bool(ctx, v, key, (int *)field(ctx, spec));
}

/* Seeds use the full uint64 range, which a double cannot hold exactly. */
static kps_err key_u64(pctx *ctx, const kps_ynode *v, const char *key,
                       const key_spec *spec) {
  kps_err rc = expect_scalar(ctx, v, key, "an integer");
  if (rc) return rc;
  const char *s = v->text;
  int ok = v->plain && v->len > 0 && v->len == strspn(s, "0123456789");
  errno = 0;
  unsigned long long x = ok ? strtoull(s, NULL, 10) : 0;
  if (!ok || errno == ERANGE)
    return cfg_error(ctx, v, key,
                     "expected an integer in [0, 18446744073709551615], got "
                     "\"%s\"",
                     s);
  *(uint64_t *)field(ctx, spec) = (uint64_t)x;
  return KPS_OK;
}

static kps_err key_path(pctx *ctx, const kps_ynode *v, const char *key,
                        const key_spec *spec) {
  const char *s = NULL;
  kps_err rc = get_string(ctx, v, key, &s);
  if (rc) return rc;
  if (v->len >= spec->size)
    return cfg_error(ctx, v, key, "longer than %zu characters", spec->size - 1);
  memcpy(field(ctx, spec), s, v->len + 1);
  return KPS_OK;
}

/* The job name becomes part of the default output path. */
static int is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

static kps_err key_name(pctx *ctx, const kps_ynode *v, const char *key,
                        const key_spec *spec) {
  kps_err rc = key_path(ctx, v, key, spec);
  if (rc) return rc;
  for (const char *c = v->text; *c; ++c)
    if (!is_name_char(*c))
      return cfg_error(ctx, v, key,
                       "may hold only letters, digits, '.', '_' and '-', got "
                       "\"%s\"",
                       v->text);
  return KPS_OK;
}

/* Compared case-insensitively on the text: YAML 1.1 would read off as false. */
static kps_err key_enum(pctx *ctx, const kps_ynode *v, const char *key,
                        const key_spec *spec) {
  kps_err rc = expect_scalar(ctx, v, key, "a name");
  if (rc) return rc;
  for (size_t i = 0; spec->names[i]; ++i)
    if (strcasecmp(v->text, spec->names[i]) == 0) {
      *(int *)field(ctx, spec) = spec->values[i];
      return KPS_OK;
    }
  char known[256] = "";
  for (size_t i = 0; spec->names[i]; ++i) {
    size_t n = strlen(known);
    snprintf(known + n, sizeof known - n, "%s%s", i ? ", " : "",
             spec->names[i]);
  }
  return cfg_error(ctx, v, key, "unknown value \"%s\" (expected one of: %s)",
                   v->text, known);
}

/* threshold.L_ref: a dose, or "agonist" (the sweep's agonist dose). */
static kps_err key_L_ref(pctx *ctx, const kps_ynode *v, const char *key,
                         const key_spec *spec) {
  if (v->kind == KPS_YNODE_SCALAR && strcmp(v->text, "agonist") == 0) {
    ctx->cfg->L_ref_agonist = 1;
    ctx->cfg->L_ref = NAN;
    return KPS_OK;
  }
  ctx->cfg->L_ref_agonist = 0;
  return key_double(ctx, v, key, spec);
}

static kps_err key_threshold_value(pctx *ctx, const kps_ynode *v,
                                   const char *key, const key_spec *spec) {
  kps_err rc = key_double(ctx, v, key, spec);
  if (!rc) ctx->cfg->threshold_explicit = 1;
  return rc;
}

static kps_err parse_section(pctx *ctx, const kps_ynode *map,
                             const char *prefix, const key_spec *table);

static kps_err key_section(pctx *ctx, const kps_ynode *v, const char *key,
                           const key_spec *spec) {
  return parse_section(ctx, v, key, spec->sub);
}

/* The model is read before everything else; in the table it is only known. */
static kps_err key_model(pctx *ctx, const kps_ynode *v, const char *key,
                         const key_spec *spec) {
  (void)ctx, (void)v, (void)key, (void)spec;
  return KPS_OK;
}

static kps_err key_params(pctx *ctx, const kps_ynode *v, const char *key,
                          const key_spec *spec);
static kps_err key_axes(pctx *ctx, const kps_ynode *v, const char *key,
                        const key_spec *spec);
static kps_err key_axis(pctx *ctx, const kps_ynode *v, const char *key,
                        const key_spec *spec);
static kps_err key_histogram(pctx *ctx, const kps_ynode *v, const char *key,
                             const key_spec *spec);
static kps_err key_self(pctx *ctx, const kps_ynode *v, const char *key,
                        const key_spec *spec);

#define AT(f) .offset = offsetof(kps_config, f)
#define DOUBLE(n, f, rg) {.name = n, .parse = key_double, AT(f), .r = rg}
#define LONG(n, f, rg) {.name = n, .parse = key_long, AT(f), .r = rg}
#define INT(n, f, rg) {.name = n, .parse = key_int, AT(f), .r = rg}
#define BOOL(n, f) {.name = n, .parse = key_bool, AT(f)}
#define END {.name = NULL}

static const char *const direction_names[] = {"off", "on", NULL};
static const int direction_values[] = {KPS_DIR_OFF, KPS_DIR_ON};
static const char *const descent_names[] = {"published", "normalized", NULL};
static const int descent_values[] = {KPS_DESCENT_PUBLISHED, KPS_DESCENT_NORMALIZED};
static const char *const movable_names[] = {"below_threshold", "all", NULL};
static const int movable_values[] = {KPS_MOVE_BELOW_THRESHOLD, KPS_MOVE_ALL};

static const key_spec agonist_keys[] = {
    DOUBLE("tau", agonist_tau, R_POS),
    DOUBLE("L", agonist_L, R_NONNEG),
    END,
};

static const key_spec antagonist_keys[] = {
    {.name = "tau", .parse = key_axis, AT(tau2), .r = R_POS,
     .flags = KS_SCALAR_AXIS},
    {.name = "L", .parse = key_axis, AT(L2), .r = R_NONNEG,
     .flags = KS_SCALAR_AXIS},
    END,
};

static const key_spec threshold_keys[] = {
    DOUBLE("tau_c", tau_c, R_POS),
    {.name = "L_ref", .parse = key_L_ref, AT(L_ref), .r = R_POS},
    {.name = "value", .parse = key_threshold_value, AT(threshold_value),
     .r = R_POS},
    END,
};

static const key_spec solver_keys[] = {
    DOUBLE("rtol", solver.rtol, R_TOL),
    DOUBLE("atol_rel", solver.atol_rel, R_TOL),
    DOUBLE("newton_tol", solver.newton_tol, R_TOL),
    DOUBLE("t_max", solver.t_max, R_POS),
    LONG("max_steps", solver.max_steps, R_SOLVER_STEPS),
    BOOL("warm_start", solver.warm_start),
    END,
};

/*
 * run.fields: the names of the fields to write, or `all`. Status is kept
 * whatever the list says: the progress of a point and the masks of the
 * analysis read it.
 */
static kps_err key_fields(pctx *ctx, const kps_ynode *v, const char *key,
                          const key_spec *spec) {
  (void)spec;
  const kps_field_info *fi = kps_fields();
  if (v->kind == KPS_YNODE_SCALAR && strcmp(v->text, "all") == 0) {
    ctx->cfg->run.fields_omitted = 0;
    return KPS_OK;
  }
  if (v->kind != KPS_YNODE_SEQUENCE)
    return cfg_error(ctx, v, key, "expected a list of field names or all, got %s",
                     kps_ynode_kind_name(v->kind));
  uint64_t keep = (uint64_t)1 << F_STATUS, listed = 0;
  for (size_t i = 0; i < v->n; ++i) {
    const kps_ynode *item = v->items[i];
    kps_err rc = expect_scalar(ctx, item, key, "a field name");
    if (rc) return rc;
    int f = 0;
    while (f < KPS_N_FIELDS && strcmp(fi[f].name, item->text) != 0) ++f;
    if (f == KPS_N_FIELDS) {
      char known[1024] = "";
      for (int k = 0; k < KPS_N_FIELDS; ++k) {
        const size_t n = strlen(known);
        snprintf(known + n, sizeof known - n, "%s%s", k ? ", " : "", fi[k].name);
      }
      return cfg_error(ctx, item, key, "unknown field \"%s\" (known fields: %s)", item->text,
                       known);
    }
    if (listed & ((uint64_t)1 << f))
      return cfg_error(ctx, item, key, "field \"%s\" is listed twice", item->text);
    listed |= (uint64_t)1 << f;
    keep |= (uint64_t)1 << f;
  }
  const uint64_t all = KPS_N_FIELDS == 64 ? ~(uint64_t)0 : ((uint64_t)1 << KPS_N_FIELDS) - 1;
  ctx->cfg->run.fields_omitted = all & ~keep;
  return KPS_OK;
}

static const char *const compression_names[] = {"none", "deflate", NULL};
static const int compression_values[] = {KPS_COMPRESS_NONE, KPS_COMPRESS_DEFLATE};
static const char *const fill_names[] = {"auto", "all", "status", NULL};
static const int fill_values[] = {KPS_FILL_AUTO, KPS_FILL_ALL, KPS_FILL_STATUS};

static const key_spec run_keys[] = {
    {.name = "output", .parse = key_path, AT(run.output),
     .size = sizeof(((kps_run_config *)0)->output)},
    DOUBLE("checkpoint_every", run.checkpoint_every, R_POS),
    LONG("chunk", run.chunk, R_CHUNK),
    DOUBLE("memory_limit_mb", run.memory_limit_mb, R_MEMORY_MB),
    DOUBLE("progress_every", run.progress_every, R_POS),
    {.name = "fields", .parse = key_fields},
    {.name = "compression", .parse = key_enum, AT(run.compression),
     .names = compression_names, .values = compression_values},
    INT("compression_level", run.compression_level, R_DEFLATE_LEVEL),
    INT("writers", run.writers, R_WRITERS),
    {.name = "fill", .parse = key_enum, AT(run.fill), .names = fill_names,
     .values = fill_values},
    END,
};

static const key_spec stats_keys[] = {
    BOOL("boundary", stats.boundary),
    BOOL("line_stats", stats.line_stats),
    DOUBLE("fc_tol", stats.fc_tol, R_TOL),
    END,
};

static const key_spec attack_keys[] = {
    BOOL("enabled", attack.enabled),
    {.name = "direction", .parse = key_enum, AT(attack.direction),
     .names = direction_names, .values = direction_values},
    {.name = "movable", .parse = key_enum, AT(attack.movable),
     .names = movable_names, .values = movable_values},
    BOOL("fgsm_L", attack.fgsm_L),
    BOOL("fgsm_tau", attack.fgsm_tau),
    DOUBLE("fgsm_eps_L_max", attack.fgsm_eps_L_max, R_POS),
    DOUBLE("fgsm_eps_tau_max", attack.fgsm_eps_tau_max, R_POS),
    DOUBLE("tau_min", attack.tau_min, R_POS),
    BOOL("descent", attack.descent),
    {.name = "descent_method", .parse = key_enum, AT(attack.descent_method),
     .names = descent_names, .values = descent_values},
    DOUBLE("descent_eta", attack.descent_eta, R_POS),
    INT("descent_max_steps", attack.descent_max_steps, R_DESCENT_STEPS),
    {.name = "descent_ligands", .parse = key_bool, AT(attack.descent_ligands),
     .flags = KS_CANON_IF_SET},
    BOOL("pgd", attack.pgd),
    DOUBLE("pgd_eps", attack.pgd_eps, R_POS),
    DOUBLE("pgd_step", attack.pgd_step, R_POS),
    INT("pgd_steps", attack.pgd_steps, R_PGD_STEPS),
    DOUBLE("bin_width", attack.bin_width, R_POS),
    DOUBLE("tau_max", attack.tau_max, R_POS),
    {.name = "seed", .parse = key_u64, AT(attack.seed)},
    {.name = "histogram", .parse = key_histogram, AT(attack)},
    END,
};

static const key_spec landscape_keys[] = {
    BOOL("enabled", landscape.enabled),
    DOUBLE("eps_max", landscape.eps_max, R_POS),
    INT("n", landscape.n, R_LANDSCAPE_N),
    {.name = "seed", .parse = key_u64, AT(landscape.seed)},
    END,
};

static const key_spec top_keys[] = {
    {.name = "name", .parse = key_name, AT(name),
     .size = sizeof(((kps_config *)0)->name), .flags = KS_NOT_CANONICAL},
    {.name = "model", .parse = key_model},
    {.name = "params", .parse = key_params},
    {.name = "axes", .parse = key_axes},
    {.name = "agonist", .parse = key_section, .sub = agonist_keys},
    {.name = "antagonist", .parse = key_section, .sub = antagonist_keys},
    {.name = "self", .parse = key_self},
    {.name = "threshold", .parse = key_section, .sub = threshold_keys},
    {.name = "solver", .parse = key_section, .sub = solver_keys},
    {.name = "run", .parse = key_section, .sub = run_keys,
     .flags = KS_NOT_CANONICAL},
    {.name = "stats", .parse = key_section, .sub = stats_keys},
    {.name = "attacks", .parse = key_section, .sub = attack_keys},
    {.name = "landscape", .parse = key_section, .sub = landscape_keys,
     .flags = KS_CANON_IF_SET},
    END,
};

static void list_names(char *out, size_t n, const key_spec *table) {
  out[0] = '\0';
  for (size_t i = 0; table[i].name; ++i) {
    size_t used = strlen(out);
    snprintf(out + used, n - used, "%s%s", i ? ", " : "", table[i].name);
  }
}

static const key_spec *find_spec(const key_spec *table, const char *name) {
  for (const key_spec *s = table; s->name; ++s)
    if (strcmp(s->name, name) == 0) return s;
  return NULL;
}

/*
 * A mapping whose keys are all in table. Unknown keys are reported before any
 * value: a misspelt key explains the errors it would otherwise cause (at the
 * top level, "missing model" for "modle").
 */
static kps_err check_known_keys(const pctx *ctx, const kps_ynode *map,
                                const char *prefix, const key_spec *table) {
  kps_err rc = expect_map(ctx, map, prefix[0] ? prefix : "config");
  if (rc) return rc;
  for (size_t i = 0; i < map->n; ++i)
    if (!find_spec(table, map->keys[i]->text)) {
      char key[KEY_LEN], known[512];
      join_key(key, prefix, map->keys[i]->text);
      list_names(known, sizeof known, table);
      return cfg_error(ctx, map->keys[i], key, "unknown key (known keys: %s)",
                       known);
    }
  return KPS_OK;
}

static kps_err parse_section(pctx *ctx, const kps_ynode *map,
                             const char *prefix, const key_spec *table) {
  kps_err rc = check_known_keys(ctx, map, prefix, table);
  if (rc) return rc;
  for (size_t i = 0; i < map->n; ++i) {
    char key[KEY_LEN];
    const key_spec *spec = find_spec(table, map->keys[i]->text);
    join_key(key, prefix, map->keys[i]->text);
    rc = spec->parse(ctx, map->items[i], key, spec);
    if (rc) return rc;
  }
  return KPS_OK;
}

/* ------------------------------------------------------------------------ */
/* Model parameters and axes                                                 */

static void list_params(char *out, size_t n, const kps_model *m) {
  out[0] = '\0';
  for (int j = 0; j < m->n_params; ++j) {
    size_t used = strlen(out);
    snprintf(out + used, n - used, "%s%s", j ? ", " : "", m->params[j].name);
  }
}

/* `also`: what else the mapping takes, for the message ("" when nothing). */
static kps_err param_index(pctx *ctx, const kps_ynode *k, const char *key,
                           const char *also, int *j) {
  const kps_model *m = ctx->cfg->model;
  *j = kps_model_param_index(m, k->text);
  if (*j < 0) {
    char known[512];
    list_params(known, sizeof known, m);
    return cfg_error(ctx, k, key,
                     "unknown parameter of model %s (parameters: %s%s)", m->name,
                     known, also);
  }
  return KPS_OK;
}

static range param_range(const kps_param_info *info) {
  range r = {info->min, info->max, 0};
  if (info->min == KPS_POSITIVE_MIN) r.min = 0.0, r.flags = R_MIN_OPEN;
  if (info->flags & KPS_PARAM_INTEGER) r.flags |= R_INTEGER;
  return r;
}

static kps_err key_params(pctx *ctx, const kps_ynode *v, const char *key,
                          const key_spec *spec) {
  (void)spec;
  kps_err rc = expect_map(ctx, v, key);
  if (rc) return rc;
  for (size_t i = 0; i < v->n; ++i) {
    char sub[KEY_LEN];
    int j;
    join_key(sub, key, v->keys[i]->text);
    rc = param_index(ctx, v->keys[i], sub, "", &j);
    if (rc) return rc;
    range r = param_range(&ctx->cfg->model->params[j]);
    rc = get_ranged(ctx, v->items[i], sub, &r, &ctx->cfg->params[j]);
    if (rc) return rc;
  }
  return KPS_OK;
}

/* Reads three numbers [start, stop, count] of a linear or log axis. */
static kps_err get_triple(pctx *ctx, const kps_ynode *v, const char *key,
                          double *start, double *stop, double *count) {
  if (v->kind != KPS_YNODE_SEQUENCE || v->n != 3)
    return cfg_error(ctx, v, key,
                     "expected a sequence [start, stop, count], got %s",
                     v->kind == KPS_YNODE_SEQUENCE
                         ? "a sequence of another length"
                         : kps_ynode_kind_name(v->kind));
  kps_err rc = get_number(ctx, v->items[0], key, start);
  if (!rc) rc = get_number(ctx, v->items[1], key, stop);
  if (rc) return rc;
  const range rc_count = R_AXIS_LEN;
  return get_ranged(ctx, v->items[2], key, &rc_count, count);
}

/*
 * Parses an axis: a mapping with exactly one of values/linear/log, or (with
 * KS_SCALAR_AXIS) a bare number or list. Every value is checked against r.
 * On success the axis owns its values; on failure *ax is untouched.
 */
static kps_err parse_axis(pctx *ctx, const kps_ynode *v, const char *key,
                          unsigned flags, const range *r, kps_axis *ax) {
  kps_err rc = KPS_OK;
  double *vals = NULL;
  const kps_ynode *list = v; /* the node holding the values */
  kps_axis_kind kind = KPS_AXIS_VALUES;
  char sub[KEY_LEN];
  size_t n = 0;

  snprintf(sub, sizeof sub, "%s", key);
  if (v->kind == KPS_YNODE_MAPPING) {
    static const char *const kinds[] = {"values", "linear", "log"};
    const kps_ynode *found = NULL;
    KPS_CHECK(expect_map(ctx, v, key));
    for (size_t i = 0; i < v->n; ++i) {
      int which = -1;
      for (int k = 0; k < 3; ++k)
        if (strcmp(v->keys[i]->text, kinds[k]) == 0) which = k;
      join_key(sub, key, v->keys[i]->text);
      if (which < 0) {
        rc = cfg_error(ctx, v->keys[i], sub,
                       "unknown key (an axis has one of: values, linear, log)");
        goto cleanup;
      }
      if (found) {
        rc = cfg_error(ctx, v->keys[i], sub,
                       "an axis has exactly one of values, linear, log");
        goto cleanup;
      }
      found = v->items[i];
      kind = (kps_axis_kind)which;
    }
    if (!found) {
      rc = cfg_error(ctx, v, key, "an axis needs one of values, linear, log");
      goto cleanup;
    }
    join_key(sub, key, kinds[kind]);
    list = found;
    if (kind == KPS_AXIS_VALUES && list->kind != KPS_YNODE_SEQUENCE) {
      rc = cfg_error(ctx, list, sub, "expected a sequence of numbers, got %s",
                     kps_ynode_kind_name(list->kind));
      goto cleanup;
    }
  } else if (!(flags & KS_SCALAR_AXIS)) {
    rc = cfg_error(ctx, v, key,
                   "expected an axis mapping {values: [...]}, {linear: [...]} "
                   "or {log: [...]}, got %s",
                   kps_ynode_kind_name(v->kind));
    goto cleanup;
  }

  if (kind == KPS_AXIS_VALUES) {
    n = list->kind == KPS_YNODE_SEQUENCE ? list->n : 1;
    if (n == 0) {
      rc = cfg_error(ctx, list, sub, "empty axis");
      goto cleanup;
    }
    if ((double)n > KPS_MAX_AXIS_LEN) {
      rc = cfg_error(ctx, list, sub, "%zu values, more than the limit of %.0f per axis", n,
                     KPS_MAX_AXIS_LEN);
      goto cleanup;
    }
    vals = malloc(n * sizeof *vals);
    if (!vals) {
      cfg_error(ctx, list, sub, "out of memory");
      rc = KPS_ERR_NOMEM;
      goto cleanup;
    }
    for (size_t i = 0; i < n; ++i) {
      const kps_ynode *item = list->kind == KPS_YNODE_SEQUENCE ? list->items[i]
                                                               : list;
      char ikey[KEY_LEN + 24];
      if (list->kind == KPS_YNODE_SEQUENCE)
        snprintf(ikey, sizeof ikey, "%s[%zu]", sub, i);
      else
        snprintf(ikey, sizeof ikey, "%s", sub);
      KPS_CHECK(get_ranged(ctx, item, ikey, r, &vals[i]));
    }
  } else {
    double start = 0.0, stop = 0.0, count = 0.0;
    KPS_CHECK(get_triple(ctx, list, sub, &start, &stop, &count));
    if (kind == KPS_AXIS_LOG && !(start > 0.0 && stop > 0.0)) {
      rc = cfg_error(ctx, list, sub,
                     "a log axis needs start > 0 and stop > 0, got %.17g, %.17g",
                     start, stop);
      goto cleanup;
    }
    n = (size_t)count;
    vals = malloc(n * sizeof *vals);
    if (!vals) {
      cfg_error(ctx, list, sub, "out of memory");
      rc = KPS_ERR_NOMEM;
      goto cleanup;
    }
    for (size_t i = 0; i < n; ++i) {
      double f = n > 1 ? (double)i / (double)(n - 1) : 0.0;
      vals[i] = kind == KPS_AXIS_LINEAR
                    ? start + (stop - start) * f
                    : exp(log(start) + (log(stop) - log(start)) * f);
    }
    /* The end points are exactly what was written, free of rounding. */
    vals[0] = start;
    if (n > 1) vals[n - 1] = stop;
    for (size_t i = 0; i < n; ++i) {
      rc = check_range(ctx, list, sub, vals[i], r);
      if (rc) {
        size_t used = strlen(ctx->err);
        snprintf(ctx->err + used, ctx->errlen - used, " (value %zu of the axis)",
                 i + 1);
        goto cleanup;
      }
    }
  }
  free(ax->values);
  ax->values = vals;
  vals = NULL;
  ax->n = n;
  ax->kind = kind;
  ax->line = v->line;
  ax->column = v->column;
cleanup:
  free(vals);
  return rc;
}

static kps_err key_axis(pctx *ctx, const kps_ynode *v, const char *key,
                        const key_spec *spec) {
  return parse_axis(ctx, v, key, spec->flags, &spec->r,
                    (kps_axis *)field(ctx, spec));
}

static kps_err key_axes(pctx *ctx, const kps_ynode *v, const char *key,
                        const key_spec *spec) {
  (void)spec;
  kps_config *cfg = ctx->cfg;
  const kps_ynode *params = kps_ynode_get(ctx->root, "params");
  kps_err rc = expect_map(ctx, v, key);
  if (rc) return rc;
  if (v->n > KPS_MAX_AXES)
    return cfg_error(ctx, v->keys[KPS_MAX_AXES], key,
                     "at most %d axes are supported", KPS_MAX_AXES);
  for (size_t i = 0; i < v->n; ++i) {
    const kps_ynode *k = v->keys[i];
    char sub[KEY_LEN];
    int j;
    range r;
    join_key(sub, key, k->text);
    /* The agonist's axes take the ranges of its fixed keys. */
    const char *ag_key = strcmp(k->text, "tau1") == 0 ? "tau"
                         : strcmp(k->text, "L1") == 0 ? "L" : NULL;
    if (ag_key) {
      j = ag_key[0] == 't' ? KPS_AXIS_TAU1 : KPS_AXIS_L1;
      r = find_spec(agonist_keys, ag_key)->r;
      const kps_ynode *fixed = kps_ynode_get(kps_ynode_get(ctx->root, "agonist"), ag_key);
      if (fixed)
        return cfg_error(ctx, k, sub,
                         "the agonist's %s is both swept here and fixed in agonist.%s "
                         "(line %d)",
                         j == KPS_AXIS_TAU1 ? "binding time" : "dose", ag_key, fixed->line);
    } else {
      rc = param_index(ctx, k, sub, "; or the agonist's tau1, L1", &j);
      if (rc) return rc;
      const kps_ynode *fixed = kps_ynode_get(params, k->text);
      if (fixed)
        return cfg_error(ctx, k, sub,
                         "parameter is both swept here and fixed in params "
                         "(line %d)",
                         fixed->line);
      r = param_range(&cfg->model->params[j]);
    }
    kps_axis *ax = &cfg->axes[cfg->n_axes];
    rc = parse_axis(ctx, v->items[i], sub, 0, &r, ax);
    if (rc) return rc;
    snprintf(ax->name, sizeof ax->name, "%s", k->text);
    ax->param = j;
    ++cfg->n_axes;
  }
  return KPS_OK;
}

/* ------------------------------------------------------------------------ */
/* Attack histogram                                                          */

typedef struct rec_field {
  const char *name;
  range r;
  int is_dist; /* "normal" / "half_normal" stored as 0 / 1 */
} rec_field;

/* A mapping of numbers with exactly the given keys, all required. */
static kps_err parse_record(pctx *ctx, const kps_ynode *v, const char *key,
                            const rec_field *fields, size_t nf, double *out) {
  kps_err rc = expect_map(ctx, v, key);
  if (rc) return rc;
  int seen[8] = {0};
  for (size_t i = 0; i < v->n; ++i) {
    char sub[KEY_LEN];
    size_t f = nf;
    join_key(sub, key, v->keys[i]->text);
    for (size_t j = 0; j < nf; ++j)
      if (strcmp(fields[j].name, v->keys[i]->text) == 0) f = j;
    if (f == nf) {
      char known[128] = "";
      for (size_t j = 0; j < nf; ++j) {
        size_t used = strlen(known);
        snprintf(known + used, sizeof known - used, "%s%s", j ? ", " : "",
                 fields[j].name);
      }
      return cfg_error(ctx, v->keys[i], sub, "unknown key (known keys: %s)",
                       known);
    }
    seen[f] = 1;
    const kps_ynode *val = v->items[i];
    if (fields[f].is_dist) {
      rc = expect_scalar(ctx, val, sub, "a distribution name");
      if (rc) return rc;
      if (strcmp(val->text, "normal") == 0)
        out[f] = 0.0;
      else if (strcmp(val->text, "half_normal") == 0)
        out[f] = 1.0;
      else
        return cfg_error(ctx, val, sub,
                         "unknown distribution \"%s\" (expected normal or "
                         "half_normal)",
                         val->text);
    } else {
      rc = get_ranged(ctx, val, sub, &fields[f].r, &out[f]);
      if (rc) return rc;
    }
  }
  for (size_t j = 0; j < nf; ++j)
    if (!seen[j]) {
      char sub[KEY_LEN];
      join_key(sub, key, fields[j].name);
      return cfg_error(ctx, v, sub, "missing required key");
    }
  return KPS_OK;
}

static kps_err key_histogram(pctx *ctx, const kps_ynode *v, const char *key,
                             const key_spec *spec) {
  (void)spec;
  static const rec_field bin_fields[] = {{"tau", R_POS, 0},
                                         {"L", R_LIGANDS, 0}};
  static const rec_field draw_fields[] = {{"dist", R_ANY, 1},
                                          {"mean", R_ANY, 0},
                                          {"sd", R_POS, 0},
                                          {"count", R_LIGANDS, 0}};
  kps_attack_config *a = &ctx->cfg->attack;
  kps_err rc = expect_map(ctx, v, key);
  if (rc) return rc;
  if (v->n == 0)
    return cfg_error(ctx, v, key, "expected one of bins or draw");
  for (size_t i = 0; i < v->n; ++i) {
    const kps_ynode *k = v->keys[i], *list = v->items[i];
    char sub[KEY_LEN];
    join_key(sub, key, k->text);
    int is_bins = strcmp(k->text, "bins") == 0;
    if (!is_bins && strcmp(k->text, "draw") != 0)
      return cfg_error(ctx, k, sub, "unknown key (known keys: bins, draw)");
    if (i > 0)
      return cfg_error(ctx, k, sub,
                       "bins and draw are mutually exclusive; give one");
    if (list->kind != KPS_YNODE_SEQUENCE)
      return cfg_error(ctx, list, sub, "expected a sequence, got %s",
                       kps_ynode_kind_name(list->kind));
    size_t max = is_bins ? KPS_MAX_BINS : KPS_MAX_DRAW;
    if (list->n == 0) return cfg_error(ctx, list, sub, "must not be empty");
    if (list->n > max)
      return cfg_error(ctx, list->items[max], sub, "at most %zu entries", max);
    for (size_t e = 0; e < list->n; ++e) {
      char ekey[KEY_LEN + 24];
      double vals[4];
      snprintf(ekey, sizeof ekey, "%s[%zu]", sub, e);
      if (is_bins) {
        rc = parse_record(ctx, list->items[e], ekey, bin_fields, 2, vals);
        if (rc) return rc;
        a->bin_tau[e] = vals[0];
        a->bin_L[e] = vals[1];
      } else {
        rc = parse_record(ctx, list->items[e], ekey, draw_fields, 4, vals);
        if (rc) return rc;
        a->draw[e].half_normal = vals[0] != 0.0;
        a->draw[e].mean = vals[1];
        a->draw[e].sd = vals[2];
        a->draw[e].count = vals[3];
      }
    }
    /* The published descent holds every ligand: bound the total too. */
    double total = 0.0;
    for (size_t e = 0; e < list->n; ++e)
      total += floor((is_bins ? a->bin_L[e] : a->draw[e].count) + 0.5);
    if (total > KPS_MAX_LIGANDS)
      return cfg_error(ctx, list, sub,
                       "%.17g ligands in total (%s rounded), more than the limit of %.0f",
                       total, is_bins ? "every L" : "every count", KPS_MAX_LIGANDS);
    if (is_bins)
      a->n_bins = list->n;
    else
      a->n_draw = list->n;
  }
  return KPS_OK;
}

/* self: one {tau, L} mapping, or a list of 1..KPS_MAX_SELF of them. */
static kps_err key_self(pctx *ctx, const kps_ynode *v, const char *key,
                        const key_spec *spec) {
  (void)spec;
  static const rec_field fields[] = {{"tau", R_POS, 0}, {"L", R_NONNEG, 0}};
  kps_config *cfg = ctx->cfg;
  const int list = v->kind == KPS_YNODE_SEQUENCE;
  if (!list && v->kind != KPS_YNODE_MAPPING)
    return cfg_error(ctx, v, key, "expected a mapping {tau, L} or a list of them, got %s",
                     kps_ynode_kind_name(v->kind));
  const size_t n = list ? v->n : 1;
  if (n == 0) return cfg_error(ctx, v, key, "must not be empty");
  if (n > KPS_MAX_SELF)
    return cfg_error(ctx, v->items[KPS_MAX_SELF], key, "at most %d entries", KPS_MAX_SELF);
  for (size_t e = 0; e < n; ++e) {
    char ekey[KEY_LEN + 24];
    double vals[2];
    if (list) snprintf(ekey, sizeof ekey, "%s[%zu]", key, e);
    else snprintf(ekey, sizeof ekey, "%s", key);
    kps_err rc = parse_record(ctx, list ? v->items[e] : v, ekey, fields, 2, vals);
    if (rc) return rc;
    cfg->self_tau[e] = vals[0], cfg->self_L[e] = vals[1];
  }
  cfg->n_self = n;
  return KPS_OK;
}

/* ------------------------------------------------------------------------ */
/* Whole-config checks                                                       */

static long long read_file(const char *path, char **out);

/* The keys of `model:` as a mapping (a model from a file). */
static const key_spec model_file_keys[] = {{.name = "network", .parse = key_model},
                                           {.name = "sbml", .parse = key_model},
                                           {.name = "ligands", .parse = key_model},
                                           {.name = "output", .parse = key_model},
                                           {.name = "params", .parse = key_model},
                                           END};

/* FILE relative to the job file's directory unless absolute. */
static kps_err model_file_path(pctx *ctx, const kps_ynode *v, const char *key,
                               const char **file) {
  kps_config *cfg = ctx->cfg;
  kps_err rc = get_string(ctx, v, key, file);
  if (rc) return rc;
  const char *slash = strrchr(cfg->source, '/');
  const int dir_len = (*file)[0] == '/' || !slash ? 0 : (int)(slash - cfg->source) + 1;
  if (snprintf(cfg->network_path, sizeof cfg->network_path, "%.*s%s", dir_len, cfg->source,
               *file) >= (int)sizeof cfg->network_path)
    return cfg_error(ctx, v, key, "path too long");
  /* Only a regular file: a FIFO or a device would block or never end. */
  struct stat st;
  if (stat(cfg->network_path, &st) == 0 && !S_ISREG(st.st_mode))
    return cfg_error(ctx, v, key, "%s is not a regular file", cfg->network_path);
  return KPS_OK;
}

/*
 * `model: {sbml: FILE, ligands: [...], output: EXPR, params: {...}}` into
 * spec. The number of ligand entries must be the job's K: the agonist, the
 * antagonist and every `self` ligand (the flat network is built for one K).
 */
static kps_err parse_sbml_spec(pctx *ctx, const kps_ynode *map, kps_sbml_spec *spec,
                               const kps_ynode **nodes) {
  const kps_ynode *lig = kps_ynode_get(map, "ligands"), *out = kps_ynode_get(map, "output"),
                  *par = kps_ynode_get(map, "params"), *self = kps_ynode_get(ctx->root, "self");
  if (!lig) return cfg_error(ctx, map, "model", "missing key ligands (with sbml)");
  if (lig->kind != KPS_YNODE_SEQUENCE)
    return cfg_error(ctx, lig, "model.ligands", "expected a list of {L, koff} or {L, tau}");
  const size_t K = 2 + (!self ? 0 : self->kind == KPS_YNODE_SEQUENCE ? self->n : 1);
  if (lig->n != K)
    return cfg_error(ctx, lig, "model.ligands",
                     "%zu entries, but the job has %zu ligand types (agonist, antagonist and "
                     "%zu self): list exactly one per type", lig->n, K, K - 2);
  spec->n_ligands = (int)K;
  for (size_t i = 0; i < lig->n; ++i) {
    char key[KEY_LEN];
    snprintf(key, sizeof key, "model.ligands[%zu]", i);
    const kps_ynode *e = lig->items[i];
    nodes[i] = e;
    kps_err rc = expect_map(ctx, e, key);
    if (rc) return rc;
    const kps_ynode *L = kps_ynode_get(e, "L"), *koff = kps_ynode_get(e, "koff"),
                    *tau = kps_ynode_get(e, "tau");
    for (size_t k = 0; k < e->n; ++k)
      if (strcmp(e->keys[k]->text, "L") && strcmp(e->keys[k]->text, "koff") &&
          strcmp(e->keys[k]->text, "tau"))
        return cfg_error(ctx, e->keys[k], key, "unknown key (known keys: L, koff, tau)");
    if (!L || !koff == !tau)
      return cfg_error(ctx, e, key, "expected {L: ID, koff: ID} or {L: ID, tau: ID}");
    const char *a = NULL, *b = NULL;
    if ((rc = get_string(ctx, L, key, &a)) || (rc = get_string(ctx, koff ? koff : tau, key, &b)))
      return rc;
    if (strlen(a) >= KPS_SBML_ID_LEN || strlen(b) >= KPS_SBML_ID_LEN)
      return cfg_error(ctx, e, key, "id too long");
    snprintf(spec->ligand[i].L, KPS_SBML_ID_LEN, "%s", a);
    snprintf(spec->ligand[i].rate, KPS_SBML_ID_LEN, "%s", b);
    spec->ligand[i].rate_is_tau = !koff;
  }
  if (!out) return cfg_error(ctx, map, "model", "missing key output (an expression over species)");
  kps_err rc = get_string(ctx, out, "model.output", &spec->output);
  if (rc) return rc;
  if (par) {
    if ((rc = expect_map(ctx, par, "model.params"))) return rc;
    if (par->n > KPS_SBML_MAX_OVERRIDES)
      return cfg_error(ctx, par, "model.params", "at most %d entries", KPS_SBML_MAX_OVERRIDES);
    for (size_t k = 0; k < par->n; ++k) {
      if (strlen(par->keys[k]->text) >= KPS_SBML_ID_LEN)
        return cfg_error(ctx, par->keys[k], "model.params", "id too long");
      snprintf(spec->override_name[k], KPS_SBML_ID_LEN, "%s", par->keys[k]->text);
      if ((rc = get_number(ctx, par->items[k], "model.params", &spec->override_value[k])))
        return rc;
      nodes[KPS_SBML_MAX_LIGANDS + k] = par->keys[k];
    }
    spec->n_overrides = (int)par->n;
  }
  return KPS_OK;
}

/* `model: {sbml: ...}`: translated to network text (kept as the network's,
 * so its hash is in the canonical text and the results file holds it). */
static kps_err parse_model_sbml(pctx *ctx, const kps_ynode *map, const kps_ynode *v) {
  kps_config *cfg = ctx->cfg;
  const char *file = NULL;
  kps_err rc = model_file_path(ctx, v, "model.sbml", &file);
  if (rc) return rc;
  kps_sbml_spec spec;
  memset(&spec, 0, sizeof spec);
  const kps_ynode *nodes[KPS_SBML_MAX_LIGANDS + KPS_SBML_MAX_OVERRIDES] = {0};
  if ((rc = parse_sbml_spec(ctx, map, &spec, nodes))) return rc;
  if (access(cfg->network_path, R_OK) != 0)
    return cfg_error(ctx, v, "model.sbml", "cannot read the SBML file %s: %s", cfg->network_path,
                     strerror(errno));
  kps_sbml_blame blame;
  char why[1024];
  rc = kps_sbml_to_network(cfg->network_path, &spec, &cfg->network_text, &blame, why, sizeof why);
  if (rc) {
    const kps_ynode *at = v;
    const char *key = "model.sbml";
    if (blame.part == KPS_SBML_PART_LIGAND) at = nodes[blame.index], key = "model.ligands";
    if (blame.part == KPS_SBML_PART_OUTPUT) at = kps_ynode_get(map, "output"), key = "model.output";
    if (blame.part == KPS_SBML_PART_PARAMS)
      at = nodes[KPS_SBML_MAX_LIGANDS + blame.index], key = "model.params";
    return cfg_error(ctx, at ? at : v, key, "%s", why);
  }
  cfg->network_len = strlen(cfg->network_text);
  char source[KPS_PATH_MAX + 32];
  snprintf(source, sizeof source, "%s (as a network)", cfg->network_path);
  const kps_model *m = NULL;
  rc = kps_network_parse(source, cfg->network_text, cfg->network_len, &m, ctx->err, ctx->errlen);
  if (rc) return rc;
  cfg->model = m;
  kps_model_defaults(m, cfg->params);
  return KPS_OK;
}

/*
 * `model: {network: FILE}`: the network file, relative to the job file's
 * directory unless absolute, read and compiled into a model the config
 * owns. Its text is kept for the canonical text and the results file.
 * `model: {sbml: FILE, ...}`: parse_model_sbml.
 */
static kps_err parse_model_file(pctx *ctx, const kps_ynode *map) {
  kps_config *cfg = ctx->cfg;
  kps_err rc = check_known_keys(ctx, map, "model", model_file_keys);
  if (rc) return rc;
  const kps_ynode *v = kps_ynode_get(map, "network"), *sbml = kps_ynode_get(map, "sbml");
  if (v && sbml)
    return cfg_error(ctx, sbml, "model.sbml", "give exactly one of network and sbml");
  if (sbml) return parse_model_sbml(ctx, map, sbml);
  if (!v)
    return cfg_error(ctx, map, "model",
                     "missing key network (a network file) or sbml (an SBML file)");
  static const char *const sbml_only[] = {"ligands", "output", "params"};
  for (int k = 0; k < 3; ++k)
    if (kps_ynode_get(map, sbml_only[k]))
      return cfg_error(ctx, kps_ynode_get(map, sbml_only[k]), "model",
                       "%s belongs to model: {sbml: ...}; a network file declares it itself",
                       sbml_only[k]);
  const char *file = NULL;
  if ((rc = model_file_path(ctx, v, "model.network", &file))) return rc;
  const long long len = read_file(cfg->network_path, &cfg->network_text);
  if (len < 0)
    return cfg_error(ctx, v, "model.network", "cannot read the network file %s: %s",
                     cfg->network_path, strerror(errno));
  cfg->network_len = (size_t)len;
  const kps_model *m = NULL;
  rc = kps_network_parse(cfg->network_path, cfg->network_text, cfg->network_len, &m, ctx->err,
                         ctx->errlen);
  if (rc) return rc;
  cfg->model = m;
  kps_model_defaults(m, cfg->params);
  return KPS_OK;
}

static kps_err parse_model(pctx *ctx) {
  const kps_ynode *v = kps_ynode_get(ctx->root, "model");
  if (v && v->kind == KPS_YNODE_MAPPING) return parse_model_file(ctx, v);
  char known[512] = "";
  for (const kps_model *const *m = kps_model_list(); *m; ++m) {
    size_t used = strlen(known);
    snprintf(known + used, sizeof known - used, "%s%s",
             m == kps_model_list() ? "" : ", ", (*m)->name);
  }
  if (!v)
    return cfg_error(ctx, ctx->root, "model",
                     "missing required key (known models: %s; or {network: FILE})", known);
  const char *name = NULL;
  kps_err rc = get_string(ctx, v, "model", &name);
  if (rc) return rc;
  ctx->cfg->model = kps_model_find(name);
  if (!ctx->cfg->model)
    return cfg_error(ctx, v, "model",
                     "unknown model \"%s\" (known models: %s; or {network: FILE})", name, known);
  kps_model_defaults(ctx->cfg->model, ctx->cfg->params);
  return KPS_OK;
}

/*
 * Whether some combination of the axis values, with the other parameters from
 * fixed[], passes the model's check. The first failure's parameters and
 * reason go to first[] and why[]. Sweeps too large to enumerate count as
 * valid: their invalid points become per-point data.
 */
static int any_valid(const kps_config *cfg, const double *fixed,
                     double *first, char *why, size_t whylen) {
  const kps_model *m = cfg->model;
  size_t total = 1;
  /* The agonist's axes do not enter the model's check. */
  for (size_t k = 0; k < cfg->n_axes; ++k) {
    if (cfg->axes[k].param < 0) continue;
    if (total > CHECK_MAX_COMBINATIONS / cfg->axes[k].n) return 1;
    total *= cfg->axes[k].n;
  }
  double p[KPS_MAX_PARAMS];
  char tmp[256];
  for (size_t c = 0; c < total; ++c) {
    size_t rest = c;
    memcpy(p, fixed, sizeof p);
    for (size_t k = cfg->n_axes; k-- > 0;) {
      if (cfg->axes[k].param < 0) continue;
      p[cfg->axes[k].param] = cfg->axes[k].values[rest % cfg->axes[k].n];
      rest /= cfg->axes[k].n;
    }
    if (m->check_params(m, p, tmp, sizeof tmp) == 0) return 1;
    if (c == 0) {
      if (first) memcpy(first, p, sizeof p);
      if (why) snprintf(why, whylen, "%s", tmp);
    }
  }
  return 0;
}

/*
 * The model's own constraints (m < N): fixed parameters must satisfy them;
 * with axes, at least one combination must (the others become per-point
 * invalid_params data). The error points at the fixed parameter whose reset
 * to its default would make the sweep valid, the last such in `params:`.
 */
static kps_err check_model_params(pctx *ctx) {
  const kps_config *cfg = ctx->cfg;
  const kps_model *m = cfg->model;
  const kps_ynode *params = kps_ynode_get(ctx->root, "params");
  double first[KPS_MAX_PARAMS], q[KPS_MAX_PARAMS];
  char why[256] = "";
  if (!m->check_params || any_valid(cfg, cfg->params, first, why, sizeof why))
    return KPS_OK;
  const kps_axis *ax = NULL; /* the first model-parameter axis */
  for (size_t k = cfg->n_axes; k-- > 0;)
    if (cfg->axes[k].param >= 0) ax = &cfg->axes[k];
  const char *extra = ax ? " (for every combination of the axes)" : "";
  for (size_t i = params ? params->n : 0; i-- > 0;) {
    int j = kps_model_param_index(m, params->keys[i]->text);
    memcpy(q, cfg->params, sizeof q);
    q[j] = m->params[j].def;
    if (any_valid(cfg, q, NULL, NULL, 0)) {
      char key[KEY_LEN];
      join_key(key, "params", params->keys[i]->text);
      return cfg_error(ctx, params->items[i], key, "%s%s", why, extra);
    }
  }
  if (params) return cfg_error(ctx, params, "params", "%s%s", why, extra);
  if (ax) {
    const kps_ynode at = {.line = ax->line, .column = ax->column};
    char key[KEY_LEN];
    join_key(key, "axes", ax->name);
    return cfg_error(ctx, &at, key, "%s%s", why, extra);
  }
  return cfg_error(ctx, kps_ynode_get(ctx->root, "model"), "model", "%s%s",
                   why, extra);
}

/* Default job name: the file stem, reduced to characters safe in a path. */
static void default_name(kps_config *cfg) {
  const char *base = strrchr(cfg->source, '/');
  base = base ? base + 1 : cfg->source;
  size_t n = strlen(base);
  const char *dot = strrchr(base, '.');
  if (dot && dot != base) n = (size_t)(dot - base);
  if (dot == base) n = 0;
  if (n >= sizeof cfg->name) n = sizeof cfg->name - 1;
  if (n == 0) {
    snprintf(cfg->name, sizeof cfg->name, "job");
    return;
  }
  for (size_t i = 0; i < n; ++i)
    cfg->name[i] = is_name_char(base[i]) ? base[i] : '_';
  cfg->name[n] = '\0';
}

/*
 * What the landscape and the descent's ligands need: a histogram (their
 * starting point), an odd grid (so that it holds a = b = 0), and for the
 * ligands a published descent that runs.
 */
static kps_err check_landscape(pctx *ctx) {
  const kps_config *cfg = ctx->cfg;
  const kps_attack_config *a = &cfg->attack;
  const kps_ynode *attacks = kps_ynode_get(ctx->root, "attacks");
  const kps_ynode *land = kps_ynode_get(ctx->root, "landscape");
  const int has_hist = a->n_bins > 0 || a->n_draw > 0;
  const kps_ynode *n = kps_ynode_get(land, "n");
  if (n && cfg->landscape.n % 2 == 0)
    return cfg_error(ctx, n, "landscape.n",
                     "must be odd (the grid holds a = b = 0, the starting histogram), got %d",
                     cfg->landscape.n);
  if (cfg->landscape.enabled && !has_hist)
    return cfg_error(ctx, kps_ynode_get(land, "enabled"), "landscape.enabled",
                     "needs attacks.histogram (the landscape is taken around the descent's "
                     "starting histogram)");
  const kps_ynode *lig = kps_ynode_get(attacks, "descent_ligands");
  if (a->descent_ligands &&
      !(a->enabled && a->descent && a->descent_method == KPS_DESCENT_PUBLISHED && has_hist))
    return cfg_error(ctx, lig, "attacks.descent_ligands",
                     "needs the published descent to run: attacks.enabled, attacks.descent, "
                     "descent_method: published and attacks.histogram");
  return KPS_OK;
}

static kps_err finish(pctx *ctx) {
  kps_config *cfg = ctx->cfg;
  const kps_ynode *antagonist = kps_ynode_get(ctx->root, "antagonist");
  const kps_ynode *attacks = kps_ynode_get(ctx->root, "attacks");
  const kps_ynode *run = kps_ynode_get(ctx->root, "run");

  if (cfg->tau2.n == 0)
    return cfg_error(ctx, antagonist ? antagonist : ctx->root,
                     "antagonist.tau",
                     "missing required key (the antagonist binding-time axis)");
  if (cfg->L2.n == 0) {
    cfg->L2.values = malloc(sizeof *cfg->L2.values);
    if (!cfg->L2.values) {
      cfg_error(ctx, ctx->root, "antagonist.L", "out of memory");
      return KPS_ERR_NOMEM;
    }
    cfg->L2.values[0] = 6000.0;
    cfg->L2.n = 1;
    cfg->L2.kind = KPS_AXIS_VALUES;
  }
  /* A swept agonist value has no fixed value: NaN, so that nothing uses one. */
  for (size_t k = 0; k < cfg->n_axes; ++k) {
    if (cfg->axes[k].param == KPS_AXIS_TAU1) cfg->agonist_tau = NAN;
    if (cfg->axes[k].param == KPS_AXIS_L1) cfg->agonist_L = NAN;
  }
  /* A model with its own tau_c (ideal's T_{N,m}) follows the threshold's
   * unless the job fixes or sweeps it. */
  const int j_tc = kps_model_param_index(cfg->model, "tau_c");
  if (j_tc >= 0 && !kps_ynode_get(kps_ynode_get(ctx->root, "params"), "tau_c"))
    cfg->params[j_tc] = cfg->tau_c;
  if (!kps_ynode_get(attacks, "fgsm_eps_tau_max"))
    cfg->attack.fgsm_eps_tau_max = cfg->tau_c;
  const kps_ynode *tmin = kps_ynode_get(attacks, "tau_min");
  if (tmin && !(cfg->attack.tau_min < cfg->tau_c))
    return cfg_error(ctx, tmin, "attacks.tau_min",
                     "must be below threshold.tau_c (%g): binding-time attacks move ligands "
                     "within [tau_min, tau_c]", cfg->tau_c);
  if (!kps_ynode_get(attacks, "tau_max")) cfg->attack.tau_max = 2.0 * cfg->tau_c;
  if (cfg->attack.tau_max / cfg->attack.bin_width * (1.0 - 1e-12) > KPS_MAX_BINS)
    return cfg_error(ctx, attacks ? attacks : ctx->root, "attacks.tau_max",
                     "tau_max / bin_width = %g bins, more than %d", cfg->attack.tau_max /
                     cfg->attack.bin_width, KPS_MAX_BINS);
  const kps_err land_rc = check_landscape(ctx);
  if (land_rc) return land_rc;
  if (!kps_ynode_get(ctx->root, "name")) default_name(cfg);
  if (!kps_ynode_get(run, "output")) {
    int n = snprintf(cfg->run.output, sizeof cfg->run.output, "results/%s.h5",
                     cfg->name);
    if (n < 0 || (size_t)n >= sizeof cfg->run.output)
      return cfg_error(ctx, ctx->root, "run.output",
                       "default output path is too long");
  }

  const kps_ynode *level = kps_ynode_get(run, "compression_level");
  if (level && cfg->run.compression != KPS_COMPRESS_DEFLATE)
    return cfg_error(ctx, level, "run.compression_level",
                     "applies to run.compression: deflate only (compression is none)");
  /* A compressed chunk never written would not decompress: such datasets
   * are filled whole. */
  const kps_ynode *fill = kps_ynode_get(run, "fill");
  if (fill && cfg->run.fill == KPS_FILL_STATUS && cfg->run.compression == KPS_COMPRESS_DEFLATE)
    return cfg_error(ctx, fill, "run.fill",
                     "status cannot go with run.compression: deflate (a compressed chunk must "
                     "be written whole, so such files are filled whole); use all or auto");

  /* Bounded work and memory for the whole plan; the bounds also keep point
   * indices exact as doubles in the file. */
  double lines = (double)cfg->L2.n;
  for (size_t k = 0; k < cfg->n_axes; ++k) lines *= (double)cfg->axes[k].n;
  const double points = lines * (double)cfg->tau2.n;
  const kps_ynode *axes = kps_ynode_get(ctx->root, "axes");
  const kps_ynode *at = axes ? axes : antagonist;
  const char *key = axes ? "axes" : "antagonist";
  if (lines > KPS_MAX_LINES)
    return cfg_error(ctx, at, key, "the sweep has %.17g lines (parameter points x L2), more "
                     "than the limit of %.0f", lines, KPS_MAX_LINES);
  if (points > KPS_MAX_POINTS)
    return cfg_error(ctx, at, key, "the sweep has %.17g points, more than the limit of %.0f",
                     points, KPS_MAX_POINTS);
  return check_model_params(ctx);
}

/* ------------------------------------------------------------------------ */
/* Public API                                                                */

/* The range of a numeric job-file key "section.key", or NULL. */
static const range *key_range(const char *key) {
  const char *dot = strchr(key, '.');
  char section[64];
  if (!dot || (size_t)(dot - key) >= sizeof section) return NULL;
  memcpy(section, key, (size_t)(dot - key));
  section[dot - key] = '\0';
  const key_spec *sec = find_spec(top_keys, section);
  const key_spec *s = sec && sec->sub ? find_spec(sec->sub, dot + 1) : NULL;
  if (!s || !(s->parse == key_double || s->parse == key_long || s->parse == key_int ||
              s->parse == key_L_ref || s->parse == key_threshold_value))
    return NULL;
  return &s->r;
}

kps_err kps_config_number(const char *key, const char *text, double *out, char *why,
                          size_t n) {
  const range *r = key_range(key);
  double x = 0.0;
  if (!r) {
    snprintf(why, n, "%s is not a numeric job-file key", key);
    return KPS_ERR_INTERNAL;
  }
  if (parse_number(text, strlen(text), 1, &x, why, n) || range_check(x, r, why, n))
    return KPS_ERR_CONFIG;
  *out = x;
  return KPS_OK;
}

kps_err kps_config_param_number(const kps_model *m, int j, const char *text, double *out,
                                char *why, size_t n) {
  const range r = param_range(&m->params[j]);
  double x = 0.0;
  if (parse_number(text, strlen(text), 1, &x, why, n) || range_check(x, &r, why, n))
    return KPS_ERR_CONFIG;
  *out = x;
  return KPS_OK;
}

void kps_config_defaults(kps_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  snprintf(cfg->name, sizeof cfg->name, "job");
  cfg->agonist_tau = 4.0;
  cfg->agonist_L = 4000.0;
  /* tau2 is required; L2's default [6000] is allocated by the parser, which
   * can report failure (this function cannot). */
  snprintf(cfg->tau2.name, sizeof cfg->tau2.name, "tau2");
  cfg->tau2.param = -1;
  snprintf(cfg->L2.name, sizeof cfg->L2.name, "L2");
  cfg->L2.param = -1;
  cfg->tau_c = 3.0;
  cfg->L_ref = NAN;
  cfg->solver = (kps_solver_config){.rtol = 1e-6,
                                    .atol_rel = 1e-12,
                                    .newton_tol = 1e-10,
                                    .t_max = 1e7,
                                    .max_steps = 20000,
                                    .warm_start = 1};
  snprintf(cfg->run.output, sizeof cfg->run.output, "results/%s.h5",
           cfg->name);
  cfg->run.checkpoint_every = 60.0;
  cfg->run.chunk = 0;
  cfg->run.memory_limit_mb = 1024.0;
  cfg->run.progress_every = 2.0;
  cfg->run.fields_omitted = 0;
  cfg->run.compression = KPS_COMPRESS_NONE;
  cfg->run.compression_level = 4;
  cfg->run.writers = 1;
  cfg->run.fill = KPS_FILL_AUTO;
  cfg->stats.boundary = 1;
  cfg->stats.line_stats = 1;
  cfg->stats.fc_tol = 1e-3;
  kps_attack_config *a = &cfg->attack;
  a->enabled = 0;
  a->direction = KPS_DIR_OFF;
  a->movable = KPS_MOVE_BELOW_THRESHOLD;
  a->fgsm_L = a->fgsm_tau = 1;
  a->fgsm_eps_L_max = 1e7;
  a->fgsm_eps_tau_max = cfg->tau_c;
  a->tau_min = 1e-3;
  a->descent = 1;
  a->descent_method = KPS_DESCENT_PUBLISHED;
  a->descent_eta = 0.2;
  a->descent_max_steps = 1000;
  a->pgd = 1;
  a->pgd_eps = 0.5;
  a->pgd_step = 0.05;
  a->pgd_steps = 20;
  a->bin_width = 0.2;
  a->seed = 1;
  a->tau_max = 2.0 * cfg->tau_c;
  cfg->landscape = (kps_landscape_config){.enabled = 0, .eps_max = 2000.0, .n = 21, .seed = 1};
}

kps_err kps_config_parse(kps_config *cfg, const char *source, const char *text,
                         size_t len, char *err, size_t errlen) {
  kps_err rc = KPS_OK;
  kps_ynode *root = NULL;
  kps_yerror yerr;
  char local[8];
  pctx ctx = {.cfg = cfg,
              .source = cfg->source,
              .err = (err && errlen) ? err : local,
              .errlen = (err && errlen) ? errlen : sizeof local};

  ctx.err[0] = '\0';
  snprintf(cfg->source, sizeof cfg->source, "%s", source ? source : "<config>");
  free(cfg->text);
  cfg->text = malloc(len + 1);
  if (!cfg->text) {
    cfg->text_len = 0;
    snprintf(ctx.err, ctx.errlen, "%s: out of memory", cfg->source);
    rc = KPS_ERR_NOMEM;
    goto cleanup;
  }
  memcpy(cfg->text, text, len);
  cfg->text[len] = '\0';
  cfg->text_len = len;

  rc = kps_ytree_load(text, len, &root, &yerr);
  if (rc) {
    snprintf(ctx.err, ctx.errlen, "%s:%d:%d: yaml: %s", cfg->source, yerr.line,
             yerr.column, yerr.reason);
    goto cleanup;
  }
  if (!root) {
    rc = cfg_error(&ctx, NULL, "model", "missing required key (empty config)");
    goto cleanup;
  }
  ctx.root = root;
  KPS_CHECK(check_known_keys(&ctx, root, "", top_keys));
  KPS_CHECK(parse_model(&ctx));
  KPS_CHECK(parse_section(&ctx, root, "", top_keys));
  KPS_CHECK(finish(&ctx));
cleanup:
  kps_ytree_free(root);
  return rc;
}

/* Reads a whole file; on failure returns -1 with errno set. */
static long long read_file(const char *path, char **out) {
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  size_t len = 0, cap = 0;
  int saved = 0;
  if (!f) return -1;
  for (;;) {
    if (len == cap) {
      cap = cap ? 2 * cap : 4096;
      if (cap > (size_t)CONFIG_MAX_BYTES + 1) {
        saved = EFBIG;
        goto fail;
      }
      char *grown = realloc(buf, cap);
      if (!grown) {
        saved = ENOMEM;
        goto fail;
      }
      buf = grown;
    }
    size_t got = fread(buf + len, 1, cap - len, f);
    len += got;
    if (got == 0) break;
  }
  if (ferror(f)) {
    saved = errno ? errno : EIO;
    goto fail;
  }
  if (len > (size_t)CONFIG_MAX_BYTES) {
    saved = EFBIG;
    goto fail;
  }
  fclose(f);
  buf[len] = '\0'; /* the loop ends with room to spare: len < cap */
  *out = buf;
  return (long long)len;
fail:
  free(buf);
  fclose(f);
  errno = saved;
  return -1;
}

kps_err kps_config_load(kps_config *cfg, const char *path, MPI_Comm comm) {
  kps_err rc = KPS_OK;
  int rank = 0, ok = 1, all_ok = 0;
  long long len = -1;
  char *buf = NULL;
  char msg[2048];

  /* run and validate start here: our messages replace HDF5's stack dumps. */
  KPS_CHECK(kps_hdf5_quiet());
  KPS_CHECK_MPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) {
    len = read_file(path, &buf);
    if (len < 0)
      fprintf(stderr, "%s: cannot read the config file: %s\n", path,
              strerror(errno));
  }
  KPS_CHECK_MPI(MPI_Bcast(&len, 1, MPI_LONG_LONG, 0, comm));
  if (len < 0) {
    rc = KPS_ERR_IO;
    goto cleanup;
  }
  if (rank != 0) {
    buf = malloc((size_t)len + 1);
    ok = buf != NULL;
  }
  /* Every rank must take part in the byte broadcast, or none. */
  KPS_CHECK_MPI(MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, comm));
  if (!all_ok) {
    if (rank == 0)
      fprintf(stderr, "%s: out of memory for the config text\n", path);
    rc = KPS_ERR_NOMEM;
    goto cleanup;
  }
  KPS_CHECK_MPI(MPI_Bcast(buf, (int)len, MPI_CHAR, 0, comm));
  rc = kps_config_parse(cfg, path, buf, (size_t)len, msg, sizeof msg);
  if (rc != KPS_OK && rank == 0) fprintf(stderr, "%s\n", msg);
  /* Every rank reads a network file itself: one that could not is agreed on. */
  int failed = rc != KPS_OK, any_failed = 0;
  KPS_CHECK_MPI(MPI_Allreduce(&failed, &any_failed, 1, MPI_INT, MPI_MAX, comm));
  if (any_failed && rc == KPS_OK) {
    if (rank == 0) fprintf(stderr, "%s: the job could not be read on another rank\n", path);
    rc = KPS_ERR_CONFIG;
  }
cleanup:
  free(buf);
  return rc;
}

void kps_config_destroy(kps_config *cfg) {
  kps_network_destroy(cfg->model); /* built-in models are left alone */
  free(cfg->network_text);
  for (size_t k = 0; k < cfg->n_axes; ++k) free(cfg->axes[k].values);
  free(cfg->tau2.values);
  free(cfg->L2.values);
  free(cfg->text);
  kps_config_defaults(cfg);
}

/* ------------------------------------------------------------------------ */
/* Canonical text and sizes                                                  */

typedef struct sbuf {
  char *p;
  size_t len, cap;
  int failed;
} sbuf;

__attribute__((format(printf, 2, 3))) static void sb_printf(sbuf *b,
                                                            const char *fmt,
                                                            ...) {
  if (b->failed) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0,
                      fmt, ap);
    va_end(ap);
    if (n < 0) {
      b->failed = 1;
      return;
    }
    if (b->p && (size_t)n < b->cap - b->len) {
      b->len += (size_t)n;
      return;
    }
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + (size_t)n + 1) cap *= 2;
    char *grown = realloc(b->p, cap);
    if (!grown) {
      b->failed = 1;
      return;
    }
    b->p = grown;
    b->cap = cap;
  }
}

/* NaN is printed one way whatever its sign bit. */
static void sb_double(sbuf *b, double x) {
  if (isnan(x))
    sb_printf(b, "nan");
  else
    sb_printf(b, "%.17g", x);
}

static void sb_axis(sbuf *b, const char *key, const kps_axis *ax) {
  sb_printf(b, "%s=[", key);
  for (size_t i = 0; i < ax->n; ++i) {
    if (i) sb_printf(b, ",");
    sb_double(b, ax->values[i]);
  }
  sb_printf(b, "]\n");
}

static void sb_histogram(sbuf *b, const char *key, const kps_attack_config *a) {
  sb_printf(b, "%s.bins=[", key);
  for (size_t i = 0; i < a->n_bins; ++i) {
    sb_printf(b, "%s(", i ? "," : "");
    sb_double(b, a->bin_tau[i]);
    sb_printf(b, ",");
    sb_double(b, a->bin_L[i]);
    sb_printf(b, ")");
  }
  sb_printf(b, "]\n%s.draw=[", key);
  for (size_t i = 0; i < a->n_draw; ++i) {
    const kps_draw_component *d = &a->draw[i];
    sb_printf(b, "%s(%s,", i ? "," : "",
              d->half_normal ? "half_normal" : "normal");
    sb_double(b, d->mean);
    sb_printf(b, ",");
    sb_double(b, d->sd);
    sb_printf(b, ",");
    sb_double(b, d->count);
    sb_printf(b, ")");
  }
  sb_printf(b, "]\n");
}

/* One line per table key, formatted by the key's type. */
static void sb_section(sbuf *b, const kps_config *cfg, const char *prefix,
                       const key_spec *table) {
  for (const key_spec *s = table; s->name; ++s) {
    const void *f = (const char *)cfg + s->offset;
    char key[KEY_LEN];
    join_key(key, prefix, s->name);
    if ((s->flags & KS_CANON_IF_SET) && s->parse == key_bool && !*(const int *)f) continue;
    if (s->parse == key_L_ref && cfg->L_ref_agonist) {
      sb_printf(b, "%s=agonist\n", key);
    } else if (s->parse == key_double || s->parse == key_threshold_value ||
               s->parse == key_L_ref) {
      sb_printf(b, "%s=", key);
      sb_double(b, *(const double *)f);
      sb_printf(b, "\n");
    } else if (s->parse == key_long) {
      sb_printf(b, "%s=%ld\n", key, *(const long *)f);
    } else if (s->parse == key_int || s->parse == key_bool) {
      sb_printf(b, "%s=%d\n", key, *(const int *)f);
    } else if (s->parse == key_u64) {
      sb_printf(b, "%s=%" PRIu64 "\n", key, *(const uint64_t *)f);
    } else if (s->parse == key_enum) {
      int v = *(const int *)f;
      const char *name = "?";
      for (size_t i = 0; s->names[i]; ++i)
        if (s->values[i] == v) name = s->names[i];
      sb_printf(b, "%s=%s\n", key, name);
    } else if (s->parse == key_axis) {
      sb_axis(b, key, (const kps_axis *)f);
    } else if (s->parse == key_histogram) {
      sb_histogram(b, key, &cfg->attack);
    } else if (s->parse == key_path || s->parse == key_name) {
      sb_printf(b, "%s=%s\n", key, (const char *)f);
    }
  }
}

char *kps_config_canonical(const kps_config *cfg) {
  sbuf b = {0};
  sb_printf(&b, "kpsweep-config 1\n");
  sb_printf(&b, "model=%s\n", cfg->model ? cfg->model->name : "");
  /* A network model is its file's text: a changed network is another job. */
  if (cfg->network_text)
    sb_printf(&b, "model.network_fnv1a=%016" PRIx64 "\n",
              kps_hash64(cfg->network_text, cfg->network_len));
  int n_params = cfg->model ? cfg->model->n_params : 0;
  for (int j = 0; j < n_params; ++j) {
    int swept = 0;
    for (size_t k = 0; k < cfg->n_axes; ++k) swept |= cfg->axes[k].param == j;
    if (swept) continue;
    sb_printf(&b, "param.%s=", cfg->model->params[j].name);
    sb_double(&b, cfg->params[j]);
    sb_printf(&b, "\n");
  }
  for (size_t k = 0; k < cfg->n_axes; ++k) {
    char key[KEY_LEN];
    join_key(key, "axis", cfg->axes[k].name);
    sb_axis(&b, key, &cfg->axes[k]);
  }
  for (const key_spec *s = top_keys; s->name; ++s) {
    if (!s->sub || (s->flags & KS_NOT_CANONICAL)) continue;
    /* The one section so flagged is the landscape: its keys matter only when on. */
    if ((s->flags & KS_CANON_IF_SET) && !cfg->landscape.enabled) continue;
    sb_section(&b, cfg, s->name, s->sub);
  }
  /* Only when present: jobs without self ligands keep their earlier hash. */
  if (cfg->n_self > 0) {
    sb_printf(&b, "self=[");
    for (size_t i = 0; i < cfg->n_self; ++i) {
      sb_printf(&b, "%s(", i ? "," : "");
      sb_double(&b, cfg->self_tau[i]);
      sb_printf(&b, ",");
      sb_double(&b, cfg->self_L[i]);
      sb_printf(&b, ")");
    }
    sb_printf(&b, "]\n");
  }
  sb_printf(&b, "threshold.explicit=%d\n", cfg->threshold_explicit);
  if (b.failed) {
    free(b.p);
    return NULL;
  }
  return b.p;
}

uint64_t kps_hash64(const void *data, size_t len) {
  const unsigned char *p = data;
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < len; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

size_t kps_attack_grid_bins(const kps_attack_config *a) {
  const double n = ceil(a->tau_max / a->bin_width * (1.0 - 1e-12));
  return !(n >= 1.0) ? 1 : n > KPS_MAX_BINS ? KPS_MAX_BINS : (size_t)n; /* NaN: 1 */
}

size_t kps_config_n_bins(const kps_config *cfg) {
  const int descent = cfg->attack.enabled && cfg->attack.descent;
  return descent || cfg->landscape.enabled ? kps_attack_grid_bins(&cfg->attack) : 1;
}

/* round(x) as kps_attack_ligands counts individual ligands (lround for x >= 0.5). */
static double ligands_of(double x) { return x >= 0.5 ? floor(x + 0.5) : 0.0; }

size_t kps_config_n_ligands(const kps_config *cfg) {
  const kps_attack_config *a = &cfg->attack;
  if (!a->descent_ligands) return 1;
  double n = 0.0;
  for (size_t j = 0; j < a->n_bins; ++j) n += ligands_of(a->bin_L[j]);
  for (size_t j = 0; a->n_bins == 0 && j < a->n_draw; ++j) n += ligands_of(a->draw[j].count);
  /* The parser bounds the total by KPS_MAX_LIGANDS. */
  return n >= 1.0 ? (size_t)n : 1;
}

size_t kps_config_n_land(const kps_config *cfg) {
  return cfg->landscape.enabled ? (size_t)cfg->landscape.n : 1;
}

size_t kps_config_n_param_points(const kps_config *cfg) {
  size_t n = 1;
  for (size_t k = 0; k < cfg->n_axes; ++k) n *= cfg->axes[k].n;
  return n;
}

size_t kps_config_n_lines(const kps_config *cfg) {
  return kps_config_n_param_points(cfg) * cfg->L2.n;
}

size_t kps_config_n_points(const kps_config *cfg) {
  return kps_config_n_lines(cfg) * cfg->tau2.n;
}

void kps_config_line_inputs(const kps_config *cfg, size_t line, kps_line_inputs *in) {
  size_t nl2 = cfg->L2.n ? cfg->L2.n : 1;
  size_t rest = line / nl2;
  if (cfg->model)
    memcpy(in->p, cfg->params, (size_t)cfg->model->n_params * sizeof *in->p);
  in->tau1 = cfg->agonist_tau;
  in->L1 = cfg->agonist_L;
  for (size_t k = cfg->n_axes; k-- > 0;) {
    const kps_axis *ax = &cfg->axes[k];
    const double x = ax->values[rest % ax->n];
    if (ax->param == KPS_AXIS_TAU1) in->tau1 = x;
    else if (ax->param == KPS_AXIS_L1) in->L1 = x;
    else in->p[ax->param] = x;
    rest /= ax->n;
  }
  in->L2 = cfg->L2.n ? cfg->L2.values[line % nl2] : NAN;
}

void kps_config_line_params(const kps_config *cfg, size_t line, double *p,
                            double *L2) {
  kps_line_inputs in;
  kps_config_line_inputs(cfg, line, &in);
  if (cfg->model) memcpy(p, in.p, (size_t)cfg->model->n_params * sizeof *p);
  *L2 = in.L2;
}

int kps_config_ligands(const kps_config *cfg, const kps_line_inputs *in, double tau2,
                       double *tau, double *L) {
  tau[0] = in->tau1, L[0] = in->L1;
  tau[1] = tau2, L[1] = in->L2;
  for (size_t i = 0; i < cfg->n_self; ++i)
    tau[2 + i] = cfg->self_tau[i], L[2 + i] = cfg->self_L[i];
  return 2 + (int)cfg->n_self;
}
