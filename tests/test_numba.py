"""somacore.numba: jit with cache/nogil, plain-Python fallback, lazy import."""

from __future__ import annotations

import subprocess
import sys
from typing import ClassVar

import numpy as np
import pytest

import somacore.numba as snb


def _sumsq(x):
    s = 0.0
    for v in x:
        s += v * v
    return s


def test_not_imported_by_somacore():
    code = "import sys, somacore, somacore.numba; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_fallback_when_disabled(monkeypatch):
    monkeypatch.setenv(snb.ENV_DISABLE, "1")
    assert not snb.enabled()
    f = snb.jit(_sumsq)
    assert f is _sumsq and f.somacore_jit is False
    assert f(np.arange(4.0)) == 14.0


def test_fallback_when_numba_missing(monkeypatch):
    monkeypatch.delenv(snb.ENV_DISABLE, raising=False)
    monkeypatch.setattr(snb, "available", lambda: False)

    def g(x):
        return x + 1

    assert snb.jit(g) is g and snb.jit()(g) is g


def test_compiles_with_numba(monkeypatch):
    pytest.importorskip("numba")
    monkeypatch.delenv(snb.ENV_DISABLE, raising=False)

    @snb.jit
    def sumsq(x):
        s = 0.0
        for v in x:
            s += v * v
        return s

    assert sumsq.somacore_jit is True
    assert sumsq.targetoptions["nogil"] is True
    assert sumsq.targetoptions.get("cache", True) in (True, False)
    assert sumsq(np.arange(4.0)) == 14.0

    @snb.jit(fastmath=True)
    def dot(a, b):
        s = 0.0
        for i in range(a.size):
            s += a[i] * b[i]
        return s

    assert dot(np.ones(3), np.ones(3)) == 3.0 and dot.targetoptions["fastmath"] is True


def test_cache_only_for_file_functions(monkeypatch):
    pytest.importorskip("numba")
    monkeypatch.delenv(snb.ENV_DISABLE, raising=False)
    ns: dict = {}
    exec("def h(x):\n    return x * 2\n", ns)  # no source file: cannot be cached
    h = snb.jit(ns["h"])
    assert h(3) == 6
    assert snb._cacheable(_sumsq) is True and snb._cacheable(ns["h"]) is False


def test_metric_with_numba_kernel_passes_contract(monkeypatch):
    from somacore.plugins.types import Window
    from somacore.testing import check_metric

    kernel = snb.jit(_sumsq)

    class Rms:
        name = "resp_rms"
        inputs = ("resp",)
        window_s = 10.0
        outputs: ClassVar[dict[str, str]] = {"rms_au": "au"}

        def __init__(self):
            self.kernel = kernel

        def compute(self, window: Window) -> dict[str, float]:
            x = window.kind("resp").data
            x = x[np.isfinite(x)]
            if x.size == 0:
                return {"rms_au": float("nan")}
            return {"rms_au": float(np.sqrt(self.kernel(x) / x.size))}

    check_metric(Rms())


def test_moving_mean_helper_matches_slow_reference():
    from somacore.numba_kernels import moving_mean

    rng = np.random.default_rng(3)
    x = rng.normal(size=200)
    x[[5, 50, 51, 199]] = np.nan
    w = 7
    got = moving_mean(x, w)
    for i in range(x.size):
        if np.isnan(x[i]):
            assert np.isnan(got[i])
            continue
        win = x[max(0, i - w // 2):i + w // 2 + 1]
        assert got[i] == pytest.approx(np.nanmean(win), rel=1e-12, abs=1e-12)
