"""Reference for the feature stage of the ECG kernel (``somacore._core._ecg``)."""

from __future__ import annotations

import math

import numpy as np


def ecg_feature(x: np.ndarray, sos: np.ndarray, *, window: int, settle: int,
                flat_len: int, decimation: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Band-pass, 5-point derivative and moving-window integral of |derivative|.

    Mirrors the kernel's documented behaviour sample by sample: filters start
    in the steady state of the first valid sample after the start or a gap;
    non-finite samples and runs of ``flat_len`` or more identical values are
    gaps (all three outputs 0 there); the feature is 0 for the first
    ``settle`` samples after a (re)start.

    ``window`` is in samples (the kernel's ``W * D``). The MWI is computed at
    full rate and then sampled at the last sample of each complete block of
    ``decimation`` samples, ``(j + 1) * decimation - 1``; a block containing
    any gap sample gives 0. Band-passed signal and derivative are returned per
    sample, the MWI per block (per sample when ``decimation`` is 1).
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    ys, ds, ms = np.zeros(n), np.zeros(n), np.zeros(n)
    # gap mask: non-finite, and whole flat runs of >= flat_len samples
    gap = ~np.isfinite(x)
    i = 0
    while i < n:
        j = i
        while j + 1 < n and math.isfinite(x[i]) and x[j + 1] == x[i]:
            j += 1
        if math.isfinite(x[i]) and j - i + 1 >= flat_len:
            gap[i:j + 1] = True
        i = j + 1
    restart = True
    state: list[list[float]] = []
    hist: list[float] = []
    window_vals: list[float] = []
    since = 0
    for t in range(n):
        if gap[t]:
            restart = True
            continue
        xt = float(x[t])
        if restart:
            # steady state for a constant input xt: direct-form history
            state = []
            v = xt
            for b0, b1, b2, a1, a2 in sos:
                yss = v * (b0 + b1 + b2) / (1 + a1 + a2)
                state.append([v, v, yss, yss])   # x1, x2, y1, y2
                v = yss
            hist = [v] * 4
            window_vals = []
            since = 0
            restart = False
        v = xt
        for k, (b0, b1, b2, a1, a2) in enumerate(sos):
            x1, x2, y1, y2 = state[k]
            yk = b0 * v + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2
            state[k] = [v, x1, yk, y1]
            v = yk
        y = v
        d = (2 * y + hist[0] - hist[2] - 2 * hist[3]) / 8
        hist = [y, *hist[:3]]
        window_vals.append(abs(d))
        if len(window_vals) > window:
            window_vals.pop(0)
        since += 1
        ys[t], ds[t] = y, d
        ms[t] = sum(window_vals) if since > settle else 0.0
    nb = n // decimation
    ends = (np.arange(nb) + 1) * decimation - 1
    blk_gap = gap[:nb * decimation].reshape(nb, decimation).any(axis=1)
    mb = np.where(blk_gap, 0.0, ms[ends])
    return ys, ds, mb
