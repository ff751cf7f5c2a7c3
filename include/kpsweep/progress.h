/*
 * Progress lines on stderr: points done, total, rate, ETA, failed points.
 * Rate-limited; on a terminal one line is rewritten in place, otherwise each
 * update is its own line (for SLURM output files). Not collective: only the
 * master reports.
 */
#ifndef KPSWEEP_PROGRESS_H
#define KPSWEEP_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

typedef struct kps_progress {
  uint64_t total;       /* points in the plan */
  uint64_t at_start;    /* points already done when this run started (resume) */
  double t_start, t_last, every;
  int tty, quiet, printed;
} kps_progress;

/* Monotonic seconds (for durations). */
double kps_now(void);

/* Wall-clock seconds since the epoch (for timestamps). */
double kps_epoch_now(void);

/* "YYYY-MM-DDTHH:MM:SSZ" (UTC) of epoch seconds t into buf[0..n);
 * "unknown" when t is out of the calendar's range. */
void kps_iso_time(double t, char *buf, size_t n);

void kps_progress_init(kps_progress *p, uint64_t total, uint64_t at_start, double every,
                       int quiet);

/* Prints a line when `every` seconds passed since the last one, or when force. */
void kps_progress_update(kps_progress *p, uint64_t done, uint64_t failed, int force);

/*
 * Formats "done/total points (pct%), rate pts/s, ETA h:mm:ss, failed n" into
 * buf; rate <= 0 prints no rate or ETA.
 */
void kps_progress_format(char *buf, size_t n, uint64_t done, uint64_t total, double rate,
                         uint64_t failed);

#endif
