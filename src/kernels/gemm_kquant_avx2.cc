// STUB: gemm_kquant_avx2 kernels (not written yet).
