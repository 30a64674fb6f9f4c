"""Parameters of the session analysis: defaults, TOML files and ``--set`` overrides.

Every parameter lives in one section (``beats``, ``heart_rate``, ``breaths``,
``synchrony``, ``arousal``, ``tables``). The defaults are :data:`DEFAULTS`;
a TOML file (``--config``) and then ``--set section.key=value`` items
(in that order) override them. Unknown sections or keys and values of the wrong
type are refused with a message naming the accepted keys, so a typo never
silently falls back to a default.

Example TOML::

    [beats]
    kind = "ppg"

    [synchrony]
    window_s = 20.0
    max_lag_s = 3.0
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["DEFAULTS", "UNITS", "ConfigError", "load_config", "parse_set", "resolve_config"]


class ConfigError(ValueError):
    """A configuration value, file or override is invalid (message says how to fix it)."""


#: Default parameters, by section. Types here define the accepted types.
DEFAULTS: dict[str, dict[str, Any]] = {
    "beats": {
        # "auto": ECG if the person has an ECG channel, else PPG
        "kind": "auto",
        # HRV: artefact correction ("lipponen2019" or "none") and spectral measures
        "hrv_correct": "lipponen2019",
        "hrv_frequency": True,
    },
    "heart_rate": {
        "fs_out": 4.0,        # Hz of the evenly sampled heart-rate series
        "method": "linear",   # "linear" or "step" (see somacore.hr_series)
        # intervals flagged by Lipponen & Tarvainen (2019) artefact detection (ectopic,
        # missed, extra beats) are left undefined (NaN) in the series; "none" keeps them
        "artifacts": "lipponen2019",
    },
    "breaths": {
        "sensor": "belt",     # belt, impedance, thermistor, airflow
        "polarity": "normal",  # normal, inverted, auto
        "fs_out": 4.0,        # Hz of the breathing-rate series
        "max_hold_s": 20.0,   # longer breath intervals (apnoeas) give no rate
    },
    "synchrony": {
        "window_s": 30.0,     # window of the lagged cross-correlation
        "step_s": 1.0,        # step between windows
        "max_lag_s": 5.0,     # lags -max..+max; positive: the second person follows
        "peak": "boker",      # peak picking: "boker" (local max nearest 0) or "max"
        "n_surrogates": 100,  # circular-shift surrogates for the threshold
        "quantile": 0.95,     # threshold = this quantile of surrogate window peak r
        "min_shift_s": 30.0,  # smallest circular shift of a surrogate
        "seed": 0,            # surrogates are reproducible
        "breathing": True,    # also correlate breathing rate when both people have it
        # NaN runs up to this long are linearly bridged in the synchrony input only
        # (one NaN makes a whole window undefined); longer gaps stay gaps
        "fill_gap_s": 3.0,
    },
    "arousal": {
        "baseline_s": 120.0,  # centred rolling-median baseline window
        "k": 2.0,             # threshold: baseline + k robust SD
        "min_duration_s": 10.0,  # shortest episode
        "merge_gap_s": 2.0,   # runs closer than this are merged
        "recovery_k": 0.5,    # "back to baseline": HR <= baseline + recovery_k robust SD
    },
    "tables": {
        "format": "auto",     # "auto" (Parquet when pyarrow is installed), "parquet", "csv"
    },
}

#: Units of the numeric parameters (written into summary.json).
UNITS: dict[str, str] = {
    "heart_rate.fs_out": "Hz", "breaths.fs_out": "Hz", "breaths.max_hold_s": "s",
    "synchrony.window_s": "s", "synchrony.step_s": "s", "synchrony.max_lag_s": "s",
    "synchrony.min_shift_s": "s", "synchrony.fill_gap_s": "s",
    "arousal.baseline_s": "s", "arousal.k": "robust SD",
    "arousal.min_duration_s": "s", "arousal.merge_gap_s": "s", "arousal.recovery_k": "robust SD",
}

_CHOICES: dict[str, tuple[str, ...]] = {
    "beats.kind": ("auto", "ecg", "ppg"),
    "beats.hrv_correct": ("lipponen2019", "none"),
    "heart_rate.method": ("linear", "step"),
    "heart_rate.artifacts": ("lipponen2019", "none"),
    "breaths.sensor": ("belt", "impedance", "thermistor", "airflow"),
    "breaths.polarity": ("normal", "inverted", "auto"),
    "synchrony.peak": ("boker", "max"),
    "tables.format": ("auto", "parquet", "csv"),
}


def _coerce(key: str, value: Any, default: Any) -> Any:
    """Convert ``value`` to the type of ``default`` (strings from ``--set`` included)."""
    if isinstance(default, bool):
        if isinstance(value, bool):
            out: Any = value
        elif isinstance(value, str) and value.lower() in ("true", "1", "yes", "on"):
            out = True
        elif isinstance(value, str) and value.lower() in ("false", "0", "no", "off"):
            out = False
        else:
            raise ConfigError(f"{key} must be true or false, got {value!r}")
    elif isinstance(default, int):
        try:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            out = int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key} must be a whole number, got {value!r}") from None
    elif isinstance(default, float):
        try:
            if isinstance(value, bool):
                raise ValueError
            out = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key} must be a number, got {value!r}") from None
        if not math.isfinite(out):
            raise ConfigError(f"{key} must be finite, got {value!r}")
    else:
        out = str(value)
    if key in _CHOICES and out not in _CHOICES[key]:
        raise ConfigError(f"{key} must be one of {', '.join(_CHOICES[key])}; got {out!r}")
    return out


def _apply(cfg: dict, key: str, value: Any, origin: str) -> None:
    section, _, name = key.partition(".")
    if section not in cfg or not name:
        raise ConfigError(f"{origin}: unknown parameter {key!r}; sections are "
                          f"{', '.join(cfg)} (use section.key=value)")
    if name not in cfg[section]:
        raise ConfigError(f"{origin}: unknown parameter {key!r}; {section} has "
                          f"{', '.join(cfg[section])}")
    cfg[section][name] = _coerce(key, value, DEFAULTS[section][name])


def load_config(path: str | Path) -> dict[str, dict[str, Any]]:
    """Read a TOML file of overrides (sections and keys as in :data:`DEFAULTS`).

    Returns the flat overrides as ``{"section": {"key": value}}`` after checking
    every key and type against the defaults.
    """
    import tomllib

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p} does not exist; pass an existing TOML file to "
                          "--config")
    try:
        with open(p, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {p} is not valid TOML: {exc}") from None
    check = copy.deepcopy(DEFAULTS)
    for section, items in data.items():
        if not isinstance(items, Mapping):
            raise ConfigError(f"{p}: top-level key {section!r} must be a [section] table; "
                              f"sections are {', '.join(DEFAULTS)}")
        for name, value in items.items():
            _apply(check, f"{section}.{name}", value, str(p))
    return {s: dict(v) for s, v in data.items()}


def parse_set(item: str) -> tuple[str, str]:
    """Split one ``section.key=value`` override."""
    key, eq, value = item.partition("=")
    if not eq or "." not in key:
        raise ConfigError(f"--set {item!r}: expected section.key=value, e.g. beats.kind=ppg")
    return key.strip(), value.strip()


def resolve_config(config_file: str | Path | None = None,
                   overrides: Iterable[tuple[str, Any]] = ()) -> dict[str, dict[str, Any]]:
    """Defaults, then the TOML file, then the overrides (later wins), all checked.

    Parameters
    ----------
    config_file : path, optional
        TOML file of overrides.
    overrides : iterable of (key, value)
        ``("synchrony.window_s", "20")`` pairs, e.g. from ``--set``; strings are
        converted to the parameter's type.

    Returns
    -------
    dict
        A complete, validated parameter set (a fresh copy).
    """
    cfg = copy.deepcopy(DEFAULTS)
    if config_file is not None:
        for section, items in load_config(config_file).items():
            for name, value in items.items():
                _apply(cfg, f"{section}.{name}", value, str(config_file))
    for key, value in overrides:
        _apply(cfg, key, value, "--set")
    _check_ranges(cfg)
    return cfg


def _check_ranges(cfg: dict) -> None:
    def pos(key: str) -> None:
        s, n = key.split(".")
        if not cfg[s][n] > 0:
            raise ConfigError(f"{key} must be positive, got {cfg[s][n]!r}")

    for key in ("heart_rate.fs_out", "breaths.fs_out", "breaths.max_hold_s",
                "synchrony.window_s", "synchrony.step_s", "synchrony.min_shift_s",
                "arousal.baseline_s", "arousal.min_duration_s", "arousal.k"):
        pos(key)
    sy = cfg["synchrony"]
    if sy["max_lag_s"] < 0 or sy["max_lag_s"] >= sy["window_s"]:
        raise ConfigError(f"synchrony.max_lag_s={sy['max_lag_s']:g} must be >= 0 and shorter "
                          f"than synchrony.window_s={sy['window_s']:g}")
    if sy["n_surrogates"] < 0:
        raise ConfigError("synchrony.n_surrogates must be >= 0 (0 disables the threshold)")
    if not 0.5 <= sy["quantile"] < 1:
        raise ConfigError(f"synchrony.quantile must be in [0.5, 1), got {sy['quantile']!r}")
    if sy["fill_gap_s"] < 0:
        raise ConfigError("synchrony.fill_gap_s must be >= 0 (0 bridges nothing)")
    if cfg["arousal"]["merge_gap_s"] < 0 or cfg["arousal"]["recovery_k"] < 0:
        raise ConfigError("arousal.merge_gap_s and arousal.recovery_k must be >= 0")
