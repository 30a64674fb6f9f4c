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


cdef inline double _lo(double a, double b) noexcept nogil:
    return a if a < b else b


cdef inline double _hi(double a, double b) noexcept nogil:
    return b if a < b else a


cdef inline double median8(const double* v) noexcept nogil:
    # Median of exactly 8 values: the same value median_small(v, 8) returns
    # for any non-NaN input (both take the mean of the 4th and 5th smallest
    # values; a tie between -0.0 and +0.0 can only flip the sign of a zero
    # median). This one runs the 19-comparator sorting network for 8 inputs
    # (Knuth, TAOCP 5.3.4), pruned to the 17 compare-exchanges that reach
    # the middle two positions, and without branches (min/max instructions):
    # the insertion sort of median_small mispredicts a branch on most
    # comparisons, and the kernels take a median of 8 at every candidate.
    cdef double a0 = v[0], a1 = v[1], a2 = v[2], a3 = v[3]
    cdef double a4 = v[4], a5 = v[5], a6 = v[6], a7 = v[7], t
    t = _lo(a0, a2); a2 = _hi(a0, a2); a0 = t
    t = _lo(a1, a3); a3 = _hi(a1, a3); a1 = t
    t = _lo(a4, a6); a6 = _hi(a4, a6); a4 = t
    t = _lo(a5, a7); a7 = _hi(a5, a7); a5 = t
    t = _lo(a0, a4); a4 = _hi(a0, a4); a0 = t
    t = _lo(a1, a5); a5 = _hi(a1, a5); a1 = t
    t = _lo(a2, a6); a6 = _hi(a2, a6); a2 = t
    t = _lo(a3, a7); a7 = _hi(a3, a7); a3 = t
    a1 = _hi(a0, a1)                            # (0,1): only the max is used
    t = _lo(a2, a3); a3 = _hi(a2, a3); a2 = t
    t = _lo(a4, a5); a5 = _hi(a4, a5); a4 = t
    a6 = _lo(a6, a7)                            # (6,7): only the min
    a4 = _hi(a2, a4)                            # (2,4)
    a3 = _lo(a3, a5)                            # (3,5)
    a4 = _hi(a1, a4)                            # (1,4)
    a3 = _lo(a3, a6)                            # (3,6)
    t = _lo(a3, a4); a4 = _hi(a3, a4); a3 = t
    return 0.5 * (a3 + a4)
