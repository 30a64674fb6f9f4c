"""Session analysis: from recordings of one or more people to tables, a summary and a report.

The pipeline (:func:`analyze_session`) runs, per person, beats + HRV, breaths +
breathing rate, the heart-rate series and arousal episodes, and per pair the
windowed lagged cross-correlation of heart (and breathing) rate with a
surrogate threshold. :func:`write_outputs` writes the tables (Parquet or CSV),
``summary.json`` and ``report.html`` into a folder atomically. The
``somacore analyze`` command is a thin layer over these two calls.

This package imports numpy only; pyarrow and matplotlib are imported when a
table or the report is written.
"""

from __future__ import annotations

from somacore.analysis.arousal import ArousalEpisodes, detect_arousal
from somacore.analysis.config import DEFAULTS, ConfigError, load_config, resolve_config
from somacore.analysis.output import check_out_dir, write_outputs
from somacore.analysis.pipeline import (
    AnalysisError,
    PairResult,
    PersonInput,
    PersonResult,
    SessionResult,
    analyze_session,
    build_tables,
    summary_dict,
)
from somacore.analysis.tables import Table, read_table

__all__ = [
    "DEFAULTS",
    "AnalysisError",
    "ArousalEpisodes",
    "ConfigError",
    "PairResult",
    "PersonInput",
    "PersonResult",
    "SessionResult",
    "Table",
    "analyze_session",
    "build_tables",
    "check_out_dir",
    "detect_arousal",
    "load_config",
    "read_table",
    "resolve_config",
    "summary_dict",
    "write_outputs",
]
