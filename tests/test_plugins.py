"""Plugin manager: loading, env vars, error isolation, registries, tracing, contract helpers."""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from somacore.plugins import (
    PluginManager,
    PluginWarning,
    format_plugins_table,
    hookimpl,
    print_plugins,
)
from somacore.plugins.builtin import RateMetric
from somacore.signals import Channel, Recording
from somacore.testing import check_driver, check_metric, check_reader

GOOD = '''
from somacore.plugins import hookimpl

class TxtReader:
    name = "toytxt"
    extensions = (".toy",)
    def sniff(self, path):
        return str(path).endswith(".toy")
    def read(self, path):
        import numpy as np
        from somacore.signals import Channel, Recording
        x = np.loadtxt(path, ndmin=1)
        return Recording((Channel(x, 10.0, "resp", "au", name="toy"),), source=str(path))

class Mean:
    name = "toymean"
    inputs = ("resp",)
    window_s = 5.0
    outputs = {"mean_au": "au"}
    def compute(self, window):
        import numpy as np
        return {"mean_au": float(np.nanmean(window.kind("resp").data))}

@hookimpl
def somacore_register_readers(register):
    register(TxtReader())

@hookimpl
def somacore_register_metrics(register):
    register(Mean())

@hookimpl
def somacore_register_commands(cli):
    p = cli.add_parser("toy", help="toy command")
    p.set_defaults(func=lambda args: 7)
'''
BROKEN = "import not_a_module_somacore_xyz\n"
RAISES = '''
from somacore.plugins import hookimpl

class R:
    name = "early"
    extensions = (".x",)
    def sniff(self, path): return False
    def read(self, path): raise ValueError(path)

@hookimpl
def somacore_register_readers(register):
    register(R())
    raise RuntimeError("boom in readers")

@hookimpl
def somacore_register_metrics(register):
    register(object())                       # no name: refused
    class Dup:
        name = "hr"; inputs = ("ecg",); window_s = 1.0; outputs = {"x": "u"}
        def compute(self, w): return {"x": 0.0}
    register(Dup())                          # name taken by the built-in: refused

@hookimpl
def somacore_register_writer(register):       # typo: unknown hook
    pass

@hookimpl(tryfirst=True)
def somacore_open_reader(path):
    raise OSError("open_reader exploded")
'''


@pytest.fixture
def fake_plugins(tmp_path, monkeypatch):
    """Install three entry-point plugins (good, broken on import, raising in hooks)."""
    (tmp_path / "toyplug_good.py").write_text(GOOD)
    (tmp_path / "toyplug_broken.py").write_text(BROKEN)
    (tmp_path / "toyplug_raises.py").write_text(RAISES)
    dist = tmp_path / "toyplugs-1.2.3.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toyplugs\nVersion: 1.2.3\n")
    (dist / "entry_points.txt").write_text(
        "[somacore]\ngood = toyplug_good\nbroken = toyplug_broken\nraises = toyplug_raises\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for m in ("toyplug_good", "toyplug_broken", "toyplug_raises"):
        sys.modules.pop(m, None)


def _mgr(env=None, **kw):
    return PluginManager(env=env or {}, **kw).load()


def test_import_somacore_loads_no_plugin():
    code = ("import sys, somacore; "
            "bad = [m for m in ('pluggy', 'somacore.plugins', 'numba', 'somacore.readers') "
            "if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_construction_is_lazy():
    m = PluginManager(env={})
    assert m.pm.get_plugins() == set()
    assert "csv" in m.readers  # first access loads
    assert m.plugin_names() == ["builtin"] or "builtin" in m.plugin_names()


def test_builtins_registered_through_hooks():
    m = _mgr(entry_points=False)
    assert set(m.readers) == {"csv", "wfdb", "e4", "opensignals", "raw"}
    assert set(m.writers) == {"csv"}
    assert set(m.drivers) == {"replay"}
    assert set(m.metrics) == {"hr", "pulse_rate", "breath_rate"}
    assert m.owner("readers", "wfdb") == "builtin"
    info = m.list_plugins()
    assert [(i.name, i.distribution, i.source) for i in info] == [
        ("builtin", "somacore", "builtin")]
    assert "somacore_register_readers" in info[0].hooks
    assert m.errors == []


def test_entry_points_good_broken_raising(fake_plugins):
    with pytest.warns(PluginWarning) as rec:
        m = _mgr()
        readers, metrics = m.readers, m.metrics
    assert "toytxt" in readers and "toymean" in metrics
    assert "early" not in readers  # registered before raising: discarded
    assert metrics["hr"].__class__ is RateMetric  # built-in kept its name
    errs = {(e.plugin, e.stage) for e in m.errors}
    assert ("broken", "import") in errs
    assert ("raises", "somacore_register_readers") in errs
    assert ("raises", "somacore_register_writer") in errs  # the typo'd hook
    assert ("raises", "somacore_register_metrics") in errs
    msgs = " | ".join(str(e) for e in m.errors)
    assert "not_a_module_somacore_xyz" in msgs and "boom in readers" in msgs
    assert "already registered by plugin 'builtin'" in msgs
    assert "no non-empty string attribute 'name'" in msgs
    assert any("broken" in str(w.message) for w in rec)
    by_name = {i.name: i for i in m.list_plugins()}
    assert by_name["good"].distribution == "toyplugs" and by_name["good"].version == "1.2.3"
    assert "broken" not in by_name


def test_allow_and_block_lists(fake_plugins):
    m = _mgr({"SOMACORE_PLUGINS": "good"})
    assert m.plugin_names() == ["builtin", "good"] and m.errors == []
    m = _mgr({"SOMACORE_PLUGINS": ""})
    assert m.plugin_names() == ["builtin"]
    m = _mgr({"SOMACORE_DISABLE_PLUGINS": "broken, raises"})
    # other installed plugins (the first-party ones in CI) may load too
    names = set(m.plugin_names())
    assert {"builtin", "good"} <= names and not names & {"broken", "raises"}
    assert m.errors == []
    with pytest.warns(PluginWarning, match="not installed"):
        m = _mgr({"SOMACORE_PLUGINS": "good,nosuchplugin", "SOMACORE_DISABLE_PLUGINS": "zzz"})
    assert {(e.plugin, e.stage) for e in m.errors} == {("nosuchplugin", "config"),
                                                       ("zzz", "config")}
    assert "good" in m.plugin_names()


def test_trace_hooks(fake_plugins, capsys):
    m = _mgr({"SOMACORE_PLUGINS": "good", "SOMACORE_TRACE_HOOKS": "1"})
    m.readers  # noqa: B018 - triggers the registration hooks
    err = capsys.readouterr().err
    assert "somacore_register_readers" in err and "finish" in err
    m2 = _mgr({"SOMACORE_PLUGINS": ""})
    m2.readers  # noqa: B018
    assert "somacore_register_readers" not in capsys.readouterr().err


def test_open_reader_order_and_isolation(fake_plugins, tmp_path):
    with pytest.warns(PluginWarning):
        m = _mgr({"SOMACORE_PLUGINS": "good,raises"})
        p = tmp_path / "a.toy"
        p.write_text("1\n2\n3\n")
        r = m.open_reader(p)  # 'raises' open_reader hook fails; lookup goes on
    assert r.name == "toytxt"
    assert any(e.stage == "somacore_open_reader" and "exploded" in e.message for e in m.errors)
    rec = m.read(p)
    assert rec[0].kind == "resp" and len(rec[0]) == 3
    csv = tmp_path / "x.csv"
    csv.write_text("# fs=10\necg_mV\n1\n2\n")
    assert m.open_reader(csv).name == "csv"
    odd = tmp_path / "mystery.bin"
    odd.write_bytes(b"\x00\x01" * 10)
    with pytest.raises(ValueError, match="no registered reader recognises") as e:
        m.open_reader(odd)
    assert "wfdb (.hea .dat)" in str(e.value) and str(odd) in str(e.value)
    with pytest.raises(FileNotFoundError, match=r"nope\.csv"):
        m.open_reader(tmp_path / "nope.csv")


def test_open_reader_hook_first_result(tmp_path):
    class Special:
        name = "special"
        extensions = (".csv",)

        def sniff(self, path):
            return True

        def read(self, path):
            return Recording((Channel(np.zeros(2), 1.0, "ecg"),))

    class Plugin:
        @hookimpl(tryfirst=True)
        def somacore_open_reader(self, path):
            return Special() if path.name.startswith("special") else None

    m = _mgr(entry_points=False)
    m.register(Plugin(), name="special")
    f = tmp_path / "special.csv"
    f.write_text("# fs=1\necg\n1\n")
    assert m.open_reader(f).name == "special"
    g = tmp_path / "plain.csv"
    g.write_text("# fs=1\necg\n1\n")
    assert m.open_reader(g).name == "csv"
    # the built-in open_reader hook opens E4 folders
    d = tmp_path / "e4"
    d.mkdir()
    (d / "EDA.csv").write_text("1600000000\n4\n0.1\n0.2\n")
    assert m.open_reader(d).name == "e4"


def test_unknown_names_and_runtime_register():
    m = _mgr(entry_points=False)
    with pytest.raises(KeyError,
                       match="unknown metric 'nope'; registered: breath_rate, hr, pulse_rate"):
        m.get_metric("nope")
    with pytest.raises(KeyError, match="unknown reader 'edf'"):
        m.get_reader("edf")
    with pytest.raises(KeyError, match="unknown driver 'polar-h10'"):
        m.get_driver("polar-h10")
    with pytest.raises(KeyError, match="unknown plugin"):
        m.unregister("nope")

    class P:
        @hookimpl
        def somacore_register_drivers(self, register):
            register("toy", lambda **kw: kw, description="toy driver")
            register("bad", 42)

    with pytest.warns(PluginWarning, match="not callable"):
        assert m.register(P(), name="p") == "p"
        assert m.get_driver("toy")(a=1) == {"a": 1}
    assert "bad" not in m.drivers and m.owner("drivers", "toy") == "p"
    m.unregister("p")
    assert "toy" not in m.drivers


def test_bad_hook_signature_is_refused():
    class Wrong:
        @hookimpl
        def somacore_register_readers(self, register, extra):
            pass

    m = _mgr(entry_points=False)
    with pytest.warns(PluginWarning, match="register"):
        assert m.register(Wrong(), name="wrong") is None
    assert m.errors[0].plugin == "wrong" and m.errors[0].stage == "register"


def test_commands_and_table(fake_plugins):
    m = _mgr({"SOMACORE_PLUGINS": "good"})
    parser = argparse.ArgumentParser(prog="somacore")
    sub = parser.add_subparsers()
    m.register_commands(sub)
    args = parser.parse_args(["toy"])
    assert args.func(args) == 7
    buf = io.StringIO()
    assert print_plugins(buf, manager=m) == 0
    table = buf.getvalue()
    assert "builtin" in table and "toyplugs" in table and "1.2.3" in table
    lines = table.splitlines()
    assert lines[0].split()[:4] == ["name", "distribution", "version", "source"]
    with pytest.warns(PluginWarning):
        m2 = _mgr()
    buf = io.StringIO()
    assert print_plugins(buf, manager=m2) == 1
    assert "errors:" in buf.getvalue() and "broken (import)" in buf.getvalue()
    assert format_plugins_table([]).startswith("name")


def test_global_manager_lazy(monkeypatch):
    import somacore.plugins as P
    from somacore.plugins import manager as M

    monkeypatch.setenv("SOMACORE_PLUGINS", "")
    P.reset_manager()
    try:
        assert M._MANAGER is None
        assert P.get_manager() is P.get_manager()
        assert [i.name for i in P.list_plugins()] == ["builtin"]
    finally:
        P.reset_manager()


# ----------------------------------------------------------------------------- testing helpers
class _FlakyReader:
    name = "flaky"
    extensions = (".flk",)

    def __init__(self, sniff_raises=False, crash_on_short=False, accept_all=False):
        self.sniff_raises, self.crash, self.accept_all = sniff_raises, crash_on_short, accept_all

    def sniff(self, path):
        path = Path(path)
        if self.accept_all:
            return True
        if self.sniff_raises and not path.exists():
            raise OSError("cannot open")
        return path.suffix == ".flk" and path.is_file() and path.read_bytes()[:3] == b"FLK"

    def read(self, path):
        raw = Path(path).read_bytes()
        if not raw.startswith(b"FLK"):
            if self.crash:
                return raw[10]  # IndexError on short files
            raise ValueError(f"{path}: not a FLK file")
        vals = np.frombuffer(raw[3:], dtype=np.uint8).astype(float)
        if self.crash and vals.size < 100:
            raise IndexError("list index out of range")
        return Recording((Channel(vals, 10.0, "eda", "uS", name="x"),))


def test_check_reader_catches_broken_readers(tmp_path):
    f = tmp_path / "s.flk"
    f.write_bytes(b"FLK" + bytes(range(200)))
    check_reader(_FlakyReader(), f)
    with pytest.raises(AssertionError, match=r"sniff.*raised OSError"):
        check_reader(_FlakyReader(sniff_raises=True), f)
    with pytest.raises(AssertionError, match=r"raised IndexError.*raise ValueError naming"):
        check_reader(_FlakyReader(crash_on_short=True), f)
    with pytest.raises(AssertionError, match="accepted a foreign file"):
        check_reader(_FlakyReader(accept_all=True), f)
    bad_ext = _FlakyReader()
    bad_ext.extensions = ["flk"]
    with pytest.raises(AssertionError, match="extensions"):
        check_reader(bad_ext, f)
    with pytest.raises(AssertionError, match="returned False for its own sample"):
        check_reader(_FlakyReader(), tmp_path / "missing.flk")


def test_check_metric_catches_broken_metrics():
    check_metric(RateMetric("hr", "ecg"))
    check_metric(RateMetric("pulse_rate", "ppg"))

    class WrongKeys(RateMetric):
        def compute(self, window):
            return {"bpm": 1.0}

    class RaisesOnLoss(RateMetric):
        def compute(self, window):
            s = window.kind("ecg")
            if s.missing == 1.0:
                raise ZeroDivisionError("no data")
            return super().compute(window)

    class Mutates(RateMetric):
        def compute(self, window):
            window.kind("ecg").data[:] = 0
            return super().compute(window)

    with pytest.raises(AssertionError, match=r"returned keys \['bpm'\]"):
        check_metric(WrongKeys("w", "ecg"))
    with pytest.raises(AssertionError, match="all signal lost raised ZeroDivisionError"):
        check_metric(RaisesOnLoss("r", "ecg"))
    with pytest.raises(AssertionError, match="writes into the window"):
        check_metric(Mutates("m", "ecg"))
    bad = RateMetric("b", "ecg")
    bad.inputs = ("eeg",)
    with pytest.raises(AssertionError, match="inputs"):
        check_metric(bad)
    bad = RateMetric("b", "ecg")
    bad.kernel = 3
    with pytest.raises(AssertionError, match="kernel"):
        check_metric(bad)


def _rec(seconds=5.0, fs=100.0):
    t = np.arange(int(seconds * fs)) / fs
    return Recording((Channel(np.sin(t), fs, "resp", "au", name="resp"),))


def test_check_driver_on_replay_and_broken_drivers():
    from somacore.drivers import ReplayDriver
    from somacore.plugins.types import Chunk

    check_driver(lambda: ReplayDriver(_rec()))
    check_driver(ReplayDriver(_rec()))  # instance: chunks() only

    class Backwards(ReplayDriver):
        def chunks(self):
            for ch in super().chunks():
                yield Chunk(ch.stream, ch.samples, ch.seq, t0=-ch.t0, fs=ch.fs)

    class WrongShape(ReplayDriver):
        def chunks(self):
            for ch in super().chunks():
                yield Chunk(ch.stream, ch.samples[:, None], ch.seq, t0=ch.t0, fs=ch.fs)

    class StringSamples(ReplayDriver):
        def chunks(self):
            for ch in super().chunks():
                yield Chunk(ch.stream, ch.samples.astype(str), ch.seq, t0=ch.t0, fs=ch.fs)

    class SameSeq(ReplayDriver):
        def chunks(self):
            for ch in super().chunks():
                yield Chunk(ch.stream, ch.samples, 0, t0=ch.t0, fs=ch.fs)

    with pytest.raises(AssertionError, match="timestamps go backwards"):
        check_driver(Backwards(_rec()))
    with pytest.raises(AssertionError, match=r"shape \(10, 1\), expected \(n,\)"):
        check_driver(WrongShape(_rec()))
    with pytest.raises(AssertionError, match="numeric ndarray"):
        check_driver(StringSamples(_rec()))
    with pytest.raises(AssertionError, match="seq must increase"):
        check_driver(SameSeq(_rec()))
    with pytest.raises(AssertionError, match="stalled"):
        check_driver(ReplayDriver(_rec(), stall_after=3), timeout_s=0.3)
    with pytest.raises(ConnectionError, match="simulated disconnect"):
        check_driver(ReplayDriver(_rec(), disconnect_after=3))


def test_contract_classes_are_usable(tmp_path):
    from somacore.drivers import ReplayDriver
    from somacore.testing import DriverContract, MetricContract, ReaderContract

    class TestD(DriverContract):
        def make_driver(self):
            return ReplayDriver(_rec())

    class TestM(MetricContract):
        def make_metric(self):
            return RateMetric("hr", "ecg")

    class TestR(ReaderContract):
        def make_reader(self):
            from somacore.readers import CsvReader

            return CsvReader()

        def sample_path(self, tmp_path):
            p = tmp_path / "s.csv"
            p.write_text(textwrap.dedent("""\
                # fs=10
                ecg_mV
                1
                2
                3
                """))
            return p

    TestD().test_driver_contract()
    TestM().test_metric_contract()
    TestR().test_reader_contract(tmp_path)


def test_session_hooks_traced_through_pluggy(capsys):
    from somacore.plugins.types import Chunk, StreamInfo

    calls = []

    class Obs:
        @hookimpl
        def somacore_session_chunk(self, person, stream, chunk):
            calls.append(person)

    for trace in ("0", "1"):
        m = _mgr({"SOMACORE_TRACE_HOOKS": trace}, entry_points=False)
        m.register(Obs(), name="obs")
        ((name, call),) = m.hook_callers("somacore_session_chunk")
        call(person="ada", stream=StreamInfo("e", "ecg", "mV", 100.0),
             chunk=Chunk("e", np.zeros(2), 0, t0=0.0))
        assert name == "obs"
        err = capsys.readouterr().err
        assert ("somacore_session_chunk" in err) == (trace == "1")
    assert calls == ["ada", "ada"]
