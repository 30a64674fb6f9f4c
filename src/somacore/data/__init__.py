"""Bundled, openly licensed example recordings (see ATTRIBUTION.md beside this file)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import numpy as np

__all__ = ["ExampleECG", "example_ecg"]


@dataclass(frozen=True)
class ExampleECG:
    """A real ECG excerpt with its reference beat annotations.

    Attributes
    ----------
    ecg_mv : ndarray of float64
        Signal in millivolts.
    fs : float
        Sampling rate in Hz.
    reference_beats : ndarray of int64
        Cardiologists' beat annotations (sample indices).
    source : str
        Attribution line.
    """

    ecg_mv: np.ndarray
    fs: float
    reference_beats: np.ndarray
    source: str


def example_ecg() -> ExampleECG:
    """MIT-BIH Arrhythmia record 100, first 5 min of MLII (ODC-By 1.0).

    Returns
    -------
    ExampleECG
    """
    ref = resources.files("somacore.data").joinpath("mitdb100_5min.npz")
    with ref.open("rb") as fh, np.load(fh) as z:
        ecg = (z["ecg"].astype(np.float64) - float(z["baseline"])) / float(z["gain"])
        return ExampleECG(
            ecg_mv=ecg, fs=float(z["fs"]), reference_beats=z["beats"].astype(np.int64),
            source=("MIT-BIH Arrhythmia Database record 100 (Moody & Mark 2001; PhysioNet), "
                    "ODC-By 1.0"),
        )
