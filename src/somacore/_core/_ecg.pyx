# cython: language_level=3
"""Stateful QRS detector kernel (private).

Contract (see somacore/_core/__init__.py): the kernel validates nothing; the
public layer (somacore.beats, somacore.stream) checks fs, shape and dtype and
designs the parameters. One kernel object is one channel's detector: feed it
samples with ``process`` in any chunking, then call ``flush`` once. Every
decision depends only on samples already seen, so the beats are identical for
any chunking (the batch API is ``process(all); flush()``).

Algorithm (a Hamilton-Tompkins / Pan-Tompkins family detector):

1. feature: band-pass (cascaded biquads) -> 5-point derivative -> absolute
   value -> moving-window integral (MWI) over ``W*D`` samples, evaluated once
   per block of ``D`` samples (see "Decimated detection" below);
2. peaks of the MWI: a rising maximum, declared when the MWI falls below
   half of it or ``peak_timeout`` samples have passed;
3. pre-blanking: a peak is held for ``pre_blank`` samples and replaced by a
   larger one arriving in that time (one QRS, one candidate);
4. classification against an adaptive threshold between the running QRS
   and noise peak levels, with a baseline-shift check (a QRS has both a
   rising and a falling slope) and a T-wave check (a candidate soon after a
   beat with a much smaller slope is a T wave);
5. search-back: if no beat came for ``sb_factor`` mean RR intervals, the
   largest rejected peak since the last beat is taken if it exceeds half the
   threshold;
6. the R peak is placed on the largest deflection of the raw signal (from
   a baseline through the window's ends) over the window that produced the
   MWI peak;
7. rhythm check (``lag`` > 0): detected beats are held ``lag`` samples and
   the kept ones are the best-scoring subsequence (one unit of evidence per
   beat, adjusted by its size against a typical beat, minus the log-deviation
   of each interval from the recent median interval divided by the rhythm's
   robust spread). Beats squeezed between regular beats by electrode motion
   are dropped; in irregular rhythms (atrial fibrillation, ectopy) the spread
   is large and the check keeps nearly everything;
8. noise awareness of the rhythm check: the noise estimate is the fraction
   of the blocks of the last two seconds whose feature exceeds
   ``act_lvl`` times the QRS level (a clean ECG is active only around its
   QRS complexes, ~20-25% of the time at 70 bpm; electrode motion at 0 dB
   SNR keeps it active 40-90% of the time). While it is at or above
   ``nz_freeze``, emitted intervals are not added to the rhythm statistics
   (false beats in a noise burst would otherwise inflate the spread and
   switch the check off exactly where it is needed), and from ``nz_lo`` to
   ``nz_hi`` the interval weight grows linearly by up to ``nz_boost``;
9. burst alternatives (``alt_on``): pre-blanking keeps the largest peak of a
   burst, which in noise is often a noise peak next to the QRS. When the
   candidate is accepted, the burst's next largest peak, if it is within the
   refractory period of the candidate and would pass the threshold, shift
   and T-wave tests on its own, is also held for the rhythm check, which
   keeps at most one of two beats closer than the refractory period (also
   across an already emitted beat): the one that fits the rhythm better.
   The detector's own state (levels, RR, refractory) follows the candidate.

The thresholds are learnt from the first ``init_len`` blocks; the detection
stage then replays those blocks from the kernel's ring buffer, so no beat at
the start of a record is lost and the replay is the same in any chunking.
Non-finite samples are gaps: filters restart after them, no interval spans
them and they are reported.

Decimated detection (exact subsampling). The filters, the derivative, the
raw-sample ring (for the R peak), the derivative ring (for the slope and
baseline-shift test) and the gap / flat-run checks run on every sample. The
samples are grouped in blocks of ``D`` samples aligned to the absolute sample
index (block ``j`` is samples ``[j*D, (j+1)*D)``, so any chunking gives the
same blocks); the |derivative| of a block is summed, and at each block end
the MWI is updated with that sum over a window of ``W`` blocks. The MWI of
block ``j`` is therefore exactly the full-rate MWI with a ``W*D``-sample
window at sample ``(j+1)*D - 1``. Steps 2-5 and 7 run once per block, on
block indices, with every time parameter given in blocks (the public layer
converts seconds at ``fs / D``). A block that contains any gap sample is a
gap block. The slope test of a candidate at block ``p`` and the R-peak search
run at full rate on the windows ending at sample ``(p+1)*D - 1``; beat
samples and gap ranges are reported in full-rate samples. ``D = 1`` is the
undecimated detector.
"""

cimport cython
from libc.math cimport fabs, isfinite, log, INFINITY
from libc.stdlib cimport free, malloc, realloc
from libc.stdint cimport int64_t, uint8_t
from libc.string cimport memset

from _buffers cimport Buf, buf_drain, buf_free, buf_init, buf_push
from _filters cimport Biquad, biquad_settle, biquad_step, load_sections
from _stats cimport median8, median_small
from _types cimport sample_t

# GCC's straight-line (SLP) vectorizer pairs the filter states in the hot loop
# of _run into vector registers (they are stored back to adjacent fields),
# which adds a shuffle per pair per sample and costs ~20 instructions/sample
# over plain scalar code. Results are unaffected either way (no reassociation).
cdef extern from *:
    """
    #if defined(__GNUC__) && !defined(__clang__)
    #pragma GCC optimize("no-tree-slp-vectorize")
    #endif
    """

import numpy as np

cdef enum:
    MAX_SECTIONS = 8
    NBUF = 8
    PMAX = 64       # beats held by the rhythm check
    NLRR = 16       # emitted log-RR history
    NLOG = 2048     # table of log(k) for the intervals (in blocks) of the rhythm check
    SEG = 256       # blocks per segment of the fast path in _run (feature pass, then detection)
    # flags stored per sample in the ring
    F_GAP = 1
    F_RESUME = 2
    # beat quality bits (mirrors somacore.beats)
    Q_SEARCHBACK = 1
    Q_AFTER_GAP = 2


def _empty_result():
    s = np.empty(0, dtype=np.int64)
    q = np.empty(0, dtype=np.uint8)
    g = np.empty((0, 2), dtype=np.int64)
    for a in (s, q, g):
        a.flags.writeable = False
    return (s, q, g)


cdef tuple _NOTHING = _empty_result()


cdef inline double _mean(double* a, int n) noexcept nogil:
    cdef double s = 0.0
    cdef int i
    for i in range(n):
        s += a[i]
    return s / n






@cython.final
cdef class EcgKernel:
    # --- parameters ---
    cdef Biquad sec[MAX_SECTIONS]
    cdef Biquad sec0[MAX_SECTIONS]
    cdef int nsec
    # W, pre_blank, peak_timeout, refractory, twave, init_len, lag: blocks;
    # bls_win, bls_sep, loc_half, gdelay, settle, flat_len: samples
    cdef int D                  # samples per block (decimation factor)
    cdef int W, pre_blank, peak_timeout, refractory, twave, init_len
    cdef int bls_win, bls_sep, loc_half, gdelay, settle, flat_len
    cdef double th, sb_factor, twave_ratio, sb_ratio
    cdef double dt_cache, rr_cache, sb_due, q_med
    # per-second maxima of the feature, for (re)learning the QRS level
    cdef double smax[NBUF]
    cdef int n_smax, smax_pos, sec_cnt, sec_len
    cdef double cur_max
    cdef int64_t quiet_ref      # last beat, resume or relearn (blocks)
    # --- noise estimate: fraction of the blocks of a second whose feature
    # exceeds act_lvl times the QRS level (a clean ECG is active only around
    # its QRS complexes; electrode motion or muscle noise keeps it active) ---
    cdef double act_lvl, act_th, noise, act_last
    cdef int act_cnt
    cdef double nz_freeze, nz_lo, nz_hi, nz_boost
    cdef int64_t relearn_len    # blocks without a beat before relearning (0: never)
    # --- rhythm check on detected beats (lag > 0) ---
    cdef int lag
    cdef double w_rr, w_amp, sig_min
    cdef int npend
    cdef int64_t pend_p[PMAX]
    cdef int64_t pend_r[PMAX]
    cdef double pend_v[PMAX]
    cdef double pend_s[PMAX]
    cdef uint8_t pend_q[PMAX]
    cdef double best[PMAX]
    cdef int prev[PMAX]
    cdef bint sel[PMAX]
    cdef double lrr[NLRR]
    cdef double lsort[NLRR]     # the same values, kept sorted
    cdef int nlrr, lrrpos
    cdef int64_t em_p           # block of the last emitted beat, -1 if none
    cdef double em_slope
    cdef double fs
    cdef double* logtab         # logtab[k] = log(k), the same values log() returns
    # --- feature stage ---
    cdef int64_t n              # samples consumed
    cdef int64_t nb             # blocks completed (= n // D)
    cdef int64_t mask, bmask
    cdef double* rx             # raw (as double), per sample
    cdef double* ry             # band-passed, per sample
    cdef double* rd             # derivative, per sample
    cdef double* rm             # MWI feature, per block
    cdef uint8_t* rf            # flags, per block
    cdef double* mwi            # window of block sums of |derivative|
    cdef int mwi_pos
    cdef double mwi_sum
    cdef double blk_sum         # sum of |derivative| in the current block
    cdef uint8_t blk_flag       # flags collected in the current block
    cdef double yh[4]
    cdef bint in_gap, started, flat_gap
    cdef int64_t gap_start
    cdef double prev_x
    cdef int64_t run_start      # first sample of the current run of equal values
    cdef int64_t cut_from       # block where the gap the detection stage must honour starts
    cdef int64_t since_valid
    # --- detection stage ---
    cdef int64_t ndet
    cdef bint initialized
    cdef double pk_max, last_m
    cdef int64_t pk_idx
    cdef int tsm
    cdef bint cand_on
    cdef double cand_v
    cdef int64_t cand_i
    cdef double alt_v           # largest other peak of the candidate's burst (0: none)
    cdef int64_t alt_i
    cdef bint alt_on            # burst alternatives go to the rhythm check
    cdef int blank
    cdef double qbuf[NBUF]
    cdef double nbuf[NBUF]
    cdef double rrbuf[NBUF]
    cdef int qpos, npos, rrpos
    cdef int64_t last_qrs       # block of last QRS, -1 if none since start/gap
    cdef int64_t sb_ref         # reference time for search-back timing
    cdef double last_slope
    cdef bint after_gap, det_in_gap
    cdef double sb_v, sb_slope
    cdef int64_t sb_i, sb_r
    cdef int64_t last_r         # last emitted R sample (full rate)
    # --- outputs ---
    cdef Buf out_s              # beat samples (int64)
    cdef Buf out_q              # beat quality flags (uint8)
    cdef Buf out_g              # gap ranges (pairs of int64)
    cdef bint flushed

    def __cinit__(self, double fs, double[:, ::1] sections, int D, int W, int pre_blank,
                  int peak_timeout, int refractory, int twave, int init_len,
                  int bls_win, int bls_sep, int loc_half, int gdelay, int settle,
                  int flat_len, int lag, double w_rr, double w_amp, double sig_min,
                  double th, double sb_factor, double twave_ratio, double sb_ratio,
                  int relearn_len, double act_lvl, double nz_freeze, double nz_lo,
                  double nz_hi, double nz_boost, bint alt_on):
        cdef int i
        cdef int64_t size = 1, bsize = 1, nblk
        if sections.shape[0] > MAX_SECTIONS or sections.shape[1] != 5:
            raise ValueError("bad filter sections")
        if D < 1 or W < 1:
            raise ValueError("bad decimation or window")
        self.fs = fs
        self.D = D
        self.nsec = sections.shape[0]
        load_sections(self.sec0, self.sec, &sections[0, 0], self.nsec)
        self.W = W
        self.pre_blank = pre_blank
        self.peak_timeout = peak_timeout
        self.refractory = refractory
        self.twave = twave
        self.init_len = init_len
        self.bls_win = bls_win
        self.bls_sep = bls_sep
        self.loc_half = loc_half
        self.gdelay = gdelay
        self.settle = settle
        self.relearn_len = relearn_len
        self.act_lvl = act_lvl
        self.act_th = 0.0
        self.act_cnt = 0
        self.noise = 0.0
        self.act_last = 0.0
        self.nz_freeze = nz_freeze
        self.nz_lo = nz_lo
        self.nz_hi = nz_hi
        self.nz_boost = nz_boost
        self.alt_on = alt_on
        self.alt_v = 0.0
        self.alt_i = 0
        self.sec_len = <int> (fs / D) if fs / D >= 1.0 else 1
        self.n_smax = 0
        self.smax_pos = 0
        self.sec_cnt = 0
        self.cur_max = 0.0
        self.quiet_ref = 0
        self.flat_len = flat_len
        self.lag = lag
        self.w_rr = w_rr
        self.w_amp = w_amp
        self.sig_min = sig_min
        self.npend = 0
        self.nlrr = 0
        self.lrrpos = 0
        self.em_p = -1
        self.th = th
        self.sb_factor = sb_factor
        self.twave_ratio = twave_ratio
        self.sb_ratio = sb_ratio
        # the rings hold the whole learning period plus the look-back the
        # detection stage needs (pre-blank + timeout + window + localisation):
        # in blocks for the feature, in samples for the raw signal/derivative
        nblk = init_len + flat_len // D + 2 + lag + pre_blank + peak_timeout + 2 * W + 64
        while bsize < nblk:
            bsize <<= 1
        self.bmask = bsize - 1
        # (plus SEG blocks: the fast path's feature pass runs that far ahead
        # of the detection stage)
        while size < (nblk + SEG) * D + flat_len + bls_win + 4 * loc_half + gdelay + 64:
            size <<= 1
        self.mask = size - 1
        self.rx = <double*> malloc(size * sizeof(double))
        self.ry = <double*> malloc(size * sizeof(double))
        self.rd = <double*> malloc(size * sizeof(double))
        self.rm = <double*> malloc(bsize * sizeof(double))
        self.rf = <uint8_t*> malloc(bsize * sizeof(uint8_t))
        self.mwi = <double*> malloc(W * sizeof(double))
        buf_init(&self.out_s, sizeof(int64_t))
        buf_init(&self.out_q, sizeof(uint8_t))
        buf_init(&self.out_g, 2 * sizeof(int64_t))
        self.logtab = <double*> malloc(NLOG * sizeof(double))
        if (self.rx == NULL or self.ry == NULL or self.rd == NULL or self.rm == NULL
                or self.rf == NULL or self.mwi == NULL or self.logtab == NULL):
            raise MemoryError()
        self.logtab[0] = -INFINITY
        for i in range(1, NLOG):
            self.logtab[i] = log(<double> i)
        memset(self.mwi, 0, W * sizeof(double))
        memset(self.rf, 0, bsize * sizeof(uint8_t))
        self.mwi_pos = 0
        self.mwi_sum = 0.0
        self.blk_sum = 0.0
        self.blk_flag = 0
        self.n = 0
        self.nb = 0
        self.in_gap = False
        self.flat_gap = False
        self.det_in_gap = False
        self.started = False
        self.since_valid = 0
        self.ndet = 0
        self.initialized = False
        self.pk_max = 0.0
        self.last_m = 0.0
        self.tsm = 0
        self.cand_on = False
        self.last_qrs = -1
        self.sb_ref = 0
        self.after_gap = True
        self.sb_v = 0.0
        self.last_r = -(1 << 40)
        self.flushed = False

    def __dealloc__(self):
        free(self.rx); free(self.ry); free(self.rd); free(self.rm); free(self.rf)
        free(self.mwi)
        buf_free(&self.out_s)
        buf_free(&self.out_q)
        buf_free(&self.out_g)
        free(self.logtab)

    # ------------------------------------------------------------------ outputs
    cdef inline void _push_beat(self, int64_t s, uint8_t q) noexcept nogil:
        cdef int64_t* ps = <int64_t*> buf_push(&self.out_s)
        cdef uint8_t* pq = <uint8_t*> buf_push(&self.out_q)
        if ps != NULL and pq != NULL:
            ps[0] = s
            pq[0] = q

    cdef inline void _push_gap(self, int64_t a, int64_t b) noexcept nogil:
        cdef int64_t* pg = <int64_t*> buf_push(&self.out_g)
        if pg != NULL:
            pg[0] = a
            pg[1] = b

    # ------------------------------------------------------------ feature stage
    cdef inline void _mark_gap(self, int64_t k) noexcept nogil:
        # sample k is a gap, and so is its block
        cdef int64_t b = k // self.D
        if b < self.nb:
            # a completed block (flat run marked retroactively)
            self.rm[b & self.bmask] = 0.0
            self.rf[b & self.bmask] = F_GAP
        else:
            self.blk_flag |= F_GAP
        k = k & self.mask
        self.rx[k] = 0.0
        self.ry[k] = 0.0
        self.rd[k] = 0.0

    cdef inline double _block_mwi(self) noexcept nogil:
        # end of a block: the MWI over the last W block sums. The running sum
        # is recomputed once per window so rounding error cannot build up
        # over a long record. The fast path in _run inlines the same
        # arithmetic.
        cdef int i
        self.mwi_sum += self.blk_sum - self.mwi[self.mwi_pos]
        self.mwi[self.mwi_pos] = self.blk_sum
        self.blk_sum = 0.0
        self.mwi_pos += 1
        if self.mwi_pos == self.W:
            self.mwi_pos = 0
            self.mwi_sum = 0.0
            for i in range(self.W):
                self.mwi_sum += self.mwi[i]
        # suppress the feature while the filters settle after a start or gap
        return self.mwi_sum if self.since_valid > self.settle else 0.0

    cdef inline uint8_t _close_block(self, double m) noexcept nogil:
        # store block nb (MWI m) with its flags: a block touched by a gap is a
        # gap (feature 0); a restart inside a gap block marks the next clean
        # block. Returns the block's flags.
        cdef uint8_t flag = self.blk_flag
        cdef int64_t b = self.nb & self.bmask
        if flag & F_GAP:
            self.blk_flag = flag & F_RESUME
            flag = F_GAP
            m = 0.0
        else:
            self.blk_flag = 0
        self.rm[b] = m
        self.rf[b] = flag
        self.nb += 1
        return flag

    cdef bint _feature(self, double x) noexcept nogil:
        # one sample through the general path; True if it closed a block
        cdef int64_t n = self.n
        cdef int64_t k = n & self.mask
        cdef int64_t j
        cdef int i
        cdef double y, d
        if not isfinite(x):
            if not self.in_gap:
                self.in_gap = True
                self.flat_gap = False
                self.gap_start = n
                self.cut_from = n // self.D
            self._mark_gap(n)
            self.n = n + 1
            return self._end_of_block()
        # A run of identical values longer than flat_len is a flat or clipped
        # (saturated) stretch: no ECG stays exactly constant that long, and
        # the jumps into and out of saturation must not become beats. The run
        # is turned into a gap from its first sample, retroactively; the
        # detection stage drops anything pending from that point on.
        if self.started and x == self.prev_x:
            if n - self.run_start + 1 >= self.flat_len:
                if not self.in_gap:
                    self.in_gap = True
                    self.flat_gap = True
                    self.gap_start = self.run_start
                    self.cut_from = self.run_start // self.D
                    j = self.run_start
                    while j < n:
                        self._mark_gap(j)
                        j += 1
                self._mark_gap(n)
                self.n = n + 1
                return self._end_of_block()
        else:
            self.run_start = n
        self.prev_x = x
        if self.in_gap or not self.started:
            if self.in_gap:
                self._push_gap(self.gap_start, n)
                self.blk_flag |= F_RESUME
            self.in_gap = False
            self.flat_gap = False
            self.started = True
            # restart the filters in the steady state of the first sample so
            # that the step from "no signal" is not seen as a QRS
            y = x
            for i in range(self.nsec):
                self.sec[i] = self.sec0[i]
                y = biquad_settle(&self.sec[i], y)
            self.yh[0] = y
            self.yh[1] = y
            self.yh[2] = y
            self.yh[3] = y
            memset(self.mwi, 0, self.W * sizeof(double))
            self.mwi_sum = 0.0
            self.blk_sum = 0.0
            self.since_valid = 0
        y = x
        for i in range(self.nsec):
            y = biquad_step(&self.sec[i], y)
        # 5-point derivative (Pan & Tompkins 1985), y[n-4..n]
        d = (2.0 * y + self.yh[0] - self.yh[2] - 2.0 * self.yh[3]) * 0.125
        self.yh[3] = self.yh[2]
        self.yh[2] = self.yh[1]
        self.yh[1] = self.yh[0]
        self.yh[0] = y
        # |d| rather than d*d (Hamilton & Tompkins 1986): squaring would turn a
        # wide ectopic beat with half the slope into a quarter of the energy
        self.blk_sum += fabs(d)
        self.since_valid += 1
        self.rx[k] = x
        self.ry[k] = y
        self.rd[k] = d
        self.n = n + 1
        return self._end_of_block()

    cdef inline bint _end_of_block(self) noexcept nogil:
        if self.n != (self.nb + 1) * self.D:
            return False
        self._close_block(self._block_mwi())
        return True

    # ---------------------------------------------------------- detection stage
    cdef inline void _update_levels(self) noexcept nogil:
        # Detection threshold between the typical QRS and noise peak: medians,
        # not means, so that a few huge ectopic beats or artefacts do not lift
        # the threshold above the ordinary beats (MIT-BIH 203).
        cdef double q = median8(self.qbuf)       # NBUF == 8
        cdef double nz = median8(self.nbuf)
        self.q_med = q
        self.act_th = self.act_lvl * q
        self.dt_cache = nz + self.th * (q - nz)
        self.rr_cache = _mean(self.rrbuf, NBUF)
        self._update_sb_due()

    cdef inline void _update_sb_due(self) noexcept nogil:
        # search-back is due once no beat came for sb_factor mean intervals
        # (plus the pre-blanking delay with which beats are decided)
        self.sb_due = <double> self.sb_ref + (self.sb_factor * self.rr_cache + self.pre_blank)

    cdef inline double _threshold(self) noexcept nogil:
        return self.dt_cache

    cdef void _learn(self) noexcept nogil:
        # Initial QRS level: median of the per-second maxima of the feature
        # over the learning period (Hamilton & Tompkins 1986 use the mean; the
        # median keeps one start-up transient or electrode pop, often 50x a
        # QRS, from setting a threshold no beat ever reaches); noise level
        # zero; RR one second. The period is replayed afterwards with these
        # levels. Everything here is in blocks (fs / D per second).
        cdef double fsb = self.fs / self.D
        cdef int64_t end = self.nb
        cdef int64_t sec = self.sec_len
        cdef int64_t a, j
        cdef double mx
        cdef double maxima[NBUF]
        cdef int cnt = 0, i
        a = 0
        while a < end and cnt < NBUF:
            mx = 0.0
            j = a
            while j < a + sec and j < end:
                if self.rm[j & self.bmask] > mx:
                    mx = self.rm[j & self.bmask]
                j += 1
            if mx > 0.0:
                maxima[cnt] = mx
                cnt += 1
            a += sec
        mx = median_small(maxima, cnt) if cnt > 0 else 0.0
        for i in range(NBUF):
            self.qbuf[i] = mx
            self.nbuf[i] = 0.0
            self.rrbuf[i] = fsb
        self.qpos = 0
        self.npos = 0
        self.rrpos = 0
        self._update_levels()
        self.initialized = True

    cdef void _slopes(self, int64_t p, double* slope, bint* shift) noexcept nogil:
        # Max |derivative| over the window that produced MWI peak p (a block;
        # the window ends at its last sample, at full rate), and the
        # baseline-shift test: a QRS has a rising and a falling edge of
        # comparable size close together; a baseline step has only one.
        cdef int64_t e = (p + 1) * self.D - 1
        cdef int64_t j, lo = e - self.bls_win
        cdef int64_t jmax = e, jmin = e
        cdef double mx = 0.0, mn = 0.0, v
        if lo < 0:
            lo = 0
        if lo < self.n - self.mask:
            lo = self.n - self.mask
        # (the largest and the smallest value and their first positions, as
        # selects: max/min instructions and conditional moves, no branches;
        # mx >= 0 >= mn throughout, so a new maximum is never a new minimum)
        j = lo
        while j <= e:
            v = self.rd[j & self.mask]
            jmax = j if v > mx else jmax
            mx = v if v > mx else mx
            jmin = j if v < mn else jmin
            mn = v if v < mn else mn
            j += 1
        mn = -mn
        slope[0] = mx if mx > mn else mn
        shift[0] = not (mx > mn * 0.125 and mn > mx * 0.125
                        and (jmax - jmin if jmax > jmin else jmin - jmax) < self.bls_sep)

    cdef int64_t _locate(self, int64_t p) noexcept nogil:
        # R peak on the raw signal. The MWI peak at block p integrates the
        # slopes of samples [e - W*D, e] (e = (p+1)*D - 1, the block's last
        # sample) seen through the band-pass delay, so the QRS lies in
        # [e - W*D - delay, e - delay]. The fiducial is the sample of largest
        # deflection there from a baseline taken as the mean of the window's two
        # ends (a window mean would be pulled by the QRS itself); the raw amplitude separates the main wave of a
        # wide ectopic beat from its other lobes far better than the
        # band-passed signal, whose lobes are of similar size, so the point
        # does not jump between lobes from one beat (or sampling rate) to the
        # next.
        cdef int64_t e = (p + 1) * self.D - 1
        cdef int64_t a = e - self.W * self.D - self.gdelay - self.loc_half
        cdef int64_t b = e - self.gdelay
        cdef int64_t j, r
        cdef double best = -1.0, v, base
        if a < self.n - self.mask:
            a = self.n - self.mask
        if a < 0:
            a = 0
        if b < a:
            b = a
        base = 0.5 * (self.rx[a & self.mask] + self.rx[b & self.mask])
        r = a
        j = a
        while j <= b:
            # (first largest, as selects: see _slopes)
            v = fabs(self.rx[j & self.mask] - base)
            r = j if v > best else r
            best = v if v > best else best
            j += 1
        return r

    cdef inline double _logi(self, int64_t k) noexcept nogil:
        # log of a positive interval in blocks (table lookup: per beat, the
        # rhythm check takes the log of every pairwise interval it scores)
        if k < NLOG:
            return self.logtab[k]
        return log(<double> k)

    cdef void _emit(self, int64_t p, int64_t r, uint8_t q, double slope) noexcept nogil:
        if r <= self.last_r:
            r = self.last_r + 1
        if (self.em_p >= 0 and not (q & Q_AFTER_GAP) and p > self.em_p
                and self.noise < self.nz_freeze):
            self._push_lrr(self._logi(p - self.em_p))
        self.last_r = r
        self.em_p = p
        self.em_slope = slope
        self._push_beat(r, q)

    cdef void _push_lrr(self, double v) noexcept nogil:
        # add v to the log-RR ring (dropping the oldest when full) and keep
        # the sorted copy up to date
        cdef int i, cnt = self.nlrr
        cdef double old
        if cnt == NLRR:
            old = self.lrr[self.lrrpos]
            i = 0
            while i < NLRR - 1 and self.lsort[i] != old:
                i += 1
            while i < NLRR - 1:
                self.lsort[i] = self.lsort[i + 1]
                i += 1
            cnt = NLRR - 1
        i = cnt - 1
        while i >= 0 and self.lsort[i] > v:
            self.lsort[i + 1] = self.lsort[i]
            i -= 1
        self.lsort[i + 1] = v
        self.lrr[self.lrrpos] = v
        self.lrrpos = (self.lrrpos + 1) % NLRR
        if self.nlrr < NLRR:
            self.nlrr += 1

    cdef void _rhythm(self, double* med, double* spread) noexcept nogil:
        # median and robust spread (1.4826 MAD) of the recent log RR of the
        # emitted beats: the expected interval, and how regular the rhythm
        # is (sinus vs atrial fibrillation), so that regularity is trusted
        # only as much as the rhythm itself is regular
        # (the sorted copy gives the median directly; the absolute deviations
        # from it, in increasing order, are a merge of the two halves walked
        # outwards from the median)
        cdef double* a = self.lsort
        cdef double m, v, dl = 0.0, dr = 0.0, blo = 0.0, bhi = 0.0
        cdef int n = self.nlrr, lo, hi, cnt
        if n < 4:
            med[0] = log(self.rr_cache if self.rr_cache > 1.0 else 1.0)
            spread[0] = INFINITY
            return
        m = 0.5 * (a[(n - 1) // 2] + a[n // 2])
        hi = 0
        while hi < n and a[hi] < m:
            hi += 1
        lo = hi - 1
        cnt = 0
        while cnt <= n // 2:
            if lo >= 0:
                dl = fabs(a[lo] - m)
            if hi < n:
                dr = fabs(a[hi] - m)
            if lo >= 0 and (hi >= n or dl <= dr):
                v = dl
                lo -= 1
            else:
                v = dr
                hi += 1
            if cnt == (n - 1) // 2:
                blo = v
            if cnt == n // 2:
                bhi = v
            cnt += 1
        v = 1.4826 * 0.5 * (blo + bhi)
        med[0] = m
        spread[0] = v if v > self.sig_min else self.sig_min

    cdef void _decide(self, int64_t limit, int64_t now) noexcept nogil:
        # Rhythm check on the detected beats, decided `lag` samples late: the
        # kept beats are the best-scoring subsequence, scoring each kept beat
        # by its size against a typical beat (log ratio) and each interval by
        # its log-deviation from the median recent interval divided by the
        # rhythm's spread. In an irregular rhythm the spread is large and
        # nearly every beat is kept; in a regular one a beat squeezed between
        # two others (electrode-motion noise) must be large to stay. The
        # detector's own state (thresholds, search-back) is not affected.
        cdef int n = self.npend, i, j, end, nfin, k
        cdef double lmed, sp, wr, c, bj, a, best_end
        cdef int64_t d
        cdef double qm = self.q_med if self.q_med > 0.0 else 1.0
        if n == 0:
            return
        self._rhythm(&lmed, &sp)
        wr = self.w_rr / sp
        c = (self.noise - self.nz_lo) / (self.nz_hi - self.nz_lo) if self.nz_hi > self.nz_lo else 0.0
        if c > 0.0:
            wr *= 1.0 + self.nz_boost * (c if c < 1.0 else 1.0)
        for j in range(n):
            # every detected beat brings one unit of evidence, more or less by its size
            a = 1.0 + self.w_amp * log(self.pend_v[j] / qm) if self.pend_v[j] > 0.0 else -INFINITY
            bj = 0.0
            if self.em_p >= 0 and not (self.pend_q[j] & Q_AFTER_GAP):
                d = self.pend_p[j] - self.em_p
                # (an alternative beat may follow the last emitted one closer
                # than the refractory period: never both)
                bj = -wr * fabs(self._logi(d) - lmed) if d >= self.refractory else -INFINITY
            self.prev[j] = -1
            for i in range(j):
                if self.pend_q[j] & Q_AFTER_GAP:
                    break
                d = self.pend_p[j] - self.pend_p[i]
                if d < self.refractory:
                    continue
                c = self.best[i] - wr * fabs(self._logi(d) - lmed)
                if c > bj:
                    bj = c
                    self.prev[j] = i
            self.best[j] = bj + a
        # best end: the path may stop early only at the price of the silence
        # that follows, counted like the interval to `now`
        end = -1
        best_end = -INFINITY
        for j in range(n):
            c = self.best[j]
            if now - self.pend_p[j] > 0 and self._logi(now - self.pend_p[j]) > lmed:
                c -= wr * (self._logi(now - self.pend_p[j]) - lmed)
            if c > best_end:
                best_end = c
                end = j
        for j in range(n):
            self.sel[j] = False
        j = end
        while j >= 0:
            self.sel[j] = True
            j = self.prev[j]
        nfin = 0
        while nfin < n and self.pend_p[nfin] < limit:
            nfin += 1
        for j in range(nfin):
            if self.sel[j]:
                self._emit(self.pend_p[j], self.pend_r[j], self.pend_q[j], self.pend_s[j])
        k = 0
        for j in range(nfin, n):
            self.pend_p[k] = self.pend_p[j]
            self.pend_r[k] = self.pend_r[j]
            self.pend_v[k] = self.pend_v[j]
            self.pend_s[k] = self.pend_s[j]
            self.pend_q[k] = self.pend_q[j]
            k += 1
        self.npend = k

    cdef void _pend(self, int64_t p, int64_t r, double v, double slope, uint8_t q) noexcept nogil:
        # hold a detected beat for the rhythm check
        if self.npend == PMAX:
            self._decide(self.pend_p[0] + 1, p)
        self.pend_p[self.npend] = p
        self.pend_r[self.npend] = r
        self.pend_v[self.npend] = v
        self.pend_s[self.npend] = slope
        self.pend_q[self.npend] = q
        self.npend += 1

    cdef void _accept(self, int64_t p, double v, double slope, uint8_t q, int64_t r) noexcept nogil:
        if self.last_qrs >= 0 and not self.after_gap:
            self.rrbuf[self.rrpos] = <double> (p - self.last_qrs)
            self.rrpos = (self.rrpos + 1) % NBUF
        self.qbuf[self.qpos] = v
        self.qpos = (self.qpos + 1) % NBUF
        if self.after_gap:
            q |= Q_AFTER_GAP
        if self.lag > 0:
            self._pend(p, r, v, slope, q)
        else:
            self._emit(p, r, q, slope)
        self.last_qrs = p
        self.quiet_ref = p
        self.sb_ref = p
        self.last_slope = slope
        self.after_gap = False
        self.sb_v = 0.0
        self._update_levels()

    cdef void _classify(self, int64_t p, double v) noexcept nogil:
        cdef double slope, aslope = 0.0
        cdef bint shift, ashift, alt
        cdef double dt = self._threshold()
        cdef bint is_qrs = False
        cdef bint twave = False
        self._slopes(p, &slope, &shift)
        if self.last_qrs >= 0 and p - self.last_qrs < self.refractory:
            return
        if (self.last_qrs >= 0 and p - self.last_qrs < self.twave
                and slope < self.twave_ratio * self.last_slope):
            twave = True
        if v > dt and not shift and not twave:
            is_qrs = True
        if is_qrs:
            # In noise the largest peak of a burst is often a noise peak next
            # to the QRS: the burst's next largest peak, if it would be a beat
            # on its own, goes to the rhythm check as an alternative (the
            # check keeps at most one of two beats closer than the refractory
            # period, the one that fits the rhythm better).
            alt = (self.lag > 0 and self.alt_v > dt and self.alt_on
                   and not self.after_gap
                   and (self.alt_i - p if self.alt_i > p else p - self.alt_i) < self.refractory
                   and (self.last_qrs < 0 or self.alt_i - self.last_qrs >= self.refractory)
                   and (self.npend == 0 or self.alt_i > self.pend_p[self.npend - 1]))
            if alt:
                self._slopes(self.alt_i, &aslope, &ashift)
                if ashift or (self.last_qrs >= 0 and self.alt_i - self.last_qrs < self.twave
                              and aslope < self.twave_ratio * self.last_slope):
                    alt = False
            if alt and self.alt_i < p:
                self._pend(self.alt_i, self._locate(self.alt_i), self.alt_v, aslope, 0)
            self._accept(p, v, slope, 0, self._locate(p))
            if alt and self.alt_i > p:
                self._pend(self.alt_i, self._locate(self.alt_i), self.alt_v, aslope, 0)
            self.alt_v = 0.0
        else:
            self.nbuf[self.npos] = v
            self.npos = (self.npos + 1) % NBUF
            self._update_levels()
            if not twave and not shift and v > self.sb_v:
                self.sb_v = v
                self.sb_i = p
                self.sb_slope = slope
                self.sb_r = self._locate(p)

    cdef void _noise_second(self) noexcept nogil:
        # end of a second of blocks: the noise estimate is the mean active
        # fraction of the last two seconds
        cdef double a = <double> self.act_cnt / self.sec_len
        self.noise = 0.5 * (a + self.act_last)
        self.act_last = a
        self.act_cnt = 0

    cdef void _relearn(self, int64_t k) noexcept nogil:
        # No beat for relearn_len blocks although the signal is there: the
        # QRS level is stale (a start-up transient, an electrode pop or a new
        # electrode with another gain lifted it above every beat). Take it
        # again from the recent per-second maxima, as at the start.
        cdef double q = median_small(self.smax, self.n_smax)
        cdef int i
        for i in range(NBUF):
            self.qbuf[i] = q
            self.nbuf[i] = 0.0
        self._update_levels()
        self.quiet_ref = k

    cdef void _enter_gap(self) noexcept nogil:
        # Signal lost from cut_from on. Peaks formed before the loss (by more
        # than the integration window) are real and are decided now; anything
        # later may be the artefact of the loss itself and is dropped. No
        # search-back and no interval across the gap.
        cdef int64_t lim = self.cut_from - self.W
        self.det_in_gap = True
        self.alt_v = 0.0
        if self.pk_max > 0.0 and self.pk_idx < lim:
            if not self.cand_on or self.pk_max > self.cand_v:
                self.cand_on = True
                self.cand_v = self.pk_max
                self.cand_i = self.pk_idx
        if self.cand_on and self.cand_i < lim:
            self.cand_on = False
            self._classify(self.cand_i, self.cand_v)
        # beats held by the rhythm check are decided with what is known now
        if self.npend > 0:
            self._decide(self.pend_p[self.npend - 1] + 1, self.cut_from)
        self.pk_max = 0.0
        self.tsm = 0
        self.cand_on = False
        self.sb_v = 0.0
        self.last_m = 0.0
        self.last_qrs = -1
        self.after_gap = True
        # per-second maxima from before the loss do not describe what follows
        self.n_smax = 0
        self.cur_max = 0.0
        self.sec_cnt = 0
        self.act_cnt = 0

    cdef inline void _detect_at(self, int64_t k) noexcept nogil:
        self._detect(k, self.rm[k & self.bmask], self.rf[k & self.bmask])

    cdef inline void _detect(self, int64_t k, double m, uint8_t flag) noexcept nogil:
        cdef double peak = 0.0
        cdef int64_t pidx = 0
        if flag & F_GAP:
            if not self.det_in_gap:
                self._enter_gap()
            return
        self.det_in_gap = False
        if flag & F_RESUME:
            self.sb_ref = k
            self.quiet_ref = k
            self._update_sb_due()
        # 0. per-second maxima; relearn the QRS level after a long silence
        if m > self.cur_max:
            self.cur_max = m
        if m > self.act_th:
            self.act_cnt += 1
        self.sec_cnt += 1
        if self.sec_cnt >= self.sec_len:
            self._noise_second()
            self.smax[self.smax_pos] = self.cur_max
            self.smax_pos = (self.smax_pos + 1) % NBUF
            if self.n_smax < NBUF:
                self.n_smax += 1
            self.cur_max = 0.0
            self.sec_cnt = 0
            if (self.relearn_len > 0 and k - self.quiet_ref > self.relearn_len
                    and self.n_smax >= 4):
                self._relearn(k)
        # 1. peaks of the MWI
        if self.tsm > 0:
            self.tsm += 1
        if m > self.last_m and m > self.pk_max:
            self.pk_max = m
            self.pk_idx = k
            self.tsm = 1
        elif self.pk_max > 0.0 and (m < 0.5 * self.pk_max or self.tsm > self.peak_timeout):
            peak = self.pk_max
            pidx = self.pk_idx
            self.pk_max = 0.0
            self.tsm = 0
        self.last_m = m
        # 2. pre-blanking: keep the largest peak of a burst
        if peak > 0.0:
            if not self.cand_on:
                self.cand_on = True
                self.cand_v = peak
                self.cand_i = pidx
                self.blank = self.pre_blank
                self.alt_v = 0.0
            elif peak > self.cand_v:
                self.alt_v = self.cand_v
                self.alt_i = self.cand_i
                self.cand_v = peak
                self.cand_i = pidx
                self.blank = self.pre_blank
            elif peak > self.alt_v:
                self.alt_v = peak
                self.alt_i = pidx
        if self.cand_on:
            self.blank -= 1
            if self.blank <= 0:
                self.cand_on = False
                self._classify(self.cand_i, self.cand_v)
        # 3. rhythm check of beats detected `lag` samples ago
        if self.npend > 0 and k - self.lag > self.pend_p[0]:
            self._decide(k - self.lag, k)
        # 4. search-back after an unusually long interval
        if self.sb_v > 0.0 and <double> k > self.sb_due:
            if (self.sb_v > self.sb_ratio * self._threshold()
                    and (self.last_qrs < 0 or self.sb_i - self.last_qrs >= self.refractory)):
                self._accept(self.sb_i, self.sb_v, self.sb_slope, Q_SEARCHBACK, self.sb_r)

    # ------------------------------------------------------------------ driver
    cdef void _after_block(self) noexcept nogil:
        # detection stage on the block just closed (nb - 1)
        cdef int64_t k
        if self.initialized:
            self._detect_at(self.nb - 1)
        elif self.nb >= self.init_len:
            self._learn()
            k = 0
            while k < self.nb:
                self._detect_at(k)
                k += 1

    cdef void _detect_segment(self, const double* ms, int cnt) noexcept nogil:
        # Detection stage on `cnt` blocks closed by the fast feature pass of
        # _run, with MWI values ms[0..cnt-1]: exactly what the per-sample path
        # does at each block end (store the block, then detect), with
        # ``self.n`` set to the block's end as it was when that block closed.
        # The stage only reads ring samples up to that block end and within
        # the look-back the ring is sized for, so the feature pass having run
        # ahead by up to SEG blocks changes nothing (the ring has room for them).
        #
        # Blocks without flags, once the levels are learnt, run an inlined
        # copy of _detect whose per-block state (per-second maximum, MWI peak,
        # pre-blanking candidate, block count) lives in local variables, so
        # the compiler keeps it in registers instead of reloading it after
        # every store to a ring; the rare steps (a second's end, classifying
        # a candidate, the rhythm check, search-back) call the same methods
        # as _detect, which never touch that local state. Anything else
        # (learning period, gap or resume flags) goes through _detect itself.
        cdef int b = 0
        cdef uint8_t flag
        cdef double m, peak, cur_max, pk_max, last_m, cand_v
        cdef int64_t D = self.D, bmask = self.bmask, k, nb, pk_idx, pidx, cand_i
        cdef int64_t lag = self.lag
        cdef int sec_cnt, tsm, blank
        cdef int sec_len = self.sec_len, peak_timeout = self.peak_timeout
        cdef int pre_blank = self.pre_blank
        cdef bint cand_on
        cdef double* rm = self.rm
        cdef uint8_t* rf = self.rf
        while b < cnt:
            if not self.initialized or self.blk_flag != 0:
                m = ms[b]
                self.n = (self.nb + 1) * D
                flag = self._close_block(m)
                if self.initialized:
                    self._detect(self.nb - 1, 0.0 if flag & F_GAP else m, flag)
                else:
                    self._after_block()
                b += 1
                continue
            # a block without flags (as _close_block + _detect with flag 0;
            # blk_flag stays 0 from here to the end of the segment)
            self.det_in_gap = False
            nb = self.nb
            cur_max = self.cur_max
            sec_cnt = self.sec_cnt
            tsm = self.tsm
            pk_max = self.pk_max
            pk_idx = self.pk_idx
            last_m = self.last_m
            cand_on = self.cand_on
            cand_v = self.cand_v
            cand_i = self.cand_i
            blank = self.blank
            while b < cnt:
                m = ms[b]
                b += 1
                k = nb
                rm[k & bmask] = m
                rf[k & bmask] = 0
                nb += 1
                # 0. per-second maxima; relearn the QRS level after a long silence
                if m > cur_max:
                    cur_max = m
                if m > self.act_th:
                    self.act_cnt += 1
                sec_cnt += 1
                if sec_cnt >= sec_len:
                    self._noise_second()
                    self.smax[self.smax_pos] = cur_max
                    self.smax_pos = (self.smax_pos + 1) % NBUF
                    if self.n_smax < NBUF:
                        self.n_smax += 1
                    cur_max = 0.0
                    sec_cnt = 0
                    if (self.relearn_len > 0 and k - self.quiet_ref > self.relearn_len
                            and self.n_smax >= 4):
                        self._relearn(k)
                # 1. peaks of the MWI
                peak = 0.0
                if tsm > 0:
                    tsm += 1
                if m > last_m and m > pk_max:
                    pk_max = m
                    pk_idx = k
                    tsm = 1
                elif pk_max > 0.0 and (m < 0.5 * pk_max or tsm > peak_timeout):
                    peak = pk_max
                    pidx = pk_idx
                    pk_max = 0.0
                    tsm = 0
                last_m = m
                # 2. pre-blanking: keep the largest peak of a burst
                if peak > 0.0:
                    if not cand_on:
                        cand_on = True
                        cand_v = peak
                        cand_i = pidx
                        blank = pre_blank
                        self.alt_v = 0.0
                    elif peak > cand_v:
                        self.alt_v = cand_v
                        self.alt_i = cand_i
                        cand_v = peak
                        cand_i = pidx
                        blank = pre_blank
                    elif peak > self.alt_v:
                        self.alt_v = peak
                        self.alt_i = pidx
                if cand_on:
                    blank -= 1
                    if blank <= 0:
                        cand_on = False
                        self.n = (k + 1) * D
                        self._classify(cand_i, cand_v)
                # 3. rhythm check of beats detected `lag` blocks ago
                if self.npend > 0 and k - lag > self.pend_p[0]:
                    self._decide(k - lag, k)
                # 4. search-back after an unusually long interval
                if self.sb_v > 0.0 and <double> k > self.sb_due:
                    if (self.sb_v > self.sb_ratio * self._threshold()
                            and (self.last_qrs < 0
                                 or self.sb_i - self.last_qrs >= self.refractory)):
                        self._accept(self.sb_i, self.sb_v, self.sb_slope, Q_SEARCHBACK,
                                     self.sb_r)
            self.nb = nb
            self.cur_max = cur_max
            self.sec_cnt = sec_cnt
            self.tsm = tsm
            self.pk_max = pk_max
            self.pk_idx = pk_idx
            self.last_m = last_m
            self.cand_on = cand_on
            self.cand_v = cand_v
            self.cand_i = cand_i
            self.blank = blank

    cdef void _run(self, const sample_t[:] x) noexcept nogil:
        # The hot path runs in two passes per segment of at most SEG blocks.
        # The feature pass keeps the feature-stage state in local variables,
        # which the C compiler holds in registers (stores into the object's
        # fields would have to be reloaded after every ring-buffer write,
        # since the pointers might alias), and only collects the MWI value of
        # each block; the detection pass then runs the detection stage on
        # those blocks (_detect_segment). Keeping the detection code out of
        # the per-sample loop frees registers and instructions there; the
        # result is the same as running both per sample, because detection
        # never feeds back into the feature stage and only looks back.
        # Anything unusual (start, non-finite sample, flat run reaching
        # flat_len, gap end) takes the general path ``_feature`` with the
        # state written back and the segment's blocks detected first, so all
        # paths run the same arithmetic in the same order and give identical
        # results (the block end here is ``_block_mwi`` + ``_close_block``).
        cdef Py_ssize_t i, nx = x.shape[0]
        cdef bint fast = self.nsec == 2
        cdef double hb0 = self.sec[0].b0, hb1 = self.sec[0].b1, hb2 = self.sec[0].b2
        cdef double ha1 = self.sec[0].a1, ha2 = self.sec[0].a2
        cdef double lb0 = self.sec[1].b0, lb1 = self.sec[1].b1, lb2 = self.sec[1].b2
        cdef double la1 = self.sec[1].a1, la2 = self.sec[1].a2
        cdef double hz1, hz2, lz1, lz2, y0, y1, y2, y3, msum, bsum, prev_x
        cdef double xv, y, d
        cdef int mpos, W = self.W
        cdef int64_t n, run_start, rs, eq, since, k, bend, mask = self.mask
        cdef int64_t D = self.D
        cdef int64_t settle = self.settle, flat_len = self.flat_len
        cdef double* rx = self.rx
        cdef double* rd = self.rd
        cdef double* mwi = self.mwi
        cdef double ms[SEG]
        cdef int j, cnt
        cdef bint ok
        if not fast:
            for i in range(nx):
                if self._feature(<double> x[i]):
                    self._after_block()
            return
        i = 0
        while i < nx:
            # load state
            hz1 = self.sec[0].z1
            hz2 = self.sec[0].z2
            lz1 = self.sec[1].z1
            lz2 = self.sec[1].z2
            y0 = self.yh[0]
            y1 = self.yh[1]
            y2 = self.yh[2]
            y3 = self.yh[3]
            msum = self.mwi_sum
            bsum = self.blk_sum
            mpos = self.mwi_pos
            since = self.since_valid
            prev_x = self.prev_x
            run_start = self.run_start
            n = self.n
            bend = (self.nb + 1) * D
            cnt = 0
            ok = self.started and not self.in_gap
            while ok and i < nx:
                xv = <double> x[i]
                if not isfinite(xv):
                    ok = False
                    break
                # run of equal values, without a branch on the comparison:
                # equal neighbours are common in quantised ECG (~15% of the
                # samples of MIT-BIH), so such a branch mispredicts often.
                # A new value starts a run of 1 < flat_len, so only an equal
                # one can end the fast path here, exactly as in _feature.
                eq = xv == prev_x
                rs = n + ((run_start - n) & -eq)
                if n - rs + 1 >= flat_len:
                    ok = False
                    break
                run_start = rs
                prev_x = xv
                # high-pass then low-pass section (transposed direct form II)
                y = hb0 * xv + hz1
                hz1 = hb1 * xv - ha1 * y + hz2
                hz2 = hb2 * xv - ha2 * y
                d = y
                y = lb0 * d + lz1
                lz1 = lb1 * d - la1 * y + lz2
                lz2 = lb2 * d - la2 * y
                d = (2.0 * y + y0 - y2 - 2.0 * y3) * 0.125
                y3 = y2
                y2 = y1
                y1 = y0
                y0 = y
                bsum += fabs(d)
                since += 1
                k = n & mask
                rx[k] = xv
                rd[k] = d
                n += 1
                i += 1
                if n == bend:
                    # block end: MWI over the last W blocks (as _block_mwi);
                    # the detection stage runs on it in _detect_segment
                    bend += D
                    msum += bsum - mwi[mpos]
                    mwi[mpos] = bsum
                    bsum = 0.0
                    mpos += 1
                    if mpos == W:
                        mpos = 0
                        msum = 0.0
                        for j in range(W):
                            msum += mwi[j]
                    ms[cnt] = msum if since > settle else 0.0
                    cnt += 1
                    if cnt == SEG:
                        break
            # store state
            self.sec[0].z1 = hz1
            self.sec[0].z2 = hz2
            self.sec[1].z1 = lz1
            self.sec[1].z2 = lz2
            self.yh[0] = y0
            self.yh[1] = y1
            self.yh[2] = y2
            self.yh[3] = y3
            self.mwi_sum = msum
            self.blk_sum = bsum
            self.mwi_pos = mpos
            self.since_valid = since
            self.prev_x = prev_x
            self.run_start = run_start
            if cnt > 0:
                self._detect_segment(ms, cnt)
            self.n = n
            if ok or i >= nx:
                # segment full (or chunk done): continue on the fast path
                continue
            # general path for this one sample
            if self._feature(<double> x[i]):
                self._after_block()
            i += 1

    def process(self, const sample_t[:] x):
        """Consume a chunk of samples; return (beat samples, quality, gaps) found."""
        if self.flushed:
            raise RuntimeError("this kernel was flushed; create a new one")
        with nogil:
            self._run(x)
        return self._take()

    def flush(self):
        """Finish the record: decide every pending candidate and close an open gap."""
        cdef int64_t k
        if self.flushed:
            return self._take()
        with nogil:
            # a last, incomplete block is not analysed
            if not self.initialized and self.nb > 0:
                self._learn()
                k = 0
                while k < self.nb:
                    self._detect_at(k)
                    k += 1
            if self.initialized:
                if self.pk_max > 0.0:
                    if self.cand_on and self.pk_max <= self.cand_v:
                        if self.pk_max > self.alt_v:
                            self.alt_v = self.pk_max
                            self.alt_i = self.pk_idx
                    else:
                        if self.cand_on:
                            self.alt_v = self.cand_v
                            self.alt_i = self.cand_i
                        else:
                            self.alt_v = 0.0
                        self.cand_on = True
                        self.cand_v = self.pk_max
                        self.cand_i = self.pk_idx
                    self.pk_max = 0.0
                if self.cand_on:
                    self.cand_on = False
                    self._classify(self.cand_i, self.cand_v)
                self._decide(self.nb + 1, self.nb)
            if self.in_gap:
                self._push_gap(self.gap_start, self.n)
                self.in_gap = False
        self.flushed = True
        return self._take()

    cdef tuple _take(self):
        cdef Py_ssize_t m = self.out_s.n
        cdef Py_ssize_t g = self.out_g.n
        if self.out_s.failed or self.out_q.failed or self.out_g.failed:
            raise MemoryError("the ECG kernel could not grow its output buffer")
        if m == 0 and g == 0:
            # most live chunks decide nothing: no allocation for them
            return _NOTHING
        s = np.empty(m, dtype=np.int64)
        q = np.empty(m, dtype=np.uint8)
        gaps = np.empty((g, 2), dtype=np.int64)
        cdef int64_t[::1] sv = s
        cdef uint8_t[::1] qv = q
        cdef int64_t[:, ::1] gv = gaps
        # drained after each call, so memory stays flat on endless streams
        buf_drain(&self.out_s, &sv[0] if m > 0 else NULL)
        buf_drain(&self.out_q, &qv[0] if m > 0 else NULL)
        buf_drain(&self.out_g, &gv[0, 0] if g > 0 else NULL)
        return s, q, gaps

    @property
    def n_samples(self):
        return self.n

    @property
    def decimation(self):
        """Samples per block ``D`` of the detection stage."""
        return self.D

    @property
    def window_blocks(self):
        """MWI window in blocks (``W``; ``W * D`` samples)."""
        return self.W

    def feature_trace(self, const double[:] x):
        """Run only the feature stage over ``x`` and return (band-passed,
        derivative) per sample and the MWI feature per complete block of
        ``D`` samples (the value at the block's last sample, 0 for a block
        touching a gap), as finally stored (after a flat run has been turned
        into a gap retroactively). For testing the kernel against the
        reference implementation; it consumes the samples, so use a fresh
        kernel."""
        cdef Py_ssize_t i, j, b, n = x.shape[0]
        cdef Py_ssize_t lag = self.flat_len
        cdef int64_t k
        y = np.empty(n)
        d = np.empty(n)
        m = np.empty(n // self.D)
        cdef double[::1] yv = y, dv = d, mv = m
        for i in range(n + lag):
            if i < n:
                self._feature(x[i])
            j = i - lag
            if j >= 0:
                k = j & self.mask
                yv[j] = self.ry[k]
                dv[j] = self.rd[k]
                if (j + 1) % self.D == 0:
                    b = (j + 1) // self.D - 1
                    mv[b] = self.rm[b & self.bmask]
        return y, d, m
