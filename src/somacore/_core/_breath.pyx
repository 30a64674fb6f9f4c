# cython: language_level=3
"""Stateful breath segmentation kernel (private).

Contract (see somacore/_core/__init__.py): the kernel validates nothing; the
public layer (somacore.breath, somacore.stream) checks fs, shape and dtype and
designs the parameters. One kernel object segments one channel: feed it
samples with ``process`` in any chunking, then call ``flush`` once. Every
decision depends only on samples already seen, so the breaths are identical
for any chunking. The slow oracle is somacore._reference.breath, which states
the algorithm step by step; this file follows it statement for statement.

Stages:

1. feature (at the newest sample ``n``): optional leaky integration (airflow
   -> volume), a causal low-pass ``y`` (detection) and a gentler low-pass
   ``z`` (placing events), written to ring buffers with a per-sample flag;
   non-finite samples and runs of ``flat_len`` identical values are gaps
   (flat runs retroactively, from their first sample);
2. tracker, ``lag`` (= ``flat_len``) samples behind, so gap flags are final
   when it reads them: learning (polarity and initial breath amplitude) over
   the first ``learn`` samples, which are then replayed from the ring, and a
   hysteresis extremum tracker with an adaptive threshold.
"""

cimport cython
from libc.math cimport NAN, fabs, isfinite, log, sqrt
from libc.stdlib cimport free, malloc
from libc.stdint cimport int64_t, uint8_t
from libc.string cimport memset

from _buffers cimport Buf, buf_drain, buf_free, buf_init, buf_push
from _filters cimport Biquad, biquad_settle, biquad_step, load_sections
from _stats cimport MEDIAN_MAX, median_small
from _types cimport sample_t

import numpy as np

cdef enum:
    MAX_SECTIONS = 4
    NBUF = 8
    MAX_BLOCKS = 64
    F_GAP = 1
    F_FIRST = 2                  # first sample of a segment (filters restarted)
    Q_TRUNC_ONSET = 1
    Q_TRUNC_END = 2
    Q_IRREGULAR = 4
    FEAT_BLOCK = 1024            # samples the feature stage runs ahead of the tracker



cdef inline int64_t _max3(int64_t a, int64_t b, int64_t c) noexcept nogil:
    if b > a:
        a = b
    if c > a:
        a = c
    return a


cdef struct Row:
    int64_t on, pk, en
    double ain, aout, pin, pout
    uint8_t q


@cython.final
cdef class BreathKernel:
    # --- parameters ---
    cdef Biquad ms[MAX_SECTIONS]
    cdef Biquad ms0[MAX_SECTIONS]
    cdef Biquad rs[MAX_SECTIONS]
    cdef Biquad rs0[MAX_SECTIONS]
    cdef int nm, nr
    cdef int sign_param, integrate
    cdef double fs, leak, frac, floor_, decay, stall_mult, pause_frac
    cdef int64_t delay, ref_delay, half, learn, block, lag, stall_init, stall_min, stall_max
    cdef int64_t flat_len, span
    # --- feature stage ---
    cdef int64_t n, mask
    cdef double* ry
    cdef double* rz
    cdef uint8_t* rf
    cdef bint started, flat_on
    cdef double prev_x, u
    cdef int64_t run_start
    # --- gap bookkeeping (at the tracker's index) ---
    cdef int64_t t_next          # next index the tracker stage finalises
    cdef bint g_open
    cdef int64_t g_start
    # --- learning ---
    cdef bint learnt
    cdef int64_t lstart
    cdef int sgn
    # --- tracker ---
    cdef double amps[NBUF]
    cdef double ttots[NBUF]
    cdef int apos
    cdef double thr, scale
    cdef int64_t stall
    cdef int mode
    cdef double hi_v, lo_v, trough_z
    cdef int64_t hi_i, lo_i, on_i, seg0, trough_i
    # the stall clock: the last breath emitted (or decay step, or segment start);
    # extrema alone do not count, so a chain of troughs merged into one held
    # breath (a stale typical amplitude) cannot hold it back
    cdef int64_t last_br
    # typical amplitude = median of the last 8 amplitudes x scale; every
    # amplitude-relative rule (threshold, noise cap, merge and shoulder depth,
    # plateau) uses it, so all of them decay during a stall and recover together
    cdef double typ
    cdef bint pend, in_gap
    cdef int64_t p_on, p_pk
    cdef double p_onz, p_pkz
    cdef uint8_t p_q, trough_q
    cdef bint held               # a complete breath waiting for the next peak (merge test)
    cdef int64_t h_on, h_pk, h_en
    cdef double h_onz, h_pkz, h_enz, merge, plateau
    cdef int64_t plateau_ext
    cdef uint8_t h_q
    cdef double shoulder, shoulder_depth   # expiratory-shoulder merge rule
    cdef double balance                    # balance rule (decided at the next trough)
    cdef bint deferred                     # the held breath waits for the balance rule
    # noise floor of the hysteresis; cap = ncap x typical amplitude, updated
    # with it (a median per sample would cost more than the filters)
    cdef double knoise, nalpha, nz, ncap, cap
    cdef int64_t dd                        # delay of y behind z (samples)
    # --- outputs ---
    cdef Buf out                # decided breaths (Row)
    cdef Buf out_g              # gap ranges (pairs of int64)
    cdef bint flushed

    def __cinit__(self, double fs, int sign, bint integrate, double leak,
                  double[:, ::1] main_sos, double[:, ::1] ref_sos, int64_t delay,
                  int64_t ref_delay, int64_t half, int64_t learn, int64_t block, int64_t lag,
                  double frac, double floor, double decay, int64_t stall_init,
                  double stall_mult, int64_t stall_min, int64_t stall_max, double pause_frac,
                  int64_t flat_len, int64_t span, double merge, double plateau,
                  int64_t plateau_ext, double shoulder, double shoulder_depth,
                  double knoise, double nalpha, double ncap, double balance):
        cdef int i
        cdef int64_t size = 1
        if (main_sos.shape[0] > MAX_SECTIONS or ref_sos.shape[0] > MAX_SECTIONS
                or main_sos.shape[1] != 5 or ref_sos.shape[1] != 5):
            raise ValueError("bad filter sections")
        if learn < block or (learn + block - 1) // block > MAX_BLOCKS:
            raise ValueError("bad learning block layout")
        self.nm = main_sos.shape[0]
        self.nr = ref_sos.shape[0]
        load_sections(self.ms0, self.ms, &main_sos[0, 0], self.nm)
        load_sections(self.rs0, self.rs, &ref_sos[0, 0], self.nr)
        self.fs = fs
        self.sign_param = sign
        self.integrate = integrate
        self.leak = leak
        self.delay = delay
        self.ref_delay = ref_delay
        self.half = half
        self.learn = learn
        self.block = block
        self.lag = lag
        self.frac = frac
        self.floor_ = floor
        self.decay = decay
        self.stall_init = stall_init
        self.stall_mult = stall_mult
        self.stall_min = stall_min
        self.stall_max = stall_max
        self.pause_frac = pause_frac
        self.flat_len = flat_len
        self.span = span
        self.merge = merge
        self.plateau = plateau
        self.plateau_ext = plateau_ext
        self.shoulder = shoulder
        self.shoulder_depth = shoulder_depth
        self.balance = balance
        self.deferred = False
        self.knoise = knoise
        self.nalpha = nalpha
        self.ncap = ncap
        self.nz = 0.0
        self.dd = delay - ref_delay if delay > ref_delay else 0
        self.held = False
        # The ring must hold the whole learning window (replayed after
        # learning) and ``span`` samples behind the tracker (event placement,
        # pause scan), plus the tracker's lag, the placement look-around and
        # the block the feature stage runs ahead.
        while size < ((learn if learn > span else span) + lag + 2 * half + delay + plateau_ext
                      + FEAT_BLOCK + 64):
            size <<= 1
        self.mask = size - 1
        self.ry = <double*> malloc(size * sizeof(double))
        self.rz = <double*> malloc(size * sizeof(double))
        self.rf = <uint8_t*> malloc(size * sizeof(uint8_t))
        buf_init(&self.out, sizeof(Row))
        buf_init(&self.out_g, 2 * sizeof(int64_t))
        if self.ry == NULL or self.rz == NULL or self.rf == NULL:
            raise MemoryError()
        memset(self.rf, 0, size * sizeof(uint8_t))
        self.n = 0
        self.started = False
        self.flat_on = False
        self.prev_x = NAN
        self.u = 0.0
        self.run_start = 0
        self.t_next = 0
        self.g_open = False
        self.learnt = False
        self.lstart = 0
        self.sgn = 1
        self.in_gap = True
        self.pend = False
        self.mode = 0
        self.flushed = False

    def __dealloc__(self):
        free(self.ry); free(self.rz); free(self.rf)
        buf_free(&self.out)
        buf_free(&self.out_g)

    # ------------------------------------------------------------------ outputs
    cdef inline void _push_gap(self, int64_t a, int64_t b) noexcept nogil:
        cdef int64_t* pg = <int64_t*> buf_push(&self.out_g)
        if pg != NULL:
            pg[0] = a
            pg[1] = b

    cdef inline void _push_row(self, Row* r) noexcept nogil:
        cdef Row* pr = <Row*> buf_push(&self.out)
        if pr != NULL:
            pr[0] = r[0]

    # ------------------------------------------------------------ feature stage
    cdef inline void _feature(self, double x) noexcept nogil:
        cdef int64_t n = self.n
        cdef int64_t k = n & self.mask
        cdef int64_t j
        cdef int i
        cdef double w, y, z
        cdef uint8_t flag = 0
        if not isfinite(x):
            self.started = False
            self.flat_on = False
            self.prev_x = NAN
            self.rf[k] = F_GAP
            self.n = n + 1
            return
        if x == self.prev_x:
            # a run of identical values: a flat, clipped or disconnected
            # sensor; no breathing signal stays exactly constant that long.
            # The run becomes a gap from its first sample (the tracker reads
            # ``lag`` = ``flat_len`` samples behind, so it has not seen them).
            if n - self.run_start + 1 >= self.flat_len:
                if self.flat_on:
                    self.rf[k] = F_GAP
                else:
                    self.flat_on = True
                    j = self.run_start
                    while j <= n:
                        self.rf[j & self.mask] = F_GAP
                        j += 1
                self.started = False
                self.n = n + 1
                return
        else:
            self.run_start = n
            self.flat_on = False
        self.prev_x = x
        if not self.started:
            # restart the filters in the steady state of the first sample, so
            # the step from "no signal" does not look like a breath
            self.started = True
            flag = F_FIRST
            self.u = 0.0
            w = 0.0 if self.integrate else x
            for i in range(self.nm):
                self.ms[i] = self.ms0[i]
                w = biquad_settle(&self.ms[i], w)
            w = 0.0 if self.integrate else x
            for i in range(self.nr):
                self.rs[i] = self.rs0[i]
                w = biquad_settle(&self.rs[i], w)
        if self.integrate:
            self.u = self.leak * self.u + x / self.fs
            w = self.u
        else:
            w = x
        y = w
        for i in range(self.nm):
            y = biquad_step(&self.ms[i], y)
        z = w
        for i in range(self.nr):
            z = biquad_step(&self.rs[i], z)
        self.ry[k] = y
        self.rz[k] = z
        self.rf[k] = flag
        self.n = n + 1

    # ----------------------------------------------------------------- learning
    cdef bint _learn(self, int64_t a, int64_t b) noexcept nogil:
        # Initial amplitude: median of the detection signal's range over
        # blocks (a block of a few seconds holds about one breath, and the
        # median ignores a sigh or an artefact).
        cdef double ranges[MAX_BLOCKS]
        cdef int nb = 0
        cdef double m2 = 0.0, m3 = 0.0, lo, hi, v, d, mean
        cdef int64_t s = a, e, j, cnt, ntot = 0
        while s < b:
            e = s + self.block
            if e > b:
                e = b
            cnt = 0
            lo = 1e308
            hi = -1e308
            mean = 0.0
            j = s
            while j < e:
                if not (self.rf[j & self.mask] & F_GAP):
                    cnt += 1
                    v = self.ry[j & self.mask]
                    mean += v
                    if v < lo:
                        lo = v
                    if v > hi:
                        hi = v
                j += 1
            if cnt > 0:
                mean = mean / cnt
                ntot += cnt
                j = s
                while j < e:
                    if not (self.rf[j & self.mask] & F_GAP):
                        d = self.ry[j & self.mask] - mean
                        m2 += d * d
                        m3 += d * d * d
                    j += 1
            if 2 * cnt >= self.block and hi > lo and nb < MAX_BLOCKS:
                ranges[nb] = hi - lo
                nb += 1
            s = e
        if nb == 0:
            return False
        cdef double amp0 = median_small(ranges, nb)
        cdef int i
        if not amp0 > 0.0:
            return False
        if self.sign_param != 0:
            self.sgn = self.sign_param
        else:
            self.sgn = 1 if self._polarity(a, b, self.frac * amp0, m2, m3, ntot) >= 0.0 else -1
        for i in range(NBUF):
            self.amps[i] = amp0
            self.ttots[i] = <double> self.stall_init
        self.apos = 0
        self.scale = 1.0
        self.typ = amp0
        self.thr = self.frac * self.typ
        self.cap = self.ncap * self.typ
        self.stall = self.stall_init
        self.learnt = True
        return True

    cdef double _polarity(self, int64_t a, int64_t b, double thr, double m2, double m3,
                          int64_t ntot) noexcept nogil:
        # > 0: inspiration is up. Two cues, summed:
        # - skewness of the block-demeaned signal: ends of inspiration are
        #   sharp and ends of expiration long and flat, so the samples pile up
        #   below the mean with a tail towards inspiration;
        # - log of (median change between successive maxima) / (median change
        #   between successive minima), the extrema of a symmetric hysteresis
        #   (``thr``): the end-expiratory level (functional residual capacity)
        #   is steadier than the end-inspiratory level, which follows the
        #   tidal volume and every sigh.
        # Neither is right on all 15 MARSH tuning records over 90 s; their sum
        # over 180 s is (see benchmarks/results/breath_accuracy.md).
        cdef double pk[MEDIAN_MAX]
        cdef double tr[MEDIAN_MAX]
        cdef double dp[MEDIAN_MAX]
        cdef double dt[MEDIAN_MAX]
        cdef int npk = 0, ntr = 0, i
        cdef int mode = 0
        cdef bint fresh = True
        cdef double v, hi = 0.0, lo = 0.0, g, mp, mt
        cdef int64_t j = a
        if not m2 > 0.0:
            return m3
        g = m3 / (m2 * sqrt(m2)) * sqrt(<double> ntot)
        while j < b:
            if self.rf[j & self.mask] & F_GAP:
                fresh = True
                j += 1
                continue
            v = self.ry[j & self.mask]
            j += 1
            if fresh:
                fresh = False
                mode = 0
                hi = v
                lo = v
                continue
            if mode >= 0:
                if v > hi:
                    hi = v
                elif v < hi - thr:
                    if npk < MEDIAN_MAX:
                        pk[npk] = hi
                        npk += 1
                    mode = -1
                    lo = v
                    continue
            if mode <= 0:
                if v < lo:
                    lo = v
                elif v > lo + thr:
                    if ntr < MEDIAN_MAX:
                        tr[ntr] = lo
                        ntr += 1
                    mode = 1
                    hi = v
        if npk < 3 or ntr < 3:
            return g
        for i in range(npk - 1):
            dp[i] = fabs(pk[i + 1] - pk[i])
        for i in range(ntr - 1):
            dt[i] = fabs(tr[i + 1] - tr[i])
        mp = median_small(dp, npk - 1)
        mt = median_small(dt, ntr - 1)
        if not (mp > 0.0 and mt > 0.0):
            return g
        return g + log(mp / mt)

    # ------------------------------------------------------------------ tracker
    cdef int64_t _place(self, int64_t p, bint top, int64_t k, double* zval) noexcept nogil:
        # The tracker's extremum lags the signal by the detection filter's
        # delay; look for the extremum of the gentler z around the shifted
        # point, then undo z's own (smaller) delay.
        cdef int64_t c = p - self.delay + self.ref_delay
        cdef int64_t a = _max3(c - self.half, self.seg0, k - self.span)
        cdef int64_t b = c + self.half
        cdef int64_t j, best, r, cc, lo, hi, lo_end, hi_end
        cdef double bv, w, lim
        if b > k:
            b = k
        if b < a:
            cc = c if c < k else k
            a = _max3(cc, self.seg0, k - self.span)
            b = a
        best = a
        bv = self.sgn * self.rz[a & self.mask]
        j = a + 1
        while j <= b:
            w = self.sgn * self.rz[j & self.mask]
            if (top and w > bv) or (not top and w < bv):
                bv = w
                best = j
            j += 1
        if self.plateau > 0.0:
            # a flat top (or bottom): take the middle of the samples within
            # plateau x typical amplitude of the extremum, not one of its edges
            lim = self.plateau * self.typ
            lo = best
            lo_end = _max3(self.seg0, k - self.span, best - self.plateau_ext)
            while lo - 1 >= lo_end and fabs(self.sgn * self.rz[(lo - 1) & self.mask] - bv) <= lim:
                lo -= 1
            hi = best
            hi_end = best + self.plateau_ext
            if hi_end > k:
                hi_end = k
            while hi + 1 <= hi_end and fabs(self.sgn * self.rz[(hi + 1) & self.mask] - bv) <= lim:
                hi += 1
            best = (lo + hi) // 2
        r = best - self.ref_delay
        if r < self.seg0:
            r = self.seg0
        zval[0] = bv
        return r

    cdef void _emit(self, int64_t on, double onz, int64_t pk, double pkz, int64_t en,
                    double enz, uint8_t q, int64_t k) noexcept nogil:
        cdef Row r
        cdef double lim, med_a, med_t, tt, amp
        cdef int64_t j
        if pk <= on:
            pk = on + 1
        if en <= pk:
            en = pk + 1
        r.ain = pkz - onz
        r.aout = pkz - enz
        r.pin = NAN
        r.pout = NAN
        if self.pause_frac > 0.0 and pk >= k - self.span:
            # pauses: the plateaus of the (volume) signal after the peak and
            # before the exhale end, within pause_frac of the exhale amplitude
            lim = pkz - self.pause_frac * r.aout
            j = pk + 1
            while j < en and self.sgn * self.rz[j & self.mask] >= lim:
                j += 1
            r.pin = <double> (j - pk - 1)
            lim = enz + self.pause_frac * r.aout
            j = en - 1
            while j > pk and self.sgn * self.rz[j & self.mask] <= lim:
                j -= 1
            r.pout = <double> (en - 1 - j)
        med_a = median_small(self.amps, NBUF)
        med_t = median_small(self.ttots, NBUF)
        tt = <double> (en - on)
        amp = 0.5 * (r.ain + r.aout)
        if not (q & (Q_TRUNC_ONSET | Q_TRUNC_END)):
            if tt < 0.5 * med_t or tt > 2.0 * med_t or amp < 0.35 * med_a:
                q |= Q_IRREGULAR
            self.amps[self.apos] = amp
            self.ttots[self.apos] = tt
            self.apos = (self.apos + 1) % NBUF
            med_a = median_small(self.amps, NBUF)
            med_t = median_small(self.ttots, NBUF)
            # one decay step is undone per breath, so after shallow breaths
            # were found the threshold stays low until the median follows
            self.scale = self.scale / self.decay
            if self.scale > 1.0:
                self.scale = 1.0
            self.typ = med_a * self.scale
            self.thr = self.frac * self.typ
            self.cap = self.ncap * self.typ
            self.stall = <int64_t> (self.stall_mult * med_t)
            if self.stall < self.stall_min:
                self.stall = self.stall_min
            if self.stall > self.stall_max:
                self.stall = self.stall_max
        # a breath was found: the stall clock restarts
        self.last_br = k
        r.on = on
        r.pk = pk
        r.en = en
        r.q = q
        self._push_row(&r)

    cdef inline void _emit_held(self, int64_t k) noexcept nogil:
        self.held = False
        self._emit(self.h_on, self.h_onz, self.h_pk, self.h_pkz, self.h_en, self.h_enz,
                   self.h_q, k)

    cdef void _track(self, int64_t k) noexcept nogil:
        cdef uint8_t f = self.rf[k & self.mask]
        cdef double v, zv = 0.0, z2 = 0.0, d, th
        cdef bint interrupted
        cdef int64_t r, r2
        if f & F_GAP:
            if not self.in_gap:
                self.in_gap = True
                if self.held:
                    self._emit_held(k - 1)
                self.deferred = False
                if self.pend and self.mode == 2:
                    r = self._place(self.lo_i, False, k - 1, &zv)
                    self._emit(self.p_on, self.p_onz, self.p_pk, self.p_pkz, r, zv,
                               self.p_q | Q_TRUNC_END, k - 1)
                self.pend = False
            return
        v = self.sgn * self.ry[k & self.mask]
        if self.knoise > 0.0 and not self.in_gap and k - self.dd >= self.seg0:
            # noise floor: mean |z - y| (z delay-aligned to y) is the 0.7-2 Hz
            # band, cardiac oscillations and spikes, of which a fixed fraction
            # leaks through the detection low-pass
            self.nz += self.nalpha * (fabs(self.rz[(k - self.dd) & self.mask]
                                           - self.ry[k & self.mask]) - self.nz)
        if self.in_gap:
            self.in_gap = False
            self.mode = 0
            self.seg0 = k
            self.hi_v = v
            self.lo_v = v
            self.hi_i = k
            self.lo_i = k
            self.on_i = k
            self.last_br = k
            self.trough_i = -1
            self.pend = False
            return
        if k - self.last_br > self.stall:
            # no breath found for a while: the breaths may have become
            # shallower than the threshold (no extremum), or the typical
            # amplitude is stale (learnt on a transient: every trough then
            # looks like a shoulder of one endless breath, merged); lower the typical
            # amplitude, so the threshold, the noise cap and the merge and
            # shoulder depths with it, but never below floor_ of the median
            # (an apnoea must not turn noise into breaths). The amplitudes
            # themselves are not touched, so a noise "breath" cannot drag the
            # floor down with it; each breath found undoes one step.
            self.last_br = k
            if self.scale * self.decay >= self.floor_:
                self.scale = self.scale * self.decay
                self.typ = median_small(self.amps, NBUF) * self.scale
                self.thr = self.frac * self.typ
                self.cap = self.ncap * self.typ
        # the hysteresis never goes below knoise x the noise floor, and the
        # floor never raises it above ncap x the typical amplitude (fast
        # breathing is itself in the noise band)
        th = self.knoise * self.nz
        if th > self.cap:
            th = self.cap
        if self.thr > th:
            th = self.thr
        if self.mode == 0:
            if v > self.hi_v:
                self.hi_v = v
                self.hi_i = k
                self.on_i = self.lo_i
            if v < self.lo_v:
                self.lo_v = v
                self.lo_i = k
            if v < self.hi_v - th:
                r = self._place(self.on_i, False, k, &zv)
                r2 = self._place(self.hi_i, True, k, &z2)
                self.pend = True
                self.p_on = r
                self.p_onz = zv
                self.p_pk = r2
                self.p_pkz = z2
                self.p_q = Q_TRUNC_ONSET
                self.mode = 2
                self.lo_v = v
                self.lo_i = k
            elif v > self.lo_v + th:
                self.trough_i = self._place(self.lo_i, False, k, &self.trough_z)
                # rising from the segment's first sample: the real trough is in
                # the gap (or before the record), so the breath starts truncated
                self.trough_q = Q_TRUNC_ONSET if self.lo_i == self.seg0 else 0
                self.mode = 1
                self.hi_v = v
                self.hi_i = k
        elif self.mode == 1:
            if v > self.hi_v:
                self.hi_v = v
                self.hi_i = k
            elif v < self.hi_v - th:
                r2 = self._place(self.hi_i, True, k, &z2)
                self.pend = True
                self.p_on = self.trough_i
                self.p_onz = self.trough_z
                self.p_pk = r2
                self.p_pkz = z2
                self.p_q = self.trough_q
                if self.held:
                    # a trough whose prominence (its depth below the lower of
                    # the two peaks around it) is small next to the running
                    # breath amplitude is not the end of a breath: an
                    # expiratory shoulder (or an inspiratory notch) is merged
                    # into the held breath, which keeps the higher peak
                    d = self.h_pkz - self.h_enz
                    if z2 - self.h_enz < d:
                        d = z2 - self.h_enz
                    # an interrupted exhalation: the held breath fell less
                    # than ``shoulder`` of its inhalation before this trough
                    interrupted = self.h_pkz - self.h_enz < self.shoulder * (self.h_pkz
                                                                             - self.h_onz)
                    if (d < self.merge * self.typ
                            or (interrupted and d < self.shoulder_depth * self.typ)):
                        self.p_on = self.h_on
                        self.p_onz = self.h_onz
                        self.p_q = self.h_q
                        if self.h_pkz >= z2:
                            self.p_pk = self.h_pk
                            self.p_pkz = self.h_pkz
                        self.held = False
                    elif interrupted and self.balance > 0.0:
                        # a deeper trough, but the exhalation was interrupted:
                        # decided at the next trough (balance rule, below)
                        self.deferred = True
                    else:
                        self._emit_held(k)
                self.mode = 2
                self.lo_v = v
                self.lo_i = k
        else:
            if v < self.lo_v:
                self.lo_v = v
                self.lo_i = k
            elif v > self.lo_v + th:
                self.trough_i = self._place(self.lo_i, False, k, &self.trough_z)
                self.trough_q = 0
                if self.pend:
                    if self.deferred:
                        # balance rule: a tidal breath falls about as far as it
                        # rose; the "breath" after an interrupted exhalation
                        # that rose less than ``balance`` x its fall is the
                        # rest of that exhalation: one breath, higher peak
                        self.deferred = False
                        if self.p_pkz - self.p_onz < self.balance * (self.p_pkz - self.trough_z):
                            if self.p_pkz > self.h_pkz:
                                self.h_pk = self.p_pk
                                self.h_pkz = self.p_pkz
                            self.h_en = self.trough_i
                            self.h_enz = self.trough_z
                            self.pend = False
                        else:
                            self._emit_held(k)
                    if self.pend:
                        self.held = True
                        self.h_on = self.p_on
                        self.h_onz = self.p_onz
                        self.h_pk = self.p_pk
                        self.h_pkz = self.p_pkz
                        self.h_en = self.trough_i
                        self.h_enz = self.trough_z
                        self.h_q = self.p_q
                        self.pend = False
                self.mode = 1
                self.hi_v = v
                self.hi_i = k

    cdef inline void _final(self, int64_t t) noexcept nogil:
        # sample t's flag is final: gap bookkeeping, learning, tracking
        cdef bint g = (self.rf[t & self.mask] & F_GAP) != 0
        cdef int64_t k
        if g and not self.g_open:
            self.g_open = True
            self.g_start = t
        elif not g and self.g_open:
            self.g_open = False
            self._push_gap(self.g_start, t)
        if self.learnt:
            self._track(t)
        elif t + 1 >= self.lstart + self.learn:
            if self._learn(self.lstart, self.lstart + self.learn):
                k = self.lstart
                while k <= t:
                    self._track(k)
                    k += 1
            else:
                self.lstart = self.lstart + self.learn

    cdef void _features(self, const sample_t[:] x, Py_ssize_t i0, Py_ssize_t m) noexcept nogil:
        # The feature stage over x[i0 : i0 + m]. The usual sample (finite, not
        # equal to the previous one, filters running) takes a fast path on local
        # copies of the filter sections, which the compiler keeps in registers
        # for the whole block, with the default design (a 2-section detection
        # and a 1-section placement low-pass); every other sample, and any other
        # design, goes through _feature on the kernel's own sections. Same
        # operations in the same order: same results.
        cdef Py_ssize_t i
        cdef double v, w, y, z, u
        cdef int64_t n, k, mask = self.mask
        cdef Biquad f0, f1, g0
        if self.nm != 2 or self.nr != 1:
            for i in range(i0, i0 + m):
                self._feature(<double> x[i])
            return
        f0, f1, g0, u, n = self.ms[0], self.ms[1], self.rs[0], self.u, self.n
        for i in range(i0, i0 + m):
            v = <double> x[i]
            if not isfinite(v) or v == self.prev_x or not self.started:
                self.ms[0], self.ms[1], self.rs[0], self.u, self.n = f0, f1, g0, u, n
                self._feature(v)
                f0, f1, g0, u, n = self.ms[0], self.ms[1], self.rs[0], self.u, self.n
                continue
            self.run_start = n
            self.flat_on = False
            self.prev_x = v
            if self.integrate:
                u = self.leak * u + v / self.fs
                w = u
            else:
                w = v
            y = biquad_step(&f1, biquad_step(&f0, w))
            z = biquad_step(&g0, w)
            k = n & mask
            self.ry[k] = y
            self.rz[k] = z
            self.rf[k] = 0
            n += 1
        self.ms[0], self.ms[1], self.rs[0], self.u, self.n = f0, f1, g0, u, n

    cdef void _run(self, const sample_t[:] x) noexcept nogil:
        # features a block ahead, then every sample the tracker may now decide
        # (``lag`` behind the newest): the tracker reads only samples at or
        # before its own index, so the interleaving does not change anything
        cdef Py_ssize_t i = 0, nx = x.shape[0], m
        while i < nx:
            m = nx - i
            if m > FEAT_BLOCK:
                m = FEAT_BLOCK
            self._features(x, i, m)
            i += m
            while self.t_next <= self.n - 1 - self.lag:
                self._final(self.t_next)
                self.t_next += 1

    def process(self, x):
        """Consume a chunk of samples; return ``(index (m, 3), values (m, 4), quality,
        gaps)`` of what was decided, or None if nothing was.

        float64, float32, int16 and int32 arrays are read in place (the dtype
        is dispatched by hand: a fused ``def`` signature costs microseconds per
        call, which matters for live chunks of a few samples).
        """
        cdef const double[:] xd
        cdef const float[:] xf
        cdef const short[:] xh
        cdef const int[:] xi
        if self.flushed:
            raise RuntimeError("this kernel was flushed; create a new one")
        c = x.dtype.char
        if c == "d":
            xd = x
            with nogil:
                self._run(xd)
        elif c == "f":
            xf = x
            with nogil:
                self._run(xf)
        elif c == "h":
            xh = x
            with nogil:
                self._run(xh)
        elif c == "i":
            xi = x
            with nogil:
                self._run(xi)
        else:
            xd = np.ascontiguousarray(x, dtype=np.float64)
            with nogil:
                self._run(xd)
        return self._take()

    def flush(self):
        """Finish the record: decide the samples held back and the last breath."""
        cdef int64_t t, e, k
        cdef double zv = 0.0
        if self.flushed:
            return self._take()
        with nogil:
            t = self.t_next
            while t < self.n:
                self._final(t)
                t += 1
            self.t_next = self.n
            # learning on a record (or remainder) shorter than one window
            while not self.learnt and self.lstart < self.n:
                e = self.lstart + self.learn
                if e > self.n:
                    e = self.n
                if self._learn(self.lstart, e):
                    k = self.lstart
                    while k < self.n:
                        self._track(k)
                        k += 1
                    break
                self.lstart = e
            if self.learnt and self.held:
                self._emit_held(self.n - 1)
            if self.learnt and self.pend and self.mode == 2 and not self.in_gap:
                k = self._place(self.lo_i, False, self.n - 1, &zv)
                self._emit(self.p_on, self.p_onz, self.p_pk, self.p_pkz, k, zv,
                           self.p_q | Q_TRUNC_END, self.n - 1)
                self.pend = False
            if self.g_open:
                self._push_gap(self.g_start, self.n)
                self.g_open = False
        self.flushed = True
        return self._take()

    cdef object _take(self):
        # None when nothing was decided: live callers feed short chunks, most
        # of which decide nothing, and four empty arrays per call would cost
        # more than the samples themselves
        cdef Py_ssize_t m = self.out.n, g = self.out_g.n, i
        cdef Row* rows = <Row*> self.out.data
        if self.out.failed or self.out_g.failed:
            raise MemoryError("the breath kernel could not grow its output buffer")
        if m == 0 and g == 0:
            return None
        idx = np.empty((m, 3), dtype=np.int64)
        val = np.empty((m, 4), dtype=np.float64)
        q = np.empty(m, dtype=np.uint8)
        gaps = np.empty((g, 2), dtype=np.int64)
        cdef int64_t[:, ::1] iv = idx
        cdef double[:, ::1] vv = val
        cdef uint8_t[::1] qv = q
        cdef int64_t[:, ::1] gv = gaps
        for i in range(m):
            iv[i, 0] = rows[i].on
            iv[i, 1] = rows[i].pk
            iv[i, 2] = rows[i].en
            vv[i, 0] = rows[i].ain
            vv[i, 1] = rows[i].aout
            vv[i, 2] = rows[i].pin
            vv[i, 3] = rows[i].pout
            qv[i] = rows[i].q
        # drained after each call, so memory stays flat on endless streams
        self.out.n = 0
        buf_drain(&self.out_g, &gv[0, 0] if g > 0 else NULL)
        return idx, val, q, gaps

    @property
    def n_samples(self):
        return self.n

    @property
    def polarity(self):
        """+1 or -1 once learnt (the sign applied to the signal), 0 before."""
        return self.sgn if self.learnt else 0
