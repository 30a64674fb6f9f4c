"""somacore-polar: Polar H10 decoders (BLE Heart Rate Measurement, PMD ECG) and driver."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from somacore_polar.decode import (
    HeartRateMeasurement,
    PmdEcgFrame,
    decode_hr_measurement,
    decode_pmd_ecg,
    ecg_start_command,
)
from somacore_polar.driver import PolarH10Driver

try:
    __version__ = version("somacore-polar")
except PackageNotFoundError:  # pragma: no cover - source tree
    __version__ = "0+unknown"

__all__ = ["HeartRateMeasurement", "PmdEcgFrame", "PolarH10Driver", "__version__",
           "decode_hr_measurement", "decode_pmd_ecg", "ecg_start_command"]
