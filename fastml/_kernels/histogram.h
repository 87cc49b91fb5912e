/* Packed fixed-point gradient histograms (see histogram.c). */
#ifndef FASTML_HISTOGRAM_H
#define FASTML_HISTOGRAM_H

#include <stddef.h>
#include <stdint.h>

#define FASTML_HIST_BINS 256

/* Accumulate the rows of one node into packed histograms of features
 * f0 .. f1 - 1.
 *
 * codes: (n, d) bin codes, C order.  samples: the node's m
 * rows, or NULL for rows 0 .. m - 1.  gradients, hessians (NULL for none):
 * fixed-point values of every row.  Without hessians, packed[f, b] +=
 * (gradient << count_bits) + 1; with them, packed[f, b, 0] += gradient and
 * packed[f, b, 1] += (hessian << count_bits) + 1 (layout (d, 256, 2)).
 * Sums wrap modulo 2**64; they are exact when every partial sum of the
 * packed quantity fits in 63 - count_bits bits, which the caller checks
 * with the returned sum of its absolute values over the rows (a bound on
 * every bin's sum). */
double fastml_packed_histograms(const uint8_t *codes, ptrdiff_t d, const uint32_t *samples,
                                  ptrdiff_t m, const int64_t *gradients,
                                  const int64_t *hessians, int count_bits, ptrdiff_t f0,
                                  ptrdiff_t f1, uint64_t *packed);

/* The same sums unpacked, for values too large to share a word with the
 * row count: hist (d, 256, 3) += gradient, hessian (0 without), 1; it
 * must start zeroed. */
void fastml_wide_histograms(const uint8_t *codes, ptrdiff_t d, const uint32_t *samples,
                            ptrdiff_t m, const int64_t *gradients, const int64_t *hessians,
                            ptrdiff_t f0, ptrdiff_t f1, int64_t *hist);

#endif
