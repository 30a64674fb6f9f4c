# Small order statistics for the kernels' adaptive levels (nogil, no allocation).

cdef enum:
    MEDIAN_MAX = 64     # the largest set any kernel takes a median of


cdef inline double median_small(const double* a, int n) noexcept nogil:
    # Median of n (1..MEDIAN_MAX) values: insertion sort of a stack copy, the
    # mean of the middle two for even n. The sets are tiny (the last 8 beats,
    # the blocks of a learning period), so this beats any selection algorithm.
    cdef double b[MEDIAN_MAX]
    cdef double v
    cdef int i, j
    for i in range(n):
        v = a[i]
        j = i - 1
        while j >= 0 and b[j] > v:
            b[j + 1] = b[j]
            j -= 1
        b[j + 1] = v
    return 0.5 * (b[(n - 1) // 2] + b[n // 2])
