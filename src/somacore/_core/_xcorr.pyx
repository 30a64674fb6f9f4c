# cython: language_level=3
"""Windowed lagged cross-correlation kernels (private).

Contract (see somacore/_core/__init__.py): nothing is validated here; the
public layer (:mod:`somacore.synchrony.xcorr`) checks the input, designs the
windows in samples, centres the data, replaces non-finite samples by 0 and
builds the per-sample masks. Every loop below runs without the GIL on typed
memoryviews, so several threads (one per range of windows) run in parallel.

The engine computes, for pair (i, j), window k starting at sample ``a_k`` of
length ``W`` and every lag ``L`` in ``-M..M``::

    Sxy(k, L) = sum_{t < W} x_i[a_k + t] * x_j[a_k + L + t]

from block spectra: the window is cut into ``B`` blocks of ``g`` samples; for
block ``b`` the spectrum ``conj(X_b) * Y_b`` (``X_b``: the block of person i,
``Y_b``: the segment of person j from ``M`` samples before the block to ``M``
samples after it, both zero-padded to the FFT length) is the block's lagged
dot products over all lags. (With ``M = q g`` the engine splits the lags in
two halves, segments of ``q + 1`` blocks each, FFT length ``g + M``, and packs
the two halves' sums into one complex spectrum: :func:`slide_pair_packed`.)
Because the inverse FFT is linear, the spectra of the ``B`` blocks of a window
are summed first and inverted once per window; consecutive windows share all
but ``adv`` blocks, so the sum slides (:func:`slide_pair`); the partner's
segment spectra slide from the block spectra (:class:`SegmentSpectra`).
:class:`PearsonRows` then turns ``Sxy`` rows into Pearson r using window sums
of both people and picks the peak of each row. The partner's lagged window at
(window k, lag L) starts at sample ``a_k + L``, so one array of window sums
indexed by start sample (slid once over the samples of a step) serves every
window and lag.

These kernels are stateless batch steps rather than per-channel stateful
``process``/``flush`` objects: a windowed correlation has no sample-by-sample
state, so :class:`somacore.stream.SynchronyMonitor` keeps the last
``window + 2 * max_lag`` samples itself and runs the same kernels on every
newly completed window.
"""

cimport cython
from libc.math cimport NAN, cos, fabs, isfinite, sin, sqrt
from libc.stdint cimport int64_t, uint8_t
from libc.stdlib cimport free, malloc
from libc.string cimport memchr

cdef extern from *:
    """
    /* cand[m] = 1 where r[m] rises from the left and does not rise to the right;
       restrict-qualified so that the byte stores cannot alias r: vectorised */
    static void somacore_xcorr_cand(const double *restrict r, unsigned char *restrict cand,
                                    Py_ssize_t lo, Py_ssize_t hi) {
        for (Py_ssize_t m = lo; m < hi; m++)
            cand[m] = (unsigned char)((r[m] > r[m - 1]) & (r[m] >= r[m + 1]));
    }
    """
    void _rising_tops "somacore_xcorr_cand"(const double* r, uint8_t* cand, Py_ssize_t lo,
                                             Py_ssize_t hi) noexcept nogil

import numpy as np

cdef enum:
    # flags per (pair, window); mirror somacore.synchrony.xcorr
    F_GAP = 1          # a non-finite sample in the window of i or a lagged window of j
    F_CONST_I = 2      # the window of person i is constant (r undefined at every lag)
    F_CONST_J = 4      # a lagged window of person j is constant (r undefined at that lag)
    F_NO_PEAK = 8      # no peak found in a complete row (peak="boker")
    # peak modes
    PEAK_MAX = 0
    PEAK_BOKER = 1


@cython.final
cdef class WindowSums:
    """Sums, sums of squares, gap counts and change counts of sliding windows.

    ``compute(v, bad, chg, starts, W, out_s, out_ss, out_nbad, out_nchg)``
    fills, for every window ``[a, a + W)`` with ``a = starts[k]`` (sorted):
    ``out_s[k] = sum v``, ``out_ss[k] = sum v**2``, ``out_nbad[k] = sum bad``
    and ``out_nchg[k] = sum chg[a : a + W - 1]`` (``chg[t]`` is 1 when sample
    ``t + 1`` differs from sample ``t``, so 0 means a constant window). The
    float sums slide from window to window and are recomputed from scratch
    every ``refresh`` windows, which bounds rounding drift.
    """

    cdef public int refresh

    def __cinit__(self, int refresh=32):
        self.refresh = refresh

    def compute(self, const double[::1] v, const uint8_t[::1] bad, const uint8_t[::1] chg,
                const int64_t[::1] starts, Py_ssize_t W, double[::1] out_s,
                double[::1] out_ss, int64_t[::1] out_nbad, int64_t[::1] out_nchg):
        cdef Py_ssize_t nw = starts.shape[0]
        cdef Py_ssize_t k, t, a, a0, d
        cdef double s = 0.0, ss = 0.0, u
        cdef int64_t nb = 0, nc = 0
        cdef int since = 0
        with nogil:
            for k in range(nw):
                a = starts[k]
                if k == 0 or since >= self.refresh or a - a0 >= W or a < a0:
                    s = 0.0
                    ss = 0.0
                    nb = 0
                    nc = 0
                    for t in range(a, a + W):
                        u = v[t]
                        s += u
                        ss += u * u
                        nb += bad[t]
                    for t in range(a, a + W - 1):
                        nc += chg[t]
                    since = 0
                else:
                    d = a - a0
                    for t in range(a0, a):
                        u = v[t]
                        s -= u
                        ss -= u * u
                        nb -= bad[t]
                        nc -= chg[t]
                    for t in range(a0 + W, a + W):
                        u = v[t]
                        s += u
                        ss += u * u
                        nb += bad[t]
                    for t in range(a0 + W - 1, a + W - 1):
                        nc += chg[t]
                    since += 1
                a0 = a
                out_s[k] = s
                out_ss[k] = ss
                out_nbad[k] = nb
                out_nchg[k] = nc


cdef void _segment_rows(const double** E, Py_ssize_t nb, Py_ssize_t k1, Py_ssize_t n2,
                       const double* tw, double** out, Py_ssize_t b0,
                       Py_ssize_t refresh) noexcept nogil:
    # out[k] = Y of block b0 + k from E[k + 1 .. k + 1 + k1] (E[0] is the extension block
    # before the first one, out[-1] its Y, both only read when sliding on from them).
    # A block whose absolute index is a multiple of `refresh` (and a first block
    # without a predecessor) is summed directly; the others slide from the previous
    # one, so the result does not depend on how the blocks are split into calls.
    cdef Py_ssize_t k, f, j
    cdef double* o
    cdef const double* pv
    cdef const double* eo
    cdef const double* en
    cdef const double* t
    cdef const double* ti = tw + n2
    cdef const double* t2 = tw + k1 * n2
    cdef double ar, ai, br, bi, er, ei
    for k in range(nb):
        o = out[k + 1]
        pv = out[k]
        if (b0 + k) % refresh == 0 or pv == NULL or E[k] == NULL:
            for f in range(n2):
                o[f] = 0.0
            for j in range(k1 + 1):
                en = E[k + 1 + j]
                t = tw + j * n2
                for f in range(0, n2, 2):
                    o[f] += t[f] * en[f] - t[f + 1] * en[f + 1]
                    o[f + 1] += t[f] * en[f + 1] + t[f + 1] * en[f]
        else:
            eo = E[k]
            en = E[k + 1 + k1]
            for f in range(0, n2, 2):
                ar = pv[f] - eo[f]
                ai = pv[f + 1] - eo[f + 1]
                er = en[f]
                ei = en[f + 1]
                # (a) * conj(w) + w^k1 * e
                br = ar * ti[f] + ai * ti[f + 1]
                bi = ai * ti[f] - ar * ti[f + 1]
                o[f] = br + (t2[f] * er - t2[f + 1] * ei)
                o[f + 1] = bi + (t2[f] * ei + t2[f + 1] * er)


@cython.final
cdef class SegmentSpectra:
    """Spectra of the partner's lag segments, slid from the block spectra.

    When a lag segment of the partner is ``K`` consecutive ``g``-blocks
    ``e = b .. b + K - 1`` of an extended block sequence (e.g. ``M = q g``
    samples on one side of a block: ``K = q + 1``), its spectrum (all
    zero-padded to ``nfft``) is ``Y_b(f) = sum_j w^j E_{b+j}(f)`` with
    ``w = exp(-2i pi f g / nfft)``. One sliding step per block,
    ``Y_b = (Y_{b-1} - E_{b-1}) / w + w^{K-1} E_{b+K-1}`` (two complex
    products per bin instead of an FFT), summed directly every ``refresh``
    blocks, which bounds the rounding drift. Complex spectra are interleaved
    float64.

    The constructor takes ``K``, ``g``, ``nfft`` and builds the twiddle table
    once. ``run(E, out, refresh)`` writes ``out[b] = Y_b`` for
    ``b < out.shape[0]`` (``E`` has ``out.shape[0] + K - 1`` rows).
    ``run_rows(Et, erow, Ot, orow, b0, refresh)`` is the gathered form used by
    the engine's rings and shared tables: block ``b0 + k`` (``k <
    orow.shape[0] - 1``) is written to row ``orow[k + 1]`` of ``Ot``, from rows
    ``erow[k + 1 .. k + K]`` of ``Et``; ``erow[0]`` / ``orow[0]`` name
    the extension block and the ``Y`` before the first one (-1: none), from
    which the first block slides on unless ``b0`` is a multiple of
    ``refresh``.
    """

    cdef double* tw
    cdef Py_ssize_t k1, n2

    def __cinit__(self, Py_ssize_t K, Py_ssize_t g, Py_ssize_t nfft):
        cdef Py_ssize_t nf = nfft // 2 + 1
        # powers w^0 .. w^max(K - 1, 1): the sliding step needs w^1 even when K = 1
        cdef Py_ssize_t nt = max(K, 2)
        cdef Py_ssize_t j, f
        cdef double ang
        cdef double two_pi = 6.283185307179586
        self.k1 = K - 1
        self.n2 = 2 * nf
        self.tw = <double*>malloc(nt * self.n2 * sizeof(double))
        if self.tw == NULL:
            raise MemoryError()
        # tw[j] = w^j per bin, from exact angles ((f * j * g) mod nfft); the sliding
        # step uses w^-1 = conj(w^1) and w^(K-1)
        for j in range(nt):
            for f in range(nf):
                ang = -two_pi * <double>((f * j * g) % nfft) / <double>nfft
                self.tw[j * self.n2 + 2 * f] = cos(ang)
                self.tw[j * self.n2 + 2 * f + 1] = sin(ang)

    def __dealloc__(self):
        free(self.tw)

    def run(self, const double[:, ::1] E, double[:, ::1] out, Py_ssize_t refresh=32):
        cdef Py_ssize_t nb = out.shape[0]
        cdef Py_ssize_t k
        cdef const double** ep = <const double**>malloc((nb + self.k1 + 1) * sizeof(void*))
        cdef double** op = <double**>malloc((nb + 1) * sizeof(void*))
        try:
            if ep == NULL or op == NULL:
                raise MemoryError()
            ep[0] = NULL
            op[0] = NULL
            for k in range(nb + self.k1):
                ep[k + 1] = &E[k, 0]
            for k in range(nb):
                op[k + 1] = &out[k, 0]
            with nogil:
                _segment_rows(ep, nb, self.k1, self.n2, self.tw, op, 0, refresh)
        finally:
            free(ep)
            free(op)

    def run_rows(self, const double[:, ::1] Et, const int64_t[::1] erow, double[:, ::1] Ot,
                 const int64_t[::1] orow, Py_ssize_t b0, Py_ssize_t refresh=32):
        cdef Py_ssize_t nb = orow.shape[0] - 1
        cdef Py_ssize_t k
        cdef const double** ep = <const double**>malloc((nb + self.k1 + 1) * sizeof(void*))
        cdef double** op = <double**>malloc((nb + 1) * sizeof(void*))
        try:
            if ep == NULL or op == NULL:
                raise MemoryError()
            for k in range(nb + self.k1 + 1):
                ep[k] = NULL if erow[k] < 0 else &Et[erow[k], 0]
            for k in range(nb + 1):
                op[k] = NULL if orow[k] < 0 else &Ot[orow[k], 0]
            with nogil:
                _segment_rows(ep, nb, self.k1, self.n2, self.tw, op, b0, refresh)
        finally:
            free(ep)
            free(op)


cdef inline void _cross_add(double* o, const double* xb, const double* yb,
                            Py_ssize_t n2) noexcept nogil:
    # o += conj(x) * y
    cdef Py_ssize_t f
    cdef double xr, xi, yr, yi
    for f in range(0, n2, 2):
        xr = xb[f]
        xi = xb[f + 1]
        yr = yb[f]
        yi = yb[f + 1]
        o[f] += xr * yr + xi * yi
        o[f + 1] += xr * yi - xi * yr


cdef inline void _cross_slide(double* o, const double* prev, const double* xn,
                              const double* yn, const double* xo, const double* yo,
                              Py_ssize_t n2) noexcept nogil:
    # o = prev + (conj(xn) * yn - conj(xo) * yo): the product of the leaving block is
    # formed by the same operations as when it entered, so it cancels exactly
    cdef Py_ssize_t f
    cdef double pr, pim, qr, qi
    for f in range(0, n2, 2):
        pr = xn[f] * yn[f] + xn[f + 1] * yn[f + 1]
        pim = xn[f] * yn[f + 1] - xn[f + 1] * yn[f]
        qr = xo[f] * yo[f] + xo[f + 1] * yo[f + 1]
        qi = xo[f] * yo[f + 1] - xo[f + 1] * yo[f]
        o[f] = prev[f] + (pr - qr)
        o[f + 1] = prev[f + 1] + (pim - qi)


cdef inline bint _summed_directly(Py_ssize_t w, Py_ssize_t t, Py_ssize_t refresh,
                                  bint has_state, Py_ssize_t B, Py_ssize_t adv) noexcept nogil:
    # The sliding schedule of slide_pair and slide_pair_packed: window w (the t-th of
    # this call) is summed from its blocks when its index is a multiple of refresh
    # (bounded drift; the same windows whatever the split into calls), when there is
    # no previous window to slide from, or when sliding would touch as many blocks.
    return w % refresh == 0 or (t == 0 and not has_state) or B <= 2 * adv


def slide_pair(const double[:, ::1] Xt, const int64_t[::1] xrow, const double[:, ::1] Yt,
               const int64_t[::1] yrow, Py_ssize_t B, Py_ssize_t adv, Py_ssize_t w0,
               Py_ssize_t refresh, double[::1] state, bint has_state, double[:, ::1] out):
    """Sliding sums of cross-spectra ``conj(X_b) * Y_b`` over the blocks of windows.

    Spectra are interleaved complex float64 rows of the tables ``Xt`` / ``Yt``;
    ``xrow[k]`` / ``yrow[k]`` is the row of block ``(w0 - 1) * adv + k`` of
    person i (X) and j (Y). ``out[t]`` receives the sum over the ``B`` blocks
    ``(w0 + t) * adv .. (w0 + t) * adv + B - 1`` of window ``w0 + t``. A window
    whose index is a multiple of ``refresh`` (or the first one when
    ``has_state`` is false) is summed directly; the others slide from the one
    before (``state`` for ``t = 0``): add the entering blocks' products,
    subtract the leaving ones', recomputed bit for bit. ``state`` receives the
    last row. The schedule depends on the window index only, so any split of
    the windows into calls gives the same sums.
    """
    cdef Py_ssize_t nw = out.shape[0]
    cdef Py_ssize_t n2 = Xt.shape[1]
    cdef Py_ssize_t t, k, f, kb
    cdef double* o
    cdef const double* prev
    with nogil:
        for t in range(nw):
            o = &out[t, 0]
            kb = (t + 1) * adv
            if _summed_directly(w0 + t, t, refresh, has_state, B, adv):
                for f in range(n2):
                    o[f] = 0.0
                for k in range(kb, kb + B):
                    _cross_add(o, &Xt[xrow[k], 0], &Yt[yrow[k], 0], n2)
            else:
                prev = &state[0] if t == 0 else &out[t - 1, 0]
                # first entering / leaving pair in one pass, the rest (adv > 1) added on
                _cross_slide(o, prev, &Xt[xrow[kb + B - adv], 0], &Yt[yrow[kb + B - adv], 0],
                             &Xt[xrow[kb - adv], 0], &Yt[yrow[kb - adv], 0], n2)
                for k in range(1, adv):
                    _cross_slide(o, o, &Xt[xrow[kb + B - adv + k], 0],
                                 &Yt[yrow[kb + B - adv + k], 0], &Xt[xrow[kb - adv + k], 0],
                                 &Yt[yrow[kb - adv + k], 0], n2)
        if nw > 0:
            for f in range(n2):
                state[f] = out[nw - 1, f]


cdef inline void _packed_step(double* o, const double* prev, const double* xn,
                              const double* ln, const double* rn, const double* xo,
                              const double* lo, const double* ro, Py_ssize_t nh,
                              bint slide) noexcept nogil:
    # o = prev + packed(dA, dB) (or o += packed(dA, dB) when prev == o): dA, dB are
    # conj(xn) * ln - conj(xo) * lo and the same with the right halves (xo, lo, ro
    # NULL: no leaving block). Packed: Z[f] = A[f] + i B[f] for f <= nh / 2 and
    # Z[nh - f] = conj(A[f]) + i conj(B[f]), the full spectrum whose inverse FFT
    # has the left half's correlation as real part and the right half's as
    # imaginary part.
    cdef Py_ssize_t f, h = nh // 2, k
    cdef double ar, ai, br, bi
    for f in range(h + 1):
        k = 2 * f
        ar = xn[k] * ln[k] + xn[k + 1] * ln[k + 1]
        ai = xn[k] * ln[k + 1] - xn[k + 1] * ln[k]
        br = xn[k] * rn[k] + xn[k + 1] * rn[k + 1]
        bi = xn[k] * rn[k + 1] - xn[k + 1] * rn[k]
        if slide:
            ar = ar - (xo[k] * lo[k] + xo[k + 1] * lo[k + 1])
            ai = ai - (xo[k] * lo[k + 1] - xo[k + 1] * lo[k])
            br = br - (xo[k] * ro[k] + xo[k + 1] * ro[k + 1])
            bi = bi - (xo[k] * ro[k + 1] - xo[k + 1] * ro[k])
        o[k] = prev[k] + (ar - bi)
        o[k + 1] = prev[k + 1] + (ai + br)
        if 0 < f < nh - f:
            k = 2 * (nh - f)
            o[k] = prev[k] + (ar + bi)
            o[k + 1] = prev[k + 1] + (br - ai)


def slide_pair_packed(const double[:, ::1] Xt, const int64_t[::1] xrow,
                      const double[:, ::1] Yt, const int64_t[::1] lrow,
                      const int64_t[::1] rrow, Py_ssize_t B, Py_ssize_t adv, Py_ssize_t w0,
                      Py_ssize_t refresh, Py_ssize_t nh, double[::1] state, bint has_state,
                      double[:, ::1] out):
    """:func:`slide_pair` for the lags in two halves, both sums in one spectrum.

    ``lrow`` / ``rrow`` are the rows of the left and right half segments of
    each block (as ``yrow`` in :func:`slide_pair`). ``out[t]`` (``2 nh``
    doubles: ``nh`` interleaved complex bins) receives the packed full
    spectrum ``Z = A + i B`` of window ``w0 + t`` (``A``, ``B``: the left and
    right sums, Hermitian halves of length ``nh / 2 + 1``): one complex
    inverse FFT of length ``nh`` gives the left correlation as real part and
    the right one as imaginary part (cheaper than two real inverse FFTs).
    The schedule (direct sums at multiples of ``refresh``, sliding otherwise,
    the leaving products recomputed bit for bit) is that of :func:`slide_pair`.
    """
    cdef Py_ssize_t nw = out.shape[0]
    cdef Py_ssize_t n2 = out.shape[1]
    cdef Py_ssize_t t, k, f, kb
    cdef double* o
    cdef const double* prev
    with nogil:
        for t in range(nw):
            o = &out[t, 0]
            kb = (t + 1) * adv
            if _summed_directly(w0 + t, t, refresh, has_state, B, adv):
                for f in range(n2):
                    o[f] = 0.0
                for k in range(kb, kb + B):
                    _packed_step(o, o, &Xt[xrow[k], 0], &Yt[lrow[k], 0], &Yt[rrow[k], 0],
                                 NULL, NULL, NULL, nh, False)
            else:
                prev = &state[0] if t == 0 else &out[t - 1, 0]
                _packed_step(o, prev, &Xt[xrow[kb + B - adv], 0], &Yt[lrow[kb + B - adv], 0],
                             &Yt[rrow[kb + B - adv], 0], &Xt[xrow[kb - adv], 0],
                             &Yt[lrow[kb - adv], 0], &Yt[rrow[kb - adv], 0], nh, True)
                for k in range(1, adv):
                    _packed_step(o, o, &Xt[xrow[kb + B - adv + k], 0],
                                 &Yt[lrow[kb + B - adv + k], 0], &Yt[rrow[kb + B - adv + k], 0],
                                 &Xt[xrow[kb - adv + k], 0], &Yt[lrow[kb - adv + k], 0],
                                 &Yt[rrow[kb - adv + k], 0], nh, True)
        if nw > 0:
            for f in range(n2):
                state[f] = out[nw - 1, f]


cdef inline Py_ssize_t _peak_max(const double* r, Py_ssize_t nl, Py_ssize_t M) noexcept nogil:
    # Largest r (ties: nearest lag 0, the negative lag at equal distance), for a
    # row without NaN: the maximum in four independent running maxima (the
    # maximum of a finite set does not depend on the order), then the nearest
    # index holding it.
    cdef double m0 = r[0], m1 = r[0], m2 = r[0], m3 = r[0]
    cdef Py_ssize_t m, d, n4 = nl - nl % 4
    for m in range(0, n4, 4):
        m0 = r[m] if r[m] > m0 else m0
        m1 = r[m + 1] if r[m + 1] > m1 else m1
        m2 = r[m + 2] if r[m + 2] > m2 else m2
        m3 = r[m + 3] if r[m + 3] > m3 else m3
    for m in range(n4, nl):
        m0 = r[m] if r[m] > m0 else m0
    m0 = m1 if m1 > m0 else m0
    m0 = m2 if m2 > m0 else m0
    m0 = m3 if m3 > m0 else m0
    for d in range(M + 1):
        if r[M - d] == m0:
            return M - d
        if r[M + d] == m0:
            return M + d
    return M


cdef inline bint _span_max(const double* r, Py_ssize_t m, Py_ssize_t span) noexcept nogil:
    cdef Py_ssize_t q
    for q in range(m - span, m + span + 1):
        if r[q] > r[m]:
            return False
    return True


cdef inline Py_ssize_t _peak_boker(const double* r, uint8_t* cand, Py_ssize_t nl,
                                   Py_ssize_t M, Py_ssize_t span) noexcept nogil:
    # Local maximum nearest to lag 0 (index M). A peak at index m: interior
    # (span <= m < nl - span), r[m] > r[m - 1], r[m] >= r[m + 1] and r[m] is
    # the maximum of r[m - span .. m + span]. At equal distance from lag 0
    # the larger r wins (the positive lag on an exact tie). -1 if none.
    # The neighbour test runs over the whole row in one branch-free pass
    # (`cand`); only its few hits get the span test, nearest first on each side.
    cdef Py_ssize_t lo = span if span > 1 else 1
    cdef Py_ssize_t hi = nl - span if nl - span < nl - 1 else nl - 1
    cdef Py_ssize_t m, right = -1, left = -1
    cdef const uint8_t* hit
    if hi <= lo:
        return -1
    _rising_tops(r, cand, lo, hi)
    m = M if M > lo else lo
    while m < hi:
        hit = <const uint8_t*>memchr(cand + m, 1, hi - m)  # next candidate to the right
        if hit == NULL:
            break
        m = hit - cand
        if _span_max(r, m, span):
            right = m
            break
        m += 1
    m = M - 1 if M - 1 < hi - 1 else hi - 1
    while m >= lo:
        if right >= 0 and M - m > right - M:
            break  # farther than the peak found on the right
        if cand[m] and _span_max(r, m, span):
            left = m
            break
        m -= 1
    if left < 0:
        return right
    if right < 0 or M - left < right - M:
        return left
    if right - M < M - left:
        return right
    return right if r[right] >= r[left] else left


cdef inline void _r_span(double* dst, const double* c, const double* yv, const double* iv,
                         double mx, double isx, Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    # r at lag indices a..b-1 (branch-free, vectorised). An unusable partner window
    # has iv = NaN, so its r stays NaN through the clamps.
    cdef Py_ssize_t m
    cdef double r
    for m in range(a, b):
        r = (c[m] - mx * yv[m]) * isx * iv[m]
        r = 1.0 if r > 1.0 else r
        dst[m] = -1.0 if r < -1.0 else r


cdef inline void _r_any(double* dst, const double* c, bint packed, Py_ssize_t M,
                        const double* yv, const double* iv, double mx, double isx,
                        Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    # _r_span on a plain Sxy row, or on the interleaved complex row of the packed
    # halves: lag index m < M at c[2m] (real part), m >= M at c[2(m - M) + 1]
    cdef Py_ssize_t m, e
    cdef double r
    if not packed:
        _r_span(dst, c, yv, iv, mx, isx, a, b)
        return
    e = b if b < M else M
    for m in range(a, e):
        r = (c[2 * m] - mx * yv[m]) * isx * iv[m]
        r = 1.0 if r > 1.0 else r
        dst[m] = -1.0 if r < -1.0 else r
    e = a if a > M else M
    for m in range(e, b):
        r = (c[2 * (m - M) + 1] - mx * yv[m]) * isx * iv[m]
        r = 1.0 if r > 1.0 else r
        dst[m] = -1.0 if r < -1.0 else r


cdef Py_ssize_t _peak_boker_lazy(double* dst, uint8_t* cand, const double* c, bint packed,
                                 const double* yv, const double* iv, double mx, double isx,
                                 Py_ssize_t nl, Py_ssize_t M, Py_ssize_t span) noexcept nogil:
    # _peak_boker on a row whose r is formed only where the search looks: outward
    # from lag 0 in slices, so a peak near lag 0 costs a fraction of the row. Same
    # result as _peak_boker on the full row: a candidate is judged only when r is
    # known on its whole span, and each side's nearest valid peak is found first.
    cdef Py_ssize_t lo = span if span > 1 else 1
    cdef Py_ssize_t hi = nl - span if nl - span < nl - 1 else nl - 1
    cdef Py_ssize_t step = 256 if 256 > 2 * span else 2 * span
    cdef Py_ssize_t A, Z, A2, Z2, m, lim, floor, right = -1, left = -1
    cdef const uint8_t* hit
    if hi <= lo:
        return -1
    A = M - step - span if M - step - span > 0 else 0
    Z = M + step + span + 1 if M + step + span + 1 < nl else nl
    _r_any(dst, c, packed, M, yv, iv, mx, isx, A, Z)
    # right side: candidates m >= M, judged once r is known on m - span .. m + span
    m = M if M > lo else lo
    while m < hi:
        lim = hi if Z == nl else (Z - span if Z - span < hi else hi)
        if lim > m:
            _rising_tops(dst, cand, m, lim)
            while m < lim:
                hit = <const uint8_t*>memchr(cand + m, 1, lim - m)
                if hit == NULL:
                    m = lim
                    break
                m = hit - cand
                if _span_max(dst, m, span):
                    right = m
                    break
                m += 1
        if right >= 0 or lim >= hi:
            break
        Z2 = Z + step if Z + step < nl else nl
        _r_any(dst, c, packed, M, yv, iv, mx, isx, Z, Z2)
        Z = Z2
    # left side, no farther than the right peak
    floor = lo if right < 0 else (2 * M - right if 2 * M - right > lo else lo)
    m = M - 1 if M - 1 < hi - 1 else hi - 1
    while m >= floor:
        lim = floor if A == 0 else (A + span if A + span > floor else floor)
        if m >= lim:
            _rising_tops(dst, cand, lim, m + 1)
            while m >= lim:
                if cand[m] and _span_max(dst, m, span):
                    left = m
                    break
                m -= 1
        if left >= 0 or lim <= floor:
            break
        A2 = A - step if A - step > 0 else 0
        _r_any(dst, c, packed, M, yv, iv, mx, isx, A2, A)
        A = A2
    if left < 0:
        return right
    if right < 0 or M - left < right - M:
        return left
    if right - M < M - left:
        return right
    return right if dst[right] >= dst[left] else left


@cython.final
cdef class PearsonRows:
    """Pearson r per lag from ``Sxy`` rows, with peak picking.

    Parameters (constructor): window length ``W``, maximal lag ``M`` (lags
    ``-M..M``, ``nl = 2M + 1``), peak mode (0: maximum over lags, 1: local
    maximum nearest to lag 0 within ``span`` lags) and ``span``.

    ``lagged(xc, bad, chg, people, t0, ys, iy, code, nz)`` prepares, for every
    listed person (as partner ``j``), the sums of the length-``W`` windows
    starting at every sample ``t0 + k`` (``k < L``): ``ys[p, k]``,
    ``iy[p, k] = 1 / sqrt(Syy - Sy^2 / W)``, ``code[p, k]`` (0, or the reason
    the window is unusable: a gap or a constant window; ``iy`` is then NaN)
    and ``nz[p, k]``, the number of unusable windows before ``k`` (so a row
    of lags is checked in O(1)). Consecutive windows overlap at every lag, so
    one O(1) slide per sample serves all windows and lags of a chunk
    (restarted from scratch every ``max(4096, W)`` samples, which bounds
    rounding drift at under one extra pass of the data).
    These per-position arrays belong to the partner alone and are shared by
    all of its pairs.

    ``run_pair(C, i, j, starts, t0, sx, sxx, nbx, ncx, ys, iy, code, nz,
    peak_r, peak_lag, flags, w0, cube, packed)`` handles windows ``w0 ..
    w0 + C.shape[0] - 1`` of pair ``(i, j)``: ``C[w, m]`` is ``Sxy`` at lag
    ``m - M`` (the first ``nl`` entries of each row; with ``packed``, each row
    is the complex inverse FFT of :func:`slide_pair_packed`, interleaved), ``starts`` all window
    starts, ``t0`` the first sample covered by ``ys``/``iy``/``code``/``nz``,
    ``sx``/``sxx``/``nbx``/``ncx`` the window sums of every person at lag 0
    (all windows). Results go to the pair's rows ``peak_r``, ``peak_lag`` (in
    samples, NaN when undefined) and ``flags`` at column ``w0 + w``; ``cube``
    (the pair's (n_windows, nl) slice, or None) receives the r rows. Each row
    is formed in a small buffer and its peak picked while it is in cache.
    """

    cdef Py_ssize_t W, M, nl, span
    cdef int mode

    def __cinit__(self, Py_ssize_t W, Py_ssize_t M, int mode, Py_ssize_t span):
        self.W = W
        self.M = M
        self.nl = 2 * M + 1
        self.mode = mode
        self.span = span

    def lagged(self, const double[:, ::1] xc, const uint8_t[:, ::1] bad,
               const uint8_t[:, ::1] chg, const int64_t[::1] people, Py_ssize_t t0,
               double[:, ::1] ys_out, double[:, ::1] iy_out, uint8_t[:, ::1] code_out,
               int64_t[:, ::1] nz_out):
        cdef Py_ssize_t L = ys_out.shape[1]
        cdef Py_ssize_t W = self.W
        cdef double invW = 1.0 / <double>W
        cdef Py_ssize_t q, p, k, t, ya
        cdef Py_ssize_t every = W if W > 4096 else 4096
        cdef double ys = 0.0, yss = 0.0, vy, u0, u1
        cdef int64_t nb = 0, nc = 0, nz = 0
        cdef uint8_t code
        cdef const double* xr
        cdef const uint8_t* br
        cdef const uint8_t* cr
        with nogil:
            for q in range(people.shape[0]):
                p = people[q]
                xr = &xc[p, 0]
                br = &bad[p, 0]
                cr = &chg[p, 0]
                nz = 0
                for k in range(L):
                    ya = t0 + k
                    if k % every == 0:
                        # (re)start the sums of [ya, ya + W) from scratch: bounded drift
                        ys = 0.0
                        yss = 0.0
                        nb = 0
                        nc = 0
                        for t in range(ya, ya + W):
                            ys += xr[t]
                            yss += xr[t] * xr[t]
                            nb += br[t]
                        for t in range(ya, ya + W - 1):
                            nc += cr[t]
                    code = 0
                    if nb > 0:
                        code = F_GAP
                    elif nc == 0:
                        code = F_CONST_J
                    vy = yss - ys * ys * invW
                    if code == 0 and not vy > 0.0:
                        code = F_CONST_J
                    ys_out[p, k] = ys
                    iy_out[p, k] = NAN if code else 1.0 / sqrt(vy)
                    code_out[p, k] = code
                    nz_out[p, k] = nz
                    nz += code != 0
                    if k + 1 < L and (k + 1) % every != 0:
                        # slide [ya, ya + W) -> [ya + 1, ya + W + 1)
                        u0 = xr[ya]
                        u1 = xr[ya + W]
                        ys += u1 - u0
                        yss += u1 * u1 - u0 * u0
                        nb += br[ya + W] - br[ya]
                        nc += cr[ya + W - 1] - cr[ya]
                nz_out[p, L] = nz

    def run_pair(self, const double[:, ::1] C, Py_ssize_t i, Py_ssize_t j,
                 const int64_t[::1] starts, Py_ssize_t t0,
                 const double[:, ::1] sx, const double[:, ::1] sxx,
                 const int64_t[:, ::1] nbx, const int64_t[:, ::1] ncx,
                 const double[:, ::1] ys_in, const double[:, ::1] iy_in,
                 const uint8_t[:, ::1] code_in, const int64_t[:, ::1] nz_in,
                 double[::1] peak_r, double[::1] peak_lag, uint8_t[::1] flags,
                 Py_ssize_t w0, double[:, ::1] cube=None, bint packed=False):
        cdef Py_ssize_t nw = C.shape[0]
        cdef Py_ssize_t M = self.M, nl = self.nl
        cdef double invW = 1.0 / <double>self.W
        cdef bint keep = cube is not None
        cdef double* row = <double*>malloc(nl * sizeof(double))
        cdef uint8_t* cand = <uint8_t*>malloc(nl)
        cdef Py_ssize_t w, m, best, off, k
        cdef double vx, mx, isx, r, mxv
        cdef const uint8_t* cv
        cdef uint8_t fl
        cdef bint complete
        cdef const double* c
        cdef const double* yv
        cdef const double* iv
        cdef double* dst
        if row == NULL or cand == NULL:
            free(row)
            free(cand)
            raise MemoryError()
        try:
            with nogil:
                for w in range(nw):
                    k = w0 + w
                    fl = 0
                    mx = sx[i, k] * invW
                    vx = sxx[i, k] - sx[i, k] * mx
                    if nbx[i, k] > 0:
                        fl = F_GAP
                    elif ncx[i, k] == 0 or not vx > 0.0:
                        fl = F_CONST_I
                    dst = &cube[k, 0] if keep else row
                    off = starts[k] - M - t0
                    complete = False
                    if fl:
                        if keep:
                            for m in range(nl):
                                dst[m] = NAN
                    else:
                        isx = 1.0 / sqrt(vx)
                        c = &C[w, 0]
                        yv = &ys_in[j, off]
                        iv = &iy_in[j, off]
                        if nz_in[j, off + nl] != nz_in[j, off]:
                            cv = &code_in[j, off]
                            for m in range(nl):
                                fl |= cv[m]
                        complete = fl == 0
                        if keep or self.mode == PEAK_MAX:
                            _r_any(dst, c, packed, M, yv, iv, mx, isx, 0, nl)
                    best = -1
                    if complete:
                        if self.mode == PEAK_MAX:
                            best = _peak_max(dst, nl, M)
                        elif keep:
                            best = _peak_boker(dst, cand, nl, M, self.span)
                        else:  # only the peak is wanted: r formed outward from lag 0
                            best = _peak_boker_lazy(dst, cand, c, packed, yv, iv, mx, isx,
                                                    nl, M, self.span)
                        if best < 0 and self.mode != PEAK_MAX:
                            fl |= F_NO_PEAK
                    if best >= 0:
                        peak_r[k] = dst[best]
                        peak_lag[k] = <double>(best - M)
                    else:
                        peak_r[k] = NAN
                        peak_lag[k] = NAN
                    flags[k] = fl
        finally:
            free(row)
            free(cand)
