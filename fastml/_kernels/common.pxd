# Constants and dtype roles shared with the C helpers (common.h): cimport
# them instead of writing 256 or int64_t where a bin count or a fixed-point
# sum is meant.
from libc.stdint cimport int64_t, uint8_t

cdef extern from "common.h" nogil:
    enum:
        FASTML_N_BINS       # bins per feature: 255 value bins + the missing bin
        FASTML_SET_WORDS    # 64-bit words of a bitset of bin codes
    ctypedef uint8_t fastml_bin_code   # a row's bin of one feature
    ctypedef int64_t fastml_fixed      # a fixed-point gradient, hessian or sum
