/* Where a row goes at a tree split: the one definition the partition, the
 * binned predictor and the value predictor share. */
#ifndef FASTML_SPLIT_RULES_H
#define FASTML_SPLIT_RULES_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

/* Bit `code` of a set of FASTML_SET_WORDS 64-bit words (common.h). */
static inline int fastml_in_set(const uint64_t *set, int64_t code)
{
    return (int)((set[code >> 6] >> (code & 63)) & 1);
}

/* A row with bin `code`: numerical splits send bins <= threshold left and
 * the missing bin where missing_left says; categorical splits send the
 * bins of left_set left (the missing bin included when missing goes left). */
static inline int fastml_bin_goes_left(int64_t code, int64_t threshold, int missing_left,
                                       int64_t missing_bin, int categorical,
                                       const uint64_t *left_set)
{
    if (categorical)
        return fastml_in_set(left_set, code);
    if (code == missing_bin)
        return missing_left != 0;
    return code <= threshold;
}

/* A row with value x: NaN goes where missing_left says; at a categorical
 * split so does anything that is not a category code (negative,
 * fractional, above 255), and categories unseen in training carry the
 * missing side in left_set. */
static inline int fastml_value_goes_left(double x, double threshold, int missing_left,
                                         int categorical, const uint64_t *left_set)
{
    if (isnan(x))
        return missing_left != 0;
    if (categorical) {
        if (x < 0 || x > 255 || x != (double)(int64_t)x)
            return missing_left != 0;
        return fastml_in_set(left_set, (int64_t)x);
    }
    return x <= threshold;
}

#endif
