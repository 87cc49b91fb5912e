/* Packed fixed-point gradient histograms.
 *
 * A histogram bin needs a gradient sum, a hessian sum and a row count.
 * Packing the count into the low bits of one of the sums (value << bits
 * + 1) halves the read-modify-write traffic that bounds the kernel, and
 * stays exact: the sums are integers (fixed point), so the count and the
 * value separate again without loss.  Each row's packed values are made
 * once per set of gradients (fastml_pack_rows), side by side, so a row of
 * a scattered node costs one read of them.  Codes are read row by row (C
 * order): a node's scattered rows cost one cache line each for all
 * features, and consecutive updates go to different features' histograms
 * (no dependency chains).  Threads take ranges of the node's rows, each
 * into its own histograms, which the caller adds up: that beats ranges of
 * features, where every thread would fetch every row. */
#include "histogram.h"

#define AHEAD 24  /* rows a prefetch runs ahead of use in scattered nodes */

#if defined(__GNUC__)
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)0)
#endif

static inline uint64_t magnitude(int64_t v) { return v < 0 ? -(uint64_t)v : (uint64_t)v; }

double fastml_pack_rows(const int64_t *gradients, const int64_t *hessians, ptrdiff_t r0,
                        ptrdiff_t r1, int count_bits, uint64_t *values)
{
    double total = 0;  /* sum of |packed quantity|: bounds every bin's sum */
    const uint64_t one = 1;
    if (hessians) {
        for (ptrdiff_t r = r0; r < r1; r++) {
            total += (double)magnitude(hessians[r]);
            values[2 * r] = (uint64_t)gradients[r];
            values[2 * r + 1] = ((uint64_t)hessians[r] << count_bits) + one;
        }
    } else {
        for (ptrdiff_t r = r0; r < r1; r++) {
            total += (double)magnitude(gradients[r]);
            values[r] = ((uint64_t)gradients[r] << count_bits) + one;
        }
    }
    return total;
}

void fastml_packed_histograms(const uint8_t *codes, ptrdiff_t d, const uint32_t *samples,
                              ptrdiff_t k0, ptrdiff_t k1, const uint64_t *values, int width,
                              uint64_t *packed)
{
    for (ptrdiff_t k = k0; k < k1; k++) {
        ptrdiff_t r = samples ? (ptrdiff_t)samples[k] : k;
        if (samples && k + AHEAD < k1) {
            ptrdiff_t ahead = (ptrdiff_t)samples[k + AHEAD];
            PREFETCH(codes + ahead * d);
            PREFETCH(values + ahead * width);
        }
        const uint8_t *row = codes + r * d;
        ptrdiff_t f = 0;
        if (width == 2) {
            uint64_t v = values[2 * r], e = values[2 * r + 1];
            /* four features at a time, loads before stores: their bins are
             * distinct (one per feature), which the compiler cannot know */
            for (; f + 4 <= d; f += 4) {
                uint64_t *b0 = packed + (f * FASTML_HIST_BINS + row[f]) * 2;
                uint64_t *b1 = packed + ((f + 1) * FASTML_HIST_BINS + row[f + 1]) * 2;
                uint64_t *b2 = packed + ((f + 2) * FASTML_HIST_BINS + row[f + 2]) * 2;
                uint64_t *b3 = packed + ((f + 3) * FASTML_HIST_BINS + row[f + 3]) * 2;
                uint64_t v0 = b0[0], e0 = b0[1], v1 = b1[0], e1 = b1[1];
                uint64_t v2 = b2[0], e2 = b2[1], v3 = b3[0], e3 = b3[1];
                b0[0] = v0 + v; b0[1] = e0 + e; b1[0] = v1 + v; b1[1] = e1 + e;
                b2[0] = v2 + v; b2[1] = e2 + e; b3[0] = v3 + v; b3[1] = e3 + e;
            }
            for (; f < d; f++) {
                uint64_t *bin = packed + (f * FASTML_HIST_BINS + row[f]) * 2;
                bin[0] += v;
                bin[1] += e;
            }
        } else {
            uint64_t v = values[r];
            for (; f + 4 <= d; f += 4) {
                uint64_t *b0 = packed + f * FASTML_HIST_BINS + row[f];
                uint64_t *b1 = packed + (f + 1) * FASTML_HIST_BINS + row[f + 1];
                uint64_t *b2 = packed + (f + 2) * FASTML_HIST_BINS + row[f + 2];
                uint64_t *b3 = packed + (f + 3) * FASTML_HIST_BINS + row[f + 3];
                uint64_t v0 = *b0, v1 = *b1, v2 = *b2, v3 = *b3;
                *b0 = v0 + v; *b1 = v1 + v; *b2 = v2 + v; *b3 = v3 + v;
            }
            for (; f < d; f++)
                packed[f * FASTML_HIST_BINS + row[f]] += v;
        }
    }
}

void fastml_wide_histograms(const uint8_t *codes, ptrdiff_t d, const uint32_t *samples,
                            ptrdiff_t k0, ptrdiff_t k1, const int64_t *gradients,
                            const int64_t *hessians, int64_t *hist)
{
    for (ptrdiff_t k = k0; k < k1; k++) {
        ptrdiff_t r = samples ? (ptrdiff_t)samples[k] : k;
        if (samples && k + AHEAD < k1) {
            ptrdiff_t ahead = (ptrdiff_t)samples[k + AHEAD];
            PREFETCH(codes + ahead * d);
            PREFETCH(gradients + ahead);
            if (hessians)
                PREFETCH(hessians + ahead);
        }
        const uint8_t *row = codes + r * d;
        int64_t g = gradients[r], h = hessians ? hessians[r] : 0;
        for (ptrdiff_t f = 0; f < d; f++) {
            int64_t *bin = hist + (f * FASTML_HIST_BINS + row[f]) * 3;
            bin[0] += g;
            bin[1] += h;
            bin[2] += 1;
        }
    }
}
