"""Contract tests for plugin authors: check a driver, reader, writer or metric.

Each ``check_*`` function raises :class:`AssertionError` with a message that
says what is wrong and how to fix it, and returns None when the object keeps
somacore's contract. Use them in your plugin's test-suite directly::

    from somacore.testing import check_reader

    def test_my_reader(tmp_path):
        check_reader(MyReader(), write_sample(tmp_path))

or subclass the pytest-ready contract classes (:class:`ReaderContract`,
:class:`DriverContract`, :class:`MetricContract`) in a ``Test*`` class and
provide the object through a method::

    class TestPolarReplay(DriverContract):
        def make_driver(self):
            return PolarH10Driver.replay("tests/data/h10.bin")
"""

from __future__ import annotations

import asyncio
import math
import os
import queue
import shutil
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DriverContract",
    "MetricContract",
    "ReaderContract",
    "check_driver",
    "check_metric",
    "check_reader",
    "check_writer",
]


def _fail(what: str, msg: str) -> AssertionError:
    return AssertionError(f"{what}: {msg}")


def _check_named(obj: Any, what: str) -> str:
    name = getattr(obj, "name", None)
    if not isinstance(name, str) or not name:
        raise _fail(what, f"needs a non-empty str attribute 'name' (got {name!r})")
    return name


def _check_extensions(obj: Any, what: str) -> None:
    ext = getattr(obj, "extensions", None)
    if not isinstance(ext, tuple) or not all(
            isinstance(e, str) and e.startswith(".") and e == e.lower() for e in ext):
        raise _fail(what, f"'extensions' must be a tuple of lower-case suffixes with the dot, "
                    f"like ('.csv',); got {ext!r}")


def _check_recording(rec: Any, what: str) -> None:
    from somacore.signals import KINDS, Channel, Recording

    if not isinstance(rec, Recording):
        raise _fail(what, f"read() must return a somacore.signals.Recording, got "
                    f"{type(rec).__name__}")
    if len(rec.channels) == 0:
        raise _fail(what, "read() returned a Recording without channels; raise ValueError "
                    "instead when a file holds no usable signal")
    for c in rec.channels:
        if not isinstance(c, Channel):
            raise _fail(what, f"channel {c!r} is not a somacore.signals.Channel")
        if c.kind not in KINDS:
            raise _fail(what, f"channel {c.name!r} has unknown kind {c.kind!r}")
        if not isinstance(c.units, str) or not c.units:
            raise _fail(what, f"channel {c.name!r} needs a units string ('au' if unknown)")
        if c.data.dtype.kind not in "fiu":
            raise _fail(what, f"channel {c.name!r} data must be numeric, got {c.data.dtype}")
        if c.fs is None and c.times is None:
            raise _fail(what, f"irregular channel {c.name!r} needs times")


def _foreign_files(d: Path) -> list[Path]:
    """Files no real reader should accept."""
    rnd = d / "random.bin"
    rnd.write_bytes(np.random.default_rng(0).integers(0, 256, 2048, dtype=np.uint8).tobytes())
    txt = d / "notes.txt"
    txt.write_text("these are meeting notes,\nnot a signal\n")
    csv = d / "table.csv"
    csv.write_text("name,age\nada,36\n")
    empty = d / "empty.csv"
    empty.write_bytes(b"")
    sub = d / "folder"
    sub.mkdir()
    return [rnd, txt, csv, empty, sub, d / "does-not-exist.csv"]


def check_reader(reader: Any, sample_path: str | os.PathLike[str], *,
                 n_channels: int | None = None, kinds: set[str] | None = None) -> None:
    """Check a reader against the :class:`~somacore.plugins.types.Reader` contract.

    Parameters
    ----------
    reader
        The reader object.
    sample_path : path-like
        A small valid file (or record/folder) of the reader's format. Files in
        the same folder with the same stem (e.g. WFDB ``.hea``/``.dat``) are
        copied along for the truncation checks.
    n_channels, kinds : optional
        Expected number of channels and set of kinds in the sample.

    Checks: attributes; ``sniff`` is True on the sample and False (never
    raising) on foreign files, an empty file, a folder and a missing path;
    ``read`` returns a valid Recording and is deterministic; a missing file
    raises FileNotFoundError; empty and truncated copies either read or raise
    ``ValueError``/``OSError`` naming the file (never another exception type).
    """
    what = f"reader {getattr(reader, 'name', reader)!r}"
    _check_named(reader, what)
    _check_extensions(reader, what)
    for m in ("sniff", "read"):
        if not callable(getattr(reader, m, None)):
            raise _fail(what, f"needs a method {m}(path)")
    sample = Path(sample_path)
    ok = reader.sniff(sample)
    if not isinstance(ok, (bool, np.bool_)):
        raise _fail(what, f"sniff() must return a bool, got {type(ok).__name__}")
    if not ok:
        raise _fail(what, f"sniff({str(sample)!r}) returned False for its own sample file")
    rec = reader.read(sample)
    _check_recording(rec, what)
    if n_channels is not None and len(rec.channels) != n_channels:
        raise _fail(what, f"expected {n_channels} channels in the sample, got "
                    f"{len(rec.channels)} ({rec.names})")
    if kinds is not None and {c.kind for c in rec.channels} != set(kinds):
        raise _fail(what, f"expected kinds {sorted(kinds)}, got "
                    f"{sorted({c.kind for c in rec.channels})}")
    again = reader.read(sample)
    for a, b in zip(rec.channels, again.channels, strict=False):
        if not np.array_equal(a.data, b.data, equal_nan=True) or a.fs != b.fs:
            raise _fail(what, f"read() is not deterministic (channel {a.name!r} differs "
                        "between two reads)")
    with tempfile.TemporaryDirectory(prefix="somacore-check-") as tmp:
        d = Path(tmp)
        for f in _foreign_files(d):
            try:
                res = reader.sniff(f)
            except Exception as exc:
                raise _fail(what, f"sniff({f.name!r}) raised {type(exc).__name__}: {exc}; "
                            "sniff must return False for files it does not know") from exc
            if res:
                raise _fail(what, f"sniff() accepted a foreign file {f.name!r}; check the "
                            "content, not only the suffix")
        missing = d / ("missing" + (reader.extensions[0] if reader.extensions else ""))
        try:
            reader.read(missing)
        except FileNotFoundError:
            pass
        except Exception as exc:
            raise _fail(what, f"read() of a missing file raised {type(exc).__name__}, "
                        "expected FileNotFoundError") from exc
        else:
            raise _fail(what, "read() of a missing file returned instead of raising "
                        "FileNotFoundError")
        if sample.is_file():
            _check_damaged(reader, sample, d / "damaged", what)


def _check_damaged(reader: Any, sample: Path, d: Path, what: str) -> None:
    d.mkdir()
    siblings = [p for p in sample.parent.glob(sample.stem + ".*") if p.is_file()]
    targets = sorted({sample, *siblings}, key=lambda p: -p.stat().st_size)[:3]
    for target in targets:
        for keep in (0.5, 0.0):
            for p in siblings or [sample]:
                shutil.copy(p, d / p.name)
            shutil.copy(sample, d / sample.name)
            raw = target.read_bytes()
            (d / target.name).write_bytes(raw[: int(len(raw) * keep)])
            copy = d / sample.name
            try:
                rec = reader.read(copy)
            except (ValueError, OSError) as exc:
                names = {copy.name, target.name, copy.stem}
                if not any(n in str(exc) for n in names):
                    raise _fail(what, f"the error for a damaged file must name it; got "
                                f"{type(exc).__name__}: {exc}") from exc
                continue
            except Exception as exc:
                raise _fail(what, f"read() of {target.name!r} cut to {keep:.0%} raised "
                            f"{type(exc).__name__}: {exc}; raise ValueError naming the file "
                            "and the problem instead") from exc
            _check_recording(rec, what + f" (on {target.name} cut to {keep:.0%})")


def check_writer(writer: Any, recording: Any, *, reader: Any = None, rtol: float = 1e-5,
                 atol: float | dict[str, float] = 1e-8) -> None:
    """Check a writer: attributes, writes a file, replaces it, round trip with ``reader``.

    Parameters
    ----------
    writer, recording, reader
        The writer under test, a recording to write, and optionally a reader
        to read the file back.
    rtol, atol : float
        Round-trip tolerance as in ``numpy.allclose``. Formats that store
        quantised samples (EDF: 16-bit, BDF: 24-bit) pass their resolution as
        ``atol``: a float for every channel, or a dict from channel name to
        that channel's resolution.
    """
    what = f"writer {getattr(writer, 'name', writer)!r}"
    _check_named(writer, what)
    _check_extensions(writer, what)
    if not callable(getattr(writer, "write", None)):
        raise _fail(what, "needs a method write(recording, path)")
    with tempfile.TemporaryDirectory(prefix="somacore-check-") as tmp:
        path = Path(tmp) / ("out" + (writer.extensions[0] if writer.extensions else ""))
        writer.write(recording, path)
        if not path.is_file() or path.stat().st_size == 0:
            raise _fail(what, "write() did not create a non-empty file")
        writer.write(recording, path)  # replacing an existing file must work
        left = [p.name for p in Path(tmp).iterdir() if p != path]
        if left:
            raise _fail(what, f"write() left temporary files behind: {left}")
        if reader is not None:
            back = reader.read(path)
            _check_recording(back, f"{what} round trip")
            for a, b in zip(recording.channels, back.channels, strict=False):
                tol = atol.get(a.name, 1e-8) if isinstance(atol, dict) else atol
                if a.kind != b.kind or a.fs != b.fs or not np.allclose(
                        a.data, b.data, rtol=rtol, atol=tol, equal_nan=True):
                    raise _fail(what, f"round trip changed channel {a.name!r} beyond "
                                      f"rtol={rtol:g}, atol={tol:g}")


def _with_timeout(it: Any, timeout_s: float) -> Any:
    """Iterate ``it`` in a thread, raising AssertionError if a step takes too long."""
    q: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def pump() -> None:
        try:
            for x in it:
                while not stop.is_set():
                    try:
                        q.put(("item", x), timeout=0.05)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(("end", None))
        except BaseException as exc:
            q.put(("error", exc))

    threading.Thread(target=pump, daemon=True).start()
    try:
        while True:
            try:
                kind, x = q.get(timeout=timeout_s)
            except queue.Empty:
                raise TimeoutError(f"no chunk within {timeout_s:g} s") from None
            if kind == "end":
                return
            if kind == "error":
                raise x
            yield x
    finally:
        stop.set()


class _ChunkChecker:
    def __init__(self, what: str, infos: Mapping[str, Any]) -> None:
        self.what = what
        self.infos = infos
        self.last: dict[str, tuple[int, float]] = {}
        self.count = 0

    def __call__(self, ch: Any) -> None:
        from somacore.plugins.types import Chunk

        what = self.what
        if not isinstance(ch, Chunk):
            raise _fail(what, f"chunks() yielded {type(ch).__name__}, expected "
                        "somacore.plugins.types.Chunk")
        info = self.infos.get(ch.stream)
        if info is None:
            raise _fail(what, f"chunk names stream {ch.stream!r}, not declared by streams() "
                        f"({sorted(self.infos)})")
        x = ch.samples
        if not isinstance(x, np.ndarray) or x.dtype.kind not in "fiu":
            raise _fail(what, f"stream {ch.stream!r}: samples must be a numeric ndarray, got "
                        f"{type(x).__name__} {getattr(x, 'dtype', '')}")
        shape_ok = x.ndim == 1 if info.channels == 1 else (
            x.ndim == 2 and x.shape[1] == info.channels)
        if not shape_ok:
            raise _fail(what, f"stream {ch.stream!r}: samples of shape {x.shape}, expected "
                        f"{'(n,)' if info.channels == 1 else f'(n, {info.channels})'}")
        if ch.timestamps is None:
            if ch.t0 is None or not math.isfinite(ch.t0):
                raise _fail(what, f"stream {ch.stream!r}: chunk needs a finite t0 or "
                            "timestamps")
            if info.nominal_fs is None and x.shape[0] > 1:
                raise _fail(what, f"irregular stream {ch.stream!r}: chunks of several values "
                            "need per-value timestamps")
        else:
            ts = ch.timestamps
            if ts.shape != (x.shape[0],) or not np.isfinite(ts).all():
                raise _fail(what, f"stream {ch.stream!r}: timestamps must be finite, one per "
                            f"sample (shape {ts.shape} for {x.shape[0]} samples)")
            if ts.size > 1 and (np.diff(ts) < 0).any():
                raise _fail(what, f"stream {ch.stream!r}: timestamps go backwards in a chunk")
        if ch.fs is not None and info.nominal_fs is not None and not math.isclose(
                ch.fs, info.nominal_fs, rel_tol=1e-6):
            raise _fail(what, f"stream {ch.stream!r}: chunk fs {ch.fs} differs from "
                        f"nominal_fs {info.nominal_fs}")
        if not isinstance(ch.seq, (int, np.integer)) or isinstance(ch.seq, bool):
            raise _fail(what, f"stream {ch.stream!r}: seq must be an int, got {ch.seq!r}")
        prev = self.last.get(ch.stream)
        if prev is not None:
            if ch.seq <= prev[0]:
                raise _fail(what, f"stream {ch.stream!r}: seq must increase (+1 per chunk), "
                            f"got {prev[0]} then {ch.seq}")
            if ch.t0 is not None and ch.t0 < prev[1]:
                raise _fail(what, f"stream {ch.stream!r}: timestamps go backwards "
                            f"({prev[1]} then {ch.t0})")
        self.last[ch.stream] = (int(ch.seq), ch.t0 if ch.t0 is not None else -math.inf)
        self.count += 1


def check_driver(driver: Any, *, max_chunks: int = 200, timeout_s: float = 10.0,
                 check_async: bool = True) -> None:
    """Check a driver against the :class:`~somacore.plugins.types.Driver` contract.

    Parameters
    ----------
    driver
        A driver instance, or a zero-argument factory returning fresh instances
        (needed for ``check_async``: one instance is read with ``chunks()``,
        another with ``achunks()``). Use its replay twin in CI.
    max_chunks : int
        Chunks to read and check (fewer if the driver ends first).
    timeout_s : float
        Longest acceptable wait for one chunk; a longer wait fails as a stall.
    check_async : bool
        Also read ``achunks()`` (from a fresh instance if a factory was given).

    Checks: ``name``; ``streams()`` is a non-empty list of StreamInfo with unique
    names; every chunk is a Chunk of a declared stream with the right shape,
    numeric dtype, finite timestamps, increasing ``seq`` and non-decreasing
    time; no wait longer than ``timeout_s``; ``close()`` can be called twice.
    """
    from somacore.plugins.types import StreamInfo

    factory = driver if callable(driver) and not hasattr(driver, "chunks") else None
    drv = factory() if factory else driver
    what = f"driver {getattr(drv, 'name', drv)!r}"
    _check_named(drv, what)
    for m in ("streams", "chunks", "close"):
        if not callable(getattr(drv, m, None)):
            raise _fail(what, f"needs a method {m}()")
    infos = drv.streams()
    if not isinstance(infos, list) or not infos:
        raise _fail(what, "streams() must return a non-empty list of StreamInfo")
    for i in infos:
        if not isinstance(i, StreamInfo):
            raise _fail(what, f"streams() item {i!r} is not a StreamInfo")
    by_name = {i.name: i for i in infos}
    if len(by_name) != len(infos):
        raise _fail(what, f"stream names must be unique: {[i.name for i in infos]}")
    check = _ChunkChecker(what, by_name)
    try:
        for ch in _with_timeout(iter(drv.chunks()), timeout_s):
            check(ch)
            if check.count >= max_chunks:
                break
    except TimeoutError as exc:
        raise _fail(what, f"stalled: {exc} (after {check.count} chunks); a driver must "
                    "yield or end") from None
    finally:
        try:
            drv.close()
            drv.close()
        except Exception as exc:
            raise _fail(what, f"close() must be safe to call twice; raised "
                        f"{type(exc).__name__}: {exc}") from exc
    if check.count == 0:
        raise _fail(what, "chunks() yielded nothing; give check_driver a driver (or replay) "
                    "with data")
    if check_async and callable(getattr(drv, "achunks", None)):
        adrv = factory() if factory else None
        if adrv is not None:
            _check_async(adrv, what, by_name, max_chunks, timeout_s)


def _check_async(drv: Any, what: str, infos: Mapping[str, Any], max_chunks: int,
                 timeout_s: float) -> None:
    check = _ChunkChecker(what + " (achunks)", infos)

    async def main() -> None:
        it = drv.achunks().__aiter__()
        while check.count < max_chunks:
            try:
                ch = await asyncio.wait_for(it.__anext__(), timeout_s)
            except StopAsyncIteration:
                break
            except TimeoutError:
                raise _fail(what, f"achunks() stalled: no chunk within {timeout_s:g} s") \
                    from None
            check(ch)

    try:
        asyncio.run(main())
    finally:
        drv.close()
    if check.count == 0:
        raise _fail(what, "achunks() yielded nothing")


def _synthetic_window(inputs: tuple[str, ...], window_s: float, *, lost: bool = False,
                      seed: int = 0) -> Any:
    from somacore.plugins.types import StreamInfo, StreamWindow, Window

    rng = np.random.default_rng(seed)
    streams = {}
    rates = {"ecg": 250.0, "ppg": 64.0, "resp": 25.0, "eda": 4.0, "emg": 500.0, "acc": 32.0}
    units = {"ecg": "mV", "ppg": "au", "resp": "au", "eda": "uS", "emg": "mV", "acc": "g",
             "rr": "s"}
    for k, kind in enumerate(inputs):
        if kind == "rr":
            t = np.arange(0.5, window_s, 0.8)
            v = np.full(t.size, 0.8) + 0.02 * rng.standard_normal(t.size)
            info = StreamInfo(f"s{k}", "rr", "s", None)
            if lost:
                t, v = t[:0], v[:0]
            streams[info.name] = StreamWindow(info, v, t)
            continue
        fs = rates[kind]
        n = max(1, round(window_s * fs))
        t = np.arange(n) / fs
        ch = 3 if kind == "acc" else 1
        x = np.sin(2 * np.pi * 1.0 * t) + 0.05 * rng.standard_normal(n)
        if kind == "eda":
            x = 5.0 + 0.1 * x
        data = np.column_stack([x] * ch) if ch > 1 else x
        if lost:
            data = np.full_like(data, np.nan)
        info = StreamInfo(f"s{k}", kind, units[kind], fs, ch)
        beats = iv = None
        if kind in ("ecg", "ppg"):
            beats = np.arange(0.25, window_s, 0.8) if not lost else np.zeros(0)
            iv = np.full(beats.size, 0.8)
            if iv.size:
                iv[0] = np.nan
        data.flags.writeable = False
        streams[info.name] = StreamWindow(info, data, t, beats=beats, intervals=iv,
                                          missing=1.0 if lost else 0.0)
    return Window("contract", 0.0, window_s, streams)


def check_metric(metric: Any) -> None:
    """Check a metric against the :class:`~somacore.plugins.types.Metric` contract.

    Checks: ``name``, ``inputs`` (non-empty tuple of known kinds), ``window_s``
    (> 0), ``outputs`` (non-empty mapping of str to unit str), optional
    ``kernel`` callable; ``compute`` on a synthetic clean window and on a
    window whose signal is entirely lost returns a dict with exactly the
    ``outputs`` keys and float values (NaN allowed), is deterministic, and
    does not write into the window's (read-only) arrays.
    """
    from somacore.signals import KINDS

    what = f"metric {getattr(metric, 'name', metric)!r}"
    _check_named(metric, what)
    inputs = getattr(metric, "inputs", None)
    if not isinstance(inputs, tuple) or not inputs or not set(inputs) <= KINDS:
        raise _fail(what, f"'inputs' must be a non-empty tuple of kinds from {sorted(KINDS)}, "
                    f"got {inputs!r}")
    w = getattr(metric, "window_s", None)
    if isinstance(w, bool) or not isinstance(w, (int, float)) or not (math.isfinite(w) and w > 0):
        raise _fail(what, f"'window_s' must be a positive number of seconds, got {w!r}")
    outputs = getattr(metric, "outputs", None)
    if not isinstance(outputs, Mapping) or not outputs or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in outputs.items()):
        raise _fail(what, f"'outputs' must be a non-empty mapping of output name to unit "
                    f"string, e.g. {{'scl_uS': 'uS'}}; got {outputs!r}")
    kernel = getattr(metric, "kernel", None)
    if kernel is not None and not callable(kernel):
        raise _fail(what, f"'kernel' must be callable (made with somacore.numba.jit) or None, "
                    f"got {kernel!r}")
    if not callable(getattr(metric, "compute", None)):
        raise _fail(what, "needs a method compute(window) -> dict")
    for label, lost in (("a clean window", False), ("a window with all signal lost", True)):
        win = _synthetic_window(inputs, float(w), lost=lost)
        try:
            res = metric.compute(win)
        except ValueError as exc:
            if "read-only" in str(exc):
                raise _fail(what, "compute() writes into the window's arrays; copy them "
                            "first") from exc
            raise _fail(what, f"compute() on {label} raised ValueError: {exc}; return NaN "
                        "outputs instead") from exc
        except Exception as exc:
            raise _fail(what, f"compute() on {label} raised {type(exc).__name__}: {exc}; "
                        "return NaN outputs when the signal is insufficient") from exc
        if not isinstance(res, Mapping):
            raise _fail(what, f"compute() must return a dict, got {type(res).__name__}")
        if set(res) != set(outputs):
            raise _fail(what, f"compute() on {label} returned keys {sorted(res)}, but "
                        f"'outputs' declares {sorted(outputs)}")
        for k, v in res.items():
            try:
                float(v)
            except (TypeError, ValueError):
                raise _fail(what, f"output {k!r} = {v!r} is not a number") from None
        again = metric.compute(_synthetic_window(inputs, float(w), lost=lost))
        same = all(float(res[k]) == float(again[k]) or (
            math.isnan(float(res[k])) and math.isnan(float(again[k]))) for k in res)
        if not same:
            raise _fail(what, "compute() is not deterministic on identical windows")


class ReaderContract:
    """Mix into a pytest ``Test*`` class; define ``make_reader()`` and ``sample_path(tmp_path)``."""

    def make_reader(self) -> Any:  # pragma: no cover - to override
        raise NotImplementedError("define make_reader() returning your reader")

    def sample_path(self, tmp_path: Path) -> Path:  # pragma: no cover - to override
        raise NotImplementedError("define sample_path(tmp_path) returning a sample file")

    def test_reader_contract(self, tmp_path: Path) -> None:
        check_reader(self.make_reader(), self.sample_path(tmp_path))


class DriverContract:
    """Mix into a pytest ``Test*`` class; define ``make_driver()`` (a fresh driver per call)."""

    def make_driver(self) -> Any:  # pragma: no cover - to override
        raise NotImplementedError("define make_driver() returning a (replay) driver")

    def test_driver_contract(self) -> None:
        check_driver(self.make_driver)


class MetricContract:
    """Mix into a pytest ``Test*`` class; define ``make_metric()``."""

    def make_metric(self) -> Any:  # pragma: no cover - to override
        raise NotImplementedError("define make_metric() returning your metric")

    def test_metric_contract(self) -> None:
        check_metric(self.make_metric())


