"""Converting a recording between file formats through the reader and writer plugins.

:func:`convert` reads a file with the reader plugins (or a named reader),
optionally cuts an excerpt, keeps chosen channels, resamples to one rate, and
writes it with the writer chosen by ``fmt`` or by the output's extension. The
file is written under a temporary name in the output's folder, read back with
the reader of the output format, compared with what was meant to be written,
and only then renamed over the output (so a failed or interrupted conversion
never leaves a partial file, and an existing file is replaced only with
``force``).

Nothing that is lost goes unsaid: every difference between the input and the
written file (a dropped channel or annotation file, signals the reader could
not use, resampling, quantisation to the output's resolution, shortened
names or changed units, an excerpt) is listed in
:attr:`Conversion.losses`, and the command line prints each on stderr even
with ``--quiet``.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Conversion", "ConvertError", "convert", "resample_channel", "writable_formats"]


class ConvertError(ValueError):
    """A conversion that cannot be done as asked (the message says what to do)."""


@dataclass
class Conversion:
    """What :func:`convert` did.

    Attributes
    ----------
    input, output : str
        Paths.
    reader, writer : str
        Plugin names used.
    channels : list of dict
        Per written channel: name, kind, units, fs, n, t0 and, after reading the
        file back, ``max_abs_error`` (in the channel's units; 0 when exact).
    losses : list of str
        Everything the output does not keep of the input (empty: lossless).
    """

    input: str
    output: str
    reader: str
    writer: str
    channels: list[dict[str, Any]] = field(default_factory=list)
    losses: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"input": self.input, "output": self.output, "reader": self.reader,
                "writer": self.writer, "channels": self.channels, "losses": list(self.losses),
                "lossless": not self.losses}


def writable_formats(manager: Any = None) -> dict[str, tuple[str, ...]]:
    """Registered writers: name -> extensions."""
    from somacore.plugins import get_manager

    m = manager or get_manager()
    return {n: tuple(w.extensions) for n, w in sorted(m.writers.items())}


def _known_text(manager: Any) -> str:
    return ", ".join(f"{n} ({' '.join(ext)})" for n, ext in writable_formats(manager).items())


def _pick_writer(manager: Any, output: Path, fmt: str | None) -> Any:
    writers = manager.writers
    if fmt:
        w = writers.get(fmt.lower())
        if w is None:
            raise ConvertError(f"unknown output format {fmt!r}; formats that can be written: "
                               f"{_known_text(manager)} (install a writer plugin for others, "
                               "e.g. somacore-edf for edf/bdf)")
        return w
    suffix = output.suffix.lower()
    hits = [w for w in writers.values() if suffix and suffix in w.extensions]
    if hits:
        return hits[0]
    readable = [n for n, r in manager.readers.items() if suffix and suffix in r.extensions]
    why = (f"{', '.join(readable)} files can be read but no installed plugin writes them"
           if readable else f"no writer knows the extension {suffix or '(none)'!r}")
    raise ConvertError(f"cannot tell the output format of {output}: {why}; formats that can be "
                       f"written: {_known_text(manager)}; give OUTPUT one of these extensions "
                       "or pass --format")


def _lowpass_kernel(cutoff_rel: float) -> np.ndarray:
    """Hamming-windowed sinc low-pass, cut-off as a fraction of the input rate."""
    half = max(8, math.ceil(4.0 / cutoff_rel))
    n = np.arange(-half, half + 1)
    h = 2 * cutoff_rel * np.sinc(2 * cutoff_rel * n) * np.hamming(n.size)
    return h / h.sum()


def resample_channel(x: np.ndarray, *, fs: float, t0: float, fs_out: float,
                     grid: np.ndarray) -> np.ndarray:
    """Values of a regular signal ``x`` (rate ``fs``, start ``t0``) at the times ``grid``.

    Downsampling first low-passes at 0.45 ``fs_out`` (windowed sinc, zero phase)
    so that nothing above the new Nyquist frequency folds back; then linear
    interpolation. NaN (lost samples) stay NaN: an output value is NaN when a
    neighbouring input sample is, and outside the channel's span.
    """
    x = np.asarray(x, dtype=np.float64)
    t = t0 + np.arange(x.size) / fs
    bad = ~np.isfinite(x)
    y = x
    if fs_out < fs and x.size:
        filled = x.copy()
        if bad.any():
            good = np.flatnonzero(~bad)
            filled[bad] = np.interp(np.flatnonzero(bad), good, x[good]) if good.size else 0.0
        h = _lowpass_kernel(0.45 * fs_out / fs)
        pad = h.size // 2
        ext = np.concatenate([np.full(pad, filled[0]), filled, np.full(pad, filled[-1])])
        y = np.convolve(ext, h, mode="valid")
    out = np.interp(grid, t, np.where(bad, 0.0, y)) if x.size else np.full(grid.size, np.nan)
    if x.size:
        w = np.interp(grid, t, (~bad).astype(float))
        out[w < 1 - 1e-9] = np.nan
        out[(grid < t[0] - 1e-9) | (grid > t[-1] + 1e-9)] = np.nan
    return out


def _excerpt(ch: Any, start: float | None, duration: float | None) -> Any:
    from somacore.signals import Channel

    if start is None and duration is None:
        return ch
    a = max(0, math.ceil(((start or 0.0)) * ch.fs - 1e-9))
    b = len(ch) if duration is None else min(len(ch), a + round(duration * ch.fs))
    return Channel(ch.data[a:b], ch.fs, ch.kind, ch.units, t0=ch.t0 + a / ch.fs, name=ch.name)


def _to_one_rate(chans: list, fs_out: float, losses: list[str]) -> list:
    from somacore.signals import Channel

    t_start = min(c.t0 for c in chans)
    t_stop = max(c.t0 + len(c) / c.fs for c in chans)
    n = max(0, math.floor((t_stop - t_start) * fs_out + 1e-9))
    grid = t_start + np.arange(n) / fs_out
    out = []
    for c in chans:
        shift = (c.t0 - t_start) * fs_out
        same = c.fs == fs_out and abs(shift - round(shift)) < 1e-6
        if same:  # on the grid already: place the samples, pad with NaN (exact)
            k = round(shift)
            data = np.full((n, *c.data.shape[1:]), np.nan)
            m = min(len(c), n - k)
            data[k:k + m] = c.data[:m]
            if k or k + len(c) < n:
                losses.append(f"{c.name}: padded with NaN to the common span "
                              f"{t_start:.6g}-{t_stop:.6g} s (no sample changed)")
        else:
            cols = c.data.reshape(len(c), -1)
            data = np.column_stack([resample_channel(cols[:, j], fs=c.fs, t0=c.t0,
                                                     fs_out=fs_out, grid=grid)
                                    for j in range(cols.shape[1])])
            data = data[:, 0] if c.data.ndim == 1 else data
            how = (f"low-pass at {0.45 * fs_out:g} Hz then linear interpolation"
                   if fs_out < c.fs else "linear interpolation")
            losses.append(f"{c.name}: resampled from {c.fs:g} Hz to {fs_out:g} Hz ({how}); "
                          "samples are interpolated values, not the recorded ones")
        out.append(Channel(data, fs_out, c.kind, c.units, t0=t_start, name=c.name))
    return out


def _wfdb_annotation_files(rec: Any, path: Path) -> list[str]:
    if rec.meta.get("format") != "wfdb":
        return []
    base = Path(rec.source)
    return sorted(p.name for p in base.parent.glob(base.name + ".*")
                  if p.suffix.lower() not in (".hea", ".dat", ".mat") and p.is_file())


def convert(input: str | os.PathLike[str], output: str | os.PathLike[str], *,
            fmt: str | None = None, reader: str | None = None, force: bool = False,
            channels: list[str] | None = None, resample_hz: float | None = None,
            start_s: float | None = None, duration_s: float | None = None,
            manager: Any = None) -> Conversion:
    """Convert the recording ``input`` into ``output``.

    Parameters
    ----------
    input, output : path
        Source (any file or folder a reader plugin opens) and target file.
    fmt : str, optional
        Writer name (``csv``, ``edf``, ``bdf``...); default: from ``output``'s extension.
    reader : str, optional
        Reader name; default: the one the plugins pick for ``input``.
    force : bool
        Replace an existing ``output``.
    channels : list of str, optional
        Channel names or kinds to keep (default: every channel the writer can hold).
    resample_hz : float, optional
        Resample every channel to this rate on one time base (needed for formats
        with one rate, such as somacore CSV, when the channels' rates differ).
    start_s, duration_s : float, optional
        Keep only this excerpt (seconds from each channel's first sample).
    manager : PluginManager, optional
        Default: the process-wide one.

    Returns
    -------
    Conversion
        What was written and, in ``losses``, everything the output does not keep.

    Raises
    ------
    ConvertError
        Unknown format, existing output without ``force``, a recording the
        writer cannot hold (the message names the option that fixes it).
    FileNotFoundError
        ``input`` does not exist.
    """
    from somacore.plugins import get_manager
    from somacore.signals import Recording

    m = manager or get_manager()
    src, dst = Path(input), Path(output)
    writer = _pick_writer(m, dst, fmt)
    if dst.exists() and not force:
        raise ConvertError(f"output {dst} already exists; pass --force to replace it")
    if dst.is_dir():
        raise ConvertError(f"output {dst} is a folder; give a file name")
    if not dst.resolve().parent.is_dir():
        raise ConvertError(f"the folder of {dst} does not exist; create it first")
    for what, v in (("--start", start_s), ("--duration", duration_s), ("--resample", resample_hz)):
        if v is not None and not (math.isfinite(v) and v >= 0 and (what == "--start" or v > 0)):
            raise ConvertError(f"{what} must be a positive number of "
                               f"{'Hz' if what == '--resample' else 'seconds'}, got {v!r}")
    try:
        r = m.get_reader(reader) if reader else m.open_reader(src)
    except KeyError as exc:  # unknown reader name: the message lists the known ones
        raise ConvertError(f"--reader: {exc.args[0]}") from None
    rec = r.read(src)
    res = Conversion(str(src), str(dst), r.name, writer.name)
    losses = res.losses
    skipped = list(rec.meta.get("skipped") or [])
    if skipped:
        losses.append(f"signals the {r.name} reader does not use are not converted: "
                      f"{', '.join(map(str, skipped))}")
    ann = _wfdb_annotation_files(rec, src)
    if ann:
        losses.append(f"annotation files are not converted (no format here carries "
                      f"annotations): {', '.join(ann)}")
    chans = list(rec.channels)
    if channels:
        keep = [c for c in chans if c.name in channels or c.kind in channels]
        missing = [w for w in channels if not any(c.name == w or c.kind == w for c in chans)]
        if missing:
            raise ConvertError(f"no channel {missing[0]!r} in {src} (channels: "
                               f"{', '.join(f'{c.name}:{c.kind}' for c in chans)})")
        dropped = [c.name for c in chans if c not in keep]
        if dropped:
            losses.append(f"channels left out (--channels): {', '.join(dropped)}")
        chans = keep
    irregular = [c for c in chans if c.fs is None]
    if irregular:
        losses.append("irregular channels (one time per value) are dropped, no format here "
                      f"stores them: {', '.join(f'{c.name} ({c.kind})' for c in irregular)}")
        chans = [c for c in chans if c.fs is not None]
    if not chans:
        raise ConvertError(f"nothing to write: {src} has no evenly sampled channel left")
    if start_s is not None or duration_s is not None:
        chans = [_excerpt(c, start_s, duration_s) for c in chans]
        losses.append(f"excerpt only: {start_s or 0:g} s"
                      + (f" + {duration_s:g} s" if duration_s is not None else " to the end")
                      + " of each channel")
        if any(len(c) == 0 for c in chans):
            raise ConvertError(f"the excerpt is empty: --start {start_s} is past the end of "
                               f"{src}")
    one_base = len({(c.fs, c.t0, len(c)) for c in chans}) == 1
    if resample_hz is not None:
        chans = _to_one_rate(chans, float(resample_hz), losses)
    out_rec = Recording(tuple(chans), source=rec.source, meta=dict(rec.meta))
    tmp = _temp_path(dst)
    try:
        try:
            writer.write(out_rec, tmp)
        except ValueError as exc:
            hint = ""
            if not one_base and resample_hz is None:
                rates = sorted({c.fs for c in chans})
                hint = (f"; the channels differ in rate, start or length ("
                        f"{', '.join(f'{c.name} {c.fs:g} Hz' for c in chans)}): pass "
                        f"--resample {max(rates):g} to put them on one time base (lossy), "
                        "--channels to keep a subset, or write a format that keeps each "
                        "channel's rate (edf or bdf, from the somacore-edf plugin)")
            raise ConvertError(f"the {writer.name} writer cannot hold this recording: "
                               f"{' '.join(str(exc).split())}{hint}") from None
        _verify(m, tmp, dst, out_rec, res)
        # temporary files are private (0o600); the result gets the usual permissions
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    return res


def _temp_path(dst: Path) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{dst.stem}.", suffix=f".tmp{dst.suffix}",
                                dir=dst.resolve().parent)
    os.close(fd)
    return Path(name)


def _verify(m: Any, tmp: Path, dst: Path, want: Any, res: Conversion) -> None:
    """Read the written file back and list every difference from ``want`` in ``res.losses``."""
    losses = res.losses
    # the reader of the writer's own name first (it opens the file whatever its suffix)
    readers = m.readers
    cands = [readers[res.writer]] if res.writer in readers else []
    cands += [r for r in readers.values() if dst.suffix.lower() in r.extensions]
    rd = next((r for r in cands if r.sniff(tmp)), None)
    if rd is None:
        losses.append(f"not verified: no installed reader opens {dst.suffix} files, so the "
                      "written file could not be read back and compared")
        res.channels = [{"name": c.name, "kind": c.kind, "units": c.units, "fs": c.fs,
                         "n": len(c), "t0": c.t0, "max_abs_error": None} for c in want]
        return
    back = rd.read(tmp)
    got = list(back.channels)
    if len(got) != len(want.channels):
        losses.append(f"the written file holds {len(got)} channel(s), not "
                      f"{len(want.channels)}: {', '.join(back.names)}")
    for c, b in zip(want.channels, got, strict=False):
        info: dict[str, Any] = {"name": b.name, "kind": b.kind, "units": b.units, "fs": b.fs,
                                "n": len(b), "t0": b.t0, "source_name": c.name}
        if b.name != c.name:
            losses.append(f"channel {c.name!r} is named {b.name!r} in the output")
        if b.kind != c.kind:
            losses.append(f"channel {c.name!r}: kind {c.kind} is read back as {b.kind}")
        if b.units != c.units:
            losses.append(f"channel {c.name!r}: units {c.units!r} are written as {b.units!r}")
        if b.fs != c.fs:
            losses.append(f"channel {c.name!r}: rate {c.fs:g} Hz is read back as {b.fs:g} Hz")
        if abs(b.t0 - c.t0) > 1e-6:
            losses.append(f"channel {c.name!r}: start time {c.t0!r} s is read back as "
                          f"{b.t0!r} s")
        if b.data.shape != c.data.shape:
            losses.append(f"channel {c.name!r}: {c.data.shape} samples are read back as "
                          f"{b.data.shape}")
            info["max_abs_error"] = None
        else:
            a, z = np.asarray(c.data, float), np.asarray(b.data, float)
            nan_a, nan_z = ~np.isfinite(a), ~np.isfinite(z)
            if (nan_a != nan_z).any():
                losses.append(f"channel {c.name!r}: {int((nan_a != nan_z).sum())} sample(s) "
                              "change between a value and lost (NaN)")
            ok = ~nan_a & ~nan_z
            err = float(np.abs(a[ok] - z[ok]).max()) if ok.any() else 0.0
            info["max_abs_error"] = err
            if err > 0:
                span = float(np.ptp(a[ok])) if ok.any() else 0.0
                rel = f", {err / span:.1e} of its range" if span > 0 else ""
                losses.append(f"channel {c.name!r}: precision, values are kept to within "
                              f"{err:.3g} {c.units}{rel} (the {res.writer} format's resolution)")
        res.channels.append(info)
