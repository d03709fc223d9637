// STUB: gemm_legacy_avx512 kernels (not written yet).
