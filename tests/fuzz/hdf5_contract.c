/*
 * HDF5 API contract checks for the results-file fuzzer (linked with
 * -Wl,--wrap=NAME for each function here, so only calls from kpsweep's code
 * and the harness go through them; libhdf5's own calls do not).
 *
 * libhdf5 is not instrumented: when kpsweep passes it an array too short for
 * a dataspace's rank, or a buffer too small for what a read writes, libhdf5
 * reads or writes past the object without AddressSanitizer noticing (it
 * notices only copies that go through an intercepted memcpy). Each wrapper
 * checks, before the real call, that every array and buffer argument is
 * addressable for as many bytes as HDF5 will touch, and reports like
 * AddressSanitizer (the object, the caller's stack) and aborts otherwise.
 */
#include <hdf5.h>
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

herr_t __real_H5Sselect_hyperslab(hid_t space, H5S_seloper_t op, const hsize_t start[],
                                  const hsize_t stride[], const hsize_t count[],
                                  const hsize_t block[]);
int __real_H5Sget_simple_extent_dims(hid_t space, hsize_t dims[], hsize_t maxdims[]);
herr_t __real_H5Aread(hid_t attr, hid_t mem_type, void *buf);
herr_t __real_H5Dread(hid_t dset, hid_t mem_type, hid_t mem_space, hid_t file_space,
                      hid_t dxpl, void *buf);

herr_t __wrap_H5Sselect_hyperslab(hid_t space, H5S_seloper_t op, const hsize_t start[],
                                  const hsize_t stride[], const hsize_t count[],
                                  const hsize_t block[]);
int __wrap_H5Sget_simple_extent_dims(hid_t space, hsize_t dims[], hsize_t maxdims[]);
herr_t __wrap_H5Aread(hid_t attr, hid_t mem_type, void *buf);
herr_t __wrap_H5Dread(hid_t dset, hid_t mem_type, hid_t mem_space, hid_t file_space,
                      hid_t dxpl, void *buf);

/* Aborts with a report unless [p, p + bytes) is addressable. */
static void need(const char *fn, const char *arg, const void *p, size_t bytes) {
  if (!p || !bytes) return;
  void *bad = __asan_region_is_poisoned((void *)p, bytes);
  if (!bad) return;
  /* Through the sanitizers' report stream: libFuzzer's -close_fd_mask
   * closes stderr. */
  char msg[512];
  snprintf(msg, sizeof msg,
           "==%d==ERROR: HDF5 API contract: %s(): argument '%s' at %p must hold %zu bytes, "
           "but %p (byte %zu) is outside its object",
           (int)getpid(), fn, arg, p, bytes, bad, (size_t)((char *)bad - (char *)p));
  __sanitizer_report_error_summary(msg);
  __sanitizer_print_stack_trace();
  __asan_describe_address(bad);
  snprintf(msg, sizeof msg, "SUMMARY: HDF5 API contract violated in %s()", fn);
  __sanitizer_report_error_summary(msg);
  abort();
}

static size_t rank_bytes(hid_t space) {
  const int rank = H5Sget_simple_extent_ndims(space);
  return rank > 0 ? (size_t)rank * sizeof(hsize_t) : 0;
}

herr_t __wrap_H5Sselect_hyperslab(hid_t space, H5S_seloper_t op, const hsize_t start[],
                                  const hsize_t stride[], const hsize_t count[],
                                  const hsize_t block[]) {
  const size_t n = rank_bytes(space);
  need("H5Sselect_hyperslab", "start", start, n);
  need("H5Sselect_hyperslab", "stride", stride, n);
  need("H5Sselect_hyperslab", "count", count, n);
  need("H5Sselect_hyperslab", "block", block, n);
  return __real_H5Sselect_hyperslab(space, op, start, stride, count, block);
}

int __wrap_H5Sget_simple_extent_dims(hid_t space, hsize_t dims[], hsize_t maxdims[]) {
  const size_t n = rank_bytes(space);
  need("H5Sget_simple_extent_dims", "dims", dims, n);
  need("H5Sget_simple_extent_dims", "maxdims", maxdims, n);
  return __real_H5Sget_simple_extent_dims(space, dims, maxdims);
}

herr_t __wrap_H5Aread(hid_t attr, hid_t mem_type, void *buf) {
  hid_t sp = H5Aget_space(attr);
  const hssize_t n = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
  if (sp >= 0) H5Sclose(sp);
  const size_t size = H5Tget_size(mem_type);
  if (n > 0 && size > 0) need("H5Aread", "buf", buf, (size_t)n * size);
  return __real_H5Aread(attr, mem_type, buf);
}

/* The elements a read stores: the memory space's extent (its layout), or
 * with H5S_ALL the file selection (or the whole dataset). */
herr_t __wrap_H5Dread(hid_t dset, hid_t mem_type, hid_t mem_space, hid_t file_space,
                      hid_t dxpl, void *buf) {
  hssize_t n = -1;
  if (mem_space != H5S_ALL) {
    n = H5Sget_simple_extent_npoints(mem_space);
  } else if (file_space != H5S_ALL) {
    n = H5Sget_select_npoints(file_space);
  } else {
    hid_t sp = H5Dget_space(dset);
    if (sp >= 0) {
      n = H5Sget_simple_extent_npoints(sp);
      H5Sclose(sp);
    }
  }
  const size_t size = H5Tget_size(mem_type);
  if (n > 0 && size > 0) need("H5Dread", "buf", buf, (size_t)n * size);
  return __real_H5Dread(dset, mem_type, mem_space, file_space, dxpl, buf);
}
