/*
 * Instantiates direct_body.h for double and float at one instruction-set
 * level.  direct.c includes this file once per level, with
 *
 *   VW           vector width in bytes (16, 32 or 64)
 *   ISA          the name suffix (base, avx2, avx512)
 *   VMAX_F64, VMAX_F32  optional: the level's vector max for each dtype
 *
 *   VFMA, VLOOKUP16     optional: see vpow_body.h
 *   VRCP14, VRCP14_PS   optional: the 14-bit reciprocal estimate, float64
 *                       (NDVEC) and float32 (__m512)
 *
 * defined, and undefines them afterwards.  direct_body.h undefines the
 * per-dtype macros defined here.
 */
#define PFN(x) CAT(CAT(fastml_, x), CAT(_, ISA))
#include "vpow_body.h"     /* the vectorised power, shared by both dtypes */

#define FN(x) CAT(CAT(CAT(fastml_, x), _f64_), ISA)
#define T double
#define NR FASTML_NR_F64
#define TILE_FN_T tile_fn_f64
#define ITYPE long long
#define ABSMASK 0x7fffffffffffffffLL
#ifdef VMAX_F64
#define VMAX VMAX_F64
#endif
#include "direct_body.h"   /* undefines the macros above */

#define FN(x) CAT(CAT(CAT(fastml_, x), _f32_), ISA)
#define T float
#define NR FASTML_NR_F32
#define TILE_FN_T tile_fn_f32
#define ITYPE int
#define ABSMASK 0x7fffffff
#ifdef VMAX_F32
#define VMAX VMAX_F32
#endif
#ifdef VRCP14_PS
#define VRCP14_F32(a) ((VEC)VRCP14_PS(a))
#endif
#include "direct_body.h"   /* undefines the macros above */
#undef PFN
