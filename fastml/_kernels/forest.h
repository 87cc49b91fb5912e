/* Forest prediction over blocks of rows (see forest.c). */
#ifndef FASTML_FOREST_H
#define FASTML_FOREST_H

#include <stddef.h>
#include <stdint.h>

/* One tree node, 32 bytes.  A leaf has left = right = its own index (every
 * row stays) and its value in value; a split sends rows to left or right
 * by fastml_value_goes_left (split_rules.h). */
typedef struct {
    double threshold;
    double value;
    int32_t feature;
    int32_t left;
    int32_t right;
    uint8_t missing_left;
    uint8_t categorical;
    uint8_t pad[2];
} fastml_node;

/* out[i] += the sum over the trees (in order) of their leaf values for
 * rows row0 .. row1 - 1 of X (C order, d columns); depths[t] is the
 * number of splits on tree t's longest path. */
void fastml_predict_block_f64(const double *X, ptrdiff_t d, ptrdiff_t row0, ptrdiff_t row1,
                              const fastml_node *nodes, const uint64_t *left_sets,
                              const int64_t *roots, const int64_t *depths, ptrdiff_t n_trees,
                              double *out);
void fastml_predict_block_f32(const float *X, ptrdiff_t d, ptrdiff_t row0, ptrdiff_t row1,
                              const fastml_node *nodes, const uint64_t *left_sets,
                              const int64_t *roots, const int64_t *depths, ptrdiff_t n_trees,
                              double *out);

#endif
