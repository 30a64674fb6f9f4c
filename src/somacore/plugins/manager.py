"""A typed facade over :class:`pluggy.PluginManager` for somacore.

Nothing here runs at ``import somacore``: the process-wide manager is built
on the first call of :func:`get_manager` (directly, or through
:func:`open_reader`, :func:`read`, a :class:`~somacore.stream.session.Session`...).

Loading order: the built-in plugin (:mod:`somacore.plugins.builtin`) first,
then the entry points of the ``somacore`` group in name order. Environment:

``SOMACORE_PLUGINS``
    Comma-separated allow-list of entry-point names to load. Set but empty:
    load no third-party plugin (built-ins still load). Unset: load all.
``SOMACORE_DISABLE_PLUGINS``
    Comma-separated block-list of entry-point names never to load.
``SOMACORE_TRACE_HOOKS=1``
    Trace every hook call and its result to stderr (pluggy's tracing).

A plugin that fails to import, fails pluggy's validation, implements an
unknown hook, registers something invalid or raises inside a hook is recorded
in :attr:`PluginManager.errors` (plugin name, hook, exception) and reported
with a :class:`PluginWarning`; the rest keeps working.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pluggy

from somacore.plugins import hookspecs
from somacore.plugins.hookspecs import PROJECT

__all__ = [
    "DriverEntry",
    "PluginError",
    "PluginInfo",
    "PluginManager",
    "PluginWarning",
    "format_plugins_table",
    "get_manager",
    "print_plugins",
    "reset_manager",
]

ENV_ALLOW = "SOMACORE_PLUGINS"
ENV_BLOCK = "SOMACORE_DISABLE_PLUGINS"
ENV_TRACE = "SOMACORE_TRACE_HOOKS"
BUILTIN_NAME = "builtin"

_REGISTRATION_HOOKS = {
    "drivers": "somacore_register_drivers",
    "readers": "somacore_register_readers",
    "writers": "somacore_register_writers",
    "metrics": "somacore_register_metrics",
}


class PluginWarning(UserWarning):
    """A plugin failed (import, validation or a hook); it was skipped."""


@dataclass(frozen=True)
class PluginError:
    """One failure of one plugin.

    Attributes
    ----------
    plugin : str
        Plugin name (entry-point name, ``"builtin"``, or the name given to
        :meth:`PluginManager.register`).
    stage : str
        ``"import"``, ``"register"`` (pluggy validation), ``"config"`` (an
        environment variable names an unknown plugin), or the hook name.
    error : BaseException or None
        The exception, if any.
    message : str
        Human-readable description.
    """

    plugin: str
    stage: str
    message: str
    error: BaseException | None = None

    def __str__(self) -> str:
        return f"somacore plugin {self.plugin!r} ({self.stage}): {self.message}"


@dataclass(frozen=True)
class PluginInfo:
    """One loaded plugin, as listed by ``somacore plugins``."""

    name: str
    distribution: str
    version: str
    hooks: tuple[str, ...]
    source: str  # "builtin", "entry point" or "runtime"


@dataclass(frozen=True)
class DriverEntry:
    """A registered driver factory."""

    name: str
    factory: Callable[..., Any]
    description: str = ""
    plugin: str = ""

    def __call__(self, **options: Any) -> Any:
        """Create the driver: ``factory(**options)``."""
        return self.factory(**options)


def _split_env(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


def _somacore_version() -> str:
    try:
        return md.version("somacore")
    except md.PackageNotFoundError:  # pragma: no cover - running from a source tree
        import somacore

        return somacore.__version__


@dataclass
class _Meta:
    source: str
    distribution: str = "-"
    version: str = "-"


class PluginManager:
    """Somacore's plugin manager: loading, registries and error isolation.

    Parameters
    ----------
    env : mapping, optional
        Environment to read the ``SOMACORE_*`` variables from (default
        :data:`os.environ`).
    entry_points : bool
        Load third-party plugins from the ``somacore`` entry-point group.
    builtins : bool
        Register :mod:`somacore.plugins.builtin`.

    Notes
    -----
    Construction does nothing; :meth:`load` (called by every accessor) loads
    plugins once. Registries (:attr:`readers`, :attr:`metrics`...) are
    collected from the registration hooks on first access and re-collected
    after :meth:`register` / :meth:`unregister`.
    """

    def __init__(self, *, env: Mapping[str, str] | None = None, entry_points: bool = True,
                 builtins: bool = True) -> None:
        self._env = os.environ if env is None else env
        self._use_entry_points = entry_points
        self._use_builtins = builtins
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.errors: list[PluginError] = []
        self._meta: dict[str, _Meta] = {}
        self._loaded = False
        self._lock = threading.RLock()
        self._registries: dict[str, dict[str, Any]] = {}
        self._callers: dict[tuple[str, str], pluggy.HookCaller] = {}
        self._owner: dict[tuple[str, str], str] = {}
        self._undo_trace: Callable[[], None] | None = None

    # ------------------------------------------------------------------ loading
    def load(self) -> PluginManager:
        """Load the built-in and entry-point plugins (once; later calls do nothing)."""
        with self._lock:
            if self._loaded:
                return self
            self._loaded = True
            if self._env.get(ENV_TRACE, "").strip() not in ("", "0"):
                self.enable_tracing()
            if self._use_builtins:
                from somacore.plugins import builtin

                self._register(builtin, BUILTIN_NAME,
                               _Meta("builtin", "somacore", _somacore_version()))
            if self._use_entry_points:
                self._load_entry_points()
        return self

    def enable_tracing(self, writer: Callable[[str], Any] | None = None) -> None:
        """Trace hook calls (arguments and results) with ``writer`` (default stderr)."""
        if self._undo_trace is None:
            self.pm.trace.root.setwriter(writer or sys.stderr.write)
            self._undo_trace = self.pm.enable_tracing()

    def _load_entry_points(self) -> None:
        allow = _split_env(self._env.get(ENV_ALLOW))
        block = set(_split_env(self._env.get(ENV_BLOCK)) or [])
        eps = sorted(md.entry_points(group=PROJECT), key=lambda e: e.name)
        seen = {e.name for e in eps}
        for label, names in ((ENV_ALLOW, allow or []), (ENV_BLOCK, block)):
            for n in sorted(set(names) - seen):
                self._report(PluginError(
                    n, "config", f"{label} names plugin {n!r}, which is not installed "
                    f"(installed: {', '.join(sorted(seen)) or 'none'})"))
        for ep in eps:
            if (allow is not None and ep.name not in allow) or ep.name in block:
                continue
            if self.pm.has_plugin(ep.name) or self.pm.is_blocked(ep.name):
                continue
            dist = getattr(ep, "dist", None)
            meta = _Meta("entry point", dist.name if dist else "-",
                         dist.version if dist else "-")
            try:
                obj = ep.load()
            except Exception as exc:
                self._report(PluginError(ep.name, "import", f"cannot import {ep.value!r}: "
                                         f"{type(exc).__name__}: {exc}", exc))
                continue
            self._register(obj, ep.name, meta)

    def _register(self, plugin: Any, name: str, meta: _Meta) -> bool:
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:
            self._report(PluginError(name, "register", f"{type(exc).__name__}: {exc}", exc))
            return False
        self._meta[name] = meta
        for caller in self.pm.get_hookcallers(plugin) or []:
            if not caller.has_spec():
                self._report(PluginError(
                    name, caller.name, f"implements unknown hook {caller.name!r} (a typo? "
                    f"known hooks: {', '.join(sorted(_spec_names()))})"))
        self._invalidate()
        return True

    def register(self, plugin: Any, name: str | None = None) -> str | None:
        """Register a plugin object or module at run time (tests, applications).

        Returns its name, or None if pluggy refused it (reported in :attr:`errors`).
        """
        self.load()
        with self._lock:
            name = name or self.pm.get_canonical_name(plugin)
            return name if self._register(plugin, name, _Meta("runtime")) else None

    def unregister(self, name: str) -> None:
        """Remove a plugin by name (KeyError if unknown)."""
        self.load()
        with self._lock:
            plugin = self.pm.get_plugin(name)
            if plugin is None:
                raise KeyError(self._unknown("plugin", name, self.plugin_names()))
            self.pm.unregister(plugin)
            self._meta.pop(name, None)
            self._invalidate()

    def _invalidate(self) -> None:
        self._registries.clear()
        self._callers.clear()
        self._owner.clear()

    def _report(self, err: PluginError) -> None:
        if any((e.plugin, e.stage, e.message) == (err.plugin, err.stage, err.message)
               for e in self.errors):
            return  # the same failure again (e.g. a broken open_reader hook on every file)
        self.errors.append(err)
        warnings.warn(str(err), PluginWarning, stacklevel=3)

    # ------------------------------------------------------------------ calling
    def plugin_names(self) -> list[str]:
        """Names of the registered plugins, in registration order."""
        self.load()
        return [n for n, p in self.pm.list_name_plugin() if p is not None]

    def _caller_for(self, hook_name: str, plugin_name: str) -> pluggy.HookCaller:
        key = (hook_name, plugin_name)
        caller = self._callers.get(key)
        if caller is None:
            keep = self.pm.get_plugin(plugin_name)
            others = [p for p in self.pm.get_plugins() if p is not keep]
            caller = self.pm.subset_hook_caller(hook_name, remove_plugins=others)
            self._callers[key] = caller
        return caller

    def _impl_names(self, hook_name: str) -> list[str]:
        """Plugins implementing ``hook_name``, in registration order."""
        hook = getattr(self.pm.hook, hook_name)
        return [impl.plugin_name for impl in hook.get_hookimpls()]

    def call_each(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call ``hook_name`` on each plugin separately, isolating failures.

        Returns ``(plugin name, result)`` for the plugins that succeeded, in
        registration order; a plugin that raises is reported in :attr:`errors`.
        """
        self.load()
        out = []
        for name in self._impl_names(hook_name):
            try:
                res = self._caller_for(hook_name, name)(**kwargs)
            except Exception as exc:
                self._report(PluginError(name, hook_name, f"raised {type(exc).__name__}: "
                                         f"{exc}", exc))
                continue
            out.append((name, res))
        return out

    def hook_callers(self, hook_name: str) -> list[tuple[str, Callable[..., Any]]]:
        """Per-plugin callables of an observer hook (empty if nobody implements it).

        Each is called with the hook's keyword arguments. Without tracing, the
        implementation function is returned itself (a hook fired per chunk then
        costs one Python call); with tracing, or for wrapper implementations, a
        pluggy caller limited to that plugin.
        """
        self.load()
        hook = getattr(self.pm.hook, hook_name)
        out: list[tuple[str, Callable[..., Any]]] = []
        for impl in hook.get_hookimpls():
            wrapper = getattr(impl, "wrapper", False) or getattr(impl, "hookwrapper", False)
            if self._undo_trace is None and not wrapper:
                out.append((impl.plugin_name, impl.function))
            else:
                out.append((impl.plugin_name, self._caller_for(hook_name, impl.plugin_name)))
        return out

    # ------------------------------------------------------------------ registries
    def _registry(self, kind: str) -> dict[str, Any]:
        self.load()
        with self._lock:
            reg = self._registries.get(kind)
            if reg is not None:
                return reg
            reg = {}
            hook_name = _REGISTRATION_HOOKS[kind]
            for plugin_name in self._impl_names(hook_name):
                staged: dict[str, Any] = {}
                problems: list[str] = []

                def register(*args: Any, _staged=staged, _problems=problems,
                             _plugin=plugin_name, **kw: Any) -> None:
                    try:
                        name, obj = _validate_registration(kind, _plugin, args, kw)
                    except (TypeError, ValueError) as exc:
                        _problems.append(str(exc))
                        return
                    if name in reg or name in _staged:
                        owner = getattr(reg.get(name), "plugin", None) or \
                            self._owner.get((kind, name), "?")
                        _problems.append(f"{kind[:-1]} name {name!r} is already registered "
                                         f"by plugin {owner!r}; refused")
                        return
                    _staged[name] = obj

                try:
                    self._caller_for(hook_name, plugin_name)(register=register)
                except Exception as exc:
                    self._report(PluginError(plugin_name, hook_name,
                                             f"raised {type(exc).__name__}: {exc}; nothing it "
                                             "registered in this hook is used", exc))
                    continue
                for p in problems:
                    self._report(PluginError(plugin_name, hook_name, p))
                for name in staged:
                    self._owner[(kind, name)] = plugin_name
                reg.update(staged)
            self._registries[kind] = reg
            return reg

    def owner(self, kind: str, name: str) -> str:
        """Plugin that registered the ``kind`` (``"readers"``...) called ``name``."""
        self._registry(kind)
        return self._owner[(kind, name)]

    @property
    def drivers(self) -> dict[str, DriverEntry]:
        """Registered driver factories by name."""
        return dict(self._registry("drivers"))

    @property
    def readers(self) -> dict[str, Any]:
        """Registered readers by name."""
        return dict(self._registry("readers"))

    @property
    def writers(self) -> dict[str, Any]:
        """Registered writers by name."""
        return dict(self._registry("writers"))

    @property
    def metrics(self) -> dict[str, Any]:
        """Registered metrics by name."""
        return dict(self._registry("metrics"))

    @staticmethod
    def _unknown(what: str, name: str, known: Iterable[str]) -> str:
        known = sorted(known)
        return (f"unknown {what} {name!r}; registered: {', '.join(known) or 'none'} "
                "(is the plugin installed and allowed by SOMACORE_PLUGINS?)")

    def _get(self, kind: str, name: str) -> Any:
        reg = self._registry(kind)
        if name not in reg:
            raise KeyError(self._unknown(kind[:-1], name, reg))
        return reg[name]

    def get_driver(self, name: str) -> DriverEntry:
        """The driver factory called ``name`` (KeyError listing known names otherwise)."""
        return self._get("drivers", name)

    def get_reader(self, name: str) -> Any:
        """The reader called ``name``."""
        return self._get("readers", name)

    def get_writer(self, name: str) -> Any:
        """The writer called ``name``."""
        return self._get("writers", name)

    def get_metric(self, name: str) -> Any:
        """The metric called ``name``."""
        return self._get("metrics", name)

    # ------------------------------------------------------------------ files
    def open_reader(self, path: str | os.PathLike[str]) -> Any:
        """Return the reader for ``path``.

        Asks :func:`~somacore.plugins.hookspecs.somacore_open_reader` first
        (in pluggy order: ``tryfirst``, then last registered first), then the
        readers whose ``extensions`` list the suffix (``sniff`` decides), then
        every reader's ``sniff``.

        Raises
        ------
        FileNotFoundError
            If ``path`` does not exist.
        ValueError
            If no reader recognises the file.
        """
        p = Path(path)
        self.load()
        hook = self.pm.hook.somacore_open_reader
        for impl in reversed(hook.get_hookimpls()):
            try:
                r = self._caller_for("somacore_open_reader", impl.plugin_name)(path=p)
            except Exception as exc:
                self._report(PluginError(impl.plugin_name, "somacore_open_reader",
                                         f"raised {type(exc).__name__}: {exc}", exc))
                continue
            if r is not None:
                return r
        readers = self._registry("readers")
        suffix = p.suffix.lower()
        by_ext = [r for r in readers.values() if suffix and suffix in r.extensions]
        rest = [r for r in readers.values() if r not in by_ext]
        for r in [*by_ext, *rest]:
            if self._sniff(r, p):
                return r
        if not p.exists() and not Path(str(p) + ".hea").exists():
            raise FileNotFoundError(f"{p}: no such file or directory")
        known = ", ".join(f"{n} ({' '.join(r.extensions)})" for n, r in sorted(readers.items()))
        raise ValueError(f"{p}: no registered reader recognises this file "
                         f"(readers: {known or 'none'}). If it is a supported format, the "
                         "file may be corrupt; otherwise install a reader plugin.")

    def _sniff(self, reader: Any, path: Path) -> bool:
        try:
            return bool(reader.sniff(path))
        except Exception as exc:
            self._report(PluginError(self._owner.get(("readers", reader.name), "?"),
                                     "sniff", f"reader {reader.name!r}.sniff({str(path)!r}) "
                                     f"raised {type(exc).__name__}: {exc}", exc))
            return False

    def read(self, path: str | os.PathLike[str], *, reader: str | None = None) -> Any:
        """Read ``path`` with the named reader, or the one :meth:`open_reader` picks."""
        r = self.get_reader(reader) if reader else self.open_reader(path)
        return r.read(Path(path))

    # ------------------------------------------------------------------ CLI
    def register_commands(self, cli: Any) -> None:
        """Let every plugin add sub-commands to the argparse sub-parsers ``cli``."""
        self.call_each("somacore_register_commands", cli=cli)

    def list_plugins(self) -> list[PluginInfo]:
        """Each registered plugin's name, distribution, version and hooks."""
        self.load()
        out = []
        for name, plugin in self.pm.list_name_plugin():
            if plugin is None:
                continue
            meta = self._meta.get(name, _Meta("runtime"))
            if meta.source == "runtime" and meta.distribution == "-":
                meta = _runtime_meta(plugin)
            hooks = tuple(sorted(c.name for c in self.pm.get_hookcallers(plugin) or []))
            out.append(PluginInfo(name, meta.distribution, meta.version, hooks, meta.source))
        return out


def _runtime_meta(plugin: Any) -> _Meta:
    mod = getattr(plugin, "__module__", None) or getattr(plugin, "__name__", "")
    top = str(mod).split(".")[0]
    try:
        dists = md.packages_distributions().get(top) or []
    except Exception:
        dists = []
    if dists:
        try:
            return _Meta("runtime", dists[0], md.version(dists[0]))
        except md.PackageNotFoundError:
            pass
    return _Meta("runtime")


def _spec_names() -> set[str]:
    return {n for n in dir(hookspecs) if n.startswith("somacore_")}


def _validate_registration(kind: str, plugin: str, args: tuple, kw: dict) -> tuple[str, Any]:
    """Check what a plugin passed to ``register``; return (name, stored object)."""
    if kind == "drivers":
        try:
            name, factory = args[0], args[1] if len(args) > 1 else kw.pop("factory")
        except (IndexError, KeyError):
            raise TypeError("register(name, factory, *, description='') needs a name and "
                            "a factory") from None
        description = kw.pop("description", "")
        if kw or len(args) > 2:
            raise TypeError(f"driver {name!r}: unexpected arguments {sorted(kw) or args[2:]}")
        if not isinstance(name, str) or not name:
            raise ValueError(f"driver name must be a non-empty string, got {name!r}")
        if not callable(factory):
            raise TypeError(f"driver {name!r}: factory {factory!r} is not callable")
        return name, DriverEntry(name, factory, str(description), plugin)
    if len(args) != 1 or kw:
        raise TypeError(f"register() of {kind} takes exactly one object, got "
                        f"{len(args)} positional and {sorted(kw)} keyword arguments")
    obj = args[0]
    name = getattr(obj, "name", None)
    if not isinstance(name, str) or not name:
        raise ValueError(f"{kind[:-1]} {obj!r} has no non-empty string attribute 'name'")
    need = {"readers": ("sniff", "read"), "writers": ("write",),
            "metrics": ("compute",)}[kind]
    missing = [m for m in need if not callable(getattr(obj, m, None))]
    if missing:
        raise TypeError(f"{kind[:-1]} {name!r} lacks method(s) {', '.join(missing)}")
    if kind in ("readers", "writers"):
        ext = getattr(obj, "extensions", None)
        if not isinstance(ext, tuple) or not all(isinstance(e, str) for e in ext):
            raise ValueError(f"{kind[:-1]} {name!r}: extensions must be a tuple of str like "
                             f"('.csv',), got {ext!r}")
    if kind == "metrics":
        from somacore.signals import KINDS

        inputs = getattr(obj, "inputs", None)
        if not isinstance(inputs, tuple) or not inputs or not set(inputs) <= KINDS:
            raise ValueError(f"metric {name!r}: inputs must be a non-empty tuple of kinds "
                             f"{sorted(KINDS)}, got {inputs!r}")
        outputs = getattr(obj, "outputs", None)
        if not isinstance(outputs, Mapping) or not outputs:
            raise ValueError(f"metric {name!r}: outputs must be a non-empty mapping "
                             f"name -> unit, got {outputs!r}")
        w = getattr(obj, "window_s", None)
        if not isinstance(w, (int, float)) or isinstance(w, bool) or not w > 0:
            raise ValueError(f"metric {name!r}: window_s must be a positive number, got {w!r}")
    return name, obj


# ---------------------------------------------------------------------- process-wide
_MANAGER: PluginManager | None = None
_MANAGER_LOCK = threading.Lock()


def get_manager() -> PluginManager:
    """The process-wide plugin manager, created and loaded on first call."""
    global _MANAGER
    m = _MANAGER
    if m is None:
        with _MANAGER_LOCK:
            if _MANAGER is None:
                _MANAGER = PluginManager()
            m = _MANAGER
    return m.load()


def reset_manager(manager: PluginManager | None = None) -> None:
    """Replace the process-wide manager (None: rebuild on next use). For tests."""
    global _MANAGER
    with _MANAGER_LOCK:
        _MANAGER = manager


def format_plugins_table(infos: Iterable[PluginInfo],
                         errors: Iterable[PluginError] = ()) -> str:
    """Render plugins (and load errors) as the text table of ``somacore plugins``."""
    rows = [("name", "distribution", "version", "source", "hooks")]
    for i in infos:
        hooks = ", ".join(h.removeprefix("somacore_") for h in i.hooks) or "-"
        rows.append((i.name, i.distribution, i.version, i.source, hooks))
    widths = [max(len(r[c]) for r in rows) for c in range(4)]
    lines = []
    for k, r in enumerate(rows):
        lines.append("  ".join(r[c].ljust(widths[c]) for c in range(4)) + "  " + r[4])
        if k == 0:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 5)
    errs = list(errors)
    if errs:
        lines.append("")
        lines.append("errors:")
        lines.extend(f"  {e.plugin} ({e.stage}): {e.message}" for e in errs)
    return "\n".join(lines) + "\n"


def print_plugins(file: IO[str] | None = None, manager: PluginManager | None = None) -> int:
    """Print the plugin table (for ``somacore plugins``); return 1 if any plugin failed."""
    m = manager or get_manager()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginWarning)
        for kind in _REGISTRATION_HOOKS:  # surface registration errors too
            m._registry(kind)
    (file or sys.stdout).write(format_plugins_table(m.list_plugins(), m.errors))
    return 1 if m.errors else 0

