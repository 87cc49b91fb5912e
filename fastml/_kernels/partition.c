/* Stable partition of a tree node's rows.
 *
 * The split feature's codes are read once, by row index, with a software
 * prefetch running ahead (a deep node's rows are scattered, so each read
 * is a cache miss the hardware prefetcher cannot predict); the side of
 * every row goes to a byte array, which the write pass then reads in
 * order. */
#include "partition.h"
#include "split_rules.h"

#define AHEAD 24

#if defined(__GNUC__)
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)0)
#endif

ptrdiff_t fastml_split_sides(const uint32_t *samples, ptrdiff_t k0, ptrdiff_t k1,
                             const uint8_t *codes, ptrdiff_t stride, ptrdiff_t threshold,
                             int missing_left, ptrdiff_t missing_bin, int categorical,
                             const uint64_t *left_set, uint8_t *side)
{
    ptrdiff_t n_left = 0;
    for (ptrdiff_t k = k0; k < k1; k++) {
        if (k + AHEAD < k1)
            PREFETCH(codes + (ptrdiff_t)samples[k + AHEAD] * stride);
        uint8_t left = (uint8_t)fastml_bin_goes_left(codes[(ptrdiff_t)samples[k] * stride],
                                                     threshold, missing_left, missing_bin,
                                                     categorical, left_set);
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
        if (side[k])
            out[at_left++] = samples[k];
        else
            out[at_right++] = samples[k];
    }
}
