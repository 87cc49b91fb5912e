/* Packed fixed-point gradient histograms (see histogram.c). */
#ifndef FASTML_HISTOGRAM_H
#define FASTML_HISTOGRAM_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#define FASTML_HIST_BINS FASTML_N_BINS

/* The packed values of rows r0 .. r1 - 1, as the histogram kernel adds
 * them: with hessians, values[2 r] = gradient and values[2 r + 1] =
 * (hessian << count_bits) + 1; without, values[r] = (gradient <<
 * count_bits) + 1.  Returns the sum of the absolute values of the packed
 * quantity (hessians, or gradients without them) over these rows: the
 * packed sums of any subset of rows are exact when it stays below
 * 2**(62 - count_bits) and count_bits holds the subset's row count. */
double fastml_pack_rows(const int64_t *gradients, const int64_t *hessians, ptrdiff_t r0,
                        ptrdiff_t r1, int count_bits, uint64_t *values);

/* Add rows samples[k0 .. k1 - 1] (rows k0 .. k1 - 1 when samples is NULL)
 * to the packed histograms of the features listed in row_features (summed
 * row by row) and column_features (summed feature by feature over blocks
 * of rows: for codes that repeat from row to row): packed (d, 256, width)
 * += values of the row (width 2 with hessians, 1 without); with no
 * column_features, row_features must be 0 .. d - 1.  codes: (n, d) bin
 * codes, C order.  Sums wrap modulo 2**64: see fastml_pack_rows. */
void fastml_packed_histograms(const uint8_t *codes, ptrdiff_t d, const uint32_t *samples,
                              ptrdiff_t k0, ptrdiff_t k1, const uint64_t *values, int width,
                              const int32_t *row_features, ptrdiff_t n_row_features,
                              const int32_t *column_features, ptrdiff_t n_column_features,
                              uint64_t *packed);

/* The histograms of features f0 .. f1 - 1 from the packed ones of parts
 * threads (part t at packed + t * stride): summed over the parts, the row
 * count and the packed sum separated, into hist (d, 256, 3) as gradient,
 * hessian (0 with width 1), count; the packed entries read are set back
 * to zero, so a scratch buffer that starts zeroed stays zeroed. */
/* n_values (may be NULL: every bin): bins 0 .. n_values[f] - 1 and
 * missing_bin hold feature f's codes; the others are skipped, and must be
 * zero in hist already. */
void fastml_unpack_histograms(uint64_t *packed, ptrdiff_t parts, ptrdiff_t stride,
                              ptrdiff_t f0, ptrdiff_t f1, int width, int count_bits,
                              const uint16_t *n_values, ptrdiff_t missing_bin,
                              int64_t *hist);

/* The same sums unpacked, for values too large to share a word with the
 * row count: hist (d, 256, 3) += gradient, hessian (0 without: hessians
 * NULL), 1; features split as in fastml_packed_histograms. */
void fastml_wide_histograms(const uint8_t *codes, ptrdiff_t d, const uint32_t *samples,
                            ptrdiff_t k0, ptrdiff_t k1, const int64_t *gradients,
                            const int64_t *hessians, const int32_t *row_features,
                            ptrdiff_t n_row_features, const int32_t *column_features,
                            ptrdiff_t n_column_features, int64_t *hist);

#endif
