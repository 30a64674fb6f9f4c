"""Tests of the numpy-only WFDB reader (somacore.io.wfdb).

Two kinds of tests:

* cross-checks against the reference ``wfdb`` package on every real record of the
  shared data folder (skipped, individually, only when ``wfdb`` is not installed);
* tests that need no ``wfdb``: hand-encoded files of every supported format,
  damaged copies (checksum, truncation), header edge cases, hand-built annotation
  byte streams and the published MIT-BIH beat counts.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from somacore.io import (
    BEAT_SYMBOLS,
    Annotations,
    WfdbRecord,
    beat_annotations,
    read_annotations,
    read_wfdb,
)

RECORDS = [
    "ecg/mitdb/100", "ecg/mitdb/101", "ecg/mitdb/102", "ecg/mitdb/118", "ecg/mitdb/203",
    "ecg/mitdb/207", "ecg/mitdb/208", "ecg/mitdb_250hz/105", "ecg/nstdb/118e00",
    "ecg/nstdb/118e12", "ecg/nstdb/118e24", "ecg/svdb/800", "multimodal/03700181",
    "multimodal/a103l",
]
ANNOTATED = [r for r in RECORDS if r.startswith("ecg/")]


# ----------------------------------------------------------------------------------
# helpers: independent, obviously-correct encoders
# ----------------------------------------------------------------------------------


def _pack212(vals: list[int]) -> bytes:
    out = bytearray()
    for k in range(0, len(vals), 2):
        a = vals[k] & 0xFFF
        b = vals[k + 1] & 0xFFF if k + 1 < len(vals) else 0
        out += bytes([a & 0xFF, (a >> 8) | ((b >> 8) << 4), b & 0xFF])
    return bytes(out[:-1]) if len(vals) % 2 else bytes(out)


def _encode(fmt: str, flat: np.ndarray) -> bytes:
    v = [int(x) for x in flat]
    if fmt == "212":
        return _pack212(v)
    if fmt == "16":
        return np.asarray(v, "<i2").tobytes()
    if fmt == "61":
        return np.asarray(v, ">i2").tobytes()
    if fmt == "80":
        return bytes((x + 128) for x in v)
    if fmt == "160":
        return np.asarray([x + 32768 for x in v], "<u2").tobytes()
    if fmt == "24":
        return b"".join((x & 0xFFFFFF).to_bytes(3, "little") for x in v)
    if fmt == "32":
        return np.asarray(v, "<i4").tobytes()
    raise AssertionError(fmt)


def _checksum(x: np.ndarray) -> int:
    c = int(np.sum(x, dtype=np.int64)) % 65536
    return c - 65536 if c >= 32768 else c


BITS = {"80": 8, "16": 16, "61": 16, "160": 16, "212": 12, "24": 24, "32": 32}


def _write_record(d: Path, name: str, digital: np.ndarray, fmt: str, *, fs: str = "100",
                  gains=None, offset: int = 0, extra: str = "") -> Path:
    n, k = digital.shape
    gains = gains or ["200"] * k
    spec = fmt + (f"+{offset}" if offset else "")
    lines = [f"{name} {k} {fs} {n}"]
    for c in range(k):
        lines.append(f"{name}.dat {spec} {gains[c]} {BITS[fmt]} 0 {int(digital[0, c])} "
                     f"{_checksum(digital[:, c])} 0 sig{c}")
    (d / f"{name}.hea").write_text("\n".join(lines) + "\n" + extra)
    (d / f"{name}.dat").write_bytes(b"\xab" * offset + _encode(fmt, digital.reshape(-1)))
    return d / name


def _copy(data_dir: Path, rec: str, dst: Path, exts=("hea", "dat", "atr")) -> Path:
    src = data_dir / rec
    for e in exts:
        f = src.with_name(f"{src.name}.{e}")
        if f.exists():
            shutil.copy(f, dst / f.name)
            (dst / f.name).chmod(0o644)
    return dst / src.name


# ----------------------------------------------------------------------------------
# cross-checks against the wfdb package
# ----------------------------------------------------------------------------------


def test_record_list_is_complete(data_dir):
    found = sorted(str(p.relative_to(data_dir).with_suffix("")) for sub in ("ecg", "multimodal")
                   for p in (data_dir / sub).rglob("*.hea"))
    assert found == sorted(RECORDS), "update RECORDS: the shared data folder changed"


@pytest.mark.parametrize("rec", RECORDS)
def test_record_matches_wfdb(data_dir, rec):
    wfdb = pytest.importorskip("wfdb")
    path = data_dir / rec
    d = read_wfdb(path, physical=False)
    p = read_wfdb(path)
    wd = wfdb.rdrecord(str(path), physical=False)
    wp = wfdb.rdrecord(str(path))
    assert d.signals.shape == wd.d_signal.shape == (wd.sig_len, wd.n_sig)
    np.testing.assert_array_equal(d.signals, wd.d_signal)
    # same float operations in the same order: bit-identical, NaN where invalid
    np.testing.assert_array_equal(p.signals, wp.p_signal)
    assert p.signals.dtype == np.float64
    assert p.fs == float(wp.fs) and p.n_samples == wp.sig_len
    assert list(p.sig_names) == wp.sig_name
    assert list(p.units) == wp.units
    np.testing.assert_array_equal(p.gains, wp.adc_gain)
    np.testing.assert_array_equal(p.baselines, wp.baseline)
    assert list(p.comments) == wp.comments


def test_expanded_frames_match_wfdb(data_dir):
    wfdb = pytest.importorskip("wfdb")
    path = data_dir / "multimodal/03700181"
    we = wfdb.rdrecord(str(path), physical=False, smooth_frames=False)
    wpe = wfdb.rdrecord(str(path), smooth_frames=False)
    ecg = read_wfdb(path, channels=["MCL1"], physical=False, smooth_frames=False)
    assert ecg.fs == 500.0 and ecg.n_samples == 4 * 75000
    np.testing.assert_array_equal(ecg.channel(0), we.e_d_signal[0])
    np.testing.assert_array_equal(read_wfdb(path, channels=[0], smooth_frames=False).channel(0),
                                  wpe.e_p_signal[0])
    rest = read_wfdb(path, channels=[1, 2], physical=False, smooth_frames=False)
    assert rest.fs == 125.0
    np.testing.assert_array_equal(rest.channel("RESP"), we.e_d_signal[2])


@pytest.mark.parametrize("rec", ANNOTATED)
def test_annotations_match_wfdb(data_dir, rec):
    wfdb = pytest.importorskip("wfdb")
    a = read_annotations(data_dir / rec)
    w = wfdb.rdann(str(data_dir / rec), "atr")
    np.testing.assert_array_equal(a.sample, w.sample)
    assert a.sample.dtype == np.int64
    assert a.symbol.tolist() == w.symbol
    np.testing.assert_array_equal(a.subtype, w.subtype)
    np.testing.assert_array_equal(a.chan, w.chan)
    np.testing.assert_array_equal(a.num, w.num)
    assert a.aux_note.tolist() == [s.rstrip("\x00") for s in w.aux_note]
    assert a.fs == float(w.fs)


def test_wfdb_written_formats_roundtrip(tmp_path):
    wfdb = pytest.importorskip("wfdb")
    rng = np.random.default_rng(0)
    for fmt, hi in [("80", 127), ("16", 32767), ("212", 2047), ("24", 2**23 - 1),
                    ("32", 2**31 - 1)]:
        d = rng.integers(-hi, hi, size=(1001, 3))
        d[5, 1] = -hi - 1  # the invalid-sample code of the format
        wfdb.wrsamp(f"r{fmt}", fs=100, units=["mV", "mmHg", "NU"], sig_name=["a", "b", "c"],
                    d_signal=d, fmt=[fmt] * 3, adc_gain=[100.0, 50.0, 3.5],
                    baseline=[0, 10, -3], write_dir=str(tmp_path))
        path = tmp_path / f"r{fmt}"
        np.testing.assert_array_equal(read_wfdb(path, physical=False).signals,
                                      wfdb.rdrecord(str(path), physical=False).d_signal)
        p = read_wfdb(path).signals
        np.testing.assert_array_equal(p, wfdb.rdrecord(str(path)).p_signal)
        assert np.isnan(p[5, 1]) and np.isfinite(np.delete(p.ravel(), 5 * 3 + 1)).all()


def test_wfdb_written_annotations(tmp_path):
    wfdb = pytest.importorskip("wfdb")
    sample = np.array([3, 700, 5000, 5000, 90_000, 2_000_000])  # gaps > 1023 need SKIP
    symbol = ["N", "V", "+", "~", "[", "]"]
    wfdb.wrann("x", "tst", sample, symbol=symbol, subtype=np.array([0, -1, 0, 3, 0, 0]),
               chan=np.array([0, 0, 1, 1, 2, 0]), num=np.array([0, 5, 5, 0, 0, 1]),
               aux_note=["", "", "(AFIB", "", "", "x" * 41], fs=250, write_dir=str(tmp_path))
    w = wfdb.rdann(str(tmp_path / "x"), "tst")
    a = read_annotations(tmp_path / "x", "tst")
    np.testing.assert_array_equal(a.sample, w.sample)
    assert a.symbol.tolist() == w.symbol == symbol
    np.testing.assert_array_equal(a.subtype, w.subtype)
    np.testing.assert_array_equal(a.chan, w.chan)
    np.testing.assert_array_equal(a.num, w.num)
    assert a.aux_note.tolist() == w.aux_note
    assert a.fs == 250.0 == w.fs


# ----------------------------------------------------------------------------------
# no wfdb needed: formats, layout, header parsing
# ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", sorted(BITS))
@pytest.mark.parametrize("n", [1, 2, 7, 1000])
def test_hand_encoded_formats(tmp_path, fmt, n):
    rng = np.random.default_rng(n)
    lo = -(2 ** (BITS[fmt] - 1))
    d = rng.integers(lo + 1, -lo, size=(n, 3))
    d[-1, 2] = lo  # invalid sample
    d[0, 0] = -lo - 1  # extreme valid values
    if n > 1:
        d[1, 0] = lo + 1
    path = _write_record(tmp_path, "r", d, fmt, gains=["200", "7.5(-3)/mmHg", "0"], offset=0)
    rec = read_wfdb(path, physical=False)
    assert rec.signals.dtype == (np.int32 if BITS[fmt] > 16 else np.int16)
    np.testing.assert_array_equal(rec.signals, d)
    phys = read_wfdb(path)
    expect = (d - np.array([0, -3, 0])) / np.array([200.0, 7.5, 200.0])  # gain 0 -> 200
    expect[-1, 2] = np.nan
    np.testing.assert_array_equal(phys.signals, expect)
    assert phys.units == ("mV", "mmHg", "mV")
    np.testing.assert_array_equal(phys.baselines, [0, -3, 0])


def test_byte_offset_and_mat_like_file(tmp_path):
    d = np.arange(-30, 30).reshape(20, 3) * 1000
    path = _write_record(tmp_path, "m", d, "16", offset=24)
    np.testing.assert_array_equal(read_wfdb(path, physical=False).signals, d)
    mm = read_wfdb(path, physical=False, mmap=True)
    assert isinstance(mm.signals, np.memmap) and not mm.signals.flags.writeable
    np.testing.assert_array_equal(mm.signals, d)
    np.testing.assert_array_equal(read_wfdb(path, physical=False, mmap=True,
                                            channels=[1, 2]).signals, d[:, 1:])
    np.testing.assert_array_equal(read_wfdb(path, physical=False, mmap=True,
                                            channels=["sig2", 0]).signals, d[:, [2, 0]])


def test_real_mat_record_mmap(data_dir):
    path = data_dir / "multimodal/a103l"
    plain = read_wfdb(path, physical=False)
    mm = read_wfdb(path, physical=False, mmap=True)
    assert isinstance(mm.signals, np.memmap)
    np.testing.assert_array_equal(mm.signals, plain.signals)
    assert plain.formats == ("16",) * 3 and plain.sig_names == ("II", "V", "PLETH")
    assert plain.units == ("mV", "mV", "NU")
    np.testing.assert_array_equal(plain.gains, [7247.0, 10520.0, 12530.0])
    # the first frame equals the header's initial values
    np.testing.assert_array_equal(plain.signals[0], [-171, 9127, 6042])
    np.testing.assert_array_equal(read_wfdb(path, mmap=True).signals, read_wfdb(path).signals)


def test_skew_and_samples_per_frame(tmp_path):
    n = 6
    a = np.arange(4 * n).reshape(n, 4) - 7  # signal 0: 4 samples per frame
    b = np.arange(n) * 10  # signal 1: skew 2
    frames = np.column_stack([a, b])
    lines = [f"s 2 100 {n}",
             f"s.dat 16x4 200 16 0 {a[0, 0]} {_checksum(a)} 0 fast",
             f"s.dat 16:2 200 16 0 {b[0]} {_checksum(b)} 0 slow"]
    (tmp_path / "s.hea").write_text("\n".join(lines) + "\n")
    (tmp_path / "s.dat").write_bytes(_encode("16", frames.reshape(-1)))
    rec = read_wfdb(tmp_path / "s", physical=False)
    tot = a.sum(axis=1)
    np.testing.assert_array_equal(rec.channel("fast"), np.sign(tot) * (np.abs(tot) // 4))
    np.testing.assert_array_equal(rec.channel("slow"), [20, 30, 40, 50, -32768, -32768])
    assert np.isnan(read_wfdb(tmp_path / "s").channel(1)[-2:]).all()
    fast = read_wfdb(tmp_path / "s", physical=False, smooth_frames=False, channels=["fast"])
    assert fast.fs == 400.0
    np.testing.assert_array_equal(fast.channel(0), a.ravel())
    with pytest.raises(ValueError, match="equal samples per frame"):
        read_wfdb(tmp_path / "s", smooth_frames=False)


def test_header_oddities(tmp_path):
    d = np.array([[1, -1], [2, -2], [3, -3]])
    (tmp_path / "h.dat").write_bytes(_encode("212", d.reshape(-1)))
    hea = ("# leading comment\r\n"
           "h 2 250/360(7) 3 12:00:00 01/02/2003\r\n"
           "\r\n"
           f"h.dat 212 0(5)/uV 12 1 1 {_checksum(d[:, 0])} 0 lead one \r\n"
           f"h.dat 212 100 12 1 1 {_checksum(d[:, 1])}\r\n"
           "#trailing\r\n")
    (tmp_path / "h.hea").write_text(hea, newline="")
    rec = read_wfdb(str(tmp_path / "h.hea"))
    assert rec.fs == 250.0 and rec.counter_freq == 360.0
    assert rec.sig_names == ("lead one", "")
    assert rec.units == ("uV", "mV")
    np.testing.assert_array_equal(rec.gains, [200.0, 100.0])
    np.testing.assert_array_equal(rec.baselines, [5, 1])  # explicit, then ADC zero
    assert rec.comments == ("leading comment", "trailing")
    assert rec.base_time == "12:00:00" and rec.base_date == "01/02/2003"
    np.testing.assert_array_equal(rec.signals, (d - [5, 1]) / [200.0, 100.0])


def test_header_without_fs(tmp_path):
    d = np.arange(10).reshape(5, 2)
    (tmp_path / "nofs.dat").write_bytes(_encode("16", d.reshape(-1)))
    (tmp_path / "nofs.hea").write_text("nofs 2\nnofs.dat 16\nnofs.dat 16\n")
    with pytest.raises(ValueError, match=r"lacks a sampling rate.*fs="):
        read_wfdb(tmp_path / "nofs")
    rec = read_wfdb(tmp_path / "nofs", fs=360, physical=False)
    assert rec.fs == 360.0 and rec.n_samples == 5  # length taken from the file size
    np.testing.assert_array_equal(rec.signals, d)
    good = _write_record(tmp_path, "g", d, "16", fs="100")
    with pytest.raises(ValueError, match=r"header .* says 100 Hz"):
        read_wfdb(good, fs=360)
    assert read_wfdb(good, fs=100.0).fs == 100.0


def test_header_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothere\.hea"):
        read_wfdb(tmp_path / "nothere")
    d = np.zeros((4, 1), int)
    path = _write_record(tmp_path, "r", d, "16")
    (tmp_path / "r.dat").unlink()
    with pytest.raises(FileNotFoundError, match=r"r\.dat"):
        read_wfdb(path)
    (tmp_path / "bad.hea").write_text("bad 2 100 4\nbad.dat 16 200 16 0 0 0 0 x\n")
    with pytest.raises(ValueError, match="declares 2 signal"):
        read_wfdb(tmp_path / "bad")
    (tmp_path / "f8.hea").write_text("f8 1 100 4\nf8.dat 8 200 12 0 0 0 0 x\n")
    with pytest.raises(ValueError, match="format 8 is not supported"):
        read_wfdb(tmp_path / "f8")
    (tmp_path / "ms.hea").write_text("ms/2 1 100 4\nseg1 2\nseg2 2\n")
    with pytest.raises(ValueError, match="multi-segment"):
        read_wfdb(tmp_path / "ms")
    (tmp_path / "g.hea").write_text("g 1 100 4\ng.dat 16 2x00 16 0 0 0 0 x\n")
    with pytest.raises(ValueError, match="gain field"):
        read_wfdb(tmp_path / "g")


def test_channels_and_names(data_dir):
    rec = read_wfdb(data_dir / "ecg/mitdb/100", channels=["V5"], physical=False)
    full = read_wfdb(data_dir / "ecg/mitdb/100", physical=False)
    assert isinstance(rec, WfdbRecord) and rec.sig_names == ("V5",)
    np.testing.assert_array_equal(rec.channel(0), full.channel("V5"))
    np.testing.assert_array_equal(rec.signals[:, 0], full.signals[:, 1])
    assert not full.signals.flags.writeable
    with pytest.raises(ValueError, match="no signal named 'II'"):
        full.channel("II")
    with pytest.raises(ValueError, match="out of range"):
        read_wfdb(data_dir / "ecg/mitdb/100", channels=[2])
    svdb = read_wfdb(data_dir / "ecg/svdb/800")
    assert svdb.sig_names == ("ECG", "ECG")
    with pytest.raises(ValueError, match="ambiguous"):
        svdb.channel("ECG")


# ----------------------------------------------------------------------------------
# no wfdb needed: integrity
# ----------------------------------------------------------------------------------


def test_checksum_mismatch_on_corrupted_copy(data_dir, tmp_path):
    path = _copy(data_dir, "ecg/mitdb/100", tmp_path)
    dat = tmp_path / "100.dat"
    raw = bytearray(dat.read_bytes())
    raw[300_000] ^= 0x01  # low bit of one channel-0 sample (3-byte block start)
    dat.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"100\.dat.*signal 0 \(MLII\).*corrupt or truncated"):
        read_wfdb(path)
    # the other channel alone is intact; disabling the check reads the damaged data
    read_wfdb(path, channels=["V5"])
    assert read_wfdb(path, verify_checksums=False).n_samples == 650_000


def test_checksum_mismatch_synthetic(tmp_path):
    d = np.arange(40).reshape(20, 2)
    path = _write_record(tmp_path, "c", d, "212")
    hea = (tmp_path / "c.hea").read_text().splitlines()
    tok = hea[2].split()
    tok[6] = str(int(tok[6]) + 1)
    hea[2] = " ".join(tok)
    (tmp_path / "c.hea").write_text("\n".join(hea) + "\n")
    with pytest.raises(ValueError, match=r"c\.dat: checksum mismatch for signal 1 \(sig1\)"):
        read_wfdb(path)


def test_truncated_dat(data_dir, tmp_path):
    path = _copy(data_dir, "ecg/mitdb/101", tmp_path)
    dat = tmp_path / "101.dat"
    dat.write_bytes(dat.read_bytes()[:1_000_000])
    with pytest.raises(ValueError, match=r"101\.dat.*truncated.*1950000 bytes.*has 1000000 bytes"):
        read_wfdb(path)
    with pytest.raises(ValueError, match="truncated"):  # even with checksums off
        read_wfdb(path, verify_checksums=False, mmap=True)


# ----------------------------------------------------------------------------------
# no wfdb needed: annotations
# ----------------------------------------------------------------------------------


def _w(code: int, data: int = 0) -> int:
    return (code << 10) | data


def _aux(text: bytes) -> list[int]:
    padded = text + b"\x00" * (len(text) % 2)
    return [_w(63, len(text)), *np.frombuffer(padded, "<u2").tolist()]


def test_hand_built_annotation_stream(tmp_path):
    words = [
        _w(22, 0), *_aux(b"## time resolution: 250"),  # definition note, consumed
        _w(1, 100), _w(61, 0xFF), _w(62, 2), _w(60, 5),  # N, subtype -1, chan 2, num 5
        _w(5, 50),  # V: chan and num carry over, subtype resets
        _w(59, 0), 0x0001, 0x86A0, _w(28, 3), *_aux(b"(AFIB\x00"),  # SKIP 100000 then +
        _w(0, 5), _w(1, 5), *_aux(b"ab\x00\x00\x00\xec"),  # code 0 advances time only
        _w(62, 0), _w(2, 1),
        0,  # end of file
        _w(5, 1),  # garbage after EOF is ignored
    ]
    (tmp_path / "h.qrs").write_bytes(np.asarray(words, "<u2").tobytes())
    a = read_annotations(tmp_path / "h", "qrs")
    assert isinstance(a, Annotations) and len(a) == 5
    np.testing.assert_array_equal(a.sample, [100, 150, 100_153, 100_163, 100_164])
    assert a.symbol.tolist() == ["N", "V", "+", "N", "L"]
    np.testing.assert_array_equal(a.subtype, [-1, 0, 0, 0, 0])
    np.testing.assert_array_equal(a.chan, [2, 2, 2, 0, 0])
    np.testing.assert_array_equal(a.num, [5, 5, 5, 5, 5])
    assert a.aux_note.tolist() == ["", "", "(AFIB", "ab\x00\x00\x00\xec", ""]
    np.testing.assert_array_equal(a.code, [1, 5, 28, 1, 2])
    assert a.fs == 250.0
    assert not a.sample.flags.writeable


def test_annotation_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.atr"):
        read_annotations(tmp_path / "nope")
    (tmp_path / "t.atr").write_bytes(np.asarray([_w(1, 10), _w(1, 10)], "<u2").tobytes())
    with pytest.raises(ValueError, match="end-of-file marker"):
        read_annotations(tmp_path / "t")
    (tmp_path / "m.atr").write_bytes(np.asarray([_w(62, 1), _w(1, 1), 0], "<u2").tobytes())
    with pytest.raises(ValueError, match="precedes the first annotation"):
        read_annotations(tmp_path / "m.atr")  # the extension may be given


def test_annotation_fs_from_header_or_none(data_dir, tmp_path):
    words = np.asarray([_w(1, 10), 0], "<u2").tobytes()
    (tmp_path / "a.atr").write_bytes(words)
    assert read_annotations(tmp_path / "a").fs is None
    (tmp_path / "a.hea").write_text("a 0 128\n")
    assert read_annotations(tmp_path / "a.hea").fs == 128.0


# ----------------------------------------------------------------------------------
# no wfdb needed: reference beats and published counts
# ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("rec", "n_beats"), [
    ("ecg/mitdb/100", 2273), ("ecg/mitdb/101", 1865), ("ecg/mitdb/102", 2187),
    ("ecg/mitdb/118", 2278), ("ecg/mitdb/203", 2980), ("ecg/mitdb/207", 1860),
    ("ecg/mitdb/208", 2955), ("ecg/mitdb_250hz/105", 2572), ("ecg/nstdb/118e00", 2278),
    ("ecg/svdb/800", 1883),
])
def test_published_beat_counts(data_dir, rec, n_beats):
    ann = read_annotations(data_dir / rec)
    beats, _ = beat_annotations(ann)
    assert beats.size == n_beats and beats.dtype == np.int64
    assert np.all(np.diff(beats) > 0)
    all_beats, none = beat_annotations(ann, exclude_flutter=False)
    assert all_beats.size == n_beats and none.shape == (0, 2)


def test_symbol_breakdown_100(data_dir):
    ann = read_annotations(data_dir / "ecg/mitdb/100")
    sym, cnt = np.unique(ann.symbol, return_counts=True)
    assert dict(zip(sym.tolist(), cnt.tolist(), strict=True)) == {"N": 2239, "A": 33, "V": 1,
                                                                  "+": 1}


def test_flutter_episodes_207(data_dir):
    ann = read_annotations(data_dir / "ecg/mitdb/207")
    beats, vf = beat_annotations(ann)
    assert vf.shape == (6, 2) and vf.dtype == np.int64
    assert vf[0].tolist() == [14665, 18351] and vf[-1].tolist() == [554682, 589927]
    assert np.all(vf[:, 0] < vf[:, 1]) and np.all(vf[1:, 0] >= vf[:-1, 1])
    flutter = ann.sample[ann.symbol == "!"]
    assert flutter.size == 472
    inside = ((flutter[:, None] >= vf[:, 0]) & (flutter[:, None] < vf[:, 1])).any(axis=1)
    assert inside.all()  # every flutter wave lies in an episode
    assert beats.size == 1860  # 207 has no beat annotation inside its episodes


def _ann(samples, symbols) -> Annotations:
    n = len(samples)
    z = np.zeros(n, np.int64)
    return Annotations(sample=np.asarray(samples, np.int64), symbol=np.asarray(symbols),
                       subtype=z, chan=z, num=z, aux_note=np.full(n, ""), fs=360.0)


def test_beat_annotations_bracket_rules():
    ann = _ann([5, 10, 20, 30, 40, 50, 60, 70, 80, 90],
               ["N", "]", "N", "[", "V", "[", "!", "]", "N", "["])
    beats, vf = beat_annotations(ann)
    # leading "]" -> episode from 0; nested "[" ignored; open "[" runs to the end
    assert vf.tolist() == [[0, 11], [30, 71], [90, np.iinfo(np.int64).max]]
    assert beats.tolist() == [20, 80]
    assert beat_annotations(ann, exclude_flutter=False)[0].tolist() == [5, 20, 40, 80]
    assert set("NLRBAaJSVrFejnE/fQ?") == BEAT_SYMBOLS
