# cython: language_level=3
"""Stateful PPG pulse detector kernel (private).

Contract (see somacore/_core/__init__.py): the kernel validates nothing; the
public layer (somacore.pulse, somacore.beats) designs every parameter in
seconds and converts it to samples. One kernel object is one channel: feed it
samples with ``process`` in any chunking, then call ``flush`` once. Every
decision depends only on samples already seen (plus a fixed look-ahead of
``D`` samples that the kernel buffers in its ring), so the result is identical
for any chunking; the batch API is ``process(all); flush()``.

Algorithm (a causal variant of Elgendi et al. 2013, "Systolic peak detection
in acceleration photoplethysmograms measured from emergency responders in
tropical conditions", PLoS ONE 8(10):e76585):

1. feature: causal Butterworth band-pass (cascaded biquads, 0.5-8 Hz) ->
   clip negative values -> square (``s``);
2. two trailing moving averages of ``s``, MA_peak (~111 ms, ``W1``) and
   MA_beat (~667 ms, ``W2``). Reading each one half a window later turns it
   into the centred average of the paper; that half window is part of the
   look-ahead ``D`` (the detection stage runs ``D`` samples behind the input);
3. blocks of interest: MA_peak > MA_beat + beta * mean(s), where mean(s) is a
   long running mean (the paper uses the whole record's mean). A block is
   decided when it ends; blocks narrower than ``W1`` are noise;
4. amplitude screen against the running typical block amplitude (median of
   the last 8 blocks): a block far larger than typical is a motion artefact
   (no beat; the beats before and after it get FLAG_UNCERTAIN), a block far
   smaller is noise or a dicrotic wave (no beat). After steps 5 and 7 the
   pulse's raw height (peak minus onset) is screened the same way against the
   median of the last 8 heights: a step or slow drift can give a sizeable
   band-passed block for a tiny raw rise;
5. the systolic peak is the first maximum of the raw signal in a window
   around the band-passed maximum of the block, shifted back by the
   band-pass's lag; if the maximum sits on the window edge the search climbs
   the raw signal further (bounded), so a slow or odd-shaped pulse still gets
   its true maximum;
6. two peaks closer than ``min_dist`` are one pulse: the larger block wins;
7. the onset (foot) is the last minimum of the raw signal in the
   ``onset_win`` samples before the peak, not reaching back past the previous
   beat or a gap.

Unusable signal:

- gaps (no beat inside; a block touching one is dropped; the first beat after
  one gets FLAG_AFTER_GAP): non-finite samples; a flat line, i.e. a run of
  ``flat_n`` samples within +-tol of the run's first value (tol =
  ``flat_ratio`` x typical block amplitude, exact equality until three blocks
  are known); and saturation lasting ``clip_gap_n`` samples, i.e. such a run
  at the highest value seen so far. The run is flagged from its first sample:
  the look-ahead ``D`` covers the longest such run, so nothing was decided on
  it yet. After missing samples the filters and averages restart; along a flat
  line they keep running (it is real, if useless, signal);
- short saturation (``clip_n`` samples at the highest value seen so far):
  clipping; a beat whose peak lies on it gets FLAG_UNCERTAIN (its true maximum
  was cut off). Only the top counts: a flat diastole at the lowest value seen
  is normal in some monitors' PPG.
- motion artefacts (step 4): FLAG_UNCERTAIN on the neighbouring beats. The
  running mean in the block offset takes each sample capped at 4 x the
  squared typical amplitude, so an artefact cannot lift the offset for long.
"""

cimport cython
from libc.math cimport INFINITY, fabs, isfinite
from libc.stdlib cimport free, malloc
from libc.stdint cimport INT64_MAX, int64_t, uint8_t
from libc.string cimport memset

from _buffers cimport Buf, buf_drain, buf_free, buf_init, buf_push
from _filters cimport Biquad, biquad_settle, biquad_step, load_sections
from _stats cimport median8, median_small
from _types cimport sample_t

# GCC's straight-line (SLP) vectorizer pairs the filter states of the hot
# loop in _run2 into vector registers, which adds shuffles on the filter's
# recursion (as in _ecg.pyx). Results are unaffected (no reassociation).
cdef extern from *:
    """
    #if defined(__GNUC__) && !defined(__clang__)
    #pragma GCC optimize("no-tree-slp-vectorize")
    #endif
    """

# The flat-run anchor update of _decide2 as a select rather than a branch:
# on a pulse wave a sample leaves or stays in the current run almost at
# random (about every third sample flips), so a branch mispredicts often,
# and GCC keeps a branch for a conditional double assignment.
cdef extern from *:
    """
    #if defined(__SSE2__)
    #include <emmintrin.h>
    /* anchor if |x - anchor| <= tol, else x: the same comparison as the C
       expression (ordered: false for NaN), computed as a mask */
    static inline double somacore_run_anchor(double anchor, double x, double tol) {
        __m128d a = _mm_set_sd(anchor), v = _mm_set_sd(x);
        __m128d d = _mm_andnot_pd(_mm_set_sd(-0.0), _mm_sub_sd(v, a));
        __m128d m = _mm_cmple_sd(d, _mm_set_sd(tol));
        return _mm_cvtsd_f64(_mm_or_pd(_mm_and_pd(m, a), _mm_andnot_pd(m, v)));
    }
    #else
    #include <math.h>
    static inline double somacore_run_anchor(double anchor, double x, double tol) {
        return fabs(x - anchor) <= tol ? anchor : x;
    }
    #endif
    """
    double somacore_run_anchor(double anchor, double x, double tol) noexcept nogil

import numpy as np

cdef enum:
    MAX_SECTIONS = 8
    NAMP = 8
    RECOMPUTE = 16
    SEG = 512       # samples per segment of the two-pass fast path (_run)
    # flags stored per sample in the ring
    F_GAP = 1
    F_RESUME = 2
    F_CLIP = 4
    # beat quality bits (mirrors somacore.beats)
    Q_AFTER_GAP = 2
    Q_UNCERTAIN = 4


cdef struct Hot:
    # The state touched for every sample. The per-sample loop works on a
    # local copy of it (kept in registers, not re-read from the object after
    # every store to a ring buffer) and writes it back before anything rare.
    int64_t n                   # samples consumed
    int64_t since               # valid samples since the last (re)start
    int64_t cd1, cd2            # samples until the next exact recomputation of the sums
    int64_t nmean
    int64_t run_len, run_start
    int64_t b0, yi
    double sum1, sum2
    double smean
    double anchor
    double xmax, xmin
    double ymax
    bint run_clip
    bint in_block
    Biquad sec[MAX_SECTIONS]



# final: the per-sample methods are called directly (and can be inlined)
# instead of through the virtual table
@cython.final
cdef class PpgKernel:
    cdef Hot h
    # --- parameters (samples) ---
    cdef Biquad sec0[MAX_SECTIONS]
    cdef int nsec
    cdef int W1, W2, h1, h2, D
    cdef int lag, half, ext_lo, ext_hi, min_dist, onset_win, max_block
    cdef int flat_n, clip_n, clip_gap_n, run_gap_n, hold
    cdef int64_t mean_n
    cdef double inv_w1, inv_w2, inv_mean_n
    cdef double beta, flat_ratio, hi_ratio, lo_ratio
    # --- ring buffers (power-of-two size) ---
    cdef int64_t size, mask
    cdef double* rx             # raw
    cdef double* ry             # band-passed
    cdef double* rs             # clipped, squared
    cdef double* rmp            # trailing MA_peak
    cdef double* rmb            # trailing MA_beat
    cdef uint8_t* rf            # per-sample flags
    # --- feature stage ---
    cdef double s_cap           # cap on the samples entering smean (inf until known)
    cdef bint started, in_gap
    cdef int64_t nsig           # samples through the signal part (_signal)
    cdef bint sig_fresh         # the next finite sample restarts the filters
    cdef int64_t gap_start
    cdef bint has_pg            # a closed gap held back in case the next one touches it
    cdef int64_t last_gap       # latest sample flagged F_GAP so far, -1 if none
    cdef int64_t pg_a, pg_b
    cdef bint have_ext
    cdef double tol
    # --- detection stage ---
    cdef double abuf[NAMP]     # band-passed amplitudes of the last blocks
    cdef int apos, acount
    cdef double hbuf[NAMP]     # raw peak-minus-onset heights of the last pulses
    cdef int hpos, hcount
    cdef bint has_p             # pending beat (held for the min-distance rule)
    cdef int64_t p_peak, p_onset
    cdef double p_amp
    cdef uint8_t p_q
    cdef int64_t last_peak      # last emitted peak since the last gap, -1 if none
    cdef bint after_gap, art_next
    # --- outputs ---
    cdef Buf out_s              # pulse peak samples (int64)
    cdef Buf out_o              # pulse onset samples (int64)
    cdef Buf out_q              # quality flags (uint8)
    cdef Buf out_g              # gap ranges (pairs of int64)
    cdef bint flushed, flushing

    def __cinit__(self, double[:, ::1] sections, int W1, int W2, double beta, int mean_n,
                  int lag, int half, int ext_lo, int ext_hi, int min_dist, int onset_win,
                  int max_block, int flat_n, int clip_n, int clip_gap_n, double flat_ratio,
                  double hi_ratio, double lo_ratio, int hold):
        cdef int i
        cdef int64_t need, size = 1
        if sections.shape[0] > MAX_SECTIONS or sections.shape[1] != 5:
            raise ValueError("bad filter sections")
        self.nsec = sections.shape[0]
        load_sections(self.sec0, self.h.sec, &sections[0, 0], self.nsec)
        # odd windows so that "half a window later" is a whole number of samples
        self.W1 = W1 | 1
        self.W2 = W2 | 1
        self.h1 = self.W1 // 2
        self.h2 = self.W2 // 2
        self.inv_w1 = 1.0 / self.W1
        self.inv_w2 = 1.0 / self.W2
        self.beta = beta
        self.mean_n = mean_n if mean_n > 0 else 1
        self.inv_mean_n = 1.0 / self.mean_n
        self.lag = lag
        self.half = half
        self.ext_lo = ext_lo if ext_lo > lag + half else lag + half
        self.ext_hi = ext_hi if ext_hi > half - lag else half - lag
        if self.ext_hi < 0:
            self.ext_hi = 0
        self.min_dist = min_dist
        self.onset_win = onset_win
        self.max_block = max_block
        self.flat_n = flat_n if flat_n > 1 else 2
        self.clip_n = clip_n if clip_n > 1 else 2
        self.clip_gap_n = clip_gap_n if clip_gap_n > self.clip_n else self.clip_n + 1
        # longest run that can still turn into a gap
        self.run_gap_n = self.flat_n if self.flat_n > self.clip_gap_n else self.clip_gap_n
        self.flat_ratio = flat_ratio
        self.hi_ratio = hi_ratio
        self.lo_ratio = lo_ratio
        self.hold = hold
        # Look-ahead: the centred MA_beat needs h2 samples; the peak search
        # reads up to ext_hi samples past a block's end, and those samples'
        # flags must be final, i.e. older than a run that may still turn into
        # a gap could reach back (run_gap_n).
        self.D = self.h2 + 1
        if self.ext_hi + self.run_gap_n + 1 > self.D:
            self.D = self.ext_hi + self.run_gap_n + 1
        # The ring reaches back from the newest sample over the look-ahead,
        # the longest block, the peak search and the onset window.
        # (plus SEG: the signal part of the fast path runs that far ahead)
        need = <int64_t> self.D + self.W2 + max_block + self.ext_lo + onset_win + 64 + SEG
        while size < need:
            size <<= 1
        self.size = size
        self.mask = size - 1
        self.rx = <double*> malloc(size * sizeof(double))
        self.ry = <double*> malloc(size * sizeof(double))
        self.rs = <double*> malloc(size * sizeof(double))
        self.rmp = <double*> malloc(size * sizeof(double))
        self.rmb = <double*> malloc(size * sizeof(double))
        self.rf = <uint8_t*> malloc(size * sizeof(uint8_t))
        buf_init(&self.out_s, sizeof(int64_t))
        buf_init(&self.out_o, sizeof(int64_t))
        buf_init(&self.out_q, sizeof(uint8_t))
        buf_init(&self.out_g, 2 * sizeof(int64_t))
        if (self.rx == NULL or self.ry == NULL or self.rs == NULL or self.rmp == NULL
                or self.rmb == NULL or self.rf == NULL):
            raise MemoryError()
        memset(self.rf, 0, size * sizeof(uint8_t))
        memset(self.rmp, 0, size * sizeof(double))
        memset(self.rmb, 0, size * sizeof(double))
        self.h.n = 0
        self.h.sum1 = 0.0
        self.h.sum2 = 0.0
        self.h.since = 0
        self.h.smean = 0.0
        self.s_cap = INFINITY
        self.h.nmean = 0
        self.started = False
        self.in_gap = False
        self.nsig = 0
        self.sig_fresh = True
        self.has_pg = False
        self.last_gap = -1
        self.h.run_len = 0
        self.h.run_clip = False
        self.have_ext = False
        self.tol = 0.0
        self.h.in_block = False
        self.apos = 0
        self.acount = 0
        self.hpos = 0
        self.hcount = 0
        self.has_p = False
        self.last_peak = -1
        self.after_gap = True
        self.art_next = False
        self.flushed = False
        self.flushing = False

    def __dealloc__(self):
        free(self.rx); free(self.ry); free(self.rs); free(self.rmp); free(self.rmb)
        free(self.rf)
        buf_free(&self.out_s)
        buf_free(&self.out_o)
        buf_free(&self.out_q)
        buf_free(&self.out_g)

    # ------------------------------------------------------------------ outputs
    cdef inline void _push_beat(self, int64_t s, uint8_t q, int64_t o) noexcept nogil:
        cdef int64_t* ps = <int64_t*> buf_push(&self.out_s)
        cdef int64_t* po = <int64_t*> buf_push(&self.out_o)
        cdef uint8_t* pq = <uint8_t*> buf_push(&self.out_q)
        if ps != NULL and po != NULL and pq != NULL:
            ps[0] = s
            po[0] = o
            pq[0] = q

    cdef inline void _push_gap(self, int64_t a, int64_t b) noexcept nogil:
        cdef int64_t* pg = <int64_t*> buf_push(&self.out_g)
        if pg != NULL:
            pg[0] = a
            pg[1] = b

    cdef inline void _gap_begin(self, int64_t s) noexcept nogil:
        # A gap that starts exactly where the previous one ended (a NaN run
        # followed by a flat line, say) is the same stretch of lost signal.
        if self.has_pg and s == self.pg_b:
            self.gap_start = self.pg_a
        else:
            if self.has_pg:
                self._push_gap(self.pg_a, self.pg_b)
            self.gap_start = s
        self.has_pg = False
        self.in_gap = True

    cdef inline void _gap_end(self, int64_t b) noexcept nogil:
        self.has_pg = True
        self.pg_a = self.gap_start
        self.pg_b = b
        self.in_gap = False

    # ------------------------------------------------------------ feature stage
    # The feature stage is two parts with no feedback between them, so that
    # the two-section fast path can run them as separate passes (see _run2):
    #
    # - the signal part (_signal): band-pass, clipped square, trailing
    #   averages and the raw / band-passed / squared rings. It depends on the
    #   samples alone: its filters restart at the first sample and after
    #   every non-finite sample (exactly where a gap of missing samples ends;
    #   along a flat line they keep running on real data);
    # - the decision part (_feature_a): gaps, flat and clipped runs, flags
    #   and the long-run mean of the squared signal. It depends on the
    #   detection stage (tolerance and cap from the typical amplitude).
    #
    # Per sample, _signal runs before _feature_a.
    cdef inline void _signal(self, double x) noexcept nogil:
        cdef int64_t n = self.nsig
        cdef int64_t k = n & self.mask
        cdef int64_t j, cnt
        cdef int i
        cdef double y, s
        self.nsig = n + 1
        # flags start clear; the decision part sets them (it runs after this)
        self.rf[k] = 0
        if not isfinite(x):
            self.rx[k] = 0.0
            self.ry[k] = 0.0
            self.rs[k] = 0.0
            # freeze the averages, so that a centred read across the gap
            # edge sees the last valid value instead of zeros
            self.rmp[k] = self.rmp[(n - 1) & self.mask]
            self.rmb[k] = self.rmb[(n - 1) & self.mask]
            self.sig_fresh = True
            return
        if self.sig_fresh:
            # first sample, or first usable one after missing samples: restart
            # the filters in the steady state of this sample (no step
            # transient) and the averages from empty
            self.sig_fresh = False
            y = x
            for i in range(self.nsec):
                self.h.sec[i] = self.sec0[i]
                y = biquad_settle(&self.h.sec[i], y)
            self.h.sum1 = 0.0
            self.h.sum2 = 0.0
            self.h.since = 0
            self.h.cd1 = self.W1
            self.h.cd2 = self.W2
        y = x
        for i in range(self.nsec):
            y = biquad_step(&self.h.sec[i], y)
        s = y * y if y > 0.0 else 0.0
        self.rs[k] = s
        self.h.since += 1
        # trailing sums over the valid samples since the restart; recomputed
        # from the ring now and then so that rounding error cannot build up
        if self.h.since <= self.W1:
            self.h.sum1 += s
        else:
            self.h.sum1 += s - self.rs[(n - self.W1) & self.mask]
        if self.h.since <= self.W2:
            self.h.sum2 += s
        else:
            self.h.sum2 += s - self.rs[(n - self.W2) & self.mask]
        # (countdowns instead of a modulo: this runs for every sample; every
        # RECOMPUTE windows is plenty, the error of one update is ~1e-16)
        self.h.cd1 -= 1
        if self.h.cd1 == 0:
            self.h.cd1 = RECOMPUTE * self.W1
            self.h.sum1 = 0.0
            j = n - self.W1 + 1
            while j <= n:
                self.h.sum1 += self.rs[j & self.mask]
                j += 1
        self.h.cd2 -= 1
        if self.h.cd2 == 0:
            self.h.cd2 = RECOMPUTE * self.W2
            self.h.sum2 = 0.0
            j = n - self.W2 + 1
            while j <= n:
                self.h.sum2 += self.rs[j & self.mask]
                j += 1
        # means; a multiplication by the stored reciprocal once the windows
        # are full (a division per sample would dominate the loop)
        if self.h.since >= self.W2:
            self.rmp[k] = self.h.sum1 * self.inv_w1
            self.rmb[k] = self.h.sum2 * self.inv_w2
        else:
            cnt = self.h.since if self.h.since < self.W1 else self.W1
            self.rmp[k] = self.h.sum1 / cnt
            self.rmb[k] = self.h.sum2 / self.h.since
        self.rx[k] = x
        self.ry[k] = y

    cdef inline void _feature_a(self, double x) noexcept nogil:
        # decision part of the feature stage for sample h.n, whose signal
        # part (_signal) has run
        cdef int64_t n = self.h.n
        cdef int64_t k = n & self.mask
        cdef double s, sm
        cdef uint8_t flag = 0
        # a held gap is final once no flat run starting at its end can be confirmed
        if self.has_pg and n >= self.pg_b + self.run_gap_n:
            self._push_gap(self.pg_a, self.pg_b)
            self.has_pg = False
        if not isfinite(x):
            if not self.in_gap:
                self._gap_begin(n)
            self.rf[k] = F_GAP
            self.last_gap = n
            self.h.run_len = 0
            self.h.n = n + 1
            return
        # extremes of everything seen, for the clipping test
        if not self.have_ext:
            self.h.xmax = x
            self.h.xmin = x
            self.have_ext = True
        elif x > self.h.xmax:
            self.h.xmax = x
        elif x < self.h.xmin:
            self.h.xmin = x
        # flat-run tracking: samples within +-tol of the run's first value
        if self.h.run_len > 0 and fabs(x - self.h.anchor) <= self.tol:
            self.h.run_len += 1
        else:
            if self.in_gap:
                # first usable sample after NaNs or a flat line
                self._gap_end(n)
                flag = F_RESUME
            self.h.anchor = x
            self.h.run_start = n
            self.h.run_len = 1
            self.h.run_clip = False
        self.started = True
        self.rf[k] = flag
        if self.in_gap:
            # still on a confirmed flat line
            self.rf[k] = F_GAP
            self.last_gap = n
        else:
            # long-run mean of s for the block offset (cumulative at first,
            # then exponential with memory mean_n)
            # Samples are capped at twice the typical pulse amplitude, so that a
            # large artefact cannot lift the offset and hide the pulses after it.
            s = self.rs[k]
            sm = s if s < self.s_cap else self.s_cap
            self.h.nmean += 1
            if self.h.nmean < self.mean_n:
                self.h.smean += (sm - self.h.smean) / self.h.nmean
            else:
                self.h.smean += (sm - self.h.smean) * self.inv_mean_n
            if self.h.run_len >= self.clip_n:
                self._runs(k, n)
        self.h.n = n + 1

    cdef void _runs(self, int64_t k, int64_t n) noexcept nogil:
        # A run of at least clip_n samples within +-tol (sample n at ring
        # slot k is its newest): a gap or clipping?
        cdef int64_t j
        # Saturation is a run at the highest value seen so far. Only the
        # top counts: a flat diastole at the lowest value is normal.
        cdef bint top = self.h.xmax > self.h.xmin and self.h.anchor >= self.h.xmax - self.tol
        if self.h.run_len >= self.flat_n or (top and self.h.run_len >= self.clip_gap_n):
            # flat line or long saturation: a gap from the run's first
            # sample. The detection stage is D > flat_n samples behind,
            # so none of these samples has been looked at yet.
            self._gap_begin(self.h.run_start)
            j = self.h.run_start
            while j <= n:
                self.rf[j & self.mask] = F_GAP
                j += 1
            self.last_gap = n
        elif top:
            # short saturation: a peak on it was cut off
            if not self.h.run_clip:
                self.h.run_clip = True
                j = self.h.run_start
                while j < n:
                    self.rf[j & self.mask] |= F_CLIP
                    j += 1
            self.rf[k] |= F_CLIP

    # ---------------------------------------------------------- detection stage
    cdef int64_t _locate(self, int64_t yi) noexcept nogil:
        # First maximum of the raw signal in [yi - lag - half, yi - lag + half],
        # then, if it sits on an edge, climb the raw signal outward (at most
        # to [yi - ext_lo, yi + ext_hi]). Never crosses a gap.
        cdef int64_t lo_lim = yi - self.ext_lo
        cdef int64_t hi_lim = yi + self.ext_hi
        cdef int64_t a, b, j, p, oldest = self.h.n - self.size + 1
        cdef double best
        if lo_lim < oldest:
            lo_lim = oldest
        if lo_lim < 0:
            lo_lim = 0
        if hi_lim > self.h.n - 1:
            hi_lim = self.h.n - 1
        a = yi - self.lag - self.half
        b = yi - self.lag + self.half
        if a < lo_lim:
            a = lo_lim
        if b > hi_lim:
            b = hi_lim
        if a > yi:
            a = yi
        if b < yi:
            b = yi
        p = yi
        best = self.rx[yi & self.mask]
        # scan left from yi with >= (ties move left: the first sample of a
        # flat top is the peak), right with > (keeps the earlier sample)
        j = yi - 1
        while j >= a:
            if self.rf[j & self.mask] & F_GAP:
                lo_lim = j + 1
                a = j + 1
                break
            if self.rx[j & self.mask] >= best:
                best = self.rx[j & self.mask]
                p = j
            j -= 1
        j = yi + 1
        while j <= b:
            if self.rf[j & self.mask] & F_GAP:
                hi_lim = j - 1
                b = j - 1
                break
            if self.rx[j & self.mask] > best:
                best = self.rx[j & self.mask]
                p = j
            j += 1
        if p == a:
            while (p - 1 >= lo_lim and not (self.rf[(p - 1) & self.mask] & F_GAP)
                   and self.rx[(p - 1) & self.mask] >= self.rx[p & self.mask]):
                p -= 1
        elif p == b:
            while (p + 1 <= hi_lim and not (self.rf[(p + 1) & self.mask] & F_GAP)
                   and self.rx[(p + 1) & self.mask] > self.rx[p & self.mask]):
                p += 1
        return p

    cdef int64_t _onset(self, int64_t p, int64_t prev) noexcept nogil:
        # Foot of the pulse: the last minimum of the raw signal before the
        # peak, within onset_win samples, after the previous beat's peak and
        # not across a gap. -1 if there is no sample to look at.
        cdef int64_t lo = p - self.onset_win
        cdef int64_t j, o, oldest = self.h.n - self.size + 1
        cdef double best, v
        cdef double* rx = self.rx
        cdef int64_t mask = self.mask
        if prev >= 0 and lo <= prev:
            lo = prev + 1
        if lo < oldest:
            lo = oldest
        if lo < 0:
            lo = 0
        if self.last_gap >= lo:
            # the window ends just after the latest gap sample in it
            j = p - 1
            while j >= lo and not (self.rf[j & mask] & F_GAP):
                j -= 1
            lo = j + 1
        if lo > p - 1:
            return -1
        # the latest of equal minima: a forward scan taking every value <=
        # the minimum so far, written as selects (min, conditional move)
        best = rx[lo & mask]
        o = lo
        for j in range(lo + 1, p):
            v = rx[j & mask]
            o = j if v <= best else o
            best = best if best < v else v
        return o

    cdef inline void _emit(self) noexcept nogil:
        cdef uint8_t q = self.p_q
        if self.after_gap:
            q |= Q_AFTER_GAP
            self.after_gap = False
        self._push_beat(self.p_peak, q, self.p_onset)
        self.last_peak = self.p_peak
        self.has_p = False

    cdef void _candidate(self, int64_t width) noexcept nogil:
        cdef double amp = self.h.ymax
        cdef double typ = 0.0, nt
        cdef double h, typh
        cdef int m
        cdef int64_t p, o
        cdef uint8_t q = 0
        m = self.acount if self.acount < NAMP else NAMP
        if m >= 3:
            typ = median8(self.abuf) if m == NAMP else median_small(self.abuf, m)
        # every block updates the typical amplitude, so that a lasting change
        # of signal level is learnt after a few blocks
        self.abuf[self.apos] = amp
        self.apos = (self.apos + 1) % NAMP
        self.acount += 1
        m = self.acount if self.acount < NAMP else NAMP
        if m >= 3:
            nt = median8(self.abuf) if m == NAMP else median_small(self.abuf, m)
            self.tol = self.flat_ratio * nt
            self.s_cap = 4.0 * nt * nt
        if width > self.max_block or (typ > 0.0 and amp > self.hi_ratio * typ):
            # motion artefact: no pulse can be told apart in it
            if self.has_p:
                self.p_q |= Q_UNCERTAIN
            self.art_next = True
            return
        if typ > 0.0 and amp < self.lo_ratio * typ:
            return
        p = self._locate(self.h.yi)
        if self.last_peak >= 0 and p - self.last_peak < self.min_dist:
            return
        # The onset bound is the beat before this one: the pending beat if
        # this candidate is a separate pulse, else the last emitted beat.
        if self.has_p and p - self.p_peak >= self.min_dist:
            o = self._onset(p, self.p_peak)
        else:
            o = self._onset(p, self.last_peak)
        # Second size check, on the raw pulse height: a step or a slow drift
        # can make a sizeable band-passed block out of a tiny raw rise.
        h = self.rx[p & self.mask] - self.rx[o & self.mask] if o >= 0 else 0.0
        m = self.hcount if self.hcount < NAMP else NAMP
        typh = (median8(self.hbuf) if m == NAMP else median_small(self.hbuf, m)) if m >= 3 else 0.0
        self.hbuf[self.hpos] = h
        self.hpos = (self.hpos + 1) % NAMP
        self.hcount += 1
        if typh > 0.0 and h < self.lo_ratio * typh:
            return
        # a peak on a saturated run: the true maximum was cut off
        if self.rf[p & self.mask] & F_CLIP:
            q |= Q_UNCERTAIN
        if self.art_next:
            q |= Q_UNCERTAIN
            self.art_next = False
        if self.has_p:
            if p - self.p_peak < self.min_dist:
                # one pulse, two blocks (e.g. a dicrotic wave): keep the larger
                if amp > self.p_amp:
                    self.p_peak = p
                    self.p_amp = amp
                    self.p_onset = o
                self.p_q |= q
                return
            self._emit()
        self.has_p = True
        self.p_peak = p
        self.p_amp = amp
        self.p_q = q
        self.p_onset = o

    cdef inline void _detect(self, int64_t c) noexcept nogil:
        cdef int64_t k = c & self.mask
        cdef int64_t i1 = c + self.h1, i2 = c + self.h2, ref
        cdef double mp, mb, v
        if self.rf[k] & F_GAP:
            # lost signal: a block cut by it is dropped, the pending beat is
            # final, and nothing is carried across
            self.h.in_block = False
            if self.has_p:
                self._emit()
            self.last_peak = -1
            self.after_gap = True
            return
        # centred averages = trailing averages read half a window later
        # (clamped at the end of the record, in flush)
        if self.flushing:
            if i1 > self.h.n - 1:
                i1 = self.h.n - 1
            if i2 > self.h.n - 1:
                i2 = self.h.n - 1
        mp = self.rmp[i1 & self.mask]
        mb = self.rmb[i2 & self.mask]
        if mp > mb + self.beta * self.h.smean:
            v = self.ry[k]
            if not self.h.in_block:
                self.h.in_block = True
                self.h.b0 = c
                self.h.ymax = v
                self.h.yi = c
            elif v > self.h.ymax:
                self.h.ymax = v
                self.h.yi = c
        elif self.h.in_block:
            self.h.in_block = False
            if c - self.h.b0 >= self.W1:
                self._candidate(c - self.h.b0)
        if self.has_p and c - self.p_peak >= self.hold:
            self._hold_check(c)

    cdef void _hold_check(self, int64_t c) noexcept nogil:
        # emit a held beat once no later block can come within min_dist
        cdef int64_t ref = self.h.b0 if self.h.in_block else c
        if ref - self.ext_lo - self.p_peak >= self.min_dist:
            self._emit()

    # ------------------------------------------------------------------ driver
    cdef void _signal2(self, const sample_t[:] xs, Py_ssize_t i, Py_ssize_t end) noexcept nogil:
        # _signal over xs[i:end] for the two-section band-pass, with the state
        # in local variables (kept in registers; the filter states of the
        # Biquad array would go through memory on every sample, a
        # store-to-load round trip inside the filter's recursion). Same
        # arithmetic in the same order; non-finite samples and restarts go
        # through _signal itself.
        cdef double* ry = self.ry
        cdef double* rx = self.rx
        cdef double* rs = self.rs
        cdef double* rmp = self.rmp
        cdef double* rmb = self.rmb
        cdef uint8_t* rf = self.rf
        cdef int64_t mask = self.mask, W1 = self.W1, W2 = self.W2
        cdef double inv_w1 = self.inv_w1, inv_w2 = self.inv_w2
        cdef double hb0 = self.sec0[0].b0, hb1 = self.sec0[0].b1, hb2 = self.sec0[0].b2
        cdef double ha1 = self.sec0[0].a1, ha2 = self.sec0[0].a2
        cdef double lb0 = self.sec0[1].b0, lb1 = self.sec0[1].b1, lb2 = self.sec0[1].b2
        cdef double la1 = self.sec0[1].a1, la2 = self.sec0[1].a2
        cdef double hz1, hz2, lz1, lz2, sum1, sum2, x, y, d, s
        cdef int64_t n, n0, k, j, since, cd1, cd2
        cdef Py_ssize_t e2
        while i < end:
            x = <double> xs[i]
            if not isfinite(x) or self.sig_fresh:
                self._signal(x)
                i += 1
                continue
            hz1 = self.h.sec[0].z1
            hz2 = self.h.sec[0].z2
            lz1 = self.h.sec[1].z1
            lz2 = self.h.sec[1].z2
            sum1 = self.h.sum1
            sum2 = self.h.sum2
            since = self.h.since
            cd1 = self.h.cd1
            cd2 = self.h.cd2
            n = self.nsig
            while True:
                if since >= W2 and cd1 > 1 and cd2 > 1:
                    # steady state (both windows full, no exact recomputation
                    # of the sums due): the same steps as below without the
                    # tests that cannot fire
                    e2 = i + (end - i if end - i < cd1 - 1 else cd1 - 1)
                    if e2 > i + cd2 - 1:
                        e2 = i + cd2 - 1
                    n0 = n
                    while True:
                        k = n & mask
                        y = hb0 * x + hz1
                        hz1 = hb1 * x - ha1 * y + hz2
                        hz2 = hb2 * x - ha2 * y
                        d = y
                        y = lb0 * d + lz1
                        lz1 = lb1 * d - la1 * y + lz2
                        lz2 = lb2 * d - la2 * y
                        s = y * y if y > 0.0 else 0.0
                        rs[k] = s
                        sum1 += s - rs[(n - W1) & mask]
                        sum2 += s - rs[(n - W2) & mask]
                        rmp[k] = sum1 * inv_w1
                        rmb[k] = sum2 * inv_w2
                        rx[k] = x
                        ry[k] = y
                        rf[k] = 0
                        n += 1
                        i += 1
                        if i >= e2:
                            break
                        x = <double> xs[i]
                        if not isfinite(x):
                            break
                    since += n - n0
                    cd1 -= n - n0
                    cd2 -= n - n0
                    if i >= end:
                        break
                    x = <double> xs[i]
                    if not isfinite(x):
                        break
                    continue
                k = n & mask
                # high-pass then low-pass section (transposed direct form II)
                y = hb0 * x + hz1
                hz1 = hb1 * x - ha1 * y + hz2
                hz2 = hb2 * x - ha2 * y
                d = y
                y = lb0 * d + lz1
                lz1 = lb1 * d - la1 * y + lz2
                lz2 = lb2 * d - la2 * y
                s = y * y if y > 0.0 else 0.0
                rs[k] = s
                since += 1
                if since <= W1:
                    sum1 += s
                else:
                    sum1 += s - rs[(n - W1) & mask]
                if since <= W2:
                    sum2 += s
                else:
                    sum2 += s - rs[(n - W2) & mask]
                cd1 -= 1
                if cd1 == 0:
                    cd1 = RECOMPUTE * W1
                    sum1 = 0.0
                    j = n - W1 + 1
                    while j <= n:
                        sum1 += rs[j & mask]
                        j += 1
                cd2 -= 1
                if cd2 == 0:
                    cd2 = RECOMPUTE * W2
                    sum2 = 0.0
                    j = n - W2 + 1
                    while j <= n:
                        sum2 += rs[j & mask]
                        j += 1
                if since >= W2:
                    rmp[k] = sum1 * inv_w1
                    rmb[k] = sum2 * inv_w2
                else:
                    rmp[k] = sum1 / (since if since < W1 else W1)
                    rmb[k] = sum2 / since
                rx[k] = x
                ry[k] = y
                rf[k] = 0
                n += 1
                i += 1
                if i >= end:
                    break
                x = <double> xs[i]
                if not isfinite(x):
                    break
            self.h.sec[0].z1 = hz1
            self.h.sec[0].z2 = hz2
            self.h.sec[1].z1 = lz1
            self.h.sec[1].z2 = lz2
            self.h.sum1 = sum1
            self.h.sum2 = sum2
            self.h.since = since
            self.h.cd1 = cd1
            self.h.cd2 = cd2
            self.nsig = n

    cdef void _decide2(self, const sample_t[:] xs, Py_ssize_t i, Py_ssize_t end) noexcept nogil:
        # _feature_a and the detection stage (_detect) for xs[i:end], whose
        # signal part has run. Same arithmetic in the same order, with the
        # per-sample state in local variables. A sample takes the fast path
        # when nothing unusual happens to it: a finite sample, no gap open or
        # pending, and a run of similar samples shorter than clip_n (checked
        # before any state changes); otherwise the state is written back and
        # the sample goes through _feature_a and _detect. The rare detection
        # steps (a gap flag at the sample being decided, the end of a block,
        # the hold check) call the same methods as _detect with the fields
        # they read written back.
        cdef double* ry = self.ry
        cdef double* rs = self.rs
        cdef double* rmp = self.rmp
        cdef double* rmb = self.rmb
        cdef uint8_t* rf = self.rf
        cdef int64_t mask = self.mask, D = self.D, W1 = self.W1
        cdef int64_t h1 = self.h1, h2 = self.h2, hold = self.hold, clip_n = self.clip_n
        cdef int64_t mean_n = self.mean_n
        cdef double inv_mean_n = self.inv_mean_n
        cdef double beta = self.beta
        cdef int64_t n, nmean, run_len, run_start, b0, yi
        cdef double smean, anchor, xmax, xmin, ymax
        cdef bint run_clip, in_block
        cdef double tol, s_cap
        cdef bint inrun, slow
        cdef int64_t hold_at, nl, k, c, kc, n_in
        # ring offsets from the newest sample n + 1 (after its increment) of
        # the sample being decided (c = n - 1 - D) and of its centred averages
        cdef int64_t offc = -1 - D, off1 = h1 - 1 - D, off2 = h2 - 1 - D
        cdef double x, s, sm, v
        while i < end:
            # load state
            n = self.h.n
            n_in = n
            nmean = self.h.nmean
            run_len = self.h.run_len
            run_start = self.h.run_start
            b0 = self.h.b0
            yi = self.h.yi
            smean = self.h.smean
            anchor = self.h.anchor
            xmax = self.h.xmax
            xmin = self.h.xmin
            ymax = self.h.ymax
            run_clip = self.h.run_clip
            in_block = self.h.in_block
            tol = self.tol
            s_cap = self.s_cap
            # the hold check fires once c reaches hold_at (never without a held beat)
            hold_at = self.p_peak + hold if self.has_p else INT64_MAX
            slow = True
            if self.started and not self.in_gap and not self.has_pg and run_len > 0:
                slow = False
                while i < end:
                    x = <double> xs[i]
                    if not isfinite(x):
                        slow = True
                        break
                    # flat-run tracking: samples within +-tol of the run's
                    # first value; a run reaching clip_n needs _runs
                    # (run_len > 0 throughout the fast path: see its entry)
                    inrun = fabs(x - anchor) <= tol
                    nl = run_len + 1 if inrun else 1
                    if nl >= clip_n:
                        slow = True
                        break
                    i += 1
                    # ---- feature stage, decision part (as _feature_a)
                    k = n & mask
                    if x > xmax:
                        xmax = x
                    elif x < xmin:
                        xmin = x
                    # as a select, not a branch (see somacore_run_anchor).
                    # run_start is n - run_len + 1 and run_clip is False on
                    # the fast path (a run that reached clip_n has ended):
                    # both are written back when the state is stored. The
                    # flags were cleared by the signal part.
                    run_len = nl
                    anchor = somacore_run_anchor(anchor, x, tol)
                    s = rs[k]
                    sm = s if s < s_cap else s_cap
                    nmean += 1
                    if nmean < mean_n:
                        smean += (sm - smean) / nmean
                    else:
                        smean += (sm - smean) * inv_mean_n
                    n += 1
                    # ---- detection stage, D samples behind (as _detect)
                    if n <= D:
                        continue
                    c = n + offc
                    kc = c & mask
                    if rf[kc] & F_GAP:
                        # lost signal at c: _detect itself, on the synced state
                        self.h.n = n
                        self.h.smean = smean
                        self.h.in_block = in_block
                        self._detect(c)
                        in_block = self.h.in_block
                        hold_at = self.p_peak + hold if self.has_p else INT64_MAX
                        continue
                    if rmp[(n + off1) & mask] > rmb[(n + off2) & mask] + beta * smean:
                        v = ry[kc]
                        if not in_block:
                            in_block = True
                            b0 = c
                            ymax = v
                            yi = c
                        elif v > ymax:
                            ymax = v
                            yi = c
                    elif in_block:
                        in_block = False
                        if c - b0 >= W1:
                            self.h.n = n
                            self.h.ymax = ymax
                            self.h.yi = yi
                            self._candidate(c - b0)
                            tol = self.tol
                            s_cap = self.s_cap
                            hold_at = self.p_peak + hold if self.has_p else INT64_MAX
                    if c >= hold_at:
                        # (c - p_peak >= hold with a held beat)
                        self.h.b0 = b0
                        self.h.in_block = in_block
                        self._hold_check(c)
                        hold_at = self.p_peak + hold if self.has_p else INT64_MAX
            # store state
            if n > n_in:
                # after at least one fast sample (see above)
                run_start = n - run_len
                run_clip = False
            self.h.n = n
            self.h.nmean = nmean
            self.h.run_len = run_len
            self.h.run_start = run_start
            self.h.b0 = b0
            self.h.yi = yi
            self.h.smean = smean
            self.h.anchor = anchor
            self.h.xmax = xmax
            self.h.xmin = xmin
            self.h.ymax = ymax
            self.h.run_clip = run_clip
            self.h.in_block = in_block
            if not slow:
                break
            # this one sample through the general path
            self._feature_a(<double> xs[i])
            i += 1
            if self.h.n > D:
                self._detect(self.h.n - 1 - D)

    cdef void _run(self, const sample_t[:] xs) noexcept nogil:
        # Per sample: the feature stage (signal part, then decision part) and
        # the detection stage D samples behind. The usual two-section
        # band-pass takes the fast path: per segment of at most SEG samples,
        # the signal part runs over the whole segment (_signal2), then the
        # decision part and detection (_decide2). Nothing in the signal part
        # depends on the other two, and they only read ring samples already
        # written (the ring has room for the segment the signal part runs
        # ahead), so the results are identical to the per-sample order; each
        # pass alone is a short loop whose state fits in registers.
        cdef Py_ssize_t i, m = xs.shape[0], e
        cdef double x
        if self.nsec == 2:
            i = 0
            while i < m:
                e = i + SEG if m - i > SEG else m
                self._signal2(xs, i, e)
                self._decide2(xs, i, e)
                i = e
            return
        for i in range(m):
            x = <double> xs[i]
            self._signal(x)
            self._feature_a(x)
            if self.h.n > self.D:
                self._detect(self.h.n - 1 - self.D)

    def process(self, const sample_t[:] x):
        """Consume a chunk; return (peaks, quality, gaps, onsets) decided since the last call."""
        if self.flushed:
            raise RuntimeError("this kernel was flushed; create a new one")
        with nogil:
            self._run(x)
        return self._take()

    def flush(self):
        """Finish the record: run the look-ahead out, emit the held beat, close gaps."""
        cdef int64_t c
        if self.flushed:
            return self._take()
        with nogil:
            self.flushing = True
            c = self.h.n - self.D
            if c < 0:
                c = 0
            while c < self.h.n:
                self._detect(c)
                c += 1
            # a block still open at the end is cut: dropped, like one cut by a gap
            self.h.in_block = False
            if self.has_p:
                self._emit()
            if self.in_gap:
                self._push_gap(self.gap_start, self.h.n)
                self.in_gap = False
            elif self.has_pg:
                self._push_gap(self.pg_a, self.pg_b)
                self.has_pg = False
        self.flushed = True
        return self._take()

    cdef tuple _take(self):
        cdef Py_ssize_t m = self.out_s.n
        cdef Py_ssize_t g = self.out_g.n
        if self.out_s.failed or self.out_o.failed or self.out_q.failed or self.out_g.failed:
            raise MemoryError("the PPG kernel could not grow its output buffer")
        s = np.empty(m, dtype=np.int64)
        q = np.empty(m, dtype=np.uint8)
        o = np.empty(m, dtype=np.int64)
        gaps = np.empty((g, 2), dtype=np.int64)
        cdef int64_t[::1] sv = s
        cdef int64_t[::1] ov = o
        cdef uint8_t[::1] qv = q
        cdef int64_t[:, ::1] gv = gaps
        # drained after each call, so memory stays flat on endless streams
        buf_drain(&self.out_s, &sv[0] if m > 0 else NULL)
        buf_drain(&self.out_o, &ov[0] if m > 0 else NULL)
        buf_drain(&self.out_q, &qv[0] if m > 0 else NULL)
        buf_drain(&self.out_g, &gv[0, 0] if g > 0 else NULL)
        return s, q, gaps, o

    @property
    def n_samples(self):
        return self.h.n

    @property
    def typical_amplitude(self):
        """Running typical block amplitude of the band-passed signal (0 until 3 blocks)."""
        cdef int m = self.acount if self.acount < NAMP else NAMP
        return median_small(self.abuf, m) if m >= 3 else 0.0

    @property
    def lookahead(self):
        """Samples the detection stage runs behind the input (the decision latency)."""
        return self.D
