// STUB: gemm_kquant_avx512 kernels (not written yet).
