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
 * (no dependency chains).  Features whose codes repeat from row to row
 * (few distinct values, or one dominant bin) are the exception: row after
 * row they update the same bin, and each update then waits for the store
 * of the one before, so they are summed feature by feature over blocks of
 * rows instead.  Threads take ranges of the node's rows, each into its own
 * histograms, which the caller adds up: that beats ranges of features,
 * where every thread would fetch every row. */
#include "histogram.h"

#define AHEAD 24  /* rows a prefetch runs ahead of use in scattered nodes */
#define BLOCK_ROWS 32  /* rows per block when some features are summed by columns */

#if defined(__GNUC__)
#define PREFETCH(p) __builtin_prefetch(p)
#define ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define PREFETCH(p) ((void)0)
#define ALWAYS_INLINE inline
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

/* Rows samples[k0 .. k1 - 1] (k0 .. k1 - 1 without samples) into the
 * packed histograms of features features[0 .. n_features - 1] (features
 * 0 .. n_features - 1 when features is NULL), row by row, four features
 * per step with loads before stores (their bins are distinct, which the
 * compiler cannot know).  Prefetches run up to row k_end.  Always inlined,
 * so that a NULL features drops the index load (5-25% of the time). */
#define FEATURE(i) (features ? (ptrdiff_t)features[i] : (ptrdiff_t)(i))
static ALWAYS_INLINE void add_by_rows(const uint8_t *codes, ptrdiff_t d,
                                      const uint32_t *samples, ptrdiff_t k0, ptrdiff_t k1,
                                      ptrdiff_t k_end, const uint64_t *values, int width,
                                      const int32_t *features, ptrdiff_t n_features,
                                      uint64_t *packed)
{
    for (ptrdiff_t k = k0; k < k1; k++) {
        ptrdiff_t r = samples ? (ptrdiff_t)samples[k] : k;
        if (samples && k + AHEAD < k_end) {
            ptrdiff_t ahead = (ptrdiff_t)samples[k + AHEAD];
            PREFETCH(codes + ahead * d);
            PREFETCH(values + ahead * width);
        }
        const uint8_t *row = codes + r * d;
        ptrdiff_t i = 0;
        if (width == 2) {
            uint64_t v = values[2 * r], e = values[2 * r + 1];
            for (; i + 4 <= n_features; i += 4) {
                ptrdiff_t f0 = FEATURE(i), f1 = FEATURE(i + 1);
                ptrdiff_t f2 = FEATURE(i + 2), f3 = FEATURE(i + 3);
                uint64_t *b0 = packed + (f0 * FASTML_HIST_BINS + row[f0]) * 2;
                uint64_t *b1 = packed + (f1 * FASTML_HIST_BINS + row[f1]) * 2;
                uint64_t *b2 = packed + (f2 * FASTML_HIST_BINS + row[f2]) * 2;
                uint64_t *b3 = packed + (f3 * FASTML_HIST_BINS + row[f3]) * 2;
                uint64_t v0 = b0[0], e0 = b0[1], v1 = b1[0], e1 = b1[1];
                uint64_t v2 = b2[0], e2 = b2[1], v3 = b3[0], e3 = b3[1];
                b0[0] = v0 + v; b0[1] = e0 + e; b1[0] = v1 + v; b1[1] = e1 + e;
                b2[0] = v2 + v; b2[1] = e2 + e; b3[0] = v3 + v; b3[1] = e3 + e;
            }
            for (; i < n_features; i++) {
                ptrdiff_t f = FEATURE(i);
                uint64_t *bin = packed + (f * FASTML_HIST_BINS + row[f]) * 2;
                bin[0] += v;
                bin[1] += e;
            }
        } else {
            uint64_t v = values[r];
            for (; i + 4 <= n_features; i += 4) {
                ptrdiff_t f0 = FEATURE(i), f1 = FEATURE(i + 1);
                ptrdiff_t f2 = FEATURE(i + 2), f3 = FEATURE(i + 3);
                uint64_t *b0 = packed + f0 * FASTML_HIST_BINS + row[f0];
                uint64_t *b1 = packed + f1 * FASTML_HIST_BINS + row[f1];
                uint64_t *b2 = packed + f2 * FASTML_HIST_BINS + row[f2];
                uint64_t *b3 = packed + f3 * FASTML_HIST_BINS + row[f3];
                uint64_t v0 = *b0, v1 = *b1, v2 = *b2, v3 = *b3;
                *b0 = v0 + v; *b1 = v1 + v; *b2 = v2 + v; *b3 = v3 + v;
            }
            for (; i < n_features; i++) {
                ptrdiff_t f = FEATURE(i);
                packed[f * FASTML_HIST_BINS + row[f]] += v;
            }
        }
    }
}
#undef FEATURE

/* The same rows into the histograms of features[0 .. n_features - 1],
 * feature by feature: for codes that repeat from row to row, where
 * add_by_rows would stall on each update's store to the bin the row before
 * updated (measured 10x slower on two-valued features). */
static inline void add_by_columns(const uint8_t *codes, ptrdiff_t d, const uint32_t *samples,
                                  ptrdiff_t k0, ptrdiff_t k1, const uint64_t *values,
                                  int width, const int32_t *features, ptrdiff_t n_features,
                                  uint64_t *packed)
{
    for (ptrdiff_t i = 0; i < n_features; i++) {
        ptrdiff_t f = features[i];
        uint64_t *hist = packed + f * FASTML_HIST_BINS * width;
        for (ptrdiff_t k = k0; k < k1; k++) {
            ptrdiff_t r = samples ? (ptrdiff_t)samples[k] : k;
            uint64_t *bin = hist + (ptrdiff_t)codes[r * d + f] * width;
            bin[0] += values[r * width];
            if (width == 2)
                bin[1] += values[2 * r + 1];
        }
    }
}

void fastml_packed_histograms(const uint8_t *codes, ptrdiff_t d, const uint32_t *samples,
                              ptrdiff_t k0, ptrdiff_t k1, const uint64_t *values, int width,
                              const int32_t *row_features, ptrdiff_t n_row_features,
                              const int32_t *column_features, ptrdiff_t n_column_features,
                              uint64_t *packed)
{
    if (n_column_features == 0) {
        add_by_rows(codes, d, samples, k0, k1, k1, values, width, NULL, d, packed);
        return;
    }
    /* blocks of rows, so the column pass finds them in cache */
    for (ptrdiff_t b0 = k0; b0 < k1; b0 += BLOCK_ROWS) {
        ptrdiff_t b1 = b0 + BLOCK_ROWS < k1 ? b0 + BLOCK_ROWS : k1;
        add_by_rows(codes, d, samples, b0, b1, k1, values, width, row_features,
                    n_row_features, packed);
        add_by_columns(codes, d, samples, b0, b1, values, width, column_features,
                       n_column_features, packed);
    }
}

/* Entry j of the parts, summed, separated and cleared, into hist. */
static inline void unpack_entry(uint64_t *packed, ptrdiff_t parts, ptrdiff_t stride,
                                ptrdiff_t j, int width, int count_bits, int64_t *hist)
{
    const uint64_t mask = ((uint64_t)1 << count_bits) - 1;
    uint64_t value = 0, extra = 0;
    for (ptrdiff_t t = 0; t < parts; t++) {
        uint64_t *part = packed + t * stride + j * width;
        value += part[0];
        part[0] = 0;
        if (width == 2) {
            extra += part[1];
            part[1] = 0;
        }
    }
    uint64_t counted = width == 2 ? extra : value;
    uint64_t count = counted & mask;
    int64_t sum = (int64_t)(counted - count) >> count_bits;
    hist[3 * j] = width == 2 ? (int64_t)value : sum;
    hist[3 * j + 1] = width == 2 ? sum : 0;
    hist[3 * j + 2] = (int64_t)count;
}

void fastml_unpack_histograms(uint64_t *packed, ptrdiff_t parts, ptrdiff_t stride,
                              ptrdiff_t f0, ptrdiff_t f1, int width, int count_bits,
                              const uint16_t *n_values, ptrdiff_t missing_bin,
                              int64_t *hist)
{
    for (ptrdiff_t f = f0; f < f1; f++) {
        /* With n_values, the bins that hold no code are empty in the
         * scratch and zero in hist already: a feature of 17 values touches
         * 18 bins of 256, which is most of what a small node costs. */
        ptrdiff_t used = n_values ? n_values[f] : FASTML_HIST_BINS;
        for (ptrdiff_t b = 0; b < used; b++)
            unpack_entry(packed, parts, stride, f * FASTML_HIST_BINS + b, width, count_bits,
                         hist);
        if (n_values && missing_bin >= used)
            unpack_entry(packed, parts, stride, f * FASTML_HIST_BINS + missing_bin, width,
                         count_bits, hist);
    }
}

void fastml_wide_histograms(const uint8_t *codes, ptrdiff_t d, const uint32_t *samples,
                            ptrdiff_t k0, ptrdiff_t k1, const int64_t *gradients,
                            const int64_t *hessians, const int32_t *row_features,
                            ptrdiff_t n_row_features, const int32_t *column_features,
                            ptrdiff_t n_column_features, int64_t *hist)
{
    for (ptrdiff_t b0 = k0; b0 < k1; b0 += BLOCK_ROWS) {
        ptrdiff_t b1 = b0 + BLOCK_ROWS < k1 ? b0 + BLOCK_ROWS : k1;
        for (ptrdiff_t k = b0; k < b1; k++) {
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
            for (ptrdiff_t i = 0; i < n_row_features; i++) {
                ptrdiff_t f = row_features[i];
                int64_t *bin = hist + (f * FASTML_HIST_BINS + row[f]) * 3;
                bin[0] += g;
                bin[1] += h;
                bin[2] += 1;
            }
        }
        for (ptrdiff_t i = 0; i < n_column_features; i++) {
            ptrdiff_t f = column_features[i];
            for (ptrdiff_t k = b0; k < b1; k++) {
                ptrdiff_t r = samples ? (ptrdiff_t)samples[k] : k;
                int64_t *bin = hist + (f * FASTML_HIST_BINS + codes[r * d + f]) * 3;
                bin[0] += gradients[r];
                bin[1] += hessians ? hessians[r] : 0;
                bin[2] += 1;
            }
        }
    }
}
