# cython: language_level=3
"""Windowed lagged cross-correlation kernels (private).

Contract (see somacore/_core/__init__.py): nothing is validated here; the
public layer (:mod:`somacore.synchrony.xcorr`) checks the input, designs the
windows in samples, centres the data, replaces non-finite samples by 0 and
builds the per-sample masks. Every loop below runs without the GIL on typed
memoryviews, so several threads (one per group of pairs) run in parallel.

The engine computes, for pair (i, j), window k starting at sample ``a_k`` of
length ``W`` and every lag ``L`` in ``-M..M``::

    Sxy(k, L) = sum_{t < W} x_i[a_k + t] * x_j[a_k + L + t]

from block spectra: the window is cut into ``B`` blocks of ``g`` samples; for
block ``b`` the spectrum ``conj(X_b) * Y_b`` (``X_b``: the block of person i,
``Y_b``: the segment of person j from ``M`` samples before the block to ``M``
samples after it, both zero-padded to the FFT length) is the block's lagged
dot products over all lags. Because the inverse FFT is linear, the spectra
of the ``B`` blocks of a window are summed first and inverted once per
window; consecutive windows share all but ``adv`` blocks, so the sum slides
(:class:`BlockSpectraSlider`). :class:`PearsonRows` then turns ``Sxy`` rows
into Pearson r using window sums of both people and picks the peak of each
row. The partner's lagged window at (window k, lag L) starts at sample
``a_k + L``, so one array of window sums indexed by start sample (slid once
over the samples of a chunk) serves every window and lag.

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


@cython.final
cdef class SegmentSpectra:
    """Spectra of the partner's lag segments, slid from the block spectra.

    When ``M`` is a multiple ``q * g`` of the block length, the segment of
    person j for block ``b`` (``M`` samples before the block to ``M`` after)
    is the ``2q + 1`` consecutive blocks ``e = b .. b + 2q`` of an extended
    block sequence, so its spectrum (all zero-padded to ``nfft``) is
    ``Y_b(f) = sum_j w^j E_{b+j}(f)`` with ``w = exp(-2i pi f g / nfft)``.
    ``run(E, q, g, nfft, out, refresh)`` writes ``out[b] = Y_b`` for
    ``b < out.shape[0]`` (``E`` has ``out.shape[0] + 2q`` rows; complex as
    interleaved float64): one sliding step per block,
    ``Y_b = (Y_{b-1} - E_{b-1}) / w + w^{2q} E_{b+2q}`` (two complex products
    per bin instead of an FFT), summed directly every ``refresh`` blocks,
    which bounds the rounding drift.
    """

    def run(self, const double[:, ::1] E, Py_ssize_t q, Py_ssize_t g, Py_ssize_t nfft,
            double[:, ::1] out, Py_ssize_t refresh=32):
        cdef Py_ssize_t nb = out.shape[0]
        cdef Py_ssize_t n2 = E.shape[1]
        cdef Py_ssize_t nf = n2 // 2
        cdef Py_ssize_t b, f, j
        # powers w^0 .. w^max(2q, 1): the sliding step needs w^1 even when q = 0
        cdef Py_ssize_t nt = max(2 * q + 1, 2)
        cdef double* tw = <double*>malloc(nt * n2 * sizeof(double))
        cdef double* o
        cdef double* pv
        cdef const double* eo
        cdef const double* en
        cdef const double* t
        cdef const double* ti
        cdef const double* t2
        cdef double ang, ar, ai, br, bi, er, ei
        cdef double two_pi = 6.283185307179586
        if tw == NULL:
            raise MemoryError()
        try:
            with nogil:
                # tw[j] = w^j per bin, from exact angles ((f * j * g) mod nfft); the
                # sliding step uses w^-1 = conj(w^1) and w^2q
                for j in range(nt):
                    for f in range(nf):
                        ang = -two_pi * <double>((f * j * g) % nfft) / <double>nfft
                        tw[j * n2 + 2 * f] = cos(ang)
                        tw[j * n2 + 2 * f + 1] = sin(ang)
                ti = tw + n2
                t2 = tw + 2 * q * n2
                for b in range(nb):
                    o = &out[b, 0]
                    if b % refresh == 0:
                        for f in range(n2):
                            o[f] = 0.0
                        for j in range(2 * q + 1):
                            en = &E[b + j, 0]
                            t = tw + j * n2
                            for f in range(0, n2, 2):
                                o[f] += t[f] * en[f] - t[f + 1] * en[f + 1]
                                o[f + 1] += t[f] * en[f + 1] + t[f + 1] * en[f]
                    else:
                        pv = &out[b - 1, 0]
                        eo = &E[b - 1, 0]
                        en = &E[b + 2 * q, 0]
                        for f in range(0, n2, 2):
                            ar = pv[f] - eo[f]
                            ai = pv[f + 1] - eo[f + 1]
                            er = en[f]
                            ei = en[f + 1]
                            # (a) * conj(w) + w^2q * e
                            br = ar * ti[f] + ai * ti[f + 1]
                            bi = ai * ti[f] - ar * ti[f + 1]
                            o[f] = br + (t2[f] * er - t2[f + 1] * ei)
                            o[f + 1] = bi + (t2[f] * ei + t2[f + 1] * er)
        finally:
            free(tw)


@cython.final
cdef class BlockSpectraSlider:
    """Sliding sums of cross-spectra ``conj(X_b) * Y_b`` over blocks.

    Spectra are complex arrays viewed as float64 with interleaved real and
    imaginary parts: ``X`` and ``Y`` have shape (n_people, n_blocks, 2 * nf).
    ``run(X, Y, pairs, B, adv, out, xoff)`` writes, for window ``w`` of the
    chunk, ``out[p, w] = sum_{b = w*adv}^{w*adv + B - 1} conj(X[i, b + xoff]) * Y[j, b]``
    with ``(i, j) = pairs[p]`` (``xoff`` skips leading rows of ``X``). The first window of each call is summed from
    scratch; later ones slide: the products of the last ``B`` blocks are kept
    in a ring, so each block's product is formed once, added when the block
    enters and subtracted (the stored value) when it leaves. Rounding drift is
    bounded by the chunk length.
    """

    def run(self, const double[:, :, ::1] X, const double[:, :, ::1] Y,
            const int64_t[:, ::1] pairs, Py_ssize_t B, Py_ssize_t adv,
            double[:, :, ::1] out, Py_ssize_t xoff=0):
        cdef Py_ssize_t npair = pairs.shape[0]
        cdef Py_ssize_t nw = out.shape[1]
        cdef Py_ssize_t n2 = X.shape[2]
        cdef Py_ssize_t p, w, b, f, i, j, slot
        cdef double* o
        cdef double* prev
        cdef double* rg
        cdef double* ring = <double*>malloc(B * n2 * sizeof(double))
        cdef const double* xb
        cdef const double* yb
        cdef double xr, xi, yr, yi, pr, pim
        if ring == NULL:
            raise MemoryError()
        try:
            with nogil:
                for p in range(npair):
                    i = pairs[p, 0]
                    j = pairs[p, 1]
                    o = &out[p, 0, 0]
                    for f in range(n2):
                        o[f] = 0.0
                    for b in range(B):
                        rg = ring + (b % B) * n2
                        xb = &X[i, b + xoff, 0]
                        yb = &Y[j, b, 0]
                        for f in range(0, n2, 2):
                            xr = xb[f]
                            xi = xb[f + 1]
                            yr = yb[f]
                            yi = yb[f + 1]
                            pr = xr * yr + xi * yi
                            pim = xr * yi - xi * yr
                            rg[f] = pr
                            rg[f + 1] = pim
                            o[f] += pr
                            o[f + 1] += pim
                    for w in range(1, nw):
                        o = &out[p, w, 0]
                        prev = &out[p, w - 1, 0]
                        for b in range((w - 1) * adv + B, w * adv + B):
                            rg = ring + (b % B) * n2
                            xb = &X[i, b + xoff, 0]
                            yb = &Y[j, b, 0]
                            if b == (w - 1) * adv + B:
                                # first entering block: o = prev + (new - leaving), one pass
                                for f in range(0, n2, 2):
                                    xr = xb[f]
                                    xi = xb[f + 1]
                                    yr = yb[f]
                                    yi = yb[f + 1]
                                    pr = xr * yr + xi * yi
                                    pim = xr * yi - xi * yr
                                    o[f] = prev[f] + (pr - rg[f])
                                    o[f + 1] = prev[f + 1] + (pim - rg[f + 1])
                                    rg[f] = pr
                                    rg[f + 1] = pim
                            else:
                                for f in range(0, n2, 2):
                                    xr = xb[f]
                                    xi = xb[f + 1]
                                    yr = yb[f]
                                    yi = yb[f + 1]
                                    pr = xr * yr + xi * yi
                                    pim = xr * yi - xi * yr
                                    o[f] += pr - rg[f]
                                    o[f + 1] += pim - rg[f + 1]
                                    rg[f] = pr
                                    rg[f + 1] = pim
        finally:
            free(ring)


cdef inline Py_ssize_t _peak_boker(const double* r, Py_ssize_t nl, Py_ssize_t M,
                                   Py_ssize_t span) noexcept nogil:
    # Local maximum nearest to lag 0 (index M). A peak at index m: interior
    # (span <= m < nl - span), r[m] > r[m - 1], r[m] >= r[m + 1] and r[m] is
    # the maximum of r[m - span .. m + span]. At equal distance from lag 0
    # the larger r wins (the positive lag on an exact tie). -1 if none.
    cdef Py_ssize_t d, m, q, best = -1
    cdef int side
    cdef bint ok
    for d in range(M + 1):
        for side in range(2):
            if side == 0:
                m = M + d
            else:
                if d == 0:
                    continue
                m = M - d
            if m < span or m >= nl - span or m < 1 or m >= nl - 1:
                continue
            if not (r[m] > r[m - 1] and r[m] >= r[m + 1]):
                continue
            ok = True
            for q in range(m - span, m + span + 1):
                if r[q] > r[m]:
                    ok = False
                    break
            if ok:
                if best < 0 or r[m] > r[best]:
                    best = m
        if best >= 0:
            return best
    return -1


@cython.final
cdef class PearsonRows:
    """Pearson r per lag from ``Sxy`` rows, with peak picking.

    Parameters (constructor): window length ``W``, maximal lag ``M`` (lags
    ``-M..M``, ``nl = 2M + 1``), peak mode (0: maximum over lags, 1: local
    maximum nearest to lag 0 within ``span`` lags) and ``span``.

    ``lagged(xc, bad, chg, people, t0, ys, iy, code)`` prepares, for every
    listed person (as partner ``j``), the sums of the length-``W`` windows
    starting at every sample ``t0 + k`` (``k < L``): ``ys[p, k]``,
    ``iy[p, k] = 1 / sqrt(Syy - Sy^2 / W)`` and ``code[p, k]`` (0, or the
    reason the window is unusable: a gap or a constant window; ``iy`` is then
    NaN). Consecutive windows overlap at every lag, so one O(1) slide per
    sample serves all windows and lags of a chunk (restarted from scratch
    every 4096 samples, which bounds rounding drift).

    ``run(...)`` handles one chunk of windows: ``C[p, w, m]`` is ``Sxy`` at
    lag ``m - M`` (the first ``nl`` entries of each row), ``starts`` the
    window starts and ``t0`` the first sample covered by ``ys``/``iy``/
    ``code``, ``sx``/``sxx``/``nbx``/``ncx`` the window sums of every person
    at lag 0. Results go to ``peak_r``, ``peak_lag`` (in samples, NaN when
    undefined), ``flags`` at column ``w0 + w``; ``cube`` (or None) receives
    the r rows.
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
               double[:, ::1] ys_out, double[:, ::1] iy_out, uint8_t[:, ::1] code_out):
        cdef Py_ssize_t L = ys_out.shape[1]
        cdef Py_ssize_t W = self.W
        cdef double invW = 1.0 / <double>W
        cdef Py_ssize_t q, p, k, t, ya
        cdef double ys = 0.0, yss = 0.0, vy, u0, u1
        cdef int64_t nb = 0, nc = 0
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
                for k in range(L):
                    ya = t0 + k
                    if k % 4096 == 0:
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
                    if k + 1 < L and (k + 1) % 4096 != 0:
                        # slide [ya, ya + W) -> [ya + 1, ya + W + 1)
                        u0 = xr[ya]
                        u1 = xr[ya + W]
                        ys += u1 - u0
                        yss += u1 * u1 - u0 * u0
                        nb += br[ya + W] - br[ya]
                        nc += cr[ya + W - 1] - cr[ya]

    def run(self, const double[:, :, ::1] C, const int64_t[:, ::1] pairs,
            const int64_t[::1] starts, Py_ssize_t t0,
            const double[:, ::1] sx, const double[:, ::1] sxx,
            const int64_t[:, ::1] nbx, const int64_t[:, ::1] ncx,
            const double[:, ::1] ys_in, const double[:, ::1] iy_in,
            const uint8_t[:, ::1] code_in,
            double[:, ::1] peak_r, double[:, ::1] peak_lag, uint8_t[:, ::1] flags,
            Py_ssize_t w0, double[:, :, ::1] cube=None):
        cdef Py_ssize_t npair = pairs.shape[0]
        cdef Py_ssize_t nw = C.shape[1]
        cdef Py_ssize_t M = self.M, nl = self.nl
        cdef double invW = 1.0 / <double>self.W
        cdef bint keep = cube is not None
        cdef double* row = <double*>malloc(nl * sizeof(double))
        cdef Py_ssize_t p, w, m, i, j, best, off
        cdef double vx, mx, isx, r, mxv
        cdef const uint8_t* cv
        cdef uint8_t fl
        cdef bint complete
        cdef const double* c
        cdef const double* yv
        cdef const double* iv
        cdef double* dst
        if row == NULL:
            raise MemoryError()
        try:
            with nogil:
                for p in range(npair):
                    i = pairs[p, 0]
                    j = pairs[p, 1]
                    for w in range(nw):
                        fl = 0
                        mx = sx[i, w] * invW
                        vx = sxx[i, w] - sx[i, w] * mx
                        if nbx[i, w] > 0:
                            fl = F_GAP
                        elif ncx[i, w] == 0 or not vx > 0.0:
                            fl = F_CONST_I
                        dst = &cube[p, w0 + w, 0] if keep else row
                        if fl:
                            for m in range(nl):
                                dst[m] = NAN
                            complete = False
                        else:
                            isx = 1.0 / sqrt(vx)
                            c = &C[p, w, 0]
                            off = starts[w] - M - t0
                            yv = &ys_in[j, off]
                            iv = &iy_in[j, off]
                            cv = &code_in[j, off]
                            for m in range(nl):
                                r = (c[m] - mx * yv[m]) * isx * iv[m]
                                if r > 1.0:
                                    r = 1.0
                                elif r < -1.0:
                                    r = -1.0
                                dst[m] = r
                                fl |= cv[m]
                            complete = fl == 0
                        best = -1
                        if complete:
                            if self.mode == PEAK_MAX:
                                best = 0
                                mxv = dst[0]
                                for m in range(1, nl):
                                    # strictly larger, or equal and nearer to lag 0
                                    if dst[m] > mxv or (dst[m] == mxv and
                                                        fabs(<double>(m - M)) <
                                                        fabs(<double>(best - M))):
                                        mxv = dst[m]
                                        best = m
                            else:
                                best = _peak_boker(dst, nl, M, self.span)
                                if best < 0:
                                    fl |= F_NO_PEAK
                        if best >= 0:
                            peak_r[p, w0 + w] = dst[best]
                            peak_lag[p, w0 + w] = <double>(best - M)
                        else:
                            peak_r[p, w0 + w] = NAN
                            peak_lag[p, w0 + w] = NAN
                        flags[p, w0 + w] = fl
        finally:
            free(row)
