# cython: language_level=3
"""Phase and group synchrony kernels (private).

Contract (see somacore/_core/__init__.py): nothing is validated here; the
public layers (:mod:`somacore.synchrony.phase`, :mod:`somacore.synchrony.group`)
form the analytic signals, the masks, the block length and the window starts.
Phasors are kept *planar* (one float64 array of real parts, one of imaginary
parts, each (n_people, n_samples)) so that the loops over time vectorise.
Loops run without the GIL.
"""

cimport cython
from libc.math cimport NAN, sqrt
from libc.stdint cimport int64_t, uint8_t
from libc.stdlib cimport free, malloc

# time is processed in tiles of this many samples so that the per-tile sums stay in L1
cdef enum:
    TILE = 512


@cython.final
cdef class UnitPhasors:
    """``run(y, bad, re, im)``: unit phasors ``y / |y|`` of complex series.

    ``y`` is complex128 viewed as float64 (n_people, n_samples, 2). Where
    ``bad`` is set, or ``|y| == 0``, the phasor is 0.
    """

    def run(self, const double[:, :, ::1] y, const uint8_t[:, ::1] bad,
            double[:, ::1] re, double[:, ::1] im):
        cdef Py_ssize_t P = y.shape[0]
        cdef Py_ssize_t N = y.shape[1]
        cdef Py_ssize_t p, t
        cdef double a, b, m
        with nogil:
            for p in range(P):
                for t in range(N):
                    a = y[p, t, 0]
                    b = y[p, t, 1]
                    m = sqrt(a * a + b * b)
                    if bad[p, t] or not (m > 0.0):
                        re[p, t] = 0.0
                        im[p, t] = 0.0
                    else:
                        re[p, t] = a / m
                        im[p, t] = b / m


@cython.final
cdef class PairBlockSums:
    """``run(re, im, pairs, g, out)``: block sums of ``u_i * conj(u_j)`` per pair.

    ``out[p, b, 0]`` / ``out[p, b, 1]`` is the real / imaginary part of the sum
    over samples ``b*g .. b*g + g - 1`` for pair ``pairs[p] = (i, j)``;
    ``out.shape[1] * g`` must not exceed the series length.
    """

    def run(self, const double[:, ::1] re, const double[:, ::1] im,
            const int64_t[:, ::1] pairs, Py_ssize_t g, double[:, :, ::1] out):
        cdef Py_ssize_t npair = pairs.shape[0]
        cdef Py_ssize_t nblk = out.shape[1]
        cdef Py_ssize_t p, b, t, i, j
        cdef double sr, si
        cdef const double* ar
        cdef const double* ai
        cdef const double* br
        cdef const double* bi
        with nogil:
            for p in range(npair):
                i = pairs[p, 0]
                j = pairs[p, 1]
                for b in range(nblk):
                    ar = &re[i, b * g]
                    ai = &im[i, b * g]
                    br = &re[j, b * g]
                    bi = &im[j, b * g]
                    sr = 0.0
                    si = 0.0
                    for t in range(g):
                        sr += ar[t] * br[t] + ai[t] * bi[t]
                        si += ai[t] * br[t] - ar[t] * bi[t]
                    out[p, b, 0] = sr
                    out[p, b, 1] = si


@cython.final
cdef class KuramotoField:
    """``run(re, im, anybad, R, rel_re, rel_im)``: mean field of a group.

    With ``s(t) = mean_i u_i(t)``: ``R[t] = |s(t)|`` (NaN where ``anybad``),
    and the phasors relative to the cluster phase ``q = s / |s|`` (Richardson
    et al. 2012), ``rel_i(t) = u_i(t) * conj(q(t))`` (0 where ``anybad`` or
    ``s = 0``).
    """

    def run(self, const double[:, ::1] re, const double[:, ::1] im,
            const uint8_t[::1] anybad, double[::1] R,
            double[:, ::1] rel_re, double[:, ::1] rel_im):
        cdef Py_ssize_t P = re.shape[0]
        cdef Py_ssize_t N = re.shape[1]
        cdef Py_ssize_t p, t, a, n
        cdef double invP = 1.0 / <double>P
        cdef double sr[TILE]
        cdef double si[TILE]
        cdef double qr[TILE]
        cdef double qi[TILE]
        cdef double m, ur, ui
        with nogil:
            a = 0
            while a < N:
                n = min(<Py_ssize_t>TILE, N - a)
                for t in range(n):
                    sr[t] = 0.0
                    si[t] = 0.0
                for p in range(P):
                    for t in range(n):
                        sr[t] += re[p, a + t]
                        si[t] += im[p, a + t]
                for t in range(n):
                    sr[t] *= invP
                    si[t] *= invP
                    m = sqrt(sr[t] * sr[t] + si[t] * si[t])
                    if anybad[a + t]:
                        R[a + t] = NAN
                        qr[t] = 0.0
                        qi[t] = 0.0
                    else:
                        R[a + t] = m if m < 1.0 else 1.0
                        if m > 0.0:
                            qr[t] = sr[t] / m
                            qi[t] = si[t] / m
                        else:
                            qr[t] = 0.0
                            qi[t] = 0.0
                for p in range(P):
                    for t in range(n):
                        ur = re[p, a + t]
                        ui = im[p, a + t]
                        rel_re[p, a + t] = ur * qr[t] + ui * qi[t]
                        rel_im[p, a + t] = ui * qr[t] - ur * qi[t]
                a += n


cdef double _rotated_mean_mag(const double[:, ::1] rr, const double[:, ::1] ri,
                              const double* cr, const double* ci, Py_ssize_t a,
                              Py_ssize_t W, double invP, double* series) noexcept nogil:
    """Sum over t in [a, a+W) of |sum_i rel_i(t) * c_i| * invP (per-t values to ``series``).

    The rows come in groups of four (the caller pads with zero rows): each
    group is one fused pass over time whose sums stay in registers, which
    vectorises; more than four people add the groups up in a small tile.
    """
    cdef Py_ssize_t P4 = rr.shape[0]
    cdef Py_ssize_t t0, t, n, g
    cdef double sr[TILE]
    cdef double si[TILE]
    cdef double acc = 0.0
    cdef double v, re_, im_
    cdef double c0r, c0i, c1r, c1i, c2r, c2i, c3r, c3i
    cdef const double* x0r
    cdef const double* x0i
    cdef const double* x1r
    cdef const double* x1i
    cdef const double* x2r
    cdef const double* x2i
    cdef const double* x3r
    cdef const double* x3i
    t0 = a
    while t0 < a + W:
        n = min(<Py_ssize_t>TILE, a + W - t0)
        g = 0
        while g < P4:
            c0r = cr[g]
            c0i = ci[g]
            c1r = cr[g + 1]
            c1i = ci[g + 1]
            c2r = cr[g + 2]
            c2i = ci[g + 2]
            c3r = cr[g + 3]
            c3i = ci[g + 3]
            x0r = &rr[g, t0]
            x0i = &ri[g, t0]
            x1r = &rr[g + 1, t0]
            x1i = &ri[g + 1, t0]
            x2r = &rr[g + 2, t0]
            x2i = &ri[g + 2, t0]
            x3r = &rr[g + 3, t0]
            x3i = &ri[g + 3, t0]
            if P4 == 4 and series == NULL:  # the common case: one fused pass
                for t in range(n):
                    re_ = (x0r[t] * c0r - x0i[t] * c0i) + (x1r[t] * c1r - x1i[t] * c1i) \
                        + (x2r[t] * c2r - x2i[t] * c2i) + (x3r[t] * c3r - x3i[t] * c3i)
                    im_ = (x0r[t] * c0i + x0i[t] * c0r) + (x1r[t] * c1i + x1i[t] * c1r) \
                        + (x2r[t] * c2i + x2i[t] * c2r) + (x3r[t] * c3i + x3i[t] * c3r)
                    sr[t] = sqrt(re_ * re_ + im_ * im_)
            elif g == 0:
                for t in range(n):
                    sr[t] = (x0r[t] * c0r - x0i[t] * c0i) + (x1r[t] * c1r - x1i[t] * c1i) \
                        + (x2r[t] * c2r - x2i[t] * c2i) + (x3r[t] * c3r - x3i[t] * c3i)
                    si[t] = (x0r[t] * c0i + x0i[t] * c0r) + (x1r[t] * c1i + x1i[t] * c1r) \
                        + (x2r[t] * c2i + x2i[t] * c2r) + (x3r[t] * c3i + x3i[t] * c3r)
            else:
                for t in range(n):
                    sr[t] += (x0r[t] * c0r - x0i[t] * c0i) + (x1r[t] * c1r - x1i[t] * c1i) \
                        + (x2r[t] * c2r - x2i[t] * c2i) + (x3r[t] * c3r - x3i[t] * c3i)
                    si[t] += (x0r[t] * c0i + x0i[t] * c0r) + (x1r[t] * c1i + x1i[t] * c1r) \
                        + (x2r[t] * c2i + x2i[t] * c2r) + (x3r[t] * c3i + x3i[t] * c3r)
            g += 4
        if series != NULL:
            for t in range(n):
                v = sqrt(sr[t] * sr[t] + si[t] * si[t]) * invP
                series[t0 - a + t] = v
            acc += _sum(&series[t0 - a], n)
        else:
            if P4 != 4:
                for t in range(n):
                    sr[t] = sqrt(sr[t] * sr[t] + si[t] * si[t])
            acc += _sum(sr, n) * invP
        t0 += n
    return acc


cdef inline double _sum(const double* v, Py_ssize_t n) noexcept nogil:
    """Sum with four accumulators (the loops above that fill ``v`` then vectorise;
    a single running sum would chain every addition)."""
    cdef double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    cdef Py_ssize_t t = 0
    while t + 4 <= n:
        s0 += v[t]
        s1 += v[t + 1]
        s2 += v[t + 2]
        s3 += v[t + 3]
        t += 4
    while t < n:
        s0 += v[t]
        t += 1
    return (s0 + s1) + (s2 + s3)


@cython.final
cdef class ClusterPhaseWindows:
    """Cluster-phase rho (Richardson et al. 2012) in every window, and over the record.

    ``run(rel_re, rel_im, zr, zi, starts, W, n_people, out)``: ``rel_*``
    (n_rows, n_samples), ``n_rows`` a multiple of 4 with zero rows after the
    ``n_people`` real ones, are the phasors relative to the cluster phase,
    ``exp(1j * (phi_i(t) - q(t)))``, and ``zr``/``zi`` (n_people, n_windows)
    their mean over each window ``[a, a + W)``, ``a = starts[k]``. With
    ``c_i = conj(z_i) / |z_i|`` (the rotation by -phibar_i; 1 if ``z_i = 0``)
    it writes ``out[k] = mean_t |mean_i rel_i(t) * c_i|`` (the windowed
    rho_group).

    ``series(rel_re, rel_im, zr, zi, n_people, out)``: the same over the whole record
    with one rotation per person (``zr``/``zi`` of shape (n_people,)), writing
    ``rho_group(t)`` to ``out``; returns its mean.
    """

    def run(self, const double[:, ::1] rel_re, const double[:, ::1] rel_im,
            const double[:, ::1] zr, const double[:, ::1] zi,
            const int64_t[::1] starts, Py_ssize_t W, Py_ssize_t n_people, double[::1] out):
        cdef Py_ssize_t P = rel_re.shape[0]
        cdef double invP = 1.0 / <double>n_people
        cdef Py_ssize_t nw = starts.shape[0]
        cdef Py_ssize_t k
        cdef double* c = <double*>malloc(2 * P * sizeof(double))
        if c == NULL:
            raise MemoryError()
        try:
            with nogil:
                for k in range(nw):
                    _rotation(zr, zi, k, c, c + P)
                    out[k] = _rotated_mean_mag(rel_re, rel_im, c, c + P, starts[k], W,
                                               invP, NULL) / W
        finally:
            free(c)

    def series(self, const double[:, ::1] rel_re, const double[:, ::1] rel_im,
               const double[::1] zr, const double[::1] zi, Py_ssize_t n_people,
               double[::1] out):
        cdef Py_ssize_t P = rel_re.shape[0]
        cdef double invP = 1.0 / <double>n_people
        cdef Py_ssize_t N = rel_re.shape[1]
        cdef Py_ssize_t p
        cdef double m, acc
        cdef double* c = <double*>malloc(2 * P * sizeof(double))
        if c == NULL:
            raise MemoryError()
        try:
            with nogil:
                for p in range(P):
                    m = sqrt(zr[p] * zr[p] + zi[p] * zi[p])
                    c[p] = zr[p] / m if m > 0.0 else 1.0
                    c[P + p] = -zi[p] / m if m > 0.0 else 0.0
                acc = _rotated_mean_mag(rel_re, rel_im, c, c + P, 0, N, invP, &out[0])
        finally:
            free(c)
        return acc / N


cdef inline void _rotation(const double[:, ::1] zr, const double[:, ::1] zi, Py_ssize_t k,
                           double* cr, double* ci) noexcept nogil:
    cdef Py_ssize_t p
    cdef double m
    for p in range(zr.shape[0]):
        m = sqrt(zr[p, k] * zr[p, k] + zi[p, k] * zi[p, k])
        if m > 0.0:
            cr[p] = zr[p, k] / m
            ci[p] = -zi[p, k] / m
        else:
            cr[p] = 1.0
            ci[p] = 0.0
