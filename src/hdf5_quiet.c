/*
 * HDF5's own error reporting, tamed: its automatic stack printing is turned
 * off (our checking macros report every failure once, with file and line),
 * and the innermost entry of its error stack is available as one line to
 * append to our messages.
 */
#include <hdf5.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "kpsweep/error.h"

kps_err kps_hdf5_quiet(void) {
  kps_err rc = KPS_OK;
  /* HDF5 keeps this setting in its own library state: nothing of ours. */
  KPS_CHECK_H5(H5Eset_auto2(H5E_DEFAULT, NULL, NULL));
cleanup:
  return rc;
}

typedef struct innermost {
  char desc[256];
  char func[64];
  hid_t minor;
  int found;
} innermost;

/* Walk callback: the first entry of an upward walk is the innermost one. */
static herr_t take_innermost(unsigned n, const H5E_error2_t *e, void *data) {
  (void)n;
  innermost *in = data;
  snprintf(in->desc, sizeof in->desc, "%s", e->desc ? e->desc : "");
  snprintf(in->func, sizeof in->func, "%s", e->func_name ? e->func_name : "");
  in->minor = e->min_num;
  in->found = 1;
  return 1; /* H5_ITER_STOP: the outer entries only repeat it */
}

const char *kps_hdf5_describe(char *buf, size_t n) {
  innermost in = {.found = 0};
  if (n == 0) return buf;
  buf[0] = '\0';
  /* The walk does not clear the stack; H5Eget_msg (an API call) does, so it
   * comes after the walk. */
  if (H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, take_innermost, &in) < 0 || !in.found) return buf;
  char minor[128] = "";
  H5E_type_t type;
  if (H5Eget_msg(in.minor, &type, minor, sizeof minor) < 0) minor[0] = '\0';
  snprintf(buf, n, "; HDF5: %s%s%s%s%s", in.func, in.func[0] ? ": " : "", in.desc,
           minor[0] ? " - " : "", minor);
  /* Some descriptions span lines (H5FD's read errors); ours is one line. */
  for (char *c = buf; *c; ++c)
    if (*c == '\n' || *c == '\r') *c = ' ';
  return buf;
}
