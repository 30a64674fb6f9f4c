"""The LSL stream-info conventions shared by the lsl driver and the xdf reader."""

from __future__ import annotations

import pytest

from somacore.io.lsl_info import ChannelMeta, kind_of, parse_info_xml, unit_of

INFO = """<?xml version="1.0"?><info><name>H10</name><type>Physio</type>
<channel_count>3</channel_count><nominal_srate>130</nominal_srate>
<channel_format>float32</channel_format><source_id>abc</source_id>
<desc><channels><channel><label>ECG</label><type>EKG</type><unit>microvolts</unit></channel>
<channel><type>Respiration</type></channel></channels></desc></info>"""


def test_kinds_and_units_follow_the_table():
    assert [kind_of(t) for t in ("ECG", "ekg", "Skin Conductance", "skin_conductance",
                                 "PLETH", "RR", "EEG", "", None)] == \
        ["ecg", "ecg", "eda", "eda", "ppg", "rr", None, None, None]
    assert [unit_of(u) for u in ("microvolts", " MilliVolts ", "bpm", "", None)] == \
        ["uV", "mV", "bpm", "au", "au"]


def test_parse_info_reads_the_declared_channels():
    info = parse_info_xml(INFO)
    assert (info["name"], info["type"], info["channel_count"], info["nominal_srate"],
            info["channel_format"], info["source_id"]) == ("H10", "Physio", 3, 130.0,
                                                           "float32", "abc")
    # two of three channels declared; a missing label becomes ch<i>
    assert info["channels"] == [ChannelMeta(0, "ECG", "EKG", "microvolts"),
                                ChannelMeta(1, "ch1", "Respiration", "")]


def test_parse_info_errors_say_what_is_wrong():
    with pytest.raises(ValueError, match="not valid XML"):
        parse_info_xml("<info><name>x</info>")
    with pytest.raises(ValueError, match=r"channel_count or nominal_srate \(channel_count='3'"
                                         r", nominal_srate=''\)"):
        parse_info_xml("<info><channel_count>3</channel_count></info>")
