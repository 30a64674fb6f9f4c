"""BrainFlow board driver: any board BrainFlow supports, as somacore chunks.

Streams come from BrainFlow's board description (``BoardShim.get_board_descr``):
one stream per requested kind, holding that kind's rows as channels, with the
board's own sampling rate as ``nominal_fs``:

====== ==================== ======= =====================================
kind   description rows     units   note
====== ==================== ======= =====================================
ecg    ``ecg_channels``      uV      EXG rows declared as ECG
ppg    ``ppg_channels``      au
eda    ``eda_channels``      au
emg    ``emg_channels``      uV
acc    ``accel_channels``    g
====== ==================== ======= =====================================

BrainFlow declares no respiration rows for any board; a belt wired to an
analog or "other" row is mapped with ``rows={"resp": ("resp", "au", [row])}``.
On many boards (the synthetic one included) the ECG, EMG and EEG rows are the
same EXG rows: ask only for the kinds actually wired.

Clock and lost packets
----------------------
BrainFlow stamps samples with the host's receive time (unix seconds, bursty)
and numbers them with a package counter that wraps (``counter_wrap``, 256 on
most boards). The driver places samples on the board's crystal instead: the
first sample's timestamp is the anchor and sample ``i`` is at
``anchor + i / fs``, with ``i`` counting lost samples too. A jump in the
package counter is a loss: the chunk ends there, the next chunk's ``seq``
skips one (so a session records a gap and fills it with NaN, never joining
the two sides) and its ``t0`` lies ``lost / fs`` later. The counter knows a
loss only modulo its wrap; the host timestamps decide how many whole wraps
were lost (a whole wrap is counted once the host saw 3/4 of a wrap more
samples' time than the counter: host stamps are bursty). Every loss is also
kept in :attr:`BrainFlowDriver.gaps`. A repeated counter with no time
elapsed is a duplicate sample and is dropped
(:attr:`BrainFlowDriver.duplicates`). The nominal rate is trusted: the
drift between the board's crystal and the host clock is not corrected
(:attr:`BrainFlowDriver.clock_offset_s` shows it).

``brainflow`` is imported when a driver is created, not with the plugin.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from somacore.drivers import DriverGap, PollingDriver
from somacore.plugins.types import Chunk, StreamInfo

__all__ = ["DEFAULT_KINDS", "BrainFlowDriver", "BrainFlowGap", "streams_for_board"]

#: kind -> (board description key, units)
KIND_ROWS: dict[str, tuple[str, str]] = {
    "ecg": ("ecg_channels", "uV"),
    "ppg": ("ppg_channels", "au"),
    "eda": ("eda_channels", "au"),
    "emg": ("emg_channels", "uV"),
    "acc": ("accel_channels", "g"),
}
DEFAULT_KINDS = ("ecg", "ppg", "eda")
PRESETS = {"default": 0, "auxiliary": 1, "ancillary": 2}
#: BrainFlow boards whose description is the one of ``params["master_board"]``
PLAYBACK_FILE_BOARD = -3
STREAMING_BOARD = -2


#: the gap record of every somacore driver (kept under this name for this plugin's users)
BrainFlowGap = DriverGap


def _brainflow() -> Any:
    try:
        import brainflow.board_shim as bs
    except ImportError:  # pragma: no cover - a dependency of this distribution
        raise ImportError("the brainflow driver needs the brainflow package: "
                          "pip install brainflow") from None
    return bs


def _describe(board_id: int, preset: int) -> dict:
    bs = _brainflow()
    try:
        return dict(bs.BoardShim.get_board_descr(board_id, preset))
    except bs.BrainFlowError as exc:
        raise ValueError(f"BrainFlow board id {board_id} (preset {preset}) is unknown to this "
                         f"brainflow version: {exc}") from None


def streams_for_board(board_id: int, *, preset: int = 0, kinds: Sequence[str] = DEFAULT_KINDS,
                      rows: Mapping[str, tuple[str, str, Sequence[int]]] | None = None
                      ) -> tuple[list[StreamInfo], list[list[int]], dict]:
    """The somacore streams of a board: (stream infos, board rows of each, description).

    Parameters
    ----------
    board_id : int
        BrainFlow board id whose description is used.
    preset : int
        BrainFlow preset (0 default, 1 auxiliary, 2 ancillary).
    kinds : sequence of str
        Kinds from :data:`KIND_ROWS` to map; a kind the board does not have is
        skipped.
    rows : mapping, optional
        Extra or overriding streams: ``name -> (kind, units, [board rows])``.
    """
    descr = _describe(board_id, preset)
    fs = descr.get("sampling_rate")
    if not fs or fs <= 0:
        raise ValueError(f"BrainFlow board {descr.get('name', board_id)!r} declares no "
                         "sampling rate for this preset")
    n_rows = int(descr["num_rows"])
    wanted: dict[str, tuple[str, str, list[int]]] = {}
    for kind in kinds:
        if kind not in KIND_ROWS:
            raise ValueError(f"kind {kind!r} has no BrainFlow rows; kinds: "
                             f"{', '.join(KIND_ROWS)} (map others with rows=...)")
        key, units = KIND_ROWS[kind]
        if descr.get(key):
            wanted[kind] = (kind, units, list(descr[key]))
    for name, spec in (rows or {}).items():
        try:
            kind, units, r = spec
            r = [int(i) for i in r]
        except (TypeError, ValueError):
            raise ValueError(f"rows[{name!r}] must be (kind, units, [board rows]), got "
                             f"{spec!r}") from None
        bad = [i for i in r if not 0 <= i < n_rows]
        if not r or bad:
            raise ValueError(f"rows[{name!r}]: board rows {bad or r} outside 0..{n_rows - 1} "
                             f"of board {descr.get('name', board_id)!r}")
        wanted[name] = (kind, units, r)
    if not wanted:
        raise ValueError(f"BrainFlow board {descr.get('name', board_id)!r} has none of the "
                         f"kinds {list(kinds)}; map its rows with rows=...")
    infos = [StreamInfo(name, kind, units, float(fs), channels=len(r))
             for name, (kind, units, r) in wanted.items()]
    return infos, [r for _, _, r in wanted.values()], descr


class BrainFlowDriver(PollingDriver):
    """Live chunks from a BrainFlow board (the synthetic board needs no hardware).

    Parameters
    ----------
    board_id : int
        BrainFlow board id (-1 synthetic, -3 playback file, 0 OpenBCI Cyton, ...).
    params : mapping, optional
        ``BrainFlowInputParams`` fields (``serial_port``, ``mac_address``,
        ``file``, ``master_board``...). The playback (-3) and streaming (-2)
        boards need ``master_board``: the board whose layout they carry.
    preset : {"default", "auxiliary", "ancillary"}
        Which of the board's data presets to read.
    kinds, rows
        Streams to produce; see :func:`streams_for_board`.
    poll_s : float
        Pause after every read of the board's buffer (BrainFlow hands over
        all it holds at once, so the next read waits).
    timeout_s : float or None
        No data for this long: ``chunks()`` raises ``ConnectionError`` (the
        playback board ends cleanly instead: its file is done). The watchdog
        is :class:`~somacore.drivers.PollingDriver`'s; None turns it off
        (not for the playback board, which ends by it).
    duration_s : float, optional
        End cleanly after this many seconds of samples (lost ones included).
    counter_wrap : int
        Modulus of the board's package counter (widened automatically if the
        board counts higher).
    name : str
        Driver name (stream keys in a session are ``"<name>/<stream>"``).
    shim_factory : callable, optional
        ``factory(board_id, input_params)`` returning an object with
        ``BoardShim``'s methods (tests inject a lossy board this way).

    Attributes
    ----------
    gaps : list of BrainFlowGap
        Every loss seen in the package counter.
    duplicates : int
        Duplicate samples dropped.
    """

    #: what the no-data watchdog's message tells the user to check
    _silence_hint = "is the board on and streaming?"

    def __init__(self, board_id: int = -1, *, params: Mapping[str, Any] | None = None,
                 preset: str = "default", kinds: Sequence[str] = DEFAULT_KINDS,
                 rows: Mapping[str, tuple[str, str, Sequence[int]]] | None = None,
                 poll_s: float = 0.05, timeout_s: float | None = 5.0,
                 duration_s: float | None = None,
                 counter_wrap: int = 256, name: str = "brainflow",
                 shim_factory: Callable[[int, Any], Any] | None = None) -> None:
        if preset not in PRESETS:
            raise ValueError(f"preset={preset!r}: use one of {', '.join(PRESETS)}")
        if not (isinstance(poll_s, (int, float)) and math.isfinite(poll_s) and poll_s > 0):
            raise ValueError(f"poll_s={poll_s!r} must be a positive number of seconds")
        super().__init__(timeout_s=timeout_s)  # the no-data watchdog (checks timeout_s)
        if duration_s is not None and not duration_s > 0:
            raise ValueError(f"duration_s={duration_s!r} must be positive")
        if isinstance(counter_wrap, bool) or not isinstance(counter_wrap, int) \
                or counter_wrap < 2:
            raise ValueError(f"counter_wrap={counter_wrap!r} must be an integer >= 2")
        self.board_id = int(board_id)
        self.params = dict(params or {})
        self.preset = PRESETS[preset]
        layout = self.board_id
        if self.board_id in (PLAYBACK_FILE_BOARD, STREAMING_BOARD):
            if "master_board" not in self.params:
                raise ValueError(f"BrainFlow board {self.board_id} (playback/streaming) needs "
                                 "params={'master_board': <id of the recorded board>, ...}")
            if self.board_id == PLAYBACK_FILE_BOARD and self.timeout_s is None:
                raise ValueError("the BrainFlow playback board (-3) ends when its file has "
                                 "sent nothing for timeout_s seconds: give timeout_s a number, "
                                 "not None")
            layout = int(self.params["master_board"])
        self._infos, self._rows, descr = streams_for_board(layout, preset=self.preset,
                                                           kinds=kinds, rows=rows)
        self.board_name = str(descr.get("name", layout))
        self.fs = float(descr["sampling_rate"])
        self._pkg_row = int(descr["package_num_channel"])
        self._ts_row = int(descr["timestamp_channel"])
        self.poll_s = float(poll_s)
        self.duration_s = duration_s
        self.counter_wrap = counter_wrap
        self.name = name
        self._factory = shim_factory
        self._shim: Any = None
        self.gaps: list[BrainFlowGap] = []
        self.duplicates = 0
        self.clock_offset_s = 0.0  # host timestamp minus crystal time, last sample read
        self._seq = 0
        self._index = 0  # sample index (lost samples counted) of the next sample
        self._anchor: float | None = None
        self._last_pkg = 0
        self._last_ts = 0.0

    def __repr__(self) -> str:
        return f"BrainFlowDriver({self.board_name!r}, board_id={self.board_id})"

    def streams(self) -> list[StreamInfo]:
        """One stream per mapped kind (channels = its board rows)."""
        return list(self._infos)

    # ------------------------------------------------------------------ board
    def _open(self) -> None:
        if self._shim is not None:
            return
        bs = _brainflow()
        ip = bs.BrainFlowInputParams()
        for k, v in self.params.items():
            if not hasattr(ip, k):
                raise ValueError(f"unknown BrainFlowInputParams field {k!r}; fields: "
                                 f"{', '.join(sorted(vars(ip)))}")
            setattr(ip, k, v)
        factory = self._factory or bs.BoardShim
        shim = factory(self.board_id, ip)
        try:
            shim.prepare_session()
            shim.start_stream()
        except Exception as exc:
            try:
                shim.release_session()
            except Exception:  # it may never have been prepared
                pass
            raise ConnectionError(f"BrainFlow board {self.board_name!r} (id {self.board_id}) "
                                  f"could not start: {exc}; check params "
                                  f"({self.params or 'none given'})") from exc
        self._shim = shim

    def close(self) -> None:
        """Stop the stream and release the board (safe to call twice)."""
        super().close()
        shim, self._shim = self._shim, None
        if shim is None:
            return
        for step in ("stop_stream", "release_session"):
            try:
                getattr(shim, step)()
            except Exception:  # already stopped / released, or the link is gone
                pass

    # ------------------------------------------------------------------ reading
    def _read(self) -> list[Chunk] | None:
        """One read of the board buffer: its chunks ([] if empty), None at the end."""
        shim = self._shim
        if shim is None or self._ended:
            return None
        try:
            data = shim.get_board_data(None, self.preset)
        except Exception as exc:
            if self._closed:
                return None
            raise ConnectionError(f"BrainFlow board {self.board_name!r} failed: {exc}") from exc
        data = np.asarray(data, dtype=np.float64)
        if data.ndim != 2 or data.shape[1] == 0:
            return []  # nothing yet (the base class's watchdog times a silence)
        return self._split(data)

    def _source_name(self) -> str:
        """The board in the watchdog's message."""
        return f"BrainFlow board {self.board_name!r}"

    def _timed_out(self) -> None:
        """Silence after a played file's data is its end; any other silence is an error."""
        if self.board_id == PLAYBACK_FILE_BOARD and self._anchor is not None:
            self._ended = True  # the file has been played: a clean end
            return
        super()._timed_out()

    def _split(self, data: np.ndarray) -> list[Chunk]:
        fs = self.fs
        pk = np.rint(data[self._pkg_row]).astype(np.int64)
        ts = data[self._ts_row]
        if pk.size and int(pk.max()) >= self.counter_wrap:
            self.counter_wrap = 1 << int(pk.max()).bit_length()
        wrap = self.counter_wrap
        first = self._anchor is None
        if first:
            self._anchor = float(ts[0])
            self._last_pkg, self._last_ts = int(pk[0]) - 1, float(ts[0]) - 1.0 / fs
        prev = np.concatenate([[self._last_pkg], pk[:-1]])
        prev_t = np.concatenate([[self._last_ts], ts[:-1]])
        lost = (pk - prev) % wrap - 1  # -1: the counter repeated
        # the counter knows losses modulo its wrap; the host clock tells the whole wraps.
        # Host stamps are bursty, so a whole wrap is added only when the host saw at
        # least 3/4 of a wrap more than the counter (a host delay of 0.77 s at 250 Hz)
        est = np.rint((ts - prev_t) * fs) - 1
        lost += wrap * np.maximum(np.floor((est - lost) / wrap + 0.25), 0).astype(np.int64)
        keep = lost >= 0  # a repeated counter with no time elapsed: a duplicate sample
        if not keep.all():
            self.duplicates += int(np.count_nonzero(~keep))
            data, lost, ts = data[:, keep], lost[keep], ts[keep]
        self._last_pkg = int(pk[-1])
        if ts.size:
            self._last_ts = float(ts[-1])
        cuts = [*np.flatnonzero(lost > 0).tolist(), data.shape[1]]
        out: list[Chunk] = []
        a = 0
        for b in cuts:
            if b > a:
                out.extend(self._chunks(data[:, a:b]))
                if self._ended:
                    return out
            if b < data.shape[1]:
                k = int(lost[b])
                t = self._anchor + self._index / fs
                self.gaps.append(BrainFlowGap(t, t + k / fs, k))
                self._index += k
                self._seq += 1  # skipped: the session sees the loss
            a = b
        if ts.size:
            self.clock_offset_s = float(ts[-1] - (self._anchor + (self._index - 1) / fs))
        return out

    def _chunks(self, block: np.ndarray) -> list[Chunk]:
        n = block.shape[1]
        if self.duration_s is not None:
            n = min(n, max(0, math.ceil(self.duration_s * self.fs - 1e-9) - self._index))
            if n < block.shape[1]:
                self._ended = True
            if n == 0:
                return []
        t0 = self._anchor + self._index / self.fs
        out = []
        for info, r in zip(self._infos, self._rows, strict=True):
            x = block[r[0], :n].copy() if len(r) == 1 else np.ascontiguousarray(block[r, :n].T)
            out.append(Chunk(info.name, x, self._seq, t0=t0, fs=self.fs))
        self._seq += 1
        self._index += n
        return out

    def _wait_s(self, got: list[Chunk]) -> float:
        """Pause ``poll_s`` after every read: each read empties the board's buffer."""
        return self.poll_s
