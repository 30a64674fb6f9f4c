"""Slow, obviously-correct breath segmenter: the oracle for ``somacore._core._breath``.

Plain Python loops over plain Python floats, one statement per step of the
algorithm, in the same order as the compiled kernel (so both give identical
integer results). It takes the same designed parameters as the kernel
(:func:`somacore.breath._kernel_args`) and the whole signal at once; the
kernel's chunking invariance is tested separately.

Algorithm (see :mod:`somacore.breath` for the user-facing description):

1. feature stage, per valid sample: optional leaky integration (airflow ->
   volume), a 4th-order Butterworth low-pass ``y`` (the detection signal)
   and a 2nd-order low-pass ``z`` with a higher cut-off (for placing the
   events); filters restart settled after every gap. Non-finite samples
   and runs of ``flat_len`` identical values are gaps;
2. learning over the first ``learn`` samples: polarity (``sign == 0``: the
   sign of the third moment of ``y`` demeaned per block: sharp ends of
   inspiration, long flat ends of expiration) and the initial breath amplitude
   (median of the ``y`` ranges of blocks of ``block`` samples);
3. a hysteresis extremum tracker on ``sign * y``, run ``lag`` samples behind
   the input so flat runs are known before it reads them: a maximum is a
   peak once the signal has fallen ``thr`` below it, a minimum a trough once
   it has risen ``thr`` above it; ``thr = frac * typ``, where the typical
   amplitude ``typ`` is the median of the last 8 amplitudes times ``scale``;
   ``scale`` is multiplied by ``decay`` (never below ``floor``) after every
   ``stall`` (2 median breath periods) without a breath emitted (extrema
   alone do not count: troughs merged into one held breath found none), and
   divided by it (up to 1) for each breath emitted. ``typ`` also scales the
   noise cap, the merge and shoulder depths and the plateau;
4. each extremum is placed on ``z`` near the tracker's extremum shifted back by
   the detection filter's delay (with ``plateau`` > 0, at the middle of a flat
   extremum); a breath (onset trough, peak, next trough) is held until the
   next peak is confirmed (``merge`` > 0: a trough whose prominence is below
   ``merge`` x the median of the last 8 amplitudes is merged into the held
   breath) and emitted then, or at a gap/the end.
"""

from __future__ import annotations

import math

import numpy as np

NBUF = 8
MEDIAN_MAX = 64  # as in somacore/_core/_stats.pxd: extrema kept for the polarity
F_GAP = 1
Q_TRUNC_ONSET = 1
Q_TRUNC_END = 2
Q_IRREGULAR = 4


def _median(a: list[float]) -> float:
    b = sorted(a)
    n = len(b)
    return 0.5 * (b[(n - 1) // 2] + b[n // 2])


def _settle(sec: list[float], x: float) -> tuple[float, float, float]:
    b0, b1, b2, a1, a2 = sec
    den = 1.0 + a1 + a2
    y = x * (b0 + b1 + b2) / den if den != 0.0 else 0.0
    z2 = b2 * x - a2 * y
    z1 = b1 * x - a1 * y + z2
    return y, z1, z2


def segment_reference(x, *, fs, sign, integrate, leak, main_sos, ref_sos, delay, ref_delay,
                      half, learn, block, lag, frac, floor, decay, stall_init, stall_mult,
                      stall_min, stall_max, pause_frac, flat_len, span, merge, plateau,
                      plateau_ext, shoulder, shoulder_depth, knoise, nalpha, ncap,
                      balance=0.0):
    """Segment ``x``; returns ``(rows, gaps, sign)``.

    ``rows`` is a list of ``(onset, peak, end, amp_in, amp_out, pause_in, pause_out,
    quality)`` tuples; ``gaps`` a list of half-open ``(start, stop)`` ranges.
    """
    xs = [float(v) for v in np.asarray(x, dtype=np.float64)]
    n = len(xs)
    # ---------------- feature stage (final flags: flat runs retroactive) ----
    yv = [0.0] * n
    zv = [0.0] * n
    gap = [False] * n
    seg_first = [False] * n
    run_start = 0
    prev = math.nan
    started = False
    for i, v in enumerate(xs):
        if not math.isfinite(v):
            gap[i] = True
            started = False
            prev = math.nan
            continue
        if v == prev:
            if i - run_start + 1 >= flat_len:
                for j in range(run_start, i + 1):
                    gap[j] = True
        else:
            run_start = i
        prev = v
    gaps = []
    i = 0
    while i < n:
        if gap[i]:
            j = i
            while j < n and gap[j]:
                j += 1
            gaps.append((i, j))
            i = j
        else:
            i += 1
    ms = [list(map(float, r)) for r in main_sos]
    rs = [list(map(float, r)) for r in ref_sos]
    mz = [[0.0, 0.0] for _ in ms]
    rz = [[0.0, 0.0] for _ in rs]
    u = 0.0
    started = False
    for i in range(n):
        if gap[i]:
            started = False
            continue
        v = xs[i]
        if not started:
            started = True
            seg_first[i] = True
            u = 0.0
            if integrate:
                uu = 0.0
            else:
                uu = v
            for k, sec in enumerate(ms):
                uu, mz[k][0], mz[k][1] = _settle(sec, uu)
            uu = 0.0 if integrate else v
            for k, sec in enumerate(rs):
                uu, rz[k][0], rz[k][1] = _settle(sec, uu)
        if integrate:
            u = leak * u + v / fs
            w = u
        else:
            w = v
        y = w
        for k, (b0, b1, b2, a1, a2) in enumerate(ms):
            out = b0 * y + mz[k][0]
            mz[k][0] = b1 * y - a1 * out + mz[k][1]
            mz[k][1] = b2 * y - a2 * out
            y = out
        z = w
        for k, (b0, b1, b2, a1, a2) in enumerate(rs):
            out = b0 * z + rz[k][0]
            rz[k][0] = b1 * z - a1 * out + rz[k][1]
            rz[k][1] = b2 * z - a2 * out
            z = out
        yv[i] = y
        zv[i] = z

    # ---------------- learning ----------------------------------------------
    def polarity(a: int, b: int, thr: float, m2: float, m3: float, ntot: int) -> float:
        # > 0: inspiration is up. Skewness of the block-demeaned signal (sharp
        # ends of inspiration, flat ends of expiration) plus the log of
        # median |change| between successive maxima over that between
        # successive minima of a symmetric hysteresis (the end-expiratory
        # level is steadier than the end-inspiratory level)
        if not m2 > 0.0:
            return m3
        g = m3 / (m2 * math.sqrt(m2)) * math.sqrt(float(ntot))
        pk: list[float] = []
        tr: list[float] = []
        mode = 0
        fresh = True
        hi = lo = 0.0
        for j in range(a, b):
            if gap[j]:
                fresh = True
                continue
            v = yv[j]
            if fresh:
                fresh = False
                mode = 0
                hi = lo = v
                continue
            if mode >= 0:
                if v > hi:
                    hi = v
                elif v < hi - thr:
                    if len(pk) < MEDIAN_MAX:
                        pk.append(hi)
                    mode = -1
                    lo = v
                    continue
            if mode <= 0:
                if v < lo:
                    lo = v
                elif v > lo + thr:
                    if len(tr) < MEDIAN_MAX:
                        tr.append(lo)
                    mode = 1
                    hi = v
        if len(pk) < 3 or len(tr) < 3:
            return g
        mp = _median([abs(pk[i + 1] - pk[i]) for i in range(len(pk) - 1)])
        mt = _median([abs(tr[i + 1] - tr[i]) for i in range(len(tr) - 1)])
        if not (mp > 0.0 and mt > 0.0):
            return g
        return g + math.log(mp / mt)

    def learn_window(a: int, b: int):
        ranges = []
        m2 = 0.0
        m3 = 0.0
        ntot = 0
        s = a
        while s < b:
            e = min(s + block, b)
            vals = [yv[j] for j in range(s, e) if not gap[j]]
            cnt = len(vals)
            if cnt > 0:
                mean = 0.0
                for v in vals:
                    mean += v
                mean = mean / cnt
                ntot += cnt
                for v in vals:
                    d = v - mean
                    m2 += d * d
                    m3 += d * d * d
            if 2 * cnt >= block and max(vals) > min(vals):
                ranges.append(max(vals) - min(vals))
            s = e
        if not ranges:
            return 0.0, 1
        amp0 = _median(ranges)
        if not amp0 > 0.0 or sign != 0:
            return amp0, 1
        return amp0, (1 if polarity(a, b, frac * amp0, m2, m3, ntot) >= 0.0 else -1)

    start = 0
    amp0 = 0.0
    sgn = 1
    while True:
        end = start + learn
        if end > n:
            end = n
        amp0, s_auto = learn_window(start, end)
        if amp0 > 0.0 or end >= n:
            break
        start = end
    if amp0 <= 0.0:
        return [], gaps, (sign if sign != 0 else 1)
    sgn = sign if sign != 0 else s_auto

    # ---------------- tracker -----------------------------------------------
    amps = [amp0] * NBUF
    ttots = [float(stall_init)] * NBUF
    scale = 1.0
    typ = amp0            # median(amps) * scale, the typical amplitude
    thr = frac * typ
    stall = stall_init
    rows = []
    mode = 0
    hi_v = lo_v = 0.0
    hi_i = lo_i = 0
    on_i = 0
    seg0 = 0
    last_br = 0          # the stall clock: last breath emitted, decay step or segment start
    trough_i = -1
    trough_z = 0.0
    trough_q = 0
    pend = False
    held = None
    deferred = False   # held breath waits for the balance rule (next trough)
    p_on = p_pk = 0
    p_onz = p_pkz = 0.0
    p_q = 0
    in_gap = True
    nz = 0.0                       # running mean |z - y|: the noise floor
    dd = max(delay - ref_delay, 0)  # z delay-aligned to y

    def place(p: int, top: bool, k: int):
        c = p - delay + ref_delay
        # the window is bounded to what the kernel's ring buffer still holds
        a = max(c - half, seg0, k - span)
        b = min(c + half, k)
        if b < a:
            a = b = max(min(c, k), seg0, k - span)
        best = a
        bv = sgn * zv[a]
        for j in range(a + 1, b + 1):
            w = sgn * zv[j]
            if (top and w > bv) or (not top and w < bv):
                bv = w
                best = j
        if plateau > 0.0:
            # a flat top (or bottom): take the middle of the samples within
            # plateau x typical amplitude of the extremum, not one of its edges
            lim = plateau * typ
            lo = best
            lo_end = max(seg0, k - span, best - plateau_ext)
            while lo - 1 >= lo_end and abs(sgn * zv[lo - 1] - bv) <= lim:
                lo -= 1
            hi = best
            hi_end = min(k, best + plateau_ext)
            while hi + 1 <= hi_end and abs(sgn * zv[hi + 1] - bv) <= lim:
                hi += 1
            best = (lo + hi) // 2
        r = best - ref_delay
        if r < seg0:
            r = seg0
        return r, bv

    def emit(on, onz, pk, pkz, en, enz, q, k):
        nonlocal thr, stall, scale, typ, last_br
        if pk <= on:
            pk = on + 1
        if en <= pk:
            en = pk + 1
        ain = pkz - onz
        aout = pkz - enz
        pin = pout = math.nan
        if pause_frac > 0.0 and pk >= k - span:
            lim = pkz - pause_frac * aout
            j = pk + 1
            while j < en and sgn * zv[j] >= lim:
                j += 1
            pin = float(j - pk - 1)
            lim = enz + pause_frac * aout
            j = en - 1
            while j > pk and sgn * zv[j] <= lim:
                j -= 1
            pout = float(en - 1 - j)
        med_a = _median(amps)
        med_t = _median(ttots)
        tt = float(en - on)
        amp = 0.5 * (ain + aout)
        if not (q & (Q_TRUNC_ONSET | Q_TRUNC_END)):
            if tt < 0.5 * med_t or tt > 2.0 * med_t or amp < 0.35 * med_a:
                q |= Q_IRREGULAR
            amps.pop(0)
            amps.append(amp)
            ttots.pop(0)
            ttots.append(tt)
            med_a = _median(amps)
            med_t = _median(ttots)
            # one decay step is undone per breath, so after shallow breaths
            # were found the threshold stays low until the median follows
            scale = scale / decay
            if scale > 1.0:
                scale = 1.0
            typ = med_a * scale
            thr = frac * typ
            stall = min(max(int(stall_mult * med_t), stall_min), stall_max)
        last_br = k            # a breath was found: the stall clock restarts
        rows.append((on, pk, en, ain, aout, pin, pout, q))

    for k in range(start, n):
        if gap[k]:
            if not in_gap:
                in_gap = True
                if held is not None:
                    emit(*held, k - 1)
                    held = None
                deferred = False
                if pend and mode == 2:
                    r, rz_ = place(lo_i, False, k - 1)
                    emit(p_on, p_onz, p_pk, p_pkz, r, rz_, p_q | Q_TRUNC_END, k - 1)
                pend = False
            continue
        v = sgn * yv[k]
        if knoise > 0.0 and not in_gap and k - dd >= seg0:
            # noise floor: the 0.7-2 Hz band (cardiac oscillations, spikes)
            nz += nalpha * (abs(zv[k - dd] - yv[k]) - nz)
        if in_gap:
            in_gap = False
            mode = 0
            seg0 = k
            hi_v = lo_v = v
            hi_i = lo_i = on_i = k
            last_br = k
            trough_i = -1
            pend = False
            continue
        # no breath found for a stall: lower the typical amplitude (the
        # threshold, noise cap, merge and shoulder depths with it), never below
        # floor x the median amplitude: the breaths got shallower, or the
        # median is stale (learnt on a transient: every trough merged)
        if k - last_br > stall:
            last_br = k
            if scale * decay >= floor:
                scale = scale * decay
                typ = _median(amps) * scale
                thr = frac * typ
        # the hysteresis never goes below knoise x the noise floor, and the
        # floor never raises it above ncap x the typical amplitude
        th = knoise * nz
        d = ncap * typ
        if th > d:
            th = d
        if thr > th:
            th = thr
        if mode == 0:
            if v > hi_v:
                hi_v = v
                hi_i = k
                on_i = lo_i
            if v < lo_v:
                lo_v = v
                lo_i = k
            if v < hi_v - th:
                r_on, z_on = place(on_i, False, k)
                r_pk, z_pk = place(hi_i, True, k)
                pend = True
                p_on, p_onz, p_pk, p_pkz, p_q = r_on, z_on, r_pk, z_pk, Q_TRUNC_ONSET
                mode = 2
                lo_v = v
                lo_i = k
            elif v > lo_v + th:
                trough_i, trough_z = place(lo_i, False, k)
                # rising from the segment's first sample: the real trough is in
                # the gap (or before the record), so the breath starts truncated
                trough_q = Q_TRUNC_ONSET if lo_i == seg0 else 0
                mode = 1
                hi_v = v
                hi_i = k
        elif mode == 1:
            if v > hi_v:
                hi_v = v
                hi_i = k
            elif v < hi_v - th:
                r_pk, z_pk = place(hi_i, True, k)
                pend = True
                p_on, p_onz, p_pk, p_pkz, p_q = trough_i, trough_z, r_pk, z_pk, trough_q
                if held is not None:
                    # a trough whose prominence (depth below the lower of the two
                    # peaks around it) is small next to the running breath
                    # amplitude does not end a breath (an expiratory shoulder or
                    # an inspiratory notch): merge it, keeping the higher peak
                    h_on, h_onz, h_pk, h_pkz, _h_en, h_enz, h_q = held[:7]
                    # an expiratory shoulder: the held breath fell less than
                    # ``shoulder`` of its inhalation before this shallow trough
                    d = min(h_pkz - h_enz, z_pk - h_enz)
                    interrupted = h_pkz - h_enz < shoulder * (h_pkz - h_onz)
                    if (d < merge * typ
                            or (interrupted and d < shoulder_depth * typ)):
                        p_on, p_onz, p_q = h_on, h_onz, h_q
                        if h_pkz >= z_pk:
                            p_pk, p_pkz = h_pk, h_pkz
                        held = None
                    elif interrupted and balance > 0.0:
                        # deeper trough, but the exhalation was interrupted:
                        # decided at the next trough (the balance rule below)
                        deferred = True
                    else:
                        emit(*held, k)
                        held = None
                mode = 2
                lo_v = v
                lo_i = k
        else:
            if v < lo_v:
                lo_v = v
                lo_i = k
            elif v > lo_v + th:
                trough_i, trough_z = place(lo_i, False, k)
                trough_q = 0
                if pend:
                    if deferred:
                        # balance rule: a tidal breath falls about as far as it
                        # rose; the "breath" after an interrupted exhalation
                        # that rose less than ``balance`` x its fall is the
                        # rest of that exhalation: one breath, higher peak
                        deferred = False
                        if p_pkz - p_onz < balance * (p_pkz - trough_z):
                            h_on, h_onz, h_pk, h_pkz, _h_en, _h_enz, h_q = held
                            if p_pkz > h_pkz:
                                h_pk, h_pkz = p_pk, p_pkz
                            held = (h_on, h_onz, h_pk, h_pkz, trough_i, trough_z, h_q)
                        else:
                            emit(*held, k)
                            held = (p_on, p_onz, p_pk, p_pkz, trough_i, trough_z, p_q)
                    else:
                        held = (p_on, p_onz, p_pk, p_pkz, trough_i, trough_z, p_q)
                    pend = False
                mode = 1
                hi_v = v
                hi_i = k
    if held is not None:
        emit(*held, n - 1)
    if pend and mode == 2 and not in_gap:
        r, rz_ = place(lo_i, False, n - 1)
        emit(p_on, p_onz, p_pk, p_pkz, r, rz_, p_q | Q_TRUNC_END, n - 1)
    return rows, gaps, sgn
