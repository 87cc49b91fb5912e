/* Constants and dtype roles shared by the C helpers and the Cython modules
 * (through common.pxd), so that each is written down once. */
#ifndef FASTML_COMMON_H
#define FASTML_COMMON_H

#include <stdint.h>

/* Gradient boosting: uint8 bin codes, up to 255 value bins and the
 * missing-value bin (the last one). */
#define FASTML_N_BINS 256
/* A set of bin codes (a categorical split's left side) is a bitset of
 * FASTML_SET_WORDS 64-bit words: one bit per bin. */
#define FASTML_SET_WORDS (FASTML_N_BINS / 64)

typedef uint8_t fastml_bin_code;    /* a row's bin of one feature */
typedef int64_t fastml_fixed;       /* a fixed-point gradient, hessian or sum */

#endif
