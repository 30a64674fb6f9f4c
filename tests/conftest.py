"""Shared pytest fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

#: Shared benchmark data (outside the repository): <repo>/../shared/data
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Root of the shared real-data folder (``ecg/``, ``multimodal/``, ...)."""
    if not DATA.is_dir():
        pytest.fail(f"shared data folder {DATA} not found: it must sit beside the repository "
                    "(../shared/data); the real-data tests never skip")
    return DATA
