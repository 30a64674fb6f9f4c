"""Numba for plugin authors: :func:`jit`, with a plain-Python fallback.

``somacore`` never needs Numba: its shipped kernels are compiled Cython. This
module lets a metric plugin write a fast loop in Python::

    from somacore.numba import jit

    @jit
    def rms(x):
        s = 0.0
        for v in x:
            s += v * v
        return (s / x.size) ** 0.5

``jit`` compiles with ``nopython=True, cache=True, nogil=True`` (so sessions
can run it in threads) when Numba is installed and ``SOMACORE_DISABLE_NUMBA``
is not ``1``; otherwise it returns the function unchanged. Numba itself is
imported on the first decorated call's definition, never at ``import somacore``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar, overload

__all__ = ["ENV_DISABLE", "available", "enabled", "jit"]

ENV_DISABLE = "SOMACORE_DISABLE_NUMBA"
F = TypeVar("F", bound=Callable[..., Any])


@functools.cache
def available() -> bool:
    """True if Numba can be imported (imports it on first call)."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def _cacheable(f: Callable[..., Any]) -> bool:
    """Numba can only cache functions defined in a file on disk (not ``python -c``)."""
    import inspect

    try:
        src = inspect.getsourcefile(f)
    except TypeError:
        return False
    return bool(src) and os.path.isfile(src)


def enabled() -> bool:
    """True if :func:`jit` compiles: Numba installed and not disabled by the environment."""
    return os.environ.get(ENV_DISABLE, "").strip() not in ("1", "true", "yes") and available()


@overload
def jit(func: F, /) -> F: ...


@overload
def jit(func: None = None, /, **options: Any) -> Callable[[F], F]: ...


def jit(func: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Compile ``func`` with Numba (``cache=True, nogil=True``), or return it unchanged.

    Parameters
    ----------
    func : callable
        The function; ``@jit`` and ``@jit(fastmath=True)`` both work.
    **options
        Extra :func:`numba.njit` options (override the defaults).

    Returns
    -------
    callable
        The compiled dispatcher, or ``func`` itself when Numba is not installed or
        ``SOMACORE_DISABLE_NUMBA=1``. The result has ``somacore_jit`` set to True
        when compiled, False otherwise.
    """

    def wrap(f: Callable[..., Any]) -> Any:
        if not enabled():
            try:
                f.somacore_jit = False  # type: ignore[attr-defined]
            except AttributeError:  # pragma: no cover - builtins
                pass
            return f
        import numba

        opts = {"cache": _cacheable(f), "nogil": True, **options}
        compiled = numba.njit(**opts)(f)
        compiled.somacore_jit = True
        return compiled

    if func is None:
        return wrap
    return wrap(func)
