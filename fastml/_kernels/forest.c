/* Forest prediction over blocks of rows.
 *
 * Nodes are packed 32-byte records (a split's two children are adjacent,
 * so one index reaches both; a leaf points to itself, so walking on from
 * it stays put).  Rows are taken in blocks of 64 that stay in L1, and a
 * block descends each tree one level at a time for all its rows, as many
 * levels as the tree is deep: the rows' walks are independent, so their
 * memory reads overlap instead of waiting on each other.  Each row still
 * adds its trees' values in tree order, so the sums do not depend on the
 * block size or the thread count. */
#include <math.h>

#include "forest.h"

static inline int goes_left(double x, const fastml_node *node, const uint64_t *left_set)
{
    if (isnan(x))
        return node->missing_left;
    if (node->categorical) {
        if (x < 0 || x > 255 || x != (double)(int64_t)x)
            return node->missing_left;
        int64_t code = (int64_t)x;
        return (int)((left_set[code >> 6] >> (code & 63)) & 1);
    }
    return x <= node->threshold;
}

#define BLOCK 64

#define PREDICT_BLOCK(NAME, TYPE)                                                          \
void NAME(const TYPE *X, ptrdiff_t d, ptrdiff_t row0, ptrdiff_t row1,                      \
          const fastml_node *nodes, const uint64_t *left_sets, const int64_t *roots,       \
          const int64_t *depths, ptrdiff_t n_trees, double *out)                           \
{                                                                                          \
    int64_t at[BLOCK];                                                                     \
    for (ptrdiff_t start = row0; start < row1; start += BLOCK) {                           \
        ptrdiff_t len = row1 - start < BLOCK ? row1 - start : BLOCK;                       \
        const TYPE *rows = X + start * d;                                                  \
        for (ptrdiff_t t = 0; t < n_trees; t++) {                                          \
            for (ptrdiff_t i = 0; i < len; i++)                                            \
                at[i] = roots[t];                                                          \
            for (int64_t level = 0; level < depths[t]; level++) {                          \
                for (ptrdiff_t i = 0; i < len; i++) {                                      \
                    const fastml_node *node = nodes + at[i];                               \
                    at[i] = node->left + !goes_left((double)rows[i * d + node->feature],   \
                                                    node, left_sets + 4 * at[i]);          \
                }                                                                          \
            }                                                                              \
            for (ptrdiff_t i = 0; i < len; i++)                                            \
                out[start + i] += nodes[at[i]].value;                                      \
        }                                                                                  \
    }                                                                                      \
}

PREDICT_BLOCK(fastml_predict_block_f64, double)
PREDICT_BLOCK(fastml_predict_block_f32, float)
