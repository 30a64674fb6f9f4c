"""The ``emg_tension`` metric registered by the plugin."""

from __future__ import annotations

from collections.abc import Callable
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np
from somacore.plugins.types import Window

__all__ = ["TO_MV", "EmgMetric"]

_NAN = float("nan")

#: Factors converting stream units to mV (amplitudes are NaN for other units).
TO_MV = MappingProxyType({"mV": 1.0, "uV": 1e-3, "µV": 1e-3, "V": 1e3})


class EmgMetric:
    """Muscle tension over a window: RMS level and bursts.

    Outputs: ``emg_rms_mV`` (mean RMS envelope), ``burst_count``,
    ``burst_rate_per_min``, ``burst_time_frac`` (fraction of valid time in
    bursts) and ``burst_peak_mean_mV`` (mean burst peak RMS). Amplitudes are
    converted to mV from the stream's units (mV, uV/µV, V); for other units
    (``adc``, ``au``) they are NaN while counts and fractions are still given.

    Parameters
    ----------
    window_s : float
        Window length (default 10 s).
    baseline : (float, float), optional
        Fixed rest level ``(mean, sd)`` of the RMS envelope in mV, e.g. from a
        calibration rest period. By default each window's quietest 1 s is the
        baseline (see :mod:`somacore_emg.bursts`), which assumes the window
        holds some rest.
    **options
        Passed to :func:`somacore_emg.detect_bursts` (``window_s`` excepted:
        use ``rms_window_s``).
    """

    name = "emg_tension"
    inputs = ("emg",)
    outputs: ClassVar[MappingProxyType[str, str]] = MappingProxyType({
        "emg_rms_mV": "mV", "burst_count": "count", "burst_rate_per_min": "1/min",
        "burst_time_frac": "1", "burst_peak_mean_mV": "mV"})

    def __init__(self, *, window_s: float = 10.0, baseline: tuple[float, float] | None = None,
                 rms_window_s: float = 0.1, **options: Any) -> None:
        self.window_s = float(window_s)
        self.baseline = baseline
        self.rms_window_s = float(rms_window_s)
        self.options = options

    @property
    def kernel(self) -> Callable[..., Any]:
        """The burst kernel (``somacore.numba.jit``), imported on first use."""
        from somacore_emg._kernels import hysteresis_runs

        return hysteresis_runs

    def compute(self, window: Window) -> dict[str, float]:
        """Tension statistics of one window."""
        from somacore_emg.bursts import detect_bursts

        s = window.kind("emg")
        x = np.array(s.data, dtype=np.float64)  # copy: window arrays are read-only
        if x.ndim == 2:
            x = x[:, 0]
        fs = s.fs
        if fs is None or x.size == 0 or np.isfinite(x).mean() < 0.5:
            return dict.fromkeys(self.outputs, _NAN)
        scale = TO_MV.get(s.info.units, _NAN)
        x_mv = x * scale if np.isfinite(scale) else x
        b = detect_bursts(x_mv, fs=fs, window_s=self.rms_window_s, rest_level=self.baseline,
                          **self.options)
        env = b.envelope
        valid_s = np.isfinite(env).sum() / fs
        n = len(b)
        env_fin = env[np.isfinite(env)]
        return {
            "emg_rms_mV": float(env_fin.mean()) * (1.0 if np.isfinite(scale) else _NAN),
            "burst_count": float(n),
            "burst_rate_per_min": n / (valid_s / 60.0) if valid_s > 0 else _NAN,
            "burst_time_frac": float(b.duration_s.sum() / valid_s) if valid_s > 0 else _NAN,
            "burst_peak_mean_mV": (float(b.peak_rms.mean()) if n else _NAN)
            * (1.0 if np.isfinite(scale) else _NAN),
        }

