"""Private compiled kernels. Not a public API: import from ``somacore`` instead.

Contract of every kernel module here:

- one ``cdef class`` per algorithm, holding all state of one channel;
  ``process(chunk)`` consumes samples and returns only what is new,
  ``flush()`` finishes the record; any chunking gives the same result;
- inner loops run without the GIL, on typed memoryviews (float64, float32,
  int16, int32 are read in place, no conversion copy);
- kernels validate nothing: ``somacore._validate`` and the public modules check
  user input and design every parameter, in seconds, before converting them
  to samples here.

Build variants: on Linux x86-64 the ECG and PPG kernels are also built for
x86-64-v3 (``_ecg_v3``, ``_ppg_v3``: same source and same roundings, AVX2
encodings); :func:`kernel_module` returns that build when the CPU runs it.
"""

from __future__ import annotations

import os
from functools import lru_cache
from importlib import import_module
from types import ModuleType

#: CPU flags (as /proc/cpuinfo names them) of the x86-64-v3 level.
_V3_FLAGS = frozenset({"avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave"})


@lru_cache(maxsize=1)
def _cpu_has_v3() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return _V3_FLAGS <= set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return False


def kernel_module(name: str) -> ModuleType:
    """The compiled kernel module ``name`` (``"_ecg"`` or ``"_ppg"``).

    Its x86-64-v3 build when one was built and the CPU runs it (set the
    environment variable ``SOMACORE_BASELINE_KERNELS=1`` to always use the
    baseline build), else the baseline build. Both give identical results.
    """
    if not os.environ.get("SOMACORE_BASELINE_KERNELS") and _cpu_has_v3():
        try:
            return import_module(f"somacore._core.{name}_v3")
        except ImportError:
            pass
    return import_module(f"somacore._core.{name}")
