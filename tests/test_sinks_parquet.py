"""ParquetSink: same rows as CsvSink, appended part by part, complete files after a crash."""

from __future__ import annotations

import csv
import math
import sys

import numpy as np
import pyarrow.parquet as pq  # in the test extra: a missing pyarrow fails, never skips
import pytest
from _records import DATA, ecg_record

from somacore.drivers import ReplayDriver
from somacore.plugins import PluginManager
from somacore.signals import Channel, Recording
from somacore.sinks import CsvSink, ParquetSink
from somacore.stream.session import Session, WindowResult


@pytest.fixture(scope="module")
def results() -> list[WindowResult]:
    """Real session results: MIT-BIH 100 ECG + MARSH 0005 impedance, 40 s, 2 people."""
    from scipy.io import loadmat

    ecg, fs, _, _ = ecg_record("mitdb", "100", 40.0)
    ip = loadmat(DATA / "resp" / "marsh" / "0005" / "IP.mat")["IP"].ravel()[: 40 * 250]
    rec = Recording((Channel(ecg.astype(np.float64), fs, "ecg", "adu", name="ecg"),
                     Channel(ip.astype(np.float64), 250.0, "resp", "au", name="ip")))
    s = Session(manager=PluginManager(env={}, entry_points=False).load(), step_s=2.0)
    s.add_driver("ada", ReplayDriver(rec, chunk_s=0.25))
    s.add_driver("bob", ReplayDriver(rec, chunk_s=0.4, time_offset=3.3))
    res = s.run()
    assert s.errors == []
    return res


def _csv_rows(path) -> list[tuple]:
    out = []
    for r in csv.DictReader(path.open()):
        out.append((r["person"], float(r["window_start_s"]), float(r["window_end_s"]),
                    r["metric"], r["output"], float(r["value"]), r["unit"]))
    return out


def _same(a: list[tuple], b: list[tuple]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x[:5] == y[:5] and x[6] == y[6]
        assert (math.isnan(x[5]) and math.isnan(y[5])) or x[5] == y[5], (x, y)


def test_same_rows_as_csv_in_several_parts(results, tmp_path):
    csv_sink = CsvSink(tmp_path / "m.csv", flush_interval_s=0.0)
    pq_sink = ParquetSink(tmp_path / "m", flush_interval_s=0.0, part_rows=25)
    for r in results:
        csv_sink(r)
        pq_sink(r)
    csv_sink.close()
    pq_sink.close()
    want = _csv_rows(tmp_path / "m.csv")
    n_nan = sum(math.isnan(r[5]) for r in want)
    assert len(want) > 150 and 0 < n_nan < len(want)  # breath_rate is NaN while learning
    got = [tuple(r.values()) for r in ParquetSink.read(tmp_path / "m").to_pylist()]
    _same(got, want)
    files = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert len(files) >= len(want) // 30 and all(f.startswith("part-") for f in files)
    # each part is a complete Parquet file with the declared types
    t = pq.read_table(tmp_path / "m" / files[0])
    assert 25 <= t.num_rows < 25 + 20 and str(t.schema.field("value").type) == "double"
    assert pq.read_table(tmp_path / "m").num_rows == len(want)  # plain pyarrow agrees


def test_session_writes_parquet_like_csv(tmp_path):
    ecg, fs, _, _ = ecg_record("mitdb", "100", 20.0)
    rec = Recording((Channel(ecg.astype(np.float64), fs, "ecg", "adu", name="ecg"),))
    s = Session(manager=PluginManager(env={}, entry_points=False).load(), step_s=1.0,
                sinks=[CsvSink(tmp_path / "a.csv"), ParquetSink(tmp_path / "a")])
    s.add_driver("ada", ReplayDriver(rec))
    res = s.run()
    got = [tuple(r.values()) for r in ParquetSink.read(tmp_path / "a").to_pylist()]
    _same(got, _csv_rows(tmp_path / "a.csv"))
    assert len(got) == 2 * len(res)


def test_crash_leaves_every_flushed_row_in_complete_files(results, tmp_path):
    sink = ParquetSink(tmp_path / "c", flush_interval_s=0.0, part_rows=40)
    for r in results[:15]:
        sink(r)
    # crash: no close(); what a fresh process finds on disk
    got = ParquetSink.read(tmp_path / "c").to_pylist()
    want = [row for r in results[:15] for row in r.rows()]
    _same([tuple(r.values()) for r in got], want)
    # a slow flush interval loses at most the rows since the last write
    slow = ParquetSink(tmp_path / "s", flush_interval_s=3600.0)
    for r in results[:5]:
        slow(r)
    assert ParquetSink.read(tmp_path / "s").num_rows == len(results[0].rows())
    slow.close()
    assert ParquetSink.read(tmp_path / "s").num_rows == sum(len(r.rows()) for r in results[:5])


def test_failed_write_keeps_old_part_and_is_retried_once(results, tmp_path, monkeypatch):
    sink = ParquetSink(tmp_path / "f", flush_interval_s=0.0)
    sink(results[0])
    before = (tmp_path / "f" / "part-000000.parquet").read_bytes()
    real = pq.write_table

    def half_then_fail(table, where, **kw):
        where.write(b"PAR1 half a file")
        raise OSError("No space left on device")

    monkeypatch.setattr(pq, "write_table", half_then_fail)
    with pytest.raises(OSError, match="No space"):
        sink(results[1])
    assert (tmp_path / "f" / "part-000000.parquet").read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "f").iterdir()) == ["part-000000.parquet"]
    assert sink.rows_written == len(results[0].rows())  # not accepted: offered again
    monkeypatch.setattr(pq, "write_table", real)
    sink(results[1])  # the session's retry
    got = [tuple(r.values()) for r in ParquetSink.read(tmp_path / "f").to_pylist()]
    _same(got, [row for r in results[:2] for row in r.rows()])


def test_new_sink_appends_after_existing_parts(results, tmp_path):
    a = ParquetSink(tmp_path / "d", flush_interval_s=0.0, part_rows=10)
    for r in results[:6]:
        a(r)
    a.close()
    n_parts = len(list((tmp_path / "d").iterdir()))
    b = ParquetSink(tmp_path / "d", flush_interval_s=0.0)
    for r in results[6:9]:
        b(r)
    b.close()
    assert len(list((tmp_path / "d").iterdir())) == n_parts + 1
    got = [tuple(r.values()) for r in ParquetSink.read(tmp_path / "d").to_pylist()]
    _same(got, [row for r in results[:9] for row in r.rows()])


def test_empty_session_and_bad_input(tmp_path, monkeypatch):
    sink = ParquetSink(tmp_path / "e")
    sink.close()
    assert ParquetSink.read(tmp_path / "e").num_rows == 0  # like CsvSink's header-only file
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="folder of part files"):
        ParquetSink(tmp_path / "file")
    with pytest.raises(ValueError, match="part_rows"):
        ParquetSink(tmp_path / "g", part_rows=0)
    with pytest.raises(FileNotFoundError, match=r"no part-NNNNNN\.parquet"):
        ParquetSink.read(tmp_path)
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(ImportError, match="pip install pyarrow"):
        ParquetSink(tmp_path / "h")
