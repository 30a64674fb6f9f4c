"""LSL stream metadata (the ``<info>`` XML) to somacore streams: pure functions, no network.

LSL describes channels in ``<desc><channels><channel>`` with ``label``, ``type`` and
``unit`` (the XDF meta-data conventions); the stream itself has a ``type``
(``"ECG"``, ``"EEG"``...) and a ``nominal_srate`` (0 = irregular). The kind of a
channel is its own ``type`` when it has one, else the stream's ``type``, by the
table shared with the ``xdf`` reader (:mod:`somacore.io.lsl_info`).

Channels of other types (EEG, EOG, Markers, AUX...) are skipped and listed;
``kinds={"label": "ecg"}`` maps any channel explicitly (``None`` skips one).
Channels of one kind and unit form one somacore stream named after the kind
(``"ecg"``; ``"ecg:uV"`` when the same kind comes in several units).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from somacore.io.lsl_info import TYPE_KINDS, UNITS, ChannelMeta, kind_of
from somacore.io.lsl_info import parse_info_xml as _parse
from somacore.io.lsl_info import unit_of as _unit
from somacore.plugins.types import StreamInfo
from somacore.signals import KINDS

__all__ = ["TYPE_KINDS", "UNITS", "ChannelMeta", "LslLayout", "kind_of", "layout_from_xml",
           "parse_info_xml"]

#: LSL channel formats somacore can read (numbers); "string" streams are markers
NUMERIC_FORMATS = ("float32", "double64", "int8", "int16", "int32", "int64")


def parse_info_xml(xml: str) -> dict:
    """:func:`somacore.io.lsl_info.parse_info_xml`, its errors naming LSL."""
    try:
        return _parse(xml)
    except ValueError as exc:
        raise ValueError(f"LSL {exc}") from None


@dataclass(frozen=True)
class LslLayout:
    """How an LSL stream's columns become somacore streams.

    Attributes
    ----------
    infos : list of StreamInfo
        The somacore streams.
    columns : list of list of int
        For each stream, the LSL channel indices it holds (in order).
    fs : float or None
        The rate of the regular streams (None if every stream is irregular ``rr``).
    skipped : list of (label, type)
        LSL channels not mapped to a somacore kind.
    """

    infos: list[StreamInfo]
    columns: list[list[int]]
    fs: float | None
    skipped: list[tuple[str, str]] = field(default_factory=list)


def layout_from_xml(xml: str, *, kinds: Mapping[str | int, str | None] | None = None,
                    fs: float | None = None) -> LslLayout:
    """Map the channels of the stream described by ``xml`` to somacore streams.

    Parameters
    ----------
    xml : str
        The stream's full ``<info>`` document (``StreamInlet.info().as_xml()``).
    kinds : mapping, optional
        Channel label or index -> somacore kind (or None to skip it); overrides
        the declared types.
    fs : float, optional
        Sampling rate to use for a stream declaring an irregular rate
        (``nominal_srate`` 0) whose source actually samples regularly. Refused
        for a stream that declares a rate.

    Raises
    ------
    ValueError
        Naming the stream, for a string (marker) stream, a stream with no
        channel of a known kind, an irregular stream of waveform kinds without
        ``fs``, or a bad ``kinds`` entry.
    """
    meta = parse_info_xml(xml)
    sname = meta["name"] or "?"
    where = f"LSL stream {sname!r} (type {meta['type'] or 'none'!r})"
    if meta["channel_format"] not in NUMERIC_FORMATS:
        raise ValueError(f"{where} carries {meta['channel_format'] or 'unknown'!r} samples "
                         "(a marker/event stream); somacore reads numeric streams only")
    n = meta["channel_count"]
    declared = {c.index: c for c in meta["channels"][:n]}
    chans = [declared.get(i) or ChannelMeta(i, f"ch{i}", "", "") for i in range(n)]
    over = dict(kinds or {})
    labels = {c.label: c.index for c in chans}
    for key, kind in over.items():
        if isinstance(key, int) and not isinstance(key, bool):
            ok = 0 <= key < n
        else:
            ok = key in labels
        if not ok:
            raise ValueError(f"{where}: kinds names channel {key!r}, which it does not have "
                             f"(channels: {', '.join(labels) or 'none'})")
        if kind is not None and kind not in KINDS:
            raise ValueError(f"kinds[{key!r}] = {kind!r} is not a somacore kind; use one of "
                             f"{', '.join(sorted(KINDS))} or None to skip the channel")
    srate = meta["nominal_srate"]
    regular_fs: float | None = srate if srate > 0 else None
    if fs is not None:
        if regular_fs is not None:
            raise ValueError(f"{where} declares {srate:g} Hz; fs= only names the rate of a "
                             "stream declared irregular (nominal_srate 0)")
        if not (isinstance(fs, (int, float)) and math.isfinite(fs) and fs > 0):
            raise ValueError(f"fs={fs!r} must be a positive number of Hz")
        regular_fs = float(fs)
    groups: dict[tuple[str, str], list[int]] = {}
    skipped: list[tuple[str, str]] = []
    for c in chans:
        if c.label in over or c.index in over:
            kind = over.get(c.label, over.get(c.index))
        else:
            kind = kind_of(c.type) or (kind_of(meta["type"]) if not c.type else None)
        if kind is None:
            skipped.append((c.label, c.type or meta["type"]))
            continue
        groups.setdefault((kind, _unit(c.unit)), []).append(c.index)
    if not groups:
        listed = ", ".join(f"{lab} ({t or 'no type'})" for lab, t in skipped) or "none"
        raise ValueError(f"{where} has no channel of a kind somacore analyses (ECG, PPG, "
                         f"RESP, EDA, EMG, ACC, RR); channels: {listed}. Map one with "
                         "kinds={'<label>': 'ecg'}")
    waveform = sorted({k for k, _ in groups if k != "rr"})
    if regular_fs is None and waveform:
        raise ValueError(f"{where} declares an irregular rate (nominal_srate 0) but carries "
                         f"{', '.join(waveform)} channels, which need an explicit sampling "
                         "rate; if the source samples regularly pass fs=<Hz>, else map the "
                         "channels to 'rr' (values at irregular times) or skip them")
    per_kind: dict[str, int] = {}
    for kind, _ in groups:
        per_kind[kind] = per_kind.get(kind, 0) + 1
    infos, columns = [], []
    for (kind, unit), cols in groups.items():
        name = kind if per_kind[kind] == 1 else f"{kind}:{unit}"
        # rr values come at beats, not on a grid: always an irregular stream
        rate = None if kind == "rr" else regular_fs
        infos.append(StreamInfo(name, kind, unit, rate, channels=len(cols)))
        columns.append(cols)
    return LslLayout(infos, columns, regular_fs, skipped)
