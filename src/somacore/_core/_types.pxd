# Sample types every kernel reads in place (no conversion copy): the dtypes
# somacore._validate.KERNEL_DTYPES passes through unchanged.

ctypedef fused sample_t:
    double
    float
    short
    int
