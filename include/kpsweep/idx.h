/*
 * IDX image/label files (the MNIST format), gzipped, as Debian's
 * dataset-fashion-mnist ships them under /usr/share/datasets/fashion-mnist:
 * {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz. Pixels stay bytes
 * (60,000 images of 784 doubles would take 376 MB); kps_idx_pixels turns
 * one image into intensities in [0, 1].
 */
#ifndef KPSWEEP_IDX_H
#define KPSWEEP_IDX_H

#include <stddef.h>
#include <stdint.h>

#include "kpsweep/error.h"

/* Where Debian's dataset-fashion-mnist installs the files. */
#define KPS_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"
#define KPS_FASHION_CLASSES 10

typedef struct kps_idx_set {
  size_t n;        /* images */
  int rows, cols;  /* 28 x 28 */
  uint8_t *pixels; /* n * rows * cols, row-major, 0..255 */
  uint8_t *labels; /* n, 0..9 */
} kps_idx_set;

/*
 * Reads "<dir>/<prefix>-images-idx3-ubyte.gz" and the matching labels
 * (prefix "train" or "t10k"), keeping the first `limit` images (0: all).
 * A missing or malformed file is KPS_ERR_CONFIG with a message naming it
 * (and the Debian package for a missing one). Not collective.
 */
kps_err kps_idx_load(const char *dir, const char *prefix, size_t limit, kps_idx_set *set);

/* Frees the arrays; safe on a zeroed or destroyed set. */
void kps_idx_destroy(kps_idx_set *set);

/* Image k as rows*cols intensities byte/255 in x. */
void kps_idx_pixels(const kps_idx_set *set, size_t k, double *x);

#endif
