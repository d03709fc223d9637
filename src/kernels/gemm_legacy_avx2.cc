// STUB: gemm_legacy_avx2 kernels (not written yet).
