"""Entry point ``lsl`` of the ``somacore`` group: the ``lsl`` driver and ``somacore lsl-streams``.

Nothing heavy is imported here; ``pylsl`` (and liblsl) only when a driver is
created or the command runs.
"""

from __future__ import annotations

import argparse
from typing import Any

from somacore.plugins import hookimpl


@hookimpl
def somacore_register_drivers(register: Any) -> None:
    """Register ``lsl`` (options: ``stream``, ``type``, ``source_id``, ``predicate``, ...)."""
    from somacore_lsl.driver import LslDriver

    register("lsl", LslDriver,
             description="Lab Streaming Layer inlet: any LSL stream (ECG, PPG, RESP, EDA, "
                         "EMG, ACC channels; RR events)")


def _list_streams(args: argparse.Namespace) -> int:
    from somacore_lsl.driver import describe_streams

    lines = describe_streams(args.wait)
    print("\n".join(lines) if lines else f"no LSL stream seen within {args.wait:g} s")
    return 0


@hookimpl
def somacore_register_commands(cli: Any) -> None:
    """Add ``somacore lsl-streams``: list the LSL streams visible on the network."""
    p = cli.add_parser("lsl-streams", help="list the Lab Streaming Layer streams on the network")
    p.add_argument("--wait", type=float, default=1.0, help="seconds to listen (default 1)")
    p.set_defaults(func=_list_streams)
