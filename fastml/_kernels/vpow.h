/*
 * Vectorised powers: out[i] = x[i] ** p, with the semantics of C's pow
 * (IEEE 754 special cases, NaN for a negative x and a non-integer p), for
 * one p and an array of x, in float64 or float32.
 *
 * The finite nonzero cases are computed as exp(p log |x|) in the vector
 * unit: log |x| in double-double from a 16-entry table and a degree-12
 * series, p log |x| as hi + lo (the error of exp's result is the absolute
 * error of its argument, which reaches 745 in magnitude), and exp of that
 * sum by a degree-13 series on [-ln2/2, ln2/2] and an exact power of two.
 * Results are within 1 ulp of the correctly rounded power for float64 (4
 * ulp is what the tests require of libm's pow); the float32 variant
 * computes in float64 and rounds once.  p = 0, 1, 2, NaN and infinite p
 * are handled exactly (the last two by libm).
 *
 * Both functions dispatch to the instruction set fastml_direct_select_isa
 * chose (AVX-512, AVX2+FMA or SSE2), as the distance kernels do.  n may be
 * 0; x and out may be the same array.
 */
#ifndef FASTML_VPOW_H
#define FASTML_VPOW_H

#include <stddef.h>

void fastml_pow_array(const double *x, double p, double *out, ptrdiff_t n);
void fastml_pow_array_f32(const float *x, double p, float *out, ptrdiff_t n);

#endif
