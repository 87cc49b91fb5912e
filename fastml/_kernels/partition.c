/* Stable partition of a tree node's rows.
 *
 * The side of each of the 256 bins is worked out once (fastml_bin_sides),
 * so a row's side is one table lookup.  The split feature's codes are read
 * by row index from one contiguous column (small enough to stay in cache);
 * the side of every row goes to a byte array, which the write pass then
 * reads in order.  Sides of real splits are close to random, so the write
 * pass picks its destination without a branch (a mispredicted branch per
 * row would cost more than the rest of the pass). */
#include "partition.h"
#include "split_rules.h"

void fastml_bin_sides(int64_t threshold, int missing_left, int64_t missing_bin,
                      int categorical, const uint64_t *left_set, uint8_t *goes_left)
{
    for (int64_t b = 0; b < FASTML_N_BINS; b++)
        goes_left[b] = (uint8_t)fastml_bin_goes_left(b, threshold, missing_left, missing_bin,
                                                     categorical, left_set);
}

ptrdiff_t fastml_split_sides(const uint32_t *samples, ptrdiff_t k0, ptrdiff_t k1,
                             const uint8_t *codes, ptrdiff_t stride, const uint8_t *goes_left,
                             uint8_t *side)
{
    ptrdiff_t n_left = 0;
    for (ptrdiff_t k = k0; k < k1; k++) {
        uint8_t left = goes_left[codes[(ptrdiff_t)samples[k] * stride]];
        side[k] = left;
        n_left += left;
    }
    return n_left;
}

void fastml_write_sides(const uint32_t *samples, ptrdiff_t k0, ptrdiff_t k1,
                        const uint8_t *side, ptrdiff_t at_left, ptrdiff_t at_right,
                        uint32_t *out)
{
    for (ptrdiff_t k = k0; k < k1; k++) {
        ptrdiff_t left = side[k], mask = -left;  /* all ones when left */
        out[(at_left & mask) | (at_right & ~mask)] = samples[k];
        at_left += left;
        at_right += 1 - left;
    }
}
