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

# The hot loops over time (the moduli of the windowed cluster phase, the unit phasors,
# the Kuramoto mean field, the pair block sums) are plain C below so that GCC on x86-64
# Linux can build them twice, for the baseline instruction set and for x86-64-v3 (AVX2 +
# FMA: twice the lanes, and a vector square root twice as fast), picking one at load
# time (target_clones: an ifunc, so glibc only); elsewhere they are built once. Same
# arithmetic either way (FMA changes roundings only, ~1e-16).
cdef extern from *:
    """
    #if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 \
        && defined(__x86_64__) && defined(__linux__) && defined(__GLIBC__)
    #define SOMA_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
    #else
    #define SOMA_SIMD_CLONES
    #endif

    /* Sum of v[0..n) with four accumulators (vectorises; one running sum would chain). */
    static inline double soma_sum4(const double *v, Py_ssize_t n) {
        double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
        Py_ssize_t t = 0;
        for (; t + 4 <= n; t += 4) {
            s0 += v[t]; s1 += v[t + 1]; s2 += v[t + 2]; s3 += v[t + 3];
        }
        for (; t < n; t++) s0 += v[t];
        return (s0 + s1) + (s2 + s3);
    }

    /* Sum over t < n (n <= the tmp length) of |u_0(t) + sum_{i>0} u_i(t) c_i|, where
       u_i(t) = re[i * stride + t] + 1j * im[i * stride + t]; the moduli also go to out
       when it is not NULL. Four people run one fused pass. */
    SOMA_SIMD_CLONES
    static double soma_mag_sum(const double *re, const double *im, Py_ssize_t stride,
                               Py_ssize_t P, const double *cr, const double *ci,
                               Py_ssize_t n, double *tmp, double *tmp2, double *out) {
        Py_ssize_t t, p;
        if (P == 4) {
            const double *x0r = re, *x0i = im;
            const double *x1r = re + stride, *x1i = im + stride;
            const double *x2r = re + 2 * stride, *x2i = im + 2 * stride;
            const double *x3r = re + 3 * stride, *x3i = im + 3 * stride;
            const double c1r = cr[1], c1i = ci[1], c2r = cr[2], c2i = ci[2];
            const double c3r = cr[3], c3i = ci[3];
            if (out == NULL) {
                /* four independent lane sums, in registers (vectorises, no reassociation) */
                double acc[4] = {0.0, 0.0, 0.0, 0.0};
                for (t = 0; t + 4 <= n; t += 4) {
                    for (int l = 0; l < 4; l++) {
                        Py_ssize_t u = t + l;
                        double xr = x0r[u] + (x1r[u] * c1r - x1i[u] * c1i)
                            + (x2r[u] * c2r - x2i[u] * c2i) + (x3r[u] * c3r - x3i[u] * c3i);
                        double xi = x0i[u] + (x1r[u] * c1i + x1i[u] * c1r)
                            + (x2r[u] * c2i + x2i[u] * c2r) + (x3r[u] * c3i + x3i[u] * c3r);
                        acc[l] += sqrt(xr * xr + xi * xi);
                    }
                }
                for (; t < n; t++) {
                    double xr = x0r[t] + (x1r[t] * c1r - x1i[t] * c1i)
                        + (x2r[t] * c2r - x2i[t] * c2i) + (x3r[t] * c3r - x3i[t] * c3i);
                    double xi = x0i[t] + (x1r[t] * c1i + x1i[t] * c1r)
                        + (x2r[t] * c2i + x2i[t] * c2r) + (x3r[t] * c3i + x3i[t] * c3r);
                    acc[0] += sqrt(xr * xr + xi * xi);
                }
                return (acc[0] + acc[1]) + (acc[2] + acc[3]);
            }
            for (t = 0; t < n; t++) {
                double xr = x0r[t] + (x1r[t] * c1r - x1i[t] * c1i)
                    + (x2r[t] * c2r - x2i[t] * c2i) + (x3r[t] * c3r - x3i[t] * c3i);
                double xi = x0i[t] + (x1r[t] * c1i + x1i[t] * c1r)
                    + (x2r[t] * c2i + x2i[t] * c2r) + (x3r[t] * c3i + x3i[t] * c3r);
                tmp[t] = sqrt(xr * xr + xi * xi);
            }
        } else {
            for (t = 0; t < n; t++) { tmp[t] = re[t]; tmp2[t] = im[t]; }
            for (p = 1; p < P; p++) {
                const double *xr = re + p * stride, *xi = im + p * stride;
                const double c_r = cr[p], c_i = ci[p];
                for (t = 0; t < n; t++) {
                    tmp[t] += xr[t] * c_r - xi[t] * c_i;
                    tmp2[t] += xr[t] * c_i + xi[t] * c_r;
                }
            }
            for (t = 0; t < n; t++) tmp[t] = sqrt(tmp[t] * tmp[t] + tmp2[t] * tmp2[t]);
        }
        if (out != NULL)
            for (t = 0; t < n; t++) out[t] = tmp[t];
        return soma_sum4(tmp, n);
    }

    /* re[t] + 1j im[t] = y[t] / |y[t]| for n interleaved complex y (0 where bad[t] is
       set or y[t] == 0). One reciprocal root and no branch (q == 0 only when y == 0,
       which stays 0), so the loop vectorises. */
    SOMA_SIMD_CLONES
    static void soma_unit(const double *y, const unsigned char *bad, double *re, double *im,
                          Py_ssize_t n) {
        for (Py_ssize_t t = 0; t < n; t++) {
            double a = y[2 * t], b = y[2 * t + 1];
            double q = a * a + b * b;
            double inv = (1.0 - (double)bad[t]) / sqrt(q + (double)(q == 0.0));
            re[t] = a * inv;
            im[t] = b * inv;
        }
    }

    /* Block sums of u_i * conj(u_j) for every pair: out[(q * nblk + b) * 2 + {0, 1}] is
       the real / imaginary part of the sum over samples b*g .. b*g + g - 1 of pair
       pairs[2q], pairs[2q + 1]. Time runs in tiles of at most 256 samples that every
       pair reads from L1 (one pass over memory for all pairs). */
    SOMA_SIMD_CLONES
    static void soma_pair_blocks(const double *re, const double *im, Py_ssize_t stride,
                                 const int64_t *pairs, Py_ssize_t npair, Py_ssize_t g,
                                 Py_ssize_t nblk, double *out) {
        double tr[256], ti[256];
        for (Py_ssize_t i = 0; i < 2 * npair * nblk; i++) out[i] = 0.0;
        for (Py_ssize_t b = 0; b < nblk; b++) {
            for (Py_ssize_t t0 = b * g; t0 < (b + 1) * g; t0 += 256) {
                Py_ssize_t n = (b + 1) * g - t0 < 256 ? (b + 1) * g - t0 : 256;
                for (Py_ssize_t q = 0; q < npair; q++) {
                    const double *ar = re + pairs[2 * q] * stride + t0;
                    const double *ai = im + pairs[2 * q] * stride + t0;
                    const double *br = re + pairs[2 * q + 1] * stride + t0;
                    const double *bi = im + pairs[2 * q + 1] * stride + t0;
                    for (Py_ssize_t t = 0; t < n; t++) {
                        tr[t] = ar[t] * br[t] + ai[t] * bi[t];
                        ti[t] = ai[t] * br[t] - ar[t] * bi[t];
                    }
                    out[(q * nblk + b) * 2] += soma_sum4(tr, n);
                    out[(q * nblk + b) * 2 + 1] += soma_sum4(ti, n);
                }
            }
        }
    }

    /* The mean field of P people over N samples (see KuramotoField); row p of re/im
       starts at p * stride. zblk is (P, nall, 2) with nall = ceil(N / g). */
    SOMA_SIMD_CLONES
    static void soma_kuramoto(const double *re, const double *im, Py_ssize_t stride,
                              Py_ssize_t P, Py_ssize_t N, const unsigned char *anybad,
                              Py_ssize_t g,
                              Py_ssize_t nall, double *R, double *rblk, double *zblk,
                              double *badblk) {
        double sr[256], si[256], qr[256], qi[256];
        const double invP = 1.0 / (double)P;
        for (Py_ssize_t b = 0; b < nall; b++) { rblk[b] = 0.0; badblk[b] = 0.0; }
        for (Py_ssize_t i = 0; i < 2 * P * nall; i++) zblk[i] = 0.0;
        for (Py_ssize_t a = 0; a < N;) {
            /* a segment lies in one tile and one block */
            Py_ssize_t b = a / g, end = (b + 1) * g < N ? (b + 1) * g : N;
            Py_ssize_t n = end - a < 256 ? end - a : 256, t, p, nbad = 0;
            for (t = 0; t < n; t++) { sr[t] = 0.0; si[t] = 0.0; }
            for (p = 0; p < P; p++) {
                const double *xr = re + p * stride + a, *xi = im + p * stride + a;
                for (t = 0; t < n; t++) { sr[t] += xr[t]; si[t] += xi[t]; }
            }
            for (t = 0; t < n; t++) nbad += anybad[a + t];
            for (t = 0; t < n; t++) {  /* no branch: vectorises */
                double x = sr[t] * invP, y = si[t] * invP;
                double q2 = x * x + y * y, z = (double)(q2 == 0.0);
                double m = sqrt(q2);
                double ok = 1.0 - (double)anybad[a + t];
                double inv = ok / (m + z);
                qr[t] = x * inv + ok * z;  /* q = 1 where the mean field is 0 */
                qi[t] = y * inv;
                R[a + t] = m;
                sr[t] = m * ok;
            }
            /* rare fix-ups: R = NaN over gaps, rounding above 1 */
            for (t = 0; t < n; t++) {
                if (R[a + t] > 1.0) {
                    sr[t] = 1.0 - (double)anybad[a + t];
                    R[a + t] = 1.0;
                }
            }
            if (nbad > 0)
                for (t = 0; t < n; t++)
                    if (anybad[a + t]) R[a + t] = NAN;
            rblk[b] += soma_sum4(sr, n);
            badblk[b] += (double)nbad;
            for (p = 0; p < P; p++) {
                const double *xr = re + p * stride + a, *xi = im + p * stride + a;
                for (t = 0; t < n; t++) {
                    sr[t] = xr[t] * qr[t] + xi[t] * qi[t];
                    si[t] = xi[t] * qr[t] - xr[t] * qi[t];
                }
                zblk[(p * nall + b) * 2] += soma_sum4(sr, n);
                zblk[(p * nall + b) * 2 + 1] += soma_sum4(si, n);
            }
            a += n;
        }
    }
    """
    double soma_mag_sum(const double* re, const double* im, Py_ssize_t stride, Py_ssize_t P,
                        const double* cr, const double* ci, Py_ssize_t n, double* tmp,
                        double* tmp2, double* out) noexcept nogil
    void soma_unit(const double* y, const uint8_t* bad, double* re, double* im,
                   Py_ssize_t n) noexcept nogil
    void soma_pair_blocks(const double* re, const double* im, Py_ssize_t stride,
                          const int64_t* pairs, Py_ssize_t npair, Py_ssize_t g,
                          Py_ssize_t nblk, double* out) noexcept nogil
    void soma_kuramoto(const double* re, const double* im, Py_ssize_t stride, Py_ssize_t P,
                       Py_ssize_t N, const uint8_t* anybad, Py_ssize_t g, Py_ssize_t nall,
                       double* R, double* rblk, double* zblk, double* badblk) noexcept nogil
    double soma_sum4(const double* v, Py_ssize_t n) noexcept nogil


# samples per tile of the windowed cluster-phase pass (8 rows of it fit in L1)
cdef enum:
    RTILE = 256


@cython.final
cdef class BandBins:
    """``run(G, rows, flip, T, w, out)``: the band's DFT bins from split transforms.

    ``G`` (n_people, m//2 + 1, D, 2) holds the real FFTs of length ``m`` of
    the ``D`` interleaved rows of each series (complex as float64 pairs);
    band bin ``j`` sits in row ``rows[j]`` (conjugated where ``flip[j]``).
    ``T`` (n_bins, D, 2) are the twiddles; it writes
    ``out[p, j] = w[j] * sum_r g(p, j, r) * T[j, r]``.
    """

    def run(self, const double[:, :, :, ::1] G, const int64_t[::1] rows,
            const uint8_t[::1] flip, const double[:, :, ::1] T, const double[::1] w,
            double[:, :, ::1] out):
        cdef Py_ssize_t P = G.shape[0]
        cdef Py_ssize_t D = G.shape[2]
        cdef Py_ssize_t nb = rows.shape[0]
        cdef Py_ssize_t p, j, r
        cdef double s, ar0, ai0, ar1, ai1, gr, gi
        cdef const double* g
        cdef const double* tw
        with nogil:
            for p in range(P):
                for j in range(nb):
                    g = &G[p, rows[j], 0, 0]
                    tw = &T[j, 0, 0]
                    s = -1.0 if flip[j] else 1.0
                    # two accumulator pairs: the sum is a chain of dependent additions
                    ar0 = 0.0
                    ai0 = 0.0
                    ar1 = 0.0
                    ai1 = 0.0
                    r = 0
                    while r + 2 <= D:
                        gr = g[2 * r]
                        gi = s * g[2 * r + 1]
                        ar0 += gr * tw[2 * r] - gi * tw[2 * r + 1]
                        ai0 += gr * tw[2 * r + 1] + gi * tw[2 * r]
                        gr = g[2 * r + 2]
                        gi = s * g[2 * r + 3]
                        ar1 += gr * tw[2 * r + 2] - gi * tw[2 * r + 3]
                        ai1 += gr * tw[2 * r + 3] + gi * tw[2 * r + 2]
                        r += 2
                    if r < D:
                        gr = g[2 * r]
                        gi = s * g[2 * r + 1]
                        ar0 += gr * tw[2 * r] - gi * tw[2 * r + 1]
                        ai0 += gr * tw[2 * r + 1] + gi * tw[2 * r]
                    out[p, j, 0] = w[j] * (ar0 + ar1)
                    out[p, j, 1] = w[j] * (ai0 + ai1)


@cython.final
cdef class BasebandRows:
    """``run(z, E, H)``: input of the inverse transforms of a band-limited signal.

    ``H[j, r] = z[j] * E[j, r]`` for the ``n_bins`` band bins ``j`` and 0 for
    ``n_bins <= j < m``; ``z`` (n_bins, 2), ``E`` (n_bins, D, 2), ``H``
    (m, D, 2), complex as float64 pairs.
    """

    def run(self, const double[:, ::1] z, const double[:, :, ::1] E, double[:, :, ::1] H):
        cdef Py_ssize_t m = H.shape[0]
        cdef Py_ssize_t D = H.shape[1]
        cdef Py_ssize_t nb = z.shape[0]
        cdef Py_ssize_t r, j
        cdef double zr, zi
        cdef const double* e
        cdef double* h
        with nogil:
            for j in range(nb):
                zr = z[j, 0]
                zi = z[j, 1]
                e = &E[j, 0, 0]
                h = &H[j, 0, 0]
                for r in range(D):
                    h[2 * r] = zr * e[2 * r] - zi * e[2 * r + 1]
                    h[2 * r + 1] = zr * e[2 * r + 1] + zi * e[2 * r]
            if nb < m:
                h = &H[nb, 0, 0]
                for r in range(2 * D * (m - nb)):
                    h[r] = 0.0


@cython.final
cdef class UnitPhasors:
    """``run(y, bad, re, im)``: unit phasors ``y / |y|`` of one person, planar.

    ``y`` (n, 2) is complex as float64 pairs (any positive scale); where
    ``bad`` is set, or ``y == 0``, the phasor is 0.
    """

    def run(self, const double[:, ::1] y, const uint8_t[::1] bad, double[::1] re,
            double[::1] im):
        with nogil:
            soma_unit(&y[0, 0], &bad[0], &re[0], &im[0], y.shape[0])


@cython.final
cdef class PairBlockSums:
    """``run(re, im, pairs, g, out)``: block sums of ``u_i * conj(u_j)`` per pair.

    ``out[p, b, 0]`` / ``out[p, b, 1]`` is the real / imaginary part of the sum
    over samples ``b*g .. b*g + g - 1`` for pair ``pairs[p] = (i, j)``;
    ``out.shape[1] * g`` must not exceed the series length.
    """

    def run(self, const double[:, ::1] re, const double[:, ::1] im,
            const int64_t[:, ::1] pairs, Py_ssize_t g, double[:, :, ::1] out):
        if pairs.shape[0] == 0 or out.shape[1] == 0:
            return
        with nogil:
            soma_pair_blocks(&re[0, 0], &im[0, 0], re.shape[1], &pairs[0, 0],
                             pairs.shape[0], g, out.shape[1], &out[0, 0, 0])


@cython.final
cdef class KuramotoField:
    """``run(re, im, anybad, g, R, rblk, zblk, badblk)``: mean field of a group, and block sums.

    With ``s(t) = mean_i u_i(t)``: ``R[t] = |s(t)|`` (NaN where ``anybad``).
    The cluster phase (Richardson et al. 2012) is ``q = s / |s|`` (1 where
    ``s = 0``, the angle numpy gives 0) and the phasors relative to it are
    ``rel_i(t) = u_i(t) * conj(q(t))``. Over blocks ``b`` of ``g`` samples
    (the last one may be shorter; ``rblk.shape[0] == ceil(N / g)``) it writes
    ``rblk[b]`` = sum of R over the block's good samples, ``zblk[i, b]`` = sum
    of ``rel_i`` over them (real, imaginary) and ``badblk[b]`` = the number
    of ``anybad`` samples.
    """

    def run(self, const double[:, ::1] re, const double[:, ::1] im,
            const uint8_t[::1] anybad, Py_ssize_t g, double[::1] R, double[::1] rblk,
            double[:, :, ::1] zblk, double[::1] badblk):
        with nogil:
            soma_kuramoto(&re[0, 0], &im[0, 0], re.shape[1], re.shape[0], re.shape[1],
                          &anybad[0], g,
                          rblk.shape[0], &R[0], &rblk[0], &zblk[0, 0, 0], &badblk[0])


cdef inline void _relative(const double* zr, const double* zi, Py_ssize_t P,
                           double* cr, double* ci) noexcept nogil:
    """Rotations ``c_i = conj(z_i) / |z_i|`` (1 where ``z_i = 0``) relative to person 0's.

    ``|sum_i u_i c_i| = |u_0 + sum_{i>0} u_i c_i conj(c_0)|`` since ``|c_0| = 1``.
    """
    cdef Py_ssize_t p
    cdef double m, r0, i0, a, b
    for p in range(P):
        m = sqrt(zr[p] * zr[p] + zi[p] * zi[p])
        if m > 0.0:
            cr[p] = zr[p] / m
            ci[p] = -zi[p] / m
        else:
            cr[p] = 1.0
            ci[p] = 0.0
    r0 = cr[0]
    i0 = -ci[0]
    for p in range(P):
        a = cr[p]
        b = ci[p]
        cr[p] = a * r0 - b * i0
        ci[p] = a * i0 + b * r0
    cr[0] = 1.0
    ci[0] = 0.0


@cython.final
cdef class ClusterPhaseWindows:
    """Cluster-phase rho (Richardson et al. 2012) in every window, and over the record.

    ``run(re, im, zr, zi, starts, W, out, z, series)``: ``re``/``im``
    (n_people, n_samples) are the unit phasors ``u_i`` and ``zr``/``zi``
    (n_windows, n_people) the mean over window ``[a, a + W)`` (``a =
    starts[k]``, increasing) of the phasors relative to the cluster phase,
    ``rel_i = u_i * conj(q)``. With ``c_i = conj(z_i) / |z_i|`` (the rotation
    by -phibar_i; 1 if ``z_i = 0``) it writes the windowed rho_group
    ``out[k] = mean_t |mean_i rel_i(t) * c_i| = mean_t |mean_i u_i(t) * c_i|``
    (``|q| = 1``). If ``z`` (2, n_people: the record's mean ``rel_i``, real
    and imaginary) is given, it also writes the record's ``rho_group(t)`` (one
    rotation per person) to ``series`` and returns its mean (else NaN).

    Time runs in tiles of RTILE samples held in L1 while every window that
    covers the tile (and the record's series) adds its part, so each sample is
    read from memory once rather than once per window.
    """

    def run(self, const double[:, ::1] re, const double[:, ::1] im,
            const double[:, ::1] zr, const double[:, ::1] zi,
            const int64_t[::1] starts, Py_ssize_t W, double[::1] out,
            const double[:, ::1] z=None, double[::1] series=None):
        cdef Py_ssize_t P = re.shape[0]
        cdef Py_ssize_t N = re.shape[1]
        cdef Py_ssize_t nw = starts.shape[0]
        cdef double invP = 1.0 / <double>P
        cdef double invPW = invP / <double>W
        cdef bint whole = z is not None and series is not None
        cdef Py_ssize_t k, klo, t0, t1, a, b, lo, hi, t
        cdef double acc = 0.0
        cdef double* ser = NULL
        cdef double tmp[RTILE]
        cdef double tmp2[RTILE]
        cdef double* c = <double*>malloc(2 * P * (nw + 1) * sizeof(double))
        if c == NULL:
            raise MemoryError()
        try:
            with nogil:
                for k in range(nw):
                    _relative(&zr[k, 0], &zi[k, 0], P, c + 2 * P * k, c + 2 * P * k + P)
                    out[k] = 0.0
                if whole:
                    _relative(&z[0, 0], &z[1, 0], P, c + 2 * P * nw, c + 2 * P * nw + P)
                    ser = &series[0]
                lo = starts[0] if nw > 0 else 0
                hi = starts[nw - 1] + W if nw > 0 else 0
                if whole:
                    lo = 0
                    hi = N
                klo = 0
                t0 = lo
                while t0 < hi:
                    t1 = min(t0 + <Py_ssize_t>RTILE, hi)
                    while klo < nw and starts[klo] + W <= t0:
                        klo += 1
                    k = klo
                    while k < nw and starts[k] < t1:
                        a = max(starts[k], t0)
                        b = min(starts[k] + W, t1)
                        if a < b:
                            out[k] += soma_mag_sum(&re[0, a], &im[0, a], N, P,
                                                   c + 2 * P * k, c + 2 * P * k + P,
                                                   b - a, tmp, tmp2, NULL)
                        k += 1
                    if whole:
                        acc += soma_mag_sum(&re[0, t0], &im[0, t0], N, P, c + 2 * P * nw,
                                            c + 2 * P * nw + P, t1 - t0, tmp, tmp2,
                                            ser + t0)
                        for t in range(t0, t1):
                            ser[t] *= invP
                    t0 = t1
                for k in range(nw):
                    out[k] *= invPW
        finally:
            free(c)
        return acc * invP / N if whole else NAN
