"""The LSL stream-info conventions (the ``<info>`` XML of LSL and of XDF stream headers).

One table and one parser for every plugin that meets LSL metadata (the ``lsl``
driver reads it from the network, the ``xdf`` reader from a file's stream
headers), so the two cannot drift apart. Standard library only.

LSL describes channels in ``<desc><channels><channel>`` with ``label``, ``type``
and ``unit`` (the XDF meta-data conventions); the stream itself has a ``type``
(``"ECG"``, ``"EEG"``...) and a ``nominal_srate`` (0 = irregular). The kind of a
channel is its own ``type`` when it has one, else the stream's ``type``:

========================================== ======
LSL type (case-insensitive)                kind
========================================== ======
ECG, EKG                                   ecg
PPG, PLETH, BVP, PULSE                     ppg
RESP, RESPIRATION, RIP, BREATH, BREATHING  resp
EDA, GSR, SCL, SKINCONDUCTANCE             eda
EMG                                        emg
ACC, ACCEL, ACCELEROMETER                  acc
RR, IBI                                    rr
========================================== ======
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

__all__ = ["TYPE_KINDS", "UNITS", "ChannelMeta", "kind_of", "parse_info_xml", "unit_of"]

TYPE_KINDS: dict[str, str] = {
    "ecg": "ecg", "ekg": "ecg",
    "ppg": "ppg", "pleth": "ppg", "bvp": "ppg", "pulse": "ppg",
    "resp": "resp", "respiration": "resp", "rip": "resp", "breath": "resp",
    "breathing": "resp",
    "eda": "eda", "gsr": "eda", "scl": "eda", "skinconductance": "eda",
    "emg": "emg",
    "acc": "acc", "accel": "acc", "accelerometer": "acc",
    "rr": "rr", "ibi": "rr",
}
#: spelled-out units of the XDF/LSL conventions -> somacore's short forms
UNITS: dict[str, str] = {
    "microvolts": "uV", "microvolt": "uV", "µv": "uV", "millivolts": "mV", "millivolt": "mV",
    "volts": "V", "volt": "V", "microsiemens": "uS", "µs": "uS", "seconds": "s",
    "milliseconds": "ms",
}


def kind_of(lsl_type: str | None) -> str | None:
    """somacore kind of an LSL/XDF channel or stream type, None if it is not one of ours."""
    if not lsl_type:
        return None
    key = "".join(lsl_type.lower().split()).replace("_", "").replace("-", "")
    return TYPE_KINDS.get(key)


def unit_of(unit: str | None) -> str:
    """somacore's form of a declared unit (``"au"`` when none is declared)."""
    if not unit or not unit.strip():
        return "au"
    unit = unit.strip()
    return UNITS.get(unit.lower(), unit)


@dataclass(frozen=True)
class ChannelMeta:
    """One channel as declared: index, label, type and unit."""

    index: int
    label: str
    type: str
    unit: str


def parse_info_xml(xml: str) -> dict:
    """The fields of an LSL ``<info>`` document (or an XDF stream header) somacore uses.

    Returns
    -------
    dict
        ``name``, ``type``, ``channel_count`` (int), ``nominal_srate`` (float),
        ``channel_format``, ``source_id`` and ``channels`` (list of
        :class:`ChannelMeta`, one per declared ``<channel>``; may be shorter
        than ``channel_count`` or empty when the source declares none).

    Raises
    ------
    ValueError
        If the XML is malformed or lacks a numeric ``channel_count`` or
        ``nominal_srate``.
    """
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise ValueError(f"stream info is not valid XML: {exc}") from None

    def text(node: ET.Element | None, tag: str) -> str:
        el = None if node is None else node.find(tag)
        return (el.text or "").strip() if el is not None else ""

    try:
        count = int(text(root, "channel_count"))
        srate = float(text(root, "nominal_srate"))
    except ValueError:
        raise ValueError("stream info lacks a numeric channel_count or nominal_srate "
                         f"(channel_count={text(root, 'channel_count')!r}, "
                         f"nominal_srate={text(root, 'nominal_srate')!r})") from None
    node = root.find("desc/channels")
    chans = [ChannelMeta(i, text(ch, "label") or f"ch{i}", text(ch, "type"), text(ch, "unit"))
             for i, ch in enumerate([] if node is None else node.findall("channel"))]
    return {"name": text(root, "name"), "type": text(root, "type"), "channel_count": count,
            "nominal_srate": srate, "channel_format": text(root, "channel_format"),
            "source_id": text(root, "source_id"), "channels": chans}
