/*
 * Internal helpers of the results-file modules: attributes, HDF5 types of
 * the result fields, the expected shape of each dataset. Not collective
 * (used on files rank 0 opens alone) unless a caller's file is parallel.
 */
#ifndef KPSWEEP_H5UTIL_H
#define KPSWEEP_H5UTIL_H

#include <hdf5.h>
#include <stddef.h>

#include "kpsweep/config.h"
#include "kpsweep/results.h"

/* Values per HDF5 chunk aimed at (about 256 KiB of doubles). */
#define KPS_CHUNK_TARGET 32768
/* Lines of the progress map read or written per block. */
#define KPS_DONE_BLOCK ((hsize_t)1 << 20)
/* Room for the dims of a field: parameter axes, L2, up to two trailing
 * dimensions. */
#define KPS_FIELD_MAX_RANK (KPS_MAX_AXES + 3)

/* Memory and file types of a field type. */
hid_t kps_h5_mem_type(kps_dtype t);
hid_t kps_h5_file_type(kps_dtype t);

/*
 * Writes attribute `name` on obj: a scalar for n = 0, else n values. An
 * attribute of the same type and shape is overwritten in place (no change
 * to the file's structure, which is what makes the run record safe to
 * rewrite); otherwise it is replaced.
 */
kps_err kps_attr_put(hid_t obj, const char *name, hid_t type, int n, const void *data);
/* A string attribute, stored as variable-length UTF-8. */
kps_err kps_attr_str(hid_t obj, const char *name, const char *s);
kps_err kps_attr_f64(hid_t obj, const char *name, double v);

/* One member of a compound type: name, offset in the memory struct, type. */
typedef struct kps_h5_member {
  const char *name;
  size_t offset;
  hid_t type;
} kps_h5_member;

/* A compound type of `size` bytes holding the n members; H5I_INVALID_HID
 * on failure (nothing left open). Caller closes. */
hid_t kps_h5_compound(size_t size, const kps_h5_member *members, size_t n);

/* Shape of the dataset of field fi under cfg: rank into *nd, extents into dims. */
void kps_field_dims(const kps_config *cfg, const kps_field_info *fi, int *nd, hsize_t *dims);

/* Chunk shape of a dataset: filled from the innermost dimension outwards
 * up to KPS_CHUNK_TARGET values. */
void kps_chunk_shape(int nd, const hsize_t *dims, hsize_t *chunk);

/* File access properties of the serial (sec2) driver, with the library
 * versions the results file is written with. Caller closes. */
hid_t kps_serial_fapl(void);

/* *never = 1 when dset was created with fill time "never" (run.fill:
 * status: its unwritten values are undefined). Not collective. */
kps_err kps_h5_never_filled(hid_t dset, int *never);

/* File access properties of the MPI-IO driver on comm, with collective
 * metadata reads and writes (every rank of comm opens the file). Caller
 * closes. Not collective itself. */
hid_t kps_parallel_fapl(MPI_Comm comm);

#endif
