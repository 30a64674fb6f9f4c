"""Live heartbeat detection: :class:`BeatDetector`."""

from __future__ import annotations

import numpy as np

from somacore._validate import KERNEL_DTYPES, as_1d_signal, check_fs
from somacore.beats import BeatKind, Beats, _assemble, make_kernel

_KERNEL_CHARS = frozenset(dt.char for dt in KERNEL_DTYPES)


class BeatDetector:
    """Detect heartbeats in a signal that arrives in chunks.

    Parameters
    ----------
    fs : float
        Sampling rate in Hz (required, keyword-only).
    kind : {"ecg", "ppg"}
        Signal type, as in :func:`somacore.detect_beats`.
    params : EcgParams or PpgParams, optional
        Detector parameters (the batch defaults when omitted).

    Notes
    -----
    ``update`` returns only the beats decided since the previous call, with
    sample indices counted from the first sample ever given. A beat is
    decided a fixed time after it occurs (about 0.4 s for ECG, plus a one-off
    4 s learning period at the start), so results lag the input slightly.
    Concatenating every ``update`` result and the ``flush`` result gives
    exactly ``detect_beats`` on the whole signal, for any chunking.

    Examples
    --------
    >>> det = BeatDetector(fs=360.0)                       # doctest: +SKIP
    >>> for chunk in device:                               # doctest: +SKIP
    ...     new = det.update(chunk)
    >>> last = det.flush()                                 # doctest: +SKIP
    """

    def __init__(self, *, fs: float, kind: BeatKind = "ecg", params=None) -> None:
        self.fs = check_fs(fs, lo=50.0, hi=10_000.0, what=f"{kind.upper()} signal")
        self.kind = kind
        self._kernel = make_kernel(kind, fs=self.fs, params=params)
        self._n = 0
        self._done = False

    @property
    def n_samples(self) -> int:
        """Samples consumed so far."""
        return self._n

    def update(self, chunk) -> Beats:
        """Consume ``chunk`` (1-D samples) and return the beats decided so far."""
        if self._done:
            raise RuntimeError("BeatDetector.flush() was called; create a new detector.")
        if (type(chunk) is np.ndarray and chunk.ndim == 1
                and chunk.dtype.char in _KERNEL_CHARS and chunk.dtype.isnative):
            arr = chunk  # the common live case: no validation cost per chunk
        else:
            arr = as_1d_signal(chunk, what="chunk")
        part = self._kernel.process(arr)
        self._n += int(arr.shape[0])
        return _assemble(self.kind, self.fs, self._n, [part])

    def flush(self) -> Beats:
        """Signal the end of the stream and return the remaining beats."""
        if self._done:
            raise RuntimeError("BeatDetector.flush() was already called.")
        self._done = True
        return _assemble(self.kind, self.fs, self._n, [self._kernel.flush()])

    @staticmethod
    def concat(parts: list[Beats]) -> Beats:
        """Join consecutive results of one detector into one :class:`Beats`."""
        if not parts:
            raise ValueError("nothing to concatenate")
        first = parts[0]
        onsets = None
        if first.kind == "ppg":
            onsets = np.concatenate([p.onsets for p in parts])
        return Beats(samples=np.concatenate([p.samples for p in parts]), fs=first.fs,
                     kind=first.kind, quality=np.concatenate([p.quality for p in parts]),
                     gaps=np.concatenate([p.gaps for p in parts]),
                     n_samples=parts[-1].n_samples, onsets=onsets)
