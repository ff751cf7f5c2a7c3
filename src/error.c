/* Error-code names, messages and the one error reporter. */
#include "kpsweep/error.h"

#include <stdio.h>

const char *kps_err_name(kps_err code) {
  switch (code) {
#define KPS_ERR_NAME_(name, value, msg) \
  case value:                           \
    return #name;
    KPS_ERR_LIST(KPS_ERR_NAME_)
#undef KPS_ERR_NAME_
  }
  return "KPS_ERR_UNKNOWN";
}

const char *kps_strerror(kps_err code) {
  switch (code) {
#define KPS_ERR_MSG_(name, value, msg) \
  case value:                          \
    return msg;
    KPS_ERR_LIST(KPS_ERR_MSG_)
#undef KPS_ERR_MSG_
  }
  return "unknown error";
}

void kps_error_report(const char *file, int line, const char *func,
                      kps_err code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char msg[2048];
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "kpsweep: error: %s (%s:%d in %s) [%s]\n", msg, file, line,
          func, kps_err_name(code));
}

kps_err kps_error_vformat_at(char *err, size_t errlen, const char *source, int line, int column,
                             const char *key, const char *fmt, va_list ap) {
  const int n = snprintf(err, errlen, "%s:%d:%d: %s: ", source, line, column, key);
  if (n >= 0 && (size_t)n < errlen) vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
  return KPS_ERR_CONFIG;
}
