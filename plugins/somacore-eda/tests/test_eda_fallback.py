"""The plain-Python fallback (SOMACORE_DISABLE_NUMBA=1) gives the same numbers as Numba."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).parent

SCRIPT = r"""
import json, sys
sys.path.insert(0, {here!r})
import numpy as np
from eda_synth import scr_signal
from somacore_eda import _kernels as K, decompose, detect_scr, eda_arousal
t, sc, _ = scr_signal([10.0, 40.0, 70.0, 95.0], [0.3, 0.6, 0.15, 0.02], drift=0.002)
sc[2000:2010] = np.nan
d = decompose(sc, fs=32.0)
r = detect_scr(sc, fs=32.0, min_amplitude=0.01)
e = eda_arousal(sc, fs=32.0)
print(json.dumps({{
    "jit": bool(K.scr_detect.somacore_jit),
    "tonic": np.nan_to_num(d.tonic, nan=-1.0).tolist(),
    "onset": r.onset_idx.tolist(), "peak": r.peak_idx.tolist(),
    "amp": r.amplitude_uS.tolist(), "half": np.nan_to_num(r.half_recovery_s, nan=-1).tolist(),
    "episodes": e.onset_s.tolist(),
}}))
"""


def _run(disable: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "SOMACORE_DISABLE_NUMBA"}
    if disable:
        env["SOMACORE_DISABLE_NUMBA"] = "1"
    out = subprocess.run([sys.executable, "-c", SCRIPT.format(here=str(HERE))],
                         capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout)


def test_fallback_matches_numba():
    pytest.importorskip("numba")
    fast, slow = _run(False), _run(True)
    assert fast["jit"] is True and slow["jit"] is False
    assert fast["onset"] == slow["onset"] and fast["peak"] == slow["peak"]
    assert len(fast["onset"]) == 4
    np.testing.assert_allclose(fast["tonic"], slow["tonic"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(fast["amp"], slow["amp"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(fast["half"], slow["half"], rtol=0, atol=1e-12)
    assert fast["episodes"] == slow["episodes"]


def test_kernels_handle_edge_cases_identically():
    from somacore_eda import _kernels as K

    x = np.array([np.nan, 1.0, 3.0, 2.0, np.nan, 5.0, 4.0])
    np.testing.assert_array_equal(K.moving_min(x, 3),
                                  [np.nan, 1.0, 1.0, 2.0, np.nan, 4.0, 4.0])
    np.testing.assert_array_equal(K.moving_max(x, 3),
                                  [np.nan, 3.0, 3.0, 3.0, np.nan, 5.0, 5.0])
    np.testing.assert_allclose(K.moving_mean(x, 3), [np.nan, 2.0, 2.0, 2.5, np.nan, 4.5, 4.5])
    assert K.moving_min(np.zeros(0), 5).size == 0
