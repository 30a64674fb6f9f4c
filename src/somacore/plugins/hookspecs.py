"""Hook specifications of somacore plugins (pluggy project name ``"somacore"``).

A plugin is a module (or object) with functions decorated by
:data:`hookimpl` whose names are the specs below, published through the
``somacore`` entry-point group of its distribution::

    # pyproject.toml of the plugin distribution
    [project.entry-points.somacore]
    polar = "somacore_polar.plugin"

    # somacore_polar/plugin.py
    from somacore.plugins import hookimpl

    @hookimpl
    def somacore_register_drivers(register):
        register("polar-h10", PolarH10Driver, description="Polar H10 chest strap (BLE)")

Registration hooks hand the plugin a ``register`` callback, so one plugin can
add any number of things; they run once, the first time somacore needs
plugins (never at ``import somacore``). somacore's own readers, writers, replay
driver and metrics are registered through the same hooks by
:mod:`somacore.plugins.builtin`, so built-ins and third parties are equals:
a third-party registration with a name already taken is refused and reported
(the first registration of a name wins; built-ins load first).

Hooks that fire while data flows (:func:`somacore_session_chunk`,
:func:`somacore_session_window`) fire once per chunk or per window, never per
sample.

A plugin that fails to import, or raises inside a hook, is reported by name
(``PluginManager.errors`` and a :class:`somacore.plugins.PluginWarning`) and
skipped; it never takes the host application down.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:  # pragma: no cover
    from somacore.plugins.types import Chunk, Reader, StreamInfo

__all__ = ["PROJECT", "hookimpl", "hookspec"]

#: pluggy project name and entry-point group.
PROJECT = "somacore"

hookspec = pluggy.HookspecMarker(PROJECT)
#: Decorator for plugin hook implementations: ``@hookimpl`` (optionally
#: ``@hookimpl(tryfirst=True)`` / ``trylast=True`` to order ``somacore_open_reader``).
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def somacore_register_drivers(register: Callable[..., None]) -> None:
    """Register live data drivers (device transports).

    Call ``register(name, factory, *, description="")`` once per driver:

    - ``name`` (str): unique driver name, lower-case with dashes
      (``"polar-h10"``). Refused if already registered.
    - ``factory`` (callable): called as ``factory(**options)`` by the host with
      the user's options (address, streams, ...); returns an object satisfying
      :class:`somacore.plugins.types.Driver`: ``name``, ``streams()`` returning
      a list of :class:`~somacore.plugins.types.StreamInfo`, ``chunks()``
      yielding :class:`~somacore.plugins.types.Chunk` (timestamps in seconds),
      ``achunks()`` (async iterator; may wrap ``chunks``) and ``close()``.
    - ``description`` (str): one line for ``somacore plugins``.

    Every driver has a replay twin: :class:`somacore.drivers.ReplayDriver`
    plays a recording of the driver's streams with their recorded timestamps,
    so pipelines are testable without hardware. Keep decoding (bytes ->
    samples) in pure functions separate from the transport and test them on
    recorded frames. Check a driver with :func:`somacore.testing.check_driver`.
    A driver that polls a buffering device library can subclass
    :class:`somacore.drivers.PollingDriver`, which writes ``chunks()`` and
    ``achunks()`` from its ``_open()``, ``_read()`` and wait rule, and the
    no-data watchdog from a ``timeout_s``.
    """


@hookspec
def somacore_register_readers(register: Callable[[Reader], None]) -> None:
    """Register file readers.

    Call ``register(reader)`` once per reader. ``reader`` satisfies
    :class:`somacore.plugins.types.Reader`:

    - ``name`` (str): unique reader name (``"edf"``); refused if taken.
    - ``extensions`` (tuple of str): lower-case suffixes with the dot
      (``(".edf", ".bdf")``); candidates for a path are the readers listing its
      suffix.
    - ``sniff(path) -> bool``: cheap check (name, first bytes) that never
      raises for a foreign file.
    - ``read(path) -> Recording``: reads the file; raises ``ValueError`` naming
      the file and the problem for corrupt, truncated or foreign content.

    Check a reader with :func:`somacore.testing.check_reader`.
    """


@hookspec
def somacore_register_writers(register: Callable[[Any], None]) -> None:
    """Register file writers.

    Call ``register(writer)`` once per writer. ``writer`` satisfies
    :class:`somacore.plugins.types.Writer`: ``name`` (unique), ``extensions``
    (lower-case suffixes with the dot) and ``write(recording, path)``, which
    replaces ``path`` atomically (write a temporary file in the same folder,
    then :func:`os.replace`) and raises ``ValueError`` for a recording it
    cannot represent.
    """


@hookspec
def somacore_register_metrics(register: Callable[[Any], None]) -> None:
    """Register per-person windowed metrics.

    Call ``register(metric)`` once per metric. ``metric`` satisfies
    :class:`somacore.plugins.types.Metric`:

    - ``name`` (str): unique metric name; refused if taken.
    - ``inputs`` (tuple of str): channel kinds needed (``("eda",)``); computed
      for every person who has all of them.
    - ``window_s`` (float): window length in seconds it is designed for.
    - ``outputs`` (mapping str -> str): output name -> unit (``{"scl_uS": "uS"}``).
    - ``compute(window) -> dict[str, float]``: called once per window with a
      :class:`~somacore.plugins.types.Window`; returns the ``outputs`` keys,
      NaN when the window holds too little signal. It must not keep
      references to the window's arrays.
    - ``kernel`` (optional): the Numba function ``compute`` uses, made with
      :func:`somacore.numba.jit` (which falls back to Python without Numba).

    Check a metric with :func:`somacore.testing.check_metric`.
    """


@hookspec
def somacore_register_commands(cli: Any) -> None:
    """Add sub-commands to the ``somacore`` command line.

    ``cli`` is the :mod:`argparse` sub-parsers object of the ``somacore``
    command. Add a command with::

        p = cli.add_parser("polar-scan", help="list Polar devices in range")
        p.add_argument("--timeout", type=float, default=5.0)
        p.set_defaults(func=run_scan)   # run_scan(args) -> int exit status

    Command names must not clash with built-in ones; import heavy
    dependencies inside the handler, not at plugin import.
    """


@hookspec(firstresult=True)
def somacore_open_reader(path: Path) -> Reader | None:
    """Say who opens the file at ``path``: return a reader object, or None to pass.

    Called (first non-None result wins) by :func:`somacore.plugins.open_reader`
    before the extension-and-sniff lookup over registered readers. Implement it
    when a format cannot be recognised by suffix alone (a folder of device
    exports, a suffix shared with other formats); use ``tryfirst=True`` to take
    precedence over built-ins. Must not raise for files it does not know.
    """


@hookspec
def somacore_session_chunk(person: str, stream: StreamInfo, chunk: Chunk) -> None:
    """Observe every chunk a :class:`~somacore.stream.session.Session` accepts.

    Fired once per chunk, after the session validated it and placed it on the
    clock (gaps already filled). Keep it cheap: with tracing off the
    implementation is called directly (about 1 us per chunk). Do not call back
    into the session. An exception is reported and that implementation is
    disabled for the rest of the session.
    """


@hookspec
def somacore_session_window(result: Any) -> None:
    """Observe every :class:`~somacore.stream.session.WindowResult` a session emits.

    Fired once per person and window, after metrics are computed and before
    the result is pushed to the session's sinks.
    """
