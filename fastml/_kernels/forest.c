/* Forest prediction over blocks of rows.
 *
 * Nodes are packed 32-byte records (a leaf points to itself on both
 * sides, so walking on from it stays put).  Rows are taken in blocks of 64 that stay in L1, and a
 * block descends each tree one level at a time for all its rows, as many
 * levels as the tree is deep: the rows' walks are independent, so their
 * memory reads overlap instead of waiting on each other.  Each row still
 * adds its trees' values in tree order, so the sums do not depend on the
 * block size or the thread count. */
#include "forest.h"
#include "split_rules.h"

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
                    int32_t right_mask = -(int32_t)!fastml_value_goes_left(               \
                        (double)rows[i * d + node->feature], node->threshold,              \
                        node->missing_left, node->categorical, left_sets + 4 * at[i]);     \
                    /* left or right without a branch (the side is unpredictable) */      \
                    at[i] = node->left ^ ((node->left ^ node->right) & right_mask);        \
                }                                                                          \
            }                                                                              \
            for (ptrdiff_t i = 0; i < len; i++)                                            \
                out[start + i] += nodes[at[i]].value;                                      \
        }                                                                                  \
    }                                                                                      \
}

PREDICT_BLOCK(fastml_predict_block_f64, double)
PREDICT_BLOCK(fastml_predict_block_f32, float)
