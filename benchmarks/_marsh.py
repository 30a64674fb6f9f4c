"""MARSH impedance pneumography for the breath benchmarks (accuracy and tuning scripts).

29 adults, ~15 min each at 250 Hz, with manual end-of-inspiration marks (``IP_annot``),
de-duplicated as the data README says (sorted unique marks at least 0.5 s apart; 5,614 marks).
The data sit beside the repository (``../shared/data/resp/marsh``) and are never bundled.

The two cross-validation folds are fixed by the sorted record ids: fold A is the first 15
(the records the defaults were tuned on before cross-validation), fold B the other 14.

scipy (a test/benchmark dependency, never a run-time one) reads the .mat files.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "resp" / "marsh"
FS = 250.0
TOL_S = 0.5
N_FOLD_A = 15


def records() -> list[str]:
    """The record ids in sorted order."""
    if not DATA.is_dir():
        raise FileNotFoundError(f"MARSH data not found at {DATA} (../shared/data beside the repo)")
    return sorted(p.name for p in DATA.iterdir() if p.is_dir() and p.name.isdigit())


def folds() -> dict[str, list[str]]:
    """The two fixed cross-validation folds: ``{"A": first 15 ids, "B": the other 14}``."""
    recs = records()
    return {"A": recs[:N_FOLD_A], "B": recs[N_FOLD_A:]}


@cache
def load(rec: str) -> tuple[np.ndarray, np.ndarray]:
    """IP signal (float64) and de-duplicated end-of-inspiration marks (int64), read-only."""
    from scipy.io import loadmat

    x = np.ascontiguousarray(loadmat(DATA / rec / "IP.mat")["IP"].ravel(), dtype=np.float64)
    marks = np.unique(loadmat(DATA / rec / "IP_annot.mat")["IP_annot"].ravel().astype(np.int64))
    keep = [int(marks[0])]
    for m in marks[1:]:
        if m - keep[-1] >= 0.5 * FS:
            keep.append(int(m))
    ref = np.asarray(keep, np.int64)
    x.flags.writeable = False
    ref.flags.writeable = False
    return x, ref
