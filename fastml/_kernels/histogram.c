/* Packed fixed-point gradient histograms.
 *
 * A histogram bin needs a gradient sum, a hessian sum and a row count.
 * Packing the count into the low bits of one of the sums (value << bits
 * + 1) halves the read-modify-write traffic that bounds the kernel, and
 * stays exact: the sums are integers (fixed point), so the count and the
 * value separate again without loss.  Codes are read row by row (C
 * order), so a node's scattered rows cost one cache line each for all
 * features, and consecutive updates go to different features' histograms
 * (no dependency chains).  Rows are taken in blocks whose packed values are
 * gathered first into a small buffer. */
#include "histogram.h"

#define BLOCK 2048
#define AHEAD 24  /* rows a prefetch runs ahead of use in scattered nodes */

#if defined(__GNUC__)
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)0)
#endif

/* rows[0 .. len-1] = the row indices of block start .. start + len - 1 of
 * the node (samples, or consecutive rows when samples is NULL); for
 * scattered rows, prefetch the gradients (and hessians) AHEAD rows on. */
static inline void block_rows(const uint32_t *samples, ptrdiff_t start, ptrdiff_t len,
                              ptrdiff_t m, const int64_t *gradients, const int64_t *hessians,
                              uint32_t *rows)
{
    if (!samples) {
        for (ptrdiff_t k = 0; k < len; k++)
            rows[k] = (uint32_t)(start + k);
        return;
    }
    for (ptrdiff_t k = 0; k < len; k++) {
        rows[k] = samples[start + k];
        if (start + k + AHEAD < m) {
            uint32_t ahead = samples[start + k + AHEAD];
            PREFETCH(gradients + ahead);
            if (hessians)
                PREFETCH(hessians + ahead);
        }
    }
}

static inline uint64_t magnitude(int64_t v) { return v < 0 ? -(uint64_t)v : (uint64_t)v; }

double fastml_packed_histograms(const uint8_t *codes, ptrdiff_t d, const uint32_t *samples,
                                  ptrdiff_t m, const int64_t *gradients,
                                  const int64_t *hessians, int count_bits, ptrdiff_t f0,
                                  ptrdiff_t f1, uint64_t *packed)
{
    uint32_t rows[BLOCK];
    uint64_t value[BLOCK], extra[BLOCK];
    double total = 0;  /* sum of |packed quantity| over the rows: bounds every bin's sum */
    const uint64_t one = 1;
    for (ptrdiff_t start = 0; start < m; start += BLOCK) {
        ptrdiff_t len = m - start < BLOCK ? m - start : BLOCK;
        block_rows(samples, start, len, m, gradients, hessians, rows);
        if (hessians) {
            for (ptrdiff_t k = 0; k < len; k++) {
                int64_t h = hessians[rows[k]];
                total += (double)magnitude(h);
                value[k] = (uint64_t)gradients[rows[k]];
                extra[k] = ((uint64_t)h << count_bits) + one;
            }
        } else {
            for (ptrdiff_t k = 0; k < len; k++) {
                int64_t g = gradients[rows[k]];
                total += (double)magnitude(g);
                value[k] = ((uint64_t)g << count_bits) + one;
            }
        }
        if (hessians) {
            for (ptrdiff_t k = 0; k < len; k++) {
                const uint8_t *row = codes + (ptrdiff_t)rows[k] * d;
                uint64_t v = value[k], e = extra[k];
                if (samples && k + AHEAD < len)
                    PREFETCH(codes + (ptrdiff_t)rows[k + AHEAD] * d + f0);
                for (ptrdiff_t f = f0; f < f1; f++) {
                    uint64_t *bin = packed + (f * FASTML_HIST_BINS + row[f]) * 2;
                    bin[0] += v;
                    bin[1] += e;
                }
            }
        } else {
            for (ptrdiff_t k = 0; k < len; k++) {
                const uint8_t *row = codes + (ptrdiff_t)rows[k] * d;
                uint64_t v = value[k];
                if (samples && k + AHEAD < len)
                    PREFETCH(codes + (ptrdiff_t)rows[k + AHEAD] * d + f0);
                for (ptrdiff_t f = f0; f < f1; f++)
                    packed[f * FASTML_HIST_BINS + row[f]] += v;
            }
        }
    }
    return total;
}

void fastml_wide_histograms(const uint8_t *codes, ptrdiff_t d, const uint32_t *samples,
                            ptrdiff_t m, const int64_t *gradients, const int64_t *hessians,
                            ptrdiff_t f0, ptrdiff_t f1, int64_t *hist)
{
    uint32_t rows[BLOCK];
    for (ptrdiff_t start = 0; start < m; start += BLOCK) {
        ptrdiff_t len = m - start < BLOCK ? m - start : BLOCK;
        block_rows(samples, start, len, m, gradients, hessians, rows);
        for (ptrdiff_t k = 0; k < len; k++) {
            const uint8_t *row = codes + (ptrdiff_t)rows[k] * d;
            int64_t g = gradients[rows[k]], h = hessians ? hessians[rows[k]] : 0;
            if (samples && k + AHEAD < len)
                PREFETCH(codes + (ptrdiff_t)rows[k + AHEAD] * d + f0);
            for (ptrdiff_t f = f0; f < f1; f++) {
                int64_t *bin = hist + (f * FASTML_HIST_BINS + row[f]) * 3;
                bin[0] += g;
                bin[1] += h;
                bin[2] += 1;
            }
        }
    }
}
