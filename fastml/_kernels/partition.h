/* Stable partition of a tree node's rows (see partition.c). */
#ifndef FASTML_PARTITION_H
#define FASTML_PARTITION_H

#include <stddef.h>
#include <stdint.h>

/* goes_left[b] = 1 if a row in bin b goes left, for b in 0 .. 255: the
 * rule of fastml_bin_goes_left (split_rules.h). */
void fastml_bin_sides(int64_t threshold, int missing_left, int64_t missing_bin,
                      int categorical, const uint64_t *left_set, uint8_t *goes_left);

/* For samples[k0 .. k1-1]: side[k] = goes_left[bin of the row]; returns
 * how many go left.  codes[row * stride] is the split feature's bin of a
 * row. */
ptrdiff_t fastml_split_sides(const uint32_t *samples, ptrdiff_t k0, ptrdiff_t k1,
                             const uint8_t *codes, ptrdiff_t stride, const uint8_t *goes_left,
                             uint8_t *side);

/* Write samples[k0 .. k1-1] to out: left rows from at_left on, right rows
 * from at_right on, each in input order. */
void fastml_write_sides(const uint32_t *samples, ptrdiff_t k0, ptrdiff_t k1,
                        const uint8_t *side, ptrdiff_t at_left, ptrdiff_t at_right,
                        uint32_t *out);

#endif
