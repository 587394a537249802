/*
 * Kernels of Sophia, SGDScheduleFree, AdamWScheduleFree. Included by fastgd_kernels_impl.h once per element
 * type and instruction set (FGD_T, FGD_SUFFIX, FGD_SQRT, FGD_INLINE, FGD_KERNEL, FGD_CALL
 * are defined there).
 */
