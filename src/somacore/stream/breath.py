"""Live breath segmentation: :class:`BreathSegmenter`."""

from __future__ import annotations

import numpy as np

from somacore._validate import as_1d_signal, check_fs
from somacore.breath import (
    FS_MAX,
    FS_MIN,
    BreathParams,
    Breaths,
    Polarity,
    Sensor,
    _assemble,
    _check_sensor,
    _empty,
    make_kernel,
)


class BreathSegmenter:
    """Segment breaths in a respiration signal that arrives in chunks.

    Parameters
    ----------
    fs : float
        Sampling rate in Hz (required, keyword-only; 10-5,000 Hz).
    sensor : {"belt", "impedance", "thermistor", "airflow"}
        Sensor type, as in :func:`somacore.segment_breaths`.
    polarity : {"normal", "inverted", "auto"}
        As in :func:`somacore.segment_breaths`.
    params : BreathParams, optional
        Segmenter parameters (the batch defaults when omitted).

    Notes
    -----
    The filters are causal and keep their state between chunks. ``update``
    returns only the breaths decided since the previous call, with sample
    indices counted from the first sample ever given. A breath is decided
    when the next inhale onset is confirmed (the exhalation plus about a fifth of
    the next inhalation, plus ``flat_s`` = 2 s of look-behind for flat-run
    detection), after a one-off learning period of ``learn_s`` = 30 s at the
    start whose breaths are then all reported. Concatenating every ``update``
    result and the ``flush`` result (:meth:`concat`) gives exactly
    :func:`somacore.segment_breaths` on the whole signal, for any chunking.

    Examples
    --------
    >>> seg = BreathSegmenter(fs=25.0, sensor="belt")        # doctest: +SKIP
    >>> for chunk in device:                                  # doctest: +SKIP
    ...     for rate in seg.update(chunk).rate:
    ...         show(rate)
    >>> last = seg.flush()                                    # doctest: +SKIP
    """

    def __init__(self, *, fs: float, sensor: Sensor = "belt", polarity: Polarity = "normal",
                 params: BreathParams | None = None) -> None:
        self.fs = check_fs(fs, lo=FS_MIN, hi=FS_MAX, what="respiration signal")
        _check_sensor(sensor, polarity)
        self.sensor = sensor
        self.params = params if params is not None else BreathParams()
        self._kernel = make_kernel(fs=self.fs, sensor=sensor, polarity=polarity,
                                   params=self.params)
        self._n = 0
        self._apnea_s = self.params.apnea_s
        self._done = False

    @property
    def n_samples(self) -> int:
        """Samples consumed so far."""
        return self._n

    @property
    def polarity(self) -> int:
        """Sign in use: +1/-1 once learnt, 0 during the learning period."""
        return int(self._kernel.polarity)

    def update(self, chunk) -> Breaths:
        """Consume ``chunk`` (1-D samples) and return the breaths decided so far."""
        if self._done:
            raise RuntimeError("BreathSegmenter.flush() was called; create a new segmenter.")
        arr = as_1d_signal(chunk, what="chunk")
        part = self._kernel.process(arr)
        self._n += int(arr.shape[0])
        if part is None:
            return _empty(self.fs, self.sensor, self._kernel.polarity, self._n, self._apnea_s)
        return _assemble(self.fs, self.sensor, self._kernel.polarity, self._n, [part],
                         self.params.apnea_s)

    def flush(self) -> Breaths:
        """Signal the end of the stream and return the remaining breaths."""
        if self._done:
            raise RuntimeError("BreathSegmenter.flush() was already called.")
        self._done = True
        # flush first: on a stream shorter than the learning window the
        # polarity is only learnt by the flush
        rest = self._kernel.flush()
        return _assemble(self.fs, self.sensor, self._kernel.polarity, self._n, [rest],
                         self.params.apnea_s)

    @staticmethod
    def concat(parts: list[Breaths]) -> Breaths:
        """Join consecutive results of one segmenter into one :class:`Breaths`."""
        if not parts:
            raise ValueError("nothing to concatenate")
        last = parts[-1]

        def cat(name: str) -> np.ndarray:
            return np.concatenate([getattr(p, name) for p in parts])

        return Breaths(onsets=cat("onsets"), peaks=cat("peaks"), ends=cat("ends"),
                       inhale_amplitude=cat("inhale_amplitude"),
                       exhale_amplitude=cat("exhale_amplitude"), quality=cat("quality"),
                       post_inspiratory_pause=cat("post_inspiratory_pause"),
                       post_expiratory_pause=cat("post_expiratory_pause"), fs=last.fs,
                       sensor=last.sensor, polarity=last.polarity, gaps=cat("gaps"),
                       n_samples=last.n_samples, apnea_s=last.apnea_s)
