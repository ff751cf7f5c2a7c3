/*
 * Internal: the serial side of the results file, done by rank 0 alone with
 * the sec2 driver so that a failure (a full disk, a hostile file) can never
 * leave other ranks waiting in an HDF5 collective. The writer agrees on the
 * outcome with the other ranks afterwards.
 */
#ifndef KPSWEEP_RESULTS_FILE_H
#define KPSWEEP_RESULTS_FILE_H

#include <hdf5.h>
#include <stdint.h>

#include "kpsweep/config.h"
#include "kpsweep/writer.h"

/* Disk space claimed past the end of the file for the run record: at
 * creation, and again before each record is written. */
#define KPS_RECORD_RESERVE (1024.0 * 1024.0)
/* What a record asks to find claimed before it writes: less than the
 * reserve, so that the growth of one record (its history rows) fits in
 * what the previous record left claimed, even on a full disk. */
#define KPS_RECORD_NEED (KPS_RECORD_RESERVE / 2)

/*
 * A new results file at path in two steps. kps_file_create_empty creates
 * an empty HDF5 file (truncating any file there) and claims `bytes` (the
 * estimated size) of disk space for it, so a full disk fails before
 * anything is written. kps_file_create_layout then writes the complete
 * layout of cfg: axes, every field with early allocation, the progress
 * map, provenance. With `whole`, every field is written with its fill
 * value; without (run.fill: status), nothing of the fields is written: the
 * writers fill /points/status, the rest stays undefined until computed.
 * n_ranks goes into the provenance. On failure the caller removes the
 * file. Neither is collective; neither calls MPI.
 */
kps_err kps_file_create_empty(const char *path, double bytes);
kps_err kps_file_create_layout(const kps_config *cfg, const char *path, int n_ranks, int whole);

/* What an existing file at the output path is. */
typedef enum kps_file_kind {
  KPS_FILE_RESULTS = 0, /* a kpsweep results file of this configuration */
  KPS_FILE_STUB = 1     /* an HDF5 file left by an interrupted creation, holding no line */
} kps_file_kind;

/*
 * Checks that path holds a results file of cfg with every dataset of the
 * expected shape and type, and reads its progress map into bits (bit l % 8
 * of byte l / 8; (n_lines + 7) / 8 bytes, zeroed first). A stub of an
 * interrupted creation (no provenance and no completed line) gives
 * KPS_FILE_STUB. Anything else gives KPS_ERR_MISMATCH, with the reason on
 * stderr when `report`; the file is only read. Not collective.
 */
kps_err kps_file_check(const kps_config *cfg, const char *path, uint8_t *bits,
                       kps_file_kind *kind, int report);

/* Writes the run record as root attributes of the closed file at path,
 * after claiming KPS_RECORD_NEED bytes for it (without that room it
 * writes nothing) and waiting up to 10 s for another program to release
 * HDF5's file lock. Not collective. */
kps_err kps_file_write_record(const char *path, const kps_run_record *rec);

/* Creates /history with its tables of runs and ranks, empty: in a new
 * file, so that the run record only appends to them. Not collective. */
kps_err kps_file_history_create(hid_t file);

/* The same as kps_file_write_record for a lone writer's open POSIX
 * handle *file (its datasets closed; a handle without HDF5's file lock):
 * flushes the rows, writes the record through it under HDF5's lock, taken
 * on a descriptor of its own, and closes it; without space claimed by
 * fallocate() it closes the handle and calls kps_file_write_record. *file
 * is closed in every case; *data_ok says whether the rows reached the file
 * (the flush, or that close, succeeded). Not collective. */
kps_err kps_file_record_close(hid_t *file, const char *path, const kps_run_record *rec,
                              int *data_ok);

#endif
