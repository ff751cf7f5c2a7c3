/* Rate-limited progress lines with an ETA. */
#include "kpsweep/progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

/* Longest ETA printed as h:mm:ss (100 years); longer ones are summarised. */
#define ETA_MAX_SECONDS (100.0 * 365.25 * 86400.0)

double kps_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double kps_epoch_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void kps_iso_time(double t, char *buf, size_t n) {
  const time_t s = (time_t)t;
  struct tm tm;
  if (!gmtime_r(&s, &tm)) {
    snprintf(buf, n, "unknown");
    return;
  }
  strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void kps_progress_init(kps_progress *p, uint64_t total, uint64_t at_start, double every,
                       int quiet) {
  p->total = total;
  p->at_start = at_start;
  p->t_start = p->t_last = kps_now();
  p->every = every;
  p->tty = isatty(STDERR_FILENO);
  p->quiet = quiet;
  p->printed = 0;
}

void kps_progress_format(char *buf, size_t n, uint64_t done, uint64_t total, double rate,
                         uint64_t failed) {
  const double pct = total ? 100.0 * (double)done / (double)total : 100.0;
  int len = snprintf(buf, n, "%llu/%llu points (%.1f%%)", (unsigned long long)done,
                     (unsigned long long)total, pct);
  if (rate > 0 && len > 0 && (size_t)len < n) {
    const double eta = done < total ? (double)(total - done) / rate : 0.0;
    if (eta < ETA_MAX_SECONDS) {
      const long s = (long)(eta + 0.5);
      len += snprintf(buf + len, n - (size_t)len, ", %.3g points/s, ETA %ld:%02ld:%02ld", rate,
                      s / 3600, (s / 60) % 60, s % 60);
    } else {
      /* Also keeps the conversion to long defined (a rate near 0, inf). */
      len += snprintf(buf + len, n - (size_t)len, ", %.3g points/s, ETA over %.0f years", rate,
                      ETA_MAX_SECONDS / (365.25 * 86400.0));
    }
  }
  if (len > 0 && (size_t)len < n)
    snprintf(buf + len, n - (size_t)len, ", failed %llu", (unsigned long long)failed);
}

void kps_progress_update(kps_progress *p, uint64_t done, uint64_t failed, int force) {
  if (p->quiet) return;
  const double t = kps_now();
  if (!force && t - p->t_last < p->every) return;
  p->t_last = t;
  const double el = t - p->t_start;
  const double rate = el > 0 ? (double)(done - p->at_start) / el : 0.0;
  char line[256];
  kps_progress_format(line, sizeof line, done, p->total, rate, failed);
  if (p->tty) {
    fprintf(stderr, "\r[kpsweep] %s\033[K", line);
    if (force) fputc('\n', stderr);
  } else {
    fprintf(stderr, "[kpsweep] %s\n", line);
  }
  fflush(stderr);
  p->printed = 1;
}
